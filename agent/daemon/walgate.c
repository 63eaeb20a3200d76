/* The WAL gate at start-up; see walgate.h and docs/operations.md "A damaged WAL". */
#include "walgate.h"

#include <stdio.h>

#include "base/log.h"
#include "proto/err.h"
#include "store/store.h"

int walgate_check(const char *dir, bool accept_loss, char *err, size_t err_len)
{
	struct store_wal_report w;
	int rc = store_wal_check(dir, &w);

	if (rc < 0) {
		snprintf(err, err_len, "%s: cannot read the store's WAL before opening it: %s", w.path[0] ? w.path : dir,
			 limes_strerror(rc));
		return -1;
	}
	if (!w.lost) {
		if (w.bad_frame)
			log_info("event=wal_checked file=%s frames=%llu replayed=%llu torn_from_frame=%llu "
				 "note=\"a tail cut short by a crash: nothing that completed is lost\"",
				 w.path, (unsigned long long)w.frames, (unsigned long long)w.replayed,
				 (unsigned long long)w.bad_frame);
		return 0;
	}
	char what[512];
	if (!w.header_ok)
		snprintf(what, sizeof(what), "its header is damaged, so SQLite would ignore all of its %llu frames",
			 (unsigned long long)w.frames);
	else
		snprintf(what, sizeof(what),
			 "frame %llu of %llu (byte %llu) is damaged and %llu commits that had completed follow it: "
			 "SQLite would keep the first %llu frames and silently drop the rest",
			 (unsigned long long)w.bad_frame, (unsigned long long)w.frames,
			 (unsigned long long)w.bad_offset, (unsigned long long)w.commits_after,
			 (unsigned long long)w.replayed);
	if (!accept_loss) {
		snprintf(err, err_len,
			 "%s: %s, and with them messages already acknowledged (their senders hold receipts). "
			 "Stop here: copy the data folder aside, then follow docs/operations.md \"A damaged WAL\"; "
			 "to start without those commits, run limes agent --accept-wal-loss",
			 w.path, what);
		return -1;
	}
	log_error("event=wal_loss_accepted file=%s reason=\"%s\" action=\"--accept-wal-loss given: starting without "
		  "them; ask the senders to resend (docs/operations.md, A damaged WAL)\"",
		  w.path, what);
	return 0;
}
