/*
 * The wire encoding of envelopes, receipts and link frames over protobuf-c.
 * Owns nothing beyond what each unpack hands to its caller. Input is checked
 * against the caller's cap first, then walked field by field at the top level
 * (to tell truncated from malformed and to see the raw bytes of each field),
 * then decoded by protobuf-c and its lengths and identifiers validated.
 */
#include "proto/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "pbjson_impl.h"
#include "proto/reason.h"
#include "proto/sizes.h"

/* proto/reason.h and limes.proto must agree on every reason number. */
#define LIMES_REASON_CHECK(name, num, id, e) \
	_Static_assert((int)REASON_##name == (int)LIMES__REJECT_REASON__REJECT_REASON_##name, "reason " #name " differs from limes.proto");
LIMES_REASONS(LIMES_REASON_CHECK)
#undef LIMES_REASON_CHECK

/* Where a top-level field was seen last and how often. */
struct span {
	const uint8_t *p;
	size_t len;
	unsigned count;
	unsigned wire_type;
};

#define MAX_FIELD 32

static int read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 10; i++) {
		if (*pos >= len)
			return LIMES_E_ENV_TRUNCATED;
		uint8_t b = buf[(*pos)++];
		if (i == 9 && b > 1)
			return LIMES_E_ENV_MALFORMED;  /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return LIMES_E_ENV_MALFORMED;
}

/*
 * Walks the top-level fields of a protobuf message: a tag, length or fixed
 * value running past the end is truncation, anything else that cannot be a
 * field (field 0, groups, wire types 6/7) is malformed. Records fields
 * 1..MAX_FIELD-1 in spans; does not look inside length-delimited fields.
 */
static int walk(const uint8_t *buf, size_t len, struct span spans[MAX_FIELD])
{
	size_t pos = 0;
	int rc;

	memset(spans, 0, sizeof(struct span) * MAX_FIELD);
	while (pos < len) {
		uint64_t tag, value;
		size_t start;

		if ((rc = read_varint(buf, len, &pos, &tag)) < 0)
			return rc;
		if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
			return LIMES_E_ENV_MALFORMED;
		start = pos;
		switch (tag & 7) {
		case 0:
			if ((rc = read_varint(buf, len, &pos, &value)) < 0)
				return rc;
			break;
		case 1:
			if (len - pos < 8)
				return LIMES_E_ENV_TRUNCATED;
			pos += 8;
			break;
		case 2:
			if ((rc = read_varint(buf, len, &pos, &value)) < 0)
				return rc;
			if (value > len - pos)
				return LIMES_E_ENV_TRUNCATED;
			start = pos;
			pos += (size_t)value;
			break;
		case 5:
			if (len - pos < 4)
				return LIMES_E_ENV_TRUNCATED;
			pos += 4;
			break;
		default:
			return LIMES_E_ENV_MALFORMED;
		}
		if (tag >> 3 < MAX_FIELD) {
			struct span *s = &spans[tag >> 3];

			s->p = buf + start;
			s->len = pos - start;
			s->count++;
			s->wire_type = (unsigned)(tag & 7);
		}
	}
	return 0;
}

/* Zeroes the caller's result (*result_size bytes), then the size cap and the
 * walk; 0 when protobuf-c may decode it. */
static int precheck(const uint8_t *buf, size_t len, size_t max, void *result, size_t result_size,
		    struct span spans[MAX_FIELD])
{
	if (!result)
		return LIMES_E_INVAL;
	memset(result, 0, result_size);
	if (len > max)
		return LIMES_E_ENV_OVERSIZED;
	if (!buf || len == 0)
		return LIMES_E_ENV_TRUNCATED;
	return walk(buf, len, spans);
}

int wire_agency_id_check(const char *id)
{
	size_t n;

	if (!id)
		return LIMES_E_INVAL;
	n = strlen(id);
	if (n < 1 || n > WIRE_AGENCY_MAX)
		return LIMES_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return LIMES_E_INVAL;
	}
	return 0;
}

/* A decoded agency id is valid and its raw bytes held no NUL that C would cut at. */
static bool agency_ok(const char *decoded, const struct span *raw)
{
	return wire_agency_id_check(decoded) == 0 && raw->count && raw->len == strlen(decoded);
}

static bool bytes_ok(const ProtobufCBinaryData *b, size_t want)
{
	return b->len == want && b->data;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t len)
{
	ProtobufCBinaryData b = { len, (uint8_t *)p };

	return b;
}

