/*
 * The ring of recent events (core/events.h): sequence numbers from 1, reads
 * after a cursor oldest first, a fixed size that overwrites the oldest and
 * says how many a late reader missed, strings cut to their field; and the
 * peer table appending a link's state changes to its ring, which a reload
 * keeps.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/events.h"
#include "support/core_testutil.h"

TestSuite(events, .timeout = 30);

Test(events, numbers_events_from_one_and_reads_after_a_cursor_oldest_first)
{
	struct events *e = events_new(8);
	struct event out[8];
	uint64_t missed = 99;

	cr_assert(ne(ptr, e, NULL));
	cr_assert(eq(u64, events_last_seq(e), 0));
	cr_assert(eq(sz, events_after(e, 0, out, 8, &missed), 0));
	cr_assert(eq(u64, missed, 0));
	cr_assert(eq(u64, events_add(e, 1000, "link_up", "HU-NAV-ROSZKE", NULL, NULL, "was connecting for 1.0 s"), 1));
	cr_assert(eq(u64, events_add(e, 2000, "refused", "HU-NAV-ROSZKE", "00112233445566778899aabbccddeeff",
				     "bad_signature", "signature does not verify"), 2));
	cr_assert(eq(u64, events_add(e, 3000, "expired", "AT-BMI-NICKELSDORF", "ff", "ttl", "alert"), 3));
	cr_assert(eq(u64, events_last_seq(e), 3));

	cr_assert(eq(sz, events_after(e, 0, out, 8, &missed), 3));
	cr_assert(eq(u64, missed, 0));
	cr_assert(eq(u64, out[0].seq, 1));
	cr_assert(eq(u64, out[0].at_ms, 1000));
	cr_assert(eq(str, out[0].kind, "link_up"));
	cr_assert(eq(str, out[0].msg, ""));       /* NULL is stored as "" */
	cr_assert(eq(str, out[0].reason, ""));
	cr_assert(eq(str, out[1].reason, "bad_signature"));
	cr_assert(eq(str, out[1].msg, "00112233445566778899aabbccddeeff"));
	cr_assert(eq(str, out[2].peer, "AT-BMI-NICKELSDORF"));

	/* after a cursor: only the newer ones; at the newest: none */
	cr_assert(eq(sz, events_after(e, 2, out, 8, NULL), 1));
	cr_assert(eq(u64, out[0].seq, 3));
	cr_assert(eq(sz, events_after(e, 3, out, 8, NULL), 0));
	/* a cursor from before a restart (ahead of the ring) reads nothing */
	cr_assert(eq(sz, events_after(e, 50, out, 8, &missed), 0));
	cr_assert(eq(u64, missed, 0));
	/* max caps the answer, oldest first: the caller pages with the last seq */
	cr_assert(eq(sz, events_after(e, 0, out, 2, NULL), 2));
	cr_assert(eq(u64, out[1].seq, 2));
	events_destroy(&e);
	cr_assert(eq(ptr, e, NULL));
	events_destroy(&e); /* accepts NULL */
}

Test(events, keeps_a_fixed_number_and_tells_a_late_reader_how_many_it_missed)
{
	struct events *e = events_new(4);
	struct event out[8];
	uint64_t missed = 0;
	char peer[16];

	for (int i = 1; i <= 10; i++) {
		snprintf(peer, sizeof(peer), "P%d", i);
		events_add(e, (uint64_t)i * 1000, "link_up", peer, NULL, NULL, NULL);
	}
	cr_assert(eq(u64, events_last_seq(e), 10));
	cr_assert(eq(sz, events_after(e, 0, out, 8, &missed), 4));
	cr_assert(eq(u64, missed, 6)); /* 1..6 were overwritten */
	for (int i = 0; i < 4; i++) {
		snprintf(peer, sizeof(peer), "P%d", 7 + i);
		cr_assert(eq(u64, out[i].seq, (uint64_t)(7 + i)));
		cr_assert(eq(str, out[i].peer, peer));
	}
	cr_assert(eq(sz, events_after(e, 5, out, 8, &missed), 4));
	cr_assert(eq(u64, missed, 1)); /* 6 went before it could be read */
	cr_assert(eq(sz, events_after(e, 8, out, 8, &missed), 2));
	cr_assert(eq(u64, missed, 0));
	cr_assert(eq(u64, out[0].seq, 9));
	events_destroy(&e);
}

