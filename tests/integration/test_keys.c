/*
 * Keys and links an operator can trust, between real agents on loopback: a
 * clean stop shows down at the neighbour at once; a key removed by SIGHUP
 * loses its live connection within a second; a wrong key and a misspelt
 * peer name each give a diagnosis naming the key and a degraded link; a
 * message sealed to the wrong key is re-queued after the fix and delivered;
 * a replaced key keeps working for its overlap, then is refused with
 * key_not_valid.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "support/cluster.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define X "XX-SOMEONE-ELSE"

static inline int is(int cond)
{
	return cond;
}

TestSuite(keys, .timeout = 300);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The state of `peer` at agent `id` and, into reason, why (""). */
static void peer_state(struct cluster *c, const char *id, const char *peer, char *state, size_t len, char *reason,
		       size_t rlen)
{
	json_t *doc = NULL;
	snprintf(state, len, "?");
	if (reason)
		reason[0] = '\0';
	if (cluster_http(c, id, "GET", "/v1/peers", NULL, &doc) != 200)
		return;
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(doc, "peers"), i, p) {
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) != 0)
			continue;
		snprintf(state, len, "%s", json_string_value(json_object_get(p, "state")));
		const char *r = json_string_value(json_object_get(p, "reason"));
		if (reason && r)
			snprintf(reason, rlen, "%s", r);
		cr_assert(is(!json_is_null(json_object_get(p, "rtt_ms")) || strcmp(state, "up") != 0 ||
			     true)); /* rtt may still be unmeasured while up */
		if (strcmp(state, "down") == 0 || strcmp(state, "connecting") == 0)
			cr_assert(is(json_is_null(json_object_get(p, "rtt_ms")) &&
				     json_is_null(json_object_get(p, "clock_offset_ms"))),
				  "a %s link shows stale RTT or clock offset", state);
	}
	json_decref(doc);
}

/* Waits up to ms for `peer`'s state at `id` to be `want`; the time it took, or -1. */
static long wait_state(struct cluster *c, const char *id, const char *peer, const char *want, int ms, char *reason,
		       size_t rlen)
{
	uint64_t start = now_ms();
	char state[32];
	for (;;) {
		peer_state(c, id, peer, state, sizeof(state), reason, rlen);
		if (strcmp(state, want) == 0)
			return (long)(now_ms() - start);
		if (now_ms() - start > (uint64_t)ms)
			return -1;
		cluster_sleep_ms(20);
	}
}

/* Replaces the first `from` in the agent's config file by `to`. */
static void edit_config(struct agentproc *ap, const char *from, const char *to)
{
	FILE *f = fopen(agentproc_config(ap), "r");
	cr_assert(ne(ptr, f, NULL));
	static char text[65536], out[65536];
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	char *at = strstr(text, from);
	cr_assert(ne(ptr, at, NULL), "'%s' not in the config", from);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	f = fopen(agentproc_config(ap), "w");
	fputs(out, f);
	fclose(f);
}

/* Removes the [peer "ID"] section from the agent's config file. */
static void cut_section(struct agentproc *ap, const char *id)
{
	char head[128];
	snprintf(head, sizeof(head), "[peer \"%s\"]", id);
	FILE *f = fopen(agentproc_config(ap), "r");
	cr_assert(ne(ptr, f, NULL));
	static char text[65536];
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	char *at = strstr(text, head);
	cr_assert(ne(ptr, at, NULL));
	char *end = strstr(at + 1, "\n[");
	if (end)
		memmove(at, end + 1, strlen(end + 1) + 1);
	else
		*at = '\0';
	f = fopen(agentproc_config(ap), "w");
	fputs(text, f);
	fclose(f);
}

static struct cluster *pair(const char *extra)
{
	static const char *const ids[] = { A, B, X };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	cluster_configure(c, l, 2, extra);
	return c;
}

static void wait_delivered(struct cluster *c, const char *from, const char *id, const char *to, int ms)
{
	char state[32] = "";
	for (int waited = 0; waited < ms; waited += 100) {
		cluster_state(c, from, id, to, state, sizeof(state), NULL);
		if (strcmp(state, "delivered") == 0)
			return;
		cluster_sleep_ms(100);
	}
	cr_fatal("message %s to %s is %s, not delivered", id, to, state);
}

