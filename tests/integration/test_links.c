/*
 * Store-and-forward between real agents over real sockets: SIGKILL of either
 * side, outages with urgent traffic, unknown keys, forbidden types, replayed
 * envelopes and relaying. Every agent is a `limes agent` process on loopback.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "proto/err.h"
#include "store/store.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "crypto/receipt.h"
#include "proto/wire.h"
#include "support/cluster.h"

TestSuite(links, .timeout = 400);

static const char *const AB[] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE" };
#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

static int cmp_id(const void *x, const void *y)
{
	return memcmp(x, y, 33);
}

/* Waits until A has nothing queued for B (or fails after `seconds`). */
static void wait_drained(struct cluster *c, const char *from, const char *to, int seconds)
{
	long q = -1;
	for (int i = 0; i < seconds * 10; i++) {
		q = cluster_queued(c, from, to);
		if (q == 0)
			return;
		cluster_sleep_ms(100);
	}
	cr_fatal("%s still has %ld queued for %s after %d s", from, q, to, seconds);
}

/* Checks B's inbox holds exactly the ids, each once. */
static void assert_inbox_exactly(struct cluster *c, const char *id, char (*ids)[33], size_t n)
{
	json_t *inbox = cluster_inbox(c, id);
	size_t got = json_array_size(inbox);
	cr_assert(eq(sz, got, n), "%s inbox has %zu messages, %zu were sent", id, got, n);
	char (*seen)[33] = calloc(got ? got : 1, 33);
	size_t i;
	json_t *m;
	json_array_foreach(inbox, i, m)
		snprintf(seen[i], 33, "%s", json_string_value(json_object_get(m, "id")));
	qsort(seen, got, 33, cmp_id);
	qsort(ids, n, 33, cmp_id);
	for (i = 0; i + 1 < got; i++)
		cr_assert(ne(str, seen[i], seen[i + 1]), "message delivered twice");
	for (i = 0; i < n; i++)
		cr_assert(eq(str, seen[i], ids[i]));
	free(seen);
	json_decref(inbox);
}

static void assert_all_state(struct cluster *c, const char *from, char (*ids)[33], size_t n, const char *to,
			     const char *want)
{
	for (size_t i = 0; i < n; i++) {
		char state[32];
		cluster_state(c, from, ids[i], to, state, sizeof(state), NULL);
		cr_assert(eq(str, state, (char *)want), "message %s to %s is %s", ids[i], to, state);
	}
}

Test(links, receiver_killed_five_times_loses_and_duplicates_nothing)
{
	enum { TOTAL = 10000, BATCH = 250 };
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char (*ids)[33] = calloc(TOTAL, 33);
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(eq(int, cluster_wait_up(c, A, B, 10000), 1));

	/* Queue most of the traffic at once, then kill the receiver at random
	 * moments while the backlog streams into it, adding more each time. */
	srand(12345);
	int kills = 0;
	size_t sent = 0;
	for (; sent < TOTAL / 2; sent += BATCH)
		cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", BATCH, ids + sent), 202));
	while (kills < 6) {
		cluster_sleep_ms(50 + rand() % 350);
		cluster_kill(c, B);
		kills++;
		for (int k = 0; k < 4 && sent < TOTAL; k++, sent += BATCH)
			cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", BATCH, ids + sent), 202));
		cluster_sleep_ms(rand() % 200);
		cluster_start(c, B);
	}
	for (; sent < TOTAL; sent += BATCH)
		cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", BATCH, ids + sent), 202));
	cr_assert(ge(int, kills, 5));
	wait_drained(c, A, B, 180);
	assert_all_state(c, A, ids, TOTAL, B, "delivered");
	assert_inbox_exactly(c, B, ids, TOTAL);
	free(ids);
	cluster_destroy(&c);
}

