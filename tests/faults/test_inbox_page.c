/*
 * The inbox answer's byte cap at its edge: one GET /v1/inbox stops adding
 * envelopes past sizes_inbox_page_bytes(max_frame) (twice max_frame), so a
 * read of large messages cannot build hundreds of megabytes. With
 * max_frame at its smallest (128 KiB) the cap is 256 KiB: the messages
 * after a cursor are made to add up to exactly cap - 1, cap and cap + 1
 * bytes of envelopes at one message, which the answer must include in the
 * first two cases and leave for the next page in the third.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sizes.h"
#include "support/cluster.h"
#include "support/hostile.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define MAX_FRAME 131072
#define FILLER 1000 /* free_text characters of a filler message */
#define MAX_IDS 600

TestSuite(inbox_page, .timeout = 600);

struct sent {
	char id[MAX_IDS][33];
	size_t n;
};

/* One alert A -> B whose free_text is `len` characters, alone in its request
 * (a batch of one: every envelope has the same proof size). */
static void submit_text(struct cluster *c, size_t len, struct sent *s)
{
	json_t *body = json_loads(cluster_example("alert"), 0, NULL);
	cr_assert(body != NULL);
	char *text = malloc(len + 1);
	memset(text, 'x', len);
	text[len] = '\0';
	json_object_set_new(body, "free_text", json_string(text));
	free(text);
	json_t *msg = json_pack("[{s:[s], s:s, s:o}]", "to", B, "type", "alert", "body", body);
	char *req = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	json_t *resp = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/messages", req, &resp), 202));
	free(req);
	cr_assert(lt(sz, s->n, (size_t)MAX_IDS));
	snprintf(s->id[s->n++], 33, "%s", json_string_value(json_array_get(json_object_get(resp, "ids"), 0)));
	json_decref(resp);
}

/* Starts A and waits until its link to B agreed protocol 2: envelopes sealed
 * before that are v1, 6 bytes shorter (no batch proof). */
static void start_a(struct cluster *c)
{
	cluster_start(c, A);
	for (int t = 0; t < 300; t++) {
		json_t *resp = NULL;
		long proto = 0;
		if (cluster_http(c, A, "GET", "/v1/peers", NULL, &resp) == 200) {
			json_t *p = json_array_get(json_object_get(resp, "peers"), 0);
			proto = (long)json_integer_value(json_object_get(p, "protocol"));
		}
		json_decref(resp);
		if (proto == 2)
			return;
		cluster_sleep_ms(100);
	}
	cr_assert(false, "A's link to B never agreed protocol 2");
}

/* Waits until B's inbox holds n messages; returns the last cursor. */
static long long wait_inbox(struct cluster *c, size_t n)
{
	for (int t = 0; t < 600; t++) {
		json_t *all = cluster_inbox(c, B);
		size_t have = json_array_size(all);
		long long last = have ? json_integer_value(json_object_get(json_array_get(all, have - 1), "cursor")) : 0;
		json_decref(all);
		if (have >= n)
			return last;
		cluster_sleep_ms(100);
	}
	cr_assert(false, "B never received %zu messages", n);
	return 0;
}

/* The envelope size of sent message i, from A's outbox (A stopped). */
static size_t envelope_size(struct cluster *c, const struct sent *s, size_t i)
{
	uint8_t *env = NULL;
	size_t len = 0;
	cr_assert(eq(int, hostile_envelope_of(cluster_ap(c, A), s->id[i], &env, &len), 0));
	free(env);
	return len;
}

Test(inbox_page, an_answer_stops_at_its_byte_cap_at_each_edge)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char extra[64];
	snprintf(extra, sizeof(extra), "max_frame = %d\n", MAX_FRAME);
	cluster_configure(c, l, 1, extra);
	cluster_start(c, B);
	start_a(c);
	const size_t cap = sizes_inbox_page_bytes(MAX_FRAME);
	static struct sent s;
	s.n = 0;

	/* a probe: how big a filler is */
	submit_text(c, FILLER, &s);
	long long cursor = wait_inbox(c, 1);
	cr_assert(eq(int, cluster_stop(c, A), 0));
	size_t filler = envelope_size(c, &s, 0);
	start_a(c);
	size_t k = cap / filler - 1;

	struct variant {
		long long after;   /* the cursor the page starts after */
		size_t first, edge; /* indexes in s of its first filler and its edge message */
		size_t want;       /* the edge message's envelope size */
	} v[3];
	for (int d = -1; d <= 1; d++) {
		struct variant *x = &v[d + 1];
		x->after = cursor;
		x->first = s.n;
		for (size_t i = 0; i < k; i++)
			submit_text(c, FILLER, &s);
		wait_inbox(c, s.n);
		cr_assert(eq(int, cluster_stop(c, A), 0));
		size_t sum = 0;
		for (size_t i = x->first; i < s.n; i++)
			sum += envelope_size(c, &s, i);
		size_t last = envelope_size(c, &s, s.n - 1);
		start_a(c);
		/* one message that makes the sum cap + d, then one more */
		x->want = cap + (size_t)(long)d - sum;
		size_t len = FILLER + x->want - last;
		cr_assert(len > 128 && len < 4000, "edge message of %zu characters", len);
		x->edge = s.n;
		submit_text(c, len, &s);
		submit_text(c, FILLER, &s);
		cursor = wait_inbox(c, s.n);
	}

	/* the edge messages are exactly the size the sums need */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	for (int d = 0; d < 3; d++)
		cr_assert(eq(sz, envelope_size(c, &s, v[d].edge), v[d].want), "edge %d: envelope size", d - 1);

	for (int d = -1; d <= 1; d++) {
		char path[128];
		json_t *resp = NULL;
		snprintf(path, sizeof(path), "/v1/inbox?after=%lld&limit=1000", v[d + 1].after);
		cr_assert(eq(int, cluster_http(c, B, "GET", path, NULL, &resp), 200));
		json_t *msgs = json_object_get(resp, "messages");
		size_t shown = json_array_size(msgs);
		size_t want = d <= 0 ? k + 1 : k;
		cr_log_info("cap %zu bytes, envelopes adding up to cap%+d at message %zu: %zu shown", cap, d, k + 1,
			    shown);
		cr_assert(eq(sz, shown, want), "sum at cap%+d: %zu messages shown, want %zu", d, shown, want);
		const char *last = json_string_value(json_object_get(json_array_get(msgs, shown - 1), "id"));
		cr_assert(eq(str, (char *)last, s.id[d <= 0 ? v[d + 1].edge : v[d + 1].edge - 1]));
		json_decref(resp);
	}
	cluster_destroy(&c);
}
