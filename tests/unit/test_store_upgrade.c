/*
 * A store written by the previous version survives the upgrade: the agent
 * at d9b2394 (store schema version 1) wrote tests/fixtures/store_v1.sql
 * (two alerts sent and delivered, a control result received answering the
 * first); this build opens it, migrates it to the current version in place
 * and reads every message back with its bytes, states, ref and hash, then
 * runs the new body retention on it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"
#include "support/store_v5fixture.h"

TestSuite(store_upgrade, .timeout = 60);

static const char *const ALERT1 = "ebd197e43a30d81b861a1c8759a09a39";
static const char *const ALERT2 = "ff7181d7672bfd22e6ae7e0d2142ede2";
static const char *const ANSWER = "1a529f78af37ccbe09aaa803704ac83a";

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = calloc(1, (size_t)n + 1);
	cr_assert(eq(sz, fread(text, 1, (size_t)n, f), (size_t)n));
	fclose(f);
	return text;
}

/* Writes DIR/limes.db from a fixture, as an earlier version left it. */
static void restore_fixture_named(const char *dir, const char *name)
{
	char path[512], *sql, *msg = NULL;
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", LIMES_SOURCE_DIR, name);
	sql = read_text(path);
	snprintf(path, sizeof(path), "%s/limes.db", dir);
	cr_assert(eq(int, sqlite3_open(path, &db), SQLITE_OK));
	cr_assert(eq(int, sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK), "%s", msg ? msg : "");
	sqlite3_close(db);
	cr_assert(eq(int, chmod(path, 0600), 0));
	free(sql);
}

static void restore_fixture(const char *dir)
{
	restore_fixture_named(dir, "store_v1.sql");
}

