/*
 * Protocol v2 batches at submission (core/submit.c): the envelopes of every
 * submission of one turn are signed together at the commit, one batch per
 * next hop, and reach the outbox only then; a quiet turn is a batch of one;
 * each envelope still opens alone; a relayed recipient gets v2 only when
 * its relay said it forwards v2 to it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "core/core.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "support/core_testutil.h"

static struct core_world w;

static void setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "submitbatch"), 0));
}

static void teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(submit_batch, .init = setup, .fini = teardown, .timeout = 30);

#define HU core_test_ids[CORE_TEST_HU]
#define RO core_test_ids[CORE_TEST_RO]
#define AT core_test_ids[CORE_TEST_AT]

static const uint8_t body[] = { 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o' };

/* One single-message request to `to`, as a one-message POST makes it. */
static void submit_one(const char *to, const char *key, uint8_t id[STORE_ID_LEN], bool *existing)
{
	struct submit_request r;
	struct submit_result res;
	struct core_error err;

	memset(&r, 0, sizeof(r));
	r.type = WIRE_TYPE_ALERT;
	r.body = body;
	r.body_len = sizeof(body);
	r.to[r.n_to++] = to;
	r.idempotency_key = key;
	cr_assert(eq(int, submit_stage(w.submit, "client-1", &r, 1, &res, &err), 0), "%s: %s", err.field,
		  err.message);
	memcpy(id, res.id, STORE_ID_LEN);
	if (existing)
		*existing = res.existing;
}

/* Our links agreed v2 with HU and AT; HU said it relays v2 to RO. */
static void links_v2(bool relay_says_ro)
{
	peer_link_set_protocol(peers_find(w.peers, HU), WIRE_VERSION_BATCH);
	peer_link_set_protocol(peers_find(w.peers, AT), WIRE_VERSION_BATCH);
	peer_link_set_protocol(peers_find(w.peers, RO), relay_says_ro ? WIRE_VERSION_BATCH : WIRE_VERSION_MAJOR);
}

/* The stored envelope of message id to recipient, decoded (wire_envelope_clear). */
static void stored(const uint8_t id[STORE_ID_LEN], const char *recipient, struct core_test_row *row,
		   struct wire_envelope *e)
{
	struct core_test_rows rows;
	cr_assert(eq(int, core_test_message_get(w.store, id, &rows), 0));
	const struct core_test_row *r = core_test_row_for(&rows, recipient);
	cr_assert(not(eq(ptr, (void *)r, NULL)));
	*row = *r;
	cr_assert(eq(int, wire_envelope_unpack(row->envelope, row->envelope_len, 1u << 20, e), 0));
}

static void opens_alone(int reader, const struct core_test_row *row, const uint8_t id[STORE_ID_LEN])
{
	struct envelope_opened o;
	cr_assert(eq(int, core_test_open(&w, reader, row->envelope, row->envelope_len, clock_now_ms(), &o), 0));
	cr_assert(eq(int, memcmp(o.header.message_id, id, STORE_ID_LEN), 0));
	cr_assert(eq(sz, o.body_len, sizeof(body)));
	envelope_opened_clear(&o);
}

