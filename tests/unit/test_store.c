/*
 * Unit tests for the store: outbox state machine, idempotency, due order,
 * inbox and seen set, purge, transactions, file modes, and failure semantics
 * under injected fsync, write and disk-full faults.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_faultvfs.h"
#include "support/store_testutil.h"

static char dir[128];
static struct store *st;
/* The shared suite runs on SQLite, or on PostgreSQL when
 * LIMES_TEST_STORE=postgres (ctest's unit.test_store_on_postgres). */
static bool on_pg;
static char conninfo[1024], schema[96];

static struct store *open_store(const char *vfs, int *err)
{
	if (on_pg)
		return store_open_pg(conninfo, "AGENCY-TEST", err);
	return store_open_vfs(dir, vfs, err);
}

static void setup_on(bool pg)
{
	int err = -1;

	on_pg = pg;
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "store"), 0));
	cr_assert(eq(int, store_faultvfs_register(), 0));
	store_faultvfs_reset();
	if (on_pg)
		cr_assert(eq(int, store_test_pg_create("store", conninfo, sizeof(conninfo), schema,
						       sizeof(schema)), 0));
	st = open_store(STORE_FAULTVFS_NAME, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(not(eq(ptr, st, NULL)));
	cr_assert(eq(str, (char *)store_backend_name(st), on_pg ? "postgres" : "sqlite"));
}

static void setup(void)
{
	setup_on(store_test_on_pg());
}

/* The tests of SQLite's own files and fault VFS run on SQLite always. */
static void setup_sqlite(void)
{
	setup_on(false);
}

static void teardown(void)
{
	store_faultvfs_reset();
	store_destroy(&st);
	cr_assert(eq(int, store_test_rmtree(dir), 0));
	if (on_pg)
		cr_assert(eq(int, store_test_pg_drop(schema), 0));
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(store_sqlite, .init = setup_sqlite, .fini = teardown, .timeout = 60);

static void reopen(const char *vfs)
{
	int err = -1;

	store_destroy(&st);
	cr_assert(eq(ptr, st, NULL));
	st = open_store(vfs, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(not(eq(ptr, st, NULL)));
}

static const uint8_t envelope_a[] = "envelope sealed to A";
static const uint8_t envelope_b[] = "envelope sealed to B, somewhat longer";

/* Message (major, minor) to recipients A and B, both via next hop "HUB". */
static int put_msg(uint32_t major, uint32_t minor, int priority, uint64_t created_ms,
		   const char *key)
{
	struct store_message msg = {
		.type = 1,
		.priority = priority,
		.created_ms = created_ms,
		.expires_ms = created_ms + 100000,
		.client = key ? "client-1" : NULL,
		.idempotency_key = key,
	};
	struct store_delivery d[2] = {
		{ "AGENCY-A", "HUB", envelope_a, sizeof(envelope_a) },
		{ "AGENCY-B", "HUB", envelope_b, sizeof(envelope_b) },
	};

	store_test_id(msg.id, major, minor);
	return store_outbox_put(st, &msg, d, 2);
}

/* Collects what a row callback saw. */
struct seen_rows {
	int n;
	uint32_t major[64];
	char recipient[64][STORE_AGENCY_MAX + 1];
	enum delivery_state state[64];
	int reason[64];
	char detail[64][64];
	uint32_t attempts[64];
	uint64_t done_ms[64];
	size_t receipt_len[64];
	uint8_t receipt[64][16];
	size_t envelope_len[64];
	uint8_t envelope[64][64];
	uint64_t expires_ms[64];
	int64_t cursor[64];
};

static int collect(void *arg, const struct store_delivery_row *row)
{
	struct seen_rows *s = arg;
	uint32_t minor;

	if (s->n >= 64)
		return 1;
	store_test_id_parts(row->id, &s->major[s->n], &minor);
	memcpy(s->recipient[s->n], row->recipient, sizeof(row->recipient));
	s->state[s->n] = row->state;
	s->reason[s->n] = row->reason;
	snprintf(s->detail[s->n], sizeof(s->detail[0]), "%s", row->detail);
	s->attempts[s->n] = row->attempts;
	s->done_ms[s->n] = row->done_ms;
	s->receipt_len[s->n] = row->receipt_len;
	if (row->receipt)
		memcpy(s->receipt[s->n], row->receipt,
		       row->receipt_len < 16 ? row->receipt_len : 16);
	s->envelope_len[s->n] = row->envelope_len;
	memcpy(s->envelope[s->n], row->envelope, row->envelope_len < 64 ? row->envelope_len : 64);
	s->expires_ms[s->n] = row->expires_ms;
	s->cursor[s->n] = row->cursor;
	s->n++;
	return 0;
}

static int message_get(uint32_t major, struct seen_rows *rows)
{
	uint8_t id[STORE_ID_LEN];

	memset(rows, 0, sizeof(*rows));
	store_test_id(id, major, 0);
	return store_message_get(st, id, collect, rows);
}

static int due(const char *hop, uint64_t now, size_t limit, struct seen_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	return store_outbox_due(st, hop, now, limit, collect, rows);
}

Test(store, put_and_get_message_with_several_recipients)
{
	struct seen_rows rows;

	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, put_msg(7, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, message_get(7, &rows), 0));
	cr_assert(eq(int, rows.n, 2));
	cr_assert(eq(str, rows.recipient[0], "AGENCY-A"));
	cr_assert(eq(str, rows.recipient[1], "AGENCY-B"));
	cr_assert(eq(int, rows.state[0], DELIVERY_QUEUED));
	cr_assert(eq(sz, rows.envelope_len[0], sizeof(envelope_a)));
	cr_assert(eq(int, memcmp(rows.envelope[0], envelope_a, sizeof(envelope_a)), 0));
	cr_assert(eq(sz, rows.envelope_len[1], sizeof(envelope_b)));
	cr_assert(eq(int, memcmp(rows.envelope[1], envelope_b, sizeof(envelope_b)), 0));
	cr_assert(eq(u64, rows.expires_ms[0], 101000));
	cr_assert(eq(int, message_get(8, &rows), LIMES_E_NOTFOUND));
	cr_assert(eq(str, (char *)store_delivery_state_name(DELIVERY_REJECTED), "rejected"));
}

Test(store, refuses_duplicate_id_and_bad_puts_leaving_nothing)
{
	struct seen_rows rows;
	struct store_message msg = { .type = 1, .created_ms = 1, .expires_ms = 2 };
	struct store_delivery twice[2] = {
		{ "AGENCY-A", "HUB", envelope_a, sizeof(envelope_a) },
		{ "AGENCY-A", "HUB", envelope_a, sizeof(envelope_a) },
	};
	char too_long[STORE_AGENCY_MAX + 2];
	struct store_delivery long_name = { too_long, "HUB", envelope_a, sizeof(envelope_a) };

	memset(too_long, 'X', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, put_msg(1, 0, 1, 2000, NULL), LIMES_E_EXISTS));
	store_test_id(msg.id, 2, 0);
	cr_assert(eq(int, store_outbox_put(st, &msg, twice, 2), LIMES_E_INVAL));
	cr_assert(eq(int, store_outbox_put(st, &msg, &long_name, 1), LIMES_E_INVAL));
	cr_assert(eq(int, store_outbox_put(st, &msg, twice, 0), LIMES_E_INVAL));
	msg.priority = 7;
	cr_assert(eq(int, store_outbox_put(st, &msg, twice, 1), LIMES_E_INVAL));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, message_get(1, &rows), 0));
	cr_assert(eq(int, rows.n, 2));
	cr_assert(eq(int, message_get(2, &rows), LIMES_E_NOTFOUND));
}

