/* Protocol v2: batch-signed envelopes, each opening on its own with its proof. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "crypto/envelope.h"
#include "support/crypto_testutil.h"

static struct ct_world w;
static const char body[] = "{\"alert_id\":\"RS-2025-000117\",\"category\":\"stolen_vehicle\"}";

static void setup(void)
{
	cr_assert(eq(int, ct_world_init(&w), 0));
}

static void teardown(void)
{
	ct_world_fini(&w);
}

TestSuite(batch, .init = setup, .fini = teardown, .timeout = 120);

/* n envelopes A -> B, message ids 1..n, bodies "<body> #k". */
static void build_n(size_t n, struct envelope_batch_item *items, struct wire_header *h, char (*bodies)[128])
{
	for (size_t k = 0; k < n; k++) {
		ct_header(&h[k], CT_A, CT_B, (uint8_t)(k + 1));
		snprintf(bodies[k], sizeof(bodies[k]), "%s #%zu", body, k);
		items[k] = (struct envelope_batch_item){ .to = w.peer[CT_A][CT_B], .h = &h[k],
							 .body = (const uint8_t *)bodies[k], .body_len = strlen(bodies[k]) };
	}
	cr_assert(eq(int, envelope_build_batch(w.id[CT_A], items, n), 0));
}

static void free_n(size_t n, struct envelope_batch_item *items)
{
	for (size_t k = 0; k < n; k++)
		free(items[k].out);
}

static int open_v2(const uint8_t *buf, size_t len, struct envelope_root_cache *cache, struct envelope_opened *o)
{
	struct envelope_open_params p = ct_params(&w, CT_B);
	p.max_version = 2;
	p.cache = cache;
	return envelope_open(&p, buf, len, o);
}

Test(batch, every_envelope_of_every_tree_size_opens_alone)
{
	enum { MAX = 40 };
	struct envelope_batch_item items[MAX];
	struct wire_header h[MAX];
	static char bodies[MAX][128];
	struct envelope_opened o;

	for (size_t n = 1; n <= MAX; n++) {
		build_n(n, items, h, bodies);
		for (size_t k = 0; k < n; k++) {
			/* no cache: nothing but the envelope and A's key */
			cr_assert(eq(int, open_v2(items[k].out, items[k].out_len, NULL, &o), 0), "n=%zu k=%zu", n, k);
			cr_assert(eq(u32, o.header.version_major, 2));
			cr_assert(eq(sz, o.body_len, strlen(bodies[k])));
			cr_assert(eq(int, memcmp(o.body, bodies[k], o.body_len), 0));
			cr_assert(eq(u8, o.header.message_id[0], (uint8_t)(k + 1)));
			envelope_opened_clear(&o);
		}
		free_n(n, items);
	}
}

Test(batch, one_signature_per_batch_verified_once_with_a_cache)
{
	enum { N = 200 };
	static struct envelope_batch_item items[N];
	static struct wire_header h[N];
	static char bodies[N][128];
	struct envelope_opened o;
	struct envelope_root_cache *cache = envelope_root_cache_new();

	cr_assert(cache != NULL);
	build_n(N, items, h, bodies);
	/* the same 64 signature bytes in every envelope of the batch */
	struct wire_envelope e0, ek;
	cr_assert(eq(int, wire_envelope_unpack(items[0].out, items[0].out_len, CT_MAX_BYTES, &e0), 0));
	for (size_t k = 1; k < N; k++) {
		cr_assert(eq(int, wire_envelope_unpack(items[k].out, items[k].out_len, CT_MAX_BYTES, &ek), 0));
		cr_assert(eq(int, memcmp(ek.signature, e0.signature, 64), 0));
		cr_assert(eq(u32, ek.batch_index, (uint32_t)k));
		cr_assert(eq(u32, ek.batch_count, N));
		wire_envelope_clear(&ek);
	}
	wire_envelope_clear(&e0);
	for (size_t k = 0; k < N; k++) {
		cr_assert(eq(int, open_v2(items[k].out, items[k].out_len, cache, &o), 0));
		envelope_opened_clear(&o);
	}
	cr_assert(eq(u64, envelope_root_cache_verifies(cache), 1));
	envelope_root_cache_clear(cache);
	cr_assert(eq(int, open_v2(items[N - 1].out, items[N - 1].out_len, cache, &o), 0));
	envelope_opened_clear(&o);
	cr_assert(eq(u64, envelope_root_cache_verifies(cache), 2));
	envelope_root_cache_destroy(&cache);
	cr_assert(cache == NULL);
	free_n(N, items);
}

