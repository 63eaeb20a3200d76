/*
 * What comes back on our DEALERs: the signed receipts that mark our
 * deliveries delivered or rejected (from the neighbour, or from a final
 * recipient through it when it relays), and the replies to our heartbeats
 * that measure the link's round trip and the neighbour's clock. Also the
 * delivery trace for limes-bench (link.h, trace_fd).
 */
#include "link_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/events.h"
#include "crypto/audit.h"
#include "crypto/envelope.h"
#include "crypto/receipt.h"
#include "proto/err.h"
#include "proto/reason.h"
#include "proto/strcopy.h"

#define DRAIN_BUDGET 2048

/* The trace lines of one receipt, written together: a write per entry
 * was a syscall per message on the loop thread. */
static char trace_buf[16384];
static size_t trace_len;

static void trace_flush(struct links *L)
{
	size_t off = 0;

	while (off < trace_len && L->deps.trace_fd >= 0) {
		ssize_t w = write(L->deps.trace_fd, trace_buf + off, trace_len - off);
		if (w < 0) {
			log_warn("event=trace_stopped fd=%d reason=\"the reader went away\"", L->deps.trace_fd);
			L->deps.trace_fd = -1;
		} else {
			off += (size_t)w;
		}
	}
	trace_len = 0;
}

/* One trace line per verified receipt entry; format in link.h. */
static void trace_delivery(struct links *L, const uint8_t id[16], enum delivery_state st)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "%s %llu %s\n", link_hex_id(id),
			 (unsigned long long)clock_mono_us() * 1000ull, store_delivery_state_name(st));
	if (n <= 0)
		return;
	if (trace_len + (size_t)n > sizeof(trace_buf))
		trace_flush(L);
	memcpy(trace_buf + trace_len, line, (size_t)n);
	trace_len += (size_t)n;
}

/* Finds the delivery a receipt entry speaks of: the one to `recipient`, or
 * (for a refusal by the relay itself) one routed through `relay`; either way
 * its envelope must hash to the entry's hash. */
struct recipient_match {
	const char *recipient;
	const char *relay;        /* NULL unless the issuer is our next hop */
	const uint8_t *hash;
	bool match;
	char matched[CONFIG_ID_MAX + 1];
	enum delivery_state state; /* of the matched delivery */
	int64_t cursor;
};

static int match_recipient(void *arg, const struct store_delivery_row *row)
{
	struct recipient_match *m = arg;
	bool mine = strcmp(row->recipient, m->recipient) == 0;
	bool via = m->relay && strcmp(row->next_hop, m->relay) == 0;
	if (!mine && !via)
		return 0;
	uint8_t h[32];
	envelope_hash(row->envelope, row->envelope_len, h);
	if (memcmp(h, m->hash, 32) != 0)
		return 0;
	m->match = true;
	m->state = row->state;
	m->cursor = row->cursor;
	str_copy(m->matched, sizeof(m->matched), row->recipient);
	return 1;
}

static void bad_receipt(struct links *L)
{
	L->stats.receipts_bad++;
}

/* The deliveries one receipt reports delivered, marked by one statement
 * after its entries are checked (rejections, rare, are marked one by one
 * with their reason). */
struct delivered_marks {
	int64_t *cursors;
	size_t n;
	/* every delivery the receipt settles: one receipt_batch entry */
	struct audit_msg *audited;
	char (*recipients)[STORE_AGENCY_MAX + 1];
	size_t n_audited;
};

/* True when an earlier entry of the same receipt named this delivery: its
 * delivered mark is still waiting in marks, so the store does not show it
 * finished yet. */
static bool marked_already(const struct delivered_marks *marks, int64_t cursor)
{
	for (size_t i = 0; i < marks->n; i++)
		if (marks->cursors[i] == cursor)
			return true;
	return false;
}

/* Records one verified entry against our delivery; false when the store
 * refuses the receipt itself (nothing more of it can be recorded). */
static bool receipt_entry(struct links *L, struct outlink *ol, struct peer *issuer,
			  const struct wire_receipt_body *body, const struct wire_receipt_entry *e, const uint8_t *buf,
			  size_t len, int64_t *receipt_id, uint64_t now,
			  struct delivered_marks *marks)
{
	int64_t cursor = 0;
	struct store *store = L->deps.store;
	const char *recipient = body->issuer;
	struct inflight *fl = link_inflight_find(ol, e->message_id, body->issuer);
	bool bound;
	struct recipient_match m = { .recipient = body->issuer, .hash = e->envelope_hash };
	int rc;

