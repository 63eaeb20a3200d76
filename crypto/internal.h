/*
 * Shared by the files of crypto/ only: access to an identity's secret keys
 * and the domain-separation strings of the protocol. Never include it from
 * another module.
 */
#ifndef LIMES_CRYPTO_INTERNAL_H
#define LIMES_CRYPTO_INTERNAL_H

#include <stdint.h>

#include "crypto/identity.h"

/* Domain strings, each used with its trailing NUL byte (sizeof includes it). */
#define DOMAIN_KEY_ID   "limes/key-id/v1"
#define DOMAIN_SEAL     "limes/seal/v1"
#define DOMAIN_ENVELOPE "limes/envelope/v1"
#define DOMAIN_RECEIPT  "limes/receipt/v1"

/* Ed25519 secret key (64 bytes, seed || public key); owned by the identity. */
const uint8_t *identity_sign_sk(const struct identity *id);
/* X25519 secret key (32 bytes); owned by the identity. */
const uint8_t *identity_box_sk(const struct identity *id);

#endif
