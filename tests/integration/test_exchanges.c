/*
 * The advance passenger information and readmission exchanges between real
 * agents, and the rules for growing the schema: a manifest and its update,
 * a readmission case (request, reply asking for more, supplementary
 * request, acceptance) delivered once each and shown linked by `limes msg`;
 * a neighbour that said it does not accept a type makes its submission fail
 * at once with 400 peer_lacks_type; a relay carries types it does not know;
 * bodies purged per type after their retention; a body from a newer minor
 * schema delivered with its unknown field kept, a newer major refused with
 * its reason. Envelopes "from a newer agent" are built here with the
 * sender's own keys and sent over a real CURVE connection.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "crypto/receipt.h"
#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "store/store.h"
#include "support/cluster.h"

TestSuite(exchanges, .timeout = 300);

#define HU "HU-POLICE-ROSZKE"
#define RS "RS-BORDER-HORGOS"
#define RO "RO-POLITIA-NADLAC"

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static json_t *example(const char *name)
{
	char path[512];
	json_error_t jerr;
	snprintf(path, sizeof(path), "%s/docs/examples/%s", LIMES_SOURCE_DIR, name);
	json_t *j = json_load_file(path, 0, &jerr);
	cr_assert_not_null(j, "%s: %s", path, jerr.text);
	return j;
}

/* POSTs one message (body stolen) from `from` to `to`; returns the status,
 * the id in id (when 202) and the answer in *answer (optional). */
static int submit(struct cluster *c, const char *from, const char *to, const char *type, json_t *body,
		  const char *ref, char id[33], json_t **answer)
{
	json_t *req = json_pack("{s:[s], s:s, s:o}", "to", to, "type", type, "body", body);
	if (ref)
		json_object_set_new(req, "ref", json_string(ref));
	char *text = json_dumps(req, JSON_COMPACT);
	json_t *out = NULL;
	int status = cluster_http(c, from, "POST", "/v1/messages", text, &out);
	if (status == 202 && id)
		snprintf(id, 33, "%s", jstr(out, "id"));
	if (answer)
		*answer = out;
	else
		json_decref(out);
	free(text);
	json_decref(req);
	return status;
}

static void wait_state(struct cluster *c, const char *from, const char *id, const char *to, const char *want)
{
	char state[32] = "";
	for (int t = 0; t < 300 && strcmp(state, want) != 0; t++) {
		cluster_state(c, from, id, to, state, sizeof(state), NULL);
		if (strcmp(state, want) != 0)
			cluster_sleep_ms(100);
	}
	cr_assert(eq(str, state, (char *)want), "message %s to %s", id, to);
}

/* The inbox entry with that id (borrowed from inbox), failing unless exactly one. */
static json_t *only_one(json_t *inbox, const char *id)
{
	json_t *found = NULL, *m;
	size_t i, n = 0;
	json_array_foreach(inbox, i, m) {
		if (strcmp(jstr(m, "id"), id) == 0) {
			found = m;
			n++;
		}
	}
	cr_assert(eq(sz, n, 1), "message %s is in the inbox %zu times", id, n);
	return found;
}

/* `limes msg -c CONFIG ID` at agent `at`: its JSON (the caller's). */
static json_t *limes_msg(struct cluster *c, const char *at, const char *id)
{
	char *out = NULL;
	int rc = agentproc_cli(&out, NULL, "msg", "-c", agentproc_config(cluster_ap(c, at)), id, NULL);
	cr_assert(eq(int, rc, 0), "limes msg %s: %s", id, out ? out : "");
	json_error_t jerr;
	json_t *doc = json_loads(out, 0, &jerr);
	cr_assert_not_null(doc, "%s: %s", jerr.text, out);
	free(out);
	return doc;
}

/* The ids of a `case` array, in order, joined by spaces. */
static void case_ids(json_t *doc, char *buf, size_t len, char *directions, size_t dlen)
{
	json_t *kase = json_object_get(doc, "case"), *m;
	size_t i;
	buf[0] = directions[0] = '\0';
	bool is_array = json_is_array(kase);
	cr_assert(is_array, "no case in the answer");
	json_array_foreach(kase, i, m) {
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? " " : "", jstr(m, "id"));
		snprintf(directions + strlen(directions), dlen - strlen(directions), "%s%s", i ? " " : "",
			 jstr(m, "direction"));
	}
}

