/*
 * The incoming side of the links: frames arriving on our ROUTER from the
 * neighbours' DEALERs. Envelopes are checked (duplicate, signature, policy,
 * schema) and staged into the inbox; the turn's group commit makes them
 * durable, and only then (links_on_commit) are they answered with one
 * signed receipt per neighbour covering the batch. Heartbeats are answered
 * at once. A neighbour's garbage is counted, logged and answered where it
 * can be; it never stops the agent.
 */
#include "link_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/events.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"
#include "proto/err.h"
#include "proto/reason.h"
#include "proto/schema.h"
#include "proto/sizes.h"

#define DRAIN_BUDGET 2048

void link_recv_free(struct links *L)
{
	for (size_t i = 0; i < L->n_in; i++) {
		free(L->in[i].pending);
		free(L->in[i].pending_to);
		free(L->in[i].pending_version);
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
		uint8_t *v = realloc(in->pending_version, cap);
		if (!v)
			return NULL;
		in->pending_version = v;
		in->cap_pending = cap;
	}
	snprintf(in->pending_to[in->n_pending], sizeof(in->pending_to[0]), "%s", addressee);
	in->pending_version[in->n_pending] = in->answering ? in->answering : WIRE_VERSION_MAJOR;
	struct wire_receipt_entry *e = &in->pending[in->n_pending++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* Refuses an envelope for the error err, with its RejectReason: counted,
 * logged and answered in the neighbour's next receipt. */
static void reject(struct links *L, struct inbound *in, const char *addressee, const uint8_t id[16],
		   const uint8_t hash[32], int err, const char *detail)
{
	struct wire_receipt_entry *e = pending_add(in, addressee);
	int reason = reason_of_error(err);
	if (reason >= 0 && reason < LINK_REASON_SLOTS)
		L->stats.envelopes_refused[reason]++;
	struct peer *p = peers_find(L->deps.peers, in->peer_id);
	if (p)
		peer_count(p, PEER_REFUSED, 1);
	events_add(peers_events(L->deps.peers), clock_now_ms(), "refused", in->peer_id, link_hex_id(id),
		   reason_name(reason), detail);
	uint64_t suppressed;
	if (ratelimit_pass(&L->log_limit, in->peer_id, &suppressed))
		log_warn("peer=%s msg=%s event=%s reason=%s detail=\"%s\" suppressed=%llu", in->peer_id,
			 link_hex_id(id), limes_errname(err), reason_name(reason), detail,
			 (unsigned long long)suppressed);
	static const uint8_t zero[16];
	int arc = link_refusal_record(L, in->peer_id, memcmp(id, zero, 16) ? id : NULL, reason_name(reason), detail);
	if (arc < 0)
		log_error("peer=%s msg=%s event=audit_failed what=refused reason=\"%s\"", in->peer_id,
			  link_hex_id(id), limes_strerror(arc));
	if (!e) {
		log_error("peer=%s msg=%s event=receipt_failed reason=\"out of memory\"", in->peer_id, link_hex_id(id));
		return;
	}
	memcpy(e->message_id, id, 16);
	memcpy(e->envelope_hash, hash, 32);
	e->status = WIRE_RECEIPT_REJECTED;
	e->reason = reason;
	snprintf(e->detail, sizeof(e->detail), "%s", detail);
	e->has_received_ms = true;
	e->received_ms = clock_now_ms();
}

/* May the neighbour `link_peer` hand us envelopes written by `sender`: is
 * it the author, or the author's next hop? */
static bool sender_fits_link(struct links *L, const char *sender, const char *link_peer)
{
	if (strcmp(sender, link_peer) == 0)
		return true;
	struct peer *p = peers_find(L->deps.peers, sender);
	return p && strcmp(peer_next_hop(p), link_peer) == 0;
}

/* Remembers the refusal (for err) of a signed message, so a replay gets the
 * same answer. */
/* Stages the answer to message h (status, reason) into the seen set. */
static int seen_put(struct links *L, const struct wire_header *h, const uint8_t hash[32], int status, int reason,
		    uint64_t now)
{
	struct store_seen s = { .status = status, .reason = reason, .received_ms = now,
				.forget_after_ms = h->expires_ms + peers_config(L->deps.peers)->max_clock_skew_ms };
	snprintf(s.sender, sizeof(s.sender), "%s", h->sender);
	memcpy(s.envelope_hash, hash, 32);
	int rc = link_stage(L, 0);
	return rc == 0 ? store_seen_put(L->deps.store, h->message_id, &s) : rc;
}

static void remember_refusal(struct links *L, const struct wire_header *h, const uint8_t hash[32], int err,
			     uint64_t now)
{
	int rc = seen_put(L, h, hash, WIRE_RECEIPT_REJECTED, reason_of_error(err), now);
	if (rc < 0)
		log_warn("peer=%s msg=%s event=refusal_unrecorded reason=%s action=\"a replay is judged afresh\"",
			 h->sender, link_hex_id(h->message_id), limes_errname(rc));
}

/* Answers a message id we hold already with its original answer. */
static void answer_duplicate(struct links *L, struct inbound *in, const char *addressee, const uint8_t id[16],
			     const uint8_t hash[32], const struct store_seen *seen)
{
	struct wire_receipt_entry *e = pending_add(in, addressee);
	struct peer *p = peers_find(L->deps.peers, in->peer_id);
	if (p)
		peer_count(p, PEER_DUPLICATES, 1);
	log_info("peer=%s msg=%s event=duplicate", in->peer_id, link_hex_id(id));
	if (!e) {
		log_error("peer=%s msg=%s event=receipt_failed reason=\"out of memory\"", in->peer_id, link_hex_id(id));
		return;
	}
	memcpy(e->message_id, id, 16);
	memcpy(e->envelope_hash, hash, 32);
	e->status = seen->status == WIRE_RECEIPT_REJECTED ? WIRE_RECEIPT_REJECTED : WIRE_RECEIPT_DUPLICATE;
	e->reason = seen->reason;
	e->has_received_ms = true;
	e->received_ms = seen->received_ms;
}

/* Why an opened envelope from a neighbour is not for our inbox (0: it is). */
static int refusal_of(struct links *L, struct inbound *in, const struct envelope_opened *opened,
		      const char **detail)
{
	const struct wire_header *oh = &opened->header;
	struct peer *sender = peers_find(L->deps.peers, oh->sender);

	if (!sender_fits_link(L, oh->sender, in->peer_id)) {
		*detail = "sender does not match the authenticated link";
		return LIMES_E_POLICY;
	}
	if (!sender || oh->type < 1 || oh->type > 31 ||
	    !(peer_conf(sender)->accept_mask & CONFIG_TYPE_BIT(oh->type))) {
		*detail = "message type not accepted from this sender";
		return LIMES_E_POLICY;
	}
	if (oh->schema_major != 1) {
		*detail = "unknown schema major version";
		return LIMES_E_SCHEMA_MAJOR;
	}
	if (schema_body_check(oh->type, opened->body, opened->body_len) < 0) {
		*detail = "body does not match its schema";
		return LIMES_E_SCHEMA;
	}
	return 0;
}

/* Stages an accepted envelope into the inbox and its receipt entry. */
static void accept_envelope(struct links *L, struct inbound *in, const char *addressee, const uint8_t *buf,
			    size_t len, const struct envelope_opened *opened, const uint8_t hash[32], uint64_t now)
{
	const struct wire_header *oh = &opened->header;
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
	int rc = link_stage(L, COMMIT_INBOX);
	if (rc == 0)
		rc = store_mark(L->deps.store);
	if (rc == 0) {
		rc = store_inbox_put(L->deps.store, &entry,
				     oh->expires_ms + peers_config(L->deps.peers)->max_clock_skew_ms);
		if (rc == 0) {
			/* the reception goes into the commit's received_batch entry:
			 * the commit keeps the inbox row and its entry, or neither */
			uint8_t body_hash[32];
			envelope_hash(opened->body, opened->body_len, body_hash);
			struct audit_msg am = { .id = oh->message_id, .type = oh->type, .author = oh->sender,
						.body_hash = body_hash, .envelope_hash = hash };
			rc = audit_received_later(commit_audit(L->deps.commit), in->peer_id, &am);
			if (rc < 0) {
				store_mark_undo(L->deps.store);
				rc = rc == LIMES_E_EXISTS ? LIMES_E_IO : rc;
			}
		} else {
			store_mark_undo(L->deps.store);
		}
		if (rc == 0)
			rc = store_mark_keep(L->deps.store);
	}
	if (rc < 0 && rc != LIMES_E_EXISTS) {
		/* not durable: no receipt, the sender will resend */
		log_error("peer=%s msg=%s event=store_failed reason=\"%s\"", in->peer_id, link_hex_id(oh->message_id),
			  limes_strerror(rc));
		return;
	}
	struct wire_receipt_entry *e = pending_add(in, addressee);
	if (e) {
		memcpy(e->message_id, oh->message_id, 16);
		memcpy(e->envelope_hash, hash, 32);
		e->status = rc == 0 ? WIRE_RECEIPT_ACCEPTED : WIRE_RECEIPT_DUPLICATE;
		e->has_received_ms = true;
		e->received_ms = now;
	} else {
		log_error("peer=%s msg=%s event=receipt_failed reason=\"out of memory\" "
			  "action=\"the peer will resend\"",
			  in->peer_id, link_hex_id(oh->message_id));
	}
	if (rc == 0) {
		struct peer *sender = peers_find(L->deps.peers, oh->sender);
		if (sender)
			peer_count(sender, PEER_RECEIVED, 1);
		/* debug: one line per message would be a write(2) per message
		 * at info; the audit trail and the counters keep the record */
		log_debug("peer=%s msg=%s type=%s event=received via=%s", oh->sender, link_hex_id(oh->message_id),
			 schema_type_name(oh->type) ? schema_type_name(oh->type) : "?", in->peer_id);
	}
}

/* Why an opened key rotation envelope (type WIRE_TYPE_KEY_ROTATION) from a
 * peer behind a relay is refused (0: taken, link/rotation.c). */
static int rotation_refusal(struct links *L, struct inbound *in, const struct envelope_opened *opened,
			    const char **detail)
{
	if (!sender_fits_link(L, opened->header.sender, in->peer_id)) {
		*detail = "sender does not match the authenticated link";
		return LIMES_E_POLICY;
	}
	return link_rotation_envelope(L, opened, detail);
}

/* A key rotation envelope taken: its id joins the seen set (a replay is
 * answered as a duplicate) and the receipt entry waits on the commit that
 * records what it taught; it is no message for the inbox. */
static void accept_rotation(struct links *L, struct inbound *in, const char *addressee, const struct wire_header *h,
			    const uint8_t hash[32], uint64_t now)
{
	int rc = seen_put(L, h, hash, WIRE_RECEIPT_ACCEPTED, 0, now);
	struct wire_receipt_entry *e = rc == 0 ? pending_add(in, addressee) : NULL;
	if (!e) {
		log_error("peer=%s msg=%s event=store_failed reason=\"%s\" action=\"the peer will resend\"", h->sender,
			  link_hex_id(h->message_id), rc < 0 ? limes_strerror(rc) : "out of memory");
		return;
	}
	memcpy(e->message_id, h->message_id, 16);
	memcpy(e->envelope_hash, hash, 32);
	e->status = WIRE_RECEIPT_ACCEPTED;
	e->has_received_ms = true;
	e->received_ms = now;
}

/* How envelopes addressed to us are opened, at time now. */
static struct envelope_open_params open_params(struct links *L, uint64_t now)
{
	const struct config *cfg = peers_config(L->deps.peers);
	return (struct envelope_open_params){
		.me = L->deps.me,
		.my_id = cfg->id,
		.now_ms = now,
		.max_ttl_ms = cfg->max_ttl_ms,
		.max_skew_ms = cfg->max_clock_skew_ms,
		.max_envelope_bytes = cfg->max_frame_bytes,
		.lookup = link_sender_lookup,
		.lookup_arg = L,
		.max_version = cfg->protocol,
		.cache = L->roots,
	};
}

/* Other bytes under the id of a message we hold: are they its author's,
 * signed and verifying? Then they carry the message we hold (re-encoded on
 * the way: the hash covers the envelope's bytes, which a relay can change
 * without touching what is signed; or sealed again by its author) and the
 * answer is DUPLICATE, bound to these bytes. Answering `replay` would mark
 * at the author a message rejected that our inbox holds. */
static bool author_signed_again(struct links *L, const struct store_seen *seen, const struct envelope_parsed *pe,
				uint64_t now)
{
	const struct wire_header *h = &pe->header;
	if (strcmp(seen->sender, h->sender) != 0)
		return false;
	struct envelope_open_params params = open_params(L, now);
	struct envelope_opened v;
	memset(&v, 0, sizeof(v));
	int rc = envelope_verify_parsed(&params, pe, &v);
	bool same = rc == 0 && memcmp(v.header.message_id, h->message_id, 16) == 0 &&
		    strcmp(v.header.sender, seen->sender) == 0;
	envelope_opened_clear(&v);
	return same;
}

static void on_envelope(struct links *L, struct inbound *in, const uint8_t *buf, size_t len)
{
	const struct config *cfg = peers_config(L->deps.peers);
	struct envelope_parsed pe;
	struct envelope_opened opened;
	uint64_t now = clock_now_ms();
	static const uint8_t zero_id[16];
	const char *detail = "";
	int rc;

	memset(&opened, 0, sizeof(opened));
	in->answering = WIRE_VERSION_MAJOR;
	/* Decoded once, here: the header first (a duplicate must get its
	 * original answer even when it has since expired, and a relay needs
	 * the recipient), then the same decode is opened or verified. */
	rc = envelope_parse(buf, len, cfg->max_frame_bytes, &pe);
	if (rc < 0) {
		reject(L, in, in->peer_id, zero_id, pe.hash, rc, "envelope does not decode");
		return;
	}
	const struct wire_header *h = &pe.header;
	const uint8_t *hash = pe.hash;
	/* a v2 envelope is answered with a v2 receipt (each entry provable
	 * alone) when we speak v2: its author, and any relay that carried it,
	 * took v2 to build or forward it; everything else keeps v1 receipts */
	if (h->version_major == WIRE_VERSION_BATCH && cfg->protocol >= WIRE_VERSION_BATCH)
		in->answering = WIRE_VERSION_BATCH;
	/* answers go to the author when it routes through this neighbour */
	const char *addressee = in->peer_id;
	struct peer *author = peers_find(L->deps.peers, h->sender);
	if (strcmp(h->sender, in->peer_id) != 0 && author && strcmp(peer_next_hop(author), in->peer_id) == 0)
		addressee = h->sender;

	if (strcmp(h->recipient, cfg->id) != 0) {
		rc = link_relay_envelope(L, in, &pe, &detail);
		if (rc < 0)
			reject(L, in, addressee, h->message_id, hash, rc, detail);
		goto out;
	}

	struct store_seen seen;
	bool rehearing = false; /* a refused message re-queued by its author */
	rc = store_seen_get(L->deps.store, h->message_id, &seen);
	if (rc < 0 && rc != LIMES_E_NOTFOUND)
		log_warn("peer=%s msg=%s event=store_read_failed reason=%s", in->peer_id, link_hex_id(h->message_id),
			 limes_errname(rc));
	bool was_seen = rc == 0;
	if (was_seen && memcmp(seen.envelope_hash, hash, 32) != 0) {
		if (seen.status != WIRE_RECEIPT_REJECTED && author_signed_again(L, &seen, &pe, now)) {
			answer_duplicate(L, in, addressee, h->message_id, hash, &seen);
			goto out;
		}
		if (seen.status != WIRE_RECEIPT_REJECTED || strcmp(seen.sender, h->sender) != 0) {
			reject(L, in, addressee, h->message_id, hash, LIMES_E_ENV_REPLAY,
			       "message id already used by other bytes");
			goto out;
		}
		/* We refused this id before; its author sealed it again (new
		 * expiry). It gets a fresh hearing once its signature verifies. */
		rehearing = true;
	} else if (was_seen) {
		answer_duplicate(L, in, addressee, h->message_id, hash, &seen);
		goto out;
	}

	struct envelope_open_params params = open_params(L, now);
	rc = envelope_open_parsed(&params, &pe, &opened);
	/* sealed to a replaced key of ours while its overlap lasts: open it with that key */
	const struct identity *previous =
		rc == LIMES_E_ENV_DECRYPT ? rotation_previous(L->deps.rotation, h->recipient_key_id, now) : NULL;
	if (previous) {
		params.me = previous;
		L->previous_me = previous;
		params.lookup = link_previous_lookup;
		rc = envelope_open_parsed(&params, &pe, &opened);
		link_previous_done(L);
	}
	if (rehearing && (rc == 0 || rc == LIMES_E_ENV_DECRYPT)) {
		/* the signature verified: the author wrote these bytes */
		int frc = link_stage(L, 0);
		if (frc == 0)
			frc = store_seen_forget(L->deps.store, h->message_id);
		if (frc < 0) {
			log_warn("peer=%s msg=%s event=store_failed reason=\"%s\"", in->peer_id,
				 link_hex_id(h->message_id), limes_strerror(frc));
			rc = LIMES_E_IO;
		}
	}
	if (rc < 0) {
		reject(L, in, addressee, h->message_id, hash, rc,
		       rc == LIMES_E_ENV_UNKNOWN_KEY || rc == LIMES_E_ENV_KEY_INVALID ? L->key_why : limes_strerror(rc));
		if (rc == LIMES_E_ENV_DECRYPT)
			remember_refusal(L, h, hash, rc, now);
		goto out;
	}
	/* signed by a relayed peer's adopted next key: it switched to it */
	link_rotation_signed(L, opened.header.sender, opened.header.sender_key_id);
	bool rotation = opened.header.type == WIRE_TYPE_KEY_ROTATION;
	int refuse = rotation ? rotation_refusal(L, in, &opened, &detail) : refusal_of(L, in, &opened, &detail);
	if (refuse) {
		reject(L, in, addressee, opened.header.message_id, hash, refuse, detail);
		/* A refusal that depends on the link it came by, not on the
		 * envelope, must not bind the id: a neighbour holding a copy of
		 * another agency's envelope would otherwise block it for good. */
		if (sender_fits_link(L, opened.header.sender, in->peer_id))
			remember_refusal(L, &opened.header, hash, refuse, now);
	} else if (rotation) {
		accept_rotation(L, in, addressee, &opened.header, hash, now);
	} else {
		accept_envelope(L, in, addressee, buf, len, &opened, hash, now);
	}
	envelope_opened_clear(&opened);
out:
	envelope_parsed_clear(&pe);
}

static void on_heartbeat(struct links *L, struct inbound *in, const struct wire_heartbeat *hb, uint64_t now)
{
	if (hb->reply)
		return;
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
	const char *why = "";
	f.heartbeat.sent_ms = clock_now_ms();
	f.heartbeat.has_echo = true;
	f.heartbeat.echo_sent_ms = hb->sent_ms;
	f.heartbeat.echo_received_ms = now;
	f.heartbeat.reply = true;
	f.heartbeat.protocol = link_protocol_offer(L);
	link_accepts_fill(L, in->peer_id, &f.heartbeat);
	link_relays_fill(L, in->peer_id, &f.heartbeat);
	if (link_send_routed(L, in, &f, &why) < 0)
		log_debug("peer=%s event=heartbeat_unanswered reason=\"%s\"", in->peer_id, why);
}

/* Receipt entries leave once the turn's commit made what they answer
 * durable (links_on_commit). When the store takes no more writes: */
static void receipts_wait(struct links *L)
{
	if (link_stage(L, COMMIT_RECEIPTS) == 0)
		return;
	if (!L->staged) {
		/* none of ours wait on a commit, so they answer nothing that
		 * needed one (refusals, duplicates): they leave now */
		link_send_pending(L);
		return;
	}
	if (store_in_transaction(L->deps.store))
		return; /* its commit fails and links_on_commit withholds them */
	/* the store rolled back what we staged when a write failed: nothing of
	 * it is durable, and no commit will tell us */
	L->staged = false;
	size_t n = link_drop_pending(L);
	log_warn("event=receipts_withheld count=%zu reason=\"%s\" action=\"peers will resend\"", n,
		 store_health_reason(L->deps.store));
}

/* Frames read per drain: a quarter of our [link] window. The turn's commit
 * and receipt follow each drain, so a neighbour sending with the same
 * window still has three quarters of it queued here while that receipt
 * travels and it refills: both agents work at once instead of in turn
 * (with the whole window read in one turn, each waited for the other). */
static size_t turn_budget(const struct config *cfg)
{
	size_t b = cfg->window / 4;
	return b < 1 ? 1 : b > DRAIN_BUDGET ? DRAIN_BUDGET : b;
}

/* Input on the ROUTER: [routing id][frame] from an authenticated neighbour. */
bool link_router_drain(struct zsock *zs, void *arg)
{
	struct links *L = arg;
	size_t max_frame = peers_config(L->deps.peers)->max_frame_bytes;
	size_t budget = turn_budget(peers_config(L->deps.peers));
	void *s = zsock_socket(zs);
	size_t n = 0;

	for (; n < budget; n++) {
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
			/* the parts of a message arrive together: a failure here is the socket's end */
			extra = zmq_msg_recv(&x, s, 0) >= 0 && zmq_msg_more(&x);
			zmq_msg_close(&x);
			ok = false;
		}
		/* the sender is who ZAP authenticated, never what the frame says */
		const char *peer_id = ok ? zmq_msg_gets(&msg, "User-Id") : NULL;
		struct peer *p = peer_id ? peers_find(L->deps.peers, peer_id) : NULL;
		struct inbound *in = p ? inbound_for(L, peer_id) : NULL;
		uint64_t suppressed;
		if (!in || zmq_msg_size(&rid) > sizeof(in->routing_id)) {
			L->stats.frames_garbage++;
			if (ratelimit_pass(&L->log_limit, peer_id, &suppressed))
				log_warn("peer=%s event=garbage_frame reason=\"%s\" suppressed=%llu", peer_id ? peer_id : "-",
					 !ok ? "not a single-part frame"
					     : p ? "routing id too long" : "sender no longer configured (key removed or replaced)",
					 (unsigned long long)suppressed);
			goto next;
		}
		uint64_t now = clock_now_ms();
		struct wire_frame f;
		int rc = wire_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), max_frame, &f);
		if (rc == 0 && f.kind == WIRE_FRAME_AUDIT_KEPT_REQUEST) {
			/* asked on a connection of its own (`limes audit verify
			 * --ask`, with the neighbour's key): not its agent's link */
			link_audit_on_kept_request(L, peer_id, zmq_msg_data(&rid), zmq_msg_size(&rid), &f);
			goto next;
		}
		in->routing_len = zmq_msg_size(&rid);
		memcpy(in->routing_id, zmq_msg_data(&rid), in->routing_len);
		peer_link_heard(p, now);
		if (rc < 0) {
			link_frame_refused(L, peer_id, rc, zmq_msg_size(&msg), max_frame);
		} else if (f.kind == WIRE_FRAME_ENVELOPE) {
			on_envelope(L, in, f.bytes, f.len);
		} else if (f.kind == WIRE_FRAME_HEARTBEAT) {
			on_heartbeat(L, in, &f.heartbeat, now);
		} else if (f.kind == WIRE_FRAME_AUDIT_CHECKPOINT) {
			link_audit_on_checkpoint(L, in, &f);
		} else if (f.kind == WIRE_FRAME_KEY_UPDATE) {
			link_rotation_on_update(L, in, &f);
		} else if (f.kind == WIRE_FRAME_RESEND_REQUEST) {
			link_resend_on_request(L, in, &f);
		} else {
			L->stats.frames_garbage++;
			if (ratelimit_pass(&L->log_limit, peer_id, &suppressed))
				log_warn("peer=%s event=unexpected_frame kind=%d suppressed=%llu", peer_id, (int)f.kind,
					 (unsigned long long)suppressed);
		}
next:
		zmq_msg_close(&rid);
		zmq_msg_close(&msg);
	}
	/* the verified roots stay (the cache matches exact key, root and
	 * signature bytes): a batch split over drains costs one verify */
	for (size_t i = 0; i < L->n_in; i++)
		if (L->in[i].n_pending) {
			receipts_wait(L);
			break;
		}
	zsock_poke(zs);
	return n == budget;
}

