/*
 * Key rotation with overlap between real agents on loopback: the next key
 * announced over the link, adopted automatically or on the operator's word,
 * promoted through the API or the key files, with messages flowing both ways
 * throughout (none lost, none twice, none refused decrypt_failed); the
 * state through restarts; the old key valid for its overlap, then refused
 * key_not_valid; forged announcements refused and logged naming the peer;
 * replaced keys retired once their overlap and the retention are over; the
 * new commands' bad input refused with a clear message and exit status.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "crypto/keyupdate.h"
#include "proto/wire.h"
#include "support/cluster.h"
#include "support/rotation_testutil.h"
#include "support/hostile.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define X "XX-SOMEONE-ELSE"
#define BATCH 4

static inline int is(int cond)
{
	return cond;
}

TestSuite(rotation, .timeout = 300);

/* Runs `limes ARGS...` with stdout and stderr into *out (caller frees); the exit status. */
static int limes_cli(char **out, const char *arg, ...)
{
	const char *argv[32];
	int argc = 0, fds[2], status = 0;
	va_list ap;

	argv[argc++] = "limes";
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	cr_assert(eq(int, pipe(fds), 0));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		execv(LIMES_BIN, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;
	while ((n = read(fds[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static struct cluster *pair(const char *extra, bool b_accepts_automatically)
{
	static const char *const ids[] = { A, B, X };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	cluster_configure(c, l, 2, extra);
	if (b_accepts_automatically)
		rotation_test_peer_option(cluster_ap(c, B), A, "rotation = accept");
	return c;
}

/* Messages submitted so far each way, to check at the end. */
struct flow {
	char ab[64][33], ba[64][33];
	size_t n_ab, n_ba;
};

static void send_both_ways(struct cluster *c, struct flow *f)
{
	cr_assert(is(f->n_ab + BATCH <= 64 && f->n_ba + BATCH <= 64));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", BATCH, &f->ab[f->n_ab]), 202));
	cr_assert(eq(int, cluster_submit(c, B, A, "alert", "normal", BATCH, &f->ba[f->n_ba]), 202));
	f->n_ab += BATCH;
	f->n_ba += BATCH;
}

static void check_flow(struct cluster *c, struct flow *f)
{
	rotation_test_check_way(c, A, B, f->ab, f->n_ab);
	rotation_test_check_way(c, B, A, f->ba, f->n_ba);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, A), "decrypt_failed"))));
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, B), "decrypt_failed"))));
}

/* Does agent id's audit trail hold an entry containing `text`? */
static bool audited(struct cluster *c, const char *id, const char *text)
{
	char *lines = NULL;
	bool found = agentproc_http(cluster_ap(c, id), "GET", "/v1/audit", NULL, 0, NULL, &lines) == 200 && lines &&
		     strstr(lines, text);
	free(lines);
	return found;
}

Test(rotation, automatic_adoption_then_promotion_through_the_api_loses_nothing)
{
	struct cluster *c = pair("", true);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	struct flow f = { 0 };
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	send_both_ways(c, &f);

	const char *next = rotation_test_make_next(a);
	char next_id[17];
	snprintf(next_id, sizeof(next_id), "%s", next);
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(rotation_test_wait_offered(c, B, A, "adopted", 10000)), "B did not adopt A's announced key");
	cr_assert(is(agentproc_wait_log(a, "event=key_next_adopted", 5000)));
	cr_assert(is(agentproc_log_contains(b, "event=key_offer")));
	json_t *events = NULL;
	cr_assert(eq(int, cluster_http(c, B, "GET", "/v1/events", NULL, &events), 200));
	char *dump = json_dumps(events, 0);
	cr_assert(ne(ptr, strstr(dump, "\"key_offer\""), NULL), "no key_offer event: %s", dump);
	free(dump);
	json_decref(events);
	send_both_ways(c, &f);

	/* A switches while running; messages go on both ways at once */
	json_t *keys = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &keys), 200));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(keys, "id")), next_id));
	json_decref(keys);
	send_both_ways(c, &f);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 10000)), "B did not put A's new key in force");
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	send_both_ways(c, &f);
	check_flow(c, &f);
	cr_assert(is(audited(c, B, "adopted automatically")));
	cr_assert(is(audited(c, A, "promoted by")));
	cluster_destroy(&c);
}