Test(batch, a_v1_only_receiver_refuses_v2_as_unknown_version)
{
	struct envelope_batch_item items[3];
	struct wire_header h[3];
	static char bodies[3][128];
	struct envelope_opened o;
	struct envelope_open_params p = ct_params(&w, CT_B);

	build_n(3, items, h, bodies);
	cr_assert(eq(int, envelope_open(&p, items[1].out, items[1].out_len, &o), LIMES_E_ENV_VERSION));
	p.max_version = 1;
	cr_assert(eq(int, envelope_open(&p, items[1].out, items[1].out_len, &o), LIMES_E_ENV_VERSION));
	/* and a v2 receiver still takes v1 */
	uint8_t *env = NULL;
	size_t len = 0;
	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	cr_assert(eq(int, open_v2(env, len, NULL, &o), 0));
	envelope_opened_clear(&o);
	free(env);
	free_n(3, items);
}

Test(batch, relay_verifies_and_sender_reopens_v2)
{
	struct envelope_batch_item items[3];
	struct wire_header h[3];
	static char bodies[3][128];
	struct envelope_opened o;

	build_n(3, items, h, bodies);
	struct envelope_open_params p = ct_params(&w, CT_C);
	p.max_version = 2;
	cr_assert(eq(int, envelope_verify(&p, items[2].out, items[2].out_len, &o), 0));
	envelope_opened_clear(&o);
	cr_assert(eq(int, envelope_reopen_own(w.id[CT_A], w.peer[CT_A][CT_B], items[2].out, items[2].out_len,
					      CT_MAX_BYTES, &o), 0));
	cr_assert(eq(int, memcmp(o.body, bodies[2], o.body_len), 0));
	envelope_opened_clear(&o);
	free_n(3, items);
}

/* The v1 sweep, for v2: every bit of the envelope (header, ciphertext, root
 * signature, proof index, count and path), opened cold and with the batch's
 * true root already in the cache (a flipped signature must not ride on it). */
Test(batch, refuses_every_flipped_bit_cold_and_with_the_root_cached)
{
	struct envelope_batch_item items[3];
	struct wire_header h[3];
	static char bodies[3][128];
	struct envelope_opened o;
	struct envelope_root_cache *cache = envelope_root_cache_new();

	build_n(3, items, h, bodies);
	/* leaf 0 of 3: a proof of two hashes */
	uint8_t *env = items[0].out;
	size_t len = items[0].out_len;
	for (size_t bit = 0; bit < len * 8; bit++) {
		env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int cold = open_v2(env, len, NULL, &o);
		cr_assert(o.body == NULL);
		/* warm: another envelope of the batch put the true root in the cache */
		envelope_root_cache_clear(cache);
		cr_assert(eq(int, open_v2(items[1].out, items[1].out_len, cache, &o), 0));
		envelope_opened_clear(&o);
		int warm = open_v2(env, len, cache, &o);
		cr_assert(o.body == NULL);
		env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(lt(int, cold, 0), "bit %zu of %zu accepted", bit, len * 8);
		cr_assert(lt(int, warm, 0), "bit %zu of %zu accepted with the root cached", bit, len * 8);
	}
	cr_assert(eq(int, open_v2(env, len, cache, &o), 0));
	envelope_opened_clear(&o);
	envelope_root_cache_destroy(&cache);
	free_n(3, items);
}

