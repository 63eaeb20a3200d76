/*
 * Crash test for the store: a child process commits batches of random size
 * in a loop and reports each batch on a pipe only after store_commit()
 * returned 0; the parent SIGKILLs it at a random moment, reopens the store
 * and checks that every reported batch is there whole, that no batch is there
 * in part, and that the database passes integrity_check.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/err.h"
#include "store/store.h"
#include "support/store_testutil.h"

TestSuite(store_crash, .timeout = 60);

#define ROUNDS 60
#define ROUNDS_PER_DB 10     /* a fresh database every so often keeps checks fast */
#define MAX_BATCH 200
#define MAX_BATCHES 4096     /* per round, far above what 100 ms allows */
#define ENVELOPE_LEN 256

static const char *const recipients[2] = { "AGENCY-A", "AGENCY-B" };

static uint64_t rng_state;

static uint32_t rng(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void hop_name(char *buf, size_t len, int round)
{
	snprintf(buf, len, "ROUND-%d", round);
}

static void idem_key(char *buf, size_t len, uint32_t batch, uint32_t index)
{
	snprintf(buf, len, "b%u-%u", batch, index);
}

/* Batch numbers are round * 1e6 + k; the id's minor holds size and index. */
static uint32_t batch_number(int round, uint32_t k)
{
	return (uint32_t)round * 1000000u + k;
}

/* The child: commits batches until killed; reports a batch only once
 * store_commit() returned 0. Never returns. */
static void child_run(const char *dir, int round, int report_fd, uint64_t seed)
{
	uint8_t envelope[ENVELOPE_LEN];
	char hop[32], key[48];
	int err = 0;
	struct store *st = store_open(dir, &err);

	if (!st)
		_exit(3);
	rng_state = seed;
	hop_name(hop, sizeof(hop), round);
	for (uint32_t k = 1;; k++) {
		uint32_t batch = batch_number(round, k);
		uint32_t size = 1 + rng() % MAX_BATCH;

		if (store_begin(st) != 0)
			_exit(4);
		for (uint32_t i = 0; i < size; i++) {
			struct store_message msg = {
				.type = 1,
				.priority = (int)(rng() % 2),
				.created_ms = 1000 + k,
				.expires_ms = UINT32_MAX,
				.client = "crash",
				.idempotency_key = key,
			};
			struct store_delivery d[2];

			store_test_id(msg.id, batch, size << 16 | i);
			idem_key(key, sizeof(key), batch, i);
			memset(envelope, (int)(batch + i), sizeof(envelope));
			for (int r = 0; r < 2; r++)
				d[r] = (struct store_delivery){ recipients[r], hop, envelope,
								sizeof(envelope) };
			if (store_outbox_put(st, &msg, d, 2) != 0)
				_exit(5);
		}
		if (store_commit(st) != 0)
			_exit(6);
		uint32_t report[2] = { batch, size };
		if (write(report_fd, report, sizeof(report)) != (ssize_t)sizeof(report))
			_exit(7);
	}
}

struct round_check {
	uint32_t round;
	uint32_t count[MAX_BATCHES];  /* deliveries seen per batch k */
	uint32_t size[MAX_BATCHES];   /* size the ids claim */
	bool bad;
	char why[160];
};

static int count_row(void *arg, const struct store_delivery_row *row)
{
	struct round_check *c = arg;
	uint32_t batch, minor, k, size;

	store_test_id_parts(row->id, &batch, &minor);
	k = batch - c->round * 1000000u;
	size = minor >> 16;
	if (k == 0 || k >= MAX_BATCHES || size == 0 || (minor & 0xffff) >= size ||
	    row->envelope_len != ENVELOPE_LEN ||
	    row->envelope[0] != (uint8_t)(batch + (minor & 0xffff))) {
		c->bad = true;
		snprintf(c->why, sizeof(c->why), "bad row: batch %u minor %x len %zu", batch, minor,
			 row->envelope_len);
		return 1;
	}
	if (c->size[k] && c->size[k] != size) {
		c->bad = true;
		snprintf(c->why, sizeof(c->why), "batch %u: sizes %u and %u", batch, c->size[k], size);
		return 1;
	}
	c->size[k] = size;
	c->count[k]++;
	return 0;
}

/* Checks one round's batches in an open store; returns batches present. */
static uint32_t check_round(struct store *st, int round, const uint32_t *reported_size,
			    uint32_t reported_max)
{
	static struct round_check c;
	char hop[32], key[48];
	uint32_t present = 0;
	uint8_t id[STORE_ID_LEN], want[STORE_ID_LEN];

	memset(&c, 0, sizeof(c));
	c.round = (uint32_t)round;
	hop_name(hop, sizeof(hop), round);
	int n = store_outbox_due(st, hop, 0, SIZE_MAX, count_row, &c);
	cr_assert(ge(int, n, 0), "round %d: due failed %d", round, n);
	cr_assert(not(c.bad), "round %d: %s", round, c.why);
	for (uint32_t k = 1; k < MAX_BATCHES; k++) {
		if (c.count[k] == 0) {
			cr_assert(k > reported_max || reported_size[k] == 0,
				  "round %d: reported batch %u missing", round, k);
			continue;
		}
		present++;
		/* Whole: both recipients of every message. */
		cr_assert(eq(u32, c.count[k], 2 * c.size[k]), "round %d batch %u half there", round, k);
		if (k <= reported_max && reported_size[k])
			cr_assert(eq(u32, c.size[k], reported_size[k]));
		/* The idempotency key of its last message came with it. */
		uint32_t batch = batch_number(round, k), last = c.size[k] - 1;
		idem_key(key, sizeof(key), batch, last);
		store_test_id(want, batch, c.size[k] << 16 | last);
		cr_assert(eq(int, store_idempotency_get(st, "crash", key, id), 0));
		cr_assert(eq(int, memcmp(id, want, STORE_ID_LEN), 0));
	}
	return present;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

Test(store_crash, committed_batches_survive_sigkill_whole)
{
	static uint32_t reported_size[MAX_BATCHES];
	char dir[128];
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	uint32_t total_reported = 0, total_present = 0, total_unreported = 0;
	int first_round_of_db = 0;

	cr_log_info("store crash test seed %llu", (unsigned long long)seed);
	rng_state = seed | 1;
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "crash"), 0));
	for (int round = 1; round <= ROUNDS; round++) {
		int fds[2], status = 0, err = 0;
		uint32_t report[2], reported_max = 0, reported = 0;
		uint32_t delay_ms = rng() % 101;
		uint64_t child_seed = ((uint64_t)rng() << 32 | rng()) | 1;
		pid_t pid;

		cr_assert(eq(int, pipe(fds), 0));
		pid = fork();
		cr_assert(ge(int, pid, 0));
		if (pid == 0) {
			close(fds[0]);
			child_run(dir, round, fds[1], child_seed);
		}
		close(fds[1]);
		sleep_ms(delay_ms);
		cr_assert(eq(int, kill(pid, SIGKILL), 0));
		cr_assert(eq(int, waitpid(pid, &status, 0), pid));
		bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		cr_assert(killed, "round %d: child ended on its own, status %d", round, status);
		memset(reported_size, 0, sizeof(reported_size));
		while (read(fds[0], report, sizeof(report)) == (ssize_t)sizeof(report)) {
			uint32_t k = report[0] - batch_number(round, 0);

			cr_assert(lt(u32, k, MAX_BATCHES));
			reported_size[k] = report[1];
			reported_max = k > reported_max ? k : reported_max;
			reported++;
		}
		close(fds[0]);

		struct store *st = store_open(dir, &err);
		cr_assert(eq(int, err, 0), "round %d: reopen failed", round);
		cr_assert(eq(int, store_check(st, true), 0), "round %d: integrity_check", round);
		uint32_t present = check_round(st, round, reported_size, reported_max);
		cr_assert(ge(u32, present, reported));
		total_reported += reported;
		total_present += present;
		total_unreported += present - reported;
		if (round % ROUNDS_PER_DB == 0) {
			/* Earlier rounds are still whole after all the later kills. */
			for (int r = first_round_of_db + 1; r < round; r++)
				check_round(st, r, reported_size, 0);
			store_destroy(&st);
			cr_assert(eq(int, store_test_rmtree(dir), 0));
			first_round_of_db = round;
		}
		store_destroy(&st);
	}
	/* The last round may have removed the folder already (a fresh database). */
	if (access(dir, F_OK) == 0)
		cr_assert(eq(int, store_test_rmtree(dir), 0));
	cr_log_info("store crash test: %d rounds, %u batches reported committed, %u present "
		    "(%u committed but unreported at the kill), all whole",
		    ROUNDS, total_reported, total_present, total_unreported);
	fprintf(stderr, "store crash test: %d rounds, %u batches reported committed, %u present "
		"(%u committed but unreported at the kill), all whole\n",
		ROUNDS, total_reported, total_present, total_unreported);
}
