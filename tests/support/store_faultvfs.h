/*
 * A SQLite VFS for store fault tests: delegates everything to the default VFS
 * and, when armed, makes the next xSync or xWrite calls fail the way a sick
 * disk does (I/O error, fsync error, disk full).
 */
#ifndef LIMES_TEST_STORE_FAULTVFS_H
#define LIMES_TEST_STORE_FAULTVFS_H

#include <stdbool.h>

#define STORE_FAULTVFS_NAME "limes-fault"

/* Registers the VFS (not as the default); safe to call more than once.
 * Returns 0 or -1. */
int store_faultvfs_register(void);
/* The next `count` xSync calls fail with SQLITE_IOERR_FSYNC. */
void store_faultvfs_fail_sync(int count);
/* The next `count` xWrite calls fail, with SQLITE_FULL when disk_full, else
 * SQLITE_IOERR_WRITE. */
void store_faultvfs_fail_write(int count, bool disk_full);
/* Disarms every fault. */
void store_faultvfs_reset(void);
/* How many calls failed since the last reset. */
int store_faultvfs_failures(void);

#endif
