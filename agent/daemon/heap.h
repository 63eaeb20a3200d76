/*
 * The agent process's heap (heap.c): how many worker threads (each with a
 * malloc arena) it parses on, and freed pages handed back to the system
 * once the agent goes idle. Private to the daemon. docs/benchmarks.md ("Memory with 1,000,000 queued") has
 * the measurements behind both.
 */
#ifndef LIMES_DAEMON_HEAP_H
#define LIMES_DAEMON_HEAP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct commit;

/* Called once, before any thread starts: libuv's worker pool (the large
 * POSTs' parsers, each with its own malloc arena) gets one thread per
 * core, at most four, unless the operator set UV_THREADPOOL_SIZE; malloc
 * keeps up to 8 MiB free at a heap's top and mmaps only from 4 MiB. */
void heap_setup(void);

/* The idle trim: a timer on loop; when no commit happened for a whole
 * period after some did, the heap's free pages go back to the system
 * (once per idle spell). commit is borrowed for the timer's life. */
struct heap_trim {
	uv_timer_t timer;
	const struct commit *commit;
	uint64_t commits_seen;
	bool trimmed;               /* since the last commit */
};
/* 0, or LIMES_E_IO when the timer cannot start (then call heap_trim_stop). */
int heap_trim_start(struct heap_trim *t, uv_loop_t *loop, const struct commit *commit);
/* Stops and closes the timer (the loop frees nothing: t is the caller's). */
void heap_trim_stop(struct heap_trim *t);

#endif
