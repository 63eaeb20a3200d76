/*
 * The WAL written in one piece per commit: a SQLite VFS over the default one
 * that gathers the contiguous writes to a -wal file in memory and hands them
 * to the file in one pwrite() when SQLite next syncs, reads, sizes, truncates
 * or closes it, or writes somewhere else. SQLite writes each WAL frame as
 * two calls (its 24-byte header, then the page): a single-message commit of
 * 11 pages was 22 pwrite64 calls, at 10-20 us each on a VM, on the loop
 * thread, in front of every 202 and every receipt (docs/benchmarks.md,
 * "One message, fewer syscalls").
 *
 * Durability is SQLite's own: a commit is durable when its xSync returns,
 * and the bytes reach the file before that sync (the flush comes first and
 * its error is the sync's). A process killed before the sync loses only a
 * commit that was never acknowledged, as before. Every other file (the
 * database itself, the journal of a backup) is opened straight by the
 * default VFS and never passes through here.
 *
 * Two more things, both measured at 1,000 msg/s where the disk's fsync queue
 * is the latency (docs/benchmarks.md, "The WAL written up front"):
 * - The file is written in full (zeros) when it is opened, up to
 *   STORE_WAL_FILL_BYTES, and synced: a commit then overwrites blocks that
 *   are in the file, and its fdatasync writes the data alone, where an
 *   append also commits the file's new size to the file system's journal.
 *   Zeros never pass for frames: a frame counts only with the header's
 *   salts and a matching checksum, so SQLite's recovery (and walcheck.c)
 *   sees the end of the log at the first zero frame, as at an earlier
 *   generation's frames.
 * - The checkpointer's syncs of the log. A checkpoint syncs the WAL before
 *   copying frames from it, so that a database page never becomes durable
 *   before the log that holds its older versions. Here every frame a
 *   checkpoint may copy is committed, and the store's writer syncs each
 *   commit before SQLite makes it visible to another connection
 *   (synchronous=FULL: the sync comes before the WAL index header is
 *   written). So the checkpointer's connection, which never writes the WAL
 *   (store_walbuf_reader()), skips its WAL syncs once the file was synced
 *   in this process at all: that first sync (the fill's, or the first
 *   commit's) covers whatever a killed process left in the file unsynced,
 *   which recovery may have made visible. Any other handle skips a sync
 *   only when nothing was written to the file, through any handle, since a
 *   sync that began after the last write.
 * - The checkpointer's syncs of the database. A checkpoint that copied the
 *   whole log syncs the database, because the next transaction may start
 *   the log anew over the frames it copied. Until then those frames are in
 *   the log: after a crash SQLite reads them from there, whatever reached
 *   the database. So the store's checkpointer (synchronous=OFF) leaves that
 *   sync for later (store_walbuf_db_copy() before and after each
 *   checkpoint: a sync covers the checkpoints ended before it began, and a
 *   failed one sticks) and syncs the database itself (store_walbuf_db_sync())
 *   after copying the whole log with no transaction open, for a commit
 *   waiting at the bound, and after an interval with no commit; and the
 *   writer's handle, when SQLite writes the log's header at offset 0 (the
 *   first write of a new generation, before any of its frames), syncs the
 *   database first if a checkpoint's sync is still owed
 *   (store_walbuf_writer() names its database file).
 *   The header's write fails, and the commit with it, if that sync fails.
 * - The checkpointer's reads of the log (docs/benchmarks.md, "The
 *   checkpointer's system calls"). A checkpoint reads the newest frame of
 *   each page from the log and writes it to the database, in page order:
 *   one pread per page, ~5,000 a second at each end under load. While
 *   store_walbuf_window() arms them around one checkpoint, those reads are
 *   answered from a few windows of the file, read whole: the frames a
 *   checkpoint copies were committed before it began and stay as they are
 *   until the log restarts, which waits for the checkpoint to end. Its
 *   writes to the database are not gathered: SQLite ignores the result of
 *   the file control that ends a checkpoint's copying and, when the copy
 *   stopped short of the log's end, publishes the copy with no sync after
 *   it, so a gathered run that failed to reach the file there would be
 *   read back as pages it never wrote (a full disk; docs/store.md).
 */
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

