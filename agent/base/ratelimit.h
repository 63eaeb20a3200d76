/*
 * A small per-source rate limiter for log lines: a peer or a client that
 * repeats the same refusal thousands of times a second gets a few lines a
 * second, and the next line it gets says how many were suppressed. Owned by
 * whoever logs (one struct per kind of event); not thread-safe (the loop
 * owns it).
 */
#ifndef LIMES_RATELIMIT_H
#define LIMES_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 64
#define RATELIMIT_SOURCE_MAX 64
#define RATELIMIT_BURST 5          /* lines per source per window */
#define RATELIMIT_WINDOW_US 1000000

struct ratelimit_slot {
	char source[RATELIMIT_SOURCE_MAX];
	uint64_t window_start_us;
	unsigned lines;
	uint64_t suppressed;
};

/* Zero-initialised is ready to use. */
struct ratelimit {
	struct ratelimit_slot slot[RATELIMIT_SLOTS];
	uint64_t suppressed_total; /* every line ever suppressed, for counters */
};

/* May a line for source (a peer id, a client address; NULL is "-") be
 * logged now? When it may, *suppressed gets how many lines of that source
 * were suppressed since its last logged line (log it as suppressed=N), else
 * the call counts one more suppressed line. Sources beyond RATELIMIT_SLOTS
 * share slots (a hash): a flood from many sources is still limited. */
bool ratelimit_pass(struct ratelimit *rl, const char *source, uint64_t *suppressed);

/* The same with an explicit monotonic time, for tests. */
bool ratelimit_pass_at(struct ratelimit *rl, const char *source, uint64_t now_us, uint64_t *suppressed);

#endif
