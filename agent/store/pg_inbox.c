/*
 * The PostgreSQL backend's inbox and durable seen-id set, and their part of
 * retention; every query on the inbox and seen tables, beside the code that
 * binds it. Semantics are those of sqlite_inbox.c (docs/store.md). The seen
 * set's primary key is the duplicate check, taken with ON CONFLICT DO
 * NOTHING so a duplicate never aborts the turn's transaction.
 */
#include "pg_int.h"

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

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_SEEN_GET] =
		"SELECT sender, envelope_hash, status, reason, received_ms, forget_after_ms"
		" FROM seen WHERE message_id = $1",
	[SQL_SEEN_INSERT] =
		"INSERT INTO seen(message_id, sender, envelope_hash, status, reason, received_ms,"
		" forget_after_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
	[SQL_SEEN_DELETE] = "DELETE FROM seen WHERE message_id = $1",
	[SQL_INBOX_INSERT] =
		"INSERT INTO inbox(message_id, sender, type, priority, created_ms, expires_ms,"
		" received_ms, ref, envelope_hash, envelope)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
	[SQL_INBOX_LIST] =
		"SELECT cursor, message_id, sender, type, priority, created_ms, expires_ms,"
		" received_ms, ref, envelope_hash, envelope FROM inbox WHERE cursor > $1"
		" ORDER BY cursor LIMIT $2",
	[SQL_PURGE_SEEN] = "DELETE FROM seen WHERE forget_after_ms <= $1",
	[SQL_PURGE_INBOX] = "DELETE FROM inbox WHERE received_ms <= $1",
};

static const struct pg_queries queries = { PG_FILE_INBOX, SQL_COUNT_, sql_text };

int pg_seen_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	if (!id || !seen)
		return LIMES_E_INVAL;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	res = pg_exec(store, &queries, SQL_SEEN_GET, &p, &err, "seen lookup");
	if (!res)
		return err;
	if (PQntuples(res) == 1) {
		pg_copy_text(seen->sender, sizeof(seen->sender), res, 0, 0);
		pg_copy_bytes(seen->envelope_hash, sizeof(seen->envelope_hash), res, 0, 1);
		seen->status = (int)pg_i64(res, 0, 2);
		seen->reason = (int)pg_i64(res, 0, 3);
		seen->received_ms = (uint64_t)pg_i64(res, 0, 4);
		seen->forget_after_ms = (uint64_t)pg_i64(res, 0, 5);
	} else {
		err = LIMES_E_NOTFOUND;
	}
	PQclear(res);
	return err;
}

/* 0, LIMES_E_EXISTS when the id is in the set already, or an error. */
static int insert_seen(struct store *store, const uint8_t id[STORE_ID_LEN], const char *sender,
		       const uint8_t hash[STORE_HASH_LEN], int status, int reason,
		       uint64_t received_ms, uint64_t forget_after_ms)
{
	struct pg_params p = { 0 };
	int err, inserted = 0;

	pg_param_bytes(&p, id, STORE_ID_LEN);
	pg_param_text(&p, sender);
	pg_param_bytes(&p, hash, STORE_HASH_LEN);
	pg_param_i64(&p, status);
	pg_param_i64(&p, reason);
	pg_param_i64(&p, (int64_t)received_ms);
	pg_param_i64(&p, (int64_t)forget_after_ms);
	err = pg_exec_done(store, &queries, SQL_SEEN_INSERT, &p, &inserted, "seen put");
	return err ? err : inserted ? 0 : LIMES_E_EXISTS;
}

