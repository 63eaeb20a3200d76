/*
 * INI config parsing with inih. We feed inih through our own line reader so
 * that every handler call knows its line number and section header, and so
 * an over-long line is an error instead of being split silently.
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/secret.h"
#include "proto/err.h"
#include "base/log.h"
#include "config_int.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "proto/sizes.h"

#define LINE_MAX_BYTES 200 /* inih's INI_MAX_LINE as Debian builds it */

enum section_kind { SECTION_NONE, SECTION_AGENT, SECTION_API, SECTION_LINK, SECTION_PEER, SECTION_STORE,
		    SECTION_RETENTION, SECTION_CLIENT, SECTION_AUDIT };

struct parse_state {
	struct config *cfg;
	const char *name;      /* file name for messages */
	const char *text;      /* remaining input */
	unsigned line;         /* line last handed to inih */
	unsigned header_line;  /* line of the current section header */
	unsigned header_seen;  /* headers read so far */
	unsigned header_used;  /* header number the handler last saw */
	char header_text[80];  /* the current section header, for "has no keys" */
	char keys_seen[24][32];/* keys of the current section, to refuse repeats */
	unsigned keys_line[24];
	unsigned n_keys;
	enum section_kind kind;
	struct config_peer *peer;
	bool seen_agent, seen_api, seen_link, seen_store, seen_audit;
	unsigned store_line;
	unsigned agent_line, api_line;
	unsigned max_body_line, max_frame_line; /* 0: the default */
	unsigned retry_line, retry_max_line;    /* 0: the default */
	char err[CONFIG_ERR_MAX];
	/* which keys were given, to find missing ones */
	bool has_id, has_keys, has_listen, has_data, has_api_listen, has_token;
};

static void fail(struct parse_state *st, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct parse_state *st, unsigned line, const char *fmt, ...)
{
	if (st->err[0])
		return; /* keep the first error */
	int n = snprintf(st->err, sizeof(st->err), "%s:%u: ", st->name, line);
	if (n < 0 || (size_t)n >= sizeof(st->err))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err + n, sizeof(st->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

static char *reader(char *buf, int size, void *arg)
{
	struct parse_state *st = arg;
	const char *p = st->text;

	if (!p || !*p)
		return NULL;
	const char *nl = strchr(p, '\n');
	size_t len = nl ? (size_t)(nl - p) : strlen(p);
	st->line++;
	st->text = nl ? nl + 1 : p + len;
	if (len >= (size_t)size - 1 || len >= LINE_MAX_BYTES - 1) {
		fail(st, st->line, "line is too long (%zu bytes, at most %d)", len, LINE_MAX_BYTES - 2);
		len = 0;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	const char *s = buf;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		/* inih calls the handler only for keys: a section without any
		 * (a [peer] left empty, an unknown section at the end) would be
		 * dropped without a word */
		if (st->header_seen != st->header_used)
			fail(st, st->header_line, "section %s has no keys", st->header_text);
		st->header_line = st->line;
		st->header_seen++;
		snprintf(st->header_text, sizeof(st->header_text), "%s", s);
	}
	return buf;
}

static int resolve_path(const struct parse_state *st, const char *value, char *out, size_t len)
{
	int n;
	if (value[0] == '/')
		n = snprintf(out, len, "%s", value);
	else
		n = snprintf(out, len, "%s/%s", st->cfg->dir, value);
	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CONFIG_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (*s == '-' || *s == '\0')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int config_parse_duration(const char *text, uint64_t *ms)
{
	char *end;
	if (!text || *text < '0' || *text > '9')
		return LIMES_E_INVAL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno)
		return LIMES_E_INVAL;
	uint64_t mul;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mul = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		mul = 86400ull * 1000;
	else
		return LIMES_E_INVAL;
	if (v > UINT64_MAX / mul / 2)
		return LIMES_E_INVAL;
	*ms = v * mul;
	return 0;
}

/* A MessageType number 1-31 written as digits, or -1. Numbers let a relay
 * carry types newer than its own build (it never opens their bodies), and
 * let an agent accept a type before it is named here. */
static int type_number(const char *tok)
{
	int v = 0;

	if (tok[0] < '1' || tok[0] > '9' || strlen(tok) > 2)
		return -1;
	for (const char *c = tok; *c; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		v = v * 10 + (*c - '0');
	}
	return v <= 31 ? v : -1;
}

/* "alert, pre_arrival" (or type numbers) into a mask of MessageType bits. */
static int parse_types(struct parse_state *st, const char *key, const char *value, uint32_t *mask)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s", value);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		fail(st, st->line, "%s: list is too long", key);
		return -1;
	}
	*mask = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		int t = schema_type_from_name(tok);
		if (t < 0)
			t = type_number(tok);
		if (t < 0) {
			char known[256];
			schema_type_list(known, sizeof(known));
			fail(st, st->line, "%s: unknown message type '%s' (known: %s; or a type number 1-31)",
			     key, tok, known);
			return -1;
		}
		*mask |= CONFIG_TYPE_BIT(t);
	}
	return 0;
}