Test(links, sender_killed_after_202_loses_nothing_accepted)
{
	enum { TOTAL = 4000, BATCH = 200 };
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char (*ids)[33] = calloc(TOTAL, 33);
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	cluster_start(c, B);

	srand(777);
	int kills = 0;
	size_t accepted = 0;
	for (int round = 0; round < TOTAL / BATCH; round++) {
		int status = cluster_submit(c, A, B, "alert", "normal", BATCH, ids + accepted);
		cr_assert(eq(int, status, 202));
		accepted += BATCH;
		if (round % 3 == 1) { /* right after the 202, at a random moment of delivery */
			cluster_sleep_ms(rand() % 100);
			cluster_kill(c, A);
			kills++;
			cluster_start(c, A);
		}
	}
	cr_assert(ge(int, kills, 5));
	wait_drained(c, A, B, 180);
	assert_all_state(c, A, ids, accepted, B, "delivered");
	assert_inbox_exactly(c, B, ids, accepted);
	free(ids);
	cluster_destroy(&c);
}

Test(links, backlog_after_outage_is_delivered_urgent_first)
{
	enum { TOTAL = 5000, URGENT = 400 };
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert, pre_arrival", NULL } };
	char (*ids)[33] = calloc(TOTAL, 33);
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A); /* B stays down: an outage */

	size_t n = 0;
	/* normal traffic first, urgent alerts in the middle and at the end */
	cr_assert(eq(int, cluster_submit(c, A, B, "pre_arrival", "normal", 2000, ids + n), 202));
	n += 2000;
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", URGENT / 2, ids + n), 202));
	n += URGENT / 2;
	cr_assert(eq(int, cluster_submit(c, A, B, "pre_arrival", "normal", TOTAL - n - URGENT / 2, ids + n), 202));
	n = TOTAL - URGENT / 2;
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", URGENT / 2, ids + n), 202));
	n = TOTAL;
	cr_assert(eq(long, cluster_queued(c, A, B), (long)TOTAL));

	cluster_start(c, B);
	wait_drained(c, A, B, 120);
	/* urgent ones first: every urgent message has a lower inbox cursor than every normal one */
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), (size_t)TOTAL));
	long long max_urgent = -1, min_normal = -1;
	size_t i;
	json_t *m;
	json_array_foreach(inbox, i, m) {
		long long cur = json_integer_value(json_object_get(m, "cursor"));
		const char *prio = json_string_value(json_object_get(m, "priority"));
		if (strcmp(prio, "urgent") == 0) {
			if (cur > max_urgent)
				max_urgent = cur;
		} else if (min_normal < 0 || cur < min_normal) {
			min_normal = cur;
		}
	}
	cr_assert(lt(i64, max_urgent, min_normal), "an urgent message (cursor %lld) came after a normal one (cursor %lld)",
		  max_urgent, min_normal);
	json_decref(inbox);
	assert_inbox_exactly(c, B, ids, TOTAL);
	free(ids);
	cluster_destroy(&c);
}

Test(links, unknown_key_is_refused_at_the_handshake)
{
	static const char *const ids3[] = { A, B, "XX-INTRUDER" };
	struct cluster *c = cluster_new(3, ids3);
	/* the intruder knows B and sends to it; B has never heard of it */
	struct cluster_link l[] = { { A, B, "alert", NULL }, { "XX-INTRUDER", B, "alert", NULL } };
	cluster_configure(c, l, 2, NULL);
	/* B's config must not know the intruder: cut its section out */
	struct agentproc *b = cluster_ap(c, B);
	{
		FILE *f = fopen(agentproc_config(b), "r");
		char text[8192];
		size_t len = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[len] = '\0';
		char *cut = strstr(text, "[peer \"XX-INTRUDER\"]");
		cr_assert(ne(ptr, cut, NULL));
		*cut = '\0';
		f = fopen(agentproc_config(b), "w");
		fputs(text, f);
		fclose(f);
	}
	cluster_start(c, B);
	cluster_start(c, "XX-INTRUDER");
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, "XX-INTRUDER", B, "alert", "urgent", 1, id), 202));
	cluster_sleep_ms(3000);
	cr_assert(eq(int, cluster_wait_up(c, "XX-INTRUDER", B, 100), 0), "the intruder's link came up");
	char state[32];
	cluster_state(c, "XX-INTRUDER", id[0], B, state, sizeof(state), NULL);
	cr_assert(eq(str, state, "queued"));
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 0));
	json_decref(inbox);
	/* B says why in its log */
	cr_assert(eq(int, agentproc_log_contains(b, "event=unknown_peer"), 1), "B did not log event=unknown_peer");
	cluster_destroy(&c);
}

