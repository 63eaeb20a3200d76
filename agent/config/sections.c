/*
 * The keys of [agent], [api], [link], [store] and [peer "ID"], each checked
 * and written into the config being parsed, with the value syntaxes they
 * share (whole numbers, durations, sizes, paths, message type lists,
 * ZeroMQ endpoints). An error names the key and quotes the value.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "proto/err.h"
#include "proto/schema.h"
#include "proto/sizes.h"

/* A path key: relative paths are taken from the config file's folder. */
static int set_path(struct parse_state *st, const char *key, const char *value, char *out, size_t len)
{
	int n;
	if (value[0] == '/')
		n = snprintf(out, len, "%s", value);
	else
		n = snprintf(out, len, "%s/%s", st->cfg->dir, value);
	if (n < 0 || (size_t)n >= len) {
		config_fail(st, st->line, "%s: path is too long", key);
		return -1;
	}
	return 0;
}

bool config_valid_id(const char *s)
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
		config_fail(st, st->line, "%s: list is too long", key);
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
			config_fail(st, st->line, "%s: unknown message type '%s' (known: %s; or a type number 1-31)",
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
		config_fail(st, st->line, "listen: '%s' is not HOST:PORT (e.g. 127.0.0.1:7480)", value);
		return -1;
	}
	if (host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(cfg->api_host)) {
		config_fail(st, st->line, "listen: bad host in '%s'", value);
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
		config_fail(st, st->line, "%s: value is too long", key);
		return -1;
	}
	return 0;
}

static int set_duration(struct parse_state *st, const char *key, const char *value, uint64_t *out)
{
	if (config_parse_duration(value, out) < 0 || *out == 0) {
		config_fail(st, st->line, "%s: '%s' is not a duration (e.g. 30s, 5m, 24h, 7d)", key, value);
		return -1;
	}
	return 0;
}

