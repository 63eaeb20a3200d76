/*
 * Protocol versions on real agents: two v2 agents sign a submitted batch
 * once; an agent forced to v1 ([link] protocol = 1, which makes it send and
 * take exactly what a v1 agent does) exchanges with a v2 agent both ways;
 * a relay carries v2 end to end (and the author proves each delivery from
 * its receipt alone), and a v1 link behind the relay makes the author send
 * v1. A backlog queued during an outage is built in the version the link
 * last agreed, and sealed again as v1 should the peer come back v1 only.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/encode.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"
#include "proto/wire.h"
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

/* ------------------------------------------------------------ through a relay */

#define C "RO-POLITIA-NADLAC"
static const char *const ABC[] = { A, B, C };

/* A and C talk through B; `extra_c` (NULL: none) goes into C's [link]
 * section, which also sets its heartbeat. */
static struct cluster *relay_cluster(const char *extra_c)
{
	struct cluster *c = cluster_new(3, ABC);
	struct cluster_link l[] = {
		{ C, B, "alert", NULL }, { B, C, "alert", NULL }, { A, B, "alert", NULL },
		{ B, A, "alert", NULL }, { C, A, "alert", B },     { A, C, "alert", B },
	};
	/* heartbeats every second, so that A hears soon what B forwards in v2 */
	agentproc_set_link_extra(cluster_ap(c, A), "heartbeat = 1s\n");
	agentproc_set_link_extra(cluster_ap(c, B), "heartbeat = 1s\n");
	agentproc_set_link_extra(cluster_ap(c, C), extra_c ? extra_c : "heartbeat = 1s\n");
	cluster_configure(c, l, 6, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cluster_start(c, C);
	cr_assert(cluster_wait_up(c, A, B, 10000));
	cr_assert(cluster_wait_up(c, B, C, 10000));
	return c;
}

/* Waits until A's GET /v1/peers shows `want` for C (behind B). */
static void wait_protocol(struct cluster *c, long want)
{
	long v = -1;
	for (int t = 0; t < 100 && v != want; t++) {
		v = peer_protocol(c, A, C);
		if (v != want)
			cluster_sleep_ms(100);
	}
	cr_assert(eq(long, v, want), "A shows protocol %ld for %s behind %s", v, C, B);
}

/* The receipt_proof of message id to C in A's GET /v1/messages/{id}; new reference. */
static json_t *receipt_proof(struct cluster *c, const char *id)
{
	char path[80];
	json_t *resp = NULL, *r, *proof = NULL;
	size_t i;
	snprintf(path, sizeof(path), "/v1/messages/%s", id);
	cr_assert(eq(int, cluster_http(c, A, "GET", path, NULL, &resp), 200));
	json_array_foreach(json_object_get(resp, "recipients"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "to")), C) == 0)
			proof = json_incref(json_object_get(r, "receipt_proof"));
	json_decref(resp);
	cr_assert(not(eq(ptr, proof, NULL)), "no receipt_proof for %s", id);
	return proof;
}

static size_t unhex_field(json_t *o, const char *key, uint8_t *out, size_t cap)
{
	const char *hex = json_string_value(json_object_get(o, key));
	cr_assert(not(eq(ptr, (void *)hex, NULL)), "no %s", key);
	size_t n = strlen(hex) / 2;
	cr_assert(le(sz, n, cap));
	cr_assert(eq(int, encode_unhex(out, n, hex, strlen(hex)), 0));
	return n;
}

/* A third party's check of one message's receipt proof: C's public key
 * (from its identity line) and the proof, nothing else. */
static void proof_verifies(struct cluster *c, json_t *proof, const char *id)
{
	static uint8_t head[4096], entry[4096];
	struct receipt_proof p = { .head = head, .entry = entry };
	struct peer_key ck;
	struct wire_receipt_entry e;
	char why[200], id_hex[33];

	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(cluster_ap(c, C)), &ck, why, sizeof(why)), 0), "%s",
		  why);
	cr_assert(eq(int, (int)json_integer_value(json_object_get(proof, "version")), 2));
	p.head_len = unhex_field(proof, "head", head, sizeof(head));
	p.entry_len = unhex_field(proof, "entry", entry, sizeof(entry));
	p.path_len = unhex_field(proof, "path", p.path, sizeof(p.path));
	cr_assert(eq(sz, unhex_field(proof, "signature", p.signature, 64), 64));
	p.index = (uint32_t)json_integer_value(json_object_get(proof, "index"));
	p.count = (uint32_t)json_integer_value(json_object_get(proof, "count"));
	cr_assert(eq(int, receipt_proof_verify(&p, ck.sign_pk, NULL, &e), 0));
	cr_assert(eq(int, e.status, WIRE_RECEIPT_ACCEPTED));
	cr_assert(eq(int, encode_hex(id_hex, sizeof(id_hex), e.message_id, 16), 0));
	cr_assert(eq(str, id_hex, (char *)id));
	/* and a flipped bit of the entry is no proof */
	entry[p.entry_len / 2] ^= 1;
	cr_assert(lt(int, receipt_proof_verify(&p, ck.sign_pk, NULL, NULL), 0));
}