/* A ZeroMQ endpoint we can use: tcp://HOST:PORT (PORT 1-65535, or * when
 * binding), HOST a name, an address, [IPv6] or * when binding; or
 * ipc://PATH. ZeroMQ itself takes port 99999 modulo 65536 and reports a
 * malformed endpoint only when it connects, silently. */
static bool valid_endpoint(const char *value, bool bind)
{
	if (strncmp(value, "ipc://", 6) == 0)
		return value[6] != '\0';
	if (strncmp(value, "tcp://", 6) != 0)
		return false;
	const char *host = value + 6;
	const char *colon = strrchr(host, ':');
	if (!colon || colon == host)
		return false;
	size_t host_len = (size_t)(colon - host);
	if (host[0] == '[') {
		if (host_len < 3 || host[host_len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < host_len; i++)
			if (!strchr("0123456789abcdefABCDEF:.", host[i]))
				return false;
	} else {
		for (size_t i = 0; i < host_len; i++) {
			char c = host[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
			      c == '-' || c == '_' || (c == '*' && bind && host_len == 1) || c == ';'))
				return false;
		}
	}
	uint64_t port;
	if (bind && strcmp(colon + 1, "*") == 0)
		return true;
	return parse_u64(colon + 1, 1, 65535, &port) == 0;
}

static int parse_api_listen(struct parse_state *st, const char *value)
{
	struct config *cfg = st->cfg;
	const char *colon = strrchr(value, ':');
	const char *host = value;
	size_t host_len = colon ? (size_t)(colon - value) : 0;
	uint64_t port;

	if (!colon || host_len == 0 || parse_u64(colon + 1, 1, 65535, &port) < 0) {
		fail(st, st->line, "listen: '%s' is not HOST:PORT (e.g. 127.0.0.1:7480)", value);
		return -1;
	}
	if (host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(cfg->api_host)) {
		fail(st, st->line, "listen: bad host in '%s'", value);
		return -1;
	}
	memcpy(cfg->api_host, host, host_len);
	cfg->api_host[host_len] = '\0';
	cfg->api_port = (uint16_t)port;
	return 0;
}

static int set_string(struct parse_state *st, const char *key, const char *value, char *out, size_t len)
{
	int n = snprintf(out, len, "%s", value);
	if (n < 0 || (size_t)n >= len) {
		fail(st, st->line, "%s: value is too long", key);
		return -1;
	}
	return 0;
}

static int set_duration(struct parse_state *st, const char *key, const char *value, uint64_t *out)
{
	if (config_parse_duration(value, out) < 0 || *out == 0) {
		fail(st, st->line, "%s: '%s' is not a duration (e.g. 30s, 5m, 24h, 7d)", key, value);
		return -1;
	}
	return 0;
}

