/*
 * The PostgreSQL backend's outbox: messages, deliveries and their state
 * machine, the send queue per next hop, receipts, idempotency keys and the
 * outbox's part of retention; every query on those tables, beside the code
 * that binds it. Semantics are those of sqlite_outbox.c (docs/store.md).
 *
 * A failed statement aborts a PostgreSQL transaction whole, so a put must
 * not fail half-way: sizes are refused before anything is written, and a
 * duplicate is an INSERT ... ON CONFLICT DO NOTHING that inserted no row,
 * never an error.
 */
#include "pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

/*
 * Schema version 5 (SQLite's 6): the sealed envelope in a table of its own,
 * keyed by the delivery's dseq, written once at submission and deleted with
 * the delivery, so that the sent and delivered marks (a new row version
 * each, MVCC) no longer copy ~1.3 KiB of envelope per delivery. `body` is 1
 * while the envelope is kept. dseq gets the unique index the batch marks,
 * the list cursor and the envelopes' key need.
 */
const char pg_outbox_v5_schema[] =
	"CREATE TABLE envelopes ("
	" dseq bigint PRIMARY KEY,"  /* deliveries.dseq */
	" envelope bytea NOT NULL);"
	"INSERT INTO envelopes(dseq, envelope)"
	" SELECT dseq, envelope FROM deliveries WHERE length(envelope) > 0;"
	"ALTER TABLE deliveries ADD COLUMN body bigint NOT NULL DEFAULT 1;"
	"UPDATE deliveries SET body = 0 WHERE length(envelope) = 0;"
	"DROP INDEX deliveries_body;"
	"ALTER TABLE deliveries DROP COLUMN envelope;"
	"CREATE UNIQUE INDEX deliveries_dseq ON deliveries(dseq);"
	"CREATE INDEX deliveries_body ON deliveries(type, done_ms) WHERE state IN (2, 3, 4) AND body = 1;";

enum {
	SQL_MSG_INSERT,
	SQL_MSG_BY_ID,
	SQL_DLV_INSERT,
	SQL_IDEM_GET,
	SQL_DUE,
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
	SQL_PURGE_DLV,
	SQL_PURGE_RECEIPTS,
	SQL_LIST,
	SQL_STATS_RECIPIENT,
	SQL_RESEAL,
	SQL_READDRESS,
	SQL_SENT_MANY,
	SQL_DELIVERED_MANY,
	SQL_COUNT_
};

/* The columns read_delivery() reads, in its order. */
#define DLV_COLUMNS \
	"dseq, message_id, recipient, next_hop, type, priority, state, created_ms," \
	" expires_ms, sent_ms, next_attempt_ms, attempts, done_ms, reason, detail," \
	" (SELECT envelope FROM envelopes e WHERE e.dseq = deliveries.dseq)," \
	" (SELECT bytes FROM receipts WHERE id = receipt_id)"
/* A new envelope for the delivery the CTE `d` changed (requeue, readdress). */
#define ENV_PUT(param) \
	" INSERT INTO envelopes(dseq, envelope) SELECT dseq, " param "::bytea FROM d" \
	" ON CONFLICT (dseq) DO UPDATE SET envelope = excluded.envelope"
