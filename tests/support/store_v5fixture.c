/*
 * What tests/fixtures/store_v5.sql and store_pg_v4.sql hold, and the checks
 * both backends' upgrade tests run on a migrated copy (store_v5fixture.h).
 * The fixtures were written through the store API by a throwaway program
 * with recognisable envelopes: envelope k is 300 + 37k bytes, byte i being
 * (31k + 7i) mod 256; message m went to AGENCY-B sealed as envelope m, and
 * message 1 also to AGENCY-C through AGENCY-R as envelope 6.
 */
#include "support/store_v5fixture.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "proto/err.h"

#define T0 UINT64_C(1796140000000)
#define DAY UINT64_C(86400000)

/* One delivery of the fixture, as the store must show it. */
struct want {
	int64_t cursor;
	int msg;                /* message m: id F6 m 5A... */
	const char *recipient, *next_hop;
	enum delivery_state state;
	int type, priority;
	uint32_t attempts;
	uint64_t sent_ms, next_attempt_ms, done_ms;
	int reason;
	const char *detail;
	bool receipt;
	int envelope;           /* envelope k, or -1: its body was purged */
};

static const struct want fixture[] = {
	{ 1, 1, "AGENCY-B", "AGENCY-B", DELIVERY_QUEUED, 1, 0, 0, 0, 0, 0, 0, "", false, 1 },
	{ 2, 1, "AGENCY-C", "AGENCY-R", DELIVERY_DELIVERED, 1, 0, 1, T0 + 100, T0 + 2100, T0 + 200, 0, "", true, -1 },
	{ 3, 2, "AGENCY-B", "AGENCY-B", DELIVERY_SENT, 1, 1, 1, T0 + 100, T0 + 2100, 0, 0, "", false, 2 },
	{ 4, 3, "AGENCY-B", "AGENCY-B", DELIVERY_DELIVERED, 1, 0, 1, T0 + 100, T0 + 2100, T0 + 200, 0, "", true, -1 },
	{ 5, 4, "AGENCY-B", "AGENCY-B", DELIVERY_EXPIRED, 1, 0, 0, 0, 0, T0 + 1000, 0, "", false, 4 },
	{ 6, 5, "AGENCY-B", "AGENCY-B", DELIVERY_REJECTED, 3, 0, 1, T0 + 100, T0 + 2100, T0 + 210, 11,
	  "schema: no plate", true, 5 },
};
#define N_FIXTURE (sizeof(fixture) / sizeof(fixture[0]))

static const uint8_t receipt[] = "signed receipt bytes covering deliveries 1/C and 3/B";

static void id_of(int m, uint8_t id[STORE_ID_LEN])
{
	memset(id, 0x5A, STORE_ID_LEN);
	id[0] = 0xF6;
	id[1] = (uint8_t)m;
}

static size_t envelope_len(int k)
{
	return 300 + (size_t)k * 37;
}

static bool is_envelope(int k, const uint8_t *bytes, size_t len)
{
	if (!bytes || len != envelope_len(k))
		return false;
	for (size_t i = 0; i < len; i++)
		if (bytes[i] != (uint8_t)(k * 31 + i * 7))
			return false;
	return true;
}

struct seen {
	size_t n;
	int64_t cursor[16];
	bool ok[16];
	char why[16][96];
};