/* SQLite refuses values over 1e9 bytes at bind time: the put fails after its
 * first rows went in, and must be undone whole. (PostgreSQL aborts a whole
 * transaction on a failed statement, so its backend refuses the size before
 * writing anything; the outcome asserted is the same.) */
#define OVER_SQLITE_LIMIT ((size_t)1000000001)

Test(store, put_failing_half_way_is_undone_whole)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];
	struct store_message msg = { .type = 1, .created_ms = 1, .expires_ms = 2,
				     .client = "c", .idempotency_key = "half" };
	struct store_delivery d[2] = {
		{ "AGENCY-A", "HUB", envelope_a, sizeof(envelope_a) },
		{ "AGENCY-B", "HUB", envelope_b, OVER_SQLITE_LIMIT },
	};
	struct store_inbox_entry e = { .sender = "HU-NAV", .envelope = envelope_a,
				       .envelope_len = OVER_SQLITE_LIMIT };
	struct store_seen seen;

	store_test_id(msg.id, 5, 0);
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, put_msg(4, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, store_outbox_put(st, &msg, d, 2), LIMES_E_TOOBIG));
	store_test_id(e.id, 6, 0);
	cr_assert(eq(int, store_inbox_put(st, &e, 100), LIMES_E_TOOBIG));
	cr_assert(store_healthy(st));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, message_get(5, &rows), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_idempotency_get(st, "c", "half", id), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_seen_get(st, e.id, &seen), LIMES_E_NOTFOUND));
	cr_assert(eq(int, message_get(4, &rows), 0));
	/* The id is free again: the same put with a sane envelope succeeds. */
	d[1].envelope_len = sizeof(envelope_b);
	cr_assert(eq(int, store_outbox_put(st, &msg, d, 2), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, message_get(5, &rows), 0));
	cr_assert(eq(int, rows.n, 2));
}

Test(store, idempotency_key_returns_same_id_and_survives_reopen)
{
	uint8_t id[STORE_ID_LEN], want[STORE_ID_LEN];

	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, put_msg(42, 0, 0, 1000, "key-1"), 0));
	/* The same key again, even in the same batch, is refused. */
	cr_assert(eq(int, put_msg(43, 0, 0, 1000, "key-1"), LIMES_E_EXISTS));
	cr_assert(eq(int, store_idempotency_get(st, "client-1", "key-1", id), 0));
	cr_assert(eq(int, store_commit(st), 0));
	reopen(NULL);
	store_test_id(want, 42, 0);
	memset(id, 0, sizeof(id));
	cr_assert(eq(int, store_idempotency_get(st, "client-1", "key-1", id), 0));
	cr_assert(eq(int, memcmp(id, want, STORE_ID_LEN), 0));
	cr_assert(eq(int, store_idempotency_get(st, "client-2", "key-1", id), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_idempotency_get(st, "client-1", "key-2", id), LIMES_E_NOTFOUND));
}

Test(store, due_orders_urgent_first_then_oldest)
{
	struct seen_rows rows;

	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, put_msg(2, 0, 1, 3000, NULL), 0));
	cr_assert(eq(int, put_msg(3, 0, 0, 500, NULL), 0));
	cr_assert(eq(int, put_msg(4, 0, 1, 2000, NULL), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, due("HUB", 5000, 100, &rows), 8));
	uint32_t want[8] = { 4, 4, 2, 2, 3, 3, 1, 1 };
	for (int i = 0; i < 8; i++)
		cr_assert(eq(u32, rows.major[i], want[i]), "row %d", i);
	cr_assert(eq(int, due("HUB", 5000, 3, &rows), 3));
	cr_assert(eq(int, due("OTHER", 5000, 100, &rows), 0));
}