#define DLV_KEY "msg = (SELECT seq FROM messages WHERE id = $1) AND recipient = $2"

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_MSG_INSERT] =
		"INSERT INTO messages(id, type, priority, created_ms, expires_ms, ref, client,"
		" idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
		" ON CONFLICT DO NOTHING RETURNING seq",
	[SQL_MSG_BY_ID] =
		"SELECT seq, type, priority, created_ms, expires_ms FROM messages WHERE id = $1",
	/* the row and its envelope in one round trip; the count is the
	 * envelopes inserted, so 0 for a recipient the message had already */
	[SQL_DLV_INSERT] =
		"WITH d AS (INSERT INTO deliveries(msg, recipient, message_id, next_hop, state, type,"
		" priority, created_ms, expires_ms) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8)"
		" ON CONFLICT DO NOTHING RETURNING dseq)"
		" INSERT INTO envelopes(dseq, envelope) SELECT dseq, $9::bytea FROM d",
	[SQL_IDEM_GET] =
		"SELECT id FROM messages WHERE client = $1 AND idempotency_key = $2",
	/* the two index-ordered streams of the SQLite backend, merged by the
	 * server (Merge Append over the partial indexes) */
	[SQL_DUE] =
		"(SELECT " DLV_COLUMNS " FROM deliveries WHERE next_hop = $1 AND state = 0"
		" ORDER BY priority DESC, created_ms, dseq LIMIT $3)"
		" UNION ALL "
		"(SELECT " DLV_COLUMNS " FROM deliveries WHERE next_hop = $1 AND state = 1"
		" AND next_attempt_ms <= $2 ORDER BY priority DESC, created_ms, dseq LIMIT $3)"
		" ORDER BY priority DESC, created_ms, dseq LIMIT $3",
	[SQL_DLV_SENT] =
		"UPDATE deliveries SET state = 1, attempts = attempts + 1, sent_ms = $3,"
		" next_attempt_ms = $4 WHERE " DLV_KEY " AND state IN (0, 1)",
	[SQL_RESET_HOP] =
		"UPDATE deliveries SET state = 0, next_attempt_ms = 0 WHERE next_hop = $1 AND state = 1",
	[SQL_RECEIPT_INSERT] = "INSERT INTO receipts(bytes) VALUES ($1) RETURNING id",
	[SQL_DLV_DONE] =
		"UPDATE deliveries SET state = $3, reason = $4, detail = $5, done_ms = $6,"
		" receipt_id = $7 WHERE " DLV_KEY " AND state IN (0, 1, 4)",
	[SQL_DLV_STATE] = "SELECT state FROM deliveries WHERE " DLV_KEY,
	[SQL_EXPIRE] =
		"UPDATE deliveries SET state = 4, done_ms = $1 WHERE state IN (0, 1)"
		" AND expires_ms <= $1 RETURNING message_id, recipient, next_hop, type",
	[SQL_EXPIRE_DUE] =
		"SELECT EXISTS (SELECT 1 FROM deliveries WHERE state IN (0, 1) AND expires_ms <= $1)",
	[SQL_REQUEUE] =
		"WITH d AS (UPDATE deliveries SET state = 0, expires_ms = $4, sent_ms = 0,"
		" next_attempt_ms = 0, done_ms = 0, reason = 0, detail = '', receipt_id = NULL, body = 1"
		" WHERE " DLV_KEY " AND state IN (2, 3, 4) RETURNING dseq)" ENV_PUT("$3"),
	[SQL_MSG_GET] =
		"SELECT " DLV_COLUMNS " FROM deliveries"
		" WHERE msg = (SELECT seq FROM messages WHERE id = $1) ORDER BY recipient",
	/* a negative state or type, an empty recipient, since 0: no filter */
	[SQL_LIST] =
		"SELECT " DLV_COLUMNS " FROM deliveries"
		" WHERE dseq > $1 AND ($2 < 0 OR state = $2) AND ($3 = '' OR recipient = $3)"
		" AND ($4 < 0 OR type = $4) AND created_ms >= $5 ORDER BY dseq LIMIT $6",
	[SQL_STATS_RECIPIENT] =
		"SELECT count(*)::bigint, min(created_ms) FROM deliveries WHERE recipient = $1 AND state IN (0, 1)",
	/* only the envelope changes: the deliveries row is not touched */
	[SQL_RESEAL] =
		"WITH d AS (SELECT dseq FROM deliveries WHERE " DLV_KEY " AND state IN (0, 1))" ENV_PUT("$3"),
	[SQL_READDRESS] =
		"WITH d AS (UPDATE deliveries SET recipient = $3, next_hop = $4, state = 0, expires_ms = $6,"
		" sent_ms = 0, next_attempt_ms = 0, done_ms = 0, reason = 0, detail = '', receipt_id = NULL,"
		" body = 1 WHERE " DLV_KEY " AND state <> 2 RETURNING dseq)" ENV_PUT("$5"),
	/* one count per partial index (an IN (0, 1) would scan the table) */
	[SQL_STATS] =
		"SELECT sum(n)::bigint, min(m) FROM ("
		"SELECT count(*) AS n, min(created_ms) AS m FROM deliveries WHERE next_hop = $1 AND state = 0"
		" UNION ALL "
		"SELECT count(*), min(created_ms) FROM deliveries WHERE next_hop = $1 AND state = 1) AS q",
	/* The CTE's DELETE is invisible to the outer statement's snapshot:
	 * a message goes when every delivery it has is among those purged. */
	[SQL_PURGE_DLV] =
		"WITH gone AS (DELETE FROM deliveries WHERE state IN (2, 3, 4) AND done_ms <= $1"
		" RETURNING msg, dseq),"
		" env AS (DELETE FROM envelopes WHERE dseq IN (SELECT dseq FROM gone))"
		" DELETE FROM messages m WHERE m.seq IN (SELECT msg FROM gone)"
		" AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.msg = m.seq"
		" AND NOT (x.state IN (2, 3, 4) AND x.done_ms <= $1))",
	[SQL_PURGE_RECEIPTS] =
		"DELETE FROM receipts WHERE id < (SELECT coalesce(min(receipt_id),"
		" 9223372036854775807) FROM deliveries)",
	/* one statement for a batch, by the deliveries' cursors */
	[SQL_SENT_MANY] =
		"UPDATE deliveries SET state = 1, attempts = attempts + 1, sent_ms = $2,"
		" next_attempt_ms = $3 WHERE dseq = ANY($1::bigint[]) AND state IN (0, 1)",
	[SQL_DELIVERED_MANY] =
		"UPDATE deliveries SET state = 2, reason = 0, detail = '', done_ms = $2,"
		" receipt_id = $3 WHERE dseq = ANY($1::bigint[]) AND state IN (0, 1, 4)",
};
#undef DLV_COLUMNS
#undef DLV_KEY
#undef ENV_PUT

