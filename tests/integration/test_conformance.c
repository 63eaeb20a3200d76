/*
 * The conformance kit (docs/conformance/): machine-readable vectors for the
 * rules of docs/protocol.md, and their runner against this agent's own code.
 *
 * The vectors are generated here from fixed seeds, ids and nonces (so every
 * byte is reproducible) and must equal docs/conformance/vectors.json; run
 * with LIMES_WRITE_CONFORMANCE=1 to rewrite the file. Then every vector is
 * run: "open" vectors through envelope_open with the receiver's parameters,
 * "link" vectors as frames sent, in file order, to a real limes-agent
 * configured as the file's receiver, over CURVE as the agency the file names.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/keyupdate.h"
#include "crypto/random.h"
#include "crypto/receipt.h"
#include "crypto/resend.h"
#include "proto/err.h"
#include "proto/reason.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "support/agentproc.h"

TestSuite(conformance, .timeout = 240);

#define FILE_PATH LIMES_SOURCE_DIR "/docs/conformance/vectors.json"
#define CREATED 1764182607120ull               /* 2025-11-26T18:43:27.120Z */
#define DAY 86400000ull
#define LONG_EXPIRY (CREATED + 7000 * DAY)     /* valid whenever the kit runs (max_ttl 7400d) */
#define FUTURE 4102444800000ull                /* 2100-01-01 */
#define MAX_FRAME 131072

enum { KA, KB, KC, KX, NK };
static const char *const ID[NK] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE", "RO-POLITIA-NADLAC", "XX-UNCONFIGURED" };
static const uint8_t SEED0[NK] = { 0x00, 0x40, 0x80, 0xc0 };
static const uint8_t BOX0[NK] = { 0x20, 0x60, 0xa0, 0xe0 };

static struct identity *key[NK];
static uint8_t *alert;
static size_t alert_len;

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static json_t *hexj(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 1);
	encode_hex(s, 2 * n + 1, p, n);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static uint8_t *unhexj(json_t *j, size_t *n)
{
	const char *s = json_string_value(j);
	cr_assert(s != NULL);
	*n = strlen(s) / 2;
	uint8_t *p = malloc(*n ? *n : 1);
	cr_assert(eq(int, encode_unhex(p, *n, s, strlen(s)), 0));
	return p;
}

static void keys_init(void)
{
	uint8_t seed[32], box[32];
	cr_assert(eq(int, random_init(), 0));
	for (int k = 0; k < NK; k++) {
		fill(seed, 32, SEED0[k]);
		fill(box, 32, BOX0[k]);
		key[k] = identity_from_seeds(seed, box);
		cr_assert(key[k] != NULL);
	}
	json_error_t jerr;
	struct pbjson_error perr;
	json_t *j = json_loads("{\"action\":\"create\",\"alert_id\":\"RS-2025-000117\",\"category\":\"stolen_vehicle\","
			       "\"requested_action\":\"locate\",\"handling_code\":\"H0\",\"legal_basis\":\"Prum\","
			       "\"issuing_authority\":\"RS-MUP\",\"contact_desk\":\"PCCC +381 11 000\"}",
			       0, &jerr);
	cr_assert(eq(int, schema_body_from_json(WIRE_TYPE_ALERT, j, "body", &alert, &alert_len, &perr), 0));
	json_decref(j);
}

/* What an envelope vector is made of; zero fields take the defaults. */
struct spec {
	int signer, to_key;        /* whose keys sign and seal (to_key: the key sealed to) */
	int sender, recipient;     /* header agency ids (index into ID; -1 = the signer / B) */
	const char *recipient_id;  /* overrides recipient */
	uint8_t id, nonce;
	int type;
	uint32_t version, schema_major;
	uint64_t created, expires;
	const uint8_t *body;
	size_t body_len;
};

/* length of the envelope build() made last (both() reads it: argument order is unspecified) */
static size_t blen;

static uint8_t *build(struct spec s, size_t *len)
{
	uint8_t nonce[24];
	struct wire_header h;
	const char *rid = s.recipient_id ? s.recipient_id : ID[s.recipient];
	struct envelope_peer *to = envelope_peer_new(key[s.signer], identity_public(key[s.to_key]), rid);
	uint8_t *out = NULL;

	cr_assert(to != NULL);
	memset(&h, 0, sizeof(h));
	memset(h.message_id, s.id, 16);
	snprintf(h.sender, sizeof(h.sender), "%s", ID[s.sender]);
	snprintf(h.recipient, sizeof(h.recipient), "%s", rid);
	h.type = s.type ? s.type : WIRE_TYPE_ALERT;
	h.version_major = s.version;
	h.schema_major = s.schema_major;
	h.created_ms = s.created ? s.created : CREATED;
	h.expires_ms = s.expires ? s.expires : LONG_EXPIRY;
	h.has_seq = true;
	h.seq = s.id;
	fill(nonce, 24, s.nonce);
	cr_assert(eq(int, envelope_build_with_nonce(key[s.signer], to, &h, nonce, s.body ? s.body : alert,
						    s.body ? s.body_len : alert_len, &out, len), 0));
	envelope_peer_destroy(&to);
	blen = *len;
	return out;
}

static struct spec good(uint8_t id)
{
	return (struct spec){ .signer = KA, .to_key = KB, .sender = KA, .recipient = KB, .id = id, .nonce = id };
}

static json_t *frame_env(const uint8_t *env, size_t len)
{
	struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = env, .len = len };
	uint8_t *fb = NULL;
	size_t fl = 0;
	cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
	json_t *j = hexj(fb, fl);
	free(fb);
	return j;
}

/* A vector: name, the rule of docs/protocol.md it shows, level, input, expected outcome. */
static void add(json_t *list, const char *name, const char *rule, const char *level, json_t *input,
		json_t *expect)
{
	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", name, "rule", rule, "level",
					      level, level[0] == 'o' ? "envelope" : "frame", input, "expect", expect));
}

