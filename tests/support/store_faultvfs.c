/*
 * Fault-injecting SQLite VFS (see store_faultvfs.h). Each file is a wrapper
 * whose real file, opened by the default VFS, lives right behind it in the
 * same allocation; every method delegates, and xSync / xWrite fail on demand.
 * Test code only: the one place besides the store that includes sqlite3.h.
 */
#include "support/store_faultvfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

struct fault_file {
	sqlite3_file base;
	sqlite3_file *real;
};

static sqlite3_vfs fault_vfs;
static sqlite3_vfs *real_vfs;
/* armed by one thread, read by every thread that does I/O */
static atomic_int sync_failures_left;
static atomic_int write_failures_left;
static atomic_bool write_full;
static atomic_int failures;
static pthread_t armed_by;
static atomic_bool other_threads; /* faults hit every thread but armed_by */

/* Whether a fault armed for some thread hits this call, and takes one. */
static bool take(atomic_int *left)
{
	if (atomic_load(left) <= 0)
		return false;
	bool armer = pthread_equal(pthread_self(), armed_by) != 0;
	if (armer == atomic_load(&other_threads))
		return false;
	if (atomic_fetch_sub(left, 1) <= 0) {
		atomic_fetch_add(left, 1);
		return false;
	}
	atomic_fetch_add(&failures, 1);
	return true;
}

#define REAL(f) (((struct fault_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;

	return rc;
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (take(&write_failures_left))
		return atomic_load(&write_full) ? SQLITE_FULL : SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	if (take(&sync_failures_left))
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_device_chars(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, amt, p);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_methods = {
	.iVersion = 3,
	.xClose = f_close,
	.xRead = f_read,
	.xWrite = f_write,
	.xTruncate = f_truncate,
	.xSync = f_sync,
	.xFileSize = f_file_size,
	.xLock = f_lock,
	.xUnlock = f_unlock,
	.xCheckReservedLock = f_check_reserved,
	.xFileControl = f_file_control,
	.xSectorSize = f_sector_size,
	.xDeviceCharacteristics = f_device_chars,
	.xShmMap = f_shm_map,
	.xShmLock = f_shm_lock,
	.xShmBarrier = f_shm_barrier,
	.xShmUnmap = f_shm_unmap,
	.xFetch = f_fetch,
	.xUnfetch = f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct fault_file *ff = (struct fault_file *)file;
	int rc;

	ff->real = (sqlite3_file *)(ff + 1);
	memset(ff->real, 0, (size_t)real_vfs->szOsFile);
	rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
	/* SQLite calls xClose only when pMethods is set; set it only on success
	 * so a failed open is not closed twice. */
	ff->base.pMethods = ff->real->pMethods ? &fault_methods : NULL;
	return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *path)
{
	return real_vfs->xDlOpen(real_vfs, path);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
	real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
	return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, out) : 0;
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int store_faultvfs_register(void)
{
	if (real_vfs)
		return 0;
	if (sqlite3_initialize() != SQLITE_OK)
		return -1;
	/* the store's own VFS (agent/store/sqlite.c), else the default */
	real_vfs = sqlite3_vfs_find("unix-excl");
	if (!real_vfs)
		real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return -1;
	fault_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = STORE_FAULTVFS_NAME,
		.xOpen = v_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_full_pathname,
		.xDlOpen = v_dlopen,
		.xDlError = v_dlerror,
		.xDlSym = v_dlsym,
		.xDlClose = v_dlclose,
		.xRandomness = v_randomness,
		.xSleep = v_sleep,
		.xCurrentTime = v_current_time,
		.xGetLastError = v_get_last_error,
		.xCurrentTimeInt64 = v_current_time_int64,
	};
	if (sqlite3_vfs_register(&fault_vfs, 0) != SQLITE_OK) {
		real_vfs = NULL;
		return -1;
	}
	return 0;
}

static void arm(bool others)
{
	armed_by = pthread_self();
	atomic_store(&other_threads, others);
}

void store_faultvfs_fail_sync(int count)
{
	arm(false);
	atomic_store(&sync_failures_left, count);
}

void store_faultvfs_fail_sync_other(int count)
{
	arm(true);
	atomic_store(&sync_failures_left, count);
}

void store_faultvfs_fail_write(int count, bool disk_full)
{
	arm(false);
	atomic_store(&write_full, disk_full);
	atomic_store(&write_failures_left, count);
}

void store_faultvfs_reset(void)
{
	atomic_store(&sync_failures_left, 0);
	atomic_store(&write_failures_left, 0);
	atomic_store(&write_full, false);
	atomic_store(&failures, 0);
}

int store_faultvfs_failures(void)
{
	return atomic_load(&failures);
}
