/*
 * Shared by the files of crypto/ only: access to an identity's secret keys
 * and the domain-separation strings of the protocol. Never include it from
 * another module.
 */
#ifndef LIMES_CRYPTO_INTERNAL_H
#define LIMES_CRYPTO_INTERNAL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "proto/wire.h"

/* Domain strings, each used with its trailing NUL byte (sizeof includes it). */
#define DOMAIN_KEY_ID   "limes/key-id/v1"
#define DOMAIN_SEAL     "limes/seal/v1"
#define DOMAIN_ENVELOPE "limes/envelope/v1"
#define DOMAIN_RECEIPT  "limes/receipt/v1"
#define DOMAIN_LEAF     "limes/leaf/v2"
#define DOMAIN_NODE     "limes/node/v2"
#define DOMAIN_BATCH    "limes/batch/v2"
#define BATCH_SIGNED_LEN (sizeof(DOMAIN_BATCH) + 4 + 32)  /* domain, u32be(count), root */
#define DOMAIN_RECEIPT_LEAF  "limes/receipt-leaf/v2"
#define DOMAIN_RECEIPT_BATCH "limes/receipt-batch/v2"
#define RECEIPT_SIGNED_LEN (sizeof(DOMAIN_RECEIPT_BATCH) + 4 + 32)

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

/* merkle.c: the tree of protocol v2 (docs/protocol.md "The tree"). */
void merkle_u32be(uint8_t *p, uint32_t v);
/* Sibling hashes in the proof of leaf index of count. */
size_t merkle_proof_len(uint32_t index, uint32_t count);
/* Every level of the tree over n (1..WIRE_BATCH_MAX) leaves, leaves first;
 * malloc'd, the caller frees; NULL for a bad n or no memory. */
uint8_t (*merkle_build(uint8_t (*leaves)[32], size_t n))[32];
/* The root of a tree merkle_build made over n leaves; borrowed from it. */
const uint8_t *merkle_root(uint8_t (*tree)[32], size_t n);
/* Writes the proof of leaf index into path (room for WIRE_BATCH_DEPTH_MAX
 * hashes); returns the number of hashes. */
size_t merkle_path(uint8_t (*tree)[32], size_t n, size_t index, uint8_t *path);
/* Folds path over leaf into root; LIMES_E_ENV_MALFORMED when count, index
 * or the path's length do not fit together. */
int merkle_fold(const uint8_t leaf[32], uint32_t index, uint32_t count, const uint8_t *path, size_t path_len,
		uint8_t root[32]);
/* The node hashes merkle_fold_memo computed lately, by level and parent
 * index: the envelopes of one batch share their upper nodes, so folding a
 * whole batch's proofs hashes each node about once instead of once per
 * envelope. Holds inputs and outputs of a pure function only. */
#define MERKLE_MEMO_SLOTS WIRE_BATCH_MAX
struct merkle_memo_slot {
	uint8_t in[64]; /* left || right */
	uint8_t out[32];
	bool used;
};
struct merkle_memo {
	struct merkle_memo_slot slot[MERKLE_MEMO_SLOTS];
	uint64_t hits;
};
/* merkle_fold, taking a node from memo when both its children match the
 * slot's byte for byte (the same result, without hashing) and keeping what
 * it computes there. */
int merkle_fold_memo(const uint8_t leaf[32], uint32_t index, uint32_t count, const uint8_t *path,
		     size_t path_len, uint8_t root[32], struct merkle_memo *memo);
/* domain (domain_len bytes, with its NUL) || u32be(count) || root into out. */
void merkle_signed(const char *domain, size_t domain_len, uint32_t count, const uint8_t root[32], uint8_t *out);

/* Ed25519 secret key (64 bytes, seed || public key); owned by the identity. */
const uint8_t *identity_sign_sk(const struct identity *id);
/* X25519 secret key (32 bytes); owned by the identity. */
const uint8_t *identity_box_sk(const struct identity *id);

#endif
