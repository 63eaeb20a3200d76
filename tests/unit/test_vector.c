/*
 * The worked example of docs/protocol.md, regenerated from fixed seeds, ids
 * and nonce. Every intermediate value is also re-derived here directly with
 * libsodium from the rules the document states (this test, unlike the
 * agent's code outside crypto/, includes sodium.h on purpose: it is the
 * independent implementation). The document must contain the printed block
 * verbatim; run with LIMES_PRINT_VECTOR=1 to print it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "crypto/receipt.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "support/docexample.h"
#include "support/fuzzseed.h"
#include <jansson.h>

TestSuite(vector, .timeout = 60);

#define CREATED_MS 1764182607120ull   /* 2025-11-26T18:43:27.120Z */
#define EXPIRES_MS (CREATED_MS + 86400000ull)
/* A real Alert, as a receiver's schema check wants it: the body sealed is
 * its protobuf encoding (docs/schemas.md maps the JSON). */
#define BODY_JSON "{\"action\":\"create\",\"alert_id\":\"RS-2025-000117\",\"category\":\"stolen_vehicle\"," \
	"\"requested_action\":\"locate\",\"handling_code\":\"H0\",\"legal_basis\":\"Prum\"," \
	"\"issuing_authority\":\"RS-MUP\",\"contact_desk\":\"PCCC +381 11 000\"}"
static uint8_t *BODY;
static size_t BODY_LEN;

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static const char *const field_names[] = {
	NULL, "version_major", "version_minor", "message_id", "sender", "recipient", "type", "priority",
	"created_ms", "expires_ms", "seq", "sender_key_id", "recipient_key_id", "nonce", "ref", "schema_major",
};

/* One line per top-level field: the bytes of the field, then its name and value. */
static void annotate(const uint8_t *p, size_t n)
{
	size_t pos = 0;

	doc_emit("header fields (tag and value bytes, field, value):\n");
	while (pos < n) {
		size_t start = pos;
		unsigned tag = p[pos++];
		uint64_t v = 0;
		unsigned shift = 0;
		bool bytes = (tag & 7) == 2;

		cr_assert(lt(u32, tag >> 3, 16));
		do {
			v |= (uint64_t)(p[pos] & 0x7f) << shift;
			shift += 7;
		} while (p[pos++] & 0x80);
		if (bytes)
			pos += (size_t)v;
		doc_emit("  ");
		for (size_t i = start; i < pos; i++)
			doc_emit("%02x", p[i]);
		doc_emit("\n    %s = ", field_names[tag >> 3]);
		if (!bytes)
			doc_emit("%llu\n", (unsigned long long)v);
		else if ((tag >> 3) == 4 || (tag >> 3) == 5)
			doc_emit("\"%.*s\"\n", (int)v, (const char *)p + pos - v);
		else
			doc_emit("%llu bytes\n", (unsigned long long)v);
	}
}

static const struct envelope_peer *a_seen_by_b;
static const struct envelope_peer *lookup(void *arg, const char *sender, const uint8_t key_id[8],
					  uint64_t created_ms, int *err)
{
	(void)arg; (void)sender; (void)key_id; (void)created_ms; (void)err;
	return a_seen_by_b;
}

static const struct peer_key *b_public;
static const struct peer_key *receipt_lookup(void *arg, const char *issuer, const uint8_t key_id[8],
					     uint64_t issued_ms, int *err)
{
	(void)arg; (void)issuer; (void)key_id; (void)issued_ms; (void)err;
	return b_public;
}

static void key_id_by_hand(const struct peer_key *pk, uint8_t kid[8])
{
	uint8_t in[16 + 64], digest[32];

	memcpy(in, "limes/key-id/v1\0", 16);
	memcpy(in + 16, pk->sign_pk, 32);
	memcpy(in + 48, pk->box_pk, 32);
	crypto_generichash(digest, 32, in, sizeof(in), NULL, 0);
	memcpy(kid, digest, 8);
}

