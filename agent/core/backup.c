/*
 * The store's online backup, run between commits: what was staged this turn
 * is committed first (the listeners hear it as usual), then the copy is
 * taken of exactly what is durable.
 */
#include <stdio.h>

#include "base/log.h"
#include "core/core.h"
#include "proto/err.h"

int core_backup(struct commit *commit, struct store *store, const char *out, char *why, size_t why_len)
{
	int rc = commit_flush(commit);
	if (rc < 0) {
		snprintf(why, why_len, "the store cannot commit: %s", limes_strerror(rc));
		return rc;
	}
	rc = store_backup(store, out, why, why_len);
	if (rc < 0)
		log_warn("event=backup_failed path=%s reason=\"%s\"", out, why);
	else
		log_info("event=backup path=%s", out);
	return rc;
}