static void send_receipt(struct links *L, struct inbound *in, const char *addressee, uint8_t version,
			 const struct wire_receipt_entry *entries, size_t n)
{
	struct wire_receipt_body body = {
		.issued_ms = clock_now_ms(),
		.n_entries = n,
		.entries = (struct wire_receipt_entry *)entries,
	};
	uint8_t *rbuf = NULL;
	size_t rlen = 0;
	const char *why = "";

	snprintf(body.issuer, sizeof(body.issuer), "%s", peers_config(L->deps.peers)->id);
	memcpy(body.issuer_key_id, identity_public(L->deps.me)->key_id, 8);
	snprintf(body.addressee, sizeof(body.addressee), "%s", addressee);
	int rc = version == WIRE_VERSION_BATCH ? receipt_build_v2(L->deps.me, &body, &rbuf, &rlen)
					       : receipt_build(L->deps.me, &body, &rbuf, &rlen);
	if (rc < 0) {
		log_error("peer=%s event=receipt_failed reason=%s", in->peer_id, limes_errname(rc));
		return;
	}
	struct wire_frame f = { .kind = WIRE_FRAME_RECEIPT, .bytes = rbuf, .len = rlen };
	if (link_send_routed(L, in, &f, &why) < 0)
		log_warn("peer=%s event=receipt_unsent reason=\"%s\" action=\"the peer will resend\"", in->peer_id,
			 why);
	free(rbuf);
}

