/*
 * The accept list in heartbeat replies (proto/wire.c): it round-trips, its
 * absence (an agent older than the field) is told apart from an empty
 * list, an older agent's decoder skips it, and a list longer than there are
 * type numbers is malformed.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "proto/wire.h"

TestSuite(wire_accepts, .timeout = 30);

static struct wire_frame round_trip(const struct wire_frame *f)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct wire_frame back;

	cr_assert(eq(int, wire_frame_pack(f, &buf, &len), 0));
	cr_assert(eq(int, wire_frame_unpack(buf, len, 4096, &back), 0));
	free(buf);
	return back;
}

Test(wire_accepts, heartbeat_reply_carries_the_accept_list)
{
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
	f.heartbeat.sent_ms = 5;
	f.heartbeat.reply = true;
	f.heartbeat.has_accepts = true;
	f.heartbeat.n_accepts = 2;
	f.heartbeat.accepts[0] = (struct wire_accepted_type){ 1, 1 };
	f.heartbeat.accepts[1] = (struct wire_accepted_type){ 6, 2 };
	struct wire_frame b = round_trip(&f);
	cr_assert(b.heartbeat.has_accepts);
	cr_assert(eq(sz, b.heartbeat.n_accepts, 2));
	cr_assert(eq(u32, b.heartbeat.accepts[1].type, 6));
	cr_assert(eq(u32, b.heartbeat.accepts[1].schema_major, 2));

	/* "accepts nothing" is a list, and not the same as no list */
	f.heartbeat.n_accepts = 0;
	b = round_trip(&f);
	cr_assert(b.heartbeat.has_accepts);
	cr_assert(eq(sz, b.heartbeat.n_accepts, 0));
	f.heartbeat.has_accepts = false;
	b = round_trip(&f);
	cr_assert(not(b.heartbeat.has_accepts));
}

Test(wire_accepts, a_heartbeat_as_an_older_agent_sends_it_has_no_list)
{
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
	uint8_t *buf = NULL;
	size_t len = 0;
	f.heartbeat.sent_ms = 77;
	f.heartbeat.reply = true;
	f.heartbeat.has_accepts = true;
	f.heartbeat.n_accepts = 1;
	f.heartbeat.accepts[0] = (struct wire_accepted_type){ 4, 1 };
	cr_assert(eq(int, wire_frame_pack(&f, &buf, &len), 0));
	/* the field is number 6 of Heartbeat, which v1 agents keep as an unknown field */
	const ProtobufCMessageDescriptor *d = &limes__heartbeat__descriptor;
	cr_assert_not_null(protobuf_c_message_descriptor_get_field(d, 6));
	Limes__Frame *fr = limes__frame__unpack(NULL, len, buf);
	cr_assert_not_null(fr);
	cr_assert(eq(u64, fr->heartbeat->sent_ms, 77));
	/* re-encoded without field 5, it still reads as a heartbeat without a list */
	Limes__Accepts *list = fr->heartbeat->accepts;
	fr->heartbeat->accepts = NULL;
	size_t n = limes__frame__get_packed_size(fr);
	uint8_t *old = malloc(n);
	limes__frame__pack(fr, old);
	struct wire_frame b;
	cr_assert(eq(int, wire_frame_unpack(old, n, 4096, &b), 0));
	cr_assert(not(b.heartbeat.has_accepts));
	cr_assert(eq(u64, b.heartbeat.sent_ms, 77));
	fr->heartbeat->accepts = list; /* freed with the frame */
	limes__frame__free_unpacked(fr, NULL);
	free(old);
	free(buf);
}

Test(wire_accepts, refuses_a_list_longer_than_the_type_numbers_and_skips_bad_numbers)
{
	Limes__Frame fr = LIMES__FRAME__INIT;
	Limes__Heartbeat hb = LIMES__HEARTBEAT__INIT;
	Limes__Accepts acc = LIMES__ACCEPTS__INIT;
	Limes__AcceptedType t[40], *tp[40];
	for (int i = 0; i < 40; i++) {
		limes__accepted_type__init(&t[i]);
		t[i].type = (uint32_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 99 : 4);
		t[i].schema_major = 1;
		tp[i] = &t[i];
	}
	hb.sent_ms = 1;
	hb.accepts = &acc;
	acc.types = tp;
	fr.kind_case = LIMES__FRAME__KIND_HEARTBEAT;
	fr.heartbeat = &hb;
	uint8_t buf[4096];
	struct wire_frame b;

	acc.n_types = 40;
	size_t n = limes__frame__pack(&fr, buf);
	cr_assert(eq(int, wire_frame_unpack(buf, n, sizeof(buf), &b), LIMES_E_ENV_MALFORMED));
	/* type 0 and 99 cannot be held: skipped, the rest kept */
	acc.n_types = 3;
	n = limes__frame__pack(&fr, buf);
	cr_assert(eq(int, wire_frame_unpack(buf, n, sizeof(buf), &b), 0));
	cr_assert(b.heartbeat.has_accepts);
	cr_assert(eq(sz, b.heartbeat.n_accepts, 1));
	cr_assert(eq(u32, b.heartbeat.accepts[0].type, 4));
}