/* Packs any message into a fresh malloc'd buffer. */
static int pack_message(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		return LIMES_E_NOMEM;
	if (protobuf_c_message_pack(m, buf) != n) {
		free(buf);
		return LIMES_E_INVAL;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

/* ------------------------------------------------------------ header */

int wire_header_pack(const struct wire_header *h, uint8_t **out, size_t *out_len)
{
	Limes__Header m = LIMES__HEADER__INIT;

	if (!h || !out || !out_len)
		return LIMES_E_INVAL;
	if (wire_agency_id_check(h->sender) < 0 || wire_agency_id_check(h->recipient) < 0)
		return LIMES_E_INVAL;
	m.version_major = h->version_major;
	m.has_version_minor = 1;
	m.version_minor = h->version_minor;
	m.message_id = bin(h->message_id, WIRE_ID_LEN);
	m.sender = (char *)h->sender;
	m.recipient = (char *)h->recipient;
	m.type = (Limes__MessageType)h->type;
	m.has_priority = 1;
	m.priority = (Limes__Priority)h->priority;
	m.created_ms = h->created_ms;
	m.expires_ms = h->expires_ms;
	m.has_seq = h->has_seq;
	m.seq = h->seq;
	m.sender_key_id = bin(h->sender_key_id, WIRE_KEY_ID_LEN);
	m.recipient_key_id = bin(h->recipient_key_id, WIRE_KEY_ID_LEN);
	m.nonce = bin(h->nonce, WIRE_NONCE_LEN);
	m.has_ref = h->has_ref;
	if (h->has_ref)
		m.ref = bin(h->ref, WIRE_ID_LEN);
	m.has_schema_major = 1;
	m.schema_major = h->schema_major;
	return pack_message(&m.base, out, out_len);
}

int wire_header_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_header *h)
{
	struct span spans[MAX_FIELD];
	Limes__Header *m;
	int rc;

	if ((rc = precheck(buf, len, max, h, sizeof(*h), spans)) < 0)
		return rc;
	/* decoded into a bump arena (its first block on the stack): the
	 * message lives only for this call, and its seven or so pieces would
	 * otherwise cost a malloc and a free each, on every envelope received */
	struct pbjson_arena arena;
	pbjson_arena_init(&arena);
	m = limes__header__unpack(&arena.allocator, len, buf);
	if (!m) {
		pbjson_arena_release(&arena);
		return LIMES_E_ENV_MALFORMED;
	}
	rc = LIMES_E_ENV_MALFORMED;
	if (!bytes_ok(&m->message_id, WIRE_ID_LEN) || !bytes_ok(&m->sender_key_id, WIRE_KEY_ID_LEN) ||
	    !bytes_ok(&m->recipient_key_id, WIRE_KEY_ID_LEN) || !bytes_ok(&m->nonce, WIRE_NONCE_LEN) ||
	    (m->has_ref && !bytes_ok(&m->ref, WIRE_ID_LEN)) ||
	    !agency_ok(m->sender, &spans[4]) || !agency_ok(m->recipient, &spans[5]))
		goto out;
	h->version_major = m->version_major;
	h->version_minor = m->has_version_minor ? m->version_minor : 0;
	memcpy(h->message_id, m->message_id.data, WIRE_ID_LEN);
	memcpy(h->sender, m->sender, strlen(m->sender) + 1);
	memcpy(h->recipient, m->recipient, strlen(m->recipient) + 1);
	h->type = (int)m->type;
	h->priority = m->has_priority ? (int)m->priority : WIRE_PRIORITY_NORMAL;
	h->created_ms = m->created_ms;
	h->expires_ms = m->expires_ms;
	h->has_seq = m->has_seq;
	h->seq = m->has_seq ? m->seq : 0;
	memcpy(h->sender_key_id, m->sender_key_id.data, WIRE_KEY_ID_LEN);
	memcpy(h->recipient_key_id, m->recipient_key_id.data, WIRE_KEY_ID_LEN);
	memcpy(h->nonce, m->nonce.data, WIRE_NONCE_LEN);
	h->has_ref = m->has_ref;
	if (m->has_ref)
		memcpy(h->ref, m->ref.data, WIRE_ID_LEN);
	h->schema_major = m->has_schema_major ? m->schema_major : 1;
	rc = 0;
out:
	pbjson_arena_release(&arena);
	if (rc < 0)
		memset(h, 0, sizeof(*h));
	return rc;
}

/* ------------------------------------------------------------ envelope */

int wire_envelope_pack(const struct wire_envelope *e, uint8_t **out, size_t *out_len)
{
	Limes__Envelope m = LIMES__ENVELOPE__INIT;

	if (!e || !out || !out_len || !e->header || !e->signature || (!e->ciphertext && e->ciphertext_len))
		return LIMES_E_INVAL;
	m.header = bin(e->header, e->header_len);
	m.ciphertext = bin(e->ciphertext, e->ciphertext_len);
	m.signature = bin(e->signature, WIRE_SIG_LEN);
	Limes__BatchProof bp = LIMES__BATCH_PROOF__INIT;
	if (e->has_batch) {
		if (e->batch_path_len % WIRE_HASH_LEN || (!e->batch_path && e->batch_path_len))
			return LIMES_E_INVAL;
		bp.index = e->batch_index;
		bp.count = e->batch_count;
		bp.has_path = e->batch_path_len > 0;
		bp.path = bin(e->batch_path, e->batch_path_len);
		m.batch = &bp;
	}
	return pack_message(&m.base, out, out_len);
}

int wire_envelope_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_envelope *e)
{
	struct span spans[MAX_FIELD];
	Limes__Envelope *m;
	int rc;

	if ((rc = precheck(buf, len, max, e, sizeof(*e), spans)) < 0)
		return rc;
	m = limes__envelope__unpack(NULL, len, buf);
	if (!m)
		return LIMES_E_ENV_MALFORMED;
	if (!bytes_ok(&m->signature, WIRE_SIG_LEN) || !m->header.len) {
		limes__envelope__free_unpacked(m, NULL);
		return LIMES_E_ENV_MALFORMED;
	}
	e->header = m->header.data;
	e->header_len = m->header.len;
	e->ciphertext = m->ciphertext.data;
	e->ciphertext_len = m->ciphertext.len;
	e->signature = m->signature.data;
	if (m->batch) {
		/* the proof's shape is checked by whoever folds it (crypto/batch.c) */
		if (m->batch->path.len % WIRE_HASH_LEN || m->batch->path.len > WIRE_BATCH_DEPTH_MAX * WIRE_HASH_LEN) {
			limes__envelope__free_unpacked(m, NULL);
			return LIMES_E_ENV_MALFORMED;
		}
		e->has_batch = true;
		e->batch_index = m->batch->index;
		e->batch_count = m->batch->count;
		e->batch_path = m->batch->path.data;
		e->batch_path_len = m->batch->path.len;
	}
	e->decoded = m;
	return 0;
}

