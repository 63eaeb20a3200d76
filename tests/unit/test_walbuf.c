/*
 * The store's WAL writer (agent/store/walbuf.c): each commit's frames reach
 * the file in one call. What was committed must survive the process being
 * killed right after the commit returned (the frames were in the file before
 * the sync), whether a commit is one message or larger than the buffer, and
 * the files stay plain SQLite that the default VFS reads.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
/* ge(), never gt(): Criterion 2.4's C gt(T, a, b) tests !(a < b), so it
 * passes for a == b */
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"

/* The store's own VFS and the checkpointer's marks (agent/store/store_int.h,
 * private to the store module): the last test drives SQLite through them
 * directly, with the connections sqlite_checkpoint.c opens. */
const char *store_walbuf_vfs(void);
void store_walbuf_reader(sqlite3 *db);
void store_walbuf_window(sqlite3 *db, bool on);

static char dir[128];

static void setup(void)
{
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "walbuf"), 0));
}

static void teardown(void)
{
	cr_assert(eq(int, store_test_rmtree(dir), 0));
}

TestSuite(walbuf, .init = setup, .fini = teardown, .timeout = 60);

#define SINGLES 150
#define BATCH 200

static int put(struct store *st, uint32_t major, uint32_t minor, size_t env_len)
{
	return store_test_put(st, major, minor, env_len);
}

static bool present(struct store *st, uint32_t major, uint32_t minor)
{
	return store_test_present(st, major, minor);
}

/* The child commits and dies by SIGKILL without closing anything. */
static void commit_then_die(void)
{
	int err = -1;
	struct store *st = store_open(dir, &err);
	if (!st)
		_exit(2);
	/* one message per commit: the frames of each sit in the buffer until
	 * its sync */
	for (uint32_t i = 0; i < SINGLES; i++)
		if (put(st, 1, i, 1500) < 0 || store_commit(st) < 0)
			_exit(3);
	/* one commit far larger than the buffer (120 KiB): flushed in pieces */
	for (uint32_t i = 0; i < BATCH; i++)
		if (put(st, 2, i, 3000) < 0)
			_exit(4);
	if (store_commit(st) < 0)
		_exit(5);
	/* staged, never committed: must not be there afterwards */
	if (put(st, 3, 0, 1500) < 0)
		_exit(6);
	raise(SIGKILL);
	_exit(7);
}

static void run_child(void)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		commit_then_die();
	int status = 0;
	pid_t waited = waitpid(pid, &status, 0);
	cr_assert(eq(int, (int)waited, (int)pid));
	bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	cr_assert(killed, "the child failed before its kill (status %d)", status);
}

static void assert_all_committed(struct store *st)
{
	for (uint32_t i = 0; i < SINGLES; i++)
		cr_assert(present(st, 1, i), "single-message commit %u lost", i);
	for (uint32_t i = 0; i < BATCH; i++)
		cr_assert(present(st, 2, i), "message %u of the large commit lost", i);
	cr_assert(not(present(st, 3, 0)), "an uncommitted message survived");
}

Test(walbuf, every_commit_survives_a_kill_right_after_it)
{
	int err = -1;

	run_child();
	struct store *st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	assert_all_committed(st);
	/* and it takes writes again after the recovery */
	cr_assert(eq(int, put(st, 4, 0, 1500), 0));
	cr_assert(eq(int, store_commit(st), 0));
	store_destroy(&st);
	st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(present(st, 4, 0));
	store_destroy(&st);
}

Test(walbuf, files_are_plain_sqlite_for_the_default_vfs)
{
	int err = -1;

	run_child();
	/* the read-only path opens with SQLite's default VFS and replays the WAL */
	struct store *st = store_open_existing(dir, &err);
	cr_assert(eq(int, err, 0));
	assert_all_committed(st);
	store_destroy(&st);
}

static off_t wal_size(blkcnt_t *blocks)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/limes.db-wal", dir);
	cr_assert(eq(int, stat(path, &st), 0), "no %s", path);
	if (blocks)
		*blocks = st.st_blocks;
	return st.st_size;
}

