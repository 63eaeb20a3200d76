/*
 * Submission, re-queueing and expiry (core/submit.c, requeue.c, expire.c):
 * one sealed envelope per recipient staged with the next hop of the one
 * routing rule; every refusal gives our code and the request field and
 * leaves nothing of that call staged, while what others staged in the same
 * turn survives; idempotency keys; expired and rejected deliveries go out
 * again under the same id in an envelope the recipient can open; expiry is
 * counted against the recipient.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "core/core.h"
#include "core/events.h"
#include "crypto/encode.h"
#include "proto/err.h"
#include "proto/reason.h"
#include "proto/sizes.h"
#include "proto/wire.h"
#include "support/core_testutil.h"

static inline int is(int cond)
{
	return cond;
}

static struct core_world w;

static void setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "submit"), 0));
}

static void teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(submit, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(requeue, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(expire, .init = setup, .fini = teardown, .timeout = 30);

#define ME core_test_ids[CORE_TEST_ME]
#define HU core_test_ids[CORE_TEST_HU]
#define RO core_test_ids[CORE_TEST_RO]
#define AT core_test_ids[CORE_TEST_AT]

/* Not a real Alert: submit seals bytes, the API validated them before. */
static const uint8_t body[] = { 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o' };

/* A request of `type` to up to three recipients (NULLs end the list). */
static struct submit_request request(int type, const char *to0, const char *to1, const char *to2)
{
	struct submit_request r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.body = body;
	r.body_len = sizeof(body);
	if (to0)
		r.to[r.n_to++] = to0;
	if (to1)
		r.to[r.n_to++] = to1;
	if (to2)
		r.to[r.n_to++] = to2;
	return r;
}

/* Counts commits the loop or a flush made, and what they carried. */
struct heard {
	int calls;
	unsigned changes;
};

static void on_commit(void *arg, int rc, unsigned changes)
{
	struct heard *h = arg;

	cr_assert(eq(int, rc, 0));
	h->calls++;
	h->changes |= changes;
}

/* Submits one request from "client-1", expecting success; its id in id. */
static void submit_ok(const struct submit_request *r, uint8_t id[STORE_ID_LEN])
{
	struct submit_result res;
	struct core_error err;

	memset(&res, 0, sizeof(res));
	cr_assert(eq(int, submit_stage(w.submit, "client-1", r, 1, &res, &err), 0), "%s: %s", err.field,
		  err.message);
	cr_assert(eq(int, err.code, 0));
	cr_assert(is(!res.existing));
	memcpy(id, res.id, STORE_ID_LEN);
}

/* Submits reqs and expects the refusal (code, field) with nothing staged by
 * the call: no transaction when none was open, and no commit to make. */
static void refused(const struct submit_request *reqs, size_t n, int code, const char *field)
{
	struct submit_result res[4];
	struct core_error err;
	uint64_t commits = commit_count(w.commit);

	cr_assert(eq(int, submit_stage(w.submit, "client-1", reqs, n, res, &err), code), "%s: %s", err.field,
		  err.message);
	cr_assert(eq(int, err.code, code));
	cr_assert(eq(str, err.field, (char *)field), "message: %s", err.message);
	cr_assert(is(err.message[0] != '\0'));
	cr_assert(is(!store_in_transaction(w.store)));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, commit_count(w.commit), commits));
	uint64_t queued = 1, oldest = 1;
	cr_assert(eq(int, store_outbox_stats(w.store, HU, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
}

/* Opens a stored envelope as `reader` and checks id, addressing and body. */
static void opens_as(int reader, const struct core_test_row *row, const uint8_t id[STORE_ID_LEN],
		     struct wire_header *header)
{
	struct envelope_opened o;

	cr_assert(not(eq(ptr, (void *)row, NULL)));
	cr_assert(lt(sz, row->envelope_len, (size_t)CORE_TEST_ENVELOPE_MAX));
	cr_assert(eq(int, core_test_open(&w, reader, row->envelope, row->envelope_len, clock_now_ms(), &o), 0));
	cr_assert(eq(int, memcmp(o.header.message_id, id, STORE_ID_LEN), 0));
	cr_assert(eq(str, o.header.sender, (char *)ME));
	cr_assert(eq(str, o.header.recipient, (char *)core_test_ids[reader]));
	cr_assert(eq(u64, o.header.expires_ms, row->expires_ms));
	cr_assert(eq(sz, o.body_len, sizeof(body)));
	cr_assert(eq(int, memcmp(o.body, body, sizeof(body)), 0));
	if (header)
		*header = o.header;
	envelope_opened_clear(&o);
}

/* ------------------------------------------------------------ submit */

Test(submit, stages_one_delivery_per_recipient_with_its_next_hop)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, HU, RO, AT);
	struct core_test_rows rows;
	struct heard h = { 0 };
	uint8_t id[STORE_ID_LEN];
	uint64_t before = clock_now_ms();

	cr_assert(eq(int, commit_listen(w.commit, on_commit, &h), 0));
	submit_ok(&r, id);
	uint64_t after = clock_now_ms();
	cr_assert(is(store_in_transaction(w.store)));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, h.calls, 1));
	cr_assert(eq(u32, h.changes, COMMIT_OUTBOX));

	cr_assert(eq(int, core_test_message_get(w.store, id, &rows), 0));
	cr_assert(eq(sz, rows.n, 3));
	const char *who[3] = { HU, RO, AT };
	for (int k = 0; k < 3; k++) {
		const struct core_test_row *row = core_test_row_for(&rows, who[k]);
		cr_assert(not(eq(ptr, (void *)row, NULL)), "no delivery to %s", who[k]);
		/* the hop is what the peer table says, nothing else */
		cr_assert(eq(str, (char *)row->next_hop, (char *)peer_next_hop(peers_find(w.peers, who[k]))));
		cr_assert(eq(int, row->state, DELIVERY_QUEUED));
		cr_assert(eq(int, row->type, WIRE_TYPE_ALERT));
		cr_assert(eq(int, row->priority, 0));
		cr_assert(ge(u64, row->expires_ms, before + CORE_TEST_DEFAULT_TTL_MS));
		cr_assert(le(u64, row->expires_ms, after + CORE_TEST_DEFAULT_TTL_MS));
	}
	cr_assert(eq(str, (char *)core_test_row_for(&rows, RO)->next_hop, (char *)HU));
	cr_assert(eq(str, (char *)core_test_row_for(&rows, HU)->next_hop, (char *)HU));
	cr_assert(eq(str, (char *)core_test_row_for(&rows, AT)->next_hop, (char *)AT));

	/* each envelope is sealed to its own recipient, and to no one else */
	struct wire_header hh, hr;
	opens_as(CORE_TEST_HU, core_test_row_for(&rows, HU), id, &hh);
	opens_as(CORE_TEST_RO, core_test_row_for(&rows, RO), id, &hr);
	opens_as(CORE_TEST_AT, core_test_row_for(&rows, AT), id, NULL);
	cr_assert(eq(int, hh.type, WIRE_TYPE_ALERT));
	cr_assert(not(eq(u64, hh.seq, hr.seq)));
	struct envelope_opened o;
	const struct core_test_row *ro = core_test_row_for(&rows, RO);
	cr_assert(eq(int, core_test_open(&w, CORE_TEST_HU, ro->envelope, ro->envelope_len, clock_now_ms(), &o),
		     LIMES_E_ENV_RECIPIENT));
}

