/*
 * The PostgreSQL backend's audit trail, its tables and every query on them:
 * the same tables, bytes and semantics as audit.c (the SQLite backend), so
 * that the chain, checkpoints, countersignatures and exports are identical
 * on either (docs/audit.md). Entries are written inside the transaction of
 * the action they record, so both commit or neither.
 *
 * Both nodes of an agency write this one trail, never at once: only the
 * session holding the agency's lock writes (docs/availability.md), and the
 * primary key on seq refuses a second entry for a sequence number, so two
 * writers could never fork the chain even if fencing failed. As in the
 * other pg files, a conflict is an ON CONFLICT DO NOTHING that inserted
 * nothing (LIMES_E_EXISTS), never an error that aborts the turn.
 */
#include "pg_int.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

/* Schema version 3: the audit trail. The trigger stops the agent itself
 * from ever changing, deleting or truncating an entry; someone who owns the
 * tables can drop it, which is what the chain, the signatures and the
 * neighbours' copies are for. */
const char pg_audit_schema[] =
	"CREATE TABLE audit ("
	" seq bigint PRIMARY KEY,"
	" time_ms bigint NOT NULL,"
	" kind bigint NOT NULL,"
	" bytes bytea NOT NULL,"
	" hash bytea NOT NULL);"
	"CREATE INDEX audit_time ON audit(time_ms);"
	"CREATE TABLE audit_ids ("
	" message_id bytea NOT NULL,"
	" seq bigint NOT NULL,"
	" PRIMARY KEY (message_id, seq));"
	"CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END$$;"
	"CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit"
	" FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
	"CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
	" FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();"
	"CREATE TABLE audit_checkpoints ("
	" seq bigint PRIMARY KEY,"
	" time_ms bigint NOT NULL,"
	" head bytea NOT NULL,"
	" body bytea NOT NULL,"
	" sig bytea NOT NULL);"
	"CREATE TABLE audit_countersigs ("
	" seq bigint NOT NULL,"
	" peer text NOT NULL,"
	" countersig bytea NOT NULL,"
	" time_ms bigint NOT NULL,"
	" PRIMARY KEY (peer, seq));"
	"CREATE TABLE audit_kept ("
	" peer text NOT NULL,"
	" seq bigint NOT NULL,"
	" body bytea NOT NULL,"
	" sig bytea NOT NULL,"
	" countersig bytea NOT NULL,"
	" time_ms bigint NOT NULL,"
	" PRIMARY KEY (peer, seq));";

/* Entries are read a page at a time: a verify of a long trail never holds
 * the whole result in memory. */
#define AUDIT_PAGE 1000

