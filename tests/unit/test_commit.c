/*
 * The group commit: staging opens the turn's transaction, one commit per
 * loop turn makes it durable and tells every listener once with the union of
 * what was staged, an empty turn commits nothing, the counter counts each
 * commit exactly once, and work a listener stages during the flush is
 * committed on the next turn without the loop going to sleep first.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "core/core.h"
#include "proto/err.h"
#include "support/core_testutil.h"

static inline int is(int cond)
{
	return cond;
}

static struct core_world w;

static void setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "commit"), 0));
}

static void teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(commit, .init = setup, .fini = teardown, .timeout = 30);

/* What one listener heard. */
struct heard {
	int calls;
	int rc[16];
	unsigned changes[16];
	int stage_more;   /* stage (and write) this many more rounds from inside the callback */
	uint32_t next_major;
};

static void on_commit(void *arg, int rc, unsigned changes)
{
	struct heard *h = arg;

	if (h->calls < 16) {
		h->rc[h->calls] = rc;
		h->changes[h->calls] = changes;
	}
	h->calls++;
}

static void put(uint32_t major);

/* A listener that stages more work while the commit tells it the result,
 * as the link does when a commit lets it send and it records the sends. */
static void on_commit_stage_more(void *arg, int rc, unsigned changes)
{
	struct heard *h = arg;

	on_commit(arg, rc, changes);
	if (h->stage_more > 0) {
		h->stage_more--;
		cr_assert(eq(int, commit_stage(w.commit, COMMIT_RECEIPTS), 0));
		put(h->next_major++);
	}
}

static const uint8_t envelope[] = "sealed to HU";

/* Writes one message with a recognisable id; the turn must be staged. */
static void put(uint32_t major)
{
	struct store_message m = { .type = 1, .created_ms = 1000, .expires_ms = 99999999999999ull };
	struct store_delivery d = { core_test_ids[CORE_TEST_HU], core_test_ids[CORE_TEST_HU], envelope,
				    sizeof(envelope) };

	memset(m.id, 0x5a, sizeof(m.id));
	m.id[0] = (uint8_t)(major >> 24);
	m.id[1] = (uint8_t)(major >> 16);
	m.id[2] = (uint8_t)(major >> 8);
	m.id[3] = (uint8_t)major;
	cr_assert(eq(int, store_outbox_put(w.store, &m, &d, 1), 0));
}

static int get(uint32_t major)
{
	struct core_test_rows rows;
	uint8_t id[STORE_ID_LEN];

	memset(id, 0x5a, sizeof(id));
	id[0] = (uint8_t)(major >> 24);
	id[1] = (uint8_t)(major >> 16);
	id[2] = (uint8_t)(major >> 8);
	id[3] = (uint8_t)major;
	return core_test_message_get(w.store, id, &rows);
}

Test(commit, stage_opens_the_turns_transaction)
{
	cr_assert(is(!store_in_transaction(w.store)));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	cr_assert(is(store_in_transaction(w.store)));
	/* staging again in the same turn is the same transaction */
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_INBOX), 0));
	cr_assert(is(store_in_transaction(w.store)));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(is(!store_in_transaction(w.store)));
}

Test(commit, flush_commits_and_tells_every_listener_once_with_all_changes)
{
	struct heard a = { 0 }, b = { 0 };

	cr_assert(eq(int, commit_listen(w.commit, on_commit, &a), 0));
	cr_assert(eq(int, commit_listen(w.commit, on_commit, &b), 0));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	put(1);
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_INBOX), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, a.calls, 1));
	cr_assert(eq(int, b.calls, 1));
	cr_assert(eq(int, a.rc[0], 0));
	cr_assert(eq(int, b.rc[0], 0));
	cr_assert(eq(u32, a.changes[0], COMMIT_OUTBOX | COMMIT_INBOX));
	cr_assert(eq(u32, b.changes[0], COMMIT_OUTBOX | COMMIT_INBOX));
	cr_assert(is(!store_in_transaction(w.store)));
	cr_assert(eq(u64, commit_count(w.commit), 1));
	cr_assert(eq(u64, commit_failures(w.commit), 0));

	/* the next commit hears only what was staged since */
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_RECEIPTS), 0));
	put(2);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, a.calls, 2));
	cr_assert(eq(u32, a.changes[1], COMMIT_RECEIPTS));
	cr_assert(eq(int, get(1), 0));
	cr_assert(eq(int, get(2), 0));
}

Test(commit, flush_with_nothing_staged_tells_nobody_and_counts_nothing)
{
	struct heard a = { 0 };

	cr_assert(eq(int, commit_listen(w.commit, on_commit, &a), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, a.calls, 0));
	cr_assert(eq(u64, commit_count(w.commit), 0));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	put(1);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0)); /* already committed */
	cr_assert(eq(int, a.calls, 1));
	cr_assert(eq(u64, commit_count(w.commit), 1));
}

Test(commit, counts_each_successful_commit_exactly_once)
{
	struct heard a = { 0 };

	cr_assert(eq(int, commit_listen(w.commit, on_commit, &a), 0));
	for (uint32_t round = 1; round <= 5; round++) {
		/* several stagings in one turn are still one commit */
		cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
		put(round * 10);
		cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
		put(round * 10 + 1);
		cr_assert(eq(int, commit_flush(w.commit), 0));
		cr_assert(eq(int, commit_flush(w.commit), 0));
		cr_assert(eq(u64, commit_count(w.commit), round));
	}
	/* and a commit made by the loop counts the same way */
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	put(99);
	cr_assert(eq(int, uv_run(&w.loop, UV_RUN_NOWAIT), 0));
	cr_assert(eq(u64, commit_count(w.commit), 6));
	cr_assert(eq(int, a.calls, 6));
	cr_assert(eq(u64, commit_failures(w.commit), 0));
}

