/*
 * The outbox: messages as submitted, one delivery row per recipient with its
 * state machine (queued -> sent -> delivered | rejected, expired, requeued),
 * the send queue per next hop, the signed receipts, the idempotency keys and
 * the outbox's part of retention. Every query on the messages, deliveries
 * and receipts tables is here, beside the code that binds it.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

/*
 * Schema version 6: the sealed envelope leaves the deliveries row for a table
 * of its own, written once at submission, read by the link's fill and
 * deleted with the delivery. A delivery row shrinks from ~1.3 KiB to ~100
 * bytes, so the sent and delivered marks (which rewrite the row) touch a
 * page per ~40 deliveries instead of one per three, and no longer copy the
 * envelope in and out of the record (docs/benchmarks.md, "The envelope out
 * of the deliveries row"). deliveries is rebuilt with an explicit INTEGER
 * PRIMARY KEY equal to its old rowid, so the cursors already handed out stay
 * valid and VACUUM cannot renumber the rows envelopes point at. `body` is 1
 * while the envelope is kept (0 once body retention emptied it, or when an
 * older version had emptied it already: no envelopes row then).
 *
 * One index serves both halves of retention for finished deliveries: the
 * body purge seeks (type, body = 1, done_ms), the record purge walks it type
 * by type (a few seeks: there are few types). It replaces deliveries_done
 * and deliveries_body, so a finished delivery writes one index entry, not two.
 */
const char store_outbox_v6_schema[] =
	"CREATE TABLE deliveries_v6 ("
	" dseq INTEGER PRIMARY KEY,"
	" msg INTEGER NOT NULL,"
	" recipient TEXT NOT NULL,"
	" message_id BLOB NOT NULL,"
	" next_hop TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" type INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" sent_ms INTEGER NOT NULL DEFAULT 0,"
	" next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
	" done_ms INTEGER NOT NULL DEFAULT 0,"
	" reason INTEGER NOT NULL DEFAULT 0,"
	" detail TEXT NOT NULL DEFAULT '',"
	" receipt_id INTEGER,"
	" body INTEGER NOT NULL DEFAULT 1,"
	" UNIQUE (msg, recipient));"
	"CREATE TABLE envelopes ("
	" dseq INTEGER PRIMARY KEY," /* deliveries.dseq */
	" envelope BLOB NOT NULL);"
	"INSERT INTO deliveries_v6(dseq, msg, recipient, message_id, next_hop, state, type, priority,"
	" created_ms, expires_ms, attempts, sent_ms, next_attempt_ms, done_ms, reason, detail,"
	" receipt_id, body)"
	" SELECT rowid, msg, recipient, message_id, next_hop, state, type, priority, created_ms,"
	" expires_ms, attempts, sent_ms, next_attempt_ms, done_ms, reason, detail, receipt_id,"
	" length(envelope) > 0 FROM deliveries ORDER BY rowid;"
	"INSERT INTO envelopes(dseq, envelope)"
	" SELECT rowid, envelope FROM deliveries WHERE length(envelope) > 0 ORDER BY rowid;"
	/* emptied first: a DROP of the full table after the copies above kept
	 * every page of it in memory until the commit (233 MB for 100,000
	 * deliveries), the DELETE (SQLite clears the table whole) does not */
	"DELETE FROM deliveries;"
	"DROP TABLE deliveries;"
	"ALTER TABLE deliveries_v6 RENAME TO deliveries;"
	"CREATE INDEX deliveries_queued ON deliveries(next_hop, state, priority DESC, created_ms)"
	" WHERE state = 0;"
	"CREATE INDEX deliveries_sent ON deliveries(next_hop, state, next_attempt_ms, created_ms)"
	" WHERE state = 1;"
	"CREATE INDEX deliveries_expiry ON deliveries(expires_ms) WHERE done_ms = 0;"
	"CREATE INDEX deliveries_done ON deliveries(type, body, done_ms) WHERE state IN (2, 3, 4);";

/*
 * Schema version 8: the same index on the same rows (states 2, 3 and 4 are
 * the only ones above 1), its predicate a range. SQLite (3.40) evaluates a
 * partial index's `state IN (2, 3, 4)` through a temporary B-tree built for
 * every row an INSERT or a state-changing UPDATE writes: the submission's
 * insert and both batch marks opened, filled and closed one per delivery
 * (docs/benchmarks.md, "The sender loop's CPU"). `state >= 2` is one
 * comparison. The queries that go through the index say `state >= 2` too,
 * as SQLite uses a partial index only for a query that states its
 * predicate.
 */
const char store_outbox_v8_schema[] =
	"DROP INDEX deliveries_done;"
	"CREATE INDEX deliveries_done ON deliveries(type, body, done_ms) WHERE state >= 2;";

enum {
	SQL_MSG_INSERT,
	SQL_MSG_BY_ID,
	SQL_DLV_INSERT,
	SQL_IDEM_GET,
	SQL_DUE_QUEUED,
	SQL_DUE_SENT,
	SQL_DLV_SENT,
	SQL_RESET_HOP,
	SQL_RECEIPT_INSERT,
	SQL_DLV_DONE,
	SQL_DLV_STATE,
	SQL_EXPIRE,
	SQL_EXPIRE_DUE,
	SQL_REQUEUE,
	SQL_MSG_GET,
	SQL_STATS,
	SQL_UNDO_DLV,
	SQL_UNDO_MSG,
	SQL_PURGE_DLV,
	SQL_PURGE_MSG,
	SQL_PURGE_RECEIPTS,
	SQL_LIST,
	SQL_STATS_RECIPIENT,
	SQL_RESEAL,
	SQL_READDRESS,
	SQL_SENT_MANY,
	SQL_DELIVERED_MANY,
	SQL_ENV_INSERT,
	SQL_ENV_PUT,
	SQL_UNDO_ENV,
	SQL_UNDO_ONE,
	SQL_PURGE_ENV,
	SQL_ENV_SAVEPOINT,
	SQL_ENV_RELEASE,
	SQL_ENV_ROLLBACK_TO,
	SQL_COUNT_
};
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

