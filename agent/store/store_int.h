/*
 * Private to the store (store.c, outbox.c, inbox.c): the struct behind the
 * opaque handle, the prepared-statement cache and the helpers that turn
 * SQLite result codes into Limes errors and the unhealthy state. The only
 * header outside tests/support that includes sqlite3.h.
 *
 * Each file keeps the SQL of its queries beside the code that binds them: a
 * static array of SQL text indexed by a small enum of its own, described to
 * the cache by one struct store_queries. The cache holds one row of slots per
 * file, so no list of every query exists anywhere.
 */
#ifndef LIMES_STORE_INT_H
#define LIMES_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

/* The files that own statements: one row of cache slots each. */
enum store_file {
	STORE_FILE_STORE,   /* store.c: transactions and savepoints */
	STORE_FILE_OUTBOX,  /* outbox.c: messages, deliveries, receipts, idempotency */
	STORE_FILE_INBOX,   /* inbox.c: inbox rows and the seen set */
	STORE_FILE_AUDIT,   /* audit.c: the audit trail, checkpoints, countersignatures */
	STORE_FILE_COUNT_
};

/* Cache slots per file; each file checks its count against it at compile time. */
#define STORE_FILE_STMT_MAX 24

/* One file's queries: sql[i] is the text of its query i. Static storage. */
struct store_queries {
	enum store_file file;
	int count;
	const char *const *sql;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STORE_FILE_COUNT_][STORE_FILE_STMT_MAX]; /* prepared on first use */
	bool healthy;
	int fail_code;           /* what writes return once unhealthy */
	char reason[256];        /* why unhealthy */
	uint64_t undo_generation; /* bumped whenever staged writes are undone */
};

/* Query `which` of `file_queries`, prepared once (on first use) and cached in the
 * store, which owns it; NULL and *err set on failure. The caller resets it
 * after use (store_reset()). */
sqlite3_stmt *store_stmt(struct store *store, const struct store_queries *file_queries, int which,
			 int *err);
/* Resets a cached statement after use, keeping it for the next call. */
void store_reset(sqlite3_stmt *stmt);
/* Maps a SQLite result code to a Limes error (0 for OK, ROW and DONE); I/O,
 * full-disk and corruption codes mark the store unhealthy for good and roll
 * back the open transaction. `what` names the operation for the reason text. */
int store_sqlite_error(struct store *store, int rc, const char *what);
/* Refuses when unhealthy, else opens a transaction if none is (auto-begin);
 * 0 or a Limes error. */
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
/* Runs query `which` of `undo_queries`, a DELETE taking one integer or one id
 * parameter (the other 0/NULL), after a put failed half-way; if the undo
 * itself fails the store is marked unhealthy, so a half put is never
 * committed. */
void store_undo(struct store *store, const struct store_queries *undo_queries, int which,
		int64_t seq, const uint8_t *id);

/* Retention, one part per file, run by store_purge() inside its transaction;
 * 0 or a Limes error. cut is now_ms - retention_ms (0: nothing is old enough). */
/* outbox.c: finished deliveries done at or before cut, messages left without
 * deliveries, receipts no delivery refers to. */
int store_outbox_purge(struct store *store, uint64_t cut);
/* inbox.c: seen ids with forget_after_ms <= now_ms, inbox rows received at or
 * before cut. */
int store_inbox_purge(struct store *store, uint64_t now_ms, uint64_t cut);

/* audit.c: the tables of schema version 2 (the audit trail). */
extern const char store_audit_schema[];

#endif