Test(rotation, confirmed_adoption_survives_restarts_and_bad_input_is_refused)
{
	struct cluster *c = pair("", false);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	struct flow f = { 0 };
	char dir[700], *out = NULL;
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(a));
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));

	/* no next key to promote yet */
	cr_assert(eq(int, limes_cli(&out, "keygen", "--promote", "--dir", dir, NULL), CLI_FAILED));
	cr_assert(ne(ptr, strstr(out, "limes keygen: "), NULL), "%s", out);
	cr_assert(ne(ptr, strstr(out, "next.key does not exist"), NULL), "%s", out);
	free(out);
	cr_assert(eq(int, limes_cli(&out, "keygen", "--promote", "-c", agentproc_config(a), NULL), CLI_NOTFOUND));
	cr_assert(ne(ptr, strstr(out, "there is no next key"), NULL), "%s", out);
	free(out);
	char next_id[17];
	snprintf(next_id, sizeof(next_id), "%s", rotation_test_make_next(a));
	/* a second next key while one exists */
	cr_assert(eq(int, limes_cli(&out, "keygen", "--next", "--dir", dir, NULL), CLI_FAILED));
	cr_assert(ne(ptr, strstr(out, "next.key already exists"), NULL), "%s", out);
	free(out);
	send_both_ways(c, &f);
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(rotation_test_wait_offered(c, B, A, "offered", 10000)), "B does not show A's key as offered");
	cr_assert(eq(int, limes_cli(&out, "status", "-c", agentproc_config(b), NULL), CLI_OK));
	cr_assert(ne(ptr, strstr(out, "OFFERED"), NULL), "%s", out);
	cr_assert(ne(ptr, strstr(out, next_id), NULL), "%s", out);
	free(out);
	cr_assert(is(agentproc_wait_log(a, "event=key_next_offered", 5000)));

	/* bad input: an unknown peer, a peer that offered nothing */
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(b), "NO-SUCH-PEER", NULL),
		     CLI_NOTFOUND));
	cr_assert(ne(ptr, strstr(out, "limes peer: "), NULL), "%s", out);
	cr_assert(ne(ptr, strstr(out, "no peer NO-SUCH-PEER is configured"), NULL), "%s", out);
	free(out);
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(a), B, NULL), CLI_NOTFOUND));
	cr_assert(ne(ptr, strstr(out, B " has offered no key"), NULL), "%s", out);
	free(out);
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(b), "bad/id", NULL), CLI_USAGE));
	free(out);

	/* the offer outlives a restart of B */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", BATCH, &f.ab[f.n_ab]), 202));
	f.n_ab += BATCH;
	cluster_start(c, B);
	cr_assert(is(rotation_test_wait_offered(c, B, A, "offered", 5000)));
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(b), A, NULL), CLI_OK), "%s", out);
	free(out);
	cr_assert(is(rotation_test_wait_offered(c, B, A, "adopted", 2000)));
	cr_assert(is(agentproc_wait_log(a, "event=key_next_adopted", 5000)));
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(b), A, NULL), CLI_FAILED));
	cr_assert(ne(ptr, strstr(out, "adopted already"), NULL), "%s", out);
	free(out);
	cr_assert(is(audited(c, B, "offered key received")));
	cr_assert(is(audited(c, B, "adopted by")));

	/* A restarts in the middle, then switches through the CLI */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cluster_start(c, A);
	send_both_ways(c, &f);
	cr_assert(eq(int, limes_cli(&out, "keygen", "--promote", "-c", agentproc_config(a), NULL), CLI_OK), "%s", out);
	free(out);
	send_both_ways(c, &f);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 10000)));
	/* B keeps A's new key across its restart, with no edit of its config */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	cluster_start(c, B);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 2000)));
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	send_both_ways(c, &f);
	check_flow(c, &f);
	cluster_destroy(&c);
}

