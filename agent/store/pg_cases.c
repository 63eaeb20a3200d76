/*
 * The PostgreSQL backend's part of cases and body retention: a message by
 * id across the outbox and the inbox, the messages answering it (by the ref
 * each carries), and bodies emptied on time while ids, states and hashes
 * stay. Semantics, and the indexes of schema version 2, are those of
 * sqlite_cases.c (docs/store.md); every query on these concerns is here.
 */
#include "pg_int.h"

#include <string.h>

#include "proto/err.h"

/* Schema version 2: the indexes the queries below read (partial, so only
 * answers and unpurged bodies pay for them). */
const char pg_cases_schema[] =
	"CREATE INDEX messages_ref ON messages(ref) WHERE ref IS NOT NULL;"
	"CREATE INDEX inbox_ref ON inbox(ref) WHERE ref IS NOT NULL;"
	"CREATE INDEX inbox_body ON inbox(type, received_ms) WHERE length(envelope) > 0;"
	"CREATE INDEX deliveries_body ON deliveries(type, done_ms)"
	" WHERE state IN (2, 3, 4) AND length(envelope) > 0;";

enum {
	SQL_OUT_BY_ID,
	SQL_IN_BY_ID,
	SQL_OUT_CHILDREN,
	SQL_IN_CHILDREN,
	SQL_PURGE_IN_BODIES,
	SQL_PURGE_OUT_BODIES,
	SQL_COUNT_
};

static const char *const sql_text[SQL_COUNT_] = {
	/* purged when every recipient's copy is gone */
	[SQL_OUT_BY_ID] =
		"SELECT m.type, m.created_ms, m.ref,"
		" (SELECT max(d.body) FROM deliveries d WHERE d.msg = m.seq)"
		" FROM messages m WHERE m.id = $1",
	/* through the seen set (keyed by id) and the time index: the inbox has
	 * no index of its own on the random id */
	[SQL_IN_BY_ID] =
		"SELECT i.sender, i.type, i.created_ms, i.received_ms, i.ref, length(i.envelope)::bigint"
		" FROM seen s JOIN inbox i ON i.received_ms = s.received_ms AND i.message_id = s.message_id"
		" WHERE s.message_id = $1 LIMIT 1",
	[SQL_OUT_CHILDREN] = "SELECT id FROM messages WHERE ref = $1 LIMIT $2",
	[SQL_IN_CHILDREN] = "SELECT message_id FROM inbox WHERE ref = $1 LIMIT $2",
	[SQL_PURGE_IN_BODIES] =
		"UPDATE inbox SET envelope = ''::bytea WHERE type = $1 AND received_ms <= $2"
		" AND length(envelope) > 0",
	/* schema 5: the envelopes have a table of their own; the count is the
	 * envelopes removed, one per delivery whose body went */
	[SQL_PURGE_OUT_BODIES] =
		"WITH d AS (UPDATE deliveries SET body = 0 WHERE type = $1 AND done_ms <= $2"
		" AND state IN (2, 3, 4) AND body = 1 RETURNING dseq)"
		" DELETE FROM envelopes WHERE dseq IN (SELECT dseq FROM d)",
};

static const struct pg_queries queries = { PG_FILE_CASES, SQL_COUNT_, sql_text };

/* Runs a by-id query; the result (caller clears) or NULL with *err. */
static PGresult *by_id(struct store *store, int which, const uint8_t id[STORE_ID_LEN], int *err)
{
	struct pg_params p = { 0 };

	pg_param_bytes(&p, id, STORE_ID_LEN);
	return pg_exec(store, &queries, which, &p, err, "case get");
}

int pg_case_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e)
{
	int err = 0;
	PGresult *res;

	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, STORE_ID_LEN);
	if (!(res = by_id(store, SQL_OUT_BY_ID, id, &err)))
		return err;
	if (PQntuples(res) == 1) {
		e->type = (int)pg_i64(res, 0, 0);
		e->created_ms = (uint64_t)pg_i64(res, 0, 1);
		e->has_ref = !PQgetisnull(res, 0, 2);
		pg_copy_bytes(e->ref, sizeof(e->ref), res, 0, 2);
		e->body_purged = !PQgetisnull(res, 0, 3) && pg_i64(res, 0, 3) == 0;
		PQclear(res);
		return 0;
	}
	PQclear(res);
	if (!(res = by_id(store, SQL_IN_BY_ID, id, &err)))
		return err;
	if (PQntuples(res) == 1) {
		e->received = true;
		pg_copy_text(e->sender, sizeof(e->sender), res, 0, 0);
		e->type = (int)pg_i64(res, 0, 1);
		e->created_ms = (uint64_t)pg_i64(res, 0, 2);
		e->received_ms = (uint64_t)pg_i64(res, 0, 3);
		e->has_ref = !PQgetisnull(res, 0, 4);
		pg_copy_bytes(e->ref, sizeof(e->ref), res, 0, 4);
		e->body_purged = pg_i64(res, 0, 5) == 0;
	} else {
		err = LIMES_E_NOTFOUND;
	}
	PQclear(res);
	return err;
}

static int children_of(struct store *store, int which, const uint8_t ref[STORE_ID_LEN],
		       uint8_t (*ids)[STORE_ID_LEN], size_t max, size_t *n)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_bytes(&p, ref, STORE_ID_LEN);
	pg_param_i64(&p, (int64_t)(max - *n));
	if (!(res = pg_exec(store, &queries, which, &p, &err, "case children")))
		return err;
	for (int r = 0; r < PQntuples(res) && *n < max; r++)
		pg_copy_bytes(ids[(*n)++], STORE_ID_LEN, res, r, 0);
	PQclear(res);
	return 0;
}

int pg_case_children(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
		     size_t max, size_t *n)
{
	int err;

	*n = 0;
	if (max == 0)
		return 0;
	err = children_of(store, SQL_OUT_CHILDREN, ref, ids, max, n);
	if (!err && *n < max)
		err = children_of(store, SQL_IN_CHILDREN, ref, ids, max, n);
	return err;
}

int pg_purge_bodies(struct store *store, int type, uint64_t cut_ms)
{
	static const int which[] = { SQL_PURGE_IN_BODIES, SQL_PURGE_OUT_BODIES };
	int err, count = 0;

	if ((err = pg_write_begin(store)) != 0)
		return err;
	for (size_t i = 0; i < 2; i++) {
		struct pg_params p = { 0 };
		int changed = 0;

		pg_param_i64(&p, type);
		pg_param_i64(&p, (int64_t)cut_ms);
		if ((err = pg_exec_done(store, &queries, which[i], &p, &changed, "purge bodies")) != 0)
			return err;
		count += changed;
	}
	return count;
}
