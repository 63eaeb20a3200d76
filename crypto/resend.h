/*
 * Resend requests (docs/protocol.md "Resend after a restore"): an agent
 * restored from an older copy of its store asks each direct neighbour to
 * send again what it delivered to it since the copy was taken. The body
 * binds the asker, the neighbour asked, the time since when, and the time of
 * asking, signed by the asker; the bytes built here are the bytes signed and
 * sent, and a receiver verifies them as received.
 */
#ifndef LIMES_CRYPTO_RESEND_H
#define LIMES_CRYPTO_RESEND_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"

#define RESEND_SIG_LEN 64
/* id_len(1) + asker (<= 64) + to_len(1) + neighbour (<= 64) + since(8) + time(8) */
#define RESEND_BODY_MAX (1 + 64 + 1 + 64 + 8 + 8)

/* What a request says, decoded. */
struct resend_request {
	char asker[65];
	char to[65];
	uint64_t since_ms;           /* resend what was delivered at or after this (the neighbour's clock) */
	uint64_t time_ms;            /* the asker's clock when it first asked: names the request */
};

/* Builds the body of r into the caller's body (RESEND_BODY_MAX bytes) and
 * signs it with `me` into sig. 0 or LIMES_E_INVAL (a bad agency id). */
int resend_build(const struct identity *me, const struct resend_request *r, uint8_t *body, size_t *body_len,
		 uint8_t sig[RESEND_SIG_LEN]);
/* Decodes body into the caller's out (no signature checked):
 * 0 or LIMES_E_ENV_MALFORMED. */
int resend_parse(const uint8_t *body, size_t len, struct resend_request *out);
/* Checks sig over body against the asker's signing key sign_pk (32 bytes,
 * the caller's, of the peer the connection authenticated): 0 or
 * LIMES_E_ENV_BAD_SIG. */
int resend_verify(const uint8_t *sign_pk, const uint8_t *body, size_t len, const uint8_t sig[RESEND_SIG_LEN]);

#endif