static int set_size(struct parse_state *st, const char *key, const char *value, uint64_t min,
		    uint64_t max, size_t *out)
{
	uint64_t v;
	if (parse_u64(value, min, max, &v) < 0) {
		fail(st, st->line, "%s: '%s' is not a whole number from %llu to %llu", key, value,
		     (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

static int agent_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;

	if (strcmp(key, "id") == 0) {
		if (!valid_id(value)) {
			fail(st, st->line, "id: '%s' is not an agency id (1-64 of A-Z a-z 0-9 . _ -)", value);
			return -1;
		}
		st->has_id = true;
		return set_string(st, key, value, cfg->id, sizeof(cfg->id));
	}
	if (strcmp(key, "keys") == 0) {
		st->has_keys = true;
		return resolve_path(st, value, cfg->keys_dir, sizeof(cfg->keys_dir)) < 0
			       ? (fail(st, st->line, "keys: path is too long"), -1) : 0;
	}
	if (strcmp(key, "data") == 0) {
		st->has_data = true;
		return resolve_path(st, value, cfg->data_dir, sizeof(cfg->data_dir)) < 0
			       ? (fail(st, st->line, "data: path is too long"), -1) : 0;
	}
	if (strcmp(key, "listen") == 0) {
		if (!valid_endpoint(value, true)) {
			fail(st, st->line, "listen: '%s' is not a ZeroMQ endpoint (tcp://HOST:PORT, port 1-65535)", value);
			return -1;
		}
		st->has_listen = true;
		return set_string(st, key, value, cfg->listen, sizeof(cfg->listen));
	}
	if (strcmp(key, "log_level") == 0) {
		static const char *names[] = { "error", "warn", "info", "debug" };
		for (int i = 0; i < 4; i++)
			if (strcmp(value, names[i]) == 0) {
				cfg->log_level = i;
				return 0;
			}
		fail(st, st->line, "log_level: '%s' is not one of error, warn, info, debug", value);
		return -1;
	}
	if (strcmp(key, "default_ttl") == 0)
		return set_duration(st, key, value, &cfg->default_ttl_ms);
	if (strcmp(key, "max_ttl") == 0)
		return set_duration(st, key, value, &cfg->max_ttl_ms);
	if (strcmp(key, "max_clock_skew") == 0)
		return set_duration(st, key, value, &cfg->max_clock_skew_ms);
	if (strcmp(key, "retention") == 0)
		return set_duration(st, key, value, &cfg->retention_ms);
	if (strcmp(key, "min_free_mb") == 0) {
		size_t mb;
		if (set_size(st, key, value, 0, 1u << 20, &mb) < 0)
			return -1;
		cfg->min_free_bytes = (uint64_t)mb << 20;
		return 0;
	}
	fail(st, st->line, "unknown key '%s' in [agent]", key);
	return -1;
}

static int api_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;

	if (strcmp(key, "listen") == 0) {
		st->has_api_listen = true;
		return parse_api_listen(st, value);
	}
	if (strcmp(key, "token_file") == 0) {
		st->has_token = true;
		return resolve_path(st, value, cfg->token_file, sizeof(cfg->token_file)) < 0
			       ? (fail(st, st->line, "token_file: path is too long"), -1) : 0;
	}
	if (strcmp(key, "max_body") == 0) {
		st->max_body_line = st->line;
		return set_size(st, key, value, 1024, 64u << 20, &cfg->max_body_bytes);
	}
	if (strcmp(key, "tls_cert") == 0 || strcmp(key, "tls_key") == 0 || strcmp(key, "tls_ca") == 0) {
		char *out = strcmp(key, "tls_cert") == 0  ? cfg->tls_cert
			    : strcmp(key, "tls_key") == 0 ? cfg->tls_key
							  : cfg->tls_ca;
		if (!value[0]) {
			fail(st, st->line, "%s: empty path", key);
			return -1;
		}
		return resolve_path(st, value, out, PATH_MAX) < 0 ? (fail(st, st->line, "%s: path is too long", key), -1)
								 : 0;
	}
	if (strcmp(key, "allow_plaintext") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			fail(st, st->line, "allow_plaintext: '%s' is not yes or no", value);
			return -1;
		}
		cfg->allow_plaintext = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "history_interval") == 0) {
		if (set_duration(st, key, value, &cfg->history_interval_ms) < 0)
			return -1;
		if (cfg->history_interval_ms < 1000 || cfg->history_interval_ms > 3600 * 1000) {
			fail(st, st->line, "history_interval: '%s' is out of range (1s to 1h)", value);
			return -1;
		}
		return 0;
	}
	fail(st, st->line, "unknown key '%s' in [api]", key);
	return -1;
}

