/*
 * JSON building blocks of the API: times in RFC 3339, ids in hex, the error
 * document with the one table from our error codes to HTTP, and the
 * link-health document shared by GET /v1/peers, `limes status --json` and
 * the dashboard.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "api_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "crypto/encode.h"
#include "proto/err.h"

void api_json_time(char *buf, size_t len, uint64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

json_t *api_json_time_value(uint64_t ms)
{
	char buf[API_TIME_SIZE];

	if (ms == 0)
		return json_null();
	api_json_time(buf, sizeof(buf), ms);
	return json_string(buf);
}

json_t *api_json_id_value(const uint8_t id[STORE_ID_LEN])
{
	char hex[API_ID_HEX];

	if (encode_hex(hex, sizeof(hex), id, STORE_ID_LEN) < 0)
		return NULL; /* cannot happen: hex fits an id */
	return json_string(hex);
}

int api_json_parse_id(const char *text, uint8_t id[STORE_ID_LEN])
{
	if (!text || strlen(text) != 2 * STORE_ID_LEN)
		return LIMES_E_INVAL;
	return encode_unhex(id, STORE_ID_LEN, text, 2 * STORE_ID_LEN) < 0 ? LIMES_E_INVAL : 0;
}

void api_json_reply(struct api_reply *r, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(obj);
	free(r->body);
	r->body = NULL;
	r->content_type = "application/json";
	if (!text) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"field\":\"\",\"message\":\"out of memory\"}}";
		r->status = 500;
		snprintf(r->code, sizeof(r->code), "internal");
		r->body = strdup(oom);
		r->len = r->body ? strlen(r->body) : 0;
		return;
	}
	r->status = status;
	r->len = strlen(text);
	r->body = text;
}

void api_json_reply_ids(struct api_reply *r, int status, const struct submit_result *results, size_t n)
{
	static const char head[] = "{\"ids\":[", tail[] = "]}";
	size_t cap = sizeof(head) + n * (2 * STORE_ID_LEN + 3) + sizeof(tail);
	char *text = malloc(cap), *p = text;

	if (!text) {
		api_json_reply(r, status, NULL); /* the out-of-memory answer */
		return;
	}
	p += snprintf(p, cap, "%s", head);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		if (encode_hex(p, 2 * STORE_ID_LEN + 1, results[i].id, STORE_ID_LEN) < 0)
			p[0] = '\0'; /* cannot happen: the room fits an id */
		p += strlen(p);
		*p++ = '"';
	}
	memcpy(p, tail, sizeof(tail));
	free(r->body);
	r->body = text;
	r->len = (size_t)(p - text) + sizeof(tail) - 1;
	r->status = status;
	r->content_type = "application/json";
}

void api_json_error(struct api_reply *r, int status, const char *code, const char *field, const char *fmt, ...)
{
	char message[1200]; /* a whole enum list fits */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	snprintf(r->code, sizeof(r->code), "%s", code);
	snprintf(r->field, sizeof(r->field), "%s", field ? field : "");
	api_json_reply(r, status,
		       json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code, "field", field ? field : "",
				 "message", message));
}

/*
 * The one place our error codes (LIMES_E_*, what core and the store return)
 * become HTTP: a status and the API's stable error code. Codes the API
 * finds by itself (wrong_type, bad_enum, unknown_field...) have no LIMES_E_*
 * of their own and are written where they are found.
 */
static const struct http_error {
	int err;
	int status;
	const char *code;
} http_errors[] = {
	{ LIMES_E_INVAL,           400, "invalid_field" },
	{ LIMES_E_MISSING,         400, "missing_field" },
	{ LIMES_E_RANGE,           400, "out_of_range" },
	{ LIMES_E_POLICY,          403, "policy_forbidden" },
	{ LIMES_E_FORBIDDEN,       403, "forbidden" },
	{ LIMES_E_PEER_LACKS_TYPE, 400, "peer_lacks_type" },
	{ LIMES_E_UNKNOWN_PEER,    404, "unknown_peer" },
	{ LIMES_E_NOTFOUND,        404, "not_found" },
	{ LIMES_E_NOT_REQUEUEABLE, 409, "not_requeueable" },
	{ LIMES_E_EXISTS,          409, "exists" },
	{ LIMES_E_ACCES,           403, "permission_denied" },
	{ LIMES_E_NOENT,           404, "no_such_file" },
	{ LIMES_E_TOOBIG,          413, "too_large" },
	{ LIMES_E_STORE_FULL,      503, "disk_full" },
	{ LIMES_E_STORE_FAILED,    503, "store_unavailable" },
	{ LIMES_E_STORE_CORRUPT,   503, "store_unavailable" },
	{ LIMES_E_IO,              503, "store_unavailable" },
	{ LIMES_E_NOMEM,           503, "internal" },
	{ LIMES_E_INTERNAL,        500, "internal" },
};
static const struct http_error http_error_other = { 0, 500, "internal" };