Test(vector, worked_example_matches_docs_and_independent_derivation)
{
	uint8_t a_seed[32], a_box[32], b_seed[32], b_box[32], msg_id[16], nonce[24];
	uint8_t kid[8], shared[32], shared2[32], salt[14 + 16], pair[32], mkey[32], hash[32];
	struct identity *a, *b;
	struct envelope_peer *a_to_b, *b_from_a;
	const struct peer_key *pa, *pb;
	struct wire_header h;
	struct wire_envelope e;
	struct envelope_opened o;
	struct wire_receipt r;
	struct wire_receipt_body rb = { 0 }, rb_back;
	struct wire_receipt_entry entry = { 0 };
	uint8_t *env = NULL, *signed_bytes, *plain, *rcpt = NULL;
	size_t env_len = 0, signed_len, rcpt_len = 0;
	unsigned long long plain_len;
	char line[IDENTITY_LINE_SIZE];
	char *doc;
	FILE *f;
	long doc_len;

	cr_assert(eq(int, random_init(), 0));
	{
		json_error_t jerr;
		struct pbjson_error perr;
		json_t *j = json_loads(BODY_JSON, 0, &jerr);
		cr_assert(j != NULL);
		cr_assert(eq(int, schema_body_from_json(WIRE_TYPE_ALERT, j, "body", &BODY, &BODY_LEN, &perr), 0),
			  "%s", perr.message);
		json_decref(j);
		cr_assert(eq(int, schema_body_check(WIRE_TYPE_ALERT, BODY, BODY_LEN), 0));
	}
	fill(a_seed, 32, 0x00);
	fill(a_box, 32, 0x20);
	fill(b_seed, 32, 0x40);
	fill(b_box, 32, 0x60);
	fill(msg_id, 16, 0xa0);
	fill(nonce, 24, 0xb0);
	a = identity_from_seeds(a_seed, a_box);
	b = identity_from_seeds(b_seed, b_box);
	cr_assert(a && b);
	pa = identity_public(a);
	pb = identity_public(b);
	b_public = pb;

	doc_emit("sender RS-CUSTOMS-HORGOS\n");
	doc_hexblock("ed25519 seed", a_seed, 32);
	doc_hexblock("ed25519 public key", pa->sign_pk, 32);
	doc_hexblock("x25519 secret key", a_box, 32);
	doc_hexblock("x25519 public key", pa->box_pk, 32);
	doc_hexblock("key id", pa->key_id, 8);
	identity_line_format(pa, line, sizeof(line));
	doc_emit("identity line:\n  %s\n\n", line);
	doc_emit("recipient HU-NAV-ROSZKE\n");
	doc_hexblock("ed25519 seed", b_seed, 32);
	doc_hexblock("ed25519 public key", pb->sign_pk, 32);
	doc_hexblock("x25519 secret key", b_box, 32);
	doc_hexblock("x25519 public key", pb->box_pk, 32);
	doc_hexblock("key id", pb->key_id, 8);
	identity_line_format(pb, line, sizeof(line));
	doc_emit("identity line:\n  %s\n\n", line);

	/* Independent: key ids and the identity line round trip. */
	key_id_by_hand(pa, kid);
	cr_assert(eq(int, memcmp(kid, pa->key_id, 8), 0));
	key_id_by_hand(pb, kid);
	cr_assert(eq(int, memcmp(kid, pb->key_id, 8), 0));

	/* Independent: the seal key derivation, the same from both ends. */
	cr_assert(eq(int, crypto_scalarmult(shared, a_box, pb->box_pk), 0));
	cr_assert(eq(int, crypto_scalarmult(shared2, b_box, pa->box_pk), 0));
	cr_assert(eq(int, memcmp(shared, shared2, 32), 0));
	memcpy(salt, "limes/seal/v1\0", 14);
	if (memcmp(pa->key_id, pb->key_id, 8) < 0) {
		memcpy(salt + 14, pa->key_id, 8);
		memcpy(salt + 22, pb->key_id, 8);
	} else {
		memcpy(salt + 14, pb->key_id, 8);
		memcpy(salt + 22, pa->key_id, 8);
	}
	crypto_generichash(pair, 32, salt, sizeof(salt), shared, 32);
	crypto_generichash(mkey, 32, msg_id, 16, pair, 32);
	doc_emit("seal keys\n");
	doc_hexblock("x25519 shared secret", shared, 32);
	doc_hexblock("pair key input", salt, sizeof(salt));
	doc_hexblock("pair key", pair, 32);
	doc_hexblock("message id", msg_id, 16);
	doc_hexblock("message key", mkey, 32);
	doc_emit("\n");

	a_to_b = envelope_peer_new(a, pb, "HU-NAV-ROSZKE");
	b_from_a = envelope_peer_new(b, pa, "RS-CUSTOMS-HORGOS");
	cr_assert(a_to_b && b_from_a);
	a_seen_by_b = b_from_a;
	memset(&h, 0, sizeof(h));
	memcpy(h.message_id, msg_id, 16);
	snprintf(h.sender, sizeof(h.sender), "RS-CUSTOMS-HORGOS");
	snprintf(h.recipient, sizeof(h.recipient), "HU-NAV-ROSZKE");
	h.type = WIRE_TYPE_ALERT;
	h.priority = WIRE_PRIORITY_URGENT;
	h.created_ms = CREATED_MS;
	h.expires_ms = EXPIRES_MS;
	h.has_seq = true;
	h.seq = 1;
	cr_assert(eq(int, envelope_build_with_nonce(a, a_to_b, &h, nonce, BODY, BODY_LEN,
						    &env, &env_len), 0));
	cr_assert(eq(int, wire_envelope_unpack(env, env_len, env_len, &e), 0));

	doc_emit("envelope\n");
	annotate(e.header, e.header_len);
	doc_hexblock("header", e.header, e.header_len);
	doc_emit("body: a serialized Alert, from the JSON\n  %s\n", BODY_JSON);
	doc_hexblock("body", BODY, BODY_LEN);
	doc_hexblock("ciphertext", e.ciphertext, e.ciphertext_len);

	/* Independent: the AEAD opens with the derived key, header as AD. */
	plain = malloc(e.ciphertext_len);
	cr_assert(eq(int, crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plain_len, NULL, e.ciphertext,
								     e.ciphertext_len, e.header, e.header_len,
								     nonce, mkey), 0));
	cr_assert(eq(u64, plain_len, BODY_LEN));
	cr_assert(eq(int, memcmp(plain, BODY, BODY_LEN), 0));
	free(plain);

	/* Independent: the signed bytes and the Ed25519 signature over them. */
	signed_len = 18 + 4 + e.header_len + e.ciphertext_len;
	signed_bytes = malloc(signed_len);
	memcpy(signed_bytes, "limes/envelope/v1\0", 18);
	signed_bytes[18] = (uint8_t)(e.header_len >> 24);
	signed_bytes[19] = (uint8_t)(e.header_len >> 16);
	signed_bytes[20] = (uint8_t)(e.header_len >> 8);
	signed_bytes[21] = (uint8_t)e.header_len;
	memcpy(signed_bytes + 22, e.header, e.header_len);
	memcpy(signed_bytes + 22 + e.header_len, e.ciphertext, e.ciphertext_len);
	cr_assert(eq(int, crypto_sign_verify_detached(e.signature, signed_bytes, signed_len, pa->sign_pk), 0));
	doc_hexblock("signed bytes", signed_bytes, signed_len);
	doc_hexblock("signature", e.signature, 64);
	doc_hexblock("envelope", env, env_len);
	fuzzseed_write("fuzz_envelope_open", "worked_example_envelope", env, env_len);
	crypto_generichash(hash, 32, env, env_len, NULL, 0);
	doc_hexblock("envelope hash", hash, 32);
	doc_emit("\n");
	free(signed_bytes);

	/* And the recipient opens it. */
	struct envelope_open_params p = {
		.me = b, .my_id = "HU-NAV-ROSZKE", .now_ms = CREATED_MS, .max_ttl_ms = 7ull * 86400000,
		.max_skew_ms = 300000, .max_envelope_bytes = 65536, .lookup = lookup,
	};
	cr_assert(eq(int, envelope_open(&p, env, env_len, &o), 0));
	cr_assert(eq(int, memcmp(o.hash, hash, 32), 0));
	envelope_opened_clear(&o);

	/* The receipt B sends back. */
	snprintf(rb.issuer, sizeof(rb.issuer), "HU-NAV-ROSZKE");
	snprintf(rb.addressee, sizeof(rb.addressee), "RS-CUSTOMS-HORGOS");
	rb.issued_ms = CREATED_MS + 5;
	memcpy(entry.message_id, msg_id, 16);
	memcpy(entry.envelope_hash, hash, 32);
	entry.status = WIRE_RECEIPT_ACCEPTED;
	entry.has_received_ms = true;
	entry.received_ms = CREATED_MS + 4;
	rb.entries = &entry;
	rb.n_entries = 1;
	cr_assert(eq(int, receipt_build(b, &rb, &rcpt, &rcpt_len), 0));
	cr_assert(eq(int, wire_receipt_unpack(rcpt, rcpt_len, rcpt_len, &r), 0));
	signed_len = 17 + r.body_len;
	signed_bytes = malloc(signed_len);
	memcpy(signed_bytes, "limes/receipt/v1\0", 17);
	memcpy(signed_bytes + 17, r.body, r.body_len);
	cr_assert(eq(int, crypto_sign_verify_detached(r.signature, signed_bytes, signed_len, pb->sign_pk), 0));
	doc_emit("receipt\n");
	doc_hexblock("receipt body", r.body, r.body_len);
	doc_hexblock("receipt signature", r.signature, 64);
	doc_hexblock("receipt", rcpt, rcpt_len);
	fuzzseed_write("fuzz_envelope_open", "worked_example_receipt", rcpt, rcpt_len);
	free(signed_bytes);
	cr_assert(eq(int, receipt_open(rcpt, rcpt_len, 65536, receipt_lookup, NULL, &rb_back), 0));
	wire_receipt_body_clear(&rb_back);
	wire_receipt_clear(&r);

	if (getenv("LIMES_PRINT_VECTOR"))
		fputs(doc_text(), stdout);

	f = fopen(LIMES_SOURCE_DIR "/docs/protocol.md", "rb");
	cr_assert(f != NULL, "docs/protocol.md missing");
	fseek(f, 0, SEEK_END);
	doc_len = ftell(f);
	fseek(f, 0, SEEK_SET);
	doc = calloc(1, (size_t)doc_len + 1);
	cr_assert(eq(sz, fread(doc, 1, (size_t)doc_len, f), (size_t)doc_len));
	fclose(f);
	cr_assert(strstr(doc, doc_text()) != NULL,
		  "docs/protocol.md does not hold the worked example; regenerate with LIMES_PRINT_VECTOR=1");
	free(doc);

	wire_envelope_clear(&e);
	free(env);
	free(rcpt);
	free(BODY);
	envelope_peer_destroy(&a_to_b);
	envelope_peer_destroy(&b_from_a);
	identity_destroy(&a);
	identity_destroy(&b);
}