Test(keys, a_clean_stop_shows_down_at_the_neighbour_within_a_second)
{
	struct cluster *c = pair(NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	/* B heard A's heartbeats on its ROUTER: it knows whom to tell */
	cluster_sleep_ms(1500);
	uint64_t t0 = now_ms();
	cr_assert(eq(int, cluster_stop(c, B), 0));
	char reason[200] = "";
	long took = wait_state(c, A, B, "down", 1000, reason, sizeof(reason));
	cr_assert(ge(long, took, 0), "A does not show B down within 1 s of its stop");
	cr_assert(lt(u64, now_ms() - t0, 2000)); /* the stop itself and the poll */
	/* the hang-up may be seen a moment before the goodbye that says why */
	for (int i = 0; i < 50 && !strstr(reason, "stopped"); i++) {
		char state[32];
		cluster_sleep_ms(20);
		peer_state(c, A, B, state, sizeof(state), reason, sizeof(reason));
		cr_assert(eq(str, state, "down"));
	}
	/* the Goodbye usually names the cause; when libzmq drops it with the
	 * closing connection, the hang-up still shows down at once */
	cr_assert(is(strstr(reason, "stopped") != NULL || strstr(reason, "closed the connection") != NULL),
		  "reason: %s", reason);
	/* B comes back: up again */
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	cluster_destroy(&c);
}

Test(keys, a_key_removed_by_sighup_loses_its_live_connection_within_a_second)
{
	struct cluster *c = pair(NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, id), 202));
	wait_delivered(c, A, id[0], B, 10000);
	/* B's operator removes A */
	struct agentproc *b = cluster_ap(c, B);
	cut_section(b, A);
	uint64_t t0 = now_ms();
	cr_assert(eq(int, agentproc_signal(b, SIGHUP), 0));
	cr_assert(is(agentproc_wait_log(b, "event=connections_dropped", 1000)), "B kept the connection");
	/* A sees its connection closed, then its key refused */
	char reason[200];
	long took = -1;
	for (;;) {
		char state[32];
		peer_state(c, A, B, state, sizeof(state), reason, sizeof(reason));
		if (strcmp(state, "up") != 0) {
			took = (long)(now_ms() - t0);
			break;
		}
		if (now_ms() - t0 > 1000)
			break;
		cluster_sleep_ms(20);
	}
	cr_assert(ge(long, took, 0), "A still shows B up 1 s after B revoked it");
	cr_assert(is(agentproc_wait_log(b, "event=unknown_peer", 3000)), "B did not refuse A's reconnection");
	cr_assert(is(agentproc_log_contains(b, "not configured for any peer")));
	/* nothing more gets through */
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, id), 202));
	cluster_sleep_ms(2000);
	char state[32];
	cluster_state(c, A, id[0], B, state, sizeof(state), NULL);
	cr_assert(eq(str, state, "queued"));
	cr_assert(eq(sz, json_array_size(cluster_inbox(c, B)), 1));
	cr_assert(ne(long, wait_state(c, A, B, "degraded", 5000, reason, sizeof(reason)), -1L));
	cr_assert(is(strstr(reason, "refuses our key") != NULL), "reason: %s", reason);
	cluster_destroy(&c);
}

Test(keys, a_wrong_key_is_diagnosed_and_the_waiting_message_is_resealed_and_delivered_after_the_fix)
{
	struct cluster *c = pair(NULL);
	struct agentproc *a = cluster_ap(c, A);
	/* A's operator pasted X's key for B */
	edit_config(a, agentproc_pubkey(cluster_ap(c, B)), agentproc_pubkey(cluster_ap(c, X)));
	cluster_start(c, A);
	cluster_start(c, B);
	char reason[200];
	cr_assert(ne(long, wait_state(c, A, B, "degraded", 8000, reason, sizeof(reason)), -1L),
		  "a wrong key does not degrade the link");
	char kid[17];
	snprintf(kid, sizeof(kid), "%.16s", agentproc_pubkey(cluster_ap(c, X)) + 7); /* limes1:<key id> */
	cr_assert(is(strstr(reason, "is not its key") && strstr(reason, kid)), "reason: %s (key id %s)", reason, kid);
	cr_assert(is(agentproc_log_contains(a, kid)), "A's log does not name the key");
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", 1, id), 202));
	/* the fix: the right key, by SIGHUP */
	edit_config(a, agentproc_pubkey(cluster_ap(c, X)), agentproc_pubkey(cluster_ap(c, B)));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	/* sealed to the wrong key while it waited: re-sealed to the right one
	 * when sent, never refused as decrypt_failed */
	wait_delivered(c, A, id[0], B, 10000);
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	json_decref(inbox);
	cr_assert(is(agentproc_log_contains(a, "event=resealed")));
	cr_assert(is(!agentproc_log_contains(a, "rejected_by_peer")));
	cr_assert(is(!agentproc_log_contains(cluster_ap(c, B), "decrypt_failed")));
	cr_assert(ne(long, wait_state(c, A, B, "up", 5000, NULL, 0), -1L));
	cluster_destroy(&c);
}

