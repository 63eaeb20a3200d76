/*
 * The audit trail's bytes: entries (a tag-length-value record chained by the
 * hash of the previous one), their BLAKE2b-256 hash, checkpoints (a signed
 * chain head) and neighbours' countersignatures. One place builds and reads
 * these bytes, so the agent that writes the trail and `limes audit verify`
 * agree; docs/audit.md gives them exactly, for verifiers written elsewhere.
 * Holds no state; nothing here keeps a pointer it is handed.
 */
#ifndef LIMES_CRYPTO_AUDIT_H
#define LIMES_CRYPTO_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct identity;

#define AUDIT_HASH_LEN 32
#define AUDIT_SIG_LEN 64
#define AUDIT_ID_LEN 16
#define AUDIT_MAGIC "LAE1"
#define AUDIT_MAGIC_LEN 4
/* magic, seq, time, kind, previous hash */
#define AUDIT_ENTRY_HEAD_LEN (AUDIT_MAGIC_LEN + 8 + 8 + 1 + AUDIT_HASH_LEN)
/* Largest entry: a consultation of 1,000 ids fits with room to spare. */
#define AUDIT_ENTRY_MAX (64u * 1024u)
/* Checkpoint body: id length, id (1..64), seq, head, time. */
#define AUDIT_CHECKPOINT_MAX (1 + 64 + 8 + AUDIT_HASH_LEN + 8)

/* What an entry records. Numbers are part of the format: never reuse one. */
#define AUDIT_KINDS(X) \
	X(SUBMITTED, 1, "submitted")  /* a client's message accepted into the outbox */ \
	X(SENT, 2, "sent")            /* an envelope handed to a peer (attempt n) */ \
	X(RECEIPT, 3, "receipt")      /* a verified receipt: delivered or rejected */ \
	X(RECEIVED, 4, "received")    /* an envelope accepted into the inbox */ \
	X(RELAYED, 5, "relayed")      /* an envelope for a third agency queued on */ \
	X(REFUSED, 6, "refused")      /* a peer's envelope refused, with the reason */ \
	X(READ, 7, "read")            /* a client consulted inbox messages (ids) */ \
	X(DENIED, 8, "denied")        /* a client's request refused for want of a right */ \
	X(REQUEUED, 9, "requeued")    /* an expired or rejected message sent again */ \
	X(EXPIRED, 10, "expired")     /* a delivery's TTL passed undelivered */ \
	X(PURGED, 11, "purged")       /* retention removed bodies (counts only) */ \
	X(CONFIG, 12, "config")       /* configuration loaded or reloaded (its hash) */ \
	X(KEY, 13, "key")             /* the agent's or a peer's key in use changed */ \
	X(SUBMITTED_BATCH, 14, "submitted_batch") /* one submission's messages accepted */ \
	X(SENT_BATCH, 15, "sent_batch")           /* one fill of envelopes handed to a peer */ \
	X(RECEIPT_BATCH, 16, "receipt_batch")     /* one verified receipt's deliveries */ \
	X(RECEIVED_BATCH, 17, "received_batch")   /* one commit's envelopes accepted */

#define AUDIT_KIND_ENUM(name, value, text) AUDIT_##name = value,
enum audit_kind { AUDIT_KINDS(AUDIT_KIND_ENUM) };
#undef AUDIT_KIND_ENUM

/* Field tags; the value's form follows from the tag. Numbers are part of the
 * format. Repeating tags (RECIPIENT, ID in a READ) appear once per value. */
#define AUDIT_TAGS(X) \
	X(CLIENT, 1, "client", AUDIT_TEXT) \
	X(PEER, 2, "peer", AUDIT_TEXT) \
	X(ID, 3, "id", AUDIT_BYTES) \
	X(TYPE, 4, "type", AUDIT_TEXT) \
	X(RECIPIENT, 5, "recipient", AUDIT_TEXT) \
	X(BODY_HASH, 6, "body_hash", AUDIT_BYTES) \
	X(ATTEMPT, 7, "attempt", AUDIT_U64) \
	X(STATUS, 8, "status", AUDIT_TEXT) \
	X(REASON, 9, "reason", AUDIT_TEXT) \
	X(RECEIPT_HASH, 10, "receipt_hash", AUDIT_BYTES) \
	X(AUTHOR, 11, "author", AUDIT_TEXT) \
	X(CONFIG_HASH, 12, "config_hash", AUDIT_BYTES) \
	X(KEY_ID, 13, "key_id", AUDIT_BYTES) \
	X(COUNT, 14, "count", AUDIT_U64) \
	X(DETAIL, 15, "detail", AUDIT_TEXT) \
	X(ENVELOPE_HASH, 16, "envelope_hash", AUDIT_BYTES) \
	X(RIGHT, 17, "right", AUDIT_TEXT)

enum audit_value_form { AUDIT_TEXT = 1, AUDIT_BYTES = 2, AUDIT_U64 = 3 };
#define AUDIT_TAG_ENUM(name, value, text, form) AUDIT_T_##name = value,
enum audit_tag { AUDIT_TAGS(AUDIT_TAG_ENUM) };
#undef AUDIT_TAG_ENUM

/* A batch kind (14-17) names several messages: the fields before its first
 * `id` are common to all of them; each `id` opens one message, and the
 * fields after it, up to the next `id`, are that message's. */
