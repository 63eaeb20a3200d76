/*
 * The SQLite backend's audit trail, its tables and every query on them: the
 * append-only entry chain (with an index of the message ids each entry names), our signed
 * checkpoints, the countersignatures neighbours returned for them, and the
 * neighbours' checkpoints we countersigned and keep. The store holds bytes
 * and hashes it is given; building, hashing and signing them is crypto/audit.c's,
 * deciding what to record is core/audit.c's. Entries are written inside the
 * transaction of the action they record, so both commit or neither.
 */
#include "store_int.h"

#include <string.h>

#include "proto/err.h"

/* Schema version 3: the audit trail. The triggers stop the agent itself
 * from ever changing or deleting an entry; someone with the file can drop
 * them, which is what the chain, the signatures and the neighbours' copies
 * are for. */
const char store_audit_schema[] =
	"CREATE TABLE audit ("
	" seq INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" kind INTEGER NOT NULL,"
	" bytes BLOB NOT NULL,"
	" hash BLOB NOT NULL);"
	"CREATE INDEX audit_time ON audit(time_ms);"
	"CREATE TABLE audit_ids ("
	" message_id BLOB NOT NULL,"
	" seq INTEGER NOT NULL,"
	" PRIMARY KEY (message_id, seq)) WITHOUT ROWID;"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
	"CREATE TABLE audit_checkpoints ("
	" seq INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" head BLOB NOT NULL,"
	" body BLOB NOT NULL,"
	" sig BLOB NOT NULL);"
	"CREATE TABLE audit_countersigs ("
	" seq INTEGER NOT NULL,"
	" peer TEXT NOT NULL,"
	" countersig BLOB NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" PRIMARY KEY (peer, seq)) WITHOUT ROWID;"
	"CREATE TABLE audit_kept ("
	" peer TEXT NOT NULL,"
	" seq INTEGER NOT NULL,"
	" body BLOB NOT NULL,"
	" sig BLOB NOT NULL,"
	" countersig BLOB NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" PRIMARY KEY (peer, seq)) WITHOUT ROWID;";

enum {
	SQL_HEAD,
	SQL_INSERT,
	SQL_INSERT_ID,
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
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_HEAD] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	[SQL_INSERT] = "INSERT INTO audit(seq, time_ms, kind, bytes, hash) VALUES (?1, ?2, ?3, ?4, ?5)",
	/* every id an entry names in one statement (a batch entry names
	 * hundreds): ?1 is the ids back to back, 16 bytes each, ?3 their count */
	[SQL_INSERT_ID] =
		"WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n + 1 < ?3)"
		" INSERT OR IGNORE INTO audit_ids(message_id, seq) SELECT substr(?1, n * 16 + 1, 16), ?2 FROM i",
	[SQL_LIST] =
		"SELECT seq, time_ms, kind, bytes, hash FROM audit WHERE seq >= ?1"
		" AND time_ms >= ?2 AND time_ms <= ?3 ORDER BY seq LIMIT ?4",
	[SQL_LIST_MSG] =
		"SELECT a.seq, a.time_ms, a.kind, a.bytes, a.hash FROM audit_ids i"
		" JOIN audit a ON a.seq = i.seq WHERE i.message_id = ?5 AND a.seq >= ?1"
		" AND a.time_ms >= ?2 AND a.time_ms <= ?3 ORDER BY a.seq LIMIT ?4",
	[SQL_CP_INSERT] =
		"INSERT INTO audit_checkpoints(seq, time_ms, head, body, sig) VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQL_CP_LAST] = "SELECT seq, time_ms FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
	[SQL_CP_LIST] =
		"SELECT seq, time_ms, head, body, sig FROM audit_checkpoints WHERE seq > ?1 ORDER BY seq",
	[SQL_CS_INSERT] =
		"INSERT OR IGNORE INTO audit_countersigs(seq, peer, countersig, time_ms)"
		" VALUES (?1, ?2, ?3, ?4)",
	[SQL_CS_LIST] = "SELECT peer, countersig, time_ms FROM audit_countersigs WHERE seq = ?1 ORDER BY peer",
	[SQL_CP_UNSIGNED] =
		"SELECT c.seq, c.time_ms, c.head, c.body, c.sig FROM audit_checkpoints c"
		" WHERE c.seq > ?2 AND NOT EXISTS (SELECT 1 FROM audit_countersigs s"
		" WHERE s.peer = ?1 AND s.seq = c.seq) ORDER BY c.seq LIMIT ?3",
	[SQL_KEPT_INSERT] =
		"INSERT OR IGNORE INTO audit_kept(peer, seq, body, sig, countersig, time_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQL_KEPT_LIST] =
		"SELECT peer, seq, body, sig, countersig, time_ms FROM audit_kept WHERE peer = ?1 ORDER BY seq",
	[SQL_KEPT_LIST_ALL] =
		"SELECT peer, seq, body, sig, countersig, time_ms FROM audit_kept ORDER BY peer, seq",
	/* who submitted a message: an access check, beside the trail's queries */
	[SQL_MSG_CLIENT] = "SELECT client FROM messages WHERE id = ?1",
	[SQL_KEPT_GET] = "SELECT body FROM audit_kept WHERE peer = ?1 AND seq = ?2",
	/* a neighbour asking what we keep of it gets the newest, in seq order */
	[SQL_KEPT_LATEST] =
		"SELECT peer, seq, body, sig, countersig, time_ms FROM (SELECT * FROM audit_kept WHERE peer = ?1"
		" ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
};

