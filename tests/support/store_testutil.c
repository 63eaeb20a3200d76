/* Scratch folders and recognisable ids for the store tests. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "support/store_testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>
#include <unistd.h>

int store_test_mkdtemp(char *buf, size_t len, const char *tag)
{
	if ((size_t)snprintf(buf, len, "/tmp/limes-%s-XXXXXX", tag) >= len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int store_test_rmtree(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void store_test_id(uint8_t id[STORE_ID_LEN], uint32_t major, uint32_t minor)
{
	memset(id, 0x5a, STORE_ID_LEN);
	put_u32(id, major);
	put_u32(id + 4, minor);
}

void store_test_id_parts(const uint8_t id[STORE_ID_LEN], uint32_t *major, uint32_t *minor)
{
	*major = get_u32(id);
	*minor = get_u32(id + 4);
}

bool store_test_on_pg(void)
{
	const char *backend = getenv("LIMES_TEST_STORE");

	return backend && strcmp(backend, "postgres") == 0;
}

/* Runs sql on the admin connection (in `schema` when not NULL); the number
 * of rows into *tuples and the first value into out (either may be NULL).
 * 0 or -1 (reason on stderr). */
static int admin_exec_in(const char *schema, const char *sql, int *tuples_value, char *out, size_t out_len)
{
	const char *base = getenv("LIMES_TEST_PG");
	char search[160];
	PGconn *conn;
	PGresult *res;
	int rc = 0;

	if (!base || !*base) {
		fprintf(stderr, "LIMES_TEST_PG is not set: run through tests/pg_throwaway.sh run\n");
		return -1;
	}
	conn = PQconnectdb(base);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to %s: %s", base, PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	PQclear(PQexec(conn, "SET client_min_messages = warning")); /* no NOTICE per dropped table */
	if (schema) {
		snprintf(search, sizeof(search), "SET search_path = %s", schema);
		PQclear(PQexec(conn, search));
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		rc = -1;
	} else {
		if (tuples_value)
			*tuples_value = PQntuples(res);
		if (out && out_len)
			snprintf(out, out_len, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int admin_exec(const char *sql, int *tuples_value)
{
	return admin_exec_in(NULL, sql, tuples_value, NULL, 0);
}

int store_test_pg_create(const char *tag, char *conninfo, size_t conninfo_len, char *schema,
			 size_t schema_len)
{
	static unsigned counter;
	const char *base = getenv("LIMES_TEST_PG");
	char sql[128];

	if (!base || !*base) {
		fprintf(stderr, "LIMES_TEST_PG is not set: run through tests/pg_throwaway.sh run\n");
		return -1;
	}
	snprintf(schema, schema_len, "t_%s_%ld_%u", tag, (long)getpid(), counter++);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
	if (admin_exec(sql, NULL) < 0)
		return -1;
	if ((size_t)snprintf(conninfo, conninfo_len, "%s application_name=%s options='-csearch_path=%s'",
			     base, schema, schema) >= conninfo_len)
		return -1;
	return 0;
}

int store_test_pg_drop(const char *schema)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
	return admin_exec(sql, NULL);
}

int store_test_pg_kill_sessions(const char *schema)
{
	char sql[256];
	int n = 0;

	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = '%s'",
		 schema);
	return admin_exec(sql, &n) < 0 ? -1 : n;
}

int store_test_pg_sql(const char *schema, const char *sql, char *out, size_t out_len)
{
	return admin_exec_in(schema, sql, NULL, out, out_len);
}

int store_test_put(struct store *st, uint32_t major, uint32_t minor, size_t env_len)
{
	static uint8_t env[4096];
	struct store_message msg = { .type = 1, .created_ms = 1000, .expires_ms = 1000 + 3600000 };
	struct store_delivery d = { "AGENCY-A", "HUB", env, env_len <= sizeof(env) ? env_len : sizeof(env) };

	memset(env, (int)(major + minor), sizeof(env));
	store_test_id(msg.id, major, minor);
	return store_outbox_put(st, &msg, &d, 1);
}

static int count_enveloped(void *arg, const struct store_delivery_row *row)
{
	int *n = arg;
	(*n) += row->envelope_len > 0;
	return 0;
}

bool store_test_present(struct store *st, uint32_t major, uint32_t minor)
{
	uint8_t id[STORE_ID_LEN];
	int n = 0;

	store_test_id(id, major, minor);
	return store_message_get(st, id, count_enveloped, &n) == 0 && n == 1;
}