	if (fl) {
		bound = memcmp(fl->hash, e->envelope_hash, 32) == 0;
		cursor = fl->cursor;
	} else {
		/* a relay may refuse what it cannot carry; it can never deliver */
		if (e->status == WIRE_RECEIPT_REJECTED && strcmp(body->issuer, ol->peer_id) == 0)
			m.relay = ol->peer_id;
		rc = store_message_get(store, e->message_id, match_recipient, &m);
		if (rc < 0 && rc != LIMES_E_NOTFOUND)
			log_warn("peer=%s msg=%s event=store_read_failed reason=%s", body->issuer,
				 link_hex_id(e->message_id), limes_errname(rc));
		bound = m.match;
		if (bound) {
			recipient = m.matched;
			cursor = m.cursor;
			fl = link_inflight_find(ol, e->message_id, recipient);
		}
		/* a receipt for a delivery already finished (a replay, by a relay
		 * or anyone on the path, or a second answer to a re-send) changes
		 * nothing: it must not store the receipt again, add an audit entry
		 * or count the message delivered twice */
		if (bound && !fl && (m.state == DELIVERY_DELIVERED || m.state == DELIVERY_REJECTED ||
				     marked_already(marks, cursor))) {
			log_debug("peer=%s msg=%s event=receipt_again state=%s", body->issuer,
				  link_hex_id(e->message_id), store_delivery_state_name(m.state));
			return true;
		}
	}
	if (!bound) {
		bad_receipt(L);
		log_warn("peer=%s msg=%s event=bad_receipt reason=\"entry does not match a message we sent\"",
			 body->issuer, link_hex_id(e->message_id));
		return true;
	}
	if (fl) {
		link_inflight_receipted(ol, fl, now);
		link_inflight_remove(ol, fl);
	}
	enum delivery_state st = e->status == WIRE_RECEIPT_REJECTED ? DELIVERY_REJECTED : DELIVERY_DELIVERED;
	/* the signed receipt is kept once, however many entries it covers */
	if (*receipt_id == 0) {
		rc = store_receipt_put(store, buf, len, receipt_id);
		if (rc < 0) {
			log_warn("peer=%s event=mark_failed state=%s reason=%s action=\"the next re-send asks again\"",
				 body->issuer, store_delivery_state_name(st), limes_errname(rc));
			return false;
		}
	}
	/* delivered = when we verified the receipt, on our clock; a delivered
	 * entry is marked with the receipt's others in on_receipt() */
	if (st == DELIVERY_DELIVERED && cursor > 0 && marks->cursors) {
		marks->cursors[marks->n++] = cursor;
		rc = 0;
	} else {
		rc = store_delivery_done(store, e->message_id, recipient, st, e->reason, e->detail, now,
					 *receipt_id);
	}
	if (rc == 0) {
		/* the delivery goes into the receipt's one entry, written in the
		 * receipt's mark (on_receipt): without it the receipt is undone */
		if (!marks->audited) {
			log_warn("peer=%s msg=%s event=audit_failed what=receipt reason=%s action=\"the receipt is "
				 "undone; the next re-send asks again\"", body->issuer, link_hex_id(e->message_id),
				 limes_errname(LIMES_E_NOMEM));
			return false;
		}
		size_t k = marks->n_audited++;
		str_copy(marks->recipients[k], sizeof(marks->recipients[k]), recipient);
		marks->audited[k] = (struct audit_msg){
			.id = e->message_id,
			.recipient = marks->recipients[k],
			.status = e->status == WIRE_RECEIPT_REJECTED ? "rejected"
				  : e->status == WIRE_RECEIPT_DUPLICATE ? "duplicate" : "accepted",
			.reason = e->status == WIRE_RECEIPT_REJECTED ? reason_name(e->reason) : NULL,
		};
	}
	if (rc < 0) {
		log_warn("peer=%s msg=%s event=mark_failed state=%s reason=%s", body->issuer,
			 link_hex_id(e->message_id), store_delivery_state_name(st), limes_errname(rc));
		return true;
	}
	if (L->deps.trace_fd >= 0)
		trace_delivery(L, e->message_id, st);
	if (st == DELIVERY_REJECTED) {
		peer_count(issuer, PEER_REJECTED, 1);
		events_add(peers_events(L->deps.peers), now, "rejected", body->issuer, link_hex_id(e->message_id),
			   reason_name(e->reason), e->detail);
		log_warn("peer=%s msg=%s event=rejected_by_peer reason=%s detail=\"%s\"", body->issuer,
			 link_hex_id(e->message_id), reason_name(e->reason), e->detail);
	} else {
		peer_count(issuer, PEER_DELIVERED, 1);
		log_debug("peer=%s msg=%s event=delivered via=%s", body->issuer, link_hex_id(e->message_id),
			 ol->peer_id);
	}
	return true;
}

