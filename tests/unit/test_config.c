/*
 * The INI config: a complete file loads with its defaults and relative
 * paths resolved against the file's folder; each kind of error is refused
 * with a message that names the file and the exact line.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "crypto/identity.h"
#include "proto/sizes.h"
#include "support/store_testutil.h"

static inline int is(int cond)
{
	return cond;
}

static char dir[256];
static char key_a[IDENTITY_LINE_SIZE], key_b[IDENTITY_LINE_SIZE];

static void setup(void)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	cr_assert(eq(int, store_test_mkdtemp(dir, sizeof(dir), "config"), 0));
	for (int k = 0; k < 2; k++) {
		memset(seed, 0x11 * (k + 1), sizeof(seed));
		struct identity *id = identity_from_seeds(seed, seed);
		cr_assert(id != NULL);
		cr_assert(eq(int, identity_line_format(identity_public(id), k ? key_b : key_a, IDENTITY_LINE_SIZE), 0));
		identity_destroy(&id);
	}
}

static void teardown(void)
{
	store_test_rmtree(dir);
}

TestSuite(config, .init = setup, .fini = teardown, .timeout = 30);

/* A valid config with one peer; `extra` is appended at the end (line 14 on). */
static char *good(const char *extra)
{
	size_t n = 2048 + (extra ? strlen(extra) : 0);
	char *text = malloc(n);
	cr_assert(text != NULL);
	snprintf(text, n,
		 "[agent]\n"                                   /* 1 */
		 "id = RS-CUSTOMS-HORGOS\n"                   /* 2 */
		 "keys = keys\n"                              /* 3 */
		 "listen = tcp://0.0.0.0:7400\n"              /* 4 */
		 "data = data\n"                              /* 5 */
		 "\n"                                         /* 6 */
		 "[api]\n"                                    /* 7 */
		 "token_file = api.token\n"                   /* 8 */
		 "\n"                                         /* 9 */
		 "[peer \"HU-NAV-ROSZKE\"]\n"                 /* 10 */
		 "endpoint = tcp://198.51.100.7:7400\n"       /* 11 */
		 "key = %s\n"                                 /* 12 */
		 "send = alert, pre_arrival\n"                /* 13 */
		 "%s",
		 key_a, extra ? extra : "");
	return text;
}

/* Loads text and expects failure with "test.ini:LINE: " and `words` in the message. */
static void refused(const char *text, unsigned line, const char *words)
{
	char err[CONFIG_ERR_MAX] = "";
	char prefix[64];
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(is(cfg == NULL), "accepted:\n%s", text);
	snprintf(prefix, sizeof(prefix), "test.ini:%u: ", line);
	cr_assert(is(strncmp(err, prefix, strlen(prefix)) == 0), "want '%s...', got '%s'", prefix, err);
	cr_assert(is(strstr(err, words) != NULL), "want '%s' in '%s'", words, err);
}

Test(config, loads_a_complete_file_with_defaults)
{
	char err[CONFIG_ERR_MAX] = "";
	char *text = good("accept = alert\n");
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(str, cfg->id, "RS-CUSTOMS-HORGOS"));
	cr_assert(eq(str, cfg->api_host, "127.0.0.1"));
	cr_assert(eq(u16, cfg->api_port, 7480));
	cr_assert(eq(u64, cfg->default_ttl_ms, 24ull * 3600 * 1000));
	cr_assert(eq(u64, cfg->min_free_bytes, 64ull << 20));
	cr_assert(eq(sz, cfg->n_peers, 1));
	cr_assert(eq(u32, cfg->peers[0].send_mask, (1u << 1) | (1u << 2)));
	cr_assert(eq(u32, cfg->peers[0].accept_mask, 1u << 1));
	cr_assert(eq(u32, cfg->peers[0].line, 10));
	config_destroy(&cfg);
	config_destroy(&cfg); /* NULL is fine */
	free(text);
}