Test(submit_batch, one_signature_per_next_hop_for_all_the_turns_submissions)
{
	enum { N_HU = 5, N_RO = 2, N_AT = 3 };
	uint8_t hu[N_HU][16], ro[N_RO][16], at[N_AT][16];
	uint64_t sigs = submit_signatures(w.submit);

	links_v2(true);
	/* one-message requests, as many POSTs answered in one loop turn */
	for (int i = 0; i < N_HU; i++)
		submit_one(HU, NULL, hu[i], NULL);
	for (int i = 0; i < N_RO; i++)
		submit_one(RO, NULL, ro[i], NULL);
	for (int i = 0; i < N_AT; i++)
		submit_one(AT, NULL, at[i], NULL);
	/* nothing signed, nothing in the outbox before the commit */
	cr_assert(eq(u64, submit_signatures(w.submit), sigs));
	struct core_test_rows rows;
	cr_assert(eq(int, core_test_message_get(w.store, hu[0], &rows), LIMES_E_NOTFOUND));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	/* HU and RO (behind HU) share the next hop HU: two batches in all */
	cr_assert(eq(u64, submit_signatures(w.submit), sigs + 2));

	struct core_test_row row, first;
	struct wire_envelope e, e0;
	stored(hu[0], HU, &first, &e0);
	cr_assert(eq(u32, e0.batch_count, N_HU + N_RO));
	for (int i = 0; i < N_HU + N_RO; i++) {
		bool is_ro = i >= N_HU;
		stored(is_ro ? ro[i - N_HU] : hu[i], is_ro ? RO : HU, &row, &e);
		cr_assert(e.has_batch);
		cr_assert(eq(u32, e.batch_count, N_HU + N_RO));
		cr_assert(eq(u32, e.batch_index, (uint32_t)i), "submission order is leaf order");
		cr_assert(eq(int, memcmp(e.signature, e0.signature, 64), 0), "one signature for the hop");
		opens_alone(is_ro ? CORE_TEST_RO : CORE_TEST_HU, &row, is_ro ? ro[i - N_HU] : hu[i]);
		wire_envelope_clear(&e);
	}
	for (int i = 0; i < N_AT; i++) {
		stored(at[i], AT, &row, &e);
		cr_assert(eq(u32, e.batch_count, N_AT));
		cr_assert(not(eq(int, memcmp(e.signature, e0.signature, 64), 0)), "AT's batch is its own");
		opens_alone(CORE_TEST_AT, &row, at[i]);
		wire_envelope_clear(&e);
	}
	wire_envelope_clear(&e0);
}

Test(submit_batch, a_quiet_turn_is_a_batch_of_one)
{
	uint8_t id[16];
	struct core_test_row row;
	struct wire_envelope e;
	uint64_t sigs = submit_signatures(w.submit);

	links_v2(true);
	submit_one(HU, NULL, id, NULL);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, submit_signatures(w.submit), sigs + 1));
	stored(id, HU, &row, &e);
	cr_assert(eq(u32, e.batch_count, 1));
	cr_assert(eq(sz, e.batch_path_len, 0));
	opens_alone(CORE_TEST_HU, &row, id);
	wire_envelope_clear(&e);
	/* the next turn is a batch of its own */
	submit_one(HU, NULL, id, NULL);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, submit_signatures(w.submit), sigs + 2));
}

Test(submit_batch, a_relayed_recipient_gets_v1_unless_its_relay_said_v2)
{
	uint8_t id[16];
	struct core_test_row row;
	struct wire_envelope e;

	links_v2(false);
	submit_one(RO, NULL, id, NULL);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	stored(id, RO, &row, &e);
	cr_assert(not(e.has_batch));
	opens_alone(CORE_TEST_RO, &row, id);
	wire_envelope_clear(&e);
	/* and a v1 link to the relay makes it v1 whatever the relay said */
	links_v2(true);
	peer_link_set_protocol(peers_find(w.peers, HU), WIRE_VERSION_MAJOR);
	submit_one(RO, NULL, id, NULL);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	stored(id, RO, &row, &e);
	cr_assert(not(e.has_batch));
	wire_envelope_clear(&e);
}

Test(submit_batch, the_same_idempotency_key_twice_in_a_turn_is_one_message)
{
	uint8_t a[16], b[16], c[16];
	bool existing = true;

	links_v2(true);
	submit_one(HU, "order-1", a, &existing);
	cr_assert(not(existing));
	submit_one(HU, "order-1", b, &existing);
	cr_assert(existing);
	cr_assert(eq(int, memcmp(a, b, 16), 0));
	/* even when the second would have gone over a v1 link */
	peer_link_set_protocol(peers_find(w.peers, AT), WIRE_VERSION_MAJOR);
	submit_one(AT, "order-1", c, &existing);
	cr_assert(existing);
	cr_assert(eq(int, memcmp(a, c, 16), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	uint64_t queued = 0, oldest = 0;
	cr_assert(eq(int, store_outbox_stats(w.store, HU, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 1));
	/* and after the commit, from the store */
	submit_one(HU, "order-1", b, &existing);
	cr_assert(existing);
	cr_assert(eq(int, memcmp(a, b, 16), 0));
}
