/*
 * The audit trail against a live neighbour, with real agents: `limes audit
 * verify --ask` asks the running neighbour for the checkpoints it keeps
 * countersigned and so finds a store swapped for an older copy (with our
 * agent stopped, and running on the swapped store), passes an untouched
 * store, and fails clearly when the neighbour does not answer; a neighbour
 * refuses a second, different checkpoint for a seq it countersigned
 * (equivocation), keeps the first and says so; a flood of garbage from a
 * peer leaves a bounded number of refusal entries whose counts add up.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "crypto/audit.h"
#include "crypto/encode.h"
#include "crypto/identity.h"
#include "proto/wire.h"
#include "support/cluster.h"

TestSuite(audit_neighbour, .timeout = 300);

#define A "RS-CUSTOMS-HORGOS"
#define R "HU-NAV-ROSZKE"

/* Fast checkpoints, so the tests see countersignatures within a second. */
#define AUDIT_FAST "[audit]\ncheckpoint_every = 5\ncheckpoint_interval = 300ms\n"

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert(eq(int, system(cmd), 0), "command failed: %s", cmd);
}

/* Runs `limes audit verify -c CONFIG --ask` with stderr folded into *out;
 * returns the exit status. */
static int verify_ask(const char *config, char **out)
{
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "'%s' audit verify -c '%s' --ask 2>&1", LIMES_BIN, config);
	FILE *p = popen(cmd, "r");
	cr_assert(p != NULL);
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	cr_assert(buf != NULL);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 1024) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf != NULL);
		}
	}
	buf[len] = '\0';
	int status = pclose(p);
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Audit records of an agent: GET /v1/audit while it runs, its store when stopped. */
static json_t *records(struct agentproc *ap, const char *query, bool running)
{
	char *text = NULL;
	json_t *arr = json_array();
	if (running) {
		char path[512];
		snprintf(path, sizeof(path), "/v1/audit%s", query);
		long status = agentproc_http(ap, "GET", path, NULL, 0, NULL, &text);
		cr_assert(eq(long, status, 200), "GET %s: %ld", path, status);
	} else {
		cr_assert(eq(int, agentproc_cli(&text, NULL, "audit", "export", "-c", agentproc_config(ap), "--kept", "*",
						"--checkpoints", NULL), 0));
	}
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		cr_assert(o != NULL, "not a JSON line: %s", line);
		json_array_append_new(arr, o);
	}
	free(text);
	return arr;
}

/* The highest seq of `record` records (of agent `agent` when not NULL). */
static unsigned long long max_seq(json_t *recs, const char *record, const char *agent)
{
	unsigned long long best = 0;
	size_t i;
	json_t *m;
	json_array_foreach(recs, i, m) {
		const char *rec = json_string_value(json_object_get(m, "record"));
		const char *who = json_string_value(json_object_get(m, "agent"));
		if (rec && strcmp(rec, record) == 0 && (!agent || (who && strcmp(who, agent) == 0)) &&
		    (unsigned long long)json_integer_value(json_object_get(m, "seq")) > best)
			best = (unsigned long long)json_integer_value(json_object_get(m, "seq"));
	}
	return best;
}

static unsigned long long wait_countersigned(struct cluster *c, const char *id, unsigned long long seq)
{
	for (int t = 0; t < 100; t++) {
		json_t *recs = records(cluster_ap(c, id), "?checkpoints=yes&limit=1", true);
		unsigned long long best = max_seq(recs, "countersignature", NULL);
		json_decref(recs);
		if (best >= seq)
			return best;
		cluster_sleep_ms(100);
	}
	cr_fatal("no countersigned checkpoint at or past entry %llu after 10 s", seq);
	return 0;
}

/* Waits until id's trail records `receipts` delivered messages (receipt
 * entries, or messages of receipt_batch entries); its head then. */
static unsigned long long head_after_receipts(struct cluster *c, const char *id, size_t receipts)
{
	for (int t = 0; t < 100; t++) {
		json_t *recs = records(cluster_ap(c, id), "?limit=1000000", true);
		size_t n = 0, i;
		json_t *m;
		json_array_foreach(recs, i, m) {
			json_t *msgs = agentproc_audit_messages(m, "receipt");
			n += json_array_size(msgs);
			json_decref(msgs);
		}
		unsigned long long head = max_seq(recs, "entry", NULL);
		json_decref(recs);
		if (n >= receipts)
			return head;
		cluster_sleep_ms(100);
	}
	cr_fatal("%s's trail holds fewer than %zu receipts after 10 s", id, receipts);
	return 0;
}

