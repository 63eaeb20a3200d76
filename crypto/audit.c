/*
 * Audit entry, checkpoint and countersignature bytes, their hash and their
 * signatures (see audit.h and docs/audit.md). Stateless.
 */
#include "crypto/audit.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "proto/bytes.h"
#include "proto/err.h"

#define DOMAIN_AUDIT_ENTRY       "limes/audit-entry/v1"
#define DOMAIN_AUDIT_CHECKPOINT  "limes/audit-checkpoint/v1"
#define DOMAIN_AUDIT_COUNTERSIGN "limes/audit-countersign/v1"
#define AGENT_ID_MAX 64

const char *audit_kind_name(int kind)
{
#define AUDIT_KIND_NAME(name, value, text) case value: return text;
	switch (kind) {
		AUDIT_KINDS(AUDIT_KIND_NAME)
	default: return NULL;
	}
#undef AUDIT_KIND_NAME
}

bool audit_kind_is_batch(int kind)
{
	return kind == AUDIT_SUBMITTED_BATCH || kind == AUDIT_SENT_BATCH || kind == AUDIT_RECEIPT_BATCH ||
	       kind == AUDIT_RECEIVED_BATCH;
}

int audit_kind_from_name(const char *name)
{
#define AUDIT_KIND_FIND(n, value, text) if (strcmp(name, text) == 0) return value;
	AUDIT_KINDS(AUDIT_KIND_FIND)
#undef AUDIT_KIND_FIND
	return LIMES_E_NOTFOUND;
}

const char *audit_tag_name(int tag)
{
#define AUDIT_TAG_NAME(name, value, text, form) case value: return text;
	switch (tag) {
		AUDIT_TAGS(AUDIT_TAG_NAME)
	default: return NULL;
	}
#undef AUDIT_TAG_NAME
}

int audit_tag_form(int tag)
{
#define AUDIT_TAG_FORM(name, value, text, form) case value: return form;
	switch (tag) {
		AUDIT_TAGS(AUDIT_TAG_FORM)
	default: return 0;
	}
#undef AUDIT_TAG_FORM
}

void audit_begin(struct audit_builder *b, uint64_t seq, uint64_t time_ms, int kind,
		 const uint8_t prev[AUDIT_HASH_LEN])
{
	uint8_t *p = b->buf;

	memcpy(p, AUDIT_MAGIC, AUDIT_MAGIC_LEN);
	be64_put(p + 4, seq);
	be64_put(p + 12, time_ms);
	p[20] = (uint8_t)kind;
	if (prev)
		memcpy(p + 21, prev, AUDIT_HASH_LEN);
	else
		memset(p + 21, 0, AUDIT_HASH_LEN);
	b->len = AUDIT_ENTRY_HEAD_LEN;
	b->overflow = false;
}

void audit_put_bytes(struct audit_builder *b, int tag, const uint8_t *bytes, size_t len)
{
	if (len > 0xffff || b->len + 3 + len > sizeof(b->buf)) {
		b->overflow = true;
		return;
	}
	b->buf[b->len] = (uint8_t)tag;
	b->buf[b->len + 1] = (uint8_t)(len >> 8);
	b->buf[b->len + 2] = (uint8_t)len;
	if (len)
		memcpy(b->buf + b->len + 3, bytes, len);
	b->len += 3 + len;
}

void audit_put_text(struct audit_builder *b, int tag, const char *text)
{
	if (text && *text)
		audit_put_bytes(b, tag, (const uint8_t *)text, strlen(text));
}

void audit_put_u64(struct audit_builder *b, int tag, uint64_t v)
{
	uint8_t be[8];

	be64_put(be, v);
	audit_put_bytes(b, tag, be, sizeof(be));
}

void audit_entry_hash(const uint8_t *entry, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, AUDIT_HASH_LEN);
	crypto_generichash_update(&st, (const uint8_t *)DOMAIN_AUDIT_ENTRY, sizeof(DOMAIN_AUDIT_ENTRY));
	crypto_generichash_update(&st, entry, len);
	crypto_generichash_final(&st, out, AUDIT_HASH_LEN);
}