Test(rotation, the_old_key_is_accepted_for_its_overlap_then_refused_as_key_not_valid)
{
	struct cluster *c = pair("key_overlap = 2s", true);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	char dir[700], *out = NULL, ids[2][33];
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(a));
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000)));
	char next_id[17];
	snprintf(next_id, sizeof(next_id), "%s", rotation_test_make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(rotation_test_wait_offered(c, B, A, "adopted", 10000)));
	/* two envelopes signed with A's current key wait while B is away */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 2, ids), 202));
	cr_assert(eq(int, cluster_stop(c, A), 0));
	uint8_t *env[2];
	size_t len[2];
	for (int k = 0; k < 2; k++)
		cr_assert(eq(int, hostile_envelope_of(a, ids[k], &env[k], &len[k]), 0));
	/* A switches while stopped */
	cr_assert(eq(int, limes_cli(&out, "keygen", "--promote", "--dir", dir, NULL), CLI_OK), "%s", out);
	free(out);
	cluster_start(c, B);
	int status = 0, reason = 0;
	/* presented with the new key: in force at B, the old one valid for 2 s */
	cr_assert(eq(int, hostile_send_as(a, b, env[0], len[0], &status, &reason), 0));
	cr_assert(eq(int, status, WIRE_RECEIPT_ACCEPTED), "reason %d", reason);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 2000)));
	cr_assert(is(agentproc_wait_log(b, "event=key_in_force", 2000)));
	cluster_sleep_ms(2600);
	cr_assert(eq(int, hostile_send_as(a, b, env[1], len[1], &status, &reason), 0));
	cr_assert(eq(int, status, WIRE_RECEIPT_REJECTED));
	cr_assert(eq(int, reason, 7), "reason %d, not key_not_valid (7)", reason);
	cr_assert(is(agentproc_log_contains(b, "reason=key_not_valid")));
	cr_assert(is(agentproc_log_contains(b, "whose overlap has ended")));
	cr_assert(is(agentproc_wait_log(b, "event=key_overlap_over", 2000)));
	cr_assert(is(audited(c, B, "overlap expired")));
	/* A re-signs the one refused (never sent by A itself) with its new key:
	 * B hears it again and takes it (the first went over by the test's copy) */
	cluster_start(c, A);
	char state[32] = "";
	for (int waited = 0; waited < 10000 && strcmp(state, "delivered") != 0; waited += 100) {
		cluster_sleep_ms(100);
		cluster_state(c, A, ids[1], B, state, sizeof(state), NULL);
	}
	cr_assert(eq(str, state, "delivered"));
	free(env[0]);
	free(env[1]);
	cluster_destroy(&c);
}

/* Sends an announcement as agent `as` (its keys/identity.key on disk) to `to`:
 * true when `to` answered it. */
static bool announce(struct agentproc *as, struct agentproc *to, const uint8_t *body, size_t len,
		     const uint8_t sig[64], const uint8_t sig2[64])
{
	struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = body, .len = len, .sig = sig, .sig2 = sig2 };
	uint8_t ack[32];
	size_t ack_len = sizeof(ack);
	return hostile_frame_as(as, to, &f, ack, &ack_len) == 0;
}

