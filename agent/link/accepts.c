/*
 * The link's advertisement of accepted types. In every heartbeat reply an
 * agent lists, for the neighbour that asked, the message types it accepts
 * from it (its accept list for that peer, limited to the types this build
 * can read) and the highest body schema major of each. The asker records
 * it in the peer table, and submission refuses at once a type the
 * neighbour said it does not take (400 peer_lacks_type) instead of sending
 * it to be rejected. Agents older than the field never send it and ignore
 * it (an unknown protobuf field), so nothing is refused on their account.
 */
#include "link_int.h"

#include "base/log.h"
#include "proto/schema.h"

void link_accepts_fill(struct links *L, const char *peer_id, struct wire_heartbeat *hb)
{
	const struct peer *p = peers_find(L->deps.peers, peer_id);

	if (!p)
		return;
	hb->has_accepts = true;
	hb->n_accepts = 0;
	for (size_t i = 0; i < schema_type_count() && hb->n_accepts < WIRE_ACCEPTS_MAX; i++) {
		int t = schema_type_at(i);
		if (t < 1 || t > 31 || !(peer_conf(p)->accept_mask & CONFIG_TYPE_BIT(t)))
			continue;
		hb->accepts[hb->n_accepts].type = (uint32_t)t;
		hb->accepts[hb->n_accepts].schema_major = schema_type_major(t);
		hb->n_accepts++;
	}
}

void link_accepts_heard(struct peer *p, const struct wire_heartbeat *hb, uint64_t now)
{
	struct peer_accepts acc = { .known = true, .said_ms = now };
	const struct peer_accepts *before = peer_accepts(p);

	if (!hb->has_accepts)
		return;
	for (size_t i = 0; i < hb->n_accepts; i++) {
		uint32_t t = hb->accepts[i].type;
		if (t < 1 || t > 31)
			continue;
		acc.mask |= CONFIG_TYPE_BIT(t);
		acc.schema_major[t] = hb->accepts[i].schema_major;
	}
	if (!before->known || before->mask != acc.mask)
		log_info("peer=%s event=peer_accepts mask=0x%x", peer_id(p), (unsigned)acc.mask);
	peer_accepts_set(p, &acc);
}
