/*
 * Key rotation over the links (core/rotation.c decides, this file carries):
 * our announcement on each DEALER until the neighbour answers, the
 * neighbours' announcements and our answers on the ROUTER, the switch of a
 * DEALER to a neighbour's new key when it first presents it, the ROUTER and
 * DEALERs taking our own new key after a promotion, and the pair key for
 * an envelope sealed to our replaced key.
 */
#include "link_int.h"

#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/envelope.h"
#include "proto/err.h"

/* Re-sent this often while a neighbour that is up has not answered. */
#define ANNOUNCE_EVERY_MS 2000

void link_rotation_tick(struct links *L, struct outlink *ol, uint64_t now)
{
	const struct rotation_frame *rf;
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	const char *why = "";

	if (!ol->dealer || !p || (peer_link(p)->state != LINK_UP && peer_link(p)->state != LINK_DEGRADED))
		return;
	if (!rotation_must_announce(L->deps.rotation, ol->peer_id) || !rotation_announcement(L->deps.rotation, &rf))
		return;
	if (ol->key_update_ms && now < ol->key_update_ms + ANNOUNCE_EVERY_MS)
		return;
	struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = rf->body, .len = rf->len, .sig = rf->sig,
				.sig2 = rf->sig2 };
	ol->key_update_ms = now;
	if (link_send_frame(ol->dealer, &f, 0, &why) < 0)
		log_debug("peer=%s event=key_update_unsent reason=\"%s\"", ol->peer_id, why);
	else
		log_debug("peer=%s event=key_update_sent seq=%llu", ol->peer_id, (unsigned long long)rf->seq);
}

void link_rotation_answer(struct links *L)
{
	uint8_t ack[ROTATION_ACK_LEN];
	const char *why = "";

	for (size_t i = 0; i < L->n_in; i++) {
		struct inbound *in = &L->in[i];
		if (!in->routing_len || !rotation_answer_due(L->deps.rotation, in->peer_id, ack))
			continue;
		struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE_ACK, .bytes = ack, .len = sizeof(ack) };
		if (link_send_routed(L, in, &f, &why) == 0)
			rotation_answer_sent(L->deps.rotation, in->peer_id);
	}
}

void link_rotation_on_update(struct links *L, struct inbound *in, const struct wire_frame *f)
{
	char why[256] = "";

	if (!L->deps.rotation) {
		log_warn("peer=%s event=key_update_refused reason=\"this agent takes no key rotation\"", in->peer_id);
		return;
	}
	int rc = rotation_offered(L->deps.rotation, in->peer_id, f->bytes, f->len, f->sig, f->sig2, why, sizeof(why));
	if (rc < 0) {
		uint64_t suppressed;
		if (ratelimit_pass(&L->log_limit, in->peer_id, &suppressed))
			log_warn("peer=%s event=key_update_refused error=%s reason=\"%s\" suppressed=%llu", in->peer_id,
				 limes_errname(rc), why, (unsigned long long)suppressed);
		return;
	}
	link_rotation_answer(L);
}

void link_rotation_on_ack(struct links *L, struct outlink *ol, const struct wire_frame *f)
{
	if (L->deps.rotation && f->len == ROTATION_ACK_LEN)
		rotation_on_ack(L->deps.rotation, ol->peer_id, f->bytes);
}

int link_rotation_envelope(struct links *L, const struct envelope_opened *o, const char **detail)
{
	static char why[256];
	int rc = rotation_relayed_in(L->deps.rotation, o->header.sender, o->body, o->body_len, why, sizeof(why));
	if (rc < 0) {
		log_warn("peer=%s event=key_update_refused error=%s reason=\"%s\" msg=%s", o->header.sender,
			 limes_errname(rc), why, link_hex_id(o->header.message_id));
		*detail = why;
	}
	return rc;
}

void link_rotation_signed(struct links *L, const char *who, const uint8_t key_id[8])
{
	struct peer *p = L->deps.rotation ? peers_find(L->deps.peers, who) : NULL;
	if (p && !peer_is_direct(p))
		rotation_signed_with(L->deps.rotation, p, key_id);
}

void link_rotation_presented(struct links *L, struct peer *p, const uint8_t box_pk[32])
{
	if (!rotation_presented(L->deps.rotation, p, box_pk))
		return;
	/* its ROUTER listens with the new key now: our DEALER must ask for it */
	for (size_t i = 0; i < L->n_out; i++)
		if (strcmp(L->out[i]->peer_id, peer_id(p)) == 0)
			link_reset(L, L->out[i], "the peer switched to its new key");
}

const struct envelope_peer *link_previous_lookup(void *arg, const char *sender, const uint8_t key_id[8],
						 uint64_t created_ms, int *err)
{
	struct links *L = arg;
	const struct envelope_peer *k = link_sender_lookup(arg, sender, key_id, created_ms, err);
	const struct identity *previous = L->previous_me;

	envelope_peer_destroy(&L->previous_pair);
	if (!k || !previous)
		return NULL;
	L->previous_pair = envelope_peer_new(previous, envelope_peer_key(k), sender);
	if (!L->previous_pair)
		*err = LIMES_E_ENV_UNKNOWN_KEY;
	return L->previous_pair;
}

void link_previous_done(struct links *L)
{
	L->previous_me = NULL;
	envelope_peer_destroy(&L->previous_pair);
}

void links_rekey(void *arg)
{
	struct links *L = arg;

	if (!L || !L->router)
		return;
	/* the listener copies the key when it is bound: set it, then bind again */
	if (zmq_setsockopt(L->router, ZMQ_CURVE_SECRETKEY, identity_curve_secret(L->deps.me), 32) < 0) {
		log_error("event=rekey_failed reason=\"cannot set the new CURVE key: %s\"", zmq_strerror(zmq_errno()));
		return;
	}
	link_relisten(L);
	for (size_t i = 0; i < L->n_out; i++)
		link_reset(L, L->out[i], "this agent switched to its new key");
}