void link_send_pending(struct links *L)
{
	if (!L->router)
		return; /* stopped: links_stop dropped them */
	for (size_t i = 0; i < L->n_in; i++) {
		struct inbound *in = &L->in[i];
		size_t done = 0;
		while (done < in->n_pending) {
			/* group by addressee and receipt version, keeping order;
			 * almost always one group */
			const char *to = in->pending_to[done];
			uint8_t version = in->pending_version[done];
			size_t w = done;
			for (size_t r = done; r < in->n_pending; r++)
				if (strcmp(in->pending_to[r], to) == 0 && in->pending_version[r] == version) {
					struct wire_receipt_entry e = in->pending[r];
					char t[CONFIG_ID_MAX + 1];
					memcpy(t, in->pending_to[r], sizeof(t));
					memmove(&in->pending[w + 1], &in->pending[w], (r - w) * sizeof(e));
					memmove(&in->pending_to[w + 1], &in->pending_to[w], (r - w) * sizeof(t));
					memmove(&in->pending_version[w + 1], &in->pending_version[w], r - w);
					in->pending[w] = e;
					memcpy(in->pending_to[w], t, sizeof(t));
					in->pending_version[w] = version;
					w++;
				}
			/* split so that no receipt passes the protocol's size and
			 * entry caps (a peer's ZMQ_MAXMSGSIZE is at least that) */
			size_t off = done;
			while (off < w) {
				size_t n = 0, bytes = SIZES_RECEIPT_OVERHEAD_MAX; /* signature, ids, framing */
				while (off + n < w && n < WIRE_RECEIPT_MAX_ENTRIES) {
					size_t entry = sizes_receipt_entry_max(strlen(in->pending[off + n].detail));
					if (bytes + entry > SIZES_RECEIPT_MAX)
						break;
					bytes += entry;
					n++;
				}
				send_receipt(L, in, in->pending_to[done], version, in->pending + off, n);
				off += n;
			}
			done = w;
		}
		in->n_pending = 0;
	}
	zsock_poke(L->router_watch);
}

size_t link_drop_pending(struct links *L)
{
	size_t n = 0;
	for (size_t i = 0; i < L->n_in; i++) {
		n += L->in[i].n_pending;
		L->in[i].n_pending = 0;
	}
	return n;
}
