/*
 * Stored envelopes across a key rotation on either side. Opening one made
 * with keys since replaced (ours in use, replaced or in the key ring; the
 * peer's in force, replaced, next or replaced before), for a requeue or the
 * API. Re-sealing ours on the way out: an envelope still sealed to a key
 * its recipient replaced (the operator pasted the new key and reloaded, or
 * the peer switched over the link, while it waited in the queue), or
 * signed by a replaced key of ours, would only be refused; before it is
 * sent it is re-opened and built again with the current keys, under the
 * same id, times and sequence number. Likewise a v2 envelope built while
 * its link was down, for a peer that came back v1 only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "rotation_int.h"

/* The header of an envelope, for a look before anything is opened; 0 or
 * an error (then it is not ours to judge: the peer refuses it as it is). */
static int peek_header(const struct config *cfg, const uint8_t *env, size_t len, struct wire_header *h)
{
	const uint8_t *header;
	size_t header_len;

	/* every envelope the link sends passes here: the header alone is
	 * decoded, not the body copied out (docs/benchmarks.md, "The sender
	 * loop's CPU") */
	if (wire_envelope_header(env, len, cfg->max_frame_bytes, &header, &header_len) < 0)
		return LIMES_E_ENV_MALFORMED;
	return wire_header_unpack(header, header_len, cfg->max_frame_bytes, h);
}

/* Our envelope, opened (o, cleared here), built again for p as v1: sealed
 * to p's current key and signed alone by our current key, same id, times
 * and sequence. 1 with *out, or an error. */
static int rebuild_v1(const struct identity *me, struct peer *p, struct envelope_opened *o, uint8_t **out,
		      size_t *out_len)
{
	struct wire_header nh = o->header;

	nh.version_major = WIRE_VERSION_MAJOR; /* sealed and signed alone */
	int rc = envelope_build(me, peer_crypto(p), &nh, o->body, o->body_len, out, out_len);
	envelope_opened_clear(o);
	return rc < 0 ? rc : 1;
}

int core_reseal(struct peers *peers, const struct identity *me, const char *recipient, const uint8_t *env,
		size_t len, uint8_t **out, size_t *out_len)
{
	struct peer *p = peers_find(peers, recipient);
	const struct envelope_peer *prev = p ? peer_crypto_previous(p) : NULL;
	const struct config *cfg = peers_config(peers);
	struct wire_header h;
	struct envelope_opened o;

	*out = NULL;
	*out_len = 0;
	/* only after a key change: nothing to look at otherwise */
	if (!prev)
		return 0;
	if (peek_header(cfg, env, len, &h) < 0 || strcmp(h.sender, cfg->id) != 0 ||
	    memcmp(h.recipient_key_id, envelope_peer_key(prev)->key_id, IDENTITY_KEY_ID_LEN) != 0)
		return 0; /* relayed for someone else, or sealed to the current key */
	int rc = envelope_reopen_own(me, prev, env, len, cfg->max_frame_bytes, &o);
	return rc < 0 ? rc : rebuild_v1(me, p, &o, out, out_len);
}

/* The path to `to` takes v2 now: its link (and a relay's) agreed on 2. */
static bool path_takes_v2(struct peers *peers, const struct peer *to)
{
	if (peers_config(peers)->protocol < WIRE_VERSION_BATCH || peer_link(to)->protocol < WIRE_VERSION_BATCH)
		return false;
	if (peer_is_direct(to))
		return true;
	const struct peer *relay = peers_find(peers, peer_next_hop(to));
	return relay && peer_link(relay)->protocol >= WIRE_VERSION_BATCH;
}

int core_reseal_version(struct peers *peers, const struct identity *me, const char *recipient, const uint8_t *env,
			size_t len, uint8_t **out, size_t *out_len)
{
	struct peer *p = peers_find(peers, recipient);
	const struct config *cfg = peers_config(peers);
	struct wire_header h;
	struct envelope_opened o;

	*out = NULL;
	*out_len = 0;
	/* the usual case costs no decoding: the path takes what we build */
	if (!p || path_takes_v2(peers, p))
		return 0;
	if (peek_header(cfg, env, len, &h) < 0 || h.version_major < WIRE_VERSION_BATCH || strcmp(h.sender, cfg->id) != 0)
		return 0; /* v1 already, or relayed for someone else */
	int rc = envelope_reopen_own(me, peer_crypto(p), env, len, cfg->max_frame_bytes, &o);
	return rc < 0 ? rc : rebuild_v1(me, p, &o, out, out_len);
}

