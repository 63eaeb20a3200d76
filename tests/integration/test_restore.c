/*
 * A restore from an older copy of the store, with real agents
 * (docs/operations.md "Backup and restore"): what the neighbour delivered
 * to us after the copy comes back by itself (the restored agent asks it
 * over the link), each message once in the inbox, the copy's own messages
 * answered as duplicates, the inbox cursor as documented; what our copy
 * still had queued goes out again and the neighbour answers it as a
 * duplicate; and the operator's `limes requeue --state delivered`.
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

#define A "HU-NAV-ROSZKE"
#define B "RS-CUSTOMS-HORGOS"

static inline int is(int cond)
{
	return cond;
}

TestSuite(restore, .timeout = 300);

/* A counter of peer `peer` in GET /v1/peers at `at`, or -1. */
static long counter(struct cluster *c, const char *at, const char *peer, const char *name)
{
	json_t *doc = NULL, *p;
	size_t i;
	long v = -1;
	cr_assert(eq(int, cluster_http(c, at, "GET", "/v1/peers", NULL, &doc), 200));
	json_array_foreach(json_object_get(doc, "peers"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) == 0)
			v = json_integer_value(json_object_get(json_object_get(p, "counters"), name));
	json_decref(doc);
	return v;
}

/* How many of ids[0..n) the inbox holds, each at most once (fails on a twice). */
static size_t each_once(json_t *inbox, char (*ids)[33], size_t n)
{
	size_t i, found = 0;
	json_t *m;
	char *seen = calloc(n, 1);
	json_array_foreach(inbox, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		for (size_t k = 0; k < n; k++)
			if (strcmp(ids[k], id) == 0) {
				cr_assert(eq(int, seen[k], 0), "%s is in the inbox twice", id);
				seen[k] = 1;
				found++;
			}
	}
	free(seen);
	return found;
}

static void wait_queue_empty(struct cluster *c, const char *at, const char *peer)
{
	for (int i = 0; i < 600 && cluster_queued(c, at, peer) != 0; i++)
		cluster_sleep_ms(100);
	cr_assert(eq(long, cluster_queued(c, at, peer), 0), "%s still queues for %s", at, peer);
}

/* The inbox of `at` from cursor `after` on, paged `limit` at a time as an
 * API client reads it: the number of entries and the last cursor. */
static size_t page_from(struct cluster *c, const char *at, long long after, int limit, long long *last)
{
	size_t total = 0;
	*last = after;
	for (;;) {
		char path[128];
		json_t *doc = NULL;
		snprintf(path, sizeof(path), "/v1/inbox?after=%lld&limit=%d", *last, limit);
		cr_assert(eq(int, cluster_http(c, at, "GET", path, NULL, &doc), 200));
		size_t n = json_array_size(json_object_get(doc, "messages"));
		json_t *next = json_object_get(doc, "next");
		long long nx = json_is_integer(next) ? json_integer_value(next) : *last;
		json_decref(doc);
		total += n;
		if (n == 0 || nx == *last)
			break;
		*last = nx;
	}
	return total;
}

