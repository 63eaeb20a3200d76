/*
 * Resend requests (crypto/resend.c) and their frames (proto/wire.c): the
 * worked example of docs/protocol.md "Resend after a restore", regenerated
 * from a fixed seed and checked against the page and against an
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
#include "crypto/resend.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "support/docexample.h"

#define ASKER "HU-NAV-ROSZKE"
#define NEIGHBOUR "RS-CUSTOMS-HORGOS"
#define SINCE_MS UINT64_C(1764578400000) /* 2025-12-01T08:40:00Z */
#define TIME_MS UINT64_C(1764582000000)  /* 2025-12-01T09:40:00Z */

TestSuite(resend, .timeout = 30);

struct fixture {
	struct identity *me;
	struct resend_request rq;
	uint8_t body[RESEND_BODY_MAX], sig[RESEND_SIG_LEN];
	size_t len;
};

static void make(struct fixture *f)
{
	uint8_t s[32], b[32];
	cr_assert(eq(int, sodium_init() >= 0, 1));
	for (int i = 0; i < 32; i++) {
		s[i] = (uint8_t)(0x01 + i);
		b[i] = (uint8_t)(0x21 + i);
	}
	f->me = identity_from_seeds(s, b);
	cr_assert(ne(ptr, f->me, NULL));
	memset(&f->rq, 0, sizeof(f->rq));
	snprintf(f->rq.asker, sizeof(f->rq.asker), "%s", ASKER);
	snprintf(f->rq.to, sizeof(f->rq.to), "%s", NEIGHBOUR);
	f->rq.since_ms = SINCE_MS;
	f->rq.time_ms = TIME_MS;
	cr_assert(eq(int, resend_build(f->me, &f->rq, f->body, &f->len, f->sig), 0));
}

Test(resend, worked_example_matches_docs_and_independent_verification)
{
	struct fixture f;
	struct resend_request back;
	make(&f);
	const uint8_t *pk = identity_public(f.me)->sign_pk;

	/* the layout by hand */
	cr_assert(eq(sz, f.len, 1 + strlen(ASKER) + 1 + strlen(NEIGHBOUR) + 16));
	cr_assert(eq(u8, f.body[0], (uint8_t)strlen(ASKER)));
	cr_assert(eq(int, memcmp(f.body + 1, ASKER, strlen(ASKER)), 0));
	const uint8_t *p = f.body + 1 + strlen(ASKER);
	cr_assert(eq(u8, p[0], (uint8_t)strlen(NEIGHBOUR)));
	cr_assert(eq(int, memcmp(p + 1, NEIGHBOUR, strlen(NEIGHBOUR)), 0));
	p += 1 + strlen(NEIGHBOUR);
	uint64_t since = 0, time = 0;
	for (int i = 0; i < 8; i++) {
		since = since << 8 | p[i];
		time = time << 8 | p[8 + i];
	}
	cr_assert(eq(u64, since, SINCE_MS));
	cr_assert(eq(u64, time, TIME_MS));
	/* the signature, verified here with libsodium over domain || body */
	uint8_t msg[32 + RESEND_BODY_MAX];
	memcpy(msg, "limes/resend-request/v1", 24);
	memcpy(msg + 24, f.body, f.len);
	cr_assert(eq(int, crypto_sign_verify_detached(f.sig, msg, 24 + f.len, pk), 0));
	cr_assert(eq(int, resend_verify(pk, f.body, f.len, f.sig), 0));
	cr_assert(eq(int, resend_parse(f.body, f.len, &back), 0));
	cr_assert(eq(str, back.asker, ASKER));
	cr_assert(eq(str, back.to, NEIGHBOUR));
	cr_assert(eq(u64, back.since_ms, SINCE_MS));
	cr_assert(eq(u64, back.time_ms, TIME_MS));

	struct wire_frame wf = { .kind = WIRE_FRAME_RESEND_REQUEST, .bytes = f.body, .len = f.len, .sig = f.sig };
	uint8_t *frame = NULL, *ackframe = NULL;
	size_t frame_len = 0, ack_len = 0;
	cr_assert(eq(int, wire_frame_pack(&wf, &frame, &frame_len), 0));
	/* the answer: 42 re-queued, done */
	uint8_t ack[WIRE_RESEND_ACK_LEN];
	for (int i = 0; i < 8; i++)
		ack[i] = (uint8_t)(TIME_MS >> (56 - 8 * i));
	ack[8] = ack[9] = ack[10] = 0;
	ack[11] = 42;
	ack[12] = 0;
	struct wire_frame af = { .kind = WIRE_FRAME_RESEND_ACK, .bytes = ack, .len = sizeof(ack) };
	cr_assert(eq(int, wire_frame_pack(&af, &ackframe, &ack_len), 0));

	char line[IDENTITY_LINE_SIZE];
	doc_emit("resend request of " ASKER " to " NEIGHBOUR ", since %llu, time %llu\n", (unsigned long long)SINCE_MS,
	         (unsigned long long)TIME_MS);
	identity_line_format(identity_public(f.me), line, sizeof(line));
	doc_emit("asker's key: %s\n", line);
	doc_hexblock("body", f.body, f.len);
	doc_hexblock("signature", f.sig, 64);
	doc_hexblock("ResendRequest frame", frame, frame_len);
	doc_hexblock("ResendAck frame (42 re-queued, done)", ackframe, ack_len);
	doc_check_in_protocol("resend");

	struct wire_frame fb;
	cr_assert(eq(int, wire_frame_unpack(frame, frame_len, frame_len, &fb), 0));
	cr_assert(eq(int, fb.kind, WIRE_FRAME_RESEND_REQUEST));
	cr_assert(eq(sz, fb.len, f.len));
	cr_assert(eq(int, memcmp(fb.bytes, f.body, f.len), 0));
	cr_assert(eq(int, memcmp(fb.sig, f.sig, 64), 0));
	cr_assert(eq(int, wire_frame_unpack(ackframe, ack_len, ack_len, &fb), 0));
	cr_assert(eq(int, fb.kind, WIRE_FRAME_RESEND_ACK));
	cr_assert(eq(int, memcmp(fb.bytes, ack, sizeof(ack)), 0));
	free(frame);
	free(ackframe);
	identity_destroy(&f.me);
}

