/* Wall and monotonic clocks. */
#include "base/clock.h"

#include <time.h>

uint64_t clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t clock_bounded_at(struct clock_bound *b, uint64_t wall_ms, uint64_t mono_ms)
{
	if (!b->anchored || wall_ms < b->anchor_wall_ms + (mono_ms - b->anchor_mono_ms)) {
		b->anchor_wall_ms = wall_ms;
		b->anchor_mono_ms = mono_ms;
		b->anchored = 1;
	}
	return b->anchor_wall_ms + (mono_ms - b->anchor_mono_ms);
}

uint64_t clock_bounded_ms(struct clock_bound *b)
{
	return clock_bounded_at(b, clock_now_ms(), clock_mono_us() / 1000);
}
