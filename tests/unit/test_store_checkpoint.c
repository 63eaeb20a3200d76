/*
 * The SQLite store's WAL checkpointer (agent/store/sqlite_checkpoint.c):
 * commits are copied into the database file by a thread of the store's own,
 * the WAL stays within its bound under commits that never leave a gap, a
 * failed fsync on the checkpointer's thread makes the store refuse writes,
 * and closing still checkpoints and removes the WAL.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_faultvfs.h"
#include "support/store_testutil.h"

static char dir[128];
static struct store *st;
static uint8_t envelope[6000];

static void setup(void)
{
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "ckpt"), 0));
	cr_assert(eq(int, store_faultvfs_register(), 0));
	store_faultvfs_reset();
	for (size_t i = 0; i < sizeof(envelope); i++)
		envelope[i] = (uint8_t)(i * 7 + 3);
}

static void teardown(void)
{
	store_faultvfs_reset();
	store_destroy(&st);
	cr_assert(eq(int, store_test_rmtree(dir), 0));
}

TestSuite(store_checkpoint, .init = setup, .fini = teardown, .timeout = 60);

static void open_store(const char *vfs)
{
	int err = -1;

	st = store_open_vfs(dir, vfs, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(not(eq(ptr, st, NULL)));
}

/* Stages message (major, minor) with one envelope of env_len bytes. */
static int put(uint32_t major, uint32_t minor, size_t env_len)
{
	struct store_message msg = {
		.type = 1, .priority = 1, .created_ms = 1000 + minor, .expires_ms = 10000000,
	};
	struct store_delivery d = { "AGENCY-A", "HUB", envelope, env_len };

	store_test_id(msg.id, major, minor);
	return store_outbox_put(st, &msg, &d, 1);
}

static int count_rows(void *arg, const struct store_delivery_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

/* How many deliveries the store holds (each message here has one). */
static int deliveries(void)
{
	struct store_list_filter f = { .state = -1, .type = -1 };
	int rows = 0;
	int n = store_delivery_list(st, &f, 0, 100000, count_rows, &rows);

	cr_assert(eq(int, n, rows));
	return n;
}

static off_t file_size(const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

Test(store_checkpoint, commits_are_copied_by_the_checkpointer_thread_not_the_committing_one)
{
	struct store_wal_stats s;

	open_store(NULL);
	cr_assert(eq(int, store_wal_stats(st, &s), 0));
	cr_assert(eq(u64, s.limit_frames, STORE_WAL_LIMIT_FRAMES));
	/* the log is copied from limit / 8 frames on: 128 here */
	cr_assert(eq(int, store_wal_limit(st, 1024), 0));
	off_t db_before = file_size("limes.db");
	for (uint32_t i = 0; i < 20; i++) {
		cr_assert(eq(int, put(1, i, sizeof(envelope)), 0));
		cr_assert(eq(int, store_commit(st), 0));
	}
	cr_assert(eq(int, store_wal_stats(st, &s), 0));
	/* at the threshold at some point (the log may have started anew
	 * since: the checkpointer copies fast) */
	cr_assert(le(u64, 128, s.high_water_frames));
	cr_assert(eq(u64, s.frame_bytes, 4096 + 24));
	/* the checkpointer copies within its interval; allow a loaded machine 10 s */
	for (int i = 0; i < 1000 && s.checkpointer_checkpoints == 0; i++) {
		sleep_ms(10);
		cr_assert(eq(int, store_wal_stats(st, &s), 0));
	}
	cr_assert(lt(u64, 0, s.checkpointer_checkpoints), "no checkpoint on the checkpointer's thread");
	cr_assert(eq(u64, s.loop_checkpoints, 0));
	cr_assert(eq(u64, s.bound_waits, 0));
	/* the pages reached the database file */
	for (int i = 0; i < 1000 && file_size("limes.db") <= db_before + 20 * 6000; i++)
		sleep_ms(10);
	cr_assert(lt(i64, (int64_t)(db_before + 20 * 6000), (int64_t)file_size("limes.db")));
	/* the WAL index lives in the process's heap: no -shm file */
	cr_assert(eq(i64, (int64_t)file_size("limes.db-shm"), -1));
}

Test(store_checkpoint, the_wal_stays_within_its_bound_when_transactions_leave_no_gap)
{
	struct store_wal_stats s;
	const uint32_t limit = 64;
	off_t wal_max = 0;

	open_store(NULL);
	cr_assert(eq(int, store_wal_limit(st, limit), 0));
	/* as the agent under traffic: the next transaction begins right after
	 * each commit and reads (SQLite's BEGIN takes its snapshot at the first
	 * read), before the checkpointer can have copied that commit: the log
	 * does not restart on its own */
	cr_assert(eq(int, store_begin(st), 0));
	for (uint32_t i = 0; i < 300; i++) {
		cr_assert(eq(int, put(2, i, sizeof(envelope)), 0));
		cr_assert(eq(int, store_commit(st), 0));
		cr_assert(eq(int, store_begin(st), 0));
		cr_assert(eq(int, deliveries(), (int)i + 1));
		off_t wal = file_size("limes.db-wal");
		if (wal > wal_max)
			wal_max = wal;
	}
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_wal_stats(st, &s), 0));
	/* 300 commits of ~3 frames each would make ~900 frames without the bound;
	 * with it: the limit plus the frames of one transaction */
	cr_assert(ge(u64, s.high_water_frames, limit));
	cr_assert(le(u64, s.high_water_frames, limit + 16), "the log reached %llu frames",
		  (unsigned long long)s.high_water_frames);
	/* the file is written in full at open (walbuf.c) and the log stays
	 * inside it: it never grows */
	cr_assert(eq(i64, (int64_t)wal_max, (int64_t)STORE_WAL_FILL_BYTES));
	/* reached at least once (a transaction that begins just after the
	 * checkpointer copied everything starts the log anew on its own) */
	cr_assert(ge(u64, s.bound_waits, 1));
	cr_assert(lt(u64, 0, s.checkpointer_checkpoints));
	cr_assert(eq(int, deliveries(), 300));
	cr_assert(eq(int, store_check(st, true), 0));
}

