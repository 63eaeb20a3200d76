/*
 * A restored agent whose neighbour never answers its ResendRequest
 * (docs/protocol.md "Resend after a restore"), as an agent older than those
 * frames: A's one direct neighbour is the relay R, tools/hostile_relay.c
 * honest from the start, which carries A's messages to C and answers
 * heartbeats but never a ResendRequest (it prints each one it gets, with its
 * arrival time). A asks `[link] retry` (200 ms here) after the first
 * request, the wait doubling per unanswered ask; after 5 asks it logs
 * `event=resend_unanswered` once and GET /v1/peers turns from `asking` to
 * `not_answering`; A's messages to C flow all along.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "support/cluster.h"
#include "support/faults.h"
#include "support/hostile.h"

#define A "HU-NAV-ROSZKE"
#define R "RS-CUSTOMS-HORGOS"
#define C "RO-POLITIA-NADLAC"
#define RETRY_MS 200
#define ASKS_MAX 32
/* how much sooner than A sent it a request may reach R than the one before
 * it (the two crossing loopback at different speeds) */
#define TRANSIT_SLACK_MS 50

static struct cluster *cl;
static pid_t relay_pid;

static void teardown(void)
{
	hostile_relay_kill(&relay_pid);
	cluster_destroy(&cl);
}

TestSuite(restore_unanswered, .timeout = 120, .fini = teardown);

/* The requests R has received so far, from its output (whole lines only):
 * their arrival times on R's clock and the time naming each request. */
static size_t asks(const char *out, uint64_t *at, uint64_t *request)
{
	FILE *f = fopen(out, "r");
	char line[512];
	size_t n = 0;
	cr_assert(f != NULL, "no output from the relay at %s", out);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long t = 0, rq = 0;
		char asker[80] = "";
		if (strncmp(line, "resend_request ", 15) != 0 || !strchr(line, '\n'))
			continue;
		cr_assert(eq(int, sscanf(line, "resend_request at_ms=%llu asker=%79s request=%llu", &t, asker, &rq), 3),
			  "the relay got a request it could not read: %s", line);
		cr_assert(eq(str, asker, A));
		if (n < ASKS_MAX) {
			at[n] = t;
			request[n] = rq;
		}
		n++;
	}
	fclose(f);
	return n;
}

/* Waits up to ms until R has received at least `want` requests; how many. */
static size_t wait_asks(const char *out, size_t want, int ms, uint64_t *at, uint64_t *request)
{
	size_t n = asks(out, at, request);
	for (int waited = 0; n < want && waited < ms; waited += 20) {
		cluster_sleep_ms(20);
		n = asks(out, at, request);
	}
	return n;
}

/* restore_resend of direct peer `peer` in GET /v1/peers at `at` ("" for null). */
static void restore_resend(const char *at, const char *peer, char *state, size_t len)
{
	json_t *doc = NULL, *p;
	size_t i;
	snprintf(state, len, "(no peer %s)", peer);
	cr_assert(eq(int, cluster_http(cl, at, "GET", "/v1/peers", NULL, &doc), 200));
	json_array_foreach(json_object_get(doc, "peers"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) == 0) {
			const char *s = json_string_value(json_object_get(p, "restore_resend"));
			snprintf(state, len, "%s", s ? s : "");
		}
	json_decref(doc);
}

/* Lines of A's log holding needle. */
static int log_lines(struct agentproc *ap, const char *needle)
{
	char path[700], *line = NULL;
	size_t cap = 0;
	int n = 0;
	snprintf(path, sizeof(path), "%s/agent.log", agentproc_dir(ap));
	FILE *f = fopen(path, "re");
	cr_assert(f != NULL);
	while (getline(&line, &cap, f) > 0)
		n += strstr(line, needle) != NULL;
	free(line);
	fclose(f);
	return n;
}

/* Submits n messages from A to C and waits until A has them delivered. */
static void send_to_c(struct fault_ids *ids, size_t n)
{
	char got[10][33];
	cr_assert(le(sz, n, 10));
	cr_assert(eq(int, cluster_submit(cl, A, C, "alert", "normal", n, got), 202));
	for (size_t i = 0; i < n; i++)
		fault_ids_add(ids, got[i]);
	cr_assert(fault_wait_drained(cl, A, C, 30), "A still has %ld queued for C", cluster_queued(cl, A, C));
}

