/*
 * GET /metrics: the agent's figures in the Prometheus text exposition format
 * (version 0.0.4): per-peer link health and message counters (the peer
 * table's), refusals by reason and other link figures (the link module's,
 * through deps->link_stats), API requests by status (the API's own), store
 * health and commits (the commit's counters). Reads; owns nothing.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "proto/err.h"
#include "proto/reason.h"

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

/* The link a peer's health is read from: its next hop's (its relay's for a
 * relayed peer, its own for a direct one). */
static const struct peer_link *link_of(const struct api_deps *deps, struct peer *p)
{
	const struct peer *hop = peers_find(deps->peers, peer_next_hop(p));
	return peer_link(hop ? hop : p);
}

enum gauge { GAUGE_UP, GAUGE_RTT, GAUGE_QUEUED, GAUGE_OLDEST, GAUGE_CLOCK_OFFSET };

/* Peer ids are [A-Za-z0-9._-] (config checks it), so they need no escaping. */
static void per_peer_gauge(struct text *t, const struct api_deps *deps, const char *name, const char *help,
			   enum gauge which)
{
	uint64_t now = clock_now_ms();
	size_t n = peers_count(deps->peers);

	header(t, name, "gauge", help);
	for (size_t i = 0; i < n; i++) {
		struct peer *p = peers_at(deps->peers, i);
		const struct peer_link *link = link_of(deps, p);
		uint64_t queued = 0, oldest = 0;
		double v;
		switch (which) {
		case GAUGE_UP:
			if (!peer_is_direct(p)) {
				/* its own state (core/relayed.c), not its relay's */
				struct peer_relayed rs;
				if (peer_outbox_stats(p, deps->store, &queued, &oldest) < 0)
					queued = oldest = 0;
				peer_relayed_state(p, peers_find(deps->peers, peer_next_hop(p)), now, queued, oldest,
						   peers_config(deps->peers)->dead_after_ms, &rs);
				v = rs.state == LINK_UP ? 1 : 0;
				break;
			}
			v = link->state == LINK_UP ? 1 : 0;
			break;
		case GAUGE_RTT:
			if (!peer_is_direct(p))
				continue; /* measured on the relay's link, not to it */
			if (!link->has_rtt)
				continue;
			v = link->rtt_ms / 1000.0;
			break;
		case GAUGE_QUEUED:
		case GAUGE_OLDEST: {
			/* a relayed peer's queue is counted under its relay */
			if (!peer_is_direct(p))
				continue;
			int rc = peer_outbox_stats(p, deps->store, &queued, &oldest);
			if (rc < 0) {
				log_warn("peer=%s event=outbox_stats_failed reason=\"%s\"", peer_id(p), limes_strerror(rc));
				continue;
			}
			v = which == GAUGE_QUEUED ? (double)queued
						  : (oldest && now > oldest ? (double)(now - oldest) / 1000.0 : 0);
			break;
		}
		case GAUGE_CLOCK_OFFSET:
		default:
			if (!link->has_rtt || !peer_is_direct(p))
				continue;
			v = link->clock_offset_ms / 1000.0;
			break;
		}
		put(t, "%s{peer=\"%s\"} %.6g\n", name, peer_id(p), v);
	}
}

static void per_peer_counter(struct text *t, const struct api_deps *deps, const char *name, const char *help,
			     enum peer_counter which)
{
	size_t n = peers_count(deps->peers);

	header(t, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		const struct peer *p = peers_at(deps->peers, i);
		put(t, "%s{peer=\"%s\"} %" PRIu64 "\n", name, peer_id(p), peer_counters(p)->n[which]);
	}
}

static void counter(struct text *t, const char *name, const char *help, uint64_t value)
{
	header(t, name, "counter", help);
	put(t, "%s %" PRIu64 "\n", name, value);
}

/* What every 202 and receipt waits on: the store's commit, write and sync. */
static void commit_time_metrics(struct text *t, const struct commit *commit)
{
	struct commit_times ct;
	uint64_t cumulative = 0;

	commit_times(commit, &ct);
	header(t, "limes_store_commit_seconds", "histogram",
	       "Time of each store commit, its write and its sync to disk included");
	for (size_t b = 0; b < COMMIT_TIME_BUCKETS; b++) {
		cumulative += ct.n[b];
		put(t, "limes_store_commit_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", commit_time_bounds_s[b],
		    cumulative);
	}
	put(t, "limes_store_commit_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", ct.count);
	put(t, "limes_store_commit_seconds_sum %.6f\n", (double)ct.sum_us / 1e6);
	put(t, "limes_store_commit_seconds_count %" PRIu64 "\n", ct.count);
}