/* The last `len` bytes of the -wal file are zeros. */
static bool tail_is_zeros(size_t len)
{
	char path[256];
	static uint8_t buf[65536];

	snprintf(path, sizeof(path), "%s/limes.db-wal", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert(len <= sizeof(buf));
	ssize_t n = pread(fd, buf, len, (off_t)STORE_WAL_FILL_BYTES - (off_t)len);
	close(fd);
	cr_assert(eq(sz, (size_t)n, len));
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* A fresh store's WAL (its first generation, no header yet) is written in
 * full when the store opens, and commits overwrite it: it never grows. */
Test(walbuf, the_wal_file_is_written_in_full_when_the_store_opens)
{
	int err = -1;
	blkcnt_t blocks = 0;

	struct store *st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(u64, (uint64_t)wal_size(&blocks), STORE_WAL_FILL_BYTES));
	/* written, not a hole: the blocks are the file's */
	cr_assert(ge(u64, (uint64_t)blocks * 512u, STORE_WAL_FILL_BYTES),
		  "the WAL has %llu bytes of blocks", (unsigned long long)blocks * 512u);
	for (uint32_t i = 0; i < 100; i++) {
		cr_assert(eq(int, put(st, 5, i, 1500), 0));
		cr_assert(eq(int, store_commit(st), 0));
	}
	cr_assert(eq(u64, (uint64_t)wal_size(NULL), STORE_WAL_FILL_BYTES));
	cr_assert(tail_is_zeros(65536));
	store_destroy(&st);
	/* and it reads back after a clean close and reopen */
	st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	for (uint32_t i = 0; i < 100; i++)
		cr_assert(present(st, 5, i), "commit %u lost", i);
	store_destroy(&st);
}

/* After a kill the log is its commits followed by zeros: SQLite's recovery
 * reads every commit back, and walcheck takes the zeros for the end of the
 * log, not for damage. */
Test(walbuf, a_zero_tail_after_a_kill_is_the_end_of_the_log)
{
	struct store_wal_report r;
	int err = -1;

	run_child();
	cr_assert(eq(u64, (uint64_t)wal_size(NULL), STORE_WAL_FILL_BYTES));
	cr_assert(tail_is_zeros(65536));
	cr_assert(eq(int, store_wal_check(dir, &r), 0));
	cr_assert(r.header_ok);
	cr_assert(eq(u64, r.frames, (STORE_WAL_FILL_BYTES - 32) / (4096 + 24)));
	cr_assert(ge(u64, r.replayed, (uint64_t)SINGLES + 1), "replayed up to frame %llu",
		  (unsigned long long)r.replayed);
	cr_assert(eq(u64, r.bad_frame, 0), "damage reported at frame %llu", (unsigned long long)r.bad_frame);
	cr_assert(not(r.lost));
	cr_assert(eq(u64, r.commits_after, 0));
	struct store *st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	assert_all_committed(st);
	store_destroy(&st);
}

/* Every commit's sync reaches the disk; the checkpointer syncs neither the
 * log, whose frames the commits synced, nor (right away) the database: its
 * connection runs with synchronous=OFF and leaves the database's sync for
 * later (test_powerloss.c shows what that later must be). */
Test(walbuf, a_checkpoint_syncs_neither_the_log_nor_at_once_the_database)
{
	struct store_wal_stats ws;
	int err = -1;
	const uint32_t commits = 200;

	struct store *st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	/* checkpoints from 100 frames on */
	cr_assert(eq(int, store_wal_limit(st, 800), 0));
	cr_assert(eq(int, store_wal_stats(st, &ws), 0));
	uint64_t syncs0 = ws.wal_syncs, skipped0 = ws.wal_syncs_skipped;
	for (uint32_t i = 0; i < commits; i++) {
		cr_assert(eq(int, put(st, 6, i, 1500), 0));
		cr_assert(eq(int, store_commit(st), 0));
	}
	cr_assert(eq(int, store_wal_stats(st, &ws), 0));
	cr_assert(ge(u64, ws.wal_syncs - syncs0, (uint64_t)commits), "%llu real syncs for %u commits",
		  (unsigned long long)(ws.wal_syncs - syncs0), commits);
	uint64_t after_commits = ws.wal_syncs;
	/* the checkpointer copies once more after the commits stop, then
	 * syncs the database before it sleeps */
	for (int i = 0; i < 500 && (ws.checkpointer_checkpoints == 0 || ws.db_sync_owed); i++) {
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		cr_assert(eq(int, store_wal_stats(st, &ws), 0));
	}
	cr_assert(ge(u64, ws.checkpointer_checkpoints, 1));
	cr_assert(eq(u64, ws.wal_syncs, after_commits), "the checkpoints synced the log %llu times",
		  (unsigned long long)(ws.wal_syncs - after_commits));
	cr_assert(eq(u64, ws.wal_syncs_skipped, skipped0), "the checkpoints asked for %llu syncs of the log",
		  (unsigned long long)(ws.wal_syncs_skipped - skipped0));
	cr_assert(ge(u64, ws.db_syncs_deferred, ws.checkpointer_checkpoints),
		  "%llu database syncs left for later, %llu checkpoints", (unsigned long long)ws.db_syncs_deferred,
		  (unsigned long long)ws.checkpointer_checkpoints);
	/* owed no more: synced by the checkpointer when the commits stopped,
	 * or by the writer when the log started anew in between */
	cr_assert(eq(u64, ws.db_sync_owed, 0));
	cr_assert(ge(u64, ws.db_syncs_checkpointer + ws.db_syncs_restart, 1));
	store_destroy(&st);
}

/* A checkpoint reads the newest frame of each page in page order: here most
 * of those reads come from windows of the log read whole. What it copied
 * reads back through SQLite's own VFS. */
Test(walbuf, a_checkpoint_reads_the_log_in_windows)
{
	struct store_wal_stats ws;
	int err = -1;
	const uint32_t commits = 100, per_commit = 20;

	struct store *st = store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(int, store_wal_limit(st, 8000), 0));
	for (uint32_t i = 0; i < commits; i++) {
		for (uint32_t k = 0; k < per_commit; k++)
			cr_assert(eq(int, put(st, 8, i * per_commit + k, 1500), 0));
		cr_assert(eq(int, store_commit(st), 0));
	}
	/* ~2,000 rows of 1.5 KiB: ~900 pages to copy; the checkpointer copies
	 * once more after the commits stop */
	cr_assert(eq(int, store_wal_stats(st, &ws), 0));
	for (int i = 0; i < 1000 && ws.ckpt_log_reads < 500; i++) {
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
		cr_assert(eq(int, store_wal_stats(st, &ws), 0));
	}
	cr_assert(ge(u64, ws.ckpt_log_reads, 500), "the checkpointer read %llu frames",
		  (unsigned long long)ws.ckpt_log_reads);
	cr_assert(ge(u64, ws.ckpt_log_reads_kept * 4, ws.ckpt_log_reads * 3),
		  "%llu of %llu reads of the log answered from a window", (unsigned long long)ws.ckpt_log_reads_kept,
		  (unsigned long long)ws.ckpt_log_reads);
	store_destroy(&st);
	/* the default VFS reads every row back (the database file and what
	 * the log still holds) */
	st = store_open_existing(dir, &err);
	cr_assert(eq(int, err, 0));
	for (uint32_t i = 0; i < commits * per_commit; i++)
		cr_assert(present(st, 8, i), "message %u lost", i);
	store_destroy(&st);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	cr_assert(eq(int, rc, SQLITE_OK), "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
}

static int first_column(void *arg, int n, char **v, char **names)
{
	(void)names;
	snprintf(arg, 64, "%s", n > 0 && v[0] ? v[0] : "");
	return 0;
}

static void query(sqlite3 *db, const char *sql, char out[64])
{
	out[0] = 0;
	cr_assert(eq(int, sqlite3_exec(db, sql, first_column, out, NULL), SQLITE_OK), "%s: %s", sql,
		  sqlite3_errmsg(db));
}

static int checkpoint(sqlite3 *db)
{
	store_walbuf_window(db, true);
	int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	store_walbuf_window(db, false);
	return rc;
}

/* A checkpoint that cannot write its pages (the database file may not grow:
 * a full disk) says so, and copies nothing it did not write, also when a
 * reader stops it short of the log's end, where SQLite publishes the copy
 * without a sync and without looking at the file control that ends it (a
 * database write gathered past that point would be lost silently). After the
 * disk recovers and the log restarts, every row reads back. */
Test(walbuf, a_checkpoint_that_cannot_write_reports_it_and_loses_nothing)
{
	char path[256], v[64];
	sqlite3 *w = NULL, *c = NULL, *r = NULL;
	const char *vfs = store_walbuf_vfs();
	struct stat sb;
	struct rlimit was, lim;

	cr_assert(vfs != NULL);
	snprintf(path, sizeof(path), "%s/t.db", dir);
	cr_assert(eq(int, sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK));
	exec_ok(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA mmap_size=0;"
		   "CREATE TABLE t(id INTEGER PRIMARY KEY, x BLOB); INSERT INTO t(x) VALUES (randomblob(100));");
	sqlite3_wal_autocheckpoint(w, 0);
	/* the checkpointer's connection, as sqlite_checkpoint.c opens it */
	cr_assert(eq(int, sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE, vfs), SQLITE_OK));
	exec_ok(c, "PRAGMA synchronous=FULL; PRAGMA mmap_size=0; SELECT count(*) FROM sqlite_schema;");
	sqlite3_wal_autocheckpoint(c, 0);
	store_walbuf_reader(c);
	cr_assert(eq(int, checkpoint(c), SQLITE_OK));
	/* ten pages past the end of the database file, then a reader at that
	 * point and one more commit: the next copy stops short of the end */
	exec_ok(w, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)"
		   " INSERT INTO t(x) SELECT randomblob(3000) FROM n;");
	cr_assert(eq(int, sqlite3_open_v2(path, &r, SQLITE_OPEN_READWRITE, vfs), SQLITE_OK));
	exec_ok(r, "BEGIN; SELECT count(*) FROM t;");
	exec_ok(w, "INSERT INTO t(x) VALUES (randomblob(3000));");

	cr_assert(eq(int, stat(path, &sb), 0));
	signal(SIGXFSZ, SIG_IGN);
	cr_assert(eq(int, getrlimit(RLIMIT_FSIZE, &was), 0));
	lim = was;
	lim.rlim_cur = (rlim_t)sb.st_size;
	cr_assert(eq(int, setrlimit(RLIMIT_FSIZE, &lim), 0));
	int rc = checkpoint(c);
	cr_assert(eq(int, setrlimit(RLIMIT_FSIZE, &was), 0));
	cr_assert(ne(int, rc, SQLITE_OK), "a checkpoint that could not grow the file reported success");

	exec_ok(r, "COMMIT;");
	query(w, "SELECT count(*) FROM t", v);
	cr_assert(eq(str, v, "12"));
	query(w, "PRAGMA quick_check", v);
	cr_assert(eq(str, v, "ok"));
	/* the disk recovers: the rest is copied and the log starts again */
	cr_assert(eq(int, checkpoint(c), SQLITE_OK));
	exec_ok(w, "INSERT INTO t(x) VALUES (randomblob(10));");
	cr_assert(eq(int, checkpoint(c), SQLITE_OK));
	exec_ok(w, "INSERT INTO t(x) VALUES (randomblob(10));");
	sqlite3_close(r);
	sqlite3_close(c);
	sqlite3_close(w);
	/* SQLite's own VFS, from the files alone */
	cr_assert(eq(int, sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK));
	query(w, "SELECT count(*) FROM t", v);
	cr_assert(eq(str, v, "14"));
	query(w, "PRAGMA integrity_check", v);
	cr_assert(eq(str, v, "ok"));
	sqlite3_close(w);
}

