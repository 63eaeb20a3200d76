/*
 * The PostgreSQL backend's core: connecting (session settings that keep
 * the durability rule and bound how long a dead peer goes unnoticed),
 * schema and migrations, the statement helpers, transactions and marks, the
 * health state, the agency's advisory lock (high availability) and the
 * backend's table of operations. Outbox operations and their SQL live in
 * pg_outbox.c, inbox and seen-set operations and theirs in pg_inbox.c.
 *
 * Durability: synchronous_commit is at least "on" for the session, so a
 * COMMIT that returned is flushed on the server (and on its synchronous
 * standbys when the operator configured them). A COMMIT whose answer never
 * came (connection lost) has an unknown outcome: the store turns unhealthy
 * and nothing of that turn is acknowledged, as after a failed fsync.
 */
#include "pg_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "proto/err.h"

/* Serialises migrations when several nodes start at once. */
#define PG_MIGRATION_LOCK 0x6c696d6573L /* "limes" */

/* Schema version 1: the concepts of the SQLite schema (docs/store.md), with
 * bigserial keys for the integer sequences SQLite gives as rowids. */
static const char schema_v1[] =
	"CREATE TABLE messages ("
	" seq bigserial PRIMARY KEY,"
	" id bytea NOT NULL UNIQUE,"
	" type bigint NOT NULL,"
	" priority bigint NOT NULL,"
	" created_ms bigint NOT NULL,"
	" expires_ms bigint NOT NULL,"
	" ref bytea,"
	" client text,"
	" idempotency_key text);"
	"CREATE UNIQUE INDEX messages_idempotency ON messages(client, idempotency_key)"
	" WHERE idempotency_key IS NOT NULL;"
	"CREATE TABLE deliveries ("
	" dseq bigserial NOT NULL,"  /* insertion order, SQLite's rowid */
	" msg bigint NOT NULL,"
	" recipient text NOT NULL,"
	" message_id bytea NOT NULL,"
	" next_hop text NOT NULL,"
	" state bigint NOT NULL,"
	" type bigint NOT NULL,"
	" priority bigint NOT NULL,"
	" created_ms bigint NOT NULL,"
	" expires_ms bigint NOT NULL,"
	" attempts bigint NOT NULL DEFAULT 0,"
	" sent_ms bigint NOT NULL DEFAULT 0,"
	" next_attempt_ms bigint NOT NULL DEFAULT 0,"
	" done_ms bigint NOT NULL DEFAULT 0,"
	" reason bigint NOT NULL DEFAULT 0,"
	" detail text NOT NULL DEFAULT '',"
	" receipt_id bigint,"
	" envelope bytea NOT NULL,"
	" PRIMARY KEY (msg, recipient));"
	"CREATE INDEX deliveries_by_id ON deliveries(message_id);"
	"CREATE TABLE receipts ("
	" id bigserial PRIMARY KEY,"
	" bytes bytea NOT NULL);"
	"CREATE INDEX deliveries_queued ON deliveries(next_hop, priority DESC, created_ms, dseq)"
	" WHERE state = 0;"
	"CREATE INDEX deliveries_sent ON deliveries(next_hop, next_attempt_ms) WHERE state = 1;"
	"CREATE INDEX deliveries_expiry ON deliveries(expires_ms) WHERE state IN (0, 1);"
	"CREATE INDEX deliveries_done ON deliveries(done_ms) WHERE state IN (2, 3, 4);"
	"CREATE TABLE inbox ("
	" cursor bigserial PRIMARY KEY,"
	" message_id bytea NOT NULL,"
	" sender text NOT NULL,"
	" type bigint NOT NULL,"
	" priority bigint NOT NULL,"
	" created_ms bigint NOT NULL,"
	" expires_ms bigint NOT NULL,"
	" received_ms bigint NOT NULL,"
	" ref bytea,"
	" envelope_hash bytea NOT NULL,"
	" envelope bytea NOT NULL);"
	"CREATE INDEX inbox_received ON inbox(received_ms);"
	"CREATE TABLE seen ("
	" message_id bytea PRIMARY KEY,"
	" sender text NOT NULL,"
	" envelope_hash bytea NOT NULL,"
	" status bigint NOT NULL,"
	" reason bigint NOT NULL,"
	" received_ms bigint NOT NULL,"
	" forget_after_ms bigint NOT NULL);"
	"CREATE INDEX seen_forget ON seen(forget_after_ms);"
	/* which node of the agency is active, for standbys to name it */
	"CREATE TABLE ha_active ("
	" agency text PRIMARY KEY,"
	" node text NOT NULL,"
	" api text NOT NULL,"
	" since_ms bigint NOT NULL);";

