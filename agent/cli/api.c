/*
 * The local API as the `limes` subcommands see it (see cli_int.h): where the
 * agent listens and its token come from the config file, answers become
 * exit codes. Owns the httpc client it opens.
 */
#include "cli_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "crypto/secret.h"
#include "proto/err.h"

#define TOKEN_MAX 512

struct cli_api {
	struct httpc *http;
	size_t max_body;
};

struct cli_api *cli_api_open(const char *config_file, const char *cmd, int *exit_code)
{
	char err[CONFIG_ERR_MAX];
	char token[TOKEN_MAX];
	struct cli_api *api = NULL;
	struct config *cfg = config_load(config_file, err, sizeof(err));

	*exit_code = CLI_CONFIG;
	if (!cfg) {
		fprintf(stderr, "limes %s: %s\n", cmd, err);
		return NULL;
	}
	/* LIMES_CLIENT names the client whose token to use; else [api]
	 * token_file (the client "default"), else the first admin client */
	const char *want = getenv("LIMES_CLIENT");
	const struct config_client *who = NULL;
	for (size_t i = 0; i < cfg->n_clients && !who; i++)
		if (want ? strcmp(cfg->clients[i].name, want) == 0 : cfg->clients[i].simple)
			who = &cfg->clients[i];
	for (size_t i = 0; i < cfg->n_clients && !who && !want; i++)
		if (cfg->clients[i].admin)
			who = &cfg->clients[i];
	if (!who) {
		fprintf(stderr, "limes %s: %s: no client %s%s%s in the config\n", cmd, config_file,
			want ? "\"" : "with a token to use (set LIMES_CLIENT=NAME)", want ? want : "", want ? "\"" : "");
		config_destroy(&cfg);
		*exit_code = CLI_CONFIG;
		return NULL;
	}
	if (config_read_client_token(who, token, sizeof(token), err, sizeof(err)) < 0) {
		fprintf(stderr, "limes %s: %s\n", cmd, err);
		goto out;
	}
	*exit_code = CLI_SOFTWARE;
	/* a listen address of 0.0.0.0 / :: means "this machine" to connect to */
	const char *host = cfg->api_host;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	api = calloc(1, sizeof(*api));
	if (!api || !(api->http = httpc_new(host, cfg->api_port, token, 1))) {
		fprintf(stderr, "limes %s: cannot start the HTTP client (libcurl)\n", cmd);
		free(api);
		api = NULL;
		goto out;
	}
	/* HTTPS when the agent serves it, trusting tls_ca, else its own certificate */
	if (cfg->tls_cert[0] && httpc_use_tls(api->http, cfg->tls_ca[0] ? cfg->tls_ca : cfg->tls_cert) < 0) {
		fprintf(stderr, "limes %s: %s: [api] tls_ca or tls_cert: path is too long\n", cmd, config_file);
		cli_api_destroy(&api);
		*exit_code = CLI_CONFIG;
		goto out;
	}
	api->max_body = cfg->max_body_bytes;
	*exit_code = CLI_OK;
out:
	secret_wipe(token, sizeof(token));
	config_destroy(&cfg);
	return api;
}

void cli_api_destroy(struct cli_api **pa)
{
	if (!pa || !*pa)
		return;
	httpc_destroy(&(*pa)->http);
	free(*pa);
	*pa = NULL;
}

size_t cli_api_max_body(const struct cli_api *api)
{
	return api->max_body;
}

int cli_api_request(struct cli_api *api, const char *method, const char *path, const char *body, size_t len,
		    long timeout_s, struct httpc_answer *answer)
{
	int rc = httpc_request(api->http, method, path, body, len, timeout_s * 1000, answer);

	if (rc == 0)
		return CLI_OK;
	return rc == LIMES_E_IO ? CLI_UNAVAILABLE : CLI_SOFTWARE;
}

int cli_api_exit_code(long status)
{
	if (status >= 200 && status < 300)
		return CLI_OK;
	switch (status) {
	case 0: return CLI_UNAVAILABLE;
	case 400:
	case 413: return CLI_DATAERR;
	case 401:
	case 403: return CLI_NOPERM;
	case 404: return CLI_NOTFOUND;
	case 503: return CLI_TEMPFAIL;
	default: return status >= 500 ? CLI_SOFTWARE : CLI_FAILED;
	}
}

int cli_api_fail(const char *cmd, const struct httpc_answer *a)
{
	if (a->status == 0) {
		fprintf(stderr, "limes %s: the agent is not reachable (%s)\n", cmd, a->error);
		return CLI_UNAVAILABLE;
	}
	json_t *doc = a->body ? json_loads(a->body, 0, NULL) : NULL;
	json_t *e = json_object_get(doc, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *field = json_string_value(json_object_get(e, "field"));
	const char *message = json_string_value(json_object_get(e, "message"));
	if (code)
		fprintf(stderr, "limes %s: %ld %s%s%s: %s\n", cmd, a->status, code, field && field[0] ? " " : "",
			field && field[0] ? field : "", message ? message : "");
	else
		fprintf(stderr, "limes %s: the agent answered %ld\n", cmd, a->status);
	json_decref(doc);
	return cli_api_exit_code(a->status);
}

bool cli_api_plain_id(const char *id)
{
	return strlen(id) == 32 && strspn(id, "0123456789abcdefABCDEF") == 32;
}
