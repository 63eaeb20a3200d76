/*
 * Relaying: a CCP between two agencies that have no direct link forwards
 * their envelopes as the stored ciphertext it received, and forwards the
 * final recipient's signed receipt back. The relay verifies the author's
 * signature (it knows both neighbours' keys) but cannot open the payload:
 * it is sealed to the final recipient. It never receipts a relayed message
 * itself; only the final recipient's receipt marks it delivered at the author.
 */
#include "link_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/schema.h"

static struct inbound *inbound_find(struct links *L, const char *peer_id)
{
	for (size_t i = 0; i < L->n_in; i++)
		if (strcmp(L->in[i].peer_id, peer_id) == 0 && L->in[i].routing_len)
			return &L->in[i];
	return NULL;
}

/* Sends receipt bytes to a neighbour connected to our ROUTER, if it is. */
static void forward_receipt(struct links *L, const char *addressee, const uint8_t *buf, size_t len)
{
	struct inbound *in = inbound_find(L, addressee);
	struct wire_frame f = { .kind = WIRE_FRAME_RECEIPT, .bytes = buf, .len = len };
	const char *why = "not connected to us";

	if (!in || link_send_routed(L, in, &f, &why) < 0) {
		log_info("peer=%s event=relay_receipt_unsent reason=\"%s\" "
			 "action=\"the author will resend and get it then\"",
			 addressee, why);
		return;
	}
	zsock_poke(L->router_watch);
}

/* What the relay already holds of a message id. */
struct stored_receipt {
	const char *recipient;
	const uint8_t *hash;     /* of the envelope just received */
	bool any;                /* the message is in our outbox (for some recipient) */
	bool found;              /* ... for this recipient */
	bool same_bytes;         /* ... with the very bytes just received */
	enum delivery_state state;
	bool done;
	uint8_t *receipt;
	size_t receipt_len;
};

static int find_delivery(void *arg, const struct store_delivery_row *row)
{
	struct stored_receipt *s = arg;
	s->any = true;
	if (strcmp(row->recipient, s->recipient) != 0)
		return 0;
	s->found = true;
	s->state = row->state;
	uint8_t h[32];
	envelope_hash(row->envelope, row->envelope_len, h);
	s->same_bytes = memcmp(h, s->hash, 32) == 0;
	if (s->same_bytes && (row->state == DELIVERY_DELIVERED || row->state == DELIVERY_REJECTED) && row->receipt) {
		s->receipt = malloc(row->receipt_len);
		if (s->receipt) {
			memcpy(s->receipt, row->receipt, row->receipt_len);
			s->receipt_len = row->receipt_len;
			s->done = true;
		}
	}
	return 1;
}

static int relay_put(struct store *store, const struct wire_header *h, const struct store_delivery *d);

