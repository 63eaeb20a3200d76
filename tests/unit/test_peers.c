/*
 * The peer table: it takes the config, finds peers by id and by CURVE key,
 * holds the one next-hop rule, keeps a peer's link state and counters across
 * a reload only while its key stays the same, and leaves everything as it was
 * when a reload fails.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "core/core.h"
#include "proto/err.h"
#include "support/core_testutil.h"

static inline int is(int cond)
{
	return cond;
}

static struct core_world w;

static void setup(void)
{
	cr_assert(eq(int, core_test_world_init(&w, "peers"), 0));
}

static void teardown(void)
{
	cr_assert(eq(int, core_test_world_fini(&w), 0));
}

TestSuite(peers, .init = setup, .fini = teardown, .timeout = 30);

#define HU core_test_ids[CORE_TEST_HU]
#define RO core_test_ids[CORE_TEST_RO]
#define AT core_test_ids[CORE_TEST_AT]

static struct config *load(int at_key)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = core_test_config(&w, at_key, NULL, err, sizeof(err));

	cr_assert(not(eq(ptr, cfg, NULL)), "%s", err);
	return cfg;
}

Test(peers, new_takes_the_config_and_nulls_the_callers_pointer)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load(CORE_TEST_AT);
	struct config *given = cfg;
	struct peers *t = peers_new(&cfg, w.id[CORE_TEST_ME], err, sizeof(err));

	cr_assert(not(eq(ptr, t, NULL)), "%s", err);
	cr_assert(eq(ptr, cfg, NULL));
	cr_assert(eq(ptr, (void *)peers_config(t), given));
	cr_assert(eq(str, (char *)peers_config(t)->id, "RS-CUSTOMS-HORGOS"));
	peers_destroy(&t);
	cr_assert(eq(ptr, t, NULL));
	peers_destroy(&t); /* NULL is fine */
	peers_destroy(NULL);
}

Test(peers, new_refuses_a_key_it_cannot_derive_from_and_leaves_the_config)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load(CORE_TEST_AT);

	/* a key id that does not match the keys: no pair key can come of it */
	cfg->peers[2].key.key_id[0] ^= 0x01;
	struct peers *t = peers_new(&cfg, w.id[CORE_TEST_ME], err, sizeof(err));
	cr_assert(eq(ptr, t, NULL));
	cr_assert(not(eq(ptr, cfg, NULL)));
	cr_assert(is(strstr(err, "test.ini:") != NULL && strstr(err, AT) != NULL), "%s", err);
	cr_assert(is(strstr(err, "cannot derive") != NULL), "%s", err);
	config_destroy(&cfg);
}

Test(peers, counts_finds_and_indexes_in_config_order)
{
	cr_assert(eq(sz, peers_count(w.peers), 3));
	cr_assert(eq(str, (char *)peer_id(peers_at(w.peers, 0)), (char *)HU));
	cr_assert(eq(str, (char *)peer_id(peers_at(w.peers, 1)), (char *)RO));
	cr_assert(eq(str, (char *)peer_id(peers_at(w.peers, 2)), (char *)AT));
	cr_assert(eq(ptr, peers_at(w.peers, 3), NULL));
	cr_assert(eq(ptr, peers_find(w.peers, RO), peers_at(w.peers, 1)));
	cr_assert(eq(ptr, peers_find(w.peers, "XX-NOBODY"), NULL));
	cr_assert(eq(ptr, peers_find(w.peers, NULL), NULL));
	cr_assert(eq(ptr, peers_find(w.peers, "hu-nav-roszke"), NULL)); /* ids are exact */
	cr_assert(eq(ptr, (void *)peer_conf(peers_find(w.peers, AT)), &peers_config(w.peers)->peers[2]));
	cr_assert(not(eq(ptr, (void *)peer_crypto(peers_find(w.peers, AT)), NULL)));
}

