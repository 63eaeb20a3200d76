/*
 * The inbox and the durable seen-id set (the replay memory that answers a
 * duplicate with its original receipt), and their part of retention. Every
 * query on the inbox and seen tables is here, beside the code that binds it.
 */
#include "store_int.h"

#include <string.h>

#include "proto/err.h"

enum {
	SQL_SEEN_GET,
	SQL_SEEN_INSERT,
	SQL_SEEN_DELETE,
	SQL_INBOX_INSERT,
	SQL_INBOX_LIST,
	SQL_PURGE_SEEN,
	SQL_PURGE_INBOX,
	SQL_COUNT_
};
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_SEEN_GET] =
		"SELECT sender, envelope_hash, status, reason, received_ms, forget_after_ms"
		" FROM seen WHERE message_id = ?1",
	[SQL_SEEN_INSERT] =
		"INSERT INTO seen(message_id, sender, envelope_hash, status, reason,"
		" received_ms, forget_after_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* store_seen_forget(), and the undo of a half-written inbox put */
	[SQL_SEEN_DELETE] = "DELETE FROM seen WHERE message_id = ?1",
	[SQL_INBOX_INSERT] =
		"INSERT INTO inbox(message_id, sender, type, priority, created_ms, expires_ms,"
		" received_ms, ref, envelope_hash, envelope)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SQL_INBOX_LIST] =
		"SELECT cursor, message_id, sender, type, priority, created_ms, expires_ms,"
		" received_ms, ref, envelope_hash, envelope FROM inbox WHERE cursor > ?1"
		" ORDER BY cursor LIMIT ?2",
	[SQL_PURGE_SEEN] = "DELETE FROM seen WHERE forget_after_ms <= ?1",
	[SQL_PURGE_INBOX] = "DELETE FROM inbox WHERE received_ms <= ?1",
};

static const struct store_queries queries = { STORE_FILE_INBOX, SQL_COUNT_, sql_text };

/* This file's query `which`, prepared on first use; NULL and *err on failure. */
static sqlite3_stmt *stmt_get(struct store *store, int which, int *err)
{
	return store_stmt(store, &queries, which, err);
}

/* Binds a message id as ?1; 0 or a Limes error. */
static int bind_id(struct store *store, sqlite3_stmt *stmt, const uint8_t id[STORE_ID_LEN],
		   const char *what)
{
	return store_bind_result(store, sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN,
							  SQLITE_STATIC) != SQLITE_OK, what);
}

int sqlite_seen_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen)
{
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !id || !seen)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_SEEN_GET, &err);
	if (!stmt)
		return err;
	err = bind_id(store, stmt, id, "seen lookup");
	if (err)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_copy_text(seen->sender, sizeof(seen->sender), stmt, 0);
		store_copy_blob(seen->envelope_hash, sizeof(seen->envelope_hash), stmt, 1);
		seen->status = sqlite3_column_int(stmt, 2);
		seen->reason = sqlite3_column_int(stmt, 3);
		seen->received_ms = (uint64_t)sqlite3_column_int64(stmt, 4);
		seen->forget_after_ms = (uint64_t)sqlite3_column_int64(stmt, 5);
	} else if (rc == SQLITE_DONE) {
		err = LIMES_E_NOTFOUND;
	} else {
		err = store_sqlite_error(store, rc, "seen lookup");
	}
	store_reset(stmt);
	return err;
}

static int insert_seen(struct store *store, const uint8_t id[STORE_ID_LEN], const char *sender,
		       const uint8_t hash[STORE_HASH_LEN], int status, int reason,
		       uint64_t received_ms, uint64_t forget_after_ms)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt = stmt_get(store, SQL_SEEN_INSERT, &err);

	if (!stmt)
		return err;
	bad |= sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, sender, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 3, hash, STORE_HASH_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 4, status) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 5, reason) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 6, (sqlite3_int64)received_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 7, (sqlite3_int64)forget_after_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "seen put");
	return err ? err : store_step_done(store, stmt, "seen put");
}

static int insert_inbox(struct store *store, const struct store_inbox_entry *e)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt = stmt_get(store, SQL_INBOX_INSERT, &err);

	if (!stmt)
		return err;
	bad |= sqlite3_bind_blob(stmt, 1, e->id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, e->sender, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 3, e->type) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 4, e->priority) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 5, (sqlite3_int64)e->created_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 6, (sqlite3_int64)e->expires_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 7, (sqlite3_int64)e->received_ms) != SQLITE_OK;
	if (e->has_ref)
		bad |= sqlite3_bind_blob(stmt, 8, e->ref, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	else
		bad |= sqlite3_bind_null(stmt, 8) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 9, e->envelope_hash, STORE_HASH_LEN, SQLITE_STATIC) !=
	       SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 10, e->envelope, (int)e->envelope_len, SQLITE_STATIC) !=
	       SQLITE_OK;
	err = store_bind_result(store, bad, "inbox put");
	return err ? err : store_step_done(store, stmt, "inbox put");
}

