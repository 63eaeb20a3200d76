/*
 * fsync failing with EIO (strace -e inject=fdatasync,fsync:error=EIO): the
 * agent stops acknowledging, /healthz says why, nothing is reported stored
 * that was not, and after a restart on a good disk everything acknowledged
 * is there and delivered once.
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

TestSuite(fsync_eio, .timeout = 180);

Test(fsync_eio, a_failed_fsync_stops_acknowledging_and_loses_nothing_acknowledged)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	struct fault_ids ok = { 0 };
	size_t uncertain = 0;

	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A); /* creates the store: start-up is not under test */
	cr_assert(cluster_stop(c, A) == 0);
	/* B is down: what A accepts stays in its outbox */
	const char *prefix[] = { "/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", "-e",
				 "inject=fdatasync,fsync:error=EIO:when=6+", NULL };
	cr_assert(agentproc_start_wrapped(cluster_ap(c, A), prefix) == 0);
	int refused = 0;
	json_t *one = json_loads(cluster_example("alert"), 0, NULL);
	json_t *batch = json_array();
	for (int k = 0; k < 5; k++)
		json_array_append_new(batch, json_pack("{s:[s], s:s, s:O}", "to", B, "type", "alert", "body", one));
	char *text = json_dumps(batch, JSON_COMPACT);
	json_decref(batch);
	json_decref(one);
	for (int i = 0; i < 40 && refused == 0; i++) {
		json_t *resp = NULL;
		int st = cluster_http(c, A, "POST", "/v1/messages", text, &resp);
		if (st == 202)
			for (int k = 0; k < 5; k++)
				fault_ids_add(&ok, json_string_value(json_array_get(json_object_get(resp, "ids"), (size_t)k)));
		else if (st == 503) {
			const char *why = json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
			cr_assert(why && strstr(why, "unknown until the agent restarts"),
				  "the 503 says the outcome is unknown, not that nothing was kept: %s", why ? why : "");
			refused++;
			uncertain += 5; /* a failed fsync: the WAL may hold the commit all the same */
		} else
			cr_assert(st == 202 || st == 503, "answered %d", st);
		json_decref(resp);
	}
	free(text);
	cr_assert(refused == 1, "the failed fsync was answered 503");
	json_t *doc = NULL;
	cr_assert(cluster_http(c, A, "GET", "/healthz", NULL, &doc) == 503);
	const char *msg = json_string_value(json_object_get(doc, "message"));
	cr_assert(msg && strstr(msg, "fsync"), "healthz names the fsync: %s", msg ? msg : "(none)");
	json_decref(doc);
	char more[1][33];
	cr_assert(cluster_submit(c, A, B, "alert", "normal", 1, more) == 503, "no acknowledgement after it");
	cr_log_info("%zu messages accepted before the failed fsync", ok.n);

	/* restart on a good disk: everything acknowledged is there and goes out */
	int pid = agentproc_pid(cluster_ap(c, A));
	char path[64], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	FILE *f = fopen(path, "r");
	if (f) {
		char *end = NULL;
		long child = fgets(buf, sizeof(buf), f) ? strtol(buf, &end, 10) : 0;
		/* never kill(0, ...): that is this test's whole process group */
		if (child > 0 && end != buf)
			kill((pid_t)child, SIGKILL);
		fclose(f);
	}
	cluster_kill(c, A);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(fault_wait_drained(c, A, B, 60));
	fault_assert_invariant(c, A, B, &ok, uncertain);
	fault_ids_free(&ok);
	cluster_destroy(&c);
}