Test(audit_neighbour, verify_asks_the_live_neighbour_and_finds_a_store_swapped_for_an_older_copy)
{
	static const char *const ids[] = { A, R };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, R, "alert", NULL } };
	char sent[40][33], data[700], *out = NULL, want[64];
	cluster_configure(c, l, 1, AUDIT_FAST);
	struct agentproc *a = cluster_ap(c, A);
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(a));

	cluster_start(c, A);
	cluster_start(c, R);
	cr_assert(eq(int, cluster_wait_up(c, A, R, 10000), 1));
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 10, sent), 202));
	wait_countersigned(c, A, head_after_receipts(c, A, 10));
	cr_assert(eq(int, cluster_stop(c, A), 0));
	sh("cp -a '%s' '%s.backup'", data, data);
	json_t *recs = records(a, "", false);
	unsigned long long backup_head = max_seq(recs, "entry", NULL);
	json_decref(recs);
	cluster_start(c, A);
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 20, sent + 10), 202));
	wait_countersigned(c, A, head_after_receipts(c, A, 30));
	cr_assert(eq(int, cluster_stop(c, A), 0));

	/* the untouched store, A stopped, R running: the neighbour's copies agree */
	int rc = verify_ask(agentproc_config(a), &out);
	cr_assert(eq(int, rc, 0), "the untouched trail does not verify against the live neighbour:\n%s", out);
	cr_assert(strstr(out, "neighbour copies agree") != NULL, "%s", out);
	cr_assert(strstr(out, ", 0 neighbour copies") == NULL, "R sent no kept checkpoint:\n%s", out);
	free(out);

	/* the whole store swapped for the earlier copy: the store alone is a
	 * consistent trail, the live neighbour names the first missing entry */
	sh("rm -rf '%s' && cp -a '%s.backup' '%s'", data, data, data);
	rc = verify_ask(agentproc_config(a), &out);
	cr_assert(ne(int, rc, 0), "a swapped store verified against the neighbour:\n%s", out);
	snprintf(want, sizeof(want), "first bad entry: %llu\n", backup_head + 1);
	cr_assert(strstr(out, want) != NULL, "verify does not name entry %llu:\n%s", backup_head + 1, out);
	cr_assert(strstr(out, "replaced by an older copy") != NULL, "%s", out);
	cr_assert(strstr(out, "HU-NAV-ROSZKE-countersigned") != NULL, "%s", out);
	free(out);

	/* and with A running on the swapped store (read through its API; the
	 * question goes on a connection of its own beside A's link) */
	cluster_start(c, A);
	cr_assert(eq(int, cluster_wait_up(c, A, R, 10000), 1));
	rc = verify_ask(agentproc_config(a), &out);
	cr_assert(ne(int, rc, 0), "a running agent on a swapped store verified:\n%s", out);
	cr_assert(strstr(out, "replaced by an older copy") != NULL, "%s", out);
	free(out);
	/* A's own link to R still works after the question */
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 1, sent + 30), 202));
	char state[32] = "";
	for (int t = 0; t < 100 && strcmp(state, "delivered") != 0; t++) {
		cluster_state(c, A, sent[30], R, state, sizeof(state), NULL);
		cluster_sleep_ms(100);
	}
	cr_assert(eq(str, state, "delivered"));
	cr_assert(eq(int, cluster_stop(c, A), 0));

	/* the neighbour unreachable: a clear error naming it, never a pass */
	sh("rm -rf '%s' && cp -a '%s.backup' '%s'", data, data, data);
	cr_assert(eq(int, cluster_stop(c, R), 0));
	rc = verify_ask(agentproc_config(a), &out);
	cr_assert(eq(int, rc, 69), "verify with the neighbour stopped:\n%s", out);
	cr_assert(strstr(out, "asking HU-NAV-ROSZKE") != NULL && strstr(out, "unreachable") != NULL, "%s", out);
	cr_assert(strstr(out, "ok:") == NULL, "%s", out);
	free(out);
	cluster_destroy(&c);
}

/* A DEALER to `to` with the keys of agent `as` (as a neighbour holding them). */
struct as_peer {
	void *ctx, *s;
	struct identity *me;
};