Test(store, sent_delivery_is_due_again_only_at_next_attempt)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, put_msg(2, 0, 0, 2000, NULL), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 5000, 8000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, due("HUB", 7999, 100, &rows), 3));
	cr_assert(eq(u32, rows.major[0], 1));
	cr_assert(eq(str, rows.recipient[0], "AGENCY-B"));
	/* At its retry time it takes its old place: oldest first. */
	cr_assert(eq(int, due("HUB", 8000, 100, &rows), 4));
	cr_assert(eq(u32, rows.major[0], 1));
	cr_assert(eq(str, rows.recipient[0], "AGENCY-A"));
	cr_assert(eq(int, rows.state[0], DELIVERY_SENT));
	cr_assert(eq(u32, rows.attempts[0], 1));
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 8000, 9000), 0));
	cr_assert(eq(int, message_get(1, &rows), 0));
	cr_assert(eq(u32, rows.attempts[0], 2));
	cr_assert(eq(int, store_delivery_sent(st, id, "NOBODY", 8000, 9000), LIMES_E_NOTFOUND));
}

Test(store, reset_hop_makes_sent_deliveries_due_now)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 5000, 60000), 0));
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-B", 5000, 60000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, due("HUB", 6000, 100, &rows), 0));
	cr_assert(eq(int, store_delivery_reset_hop(st, "OTHER"), 0));
	cr_assert(eq(int, due("HUB", 6000, 100, &rows), 0));
	cr_assert(eq(int, store_delivery_reset_hop(st, "HUB"), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, due("HUB", 6000, 100, &rows), 2));
	cr_assert(eq(u32, rows.attempts[0], 1));
}

Test(store, delivered_and_rejected_keep_receipt_and_reason)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];
	static const uint8_t receipt_ok[] = "signed-receipt-1";
	static const uint8_t receipt_no[] = "signed-reject";

	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 5000, 8000), 0));
	int64_t ok_id = 0, no_id = 0;
	cr_assert(eq(int, store_receipt_put(st, receipt_ok, 16, &ok_id), 0));
	cr_assert(eq(int, store_receipt_put(st, receipt_no, 13, &no_id), 0));
	cr_assert(ne(i64, ok_id, no_id));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_DELIVERED, 0, NULL, 5100, ok_id), 0));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-B", DELIVERY_REJECTED, 11,
					      "schema: bad plate", 5200, no_id), 0));
	/* A second receipt for a finished delivery changes nothing. */
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_REJECTED, 3, "late", 9999, 0), 0));
	cr_assert(eq(int, store_delivery_done(st, id, "NOBODY", DELIVERY_DELIVERED, 0, NULL, 1, 0), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_SENT, 0, NULL, 1, 0),
		     LIMES_E_INVAL));
	cr_assert(eq(int, store_commit(st), 0));
	reopen(NULL);
	cr_assert(eq(int, message_get(1, &rows), 0));
	cr_assert(eq(int, rows.n, 2));
	cr_assert(eq(int, rows.state[0], DELIVERY_DELIVERED));
	cr_assert(eq(u64, rows.done_ms[0], 5100));
	cr_assert(eq(sz, rows.receipt_len[0], 16));
	cr_assert(eq(int, memcmp(rows.receipt[0], receipt_ok, 16), 0));
	cr_assert(eq(int, rows.state[1], DELIVERY_REJECTED));
	cr_assert(eq(int, rows.reason[1], 11));
	cr_assert(eq(str, rows.detail[1], "schema: bad plate"));
	cr_assert(eq(sz, rows.receipt_len[1], 13));
	cr_assert(eq(int, due("HUB", 10000, 100, &rows), 0));
}

Test(store, deliveries_marked_sent_and_delivered_by_cursor_in_one_call)
{
	struct seen_rows rows;
	int64_t cursors[6];
	size_t marked = 99;
	uint8_t id[STORE_ID_LEN];
	static const uint8_t receipt[] = "one receipt, many entries";

	for (uint32_t m = 1; m <= 3; m++)
		cr_assert(eq(int, put_msg(m, 0, 0, 1000 * m, NULL), 0));
	cr_assert(eq(int, due("HUB", 1000, 100, &rows), 6));
	memcpy(cursors, rows.cursor, sizeof(cursors));
	/* message 1 to A and B, message 2 to A and B: sent; message 3 stays queued */
	cr_assert(eq(int, store_deliveries_sent(st, cursors, 4, 5000, 8000, &marked), 0));
	cr_assert(eq(sz, marked, 4));
	cr_assert(eq(int, store_deliveries_sent(st, cursors, 0, 5000, 8000, &marked), 0));
	cr_assert(eq(sz, marked, 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, due("HUB", 7999, 100, &rows), 2));
	cr_assert(eq(u32, rows.major[0], 3));
	cr_assert(eq(int, message_get(2, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_SENT));
	cr_assert(eq(u32, rows.attempts[1], 1));

	/* one entry was rejected by its own receipt: the batch leaves it so */
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-B", DELIVERY_REJECTED, 11, "schema", 5050, 0), 0));
	int64_t rid = 0;
	cr_assert(eq(int, store_receipt_put(st, receipt, sizeof(receipt), &rid), 0));
	int64_t with_unknown[5] = { cursors[0], cursors[1], cursors[2], cursors[3], INT64_C(987654321) };
	cr_assert(eq(int, store_deliveries_delivered(st, with_unknown, 5, 5100, rid, &marked), 0));
	cr_assert(eq(sz, marked, 3));
	/* a second receipt for the same entries changes nothing */
	cr_assert(eq(int, store_deliveries_delivered(st, with_unknown, 5, 9999, 0, &marked), 0));
	cr_assert(eq(sz, marked, 0));
	cr_assert(eq(int, store_commit(st), 0));
	reopen(NULL);
	cr_assert(eq(int, message_get(1, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_DELIVERED));
	cr_assert(eq(u64, rows.done_ms[0], 5100));
	cr_assert(eq(sz, rows.receipt_len[0], sizeof(receipt)));
	cr_assert(eq(int, rows.state[1], DELIVERY_REJECTED));
	cr_assert(eq(int, rows.reason[1], 11));
	cr_assert(eq(int, message_get(2, &rows), 0));
	cr_assert(eq(int, rows.state[1], DELIVERY_DELIVERED));
	cr_assert(eq(u64, rows.done_ms[1], 5100));
	/* only the two still queued can expire */
	cr_assert(eq(int, store_expire_due(st, UINT64_C(1) << 40), 1));
	cr_assert(eq(int, store_expire(st, UINT64_C(1) << 40, NULL, NULL), 2));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_expire_due(st, UINT64_C(1) << 40), 0));
	cr_assert(eq(int, message_get(3, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_EXPIRED));
}

Test(store, expire_marks_pending_deliveries_past_expiry)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));   /* expires 101000 */
	cr_assert(eq(int, put_msg(2, 0, 0, 50000, NULL), 0));  /* expires 150000 */
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 2000, 3000), 0));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-B", DELIVERY_DELIVERED, 0, NULL, 2500, 0), 0));
	cr_assert(eq(int, store_expire(st, 101000, NULL, NULL), 1));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, message_get(1, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_EXPIRED));
	cr_assert(eq(u64, rows.done_ms[0], 101000));
	cr_assert(eq(int, rows.state[1], DELIVERY_DELIVERED));
	cr_assert(eq(int, due("HUB", 200000, 100, &rows), 2));
	cr_assert(eq(u32, rows.major[0], 2));
	cr_assert(eq(int, store_expire(st, 101000, NULL, NULL), 0));
	cr_assert(eq(int, store_expire(st, 150000, NULL, NULL), 2));
}

