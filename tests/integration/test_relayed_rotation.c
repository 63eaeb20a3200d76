/*
 * Key rotation for peers reached through a relay, with three real agents on
 * loopback (A - B - C, A and C know each other only through B): the
 * announcement and the answers travel end to end as envelopes the relay
 * stores and forwards, C adopts A's key automatically or on its operator's
 * word, A's GET /v1/keys shows C's answer before the promotion, and A
 * promotes, with messages flowing A->C and C->A throughout: none lost, none
 * twice, none refused decrypt_failed / unknown_key / key_not_valid. C's own
 * rotation is seen by A the same way.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "support/cluster.h"
#include "support/rotation_testutil.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"

static inline int is(int cond)
{
	return cond;
}

TestSuite(relayed_rotation, .timeout = 240);

/* A - B - C, alerts every way; B adopts A's and C's keys automatically. */
static struct cluster *chain(void)
{
	static const char *const ids[] = { A, B, C };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = {
		{ A, B, "alert", NULL }, { B, A, "alert", NULL }, { B, C, "alert", NULL },
		{ C, B, "alert", NULL }, { A, C, "alert", B },    { C, A, "alert", B },
	};
	cluster_configure(c, l, 6, "key_overlap = 3s");
	rotation_test_peer_option(cluster_ap(c, B), A, "rotation = accept");
	rotation_test_peer_option(cluster_ap(c, B), C, "rotation = accept");
	return c;
}

/* Waits up to ms for GET /v1/keys at agent id to show neighbour's answer `state`. */
static bool wait_answer(struct cluster *c, const char *id, const char *neighbour, const char *state, int ms)
{
	for (int waited = 0; waited <= ms; waited += 100) {
		json_t *keys = NULL;
		bool ok = false;
		if (cluster_http(c, id, "GET", "/v1/keys", NULL, &keys) == 200) {
			const char *s = json_string_value(
				json_object_get(json_object_get(json_object_get(keys, "next"), "neighbours"), neighbour));
			ok = s && strcmp(s, state) == 0;
		}
		json_decref(keys);
		if (ok)
			return true;
		cluster_sleep_ms(100);
	}
	return false;
}

/* Nothing refused for a key anywhere, no message rejected. */
static void no_key_refusals(struct cluster *c, const char *id)
{
	static const char *const reasons[] = { "decrypt_failed", "key_not_valid", "unknown_key" };
	char name[128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "limes_envelopes_refused_total{reason=\"%s\"} ", reasons[i]);
		cr_assert(eq(long, rotation_test_metric(c, id, name), 0), "%s refused %s", id, reasons[i]);
		snprintf(name, sizeof(name), "reason=%s", reasons[i]);
		cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), name))), "%s logged %s", id, name);
	}
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "event=rejected_by_peer"))), "%s", id);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "event=key_update_refused"))), "%s", id);
}

/* `who` promotes its next key (next_id) through the API; `peer`, behind the
 * relay, puts it in force; the old key's overlap ends on both sides. */
static void promote(struct cluster *c, const char *who, const char *peer, const char *next_id)
{
	json_t *keys = NULL;
	cr_assert(eq(int, cluster_http(c, who, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(rotation_test_wait_in_force(c, peer, who, next_id, 10000)), "%s did not put %s's new key in force",
		  peer, who);
	cr_assert(is(agentproc_wait_log(cluster_ap(c, who), "event=key_overlap_over previous=", 10000)));
	cr_assert(is(agentproc_wait_log(cluster_ap(c, peer), "reason=\"its replaced key is refused", 10000)));
}

static void start_all(struct cluster *c)
{
	cluster_start(c, A);
	cluster_start(c, B);
	cluster_start(c, C);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, C, 10000)));
	cr_assert(is(cluster_wait_up(c, B, A, 10000) && cluster_wait_up(c, C, B, 10000)));
}

static void stop_and_check(struct cluster *c, struct rotation_stream *s)
{
	char(*ac)[33], (*ca)[33];
	size_t n_ac, n_ca;
	rotation_stream_stop(s, &ac, &n_ac, &ca, &n_ca);
	cr_assert(lt(sz, 30, n_ac), "only %zu messages were sent A to C", n_ac);
	cr_assert(lt(sz, 30, n_ca), "only %zu messages were sent C to A", n_ca);
	rotation_test_check_way(c, A, C, ac, n_ac);
	rotation_test_check_way(c, C, A, ca, n_ca);
	no_key_refusals(c, A);
	no_key_refusals(c, B);
	no_key_refusals(c, C);
	free(ac);
	free(ca);
}

