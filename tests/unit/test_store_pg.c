/*
 * Unit tests of what only the store's PostgreSQL backend has: a lost
 * database session (the store stops writing, only what committed is
 * there), the agency's advisory lock that makes one node active
 * (docs/availability.md), and several nodes opening one database. The
 * operations themselves are tested by test_store.c run on PostgreSQL
 * (ctest: unit.test_store_on_postgres). Needs LIMES_TEST_PG (ctest runs it
 * through tests/pg_throwaway.sh).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"
#include "support/store_v5fixture.h"

static char conninfo[1024], schema[96];
static struct store *st;

static void setup(void)
{
	int err = -1;

	cr_assert(eq(int, store_test_pg_create("pg", conninfo, sizeof(conninfo), schema,
					       sizeof(schema)), 0));
	st = store_open_pg(conninfo, "AGENCY-A", &err);
	cr_assert(eq(int, err, 0));
	cr_assert(not(eq(ptr, st, NULL)));
}

static void teardown(void)
{
	store_destroy(&st);
	cr_assert(eq(int, store_test_pg_drop(schema), 0));
}

TestSuite(store_pg, .init = setup, .fini = teardown, .timeout = 60);

static const uint8_t envelope[] = "sealed envelope";

static int put(struct store *s, uint32_t major, uint32_t minor)
{
	struct store_message msg = { .type = 1, .created_ms = 1000, .expires_ms = 999999 };
	struct store_delivery d = { "AGENCY-B", "AGENCY-B", envelope, sizeof(envelope) };

	store_test_id(msg.id, major, minor);
	return store_outbox_put(s, &msg, &d, 1);
}

static int count_row(void *arg, const struct store_delivery_row *row)
{
	(*(int *)arg)++;
	return 0;
}

static int exists(struct store *s, uint32_t major, uint32_t minor)
{
	uint8_t id[STORE_ID_LEN];
	int n = 0;

	store_test_id(id, major, minor);
	return store_message_get(s, id, count_row, &n);
}

/* Polls store_ha_try_active() every 50 ms for up to ms: its last answer. */
static int try_active_within(struct store *s, const char *node, int ms)
{
	int rc = 0;

	for (int waited = 0; waited <= ms; waited += 50) {
		rc = store_ha_try_active(s, node, "127.0.0.1:7482");
		if (rc != 0)
			break;
		usleep(50 * 1000);
	}
	return rc;
}

Test(store_pg, lost_session_before_commit_stops_the_store_and_keeps_only_committed)
{
	int err = -1;
	uint64_t queued = 0;

	for (uint32_t i = 0; i < 10; i++)
		cr_assert(eq(int, put(st, 1, i), 0));
	cr_assert(eq(int, store_commit(st), 0));
	for (uint32_t i = 0; i < 10; i++)
		cr_assert(eq(int, put(st, 2, i), 0));
	cr_assert(eq(int, store_test_pg_kill_sessions(schema), 1));
	cr_assert(eq(int, store_commit(st), LIMES_E_STORE_FAILED));
	cr_assert(not(store_healthy(st)));
	cr_assert(not(eq(int, (int)strlen(store_health_reason(st)), 0)));
	/* every later write is refused without touching the database */
	cr_assert(eq(int, store_begin(st), LIMES_E_STORE_FAILED));
	cr_assert(eq(int, put(st, 3, 0), LIMES_E_STORE_FAILED));
	cr_assert(eq(int, store_purge(st, 1, 1), LIMES_E_STORE_FAILED));
	cr_assert(eq(int, store_ping(st), LIMES_E_STORE_FAILED));
	store_destroy(&st);
	st = store_open_pg(conninfo, "AGENCY-A", &err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(int, store_outbox_stats(st, "AGENCY-B", &queued, NULL), 0));
	cr_assert(eq(u64, queued, 10));
	cr_assert(eq(int, exists(st, 1, 9), 0));
	cr_assert(eq(int, exists(st, 2, 0), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_check(st, true), 0));
}