Test(links, forbidden_type_is_rejected_with_its_reason)
{
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert, pre_arrival", NULL } };
	cluster_configure(c, l, 1, NULL);
	/* B accepts only alerts from A: drop pre_arrival from its accept list */
	struct agentproc *b = cluster_ap(c, B);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "sed -i 's/^accept = alert, pre_arrival/accept = alert/' '%s'", agentproc_config(b));
	cr_assert(eq(int, system(cmd), 0));
	/* submitted before B runs: once B's heartbeat has said what it accepts,
	 * A refuses the declaration itself at submission (400), and the
	 * receiver's refusal this test is about never happens */
	cluster_start(c, A);
	char ok[1][33], bad[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "pre_arrival", "normal", 1, bad), 202));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, ok), 202));
	cluster_start(c, B);
	wait_drained(c, A, B, 30);
	char state[32];
	json_t *detail = NULL;
	cluster_state(c, A, bad[0], B, state, sizeof(state), &detail);
	cr_assert(eq(str, state, "rejected"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(detail, "reason")), "policy_deny"));
	json_decref(detail);
	cluster_state(c, A, ok[0], B, state, sizeof(state), NULL);
	cr_assert(eq(str, state, "delivered"));
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_array_get(inbox, 0), "id")), ok[0]));
	json_decref(inbox);
	cluster_destroy(&c);
}

static const struct peer_key *lookup_b(void *arg, const char *issuer, const uint8_t key_id[8], uint64_t t, int *err)
{
	const struct peer_key *k = arg;
	(void)issuer;
	(void)t;
	if (memcmp(k->key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return k;
}

struct copy {
	uint8_t *env;
	size_t len;
};

static int copy_env(void *arg, const struct store_delivery_row *row)
{
	struct copy *c = arg;
	c->env = malloc(row->envelope_len);
	memcpy(c->env, row->envelope, row->envelope_len);
	c->len = row->envelope_len;
	return 1;
}

Test(links, replayed_envelope_on_a_new_connection_is_not_delivered_twice)
{
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", 1, id), 202));
	wait_drained(c, A, B, 30);
	cluster_stop(c, A);

	/* take the exact envelope bytes A sent from A's store */
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	char path[700];
	int err = 0;
	snprintf(path, sizeof(path), "%s/data", agentproc_dir(a));
	struct store *st = store_open(path, &err);
	cr_assert(ne(ptr, st, NULL));
	uint8_t raw[16];
	cr_assert(eq(int, encode_unhex(raw, sizeof(raw), id[0], 32), 0));
	struct copy cp = { 0 };
	cr_assert(ge(int, store_message_get(st, raw, copy_env, &cp), 0));
	cr_assert(ne(ptr, cp.env, NULL));
	store_destroy(&st);

	/* replay it as A would, on a fresh CURVE connection */
	snprintf(path, sizeof(path), "%s/keys", agentproc_dir(a));
	char why[256];
	struct identity *me = identity_load(path, &err, why, sizeof(why));
	cr_assert(ne(ptr, me, NULL), "%s", why);
	struct peer_key bk;
	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(b), &bk, why, sizeof(why)), 0));
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0, timeout = 5000;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, bk.box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, identity_public(me)->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(me), 32);
	cr_assert(eq(int, zmq_connect(s, agentproc_endpoint(b)), 0));
	struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = cp.env, .len = cp.len };
	uint8_t *fb = NULL;
	size_t fl = 0;
	cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
	cr_assert(eq(int, zmq_send(s, fb, fl, 0), (int)fl));
	free(fb);

	/* the answer is a signed receipt saying "duplicate", with the original time */
	bool answered = false;
	for (int tries = 0; tries < 10 && !answered; tries++) {
		uint8_t buf[65536];
		int n = zmq_recv(s, buf, sizeof(buf), 0);
		cr_assert(lt(int, 0, n), "no answer from B");
		struct wire_frame in;
		cr_assert(eq(int, wire_frame_unpack(buf, (size_t)n, sizeof(buf), &in), 0));
		if (in.kind != WIRE_FRAME_RECEIPT)
			continue; /* a heartbeat reply */
		struct wire_receipt_body body;
		cr_assert(eq(int, receipt_open(in.bytes, in.len, sizeof(buf), lookup_b, &bk, &body), 0));
		cr_assert(eq(sz, body.n_entries, 1));
		cr_assert(eq(int, body.entries[0].status, WIRE_RECEIPT_DUPLICATE));
		cr_assert(eq(int, memcmp(body.entries[0].message_id, raw, 16), 0));
		wire_receipt_body_clear(&body);
		answered = true;
	}
	cr_assert(eq(int, answered, 1));
	zmq_close(s);
	zmq_ctx_term(ctx);
	identity_destroy(&me);
	free(cp.env);

	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	json_decref(inbox);
	cluster_destroy(&c);
}

