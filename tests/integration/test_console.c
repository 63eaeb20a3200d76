/*
 * The console's documents over real agents: GET /v1/events names link
 * changes and refusals with their reason and message id on both sides, and
 * pages with its cursor; GET /v1/stats/history holds per-interval samples
 * whose counts add up to the peer's counters; both need the token and
 * refuse bad parameters naming them.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

TestSuite(console, .timeout = 120);

/* The first event of kind (and message, when msg is not NULL) in the answer, or NULL. */
static json_t *find_event(json_t *doc, const char *kind, const char *peer, const char *msg)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(doc, "events"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "kind")), kind) == 0 &&
		    json_is_string(json_object_get(e, "peer")) &&
		    strcmp(json_string_value(json_object_get(e, "peer")), peer) == 0 &&
		    (!msg || (json_is_string(json_object_get(e, "msg")) &&
			      strcmp(json_string_value(json_object_get(e, "msg")), msg) == 0)))
			return e;
	}
	return NULL;
}

static void wait_final(struct cluster *c, const char *id, const char *want)
{
	char state[32] = "";
	for (int i = 0; i < 300 && strcmp(state, want) != 0; i++) {
		cluster_state(c, A, id, B, state, sizeof(state), NULL);
		if (strcmp(state, want) != 0)
			cluster_sleep_ms(100);
	}
	cr_assert(eq(str, state, (char *)want), "message %s", id);
}

static void expect_error(struct cluster *c, const char *id, const char *path, int status, const char *code,
			 const char *field)
{
	json_t *doc = NULL;
	cr_assert(eq(int, cluster_http(c, id, "GET", path, NULL, &doc), status), "GET %s", path);
	json_t *err = json_object_get(doc, "error");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(err, "code")), (char *)code), "GET %s", path);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(err, "field")), (char *)field), "GET %s", path);
	json_decref(doc);
}