Test(config, resolves_relative_paths_against_the_config_folder)
{
	char sub[512], file[600], err[CONFIG_ERR_MAX] = "", want[700];
	snprintf(sub, sizeof(sub), "%s/etc", dir);
	cr_assert(eq(int, mkdir(sub, 0700), 0));
	snprintf(file, sizeof(file), "%s/limes.ini", sub);
	char *text = good("[link]\nwindow = 64\n");
	FILE *f = fopen(file, "we");
	fputs(text, f);
	fclose(f);
	cr_assert(eq(int, chdir("/"), 0)); /* not the config's folder */
	struct config *cfg = config_load(file, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	char *real = realpath(sub, NULL);
	snprintf(want, sizeof(want), "%s/keys", real);
	cr_assert(eq(str, cfg->keys_dir, want));
	snprintf(want, sizeof(want), "%s/data", real);
	cr_assert(eq(str, cfg->data_dir, want));
	snprintf(want, sizeof(want), "%s/api.token", real);
	cr_assert(eq(str, cfg->token_file, want));
	cr_assert(eq(u32, cfg->window, 64));
	free(real);
	config_destroy(&cfg);
	free(text);
}

Test(config, refuses_an_unknown_key_naming_its_line)
{
	char *text = good("colour = blue\n");
	refused(text, 14, "unknown key 'colour'");
	free(text);
}

Test(config, refuses_a_key_given_twice_in_a_section)
{
	char *text = good("send = alert\n");
	refused(text, 14, "key 'send' given twice in this section (first at line");
	free(text);
}

Test(config, refuses_a_bad_value_naming_its_line)
{
	char *text = good("[link]\nwindow = lots\n");
	refused(text, 15, "window: 'lots'");
	free(text);
	text = good("[link]\nheartbeat = soon\n");
	refused(text, 15, "heartbeat: 'soon' is not a duration");
	free(text);
	text = good("accept = alert, gossip\n");
	refused(text, 14, "unknown message type 'gossip'");
	free(text);
}

Test(config, refuses_a_bad_api_listen_address)
{
	const char *text = "[agent]\nid = A\nkeys = k\nlisten = tcp://0.0.0.0:1\ndata = d\n[api]\nlisten = localhost\n";
	refused(text, 7, "listen: 'localhost' is not HOST:PORT");
}

Test(config, refuses_a_peer_without_key_at_its_section_line)
{
	char *text = good("[peer \"AT-BMI-NICKELSDORF\"]\nendpoint = tcp://192.0.2.1:7400\n");
	refused(text, 14, "peer \"AT-BMI-NICKELSDORF\": missing key 'key'");
	free(text);
}

Test(config, refuses_a_malformed_peer_key_line)
{
	char *text = good("[peer \"AT-BMI-NICKELSDORF\"]\nendpoint = tcp://192.0.2.1:7400\nkey = limes1:zz\n");
	refused(text, 16, "key: ");
	free(text);
}

Test(config, refuses_a_duplicate_peer_naming_both_lines)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "[peer \"HU-NAV-ROSZKE\"]\nendpoint = tcp://192.0.2.1:7400\nkey = %s\n", key_b);
	char *text = good(extra);
	refused(text, 14, "duplicate peer \"HU-NAV-ROSZKE\" (first at line 10)");
	free(text);
}

Test(config, refuses_an_unknown_section)
{
	char *text = good("[logging]\nlevel = debug\n");
	refused(text, 14, "unknown section [logging]");
	free(text);
}

Test(config, refuses_a_line_that_is_too_long)
{
	char extra[400];
	memset(extra, 'x', sizeof(extra));
	memcpy(extra, "accept = ", 9);
	extra[sizeof(extra) - 2] = '\n';
	extra[sizeof(extra) - 1] = '\0';
	char *text = good(extra);
	refused(text, 14, "line is too long");
	free(text);
}

Test(config, refuses_a_key_outside_any_section_and_syntax_errors)
{
	refused("id = A\n", 1, "outside any section");
	char *text = good("this line has no equals sign\n");
	refused(text, 14, "syntax error");
	free(text);
}

