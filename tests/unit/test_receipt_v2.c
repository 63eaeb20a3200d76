/*
 * Protocol v2 receipts (crypto/receipt.c): one signature over the root of a
 * tree of (head, entry) leaves; the receipt opens as a whole like v1, and
 * each entry's proof, taken out of it, convinces a third party holding only
 * the issuer's public key. Every flipped bit of the receipt or of a proof is
 * refused.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "crypto/receipt.h"
#include "support/crypto_testutil.h"

#define MAXN 40

static struct ct_world w;
static struct wire_receipt_entry entries[MAXN];
static struct wire_receipt_body body;

static void setup(void)
{
	cr_assert(eq(int, ct_world_init(&w), 0));
	memset(&body, 0, sizeof(body));
	snprintf(body.issuer, sizeof(body.issuer), "%s", ct_ids[CT_B]);
	snprintf(body.addressee, sizeof(body.addressee), "%s", ct_ids[CT_A]);
	body.issued_ms = CT_NOW_MS;
	for (int i = 0; i < MAXN; i++) {
		memset(&entries[i], 0, sizeof(entries[i]));
		memset(entries[i].message_id, i + 1, sizeof(entries[i].message_id));
		memset(entries[i].envelope_hash, 0xa0 ^ i, sizeof(entries[i].envelope_hash));
		entries[i].status = i % 3 + 1;
		entries[i].reason = i % 3 == 2 ? 10 : 0;
		if (i % 3 == 2)
			snprintf(entries[i].detail, sizeof(entries[i].detail), "type not accepted");
		entries[i].has_received_ms = true;
		entries[i].received_ms = CT_NOW_MS - (uint64_t)i;
	}
	body.entries = entries;
	body.n_entries = 3;
}

static void teardown(void)
{
	ct_world_fini(&w);
}

TestSuite(receipt_v2, .init = setup, .fini = teardown, .timeout = 120);

static int open_as_a(const uint8_t *buf, size_t len, struct wire_receipt_body *out, uint32_t *version)
{
	w.viewer = CT_A;
	return receipt_open_ex(buf, len, CT_MAX_BYTES, ct_receipt_lookup, &w, out, version);
}

static const uint8_t *b_key(void)
{
	return identity_public(w.id[CT_B])->sign_pk;
}

Test(receipt_v2, opens_whole_as_v2_with_every_entry)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;
	uint32_t version = 0;

	body.n_entries = MAXN;
	cr_assert(eq(int, receipt_build_v2(w.id[CT_B], &body, &r, &len), 0));
	cr_assert(eq(int, open_as_a(r, len, &out, &version), 0));
	cr_assert(eq(u32, version, 2));
	cr_assert(eq(str, out.issuer, (char *)ct_ids[CT_B]));
	cr_assert(eq(str, out.addressee, (char *)ct_ids[CT_A]));
	cr_assert(eq(sz, out.n_entries, MAXN));
	for (int i = 0; i < MAXN; i++) {
		cr_assert(eq(int, memcmp(out.entries[i].message_id, entries[i].message_id, 16), 0));
		cr_assert(eq(int, memcmp(out.entries[i].envelope_hash, entries[i].envelope_hash, 32), 0));
		cr_assert(eq(int, out.entries[i].status, entries[i].status));
		cr_assert(eq(str, out.entries[i].detail, entries[i].detail));
	}
	wire_receipt_body_clear(&out);
	free(r);
	/* a v1 receipt still opens, as v1 */
	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	cr_assert(eq(int, open_as_a(r, len, &out, &version), 0));
	cr_assert(eq(u32, version, 1));
	wire_receipt_body_clear(&out);
	free(r);
}

/* Every entry of every tree size proves alone, with B's public key only. */
Test(receipt_v2, every_entry_of_every_size_proves_alone)
{
	for (size_t n = 1; n <= MAXN; n++) {
		uint8_t *r = NULL;
		size_t len = 0;
		body.n_entries = n;
		cr_assert(eq(int, receipt_build_v2(w.id[CT_B], &body, &r, &len), 0));
		for (size_t i = 0; i < n; i++) {
			struct receipt_proof p;
			struct wire_receipt_body head;
			struct wire_receipt_entry e;
			cr_assert(eq(int, receipt_proof_of(r, len, CT_MAX_BYTES, entries[i].message_id,
							   entries[i].envelope_hash, &p), 0));
			cr_assert(eq(u32, p.index, (uint32_t)i));
			cr_assert(eq(u32, p.count, (uint32_t)n));
			cr_assert(eq(int, receipt_proof_verify(&p, b_key(), &head, &e), 0), "entry %zu of %zu", i, n);
			cr_assert(eq(str, head.issuer, (char *)ct_ids[CT_B]));
			cr_assert(eq(str, head.addressee, (char *)ct_ids[CT_A]));
			cr_assert(eq(sz, head.n_entries, 0));
			cr_assert(eq(int, memcmp(e.message_id, entries[i].message_id, 16), 0));
			cr_assert(eq(int, e.status, entries[i].status));
			wire_receipt_body_clear(&head);
			/* not with another agency's key */
			cr_assert(eq(int, receipt_proof_verify(&p, identity_public(w.id[CT_C])->sign_pk, NULL, NULL),
				     LIMES_E_ENV_BAD_SIG));
			receipt_proof_clear(&p);
		}
		free(r);
	}
}

