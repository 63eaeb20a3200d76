/*
 * Clock steps (libfaketime, Debian `faketime`): the receiver's wall clock
 * jumps days ahead for a few seconds and back, or back by hours, during
 * traffic. Exactly-once must hold: an id once seen is still seen when its
 * author sends the same bytes again.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/wire.h"
#include "support/cluster.h"
#include "support/hostile.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define LIBFAKETIME "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

TestSuite(clock_steps, .timeout = 180);

static inline int is(int cond)
{
	return cond;
}

static void set_offset(const char *file, const char *offset)
{
	FILE *f = fopen(file, "w");
	cr_assert(f != NULL);
	fprintf(f, "%s\n", offset);
	cr_assert(eq(int, fclose(f), 0));
}

/* Starts `id` with its wall clock read from the offset in `file`. */
static void start_faked(struct cluster *c, const char *id, const char *file)
{
	cr_assert(eq(int, access(LIBFAKETIME, R_OK), 0), "libfaketime is installed by deploy/setup.sh");
	setenv("LD_PRELOAD", LIBFAKETIME, 1);
	setenv("FAKETIME_TIMESTAMP_FILE", file, 1);
	setenv("FAKETIME_CACHE_DURATION", "1", 1);
	setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
	cluster_start(c, id);
	unsetenv("LD_PRELOAD");
	unsetenv("FAKETIME_TIMESTAMP_FILE");
	unsetenv("FAKETIME_CACHE_DURATION");
	unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
}

static void wait_delivered(struct cluster *c, char (*ids)[33], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char state[32] = "";
		for (int t = 0; t < 200; t++) {
			cluster_state(c, A, ids[i], B, state, sizeof(state), NULL);
			if (strcmp(state, "delivered") == 0)
				break;
			cluster_sleep_ms(100);
		}
		cr_assert(eq(str, state, "delivered"), "message %zu", i);
	}
}

/* A and B (B's wall clock faked through `file`, at +0 now), 5 alerts A -> B
 * delivered; ids in id. */
static struct cluster *start_and_deliver(const char *extra, char *file, size_t file_len, char (*id)[33])
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };

	cluster_configure(c, l, 1, extra);
	snprintf(file, file_len, "%s/faketime", c->dir);
	set_offset(file, "+0");
	start_faked(c, B, file);
	cluster_start(c, A);
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", 5, id), 202));
	wait_delivered(c, id, 5);
	return c;
}

/* A stops and its n envelopes are sent to B again, byte for byte (as after
 * a lost receipt): each must be answered duplicate, and each be once in B's
 * inbox. */
static void resend_expect_duplicates(struct cluster *c, char (*id)[33], int n)
{
	cr_assert(eq(int, cluster_stop(c, A), 0));
	for (int i = 0; i < n; i++) {
		uint8_t *env = NULL;
		size_t len = 0;
		int status = -1, reason = -1;
		cr_assert(eq(int, hostile_envelope_of(cluster_ap(c, A), id[i], &env, &len), 0));
		cr_assert(eq(int, hostile_send_as(cluster_ap(c, A), cluster_ap(c, B), env, len, &status, &reason), 0));
		cr_assert(eq(int, status, WIRE_RECEIPT_DUPLICATE), "message %d answered %d, not duplicate", i, status);
		free(env);
	}
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), (size_t)n), "each message once in the inbox");
	json_decref(inbox);
}

static void step_and_resend(const char *step)
{
	char file[400];
	char id[5][33];
	struct cluster *c = start_and_deliver(NULL, file, sizeof(file), id);

	/* the receiver's clock steps, stays there over a housekeeping turn, and is corrected */
	set_offset(file, step);
	sleep(4);
	set_offset(file, "+0");
	sleep(2);

	/* the author sends the same bytes again (as after a lost receipt) */
	resend_expect_duplicates(c, id, 5);
	cluster_destroy(&c);
}

Test(clock_steps, a_receiver_clock_three_days_ahead_for_seconds_forgets_no_seen_id)
{
	step_and_resend("+3d");
}

Test(clock_steps, a_receiver_clock_stepped_back_hours_forgets_no_seen_id)
{
	step_and_resend("-5h");
}

/* Empties an agent's log, so that a wait sees only what the next run writes. */
static void clear_log(struct cluster *c, const char *id)
{
	char log[800];
	snprintf(log, sizeof(log), "%s/agent.log", agentproc_dir(cluster_ap(c, id)));
	cr_assert(eq(int, truncate(log, 0), 0));
}

/* A restart with the clock 3 days ahead used to purge by that clock at
 * once: the ids of messages still within their TTL were forgotten, and the
 * author's re-send after the clock was right again went into the inbox a
 * second time. Nothing is forgotten until a neighbour's clock vouches. */
Test(clock_steps, a_receiver_started_three_days_ahead_forgets_no_seen_id)
{
	char file[400];
	char id[5][33];
	struct cluster *c = start_and_deliver("heartbeat = 1s\n", file, sizeof(file), id);
	cr_assert(agentproc_wait_log(cluster_ap(c, B), "event=purge_clock_vouched", 10000),
		  "with the clocks in step the purge runs");

	/* restarted 3 days ahead: A's heartbeats show the offset, nothing vouches */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	set_offset(file, "+3d");
	clear_log(c, B);
	start_faked(c, B, file);
	cr_assert(agentproc_wait_log(cluster_ap(c, B), "event=clock_skew", 15000), "B sees A's clock 3 days off");
	sleep(3); /* housekeeping turns with the clock ahead */
	cr_assert(not(agentproc_log_contains(cluster_ap(c, B), "event=purge_clock_vouched")),
		  "a clock 3 days off is not vouched for");

	/* and again with the clock right */
	cr_assert(eq(int, cluster_stop(c, B), 0));
	set_offset(file, "+0");
	clear_log(c, B);
	start_faked(c, B, file);
	cr_assert(agentproc_wait_log(cluster_ap(c, B), "event=purge_clock_vouched", 15000));
	sleep(2);

	resend_expect_duplicates(c, id, 5);
	cluster_destroy(&c);
}

Test(clock_steps, a_peer_hours_off_is_shown_skewed_and_its_offset_logged)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char file[400];

	cluster_configure(c, l, 1, "heartbeat = 1s\n");
	snprintf(file, sizeof(file), "%s/faketime", c->dir);
	set_offset(file, "+3h");
	start_faked(c, B, file);
	cluster_start(c, A);
	cr_assert(agentproc_wait_log(cluster_ap(c, A), "event=clock_skew offset_ms=", 15000),
		  "the offset is logged");
	json_t *peers = NULL;
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/peers", NULL, &peers), 200));
	json_t *p = json_array_get(json_object_get(peers, "peers"), 0);
	if (!p)
		p = json_array_get(peers, 0);
	cr_assert(p != NULL);
	cr_assert(is(json_is_true(json_object_get(p, "clock_skewed"))), "B shows clock_skewed");
	double off = json_real_value(json_object_get(p, "clock_offset_ms"));
	cr_assert(is(off > 3 * 3600 * 1000.0 - 60000), "offset %.0f ms", off);
	json_decref(peers);
	cluster_destroy(&c);
}