/* migrations[v] brings a database from limes_schema.version v to v + 1;
 * the numbers follow the SQLite schema's (2: cases, 3: the audit trail,
 * 4: key rotation, 5: the envelope out of the deliveries row, SQLite's 6;
 * 6: the notes of our own rotation, SQLite's 7). */
static const char *const migrations[] = { schema_v1, pg_cases_schema, pg_audit_schema, pg_keys_schema,
					  pg_outbox_v5_schema, pg_key_notes_schema };
#define PG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum {
	SQL_HA_LOCK,
	SQL_HA_RECORD,
	SQL_HA_GET,
	SQL_HA_HELD,
	SQL_PING,
	SQL_COUNT_
};

static const char *const sql_text[SQL_COUNT_] = {
	/* the key names the schema and the agency: agencies (or test runs)
	 * sharing one database never contend */
	[SQL_HA_LOCK] =
		"SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/' || $1, 0))",
	[SQL_HA_RECORD] =
		"INSERT INTO ha_active(agency, node, api, since_ms) VALUES ($1, $2, $3,"
		" (extract(epoch FROM clock_timestamp()) * 1000)::bigint)"
		" ON CONFLICT (agency) DO UPDATE SET node = excluded.node, api = excluded.api,"
		" since_ms = excluded.since_ms",
	[SQL_HA_GET] = "SELECT node, api FROM ha_active WHERE agency = $1",
	/* the lock is the session's: it goes only with the session (or an
	 * unlock we never send), so holding it is one look at pg_locks */
	[SQL_HA_HELD] =
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
		" AND pid = pg_backend_pid() AND objid = (hashtextextended(current_schema() || '/' || $1, 0) & 4294967295)::oid",
	[SQL_PING] = "SELECT 1",
};

static const struct pg_queries queries = { PG_FILE_CORE, SQL_COUNT_, sql_text };

/* --- parameters and columns --- */

void pg_param_i64(struct pg_params *p, int64_t v)
{
	int i = p->n++;

	snprintf(p->num[i], sizeof(p->num[i]), "%lld", (long long)v);
	p->value[i] = p->num[i];
	p->length[i] = 0;
	p->format[i] = 0;
}

void pg_param_text(struct pg_params *p, const char *s)
{
	int i = p->n++;

	p->value[i] = s;
	p->length[i] = 0;
	p->format[i] = 0;
}

void pg_param_bytes(struct pg_params *p, const void *data, size_t len)
{
	int i = p->n++;

	p->value[i] = data;
	p->length[i] = data ? (int)len : 0;
	p->format[i] = 1;
}

int64_t pg_i64(const PGresult *res, int row, int col)
{
	const unsigned char *v;
	int len;
	uint64_t x = 0;

	if (PQgetisnull(res, row, col))
		return 0;
	v = (const unsigned char *)PQgetvalue(res, row, col);
	len = PQgetlength(res, row, col);
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return 0;
	/* big-endian two's complement of 1, 2, 4 or 8 bytes: sign-extend */
	if (len < 8 && (v[0] & 0x80))
		x = ~(uint64_t)0;
	for (int i = 0; i < len; i++)
		x = x << 8 | v[i];
	return (int64_t)x;
}