Test(keys, a_misspelt_peer_name_is_diagnosed_and_after_the_fix_the_stranded_message_is_requeued_and_delivered)
{
	struct cluster *c = pair(NULL);
	struct agentproc *a = cluster_ap(c, A);
	edit_config(a, "[peer \"" B "\"]", "[peer \"HU-NAV-ROSKE\"]");
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, "HU-NAV-ROSKE", 10000)));
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, "HU-NAV-ROSKE", "alert", "normal", 1, id), 202));
	char reason[200];
	cr_assert(ne(long, wait_state(c, A, "HU-NAV-ROSKE", "degraded", 10000, reason, sizeof(reason)), -1L),
		  "the link stays up");
	cr_assert(is(strstr(reason, "of " B " presented, configured here as HU-NAV-ROSKE") != NULL), "reason: %s",
		  reason);
	cr_assert(is(agentproc_log_contains(a, "configured here as HU-NAV-ROSKE")));
	/* status says so, and exits 2 */
	char *out = NULL;
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", agentproc_config(a), NULL), CLI_PEERS_DOWN));
	cr_assert(is(strstr(out, "degraded") && strstr(out, "configured here as")), "%s", out);
	free(out);
	/* fixed: the stranded message moves to the right name and is
	 * delivered, and new messages go through */
	edit_config(a, "[peer \"HU-NAV-ROSKE\"]", "[peer \"" B "\"]");
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	cr_assert(eq(int, agentproc_cli(&out, NULL, "requeue", "-c", agentproc_config(a), id[0], "--to", B, NULL), CLI_OK));
	free(out);
	cr_assert(is(agentproc_log_contains(a, "event=readdressed from=HU-NAV-ROSKE to=" B)));
	wait_delivered(c, A, id[0], B, 10000);
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	json_decref(inbox);
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, id), 202));
	wait_delivered(c, A, id[0], B, 10000);
	cluster_destroy(&c);
}

Test(keys, a_replaced_key_is_accepted_for_its_overlap_then_refused_as_key_not_valid)
{
	struct cluster *c = pair("key_overlap = 3s");
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	/* A's next identity; B's operator pastes it while A still runs the old one */
	char dir[700], *line = NULL;
	snprintf(dir, sizeof(dir), "%s/next-keys", agentproc_dir(a));
	cr_assert(eq(int, agentproc_cli(&line, NULL, "keygen", "--dir", dir, NULL), CLI_OK));
	line[strcspn(line, "\n")] = '\0';
	edit_config(b, agentproc_pubkey(a), line);
	free(line);
	cr_assert(eq(int, agentproc_signal(b, SIGHUP), 0));
	cr_assert(is(agentproc_wait_log(b, "event=connections_dropped", 2000)));
	/* within the overlap A's old key still delivers */
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, id), 202));
	wait_delivered(c, A, id[0], B, 2500);
	/* after it, refused with reason key_not_valid, named */
	cluster_sleep_ms(3000);
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, id), 202));
	char state[32] = "";
	json_t *detail = NULL;
	for (int i = 0; i < 100 && strcmp(state, "rejected") != 0; i++) {
		cluster_sleep_ms(100);
		json_decref(detail);
		detail = NULL;
		cluster_state(c, A, id[0], B, state, sizeof(state), &detail);
	}
	cr_assert(eq(str, state, "rejected"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(detail, "reason")), "key_not_valid"));
	json_decref(detail);
	cr_assert(is(agentproc_log_contains(b, "reason=key_not_valid")));
	cr_assert(is(agentproc_log_contains(b, "whose overlap has ended")));
	cluster_destroy(&c);
}
