/*
 * libFuzzer harness: a peer's raw ZeroMQ message -> wire_frame_unpack, then
 * whatever it carries through the decoders the link runs before any crypto
 * (envelope, header, receipt, receipt body), with the caps the agent uses.
 * A frame that decodes must pack back to bytes that decode to the same kind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAME (2u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_frame f;

	if (wire_frame_unpack(data, size, MAX_FRAME, &f) != 0)
		return 0;
	if (f.kind == WIRE_FRAME_ENVELOPE) {
		struct wire_envelope e = { 0 };
		if (wire_envelope_unpack(f.bytes, f.len, MAX_FRAME, &e) == 0) {
			struct wire_header h;
			(void)wire_header_unpack(e.header, e.header_len, e.header_len, &h);
			wire_envelope_clear(&e);
		}
	} else if (f.kind == WIRE_FRAME_RECEIPT) {
		struct wire_receipt r = { 0 };
		if (wire_receipt_unpack(f.bytes, f.len, WIRE_RECEIPT_MAX_BYTES, &r) == 0) {
			struct wire_receipt_body b;
			memset(&b, 0, sizeof(b));
			if (wire_receipt_body_unpack(r.body, r.body_len, WIRE_RECEIPT_MAX_BYTES, &b) == 0)
				wire_receipt_body_clear(&b);
			wire_receipt_clear(&r);
		}
	}
	/* round trip: what decoded packs to a frame of the same kind */
	if (f.kind == WIRE_FRAME_ENVELOPE || f.kind == WIRE_FRAME_RECEIPT || f.kind == WIRE_FRAME_HEARTBEAT) {
		uint8_t *out = NULL;
		size_t out_len = 0;
		if (wire_frame_pack(&f, &out, &out_len) == 0) {
			struct wire_frame again;
			if (wire_frame_unpack(out, out_len, MAX_FRAME + 16, &again) != 0 || again.kind != f.kind)
				abort();
			free(out);
		}
	}
	return 0;
}