static const struct store_queries queries = { STORE_FILE_AUDIT, SQL_COUNT_, sql_text };

static sqlite3_stmt *stmt_get(struct store *store, int which, int *err)
{
	return store_stmt(store, &queries, which, err);
}

int sqlite_audit_head(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN])
{
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !seq || !hash)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_HEAD, &err);
	if (!stmt)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(stmt, 0);
		store_copy_blob(hash, STORE_HASH_LEN, stmt, 1);
	} else if (rc == SQLITE_DONE) {
		*seq = 0;
		memset(hash, 0, STORE_HASH_LEN);
	} else {
		err = store_sqlite_error(store, rc, "audit head");
	}
	store_reset(stmt);
	return err;
}

int sqlite_audit_append(struct store *store, const struct store_audit_row *row,
		       const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !row || !row->bytes || row->seq == 0)
		return LIMES_E_INVAL;
	err = store->db ? store_write_begin(store) : LIMES_E_INVAL;
	if (err)
		return err;
	stmt = stmt_get(store, SQL_INSERT, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, (sqlite3_int64)row->seq) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)row->time_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int(stmt, 3, row->kind) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 4, row->bytes, (int)row->len, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 5, row->hash, STORE_HASH_LEN, SQLITE_STATIC) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit append");
	if (!err)
		err = store_step_done(store, stmt, "audit append");
	if (!err && n_ids > 0) {
		stmt = stmt_get(store, SQL_INSERT_ID, &err);
		if (!stmt)
			return err;
		bad = sqlite3_bind_blob(stmt, 1, ids, (int)(n_ids * STORE_ID_LEN), SQLITE_STATIC) != SQLITE_OK;
		bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)row->seq) != SQLITE_OK;
		bad |= sqlite3_bind_int64(stmt, 3, (sqlite3_int64)n_ids) != SQLITE_OK;
		err = store_bind_result(store, bad, "audit ids");
		if (!err)
			err = store_step_done(store, stmt, "audit ids");
	}
	return err;
}

int sqlite_audit_list(struct store *store, const struct store_audit_filter *f,
		     int (*fn)(void *arg, const struct store_audit_row *row), void *arg)
{
	int err = 0, rc, count = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !f || !fn)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, f->has_id ? SQL_LIST_MSG : SQL_LIST, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, (sqlite3_int64)f->from_seq) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)f->since_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 3, f->until_ms ? (sqlite3_int64)f->until_ms : INT64_MAX) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 4, f->limit ? (sqlite3_int64)f->limit : -1) != SQLITE_OK;
	if (f->has_id)
		bad |= sqlite3_bind_blob(stmt, 5, f->id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit list");
	if (err)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_audit_row row;
		memset(&row, 0, sizeof(row));
		row.seq = (uint64_t)sqlite3_column_int64(stmt, 0);
		row.time_ms = (uint64_t)sqlite3_column_int64(stmt, 1);
		row.kind = sqlite3_column_int(stmt, 2);
		row.bytes = sqlite3_column_blob(stmt, 3);
		row.len = (size_t)sqlite3_column_bytes(stmt, 3);
		store_copy_blob(row.hash, STORE_HASH_LEN, stmt, 4);
		row.hash_len = (size_t)sqlite3_column_bytes(stmt, 4);
		count++;
		if (fn(arg, &row))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "audit list");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_audit_checkpoint_put(struct store *store, const struct store_audit_checkpoint *cp)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !cp || !cp->body)
		return LIMES_E_INVAL;
	err = store->db ? store_write_begin(store) : LIMES_E_INVAL;
	if (err)
		return err;
	stmt = stmt_get(store, SQL_CP_INSERT, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, (sqlite3_int64)cp->seq) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)cp->time_ms) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 3, cp->head, STORE_HASH_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 4, cp->body, (int)cp->body_len, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 5, cp->sig, STORE_SIG_LEN, SQLITE_STATIC) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit checkpoint put");
	return err ? err : store_step_done(store, stmt, "audit checkpoint put");
}

