/* The wire encoding: round trips, length and id validation, truncated vs malformed, caps, frames. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/idhash.h"
#include "proto/wire.h"

TestSuite(wire, .timeout = 60);

/* A tiny protobuf writer, independent of the code under test. */
struct pb {
	uint8_t buf[4096];
	size_t n;
};

static void pb_varint(struct pb *b, uint64_t v)
{
	do {
		b->buf[b->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void pb_uint(struct pb *b, unsigned field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

static void pb_bytes(struct pb *b, unsigned field, const void *p, size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	memcpy(b->buf + b->n, p, len);
	b->n += len;
}

static const uint8_t zeros[64];

/* A Header with each length chosen by the caller. */
static void hand_header(struct pb *b, size_t id_len, const char *sender, size_t sender_len, size_t kid_len,
			size_t nonce_len)
{
	memset(b, 0, sizeof(*b));
	pb_uint(b, 1, 1);
	pb_bytes(b, 3, zeros, id_len);
	pb_bytes(b, 4, sender, sender_len);
	pb_bytes(b, 5, "HU-NAV-ROSZKE", 13);
	pb_uint(b, 6, 1);
	pb_uint(b, 8, 1000);
	pb_uint(b, 9, 2000);
	pb_bytes(b, 11, zeros, kid_len);
	pb_bytes(b, 12, zeros, 8);
	pb_bytes(b, 13, zeros, nonce_len);
}

static void sample_header(struct wire_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version_major = 1;
	h->version_minor = 3;
	for (int i = 0; i < 16; i++) {
		h->message_id[i] = (uint8_t)i;
		h->ref[i] = (uint8_t)(0xf0 | i);
	}
	snprintf(h->sender, sizeof(h->sender), "RS-CUSTOMS-HORGOS");
	snprintf(h->recipient, sizeof(h->recipient), "HU-NAV-ROSZKE");
	h->type = WIRE_TYPE_PRE_ARRIVAL;
	h->priority = WIRE_PRIORITY_URGENT;
	h->created_ms = 1764182607120ull;
	h->expires_ms = 1764182607120ull + 86400000ull;
	h->has_ref = true;
	memset(h->sender_key_id, 0xaa, 8);
	memset(h->recipient_key_id, 0xbb, 8);
	memset(h->nonce, 0xcc, 24);
	h->schema_major = 1;
}

Test(wire, header_round_trips)
{
	struct wire_header h, back;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_header(&h);
	cr_assert(eq(int, wire_header_pack(&h, &buf, &len), 0));
	cr_assert(eq(int, wire_header_unpack(buf, len, len, &back), 0));
	cr_assert(eq(int, memcmp(&h, &back, sizeof(h)), 0));
	cr_assert(eq(int, wire_header_unpack(buf, len, len - 1, &back), LIMES_E_ENV_OVERSIZED));
	free(buf);
}

Test(wire, header_ignores_unknown_fields)
{
	struct pb b;
	struct wire_header h;

	hand_header(&b, 16, "RS-CUSTOMS-HORGOS", 17, 8, 24);
	pb_uint(&b, 99, 7);
	pb_bytes(&b, 100, "future", 6);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), 0));
	cr_assert(eq(str, h.sender, "RS-CUSTOMS-HORGOS"));
	cr_assert(eq(u32, h.schema_major, 1));
	cr_assert(eq(int, h.priority, WIRE_PRIORITY_NORMAL));
	cr_assert(eq(int, h.has_seq, 0));
}

Test(wire, header_refuses_wrong_lengths_and_ids)
{
	struct pb b;
	struct wire_header h;
	char long_id[70];

	hand_header(&b, 15, "RS", 2, 8, 24);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	hand_header(&b, 16, "RS", 2, 7, 24);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	hand_header(&b, 16, "RS", 2, 8, 23);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	hand_header(&b, 16, "", 0, 8, 24);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	hand_header(&b, 16, "RS CUSTOMS", 10, 8, 24);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	hand_header(&b, 16, "RS\0EVIL", 7, 8, 24);   /* C would see "RS" */
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	memset(long_id, 'A', 65);
	hand_header(&b, 16, long_id, 65, 8, 24);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	hand_header(&b, 16, long_id, 64, 8, 24);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), 0));
	/* A ref must be 16 bytes too. */
	hand_header(&b, 16, "RS", 2, 8, 24);
	pb_bytes(&b, 14, zeros, 15);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
	/* Required field missing. */
	memset(&b, 0, sizeof(b));
	pb_uint(&b, 1, 1);
	cr_assert(eq(int, wire_header_unpack(b.buf, b.n, sizeof(b.buf), &h), LIMES_E_ENV_MALFORMED));
}

