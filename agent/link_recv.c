/*
 * The incoming side of the links: frames arriving on our ROUTER from the
 * neighbours' DEALERs. Envelopes are checked (duplicate, signature, policy,
 * schema), committed to the inbox in one group commit per drain, and only
 * then answered with one signed receipt per neighbour covering the batch.
 * Heartbeats are answered at once. A neighbour's garbage is counted, logged
 * and answered where it can be; it never stops the agent.
 */
#include "agent/link_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/err.h"
#include "agent/log.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"
#include "proto/schema.h"

#define DRAIN_BUDGET 2048
#define RECEIPT_MAX_ENTRIES 1024

int link_recv_init(struct links *L)
{
	(void)L;
	return 0;
}

void link_recv_free(struct links *L)
{
	for (size_t i = 0; i < L->n_in; i++)
		free(L->in[i].pending);
	free(L->in);
	L->in = NULL;
	L->n_in = 0;
}

static struct inbound *inbound_for(struct links *L, const char *peer_id)
{
	for (size_t i = 0; i < L->n_in; i++)
		if (strcmp(L->in[i].peer_id, peer_id) == 0)
			return &L->in[i];
	struct inbound *grown = realloc(L->in, (L->n_in + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	L->in = grown;
	struct inbound *in = &L->in[L->n_in++];
	memset(in, 0, sizeof(*in));
	snprintf(in->peer_id, sizeof(in->peer_id), "%s", peer_id);
	return in;
}

static struct wire_receipt_entry *pending_add(struct inbound *in)
{
	if (in->n_pending == in->cap_pending) {
		size_t cap = in->cap_pending ? in->cap_pending * 2 : 64;
		struct wire_receipt_entry *grown = realloc(in->pending, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		in->pending = grown;
		in->cap_pending = cap;
	}
	struct wire_receipt_entry *e = &in->pending[in->n_pending++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* RejectReason for an envelope_open error. */
static int reason_of(int err)
{
	switch (err) {
	case LIMES_E_ENV_VERSION: return 2;
	case LIMES_E_ENV_RECIPIENT: return 3;
	case LIMES_E_ENV_EXPIRED: return 4;
	case LIMES_E_ENV_FUTURE: return 5;
	case LIMES_E_ENV_UNKNOWN_KEY: return 6;
	case LIMES_E_ENV_KEY_INVALID: return 7;
	case LIMES_E_ENV_BAD_SIG: return 8;
	case LIMES_E_ENV_DECRYPT: return 9;
	case LIMES_E_POLICY: return 10;
	case LIMES_E_SCHEMA: return 11;
	case LIMES_E_ENV_TTL: return 13;
	case LIMES_E_ENV_REPLAY: return 16;
	default: return 1; /* malformed */
	}
}

static void reject(struct links *L, struct inbound *in, const uint8_t id[16], const uint8_t hash[32], int err,
		   const char *detail)
{
	struct wire_receipt_entry *e = pending_add(in);
	int reason = reason_of(err);
	if (reason < 32)
		L->agent->counters.envelopes_refused[reason]++;
	struct peer *p = agent_peer(L->agent, in->peer_id);
	if (p)
		p->refused++;
	log_warn("peer=%s msg=%s event=%s detail=\"%s\"", in->peer_id, link_hex_id(id), limes_errname(err),
		 detail);
	if (!e)
		return;
	memcpy(e->message_id, id, 16);
	memcpy(e->envelope_hash, hash, 32);
	e->status = WIRE_RECEIPT_REJECTED;
	e->reason = reason;
	snprintf(e->detail, sizeof(e->detail), "%s", detail);
	e->has_received_ms = true;
	e->received_ms = agent_now_ms();
}

static const struct envelope_peer *sender_lookup(void *arg, const char *sender, const uint8_t key_id[8],
						 uint64_t created_ms, int *err)
{
	struct links *L = arg;
	struct peer *p = agent_peer(L->agent, sender);
	(void)created_ms;
	if (!p || memcmp(p->conf->key.key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return p->crypto;
}

/* May the neighbour `link_peer` hand us envelopes written by `sender`? */
static bool sender_fits_link(struct agent *agent, const char *sender, const char *link_peer)
{
	if (strcmp(sender, link_peer) == 0)
		return true;
	struct peer *p = agent_peer(agent, sender);
	return p && strcmp(p->conf->via, link_peer) == 0;
}

static void on_envelope(struct links *L, struct inbound *in, const uint8_t *buf, size_t len)
{
	struct agent *agent = L->agent;
	const struct config *cfg = agent->cfg;
	struct wire_envelope env = { 0 };
	struct wire_header h;
	struct envelope_opened opened;
	uint8_t hash[32];
	uint64_t now = agent_now_ms();
	static const uint8_t zero_id[16];
	int rc;

	memset(&opened, 0, sizeof(opened));
	envelope_hash(buf, len, hash);
	/* Peek at the id first: a duplicate must get its original answer even
	 * when it has since expired. */
	rc = wire_envelope_unpack(buf, len, cfg->max_frame_bytes, &env);
	if (rc == 0)
		rc = wire_header_unpack(env.header, env.header_len, env.header_len, &h);
	wire_envelope_clear(&env);
	if (rc < 0) {
		reject(L, in, zero_id, hash, rc, "envelope does not decode");
		return;
	}
	struct store_seen seen;
	if (store_seen_get(agent->store, h.message_id, &seen) == 0) {
		struct wire_receipt_entry *e;
		if (memcmp(seen.envelope_hash, hash, 32) != 0) {
			reject(L, in, h.message_id, hash, LIMES_E_ENV_REPLAY, "message id already used by other bytes");
			return;
		}
		e = pending_add(in);
		struct peer *p = agent_peer(agent, in->peer_id);
		if (p)
			p->duplicates++;
		log_info("peer=%s msg=%s event=duplicate", in->peer_id, link_hex_id(h.message_id));
		if (!e)
			return;
		memcpy(e->message_id, h.message_id, 16);
		memcpy(e->envelope_hash, hash, 32);
		e->status = seen.status == WIRE_RECEIPT_REJECTED ? WIRE_RECEIPT_REJECTED : WIRE_RECEIPT_DUPLICATE;
		e->reason = seen.reason;
		e->has_received_ms = true;
		e->received_ms = seen.received_ms;
		return;
	}

	struct envelope_open_params params = {
		.me = agent->me,
		.my_id = cfg->id,
		.now_ms = now,
		.max_ttl_ms = cfg->max_ttl_ms,
		.max_skew_ms = cfg->max_clock_skew_ms,
		.max_envelope_bytes = cfg->max_frame_bytes,
		.lookup = sender_lookup,
		.lookup_arg = L,
	};
	rc = envelope_open(&params, buf, len, &opened);
	if (rc < 0) {
		bool verified = rc == LIMES_E_ENV_DECRYPT;
		reject(L, in, h.message_id, hash, rc, limes_strerror(rc));
		if (verified) { /* signed by the sender: remember the answer */
			struct store_seen s = { .status = WIRE_RECEIPT_REJECTED, .reason = reason_of(rc),
						.received_ms = now, .forget_after_ms = h.expires_ms + cfg->max_clock_skew_ms };
			snprintf(s.sender, sizeof(s.sender), "%s", h.sender);
			memcpy(s.envelope_hash, hash, 32);
			store_seen_put(agent->store, h.message_id, &s);
			L->dirty = true;
		}
		return;
	}
	const struct wire_header *oh = &opened.header;
	int refuse = 0;
	const char *detail = "";
	struct peer *sender = agent_peer(agent, oh->sender);
	if (!sender_fits_link(agent, oh->sender, in->peer_id)) {
		refuse = LIMES_E_POLICY;
		detail = "sender does not match the authenticated link";
	} else if (!sender || oh->type < 1 || oh->type > 31 ||
		   !(sender->conf->accept_mask & CONFIG_TYPE_BIT(oh->type))) {
		refuse = LIMES_E_POLICY;
		detail = "message type not accepted from this sender";
	} else if (oh->schema_major != 1) {
		refuse = -1000; /* unknown schema major */
		detail = "unknown schema major version";
	} else if (schema_body_check(oh->type, opened.body, opened.body_len) < 0) {
		refuse = LIMES_E_SCHEMA;
		detail = "body does not match its schema";
	}
	if (refuse) {
		reject(L, in, oh->message_id, hash, refuse == -1000 ? LIMES_E_SCHEMA : refuse, detail);
		if (refuse == -1000)
			in->pending[in->n_pending - 1].reason = 12;
		struct store_seen s = { .status = WIRE_RECEIPT_REJECTED, .received_ms = now,
					.forget_after_ms = oh->expires_ms + cfg->max_clock_skew_ms };
		s.reason = in->n_pending ? in->pending[in->n_pending - 1].reason : 1;
		snprintf(s.sender, sizeof(s.sender), "%s", oh->sender);
		memcpy(s.envelope_hash, hash, 32);
		store_seen_put(agent->store, oh->message_id, &s);
		L->dirty = true;
		goto out;
	}

	struct store_inbox_entry entry = {
		.sender = oh->sender,
		.type = oh->type,
		.priority = oh->priority,
		.created_ms = oh->created_ms,
		.expires_ms = oh->expires_ms,
		.received_ms = now,
		.has_ref = oh->has_ref,
		.envelope = buf,
		.envelope_len = len,
	};
	memcpy(entry.id, oh->message_id, 16);
	memcpy(entry.ref, oh->ref, 16);
	memcpy(entry.envelope_hash, hash, 32);
	if (store_begin(agent->store) < 0)
		goto out;
	rc = store_inbox_put(agent->store, &entry, oh->expires_ms + cfg->max_clock_skew_ms);
	L->dirty = true;
	struct wire_receipt_entry *e = NULL;
	if (rc == 0 || rc == LIMES_E_EXISTS)
		e = pending_add(in);
	if (rc < 0 && rc != LIMES_E_EXISTS) {
		log_error("peer=%s msg=%s event=store_failed reason=\"%s\"", in->peer_id, link_hex_id(oh->message_id),
			  limes_strerror(rc));
		goto out;
	}
	if (e) {
		memcpy(e->message_id, oh->message_id, 16);
		memcpy(e->envelope_hash, hash, 32);
		e->status = rc == 0 ? WIRE_RECEIPT_ACCEPTED : WIRE_RECEIPT_DUPLICATE;
		e->has_received_ms = true;
		e->received_ms = now;
	}
	if (rc == 0) {
		L->inbox_grew = true;
		if (sender)
			sender->received++;
		log_debug("peer=%s msg=%s event=received type=%d", oh->sender, link_hex_id(oh->message_id), oh->type);
	}
out:
	envelope_opened_clear(&opened);
}

static void on_heartbeat(struct links *L, struct inbound *in, const struct wire_heartbeat *hb, uint64_t now)
{
	if (hb->reply)
		return;
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
	f.heartbeat.sent_ms = agent_now_ms();
	f.heartbeat.has_echo = true;
	f.heartbeat.echo_sent_ms = hb->sent_ms;
	f.heartbeat.echo_received_ms = now;
	f.heartbeat.reply = true;
	if (zmq_send(L->router, in->routing_id, in->routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return;
	link_send_frame(L->router, &f, 0);
}

/* Input on the ROUTER: [routing id][frame] from an authenticated neighbour. */
bool link_router_drain(struct zsock *zs, void *arg)
{
	struct links *L = arg;
	void *s = zsock_socket(zs);
	size_t n = 0;

	for (; n < DRAIN_BUDGET; n++) {
		zmq_msg_t rid, msg;
		zmq_msg_init(&rid);
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&rid, s, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&rid);
			zmq_msg_close(&msg);
			break;
		}
		bool ok = zmq_msg_more(&rid) && zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) >= 0;
		bool extra = ok && zmq_msg_more(&msg);
		while (extra) { /* one frame per message: drop the rest */
			zmq_msg_t x;
			zmq_msg_init(&x);
			zmq_msg_recv(&x, s, 0);
			extra = zmq_msg_more(&x);
			zmq_msg_close(&x);
			ok = false;
		}
		/* the sender is who ZAP authenticated, never what the frame says */
		const char *peer_id = ok ? zmq_msg_gets(&msg, "User-Id") : NULL;
		struct peer *p = peer_id ? agent_peer(L->agent, peer_id) : NULL;
		struct inbound *in = p ? inbound_for(L, peer_id) : NULL;
		if (!in || zmq_msg_size(&rid) > sizeof(in->routing_id)) {
			L->agent->counters.frames_garbage++;
			log_warn("event=garbage_frame reason=\"%s\"", ok ? "unknown sender" : "not a single-part frame");
			goto next;
		}
		uint64_t now = agent_now_ms();
		in->routing_len = zmq_msg_size(&rid);
		memcpy(in->routing_id, zmq_msg_data(&rid), in->routing_len);
		p->last_heard_ms = now;
		struct wire_frame f;
		int rc = wire_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), L->agent->cfg->max_frame_bytes, &f);
		if (rc < 0) {
			L->agent->counters.frames_garbage++;
			log_warn("peer=%s event=garbage_frame reason=%s", peer_id, limes_errname(rc));
		} else if (f.kind == WIRE_FRAME_ENVELOPE) {
			on_envelope(L, in, f.bytes, f.len);
		} else if (f.kind == WIRE_FRAME_HEARTBEAT) {
			on_heartbeat(L, in, &f.heartbeat, now);
		} else {
			L->agent->counters.frames_garbage++;
			log_warn("peer=%s event=unexpected_frame kind=%d", peer_id, (int)f.kind);
		}
next:
		zmq_msg_close(&rid);
		zmq_msg_close(&msg);
	}
	bool any_pending = false;
	for (size_t i = 0; i < L->n_in; i++)
		if (L->in[i].n_pending)
			any_pending = true;
	if (L->dirty || any_pending) {
		if (L->dirty)
			link_commit(L);
		else
			link_send_pending(L);
	}
	zsock_poke(zs);
	return n == DRAIN_BUDGET;
}

/* After a successful commit: one signed receipt per neighbour and batch. */
void link_send_pending(struct links *L)
{
	struct agent *agent = L->agent;

	for (size_t i = 0; i < L->n_in; i++) {
		struct inbound *in = &L->in[i];
		for (size_t off = 0; off < in->n_pending; off += RECEIPT_MAX_ENTRIES) {
			size_t cnt = in->n_pending - off;
			if (cnt > RECEIPT_MAX_ENTRIES)
				cnt = RECEIPT_MAX_ENTRIES;
			struct wire_receipt_body body = {
				.issued_ms = agent_now_ms(),
				.n_entries = cnt,
				.entries = in->pending + off,
			};
			snprintf(body.issuer, sizeof(body.issuer), "%s", agent->cfg->id);
			memcpy(body.issuer_key_id, identity_public(agent->me)->key_id, 8);
			snprintf(body.addressee, sizeof(body.addressee), "%s", in->peer_id);
			uint8_t *rbuf = NULL;
			size_t rlen = 0;
			if (receipt_build(agent->me, &body, &rbuf, &rlen) < 0) {
				log_error("peer=%s event=receipt_failed", in->peer_id);
				continue;
			}
			struct wire_frame f = { .kind = WIRE_FRAME_RECEIPT, .bytes = rbuf, .len = rlen };
			if (zmq_send(L->router, in->routing_id, in->routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
			    link_send_frame(L->router, &f, 0) < 0)
				log_warn("peer=%s event=receipt_unsent reason=\"%s\" action=\"the peer will resend\"",
					 in->peer_id, zmq_strerror(errno));
			free(rbuf);
		}
		in->n_pending = 0;
	}
	if (L->router_watch)
		zsock_poke(L->router_watch);
}

/* The commit failed: nothing staged is durable, so nothing is receipted. */
void link_drop_pending(struct links *L)
{
	for (size_t i = 0; i < L->n_in; i++)
		L->in[i].n_pending = 0;
	L->inbox_grew = false;
}
