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
	SQL_SAVEPOINT,
	SQL_RELEASE,
	SQL_ROLLBACK_TO,
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
/* A savepoint around one multi-row write, so a refused put leaves nothing. */
int store_savepoint(struct store *store);
int store_savepoint_release(struct store *store);
/* Undoes the writes since store_savepoint(); no-op if the store already
 * rolled the whole transaction back after an I/O error. */
void store_savepoint_undo(struct store *store);

#endif
