/*
 * Envelope build and open. Owns the per-peer pair keys (struct
 * envelope_peer, sodium_malloc'd) and the per-message keys, which live on the
 * stack only for one call and are wiped before it returns. Signatures and
 * the AEAD are computed over the header bytes as received, never over a
 * re-serialised header.
 */
#include "crypto/envelope.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/err.h"
#include "internal.h"
#include "crypto/random.h"

#define KEY_LEN 32

struct envelope_peer {
	uint8_t pair_key[KEY_LEN];
	struct peer_key key;
	uint8_t my_key_id[IDENTITY_KEY_ID_LEN];
	char id[WIRE_AGENCY_MAX + 1];
};

enum open_mode { OPEN_UNSEAL, OPEN_VERIFY_ONLY };

struct envelope_peer *envelope_peer_new(const struct identity *me, const struct peer_key *peer, const char *peer_id)
{
	const struct peer_key *mine = identity_public(me);
	struct envelope_peer *p = NULL;
	uint8_t shared[crypto_scalarmult_BYTES];
	uint8_t kid[IDENTITY_KEY_ID_LEN];
	uint8_t salt[sizeof(DOMAIN_SEAL) + 2 * IDENTITY_KEY_ID_LEN];
	const uint8_t *lo, *hi;

	if (random_init() < 0 || !mine || !peer || wire_agency_id_check(peer_id) < 0)
		return NULL;
	/* A key whose id does not match it was damaged or forged: refuse it here. */
	identity_key_id(peer->sign_pk, peer->box_pk, kid);
	if (memcmp(kid, peer->key_id, sizeof(kid)) != 0)
		return NULL;
	p = sodium_malloc(sizeof(*p));
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	/* libsodium refuses an all-zero result (a low-order peer key); check again anyway. */
	if (crypto_scalarmult(shared, identity_box_sk(me), peer->box_pk) != 0 ||
	    sodium_is_zero(shared, sizeof(shared)))
		goto fail;
	/* Ordered key ids make the pair key the same from both ends. */
	if (memcmp(mine->key_id, peer->key_id, IDENTITY_KEY_ID_LEN) <= 0) {
		lo = mine->key_id;
		hi = peer->key_id;
	} else {
		lo = peer->key_id;
		hi = mine->key_id;
	}
	memcpy(salt, DOMAIN_SEAL, sizeof(DOMAIN_SEAL));
	memcpy(salt + sizeof(DOMAIN_SEAL), lo, IDENTITY_KEY_ID_LEN);
	memcpy(salt + sizeof(DOMAIN_SEAL) + IDENTITY_KEY_ID_LEN, hi, IDENTITY_KEY_ID_LEN);
	if (crypto_generichash(p->pair_key, KEY_LEN, salt, sizeof(salt), shared, sizeof(shared)) != 0)
		goto fail;
	sodium_memzero(shared, sizeof(shared));
	p->key = *peer;
	memcpy(p->my_key_id, mine->key_id, IDENTITY_KEY_ID_LEN);
	memcpy(p->id, peer_id, strlen(peer_id) + 1);
	return p;
fail:
	sodium_memzero(shared, sizeof(shared));
	sodium_free(p);
	return NULL;
}

void envelope_peer_destroy(struct envelope_peer **p)
{
	if (!p || !*p)
		return;
	sodium_free(*p);  /* wipes */
	*p = NULL;
}

const struct peer_key *envelope_peer_key(const struct envelope_peer *p)
{
	return p ? &p->key : NULL;
}

const char *envelope_peer_id(const struct envelope_peer *p)
{
	return p ? p->id : NULL;
}

void envelope_hash(const uint8_t *buf, size_t len, uint8_t out[ENVELOPE_HASH_LEN])
{
	crypto_generichash(out, ENVELOPE_HASH_LEN, buf, len, NULL, 0);
}

void envelope_opened_clear(struct envelope_opened *out)
{
	if (!out)
		return;
	if (out->body) {
		sodium_memzero(out->body, out->body_len);
		free(out->body);
	}
	memset(out, 0, sizeof(*out));
}

static void message_key(const struct envelope_peer *p, const uint8_t id[WIRE_ID_LEN], uint8_t key[KEY_LEN])
{
	crypto_generichash(key, KEY_LEN, id, WIRE_ID_LEN, p->pair_key, KEY_LEN);
}