int wire_envelope_header(const uint8_t *buf, size_t len, size_t max, const uint8_t **header, size_t *header_len)
{
	struct span spans[MAX_FIELD];
	int rc;

	if (!header || !header_len)
		return LIMES_E_INVAL;
	*header = NULL;
	if ((rc = precheck(buf, len, max, header_len, sizeof(*header_len), spans)) < 0)
		return rc;
	/* fields 1 (header) and 3 (signature), length-delimited; the last
	 * occurrence is the one protobuf keeps, as the walk records it */
	if (spans[1].wire_type != 2 || spans[1].len == 0 || spans[3].wire_type != 2 || spans[3].len != WIRE_SIG_LEN)
		return LIMES_E_ENV_MALFORMED;
	*header = spans[1].p;
	*header_len = spans[1].len;
	return 0;
}

void wire_envelope_clear(struct wire_envelope *e)
{
	if (!e)
		return;
	if (e->decoded)
		limes__envelope__free_unpacked(e->decoded, NULL);
	memset(e, 0, sizeof(*e));
}

/* ------------------------------------------------------------ receipts */

/* One ReceiptEntry to protobuf-c (pointing into src); LIMES_E_INVAL for an unterminated detail. */
static int entry_to_pb(const struct wire_receipt_entry *src, Limes__ReceiptEntry *dst)
{
	if (memchr(src->detail, '\0', sizeof(src->detail)) == NULL)
		return LIMES_E_INVAL;
	limes__receipt_entry__init(dst);
	dst->message_id = bin(src->message_id, WIRE_ID_LEN);
	dst->envelope_hash = bin(src->envelope_hash, WIRE_HASH_LEN);
	dst->status = (Limes__ReceiptStatus)src->status;
	dst->has_reason = 1;
	dst->reason = (Limes__RejectReason)src->reason;
	dst->detail = src->detail[0] ? (char *)src->detail : NULL;
	dst->has_received_ms = src->has_received_ms;
	dst->received_ms = src->received_ms;
	return 0;
}

/* One decoded ReceiptEntry into ours; LIMES_E_ENV_MALFORMED for wrong lengths. */
static int entry_from_pb(const Limes__ReceiptEntry *src, struct wire_receipt_entry *dst)
{
	size_t detail_len = src->detail ? strlen(src->detail) : 0;

	if (!bytes_ok(&src->message_id, WIRE_ID_LEN) || !bytes_ok(&src->envelope_hash, WIRE_HASH_LEN) ||
	    detail_len > WIRE_DETAIL_MAX)
		return LIMES_E_ENV_MALFORMED;
	memcpy(dst->message_id, src->message_id.data, WIRE_ID_LEN);
	memcpy(dst->envelope_hash, src->envelope_hash.data, WIRE_HASH_LEN);
	dst->status = (int)src->status;
	dst->reason = src->has_reason ? (int)src->reason : 0;
	if (detail_len)
		memcpy(dst->detail, src->detail, detail_len);
	dst->detail[detail_len] = '\0';
	dst->has_received_ms = src->has_received_ms;
	dst->received_ms = src->has_received_ms ? src->received_ms : 0;
	return 0;
}

int wire_receipt_entry_pack(const struct wire_receipt_entry *e, uint8_t **out, size_t *out_len)
{
	Limes__ReceiptEntry m;

	if (!e || !out || !out_len || entry_to_pb(e, &m) < 0)
		return LIMES_E_INVAL;
	return pack_message(&m.base, out, out_len);
}