/* What store_expire() reported. */
struct expired_seen {
	int n;
	uint32_t major[16];
	uint32_t minor[16];
	char recipient[16][STORE_AGENCY_MAX + 1];
	char next_hop[16][STORE_AGENCY_MAX + 1];
	int type[16];
};

static void on_expired(void *arg, const struct store_expired *e)
{
	struct expired_seen *s = arg;

	cr_assert(lt(int, s->n, 16));
	store_test_id_parts(e->id, &s->major[s->n], &s->minor[s->n]);
	memcpy(s->recipient[s->n], e->recipient, sizeof(e->recipient));
	memcpy(s->next_hop[s->n], e->next_hop, sizeof(e->next_hop));
	s->type[s->n] = e->type;
	s->n++;
}

/* How often (major, recipient, next_hop) was reported. */
static int times_reported(const struct expired_seen *s, uint32_t major, const char *recipient,
			  const char *next_hop)
{
	int times = 0;

	for (int i = 0; i < s->n; i++)
		if (s->major[i] == major && strcmp(s->recipient[i], recipient) == 0 &&
		    strcmp(s->next_hop[i], next_hop) == 0)
			times++;
	return times;
}

/* Message (major, 0) of type 3 to AGENCY-A via HUB and to AGENCY-B direct. */
static int put_two_hops(uint32_t major, uint64_t created_ms)
{
	struct store_message msg = { .type = 3, .created_ms = created_ms,
				     .expires_ms = created_ms + 100000 };
	struct store_delivery d[2] = {
		{ "AGENCY-A", "HUB", envelope_a, sizeof(envelope_a) },
		{ "AGENCY-B", "AGENCY-B", envelope_b, sizeof(envelope_b) },
	};

	store_test_id(msg.id, major, 0);
	return store_outbox_put(st, &msg, d, 2);
}

Test(store, expire_reports_each_expired_delivery_and_nothing_else)
{
	struct expired_seen got = { 0 };
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, put_two_hops(1, 1000), 0));   /* expires 101000 */
	cr_assert(eq(int, put_two_hops(2, 50000), 0));  /* expires 150000: not yet */
	cr_assert(eq(int, put_two_hops(3, 1000), 0));   /* expires 101000 */
	store_test_id(id, 3, 0);
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_DELIVERED, 0, NULL, 2000, 0), 0));
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-B", 2000, 3000), 0));
	cr_assert(eq(int, store_commit(st), 0));

	cr_assert(eq(int, store_expire(st, 101000, on_expired, &got), 3));
	cr_assert(eq(int, got.n, 3));
	cr_assert(eq(int, times_reported(&got, 1, "AGENCY-A", "HUB"), 1));
	cr_assert(eq(int, times_reported(&got, 1, "AGENCY-B", "AGENCY-B"), 1));
	cr_assert(eq(int, times_reported(&got, 3, "AGENCY-B", "AGENCY-B"), 1));
	for (int i = 0; i < got.n; i++) {
		cr_assert(eq(u32, got.minor[i], 0), "report %d", i);
		cr_assert(eq(int, got.type[i], 3), "report %d", i);
	}
	/* Reported means staged: the rows read back as expired. */
	cr_assert(eq(int, message_get(3, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_DELIVERED));
	cr_assert(eq(int, rows.state[1], DELIVERY_EXPIRED));
	cr_assert(eq(int, store_commit(st), 0));

	/* What expired once is not reported again; a NULL callback only counts. */
	memset(&got, 0, sizeof(got));
	cr_assert(eq(int, store_expire(st, 101000, on_expired, &got), 0));
	cr_assert(eq(int, got.n, 0));
	cr_assert(eq(int, store_expire(st, 150000, NULL, NULL), 2));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, message_get(2, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_EXPIRED));
	cr_assert(eq(int, rows.state[1], DELIVERY_EXPIRED));
}

