/*
 * libFuzzer harness: what an API client controls before any store work.
 * The input is split at the first two NUL bytes into the inbox query's
 * after, limit and wait strings (GET /v1/inbox?after=&limit=&wait=), and
 * the rest is a POST /v1/messages body: the request JSON parser, then each
 * message's body through the schema mapper, as the API runs them. Every
 * refusal must come with an HTTP status and an error document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "proto/err.h"
#include "proto/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *take(const uint8_t **p, size_t *left)
{
	const uint8_t *nul = memchr(*p, '\0', *left);
	size_t n = nul ? (size_t)(nul - *p) : *left;
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p += nul ? n + 1 : n;
	*left -= nul ? n + 1 : n;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size;
	char *after = take(&p, &left), *limit = take(&p, &left), *wait = take(&p, &left);
	struct api_inbox_params params;
	struct api_reply r;

	memset(&r, 0, sizeof(r));
	int rc = api_routes_inbox_params(after[0] ? after : NULL, limit[0] ? limit : NULL, wait[0] ? wait : NULL,
					 &params, &r);
	if (rc < 0 && (r.status != 400 || !r.body))
		abort(); /* a refusal without its answer */
	if (rc == 0 && (params.wait_s > API_MAX_WAIT_S || params.limit == 0))
		abort();
	free(r.body);
	free(after);
	free(limit);
	free(wait);

	json_t *doc = NULL;
	struct pbjson_error perr;
	if (pbjson_parse((const char *)p, left, &doc, &perr) != 0)
		return 0;
	size_t n = json_is_array(doc) ? json_array_size(doc) : 1;
	for (size_t i = 0; i < n && i < 16; i++) {
		json_t *m = json_is_array(doc) ? json_array_get(doc, i) : doc;
		json_t *body = json_object_get(m, "body");
		int type = schema_type_from_name(json_string_value(json_object_get(m, "type")));
		if (!body || type < 0)
			continue;
		uint8_t *buf = NULL;
		size_t len = 0;
		if (schema_body_from_json(type, body, "body", &buf, &len, &perr) == 0 &&
		    schema_body_check(type, buf, len) != 0)
			abort(); /* the API would seal a body the receiver refuses */
		free(buf);
	}
	json_decref(doc);
	return 0;
}