Test(console, events_and_history_say_what_happened_on_the_links)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert, pre_arrival", NULL } };
	cluster_configure(c, l, 1, NULL);
	/* B accepts only alerts from A: a pre_arrival is refused with policy_deny */
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "sed -i 's/^accept = alert, pre_arrival/accept = alert/' '%s'",
		 agentproc_config(cluster_ap(c, B)));
	cr_assert(eq(int, system(cmd), 0));
	agentproc_set_api_extra(cluster_ap(c, A), "history_interval = 1s\n");
	/* the pre_arrival is queued while B is down: once A has heard what B
	 * accepts it refuses such a submission at once (peer_lacks_type) */
	char bad[1][33], ok[4][33];
	cluster_start(c, A);
	cr_assert(eq(int, cluster_submit(c, A, B, "pre_arrival", "normal", 1, bad), 202));
	cluster_start(c, B);
	cr_assert(eq(int, cluster_wait_up(c, A, B, 10000), 1));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 4, ok), 202));
	wait_final(c, bad[0], "rejected");
	for (int i = 0; i < 4; i++)
		wait_final(c, ok[i], "delivered");

	/* the sender hears the rejection, the receiver says what it refused and why */
	json_t *doc = NULL;
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/events", NULL, &doc), 200));
	cr_assert(ne(ptr, find_event(doc, "link_up", B, NULL), NULL), "A has no link_up event for B");
	json_t *e = find_event(doc, "rejected", B, bad[0]);
	cr_assert(ne(ptr, e, NULL), "A has no rejected event for %s", bad[0]);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(e, "reason")), "policy_deny"));
	cr_assert(eq(ptr, find_event(doc, "rejected", B, ok[0]), NULL));
	json_int_t next = json_integer_value(json_object_get(doc, "next"));
	cr_assert(eq(i64, next, json_integer_value(json_object_get(doc, "last_seq"))));
	cr_assert(eq(i64, json_integer_value(json_object_get(doc, "missed")), 0));
	json_decref(doc);
	cr_assert(eq(int, cluster_http(c, B, "GET", "/v1/events", NULL, &doc), 200));
	e = find_event(doc, "refused", A, bad[0]);
	cr_assert(ne(ptr, e, NULL), "B has no refused event for %s", bad[0]);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(e, "reason")), "policy_deny"));
	json_decref(doc);

	/* the cursor: nothing new after next; one at a time from the start */
	char path[128];
	snprintf(path, sizeof(path), "/v1/events?after=%lld", (long long)next);
	cr_assert(eq(int, cluster_http(c, A, "GET", path, NULL, &doc), 200));
	cr_assert(eq(sz, json_array_size(json_object_get(doc, "events")), 0));
	cr_assert(eq(i64, json_integer_value(json_object_get(doc, "next")), next));
	json_decref(doc);
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/events?after=0&limit=1", NULL, &doc), 200));
	cr_assert(eq(sz, json_array_size(json_object_get(doc, "events")), 1));
	cr_assert(eq(i64, json_integer_value(json_object_get(json_array_get(json_object_get(doc, "events"), 0), "seq")), 1));
	cr_assert(eq(i64, json_integer_value(json_object_get(doc, "next")), 1));
	json_decref(doc);

	/* B goes away: A's feed says so */
	cluster_kill(c, B);
	bool seen = false;
	for (int i = 0; i < 100 && !seen; i++) {
		cr_assert(eq(int, cluster_http(c, A, "GET", path, NULL, &doc), 200));
		/* a link that was up goes down (issue 10: "connecting" is only a new link's) */
		seen = find_event(doc, "link_down", B, NULL) != NULL;
		json_decref(doc);
		if (!seen)
			cluster_sleep_ms(100);
	}
	cr_assert(eq(int, seen, 1), "no link_down event for B 10 s after it was killed");

	/* history: a few intervals later every send is in a sample (the
	 * sampler runs on the 1 s housekeeping tick, so 1 s samples may come
	 * 2 s apart) */
	cluster_sleep_ms(6500);
	json_t *peers = NULL;
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/peers", NULL, &peers), 200));
	json_int_t counted = json_integer_value(json_object_get(
		json_object_get(json_array_get(json_object_get(peers, "peers"), 0), "counters"), "sent"));
	json_decref(peers);
	cr_assert(ge(i64, counted, 5));
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/stats/history?peer=" B "&minutes=60", NULL, &doc), 200));
	cr_assert(eq(dbl, json_real_value(json_object_get(doc, "interval_s")), 1.0));
	cr_assert(eq(i64, json_integer_value(json_object_get(doc, "points_max")), 1440));
	json_t *list = json_object_get(doc, "peers");
	cr_assert(eq(sz, json_array_size(list), 1));
	json_t *s = json_array_get(list, 0);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(s, "id")), B));
	size_t n = json_array_size(json_object_get(s, "t_ms"));
	cr_assert(ge(sz, n, 3));
	json_int_t sum = 0, prev_t = 0;
	for (size_t i = 0; i < n; i++) {
		json_int_t t = json_integer_value(json_array_get(json_object_get(s, "t_ms"), i));
		cr_assert(lt(i64, prev_t, t), "samples out of order");
		prev_t = t;
		sum += json_integer_value(json_array_get(json_object_get(s, "sent"), i));
		cr_assert(eq(int, json_is_integer(json_array_get(json_object_get(s, "queued"), i)), 1));
	}
	cr_assert(eq(sz, json_array_size(json_object_get(s, "received")), n));
	cr_assert(eq(sz, json_array_size(json_object_get(s, "refused")), n));
	cr_assert(eq(sz, json_array_size(json_object_get(s, "rtt_ms")), n));
	cr_assert(eq(i64, sum, counted), "the samples add up to %lld sent, the counter says %lld", (long long)sum,
		  (long long)counted);
	json_decref(doc);

	/* the token is needed; bad parameters are named */
	struct agentproc *a = cluster_ap(c, A);
	cr_assert(eq(long, agentproc_http(a, "GET", "/v1/events", NULL, 0, "", NULL), 401));
	cr_assert(eq(long, agentproc_http(a, "GET", "/v1/stats/history", NULL, 0, "wrong", NULL), 401));
	expect_error(c, A, "/v1/events?after=-1", 400, "invalid_field", "after");
	expect_error(c, A, "/v1/events?after=x", 400, "invalid_field", "after");
	expect_error(c, A, "/v1/events?limit=0", 400, "invalid_field", "limit");
	expect_error(c, A, "/v1/events?limit=1001", 400, "invalid_field", "limit");
	expect_error(c, A, "/v1/events?since=1", 400, "unknown_field", "since");
	expect_error(c, A, "/v1/stats/history?minutes=0", 400, "invalid_field", "minutes");
	expect_error(c, A, "/v1/stats/history?minutes=1441", 400, "invalid_field", "minutes");
	expect_error(c, A, "/v1/stats/history?peer=XX-NOBODY", 404, "unknown_peer", "peer");
	expect_error(c, A, "/v1/stats/history?range=day", 400, "unknown_field", "range");
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/events", "{}", NULL), 405));
	cluster_destroy(&c);
}
