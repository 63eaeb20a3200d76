/*
 * Receipts: the recipient signs a ReceiptBody (one or many entries, each
 * binding a message id to the hash of the exact envelope bytes it received)
 * with "limes/receipt/v1\0" || body; the sender verifies the body bytes as
 * received. Protocol v2 receipts sign the root of a Merkle tree whose leaves
 * are (head, entry), so each entry is provable alone (receipt_proof_*).
 * Holds no state.
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

/* Signs body as a v2 receipt (1..WIRE_RECEIPT_MAX_ENTRIES entries; its
 * issuer_key_id is set to mine): *out is malloc'd, caller frees. */
int receipt_build_v2(const struct identity *me, const struct wire_receipt_body *body, uint8_t **out, size_t *out_len);
/* receipt_open for both versions; *version (may be NULL) gets 1 or 2. */
int receipt_open_ex(const uint8_t *buf, size_t len, size_t max, receipt_lookup_fn lookup, void *lookup_arg,
		    struct wire_receipt_body *out, uint32_t *version);

/* One entry of a v2 receipt with what proves it alone: the head (issuer,
 * key id, addressee, time), the entry, its place in the tree, the path and
 * the root's signature; with the issuer's public key nothing else is needed.
 * head and entry are malloc'd, released by receipt_proof_clear. */
struct receipt_proof {
	uint8_t *head;
	size_t head_len;
	uint8_t *entry;
	size_t entry_len;
	uint32_t index, count;
	uint8_t path[WIRE_BATCH_DEPTH_MAX * 32];
	size_t path_len;
	uint8_t signature[64];
};
/* Extracts the proof of the entry for message_id (and envelope_hash, unless
 * NULL) from a stored v2 receipt (not verified here: it was when received);
 * LIMES_E_INVAL for a v1 receipt, LIMES_E_NOTFOUND without such an entry. */
int receipt_proof_of(const uint8_t *buf, size_t len, size_t max, const uint8_t message_id[16],
		     const uint8_t envelope_hash[32], struct receipt_proof *out);
/* A third party's check: the proof folds to a root whose signature verifies
 * with sign_pk (the issuer's Ed25519 key). 0 and the decoded head/entry
 * (either may be NULL; head released with wire_receipt_body_clear), or
 * LIMES_E_ENV_MALFORMED / LIMES_E_ENV_BAD_SIG. */
int receipt_proof_verify(const struct receipt_proof *p, const uint8_t sign_pk[32], struct wire_receipt_body *head,
			 struct wire_receipt_entry *entry);
/* Frees what p holds and zeroes it; accepts NULL. */
void receipt_proof_clear(struct receipt_proof *p);

#endif