Test(exchanges, a_manifest_and_its_update_are_delivered_once_and_shown_linked)
{
	static const char *const ids[] = { RS, HU };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { RS, HU, "passenger_manifest", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, RS);
	cluster_start(c, HU);

	char first[33], update[33];
	cr_assert(eq(int, submit(c, RS, HU, "passenger_manifest", example("passenger_manifest.json"), NULL, first, NULL),
		     202));
	/* the coach took one more passenger at Subotica: the whole list again, by reference */
	json_t *body = example("passenger_manifest.json");
	json_t *travellers = json_object_get(body, "travellers");
	json_t *extra = json_deep_copy(json_array_get(travellers, 0));
	json_object_set_new(extra, "given_names", json_pack("[s]", "Vesna"));
	json_object_set_new(extra, "sex", json_string("F"));
	json_object_set_new(json_object_get(extra, "document"), "number", json_string("012345679"));
	json_object_set_new(extra, "seat", json_string("12A"));
	json_object_set_new(extra, "place_of_embarkation", json_string("RSSUB"));
	json_array_append_new(travellers, extra);
	json_object_set_new(body, "action", json_string("update"));
	json_object_set_new(body, "total_count", json_integer((json_int_t)json_array_size(travellers)));
	cr_assert(eq(int, submit(c, RS, HU, "passenger_manifest", body, first, update, NULL), 202));
	wait_state(c, RS, first, HU, "delivered");
	wait_state(c, RS, update, HU, "delivered");

	json_t *inbox = cluster_inbox(c, HU);
	cr_assert(eq(sz, json_array_size(inbox), 2));
	json_t *m1 = only_one(inbox, first), *m2 = only_one(inbox, update);
	cr_assert(eq(str, (char *)jstr(json_object_get(m1, "body"), "action"), "original"));
	cr_assert(eq(str, (char *)jstr(json_object_get(m2, "body"), "action"), "update"));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(m2, "body"), "total_count")), 45));
	cr_assert(eq(str, (char *)jstr(m2, "ref"), first));
	cr_assert(eq(str, (char *)jstr(json_object_get(m1, "body"), "manifest_reference"),
		     (char *)jstr(json_object_get(m2, "body"), "manifest_reference")));
	json_decref(inbox);

	/* linked on both sides: `limes msg` on either shows both, oldest first */
	char got[200], dirs[64], want[80];
	snprintf(want, sizeof(want), "%s %s", first, update);
	json_t *doc = limes_msg(c, HU, first);
	cr_assert(eq(str, (char *)jstr(doc, "direction"), "received"));
	cr_assert(eq(str, (char *)jstr(doc, "from"), RS));
	case_ids(doc, got, sizeof(got), dirs, sizeof(dirs));
	cr_assert(eq(str, got, want));
	cr_assert(eq(str, dirs, "received received"));
	json_decref(doc);
	doc = limes_msg(c, RS, update);
	case_ids(doc, got, sizeof(got), dirs, sizeof(dirs));
	cr_assert(eq(str, got, want));
	cr_assert(eq(str, dirs, "sent sent"));
	cr_assert(eq(str, (char *)jstr(doc, "ref"), first));
	json_decref(doc);
	cluster_destroy(&c);
}

