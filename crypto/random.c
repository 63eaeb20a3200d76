/* libsodium start-up and the random source shared by every module. */
#include "crypto/random.h"

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "proto/err.h"

/*
 * The pool behind random_fill_public(): RANDOM_POOL_BYTES of ChaCha20 output
 * from a fresh 32-byte seed drawn from the system (libsodium's
 * randombytes_buf_deterministic), each byte handed out once, front to back.
 * One getrandom() per ~50 single-message submissions instead of two each (a
 * syscall costs 10-20 us on a VM). Per thread, so no lock. A fork()ed child
 * drops its copy, so it can never hand out its parent's bytes again (the
 * agent does not fork; this keeps it true if it ever does).
 */
#define RANDOM_POOL_BYTES 2048
static _Thread_local struct {
	uint8_t bytes[RANDOM_POOL_BYTES];
	size_t next; /* bytes[next..] not yet handed out */
	bool filled;
} pool;

static void pool_drop(void)
{
	sodium_memzero(&pool, sizeof(pool));
}

static int atfork_rc;

static void register_atfork(void)
{
	atfork_rc = pthread_atfork(NULL, NULL, pool_drop) == 0 ? 0 : LIMES_E_NOMEM;
}

int random_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	/* 0 = initialised now, 1 = already; -1 only when no entropy source works. */
	if (sodium_init() < 0)
		return LIMES_E_IO;
	if (pthread_once(&once, register_atfork) != 0)
		return LIMES_E_IO;
	return atfork_rc;
}

void random_fill(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* len bytes of ChaCha20 output under a seed drawn from the system for this
 * call alone (one getrandom()) and wiped before returning. */
static void stream_from_fresh_seed(uint8_t *out, size_t len)
{
	uint8_t seed[randombytes_SEEDBYTES];

	randombytes_buf(seed, sizeof(seed));
	randombytes_buf_deterministic(out, len, seed);
	sodium_memzero(seed, sizeof(seed));
}

void random_fill_public(void *buf, size_t len)
{
	uint8_t *out = buf;

	/* Larger than a quarter of the pool (a 200-message submission's nonces
	 * and ids): a stream of its own from one fresh seed, not the system's
	 * randombytes_buf, which makes one getrandom() per 256 bytes (19 for
	 * 200 nonces). The same construction as the pool's, so the same
	 * guarantee: ChaCha20 under a secret 256-bit seed used once is
	 * indistinguishable from the system's bytes (the kernel's own generator
	 * is ChaCha20), and a draw never shares a seed with another. */
	if (len > RANDOM_POOL_BYTES / 4) {
		stream_from_fresh_seed(out, len);
		return;
	}
	if (!pool.filled || RANDOM_POOL_BYTES - pool.next < len) {
		stream_from_fresh_seed(pool.bytes, sizeof(pool.bytes));
		pool.next = 0;
		pool.filled = true;
	}
	memcpy(out, pool.bytes + pool.next, len);
	/* handed out: never again, and not left readable in the pool */
	sodium_memzero(pool.bytes + pool.next, len);
	pool.next += len;
}

uint64_t random_u64(void)
{
	uint64_t v;

	randombytes_buf(&v, sizeof(v));
	return v;
}