/* The SQLite WAL and its checkpoints (docs/store.md, "Checkpoints"); none
 * for a store without a checkpointer (PostgreSQL). */
static void wal_metrics(struct text *t, struct store *store)
{
	struct store_wal_stats w;

	if (store_wal_stats(store, &w) < 0)
		return;
	header(t, "limes_store_checkpoints_total", "counter",
	       "WAL checkpoints that copied pages into the database file, by the thread that ran them");
	put(t, "limes_store_checkpoints_total{thread=\"checkpointer\"} %" PRIu64 "\n", w.checkpointer_checkpoints);
	put(t, "limes_store_checkpoints_total{thread=\"loop\"} %" PRIu64 "\n", w.loop_checkpoints);
	header(t, "limes_store_wal_bytes", "gauge", "Bytes of the WAL in use after the last commit");
	put(t, "limes_store_wal_bytes %" PRIu64 "\n", w.frames * w.frame_bytes);
	header(t, "limes_store_wal_high_water_bytes", "gauge", "Most bytes the WAL held since the agent started");
	put(t, "limes_store_wal_high_water_bytes %" PRIu64 "\n", w.high_water_frames * w.frame_bytes);
	counter(t, "limes_store_wal_bound_waits_total",
		"Commits that left the WAL at its bound and waited for the checkpointer to copy it", w.bound_waits);
	header(t, "limes_store_wal_bound_wait_seconds_total", "counter", "Time those commits waited");
	put(t, "limes_store_wal_bound_wait_seconds_total %.6f\n", (double)w.bound_wait_us / 1e6);
	header(t, "limes_store_wal_syncs_total", "counter",
	       "Syncs of the WAL file asked for: done, or skipped (nothing written since a sync)");
	put(t, "limes_store_wal_syncs_total{result=\"done\"} %" PRIu64 "\n", w.wal_syncs);
	put(t, "limes_store_wal_syncs_total{result=\"skipped\"} %" PRIu64 "\n", w.wal_syncs_skipped);
	counter(t, "limes_store_checkpoints_unsynced_total",
		"Checkpoints that left the database file's sync for later (docs/store.md, Checkpoints)",
		w.db_syncs_deferred);
	header(t, "limes_store_database_syncs_total", "counter",
	       "Syncs of the database file made for those checkpoints, by the thread that made them");
	put(t, "limes_store_database_syncs_total{thread=\"checkpointer\"} %" PRIu64 "\n", w.db_syncs_checkpointer);
	put(t, "limes_store_database_syncs_total{thread=\"loop\"} %" PRIu64 "\n", w.db_syncs_restart);
}

