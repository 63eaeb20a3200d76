/*
 * Private to the store's SQLite backend (sqlite.c, sqlite_outbox.c,
 * sqlite_inbox.c): the prepared-statement cache and the helpers that turn
 * SQLite result codes into Limes errors and the unhealthy state, and the
 * backend's implementations of the operations table (backend.h). The only
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

#include "backend.h"

/* One file's queries: sql[i] is the text of its query i. Static storage. */
struct store_queries {
	enum store_file file;
	int count;
	const char *const *sql;
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
/* walbuf.c: the name of the VFS that writes each commit's WAL frames in one
 * call (registered on first use, over the default VFS), or NULL when it
 * cannot be: then the default VFS. The name is static. */
const char *store_walbuf_vfs(void);
/* The syncs of the -wal file wal_name (as SQLite names it) and of its
 * database, into out's wal_syncs, wal_syncs_skipped and db_syncs_* fields,
 * counted while a handle of this process has it open; 0 otherwise. */
void store_walbuf_syncs(const char *wal_name, struct store_wal_stats *out);
/* Marks db (the store's writer, its -wal file open) as the one whose log
 * restarts sync the database when a checkpoint left that for later. False
 * when it cannot be (another VFS): then no checkpoint may leave it. */
bool store_walbuf_writer(sqlite3 *db);
/* On the checkpointer's connection (synchronous=OFF), right before each
 * checkpoint (ended false) and right after it (true): the database's sync
 * after it is left for later, to store_walbuf_db_sync() or to the writer's
 * next log restart, whichever begins after it ended. */
void store_walbuf_db_copy(sqlite3 *db, bool ended);
/* Whether a checkpoint's database sync is still left for later. */
bool store_walbuf_db_pending(sqlite3 *db);
/* Records rc as a failed sync of db's database (see below): SQLite's own
 * checkpoint on the writer's connection failed with an I/O error. */
void store_walbuf_db_failed(sqlite3 *db, int rc);
/* Syncs the database through db's own handle if a checkpoint left its sync
 * for later; a SQLite code. Once a sync of the database failed, every later
 * call returns that failure. */
int store_walbuf_db_sync(sqlite3 *db);
/* Marks the -wal file db has open (after a read opened it) as one this
 * connection never writes: the checkpointer's. Its checkpoints then skip
 * the log's fsync that the writer's commits made (walbuf.c). Nothing for a
 * connection through another VFS. The writer must use synchronous=FULL. */
void store_walbuf_reader(sqlite3 *db);
/* Around each checkpoint on the connection store_walbuf_reader() marked:
 * on, its reads of the log are answered from a few windows of the file
 * read whole (the frames a checkpoint copies do not change while it runs);
 * off, they go to the file again and the windows are emptied. */
void store_walbuf_window(sqlite3 *db, bool on);
/* That connection's reads of the log while armed, and those a window
 * answered, since it opened; read on the thread that uses it. */
void store_walbuf_window_counts(sqlite3 *db, uint64_t *reads, uint64_t *kept);
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

/* The backend's operations (backend.h), one per store.h function. */
void sqlite_close(struct store *store);
int sqlite_check(struct store *store, bool full);
int sqlite_begin(struct store *store);
int sqlite_commit(struct store *store);
void sqlite_rollback(struct store *store);
bool sqlite_in_transaction(const struct store *store);
int sqlite_mark(struct store *store);
int sqlite_mark_keep(struct store *store);
void sqlite_mark_undo(struct store *store);
int sqlite_purge(struct store *store, uint64_t now_ms, uint64_t retention_ms);
/* sqlite_outbox.c: schema version 6, the envelope in a table of its own. */
extern const char store_outbox_v6_schema[];
/* sqlite_outbox.c: schema version 8, deliveries_done's predicate as a range. */
extern const char store_outbox_v8_schema[];
/* sqlite_keys.c: key rotation rows (store.h). */
extern const char store_keys_schema[];
int sqlite_key_put(struct store *store, const struct store_key_row *row);
int sqlite_key_list(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg);
extern const char store_key_notes_schema[];
int sqlite_key_note_put(struct store *store, const struct store_key_note *note);
int sqlite_key_note_delete(struct store *store, const char *kind, const char *name);
int sqlite_key_note_list(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg);
/* sqlite_cases.c: a case's messages and body retention (store.h). */
int sqlite_case_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e);
int sqlite_case_children(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
			 size_t max, size_t *n);
int sqlite_purge_bodies(struct store *store, int type, uint64_t cut_ms);
int sqlite_outbox_put(struct store *store, const struct store_message *msg,
		      const struct store_delivery *deliveries, size_t n_deliveries);
int sqlite_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			       const struct store_delivery *d);
int sqlite_idempotency_get(struct store *store, const char *client, const char *key,
			   uint8_t id[STORE_ID_LEN]);
int sqlite_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		      int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
int sqlite_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			 uint64_t now_ms, uint64_t next_attempt_ms);
int sqlite_delivery_reset_hop(struct store *store, const char *next_hop);
int sqlite_receipt_put(struct store *store, const uint8_t *receipt, size_t len,
		       int64_t *receipt_id);
int sqlite_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			 enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
			 int64_t receipt_id);
int sqlite_deliveries_sent(struct store *store, const int64_t *cursors, size_t n, uint64_t now_ms,
                        uint64_t next_attempt_ms, size_t *marked);
