/*
 * What a delivered (or rejected) message's receipt proves, for GET
 * /v1/messages/{id}: under protocol v2 the one entry with its inclusion
 * proof and the root's signature (nothing else of the receipt: a third
 * party checks it with the issuer's public key alone); under v1 the whole
 * signed receipt. Built from the receipt bytes the store kept.
 */
#include <stdlib.h>

#include "api_int.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "crypto/receipt.h"
#include "proto/err.h"

/* A new JSON string of the hex of bin, or NULL. */
static json_t *hex_value(const uint8_t *bin, size_t len)
{
	size_t n = ENCODE_HEX_SIZE(len);
	char *text = malloc(n);
	json_t *v = NULL;

	if (text && encode_hex(text, n, bin, len) == 0)
		v = json_string(text);
	free(text);
	return v;
}

json_t *api_receipt_proof_json(const struct store_delivery_row *row, size_t max_bytes)
{
	struct receipt_proof p;
	uint8_t hash[ENVELOPE_HASH_LEN];

	if (!row->receipt || !row->receipt_len)
		return NULL;
	envelope_hash(row->envelope, row->envelope_len, hash);
	int rc = receipt_proof_of(row->receipt, row->receipt_len, max_bytes, row->id, hash, &p);
	if (rc == LIMES_E_INVAL)
		return json_pack("{s:i, s:o*}", "version", 1, "receipt", hex_value(row->receipt, row->receipt_len));
	if (rc < 0)
		return NULL; /* no entry of ours in it: nothing to show */
	json_t *o = json_pack("{s:i, s:o*, s:o*, s:I, s:I, s:o*, s:o*}", "version", 2,
			      "head", hex_value(p.head, p.head_len), "entry", hex_value(p.entry, p.entry_len),
			      "index", (json_int_t)p.index, "count", (json_int_t)p.count,
			      "path", hex_value(p.path, p.path_len), "signature", hex_value(p.signature, 64));
	receipt_proof_clear(&p);
	return o;
}