Test(store_checkpoint, an_fsync_failure_on_the_checkpointer_thread_makes_the_store_refuse_writes)
{
	int rc = 0, committed = 0;
	uint32_t i;

	open_store(STORE_FAULTVFS_NAME);
	cr_assert(eq(int, store_wal_limit(st, 64), 0)); /* copied from 8 frames on */
	for (i = 0; i < 5; i++, committed++) {
		cr_assert(eq(int, put(3, i, 3000), 0));
		cr_assert(eq(int, store_commit(st), 0));
	}
	/* the next fsync of the checkpointer's (not this thread's) fails */
	store_faultvfs_fail_sync_other(1);
	for (; i < 1000 && rc == 0; i++) {
		sleep_ms(10);
		rc = put(3, i, 3000);
		if (rc == 0)
			rc = store_commit(st);
		if (rc == 0)
			committed++;
	}
	cr_assert(eq(int, rc, LIMES_E_STORE_FAILED));
	cr_assert(eq(int, store_faultvfs_failures(), 1));
	cr_assert(not(store_healthy(st)));
	cr_assert(eq(str, (char *)store_health_reason(st), "WAL checkpoint failed: disk I/O error (fsync)"));
	cr_assert(eq(int, store_begin(st), LIMES_E_STORE_FAILED));
	/* what was committed is there after a restart, and nothing else */
	store_faultvfs_reset();
	store_destroy(&st);
	open_store(NULL);
	cr_assert(store_healthy(st));
	cr_assert(eq(int, deliveries(), committed));
	cr_assert(eq(int, store_check(st, true), 0));
}

Test(store_checkpoint, closing_checkpoints_and_removes_the_wal)
{
	open_store(NULL);
	for (uint32_t i = 0; i < 10; i++) {
		cr_assert(eq(int, put(4, i, 3000), 0));
		cr_assert(eq(int, store_commit(st), 0));
	}
	cr_assert(lt(i64, 0, (int64_t)file_size("limes.db-wal")));
	store_destroy(&st);
	cr_assert(eq(i64, (int64_t)file_size("limes.db-wal"), -1));
	open_store(NULL);
	cr_assert(eq(int, deliveries(), 10));
}