static json_t *receipt_expect(const char *status, int reason, const uint8_t *id_or_null, uint8_t id)
{
	uint8_t mid[16];
	if (id_or_null)
		memcpy(mid, id_or_null, 16);
	else
		memset(mid, id, 16);
	return json_pack("{s:s, s:o, s:s, s:i, s:s, s:i}", "outcome", "receipt", "message_id", hexj(mid, 16), "status",
			 status, "reason", reason, "reason_name", reason_name(reason), "receipt_version", 1);
}

/* The same for a v2 envelope: the answer is a v2 receipt. */
static json_t *receipt_expect_v2(const char *status, int reason, uint8_t id)
{
	json_t *ex = receipt_expect(status, reason, NULL, id);
	json_object_set_new(ex, "receipt_version", json_integer(2));
	return ex;
}

static json_t *open_expect(int err)
{
	return json_pack("{s:s, s:i, s:s}", "error", err ? limes_errname(err) : "ok", "reason",
			 err ? reason_of_error(err) : 0, "reason_name", err ? reason_name(reason_of_error(err)) : "none");
}

/* Both levels of one envelope: opened by B, and sent to B on A's link. */
static void both(json_t *open, json_t *link, const char *name, const char *rule, uint8_t *env, int open_err,
		 const char *status, int reason, uint8_t id)
{
	size_t len = blen;
	add(open, name, rule, "open", hexj(env, len), open_expect(open_err));
	add(link, name, rule, "link", frame_env(env, len), receipt_expect(status, reason, NULL, id));
	free(env);
}

/* Receipts and one entry's proof, checked with the issuer's (B's) key:
 * "Receipts" and "Receipts in protocol v2". */
static void receipt_vectors(json_t *list)
{
	struct wire_receipt_entry entries[3];
	struct wire_receipt_body rb = { .issued_ms = CREATED + 5, .n_entries = 3, .entries = entries };
	uint8_t *r = NULL;
	size_t len = 0;

	snprintf(rb.issuer, sizeof(rb.issuer), "%s", ID[KB]);
	snprintf(rb.addressee, sizeof(rb.addressee), "%s", ID[KA]);
	memset(entries, 0, sizeof(entries));
	for (int k = 0; k < 3; k++) {
		memset(entries[k].message_id, 0x41 + k, 16);
		memset(entries[k].envelope_hash, 0x51 + k, 32);
		entries[k].status = k == 2 ? WIRE_RECEIPT_REJECTED : WIRE_RECEIPT_ACCEPTED;
		entries[k].reason = k == 2 ? 11 : 0;
		entries[k].has_received_ms = true;
		entries[k].received_ms = CREATED + 4;
	}
#define RV(name, rule, bytes, n, err, version)                                                                  \
	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:i, s:i}}", "name", name, "rule", rule, \
					      "level", "receipt", "receipt", hexj(bytes, n), "expect", "error",   \
					      err ? limes_errname(err) : "ok", "version", version, "entries", err ? 0 : 3))
	cr_assert(eq(int, receipt_build(key[KB], &rb, &r, &len), 0));
	RV("receipt/v1_ok", "Receipts: the signature over the body verifies", r, len, 0, 1);
	r[len - 5] ^= 0x10; /* inside the signature, the last field */
	RV("receipt/v1_bad_signature", "Receipts: the signature over the body verifies", r, len, LIMES_E_ENV_BAD_SIG, 0);
	free(r);
	cr_assert(eq(int, receipt_build_v2(key[KB], &rb, &r, &len), 0));
	RV("receipt/v2_ok", "Receipts in protocol v2: the root signature verifies", r, len, 0, 2);
	/* the status of the last entry: ACCEPTED instead of REJECTED would be a forgery */
	struct wire_receipt w;
	cr_assert(eq(int, wire_receipt_unpack(r, len, len, &w), 0));
	/* unpack copies the bytes: find the last entry in the receipt */
	const uint8_t *at = memmem(r, len, w.entries[2].data, w.entries[2].len);
	cr_assert(at != NULL);
	size_t last = (size_t)(at - r);
	size_t last_len = w.entries[2].len;
	struct receipt_proof p;
	cr_assert(eq(int, receipt_proof_of(r, len, len, entries[1].message_id, entries[1].envelope_hash, &p), 0));
	wire_receipt_clear(&w);
	const uint8_t *st = memmem(r + last, last_len, "\x18\x03", 2);
	cr_assert(st != NULL);
	r[st - r + 1] = 0x01;
	RV("receipt/v2_entry_altered", "Receipts in protocol v2: an entry changed after signing", r, len,
	   LIMES_E_ENV_BAD_SIG, 0);
	free(r);
#undef RV
	/* entry 1's proof, alone */
#define PV(name, rule, err)                                                                                       \
	json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:{s:o, s:o, s:i, s:i, s:o, s:o}, s:{s:s}}", "name", \
					      name, "rule", rule, "level", "proof", "proof", "head",              \
					      hexj(p.head, p.head_len), "entry", hexj(p.entry, p.entry_len), "index", \
					      (int)p.index, "count", (int)p.count, "path", hexj(p.path, p.path_len), \
					      "signature", hexj(p.signature, 64), "expect", "error",             \
					      err ? limes_errname(err) : "ok"))
	PV("proof/v2_entry1_ok", "Receipts in protocol v2: one entry's proof verifies alone", 0);
	p.path[40] ^= 0x01;
	PV("proof/v2_path_altered", "Receipts in protocol v2: a changed sibling hash", LIMES_E_ENV_BAD_SIG);
	p.path[40] ^= 0x01;
	p.count = 4; /* index 1 of 4 takes two hashes too, and folds to the same root: count is signed */
	PV("proof/v2_wrong_count", "Receipts in protocol v2: the count is signed with the root", LIMES_E_ENV_BAD_SIG);
	p.count = 5; /* index 1 of 5 needs three hashes: the two given are the wrong shape */
	PV("proof/v2_wrong_shape", "Receipts in protocol v2: the path's length must fit (index, count)",
	   LIMES_E_ENV_MALFORMED);
#undef PV
	receipt_proof_clear(&p);
}

static void resend_vectors(json_t *link);