Test(links, relay_carries_sealed_messages_and_receipts_end_to_end)
{
	static const char *const ids3[] = { A, B, "RO-POLITIA-NADLAC" };
	struct cluster *c = cluster_new(3, ids3);
	struct cluster_link l[] = {
		{ "RO-POLITIA-NADLAC", B, "alert", NULL },
		{ B, "RO-POLITIA-NADLAC", "alert", NULL },
		{ A, B, "alert", NULL },
		{ B, A, "alert", NULL },
		{ "RO-POLITIA-NADLAC", A, "alert", B },
		{ A, "RO-POLITIA-NADLAC", "alert", B },
	};
	cluster_configure(c, l, 6, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cluster_start(c, "RO-POLITIA-NADLAC");
	char id[3][33];
	cr_assert(eq(int, cluster_submit(c, "RO-POLITIA-NADLAC", A, "alert", "urgent", 3, id), 202));
	for (int i = 0; i < 3; i++) {
		char state[32] = "";
		for (int t = 0; t < 300 && strcmp(state, "delivered") != 0; t++) {
			cluster_state(c, "RO-POLITIA-NADLAC", id[i], A, state, sizeof(state), NULL);
			cluster_sleep_ms(100);
		}
		cr_assert(eq(str, state, "delivered"));
	}
	assert_inbox_exactly(c, A, id, 3);
	json_t *relay_inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(relay_inbox), 0), "the relay kept a copy in its own inbox");
	json_decref(relay_inbox);
	cluster_destroy(&c);
}

Test(links, undelivered_message_expires_and_an_operator_requeues_it)
{
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A); /* B is down */
	json_t *resp = NULL;
	char body[20000];
	snprintf(body, sizeof(body), "{\"to\":[\"%s\"],\"type\":\"alert\",\"ttl_s\":1,\"body\":%s}", B,
		 cluster_example("alert"));
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/messages", body, &resp), 202));
	char id[33];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(resp, "id")));
	json_decref(resp);

	char state[32] = "";
	for (int i = 0; i < 50 && strcmp(state, "expired") != 0; i++) {
		cluster_sleep_ms(100);
		cluster_state(c, A, id, B, state, sizeof(state), NULL);
	}
	cr_assert(eq(str, state, "expired"), "still %s after its TTL", state);
	cr_assert(eq(long, cluster_queued(c, A, B), 0));
	/* the expiry is counted against B, in /metrics and in limes status, and logged by id */
	char series[128];
	snprintf(series, sizeof(series), "limes_messages_expired_total{peer=\"%s\"}", B);
	cr_assert(eq(dbl, agentproc_metric(cluster_ap(c, A), series), 1.0));
	char *out = NULL;
	/* B is away: exit status 2 (some link not up) */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", agentproc_config(cluster_ap(c, A)), "--json", NULL),
		     2));
	json_t *st = json_loads(out ? out : "", 0, NULL);
	free(out);
	cr_assert(st != NULL, "limes status --json is not JSON");
	json_t *row = NULL;
	size_t k;
	json_array_foreach(json_object_get(st, "peers"), k, row)
		if (strcmp(json_string_value(json_object_get(row, "id")), B) == 0)
			break;
	cr_assert(row != NULL && k < json_array_size(json_object_get(st, "peers")));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(row, "counters"), "expired")), 1));
	json_decref(st);
	char logged[128];
	snprintf(logged, sizeof(logged), "msg=%s type=alert event=expired", id);
	cr_assert(agentproc_log_contains(cluster_ap(c, A), logged), "no log line with %s", logged);

	/* B comes back: an expired message stays expired (never sent late) */
	cluster_start(c, B);
	cr_assert(eq(int, cluster_wait_up(c, A, B, 10000), 1));
	cluster_sleep_ms(500);
	cluster_state(c, A, id, B, state, sizeof(state), NULL);
	cr_assert(eq(str, state, "expired"));

	/* the operator re-queues it with a new lifetime: same id, delivered once */
	char path[128];
	snprintf(path, sizeof(path), "/v1/messages/%s/requeue", id);
	cr_assert(eq(int, cluster_http(c, A, "POST", path, "{\"ttl_s\": 600}", NULL), 202));
	for (int i = 0; i < 100 && strcmp(state, "delivered") != 0; i++) {
		cluster_sleep_ms(100);
		cluster_state(c, A, id, B, state, sizeof(state), NULL);
	}
	cr_assert(eq(str, state, "delivered"));
	char ids[1][33];
	memcpy(ids[0], id, 33);
	assert_inbox_exactly(c, B, ids, 1);
	/* a delivered message cannot be re-queued */
	cr_assert(eq(int, cluster_http(c, A, "POST", path, "{}", NULL), 409));
	cluster_destroy(&c);
}