int sqlite_inbox_put(struct store *store, const struct store_inbox_entry *entry,
		    uint64_t forget_after_ms)
{
	int err;

	if (!store || !entry || !store_agency_ok(entry->sender) || !entry->envelope ||
	    entry->envelope_len == 0)
		return LIMES_E_INVAL;
	if (entry->envelope_len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (err)
		return err;
	/* The seen set's primary key is the duplicate check: it goes first so a
	 * duplicate is refused before anything is written; a failure after it
	 * is undone by deleting the seen row again (no savepoint, see
	 * store_outbox_put()). */
	err = insert_seen(store, entry->id, entry->sender, entry->envelope_hash,
			  STORE_SEEN_ACCEPTED, 0, entry->received_ms, forget_after_ms);
	if (err)
		return err;
	err = insert_inbox(store, entry);
	if (err)
		store_undo(store, &queries, SQL_SEEN_DELETE, 0, entry->id);
	return err;
}

int sqlite_seen_put(struct store *store, const uint8_t id[STORE_ID_LEN], const struct store_seen *seen)
{
	int err;

	if (!store || !id || !seen || !store_agency_ok(seen->sender))
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	return insert_seen(store, id, seen->sender, seen->envelope_hash, seen->status,
			   seen->reason, seen->received_ms, seen->forget_after_ms);
}

int sqlite_seen_forget(struct store *store, const uint8_t id[STORE_ID_LEN])
{
	int err = 0;
	sqlite3_stmt *stmt;

	if (!store || !id)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_SEEN_DELETE, &err);
	if (!stmt)
		return err;
	err = bind_id(store, stmt, id, "seen forget");
	return err ? err : store_step_done(store, stmt, "seen forget");
}

int sqlite_inbox_list(struct store *store, int64_t after, size_t limit,
		     int (*fn)(void *arg, const struct store_inbox_row *row), void *arg)
{
	struct store_inbox_row row;
	int err = 0, rc, count = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !fn)
		return LIMES_E_INVAL;
	if (limit == 0)
		return 0;
	stmt = stmt_get(store, SQL_INBOX_LIST, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, after) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, limit > INT32_MAX ? INT32_MAX : (sqlite3_int64)limit) !=
	       SQLITE_OK;
	err = store_bind_result(store, bad, "inbox list");
	if (err)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_inbox_entry *e = &row.entry;

		row.cursor = sqlite3_column_int64(stmt, 0);
		store_copy_blob(e->id, sizeof(e->id), stmt, 1);
		store_copy_text(row.sender_buf, sizeof(row.sender_buf), stmt, 2);
		e->sender = row.sender_buf;
		e->type = sqlite3_column_int(stmt, 3);
		e->priority = sqlite3_column_int(stmt, 4);
		e->created_ms = (uint64_t)sqlite3_column_int64(stmt, 5);
		e->expires_ms = (uint64_t)sqlite3_column_int64(stmt, 6);
		e->received_ms = (uint64_t)sqlite3_column_int64(stmt, 7);
		e->has_ref = sqlite3_column_type(stmt, 8) != SQLITE_NULL;
		store_copy_blob(e->ref, sizeof(e->ref), stmt, 8);
		store_copy_blob(e->envelope_hash, sizeof(e->envelope_hash), stmt, 9);
		e->envelope = sqlite3_column_blob(stmt, 10);
		e->envelope_len = (size_t)sqlite3_column_bytes(stmt, 10);
		count++;
		if (fn(arg, &row) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "inbox list");
	store_reset(stmt);
	return err ? err : count;
}

/* Runs one of this file's purge DELETEs with its time bound as ?1. */
static int purge_one(struct store *store, int which, uint64_t bound, const char *what)
{
	int err = 0;
	sqlite3_stmt *stmt = stmt_get(store, which, &err);

	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_int64(stmt, 1, (sqlite3_int64)bound) !=
					       SQLITE_OK, what);
	return err ? err : store_step_done(store, stmt, what);
}

int store_inbox_purge(struct store *store, uint64_t now_ms, uint64_t cut)
{
	int err = purge_one(store, SQL_PURGE_SEEN, now_ms, "purge seen");

	if (!err && cut > 0)
		err = purge_one(store, SQL_PURGE_INBOX, cut, "purge inbox");
	return err;
}