/* The columns read_delivery() reads, in its order. */
#define DLV_COLUMNS \
	"rowid, message_id, recipient, next_hop, type, priority, state, created_ms," \
	" expires_ms, sent_ms, next_attempt_ms, attempts, done_ms, reason, detail," \
	" (SELECT envelope FROM envelopes WHERE envelopes.dseq = deliveries.dseq)," \
	" (SELECT bytes FROM receipts WHERE id = receipt_id)"

/* The same columns for the fill's two streams, the envelope by a join: a
 * scalar subquery's value is copied into the result (the whole envelope,
 * for every due row), a joined column is read where it lies. */
#define DLV_COLUMNS_DUE \
	"d.dseq, d.message_id, d.recipient, d.next_hop, d.type, d.priority, d.state, d.created_ms," \
	" d.expires_ms, d.sent_ms, d.next_attempt_ms, d.attempts, d.done_ms, d.reason, d.detail," \
	" e.envelope, (SELECT bytes FROM receipts WHERE id = d.receipt_id)" \
	" FROM deliveries d LEFT JOIN envelopes e ON e.dseq = d.dseq"

/* Delivery states as stored: enum delivery_state in store.h. */
static const char *const sql_text[SQL_COUNT_] = {
	[SQL_MSG_INSERT] =
		"INSERT INTO messages(id, type, priority, created_ms, expires_ms, ref,"
		" client, idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQL_MSG_BY_ID] =
		"SELECT seq, type, priority, created_ms, expires_ms FROM messages WHERE id = ?1",
	[SQL_DLV_INSERT] =
		"INSERT INTO deliveries(msg, recipient, message_id, next_hop, state, type,"
		" priority, created_ms, expires_ms)"
		" VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8)",
	[SQL_IDEM_GET] =
		"SELECT id FROM messages WHERE client = ?1 AND idempotency_key = ?2"
		" AND idempotency_key IS NOT NULL",
	[SQL_DUE_QUEUED] =
		"SELECT " DLV_COLUMNS_DUE " WHERE d.next_hop = ?1 AND d.state = 0"
		" ORDER BY d.priority DESC, d.created_ms, d.dseq LIMIT ?2",
	[SQL_DUE_SENT] =
		"SELECT " DLV_COLUMNS_DUE " WHERE d.next_hop = ?1 AND d.state = 1"
		" AND d.next_attempt_ms <= ?2 ORDER BY d.priority DESC, d.created_ms, d.dseq LIMIT ?3",
	[SQL_DLV_SENT] =
		"UPDATE deliveries SET state = 1, attempts = attempts + 1, sent_ms = ?3,"
		" next_attempt_ms = ?4 WHERE msg = (SELECT seq FROM messages WHERE id = ?1)"
		" AND recipient = ?2 AND state IN (0, 1)",
	[SQL_RESET_HOP] =
		"UPDATE deliveries SET state = 0, next_attempt_ms = 0"
		" WHERE next_hop = ?1 AND state = 1",
	[SQL_RECEIPT_INSERT] = "INSERT INTO receipts(bytes) VALUES (?1)",
	[SQL_DLV_DONE] =
		"UPDATE deliveries SET state = ?3, reason = ?4, detail = ?5, done_ms = ?6,"
		" receipt_id = ?7 WHERE msg = (SELECT seq FROM messages WHERE id = ?1)"
		" AND recipient = ?2 AND state IN (0, 1, 4)",
	[SQL_DLV_STATE] =
		"SELECT state FROM deliveries WHERE msg = (SELECT seq FROM messages WHERE id = ?1)"
		" AND recipient = ?2",
	/* RETURNING: each expired delivery is reported, at no second scan. */
	[SQL_EXPIRE] =
		"UPDATE deliveries SET state = 4, done_ms = ?1"
		" WHERE done_ms = 0 AND state IN (0, 1) AND expires_ms <= ?1"
		" RETURNING message_id, recipient, next_hop, type",
	/* through the partial index: costs nothing on an idle agent */
	[SQL_EXPIRE_DUE] =
		"SELECT EXISTS (SELECT 1 FROM deliveries WHERE done_ms = 0 AND state IN (0, 1)"
		" AND expires_ms <= ?1)",
	/* the new envelope follows by the returned dseq (SQL_ENV_PUT) */
	[SQL_REQUEUE] =
		"UPDATE deliveries SET state = 0, expires_ms = ?3, sent_ms = 0, next_attempt_ms = 0,"
		" done_ms = 0, reason = 0, detail = '', receipt_id = NULL, body = 1"
		" WHERE msg = (SELECT seq FROM messages WHERE id = ?1) AND recipient = ?2"
		" AND state IN (2, 3, 4) RETURNING dseq",
	[SQL_MSG_GET] =
		"SELECT " DLV_COLUMNS " FROM deliveries"
		" WHERE msg = (SELECT seq FROM messages WHERE id = ?1) ORDER BY recipient",
	[SQL_STATS] =
		"SELECT count(*), min(created_ms) FROM deliveries WHERE next_hop = ?1 AND state = 0"
		" UNION ALL "
		"SELECT count(*), min(created_ms) FROM deliveries WHERE next_hop = ?1 AND state = 1",
	/* filters left NULL match everything; the rowid is the cursor */
	[SQL_LIST] =
		"SELECT " DLV_COLUMNS " FROM deliveries"
		" WHERE rowid > ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR recipient = ?3)"
		" AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR created_ms >= ?5)"
		" ORDER BY rowid LIMIT ?6",
	[SQL_STATS_RECIPIENT] =
		"SELECT count(*), min(created_ms) FROM deliveries WHERE recipient = ?1 AND done_ms = 0"
		" AND state IN (0, 1)",
	/* only the envelope changes: the deliveries row is not touched */
	[SQL_RESEAL] =
		"INSERT INTO envelopes(dseq, envelope) SELECT dseq, ?3 FROM deliveries"
		" WHERE msg = (SELECT seq FROM messages WHERE id = ?1) AND recipient = ?2 AND state IN (0, 1)"
		" ON CONFLICT (dseq) DO UPDATE SET envelope = excluded.envelope",
	[SQL_READDRESS] =
		"UPDATE deliveries SET recipient = ?3, next_hop = ?4, state = 0, expires_ms = ?5,"
		" sent_ms = 0, next_attempt_ms = 0, done_ms = 0, reason = 0, detail = '', receipt_id = NULL,"
		" body = 1 WHERE msg = (SELECT seq FROM messages WHERE id = ?1) AND recipient = ?2"
		" AND state <> 2 RETURNING dseq",
	/* One statement for a batch: the rowids come as one JSON array, each
	 * row is reached by its rowid (no lookup of the message id, no second
	 * index) and the statement runs once. */
	[SQL_SENT_MANY] =
		"UPDATE deliveries SET state = 1, attempts = attempts + 1, sent_ms = ?2,"
		" next_attempt_ms = ?3 WHERE rowid IN (SELECT value FROM json_each(?1))"
		" AND state IN (0, 1)",
	[SQL_DELIVERED_MANY] =
		"UPDATE deliveries SET state = 2, reason = 0, detail = '', done_ms = ?2,"
		" receipt_id = ?3 WHERE rowid IN (SELECT value FROM json_each(?1))"
		" AND state IN (0, 1, 4)",
	[SQL_ENV_INSERT] = "INSERT INTO envelopes(dseq, envelope) VALUES (?1, ?2)",
	[SQL_ENV_PUT] =
		"INSERT INTO envelopes(dseq, envelope) VALUES (?1, ?2)"
		" ON CONFLICT (dseq) DO UPDATE SET envelope = excluded.envelope",
	[SQL_UNDO_ENV] = "DELETE FROM envelopes WHERE dseq IN (SELECT dseq FROM deliveries WHERE msg = ?1)",
	[SQL_UNDO_ONE] = "DELETE FROM deliveries WHERE dseq = ?1",
	[SQL_UNDO_DLV] = "DELETE FROM deliveries WHERE msg = ?1",
	[SQL_UNDO_MSG] = "DELETE FROM messages WHERE seq = ?1",
	/* Through deliveries_done (type, body, done_ms), type by type: the
	 * recursive part finds each next type with one seek, and each type's
	 * finished rows are two range seeks (body 0 and 1). */
	[SQL_PURGE_DLV] =
		"DELETE FROM deliveries WHERE dseq IN ("
		"WITH RECURSIVE types(t) AS ("
		" SELECT (SELECT type FROM deliveries WHERE state >= 2 ORDER BY type LIMIT 1)"
		" UNION ALL"
		" SELECT (SELECT type FROM deliveries WHERE state >= 2 AND type > t"
		" ORDER BY type LIMIT 1) FROM types WHERE t IS NOT NULL)"
		" SELECT d.dseq FROM types, deliveries d WHERE d.type = types.t AND d.body IN (0, 1)"
		" AND d.state >= 2 AND d.done_ms <= ?1)"
		" RETURNING msg, dseq",
	[SQL_PURGE_ENV] = "DELETE FROM envelopes WHERE dseq = ?1",
	/* a requeue or re-address is two statements (the row, its envelope):
	 * one savepoint makes them one (rare operations: its cost is no matter) */
	[SQL_ENV_SAVEPOINT] = "SAVEPOINT envelope",
	[SQL_ENV_RELEASE] = "RELEASE envelope",
	[SQL_ENV_ROLLBACK_TO] = "ROLLBACK TO envelope",
	[SQL_PURGE_MSG] =
		"DELETE FROM messages WHERE seq = ?1"
		" AND NOT EXISTS (SELECT 1 FROM deliveries WHERE msg = ?1)",
	[SQL_PURGE_RECEIPTS] =
		/* receipts are numbered in arrival order and deliveries purged oldest
		 * first: everything below the lowest id still referenced is unused
		 * (one scan of deliveries, no index to keep up on every receipt) */
		"DELETE FROM receipts WHERE id < (SELECT coalesce(min(receipt_id), 9223372036854775807)"
		" FROM deliveries)",
};
#undef DLV_COLUMNS
#undef DLV_COLUMNS_DUE