static json_t *generate(void)
{
	json_t *open = json_array(), *link = json_array(), *keys = json_object(), *receipts = json_array();
	size_t len;
	uint8_t *env;
	char line[IDENTITY_LINE_SIZE];

	for (int k = 0; k < NK; k++) {
		uint8_t seed[32], box[32];
		fill(seed, 32, SEED0[k]);
		fill(box, 32, BOX0[k]);
		identity_line_format(identity_public(key[k]), line, sizeof(line));
		json_object_set_new(keys, ID[k], json_pack("{s:o, s:o, s:s}", "ed25519_seed", hexj(seed, 32),
							   "x25519_secret", hexj(box, 32), "identity", line));
	}

	/* Opening an envelope, in the order of its table; link vectors also exercise "Receiving". */
	env = build(good(0x11), &len);
	add(open, "open/v1_good", "Opening an envelope: all checks pass", "open", hexj(env, len), open_expect(0));
	add(link, "receive/v1_accepted", "Receiving: accepted, receipt after commit", "link", frame_env(env, len),
	    receipt_expect("accepted", 0, NULL, 0x11));
	add(link, "replay/same_bytes_duplicate", "Replay: the same bytes again get a new receipt saying duplicate",
	    "link", frame_env(env, len), receipt_expect("duplicate", 0, NULL, 0x11));
	free(env);
	{
		struct spec s = good(0x11);
		s.nonce = 0x99; /* same id, other bytes: its author sealed it again */
		env = build(s, &len);
		add(link, "replay/same_id_other_bytes", "Receiving 3: same id with other bytes signed by its author is "
		    "the message held: duplicate", "link", frame_env(env, len),
		    receipt_expect("duplicate", 0, NULL, 0x11));
		free(env);
		/* other bytes that are not its author's (the signature fails): a replay */
		s.nonce = 0x9a;
		env = build(s, &len);
		env[len - 1] ^= 0x01;
		add(link, "replay/same_id_other_bytes_not_the_authors", "Receiving 3: same id with other bytes that "
		    "its author did not sign is refused", "link", frame_env(env, len),
		    receipt_expect("rejected", 16, NULL, 0x11));
		free(env);
	}
	env = build(good(0x12), &len);
	add(open, "open/1_oversized", "Opening 1: length <= cap", "open", hexj(env, len),
	    open_expect(LIMES_E_ENV_OVERSIZED));
	json_object_set_new(json_array_get(open, json_array_size(open) - 1), "max_envelope_bytes",
			    json_integer((json_int_t)len - 1));
	add(open, "open/2_truncated", "Opening 2: Envelope and Header decode", "open", hexj(env, len / 2),
	    open_expect(LIMES_E_ENV_TRUNCATED));
	{
		/* undecodable: a rejection with an all-zero id, addressed to the link's peer */
		uint8_t zero[16] = { 0 };
		add(link, "receive/1_undecodable", "Receiving 1: undecodable envelope, zero message id", "link",
		    frame_env(env, len / 2), receipt_expect("rejected", 1, zero, 0));
	}
	free(env);
	{
		struct spec s = good(0x13);
		s.version = 3;
		both(open, link, "open/3_unknown_version", "Opening 3: version_major", build(s, &len),
		     LIMES_E_ENV_VERSION, "rejected", 2, 0x13);
	}
	{
		struct spec s = good(0x14);
		s.recipient = KC;
		s.to_key = KC;
		env = build(s, &len);
		add(open, "open/4_wrong_recipient", "Opening 4: recipient is us", "open", hexj(env, len),
		    open_expect(LIMES_E_ENV_RECIPIENT));
		add(link, "relay/carried", "Relaying: for a direct peer, verified, stored, no receipt of the relay's own",
		    "link", frame_env(env, len), json_pack("{s:s, s:s}", "outcome", "relayed", "next_hop", ID[KC]));
		free(env);
	}
	{
		struct spec s = good(0x15);
		s.expires = CREATED + DAY;
		both(open, link, "open/5a_expired", "Opening 5a: now <= expires_ms", build(s, &len), LIMES_E_ENV_EXPIRED,
		     "rejected", 4, 0x15);
	}
	{
		struct spec s = good(0x16);
		s.created = FUTURE;
		s.expires = FUTURE + DAY;
		both(open, link, "open/5b_not_yet_valid", "Opening 5b: created_ms <= now + max_skew", build(s, &len),
		     LIMES_E_ENV_FUTURE, "rejected", 5, 0x16);
	}
	{
		struct spec s = good(0x17);
		s.expires = CREATED + 8000 * DAY;
		both(open, link, "open/5c_ttl_too_long", "Opening 5c: expires - created <= max_ttl", build(s, &len),
		     LIMES_E_ENV_TTL, "rejected", 13, 0x17);
	}
	{
		struct spec s = good(0x18);
		s.signer = KX; /* signs as RS-CUSTOMS-HORGOS with a key B does not know */
		both(open, link, "open/6_unknown_key", "Opening 6: (sender, sender_key_id) is configured", build(s, &len),
		     LIMES_E_ENV_UNKNOWN_KEY, "rejected", 6, 0x18);
	}
	{
		env = build(good(0x19), &len);
		env[len - 1] ^= 0x01; /* last byte of the signature */
		blen = len;
		both(open, link, "open/7_bad_signature", "Opening 7: the signature verifies", env, LIMES_E_ENV_BAD_SIG,
		     "rejected", 8, 0x19);
	}
	{
		struct spec s = good(0x1a);
		s.to_key = KX; /* sealed to a key that is not B's */
		both(open, link, "open/8_not_our_key", "Opening 8: recipient_key_id is ours", build(s, &len),
		     LIMES_E_ENV_DECRYPT, "rejected", 9, 0x1a);
	}
	{
		/* Receiving 5: policy and schema */
		struct spec s = good(0x1b);
		s.signer = KC;
		s.sender = KC;
		env = build(s, &len);
		add(link, "receive/5_sender_not_the_link", "Receiving 5: the sender fits the link", "link",
		    frame_env(env, len), receipt_expect("rejected", 10, NULL, 0x1b));
		free(env);
		s = good(0x1c);
		s.type = WIRE_TYPE_PRE_ARRIVAL;
		env = build(s, &len);
		add(link, "receive/5_type_not_accepted", "Receiving 5: type in the sender's accept list", "link",
		    frame_env(env, len), receipt_expect("rejected", 10, NULL, 0x1c));
		free(env);
		s = good(0x1d);
		s.schema_major = 2;
		env = build(s, &len);
		add(link, "receive/5_unknown_schema_major", "Receiving 5: schema major 1", "link", frame_env(env, len),
		    receipt_expect("rejected", 12, NULL, 0x1d));
		free(env);
		static const uint8_t not_alert[] = { 0xff, 0xff, 0xff };
		s = good(0x1e);
		s.body = not_alert;
		s.body_len = sizeof(not_alert);
		env = build(s, &len);
		add(link, "receive/5_schema", "Receiving 5: the body decodes against its schema", "link",
		    frame_env(env, len), receipt_expect("rejected", 11, NULL, 0x1e));
		free(env);
	}
	{
		/* relay refusals */
		struct spec s = good(0x1f);
		s.recipient_id = "ZZ-NO-ROUTE";
		s.to_key = KX;
		env = build(s, &len);
		add(link, "relay/unroutable", "Relaying: no direct link to the recipient", "link", frame_env(env, len),
		    receipt_expect("rejected", 14, NULL, 0x1f));
		free(env);
		s = good(0x20);
		s.recipient = KC;
		s.to_key = KC;
		s.type = WIRE_TYPE_PRE_ARRIVAL;
		env = build(s, &len);
		add(link, "relay/policy", "Relaying: relay policy does not carry the type", "link", frame_env(env, len),
		    receipt_expect("rejected", 10, NULL, 0x20));
		free(env);
	}
	{
		/* key rotation through a relay: a KeyUpdate frame (A's key, the
		 * unconfigured key as its next) in an envelope of type 30 */
		uint8_t kb[KEYUPDATE_BODY_MAX], ks[64], ks2[64], *kf = NULL;
		size_t kl = 0, kfl = 0;
		cr_assert(eq(int, keyupdate_build(key[KA], key[KX], ID[KA], 1, CREATED, kb, &kl, ks, ks2), 0));
		struct wire_frame kuf = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = kb, .len = kl, .sig = ks, .sig2 = ks2 };
		cr_assert(eq(int, wire_frame_pack(&kuf, &kf, &kfl), 0));
		struct spec s = good(0x21);
		s.recipient = KC;
		s.to_key = KC;
		s.type = WIRE_TYPE_KEY_ROTATION;
		s.body = kf;
		s.body_len = kfl;
		env = build(s, &len);
		add(link, "relay/key_rotation_carried",
		    "Key rotation through a relay: type 30 is carried between peers the relay carries any type between",
		    "link", frame_env(env, len), json_pack("{s:s, s:s}", "outcome", "relayed", "next_hop", ID[KC]));
		free(env);
		s = good(0x22);
		s.type = WIRE_TYPE_KEY_ROTATION;
		s.body = kf;
		s.body_len = kfl;
		env = build(s, &len);
		add(link, "key_rotation/direct_neighbour_refused",
		    "Key rotation through a relay: a direct neighbour's keys come over its own link, not in type 30",
		    "link", frame_env(env, len), receipt_expect("rejected", 10, NULL, 0x22));
		free(env);
		free(kf);
	}
	{
		/* v2: a batch of three, two of its leaves sent, one with its root signature flipped */
		struct wire_header h[3];
		struct envelope_batch_item items[3];
		uint8_t nonces[3][24];
		struct envelope_peer *to = envelope_peer_new(key[KA], identity_public(key[KB]), ID[KB]);
		for (int k = 0; k < 3; k++) {
			memset(&h[k], 0, sizeof(h[k]));
			memset(h[k].message_id, 0x31 + k, 16);
			snprintf(h[k].sender, sizeof(h[k].sender), "%s", ID[KA]);
			snprintf(h[k].recipient, sizeof(h[k].recipient), "%s", ID[KB]);
			h[k].type = WIRE_TYPE_ALERT;
			h[k].created_ms = CREATED;
			h[k].expires_ms = LONG_EXPIRY;
			fill(nonces[k], 24, (uint8_t)(0x31 + k));
			items[k] = (struct envelope_batch_item){ .to = to, .h = &h[k], .body = alert, .body_len = alert_len,
								 .nonce = nonces[k] };
		}
		cr_assert(eq(int, envelope_build_batch(key[KA], items, 3), 0));
		envelope_peer_destroy(&to);
		add(open, "open/v2_leaf0", "Protocol v2: a leaf opens alone", "open", hexj(items[0].out, items[0].out_len),
		    open_expect(0));
		add(link, "receive/v2_leaf0", "Protocol v2: accepted, answered with a v2 receipt", "link",
		    frame_env(items[0].out, items[0].out_len), receipt_expect_v2("accepted", 0, 0x31));
		add(link, "receive/v2_leaf2", "Protocol v2: the carried-up leaf, one-hash proof", "link",
		    frame_env(items[2].out, items[2].out_len), receipt_expect_v2("accepted", 0, 0x33));
		/* the signature field of leaf 1: the 64 bytes after "1a 40" */
		struct wire_envelope e;
		cr_assert(eq(int, wire_envelope_unpack(items[1].out, items[1].out_len, items[1].out_len, &e), 0));
		/* unpack copies the bytes: find them in the envelope */
		const uint8_t *sig = memmem(items[1].out, items[1].out_len, e.signature, 64);
		cr_assert(sig != NULL);
		size_t at = (size_t)(sig - items[1].out);
		wire_envelope_clear(&e);
		items[1].out[at + 10] ^= 0x04;
		blen = items[1].out_len;
		add(open, "open/v2_bad_root_signature", "Protocol v2: the root signature verifies", "open",
		    hexj(items[1].out, items[1].out_len), open_expect(LIMES_E_ENV_BAD_SIG));
		add(link, "open/v2_bad_root_signature", "Protocol v2: the root signature verifies", "link",
		    frame_env(items[1].out, items[1].out_len), receipt_expect_v2("rejected", 8, 0x32));
		free(items[1].out);
		free(items[0].out);
		free(items[2].out);
		struct spec s = good(0x34);
		s.version = 2; /* a v2 header with no proof */
		env = build(s, &len);
		add(open, "open/v2_without_proof", "Protocol v2: version 2 needs its BatchProof", "open", hexj(env, len),
		    open_expect(LIMES_E_ENV_MALFORMED));
		free(env);
		/* relaying v2: a batch of one for C is carried as is; one for an
		 * agency with no link is refused by the relay in a v2 receipt */
		for (int k = 0; k < 2; k++) {
			struct wire_header rh;
			struct envelope_batch_item it;
			uint8_t nonce[24];
			const char *rid = k == 0 ? ID[KC] : ID[KX];
			struct envelope_peer *rto = envelope_peer_new(key[KA], identity_public(key[k == 0 ? KC : KX]), rid);
			memset(&rh, 0, sizeof(rh));
			memset(rh.message_id, 0x35 + k, 16);
			snprintf(rh.sender, sizeof(rh.sender), "%s", ID[KA]);
			snprintf(rh.recipient, sizeof(rh.recipient), "%s", rid);
			rh.type = WIRE_TYPE_ALERT;
			rh.created_ms = CREATED;
			rh.expires_ms = LONG_EXPIRY;
			fill(nonce, 24, (uint8_t)(0x35 + k));
			it = (struct envelope_batch_item){ .to = rto, .h = &rh, .body = alert, .body_len = alert_len,
							   .nonce = nonce };
			cr_assert(eq(int, envelope_build_batch(key[KA], &it, 1), 0));
			envelope_peer_destroy(&rto);
			if (k == 0)
				add(link, "relay/v2_carried",
				    "Protocol v2 through a relay: carried unchanged, proof and root signature with it", "link",
				    frame_env(it.out, it.out_len), json_pack("{s:s, s:s}", "outcome", "relayed", "next_hop", ID[KC]));
			else
				add(link, "relay/v2_unroutable", "Protocol v2 through a relay: the relay's refusal is a v2 receipt",
				    "link", frame_env(it.out, it.out_len), receipt_expect_v2("rejected", 14, 0x36));
			free(it.out);
		}
	}
	receipt_vectors(receipts);
	{
		/* frames that are not envelopes */
		struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
		f.heartbeat.sent_ms = CREATED;
		uint8_t *fb = NULL;
		size_t fl = 0;
		cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
		add(link, "heartbeat/answered", "Heartbeats: answered at once with the echo and our protocol", "link",
		    hexj(fb, fl),
		    json_pack("{s:s, s:I, s:b, s:i}", "outcome", "heartbeat_reply", "echo_sent_ms", (json_int_t)CREATED,
			      "reply", 1, "protocol", 2));
		free(fb);
		static const uint8_t garbage[] = { 0x0a };
		add(link, "frames/undecodable_dropped", "Receiving: a frame that does not decode is dropped, no answer",
		    "link", hexj(garbage, sizeof(garbage)), json_pack("{s:s}", "outcome", "dropped"));
		static const uint8_t two_kinds[] = { 0x1a, 0x02, 0x08, 0x01, 0x1a, 0x02, 0x08, 0x02, 0x0a, 0x00 };
		add(link, "frames/two_kinds_dropped", "Frames: more than one kind is malformed and dropped", "link",
		    hexj(two_kinds, sizeof(two_kinds)), json_pack("{s:s}", "outcome", "dropped"));
	}

	resend_vectors(link);

	return json_pack(
		"{s:i, s:s, s:o, s:{s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}, s:o, s:o, s:o}",
		"kit_version", 1, "about", "docs/conformance/README.md", "keys", keys, "receiver", "id", ID[KB],
		"link_peer", ID[KA], "open_now_ms", (json_int_t)(CREATED + 2 * DAY), "max_ttl_ms",
		(json_int_t)(7400 * DAY), "max_clock_skew_ms", (json_int_t)300000, "max_envelope_bytes", MAX_FRAME,
		"protocol", 2, "peers", "id", ID[KA], "send", "alert", "accept", "alert", "id", ID[KC], "send", "alert",
		"accept", "alert", "open_vectors", open, "link_vectors", link, "receipt_vectors", receipts);
}