/* The peer's keys we may meet in a stored envelope: in force, replaced,
 * next, and those it replaced over the link before (caller frees). */
static struct peer_key *peer_keys_of(const struct rotation *r, const struct peer *p, size_t *count)
{
	size_t n = 0, cap = 3 + (r ? r->n_theirs : 0);
	struct peer_key *keys = calloc(cap, sizeof(*keys));
	if (!keys)
		return NULL;
	keys[n++] = *peer_key_in_force(p);
	if (peer_crypto_previous(p))
		keys[n++] = *envelope_peer_key(peer_crypto_previous(p));
	if (peer_crypto_next(p))
		keys[n++] = *envelope_peer_key(peer_crypto_next(p));
	for (size_t i = 0; r && i < r->n_theirs; i++)
		if (strcmp(r->theirs[i].peer, peer_id(p)) == 0)
			keys[n++] = r->theirs[i].key;
	*count = n;
	return keys;
}

int rotation_open_stored(const struct rotation *r, struct peers *peers, const struct identity *me, const char *peer,
			 const uint8_t *env, size_t len, bool own, struct envelope_opened *out)
{
	struct peer *p = peers_find(peers, peer);
	size_t max = peers_config(peers)->max_frame_bytes;
	size_t n_ids = 2 + (r ? r->n_ring : 0), n = 0;
	int rc = LIMES_E_UNKNOWN_PEER;

	if (!p)
		return rc;
	struct peer_key *keys = peer_keys_of(r, p, &n);
	if (!keys)
		return LIMES_E_NOMEM;
	/* written or received before a rotation on either side: try each pair
	 * of keys once (ours in use, replaced, in the ring; a wrong pair fails
	 * its tag check) */
	for (size_t i = 0; i < n_ids; i++) {
		const struct identity *id = i == 0 ? me : i == 1 ? (r ? r->previous : NULL) : r->ring[i - 2].id;
		if (!id)
			continue;
		for (size_t k = 0; k < n; k++) {
			struct envelope_peer *pair = envelope_peer_new(id, &keys[k], peer);
			if (!pair)
				continue;
			rc = own ? envelope_reopen_own(id, pair, env, len, max, out)
				 : envelope_unseal(id, pair, env, len, max, out);
			envelope_peer_destroy(&pair);
			if (rc == 0)
				goto out;
		}
	}
out:
	free(keys);
	return rc;
}

int rotation_reseal(const struct rotation *r, struct peers *peers, const struct identity *me, const char *recipient,
		    const uint8_t *env, size_t len, bool never_sent, uint8_t **out, size_t *out_len)
{
	struct peer *p = peers_find(peers, recipient);
	const struct config *cfg = peers_config(peers);
	struct wire_header h;
	struct envelope_opened o;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (!r)
		return core_reseal(peers, me, recipient, env, len, out, out_len);
	if (!p || peek_header(cfg, env, len, &h) < 0 || strcmp(h.sender, cfg->id) != 0)
		return 0; /* not ours to judge (the peer refuses it as it is), or relayed for someone else */
	bool signed_old = memcmp(h.sender_key_id, identity_public(me)->key_id, IDENTITY_KEY_ID_LEN) != 0 &&
			  rotation_ring_replaced(r, h.sender_key_id, false, 0) != NULL;
	bool sealed_old = memcmp(h.recipient_key_id, peer_key_in_force(p)->key_id, IDENTITY_KEY_ID_LEN) != 0;
	/* A sent one signed by a replaced key goes again under new bytes only
	 * to a direct neighbour: it answers a copy of an id it holds, signed
	 * again by its author, as a duplicate (docs/protocol.md "Receiving");
	 * a relay would answer with the final recipient's receipt of the old
	 * bytes, which we could not match. */
	if (signed_old && !never_sent && !peer_is_direct(p) && !sealed_old)
		return 0;
	if (!signed_old && !sealed_old)
		return 0;
	if ((rc = rotation_open_stored(r, peers, me, recipient, env, len, true, &o)) < 0)
		return rc;
	return rebuild_v1(me, p, &o, out, out_len);
}