static const struct store_queries queries = { STORE_FILE_OUTBOX, SQL_COUNT_, sql_text };

/* This file's query `which`, prepared on first use; NULL and *err on failure. */
static sqlite3_stmt *stmt_get(struct store *store, int which, int *err)
{
	return store_stmt(store, &queries, which, err);
}

static int bind_u64(sqlite3_stmt *stmt, int col, uint64_t v)
{
	return sqlite3_bind_int64(stmt, col, (sqlite3_int64)v);
}

static uint64_t column_u64(sqlite3_stmt *stmt, int col)
{
	return (uint64_t)sqlite3_column_int64(stmt, col);
}

/* Column order: DLV_COLUMNS above. The row borrows the statement's current
 * column pointers. */
static void read_delivery(sqlite3_stmt *stmt, struct store_delivery_row *row)
{
	row->cursor = sqlite3_column_int64(stmt, 0);
	store_copy_blob(row->id, sizeof(row->id), stmt, 1);
	store_copy_text(row->recipient, sizeof(row->recipient), stmt, 2);
	store_copy_text(row->next_hop, sizeof(row->next_hop), stmt, 3);
	row->type = sqlite3_column_int(stmt, 4);
	row->priority = sqlite3_column_int(stmt, 5);
	row->state = (enum delivery_state)sqlite3_column_int(stmt, 6);
	row->created_ms = column_u64(stmt, 7);
	row->expires_ms = column_u64(stmt, 8);
	row->sent_ms = column_u64(stmt, 9);
	row->next_attempt_ms = column_u64(stmt, 10);
	row->attempts = (uint32_t)sqlite3_column_int64(stmt, 11);
	row->done_ms = column_u64(stmt, 12);
	row->reason = sqlite3_column_int(stmt, 13);
	row->detail = (const char *)sqlite3_column_text(stmt, 14);
	if (!row->detail)
		row->detail = "";
	row->envelope = sqlite3_column_blob(stmt, 15);
	row->envelope_len = (size_t)sqlite3_column_bytes(stmt, 15);
	row->receipt = sqlite3_column_blob(stmt, 16);
	row->receipt_len = row->receipt ? (size_t)sqlite3_column_bytes(stmt, 16) : 0;
}