Test(config, refuses_missing_required_keys)
{
	refused("[agent]\nid = A\nkeys = k\nlisten = tcp://0.0.0.0:1\n", 1, "[agent]: missing key 'data'");
	refused("[agent]\nid = A\nkeys = k\nlisten = tcp://0.0.0.0:1\ndata = d\n", 1, "missing key 'token_file'");
}

Test(config, refuses_an_unreadable_file_naming_it)
{
	char err[CONFIG_ERR_MAX] = "", file[600];
	snprintf(file, sizeof(file), "%s/missing.ini", dir);
	cr_assert(is(config_load(file, err, sizeof(err)) == NULL));
	cr_assert(is(strncmp(err, file, strlen(file)) == 0 && strstr(err, "cannot open") != NULL), "%s", err);
	/* a folder is not a config file */
	cr_assert(is(config_load(dir, err, sizeof(err)) == NULL));
	cr_assert(is(strstr(err, "not a regular file") != NULL), "%s", err);
}

Test(config, parses_durations)
{
	uint64_t ms = 0;
	cr_assert(eq(int, config_parse_duration("250ms", &ms), 0));
	cr_assert(eq(u64, ms, 250));
	cr_assert(eq(int, config_parse_duration("30", &ms), 0));
	cr_assert(eq(u64, ms, 30000));
	cr_assert(eq(int, config_parse_duration("7d", &ms), 0));
	cr_assert(eq(u64, ms, 7ull * 86400 * 1000));
	cr_assert(lt(int, config_parse_duration("5 weeks", &ms), 0));
	cr_assert(lt(int, config_parse_duration("-5s", &ms), 0));
	cr_assert(lt(int, config_parse_duration("99999999999999999999d", &ms), 0));
}

Test(config, reads_the_token_only_from_a_private_file)
{
	char err[CONFIG_ERR_MAX] = "", token[128];
	char *text = good(NULL);
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	FILE *f = fopen(cfg->token_file, "we");
	fputs("0123456789abcdef0123456789abcdef\n", f);
	fclose(f);
	chmod(cfg->token_file, 0644);
	cr_assert(lt(int, config_read_token(cfg, token, sizeof(token), err, sizeof(err)), 0));
	cr_assert(is(strstr(err, "chmod 600") != NULL), "%s", err);
	chmod(cfg->token_file, 0600);
	cr_assert(eq(int, config_read_token(cfg, token, sizeof(token), err, sizeof(err)), 0), "%s", err);
	cr_assert(eq(str, token, "0123456789abcdef0123456789abcdef"));
	config_destroy(&cfg);
	free(text);
}

/* A minimal config whose [api] section (line 6 on) holds `api_lines`. */
static char *with_api(const char *api_lines)
{
	size_t n = 512 + strlen(api_lines);
	char *text = malloc(n);
	cr_assert(text != NULL);
	snprintf(text, n,
		 "[agent]\nid = RS-CUSTOMS-HORGOS\nkeys = keys\nlisten = tcp://0.0.0.0:7400\ndata = data\n" /* 1-5 */
		 "[api]\ntoken_file = api.token\n%s",                                                 /* 6-7 */
		 api_lines);
	return text;
}

Test(config, reads_the_tls_settings_of_the_api)
{
	char err[CONFIG_ERR_MAX] = "", want[600];
	char *text = with_api("listen = 10.20.0.5:7480\ntls_cert = tls/api.crt\ntls_key = /etc/limes/tls/api.key\n"
			      "tls_ca = ca.crt\nallow_plaintext = no\n");
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	snprintf(want, sizeof(want), "%s/tls/api.crt", dir);
	cr_assert(eq(str, cfg->tls_cert, want));
	cr_assert(eq(str, cfg->tls_key, "/etc/limes/tls/api.key"));
	snprintf(want, sizeof(want), "%s/ca.crt", dir);
	cr_assert(eq(str, cfg->tls_ca, want));
	cr_assert(eq(int, cfg->allow_plaintext, 0));
	config_destroy(&cfg);
	free(text);

	/* none of them: plain HTTP, and no plaintext allowance off loopback */
	text = with_api("");
	cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(str, cfg->tls_cert, ""));
	cr_assert(eq(str, cfg->tls_ca, ""));
	cr_assert(eq(int, cfg->allow_plaintext, 0));
	config_destroy(&cfg);
	free(text);
	text = with_api("allow_plaintext = yes\n");
	cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(int, cfg->allow_plaintext, 1));
	config_destroy(&cfg);
	free(text);
}