const uint8_t *pg_bytes(const PGresult *res, int row, int col, size_t *len)
{
	if (PQgetisnull(res, row, col)) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)PQgetlength(res, row, col);
	return (const uint8_t *)PQgetvalue(res, row, col);
}

void pg_copy_text(char *dst, size_t dst_len, const PGresult *res, int row, int col)
{
	size_t len = PQgetisnull(res, row, col) ? 0 : (size_t)PQgetlength(res, row, col);

	if (len >= dst_len)
		len = dst_len - 1;
	if (len)
		memcpy(dst, PQgetvalue(res, row, col), len);
	dst[len] = '\0';
}

void pg_copy_bytes(uint8_t *dst, size_t dst_len, const PGresult *res, int row, int col)
{
	size_t len = 0;
	const uint8_t *b = pg_bytes(res, row, col, &len);

	memset(dst, 0, dst_len);
	if (b)
		memcpy(dst, b, len < dst_len ? len : dst_len);
}

bool pg_agency_ok(const char *s)
{
	size_t len;

	if (!s)
		return false;
	len = strnlen(s, STORE_AGENCY_MAX + 1);
	return len > 0 && len <= STORE_AGENCY_MAX;
}

/* --- errors --- */

/* Maps a SQLSTATE to a Limes error; *fatal when the store must stop
 * writing for good (connection gone, disk full, corruption). */
static int limes_code(const char *state, bool *fatal)
{
	*fatal = false;
	if (!state)
		return LIMES_E_IO;
	if (!strcmp(state, "23505") || !strcmp(state, "23P01"))
		return LIMES_E_EXISTS;
	if (!strcmp(state, "53100")) {
		*fatal = true;
		return LIMES_E_STORE_FULL;
	}
	if (!strcmp(state, "XX001") || !strcmp(state, "XX002")) {
		*fatal = true;
		return LIMES_E_STORE_CORRUPT;
	}
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strcmp(state, "58030")) {
		*fatal = true;
		return LIMES_E_STORE_FAILED;
	}
	if (!strcmp(state, "53200"))
		return LIMES_E_NOMEM;
	if (!strcmp(state, "54000"))
		return LIMES_E_TOOBIG;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
		return LIMES_E_AGAIN;
	return LIMES_E_IO;
}

/* The store stops for good: the transaction (if the session still has one)
 * is rolled back and nothing staged survives. */
static void fail(struct store *store, int code, const char *reason)
{
	store_set_failed(store, code, reason);
	if (store->pg && PQstatus(store->pg) == CONNECTION_OK &&
	    PQtransactionStatus(store->pg) != PQTRANS_IDLE) {
		PGresult *res = PQexec(store->pg, "ROLLBACK");

		PQclear(res);
	}
	store->pg_in_tx = false;
	store->pg_mark = false;
}

/* Turns a failed result (or none) into a Limes error and the health state. */
static int result_error(struct store *store, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	bool fatal = false;
	int code = limes_code(state, &fatal);
	char reason[sizeof(store->reason)];

	if (PQstatus(store->pg) != CONNECTION_OK) {
		fatal = true;
		code = LIMES_E_STORE_FAILED;
	}
	if (fatal) {
		const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(store->pg);

		snprintf(reason, sizeof(reason), "%s failed: %.*s", what,
			 (int)strcspn(msg, "\n"), msg);
		fail(store, code, reason);
		return store->fail_code;
	}
	if (code != LIMES_E_EXISTS)
		log_warn("store %s failed: sqlstate=%s %.*s", what, state ? state : "?",
			 (int)strcspn(res ? PQresultErrorMessage(res) : "", "\n"),
			 res ? PQresultErrorMessage(res) : "");
	return code;
}

