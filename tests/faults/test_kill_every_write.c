/*
 * Kill at every write: for one submit -> commit -> send -> receipt ->
 * commit cycle, the sender (then the receiver) is SIGKILLed at its Nth
 * durable-write system call, for every N until the cycle completes without
 * reaching it (strace -e inject=SYSCALLS:signal=SIGKILL:when=N), restarted,
 * and the invariant checked: every message answered 202 delivered exactly
 * once. The default run injects at pwrite64, fdatasync, fsync and rename
 * (every write SQLite makes to the database and its WAL); LIMES_LONG=1
 * adds write(2), which also counts log lines and ZeroMQ's wake-ups.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/cluster.h"
#include "support/faults.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

TestSuite(kill_every_write, .timeout = 3600);

static bool delivered(struct cluster *c, const char *id)
{
	char state[32];
	cluster_state(c, A, id, B, state, sizeof(state), NULL);
	return strcmp(state, "delivered") == 0;
}

/* SIGKILL of strace would leave its tracee running: kill the agent under it first. */
static void kill_tracee(struct agentproc *ap)
{
	int pid = agentproc_pid(ap);
	char path[64], buf[256];
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		char *end = NULL;
		long child = strtol(tok, &end, 10);
		/* never kill(0, ...): that is this test's whole process group */
		if (child > 0 && *end == '\0')
			kill((pid_t)child, SIGKILL);
	}
	cluster_sleep_ms(20);
}

/* Runs cycles with `victim` killed at its Nth call, N = 1, 2, ... until a
 * cycle completes first; returns how many kills happened. */
static int every_write(struct cluster *c, const char *victim, const char *syscalls, struct fault_ids *ok,
		       size_t *uncertain)
{
	const char *other = strcmp(victim, A) == 0 ? B : A;
	struct agentproc *vp = cluster_ap(c, victim);
	int kills = 0;

	if (agentproc_running(vp))
		cluster_kill(c, victim); /* running plainly from the other side's turn */
	for (int n = 1; n < 2000; n++) {
		char inject[200];
		snprintf(inject, sizeof(inject), "inject=%s:signal=SIGKILL:when=%d", syscalls, n);
		const char *prefix[] = { "/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", "-e", inject, NULL };
		if (!agentproc_running(cluster_ap(c, other)))
			cluster_start(c, other);
		bool killed = agentproc_start_wrapped(vp, prefix) < 0;
		char id[1][33] = { "" };
		if (!killed) {
			int st = cluster_submit(c, A, B, "alert", "urgent", 1, id);
			if (st == 202)
				fault_ids_add(ok, id[0]);
			else if (st == 0)
				(*uncertain)++;
			else
				cr_assert(st == 202, "submission refused %d", st);
			bool done = false;
			for (int t = 0; t < 600 && agentproc_running(vp) && !done; t++) {
				done = st == 202 && delivered(c, id[0]);
				if (!done)
					cluster_sleep_ms(50);
			}
			killed = !agentproc_running(vp);
			cr_assert(killed || done, "N=%d: %s alive but the cycle did not complete in 30 s", n, victim);
		}
		kill_tracee(vp);
		cluster_kill(c, victim);
		if (killed) {
			kills++;
			cluster_start(c, victim); /* plain restart: recovery, then the resend */
			cr_assert(fault_wait_drained(c, A, B, 60), "N=%d: A never drained", n);
			cluster_kill(c, victim);
			continue;
		}
		/* the whole cycle ran without reaching the Nth call: every N was tried */
		cr_log_info("%s: killed at each of the first %d calls of %s", victim, n - 1, syscalls);
		printf("kill_every_write victim=%s syscalls=%s kills=%d\n", victim, syscalls, kills);
		break;
	}
	return kills;
}

Test(kill_every_write, one_cycle_killed_at_every_durable_write_of_either_side)
{
	bool long_run = getenv("LIMES_LONG") && strcmp(getenv("LIMES_LONG"), "1") == 0;
	const char *syscalls = long_run ? "write,pwrite64,fdatasync,fsync,rename" : "pwrite64,fdatasync,fsync,rename";
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	struct fault_ids ok = { 0 };
	size_t uncertain = 0;

	cluster_configure(c, l, 1, "retry = 200ms\nretry_max = 1s\n");
	/* the stores exist before the first injection: start-up is not the cycle */
	cluster_start(c, A);
	cluster_start(c, B);
	char first[1][33];
	cr_assert(cluster_submit(c, A, B, "alert", "urgent", 1, first) == 202);
	fault_ids_add(&ok, first[0]);
	cr_assert(fault_wait_drained(c, A, B, 30));
	cluster_kill(c, A);
	cluster_kill(c, B);

	int kills_a = every_write(c, A, syscalls, &ok, &uncertain);
	int kills_b = every_write(c, B, syscalls, &ok, &uncertain);
	cr_assert(kills_a > 0 && kills_b > 0, "the injection reached the agents (%d, %d kills)", kills_a, kills_b);
	if (!agentproc_running(cluster_ap(c, A)))
		cluster_start(c, A);
	if (!agentproc_running(cluster_ap(c, B)))
		cluster_start(c, B);
	cr_assert(fault_wait_drained(c, A, B, 60));
	fault_assert_invariant(c, A, B, &ok, uncertain);
	fault_ids_free(&ok);
	cluster_destroy(&c);
}
