/*
 * Key rotation announcements (docs/protocol.md "Key rotation"): an agent
 * tells each direct neighbour its next key in a body that binds its agency
 * id, a sequence number, a time, its current key and the next key, signed
 * by the current key (authority) and by the next key (proof that the
 * announcer holds it, as OpenSSH's hostkeys-prove). The bytes built here
 * are the bytes signed and sent; a receiver verifies them as received.
 */
#ifndef LIMES_CRYPTO_KEYUPDATE_H
#define LIMES_CRYPTO_KEYUPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"

#define KEYUPDATE_SIG_LEN 64
/* id_len(1) + id (<= 64) + seq(8) + time(8) + 4 public keys of 32 bytes */
#define KEYUPDATE_BODY_MAX (1 + 64 + 8 + 8 + 4 * 32)

/* What an announcement says, decoded. */
struct keyupdate {
	char agent_id[65];
	uint64_t seq;                /* grows by one with each next key the agent makes */
	uint64_t time_ms;            /* the announcer's wall clock when it made the next key */
	struct peer_key current;     /* key ids derived, never carried */
	struct peer_key next;
};

/* Builds the body for agent_id announcing `next` (seq, time_ms) with `current`
 * into the caller's body (KEYUPDATE_BODY_MAX bytes) and signs it with both:
 * sig by current, next_sig by next. 0 or LIMES_E_INVAL (bad agency id). */
int keyupdate_build(const struct identity *current, const struct identity *next, const char *agent_id,
		    uint64_t seq, uint64_t time_ms, uint8_t *body, size_t *body_len,
		    uint8_t sig[KEYUPDATE_SIG_LEN], uint8_t next_sig[KEYUPDATE_SIG_LEN]);
/* Decodes body into the caller's out (no signature checked):
 * 0 or LIMES_E_ENV_MALFORMED. */
int keyupdate_parse(const uint8_t *body, size_t len, struct keyupdate *out);
/* Checks both signatures of a decoded body against the keys it names:
 * 0 or LIMES_E_ENV_BAD_SIG. The caller still checks that `current` is the
 * key it knows for that agent. */
int keyupdate_verify(const struct keyupdate *ku, const uint8_t *body, size_t len,
		     const uint8_t sig[KEYUPDATE_SIG_LEN], const uint8_t next_sig[KEYUPDATE_SIG_LEN]);

#endif