Test(exchanges, a_readmission_case_is_exchanged_once_each_and_shown_linked)
{
	static const char *const ids[] = { HU, RS };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { HU, RS, "readmission_request", NULL }, { RS, HU, "readmission_reply", NULL } };
	cluster_configure(c, l, 2, NULL);
	cluster_start(c, HU);
	cluster_start(c, RS);

	char request[33], more[33], supplement[33], accepted[33];
	cr_assert(eq(int, submit(c, HU, RS, "readmission_request", example("readmission_request.json"), NULL, request,
				 NULL), 202));
	wait_state(c, HU, request, RS, "delivered");
	cr_assert(eq(int, submit(c, RS, HU, "readmission_reply", example("readmission_reply.json"), request, more,
				 NULL), 202));
	wait_state(c, RS, more, HU, "delivered");
	cr_assert(eq(int, submit(c, HU, RS, "readmission_request", example("readmission_request_supplementary.json"),
				 more, supplement, NULL), 202));
	wait_state(c, HU, supplement, RS, "delivered");
	cr_assert(eq(int, submit(c, RS, HU, "readmission_reply", example("readmission_reply_accepted.json"), supplement,
				 accepted, NULL), 202));
	wait_state(c, RS, accepted, HU, "delivered");

	/* each delivered once, each answer carrying the id it answers */
	json_t *at_rs = cluster_inbox(c, RS), *at_hu = cluster_inbox(c, HU);
	cr_assert(eq(sz, json_array_size(at_rs), 2));
	cr_assert(eq(sz, json_array_size(at_hu), 2));
	bool no_ref = json_is_null(json_object_get(only_one(at_rs, request), "ref"));
	cr_assert(no_ref, "the first request answers nothing");
	cr_assert(eq(str, (char *)jstr(only_one(at_hu, more), "ref"), request));
	cr_assert(eq(str, (char *)jstr(only_one(at_rs, supplement), "ref"), more));
	cr_assert(eq(str, (char *)jstr(only_one(at_hu, accepted), "ref"), supplement));
	cr_assert(eq(str, (char *)jstr(json_object_get(only_one(at_hu, more), "body"), "decision"),
		     "more_information_requested"));
	cr_assert(eq(str, (char *)jstr(json_object_get(only_one(at_hu, accepted), "body"), "decision"), "accepted"));
	json_decref(at_rs);
	json_decref(at_hu);

	/* the whole case from any of its messages, on either side */
	char want[200], got[200], dirs[80];
	snprintf(want, sizeof(want), "%s %s %s %s", request, more, supplement, accepted);
	json_t *doc = limes_msg(c, HU, request);
	case_ids(doc, got, sizeof(got), dirs, sizeof(dirs));
	cr_assert(eq(str, got, want));
	cr_assert(eq(str, dirs, "sent received sent received"));
	json_decref(doc);
	doc = limes_msg(c, RS, accepted);
	case_ids(doc, got, sizeof(got), dirs, sizeof(dirs));
	cr_assert(eq(str, got, want));
	cr_assert(eq(str, dirs, "received sent received sent"));
	json_decref(doc);
	doc = limes_msg(c, RS, more);
	case_ids(doc, got, sizeof(got), dirs, sizeof(dirs));
	cr_assert(eq(str, got, want));
	json_decref(doc);
	cluster_destroy(&c);
}

