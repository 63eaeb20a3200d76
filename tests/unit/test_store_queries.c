/*
 * Unit tests of the store's later operations, run on both backends (SQLite,
 * and PostgreSQL when LIMES_TEST_STORE=postgres: ctest's
 * unit.test_store_queries_on_postgres): the message list with its filters
 * and cursor paging, re-sealing and re-addressing a delivery, a final
 * recipient's queue, a case's messages and body retention, the submitting
 * client, and the audit trail's tables (chain, filters, checkpoints,
 * countersignatures, kept copies; entries staged with the transaction).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"

static char dir[128], conninfo[1024], schema[96];
static bool on_pg;
static struct store *st;

static struct store *open_store(int *err)
{
	return on_pg ? store_open_pg(conninfo, "AGENCY-TEST", err) : store_open(dir, err);
}

static void setup(void)
{
	int err = -1;

	on_pg = store_test_on_pg();
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "storeq"), 0));
	if (on_pg)
		cr_assert(eq(int, store_test_pg_create("storeq", conninfo, sizeof(conninfo), schema, sizeof(schema)),
			     0));
	st = open_store(&err);
	cr_assert(eq(int, err, 0));
	cr_assert(eq(str, (char *)store_backend_name(st), on_pg ? "postgres" : "sqlite"));
}

static void teardown(void)
{
	store_destroy(&st);
	cr_assert(eq(int, store_test_rmtree(dir), 0));
	if (on_pg)
		cr_assert(eq(int, store_test_pg_drop(schema), 0));
}

TestSuite(store_queries, .init = setup, .fini = teardown, .timeout = 60);

static void reopen(void)
{
	int err = -1;

	store_destroy(&st);
	st = open_store(&err);
	cr_assert(eq(int, err, 0));
}

static const uint8_t env1[] = "envelope one";
static const uint8_t env2[] = "envelope two, re-sealed";

/* Message `major` of `type` created at created_ms to each recipient (next hop: itself). */
static void put(uint32_t major, int type, uint64_t created_ms, const char *const *to, size_t n, const uint8_t *ref)
{
	struct store_message msg = { .type = type, .created_ms = created_ms, .expires_ms = created_ms + 1000000,
				     .client = "client-x" };
	struct store_delivery d[4];

	cr_assert(le(sz, n, 4));
	for (size_t i = 0; i < n; i++)
		d[i] = (struct store_delivery){ to[i], to[i], env1, sizeof(env1) };
	store_test_id(msg.id, major, 0);
	if (ref) {
		msg.has_ref = true;
		memcpy(msg.ref, ref, STORE_ID_LEN);
	}
	cr_assert(eq(int, store_outbox_put(st, &msg, d, n), 0));
}

struct rows {
	int n;
	uint32_t major[64];
	char recipient[64][STORE_AGENCY_MAX + 1];
	char next_hop[64][STORE_AGENCY_MAX + 1];
	enum delivery_state state[64];
	int64_t cursor[64];
	size_t envelope_len[64];
	uint8_t envelope[64][32];
};

static int collect(void *arg, const struct store_delivery_row *row)
{
	struct rows *r = arg;
	uint32_t minor;

	if (r->n >= 64)
		return 1;
	store_test_id_parts(row->id, &r->major[r->n], &minor);
	snprintf(r->recipient[r->n], sizeof(r->recipient[0]), "%s", row->recipient);
	snprintf(r->next_hop[r->n], sizeof(r->next_hop[0]), "%s", row->next_hop);
	r->state[r->n] = row->state;
	r->cursor[r->n] = row->cursor;
	r->envelope_len[r->n] = row->envelope_len;
	memcpy(r->envelope[r->n], row->envelope, row->envelope_len < 32 ? row->envelope_len : 32);
	r->n++;
	return 0;
}

static int list(int state, const char *recipient, int type, uint64_t since, int64_t after, size_t limit,
		struct rows *r)
{
	struct store_list_filter f = { state, recipient, type, since };

	memset(r, 0, sizeof(*r));
	return store_delivery_list(st, &f, after, limit, collect, r);
}

static int get(uint32_t major, struct rows *r)
{
	uint8_t id[STORE_ID_LEN];

	memset(r, 0, sizeof(*r));
	store_test_id(id, major, 0);
	return store_message_get(st, id, collect, r);
}