Test(restore, an_older_copy_gets_back_what_the_neighbour_delivered_since_each_message_once, .timeout = 300)
{
	static const char *const ids2[] = { A, B };
	struct cluster *c = cluster_new(2, ids2);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	cluster_configure(c, l, 2, NULL);
	struct agentproc *a = cluster_ap(c, A);
	char backup[600], data[600], aside[600], cmd[2048];
	snprintf(backup, sizeof(backup), "%s/a-backup.db", c->dir);
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(a));
	snprintf(aside, sizeof(aside), "%s/data.new", agentproc_dir(a));
	static char from_b[50][33], from_a[15][33];

	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	/* before the copy: 20 from B delivered to A; 5 from A delivered to B */
	cr_assert(eq(int, cluster_submit(c, B, A, "alert", "normal", 20, from_b), 202));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 5, from_a), 202));
	wait_queue_empty(c, B, A);
	wait_queue_empty(c, A, B);
	/* 10 more from A wait while B is stopped: the copy holds them queued */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 10, from_a + 5), 202));
	cr_assert(eq(int, agentproc_cli(NULL, NULL, "backup", "-c", agentproc_config(a), backup, NULL), CLI_OK));
	/* the national system read A's inbox up to here: its cursor is in the copy */
	long long copy_cursor = 0;
	cr_assert(eq(sz, page_from(c, A, 0, 7, &copy_cursor), 20));

	/* after the copy: A's 10 reach B, and 30 more from B reach A */
	cluster_start(c, B);
	wait_queue_empty(c, A, B);
	cr_assert(eq(int, cluster_submit(c, B, A, "alert", "normal", 30, from_b + 20), 202));
	wait_queue_empty(c, B, A);
	json_t *inbox = cluster_inbox(c, A);
	cr_assert(eq(sz, each_once(inbox, from_b, 50), 50));
	json_decref(inbox);
	long long cursor_before_restore = 0;
	page_from(c, A, 0, 100, &cursor_before_restore);

	/* restore the older copy as docs/operations.md says */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cr_assert(eq(int, rename(data, aside), 0));
	cr_assert(eq(int, mkdir(data, 0700), 0));
	snprintf(cmd, sizeof(cmd), "cp %s %s/limes.db", backup, data);
	cr_assert(eq(int, system(cmd), 0));
	long b_dups_before = counter(c, B, A, "duplicates");
	cluster_start(c, A);
	cr_assert(is(agentproc_wait_log(a, "event=restored_copy", 10000)));
	/* A asked B, B re-queued what it had delivered since (and, within the
	 * clock-skew margin, what the copy holds too), A committed each once */
	cr_assert(is(agentproc_wait_log(cluster_ap(c, B), "event=resend by=\"peer " A, 20000)));
	cr_assert(is(agentproc_wait_log(a, "event=restore_resend_complete", 20000)));
	wait_queue_empty(c, B, A);
	wait_queue_empty(c, A, B);
	inbox = cluster_inbox(c, A);
	cr_assert(eq(sz, json_array_size(inbox), 50), "A's inbox holds %zu entries", json_array_size(inbox));
	cr_assert(eq(sz, each_once(inbox, from_b, 50), 50));
	json_decref(inbox);
	/* the copy's 20 came again and were answered as duplicates, not stored */
	cr_assert(eq(long, counter(c, A, B, "duplicates"), 20));
	cr_assert(eq(long, counter(c, A, B, "received"), 30));
	/* A's copy still had its 10 queued: they went again, B answered them as
	 * duplicates and holds each of A's 15 once */
	cr_assert(eq(long, counter(c, B, A, "duplicates") - b_dups_before, 10));
	inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 15));
	cr_assert(eq(sz, each_once(inbox, from_a, 15), 15));
	json_decref(inbox);
	/* the inbox cursor (docs/api.md): the client resumes from the last
	 * cursor it knows to be in the copy and gets exactly the 30 received
	 * again; a cursor from the lost store (past the copy's) would skip them */
	long long last = 0;
	cr_assert(eq(sz, page_from(c, A, copy_cursor, 7, &last), 30));
	cr_assert(lt(llong, copy_cursor, cursor_before_restore));

	/* once every neighbour answered, the mark is gone: a restart asks no more */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	snprintf(cmd, sizeof(cmd), "grep -c 'event=restored_copy' %s/agent.log", agentproc_dir(a));
	cluster_start(c, A);
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	cluster_sleep_ms(1000);
	FILE *p = popen(cmd, "r");
	int times = 0;
	cr_assert(ne(ptr, p, NULL));
	cr_assert(eq(int, fscanf(p, "%d", &times), 1));
	pclose(p);
	cr_assert(eq(int, times, 1), "the restored copy was seen %d times", times);
	cluster_destroy(&c);
}