/* The checkpointer's reads of the log: windows of the file kept between
 * two calls of store_walbuf_window(). A checkpoint reads the newest frame of
 * each page in page order, one pread per page (~5,000 a second at each end
 * under load, docs/benchmarks.md "The checkpointer's system calls"); the
 * frames of neighbouring pages lie close in the log, and four windows of
 * 128 KiB answered 19 of 20 of those reads in a trace. */
#define WINDOW_BYTES (128 * 1024)
#define WINDOWS 4

/* A single-message commit is ~45 KiB of frames; a batch of 200 messages
 * flushes in pieces of this size. Allocated on the first write, kept. The
 * default (unix) VFS writes at most 128 KiB - 1 per call (seekAndWriteFd
 * masks the length with 0x1ffff): stay below. */
#define WALBUF_CAP (120 * 1024)

/* The zeros of the fill, written in pieces below that limit too. */
#define WALBUF_FILL_PIECE (64 * 1024)

/* One -wal file as every handle of this process sees it: whether anything
 * was written to it since a sync. Found by name under shared_lock (opens and
 * closes only); the counts are atomic. */
struct walbuf_shared {
	struct walbuf_shared *next;
	unsigned refs;                  /* handles open on it, under shared_lock */
	bool fill_tried;                /* by its first handle: later ones do not retry, under shared_lock */
	atomic_uint_fast64_t written;   /* writes (and truncations) done, counted after each */
	atomic_uint_fast64_t synced;    /* `written` when the last successful sync began */
	atomic_uint_fast64_t syncs;     /* xSync calls that reached the file ... */
	atomic_uint_fast64_t skipped;   /* ... and those that had nothing to sync */
	/* The database's syncs that the checkpointer left for later (see the
	 * top of the file): its checkpoints begun and ended without one, and
	 * how many had ended when the last sync of the database that covers
	 * them began (a checkpoint under way is never covered: its writes may
	 * come after the sync began). A sync is owed while db_synced <
	 * db_begun. A failed sync sticks (db_failed, its code): the kernel may
	 * have dropped the pages it could not write and report the next sync
	 * as done, so no later sync counts. */
	atomic_uint_fast64_t db_begun;
	atomic_uint_fast64_t db_done;
	atomic_uint_fast64_t db_synced;
	atomic_int db_failed;
	atomic_uint_fast64_t db_syncs_ckpt;    /* done by the checkpointer ... */
	atomic_uint_fast64_t db_syncs_restart; /* ... and by the writer, before the log restarted */
	char name[];
};

/* Parts of a -wal file read whole, for the checkpointer's connection while
 * it checkpoints (armed): the frames it copies are committed and stay as
 * they are until the log restarts, which waits for the checkpoint to end. */
struct walbuf_windows {
	bool armed;
	sqlite3_int64 size;           /* the file's, when armed: no window reads past it */
	unsigned tick;
	struct {
		sqlite3_int64 off;
		int len;              /* 0: empty */
		unsigned used;        /* tick of the last hit: the least recent goes first */
	} w[WINDOWS];
	uint64_t reads, hits;         /* while armed */
	unsigned char data[WINDOWS][WINDOW_BYTES];
};

struct walbuf_file {
	sqlite3_file base;   /* pMethods = &walbuf_io */
	sqlite3_file *real;  /* the default VFS's file, right after this struct */
	struct walbuf_shared *shared;
	bool reader;         /* the checkpointer's: never writes, its syncs are the writer's */
	sqlite3_file *db;    /* the writer's: its database file, synced before the log restarts */
	struct walbuf_windows *win; /* the checkpointer's reads, NULL until first armed */
	unsigned char *buf;
	size_t len;
	sqlite3_int64 off;   /* file offset of buf[0] */
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct walbuf_shared *shared_files;

/* The shared state of file `name`, one more reference; NULL without memory. */
static struct walbuf_shared *shared_get(const char *name)
{
	struct walbuf_shared *s;