/* A ResendRequest frame: asker `by` signs (asker, to, since, time). flip_sig
 * flips one bit of the signature; pad makes the body one byte too long. */
static json_t *resend_frame(int by, const char *asker, const char *to, uint64_t since, uint64_t time, bool flip_sig,
			    bool pad)
{
	struct resend_request rq = { .since_ms = since, .time_ms = time };
	uint8_t body[RESEND_BODY_MAX + 1], sig[RESEND_SIG_LEN], *fb = NULL;
	size_t body_len = 0, fl = 0;
	snprintf(rq.asker, sizeof(rq.asker), "%s", asker);
	snprintf(rq.to, sizeof(rq.to), "%s", to);
	cr_assert(eq(int, resend_build(key[by], &rq, body, &body_len, sig), 0));
	if (flip_sig)
		sig[17] ^= 0x20;
	if (pad) { /* the longest ids the layout has room for, and one byte more */
		memset(body, 0, sizeof(body));
		body_len = RESEND_BODY_MAX + 1;
	}
	struct wire_frame f = { .kind = WIRE_FRAME_RESEND_REQUEST, .bytes = body, .len = body_len, .sig = sig };
	if (pad) {
		/* wire_frame_pack refuses it: write Frame { resend_request = 30 { body = 1, signature = 2 } } by hand */
		static uint8_t raw[4 + 3 + RESEND_BODY_MAX + 1 + 2 + RESEND_SIG_LEN];
		size_t inner = 3 + body_len + 2 + RESEND_SIG_LEN, n = 0;
		raw[n++] = 0xf2, raw[n++] = 0x01; /* field 30, length-delimited */
		raw[n++] = (uint8_t)(0x80 | (inner & 0x7f)), raw[n++] = (uint8_t)(inner >> 7);
		raw[n++] = 0x0a; /* body: 147 bytes, a two-byte varint */
		raw[n++] = (uint8_t)(0x80 | (body_len & 0x7f)), raw[n++] = (uint8_t)(body_len >> 7);
		memcpy(raw + n, body, body_len), n += body_len;
		raw[n++] = 0x12, raw[n++] = RESEND_SIG_LEN;
		memcpy(raw + n, sig, RESEND_SIG_LEN), n += RESEND_SIG_LEN;
		return hexj(raw, n);
	}
	cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
	json_t *j = hexj(fb, fl);
	free(fb);
	return j;
}

