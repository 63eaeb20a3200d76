/*
 * The audit trail's bytes (crypto/audit.c) and the [client] and [audit]
 * sections of the config: entries round-trip and every malformed one is
 * refused with its reason; a changed byte changes the hash; checkpoint
 * signatures and countersignatures verify only as made; bad client rights
 * are refused naming the line.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "config/config.h"
#include "crypto/audit.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "proto/err.h"

TestSuite(auditbytes, .timeout = 30);

static struct identity *ident(uint8_t fill)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	memset(seed, fill, sizeof(seed));
	struct identity *id = identity_from_seeds(seed, seed);
	cr_assert(id != NULL);
	return id;
}

static void build(struct audit_builder *b)
{
	uint8_t prev[AUDIT_HASH_LEN], id[16], h[32];
	memset(prev, 7, sizeof(prev));
	memset(id, 1, sizeof(id));
	memset(h, 2, sizeof(h));
	audit_begin(b, 42, 1764582000123ull, AUDIT_SUBMITTED, prev);
	audit_put_text(b, AUDIT_T_CLIENT, "customs-ncts");
	audit_put_bytes(b, AUDIT_T_ID, id, sizeof(id));
	audit_put_text(b, AUDIT_T_TYPE, "pre_arrival");
	audit_put_text(b, AUDIT_T_RECIPIENT, "HU-NAV-ROSZKE");
	audit_put_bytes(b, AUDIT_T_BODY_HASH, h, sizeof(h));
	audit_put_u64(b, AUDIT_T_ATTEMPT, 3);
}

struct seen {
	int tags[16];
	int n;
};

static int on_field(void *arg, int tag, const uint8_t *value, size_t len)
{
	struct seen *s = arg;
	(void)value;
	(void)len;
	s->tags[s->n++] = tag;
	return 0;
}

Test(auditbytes, entry_round_trips_with_its_head_and_fields)
{
	static struct audit_builder b;
	struct audit_head head;
	struct seen s = { .n = 0 };
	char why[128];

	build(&b);
	cr_assert(eq(int, b.overflow, 0));
	cr_assert(eq(int, audit_entry_parse(b.buf, b.len, &head, on_field, &s, why, sizeof(why)), 0));
	cr_assert(eq(u64, head.seq, 42));
	cr_assert(eq(u64, head.time_ms, 1764582000123ull));
	cr_assert(eq(int, head.kind, AUDIT_SUBMITTED));
	cr_assert(eq(int, s.n, 6));
	cr_assert(eq(int, s.tags[0], AUDIT_T_CLIENT));
	cr_assert(eq(int, s.tags[5], AUDIT_T_ATTEMPT));
	cr_assert(eq(int, memcmp(b.buf, "LAE1", 4), 0));
}

Test(auditbytes, refuses_truncated_unknown_and_misshapen_entries)
{
	static struct audit_builder b;
	struct audit_head head;
	char why[128];

	build(&b);
	/* truncated anywhere in its fields or head */
	for (size_t cut = 1; cut < b.len; cut++) {
		int rc = audit_entry_parse(b.buf, b.len - cut, &head, NULL, NULL, why, sizeof(why));
		bool at_field_end = false;
		/* cutting exactly a whole trailing field leaves a valid, shorter entry */
		for (size_t off = AUDIT_ENTRY_HEAD_LEN; off < b.len;) {
			size_t vlen = ((size_t)b.buf[off + 1] << 8) | b.buf[off + 2];
			off += 3 + vlen;
			at_field_end |= off == b.len - cut;
		}
		if (b.len - cut == AUDIT_ENTRY_HEAD_LEN || at_field_end)
			continue;
		cr_assert(eq(int, rc, LIMES_E_ENV_MALFORMED), "cut %zu accepted", cut);
	}
	uint8_t bad[AUDIT_ENTRY_MAX];
	memcpy(bad, b.buf, b.len);
	bad[0] = 'X';
	cr_assert(eq(int, audit_entry_parse(bad, b.len, &head, NULL, NULL, why, sizeof(why)), LIMES_E_ENV_MALFORMED));
	cr_assert(strstr(why, "LAE1") != NULL, "%s", why);
	memcpy(bad, b.buf, b.len);
	bad[20] = 99; /* kind */
	cr_assert(eq(int, audit_entry_parse(bad, b.len, &head, NULL, NULL, why, sizeof(why)), LIMES_E_ENV_MALFORMED));
	cr_assert(strstr(why, "kind 99") != NULL, "%s", why);
	memcpy(bad, b.buf, b.len);
	bad[AUDIT_ENTRY_HEAD_LEN] = 200; /* tag */
	cr_assert(eq(int, audit_entry_parse(bad, b.len, &head, NULL, NULL, why, sizeof(why)), LIMES_E_ENV_MALFORMED));
	cr_assert(strstr(why, "tag 200") != NULL, "%s", why);
	/* an 8-byte field of another length */
	struct audit_builder *c = calloc(1, sizeof(*c));
	audit_begin(c, 1, 1, AUDIT_SENT, NULL);
	audit_put_bytes(c, AUDIT_T_ATTEMPT, (const uint8_t *)"1234", 4);
	cr_assert(eq(int, audit_entry_parse(c->buf, c->len, &head, NULL, NULL, why, sizeof(why)), LIMES_E_ENV_MALFORMED));
	/* an oversized field makes the builder refuse the entry */
	static uint8_t big[70000];
	audit_put_bytes(c, AUDIT_T_DETAIL, big, sizeof(big));
	cr_assert(eq(int, c->overflow, 1));
	free(c);
}