/* Compares one listed row with the fixture's entry of the same cursor. */
static int check_row(void *arg, const struct store_delivery_row *row)
{
	struct seen *s = arg;
	const struct want *w = NULL;
	uint8_t id[STORE_ID_LEN];
	size_t i = s->n++;

	if (i >= 16)
		return 1;
	s->cursor[i] = row->cursor;
	for (size_t k = 0; k < N_FIXTURE; k++)
		if (fixture[k].cursor == row->cursor)
			w = &fixture[k];
	if (!w) {
		snprintf(s->why[i], sizeof(s->why[i]), "cursor %lld is not in the fixture", (long long)row->cursor);
		return 0;
	}
	id_of(w->msg, id);
	const char *bad = memcmp(row->id, id, STORE_ID_LEN) ? "id"
		: strcmp(row->recipient, w->recipient) ? "recipient"
		: strcmp(row->next_hop, w->next_hop) ? "next hop"
		: row->state != w->state ? "state"
		: row->type != w->type ? "type"
		: row->priority != w->priority ? "priority"
		: row->created_ms != T0 + (uint64_t)w->msg * 10 ? "created"
		: row->expires_ms != (w->msg == 4 ? T0 + 500 : T0 + DAY) ? "expires"
		: row->attempts != w->attempts ? "attempts"
		: row->sent_ms != w->sent_ms ? "sent_ms"
		: row->next_attempt_ms != w->next_attempt_ms ? "next_attempt_ms"
		: row->done_ms != w->done_ms ? "done_ms"
		: row->reason != w->reason ? "reason"
		: strcmp(row->detail, w->detail) ? "detail"
		: w->receipt != (row->receipt != NULL) ? "receipt present"
		: w->receipt && (row->receipt_len != sizeof(receipt) ||
				 memcmp(row->receipt, receipt, sizeof(receipt))) ? "receipt bytes"
		: w->envelope < 0 && row->envelope_len != 0 ? "purged body came back"
		: w->envelope >= 0 && !is_envelope(w->envelope, row->envelope, row->envelope_len) ? "envelope bytes"
		: NULL;
	s->ok[i] = bad == NULL;
	snprintf(s->why[i], sizeof(s->why[i]), "delivery %lld: %s differs", (long long)row->cursor, bad ? bad : "");
	return 0;
}