static int link_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;
	size_t v;

	if (strcmp(key, "window") == 0) {
		if (set_size(st, key, value, 1, 100000, &v) < 0)
			return -1;
		cfg->window = (uint32_t)v;
		return 0;
	}
	if (strcmp(key, "retry") == 0) {
		st->retry_line = st->line;
		return set_duration(st, key, value, &cfg->retry_initial_ms);
	}
	if (strcmp(key, "retry_max") == 0) {
		st->retry_max_line = st->line;
		return set_duration(st, key, value, &cfg->retry_max_ms);
	}
	if (strcmp(key, "heartbeat") == 0)
		return set_duration(st, key, value, &cfg->heartbeat_ms);
	if (strcmp(key, "dead_after") == 0)
		return set_duration(st, key, value, &cfg->dead_after_ms);
	if (strcmp(key, "key_overlap") == 0)
		return set_duration(st, key, value, &cfg->key_overlap_ms);
	if (strcmp(key, "max_frame") == 0) {
		/* room for two of the largest receipt the protocol allows (proto/sizes.h) */
		st->max_frame_line = st->line;
		return set_size(st, key, value, SIZES_FRAME_MIN, SIZES_FRAME_MAX, &cfg->max_frame_bytes);
	}
	if (strcmp(key, "protocol") == 0) {
		/* 1 makes this agent a v1-only peer (interoperation, tests) */
		if (set_size(st, key, value, 1, 2, &v) < 0)
			return -1;
		cfg->protocol = (uint32_t)v;
		return 0;
	}
	fail(st, st->line, "unknown key '%s' in [link]", key);
	return -1;
}

/* One endpoint, or several separated by commas (the nodes of a neighbour's
 * HA pair): each must be a ZeroMQ endpoint; stored without blanks. */
