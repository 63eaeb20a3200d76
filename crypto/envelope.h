/*
 * Envelopes: build (seal the body to the recipient, sign header ‖ ciphertext)
 * and open (size, decode, version, recipient, times, key, signature, unseal,
 * in that order), the relay's check without unsealing, and the sender
 * re-opening its own envelope. The X25519-derived pair key of each peer is
 * cached in a struct envelope_peer (sodium_malloc'd). docs/protocol.md gives
 * the exact bytes; the replay guard is separate (crypto/replay.h).
 */
#ifndef LIMES_CRYPTO_ENVELOPE_H
#define LIMES_CRYPTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "proto/wire.h"

#define ENVELOPE_HASH_LEN 32
#define ENVELOPE_TAG_LEN 16   /* ciphertext = body + 16-byte Poly1305 tag */

struct envelope_peer;
struct envelope_root_cache;

/*
 * Finds the sender's key: the peer whose agency id is `sender` and whose key
 * id is `key_id`, valid at `created_ms`. Returns a peer the caller keeps
 * alive for the call, or NULL with *err = LIMES_E_ENV_UNKNOWN_KEY (no such
 * key) or LIMES_E_ENV_KEY_INVALID (known but not valid then).
 */
typedef const struct envelope_peer *(*envelope_lookup_fn)(void *arg, const char *sender,
							   const uint8_t key_id[IDENTITY_KEY_ID_LEN],
							   uint64_t created_ms, int *err);

struct envelope_open_params {
	const struct identity *me;           /* may be NULL for envelope_verify */
	const char *my_id;                   /* our agency id; unused by envelope_verify */
	uint64_t now_ms;
	uint64_t max_ttl_ms;                 /* expires - created may not exceed it */
	uint64_t max_skew_ms;                /* created may be at most this far in our future */
	size_t max_envelope_bytes;
	envelope_lookup_fn lookup;
	void *lookup_arg;
	/* highest envelope major taken: 0 or 1 v1 only (a v2 envelope is
	 * unknown_version), 2 both */
	uint32_t max_version;
	/* v2 roots already verified (NULL: none); borrowed, see envelope_root_cache_new */
	struct envelope_root_cache *cache;
};

/* What envelope_open gives back; release with envelope_opened_clear. */
struct envelope_opened {
	struct wire_header header;
	uint8_t *body;                       /* malloc'd plaintext; NULL from envelope_verify */
	size_t body_len;
	uint8_t hash[ENVELOPE_HASH_LEN];     /* BLAKE2b-256 of the envelope bytes as received */
};

/* Derives and caches the pair key between me and peer (agency id peer_id); caller owns the result (envelope_peer_destroy); NULL on a bad key or no memory. */
struct envelope_peer *envelope_peer_new(const struct identity *me, const struct peer_key *peer, const char *peer_id);
/* Wipes and frees *p, sets it to NULL; accepts NULL. */
void envelope_peer_destroy(struct envelope_peer **p);
/* The peer's public key; owned by p. */
const struct peer_key *envelope_peer_key(const struct envelope_peer *p);
/* The peer's agency id; owned by p. */
const char *envelope_peer_id(const struct envelope_peer *p);

/* Seals body to `to` and signs; h: caller fills message_id, sender, recipient (= to's agency id, else LIMES_E_INVAL), type, priority, created/expires, seq, ref (version_major/schema_major 0 mean 1); build fills key ids and a random nonce. *out is malloc'd, caller frees. */
int envelope_build(const struct identity *me, const struct envelope_peer *to, struct wire_header *h,
		   const uint8_t *body, size_t body_len, uint8_t **out, size_t *out_len);
/* envelope_build with a caller-chosen nonce, for test vectors only: a nonce must never be reused with the same message id. */
int envelope_build_with_nonce(const struct identity *me, const struct envelope_peer *to, struct wire_header *h,
			      const uint8_t nonce[WIRE_NONCE_LEN], const uint8_t *body, size_t body_len,
			      uint8_t **out, size_t *out_len);
/*
 * An envelope decoded once: its outer fields, its header and the hash of
 * its bytes, so that a receiver reads the header (duplicate check, relay
 * or not) and then opens or verifies it without decoding it again.
 */
struct envelope_parsed {
	struct wire_envelope env;            /* points into the decoder's copy, owned by the struct */
	struct wire_header header;
	uint8_t hash[ENVELOPE_HASH_LEN];     /* BLAKE2b-256 of buf[0..len) */
	const uint8_t *buf;                  /* borrowed: the caller keeps it alive until the clear */
	size_t len;
};
/* Hashes buf[0..len) into out->hash (always, also on failure), then decodes
 * the envelope and its header (at most max bytes). On failure returns the
 * decoder's LIMES_E_ENV_OVERSIZED, _TRUNCATED or _MALFORMED (for the
 * envelope or, inside it, the header) and leaves nothing to release; on
 * success release out with envelope_parsed_clear. */
