/*
 * The per-peer history ring (core/history.h): per-interval counts are the
 * growth of the cumulative counters, unknown figures stay unknown, the ring
 * keeps HISTORY_POINTS samples and drops the oldest, reads filter by time
 * and keep the newest; peers a reload removed leave, new ones start; and
 * history_sample reads the real peer table at most once per interval.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/history.h"
#include "support/core_testutil.h"

TestSuite(history, .timeout = 30);

static struct history_input in(const char *peer, uint64_t sent, uint64_t received, uint64_t refused)
{
	return (struct history_input){ .peer = peer, .sent = sent, .received = received, .refused = refused };
}

Test(history, counts_per_interval_are_the_growth_of_the_counters)
{
	struct history *h = history_new(60000);
	struct history_point pts[4];
	struct history_input a[1];

	cr_assert(ne(ptr, h, NULL));
	cr_assert(eq(u64, history_interval_ms(h), 60000));
	cr_assert(eq(sz, history_peers(h), 0));
	a[0] = in("HU-NAV-ROSZKE", 5, 2, 0);
	a[0].has_queued = true;
	a[0].queued = 7;
	a[0].has_rtt = true;
	a[0].rtt_ms = 1.25;
	cr_assert(eq(int, history_record(h, 60000, a, 1), 0));
	a[0] = in("HU-NAV-ROSZKE", 12, 2, 3); /* no queue or RTT figure this time */
	cr_assert(eq(int, history_record(h, 120000, a, 1), 0));
	a[0] = in("HU-NAV-ROSZKE", 4, 3, 3);  /* sent went back: the peer's key changed on reload */
	cr_assert(eq(int, history_record(h, 180000, a, 1), 0));

	cr_assert(eq(sz, history_peers(h), 1));
	cr_assert(eq(str, (char *)history_peer(h, 0), "HU-NAV-ROSZKE"));
	cr_assert(eq(ptr, (void *)history_peer(h, 1), NULL));
	cr_assert(eq(sz, history_points(h, 0, 0, pts, 4), 3));
	cr_assert(eq(u64, pts[0].t_ms, 60000));
	cr_assert(eq(u32, pts[0].sent, 5));       /* counters start at zero with the agent */
	cr_assert(eq(u32, pts[0].received, 2));
	cr_assert(eq(i64, pts[0].queued, 7));
	cr_assert(eq(dbl, pts[0].rtt_ms, 1.25));
	cr_assert(eq(u32, pts[1].sent, 7));
	cr_assert(eq(u32, pts[1].received, 0));
	cr_assert(eq(u32, pts[1].refused, 3));
	cr_assert(eq(i64, pts[1].queued, -1));    /* unknown stays unknown, never 0 */
	cr_assert(lt(dbl, pts[1].rtt_ms, 0.0));
	cr_assert(eq(u32, pts[2].sent, 4));       /* counted from zero again */
	cr_assert(eq(u32, pts[2].received, 1));
	cr_assert(eq(u32, pts[2].refused, 0));
	cr_assert(eq(sz, history_points(h, 1, 0, pts, 4), 0));
	history_destroy(&h);
	cr_assert(eq(ptr, h, NULL));
	history_destroy(&h);
}

Test(history, keeps_a_fixed_number_of_samples_and_reads_by_time_and_newest)
{
	struct history *h = history_new(1000);
	struct history_point *pts = calloc(HISTORY_POINTS, sizeof(*pts));
	const size_t total = HISTORY_POINTS + 100;

	cr_assert(ne(ptr, pts, NULL));
	for (size_t i = 1; i <= total; i++) {
		struct history_input a = in("AT-BMI-NICKELSDORF", i * (i + 1) / 2, 0, 0); /* i sent in sample i */
		cr_assert(eq(int, history_record(h, i * 1000, &a, 1), 0));
	}
	cr_assert(eq(sz, history_points(h, 0, 0, pts, HISTORY_POINTS), HISTORY_POINTS));
	/* the oldest 100 went; what stays is in time order */
	cr_assert(eq(u64, pts[0].t_ms, 101 * 1000));
	cr_assert(eq(u32, pts[0].sent, 101));
	cr_assert(eq(u64, pts[HISTORY_POINTS - 1].t_ms, total * 1000));
	cr_assert(eq(u32, pts[HISTORY_POINTS - 1].sent, (uint32_t)total));
	for (size_t k = 1; k < HISTORY_POINTS; k++)
		cr_assert(eq(u64, pts[k].t_ms, pts[k - 1].t_ms + 1000));
	/* since: samples at or after that time */
	cr_assert(eq(sz, history_points(h, 0, (total - 9) * 1000, pts, HISTORY_POINTS), 10));
	cr_assert(eq(u64, pts[0].t_ms, (total - 9) * 1000));
	/* max: the newest ones */
	cr_assert(eq(sz, history_points(h, 0, 0, pts, 3), 3));
	cr_assert(eq(u64, pts[0].t_ms, (total - 2) * 1000));
	cr_assert(eq(u64, pts[2].t_ms, total * 1000));
	cr_assert(eq(sz, history_points(h, 0, (total + 1) * 1000, pts, HISTORY_POINTS), 0));
	free(pts);
	history_destroy(&h);
}