Test(submit, uses_the_requested_ttl_priority_and_ref)
{
	struct submit_request r = request(WIRE_TYPE_PRE_ARRIVAL, HU, NULL, NULL);
	struct core_test_rows rows;
	struct wire_header h;
	uint8_t id[STORE_ID_LEN];

	r.ttl_ms = 60000;
	r.priority = 1;
	r.has_ref = true;
	memset(r.ref, 0xab, sizeof(r.ref));
	uint64_t before = clock_now_ms();
	submit_ok(&r, id);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &rows), 0));
	cr_assert(eq(sz, rows.n, 1));
	cr_assert(eq(int, rows.row[0].priority, 1));
	cr_assert(eq(int, rows.row[0].type, WIRE_TYPE_PRE_ARRIVAL));
	cr_assert(ge(u64, rows.row[0].expires_ms, before + 60000));
	cr_assert(le(u64, rows.row[0].expires_ms, clock_now_ms() + 60000));
	opens_as(CORE_TEST_HU, &rows.row[0], id, &h);
	cr_assert(eq(int, h.priority, 1));
	cr_assert(is(h.has_ref));
	cr_assert(eq(u8, h.ref[15], 0xab));
	cr_assert(eq(u64, h.expires_ms - h.created_ms, 60000));
}

Test(submit, refuses_an_unknown_recipient_naming_it)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, "XX-NOBODY", NULL, NULL);

	refused(&r, 1, LIMES_E_UNKNOWN_PEER, "to[0]");
	r = request(WIRE_TYPE_ALERT, HU, "XX-NOBODY", NULL);
	refused(&r, 1, LIMES_E_UNKNOWN_PEER, "to[1]");
}

Test(submit, refuses_a_type_not_in_the_recipients_send_list)
{
	/* RO may get alerts only */
	struct submit_request r = request(WIRE_TYPE_PRE_ARRIVAL, HU, RO, NULL);

	refused(&r, 1, LIMES_E_POLICY, "to[1]");
	r = request(WIRE_TYPE_CONTROL_RESULT, HU, AT, NULL);
	refused(&r, 1, LIMES_E_POLICY, "to[0]");
}