Test(protocol, a_relay_carries_v2_end_to_end_and_each_receipt_entry_proves_alone)
{
	enum { N = 20 };
	struct cluster *c = relay_cluster(NULL);
	static char ids[N][33];

	wait_protocol(c, 2);
	double sig0 = metric(c, A, "limes_envelope_signatures_total");
	cr_assert(eq(int, cluster_submit(c, A, C, "alert", "normal", N, ids), 202));
	/* one root signature for the batch, verified end to end by C */
	cr_assert(eq(dbl, metric(c, A, "limes_envelope_signatures_total") - sig0, 1.0));
	wait_delivered(c, A, C, ids, N);
	assert_inbox(c, C, ids, N);
	cr_assert(eq(dbl, metric(c, B, "limes_relayed_total"), (double)N));
	cr_assert(eq(dbl, metric(c, C, "limes_envelopes_refused_total{reason=\"bad_signature\"}"), 0.0));
	cr_assert(eq(dbl, metric(c, B, "limes_receipts_bad_total"), 0.0));
	cr_assert(eq(dbl, metric(c, A, "limes_receipts_bad_total"), 0.0));
	for (size_t i = 0; i < N; i += N - 1) {
		json_t *proof = receipt_proof(c, ids[i]);
		proof_verifies(c, proof, ids[i]);
		json_decref(proof);
	}
	cluster_destroy(&c);
}

Test(protocol, a_v1_link_behind_the_relay_makes_the_author_send_v1)
{
	enum { N = 5 };
	struct cluster *c = relay_cluster("heartbeat = 1s\nprotocol = 1\n");
	static char ids[N][33];

	/* B's link to C agreed 1, so B does not list C: A builds v1 for C */
	cr_assert(eq(long, peer_protocol(c, A, B), 2));
	wait_protocol(c, 1);
	double sig0 = metric(c, A, "limes_envelope_signatures_total");
	cr_assert(eq(int, cluster_submit(c, A, C, "alert", "normal", N, ids), 202));
	cr_assert(eq(dbl, metric(c, A, "limes_envelope_signatures_total") - sig0, (double)N));
	wait_delivered(c, A, C, ids, N);
	assert_inbox(c, C, ids, N);
	cr_assert(eq(dbl, metric(c, C, "limes_envelopes_refused_total{reason=\"unknown_version\"}"), 0.0));
	/* v1 receipts: the whole signed receipt is the proof */
	json_t *proof = receipt_proof(c, ids[0]);
	cr_assert(eq(int, (int)json_integer_value(json_object_get(proof, "version")), 1));
	bool whole = json_is_string(json_object_get(proof, "receipt"));
	cr_assert(whole, "a v1 receipt_proof holds the whole receipt");
	json_decref(proof);
	cluster_destroy(&c);
}

/* A and B up on v2; B stops, and while it is down A queues n messages to
 * it. Returns A's envelope signatures before the submission. */
static double queue_during_outage(struct cluster *c, char (*ids)[33], size_t n, const char *priority)
{
	struct cluster_link l[] = { { A, B, "alert", NULL } };

	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(cluster_wait_up(c, A, B, 10000));
	cr_assert(eq(long, peer_protocol(c, A, B), 2));
	cluster_stop(c, B);
	for (int t = 0; t < 100 && peer_protocol(c, A, B) == 2; t++)
		cluster_sleep_ms(100);
	cr_assert(eq(long, peer_protocol(c, A, B), -1), "A still shows v2 agreed with a stopped B");
	/* the link last agreed v2: the backlog is one batch, one signature, and
	 * the receiver verifies one root rather than one signature a message */
	double before = metric(c, A, "limes_envelope_signatures_total");
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", priority, n, ids), 202));
	cr_assert(eq(dbl, metric(c, A, "limes_envelope_signatures_total") - before, 1.0));
	return before;
}

Test(protocol, a_backlog_queued_during_an_outage_is_signed_in_batches)
{
	enum { N = 200 };
	struct cluster *c = cluster_new(2, AB);
	static char ids[N][33];

	queue_during_outage(c, ids, N, "normal");
	cluster_start(c, B);
	wait_delivered(c, A, B, ids, N);
	assert_inbox(c, B, ids, N);
	cr_assert(eq(dbl, metric(c, B, "limes_envelopes_refused_total{reason=\"bad_signature\"}"), 0.0));
	cr_assert(eq(dbl, metric(c, B, "limes_envelopes_refused_total{reason=\"unknown_version\"}"), 0.0));
	cluster_destroy(&c);
}

Test(protocol, a_peer_back_as_v1_only_gets_the_outage_backlog_sealed_again_as_v1)
{
	enum { N = 50 };
	struct cluster *c = cluster_new(2, AB);
	static char ids[N][33];

	double before = queue_during_outage(c, ids, N, "urgent");
	/* B comes back v1 only: v2 envelopes would be refused unknown_version */
	agentproc_set_link_extra(cluster_ap(c, B), "protocol = 1\n");
	cluster_start(c, B);
	cr_assert(cluster_wait_up(c, A, B, 10000));
	wait_delivered(c, A, B, ids, N);
	assert_inbox(c, B, ids, N);
	cr_assert(eq(long, peer_protocol(c, A, B), 1));
	cr_assert(eq(dbl, metric(c, B, "limes_envelopes_refused_total{reason=\"unknown_version\"}"), 0.0));
	/* sealed again and signed alone on the way out: the API made no more
	 * signatures than the batch's one */
	cr_assert(eq(dbl, metric(c, A, "limes_envelope_signatures_total") - before, 1.0));
	cr_assert(agentproc_log_contains(cluster_ap(c, A), "event=resealed"));
	cluster_destroy(&c);
}
