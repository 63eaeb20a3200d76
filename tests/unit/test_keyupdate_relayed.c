/*
 * Key rotation through a relay (docs/protocol.md "Key rotation through a
 * relay"): the worked example, an envelope of type 30 whose body is the
 * KeyUpdate frame of the "Key rotation" example, from fixed seeds, nonce
 * and id, checked against the page; it opens at the recipient with the
 * author's key to the very frame, and a relay that knows only the
 * author's public key verifies it but cannot read it.
 * LIMES_PRINT_VECTOR=1 prints the example.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/keyupdate.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "support/docexample.h"

#define AUTHOR "RS-CUSTOMS-HORGOS"
#define RECIPIENT "RO-POLITIA-NADLAC"
#define TIME_MS UINT64_C(1764182607120)

TestSuite(keyupdate_relayed, .timeout = 30);

/* Ed25519 seed first, first+1, ...; X25519 secret first+0x20, ... */
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

/* The lookup of whoever opens or verifies: the author's one key. */
static const struct envelope_peer *author_key;
static const struct envelope_peer *lookup(void *arg, const char *sender, const uint8_t key_id[8], uint64_t created,
					  int *err)
{
	(void)arg;
	(void)created;
	if (strcmp(sender, AUTHOR) != 0 || memcmp(envelope_peer_key(author_key)->key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return author_key;
}

struct example {
	struct identity *cur, *next, *to, *relay;
	uint8_t *frame, *env;
	size_t frame_len, env_len;
};

static void build(struct example *x)
{
	uint8_t body[KEYUPDATE_BODY_MAX], sig[64], sig2[64], nonce[WIRE_NONCE_LEN];
	size_t len = 0;
	cr_assert(eq(int, sodium_init() >= 0, 1));
	x->cur = seeded(0x01);
	x->next = seeded(0x41);
	x->to = seeded(0x81);
	x->relay = seeded(0x11);
	/* the announcement of the "Key rotation" example, as its frame */
	cr_assert(eq(int, keyupdate_build(x->cur, x->next, AUTHOR, 1, TIME_MS, body, &len, sig, sig2), 0));
	struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = body, .len = len, .sig = sig, .sig2 = sig2 };
	cr_assert(eq(int, wire_frame_pack(&f, &x->frame, &x->frame_len), 0));
	struct wire_header h = { .version_major = 1, .type = WIRE_TYPE_KEY_ROTATION, .priority = 1,
				 .created_ms = TIME_MS, .expires_ms = TIME_MS + 86400000, .has_seq = true, .seq = 1,
				 .schema_major = 1 };
	for (int i = 0; i < 16; i++)
		h.message_id[i] = (uint8_t)(0xd0 + i);
	for (int i = 0; i < WIRE_NONCE_LEN; i++)
		nonce[i] = (uint8_t)(0xe0 + i);
	snprintf(h.sender, sizeof(h.sender), AUTHOR);
	snprintf(h.recipient, sizeof(h.recipient), RECIPIENT);
	struct envelope_peer *pair = envelope_peer_new(x->cur, identity_public(x->to), RECIPIENT);
	cr_assert(ne(ptr, pair, NULL));
	cr_assert(eq(int, envelope_build_with_nonce(x->cur, pair, &h, nonce, x->frame, x->frame_len, &x->env,
						    &x->env_len), 0));
	envelope_peer_destroy(&pair);
}

static void unbuild(struct example *x)
{
	identity_destroy(&x->cur);
	identity_destroy(&x->next);
	identity_destroy(&x->to);
	identity_destroy(&x->relay);
	free(x->frame);
	free(x->env);
}

static struct envelope_open_params params(const struct identity *me, const char *my_id)
{
	return (struct envelope_open_params){ .me = me, .my_id = my_id, .now_ms = TIME_MS + 5,
					      .max_ttl_ms = 7 * 86400000ULL, .max_skew_ms = 300000,
					      .max_envelope_bytes = 1 << 20, .lookup = lookup, .max_version = 1 };
}

Test(keyupdate_relayed, worked_example_matches_docs_and_opens_to_the_key_update_frame)
{
	struct example x;
	build(&x);
	char line[IDENTITY_LINE_SIZE];
	doc_emit("key update of " AUTHOR " to " RECIPIENT " through a relay\n");
	identity_line_format(identity_public(x.to), line, sizeof(line));
	doc_emit("recipient key: %s\n", line);
	doc_hexblock("envelope body: the KeyUpdate frame", x.frame, x.frame_len);
	doc_hexblock("envelope", x.env, x.env_len);
	doc_check_in_protocol("relayed key update");

	/* the recipient opens it with the author's key: type 30, the frame */
	struct envelope_peer *theirs = envelope_peer_new(x.to, identity_public(x.cur), AUTHOR);
	author_key = theirs;
	struct envelope_open_params p = params(x.to, RECIPIENT);
	struct envelope_opened o;
	memset(&o, 0, sizeof(o));
	cr_assert(eq(int, envelope_open(&p, x.env, x.env_len, &o), 0));
	cr_assert(eq(int, o.header.type, WIRE_TYPE_KEY_ROTATION));
	cr_assert(eq(sz, o.body_len, x.frame_len));
	cr_assert(eq(int, memcmp(o.body, x.frame, x.frame_len), 0));
	struct wire_frame back;
	cr_assert(eq(int, wire_frame_unpack(o.body, o.body_len, o.body_len, &back), 0));
	cr_assert(eq(int, back.kind, WIRE_FRAME_KEY_UPDATE));
	struct keyupdate ku;
	cr_assert(eq(int, keyupdate_parse(back.bytes, back.len, &ku), 0));
	cr_assert(eq(int, keyupdate_verify(&ku, back.bytes, back.len, back.sig, back.sig2), 0));
	cr_assert(eq(str, ku.agent_id, AUTHOR));
	envelope_opened_clear(&o);
	envelope_peer_destroy(&theirs);

	/* the relay verifies the author's signature, and cannot unseal it */
	theirs = envelope_peer_new(x.relay, identity_public(x.cur), AUTHOR);
	author_key = theirs;
	p = params(x.relay, "HU-NAV-ROSZKE");
	memset(&o, 0, sizeof(o));
	cr_assert(eq(int, envelope_verify(&p, x.env, x.env_len, &o), 0));
	cr_assert(eq(ptr, o.body, NULL));
	envelope_opened_clear(&o);
	p.my_id = RECIPIENT; /* even claiming the recipient's name, the seal is not the relay's */
	memset(&o, 0, sizeof(o));
	cr_assert(eq(int, envelope_open(&p, x.env, x.env_len, &o), LIMES_E_ENV_DECRYPT));
	envelope_opened_clear(&o);
	envelope_peer_destroy(&theirs);
	unbuild(&x);
}

Test(keyupdate_relayed, a_relay_cannot_alter_any_byte_of_the_announcement)
{
	struct example x;
	build(&x);
	struct envelope_peer *theirs = envelope_peer_new(x.to, identity_public(x.cur), AUTHOR);
	author_key = theirs;
	struct envelope_open_params p = params(x.to, RECIPIENT);
	size_t refused = 0;
	/* every bit of the envelope flipped: it never opens to something else */
	for (size_t i = 0; i < x.env_len * 8; i++) {
		struct envelope_opened o;
		memset(&o, 0, sizeof(o));
		x.env[i / 8] ^= (uint8_t)(1u << (i % 8));
		int rc = envelope_open(&p, x.env, x.env_len, &o);
		if (rc < 0)
			refused++;
		else
			cr_assert(eq(int, memcmp(o.body, x.frame, x.frame_len), 0), "bit %zu changed the body", i);
		envelope_opened_clear(&o);
		x.env[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	cr_assert(lt(sz, x.env_len * 8 * 9 / 10, refused), "only %zu of %zu flips refused", refused, x.env_len * 8);
	envelope_peer_destroy(&theirs);
	unbuild(&x);
}