Test(exchanges, a_type_the_neighbour_does_not_accept_is_refused_at_submission_naming_it)
{
	static const char *const ids[] = { HU, RS };
	struct cluster *c = cluster_new(2, ids);
	struct agentproc *hu = cluster_ap(c, HU), *rs = cluster_ap(c, RS);
	/* HU's policy lets it send readmission requests to RS, but RS takes
	 * only alerts and manifests from HU */
	agentproc_add_agent_peer(hu, rs, "alert, readmission_request", "");
	agentproc_add_agent_peer(rs, hu, "", "alert, passenger_manifest");
	cr_assert(eq(int, agentproc_write_config(hu), 0));
	cr_assert(eq(int, agentproc_write_config(rs), 0));
	cluster_start(c, RS);
	cluster_start(c, HU);
	cr_assert(agentproc_wait_log(hu, "event=peer_accepts", 10000), "HU never heard what RS accepts");

	json_t *answer = NULL;
	char id[33];
	cr_assert(eq(int, submit(c, HU, RS, "readmission_request", example("readmission_request.json"), NULL, id,
				 &answer), 400));
	json_t *e = json_object_get(answer, "error");
	cr_assert(eq(str, (char *)jstr(e, "code"), "peer_lacks_type"));
	cr_assert(eq(str, (char *)jstr(e, "field"), "to[0]"));
	cr_assert_not_null(strstr(jstr(e, "message"), RS), "%s", jstr(e, "message"));
	cr_assert_not_null(strstr(jstr(e, "message"), "readmission_request"), "%s", jstr(e, "message"));
	json_decref(answer);
	cr_assert(eq(long, cluster_queued(c, HU, RS), 0), "the refused message was queued");
	/* and operators see what RS said it takes */
	json_t *peers = NULL;
	cr_assert(eq(int, cluster_http(c, HU, "GET", "/v1/peers", NULL, &peers), 200));
	json_t *acc = json_object_get(json_array_get(json_object_get(peers, "peers"), 0), "accepts");
	char *acc_text = json_dumps(acc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	cr_assert(eq(str, acc_text, "{\"alert\":1,\"passenger_manifest\":1}"));
	free(acc_text);
	json_decref(peers);

	/* what it does accept still goes */
	cr_assert(eq(int, submit(c, HU, RS, "alert", example("alert.json"), NULL, id, NULL), 202));
	wait_state(c, HU, id, RS, "delivered");
	json_t *inbox = cluster_inbox(c, RS);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	json_decref(inbox);

	cluster_destroy(&c);
}

/* ------------------------------------------------------------ envelopes from elsewhere */

struct crafted {
	struct identity *me;         /* the author's identity, from its key folder */
	struct peer_key final_key;   /* sealed to */
	struct peer_key hop_key;     /* connected to */
	const char *final_id;
};

static const struct peer_key *lookup_final(void *arg, const char *issuer, const uint8_t key_id[8], uint64_t t,
					   int *err)
{
	const struct crafted *k = arg;
	(void)issuer;
	(void)t;
	if (memcmp(k->final_key.key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return &k->final_key;
}

/* Builds an envelope as agent `as` would (its own keys) of any type and
 * schema major, sends it to `hop` over a fresh CURVE connection and returns
 * the end-to-end receipt entry for it (fails the test when none comes). */
static void send_crafted(struct cluster *c, const char *as, const char *final, const char *hop, int type,
			 uint32_t schema_major, const uint8_t *body, size_t body_len, uint8_t id[16],
			 struct wire_receipt_entry *entry)
{
	char path[700], why[256];
	int err = 0;
	struct crafted k = { .final_id = final };

	snprintf(path, sizeof(path), "%s/keys", agentproc_dir(cluster_ap(c, as)));
	k.me = identity_load(path, &err, why, sizeof(why));
	cr_assert_not_null(k.me, "%s", why);
	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(cluster_ap(c, final)), &k.final_key, why, sizeof(why)),
		     0));
	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(cluster_ap(c, hop)), &k.hop_key, why, sizeof(why)), 0));
	struct envelope_peer *to = envelope_peer_new(k.me, &k.final_key, final);
	cr_assert_not_null(to);

	struct wire_header h;
	memset(&h, 0, sizeof(h));
	random_fill(h.message_id, 16);
	memcpy(id, h.message_id, 16);
	snprintf(h.sender, sizeof(h.sender), "%s", as);
	snprintf(h.recipient, sizeof(h.recipient), "%s", final);
	h.type = type;
	h.created_ms = (uint64_t)time(NULL) * 1000;
	h.expires_ms = h.created_ms + 3600 * 1000;
	h.has_seq = true;
	h.seq = 1;
	h.schema_major = schema_major;
	uint8_t *env = NULL, *fb = NULL;
	size_t env_len = 0, fl = 0;
	cr_assert(eq(int, envelope_build(k.me, to, &h, body, body_len, &env, &env_len), 0));

	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0, timeout = 1000;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, k.hop_key.box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, identity_public(k.me)->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(k.me), 32);
	cr_assert(eq(int, zmq_connect(s, agentproc_endpoint(cluster_ap(c, hop))), 0));
	struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = env, .len = env_len };
	cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
	cr_assert(eq(int, zmq_send(s, fb, fl, 0), (int)fl));

	bool answered = false;
	for (int tries = 0; tries < 30 && !answered; tries++) {
		uint8_t buf[65536];
		int n = zmq_recv(s, buf, sizeof(buf), 0);
		if (n <= 0)
			continue;
		struct wire_frame in;
		if (wire_frame_unpack(buf, (size_t)n, sizeof(buf), &in) < 0 || in.kind != WIRE_FRAME_RECEIPT)
			continue;
		struct wire_receipt_body rb;
		cr_assert(eq(int, receipt_open(in.bytes, in.len, sizeof(buf), lookup_final, &k, &rb), 0),
			  "a receipt not signed by %s", final);
		cr_assert(eq(str, rb.issuer, (char *)final));
		for (size_t i = 0; i < rb.n_entries; i++)
			if (memcmp(rb.entries[i].message_id, id, 16) == 0) {
				*entry = rb.entries[i];
				answered = true;
			}
		wire_receipt_body_clear(&rb);
	}
	cr_assert(answered, "no receipt from %s through %s", final, hop);
	zmq_close(s);
	zmq_ctx_term(ctx);
	free(fb);
	free(env);
	envelope_peer_destroy(&to);
	identity_destroy(&k.me);
}

