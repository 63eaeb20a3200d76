/*
 * The store's query behind a resend after a neighbour's restore
 * (store_delivered_since, agent/store/sqlite_resend.c and pg_resend.c):
 * only deliveries to that next hop, delivered (not rejected or expired),
 * at or after since and before until, oldest first, at most limit. Runs on
 * SQLite, and on PostgreSQL when LIMES_TEST_STORE=postgres (ctest:
 * unit.test_store_resend_on_postgres).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"

static char dir[128];
static struct store *st;
static bool on_pg;
static char conninfo[1024], schema[96];

static void setup(void)
{
	int err = -1;

	on_pg = store_test_on_pg();
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "resend"), 0));
	if (on_pg)
		cr_assert(eq(int, store_test_pg_create("resend", conninfo, sizeof(conninfo), schema, sizeof(schema)), 0));
	st = on_pg ? store_open_pg(conninfo, "AGENCY-TEST", &err) : store_open(dir, &err);
	cr_assert(eq(int, err, 0));
	cr_assert(not(eq(ptr, st, NULL)));
	cr_assert(eq(str, (char *)store_backend_name(st), on_pg ? "postgres" : "sqlite"));
}

static void teardown(void)
{
	store_destroy(&st);
	cr_assert(eq(int, store_test_rmtree(dir), 0));
	if (on_pg)
		cr_assert(eq(int, store_test_pg_drop(schema), 0));
}

TestSuite(store_resend, .init = setup, .fini = teardown, .timeout = 60);

static const uint8_t envelope[] = "sealed envelope";

/* Message (major, 0) to recipient through next_hop, finished in `state` at done_ms. */
static void finished(uint32_t major, const char *recipient, const char *next_hop, enum delivery_state state,
		     uint64_t done_ms)
{
	struct store_message msg = { .type = 1, .created_ms = 500, .expires_ms = 9999999 };
	struct store_delivery d = { recipient, next_hop, envelope, sizeof(envelope) };

	store_test_id(msg.id, major, 0);
	cr_assert(eq(int, store_outbox_put(st, &msg, &d, 1), 0));
	cr_assert(eq(int, store_delivery_sent(st, msg.id, recipient, 600, 5000), 0));
	cr_assert(eq(int, store_delivery_done(st, msg.id, recipient, state, state == DELIVERY_REJECTED ? 11 : 0,
					      NULL, done_ms, 0),
		     0));
}

struct seen {
	uint32_t major[16];
	char recipient[16][STORE_AGENCY_MAX + 1];
	size_t n, stop_after;
};

static int collect(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient)
{
	struct seen *s = arg;
	uint32_t minor;

	cr_assert(lt(sz, s->n, 16));
	store_test_id_parts(id, &s->major[s->n], &minor);
	snprintf(s->recipient[s->n], sizeof(s->recipient[s->n]), "%s", recipient);
	s->n++;
	return s->stop_after && s->n == s->stop_after;
}

/* Six deliveries: to HUB directly and relayed through it, to another hop,
 * one rejected, one expired-then-never-delivered, at different times. */
static void six(void)
{
	cr_assert(eq(int, store_begin(st), 0));
	finished(1, "HUB", "HUB", DELIVERY_DELIVERED, 1000);      /* before since */
	finished(2, "HUB", "HUB", DELIVERY_DELIVERED, 3000);
	finished(3, "AGENCY-R", "HUB", DELIVERY_DELIVERED, 2000); /* relayed through HUB */
	finished(4, "AGENCY-B", "AGENCY-B", DELIVERY_DELIVERED, 2500);
	finished(5, "HUB", "HUB", DELIVERY_REJECTED, 2600);
	finished(6, "HUB", "HUB", DELIVERY_DELIVERED, 4000);      /* at until: delivered anew by a resend */
	cr_assert(eq(int, store_commit(st), 0));
}

Test(store_resend, takes_deliveries_to_the_hop_delivered_since_and_before_until_oldest_first)
{
	struct seen s = { 0 };

	six();
	cr_assert(eq(int, store_delivered_since(st, "HUB", 2000, 4000, 10, collect, &s), 2));
	cr_assert(eq(sz, s.n, 2));
	cr_assert(eq(u32, s.major[0], 3));
	cr_assert(eq(str, s.recipient[0], "AGENCY-R"));
	cr_assert(eq(u32, s.major[1], 2));
	cr_assert(eq(str, s.recipient[1], "HUB"));
	/* not 1 (before since), 4 (another hop), 5 (rejected), nor 6: it was
	 * delivered at until (what a resend's first batch sent again and was
	 * delivered anew must not fill its next batch) */
}

Test(store_resend, until_one_past_takes_the_last_and_the_limit_counts)
{
	struct seen s = { 0 };

	six();
	cr_assert(eq(int, store_delivered_since(st, "HUB", 0, 4001, 10, collect, &s), 4));
	cr_assert(eq(u32, s.major[0], 1));
	cr_assert(eq(u32, s.major[3], 6));
	memset(&s, 0, sizeof(s));
	cr_assert(eq(int, store_delivered_since(st, "HUB", 0, 4001, 2, collect, &s), 2));
	cr_assert(eq(u32, s.major[0], 1));
	cr_assert(eq(u32, s.major[1], 3));
	/* the callback stops it early */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	cr_assert(eq(int, store_delivered_since(st, "HUB", 0, 4001, 10, collect, &s), 1));
}

Test(store_resend, another_hop_nothing_in_range_and_bad_arguments)
{
	struct seen s = { 0 };

	six();
	cr_assert(eq(int, store_delivered_since(st, "AGENCY-B", 0, 9999, 10, collect, &s), 1));
	cr_assert(eq(u32, s.major[0], 4));
	cr_assert(eq(int, store_delivered_since(st, "NOBODY", 0, 9999, 10, collect, &s), 0));
	cr_assert(eq(int, store_delivered_since(st, "HUB", 4001, 9999, 10, collect, &s), 0));
	cr_assert(eq(int, store_delivered_since(st, "HUB", 0, 1000, 10, collect, &s), 0));
	cr_assert(eq(int, store_delivered_since(st, "HUB", 0, 9999, 0, collect, &s), LIMES_E_INVAL));
	cr_assert(eq(int, store_delivered_since(st, "HUB", 0, (uint64_t)INT64_MAX + 1, 10, collect, &s),
		     LIMES_E_INVAL));
	cr_assert(eq(int, store_delivered_since(st, NULL, 0, 9999, 10, collect, &s), LIMES_E_INVAL));
	cr_assert(eq(sz, s.n, 1));
}
