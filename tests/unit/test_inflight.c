/*
 * The link's envelopes in flight (agent/link/inflight.c): when a receipt is
 * overdue and the delivery is sent again. A long window draining a backlog
 * keeps its tail queued at the receiver for seconds while receipts for the
 * envelopes before it keep coming: that tail must wait, not be sent twice;
 * a lost envelope (one sent before an envelope already receipted) and a
 * stalled link must still be sent again after `retry`.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"

#define RETRY 2000

static struct outlink ol;

static void setup(void)
{
	memset(&ol, 0, sizeof(ol));
	ol.inflight_cap = 16;
	ol.inflight = calloc(ol.inflight_cap, sizeof(*ol.inflight));
	cr_assert(ol.inflight != NULL);
}

static void teardown(void)
{
	free(ol.inflight);
}

TestSuite(inflight, .init = setup, .fini = teardown);

static struct inflight *sent(uint8_t n, uint64_t at)
{
	uint8_t id[16] = { n };
	struct inflight *fl = link_inflight_add(&ol, id, "HU-NAV-ROSZKE");
	cr_assert(fl != NULL);
	fl->sent_ms = at;
	return fl;
}

static void receipted(uint8_t n, uint64_t now)
{
	uint8_t id[16] = { n };
	struct inflight *fl = link_inflight_find(&ol, id, "HU-NAV-ROSZKE");
	cr_assert(fl != NULL);
	link_inflight_receipted(&ol, fl, now);
	link_inflight_remove(&ol, fl);
}

static struct inflight *find(uint8_t n)
{
	uint8_t id[16] = { n };
	struct inflight *fl = link_inflight_find(&ol, id, "HU-NAV-ROSZKE");
	cr_assert(fl != NULL);
	return fl;
}

Test(inflight, nothing_is_overdue_before_retry)
{
	struct inflight *fl = sent(1, 10000);
	cr_assert(not(link_inflight_overdue(&ol, fl, 10000 + RETRY, RETRY)));
}

Test(inflight, with_no_receipt_at_all_it_is_overdue_after_retry)
{
	struct inflight *fl = sent(1, 10000);
	cr_assert(link_inflight_overdue(&ol, fl, 10000 + RETRY + 1, RETRY));
}

Test(inflight, the_tail_of_a_draining_window_waits_while_receipts_come)
{
	/* two fills: the first answered in part, the second not reached yet */
	sent(1, 10000);
	sent(2, 10000);
	sent(3, 10500);
	receipted(1, 12400);
	uint64_t now = 13000; /* 3 s after the first fill, 0.6 s after a receipt */
	cr_assert(not(link_inflight_overdue(&ol, find(2), now, RETRY)),
		  "sent with the receipted one, still queued behind it");
	cr_assert(not(link_inflight_overdue(&ol, find(3), now, RETRY)), "sent after it");
}

Test(inflight, one_sent_before_a_receipted_one_was_lost)
{
	sent(1, 10000);
	sent(2, 10500);
	receipted(2, 11000);
	cr_assert(not(link_inflight_overdue(&ol, find(1), 10000 + RETRY, RETRY)), "not before retry");
	cr_assert(link_inflight_overdue(&ol, find(1), 10000 + RETRY + 1, RETRY),
		  "a later one was answered: the receiver never read this one");
}

Test(inflight, a_stalled_link_sends_again_after_retry_without_receipts)
{
	sent(1, 10000);
	sent(2, 10000);
	receipted(1, 11000);
	cr_assert(not(link_inflight_overdue(&ol, find(2), 11000 + RETRY, RETRY)));
	cr_assert(link_inflight_overdue(&ol, find(2), 11000 + RETRY + 1, RETRY),
		  "no receipt for retry: the link stalled");
}
