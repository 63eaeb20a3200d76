/*
 * The outgoing side of store-and-forward: windowed sending of due outbox
 * rows to a direct peer (marking them sent, with back-off for the re-send),
 * heartbeats, and the one way a frame is put on a socket.
 */
#include "link_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/audit.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/strcopy.h"

#define FILL_BATCH 512

/* Sends a packed frame (buf, malloc'd), which ZeroMQ takes as it is (no copy
 * into a ZeroMQ block) and releases, sent or not; as link_send_frame. */
static int send_packed(void *socket, uint8_t *buf, size_t len, int flags, const char **why)
{
	zmq_msg_t msg;
	int rc = 0;

	link_frames_reclaim(); /* what ZeroMQ sent since the last frame: freed here, on the loop */
	if (zmq_msg_init_data(&msg, buf, len, link_frame_release, link_frame_release_hint(len)) < 0) {
		free(buf);
		if (why)
			*why = "out of memory";
		return LIMES_E_NOMEM;
	}
	if (zmq_msg_send(&msg, socket, flags | ZMQ_DONTWAIT) < 0) {
		int e = zmq_errno();
		rc = limes_from_errno(e);
		if (why)
			*why = zmq_strerror(e);
		zmq_msg_close(&msg); /* not sent: still ours to close, which frees buf */
	}
	return rc;
}

int link_send_frame(void *socket, const struct wire_frame *f, int flags, const char **why)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = wire_frame_pack(f, &buf, &len);

	if (rc < 0) {
		if (why)
			*why = limes_strerror(rc);
		return rc;
	}
	return send_packed(socket, buf, len, flags, why);
}

int link_send_routed(struct links *L, const struct inbound *in, const struct wire_frame *f, const char **why)
{
	if (zmq_send(L->router, in->routing_id, in->routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
		int e = zmq_errno();
		if (why)
			*why = zmq_strerror(e);
		return limes_from_errno(e);
	}
	return link_send_frame(L->router, f, 0, why);
}

static uint64_t retry_delay(const struct config *cfg, uint32_t attempts)
{
	uint64_t d = cfg->retry_initial_ms;
	for (uint32_t i = 1; i < attempts && d < cfg->retry_max_ms; i++)
		d *= 2;
	return d < cfg->retry_max_ms ? d : cfg->retry_max_ms;
}

/* A due delivery copied out of the store (its rows are not to be touched
 * while the store iterates): copied once, straight into the frame that
 * carries it, which ZeroMQ then takes as it is. */
struct due {
	uint8_t id[16];
	char recipient[CONFIG_ID_MAX + 1];
	uint32_t attempts;
	int64_t cursor;
	uint8_t *frame;              /* the packed envelope frame; NULL once ZeroMQ has it */
	size_t frame_len;
	const uint8_t *envelope;     /* the frame's last envelope_len bytes (wire.h) */
	size_t envelope_len;
};

/* Packs envelope into d's frame; false when out of memory. */
static bool due_pack(struct due *d, const uint8_t *envelope, size_t envelope_len)
{
	struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = envelope, .len = envelope_len };

	if (wire_frame_pack(&f, &d->frame, &d->frame_len) < 0)
		return false;
	d->envelope = d->frame + d->frame_len - envelope_len;
	d->envelope_len = envelope_len;
	return true;
}

struct collect_ctx {
	struct outlink *ol;
	uint64_t now;
	struct due *due;
	size_t n, cap;
};

static int collect_one(void *arg, const struct store_delivery_row *row)
{
	struct collect_ctx *c = arg;
	if (c->n == c->cap)
		return 1;
	if (link_inflight_find(c->ol, row->id, row->recipient))
		return 0; /* already on its way */
	if (row->expires_ms <= c->now)
		return 0; /* never sent late: housekeeping marks it expired */
	struct due *d = &c->due[c->n];
	if (!due_pack(d, row->envelope, row->envelope_len))
		return 1;
	memcpy(d->id, row->id, 16);
	str_copy(d->recipient, sizeof(d->recipient), row->recipient);
	d->attempts = row->attempts;
	d->cursor = row->cursor;
	c->n++;
	return 0;
}

