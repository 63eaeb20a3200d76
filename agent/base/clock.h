/*
 * Clocks: the wall clock for times that go on the wire or to a user, the
 * monotonic clock for intervals (RTT, timeouts), which a clock step cannot
 * disturb.
 */
#ifndef LIMES_CLOCK_H
#define LIMES_CLOCK_H

#include <stdint.h>

/* Wall clock, unix milliseconds. */
uint64_t clock_now_ms(void);
/* Monotonic clock, microseconds since an arbitrary origin. */
uint64_t clock_mono_us(void);

/* A wall clock that a forward step cannot advance: the smallest wall time
 * seen, carried forward by the monotonic clock. Zero-initialised is ready.
 * For deletions that must never come early (the seen-id purge): a clock
 * stepped ahead for a while must not make the agent forget what it saw. */
struct clock_bound {
	uint64_t anchor_wall_ms;
	uint64_t anchor_mono_ms;
	int anchored;
};

/* min(wall clock, anchor + monotonic time since): a forward step is
 * ignored, a backward step re-anchors to the smaller time. */
uint64_t clock_bounded_ms(struct clock_bound *b);
/* The same with explicit readings, for tests. */
uint64_t clock_bounded_at(struct clock_bound *b, uint64_t wall_ms, uint64_t mono_ms);

#endif