static uint8_t *packed_example(const char *name, int type, size_t *len)
{
	json_t *body = example(name);
	struct pbjson_error perr;
	uint8_t *buf = NULL;
	cr_assert(eq(int, schema_body_from_json(type, body, "body", &buf, len, &perr), 0), "%s", perr.message);
	json_decref(body);
	return buf;
}

Test(exchanges, a_relay_carries_new_types_and_types_it_does_not_know_sealed)
{
	static const char *const ids[] = { HU, RS, RO };
	struct cluster *c = cluster_new(3, ids);
	struct agentproc *hu = cluster_ap(c, HU), *rs = cluster_ap(c, RS), *ro = cluster_ap(c, RO);
	/* HU relays between RS and RO. Its lists name the types it carries by
	 * number, as an agent whose build predates them must: it never opens
	 * the bodies it relays. 9 is a type no build knows yet. */
	agentproc_add_agent_peer(hu, rs, "5, 9", "5, 9");
	agentproc_add_agent_peer(hu, ro, "5, 9", "5, 9");
	agentproc_add_agent_peer(rs, hu, "", "");
	agentproc_add_relayed_peer(rs, RO, HU, agentproc_pubkey(ro), "readmission_request", "");
	agentproc_add_agent_peer(ro, hu, "", "");
	agentproc_add_relayed_peer(ro, RS, HU, agentproc_pubkey(rs), "", "readmission_request, 9");
	cr_assert(eq(int, agentproc_write_config(hu), 0));
	cr_assert(eq(int, agentproc_write_config(rs), 0));
	cr_assert(eq(int, agentproc_write_config(ro), 0));
	cluster_start(c, HU);
	cluster_start(c, RO);
	cluster_start(c, RS);

	char id[33];
	cr_assert(eq(int, submit(c, RS, RO, "readmission_request", example("readmission_request.json"), NULL, id, NULL),
		     202));
	wait_state(c, RS, id, RO, "delivered");
	json_t *inbox = cluster_inbox(c, RO);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	cr_assert(eq(str, (char *)jstr(json_object_get(only_one(inbox, id), "body"), "case_reference"),
		     "HU-ORFK-RSZ-2026-004417"));
	json_decref(inbox);
	inbox = cluster_inbox(c, HU);
	cr_assert(eq(sz, json_array_size(inbox), 0), "the relay kept a copy");
	json_decref(inbox);

	/* type 9: the relay forwards it sealed; only the final recipient can
	 * judge it, and its signed answer comes back through the relay */
	cluster_stop(c, RS);
	size_t len = 0;
	uint8_t *body = packed_example("alert.json", 1, &len), mid[16];
	struct wire_receipt_entry e;
	send_crafted(c, RS, RO, HU, 9, 1, body, len, mid, &e);
	cr_assert(eq(int, e.status, WIRE_RECEIPT_REJECTED));
	cr_assert(eq(int, e.reason, 11), "reason %d: %s", e.reason, e.detail); /* schema: RO cannot read type 9 */
	cr_assert(ge(dbl, agentproc_metric(hu, "limes_relayed_total"), 2.0), "the relay did not carry both");
	free(body);
	cluster_destroy(&c);
}

