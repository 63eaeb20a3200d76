/* Envelope build and open: every check of envelope_open, relays, re-opening our own. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "crypto/envelope.h"
#include "support/crypto_testutil.h"

static struct ct_world w;
static const char body[] = "{\"alert_id\":\"RS-2025-000117\",\"category\":\"stolen_vehicle\"}";

static void setup(void)
{
	cr_assert(eq(int, ct_world_init(&w), 0));
}

static void teardown(void)
{
	ct_world_fini(&w);
}

TestSuite(envelope, .init = setup, .fini = teardown, .timeout = 60);

static bool contains(const uint8_t *hay, size_t hay_len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= hay_len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

static int open_as(int viewer, const uint8_t *buf, size_t len, struct envelope_opened *out)
{
	struct envelope_open_params p = ct_params(&w, viewer);

	return envelope_open(&p, buf, len, out);
}

/* Builds A -> B with a header tweaked by the caller. */
static int build_with(struct wire_header *h, uint8_t **out, size_t *len)
{
	return envelope_build(w.id[CT_A], w.peer[CT_A][CT_B], h, (const uint8_t *)body, strlen(body), out, len);
}

Test(envelope, opens_good_envelope_to_identical_body)
{
	uint8_t *env = NULL, hash[ENVELOPE_HASH_LEN];
	size_t len = 0;
	struct envelope_opened o;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), 0));
	cr_assert(eq(sz, o.body_len, strlen(body)));
	cr_assert(eq(int, memcmp(o.body, body, o.body_len), 0));
	cr_assert(eq(str, o.header.sender, (char *)ct_ids[CT_A]));
	cr_assert(eq(str, o.header.recipient, (char *)ct_ids[CT_B]));
	cr_assert(eq(u64, o.header.seq, 42));
	cr_assert(eq(int, o.header.priority, WIRE_PRIORITY_URGENT));
	cr_assert(eq(int, memcmp(o.header.sender_key_id, identity_public(w.id[CT_A])->key_id, 8), 0));
	cr_assert(eq(int, memcmp(o.header.recipient_key_id, identity_public(w.id[CT_B])->key_id, 8), 0));
	envelope_hash(env, len, hash);
	cr_assert(eq(int, memcmp(o.hash, hash, sizeof(hash)), 0));
	envelope_opened_clear(&o);
	cr_assert(o.body == NULL);
	free(env);
}

Test(envelope, ciphertext_hides_the_body_and_nonces_differ)
{
	uint8_t *e1 = NULL, *e2 = NULL;
	size_t l1 = 0, l2 = 0;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &e1, &l1), 0));
	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &e2, &l2), 0));
	cr_assert(eq(sz, l1, l2));
	cr_assert(ne(int, memcmp(e1, e2, l1), 0));
	cr_assert(eq(int, contains(e1, l1, "stolen_vehicle"), 0));
	cr_assert(eq(int, contains((const uint8_t *)body, strlen(body), "stolen_vehicle"), 1));
	free(e1);
	free(e2);
}

Test(envelope, opens_empty_body)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, "", &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), 0));
	cr_assert(eq(sz, o.body_len, 0));
	envelope_opened_clear(&o);
	free(env);
}

Test(envelope, refuses_every_flipped_bit)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	for (size_t bit = 0; bit < len * 8; bit++) {
		env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = open_as(CT_B, env, len, &o);
		env[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert(lt(int, rc, 0), "bit %zu of %zu accepted", bit, len * 8);
		cr_assert(o.body == NULL);
	}
	cr_assert(eq(int, open_as(CT_B, env, len, &o), 0));
	envelope_opened_clear(&o);
	free(env);
}

/* Skips one length-delimited field at *pos (tag, varint length, payload). */
static size_t skip_field(const uint8_t *buf, size_t pos)
{
	size_t n = 0;
	unsigned shift = 0;

	pos++;  /* one-byte tag */
	while (buf[pos] & 0x80) {
		n |= (size_t)(buf[pos++] & 0x7f) << shift;
		shift += 7;
	}
	n |= (size_t)buf[pos++] << shift;
	return pos + n;
}

