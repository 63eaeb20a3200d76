/*
 * The state of a peer reached through a relay, from its own evidence: its
 * relay's link must be usable, and what we sent it must come back receipted
 * by it (end to end, through the relay). A relayed peer never copies its
 * relay's state: the relay can be up while the agency behind it is silent.
 * Reads the peer table; owns nothing.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

void peer_relayed_state(const struct peer *p, const struct peer *hop, uint64_t now_ms, uint64_t queued,
			uint64_t oldest_ms, uint64_t overdue_ms, struct peer_relayed *out)
{
	const struct peer_link *own = peer_link(p);

	memset(out, 0, sizeof(*out));
	if (!hop) {
		out->state = LINK_DOWN;
		snprintf(out->reason, sizeof(out->reason), "its relay %s is not a configured peer", peer_next_hop(p));
		return;
	}
	const struct peer_link *relay = peer_link(hop);
	out->relay_state = relay->state;
	if (relay->state == LINK_DOWN || relay->state == LINK_CONNECTING) {
		/* nothing reaches it while its relay is not linked */
		out->state = relay->state;
		snprintf(out->reason, sizeof(out->reason), "its relay %s is %s", peer_id(hop),
			 link_state_name(relay->state));
		return;
	}
	/* the relay carries our messages: has this agency answered them? A
	 * message waiting longer than overdue_ms with no receipt from it since
	 * it was created says the agency behind the relay is not answering. */
	if (queued && oldest_ms && now_ms > oldest_ms + overdue_ms && own->last_heard_ms < oldest_ms + overdue_ms) {
		out->state = LINK_DEGRADED;
		if (own->last_heard_ms)
			snprintf(out->reason, sizeof(out->reason),
				 "no receipt from it through %s for %llu s, %llu message%s waiting", peer_id(hop),
				 (unsigned long long)((now_ms - own->last_heard_ms) / 1000), (unsigned long long)queued,
				 queued == 1 ? "" : "s");
		else
			snprintf(out->reason, sizeof(out->reason), "never a receipt from it through %s, %llu message%s waiting",
				 peer_id(hop), (unsigned long long)queued, queued == 1 ? "" : "s");
		return;
	}
	out->state = LINK_UP;
}
