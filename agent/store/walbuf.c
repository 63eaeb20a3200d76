/*
 * The WAL written in one piece per commit: a SQLite VFS over the default one
 * that gathers the contiguous writes to a -wal file in memory and hands them
 * to the file in one pwrite() when SQLite next syncs, reads, sizes, truncates
 * or closes it, publishes the WAL index (xShmBarrier/xShmLock, for other
 * connections), or writes somewhere else. SQLite writes each WAL frame as
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
 */
#include "store_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A single-message commit is ~45 KiB of frames; a batch of 200 messages
 * flushes in pieces of this size. Allocated on the first write, kept. The
 * default (unix) VFS writes at most 128 KiB - 1 per call (seekAndWriteFd
 * masks the length with 0x1ffff): stay below. */
#define WALBUF_CAP (120 * 1024)

struct walbuf_file {
	sqlite3_file base;   /* pMethods = &walbuf_io */
	sqlite3_file *real;  /* the default VFS's file, right after this struct */
	unsigned char *buf;
	size_t len;
	sqlite3_int64 off;   /* file offset of buf[0] */
};

static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_io;

static int flush(struct walbuf_file *f)
{
	if (f->len == 0)
		return SQLITE_OK;
	int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
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
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	size_t n = (size_t)amt;

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
		return f->real->pMethods->xWrite(f->real, data, amt, off);
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

	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	int rc = flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
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

/* The WAL index lives in the database's -shm (normal locking) or in heap
 * memory (exclusive locking: no shm calls at all). Before another connection
 * may read the new frames, the writer calls xShmBarrier/xShmLock: they must
 * be in the file by then. */
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
	if (f->len && f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off) == SQLITE_OK)
		f->len = 0;
	f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *file, int del)
{
	struct walbuf_file *f = (struct walbuf_file *)file;
	return f->real->pMethods->xShmUnmap(f->real, del);
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
	return SQLITE_OK;
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