int envelope_parse(const uint8_t *buf, size_t len, size_t max, struct envelope_parsed *out);
/* Frees what envelope_parse decoded and zeroes e (keeping nothing); accepts NULL. */
void envelope_parsed_clear(struct envelope_parsed *e);
/* envelope_open of an envelope already parsed (the same checks after the
 * decode, in the same order; the size cap is p->max_envelope_bytes). */
int envelope_open_parsed(const struct envelope_open_params *p, const struct envelope_parsed *e,
			 struct envelope_opened *out);
/* envelope_verify of an envelope already parsed. */
int envelope_verify_parsed(const struct envelope_open_params *p, const struct envelope_parsed *e,
			   struct envelope_opened *out);
/* Verifies and unseals an envelope addressed to p->my_id; fills the caller's out (envelope_opened_clear) or returns the first failed check's LIMES_E_ENV_*. */
int envelope_open(const struct envelope_open_params *p, const uint8_t *buf, size_t len, struct envelope_opened *out);
/* A relay's check: every envelope_open check except "addressed to me" and unsealing (body stays NULL). */
int envelope_verify(const struct envelope_open_params *p, const uint8_t *buf, size_t len, struct envelope_opened *out);
/* The sender re-opening its own envelope sealed to `to` (for re-queueing): own signature, then unseal; no time checks. Fills out as envelope_open. */
int envelope_reopen_own(const struct identity *me, const struct envelope_peer *to, const uint8_t *buf, size_t len,
			size_t max_envelope_bytes, struct envelope_opened *out);
/* Unseals an envelope from `from` that was verified when it was received (inbox rows): decode and unseal only, no time or signature checks. Fills out as envelope_open. */
int envelope_unseal(const struct identity *me, const struct envelope_peer *from, const uint8_t *buf, size_t len,
		    size_t max_envelope_bytes, struct envelope_opened *out);
/*
 * Protocol v2 (docs/protocol.md "Protocol v2"): the envelopes of one batch
 * share one Ed25519 signature over the root of a Merkle tree of their
 * leaves; each carries its inclusion proof and opens on its own with
 * envelope_open (max_version 2).
 */
struct envelope_batch_item {
	const struct envelope_peer *to;     /* borrowed: the recipient, as envelope_build */
	struct wire_header *h;              /* as envelope_build; version_major is set to 2 */
	const uint8_t *body;                /* borrowed */
	size_t body_len;
	const uint8_t *nonce;               /* NULL: random (test vectors only give one) */
	uint8_t *out;                       /* filled: the envelope, malloc'd, the caller frees */
	size_t out_len;
};
/* Seals every item, builds the tree and signs its root once; on success every
 * items[k].out is set, on failure none is. 1 <= n <= WIRE_BATCH_MAX. */
int envelope_build_batch(const struct identity *me, struct envelope_batch_item *items, size_t n);
/*
 * The same in two steps, so that the envelopes of many submissions can share
 * one signature: seal each at once (the body is not kept), sign the turn's
 * batch when it is committed (core/submit.c).
 */
struct envelope_unsigned;
/* Seals body to `to` as a v2 envelope, not yet signed (h as envelope_build;
 * nonce NULL: random). Caller owns the result (envelope_unsigned_free); NULL
 * with *err (may be NULL) set on failure. */
struct envelope_unsigned *envelope_seal_unsigned(const struct identity *me, const struct envelope_peer *to,
						 struct wire_header *h, const uint8_t *nonce, const uint8_t *body,
						 size_t body_len, int *err);
/* The most bytes u can take once signed (the proof at its longest). */
size_t envelope_unsigned_max_len(const struct envelope_unsigned *u);
/* Frees *u and sets it to NULL; accepts NULL. */
void envelope_unsigned_free(struct envelope_unsigned **u);
/* Signs u[0..n) as one batch (1 <= n <= WIRE_BATCH_MAX): outs[k] gets the
 * envelope of u[k], malloc'd, the caller frees; on failure none is set. */
int envelope_sign_batch(const struct identity *me, struct envelope_unsigned *const *u, size_t n, uint8_t **outs,
			size_t *out_lens);
/* A cache of verified v2 roots (public key, count, root, signature), so a
 * receiver verifies each batch's signature once; the caller owns it. */
struct envelope_root_cache *envelope_root_cache_new(void);
/* Forgets every root (e.g. after a drain of frames); accepts NULL. */
void envelope_root_cache_clear(struct envelope_root_cache *c);
/* Frees *c and sets it to NULL; accepts NULL. */
void envelope_root_cache_destroy(struct envelope_root_cache **c);
/* How many Ed25519 verifies the cache has seen done (not found in it). */
uint64_t envelope_root_cache_verifies(const struct envelope_root_cache *c);

/* Frees out->body (wiped) and zeroes out; accepts NULL. */
void envelope_opened_clear(struct envelope_opened *out);
/* BLAKE2b-256 of exactly buf[0..len) into the caller's out. */
void envelope_hash(const uint8_t *buf, size_t len, uint8_t out[ENVELOPE_HASH_LEN]);

#endif