/* The SQL that made index `name`, or "" when there is none. */
static void index_sql(const char *dir, const char *name, char *out, size_t out_len)
{
	char path[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/limes.db", dir);
	out[0] = '\0';
	cr_assert(eq(int, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK));
	cr_assert(eq(int, sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
					     -1, &st, NULL), SQLITE_OK));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, out_len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static int user_version(const char *dir)
{
	char path[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	snprintf(path, sizeof(path), "%s/limes.db", dir);
	cr_assert(eq(int, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK));
	cr_assert(eq(int, sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void id_of(const char *hex, uint8_t id[STORE_ID_LEN])
{
	cr_assert(eq(int, encode_unhex(id, STORE_ID_LEN, hex, 32), 0));
}

struct seen_rows {
	int n;
	enum delivery_state state;
	bool has_envelope;
	bool has_receipt;
};

static int check_delivery(void *arg, const struct store_delivery_row *row)
{
	struct seen_rows *s = arg;
	s->n++;
	s->state = row->state;
	s->has_envelope = row->envelope_len > 100;
	s->has_receipt = row->receipt != NULL && row->receipt_len > 64;
	return 0;
}

struct inbox_check {
	int n;
	bool hash_ok;
	size_t envelope_len;
	bool has_ref;
	uint8_t ref[STORE_ID_LEN];
};

static int check_inbox(void *arg, const struct store_inbox_row *row)
{
	struct inbox_check *c = arg;
	uint8_t h[32];

	c->n++;
	c->envelope_len = row->entry.envelope_len;
	c->has_ref = row->entry.has_ref;
	memcpy(c->ref, row->entry.ref, STORE_ID_LEN);
	if (row->entry.envelope_len > 0) {
		envelope_hash(row->entry.envelope, row->entry.envelope_len, h);
		c->hash_ok = memcmp(h, row->entry.envelope_hash, 32) == 0;
	}
	return 0;
}

Test(store_upgrade, a_store_of_the_previous_version_keeps_every_message)
{
	char dir[256];
	uint8_t a1[16], a2[16], ans[16];
	int err = 0;

	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "upgrade"), 0));
	restore_fixture(dir);
	cr_assert(eq(int, user_version(dir), 1));
	id_of(ALERT1, a1);
	id_of(ALERT2, a2);
	id_of(ANSWER, ans);

	struct store *st = store_open(dir, &err);
	cr_assert_not_null(st, "%s", limes_strerror(err));
	cr_assert(store_healthy(st));
	cr_assert(eq(int, store_check(st, true), 0));

	/* the sent alerts: delivered, envelopes kept */
	for (int i = 0; i < 2; i++) {
		struct seen_rows s = { 0 };
		cr_assert(eq(int, store_message_get(st, i ? a2 : a1, check_delivery, &s), 0));
		cr_assert(eq(int, s.n, 1));
		cr_assert(eq(int, s.state, DELIVERY_DELIVERED));
		cr_assert(s.has_envelope);
		cr_assert(s.has_receipt, "the signed receipt of a delivered alert was lost");
		struct store_case_entry e;
		cr_assert(eq(int, store_case_get(st, i ? a2 : a1, &e), 0));
		cr_assert(not(e.received));
		cr_assert(eq(int, e.type, 1));
		cr_assert(not(e.body_purged));
	}
	/* the received answer: the exact bytes it came with (hash), its ref */
	struct inbox_check c = { 0 };
	cr_assert(eq(int, store_inbox_list(st, 0, 10, check_inbox, &c), 1));
	cr_assert(c.hash_ok, "the received envelope no longer matches its hash");
	cr_assert(c.has_ref);
	cr_assert(eq(int, memcmp(c.ref, a1, 16), 0));
	struct store_case_entry e;
	cr_assert(eq(int, store_case_get(st, ans, &e), 0));
	cr_assert(e.received);
	cr_assert(eq(str, e.sender, "HU-POLICE-ROSZKE"));
	cr_assert(eq(int, e.type, 3));

	/* the new indexes serve the old rows: the answer is found from the alert */
	uint8_t kids[4][STORE_ID_LEN];
	size_t n = 0;
	cr_assert(eq(int, store_case_children(st, a1, kids, 4, &n), 0));
	cr_assert(eq(sz, n, 1));
	cr_assert(eq(int, memcmp(kids[0], ans, 16), 0));
	cr_assert(eq(int, store_case_children(st, a2, kids, 4, &n), 0));
	cr_assert(eq(sz, n, 0));

	/* body retention on old rows: the control result's body goes, its hash stays */
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_purge_bodies(st, 3, UINT64_C(4102444800000)), 1));
	cr_assert(eq(int, store_purge_bodies(st, 2, UINT64_C(4102444800000)), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_case_get(st, ans, &e), 0));
	cr_assert(e.body_purged);
	cr_assert(eq(int, store_case_get(st, a1, &e), 0));
	cr_assert(not(e.body_purged));
	store_destroy(&st);
	cr_assert(eq(int, user_version(dir), 8)); /* 2: message types; 3: the audit trail; 4: fewer index pages; 5: key rotation; 6: envelopes apart; 7: key notes; 8: deliveries_done on a range */

	/* and it opens again as the current version */
	st = store_open(dir, &err);
	cr_assert_not_null(st);
	memset(&c, 0, sizeof(c));
	cr_assert(eq(int, store_inbox_list(st, 0, 10, check_inbox, &c), 1));
	cr_assert(eq(sz, c.envelope_len, 0));
	store_destroy(&st);
	store_test_rmtree(dir);
}

/* tests/fixtures/store_v3.sql: written by the agent of main before the store
 * diet of issue 12 (schema 3): two alerts delivered with their receipts and
 * audit entries, two queued, one expired. */
static const char *const V3_DELIVERED[] = { "5a3307e0aed373da59a2f427c4b23591", "8d253a828855c50cf04c8b17ed2bd4a5" };
static const char *const V3_QUEUED = "520c08f07138f78c8d558e86e765cb9b";

