/*
 * Helpers shared by the store's unit and crash tests: scratch folders and
 * ready-made messages with recognisable ids.
 */
#ifndef LIMES_TEST_STORE_TESTUTIL_H
#define LIMES_TEST_STORE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Creates a fresh folder /tmp/limes-<tag>-XXXXXX into buf; 0 or -1. */
int store_test_mkdtemp(char *buf, size_t len, const char *tag);
/* Removes a folder tree; 0 or -1. */
int store_test_rmtree(const char *path);
/* Writes a recognisable id: a 32-bit major, a 32-bit minor, then 0x5A bytes. */
void store_test_id(uint8_t id[STORE_ID_LEN], uint32_t major, uint32_t minor);
/* Reads back the major and minor of an id made by store_test_id(). */
void store_test_id_parts(const uint8_t id[STORE_ID_LEN], uint32_t *major, uint32_t *minor);
/* Stages one alert with store_test_id(major, minor) and one delivery to
 * AGENCY-A via HUB whose envelope is env_len (<= 4096) bytes of one value;
 * store_outbox_put()'s result. */
int store_test_put(struct store *st, uint32_t major, uint32_t minor, size_t env_len);
/* Whether that message is in the store with its envelope. */
bool store_test_present(struct store *st, uint32_t major, uint32_t minor);

/*
 * PostgreSQL (tests/pg_throwaway.sh provides a server and names it in
 * LIMES_TEST_PG). Each test gets a schema of its own on that server.
 */
/* True when LIMES_TEST_STORE=postgres: the shared store suite runs on it. */
bool store_test_on_pg(void);
/* Creates a fresh schema named after tag and the pid, writes a conninfo
 * whose sessions use it (application_name = the schema name) into conninfo
 * and the name into schema; 0, or -1 with the reason on stderr (also when
 * LIMES_TEST_PG is unset). */
int store_test_pg_create(const char *tag, char *conninfo, size_t conninfo_len, char *schema,
			 size_t schema_len);
/* Drops the schema and everything in it; 0 or -1. */
int store_test_pg_drop(const char *schema);
/* Runs sql (one or more statements) in `schema` as the server's superuser
 * (so it can do what the agent's triggers refuse: a tamperer with the
 * database); the first value of the last result into out (may be NULL).
 * 0, or -1 with the reason on stderr. */
int store_test_pg_sql(const char *schema, const char *sql, char *out, size_t out_len);
/* Ends every session whose application_name is `schema` (a lost database
 * session, as seen by the store); the number ended, or -1. */
int store_test_pg_kill_sessions(const char *schema);

#endif