static int set_size(struct parse_state *st, const char *key, const char *value, uint64_t min,
		    uint64_t max, size_t *out)
{
	uint64_t v;
	if (parse_u64(value, min, max, &v) < 0) {
		config_fail(st, st->line, "%s: '%s' is not a whole number from %llu to %llu", key, value,
		     (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

int config_agent_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;

	if (strcmp(key, "id") == 0) {
		if (!config_valid_id(value)) {
			config_fail(st, st->line, "id: '%s' is not an agency id (1-64 of A-Z a-z 0-9 . _ -)", value);
			return -1;
		}
		st->has_id = true;
		return set_string(st, key, value, cfg->id, sizeof(cfg->id));
	}
	if (strcmp(key, "keys") == 0) {
		st->has_keys = true;
		return set_path(st, key, value, cfg->keys_dir, sizeof(cfg->keys_dir));
	}
	if (strcmp(key, "data") == 0) {
		st->has_data = true;
		return set_path(st, key, value, cfg->data_dir, sizeof(cfg->data_dir));
	}
	if (strcmp(key, "listen") == 0) {
		if (!valid_endpoint(value, true)) {
			config_fail(st, st->line, "listen: '%s' is not a ZeroMQ endpoint (tcp://HOST:PORT, port 1-65535)", value);
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
		config_fail(st, st->line, "log_level: '%s' is not one of error, warn, info, debug", value);
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
	config_fail(st, st->line, "unknown key '%s' in [agent]", key);
	return -1;
}

int config_api_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;

	if (strcmp(key, "listen") == 0) {
		st->has_api_listen = true;
		return parse_api_listen(st, value);
	}
	if (strcmp(key, "token_file") == 0) {
		st->has_token = true;
		return set_path(st, key, value, cfg->token_file, sizeof(cfg->token_file));
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
			config_fail(st, st->line, "%s: empty path", key);
			return -1;
		}
		return set_path(st, key, value, out, PATH_MAX);
	}
	if (strcmp(key, "allow_plaintext") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			config_fail(st, st->line, "allow_plaintext: '%s' is not yes or no", value);
			return -1;
		}
		cfg->allow_plaintext = strcmp(value, "yes") == 0;
		return 0;
	}
	if (strcmp(key, "history_interval") == 0) {
		if (set_duration(st, key, value, &cfg->history_interval_ms) < 0)
			return -1;
		if (cfg->history_interval_ms < 1000 || cfg->history_interval_ms > 3600 * 1000) {
			config_fail(st, st->line, "history_interval: '%s' is out of range (1s to 1h)", value);
			return -1;
		}
		return 0;
	}
	config_fail(st, st->line, "unknown key '%s' in [api]", key);
	return -1;
}

int config_link_key(struct parse_state *st, const char *key, const char *value)
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
	config_fail(st, st->line, "unknown key '%s' in [link]", key);
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
			config_fail(st, st->line, "endpoint: '%s' has an empty or too long item", value);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (!valid_endpoint(item, false)) {
			config_fail(st, st->line, "endpoint: '%s' is not a ZeroMQ endpoint (tcp://HOST:PORT, port 1-65535)", item);
			return -1;
		}
		if (used + len + 2 > out_len) {
			config_fail(st, st->line, "endpoint: value is too long");
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

int config_store_key(struct parse_state *st, const char *key, const char *value)
{
	struct config *cfg = st->cfg;

	if (strcmp(key, "backend") == 0) {
		if (strcmp(value, "sqlite") == 0)
			cfg->store_backend = 0;
		else if (strcmp(value, "postgres") == 0)
			cfg->store_backend = 1;
		else {
			config_fail(st, st->line, "backend: '%s' is not sqlite or postgres", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "conninfo") == 0)
		return set_string(st, key, value, cfg->store_conninfo, sizeof(cfg->store_conninfo));
	if (strcmp(key, "conninfo_file") == 0)
		return set_path(st, key, value, cfg->store_conninfo_file, sizeof(cfg->store_conninfo_file));
	if (strcmp(key, "node") == 0) {
		if (!config_valid_id(value)) {
			config_fail(st, st->line, "node: '%s' is not a node name (letters, digits, '-', '_', '.')", value);
			return -1;
		}
		return set_string(st, key, value, cfg->node, sizeof(cfg->node));
	}
	if (strcmp(key, "schema") == 0) {
		size_t n = strlen(value);
		bool ok = n > 0 && n < sizeof(cfg->store_schema) && !(value[0] >= '0' && value[0] <= '9') &&
			  strncmp(value, "pg_", 3) != 0 && strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
		if (!ok) {
			config_fail(st, st->line, "schema: '%s' is not 1 to 48 of a-z 0-9 _ (not starting with a digit or pg_)",
			     value);
			return -1;
		}
		return set_string(st, key, value, cfg->store_schema, sizeof(cfg->store_schema));
	}
	if (strcmp(key, "ha_poll") == 0)
		return set_duration(st, key, value, &cfg->ha_poll_ms);
	config_fail(st, st->line, "unknown key '%s' in [store]", key);
	return -1;
}

int config_peer_key(struct parse_state *st, const char *key, const char *value)
{
	struct config_peer *p = st->peer;
	char why[256];

	if (strcmp(key, "endpoint") == 0)
		return parse_endpoints(st, value, p->endpoint, sizeof(p->endpoint));
	if (strcmp(key, "via") == 0) {
		if (!config_valid_id(value)) {
			config_fail(st, st->line, "via: '%s' is not an agency id", value);
			return -1;
		}
		return set_string(st, key, value, p->via, sizeof(p->via));
	}
	if (strcmp(key, "key") == 0) {
		if (identity_line_parse(value, &p->key, why, sizeof(why)) < 0) {
			config_fail(st, st->line, "key: %s", why);
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
			config_fail(st, st->line, "rotation: '%s' is neither accept nor confirm", value);
			return -1;
		}
		p->rotation_accept = strcmp(value, "accept") == 0;
		return 0;
	}
	config_fail(st, st->line, "unknown key '%s' in [peer \"%s\"]", key, p->id);
	return -1;
}
