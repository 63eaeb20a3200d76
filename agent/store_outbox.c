/*
 * The outbox: messages as submitted, one delivery row per recipient with its
 * state machine (queued -> sent -> delivered | rejected, expired, requeued),
 * the send queue per next hop and the idempotency keys.
 */
#include "agent/store_impl.h"

#include <string.h>

#include "agent/err.h"

static int bind_u64(sqlite3_stmt *stmt, int col, uint64_t v)
{
	return sqlite3_bind_int64(stmt, col, (sqlite3_int64)v);
}

static uint64_t column_u64(sqlite3_stmt *stmt, int col)
{
	return (uint64_t)sqlite3_column_int64(stmt, col);
}

/* Column order: see DLV_COLUMNS in store.c. The row borrows the statement's
 * current column pointers. */
static void read_delivery(sqlite3_stmt *stmt, struct store_delivery_row *row)
{
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
	sqlite3_stmt *stmt = store_stmt(store, SQL_MSG_INSERT, &err);

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

static int insert_delivery(struct store *store, const struct store_message *msg, int64_t seq,
			   const struct store_delivery *d)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt = store_stmt(store, SQL_DLV_INSERT, &err);

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
	/* SQLITE_STATIC: the envelope is read in place during the step, never
	 * copied; the binding is replaced before the statement runs again. */
	bad |= sqlite3_bind_blob(stmt, 9, d->envelope, (int)d->envelope_len, SQLITE_STATIC) !=
	       SQLITE_OK;
	err = store_bind_result(store, bad, "outbox put");
	return err ? err : store_step_done(store, stmt, "outbox put");
}

int store_outbox_put(struct store *store, const struct store_message *msg,
		     const struct store_delivery *deliveries, size_t n_deliveries)
{
	int64_t seq = 0;
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
		err = insert_delivery(store, msg, seq, &deliveries[i]);
	if (err) {
		store_undo(store, SQL_UNDO_DLV, seq, NULL);
		store_undo(store, SQL_UNDO_MSG, seq, NULL);
	}
	return err;
}

int store_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			      const struct store_delivery *d)
{
	struct store_message msg;
	int64_t seq = 0;
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !id || !d || !d->recipient || !d->next_hop || !d->envelope)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = store_stmt(store, SQL_MSG_BY_ID, &err);
	if (!stmt)
		return err;
	memset(&msg, 0, sizeof(msg));
	memcpy(msg.id, id, STORE_ID_LEN);
	sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(stmt, 0);
		msg.type = sqlite3_column_int(stmt, 1);
		msg.priority = sqlite3_column_int(stmt, 2);
		msg.created_ms = (uint64_t)sqlite3_column_int64(stmt, 3);
		msg.expires_ms = (uint64_t)sqlite3_column_int64(stmt, 4);
	} else if (rc == SQLITE_DONE) {
		err = LIMES_E_NOTFOUND;
	} else {
		err = store_sqlite_error(store, rc, "message lookup");
	}
	sqlite3_reset(stmt);
	if (err)
		return err;
	/* a (message, recipient) pair that exists already is refused by the
	 * primary key: LIMES_E_EXISTS, nothing changed */
	return insert_delivery(store, &msg, seq, d);
}

int store_idempotency_get(struct store *store, const char *client, const char *key,
			  uint8_t id[STORE_ID_LEN])
{
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !key || !id)
		return LIMES_E_INVAL;
	stmt = store_stmt(store, SQL_IDEM_GET, &err);
	if (!stmt)
		return err;
	sqlite3_bind_text(stmt, 1, client ? client : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_copy_blob(id, STORE_ID_LEN, stmt, 0);
	else if (rc == SQLITE_DONE)
		err = LIMES_E_NOTFOUND;
	else
		err = store_sqlite_error(store, rc, "idempotency lookup");
	sqlite3_reset(stmt);
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
int store_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	sqlite3_stmt *queued = NULL, *sent = NULL;
	struct store_delivery_row row;
	int rc_q, rc_s, err = 0, visited = 0;
	int64_t lim = limit > INT32_MAX ? INT32_MAX : (int64_t)limit;

	if (!store || !next_hop || !fn)
		return LIMES_E_INVAL;
	if (limit == 0)
		return 0;
	queued = store_stmt(store, SQL_DUE_QUEUED, &err);
	if (queued)
		sent = store_stmt(store, SQL_DUE_SENT, &err);
	if (!sent)
		return err;
	sqlite3_bind_text(queued, 1, next_hop, -1, SQLITE_STATIC);
	sqlite3_bind_int64(queued, 2, lim);
	sqlite3_bind_text(sent, 1, next_hop, -1, SQLITE_STATIC);
	bind_u64(sent, 2, now_ms);
	sqlite3_bind_int64(sent, 3, lim);
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
	sqlite3_reset(queued);
	sqlite3_reset(sent);
	return err ? err : visited;
}

static void bind_key(sqlite3_stmt *stmt, const uint8_t id[STORE_ID_LEN], const char *recipient)
{
	sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, recipient, -1, SQLITE_STATIC);
}

/* Runs an UPDATE; *changed gets the number of rows it touched. */
static int update(struct store *store, sqlite3_stmt *stmt, const char *what, int *changed)
{
	int err = store_step_done(store, stmt, what);

	*changed = err ? 0 : sqlite3_changes(store->db);
	return err;
}