Test(config, refuses_incomplete_or_bad_tls_settings)
{
	char *text = with_api("tls_cert = api.crt\n");
	refused(text, 6, "[api]: tls_cert is set without tls_key");
	free(text);
	text = with_api("tls_key = api.key\n");
	refused(text, 6, "[api]: tls_key is set without tls_cert");
	free(text);
	text = with_api("tls_ca = ca.crt\n");
	refused(text, 6, "tls_ca is set but the API has no tls_cert");
	free(text);
	text = with_api("allow_plaintext = sure\n");
	refused(text, 8, "allow_plaintext: 'sure' is not yes or no");
	free(text);
	text = with_api("tls_cert =\n");
	refused(text, 8, "tls_cert: empty path");
	free(text);
}

/* Config that ZeroMQ or inih would have taken silently (found by the fault
 * and security suite): each is refused naming its line. */
Test(config, refuses_endpoints_zeromq_would_take_silently)
{
	char *t = good("");
	char *p = strstr(t, "tcp://0.0.0.0:7400");
	char text[4096];
	snprintf(text, sizeof(text), "%.*stcp://0.0.0.0:99999%s", (int)(p - t), t, p + strlen("tcp://0.0.0.0:7400"));
	refused(text, 4, "port 1-65535");
	free(t);
	static const char *bad[] = { "tcp://[[[:1", "tcp://host", "tcp://:7400", "tcp://h:0", "tcp://h:70000",
				     "tcp://h:74x", "tcp://*:7400", "tcp://a b:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char extra[256];
		snprintf(extra, sizeof(extra), "[peer \"AT-BMI\"]\nendpoint = %s\nkey = %s\n", bad[i], key_b);
		char *x = good(extra);
		refused(x, 15, "is not a ZeroMQ endpoint");
		free(x);
	}
}

Test(config, takes_well_formed_endpoints)
{
	static const char *okay[] = { "tcp://[::1]:7400", "tcp://peer.example.org:7400", "tcp://198.51.100.7:1",
				      "ipc:///run/limes/peer" };
	for (size_t i = 0; i < sizeof(okay) / sizeof(okay[0]); i++) {
		char extra[256], err[CONFIG_ERR_MAX] = "";
		snprintf(extra, sizeof(extra), "[peer \"AT-BMI\"]\nendpoint = %s\nkey = %s\n", okay[i], key_b);
		char *x = good(extra);
		struct config *cfg = config_load_string(x, "test.ini", dir, err, sizeof(err));
		cr_assert(cfg != NULL, "%s: %s", okay[i], err);
		config_destroy(&cfg);
		free(x);
	}
}

Test(config, refuses_a_section_without_keys)
{
	char *x = good("[peer \"AT-BMI\"]\n\n[link]\nwindow = 10\n");
	refused(x, 14, "section [peer \"AT-BMI\"] has no keys");
	free(x);
	x = good("[nonsense]\n");
	refused(x, 14, "section [nonsense] has no keys");
	free(x);
}

Test(config, skips_a_utf8_byte_order_mark)
{
	char err[CONFIG_ERR_MAX] = "";
	char *t = good("");
	size_t n = strlen(t);
	char *bom = malloc(n + 4);
	memcpy(bom, "\xEF\xBB\xBF", 3);
	memcpy(bom + 3, t, n + 1);
	struct config *cfg = config_load_string(bom, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(str, cfg->id, "RS-CUSTOMS-HORGOS"));
	config_destroy(&cfg);
	free(bom);
	free(t);
}