static int validate_put(const struct store_message *msg, const struct store_delivery *deliveries,
			size_t n_deliveries)
{
	if (!msg || !deliveries || n_deliveries == 0)
		return LIMES_E_INVAL;
	if (msg->priority != 0 && msg->priority != 1)
		return LIMES_E_INVAL;
	if (msg->idempotency_key && !*msg->idempotency_key)
		return LIMES_E_INVAL;
	for (size_t i = 0; i < n_deliveries; i++) {
		const struct store_delivery *d = &deliveries[i];

		if (!store_agency_ok(d->recipient) || !store_agency_ok(d->next_hop) || !d->envelope ||
		    d->envelope_len == 0)
			return LIMES_E_INVAL;
		if (d->envelope_len > INT32_MAX)
			return LIMES_E_TOOBIG;
		/* The primary key would refuse it after the message row went in;
		 * refusing here is cheaper than undoing. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(deliveries[j].recipient, d->recipient) == 0)
				return LIMES_E_INVAL;
	}
	return 0;
}

static int insert_message(struct store *store, const struct store_message *msg, int64_t *seq)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt = stmt_get(store, SQL_MSG_INSERT, &err);

	if (!stmt)
		return err;
	bad |= sqlite3_bind_blob(stmt, 1, msg->id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 2, msg->type) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 3, msg->priority) != SQLITE_OK;
	bad |= bind_u64(stmt, 4, msg->created_ms) != SQLITE_OK;
	bad |= bind_u64(stmt, 5, msg->expires_ms) != SQLITE_OK;
	if (msg->has_ref)
		bad |= sqlite3_bind_blob(stmt, 6, msg->ref, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	else
		bad |= sqlite3_bind_null(stmt, 6) != SQLITE_OK;
	/* A key without a client name belongs to the "" client, so the unique
	 * index still applies (NULLs never collide). */
	if (msg->client || msg->idempotency_key)
		bad |= sqlite3_bind_text(stmt, 7, msg->client ? msg->client : "", -1,
					 SQLITE_STATIC) != SQLITE_OK;
	else
		bad |= sqlite3_bind_null(stmt, 7) != SQLITE_OK;
	if (msg->idempotency_key)
		bad |= sqlite3_bind_text(stmt, 8, msg->idempotency_key, -1, SQLITE_STATIC) !=
		       SQLITE_OK;
	else
		bad |= sqlite3_bind_null(stmt, 8) != SQLITE_OK;
	err = store_bind_result(store, bad, "outbox put");
	if (!err)
		err = store_step_done(store, stmt, "outbox put");
	if (!err)
		*seq = sqlite3_last_insert_rowid(store->db);
	return err;
}

/* Writes one envelope under the delivery dseq: `which` is SQL_ENV_INSERT
 * (a new delivery) or SQL_ENV_PUT (a new envelope for an existing one). */
static int put_envelope(struct store *store, int which, int64_t dseq, const uint8_t *envelope,
			size_t envelope_len, const char *what)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt = stmt_get(store, which, &err);

	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, dseq) != SQLITE_OK;
	/* SQLITE_STATIC: the envelope is read in place during the step, never
	 * copied; the binding is replaced before the statement runs again. */
	bad |= sqlite3_bind_blob(stmt, 2, envelope, (int)envelope_len, SQLITE_STATIC) != SQLITE_OK;
	err = store_bind_result(store, bad, what);
	return err ? err : store_step_done(store, stmt, what);
}

/* The delivery row, then its envelope in a row of its own; *dseq gets the
 * delivery's key once its row is in (0 before), so a caller can undo it. */
static int insert_delivery(struct store *store, const struct store_message *msg, int64_t seq,
			   const struct store_delivery *d, int64_t *dseq)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt = stmt_get(store, SQL_DLV_INSERT, &err);

	*dseq = 0;

	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, seq) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, d->recipient, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 3, msg->id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 4, d->next_hop, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 5, msg->type) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 6, msg->priority) != SQLITE_OK;
	bad |= bind_u64(stmt, 7, msg->created_ms) != SQLITE_OK;
	bad |= bind_u64(stmt, 8, msg->expires_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "outbox put");
	if (!err)
		err = store_step_done(store, stmt, "outbox put");
	if (err)
		return err;
	*dseq = sqlite3_last_insert_rowid(store->db);
	return put_envelope(store, SQL_ENV_INSERT, *dseq, d->envelope, d->envelope_len, "outbox put");
}