PGresult *pg_exec(struct store *store, const struct pg_queries *q, int which,
		  const struct pg_params *p, int *err, const char *what)
{
	static const char files[] = "cobazkr"; /* enum pg_file, one letter each */
	_Static_assert(sizeof(files) - 1 == PG_FILE_RESEND + 1, "a letter for every pg file");
	char name[16];
	uint32_t bit;
	PGresult *res;
	ExecStatusType st;

	if (which < 0 || which >= q->count || which >= 32) {
		log_error("store query %d of pg file %d out of range", which, (int)q->file);
		*err = LIMES_E_INVAL;
		return NULL;
	}
	bit = 1u << which;
	snprintf(name, sizeof(name), "limes_%c%d", files[q->file], which);
	if (!(store->pg_prepared[q->file] & bit)) {
		res = PQprepare(store->pg, name, q->sql[which], 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			log_error("store prepare failed: %s sql=\"%s\"", PQresultErrorMessage(res),
				  q->sql[which]);
			*err = result_error(store, res, "prepare");
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		store->pg_prepared[q->file] |= bit;
	}
	res = PQexecPrepared(store->pg, name, p ? p->n : 0, p ? p->value : NULL,
			     p ? p->length : NULL, p ? p->format : NULL, 1);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	*err = result_error(store, res, what);
	PQclear(res);
	return NULL;
}

int pg_exec_done(struct store *store, const struct pg_queries *q, int which,
		 const struct pg_params *p, int *changed, const char *what)
{
	int err = 0;
	PGresult *res = pg_exec(store, q, which, p, &err, what);

	if (!res)
		return err;
	if (changed) {
		/* "" for a command that reports no count; otherwise decimal digits */
		const char *text = PQcmdTuples(res);
		char *end = NULL;
		long n = strtol(text, &end, 10);
		if (text[0] && (*end != '\0' || n < 0 || n > INT32_MAX)) {
			PQclear(res);
			return LIMES_E_INTERNAL;
		}
		*changed = text[0] ? (int)n : 0;
	}
	PQclear(res);
	return 0;
}

int pg_exec_plain(struct store *store, const char *sql, const char *what)
{
	PGresult *res = PQexec(store->pg, sql);
	int err = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		err = result_error(store, res, what);
		if (!err)
			err = LIMES_E_IO;
	}
	PQclear(res);
	return err;
}

/* --- transactions --- */

static int pg_begin(struct store *store)
{
	int err;

	if (!store->healthy)
		return store->fail_code;
	if (store->pg_in_tx)
		return 0;
	err = pg_exec_plain(store, "BEGIN", "begin");
	if (!err)
		store->pg_in_tx = true;
	return err;
}

int pg_write_begin(struct store *store)
{
	return pg_begin(store);
}

static void pg_rollback(struct store *store)
{
	if (!store->pg_in_tx)
		return;
	store->pg_in_tx = false;
	store->pg_mark = false;
	/* Abandoned writes must never be committed: if even ROLLBACK fails
	 * the session is unusable and the store stops. */
	if (pg_exec_plain(store, "ROLLBACK", "rollback") != 0 && store->healthy)
		fail(store, LIMES_E_STORE_FAILED, "rollback failed");
}

static int pg_commit(struct store *store)
{
	PGresult *res;
	int err = 0;

	if (!store->healthy)
		return store->fail_code;
	if (!store->pg_in_tx)
		return 0;
	/* A statement failed in this transaction: PostgreSQL aborted it whole
	 * (a COMMIT would answer ROLLBACK). Nothing of it is durable. */
	if (PQtransactionStatus(store->pg) == PQTRANS_INERROR) {
		pg_rollback(store);
		return LIMES_E_IO;
	}
	res = PQexec(store->pg, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		/* No answer to a COMMIT: it may or may not have happened. The
		 * store stops (never acknowledge what may be lost; what did
		 * commit is found again by whoever takes over). */
		err = result_error(store, res, "commit");
		if (store->healthy)
			fail(store, LIMES_E_STORE_FAILED, "commit failed: outcome unknown");
		err = store->fail_code;
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		err = LIMES_E_IO; /* the server rolled it back */
	}
	PQclear(res);
	store->pg_in_tx = false;
	store->pg_mark = false;
	return err;
}

