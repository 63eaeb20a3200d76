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

#endif
