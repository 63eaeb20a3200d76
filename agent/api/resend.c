/*
 * POST /v1/peers/{id}/resend {"since", "until", "dry_run"}: sends again what was
 * delivered to a neighbour since a time, after it restored an older copy
 * of its store and could not ask itself (docs/api.md). The neighbour's own
 * request over the link does the same (link/resend.c); both go through
 * core/resend.c.
 */
#include <jansson.h>
#include <string.h>

#include "api_int.h"
#include "base/clock.h"
#include "crypto/audit.h"
#include "proto/err.h"

void api_routes_resend(const struct api_deps *deps, const char *client, const char *peer, const char *text,
		       size_t len, struct api_reply *r)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	const char *key;
	json_t *val;
	uint64_t since_ms = 0, until_ms = 0;
	struct core_error cerr;
	size_t count = 0;
	bool more = false;

	if (!doc || !json_is_object(doc)) {
		api_json_error(r, 400, "invalid_json", "", "expected {\"since\": \"2026-12-01T10:00:00Z\"}");
		goto out;
	}
	json_object_foreach(doc, key, val) {
		if (strcmp(key, "since") != 0 && strcmp(key, "until") != 0 && strcmp(key, "dry_run") != 0) {
			api_json_error(r, 400, "unknown_field", key, "unknown field (known: since, until, dry_run)");
			goto out;
		}
	}
	val = json_object_get(doc, "since");
	if (!val) {
		api_json_error(r, 400, "missing_field", "since", "the time of the neighbour's copy (RFC 3339 UTC)");
		goto out;
	}
	if (!json_is_string(val) || audit_parse_time(json_string_value(val), &since_ms) < 0) {
		api_json_error(r, 400, "bad_format", "since", "must be RFC 3339 UTC (2026-12-01T10:00:00Z) or unix ms");
		goto out;
	}
	/* a series of calls (each "more" calls again) passes the first one's
	 * until_ms: what it sent again is delivered anew and must not come
	 * up again */
	val = json_object_get(doc, "until");
	if (!val) {
		/* now; a since still to come finds nothing, as it always did */
		until_ms = clock_now_ms();
		if (until_ms <= since_ms)
			until_ms = since_ms + 1;
	} else if (!json_is_string(val) || audit_parse_time(json_string_value(val), &until_ms) < 0) {
		api_json_error(r, 400, "bad_format", "until", "must be RFC 3339 UTC (2026-12-01T10:00:00Z) or unix ms");
		goto out;
	}
	val = json_object_get(doc, "dry_run");
	if (val && !json_is_boolean(val)) {
		api_json_error(r, 400, "wrong_type", "dry_run", "must be true or false");
		goto out;
	}
	bool dry_run = val && json_is_true(val);
	int rc = submit_resend_delivered(deps->submit, client, peer, since_ms, until_ms, RESEND_BATCH_MAX, dry_run,
					 &count, &more, &cerr);
	if (rc == LIMES_E_AGAIN) {
		/* the same bound as a neighbour's own request (core/resend.c) */
		api_json_error(r, 429, "rate_limited", "peer", "%s", cerr.message);
		goto out;
	}
	if (rc < 0) {
		api_json_core_error(r, rc, &cerr);
		goto out;
	}
	/* staged in the turn's commit: answered once durable */
	r->needs_commit = !dry_run && count > 0;
	api_json_reply(r, dry_run ? 200 : 202,
		       json_pack("{s:s, s:I, s:b, s:b, s:I}", "peer", peer, "count", (json_int_t)count, "more", more,
				 "dry_run", dry_run, "until_ms", (json_int_t)until_ms));
out:
	json_decref(doc);
}