Test(store, requeue_puts_expired_or_rejected_back_with_new_envelope)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];
	static const uint8_t fresh[] = "re-sealed";

	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_requeue(st, id, "AGENCY-A", fresh, sizeof(fresh), 1),
		     LIMES_E_INVAL));
	cr_assert(eq(int, store_expire(st, 200000, NULL, NULL), 2));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-B", DELIVERY_REJECTED, 4, "expired",
					      200001, 0), 0));
	cr_assert(eq(int, store_delivery_requeue(st, id, "AGENCY-A", fresh, sizeof(fresh), 900000),
		     0));
	cr_assert(eq(int, store_delivery_requeue(st, id, "AGENCY-B", fresh, sizeof(fresh), 900000),
		     0));
	cr_assert(eq(int, store_delivery_requeue(st, id, "NOBODY", fresh, sizeof(fresh), 900000),
		     LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, due("HUB", 300000, 100, &rows), 2));
	cr_assert(eq(int, rows.state[1], DELIVERY_QUEUED));
	cr_assert(eq(u64, rows.expires_ms[1], 900000));
	cr_assert(eq(sz, rows.envelope_len[1], sizeof(fresh)));
	cr_assert(eq(int, memcmp(rows.envelope[1], fresh, sizeof(fresh)), 0));
	cr_assert(eq(int, rows.reason[1], 0));
	cr_assert(eq(str, rows.detail[1], ""));
}

Test(store, stats_count_pending_and_oldest_unacked)
{
	uint64_t queued = 99, oldest = 99;
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
	cr_assert(eq(u64, oldest, 0));
	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, put_msg(2, 0, 1, 2000, NULL), 0));
	cr_assert(eq(int, put_msg(3, 0, 0, 3000, NULL), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 5000, 8000), 0));
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 6));
	cr_assert(eq(u64, oldest, 1000));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-B", DELIVERY_DELIVERED, 0, NULL, 1, 0), 0));
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 5));
	cr_assert(eq(u64, oldest, 1000));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_DELIVERED, 0, NULL, 1, 0), 0));
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 4));
	cr_assert(eq(u64, oldest, 2000));
	cr_assert(eq(int, store_outbox_stats(st, "OTHER", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
}

static void inbox_entry(struct store_inbox_entry *e, uint32_t major, uint64_t received_ms)
{
	static const uint8_t body[] = "inbound envelope bytes";

	memset(e, 0, sizeof(*e));
	store_test_id(e->id, major, 0);
	e->sender = "HU-NAV";
	e->type = 2;
	e->priority = 1;
	e->created_ms = received_ms - 10;
	e->expires_ms = received_ms + 100000;
	e->received_ms = received_ms;
	e->has_ref = major % 2 == 0;
	store_test_id(e->ref, major + 1000, 0);
	memset(e->envelope_hash, (int)major, sizeof(e->envelope_hash));
	e->envelope = body;
	e->envelope_len = sizeof(body);
}

struct inbox_rows {
	int n;
	int64_t cursor[32];
	uint32_t major[32];
	bool has_ref[32];
	char sender[32][STORE_AGENCY_MAX + 1];
};

static int collect_inbox(void *arg, const struct store_inbox_row *row)
{
	struct inbox_rows *s = arg;
	uint32_t minor;

	s->cursor[s->n] = row->cursor;
	store_test_id_parts(row->entry.id, &s->major[s->n], &minor);
	s->has_ref[s->n] = row->entry.has_ref;
	snprintf(s->sender[s->n], sizeof(s->sender[0]), "%s", row->entry.sender);
	s->n++;
	return s->n >= 32;
}

static int inbox_list(int64_t after, size_t limit, struct inbox_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	return store_inbox_list(st, after, limit, collect_inbox, rows);
}

Test(store, inbox_refuses_duplicate_id_and_changes_nothing)
{
	struct store_inbox_entry e;
	struct inbox_rows rows;
	struct store_seen seen;

	inbox_entry(&e, 1, 5000);
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_inbox_put(st, &e, 900000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	e.received_ms = 7000;
	e.sender = "RO-POL";
	cr_assert(eq(int, store_inbox_put(st, &e, 990000), LIMES_E_EXISTS));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, inbox_list(0, 10, &rows), 1));
	cr_assert(eq(str, rows.sender[0], "HU-NAV"));
	cr_assert(eq(int, store_seen_get(st, e.id, &seen), 0));
	cr_assert(eq(u64, seen.received_ms, 5000));
	cr_assert(eq(u64, seen.forget_after_ms, 900000));
	cr_assert(eq(str, seen.sender, "HU-NAV"));
}

Test(store, seen_set_survives_reopen)
{
	struct store_inbox_entry e;
	struct store_seen seen, refused = { .sender = "RO-POL", .status = 3, .reason = 8,
					     .received_ms = 6000, .forget_after_ms = 70000 };
	uint8_t refused_id[STORE_ID_LEN], unknown[STORE_ID_LEN];

	inbox_entry(&e, 3, 5000);
	memset(refused.envelope_hash, 0xEE, sizeof(refused.envelope_hash));
	store_test_id(refused_id, 4, 0);
	store_test_id(unknown, 5, 0);
	cr_assert(eq(int, store_inbox_put(st, &e, 80000), 0));
	cr_assert(eq(int, store_seen_put(st, refused_id, &refused), 0));
	cr_assert(eq(int, store_seen_put(st, refused_id, &refused), LIMES_E_EXISTS));
	cr_assert(eq(int, store_commit(st), 0));
	reopen(NULL);
	cr_assert(eq(int, store_seen_get(st, e.id, &seen), 0));
	cr_assert(eq(int, seen.status, STORE_SEEN_ACCEPTED));
	cr_assert(eq(int, seen.reason, 0));
	cr_assert(eq(int, memcmp(seen.envelope_hash, e.envelope_hash, STORE_HASH_LEN), 0));
	cr_assert(eq(int, store_seen_get(st, refused_id, &seen), 0));
	cr_assert(eq(int, seen.status, 3));
	cr_assert(eq(int, seen.reason, 8));
	cr_assert(eq(str, seen.sender, "RO-POL"));
	cr_assert(eq(int, memcmp(seen.envelope_hash, refused.envelope_hash, STORE_HASH_LEN), 0));
	cr_assert(eq(int, store_seen_get(st, unknown, &seen), LIMES_E_NOTFOUND));
	/* A refused id is remembered: an inbox put of it is a duplicate. */
	inbox_entry(&e, 4, 9000);
	cr_assert(eq(int, store_inbox_put(st, &e, 80000), LIMES_E_EXISTS));
}

Test(store, inbox_list_pages_by_cursor)
{
	struct store_inbox_entry e;
	struct inbox_rows rows;
	int64_t after = 0;
	uint32_t next = 1;

	for (uint32_t i = 1; i <= 25; i++) {
		inbox_entry(&e, i, 1000 + i);
		cr_assert(eq(int, store_inbox_put(st, &e, 900000), 0));
	}
	cr_assert(eq(int, store_commit(st), 0));
	for (int page = 0; page < 3; page++) {
		int n = inbox_list(after, 10, &rows);

		cr_assert(eq(int, n, page < 2 ? 10 : 5));
		for (int i = 0; i < n; i++) {
			cr_assert(lt(i64, after, rows.cursor[i]));
			cr_assert(eq(u32, rows.major[i], next));
			cr_assert(eq(int, rows.has_ref[i], next % 2 == 0));
			after = rows.cursor[i];
			next++;
		}
	}
	cr_assert(eq(int, inbox_list(after, 10, &rows), 0));
	cr_assert(eq(u32, next, 26));
}

Test(store, purge_forgets_what_is_past_retention)
{
	struct store_inbox_entry e;
	struct inbox_rows rows;
	struct seen_rows drows;
	struct store_seen seen;
	uint8_t id[STORE_ID_LEN];

	inbox_entry(&e, 1, 1000);
	cr_assert(eq(int, store_inbox_put(st, &e, 5000), 0));
	inbox_entry(&e, 2, 8000);
	cr_assert(eq(int, store_inbox_put(st, &e, 50000), 0));
	cr_assert(eq(int, put_msg(10, 0, 0, 1000, "k10"), 0));
	cr_assert(eq(int, put_msg(11, 0, 0, 1000, NULL), 0));
	store_test_id(id, 10, 0);
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_DELIVERED, 0, NULL, 2000, 0), 0));
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-B", DELIVERY_REJECTED, 1, "x", 2500, 0), 0));
	store_test_id(id, 11, 0);
	cr_assert(eq(int, store_delivery_done(st, id, "AGENCY-A", DELIVERY_DELIVERED, 0, NULL, 2000, 0), 0));
	cr_assert(eq(int, store_commit(st), 0));

	/* now 7000, retention 4000: cut at 3000. */
	cr_assert(eq(int, store_purge(st, 7000, 4000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_seen_get(st, id, &seen), LIMES_E_NOTFOUND));
	store_test_id(id, 2, 0);
	cr_assert(eq(int, store_seen_get(st, id, &seen), 0));
	cr_assert(eq(int, inbox_list(0, 10, &rows), 1));
	cr_assert(eq(u32, rows.major[0], 2));
	/* Message 10 is gone whole, its idempotency key with it; 11 keeps its
	 * pending recipient. */
	cr_assert(eq(int, message_get(10, &drows), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_idempotency_get(st, "client-1", "k10", id), LIMES_E_NOTFOUND));
	cr_assert(eq(int, message_get(11, &drows), 0));
	cr_assert(eq(int, drows.n, 1));
	cr_assert(eq(str, drows.recipient[0], "AGENCY-B"));
}

