/*
 * Re-sealing on the way out: an envelope of ours still sealed to a key its
 * recipient replaced (the operator pasted the new key and reloaded while it
 * waited in the queue) would only be refused. Before it is sent it is
 * re-opened with the replaced key and sealed again to the current one,
 * under the same id, times and sequence number. Likewise a v2 envelope
 * built while its link was down, for a peer that came back v1 only.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/wire.h"

/* The header of an envelope, for a look before anything is opened; 0 or
 * an error (then it is not ours to judge: the peer refuses it as it is). */
static int peek_header(const struct config *cfg, const uint8_t *env, size_t len, struct wire_header *h)
{
	struct wire_envelope e;

	if (wire_envelope_unpack(env, len, cfg->max_frame_bytes, &e) < 0)
		return LIMES_E_ENV_MALFORMED;
	int rc = wire_header_unpack(e.header, e.header_len, cfg->max_frame_bytes, h);
	wire_envelope_clear(&e);
	return rc;
}

/* Our envelope, opened with the pair keys it was sealed with (`sealed`),
 * built again for p as v1: sealed to p's current key and signed alone,
 * same id, times and sequence. 1 with *out, or an error. */
static int rebuild_v1(const struct identity *me, const struct envelope_peer *sealed, struct peer *p,
		      const struct config *cfg, const uint8_t *env, size_t len, uint8_t **out, size_t *out_len)
{
	struct envelope_opened o;
	int rc = envelope_reopen_own(me, sealed, env, len, cfg->max_frame_bytes, &o);

	if (rc < 0)
		return rc;
	struct wire_header nh = o.header;
	nh.version_major = WIRE_VERSION_MAJOR; /* sealed and signed alone */
	rc = envelope_build(me, peer_crypto(p), &nh, o.body, o.body_len, out, out_len);
	envelope_opened_clear(&o);
	return rc < 0 ? rc : 1;
}

int core_reseal(struct peers *peers, const struct identity *me, const char *recipient, const uint8_t *env,
		size_t len, uint8_t **out, size_t *out_len)
{
	struct peer *p = peers_find(peers, recipient);
	const struct envelope_peer *prev = p ? peer_crypto_previous(p) : NULL;
	const struct config *cfg = peers_config(peers);
	struct wire_header h;

	*out = NULL;
	*out_len = 0;
	/* only after a key change: nothing to look at otherwise */
	if (!prev)
		return 0;
	if (peek_header(cfg, env, len, &h) < 0 || strcmp(h.sender, cfg->id) != 0 ||
	    memcmp(h.recipient_key_id, envelope_peer_key(prev)->key_id, IDENTITY_KEY_ID_LEN) != 0)
		return 0; /* relayed for someone else, or sealed to the current key */
	return rebuild_v1(me, prev, p, cfg, env, len, out, out_len);
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

	*out = NULL;
	*out_len = 0;
	/* the usual case costs no decoding: the path takes what we build */
	if (!p || path_takes_v2(peers, p))
		return 0;
	if (peek_header(cfg, env, len, &h) < 0 || h.version_major < WIRE_VERSION_BATCH || strcmp(h.sender, cfg->id) != 0)
		return 0; /* v1 already, or relayed for someone else */
	return rebuild_v1(me, peer_crypto(p), p, cfg, env, len, out, out_len);
}