/* "limes/envelope/v1\0" || u32be(len(header)) || header || ciphertext, malloc'd. */
static int signed_bytes(const uint8_t *hdr, size_t hdr_len, const uint8_t *ct, size_t ct_len,
			uint8_t **out, size_t *out_len)
{
	size_t n;
	uint8_t *buf, *p;

	if (hdr_len > UINT32_MAX || ct_len > SIZE_MAX - sizeof(DOMAIN_ENVELOPE) - 4 - hdr_len)
		return LIMES_E_TOOBIG;
	n = sizeof(DOMAIN_ENVELOPE) + 4 + hdr_len + ct_len;
	buf = malloc(n);
	if (!buf)
		return LIMES_E_NOMEM;
	p = buf;
	memcpy(p, DOMAIN_ENVELOPE, sizeof(DOMAIN_ENVELOPE));
	p += sizeof(DOMAIN_ENVELOPE);
	*p++ = (uint8_t)(hdr_len >> 24);
	*p++ = (uint8_t)(hdr_len >> 16);
	*p++ = (uint8_t)(hdr_len >> 8);
	*p++ = (uint8_t)hdr_len;
	memcpy(p, hdr, hdr_len);
	p += hdr_len;
	if (ct_len)
		memcpy(p, ct, ct_len);
	*out = buf;
	*out_len = n;
	return 0;
}

static bool signature_ok(const struct wire_envelope *e, const uint8_t sign_pk[IDENTITY_PK_LEN], int *err,
			 struct envelope_root_cache *cache)
{
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	bool ok;

	if (e->has_batch) {
		/* v2: the proof folds to a root signed once for the batch */
		*err = batch_verify(e, sign_pk, cache);
		return *err == 0;
	}
	*err = signed_bytes(e->header, e->header_len, e->ciphertext, e->ciphertext_len, &msg, &msg_len);
	if (*err < 0)
		return false;
	ok = crypto_sign_verify_detached(e->signature, msg, msg_len, sign_pk) == 0;
	free(msg);
	*err = ok ? 0 : LIMES_E_ENV_BAD_SIG;
	return ok;
}

/* Opens the sealed body into a malloc'd buffer; LIMES_E_ENV_DECRYPT if it does not authenticate. */
static int unseal(const struct envelope_peer *p, const struct wire_envelope *e, const struct wire_header *h,
		  uint8_t **body, size_t *body_len)
{
	uint8_t key[KEY_LEN];
	unsigned long long n = 0;
	uint8_t *plain;
	int rc = 0;

	*body = NULL;
	*body_len = 0;
	if (e->ciphertext_len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return LIMES_E_ENV_DECRYPT;
	plain = malloc(e->ciphertext_len - crypto_aead_xchacha20poly1305_ietf_ABYTES + 1);
	if (!plain)
		return LIMES_E_NOMEM;
	message_key(p, h->message_id, key);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &n, NULL, e->ciphertext, e->ciphertext_len,
						       e->header, e->header_len, h->nonce, key) != 0) {
		free(plain);
		rc = LIMES_E_ENV_DECRYPT;
	} else {
		*body = plain;
		*body_len = (size_t)n;
	}
	sodium_memzero(key, sizeof(key));
	return rc;
}

int envelope_seal_parts(const struct identity *me, const struct envelope_peer *to, struct wire_header *h,
			const uint8_t nonce[24], const uint8_t *body, size_t body_len, uint8_t **hdr_out, size_t *hdr_out_len,
			uint8_t **ct_out, size_t *ct_out_len)
{
	const struct peer_key *mine = identity_public(me);
	uint8_t key[KEY_LEN];
	uint8_t *hdr = NULL, *ct = NULL;
	size_t hdr_len = 0;
	unsigned long long ct_len = 0;
	int rc;

	if (!mine || !to || !h || !nonce || (!body && body_len))
		return LIMES_E_INVAL;
	/* The pair key must be ours with this peer, and the header must say so. */
	if (memcmp(to->my_key_id, mine->key_id, IDENTITY_KEY_ID_LEN) != 0 || strcmp(h->recipient, to->id) != 0)
		return LIMES_E_INVAL;
	if (body_len > SIZE_MAX - crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return LIMES_E_TOOBIG;
	if (!h->version_major)
		h->version_major = WIRE_VERSION_MAJOR;
	if (!h->schema_major)
		h->schema_major = 1;
	memcpy(h->sender_key_id, mine->key_id, IDENTITY_KEY_ID_LEN);
	memcpy(h->recipient_key_id, to->key.key_id, IDENTITY_KEY_ID_LEN);
	memcpy(h->nonce, nonce, WIRE_NONCE_LEN);
	if ((rc = wire_header_pack(h, &hdr, &hdr_len)) < 0)
		goto out;
	rc = LIMES_E_NOMEM;
	ct = malloc(body_len + crypto_aead_xchacha20poly1305_ietf_ABYTES);
	if (!ct)
		goto out;
	message_key(to, h->message_id, key);
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, body, body_len, hdr, hdr_len, NULL, h->nonce, key);
	sodium_memzero(key, sizeof(key));
	*hdr_out = hdr;
	*hdr_out_len = hdr_len;
	*ct_out = ct;
	*ct_out_len = (size_t)ct_len;
	return 0;
out:
	free(ct);
	free(hdr);
	return rc;
}