enum {
	SQL_HEAD,
	SQL_APPEND,
	SQL_LIST,
	SQL_LIST_MSG,
	SQL_CP_INSERT,
	SQL_CP_LAST,
	SQL_CP_LIST,
	SQL_CS_INSERT,
	SQL_CS_LIST,
	SQL_CP_UNSIGNED,
	SQL_KEPT_INSERT,
	SQL_KEPT_LIST,
	SQL_KEPT_LIST_ALL,
	SQL_MSG_CLIENT,
	SQL_KEPT_GET,
	SQL_KEPT_LATEST,
	SQL_COUNT_
};

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_HEAD] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	/* the entry and its index rows in one round trip; $6 is the ids as
	 * comma-separated hex ("" for none). Answers 1 when the entry went in,
	 * 0 when its seq was taken (then no index row is written either). */
	[SQL_APPEND] =
		"WITH a AS (INSERT INTO audit(seq, time_ms, kind, bytes, hash) VALUES ($1, $2, $3, $4, $5)"
		" ON CONFLICT DO NOTHING RETURNING seq),"
		" i AS (INSERT INTO audit_ids(message_id, seq)"
		" SELECT decode(x, 'hex'), a.seq FROM a, unnest(string_to_array($6::text, ',')) AS x"
		" ON CONFLICT DO NOTHING)"
		" SELECT count(*)::bigint FROM a",
	[SQL_LIST] =
		"SELECT seq, time_ms, kind, bytes, hash FROM audit WHERE seq >= $1"
		" AND time_ms >= $2 AND time_ms <= $3 ORDER BY seq LIMIT $4",
	[SQL_LIST_MSG] =
		"SELECT a.seq, a.time_ms, a.kind, a.bytes, a.hash FROM audit_ids i"
		" JOIN audit a ON a.seq = i.seq WHERE i.message_id = $5 AND a.seq >= $1"
		" AND a.time_ms >= $2 AND a.time_ms <= $3 ORDER BY a.seq LIMIT $4",
	[SQL_CP_INSERT] =
		"INSERT INTO audit_checkpoints(seq, time_ms, head, body, sig) VALUES ($1, $2, $3, $4, $5)"
		" ON CONFLICT DO NOTHING",
	[SQL_CP_LAST] = "SELECT seq, time_ms FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
	[SQL_CP_LIST] =
		"SELECT seq, time_ms, head, body, sig FROM audit_checkpoints WHERE seq > $1 ORDER BY seq",
	[SQL_CS_INSERT] =
		"INSERT INTO audit_countersigs(seq, peer, countersig, time_ms) VALUES ($1, $2, $3, $4)"
		" ON CONFLICT DO NOTHING",
	[SQL_CS_LIST] = "SELECT peer, countersig, time_ms FROM audit_countersigs WHERE seq = $1 ORDER BY peer",
	/* a NULL limit is no limit */
	[SQL_CP_UNSIGNED] =
		"SELECT c.seq, c.time_ms, c.head, c.body, c.sig FROM audit_checkpoints c"
		" WHERE c.seq > $2 AND NOT EXISTS (SELECT 1 FROM audit_countersigs s"
		" WHERE s.peer = $1 AND s.seq = c.seq) ORDER BY c.seq LIMIT $3",
	[SQL_KEPT_INSERT] =
		"INSERT INTO audit_kept(peer, seq, body, sig, countersig, time_ms)"
		" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
	[SQL_KEPT_LIST] =
		"SELECT peer, seq, body, sig, countersig, time_ms FROM audit_kept WHERE peer = $1 ORDER BY seq",
	[SQL_KEPT_LIST_ALL] =
		"SELECT peer, seq, body, sig, countersig, time_ms FROM audit_kept ORDER BY peer, seq",
	/* who submitted a message: an access check, beside the trail's queries */
	[SQL_MSG_CLIENT] = "SELECT client FROM messages WHERE id = $1",
	[SQL_KEPT_GET] = "SELECT body FROM audit_kept WHERE peer = $1 AND seq = $2",
	/* a neighbour asking what we keep of it gets the newest, in seq order */
	[SQL_KEPT_LATEST] =
		"SELECT peer, seq, body, sig, countersig, time_ms FROM (SELECT * FROM audit_kept WHERE peer = $1"
		" ORDER BY seq DESC LIMIT $2) newest ORDER BY seq",
};

static const struct pg_queries queries = { PG_FILE_AUDIT, SQL_COUNT_, sql_text };

int pg_audit_head(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN])
{
	PGresult *res;
	int err = 0;

	res = pg_exec(store, &queries, SQL_HEAD, NULL, &err, "audit head");
	if (!res)
		return err;
	*seq = 0;
	memset(hash, 0, STORE_HASH_LEN);
	if (PQntuples(res) == 1) {
		*seq = (uint64_t)pg_i64(res, 0, 0);
		pg_copy_bytes(hash, STORE_HASH_LEN, res, 0, 1);
	}
	PQclear(res);
	return 0;
}

/* The ids as comma-separated lowercase hex, for SQL_APPEND; caller frees. */
static char *ids_hex(const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(n_ids * (2 * STORE_ID_LEN + 1) + 1), *p = s;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n_ids; i++) {
		if (i)
			*p++ = ',';
		for (size_t j = 0; j < STORE_ID_LEN; j++) {
			*p++ = digits[ids[i][j] >> 4];
			*p++ = digits[ids[i][j] & 15];
		}
	}
	*p = '\0';
	return s;
}