static const struct http_error *http_error_of(int err)
{
	for (size_t i = 0; i < sizeof(http_errors) / sizeof(http_errors[0]); i++)
		if (http_errors[i].err == err)
			return &http_errors[i];
	return &http_error_other;
}

static void code_error(struct api_reply *r, int err, const char *field, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void code_error(struct api_reply *r, int err, const char *field, const char *fmt, va_list ap)
{
	const struct http_error *h = http_error_of(err);
	char message[1200];

	vsnprintf(message, sizeof(message), fmt, ap);
	api_json_error(r, h->status, h->code, field, "%s", message[0] ? message : limes_strerror(err));
}

void api_json_code_error(struct api_reply *r, int err, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code_error(r, err, field, fmt, ap);
	va_end(ap);
}

void api_json_core_error(struct api_reply *r, int rc, const struct core_error *e)
{
	int err = e->code ? e->code : rc;

	api_json_code_error(r, err, e->field, "%s", e->message[0] ? e->message : limes_strerror(err));
}

void api_json_store_error(struct api_reply *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code_error(r, rc == LIMES_E_STORE_FULL ? LIMES_E_STORE_FULL : LIMES_E_STORE_FAILED, "", fmt, ap);
	va_end(ap);
}

uint64_t api_json_free_bytes(const struct api_deps *deps)
{
	struct statvfs sv;

	if (statvfs(peers_config(deps->peers)->data_dir, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

/* The free space a submission is checked against, read again when older
 * than this much of the loop's clock. A statfs per POST was one of the
 * syscalls of every isolated message (~10-20 us each on a VM); the reserve
 * (min_free_mb, 64 MiB by default) is far larger than what 100 ms of
 * submissions can write, and a disk that does fill up still refuses at the
 * commit (SQLITE_FULL -> 503). */
#define API_FREE_BYTES_MAX_AGE_MS 100

uint64_t api_json_free_bytes_recent(const struct api_deps *deps)
{
	/* A memo of one file-system query, like a clock read: one agent runs
	 * per process, the folder is the key should a test run two. Only the
	 * loop thread calls this. */
	static struct {
		char dir[4096];
		uint64_t at_ms, bytes;
		bool known;
	} memo;
	const char *dir = peers_config(deps->peers)->data_dir;
	uint64_t now = uv_now(deps->loop);

	if (!memo.known || now - memo.at_ms >= API_FREE_BYTES_MAX_AGE_MS || now < memo.at_ms ||
	    strcmp(memo.dir, dir) != 0) {
		memo.bytes = api_json_free_bytes(deps);
		memo.at_ms = now;
		memo.known = snprintf(memo.dir, sizeof(memo.dir), "%s", dir) < (int)sizeof(memo.dir);
	}
	return memo.bytes;
}

/* Seconds from then to now as a JSON real, or NULL when then is unknown (0). */
static json_t *age_value(uint64_t now, uint64_t then)
{
	return then && now >= then ? json_real((double)(now - then) / 1000.0) : NULL;
}

static json_t *peer_json(const struct api_deps *deps, struct peer *p, uint64_t now)
{
	const struct peer_counters *n = peer_counters(p);
	uint64_t queued = 0, oldest = 0;
	bool have_stats = false;

	/* A relayed peer shows its own state (from its own receipts and
	 * queue: core/relayed.c), last receipt and queue, and names its relay
	 * ("via", "via_state"); link figures of the relay (RTT, clock offset,
	 * since) are not its own, so they are null */
	const struct peer *hop = peers_find(deps->peers, peer_next_hop(p));
	const struct peer_link *own = peer_link(p);
	struct peer_link relayed_link;
	const struct peer_link *link = own;
	struct peer_relayed rs = { 0 };
	int rc = peer_outbox_stats(p, deps->store, &queued, &oldest);
	if (rc < 0)
		log_warn("peer=%s event=outbox_stats_failed reason=\"%s\"", peer_id(p), limes_strerror(rc));
	have_stats = rc == 0;
	if (!peer_is_direct(p)) {
		peer_relayed_state(p, hop, now, have_stats ? queued : 0, oldest, peers_config(deps->peers)->dead_after_ms,
				   &rs);
		memset(&relayed_link, 0, sizeof(relayed_link));
		relayed_link.state = rs.state;
		relayed_link.last_heard_ms = own->last_heard_ms;
		snprintf(relayed_link.reason, sizeof(relayed_link.reason), "%s", rs.reason);
		link = &relayed_link;
	}
	json_t *counters = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				     "sent", (json_int_t)n->n[PEER_SENT],
				     "delivered", (json_int_t)n->n[PEER_DELIVERED],
				     "rejected", (json_int_t)n->n[PEER_REJECTED],
				     "received", (json_int_t)n->n[PEER_RECEIVED],
				     "refused", (json_int_t)n->n[PEER_REFUSED],
				     "duplicates", (json_int_t)n->n[PEER_DUPLICATES],
				     "expired", (json_int_t)n->n[PEER_EXPIRED],
				     "resent", (json_int_t)n->n[PEER_RESENT]);
	if (counters)
		json_object_set_new(counters, "audit_equivocations", json_integer((json_int_t)n->n[PEER_EQUIVOCATIONS]));
	/* "s*": endpoint for a direct peer, via for a relayed one; "o?": null
	 * for a figure not measured yet */
	/* the envelope version agreed on our link to it (null: none yet, or relayed) */
	/* behind a relay: v2 only when both the relay's link and the relay's
	 * own link onwards (its heartbeat replies' relays_v2) say so */
	const struct peer_link *relay = hop ? peer_link(hop) : own;
	uint32_t agreed = peer_is_direct(p) ? link->protocol
			  : own->protocol < relay->protocol ? own->protocol : relay->protocol;
	json_t *proto = agreed ? json_integer(agreed) : NULL;
	json_t *o = json_pack("{s:s, s:s*, s:s*, s:s, s:s*, s:o, s:o?, s:o?, s:o, s:o?, s:o?, s:o?, s:o?, s:o?, s:o}",
			 "id", peer_id(p),
			 "endpoint", peer_is_direct(p) ? peer_conf(p)->endpoint : NULL,
			 "via", peer_is_direct(p) ? NULL : peer_next_hop(p),
			 "state", link_state_name(link->state),
			 "reason", link->reason[0] ? link->reason : NULL,
			 "state_since", api_json_time_value(link->since_ms),
			 "state_age_s", age_value(now, link->since_ms),
			 "rtt_ms", link->has_rtt ? json_real(link->rtt_ms) : NULL,
			 "last_heard", api_json_time_value(own->last_heard_ms),
			 "last_heard_age_s", age_value(now, own->last_heard_ms),
			 "queued", have_stats ? json_integer((json_int_t)queued) : NULL,
			 "oldest_unacked_age_s", have_stats ? age_value(now, oldest) : NULL,
			 "clock_offset_ms", link->has_rtt ? json_real(link->clock_offset_ms) : NULL,
			 "protocol", proto,
			 "counters", counters);
	/* a link can be up while every message one way is refused not_yet_valid
	 * or expired: say so beside the state */
	double skew = (double)peers_config(deps->peers)->max_clock_skew_ms;
	bool skewed = link->has_rtt && (link->clock_offset_ms > skew || link->clock_offset_ms < -skew);
	if (o && json_object_set_new(o, "clock_skewed", json_boolean(skewed)) < 0) {
		json_decref(o);
		o = NULL;
	}
	if (o)
		json_object_set_new(o, "accepts", api_json_peer_accepts(p));
	if (o)
		json_object_set_new(o, "key", api_json_peer_key(deps, p));
	/* after our restore: has it sent again what it delivered since? */
	if (o && peer_is_direct(p))
		json_object_set_new(o, "restore_resend",
				    peer_resend_name(own->resend) ? json_string(peer_resend_name(own->resend)) : json_null());
	if (o && !peer_is_direct(p))
		json_object_set_new(o, "via_state", hop ? json_string(link_state_name(rs.relay_state)) : json_null());
	return o;
}

json_t *api_json_peers(const struct api_deps *deps)
{
	uint64_t now = clock_now_ms();
	json_t *list = json_array();
	size_t n = peers_count(deps->peers);

	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, peer_json(deps, peers_at(deps->peers, i), now)) < 0) {
			json_decref(list);
			list = NULL; /* json_pack fails on it below: the caller answers 500 */
		}
	struct api_role role;
	api_role_get(deps, &role);
	return json_pack("{s:{s:s, s:s, s:o, s:f, s:b, s:s, s:s, s:s}, s:o}", "agent", "id",
			 peers_config(deps->peers)->id, "version", LIMES_VERSION, "now", api_json_time_value(now),
			 "uptime_s", (double)(now - deps->started_ms) / 1000.0, "store_healthy",
			 store_healthy(deps->store), "role", role.standby ? "standby" : "active", "node",
			 role.node, "store_backend", role.backend, "peers", list);
}