Test(rotation, forged_announcements_are_refused_and_logged_naming_the_peer)
{
	struct cluster *c = pair("", false);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	char dir[700], why[256];
	int err = 0;
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(a));
	struct identity *cur = identity_load(dir, &err, why, sizeof(why));
	cr_assert(ne(ptr, cur, NULL), "%s", why);
	uint8_t s1[32], s2[32], s3[32];
	for (int i = 0; i < 32; i++)
		s1[i] = (uint8_t)(i + 1), s2[i] = (uint8_t)(i + 2), s3[i] = (uint8_t)(i + 3);
	struct identity *n1 = identity_from_seeds(s1, s2), *n2 = identity_from_seeds(s2, s3),
			*other = identity_from_seeds(s3, s1);
	uint8_t body[KEYUPDATE_BODY_MAX], sig[64], sig2[64];
	size_t len = 0;
	cluster_start(c, B);

	/* a good one at sequence 5: offered */
	cr_assert(eq(int, keyupdate_build(cur, n1, A, 5, 1000, body, &len, sig, sig2), 0));
	cr_assert(is(announce(a, b, body, len, sig, sig2)));
	cr_assert(is(rotation_test_wait_offered(c, B, A, "offered", 2000)));
	/* a flipped bit in the signature */
	cr_assert(eq(int, keyupdate_build(cur, n2, A, 6, 1000, body, &len, sig, sig2), 0));
	sig[10] ^= 1;
	cr_assert(not(is(announce(a, b, body, len, sig, sig2))));
	cr_assert(is(agentproc_wait_log(b, "peer=" A " event=key_update_refused error=bad_signature", 2000)));
	cluster_sleep_ms(1100); /* refusals are logged a few a second per peer */
	/* an older sequence, replayed */
	cr_assert(eq(int, keyupdate_build(cur, n2, A, 4, 1000, body, &len, sig, sig2), 0));
	cr_assert(not(is(announce(a, b, body, len, sig, sig2))));
	cr_assert(is(agentproc_wait_log(b, "reason=\"replayed: sequence 4", 2000)));
	cluster_sleep_ms(1100);
	/* keys of another agency over A's connection */
	cr_assert(eq(int, keyupdate_build(cur, n2, X, 7, 1000, body, &len, sig, sig2), 0));
	cr_assert(not(is(announce(a, b, body, len, sig, sig2))));
	cr_assert(is(agentproc_wait_log(b, "it announces keys of " X ", but the connection is " A "'s", 2000)));
	cluster_sleep_ms(1100);
	/* signed by a key that is not A's */
	cr_assert(eq(int, keyupdate_build(other, n2, A, 8, 1000, body, &len, sig, sig2), 0));
	cr_assert(not(is(announce(a, b, body, len, sig, sig2))));
	cr_assert(is(agentproc_wait_log(b, "not by " A "'s key in force here", 2000)));
	/* none of them changed what B holds: still n1, offered */
	json_t *key = rotation_test_peer_key(c, B, A);
	char n1_id[17];
	snprintf(n1_id, sizeof(n1_id), "%02x%02x%02x%02x%02x%02x%02x%02x", identity_public(n1)->key_id[0],
		 identity_public(n1)->key_id[1], identity_public(n1)->key_id[2], identity_public(n1)->key_id[3],
		 identity_public(n1)->key_id[4], identity_public(n1)->key_id[5], identity_public(n1)->key_id[6],
		 identity_public(n1)->key_id[7]);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(key, "offered"), "id")), n1_id));
	cr_assert(eq(int, (int)json_integer_value(json_object_get(json_object_get(key, "offered"), "seq")), 5));
	json_decref(key);
	/* a non-neighbour cannot even hand one over: its handshake is refused */
	cr_assert(not(is(announce(cluster_ap(c, X), b, body, len, sig, sig2))));
	cr_assert(is(agentproc_wait_log(b, "event=unknown_peer", 2000)));
	identity_destroy(&cur);
	identity_destroy(&n1);
	identity_destroy(&n2);
	identity_destroy(&other);
	cluster_destroy(&c);
}

/* ------------------------------------------------------------ the key ring, re-signing, streams */

/* GET /v1/keys at id: next.neighbours[peer] ("adopted", "offered", ...), "" if absent (static). */
static const char *answer_of(struct cluster *c, const char *id, const char *peer)
{
	static char state[32];
	json_t *doc = NULL;
	state[0] = '\0';
	if (cluster_http(c, id, "GET", "/v1/keys", NULL, &doc) == 200) {
		const char *s =
			json_string_value(json_object_get(json_object_get(json_object_get(doc, "next"), "neighbours"), peer));
		snprintf(state, sizeof(state), "%s", s ? s : "");
	}
	json_decref(doc);
	return state;
}

/* How many keys/ring-*.key files agent ap holds. */
static int ring_files(struct agentproc *ap)
{
	char cmd[800], *out = NULL;
	snprintf(cmd, sizeof(cmd), "ls %s/keys | grep -c '^ring-.*\\.key$'", agentproc_dir(ap));
	FILE *p = popen(cmd, "r");
	int n = -1;
	cr_assert(ne(ptr, p, NULL));
	if (fscanf(p, "%d", &n) != 1)
		n = -1;
	pclose(p);
	free(out);
	return n;
}