int sqlite_outbox_put(struct store *store, const struct store_message *msg,
		     const struct store_delivery *deliveries, size_t n_deliveries)
{
	int64_t seq = 0, dseq = 0;
	int err;

	if (!store)
		return LIMES_E_INVAL;
	err = validate_put(msg, deliveries, n_deliveries);
	if (!err)
		err = store_write_begin(store);
	if (err)
		return err;
	/* No savepoint (it costs a sub-journal copy of every page touched):
	 * a duplicate is refused by the first insert, before anything is
	 * written, and a later failure is undone by deleting what this put
	 * wrote (store_undo() fails the store if even that fails). */
	err = insert_message(store, msg, &seq);
	if (err)
		return err;
	for (size_t i = 0; !err && i < n_deliveries; i++)
		err = insert_delivery(store, msg, seq, &deliveries[i], &dseq);
	if (err) {
		store_undo(store, &queries, SQL_UNDO_ENV, seq, NULL);
		store_undo(store, &queries, SQL_UNDO_DLV, seq, NULL);
		store_undo(store, &queries, SQL_UNDO_MSG, seq, NULL);
	}
	return err;
}

/* Reads back what a message row holds that its deliveries copy: 0, or
 * LIMES_E_NOTFOUND, or a store error. */
static int message_by_id(struct store *store, const uint8_t id[STORE_ID_LEN],
			 struct store_message *msg, int64_t *seq)
{
	int err = 0, rc;
	sqlite3_stmt *stmt = stmt_get(store, SQL_MSG_BY_ID, &err);

	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN,
							 SQLITE_STATIC) != SQLITE_OK,
				"message lookup");
	if (err)
		return err;
	memset(msg, 0, sizeof(*msg));
	memcpy(msg->id, id, STORE_ID_LEN);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(stmt, 0);
		msg->type = sqlite3_column_int(stmt, 1);
		msg->priority = sqlite3_column_int(stmt, 2);
		msg->created_ms = column_u64(stmt, 3);
		msg->expires_ms = column_u64(stmt, 4);
	} else if (rc == SQLITE_DONE) {
		err = LIMES_E_NOTFOUND;
	} else {
		err = store_sqlite_error(store, rc, "message lookup");
	}
	store_reset(stmt);
	return err;
}

int sqlite_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			      const struct store_delivery *d)
{
	struct store_message msg;
	int64_t seq = 0, dseq = 0;
	int err;

	if (!store || !id || !d || !d->recipient || !d->next_hop || !d->envelope)
		return LIMES_E_INVAL;
	if (d->envelope_len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (!err)
		err = message_by_id(store, id, &msg, &seq);
	if (err)
		return err;
	/* a (message, recipient) pair that exists already is refused by the
	 * unique key: LIMES_E_EXISTS, nothing changed */
	err = insert_delivery(store, &msg, seq, d, &dseq);
	if (err && dseq)
		store_undo(store, &queries, SQL_UNDO_ONE, dseq, NULL); /* its envelope did not go in */
	return err;
}

int sqlite_idempotency_get(struct store *store, const char *client, const char *key,
			  uint8_t id[STORE_ID_LEN])
{
	int err = 0, rc;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !key || !id)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_IDEM_GET, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_text(stmt, 1, client ? client : "", -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC) != SQLITE_OK;
	err = store_bind_result(store, bad, "idempotency lookup");
	if (err)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_copy_blob(id, STORE_ID_LEN, stmt, 0);
	else if (rc == SQLITE_DONE)
		err = LIMES_E_NOTFOUND;
	else
		err = store_sqlite_error(store, rc, "idempotency lookup");
	store_reset(stmt);
	return err;
}

/* True when the queued-side row sorts before the sent-side row: urgent first,
 * then older created_ms, then insertion order. */
static bool sorts_first(sqlite3_stmt *a, sqlite3_stmt *b)
{
	int pa = sqlite3_column_int(a, 5), pb = sqlite3_column_int(b, 5);
	int64_t ca = sqlite3_column_int64(a, 7), cb = sqlite3_column_int64(b, 7);

	if (pa != pb)
		return pa > pb;
	if (ca != cb)
		return ca < cb;
	return sqlite3_column_int64(a, 0) < sqlite3_column_int64(b, 0);
}

/*
 * Two index-ordered streams merged here: queued rows straight off the
 * deliveries_queued index (no sort, however long the queue), and in-flight
 * rows whose retry time has come (few; sorted by SQLite with LIMIT).
 */
