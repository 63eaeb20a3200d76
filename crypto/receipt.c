/* Receipt signing and verification over the ReceiptBody bytes as received. */
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

int receipt_open(const uint8_t *buf, size_t len, size_t max, receipt_lookup_fn lookup, void *lookup_arg,
		 struct wire_receipt_body *out)
{
	struct wire_receipt r = { 0 };
	struct wire_receipt_body body = { 0 };
	const struct peer_key *issuer;
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	int rc, err = 0;

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
	issuer = lookup(lookup_arg, body.issuer, body.issuer_key_id, body.issued_ms, &err);
	if (!issuer) {
		rc = err == LIMES_E_ENV_KEY_INVALID ? LIMES_E_ENV_KEY_INVALID : LIMES_E_ENV_UNKNOWN_KEY;
		goto out;
	}
	if (memcmp(issuer->key_id, body.issuer_key_id, IDENTITY_KEY_ID_LEN) != 0) {
		rc = LIMES_E_ENV_UNKNOWN_KEY;
		goto out;
	}
	rc = LIMES_E_NOMEM;
	msg = signed_bytes(r.body, r.body_len, &msg_len);
	if (!msg)
		goto out;
	if (crypto_sign_verify_detached(r.signature, msg, msg_len, issuer->sign_pk) != 0) {
		rc = LIMES_E_ENV_BAD_SIG;
		goto out;
	}
	*out = body;
	memset(&body, 0, sizeof(body));
	rc = 0;
out:
	free(msg);
	wire_receipt_body_clear(&body);
	wire_receipt_clear(&r);
	return rc;
}