Test(store_pg, one_session_holds_the_active_lock_until_it_goes)
{
	struct store *other = NULL;
	char node[64] = "", api[64] = "";
	int err = -1;

	other = store_open_pg(conninfo, "AGENCY-A", &err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(int, store_ha_active_node(other, node, sizeof(node), api, sizeof(api)),
		     LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_ha_try_active(st, "N1", "127.0.0.1:7481"), 1));
	cr_assert(eq(int, store_ha_try_active(st, "N1", "127.0.0.1:7481"), 1)); /* still ours */
	cr_assert(eq(int, store_ha_try_active(other, "N2", "127.0.0.1:7482"), 0));
	cr_assert(eq(int, store_ha_active_node(other, node, sizeof(node), api, sizeof(api)), 0));
	cr_assert(eq(str, node, "N1"));
	cr_assert(eq(str, api, "127.0.0.1:7481"));
	cr_assert(eq(int, store_ping(st), 0));
	cr_assert(eq(int, store_ping(other), 0));
	/* the active node goes (its session ends): the other takes over once
	 * the server has ended that session (it polls, as a standby does) */
	store_destroy(&st);
	cr_assert(eq(int, try_active_within(other, "N2", 5000), 1));
	cr_assert(eq(int, store_ha_active_node(other, node, sizeof(node), api, sizeof(api)), 0));
	cr_assert(eq(str, node, "N2"));
	/* another agency on the same database has a lock of its own */
	st = store_open_pg(conninfo, "AGENCY-Z", &err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(int, store_ha_try_active(st, "Z1", "127.0.0.1:7490"), 1));
	store_destroy(&other);
}

Test(store_pg, active_node_notices_a_lost_session_at_the_next_ping)
{
	struct store *other = NULL;
	int err = -1;

	cr_assert(eq(int, store_ha_try_active(st, "N1", "127.0.0.1:7481"), 1));
	cr_assert(eq(int, store_test_pg_kill_sessions(schema), 1));
	cr_assert(not(eq(int, store_ping(st), 0)));
	cr_assert(not(store_healthy(st)));
	cr_assert(eq(int, put(st, 1, 0), LIMES_E_STORE_FAILED));
	/* the lock went with the session: a standby takes it */
	other = store_open_pg(conninfo, "AGENCY-A", &err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(int, try_active_within(other, "N2", 5000), 1));
	store_destroy(&other);
}

Test(store_pg, a_second_node_opens_the_migrated_database_and_sees_the_first_ones_commits)
{
	struct store *other = NULL;
	int err = -1;

	cr_assert(eq(int, put(st, 7, 0), 0));
	other = store_open_pg(conninfo, "AGENCY-A", &err);
	cr_assert(eq(int, err, 0));
	/* staged, not committed: invisible to another session */
	cr_assert(eq(int, exists(other, 7, 0), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, exists(other, 7, 0), 0));
	/* the same id from the other node is a duplicate */
	cr_assert(eq(int, put(other, 7, 0), LIMES_E_EXISTS));
	cr_assert(eq(int, store_commit(other), 0));
	store_destroy(&other);
}

Test(store_pg, refuses_a_bad_conninfo_naming_no_secret)
{
	int err = 0;
	struct store *bad = store_open_pg("host=/nonexistent port=1 password=hunter2", "AGENCY-A", &err);

	cr_assert(eq(ptr, bad, NULL));
	cr_assert(eq(int, err, LIMES_E_STORE_FAILED));
	cr_assert(eq(ptr, store_open_pg(conninfo, "", &err), NULL));
	cr_assert(eq(int, err, LIMES_E_INVAL));
}

static int count_entry(void *arg, const struct store_audit_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return 0;
}

/* `limes audit` reads the agency's database beside a running node: a
 * read-only session on one snapshot, nothing created or migrated. */
