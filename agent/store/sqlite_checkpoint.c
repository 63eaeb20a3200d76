/*
 * The WAL checkpointer of the SQLite backend (docs/store.md, "Checkpoints").
 *
 * SQLite's automatic checkpoint runs in the thread that commits, after the
 * commit that fills the log past 1,000 frames: it copies every page the log
 * holds into the database file and fsyncs it, 10-16 ms in the agent's loop
 * thread every ~60 messages (docs/benchmarks.md, "The WAL checkpoint off the
 * loop thread"). Here it is off: a thread of the store's own, with a second
 * connection, copies committed frames (PASSIVE: never blocks the writer) at
 * most every CKPT_INTERVAL_MS while commits come, and once more when they
 * stop. Both connections use SQLite's "unix-excl" VFS: the process holds the
 * database file exclusively (as locking_mode=EXCLUSIVE did, no other process
 * can open it) and keeps the WAL index in its own heap, shared by its
 * connections, so the second connection costs no -shm file and no lock
 * system call per transaction.
 *
 * The log restarts from its first frame only when a transaction begins while
 * every frame is copied, and under traffic the loop begins the next one right
 * after each commit (lazy marks): the log would grow without end. The bound:
 * a commit that leaves `limit` frames or more waits for the checkpointer to
 * copy all of them (the loop still copies nothing and fsyncs nothing), so its
 * next transaction starts the log anew. Only if the checkpointer has not
 * caught up within CKPT_WAIT_MS does the committing thread checkpoint itself.
 * The log thus holds at most `limit` frames plus one transaction's.
 *
 * Shared between the two threads: the small struct below, under `lock`, and
 * the counters marked atomic. The checkpointer never touches struct store.
 */
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "proto/err.h"

/* Between two checkpoints while commits keep coming: each copies what the
 * last CKPT_INTERVAL_MS committed (at 1,000 msg/s ~650 frames, many of them
 * the same pages) and fsyncs the database once, on a thread of its own. Its
 * fsyncs share the disk with the loop's at every commit: 10 ms made 67-107
 * checkpointer fsyncs/s in a bench at 1,000 msg/s, 50 ms 33-72, with the
 * same WAL high water (the log restarts at the bound either way;
 * docs/benchmarks.md, "The WAL written up front"). */
#define CKPT_INTERVAL_MS 50
/* Below this many frames the log is left alone, as SQLite's own checkpoint
 * left it (1,000 frames): an idle agent's WAL keeps its recent commits in
 * one generation, which is what walcheck reads to tell a torn tail from lost
 * commits (docs/operations.md, "A damaged WAL"). At most limit / 8. */
#define CKPT_MIN_FRAMES 1000u
/* The last 1/CKPT_EAGER_PART of the bound is checkpointed commit by commit. */
#define CKPT_EAGER_PART 8
/* How long a commit at the bound waits for the checkpointer before its own
 * thread copies the rest (a stalled disk, or the checkpointer stopped). */
#define CKPT_WAIT_MS 250

struct store_ckpt {
	sqlite3 *db;                  /* the checkpointer's own connection */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;          /* the checkpointer waits here (monotonic clock) */
	pthread_cond_t copied;        /* a commit at the bound waits here (monotonic clock) */

	/* under lock */
	bool stop;                    /* close: the checkpointer returns */
	bool kick;                    /* checkpoint now, interval or not */
	bool running;                 /* a checkpoint is under way on its thread */
	bool hold;                    /* the committing thread checkpoints: start none */
	bool bound;                   /* a commit at the bound waits for the next checkpoint */
	uint32_t log_frames;          /* the last checkpoint's frames in the log ... */
	uint32_t copied_frames;       /* ... and how many of them are in the database */
	uint64_t started, finished;   /* checkpoints begun and done: whose result that is */