int sqlite_audit_checkpoint_last(struct store *store, uint64_t *seq, uint64_t *time_ms)
{
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !seq || !time_ms)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_CP_LAST, &err);
	if (!stmt)
		return err;
	rc = sqlite3_step(stmt);
	*seq = 0;
	*time_ms = 0;
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(stmt, 0);
		*time_ms = (uint64_t)sqlite3_column_int64(stmt, 1);
	} else if (rc != SQLITE_DONE) {
		err = store_sqlite_error(store, rc, "audit checkpoint last");
	}
	store_reset(stmt);
	return err;
}

/* Reads checkpoint columns 0..4 (seq, time, head, body, sig) into a row lent to a callback. */
static void read_checkpoint(sqlite3_stmt *stmt, struct store_audit_checkpoint *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->seq = (uint64_t)sqlite3_column_int64(stmt, 0);
	cp->time_ms = (uint64_t)sqlite3_column_int64(stmt, 1);
	store_copy_blob(cp->head, STORE_HASH_LEN, stmt, 2);
	cp->body = sqlite3_column_blob(stmt, 3);
	cp->body_len = (size_t)sqlite3_column_bytes(stmt, 3);
	store_copy_blob(cp->sig, STORE_SIG_LEN, stmt, 4);
}

static int list_checkpoints(struct store *store, int which, const char *peer, uint64_t after_seq,
			    size_t limit, int (*fn)(void *arg, const struct store_audit_checkpoint *cp),
			    void *arg)
{
	int err = 0, rc, count = 0;
	bool bad = false;
	sqlite3_stmt *stmt = stmt_get(store, which, &err);

	if (!stmt)
		return err;
	if (which == SQL_CP_UNSIGNED) {
		bad |= sqlite3_bind_text(stmt, 1, peer, -1, SQLITE_STATIC) != SQLITE_OK;
		bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)after_seq) != SQLITE_OK;
		bad |= sqlite3_bind_int64(stmt, 3, limit ? (sqlite3_int64)limit : -1) != SQLITE_OK;
	} else {
		bad |= sqlite3_bind_int64(stmt, 1, (sqlite3_int64)after_seq) != SQLITE_OK;
	}
	err = store_bind_result(store, bad, "audit checkpoints");
	if (err)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_audit_checkpoint cp;
		read_checkpoint(stmt, &cp);
		count++;
		if (fn(arg, &cp))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "audit checkpoints");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_audit_checkpoints(struct store *store, uint64_t after_seq,
			    int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg)
{
	if (!store || !fn)
		return LIMES_E_INVAL;
	return list_checkpoints(store, SQL_CP_LIST, NULL, after_seq, 0, fn, arg);
}

int sqlite_audit_uncountersigned(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
				int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg)
{
	if (!store || !fn || !store_agency_ok(peer))
		return LIMES_E_INVAL;
	return list_checkpoints(store, SQL_CP_UNSIGNED, peer, after_seq, limit, fn, arg);
}

int sqlite_audit_countersig_put(struct store *store, uint64_t seq, const char *peer,
			       const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !store_agency_ok(peer) || !countersig)
		return LIMES_E_INVAL;
	err = store->db ? store_write_begin(store) : LIMES_E_INVAL;
	if (err)
		return err;
	stmt = stmt_get(store, SQL_CS_INSERT, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq) != SQLITE_OK;
	bad |= sqlite3_bind_text(stmt, 2, peer, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 3, countersig, STORE_SIG_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 4, (sqlite3_int64)time_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit countersig put");
	return err ? err : store_step_done(store, stmt, "audit countersig put");
}

