/*
 * How often a restored agent asks a neighbour that does not answer its
 * ResendRequest (agent/link/resend.c, docs/protocol.md "Resend after a
 * restore"): `[link] retry` after the first ask, the wait doubling per
 * unanswered ask up to 60 s, or `retry` itself when it is longer; after a
 * busy answer (nothing unanswered) `retry` again.
 * tests/integration/test_restore_unanswered.c runs it with real agents.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <limits.h>

#include "link_int.h"

TestSuite(resend_schedule, .timeout = 30);

Test(resend_schedule, the_default_retry_asks_after_2_s_doubling_to_60_s)
{
	/* index: asks unanswered so far (0: after a busy answer) */
	static const uint64_t want[] = { 2000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
	for (unsigned n = 0; n < sizeof(want) / sizeof(want[0]); n++)
		cr_assert(eq(u64, link_resend_ask_wait_ms(2000, n), want[n]), "after %u unanswered", n);
	cr_assert(eq(u64, link_resend_ask_wait_ms(2000, UINT_MAX), 60000));
}

Test(resend_schedule, a_shorter_retry_scales_every_wait_and_keeps_the_60_s_cap)
{
	uint64_t expect = 200;
	for (unsigned n = 1; n < 40; n++) {
		cr_assert(eq(u64, link_resend_ask_wait_ms(200, n), expect < 60000 ? expect : 60000),
			  "after %u unanswered", n);
		if (expect < 60000)
			expect *= 2;
	}
	cr_assert(eq(u64, link_resend_ask_wait_ms(200, 0), 200));
	cr_assert(eq(u64, link_resend_ask_wait_ms(1, 5), 16));
}

Test(resend_schedule, a_retry_longer_than_60_s_is_never_shortened)
{
	cr_assert(eq(u64, link_resend_ask_wait_ms(90000, 0), 90000));
	cr_assert(eq(u64, link_resend_ask_wait_ms(90000, 1), 90000));
	cr_assert(eq(u64, link_resend_ask_wait_ms(90000, 6), 90000));
	cr_assert(eq(u64, link_resend_ask_wait_ms(90000, UINT_MAX), 90000));
	cr_assert(eq(u64, link_resend_ask_wait_ms(60000, 3), 60000));
}