Test(exchanges, a_manifest_body_is_purged_after_its_retention_and_an_alert_body_is_not)
{
	static const char *const ids[] = { RS, HU };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { RS, HU, "alert, passenger_manifest", NULL } };
	/* [link] extras, then a [retention] section of its own */
	cluster_configure(c, l, 1, "\n[retention]\npassenger_manifest = 3s\n");
	cluster_start(c, RS);
	cluster_start(c, HU);

	char manifest[33], alert[33];
	cr_assert(eq(int, submit(c, RS, HU, "passenger_manifest", example("passenger_manifest.json"), NULL, manifest,
				 NULL), 202));
	cr_assert(eq(int, submit(c, RS, HU, "alert", example("alert.json"), NULL, alert, NULL), 202));
	wait_state(c, RS, manifest, HU, "delivered");
	wait_state(c, RS, alert, HU, "delivered");
	json_t *doc = limes_msg(c, HU, manifest);
	cr_assert(eq(str, (char *)jstr(doc, "body"), "kept"), "purged before its time");
	json_decref(doc);

	/* both sides purge the manifest's body within its retention and a tick */
	bool purged = false;
	for (int t = 0; t < 100 && !purged; t++) {
		json_t *a = limes_msg(c, HU, manifest), *b = limes_msg(c, RS, manifest);
		purged = strcmp(jstr(a, "body"), "purged") == 0 && strcmp(jstr(b, "body"), "purged") == 0;
		json_decref(a);
		json_decref(b);
		if (!purged)
			cluster_sleep_ms(100);
	}
	cr_assert(purged, "the manifest's body outlived its retention");
	json_t *inbox = cluster_inbox(c, HU);
	json_t *m = only_one(inbox, manifest), *a = only_one(inbox, alert);
	bool body_gone = json_is_null(json_object_get(m, "body"));
	cr_assert(body_gone, "the purged body is still shown");
	cr_assert_not_null(strstr(jstr(m, "body_error"), "purged"));
	cr_assert(eq(str, (char *)jstr(m, "type"), "passenger_manifest"), "the record went with the body");
	bool alert_kept = json_is_object(json_object_get(a, "body"));
	cr_assert(alert_kept, "the alert's body went too");
	json_decref(inbox);
	doc = limes_msg(c, HU, alert);
	cr_assert(eq(str, (char *)jstr(doc, "body"), "kept"));
	json_decref(doc);
	doc = limes_msg(c, RS, manifest);
	cr_assert(eq(str, (char *)jstr(json_array_get(json_object_get(doc, "recipients"), 0), "state"), "delivered"),
		  "the delivery state went with the body");
	json_decref(doc);
	cr_assert(agentproc_log_contains(cluster_ap(c, HU), "event=bodies_purged type=passenger_manifest"));
	cluster_destroy(&c);
}

/* ------------------------------------------------------------ schema evolution */

struct kept {
	uint8_t id[16];
	uint8_t *envelope;
	size_t len;
	char sender[70];
};

static int find_inbox(void *arg, const struct store_inbox_row *row)
{
	struct kept *k = arg;
	if (memcmp(row->entry.id, k->id, 16) != 0)
		return 0;
	k->envelope = malloc(row->entry.envelope_len);
	memcpy(k->envelope, row->entry.envelope, row->entry.envelope_len);
	k->len = row->entry.envelope_len;
	snprintf(k->sender, sizeof(k->sender), "%s", row->entry.sender);
	return 1;
}