static const struct pg_queries queries = { PG_FILE_OUTBOX, SQL_COUNT_, sql_text };

/* Column order: DLV_COLUMNS above. The row borrows the result's memory. */
static void read_delivery(const PGresult *res, int r, struct store_delivery_row *row)
{
	size_t len = 0;

	row->cursor = pg_i64(res, r, 0);

	pg_copy_bytes(row->id, sizeof(row->id), res, r, 1);
	pg_copy_text(row->recipient, sizeof(row->recipient), res, r, 2);
	pg_copy_text(row->next_hop, sizeof(row->next_hop), res, r, 3);
	row->type = (int)pg_i64(res, r, 4);
	row->priority = (int)pg_i64(res, r, 5);
	row->state = (enum delivery_state)pg_i64(res, r, 6);
	row->created_ms = (uint64_t)pg_i64(res, r, 7);
	row->expires_ms = (uint64_t)pg_i64(res, r, 8);
	row->sent_ms = (uint64_t)pg_i64(res, r, 9);
	row->next_attempt_ms = (uint64_t)pg_i64(res, r, 10);
	row->attempts = (uint32_t)pg_i64(res, r, 11);
	row->done_ms = (uint64_t)pg_i64(res, r, 12);
	row->reason = (int)pg_i64(res, r, 13);
	row->detail = PQgetisnull(res, r, 14) ? "" : PQgetvalue(res, r, 14);
	row->envelope = pg_bytes(res, r, 15, &len);
	row->envelope_len = len;
	row->receipt = pg_bytes(res, r, 16, &len);
	row->receipt_len = row->receipt ? len : 0;
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

		if (!pg_agency_ok(d->recipient) || !pg_agency_ok(d->next_hop) || !d->envelope ||
		    d->envelope_len == 0)
			return LIMES_E_INVAL;
		if (d->envelope_len > PG_VALUE_MAX)
			return LIMES_E_TOOBIG;
		for (size_t j = 0; j < i; j++)
			if (strcmp(deliveries[j].recipient, d->recipient) == 0)
				return LIMES_E_INVAL;
	}
	return 0;
}