	/* written by the checkpointer, read by the committing thread */
	atomic_bool asleep;           /* waiting for a commit to wake it */
	atomic_int failed_rc;         /* its last failure (a SQLite code), 0 none */
	atomic_uint_fast64_t worker_checkpoints; /* its checkpoints that copied frames */
	atomic_uint_fast64_t log_reads, log_reads_kept; /* walbuf.c's counts */
	/* written by the committing thread (the hook), read by the checkpointer */
	atomic_uint_fast64_t commits;
	atomic_uint frames_now;       /* = frames */
	atomic_bool writer_open;      /* the committing thread has a transaction open */

	/* the committing thread's own */
	uint32_t frames;              /* in the log after the last commit (the WAL hook) */
	uint32_t high_water;          /* most frames the log held since open */
	uint32_t limit;               /* the bound */
	uint32_t frame_bytes;         /* page size + the 24-byte frame header */
	uint64_t loop_checkpoints;    /* copied by the committing thread: the bound's fallback */
	uint64_t bound_waits;         /* commits that reached the bound */
	uint64_t bound_wait_us;       /* ... and the time they waited */
	bool thread_started;
	bool defer;                   /* set before the thread starts: syncs of the database left for later */
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct timespec mono_after_ms(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static uint32_t min_frames(const struct store_ckpt *c)
{
	return c->limit / 8 < CKPT_MIN_FRAMES ? c->limit / 8 : CKPT_MIN_FRAMES;
}

/* Called by SQLite in the committing thread after each commit on the main
 * connection; replacing the default hook turns the automatic checkpoint off. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_ckpt *c = arg;

	(void)db;
	(void)name;
	c->frames = frames > 0 ? (uint32_t)frames : 0;
	atomic_store(&c->frames_now, c->frames);
	if (c->frames > c->high_water)
		c->high_water = c->frames;
	atomic_fetch_add(&c->commits, 1);
	/* Near the bound every commit asks for a checkpoint at once, so that
	 * the one at the bound finds the log copied up to the commit before it
	 * and waits only for its own frames. Otherwise a sleeping checkpointer
	 * is woken by the first commit after it slept, and while commits come
	 * it wakes on its own interval (no system call here). */
	bool near_bound = c->frames >= c->limit - c->limit / CKPT_EAGER_PART;
	if (near_bound || (atomic_load(&c->asleep) && c->frames >= min_frames(c))) {
		pthread_mutex_lock(&c->lock);
		c->kick |= near_bound;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
	}
	return SQLITE_OK;
}

/* One PASSIVE checkpoint on the checkpointer's connection; called unlocked. */
static void checkpoint_once(struct store_ckpt *c, uint32_t *log_frames, uint32_t *copied_frames, int *rc)
{
	int log = 0, copied = 0;

	store_walbuf_window(c->db, true);
	*rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
	store_walbuf_window(c->db, false);
	uint64_t reads, kept;
	store_walbuf_window_counts(c->db, &reads, &kept);
	atomic_store(&c->log_reads, reads);
	atomic_store(&c->log_reads_kept, kept);
	*log_frames = log > 0 ? (uint32_t)log : 0;
	*copied_frames = copied > 0 ? (uint32_t)copied : 0;
}

/* A failed checkpoint or sync of the database, under lock: the committing
 * thread turns it into the store's failure (it owns struct store); a full
 * disk may pass, the rest is final: stop touching the file. */
static void note_failure(struct store_ckpt *c, int rc)
{
	atomic_store(&c->failed_rc, rc);
	if ((rc & 0xff) != SQLITE_FULL)
		c->stop = true;
}

static void *checkpointer_main(void *arg)
{
	struct store_ckpt *c = arg;
	uint64_t seen = 0;            /* commits counted when the last checkpoint began */
	struct timespec next = mono_after_ms(0);

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		if (c->hold) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		if (!c->kick && (atomic_load(&c->commits) == seen || atomic_load(&c->frames_now) < min_frames(c))) {
			/* nothing committed since the last checkpoint: sleep until
			 * the next commit; announce it first, then look once more,
			 * so a commit in between is never missed. With a database
			 * sync owed, sleep at most an interval: if no commit came,
			 * sync it then (an idle writer's next transaction would
			 * start the log anew, and make the sync itself) */
			bool owed = c->defer && store_walbuf_db_pending(c->db);
			atomic_store(&c->asleep, true);
			if (!c->kick && !c->stop &&
			    (atomic_load(&c->commits) == seen || atomic_load(&c->frames_now) < min_frames(c))) {
				if (!owed) {
					pthread_cond_wait(&c->wake, &c->lock);
				} else {
					struct timespec until = mono_after_ms(CKPT_INTERVAL_MS);
					int w = pthread_cond_timedwait(&c->wake, &c->lock, &until);
					if (w == ETIMEDOUT && !c->kick && !c->stop &&
					    (atomic_load(&c->commits) == seen ||
					     atomic_load(&c->frames_now) < min_frames(c))) {
						atomic_store(&c->asleep, false);
						pthread_mutex_unlock(&c->lock);
						int rc = store_walbuf_db_sync(c->db);
						pthread_mutex_lock(&c->lock);
						if (rc != SQLITE_OK)
							note_failure(c, rc);
						continue;
					}
				}
			}
			atomic_store(&c->asleep, false);
			next = mono_after_ms(0);
			continue;
		}
		struct timespec now = mono_after_ms(0);
		if (!c->kick && ts_before(&now, &next)) {
			int w = pthread_cond_timedwait(&c->wake, &c->lock, &next);
			if (w != 0 && w != ETIMEDOUT)
				break; /* cannot happen with a valid mutex and time */
			continue;
		}
		c->kick = false;
		c->started++;
		c->running = true;
		seen = atomic_load(&c->commits);
		uint32_t prev_log = c->log_frames, prev_copied = c->copied_frames;
		/* The database's sync is left for later (docs/store.md,
		 * "Checkpoints") except for a commit waiting at the bound: its
		 * next transaction starts the log anew over what this copies. */
		bool sync_now = c->bound;
		c->bound = false;
		pthread_mutex_unlock(&c->lock);

		uint32_t log_frames, copied_frames;
		int rc;
		if (c->defer)
			store_walbuf_db_copy(c->db, false);
		checkpoint_once(c, &log_frames, &copied_frames, &rc);
		if (c->defer)
			store_walbuf_db_copy(c->db, true);
		/* Everything copied and no transaction open: the writer's next
		 * one starts the log anew, and would sync in its commit. */
		if (rc == SQLITE_OK && log_frames > 0 && copied_frames == log_frames && !atomic_load(&c->writer_open))
			sync_now = true;
		if (c->defer && sync_now && rc == SQLITE_OK)
			rc = store_walbuf_db_sync(c->db);

		pthread_mutex_lock(&c->lock);
		next = mono_after_ms(CKPT_INTERVAL_MS);
		c->finished = c->started;
		c->running = false;
		if (rc == SQLITE_OK) {
			/* a shorter log than last time started anew: all it copied is new */
			uint32_t before = log_frames >= prev_log ? prev_copied : 0;
			if (copied_frames > before)
				atomic_fetch_add(&c->worker_checkpoints, 1);
			c->log_frames = log_frames;
			c->copied_frames = copied_frames;
		} else if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) {
			note_failure(c, rc);
		}
		pthread_cond_broadcast(&c->copied);
	}
	atomic_store(&c->asleep, false);
	pthread_cond_broadcast(&c->copied);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The checkpointer's connection: same file, same VFS, no page cache to
 * speak of (a checkpoint reads frames and writes pages through its own
 * buffer). Its sync of the WAL before copying is skipped (walbuf.c): the
 * loop's connection synced every frame a checkpoint copies, at its commit.
 * Its sync of the database after copying is left for later when the writer
 * syncs the database before the log restarts (c->defer: synchronous=OFF,
 * and the syncs are this file's and walbuf.c's); else FULL, each checkpoint
 * that copies the whole log syncs it. */