/* Resend after a restore: ResendRequest (30) and ResendAck (31). The
 * receiver has delivered nothing to the link peer, so a valid request is
 * answered "done" with count 0; the ack's bytes are the expectation. */
static void resend_vectors(json_t *link)
{
	const uint64_t since = CREATED, time = CREATED + DAY;
	uint8_t ack[WIRE_RESEND_ACK_LEN] = { 0 };
	for (int i = 0; i < 8; i++)
		ack[i] = (uint8_t)(time >> (56 - 8 * i));
	json_t *answer = json_pack("{s:s, s:o, s:I, s:i, s:s}", "outcome", "resend_ack", "body",
				   hexj(ack, sizeof(ack)), "time_ms", (json_int_t)time, "count", 0, "status", "done");
	add(link, "resend/answered_done", "Resend after a restore 3-5: a valid request is answered once re-queued",
	    "link", resend_frame(KA, ID[KA], ID[KB], since, time, false, false), json_deep_copy(answer));
	add(link, "resend/same_request_same_answer",
	    "Resend after a restore 5: the same request again (same time_ms) gets the same answer", "link",
	    resend_frame(KA, ID[KA], ID[KB], since, time, false, false), answer);
	add(link, "resend/bad_signature_dropped",
	    "Resend after a restore 3: the signature verifies with the asker's key (else not answered)", "link",
	    resend_frame(KA, ID[KA], ID[KB], since, time + 1, true, false), json_pack("{s:s}", "outcome", "dropped"));
	add(link, "resend/asker_not_the_link_dropped",
	    "Resend after a restore 3: the asker is the connection's peer (else not answered)", "link",
	    resend_frame(KC, ID[KC], ID[KB], since, time + 2, false, false), json_pack("{s:s}", "outcome", "dropped"));
	add(link, "resend/another_neighbour_dropped",
	    "Resend after a restore 3: the neighbour named is the receiver (else not answered)", "link",
	    resend_frame(KA, ID[KA], ID[KC], since, time + 3, false, false), json_pack("{s:s}", "outcome", "dropped"));
	add(link, "resend/oversized_body_dropped", "Resend after a restore, bytes: a body over 146 bytes is malformed",
	    "link", resend_frame(KA, ID[KA], ID[KB], since, time + 4, false, true),
	    json_pack("{s:s}", "outcome", "dropped"));
	/* an answer arriving on the ROUTER is not a request: dropped */
	uint8_t *fb = NULL;
	size_t fl = 0;
	struct wire_frame f = { .kind = WIRE_FRAME_RESEND_ACK, .bytes = ack, .len = sizeof(ack) };
	cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
	add(link, "resend/ack_on_the_router_dropped", "Frames: a ResendAck (31) sent to the ROUTER is dropped", "link",
	    hexj(fb, fl), json_pack("{s:s}", "outcome", "dropped"));
	free(fb);
}