int pg_audit_append(struct store *store, const struct store_audit_row *row,
		    const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids)
{
	struct pg_params p = { 0 };
	PGresult *res = NULL;
	char *hex = NULL;
	int err;

	if (row->len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	if ((err = pg_write_begin(store)) != 0)
		return err;
	hex = ids_hex(ids, n_ids);
	if (!hex)
		return LIMES_E_NOMEM;
	pg_param_i64(&p, (int64_t)row->seq);
	pg_param_i64(&p, (int64_t)row->time_ms);
	pg_param_i64(&p, row->kind);
	pg_param_bytes(&p, row->bytes, row->len);
	pg_param_bytes(&p, row->hash, STORE_HASH_LEN);
	pg_param_text(&p, hex);
	res = pg_exec(store, &queries, SQL_APPEND, &p, &err, "audit append");
	if (res) {
		err = PQntuples(res) == 1 && pg_i64(res, 0, 0) == 1 ? 0 : LIMES_E_EXISTS;
		PQclear(res);
	}
	free(hex);
	return err;
}

int pg_audit_list(struct store *store, const struct store_audit_filter *f,
		  int (*fn)(void *arg, const struct store_audit_row *row), void *arg)
{
	uint64_t from = f->from_seq, left = f->limit ? f->limit : UINT64_MAX;
	int count = 0;

	for (;;) {
		struct pg_params p = { 0 };
		int64_t page = left < AUDIT_PAGE ? (int64_t)left : AUDIT_PAGE;
		int err = 0, rows;
		bool stop = false;
		PGresult *res;

		pg_param_i64(&p, (int64_t)from);
		pg_param_i64(&p, (int64_t)f->since_ms);
		pg_param_i64(&p, f->until_ms ? (int64_t)f->until_ms : INT64_MAX);
		pg_param_i64(&p, page);
		if (f->has_id)
			pg_param_bytes(&p, f->id, STORE_ID_LEN);
		res = pg_exec(store, &queries, f->has_id ? SQL_LIST_MSG : SQL_LIST, &p, &err, "audit list");
		if (!res)
			return err;
		rows = PQntuples(res);
		for (int r = 0; r < rows && !stop; r++) {
			struct store_audit_row row;
			memset(&row, 0, sizeof(row));
			row.seq = (uint64_t)pg_i64(res, r, 0);
			row.time_ms = (uint64_t)pg_i64(res, r, 1);
			row.kind = (int)pg_i64(res, r, 2);
			row.bytes = pg_bytes(res, r, 3, &row.len);
			pg_copy_bytes(row.hash, STORE_HASH_LEN, res, r, 4);
			row.hash_len = (size_t)PQgetlength(res, r, 4);
			from = row.seq + 1;
			count++;
			left--;
			stop = fn(arg, &row) != 0;
		}
		PQclear(res);
		if (stop || rows < page || left == 0)
			return count;
	}
}

int pg_audit_checkpoint_put(struct store *store, const struct store_audit_checkpoint *cp)
{
	struct pg_params p = { 0 };
	int err, inserted = 0;

	if (cp->body_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	if ((err = pg_write_begin(store)) != 0)
		return err;
	pg_param_i64(&p, (int64_t)cp->seq);
	pg_param_i64(&p, (int64_t)cp->time_ms);
	pg_param_bytes(&p, cp->head, STORE_HASH_LEN);
	pg_param_bytes(&p, cp->body, cp->body_len);
	pg_param_bytes(&p, cp->sig, STORE_SIG_LEN);
	err = pg_exec_done(store, &queries, SQL_CP_INSERT, &p, &inserted, "audit checkpoint put");
	return err ? err : inserted == 1 ? 0 : LIMES_E_EXISTS;
}

int pg_audit_checkpoint_last(struct store *store, uint64_t *seq, uint64_t *time_ms)
{
	PGresult *res;
	int err = 0;

	res = pg_exec(store, &queries, SQL_CP_LAST, NULL, &err, "audit checkpoint last");
	if (!res)
		return err;
	*seq = 0;
	*time_ms = 0;
	if (PQntuples(res) == 1) {
		*seq = (uint64_t)pg_i64(res, 0, 0);
		*time_ms = (uint64_t)pg_i64(res, 0, 1);
	}
	PQclear(res);
	return 0;
}

/* Calls fn for each checkpoint row (seq, time, head, body, sig) of res. */
static int each_checkpoint(PGresult *res, int (*fn)(void *arg, const struct store_audit_checkpoint *cp),
			   void *arg)
{
	int count = 0;

	for (int r = 0; r < PQntuples(res); r++) {
		struct store_audit_checkpoint cp;
		memset(&cp, 0, sizeof(cp));
		cp.seq = (uint64_t)pg_i64(res, r, 0);
		cp.time_ms = (uint64_t)pg_i64(res, r, 1);
		pg_copy_bytes(cp.head, STORE_HASH_LEN, res, r, 2);
		cp.body = pg_bytes(res, r, 3, &cp.body_len);
		pg_copy_bytes(cp.sig, STORE_SIG_LEN, res, r, 4);
		count++;
		if (fn(arg, &cp))
			break;
	}
	PQclear(res);
	return count;
}

int pg_audit_checkpoints(struct store *store, uint64_t after_seq,
			 int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_i64(&p, (int64_t)after_seq);
	res = pg_exec(store, &queries, SQL_CP_LIST, &p, &err, "audit checkpoints");
	return res ? each_checkpoint(res, fn, arg) : err;
}

int pg_audit_uncountersigned(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
			     int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_text(&p, peer);
	pg_param_i64(&p, (int64_t)after_seq);
	if (limit)
		pg_param_i64(&p, (int64_t)limit);
	else
		pg_param_text(&p, NULL);
	res = pg_exec(store, &queries, SQL_CP_UNSIGNED, &p, &err, "audit checkpoints");
	return res ? each_checkpoint(res, fn, arg) : err;
}

int pg_audit_countersig_put(struct store *store, uint64_t seq, const char *peer,
			    const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms)
{
	struct pg_params p = { 0 };
	int err;

	if ((err = pg_write_begin(store)) != 0)
		return err;
	pg_param_i64(&p, (int64_t)seq);
	pg_param_text(&p, peer);
	pg_param_bytes(&p, countersig, STORE_SIG_LEN);
	pg_param_i64(&p, (int64_t)time_ms);
	return pg_exec_done(store, &queries, SQL_CS_INSERT, &p, NULL, "audit countersig put");
}

int pg_audit_countersigs(struct store *store, uint64_t seq,
			 int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
				   uint64_t time_ms),
			 void *arg)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0, count = 0;

	pg_param_i64(&p, (int64_t)seq);
	res = pg_exec(store, &queries, SQL_CS_LIST, &p, &err, "audit countersigs");
	if (!res)
		return err;
	for (int r = 0; r < PQntuples(res); r++) {
		char peer[STORE_AGENCY_MAX + 1];
		size_t len = 0;
		const uint8_t *cs = pg_bytes(res, r, 1, &len);

		pg_copy_text(peer, sizeof(peer), res, r, 0);
		count++;
		if (fn(arg, peer, cs, len, (uint64_t)pg_i64(res, r, 2)))
			break;
	}
	PQclear(res);
	return count;
}

