/*
 * Relaying: a CCP between two agencies that have no direct link forwards
 * their envelopes as the stored ciphertext it received, and forwards the
 * final recipient's signed receipt back. The relay verifies the author's
 * signature (it knows both neighbours' keys) but cannot open the payload:
 * it is sealed to the final recipient. It never receipts a relayed message
 * itself; only the final recipient's receipt marks it delivered at the author.
 */
#include "agent/link_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/err.h"
#include "agent/log.h"
#include "crypto/envelope.h"

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

	if (!in || zmq_send(L->router, in->routing_id, in->routing_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    link_send_frame(L->router, &f, 0) < 0) {
		log_info("peer=%s event=relay_receipt_unsent action=\"the author will resend and get it then\"",
			 addressee);
		return;
	}
	zsock_poke(L->router_watch);
}

struct stored_receipt {
	const char *recipient;
	bool found;
	bool done;
	uint8_t *receipt;
	size_t receipt_len;
};

static int find_delivery(void *arg, const struct store_delivery_row *row)
{
	struct stored_receipt *s = arg;
	if (strcmp(row->recipient, s->recipient) != 0)
		return 0;
	s->found = true;
	if ((row->state == DELIVERY_DELIVERED || row->state == DELIVERY_REJECTED) && row->receipt) {
		s->receipt = malloc(row->receipt_len);
		if (s->receipt) {
			memcpy(s->receipt, row->receipt, row->receipt_len);
			s->receipt_len = row->receipt_len;
			s->done = true;
		}
	}
	return 1;
}

int link_relay_envelope(struct links *L, struct inbound *from, const struct wire_header *h, const uint8_t *buf,
			size_t len, const uint8_t hash[32], const char **detail)
{
	struct agent *agent = L->agent;
	const struct config *cfg = agent->cfg;
	struct peer *to = agent_peer(agent, h->recipient);
	struct peer *author = agent_peer(agent, h->sender);
	struct envelope_opened v;
	int rc;

	(void)hash;
	if (!to || !to->conf->endpoint[0]) {
		*detail = "this agent has no direct link to the recipient";
		return LIMES_E_UNKNOWN_PEER;
	}
	if (!author || strcmp(h->sender, from->peer_id) != 0) {
		*detail = "a relay forwards only what its direct neighbour wrote";
		return LIMES_E_POLICY;
	}
	if (h->type < 1 || h->type > 31 || !(author->conf->accept_mask & CONFIG_TYPE_BIT(h->type)) ||
	    !(to->conf->send_mask & CONFIG_TYPE_BIT(h->type))) {
		*detail = "relay policy does not carry this type between these peers";
		return LIMES_E_POLICY;
	}
	struct envelope_open_params params = {
		.me = agent->me,
		.my_id = cfg->id,
		.now_ms = agent_now_ms(),
		.max_ttl_ms = cfg->max_ttl_ms,
		.max_skew_ms = cfg->max_clock_skew_ms,
		.max_envelope_bytes = cfg->max_frame_bytes,
		.lookup = link_sender_lookup,
		.lookup_arg = L,
	};
	memset(&v, 0, sizeof(v));
	rc = envelope_verify(&params, buf, len, &v);
	envelope_opened_clear(&v);
	if (rc < 0) {
		*detail = limes_strerror(rc);
		return rc;
	}
	/* Seen before? Answer with the final recipient's receipt if we have it. */
	struct stored_receipt s = { .recipient = h->recipient };
	store_message_get(agent->store, h->message_id, find_delivery, &s);
	if (s.found) {
		if (s.done)
			forward_receipt(L, h->sender, s.receipt, s.receipt_len);
		free(s.receipt);
		return 0;
	}
	struct store_message m = {
		.type = h->type,
		.priority = h->priority,
		.created_ms = h->created_ms,
		.expires_ms = h->expires_ms,
		.has_ref = h->has_ref,
	};
	memcpy(m.id, h->message_id, 16);
	memcpy(m.ref, h->ref, 16);
	struct store_delivery d = { .recipient = to->conf->id, .next_hop = to->conf->id, .envelope = buf,
				    .envelope_len = len };
	rc = store_begin(agent->store);
	if (rc == 0)
		rc = store_outbox_put(agent->store, &m, &d, 1);
	if (rc < 0) {
		*detail = "relay could not store it";
		log_error("peer=%s msg=%s event=relay_store_failed reason=\"%s\"", from->peer_id,
			  link_hex_id(h->message_id), limes_strerror(rc));
		return LIMES_E_IO; /* reason internal: the author will resend */
	}
	L->dirty = true;
	L->relay_pending = true;
	agent->counters.relayed++;
	log_debug("peer=%s msg=%s event=relayed to=%s", from->peer_id, link_hex_id(h->message_id), h->recipient);
	return 0;
}

void link_relay_receipt(struct links *L, const struct wire_receipt_body *body, const uint8_t *buf, size_t len)
{
	forward_receipt(L, body->addressee, buf, len);
}