Test(wire, agency_id_check)
{
	cr_assert(eq(int, wire_agency_id_check("RS-CUSTOMS-HORGOS"), 0));
	cr_assert(eq(int, wire_agency_id_check("a.b_c-9"), 0));
	cr_assert(eq(int, wire_agency_id_check(""), LIMES_E_INVAL));
	cr_assert(eq(int, wire_agency_id_check("with space"), LIMES_E_INVAL));
	cr_assert(eq(int, wire_agency_id_check("slash/"), LIMES_E_INVAL));
	cr_assert(eq(int, wire_agency_id_check("\xc3\xa9t\xc3\xa9"), LIMES_E_INVAL));
	cr_assert(eq(int, wire_agency_id_check(NULL), LIMES_E_INVAL));
}

Test(wire, tells_truncated_from_malformed)
{
	static const uint8_t cut_tag[] = { 0x80 };                        /* varint tag runs off */
	static const uint8_t cut_len[] = { 0x0a, 0x05, 'a', 'b' };        /* length past the end */
	static const uint8_t cut_fixed[] = { 0x09, 1, 2, 3 };              /* fixed64 cut */
	static const uint8_t long_varint[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t group[] = { 0x0b };
	static const uint8_t wt7[] = { 0x0f };
	struct wire_envelope e;

	cr_assert(eq(int, wire_envelope_unpack(cut_tag, sizeof(cut_tag), 100, &e), LIMES_E_ENV_TRUNCATED));
	cr_assert(eq(int, wire_envelope_unpack(cut_len, sizeof(cut_len), 100, &e), LIMES_E_ENV_TRUNCATED));
	cr_assert(eq(int, wire_envelope_unpack(cut_fixed, sizeof(cut_fixed), 100, &e), LIMES_E_ENV_TRUNCATED));
	cr_assert(eq(int, wire_envelope_unpack(long_varint, sizeof(long_varint), 100, &e), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, wire_envelope_unpack(group, sizeof(group), 100, &e), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, wire_envelope_unpack(wt7, sizeof(wt7), 100, &e), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, wire_envelope_unpack(cut_tag, 0, 100, &e), LIMES_E_ENV_TRUNCATED));
	cr_assert(eq(int, wire_envelope_unpack(long_varint, sizeof(long_varint), 5, &e), LIMES_E_ENV_OVERSIZED));
}

Test(wire, envelope_round_trips_and_needs_64_byte_signature)
{
	uint8_t sig[64], *buf = NULL;
	size_t len = 0;
	struct wire_envelope in = { 0 }, out;
	struct pb b = { 0 };

	memset(sig, 0x77, sizeof(sig));
	in.header = (const uint8_t *)"hdr";
	in.header_len = 3;
	in.ciphertext = (const uint8_t *)"ciphertext+tag..";
	in.ciphertext_len = 16;
	in.signature = sig;
	cr_assert(eq(int, wire_envelope_pack(&in, &buf, &len), 0));
	cr_assert(eq(int, wire_envelope_unpack(buf, len, len, &out), 0));
	cr_assert(eq(sz, out.header_len, 3));
	cr_assert(eq(int, memcmp(out.header, "hdr", 3), 0));
	cr_assert(eq(sz, out.ciphertext_len, 16));
	cr_assert(eq(int, memcmp(out.signature, sig, 64), 0));
	wire_envelope_clear(&out);
	cr_assert(out.decoded == NULL);
	wire_envelope_clear(&out);
	free(buf);

	pb_bytes(&b, 1, "hdr", 3);
	pb_bytes(&b, 2, "ct", 2);
	pb_bytes(&b, 3, sig, 63);
	cr_assert(eq(int, wire_envelope_unpack(b.buf, b.n, sizeof(b.buf), &out), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 1, "", 0);
	pb_bytes(&b, 2, "ct", 2);
	pb_bytes(&b, 3, sig, 64);
	cr_assert(eq(int, wire_envelope_unpack(b.buf, b.n, sizeof(b.buf), &out), LIMES_E_ENV_MALFORMED));
}

/* The header seen without decoding the envelope: the same bytes
 * wire_envelope_unpack gives, and refused where it refuses the shape. */
Test(wire, envelope_header_is_found_in_place_as_unpack_finds_it)
{
	uint8_t sig[64], path[64], *buf = NULL;
	size_t len = 0, hlen = 0;
	const uint8_t *hdr = NULL;
	struct wire_envelope in = { 0 }, out;
	struct pb b = { 0 };

	memset(sig, 0x77, sizeof(sig));
	memset(path, 0x55, sizeof(path));
	in.header = (const uint8_t *)"the header";
	in.header_len = 10;
	in.ciphertext = (const uint8_t *)"ciphertext+tag..";
	in.ciphertext_len = 16;
	in.signature = sig;
	in.has_batch = true;
	in.batch_index = 1;
	in.batch_count = 3;
	in.batch_path = path;
	in.batch_path_len = sizeof(path);
	cr_assert(eq(int, wire_envelope_pack(&in, &buf, &len), 0));
	cr_assert(eq(int, wire_envelope_unpack(buf, len, len, &out), 0));
	cr_assert(eq(int, wire_envelope_header(buf, len, len, &hdr, &hlen), 0));
	cr_assert(hdr >= buf && hdr + hlen <= buf + len, "borrowed from the envelope, not copied");
	cr_assert(eq(sz, hlen, out.header_len));
	cr_assert(eq(int, memcmp(hdr, out.header, hlen), 0));
	wire_envelope_clear(&out);
	cr_assert(eq(int, wire_envelope_header(buf, len, len - 1, &hdr, &hlen), LIMES_E_ENV_OVERSIZED));
	cr_assert(hdr == NULL && hlen == 0);
	cr_assert(eq(int, wire_envelope_header(buf, len - 1, len, &hdr, &hlen), LIMES_E_ENV_TRUNCATED));
	cr_assert(eq(int, wire_envelope_header(buf, len, len, NULL, &hlen), LIMES_E_INVAL));
	free(buf);

	/* a repeated header: protobuf keeps the last, so does the look */
	pb_bytes(&b, 1, "first", 5);
	pb_bytes(&b, 2, "ct", 2);
	pb_bytes(&b, 3, sig, 64);
	pb_bytes(&b, 1, "second", 6);
	cr_assert(eq(int, wire_envelope_header(b.buf, b.n, sizeof(b.buf), &hdr, &hlen), 0));
	cr_assert(eq(sz, hlen, 6));
	cr_assert(eq(int, memcmp(hdr, "second", 6), 0));
	cr_assert(eq(int, wire_envelope_unpack(b.buf, b.n, sizeof(b.buf), &out), 0));
	cr_assert(eq(int, memcmp(out.header, "second", 6), 0));
	wire_envelope_clear(&out);

	/* no header, an empty one, a short or missing signature, a header
	 * that is not length-delimited */
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 2, "ct", 2);
	pb_bytes(&b, 3, sig, 64);
	cr_assert(eq(int, wire_envelope_header(b.buf, b.n, sizeof(b.buf), &hdr, &hlen), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 1, "", 0);
	pb_bytes(&b, 3, sig, 64);
	cr_assert(eq(int, wire_envelope_header(b.buf, b.n, sizeof(b.buf), &hdr, &hlen), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 1, "hdr", 3);
	pb_bytes(&b, 3, sig, 63);
	cr_assert(eq(int, wire_envelope_header(b.buf, b.n, sizeof(b.buf), &hdr, &hlen), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 1, "hdr", 3);
	cr_assert(eq(int, wire_envelope_header(b.buf, b.n, sizeof(b.buf), &hdr, &hlen), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_uint(&b, 1, 7);
	pb_bytes(&b, 3, sig, 64);
	cr_assert(eq(int, wire_envelope_header(b.buf, b.n, sizeof(b.buf), &hdr, &hlen), LIMES_E_ENV_MALFORMED));
}

Test(wire, receipt_body_round_trips_and_refuses_bad_entries)
{
	struct wire_receipt_entry entries[2];
	struct wire_receipt_body body = { 0 }, back;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct pb b = { 0 }, entry = { 0 };
	char detail[300];

	memset(entries, 0, sizeof(entries));
	snprintf(body.issuer, sizeof(body.issuer), "HU-NAV-ROSZKE");
	snprintf(body.addressee, sizeof(body.addressee), "RS-CUSTOMS-HORGOS");
	memset(body.issuer_key_id, 1, 8);
	body.issued_ms = 99;
	memset(entries[0].message_id, 2, 16);
	entries[0].status = WIRE_RECEIPT_ACCEPTED;
	entries[1].status = WIRE_RECEIPT_REJECTED;
	entries[1].reason = 4;
	snprintf(entries[1].detail, sizeof(entries[1].detail), "expired at relay");
	body.entries = entries;
	body.n_entries = 2;
	cr_assert(eq(int, wire_receipt_body_pack(&body, &buf, &len), 0));
	cr_assert(eq(int, wire_receipt_body_unpack(buf, len, len, &back), 0));
	cr_assert(eq(sz, back.n_entries, 2));
	cr_assert(eq(str, back.entries[1].detail, "expired at relay"));
	cr_assert(eq(int, back.entries[1].reason, 4));
	cr_assert(eq(int, memcmp(back.entries, entries, sizeof(entries)), 0));
	wire_receipt_body_clear(&back);
	free(buf);

	/* An entry with a 31-byte hash. */
	pb_bytes(&entry, 1, zeros, 16);
	pb_bytes(&entry, 2, zeros, 31);
	pb_uint(&entry, 3, 1);
	pb_bytes(&b, 1, "HU", 2);
	pb_bytes(&b, 2, zeros, 8);
	pb_bytes(&b, 3, "RS", 2);
	pb_uint(&b, 4, 5);
	pb_bytes(&b, 5, entry.buf, entry.n);
	cr_assert(eq(int, wire_receipt_body_unpack(b.buf, b.n, sizeof(b.buf), &back), LIMES_E_ENV_MALFORMED));
	cr_assert(back.entries == NULL);
	/* A detail longer than WIRE_DETAIL_MAX. */
	memset(&entry, 0, sizeof(entry));
	memset(&b, 0, sizeof(b));
	memset(detail, 'x', sizeof(detail));
	pb_bytes(&entry, 1, zeros, 16);
	pb_bytes(&entry, 2, zeros, 32);
	pb_uint(&entry, 3, 3);
	pb_bytes(&entry, 5, detail, WIRE_DETAIL_MAX + 1);
	pb_bytes(&b, 1, "HU", 2);
	pb_bytes(&b, 2, zeros, 8);
	pb_bytes(&b, 3, "RS", 2);
	pb_uint(&b, 4, 5);
	pb_bytes(&b, 5, entry.buf, entry.n);
	cr_assert(eq(int, wire_receipt_body_unpack(b.buf, b.n, sizeof(b.buf), &back), LIMES_E_ENV_MALFORMED));
}

Test(wire, frames_round_trip_without_copying_payloads)
{
	static const uint8_t payload[200] = { 0x0a, 0x01, 0x00 };
	struct wire_frame f = { 0 }, back;
	uint8_t *buf = NULL;
	size_t len = 0;

	f.kind = WIRE_FRAME_ENVELOPE;
	f.bytes = payload;
	f.len = sizeof(payload);
	cr_assert(eq(int, wire_frame_pack(&f, &buf, &len), 0));
	cr_assert(eq(sz, len, sizeof(payload) + 3));   /* tag + 2-byte length */
	cr_assert(eq(int, wire_frame_unpack(buf, len, len, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_ENVELOPE));
	cr_assert(back.bytes == buf + 3);
	cr_assert(eq(sz, back.len, sizeof(payload)));
	/* the envelope is the frame's tail (wire.h): the link reads it there */
	cr_assert(eq(int, memcmp(buf + len - sizeof(payload), payload, sizeof(payload)), 0));
	free(buf);

	f.kind = WIRE_FRAME_RECEIPT;
	cr_assert(eq(int, wire_frame_pack(&f, &buf, &len), 0));
	cr_assert(eq(u8, buf[0], 0x12));
	cr_assert(eq(int, wire_frame_unpack(buf, len, len, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_RECEIPT));
	cr_assert(eq(int, memcmp(back.bytes, payload, sizeof(payload)), 0));
	free(buf);

	memset(&f, 0, sizeof(f));
	f.kind = WIRE_FRAME_HEARTBEAT;
	f.heartbeat.sent_ms = 1000;
	f.heartbeat.has_echo = true;
	f.heartbeat.echo_sent_ms = 900;
	f.heartbeat.echo_received_ms = 950;
	f.heartbeat.reply = true;
	cr_assert(eq(int, wire_frame_pack(&f, &buf, &len), 0));
	cr_assert(eq(int, wire_frame_unpack(buf, len, len, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_HEARTBEAT));
	cr_assert(eq(int, memcmp(&back.heartbeat, &f.heartbeat, sizeof(f.heartbeat)), 0));
	cr_assert(eq(int, wire_frame_unpack(buf, len, len - 1, &back), LIMES_E_ENV_OVERSIZED));
	for (size_t cut = 1; cut < len; cut++) {
		int rc = wire_frame_unpack(buf, cut, len, &back);
		cr_assert(lt(int, rc, 0), "prefix %zu accepted", cut);
	}
	free(buf);
}

Test(wire, frame_refuses_zero_or_two_kinds_and_bad_heartbeats)
{
	struct pb b = { 0 }, hb = { 0 };
	struct wire_frame f;

	pb_uint(&b, 9, 1);   /* only an unknown field */
	cr_assert(eq(int, wire_frame_unpack(b.buf, b.n, sizeof(b.buf), &f), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 1, "env", 3);
	pb_bytes(&b, 2, "rcp", 3);
	cr_assert(eq(int, wire_frame_unpack(b.buf, b.n, sizeof(b.buf), &f), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_bytes(&b, 1, "env", 3);
	pb_bytes(&b, 1, "env", 3);
	cr_assert(eq(int, wire_frame_unpack(b.buf, b.n, sizeof(b.buf), &f), LIMES_E_ENV_MALFORMED));
	memset(&b, 0, sizeof(b));
	pb_uint(&b, 1, 5);   /* envelope as a varint */
	cr_assert(eq(int, wire_frame_unpack(b.buf, b.n, sizeof(b.buf), &f), LIMES_E_ENV_MALFORMED));
	/* A heartbeat without its required sent_ms. */
	memset(&b, 0, sizeof(b));
	pb_uint(&hb, 4, 1);
	pb_bytes(&b, 3, hb.buf, hb.n);
	cr_assert(eq(int, wire_frame_unpack(b.buf, b.n, sizeof(b.buf), &f), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, wire_frame_unpack(b.buf, 0, sizeof(b.buf), &f), LIMES_E_ENV_TRUNCATED));
}

Test(wire, receipt_body_with_too_many_entries_is_refused_before_decoding)
{
	size_t n = WIRE_RECEIPT_MAX_ENTRIES + 1;
	struct wire_receipt_entry *entries = calloc(n, sizeof(*entries));
	struct wire_receipt_body body = { 0 }, back;
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(body.issuer, sizeof(body.issuer), "HU-NAV-ROSZKE");
	snprintf(body.addressee, sizeof(body.addressee), "RS-CUSTOMS-HORGOS");
	for (size_t i = 0; i < n; i++)
		entries[i].status = WIRE_RECEIPT_ACCEPTED;
	body.entries = entries;
	body.n_entries = n;
	cr_assert(eq(int, wire_receipt_body_pack(&body, &buf, &len), 0));
	cr_assert(eq(int, wire_receipt_body_unpack(buf, len, len, &back), LIMES_E_ENV_OVERSIZED));
	free(buf);
	body.n_entries = WIRE_RECEIPT_MAX_ENTRIES;
	cr_assert(eq(int, wire_receipt_body_pack(&body, &buf, &len), 0));
	cr_assert(eq(int, wire_receipt_body_unpack(buf, len, len, &back), 0));
	cr_assert(eq(sz, back.n_entries, (size_t)WIRE_RECEIPT_MAX_ENTRIES));
	wire_receipt_body_clear(&back);
	free(buf);
	free(entries);
}

/* How many of a 1,024-slot table's slots n ids fill through id_hash. */
static size_t slots_filled(const uint8_t (*ids)[16], size_t n)
{
	static bool used[1024];
	size_t filled = 0;

	memset(used, 0, sizeof(used));
	for (size_t i = 0; i < n; i++) {
		size_t s = (size_t)(id_hash(ids[i]) & 1023);
		filled += !used[s];
		used[s] = true;
	}
	return filled;
}

/* The in-memory tables keyed by id mask id_hash's low bits: UUIDv7 ids of
 * one millisecond (only the random tail differs) and ids differing only
 * in their time must spread as random ids do (512 uniform keys fill ~403 of
 * 1,024 slots; the first bytes alone, as the tables once used, fill 1). */
Test(wire, id_hash_spreads_ids_that_share_their_time_or_their_tail)
{
	static uint8_t ids[512][16];

	for (size_t i = 0; i < 512; i++) {
		memset(ids[i], 0, 16);
		memcpy(ids[i], "\x01\x8f\x3a\x2b\x4c\x5d\x70\x00\x80", 9);
		ids[i][15] = (uint8_t)i;
		ids[i][14] = (uint8_t)(i >> 8);
	}
	cr_assert(lt(sz, 360, slots_filled((const uint8_t(*)[16])ids, 512)));
	for (size_t i = 0; i < 512; i++) {
		memset(ids[i], 0, 16);
		ids[i][5] = (uint8_t)i;
		ids[i][4] = (uint8_t)(i >> 8);
	}
	cr_assert(lt(sz, 360, slots_filled((const uint8_t(*)[16])ids, 512)));
}