/* BLAKE2b-256(domain || parts...) by hand, for the v2 tree. */
static void h2(uint8_t digest[32], const char *domain, size_t dlen, const uint8_t *a, size_t alen, const uint8_t *b,
	       size_t blen)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)domain, dlen);
	crypto_generichash_update(&st, a, alen);
	if (blen)
		crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, digest, 32);
}

/* The v2 receipt B signs for the tree of three: its head, each entry and
 * leaf, the tree, the signature and each entry's proof, re-derived by hand
 * and checked with receipt_proof_verify (docs/protocol.md "Receipts in
 * protocol v2"). */
static void v2_receipt_of_three(struct identity *a, struct identity *b, const struct envelope_batch_item *items)
{
	struct wire_receipt_entry entries[3];
	struct wire_receipt_body rb = { .issued_ms = CREATED_MS + 5, .n_entries = 3, .entries = entries };
	struct wire_receipt r;
	uint8_t *buf = NULL, leaf[3][32], n01[32], root[32], pair[64], signed_bytes[23 + 4 + 32];
	size_t len = 0;

	snprintf(rb.issuer, sizeof(rb.issuer), "HU-NAV-ROSZKE");
	snprintf(rb.addressee, sizeof(rb.addressee), "RS-CUSTOMS-HORGOS");
	memset(entries, 0, sizeof(entries));
	for (int k = 0; k < 3; k++) {
		struct wire_envelope e;
		cr_assert(eq(int, wire_envelope_unpack(items[k].out, items[k].out_len, items[k].out_len, &e), 0));
		struct wire_header h;
		cr_assert(eq(int, wire_header_unpack(e.header, e.header_len, e.header_len, &h), 0));
		memcpy(entries[k].message_id, h.message_id, 16);
		wire_envelope_clear(&e);
		envelope_hash(items[k].out, items[k].out_len, entries[k].envelope_hash);
		entries[k].status = WIRE_RECEIPT_ACCEPTED;
		entries[k].has_received_ms = true;
		entries[k].received_ms = CREATED_MS + 4;
	}
	cr_assert(eq(int, receipt_build_v2(b, &rb, &buf, &len), 0));
	cr_assert(eq(int, wire_receipt_unpack(buf, len, len, &r), 0));
	cr_assert(eq(sz, r.n_entries, 3));
	doc_emit("v2 receipt for the three, HU-NAV-ROSZKE to RS-CUSTOMS-HORGOS, issued 5 ms after creation\n");
	doc_hexblock("head (a ReceiptBody without entries)", r.body, r.body_len);
	for (int k = 0; k < 3; k++) {
		doc_emit("entry %d\n", k);
		doc_hexblock("entry (a ReceiptEntry)", r.entries[k].data, r.entries[k].len);
		/* Independent: leaf = BLAKE2b-256("limes/receipt-leaf/v2\0" || u32be(len(head)) || head || entry) */
		uint8_t *in = malloc(4 + r.body_len + r.entries[k].len);
		in[0] = (uint8_t)(r.body_len >> 24);
		in[1] = (uint8_t)(r.body_len >> 16);
		in[2] = (uint8_t)(r.body_len >> 8);
		in[3] = (uint8_t)r.body_len;
		memcpy(in + 4, r.body, r.body_len);
		memcpy(in + 4 + r.body_len, r.entries[k].data, r.entries[k].len);
		h2(leaf[k], "limes/receipt-leaf/v2", 22, in, 4 + r.body_len + r.entries[k].len, NULL, 0);
		free(in);
		doc_hexblock("leaf hash", leaf[k], 32);
	}
	memcpy(pair, leaf[0], 32);
	memcpy(pair + 32, leaf[1], 32);
	h2(n01, "limes/node/v2", 14, pair, 64, NULL, 0);
	memcpy(pair, n01, 32);
	memcpy(pair + 32, leaf[2], 32);
	h2(root, "limes/node/v2", 14, pair, 64, NULL, 0);
	doc_emit("receipt tree\n");
	doc_hexblock("node(leaf 0, leaf 1)", n01, 32);
	doc_hexblock("root", root, 32);
	memcpy(signed_bytes, "limes/receipt-batch/v2\0", 23);
	signed_bytes[23] = signed_bytes[24] = signed_bytes[25] = 0;
	signed_bytes[26] = 3;
	memcpy(signed_bytes + 27, root, 32);
	doc_hexblock("signed bytes", signed_bytes, sizeof(signed_bytes));
	cr_assert(eq(int, crypto_sign_verify_detached(r.signature, signed_bytes, sizeof(signed_bytes),
						      identity_public(b)->sign_pk), 0));
	doc_hexblock("root signature", r.signature, 64);
	doc_hexblock("receipt", buf, len);
	const uint8_t *want[3][2] = { { leaf[1], leaf[2] }, { leaf[0], leaf[2] }, { n01, NULL } };
	size_t want_n[3] = { 2, 2, 1 };
	for (int k = 0; k < 3; k++) {
		struct receipt_proof p;
		cr_assert(eq(int, receipt_proof_of(buf, len, len, entries[k].message_id, entries[k].envelope_hash, &p), 0));
		cr_assert(eq(sz, p.path_len, 32 * want_n[k]));
		for (size_t i = 0; i < want_n[k]; i++)
			cr_assert(eq(int, memcmp(p.path + 32 * i, want[k][i], 32), 0));
		cr_assert(eq(int, receipt_proof_verify(&p, identity_public(b)->sign_pk, NULL, NULL), 0));
		cr_assert(eq(int, receipt_proof_verify(&p, identity_public(a)->sign_pk, NULL, NULL), LIMES_E_ENV_BAD_SIG));
		doc_emit("proof of entry %d: index %d, count 3\n", k, k);
		doc_hexblock("proof path", p.path, p.path_len);
		receipt_proof_clear(&p);
	}
	wire_receipt_clear(&r);
	free(buf);
}