Test(store, rollback_leaves_nothing)
{
	struct seen_rows rows;
	struct inbox_rows irows;
	struct store_inbox_entry e;
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_begin(st), 0)); /* nesting is a no-op */
	cr_assert(eq(int, put_msg(2, 0, 0, 1000, "k2"), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 5, 6), 0));
	inbox_entry(&e, 9, 1000);
	cr_assert(eq(int, store_inbox_put(st, &e, 5000), 0));
	store_rollback(st);
	cr_assert(eq(int, message_get(2, &rows), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_idempotency_get(st, "client-1", "k2", id), LIMES_E_NOTFOUND));
	cr_assert(eq(int, message_get(1, &rows), 0));
	cr_assert(eq(int, rows.state[0], DELIVERY_QUEUED));
	cr_assert(eq(int, inbox_list(0, 10, &irows), 0));
	cr_assert(eq(int, store_commit(st), 0)); /* nothing open: no-op */
	cr_assert(store_healthy(st));
}

Test(store, auto_begun_writes_need_commit)
{
	struct seen_rows rows;

	/* No store_begin: the put opens the transaction itself. */
	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, message_get(1, &rows), 0));
	reopen(NULL);
	cr_assert(eq(int, message_get(1, &rows), LIMES_E_NOTFOUND));
	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, store_commit(st), 0));
	reopen(NULL);
	cr_assert(eq(int, message_get(1, &rows), 0));
}

