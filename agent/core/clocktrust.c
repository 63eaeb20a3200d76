/*
 * Whether the wall clock may be trusted to forget: the seen-id purge judges
 * by the wall clock, and an agent started while its clock was ahead forgot
 * ids whose envelopes senders still resend (delivered twice once the clock
 * was right again). A neighbour's clock, measured over the link, vouches
 * for ours when the two agree within the allowed skew.
 *
 * The measurement is the last heartbeat's, taken up to a heartbeat ago: our
 * wall clock may have stepped since (and the smoothed offset lags further).
 * Judged as it stood, a measurement taken just before a step ahead vouched
 * for the stepped clock, and the purge forgot ids by it. The neighbour's
 * clock runs on at the rate of our monotonic one, so its offset now is the
 * measured one less however far our wall clock moved beyond the monotonic.
 */
#include "base/clock.h"
#include "config/config.h"
#include "core/core.h"

const struct peer *peers_clock_witness_at(struct peers *peers, uint64_t wall_ms, uint64_t mono_ms,
					  double *offset_ms)
{
	const struct config *cfg = peers_config(peers);
	for (size_t i = 0; i < peers_count(peers); i++) {
		const struct peer *p = peers_at(peers, i);
		const struct peer_link *l = peer_link(p);
		if (!peer_is_direct(p) || !l->has_rtt || (l->state != LINK_UP && l->state != LINK_DEGRADED))
			continue;
		double stepped = ((double)wall_ms - (double)l->measured_wall_ms) -
				 ((double)mono_ms - (double)l->measured_mono_ms);
		double now = l->offset_last_ms - stepped;
		double off = now < 0 ? -now : now;
		if (off <= (double)cfg->max_clock_skew_ms) {
			if (offset_ms)
				*offset_ms = now;
			return p;
		}
	}
	return NULL;
}

const struct peer *peers_clock_witness(struct peers *peers, double *offset_ms)
{
	return peers_clock_witness_at(peers, clock_now_ms(), clock_mono_us() / 1000, offset_ms);
}