static bool pg_in_transaction(const struct store *store)
{
	return store->pg_in_tx;
}

static int pg_mark(struct store *store)
{
	int err = pg_write_begin(store);

	if (!err)
		err = pg_exec_plain(store, "SAVEPOINT request", "savepoint");
	if (!err)
		store->pg_mark = true;
	return err;
}

static int pg_mark_keep(struct store *store)
{
	if (!store->pg_in_tx || !store->pg_mark)
		return LIMES_E_INVAL;
	store->pg_mark = false;
	return pg_exec_plain(store, "RELEASE request", "release savepoint");
}

static void pg_mark_undo(struct store *store)
{
	if (!store->pg_in_tx || !store->pg_mark)
		return;
	store->pg_mark = false;
	/* ROLLBACK TO also clears an aborted state: what others staged before
	 * the mark survives. If it fails, nothing may ever commit. */
	if (pg_exec_plain(store, "ROLLBACK TO request", "rollback to savepoint") != 0) {
		if (store->healthy)
			fail(store, LIMES_E_STORE_FAILED, "undo to a mark failed");
		return;
	}
	if (pg_exec_plain(store, "RELEASE request", "release savepoint") != 0)
		log_warn("store release after undo failed");
}

static int pg_purge(struct store *store, uint64_t now_ms, uint64_t retention_ms)
{
	uint64_t cut = now_ms > retention_ms ? now_ms - retention_ms : 0;
	int err = pg_write_begin(store);

	if (!err)
		err = pg_inbox_purge(store, now_ms, cut);
	if (!err)
		err = pg_outbox_purge(store, cut);
	return err;
}

static int pg_check(struct store *store, bool full)
{
	/* The server checks its own pages (data checksums when initdb -k);
	 * here: the session answers and the schema is ours and current. */
	PGresult *res = PQexec(store->pg, full ? "SELECT count(*) FROM messages, limes_schema"
						: "SELECT version FROM limes_schema");
	int err = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		err = result_error(store, res, "check");
	PQclear(res);
	return err ? err : 0;
}

/* --- high availability --- */

static int pg_ha_try_active(struct store *store, const char *node, const char *api)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;
	bool got;

	if (!node || !api || store->pg_in_tx)
		return LIMES_E_INVAL;
	if (!store->healthy)
		return store->fail_code;
	if (store->pg_ha_active)
		return 1;
	pg_param_text(&p, store->pg_agency);
	res = pg_exec(store, &queries, SQL_HA_LOCK, &p, &err, "active lock");
	if (!res)
		return err;
	got = PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 1 && PQgetvalue(res, 0, 0)[0];
	PQclear(res);
	if (!got)
		return 0;
	store->pg_ha_active = true;
	memset(&p, 0, sizeof(p));
	pg_param_text(&p, store->pg_agency);
	pg_param_text(&p, node);
	pg_param_text(&p, api);
	/* outside any transaction: committed by itself */
	err = pg_exec_done(store, &queries, SQL_HA_RECORD, &p, NULL, "record active node");
	return err ? err : 1;
}

static int pg_ha_active_node(struct store *store, char *node, size_t node_len, char *api,
			     size_t api_len)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	pg_param_text(&p, store->pg_agency);
	res = pg_exec(store, &queries, SQL_HA_GET, &p, &err, "active node");
	if (!res)
		return err;
	if (PQntuples(res) == 1) {
		if (node && node_len)
			pg_copy_text(node, node_len, res, 0, 0);
		if (api && api_len)
			pg_copy_text(api, api_len, res, 0, 1);
	} else {
		err = LIMES_E_NOTFOUND;
	}
	PQclear(res);
	return err;
}