int wire_receipt_entry_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_receipt_entry *e)
{
	struct span spans[MAX_FIELD];
	Limes__ReceiptEntry *m;
	int rc;

	if ((rc = precheck(buf, len, max, e, sizeof(*e), spans)) < 0)
		return rc;
	m = limes__receipt_entry__unpack(NULL, len, buf);
	if (!m)
		return LIMES_E_ENV_MALFORMED;
	rc = entry_from_pb(m, e);
	limes__receipt_entry__free_unpacked(m, NULL);
	if (rc < 0)
		memset(e, 0, sizeof(*e));
	return rc;
}

int wire_receipt_body_pack(const struct wire_receipt_body *b, uint8_t **out, size_t *out_len)
{
	Limes__ReceiptBody m = LIMES__RECEIPT_BODY__INIT;
	Limes__ReceiptEntry *entries = NULL, **ptrs = NULL;
	int rc = LIMES_E_INVAL;

	if (!b || !out || !out_len || (b->n_entries && !b->entries))
		return LIMES_E_INVAL;
	if (wire_agency_id_check(b->issuer) < 0 || wire_agency_id_check(b->addressee) < 0)
		return LIMES_E_INVAL;
	if (b->n_entries) {
		entries = calloc(b->n_entries, sizeof(*entries));
		ptrs = calloc(b->n_entries, sizeof(*ptrs));
		if (!entries || !ptrs) {
			rc = LIMES_E_NOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < b->n_entries; i++) {
		if (entry_to_pb(&b->entries[i], &entries[i]) < 0)
			goto out;
		ptrs[i] = &entries[i];
	}
	m.issuer = (char *)b->issuer;
	m.issuer_key_id = bin(b->issuer_key_id, WIRE_KEY_ID_LEN);
	m.addressee = (char *)b->addressee;
	m.issued_ms = b->issued_ms;
	m.n_entries = b->n_entries;
	m.entries = ptrs;
	rc = pack_message(&m.base, out, out_len);
out:
	free(ptrs);
	free(entries);
	return rc;
}

int wire_receipt_body_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_receipt_body *b)
{
	struct span spans[MAX_FIELD];
	Limes__ReceiptBody *m;
	int rc;

	if ((rc = precheck(buf, len, max, b, sizeof(*b), spans)) < 0)
		return rc;
	/* bound the work before protobuf-c allocates a message per entry */
	if (spans[5].count > WIRE_RECEIPT_MAX_ENTRIES)
		return LIMES_E_ENV_OVERSIZED;
	m = limes__receipt_body__unpack(NULL, len, buf);
	if (!m)
		return LIMES_E_ENV_MALFORMED;
	rc = LIMES_E_ENV_MALFORMED;
	if (!agency_ok(m->issuer, &spans[1]) || !agency_ok(m->addressee, &spans[3]) ||
	    !bytes_ok(&m->issuer_key_id, WIRE_KEY_ID_LEN))
		goto out;
	if (m->n_entries) {
		b->entries = calloc(m->n_entries, sizeof(*b->entries));
		if (!b->entries) {
			rc = LIMES_E_NOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < m->n_entries; i++)
		if (entry_from_pb(m->entries[i], &b->entries[i]) < 0)
			goto out;
	memcpy(b->issuer, m->issuer, strlen(m->issuer) + 1);
	memcpy(b->issuer_key_id, m->issuer_key_id.data, WIRE_KEY_ID_LEN);
	memcpy(b->addressee, m->addressee, strlen(m->addressee) + 1);
	b->issued_ms = m->issued_ms;
	b->n_entries = m->n_entries;
	rc = 0;
out:
	limes__receipt_body__free_unpacked(m, NULL);
	if (rc < 0)
		wire_receipt_body_clear(b);
	return rc;
}

void wire_receipt_body_clear(struct wire_receipt_body *b)
{
	if (!b)
		return;
	free(b->entries);
	memset(b, 0, sizeof(*b));
}

int wire_receipt_pack(const struct wire_receipt *r, uint8_t **out, size_t *out_len)
{
	Limes__Receipt m = LIMES__RECEIPT__INIT;

	if (!r || !out || !out_len || !r->body || !r->signature)
		return LIMES_E_INVAL;
	if (r->n_entries > WIRE_RECEIPT_MAX_ENTRIES || (r->n_entries && !r->entries))
		return LIMES_E_INVAL;
	m.body = bin(r->body, r->body_len);
	m.signature = bin(r->signature, WIRE_SIG_LEN);
	ProtobufCBinaryData *entries = NULL;
	if (r->n_entries) {
		entries = calloc(r->n_entries, sizeof(*entries));
		if (!entries)
			return LIMES_E_NOMEM;
		for (size_t i = 0; i < r->n_entries; i++)
			entries[i] = bin(r->entries[i].data, r->entries[i].len);
	}
	m.n_entries = r->n_entries;
	m.entries = entries;
	int rc = pack_message(&m.base, out, out_len);
	free(entries);
	return rc;
}

int wire_receipt_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_receipt *r)
{
	struct span spans[MAX_FIELD];
	Limes__Receipt *m;
	int rc;

	if ((rc = precheck(buf, len, max, r, sizeof(*r), spans)) < 0)
		return rc;
	/* bound the work before protobuf-c allocates per entry */
	if (spans[15].count > WIRE_RECEIPT_MAX_ENTRIES)
		return LIMES_E_ENV_OVERSIZED;
	m = limes__receipt__unpack(NULL, len, buf);
	if (!m)
		return LIMES_E_ENV_MALFORMED;
	struct wire_span *entries = NULL;
	if (!bytes_ok(&m->signature, WIRE_SIG_LEN) || !m->body.len ||
	    (m->n_entries && !(entries = calloc(m->n_entries, sizeof(*entries))))) {
		rc = m->n_entries && bytes_ok(&m->signature, WIRE_SIG_LEN) && m->body.len ? LIMES_E_NOMEM
											 : LIMES_E_ENV_MALFORMED;
		limes__receipt__free_unpacked(m, NULL);
		return rc;
	}
	for (size_t i = 0; i < m->n_entries; i++)
		entries[i] = (struct wire_span){ m->entries[i].data, m->entries[i].len };
	r->body = m->body.data;
	r->body_len = m->body.len;
	r->signature = m->signature.data;
	r->n_entries = m->n_entries;
	r->entries = entries;
	r->decoded = m;
	return 0;
}