Test(store_upgrade, a_store_of_schema_3_keeps_its_queue_with_fewer_indexes)
{
	char dir[256], sql[256];
	uint8_t id[16], hash[STORE_HASH_LEN];
	uint64_t queued = 0, oldest = 0, head = 0;
	int err = 0;

	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "upgrade3"), 0));
	restore_fixture_named(dir, "store_v3.sql");
	cr_assert(eq(int, user_version(dir), 3));
	index_sql(dir, "audit_time", sql, sizeof(sql));
	cr_assert(ne(str, sql, ""));

	struct store *st = store_open(dir, &err);
	cr_assert_not_null(st, "%s", limes_strerror(err));
	cr_assert(eq(int, store_check(st, true), 0));
	for (int i = 0; i < 2; i++) {
		struct seen_rows s = { 0 };
		id_of(V3_DELIVERED[i], id);
		cr_assert(eq(int, store_message_get(st, id, check_delivery, &s), 0));
		cr_assert(eq(int, s.state, DELIVERY_DELIVERED));
		cr_assert(s.has_receipt, "the signed receipt of a delivered alert was lost");
	}
	cr_assert(eq(int, store_outbox_stats(st, "BENCH-RECEIVER", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2));
	cr_assert(eq(int, store_audit_head(st, &head, hash), 0));
	cr_assert(eq(u64, head, 13));
	/* the rebuilt expiry index holds the old queued rows, and only them */
	cr_assert(eq(int, store_expire_due(st, UINT64_C(4102444800000)), 1));
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_expire(st, UINT64_C(4102444800000), NULL, NULL), 2));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_expire_due(st, UINT64_C(4102444800000)), 0));
	struct seen_rows s = { 0 };
	id_of(V3_QUEUED, id);
	cr_assert(eq(int, store_message_get(st, id, check_delivery, &s), 0));
	cr_assert(eq(int, s.state, DELIVERY_EXPIRED));
	store_destroy(&st);

	cr_assert(eq(int, user_version(dir), 8)); /* through 4 (fewer indexes), 5 (key rotation) to 6 (envelopes apart); 7: key notes; 8: deliveries_done on a range */
	index_sql(dir, "audit_time", sql, sizeof(sql));
	cr_assert(eq(str, sql, ""), "audit_time is read by no query and should be gone");
	index_sql(dir, "deliveries_expiry", sql, sizeof(sql));
	cr_assert_not_null(strstr(sql, "done_ms = 0"), "%s", sql);
	store_test_rmtree(dir);
}

/* One integer from a query on DIR/limes.db (read-only, beside no open store). */
static long long query_int(const char *dir, const char *sql)
{
	char path[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/limes.db", dir);
	cr_assert(eq(int, sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK));
	cr_assert(eq(int, sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK), "%s", sql);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* tests/fixtures/store_v5.sql: schema 5, the envelope still in each
 * deliveries row; queued, sent, delivered (two with their bodies purged),
 * expired and rejected deliveries (tests/support/store_v5fixture.c). */
Test(store_upgrade, a_store_of_schema_5_moves_its_envelopes_to_their_own_table_and_keeps_every_delivery)
{
	char dir[256], sql[256];
	int err = 0;

	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "upgrade5"), 0));
	restore_fixture_named(dir, "store_v5.sql");
	cr_assert(eq(int, user_version(dir), 5));

	struct store *st = store_open(dir, &err);
	cr_assert_not_null(st, "%s", limes_strerror(err));
	cr_assert(eq(int, store_check(st, true), 0));
	store_v5fixture_check(st);
	store_destroy(&st);

	cr_assert(eq(int, user_version(dir), 8)); /* 6: envelopes apart, 7: key notes, 8: deliveries_done on a range */
	cr_assert(eq(i64, query_int(dir, "SELECT count(*) FROM envelopes"), 4), "one row per body still kept");
	cr_assert(eq(i64, query_int(dir, "SELECT count(*) FROM pragma_table_info('deliveries') WHERE name = 'envelope'"),
		     0));
	cr_assert(eq(i64, query_int(dir, "SELECT count(*) FROM pragma_table_info('deliveries') WHERE pk = 1 AND name = 'dseq'"),
		     1), "an explicit INTEGER PRIMARY KEY, so VACUUM cannot renumber what envelopes point at");
	index_sql(dir, "deliveries_body", sql, sizeof(sql));
	cr_assert(eq(str, sql, ""), "deliveries_done serves the body purge too");
	index_sql(dir, "deliveries_done", sql, sizeof(sql));
	cr_assert_not_null(strstr(sql, "(type, body, done_ms)"), "%s", sql);
	/* schema 8: a range, not an IN list (a temporary B-tree per row written) */
	cr_assert_not_null(strstr(sql, "WHERE state >= 2"), "%s", sql);

	/* and every operation that reads or writes an envelope works on it */
	st = store_open(dir, &err);
	cr_assert_not_null(st, "%s", limes_strerror(err));
	store_v5fixture_exercise(st);
	cr_assert(eq(int, store_check(st, true), 0));
	store_destroy(&st);
	cr_assert(eq(i64, query_int(dir, "SELECT count(*) FROM envelopes"), 2), "purged deliveries take their envelopes");
	store_test_rmtree(dir);
}
