/*
 * The protocol's wire encoding: Header, Envelope, ReceiptBody, Receipt,
 * Heartbeat and Frame as plain C structs, packed to and unpacked from the
 * protobuf (proto2) bytes of proto/limes.proto. Only this file's .c sees
 * protobuf-c. Every unpack refuses input larger than its cap before decoding
 * and tells truncated input (a length or varint running past the end:
 * LIMES_E_ENV_TRUNCATED) from otherwise undecodable input
 * (LIMES_E_ENV_MALFORMED) with a walk over the top-level fields.
 */
#ifndef LIMES_PROTO_WIRE_H
#define LIMES_PROTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_ID_LEN 16
#define WIRE_KEY_ID_LEN 8
#define WIRE_NONCE_LEN 24
#define WIRE_SIG_LEN 64
/* Largest audit checkpoint body: id length, id (64), seq, head, time. */
#define WIRE_AUDIT_BODY_MAX (1 + 64 + 8 + 32 + 8)
/* A key update's body (crypto/keyupdate.h): id_len, id, seq, time, four keys. */
#define WIRE_KEY_UPDATE_BODY_MAX (1 + 64 + 8 + 8 + 4 * 32)
/* A key update's answer: seq(8) || next key id(8) || state(1). */
#define WIRE_KEY_UPDATE_ACK_LEN 17
/* The envelope type carrying a KeyUpdate or KeyUpdateAck frame end to end
 * to a peer reached through a relay (docs/protocol.md "Key rotation through
 * a relay"); not a message type of the API. */
#define WIRE_TYPE_KEY_ROTATION 30
/* A resend request's body (crypto/resend.h): two ids with their lengths, since, time. */
#define WIRE_RESEND_BODY_MAX (1 + 64 + 1 + 64 + 8 + 8)
/* A resend request's answer: time(8) || count(4) || status(1). */
#define WIRE_RESEND_ACK_LEN 13
#define WIRE_HASH_LEN 32
#define WIRE_AGENCY_MAX 64    /* agency ids: 1..64 of [A-Za-z0-9._-] */
#define WIRE_DETAIL_MAX 256   /* receipt entry detail, bytes */
#define WIRE_RECEIPT_MAX_ENTRIES 1024      /* entries in one receipt: more is malformed */
#define WIRE_RECEIPT_MAX_BYTES (64 * 1024) /* a serialized Receipt never exceeds this */
#define WIRE_VERSION_MAJOR 1
#define WIRE_VERSION_BATCH 2          /* protocol v2: batch-signed envelopes */
#define WIRE_BATCH_MAX 1024           /* leaves in one v2 batch tree */
#define WIRE_BATCH_DEPTH_MAX 10       /* log2(WIRE_BATCH_MAX): hashes in a proof at most */

/* MessageType values. */
enum wire_type {
	WIRE_TYPE_ALERT = 1,
	WIRE_TYPE_PRE_ARRIVAL = 2,
	WIRE_TYPE_CONTROL_RESULT = 3,
};

/* Priority values. */
enum wire_priority {
	WIRE_PRIORITY_NORMAL = 0,
	WIRE_PRIORITY_URGENT = 1,
};

/* ReceiptStatus values; RejectReason values are those of limes.proto. */
enum wire_receipt_status {
	WIRE_RECEIPT_ACCEPTED = 1,
	WIRE_RECEIPT_DUPLICATE = 2,
	WIRE_RECEIPT_REJECTED = 3,
};

/* Header, with fixed-size fields. Optional fields absent on the wire read as their defaults. */
struct wire_header {
	uint32_t version_major;             /* 1 */
	uint32_t version_minor;             /* informational; always written */
	uint8_t message_id[WIRE_ID_LEN];
	char sender[WIRE_AGENCY_MAX + 1];
	char recipient[WIRE_AGENCY_MAX + 1];
	int type;                           /* enum wire_type; other values decode, the router refuses them */
	int priority;                       /* enum wire_priority; always written */
	uint64_t created_ms;
	uint64_t expires_ms;
	bool has_seq;
	uint64_t seq;
	uint8_t sender_key_id[WIRE_KEY_ID_LEN];
	uint8_t recipient_key_id[WIRE_KEY_ID_LEN];
	uint8_t nonce[WIRE_NONCE_LEN];
	bool has_ref;
	uint8_t ref[WIRE_ID_LEN];
	uint32_t schema_major;              /* 1 when absent; always written */
};

/* Envelope: the three byte strings exactly as received. On unpack the pointers are owned by `decoded` (wire_envelope_clear); on pack the caller's. */
struct wire_envelope {
	const uint8_t *header;
	size_t header_len;
	const uint8_t *ciphertext;
	size_t ciphertext_len;
	const uint8_t *signature;           /* WIRE_SIG_LEN bytes */
	/* protocol v2: the BatchProof (has_batch false for v1 envelopes);
	 * path is batch_path_len bytes, a multiple of WIRE_HASH_LEN */
	bool has_batch;
	uint32_t batch_index, batch_count;
	const uint8_t *batch_path;
	size_t batch_path_len;
	void *decoded;                      /* private */
};

