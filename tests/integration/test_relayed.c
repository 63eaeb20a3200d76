/*
 * A peer reached through a relay shows its own state, with three real
 * agents (A sends to C through B): its last receipt, its queue and its own
 * reason, and says which relay carries it; never its relay's link copied.
 * In `limes status`, GET /v1/peers and /metrics (the console renders the
 * same document).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

TestSuite(relayed, .timeout = 180);

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"

/* GET /v1/peers at `at`: peer `id`'s object (caller decrefs). */
static json_t *peer_doc(struct cluster *c, const char *at, const char *id)
{
	json_t *doc = NULL, *found = NULL, *m;
	size_t i;
	cr_assert(eq(int, cluster_http(c, at, "GET", "/v1/peers", NULL, &doc), 200));
	json_array_foreach(json_object_get(doc, "peers"), i, m)
		if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
			found = json_incref(m);
	json_decref(doc);
	cr_assert(found != NULL, "no peer %s at %s", id, at);
	return found;
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "(null)";
}

/* Waits up to ms for peer id at `at` to show `state`; its object. */
static json_t *wait_state(struct cluster *c, const char *at, const char *id, const char *state, int ms)
{
	json_t *p = NULL;
	for (int t = 0; t < ms / 100; t++) {
		json_decref(p);
		p = peer_doc(c, at, id);
		if (strcmp(str_of(p, "state"), state) == 0)
			return p;
		cluster_sleep_ms(100);
	}
	char *text = json_dumps(p, 0);
	cr_fatal("%s at %s is not %s after %d ms: %s", id, at, state, ms, text);
	return NULL;
}

Test(relayed, a_relayed_peer_shows_its_own_receipts_queue_and_reason_not_its_relays_link)
{
	static const char *const ids[] = { A, B, C };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = {
		{ A, B, "alert", NULL }, { B, A, "alert", NULL }, { B, C, "alert", NULL },
		{ C, B, "alert", NULL }, { A, C, "alert", B },    { C, A, "alert", B },
	};
	char id[4][33], state[32] = "";
	cluster_configure(c, l, 6, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cluster_start(c, C);
	cr_assert(eq(int, cluster_wait_up(c, A, B, 10000), 1));
	cr_assert(eq(int, cluster_wait_up(c, B, C, 10000), 1));

	/* delivered end to end: C is up on its own receipt */
	cr_assert(eq(int, cluster_submit(c, A, C, "alert", "normal", 1, id), 202));
	for (int t = 0; t < 100 && strcmp(state, "delivered") != 0; t++) {
		cluster_state(c, A, id[0], C, state, sizeof(state), NULL);
		cluster_sleep_ms(100);
	}
	cr_assert(eq(str, state, "delivered"));
	json_t *p = peer_doc(c, A, C);
	cr_assert(eq(str, (char *)str_of(p, "state"), "up"));
	cr_assert(eq(str, (char *)str_of(p, "via"), B));
	cr_assert(eq(str, (char *)str_of(p, "via_state"), "up"));
	cr_assert(json_object_get(p, "last_heard") != NULL && json_string_value(json_object_get(p, "last_heard")) != NULL, "C's own receipt time is not shown");
	cr_assert(eq(int, (int)json_integer_value(json_object_get(p, "queued")), 0));
	cr_assert(json_object_get(p, "rtt_ms") == NULL || json_typeof(json_object_get(p, "rtt_ms")) == JSON_NULL, "C shows an RTT measured on B's link");
	json_decref(p);

	/* C stops, B stays up: C's messages wait, nothing comes back from C,
	 * and C (not B) is degraded with its own reason and queue */
	cr_assert(eq(int, cluster_stop(c, C), 0));
	cr_assert(eq(int, cluster_submit(c, A, C, "alert", "normal", 2, id + 1), 202));
	p = wait_state(c, A, C, "degraded", 15000);
	cr_assert(eq(int, (int)json_integer_value(json_object_get(p, "queued")), 2), "C's own queue");
	cr_assert(strstr(str_of(p, "reason"), "no receipt from it through " B) != NULL, "reason: %s", str_of(p, "reason"));
	cr_assert(eq(str, (char *)str_of(p, "via_state"), "up"));
	cr_assert(ge(dbl, json_real_value(json_object_get(p, "last_heard_age_s")), 3.0),
		  "C's last receipt is not its own (the relay's link is heard all the time)");
	json_decref(p);
	json_t *relay = peer_doc(c, A, B);
	cr_assert(eq(str, (char *)str_of(relay, "state"), "up"), "the relay itself stays up");
	cr_assert(lt(dbl, json_real_value(json_object_get(relay, "last_heard_age_s")), 3.0));
	json_decref(relay);

	char *out = NULL;
	int rc = agentproc_cli(&out, NULL, "status", "-c", agentproc_config(cluster_ap(c, A)), NULL);
	cr_assert(eq(int, rc, 0), "every direct link is up, status says %d:\n%s", rc, out);
	char *row = strstr(out, C);
	cr_assert(row != NULL, "%s", out);
	char *eol = strchr(row, '\n');
	if (eol)
		*eol = '\0';
	cr_assert(strstr(row, "degraded") != NULL && strstr(row, "relayed via " B " (up)") != NULL &&
		  strstr(row, "no receipt from it") != NULL, "status row: %s", row);
	free(out);
	cr_assert(eq(dbl, agentproc_metric(cluster_ap(c, A), "limes_peer_up{peer=\"" C "\"}"), 0.0));
	cr_assert(eq(dbl, agentproc_metric(cluster_ap(c, A), "limes_peer_up{peer=\"" B "\"}"), 1.0));

	/* C back: its receipts arrive through B and it is up again */
	cluster_start(c, C);
	p = wait_state(c, A, C, "up", 20000);
	json_decref(p);

	/* B stops: C is unreachable, and says why in its own words */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	p = wait_state(c, A, C, "down", 10000);
	cr_assert(strstr(str_of(p, "reason"), "its relay " B " is down") != NULL, "reason: %s", str_of(p, "reason"));
	json_decref(p);
	cluster_destroy(&c);
}