static int insert_delivery(struct store *store, const struct store_message *msg, int64_t seq,
			   const struct store_delivery *d, int *inserted)
{
	struct pg_params p = { 0 };

	pg_param_i64(&p, seq);
	pg_param_text(&p, d->recipient);
	pg_param_bytes(&p, msg->id, STORE_ID_LEN);
	pg_param_text(&p, d->next_hop);
	pg_param_i64(&p, msg->type);
	pg_param_i64(&p, msg->priority);
	pg_param_i64(&p, (int64_t)msg->created_ms);
	pg_param_i64(&p, (int64_t)msg->expires_ms);
	pg_param_bytes(&p, d->envelope, d->envelope_len);
	return pg_exec_done(store, &queries, SQL_DLV_INSERT, &p, inserted, "outbox put");
}

int pg_outbox_put(struct store *store, const struct store_message *msg,
		  const struct store_delivery *deliveries, size_t n_deliveries)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int64_t seq;
	int err, inserted = 0;

	err = validate_put(msg, deliveries, n_deliveries);
	if (!err)
		err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, msg->id, STORE_ID_LEN);
	pg_param_i64(&p, msg->type);
	pg_param_i64(&p, msg->priority);
	pg_param_i64(&p, (int64_t)msg->created_ms);
	pg_param_i64(&p, (int64_t)msg->expires_ms);
	pg_param_bytes(&p, msg->has_ref ? msg->ref : NULL, STORE_ID_LEN);
	/* A key without a client name belongs to the "" client (see SQLite). */
	pg_param_text(&p, msg->client || msg->idempotency_key ? (msg->client ? msg->client : "")
							      : NULL);
	pg_param_text(&p, msg->idempotency_key);
	res = pg_exec(store, &queries, SQL_MSG_INSERT, &p, &err, "outbox put");
	if (!res)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return LIMES_E_EXISTS; /* known id or idempotency key: nothing written */
	}
	seq = pg_i64(res, 0, 0);
	PQclear(res);
	/* Recipients are distinct and the message new: these cannot conflict.
	 * Any other failure aborts the whole transaction (see the file head). */
	for (size_t i = 0; !err && i < n_deliveries; i++)
		err = insert_delivery(store, msg, seq, &deliveries[i], &inserted);
	return err;
}

int pg_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			   const struct store_delivery *d)
{
	struct store_message msg;
	struct pg_params p = { 0 };
	PGresult *res;
	int64_t seq;
	int err, inserted = 0;

	if (!id || !d || !pg_agency_ok(d->recipient) || !pg_agency_ok(d->next_hop) ||
	    !d->envelope || !d->envelope_len)
		return LIMES_E_INVAL;
	if (d->envelope_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	res = pg_exec(store, &queries, SQL_MSG_BY_ID, &p, &err, "message lookup");
	if (!res)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return LIMES_E_NOTFOUND;
	}
	memset(&msg, 0, sizeof(msg));
	memcpy(msg.id, id, STORE_ID_LEN);
	seq = pg_i64(res, 0, 0);
	msg.type = (int)pg_i64(res, 0, 1);
	msg.priority = (int)pg_i64(res, 0, 2);
	msg.created_ms = (uint64_t)pg_i64(res, 0, 3);
	msg.expires_ms = (uint64_t)pg_i64(res, 0, 4);
	PQclear(res);
	err = insert_delivery(store, &msg, seq, d, &inserted);
	return err ? err : inserted ? 0 : LIMES_E_EXISTS;
}