int sqlite_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	sqlite3_stmt *queued = NULL, *sent = NULL;
	struct store_delivery_row row;
	int rc_q, rc_s, err = 0, visited = 0;
	int64_t lim = limit > INT32_MAX ? INT32_MAX : (int64_t)limit;
	bool bad = false;

	if (!store || !next_hop || !fn)
		return LIMES_E_INVAL;
	if (limit == 0)
		return 0;
	queued = stmt_get(store, SQL_DUE_QUEUED, &err);
	if (queued)
		sent = stmt_get(store, SQL_DUE_SENT, &err);
	if (!sent)
		return err;
	bad |= sqlite3_bind_text(queued, 1, next_hop, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(queued, 2, lim) != SQLITE_OK;
	bad |= sqlite3_bind_text(sent, 1, next_hop, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= bind_u64(sent, 2, now_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(sent, 3, lim) != SQLITE_OK;
	err = store_bind_result(store, bad, "outbox due");
	if (err)
		return err;
	rc_q = sqlite3_step(queued);
	rc_s = sqlite3_step(sent);
	while (visited < lim && (rc_q == SQLITE_ROW || rc_s == SQLITE_ROW)) {
		sqlite3_stmt *cur;

		if (rc_q == SQLITE_ROW && (rc_s != SQLITE_ROW || sorts_first(queued, sent)))
			cur = queued;
		else
			cur = sent;
		read_delivery(cur, &row);
		visited++;
		if (fn(arg, &row) != 0)
			goto out;
		if (cur == queued)
			rc_q = sqlite3_step(queued);
		else
			rc_s = sqlite3_step(sent);
	}
	if (rc_q != SQLITE_ROW && rc_q != SQLITE_DONE)
		err = store_sqlite_error(store, rc_q, "outbox due");
	else if (rc_s != SQLITE_ROW && rc_s != SQLITE_DONE)
		err = store_sqlite_error(store, rc_s, "outbox due");
out:
	store_reset(queued);
	store_reset(sent);
	return err ? err : visited;
}

/* Binds the (message id, recipient) key as ?1, ?2; true when a bind failed. */
static bool bind_key(sqlite3_stmt *stmt, const uint8_t id[STORE_ID_LEN], const char *recipient)
{
	bool bad = false;

	bad |= sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, recipient, -1, SQLITE_STATIC) != SQLITE_OK;
	return bad;
}

/* Runs an UPDATE; *changed gets the number of rows it touched. */
static int update(struct store *store, sqlite3_stmt *stmt, const char *what, int *changed)
{
	int err = store_step_done(store, stmt, what);

	*changed = err ? 0 : sqlite3_changes(store->db);
	return err;
}

/* Runs an UPDATE ... RETURNING dseq that changes at most one row (a key
 * lookup): *dseq gets the changed row's key, or 0 when none changed. */
static int update_one(struct store *store, sqlite3_stmt *stmt, const char *what, int64_t *dseq)
{
	int rc, err = 0;

	*dseq = 0;
	/* RETURNING makes every change during the first step */
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		*dseq = sqlite3_column_int64(stmt, 0);
	if (rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, what);
	store_reset(stmt);
	return err;
}

/* Runs one of this file's statements that takes no parameter. */
static int run_plain(struct store *store, int which, const char *what)
{
	int err = 0;
	sqlite3_stmt *stmt = stmt_get(store, which, &err);

	return stmt ? store_step_done(store, stmt, what) : err;
}

/* Runs `stmt` (bound: an UPDATE ... RETURNING dseq of one delivery) and then
 * writes the delivery's new envelope, both or neither. *dseq gets the row's
 * key, or 0 when no row matched (nothing written). */
static int update_with_envelope(struct store *store, sqlite3_stmt *stmt, const uint8_t *envelope,
				size_t envelope_len, const char *what, int64_t *dseq)
{
	int err = run_plain(store, SQL_ENV_SAVEPOINT, what);

	*dseq = 0;
	if (err) {
		store_reset(stmt);
		return err;
	}
	err = update_one(store, stmt, what, dseq);
	if (!err && *dseq)
		err = put_envelope(store, SQL_ENV_PUT, *dseq, envelope, envelope_len, what);
	if (err && store->healthy && !sqlite3_get_autocommit(store->db) &&
	    run_plain(store, SQL_ENV_ROLLBACK_TO, what) != 0)
		/* the row must never be committed without its envelope */
		store_fail(store, LIMES_E_STORE_FAILED, "undo of a half-written requeue failed");
	if (store->healthy && !sqlite3_get_autocommit(store->db)) {
		int rel = run_plain(store, SQL_ENV_RELEASE, what);
		if (!err)
			err = rel;
	}
	return err;
}

/* The state of one delivery: 0 and *state, or LIMES_E_NOTFOUND. */
static int delivery_state(struct store *store, const uint8_t id[STORE_ID_LEN],
			  const char *recipient, int *state)
{
	int err = 0, rc;
	sqlite3_stmt *stmt = stmt_get(store, SQL_DLV_STATE, &err);

	if (!stmt)
		return err;
	err = store_bind_result(store, bind_key(stmt, id, recipient), "delivery lookup");
	if (err)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*state = sqlite3_column_int(stmt, 0);
	else if (rc == SQLITE_DONE)
		err = LIMES_E_NOTFOUND;
	else
		err = store_sqlite_error(store, rc, "delivery lookup");
	store_reset(stmt);
	return err;
}

int sqlite_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			uint64_t now_ms, uint64_t next_attempt_ms)
{
	int err, changed = 0;
	bool bad;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_DLV_SENT, &err);
	if (!stmt)
		return err;
	bad = bind_key(stmt, id, recipient);
	bad |= bind_u64(stmt, 3, now_ms) != SQLITE_OK;
	bad |= bind_u64(stmt, 4, next_attempt_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "delivery sent");
	if (!err)
		err = update(store, stmt, "delivery sent", &changed);
	if (!err && changed == 0)
		err = LIMES_E_NOTFOUND;
	return err;
}

/* Runs one of the *_MANY updates: the cursor list as ?1, a time as ?2, and
 * ?3 (NULL when has3 is false). */
static int update_many(struct store *store, int which, const int64_t *cursors, size_t n,
		       uint64_t time_ms, bool has3, int64_t v3, size_t *marked, const char *what)
{
	int err, changed = 0;
	bool bad;
	char *list;
	sqlite3_stmt *stmt;

	if (marked)
		*marked = 0;
	if (!store || (n && !cursors))
		return LIMES_E_INVAL;
	if (n == 0)
		return 0;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, which, &err);
	if (!stmt)
		return err;
	list = store_cursor_list(cursors, n, '[', ']');
	if (!list)
		return LIMES_E_NOMEM;
	bad = sqlite3_bind_text(stmt, 1, list, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= bind_u64(stmt, 2, time_ms) != SQLITE_OK;
	bad |= (has3 ? sqlite3_bind_int64(stmt, 3, v3) : sqlite3_bind_null(stmt, 3)) != SQLITE_OK;
	err = store_bind_result(store, bad, what);
	if (!err)
		err = update(store, stmt, what, &changed);
	/* the binding points into list: clear it before list goes */
	(void)sqlite3_clear_bindings(stmt);
	free(list);
	if (!err && marked)
		*marked = (size_t)changed;
	return err;
}

int sqlite_deliveries_sent(struct store *store, const int64_t *cursors, size_t n, uint64_t now_ms,
			   uint64_t next_attempt_ms, size_t *marked)
{
	return update_many(store, SQL_SENT_MANY, cursors, n, now_ms, true, (int64_t)next_attempt_ms,
			   marked, "deliveries sent");
}

