/*
 * The Merkle tree of protocol v2, shared by batch-signed envelopes
 * (batch.c) and receipts (receipt.c): levels built by pairing, an odd last
 * node carried up unchanged (never paired with itself), proofs written
 * leaf to root and folded back. The leaves' domains differ per use; the
 * nodes share "limes/node/v2\0". docs/protocol.md "The tree". Holds no state.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"
#include "proto/err.h"
#include "proto/wire.h"

#define HASH 32

void merkle_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void node(const uint8_t left[HASH], const uint8_t right[HASH], uint8_t out[HASH])
{
	uint8_t in[sizeof(DOMAIN_NODE) + 2 * HASH];

	memcpy(in, DOMAIN_NODE, sizeof(DOMAIN_NODE));
	memcpy(in + sizeof(DOMAIN_NODE), left, HASH);
	memcpy(in + sizeof(DOMAIN_NODE) + HASH, right, HASH);
	crypto_generichash(out, HASH, in, sizeof(in), NULL, 0);
}

size_t merkle_proof_len(uint32_t index, uint32_t count)
{
	size_t n = 0;
	for (uint32_t i = index, w = count; w > 1; i /= 2, w = (w + 1) / 2)
		if (i % 2 == 1 || i + 1 < w)
			n++;
	return n;
}

uint8_t (*merkle_build(uint8_t (*leaves)[HASH], size_t n))[HASH]
{
	/* all levels, leaves first: each level ceil(w / 2), so at most 2n nodes
	 * plus one per level */
	uint8_t (*tree)[HASH] = NULL;

	if (n < 1 || n > WIRE_BATCH_MAX)
		return NULL;
	tree = calloc(2 * n + WIRE_BATCH_DEPTH_MAX + 1, HASH);
	if (!tree)
		return NULL;
	memcpy(tree, leaves, n * HASH);
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
	return tree;
}

const uint8_t *merkle_root(uint8_t (*tree)[HASH], size_t n)
{
	size_t base = 0, w = n;
	while (w > 1) {
		base += w;
		w = (w + 1) / 2;
	}
	return tree[base];
}

size_t merkle_path(uint8_t (*tree)[HASH], size_t n, size_t index, uint8_t *path)
{
	size_t plen = 0, lb = 0, lw = n, i = index;
	while (lw > 1) {
		if (i % 2 == 1)
			memcpy(path + plen++ * HASH, tree[lb + i - 1], HASH);
		else if (i + 1 < lw)
			memcpy(path + plen++ * HASH, tree[lb + i + 1], HASH);
		lb += lw;
		lw = (lw + 1) / 2;
		i /= 2;
	}
	return plen;
}

/* node() through the memo: the slot of (level, parent index) answers only
 * when both children match it byte for byte, so a hit returns exactly what
 * node() would compute (it is a cache of a pure function, trusting nothing
 * about where the children came from); a miss computes and keeps. */
static void node_memo(struct merkle_memo *m, unsigned level, uint32_t parent, const uint8_t left[HASH],
		      const uint8_t right[HASH], uint8_t out[HASH])
{
	/* level l has at most WIRE_BATCH_MAX >> (l + 1) parents: the levels
	 * tile the slots without overlap for any count up to WIRE_BATCH_MAX */
	struct merkle_memo_slot *s =
		&m->slot[(MERKLE_MEMO_SLOTS - (MERKLE_MEMO_SLOTS >> level) + parent) % MERKLE_MEMO_SLOTS];

	if (s->used && memcmp(s->in, left, HASH) == 0 && memcmp(s->in + HASH, right, HASH) == 0) {
		memcpy(out, s->out, HASH);
		m->hits++;
		return;
	}
	memcpy(s->in, left, HASH);
	memcpy(s->in + HASH, right, HASH);
	node(left, right, out);
	memcpy(s->out, out, HASH);
	s->used = true;
}

static int fold(const uint8_t leaf[HASH], uint32_t index, uint32_t count, const uint8_t *path, size_t path_len,
		uint8_t root[HASH], struct merkle_memo *m)
{
	uint32_t i = index;
	unsigned level = 0;

	if (count < 1 || count > WIRE_BATCH_MAX || index >= count || path_len != merkle_proof_len(index, count) * HASH)
		return LIMES_E_ENV_MALFORMED;
	memcpy(root, leaf, HASH);
	for (uint32_t w = count; w > 1; i /= 2, w = (w + 1) / 2, level++) {
		const uint8_t *left = NULL, *right = NULL;
		if (i % 2 == 1) {
			left = path;
			right = root;
		} else if (i + 1 < w) {
			left = root;
			right = path;
		} else {
			continue;
		}
		path += HASH;
		if (m)
			node_memo(m, level, i / 2, left, right, root);
		else
			node(left, right, root);
	}
	return 0;
}

int merkle_fold(const uint8_t leaf[HASH], uint32_t index, uint32_t count, const uint8_t *path, size_t path_len,
		uint8_t root[HASH])
{
	return fold(leaf, index, count, path, path_len, root, NULL);
}

int merkle_fold_memo(const uint8_t leaf[HASH], uint32_t index, uint32_t count, const uint8_t *path,
		     size_t path_len, uint8_t root[HASH], struct merkle_memo *memo)
{
	return fold(leaf, index, count, path, path_len, root, memo);
}

void merkle_signed(const char *domain, size_t domain_len, uint32_t count, const uint8_t root[HASH], uint8_t *out)
{
	memcpy(out, domain, domain_len);
	merkle_u32be(out + domain_len, count);
	memcpy(out + domain_len + 4, root, HASH);
}