Test(restore_unanswered, a_neighbour_that_never_answers_is_asked_ever_less_often_and_named_once)
{
	static const char *const ids[] = { A, R, C };
	cl = cluster_new(3, ids);
	struct agentproc *pa = cluster_ap(cl, A);
	char out[700], backup[600], data[700], aside[700], cmd[2048], state[64], needle[128];
	uint64_t at[ASKS_MAX], request[ASKS_MAX];
	struct fault_ids sent = { 0 };

	relay_pid = hostile_relay_between(cl, A, R, C, "retry = 200ms\nheartbeat = 500ms\ndead_after = 3s\n", "--honest",
					  NULL, out, sizeof(out));
	cr_assert(cluster_wait_up(cl, A, R, 15000), "A never heard the relay");

	/* messages flow through R; then the copy, taken while A runs */
	send_to_c(&sent, 5);
	snprintf(backup, sizeof(backup), "%s/a-backup.db", cl->dir);
	cr_assert(eq(int, agentproc_cli(NULL, NULL, "backup", "-c", agentproc_config(pa), backup, NULL), CLI_OK));
	restore_resend(A, R, state, sizeof(state));
	cr_assert(eq(str, state, ""), "A was not restored, yet its request to R reads %s", state);
	cr_assert(eq(sz, asks(out, at, request), 0), "A asked before any restore");

	/* restore the copy as docs/operations.md says */
	cr_assert(eq(int, cluster_stop(cl, A), 0));
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(pa));
	snprintf(aside, sizeof(aside), "%s/data.new", agentproc_dir(pa));
	cr_assert(eq(int, rename(data, aside), 0));
	cr_assert(eq(int, mkdir(data, 0700), 0));
	snprintf(cmd, sizeof(cmd), "cp %s %s/limes.db", backup, data);
	cr_assert(eq(int, system(cmd), 0));
	cluster_start(cl, A);
	cr_assert(agentproc_wait_log(pa, "event=restored_copy", 10000));
	cr_assert(agentproc_wait_log(pa, "peer=" R " event=resend_requested", 15000), "A never asked R");
	cr_assert(ge(sz, wait_asks(out, 1, 2000, at, request), 1), "R did not get A's first request");
	restore_resend(A, R, state, sizeof(state));
	cr_assert(eq(str, state, "asking"));
	/* the request unanswered, A's messages still go through R */
	send_to_c(&sent, 10);

	/* the 5th ask waits 16 x retry, then one line and not_answering as
	 * the 6th goes */
	cr_assert(agentproc_wait_log(pa, "peer=" R " event=resend_unanswered asks=5", 20000),
		  "no resend_unanswered line; R got %zu requests", asks(out, at, request));
	restore_resend(A, R, state, sizeof(state));
	cr_assert(eq(str, state, "not_answering"));
	cr_assert(eq(sz, wait_asks(out, 6, 2000, at, request), 6), "R got %zu requests by the warning",
		  asks(out, at, request));
	send_to_c(&sent, 10);

	/* the 7th, 32 x retry after the 6th: still one line, still not_answering */
	size_t n = wait_asks(out, 7, 20000, at, request);
	cr_assert(eq(sz, n, 7), "R got %zu requests", n);
	snprintf(needle, sizeof(needle), "peer=%s event=resend_unanswered", R);
	cr_assert(eq(int, log_lines(pa, needle), 1));
	restore_resend(A, R, state, sizeof(state));
	cr_assert(eq(str, state, "not_answering"));
	/* each wait at least retry doubled per unanswered ask (never sooner),
	 * every ask the same request (the same time_ms names it) */
	for (size_t i = 0; i + 1 < n; i++) {
		uint64_t want = (uint64_t)RETRY_MS << i;
		cr_assert(ge(u64, at[i + 1] - at[i] + TRANSIT_SLACK_MS, want), "ask %zu came %llu ms after ask %zu, "
			  "not at least %llu", i + 2, (unsigned long long)(at[i + 1] - at[i]), i + 1,
			  (unsigned long long)want);
		cr_assert(eq(u64, request[i + 1], request[0]), "ask %zu is another request", i + 2);
	}

	/* nothing lost, nothing twice: every message A accepted is in C's inbox once */
	fault_assert_invariant(cl, A, C, &sent, 0);
	cr_assert(eq(int, hostile_relay_end(&relay_pid), 0), "the relay failed; see %s", out);
	snprintf(cmd, sizeof(cmd), "grep -q ' resend_requests=%zu ' %s", n, out);
	cr_assert(eq(int, system(cmd), 0), "the relay's count differs from its lines (%zu)", n);
	fault_ids_free(&sent);
}
