/* Ed25519 verify rate of one core, for `limes bench` (see crypto/bench.h). */
#include "crypto/verifyrate.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_verify_rate(size_t msg_len, double seconds)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char *sk = NULL;
	unsigned char *msg = NULL;
	unsigned char sig[crypto_sign_BYTES];
	double rate = -1.0;

	if (sodium_init() < 0)
		goto out;
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	msg = malloc(msg_len ? msg_len : 1);
	if (!sk || !msg)
		goto out;
	crypto_sign_keypair(pk, sk);
	randombytes_buf(msg, msg_len);
	crypto_sign_detached(sig, NULL, msg, msg_len, sk);

	/* Check the clock every 64 verifications: cheap next to ~50 us each. */
	uint64_t done = 0;
	double start = now_s(), elapsed = 0.0;
	do {
		for (int i = 0; i < 64; i++)
			if (crypto_sign_verify_detached(sig, msg, msg_len, pk) != 0)
				goto out;
		done += 64;
		elapsed = now_s() - start;
	} while (elapsed < seconds);
	rate = (double)done / elapsed;
out:
	free(msg);
	sodium_free(sk); /* wipes; accepts NULL */
	return rate;
}
