/*
 * Private to the store (store.c, store_outbox.c, store_inbox.c): the struct
 * behind the opaque handle, the prepared-statement cache and the helpers that
 * turn SQLite result codes into Limes errors and the unhealthy state. The only
 * header outside tests/support that includes sqlite3.h.
 */
#ifndef LIMES_STORE_IMPL_H
#define LIMES_STORE_IMPL_H

#include <sqlite3.h>

#include "agent/store.h"

/* Every statement the store runs, prepared once on first use. */
enum store_sql {
	SQL_BEGIN,
	SQL_COMMIT,
	SQL_ROLLBACK,
	SQL_MSG_INSERT,
	SQL_DLV_INSERT,
	SQL_IDEM_GET,
	SQL_DUE_QUEUED,
	SQL_DUE_SENT,
	SQL_DLV_SENT,
	SQL_RESET_HOP,
	SQL_DLV_DONE,
	SQL_DLV_STATE,
	SQL_EXPIRE,
	SQL_REQUEUE,
	SQL_MSG_GET,
	SQL_STATS,
	SQL_SEEN_GET,
	SQL_SEEN_INSERT,
	SQL_INBOX_INSERT,
	SQL_INBOX_LIST,
	SQL_PURGE_SEEN,
	SQL_PURGE_INBOX,
	SQL_PURGE_DLV,
	SQL_PURGE_MSG,
	SQL_UNDO_DLV,
	SQL_UNDO_MSG,
	SQL_UNDO_SEEN,
	SQL_MSG_BY_ID,
	SQL_RECEIPT_INSERT,
	SQL_PURGE_RECEIPTS,
	SQL_SAVEPOINT,
	SQL_RELEASE,
	SQL_ROLLBACK_TO,
	SQL_COUNT_
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[SQL_COUNT_];
	bool healthy;
	int fail_code;           /* what writes return once unhealthy */
	char reason[256];        /* why unhealthy */
};

/* The cached statement `which`, prepared on first use; NULL and *err set on
 * failure. The caller resets it after use. */
sqlite3_stmt *store_stmt(struct store *store, enum store_sql which, int *err);
/* Maps a SQLite result code to a Limes error; I/O, full-disk and corruption
 * codes mark the store unhealthy for good and roll back the open transaction.
 * `what` names the operation for the reason text. */
int store_sqlite_error(struct store *store, int rc, const char *what);
/* Refuses when unhealthy, else opens a transaction if none is (auto-begin). */
int store_write_begin(struct store *store);
/* Runs a statement that returns no row and resets it; 0 or a Limes error. */
int store_step_done(struct store *store, sqlite3_stmt *stmt, const char *what);
/* After binding parameters: `failed` is true when any bind did not return
 * SQLITE_OK; then the Limes error for the connection's last error, else 0. */
int store_bind_result(struct store *store, bool failed, const char *what);
/* True for an agency id of 1..STORE_AGENCY_MAX bytes. */
bool store_agency_ok(const char *s);
/* Copies a text column into dst (truncated, always terminated). */
void store_copy_text(char *dst, size_t dst_len, sqlite3_stmt *stmt, int col);
/* Copies a blob column into dst, zero-filling what the column lacks. */
void store_copy_blob(uint8_t *dst, size_t dst_len, sqlite3_stmt *stmt, int col);
/* Marks the store unhealthy for good with `reason` and rolls back the open
 * transaction; later writes return `code`. */
void store_fail(struct store *store, int code, const char *reason);
/* Runs an undo statement taking one integer or one id parameter (the other
 * NULL/0) after a put failed half-way; if the undo itself fails the store is
 * marked unhealthy, so a half put is never committed. */
void store_undo(struct store *store, enum store_sql which, int64_t seq, const uint8_t *id);

#endif