Test(auditbytes, one_changed_byte_changes_the_hash)
{
	static struct audit_builder b;
	uint8_t h1[32], h2[32];

	build(&b);
	audit_entry_hash(b.buf, b.len, h1);
	for (size_t i = 0; i < b.len; i += 7) {
		b.buf[i] ^= 1;
		audit_entry_hash(b.buf, b.len, h2);
		b.buf[i] ^= 1;
		cr_assert(ne(int, memcmp(h1, h2, 32), 0), "byte %zu", i);
	}
}

Test(auditbytes, checkpoint_and_countersignature_verify_only_as_made)
{
	cr_assert(eq(int, random_init(), 0));
	struct identity *me = ident(0x21), *nb = ident(0x42);
	uint8_t head[32], body[AUDIT_CHECKPOINT_MAX], sig[64], cs[64];
	char agent[65];
	uint64_t seq, t;
	uint8_t h2[32];

	memset(head, 9, sizeof(head));
	int n = audit_checkpoint_body("RS-CUSTOMS-HORGOS", 1000, head, 1764582000000ull, body);
	cr_assert(lt(int, 0, n));
	cr_assert(eq(int, audit_checkpoint_parse(body, (size_t)n, agent, &seq, h2, &t), 0));
	cr_assert(eq(str, agent, "RS-CUSTOMS-HORGOS"));
	cr_assert(eq(u64, seq, 1000));
	cr_assert(eq(int, audit_checkpoint_sign(me, body, (size_t)n, sig), 0));
	cr_assert(eq(int, audit_checkpoint_verify(identity_public(me)->sign_pk, body, (size_t)n, sig), 0));
	cr_assert(eq(int, audit_checkpoint_verify(identity_public(nb)->sign_pk, body, (size_t)n, sig), LIMES_E_ENV_BAD_SIG));
	cr_assert(eq(int, audit_countersign(nb, "HU-NAV-ROSZKE", body, (size_t)n, sig, cs), 0));
	cr_assert(eq(int, audit_countersign_verify(identity_public(nb)->sign_pk, "HU-NAV-ROSZKE", body, (size_t)n, sig, cs), 0));
	/* another countersigner name, a flipped body bit, another signature */
	cr_assert(eq(int, audit_countersign_verify(identity_public(nb)->sign_pk, "HU-NAV-OTHER", body, (size_t)n, sig, cs),
		     LIMES_E_ENV_BAD_SIG));
	body[5] ^= 1;
	cr_assert(eq(int, audit_countersign_verify(identity_public(nb)->sign_pk, "HU-NAV-ROSZKE", body, (size_t)n, sig, cs),
		     LIMES_E_ENV_BAD_SIG));
	cr_assert(eq(int, audit_checkpoint_verify(identity_public(me)->sign_pk, body, (size_t)n, sig), LIMES_E_ENV_BAD_SIG));
	body[5] ^= 1;
	sig[0] ^= 1;
	cr_assert(eq(int, audit_countersign_verify(identity_public(nb)->sign_pk, "HU-NAV-ROSZKE", body, (size_t)n, sig, cs),
		     LIMES_E_ENV_BAD_SIG));
	/* malformed bodies */
	cr_assert(eq(int, audit_checkpoint_parse(body, (size_t)n - 1, agent, &seq, h2, &t), LIMES_E_ENV_MALFORMED));
	cr_assert(eq(int, audit_checkpoint_body("", 1, head, 1, body), LIMES_E_INVAL));
	identity_destroy(&me);
	identity_destroy(&nb);
}