Test(store_sqlite, data_dir_is_0700_and_db_0600)
{
	struct stat sb;
	char path[256];

	cr_assert(eq(int, stat(dir, &sb), 0));
	store_destroy(&st);
	cr_assert(eq(int, store_test_rmtree(dir), 0));
	cr_assert(eq(int, stat(dir, &sb), -1));
	reopen(NULL);
	cr_assert(eq(int, put_msg(1, 0, 0, 1000, NULL), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, stat(dir, &sb), 0));
	cr_assert(eq(u32, (uint32_t)(sb.st_mode & 0777), 0700));
	snprintf(path, sizeof(path), "%s/limes.db", dir);
	cr_assert(eq(int, stat(path, &sb), 0));
	cr_assert(eq(u32, (uint32_t)(sb.st_mode & 0777), 0600));
	snprintf(path, sizeof(path), "%s/limes.db-wal", dir);
	cr_assert(eq(int, stat(path, &sb), 0));
	cr_assert(eq(u32, (uint32_t)(sb.st_mode & 0777), 0600));
	/* An existing folder that is too open is tightened. */
	store_destroy(&st);
	cr_assert(eq(int, chmod(dir, 0755), 0));
	reopen(NULL);
	cr_assert(eq(int, stat(dir, &sb), 0));
	cr_assert(eq(u32, (uint32_t)(sb.st_mode & 0777), 0700));
	cr_assert(eq(int, store_check(st, true), 0));
}

static struct store_delivery batch_delivery = { "AGENCY-A", "HUB", NULL, 0 };

static int put_batch_message(uint32_t major, uint32_t minor, const uint8_t *env, size_t env_len)
{
	struct store_message msg = { .type = 1, .created_ms = 1000 + minor,
				     .expires_ms = 999999 };
	struct store_delivery d = batch_delivery;

	d.envelope = env;
	d.envelope_len = env_len;
	store_test_id(msg.id, major, minor);
	return store_outbox_put(st, &msg, &d, 1);
}

Test(store, thousand_message_batch_commits_in_one_transaction)
{
	static uint8_t env[1024];
	uint64_t queued = 0, oldest = 0;

	memset(env, 0xAB, sizeof(env));
	cr_assert(eq(int, store_begin(st), 0));
	for (uint32_t i = 0; i < 1000; i++)
		cr_assert(eq(int, put_batch_message(1, i, env, sizeof(env)), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 1000));
	cr_assert(eq(u64, oldest, 1000));
	reopen(NULL);
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 1000));
}

/* Under the fault VFS: stages a batch of `n` messages as batch `major`. */
static void stage_batch(uint32_t major, uint32_t n)
{
	static uint8_t env[1024];

	cr_assert(eq(int, store_begin(st), 0));
	for (uint32_t i = 0; i < n; i++)
		cr_assert(eq(int, put_batch_message(major, i, env, sizeof(env)), 0));
}

static void assert_refuses_writes(int code)
{
	cr_assert(not(store_healthy(st)));
	cr_assert(eq(int, store_begin(st), code));
	cr_assert(eq(int, put_batch_message(99, 0, (const uint8_t *)"x", 1), code));
	cr_assert(eq(int, store_commit(st), code));
	cr_assert(eq(int, store_expire(st, 1, NULL, NULL), code));
	cr_assert(eq(int, store_purge(st, 1, 1), code));
}

Test(store_sqlite, fsync_failure_on_commit_makes_store_unhealthy)
{
	struct seen_rows rows;
	uint8_t id[STORE_ID_LEN];

	stage_batch(1, 50);
	cr_assert(eq(int, store_commit(st), 0));
	stage_batch(2, 50);
	store_faultvfs_fail_sync(1);
	cr_assert(eq(int, store_commit(st), LIMES_E_STORE_FAILED));
	cr_assert(eq(int, store_faultvfs_failures(), 1));
	cr_assert(eq(str, (char *)store_health_reason(st), "commit failed: disk I/O error (fsync)"));
	assert_refuses_writes(LIMES_E_STORE_FAILED);
	/* Reads still work and see only what was committed. */
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_message_get(st, id, collect, memset(&rows, 0, sizeof(rows))), 0));
	cr_assert(eq(int, message_get(2, &rows), LIMES_E_NOTFOUND));
	store_faultvfs_reset();
	reopen(NULL);
	cr_assert(store_healthy(st));
	for (uint32_t i = 0; i < 50; i++) {
		store_test_id(id, 2, i);
		cr_assert(eq(int, store_message_get(st, id, collect, &rows), LIMES_E_NOTFOUND),
			  "message %u of the failed batch", i);
		store_test_id(id, 1, i);
		cr_assert(eq(int, store_message_get(st, id, collect, &rows), 0));
	}
	cr_assert(eq(int, store_check(st, true), 0));
}

Test(store_sqlite, write_failure_on_commit_makes_store_unhealthy)
{
	struct seen_rows rows;
	uint64_t queued = 0;

	stage_batch(1, 20);
	cr_assert(eq(int, store_commit(st), 0));
	stage_batch(2, 200);
	store_faultvfs_fail_write(1, false);
	cr_assert(eq(int, store_commit(st), LIMES_E_STORE_FAILED));
	cr_assert(not(eq(int, (int)strlen(store_health_reason(st)), 0)));
	assert_refuses_writes(LIMES_E_STORE_FAILED);
	store_faultvfs_reset();
	reopen(NULL);
	cr_assert(eq(int, message_get(2, &rows), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, NULL), 0));
	cr_assert(eq(u64, queued, 20));
	cr_assert(eq(int, store_check(st, true), 0));
}

Test(store_sqlite, disk_full_reports_store_full)
{
	uint64_t queued = 0;

	stage_batch(1, 20);
	cr_assert(eq(int, store_commit(st), 0));
	stage_batch(2, 200);
	store_faultvfs_fail_write(1000000, true);
	cr_assert(eq(int, store_commit(st), LIMES_E_STORE_FULL));
	cr_assert(not(store_healthy(st)));
	assert_refuses_writes(LIMES_E_STORE_FULL);
	store_faultvfs_reset();
	reopen(NULL);
	cr_assert(eq(int, store_outbox_stats(st, "HUB", &queued, NULL), 0));
	cr_assert(eq(u64, queued, 20));
}