int envelope_build_with_nonce(const struct identity *me, const struct envelope_peer *to, struct wire_header *h,
			      const uint8_t nonce[WIRE_NONCE_LEN], const uint8_t *body, size_t body_len,
			      uint8_t **out, size_t *out_len)
{
	uint8_t sig[crypto_sign_BYTES];
	uint8_t *hdr = NULL, *ct = NULL, *msg = NULL;
	size_t hdr_len = 0, ct_len = 0, msg_len = 0;
	struct wire_envelope e = { 0 };
	int rc;

	if (!out || !out_len || !h)
		return LIMES_E_INVAL;
	/* a v1 envelope (version_major 0 means 1; tests may write others to see
	 * them refused); the v2 builder is envelope_build_batch */
	if ((rc = envelope_seal_parts(me, to, h, nonce, body, body_len, &hdr, &hdr_len, &ct, &ct_len)) < 0)
		return rc;
	if ((rc = signed_bytes(hdr, hdr_len, ct, ct_len, &msg, &msg_len)) < 0)
		goto out;
	crypto_sign_detached(sig, NULL, msg, msg_len, identity_sign_sk(me));
	e.header = hdr;
	e.header_len = hdr_len;
	e.ciphertext = ct;
	e.ciphertext_len = ct_len;
	e.signature = sig;
	rc = wire_envelope_pack(&e, out, out_len);
out:
	free(msg);
	free(ct);
	free(hdr);
	return rc;
}

int envelope_build(const struct identity *me, const struct envelope_peer *to, struct wire_header *h,
		   const uint8_t *body, size_t body_len, uint8_t **out, size_t *out_len)
{
	uint8_t nonce[WIRE_NONCE_LEN];

	randombytes_buf(nonce, sizeof(nonce));
	return envelope_build_with_nonce(me, to, h, nonce, body, body_len, out, out_len);
}

/* Check 3: a major version we take (v1 always, v2 when max_version says so),
 * and a batch proof exactly when the version is 2. */
static int version_check(const struct wire_envelope *e, const struct wire_header *h, uint32_t max_version)
{
	uint32_t max = max_version > WIRE_VERSION_MAJOR ? max_version : WIRE_VERSION_MAJOR;

	if (h->version_major < WIRE_VERSION_MAJOR || h->version_major > max || h->version_major > WIRE_VERSION_BATCH)
		return LIMES_E_ENV_VERSION;
	if ((h->version_major == WIRE_VERSION_BATCH) != e->has_batch)
		return LIMES_E_ENV_MALFORMED;
	return 0;
}

/* The time checks, in order: expired, from the future, lifetime too long. */
static int check_times(const struct envelope_open_params *p, const struct wire_header *h)
{
	/* An envelope that expires before it was created was never valid. */
	if (h->expires_ms < p->now_ms || h->expires_ms < h->created_ms)
		return LIMES_E_ENV_EXPIRED;
	if (h->created_ms > p->now_ms && h->created_ms - p->now_ms > p->max_skew_ms)
		return LIMES_E_ENV_FUTURE;
	if (h->expires_ms - h->created_ms > p->max_ttl_ms)
		return LIMES_E_ENV_TTL;
	return 0;
}

/* envelope_parse; *in_header tells a fault inside the header from one in the envelope around it. */
static int parse(const uint8_t *buf, size_t len, size_t max, struct envelope_parsed *out, bool *in_header)
{
	int rc;

	*in_header = false;
	memset(out, 0, sizeof(*out));
	/* the hash first: a refusal of bytes that do not decode still names them */
	if (buf)
		envelope_hash(buf, len, out->hash);
	if ((rc = wire_envelope_unpack(buf, len, max, &out->env)) < 0)
		return rc;
	if ((rc = wire_header_unpack(out->env.header, out->env.header_len, out->env.header_len, &out->header)) < 0) {
		*in_header = true;
		wire_envelope_clear(&out->env);
		return rc;
	}
	out->buf = buf;
	out->len = len;
	return 0;
}