static const char base[] =
	"[agent]\nid = RS-CUSTOMS-HORGOS\nkeys = keys\nlisten = tcp://127.0.0.1:7400\ndata = data\n"
	"[api]\nlisten = 127.0.0.1:7480\n";

static struct config *load(const char *more, char *err, size_t len)
{
	char text[4096];
	snprintf(text, sizeof(text), "%s%s", base, more);
	return config_load_string(text, "t.ini", "/etc/limes", err, len);
}

Test(auditbytes, clients_parse_with_their_rights_and_the_simple_token_is_one_with_every_right)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg = load("token_file = api.token\n[client \"customs-ncts\"]\ntoken_file = c.token\n"
				  "submit = pre_arrival\nread = control_result, alert\nadmin = yes\n"
				  "[audit]\ncheckpoint_every = 50\ncheckpoint_interval = 5s\n", err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(sz, cfg->n_clients, 2));
	cr_assert(eq(str, cfg->clients[0].name, "customs-ncts"));
	cr_assert(eq(str, cfg->clients[0].token_file, "/etc/limes/c.token"));
	cr_assert(eq(int, cfg->clients[0].admin, 1));
	cr_assert(eq(sz, cfg->clients[0].n_to, 0));
	cr_assert(eq(str, cfg->clients[1].name, "default"));
	cr_assert(eq(int, cfg->clients[1].simple && cfg->clients[1].to_any && cfg->clients[1].admin, 1));
	cr_assert(eq(u64, cfg->audit_checkpoint_entries, 50));
	cr_assert(eq(u64, cfg->audit_checkpoint_ms, 5000));
	config_destroy(&cfg);
}

Test(auditbytes, bad_clients_are_refused_naming_the_line)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[client \"a\"]\nsubmit = alert\n", "t.ini:8: client \"a\": missing key 'token_file'" },
		{ "[client \"a\"]\ntoken_file = x\nsubmit = gossip\n", "t.ini:10: submit: unknown message type 'gossip'" },
		{ "[client \"a\"]\ntoken_file = x\nto = NOWHERE\n", "t.ini:8: client \"a\": to: 'NOWHERE' is not a configured peer" },
		{ "[client \"a\"]\ntoken_file = x\nadmin = maybe\n", "t.ini:10: admin: 'maybe' is not yes or no" },
		{ "[client \"a\"]\ntoken_file = x\ncolour = red\n", "t.ini:10: unknown key 'colour'" },
		{ "[client \"a b\"]\ntoken_file = x\n", "t.ini:8: section [client \"a b\"]: 'a b' is not a client name" },
		{ "[client \"a\"]\ntoken_file = x\n[client \"a\"]\ntoken_file = y\n", "t.ini:10: duplicate client \"a\"" },
		{ "[client \"a\"]\ntoken_file = x\n[client \"b\"]\ntoken_file = x\n", "t.ini:10: client \"b\" uses the token file of client \"a\"" },
		{ "[audit]\ncheckpoint_every = 0\n", "t.ini:9: checkpoint_every: '0' is not a whole number" },
		{ "", "[api]: missing key 'token_file'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[CONFIG_ERR_MAX] = "";
		struct config *cfg = load(cases[i].text, err, sizeof(err));
		cr_assert(cfg == NULL, "case %zu loaded", i);
		cr_assert(strstr(err, cases[i].want) != NULL, "case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
	}
}