/* ------------------------------------------------------------ running */

static const struct envelope_peer *lookup_peer;
static const struct envelope_peer *open_lookup(void *arg, const char *sender, const uint8_t key_id[8],
					       uint64_t created_ms, int *err)
{
	(void)arg; (void)created_ms;
	/* B knows A and C */
	static struct envelope_peer *known[2];
	if (!known[0]) {
		known[0] = envelope_peer_new(key[KB], identity_public(key[KA]), ID[KA]);
		known[1] = envelope_peer_new(key[KB], identity_public(key[KC]), ID[KC]);
	}
	for (int k = 0; k < 2; k++)
		if (strcmp(envelope_peer_id(known[k]), sender) == 0 &&
		    memcmp(envelope_peer_key(known[k])->key_id, key_id, 8) == 0)
			return lookup_peer = known[k];
	*err = LIMES_E_ENV_UNKNOWN_KEY;
	return NULL;
}

static void run_open(json_t *doc)
{
	json_t *rcv = json_object_get(doc, "receiver");
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "open_vectors"), i, v) {
		size_t len;
		uint8_t *env = unhexj(json_object_get(v, "envelope"), &len);
		json_t *cap = json_object_get(v, "max_envelope_bytes");
		struct envelope_open_params p = {
			.me = key[KB], .my_id = ID[KB],
			.now_ms = (uint64_t)json_integer_value(json_object_get(rcv, "open_now_ms")),
			.max_ttl_ms = (uint64_t)json_integer_value(json_object_get(rcv, "max_ttl_ms")),
			.max_skew_ms = (uint64_t)json_integer_value(json_object_get(rcv, "max_clock_skew_ms")),
			.max_envelope_bytes = cap ? (size_t)json_integer_value(cap)
						  : (size_t)json_integer_value(json_object_get(rcv, "max_envelope_bytes")),
			.lookup = open_lookup, .max_version = 2,
		};
		struct envelope_opened o;
		int rc = envelope_open(&p, env, len, &o);
		const char *want = json_string_value(json_object_get(json_object_get(v, "expect"), "error"));
		cr_assert(eq(str, (char *)(rc == 0 ? "ok" : limes_errname(rc)), (char *)want), "%s",
			  json_string_value(json_object_get(v, "name")));
		envelope_opened_clear(&o);
		free(env);
	}
}