static int parse_endpoints(struct parse_state *st, const char *value, char *out, size_t out_len)
{
	char item[CONFIG_ENDPOINT_MAX];
	size_t used = 0;
	const char *p = value;

	out[0] = '\0';
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(item)) {
			fail(st, st->line, "endpoint: '%s' has an empty or too long item", value);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (!valid_endpoint(item, false)) {
			fail(st, st->line, "endpoint: '%s' is not a ZeroMQ endpoint (tcp://HOST:PORT, port 1-65535)", item);
			return -1;
		}
		if (used + len + 2 > out_len) {
			fail(st, st->line, "endpoint: value is too long");
			return -1;
		}
		if (used)
			out[used++] = ',';
		memcpy(out + used, item, len);
		used += len;
		out[used] = '\0';
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static int store_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;

	if (strcmp(key, "backend") == 0) {
		if (strcmp(value, "sqlite") == 0)
			cfg->store_backend = 0;
		else if (strcmp(value, "postgres") == 0)
			cfg->store_backend = 1;
		else {
			fail(st, st->line, "backend: '%s' is not sqlite or postgres", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "conninfo") == 0)
		return set_string(st, key, value, cfg->store_conninfo, sizeof(cfg->store_conninfo));
	if (strcmp(key, "conninfo_file") == 0)
		return resolve_path(st, value, cfg->store_conninfo_file, sizeof(cfg->store_conninfo_file)) < 0
			       ? (fail(st, st->line, "conninfo_file: path is too long"), -1) : 0;
	if (strcmp(key, "node") == 0) {
		if (!valid_id(value)) {
			fail(st, st->line, "node: '%s' is not a node name (letters, digits, '-', '_', '.')", value);
			return -1;
		}
		return set_string(st, key, value, cfg->node, sizeof(cfg->node));
	}
	if (strcmp(key, "schema") == 0) {
		size_t n = strlen(value);
		bool ok = n > 0 && n < sizeof(cfg->store_schema) && !(value[0] >= '0' && value[0] <= '9') &&
			  strncmp(value, "pg_", 3) != 0 && strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
		if (!ok) {
			fail(st, st->line, "schema: '%s' is not 1 to 48 of a-z 0-9 _ (not starting with a digit or pg_)",
			     value);
			return -1;
		}
		return set_string(st, key, value, cfg->store_schema, sizeof(cfg->store_schema));
	}
	if (strcmp(key, "ha_poll") == 0)
		return set_duration(st, key, value, &cfg->ha_poll_ms);
	fail(st, st->line, "unknown key '%s' in [store]", key);
	return -1;
}

static int peer_key_value(struct parse_state *st, const char *key, const char *value)
{
	struct config_peer *p = st->peer;
	char why[256];

	if (strcmp(key, "endpoint") == 0)
		return parse_endpoints(st, value, p->endpoint, sizeof(p->endpoint));
	if (strcmp(key, "via") == 0) {
		if (!valid_id(value)) {
			fail(st, st->line, "via: '%s' is not an agency id", value);
			return -1;
		}
		return set_string(st, key, value, p->via, sizeof(p->via));
	}
	if (strcmp(key, "key") == 0) {
		if (identity_line_parse(value, &p->key, why, sizeof(why)) < 0) {
			fail(st, st->line, "key: %s", why);
			return -1;
		}
		p->key_set = true;
		return 0;
	}
	if (strcmp(key, "send") == 0)
		return parse_types(st, key, value, &p->send_mask);
	if (strcmp(key, "accept") == 0)
		return parse_types(st, key, value, &p->accept_mask);
	if (strcmp(key, "rotation") == 0) {
		if (strcmp(value, "accept") != 0 && strcmp(value, "confirm") != 0) {
			fail(st, st->line, "rotation: '%s' is neither accept nor confirm", value);
			return -1;
		}
		p->rotation_accept = strcmp(value, "accept") == 0;
		return 0;
	}
	fail(st, st->line, "unknown key '%s' in [peer \"%s\"]", key, p->id);
	return -1;
}

/* A new section header: decide its kind, refuse duplicates. */
static int begin_section(struct parse_state *st, const char *section)
{
	struct config *cfg = st->cfg;

	st->peer = NULL;
	if (strcmp(section, "agent") == 0) {
		if (st->seen_agent) {
			fail(st, st->header_line, "section [agent] appears twice (first at line %u)", st->agent_line);
			return -1;
		}
		st->seen_agent = true;
		st->agent_line = st->header_line;
		st->kind = SECTION_AGENT;
		return 0;
	}
	if (strcmp(section, "api") == 0) {
		if (st->seen_api) {
			fail(st, st->header_line, "section [api] appears twice (first at line %u)", st->api_line);
			return -1;
		}
		st->seen_api = true;
		st->api_line = st->header_line;
		st->kind = SECTION_API;
		return 0;
	}
	if (strcmp(section, "link") == 0) {
		if (st->seen_link) {
			fail(st, st->header_line, "section [link] appears twice");
			return -1;
		}
		st->seen_link = true;
		st->kind = SECTION_LINK;
		return 0;
	}
	if (strcmp(section, "store") == 0) {
		if (st->seen_store) {
			fail(st, st->header_line, "section [store] appears twice (first at line %u)", st->store_line);
			return -1;
		}
		st->seen_store = true;
		st->store_line = st->header_line;
		st->kind = SECTION_STORE;
		return 0;
	}
	if (strcmp(section, "retention") == 0) {
		st->kind = SECTION_RETENTION; /* repeated keys are refused like anywhere */
		return 0;
	}
	if (strncmp(section, "peer ", 5) == 0) {
		const char *q = section + 5;
		size_t n = strlen(q);
		char id[CONFIG_ID_MAX + 1];
		if (n < 3 || q[0] != '"' || q[n - 1] != '"' || n - 2 > CONFIG_ID_MAX) {
			fail(st, st->header_line, "section [%s]: write it as [peer \"AGENCY-ID\"]", section);
			return -1;
		}
		memcpy(id, q + 1, n - 2);
		id[n - 2] = '\0';
		if (!valid_id(id)) {
			fail(st, st->header_line, "section [%s]: '%s' is not an agency id", section, id);
			return -1;
		}
		for (size_t i = 0; i < cfg->n_peers; i++)
			if (strcmp(cfg->peers[i].id, id) == 0) {
				fail(st, st->header_line, "duplicate peer \"%s\" (first at line %u)", id,
				     cfg->peers[i].line);
				return -1;
			}
		struct config_peer *grown = realloc(cfg->peers, (cfg->n_peers + 1) * sizeof(*grown));
		if (!grown) {
			fail(st, st->header_line, "out of memory");
			return -1;
		}
		cfg->peers = grown;
		st->peer = &cfg->peers[cfg->n_peers++];
		memset(st->peer, 0, sizeof(*st->peer));
		memcpy(st->peer->id, id, n - 1);
		st->peer->line = st->header_line;
		st->kind = SECTION_PEER;
		return 0;
	}
	if (strncmp(section, "client ", 7) == 0 || strcmp(section, "audit") == 0) {
		char why[CONFIG_ERR_MAX];
		if (section[0] == 'a') {
			if (st->seen_audit) {
				fail(st, st->header_line, "section [audit] appears twice");
				return -1;
			}
			st->seen_audit = true;
			st->kind = SECTION_AUDIT;
			return 0;
		}
		if (config_client_begin(cfg, section, st->header_line, why, sizeof(why)) < 0) {
			fail(st, st->header_line, "%s", why);
			return -1;
		}
		st->kind = SECTION_CLIENT;
		return 0;
	}
	fail(st, st->header_line, "unknown section [%s] (known: agent, api, link, store, retention, audit, peer \"ID\", client \"NAME\")",
	     section);
	return -1;
}

static int handler(void *arg, const char *section, const char *name, const char *value)
{
	struct parse_state *st = arg;

	if (st->err[0])
		return 0;
	if (st->header_seen == 0) {
		fail(st, st->line, "key '%s' outside any section", name);
		return 0;
	}
	if (st->header_used != st->header_seen) {
		st->header_used = st->header_seen;
		st->n_keys = 0;
		if (begin_section(st, section) < 0)
			return 0;
	}
	/* a repeated key would silently override the first: refuse it */
	for (unsigned i = 0; i < st->n_keys; i++)
		if (strcmp(st->keys_seen[i], name) == 0) {
			fail(st, st->line, "key '%s' given twice in this section (first at line %u)", name,
			     st->keys_line[i]);
			return 0;
		}
	if (st->n_keys < sizeof(st->keys_seen) / sizeof(st->keys_seen[0]) && strlen(name) < sizeof(st->keys_seen[0])) {
		memcpy(st->keys_seen[st->n_keys], name, strlen(name) + 1);
		st->keys_line[st->n_keys++] = st->line;
	}
	int rc;
	switch (st->kind) {
	case SECTION_AGENT: rc = agent_key(st, name, value); break;
	case SECTION_API: rc = api_key(st, name, value); break;
	case SECTION_LINK: rc = link_key(st, name, value); break;
	case SECTION_PEER: rc = peer_key_value(st, name, value); break;
	case SECTION_STORE: rc = store_key(st, name, value); break;
	case SECTION_CLIENT:
	case SECTION_AUDIT: {
		char why[CONFIG_ERR_MAX];
		rc = st->kind == SECTION_CLIENT ? config_client_key(st->cfg, name, value, why, sizeof(why))
						: config_audit_key(st->cfg, name, value, why, sizeof(why));
		if (rc < 0)
			fail(st, st->line, "%s", why);
		break;
	}
	case SECTION_RETENTION: {
		char why[256];
		rc = config_retention_key(st->cfg, name, value, why, sizeof(why));
		if (rc < 0)
			fail(st, st->line, "[retention]: %s", why);
		break;
	}
	default: rc = -1; break;
	}
	return rc == 0;
}

static void set_defaults(struct config *cfg)
{
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->default_ttl_ms = 24ull * 3600 * 1000;
	cfg->max_ttl_ms = 30ull * 86400 * 1000;
	cfg->max_clock_skew_ms = 5ull * 60 * 1000;
	cfg->retention_ms = 90ull * 86400 * 1000;
	cfg->min_free_bytes = 64ull << 20;
	snprintf(cfg->api_host, sizeof(cfg->api_host), "127.0.0.1");
	cfg->api_port = 7480;
	cfg->max_body_bytes = 16u << 20;
	cfg->window = 2048;
	cfg->protocol = 2;
	cfg->retry_initial_ms = 2000;
	cfg->retry_max_ms = 5 * 60 * 1000;
	cfg->heartbeat_ms = 5000;
	cfg->history_interval_ms = 60 * 1000;
	cfg->dead_after_ms = 15000;
	cfg->max_frame_bytes = SIZES_FRAME_DEFAULT; /* carries the largest body the schema allows */
	cfg->audit_checkpoint_entries = 1000;
	cfg->audit_checkpoint_ms = 60 * 1000;
	cfg->ha_poll_ms = 500;
	/* a node's default name: its host name, when that is a usable name */
	if (gethostname(cfg->node, sizeof(cfg->node)) < 0 || !valid_id(cfg->node))
		snprintf(cfg->node, sizeof(cfg->node), "node");
	cfg->node[sizeof(cfg->node) - 1] = '\0';
	cfg->key_overlap_ms = 7ull * 86400 * 1000;
}

/* The limits agree (proto/sizes.h): a request must be able to carry the
 * largest body a link frame carries, or a large max_frame is for nothing
 * and the API, not the link, would decide what crosses. */
static int check_sizes(struct parse_state *st)
{
	const struct config *cfg = st->cfg;
	size_t body = sizes_body_max(cfg->max_frame_bytes);
	char body_at[32] = "default", frame_at[32] = "default";

	if (cfg->max_body_bytes >= body)
		return 0;
	if (st->max_body_line)
		snprintf(body_at, sizeof(body_at), "line %u", st->max_body_line);
	if (st->max_frame_line)
		snprintf(frame_at, sizeof(frame_at), "line %u", st->max_frame_line);
	fail(st, st->max_body_line ? st->max_body_line : st->max_frame_line,
	     "[api] max_body = %zu (%s) is smaller than the largest body a frame of [link] max_frame = %zu (%s) "
	     "carries (%zu bytes): raise max_body to at least %zu or lower max_frame",
	     cfg->max_body_bytes, body_at, cfg->max_frame_bytes, frame_at, body, body);
	return -1;
}

/* Checks what only the whole file can tell: required keys, peer completeness. */
static int check_whole(struct parse_state *st)
{
	struct config *cfg = st->cfg;

	if (st->header_seen != st->header_used) {
		fail(st, st->header_line, "section %s has no keys", st->header_text);
		return -1;
	}
	if (check_sizes(st) < 0)
		return -1;

	if (!st->seen_agent) {
		fail(st, 1, "missing section [agent]");
		return -1;
	}
	static const struct { size_t off; const char *key; } need[] = {
		{ offsetof(struct parse_state, has_id), "id" },
		{ offsetof(struct parse_state, has_keys), "keys" },
		{ offsetof(struct parse_state, has_listen), "listen" },
		{ offsetof(struct parse_state, has_data), "data" },
	};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!*(const bool *)((const char *)st + need[i].off)) {
			fail(st, st->agent_line, "[agent]: missing key '%s'", need[i].key);
			return -1;
		}
	if (!st->seen_api && cfg->n_clients == 0) {
		fail(st, 1, "[api]: missing key 'token_file'");
		return -1;
	}
	if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
		fail(st, st->api_line, "[api]: %s is set without %s (HTTPS needs both)",
		     cfg->tls_cert[0] ? "tls_cert" : "tls_key", cfg->tls_cert[0] ? "tls_key" : "tls_cert");
		return -1;
	}
	if (cfg->tls_ca[0] && !cfg->tls_cert[0]) {
		fail(st, st->api_line, "[api]: tls_ca is set but the API has no tls_cert (plain HTTP)");
		return -1;
	}
	if (cfg->default_ttl_ms > cfg->max_ttl_ms) {
		fail(st, st->agent_line, "default_ttl is longer than max_ttl");
		return -1;
	}
	if (cfg->store_backend == 1 && !cfg->store_conninfo[0] == !cfg->store_conninfo_file[0]) {
		fail(st, st->store_line, "[store]: backend = postgres needs exactly one of 'conninfo' and 'conninfo_file'");
		return -1;
	}
	if (cfg->store_backend == 0 && (cfg->store_conninfo[0] || cfg->store_conninfo_file[0])) {
		fail(st, st->store_line, "[store]: conninfo is for backend = postgres");
		return -1;
	}
	if (cfg->retry_initial_ms > cfg->retry_max_ms) {
		/* the line of whichever was given (retry_max when both were) */
		fail(st, st->retry_max_line ? st->retry_max_line : st->retry_line,
		     "[link] retry (%llu ms) is longer than retry_max (%llu ms)",
		     (unsigned long long)cfg->retry_initial_ms, (unsigned long long)cfg->retry_max_ms);
		return -1;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct config_peer *p = &cfg->peers[i];
		if (strcmp(p->id, cfg->id) == 0) {
			fail(st, p->line, "peer \"%s\" is this agent's own id", p->id);
			return -1;
		}
		if (!p->key_set) {
			fail(st, p->line, "peer \"%s\": missing key 'key' (the neighbour's public identity line)", p->id);
			return -1;
		}
		if (p->endpoint[0] && p->via[0]) {
			fail(st, p->line, "peer \"%s\": give either 'endpoint' or 'via', not both", p->id);
			return -1;
		}
		if (!p->endpoint[0] && !p->via[0]) {
			fail(st, p->line, "peer \"%s\": missing key 'endpoint' (or 'via' for a relayed peer)", p->id);
			return -1;
		}
		if (p->via[0]) {
			const struct config_peer *relay = config_peer_find(cfg, p->via);
			if (!relay || !relay->endpoint[0]) {
				fail(st, p->line, "peer \"%s\": via \"%s\" is not a directly linked peer", p->id, p->via);
				return -1;
			}
		}
		for (size_t j = 0; j < i; j++)
			if (memcmp(cfg->peers[j].key.key_id, p->key.key_id, sizeof(p->key.key_id)) == 0) {
				fail(st, p->line, "peer \"%s\" has the same key as peer \"%s\" (line %u)", p->id,
				     cfg->peers[j].id, cfg->peers[j].line);
				return -1;
			}
	}
	{
		char why[CONFIG_ERR_MAX];
		unsigned line = 1;
		if (config_clients_finish(cfg, why, sizeof(why), &line) < 0) {
			fail(st, line, "%s", why);
			return -1;
		}
	}
	return 0;
}