struct wire_receipt_entry {
	uint8_t message_id[WIRE_ID_LEN];
	uint8_t envelope_hash[WIRE_HASH_LEN];
	int status;                         /* enum wire_receipt_status */
	int reason;                         /* RejectReason, 0 = none; always written */
	char detail[WIRE_DETAIL_MAX + 1];   /* "" = absent */
	bool has_received_ms;
	uint64_t received_ms;
};

/* ReceiptBody. On unpack `entries` is malloc'd and owned by the body (wire_receipt_body_clear); on pack the caller's. */
struct wire_receipt_body {
	char issuer[WIRE_AGENCY_MAX + 1];
	uint8_t issuer_key_id[WIRE_KEY_ID_LEN];
	char addressee[WIRE_AGENCY_MAX + 1];
	uint64_t issued_ms;
	size_t n_entries;
	struct wire_receipt_entry *entries;
};

/* Some bytes, borrowed. */
struct wire_span {
	const uint8_t *data;
	size_t len;
};

/* Receipt: body bytes exactly as received and the signature; a v2 receipt
 * (n_entries > 0) also its entries, each a serialized ReceiptEntry, as
 * received. Ownership as for wire_envelope (on unpack `entries` is owned by
 * r and freed by wire_receipt_clear). */
struct wire_receipt {
	const uint8_t *body;
	size_t body_len;
	const uint8_t *signature;           /* WIRE_SIG_LEN bytes */
	size_t n_entries;                   /* 0: v1 */
	const struct wire_span *entries;
	void *decoded;                      /* private */
};

/* Most relays_v2 ids one heartbeat reply says (more are left out: v1). */
#define WIRE_RELAYS_MAX 32
/* Most AcceptedType entries one heartbeat may carry (types are 1..31). */
#define WIRE_ACCEPTS_MAX 32

struct wire_accepted_type {
	uint32_t type;                      /* MessageType value, 1..31 */
	uint32_t schema_major;              /* highest body schema major read */
};

struct wire_heartbeat {
	uint64_t sent_ms;
	bool has_echo;                      /* echo_sent_ms and echo_received_ms present */
	uint64_t echo_sent_ms;
	uint64_t echo_received_ms;
	bool reply;
	uint32_t protocol;                  /* highest envelope version the sender accepts; 0 = absent (v1) */
	bool has_accepts;                   /* the sender said what it accepts (absent from older agents) */
	size_t n_accepts;
	struct wire_accepted_type accepts[WIRE_ACCEPTS_MAX];
	/* agencies the replier relays v2 envelopes to; ids beyond the first
	 * WIRE_RELAYS_MAX, or not valid agency ids, are left out (they get v1) */
	size_t n_relays_v2;
	char relays_v2[WIRE_RELAYS_MAX][WIRE_AGENCY_MAX + 1];
};

enum wire_frame_kind {
	WIRE_FRAME_ENVELOPE = 1,
	WIRE_FRAME_RECEIPT = 2,
	WIRE_FRAME_HEARTBEAT = 3,
	WIRE_FRAME_GOODBYE = 8,      /* no payload: the sender is stopping cleanly */
	WIRE_FRAME_AUDIT_CHECKPOINT = 10,  /* bytes: checkpoint body, sig: author's signature */
	WIRE_FRAME_AUDIT_COUNTERSIGN = 11, /* bytes: checkpoint body, sig: the countersignature */
	WIRE_FRAME_KEY_UPDATE = 24,        /* bytes: body, sig: by the current key, sig2: by the next key */
	WIRE_FRAME_KEY_UPDATE_ACK = 25,    /* bytes: WIRE_KEY_UPDATE_ACK_LEN bytes */
	WIRE_FRAME_AUDIT_KEPT_REQUEST = 14, /* kept_limit: which of my checkpoints do you keep? */
	WIRE_FRAME_AUDIT_KEPT = 15,        /* bytes: a serialized AuditKept (wire_audit_kept_*) */
	WIRE_FRAME_RESEND_REQUEST = 30,    /* bytes: body, sig: by the asker's key */
	WIRE_FRAME_RESEND_ACK = 31,        /* bytes: WIRE_RESEND_ACK_LEN bytes */
};

/* The most kept checkpoints one AuditKept answer carries. */
#define WIRE_AUDIT_KEPT_MAX 256

/* Frame: one link message. For ENVELOPE and RECEIPT, bytes/len is the serialized Envelope or Receipt; on unpack it points into the caller's input buffer (no copy), so it lives as long as that buffer. */
struct wire_frame {
	enum wire_frame_kind kind;
	const uint8_t *bytes;
	size_t len;
	struct wire_heartbeat heartbeat;    /* for HEARTBEAT */
	const uint8_t *sig;                 /* for the AUDIT kinds, KEY_UPDATE, RESEND_REQUEST: WIRE_SIG_LEN bytes */
	const uint8_t *sig2;                /* for KEY_UPDATE: the next key's signature, WIRE_SIG_LEN bytes */
	uint32_t kept_limit;                /* for AUDIT_KEPT_REQUEST: 1..WIRE_AUDIT_KEPT_MAX */
};

