/* The random source: the pool of public random values (nonces, message ids). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/random.h"

static void setup(void)
{
	cr_assert(eq(int, random_init(), 0));
}

TestSuite(random, .init = setup, .timeout = 30);

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static int cmp24(const void *a, const void *b)
{
	return memcmp(a, b, 24);
}

/* Many times the pool's size, across its refills: no 16-byte value twice,
 * and no value all zero (a handed-out byte is wiped in the pool: handing it
 * out again would show as zeros or a repeat). */
Test(random, public_values_never_repeat_across_refills)
{
	enum { N = 20000 };
	uint8_t (*v)[16] = calloc(N, sizeof(*v));
	static const uint8_t zero[16];

	cr_assert(v != NULL);
	for (size_t i = 0; i < N; i++) {
		/* odd lengths too, so draws straddle the pool's end */
		uint8_t pad[7];
		random_fill_public(v[i], sizeof(v[i]));
		if (i % 3 == 0)
			random_fill_public(pad, sizeof(pad));
		cr_assert(memcmp(v[i], zero, sizeof(zero)) != 0, "draw %zu is all zero", i);
	}
	qsort(v, N, sizeof(*v), cmp16);
	for (size_t i = 1; i < N; i++)
		cr_assert(memcmp(v[i - 1], v[i], 16) != 0, "a 16-byte value came twice");
	free(v);
}

/* A draw larger than a quarter of the pool (a batch's nonces) is a stream
 * of its own: its 24-byte values are all different, it differs from the
 * next large draw, and the next pooled draw repeats none of it. */
Test(random, large_draws_are_streams_of_their_own)
{
	enum { BIG = 200 * 24 };
	static uint8_t big[BIG], big2[BIG];
	uint8_t small[16];

	random_fill_public(big, sizeof(big));
	random_fill_public(big2, sizeof(big2));
	random_fill_public(small, sizeof(small));
	uint8_t (*v)[24] = malloc(sizeof(big));
	cr_assert(v != NULL);
	memcpy(v, big, sizeof(big));
	qsort(v, BIG / 24, 24, cmp24);
	for (size_t i = 1; i < BIG / 24; i++)
		cr_assert(memcmp(v[i - 1], v[i], 24) != 0, "a nonce came twice in one large draw");
	free(v);
	for (size_t i = 0; i + 24 <= BIG; i += 24)
		cr_assert(memcmp(big + i, big2 + i, 24) != 0, "two large draws share the value at %zu", i);
	for (size_t i = 0; i + sizeof(small) <= BIG; i++) {
		cr_assert(memcmp(big + i, small, sizeof(small)) != 0, "the pooled draw repeats the large one at %zu", i);
		cr_assert(memcmp(big2 + i, small, sizeof(small)) != 0, "the pooled draw repeats the large one at %zu", i);
	}
}

/* A fork()ed child must not hand out the bytes its parent hands out next. */
Test(random, forked_child_does_not_repeat_the_parents_values)
{
	uint8_t warm[16], mine[16], childs[16];
	int fds[2];

	random_fill_public(warm, sizeof(warm)); /* the pool holds bytes now */
	cr_assert(eq(int, pipe(fds), 0));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		uint8_t v[16];
		random_fill_public(v, sizeof(v));
		_exit(write(fds[1], v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
	}
	random_fill_public(mine, sizeof(mine));
	ssize_t got = read(fds[0], childs, sizeof(childs));
	cr_assert(eq(sz, (size_t)got, sizeof(childs)));
	int status = 0;
	pid_t waited = waitpid(pid, &status, 0);
	cr_assert(eq(int, (int)waited, (int)pid));
	bool exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	cr_assert(exited_ok, "the child failed (status %d)", status);
	cr_assert(memcmp(mine, childs, sizeof(mine)) != 0, "the child handed out the parent's next value");
	close(fds[0]);
	close(fds[1]);
}
