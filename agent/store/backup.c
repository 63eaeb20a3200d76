/*
 * Online backup: a consistent copy of the database while the agent runs,
 * through SQLite's backup API on the store's own connection (the store
 * holds its file in exclusive locking mode, so no other process can read
 * it). The copy is written beside OUT, made durable, then renamed into
 * place: a half-written copy never carries the name the operator asked for.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "proto/err.h"

/* fsync of path (a file or a folder); 0 or a Limes error. */
static int sync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return limes_from_errno(errno);
	int rc = fsync(fd) < 0 ? limes_from_errno(errno) : 0;
	close(fd);
	return rc;
}

int sqlite_backup(struct store *store, const char *out, char *why, size_t why_len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	sqlite3 *dest = NULL;
	sqlite3_backup *b = NULL;
	struct stat sb;
	int rc = 0;

	why[0] = '\0';
	if (!out || out[0] != '/') {
		snprintf(why, why_len, "the output path must be absolute");
		return LIMES_E_INVAL;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partial", out) >= sizeof(tmp)) {
		snprintf(why, why_len, "%s: path too long", out);
		return LIMES_E_INVAL;
	}
	if (lstat(out, &sb) == 0) {
		snprintf(why, why_len, "%s: already exists (a backup never overwrites)", out);
		return LIMES_E_EXISTS;
	}
	/* writes staged this turn are not committed yet: copy only what is */
	if (!sqlite3_get_autocommit(store->db)) {
		snprintf(why, why_len, "a transaction is open: commit first");
		return LIMES_E_AGAIN;
	}
	unlink(tmp);
	/* the copy holds messages: readable by us only */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = limes_from_errno(errno);
		snprintf(why, why_len, "%s: %s", tmp, strerror(errno));
		return rc;
	}
	close(fd);
	if (sqlite3_open_v2(tmp, &dest, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(why, why_len, "%s: %s", tmp, dest ? sqlite3_errmsg(dest) : "cannot open");
		rc = LIMES_E_IO;
		goto out;
	}
	b = sqlite3_backup_init(dest, "main", store->db, "main");
	if (!b) {
		snprintf(why, why_len, "cannot start the backup: %s", sqlite3_errmsg(dest));
		rc = LIMES_E_IO;
		goto out;
	}
	/* all pages in one step: the copy is one consistent snapshot, and the
	 * loop is busy only as long as reading the database takes */
	int step = sqlite3_backup_step(b, -1);
	int fin = sqlite3_backup_finish(b);
	if (step != SQLITE_DONE || fin != SQLITE_OK) {
		snprintf(why, why_len, "backup failed: %s", sqlite3_errstr(step != SQLITE_DONE ? step : fin));
		rc = (step & 0xff) == SQLITE_FULL ? LIMES_E_STORE_FULL : LIMES_E_IO;
		goto out;
	}
	/* the copy says it is one, and since when: once restored, the agent
	 * asks its neighbours to send again what they delivered after this */
	sqlite3_stmt *mark = NULL;
	const char *tail = NULL;
	int mrc = sqlite3_prepare_v2(dest, sqlite_copy_marker_sql, -1, &mark, &tail);
	if (mrc == SQLITE_OK)
		mrc = sqlite3_step(mark) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	sqlite3_finalize(mark);
	mark = NULL;
	if (mrc == SQLITE_OK && tail && *tail) {
		mrc = sqlite3_prepare_v2(dest, tail, -1, &mark, NULL);
		if (mrc == SQLITE_OK)
			mrc = sqlite3_bind_int64(mark, 1, (sqlite3_int64)clock_now_ms());
		if (mrc == SQLITE_OK)
			mrc = sqlite3_step(mark) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_finalize(mark);
	}
	if (mrc != SQLITE_OK) {
		snprintf(why, why_len, "cannot mark the copy: %s", sqlite3_errmsg(dest));
		rc = LIMES_E_IO;
		goto out;
	}
	/* the copy is a plain rollback-journal database: one file to restore */
	char *err = NULL;
	if (sqlite3_exec(dest, "PRAGMA journal_mode=DELETE;", NULL, NULL, &err) != SQLITE_OK) {
		snprintf(why, why_len, "cannot finish the copy: %s", err ? err : "?");
		sqlite3_free(err);
		rc = LIMES_E_IO;
		goto out;
	}
out:
	if (dest && sqlite3_close(dest) != SQLITE_OK && rc == 0) {
		snprintf(why, why_len, "cannot close the copy");
		rc = LIMES_E_IO;
	}
	if (rc == 0 && (rc = sync_path(tmp, O_RDONLY)) < 0)
		snprintf(why, why_len, "%s: cannot sync: %s", tmp, limes_strerror(rc));
	if (rc == 0 && rename(tmp, out) < 0) {
		rc = limes_from_errno(errno);
		snprintf(why, why_len, "%s: %s", out, strerror(errno));
	}
	if (rc == 0) {
		snprintf(dir, sizeof(dir), "%s", out);
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if ((rc = sync_path(dir, O_RDONLY | O_DIRECTORY)) < 0)
			snprintf(why, why_len, "%s: cannot sync the folder: %s", dir, limes_strerror(rc));
	}
	if (rc < 0)
		unlink(tmp);
	return rc;
}
