/*
 * What only the whole file can tell, checked once it is read: sections
 * without keys, required sections and keys, limits that must agree with
 * each other, every peer complete and distinct, the clients. The error
 * points at the line of the setting to change.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "proto/sizes.h"

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
	config_fail(st, st->max_body_line ? st->max_body_line : st->max_frame_line,
	     "[api] max_body = %zu (%s) is smaller than the largest body a frame of [link] max_frame = %zu (%s) "
	     "carries (%zu bytes): raise max_body to at least %zu or lower max_frame",
	     cfg->max_body_bytes, body_at, cfg->max_frame_bytes, frame_at, body, body);
	return -1;
}

/* Checks what only the whole file can tell: required keys, peer completeness. */
int config_validate(struct parse_state *st)
{
	struct config *cfg = st->cfg;

	if (st->header_seen != st->header_used) {
		config_fail(st, st->header_line, "section %s has no keys", st->header_text);
		return -1;
	}
	if (check_sizes(st) < 0)
		return -1;

	if (!st->seen_agent) {
		config_fail(st, 1, "missing section [agent]");
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
			config_fail(st, st->agent_line, "[agent]: missing key '%s'", need[i].key);
			return -1;
		}
	if (!st->seen_api && cfg->n_clients == 0) {
		config_fail(st, 1, "[api]: missing key 'token_file'");
		return -1;
	}
	if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
		config_fail(st, st->api_line, "[api]: %s is set without %s (HTTPS needs both)",
		     cfg->tls_cert[0] ? "tls_cert" : "tls_key", cfg->tls_cert[0] ? "tls_key" : "tls_cert");
		return -1;
	}
	if (cfg->tls_ca[0] && !cfg->tls_cert[0]) {
		config_fail(st, st->api_line, "[api]: tls_ca is set but the API has no tls_cert (plain HTTP)");
		return -1;
	}
	if (cfg->default_ttl_ms > cfg->max_ttl_ms) {
		config_fail(st, st->agent_line, "default_ttl is longer than max_ttl");
		return -1;
	}
	if (cfg->store_backend == 1 && !cfg->store_conninfo[0] == !cfg->store_conninfo_file[0]) {
		config_fail(st, st->store_line, "[store]: backend = postgres needs exactly one of 'conninfo' and 'conninfo_file'");
		return -1;
	}
	if (cfg->store_backend == 0 && (cfg->store_conninfo[0] || cfg->store_conninfo_file[0])) {
		config_fail(st, st->store_line, "[store]: conninfo is for backend = postgres");
		return -1;
	}
	if (cfg->retry_initial_ms > cfg->retry_max_ms) {
		/* the line of whichever was given (retry_max when both were) */
		config_fail(st, st->retry_max_line ? st->retry_max_line : st->retry_line,
		     "[link] retry (%llu ms) is longer than retry_max (%llu ms)",
		     (unsigned long long)cfg->retry_initial_ms, (unsigned long long)cfg->retry_max_ms);
		return -1;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		struct config_peer *p = &cfg->peers[i];
		if (strcmp(p->id, cfg->id) == 0) {
			config_fail(st, p->line, "peer \"%s\" is this agent's own id", p->id);
			return -1;
		}
		if (!p->key_set) {
			config_fail(st, p->line, "peer \"%s\": missing key 'key' (the neighbour's public identity line)", p->id);
			return -1;
		}
		if (p->endpoint[0] && p->via[0]) {
			config_fail(st, p->line, "peer \"%s\": give either 'endpoint' or 'via', not both", p->id);
			return -1;
		}
		if (!p->endpoint[0] && !p->via[0]) {
			config_fail(st, p->line, "peer \"%s\": missing key 'endpoint' (or 'via' for a relayed peer)", p->id);
			return -1;
		}
		if (p->via[0]) {
			const struct config_peer *relay = config_peer_find(cfg, p->via);
			if (!relay || !relay->endpoint[0]) {
				config_fail(st, p->line, "peer \"%s\": via \"%s\" is not a directly linked peer", p->id, p->via);
				return -1;
			}
		}
		for (size_t j = 0; j < i; j++)
			if (memcmp(cfg->peers[j].key.key_id, p->key.key_id, sizeof(p->key.key_id)) == 0) {
				config_fail(st, p->line, "peer \"%s\" has the same key as peer \"%s\" (line %u)", p->id,
				     cfg->peers[j].id, cfg->peers[j].line);
				return -1;
			}
	}
	{
		char why[CONFIG_ERR_MAX];
		unsigned line = 1;
		if (config_clients_finish(cfg, why, sizeof(why), &line) < 0) {
			config_fail(st, line, "%s", why);
			return -1;
		}
	}
	return 0;
}