Test(peers, next_hop_is_the_relay_for_a_via_peer_and_itself_when_direct)
{
	struct peer *hu = peers_find(w.peers, HU), *ro = peers_find(w.peers, RO), *at = peers_find(w.peers, AT);

	cr_assert(is(peer_is_direct(hu)));
	cr_assert(is(!peer_is_direct(ro)));
	cr_assert(is(peer_is_direct(at)));
	cr_assert(eq(str, (char *)peer_next_hop(ro), (char *)HU));
	cr_assert(eq(str, (char *)peer_next_hop(hu), (char *)HU));
	cr_assert(eq(str, (char *)peer_next_hop(at), (char *)AT));
}

Test(peers, finds_only_direct_peers_by_their_curve_key)
{
	const struct peer_key *hu = identity_public(w.id[CORE_TEST_HU]);
	const struct peer_key *ro = identity_public(w.id[CORE_TEST_RO]);
	const struct peer_key *at = identity_public(w.id[CORE_TEST_AT]);
	uint8_t other[32];

	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, hu->box_pk), peers_find(w.peers, HU)));
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, at->box_pk), peers_find(w.peers, AT)));
	/* a relayed peer never connects to us itself */
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, ro->box_pk), NULL));
	memcpy(other, hu->box_pk, sizeof(other));
	other[31] ^= 0x80;
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, other), NULL));
	/* a signing key is not a CURVE key */
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, hu->sign_pk), NULL));
}

Test(peers, link_state_changes_record_since_and_up_since)
{
	struct peer *hu = peers_find(w.peers, HU);
	const struct peer_link *l = peer_link(hu);

	cr_assert(eq(int, l->state, LINK_DOWN));
	cr_assert(eq(u64, l->since_ms, 0));
	peer_link_set_state(hu, LINK_CONNECTING, 1000);
	cr_assert(eq(int, l->state, LINK_CONNECTING));
	cr_assert(eq(u64, l->since_ms, 1000));
	cr_assert(eq(u64, l->up_since_ms, 0));
	peer_link_set_state(hu, LINK_UP, 2000);
	cr_assert(eq(int, l->state, LINK_UP));
	cr_assert(eq(u64, l->since_ms, 2000));
	cr_assert(eq(u64, l->up_since_ms, 2000));
	/* the same state again is no change */
	peer_link_set_state(hu, LINK_UP, 3000);
	cr_assert(eq(u64, l->since_ms, 2000));
	cr_assert(eq(u64, l->up_since_ms, 2000));
	peer_link_set_state(hu, LINK_DOWN, 4000);
	cr_assert(eq(int, l->state, LINK_DOWN));
	cr_assert(eq(u64, l->since_ms, 4000));
	cr_assert(eq(u64, l->up_since_ms, 2000)); /* when it was last up */
	peer_link_heard(hu, 4500);
	cr_assert(eq(u64, l->last_heard_ms, 4500));
	cr_assert(eq(str, (char *)link_state_name(LINK_DOWN), "down"));
	cr_assert(eq(str, (char *)link_state_name(LINK_CONNECTING), "connecting"));
	cr_assert(eq(str, (char *)link_state_name(LINK_UP), "up"));
	cr_assert(eq(str, (char *)link_state_name((enum link_state)9), "unknown"));
}

Test(peers, measurements_are_smoothed_after_the_first)
{
	struct peer *hu = peers_find(w.peers, HU);
	const struct peer_link *l = peer_link(hu);

	cr_assert(is(!l->has_rtt));
	peer_link_measured(hu, 100.0, 10.0);
	cr_assert(is(l->has_rtt));
	cr_assert(epsilon_eq(dbl, l->rtt_ms, 100.0, 1e-9));
	cr_assert(epsilon_eq(dbl, l->clock_offset_ms, 10.0, 1e-9));
	peer_link_measured(hu, 200.0, 20.0);
	cr_assert(epsilon_eq(dbl, l->rtt_ms, 120.0, 1e-9));
	cr_assert(epsilon_eq(dbl, l->clock_offset_ms, 12.0, 1e-9));
	peer_link_measured(hu, 200.0, 20.0);
	cr_assert(epsilon_eq(dbl, l->rtt_ms, 136.0, 1e-9));
	cr_assert(epsilon_eq(dbl, l->clock_offset_ms, 13.6, 1e-9));
}