Test(submit, refuses_a_recipient_listed_twice)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, HU, HU, NULL);

	refused(&r, 1, LIMES_E_INVAL, "to[1]");
	r = request(WIRE_TYPE_ALERT, RO, AT, RO);
	refused(&r, 1, LIMES_E_INVAL, "to[2]");
}

Test(submit, refuses_a_request_without_recipients)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, NULL, NULL, NULL);

	refused(&r, 1, LIMES_E_MISSING, "to");
}

Test(submit, refuses_a_ttl_above_the_maximum_and_takes_the_maximum_itself)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, HU, NULL, NULL);
	uint8_t id[STORE_ID_LEN];

	r.ttl_ms = CORE_TEST_MAX_TTL_MS + 1;
	refused(&r, 1, LIMES_E_RANGE, "ttl_s");
	r.ttl_ms = CORE_TEST_MAX_TTL_MS;
	submit_ok(&r, id);
	cr_assert(eq(int, commit_flush(w.commit), 0));
}

Test(submit, names_the_request_and_recipient_in_a_batch)
{
	struct submit_request reqs[2] = {
		request(WIRE_TYPE_ALERT, HU, AT, NULL),
		request(WIRE_TYPE_ALERT, HU, "XX-NOBODY", NULL),
	};

	/* the good first request is not staged either: all or nothing */
	refused(reqs, 2, LIMES_E_UNKNOWN_PEER, "[1].to[1]");
	reqs[1] = request(WIRE_TYPE_PRE_ARRIVAL, RO, NULL, NULL);
	refused(reqs, 2, LIMES_E_POLICY, "[1].to[0]");
	reqs[0] = request(WIRE_TYPE_ALERT, AT, AT, NULL);
	refused(reqs, 2, LIMES_E_INVAL, "[0].to[1]");
}

Test(submit, names_the_request_of_a_bad_ttl_in_a_batch)
{
	struct submit_request reqs[2] = {
		request(WIRE_TYPE_ALERT, HU, NULL, NULL),
		request(WIRE_TYPE_ALERT, AT, NULL, NULL),
	};

	/* as the API names its own batch fields (api/routes.c field_path) */
	reqs[1].ttl_ms = CORE_TEST_MAX_TTL_MS + 1;
	refused(reqs, 2, LIMES_E_RANGE, "[1].ttl_s");
}

Test(submit, names_the_request_without_recipients_in_a_batch)
{
	struct submit_request reqs[2] = {
		request(WIRE_TYPE_ALERT, HU, NULL, NULL),
		request(WIRE_TYPE_ALERT, NULL, NULL, NULL),
	};

	refused(reqs, 2, LIMES_E_MISSING, "[1].to");
}

Test(submit, stages_a_whole_batch_in_one_commit)
{
	struct submit_request reqs[3] = {
		request(WIRE_TYPE_ALERT, HU, NULL, NULL),
		request(WIRE_TYPE_ALERT, RO, AT, NULL),
		request(WIRE_TYPE_CONTROL_RESULT, AT, NULL, NULL),
	};
	struct submit_result res[3];
	struct core_error err;
	struct core_test_rows rows;
	uint64_t queued = 0, oldest = 0;

	cr_assert(eq(int, submit_stage(w.submit, "client-1", reqs, 3, res, &err), 0), "%s", err.message);
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, commit_count(w.commit), 1));
	cr_assert(not(eq(int, memcmp(res[0].id, res[1].id, STORE_ID_LEN), 0)));
	cr_assert(eq(int, core_test_message_get(w.store, res[1].id, &rows), 0));
	cr_assert(eq(sz, rows.n, 2));
	cr_assert(eq(int, core_test_message_get(w.store, res[2].id, &rows), 0));
	cr_assert(eq(int, rows.row[0].type, WIRE_TYPE_CONTROL_RESULT));
	cr_assert(eq(int, store_outbox_stats(w.store, HU, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2)); /* HU's own and RO's through it */
	cr_assert(eq(int, store_outbox_stats(w.store, AT, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2));
}

/* Ids are UUIDv7 (docs/protocol.md): creation time first, so the indexes
 * keyed by message id take new ids at their right edge. */
Test(submit, message_ids_start_with_their_creation_time_and_sort_by_it)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, HU, NULL, NULL);
	uint8_t id[3][STORE_ID_LEN];
	struct core_test_rows rows;
	struct wire_header h;

	for (int i = 0; i < 3; i++) {
		uint64_t before = clock_now_ms();
		submit_ok(&r, id[i]);
		uint64_t after = clock_now_ms(), stamp = 0;
		for (int b = 0; b < 6; b++)
			stamp = stamp << 8 | id[i][b];
		cr_assert(ge(u64, stamp, before));
		cr_assert(le(u64, stamp, after));
		cr_assert(eq(int, id[i][6] >> 4, 7));    /* version */
		cr_assert(eq(int, id[i][8] >> 6, 2));    /* variant */
		cr_assert(eq(int, commit_flush(w.commit), 0));
		cr_assert(eq(int, core_test_message_get(w.store, id[i], &rows), 0));
		opens_as(CORE_TEST_HU, core_test_row_for(&rows, HU), id[i], &h);
		cr_assert(eq(u64, h.created_ms, stamp)); /* the header's time, no other */
		if (i > 0)
			cr_assert(lt(int, memcmp(id[i - 1], id[i], STORE_ID_LEN), 0));
		while (clock_now_ms() <= after)
			; /* the next id in a later millisecond */
	}
	/* the rest is random: two ids of one millisecond differ */
	struct submit_request two[2] = { request(WIRE_TYPE_ALERT, HU, NULL, NULL),
					 request(WIRE_TYPE_ALERT, HU, NULL, NULL) };
	struct submit_result res[2];
	struct core_error err;
	cr_assert(eq(int, submit_stage(w.submit, "client-1", two, 2, res, &err), 0), "%s", err.message);
	cr_assert(not(eq(int, memcmp(res[0].id, res[1].id, STORE_ID_LEN), 0)));
	cr_assert(eq(int, memcmp(res[0].id, res[1].id, 6), 0));
}