Test(envelope, refuses_every_truncation)
{
	uint8_t *env = NULL;
	size_t len = 0, hdr_end, ct_end;
	struct envelope_opened o;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	/* A cut between fields leaves a required field missing: malformed. Any
	 * other cut leaves a length running past the end: truncated. */
	hdr_end = skip_field(env, 0);
	ct_end = skip_field(env, hdr_end);
	cr_assert(eq(sz, skip_field(env, ct_end), len));
	for (size_t cut = 0; cut < len; cut++) {
		int want = (cut == hdr_end || cut == ct_end) ? LIMES_E_ENV_MALFORMED : LIMES_E_ENV_TRUNCATED;
		cr_assert(eq(int, open_as(CT_B, env, cut, &o), want), "prefix of %zu bytes", cut);
	}
	free(env);
}

Test(envelope, refuses_oversized)
{
	uint8_t *env = NULL, *big;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p = ct_params(&w, CT_B);

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	p.max_envelope_bytes = len - 1;
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_OVERSIZED));
	p.max_envelope_bytes = len;
	cr_assert(eq(int, envelope_open(&p, env, len, &o), 0));
	envelope_opened_clear(&o);
	/* A huge buffer is refused before any decoding, whatever it holds. */
	big = calloc(1, CT_MAX_BYTES + 1);
	cr_assert(big != NULL);
	p.max_envelope_bytes = CT_MAX_BYTES;
	cr_assert(eq(int, envelope_open(&p, big, CT_MAX_BYTES + 1, &o), LIMES_E_ENV_OVERSIZED));
	free(big);
	free(env);
}

Test(envelope, refuses_garbage_as_malformed)
{
	static const uint8_t group[] = { 0x0b, 0x0c };        /* start group: not allowed */
	static const uint8_t field0[] = { 0x02, 0x01, 0x00 }; /* field number 0 */
	static const uint8_t junk_sig[] = { 0x0a, 0x01, 0x08, 0x12, 0x00, 0x1a, 0x01, 0x00 };
	struct envelope_opened o;

	cr_assert(eq(int, open_as(CT_B, group, sizeof(group), &o), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, open_as(CT_B, field0, sizeof(field0), &o), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, open_as(CT_B, junk_sig, sizeof(junk_sig), &o), LIMES_E_ENV_MALFORMED));
}

Test(envelope, refuses_unknown_major_version)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	ct_header(&h, CT_A, CT_B, 0x21);
	h.version_major = 2;
	cr_assert(eq(int, build_with(&h, &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), LIMES_E_ENV_VERSION));
	free(env);
}

Test(envelope, refuses_wrong_recipient)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	cr_assert(eq(int, open_as(CT_C, env, len, &o), LIMES_E_ENV_RECIPIENT));
	free(env);
}

Test(envelope, refuses_expired)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p = ct_params(&w, CT_B);

	ct_header(&h, CT_A, CT_B, 0x22);
	cr_assert(eq(int, build_with(&h, &env, &len), 0));
	p.now_ms = h.expires_ms;       /* still valid at the last millisecond */
	cr_assert(eq(int, envelope_open(&p, env, len, &o), 0));
	envelope_opened_clear(&o);
	p.now_ms = h.expires_ms + 1;
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_EXPIRED));
	free(env);
}

Test(envelope, refuses_expiry_before_creation)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	ct_header(&h, CT_A, CT_B, 0x23);
	h.created_ms = CT_NOW_MS + 1000;
	h.expires_ms = CT_NOW_MS + 500;
	cr_assert(eq(int, build_with(&h, &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), LIMES_E_ENV_EXPIRED));
	free(env);
}

Test(envelope, refuses_created_in_the_future)
{
	struct wire_header h;
	uint8_t *env = NULL, *ok = NULL;
	size_t len = 0, ok_len = 0;
	struct envelope_opened o;

	ct_header(&h, CT_A, CT_B, 0x24);
	h.created_ms = CT_NOW_MS + CT_MAX_SKEW_MS + 1;
	h.expires_ms = h.created_ms + 3600 * 1000;
	cr_assert(eq(int, build_with(&h, &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), LIMES_E_ENV_FUTURE));
	/* Within the allowed skew it opens. */
	ct_header(&h, CT_A, CT_B, 0x25);
	h.created_ms = CT_NOW_MS + CT_MAX_SKEW_MS;
	h.expires_ms = h.created_ms + 3600 * 1000;
	cr_assert(eq(int, build_with(&h, &ok, &ok_len), 0));
	cr_assert(eq(int, open_as(CT_B, ok, ok_len, &o), 0));
	envelope_opened_clear(&o);
	free(ok);
	free(env);
}