/* The witness judges the last measurement as it stands now: a step of our
 * wall clock since it was taken (the monotonic clock did not step) moves
 * the offset by as much. Judged as taken, a measurement just before a step
 * three days ahead vouched for the stepped clock. */
Test(peers, a_clock_witness_corrects_its_measurement_by_our_wall_clock_step_since)
{
	struct peer *hu = peers_find(w.peers, HU);
	const struct peer_link *l = peer_link(hu);
	double skew = (double)peers_config(w.peers)->max_clock_skew_ms;
	double offset = 0;

	cr_assert(eq(ptr, (void *)peers_clock_witness(w.peers, NULL), NULL), "no link up: nobody vouches");
	peer_link_set_state(hu, LINK_UP, 1000);
	peer_link_measured(hu, 2.0, 40.0);
	uint64_t wall = l->measured_wall_ms, mono = l->measured_mono_ms;
	cr_assert(lt(dbl, 40.0, skew));

	/* a second later, both clocks moved alike: vouched, at the measured offset */
	cr_assert(eq(ptr, (void *)peers_clock_witness_at(w.peers, wall + 1000, mono + 1000, &offset), (void *)hu));
	cr_assert(epsilon_eq(dbl, offset, 40.0, 1e-9));
	/* our wall clock stepped three days ahead a second later: not vouched */
	offset = 7;
	cr_assert(eq(ptr, (void *)peers_clock_witness_at(w.peers, wall + 3ull * 86400000 + 1000, mono + 1000, &offset),
		     NULL));
	cr_assert(epsilon_eq(dbl, offset, 7.0, 1e-9), "left alone when nobody vouches");
	/* and stepped back five hours */
	cr_assert(eq(ptr, (void *)peers_clock_witness_at(w.peers, wall - 5ull * 3600000, mono + 1000, NULL), NULL));
	/* a step of exactly the skew less the offset is still within it */
	uint64_t within = (uint64_t)(skew - 40.0);
	cr_assert(eq(ptr, (void *)peers_clock_witness_at(w.peers, wall + within, mono, &offset), (void *)hu));
	cr_assert(epsilon_eq(dbl, offset, 40.0 - (double)within, 1e-9));
	cr_assert(eq(ptr, (void *)peers_clock_witness_at(w.peers, wall - within - 81, mono, NULL), NULL));
	/* the current clocks, just after the measurement: vouched */
	cr_assert(eq(ptr, (void *)peers_clock_witness(w.peers, NULL), (void *)hu));
	/* a link that goes down vouches no more */
	peer_link_set_state(hu, LINK_DOWN, 2000);
	cr_assert(eq(ptr, (void *)peers_clock_witness_at(w.peers, wall, mono, NULL), NULL));
}

Test(peers, count_adds_to_one_counter_only)
{
	struct peer *at = peers_find(w.peers, AT);
	const struct peer_counters *c = peer_counters(at);

	peer_count(at, PEER_SENT, 2);
	peer_count(at, PEER_SENT, 3);
	peer_count(at, PEER_EXPIRED, 1);
	peer_count(at, PEER_COUNTERS, 7); /* out of range: ignored */
	cr_assert(eq(u64, c->n[PEER_SENT], 5));
	cr_assert(eq(u64, c->n[PEER_EXPIRED], 1));
	cr_assert(eq(u64, c->n[PEER_RESENT], 0));
	cr_assert(eq(u64, c->n[PEER_DELIVERED], 0));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, HU))->n[PEER_SENT], 0));
}

/* Gives a peer figures a reload should keep or drop. */
static void mark_busy(const char *id, uint64_t sent)
{
	struct peer *p = peers_find(w.peers, id);

	peer_link_set_state(p, LINK_UP, 5000);
	peer_link_heard(p, 6000);
	peer_link_measured(p, 42.0, -3.0);
	peer_count(p, PEER_SENT, sent);
	peer_count(p, PEER_DELIVERED, sent - 1);
}

