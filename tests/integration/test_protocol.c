/*
 * Protocol versions on real agents: two v2 agents sign a submitted batch
 * once; an agent forced to v1 ([link] protocol = 1, which makes it send and
 * take exactly what a v1 agent does) exchanges with a v2 agent both ways.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

TestSuite(protocol, .timeout = 180);

static const char *const AB[] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE" };
#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

/* The "protocol" figure of peer in id's GET /v1/peers (-1: null or absent). */
static long peer_protocol(struct cluster *c, const char *id, const char *peer)
{
	json_t *resp = NULL;
	long v = -1;
	size_t i;
	json_t *p;

	cr_assert(eq(int, cluster_http(c, id, "GET", "/v1/peers", NULL, &resp), 200));
	json_array_foreach(json_object_get(resp, "peers"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) == 0 &&
		    json_is_integer(json_object_get(p, "protocol")))
			v = (long)json_integer_value(json_object_get(p, "protocol"));
	json_decref(resp);
	return v;
}

static void wait_delivered(struct cluster *c, const char *from, const char *to, char (*ids)[33], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char state[32] = "";
		for (int t = 0; t < 300 && strcmp(state, "delivered") != 0; t++) {
			cluster_state(c, from, ids[i], to, state, sizeof(state), NULL);
			if (strcmp(state, "delivered") != 0)
				cluster_sleep_ms(100);
		}
		cr_assert(eq(str, state, "delivered"), "%s -> %s message %s is %s", from, to, ids[i], state);
	}
}

/* Every id in id's inbox exactly once, nothing else. */
static void assert_inbox(struct cluster *c, const char *id, char (*ids)[33], size_t n)
{
	json_t *inbox = cluster_inbox(c, id);
	cr_assert(eq(sz, json_array_size(inbox), n));
	for (size_t k = 0; k < n; k++) {
		size_t found = 0, i;
		json_t *m;
		json_array_foreach(inbox, i, m)
			if (strcmp(json_string_value(json_object_get(m, "id")), ids[k]) == 0)
				found++;
		cr_assert(eq(sz, found, 1), "message %s is in %s's inbox %zu times", ids[k], id, found);
	}
	json_decref(inbox);
}

static double metric(struct cluster *c, const char *id, const char *series)
{
	return agentproc_metric(cluster_ap(c, id), series);
}

Test(protocol, two_v2_agents_sign_a_submitted_batch_once)
{
	enum { N = 200 };
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	static char ids[N][33];

	cluster_configure(c, l, 2, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(cluster_wait_up(c, A, B, 10000));
	cr_assert(eq(long, peer_protocol(c, A, B), 2));
	double before = metric(c, A, "limes_envelope_signatures_total");
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", N, ids), 202));
	cr_assert(eq(dbl, metric(c, A, "limes_envelope_signatures_total") - before, 1.0));
	wait_delivered(c, A, B, ids, N);
	assert_inbox(c, B, ids, N);
	cr_assert(eq(dbl, metric(c, B, "limes_envelopes_refused_total{reason=\"bad_signature\"}"), 0.0));
	cluster_destroy(&c);
}

Test(protocol, a_v1_only_agent_and_a_v2_agent_exchange_both_ways)
{
	enum { N = 50 };
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	static char to_b[N][33], to_a[N][33];

	agentproc_set_link_extra(cluster_ap(c, B), "protocol = 1\n");
	cluster_configure(c, l, 2, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(cluster_wait_up(c, A, B, 10000));
	cr_assert(cluster_wait_up(c, B, A, 10000));
	/* A offers 2, B's replies carry no version: they agree on 1 */
	cr_assert(eq(long, peer_protocol(c, A, B), 1));
	cr_assert(eq(long, peer_protocol(c, B, A), 1));
	double a0 = metric(c, A, "limes_envelope_signatures_total");
	double b0 = metric(c, B, "limes_envelope_signatures_total");
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", N, to_b), 202));
	cr_assert(eq(int, cluster_submit(c, B, A, "alert", "urgent", N, to_a), 202));
	/* v1: one signature per envelope, either way */
	cr_assert(eq(dbl, metric(c, A, "limes_envelope_signatures_total") - a0, (double)N));
	cr_assert(eq(dbl, metric(c, B, "limes_envelope_signatures_total") - b0, (double)N));
	wait_delivered(c, A, B, to_b, N);
	wait_delivered(c, B, A, to_a, N);
	assert_inbox(c, B, to_b, N);
	assert_inbox(c, A, to_a, N);
	cr_assert(eq(dbl, metric(c, B, "limes_envelopes_refused_total{reason=\"unknown_version\"}"), 0.0));
	cluster_destroy(&c);
}