static const struct peer_key *b_key(void *arg, const char *issuer, const uint8_t key_id[8], uint64_t t, int *err)
{
	(void)arg; (void)t;
	if (strcmp(issuer, ID[KB]) != 0 || memcmp(identity_public(key[KB])->key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return identity_public(key[KB]);
}

/* receipt_vectors: each receipt opened, each proof checked, with B's key. */
static void run_receipts(json_t *doc)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(doc, "receipt_vectors"), i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		json_t *ex = json_object_get(v, "expect");
		int rc;
		if (strcmp(json_string_value(json_object_get(v, "level")), "receipt") == 0) {
			size_t len;
			uint8_t *r = unhexj(json_object_get(v, "receipt"), &len);
			struct wire_receipt_body body;
			uint32_t version = 0;
			rc = receipt_open_ex(r, len, len, b_key, NULL, &body, &version);
			if (rc == 0) {
				cr_assert(eq(u32, version, (uint32_t)json_integer_value(json_object_get(ex, "version"))), "%s",
					  name);
				cr_assert(eq(sz, body.n_entries, (size_t)json_integer_value(json_object_get(ex, "entries"))),
					  "%s", name);
			}
			wire_receipt_body_clear(&body);
			free(r);
		} else {
			json_t *pj = json_object_get(v, "proof");
			struct receipt_proof p = { 0 };
			size_t n;
			uint8_t *path = unhexj(json_object_get(pj, "path"), &n), *sig;
			cr_assert(le(sz, n, sizeof(p.path)), "%s", name);
			memcpy(p.path, path, n);
			p.path_len = n;
			free(path);
			sig = unhexj(json_object_get(pj, "signature"), &n);
			cr_assert(eq(sz, n, 64), "%s", name);
			memcpy(p.signature, sig, 64);
			free(sig);
			p.head = unhexj(json_object_get(pj, "head"), &p.head_len);
			p.entry = unhexj(json_object_get(pj, "entry"), &p.entry_len);
			p.index = (uint32_t)json_integer_value(json_object_get(pj, "index"));
			p.count = (uint32_t)json_integer_value(json_object_get(pj, "count"));
			rc = receipt_proof_verify(&p, identity_public(key[KB])->sign_pk, NULL, NULL);
			receipt_proof_clear(&p);
		}
		cr_assert(eq(str, (char *)(rc == 0 ? "ok" : limes_errname(rc)),
			     (char *)json_string_value(json_object_get(ex, "error"))), "%s", name);
	}
}

/* Next frame from B (5 s), decoded into f over buf. */
static void next_frame(void *s, uint8_t *buf, size_t cap, struct wire_frame *f, const char *name)
{
	int n = zmq_recv(s, buf, cap, 0);
	cr_assert(lt(int, 0, n), "%s: no answer from the receiver", name);
	cr_assert(eq(int, wire_frame_unpack(buf, (size_t)n, cap, f), 0), "%s: the answer does not decode", name);
}

/* After a vector that must not be answered: a heartbeat's reply is the next frame. */
static void expect_silence(void *s, uint64_t probe, const char *name)
{
	static uint8_t buf[1 << 17];
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT }, in;
	uint8_t *fb = NULL;
	size_t fl = 0;
	f.heartbeat.sent_ms = probe;
	cr_assert(eq(int, wire_frame_pack(&f, &fb, &fl), 0));
	cr_assert(eq(int, zmq_send(s, fb, fl, 0), (int)fl));
	free(fb);
	next_frame(s, buf, sizeof(buf), &in, name);
	cr_assert(eq(int, in.kind, WIRE_FRAME_HEARTBEAT), "%s: answered with a frame of kind %d", name, (int)in.kind);
	cr_assert(eq(u64, in.heartbeat.echo_sent_ms, probe), "%s", name);
}

static void write_key_dir(const char *dir, int k)
{
	char path[800], text[512], seed_hex[65], box_hex[65], line[IDENTITY_LINE_SIZE];
	uint8_t seed[32], box[32];
	fill(seed, 32, SEED0[k]);
	fill(box, 32, BOX0[k]);
	encode_hex(seed_hex, sizeof(seed_hex), seed, 32);
	encode_hex(box_hex, sizeof(box_hex), box, 32);
	identity_line_format(identity_public(key[k]), line, sizeof(line));
	snprintf(text, sizeof(text),
		 "# Limes identity: SECRET.\nlimes-identity-key v1\ned25519-seed %s\nx25519-secret %s\npublic %s\n",
		 seed_hex, box_hex, line);
	snprintf(path, sizeof(path), "%s/identity.key", dir);
	FILE *f = fopen(path, "w");
	cr_assert(f != NULL);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/identity.pub", dir);
	f = fopen(path, "w");
	cr_assert(f != NULL);
	fprintf(f, "%s\n", line);
	fclose(f);
}