int audit_entry_parse(const uint8_t *entry, size_t len, struct audit_head *head,
		      int (*fn)(void *arg, int tag, const uint8_t *value, size_t len), void *arg,
		      char *why, size_t why_len)
{
	size_t off, n_ids = 0;

	if (len < AUDIT_ENTRY_HEAD_LEN || len > AUDIT_ENTRY_MAX) {
		snprintf(why, why_len, "entry is %zu bytes (a valid one has %d to %u)", len,
			 AUDIT_ENTRY_HEAD_LEN, AUDIT_ENTRY_MAX);
		return LIMES_E_ENV_MALFORMED;
	}
	if (memcmp(entry, AUDIT_MAGIC, AUDIT_MAGIC_LEN) != 0) {
		snprintf(why, why_len, "entry does not start with \"%s\"", AUDIT_MAGIC);
		return LIMES_E_ENV_MALFORMED;
	}
	head->seq = be64_get(entry + 4);
	head->time_ms = be64_get(entry + 12);
	head->kind = entry[20];
	memcpy(head->prev, entry + 21, AUDIT_HASH_LEN);
	if (!audit_kind_name(head->kind)) {
		snprintf(why, why_len, "unknown entry kind %d", head->kind);
		return LIMES_E_ENV_MALFORMED;
	}
	for (off = AUDIT_ENTRY_HEAD_LEN; off < len;) {
		int tag;
		size_t vlen;
		if (len - off < 3) {
			snprintf(why, why_len, "field at byte %zu is truncated", off);
			return LIMES_E_ENV_MALFORMED;
		}
		tag = entry[off];
		vlen = ((size_t)entry[off + 1] << 8) | entry[off + 2];
		if (len - off - 3 < vlen) {
			snprintf(why, why_len, "field at byte %zu runs past the end", off);
			return LIMES_E_ENV_MALFORMED;
		}
		if (!audit_tag_name(tag)) {
			snprintf(why, why_len, "unknown field tag %d at byte %zu", tag, off);
			return LIMES_E_ENV_MALFORMED;
		}
		if (audit_tag_form(tag) == AUDIT_U64 && vlen != 8) {
			snprintf(why, why_len, "field %s at byte %zu is %zu bytes, not 8", audit_tag_name(tag),
				 off, vlen);
			return LIMES_E_ENV_MALFORMED;
		}
		/* in a batch an id opens a message: it must be one */
		if (tag == AUDIT_T_ID && audit_kind_is_batch(head->kind) && vlen != AUDIT_ID_LEN) {
			snprintf(why, why_len, "id at byte %zu is %zu bytes, not %d", off, vlen, AUDIT_ID_LEN);
			return LIMES_E_ENV_MALFORMED;
		}
		n_ids += tag == AUDIT_T_ID;
		if (fn) {
			int rc = fn(arg, tag, entry + off + 3, vlen);
			if (rc)
				return rc;
		}
		off += 3 + vlen;
	}
	if (n_ids == 0 && audit_kind_is_batch(head->kind)) {
		snprintf(why, why_len, "a %s entry names no message", audit_kind_name(head->kind));
		return LIMES_E_ENV_MALFORMED;
	}
	return 0;
}

int audit_checkpoint_body(const char *agent_id, uint64_t seq, const uint8_t head[AUDIT_HASH_LEN],
			  uint64_t time_ms, uint8_t *out)
{
	size_t n = agent_id ? strlen(agent_id) : 0;
	uint8_t *p = out;

	if (n == 0 || n > AGENT_ID_MAX)
		return LIMES_E_INVAL;
	*p++ = (uint8_t)n;
	memcpy(p, agent_id, n);
	p += n;
	be64_put(p, seq);
	p += 8;
	memcpy(p, head, AUDIT_HASH_LEN);
	p += AUDIT_HASH_LEN;
	be64_put(p, time_ms);
	p += 8;
	return (int)(p - out);
}

int audit_checkpoint_parse(const uint8_t *body, size_t len, char agent_id[65], uint64_t *seq,
			   uint8_t head[AUDIT_HASH_LEN], uint64_t *time_ms)
{
	size_t n;

	if (len < 1)
		return LIMES_E_ENV_MALFORMED;
	n = body[0];
	if (n == 0 || n > AGENT_ID_MAX || len != 1 + n + 8 + AUDIT_HASH_LEN + 8)
		return LIMES_E_ENV_MALFORMED;
	memcpy(agent_id, body + 1, n);
	agent_id[n] = '\0';
	if (memchr(agent_id, '\0', n))
		return LIMES_E_ENV_MALFORMED;
	*seq = be64_get(body + 1 + n);
	memcpy(head, body + 1 + n + 8, AUDIT_HASH_LEN);
	*time_ms = be64_get(body + 1 + n + 8 + AUDIT_HASH_LEN);
	return 0;
}

