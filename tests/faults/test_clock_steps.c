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

static void step_and_resend(const char *step)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char file[400];
	char id[5][33];

	cluster_configure(c, l, 1, NULL);
	snprintf(file, sizeof(file), "%s/faketime", c->dir);
	set_offset(file, "+0");
	start_faked(c, B, file);
	cluster_start(c, A);
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "urgent", 5, id), 202));
	wait_delivered(c, id, 5);

	/* the receiver's clock steps, stays there over a housekeeping turn, and is corrected */
	set_offset(file, step);
	sleep(4);
	set_offset(file, "+0");
	sleep(2);

	/* the author sends the same bytes again (as after a lost receipt) */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	for (int i = 0; i < 5; i++) {
		uint8_t *env = NULL;
		size_t len = 0;
		int status = -1, reason = -1;
		cr_assert(eq(int, hostile_envelope_of(cluster_ap(c, A), id[i], &env, &len), 0));
		cr_assert(eq(int, hostile_send_as(cluster_ap(c, A), cluster_ap(c, B), env, len, &status, &reason), 0));
		cr_assert(eq(int, status, WIRE_RECEIPT_DUPLICATE), "message %d answered %d, not duplicate", i, status);
		free(env);
	}
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), 5), "each message once in the inbox");
	json_decref(inbox);
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