static int open_connection(struct store_ckpt *c, const char *path, const char *vfs)
{
	int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, vfs);

	if (rc == SQLITE_OK)
		rc = sqlite3_extended_result_codes(c->db, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, c->defer ? "PRAGMA synchronous=OFF" : "PRAGMA synchronous=FULL", NULL, NULL,
				  NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db,
				  "PRAGMA cache_size=-256; PRAGMA mmap_size=0;"
				  /* reading once opens the WAL and the shared index */
				  "SELECT count(*) FROM sqlite_schema;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_error("store cannot open the checkpointer's connection to %s: %s", path,
			  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		return LIMES_E_IO;
	}
	/* never the automatic checkpoint on this connection either */
	sqlite3_wal_autocheckpoint(c->db, 0);
	store_walbuf_reader(c->db);
	return 0;
}

/* False when a checkpoint's sync of the database was owed and failed. */
static bool ckpt_free(struct store_ckpt *c)
{
	bool synced = true;

	if (c->db && c->defer) {
		/* what the last checkpoints copied, on disk now: the last
		 * connection's close finds nothing more to copy, so it syncs
		 * nothing before it removes the log; and should this
		 * connection close last, its checkpoint syncs */
		int rc = store_walbuf_db_sync(c->db);
		if (rc != SQLITE_OK) {
			log_error("store sync of the database after the last checkpoints failed: %s",
				  sqlite3_errstr(rc));
			synced = false;
		}
		(void)sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	}
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		log_warn("store close of the checkpointer's connection failed: %s", sqlite3_errmsg(c->db));
	pthread_cond_destroy(&c->copied);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return synced;
}