static void as_peer_open(struct as_peer *ap, struct agentproc *as, struct agentproc *to)
{
	char path[700], why[256];
	int err = 0;
	struct peer_key tk;
	snprintf(path, sizeof(path), "%s/keys", agentproc_dir(as));
	ap->me = identity_load(path, &err, why, sizeof(why));
	cr_assert(ap->me != NULL, "%s", why);
	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(to), &tk, why, sizeof(why)), 0));
	ap->ctx = zmq_ctx_new();
	ap->s = zmq_socket(ap->ctx, ZMQ_DEALER);
	int linger = 0, timeout = 3000, hwm = 100000;
	zmq_setsockopt(ap->s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(ap->s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(ap->s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(ap->s, ZMQ_CURVE_SERVERKEY, tk.box_pk, 32);
	zmq_setsockopt(ap->s, ZMQ_CURVE_PUBLICKEY, identity_public(ap->me)->box_pk, 32);
	zmq_setsockopt(ap->s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(ap->me), 32);
	cr_assert(eq(int, zmq_connect(ap->s, agentproc_endpoint(to)), 0));
}

static void as_peer_close(struct as_peer *ap)
{
	zmq_close(ap->s);
	zmq_ctx_term(ap->ctx);
	identity_destroy(&ap->me);
}

static void as_peer_send(struct as_peer *ap, const struct wire_frame *f)
{
	uint8_t *fb = NULL;
	size_t fl = 0;
	cr_assert(eq(int, wire_frame_pack(f, &fb, &fl), 0));
	cr_assert(eq(int, zmq_send(ap->s, fb, fl, 0), (int)fl));
	free(fb);
}

/* Offers a checkpoint body signed with ap's key; true when a countersignature
 * of exactly that body came back within 3 s. */
static bool offer_checkpoint(struct as_peer *ap, const uint8_t *body, size_t len)
{
	uint8_t sig[AUDIT_SIG_LEN];
	cr_assert(eq(int, audit_checkpoint_sign(ap->me, body, len, sig), 0));
	struct wire_frame f = { .kind = WIRE_FRAME_AUDIT_CHECKPOINT, .bytes = body, .len = len, .sig = sig };
	as_peer_send(ap, &f);
	for (;;) {
		uint8_t buf[65536];
		int n = zmq_recv(ap->s, buf, sizeof(buf), 0);
		if (n <= 0)
			return false;
		struct wire_frame in;
		if (wire_frame_unpack(buf, (size_t)n, sizeof(buf), &in) == 0 && in.kind == WIRE_FRAME_AUDIT_COUNTERSIGN &&
		    in.len == len && memcmp(in.bytes, body, len) == 0)
			return true;
	}
}

Test(audit_neighbour, neighbour_refuses_a_second_different_checkpoint_for_a_countersigned_seq)
{
	static const char *const ids[] = { A, R };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, R, "alert", NULL } };
	char sent[10][33];
	cluster_configure(c, l, 1, AUDIT_FAST);
	cluster_start(c, A);
	cluster_start(c, R);
	cr_assert(eq(int, cluster_wait_up(c, A, R, 10000), 1));
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 5, sent), 202));
	wait_countersigned(c, A, head_after_receipts(c, A, 5));
	cr_assert(eq(int, cluster_stop(c, A), 0));

	/* the checkpoint R kept for A at the highest seq */
	struct agentproc *r = cluster_ap(c, R);
	json_t *recs = records(r, "?kept=" A "&checkpoints=yes", true);
	unsigned long long seq = max_seq(recs, "kept", A);
	cr_assert(lt(u64, 0, seq), "R keeps no checkpoint of A");
	uint8_t first[AUDIT_CHECKPOINT_MAX], other[AUDIT_CHECKPOINT_MAX];
	size_t first_len = 0;
	size_t i;
	json_t *m;
	json_array_foreach(recs, i, m) {
		const char *rec = json_string_value(json_object_get(m, "record"));
		if (rec && strcmp(rec, "kept") == 0 && (unsigned long long)json_integer_value(json_object_get(m, "seq")) == seq) {
			const char *hex = json_string_value(json_object_get(m, "body"));
			first_len = strlen(hex) / 2;
			cr_assert(eq(int, encode_unhex(first, first_len, hex, strlen(hex)), 0));
		}
	}
	json_decref(recs);
	cr_assert(lt(sz, 0, first_len));

	/* A (its key) shows R another chain head for the same seq */
	struct as_peer ap;
	as_peer_open(&ap, cluster_ap(c, A), r);
	uint8_t head[AUDIT_HASH_LEN];
	memset(head, 0x5a, sizeof(head));
	int n = audit_checkpoint_body(A, seq, head, 1767000000000ull, other);
	cr_assert(lt(int, 0, n));
	cr_assert(eq(int, offer_checkpoint(&ap, other, (size_t)n), 0), "R countersigned a second checkpoint at %llu", seq);
	/* the first one, offered again, is still countersigned: only the other was refused */
	cr_assert(eq(int, offer_checkpoint(&ap, first, first_len), 1), "R no longer countersigns the first checkpoint");
	as_peer_close(&ap);

	/* the first stays kept, the refusal is in R's trail naming A, and counted */
	recs = records(r, "?kept=" A "&checkpoints=yes", true);
	size_t kept_at_seq = 0, refusals = 0;
	json_array_foreach(recs, i, m) {
		const char *rec = json_string_value(json_object_get(m, "record"));
		const char *kind = json_string_value(json_object_get(m, "kind"));
		const char *reason = json_string_value(json_object_get(m, "reason"));
		const char *peer = json_string_value(json_object_get(m, "peer"));
		if (rec && strcmp(rec, "kept") == 0 && (unsigned long long)json_integer_value(json_object_get(m, "seq")) == seq) {
			char hex[2 * AUDIT_CHECKPOINT_MAX + 1];
			encode_hex(hex, sizeof(hex), first, first_len);
			cr_assert(eq(str, (char *)json_string_value(json_object_get(m, "body")), hex), "the kept checkpoint changed");
			kept_at_seq++;
		}
		if (kind && strcmp(kind, "refused") == 0 && reason && strcmp(reason, "equivocation") == 0 && peer &&
		    strcmp(peer, A) == 0)
			refusals++;
	}
	json_decref(recs);
	cr_assert(eq(sz, kept_at_seq, 1));
	cr_assert(eq(sz, refusals, 1), "R's trail has %zu equivocation refusals naming A", refusals);
	json_t *peers = NULL;
	cr_assert(eq(int, cluster_http(c, R, "GET", "/v1/peers", NULL, &peers), 200));
	json_int_t counted = -1;
	json_array_foreach(json_object_get(peers, "peers"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "id")), A) == 0)
			counted = json_integer_value(json_object_get(json_object_get(m, "counters"), "audit_equivocations"));
	json_decref(peers);
	cr_assert(eq(int, (int)counted, 1));
	cr_assert(eq(dbl, agentproc_metric(r, "limes_audit_equivocations_total{peer=\"" A "\"}"), 1.0));
	char log[800], cmd[900];
	snprintf(log, sizeof(log), "%s/agent.log", agentproc_dir(r));
	snprintf(cmd, sizeof(cmd), "grep -q 'peer=%s event=audit_equivocation' '%s'", A, log);
	cr_assert(eq(int, system(cmd), 0), "no log line naming the peer in %s", log);
	cluster_destroy(&c);
}

