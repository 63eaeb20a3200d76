/* Receipts: batches signed and verified, tampering and wrong keys refused. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "crypto/receipt.h"
#include "support/crypto_testutil.h"

#define BATCH 100

static struct ct_world w;
static struct wire_receipt_entry entries[BATCH];
static struct wire_receipt_body body;

static void setup(void)
{
	cr_assert(eq(int, ct_world_init(&w), 0));
	memset(&body, 0, sizeof(body));
	/* B received A's messages and answers with one receipt for the batch. */
	snprintf(body.issuer, sizeof(body.issuer), "%s", ct_ids[CT_B]);
	snprintf(body.addressee, sizeof(body.addressee), "%s", ct_ids[CT_A]);
	body.issued_ms = CT_NOW_MS;
	for (int i = 0; i < BATCH; i++) {
		memset(&entries[i], 0, sizeof(entries[i]));
		memset(entries[i].message_id, i, sizeof(entries[i].message_id));
		memset(entries[i].envelope_hash, 0xa0 ^ i, sizeof(entries[i].envelope_hash));
		entries[i].status = i % 3 + 1;
		entries[i].reason = i % 3 == 2 ? 10 : 0;
		if (i % 3 == 2)
			snprintf(entries[i].detail, sizeof(entries[i].detail), "type not accepted from %s", ct_ids[CT_A]);
		entries[i].has_received_ms = true;
		entries[i].received_ms = CT_NOW_MS - (uint64_t)i;
	}
	body.entries = entries;
	body.n_entries = BATCH;
}

static void teardown(void)
{
	ct_world_fini(&w);
}

TestSuite(receipt, .init = setup, .fini = teardown, .timeout = 60);

static int open_as_a(const uint8_t *buf, size_t len, size_t max, struct wire_receipt_body *out)
{
	w.viewer = CT_A;
	return receipt_open(buf, len, max, ct_receipt_lookup, &w, out);
}

Test(receipt, batch_signs_and_opens)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	cr_assert(eq(int, open_as_a(r, len, 1 << 20, &out), 0));
	cr_assert(eq(str, out.issuer, (char *)ct_ids[CT_B]));
	cr_assert(eq(str, out.addressee, (char *)ct_ids[CT_A]));
	cr_assert(eq(u64, out.issued_ms, CT_NOW_MS));
	cr_assert(eq(int, memcmp(out.issuer_key_id, identity_public(w.id[CT_B])->key_id, 8), 0));
	cr_assert(eq(sz, out.n_entries, BATCH));
	for (int i = 0; i < BATCH; i++) {
		cr_assert(eq(int, memcmp(out.entries[i].message_id, entries[i].message_id, 16), 0));
		cr_assert(eq(int, memcmp(out.entries[i].envelope_hash, entries[i].envelope_hash, 32), 0));
		cr_assert(eq(int, out.entries[i].status, entries[i].status));
		cr_assert(eq(int, out.entries[i].reason, entries[i].reason));
		cr_assert(eq(str, out.entries[i].detail, entries[i].detail));
		cr_assert(eq(u64, out.entries[i].received_ms, entries[i].received_ms));
	}
	wire_receipt_body_clear(&out);
	cr_assert(out.entries == NULL);
	free(r);
}

Test(receipt, refuses_every_flipped_bit)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	body.n_entries = 3;  /* keeps the loop short; the batch test covers size */
	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	for (size_t bit = 0; bit < len * 8; bit++) {
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = open_as_a(r, len, 1 << 20, &out);
		r[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(lt(int, rc, 0), "bit %zu of %zu accepted", bit, len * 8);
		cr_assert(out.entries == NULL);
	}
	cr_assert(eq(int, open_as_a(r, len, 1 << 20, &out), 0));
	wire_receipt_body_clear(&out);
	free(r);
}

Test(receipt, refuses_every_truncation_and_oversize)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	body.n_entries = 2;
	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	for (size_t cut = 0; cut < len; cut++) {
		int rc = open_as_a(r, cut, 1 << 20, &out);
		cr_assert(rc == LIMES_E_ENV_TRUNCATED || rc == LIMES_E_ENV_MALFORMED, "prefix %zu: %d", cut, rc);
	}
	cr_assert(eq(int, open_as_a(r, len, len - 1, &out), LIMES_E_ENV_OVERSIZED));
	free(r);
}

Test(receipt, refuses_wrong_issuer_key)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	/* C signs a receipt claiming to be B: A knows no such key of B. */
	cr_assert(eq(int, receipt_build(w.id[CT_C], &body, &r, &len), 0));
	cr_assert(eq(int, open_as_a(r, len, 1 << 20, &out), LIMES_E_ENV_UNKNOWN_KEY));
	free(r);
}

/* Answers with B's key id but C's signing key. */
static struct peer_key mixed;
static const struct peer_key *lookup_mixed(void *arg, const char *issuer, const uint8_t key_id[8],
					   uint64_t issued_ms, int *err)
{
	(void)arg; (void)issuer; (void)key_id; (void)issued_ms; (void)err;
	return &mixed;
}

Test(receipt, refuses_signature_by_another_key)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	mixed = *identity_public(w.id[CT_B]);
	memcpy(mixed.sign_pk, identity_public(w.id[CT_C])->sign_pk, 32);
	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	cr_assert(eq(int, receipt_open(r, len, 1 << 20, lookup_mixed, NULL, &out), LIMES_E_ENV_BAD_SIG));
	free(r);
}

Test(receipt, refuses_unknown_and_invalid_keys)
{
	uint8_t *r = NULL;
	size_t len = 0;
	struct wire_receipt_body out;

	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), 0));
	w.lookup_fail = LIMES_E_ENV_UNKNOWN_KEY;
	cr_assert(eq(int, open_as_a(r, len, 1 << 20, &out), LIMES_E_ENV_UNKNOWN_KEY));
	w.lookup_fail = LIMES_E_ENV_KEY_INVALID;
	cr_assert(eq(int, open_as_a(r, len, 1 << 20, &out), LIMES_E_ENV_KEY_INVALID));
	free(r);
}

Test(receipt, build_refuses_bad_fields)
{
	uint8_t *r = NULL;
	size_t len = 0;

	snprintf(body.issuer, sizeof(body.issuer), "no spaces allowed");
	cr_assert(eq(int, receipt_build(w.id[CT_B], &body, &r, &len), LIMES_E_INVAL));
	cr_assert(r == NULL);
}
