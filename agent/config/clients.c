/*
 * The API's clients: [client "NAME"] sections, each a national application
 * with its own token file and rights (which types it may submit, to which
 * peers, which types it may read, admin), and [api] token_file as the simple
 * setup: one client "default" with every right. Also the [audit] section
 * (how often the audit trail is checkpointed). Rights are closed by default:
 * a key not given grants nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "proto/err.h"
#include "proto/schema.h"

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CONFIG_ID_MAX)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A new client with no rights yet (closed by default), or NULL with why. */
static struct config_client *client_add(struct config *cfg, const char *name, unsigned line, char *why,
					size_t why_len)
{
	struct config_client *grown = realloc(cfg->clients, (cfg->n_clients + 1) * sizeof(*grown));
	if (!grown) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	cfg->clients = grown;
	struct config_client *c = &cfg->clients[cfg->n_clients++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->line = line;
	return c;
}

int config_client_begin(struct config *cfg, const char *section, unsigned line, char *why, size_t why_len)
{
	const char *q = section + strlen("client ");
	size_t n = strlen(q);
	char name[CONFIG_ID_MAX + 1];

	if (n < 3 || q[0] != '"' || q[n - 1] != '"' || n - 2 > CONFIG_ID_MAX) {
		snprintf(why, why_len, "section [%s]: write it as [client \"NAME\"]", section);
		return -1;
	}
	memcpy(name, q + 1, n - 2);
	name[n - 2] = '\0';
	if (!name_ok(name)) {
		snprintf(why, why_len, "section [%s]: '%s' is not a client name (1-64 of A-Z a-z 0-9 . _ -)", section,
			 name);
		return -1;
	}
	for (size_t i = 0; i < cfg->n_clients; i++)
		if (strcmp(cfg->clients[i].name, name) == 0) {
			snprintf(why, why_len, "duplicate client \"%s\" (first at line %u)", name, cfg->clients[i].line);
			return -1;
		}
	return client_add(cfg, name, line, why, why_len) ? 0 : -1;
}

/* "alert, pre_arrival" or "*" into a type mask. */
static int parse_type_list(const char *key, const char *value, uint32_t *mask, char *why, size_t why_len)
{
	char buf[512];
	char *save = NULL;

	if ((size_t)snprintf(buf, sizeof(buf), "%s", value) >= sizeof(buf)) {
		snprintf(why, why_len, "%s: list is too long", key);
		return -1;
	}
	*mask = 0;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (strcmp(tok, "*") == 0) {
			*mask = CONFIG_TYPES_ALL;
			continue;
		}
		int t = schema_type_from_name(tok);
		if (t < 0) {
			snprintf(why, why_len, "%s: unknown message type '%s'", key, tok);
			return -1;
		}
		*mask |= CONFIG_TYPE_BIT(t);
	}
	return 0;
}

int config_client_key(struct config *cfg, const char *key, const char *value, char *why, size_t why_len)
{
	struct config_client *c = &cfg->clients[cfg->n_clients - 1];

	if (strcmp(key, "token_file") == 0) {
		int n = value[0] == '/' ? snprintf(c->token_file, sizeof(c->token_file), "%s", value)
					: snprintf(c->token_file, sizeof(c->token_file), "%s/%s", cfg->dir, value);
		if (n < 0 || (size_t)n >= sizeof(c->token_file)) {
			snprintf(why, why_len, "token_file: path is too long");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "submit") == 0)
		return parse_type_list(key, value, &c->submit_mask, why, why_len);
	if (strcmp(key, "read") == 0)
		return parse_type_list(key, value, &c->read_mask, why, why_len);
	if (strcmp(key, "to") == 0) {
		char buf[2048];
		char *save = NULL;
		if ((size_t)snprintf(buf, sizeof(buf), "%s", value) >= sizeof(buf)) {
			snprintf(why, why_len, "to: list is too long");
			return -1;
		}
		c->n_to = 0;
		c->to_any = false;
		for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
			if (strcmp(tok, "*") == 0) {
				c->to_any = true;
				continue;
			}
			if (c->n_to == CONFIG_CLIENT_TO_MAX) {
				snprintf(why, why_len, "to: more than %d peers (use * for all)", CONFIG_CLIENT_TO_MAX);
				return -1;
			}
			if (!name_ok(tok)) {
				snprintf(why, why_len, "to: '%s' is not an agency id", tok);
				return -1;
			}
			snprintf(c->to[c->n_to++], sizeof(c->to[0]), "%s", tok);
		}
		return 0;
	}
	if (strcmp(key, "admin") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			c->admin = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			c->admin = false;
		else {
			snprintf(why, why_len, "admin: '%s' is not yes or no", value);
			return -1;
		}
		return 0;
	}
	snprintf(why, why_len, "unknown key '%s' in [client \"%s\"] (known: token_file, submit, to, read, admin)",
		 key, c->name);
	return -1;
}