void wire_receipt_clear(struct wire_receipt *r)
{
	if (!r)
		return;
	if (r->decoded) {
		limes__receipt__free_unpacked(r->decoded, NULL);
		free((void *)r->entries); /* ours only when decoded */
	}
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ frames */

/*
 * A Frame sets exactly one field of its oneof, and its kinds come in a few
 * shapes. This table is the one list of the kinds a frame may be and says
 * each one's shape, so that pack and unpack read the same facts.
 */
enum frame_shape {
	SHAPE_PAYLOAD,      /* a serialized message carried as is: Envelope, Receipt, AuditKept */
	SHAPE_SIGNED,       /* a body, then 0..2 signatures: bytes fields 1, 2, 3 */
	SHAPE_HEARTBEAT,
	SHAPE_KEPT_REQUEST,
	SHAPE_GOODBYE,
};

struct frame_kind_info {
	enum wire_frame_kind kind;         /* also its field number in Frame */
	enum frame_shape shape;
	size_t body_min, body_max;         /* SHAPE_SIGNED: the body's length, bytes */
	unsigned n_sigs;                   /* SHAPE_SIGNED: WIRE_SIG_LEN signatures after the body (sig, sig2) */
};

static const struct frame_kind_info frame_kinds[] = {
	{ WIRE_FRAME_ENVELOPE, SHAPE_PAYLOAD, 0, 0, 0 },
	{ WIRE_FRAME_RECEIPT, SHAPE_PAYLOAD, 0, 0, 0 },
	{ WIRE_FRAME_AUDIT_KEPT, SHAPE_PAYLOAD, 0, 0, 0 },
	{ WIRE_FRAME_HEARTBEAT, SHAPE_HEARTBEAT, 0, 0, 0 },
	{ WIRE_FRAME_AUDIT_KEPT_REQUEST, SHAPE_KEPT_REQUEST, 0, 0, 0 },
	{ WIRE_FRAME_GOODBYE, SHAPE_GOODBYE, 0, 0, 0 },
	{ WIRE_FRAME_AUDIT_CHECKPOINT, SHAPE_SIGNED, 1, WIRE_AUDIT_BODY_MAX, 1 },
	{ WIRE_FRAME_AUDIT_COUNTERSIGN, SHAPE_SIGNED, 1, WIRE_AUDIT_BODY_MAX, 1 },
	{ WIRE_FRAME_KEY_UPDATE, SHAPE_SIGNED, 1, WIRE_KEY_UPDATE_BODY_MAX, 2 },
	{ WIRE_FRAME_KEY_UPDATE_ACK, SHAPE_SIGNED, WIRE_KEY_UPDATE_ACK_LEN, WIRE_KEY_UPDATE_ACK_LEN, 0 },
	{ WIRE_FRAME_RESEND_REQUEST, SHAPE_SIGNED, 1, WIRE_RESEND_BODY_MAX, 1 },
	{ WIRE_FRAME_RESEND_ACK, SHAPE_SIGNED, WIRE_RESEND_ACK_LEN, WIRE_RESEND_ACK_LEN, 0 },
};

#define N_FRAME_KINDS (sizeof(frame_kinds) / sizeof(frame_kinds[0]))

static const struct frame_kind_info *frame_kind_info(enum wire_frame_kind kind)
{
	for (size_t i = 0; i < N_FRAME_KINDS; i++)
		if (frame_kinds[i].kind == kind)
			return &frame_kinds[i];
	return NULL;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >>= 7)
		n++;
	return n;
}