int sqlite_deliveries_delivered(struct store *store, const int64_t *cursors, size_t n,
				uint64_t done_ms, int64_t receipt_id, size_t *marked)
{
	return update_many(store, SQL_DELIVERED_MANY, cursors, n, done_ms, receipt_id > 0, receipt_id,
			   marked, "deliveries delivered");
}

int sqlite_delivery_reset_hop(struct store *store, const char *next_hop)
{
	int err, changed = 0;
	sqlite3_stmt *stmt;

	if (!store || !next_hop)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_RESET_HOP, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_text(stmt, 1, next_hop, -1, SQLITE_STATIC) !=
					       SQLITE_OK, "reset hop");
	return err ? err : update(store, stmt, "reset hop", &changed);
}

int sqlite_receipt_put(struct store *store, const uint8_t *receipt, size_t len, int64_t *receipt_id)
{
	int err;
	sqlite3_stmt *stmt;

	if (!store || !receipt || !len || !receipt_id)
		return LIMES_E_INVAL;
	if (len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_RECEIPT_INSERT, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_blob(stmt, 1, receipt, (int)len,
							 SQLITE_STATIC) != SQLITE_OK,
				"receipt put");
	if (!err)
		err = store_step_done(store, stmt, "receipt put");
	if (!err)
		*receipt_id = sqlite3_last_insert_rowid(store->db);
	return err;
}

int sqlite_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
			int64_t receipt_id)
{
	int err, changed = 0, current = 0;
	bool bad;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient)
		return LIMES_E_INVAL;
	if (state != DELIVERY_DELIVERED && state != DELIVERY_REJECTED)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_DLV_DONE, &err);
	if (!stmt)
		return err;
	bad = bind_key(stmt, id, recipient);
	bad |= sqlite3_bind_int(stmt, 3, (int)state) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 4, state == DELIVERY_REJECTED ? reason : 0) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 5, detail ? detail : "", -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= bind_u64(stmt, 6, done_ms) != SQLITE_OK;
	if (receipt_id > 0)
		bad |= sqlite3_bind_int64(stmt, 7, receipt_id) != SQLITE_OK;
	else
		bad |= sqlite3_bind_null(stmt, 7) != SQLITE_OK;
	err = store_bind_result(store, bad, "delivery done");
	if (!err)
		err = update(store, stmt, "delivery done", &changed);
	/* A second receipt for a finished delivery (a re-send answered as a
	 * duplicate) changes nothing and is not an error. */
	if (!err && changed == 0)
		err = delivery_state(store, id, recipient, &current);
	return err;
}

int sqlite_expire(struct store *store, uint64_t now_ms,
		 void (*fn)(void *arg, const struct store_expired *e), void *arg)
{
	struct store_expired e;
	int err, rc, count = 0;
	sqlite3_stmt *stmt;

	if (!store)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_EXPIRE, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, bind_u64(stmt, 1, now_ms) != SQLITE_OK, "expire");
	if (err)
		return err;
	/* UPDATE ... RETURNING makes every change during the first step; each
	 * step then hands back one expired row, staged already. */
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		count++;
		if (!fn)
			continue;
		store_copy_blob(e.id, sizeof(e.id), stmt, 0);
		store_copy_text(e.recipient, sizeof(e.recipient), stmt, 1);
		store_copy_text(e.next_hop, sizeof(e.next_hop), stmt, 2);
		e.type = sqlite3_column_int(stmt, 3);
		fn(arg, &e);
	}
	if (rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "expire");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_expire_due(struct store *store, uint64_t now_ms)
{
	int err, rc, due = 0;
	sqlite3_stmt *stmt;

	if (!store)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_EXPIRE_DUE, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, bind_u64(stmt, 1, now_ms) != SQLITE_OK, "expire due");
	if (err)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		due = sqlite3_column_int(stmt, 0) != 0;
	else
		err = store_sqlite_error(store, rc, "expire due");
	store_reset(stmt);
	return err ? err : due;
}

int sqlite_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			   const uint8_t *envelope, size_t envelope_len, uint64_t expires_ms)
{
	int err, current = 0;
	int64_t dseq = 0;
	bool bad;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient || !envelope || envelope_len == 0)
		return LIMES_E_INVAL;
	if (envelope_len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_REQUEUE, &err);
	if (!stmt)
		return err;
	bad = bind_key(stmt, id, recipient);
	bad |= bind_u64(stmt, 3, expires_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "requeue");
	if (err)
		return err;
	err = update_with_envelope(store, stmt, envelope, envelope_len, "requeue", &dseq);
	if (!err && dseq == 0) {
		/* Missing, or not in a state that may be requeued. */
		err = delivery_state(store, id, recipient, &current);
		if (!err)
			err = LIMES_E_INVAL;
	}
	return err;
}

int sqlite_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		      int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	struct store_delivery_row row;
	int err = 0, rc, count = 0;
	sqlite3_stmt *stmt;

	if (!store || !id || !fn)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_MSG_GET, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN,
							 SQLITE_STATIC) != SQLITE_OK,
				"message get");
	if (err)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_delivery(stmt, &row);
		count++;
		if (fn(arg, &row) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "message get");
	else if (count == 0)
		err = LIMES_E_NOTFOUND;
	store_reset(stmt);
	return err;
}

static int outbox_stats(struct store *store, int which, const char *next_hop, uint64_t *queued,
			uint64_t *oldest_unacked_created_ms)
{
	int err = 0, rc;
	uint64_t count = 0, oldest = 0;
	sqlite3_stmt *stmt;

	if (!store || !next_hop)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, which, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_text(stmt, 1, next_hop, -1, SQLITE_STATIC) !=
					       SQLITE_OK, "outbox stats");
	if (err)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		count += column_u64(stmt, 0);
		if (sqlite3_column_type(stmt, 1) != SQLITE_NULL) {
			uint64_t created = column_u64(stmt, 1);

			if (oldest == 0 || created < oldest)
				oldest = created;
		}
	}
	if (rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "outbox stats");
	store_reset(stmt);
	if (!err) {
		if (queued)
			*queued = count;
		if (oldest_unacked_created_ms)
			*oldest_unacked_created_ms = oldest;
	}
	return err;
}