int pg_idempotency_get(struct store *store, const char *client, const char *key,
		       uint8_t id[STORE_ID_LEN])
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	if (!key || !id)
		return LIMES_E_INVAL;
	pg_param_text(&p, client ? client : "");
	pg_param_text(&p, key);
	res = pg_exec(store, &queries, SQL_IDEM_GET, &p, &err, "idempotency lookup");
	if (!res)
		return err;
	if (PQntuples(res) == 1)
		pg_copy_bytes(id, STORE_ID_LEN, res, 0, 0);
	else
		err = LIMES_E_NOTFOUND;
	PQclear(res);
	return err;
}

/* Runs a row query and lends each row to fn; the count visited, or an error. */
static int each_delivery(struct store *store, int which, const struct pg_params *p,
			 int (*fn)(void *arg, const struct store_delivery_row *row), void *arg,
			 const char *what)
{
	struct store_delivery_row row;
	PGresult *res;
	int err = 0, n, visited = 0;

	res = pg_exec(store, &queries, which, p, &err, what);
	if (!res)
		return err;
	n = PQntuples(res);
	for (int r = 0; r < n; r++) {
		read_delivery(res, r, &row);
		visited++;
		if (fn(arg, &row) != 0)
			break;
	}
	PQclear(res);
	return visited;
}

int pg_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		  int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	struct pg_params p = { 0 };

	if (!next_hop || !fn)
		return LIMES_E_INVAL;
	if (limit == 0)
		return 0;
	pg_param_text(&p, next_hop);
	pg_param_i64(&p, (int64_t)now_ms);
	pg_param_i64(&p, limit > INT32_MAX ? INT32_MAX : (int64_t)limit);
	return each_delivery(store, SQL_DUE, &p, fn, arg, "outbox due");
}

/* The state of one delivery: 0 and *state, or LIMES_E_NOTFOUND. */
static int delivery_state(struct store *store, const uint8_t id[STORE_ID_LEN],
			  const char *recipient, int *state)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, recipient);
	res = pg_exec(store, &queries, SQL_DLV_STATE, &p, &err, "delivery lookup");
	if (!res)
		return err;
	if (PQntuples(res) == 1)
		*state = (int)pg_i64(res, 0, 0);
	else
		err = LIMES_E_NOTFOUND;
	PQclear(res);
	return err;
}

int pg_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
		     uint64_t now_ms, uint64_t next_attempt_ms)
{
	struct pg_params p = { 0 };
	int err, changed = 0;

	if (!id || !recipient)
		return LIMES_E_INVAL;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, recipient);
	pg_param_i64(&p, (int64_t)now_ms);
	pg_param_i64(&p, (int64_t)next_attempt_ms);
	err = pg_exec_done(store, &queries, SQL_DLV_SENT, &p, &changed, "delivery sent");
	return err ? err : changed ? 0 : LIMES_E_NOTFOUND;
}

/* Runs one of the *_MANY updates: the cursor array as $1, a time as $2, $3
 * (NULL when has3 is false). */
static int update_many(struct store *store, int which, const int64_t *cursors, size_t n,
		       uint64_t time_ms, bool has3, int64_t v3, size_t *marked, const char *what)
{
	struct pg_params p = { 0 };
	int err, changed = 0;
	char *list;

	if (marked)
		*marked = 0;
	if (n && !cursors)
		return LIMES_E_INVAL;
	if (n == 0)
		return 0;
	err = pg_write_begin(store);
	if (err)
		return err;
	list = store_cursor_list(cursors, n, '{', '}');
	if (!list)
		return LIMES_E_NOMEM;
	pg_param_text(&p, list);
	pg_param_i64(&p, (int64_t)time_ms);
	if (has3)
		pg_param_i64(&p, v3);
	else
		pg_param_text(&p, NULL);
	err = pg_exec_done(store, &queries, which, &p, &changed, what);
	free(list);
	if (!err && marked)
		*marked = (size_t)changed;
	return err;
}

int pg_deliveries_sent(struct store *store, const int64_t *cursors, size_t n, uint64_t now_ms,
		       uint64_t next_attempt_ms, size_t *marked)
{
	return update_many(store, SQL_SENT_MANY, cursors, n, now_ms, true, (int64_t)next_attempt_ms,
			   marked, "deliveries sent");
}