Test(rotation, three_promotions_in_a_row_keep_every_stored_message_readable_and_answers_survive_restarts)
{
	struct cluster *c = pair("", true);
	struct agentproc *a = cluster_ap(c, A);
	struct flow f = { 0 };
	char dir[700], *out = NULL, next_id[17];
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(a));
	cluster_start(c, A);
	cluster_start(c, B);
	for (int round = 1; round <= 3; round++) {
		cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)), "round %d", round);
		/* B -> A: into A's inbox, sealed to A's key of this round, and left there */
		cr_assert(eq(int, cluster_submit(c, B, A, "alert", "normal", BATCH, &f.ba[f.n_ba]), 202));
		f.n_ba += BATCH;
		rotation_test_check_way(c, B, A, f.ba, f.n_ba);
		snprintf(next_id, sizeof(next_id), "%s", rotation_test_make_next(a));
		cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
		cr_assert(is(rotation_test_wait_offered(c, B, A, "adopted", 10000)), "round %d: B did not adopt", round);
		for (int waited = 0; waited < 5000 && strcmp(answer_of(c, A, B), "adopted") != 0; waited += 100)
			cluster_sleep_ms(100);
		cr_assert(eq(str, (char *)answer_of(c, A, B), "adopted"));
		/* A -> B queued, signed by A's key of this round, while B is away */
		cr_assert(eq(int, cluster_stop(c, B), 0));
		cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", BATCH, &f.ab[f.n_ab]), 202));
		f.n_ab += BATCH;
		/* B's answer is in A's store: a restart still shows it with B away */
		cr_assert(eq(int, cluster_stop(c, A), 0));
		if (round == 3) {
			/* the last switch with the files alone, while A is stopped */
			cr_assert(eq(int, limes_cli(&out, "keygen", "--promote", "--dir", dir, NULL), CLI_OK), "%s", out);
			free(out);
			cluster_start(c, A);
		} else {
			cluster_start(c, A);
			cr_assert(eq(str, (char *)answer_of(c, A, B), "adopted"), "round %d: the answer was lost", round);
			json_t *keys = NULL;
			cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &keys), 200));
			json_decref(keys);
		}
		cluster_start(c, B);
		cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 10000)), "round %d: B did not put %s in force", round,
			  next_id);
		cr_assert(eq(int, ring_files(a), round - 1), "round %d", round);
		json_t *doc = NULL;
		cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/keys", NULL, &doc), 200));
		cr_assert(eq(sz, json_array_size(json_object_get(doc, "ring")), (size_t)(round - 1)), "round %d", round);
		json_decref(doc);
	}
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	send_both_ways(c, &f);
	/* every message in A's inbox opens: sealed to A's keys of rounds 1-3 and
	 * its current one, the oldest two only in the key ring */
	check_flow(c, &f);
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cluster_start(c, A);
	rotation_test_check_way(c, B, A, f.ba, f.n_ba);
	cluster_destroy(&c);
}

Test(rotation, a_message_in_flight_across_promotion_and_overlap_end_is_signed_again_and_delivered)
{
	/* B's overlap for A's old key ends at once when A presents its new one */
	struct cluster *c = pair("key_overlap = 1ms", true);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	char ids[1][33], state[32] = "", next_id[17];
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	snprintf(next_id, sizeof(next_id), "%s", rotation_test_make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(rotation_test_wait_offered(c, B, A, "adopted", 10000)));
	/* B frozen: A sends the message (signed by its current key), no receipt comes */
	cr_assert(eq(int, agentproc_signal(b, SIGSTOP), 0));
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, ids), 202));
	for (int waited = 0; waited < 10000 && strcmp(state, "sent") != 0; waited += 50) {
		cluster_state(c, A, ids[0], B, state, sizeof(state), NULL);
		cluster_sleep_ms(50);
	}
	cr_assert(eq(str, state, "sent"));
	/* the copy B had not read yet dies with it */
	cluster_kill(c, B);
	json_t *keys = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(agentproc_wait_log(a, "event=key_overlap_over", 5000)));
	cluster_start(c, B);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 10000)));
	for (int waited = 0; waited < 20000 && strcmp(state, "delivered") != 0; waited += 100) {
		cluster_sleep_ms(100);
		cluster_state(c, A, ids[0], B, state, sizeof(state), NULL);
	}
	cr_assert(eq(str, state, "delivered"), "the message is %s", state);
	cr_assert(not(is(agentproc_log_contains(b, "reason=key_not_valid"))));
	cr_assert(not(is(agentproc_log_contains(a, "event=rejected_by_peer"))));
	cr_assert(is(agentproc_log_contains(a, "event=resealed")));
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 1));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_array_get(inbox, 0), "id")), ids[0]));
	json_decref(inbox);
	cluster_destroy(&c);
}

