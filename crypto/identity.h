/*
 * Agent identities: an Ed25519 signing keypair and an independent X25519
 * keypair, their 8-byte key id, the key file DIR/identity.key (mode 0600,
 * written atomically, refused if loose), DIR/identity.pub and the one-line
 * public identity "limes1:<key id hex>:<base64url keys>" neighbours paste
 * into their configuration. Secrets live in sodium_malloc'd memory owned by
 * struct identity. docs/protocol.md and docs/security.md give the bytes.
 */
#ifndef LIMES_CRYPTO_IDENTITY_H
#define LIMES_CRYPTO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDENTITY_KEY_ID_LEN 8
#define IDENTITY_PK_LEN 32
#define IDENTITY_SEED_LEN 32
/* "limes1:" + 16 hex + ":" + 86 base64url characters. */
#define IDENTITY_LINE_LEN 110
/* Buffer size for a line, with its NUL. */
#define IDENTITY_LINE_SIZE (IDENTITY_LINE_LEN + 1)

struct identity;

/* A public identity: what a neighbour knows about us. Plain data. */
struct peer_key {
	uint8_t sign_pk[IDENTITY_PK_LEN];     /* Ed25519 public key */
	uint8_t box_pk[IDENTITY_PK_LEN];      /* X25519 public key */
	uint8_t key_id[IDENTITY_KEY_ID_LEN];  /* derived from both, see identity_key_id() */
};

/* Makes a new identity in dir (created 0700 if missing): writes identity.key (0600, atomically) and identity.pub, fills the caller's line if not NULL; LIMES_E_EXISTS if identity.key exists and !force. */
int identity_generate(const char *dir, bool force, char *line, size_t line_len);
/* File stems in a key folder: the key in use, the next one made by
 * `limes keygen --next`, and the one a promotion replaced (kept for its
 * overlap). Each is STEM.key (secret, 0600) beside STEM.pub. */
#define IDENTITY_CURRENT "identity"
#define IDENTITY_NEXT "next"
#define IDENTITY_PREVIOUS "previous"
/* identity_generate writing dir/STEM.key and dir/STEM.pub instead. */
int identity_generate_as(const char *dir, const char *stem, bool force, char *line, size_t line_len);
/* identity_load reading dir/STEM.key instead (same checks). */
struct identity *identity_load_as(const char *dir, const char *stem, int *err, char *why, size_t why_len);
/* True when dir/STEM.key exists (whatever it holds). */
bool identity_file_exists(const char *dir, const char *stem);
/* Makes the next key the current one: an older previous.* goes to the key
 * ring (ring-KEYID.*), identity.* becomes previous.*, next.* becomes
 * identity.*, then the folder is fsynced. LIMES_E_NOTFOUND without a
 * next.key. Finishes a promotion a crash cut short between its renames. */
int identity_promote(const char *dir);
/* Key ring files: ring-KEYID.key/.pub, KEYID the key id in hex. */
#define IDENTITY_RING_PREFIX "ring-"
/* Writes the ring stem of key_id ("ring-" + 16 hex) into stem; LIMES_E_INVAL if len is too small. */
int identity_ring_stem(const uint8_t key_id[IDENTITY_KEY_ID_LEN], char *stem, size_t len);
/* Renames dir/FROM.key (and FROM.pub if present) to TO.*, then fsyncs dir. */
int identity_rename(const char *dir, const char *from, const char *to);
/* Removes dir/STEM.key and STEM.pub (missing ones are no error), then fsyncs dir. */
int identity_remove(const char *dir, const char *stem);
/* Swaps the keys held by a and b (both stay owned by their holders). */
void identity_exchange(struct identity *a, struct identity *b);
/* Loads dir/identity.key after checking it is a regular file owned by us with mode 0600 or stricter; caller owns the result (identity_destroy); NULL with *err and a reason naming the file in why. */
struct identity *identity_load(const char *dir, int *err, char *why, size_t why_len);
/* Builds an identity from raw secrets (test vectors, fuzzing); caller owns the result; NULL on failure. */
struct identity *identity_from_seeds(const uint8_t sign_seed[IDENTITY_SEED_LEN], const uint8_t box_sk[IDENTITY_SEED_LEN]);
/* The public half; owned by the identity, valid until identity_destroy. */
const struct peer_key *identity_public(const struct identity *id);
/* The X25519 secret key (32 bytes) for ZMQ_CURVE_SECRETKEY only; owned by the identity. */
const uint8_t *identity_curve_secret(const struct identity *id);
/* Wipes and frees *id and sets it to NULL; accepts NULL. */
void identity_destroy(struct identity **id);

/* Computes key_id = BLAKE2b-256("limes/key-id/v1\0" || sign_pk || box_pk)[0..8] into the caller's out. */
void identity_key_id(const uint8_t sign_pk[IDENTITY_PK_LEN], const uint8_t box_pk[IDENTITY_PK_LEN], uint8_t out[IDENTITY_KEY_ID_LEN]);
/* Parses a public identity line into the caller's out (surrounding blanks ignored); LIMES_E_KEY_FORMAT with the reason in why. */
int identity_line_parse(const char *line, struct peer_key *out, char *why, size_t why_len);
/* Formats pk as a public identity line into the caller's buf; LIMES_E_TOOBIG if len < IDENTITY_LINE_SIZE. */
int identity_line_format(const struct peer_key *pk, char *buf, size_t len);

#endif
