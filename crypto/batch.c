/*
 * Protocol v2: batch signatures. The envelopes of one batch are sealed one
 * by one as in v1; then a Merkle tree is built over the leaf hashes of their
 * header || ciphertext, the root is signed once, and each envelope carries
 * its inclusion proof, so any single one still verifies on its own (with
 * the sender's public key and nothing else). docs/protocol.md "Protocol v2"
 * gives the exact bytes. Owns the root cache, which only ever holds roots
 * whose signature verified.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/envelope.h"
#include "internal.h"
#include "proto/err.h"

#define HASH 32
#define CACHE_SLOTS 16

/* A root whose signature verified: the same public key, count, root and
 * signature bytes verify again without Ed25519. */
struct root_entry {
	uint8_t pk[32];
	uint8_t signed_msg[BATCH_SIGNED_LEN];
	uint8_t sig[64];
	bool used;
};

struct envelope_root_cache {
	struct root_entry slot[CACHE_SLOTS];
	size_t next;
	uint64_t hits, verifies;
	/* node hashes of recent proofs, so a batch's shared upper nodes are
	 * hashed once, not once per envelope */
	struct merkle_memo memo;
};

struct envelope_root_cache *envelope_root_cache_new(void)
{
	return calloc(1, sizeof(struct envelope_root_cache));
}

void envelope_root_cache_clear(struct envelope_root_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		c->slot[i].used = false;
	for (size_t i = 0; i < MERKLE_MEMO_SLOTS; i++)
		c->memo.slot[i].used = false;
}

void envelope_root_cache_destroy(struct envelope_root_cache **c)
{
	if (!c || !*c)
		return;
	free(*c);
	*c = NULL;
}

uint64_t envelope_root_cache_verifies(const struct envelope_root_cache *c)
{
	return c ? c->verifies : 0;
}

void batch_leaf(const uint8_t *hdr, size_t hdr_len, const uint8_t *ct, size_t ct_len, uint8_t out[HASH])
{
	crypto_generichash_state st;
	uint8_t len[4];

	merkle_u32be(len, (uint32_t)hdr_len);
	crypto_generichash_init(&st, NULL, 0, HASH);
	crypto_generichash_update(&st, (const uint8_t *)DOMAIN_LEAF, sizeof(DOMAIN_LEAF));
	crypto_generichash_update(&st, len, 4);
	crypto_generichash_update(&st, hdr, hdr_len);
	if (ct_len)
		crypto_generichash_update(&st, ct, ct_len);
	crypto_generichash_final(&st, out, HASH);
}

int batch_verify(const struct wire_envelope *e, const uint8_t sign_pk[32], struct envelope_root_cache *cache)
{
	uint8_t h[HASH], root[HASH], msg[BATCH_SIGNED_LEN];
	int rc;

	if (!e->has_batch)
		return LIMES_E_ENV_MALFORMED;
	batch_leaf(e->header, e->header_len, e->ciphertext, e->ciphertext_len, h);
	rc = cache ? merkle_fold_memo(h, e->batch_index, e->batch_count, e->batch_path, e->batch_path_len, root,
				      &cache->memo)
		   : merkle_fold(h, e->batch_index, e->batch_count, e->batch_path, e->batch_path_len, root);
	if (rc < 0)
		return rc;
	merkle_signed(DOMAIN_BATCH, sizeof(DOMAIN_BATCH), e->batch_count, root, msg);
	if (cache)
		for (size_t k = 0; k < CACHE_SLOTS; k++) {
			const struct root_entry *r = &cache->slot[k];
			if (r->used && memcmp(r->sig, e->signature, 64) == 0 && memcmp(r->signed_msg, msg, sizeof(msg)) == 0 &&
			    memcmp(r->pk, sign_pk, 32) == 0) {
				cache->hits++;
				return 0;
			}
		}
	if (crypto_sign_verify_detached(e->signature, msg, sizeof(msg), sign_pk) != 0)
		return LIMES_E_ENV_BAD_SIG;
	if (cache) {
		struct root_entry *r = &cache->slot[cache->next];
		cache->next = (cache->next + 1) % CACHE_SLOTS;
		cache->verifies++;
		memcpy(r->pk, sign_pk, 32);
		memcpy(r->signed_msg, msg, sizeof(msg));
		memcpy(r->sig, e->signature, 64);
		r->used = true;
	}
	return 0;
}

/* A v2 envelope sealed, waiting for its batch's signature. */
struct envelope_unsigned {
	uint8_t *hdr, *ct;
	size_t hdr_len, ct_len;
	uint8_t leaf[HASH];
};

