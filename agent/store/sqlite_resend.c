/*
 * The SQLite backend's part in a neighbour's restore (docs/operations.md
 * "Backup and restore"): the deliveries we made to a neighbour since a
 * time, to send again when it asks after restoring an older copy; and the
 * mark a copy carries (a table of its own, written into the copy by
 * backup.c and never into the live store) until the restored agent has
 * had every neighbour send again.
 */
#include "store_int.h"

#include <string.h>

#include "proto/err.h"

enum { SQL_DELIVERED_SINCE, SQL_COPY_EXISTS, SQL_COPY_TIME, SQL_COPY_DROP, SQL_COUNT_ };
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

static const char *const sql_text[SQL_COUNT_] = {
	/* Through deliveries_done (type, body, done_ms), type by type as the
	 * purge does: each type's rows delivered since are two range seeks
	 * (body 0 and 1); only those are sorted. */
	[SQL_DELIVERED_SINCE] = "WITH RECURSIVE types(t) AS ("
				" SELECT (SELECT type FROM deliveries WHERE state >= 2 ORDER BY type LIMIT 1)"
				" UNION ALL"
				" SELECT (SELECT type FROM deliveries WHERE state >= 2 AND type > t"
				" ORDER BY type LIMIT 1) FROM types WHERE t IS NOT NULL)"
				" SELECT d.message_id, d.recipient FROM types, deliveries d"
				" WHERE d.type = types.t AND d.body IN (0, 1) AND d.state >= 2"
				" AND d.done_ms >= ?2 AND d.done_ms < ?4 AND d.state = 2 AND d.next_hop = ?1"
				" ORDER BY d.done_ms LIMIT ?3",
	[SQL_COPY_EXISTS] = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'backup_copy'",
	/* prepared only once the table is known to exist (else it would not prepare) */
	[SQL_COPY_TIME] = "SELECT taken_ms FROM backup_copy LIMIT 1",
	[SQL_COPY_DROP] = "DROP TABLE IF EXISTS backup_copy",
};

static const struct store_queries queries = { STORE_FILE_RESEND, SQL_COUNT_, sql_text };

const char sqlite_copy_marker_sql[] =
	"CREATE TABLE backup_copy (taken_ms INTEGER NOT NULL); INSERT INTO backup_copy VALUES (?1);";

int sqlite_delivered_since(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
			   int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg)
{
	int err = 0, rc, count = 0;
	sqlite3_stmt *stmt;
	bool bad = false;

	if (!next_hop || !fn || limit == 0 || limit > INT32_MAX || since_ms > INT64_MAX || until_ms > INT64_MAX)
		return LIMES_E_INVAL;
	if (!(stmt = store_stmt(store, &queries, SQL_DELIVERED_SINCE, &err)))
		return err;
	bad |= sqlite3_bind_text(stmt, 1, next_hop, -1, SQLITE_STATIC) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 2, (sqlite3_int64)since_ms) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 3, (sqlite3_int64)limit) != SQLITE_OK;
	bad |= sqlite3_bind_int64(stmt, 4, (sqlite3_int64)until_ms) != SQLITE_OK;
	if ((err = store_bind_result(store, bad, "delivered since")) < 0) {
		store_reset(stmt);
		return err;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		uint8_t id[STORE_ID_LEN];
		char recipient[STORE_AGENCY_MAX + 1];
		store_copy_blob(id, sizeof(id), stmt, 0);
		store_copy_text(recipient, sizeof(recipient), stmt, 1);
		count++;
		if (fn(arg, id, recipient) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = store_sqlite_error(store, rc, "delivered since");
	store_reset(stmt);
	return err ? err : count;
}

int sqlite_restored_copy(struct store *store, uint64_t *taken_ms)
{
	int err = 0, rc, exists = 0;
	sqlite3_stmt *stmt;

	if (!(stmt = store_stmt(store, &queries, SQL_COPY_EXISTS, &err)))
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		exists = sqlite3_column_int(stmt, 0);
	else
		err = store_sqlite_error(store, rc, "restored copy");
	store_reset(stmt);
	if (err || !exists)
		return err ? err : LIMES_E_NOTFOUND;
	if (!(stmt = store_stmt(store, &queries, SQL_COPY_TIME, &err)))
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*taken_ms = (uint64_t)sqlite3_column_int64(stmt, 0);
	else if (rc == SQLITE_DONE)
		err = LIMES_E_NOTFOUND;
	else
		err = store_sqlite_error(store, rc, "restored copy");
	store_reset(stmt);
	return err;
}

int sqlite_restored_done(struct store *store)
{
	int err = store_write_begin(store);
	sqlite3_stmt *stmt;

	if (err)
		return err;
	if (!(stmt = store_stmt(store, &queries, SQL_COPY_DROP, &err)))
		return err;
	return store_step_done(store, stmt, "restored copy done");
}