Test(config, refuses_a_fifo_without_waiting_for_a_writer)
{
	char err[CONFIG_ERR_MAX] = "", file[600];
	snprintf(file, sizeof(file), "%s/fifo.ini", dir);
	cr_assert(eq(int, mkfifo(file, 0600), 0));
	alarm(5); /* a blocking open would hang here: the suite's timeout names it */
	cr_assert(is(config_load(file, err, sizeof(err)) == NULL));
	alarm(0);
	cr_assert(is(strstr(err, "not a regular file") != NULL), "%s", err);
}

/* The valid config with `line` as line 9, in [api]; caller frees. */
static char *with_api_line(const char *line)
{
	char *base = good(NULL), *at = strstr(base, "token_file = api.token\n");
	cr_assert(at != NULL);
	at += strlen("token_file = api.token\n");
	size_t n = strlen(base) + strlen(line) + 2;
	char *text = malloc(n);
	cr_assert(text != NULL);
	snprintf(text, n, "%.*s%s\n%s", (int)(at - base), base, line, at);
	free(base);
	return text;
}

Test(config, history_interval_defaults_to_a_minute_and_is_refused_out_of_range)
{
	char err[CONFIG_ERR_MAX] = "";
	char *text = with_api_line("history_interval = 5s");
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(u64, cfg->history_interval_ms, 5000));
	config_destroy(&cfg);
	free(text);
	text = good(NULL);
	cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(u64, cfg->history_interval_ms, 60000));
	config_destroy(&cfg);
	free(text);
	text = with_api_line("history_interval = 500ms");
	refused(text, 9, "history_interval: '500ms' is out of range (1s to 1h)");
	free(text);
	text = with_api_line("history_interval = 2h");
	refused(text, 9, "history_interval: '2h' is out of range");
	free(text);
	text = with_api_line("history_interval = often");
	refused(text, 9, "history_interval: 'often' is not a duration");
	free(text);
}

/* [link] max_frame at each edge of its range (proto/sizes.h). */
Test(config, max_frame_is_taken_inside_its_range_and_refused_one_past_each_edge)
{
	static const struct { size_t value; bool ok; } cases[] = {
		{ SIZES_FRAME_MIN - 1, false }, { SIZES_FRAME_MIN, true },      { SIZES_FRAME_MIN + 1, true },
		{ SIZES_FRAME_MAX - 1, true },  { SIZES_FRAME_MAX, true },      { SIZES_FRAME_MAX + 1, false },
	};
	char extra[64], err[CONFIG_ERR_MAX];
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		snprintf(extra, sizeof(extra), "[link]\nmax_frame = %zu\n", cases[k].value);
		char *text = good(extra);
		if (!cases[k].ok) {
			refused(text, 15, "max_frame: '");
		} else {
			struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
			cr_assert(cfg != NULL, "%zu: %s", cases[k].value, err);
			cr_assert(eq(sz, cfg->max_frame_bytes, cases[k].value));
			config_destroy(&cfg);
		}
		free(text);
	}
	/* the default carries the largest body the schema allows */
	char *text = good(NULL);
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	cr_assert(eq(sz, cfg->max_frame_bytes, SIZES_FRAME_DEFAULT));
	cr_assert(eq(sz, sizes_body_max(cfg->max_frame_bytes), SIZES_BODY_MAX));
	config_destroy(&cfg);
	free(text);
}

/* [api] max_body below the largest body a frame carries is refused, naming
 * both keys and their lines; at the edge and above it is taken. */