struct envelope_unsigned *envelope_seal_unsigned(const struct identity *me, const struct envelope_peer *to,
						 struct wire_header *h, const uint8_t *nonce, const uint8_t *body,
						 size_t body_len, int *err)
{
	struct envelope_unsigned *u = calloc(1, sizeof(*u));
	uint8_t n[WIRE_NONCE_LEN];
	int rc = LIMES_E_NOMEM;

	if (!u)
		goto fail;
	if (nonce)
		memcpy(n, nonce, sizeof(n));
	else
		randombytes_buf(n, sizeof(n));
	h->version_major = WIRE_VERSION_BATCH;
	rc = envelope_seal_parts(me, to, h, n, body, body_len, &u->hdr, &u->hdr_len, &u->ct, &u->ct_len);
	if (rc < 0)
		goto fail;
	batch_leaf(u->hdr, u->hdr_len, u->ct, u->ct_len, u->leaf);
	return u;
fail:
	free(u);
	if (err)
		*err = rc;
	return NULL;
}

size_t envelope_unsigned_max_len(const struct envelope_unsigned *u)
{
	/* fields 1-3 as v1 (tag + varint length each), then the proof: tag,
	 * length, index and count varints, the path at its longest */
	return u->hdr_len + u->ct_len + WIRE_SIG_LEN + 3 * 6 + 2 + 6 + 6 + 3 + WIRE_BATCH_DEPTH_MAX * HASH;
}

void envelope_unsigned_free(struct envelope_unsigned **pu)
{
	if (!pu || !*pu)
		return;
	free((*pu)->hdr);
	free((*pu)->ct);
	free(*pu);
	*pu = NULL;
}

int envelope_sign_batch(const struct identity *me, struct envelope_unsigned *const *u, size_t n, uint8_t **outs,
			size_t *out_lens)
{
	uint8_t (*leaves)[HASH] = NULL, (*tree)[HASH] = NULL;
	uint8_t msg[BATCH_SIGNED_LEN], sig[64], path[WIRE_BATCH_DEPTH_MAX * HASH];
	int rc = LIMES_E_NOMEM;

	if (!me || !u || !outs || !out_lens || n < 1 || n > WIRE_BATCH_MAX)
		return LIMES_E_INVAL;
	for (size_t k = 0; k < n; k++) {
		outs[k] = NULL;
		out_lens[k] = 0;
	}
	leaves = malloc(n * HASH);
	if (!leaves)
		goto out;
	for (size_t k = 0; k < n; k++)
		memcpy(leaves[k], u[k]->leaf, HASH);
	if (!(tree = merkle_build(leaves, n)))
		goto out;
	merkle_signed(DOMAIN_BATCH, sizeof(DOMAIN_BATCH), (uint32_t)n, merkle_root(tree, n), msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), identity_sign_sk(me));
	for (size_t k = 0; k < n; k++) {
		size_t plen = merkle_path(tree, n, k, path);
		struct wire_envelope e = {
			.header = u[k]->hdr, .header_len = u[k]->hdr_len, .ciphertext = u[k]->ct,
			.ciphertext_len = u[k]->ct_len, .signature = sig, .has_batch = true, .batch_index = (uint32_t)k,
			.batch_count = (uint32_t)n, .batch_path = path, .batch_path_len = plen * HASH,
		};
		rc = wire_envelope_pack(&e, &outs[k], &out_lens[k]);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		for (size_t k = 0; k < n; k++) {
			free(outs[k]);
			outs[k] = NULL;
			out_lens[k] = 0;
		}
	free(tree);
	free(leaves);
	return rc;
}

int envelope_build_batch(const struct identity *me, struct envelope_batch_item *items, size_t n)
{
	struct envelope_unsigned **u = NULL;
	uint8_t **outs = NULL;
	size_t *lens = NULL;
	int rc = LIMES_E_NOMEM;

	if (!me || !items || n < 1 || n > WIRE_BATCH_MAX)
		return LIMES_E_INVAL;
	u = calloc(n, sizeof(*u));
	outs = calloc(n, sizeof(*outs));
	lens = calloc(n, sizeof(*lens));
	if (!u || !outs || !lens)
		goto out;
	for (size_t k = 0; k < n; k++) {
		u[k] = envelope_seal_unsigned(me, items[k].to, items[k].h, items[k].nonce, items[k].body,
					      items[k].body_len, &rc);
		if (!u[k])
			goto out;
	}
	if ((rc = envelope_sign_batch(me, u, n, outs, lens)) < 0)
		goto out;
	for (size_t k = 0; k < n; k++) {
		items[k].out = outs[k];
		items[k].out_len = lens[k];
	}
out:
	for (size_t k = 0; u && k < n; k++)
		envelope_unsigned_free(&u[k]);
	free(u);
	free(outs);
	free(lens);
	return rc;
}