int pg_inbox_put(struct store *store, const struct store_inbox_entry *e, uint64_t forget_after_ms)
{
	struct pg_params p = { 0 };
	int err;

	if (!e || !pg_agency_ok(e->sender) || !e->envelope || e->envelope_len == 0)
		return LIMES_E_INVAL;
	if (e->envelope_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	err = pg_write_begin(store);
	if (err)
		return err;
	err = insert_seen(store, e->id, e->sender, e->envelope_hash, STORE_SEEN_ACCEPTED, 0,
			  e->received_ms, forget_after_ms);
	if (err)
		return err;
	pg_param_bytes(&p, e->id, STORE_ID_LEN);
	pg_param_text(&p, e->sender);
	pg_param_i64(&p, e->type);
	pg_param_i64(&p, e->priority);
	pg_param_i64(&p, (int64_t)e->created_ms);
	pg_param_i64(&p, (int64_t)e->expires_ms);
	pg_param_i64(&p, (int64_t)e->received_ms);
	pg_param_bytes(&p, e->has_ref ? e->ref : NULL, STORE_ID_LEN);
	pg_param_bytes(&p, e->envelope_hash, STORE_HASH_LEN);
	pg_param_bytes(&p, e->envelope, e->envelope_len);
	/* a failure here aborts the transaction whole: the seen row goes too */
	return pg_exec_done(store, &queries, SQL_INBOX_INSERT, &p, NULL, "inbox put");
}

int pg_seen_put(struct store *store, const uint8_t id[STORE_ID_LEN], const struct store_seen *seen)
{
	int err;

	if (!id || !seen || !pg_agency_ok(seen->sender))
		return LIMES_E_INVAL;
	err = pg_write_begin(store);
	if (err)
		return err;
	return insert_seen(store, id, seen->sender, seen->envelope_hash, seen->status, seen->reason,
			   seen->received_ms, seen->forget_after_ms);
}

int pg_seen_forget(struct store *store, const uint8_t id[STORE_ID_LEN])
{
	struct pg_params p = { 0 };
	int err;

	if (!id)
		return LIMES_E_INVAL;
	err = pg_write_begin(store);
	if (err)
		return err;
	pg_param_bytes(&p, id, STORE_ID_LEN);
	return pg_exec_done(store, &queries, SQL_SEEN_DELETE, &p, NULL, "seen forget");
}

int pg_inbox_list(struct store *store, int64_t after, size_t limit,
		  int (*fn)(void *arg, const struct store_inbox_row *row), void *arg)
{
	struct pg_params p = { 0 };
	struct store_inbox_row row;
	PGresult *res;
	int err = 0, n, count = 0;

	if (!fn)
		return LIMES_E_INVAL;
	if (limit == 0)
		return 0;
	pg_param_i64(&p, after);
	pg_param_i64(&p, limit > INT32_MAX ? INT32_MAX : (int64_t)limit);
	res = pg_exec(store, &queries, SQL_INBOX_LIST, &p, &err, "inbox list");
	if (!res)
		return err;
	n = PQntuples(res);
	for (int r = 0; r < n; r++) {
		struct store_inbox_entry *e = &row.entry;
		size_t len = 0;

		row.cursor = pg_i64(res, r, 0);
		pg_copy_bytes(e->id, sizeof(e->id), res, r, 1);
		pg_copy_text(row.sender_buf, sizeof(row.sender_buf), res, r, 2);
		e->sender = row.sender_buf;
		e->type = (int)pg_i64(res, r, 3);
		e->priority = (int)pg_i64(res, r, 4);
		e->created_ms = (uint64_t)pg_i64(res, r, 5);
		e->expires_ms = (uint64_t)pg_i64(res, r, 6);
		e->received_ms = (uint64_t)pg_i64(res, r, 7);
		e->has_ref = !PQgetisnull(res, r, 8);
		pg_copy_bytes(e->ref, sizeof(e->ref), res, r, 8);
		pg_copy_bytes(e->envelope_hash, sizeof(e->envelope_hash), res, r, 9);
		e->envelope = pg_bytes(res, r, 10, &len);
		e->envelope_len = len;
		count++;
		if (fn(arg, &row) != 0)
			break;
	}
	PQclear(res);
	return count;
}

int pg_inbox_purge(struct store *store, uint64_t now_ms, uint64_t cut)
{
	struct pg_params p = { 0 };
	int err;

	pg_param_i64(&p, (int64_t)now_ms);
	err = pg_exec_done(store, &queries, SQL_PURGE_SEEN, &p, NULL, "purge seen");
	if (err || cut == 0)
		return err;
	memset(&p, 0, sizeof(p));
	pg_param_i64(&p, (int64_t)cut);
	return pg_exec_done(store, &queries, SQL_PURGE_INBOX, &p, NULL, "purge inbox");
}