Test(history, a_removed_peer_leaves_and_a_new_one_starts_its_own_series)
{
	struct history *h = history_new(1000);
	struct history_point pts[4];
	struct history_input two[2] = { in("HU-NAV-ROSZKE", 1, 0, 0), in("RO-POLITIA-NADLAC", 2, 0, 0) };

	cr_assert(eq(int, history_record(h, 1000, two, 2), 0));
	two[0] = in("AT-BMI-NICKELSDORF", 4, 0, 0);
	two[1] = in("RO-POLITIA-NADLAC", 5, 0, 0);
	cr_assert(eq(int, history_record(h, 2000, two, 2), 0));
	cr_assert(eq(sz, history_peers(h), 2));
	for (size_t i = 0; i < 2; i++) {
		const char *id = history_peer(h, i);
		cr_assert(ne(int, strcmp(id, "HU-NAV-ROSZKE"), 0));
		size_t n = history_points(h, i, 0, pts, 4);
		if (strcmp(id, "RO-POLITIA-NADLAC") == 0) {
			cr_assert(eq(sz, n, 2));
			cr_assert(eq(u32, pts[1].sent, 3));
		} else {
			cr_assert(eq(str, (char *)id, "AT-BMI-NICKELSDORF"));
			cr_assert(eq(sz, n, 1));
			cr_assert(eq(u32, pts[0].sent, 4));
		}
	}
	history_destroy(&h);
}

static struct core_world w;

static void world_setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "history"), 0));
}

static void world_teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(history_sample, .init = world_setup, .fini = world_teardown, .timeout = 30);

Test(history_sample, samples_the_peer_table_once_per_interval)
{
	struct history *h = history_new(60000);
	struct history_point pts[4];
	struct peer *hu = peers_find(w.peers, core_test_ids[CORE_TEST_HU]);

	peer_link_measured(hu, 3.5, 0.0);
	peer_count(hu, PEER_SENT, 4);
	peer_count(hu, PEER_REFUSED, 1);
	cr_assert(eq(int, history_sample(h, w.peers, w.store, 1000000), 1)); /* the first call samples at once */
	cr_assert(eq(sz, history_peers(h), peers_count(w.peers)));
	peer_count(hu, PEER_SENT, 2);
	cr_assert(eq(int, history_sample(h, w.peers, w.store, 1000000 + 59999), 0)); /* not yet */
	cr_assert(eq(int, history_sample(h, w.peers, w.store, 1000000 + 60000), 1));
	for (size_t i = 0; i < history_peers(h); i++) {
		const char *id = history_peer(h, i);
		cr_assert(eq(sz, history_points(h, i, 0, pts, 4), 2));
		if (strcmp(id, core_test_ids[CORE_TEST_HU]) == 0) {
			cr_assert(eq(u32, pts[0].sent, 4));
			cr_assert(eq(u32, pts[0].refused, 1));
			cr_assert(eq(u32, pts[1].sent, 2));
			cr_assert(eq(u32, pts[1].refused, 0));
			cr_assert(eq(i64, pts[1].queued, 0)); /* a direct peer's queue is counted: empty */
			cr_assert(eq(dbl, pts[1].rtt_ms, 3.5));
		} else if (strcmp(id, core_test_ids[CORE_TEST_RO]) == 0) {
			cr_assert(eq(i64, pts[1].queued, -1)); /* relayed: queued at its relay */
			cr_assert(lt(dbl, pts[1].rtt_ms, 0.0));
		}
	}
	history_destroy(&h);
}
