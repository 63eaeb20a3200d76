/*
 * Kill storm: both agents submit to each other while either is SIGKILLed
 * at random intervals (10 ms to 3 s) and restarted. At the end every
 * message answered 202 is in its recipient's inbox exactly once and marked
 * delivered at its sender. The default run is small; LIMES_LONG=1
 * (tests/run.sh --long) runs 200 kills over 10,000 messages.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/cluster.h"
#include "support/faults.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define BATCH 10

TestSuite(kill_storm, .timeout = 3600);

struct direction {
	const char *from, *to;
	struct fault_ids ok;
	size_t uncertain, refused;
};

struct storm {
	struct cluster *c;
	struct direction dir[2];
	size_t target;         /* messages accepted per direction */
	pthread_mutex_t lock;  /* the kill loop and the submitter share the agents' state */
	atomic_bool done;
};

static void *submitter(void *arg)
{
	struct storm *s = arg;
	for (unsigned turn = 0; !atomic_load(&s->done); turn++) {
		struct direction *d = &s->dir[turn % 2];
		if (s->dir[0].ok.n >= s->target && s->dir[1].ok.n >= s->target)
			break;
		if (d->ok.n >= s->target)
			continue;
		char ids[BATCH][33];
		int st = cluster_submit(s->c, d->from, d->to, "alert", turn % 3 ? "normal" : "urgent", BATCH, ids);
		pthread_mutex_lock(&s->lock);
		if (st == 202)
			for (int i = 0; i < BATCH; i++)
				fault_ids_add(&d->ok, ids[i]);
		else if (st == 0)
			d->uncertain += BATCH; /* killed mid-request: committed or not, we cannot know */
		else
			d->refused += BATCH;
		pthread_mutex_unlock(&s->lock);
		if (st == 0)
			usleep(20 * 1000);
	}
	atomic_store(&s->done, true);
	return NULL;
}

Test(kill_storm, both_submitting_through_random_sigkills_loses_and_duplicates_nothing)
{
	bool long_run = getenv("LIMES_LONG") && strcmp(getenv("LIMES_LONG"), "1") == 0;
	int kills = long_run ? 200 : 16;
	unsigned max_interval_ms = long_run ? 3000 : 600;
	static const char *const ids[] = { A, B };
	struct storm s = { .target = long_run ? 5000 : 400 };
	s.c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { B, A, "alert", NULL } };
	cluster_configure(s.c, l, 2, "retry = 200ms\nretry_max = 2s\n");
	s.dir[0].from = A, s.dir[0].to = B;
	s.dir[1].from = B, s.dir[1].to = A;
	pthread_mutex_init(&s.lock, NULL);
	cluster_start(s.c, A);
	cluster_start(s.c, B);
	unsigned seed = (unsigned)time(NULL);
	cr_log_info("seed %u", seed);
	srand(seed);

	pthread_t th;
	cr_assert(pthread_create(&th, NULL, submitter, &s) == 0);
	int done_kills = 0;
	for (; done_kills < kills || !atomic_load(&s.done); done_kills++) {
		unsigned ms = 10 + (unsigned)rand() % (max_interval_ms - 10);
		cluster_sleep_ms((int)ms);
		const char *victim = rand() % 2 ? A : B;
		cluster_kill(s.c, victim);
		cluster_start(s.c, victim);
		if (done_kills > 4 * kills)
			break; /* the submitter cannot reach its target: the assertions below say why */
	}
	atomic_store(&s.done, true);
	pthread_join(th, NULL);

	for (int k = 0; k < 2; k++)
		cr_assert(fault_wait_drained(s.c, s.dir[k].from, s.dir[k].to, 120), "%s never drained toward %s",
			  s.dir[k].from, s.dir[k].to);
	for (int k = 0; k < 2; k++) {
		fault_assert_invariant(s.c, s.dir[k].from, s.dir[k].to, &s.dir[k].ok, s.dir[k].uncertain);
		cr_log_info("%s -> %s: %zu accepted, %zu answers lost to kills, %zu refused; %d kills; lost 0, "
			    "duplicated 0",
			    s.dir[k].from, s.dir[k].to, s.dir[k].ok.n, s.dir[k].uncertain, s.dir[k].refused, done_kills);
		printf("kill_storm %s->%s accepted=%zu uncertain=%zu kills=%d lost=0 duplicated=0\n", s.dir[k].from,
		       s.dir[k].to, s.dir[k].ok.n, s.dir[k].uncertain, done_kills);
		fault_ids_free(&s.dir[k].ok);
	}
	cr_assert(done_kills >= kills);
	cluster_destroy(&s.c);
}