Test(exchanges, schema_evolution_unknown_field_of_a_newer_minor_is_delivered_and_kept)
{
	static const char *const ids[] = { RS, HU };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { RS, HU, "readmission_reply", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, HU);

	/* a reply from a newer minor: field 100 (a string) this build does not know */
	size_t len = 0;
	uint8_t *known = packed_example("readmission_reply.json", 6, &len);
	static const uint8_t extra[] = { 0xa2, 0x06, 0x05, 'e', 'x', 't', 'r', 'a' };
	uint8_t *body = malloc(len + sizeof(extra)), id[16];
	memcpy(body, known, len);
	memcpy(body + len, extra, sizeof(extra));
	struct wire_receipt_entry e;
	send_crafted(c, RS, HU, HU, 6, 1, body, len + sizeof(extra), id, &e);
	cr_assert(eq(int, e.status, WIRE_RECEIPT_ACCEPTED), "reason %d: %s", e.reason, e.detail);

	/* shown without the field it does not know... */
	char hex[33];
	encode_hex(hex, sizeof(hex), id, 16);
	json_t *inbox = cluster_inbox(c, HU);
	json_t *m = only_one(inbox, hex);
	json_t *want = example("readmission_reply.json");
	cr_assert(json_equal(json_object_get(m, "body"), want), "the known fields changed");
	json_decref(want);
	json_decref(inbox);

	/* ...and stored with it: the exact bytes, which still carry field 100 */
	cr_assert(eq(int, cluster_stop(c, HU), 0));
	char path[700], why[256];
	int err = 0;
	snprintf(path, sizeof(path), "%s/data", agentproc_dir(cluster_ap(c, HU)));
	struct store *st = store_open(path, &err);
	cr_assert_not_null(st);
	struct kept k = { 0 };
	memcpy(k.id, id, 16);
	cr_assert(ge(int, store_inbox_list(st, 0, 100, find_inbox, &k), 1));
	store_destroy(&st);
	cr_assert_not_null(k.envelope);
	cr_assert(eq(str, k.sender, RS));
	snprintf(path, sizeof(path), "%s/keys", agentproc_dir(cluster_ap(c, HU)));
	struct identity *me = identity_load(path, &err, why, sizeof(why));
	cr_assert_not_null(me, "%s", why);
	struct peer_key rs_key;
	cr_assert(eq(int, identity_line_parse(agentproc_pubkey(cluster_ap(c, RS)), &rs_key, why, sizeof(why)), 0));
	struct envelope_peer *from = envelope_peer_new(me, &rs_key, RS);
	struct envelope_opened o;
	cr_assert(eq(int, envelope_unseal(me, from, k.envelope, k.len, 1u << 22, &o), 0));
	cr_assert(eq(sz, o.body_len, len + sizeof(extra)));
	Limes__ReadmissionReply *r = limes__readmission_reply__unpack(NULL, o.body_len, o.body);
	cr_assert_not_null(r);
	cr_assert(eq(u32, r->base.n_unknown_fields, 1));
	cr_assert(eq(u32, r->base.unknown_fields[0].tag, 100));
	limes__readmission_reply__free_unpacked(r, NULL);
	envelope_opened_clear(&o);
	envelope_peer_destroy(&from);
	identity_destroy(&me);
	free(k.envelope);
	free(body);
	free(known);
	cluster_destroy(&c);
}

Test(exchanges, schema_evolution_newer_major_is_refused_with_its_reason)
{
	static const char *const ids[] = { RS, HU };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { RS, HU, "passenger_manifest", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, HU);

	size_t len = 0;
	uint8_t *body = packed_example("passenger_manifest.json", 4, &len), id[16];
	struct wire_receipt_entry e;
	send_crafted(c, RS, HU, HU, 4, 2, body, len, id, &e);
	cr_assert(eq(int, e.status, WIRE_RECEIPT_REJECTED));
	cr_assert(eq(int, e.reason, 12), "reason %d", e.reason); /* unknown_schema_major */
	cr_assert(eq(str, e.detail, "unknown schema major version"));
	json_t *inbox = cluster_inbox(c, HU);
	cr_assert(eq(sz, json_array_size(inbox), 0));
	json_decref(inbox);

	/* the same body under the major it reads is taken */
	send_crafted(c, RS, HU, HU, 4, 1, body, len, id, &e);
	cr_assert(eq(int, e.status, WIRE_RECEIPT_ACCEPTED), "reason %d: %s", e.reason, e.detail);
	free(body);
	cluster_destroy(&c);
}
