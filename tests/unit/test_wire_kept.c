/*
 * The audit "what do you keep of mine" frames (proto/wire.c,
 * docs/protocol.md "Frames on the wire"): the exact bytes of the worked
 * examples, the round trip of an answer, and the refusal of a limit beyond
 * the cap, a signature of the wrong size and more checkpoints than room.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/wire.h"

TestSuite(wire_kept, .timeout = 30);

static void expect_bytes(const uint8_t *got, size_t len, const uint8_t *want, size_t want_len)
{
	cr_assert(eq(sz, len, want_len));
	cr_assert(eq(int, memcmp(got, want, len), 0));
}

Test(wire_kept, request_has_the_documented_bytes_and_round_trips)
{
	struct wire_frame f = { .kind = WIRE_FRAME_AUDIT_KEPT_REQUEST, .kept_limit = 256 }, back;
	uint8_t *buf = NULL;
	size_t len = 0;
	static const uint8_t want[] = { 0x72, 0x03, 0x08, 0x80, 0x02 };

	cr_assert(eq(int, wire_frame_pack(&f, &buf, &len), 0));
	expect_bytes(buf, len, want, sizeof(want));
	cr_assert(eq(int, wire_frame_unpack(buf, len, 4096, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_AUDIT_KEPT_REQUEST));
	cr_assert(eq(u32, back.kept_limit, 256));
	free(buf);
	/* no limit: the cap */
	static const uint8_t bare[] = { 0x72, 0x00 };
	cr_assert(eq(int, wire_frame_unpack(bare, sizeof(bare), 4096, &back), 0));
	cr_assert(eq(u32, back.kept_limit, WIRE_AUDIT_KEPT_MAX));
	/* beyond the cap: malformed, and never packed */
	static const uint8_t over[] = { 0x72, 0x03, 0x08, 0x81, 0x02 };
	cr_assert(eq(int, wire_frame_unpack(over, sizeof(over), 4096, &back), LIMES_E_ENV_MALFORMED));
	f.kept_limit = 257;
	cr_assert(eq(int, wire_frame_pack(&f, &buf, &len), LIMES_E_INVAL));
}

Test(wire_kept, answer_round_trips_with_the_documented_framing)
{
	struct wire_kept_checkpoint cps[2], back[4];
	uint8_t *payload = NULL, *frame = NULL;
	size_t plen = 0, flen = 0, n = 0;
	uint64_t total = 0;

	memset(cps, 0, sizeof(cps));
	for (int i = 0; i < 2; i++) {
		cps[i].body_len = 66;
		memset(cps[i].body, 0x10 + i, 66);
		memset(cps[i].sig, 0x20 + i, 64);
		memset(cps[i].countersig, 0x30 + i, 64);
	}
	cr_assert(eq(int, wire_audit_kept_pack(cps, 2, 7, &payload, &plen), 0));
	/* each checkpoint: 0a c8 01, then 0a 42 body, 12 40 sig, 1a 40 countersig (200 bytes) */
	cr_assert(eq(sz, plen, 2 * 203 + 2));
	static const uint8_t head[] = { 0x0a, 0xc8, 0x01, 0x0a, 0x42 };
	expect_bytes(payload, sizeof(head), head, sizeof(head));
	cr_assert(eq(int, payload[plen - 2], 0x10));
	cr_assert(eq(int, payload[plen - 1], 7));
	struct wire_frame f = { .kind = WIRE_FRAME_AUDIT_KEPT, .bytes = payload, .len = plen }, in;
	cr_assert(eq(int, wire_frame_pack(&f, &frame, &flen), 0));
	static const uint8_t fhead[] = { 0x7a, 0x98, 0x03 }; /* 408 = 0x198 */
	expect_bytes(frame, 3, fhead, 3);
	cr_assert(eq(int, wire_frame_unpack(frame, flen, 4096, &in), 0));
	cr_assert(eq(int, in.kind, WIRE_FRAME_AUDIT_KEPT));
	cr_assert(eq(int, wire_audit_kept_unpack(in.bytes, in.len, back, 4, &n, &total), 0));
	cr_assert(eq(sz, n, 2));
	cr_assert(eq(u64, total, 7));
	cr_assert(eq(int, memcmp(back[1].body, cps[1].body, 66), 0));
	cr_assert(eq(int, memcmp(back[1].countersig, cps[1].countersig, 64), 0));
	/* no room for two: malformed, nothing half-read trusted */
	cr_assert(eq(int, wire_audit_kept_unpack(in.bytes, in.len, back, 1, &n, &total), LIMES_E_ENV_MALFORMED));
	free(frame);
	/* a countersignature of 63 bytes */
	payload[203 + 3 + 2 + 66 + 2 + 64 + 1] = 0x3f; /* the second one's length byte */
	cr_assert(eq(int, wire_audit_kept_unpack(payload, plen, back, 4, &n, &total), LIMES_E_ENV_MALFORMED));
	free(payload);
	/* keeping none: 7a 02 10 00 */
	cr_assert(eq(int, wire_audit_kept_pack(NULL, 0, 0, &payload, &plen), 0));
	f.bytes = payload;
	f.len = plen;
	cr_assert(eq(int, wire_frame_pack(&f, &frame, &flen), 0));
	static const uint8_t none[] = { 0x7a, 0x02, 0x10, 0x00 };
	expect_bytes(frame, flen, none, sizeof(none));
	free(frame);
	free(payload);
}