int pg_audit_kept_put(struct store *store, const struct store_audit_kept *k)
{
	struct pg_params p = { 0 };
	int err;

	if (k->body_len > PG_VALUE_MAX)
		return LIMES_E_TOOBIG;
	if ((err = pg_write_begin(store)) != 0)
		return err;
	pg_param_text(&p, k->peer);
	pg_param_i64(&p, (int64_t)k->seq);
	pg_param_bytes(&p, k->body, k->body_len);
	pg_param_bytes(&p, k->sig, STORE_SIG_LEN);
	pg_param_bytes(&p, k->countersig, STORE_SIG_LEN);
	pg_param_i64(&p, (int64_t)k->time_ms);
	return pg_exec_done(store, &queries, SQL_KEPT_INSERT, &p, NULL, "audit kept put");
}

/* Visits the kept rows of res (cleared here); count. */
static int kept_rows(PGresult *res, int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	int count = 0;

	for (int r = 0; r < PQntuples(res); r++) {
		struct store_audit_kept k;
		memset(&k, 0, sizeof(k));
		pg_copy_text(k.peer_buf, sizeof(k.peer_buf), res, r, 0);
		k.peer = k.peer_buf;
		k.seq = (uint64_t)pg_i64(res, r, 1);
		k.body = pg_bytes(res, r, 2, &k.body_len);
		pg_copy_bytes(k.sig, STORE_SIG_LEN, res, r, 3);
		pg_copy_bytes(k.countersig, STORE_SIG_LEN, res, r, 4);
		k.time_ms = (uint64_t)pg_i64(res, r, 5);
		count++;
		if (fn(arg, &k))
			break;
	}
	PQclear(res);
	return count;
}

int pg_audit_kept_list(struct store *store, const char *peer,
		       int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	if (peer)
		pg_param_text(&p, peer);
	res = pg_exec(store, &queries, peer ? SQL_KEPT_LIST : SQL_KEPT_LIST_ALL, &p, &err, "audit kept list");
	return res ? kept_rows(res, fn, arg) : err;
}

int pg_audit_kept_latest(struct store *store, const char *peer, size_t limit,
			 int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_text(&p, peer);
	pg_param_i64(&p, (int64_t)limit);
	res = pg_exec(store, &queries, SQL_KEPT_LATEST, &p, &err, "audit kept latest");
	return res ? kept_rows(res, fn, arg) : err;
}

int pg_audit_kept_body(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap, size_t *len)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_text(&p, peer);
	pg_param_i64(&p, (int64_t)seq);
	res = pg_exec(store, &queries, SQL_KEPT_GET, &p, &err, "audit kept get");
	if (!res)
		return err;
	if (PQntuples(res) == 1) {
		size_t n = 0;
		const uint8_t *b = pg_bytes(res, 0, 0, &n);
		*len = n < cap ? n : cap;
		if (*len)
			memcpy(body, b, *len);
	} else {
		err = LIMES_E_NOTFOUND;
	}
	PQclear(res);
	return err;
}

int pg_message_client(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_bytes(&p, id, STORE_ID_LEN);
	res = pg_exec(store, &queries, SQL_MSG_CLIENT, &p, &err, "message client");
	if (!res)
		return err;
	if (PQntuples(res) == 1)
		pg_copy_text(buf, len, res, 0, 0);
	else
		err = LIMES_E_NOTFOUND;
	PQclear(res);
	return err;
}
