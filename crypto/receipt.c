/*
 * Receipt signing and verification over the bytes as received: v1 (one
 * signature over the whole ReceiptBody) and v2 (one signature over the root
 * of a Merkle tree of (head, entry) leaves, so that each entry can later be
 * proven alone, with receipt_proof). Holds no state.
 */
#include "crypto/receipt.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/err.h"
#include "internal.h"

/* "limes/receipt/v1\0" || body, malloc'd. */
static uint8_t *signed_bytes(const uint8_t *body, size_t body_len, size_t *out_len)
{
	uint8_t *buf;

	if (body_len > SIZE_MAX - sizeof(DOMAIN_RECEIPT))
		return NULL;
	buf = malloc(sizeof(DOMAIN_RECEIPT) + body_len);
	if (!buf)
		return NULL;
	memcpy(buf, DOMAIN_RECEIPT, sizeof(DOMAIN_RECEIPT));
	memcpy(buf + sizeof(DOMAIN_RECEIPT), body, body_len);
	*out_len = sizeof(DOMAIN_RECEIPT) + body_len;
	return buf;
}

int receipt_build(const struct identity *me, const struct wire_receipt_body *body, uint8_t **out, size_t *out_len)
{
	const struct peer_key *mine = identity_public(me);
	struct wire_receipt_body signed_body;
	struct wire_receipt r = { 0 };
	uint8_t sig[crypto_sign_BYTES];
	uint8_t *packed = NULL, *msg = NULL;
	size_t packed_len = 0, msg_len = 0;
	int rc;

	if (!mine || !body || !out || !out_len)
		return LIMES_E_INVAL;
	signed_body = *body;
	memcpy(signed_body.issuer_key_id, mine->key_id, IDENTITY_KEY_ID_LEN);
	if ((rc = wire_receipt_body_pack(&signed_body, &packed, &packed_len)) < 0)
		return rc;
	rc = LIMES_E_NOMEM;
	msg = signed_bytes(packed, packed_len, &msg_len);
	if (!msg)
		goto out;
	crypto_sign_detached(sig, NULL, msg, msg_len, identity_sign_sk(me));
	r.body = packed;
	r.body_len = packed_len;
	r.signature = sig;
	rc = wire_receipt_pack(&r, out, out_len);
out:
	free(msg);
	free(packed);
	return rc;
}

/* BLAKE2b-256("limes/receipt-leaf/v2\0" || u32be(len(head)) || head || entry). */
static void receipt_leaf(const uint8_t *head, size_t head_len, const uint8_t *entry, size_t entry_len,
			 uint8_t out[32])
{
	crypto_generichash_state st;
	uint8_t len[4];

	merkle_u32be(len, (uint32_t)head_len);
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)DOMAIN_RECEIPT_LEAF, sizeof(DOMAIN_RECEIPT_LEAF));
	crypto_generichash_update(&st, len, 4);
	crypto_generichash_update(&st, head, head_len);
	crypto_generichash_update(&st, entry, entry_len);
	crypto_generichash_final(&st, out, 32);
}

/* The leaves of a v2 receipt's entries, malloc'd (NULL: no memory). */
static uint8_t (*receipt_leaves(const uint8_t *head, size_t head_len, const struct wire_span *entries, size_t n))[32]
{
	uint8_t (*leaves)[32] = malloc(n * 32);
	for (size_t i = 0; leaves && i < n; i++)
		receipt_leaf(head, head_len, entries[i].data, entries[i].len, leaves[i]);
	return leaves;
}

int receipt_build_v2(const struct identity *me, const struct wire_receipt_body *body, uint8_t **out, size_t *out_len)
{
	const struct peer_key *mine = identity_public(me);
	struct wire_receipt_body head;
	struct wire_receipt r = { 0 };
	struct wire_span *spans = NULL;
	uint8_t *packed = NULL, (*leaves)[32] = NULL, (*tree)[32] = NULL;
	uint8_t msg[RECEIPT_SIGNED_LEN], sig[crypto_sign_BYTES];
	size_t packed_len = 0, n;
	int rc;

	if (!mine || !body || !out || !out_len || body->n_entries < 1 || body->n_entries > WIRE_RECEIPT_MAX_ENTRIES)
		return LIMES_E_INVAL;
	n = body->n_entries;
	head = *body;
	head.n_entries = 0;
	head.entries = NULL;
	memcpy(head.issuer_key_id, mine->key_id, IDENTITY_KEY_ID_LEN);
	if ((rc = wire_receipt_body_pack(&head, &packed, &packed_len)) < 0)
		return rc;
	rc = LIMES_E_NOMEM;
	if (!(spans = calloc(n, sizeof(*spans))))
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = NULL;
		size_t e_len = 0;
		if ((rc = wire_receipt_entry_pack(&body->entries[i], &e, &e_len)) < 0)
			goto out;
		spans[i] = (struct wire_span){ e, e_len };
	}
	rc = LIMES_E_NOMEM;
	if (!(leaves = receipt_leaves(packed, packed_len, spans, n)) || !(tree = merkle_build(leaves, n)))
		goto out;
	merkle_signed(DOMAIN_RECEIPT_BATCH, sizeof(DOMAIN_RECEIPT_BATCH), (uint32_t)n, merkle_root(tree, n), msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), identity_sign_sk(me));
	r.body = packed;
	r.body_len = packed_len;
	r.signature = sig;
	r.n_entries = n;
	r.entries = spans;
	rc = wire_receipt_pack(&r, out, out_len);