Test(events, cuts_long_strings_to_their_field_and_accepts_a_null_ring)
{
	struct events *e = events_new(0); /* the default capacity */
	struct event out[1];
	char long_text[600];

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	cr_assert(eq(u64, events_add(e, 1, long_text, long_text, long_text, long_text, long_text), 1));
	cr_assert(eq(sz, events_after(e, 0, out, 1, NULL), 1));
	cr_assert(eq(sz, strlen(out[0].kind), EVENT_KIND_MAX - 1));
	cr_assert(eq(sz, strlen(out[0].peer), EVENT_PEER_MAX - 1));
	cr_assert(eq(sz, strlen(out[0].msg), EVENT_MSG_MAX - 1));
	cr_assert(eq(sz, strlen(out[0].reason), EVENT_REASON_MAX - 1));
	cr_assert(eq(sz, strlen(out[0].detail), EVENT_DETAIL_MAX - 1));
	for (int i = 0; i < EVENTS_CAPACITY + 5; i++)
		events_add(e, 2, "k", NULL, NULL, NULL, NULL);
	uint64_t missed;
	cr_assert(eq(sz, events_after(e, 0, out, 1, &missed), 1));
	cr_assert(eq(u64, out[0].seq, 7)); /* EVENTS_CAPACITY kept: 1..6 are gone */
	cr_assert(eq(u64, missed, 6));
	cr_assert(eq(u64, events_add(NULL, 1, "k", NULL, NULL, NULL, NULL), 0));
	events_destroy(&e);
}

static struct core_world w;

static void world_setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "events"), 0));
}

static void world_teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(peer_events, .init = world_setup, .fini = world_teardown, .timeout = 30);

Test(peer_events, the_peer_table_records_each_link_state_change_once)
{
	const char *hu = core_test_ids[CORE_TEST_HU];
	struct peer *p = peers_find(w.peers, hu);
	struct events *e = peers_events(w.peers);
	struct event out[8];

	cr_assert(ne(ptr, e, NULL));
	peer_link_set_state(p, LINK_CONNECTING, 1000);
	peer_link_set_state(p, LINK_UP, 3500);
	peer_link_set_state(p, LINK_UP, 4000); /* no change, no event */
	peer_link_set_state(p, LINK_CONNECTING, 9000);
	cr_assert(eq(sz, events_after(e, 0, out, 8, NULL), 3));
	cr_assert(eq(str, out[0].kind, "link_connecting"));
	cr_assert(eq(str, out[0].peer, (char *)hu));
	cr_assert(eq(u64, out[0].at_ms, 1000));
	cr_assert(eq(str, out[1].kind, "link_up"));
	cr_assert(eq(str, out[1].detail, "was connecting for 2.5 s"));
	cr_assert(eq(str, out[2].kind, "link_connecting"));
	cr_assert(eq(str, out[2].detail, "was up for 5.5 s"));
	cr_assert(eq(u64, out[2].at_ms, 9000));
}

Test(peer_events, a_reload_keeps_the_ring_and_the_peers_keep_appending_to_it)
{
	char err[512];
	struct config *cfg = core_test_config(&w, CORE_TEST_AT, NULL, err, sizeof(err));
	struct events *before = peers_events(w.peers);
	struct event out[4];

	cr_assert(ne(ptr, cfg, NULL), "%s", err);
	peer_link_set_state(peers_find(w.peers, core_test_ids[CORE_TEST_HU]), LINK_UP, 1000);
	cr_assert(eq(int, peers_reload(w.peers, &cfg, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(ptr, peers_events(w.peers), before));
	peer_link_set_state(peers_find(w.peers, core_test_ids[CORE_TEST_AT]), LINK_UP, 2000);
	cr_assert(eq(sz, events_after(before, 0, out, 4, NULL), 2));
	cr_assert(eq(str, out[0].peer, (char *)core_test_ids[CORE_TEST_HU]));
	cr_assert(eq(str, out[1].peer, (char *)core_test_ids[CORE_TEST_AT]));
	cr_assert(eq(u64, out[1].seq, 2));
}