/* A receipt from the peer behind ol's DEALER (or relayed through it). */
static void on_receipt(struct links *L, struct outlink *ol, const uint8_t *buf, size_t len)
{
	const struct config *cfg = peers_config(L->deps.peers);
	struct wire_receipt_body body;
	uint64_t now = clock_now_ms();
	int rc = receipt_open(buf, len, cfg->max_frame_bytes, link_receipt_lookup, L, &body);

	if (rc < 0) {
		bool key = rc == LIMES_E_ENV_UNKNOWN_KEY || rc == LIMES_E_ENV_KEY_INVALID;
		bad_receipt(L);
		log_warn("peer=%s event=bad_receipt reason=%s detail=\"%s\"", ol->peer_id, limes_errname(rc),
			 key ? L->key_why : limes_strerror(rc));
		link_health_bad_receipt(L, ol, key ? L->key_why : limes_strerror(rc));
		return;
	}
	/* addressed to another agency: we relayed its message */
	bool relay = strcmp(body.addressee, cfg->id) != 0;
	if (relay && !peers_find(L->deps.peers, body.addressee)) {
		bad_receipt(L);
		log_warn("peer=%s event=bad_receipt reason=\"addressed to unknown %s\"", ol->peer_id, body.addressee);
		link_health_bad_receipt(L, ol, "addressed to an agency not configured here");
		goto out;
	}
	/* a receipt may come from the final recipient through a relay: the
	 * issuer must route through this link */
	struct peer *issuer = peers_find(L->deps.peers, body.issuer);
	if (!issuer || strcmp(peer_next_hop(issuer), ol->peer_id) != 0) {
		bad_receipt(L);
		log_warn("peer=%s event=bad_receipt reason=\"issuer %s does not route through this link\"",
			 ol->peer_id, body.issuer);
		goto out;
	}
	/* no acknowledgement waits on the marks: they ride the next commit
	 * (lost, the re-send is answered as a duplicate) */
	rc = link_stage_lazy(L, 0);
	if (rc < 0) {
		log_warn("peer=%s event=receipt_unrecorded reason=%s action=\"the next re-send asks again\"",
			 ol->peer_id, limes_errname(rc));
		goto out;
	}
	if (issuer && strcmp(peer_id(issuer), ol->peer_id) != 0) {
		peer_link_heard(issuer, now); /* a relayed peer's own last receipt */
		link_rotation_signed(L, body.issuer, body.issuer_key_id);
	}
	int64_t receipt_id = 0;
	uint8_t receipt_hash[32];
	/* once per receipt: a batch's receipt covers many entries */
	envelope_hash(buf, len, receipt_hash);
	/* one mark for the receipt: its marks and their audit entries are kept
	 * together or undone together */
	rc = store_mark(L->deps.store);
	if (rc < 0) {
		log_warn("peer=%s event=receipt_unrecorded reason=%s action=\"the next re-send asks again\"",
			 ol->peer_id, limes_errname(rc));
		goto out;
	}
	bool whole = true;
	/* without room for the list each entry is marked on its own */
	size_t room = body.n_entries ? body.n_entries : 1;
	struct delivered_marks marks = { .cursors = calloc(room, sizeof(int64_t)),
					 .audited = calloc(room, sizeof(struct audit_msg)),
					 .recipients = calloc(room, STORE_AGENCY_MAX + 1) };
	if (!marks.recipients) {
		free(marks.audited);
		marks.audited = NULL;
	}
	for (size_t i = 0; i < body.n_entries && whole; i++)
		whole = receipt_entry(L, ol, issuer, &body, &body.entries[i], buf, len, &receipt_id, now,
				      &marks);
	if (whole) {
		rc = audit_batch(commit_audit(L->deps.commit), AUDIT_RECEIPT_BATCH, ol->peer_id, receipt_hash,
				 marks.audited, marks.n_audited);
		if (rc < 0) {
			log_warn("peer=%s event=audit_failed what=receipt count=%zu reason=%s action=\"the receipt is "
				 "undone; the next re-send asks again\"", ol->peer_id, marks.n_audited, limes_errname(rc));
			whole = false;
		}
	}
	if (whole && marks.n) {
		rc = store_deliveries_delivered(L->deps.store, marks.cursors, marks.n, now, receipt_id, NULL);
		if (rc < 0) {
			log_warn("peer=%s event=mark_failed state=delivered count=%zu reason=%s action=\"the receipt is "
				 "undone; the next re-send asks again\"", ol->peer_id, marks.n, limes_errname(rc));
			whole = false;
		}
	}
	free(marks.cursors);
	free(marks.audited);
	free(marks.recipients);
	if (whole && store_mark_keep(L->deps.store) == 0) {
		if (!relay)
			link_health_receipt(L, ol, &body);
		if (relay)
			link_relay_receipt(L, &body, buf, len);
	} else {
		store_mark_undo(L->deps.store);
	}
out:
	trace_flush(L);
	wire_receipt_body_clear(&body);
}

