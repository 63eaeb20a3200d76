/*
 * The agent process's heap. Two measured problems (docs/benchmarks.md,
 * "Memory with 1,000,000 queued"):
 *
 * - glibc gives each thread that allocates its own arena. The agent parses
 *   large submissions on libuv's worker threads (api/parsework.c, four by
 *   default): each worker's arena kept the high-water of the documents it
 *   parsed (5-8 MiB each), none could reuse another's free memory, and the
 *   sender's RSS with 1,000,000 queued reached 56-58 MiB (high-water
 *   64-67). The pool gets one worker per core (at most libuv's four): more
 *   parsers than cores only add arenas. One arena for all threads did as
 *   well for memory but made the threads queue on its lock (futex calls
 *   per message x6), so the arenas stay per thread.
 * - Free memory in the middle of a heap stays resident until
 *   malloc_trim(): after a burst of large POSTs the agent kept ~20 MiB it
 *   no longer used. Trimming once the agent is idle hands it back, and
 *   costs nothing while it is busy (a trim under load would only be faulted
 *   back in by the next request).
 * - While busy the opposite held: each POST's arena document (16 KiB
 *   blocks, proto/pbjson_doc.c) and body were handed back the moment they
 *   were freed (glibc trims a heap's top above 128 KiB and mmaps blocks
 *   from 128 KiB) and faulted in again by the next POST: with the arena
 *   alone page faults took 11.8 % of the sender's samples (4.9 % before). The heaps now keep up to
 *   8 MiB at their top and mmap only from 4 MiB ("jansson's allocations in
 *   an arena, and the heap's thresholds" in docs/benchmarks.md).
 */
#define _GNU_SOURCE
#include "heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/core.h"
#include "proto/err.h"

/* Idle means no commit for one whole period (the lazy marks commit within
 * 100 ms of the last submission, so a quarter second of silence is idle). */
#define HEAP_IDLE_MS 250

/* Free memory at the top of a heap above this goes back to the system at
 * once; below it stays for the next request. */
#define HEAP_TRIM_THRESHOLD (8u << 20)
/* Blocks from this size on are mmap'd on their own and unmapped when freed. */
#define HEAP_MMAP_THRESHOLD (4u << 20)

/* libuv reads UV_THREADPOOL_SIZE when its pool first starts (the first
 * large POST); an operator's own value stays. */
void heap_setup(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	char n[8];

#ifdef __GLIBC__
	(void)mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD);
	(void)mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
#endif

	if (getenv("UV_THREADPOOL_SIZE"))
		return;
	snprintf(n, sizeof(n), "%ld", cores < 1 ? 1 : cores > 4 ? 4 : cores);
	(void)setenv("UV_THREADPOOL_SIZE", n, 0);
}

static void on_tick(uv_timer_t *timer)
{
	struct heap_trim *t = timer->data;
	uint64_t n = commit_count(t->commit);

	if (n != t->commits_seen) {
		t->commits_seen = n;
		t->trimmed = false;
		return;
	}
	if (t->trimmed)
		return;
	t->trimmed = true;
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

int heap_trim_start(struct heap_trim *t, uv_loop_t *loop, const struct commit *commit)
{
	memset(t, 0, sizeof(*t));
	if (uv_timer_init(loop, &t->timer) < 0)
		return LIMES_E_IO;
	t->commit = commit;
	t->timer.data = t;
	t->trimmed = true; /* nothing to hand back before the first commit */
	return uv_timer_start(&t->timer, on_tick, HEAP_IDLE_MS, HEAP_IDLE_MS) < 0 ? LIMES_E_IO : 0;
}

void heap_trim_stop(struct heap_trim *t)
{
	if (!t->commit)
		return;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, NULL);
	t->commit = NULL;
}