Test(commit, runs_by_itself_on_the_next_loop_turn_and_is_durable)
{
	struct heard a = { 0 };

	cr_assert(eq(int, commit_listen(w.commit, on_commit, &a), 0));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	put(7);
	cr_assert(eq(int, a.calls, 0));
	/* returns 0: nothing keeps the loop alive once the turn committed */
	cr_assert(eq(int, uv_run(&w.loop, UV_RUN_NOWAIT), 0));
	cr_assert(eq(int, a.calls, 1));
	cr_assert(eq(int, a.rc[0], 0));
	cr_assert(eq(u32, a.changes[0], COMMIT_OUTBOX));
	cr_assert(is(!store_in_transaction(w.store)));
	cr_assert(eq(u64, commit_count(w.commit), 1));
	/* a turn with nothing staged does nothing */
	cr_assert(eq(int, uv_run(&w.loop, UV_RUN_NOWAIT), 0));
	cr_assert(eq(int, a.calls, 1));

	core_test_world_stop_commit(&w);
	cr_assert(eq(int, core_test_world_reopen_store(&w), 0));
	cr_assert(eq(int, get(7), 0));
}

static void on_guard(uv_timer_t *t)
{
	(void)t; /* only there so a loop that sleeps wakes up and the test can say so */
}

Test(commit, work_staged_by_a_listener_commits_on_the_next_turn_without_sleeping)
{
	struct heard a = { .stage_more = 1, .next_major = 100 };
	uv_timer_t guard;

	cr_assert(eq(int, commit_listen(w.commit, on_commit_stage_more, &a), 0));
	cr_assert(eq(int, uv_timer_init(&w.loop, &guard), 0));
	cr_assert(eq(int, uv_timer_start(&guard, on_guard, 3000, 0), 0));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	put(1);

	/* One turn that may block: it commits the first round, the listener
	 * stages a second, and the poll must then not wait for I/O (here: the
	 * 3 s guard timer) with that round uncommitted. */
	uint64_t start = uv_hrtime();
	(void)uv_run(&w.loop, UV_RUN_ONCE); /* the guard keeps it alive */
	uint64_t took_ms = (uv_hrtime() - start) / 1000000;
	cr_assert(eq(int, a.calls, 1));
	cr_assert(lt(u64, took_ms, 1000), "the loop slept %llu ms with work staged", (unsigned long long)took_ms);
	cr_assert(is(store_in_transaction(w.store)));
	cr_assert(eq(u64, commit_count(w.commit), 1));

	(void)uv_run(&w.loop, UV_RUN_NOWAIT);
	cr_assert(eq(int, a.calls, 2));
	cr_assert(eq(int, a.rc[1], 0));
	cr_assert(eq(u32, a.changes[1], COMMIT_RECEIPTS));
	cr_assert(is(!store_in_transaction(w.store)));
	cr_assert(eq(u64, commit_count(w.commit), 2));
	cr_assert(eq(int, get(1), 0));
	cr_assert(eq(int, get(100), 0));

	uv_close((uv_handle_t *)&guard, NULL);
	core_test_world_stop_commit(&w);
	cr_assert(eq(int, core_test_world_reopen_store(&w), 0));
	cr_assert(eq(int, get(1), 0));
	cr_assert(eq(int, get(100), 0));
}

Test(commit, listen_refuses_a_ninth_listener)
{
	struct heard h[9];

	memset(h, 0, sizeof(h));
	for (int i = 0; i < 8; i++)
		cr_assert(eq(int, commit_listen(w.commit, on_commit, &h[i]), 0));
	cr_assert(eq(int, commit_listen(w.commit, on_commit, &h[8]), LIMES_E_TOOBIG));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	put(1);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	for (int i = 0; i < 8; i++)
		cr_assert(eq(int, h[i].calls, 1));
	cr_assert(eq(int, h[8].calls, 0));
}

Test(commit, stop_and_destroy_accept_null)
{
	struct commit *none = NULL;

	commit_stop(NULL);
	commit_destroy(&none);
	commit_destroy(NULL);
	core_test_world_stop_commit(&w);
	cr_assert(eq(ptr, w.commit, NULL));
	/* the loop has nothing of the commit's left to run */
	cr_assert(eq(int, uv_run(&w.loop, UV_RUN_NOWAIT), 0));
}

Test(commit, flushes_by_hand_after_its_loop_handles_closed)
{
	/* a second committer whose handles are closed at once, as at shutdown:
	 * staging and flushing by hand still work */
	uv_loop_t loop;
	struct heard a = { 0 };

	cr_assert(eq(int, uv_loop_init(&loop), 0));
	struct commit *c = commit_new(&loop, w.store);
	cr_assert(not(eq(ptr, c, NULL)));
	commit_stop(c);
	cr_assert(eq(int, uv_run(&loop, UV_RUN_DEFAULT), 0));
	cr_assert(eq(int, commit_listen(c, on_commit, &a), 0));
	cr_assert(eq(int, commit_stage(c, COMMIT_OUTBOX), 0));
	put(3);
	cr_assert(eq(int, commit_flush(c), 0));
	cr_assert(eq(int, a.calls, 1));
	cr_assert(eq(u64, commit_count(c), 1));
	commit_destroy(&c);
	cr_assert(eq(ptr, c, NULL));
	cr_assert(eq(int, uv_loop_close(&loop), 0));
}