Test(peers, reload_keeps_figures_of_peers_whose_key_is_unchanged_and_resets_the_others)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load(CORE_TEST_AT_NEW); /* AT has a new key, HU and RO keep theirs */
	struct config *given = cfg;

	mark_busy(HU, 5);
	mark_busy(RO, 3);
	mark_busy(AT, 9);
	cr_assert(eq(int, peers_reload(w.peers, &cfg, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(ptr, cfg, NULL));
	cr_assert(eq(ptr, (void *)peers_config(w.peers), given));
	cr_assert(eq(sz, peers_count(w.peers), 3));

	const struct peer *hu = peers_find(w.peers, HU);
	cr_assert(eq(int, peer_link(hu)->state, LINK_UP));
	cr_assert(eq(u64, peer_link(hu)->since_ms, 5000));
	cr_assert(eq(u64, peer_link(hu)->up_since_ms, 5000));
	cr_assert(eq(u64, peer_link(hu)->last_heard_ms, 6000));
	cr_assert(is(peer_link(hu)->has_rtt));
	cr_assert(epsilon_eq(dbl, peer_link(hu)->rtt_ms, 42.0, 1e-9));
	cr_assert(eq(u64, peer_counters(hu)->n[PEER_SENT], 5));
	cr_assert(eq(u64, peer_counters(hu)->n[PEER_DELIVERED], 4));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, RO))->n[PEER_SENT], 3));

	const struct peer *at = peers_find(w.peers, AT);
	cr_assert(eq(int, peer_link(at)->state, LINK_DOWN));
	cr_assert(eq(u64, peer_link(at)->since_ms, 0));
	cr_assert(eq(u64, peer_link(at)->last_heard_ms, 0));
	cr_assert(is(!peer_link(at)->has_rtt));
	cr_assert(eq(u64, peer_counters(at)->n[PEER_SENT], 0));
	cr_assert(eq(u64, peer_counters(at)->n[PEER_DELIVERED], 0));
	/* the new key is the one used now */
	const struct peer_key *now = envelope_peer_key(peer_crypto(at));
	cr_assert(eq(int, memcmp(now->key_id, identity_public(w.id[CORE_TEST_AT_NEW])->key_id, 8), 0));
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, identity_public(w.id[CORE_TEST_AT_NEW])->box_pk), (void *)at));
	/* the replaced key is kept, admitted and valid for the overlap (7 days by default) */
	const struct envelope_peer *prev = peer_crypto_previous(at);
	cr_assert(ne(ptr, (void *)prev, NULL));
	cr_assert(eq(int, memcmp(envelope_peer_key(prev)->key_id, identity_public(w.id[CORE_TEST_AT])->key_id, 8), 0));
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, identity_public(w.id[CORE_TEST_AT])->box_pk), (void *)at));
	uint64_t until = 0;
	cr_assert(eq(ptr, (void *)peer_crypto_for_key(at, identity_public(w.id[CORE_TEST_AT])->key_id, &until),
		     (void *)prev));
	cr_assert(lt(u64, clock_now_ms() + 6ull * 86400 * 1000, until));
	cr_assert(eq(ptr, (void *)peer_crypto_for_key(at, identity_public(w.id[CORE_TEST_AT_NEW])->key_id, &until),
		     (void *)peer_crypto(at)));
	cr_assert(eq(u64, until, 0));
	cr_assert(eq(ptr, (void *)peer_crypto_for_key(at, identity_public(w.id[CORE_TEST_HU])->key_id, &until), NULL));
	/* whose key a key id is, for diagnosis */
	cr_assert(eq(ptr, peers_find_by_key_id(w.peers, identity_public(w.id[CORE_TEST_HU])->key_id),
		     (void *)peers_find(w.peers, HU)));
}