static int pg_ping(struct store *store)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0;

	if (!store->healthy)
		return store->fail_code;
	if (!store->pg_ha_active)
		return pg_exec_done(store, &queries, SQL_PING, NULL, NULL, "ping");
	pg_param_text(&p, store->pg_agency);
	res = pg_exec(store, &queries, SQL_HA_HELD, &p, &err, "ping");
	if (!res)
		return err;
	if (PQntuples(res) != 1 || pg_i64(res, 0, 0) < 1)
		fail(store, LIMES_E_STORE_FAILED, "the session no longer holds the active lock");
	PQclear(res);
	return store->healthy ? 0 : store->fail_code;
}

/* --- open, migrate, close --- */

static void pg_close(struct store *store)
{
	if (!store->pg)
		return;
	/* The server rolls back an open transaction when the session ends
	 * and releases the session's advisory lock. */
	PQfinish(store->pg);
	store->pg = NULL;
	store->pg_in_tx = false;
}

/* One-row, one-column text query into out; 0 or a Limes error. */
static int query_text(struct store *store, const char *sql, char *out, size_t out_len)
{
	PGresult *res = PQexec(store->pg, sql);
	int err = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		err = result_error(store, res, sql);
	} else if (PQntuples(res) != 1) {
		err = LIMES_E_NOTFOUND;
	} else {
		snprintf(out, out_len, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return err;
}

static int migrate(struct store *store)
{
	char text[32], sql[96];
	long version;
	int err;

	err = pg_exec_plain(store, "BEGIN", "migrate");
	if (err)
		return err;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%ld)", PG_MIGRATION_LOCK);
	err = pg_exec_plain(store, sql, "migrate");
	if (!err)
		err = pg_exec_plain(store, "CREATE TABLE IF NOT EXISTS limes_schema (version integer NOT NULL)",
				    "migrate");
	if (!err) {
		err = query_text(store, "SELECT version FROM limes_schema", text, sizeof(text));
		if (err == LIMES_E_NOTFOUND) {
			err = pg_exec_plain(store, "INSERT INTO limes_schema VALUES (0)", "migrate");
			snprintf(text, sizeof(text), "0");
		}
	}
	if (err)
		goto out;
	version = strtol(text, NULL, 10);
	if (version > PG_SCHEMA_VERSION) {
		log_error("store schema version %ld is newer than this Limes (%d)", version,
			  PG_SCHEMA_VERSION);
		err = LIMES_E_STORE_CORRUPT;
		goto out;
	}
	for (; !err && version < PG_SCHEMA_VERSION; version++) {
		err = pg_exec_plain(store, migrations[version], "migrate");
		snprintf(sql, sizeof(sql), "UPDATE limes_schema SET version = %ld", version + 1);
		if (!err)
			err = pg_exec_plain(store, sql, "migrate");
		if (!err)
			log_info("store schema migrated to version %ld backend=postgres", version + 1);
	}
	if (!err)
		err = pg_exec_plain(store, "COMMIT", "migrate");
out:
	if (err && store->pg && PQstatus(store->pg) == CONNECTION_OK)
		PQclear(PQexec(store->pg, "ROLLBACK"));
	return err;
}

/* Session settings: the durability rule, and timeouts that bound how long a
 * dead client or server goes unnoticed (docs/availability.md). */
static int configure(struct store *store)
{
	char sync[32];
	int err;

	err = pg_exec_plain(store, "SET client_min_messages = warning", "configure");
	if (!err)
		err = query_text(store, "SHOW synchronous_commit", sync, sizeof(sync));
	if (err)
		return err;
	/* "on" flushes the WAL (and waits for synchronous standbys);
	 * "remote_apply" is stronger still: keep it. Anything weaker is raised. */
	if (strcmp(sync, "on") != 0 && strcmp(sync, "remote_apply") != 0) {
		log_warn("store synchronous_commit was %s: setting on (acknowledge only what is flushed)",
			 sync);
		err = pg_exec_plain(store, "SET synchronous_commit = on", "configure");
		if (err)
			return err;
	}
	/* The server side of the socket: a node that vanished without closing
	 * its connection is noticed (and its lock released) within about
	 * tcp_user_timeout. Ignored on a Unix socket, where the kernel knows. */
	return pg_exec_plain(store,
			     "SET tcp_keepalives_idle = 3; SET tcp_keepalives_interval = 1;"
			     " SET tcp_keepalives_count = 3; SET tcp_user_timeout = 6000;"
			     " SET client_connection_check_interval = 1000;"
			     " SET idle_in_transaction_session_timeout = 10000;"
			     " SET lock_timeout = 5000; SET statement_timeout = 30000",
			     "configure");
}