Test(config, max_body_must_carry_the_largest_body_a_frame_carries)
{
	char lines[128], err[CONFIG_ERR_MAX];
	size_t frame = SIZES_FRAME_MIN + 4096, edge = sizes_body_max(frame);
	for (int k = -1; k <= 1; k++) {
		snprintf(lines, sizeof(lines), "max_body = %zu\n[link]\nmax_frame = %zu\n", edge + (size_t)k, frame);
		char *text = with_api(lines);
		if (k < 0) {
			refused(text, 8, "[api] max_body");
			char *again = with_api(lines);
			struct config *cfg = config_load_string(again, "test.ini", dir, err, sizeof(err));
			cr_assert(cfg == NULL);
			cr_assert(not(eq(ptr, strstr(err, "(line 8)"), NULL)), "%s", err);
			cr_assert(not(eq(ptr, strstr(err, "max_frame = "), NULL)), "%s", err);
			cr_assert(not(eq(ptr, strstr(err, "(line 10)"), NULL)), "%s", err);
			free(again);
		} else {
			struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
			cr_assert(cfg != NULL, "max_body %zu: %s", edge + (size_t)k, err);
			config_destroy(&cfg);
		}
		free(text);
	}
	/* with the default max_frame: the refusal says it is the default */
	snprintf(lines, sizeof(lines), "max_body = %zu\n", (size_t)SIZES_BODY_MAX - 1);
	char *text = with_api(lines);
	refused(text, 8, "(default)");
	free(text);
}

/* A token cut at a NUL byte would make "Bearer x" valid for "x\0yyyy...". */
Test(config, refuses_a_token_with_a_nul_byte)
{
	char err[CONFIG_ERR_MAX] = "", token[128];
	char *text = good(NULL);
	struct config *cfg = config_load_string(text, "test.ini", dir, err, sizeof(err));
	cr_assert(cfg != NULL, "%s", err);
	static const char bytes[] = "x\0yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n";
	FILE *f = fopen(cfg->token_file, "we");
	cr_assert(f != NULL);
	cr_assert(eq(sz, fwrite(bytes, 1, sizeof(bytes) - 1, f), sizeof(bytes) - 1));
	fclose(f);
	chmod(cfg->token_file, 0600);
	cr_assert(lt(int, config_read_token(cfg, token, sizeof(token), err, sizeof(err)), 0));
	cr_assert(not(eq(ptr, strstr(err, "NUL byte"), NULL)), "%s", err);
	config_destroy(&cfg);
	free(text);
}

/* [link] retry: the first re-send delay of an unreceipted envelope and of an
 * unanswered ResendRequest after a restore (docs/protocol.md "Resend after
 * a restore"), 2 s unless given; longer than retry_max is refused at the
 * line that made it so. */
Test(config, link_retry_defaults_to_2_s_and_is_refused_at_its_line)
{
	static const struct {
		const char *extra;
		uint64_t retry_ms, retry_max_ms;
	} loads[] = { { NULL, 2000, 300000 }, { "[link]\nretry = 200ms\nretry_max = 1s\n", 200, 1000 } };
	for (size_t k = 0; k < sizeof(loads) / sizeof(loads[0]); k++) {
		char err[CONFIG_ERR_MAX] = "";
		char *ok = good(loads[k].extra);
		struct config *cfg = config_load_string(ok, "test.ini", dir, err, sizeof(err));
		cr_assert(cfg != NULL, "%s", err);
		cr_assert(eq(u64, cfg->retry_initial_ms, loads[k].retry_ms));
		cr_assert(eq(u64, cfg->retry_max_ms, loads[k].retry_max_ms));
		config_destroy(&cfg);
		free(ok);
	}

	static const struct {
		const char *extra;
		unsigned line;
		const char *words;
	} refusals[] = {
		{ "[link]\nretry = 0\n", 15, "retry: '0' is not a duration" },
		{ "[link]\nretry = soon\n", 15, "retry: 'soon' is not a duration" },
		{ "[link]\nheartbeat = 1s\nretry = 10m\n", 16, "[link] retry (600000 ms) is longer than retry_max (300000 ms)" },
		{ "[link]\nretry_max = 1s\n", 15, "[link] retry (2000 ms) is longer than retry_max (1000 ms)" },
		{ "[link]\nretry = 3s\nretry_max = 2s\n", 16, "[link] retry (3000 ms) is longer than retry_max (2000 ms)" },
	};
	for (size_t k = 0; k < sizeof(refusals) / sizeof(refusals[0]); k++) {
		char *text = good(refusals[k].extra);
		refused(text, refusals[k].line, refusals[k].words);
		free(text);
	}
}
