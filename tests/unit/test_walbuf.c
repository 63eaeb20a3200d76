/*
 * The store's WAL writer (agent/store/walbuf.c): each commit's frames reach
 * the file in one call. What was committed must survive the process being
 * killed right after the commit returned (the frames were in the file before
 * the sync), whether a commit is one message or larger than the buffer, and
 * the files stay plain SQLite that the default VFS reads.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"

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
	static uint8_t env[4096];
	struct store_message msg = { .type = 1, .created_ms = 1000, .expires_ms = 1000 + 3600000 };
	struct store_delivery d = { "AGENCY-A", "HUB", env, env_len };

	memset(env, (int)(major + minor), sizeof(env));
	store_test_id(msg.id, major, minor);
	return store_outbox_put(st, &msg, &d, 1);
}

static int count_row(void *arg, const struct store_delivery_row *row)
{
	int *n = arg;
	(*n) += row->envelope_len > 0;
	return 0;
}

static bool present(struct store *st, uint32_t major, uint32_t minor)
{
	uint8_t id[STORE_ID_LEN];
	int n = 0;

	store_test_id(id, major, minor);
	return store_message_get(st, id, count_row, &n) == 0 && n == 1;
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