/* The bytes of a length-delimited field of len bytes: tag, length, data. */
static size_t bytes_field_size(unsigned field, size_t len)
{
	return varint_size((uint64_t)field << 3 | 2) + varint_size(len) + len;
}

/* Writes a length-delimited field's tag and length at p; returns where its data goes. */
static uint8_t *put_bytes_field_head(uint8_t *p, unsigned field, size_t len)
{
	p += put_varint(p, (uint64_t)field << 3 | 2);
	return p + put_varint(p, len);
}

/* The frame prefix: the tag and the payload length as a varint. */
#define FRAME_PREFIX_MAX SIZES_FRAME_PREFIX_MAX

size_t wire_frame_payload_max(size_t max_frame)
{
	return max_frame > FRAME_PREFIX_MAX ? max_frame - FRAME_PREFIX_MAX : 0;
}

/*
 * The payload and signed shapes are written by hand: the same bytes
 * protobuf-c gives (a Frame field holding bytes, or a message of bytes
 * fields in field order), without decoding a payload to re-encode it and
 * mirroring how wire_frame_unpack walks them.
 */
static int pack_bytes_fields(const struct wire_frame *f, const struct frame_kind_info *info, uint8_t **out,
			     size_t *out_len)
{
	const uint8_t *data[3] = { f->bytes, f->sig, f->sig2 };
	size_t len[3] = { f->len, WIRE_SIG_LEN, WIRE_SIG_LEN };
	size_t n_fields = 0, inner = 0, total;
	uint8_t *buf, *p;

	if (info->shape == SHAPE_PAYLOAD) {
		if (!f->bytes || !f->len || f->len > SIZE_MAX - FRAME_PREFIX_MAX)
			return LIMES_E_INVAL;
		inner = f->len;
	} else {
		if (!f->bytes || f->len < info->body_min || f->len > info->body_max ||
		    (info->n_sigs >= 1 && !f->sig) || (info->n_sigs >= 2 && !f->sig2))
			return LIMES_E_INVAL;
		n_fields = 1 + info->n_sigs;
		for (size_t i = 0; i < n_fields; i++)
			inner += bytes_field_size((unsigned)i + 1, len[i]);
	}
	total = bytes_field_size(info->kind, inner);
	buf = malloc(total);
	if (!buf)
		return LIMES_E_NOMEM;
	p = put_bytes_field_head(buf, info->kind, inner);
	if (info->shape == SHAPE_PAYLOAD) {
		memcpy(p, f->bytes, f->len);
	} else {
		for (size_t i = 0; i < n_fields; i++) {
			p = put_bytes_field_head(p, (unsigned)i + 1, len[i]);
			memcpy(p, data[i], len[i]);
			p += len[i];
		}
	}
	*out = buf;
	*out_len = total;
	return 0;
}

static int pack_heartbeat(const struct wire_heartbeat *h, uint8_t **out, size_t *out_len)
{
	Limes__Frame m = LIMES__FRAME__INIT;
	Limes__Heartbeat hb = LIMES__HEARTBEAT__INIT;
	Limes__Accepts acc = LIMES__ACCEPTS__INIT;
	Limes__AcceptedType types[WIRE_ACCEPTS_MAX];
	Limes__AcceptedType *type_ptrs[WIRE_ACCEPTS_MAX];
	char *relays[WIRE_RELAYS_MAX];

	if (h->n_accepts > WIRE_ACCEPTS_MAX || h->n_relays_v2 > WIRE_RELAYS_MAX)
		return LIMES_E_INVAL;
	if (h->has_accepts) {
		for (size_t i = 0; i < h->n_accepts; i++) {
			limes__accepted_type__init(&types[i]);
			types[i].type = h->accepts[i].type;
			types[i].schema_major = h->accepts[i].schema_major;
			type_ptrs[i] = &types[i];
		}
		acc.n_types = h->n_accepts;
		acc.types = type_ptrs;
		hb.accepts = &acc;
	}
	hb.sent_ms = h->sent_ms;
	hb.has_echo_sent_ms = hb.has_echo_received_ms = h->has_echo;
	hb.echo_sent_ms = h->echo_sent_ms;
	hb.echo_received_ms = h->echo_received_ms;
	hb.has_reply = h->reply;
	hb.reply = h->reply;
	hb.has_protocol = h->protocol != 0;
	hb.protocol = h->protocol;
	for (size_t i = 0; i < h->n_relays_v2; i++)
		relays[i] = (char *)h->relays_v2[i];
	hb.n_relays_v2 = h->n_relays_v2;
	hb.relays_v2 = relays;
	m.kind_case = LIMES__FRAME__KIND_HEARTBEAT;
	m.heartbeat = &hb;
	return pack_message(&m.base, out, out_len);
}

