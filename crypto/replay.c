/*
 * The replay guard over a pluggable seen-id backend, and the in-memory
 * backend: an open-addressing hash set keyed with a random SipHash key, so a
 * peer choosing message ids cannot force collisions.
 */
#include "crypto/replay.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/err.h"

struct replay {
	const struct replay_backend *backend;
	void *ctx;
	uint64_t window_ms;
};

struct replay *replay_new(const struct replay_backend *backend, void *ctx, uint64_t window_ms)
{
	struct replay *r;

	if (!backend || !backend->seen || !backend->remember)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->backend = backend;
	r->ctx = ctx;
	r->window_ms = window_ms;
	return r;
}

void replay_destroy(struct replay **r)
{
	if (!r || !*r)
		return;
	free(*r);
	*r = NULL;
}

int replay_check(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t created_ms, uint64_t now_ms)
{
	int rc;

	if (!r || !id)
		return LIMES_E_INVAL;
	/* Older than the window: its id may have been forgotten, so it cannot be checked. */
	if (now_ms > r->window_ms && created_ms < now_ms - r->window_ms)
		return LIMES_E_ENV_REPLAY;
	rc = r->backend->seen(r->ctx, id);
	return rc == 0 ? 0 : rc;
}

int replay_remember(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t created_ms)
{
	uint64_t until;

	if (!r || !id)
		return LIMES_E_INVAL;
	until = created_ms > UINT64_MAX - r->window_ms ? UINT64_MAX : created_ms + r->window_ms;
	return r->backend->remember(r->ctx, id, until);
}

int replay_expire(struct replay *r, uint64_t now_ms)
{
	if (!r)
		return LIMES_E_INVAL;
	return r->backend->forget ? r->backend->forget(r->ctx, now_ms) : 0;
}

/* ------------------------------------------------------------ in memory */

struct slot {
	uint8_t id[REPLAY_ID_LEN];
	uint64_t forget_after_ms;
	bool used;
};

struct replay_memory {
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	struct slot *slots;
	size_t cap;     /* power of two */
	size_t count;
};

#define MEMORY_INITIAL_CAP 64

static size_t slot_of(const struct replay_memory *m, const uint8_t id[REPLAY_ID_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, id, REPLAY_ID_LEN, m->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (m->cap - 1));
}

static struct slot *find(const struct replay_memory *m, const uint8_t id[REPLAY_ID_LEN])
{
	size_t i = slot_of(m, id);

	while (m->slots[i].used) {
		if (memcmp(m->slots[i].id, id, REPLAY_ID_LEN) == 0)
			return &m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return &m->slots[i];  /* the free slot where it would go */
}

/* Rebuilds the table at cap, keeping only ids to be kept at now_ms. */
static int rebuild(struct replay_memory *m, size_t cap, uint64_t now_ms)
{
	struct slot *old = m->slots;
	size_t old_cap = m->cap;
	struct slot *fresh = calloc(cap, sizeof(*fresh));

	if (!fresh)
		return LIMES_E_NOMEM;
	m->slots = fresh;
	m->cap = cap;
	m->count = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].used || old[i].forget_after_ms < now_ms)
			continue;
		*find(m, old[i].id) = old[i];
		m->count++;
	}
	free(old);
	return 0;
}

struct replay_memory *replay_memory_new(void)
{
	struct replay_memory *m;

	if (sodium_init() < 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->slots = calloc(MEMORY_INITIAL_CAP, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return NULL;
	}
	m->cap = MEMORY_INITIAL_CAP;
	crypto_shorthash_keygen(m->hash_key);
	return m;
}

void replay_memory_destroy(struct replay_memory **m)
{
	if (!m || !*m)
		return;
	free((*m)->slots);
	free(*m);
	*m = NULL;
}

size_t replay_memory_count(const struct replay_memory *m)
{
	return m ? m->count : 0;
}

static int memory_seen(void *ctx, const uint8_t id[REPLAY_ID_LEN])
{
	struct replay_memory *m = ctx;

	return find(m, id)->used ? LIMES_E_ENV_REPLAY : 0;
}

static int memory_remember(void *ctx, const uint8_t id[REPLAY_ID_LEN], uint64_t forget_after_ms)
{
	struct replay_memory *m = ctx;
	struct slot *s;
	int rc;

	/* Keep the load under 3/4 so probes stay short and a free slot always exists. */
	if ((m->count + 1) * 4 > m->cap * 3) {
		if (m->cap > SIZE_MAX / 2 / sizeof(struct slot))
			return LIMES_E_NOMEM;
		if ((rc = rebuild(m, m->cap * 2, 0)) < 0)
			return rc;
	}
	s = find(m, id);
	if (s->used) {
		if (forget_after_ms > s->forget_after_ms)
			s->forget_after_ms = forget_after_ms;
		return 0;
	}
	memcpy(s->id, id, REPLAY_ID_LEN);
	s->forget_after_ms = forget_after_ms;
	s->used = true;
	m->count++;
	return 0;
}

static int memory_forget(void *ctx, uint64_t now_ms)
{
	struct replay_memory *m = ctx;

	return rebuild(m, m->cap, now_ms);
}

const struct replay_backend replay_memory_backend = {
	.seen = memory_seen,
	.remember = memory_remember,
	.forget = memory_forget,
};