Test(peers, a_replaced_key_is_no_longer_admitted_once_its_overlap_ends)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = core_test_config(&w, CORE_TEST_AT_NEW, "[link]\nkey_overlap = 50ms\n", err, sizeof(err));
	cr_assert(ne(ptr, cfg, NULL), "%s", err);
	cr_assert(eq(int, peers_reload(w.peers, &cfg, err, sizeof(err)), 0), "%s", err);
	const struct peer *at = peers_find(w.peers, AT);
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, identity_public(w.id[CORE_TEST_AT])->box_pk), (void *)at));
	usleep(80 * 1000);
	cr_assert(eq(ptr, peers_find_by_box_key(w.peers, identity_public(w.id[CORE_TEST_AT])->box_pk), NULL));
	/* still known, so that a refusal can say "key not valid" rather than "unknown" */
	uint64_t until = 0;
	cr_assert(ne(ptr, (void *)peer_crypto_for_key(at, identity_public(w.id[CORE_TEST_AT])->key_id, &until), NULL));
	cr_assert(lt(u64, until, clock_now_ms()));
	/* a second reload with the same key keeps it as the previous one, same end */
	cfg = core_test_config(&w, CORE_TEST_AT_NEW, "[link]\nkey_overlap = 50ms\n", err, sizeof(err));
	cr_assert(eq(int, peers_reload(w.peers, &cfg, err, sizeof(err)), 0), "%s", err);
	at = peers_find(w.peers, AT);
	uint64_t again = 0;
	cr_assert(ne(ptr, (void *)peer_crypto_for_key(at, identity_public(w.id[CORE_TEST_AT])->key_id, &again), NULL));
	cr_assert(eq(u64, again, until));
}

Test(peers, a_link_that_goes_down_forgets_its_rtt_and_a_degraded_one_keeps_its_reason)
{
	struct peer *hu = peers_find(w.peers, HU);
	const struct peer_link *l = peer_link(hu);
	peer_link_set_state(hu, LINK_UP, 1000);
	peer_link_measured(hu, 12.0, 3.0);
	cr_assert(is(l->has_rtt));
	peer_link_set_state(hu, LINK_DEGRADED, 2000);
	peer_link_set_reason(hu, "key %s", "abc");
	cr_assert(is(l->has_rtt));
	cr_assert(eq(str, (char *)l->reason, "key abc"));
	cr_assert(eq(u64, l->up_since_ms, 1000));
	cr_assert(eq(str, (char *)link_state_name(LINK_DEGRADED), "degraded"));
	peer_link_set_state(hu, LINK_UP, 3000);
	cr_assert(eq(str, (char *)l->reason, ""));
	cr_assert(eq(u64, l->up_since_ms, 1000)); /* degraded was still connected */
	peer_link_set_state(hu, LINK_DOWN, 4000);
	cr_assert(is(!l->has_rtt));
}

Test(peers, reload_drops_a_removed_peer_and_adds_a_new_one_fresh)
{
	char err[CONFIG_ERR_MAX] = "", text_err[CONFIG_ERR_MAX] = "";
	char *text = core_test_config_text(&w, CORE_TEST_AT, NULL);
	cr_assert(not(eq(ptr, text, NULL)));
	/* RO leaves; a new direct peer with RO's key arrives under another id */
	char *ro = strstr(text, "[peer \"RO-POLITIA-NADLAC\"]");
	cr_assert(not(eq(ptr, ro, NULL)));
	char *ro_end = strstr(ro, "\n\n");
	cr_assert(not(eq(ptr, ro_end, NULL)));
	memmove(ro, ro_end + 2, strlen(ro_end + 2) + 1);
	char extra[512];
	snprintf(extra, sizeof(extra), "\n[peer \"SK-FS-KOMARNO\"]\nendpoint = tcp://192.0.2.9:7400\nkey = %s\n",
		 w.line[CORE_TEST_RO]);
	char *full = malloc(strlen(text) + strlen(extra) + 1);
	cr_assert(not(eq(ptr, full, NULL)));
	strcpy(full, text);
	strcat(full, extra);
	struct config *cfg = config_load_string(full, "test.ini", w.dir, text_err, sizeof(text_err));
	cr_assert(not(eq(ptr, cfg, NULL)), "%s", text_err);

	mark_busy(RO, 4);
	mark_busy(HU, 2);
	cr_assert(eq(int, peers_reload(w.peers, &cfg, err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(sz, peers_count(w.peers), 3));
	cr_assert(eq(ptr, peers_find(w.peers, RO), NULL));
	struct peer *sk = peers_find(w.peers, "SK-FS-KOMARNO");
	cr_assert(not(eq(ptr, sk, NULL)));
	/* same key, other id: a different peer, so nothing carried over */
	cr_assert(eq(u64, peer_counters(sk)->n[PEER_SENT], 0));
	cr_assert(eq(int, peer_link(sk)->state, LINK_DOWN));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, HU))->n[PEER_SENT], 2));
	free(full);
	free(text);
}