int wire_frame_pack(const struct wire_frame *f, uint8_t **out, size_t *out_len)
{
	const struct frame_kind_info *info;
	Limes__Frame m = LIMES__FRAME__INIT;
	Limes__AuditKeptRequest rq = LIMES__AUDIT_KEPT_REQUEST__INIT;
	Limes__Goodbye bye = LIMES__GOODBYE__INIT;

	if (!f || !out || !out_len || !(info = frame_kind_info(f->kind)))
		return LIMES_E_INVAL;
	switch (info->shape) {
	case SHAPE_PAYLOAD:
	case SHAPE_SIGNED:
		return pack_bytes_fields(f, info, out, out_len);
	case SHAPE_HEARTBEAT:
		return pack_heartbeat(&f->heartbeat, out, out_len);
	case SHAPE_KEPT_REQUEST:
		if (f->kept_limit > WIRE_AUDIT_KEPT_MAX)
			return LIMES_E_INVAL;
		rq.has_limit = f->kept_limit != 0;
		rq.limit = f->kept_limit;
		m.kind_case = LIMES__FRAME__KIND_AUDIT_KEPT_REQUEST;
		m.audit_kept_request = &rq;
		return pack_message(&m.base, out, out_len);
	case SHAPE_GOODBYE:
		m.kind_case = LIMES__FRAME__KIND_GOODBYE;
		m.goodbye = &bye;
		return pack_message(&m.base, out, out_len);
	}
	return LIMES_E_INVAL;
}

/* A signed frame's fields, pointing into buf: the body (field 1) once and
 * within the kind's bounds, then each signature (fields 2, 3) once and
 * WIRE_SIG_LEN bytes. Other fields are not read. */
static int signed_fields(const struct frame_kind_info *info, const struct span *outer, struct wire_frame *f)
{
	struct span inner[MAX_FIELD];
	const uint8_t **sigs[2] = { &f->sig, &f->sig2 };

	if (walk(outer->p, outer->len, inner) < 0 || inner[1].count != 1 || inner[1].wire_type != 2 ||
	    inner[1].len < info->body_min || inner[1].len > info->body_max)
		return LIMES_E_ENV_MALFORMED;
	for (unsigned i = 0; i < info->n_sigs; i++) {
		const struct span *sig = &inner[2 + i];

		if (sig->count != 1 || sig->wire_type != 2 || sig->len != WIRE_SIG_LEN)
			return LIMES_E_ENV_MALFORMED;
		*sigs[i] = sig->p;
	}
	f->bytes = inner[1].p;
	f->len = inner[1].len;
	return 0;
}

static int kept_request_from_pb(const struct span *s, uint32_t *kept_limit)
{
	Limes__AuditKeptRequest *rq = limes__audit_kept_request__unpack(NULL, s->len, s->p);
	int rc = LIMES_E_ENV_MALFORMED;

	if (!rq)
		return LIMES_E_ENV_MALFORMED;
	if (!rq->has_limit || rq->limit <= WIRE_AUDIT_KEPT_MAX) {
		*kept_limit = rq->has_limit && rq->limit ? rq->limit : WIRE_AUDIT_KEPT_MAX;
		rc = 0;
	}
	limes__audit_kept_request__free_unpacked(rq, NULL);
	return rc;
}

static int heartbeat_from_pb(const struct span *s, struct wire_heartbeat *h)
{
	Limes__Heartbeat *hb = limes__heartbeat__unpack(NULL, s->len, s->p);
	int rc = LIMES_E_ENV_MALFORMED;

	if (!hb)
		return LIMES_E_ENV_MALFORMED;
	h->sent_ms = hb->sent_ms;
	h->has_echo = hb->has_echo_sent_ms && hb->has_echo_received_ms;
	h->echo_sent_ms = h->has_echo ? hb->echo_sent_ms : 0;
	h->echo_received_ms = h->has_echo ? hb->echo_received_ms : 0;
	h->reply = hb->has_reply && hb->reply;
	h->protocol = hb->has_protocol ? hb->protocol : 0;
	if (hb->accepts) {
		/* a list longer than there are type numbers is not an honest one */
		if (hb->accepts->n_types > WIRE_ACCEPTS_MAX)
			goto out;
		h->has_accepts = true;
		for (size_t i = 0; i < hb->accepts->n_types; i++) {
			const Limes__AcceptedType *t = hb->accepts->types[i];
			if (t->type < 1 || t->type > 31)
				continue; /* a type numbering we cannot hold: ignore */
			h->accepts[h->n_accepts].type = t->type;
			h->accepts[h->n_accepts].schema_major = t->schema_major;
			h->n_accepts++;
		}
	}
	for (size_t i = 0; i < hb->n_relays_v2 && h->n_relays_v2 < WIRE_RELAYS_MAX; i++)
		if (wire_agency_id_check(hb->relays_v2[i]) == 0)
			snprintf(h->relays_v2[h->n_relays_v2++], WIRE_AGENCY_MAX + 1, "%s", hb->relays_v2[i]);
	rc = 0;
out:
	limes__heartbeat__free_unpacked(hb, NULL);
	return rc;
}

