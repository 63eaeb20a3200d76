/*
 * A SQLite VFS for store fault tests: delegates everything to the store's
 * own VFS ("unix-excl") and, when armed, makes the next xSync or xWrite calls
 * fail the way a sick disk does (I/O error, fsync error, disk full). Faults
 * hit the calls of the thread that armed them, so that the store's WAL
 * checkpointer (a thread of its own) never takes a fault meant for a commit;
 * store_faultvfs_fail_sync_other() aims at the other threads instead.
 */
#ifndef LIMES_TEST_STORE_FAULTVFS_H
#define LIMES_TEST_STORE_FAULTVFS_H

#include <stdbool.h>

#define STORE_FAULTVFS_NAME "limes-fault"

/* Registers the VFS (not as the default); safe to call more than once.
 * Returns 0 or -1. */
int store_faultvfs_register(void);
/* The calling thread's next `count` xSync calls fail with SQLITE_IOERR_FSYNC. */
void store_faultvfs_fail_sync(int count);
/* The next `count` xSync calls of any thread but the caller fail so. */
void store_faultvfs_fail_sync_other(int count);
/* The calling thread's next `count` xWrite calls fail, with SQLITE_FULL when disk_full, else
 * SQLITE_IOERR_WRITE. */
void store_faultvfs_fail_write(int count, bool disk_full);
/* Disarms every fault. */
void store_faultvfs_reset(void);
/* How many calls failed since the last reset. */
int store_faultvfs_failures(void);

#endif
