/*
 * The operators' routes: GET /v1/messages (deliveries by state, peer, type
 * and age, with cursor paging) and POST /v1/backup (a consistent copy of
 * the store written by the agent). Both sit behind the API token; the
 * backup writes where the request says, so it is for administrators only.
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_int.h"
#include "proto/err.h"
#include "proto/reason.h"
#include "proto/schema.h"

/* "2026-12-01T10:00:00Z" (optionally with .mmm) or unix milliseconds. */
static int parse_since(const char *text, uint64_t *ms)
{
	char *end;
	if (text[0] >= '0' && text[0] <= '9' && strchr(text, '-') == NULL) {
		errno = 0;
		unsigned long long v = strtoull(text, &end, 10);
		if (errno || *end)
			return LIMES_E_INVAL;
		*ms = v;
		return 0;
	}
	struct tm tm = { 0 };
	end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return LIMES_E_INVAL;
	unsigned frac = 0;
	if (*end == '.') {
		end++;
		int digits = 0;
		while (*end >= '0' && *end <= '9' && digits < 3) {
			frac = frac * 10 + (unsigned)(*end++ - '0');
			digits++;
		}
		while (digits++ < 3)
			frac *= 10;
	}
	if (strcmp(end, "Z") != 0)
		return LIMES_E_INVAL;
	time_t t = timegm(&tm);
	if (t < 0)
		return LIMES_E_INVAL;
	*ms = (uint64_t)t * 1000 + frac;
	return 0;
}

static int state_from_name(const char *name)
{
	for (int s = DELIVERY_QUEUED; s <= DELIVERY_EXPIRED; s++)
		if (strcmp(store_delivery_state_name((enum delivery_state)s), name) == 0)
			return s;
	return -1;
}

struct list_view {
	json_t *messages;
	int64_t last;
	bool nomem;
};

static int add_row(void *arg, const struct store_delivery_row *row)
{
	struct list_view *v = arg;
	const char *type = schema_type_name(row->type);
	bool done = row->state != DELIVERY_QUEUED && row->state != DELIVERY_SENT;
	bool rejected = row->state == DELIVERY_REJECTED;
	json_t *o = json_pack("{s:o, s:s, s:s*, s:s, s:s, s:s, s:o, s:o, s:I, s:o, s:o*, s:s*, s:s*}",
			      "id", api_json_id_value(row->id),
			      "to", row->recipient,
			      "via", strcmp(row->next_hop, row->recipient) != 0 ? row->next_hop : NULL,
			      "type", type ? type : "unknown",
			      "priority", row->priority ? "urgent" : "normal",
			      "state", store_delivery_state_name(row->state),
			      "created", api_json_time_value(row->created_ms),
			      "expires", api_json_time_value(row->expires_ms),
			      "attempts", (json_int_t)row->attempts,
			      "last_attempt", api_json_time_value(row->sent_ms),
			      "done", done ? api_json_time_value(row->done_ms) : NULL,
			      "reason", rejected ? reason_name(row->reason) : NULL,
			      "detail", rejected ? row->detail : NULL);
	v->last = row->cursor;
	if (!o || json_array_append_new(v->messages, o) < 0) {
		v->nomem = true;
		return 1;
	}
	return 0;
}

void api_routes_list_messages(const struct api_deps *deps, const struct api_list_query *q, struct api_reply *r)
{
	struct store_list_filter f = { .state = -1, .type = -1 };
	struct api_inbox_params page;
	struct list_view v = { .messages = json_array() };

	/* after and limit as for the inbox: the same cursor rules */
	if (api_routes_inbox_params(q->after, q->limit, NULL, &page, r) < 0)
		goto out;
	if (q->state && (f.state = state_from_name(q->state)) < 0) {
		api_json_error(r, 400, "bad_enum", "state",
			       "unknown state '%s' (known: queued, sent, delivered, rejected, expired)", q->state);
		goto out;
	}
	if (q->type && (f.type = schema_type_from_name(q->type)) < 0) {
		api_json_error(r, 400, "bad_enum", "type", "unknown message type '%s'", q->type);
		goto out;
	}
	if (q->peer) {
		if (!peers_find(deps->peers, q->peer)) {
			api_json_code_error(r, LIMES_E_UNKNOWN_PEER, "peer", "no peer '%s' is configured", q->peer);
			goto out;
		}
		f.recipient = q->peer;
	}
	if (q->since && parse_since(q->since, &f.since_ms) < 0) {
		api_json_error(r, 400, "bad_format", "since",
			       "must be an RFC 3339 UTC time (2026-12-01T10:00:00Z) or unix milliseconds");
		goto out;
	}
	if (!v.messages) {
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		goto out;
	}
	v.last = page.after;
	int n = store_delivery_list(deps->store, &f, page.after, page.limit, add_row, &v);
	if (v.nomem) {
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		goto out;
	}
	if (n < 0) {
		api_json_store_error(r, n, "the store cannot be read: %s", limes_strerror(n));
		goto out;
	}
	/* a full page may have a next one; the cursor is an opaque number */
	char next[24];
	snprintf(next, sizeof(next), "%lld", (long long)v.last);
	api_json_reply(r, 200,
		       json_pack("{s:O, s:s*}", "messages", v.messages, "next", (size_t)n == page.limit ? next : NULL));
out:
	json_decref(v.messages);
}

void api_routes_backup(const struct api_deps *deps, const char *text, size_t len, struct api_reply *r)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	const char *key;
	json_t *val;
	char why[512];

	if (!doc || !json_is_object(doc)) {
		api_json_error(r, 400, "invalid_json", "", "expected {\"path\": \"/absolute/file\"}");
		goto out;
	}
	json_object_foreach(doc, key, val) {
		if (strcmp(key, "path") != 0) {
			api_json_error(r, 400, "unknown_field", key, "unknown field (known: path)");
			goto out;
		}
	}
	const char *path = json_string_value(json_object_get(doc, "path"));
	if (!path) {
		api_json_error(r, 400, "missing_field", "path", "the absolute path to write the copy to");
		goto out;
	}
	if (path[0] != '/') {
		api_json_error(r, 400, "invalid_field", "path", "must be absolute: the agent's folder is not yours");
		goto out;
	}
	int rc = core_backup(deps->commit, deps->store, path, why, sizeof(why));
	if (rc == LIMES_E_EXISTS || rc == LIMES_E_ACCES || rc == LIMES_E_NOENT || rc == LIMES_E_INVAL) {
		api_json_code_error(r, rc, "path", "%s", why);
		goto out;
	}
	if (rc < 0) {
		api_json_store_error(r, rc, "%s", why);
		goto out;
	}
	api_json_reply(r, 200, json_pack("{s:s}", "path", path));
out:
	json_decref(doc);
}