/* The child: files may not grow past 2 MiB (the fill fails with EFBIG, as
 * on a full disk); the store opens all the same, with a WAL cut back to what
 * it held, and its commits read back. */
static void open_with_no_room_for_the_fill(void)
{
	struct rlimit lim = { 2u << 20, 2u << 20 };
	int err = -1;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
		_exit(2);
	struct store *st = store_open(dir, &err);
	if (!st)
		_exit(3);
	if ((uint64_t)wal_size(NULL) >= (2u << 20))
		_exit(4); /* not cut back */
	for (uint32_t i = 0; i < 20; i++)
		if (put(st, 7, i, 1500) < 0 || store_commit(st) < 0)
			_exit(5);
	for (uint32_t i = 0; i < 20; i++)
		if (!present(st, 7, i))
			_exit(6);
	store_destroy(&st);
	_exit(0);
}

Test(walbuf, a_fill_that_fails_leaves_the_file_as_it_was_and_the_store_works)
{
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0)
		open_with_no_room_for_the_fill();
	int status = 0;
	pid_t waited = waitpid(pid, &status, 0);
	cr_assert(eq(int, (int)waited, (int)pid));
	bool exited = WIFEXITED(status);
	int code = exited ? WEXITSTATUS(status) : -1;
	cr_assert(exited, "the child died (status %d)", status);
	cr_assert(eq(int, code, 0), "the child failed at step %d", code);
}