static void no_key_refusals(struct cluster *c, const char *id, const char *peer)
{
	char name[128];
	cr_assert(eq(long, rotation_test_metric(c, id, "limes_envelopes_refused_total{reason=\"decrypt_failed\"} "), 0), "%s", id);
	cr_assert(eq(long, rotation_test_metric(c, id, "limes_envelopes_refused_total{reason=\"key_not_valid\"} "), 0), "%s", id);
	cr_assert(eq(long, rotation_test_metric(c, id, "limes_envelopes_refused_total{reason=\"unknown_key\"} "), 0), "%s", id);
	snprintf(name, sizeof(name), "limes_messages_rejected_total{peer=\"%s\"} ", peer);
	cr_assert(eq(long, rotation_test_metric(c, id, name), 0), "%s", id);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "reason=key_not_valid"))), "%s", id);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "reason=decrypt_failed"))), "%s", id);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "event=rejected_by_peer"))), "%s", id);
}

Test(rotation, a_continuous_stream_both_ways_survives_both_agents_rotating_through_every_stage)
{
	/* B adopts A's key automatically; A confirms B's (the default) */
	struct cluster *c = pair("key_overlap = 2s", true);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	char a_next[17], b_next[17], *out = NULL;
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	struct rotation_stream s = rotation_stream_start(c, A, B);
	cluster_sleep_ms(500);

	/* announce both */
	snprintf(a_next, sizeof(a_next), "%s", rotation_test_make_next(a));
	snprintf(b_next, sizeof(b_next), "%s", rotation_test_make_next(b));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(eq(int, agentproc_signal(b, SIGHUP), 0));
	/* adoption: automatic at B, confirmed at A */
	cr_assert(is(rotation_test_wait_offered(c, B, A, "adopted", 10000)));
	cr_assert(is(rotation_test_wait_offered(c, A, B, "offered", 10000)));
	cluster_sleep_ms(500);
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(a), B, NULL), CLI_OK), "%s", out);
	free(out);
	cr_assert(is(agentproc_wait_log(b, "event=key_next_adopted", 5000)));
	cluster_sleep_ms(500);
	/* promotion: A first, B a little later, each in force at the other */
	json_t *keys = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(rotation_test_wait_in_force(c, B, A, a_next, 10000)));
	cluster_sleep_ms(300);
	cr_assert(eq(int, cluster_http(c, B, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(rotation_test_wait_in_force(c, A, B, b_next, 10000)));
	/* overlap end, on both sides for both keys */
	cr_assert(is(agentproc_wait_log(a, "event=key_overlap_over previous=", 10000)));
	cr_assert(is(agentproc_wait_log(b, "event=key_overlap_over previous=", 10000)));
	cr_assert(is(agentproc_wait_log(a, "reason=\"its replaced key is refused", 10000)));
	cr_assert(is(agentproc_wait_log(b, "reason=\"its replaced key is refused", 10000)));
	cluster_sleep_ms(1000);

	char(*ab)[33], (*ba)[33];
	size_t n_ab, n_ba;
	rotation_stream_stop(&s, &ab, &n_ab, &ba, &n_ba);
	cr_assert(lt(sz, 40, n_ab), "only %zu messages were sent A to B", n_ab);
	cr_assert(lt(sz, 40, n_ba), "only %zu messages were sent B to A", n_ba);
	/* each accepted message delivered and in the far inbox exactly once */
	rotation_test_check_way(c, A, B, ab, n_ab);
	rotation_test_check_way(c, B, A, ba, n_ba);
	no_key_refusals(c, A, B);
	no_key_refusals(c, B, A);
	free(ab);
	free(ba);
	cluster_destroy(&c);
}

/* Waits until message `id` from `from` to `to` reads delivered at `from`
 * (polled often: with a short retention its record goes soon after). */
static bool wait_delivered_one(struct cluster *c, const char *from, const char *id, const char *to)
{
	char state[32] = "";
	for (int waited = 0; waited < 10000; waited += 50) {
		cluster_state(c, from, id, to, state, sizeof(state), NULL);
		if (strcmp(state, "delivered") == 0)
			return true;
		cluster_sleep_ms(50);
	}
	return false;
}

Test(rotation, a_replaced_key_leaves_the_ring_once_its_overlap_and_the_retention_are_over)
{
	/* overlap 1 s, retention 2 s: A's first key is in the ring after the
	 * second promotion and must be gone (files, note, API, B's copy of it)
	 * some 3 s after its overlap ended, with messages still flowing */
	struct cluster *c = pair("key_overlap = 1s", true);
	struct agentproc *a = cluster_ap(c, A), *b = cluster_ap(c, B);
	/* the config is written again with the agent lines: B's peer option after */
	agentproc_set_agent_extra(a, "retention = 2s\n");
	agentproc_set_agent_extra(b, "retention = 2s\n");
	cr_assert(eq(int, agentproc_write_config(a), 0));
	cr_assert(eq(int, agentproc_write_config(b), 0));
	rotation_test_peer_option(b, A, "rotation = accept");
	char first[17], next_id[17], needle[128], ids[2][33];
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, A, 10000)));
	json_t *doc = NULL;
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/keys", NULL, &doc), 200));
	snprintf(first, sizeof(first), "%s", json_string_value(json_object_get(doc, "id")));
	json_decref(doc);
	cr_assert(eq(sz, strlen(first), 16));
	for (int round = 1; round <= 2; round++) {
		snprintf(next_id, sizeof(next_id), "%s", rotation_test_make_next(a));
		cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
		for (int waited = 0; waited < 10000 && strcmp(answer_of(c, A, B), "adopted") != 0; waited += 100)
			cluster_sleep_ms(100);
		cr_assert(eq(str, (char *)answer_of(c, A, B), "adopted"), "round %d", round);
		cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &doc), 200), "round %d", round);
		json_decref(doc);
		cr_assert(is(rotation_test_wait_in_force(c, B, A, next_id, 10000)), "round %d", round);
	}
	/* the first key: retired at A (log, audit, files, API) and at B */
	snprintf(needle, sizeof(needle), "event=key_retired key=%s", first);
	cr_assert(is(agentproc_wait_log(a, needle, 15000)), "A did not retire %s", first);
	cr_assert(is(audited(c, A, "replaced key retired from the key ring")));
	cr_assert(eq(int, ring_files(a), 0));
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/keys", NULL, &doc), 200));
	char *dump = json_dumps(json_object_get(doc, "ring"), 0);
	cr_assert(eq(ptr, strstr(dump, first), NULL), "ring still lists %s: %s", first, dump);
	free(dump);
	json_decref(doc);
	snprintf(needle, sizeof(needle), "peer=%s event=key_retired", A);
	cr_assert(is(agentproc_wait_log(b, needle, 15000)), "B did not retire A's replaced key");
	/* both ways still work, and nothing was refused for a key */
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 1, &ids[0]), 202));
	cr_assert(eq(int, cluster_submit(c, B, A, "alert", "normal", 1, &ids[1]), 202));
	cr_assert(is(wait_delivered_one(c, A, ids[0], B)));
	cr_assert(is(wait_delivered_one(c, B, ids[1], A)));
	no_key_refusals(c, A, B);
	no_key_refusals(c, B, A);
	/* a restart finds no retired key to load again */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cluster_start(c, A);
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/keys", NULL, &doc), 200));
	cr_assert(eq(sz, json_array_size(json_object_get(doc, "ring")), 0));
	json_decref(doc);
	cluster_destroy(&c);
}
