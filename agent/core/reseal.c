/*
 * Re-sealing on the way out: an envelope of ours still sealed to a key its
 * recipient replaced (the operator pasted the new key and reloaded while it
 * waited in the queue) would only be refused. Before it is sent it is
 * re-opened with the replaced key and sealed again to the current one,
 * under the same id, times and sequence number.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/wire.h"

int core_reseal(struct peers *peers, const struct identity *me, const char *recipient, const uint8_t *env,
		size_t len, uint8_t **out, size_t *out_len)
{
	struct peer *p = peers_find(peers, recipient);
	const struct envelope_peer *prev = p ? peer_crypto_previous(p) : NULL;
	const struct config *cfg = peers_config(peers);
	struct wire_envelope e;
	struct wire_header h;
	struct envelope_opened o;

	*out = NULL;
	*out_len = 0;
	/* only after a key change: nothing to look at otherwise */
	if (!prev)
		return 0;
	if (wire_envelope_unpack(env, len, cfg->max_frame_bytes, &e) < 0)
		return 0; /* not ours to judge: the peer refuses it as it is */
	int rc = wire_header_unpack(e.header, e.header_len, cfg->max_frame_bytes, &h);
	wire_envelope_clear(&e);
	if (rc < 0 || strcmp(h.sender, cfg->id) != 0 ||
	    memcmp(h.recipient_key_id, envelope_peer_key(prev)->key_id, IDENTITY_KEY_ID_LEN) != 0)
		return 0; /* relayed for someone else, or sealed to the current key */
	rc = envelope_reopen_own(me, prev, env, len, cfg->max_frame_bytes, &o);
	if (rc < 0)
		return rc;
	struct wire_header nh = o.header;
	nh.version_major = WIRE_VERSION_MAJOR; /* sealed and signed alone */
	rc = envelope_build(me, peer_crypto(p), &nh, o.body, o.body_len, out, out_len);
	envelope_opened_clear(&o);
	return rc < 0 ? rc : 1;
}