Test(vector, v2_tree_of_three_matches_docs_and_independent_derivation)
{
	uint8_t a_seed[32], a_box[32], b_seed[32], b_box[32], ids[3][16], nonces[3][24];
	uint8_t leaf[3][32], n01[32], root[32], signed_batch[15 + 4 + 32];
	struct identity *a, *b;
	struct envelope_peer *a_to_b, *b_from_a;
	struct wire_header h[3];
	struct envelope_batch_item items[3];
	struct wire_envelope e[3];
	struct envelope_opened o;
	json_error_t jerr;
	struct pbjson_error perr;

	doc_reset();
	cr_assert(eq(int, random_init(), 0));
	json_t *j = json_loads(BODY_JSON, 0, &jerr);
	cr_assert(eq(int, schema_body_from_json(WIRE_TYPE_ALERT, j, "body", &BODY, &BODY_LEN, &perr), 0));
	json_decref(j);
	fill(a_seed, 32, 0x00);
	fill(a_box, 32, 0x20);
	fill(b_seed, 32, 0x40);
	fill(b_box, 32, 0x60);
	a = identity_from_seeds(a_seed, a_box);
	b = identity_from_seeds(b_seed, b_box);
	cr_assert(a && b);
	a_to_b = envelope_peer_new(a, identity_public(b), "HU-NAV-ROSZKE");
	b_from_a = envelope_peer_new(b, identity_public(a), "RS-CUSTOMS-HORGOS");
	cr_assert(a_to_b && b_from_a);
	a_seen_by_b = b_from_a;
	for (int k = 0; k < 3; k++) {
		fill(ids[k], 16, (uint8_t)(0xa0 + 0x10 * k));
		fill(nonces[k], 24, (uint8_t)(0xb0 + 0x18 * k));
		memset(&h[k], 0, sizeof(h[k]));
		memcpy(h[k].message_id, ids[k], 16);
		snprintf(h[k].sender, sizeof(h[k].sender), "RS-CUSTOMS-HORGOS");
		snprintf(h[k].recipient, sizeof(h[k].recipient), "HU-NAV-ROSZKE");
		h[k].type = WIRE_TYPE_ALERT;
		h[k].priority = WIRE_PRIORITY_URGENT;
		h[k].created_ms = CREATED_MS;
		h[k].expires_ms = EXPIRES_MS;
		h[k].has_seq = true;
		h[k].seq = (uint64_t)k + 1;
		items[k] = (struct envelope_batch_item){ .to = a_to_b, .h = &h[k], .body = BODY, .body_len = BODY_LEN,
							 .nonce = nonces[k] };
	}
	cr_assert(eq(int, envelope_build_batch(a, items, 3), 0));

	doc_emit("v2 batch of 3, RS-CUSTOMS-HORGOS to HU-NAV-ROSZKE (keys and body as above)\n");
	for (int k = 0; k < 3; k++) {
		cr_assert(eq(int, wire_envelope_unpack(items[k].out, items[k].out_len, items[k].out_len, &e[k]), 0));
		doc_emit("leaf %d\n", k);
		doc_hexblock("header", e[k].header, e[k].header_len);
		doc_hexblock("ciphertext", e[k].ciphertext, e[k].ciphertext_len);
		/* Independent: leaf = BLAKE2b-256("limes/leaf/v2\0" || u32be(len(header)) || header || ciphertext) */
		uint8_t *in = malloc(4 + e[k].header_len + e[k].ciphertext_len);
		in[0] = (uint8_t)(e[k].header_len >> 24);
		in[1] = (uint8_t)(e[k].header_len >> 16);
		in[2] = (uint8_t)(e[k].header_len >> 8);
		in[3] = (uint8_t)e[k].header_len;
		memcpy(in + 4, e[k].header, e[k].header_len);
		memcpy(in + 4 + e[k].header_len, e[k].ciphertext, e[k].ciphertext_len);
		h2(leaf[k], "limes/leaf/v2", 14, in, 4 + e[k].header_len + e[k].ciphertext_len, NULL, 0);
		free(in);
		doc_hexblock("leaf hash", leaf[k], 32);
	}
	/* Independent: the tree. Level 1: H(l0, l1), and l2 carried up; root: H(n01, l2). */
	uint8_t pair[64];
	memcpy(pair, leaf[0], 32);
	memcpy(pair + 32, leaf[1], 32);
	h2(n01, "limes/node/v2", 14, pair, 64, NULL, 0);
	memcpy(pair, n01, 32);
	memcpy(pair + 32, leaf[2], 32);
	h2(root, "limes/node/v2", 14, pair, 64, NULL, 0);
	doc_emit("tree\n");
	doc_hexblock("node(leaf 0, leaf 1)", n01, 32);
	doc_hexblock("root = node(node(leaf 0, leaf 1), leaf 2)", root, 32);
	memcpy(signed_batch, "limes/batch/v2\0", 15);
	signed_batch[15] = 0;
	signed_batch[16] = 0;
	signed_batch[17] = 0;
	signed_batch[18] = 3;
	memcpy(signed_batch + 19, root, 32);
	doc_hexblock("signed bytes", signed_batch, sizeof(signed_batch));
	cr_assert(eq(int, crypto_sign_verify_detached(e[0].signature, signed_batch, sizeof(signed_batch),
						      identity_public(a)->sign_pk), 0));
	doc_hexblock("root signature", e[0].signature, 64);
	/* Independent: each proof is the siblings on the way up */
	const uint8_t *want[3][2] = { { leaf[1], leaf[2] }, { leaf[0], leaf[2] }, { n01, NULL } };
	size_t want_n[3] = { 2, 2, 1 };
	for (int k = 0; k < 3; k++) {
		cr_assert(eq(int, memcmp(e[k].signature, e[0].signature, 64), 0));
		cr_assert(eq(u32, e[k].batch_index, (uint32_t)k));
		cr_assert(eq(u32, e[k].batch_count, 3));
		cr_assert(eq(sz, e[k].batch_path_len, 32 * want_n[k]));
		for (size_t i = 0; i < want_n[k]; i++)
			cr_assert(eq(int, memcmp(e[k].batch_path + 32 * i, want[k][i], 32), 0));
		doc_emit("envelope %d: index %d, count 3\n", k, k);
		doc_hexblock("proof path", e[k].batch_path, e[k].batch_path_len);
		doc_hexblock("envelope", items[k].out, items[k].out_len);
		/* and B opens each one on its own */
		struct envelope_open_params p = {
			.me = b, .my_id = "HU-NAV-ROSZKE", .now_ms = CREATED_MS, .max_ttl_ms = 7ull * 86400000,
			.max_skew_ms = 300000, .max_envelope_bytes = 65536, .lookup = lookup, .max_version = 2,
		};
		cr_assert(eq(int, envelope_open(&p, items[k].out, items[k].out_len, &o), 0));
		cr_assert(eq(sz, o.body_len, BODY_LEN));
		envelope_opened_clear(&o);
		fuzzseed_write("fuzz_envelope_open", k == 0 ? "v2_leaf0" : k == 1 ? "v2_leaf1" : "v2_leaf2",
			       items[k].out, items[k].out_len);
	}

	v2_receipt_of_three(a, b, items);

	if (getenv("LIMES_PRINT_VECTOR"))
		fputs(doc_text(), stdout);
	FILE *f = fopen(LIMES_SOURCE_DIR "/docs/protocol.md", "rb");
	cr_assert(f != NULL);
	fseek(f, 0, SEEK_END);
	long doc_len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *doc = calloc(1, (size_t)doc_len + 1);
	cr_assert(eq(sz, fread(doc, 1, (size_t)doc_len, f), (size_t)doc_len));
	fclose(f);
	cr_assert(strstr(doc, doc_text()) != NULL,
		  "docs/protocol.md does not hold the v2 example; regenerate with LIMES_PRINT_VECTOR=1");
	free(doc);
	for (int k = 0; k < 3; k++) {
		wire_envelope_clear(&e[k]);
		free(items[k].out);
	}
	free(BODY);
	envelope_peer_destroy(&a_to_b);
	envelope_peer_destroy(&b_from_a);
	identity_destroy(&a);
	identity_destroy(&b);
}
