/*
 * The config of the store backend and of an HA pair: [store] (backend,
 * conninfo or conninfo_file, node, schema, ha_poll) and a peer endpoint that
 * lists several nodes. Each error names the file and line.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/identity.h"
#include "support/store_testutil.h"

static char dir[256];
static char key_a[IDENTITY_LINE_SIZE];

static void setup(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	memset(seed, 0x11, sizeof(seed));
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "config-store"), 0));
	struct identity *id = identity_from_seeds(seed, seed);
	cr_assert(id != NULL);
	cr_assert(eq(int, identity_line_format(identity_public(id), key_a, IDENTITY_LINE_SIZE), 0));
	identity_destroy(&id);
}

static void teardown(void)
{
	store_test_rmtree(dir);
}

TestSuite(config_store, .init = setup, .fini = teardown, .timeout = 30);

/* A valid config whose peer has `endpoint`, then `extra` from line 13 on. */
static char *text_with(const char *endpoint, const char *extra)
{
	size_t n = 4096;
	char *text = malloc(n);
	cr_assert(text != NULL);
	snprintf(text, n,
		 "[agent]\n"                                   /* 1 */
		 "id = RS-CUSTOMS-HORGOS\n"                   /* 2 */
		 "keys = keys\n"                              /* 3 */
		 "listen = tcp://0.0.0.0:7400\n"              /* 4 */
		 "data = data\n"                              /* 5 */
		 "[api]\n"                                    /* 6 */
		 "listen = 127.0.0.1:7480\n"                  /* 7 */
		 "token_file = api.token\n"                   /* 8 */
		 "[peer \"HU-NAV-ROSZKE\"]\n"                 /* 9 */
		 "endpoint = %s\n"                            /* 10 */
		 "key = %s\n"                                 /* 11 */
		 "send = alert\n"                             /* 12 */
		 "%s",
		 endpoint, key_a, extra);
	return text;
}

static struct config *load(const char *text, char *err, size_t err_len)
{
	return config_load_string(text, "test.ini", dir, err, err_len);
}

static void refused(const char *text, unsigned line, const char *words)
{
	char err[CONFIG_ERR_MAX] = "", prefix[64];
	struct config *cfg = load(text, err, sizeof(err));
	cr_assert(cfg == NULL, "accepted:\n%s", text);
	snprintf(prefix, sizeof(prefix), "test.ini:%u: ", line);
	cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "want '%s...', got '%s'", prefix, err);
	cr_assert(strstr(err, words) != NULL, "want '%s' in '%s'", words, err);
}

Test(config_store, defaults_to_sqlite_with_a_node_name)
{
	char err[CONFIG_ERR_MAX] = "";
	char *text = text_with("tcp://198.51.100.7:7400", "");
	struct config *cfg = load(text, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(int, cfg->store_backend, 0));
	cr_assert(eq(u64, cfg->ha_poll_ms, 500));
	cr_assert(not(eq(sz, strlen(cfg->node), 0)));
	cr_assert(eq(str, cfg->peers[0].endpoint, "tcp://198.51.100.7:7400"));
	config_destroy(&cfg);
	free(text);
}

Test(config_store, reads_a_postgres_store_and_a_two_node_endpoint)
{
	char err[CONFIG_ERR_MAX] = "", want[600];
	char *text = text_with(" tcp://a.example:7400 ,tcp://b.example:7400",
			       "[store]\nbackend = postgres\nconninfo_file = pg.conninfo\nnode = horgos-a\n"
			       "schema = rs_customs\nha_poll = 250ms\n");
	struct config *cfg = load(text, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(int, cfg->store_backend, 1));
	snprintf(want, sizeof(want), "%s/pg.conninfo", dir);
	cr_assert(strstr(cfg->store_conninfo_file, "/pg.conninfo") != NULL, "%s", cfg->store_conninfo_file);
	cr_assert(eq(str, cfg->node, "horgos-a"));
	cr_assert(eq(str, cfg->store_schema, "rs_customs"));
	cr_assert(eq(u64, cfg->ha_poll_ms, 250));
	cr_assert(eq(str, cfg->peers[0].endpoint, "tcp://a.example:7400,tcp://b.example:7400"));
	config_destroy(&cfg);
	free(text);
}

Test(config_store, refuses_bad_store_settings_naming_the_line)
{
	char *text = text_with("tcp://a:1", "[store]\nbackend = oracle\n");
	refused(text, 14, "backend: 'oracle' is not sqlite or postgres");
	free(text);
	text = text_with("tcp://a:1", "[store]\nbackend = postgres\n");
	refused(text, 13, "needs exactly one of 'conninfo' and 'conninfo_file'");
	free(text);
	text = text_with("tcp://a:1", "[store]\nbackend = postgres\nconninfo = host=x\nconninfo_file = f\n");
	refused(text, 13, "needs exactly one of");
	free(text);
	text = text_with("tcp://a:1", "[store]\nconninfo = host=x\n");
	refused(text, 13, "conninfo is for backend = postgres");
	free(text);
	text = text_with("tcp://a:1", "[store]\nbackend = postgres\nconninfo = host=x\nschema = Bad-Name\n");
	refused(text, 16, "schema: 'Bad-Name'");
	free(text);
	text = text_with("tcp://a:1", "[store]\nnode = a b\n");
	refused(text, 14, "node: 'a b'");
	free(text);
	text = text_with("tcp://a:1", "[store]\nha_poll = often\n");
	refused(text, 14, "ha_poll: 'often' is not a duration");
	free(text);
	text = text_with("tcp://a:1", "[store]\nflavour = mild\n");
	refused(text, 14, "unknown key 'flavour' in [store]");
	free(text);
}

Test(config_store, refuses_a_bad_item_in_an_endpoint_list)
{
	char *text = text_with("tcp://a:1, udp://b:2", "");
	refused(text, 10, "endpoint: 'udp://b:2' is not a ZeroMQ endpoint");
	free(text);
	text = text_with("tcp://a:1,,tcp://b:2", "");
	refused(text, 10, "empty or too long item");
	free(text);
}