static int collect_key_rows(void *arg, const struct store_key_row *row)
{
	struct store_key_row *rows = arg;
	for (int i = 0; i < 4; i++)
		if (!rows[i].peer[0]) {
			rows[i] = *row;
			return 0;
		}
	return LIMES_E_TOOBIG;
}

Test(store, key_rows_are_replaced_whole_listed_in_peer_order_and_survive_a_reopen)
{
	struct store_key_row a = { .peer = "RS-CUSTOMS-HORGOS", .base_line = "limes1:base", .next_line = "limes1:next",
				   .next_state = STORE_KEY_OFFERED, .seq = 5, .announced_ms = 1000, .changed_ms = 2000 };
	struct store_key_row b = { .peer = "HU-NAV-ROSZKE", .current_line = "limes1:cur", .previous_line = "limes1:old",
				   .previous_until_ms = UINT64_C(1764182607120), .changed_by = "ops" };
	struct store_key_row rows[4];

	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_key_put(st, &a), 0));
	cr_assert(eq(int, store_key_put(st, &b), 0));
	cr_assert(eq(int, store_commit(st), 0));
	/* adopted by an operator: the same row, replaced whole */
	a.next_state = STORE_KEY_ADOPTED;
	snprintf(a.changed_by, sizeof(a.changed_by), "customs-ops");
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_key_put(st, &a), 0));
	cr_assert(eq(int, store_commit(st), 0));
	/* a row without a peer is refused before the backend sees it */
	struct store_key_row none = { .seq = 1 };
	cr_assert(eq(int, store_key_put(st, &none), LIMES_E_INVAL));
	reopen(STORE_FAULTVFS_NAME);
	memset(rows, 0, sizeof(rows));
	cr_assert(eq(int, store_key_list(st, collect_key_rows, rows), 0));
	cr_assert(eq(str, rows[0].peer, "HU-NAV-ROSZKE"));
	cr_assert(eq(str, rows[0].current_line, "limes1:cur"));
	cr_assert(eq(str, rows[0].previous_line, "limes1:old"));
	cr_assert(eq(u64, rows[0].previous_until_ms, UINT64_C(1764182607120)));
	cr_assert(eq(str, rows[0].changed_by, "ops"));
	cr_assert(eq(str, rows[1].peer, "RS-CUSTOMS-HORGOS"));
	cr_assert(eq(int, rows[1].next_state, STORE_KEY_ADOPTED));
	cr_assert(eq(str, rows[1].changed_by, "customs-ops"));
	cr_assert(eq(str, rows[1].next_line, "limes1:next"));
	cr_assert(eq(u64, rows[1].seq, 5));
	cr_assert(eq(u64, rows[1].announced_ms, 1000));
	cr_assert(eq(str, rows[2].peer, ""));
}

static int collect_notes(void *arg, const struct store_key_note *note)
{
	struct store_key_note *notes = arg;
	for (int i = 0; i < 4; i++)
		if (!notes[i].kind[0]) {
			notes[i] = *note;
			return 0;
		}
	return LIMES_E_TOOBIG;
}

Test(store, key_notes_are_replaced_whole_deleted_listed_in_kind_and_name_order_and_survive_a_reopen)
{
	struct store_key_note ack = { .kind = STORE_NOTE_ACK, .name = "HU-NAV-ROSZKE", .line = "limes1:next", .seq = 3,
				      .state = STORE_KEY_OFFERED, .at_ms = 1000 };
	struct store_key_note ring = { .kind = STORE_NOTE_RING, .name = "549c05221bc57faa", .line = "limes1:old",
				       .at_ms = 2000, .until_ms = UINT64_C(1764182607120) };
	struct store_key_note theirs = { .kind = STORE_NOTE_THEIRS, .name = "HU-NAV-ROSZKE/ee3b31646fb9b8f8",
					 .line = "limes1:theirs", .at_ms = 3000, .until_ms = 4000 };
	struct store_key_note notes[4];

	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_key_note_put(st, &ack), 0));
	cr_assert(eq(int, store_key_note_put(st, &ring), 0));
	cr_assert(eq(int, store_key_note_put(st, &theirs), 0));
	cr_assert(eq(int, store_commit(st), 0));
	/* the neighbour adopted: the same note, replaced whole; the ring key retired */
	ack.state = STORE_KEY_ADOPTED;
	ack.at_ms = 1500;
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_key_note_put(st, &ack), 0));
	cr_assert(eq(int, store_key_note_delete(st, STORE_NOTE_RING, "549c05221bc57faa"), 0));
	cr_assert(eq(int, store_key_note_delete(st, STORE_NOTE_RING, "no-such-key"), 0));
	cr_assert(eq(int, store_commit(st), 0));
	/* a note without a kind or a name is refused before the backend sees it */
	struct store_key_note none = { .kind = STORE_NOTE_ACK };
	cr_assert(eq(int, store_key_note_put(st, &none), LIMES_E_INVAL));
	reopen(STORE_FAULTVFS_NAME);
	memset(notes, 0, sizeof(notes));
	cr_assert(eq(int, store_key_note_list(st, collect_notes, notes), 0));
	cr_assert(eq(str, notes[0].kind, STORE_NOTE_ACK));
	cr_assert(eq(str, notes[0].name, "HU-NAV-ROSZKE"));
	cr_assert(eq(int, notes[0].state, STORE_KEY_ADOPTED));
	cr_assert(eq(u64, notes[0].seq, 3));
	cr_assert(eq(u64, notes[0].at_ms, 1500));
	cr_assert(eq(str, notes[0].line, "limes1:next"));
	cr_assert(eq(str, notes[1].kind, STORE_NOTE_THEIRS));
	cr_assert(eq(str, notes[1].name, "HU-NAV-ROSZKE/ee3b31646fb9b8f8"));
	cr_assert(eq(u64, notes[1].until_ms, 4000));
	cr_assert(eq(str, notes[2].kind, ""));
}
