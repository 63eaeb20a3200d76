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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "support/cluster.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"

static inline int is(int cond)
{
	return cond;
}

TestSuite(relayed_rotation, .timeout = 240);

/* Runs `limes ARGS...`, output into *out (caller frees); the exit status. */
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
	static char text[65536], out[65536];
	char head[128];
	FILE *f = fopen(agentproc_config(ap), "r");
	cr_assert(ne(ptr, f, NULL));
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	snprintf(head, sizeof(head), "[peer \"%s\"]\n", peer);
	char *at = strstr(text, head);
	cr_assert(ne(ptr, at, NULL));
	at += strlen(head);
	snprintf(out, sizeof(out), "%.*s%s\n%s", (int)(at - text), text, line, at);
	f = fopen(agentproc_config(ap), "w");
	fputs(out, f);
	fclose(f);
}

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
	peer_option(cluster_ap(c, B), A, "rotation = accept");
	peer_option(cluster_ap(c, B), C, "rotation = accept");
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

/* Waits up to ms for peer's key in force at agent id to be key_id, learnt by rotation. */
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

/* A child process posting one alert A->C and one C->A every 50 ms until
 * stopped, writing each accepted id ("A id" / "C id") to a pipe. */
struct stream {
	pid_t pid;
	int ctl, ids;
};

static struct stream stream_start(struct cluster *c)
{
	int ctl[2], ids[2];
	cr_assert(eq(int, pipe(ctl), 0));
	cr_assert(eq(int, pipe(ids), 0));
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ctl[1]);
		close(ids[0]);
		FILE *outp = fdopen(ids[1], "w");
		struct pollfd pfd = { .fd = ctl[0], .events = POLLIN };
		int failures = 0;
		while (poll(&pfd, 1, 50) == 0) {
			char id[1][33];
			if (cluster_submit(c, A, C, "alert", "normal", 1, id) == 202)
				fprintf(outp, "A %s\n", id[0]);
			else
				failures++;
			if (cluster_submit(c, C, A, "alert", "normal", 1, id) == 202)
				fprintf(outp, "C %s\n", id[0]);
			else
				failures++;
			fflush(outp);
		}
		fprintf(outp, "F %d\n", failures);
		fclose(outp);
		_exit(0);
	}
	close(ctl[0]);
	close(ids[1]);
	return (struct stream){ pid, ctl[1], ids[0] };
}

/* Stops the sender; the ids it got accepted each way (caller frees). */
static void stream_stop(struct stream *s, char (**ac)[33], size_t *n_ac, char (**ca)[33], size_t *n_ca)
{
	char line[64];
	size_t cap = 4096;
	int failures = -1;
	close(s->ctl);
	FILE *in = fdopen(s->ids, "r");
	*ac = calloc(cap, 33);
	*ca = calloc(cap, 33);
	*n_ac = *n_ca = 0;
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == 'F')
			failures = atoi(line + 2);
		else if (line[0] == 'A' && *n_ac < cap)
			snprintf((*ac)[(*n_ac)++], 33, "%.32s", line + 2);
		else if (line[0] == 'C' && *n_ca < cap)
			snprintf((*ca)[(*n_ca)++], 33, "%.32s", line + 2);
	}
	fclose(in);
	waitpid(s->pid, NULL, 0);
	cr_assert(eq(int, failures, 0), "the sender's submissions were refused %d times", failures);
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Every message of one way delivered once: each id delivered at the
 * sender, the receiver's inbox holds exactly those ids (and no key
 * rotation envelope: those never reach the inbox). */
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
	json_array_foreach(inbox, i, m)
		snprintf(got[i], 33, "%s", json_string_value(json_object_get(m, "id")));
	memcpy(want, ids, n * 33);
	qsort(got, n, 33, cmp_id);
	qsort(want, n, 33, cmp_id);
	for (size_t k = 0; k < n; k++)
		cr_assert(eq(str, got[k], want[k]));
	free(got);
	free(want);
	json_decref(inbox);
}

/* The value of metric line `name` in agent id's /metrics (-1 if absent). */
static long metric(struct cluster *c, const char *id, const char *name)
{
	char *text = NULL;
	long v = -1;
	if (agentproc_http(cluster_ap(c, id), "GET", "/metrics", NULL, 0, NULL, &text) == 200 && text) {
		const char *at = strstr(text, name);
		if (at)
			v = strtol(at + strlen(name), NULL, 10);
	}
	free(text);
	return v;
}

/* Nothing refused for a key anywhere, no message rejected. */
static void no_key_refusals(struct cluster *c, const char *id)
{
	static const char *const reasons[] = { "decrypt_failed", "key_not_valid", "unknown_key" };
	char name[128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "limes_envelopes_refused_total{reason=\"%s\"} ", reasons[i]);
		cr_assert(eq(long, metric(c, id, name), 0), "%s refused %s", id, reasons[i]);
		snprintf(name, sizeof(name), "reason=%s", reasons[i]);
		cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), name))), "%s logged %s", id, name);
	}
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "event=rejected_by_peer"))), "%s", id);
	cr_assert(not(is(agentproc_log_contains(cluster_ap(c, id), "event=key_update_refused"))), "%s", id);
}

static void start_all(struct cluster *c)
{
	cluster_start(c, A);
	cluster_start(c, B);
	cluster_start(c, C);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, B, C, 10000)));
	cr_assert(is(cluster_wait_up(c, B, A, 10000) && cluster_wait_up(c, C, B, 10000)));
}

