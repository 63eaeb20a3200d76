/*
 * The [retention] section and type lists by number (agent/config): each
 * type's body retention from its entry, its type's default or the agent's
 * retention, never longer than the agent's; bad entries refused naming the
 * line; a type list may name a type by number, for relays older than it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/identity.h"
#include "proto/schema.h"
#include "support/store_testutil.h"

static char dir[256];
static char key[IDENTITY_LINE_SIZE];

static void setup(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "retention"), 0));
	memset(seed, 0x22, sizeof(seed));
	struct identity *id = identity_from_seeds(seed, seed);
	cr_assert_not_null(id);
	cr_assert(eq(int, identity_line_format(identity_public(id), key, sizeof(key)), 0));
	identity_destroy(&id);
}

static void teardown(void)
{
	store_test_rmtree(dir);
}

TestSuite(retention_config, .init = setup, .fini = teardown, .timeout = 30);

/* Loads a config whose [agent] ends with agent_extra, then tail (line 12 on). */
static struct config *load(const char *agent_extra, const char *tail, char *err, size_t err_len)
{
	char text[4096];
	snprintf(text, sizeof(text),
		 "[agent]\n"                              /* 1 */
		 "id = HU-POLICE-ROSZKE\n"                /* 2 */
		 "keys = keys\n"                          /* 3 */
		 "listen = tcp://0.0.0.0:7400\n"          /* 4 */
		 "data = data\n"                          /* 5 */
		 "%s"                                     /* 6 */
		 "[api]\n"                                /* 7 */
		 "token_file = api.token\n"               /* 8 */
		 "[peer \"RS-BORDER-HORGOS\"]\n"          /* 9 */
		 "endpoint = tcp://192.0.2.1:7400\n"      /* 10 */
		 "key = %s\n"                             /* 11 */
		 "%s",
		 agent_extra, key, tail);
	return config_load_string(text, "test.ini", dir, err, err_len);
}

static const uint64_t H = 3600ull * 1000;

Test(retention_config, defaults_follow_each_exchanges_legal_limit)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load("\n", "", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_assert(eq(u64, cfg->retention_ms, 90 * 24 * H));
	cr_assert(eq(u64, config_body_retention_ms(cfg, schema_type_from_name("passenger_manifest")), 24 * H));
	cr_assert(eq(u64, config_body_retention_ms(cfg, schema_type_from_name("readmission_request")), 90 * 24 * H));
	cr_assert(eq(u64, config_body_retention_ms(cfg, schema_type_from_name("readmission_reply")), 90 * 24 * H));
	cr_assert(eq(u64, config_body_retention_ms(cfg, schema_type_from_name("alert")), 90 * 24 * H));
	config_destroy(&cfg);
}

Test(retention_config, an_entry_sets_its_type_and_the_agent_retention_caps_all)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load("retention = 30d\n", "[retention]\npassenger_manifest = 6h\nalert = 365d\n", err,
				  sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_assert(eq(u64, config_body_retention_ms(cfg, 4), 6 * H));
	cr_assert(eq(u64, config_body_retention_ms(cfg, 1), 30 * 24 * H), "longer than the record itself");
	cr_assert(eq(u64, config_body_retention_ms(cfg, 5), 30 * 24 * H));
	cr_assert(eq(u64, config_body_retention_ms(cfg, 2), 30 * 24 * H));
	config_destroy(&cfg);
}

Test(retention_config, refuses_bad_entries_naming_the_line)
{
	static const struct {
		const char *tail;
		unsigned line;
		const char *words;
	} bad[] = {
		{ "[retention]\npassenger_list = 24h\n", 13, "unknown message type 'passenger_list'" },
		{ "[retention]\npassenger_manifest = soon\n", 13, "not a duration" },
		{ "[retention]\npassenger_manifest = 0s\n", 13, "not a duration" },
		{ "[retention]\nalert = 1d\nalert = 2d\n", 14, "given twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[CONFIG_ERR_MAX] = "", prefix[32];
		struct config *cfg = load("\n", bad[i].tail, err, sizeof(err));
		cr_expect_null(cfg, "accepted: %s", bad[i].tail);
		config_destroy(&cfg);
		snprintf(prefix, sizeof(prefix), "test.ini:%u: ", bad[i].line);
		cr_expect(eq(int, strncmp(err, prefix, strlen(prefix)), 0), "want %s, got %s", prefix, err);
		cr_expect_not_null(strstr(err, bad[i].words), "want '%s' in '%s'", bad[i].words, err);
	}
	/* the known types come from the one table */
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load("\n", "[retention]\nfoo = 1h\n", err, sizeof(err));
	cr_assert_null(cfg);
	cr_assert_not_null(strstr(err, "readmission_reply"), "%s", err);
}

Test(retention_config, type_lists_take_numbers_for_types_newer_than_the_build)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = load("\n", "send = alert, 9\naccept = 5, readmission_reply, 31\n", err, sizeof(err));
	cr_assert_not_null(cfg, "%s", err);
	cr_assert(eq(u32, cfg->peers[0].send_mask, CONFIG_TYPE_BIT(1) | CONFIG_TYPE_BIT(9)));
	cr_assert(eq(u32, cfg->peers[0].accept_mask, CONFIG_TYPE_BIT(5) | CONFIG_TYPE_BIT(6) | CONFIG_TYPE_BIT(31)));
	config_destroy(&cfg);
	static const char *const bad[] = { "send = 32\n", "send = 0\n", "send = 07\n", "send = 5x\n", "send = -1\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = load("\n", bad[i], err, sizeof(err));
		cr_expect_null(cfg, "accepted %s", bad[i]);
		config_destroy(&cfg);
		cr_expect_not_null(strstr(err, "unknown message type"), "%s", err);
	}
}