Test(submit, a_refusal_keeps_what_others_staged_in_the_same_turn)
{
	struct submit_request good = request(WIRE_TYPE_ALERT, HU, NULL, NULL);
	struct submit_request bad = request(WIRE_TYPE_CONTROL_RESULT, HU, NULL, NULL);
	struct submit_result res[2];
	struct core_error err;
	struct core_test_rows rows;
	uint8_t first[STORE_ID_LEN];

	submit_ok(&good, first);
	/* refused by policy, before anything of it was written */
	cr_assert(eq(int, submit_stage(w.submit, "client-1", &bad, 1, res, &err), LIMES_E_POLICY));
	cr_assert(is(store_in_transaction(w.store)));

	/* refused by the store half way through a batch: its first message was
	 * written already and must go, the earlier submission must stay */
	struct submit_request batch[2] = { request(WIRE_TYPE_ALERT, AT, NULL, NULL),
					   request(WIRE_TYPE_ALERT, AT, NULL, NULL) };
	batch[1].priority = 7; /* the store refuses it; policy has no rule on it */
	memset(res, 0, sizeof(res));
	int rc = submit_stage(w.submit, "client-1", batch, 2, res, &err);
	cr_assert(lt(int, rc, 0));
	cr_assert(eq(int, err.code, rc));
	cr_assert(is(store_in_transaction(w.store)));
	cr_assert(is(store_healthy(w.store)));
	uint8_t undone[STORE_ID_LEN];
	memcpy(undone, res[0].id, STORE_ID_LEN); /* written before the refusal */

	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, commit_count(w.commit), 1));
	core_test_world_stop_commit(&w);
	cr_assert(eq(int, core_test_world_reopen_store(&w), 0));
	cr_assert(eq(int, core_test_message_get(w.store, first, &rows), 0));
	cr_assert(eq(sz, rows.n, 1));
	cr_assert(eq(int, rows.row[0].state, DELIVERY_QUEUED));
	cr_assert(eq(int, core_test_message_get(w.store, undone, &rows), LIMES_E_NOTFOUND));
	uint64_t queued = 1, oldest = 1;
	cr_assert(eq(int, store_outbox_stats(w.store, AT, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
}

Test(submit, an_idempotency_key_gives_back_the_first_id)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, HU, NULL, NULL);
	struct submit_result res, again, same_turn, other;
	struct core_error err;
	uint64_t queued = 0, oldest = 0;

	r.idempotency_key = "order-4711";
	cr_assert(eq(int, submit_stage(w.submit, "client-1", &r, 1, &res, &err), 0), "%s", err.message);
	cr_assert(is(!res.existing));
	/* before the commit: the staged key is already known */
	cr_assert(eq(int, submit_stage(w.submit, "client-1", &r, 1, &same_turn, &err), 0), "%s", err.message);
	cr_assert(is(same_turn.existing));
	cr_assert(eq(int, memcmp(same_turn.id, res.id, STORE_ID_LEN), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	/* after it */
	cr_assert(eq(int, submit_stage(w.submit, "client-1", &r, 1, &again, &err), 0), "%s", err.message);
	cr_assert(is(again.existing));
	cr_assert(eq(int, memcmp(again.id, res.id, STORE_ID_LEN), 0));
	/* keys belong to a client */
	cr_assert(eq(int, submit_stage(w.submit, "client-2", &r, 1, &other, &err), 0), "%s", err.message);
	cr_assert(is(!other.existing));
	cr_assert(not(eq(int, memcmp(other.id, res.id, STORE_ID_LEN), 0)));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, store_outbox_stats(w.store, HU, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2));
}

Test(submit, the_same_key_twice_in_one_batch_is_one_message)
{
	struct submit_request reqs[2] = { request(WIRE_TYPE_ALERT, HU, NULL, NULL),
					  request(WIRE_TYPE_ALERT, HU, NULL, NULL) };
	struct submit_result res[2];
	struct core_error err;
	uint64_t queued = 0, oldest = 0;

	reqs[0].idempotency_key = reqs[1].idempotency_key = "twice";
	cr_assert(eq(int, submit_stage(w.submit, "client-1", reqs, 2, res, &err), 0), "%s", err.message);
	cr_assert(is(!res[0].existing));
	cr_assert(is(res[1].existing));
	cr_assert(eq(int, memcmp(res[0].id, res[1].id, STORE_ID_LEN), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, store_outbox_stats(w.store, HU, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 1));
}

/* ------------------------------------------------------------ requeue */

/* Submits an alert to HU and RO (ttl 60 s) and commits it. */
static void submit_committed(uint8_t id[STORE_ID_LEN], const char *to0, const char *to1)
{
	struct submit_request r = request(WIRE_TYPE_ALERT, to0, to1, NULL);

	r.ttl_ms = 60000;
	submit_ok(&r, id);
	cr_assert(eq(int, commit_flush(w.commit), 0));
}

/* Expires everything (as the store sees it an hour from now) and commits. */
static void expire_all(void)
{
	cr_assert(eq(int, commit_stage(w.commit, 0), 0));
	cr_assert(lt(int, 0, store_expire(w.store, clock_now_ms() + 3600 * 1000, NULL, NULL)));
	cr_assert(eq(int, commit_flush(w.commit), 0));
}

Test(requeue, puts_expired_deliveries_back_in_a_fresh_envelope_under_the_same_id)
{
	struct core_test_rows before, after;
	struct core_error err;
	struct wire_header h;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	submit_committed(id, HU, RO);
	expire_all();
	cr_assert(eq(int, core_test_message_get(w.store, id, &before), 0));
	cr_assert(eq(int, core_test_row_for(&before, HU)->state, DELIVERY_EXPIRED));
	cr_assert(eq(int, core_test_row_for(&before, RO)->state, DELIVERY_EXPIRED));

	uint64_t start = clock_now_ms();
	cr_assert(eq(int, submit_requeue(w.submit, id, NULL, 0, &n, &err), 0), "%s: %s", err.field, err.message);
	cr_assert(eq(int, n, 2));
	cr_assert(is(store_in_transaction(w.store))); /* staged in the turn, like a submission */
	cr_assert(eq(int, commit_flush(w.commit), 0));

	cr_assert(eq(int, core_test_message_get(w.store, id, &after), 0));
	cr_assert(eq(sz, after.n, 2));
	for (int k = 0; k < 2; k++) {
		const char *who = k ? RO : HU;
		const struct core_test_row *was = core_test_row_for(&before, who);
		const struct core_test_row *now = core_test_row_for(&after, who);
		cr_assert(eq(int, now->state, DELIVERY_QUEUED));
		cr_assert(eq(str, (char *)now->next_hop, (char *)HU));
		cr_assert(is(now->envelope_len != was->envelope_len ||
			     memcmp(now->envelope, was->envelope, now->envelope_len) != 0),
			  "the envelope to %s did not change", who);
		/* the default TTL from now, not the old 60 s */
		cr_assert(ge(u64, now->expires_ms, start + CORE_TEST_DEFAULT_TTL_MS));
		opens_as(k ? CORE_TEST_RO : CORE_TEST_HU, now, id, &h);
		cr_assert(ge(u64, h.created_ms, start));
		cr_assert(eq(int, h.type, WIRE_TYPE_ALERT));
	}
}

Test(requeue, puts_back_a_rejected_delivery_only_and_leaves_the_others)
{
	struct core_test_rows before, after;
	struct core_error err;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	submit_committed(id, HU, RO);
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	cr_assert(eq(int, store_delivery_done(w.store, id, RO, DELIVERY_REJECTED, REASON_DECRYPT_FAILED,
					      "cannot open", clock_now_ms(), 0), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &before), 0));

	uint64_t start = clock_now_ms();
	cr_assert(eq(int, submit_requeue(w.submit, id, NULL, 120000, &n, &err), 0), "%s", err.message);
	cr_assert(eq(int, n, 1));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &after), 0));
	const struct core_test_row *ro = core_test_row_for(&after, RO), *hu = core_test_row_for(&after, HU);
	cr_assert(eq(int, ro->state, DELIVERY_QUEUED));
	cr_assert(ge(u64, ro->expires_ms, start + 120000));
	cr_assert(le(u64, ro->expires_ms, clock_now_ms() + 120000));
	opens_as(CORE_TEST_RO, ro, id, NULL);
	/* HU's delivery was queued: untouched */
	cr_assert(eq(int, hu->state, DELIVERY_QUEUED));
	cr_assert(eq(sz, hu->envelope_len, core_test_row_for(&before, HU)->envelope_len));
	cr_assert(eq(int, memcmp(hu->envelope, core_test_row_for(&before, HU)->envelope, hu->envelope_len), 0));
	cr_assert(eq(u64, hu->expires_ms, core_test_row_for(&before, HU)->expires_ms));
}

