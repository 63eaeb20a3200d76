/*
 * Whether the wall clock may be trusted to forget: the seen-id purge judges
 * by the wall clock, and an agent started while its clock was ahead forgot
 * ids whose envelopes senders still resend (delivered twice once the clock
 * was right again). A neighbour's clock, measured over the link, vouches
 * for ours when the two agree within the allowed skew.
 */
#include "config/config.h"
#include "core/core.h"

const struct peer *peers_clock_witness(struct peers *peers, double *offset_ms)
{
	const struct config *cfg = peers_config(peers);
	for (size_t i = 0; i < peers_count(peers); i++) {
		const struct peer *p = peers_at(peers, i);
		const struct peer_link *l = peer_link(p);
		if (!peer_is_direct(p) || !l->has_rtt || (l->state != LINK_UP && l->state != LINK_DEGRADED))
			continue;
		double off = l->clock_offset_ms < 0 ? -l->clock_offset_ms : l->clock_offset_ms;
		if (off <= (double)cfg->max_clock_skew_ms) {
			if (offset_ms)
				*offset_ms = l->clock_offset_ms;
			return p;
		}
	}
	return NULL;
}