Test(resend, every_flipped_bit_and_another_key_are_refused)
{
	struct fixture f;
	make(&f);
	const uint8_t *pk = identity_public(f.me)->sign_pk;
	for (size_t i = 0; i < f.len * 8; i++) {
		f.body[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert(eq(int, resend_verify(pk, f.body, f.len, f.sig), LIMES_E_ENV_BAD_SIG), "bit %zu", i);
		f.body[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < 64 * 8; i++) {
		f.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		cr_assert(eq(int, resend_verify(pk, f.body, f.len, f.sig), LIMES_E_ENV_BAD_SIG));
		f.sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* the key the box half stands for is not the signing key */
	cr_assert(eq(int, resend_verify(identity_public(f.me)->box_pk, f.body, f.len, f.sig), LIMES_E_ENV_BAD_SIG));
	identity_destroy(&f.me);
}

Test(resend, truncated_oversized_and_bad_ids_do_not_decode)
{
	struct fixture f;
	struct resend_request back;
	make(&f);
	for (size_t n = 0; n < f.len; n++)
		cr_assert(eq(int, resend_parse(f.body, n, &back), LIMES_E_ENV_MALFORMED), "length %zu", n);
	uint8_t big[RESEND_BODY_MAX + 1] = { 0 };
	memcpy(big, f.body, f.len);
	cr_assert(eq(int, resend_parse(big, f.len + 1, &back), LIMES_E_ENV_MALFORMED));
	f.body[1] = ' ';
	cr_assert(eq(int, resend_parse(f.body, f.len, &back), LIMES_E_ENV_MALFORMED));
	f.body[0] = 0;
	cr_assert(eq(int, resend_parse(f.body, f.len, &back), LIMES_E_ENV_MALFORMED));
	snprintf(f.rq.to, sizeof(f.rq.to), "bad id");
	cr_assert(eq(int, resend_build(f.me, &f.rq, f.body, &f.len, f.sig), LIMES_E_INVAL));
	identity_destroy(&f.me);
}

Test(resend, frames_with_missing_or_wrong_sized_parts_are_malformed)
{
	struct fixture f;
	make(&f);
	struct wire_frame wf = { .kind = WIRE_FRAME_RESEND_REQUEST, .bytes = f.body, .len = f.len };
	uint8_t *frame = NULL;
	size_t len = 0;
	/* no signature: refused on the way out */
	cr_assert(eq(int, wire_frame_pack(&wf, &frame, &len), LIMES_E_INVAL));
	wf.sig = f.sig;
	cr_assert(eq(int, wire_frame_pack(&wf, &frame, &len), 0));
	struct wire_frame back;
	for (size_t n = 1; n < len; n++)
		cr_assert(lt(int, wire_frame_unpack(frame, n, len, &back), 0), "length %zu", n);
	free(frame);
	uint8_t ack[WIRE_RESEND_ACK_LEN + 1] = { 0 };
	struct wire_frame af = { .kind = WIRE_FRAME_RESEND_ACK, .bytes = ack, .len = sizeof(ack) };
	cr_assert(eq(int, wire_frame_pack(&af, &frame, &len), LIMES_E_INVAL));
	identity_destroy(&f.me);
}