Test(audit_neighbour, a_flood_of_garbage_leaves_a_bounded_number_of_refusal_entries)
{
	static const char *const ids[] = { A, R };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, R, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, R);
	struct agentproc *r = cluster_ap(c, R);

	/* 3,000 envelopes that do not decode, sent with A's key */
	enum { FLOOD = 3000 };
	struct as_peer ap;
	as_peer_open(&ap, cluster_ap(c, A), r);
	for (int k = 0; k < FLOOD; k++) {
		uint8_t junk[64];
		memset(junk, 0xff, sizeof(junk));
		memcpy(junk, &k, sizeof(k));
		struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = junk, .len = sizeof(junk) };
		as_peer_send(&ap, &f);
	}
	/* every one is refused (counted) before we look */
	for (int t = 0; t < 200 && agentproc_metric(r, "limes_messages_refused_total{peer=\"" A "\"}") < FLOOD; t++)
		cluster_sleep_ms(100);
	cr_assert(eq(dbl, agentproc_metric(r, "limes_messages_refused_total{peer=\"" A "\"}"), (double)FLOOD));
	as_peer_close(&ap);
	/* a clean stop writes the count of the ones not recorded one by one */
	cr_assert(eq(int, cluster_stop(c, R), 0));

	json_t *recs = records(r, "", false);
	size_t single = 0, summaries = 0, i;
	unsigned long long summarised = 0;
	json_t *m;
	json_array_foreach(recs, i, m) {
		const char *kind = json_string_value(json_object_get(m, "kind"));
		const char *peer = json_string_value(json_object_get(m, "peer"));
		if (!kind || strcmp(kind, "refused") != 0 || !peer || strcmp(peer, A) != 0)
			continue;
		json_t *count = json_object_get(m, "count");
		if (count) {
			summaries++;
			summarised += (unsigned long long)json_integer_value(count);
		} else {
			single++;
		}
	}
	json_decref(recs);
	cr_assert(le(sz, single + summaries, 12), "%zu refusal entries for one peer in a minute", single + summaries);
	cr_assert(eq(u64, single + summarised, (unsigned long long)FLOOD), "%zu single + %llu summarised != %d", single,
		  summarised, FLOOD);
	cr_assert(ge(sz, summaries, 1));
	/* and the trail verifies */
	char *out = NULL;
	cr_assert(eq(int, agentproc_cli(&out, NULL, "audit", "verify", "-c", agentproc_config(r), NULL), 0), "%s", out);
	free(out);
	cluster_destroy(&c);
}
