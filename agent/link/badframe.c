/*
 * Frames that do not decode, from either side of a link: counted, logged at
 * most a few lines a second per peer (with how many were suppressed), and
 * dropped. An oversized frame gets a line of its own: it is what a
 * neighbour whose max_frame is larger than ours sends, and before it was
 * read here libzmq cut the connection on it and nobody heard why.
 */
#include "link_int.h"

#include "base/log.h"
#include "base/ratelimit.h"
#include "proto/err.h"
#include "proto/sizes.h"

size_t link_frame_read_max(size_t max_frame)
{
	return SIZES_FRAME_READ_FACTOR * max_frame;
}

void link_frame_refused(struct links *L, const char *peer_id, int rc, size_t len, size_t max_frame)
{
	uint64_t suppressed;

	L->stats.frames_garbage++;
	if (rc == LIMES_E_ENV_OVERSIZED)
		L->stats.frames_oversized++;
	if (!ratelimit_pass(&L->log_limit, peer_id, &suppressed))
		return;
	if (rc == LIMES_E_ENV_OVERSIZED)
		log_warn("peer=%s event=oversized_frame bytes=%zu max_frame=%zu action=\"dropped: make [link] "
			 "max_frame the same on both sides\" suppressed=%llu",
			 peer_id, len, max_frame, (unsigned long long)suppressed);
	else
		log_warn("peer=%s event=garbage_frame reason=%s suppressed=%llu", peer_id, limes_errname(rc),
			 (unsigned long long)suppressed);
}
