/*
 * Hostile neighbours: a configured peer that holds a genuine envelope of
 * another agency and sends it first over its own link must not keep that
 * agency's message from being delivered when its author sends it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "proto/reason.h"
#include "proto/wire.h"
#include "support/cluster.h"
#include "support/hostile.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"

TestSuite(link_hostile, .timeout = 120);

Test(link_hostile, a_neighbour_sending_anothers_envelope_first_does_not_block_it)
{
	static const char *const ids[] = { A, B, C };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = { { A, C, "alert", NULL }, { B, C, "alert", NULL } };
	cluster_configure(c, l, 2, NULL);

	/* A queues one alert for C while C is down, then stops */
	cluster_start(c, A);
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, C, "alert", "urgent", 1, id), 202));
	cr_assert(eq(int, cluster_stop(c, A), 0));
	uint8_t *env = NULL;
	size_t len = 0;
	cr_assert(eq(int, hostile_envelope_of(cluster_ap(c, A), id[0], &env, &len), 0));

	/* B, a configured neighbour of C, sends A's envelope first over its own link */
	cluster_start(c, C);
	int status = -1, reason = -1;
	cr_assert(eq(int, hostile_send_as(cluster_ap(c, B), cluster_ap(c, C), env, len, &status, &reason), 0));
	cr_assert(eq(int, status, WIRE_RECEIPT_REJECTED));
	cr_assert(eq(int, reason, REASON_POLICY_DENY));
	free(env);

	/* A, its author, sends it: delivered, once */
	cluster_start(c, A);
	char state[32] = "";
	for (int i = 0; i < 150; i++) {
		cluster_state(c, A, id[0], C, state, sizeof(state), NULL);
		if (strcmp(state, "delivered") == 0 || strcmp(state, "rejected") == 0)
			break;
		cluster_sleep_ms(100);
	}
	cr_assert(eq(str, state, "delivered"));
	json_t *inbox = cluster_inbox(c, C);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_array_get(inbox, 0), "id")), id[0]));
	json_decref(inbox);
	cluster_destroy(&c);
}