void store_v5fixture_check(struct store *st)
{
	struct store_list_filter all = { .state = -1, .type = -1 };
	struct seen s = { 0 };
	struct store_case_entry e;
	uint8_t id[STORE_ID_LEN], got[STORE_ID_LEN];
	uint64_t queued = 0, oldest = 0;

	cr_assert(eq(int, store_delivery_list(st, &all, 0, 100, check_row, &s), (int)N_FIXTURE));
	for (size_t i = 0; i < N_FIXTURE; i++) {
		cr_assert(eq(i64, s.cursor[i], fixture[i].cursor), "the cursors must not be renumbered");
		cr_assert(s.ok[i], "%s", s.why[i]);
	}
	/* the queue: the queued and the sent one (urgent first) */
	cr_assert(eq(int, store_outbox_stats(st, "AGENCY-B", &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2));
	cr_assert(eq(u64, oldest, T0 + 10));
	/* a body is purged when every recipient's copy is gone */
	id_of(3, id);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(e.body_purged);
	id_of(1, id);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(not(e.body_purged));
	cr_assert(eq(int, store_idempotency_get(st, "console", "key-one", got), 0));
	cr_assert(eq(int, memcmp(got, id, STORE_ID_LEN), 0));
}

struct due {
	size_t n;
	int64_t cursor[8];
	bool envelope_ok[8];
};

static int collect_due(void *arg, const struct store_delivery_row *row)
{
	struct due *d = arg;

	if (d->n < 8) {
		d->cursor[d->n] = row->cursor;
		d->envelope_ok[d->n] = is_envelope(row->cursor == 1 ? 1 : 2, row->envelope, row->envelope_len);
		d->n++;
	}
	return 0;
}

struct one {
	int n;
	char recipient[STORE_AGENCY_MAX + 1];
	enum delivery_state state;
	uint8_t envelope[64];
	size_t envelope_len;
	int64_t cursor;
};

static int copy_one(void *arg, const struct store_delivery_row *row)
{
	struct one *o = arg;

	o->n++;
	snprintf(o->recipient, sizeof(o->recipient), "%s", row->recipient);
	o->state = row->state;
	o->envelope_len = row->envelope_len;
	o->cursor = row->cursor;
	if (row->envelope_len <= sizeof(o->envelope) && row->envelope_len)
		memcpy(o->envelope, row->envelope, row->envelope_len);
	return 0;
}

/* Message m's only (or AGENCY-B's) delivery. */
static struct one message(struct store *st, int m)
{
	struct one o = { 0 };
	uint8_t id[STORE_ID_LEN];

	id_of(m, id);
	cr_assert(eq(int, store_message_get(st, id, copy_one, &o), 0), "message %d", m);
	return o;
}

static bool envelope_is(const struct one *o, const char *text)
{
	return o->envelope_len == strlen(text) && memcmp(o->envelope, text, o->envelope_len) == 0;
}

void store_v5fixture_exercise(struct store *st)
{
	static const uint8_t receipt2[] = "a second signed receipt";
	static const char requeued[] = "requeued envelope", resealed[] = "resealed envelope",
			  readdressed[] = "readdressed envelope";
	struct due due = { 0 };
	struct one o;
	uint8_t id[STORE_ID_LEN];
	int64_t rid = 0;
	size_t marked = 0;

	/* the link's fill reads the envelopes from their own table */
	cr_assert(eq(int, store_outbox_due(st, "AGENCY-B", T0 + 3000, 10, collect_due, &due), 2));
	cr_assert(eq(i64, due.cursor[0], 3), "the urgent sent one is due first");
	cr_assert(eq(i64, due.cursor[1], 1));
	cr_assert(due.envelope_ok[0] && due.envelope_ok[1]);

	cr_assert(eq(int, store_begin(st), 0));
	int64_t first[] = { 1 }, both[] = { 1, 3 };
	cr_assert(eq(int, store_deliveries_sent(st, first, 1, T0 + 4000, T0 + 6000, &marked), 0));
	cr_assert(eq(sz, marked, 1));
	cr_assert(eq(int, store_receipt_put(st, receipt2, sizeof(receipt2), &rid), 0));
	cr_assert(eq(int, store_deliveries_delivered(st, both, 2, T0 + 5000, rid, &marked), 0));
	cr_assert(eq(sz, marked, 2));
	/* the expired one back in the queue, the rejected one to a corrected name */
	id_of(4, id);
	cr_assert(eq(int, store_delivery_requeue(st, id, "AGENCY-B", (const uint8_t *)requeued, strlen(requeued),
						 T0 + 2 * DAY), 0));
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-B", (const uint8_t *)resealed, strlen(resealed)), 0));
	struct store_delivery to = { "AGENCY-D", "AGENCY-D", (const uint8_t *)readdressed, strlen(readdressed) };
	id_of(5, id);
	cr_assert(eq(int, store_delivery_readdress(st, id, "AGENCY-B", &to, T0 + 2 * DAY), 0));
	id_of(3, id);
	cr_assert(eq(int, store_delivery_reseal(st, id, "AGENCY-B", (const uint8_t *)resealed, strlen(resealed)),
		     LIMES_E_NOTFOUND), "a delivered one keeps what it was");
	cr_assert(eq(int, store_commit(st), 0));

	o = message(st, 2);
	cr_assert(eq(int, o.state, DELIVERY_DELIVERED));
	cr_assert(eq(sz, o.envelope_len, envelope_len(2)));
	o = message(st, 4);
	cr_assert(eq(int, o.state, DELIVERY_QUEUED));
	cr_assert(envelope_is(&o, resealed));
	cr_assert(eq(i64, o.cursor, 5), "a requeue keeps the delivery's place");
	o = message(st, 5);
	cr_assert(eq(str, o.recipient, "AGENCY-D"));
	cr_assert(eq(int, o.state, DELIVERY_QUEUED));
	cr_assert(envelope_is(&o, readdressed));

	/* body retention: the two bodies still kept of finished type-1 messages */
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_purge_bodies(st, 1, T0 + 10000), 2));
	cr_assert(eq(int, store_purge_bodies(st, 1, T0 + 10000), 0), "a purged body is not counted twice");
	cr_assert(eq(int, store_commit(st), 0));
	o = message(st, 2);
	cr_assert(eq(sz, o.envelope_len, 0));
	struct store_case_entry e;
	id_of(1, id);
	cr_assert(eq(int, store_case_get(st, id, &e), 0));
	cr_assert(e.body_purged);

	/* record retention: messages 1-3 finished long enough ago go whole */
	cr_assert(eq(int, store_begin(st), 0));
	cr_assert(eq(int, store_purge(st, T0 + 100000, 50000), 0));
	cr_assert(eq(int, store_commit(st), 0));
	for (int m = 1; m <= 3; m++) {
		struct one gone = { 0 };
		id_of(m, id);
		cr_assert(eq(int, store_message_get(st, id, copy_one, &gone), LIMES_E_NOTFOUND), "message %d", m);
	}
	cr_assert(eq(int, store_idempotency_get(st, "console", "key-one", id), LIMES_E_NOTFOUND));
	struct store_list_filter all = { .state = -1, .type = -1 };
	struct one left = { 0 };
	cr_assert(eq(int, store_delivery_list(st, &all, 0, 100, copy_one, &left), 2));
	cr_assert(eq(i64, left.cursor, 6));
}