Test(peers, failed_reload_changes_nothing_and_leaves_the_new_config_with_the_caller)
{
	char err[CONFIG_ERR_MAX] = "";
	const struct config *old = peers_config(w.peers);
	struct peer *hu_before = peers_find(w.peers, HU);
	struct config *cfg = load(CORE_TEST_AT_NEW);

	mark_busy(HU, 5);
	mark_busy(AT, 9);
	cfg->peers[2].key.key_id[3] ^= 0x10; /* AT's new key cannot give a pair key */
	cr_assert(eq(int, peers_reload(w.peers, &cfg, err, sizeof(err)), LIMES_E_CONFIG));
	cr_assert(is(strstr(err, "test.ini:") != NULL && strstr(err, AT) != NULL), "%s", err);
	cr_assert(not(eq(ptr, cfg, NULL)));
	config_destroy(&cfg);

	cr_assert(eq(ptr, (void *)peers_config(w.peers), (void *)old));
	cr_assert(eq(sz, peers_count(w.peers), 3));
	cr_assert(eq(ptr, peers_find(w.peers, HU), hu_before)); /* same table */
	const struct peer *at = peers_find(w.peers, AT);
	cr_assert(eq(int, peer_link(at)->state, LINK_UP));
	cr_assert(eq(u64, peer_counters(at)->n[PEER_SENT], 9));
	cr_assert(eq(u64, peer_counters(peers_find(w.peers, HU))->n[PEER_SENT], 5));
	const struct peer_key *key = envelope_peer_key(peer_crypto(at));
	cr_assert(eq(int, memcmp(key->key_id, identity_public(w.id[CORE_TEST_AT])->key_id, 8), 0));
}

Test(peers, outbox_stats_count_what_is_queued_toward_a_next_hop)
{
	uint64_t queued = 99, oldest = 99;
	struct peer *hu = peers_find(w.peers, HU);
	struct store_message m = { .type = 1, .created_ms = 1234, .expires_ms = 99999999999999ull };
	static const uint8_t env[] = "sealed";
	struct store_delivery d[2] = {
		{ HU, HU, env, sizeof(env) },
		{ RO, HU, env, sizeof(env) },
	};

	/* AT: its figures are cached apart from HU's */
	cr_assert(eq(int, peer_outbox_stats(peers_find(w.peers, AT), w.store, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 0));
	cr_assert(eq(u64, oldest, 0));
	memset(m.id, 0x42, sizeof(m.id));
	cr_assert(eq(int, commit_stage(w.commit, COMMIT_OUTBOX), 0));
	cr_assert(eq(int, store_outbox_put(w.store, &m, d, 2), 0));
	cr_assert(eq(int, commit_flush(w.commit), 0));
	cr_assert(eq(int, peer_outbox_stats(hu, w.store, &queued, &oldest), 0));
	cr_assert(eq(u64, queued, 2));
	cr_assert(eq(u64, oldest, 1234));
}
