/*
 * The envelopes that carry key rotation to a peer reached through a relay
 * (docs/protocol.md "Key rotation through a relay"): our announcement or
 * our answer to its own, as the body of an envelope of type
 * WIRE_TYPE_KEY_ROTATION, signed by our current key and sealed to its key
 * in force, so the relay can neither forge nor alter it. From the outbox on
 * it is a delivery like any other: sent, retried, stored by the relay while
 * the peer is away, receipted end to end. What is owed to each such peer
 * (our announcement once, our answers to its own) is decided here, once a
 * second and whenever an answer falls due; the state is rotation.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core_int.h"
#include "crypto/encode.h"
#include "crypto/random.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "rotation_int.h"

int rotation_queue_envelope(struct submit *s, const struct peer *to, const uint8_t *body, size_t len,
			    uint8_t id[STORE_ID_LEN])
{
	const struct config *cfg = peers_config(s->peers);
	uint64_t now = clock_now_ms();
	struct store_message m;
	struct wire_header h;
	uint8_t *env = NULL;
	size_t env_len = 0;

	memset(&m, 0, sizeof(m));
	memset(&h, 0, sizeof(h));
	random_fill(m.id, STORE_ID_LEN);
	m.type = WIRE_TYPE_KEY_ROTATION;
	m.priority = 1; /* a key change goes before the messages that need it */
	m.created_ms = now;
	m.expires_ms = now + cfg->max_ttl_ms;
	h.version_major = WIRE_VERSION_MAJOR; /* signed alone: every relay and recipient takes v1 */
	memcpy(h.message_id, m.id, STORE_ID_LEN);
	snprintf(h.sender, sizeof(h.sender), "%s", cfg->id);
	snprintf(h.recipient, sizeof(h.recipient), "%s", peer_id(to));
	h.type = m.type;
	h.priority = m.priority;
	h.created_ms = m.created_ms;
	h.expires_ms = m.expires_ms;
	h.schema_major = 1;
	int rc = core_seal(s, to, &h, body, len, &env, &env_len);
	if (rc == 0)
		rc = commit_stage(s->commit, COMMIT_OUTBOX);
	if (rc == 0) {
		struct store_delivery d = { .recipient = peer_id(to), .next_hop = peer_next_hop(to), .envelope = env,
					    .envelope_len = env_len };
		rc = store_mark(s->store);
		if (rc == 0) {
			/* all of it or nothing: the message row and its delivery */
			rc = store_outbox_put(s->store, &m, &d, 1);
			if (rc == 0)
				rc = store_mark_keep(s->store);
			else
				store_mark_undo(s->store);
		}
	}
	free(env);
	if (rc == 0)
		memcpy(id, m.id, STORE_ID_LEN);
	return rc;
}

/* ------------------------------------------------------------ through a relay */

void rotation_set_submit(struct rotation *r, struct submit *s)
{
	if (r)
		r->submit = s;
}

/* Queues frame f to `to`, a peer behind a relay, in an envelope. */
static int relay_frame(struct rotation *r, struct peer *to, const struct wire_frame *f, const char *what)
{
	uint8_t *buf = NULL, id[STORE_ID_LEN];
	size_t len = 0;
	char hex[2 * STORE_ID_LEN + 1];
	int rc = r->submit ? wire_frame_pack(f, &buf, &len) : LIMES_E_INTERNAL;

	if (rc == 0)
		rc = rotation_queue_envelope(r->submit, to, buf, len, id);
	free(buf);
	if (rc < 0) {
		log_error("peer=%s event=key_rotation_unqueued what=%s reason=\"%s\" action=\"tried again in a second\"",
			  peer_id(to), what, limes_strerror(rc));
		return rc;
	}
	encode_hex(hex, sizeof(hex), id, STORE_ID_LEN);
	log_info("peer=%s msg=%s event=key_rotation_queued what=%s via=%s", peer_id(to), hex, what, peer_next_hop(to));
	return 0;
}