Test(relayed_rotation, a_peer_behind_a_relay_adopts_automatically_and_both_ends_rotate_with_messages_flowing)
{
	struct cluster *c = chain();
	struct agentproc *a = cluster_ap(c, A), *cc = cluster_ap(c, C);
	char a_next[17], c_next[17];
	rotation_test_peer_option(cc, A, "rotation = accept");
	rotation_test_peer_option(a, C, "rotation = accept");
	start_all(c);
	struct rotation_stream s = rotation_stream_start(c, A, C);
	cluster_sleep_ms(500);

	/* A's next key reaches C through B, which only carries it */
	snprintf(a_next, sizeof(a_next), "%s", rotation_test_make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(rotation_test_wait_offered(c, C, A, "adopted", 10000)), "C did not adopt A's key announced through B");
	cr_assert(is(wait_answer(c, A, C, "adopted", 10000)), "A's status does not show C's answer");
	cr_assert(is(wait_answer(c, A, B, "adopted", 10000)));
	cr_assert(is(agentproc_log_contains(a, "event=key_rotation_queued what=key_update via=" B)));
	cr_assert(is(agentproc_log_contains(cc, "event=key_rotation_queued what=key_update_ack via=" B)));
	cluster_sleep_ms(500);

	/* promotion: C puts the new key in force from A's first envelope signed with it */
	promote(c, A, C, a_next);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, a_next, 10000)));

	/* and the other way: C rotates, A (behind the same relay) adopts and sees it */
	snprintf(c_next, sizeof(c_next), "%s", rotation_test_make_next(cc));
	cr_assert(eq(int, agentproc_signal(cc, SIGHUP), 0));
	cr_assert(is(rotation_test_wait_offered(c, A, C, "adopted", 10000)), "A did not adopt C's key announced through B");
	cr_assert(is(wait_answer(c, C, A, "adopted", 10000)));
	cluster_sleep_ms(500);
	promote(c, C, A, c_next);
	cluster_sleep_ms(1000);
	stop_and_check(c, &s);
	cluster_destroy(&c);
}

Test(relayed_rotation, a_confirmed_key_waits_at_the_relay_while_the_peer_is_down_then_is_accepted_and_promoted)
{
	struct cluster *c = chain();
	struct agentproc *a = cluster_ap(c, A), *cc = cluster_ap(c, C);
	char a_next[17], *out = NULL;
	start_all(c);

	/* C is away when A announces: B keeps the envelope and forwards it later */
	cr_assert(eq(int, cluster_stop(c, C), 0));
	snprintf(a_next, sizeof(a_next), "%s", rotation_test_make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(agentproc_wait_log(a, "event=key_rotation_queued what=key_update", 5000)));
	cr_assert(is(wait_answer(c, A, B, "adopted", 10000)));
	cr_assert(is(wait_answer(c, A, C, "none", 1000)));
	cluster_start(c, C);
	cr_assert(is(cluster_wait_up(c, C, B, 10000)));
	struct rotation_stream s = rotation_stream_start(c, A, C);

	/* the careful default: offered until C's operator says yes */
	cr_assert(is(rotation_test_wait_offered(c, C, A, "offered", 15000)), "C does not show A's key as offered");
	cr_assert(is(wait_answer(c, A, C, "offered", 10000)), "A's status does not show C's offer");
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", agentproc_config(cc), NULL), CLI_OK), "%s", out);
	cr_assert(ne(ptr, strstr(out, "OFFERED"), NULL), "%s", out);
	cr_assert(ne(ptr, strstr(out, a_next), NULL), "%s", out);
	free(out);
	cluster_sleep_ms(500);
	cr_assert(eq(int, agentproc_cli(&out, NULL, "peer", "accept-key", "-c", agentproc_config(cc), A, NULL), CLI_OK), "%s",
		  out);
	free(out);
	cr_assert(is(rotation_test_wait_offered(c, C, A, "adopted", 2000)));
	cr_assert(is(wait_answer(c, A, C, "adopted", 10000)), "A's status does not show C's adoption");
	cr_assert(is(agentproc_log_contains(a, "peer=" C " event=key_next_adopted")));
	cluster_sleep_ms(500);

	promote(c, A, C, a_next);
	cluster_sleep_ms(1000);
	stop_and_check(c, &s);
	cluster_destroy(&c);
}

/* What an older relay answers (its type lists do not name 30), shown by a
 * relay whose policy carries nothing between A and C: the announcement is
 * refused policy_deny, A's status says C has not answered, nothing else
 * changes (B, direct, adopts as usual). */
Test(relayed_rotation, a_relay_that_does_not_carry_the_announcement_refuses_it_and_the_status_says_none)
{
	static const char *const ids[] = { A, B, C };
	struct cluster *c = cluster_new(3, ids);
	struct agentproc *a = cluster_ap(c, A);
	struct cluster_link l[] = {
		{ A, B, "pre_arrival", NULL }, { B, A, "alert", NULL }, { B, C, "alert", NULL },
		{ C, B, "pre_arrival", NULL }, { A, C, "alert", B },    { C, A, "alert", B },
	};
	cluster_configure(c, l, 6, NULL);
	rotation_test_peer_option(cluster_ap(c, B), A, "rotation = accept");
	rotation_test_peer_option(cluster_ap(c, C), A, "rotation = accept");
	start_all(c);
	rotation_test_make_next(a);
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(wait_answer(c, A, B, "adopted", 10000)));
	cr_assert(is(agentproc_wait_log(a, "event=rejected_by_peer reason=policy_deny", 10000)),
		  "B did not refuse the announcement to C");
	cr_assert(is(agentproc_log_contains(cluster_ap(c, B), "relay policy does not carry this type")));
	cr_assert(is(wait_answer(c, A, C, "none", 100)));
	json_t *key = rotation_test_peer_key(c, C, A);
	cr_assert(is(json_is_null(json_object_get(key, "offered"))), "C shows an offer it never received");
	json_decref(key);
	cluster_destroy(&c);
}