int link_relay_envelope(struct links *L, struct inbound *from, const struct envelope_parsed *e, const char **detail)
{
	const struct wire_header *h = &e->header;
	const uint8_t *buf = e->buf, *hash = e->hash;
	size_t len = e->len;
	const struct config *cfg = peers_config(L->deps.peers);
	struct store *store = L->deps.store;
	struct peer *to = peers_find(L->deps.peers, h->recipient);
	struct peer *author = peers_find(L->deps.peers, h->sender);
	struct envelope_opened v;
	int rc;

	if (!to || !peer_is_direct(to)) {
		*detail = "this agent has no direct link to the recipient";
		return LIMES_E_UNKNOWN_PEER;
	}
	if (!author || strcmp(h->sender, from->peer_id) != 0) {
		*detail = "a relay forwards only what its direct neighbour wrote";
		return LIMES_E_POLICY;
	}
	/* key rotation (docs/protocol.md "Key rotation through a relay") goes
	 * between two peers whenever we carry any type between them, either way */
	uint32_t carried = (peer_conf(author)->accept_mask & peer_conf(to)->send_mask) |
			   (peer_conf(to)->accept_mask & peer_conf(author)->send_mask);
	if (h->type == WIRE_TYPE_KEY_ROTATION ? !carried :
	    h->type < 1 || h->type > 31 || !(peer_conf(author)->accept_mask & CONFIG_TYPE_BIT(h->type)) ||
	    !(peer_conf(to)->send_mask & CONFIG_TYPE_BIT(h->type))) {
		*detail = "relay policy does not carry this type between these peers";
		return LIMES_E_POLICY;
	}
	struct envelope_open_params params = {
		.me = L->deps.me,
		.my_id = cfg->id,
		.now_ms = clock_now_ms(),
		.max_ttl_ms = cfg->max_ttl_ms,
		.max_skew_ms = cfg->max_clock_skew_ms,
		.max_envelope_bytes = cfg->max_frame_bytes,
		.lookup = link_sender_lookup,
		.lookup_arg = L,
		.max_version = cfg->protocol,
		.cache = L->roots,
	};
	memset(&v, 0, sizeof(v));
	rc = envelope_verify_parsed(&params, e, &v);
	envelope_opened_clear(&v);
	if (rc < 0) {
		*detail = limes_strerror(rc);
		return rc;
	}
	/* Seen before? Answer with the final recipient's receipt if we have it. */
	struct stored_receipt s = { .recipient = h->recipient, .hash = hash };
	rc = store_message_get(store, h->message_id, find_delivery, &s);
	if (rc < 0 && rc != LIMES_E_NOTFOUND) {
		free(s.receipt);
		*detail = "relay could not read its store";
		log_error("peer=%s msg=%s event=relay_store_failed reason=\"%s\"", from->peer_id,
			  link_hex_id(h->message_id), limes_strerror(rc));
		return LIMES_E_IO; /* reason internal: the author will resend */
	}
	if (s.found && s.same_bytes) {
		if (s.done)
			forward_receipt(L, h->sender, s.receipt, s.receipt_len);
		free(s.receipt);
		return 0;
	}
	free(s.receipt);
	if (s.found && s.state != DELIVERY_EXPIRED && s.state != DELIVERY_REJECTED)
		return 0; /* other bytes of ours are still on their way */
	/* the recipient is direct: it is its own next hop */
	struct store_delivery d = { .recipient = peer_id(to), .next_hop = peer_next_hop(to), .envelope = buf,
				    .envelope_len = len };
	rc = link_stage(L, COMMIT_OUTBOX);
	bool marked = false;
	if (rc == 0) {
		rc = store_mark(store);
		marked = rc == 0;
	}
	if (rc == 0 && s.found) {
		/* the author re-queued it (new expiry, same id, verified above):
		 * carry the new bytes, ours expired or was rejected */
		rc = store_delivery_requeue(store, h->message_id, peer_id(to), buf, len, h->expires_ms);
	} else if (rc == 0 && s.any) {
		/* the same message to another recipient behind us */
		rc = store_outbox_add_delivery(store, h->message_id, &d);
	} else if (rc == 0) {
		rc = relay_put(store, h, &d);
	}
	/* the relay's entry rides the same turn; a failed entry fails the store
	 * write's acknowledgement too (the author resends) */
	if (rc == 0)
		rc = audit_relayed(commit_audit(L->deps.commit), from->peer_id, h->sender, h->recipient, h->message_id,
				   h->type, hash);
	if (rc == 0)
		rc = store_mark_keep(store);
	else if (marked)
		store_mark_undo(store);
	if (rc < 0) {
		*detail = "relay could not store it";
		log_error("peer=%s msg=%s event=relay_store_failed reason=\"%s\"", from->peer_id,
			  link_hex_id(h->message_id), limes_strerror(rc));
		return LIMES_E_IO; /* reason internal: the author will resend */
	}
	L->stats.relayed++; /* links_on_commit sends it on (COMMIT_OUTBOX) */
	log_debug("peer=%s msg=%s type=%s event=relayed to=%s", from->peer_id, link_hex_id(h->message_id),
		 schema_type_name(h->type) ? schema_type_name(h->type) : "?", h->recipient);
	return 0;
}

static int relay_put(struct store *store, const struct wire_header *h, const struct store_delivery *d)
{
	struct store_message m = {
		.type = h->type,
		.priority = h->priority,
		.created_ms = h->created_ms,
		.expires_ms = h->expires_ms,
		.has_ref = h->has_ref,
	};
	memcpy(m.id, h->message_id, 16);
	memcpy(m.ref, h->ref, 16);
	return store_outbox_put(store, &m, d, 1);
}

void link_relay_receipt(struct links *L, const struct wire_receipt_body *body, const uint8_t *buf, size_t len)
{
	forward_receipt(L, body->addressee, buf, len);
}

void link_relays_fill(struct links *L, const char *asker, struct wire_heartbeat *hb)
{
	hb->n_relays_v2 = 0;
	if (peers_config(L->deps.peers)->protocol < WIRE_VERSION_BATCH)
		return;
	/* a v2 envelope crosses our link to q unchanged: q must take v2,
	 * which our own DEALER's agreement with it shows */
	for (size_t i = 0; i < peers_count(L->deps.peers) && hb->n_relays_v2 < WIRE_RELAYS_MAX; i++) {
		struct peer *q = peers_at(L->deps.peers, i);
		if (!peer_is_direct(q) || strcmp(peer_id(q), asker) == 0 ||
		    peer_link(q)->protocol < WIRE_VERSION_BATCH)
			continue;
		snprintf(hb->relays_v2[hb->n_relays_v2++], sizeof(hb->relays_v2[0]), "%s", peer_id(q));
	}
}

void link_relays_heard(struct links *L, const struct peer *relay, const struct wire_heartbeat *hb)
{
	for (size_t i = 0; i < peers_count(L->deps.peers); i++) {
		struct peer *p = peers_at(L->deps.peers, i);
		if (peer_is_direct(p) || strcmp(peer_next_hop(p), peer_id(relay)) != 0)
			continue;
		uint32_t v = WIRE_VERSION_MAJOR;
		for (size_t k = 0; hb->protocol >= WIRE_VERSION_BATCH && k < hb->n_relays_v2; k++)
			if (strcmp(hb->relays_v2[k], peer_id(p)) == 0)
				v = WIRE_VERSION_BATCH;
		peer_link_set_protocol(p, v);
	}
}