int config_audit_key(struct config *cfg, const char *key, const char *value, char *why, size_t why_len)
{
	if (strcmp(key, "checkpoint_every") == 0) {
		char *end;
		unsigned long long v = strtoull(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end || v < 1 || v > 100000000ull) {
			snprintf(why, why_len, "checkpoint_every: '%s' is not a whole number from 1 to 100000000", value);
			return -1;
		}
		cfg->audit_checkpoint_entries = v;
		return 0;
	}
	if (strcmp(key, "checkpoint_interval") == 0) {
		if (config_parse_duration(value, &cfg->audit_checkpoint_ms) < 0 || cfg->audit_checkpoint_ms < 100) {
			snprintf(why, why_len, "checkpoint_interval: '%s' is not a duration of at least 100ms", value);
			return -1;
		}
		return 0;
	}
	snprintf(why, why_len, "unknown key '%s' in [audit] (known: checkpoint_every, checkpoint_interval)", key);
	return -1;
}

int config_clients_finish(struct config *cfg, char *why, size_t why_len, unsigned *line)
{
	for (size_t i = 0; i < cfg->n_clients; i++) {
		struct config_client *c = &cfg->clients[i];
		*line = c->line;
		if (!c->token_file[0]) {
			snprintf(why, why_len, "client \"%s\": missing key 'token_file'", c->name);
			return -1;
		}
		if (strcmp(c->name, CONFIG_DEFAULT_CLIENT) == 0 && cfg->token_file[0]) {
			snprintf(why, why_len, "client \"%s\": the name is taken by [api] token_file", c->name);
			return -1;
		}
		for (size_t k = 0; k < c->n_to; k++)
			if (!config_peer_find(cfg, c->to[k])) {
				snprintf(why, why_len, "client \"%s\": to: '%s' is not a configured peer", c->name,
					 c->to[k]);
				return -1;
			}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->clients[j].token_file, c->token_file) == 0) {
				snprintf(why, why_len, "client \"%s\" uses the token file of client \"%s\" (line %u)",
					 c->name, cfg->clients[j].name, cfg->clients[j].line);
				return -1;
			}
	}
	if (cfg->token_file[0]) {
		struct config_client *c = client_add(cfg, CONFIG_DEFAULT_CLIENT, 0, why, why_len);
		if (!c)
			return -1;
		snprintf(c->token_file, sizeof(c->token_file), "%s", cfg->token_file);
		c->submit_mask = c->read_mask = CONFIG_TYPES_ALL;
		c->to_any = true;
		c->admin = true;
		c->simple = true;
	}
	if (cfg->n_clients == 0) {
		*line = 1;
		snprintf(why, why_len, "[api]: missing key 'token_file' (or at least one [client \"NAME\"] section)");
		return -1;
	}
	return 0;
}

int config_read_client_token(const struct config_client *c, char *buf, size_t len, char *err, size_t err_len)
{
	struct config tmp;

	/* the one token rule (config_read_token): same checks for every client */
	memset(&tmp, 0, sizeof(tmp));
	snprintf(tmp.token_file, sizeof(tmp.token_file), "%s", c->token_file);
	return config_read_token(&tmp, buf, len, err, err_len);
}