Test(envelope, refuses_ttl_too_long)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	ct_header(&h, CT_A, CT_B, 0x26);
	h.expires_ms = h.created_ms + CT_MAX_TTL_MS + 1;
	cr_assert(eq(int, build_with(&h, &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), LIMES_E_ENV_TTL));
	free(env);
}

Test(envelope, refuses_unknown_key)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	p = ct_params(&w, CT_B);
	w.lookup_fail = LIMES_E_ENV_UNKNOWN_KEY;
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_UNKNOWN_KEY));
	free(env);
}

Test(envelope, refuses_key_not_valid)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	p = ct_params(&w, CT_B);
	w.lookup_fail = LIMES_E_ENV_KEY_INVALID;
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_KEY_INVALID));
	free(env);
}

/* A lookup that ignores the key id and always answers with C's key. */
static const struct envelope_peer *lookup_wrong(void *arg, const char *sender, const uint8_t key_id[8],
						uint64_t created_ms, int *err)
{
	(void)arg; (void)sender; (void)key_id; (void)created_ms; (void)err;
	return w.peer[CT_B][CT_C];
}

Test(envelope, refuses_key_other_than_the_one_named)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p = ct_params(&w, CT_B);

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	p.lookup = lookup_wrong;
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_UNKNOWN_KEY));
	free(env);
}

Test(envelope, refuses_forged_sender)
{
	/* C signs with its own key but claims to be A: the lookup knows no such key of A. */
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	ct_header(&h, CT_A, CT_B, 0x27);
	cr_assert(eq(int, envelope_build(w.id[CT_C], w.peer[CT_C][CT_B], &h, (const uint8_t *)body,
					 strlen(body), &env, &len), 0));
	cr_assert(eq(int, open_as(CT_B, env, len, &o), LIMES_E_ENV_UNKNOWN_KEY));
	free(env);
}

Test(envelope, refuses_envelope_sealed_to_an_old_key_of_ours)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p;
	char sub[512], why[256];
	struct identity *old_b;
	struct envelope_peer *a_to_old_b;
	int err;

	/* B rotated its key; A still seals to the old one. */
	snprintf(sub, sizeof(sub), "%s/oldb", w.dir);
	cr_assert(eq(int, identity_generate(sub, false, NULL, 0), 0));
	old_b = identity_load(sub, &err, why, sizeof(why));
	cr_assert(old_b != NULL, "%s", why);
	a_to_old_b = envelope_peer_new(w.id[CT_A], identity_public(old_b), ct_ids[CT_B]);
	cr_assert(a_to_old_b != NULL);
	ct_header(&h, CT_A, CT_B, 0x28);
	cr_assert(eq(int, envelope_build(w.id[CT_A], a_to_old_b, &h, (const uint8_t *)body, strlen(body),
					 &env, &len), 0));
	p = ct_params(&w, CT_B);
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_DECRYPT));
	envelope_peer_destroy(&a_to_old_b);
	cr_assert(a_to_old_b == NULL);
	identity_destroy(&old_b);
	cr_assert(old_b == NULL);
	free(env);
}

Test(envelope, relay_verifies_without_unsealing)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p;

	/* A -> C, handed to B to relay: B checks A's signature but cannot read it. */
	cr_assert(eq(int, ct_build(&w, CT_A, CT_C, body, &env, &len), 0));
	p = ct_params(&w, CT_B);
	cr_assert(eq(int, envelope_open(&p, env, len, &o), LIMES_E_ENV_RECIPIENT));
	p.me = NULL;  /* a relay needs no identity of its own to check */
	cr_assert(eq(int, envelope_verify(&p, env, len, &o), 0));
	cr_assert(o.body == NULL);
	cr_assert(eq(str, o.header.recipient, (char *)ct_ids[CT_C]));
	envelope_opened_clear(&o);
	/* A tampered copy is refused by the relay. */
	env[len - 1] ^= 0x01;
	cr_assert(eq(int, envelope_verify(&p, env, len, &o), LIMES_E_ENV_BAD_SIG));
	env[len - 1] ^= 0x01;
	/* And C opens what the relay passed on. */
	cr_assert(eq(int, open_as(CT_C, env, len, &o), 0));
	cr_assert(eq(int, memcmp(o.body, body, strlen(body)), 0));
	envelope_opened_clear(&o);
	free(env);
}