int sqlite_ckpt_start(struct store *store, const char *path, const char *vfs)
{
	struct store_ckpt *c = calloc(1, sizeof(*c));
	pthread_condattr_t attr;
	int err;

	if (!c)
		return LIMES_E_NOMEM;
	c->limit = STORE_WAL_LIMIT_FRAMES;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return LIMES_E_NOMEM;
	}
	if (pthread_condattr_init(&attr) != 0 || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&c->wake, &attr) != 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return LIMES_E_NOMEM;
	}
	if (pthread_cond_init(&c->copied, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return LIMES_E_NOMEM;
	}
	pthread_condattr_destroy(&attr);
	c->defer = store_walbuf_writer(store->db);
	err = open_connection(c, path, vfs);
	if (!err) {
		sqlite3_stmt *stmt = NULL;
		/* bytes per frame, for the figures */
		if (sqlite3_prepare_v2(store->db, "PRAGMA page_size", -1, &stmt, NULL) == SQLITE_OK &&
		    sqlite3_step(stmt) == SQLITE_ROW)
			c->frame_bytes = (uint32_t)sqlite3_column_int(stmt, 0) + 24;
		(void)sqlite3_finalize(stmt); /* repeats the step's error, if any: the default stands */
		if (c->frame_bytes <= 24)
			c->frame_bytes = 4096 + 24;
		int rc = pthread_create(&c->thread, NULL, checkpointer_main, c);
		if (rc != 0) {
			log_error("store cannot start the checkpointer thread: %s", strerror(rc));
			err = limes_from_errno(rc);
		}
	}
	if (err) {
		(void)ckpt_free(c);
		return err;
	}
	c->thread_started = true;
	store->ckpt = c;
	/* from now on the checkpointer's thread checkpoints, never SQLite
	 * on its own after a commit */
	sqlite3_wal_hook(store->db, on_wal_commit, c);
	return 0;
}

bool sqlite_ckpt_stop(struct store *store)
{
	struct store_ckpt *c = store->ckpt;

	if (!c)
		return true;
	sqlite3_wal_hook(store->db, NULL, NULL);
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		int rc = pthread_join(c->thread, NULL);
		if (rc != 0)
			log_warn("store checkpointer join failed: %s", strerror(rc));
	}
	store->ckpt = NULL;
	return ckpt_free(c);
}

void sqlite_ckpt_writer(struct store *store, bool open)
{
	if (store->ckpt)
		atomic_store(&store->ckpt->writer_open, open);
}

void sqlite_ckpt_health(struct store *store)
{
	struct store_ckpt *c = store->ckpt;

	if (!c || atomic_load_explicit(&c->failed_rc, memory_order_relaxed) == 0)
		return;
	int rc = atomic_exchange(&c->failed_rc, 0);
	/* fatal codes (I/O, full, corrupt) mark the store unhealthy; others
	 * (out of memory) are logged and the next checkpoint tries again */
	if (rc != 0)
		(void)store_sqlite_error(store, rc, "WAL checkpoint");
}