/* domain || prefix || body || tail: the bytes a signature covers, bounded. */
static size_t signed_bytes(uint8_t *out, size_t cap, const char *domain, size_t domain_len,
			   const char *id, const uint8_t *body, size_t len, const uint8_t *tail,
			   size_t tail_len)
{
	size_t n = 0;
	size_t id_len = id ? strlen(id) : 0;

	if (domain_len + 1 + id_len + len + tail_len > cap || id_len > AGENT_ID_MAX)
		return 0;
	memcpy(out, domain, domain_len);
	n = domain_len;
	if (id) {
		out[n++] = (uint8_t)id_len;
		memcpy(out + n, id, id_len);
		n += id_len;
	}
	memcpy(out + n, body, len);
	n += len;
	if (tail_len) {
		memcpy(out + n, tail, tail_len);
		n += tail_len;
	}
	return n;
}

#define SIGNED_CAP (64 + 1 + AGENT_ID_MAX + AUDIT_CHECKPOINT_MAX + AUDIT_SIG_LEN)

int audit_checkpoint_sign(const struct identity *me, const uint8_t *body, size_t len,
			  uint8_t sig[AUDIT_SIG_LEN])
{
	uint8_t msg[SIGNED_CAP];
	size_t n = signed_bytes(msg, sizeof(msg), DOMAIN_AUDIT_CHECKPOINT, sizeof(DOMAIN_AUDIT_CHECKPOINT),
				NULL, body, len, NULL, 0);

	if (n == 0 || len > AUDIT_CHECKPOINT_MAX)
		return LIMES_E_INVAL;
	crypto_sign_detached(sig, NULL, msg, n, identity_sign_sk(me));
	return 0;
}

int audit_checkpoint_verify(const uint8_t sign_pk[32], const uint8_t *body, size_t len,
			    const uint8_t sig[AUDIT_SIG_LEN])
{
	uint8_t msg[SIGNED_CAP];
	size_t n = signed_bytes(msg, sizeof(msg), DOMAIN_AUDIT_CHECKPOINT, sizeof(DOMAIN_AUDIT_CHECKPOINT),
				NULL, body, len, NULL, 0);

	if (n == 0 || len > AUDIT_CHECKPOINT_MAX)
		return LIMES_E_ENV_BAD_SIG;
	return crypto_sign_verify_detached(sig, msg, n, sign_pk) == 0 ? 0 : LIMES_E_ENV_BAD_SIG;
}

int audit_countersign(const struct identity *me, const char *my_id, const uint8_t *body, size_t len,
		      const uint8_t sig[AUDIT_SIG_LEN], uint8_t countersig[AUDIT_SIG_LEN])
{
	uint8_t msg[SIGNED_CAP];
	size_t n = signed_bytes(msg, sizeof(msg), DOMAIN_AUDIT_COUNTERSIGN,
				sizeof(DOMAIN_AUDIT_COUNTERSIGN), my_id, body, len, sig, AUDIT_SIG_LEN);

	if (n == 0 || len > AUDIT_CHECKPOINT_MAX || !my_id || !*my_id)
		return LIMES_E_INVAL;
	crypto_sign_detached(countersig, NULL, msg, n, identity_sign_sk(me));
	return 0;
}

int audit_countersign_verify(const uint8_t sign_pk[32], const char *signer_id, const uint8_t *body,
			     size_t len, const uint8_t sig[AUDIT_SIG_LEN],
			     const uint8_t countersig[AUDIT_SIG_LEN])
{
	uint8_t msg[SIGNED_CAP];
	size_t n = signed_bytes(msg, sizeof(msg), DOMAIN_AUDIT_COUNTERSIGN,
				sizeof(DOMAIN_AUDIT_COUNTERSIGN), signer_id, body, len, sig, AUDIT_SIG_LEN);

	if (n == 0 || len > AUDIT_CHECKPOINT_MAX || !signer_id || !*signer_id)
		return LIMES_E_ENV_BAD_SIG;
	return crypto_sign_verify_detached(countersig, msg, n, sign_pk) == 0 ? 0 : LIMES_E_ENV_BAD_SIG;
}