Test(requeue, puts_back_one_named_recipient)
{
	struct core_test_rows after;
	struct core_error err;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	submit_committed(id, HU, RO);
	expire_all();
	cr_assert(eq(int, submit_requeue(w.submit, id, RO, 0, &n, &err), 0), "%s", err.message);
	cr_assert(eq(int, n, 1));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &after), 0));
	cr_assert(eq(int, core_test_row_for(&after, RO)->state, DELIVERY_QUEUED));
	cr_assert(eq(int, core_test_row_for(&after, HU)->state, DELIVERY_EXPIRED));
	/* a recipient the message never had */
	cr_assert(eq(int, submit_requeue(w.submit, id, AT, 0, &n, &err), LIMES_E_NOTFOUND));
	cr_assert(eq(int, err.code, LIMES_E_NOTFOUND));
	cr_assert(eq(str, err.field, "to"));
	cr_assert(eq(int, n, 0));
}

Test(requeue, refuses_a_queued_delivery)
{
	struct core_test_rows before, after;
	struct core_error err;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	submit_committed(id, HU, NULL);
	cr_assert(eq(int, core_test_message_get(w.store, id, &before), 0));
	cr_assert(eq(int, submit_requeue(w.submit, id, NULL, 0, &n, &err), LIMES_E_NOT_REQUEUEABLE));
	cr_assert(eq(int, err.code, LIMES_E_NOT_REQUEUEABLE));
	cr_assert(eq(str, err.field, "id"));
	cr_assert(eq(int, n, 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &after), 0));
	cr_assert(eq(int, after.row[0].state, DELIVERY_QUEUED));
	cr_assert(eq(int, memcmp(after.row[0].envelope, before.row[0].envelope, before.row[0].envelope_len), 0));
}