/* The commit left the log at the bound: wait (without copying) for a
 * checkpoint that began after it, so that every frame is in the database
 * and the next transaction starts the log from its first frame. True when
 * that checkpoint copied the whole log within CKPT_WAIT_MS. */
static bool wait_copied(struct store_ckpt *c)
{
	struct timespec deadline = mono_after_ms(CKPT_WAIT_MS);
	bool done = false;

	pthread_mutex_lock(&c->lock);
	uint64_t want = c->started + 1; /* the first checkpoint to begin from now on */
	c->kick = true;
	c->bound = true;
	pthread_cond_signal(&c->wake);
	while (c->finished < want && !c->stop)
		if (pthread_cond_timedwait(&c->copied, &c->lock, &deadline) == ETIMEDOUT)
			break;
	if (c->finished >= want)
		done = c->log_frames >= c->frames && c->copied_frames == c->log_frames;
	pthread_mutex_unlock(&c->lock);
	return done;
}

/* The checkpointer did not catch up in time: hold it off, wait for the
 * checkpoint it may be running to end, then copy the rest on this thread. */
static void checkpoint_here(struct store *store, struct store_ckpt *c)
{
	int log = 0, done = 0;

	pthread_mutex_lock(&c->lock);
	c->hold = true;
	while (c->running)
		pthread_cond_wait(&c->copied, &c->lock);
	pthread_mutex_unlock(&c->lock);
	int rc = sqlite3_wal_checkpoint_v2(store->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	pthread_mutex_lock(&c->lock);
	c->hold = false;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (rc == SQLITE_OK) {
		c->loop_checkpoints++;
		log_warn("event=wal_checkpoint_in_loop frames=%d copied=%d note=\"the checkpointer did not "
			 "catch up within %d ms: the committing thread copied the rest\"",
			 log, done, CKPT_WAIT_MS);
		return;
	}
	/* a fatal code marks the store unhealthy (the commit itself is durable);
	 * an I/O error may have been a failed sync of the database, which
	 * sticks: the log never starts anew over what it may have lost */
	if ((rc & 0xff) == SQLITE_IOERR)
		store_walbuf_db_failed(store->db, rc);
	(void)store_sqlite_error(store, rc, "WAL checkpoint");
}

void sqlite_ckpt_after_commit(struct store *store)
{
	struct store_ckpt *c = store->ckpt;

	if (!c || c->frames < c->limit)
		return;
	uint64_t t0 = mono_us();
	bool copied = wait_copied(c);
	sqlite_ckpt_health(store);
	if (!copied && store->healthy)
		checkpoint_here(store, c);
	c->bound_waits++;
	c->bound_wait_us += mono_us() - t0;
}

int sqlite_wal_stats(struct store *store, struct store_wal_stats *s)
{
	struct store_ckpt *c = store->ckpt;

	memset(s, 0, sizeof(*s));
	if (!c)
		return LIMES_E_INVAL;
	s->frames = c->frames;
	s->high_water_frames = c->high_water;
	s->frame_bytes = c->frame_bytes;
	s->limit_frames = c->limit;
	s->checkpointer_checkpoints = atomic_load(&c->worker_checkpoints);
	s->loop_checkpoints = c->loop_checkpoints;
	s->bound_waits = c->bound_waits;
	s->bound_wait_us = c->bound_wait_us;
	s->ckpt_log_reads = atomic_load(&c->log_reads);
	s->ckpt_log_reads_kept = atomic_load(&c->log_reads_kept);
	const char *db = sqlite3_db_filename(store->db, "main");
	store_walbuf_syncs(db ? sqlite3_filename_wal(db) : NULL, s);
	return 0;
}

int sqlite_wal_limit(struct store *store, uint32_t frames)
{
	if (!store->ckpt || frames == 0)
		return LIMES_E_INVAL;
	store->ckpt->limit = frames;
	return 0;
}
