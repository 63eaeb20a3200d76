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
	for (size_t i = 0; i < L->n_in; i++) {
		free(L->in[i].pending);
		free(L->in[i].pending_to);
	}
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

static struct wire_receipt_entry *pending_add(struct inbound *in, const char *addressee)
{
	if (in->n_pending == in->cap_pending) {
		size_t cap = in->cap_pending ? in->cap_pending * 2 : 64;
		struct wire_receipt_entry *grown = realloc(in->pending, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		in->pending = grown;
		char (*to)[CONFIG_ID_MAX + 1] = realloc(in->pending_to, cap * sizeof(*to));
		if (!to)
			return NULL;
		in->pending_to = to;
		in->cap_pending = cap;
	}
	snprintf(in->pending_to[in->n_pending], sizeof(in->pending_to[0]), "%s", addressee);
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
	case LIMES_E_UNKNOWN_PEER: return 14;
	case LIMES_E_IO: return 15;
	default: return 1; /* malformed */
	}
}

static void reject(struct links *L, struct inbound *in, const char *addressee, const uint8_t id[16],
		   const uint8_t hash[32], int reason, int err, const char *detail)
{
	struct wire_receipt_entry *e = pending_add(in, addressee);
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

const struct envelope_peer *link_sender_lookup(void *arg, const char *sender, const uint8_t key_id[8],
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

/* Remembers a refusal of a signed message, so a replay gets the same answer. */
static void remember_refusal(struct links *L, const struct wire_header *h, const uint8_t hash[32], int reason,
			     uint64_t now)
{
	struct store_seen s = { .status = WIRE_RECEIPT_REJECTED, .reason = reason, .received_ms = now,
				.forget_after_ms = h->expires_ms + L->agent->cfg->max_clock_skew_ms };
	snprintf(s.sender, sizeof(s.sender), "%s", h->sender);
	memcpy(s.envelope_hash, hash, 32);
	if (store_begin(L->agent->store) == 0 && store_seen_put(L->agent->store, h->message_id, &s) == 0)
		L->dirty = true;
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
	const char *detail = "";
	int rc;

	memset(&opened, 0, sizeof(opened));
	envelope_hash(buf, len, hash);
	/* Peek at the header first: a duplicate must get its original answer
	 * even when it has since expired, and a relay needs the recipient. */
	rc = wire_envelope_unpack(buf, len, cfg->max_frame_bytes, &env);
	if (rc == 0)
		rc = wire_header_unpack(env.header, env.header_len, env.header_len, &h);
	wire_envelope_clear(&env);
	if (rc < 0) {
		reject(L, in, in->peer_id, zero_id, hash, reason_of(rc), rc, "envelope does not decode");
		return;
	}
	/* answers go to the author; it must be the link peer or route through it */
	const char *addressee = in->peer_id;
	if (strcmp(h.sender, in->peer_id) != 0 && agent_peer(agent, h.sender) &&
	    strcmp(agent_peer(agent, h.sender)->conf->via, in->peer_id) == 0)
		addressee = h.sender;

	if (strcmp(h.recipient, cfg->id) != 0) {
		rc = link_relay_envelope(L, in, &h, buf, len, hash, &detail);
		if (rc < 0)
			reject(L, in, addressee, h.message_id, hash, reason_of(rc), rc, detail);
		return;
	}

	struct store_seen seen;
	if (store_seen_get(agent->store, h.message_id, &seen) == 0) {
		if (memcmp(seen.envelope_hash, hash, 32) != 0) {
			reject(L, in, addressee, h.message_id, hash, reason_of(LIMES_E_ENV_REPLAY), LIMES_E_ENV_REPLAY,
			       "message id already used by other bytes");
			return;
		}
		struct wire_receipt_entry *e = pending_add(in, addressee);
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
		.lookup = link_sender_lookup,
		.lookup_arg = L,
	};
	rc = envelope_open(&params, buf, len, &opened);
	if (rc < 0) {
		reject(L, in, addressee, h.message_id, hash, reason_of(rc), rc, limes_strerror(rc));
		if (rc == LIMES_E_ENV_DECRYPT) /* the signature verified: the sender wrote it */
			remember_refusal(L, &h, hash, reason_of(rc), now);
		return;
	}
	const struct wire_header *oh = &opened.header;
	struct peer *sender = agent_peer(agent, oh->sender);
	int refuse = 0, reason = 0;
	if (!sender_fits_link(agent, oh->sender, in->peer_id)) {
		refuse = LIMES_E_POLICY;
		detail = "sender does not match the authenticated link";
	} else if (!sender || oh->type < 1 || oh->type > 31 ||
		   !(sender->conf->accept_mask & CONFIG_TYPE_BIT(oh->type))) {
		refuse = LIMES_E_POLICY;
		detail = "message type not accepted from this sender";
	} else if (oh->schema_major != 1) {
		refuse = LIMES_E_SCHEMA;
		reason = 12; /* REJECT_REASON_UNKNOWN_SCHEMA_MAJOR */
		detail = "unknown schema major version";
	} else if (schema_body_check(oh->type, opened.body, opened.body_len) < 0) {
		refuse = LIMES_E_SCHEMA;
		detail = "body does not match its schema";
	}
	if (refuse) {
		if (!reason)
			reason = reason_of(refuse);
		reject(L, in, addressee, oh->message_id, hash, reason, refuse, detail);
		remember_refusal(L, oh, hash, reason, now);
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
	rc = store_begin(agent->store);
	if (rc == 0)
		rc = store_inbox_put(agent->store, &entry, oh->expires_ms + cfg->max_clock_skew_ms);
	if (rc < 0 && rc != LIMES_E_EXISTS) {
		/* not durable: no receipt, the sender will resend */
		log_error("peer=%s msg=%s event=store_failed reason=\"%s\"", in->peer_id,
			  link_hex_id(oh->message_id), limes_strerror(rc));
		goto out;
	}
	L->dirty = true;
	struct wire_receipt_entry *e = pending_add(in, addressee);
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
		log_debug("peer=%s msg=%s event=received type=%d", oh->sender, link_hex_id(oh->message_id),
			  oh->type);
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

static void send_receipt(struct links *L, struct inbound *in, const char *addressee,
			 const struct wire_receipt_entry *entries, size_t n)
{
	struct agent *agent = L->agent;
	struct wire_receipt_body body = {
		.issued_ms = agent_now_ms(),
		.n_entries = n,
		.entries = (struct wire_receipt_entry *)entries,
	};
	uint8_t *rbuf = NULL;
	size_t rlen = 0;

	snprintf(body.issuer, sizeof(body.issuer), "%s", agent->cfg->id);
	memcpy(body.issuer_key_id, identity_public(agent->me)->key_id, 8);
	snprintf(body.addressee, sizeof(body.addressee), "%s", addressee);
	if (receipt_build(agent->me, &body, &rbuf, &rlen) < 0) {
		log_error("peer=%s event=receipt_failed", in->peer_id);
		return;
	}
	struct wire_frame f = { .kind = WIRE_FRAME_RECEIPT, .bytes = rbuf, .len = rlen };
	if (zmq_send(L->router, in->routing_id, in->routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    link_send_frame(L->router, &f, 0) < 0)
		log_warn("peer=%s event=receipt_unsent reason=\"%s\" action=\"the peer will resend\"", in->peer_id,
			 zmq_strerror(errno));
	free(rbuf);
}

/* After a successful commit: one signed receipt per neighbour, addressee and
 * batch (of at most RECEIPT_MAX_ENTRIES entries). */
void link_send_pending(struct links *L)
{
	for (size_t i = 0; i < L->n_in; i++) {
		struct inbound *in = &L->in[i];
		size_t done = 0;
		while (done < in->n_pending) {
			/* group by addressee, keeping order; almost always one group */
			const char *to = in->pending_to[done];
			size_t w = done;
			for (size_t r = done; r < in->n_pending; r++)
				if (strcmp(in->pending_to[r], to) == 0) {
					struct wire_receipt_entry e = in->pending[r];
					char t[CONFIG_ID_MAX + 1];
					memcpy(t, in->pending_to[r], sizeof(t));
					memmove(&in->pending[w + 1], &in->pending[w], (r - w) * sizeof(e));
					memmove(&in->pending_to[w + 1], &in->pending_to[w], (r - w) * sizeof(t));
					in->pending[w] = e;
					memcpy(in->pending_to[w], t, sizeof(t));
					w++;
				}
			for (size_t off = done; off < w; off += RECEIPT_MAX_ENTRIES)
				send_receipt(L, in, in->pending_to[done], in->pending + off,
					     w - off < RECEIPT_MAX_ENTRIES ? w - off : RECEIPT_MAX_ENTRIES);
			done = w;
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