/* POST body to B's resend route for A: the status, error code and field it answers. */
static void expect_resend_error(struct cluster *c, const char *body, int status, const char *code, const char *field)
{
	json_t *doc = NULL;
	cr_assert(eq(int, cluster_http(c, B, "POST", "/v1/peers/" A "/resend", body, &doc), status), "%s", body);
	json_t *err = json_object_get(doc, "error");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(err, "code")), (char *)code), "%s", body);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(err, "field")), (char *)field), "%s", body);
	json_decref(doc);
}

Test(restore, an_operator_has_delivered_messages_sent_again_after_confirming, .timeout = 200)
{
	static const char *const ids2[] = { A, B };
	struct cluster *c = cluster_new(2, ids2);
	struct cluster_link l[] = { { B, A, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	struct agentproc *b = cluster_ap(c, B);
	static char from_b[12][33];
	char *out = NULL;

	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(eq(int, cluster_submit(c, B, A, "alert", "normal", 12, from_b), 202));
	wait_queue_empty(c, B, A);
	/* the whole enum and the options it needs */
	cr_assert(eq(int, agentproc_cli(NULL, NULL, "requeue", "-c", agentproc_config(b), "--state", "delivered",
					"--peer", A, NULL),
		     CLI_USAGE));
	cr_assert(eq(int, agentproc_cli(NULL, NULL, "requeue", "-c", agentproc_config(b), "--state", "delivered",
					"--peer", "XX-NO-SUCH", "--since", "2026-01-01T00:00:00Z", "--yes", NULL),
		     CLI_NOTFOUND));
	/* the API refuses bad input naming the field, and queues nothing */
	expect_resend_error(c, "[1]", 400, "invalid_json", "");
	expect_resend_error(c, "{\"since\": \"2026-01-01T00:00:00Z\", \"x\": 1}", 400, "unknown_field", "x");
	expect_resend_error(c, "{}", 400, "missing_field", "since");
	expect_resend_error(c, "{\"since\": \"yesterday\"}", 400, "bad_format", "since");
	expect_resend_error(c, "{\"since\": \"2026-01-01T00:00:00Z\", \"until\": 5}", 400, "bad_format", "until");
	expect_resend_error(c, "{\"since\": \"2026-01-01T00:00:00Z\", \"until\": \"soon\"}", 400, "bad_format",
			    "until");
	expect_resend_error(c, "{\"since\": \"2026-01-01T00:00:00Z\", \"dry_run\": \"yes\"}", 400, "wrong_type",
			    "dry_run");
	cr_assert(eq(long, cluster_queued(c, B, A), 0));
	/* not confirmed: nothing goes */
	cr_assert(eq(int, agentproc_cli(NULL, "n\n", "requeue", "-c", agentproc_config(b), "--state", "delivered",
					"--peer", A, "--since", "2026-01-01T00:00:00Z", NULL),
		     CLI_FAILED));
	cr_assert(eq(long, cluster_queued(c, B, A), 0));
	/* confirmed: all 12 go again; A answers each as a duplicate */
	cr_assert(eq(int, agentproc_cli(&out, "y\n", "requeue", "-c", agentproc_config(b), "--state", "delivered",
					"--peer", A, "--since", "2026-01-01T00:00:00Z", NULL),
		     CLI_OK));
	cr_assert(is(out && strstr(out, "12 messages delivered to " A) != NULL), "%s", out ? out : "");
	free(out);
	wait_queue_empty(c, B, A);
	for (int i = 0; i < 100 && counter(c, A, B, "duplicates") < 12; i++)
		cluster_sleep_ms(100);
	cr_assert(eq(long, counter(c, A, B, "duplicates"), 12));
	json_t *inbox = cluster_inbox(c, A);
	cr_assert(eq(sz, json_array_size(inbox), 12));
	cr_assert(eq(sz, each_once(inbox, from_b, 12), 12));
	json_decref(inbox);
	/* a time after every delivery finds nothing */
	cr_assert(eq(int, agentproc_cli(NULL, NULL, "requeue", "-c", agentproc_config(b), "--state", "delivered",
					"--peer", A, "--since", "2099-01-01T00:00:00Z", NULL),
		     CLI_NOTFOUND));
	cluster_destroy(&c);
}