int wire_frame_unpack(const uint8_t *buf, size_t len, size_t max, struct wire_frame *f)
{
	struct span spans[MAX_FIELD];
	const struct frame_kind_info *info = NULL;
	const struct span *s;
	unsigned present = 0;
	int rc;

	if ((rc = precheck(buf, len, max, f, sizeof(*f), spans)) < 0)
		return rc;
	/* A oneof seen more than once would be "last one wins": refuse instead. */
	for (size_t i = 0; i < N_FRAME_KINDS; i++) {
		if (spans[frame_kinds[i].kind].count) {
			present += spans[frame_kinds[i].kind].count;
			info = &frame_kinds[i];
		}
	}
	if (present != 1)
		return LIMES_E_ENV_MALFORMED;
	s = &spans[info->kind];
	if (s->wire_type != 2)
		return LIMES_E_ENV_MALFORMED;
	f->kind = info->kind;
	switch (info->shape) {
	case SHAPE_PAYLOAD:
		/* points into buf: the caller decodes the Envelope, Receipt or AuditKept */
		f->bytes = s->p;
		f->len = s->len;
		rc = s->len ? 0 : LIMES_E_ENV_MALFORMED;
		break;
	case SHAPE_SIGNED:
		rc = signed_fields(info, s, f);
		break;
	case SHAPE_HEARTBEAT:
		rc = heartbeat_from_pb(s, &f->heartbeat);
		break;
	case SHAPE_KEPT_REQUEST:
		rc = kept_request_from_pb(s, &f->kept_limit);
		break;
	case SHAPE_GOODBYE:
		rc = 0; /* its reason is free text for humans: not read */
		break;
	}
	if (rc < 0)
		memset(f, 0, sizeof(*f));
	return rc;
}

/* ------------------------------------------------------------ audit kept */

int wire_audit_kept_pack(const struct wire_kept_checkpoint *cps, size_t n, uint64_t kept_total, uint8_t **out,
			 size_t *out_len)
{
	Limes__AuditKept m = LIMES__AUDIT_KEPT__INIT;
	Limes__AuditKeptCheckpoint *items = NULL, **ptrs = NULL;
	int rc;

	if ((n && !cps) || n > WIRE_AUDIT_KEPT_MAX || !out || !out_len)
		return LIMES_E_INVAL;
	items = calloc(n ? n : 1, sizeof(*items));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!items || !ptrs) {
		rc = LIMES_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (cps[i].body_len == 0 || cps[i].body_len > WIRE_AUDIT_BODY_MAX) {
			rc = LIMES_E_INVAL;
			goto out;
		}
		limes__audit_kept_checkpoint__init(&items[i]);
		items[i].body.data = (uint8_t *)cps[i].body;
		items[i].body.len = cps[i].body_len;
		items[i].signature.data = (uint8_t *)cps[i].sig;
		items[i].signature.len = WIRE_SIG_LEN;
		items[i].countersignature.data = (uint8_t *)cps[i].countersig;
		items[i].countersignature.len = WIRE_SIG_LEN;
		ptrs[i] = &items[i];
	}
	m.n_checkpoints = n;
	m.checkpoints = ptrs;
	m.has_kept_total = true;
	m.kept_total = kept_total;
	rc = pack_message(&m.base, out, out_len);
out:
	free(ptrs);
	free(items);
	return rc;
}

int wire_audit_kept_unpack(const uint8_t *buf, size_t len, struct wire_kept_checkpoint *cps, size_t max, size_t *n,
			   uint64_t *kept_total)
{
	Limes__AuditKept *m;
	int rc = 0;

	if (!buf || !cps || !n || !kept_total)
		return LIMES_E_INVAL;
	m = limes__audit_kept__unpack(NULL, len, buf);
	if (!m)
		return LIMES_E_ENV_MALFORMED;
	if (m->n_checkpoints > max) {
		rc = LIMES_E_ENV_MALFORMED;
		goto out;
	}
	for (size_t i = 0; i < m->n_checkpoints; i++) {
		const Limes__AuditKeptCheckpoint *c = m->checkpoints[i];
		if (c->body.len == 0 || c->body.len > WIRE_AUDIT_BODY_MAX || c->signature.len != WIRE_SIG_LEN ||
		    c->countersignature.len != WIRE_SIG_LEN) {
			rc = LIMES_E_ENV_MALFORMED;
			goto out;
		}
		memcpy(cps[i].body, c->body.data, c->body.len);
		cps[i].body_len = c->body.len;
		memcpy(cps[i].sig, c->signature.data, WIRE_SIG_LEN);
		memcpy(cps[i].countersig, c->countersignature.data, WIRE_SIG_LEN);
	}
	*n = m->n_checkpoints;
	*kept_total = m->has_kept_total ? m->kept_total : m->n_checkpoints;
out:
	limes__audit_kept__free_unpacked(m, NULL);
	return rc;
}