Test(envelope, relay_applies_time_and_key_checks)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;
	struct envelope_open_params p;

	ct_header(&h, CT_A, CT_C, 0x29);
	h.expires_ms = h.created_ms + CT_MAX_TTL_MS + 1;
	cr_assert(eq(int, envelope_build(w.id[CT_A], w.peer[CT_A][CT_C], &h, (const uint8_t *)body,
					 strlen(body), &env, &len), 0));
	p = ct_params(&w, CT_B);
	cr_assert(eq(int, envelope_verify(&p, env, len, &o), LIMES_E_ENV_TTL));
	free(env);
}

Test(envelope, sender_reopens_own_envelope)
{
	uint8_t *env = NULL;
	size_t len = 0;
	struct envelope_opened o;

	cr_assert(eq(int, ct_build(&w, CT_A, CT_B, body, &env, &len), 0));
	cr_assert(eq(int, envelope_reopen_own(w.id[CT_A], w.peer[CT_A][CT_B], env, len, CT_MAX_BYTES, &o), 0));
	cr_assert(eq(sz, o.body_len, strlen(body)));
	cr_assert(eq(int, memcmp(o.body, body, o.body_len), 0));
	envelope_opened_clear(&o);
	/* Not with the pair key of another peer, nor as someone else, nor tampered. */
	cr_assert(eq(int, envelope_reopen_own(w.id[CT_A], w.peer[CT_A][CT_C], env, len, CT_MAX_BYTES, &o),
		     LIMES_E_ENV_RECIPIENT));
	cr_assert(eq(int, envelope_reopen_own(w.id[CT_C], w.peer[CT_C][CT_B], env, len, CT_MAX_BYTES, &o),
		     LIMES_E_ENV_UNKNOWN_KEY));
	env[len - 1] ^= 0x80;
	cr_assert(eq(int, envelope_reopen_own(w.id[CT_A], w.peer[CT_A][CT_B], env, len, CT_MAX_BYTES, &o),
		     LIMES_E_ENV_BAD_SIG));
	cr_assert(eq(int, envelope_reopen_own(w.id[CT_A], w.peer[CT_A][CT_B], env, len, len - 1, &o),
		     LIMES_E_ENV_OVERSIZED));
	free(env);
}

Test(envelope, build_refuses_bad_headers_and_mismatched_peers)
{
	struct wire_header h;
	uint8_t *env = NULL;
	size_t len = 0;

	ct_header(&h, CT_A, CT_B, 0x30);
	snprintf(h.sender, sizeof(h.sender), "has space");
	cr_assert(eq(int, build_with(&h, &env, &len), LIMES_E_INVAL));
	ct_header(&h, CT_A, CT_B, 0x31);
	h.sender[0] = '\0';
	cr_assert(eq(int, build_with(&h, &env, &len), LIMES_E_INVAL));
	/* Recipient in the header must be the peer the body is sealed to. */
	ct_header(&h, CT_A, CT_C, 0x32);
	cr_assert(eq(int, build_with(&h, &env, &len), LIMES_E_INVAL));
	/* The pair key must be the builder's own. */
	ct_header(&h, CT_A, CT_B, 0x33);
	cr_assert(eq(int, envelope_build(w.id[CT_C], w.peer[CT_A][CT_B], &h, (const uint8_t *)body,
					 strlen(body), &env, &len), LIMES_E_INVAL));
	cr_assert(env == NULL);
}

Test(envelope, peer_refuses_damaged_or_low_order_keys)
{
	struct peer_key pk = *identity_public(w.id[CT_B]);

	pk.key_id[0] ^= 1;
	cr_assert(envelope_peer_new(w.id[CT_A], &pk, ct_ids[CT_B]) == NULL);
	pk = *identity_public(w.id[CT_B]);
	memset(pk.box_pk, 0, sizeof(pk.box_pk));
	identity_key_id(pk.sign_pk, pk.box_pk, pk.key_id);
	cr_assert(envelope_peer_new(w.id[CT_A], &pk, ct_ids[CT_B]) == NULL);
	cr_assert(envelope_peer_new(w.id[CT_A], identity_public(w.id[CT_B]), "bad id!") == NULL);
	envelope_peer_destroy(NULL);
}