struct config *config_load_string(const char *text, const char *name, const char *dir, char *err,
				  size_t err_len)
{
	struct parse_state st;
	struct config *cfg = calloc(1, sizeof(*cfg));

	memset(&st, 0, sizeof(st));
	if (!cfg) {
		snprintf(err, err_len, "%s: out of memory", name);
		return NULL;
	}
	set_defaults(cfg);
	if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
		text += 3; /* a UTF-8 byte-order mark, as some editors write */
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	snprintf(cfg->dir, sizeof(cfg->dir), "%s", dir);
	st.cfg = cfg;
	st.name = name;
	st.text = text;

	int rc = ini_parse_stream(reader, &st, handler, &st);
	if (rc != 0 && !st.err[0]) {
		/* inih found a line it cannot parse (no '=' or an unclosed '[') */
		fail(&st, rc > 0 ? (unsigned)rc : st.line, "syntax error: expected [section] or key = value");
	}
	if (!st.err[0])
		check_whole(&st);
	if (st.err[0]) {
		snprintf(err, err_len, "%s", st.err);
		config_destroy(&cfg);
		return NULL;
	}
	return cfg;
}

struct config *config_load(const char *file, char *err, size_t err_len)
{
	struct config *cfg = NULL;
	char *text = NULL;
	char dir[PATH_MAX];
	/* non-blocking: opening a FIFO for reading would wait for a writer
	 * (and a SIGHUP reload would freeze the loop); fstat refuses it below */
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (!f) {
		if (fd >= 0)
			close(fd);
		snprintf(err, err_len, "%s: cannot open: %s", file, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > (1 << 20)) {
		snprintf(err, err_len, "%s: not a regular file of at most 1 MiB", file);
		goto out;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		snprintf(err, err_len, "%s: out of memory", file);
		goto out;
	}
	size_t got = fread(text, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		snprintf(err, err_len, "%s: read error: %s", file, strerror(errno));
		goto out;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got)) {
		snprintf(err, err_len, "%s: contains a NUL byte: not a text file", file);
		goto out;
	}
	/* folder of the file, absolute, for relative paths */
	char abs[PATH_MAX];
	if (!realpath(file, abs)) {
		snprintf(err, err_len, "%s: %s", file, strerror(errno));
		goto out;
	}
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		snprintf(dir, sizeof(dir), "/");
	else {
		*slash = '\0';
		snprintf(dir, sizeof(dir), "%s", abs);
	}
	cfg = config_load_string(text, file, dir, err, err_len);
out:
	free(text);
	fclose(f);
	return cfg;
}

void config_destroy(struct config **cfg)
{
	if (!cfg || !*cfg)
		return;
	free((*cfg)->peers);
	free((*cfg)->clients);
	free(*cfg);
	*cfg = NULL;
}

const struct config_peer *config_peer_find(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (strcmp(cfg->peers[i].id, id) == 0)
			return &cfg->peers[i];
	return NULL;
}

int config_read_token(const struct config *cfg, char *buf, size_t len, char *err, size_t err_len)
{
	size_t n = 0;
	int rc = secret_file_read(cfg->token_file, "token file", buf, len, &n, err, err_len);

	if (rc < 0)
		return rc;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', n)) {
		snprintf(err, err_len, "%s: the token contains a NUL byte", cfg->token_file);
		return LIMES_E_INVAL;
	}
	if (n < 16) {
		snprintf(err, err_len, "%s: token is shorter than 16 characters", cfg->token_file);
		return LIMES_E_INVAL;
	}
	return 0;
}