/* True for a schema name we put into SQL as is: [a-z0-9_], 1..48, not
 * starting with a digit or "pg_". */
static bool schema_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 48 || (s[0] >= '0' && s[0] <= '9') || strncmp(s, "pg_", 3) == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int use_schema(struct store *store, const char *schema)
{
	char sql[160];
	int err;

	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", schema);
	err = pg_exec_plain(store, sql, "create schema");
	snprintf(sql, sizeof(sql), "SET search_path = %s", schema);
	return err ? err : pg_exec_plain(store, sql, "set schema");
}

static struct store *open_pg(const char *conninfo, const char *agency, const char *schema, bool reader,
			     int *err);

struct store *store_open_pg(const char *conninfo, const char *agency, int *err)
{
	return store_open_pg_schema(conninfo, agency, NULL, err);
}

/* A tool's view of an existing store: a read-only session on one snapshot
 * (what a running agent commits meanwhile is not seen), no schema created,
 * no migration. 0, LIMES_E_NOENT when there is no Limes store, or an error. */
static int open_reader(struct store *store, const char *schema)
{
	char sql[160], text[32];
	PGresult *res;
	int err;

	err = pg_exec_plain(store, "SET client_min_messages = warning; SET default_transaction_read_only = on",
			    "configure");
	if (!err && schema) {
		snprintf(sql, sizeof(sql), "SET search_path = %s", schema);
		err = pg_exec_plain(store, sql, "set schema");
	}
	if (!err)
		err = pg_exec_plain(store, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin snapshot");
	if (err)
		return err;
	store->pg_in_tx = true;
	/* The snapshot is taken by the transaction's first query, this one;
	 * asked directly: a missing table is an answer here, not a warning. */
	res = PQexec(store->pg, "SELECT version FROM limes_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		err = PQresultStatus(res) == PGRES_TUPLES_OK || (state && !strcmp(state, "42P01"))
			      ? LIMES_E_NOENT
			      : result_error(store, res, "read schema version");
		PQclear(res);
		return err ? err : LIMES_E_IO;
	}
	snprintf(text, sizeof(text), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (strtol(text, NULL, 10) > PG_SCHEMA_VERSION) {
		log_error("store schema version %s is newer than this Limes (%d)", text, PG_SCHEMA_VERSION);
		return LIMES_E_STORE_CORRUPT;
	}
	return 0;
}

struct store *store_open_pg_schema(const char *conninfo, const char *agency, const char *schema,
				   int *err)
{
	return open_pg(conninfo, agency, schema, false, err);
}

struct store *store_open_pg_reader(const char *conninfo, const char *agency, const char *schema, int *err)
{
	return open_pg(conninfo, agency, schema, true, err);
}

static struct store *open_pg(const char *conninfo, const char *agency, const char *schema, bool reader,
			     int *err)
{
	/* libpq's own side of the same bounds; conninfo (last, expanded)
	 * overrides any of them. */
	static const char *const keys[] = {
		"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "application_name", "dbname", NULL,
	};
	const char *values[] = { "5", "1", "3", "1", "3", "6000", "limes", conninfo, NULL };
	struct store *store = NULL;
	int e = 0;

	if (!conninfo || !pg_agency_ok(agency) || (schema && !schema_ok(schema))) {
		e = LIMES_E_INVAL;
		goto out;
	}
	store = calloc(1, sizeof(*store));
	if (!store) {
		e = LIMES_E_NOMEM;
		goto out;
	}
	store->ops = &store_pg_ops;
	store->healthy = true;
	snprintf(store->pg_agency, sizeof(store->pg_agency), "%s", agency);
	store->pg = PQconnectdbParams(keys, values, 1);
	if (!store->pg || PQstatus(store->pg) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password */
		log_error("store cannot connect to PostgreSQL: %.*s",
			  store->pg ? (int)strcspn(PQerrorMessage(store->pg), "\n") : 14,
			  store->pg ? PQerrorMessage(store->pg) : "out of memory");
		e = LIMES_E_STORE_FAILED;
		goto out;
	}
	if (reader) {
		e = open_reader(store, schema);
		goto out;
	}
	e = configure(store);
	if (!e && schema)
		e = use_schema(store, schema);
	if (!e)
		e = migrate(store);
	if (!e && !store->healthy)
		e = store->fail_code;
out:
	if (e) {
		store_destroy(&store);
		if (err)
			*err = e;
		return NULL;
	}
	if (err)
		*err = 0;
	return store;
}

const struct store_ops store_pg_ops = {
	.name = "postgres",
	.close = pg_close,
	.check = pg_check,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.in_transaction = pg_in_transaction,
	.mark = pg_mark,
	.mark_keep = pg_mark_keep,
	.mark_undo = pg_mark_undo,
	.outbox_put = pg_outbox_put,
	.outbox_add_delivery = pg_outbox_add_delivery,
	.idempotency_get = pg_idempotency_get,
	.outbox_due = pg_outbox_due,
	.delivery_sent = pg_delivery_sent,
	.delivery_reset_hop = pg_delivery_reset_hop,
	.receipt_put = pg_receipt_put,
	.delivery_done = pg_delivery_done,
	.deliveries_sent = pg_deliveries_sent,
	.deliveries_delivered = pg_deliveries_delivered,
	.expire_due = pg_expire_due,
	.expire = pg_expire,
	.delivery_requeue = pg_delivery_requeue,
	.delivered_since = pg_delivered_since,
	.message_get = pg_message_get,
	.outbox_stats = pg_outbox_stats,
	.outbox_stats_recipient = pg_outbox_stats_recipient,
	.delivery_list = pg_delivery_list,
	.delivery_reseal = pg_delivery_reseal,
	.delivery_readdress = pg_delivery_readdress,
	.seen_get = pg_seen_get,
	.inbox_put = pg_inbox_put,
	.seen_put = pg_seen_put,
	.seen_forget = pg_seen_forget,
	.inbox_list = pg_inbox_list,
	.purge = pg_purge,
	.case_get = pg_case_get,
	.case_children = pg_case_children,
	.purge_bodies = pg_purge_bodies,
	.audit_head = pg_audit_head,
	.audit_append = pg_audit_append,
	.audit_list = pg_audit_list,
	.audit_checkpoint_put = pg_audit_checkpoint_put,
	.audit_checkpoint_last = pg_audit_checkpoint_last,
	.audit_checkpoints = pg_audit_checkpoints,
	.audit_uncountersigned = pg_audit_uncountersigned,
	.audit_countersig_put = pg_audit_countersig_put,
	.audit_countersigs = pg_audit_countersigs,
	.audit_kept_put = pg_audit_kept_put,
	.audit_kept_list = pg_audit_kept_list,
	.audit_kept_latest = pg_audit_kept_latest,
	.audit_kept_body = pg_audit_kept_body,
	.message_client = pg_message_client,
	.key_put = pg_key_put,
	.key_list = pg_key_list,
	.key_note_put = pg_key_note_put,
	.key_note_delete = pg_key_note_delete,
	.key_note_list = pg_key_note_list,
	.ha_try_active = pg_ha_try_active,
	.ha_active_node = pg_ha_active_node,
	.ping = pg_ping,
};
