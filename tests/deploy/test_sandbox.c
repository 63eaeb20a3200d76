/*
 * The agent under deploy/limes.service's kernel-enforced restrictions:
 * limes-test-sandbox (tests/deploy/sandbox.c) applies the unit's system-call
 * filter, address families, W^X memory rule, no-new-privileges and empty
 * capability set exactly as systemd would, then runs the program. No systemd
 * runs as PID 1 here, so `systemd-run -p ...` cannot; the mount and
 * namespace settings of the unit are not reproduced.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/cluster.h"

TestSuite(sandbox, .timeout = 180);

/* The unit runs the agent as the system user limes; here it runs as nobody
 * (the user need not exist, only its folder must be its own). As root it
 * would do what the unit never lets it: SQLite, for one, chowns its
 * journal files when it runs as root, and @chown is forbidden. */
#define SANDBOX_UID "65534"
static const char *const sandbox_argv[] = { LIMES_SANDBOX_BIN, LIMES_UNIT_FILE, "--uid", SANDBOX_UID, "--", NULL };

/* Runs the sandbox on argv (after "--"); exit/kill status into *status, stdout into out. */
static void run_sandboxed(const char *const *prog, int *status, char *out, size_t len)
{
	int pipefd[2];
	cr_assert(eq(int, pipe(pipefd), 0));
	pid_t pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		const char *argv[16];
		size_t n = 0;
		for (; sandbox_argv[n]; n++)
			argv[n] = sandbox_argv[n];
		for (size_t i = 0; prog[i] && n < 15; i++)
			argv[n++] = prog[i];
		argv[n] = NULL;
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	ssize_t r;
	size_t got = 0;
	while (got + 1 < len && (r = read(pipefd[0], out + got, len - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(pipefd[0]);
	cr_assert(eq(int, waitpid(pid, status, 0), pid));
}

Test(sandbox, the_units_filters_bite)
{
	char out[256];
	int status;
	/* a socket family the unit leaves out is refused the way systemd refuses it */
	const char *family[] = { LIMES_SANDBOX_BIN, "--probe-family", NULL };
	run_sandboxed(family, &status, out, sizeof(out));
	cr_assert(eq(int, WIFEXITED(status) && WEXITSTATUS(status) == 0, 1), "status %#x", status);
	cr_assert(eq(str, out, "EAFNOSUPPORT\n"));
	/* a privileged system call kills the process */
	const char *privileged[] = { LIMES_SANDBOX_BIN, "--probe-privileged", NULL };
	run_sandboxed(privileged, &status, out, sizeof(out));
	cr_assert(eq(int, WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, 1), "status %#x, output %s", status, out);
	cr_assert(eq(str, out, ""));
}

/* A line "Key:\tvalue" of /proc/PID/status. */
static void proc_status(int pid, const char *key, char *value, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	cr_assert(ne(ptr, f, NULL), "cannot read %s", path);
	value[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':') {
			snprintf(value, len, "%s", line + strlen(key) + 1 + strspn(line + strlen(key) + 1, " \t"));
			value[strcspn(value, "\n")] = '\0';
		}
	fclose(f);
}

Test(sandbox, agents_exchange_messages_under_the_units_filters)
{
	static const char *const ids[] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE" };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { ids[0], ids[1], "alert, pre_arrival", NULL },
				    { ids[1], ids[0], "alert, control_result", NULL } };
	cluster_configure(c, l, 2, NULL);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "chmod 711 '%s' && chown -R " SANDBOX_UID ":" SANDBOX_UID " '%s'/*", c->dir, c->dir);
	cr_assert(eq(int, system(cmd), 0), "%s", cmd);
	for (size_t i = 0; i < 2; i++) {
		agentproc_set_wrapper(cluster_ap(c, ids[i]), sandbox_argv);
		cluster_start(c, ids[i]);
	}
	cr_assert(eq(int, cluster_wait_up(c, ids[0], ids[1], 15000), 1));
	cr_assert(eq(int, cluster_wait_up(c, ids[1], ids[0], 15000), 1));

	/* each agent really runs filtered, as nobody: seccomp in filter mode,
	 * no new privileges, no capabilities at all */
	for (size_t i = 0; i < 2; i++) {
		int pid = agentproc_pid(cluster_ap(c, ids[i]));
		char v[64];
		proc_status(pid, "Seccomp", v, sizeof(v));
		cr_assert(eq(str, v, "2"), "%s Seccomp: %s", ids[i], v);
		proc_status(pid, "Seccomp_filters", v, sizeof(v));
		cr_assert(ge(int, atoi(v), 3), "%s Seccomp_filters: %s", ids[i], v);
		proc_status(pid, "NoNewPrivs", v, sizeof(v));
		cr_assert(eq(str, v, "1"));
		proc_status(pid, "CapEff", v, sizeof(v));
		cr_assert(eq(str, v, "0000000000000000"));
		proc_status(pid, "CapBnd", v, sizeof(v));
		cr_assert(eq(str, v, "0000000000000000"));
		proc_status(pid, "Uid", v, sizeof(v));
		cr_assert(eq(int, strncmp(v, SANDBOX_UID "\t", strlen(SANDBOX_UID) + 1), 0), "Uid: %s", v);
	}

	/* messages both ways, delivered with verified receipts */
	char sent[20][33], back[5][33];
	cr_assert(eq(int, cluster_submit(c, ids[0], ids[1], "alert", "urgent", 20, sent), 202));
	cr_assert(eq(int, cluster_submit(c, ids[1], ids[0], "alert", "normal", 5, back), 202));
	for (int tries = 0; tries < 200; tries++) {
		if (cluster_queued(c, ids[0], ids[1]) == 0 && cluster_queued(c, ids[1], ids[0]) == 0)
			break;
		cluster_sleep_ms(50);
	}
	char state[32];
	for (size_t i = 0; i < 20; i++) {
		cluster_state(c, ids[0], sent[i], ids[1], state, sizeof(state), NULL);
		cr_assert(eq(str, state, "delivered"), "message %zu: %s", i, state);
	}
	for (size_t i = 0; i < 5; i++) {
		cluster_state(c, ids[1], back[i], ids[0], state, sizeof(state), NULL);
		cr_assert(eq(str, state, "delivered"), "reply %zu: %s", i, state);
	}
	json_t *inbox = cluster_inbox(c, ids[1]);
	cr_assert(eq(sz, json_array_size(inbox), 20));
	json_decref(inbox);

	/* the housekeeping a running agent does: metrics, health, reload */
	struct agentproc *a = cluster_ap(c, ids[0]);
	cr_assert(eq(int, (int)agentproc_metric(a, "limes_store_healthy"), 1));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(agentproc_wait_log(a, "event=reload peers=", 5000));
	cr_assert(not(agentproc_log_contains(a, "reload_failed")));
	cr_assert(eq(int, cluster_http(c, ids[0], "GET", "/healthz", NULL, NULL), 200));

	/* a link drops and comes back under the filter too */
	cluster_kill(c, ids[1]);
	cluster_start(c, ids[1]);
	cr_assert(eq(int, cluster_wait_up(c, ids[0], ids[1], 15000), 1));

	/* and they stop cleanly, never killed by a forbidden call */
	cr_assert(eq(int, cluster_stop(c, ids[0]), 0));
	cr_assert(eq(int, cluster_stop(c, ids[1]), 0));
	cluster_destroy(&c);
}