/* The cache keeps the node hashes of proofs it folded (crypto/merkle.c,
 * merkle_fold_memo): with the envelope's own path and root in it, every
 * flipped bit of the envelope must still be refused, and every envelope of
 * a batch opened through one cache, in any order, still opens. */
Test(batch, refuses_every_flipped_bit_with_its_own_nodes_cached)
{
	enum { N = 37 };
	struct envelope_batch_item items[N];
	struct wire_header h[N];
	static char bodies[N][128];
	struct envelope_opened o;
	struct envelope_root_cache *cache = envelope_root_cache_new();

	build_n(N, items, h, bodies);
	for (size_t k = N; k-- > 0;) {
		cr_assert(eq(int, open_v2(items[k].out, items[k].out_len, cache, &o), 0), "envelope %zu", k);
		cr_assert(eq(int, memcmp(o.body, bodies[k], o.body_len), 0));
		envelope_opened_clear(&o);
	}
	cr_assert(eq(u64, envelope_root_cache_verifies(cache), 1));
	/* leaf 20 of 37: a proof of six hashes, each node already memoised */
	uint8_t *env = items[20].out;
	size_t len = items[20].out_len;
	for (size_t bit = 0; bit < len * 8; bit++) {
		env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int warm = open_v2(env, len, cache, &o);
		cr_assert(o.body == NULL);
		env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(lt(int, warm, 0), "bit %zu of %zu accepted with its nodes cached", bit, len * 8);
		/* and the true envelope still opens through the same cache */
		if (bit % 97 == 0) {
			cr_assert(eq(int, open_v2(env, len, cache, &o), 0));
			envelope_opened_clear(&o);
		}
	}
	envelope_root_cache_destroy(&cache);
	free_n(N, items);
}

/* A proof that does not fit its (index, count) is malformed, not a bad
 * signature: a receiver can tell damage from forgery. */
Test(batch, proof_of_the_wrong_shape_is_malformed)
{
	struct envelope_batch_item items[3];
	struct wire_header h[3];
	static char bodies[3][128];
	struct envelope_opened o;
	struct wire_envelope e;
	uint8_t *re = NULL;
	size_t re_len = 0;

	build_n(3, items, h, bodies);
	cr_assert(eq(int, wire_envelope_unpack(items[0].out, items[0].out_len, CT_MAX_BYTES, &e), 0));
	struct wire_envelope bad = e;
	bad.batch_path_len = 32; /* one hash short */
	cr_assert(eq(int, wire_envelope_pack(&bad, &re, &re_len), 0));
	cr_assert(eq(int, open_v2(re, re_len, NULL, &o), LIMES_E_ENV_MALFORMED));
	free(re);
	bad = e;
	bad.batch_index = 3; /* past the count */
	cr_assert(eq(int, wire_envelope_pack(&bad, &re, &re_len), 0));
	cr_assert(eq(int, open_v2(re, re_len, NULL, &o), LIMES_E_ENV_MALFORMED));
	free(re);
	bad = e;
	bad.has_batch = false; /* version 2 without its proof */
	cr_assert(eq(int, wire_envelope_pack(&bad, &re, &re_len), 0));
	cr_assert(eq(int, open_v2(re, re_len, NULL, &o), LIMES_E_ENV_MALFORMED));
	free(re);
	/* leaf 2 of 3 is carried up once: its proof has one hash; index 2 with
	 * leaf 0's two-hash proof is the wrong shape */
	bad = e;
	bad.batch_index = 2;
	cr_assert(eq(int, wire_envelope_pack(&bad, &re, &re_len), 0));
	cr_assert(eq(int, open_v2(re, re_len, NULL, &o), LIMES_E_ENV_MALFORMED));
	free(re);
	wire_envelope_clear(&e);
	free_n(3, items);
}
