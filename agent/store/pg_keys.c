/*
 * The PostgreSQL backend's key rotation rows; semantics as sqlite_keys.c.
 */
#include "pg_int.h"

#include <string.h>

#include "proto/err.h"

/* Schema version 4 (SQLite: 5, after its index change): key rotation. */
const char pg_keys_schema[] =
	"CREATE TABLE peer_keys ("
	" peer text PRIMARY KEY,"
	" base_line text NOT NULL,"
	" current_line text NOT NULL,"
	" next_line text NOT NULL,"
	" next_state integer NOT NULL,"
	" seq bigint NOT NULL,"
	" announced_ms bigint NOT NULL,"
	" changed_ms bigint NOT NULL,"
	" changed_by text NOT NULL,"
	" previous_line text NOT NULL,"
	" previous_until_ms bigint NOT NULL);";

/* Schema version 6 (SQLite: 7): notes of our own rotation (acks, the key ring). */
const char pg_key_notes_schema[] =
	"CREATE TABLE key_notes ("
	" kind text NOT NULL,"
	" name text NOT NULL,"
	" line text NOT NULL,"
	" seq bigint NOT NULL,"
	" state integer NOT NULL,"
	" at_ms bigint NOT NULL,"
	" until_ms bigint NOT NULL,"
	" PRIMARY KEY (kind, name));";

enum { SQL_PUT, SQL_LIST, SQL_NOTE_PUT, SQL_NOTE_DELETE, SQL_NOTE_LIST, SQL_COUNT_ };

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_PUT] = "INSERT INTO peer_keys(peer, base_line, current_line, next_line, next_state, seq,"
		    " announced_ms, changed_ms, changed_by, previous_line, previous_until_ms)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
		    " ON CONFLICT (peer) DO UPDATE SET base_line = excluded.base_line,"
		    " current_line = excluded.current_line, next_line = excluded.next_line,"
		    " next_state = excluded.next_state, seq = excluded.seq, announced_ms = excluded.announced_ms,"
		    " changed_ms = excluded.changed_ms, changed_by = excluded.changed_by,"
		    " previous_line = excluded.previous_line, previous_until_ms = excluded.previous_until_ms",
	[SQL_LIST] = "SELECT peer, base_line, current_line, next_line, next_state, seq, announced_ms, changed_ms,"
		     " changed_by, previous_line, previous_until_ms FROM peer_keys ORDER BY peer",
	[SQL_NOTE_PUT] = "INSERT INTO key_notes(kind, name, line, seq, state, at_ms, until_ms)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7)"
			 " ON CONFLICT (kind, name) DO UPDATE SET line = excluded.line, seq = excluded.seq,"
			 " state = excluded.state, at_ms = excluded.at_ms, until_ms = excluded.until_ms",
	[SQL_NOTE_DELETE] = "DELETE FROM key_notes WHERE kind = $1 AND name = $2",
	[SQL_NOTE_LIST] = "SELECT kind, name, line, seq, state, at_ms, until_ms FROM key_notes ORDER BY kind, name",
};

static const struct pg_queries queries = { PG_FILE_KEYS, SQL_COUNT_, sql_text };

int pg_key_put(struct store *store, const struct store_key_row *r)
{
	struct pg_params p = { 0 };
	int err = pg_write_begin(store);

	if (err)
		return err;
	pg_param_text(&p, r->peer);
	pg_param_text(&p, r->base_line);
	pg_param_text(&p, r->current_line);
	pg_param_text(&p, r->next_line);
	pg_param_i64(&p, r->next_state);
	pg_param_i64(&p, (int64_t)r->seq);
	pg_param_i64(&p, (int64_t)r->announced_ms);
	pg_param_i64(&p, (int64_t)r->changed_ms);
	pg_param_text(&p, r->changed_by);
	pg_param_text(&p, r->previous_line);
	pg_param_i64(&p, (int64_t)r->previous_until_ms);
	return pg_exec_done(store, &queries, SQL_PUT, &p, NULL, "key put");
}

int pg_key_list(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg)
{
	int err = 0;
	PGresult *res = pg_exec(store, &queries, SQL_LIST, NULL, &err, "key list");

	if (!res)
		return err;
	for (int i = 0; i < PQntuples(res) && !err; i++) {
		struct store_key_row r;
		memset(&r, 0, sizeof(r));
		pg_copy_text(r.peer, sizeof(r.peer), res, i, 0);
		pg_copy_text(r.base_line, sizeof(r.base_line), res, i, 1);
		pg_copy_text(r.current_line, sizeof(r.current_line), res, i, 2);
		pg_copy_text(r.next_line, sizeof(r.next_line), res, i, 3);
		r.next_state = (int)pg_i64(res, i, 4);
		r.seq = (uint64_t)pg_i64(res, i, 5);
		r.announced_ms = (uint64_t)pg_i64(res, i, 6);
		r.changed_ms = (uint64_t)pg_i64(res, i, 7);
		pg_copy_text(r.changed_by, sizeof(r.changed_by), res, i, 8);
		pg_copy_text(r.previous_line, sizeof(r.previous_line), res, i, 9);
		r.previous_until_ms = (uint64_t)pg_i64(res, i, 10);
		err = fn(arg, &r);
	}
	PQclear(res);
	return err;
}

int pg_key_note_put(struct store *store, const struct store_key_note *n)
{
	struct pg_params p = { 0 };
	int err = pg_write_begin(store);

	if (err)
		return err;
	pg_param_text(&p, n->kind);
	pg_param_text(&p, n->name);
	pg_param_text(&p, n->line);
	pg_param_i64(&p, (int64_t)n->seq);
	pg_param_i64(&p, n->state);
	pg_param_i64(&p, (int64_t)n->at_ms);
	pg_param_i64(&p, (int64_t)n->until_ms);
	return pg_exec_done(store, &queries, SQL_NOTE_PUT, &p, NULL, "key note put");
}

int pg_key_note_delete(struct store *store, const char *kind, const char *name)
{
	struct pg_params p = { 0 };
	int err = pg_write_begin(store);

	if (err)
		return err;
	pg_param_text(&p, kind);
	pg_param_text(&p, name);
	return pg_exec_done(store, &queries, SQL_NOTE_DELETE, &p, NULL, "key note delete");
}

int pg_key_note_list(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg)
{
	int err = 0;
	PGresult *res = pg_exec(store, &queries, SQL_NOTE_LIST, NULL, &err, "key note list");

	if (!res)
		return err;
	for (int i = 0; i < PQntuples(res) && !err; i++) {
		struct store_key_note n;
		memset(&n, 0, sizeof(n));
		pg_copy_text(n.kind, sizeof(n.kind), res, i, 0);
		pg_copy_text(n.name, sizeof(n.name), res, i, 1);
		pg_copy_text(n.line, sizeof(n.line), res, i, 2);
		n.seq = (uint64_t)pg_i64(res, i, 3);
		n.state = (int)pg_i64(res, i, 4);
		n.at_ms = (uint64_t)pg_i64(res, i, 5);
		n.until_ms = (uint64_t)pg_i64(res, i, 6);
		err = fn(arg, &n);
	}
	PQclear(res);
	return err;
}
