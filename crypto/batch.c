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

static void put_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void batch_leaf(const uint8_t *hdr, size_t hdr_len, const uint8_t *ct, size_t ct_len, uint8_t out[HASH])
{
	crypto_generichash_state st;
	uint8_t len[4];

	put_u32be(len, (uint32_t)hdr_len);
	crypto_generichash_init(&st, NULL, 0, HASH);
	crypto_generichash_update(&st, (const uint8_t *)DOMAIN_LEAF, sizeof(DOMAIN_LEAF));
	crypto_generichash_update(&st, len, 4);
	crypto_generichash_update(&st, hdr, hdr_len);
	if (ct_len)
		crypto_generichash_update(&st, ct, ct_len);
	crypto_generichash_final(&st, out, HASH);
}

static void node(const uint8_t left[HASH], const uint8_t right[HASH], uint8_t out[HASH])
{
	uint8_t in[sizeof(DOMAIN_NODE) + 2 * HASH];

	memcpy(in, DOMAIN_NODE, sizeof(DOMAIN_NODE));
	memcpy(in + sizeof(DOMAIN_NODE), left, HASH);
	memcpy(in + sizeof(DOMAIN_NODE) + HASH, right, HASH);
	crypto_generichash(out, HASH, in, sizeof(in), NULL, 0);
}

/* "limes/batch/v2\0" || u32be(count) || root: what the one signature covers. */
static void batch_signed(uint32_t count, const uint8_t root[HASH], uint8_t out[BATCH_SIGNED_LEN])
{
	memcpy(out, DOMAIN_BATCH, sizeof(DOMAIN_BATCH));
	put_u32be(out + sizeof(DOMAIN_BATCH), count);
	memcpy(out + sizeof(DOMAIN_BATCH) + 4, root, HASH);
}

/* Number of sibling hashes in the proof of leaf `index` of `count`: one per
 * level where the node has a sibling (the last node of an odd level is
 * carried up unchanged and has none). */
static size_t proof_len(uint32_t index, uint32_t count)
{
	size_t n = 0;
	for (uint32_t i = index, w = count; w > 1; i /= 2, w = (w + 1) / 2)
		if (i % 2 == 1 || i + 1 < w)
			n++;
	return n;
}

int batch_verify(const struct wire_envelope *e, const uint8_t sign_pk[32], struct envelope_root_cache *cache)
{
	uint8_t h[HASH], msg[BATCH_SIGNED_LEN];
	const uint8_t *path = e->batch_path;
	uint32_t i = e->batch_index;

	if (!e->has_batch || e->batch_count < 1 || e->batch_count > WIRE_BATCH_MAX ||
	    e->batch_index >= e->batch_count ||
	    e->batch_path_len != proof_len(e->batch_index, e->batch_count) * HASH)
		return LIMES_E_ENV_MALFORMED;
	batch_leaf(e->header, e->header_len, e->ciphertext, e->ciphertext_len, h);
	for (uint32_t w = e->batch_count; w > 1; i /= 2, w = (w + 1) / 2) {
		if (i % 2 == 1) {
			node(path, h, h);
			path += HASH;
		} else if (i + 1 < w) {
			node(h, path, h);
			path += HASH;
		}
	}
	batch_signed(e->batch_count, h, msg);
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

int envelope_build_batch(const struct identity *me, struct envelope_batch_item *items, size_t n)
{
	uint8_t (*tree)[HASH] = NULL;
	uint8_t **hdr = NULL, **ct = NULL;
	size_t *hdr_len = NULL, *ct_len = NULL;
	uint8_t msg[BATCH_SIGNED_LEN], sig[64], path[WIRE_BATCH_DEPTH_MAX * HASH];
	int rc = LIMES_E_NOMEM;

	if (!me || !items || n < 1 || n > WIRE_BATCH_MAX)
		return LIMES_E_INVAL;
	for (size_t k = 0; k < n; k++) {
		items[k].out = NULL;
		items[k].out_len = 0;
	}
	/* all levels of the tree, leaves first: each level ceil(w / 2), so at
	 * most 2n nodes plus one per level (at most 11 levels) */
	tree = calloc(2 * n + WIRE_BATCH_DEPTH_MAX + 1, HASH);
	hdr = calloc(n, sizeof(*hdr));
	ct = calloc(n, sizeof(*ct));
	hdr_len = calloc(n, sizeof(*hdr_len));
	ct_len = calloc(n, sizeof(*ct_len));
	if (!tree || !hdr || !ct || !hdr_len || !ct_len)
		goto out;
	for (size_t k = 0; k < n; k++) {
		uint8_t nonce[WIRE_NONCE_LEN];
		if (items[k].nonce)
			memcpy(nonce, items[k].nonce, sizeof(nonce));
		else
			randombytes_buf(nonce, sizeof(nonce));
		items[k].h->version_major = WIRE_VERSION_BATCH;
		rc = envelope_seal_parts(me, items[k].to, items[k].h, nonce, items[k].body, items[k].body_len,
					 &hdr[k], &hdr_len[k], &ct[k], &ct_len[k]);
		if (rc < 0)
			goto out;
		batch_leaf(hdr[k], hdr_len[k], ct[k], ct_len[k], tree[k]);
	}
	/* level by level: pairs hashed, an odd last node carried up */
	size_t base = 0, w = n, top = n;
	while (w > 1) {
		for (size_t i = 0; i < w; i += 2) {
			if (i + 1 < w)
				node(tree[base + i], tree[base + i + 1], tree[top + i / 2]);
			else
				memcpy(tree[top + i / 2], tree[base + i], HASH);
		}
		base = top;
		top += (w + 1) / 2;
		w = (w + 1) / 2;
	}
	batch_signed((uint32_t)n, tree[base], msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), identity_sign_sk(me));
	for (size_t k = 0; k < n; k++) {
		size_t plen = 0, lb = 0, lw = n, i = k;
		while (lw > 1) {
			if (i % 2 == 1)
				memcpy(path + plen++ * HASH, tree[lb + i - 1], HASH);
			else if (i + 1 < lw)
				memcpy(path + plen++ * HASH, tree[lb + i + 1], HASH);
			lb += lw;
			lw = (lw + 1) / 2;
			i /= 2;
		}
		struct wire_envelope e = {
			.header = hdr[k], .header_len = hdr_len[k], .ciphertext = ct[k], .ciphertext_len = ct_len[k],
			.signature = sig, .has_batch = true, .batch_index = (uint32_t)k, .batch_count = (uint32_t)n,
			.batch_path = path, .batch_path_len = plen * HASH,
		};
		rc = wire_envelope_pack(&e, &items[k].out, &items[k].out_len);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t k = 0; hdr && ct && k < n; k++) {
		free(hdr[k]);
		free(ct[k]);
		if (rc < 0) {
			free(items[k].out);
			items[k].out = NULL;
			items[k].out_len = 0;
		}
	}
	free(tree);
	free(hdr);
	free(ct);
	free(hdr_len);
	free(ct_len);
	return rc;
}