static void stop_and_check(struct cluster *c, struct stream *s)
{
	char(*ac)[33], (*ca)[33];
	size_t n_ac, n_ca;
	stream_stop(s, &ac, &n_ac, &ca, &n_ca);
	cr_assert(gt(sz, n_ac, 30), "only %zu messages were sent A to C", n_ac);
	cr_assert(gt(sz, n_ca, 30), "only %zu messages were sent C to A", n_ca);
	check_way(c, A, C, ac, n_ac);
	check_way(c, C, A, ca, n_ca);
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
	peer_option(cc, A, "rotation = accept");
	peer_option(a, C, "rotation = accept");
	start_all(c);
	struct stream s = stream_start(c);
	cluster_sleep_ms(500);

	/* A's next key reaches C through B, which only carries it */
	snprintf(a_next, sizeof(a_next), "%s", make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(wait_offered(c, C, A, "adopted", 10000)), "C did not adopt A's key announced through B");
	cr_assert(is(wait_answer(c, A, C, "adopted", 10000)), "A's status does not show C's answer");
	cr_assert(is(wait_answer(c, A, B, "adopted", 10000)));
	cr_assert(is(agentproc_log_contains(a, "event=key_rotation_queued what=key_update via=" B)));
	cr_assert(is(agentproc_log_contains(cc, "event=key_rotation_queued what=key_update_ack via=" B)));
	cluster_sleep_ms(500);

	/* promotion: C puts the new key in force from A's first envelope signed with it */
	json_t *keys = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(wait_in_force(c, C, A, a_next, 10000)), "C did not put A's new key in force");
	cr_assert(is(wait_in_force(c, B, A, a_next, 10000)));
	cr_assert(is(agentproc_wait_log(a, "event=key_overlap_over previous=", 10000)));
	cr_assert(is(agentproc_wait_log(cc, "reason=\"its replaced key is refused", 10000)));

	/* and the other way: C rotates, A (behind the same relay) adopts and sees it */
	snprintf(c_next, sizeof(c_next), "%s", make_next(cc));
	cr_assert(eq(int, agentproc_signal(cc, SIGHUP), 0));
	cr_assert(is(wait_offered(c, A, C, "adopted", 10000)), "A did not adopt C's key announced through B");
	cr_assert(is(wait_answer(c, C, A, "adopted", 10000)));
	cluster_sleep_ms(500);
	cr_assert(eq(int, cluster_http(c, C, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(wait_in_force(c, A, C, c_next, 10000)), "A did not put C's new key in force");
	cr_assert(is(agentproc_wait_log(cc, "event=key_overlap_over previous=", 10000)));
	cr_assert(is(agentproc_wait_log(a, "reason=\"its replaced key is refused", 10000)));
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
	snprintf(a_next, sizeof(a_next), "%s", make_next(a));
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(agentproc_wait_log(a, "event=key_rotation_queued what=key_update", 5000)));
	cr_assert(is(wait_answer(c, A, B, "adopted", 10000)));
	cr_assert(is(wait_answer(c, A, C, "none", 1000)));
	cluster_start(c, C);
	cr_assert(is(cluster_wait_up(c, C, B, 10000)));
	struct stream s = stream_start(c);

	/* the careful default: offered until C's operator says yes */
	cr_assert(is(wait_offered(c, C, A, "offered", 15000)), "C does not show A's key as offered");
	cr_assert(is(wait_answer(c, A, C, "offered", 10000)), "A's status does not show C's offer");
	cr_assert(eq(int, limes_cli(&out, "status", "-c", agentproc_config(cc), NULL), CLI_OK), "%s", out);
	cr_assert(ne(ptr, strstr(out, "OFFERED"), NULL), "%s", out);
	cr_assert(ne(ptr, strstr(out, a_next), NULL), "%s", out);
	free(out);
	cluster_sleep_ms(500);
	cr_assert(eq(int, limes_cli(&out, "peer", "accept-key", "-c", agentproc_config(cc), A, NULL), CLI_OK), "%s",
		  out);
	free(out);
	cr_assert(is(wait_offered(c, C, A, "adopted", 2000)));
	cr_assert(is(wait_answer(c, A, C, "adopted", 10000)), "A's status does not show C's adoption");
	cr_assert(is(agentproc_log_contains(a, "peer=" C " event=key_next_adopted")));
	cluster_sleep_ms(500);

	json_t *keys = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/keys/promote", "{}", &keys), 200));
	json_decref(keys);
	cr_assert(is(wait_in_force(c, C, A, a_next, 10000)), "C did not put A's new key in force");
	cr_assert(is(agentproc_wait_log(a, "event=key_overlap_over previous=", 10000)));
	cr_assert(is(agentproc_wait_log(cc, "reason=\"its replaced key is refused", 10000)));
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
	peer_option(cluster_ap(c, B), A, "rotation = accept");
	peer_option(cluster_ap(c, C), A, "rotation = accept");
	start_all(c);
	make_next(a);
	cr_assert(eq(int, agentproc_signal(a, SIGHUP), 0));
	cr_assert(is(wait_answer(c, A, B, "adopted", 10000)));
	cr_assert(is(agentproc_wait_log(a, "event=rejected_by_peer reason=policy_deny", 10000)),
		  "B did not refuse the announcement to C");
	cr_assert(is(agentproc_log_contains(cluster_ap(c, B), "relay policy does not carry this type")));
	cr_assert(is(wait_answer(c, A, C, "none", 100)));
	json_t *key = peer_key(c, C, A);
	cr_assert(is(json_is_null(json_object_get(key, "offered"))), "C shows an offer it never received");
	json_decref(key);
	cluster_destroy(&c);
}
