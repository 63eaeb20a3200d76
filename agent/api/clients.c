/*
 * Who is asking: the digests of every configured client's token (never the
 * tokens themselves), the bearer-token lookup that names the client, and
 * the refusals for want of a right (403 naming the right, the attempt
 * itself recorded in the audit trail). The rights are core's
 * (client_rights(), client_may_read()); the tokens are read again when a
 * reload swapped the config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_conn.h"
#include "api_int.h"
#include "base/log.h"
#include "crypto/secret.h"
#include "proto/err.h"
#include "proto/schema.h"

#define TOKEN_MAX 512

struct api_token {
	char name[CONFIG_ID_MAX + 1];
	uint8_t digest[SECRET_DIGEST_LEN];
};

void api_clients_wipe(struct api *api)
{
	if (api->tokens)
		secret_wipe(api->tokens, api->n_tokens * sizeof(*api->tokens));
	free(api->tokens);
	api->tokens = NULL;
	api->n_tokens = 0;
}

int api_clients_load(struct api *api, const struct config *cfg, char *err, size_t err_len)
{
	struct api_token *tokens = calloc(cfg->n_clients ? cfg->n_clients : 1, sizeof(*tokens));
	char token[TOKEN_MAX];
	char why[512];
	int rc = 0;

	if (!tokens) {
		snprintf(err, err_len, "out of memory");
		return LIMES_E_NOMEM;
	}
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct config_client *c = &cfg->clients[i];
		rc = config_read_client_token(c, token, sizeof(token), why, sizeof(why));
		if (rc < 0) {
			snprintf(err, err_len, "client \"%s\": %s", c->name, why);
			break;
		}
		snprintf(tokens[i].name, sizeof(tokens[i].name), "%s", c->name);
		secret_digest(token, strlen(token), tokens[i].digest);
		secret_wipe(token, sizeof(token));
		for (size_t j = 0; j < i; j++)
			if (secret_digest_equal(tokens[j].digest, tokens[i].digest)) {
				snprintf(err, err_len, "clients \"%s\" and \"%s\" have the same token: each needs its own",
					 tokens[j].name, c->name);
				rc = LIMES_E_CONFIG;
				break;
			}
		if (rc < 0)
			break;
	}
	secret_wipe(token, sizeof(token));
	if (rc < 0) {
		secret_wipe(tokens, cfg->n_clients * sizeof(*tokens));
		free(tokens);
		return rc;
	}
	api_clients_wipe(api);
	api->tokens = tokens;
	api->n_tokens = cfg->n_clients;
	api->tokens_cfg = cfg;
	return 0;
}

const char *api_clients_match(struct api *api, const char *bearer)
{
	const struct config *cfg = peers_config(api->deps.peers);
	const char *found = NULL;

	if (cfg != api->tokens_cfg) {
		char err[512];
		/* a reload: new clients, new token files; on failure the old
		 * tokens stay, and say so */
		if (api_clients_load(api, cfg, err, sizeof(err)) < 0) {
			log_error("event=client_tokens_unread reason=\"%s\" action=\"the previous tokens stay valid\"", err);
			api->tokens_cfg = cfg;
		}
	}
	/* every digest is compared, so time does not say which client matched */
	for (size_t i = 0; i < api->n_tokens; i++)
		if (secret_matches(bearer, strlen(bearer), api->tokens[i].digest) && !found)
			found = api->tokens[i].name;
	return found;
}

void api_clients_deny(const struct api_deps *deps, const char *client, const char *right, const uint8_t *id,
		      struct api_reply *r, const char *field, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	/* the refused attempt is on the record too (committed with the turn;
	 * the refusal itself needs no durability before it is sent) */
	int rc = commit_stage(deps->commit, 0);
	if (rc == 0)
		rc = audit_denied(commit_audit(deps->commit), client, right, id, message);
	if (rc < 0)
		log_warn("client=%s event=audit_failed what=denied reason=\"%s\"", client, limes_strerror(rc));
	api_json_error(r, 403, "forbidden", field, "%s", message);
}

bool api_clients_admin(const struct api_deps *deps, const char *client, struct api_reply *r, const char *what)
{
	const struct config_client *c = client_rights(peers_config(deps->peers), client);

	if (c && c->admin)
		return true;
	api_clients_deny(deps, client, "admin", NULL, r, "", "client '%s' may not %s (admin = no)", client, what);
	return false;
}
