/*
 * Receipts: the recipient signs a ReceiptBody (one or many entries, each
 * binding a message id to the hash of the exact envelope bytes it received)
 * with "limes/receipt/v1\0" || body; the sender verifies the body bytes as
 * received. Holds no state.
 */
#ifndef LIMES_CRYPTO_RECEIPT_H
#define LIMES_CRYPTO_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "proto/wire.h"

/*
 * Finds the issuer's public key: agency id `issuer` with key id `key_id`,
 * valid at `issued_ms`. Returns a key the caller keeps alive for the call,
 * or NULL with *err = LIMES_E_ENV_UNKNOWN_KEY or LIMES_E_ENV_KEY_INVALID.
 */
typedef const struct peer_key *(*receipt_lookup_fn)(void *arg, const char *issuer,
						     const uint8_t key_id[IDENTITY_KEY_ID_LEN],
						     uint64_t issued_ms, int *err);

/* Signs body as me (its issuer_key_id is set to mine) into a serialized Receipt; *out is malloc'd, caller frees. */
int receipt_build(const struct identity *me, const struct wire_receipt_body *body, uint8_t **out, size_t *out_len);
/* Decodes (at most max bytes), finds the issuer's key and verifies the signature over the body bytes as received; fills the caller's out (wire_receipt_body_clear) only on success. */
int receipt_open(const uint8_t *buf, size_t len, size_t max, receipt_lookup_fn lookup, void *lookup_arg,
		 struct wire_receipt_body *out);

#endif
