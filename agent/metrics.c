/*
 * GET /metrics: the agent's figures in the Prometheus text exposition format
 * (version 0.0.4): per-peer link health and message counters, refusals by
 * reason, API requests by status, store health and commits. Reads agent
 * state; owns nothing.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/api_int.h"

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *grown = realloc(t->buf, cap);
		if (!grown) {
			t->failed = true;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Peer ids are [A-Za-z0-9._-] (config checks it), so they need no escaping. */
static void per_peer_gauge(struct text *t, struct agent *agent, const char *name, const char *help, int which)
{
	uint64_t now = agent_now_ms();

	header(t, name, "gauge", help);
	for (size_t i = 0; i < agent->n_peers; i++) {
		struct peer *p = &agent->peers[i];
		const struct peer *link = p->conf->via[0] && agent_peer(agent, p->conf->via)
						  ? agent_peer(agent, p->conf->via) : p;
		uint64_t queued = 0, oldest = 0;
		double v;
		switch (which) {
		case 0: v = link->state == LINK_UP ? 1 : 0; break;
		case 1:
			if (!link->has_rtt)
				continue;
			v = link->rtt_ms / 1000.0;
			break;
		case 2:
		case 3:
			if (p->conf->via[0] || agent_outbox_stats(agent, p, &queued, &oldest) < 0)
				continue;
			v = which == 2 ? (double)queued : (oldest && now > oldest ? (double)(now - oldest) / 1000.0 : 0);
			break;
		default:
			if (!link->has_rtt)
				continue;
			v = link->clock_offset_ms / 1000.0;
			break;
		}
		put(t, "%s{peer=\"%s\"} %.6g\n", name, p->conf->id, v);
	}
}

static void per_peer_counter(struct text *t, struct agent *agent, const char *name, const char *help,
			     size_t offset)
{
	header(t, name, "counter", help);
	for (size_t i = 0; i < agent->n_peers; i++) {
		const struct peer *p = &agent->peers[i];
		put(t, "%s{peer=\"%s\"} %" PRIu64 "\n", name, p->conf->id,
		    *(const uint64_t *)((const char *)p + offset));
	}
}

void metrics_render(struct agent *agent, const struct api_status_count *counts, size_t n_counts,
		    struct api_reply *r)
{
	struct text t = { .buf = malloc(16384), .cap = 16384 };
	const struct agent_counters *c = &agent->counters;

	if (!t.buf)
		t.failed = true;

	per_peer_gauge(&t, agent, "limes_peer_up", "1 when the link to the peer (or its relay) is up", 0);
	per_peer_gauge(&t, agent, "limes_peer_rtt_seconds", "Smoothed round-trip time measured by heartbeats", 1);
	per_peer_gauge(&t, agent, "limes_peer_queued_messages",
		       "Envelopes waiting for this next hop (queued or sent without receipt)", 2);
	per_peer_gauge(&t, agent, "limes_peer_oldest_unacked_seconds",
		       "Age of the oldest envelope to this next hop without a receipt", 3);
	per_peer_gauge(&t, agent, "limes_peer_clock_offset_seconds", "The peer's clock minus ours", 4);
	per_peer_counter(&t, agent, "limes_messages_sent_total", "Envelopes sent to the peer",
			 offsetof(struct peer, sent));
	per_peer_counter(&t, agent, "limes_messages_delivered_total", "Messages with a verified delivery receipt",
			 offsetof(struct peer, delivered));
	per_peer_counter(&t, agent, "limes_messages_rejected_total", "Messages the peer rejected with a signed receipt",
			 offsetof(struct peer, rejected_by_peer));
	per_peer_counter(&t, agent, "limes_messages_received_total", "Messages received from the peer and committed",
			 offsetof(struct peer, received));
	per_peer_counter(&t, agent, "limes_messages_refused_total", "Envelopes from the peer refused",
			 offsetof(struct peer, refused));
	per_peer_counter(&t, agent, "limes_messages_expired_total", "Messages to the peer that expired undelivered",
			 offsetof(struct peer, expired));

	header(&t, "limes_envelopes_refused_total", "counter", "Received envelopes refused, by reason");
	for (int i = 1; i < api_json_reason_count() && i < 32; i++)
		put(&t, "limes_envelopes_refused_total{reason=\"%s\"} %" PRIu64 "\n", api_json_reason_name(i),
		    c->envelopes_refused[i]);
	header(&t, "limes_receipts_bad_total", "counter", "Receipts that did not verify");
	put(&t, "limes_receipts_bad_total %" PRIu64 "\n", c->receipts_bad);
	header(&t, "limes_frames_garbage_total", "counter", "Link frames that did not decode");
	put(&t, "limes_frames_garbage_total %" PRIu64 "\n", c->frames_garbage);
	header(&t, "limes_relayed_total", "counter", "Envelopes relayed to another peer");
	put(&t, "limes_relayed_total %" PRIu64 "\n", c->relayed);

	header(&t, "limes_api_requests_total", "counter", "API requests answered, by HTTP status");
	for (size_t i = 0; i < n_counts; i++)
		if (counts[i].status)
			put(&t, "limes_api_requests_total{code=\"%d\"} %" PRIu64 "\n", counts[i].status,
			    counts[i].count);
	header(&t, "limes_api_accepted_messages_total", "counter", "Messages accepted through the API");
	put(&t, "limes_api_accepted_messages_total %" PRIu64 "\n", c->api_accepted_messages);

	header(&t, "limes_store_healthy", "gauge", "1 while the store accepts writes");
	put(&t, "limes_store_healthy %d\n", store_healthy(agent->store) ? 1 : 0);
	header(&t, "limes_store_commits_total", "counter", "Store commits made");
	put(&t, "limes_store_commits_total %" PRIu64 "\n", c->commits);
	header(&t, "limes_store_commit_failures_total", "counter", "Store commits that failed");
	put(&t, "limes_store_commit_failures_total %" PRIu64 "\n", c->commit_failures);
	uint64_t free_bytes = api_json_free_bytes(agent);
	if (free_bytes != UINT64_MAX) {
		header(&t, "limes_data_free_bytes", "gauge", "Free bytes on the data folder's file system");
		put(&t, "limes_data_free_bytes %" PRIu64 "\n", free_bytes);
	}
	header(&t, "limes_uptime_seconds", "gauge", "Seconds since the agent started");
	put(&t, "limes_uptime_seconds %.3f\n", (double)(agent_now_ms() - agent->started_ms) / 1000.0);

	free(r->body);
	if (t.failed) {
		free(t.buf);
		api_json_error(r, 500, "internal", "", "out of memory");
		return;
	}
	r->status = 200;
	r->body = t.buf;
	r->len = t.len;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