/* The state of one delivery: 0 and *state, or LIMES_E_NOTFOUND. */
static int delivery_state(struct store *store, const uint8_t id[STORE_ID_LEN],
			  const char *recipient, int *state)
{
	int err = 0, rc;
	sqlite3_stmt *stmt = store_stmt(store, SQL_DLV_STATE, &err);

	if (!stmt)
		return err;
	bind_key(stmt, id, recipient);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*state = sqlite3_column_int(stmt, 0);
	else if (rc == SQLITE_DONE)
		err = LIMES_E_NOTFOUND;
	else
		err = store_sqlite_error(store, rc, "delivery lookup");
	sqlite3_reset(stmt);
	return err;
}

int store_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			uint64_t now_ms, uint64_t next_attempt_ms)
{
	int err, changed = 0;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = store_stmt(store, SQL_DLV_SENT, &err);
	if (!stmt)
		return err;
	bind_key(stmt, id, recipient);
	bind_u64(stmt, 3, now_ms);
	bind_u64(stmt, 4, next_attempt_ms);
	err = update(store, stmt, "delivery sent", &changed);
	if (!err && changed == 0)
		err = LIMES_E_NOTFOUND;
	return err;
}

int store_delivery_reset_hop(struct store *store, const char *next_hop)
{
	int err, changed = 0;
	sqlite3_stmt *stmt;

	if (!store || !next_hop)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = store_stmt(store, SQL_RESET_HOP, &err);
	if (!stmt)
		return err;
	sqlite3_bind_text(stmt, 1, next_hop, -1, SQLITE_STATIC);
	return update(store, stmt, "reset hop", &changed);
}

int store_receipt_put(struct store *store, const uint8_t *receipt, size_t len, int64_t *receipt_id)
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
	stmt = store_stmt(store, SQL_RECEIPT_INSERT, &err);
	if (!stmt)
		return err;
	if (sqlite3_bind_blob(stmt, 1, receipt, (int)len, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_reset(stmt);
		return store_bind_result(store, true, "receipt put");
	}
	err = store_step_done(store, stmt, "receipt put");
	if (!err)
		*receipt_id = sqlite3_last_insert_rowid(store->db);
	return err;
}

int store_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
			int64_t receipt_id)
{
	int err, changed = 0, current = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient)
		return LIMES_E_INVAL;
	if (state != DELIVERY_DELIVERED && state != DELIVERY_REJECTED)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = store_stmt(store, SQL_DLV_DONE, &err);
	if (!stmt)
		return err;
	bind_key(stmt, id, recipient);
	sqlite3_bind_int(stmt, 3, (int)state);
	sqlite3_bind_int(stmt, 4, state == DELIVERY_REJECTED ? reason : 0);
	bad |= sqlite3_bind_text(stmt, 5, detail ? detail : "", -1, SQLITE_STATIC) != SQLITE_OK;
	bind_u64(stmt, 6, done_ms);
	if (receipt_id > 0)
		bad |= sqlite3_bind_int64(stmt, 7, receipt_id) != SQLITE_OK;
	else
		sqlite3_bind_null(stmt, 7);
	err = store_bind_result(store, bad, "delivery done");
	if (!err)
		err = update(store, stmt, "delivery done", &changed);
	/* A second receipt for a finished delivery (a re-send answered as a
	 * duplicate) changes nothing and is not an error. */
	if (!err && changed == 0)
		err = delivery_state(store, id, recipient, &current);
	return err;
}

int store_expire(struct store *store, uint64_t now_ms)
{
	int err, changed = 0;
	sqlite3_stmt *stmt;

	if (!store)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = store_stmt(store, SQL_EXPIRE, &err);
	if (!stmt)
		return err;
	bind_u64(stmt, 1, now_ms);
	err = update(store, stmt, "expire", &changed);
	return err ? err : changed;
}

int store_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			   const uint8_t *envelope, size_t envelope_len, uint64_t expires_ms)
{
	int err, changed = 0, current = 0;
	sqlite3_stmt *stmt;

	if (!store || !id || !recipient || !envelope || envelope_len == 0)
		return LIMES_E_INVAL;
	if (envelope_len > INT32_MAX)
		return LIMES_E_TOOBIG;
	err = store_write_begin(store);
	if (err)
		return err;
	stmt = store_stmt(store, SQL_REQUEUE, &err);
	if (!stmt)
		return err;
	bind_key(stmt, id, recipient);
	err = store_bind_result(store, sqlite3_bind_blob(stmt, 3, envelope, (int)envelope_len,
							 SQLITE_STATIC) != SQLITE_OK, "requeue");
	if (err)
		return err;
	bind_u64(stmt, 4, expires_ms);
	err = update(store, stmt, "requeue", &changed);
	if (!err && changed == 0) {
		/* Missing, or not in a state that may be requeued. */
		err = delivery_state(store, id, recipient, &current);
		if (!err)
			err = LIMES_E_INVAL;
	}
	return err;
}

int store_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		      int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	struct store_delivery_row row;
	int err = 0, rc, count = 0;
	sqlite3_stmt *stmt;

	if (!store || !id || !fn)
		return LIMES_E_INVAL;
	stmt = store_stmt(store, SQL_MSG_GET, &err);
	if (!stmt)
		return err;
	sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC);
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
	sqlite3_reset(stmt);
	return err;
}

int store_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
		       uint64_t *oldest_unacked_created_ms)
{
	int err = 0, rc;
	uint64_t count = 0, oldest = 0;
	sqlite3_stmt *stmt;

	if (!store || !next_hop)
		return LIMES_E_INVAL;
	stmt = store_stmt(store, SQL_STATS, &err);
	if (!stmt)
		return err;
	sqlite3_bind_text(stmt, 1, next_hop, -1, SQLITE_STATIC);
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
	sqlite3_reset(stmt);
	if (!err) {
		if (queued)
			*queued = count;
		if (oldest_unacked_created_ms)
			*oldest_unacked_created_ms = oldest;
	}
	return err;
}