static void on_heartbeat_reply(struct links *L, struct outlink *ol, const struct wire_heartbeat *hb,
			       uint64_t now)
{
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	if (!p || !hb->reply)
		return;
	link_accepts_heard(p, hb, now);
	/* the version both take: a v1 agent's reply has no protocol field */
	uint32_t ours = peers_config(L->deps.peers)->protocol;
	uint32_t theirs = hb->protocol ? hb->protocol : WIRE_VERSION_MAJOR;
	peer_link_set_protocol(p, theirs < ours ? theirs : ours);
	link_relays_heard(L, p, hb);
	if (!hb->has_echo || hb->echo_sent_ms > now)
		return;
	/* NTP-style: t0 our send, t1 their receive, t2 their send, t3 our receive */
	double t0 = (double)hb->echo_sent_ms, t1 = (double)hb->echo_received_ms;
	double t2 = (double)hb->sent_ms, t3 = (double)now;
	double rtt = (t3 - t0) - (t2 - t1);
	/* our own clock in microseconds when this answers our last heartbeat:
	 * the millisecond fields would round a loopback or LAN RTT to zero */
	if (hb->echo_sent_ms == ol->last_heartbeat_ms && ol->heartbeat_mono_us)
		rtt = (double)(clock_mono_us() - ol->heartbeat_mono_us) / 1000.0 - (t2 - t1);
	if (rtt < 0)
		rtt = 0;
	double offset = ((t1 - t0) + (t2 - t3)) / 2;
	peer_link_measured(p, rtt, offset); /* the peer table smooths */
	/* beyond the allowed skew every message one way is refused: say it once
	 * per change, with the offset, rather than let the link look healthy */
	double smoothed = peer_link(p)->clock_offset_ms;
	double skew = (double)peers_config(L->deps.peers)->max_clock_skew_ms;
	bool skewed = smoothed > skew || smoothed < -skew;
	if (skewed && !ol->clock_skewed)
		log_warn("peer=%s event=clock_skew offset_ms=%.0f max_clock_skew_ms=%.0f action=\"messages one way "
			 "are refused (not_yet_valid or expired) until a clock is corrected\"",
			 ol->peer_id, smoothed, skew);
	else if (!skewed && ol->clock_skewed)
		log_info("peer=%s event=clock_skew_ok offset_ms=%.0f", ol->peer_id, smoothed);
	ol->clock_skewed = skewed;
}

/* Input on a DEALER: receipts and heartbeat replies from that peer. */
bool link_dealer_drain(struct zsock *zs, void *arg)
{
	struct outlink *ol = arg;
	struct links *L = ol->links;
	size_t max_frame = peers_config(L->deps.peers)->max_frame_bytes;
	void *s = zsock_socket(zs);
	size_t n = 0;
	bool heard = false;

	for (; n < DRAIN_BUDGET; n++) {
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			break;
		}
		uint64_t now = clock_now_ms();
		struct wire_frame f;
		int rc = wire_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), max_frame, &f);
		heard = true;
		ol->last_heard_ms = now;
		if (rc < 0) {
			link_frame_refused(L, ol->peer_id, rc, zmq_msg_size(&msg), max_frame);
		} else if (f.kind == WIRE_FRAME_RECEIPT) {
			ol->goodbye = false;
			on_receipt(L, ol, f.bytes, f.len);
		} else if (f.kind == WIRE_FRAME_HEARTBEAT) {
			ol->goodbye = false;
			on_heartbeat_reply(L, ol, &f.heartbeat, now);
		} else if (f.kind == WIRE_FRAME_AUDIT_COUNTERSIGN) {
			link_audit_on_countersign(L, ol, &f);
		} else if (f.kind == WIRE_FRAME_GOODBYE) {
			link_heard_goodbye(L, ol);
		} else if (f.kind == WIRE_FRAME_KEY_UPDATE_ACK) {
			link_rotation_on_ack(L, ol, &f);
		} else if (f.kind == WIRE_FRAME_RESEND_ACK) {
			link_resend_on_ack(L, ol, &f);
		} else {
			uint64_t suppressed;
			L->stats.frames_garbage++;
			if (ratelimit_pass(&L->log_limit, ol->peer_id, &suppressed))
				log_warn("peer=%s event=unexpected_frame kind=%d suppressed=%llu", ol->peer_id, (int)f.kind,
					 (unsigned long long)suppressed);
		}
		zmq_msg_close(&msg);
	}
	if (heard) {
		struct peer *p = peers_find(L->deps.peers, ol->peer_id);
		if (p)
			peer_link_heard(p, ol->last_heard_ms);
		if (!ol->goodbye)
			link_health_heard(L, ol);
	}
	/* the window may have room again */
	link_fill(L, ol);
	return n == DRAIN_BUDGET;
}