Test(links, relay_carries_one_message_to_two_recipients_behind_it)
{
	static const char *const ids4[] = { A, B, "RO-POLITIA-NADLAC", "BG-CUSTOMS-KALOTINA" };
	struct cluster *c = cluster_new(4, ids4);
	/* RO reaches RS and BG only through HU */
	struct cluster_link l[] = {
		{ "RO-POLITIA-NADLAC", B, "alert", NULL },  { B, "RO-POLITIA-NADLAC", "alert", NULL },
		{ A, B, "alert", NULL },                     { B, A, "alert", NULL },
		{ "BG-CUSTOMS-KALOTINA", B, "alert", NULL }, { B, "BG-CUSTOMS-KALOTINA", "alert", NULL },
		{ "RO-POLITIA-NADLAC", A, "alert", B },      { "RO-POLITIA-NADLAC", "BG-CUSTOMS-KALOTINA", "alert", B },
	};
	cluster_configure(c, l, 8, NULL);
	for (size_t i = 0; i < 4; i++)
		cluster_start(c, ids4[i]);
	char body[20000];
	snprintf(body, sizeof(body), "{\"to\":[\"%s\",\"BG-CUSTOMS-KALOTINA\"],\"type\":\"alert\",\"body\":%s}", A,
		 cluster_example("alert"));
	json_t *resp = NULL;
	cr_assert(eq(int, cluster_http(c, "RO-POLITIA-NADLAC", "POST", "/v1/messages", body, &resp), 202));
	char id[1][33];
	snprintf(id[0], 33, "%s", json_string_value(json_object_get(resp, "id")));
	json_decref(resp);
	const char *to[2] = { A, "BG-CUSTOMS-KALOTINA" };
	for (int k = 0; k < 2; k++) {
		char state[32] = "";
		for (int t = 0; t < 200 && strcmp(state, "delivered") != 0; t++) {
			cluster_state(c, "RO-POLITIA-NADLAC", id[0], to[k], state, sizeof(state), NULL);
			cluster_sleep_ms(100);
		}
		cr_assert(eq(str, state, "delivered"), "to %s: %s", to[k], state);
		char one[1][33];
		memcpy(one[0], id[0], 33);
		assert_inbox_exactly(c, to[k], one, 1);
	}
	cluster_destroy(&c);
}

