/*
 * store_wal_check: the WAL a killed SQLite writer leaves is read frame by
 * frame. A torn tail, a transaction cut short and frames of an earlier WAL
 * generation (old salts, left past the end after a checkpoint restarted
 * the log) are normal; a damaged frame followed by commits that completed
 * is a loss SQLite would not tell.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#define PAGE 4096
#define FRAME (24 + PAGE)

struct fixture {
	char dir[64];     /* where the writer works */
	char copy[80];    /* what a kill would leave: the files copied while it is open */
	sqlite3 *db;
};

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	cr_assert(eq(int, sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK), "%s: %s", sql, msg ? msg : "");
}

static void open_db(struct fixture *f)
{
	char path[128];
	snprintf(f->dir, sizeof(f->dir), "/tmp/limes-walcheck-XXXXXX");
	cr_assert(mkdtemp(f->dir) != NULL);
	snprintf(f->copy, sizeof(f->copy), "%s/copy", f->dir);
	cr_assert(eq(int, mkdir(f->copy, 0700), 0));
	snprintf(path, sizeof(path), "%s/limes.db", f->dir);
	cr_assert(eq(int, sqlite3_open(path, &f->db), SQLITE_OK));
	exec(f->db, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		    "PRAGMA wal_autocheckpoint=0; CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);"
		    "PRAGMA wal_checkpoint(TRUNCATE);");
}

/* n transactions, each one row of `bytes` */
static void commits(struct fixture *f, int n, int bytes)
{
	char sql[128];
	for (int i = 0; i < n; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES (randomblob(%d));", bytes);
		exec(f->db, sql);
	}
}

/* The WAL as a SIGKILL would leave it: copied while the writer holds it. */
static void snapshot(struct fixture *f)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "cp '%s/limes.db' '%s/limes.db-wal' '%s/'", f->dir, f->dir, f->copy);
	cr_assert(eq(int, system(cmd), 0));
}

static void done(struct fixture *f)
{
	char cmd[128];
	sqlite3_close(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	cr_assert(eq(int, system(cmd), 0));
}

static off_t wal_size(struct fixture *f)
{
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/limes.db-wal", f->copy);
	cr_assert(eq(int, stat(path, &st), 0));
	return st.st_size;
}

/* XORs the byte at off of the copy's WAL with mask. */
static void flip_at(struct fixture *f, off_t off, unsigned char mask)
{
	char path[128];
	unsigned char c;
	snprintf(path, sizeof(path), "%s/limes.db-wal", f->copy);
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert(eq(sz, (size_t)pread(fd, &c, 1, off), 1));
	c ^= mask;
	cr_assert(eq(sz, (size_t)pwrite(fd, &c, 1, off), 1));
	close(fd);
}

/* Flips one bit of the page data of frame `frame` (1-based) in the copy. */
static void flip(struct fixture *f, uint64_t frame)
{
	flip_at(f, 32 + (off_t)(frame - 1) * FRAME + 24 + 100, 0x10);
}

/* How many rows SQLite itself sees in the copy. */
static int rows_in_copy(struct fixture *f)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	snprintf(path, sizeof(path), "%s/limes.db", f->copy);
	cr_assert(eq(int, sqlite3_open(path, &db), SQLITE_OK));
	cr_assert(eq(int, sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK));
	cr_assert(eq(int, sqlite3_step(st), SQLITE_ROW));
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

Test(walcheck, no_wal_is_nothing_found)
{
	struct fixture f;
	struct store_wal_report r;
	open_db(&f);
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(not(r.lost));
	cr_assert(eq(u64, r.frames, 0));
	done(&f);
}

Test(walcheck, an_intact_wal_replays_every_frame)
{
	struct fixture f;
	struct store_wal_report r;
	open_db(&f);
	commits(&f, 20, 100);
	snapshot(&f);
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(r.header_ok);
	cr_assert(not(r.lost));
	cr_assert(eq(u64, r.bad_frame, 0));
	cr_assert(ge(u64, r.frames, 20)); /* at least one frame a commit */
	cr_assert(eq(u64, r.replayed, r.frames));
	done(&f);
}

Test(walcheck, frames_of_an_earlier_generation_past_the_end_are_normal)
{
	struct fixture f;
	struct store_wal_report r;
	open_db(&f);
	commits(&f, 40, 100);
	/* checkpoint everything; the next write restarts the log from frame 1
	 * with new salts, leaving the older frames behind it in the file */
	exec(f.db, "PRAGMA wal_checkpoint(PASSIVE);");
	commits(&f, 3, 100);
	snapshot(&f);
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(not(r.lost), "stale frames are not damage");
	cr_assert(eq(u64, r.bad_frame, 0));
	cr_assert(lt(u64, r.replayed, r.frames), "the old frames are still in the file (%llu of %llu replayed)",
		  (unsigned long long)r.replayed, (unsigned long long)r.frames);
	cr_assert(eq(int, rows_in_copy(&f), 43));
	done(&f);
}

Test(walcheck, a_torn_tail_is_normal)
{
	struct fixture f;
	struct store_wal_report r;
	char path[128];
	open_db(&f);
	commits(&f, 10, 100);
	snapshot(&f);
	snprintf(path, sizeof(path), "%s/limes.db-wal", f.copy);
	cr_assert(eq(int, truncate(path, wal_size(&f) - FRAME / 2), 0));
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(not(r.lost));
	/* and a flip in the very last frame: the last transaction cut short */
	snapshot(&f);
	flip(&f, (uint64_t)(wal_size(&f) - 32) / FRAME);
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(not(r.lost), "damage in the last transaction alone is a torn tail");
	cr_assert(lt(u64, 0, r.bad_frame));
	done(&f);
}

Test(walcheck, a_damaged_frame_before_completed_commits_is_a_loss)
{
	struct fixture f;
	struct store_wal_report r;
	open_db(&f);
	commits(&f, 30, 100);
	snapshot(&f);
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	uint64_t all = r.frames;
	flip(&f, 5);
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(r.lost, "commits after the damage");
	cr_assert(eq(u64, r.bad_frame, 5));
	cr_assert(eq(u64, r.bad_offset, 32 + 4 * FRAME));
	cr_assert(eq(u64, r.frames, all));
	cr_assert(ge(u64, r.commits_after, 20));
	cr_assert(lt(u64, r.replayed, 5));
	/* what the check says is what SQLite does: the later rows are gone */
	cr_assert(lt(int, rows_in_copy(&f), 5));
	done(&f);
}

Test(walcheck, a_flipped_salt_before_completed_commits_is_a_loss)
{
	struct fixture f;
	struct store_wal_report r;
	open_db(&f);
	commits(&f, 30, 100);
	snapshot(&f);
	flip_at(&f, 32 + 6 * FRAME + 9, 1); /* frame 7's salt-1 */
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(r.lost);
	cr_assert(eq(u64, r.bad_frame, 7));
	done(&f);
}

Test(walcheck, a_damaged_header_with_frames_is_a_loss)
{
	struct fixture f;
	struct store_wal_report r;
	open_db(&f);
	commits(&f, 5, 100);
	snapshot(&f);
	flip_at(&f, 17, 4); /* the header's salt-1 */
	cr_assert(eq(int, store_wal_check(f.copy, &r), 0));
	cr_assert(not(r.header_ok));
	cr_assert(r.lost);
	cr_assert(eq(int, rows_in_copy(&f), 0), "SQLite ignores the whole WAL");
	done(&f);
}
