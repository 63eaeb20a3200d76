/*
 * Key rotation with overlap between real agents on loopback: the next key
 * announced over the link, adopted automatically or on the operator's word,
 * promoted through the API or the key files, with messages flowing both ways
 * throughout (none lost, none twice, none refused decrypt_failed); the
 * state through restarts; the old key valid for its overlap, then refused
 * key_not_valid; forged announcements refused and logged naming the peer;
 * the new commands' bad input refused with a clear message and exit status.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "crypto/identity.h"
#include "crypto/keyupdate.h"
#include "proto/wire.h"
#include "support/cluster.h"
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

/* Adds `line` to agent ap's section of peer `peer`. */
static void peer_option(struct agentproc *ap, const char *peer, const char *line)
{
	FILE *f = fopen(agentproc_config(ap), "r");
	cr_assert(ne(ptr, f, NULL));
	static char text[65536], out[65536];
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	char head[128];
	snprintf(head, sizeof(head), "[peer \"%s\"]\n", peer);
	char *at = strstr(text, head);
	cr_assert(ne(ptr, at, NULL));
	at += strlen(head);
	snprintf(out, sizeof(out), "%.*s%s\n%s", (int)(at - text), text, line, at);
	f = fopen(agentproc_config(ap), "w");
	fputs(out, f);
	fclose(f);
}

static struct cluster *pair(const char *extra, bool b_accepts_automatically)
{
	static const char *const ids[] = { A, B, X };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	cluster_configure(c, l, 2, extra);
	if (b_accepts_automatically)
		peer_option(cluster_ap(c, B), A, "rotation = accept");
	return c;
}

/* The "key" object of `peer` in GET /v1/peers at agent id (new reference, or NULL). */
static json_t *peer_key(struct cluster *c, const char *id, const char *peer)
{
	json_t *doc = NULL, *key = NULL, *p;
	size_t i;
	if (cluster_http(c, id, "GET", "/v1/peers", NULL, &doc) != 200)
		return NULL;
	json_array_foreach(json_object_get(doc, "peers"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) == 0)
			key = json_incref(json_object_get(p, "key"));
	json_decref(doc);
	return key;
}

/* Waits up to ms for peer's offered key at agent id to be in `state`. */
static bool wait_offered(struct cluster *c, const char *id, const char *peer, const char *state, int ms)
{
	for (int waited = 0; waited <= ms; waited += 100) {
		json_t *key = peer_key(c, id, peer);
		const char *s = json_string_value(json_object_get(json_object_get(key, "offered"), "state"));
		bool ok = s && strcmp(s, state) == 0;
		json_decref(key);
		if (ok)
			return true;
		cluster_sleep_ms(100);
	}
	return false;
}

/* Waits up to ms for peer's key in force at agent id to be key_id, learnt over the link. */
static bool wait_in_force(struct cluster *c, const char *id, const char *peer, const char *key_id, int ms)
{
	for (int waited = 0; waited <= ms; waited += 100) {
		json_t *key = peer_key(c, id, peer);
		const char *k = json_string_value(json_object_get(key, "id"));
		const char *src = json_string_value(json_object_get(key, "source"));
		bool ok = k && src && strcmp(k, key_id) == 0 && strcmp(src, "rotation") == 0;
		json_decref(key);
		if (ok)
			return true;
		cluster_sleep_ms(100);
	}
	return false;
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

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Every message of one way delivered once: each sent id delivered at the
 * sender, the receiver's inbox holds exactly those ids. */
static void check_way(struct cluster *c, const char *from, const char *to, char (*ids)[33], size_t n)
{
	char state[32] = "";
	for (size_t k = 0; k < n; k++) {
		for (int waited = 0; waited < 20000; waited += 100) {
			cluster_state(c, from, ids[k], to, state, sizeof(state), NULL);
			if (strcmp(state, "delivered") == 0)
				break;
			cluster_sleep_ms(100);
		}
		cr_assert(eq(str, state, "delivered"), "message %s from %s to %s is %s", ids[k], from, to, state);
	}
	json_t *inbox = cluster_inbox(c, to);
	cr_assert(eq(sz, json_array_size(inbox), n), "%s's inbox holds %zu messages, %zu were sent", to,
		  json_array_size(inbox), n);
	char (*got)[33] = calloc(n ? n : 1, 33), (*want)[33] = calloc(n ? n : 1, 33);
	size_t i;
	json_t *m;
	json_array_foreach(inbox, i, m) {
		snprintf(got[i], 33, "%s", json_string_value(json_object_get(m, "id")));
		cr_assert(is(json_is_object(json_object_get(m, "body"))), "message %s has no readable body", got[i]);
	}
	memcpy(want, ids, n * 33);
	qsort(got, n, 33, cmp_id);
	qsort(want, n, 33, cmp_id);
	for (size_t k = 0; k < n; k++)
		cr_assert(eq(str, got[k], want[k]));
	free(got);
	free(want);
	json_decref(inbox);
}

static void check_flow(struct cluster *c, struct flow *f)
{
	check_way(c, A, B, f->ab, f->n_ab);
	check_way(c, B, A, f->ba, f->n_ba);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, A), "decrypt_failed"))));
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, B), "decrypt_failed"))));
}

/* `limes keygen --next` for agent ap: the key id of its next key (static). */
static const char *make_next(struct agentproc *ap)
{
	static char key_id[17];
	char dir[700], *out = NULL;
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(ap));
	cr_assert(eq(int, limes_cli(&out, "keygen", "--next", "--dir", dir, NULL), CLI_OK), "%s", out);
	char *line = strstr(out, "limes1:");
	cr_assert(ne(ptr, line, NULL), "%s", out);
	snprintf(key_id, sizeof(key_id), "%.16s", line + 7);
	free(out);
	return key_id;
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

	const char *next = make_next(a);
	char next_id[17];
	snprintf(next_id, sizeof(next_id), "%s", next);
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(wait_offered(c, B, A, "adopted", 10000)), "B did not adopt A's announced key");
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
	cr_assert(is(wait_in_force(c, B, A, next_id, 10000)), "B did not put A's new key in force");
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
	snprintf(next_id, sizeof(next_id), "%s", make_next(a));
	/* a second next key while one exists */
	cr_assert(eq(int, limes_cli(&out, "keygen", "--next", "--dir", dir, NULL), CLI_FAILED));
	cr_assert(ne(ptr, strstr(out, "next.key already exists"), NULL), "%s", out);
	free(out);
	send_both_ways(c, &f);
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(wait_offered(c, B, A, "offered", 10000)), "B does not show A's key as offered");
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
	cr_assert(is(wait_offered(c, B, A, "offered", 5000)));
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(b), A, NULL), CLI_OK), "%s", out);
	free(out);
	cr_assert(is(wait_offered(c, B, A, "adopted", 2000)));
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
	cr_assert(is(wait_in_force(c, B, A, next_id, 10000)));
	/* B keeps A's new key across its restart, with no edit of its config */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	cluster_start(c, B);
	cr_assert(is(wait_in_force(c, B, A, next_id, 2000)));
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
	snprintf(next_id, sizeof(next_id), "%s", make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(wait_offered(c, B, A, "adopted", 10000)));
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
	cr_assert(is(wait_in_force(c, B, A, next_id, 2000)));
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
	cr_assert(is(wait_offered(c, B, A, "offered", 2000)));
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
	json_t *key = peer_key(c, B, A);
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
