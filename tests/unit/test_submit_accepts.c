/*
 * Submission against what neighbours said they accept (core/submit.c with
 * peer_accepts): a type a direct neighbour did not list is refused with
 * LIMES_E_PEER_LACKS_TYPE naming the field and the peer, and nothing is
 * staged; a neighbour that never said (an older agent) is not held to
 * anything; a relayed recipient is judged by itself, never by its relay's
 * list; a schema major below the one we send counts as not accepting.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "core/core.h"
#include "proto/err.h"
#include "support/core_testutil.h"

static struct core_world w;

static void setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "accepts"), 0));
}

static void teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(submit_accepts, .init = setup, .fini = teardown, .timeout = 30);

#define HU core_test_ids[CORE_TEST_HU]
#define RO core_test_ids[CORE_TEST_RO]

static const uint8_t body[] = { 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o' };

static int submit_one(int type, const char *to, struct core_error *err)
{
	struct submit_request r;
	struct submit_result res;
	memset(&r, 0, sizeof(r));
	r.type = type;
	r.body = body;
	r.body_len = sizeof(body);
	r.to[r.n_to++] = to;
	int rc = submit_stage(w.submit, "test", &r, 1, &res, err);
	if (rc == 0)
		cr_assert(eq(int, commit_flush(w.commit), 0));
	return rc;
}

static void hu_says(uint32_t mask, uint32_t major)
{
	struct peer_accepts acc = { .known = true, .mask = mask, .said_ms = 1 };
	for (int t = 0; t < 32; t++)
		acc.schema_major[t] = major;
	peer_accepts_set(peers_find(w.peers, HU), &acc);
}

Test(submit_accepts, refuses_a_type_the_neighbour_did_not_list_and_stages_nothing)
{
	struct core_error err;
	uint64_t queued = 0, oldest = 0;

	/* HU never said: the config alone decides (an older agent) */
	cr_assert(eq(int, submit_one(2, HU, &err), 0), "%s", err.message);
	hu_says(CONFIG_TYPE_BIT(1), 1);
	cr_assert(eq(int, submit_one(2, HU, &err), LIMES_E_PEER_LACKS_TYPE));
	cr_assert(eq(str, err.field, "to[0]"));
	cr_assert_not_null(strstr(err.message, HU), "%s", err.message);
	cr_assert_not_null(strstr(err.message, "pre_arrival"), "%s", err.message);
	cr_assert(eq(int, store_outbox_stats(w.store, HU, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 1), "the refused message was staged");
	cr_assert(eq(int, submit_one(1, HU, &err), 0), "%s", err.message);
}

Test(submit_accepts, a_lower_schema_major_is_not_accepting)
{
	struct core_error err;
	hu_says(CONFIG_TYPE_BIT(1) | CONFIG_TYPE_BIT(2), 0);
	cr_assert(eq(int, submit_one(1, HU, &err), LIMES_E_PEER_LACKS_TYPE));
	hu_says(CONFIG_TYPE_BIT(1) | CONFIG_TYPE_BIT(2), 1);
	cr_assert(eq(int, submit_one(1, HU, &err), 0), "%s", err.message);
}

Test(submit_accepts, a_relayed_recipient_is_not_judged_by_its_relays_list)
{
	struct core_error err;
	/* HU relays to RO; HU itself takes nothing from us */
	hu_says(0, 1);
	cr_assert(eq(int, submit_one(1, HU, &err), LIMES_E_PEER_LACKS_TYPE));
	cr_assert(eq(int, submit_one(1, RO, &err), 0), "%s", err.message);
	/* the policy check still comes first: a type our config forbids is 403's */
	cr_assert(eq(int, submit_one(3, HU, &err), LIMES_E_POLICY));
}
