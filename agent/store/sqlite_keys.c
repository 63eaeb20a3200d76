/*
 * The SQLite backend's key rotation rows: per agency, the keys learnt over
 * the link beyond the configuration (a neighbour's announced next key, the
 * key adopted in force, the one it replaced and its overlap), and this
 * agent's own rotation under its own id. Every query on peer_keys is here.
 */
#include "store_int.h"

#include <string.h>

#include "proto/err.h"

/* Schema version 5: key rotation. */
const char store_keys_schema[] =
	"CREATE TABLE peer_keys ("
	" peer TEXT PRIMARY KEY,"
	" base_line TEXT NOT NULL,"
	" current_line TEXT NOT NULL,"
	" next_line TEXT NOT NULL,"
	" next_state INTEGER NOT NULL,"
	" seq INTEGER NOT NULL,"
	" announced_ms INTEGER NOT NULL,"
	" changed_ms INTEGER NOT NULL,"
	" changed_by TEXT NOT NULL,"
	" previous_line TEXT NOT NULL,"
	" previous_until_ms INTEGER NOT NULL);";

/* Schema version 7: notes of our own rotation (acks, the key ring). */
const char store_key_notes_schema[] =
	"CREATE TABLE key_notes ("
	" kind TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" line TEXT NOT NULL,"
	" seq INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" at_ms INTEGER NOT NULL,"
	" until_ms INTEGER NOT NULL,"
	" PRIMARY KEY (kind, name));";

enum { SQL_PUT, SQL_LIST, SQL_NOTE_PUT, SQL_NOTE_DELETE, SQL_NOTE_LIST, SQL_COUNT_ };
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_PUT] = "INSERT OR REPLACE INTO peer_keys(peer, base_line, current_line, next_line, next_state, seq,"
		    " announced_ms, changed_ms, changed_by, previous_line, previous_until_ms)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[SQL_LIST] = "SELECT peer, base_line, current_line, next_line, next_state, seq, announced_ms, changed_ms,"
		     " changed_by, previous_line, previous_until_ms FROM peer_keys ORDER BY peer",
	[SQL_NOTE_PUT] = "INSERT OR REPLACE INTO key_notes(kind, name, line, seq, state, at_ms, until_ms)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQL_NOTE_DELETE] = "DELETE FROM key_notes WHERE kind = ?1 AND name = ?2",
	[SQL_NOTE_LIST] = "SELECT kind, name, line, seq, state, at_ms, until_ms FROM key_notes ORDER BY kind, name",
};

static const struct store_queries queries = { STORE_FILE_KEYS, SQL_COUNT_, sql_text };

int sqlite_key_put(struct store *store, const struct store_key_row *r)
{
	int err = store_write_begin(store);
	sqlite3_stmt *stmt;
	bool bad = false;

	if (err)
		return err;
	if (!(stmt = store_stmt(store, &queries, SQL_PUT, &err)))
		return err;
	bad |= sqlite3_bind_text(stmt, 1, r->peer, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, r->base_line, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 3, r->current_line, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 4, r->next_line, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 5, r->next_state) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 6, (sqlite3_int64)r->seq) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 7, (sqlite3_int64)r->announced_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 8, (sqlite3_int64)r->changed_ms) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 9, r->changed_by, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 10, r->previous_line, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 11, (sqlite3_int64)r->previous_until_ms) != SQLITE_OK;
	if ((err = store_bind_result(store, bad, "key put")) < 0) {
		store_reset(stmt);
		return err;
	}
	return store_step_done(store, stmt, "key put");
}

int sqlite_key_list(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg)
{
	int err = 0, rc;
	sqlite3_stmt *stmt = store_stmt(store, &queries, SQL_LIST, &err);

	if (!stmt)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_key_row r;
		memset(&r, 0, sizeof(r));
		store_copy_text(r.peer, sizeof(r.peer), stmt, 0);
		store_copy_text(r.base_line, sizeof(r.base_line), stmt, 1);
		store_copy_text(r.current_line, sizeof(r.current_line), stmt, 2);
		store_copy_text(r.next_line, sizeof(r.next_line), stmt, 3);
		r.next_state = sqlite3_column_int(stmt, 4);
		r.seq = (uint64_t)sqlite3_column_int64(stmt, 5);
		r.announced_ms = (uint64_t)sqlite3_column_int64(stmt, 6);
		r.changed_ms = (uint64_t)sqlite3_column_int64(stmt, 7);
		store_copy_text(r.changed_by, sizeof(r.changed_by), stmt, 8);
		store_copy_text(r.previous_line, sizeof(r.previous_line), stmt, 9);
		r.previous_until_ms = (uint64_t)sqlite3_column_int64(stmt, 10);
		if ((err = fn(arg, &r)) != 0) {
			store_reset(stmt);
			return err;
		}
	}
	err = rc == SQLITE_DONE ? 0 : store_sqlite_error(store, rc, "key list");
	store_reset(stmt);
	return err;
}

int sqlite_key_note_put(struct store *store, const struct store_key_note *n)
{
	int err = store_write_begin(store);
	sqlite3_stmt *stmt;
	bool bad = false;

	if (err)
		return err;
	if (!(stmt = store_stmt(store, &queries, SQL_NOTE_PUT, &err)))
		return err;
	bad |= sqlite3_bind_text(stmt, 1, n->kind, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, n->name, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 3, n->line, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 4, (sqlite3_int64)n->seq) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 5, n->state) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 6, (sqlite3_int64)n->at_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 7, (sqlite3_int64)n->until_ms) != SQLITE_OK;
	if ((err = store_bind_result(store, bad, "key note put")) < 0) {
		store_reset(stmt);
		return err;
	}
	return store_step_done(store, stmt, "key note put");
}

int sqlite_key_note_delete(struct store *store, const char *kind, const char *name)
{
	int err = store_write_begin(store);
	sqlite3_stmt *stmt;
	bool bad = false;

	if (err)
		return err;
	if (!(stmt = store_stmt(store, &queries, SQL_NOTE_DELETE, &err)))
		return err;
	bad |= sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC) != SQLITE_OK;
	if ((err = store_bind_result(store, bad, "key note delete")) < 0) {
		store_reset(stmt);
		return err;
	}
	return store_step_done(store, stmt, "key note delete");
}

int sqlite_key_note_list(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg)
{
	int err = 0, rc;
	sqlite3_stmt *stmt = store_stmt(store, &queries, SQL_NOTE_LIST, &err);

	if (!stmt)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_key_note n;
		memset(&n, 0, sizeof(n));
		store_copy_text(n.kind, sizeof(n.kind), stmt, 0);
		store_copy_text(n.name, sizeof(n.name), stmt, 1);
		store_copy_text(n.line, sizeof(n.line), stmt, 2);
		n.seq = (uint64_t)sqlite3_column_int64(stmt, 3);
		n.state = sqlite3_column_int(stmt, 4);
		n.at_ms = (uint64_t)sqlite3_column_int64(stmt, 5);
		n.until_ms = (uint64_t)sqlite3_column_int64(stmt, 6);
		if ((err = fn(arg, &n)) != 0) {
			store_reset(stmt);
			return err;
		}
	}
	err = rc == SQLITE_DONE ? 0 : store_sqlite_error(store, rc, "key note list");
	store_reset(stmt);
	return err;
}