static void run_link(json_t *doc)
{
	static uint8_t buf[1 << 17];
	char root[] = "/tmp/limes-conformance-XXXXXX", line[IDENTITY_LINE_SIZE], dir[700], ep[64];
	cr_assert(mkdtemp(root) != NULL);
	struct agentproc *b = agentproc_new(root, ID[KB]);
	cr_assert(b != NULL);
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(b));
	write_key_dir(dir, KB);
	agentproc_set_agent_extra(b, "max_ttl = 7400d\nmax_clock_skew = 5m\n");
	char extra[64];
	snprintf(extra, sizeof(extra), "max_frame = %d\n", MAX_FRAME);
	agentproc_set_link_extra(b, extra);
	for (int k = KA; k <= KC; k += 2) {
		identity_line_format(identity_public(key[k]), line, sizeof(line));
		snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", agentproc_free_port());
		agentproc_add_peer(b, ID[k], ep, line, "alert", "alert");
	}
	cr_assert(eq(int, agentproc_start(b), 0));

	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int linger = 0, timeout = 5000;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, identity_public(key[KB])->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, identity_public(key[KA])->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(key[KA]), 32);
	cr_assert(eq(int, zmq_connect(s, agentproc_endpoint(b)), 0));

	size_t i;
	json_t *v;
	uint64_t probe = 1;
	json_array_foreach(json_object_get(doc, "link_vectors"), i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		json_t *ex = json_object_get(v, "expect");
		const char *outcome = json_string_value(json_object_get(ex, "outcome"));
		size_t fl;
		uint8_t *fb = unhexj(json_object_get(v, "frame"), &fl);
		long queued_before = strcmp(outcome, "relayed") == 0 ? agentproc_queued(b, ID[KC]) : 0;
		cr_assert(eq(int, zmq_send(s, fb, fl, 0), (int)fl), "%s", name);
		struct wire_frame sent;
		bool is_env = wire_frame_unpack(fb, fl, fl, &sent) == 0 && sent.kind == WIRE_FRAME_ENVELOPE;
		uint8_t hash[32];
		if (is_env)
			envelope_hash(sent.bytes, sent.len, hash);
		if (strcmp(outcome, "receipt") == 0) {
			struct wire_frame in;
			do
				next_frame(s, buf, sizeof(buf), &in, name);
			while (in.kind == WIRE_FRAME_HEARTBEAT);
			cr_assert(eq(int, in.kind, WIRE_FRAME_RECEIPT), "%s", name);
			struct wire_receipt_body body;
			uint32_t version = 0;
			cr_assert(eq(int, receipt_open_ex(in.bytes, in.len, sizeof(buf), b_key, NULL, &body, &version), 0),
				  "%s: the receipt does not verify with the receiver's key", name);
			cr_assert(eq(u32, version, (uint32_t)json_integer_value(json_object_get(ex, "receipt_version"))),
				  "%s: receipt version", name);
			cr_assert(eq(str, body.addressee, (char *)ID[KA]), "%s", name);
			cr_assert(eq(sz, body.n_entries, 1), "%s", name);
			const struct wire_receipt_entry *e = &body.entries[0];
			size_t n;
			uint8_t *mid = unhexj(json_object_get(ex, "message_id"), &n);
			cr_assert(eq(int, memcmp(e->message_id, mid, 16), 0), "%s: entry for another message id", name);
			cr_assert(eq(int, memcmp(e->envelope_hash, hash, 32), 0), "%s: envelope_hash", name);
			const char *st = e->status == WIRE_RECEIPT_ACCEPTED ? "accepted"
					 : e->status == WIRE_RECEIPT_DUPLICATE ? "duplicate" : "rejected";
			cr_assert(eq(str, (char *)st, (char *)json_string_value(json_object_get(ex, "status"))), "%s", name);
			cr_assert(eq(int, e->reason, (int)json_integer_value(json_object_get(ex, "reason"))), "%s", name);
			free(mid);
			wire_receipt_body_clear(&body);
		} else if (strcmp(outcome, "heartbeat_reply") == 0) {
			struct wire_frame in;
			next_frame(s, buf, sizeof(buf), &in, name);
			cr_assert(eq(int, in.kind, WIRE_FRAME_HEARTBEAT), "%s", name);
			cr_assert(in.heartbeat.reply, "%s", name);
			cr_assert(eq(u64, in.heartbeat.echo_sent_ms,
				     (uint64_t)json_integer_value(json_object_get(ex, "echo_sent_ms"))), "%s", name);
			cr_assert(eq(u32, in.heartbeat.protocol, (uint32_t)json_integer_value(json_object_get(ex, "protocol"))),
				  "%s", name);
		} else if (strcmp(outcome, "resend_ack") == 0) {
			struct wire_frame in;
			do
				next_frame(s, buf, sizeof(buf), &in, name);
			while (in.kind == WIRE_FRAME_HEARTBEAT);
			cr_assert(eq(int, in.kind, WIRE_FRAME_RESEND_ACK), "%s", name);
			size_t n;
			uint8_t *want = unhexj(json_object_get(ex, "body"), &n);
			cr_assert(eq(sz, in.len, n), "%s", name);
			cr_assert(eq(int, memcmp(in.bytes, want, n), 0), "%s: the answer's bytes", name);
			free(want);
		} else if (strcmp(outcome, "dropped") == 0) {
			expect_silence(s, probe++, name);
		} else {
			cr_assert(eq(str, (char *)outcome, "relayed"), "%s: unknown outcome", name);
			expect_silence(s, probe++, name);
			long q = queued_before;
			for (int t = 0; t < 50 && q <= queued_before; t++) {
				q = agentproc_queued(b, ID[KC]);
				if (q <= queued_before) {
					struct timespec ts = { 0, 100000000 };
					nanosleep(&ts, NULL);
				}
			}
			cr_assert(lt(long, queued_before, q), "%s: nothing was queued for %s", name, ID[KC]);
		}
		free(fb);
	}
	cr_assert(lt(dbl, 1.0, agentproc_metric(b, "limes_frames_garbage_total")));
	zmq_close(s);
	zmq_ctx_term(ctx);
	cr_assert(eq(int, agentproc_stop(b), 0));
	agentproc_destroy(&b);
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert(eq(int, system(cmd), 0));
}

Test(conformance, the_kit_is_current_and_every_vector_holds)
{
	keys_init();
	json_t *gen = generate();
	cr_assert(gen != NULL);
	if (getenv("LIMES_WRITE_CONFORMANCE"))
		cr_assert(eq(int, json_dump_file(gen, FILE_PATH, JSON_INDENT(1) | JSON_PRESERVE_ORDER), 0));
	json_error_t jerr;
	json_t *doc = json_load_file(FILE_PATH, 0, &jerr);
	cr_assert(doc != NULL, "%s: %s (line %d)", FILE_PATH, jerr.text, jerr.line);
	cr_assert(json_equal(gen, doc), "docs/conformance/vectors.json is not what this code generates; "
					"rewrite it with LIMES_WRITE_CONFORMANCE=1 and review the change");
	json_decref(gen);
	run_open(doc);
	run_receipts(doc);
	run_link(doc);
	json_decref(doc);
	for (int k = 0; k < NK; k++)
		identity_destroy(&key[k]);
	free(alert);
}