static int done(uint32_t major, const char *to, enum delivery_state state, uint64_t when)
{
	uint8_t id[STORE_ID_LEN];

	store_test_id(id, major, 0);
	return store_delivery_done(st, id, to, state, state == DELIVERY_REJECTED ? 9 : 0, "", when, 0);
}

Test(store_queries, delivery_list_filters_by_state_recipient_type_and_time_and_pages_by_cursor)
{
	static const char *const ab[] = { "AGENCY-A", "AGENCY-B" }, *const b[] = { "AGENCY-B" };
	struct rows r;
	int64_t after = 0;
	int seen = 0;

	put(1, 1, 1000, ab, 2, NULL);
	put(2, 2, 2000, b, 1, NULL);
	put(3, 1, 3000, ab, 2, NULL);
	cr_assert(eq(int, done(1, "AGENCY-A", DELIVERY_DELIVERED, 5000), 0));
	cr_assert(eq(int, done(3, "AGENCY-B", DELIVERY_REJECTED, 5000), 0));
	cr_assert(eq(int, store_commit(st), 0));

	cr_assert(eq(int, list(-1, NULL, -1, 0, 0, 100, &r), 5));
	for (int i = 1; i < r.n; i++)
		cr_assert(lt(i64, r.cursor[i - 1], r.cursor[i]), "cursors increase");
	cr_assert(eq(int, list(DELIVERY_REJECTED, NULL, -1, 0, 0, 100, &r), 1));
	cr_assert(eq(u32, r.major[0], 3));
	cr_assert(eq(str, r.recipient[0], "AGENCY-B"));
	cr_assert(eq(int, list(DELIVERY_QUEUED, "AGENCY-B", -1, 0, 0, 100, &r), 2));
	cr_assert(eq(u32, r.major[0], 1));
	cr_assert(eq(u32, r.major[1], 2));
	cr_assert(eq(int, list(-1, NULL, 2, 0, 0, 100, &r), 1));
	cr_assert(eq(u32, r.major[0], 2));
	cr_assert(eq(int, list(-1, "AGENCY-A", -1, 2000, 0, 100, &r), 1));
	cr_assert(eq(u32, r.major[0], 3));
	cr_assert(eq(int, list(DELIVERY_EXPIRED, NULL, -1, 0, 0, 100, &r), 0));
	/* pages of two, each after the last cursor of the one before */
	for (int page = 0; page < 4; page++) {
		int n = list(-1, NULL, -1, 0, after, 2, &r);
		cr_assert(ge(int, n, 0));
		cr_assert(le(int, n, 2));
		if (n == 0)
			break;
		seen += n;
		after = r.cursor[n - 1];
	}
	cr_assert(eq(int, seen, 5));
	cr_assert(eq(int, list(-1, NULL, -1, 0, 0, 0, &r), LIMES_E_INVAL));
}

Test(store_queries, reseal_replaces_the_envelope_of_a_pending_delivery_only)
{
	static const char *const ab[] = { "AGENCY-A", "AGENCY-B" };
	uint8_t id[STORE_ID_LEN];
	struct rows r;

	put(1, 1, 1000, ab, 2, NULL);
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-B", 2000, 9000), 0));
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-A", env2, sizeof(env2)), 0));
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-B", env2, sizeof(env2)), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, get(1, &r), 0));
	cr_assert(eq(int, r.n, 2));
	for (int i = 0; i < 2; i++) {
		cr_assert(eq(sz, r.envelope_len[i], sizeof(env2)));
		cr_assert(eq(int, memcmp(r.envelope[i], env2, 23), 0));
	}
	cr_assert(eq(int, r.state[1], DELIVERY_SENT), "re-sealing keeps the state");
	cr_assert(eq(int, done(1, "AGENCY-A", DELIVERY_DELIVERED, 3000), 0));
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-A", env1, sizeof(env1)), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-Z", env1, sizeof(env1)), LIMES_E_NOTFOUND));
	/* a refusal leaves the transaction usable: this commits */
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-B", env1, sizeof(env1)), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, get(1, &r), 0));
	cr_assert(eq(sz, r.envelope_len[0], sizeof(env2)), "the delivered copy was not touched");
	cr_assert(eq(sz, r.envelope_len[1], sizeof(env1)));
}

