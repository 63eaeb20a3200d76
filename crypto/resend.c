/*
 * Resend requests: the body's bytes, its signature and their check
 * (docs/protocol.md "Resend after a restore" has the layout and a worked
 * example that tests/unit/test_resend.c checks).
 */
#include "crypto/resend.h"

#include <sodium.h>
#include <string.h>

#include "internal.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/wire.h"

#define DOMAIN_RESEND "limes/resend-request/v1"
#define SIGNED_MAX (sizeof(DOMAIN_RESEND) + RESEND_BODY_MAX)

/* domain (with its NUL) || body into msg; returns the length. */
static size_t signed_bytes(uint8_t *msg, const uint8_t *body, size_t len)
{
	memcpy(msg, DOMAIN_RESEND, sizeof(DOMAIN_RESEND));
	memcpy(msg + sizeof(DOMAIN_RESEND), body, len);
	return sizeof(DOMAIN_RESEND) + len;
}

static uint8_t *put_id(uint8_t *p, const char *id)
{
	size_t n = strlen(id);
	*p++ = (uint8_t)n;
	memcpy(p, id, n);
	return p + n;
}

int resend_build(const struct identity *me, const struct resend_request *r, uint8_t *body, size_t *body_len,
		 uint8_t sig[RESEND_SIG_LEN])
{
	uint8_t msg[SIGNED_MAX];

	if (!me || !r || wire_agency_id_check(r->asker) < 0 || wire_agency_id_check(r->to) < 0)
		return LIMES_E_INVAL;
	uint8_t *p = put_id(body, r->asker);
	p = put_id(p, r->to);
	be64_put(p, r->since_ms);
	be64_put(p + 8, r->time_ms);
	*body_len = (size_t)(p + 16 - body);
	crypto_sign_detached(sig, NULL, msg, signed_bytes(msg, body, *body_len), identity_sign_sk(me));
	return 0;
}

/* One length-prefixed agency id at *p within end; advances *p. */
static int get_id(const uint8_t **p, const uint8_t *end, char out[65])
{
	if (*p >= end)
		return LIMES_E_ENV_MALFORMED;
	size_t n = **p;
	if (n == 0 || n > 64 || (size_t)(end - *p) < 1 + n)
		return LIMES_E_ENV_MALFORMED;
	memcpy(out, *p + 1, n);
	out[n] = '\0';
	*p += 1 + n;
	return wire_agency_id_check(out) == 0 ? 0 : LIMES_E_ENV_MALFORMED;
}

int resend_parse(const uint8_t *body, size_t len, struct resend_request *out)
{
	memset(out, 0, sizeof(*out));
	if (!body || len > RESEND_BODY_MAX)
		return LIMES_E_ENV_MALFORMED;
	const uint8_t *p = body, *end = body + len;
	if (get_id(&p, end, out->asker) < 0 || get_id(&p, end, out->to) < 0 || end - p != 16) {
		memset(out, 0, sizeof(*out));
		return LIMES_E_ENV_MALFORMED;
	}
	out->since_ms = be64_get(p);
	out->time_ms = be64_get(p + 8);
	return 0;
}

int resend_verify(const uint8_t *sign_pk, const uint8_t *body, size_t len, const uint8_t sig[RESEND_SIG_LEN])
{
	uint8_t msg[SIGNED_MAX];

	if (!sign_pk || !body || len > RESEND_BODY_MAX)
		return LIMES_E_ENV_BAD_SIG;
	if (crypto_sign_verify_detached(sig, msg, signed_bytes(msg, body, len), sign_pk) != 0)
		return LIMES_E_ENV_BAD_SIG;
	return 0;
}