	pthread_mutex_lock(&shared_lock);
	for (s = shared_files; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			break;
	if (!s) {
		size_t n = strlen(name) + 1;
		s = malloc(sizeof(*s) + n);
		if (s) {
			memcpy(s->name, name, n);
			s->refs = 0;
			s->fill_tried = false;
			/* what is in the file already (another process's, a
			 * killed one's) was never synced here: one real sync */
			atomic_init(&s->written, 1);
			atomic_init(&s->synced, 0);
			atomic_init(&s->syncs, 0);
			atomic_init(&s->skipped, 0);
			atomic_init(&s->db_begun, 0);
			atomic_init(&s->db_done, 0);
			atomic_init(&s->db_synced, 0);
			atomic_init(&s->db_failed, 0);
			atomic_init(&s->db_syncs_ckpt, 0);
			atomic_init(&s->db_syncs_restart, 0);
			s->next = shared_files;
			shared_files = s;
		}
	}
	if (s)
		s->refs++;
	pthread_mutex_unlock(&shared_lock);
	return s;
}

static void shared_put(struct walbuf_shared *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&shared_lock);
	if (--s->refs == 0) {
		struct walbuf_shared **p = &shared_files;
		while (*p != s)
			p = &(*p)->next;
		*p = s->next;
		free(s);
	}
	pthread_mutex_unlock(&shared_lock);
}

/* After a write or truncation reached the file (not before: a sync that
 * read the count first must not take these bytes for synced). */
static void note_written(struct walbuf_file *f)
{
	if (f->shared)
		atomic_fetch_add(&f->shared->written, 1);
}

/* The real xWrite, counted. */
static int real_write(struct walbuf_file *f, const void *data, int amt, sqlite3_int64 off)
{
	int rc = f->real->pMethods->xWrite(f->real, data, amt, off);

	note_written(f);
	return rc;
}

/* The real xSync unless nothing was written since a sync that began after
 * the last write, or this is the checkpointer's handle and the file was
 * synced once (see the top of the file). */
static int real_sync(struct walbuf_file *f, int flags)
{
	if (!f->shared)
		return f->real->pMethods->xSync(f->real, flags);
	uint_fast64_t w = atomic_load(&f->shared->written);
	uint_fast64_t synced = atomic_load(&f->shared->synced);
	if (w == synced || (f->reader && synced > 0)) {
		atomic_fetch_add(&f->shared->skipped, 1);
		return SQLITE_OK;
	}
	atomic_fetch_add(&f->shared->syncs, 1);
	int rc = f->real->pMethods->xSync(f->real, flags);
	if (rc == SQLITE_OK) {
		/* never back: a later sync may have finished first */
		uint_fast64_t was = atomic_load(&f->shared->synced);
		while (was < w && !atomic_compare_exchange_weak(&f->shared->synced, &was, w))
			;
	}
	return rc;
}

/* Records rc as the database's failed sync, unless one is recorded. */
static void note_db_failed(struct walbuf_shared *s, int rc)
{
	int none = 0;

	(void)atomic_compare_exchange_strong(&s->db_failed, &none, rc);
}

/* Syncs the database file through `db` (any handle of it: an fsync covers
 * every write to the file) if a checkpoint left its sync for later; counted
 * in *count. After a failure, that failure again, whatever the file says. */
static int sync_db(struct walbuf_shared *s, sqlite3_file *db, atomic_uint_fast64_t *count)
{
	int failed = atomic_load(&s->db_failed);

	if (failed)
		return failed;
	/* the checkpoints ended before the sync begins are what it covers */
	uint_fast64_t covers = atomic_load(&s->db_done);
	if (atomic_load(&s->db_synced) >= atomic_load(&s->db_begun))
		return SQLITE_OK;
	if (!db)
		return SQLITE_IOERR_FSYNC; /* cannot happen: only a registered writer lets the checkpointer defer */
	int rc = db->pMethods->xSync(db, SQLITE_SYNC_NORMAL);
	if (rc != SQLITE_OK) {
		note_db_failed(s, rc);
		return rc;
	}
	atomic_fetch_add(count, 1);
	uint_fast64_t was = atomic_load(&s->db_synced);
	while (was < covers && !atomic_compare_exchange_weak(&s->db_synced, &was, covers))
		;
	return SQLITE_OK;
}

static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_io;

static int flush(struct walbuf_file *f)
{
	if (f->len == 0)
		return SQLITE_OK;
	int rc = real_write(f, f->buf, (int)f->len, f->off);
	/* written or failed, the bytes are SQLite's to write again: it treats
	 * the error of the call that flushed as that write's */
	f->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *file)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);
	int rc2 = f->real->pMethods->xClose(f->real);

	free(f->buf);
	f->buf = NULL;
	free(f->win);
	f->win = NULL;
	shared_put(f->shared);
	f->shared = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