int sqlite_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
			uint64_t *oldest_unacked_created_ms)
{
	return outbox_stats(store, SQL_STATS, next_hop, queued, oldest_unacked_created_ms);
}

int sqlite_outbox_stats_recipient(struct store *store, const char *recipient, uint64_t *queued,
				 uint64_t *oldest_unacked_created_ms)
{
	return outbox_stats(store, SQL_STATS_RECIPIENT, recipient, queued, oldest_unacked_created_ms);
}

/* Deletes finished deliveries done at or before cut with their envelopes,
 * then each message left with none. RETURNING hands back the affected messages, so the second step
 * costs what was purged, not the size of the outbox. */
static int purge_deliveries(struct store *store, uint64_t cut)
{
	sqlite3_stmt *dlv = NULL, *msg = NULL, *env = NULL;
	int err = 0, rc;

	dlv = stmt_get(store, SQL_PURGE_DLV, &err);
	if (dlv)
		msg = stmt_get(store, SQL_PURGE_MSG, &err);
	if (msg)
		env = stmt_get(store, SQL_PURGE_ENV, &err);
	if (!env)
		return err;
	err = store_bind_result(store, bind_u64(dlv, 1, cut) != SQLITE_OK, "purge outbox");
	if (err)
		return err;
	while ((rc = sqlite3_step(dlv)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(dlv, 0);

		err = store_bind_result(store, sqlite3_bind_int64(env, 1, sqlite3_column_int64(dlv, 1)) !=
						       SQLITE_OK, "purge outbox");
		if (!err)
			err = store_step_done(store, env, "purge outbox");
		if (!err)
			err = store_bind_result(store, sqlite3_bind_int64(msg, 1, seq) != SQLITE_OK,
						"purge outbox");
		if (!err)
			err = store_step_done(store, msg, "purge outbox");
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "purge outbox");
	store_reset(dlv);
	return err;
}

int store_outbox_purge(struct store *store, uint64_t cut)
{
	int err = 0;
	sqlite3_stmt *stmt;

	if (cut == 0)
		return 0;
	err = purge_deliveries(store, cut);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_PURGE_RECEIPTS, &err);
	return stmt ? store_step_done(store, stmt, "purge receipts") : err;
}

int sqlite_delivery_list(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
			int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	struct store_delivery_row row;
	int err = 0, rc, count = 0;
	sqlite3_stmt *stmt;

	if (!f || !fn || limit == 0 || limit > INT32_MAX)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_LIST, &err);
	if (!stmt)
		return err;
	bool failed = sqlite3_bind_int64(stmt, 1, after) != SQLITE_OK;
	failed |= (f->state >= 0 ? sqlite3_bind_int(stmt, 2, f->state) : sqlite3_bind_null(stmt, 2)) != SQLITE_OK;
	failed |= (f->recipient ? sqlite3_bind_text(stmt, 3, f->recipient, -1, SQLITE_STATIC)
				: sqlite3_bind_null(stmt, 3)) != SQLITE_OK;
	failed |= (f->type >= 0 ? sqlite3_bind_int(stmt, 4, f->type) : sqlite3_bind_null(stmt, 4)) != SQLITE_OK;
	failed |= (f->since_ms ? sqlite3_bind_int64(stmt, 5, (int64_t)f->since_ms) : sqlite3_bind_null(stmt, 5)) !=
		  SQLITE_OK;
	failed |= sqlite3_bind_int64(stmt, 6, (int64_t)limit) != SQLITE_OK;
	err = store_bind_result(store, failed, "delivery list");
	if (err) {
		store_reset(stmt);
		return err;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_delivery(stmt, &row);
		count++;
		if (fn(arg, &row) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "delivery list");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_delivery_reseal(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			  const uint8_t *envelope, size_t envelope_len)
{
	int err, changed = 0;
	bool bad;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient || !envelope || envelope_len == 0)
		return LIMES_E_INVAL;
	if (envelope_len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_RESEAL, &err);
	if (!stmt)
		return err;
	bad = bind_key(stmt, id, recipient);
	bad |= sqlite3_bind_blob(stmt, 3, envelope, (int)envelope_len, SQLITE_STATIC) != SQLITE_OK;
	err = store_bind_result(store, bad, "reseal");
	if (err)
		return err;
	err = update(store, stmt, "reseal", &changed);
	return err ? err : changed ? 0 : LIMES_E_NOTFOUND;
}

int sqlite_delivery_readdress(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
			     const struct store_delivery *to, uint64_t expires_ms)
{
	int err;
	int64_t dseq = 0;
	bool bad;
	sqlite3_stmt *stmt;

	if (!store || !id || !old_recipient || !to || !store_agency_ok(to->recipient) ||
	    !store_agency_ok(to->next_hop) || !to->envelope || to->envelope_len == 0)
		return LIMES_E_INVAL;
	if (to->envelope_len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = stmt_get(store, SQL_READDRESS, &err);
	if (!stmt)
		return err;
	bad = bind_key(stmt, id, old_recipient);
	bad |= sqlite3_bind_text(stmt, 3, to->recipient, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 4, to->next_hop, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= bind_u64(stmt, 5, expires_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "readdress");
	if (err)
		return err;
	err = update_with_envelope(store, stmt, to->envelope, to->envelope_len, "readdress", &dseq);
	return err ? err : dseq ? 0 : LIMES_E_NOTFOUND;
}
