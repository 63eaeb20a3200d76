/*
 * The physical limit `limes bench` compares Limes with: how many Ed25519
 * signatures one core verifies per second. It lives in crypto/ because only
 * crypto/ includes sodium.h. Holds no state.
 */
#ifndef LIMES_CRYPTO_BENCH_H
#define LIMES_CRYPTO_BENCH_H

#include <stddef.h>

/* Verifies one signature over a msg_len-byte random message in a loop on the
 * calling thread for about `seconds`; returns verifications per second, or a
 * negative value if libsodium cannot start or a verification fails. */
double bench_verify_rate(size_t msg_len, double seconds);

#endif
