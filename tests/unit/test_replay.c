/* The replay guard and its in-memory backend. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "agent/err.h"
#include "crypto/envelope.h"
#include "crypto/replay.h"
#include "support/crypto_testutil.h"

#define WINDOW_MS (CT_MAX_TTL_MS + CT_MAX_SKEW_MS)

static struct replay_memory *mem;
static struct replay *guard;

static void setup(void)
{
	mem = replay_memory_new();
	cr_assert(mem != NULL);
	guard = replay_new(&replay_memory_backend, mem, WINDOW_MS);
	cr_assert(guard != NULL);
}

static void teardown(void)
{
	replay_destroy(&guard);
	replay_memory_destroy(&mem);
}

TestSuite(replay, .init = setup, .fini = teardown, .timeout = 60);

static void id_of(uint8_t id[16], uint32_t n)
{
	memset(id, 0x5a, 16);
	memcpy(id, &n, sizeof(n));
}

Test(replay, accepts_new_and_refuses_remembered_id)
{
	uint8_t id[16], other[16];

	id_of(id, 1);
	id_of(other, 2);
	cr_assert(eq(int, replay_check(guard, id, CT_NOW_MS, CT_NOW_MS), 0));
	cr_assert(eq(int, replay_remember(guard, id, CT_NOW_MS), 0));
	cr_assert(eq(int, replay_check(guard, id, CT_NOW_MS, CT_NOW_MS), LIMES_E_ENV_REPLAY));
	cr_assert(eq(int, replay_check(guard, other, CT_NOW_MS, CT_NOW_MS), 0));
	/* Remembering twice is harmless. */
	cr_assert(eq(int, replay_remember(guard, id, CT_NOW_MS), 0));
	cr_assert(eq(sz, replay_memory_count(mem), 1));
}

Test(replay, refuses_ids_older_than_the_window)
{
	uint8_t id[16];

	id_of(id, 3);
	cr_assert(eq(int, replay_check(guard, id, CT_NOW_MS - WINDOW_MS, CT_NOW_MS), 0));
	cr_assert(eq(int, replay_check(guard, id, CT_NOW_MS - WINDOW_MS - 1, CT_NOW_MS), LIMES_E_ENV_REPLAY));
}

Test(replay, remembers_many_ids_across_growth)
{
	uint8_t id[16];

	for (uint32_t i = 0; i < 5000; i++) {
		id_of(id, i);
		cr_assert(eq(int, replay_remember(guard, id, CT_NOW_MS), 0));
	}
	cr_assert(eq(sz, replay_memory_count(mem), 5000));
	for (uint32_t i = 0; i < 5000; i++) {
		id_of(id, i);
		cr_assert(eq(int, replay_check(guard, id, CT_NOW_MS, CT_NOW_MS), LIMES_E_ENV_REPLAY), "id %u", i);
	}
	id_of(id, 5000);
	cr_assert(eq(int, replay_check(guard, id, CT_NOW_MS, CT_NOW_MS), 0));
}

Test(replay, expire_forgets_only_ids_past_the_window)
{
	uint8_t old_id[16], new_id[16];

	id_of(old_id, 10);
	id_of(new_id, 11);
	cr_assert(eq(int, replay_remember(guard, old_id, CT_NOW_MS - WINDOW_MS), 0));
	cr_assert(eq(int, replay_remember(guard, new_id, CT_NOW_MS), 0));
	cr_assert(eq(int, replay_expire(guard, CT_NOW_MS + 1), 0));
	cr_assert(eq(sz, replay_memory_count(mem), 1));
	cr_assert(eq(int, replay_check(guard, new_id, CT_NOW_MS, CT_NOW_MS + 1), LIMES_E_ENV_REPLAY));
	/* The forgotten one is still refused: it is older than the window. */
	cr_assert(eq(int, replay_check(guard, old_id, CT_NOW_MS - WINDOW_MS, CT_NOW_MS + 1), LIMES_E_ENV_REPLAY));
}

/* A backend that fails, as a sick disk would. */
static int failing_seen(void *ctx, const uint8_t id[16]) { (void)ctx; (void)id; return LIMES_E_STORE_FAILED; }
static int failing_remember(void *ctx, const uint8_t id[16], uint64_t t) { (void)ctx; (void)id; (void)t; return LIMES_E_STORE_FAILED; }
static const struct replay_backend failing = { failing_seen, failing_remember, NULL };

Test(replay, passes_backend_failures_through)
{
	struct replay *r = replay_new(&failing, NULL, WINDOW_MS);
	uint8_t id[16];

	cr_assert(r != NULL);
	id_of(id, 7);
	cr_assert(eq(int, replay_check(r, id, CT_NOW_MS, CT_NOW_MS), LIMES_E_STORE_FAILED));
	cr_assert(eq(int, replay_remember(r, id, CT_NOW_MS), LIMES_E_STORE_FAILED));
	cr_assert(eq(int, replay_expire(r, CT_NOW_MS), 0));
	replay_destroy(&r);
	cr_assert(r == NULL);
	replay_destroy(NULL);
}

Test(replay, refuses_replayed_envelope)
{
	struct ct_world w;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p;

	cr_assert(eq(int, ct_world_init(&w), 0));
	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, "hello", &env, &len), 0));
	p = ct_params(&w, CT_B);
	cr_assert(eq(int, envelope_open(&p, env, len, &o), 0));
	cr_assert(eq(int, replay_check(guard, o.header.message_id, o.header.created_ms, p.now_ms), 0));
	cr_assert(eq(int, replay_remember(guard, o.header.message_id, o.header.created_ms), 0));
	envelope_opened_clear(&o);
	/* The same bytes again open fine cryptographically, and the guard refuses them. */
	cr_assert(eq(int, envelope_open(&p, env, len, &o), 0));
	cr_assert(eq(int, replay_check(guard, o.header.message_id, o.header.created_ms, p.now_ms),
		     LIMES_E_ENV_REPLAY));
	envelope_opened_clear(&o);
	free(env);
	ct_world_fini(&w);
}