bool audit_kind_is_batch(int kind);
/* Name of a kind ("submitted") or NULL; static storage. */
const char *audit_kind_name(int kind);
/* Kind of a name, or a negative LIMES_E_NOTFOUND. */
int audit_kind_from_name(const char *name);
/* Name of a tag ("client") and its value form; NULL / 0 when unknown. */
const char *audit_tag_name(int tag);
int audit_tag_form(int tag);

/* An entry being built, in memory the caller holds (on the stack is fine). */
struct audit_builder {
	uint8_t buf[AUDIT_ENTRY_MAX];
	size_t len;
	bool overflow;             /* a field did not fit: the entry is refused */
};

/* Starts an entry: magic, seq, time, kind, the previous entry's hash (all
 * zero for seq 1). */
void audit_begin(struct audit_builder *b, uint64_t seq, uint64_t time_ms, int kind,
		 const uint8_t prev[AUDIT_HASH_LEN]);
/* Adds a field; text without its NUL; NULL or "" text adds nothing. */
void audit_put_text(struct audit_builder *b, int tag, const char *text);
void audit_put_bytes(struct audit_builder *b, int tag, const uint8_t *bytes, size_t len);
void audit_put_u64(struct audit_builder *b, int tag, uint64_t v);

/* BLAKE2b-256("limes/audit-entry/v1\0" || entry) into the caller's out. */
void audit_entry_hash(const uint8_t *entry, size_t len, uint8_t out[AUDIT_HASH_LEN]);

/* The fixed head of an entry, read back. */
struct audit_head {
	uint64_t seq;
	uint64_t time_ms;
	int kind;
	uint8_t prev[AUDIT_HASH_LEN];
};
/* Checks an entry's framing (magic, head, every field's tag and length, no
 * byte left over) and reads its head into the caller's *head; calls fn (may
 * be NULL) for each field in order, with the value lent for the call only
 * (non-zero from fn stops: returned as is). LIMES_E_ENV_MALFORMED with the
 * reason in why when the bytes are not a well-formed entry. */
int audit_entry_parse(const uint8_t *entry, size_t len, struct audit_head *head,
		      int (*fn)(void *arg, int tag, const uint8_t *value, size_t len), void *arg,
		      char *why, size_t why_len);

/* Builds a checkpoint body (id length, id, seq, head, time) into the
 * caller's out (AUDIT_CHECKPOINT_MAX); returns its length, or a negative
 * LIMES_E_INVAL for an id of 0 or more than 64 bytes. */
int audit_checkpoint_body(const char *agent_id, uint64_t seq, const uint8_t head[AUDIT_HASH_LEN],
			  uint64_t time_ms, uint8_t *out);
/* Reads a checkpoint body back: the id into agent_id (65 bytes), the rest
 * into the caller's variables. LIMES_E_ENV_MALFORMED when it does not parse. */
int audit_checkpoint_parse(const uint8_t *body, size_t len, char agent_id[65], uint64_t *seq,
			   uint8_t head[AUDIT_HASH_LEN], uint64_t *time_ms);
/* Ed25519 signature by `me` over "limes/audit-checkpoint/v1\0" || body. */
int audit_checkpoint_sign(const struct identity *me, const uint8_t *body, size_t len,
			  uint8_t sig[AUDIT_SIG_LEN]);
/* 0 when sig is the signature of sign_pk over the checkpoint, else
 * LIMES_E_ENV_BAD_SIG. */
int audit_checkpoint_verify(const uint8_t sign_pk[32], const uint8_t *body, size_t len,
			    const uint8_t sig[AUDIT_SIG_LEN]);
/* Ed25519 signature by `me` (whose agency id is my_id) over
 * "limes/audit-countersign/v1\0" || len(my_id) || my_id || body || sig. */
int audit_countersign(const struct identity *me, const char *my_id, const uint8_t *body, size_t len,
		      const uint8_t sig[AUDIT_SIG_LEN], uint8_t countersig[AUDIT_SIG_LEN]);
/* 0 when countersig is signer's (sign_pk, signer_id) countersignature of the
 * checkpoint (body, sig), else LIMES_E_ENV_BAD_SIG. */
int audit_countersign_verify(const uint8_t sign_pk[32], const char *signer_id, const uint8_t *body,
			     size_t len, const uint8_t sig[AUDIT_SIG_LEN],
			     const uint8_t countersig[AUDIT_SIG_LEN]);

/* ---- audit_json.c: the JSON-lines form (docs/audit.md) ---- */
#include <jansson.h>

/* One entry as a JSON object (record "entry": seq, time, kind, its fields
 * by name, prev, hash, bytes in hex; a batch kind's messages as an array
 * "messages" of objects, each with its id and its own fields); NULL when out
 * of memory. Caller owns it. */
json_t *audit_entry_to_json(const uint8_t *entry, size_t len, const uint8_t *hash, size_t hash_len);
/* A checkpoint as a JSON object of `record` ("checkpoint", "countersignature"
 * or "kept"): agent, seq, head, time, body, sig and, when given, the
 * countersigner and countersig. Caller owns it; NULL when out of memory. */
json_t *audit_checkpoint_to_json(const char *record, const char *peer, const uint8_t *body, size_t len,
				 const uint8_t sig[AUDIT_SIG_LEN], const uint8_t *countersig);
/* True when a PEER, RECIPIENT or AUTHOR field of the entry is `peer`. */
bool audit_entry_names_peer(const uint8_t *entry, size_t len, const char *peer);
/* "2026-12-01T10:00:00Z" (fraction optional), "2026-12-01", or unix ms into
 * *ms; LIMES_E_INVAL otherwise. */
int audit_parse_time(const char *text, uint64_t *ms);

#endif
