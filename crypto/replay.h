/*
 * The replay guard: refuses a message id seen before, and any envelope
 * created longer ago than the window (its id may already be forgotten). The
 * set of seen ids lives behind a small backend table so the store can keep
 * it durably (SQLite); an in-memory backend ships here for tests and tools.
 * The window must be at least max_ttl_ms + max_skew_ms of envelope_open.
 */
#ifndef LIMES_CRYPTO_REPLAY_H
#define LIMES_CRYPTO_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define REPLAY_ID_LEN 16

/* A seen-id set. Every function returns 0 or a negative LIMES_E_*. */
struct replay_backend {
	/* 0 if id is unknown, LIMES_E_ENV_REPLAY if it was remembered, another negative code on failure. */
	int (*seen)(void *ctx, const uint8_t id[REPLAY_ID_LEN]);
	/* Adds id, to be kept at least until forget_after_ms; remembering a known id again is not an error. */
	int (*remember)(void *ctx, const uint8_t id[REPLAY_ID_LEN], uint64_t forget_after_ms);
	/* Optional (may be NULL): drops ids whose forget_after_ms is before now_ms. */
	int (*forget)(void *ctx, uint64_t now_ms);
};

struct replay;
struct replay_memory;

/* A guard over backend (not copied: static or outliving the guard) and its ctx (borrowed); caller owns the result (replay_destroy); NULL on no memory. */
struct replay *replay_new(const struct replay_backend *backend, void *ctx, uint64_t window_ms);
/* Frees *r (not the backend's ctx) and sets it to NULL; accepts NULL. */
void replay_destroy(struct replay **r);
/* 0 if id may be accepted; LIMES_E_ENV_REPLAY if seen or if created_ms is older than now_ms - window. */
int replay_check(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t created_ms, uint64_t now_ms);
/* Records id as seen until created_ms + window; call once the message is committed. */
int replay_remember(struct replay *r, const uint8_t id[REPLAY_ID_LEN], uint64_t created_ms);
/* Lets the backend drop ids older than the window (no-op without backend->forget). */
int replay_expire(struct replay *r, uint64_t now_ms);

/* The in-memory backend: a hash set keyed with a random SipHash key. */
extern const struct replay_backend replay_memory_backend;
/* A new in-memory set, the ctx for replay_memory_backend; caller owns it (replay_memory_destroy); NULL on no memory. */
struct replay_memory *replay_memory_new(void);
/* Frees *m and sets it to NULL; accepts NULL. */
void replay_memory_destroy(struct replay_memory **m);
/* Number of ids held. */
size_t replay_memory_count(const struct replay_memory *m);

#endif