/* A read answered from the windows (1), or not (0): then the caller reads
 * the file itself. A window is the WINDOW_BYTES-aligned part of the file
 * that holds the read, or one starting at it when it crosses a boundary,
 * cut at the size the file had when armed. */
static int window_read(struct walbuf_file *f, void *out, int amt, sqlite3_int64 off)
{
	struct walbuf_windows *W = f->win;
	size_t k, lru = 0;

	if (!W || !W->armed || amt <= 0 || amt > WINDOW_BYTES || off < 0)
		return 0;
	W->reads++;
	W->tick++;
	for (k = 0; k < WINDOWS; k++) {
		if (W->w[k].len && off >= W->w[k].off && off + amt <= W->w[k].off + W->w[k].len) {
			memcpy(out, W->data[k] + (off - W->w[k].off), (size_t)amt);
			W->w[k].used = W->tick;
			W->hits++;
			return 1;
		}
		if (W->w[k].used < W->w[lru].used)
			lru = k;
	}
	sqlite3_int64 start = off - off % WINDOW_BYTES;
	if (start + WINDOW_BYTES < off + amt)
		start = off;
	sqlite3_int64 len = W->size - start < WINDOW_BYTES ? W->size - start : WINDOW_BYTES;
	if (len < off + amt - start)
		return 0; /* past the size it had: the file's own answer */
	W->w[lru].len = 0;
	if (f->real->pMethods->xRead(f->real, W->data[lru], (int)len, start) != SQLITE_OK)
		return 0; /* shorter now, or failing: the file's own answer */
	W->w[lru].off = start;
	W->w[lru].len = (int)len;
	W->w[lru].used = W->tick;
	memcpy(out, W->data[lru] + (off - start), (size_t)amt);
	return 1;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	if (rc != SQLITE_OK)
		return rc;
	if (window_read(f, out, amt, off))
		return SQLITE_OK;
	return f->real->pMethods->xRead(f->real, out, amt, off);
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	size_t n = (size_t)amt;

	/* The log's header is written when the log starts anew, before the
	 * first frame of its new generation overwrites the old ones: every
	 * page a checkpoint copied from them must be on disk in the database
	 * first. Checkpoints that left that sync for later are synced here. */
	if (off == 0 && !f->reader && f->shared) {
		int rc = sync_db(f->shared, f->db, &f->shared->db_syncs_restart);
		if (rc != SQLITE_OK)
			return rc;
	}
	/* a frame of this commit rewritten in place (SQLite does, for a page
	 * written twice in one transaction): into the buffer */
	if (f->len && off >= f->off && off + amt <= f->off + (sqlite3_int64)f->len) {
		memcpy(f->buf + (off - f->off), data, n);
		return SQLITE_OK;
	}
	if (f->len && (off != f->off + (sqlite3_int64)f->len || f->len + n > WALBUF_CAP)) {
		int rc = flush(f);
		if (rc != SQLITE_OK)
			return rc;
	}
	if (!f->buf && n <= WALBUF_CAP)
		f->buf = malloc(WALBUF_CAP);
	if (!f->buf || n > WALBUF_CAP)
		return real_write(f, data, amt, off);
	if (f->len == 0)
		f->off = off;
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	if (rc != SQLITE_OK)
		return rc;
	rc = f->real->pMethods->xTruncate(f->real, size);
	note_written(f);
	return rc;
}