int sqlite_audit_countersigs(struct store *store, uint64_t seq,
			    int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
				      uint64_t time_ms),
			    void *arg)
{
	int err = 0, rc, count = 0;
	sqlite3_stmt *stmt;

	if (!store || !fn)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_CS_LIST, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq) != SQLITE_OK,
				"audit countersigs");
	if (err)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		count++;
		if (fn(arg, (const char *)sqlite3_column_text(stmt, 0), sqlite3_column_blob(stmt, 1),
		       (size_t)sqlite3_column_bytes(stmt, 1), (uint64_t)sqlite3_column_int64(stmt, 2)))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "audit countersigs");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_audit_kept_put(struct store *store, const struct store_audit_kept *k)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !k || !store_agency_ok(k->peer) || !k->body)
		return LIMES_E_INVAL;
	err = store->db ? store_write_begin(store) : LIMES_E_INVAL;
	if (err)
		return err;
	stmt = stmt_get(store, SQL_KEPT_INSERT, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_text(stmt, 1, k->peer, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)k->seq) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 3, k->body, (int)k->body_len, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 4, k->sig, STORE_SIG_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_blob(stmt, 5, k->countersig, STORE_SIG_LEN, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 6, (sqlite3_int64)k->time_ms) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit kept put");
	return err ? err : store_step_done(store, stmt, "audit kept put");
}

/* Visits the kept rows stmt (bound) selects; count or error. */
static int kept_visit(struct store *store, sqlite3_stmt *stmt, int (*fn)(void *arg, const struct store_audit_kept *k),
		      void *arg)
{
	int err = 0, rc, count = 0;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_audit_kept k;
		memset(&k, 0, sizeof(k));
		store_copy_text(k.peer_buf, sizeof(k.peer_buf), stmt, 0);
		k.peer = k.peer_buf;
		k.seq = (uint64_t)sqlite3_column_int64(stmt, 1);
		k.body = sqlite3_column_blob(stmt, 2);
		k.body_len = (size_t)sqlite3_column_bytes(stmt, 2);
		store_copy_blob(k.sig, STORE_SIG_LEN, stmt, 3);
		store_copy_blob(k.countersig, STORE_SIG_LEN, stmt, 4);
		k.time_ms = (uint64_t)sqlite3_column_int64(stmt, 5);
		count++;
		if (fn(arg, &k))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "audit kept list");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_audit_kept_list(struct store *store, const char *peer,
			  int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	int err = 0;
	sqlite3_stmt *stmt;

	if (!store || !fn)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, peer ? SQL_KEPT_LIST : SQL_KEPT_LIST_ALL, &err);
	if (!stmt)
		return err;
	if (peer) {
		err = store_bind_result(store, sqlite3_bind_text(stmt, 1, peer, -1, SQLITE_STATIC) != SQLITE_OK,
					"audit kept list");
		if (err)
			return err;
	}
	return kept_visit(store, stmt, fn, arg);
}

int sqlite_audit_kept_latest(struct store *store, const char *peer, size_t limit,
			    int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	int err = 0;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !fn || !store_agency_ok(peer) || limit == 0)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_KEPT_LATEST, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_text(stmt, 1, peer, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)limit) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit kept latest");
	return err ? err : kept_visit(store, stmt, fn, arg);
}

int sqlite_audit_kept_body(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap,
			  size_t *len)
{
	int err = 0, rc;
	bool bad = false;
	sqlite3_stmt *stmt;

	if (!store || !store_agency_ok(peer) || !body || !len)
		return LIMES_E_INVAL;
	stmt = stmt_get(store, SQL_KEPT_GET, &err);
	if (!stmt)
		return err;
	bad |= sqlite3_bind_text(stmt, 1, peer, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)seq) != SQLITE_OK;
	err = store_bind_result(store, bad, "audit kept get");
	if (err)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
		*len = n < cap ? n : cap;
		if (*len)
			memcpy(body, sqlite3_column_blob(stmt, 0), *len);
	} else if (rc == SQLITE_DONE) {
		err = LIMES_E_NOTFOUND;
	} else {
		err = store_sqlite_error(store, rc, "audit kept get");
	}
	store_reset(stmt);
	return err;
}

int sqlite_message_client(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len)
{
	int err = 0, rc;
	sqlite3_stmt *stmt;

	if (!store || !id || !buf || len == 0)
		return LIMES_E_INVAL;
	buf[0] = '\0';
	stmt = stmt_get(store, SQL_MSG_CLIENT, &err);
	if (!stmt)
		return err;
	err = store_bind_result(store, sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC) != SQLITE_OK,
				"message client");
	if (err)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		store_copy_text(buf, len, stmt, 0);
	else if (rc == SQLITE_DONE)
		err = LIMES_E_NOTFOUND;
	else
		err = store_sqlite_error(store, rc, "message client");
	store_reset(stmt);
	return err;
}
