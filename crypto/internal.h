/*
 * Shared by the files of crypto/ only: access to an identity's secret keys
 * and the domain-separation strings of the protocol. Never include it from
 * another module.
 */
#ifndef LIMES_CRYPTO_INTERNAL_H
#define LIMES_CRYPTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"

/* Domain strings, each used with its trailing NUL byte (sizeof includes it). */
#define DOMAIN_KEY_ID   "limes/key-id/v1"
#define DOMAIN_SEAL     "limes/seal/v1"
#define DOMAIN_ENVELOPE "limes/envelope/v1"
#define DOMAIN_RECEIPT  "limes/receipt/v1"
#define DOMAIN_LEAF     "limes/leaf/v2"
#define DOMAIN_NODE     "limes/node/v2"
#define DOMAIN_BATCH    "limes/batch/v2"
#define BATCH_SIGNED_LEN (sizeof(DOMAIN_BATCH) + 4 + 32)  /* domain, u32be(count), root */

struct wire_envelope;
struct envelope_root_cache;

struct envelope_peer;
struct wire_header;
/* envelope.c: fills h's key ids and nonce, packs the header and seals body
 * with it as associated data; *hdr and *ct are malloc'd, the caller's. */
int envelope_seal_parts(const struct identity *me, const struct envelope_peer *to, struct wire_header *h,
			const uint8_t nonce[24], const uint8_t *body, size_t body_len, uint8_t **hdr, size_t *hdr_len,
			uint8_t **ct, size_t *ct_len);
/* batch.c: the leaf hash of a v2 envelope's header || ciphertext. */
void batch_leaf(const uint8_t *hdr, size_t hdr_len, const uint8_t *ct, size_t ct_len, uint8_t out[32]);
/* batch.c: folds e's proof over its leaf and verifies the root signature
 * with sign_pk (or finds it in cache, which may be NULL); 0,
 * LIMES_E_ENV_MALFORMED (proof of the wrong shape) or LIMES_E_ENV_BAD_SIG. */
int batch_verify(const struct wire_envelope *e, const uint8_t sign_pk[32], struct envelope_root_cache *cache);

/* Ed25519 secret key (64 bytes, seed || public key); owned by the identity. */
const uint8_t *identity_sign_sk(const struct identity *id);
/* X25519 secret key (32 bytes); owned by the identity. */
const uint8_t *identity_box_sk(const struct identity *id);

#endif
