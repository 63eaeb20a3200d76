/*
 * The PostgreSQL backend's part in a neighbour's restore: the deliveries
 * we made to a neighbour since a time, to send again when it asks after
 * restoring an older copy (sqlite_resend.c is the same on SQLite). A
 * PostgreSQL store is backed up with pg_dump, so it carries no copy mark.
 */
#include "pg_int.h"

#include <string.h>

#include "proto/err.h"

enum { SQL_DELIVERED_SINCE, SQL_COUNT_ };

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_DELIVERED_SINCE] = "SELECT message_id, recipient FROM deliveries"
				" WHERE state IN (2, 3, 4) AND done_ms >= $2 AND done_ms < $4 AND state = 2 AND next_hop = $1"
				" ORDER BY done_ms LIMIT $3",
};

static const struct pg_queries queries = { PG_FILE_RESEND, SQL_COUNT_, sql_text };

int pg_delivered_since(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
		       int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg)
{
	struct pg_params p = { 0 };
	PGresult *res;
	int err = 0, n, visited = 0;

	if (!next_hop || !fn || limit == 0 || limit > INT32_MAX || since_ms > INT64_MAX || until_ms > INT64_MAX)
		return LIMES_E_INVAL;
	pg_param_text(&p, next_hop);
	pg_param_i64(&p, (int64_t)since_ms);
	pg_param_i64(&p, (int64_t)limit);
	pg_param_i64(&p, (int64_t)until_ms);
	res = pg_exec(store, &queries, SQL_DELIVERED_SINCE, &p, &err, "delivered since");
	if (!res)
		return err;
	n = PQntuples(res);
	for (int r = 0; r < n; r++) {
		uint8_t id[STORE_ID_LEN];
		char recipient[STORE_AGENCY_MAX + 1];
		pg_copy_bytes(id, sizeof(id), res, r, 0);
		pg_copy_text(recipient, sizeof(recipient), res, r, 1);
		visited++;
		if (fn(arg, id, recipient) != 0)
			break;
	}
	PQclear(res);
	return visited;
}