/* A batch entry: the fields before the first id are everyone's, each id
 * opens a message; the JSON form groups them under "messages". */
Test(auditbytes, batch_entry_groups_its_messages_and_must_name_one)
{
	static struct audit_builder b;
	struct audit_head head;
	char why[128];
	uint8_t id1[16], id2[16], h[32];
	memset(id1, 0x11, sizeof(id1));
	memset(id2, 0x22, sizeof(id2));
	memset(h, 3, sizeof(h));

	audit_begin(&b, 5, 1764582000123ull, AUDIT_RECEIPT_BATCH, NULL);
	audit_put_text(&b, AUDIT_T_PEER, "HU-NAV-ROSZKE");
	audit_put_bytes(&b, AUDIT_T_RECEIPT_HASH, h, sizeof(h));
	audit_put_bytes(&b, AUDIT_T_ID, id1, sizeof(id1));
	audit_put_text(&b, AUDIT_T_RECIPIENT, "HU-NAV-ROSZKE");
	audit_put_text(&b, AUDIT_T_STATUS, "accepted");
	audit_put_bytes(&b, AUDIT_T_ID, id2, sizeof(id2));
	audit_put_text(&b, AUDIT_T_RECIPIENT, "AT-BMI");
	audit_put_text(&b, AUDIT_T_STATUS, "rejected");
	audit_put_text(&b, AUDIT_T_REASON, "policy_deny");
	cr_assert(eq(int, audit_entry_parse(b.buf, b.len, &head, NULL, NULL, why, sizeof(why)), 0), "%s", why);
	cr_assert(eq(int, audit_kind_is_batch(head.kind), 1));
	cr_assert(eq(str, (char *)audit_kind_name(head.kind), "receipt_batch"));
	cr_assert(eq(int, audit_kind_is_batch(AUDIT_RECEIPT), 0));

	uint8_t hash[32];
	audit_entry_hash(b.buf, b.len, hash);
	json_t *o = audit_entry_to_json(b.buf, b.len, hash, sizeof(hash));
	cr_assert(o != NULL);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(o, "peer")), "HU-NAV-ROSZKE"));
	cr_assert(json_object_get(o, "receipt_hash") != NULL, "a common field stays on the entry");
	cr_assert(json_object_get(o, "id") == NULL, "ids belong to the messages");
	json_t *msgs = json_object_get(o, "messages");
	cr_assert(eq(sz, json_array_size(msgs), 2));
	json_t *m2 = json_array_get(msgs, 1);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(m2, "id")), "22222222222222222222222222222222"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(m2, "recipient")), "AT-BMI"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(m2, "reason")), "policy_deny"));
	cr_assert(json_object_get(json_array_get(msgs, 0), "reason") == NULL, "the first was not rejected");
	json_decref(o);

	/* an id of another length, or none at all, is not a batch entry */
	audit_begin(&b, 5, 1764582000123ull, AUDIT_SENT_BATCH, NULL);
	audit_put_text(&b, AUDIT_T_PEER, "HU-NAV-ROSZKE");
	audit_put_bytes(&b, AUDIT_T_ID, id1, 15);
	cr_assert(eq(int, audit_entry_parse(b.buf, b.len, &head, NULL, NULL, why, sizeof(why)), LIMES_E_ENV_MALFORMED));
	cr_assert(strstr(why, "not 16") != NULL, "%s", why);
	audit_begin(&b, 5, 1764582000123ull, AUDIT_SENT_BATCH, NULL);
	audit_put_text(&b, AUDIT_T_PEER, "HU-NAV-ROSZKE");
	cr_assert(eq(int, audit_entry_parse(b.buf, b.len, &head, NULL, NULL, why, sizeof(why)), LIMES_E_ENV_MALFORMED));
	cr_assert(strstr(why, "names no message") != NULL, "%s", why);
}