/* Our answer to p's announcement is due: a direct neighbour gets it on the
 * ROUTER (link/rotation.c); one behind a relay in an envelope, now, in the
 * turn that records what it answers. */
void rotrelay_answer_due(struct rotation *r, struct peer *p, struct rotation_ack *a)
{
	uint8_t ack[ROTATION_ACK_LEN];
	if (!a)
		return;
	a->due = true;
	if (peer_is_direct(p) || !rotation_answer_due(r, peer_id(p), ack))
		return;
	struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE_ACK, .bytes = ack, .len = sizeof(ack) };
	if (relay_frame(r, p, &f, "key_update_ack") == 0)
		rotation_answer_sent(r, peer_id(p));
}

/* Once a second: our announcement to each peer behind a relay that has
 * neither answered it nor been sent it (once per announcement: the outbox,
 * the relay's store and the retries carry it from there), and any answer a
 * failed write left due. */
void rotrelay_tick(struct rotation *r, uint64_t now)
{
	const struct rotation_frame *rf;

	for (size_t i = 0; r->submit && i < peers_count(r->peers); i++) {
		struct peer *p = peers_at(r->peers, i);
		if (peer_is_direct(p))
			continue;
		for (size_t k = 0; k < r->n_acks; k++)
			if (r->acks[k].due && strcmp(r->acks[k].peer, peer_id(p)) == 0)
				rotrelay_answer_due(r, p, &r->acks[k]);
		struct rotation_ack *a = rotation_announcement(r, &rf) ? rotation_ack_get(r, peer_id(p)) : NULL;
		if (!a || a->state || a->queued)
			continue;
		struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = rf->body, .len = rf->len,
					.sig = rf->sig, .sig2 = rf->sig2 };
		if (relay_frame(r, p, &f, "key_update") < 0)
			continue;
		a->queued = true;
		struct store_key_note n;
		memset(&n, 0, sizeof(n));
		snprintf(n.kind, sizeof(n.kind), STORE_NOTE_RELAYED);
		snprintf(n.name, sizeof(n.name), "%s", peer_id(p));
		snprintf(n.line, sizeof(n.line), "%s", r->own.next_line);
		n.seq = r->own.seq;
		n.at_ms = now;
		rotation_note_put(r, &n);
		rotation_record(r, peer_id(p), identity_public(r->next)->key_id, "next key announced through the relay");
	}
}

int rotation_relayed_in(struct rotation *r, const char *from, const uint8_t *body, size_t len, char *why,
			size_t why_len)
{
	struct peer *p = r ? peers_find(r->peers, from) : NULL;
	struct wire_frame f;

	if (!r) {
		snprintf(why, why_len, "this agent takes no key rotation");
		return LIMES_E_POLICY;
	}
	if (!p || peer_is_direct(p)) {
		snprintf(why, why_len, "%s is %s: its keys come over its own link", from,
			 p ? "a direct neighbour" : "not configured");
		return p ? LIMES_E_POLICY : LIMES_E_UNKNOWN_PEER;
	}
	if (wire_frame_unpack(body, len, len, &f) < 0 ||
	    (f.kind != WIRE_FRAME_KEY_UPDATE && f.kind != WIRE_FRAME_KEY_UPDATE_ACK)) {
		snprintf(why, why_len, "the body is not a KeyUpdate or KeyUpdateAck frame");
		return LIMES_E_ENV_MALFORMED;
	}
	if (f.kind == WIRE_FRAME_KEY_UPDATE) {
		/* another agency's keys in its envelope: a policy refusal, not "unroutable" */
		int rc = rotation_theirs_offered(r, from, true, f.bytes, f.len, f.sig, f.sig2, why, why_len);
		return rc == LIMES_E_UNKNOWN_PEER ? LIMES_E_POLICY : rc;
	}
	if (f.len != ROTATION_ACK_LEN) {
		snprintf(why, why_len, "the answer is %zu bytes, not %d", f.len, ROTATION_ACK_LEN);
		return LIMES_E_ENV_MALFORMED;
	}
	rotation_on_ack(r, from, f.bytes);
	return 0;
}