/* First sends of one fill, marked sent together by one statement after the
 * loop (a re-send's back-off differs per attempt count: marked alone). */
struct sent_marks {
	int64_t cursors[FILL_BATCH];
	size_t n;
	struct audit_msg sent[FILL_BATCH]; /* every send of the fill: one sent_batch entry */
	size_t n_sent;
};

/* Sends one due delivery; false when the socket takes no more now. */
static bool send_due(struct links *L, struct outlink *ol, struct peer *p, struct due *d, uint64_t now,
		     struct sent_marks *marks)
{
	const struct config *cfg = peers_config(L->deps.peers);
	const char *why = "";
	uint8_t hash[32];

	if (!d->frame)
		return false;
	/* hashed before the send: from then on ZeroMQ owns (and frees) the frame */
	envelope_hash(d->envelope, d->envelope_len, hash);
	int rc = send_packed(ol->dealer, d->frame, d->frame_len, 0, &why);
	d->frame = NULL;
	d->envelope = NULL;
	if (rc < 0) {
		if (rc != LIMES_E_AGAIN)
			log_warn("peer=%s msg=%s event=send_failed reason=\"%s\"", ol->peer_id, link_hex_id(d->id),
				 why);
		return false;
	}
	struct inflight *fl = link_inflight_add(ol, d->id, d->recipient);
	if (fl) {
		fl->sent_ms = now;
		fl->cursor = d->cursor;
		memcpy(fl->hash, hash, sizeof(fl->hash));
	}
	/* the "sent" mark needs no fsync of its own: it rides the turn's commit;
	 * lost in a crash, it only costs a re-send answered as a duplicate */
	if (d->attempts == 0 && marks->n < FILL_BATCH) {
		marks->cursors[marks->n++] = d->cursor;
		rc = 0;
	} else {
		rc = store_delivery_sent(L->deps.store, d->id, d->recipient, now,
					 now + retry_delay(cfg, d->attempts + 1));
	}
	if (rc == 0 && marks->n_sent < FILL_BATCH)
		marks->sent[marks->n_sent++] = (struct audit_msg){ .id = d->id, .recipient = d->recipient,
								   .attempt = d->attempts + 1 };
	if (rc < 0)
		log_warn("peer=%s msg=%s event=mark_failed state=sent reason=%s", ol->peer_id, link_hex_id(d->id),
			 limes_errname(rc));
	peer_count(p, PEER_SENT, 1);
	if (d->attempts > 0)
		peer_count(p, PEER_RESENT, 1);
	return true;
}

/* Sealed to a key its recipient replaced, or built v2 for a path that agrees
 * v1 now: seal it again first, in the store too (the change rides the
 * turn's commit with the sent mark). */
static void reseal(struct links *L, struct outlink *ol, struct due *d)
{
	uint8_t *fresh = NULL;
	size_t fresh_len = 0;
	int rc = rotation_reseal(L->deps.rotation, L->deps.peers, L->deps.me, d->recipient, d->envelope,
				 d->envelope_len, d->attempts == 0, &fresh, &fresh_len);
	/* built v2 during an outage, and the peer came back v1 only */
	if (rc == 0)
		rc = core_reseal_version(L->deps.peers, L->deps.me, d->recipient, d->envelope, d->envelope_len, &fresh,
					 &fresh_len);
	if (rc <= 0) {
		if (rc < 0)
			log_warn("peer=%s msg=%s event=reseal_failed reason=%s", ol->peer_id, link_hex_id(d->id),
				 limes_errname(rc));
		return;
	}
	rc = store_delivery_reseal(L->deps.store, d->id, d->recipient, fresh, fresh_len);
	if (rc < 0) {
		log_warn("peer=%s msg=%s event=reseal_failed reason=%s", ol->peer_id, link_hex_id(d->id),
			 limes_errname(rc));
		free(fresh);
		return;
	}
	log_info("peer=%s msg=%s event=resealed reason=\"sealed to a key %s replaced, signed by ours, or v2 to a "
		 "peer that agreed v1 since\"", ol->peer_id, link_hex_id(d->id), d->recipient);
	free(d->frame);
	if (!due_pack(d, fresh, fresh_len))
		d->frame = NULL; /* out of memory: not sent now (send_due), the next fill reads the fresh bytes */
	free(fresh);
}