Test(requeue, refuses_an_unknown_id)
{
	struct core_error err;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	memset(id, 0x77, sizeof(id));
	cr_assert(eq(int, submit_requeue(w.submit, id, NULL, 0, &n, &err), LIMES_E_NOTFOUND));
	cr_assert(eq(int, err.code, LIMES_E_NOTFOUND));
	cr_assert(eq(str, err.field, "id"));
	cr_assert(eq(int, n, 0));
	cr_assert(is(!store_in_transaction(w.store)));
}

Test(requeue, refuses_a_ttl_above_the_maximum)
{
	struct core_test_rows after;
	struct core_error err;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	submit_committed(id, HU, NULL);
	expire_all();
	cr_assert(eq(int, submit_requeue(w.submit, id, NULL, CORE_TEST_MAX_TTL_MS + 1, &n, &err), LIMES_E_RANGE));
	cr_assert(eq(int, err.code, LIMES_E_RANGE));
	cr_assert(eq(str, err.field, "ttl_s"));
	cr_assert(eq(int, n, 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &after), 0));
	cr_assert(eq(int, after.row[0].state, DELIVERY_EXPIRED));
}

Test(expire, counts_each_expired_delivery_against_its_recipient)
{
	struct core_test_rows rows;
	struct heard h = { 0 };
	uint8_t id[STORE_ID_LEN];

	cr_assert(eq(int, commit_listen(w.commit, on_commit, &h), 0));
	submit_committed(id, RO, AT); /* RO through HU */
	uint64_t later = clock_now_ms() + 3600 * 1000;
	cr_assert(eq(int, core_expire(w.peers, w.store, w.commit, later), 2));
	cr_assert(is(store_in_transaction(w.store))); /* staged in the turn */
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, h.calls, 2));

	cr_assert(eq(u64, peer_counters(peers_find(w.peers, RO))->n[PEER_EXPIRED], 1));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, AT))->n[PEER_EXPIRED], 1));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, HU))->n[PEER_EXPIRED], 0)); /* only the hop */
	cr_assert(eq(int, core_test_message_get(w.store, id, &rows), 0));
	cr_assert(eq(int, core_test_row_for(&rows, RO)->state, DELIVERY_EXPIRED));
	cr_assert(eq(int, core_test_row_for(&rows, AT)->state, DELIVERY_EXPIRED));

	/* an expired delivery expires once */
	cr_assert(eq(int, core_expire(w.peers, w.store, w.commit, later + 1000), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, RO))->n[PEER_EXPIRED], 1));
}

Test(expire, leaves_deliveries_that_are_not_due)
{
	struct core_test_rows rows;
	uint8_t id[STORE_ID_LEN];

	submit_committed(id, HU, NULL); /* ttl 60 s */
	cr_assert(eq(int, core_expire(w.peers, w.store, w.commit, clock_now_ms()), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, HU))->n[PEER_EXPIRED], 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &rows), 0));
	cr_assert(eq(int, rows.row[0].state, DELIVERY_QUEUED));
}

