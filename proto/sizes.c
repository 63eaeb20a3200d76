/* The size limits (sizes.h) and the checks that they agree. */
#include "proto/sizes.h"

#include <stdint.h>

/* a receipt with one entry of the longest detail fits a receipt's cap */
_Static_assert(SIZES_RECEIPT_OVERHEAD_MAX + SIZES_RECEIPT_ENTRY_FIXED_MAX + WIRE_DETAIL_MAX <= SIZES_RECEIPT_MAX,
	       "one receipt entry must fit a receipt");
/* the receiver may fill a receipt to its cap: any receipt fits the smallest frame */
_Static_assert(SIZES_RECEIPT_MAX + SIZES_FRAME_PREFIX_MAX <= SIZES_FRAME_MIN, "a receipt must fit every frame");
/* with the default max_frame, the largest body the schema allows crosses */
_Static_assert(SIZES_BODY_MAX + SIZES_ENVELOPE_OVERHEAD_MAX + SIZES_FRAME_PREFIX_MAX <= SIZES_FRAME_DEFAULT,
	       "the default frame must carry the largest body");
_Static_assert(SIZES_FRAME_MIN <= SIZES_FRAME_DEFAULT && SIZES_FRAME_DEFAULT <= SIZES_FRAME_MAX,
	       "the default frame lies within the range a config may set");
/* the smallest frame still carries a body of some size */
_Static_assert(SIZES_ENVELOPE_OVERHEAD_MAX + SIZES_FRAME_PREFIX_MAX < SIZES_FRAME_MIN,
	       "the smallest frame must carry an envelope");
/* what the link reads fits ZMQ_MAXMSGSIZE (int64) and a size_t */
_Static_assert((uint64_t)SIZES_FRAME_MAX * SIZES_FRAME_READ_FACTOR < INT32_MAX * 2ull,
	       "the read cap must fit the socket option");
/* an inbox answer carries at least any one envelope */
_Static_assert(SIZES_INBOX_PAGE_FRAMES >= 1, "an inbox page must carry a whole frame");
/* a v2 batch's receipt entries fit the receipts a receiver splits them into */
_Static_assert(WIRE_RECEIPT_MAX_ENTRIES >= 1 && WIRE_BATCH_MAX >= 1, "receipts and batches carry something");

size_t sizes_body_max(size_t max_frame)
{
	size_t over = SIZES_ENVELOPE_OVERHEAD_MAX + SIZES_FRAME_PREFIX_MAX;
	if (max_frame <= over)
		return 0;
	return max_frame - over < SIZES_BODY_MAX ? max_frame - over : SIZES_BODY_MAX;
}

size_t sizes_receipt_entry_max(size_t detail_len)
{
	return SIZES_RECEIPT_ENTRY_FIXED_MAX + detail_len;
}

size_t sizes_inbox_page_bytes(size_t max_frame)
{
	return SIZES_INBOX_PAGE_FRAMES * max_frame;
}