int envelope_parse(const uint8_t *buf, size_t len, size_t max, struct envelope_parsed *out)
{
	bool in_header;

	return out ? parse(buf, len, max, out, &in_header) : LIMES_E_INVAL;
}

void envelope_parsed_clear(struct envelope_parsed *e)
{
	if (!e)
		return;
	wire_envelope_clear(&e->env);
	memset(e, 0, sizeof(*e));
}

/* Every check after the decode, in order (docs/protocol.md "Opening an envelope"). */
static int open_decoded(const struct envelope_open_params *p, const struct envelope_parsed *e,
			struct envelope_opened *out, enum open_mode mode)
{
	const struct peer_key *mine = NULL;
	const struct envelope_peer *sender;
	int rc, err = 0;

	out->header = e->header;
	if (mode == OPEN_UNSEAL)
		mine = identity_public(p->me);
	if ((rc = version_check(&e->env, &out->header, p->max_version)) < 0)
		goto out;
	if (mode == OPEN_UNSEAL && strcmp(out->header.recipient, p->my_id) != 0) {
		rc = LIMES_E_ENV_RECIPIENT;
		goto out;
	}
	if ((rc = check_times(p, &out->header)) < 0)
		goto out;
	sender = p->lookup(p->lookup_arg, out->header.sender, out->header.sender_key_id, out->header.created_ms, &err);
	if (!sender) {
		rc = err == LIMES_E_ENV_KEY_INVALID ? LIMES_E_ENV_KEY_INVALID : LIMES_E_ENV_UNKNOWN_KEY;
		goto out;
	}
	/* Trust the lookup, but never verify with a key other than the one named. */
	if (memcmp(sender->key.key_id, out->header.sender_key_id, IDENTITY_KEY_ID_LEN) != 0 ||
	    strcmp(sender->id, out->header.sender) != 0) {
		rc = LIMES_E_ENV_UNKNOWN_KEY;
		goto out;
	}
	if (!signature_ok(&e->env, sender->key.sign_pk, &rc, p->cache))
		goto out;
	if (mode == OPEN_UNSEAL) {
		/* Sealed to another (older) key of ours: we cannot open it. */
		if (memcmp(out->header.recipient_key_id, mine->key_id, IDENTITY_KEY_ID_LEN) != 0 ||
		    memcmp(sender->my_key_id, mine->key_id, IDENTITY_KEY_ID_LEN) != 0) {
			rc = LIMES_E_ENV_DECRYPT;
			goto out;
		}
		if ((rc = unseal(sender, &e->env, &out->header, &out->body, &out->body_len)) < 0)
			goto out;
	}
	memcpy(out->hash, e->hash, sizeof(out->hash));
	rc = 0;
out:
	if (rc < 0)
		envelope_opened_clear(out);
	return rc;
}

static bool params_ok(const struct envelope_open_params *p, enum open_mode mode)
{
	return p && p->lookup && !(mode == OPEN_UNSEAL && (!p->me || !p->my_id));
}

static int open_parsed(const struct envelope_open_params *p, const struct envelope_parsed *e,
		       struct envelope_opened *out, enum open_mode mode)
{
	if (!out)
		return LIMES_E_INVAL;
	memset(out, 0, sizeof(*out));
	if (!params_ok(p, mode) || !e || !e->env.header)
		return LIMES_E_INVAL;
	if (e->len > p->max_envelope_bytes)
		return LIMES_E_ENV_OVERSIZED;
	return open_decoded(p, e, out, mode);
}

static int open_common(const struct envelope_open_params *p, const uint8_t *buf, size_t len,
		       struct envelope_opened *out, enum open_mode mode)
{
	struct envelope_parsed e;
	bool in_header;
	int rc;

	if (!out)
		return LIMES_E_INVAL;
	memset(out, 0, sizeof(*out));
	if (!params_ok(p, mode))
		return LIMES_E_INVAL;
	if (len > p->max_envelope_bytes)
		return LIMES_E_ENV_OVERSIZED;
	rc = parse(buf, len, p->max_envelope_bytes, &e, &in_header);
	/* The header travels as a complete field: any fault inside it is malformation. */
	if (rc < 0)
		return in_header ? LIMES_E_ENV_MALFORMED : rc;
	rc = open_decoded(p, &e, out, mode);
	envelope_parsed_clear(&e);
	return rc;
}

