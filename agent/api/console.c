/*
 * The console's own documents: GET /v1/stats/history (the per-peer samples
 * the daemon keeps in memory, core/history.h) and GET /v1/events (the ring
 * of recent events the peer table owns, core/events.h). Both read memory
 * only: neither touches the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "base/clock.h"
#include "core/events.h"
#include "core/history.h"
#include "proto/err.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000

/* A decimal count in [min, max] from a query parameter; NULL keeps *out. */
static int parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	if (!text)
		return 0;
	if (!*text || *text == '-' || *text == '+' || *text == ' ')
		return LIMES_E_INVAL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return LIMES_E_INVAL;
	*out = v;
	return 0;
}

static json_t *text_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

void api_console_events(const struct api_deps *deps, const char *after_text, const char *limit_text,
			struct api_reply *r)
{
	const struct events *ev = peers_events(deps->peers);
	uint64_t after = 0, limit = EVENTS_DEFAULT_LIMIT, missed = 0;
	struct event *buf = NULL;

	if (parse_count(after_text, 0, INT64_MAX, &after) < 0) {
		api_json_error(r, 400, "invalid_field", "after", "after must be an event sequence number (0 or more)");
		return;
	}
	if (parse_count(limit_text, 1, EVENTS_MAX_LIMIT, &limit) < 0) {
		api_json_error(r, 400, "invalid_field", "limit", "limit must be 1 to %d", EVENTS_MAX_LIMIT);
		return;
	}
	buf = calloc(limit, sizeof(*buf));
	json_t *list = json_array();
	if (!buf || !list) {
		json_decref(list);
		free(buf);
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		return;
	}
	size_t n = events_after(ev, after, buf, limit, &missed);
	for (size_t i = 0; i < n; i++) {
		const struct event *e = &buf[i];
		json_t *o = json_pack("{s:I, s:o, s:s, s:o, s:o, s:o, s:o}", "seq", (json_int_t)e->seq, "at",
				      api_json_time_value(e->at_ms), "kind", e->kind, "peer", text_or_null(e->peer),
				      "msg", text_or_null(e->msg), "reason", text_or_null(e->reason), "detail",
				      text_or_null(e->detail));
		if (json_array_append_new(list, o) < 0) {
			json_decref(list);
			free(buf);
			api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
			return;
		}
	}
	/* next: the cursor for the following call; last_seq tells a client
	 * whose cursor is ahead (the agent restarted) to start again from 0 */
	uint64_t next = n ? buf[n - 1].seq : (after > events_last_seq(ev) ? events_last_seq(ev) : after);
	free(buf);
	api_json_reply(r, 200,
		       json_pack("{s:o, s:I, s:I, s:I}", "events", list, "next", (json_int_t)next, "last_seq",
				 (json_int_t)events_last_seq(ev), "missed", (json_int_t)missed));
}

/* One peer's series as columns: t_ms, sent, received, refused, queued, rtt_ms. */
static json_t *series_json(const struct history *h, size_t i, uint64_t since_ms, struct history_point *pts)
{
	size_t n = history_points(h, i, since_ms, pts, HISTORY_POINTS);
	json_t *t = json_array(), *sent = json_array(), *received = json_array(), *refused = json_array(),
	       *queued = json_array(), *rtt = json_array();
	bool ok = t && sent && received && refused && queued && rtt;

	for (size_t k = 0; ok && k < n; k++) {
		const struct history_point *p = &pts[k];
		ok = json_array_append_new(t, json_integer((json_int_t)p->t_ms)) == 0 &&
		     json_array_append_new(sent, json_integer(p->sent)) == 0 &&
		     json_array_append_new(received, json_integer(p->received)) == 0 &&
		     json_array_append_new(refused, json_integer(p->refused)) == 0 &&
		     json_array_append_new(queued, p->queued >= 0 ? json_integer((json_int_t)p->queued) : json_null()) == 0 &&
		     /* microsecond precision is what the link measures; keeps the document small */
		     json_array_append_new(rtt, p->rtt_ms >= 0 ? json_real((double)(int64_t)(p->rtt_ms * 1000.0 + 0.5) / 1000.0)
							    : json_null()) == 0;
	}
	if (!ok) {
		json_decref(t);
		json_decref(sent);
		json_decref(received);
		json_decref(refused);
		json_decref(queued);
		json_decref(rtt);
		return NULL;
	}
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "id", history_peer(h, i), "t_ms", t, "sent", sent,
			 "received", received, "refused", refused, "queued", queued, "rtt_ms", rtt);
}

void api_console_history(const struct api_deps *deps, const char *peer, const char *minutes_text,
			 struct api_reply *r)
{
	const struct history *h = deps->history;
	uint64_t minutes = 24 * 60, now = clock_now_ms();
	struct history_point *pts = NULL;
	json_t *list = NULL;

	if (!h) {
		api_json_error(r, 404, "not_found", "", "this agent keeps no history");
		return;
	}
	if (parse_count(minutes_text, 1, 24 * 60, &minutes) < 0) {
		api_json_error(r, 400, "invalid_field", "minutes", "minutes must be 1 to 1440");
		return;
	}
	if (peer && !peers_find(deps->peers, peer)) {
		api_json_code_error(r, LIMES_E_UNKNOWN_PEER, "peer", "no peer \"%.64s\" in the configuration", peer);
		return;
	}
	pts = malloc(HISTORY_POINTS * sizeof(*pts));
	list = json_array();
	if (!pts || !list)
		goto nomem;
	uint64_t since = now > minutes * 60000 ? now - minutes * 60000 : 0;
	for (size_t i = 0; i < history_peers(h); i++) {
		if (peer && strcmp(peer, history_peer(h, i)) != 0)
			continue;
		json_t *s = series_json(h, i, since, pts);
		if (!s || json_array_append_new(list, s) < 0)
			goto nomem;
	}
	free(pts);
	api_json_reply(r, 200,
		       json_pack("{s:f, s:I, s:I, s:o, s:o}", "interval_s",
				 (double)history_interval_ms(h) / 1000.0, "points_max", (json_int_t)HISTORY_POINTS,
				 "now_ms", (json_int_t)now, "now", api_json_time_value(now), "peers", list));
	return;
nomem:
	free(pts);
	json_decref(list);
	api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
}