static int wb_sync(sqlite3_file *file, int flags)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : real_sync(f, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int lock)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xLock(f->real, lock);
}

static int wb_unlock(sqlite3_file *file, int lock)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xUnlock(f->real, lock);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* SQLite calls the shm methods on the database's handle, never on a -wal
 * file's, so for the files opened here these are never reached; they pass
 * on (and flush first) only to keep the methods whole. Another connection
 * sees the new frames only after the writer's sync (synchronous=FULL: the
 * WAL index header is written after it), and the sync flushes first. */
static int wb_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *file)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	/* no way to report an error here: the bytes stay for the next call,
	 * whose flush reports it (flush keeps nothing on failure, so write
	 * them back first) */
	if (f->len && real_write(f, f->buf, (int)f->len, f->off) == SQLITE_OK)
		f->len = 0;
	f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *file, int del)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xShmUnmap(f->real, del);
}

/* Writes the file in full up to STORE_WAL_FILL_BYTES (zeros after what it
 * holds, never over it) and syncs it. Best effort: on failure (a full disk)
 * the file is cut back to its size and commits append as before. */
static void fill(struct walbuf_file *f, const char *name)
{
	static const unsigned char zeros[WALBUF_FILL_PIECE];
	sqlite3_int64 size = 0, at;
	int rc = f->real->pMethods->xFileSize(f->real, &size);

	if (rc != SQLITE_OK || (uint64_t)size >= STORE_WAL_FILL_BYTES)
		return;
	if (f->shared) {
		/* once per file: a second handle would only fail the same way */
		pthread_mutex_lock(&shared_lock);
		bool tried = f->shared->fill_tried;
		f->shared->fill_tried = true;
		pthread_mutex_unlock(&shared_lock);
		if (tried)
			return;
	}
	errno = 0;
	for (at = size; rc == SQLITE_OK && (uint64_t)at < STORE_WAL_FILL_BYTES; at += WALBUF_FILL_PIECE) {
		uint64_t left = STORE_WAL_FILL_BYTES - (uint64_t)at;
		rc = real_write(f, zeros, left < WALBUF_FILL_PIECE ? (int)left : WALBUF_FILL_PIECE, at);
	}
	if (rc == SQLITE_OK)
		rc = real_sync(f, SQLITE_SYNC_NORMAL);
	if (rc == SQLITE_OK)
		return;
	int why = errno; /* the unix VFS leaves the system's reason */
	int cut = f->real->pMethods->xTruncate(f->real, size);
	note_written(f);
	log_warn("event=wal_fill_failed file=\"%s\" bytes=%llu error=\"%s%s%s\" truncated_back=%s "
		 "note=\"commits grow the WAL file instead\"",
		 name ? name : "", (unsigned long long)STORE_WAL_FILL_BYTES, sqlite3_errstr(rc), why ? ": " : "",
		 why ? strerror(why) : "", cut == SQLITE_OK ? "yes" : "no");
}

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	sqlite3_vfs *real_vfs = vfs->pAppData;
	struct walbuf_file *f = (struct walbuf_file *)file;

	/* everything but the WAL: the default VFS's own file, in our slot */
	if (!(flags & SQLITE_OPEN_WAL))
		return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite closes nothing whose pMethods is NULL; close the real one */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		f->base.pMethods = NULL;
		return rc;
	}
	if (walbuf_io.iVersion == 0) {
		/* the same version as the real methods, up to the shm calls (2):
		 * no xFetch, so SQLite reads the WAL through xRead */
		walbuf_io = (sqlite3_io_methods){
			.iVersion = f->real->pMethods->iVersion >= 2 ? 2 : 1,
			.xClose = wb_close,
			.xRead = wb_read,
			.xWrite = wb_write,
			.xTruncate = wb_truncate,
			.xSync = wb_sync,
			.xFileSize = wb_file_size,
			.xLock = wb_lock,
			.xUnlock = wb_unlock,
			.xCheckReservedLock = wb_check_reserved,
			.xFileControl = wb_file_control,
			.xSectorSize = wb_sector_size,
			.xDeviceCharacteristics = wb_device_characteristics,
			.xShmMap = wb_shm_map,
			.xShmLock = wb_shm_lock,
			.xShmBarrier = wb_shm_barrier,
			.xShmUnmap = wb_shm_unmap,
		};
	}
	f->base.pMethods = &walbuf_io;
	/* without it (no memory) every sync is real */
	f->shared = name ? shared_get(name) : NULL;
	if (!(flags & SQLITE_OPEN_READONLY))
		fill(f, name);
	return SQLITE_OK;
}

