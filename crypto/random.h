/*
 * Library start-up and randomness for every module: random_init() readies
 * libsodium once at start-up; random_fill()/random_u64() draw from the
 * operating system's CSPRNG through it. Holds no state of its own.
 */
#ifndef LIMES_CRYPTO_RANDOM_H
#define LIMES_CRYPTO_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Initialises libsodium; call once before any crypto/ function (idempotent). 0 or LIMES_E_IO. */
int random_init(void);
/* Fills the caller's buf with len random bytes. */
void random_fill(void *buf, size_t len);
/* A uniformly random 64-bit value. */
uint64_t random_u64(void);

#endif
