/*
 * Library start-up and randomness for every module: random_init() readies
 * libsodium once at start-up; random_fill()/random_u64() draw from the
 * operating system's CSPRNG through it; random_fill_public() hands out
 * values that may be seen by anyone (nonces, message ids) from a per-thread
 * pool of ChaCha20 output seeded by it (a large draw: its own stream from
 * its own fresh seed).
 */
#ifndef LIMES_CRYPTO_RANDOM_H
#define LIMES_CRYPTO_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Initialises libsodium; call once before any crypto/ function (idempotent). 0 or LIMES_E_IO. */
int random_init(void);
/* Fills the caller's buf with len random bytes. */
void random_fill(void *buf, size_t len);
/* Fills the caller's buf with len random bytes for a value that is public
 * once used and must only never repeat (a nonce, a message id): drawn from a
 * per-thread pool refilled from a fresh system seed, so most calls make no
 * syscall. Never for keys or other secrets (use random_fill). */
void random_fill_public(void *buf, size_t len);
/* A uniformly random 64-bit value. */
uint64_t random_u64(void);

#endif
