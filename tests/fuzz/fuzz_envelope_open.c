/*
 * libFuzzer harness for everything that decodes peer bytes in crypto/ and
 * proto/wire.c: envelope_open and envelope_verify (and the receiver's
 * decode-once path, envelope_parse then envelope_open_parsed, which must
 * agree with envelope_open), wire_frame_unpack (and
 * opening what a frame carries), receipt_open, and the header and receipt
 * body decoders. Keys are the fixed ones of the worked example in
 * docs/protocol.md, so that example's envelope is a seed that opens fully.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"
#include "crypto/random.h"
#include "proto/wire.h"

#define FUZZ_NOW_MS 1764182607120ull
#define FUZZ_MAX (64u * 1024)

static struct identity *sender, *me;
static struct envelope_peer *sender_seen_by_me;
static const char sender_id[] = "RS-CUSTOMS-HORGOS";
static const char my_id[] = "HU-NAV-ROSZKE";

static void seeds(uint8_t out[32], uint8_t first)
{
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(first + i);
}

static void init_once(void)
{
	uint8_t sign[32], box[32];

	if (me)
		return;
	if (random_init() < 0)
		abort();
	seeds(sign, 0x00);
	seeds(box, 0x20);
	sender = identity_from_seeds(sign, box);
	seeds(sign, 0x40);
	seeds(box, 0x60);
	me = identity_from_seeds(sign, box);
	if (!sender || !me)
		abort();
	sender_seen_by_me = envelope_peer_new(me, identity_public(sender), sender_id);
	if (!sender_seen_by_me)
		abort();
}

static const struct envelope_peer *lookup(void *arg, const char *id, const uint8_t key_id[8], uint64_t created_ms,
					  int *err)
{
	(void)arg;
	(void)created_ms;
	if (strcmp(id, sender_id) == 0 && memcmp(key_id, identity_public(sender)->key_id, 8) == 0)
		return sender_seen_by_me;
	*err = LIMES_E_ENV_UNKNOWN_KEY;
	return NULL;
}

static const struct peer_key *receipt_lookup(void *arg, const char *id, const uint8_t key_id[8], uint64_t issued_ms,
					     int *err)
{
	const struct envelope_peer *p = lookup(arg, id, key_id, issued_ms, err);

	return p ? envelope_peer_key(p) : NULL;
}

static void open_envelope(const uint8_t *data, size_t size)
{
	struct envelope_open_params p = {
		.me = me,
		.my_id = my_id,
		.now_ms = FUZZ_NOW_MS,
		.max_ttl_ms = 7ull * 86400 * 1000,
		.max_skew_ms = 300000,
		.max_envelope_bytes = FUZZ_MAX,
		.lookup = lookup,
		.max_version = 2, /* v2 proofs too */
	};
	struct envelope_opened o, o2;
	struct envelope_parsed pe;

	/* the receiver decodes once (envelope_parse) and opens what it
	 * decoded: it must reach the same verdict as envelope_open */
	int rc = envelope_open(&p, data, size, &o);
	if (envelope_parse(data, size, FUZZ_MAX, &pe) == 0) {
		int rc2 = envelope_open_parsed(&p, &pe, &o2);
		if (rc2 != rc || (rc == 0 && (o.body_len != o2.body_len || memcmp(o.hash, o2.hash, 32) != 0 ||
					       (o.body_len && memcmp(o.body, o2.body, o.body_len) != 0))))
			abort();
		if (rc2 == 0)
			envelope_opened_clear(&o2);
		rc2 = envelope_verify_parsed(&p, &pe, &o2);
		if (rc2 == 0)
			envelope_opened_clear(&o2);
		envelope_parsed_clear(&pe);
	} else if (rc == 0) {
		abort(); /* opened, yet does not decode */
	}
	if (rc == 0)
		envelope_opened_clear(&o);
	if (envelope_verify(&p, data, size, &o) == 0)
		envelope_opened_clear(&o);
}

static void open_receipt(const uint8_t *data, size_t size)
{
	struct wire_receipt_body body;

	if (receipt_open(data, size, FUZZ_MAX, receipt_lookup, NULL, &body) == 0)
		wire_receipt_body_clear(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_frame frame;
	struct wire_header header;
	struct wire_receipt_body body;

	init_once();
	open_envelope(data, size);
	open_receipt(data, size);
	if (wire_frame_unpack(data, size, FUZZ_MAX, &frame) == 0) {
		if (frame.kind == WIRE_FRAME_ENVELOPE)
			open_envelope(frame.bytes, frame.len);
		else if (frame.kind == WIRE_FRAME_RECEIPT)
			open_receipt(frame.bytes, frame.len);
	}
	(void)wire_header_unpack(data, size, FUZZ_MAX, &header);
	if (wire_receipt_body_unpack(data, size, FUZZ_MAX, &body) == 0)
		wire_receipt_body_clear(&body);
	return 0;
}