int pg_deliveries_delivered(struct store *store, const int64_t *cursors, size_t n, uint64_t done_ms,
			    int64_t receipt_id, size_t *marked)
{
	return update_many(store, SQL_DELIVERED_MANY, cursors, n, done_ms, receipt_id > 0, receipt_id,
			   marked, "deliveries delivered");
}

int pg_delivery_reset_hop(struct store *store, const char *next_hop)
{
	struct pg_params p = { 0 };
	int err;

	if (!next_hop)
		return LIMES_E_INVAL;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_text(&p, next_hop);
	return pg_exec_done(store, &queries, SQL_RESET_HOP, &p, NULL, "reset hop");
}

int pg_receipt_put(struct store *store, const uint8_t *receipt, size_t len, int64_t *receipt_id)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err;

	if (!receipt || !len || !receipt_id)
		return LIMES_E_INVAL;
	if (len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, receipt, len);
	res = pg_exec(store, &queries, SQL_RECEIPT_INSERT, &p, &err, "receipt put");
	if (!res)
		return err;
	*receipt_id = pg_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int pg_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
		     enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
		     int64_t receipt_id)
{
	struct pg_params p = { 0 };
	int err, changed = 0, current = 0;

	if (!id || !recipient)
		return LIMES_E_INVAL;
	if (state != DELIVERY_DELIVERED && state != DELIVERY_REJECTED)
		return LIMES_E_INVAL;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, recipient);
	pg_param_i64(&p, (int64_t)state);
	pg_param_i64(&p, state == DELIVERY_REJECTED ? reason : 0);
	pg_param_text(&p, detail ? detail : "");
	pg_param_i64(&p, (int64_t)done_ms);
	if (receipt_id > 0)
		pg_param_i64(&p, receipt_id);
	else
		pg_param_text(&p, NULL);
	err = pg_exec_done(store, &queries, SQL_DLV_DONE, &p, &changed, "delivery done");
	/* a second receipt for a finished delivery changes nothing */
	if (!err && changed == 0)
		err = delivery_state(store, id, recipient, &current);
	return err;
}

int pg_expire(struct store *store, uint64_t now_ms,
	      void (*fn)(void *arg, const struct store_expired *e), void *arg)
{
	struct pg_params p = { 0 };
	struct store_expired e;
	PGresult *res;
	int err, n;

	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_i64(&p, (int64_t)now_ms);
	res = pg_exec(store, &queries, SQL_EXPIRE, &p, &err, "expire");
	if (!res)
		return err;
	n = PQntuples(res);
	for (int r = 0; fn && r < n; r++) {
		pg_copy_bytes(e.id, sizeof(e.id), res, r, 0);
		pg_copy_text(e.recipient, sizeof(e.recipient), res, r, 1);
		pg_copy_text(e.next_hop, sizeof(e.next_hop), res, r, 2);
		e.type = (int)pg_i64(res, r, 3);
		fn(arg, &e);
	}
	PQclear(res);
	return n;
}

int pg_expire_due(struct store *store, uint64_t now_ms)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0, due;

	pg_param_i64(&p, (int64_t)now_ms);
	res = pg_exec(store, &queries, SQL_EXPIRE_DUE, &p, &err, "expire due");
	if (!res)
		return err;
	due = PQntuples(res) == 1 && pg_i64(res, 0, 0) != 0;
	PQclear(res);
	return due;
}

int pg_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			const uint8_t *envelope, size_t envelope_len, uint64_t expires_ms)
{
	struct pg_params p = { 0 };
	int err, changed = 0, current = 0;

	if (!id || !recipient || !envelope || envelope_len == 0)
		return LIMES_E_INVAL;
	if (envelope_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, recipient);
	pg_param_bytes(&p, envelope, envelope_len);
	pg_param_i64(&p, (int64_t)expires_ms);
	err = pg_exec_done(store, &queries, SQL_REQUEUE, &p, &changed, "requeue");
	if (!err && changed == 0) {
		err = delivery_state(store, id, recipient, &current);
		if (!err)
			err = LIMES_E_INVAL;
	}
	return err;
}

