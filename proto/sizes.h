/*
 * Every size limit of a message's way through the agent, in one place and
 * derived from each other so that they agree by construction: a body the
 * API takes fits an envelope, an envelope fits a frame, any receipt fits the
 * smallest frame, an inbox page carries at least one message. sizes.c
 * holds the static assertions that refuse to build a change breaking one
 * of these; the config refuses settings that would (docs/protocol.md,
 * "Size limits"; docs/operations.md).
 */
#ifndef LIMES_PROTO_SIZES_H
#define LIMES_PROTO_SIZES_H

#include <stddef.h>

#include "proto/schema.h"
#include "proto/wire.h"

/* A body (the protobuf of the business message) at most: the schema's cap. */
#define SIZES_BODY_MAX SCHEMA_BODY_MAX

/* The largest varint of a 64-bit value, a 32-bit one, and a length prefix
 * of anything under 2 MiB / 16 KiB. */
#define SIZES_VARINT64 10u
#define SIZES_VARINT32 5u

/* A Header with every field at its largest (tag + length + value). */
#define SIZES_HEADER_MAX                                                                                         \
	((1 + SIZES_VARINT32) * 2 /* versions */ + (2 + WIRE_ID_LEN) /* message_id */ +                          \
	 (2 + WIRE_AGENCY_MAX) * 2 /* sender, recipient */ + (1 + SIZES_VARINT64) * 2 /* type, priority */ +    \
	 (1 + SIZES_VARINT64) * 3 /* created, expires, seq */ + (2 + WIRE_KEY_ID_LEN) * 2 /* key ids */ +        \
	 (2 + WIRE_NONCE_LEN) + (2 + WIRE_ID_LEN) /* ref */ + (1 + SIZES_VARINT32) /* schema_major */)
/* A v2 BatchProof at its largest: index, count, WIRE_BATCH_DEPTH_MAX hashes. */
#define SIZES_PROOF_MAX ((1 + SIZES_VARINT32) * 2 + (1 + 2 + WIRE_BATCH_DEPTH_MAX * WIRE_HASH_LEN))
/* What an Envelope adds to its body: the header, the AEAD tag, the
 * signature, a batch proof and every tag and length prefix. */
#define SIZES_AEAD_TAG 16u
#define SIZES_ENVELOPE_OVERHEAD_MAX                                                                              \
	((1 + 2 + SIZES_HEADER_MAX) + (1 + SIZES_VARINT32 + SIZES_AEAD_TAG) + (2 + WIRE_SIG_LEN) +              \
	 (1 + 2 + SIZES_PROOF_MAX))

/* A frame is one tag byte and a length varint before its payload. */
#define SIZES_FRAME_PREFIX_MAX 11u

/* One ReceiptEntry in its Receipt, without its detail text: id, hash,
 * status, reason, received_ms, the detail's tag and length, the entry's
 * own tag and length. */
#define SIZES_RECEIPT_ENTRY_FIXED_MAX                                                                            \
	((2 + WIRE_ID_LEN) + (2 + WIRE_HASH_LEN) + (1 + SIZES_VARINT64) * 3 + 3 + 3)
/* A Receipt's own fields: issuer, issuer_key_id, addressee, issued_ms, the
 * body's tag and length, the signature. */
#define SIZES_RECEIPT_OVERHEAD_MAX                                                                               \
	((2 + WIRE_AGENCY_MAX) * 2 + (2 + WIRE_KEY_ID_LEN) + (1 + SIZES_VARINT64) + (1 + 3) + (2 + WIRE_SIG_LEN))
/* A receipt never exceeds this: the receiver splits what it answers. */
#define SIZES_RECEIPT_MAX WIRE_RECEIPT_MAX_BYTES

/* [link] max_frame: the smallest carries two of the largest receipt; the
 * default carries the largest body; the largest is what a config may set. */
#define SIZES_FRAME_MIN (2u * SIZES_RECEIPT_MAX)
#define SIZES_FRAME_DEFAULT (SIZES_BODY_MAX + (64u << 10))
#define SIZES_FRAME_MAX (64u << 20)
/* What the link reads before it refuses a frame as oversized (ZMQ_MAXMSGSIZE
 * is this): twice max_frame, so a frame somewhat too long is reported. */
#define SIZES_FRAME_READ_FACTOR 2u

/* One GET /v1/inbox answer stops adding envelopes past this many frames'
 * worth (it always carries at least one). */
#define SIZES_INBOX_PAGE_FRAMES 2u

/* The largest body that crosses a link whose max_frame is max_frame: at
 * most SIZES_BODY_MAX, and an envelope of it with every header field at its
 * largest still fits a frame. 0 when nothing would fit. */
size_t sizes_body_max(size_t max_frame);
/* The bytes of one receipt entry with a detail text of detail_len bytes. */
size_t sizes_receipt_entry_max(size_t detail_len);
/* The envelope bytes one inbox answer may carry before it stops. */
size_t sizes_inbox_page_bytes(size_t max_frame);

#endif
