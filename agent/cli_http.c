/* libcurl client of the local API, shared by send, inbox, msg, status and requeue. */
#include "agent/cli_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli.h"
#include "agent/config.h"
#include "crypto/secret.h"

#define TOKEN_MAX 512

struct cli_http {
	CURL *curl;
	char base[128];
	char auth[TOKEN_MAX + 32];  /* "Authorization: Bearer ..." */
	size_t max_body;
};

struct cli_http *cli_http_open(const char *config_file, const char *cmd, int *exit_code)
{
	char err[CONFIG_ERR_MAX];
	char token[TOKEN_MAX];
	struct cli_http *c = NULL;
	struct config *cfg = config_load(config_file, err, sizeof(err));

	*exit_code = CLI_CONFIG;
	if (!cfg) {
		fprintf(stderr, "limes %s: %s\n", cmd, err);
		return NULL;
	}
	if (config_read_token(cfg, token, sizeof(token), err, sizeof(err)) < 0) {
		fprintf(stderr, "limes %s: %s\n", cmd, err);
		goto out;
	}
	*exit_code = CLI_SOFTWARE;
	c = calloc(1, sizeof(*c));
	if (!c || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
		fprintf(stderr, "limes %s: cannot start libcurl\n", cmd);
		free(c);
		c = NULL;
		goto out;
	}
	/* a connect address of 0.0.0.0 / :: means "this machine" */
	const char *host = cfg->api_host;
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(c->base, sizeof(c->base), strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
		 cfg->api_port);
	snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", token);
	c->max_body = cfg->max_body_bytes;
	*exit_code = CLI_OK;
out:
	secret_wipe(token, sizeof(token));
	config_destroy(&cfg);
	return c;
}

void cli_http_destroy(struct cli_http **pc)
{
	if (!pc || !*pc)
		return;
	struct cli_http *c = *pc;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	secret_wipe(c->auth, sizeof(c->auth));
	free(c);
	*pc = NULL;
	curl_global_cleanup();
}

size_t cli_http_max_body(const struct cli_http *c)
{
	return c->max_body;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct cli_http_answer *a = arg;
	size_t n = size * nmemb;
	char *grown = realloc(a->body, a->len + n + 1);

	if (!grown)
		return 0;
	a->body = grown;
	memcpy(a->body + a->len, data, n);
	a->len += n;
	a->body[a->len] = '\0';
	return n;
}

int cli_http_request(struct cli_http *c, const char *method, const char *path, const char *body, size_t len,
		     long timeout_s, struct cli_http_answer *a)
{
	char url[1024];
	struct curl_slist *headers = NULL;
	CURLcode rc;

	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "%s%s", c->base, path);
	headers = curl_slist_append(headers, c->auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, a);
	if (body) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		snprintf(a->error, sizeof(a->error), "%s: %s", c->base, curl_easy_strerror(rc));
		a->status = 0;
		return CLI_UNAVAILABLE;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (!a->body) {
		a->body = calloc(1, 1);
		a->len = 0;
	}
	return CLI_OK;
}

void cli_http_answer_clear(struct cli_http_answer *a)
{
	if (!a)
		return;
	free(a->body);
	memset(a, 0, sizeof(*a));
}

int cli_http_exit_code(long status)
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

int cli_http_fail(const char *cmd, const struct cli_http_answer *a)
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
	return cli_http_exit_code(a->status);
}

bool cli_http_plain_id(const char *id)
{
	return strlen(id) == 32 && strspn(id, "0123456789abcdefABCDEF") == 32;
}
