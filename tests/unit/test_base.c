/* base: the bounded wall clock, the per-source log rate limiter and the log line. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
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

Test(base, text_from_a_peer_cannot_forge_a_log_line)
{
	char path[] = "/tmp/limes-log-XXXXXX", got[4096] = "";
	int fd = mkstemp(path), saved = dup(2);
	cr_assert(fd >= 0 && saved >= 0);
	fflush(stderr);
	cr_assert(eq(int, dup2(fd, 2), 2));
	log_init("limes", LOG_LEVEL_INFO, false);
	/* as a receipt's detail would come from a hostile peer */
	log_warn("peer=X event=rejected_by_peer detail=\"%s\"",
		 "x\"\n2026-12-01T00:00:00.000Z limes level=error event=store_failed\r\x1b[2J");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = pread(fd, got, sizeof(got) - 1, 0);
	close(fd);
	unlink(path);
	cr_assert(n > 0);
	got[n] = '\0';
	cr_assert(eq(ptr, strchr(got, '\n'), got + n - 1), "one line: %s", got);
	cr_assert(eq(ptr, strchr(got, '\r'), NULL));
	cr_assert(eq(ptr, strchr(got, '\x1b'), NULL));
	cr_assert(strstr(got, "event=store_failed") != NULL, "the text itself is kept: %s", got);
}