int sqlite_deliveries_delivered(struct store *store, const int64_t *cursors, size_t n, uint64_t done_ms,
                             int64_t receipt_id, size_t *marked);
int sqlite_expire_due(struct store *store, uint64_t now_ms);
int sqlite_expire(struct store *store, uint64_t now_ms,
		  void (*fn)(void *arg, const struct store_expired *e), void *arg);
int sqlite_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN],
			    const char *recipient, const uint8_t *envelope, size_t envelope_len,
			    uint64_t expires_ms);
int sqlite_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		       int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
int sqlite_outbox_stats_recipient(struct store *store, const char *recipient, uint64_t *queued,
				  uint64_t *oldest_unacked_created_ms);
int sqlite_delivery_list(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
			 int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
int sqlite_delivery_reseal(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			   const uint8_t *envelope, size_t envelope_len);
int sqlite_delivery_readdress(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
			      const struct store_delivery *to, uint64_t expires_ms);
/* sqlite_resend.c: delivered rows to send again, and the restored copy's marker */
int sqlite_delivered_since(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
			   int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg);
int sqlite_restored_copy(struct store *store, uint64_t *taken_ms);
int sqlite_restored_done(struct store *store);
/* sqlite_checkpoint.c: the WAL checkpointer's thread and connection on
 * path through vfs (a process-exclusive VFS), and the WAL's bound. Start
 * after the schema is migrated; stop before the main connection closes:
 * false when the database could not be synced after its last copies (the
 * log must then be kept). */
int sqlite_ckpt_start(struct store *store, const char *path, const char *vfs);
bool sqlite_ckpt_stop(struct store *store);
/* Whether the committing thread has a transaction open now (after each
 * begin, commit and rollback): with none, its next one starts the log anew
 * if the checkpointer copied all of it, so the checkpointer syncs the
 * database right after such a copy instead of leaving that to the commit. */
void sqlite_ckpt_writer(struct store *store, bool open);
/* Turns a failure the checkpointer met into the store's (unhealthy); call
 * before each begin and commit. */
void sqlite_ckpt_health(struct store *store);
/* After each successful commit: at the bound, waits for the checkpointer
 * (and copies itself only if it did not catch up). The commit stays durable
 * whatever happens here; a failure marks the store unhealthy. */
void sqlite_ckpt_after_commit(struct store *store);
int sqlite_wal_stats(struct store *store, struct store_wal_stats *s);
int sqlite_wal_limit(struct store *store, uint32_t frames);
/* backup.c: the SQL that marks a copy as one (run on the copy, ?1 the time) */
extern const char sqlite_copy_marker_sql[];
/* backup.c: the online backup of the SQLite file */
int sqlite_backup(struct store *store, const char *out, char *why, size_t why_len);
int sqlite_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
			uint64_t *oldest_unacked_created_ms);
int sqlite_seen_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen);
int sqlite_inbox_put(struct store *store, const struct store_inbox_entry *entry,
		     uint64_t forget_after_ms);
int sqlite_seen_put(struct store *store, const uint8_t id[STORE_ID_LEN],
		    const struct store_seen *seen);
int sqlite_seen_forget(struct store *store, const uint8_t id[STORE_ID_LEN]);
int sqlite_inbox_list(struct store *store, int64_t after, size_t limit,
		      int (*fn)(void *arg, const struct store_inbox_row *row), void *arg);

/* Retention, one part per file, run by store_purge() inside its transaction;
 * 0 or a Limes error. cut is now_ms - retention_ms (0: nothing is old enough). */
/* outbox.c: finished deliveries done at or before cut, messages left without
 * deliveries, receipts no delivery refers to. */
int store_outbox_purge(struct store *store, uint64_t cut);
/* inbox.c: seen ids with forget_after_ms <= now_ms, inbox rows received at or
 * before cut. */
int store_inbox_purge(struct store *store, uint64_t now_ms, uint64_t cut);

/* audit.c: the tables of SQLite schema version 3 (the audit trail). */
extern const char store_audit_schema[];
/* audit.c: the backend's audit operations (store.h, "audit trail"). */
int sqlite_audit_head(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN]);
int sqlite_audit_append(struct store *store, const struct store_audit_row *row,
			const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids);
int sqlite_audit_list(struct store *store, const struct store_audit_filter *f,
		      int (*fn)(void *arg, const struct store_audit_row *row), void *arg);
int sqlite_audit_checkpoint_put(struct store *store, const struct store_audit_checkpoint *cp);
int sqlite_audit_checkpoint_last(struct store *store, uint64_t *seq, uint64_t *time_ms);
int sqlite_audit_checkpoints(struct store *store, uint64_t after_seq,
			     int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
int sqlite_audit_uncountersigned(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
				 int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
int sqlite_audit_countersig_put(struct store *store, uint64_t seq, const char *peer,
				const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms);
int sqlite_audit_countersigs(struct store *store, uint64_t seq,
			     int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
				       uint64_t time_ms),
			     void *arg);
int sqlite_audit_kept_put(struct store *store, const struct store_audit_kept *k);
int sqlite_audit_kept_list(struct store *store, const char *peer,
			   int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
int sqlite_audit_kept_latest(struct store *store, const char *peer, size_t limit,
			     int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
int sqlite_audit_kept_body(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap,
			   size_t *len);
int sqlite_message_client(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len);

#endif