void metrics_render(const struct api_deps *deps, const struct api_counters *counters, struct api_reply *r)
{
	static const struct link_stats no_link_stats;
	struct text t = { .buf = malloc(16384), .cap = 16384 };
	const struct link_stats *ls = deps->link_stats ? deps->link_stats(deps->link_stats_arg) : NULL;

	if (!ls)
		ls = &no_link_stats;
	if (!t.buf)
		t.failed = true;

	struct api_role role;
	api_role_get(deps, &role);
	header(&t, "limes_role", "gauge", "1 when this node is the agency's active node, 0 when standby");
	put(&t, "limes_role{node=\"%s\",role=\"%s\"} %d\n", role.node, role.standby ? "standby" : "active",
	    role.standby ? 0 : 1);
	per_peer_gauge(&t, deps, "limes_peer_up", "1 when the link to the peer is up (a relayed peer: its relay up and its own receipts coming back)", GAUGE_UP);
	per_peer_gauge(&t, deps, "limes_peer_rtt_seconds", "Smoothed round-trip time measured by heartbeats",
		       GAUGE_RTT);
	per_peer_gauge(&t, deps, "limes_peer_queued_messages",
		       "Envelopes waiting for this next hop (queued or sent without receipt)", GAUGE_QUEUED);
	per_peer_gauge(&t, deps, "limes_peer_oldest_unacked_seconds",
		       "Age of the oldest envelope to this next hop without a receipt", GAUGE_OLDEST);
	per_peer_gauge(&t, deps, "limes_peer_clock_offset_seconds", "The peer's clock minus ours",
		       GAUGE_CLOCK_OFFSET);
	per_peer_counter(&t, deps, "limes_messages_sent_total", "Envelopes sent to the peer", PEER_SENT);
	per_peer_counter(&t, deps, "limes_messages_delivered_total", "Messages with a verified delivery receipt",
			 PEER_DELIVERED);
	per_peer_counter(&t, deps, "limes_messages_rejected_total", "Messages the peer rejected with a signed receipt",
			 PEER_REJECTED);
	per_peer_counter(&t, deps, "limes_messages_received_total", "Messages received from the peer and committed",
			 PEER_RECEIVED);
	per_peer_counter(&t, deps, "limes_messages_refused_total", "Envelopes from the peer refused", PEER_REFUSED);
	per_peer_counter(&t, deps, "limes_messages_expired_total", "Messages to the peer that expired undelivered",
			 PEER_EXPIRED);
	per_peer_counter(&t, deps, "limes_audit_equivocations_total",
			 "Audit checkpoints from the peer refused: a second, different one for a seq already countersigned",
			 PEER_EQUIVOCATIONS);

	header(&t, "limes_envelopes_refused_total", "counter", "Received envelopes refused, by reason");
	for (int i = REASON_NONE + 1; i < REASON_COUNT && i < LINK_REASON_SLOTS; i++)
		put(&t, "limes_envelopes_refused_total{reason=\"%s\"} %" PRIu64 "\n", reason_name(i),
		    ls->envelopes_refused[i]);
	counter(&t, "limes_receipts_bad_total", "Receipts that did not verify", ls->receipts_bad);
	counter(&t, "limes_frames_garbage_total", "Link frames that did not decode", ls->frames_garbage);
	counter(&t, "limes_frames_oversized_total", "Link frames longer than [link] max_frame, dropped",
		ls->frames_oversized);
	counter(&t, "limes_relayed_total", "Envelopes relayed to another peer", ls->relayed);
	counter(&t, "limes_link_refused_handshakes_total",
		"Link handshakes refused because the CURVE key is not a configured peer's", ls->refused_handshakes);

	header(&t, "limes_api_requests_total", "counter", "API requests answered, by HTTP status");
	for (size_t i = 0; i < API_STATUS_SLOTS; i++)
		if (counters->by_status[i].status)
			put(&t, "limes_api_requests_total{code=\"%d\"} %" PRIu64 "\n", counters->by_status[i].status,
			    counters->by_status[i].count);
	counter(&t, "limes_api_accepted_messages_total", "Messages accepted through the API",
		counters->accepted_messages);
	counter(&t, "limes_api_bodies_parsed_on_worker_total",
		"Submission bodies parsed and mapped on a worker thread rather than the loop (the large ones)",
		counters->parsed_on_worker);
	counter(&t, "limes_envelope_signatures_total",
		"Ed25519 signatures made for envelopes (one per v1 envelope, one per v2 batch)",
		submit_signatures(deps->submit));

	counter(&t, "limes_audit_entries_total",
		"Audit trail entries written (staged with their action; the trail is always on)",
		audit_entries(commit_audit(deps->commit)));
	counter(&t, "limes_audit_equivocations_refused_total",
		"Neighbours' audit checkpoints refused as a second, different one for a countersigned entry",
		ls->audit_equivocations);
	header(&t, "limes_store_healthy", "gauge", "1 while the store accepts writes");
	put(&t, "limes_store_healthy %d\n", store_healthy(deps->store) ? 1 : 0);
	counter(&t, "limes_store_commits_total", "Store commits made", commit_count(deps->commit));
	counter(&t, "limes_store_commit_failures_total", "Store commits that failed", commit_failures(deps->commit));
	commit_time_metrics(&t, deps->commit);
	wal_metrics(&t, deps->store);
	uint64_t free_bytes = api_json_free_bytes(deps);
	if (free_bytes != UINT64_MAX) {
		header(&t, "limes_data_free_bytes", "gauge", "Free bytes on the data folder's file system");
		put(&t, "limes_data_free_bytes %" PRIu64 "\n", free_bytes);
	}
	header(&t, "limes_uptime_seconds", "gauge", "Seconds since the agent started");
	put(&t, "limes_uptime_seconds %.3f\n", (double)(clock_now_ms() - deps->started_ms) / 1000.0);

	free(r->body);
	r->body = NULL;
	if (t.failed) {
		free(t.buf);
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		return;
	}
	r->status = 200;
	r->body = t.buf;
	r->len = t.len;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
