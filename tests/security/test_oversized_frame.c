/*
 * Oversized frames: a neighbour whose [link] max_frame is larger than ours
 * sends a message we cannot take. It used to be dropped in silence (libzmq
 * cut the connection on it, nothing logged on either side, everything in
 * flight resent). Now it is read, counted (limes_frames_oversized_total),
 * logged at most a few lines a second with the count of those suppressed,
 * and dropped, while the link stays up and other messages flow.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

TestSuite(oversized_frame, .timeout = 120);

static size_t count_lines(struct agentproc *ap, const char *needle, unsigned long long *suppressed)
{
	char path[800], *line = NULL;
	size_t cap = 0, n = 0;
	snprintf(path, sizeof(path), "%s/agent.log", agentproc_dir(ap));
	FILE *f = fopen(path, "re");
	cr_assert(f != NULL);
	*suppressed = 0;
	while (getline(&line, &cap, f) > 0) {
		if (!strstr(line, needle))
			continue;
		n++;
		const char *s = strstr(line, "suppressed=");
		if (s)
			*suppressed += strtoull(s + 11, NULL, 10);
	}
	free(line);
	fclose(f);
	return n;
}

/* BURST alerts of about 150 KB each (70 persons with long names) in one
 * request: A sends them at once, faster than B may log. */
#define BURST 20
static char *big_alerts(void)
{
	json_t *body = json_loads(cluster_example("alert"), 0, NULL);
	cr_assert(body != NULL);
	json_t *persons = json_array();
	char name[201];
	memset(name, 'K', 200);
	name[200] = '\0';
	for (int i = 0; i < 70; i++) {
		json_t *given = json_array();
		for (int k = 0; k < 9; k++)
			json_array_append_new(given, json_string(name));
		json_array_append_new(persons, json_pack("{s:s, s:o}", "family_name", name, "given_names", given));
	}
	json_object_set_new(body, "persons", persons);
	json_t *msgs = json_array();
	for (int i = 0; i < BURST; i++)
		json_array_append_new(msgs, json_pack("{s:[s], s:s, s:O}", "to", B, "type", "alert", "body", body));
	json_decref(body);
	char *text = json_dumps(msgs, JSON_COMPACT);
	json_decref(msgs);
	return text;
}

Test(oversized_frame, is_logged_rate_limited_and_counted_and_the_link_stays_up)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	cluster_configure(c, l, 1, "retry = 100ms\nretry_max = 100ms\n");
	/* B takes frames of at most 128 KiB; A keeps the default (4 MiB) */
	agentproc_set_link_extra(cluster_ap(c, B), "retry = 100ms\nretry_max = 100ms\nmax_frame = 131072\n");
	cr_assert(eq(int, agentproc_write_config(cluster_ap(c, B)), 0));
	cluster_start(c, B);
	cluster_start(c, A);
	cr_assert(cluster_wait_up(c, A, B, 10000));

	char *text = big_alerts();
	cr_assert(lt(sz, 131072, strlen(text) / BURST), "each body is larger than B's max_frame");
	json_t *resp = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/messages", text, &resp), 202), "A's limit takes it");
	json_decref(resp);
	free(text);

	/* B reports it, naming the peer, the size and its limit */
	cr_assert(agentproc_wait_log(cluster_ap(c, B), "peer=" A " event=oversized_frame bytes=", 10000),
		  "the oversized frame is logged");
	cr_assert(agentproc_log_contains(cluster_ap(c, B), "max_frame=131072"));
	/* A resends them every 100 ms or so: three seconds of that */
	cluster_sleep_ms(3000);
	cr_assert(ge(dbl, agentproc_metric(cluster_ap(c, B), "limes_frames_oversized_total"), (double)BURST),
		  "each one counted");

	/* the link was not cut: a normal message crosses meanwhile */
	char id[1][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", 1, id), 202));
	char state[32] = "";
	for (int t = 0; t < 100 && strcmp(state, "delivered") != 0; t++) {
		cluster_state(c, A, id[0], B, state, sizeof(state), NULL);
		cluster_sleep_ms(100);
	}
	cr_assert(eq(str, state, "delivered"));

	/* rate-limited: fewer lines than frames, and the suppressed are counted */
	double frames = agentproc_metric(cluster_ap(c, B), "limes_frames_oversized_total");
	unsigned long long suppressed = 0;
	size_t lines = count_lines(cluster_ap(c, B), "event=oversized_frame", &suppressed);
	cr_log_info("oversized frames %.0f, log lines %zu, suppressed %llu", frames, lines, suppressed);
	cr_assert(lt(dbl, (double)lines, frames), "not one line per frame");
	cr_assert(lt(u64, 0, suppressed), "the suppressed are counted in a later line");
	cr_assert(le(dbl, (double)lines + (double)suppressed, frames));
	cluster_destroy(&c);
}
