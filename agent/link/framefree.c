/*
 * Packed frames that ZeroMQ has finished with, handed back to the loop
 * thread to be freed there. A frame is allocated on the loop (glibc's main
 * arena) and ZeroMQ releases it on its I/O thread once written: a free()
 * there locks the main arena against the loop's own malloc()s. With ~14,000
 * frames a second that contention showed as futex calls inside malloc and
 * free on the loop thread (docs/benchmarks.md, "The sender loop's system
 * calls"). Here the I/O thread only pushes the buffer onto a lock-free
 * list (no lock, no syscall) and the loop frees the whole list at its next
 * send, where the arena is its own.
 */
#include "link_int.h"

#include <stdatomic.h>
#include <stdlib.h>

/* A released buffer's first bytes while it waits: its own memory, unused
 * once ZeroMQ let go of it. */
struct released {
	struct released *next;
};

/* Every link's released frames (one process may run several link sets; the
 * list is only ever pushed to and taken whole, so no ABA hazard). */
static _Atomic(struct released *) released_head;

/* The hint link_send_frame passes for a buffer that can hold the list's
 * pointer (a smaller one is freed at once, wherever it is released). */
static const char big_enough;

void *link_frame_release_hint(size_t len)
{
	return len >= sizeof(struct released) ? (void *)&big_enough : NULL;
}

void link_frame_release(void *data, void *hint)
{
	if (hint != &big_enough) {
		free(data);
		return;
	}
	struct released *r = data;
	r->next = atomic_load_explicit(&released_head, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&released_head, &r->next, r, memory_order_release,
						     memory_order_relaxed))
		;
}

void link_frames_reclaim(void)
{
	struct released *r = atomic_exchange_explicit(&released_head, NULL, memory_order_acquire);
	while (r) {
		struct released *next = r->next;
		free(r);
		r = next;
	}
}