/* One checkpoint of an AuditKept answer, copied out of the frame. */
struct wire_kept_checkpoint {
	uint8_t body[WIRE_AUDIT_BODY_MAX];
	size_t body_len;
	uint8_t sig[WIRE_SIG_LEN];
	uint8_t countersig[WIRE_SIG_LEN];
};
/* Serializes an AuditKept of n (at most WIRE_AUDIT_KEPT_MAX) checkpoints
 * into *out (malloc'd, caller frees); LIMES_E_INVAL on a body out of range. */
int wire_audit_kept_pack(const struct wire_kept_checkpoint *cps, size_t n, uint64_t kept_total, uint8_t **out,
			 size_t *out_len);
/* Decodes an AuditKept into the caller's cps (room for max), *n and
 * *kept_total; LIMES_E_ENV_MALFORMED on a body or signature of the wrong
 * size or more checkpoints than max. */
int wire_audit_kept_unpack(const uint8_t *buf, size_t len, struct wire_kept_checkpoint *cps, size_t max, size_t *n,
			   uint64_t *kept_total);

/* Checks an agency id: 1..64 characters of [A-Za-z0-9._-]. 0 or LIMES_E_INVAL. */
int wire_agency_id_check(const char *id);

/* Serializes h into *out (malloc'd, caller frees); LIMES_E_INVAL if a field is out of range. */
int wire_header_pack(const struct wire_header *h, uint8_t **out, size_t *out_len);
/* Decodes at most max bytes into the caller's h, validating lengths and agency ids. */
int wire_header_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_header *h);

/* Serializes e (caller's pointers) into *out (malloc'd, caller frees). */
int wire_envelope_pack(const struct wire_envelope *e, uint8_t **out, size_t *out_len);
/* Decodes at most max bytes into e; on success release e with wire_envelope_clear. The signature must be 64 bytes. */
int wire_envelope_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_envelope *e);
/* Frees what wire_envelope_unpack allocated and zeroes e; accepts a zeroed or NULL e. */
void wire_envelope_clear(struct wire_envelope *e);
/* The serialized Header inside an envelope of at most max bytes, without
 * decoding the rest: *header points into buf (borrowed, header_len bytes).
 * The top-level fields are walked as wire_envelope_unpack walks them and the
 * header and a 64-byte signature must be there; nothing else of the envelope
 * is checked (a look before anything is opened, not a verdict). 0 or
 * LIMES_E_ENV_*. */
int wire_envelope_header(const uint8_t *buf, size_t len, size_t max, const uint8_t **header, size_t *header_len);

/* Serializes b into *out (malloc'd, caller frees); LIMES_E_INVAL if a field is out of range. */
int wire_receipt_body_pack(const struct wire_receipt_body *b, uint8_t **out, size_t *out_len);
/* Decodes at most max bytes into b; on success release b with wire_receipt_body_clear. */
int wire_receipt_body_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_receipt_body *b);
/* Frees the entries wire_receipt_body_unpack allocated and zeroes b; accepts NULL. */
void wire_receipt_body_clear(struct wire_receipt_body *b);

/* Serializes one ReceiptEntry (a v2 receipt's leaf) into *out (malloc'd, caller frees). */
int wire_receipt_entry_pack(const struct wire_receipt_entry *e, uint8_t **out, size_t *out_len);
/* Decodes one ReceiptEntry of at most max bytes into the caller's e. */
int wire_receipt_entry_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_receipt_entry *e);

/* Serializes r (caller's pointers) into *out (malloc'd, caller frees). */
int wire_receipt_pack(const struct wire_receipt *r, uint8_t **out, size_t *out_len);
/* Decodes at most max bytes into r; release with wire_receipt_clear. The signature must be 64 bytes. */
int wire_receipt_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_receipt *r);
/* Frees what wire_receipt_unpack allocated and zeroes r; accepts NULL. */
void wire_receipt_clear(struct wire_receipt *r);

/* Serializes f into *out (malloc'd, caller frees); f->bytes is the serialized Envelope or Receipt.
 * An envelope or receipt frame's bytes end with f->bytes as given (its last f->len bytes). */
int wire_frame_pack(const struct wire_frame *f, uint8_t **out, size_t *out_len);
/* The largest envelope (or receipt) that a frame of at most max_frame bytes
 * carries: the one place that says how big a message may be to cross a
 * link, so submission refuses what the link could never deliver. */
size_t wire_frame_payload_max(size_t max_frame);
/* Decodes at most max bytes into f, which then points into buf; exactly one kind must be present. Nothing to free. */
int wire_frame_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_frame *f);

#endif