Test(links, a_rejected_message_requeued_after_the_policy_changed_is_delivered)
{
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert, pre_arrival", NULL } };
	cluster_configure(c, l, 1, NULL);
	struct agentproc *b = cluster_ap(c, B);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "sed -i 's/^accept = alert, pre_arrival/accept = alert/' '%s'", agentproc_config(b));
	cr_assert(eq(int, system(cmd), 0));
	/* submitted before B runs: once B's heartbeat says it accepts alerts only, A
	 * refuses a declaration for B at submission, and the rejection by the peer
	 * this test is about could not happen */
	cluster_start(c, A);
	char id[1][33], state[32] = "";
	cr_assert(eq(int, cluster_submit(c, A, B, "pre_arrival", "normal", 1, id), 202));
	cluster_start(c, B);
	for (int t = 0; t < 100 && strcmp(state, "rejected") != 0; t++) {
		cluster_sleep_ms(100);
		cluster_state(c, A, id[0], B, state, sizeof(state), NULL);
	}
	cr_assert(eq(str, state, "rejected"));

	/* B's operator accepts declarations now; A's operator re-queues */
	snprintf(cmd, sizeof(cmd), "sed -i 's/^accept = alert$/accept = alert, pre_arrival/' '%s'", agentproc_config(b));
	cr_assert(eq(int, system(cmd), 0));
	cr_assert(eq(int, agentproc_signal(b, SIGHUP), 0));
	cr_assert(eq(int, agentproc_wait_log(b, "event=reload ", 5000), 1));
	char path[128];
	snprintf(path, sizeof(path), "/v1/messages/%s/requeue", id[0]);
	cr_assert(eq(int, cluster_http(c, A, "POST", path, "{}", NULL), 202));
	json_t *detail = NULL;
	for (int t = 0; t < 100 && strcmp(state, "delivered") != 0; t++) {
		cluster_sleep_ms(100);
		json_decref(detail);
		cluster_state(c, A, id[0], B, state, sizeof(state), &detail);
	}
	cr_assert(eq(str, state, "delivered"), "after re-queue: %s (%s)", state,
		  json_string_value(json_object_get(detail, "reason")));
	json_decref(detail);
	assert_inbox_exactly(c, B, id, 1);
	cluster_destroy(&c);
}

Test(links, receipts_for_big_batches_fit_the_smallest_frame_limit)
{
	enum { TOTAL = 3000 };
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char (*ids)[33] = calloc(TOTAL, 33);
	/* the smallest max_frame allowed, and a window wide enough for 1,000+ entry receipts */
	cluster_configure(c, l, 1, "max_frame = 131072\nwindow = 4096\n");
	cluster_start(c, A); /* B down: a backlog arrives in big drains */
	for (size_t n = 0; n < TOTAL; n += 500)
		cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 500, ids + n), 202));
	cluster_start(c, B);
	wait_drained(c, A, B, 60);
	cr_assert(eq(int, agentproc_log_contains(cluster_ap(c, A), "event=link_down"), 0),
		  "the link flapped: a receipt was larger than the frame limit");
	assert_inbox_exactly(c, B, ids, TOTAL);
	free(ids);
	cluster_destroy(&c);
}

Test(links, a_peers_garbage_is_counted_and_never_stops_the_agent)
{
	struct cluster *c = cluster_new(2, AB);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, B);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);

	/* speak as A (its real keys, so ZAP admits it), but send garbage */
	char path[700], why[256];
	int err = 0;
	snprintf(path, sizeof(path), "%s/keys", agentproc_dir(a));
	struct identity *me = identity_load(path, &err, why, sizeof(why));
	cr_assert(ne(ptr, me, NULL), "%s", why);
	struct peer_key bk;
	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(b), &bk, why, sizeof(why)), 0));
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, bk.box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, identity_public(me)->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(me), 32);
	cr_assert(eq(int, zmq_connect(s, agentproc_endpoint(b)), 0));
	uint8_t junk[4096];
	random_fill(junk, sizeof(junk));
	for (size_t n = 1; n <= sizeof(junk); n *= 2)
		cr_assert(ge(int, zmq_send(s, junk, n, 0), 0));  /* random frames of every size */
	zmq_send(s, junk, 10, ZMQ_SNDMORE);                  /* a multi-part message */
	zmq_send(s, junk, 10, 0);
	static const uint8_t empty_envelope[] = { 0x0a, 0x00 }; /* Frame{envelope: ""} */
	zmq_send(s, empty_envelope, sizeof(empty_envelope), 0);
	cr_assert(eq(int, agentproc_wait_log(b, "event=garbage_frame", 5000), 1));
	cluster_sleep_ms(500);
	zmq_close(s);
	zmq_ctx_term(ctx);
	identity_destroy(&me);

	/* B is alive, counted it, stored nothing, and still talks to the real A */
	cr_assert(eq(int, cluster_http(c, B, "GET", "/healthz", NULL, NULL), 200));
	cr_assert(lt(dbl, 0.0, agentproc_metric(b, "limes_frames_garbage_total")));
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 0));
	json_decref(inbox);
	cluster_start(c, A);
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", 1, id), 202));
	wait_drained(c, A, B, 30);
	assert_inbox_exactly(c, B, id, 1);
	cluster_destroy(&c);
}
