/*
 * Key rotation announcements (crypto/keyupdate.c) and their frames
 * (proto/wire.c): the worked example of docs/protocol.md "Key rotation",
 * regenerated from fixed seeds and checked against the page and against an
 * independent verification with libsodium; every flipped bit, truncation
 * and malformed frame refused. LIMES_PRINT_VECTOR=1 prints the example.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/identity.h"
#include "crypto/keyupdate.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "support/docexample.h"

#define AGENT "RS-CUSTOMS-HORGOS"
#define SEQ 1
#define TIME_MS UINT64_C(1764182607120)

TestSuite(keyupdate, .timeout = 30);

static struct identity *seeded(uint8_t first)
{
	uint8_t s[32], b[32];
	for (int i = 0; i < 32; i++) {
		s[i] = (uint8_t)(first + i);
		b[i] = (uint8_t)(first + 0x20 + i);
	}
	struct identity *id = identity_from_seeds(s, b);
	cr_assert(ne(ptr, id, NULL));
	return id;
}

struct fixture {
	struct identity *cur, *next;
	uint8_t body[KEYUPDATE_BODY_MAX], sig[64], sig2[64];
	size_t len;
};

static void make(struct fixture *f)
{
	cr_assert(eq(int, sodium_init() >= 0, 1));
	f->cur = seeded(0x01);
	f->next = seeded(0x41);
	cr_assert(eq(int, keyupdate_build(f->cur, f->next, AGENT, SEQ, TIME_MS, f->body, &f->len, f->sig, f->sig2), 0));
}

static void unmake(struct fixture *f)
{
	identity_destroy(&f->cur);
	identity_destroy(&f->next);
}

Test(keyupdate, worked_example_matches_docs_and_independent_verification)
{
	struct fixture f;
	struct keyupdate ku;
	make(&f);

	/* the layout by hand */
	cr_assert(eq(sz, f.len, 1 + strlen(AGENT) + 16 + 128));
	cr_assert(eq(u8, f.body[0], (uint8_t)strlen(AGENT)));
	cr_assert(eq(int, memcmp(f.body + 1, AGENT, strlen(AGENT)), 0));
	const uint8_t *p = f.body + 1 + strlen(AGENT);
	cr_assert(eq(u8, p[7], SEQ));
	cr_assert(eq(int, memcmp(p + 16, identity_public(f.cur)->sign_pk, 32), 0));
	cr_assert(eq(int, memcmp(p + 48, identity_public(f.cur)->box_pk, 32), 0));
	cr_assert(eq(int, memcmp(p + 80, identity_public(f.next)->sign_pk, 32), 0));
	cr_assert(eq(int, memcmp(p + 112, identity_public(f.next)->box_pk, 32), 0));
	/* both signatures, verified here with libsodium over domain || body */
	uint8_t msg[64 + KEYUPDATE_BODY_MAX];
	memcpy(msg, "limes/key-update/v1", 20);
	memcpy(msg + 20, f.body, f.len);
	cr_assert(eq(int, crypto_sign_verify_detached(f.sig, msg, 20 + f.len, identity_public(f.cur)->sign_pk), 0));
	memcpy(msg, "limes/key-update-next/v1", 25);
	memcpy(msg + 25, f.body, f.len);
	cr_assert(eq(int, crypto_sign_verify_detached(f.sig2, msg, 25 + f.len, identity_public(f.next)->sign_pk), 0));
	cr_assert(eq(int, keyupdate_parse(f.body, f.len, &ku), 0));
	cr_assert(eq(str, ku.agent_id, AGENT));
	cr_assert(eq(u64, ku.seq, SEQ));
	cr_assert(eq(u64, ku.time_ms, TIME_MS));
	cr_assert(eq(int, memcmp(&ku.current, identity_public(f.cur), sizeof(ku.current)), 0));
	cr_assert(eq(int, memcmp(&ku.next, identity_public(f.next), sizeof(ku.next)), 0));
	cr_assert(eq(int, keyupdate_verify(&ku, f.body, f.len, f.sig, f.sig2), 0));

	struct wire_frame wf = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = f.body, .len = f.len, .sig = f.sig,
				 .sig2 = f.sig2 };
	uint8_t *frame = NULL, *ackframe = NULL;
	size_t frame_len = 0, ack_len = 0;
	cr_assert(eq(int, wire_frame_pack(&wf, &frame, &frame_len), 0));
	uint8_t ack[WIRE_KEY_UPDATE_ACK_LEN] = { 0, 0, 0, 0, 0, 0, 0, SEQ };
	memcpy(ack + 8, identity_public(f.next)->key_id, 8);
	ack[16] = 2; /* adopted */
	struct wire_frame af = { .kind = WIRE_FRAME_KEY_UPDATE_ACK, .bytes = ack, .len = sizeof(ack) };
	cr_assert(eq(int, wire_frame_pack(&af, &ackframe, &ack_len), 0));

	char line[IDENTITY_LINE_SIZE];
	doc_emit("key update of " AGENT ", sequence %d, time %llu\n", SEQ, (unsigned long long)TIME_MS);
	identity_line_format(identity_public(f.cur), line, sizeof(line));
	doc_emit("current key: %s\n", line);
	identity_line_format(identity_public(f.next), line, sizeof(line));
	doc_emit("next key:    %s\n", line);
	doc_hexblock("body", f.body, f.len);
	doc_hexblock("signature by the current key", f.sig, 64);
	doc_hexblock("signature by the next key", f.sig2, 64);
	doc_hexblock("KeyUpdate frame", frame, frame_len);
	doc_hexblock("KeyUpdateAck frame (adopted)", ackframe, ack_len);
	doc_check_in_protocol("key update");

	/* the frames decode back to the same bytes */
	struct wire_frame back;
	cr_assert(eq(int, wire_frame_unpack(frame, frame_len, frame_len, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_KEY_UPDATE));
	cr_assert(eq(sz, back.len, f.len));
	cr_assert(eq(int, memcmp(back.bytes, f.body, f.len), 0));
	cr_assert(eq(int, memcmp(back.sig, f.sig, 64), 0));
	cr_assert(eq(int, memcmp(back.sig2, f.sig2, 64), 0));
	cr_assert(eq(int, wire_frame_unpack(ackframe, ack_len, ack_len, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_KEY_UPDATE_ACK));
	cr_assert(eq(int, memcmp(back.bytes, ack, sizeof(ack)), 0));
	free(frame);
	free(ackframe);
	unmake(&f);
}

Test(keyupdate, every_flipped_bit_of_body_or_signatures_is_refused)
{
	struct fixture f;
	struct keyupdate ku;
	make(&f);
	for (size_t i = 0; i < f.len * 8; i++) {
		f.body[i / 8] ^= (uint8_t)(1u << (i % 8));
		/* a flip in the id length or the id decodes wrong or names another agent */
		if (keyupdate_parse(f.body, f.len, &ku) == 0)
			cr_assert(eq(int, keyupdate_verify(&ku, f.body, f.len, f.sig, f.sig2), LIMES_E_ENV_BAD_SIG),
				  "bit %zu", i);
		f.body[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	cr_assert(eq(int, keyupdate_parse(f.body, f.len, &ku), 0));
	for (size_t i = 0; i < 64 * 8; i++) {
		f.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert(eq(int, keyupdate_verify(&ku, f.body, f.len, f.sig, f.sig2), LIMES_E_ENV_BAD_SIG));
		f.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		f.sig2[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert(eq(int, keyupdate_verify(&ku, f.body, f.len, f.sig, f.sig2), LIMES_E_ENV_BAD_SIG));
		f.sig2[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* the two signatures swapped do not pass for each other */
	cr_assert(eq(int, keyupdate_verify(&ku, f.body, f.len, f.sig2, f.sig), LIMES_E_ENV_BAD_SIG));
	unmake(&f);
}

Test(keyupdate, truncated_oversized_and_bad_ids_do_not_decode)
{
	struct fixture f;
	struct keyupdate ku;
	make(&f);
	for (size_t n = 0; n < f.len; n++)
		cr_assert(eq(int, keyupdate_parse(f.body, n, &ku), LIMES_E_ENV_MALFORMED), "length %zu", n);
	uint8_t big[KEYUPDATE_BODY_MAX + 1] = { 0 };
	memcpy(big, f.body, f.len);
	cr_assert(eq(int, keyupdate_parse(big, f.len + 1, &ku), LIMES_E_ENV_MALFORMED));
	f.body[1] = ' '; /* not an agency id character */
	cr_assert(eq(int, keyupdate_parse(f.body, f.len, &ku), LIMES_E_ENV_MALFORMED));
	f.body[0] = 0;
	cr_assert(eq(int, keyupdate_parse(f.body, f.len, &ku), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, keyupdate_build(f.cur, f.next, "bad id", 1, 1, f.body, &f.len, f.sig, f.sig2), LIMES_E_INVAL));
	unmake(&f);
}

Test(keyupdate, frames_with_missing_or_wrong_sized_parts_are_malformed)
{
	struct fixture f;
	make(&f);
	struct wire_frame wf = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = f.body, .len = f.len, .sig = f.sig };
	uint8_t *frame = NULL;
	size_t len = 0;
	/* no next signature: refused on the way out */
	cr_assert(eq(int, wire_frame_pack(&wf, &frame, &len), LIMES_E_INVAL));
	wf.sig2 = f.sig2;
	cr_assert(eq(int, wire_frame_pack(&wf, &frame, &len), 0));
	struct wire_frame back;
	/* every truncation of the frame is refused */
	for (size_t n = 1; n < len; n++)
		cr_assert(lt(int, wire_frame_unpack(frame, n, len, &back), 0), "length %zu", n);
	/* a signature one byte short: the frame's inner length prefix changes too */
	uint8_t bad[512];
	memcpy(bad, frame, len);
	bad[len - 65] = 63; /* the next signature's length byte */
	cr_assert(lt(int, wire_frame_unpack(bad, len - 1, len, &back), 0));
	free(frame);
	uint8_t ack[WIRE_KEY_UPDATE_ACK_LEN + 1] = { 0 };
	struct wire_frame af = { .kind = WIRE_FRAME_KEY_UPDATE_ACK, .bytes = ack, .len = sizeof(ack) };
	cr_assert(eq(int, wire_frame_pack(&af, &frame, &len), LIMES_E_INVAL));
	unmake(&f);
}