out:
	for (size_t i = 0; spans && i < n; i++)
		free((void *)spans[i].data);
	free(spans);
	free(tree);
	free(leaves);
	free(packed);
	return rc;
}

/* Finds the issuer's key for body (from the lookup, its key id checked). */
static const struct peer_key *issuer_key(const struct wire_receipt_body *body, receipt_lookup_fn lookup,
					 void *lookup_arg, int *rc)
{
	int err = 0;
	const struct peer_key *issuer = lookup(lookup_arg, body->issuer, body->issuer_key_id, body->issued_ms, &err);
	if (!issuer) {
		*rc = err == LIMES_E_ENV_KEY_INVALID ? LIMES_E_ENV_KEY_INVALID : LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	if (memcmp(issuer->key_id, body->issuer_key_id, IDENTITY_KEY_ID_LEN) != 0) {
		*rc = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return issuer;
}

/* v2: the head has no entries of its own; each leaf decodes; the root's
 * signature verifies. Fills out->entries from the leaves. */
static int open_v2(const struct wire_receipt *r, struct wire_receipt_body *body, receipt_lookup_fn lookup,
		   void *lookup_arg)
{
	uint8_t (*leaves)[32] = NULL, (*tree)[32] = NULL, msg[RECEIPT_SIGNED_LEN];
	const struct peer_key *issuer;
	size_t n = r->n_entries;
	int rc = LIMES_E_ENV_MALFORMED;

	if (body->n_entries != 0)
		return LIMES_E_ENV_MALFORMED;
	if (!(body->entries = calloc(n, sizeof(*body->entries))))
		return LIMES_E_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (wire_receipt_entry_unpack(r->entries[i].data, r->entries[i].len, r->entries[i].len,
					      &body->entries[i]) < 0)
			return LIMES_E_ENV_MALFORMED; /* the entries are complete fields */
	body->n_entries = n;
	if (!(issuer = issuer_key(body, lookup, lookup_arg, &rc)))
		return rc;
	rc = LIMES_E_NOMEM;
	if (!(leaves = receipt_leaves(r->body, r->body_len, r->entries, n)) || !(tree = merkle_build(leaves, n)))
		goto out;
	merkle_signed(DOMAIN_RECEIPT_BATCH, sizeof(DOMAIN_RECEIPT_BATCH), (uint32_t)n, merkle_root(tree, n), msg);
	rc = crypto_sign_verify_detached(r->signature, msg, sizeof(msg), issuer->sign_pk) == 0 ? 0
											       : LIMES_E_ENV_BAD_SIG;
out:
	free(tree);
	free(leaves);
	return rc;
}

int receipt_open_ex(const uint8_t *buf, size_t len, size_t max, receipt_lookup_fn lookup, void *lookup_arg,
		    struct wire_receipt_body *out, uint32_t *version)
{
	struct wire_receipt r = { 0 };
	struct wire_receipt_body body = { 0 };
	const struct peer_key *issuer;
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	int rc;

	if (!out || !lookup)
		return LIMES_E_INVAL;
	memset(out, 0, sizeof(*out));
	if ((rc = wire_receipt_unpack(buf, len, max, &r)) < 0)
		return rc;
	/* The body is a complete field: a fault inside it is malformation. */
	if ((rc = wire_receipt_body_unpack(r.body, r.body_len, r.body_len, &body)) < 0) {
		rc = rc == LIMES_E_NOMEM ? rc : LIMES_E_ENV_MALFORMED;
		goto out;
	}
	if (r.n_entries) {
		if ((rc = open_v2(&r, &body, lookup, lookup_arg)) < 0)
			goto out;
		if (version)
			*version = WIRE_VERSION_BATCH;
		goto ok;
	}
	if (!(issuer = issuer_key(&body, lookup, lookup_arg, &rc)))
		goto out;
	rc = LIMES_E_NOMEM;
	msg = signed_bytes(r.body, r.body_len, &msg_len);
	if (!msg)
		goto out;
	if (crypto_sign_verify_detached(r.signature, msg, msg_len, issuer->sign_pk) != 0) {
		rc = LIMES_E_ENV_BAD_SIG;
		goto out;
	}
	if (version)
		*version = WIRE_VERSION_MAJOR;
ok:
	*out = body;
	memset(&body, 0, sizeof(body));
	rc = 0;
out:
	free(msg);
	wire_receipt_body_clear(&body);
	wire_receipt_clear(&r);
	return rc;
}

int receipt_open(const uint8_t *buf, size_t len, size_t max, receipt_lookup_fn lookup, void *lookup_arg,
		 struct wire_receipt_body *out)
{
	return receipt_open_ex(buf, len, max, lookup, lookup_arg, out, NULL);
}

/* ------------------------------------------------------------ proofs */

void receipt_proof_clear(struct receipt_proof *p)
{
	if (!p)
		return;
	free(p->head);
	free(p->entry);
	memset(p, 0, sizeof(*p));
}

int receipt_proof_of(const uint8_t *buf, size_t len, size_t max, const uint8_t message_id[16],
		     const uint8_t envelope_hash[32], struct receipt_proof *out)
{
	struct wire_receipt r = { 0 };
	uint8_t (*leaves)[32] = NULL, (*tree)[32] = NULL;
	int rc;

	if (!out || !message_id)
		return LIMES_E_INVAL;
	memset(out, 0, sizeof(*out));
	if ((rc = wire_receipt_unpack(buf, len, max, &r)) < 0)
		return rc;
	rc = LIMES_E_INVAL; /* a v1 receipt proves its entries only whole */
	if (!r.n_entries)
		goto out;
	rc = LIMES_E_NOTFOUND;
	size_t index = r.n_entries;
	for (size_t i = 0; i < r.n_entries && index == r.n_entries; i++) {
		struct wire_receipt_entry e;
		if (wire_receipt_entry_unpack(r.entries[i].data, r.entries[i].len, r.entries[i].len, &e) == 0 &&
		    memcmp(e.message_id, message_id, 16) == 0 &&
		    (!envelope_hash || memcmp(e.envelope_hash, envelope_hash, 32) == 0))
			index = i;
	}
	if (index == r.n_entries)
		goto out;
	rc = LIMES_E_NOMEM;
	if (!(leaves = receipt_leaves(r.body, r.body_len, r.entries, r.n_entries)) ||
	    !(tree = merkle_build(leaves, r.n_entries)) || !(out->head = malloc(r.body_len)) ||
	    !(out->entry = malloc(r.entries[index].len)))
		goto out;
	memcpy(out->head, r.body, r.body_len);
	out->head_len = r.body_len;
	memcpy(out->entry, r.entries[index].data, r.entries[index].len);
	out->entry_len = r.entries[index].len;
	out->index = (uint32_t)index;
	out->count = (uint32_t)r.n_entries;
	out->path_len = merkle_path(tree, r.n_entries, index, out->path) * 32;
	memcpy(out->signature, r.signature, 64);
	rc = 0;
out:
	if (rc < 0)
		receipt_proof_clear(out);
	free(tree);
	free(leaves);
	wire_receipt_clear(&r);
	return rc;
}

int receipt_proof_verify(const struct receipt_proof *p, const uint8_t sign_pk[32], struct wire_receipt_body *head,
			 struct wire_receipt_entry *entry)
{
	uint8_t leaf[32], root[32], msg[RECEIPT_SIGNED_LEN];
	struct wire_receipt_body h = { 0 };
	struct wire_receipt_entry e;
	int rc;

	if (!p || !sign_pk || !p->head || !p->entry)
		return LIMES_E_INVAL;
	if ((rc = wire_receipt_body_unpack(p->head, p->head_len, p->head_len, &h)) < 0 || h.n_entries != 0 ||
	    wire_receipt_entry_unpack(p->entry, p->entry_len, p->entry_len, &e) < 0) {
		wire_receipt_body_clear(&h);
		return rc == LIMES_E_NOMEM ? rc : LIMES_E_ENV_MALFORMED;
	}
	receipt_leaf(p->head, p->head_len, p->entry, p->entry_len, leaf);
	if ((rc = merkle_fold(leaf, p->index, p->count, p->path, p->path_len, root)) == 0) {
		merkle_signed(DOMAIN_RECEIPT_BATCH, sizeof(DOMAIN_RECEIPT_BATCH), p->count, root, msg);
		if (crypto_sign_verify_detached(p->signature, msg, sizeof(msg), sign_pk) != 0)
			rc = LIMES_E_ENV_BAD_SIG;
	}
	if (rc == 0 && head)
		*head = h;
	else
		wire_receipt_body_clear(&h);
	if (rc == 0 && entry)
		*entry = e;
	return rc;
}
