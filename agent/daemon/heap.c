/*
 * The agent process's heap. Two measured problems (docs/benchmarks.md,
 * "Memory with 1,000,000 queued"):
 *
 * - glibc gives each thread that allocates its own arena (up to 8 per
 *   core). The agent parses large submissions on libuv's worker threads
 *   (api/parsework.c) and ZeroMQ has its own threads: each worker's arena
 *   kept the high-water of the documents it parsed (5-8 MiB each, four
 *   workers), none could reuse another's free memory, and the sender's RSS
 *   with 1,000,000 queued reached 56-58 MiB (high-water 64-67). One arena
 *   lets the loop reuse what a worker freed and the reverse.
 * - Free memory in the middle of the heap stays resident until
 *   malloc_trim(): after a burst of large POSTs the agent kept ~10 MiB it
 *   no longer used. Trimming once the agent is idle hands it back, and
 *   costs nothing while it is busy (a trim under load would only be faulted
 *   back in by the next request).
 */
#define _GNU_SOURCE
#include "heap.h"

#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "core/core.h"
#include "proto/err.h"

/* Idle means no commit for one whole period (the lazy marks commit within
 * 100 ms of the last submission, so a quarter second of silence is idle). */
#define HEAP_IDLE_MS 250

static bool operator_chose_arenas(void)
{
	const char *tunables = getenv("GLIBC_TUNABLES");
	return getenv("MALLOC_ARENA_MAX") || (tunables && strstr(tunables, "arena_max"));
}

void heap_setup(void)
{
#ifdef __GLIBC__
	if (!operator_chose_arenas())
		(void)mallopt(M_ARENA_MAX, 1);
#endif
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