Test(expire, expiring_nothing_makes_no_commit)
{
	struct heard h = { 0 };
	uint8_t id[STORE_ID_LEN];

	submit_committed(id, HU, NULL);
	cr_assert(eq(int, commit_listen(w.commit, on_commit, &h), 0));
	uint64_t commits = commit_count(w.commit);
	/* the daemon runs this on a timer: an idle agent should not commit */
	cr_assert(eq(int, core_expire(w.peers, w.store, w.commit, clock_now_ms()), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(u64, commit_count(w.commit), commits));
	cr_assert(eq(int, h.calls, 0));
}

Test(expire, each_expired_delivery_is_an_event_for_the_console)
{
	uint8_t id[STORE_ID_LEN];
	char hex[2 * STORE_ID_LEN + 1];
	struct event out[4];

	submit_committed(id, RO, AT);
	uint64_t later = clock_now_ms() + 3600 * 1000;
	uint64_t before = events_last_seq(peers_events(w.peers));
	cr_assert(eq(int, core_expire(w.peers, w.store, w.commit, later), 2));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, encode_hex(hex, sizeof(hex), id, STORE_ID_LEN), 0));
	cr_assert(eq(sz, events_after(peers_events(w.peers), before, out, 4, NULL), 2));
	for (int i = 0; i < 2; i++) {
		cr_assert(eq(str, out[i].kind, "expired"));
		cr_assert(eq(str, out[i].msg, hex));
		cr_assert(eq(str, out[i].reason, "ttl"));
		cr_assert(eq(str, out[i].detail, "alert"));
		cr_assert(eq(u64, out[i].at_ms, later));
	}
	cr_assert(is(strcmp(out[0].peer, RO) == 0 ? strcmp(out[1].peer, AT) == 0
						  : strcmp(out[0].peer, AT) == 0 && strcmp(out[1].peer, RO) == 0));
}

/* Every body the submission accepts fits a link frame, and the first byte
 * more is refused there, naming max_frame (the receiver would otherwise
 * drop the frame and the sender resend it until it expired). The edge is
 * sizes_body_max(max_frame): tested at edge - 1, edge and edge + 1, and the
 * envelope of the largest body fits the frame with room for the largest
 * header. */
Test(submit, refuses_at_submission_a_body_that_could_not_cross_the_link)
{
	size_t max_frame = peers_config(w.peers)->max_frame_bytes;
	size_t edge = sizes_body_max(max_frame);
	cr_assert(lt(sz, 0, edge));
	/* what sealing adds stays within the bound the edge is derived from */
	struct submit_request r = request(WIRE_TYPE_ALERT, HU, NULL, NULL);
	uint8_t id[STORE_ID_LEN];
	struct core_test_rows rows;
	submit_ok(&r, id);
	cr_assert(eq(int, core_test_message_get(w.store, id, &rows), 0));
	cr_assert(le(sz, rows.row[0].envelope_len - r.body_len, SIZES_ENVELOPE_OVERHEAD_MAX));
	uint8_t *big = calloc(1, edge + 1);
	cr_assert(big != NULL);
	for (size_t len = edge - 1; len <= edge + 1; len++) {
		struct submit_request b = request(WIRE_TYPE_ALERT, HU, NULL, NULL);
		struct submit_result res;
		struct core_error err;
		b.body = big;
		b.body_len = len;
		int rc = submit_stage(w.submit, "client-1", &b, 1, &res, &err);
		if (len <= edge) {
			/* taken: its sealed envelope passed the frame check too */
			cr_assert(eq(int, rc, 0), "%zu bytes: %s", len, err.message);
			cr_assert(eq(int, commit_flush(w.commit), 0));
			continue;
		}
		cr_assert(eq(int, rc, LIMES_E_TOOBIG), "%s", err.message);
		cr_assert(eq(str, err.field, "body"));
		cr_assert(not(eq(ptr, strstr(err.message, "max_frame"), NULL)), "%s", err.message);
	}
	cr_assert(eq(int, commit_flush(w.commit), 0));
	free(big);
}

/* A smaller max_frame moves the body's edge with it. */
Test(submit, the_body_edge_follows_max_frame)
{
	cr_assert(eq(sz, sizes_body_max(SIZES_FRAME_DEFAULT), SIZES_BODY_MAX));
	cr_assert(eq(sz, sizes_body_max(SIZES_FRAME_MIN),
		     SIZES_FRAME_MIN - SIZES_ENVELOPE_OVERHEAD_MAX - SIZES_FRAME_PREFIX_MAX));
	cr_assert(eq(sz, sizes_body_max(SIZES_FRAME_MAX), SIZES_BODY_MAX));
	cr_assert(eq(sz, sizes_body_max(SIZES_ENVELOPE_OVERHEAD_MAX + SIZES_FRAME_PREFIX_MAX), 0));
}