Test(receipt_v2, refuses_every_flipped_bit_of_the_receipt)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	cr_assert(eq(int, receipt_build_v2(w.id[CT_B], &body, &r, &len), 0));
	for (size_t bit = 0; bit < len * 8; bit++) {
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = open_as_a(r, len, &out, NULL);
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(lt(int, rc, 0), "bit %zu of %zu accepted", bit, len * 8);
		cr_assert(out.entries == NULL);
	}
	cr_assert(eq(int, open_as_a(r, len, &out, NULL), 0));
	wire_receipt_body_clear(&out);
	free(r);
}

/* A flipped bit anywhere in a proof (head, entry, path, signature) or a
 * changed index or count is not accepted as proof. */
Test(receipt_v2, refuses_every_flipped_bit_of_a_proof)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct receipt_proof p;

	body.n_entries = 3;
	cr_assert(eq(int, receipt_build_v2(w.id[CT_B], &body, &r, &len), 0));
	/* entry 0 of 3: a path of two hashes */
	cr_assert(eq(int, receipt_proof_of(r, len, CT_MAX_BYTES, entries[0].message_id, NULL, &p), 0));
	cr_assert(eq(sz, p.path_len, 64));
	struct {
		uint8_t *bytes;
		size_t len;
		const char *what;
	} parts[] = { { p.head, p.head_len, "head" }, { p.entry, p.entry_len, "entry" },
		      { p.path, p.path_len, "path" }, { p.signature, 64, "signature" } };
	for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
		for (size_t bit = 0; bit < parts[k].len * 8; bit++) {
			parts[k].bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			int rc = receipt_proof_verify(&p, b_key(), NULL, NULL);
			parts[k].bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			cr_assert(lt(int, rc, 0), "%s bit %zu accepted", parts[k].what, bit);
		}
	for (uint32_t bit = 0; bit < 32; bit++) {
		p.index ^= 1u << bit;
		int rc = receipt_proof_verify(&p, b_key(), NULL, NULL);
		p.index ^= 1u << bit;
		p.count ^= 1u << bit;
		int rc2 = receipt_proof_verify(&p, b_key(), NULL, NULL);
		p.count ^= 1u << bit;
		cr_assert(lt(int, rc, 0), "index bit %u accepted", bit);
		cr_assert(lt(int, rc2, 0), "count bit %u accepted", bit);
	}
	cr_assert(eq(int, receipt_proof_verify(&p, b_key(), NULL, NULL), 0));
	receipt_proof_clear(&p);
	free(r);
}

Test(receipt_v2, a_v1_receipt_or_an_unknown_entry_has_no_proof)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct receipt_proof p;
	uint8_t other[16];

	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	cr_assert(eq(int, receipt_proof_of(r, len, CT_MAX_BYTES, entries[0].message_id, NULL, &p), LIMES_E_INVAL));
	free(r);
	cr_assert(eq(int, receipt_build_v2(w.id[CT_B], &body, &r, &len), 0));
	memset(other, 0xee, sizeof(other));
	cr_assert(eq(int, receipt_proof_of(r, len, CT_MAX_BYTES, other, NULL, &p), LIMES_E_NOTFOUND));
	/* the right id with another envelope's hash is not it either */
	cr_assert(eq(int, receipt_proof_of(r, len, CT_MAX_BYTES, entries[0].message_id, entries[1].envelope_hash, &p),
		     LIMES_E_NOTFOUND));
	free(r);
}

/* A v2 receipt whose head carries entries of its own is malformed: the
 * signed leaves are the whole answer. */
Test(receipt_v2, a_head_with_entries_is_malformed)
{
	uint8_t *head = NULL, *r = NULL, *e = NULL;
	size_t head_len = 0, len = 0, e_len = 0;
	uint8_t sig[64] = { 0 };
	struct wire_receipt_body out;

	memcpy(body.issuer_key_id, identity_public(w.id[CT_B])->key_id, 8);
	cr_assert(eq(int, wire_receipt_body_pack(&body, &head, &head_len), 0));
	cr_assert(eq(int, wire_receipt_entry_pack(&entries[0], &e, &e_len), 0));
	struct wire_span span = { e, e_len };
	struct wire_receipt rc = { .body = head, .body_len = head_len, .signature = sig, .n_entries = 1,
				   .entries = &span };
	cr_assert(eq(int, wire_receipt_pack(&rc, &r, &len), 0));
	cr_assert(eq(int, open_as_a(r, len, &out, NULL), LIMES_E_ENV_MALFORMED));
	free(r);
	free(e);
	free(head);
}