/* db's -wal file, when it is one of ours; NULL otherwise. */
static struct walbuf_file *wal_of(sqlite3 *db)
{
	sqlite3_file *wal = NULL;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || !wal ||
	    wal->pMethods != &walbuf_io)
		return NULL;
	return (struct walbuf_file *)wal;
}

void store_walbuf_reader(sqlite3 *db)
{
	struct walbuf_file *wal = wal_of(db);

	if (wal)
		wal->reader = true;
}

/* db's own database file, or NULL. */
static sqlite3_file *db_file_of(sqlite3 *db)
{
	sqlite3_file *file = NULL;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK)
		return NULL;
	return file && file->pMethods ? file : NULL;
}

bool store_walbuf_writer(sqlite3 *db)
{
	struct walbuf_file *wal = wal_of(db);

	if (!wal || wal->reader || !wal->shared)
		return false;
	wal->db = db_file_of(db);
	return wal->db != NULL;
}

void store_walbuf_db_copy(sqlite3 *db, bool ended)
{
	struct walbuf_file *wal = wal_of(db);

	if (wal && wal->shared)
		atomic_fetch_add(ended ? &wal->shared->db_done : &wal->shared->db_begun, 1);
}

bool store_walbuf_db_pending(sqlite3 *db)
{
	struct walbuf_file *wal = wal_of(db);

	return wal && wal->shared && atomic_load(&wal->shared->db_synced) < atomic_load(&wal->shared->db_begun);
}

void store_walbuf_db_failed(sqlite3 *db, int rc)
{
	struct walbuf_file *wal = wal_of(db);

	if (wal && wal->shared && rc != SQLITE_OK)
		note_db_failed(wal->shared, rc);
}

int store_walbuf_db_sync(sqlite3 *db)
{
	struct walbuf_file *wal = wal_of(db);

	if (!wal || !wal->shared)
		return SQLITE_OK;
	return sync_db(wal->shared, db_file_of(db), &wal->shared->db_syncs_ckpt);
}

void store_walbuf_window(sqlite3 *db, bool on)
{
	struct walbuf_file *f = wal_of(db);

	if (!f || !f->reader)
		return;
	if (on && !f->win && !(f->win = malloc(sizeof(*f->win))))
		return; /* no memory: every read goes to the file */
	if (!f->win)
		return;
	for (size_t k = 0; k < WINDOWS; k++)
		f->win->w[k].len = 0, f->win->w[k].used = 0;
	f->win->tick = 0;
	f->win->armed = on && f->real->pMethods->xFileSize(f->real, &f->win->size) == SQLITE_OK;
}