int envelope_open_parsed(const struct envelope_open_params *p, const struct envelope_parsed *e,
			 struct envelope_opened *out)
{
	return open_parsed(p, e, out, OPEN_UNSEAL);
}

int envelope_verify_parsed(const struct envelope_open_params *p, const struct envelope_parsed *e,
			   struct envelope_opened *out)
{
	return open_parsed(p, e, out, OPEN_VERIFY_ONLY);
}

int envelope_open(const struct envelope_open_params *p, const uint8_t *buf, size_t len, struct envelope_opened *out)
{
	return open_common(p, buf, len, out, OPEN_UNSEAL);
}

int envelope_verify(const struct envelope_open_params *p, const uint8_t *buf, size_t len, struct envelope_opened *out)
{
	return open_common(p, buf, len, out, OPEN_VERIFY_ONLY);
}

/* A stored envelope's header, as the one who wrote it (own: sealed to pair
 * by us, signed by our key) or as its recipient (sealed to us by pair):
 * 0, or why the pair key cannot be the one it was made with. */
static int stored_header_check(const struct wire_envelope *e, const struct wire_header *h,
			       const struct peer_key *mine, const struct envelope_peer *pair, bool own)
{
	int rc;

	if (own) {
		if ((rc = version_check(e, h, WIRE_VERSION_BATCH)) < 0)
			return rc;
		if (strcmp(h->recipient, pair->id) != 0 ||
		    memcmp(h->recipient_key_id, pair->key.key_id, IDENTITY_KEY_ID_LEN) != 0)
			return LIMES_E_ENV_RECIPIENT;
		if (memcmp(h->sender_key_id, mine->key_id, IDENTITY_KEY_ID_LEN) != 0)
			return LIMES_E_ENV_UNKNOWN_KEY;
		return signature_ok(e, mine->sign_pk, &rc, NULL) ? 0 : rc;
	}
	/* The pair key is only right for the keys the envelope names. */
	if (strcmp(h->sender, pair->id) != 0 || memcmp(h->sender_key_id, pair->key.key_id, IDENTITY_KEY_ID_LEN) != 0)
		return LIMES_E_ENV_UNKNOWN_KEY;
	if (memcmp(h->recipient_key_id, mine->key_id, IDENTITY_KEY_ID_LEN) != 0)
		return LIMES_E_ENV_DECRYPT;
	return 0;
}

/* Opens a stored envelope with the pair key it was made with: decode, the
 * checks of stored_header_check, unseal; no time checks. */
static int open_stored(const struct identity *me, const struct envelope_peer *pair, const uint8_t *buf, size_t len,
		       size_t max_envelope_bytes, bool own, struct envelope_opened *out)
{
	const struct peer_key *mine = identity_public(me);
	struct wire_envelope e = { 0 };
	int rc;

	if (!out)
		return LIMES_E_INVAL;
	memset(out, 0, sizeof(*out));
	/* re-opening our own leaves a missing buffer to the decoder (as it always did) */
	if (!mine || !pair || (!own && !buf) || memcmp(pair->my_key_id, mine->key_id, IDENTITY_KEY_ID_LEN) != 0)
		return LIMES_E_INVAL;
	if ((rc = wire_envelope_unpack(buf, len, max_envelope_bytes, &e)) < 0)
		return rc;
	if (wire_header_unpack(e.header, e.header_len, e.header_len, &out->header) < 0) {
		rc = LIMES_E_ENV_MALFORMED;
		goto out;
	}
	if ((rc = stored_header_check(&e, &out->header, mine, pair, own)) < 0)
		goto out;
	if ((rc = unseal(pair, &e, &out->header, &out->body, &out->body_len)) < 0)
		goto out;
	envelope_hash(buf, len, out->hash);
	rc = 0;
out:
	wire_envelope_clear(&e);
	if (rc < 0)
		envelope_opened_clear(out);
	return rc;
}

int envelope_reopen_own(const struct identity *me, const struct envelope_peer *to, const uint8_t *buf, size_t len,
			size_t max_envelope_bytes, struct envelope_opened *out)
{
	return open_stored(me, to, buf, len, max_envelope_bytes, true, out);
}

int envelope_unseal(const struct identity *me, const struct envelope_peer *from, const uint8_t *buf, size_t len,
		    size_t max_envelope_bytes, struct envelope_opened *out)
{
	return open_stored(me, from, buf, len, max_envelope_bytes, false, out);
}