/* One statement marks the fill's first sends, and one audit entry names
 * every envelope of the fill (in the same transaction). */
static void mark_first_sends(struct links *L, struct outlink *ol, const struct sent_marks *marks, uint64_t now)
{
	const struct config *cfg = peers_config(L->deps.peers);
	int rc = audit_batch(commit_audit(L->deps.commit), AUDIT_SENT_BATCH, ol->peer_id, NULL, marks->sent,
			     marks->n_sent);

	if (rc < 0)
		log_warn("peer=%s event=audit_failed what=sent count=%zu reason=%s", ol->peer_id, marks->n_sent,
			 limes_errname(rc));
	if (marks->n == 0)
		return;
	rc = store_deliveries_sent(L->deps.store, marks->cursors, marks->n, now, now + retry_delay(cfg, 1), NULL);
	if (rc < 0)
		log_warn("peer=%s event=mark_failed state=sent count=%zu reason=%s", ol->peer_id, marks->n,
			 limes_errname(rc));
}

void link_fill(struct links *L, struct outlink *ol)
{
	struct sent_marks marks;
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	uint64_t now = clock_now_ms();
	size_t sent = 0;
	bool blocked = false;

	if (!ol->dealer || !p || (peer_link(p)->state != LINK_UP && peer_link(p)->state != LINK_DEGRADED) ||
	    !store_healthy(L->deps.store))
		return;
	while (ol->n_inflight < ol->window && !blocked) {
		size_t room = ol->window - ol->n_inflight;
		struct due batch[FILL_BATCH];
		struct collect_ctx c = { .ol = ol, .now = now, .due = batch,
					 .cap = room < FILL_BATCH ? room : FILL_BATCH };
		/* ask for more than we take: rows already in flight are skipped */
		int n = store_outbox_due(L->deps.store, ol->peer_id, now, c.cap + ol->n_inflight, collect_one, &c);
		if (n < 0)
			log_warn("peer=%s event=outbox_read_failed reason=%s", ol->peer_id, limes_errname(n));
		if (n <= 0 || c.n == 0)
			break;
		/* nothing is sent that could not be marked sent; the mark
		 * rides the next commit (lost, it costs a duplicate) */
		if (link_stage_lazy(L, 0) < 0)
			blocked = true;
		marks.n = marks.n_sent = 0;
		for (size_t i = 0; i < c.n; i++) {
			if (!blocked)
				reseal(L, ol, &batch[i]);
			if (!blocked) {
				if (send_due(L, ol, p, &batch[i], now, &marks))
					sent++;
				else
					blocked = true;
			}
			free(batch[i].frame); /* NULL when sent */
		}
		mark_first_sends(L, ol, &marks, now);
	}
	/* any zmq call may have consumed the socket's edge: look again */
	zsock_poke(ol->watch);
	if (sent)
		ol->last_send_ms = now;
}

void link_send_heartbeat(struct outlink *ol, uint64_t now)
{
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };

	if (!ol->dealer)
		return; /* not connected: the tick reconnects it */
	f.heartbeat.sent_ms = now;
	f.heartbeat.protocol = link_protocol_offer(ol->links);
	/* a failure (mostly: no connection yet) is what the silence check sees */
	if (link_send_frame(ol->dealer, &f, 0, NULL) == 0) {
		ol->last_send_ms = now;
		ol->last_heartbeat_ms = now;
		ol->heartbeat_mono_us = clock_mono_us();
	}
	zsock_poke(ol->watch);
}
