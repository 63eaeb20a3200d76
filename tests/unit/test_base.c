/* base: the bounded wall clock and the per-source log rate limiter. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "base/clock.h"
#include "base/ratelimit.h"

TestSuite(base, .timeout = 10);

Test(base, bounded_clock_ignores_a_forward_step_and_follows_a_backward_one)
{
	struct clock_bound b = { 0 };
	cr_assert(eq(u64, clock_bounded_at(&b, 1000000, 50), 1000000));
	cr_assert(eq(u64, clock_bounded_at(&b, 1000000 + 3 * 86400000ull, 1050), 1001000), "a step ahead is ignored");
	cr_assert(eq(u64, clock_bounded_at(&b, 1002000, 2050), 1002000));
	cr_assert(eq(u64, clock_bounded_at(&b, 900000, 3050), 900000), "a step back is followed");
	cr_assert(eq(u64, clock_bounded_at(&b, 999999999, 4050), 901000));
}

Test(base, rate_limit_passes_a_burst_per_source_then_counts_what_it_suppressed)
{
	static struct ratelimit rl;
	uint64_t sup = 99;
	for (int i = 0; i < RATELIMIT_BURST; i++) {
		cr_assert(ratelimit_pass_at(&rl, "peer-a", 1000000 + (uint64_t)i, &sup));
		cr_assert(eq(u64, sup, 0));
	}
	for (int i = 0; i < 1000; i++)
		cr_assert(not(ratelimit_pass_at(&rl, "peer-a", 1000100, &sup)));
	cr_assert(ratelimit_pass_at(&rl, "peer-b", 1000100, &sup), "another source has its own budget");
	cr_assert(eq(u64, sup, 0));
	cr_assert(ratelimit_pass_at(&rl, "peer-a", 1000000 + RATELIMIT_WINDOW_US, &sup), "the next window passes");
	cr_assert(eq(u64, sup, 1000), "and says how many were suppressed");
	cr_assert(eq(u64, rl.suppressed_total, 1000));
}