void store_walbuf_window_counts(sqlite3 *db, uint64_t *reads, uint64_t *kept)
{
	struct walbuf_file *f = wal_of(db);

	*reads = f && f->win ? f->win->reads : 0;
	*kept = f && f->win ? f->win->hits : 0;
}

void store_walbuf_syncs(const char *wal_name, struct store_wal_stats *out)
{
	out->wal_syncs = out->wal_syncs_skipped = 0;
	out->db_syncs_deferred = out->db_syncs_checkpointer = out->db_syncs_restart = out->db_sync_owed = 0;
	if (!wal_name)
		return;
	pthread_mutex_lock(&shared_lock);
	for (struct walbuf_shared *s = shared_files; s; s = s->next)
		if (strcmp(s->name, wal_name) == 0) {
			out->wal_syncs = atomic_load(&s->syncs);
			out->wal_syncs_skipped = atomic_load(&s->skipped);
			out->db_syncs_deferred = atomic_load(&s->db_begun);
			out->db_syncs_checkpointer = atomic_load(&s->db_syncs_ckpt);
			out->db_syncs_restart = atomic_load(&s->db_syncs_restart);
			out->db_sync_owed = atomic_load(&s->db_synced) < atomic_load(&s->db_begun);
			break;
		}
	pthread_mutex_unlock(&shared_lock);
}

/* The rest of the VFS is the default one's. */
#define REAL(vfs) ((sqlite3_vfs *)(vfs)->pAppData)
static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return REAL(vfs)->xDelete(REAL(vfs), name, sync_dir);
}
static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return REAL(vfs)->xAccess(REAL(vfs), name, flags, out);
}
static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return REAL(vfs)->xFullPathname(REAL(vfs), name, n, out);
}
static void *wb_dlopen(sqlite3_vfs *vfs, const char *path)
{
	return REAL(vfs)->xDlOpen(REAL(vfs), path);
}
static void wb_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	REAL(vfs)->xDlError(REAL(vfs), n, msg);
}
static void (*wb_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return REAL(vfs)->xDlSym(REAL(vfs), h, sym);
}
static void wb_dlclose(sqlite3_vfs *vfs, void *h)
{
	REAL(vfs)->xDlClose(REAL(vfs), h);
}
static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return REAL(vfs)->xRandomness(REAL(vfs), n, out);
}
static int wb_sleep(sqlite3_vfs *vfs, int us)
{
	return REAL(vfs)->xSleep(REAL(vfs), us);
}
static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
	return REAL(vfs)->xCurrentTime(REAL(vfs), out);
}
static int wb_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return REAL(vfs)->xGetLastError(REAL(vfs), n, out);
}
static int wb_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return REAL(vfs)->xCurrentTimeInt64(REAL(vfs), out);
}

const char *store_walbuf_vfs(void)
{
	static bool tried;
	static const char *name;

	if (tried)
		return name;
	tried = true;
	/* over the store's own VFS (sqlite.c, STORE_VFS: the process holds
	 * the file, the WAL index in its heap), else the default */
	sqlite3_vfs *real = sqlite3_vfs_find("unix-excl");
	if (!real)
		real = sqlite3_vfs_find(NULL);
	if (!real || real->iVersion < 2)
		return NULL; /* the default VFS then, unbuffered */
	walbuf_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct walbuf_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = "limes-walbuf",
		.pAppData = real,
		.xOpen = wb_open,
		.xDelete = wb_delete,
		.xAccess = wb_access,
		.xFullPathname = wb_full_pathname,
		.xDlOpen = wb_dlopen,
		.xDlError = wb_dlerror,
		.xDlSym = wb_dlsym,
		.xDlClose = wb_dlclose,
		.xRandomness = wb_randomness,
		.xSleep = wb_sleep,
		.xCurrentTime = wb_current_time,
		.xGetLastError = wb_get_last_error,
		.xCurrentTimeInt64 = wb_current_time_int64,
	};
	if (sqlite3_vfs_register(&walbuf_vfs, 0) == SQLITE_OK)
		name = walbuf_vfs.zName;
	return name;
}
