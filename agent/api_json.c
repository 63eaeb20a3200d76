/*
 * JSON building blocks of the API: times in RFC 3339, ids in hex, the error
 * document, rejection reason names and the link-health document shared by
 * GET /v1/peers, `limes status --json` and the dashboard.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "agent/api_int.h"
#include "agent/err.h"
#include "crypto/encode.h"

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

	encode_hex(hex, sizeof(hex), id, STORE_ID_LEN);
	return json_string(hex);
}

int api_json_parse_id(const char *text, uint8_t id[STORE_ID_LEN])
{
	if (!text || strlen(text) != 2 * STORE_ID_LEN)
		return LIMES_E_INVAL;
	return encode_unhex(id, STORE_ID_LEN, text, 2 * STORE_ID_LEN) < 0 ? LIMES_E_INVAL : 0;
}

/* RejectReason values of proto/limes.proto, plus 16 for a replay. */
static const char *const reason_names[] = {
	"none", "malformed", "unknown_version", "wrong_recipient", "expired", "not_yet_valid",
	"unknown_key", "key_not_valid", "bad_signature", "decrypt_failed", "policy_deny", "schema",
	"unknown_schema_major", "ttl_too_long", "unroutable", "internal", "replay",
};

const char *api_json_reason_name(int reason)
{
	if (reason < 0 || (size_t)reason >= sizeof(reason_names) / sizeof(reason_names[0]))
		return "unknown";
	return reason_names[reason];
}

int api_json_reason_count(void)
{
	return (int)(sizeof(reason_names) / sizeof(reason_names[0]));
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

void api_json_error(struct api_reply *r, int status, const char *code, const char *field, const char *fmt, ...)
{
	char message[512];
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

static const char *state_name(enum link_state s)
{
	switch (s) {
	case LINK_UP: return "up";
	case LINK_CONNECTING: return "connecting";
	default: return "down";
	}
}

uint64_t api_json_free_bytes(const struct agent *agent)
{
	struct statvfs sv;

	if (statvfs(agent->cfg->data_dir, &sv) < 0)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

static json_t *peer_json(struct agent *agent, struct peer *p, uint64_t now)
{
	const struct config_peer *c = p->conf;
	const struct peer *link = p;
	uint64_t queued = 0, oldest = 0;
	json_t *o = json_object();

	/* A relayed peer's health is its relay's link; its queue is counted there. */
	if (c->via[0]) {
		const struct peer *relay = agent_peer(agent, c->via);
		if (relay)
			link = relay;
		json_object_set_new(o, "id", json_string(c->id));
		json_object_set_new(o, "via", json_string(c->via));
	} else {
		json_object_set_new(o, "id", json_string(c->id));
		json_object_set_new(o, "endpoint", json_string(c->endpoint));
	}
	json_object_set_new(o, "state", json_string(state_name(link->state)));
	json_object_set_new(o, "rtt_ms", link->has_rtt ? json_real(link->rtt_ms) : json_null());
	json_object_set_new(o, "last_heard", api_json_time_value(link->last_heard_ms));
	json_object_set_new(o, "last_heard_age_s",
			    link->last_heard_ms && now >= link->last_heard_ms
				    ? json_real((double)(now - link->last_heard_ms) / 1000.0)
				    : json_null());
	bool have_stats = !c->via[0] && agent_outbox_stats(agent, p, &queued, &oldest) == 0;
	json_object_set_new(o, "queued", have_stats ? json_integer((json_int_t)queued) : json_null());
	json_object_set_new(o, "oldest_unacked_age_s",
			    have_stats && oldest && now >= oldest ? json_real((double)(now - oldest) / 1000.0)
								  : json_null());
	json_object_set_new(o, "clock_offset_ms", link->has_rtt ? json_real(link->clock_offset_ms) : json_null());
	json_object_set_new(o, "counters",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "sent", (json_int_t)p->sent,
				      "delivered", (json_int_t)p->delivered, "rejected", (json_int_t)p->rejected_by_peer,
				      "received", (json_int_t)p->received, "refused", (json_int_t)p->refused,
				      "duplicates", (json_int_t)p->duplicates, "expired", (json_int_t)p->expired,
				      "resent", (json_int_t)p->resent));
	return o;
}

json_t *api_json_peers(struct agent *agent)
{
	uint64_t now = agent_now_ms();
	json_t *peers = json_array();

	for (size_t i = 0; i < agent->n_peers; i++)
		json_array_append_new(peers, peer_json(agent, &agent->peers[i], now));
	return json_pack("{s:{s:s, s:s, s:o, s:f, s:b}, s:o}", "agent", "id", agent->cfg->id, "version",
			 LIMES_VERSION, "now", api_json_time_value(now), "uptime_s",
			 (double)(now - agent->started_ms) / 1000.0, "store_healthy", store_healthy(agent->store),
			 "peers", peers);
}
