/*
 * Key rotation announcements: the body's bytes, its two signatures and
 * their check (docs/protocol.md "Key rotation" has the layout and a worked
 * example that tests/unit/test_keyupdate.c checks).
 */
#include "crypto/keyupdate.h"

#include <sodium.h>
#include <string.h>

#include "internal.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/wire.h"

#define DOMAIN_KEY_UPDATE      "limes/key-update/v1"
#define DOMAIN_KEY_UPDATE_NEXT "limes/key-update-next/v1"
#define SIGNED_MAX (sizeof(DOMAIN_KEY_UPDATE_NEXT) + KEYUPDATE_BODY_MAX)

/* domain (with its NUL) || body into msg; returns the length. */
static size_t signed_bytes(uint8_t *msg, const char *domain, size_t domain_size, const uint8_t *body, size_t len)
{
	memcpy(msg, domain, domain_size);
	memcpy(msg + domain_size, body, len);
	return domain_size + len;
}

int keyupdate_build(const struct identity *current, const struct identity *next, const char *agent_id,
		    uint64_t seq, uint64_t time_ms, uint8_t *body, size_t *body_len,
		    uint8_t sig[KEYUPDATE_SIG_LEN], uint8_t next_sig[KEYUPDATE_SIG_LEN])
{
	uint8_t msg[SIGNED_MAX];
	size_t id_len = agent_id ? strlen(agent_id) : 0;
	const struct peer_key *c = identity_public(current), *n = identity_public(next);
	uint8_t *p = body;

	if (wire_agency_id_check(agent_id) < 0)
		return LIMES_E_INVAL;
	*p++ = (uint8_t)id_len;
	memcpy(p, agent_id, id_len);
	p += id_len;
	be64_put(p, seq);
	be64_put(p + 8, time_ms);
	p += 16;
	memcpy(p, c->sign_pk, 32);
	memcpy(p + 32, c->box_pk, 32);
	memcpy(p + 64, n->sign_pk, 32);
	memcpy(p + 96, n->box_pk, 32);
	p += 128;
	*body_len = (size_t)(p - body);
	crypto_sign_detached(sig, NULL, msg,
			     signed_bytes(msg, DOMAIN_KEY_UPDATE, sizeof(DOMAIN_KEY_UPDATE), body, *body_len),
			     identity_sign_sk(current));
	crypto_sign_detached(next_sig, NULL, msg,
			     signed_bytes(msg, DOMAIN_KEY_UPDATE_NEXT, sizeof(DOMAIN_KEY_UPDATE_NEXT), body, *body_len),
			     identity_sign_sk(next));
	sodium_memzero(msg, sizeof(msg));
	return 0;
}

int keyupdate_parse(const uint8_t *body, size_t len, struct keyupdate *out)
{
	memset(out, 0, sizeof(*out));
	if (!body || len < 1)
		return LIMES_E_ENV_MALFORMED;
	size_t id_len = body[0];
	if (id_len == 0 || id_len > 64 || len != 1 + id_len + 16 + 128)
		return LIMES_E_ENV_MALFORMED;
	memcpy(out->agent_id, body + 1, id_len);
	out->agent_id[id_len] = '\0';
	if (wire_agency_id_check(out->agent_id) < 0)
		return LIMES_E_ENV_MALFORMED;
	const uint8_t *p = body + 1 + id_len;
	out->seq = be64_get(p);
	out->time_ms = be64_get(p + 8);
	p += 16;
	memcpy(out->current.sign_pk, p, 32);
	memcpy(out->current.box_pk, p + 32, 32);
	memcpy(out->next.sign_pk, p + 64, 32);
	memcpy(out->next.box_pk, p + 96, 32);
	identity_key_id(out->current.sign_pk, out->current.box_pk, out->current.key_id);
	identity_key_id(out->next.sign_pk, out->next.box_pk, out->next.key_id);
	return 0;
}

int keyupdate_verify(const struct keyupdate *ku, const uint8_t *body, size_t len,
		     const uint8_t sig[KEYUPDATE_SIG_LEN], const uint8_t next_sig[KEYUPDATE_SIG_LEN])
{
	uint8_t msg[SIGNED_MAX];

	if (len > KEYUPDATE_BODY_MAX)
		return LIMES_E_ENV_BAD_SIG;
	if (crypto_sign_verify_detached(sig, msg,
					signed_bytes(msg, DOMAIN_KEY_UPDATE, sizeof(DOMAIN_KEY_UPDATE), body, len),
					ku->current.sign_pk) != 0)
		return LIMES_E_ENV_BAD_SIG;
	if (crypto_sign_verify_detached(next_sig, msg,
					signed_bytes(msg, DOMAIN_KEY_UPDATE_NEXT, sizeof(DOMAIN_KEY_UPDATE_NEXT), body,
						     len),
					ku->next.sign_pk) != 0)
		return LIMES_E_ENV_BAD_SIG;
	return 0;
}
