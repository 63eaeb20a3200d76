/*
 * The start-up check of the SQLite WAL (store_wal_check): a WAL whose
 * damage would make SQLite drop commits that completed stops the start,
 * unless the operator acknowledged the loss (--accept-wal-loss).
 */
#ifndef LIMES_DAEMON_WALGATE_H
#define LIMES_DAEMON_WALGATE_H

#include <stdbool.h>
#include <stddef.h>

/* Checks DIR's WAL before the store opens it. 0 to go on (nothing lost, or
 * the loss accepted: logged at error level); -1 with the refusal, naming
 * the file, the frame and what to do, in err. */
int walgate_check(const char *dir, bool accept_loss, char *err, size_t err_len);

#endif
