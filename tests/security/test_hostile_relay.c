/*
 * A relay gone bad between two agents: A sends to C through the relay B,
 * and B is tools/hostile_relay.c holding B's keys (see there why this is
 * the strongest attacker on the path). While A submits, B drops,
 * duplicates, reorders, delays, replays and alters envelopes and receipts,
 * and answers envelopes with receipts it forges; then it turns honest. At
 * the end every message A accepted is in C's inbox exactly once and marked
 * delivered at A on C's own receipt: nothing lost, nothing twice, no forged
 * or altered receipt taken. LIMES_LONG=1 sends ten times as many.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/cluster.h"
#include "support/faults.h"
#include "support/hostile.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"
#define BATCH 10

static struct cluster *cl;
static pid_t relay_pid;

static void teardown(void)
{
	hostile_relay_kill(&relay_pid);
	cluster_destroy(&cl);
}

TestSuite(hostile_relay, .timeout = 600, .fini = teardown);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A per-peer counter of GET /v1/peers at agent `at` ("delivered", …), or -1. */
static long peer_counter(const char *at, const char *peer, const char *name)
{
	json_t *doc = NULL, *p;
	size_t i;
	long v = -1;
	cr_assert(eq(int, cluster_http(cl, at, "GET", "/v1/peers", NULL, &doc), 200));
	json_array_foreach(json_object_get(doc, "peers"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) == 0)
			v = (long)json_integer_value(json_object_get(json_object_get(p, "counters"), name));
	json_decref(doc);
	return v;
}

/* A figure from the relay's `hostile_relay name=N …` line. */
static unsigned long figure(const char *line, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), " %s=", name);
	const char *p = strstr(line, key);
	cr_assert(p != NULL, "the relay did not report %s: %s", name, line);
	return strtoul(p + strlen(key), NULL, 10);
}

Test(hostile_relay, drops_duplicates_reorders_delays_replays_and_forgeries_lose_and_duplicate_nothing)
{
	bool long_run = getenv("LIMES_LONG") && strcmp(getenv("LIMES_LONG"), "1") == 0;
	size_t target = long_run ? 3000 : 300;
	static const char *const ids[] = { A, B, C };
	cl = cluster_new(3, ids);
	struct agentproc *pa = cluster_ap(cl, A);
	unsigned seed = (unsigned)time(NULL);
	char seed_s[16], out[700];
	snprintf(seed_s, sizeof(seed_s), "%u", seed);
	relay_pid = hostile_relay_between(cl, A, B, C, "retry = 200ms\nretry_max = 1s\nheartbeat = 500ms\ndead_after = 3s\n",
					  "--seed", seed_s, out, sizeof(out));
	cr_log_info("seed %u", seed);
	cr_assert(cluster_wait_up(cl, A, B, 15000), "A never heard the relay");

	/* hostile while A submits, and a few seconds more for the resends */
	struct fault_ids ok = { 0 };
	size_t refused = 0;
	while (ok.n < target) {
		char got[BATCH][33];
		int st = cluster_submit(cl, A, C, "alert", ok.n % 70 ? "normal" : "urgent", BATCH, got);
		if (st != 202) {
			refused += BATCH;
			break;
		}
		for (int i = 0; i < BATCH; i++)
			fault_ids_add(&ok, got[i]);
		cluster_sleep_ms(40);
	}
	cr_assert(eq(sz, refused, 0), "A refused a submission to C");
	cluster_sleep_ms(1000);
	uint64_t t_honest = now_ms();
	long pending_at_honest = cluster_queued(cl, A, C);
	cr_assert(eq(int, kill(relay_pid, SIGUSR1), 0));

	cr_assert(fault_wait_drained(cl, A, C, 90), "A still has %ld queued for C 90 s after the relay turned honest",
		  cluster_queued(cl, A, C));
	uint64_t t_drained = now_ms();
	fault_assert_invariant(cl, A, C, &ok, 0);
	/* every one, not a sample: delivered on C's receipt, none rejected */
	for (size_t i = 0; i < ok.n; i++) {
		char state[32];
		json_t *detail = NULL;
		cluster_state(cl, A, ok.id[i], C, state, sizeof(state), &detail);
		cr_assert(eq(str, state, "delivered"), "message %s to C is %s", ok.id[i], state);
		json_decref(detail);
	}
	cr_assert(agentproc_log_contains(pa, "event=bad_receipt"), "A logged no refused receipt: was B hostile?");
	/* replayed and duplicated receipts count nothing twice (nor store the
	 * receipt or audit it again); C received each once */
	cr_assert(eq(long, peer_counter(A, C, "delivered"), (long)ok.n), "A counts %ld delivered to C for %zu messages",
		  peer_counter(A, C, "delivered"), ok.n);
	cr_assert(eq(long, peer_counter(A, C, "rejected"), 0));
	cr_assert(eq(long, peer_counter(C, A, "received"), (long)ok.n));

	cr_assert(eq(int, hostile_relay_end(&relay_pid), 0), "the relay failed; see %s", out);
	FILE *fp = fopen(out, "r");
	char line[1024] = "", buf[1024];
	cr_assert(fp != NULL);
	while (fgets(buf, sizeof(buf), fp))
		if (strncmp(buf, "hostile_relay ", 14) == 0)
			snprintf(line, sizeof(line), "%s", buf);
	fclose(fp);
	line[strcspn(line, "\n")] = '\0';
	/* the attack happened: every kind of misbehaviour at least once */
	static const char *const kinds[] = { "dropped", "duplicated", "reordered", "delayed", "tampered",
					     "replayed", "forged", "reencoded", "sent_after_honest" };
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		cr_assert(figure(line, kinds[k]) > 0, "the relay never %s anything: %s", kinds[k], line);
	printf("hostile_relay_test messages=%zu delivered_once=%zu lost=0 duplicated=0 rejected=0 "
	       "undelivered_when_honest=%ld drain_after_honest_s=%.1f seed=%u\n%s\n",
	       ok.n, ok.n, pending_at_honest, (double)(t_drained - t_honest) / 1000.0, seed, line);
	fflush(stdout);
	fault_ids_free(&ok);
}
