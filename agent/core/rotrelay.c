/*
 * The envelopes that carry key rotation to a peer reached through a relay
 * (docs/protocol.md "Key rotation through a relay"): our announcement or
 * our answer to its own, as the body of an envelope of type
 * WIRE_TYPE_KEY_ROTATION, signed by our current key and sealed to its key
 * in force, so the relay can neither forge nor alter it. From the outbox on
 * it is a delivery like any other: sent, retried, stored by the relay while
 * the peer is away, receipted end to end. rotation.c decides what to send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "core_int.h"
#include "crypto/random.h"
#include "proto/err.h"
#include "proto/wire.h"

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