Test(store_queries, readdress_moves_an_undelivered_delivery_to_the_corrected_recipient)
{
	static const char *const misspelt[] = { "AGENCY-BB" };
	struct store_delivery to = { "AGENCY-B", "HUB", env2, sizeof(env2) };
	uint8_t id[STORE_ID_LEN];
	struct rows r;
	uint64_t queued = 0, oldest = 0;

	put(1, 1, 1000, misspelt, 1, NULL);
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-BB", 2000, 9000), 0));
	cr_assert(eq(int, store_delivery_readdress(st, id, "AGENCY-BB", &to, 777000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, get(1, &r), 0));
	cr_assert(eq(int, r.n, 1));
	cr_assert(eq(str, r.recipient[0], "AGENCY-B"));
	cr_assert(eq(str, r.next_hop[0], "HUB"));
	cr_assert(eq(int, r.state[0], DELIVERY_QUEUED));
	cr_assert(eq(sz, r.envelope_len[0], sizeof(env2)));
	cr_assert(eq(int, store_outbox_stats_recipient(st, "AGENCY-B", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 1));
	cr_assert(eq(u64, oldest, 1000));
	cr_assert(eq(int, store_outbox_stats_recipient(st, "AGENCY-BB", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
	cr_assert(eq(int, store_delivery_readdress(st, id, "AGENCY-BB", &to, 777000), LIMES_E_NOTFOUND));
	/* a delivered message stays where it was delivered */
	cr_assert(eq(int, done(1, "AGENCY-B", DELIVERY_DELIVERED, 3000), 0));
	to.recipient = "AGENCY-C";
	cr_assert(eq(int, store_delivery_readdress(st, id, "AGENCY-B", &to, 777000), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, get(1, &r), 0));
	cr_assert(eq(str, r.recipient[0], "AGENCY-B"));
	cr_assert(eq(int, r.state[0], DELIVERY_DELIVERED));
}

Test(store_queries, recipient_stats_count_a_final_recipients_queue_whatever_the_hop)
{
	static const char *const ab[] = { "AGENCY-A", "AGENCY-B" };
	uint8_t id[STORE_ID_LEN];
	uint64_t queued = 9, oldest = 9;

	cr_assert(eq(int, store_outbox_stats_recipient(st, "AGENCY-A", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
	cr_assert(eq(u64, oldest, 0));
	put(1, 1, 1000, ab, 2, NULL);
	put(2, 1, 500, ab, 2, NULL);
	put(3, 1, 3000, ab, 2, NULL);
	store_test_id(id, 3, 0);
	cr_assert(eq(int, store_delivery_sent(st, id, "AGENCY-A", 4000, 9000), 0));
	cr_assert(eq(int, done(2, "AGENCY-A", DELIVERY_DELIVERED, 5000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_outbox_stats_recipient(st, "AGENCY-A", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2), "queued and sent count, delivered does not");
	cr_assert(eq(u64, oldest, 1000));
	cr_assert(eq(int, store_outbox_stats_recipient(st, "AGENCY-B", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 3));
	cr_assert(eq(u64, oldest, 500));
}

static void inbox_put(uint32_t major, int type, uint64_t received_ms, const uint8_t *ref)
{
	struct store_inbox_entry e = { .sender = "HU-NAV", .type = type, .created_ms = received_ms - 10,
				       .expires_ms = received_ms + 1000000, .received_ms = received_ms,
				       .envelope = env1, .envelope_len = sizeof(env1) };

	store_test_id(e.id, major, 0);
	memset(e.envelope_hash, 0x11, sizeof(e.envelope_hash));
	if (ref) {
		e.has_ref = true;
		memcpy(e.ref, ref, STORE_ID_LEN);
	}
	cr_assert(eq(int, store_inbox_put(st, &e, received_ms + 1000000), 0));
}

Test(store_queries, a_case_is_found_across_outbox_and_inbox_and_bodies_are_purged_by_type_and_age)
{
	static const char *const b[] = { "AGENCY-B" };
	uint8_t request[STORE_ID_LEN], id[STORE_ID_LEN], kids[8][STORE_ID_LEN];
	struct store_case_entry e;
	size_t n = 0;
	uint32_t major, minor;

	/* our request 1 (type 5), the neighbour's replies 2 and 3, our supplement 4 */
	store_test_id(request, 1, 0);
	put(1, 5, 1000, b, 1, NULL);
	inbox_put(2, 6, 2000, request);
	inbox_put(3, 6, 3000, request);
	put(4, 5, 4000, b, 1, request);
	put(5, 7, 1000, b, 1, NULL);
	cr_assert(eq(int, store_commit(st), 0));

	cr_assert(eq(int, store_case_get(st, request, &e), 0));
	cr_assert(not(e.received));
	cr_assert(eq(int, e.type, 5));
	cr_assert(not(e.has_ref));
	cr_assert(not(e.body_purged));
	store_test_id(id, 2, 0);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(e.received);
	cr_assert(eq(str, e.sender, "HU-NAV"));
	cr_assert(eq(u64, e.received_ms, 2000));
	cr_assert(e.has_ref);
	cr_assert(eq(int, memcmp(e.ref, request, STORE_ID_LEN), 0));
	store_test_id(id, 9, 0);
	cr_assert(eq(int, store_case_get(st, id, &e), LIMES_E_NOTFOUND));
	cr_assert(eq(int, store_case_children(st, request, kids, 8, &n), 0));
	cr_assert(eq(sz, n, 3));
	unsigned found = 0;
	for (size_t i = 0; i < n; i++) {
		store_test_id_parts(kids[i], &major, &minor);
		found |= 1u << major;
	}
	cr_assert(eq(u32, found, (1u << 2) | (1u << 3) | (1u << 4)));
	cr_assert(eq(int, store_case_children(st, request, kids, 2, &n), 0));
	cr_assert(eq(sz, n, 2), "max is respected");

	/* bodies: received type 6 at or before 2500 go; a queued message keeps its body */
	cr_assert(eq(int, store_purge_bodies(st, 6, 2500), 1));
	cr_assert(eq(int, store_purge_bodies(st, 5, 99999), 0), "pending deliveries keep their envelope");
	cr_assert(eq(int, done(1, "AGENCY-B", DELIVERY_DELIVERED, 6000), 0));
	cr_assert(eq(int, done(5, "AGENCY-B", DELIVERY_DELIVERED, 6000), 0));
	cr_assert(eq(int, store_purge_bodies(st, 5, 5999), 0), "finished after the cut");
	cr_assert(eq(int, store_purge_bodies(st, 5, 6000), 1));
	cr_assert(eq(int, store_commit(st), 0));
	cr_assert(eq(int, store_case_get(st, request, &e), 0));
	cr_assert(e.body_purged);
	store_test_id(id, 2, 0);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(e.body_purged);
	store_test_id(id, 3, 0);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(not(e.body_purged));
	store_test_id(id, 5, 0);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(not(e.body_purged), "another type keeps its body");
	cr_assert(eq(int, store_purge_bodies(st, 6, 2500), 0), "a purged body is not counted twice");
}

Test(store_queries, message_client_names_who_submitted)
{
	static const char *const b[] = { "AGENCY-B" };
	struct store_message msg = { .type = 1, .created_ms = 1, .expires_ms = 100000 };
	struct store_delivery d = { "AGENCY-B", "AGENCY-B", env1, sizeof(env1) };
	uint8_t id[STORE_ID_LEN];
	char who[64];

	put(1, 1, 1000, b, 1, NULL);
	store_test_id(msg.id, 2, 0);
	cr_assert(eq(int, store_outbox_put(st, &msg, &d, 1), 0));
	cr_assert(eq(int, store_commit(st), 0));
	store_test_id(id, 1, 0);
	cr_assert(eq(int, store_message_client(st, id, who, sizeof(who)), 0));
	cr_assert(eq(str, who, "client-x"));
	store_test_id(id, 2, 0);
	cr_assert(eq(int, store_message_client(st, id, who, sizeof(who)), 0));
	cr_assert(eq(str, who, ""));
	store_test_id(id, 3, 0);
	cr_assert(eq(int, store_message_client(st, id, who, sizeof(who)), LIMES_E_NOTFOUND));
}

/* ------------------------------------------------------------ audit trail */

/* Entry seq: recognisable bytes, hash = its seq repeated; names message id major=seq. */
static int append(uint64_t seq, uint64_t time_ms, size_t n_ids)
{
	uint8_t bytes[40], ids[3][STORE_ID_LEN];
	struct store_audit_row row = { .seq = seq, .time_ms = time_ms, .kind = (int)(seq % 13) + 1,
				       .bytes = bytes, .len = sizeof(bytes), .hash_len = STORE_HASH_LEN };

	memset(bytes, (int)seq, sizeof(bytes));
	memset(row.hash, (int)seq, sizeof(row.hash));
	for (size_t i = 0; i < n_ids && i < 3; i++)
		store_test_id(ids[i], (uint32_t)(seq + i), 0);
	return store_audit_append(st, &row, (const uint8_t(*)[STORE_ID_LEN])ids, n_ids);
}

struct entries {
	int n;
	uint64_t seq[64];
	uint64_t time_ms[64];
	int kind[64];
	size_t len[64];
	uint8_t first_byte[64];
	uint8_t hash0[64];
	int stop_after;
};

static int collect_entry(void *arg, const struct store_audit_row *row)
{
	struct entries *e = arg;

	e->seq[e->n] = row->seq;
	e->time_ms[e->n] = row->time_ms;
	e->kind[e->n] = row->kind;
	e->len[e->n] = row->len;
	e->first_byte[e->n] = row->bytes[0];
	e->hash0[e->n] = row->hash[0];
	e->n++;
	return e->n >= 64 || (e->stop_after && e->n >= e->stop_after);
}

static int entries(const struct store_audit_filter *f, struct entries *e, int stop_after)
{
	memset(e, 0, sizeof(*e));
	e->stop_after = stop_after;
	return store_audit_list(st, f, collect_entry, e);
}

Test(store_queries, audit_entries_chain_with_the_transaction_and_list_by_every_filter)
{
	struct store_audit_filter f;
	struct entries e;
	uint64_t head = 99;
	uint8_t hash[STORE_HASH_LEN];

	cr_assert(eq(int, store_audit_head(st, &head, hash), 0));
	cr_assert(eq(u64, head, 0));
	for (uint64_t s = 1; s <= 5; s++)
		cr_assert(eq(int, append(s, 1000 * s, s == 3 ? 2 : 1), 0));
	/* staged entries are the head already (the next entry chains on them) */
	cr_assert(eq(int, store_audit_head(st, &head, hash), 0));
	cr_assert(eq(u64, head, 5));
	cr_assert(eq(u8, hash[0], 5));
	/* a taken seq is refused, and the transaction goes on */
	cr_assert(eq(int, append(5, 9999, 0), LIMES_E_EXISTS));
	cr_assert(eq(int, append(6, 6000, 1), 0));
	cr_assert(eq(int, store_commit(st), 0));
	/* rolled back with its transaction: no entry without its action */
	cr_assert(eq(int, append(7, 7000, 1), 0));
	store_rollback(st);
	reopen();
	cr_assert(eq(int, store_audit_head(st, &head, hash), 0));
	cr_assert(eq(u64, head, 6));
	cr_assert(eq(u8, hash[31], 6));

	memset(&f, 0, sizeof(f));
	cr_assert(eq(int, entries(&f, &e, 0), 6));
	for (int i = 0; i < 6; i++) {
		cr_assert(eq(u64, e.seq[i], (uint64_t)i + 1));
		cr_assert(eq(u64, e.time_ms[i], 1000 * ((uint64_t)i + 1)));
		cr_assert(eq(int, e.kind[i], (i + 1) % 13 + 1));
		cr_assert(eq(sz, e.len[i], 40));
		cr_assert(eq(u8, e.first_byte[i], i + 1));
		cr_assert(eq(u8, e.hash0[i], i + 1));
	}
	f.from_seq = 3;
	cr_assert(eq(int, entries(&f, &e, 0), 4));
	cr_assert(eq(u64, e.seq[0], 3));
	f.from_seq = 0;
	f.since_ms = 2000;
	f.until_ms = 4000;
	cr_assert(eq(int, entries(&f, &e, 0), 3));
	cr_assert(eq(u64, e.seq[2], 4));
	f.since_ms = f.until_ms = 0;
	f.limit = 2;
	cr_assert(eq(int, entries(&f, &e, 0), 2));
	cr_assert(eq(u64, e.seq[1], 2));
	f.limit = 0;
	cr_assert(eq(int, entries(&f, &e, 3), 3), "stops when the callback asks");
	/* by message id: entry 3 names ids 3 and 4, entry 4 names id 4 */
	f.has_id = true;
	store_test_id(f.id, 4, 0);
	cr_assert(eq(int, entries(&f, &e, 0), 2));
	cr_assert(eq(u64, e.seq[0], 3));
	cr_assert(eq(u64, e.seq[1], 4));
	store_test_id(f.id, 40, 0);
	cr_assert(eq(int, entries(&f, &e, 0), 0));
}

/* Counts entries and checks each follows the one before, keeping none. */
struct in_order {
	uint64_t last, count;
	bool ordered;
};

static int check_order(void *arg, const struct store_audit_row *row)
{
	struct in_order *x = arg;

	x->ordered &= row->seq == x->last + 1;
	x->last = row->seq;
	x->count++;
	return 0;
}

Test(store_queries, audit_list_reads_a_long_trail_whole_and_in_order)
{
	struct store_audit_filter f;
	struct in_order c = { 0, 0, true };
	uint64_t n = 2500;

	/* longer than a page of the PostgreSQL backend's reader */
	for (uint64_t s = 1; s <= n; s++)
		cr_assert(eq(int, append(s, s, 1), 0));
	cr_assert(eq(int, store_commit(st), 0));
	memset(&f, 0, sizeof(f));
	cr_assert(eq(int, store_audit_list(st, &f, check_order, &c), (int)n));
	cr_assert(c.ordered);
	cr_assert(eq(u64, c.last, n));
	cr_assert(eq(u64, c.count, n));
	f.from_seq = 1500;
	f.limit = 1200;
	c = (struct in_order){ 1499, 0, true };
	cr_assert(eq(int, store_audit_list(st, &f, check_order, &c), 1001));
	cr_assert(c.ordered);
	cr_assert(eq(u64, c.last, n));
	f.limit = 1000;
	c = (struct in_order){ 1499, 0, true };
	cr_assert(eq(int, store_audit_list(st, &f, check_order, &c), 1000), "a limit of exactly one page");
	cr_assert(eq(u64, c.last, 2499));
}

struct cps {
	int n;
	uint64_t seq[16];
	uint64_t time_ms[16];
	uint8_t head0[16], sig0[16], body0[16];
	size_t body_len[16];
};

static int collect_cp(void *arg, const struct store_audit_checkpoint *cp)
{
	struct cps *c = arg;

	c->seq[c->n] = cp->seq;
	c->time_ms[c->n] = cp->time_ms;
	c->head0[c->n] = cp->head[0];
	c->sig0[c->n] = cp->sig[63];
	c->body0[c->n] = cp->body[0];
	c->body_len[c->n] = cp->body_len;
	return ++c->n >= 16;
}

static int checkpoint(uint64_t seq, uint64_t time_ms)
{
	uint8_t body[57];
	struct store_audit_checkpoint cp = { .seq = seq, .time_ms = time_ms, .body = body, .body_len = sizeof(body) };

	memset(body, (int)seq + 100, sizeof(body));
	memset(cp.head, (int)seq, sizeof(cp.head));
	memset(cp.sig, (int)seq + 50, sizeof(cp.sig));
	return store_audit_checkpoint_put(st, &cp);
}

struct sigs {
	int n;
	char peer[8][STORE_AGENCY_MAX + 1];
	size_t len[8];
	uint8_t first[8];
	uint64_t time_ms[8];
};

static int collect_sig(void *arg, const char *peer, const uint8_t *cs, size_t len, uint64_t time_ms)
{
	struct sigs *s = arg;

	snprintf(s->peer[s->n], sizeof(s->peer[0]), "%s", peer);
	s->len[s->n] = len;
	s->first[s->n] = cs[0];
	s->time_ms[s->n] = time_ms;
	return ++s->n >= 8;
}

struct kept {
	int n;
	char peer[8][STORE_AGENCY_MAX + 1];
	uint64_t seq[8];
	size_t body_len[8];
	uint8_t sig0[8], cs0[8];
};

static int collect_kept(void *arg, const struct store_audit_kept *k)
{
	struct kept *s = arg;

	snprintf(s->peer[s->n], sizeof(s->peer[0]), "%s", k->peer);
	s->seq[s->n] = k->seq;
	s->body_len[s->n] = k->body_len;
	s->sig0[s->n] = k->sig[0];
	s->cs0[s->n] = k->countersig[63];
	return ++s->n >= 8;
}

Test(store_queries, audit_checkpoints_countersignatures_and_kept_copies_round_trip)
{
	uint8_t cs[STORE_SIG_LEN], body[30];
	struct cps c;
	struct sigs s;
	struct kept k;
	uint64_t seq = 9, time_ms = 9;

	cr_assert(eq(int, store_audit_checkpoint_last(st, &seq, &time_ms), 0));
	cr_assert(eq(u64, seq, 0));
	cr_assert(eq(u64, time_ms, 0));
	cr_assert(eq(int, checkpoint(10, 1000), 0));
	cr_assert(eq(int, checkpoint(20, 2000), 0));
	cr_assert(eq(int, checkpoint(30, 3000), 0));
	cr_assert(eq(int, checkpoint(20, 2500), LIMES_E_EXISTS));
	memset(cs, 0xC1, sizeof(cs));
	cr_assert(eq(int, store_audit_countersig_put(st, 10, "HU-NAV", cs, 1100), 0));
	cr_assert(eq(int, store_audit_countersig_put(st, 20, "HU-NAV", cs, 2100), 0));
	memset(cs, 0xC2, sizeof(cs));
	cr_assert(eq(int, store_audit_countersig_put(st, 10, "AT-POL", cs, 1200), 0));
	cr_assert(eq(int, store_audit_countersig_put(st, 10, "AT-POL", cs, 1300), 0), "a repeat is ignored");
	cr_assert(eq(int, store_audit_countersig_put(st, 10, "", cs, 1300), LIMES_E_INVAL));
	memset(body, 0xB0, sizeof(body));
	struct store_audit_kept kk = { .peer = "HU-NAV", .seq = 7, .body = body, .body_len = sizeof(body),
				       .time_ms = 700 };
	memset(kk.sig, 0x51, sizeof(kk.sig));
	memset(kk.countersig, 0x52, sizeof(kk.countersig));
	cr_assert(eq(int, store_audit_kept_put(st, &kk), 0));
	cr_assert(eq(int, store_audit_kept_put(st, &kk), 0), "a repeat is ignored");
	kk.seq = 3;
	cr_assert(eq(int, store_audit_kept_put(st, &kk), 0));
	kk.peer = "AT-POL";
	kk.seq = 5;
	cr_assert(eq(int, store_audit_kept_put(st, &kk), 0));
	cr_assert(eq(int, store_commit(st), 0));
	reopen();

	cr_assert(eq(int, store_audit_checkpoint_last(st, &seq, &time_ms), 0));
	cr_assert(eq(u64, seq, 30));
	cr_assert(eq(u64, time_ms, 3000));
	memset(&c, 0, sizeof(c));
	cr_assert(eq(int, store_audit_checkpoints(st, 10, collect_cp, &c), 2));
	cr_assert(eq(u64, c.seq[0], 20));
	cr_assert(eq(u64, c.time_ms[0], 2000), "the first put stands");
	cr_assert(eq(u8, c.head0[0], 20));
	cr_assert(eq(u8, c.sig0[0], 70));
	cr_assert(eq(u8, c.body0[0], 120));
	cr_assert(eq(sz, c.body_len[0], 57));
	memset(&c, 0, sizeof(c));
	cr_assert(eq(int, store_audit_uncountersigned(st, "HU-NAV", 0, 0, collect_cp, &c), 1));
	cr_assert(eq(u64, c.seq[0], 30));
	memset(&c, 0, sizeof(c));
	cr_assert(eq(int, store_audit_uncountersigned(st, "AT-POL", 0, 1, collect_cp, &c), 1));
	cr_assert(eq(u64, c.seq[0], 20));
	memset(&c, 0, sizeof(c));
	cr_assert(eq(int, store_audit_uncountersigned(st, "AT-POL", 20, 0, collect_cp, &c), 1));
	cr_assert(eq(u64, c.seq[0], 30));
	memset(&s, 0, sizeof(s));
	cr_assert(eq(int, store_audit_countersigs(st, 10, collect_sig, &s), 2));
	cr_assert(eq(str, s.peer[0], "AT-POL"));
	cr_assert(eq(u8, s.first[0], 0xC2));
	cr_assert(eq(u64, s.time_ms[0], 1200));
	cr_assert(eq(sz, s.len[0], STORE_SIG_LEN));
	cr_assert(eq(str, s.peer[1], "HU-NAV"));
	cr_assert(eq(u8, s.first[1], 0xC1));
	memset(&s, 0, sizeof(s));
	cr_assert(eq(int, store_audit_countersigs(st, 30, collect_sig, &s), 0));
	memset(&k, 0, sizeof(k));
	cr_assert(eq(int, store_audit_kept_list(st, "HU-NAV", collect_kept, &k), 2));
	cr_assert(eq(u64, k.seq[0], 3));
	cr_assert(eq(u64, k.seq[1], 7));
	cr_assert(eq(sz, k.body_len[0], sizeof(body)));
	cr_assert(eq(u8, k.sig0[0], 0x51));
	cr_assert(eq(u8, k.cs0[0], 0x52));
	memset(&k, 0, sizeof(k));
	cr_assert(eq(int, store_audit_kept_list(st, NULL, collect_kept, &k), 3));
	cr_assert(eq(str, k.peer[0], "AT-POL"));
	cr_assert(eq(str, k.peer[2], "HU-NAV"));
}

Test(store_queries, audit_kept_newest_and_one_body_by_seq)
{
	uint8_t body[40], got[120];
	size_t len = 0;
	struct kept k;
	struct store_audit_kept kk = { .peer = "HU-NAV", .body = body, .body_len = sizeof(body), .time_ms = 1 };

	memset(kk.sig, 0x51, sizeof(kk.sig));
	memset(kk.countersig, 0x52, sizeof(kk.countersig));
	for (uint64_t seq = 10; seq <= 40; seq += 10) {
		memset(body, (int)seq, sizeof(body));
		kk.seq = seq;
		cr_assert(eq(int, store_audit_kept_put(st, &kk), 0));
	}
	kk.peer = "AT-POL";
	kk.seq = 50;
	cr_assert(eq(int, store_audit_kept_put(st, &kk), 0));
	/* staged rows are seen (an equivocation within one turn is caught) */
	cr_assert(eq(int, store_audit_kept_body(st, "HU-NAV", 40, got, sizeof(got), &len), 0));
	cr_assert(eq(sz, len, sizeof(body)));
	cr_assert(eq(u8, got[0], 40));
	cr_assert(eq(int, store_commit(st), 0));
	reopen();

	memset(&k, 0, sizeof(k));
	cr_assert(eq(int, store_audit_kept_latest(st, "HU-NAV", 2, collect_kept, &k), 2));
	cr_assert(eq(u64, k.seq[0], 30), "the newest two, oldest first");
	cr_assert(eq(u64, k.seq[1], 40));
	memset(&k, 0, sizeof(k));
	cr_assert(eq(int, store_audit_kept_latest(st, "HU-NAV", 256, collect_kept, &k), 4));
	cr_assert(eq(u64, k.seq[0], 10));
	cr_assert(eq(int, store_audit_kept_body(st, "HU-NAV", 20, got, sizeof(got), &len), 0));
	cr_assert(eq(sz, len, sizeof(body)));
	cr_assert(eq(u8, got[39], 20));
	cr_assert(eq(int, store_audit_kept_body(st, "HU-NAV", 50, got, sizeof(got), &len), LIMES_E_NOTFOUND),
		  "another peer's seq");
	cr_assert(eq(int, store_audit_kept_latest(st, "HU-NAV", 0, collect_kept, &k), LIMES_E_INVAL));
	cr_assert(eq(int, store_audit_kept_body(st, "", 20, got, sizeof(got), &len), LIMES_E_INVAL));
}
