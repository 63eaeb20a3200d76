/* libsodium start-up and the random source shared by every module. */
#include "crypto/random.h"

#include <sodium.h>

#include "proto/err.h"

int random_init(void)
{
	/* 0 = initialised now, 1 = already; -1 only when no entropy source works. */
	return sodium_init() < 0 ? LIMES_E_IO : 0;
}

void random_fill(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

uint64_t random_u64(void)
{
	uint64_t v;

	randombytes_buf(&v, sizeof(v));
	return v;
}