int pg_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		   int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	struct pg_params p = { 0 };
	int n;

	if (!id || !fn)
		return LIMES_E_INVAL;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	n = each_delivery(store, SQL_MSG_GET, &p, fn, arg, "message get");
	return n < 0 ? n : n == 0 ? LIMES_E_NOTFOUND : 0;
}

int pg_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
		    uint64_t *oldest_unacked_created_ms)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	if (!next_hop)
		return LIMES_E_INVAL;
	pg_param_text(&p, next_hop);
	res = pg_exec(store, &queries, SQL_STATS, &p, &err, "outbox stats");
	if (!res)
		return err;
	if (queued)
		*queued = (uint64_t)pg_i64(res, 0, 0);
	if (oldest_unacked_created_ms)
		*oldest_unacked_created_ms = (uint64_t)pg_i64(res, 0, 1);
	PQclear(res);
	return 0;
}

int pg_outbox_purge(struct store *store, uint64_t cut)
{
	struct pg_params p = { 0 };
	int err;

	if (cut == 0)
		return 0;
	pg_param_i64(&p, (int64_t)cut);
	err = pg_exec_done(store, &queries, SQL_PURGE_DLV, &p, NULL, "purge outbox");
	return err ? err : pg_exec_done(store, &queries, SQL_PURGE_RECEIPTS, NULL, NULL,
					"purge receipts");
}

int pg_delivery_list(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
		     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	struct pg_params p = { 0 };

	if (!f || !fn || limit == 0 || limit > INT32_MAX)
		return LIMES_E_INVAL;
	pg_param_i64(&p, after);
	pg_param_i64(&p, f->state);
	pg_param_text(&p, f->recipient ? f->recipient : "");
	pg_param_i64(&p, f->type);
	pg_param_i64(&p, (int64_t)f->since_ms);
	pg_param_i64(&p, (int64_t)limit);
	return each_delivery(store, SQL_LIST, &p, fn, arg, "delivery list");
}

int pg_outbox_stats_recipient(struct store *store, const char *recipient, uint64_t *queued,
			      uint64_t *oldest_unacked_created_ms)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_text(&p, recipient);
	res = pg_exec(store, &queries, SQL_STATS_RECIPIENT, &p, &err, "recipient stats");
	if (!res)
		return err;
	if (queued)
		*queued = (uint64_t)pg_i64(res, 0, 0);
	if (oldest_unacked_created_ms)
		*oldest_unacked_created_ms = (uint64_t)pg_i64(res, 0, 1);
	PQclear(res);
	return 0;
}

int pg_delivery_reseal(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
		       const uint8_t *envelope, size_t envelope_len)
{
	struct pg_params p = { 0 };
	int err, changed = 0;

	if (!id || !recipient || !envelope || envelope_len == 0)
		return LIMES_E_INVAL;
	if (envelope_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, recipient);
	pg_param_bytes(&p, envelope, envelope_len);
	err = pg_exec_done(store, &queries, SQL_RESEAL, &p, &changed, "reseal");
	return err ? err : changed ? 0 : LIMES_E_NOTFOUND;
}

int pg_delivery_readdress(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
			  const struct store_delivery *to, uint64_t expires_ms)
{
	struct pg_params p = { 0 };
	int err, changed = 0;

	if (!id || !old_recipient || !to || !to->recipient || !to->next_hop || !to->envelope ||
	    to->envelope_len == 0)
		return LIMES_E_INVAL;
	if (to->envelope_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, old_recipient);
	pg_param_text(&p, to->recipient);
	pg_param_text(&p, to->next_hop);
	pg_param_bytes(&p, to->envelope, to->envelope_len);
	pg_param_i64(&p, (int64_t)expires_ms);
	err = pg_exec_done(store, &queries, SQL_READDRESS, &p, &changed, "readdress");
	return err ? err : changed ? 0 : LIMES_E_NOTFOUND;
}