Test(requeue, seals_to_the_recipients_new_key_after_a_reload)
{
	char cerr[CONFIG_ERR_MAX] = "";
	struct core_test_rows after;
	struct core_error err;
	uint8_t id[STORE_ID_LEN];
	int n = -1;

	/* AT rejected our envelope (it had rotated its key); the operator
	 * pastes the new key, reloads and re-queues */
	submit_committed(id, AT, NULL);
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	cr_assert(eq(int, store_delivery_done(w.store, id, AT, DELIVERY_REJECTED, REASON_UNKNOWN_KEY, "",
					      clock_now_ms(), 0), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	struct config *cfg = core_test_config(&w, CORE_TEST_AT_NEW, NULL, cerr, sizeof(cerr));
	cr_assert(not(eq(ptr, cfg, NULL)), "%s", cerr);
	cr_assert(eq(int, peers_reload(w.peers, &cfg, cerr, sizeof(cerr)), 0), "%s", cerr);

	cr_assert(eq(int, submit_requeue(w.submit, id, NULL, 0, &n, &err), 0), "%s: %s", limes_errname(err.code),
		  err.message);
	cr_assert(eq(int, n, 1));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, core_test_message_get(w.store, id, &after), 0));
	cr_assert(eq(int, after.row[0].state, DELIVERY_QUEUED));
	opens_as(CORE_TEST_AT_NEW, &after.row[0], id, NULL);
}

/* Marks id's delivery to `to` delivered at done_ms, committed. */
static void delivered_at(const uint8_t id[STORE_ID_LEN], const char *to, uint64_t done_ms)
{
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	cr_assert(eq(int, store_delivery_done(w.store, id, to, DELIVERY_DELIVERED, 0, NULL, done_ms, 0), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
}

Test(requeue, a_resend_series_does_not_take_again_what_it_sent_again_and_is_rate_limited)
{
	uint8_t id[3][STORE_ID_LEN];
	struct core_error err;
	size_t count = 0;
	bool more = false;
	uint64_t t0 = clock_now_ms() - 10000;

	for (int i = 0; i < 3; i++) {
		submit_committed(id[i], HU, NULL);
		delivered_at(id[i], HU, t0 + (uint64_t)i);
	}
	uint64_t until = clock_now_ms();
	/* a dry run counts and does not count against the limit */
	cr_assert(eq(int, submit_resend_delivered(w.submit, "op", HU, t0, until, 2, true, &count, &more, &err), 0));
	cr_assert(eq(sz, count, 2));
	cr_assert(is(more));
	cr_assert(eq(int, submit_resend_delivered(w.submit, "op", HU, t0, until, 2, false, &count, &more, &err), 0),
		  "%s", err.message);
	cr_assert(eq(sz, count, 2));
	cr_assert(is(more));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	/* a second one at once is refused, naming the limit, and stages nothing */
	cr_assert(eq(int, submit_resend_delivered(w.submit, "op", HU, t0, until, 2, false, &count, &more, &err),
		     LIMES_E_AGAIN));
	cr_assert(eq(str, err.field, "peer"));
	char limit[128];
	snprintf(limit, sizeof(limit), "at most one resend to %s every %d ms", HU, RESEND_EVERY_MS);
	cr_assert(not(eq(ptr, strstr(err.message, limit), NULL)), "%s", err.message);
	cr_assert(is(!store_in_transaction(w.store)));
	/* the first two are delivered anew (after until), as the neighbour
	 * accepts or answers them */
	delivered_at(id[0], HU, until + 5);
	delivered_at(id[1], HU, until + 6);
	usleep((RESEND_EVERY_MS + 100) * 1000);
	/* the next call of the series takes only the third: not the first two
	 * again (they would refill every batch, "more" for ever) */
	cr_assert(eq(int, submit_resend_delivered(w.submit, "op", HU, t0, until, 2, false, &count, &more, &err), 0),
		  "%s", err.message);
	cr_assert(eq(sz, count, 1));
	cr_assert(is(!more));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	struct core_test_rows rows;
	cr_assert(eq(int, core_test_message_get(w.store, id[2], &rows), 0));
	cr_assert(eq(int, core_test_row_for(&rows, HU)->state, DELIVERY_QUEUED));
	cr_assert(eq(int, core_test_message_get(w.store, id[0], &rows), 0));
	cr_assert(eq(int, core_test_row_for(&rows, HU)->state, DELIVERY_DELIVERED));
	/* until must come after since */
	cr_assert(eq(int, submit_resend_delivered(w.submit, "op", HU, until, until, 2, true, &count, &more, &err),
		     LIMES_E_RANGE));
	cr_assert(eq(str, err.field, "until"));
}