Test(store_pg, a_reader_sees_one_snapshot_writes_nothing_and_finds_no_store_in_an_empty_schema)
{
	struct store_settings reader = { .backend = STORE_BACKEND_POSTGRES, .conninfo = conninfo,
					 .agency = "AGENCY-A" };
	struct store_audit_filter all = { 0 };
	uint8_t bytes[8] = "entry";
	char other_conninfo[1024], other_schema[96];
	struct store_audit_row row = { .seq = 1, .time_ms = 5, .kind = 1, .bytes = bytes, .len = sizeof(bytes) };
	struct store *r;
	int err = -1, n = 0;

	cr_assert(eq(int, store_audit_append(st, &row, NULL, 0), 0));
	cr_assert(eq(int, store_commit(st), 0));
	r = store_open_existing_with(&reader, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(not(eq(ptr, r, NULL)));
	/* the node commits another entry: the reader's snapshot does not move */
	row.seq = 2;
	cr_assert(eq(int, store_audit_append(st, &row, NULL, 0), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_audit_list(r, &all, count_entry, &n), 1));
	row.seq = 3;
	cr_assert(lt(int, store_audit_append(r, &row, NULL, 0), 0), "a read-only session writes nothing");
	store_destroy(&r);
	n = 0;
	cr_assert(eq(int, store_audit_list(st, &all, count_entry, &n), 2));

	/* a schema that holds no store: NOENT, and it is left empty */
	cr_assert(eq(int, store_test_pg_create("empty", other_conninfo, sizeof(other_conninfo),
					       other_schema, sizeof(other_schema)), 0));
	reader.conninfo = other_conninfo;
	r = store_open_existing_with(&reader, &err);
	cr_assert(eq(ptr, r, NULL));
	cr_assert(eq(int, err, LIMES_E_NOENT));
	char tables[16];
	cr_assert(eq(int, store_test_pg_sql(other_schema,
					    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
					    tables, sizeof(tables)), 0));
	cr_assert(eq(str, tables, "0"));
	cr_assert(eq(int, store_test_pg_drop(other_schema), 0));
}

/* tests/fixtures/store_pg_v4.sql: the store of store_v5.sql at PostgreSQL
 * schema 4 (the envelope in each deliveries row), loaded into a schema of
 * its own and migrated to 5 at open. */
Test(store_pg, a_store_of_schema_4_moves_its_envelopes_to_their_own_table_and_keeps_every_delivery)
{
	char path[512], ci[1024], sch[96], out[64];
	int err = -1;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/fixtures/store_pg_v4.sql", LIMES_SOURCE_DIR);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *sql = calloc(1, (size_t)n + 1);
	cr_assert(eq(sz, fread(sql, 1, (size_t)n, f), (size_t)n));
	fclose(f);
	cr_assert(eq(int, store_test_pg_create("pg4", ci, sizeof(ci), sch, sizeof(sch)), 0));
	cr_assert(eq(int, store_test_pg_sql(sch, sql, NULL, 0), 0));
	free(sql);
	cr_assert(eq(int, store_test_pg_sql(sch, "SELECT version FROM limes_schema", out, sizeof(out)), 0));
	cr_assert(eq(str, out, "4"));

	struct store *old = store_open_pg(ci, "AGENCY-A", &err);
	cr_assert_not_null(old, "%s", limes_strerror(err));
	store_v5fixture_check(old);
	cr_assert(eq(int, store_test_pg_sql(sch, "SELECT version FROM limes_schema", out, sizeof(out)), 0));
	cr_assert(eq(str, out, "6")); /* 5: envelopes apart, 6: key notes */
	cr_assert(eq(int, store_test_pg_sql(sch, "SELECT count(*) FROM envelopes", out, sizeof(out)), 0));
	cr_assert(eq(str, out, "4"), "one row per body still kept");
	cr_assert(eq(int, store_test_pg_sql(sch, "SELECT count(*) FROM information_schema.columns WHERE"
					    " table_schema = current_schema() AND table_name = 'deliveries'"
					    " AND column_name = 'envelope'", out, sizeof(out)), 0));
	cr_assert(eq(str, out, "0"));
	store_v5fixture_exercise(old);
	store_destroy(&old);
	cr_assert(eq(int, store_test_pg_sql(sch, "SELECT count(*) FROM envelopes", out, sizeof(out)), 0));
	cr_assert(eq(str, out, "2"), "purged deliveries take their envelopes");
	cr_assert(eq(int, store_test_pg_drop(sch), 0));
}
