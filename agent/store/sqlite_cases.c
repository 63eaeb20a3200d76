/*
 * The SQLite backend's part of cases and body retention: a case's messages across the outbox and the inbox (a readmission request,
 * the replies to it, the supplementary requests: linked by the ref each
 * carries), and body retention per type: bodies emptied on time while ids,
 * states and hashes stay. Every query on these concerns is here.
 */
#include "store_int.h"

#include <string.h>

#include "proto/err.h"

enum {
	SQL_OUT_BY_ID,
	SQL_IN_BY_ID,
	SQL_OUT_CHILDREN,
	SQL_IN_CHILDREN,
	SQL_PURGE_IN_BODIES,
	SQL_PURGE_OUT_ENVELOPES,
	SQL_PURGE_OUT_BODIES,
	SQL_COUNT_
};
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

static const char *const sql_text[SQL_COUNT_] = {
	/* purged when every recipient's copy is gone */
	[SQL_OUT_BY_ID] =
		"SELECT m.type, m.created_ms, m.ref,"
		" (SELECT max(d.body) FROM deliveries d WHERE d.msg = m.seq)"
		" FROM messages m WHERE m.id = ?1",
	/* through the seen set (keyed by id) and the time index: the inbox has
	 * no index of its own on the random id */
	[SQL_IN_BY_ID] =
		"SELECT i.sender, i.type, i.created_ms, i.received_ms, i.ref, length(i.envelope)"
		" FROM seen s JOIN inbox i ON i.received_ms = s.received_ms AND i.message_id = s.message_id"
		" WHERE s.message_id = ?1",
	[SQL_OUT_CHILDREN] = "SELECT id FROM messages WHERE ref = ?1 LIMIT ?2",
	[SQL_IN_CHILDREN] = "SELECT message_id FROM inbox WHERE ref = ?1 LIMIT ?2",
	[SQL_PURGE_IN_BODIES] =
		"UPDATE inbox SET envelope = X'' WHERE type = ?1 AND received_ms <= ?2 AND length(envelope) > 0",
	/* the envelopes (schema 6: a table of their own), then the flag that
	 * takes the rows out of the body purge's range of deliveries_done */
	[SQL_PURGE_OUT_ENVELOPES] =
		"DELETE FROM envelopes WHERE dseq IN (SELECT dseq FROM deliveries WHERE type = ?1"
		" AND body = 1 AND done_ms <= ?2 AND state >= 2)",
	[SQL_PURGE_OUT_BODIES] =
		"UPDATE deliveries SET body = 0 WHERE type = ?1 AND body = 1 AND done_ms <= ?2"
		" AND state >= 2",
};

static const struct store_queries queries = { STORE_FILE_CASES, SQL_COUNT_, sql_text };

static sqlite3_stmt *stmt_id(struct store *store, int which, const uint8_t id[STORE_ID_LEN], int *err,
			     const char *what)
{
	sqlite3_stmt *stmt = store_stmt(store, &queries, which, err);

	if (!stmt)
		return NULL;
	*err = store_bind_result(store, sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK,
				 what);
	if (*err) {
		store_reset(stmt);
		return NULL;
	}
	return stmt;
}

int sqlite_case_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e)
{
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !id || !e)
		return LIMES_E_INVAL;
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, STORE_ID_LEN);
	if (!(stmt = stmt_id(store, SQL_OUT_BY_ID, id, &err, "case get")))
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		e->type = sqlite3_column_int(stmt, 0);
		e->created_ms = (uint64_t)sqlite3_column_int64(stmt, 1);
		e->has_ref = sqlite3_column_type(stmt, 2) != SQLITE_NULL;
		store_copy_blob(e->ref, sizeof(e->ref), stmt, 2);
		e->body_purged = sqlite3_column_type(stmt, 3) != SQLITE_NULL && sqlite3_column_int64(stmt, 3) == 0;
	}
	store_reset(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return store_sqlite_error(store, rc, "case get");
	if (!(stmt = stmt_id(store, SQL_IN_BY_ID, id, &err, "case get")))
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		e->received = true;
		store_copy_text(e->sender, sizeof(e->sender), stmt, 0);
		e->type = sqlite3_column_int(stmt, 1);
		e->created_ms = (uint64_t)sqlite3_column_int64(stmt, 2);
		e->received_ms = (uint64_t)sqlite3_column_int64(stmt, 3);
		e->has_ref = sqlite3_column_type(stmt, 4) != SQLITE_NULL;
		store_copy_blob(e->ref, sizeof(e->ref), stmt, 4);
		e->body_purged = sqlite3_column_int64(stmt, 5) == 0;
	}
	store_reset(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? LIMES_E_NOTFOUND : store_sqlite_error(store, rc, "case get");
}

static int children_of(struct store *store, int which, const uint8_t ref[STORE_ID_LEN],
		       uint8_t (*ids)[STORE_ID_LEN], size_t max, size_t *n)
{
	int err = 0, rc;
	sqlite3_stmt *stmt = stmt_id(store, which, ref, &err, "case children");

	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_int64(stmt, 2, (sqlite3_int64)(max - *n)) != SQLITE_OK,
				"case children");
	while (!err && *n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		store_copy_blob(ids[(*n)++], STORE_ID_LEN, stmt, 0);
	if (!err && *n < max && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "case children");
	store_reset(stmt);
	return err;
}

int sqlite_case_children(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
			size_t max, size_t *n)
{
	int err;

	if (!store || !ref || !ids || !n)
		return LIMES_E_INVAL;
	*n = 0;
	if (max == 0)
		return 0;
	err = children_of(store, SQL_OUT_CHILDREN, ref, ids, max, n);
	if (!err && *n < max)
		err = children_of(store, SQL_IN_CHILDREN, ref, ids, max, n);
	return err;
}

int sqlite_purge_bodies(struct store *store, int type, uint64_t cut_ms)
{
	static const int which[] = { SQL_PURGE_IN_BODIES, SQL_PURGE_OUT_ENVELOPES, SQL_PURGE_OUT_BODIES };
	int err, count = 0;

	if (!store)
		return LIMES_E_INVAL;
	if ((err = store_write_begin(store)) != 0)
		return err;
	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		sqlite3_stmt *stmt = store_stmt(store, &queries, which[i], &err);
		if (!stmt)
			return err;
		bool bad = sqlite3_bind_int(stmt, 1, type) != SQLITE_OK;
		bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)cut_ms) != SQLITE_OK;
		if ((err = store_bind_result(store, bad, "purge bodies")) != 0) {
			store_reset(stmt);
			return err;
		}
		if ((err = store_step_done(store, stmt, "purge bodies")) != 0)
			return err;
		/* bodies purged: the inbox rows and the deliveries' flags */
		if (which[i] != SQL_PURGE_OUT_ENVELOPES)
			count += sqlite3_changes(store->db);
	}
	return count;
}
