/*
 * Private to the store's PostgreSQL backend (pg.c, pg_outbox.c, pg_inbox.c,
 * pg_cases.c, pg_audit.c):
 * the prepared-statement helpers over libpq, parameter and column helpers,
 * the mapping of SQLSTATEs to Limes errors and the unhealthy state, and the
 * backend's implementations of the operations table (backend.h).
 *
 * Like the SQLite backend, each file keeps the SQL of its queries beside the
 * code that binds them (an enum and a static array, described by one
 * struct pg_queries); a query is prepared on the session at its first use.
 * Parameters go as text (integers, names) or binary (bytea); results come
 * back binary, read with pg_i64()/pg_bytes().
 */
#ifndef LIMES_STORE_PG_INT_H
#define LIMES_STORE_PG_INT_H

#include <libpq-fe.h>

#include "backend.h"

/* The largest envelope or receipt either backend stores (SQLite's bind limit
 * is 1e9 bytes, PostgreSQL's bytea 1 GiB): refused before anything is
 * written, so a put never fails half-way on size. */
#define PG_VALUE_MAX 1000000000u

enum pg_file { PG_FILE_CORE, PG_FILE_OUTBOX, PG_FILE_INBOX, PG_FILE_AUDIT, PG_FILE_CASES, PG_FILE_KEYS, PG_FILE_RESEND };

/* One file's queries: sql[i] is the text of its query i (at most 32). */
struct pg_queries {
	enum pg_file file;
	int count;
	const char *const *sql;
};

#define PG_PARAMS_MAX 12

/* Parameters for one statement; values point into the caller's memory or
 * into num[] and must stay valid until the statement ran. */
struct pg_params {
	int n;
	const char *value[PG_PARAMS_MAX];
	int length[PG_PARAMS_MAX];
	int format[PG_PARAMS_MAX];
	char num[PG_PARAMS_MAX][24];
};

void pg_param_i64(struct pg_params *p, int64_t v);
/* NULL s binds SQL NULL. */
void pg_param_text(struct pg_params *p, const char *s);
/* NULL data binds SQL NULL. */
void pg_param_bytes(struct pg_params *p, const void *data, size_t len);

/* Runs query `which` of q with the parameters (NULL: none), preparing it on
 * first use. Returns the result (caller PQclear()s it) or NULL with *err: a
 * failure marks the open transaction failed (PostgreSQL aborts it), and a
 * lost connection, full disk or corruption the store unhealthy for good. */
PGresult *pg_exec(struct store *store, const struct pg_queries *q, int which,
		  const struct pg_params *p, int *err, const char *what);
/* Runs a query that returns no rows; *changed (may be NULL) gets the number
 * of rows it touched. 0 or a Limes error. */
int pg_exec_done(struct store *store, const struct pg_queries *q, int which,
		 const struct pg_params *p, int *changed, const char *what);
/* Runs plain SQL (no parameters, text results); 0 or a Limes error. */
int pg_exec_plain(struct store *store, const char *sql, const char *what);
/* Refuses when unhealthy, else opens the transaction if none is (auto-begin). */
int pg_write_begin(struct store *store);
/* An integer column of any width (binary results); 0 for NULL. */
int64_t pg_i64(const PGresult *res, int row, int col);
/* A bytea column: pointer into the result, and *len (NULL when NULL). */
const uint8_t *pg_bytes(const PGresult *res, int row, int col, size_t *len);
/* Copies a text column into dst (truncated, always terminated). */
void pg_copy_text(char *dst, size_t dst_len, const PGresult *res, int row, int col);
/* Copies a bytea column into dst, zero-filling what it lacks. */
void pg_copy_bytes(uint8_t *dst, size_t dst_len, const PGresult *res, int row, int col);
/* True for an agency id of 1..STORE_AGENCY_MAX bytes. */
bool pg_agency_ok(const char *s);

/* The backend's operations (backend.h). */
int pg_outbox_put(struct store *store, const struct store_message *msg,
		  const struct store_delivery *deliveries, size_t n_deliveries);
int pg_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			   const struct store_delivery *d);
int pg_idempotency_get(struct store *store, const char *client, const char *key,
		       uint8_t id[STORE_ID_LEN]);
int pg_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		  int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
int pg_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
		     uint64_t now_ms, uint64_t next_attempt_ms);
int pg_delivery_reset_hop(struct store *store, const char *next_hop);
int pg_receipt_put(struct store *store, const uint8_t *receipt, size_t len, int64_t *receipt_id);
int pg_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
		     enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
		     int64_t receipt_id);
int pg_deliveries_sent(struct store *store, const int64_t *cursors, size_t n, uint64_t now_ms,
                    uint64_t next_attempt_ms, size_t *marked);
int pg_deliveries_delivered(struct store *store, const int64_t *cursors, size_t n, uint64_t done_ms,
                         int64_t receipt_id, size_t *marked);
int pg_expire_due(struct store *store, uint64_t now_ms);
int pg_expire(struct store *store, uint64_t now_ms,
	      void (*fn)(void *arg, const struct store_expired *e), void *arg);
int pg_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			const uint8_t *envelope, size_t envelope_len, uint64_t expires_ms);
int pg_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		   int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
int pg_outbox_stats_recipient(struct store *store, const char *recipient, uint64_t *queued,
			      uint64_t *oldest_unacked_created_ms);
int pg_delivered_since(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
		       int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg);
int pg_delivery_list(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
		     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
int pg_delivery_reseal(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
		       const uint8_t *envelope, size_t envelope_len);
int pg_delivery_readdress(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
			  const struct store_delivery *to, uint64_t expires_ms);
int pg_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
		    uint64_t *oldest_unacked_created_ms);
int pg_seen_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen);
int pg_inbox_put(struct store *store, const struct store_inbox_entry *entry,
		 uint64_t forget_after_ms);
int pg_seen_put(struct store *store, const uint8_t id[STORE_ID_LEN], const struct store_seen *seen);
int pg_seen_forget(struct store *store, const uint8_t id[STORE_ID_LEN]);
int pg_inbox_list(struct store *store, int64_t after, size_t limit,
		  int (*fn)(void *arg, const struct store_inbox_row *row), void *arg);

/* pg_outbox.c: schema version 5, the envelope in a table of its own. */
extern const char pg_outbox_v5_schema[];
/* pg_cases.c: a case's messages and body retention (store.h); the indexes
 * they use are schema version 2. */
extern const char pg_cases_schema[];
int pg_case_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e);
int pg_case_children(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
		     size_t max, size_t *n);
int pg_purge_bodies(struct store *store, int type, uint64_t cut_ms);

/* pg_audit.c: the audit trail (store.h); its tables are schema version 3. */
extern const char pg_audit_schema[];
int pg_audit_head(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN]);
int pg_audit_append(struct store *store, const struct store_audit_row *row,
		    const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids);
int pg_audit_list(struct store *store, const struct store_audit_filter *f,
		  int (*fn)(void *arg, const struct store_audit_row *row), void *arg);
int pg_audit_checkpoint_put(struct store *store, const struct store_audit_checkpoint *cp);
int pg_audit_checkpoint_last(struct store *store, uint64_t *seq, uint64_t *time_ms);
int pg_audit_checkpoints(struct store *store, uint64_t after_seq,
			 int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
int pg_audit_uncountersigned(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
			     int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
int pg_audit_countersig_put(struct store *store, uint64_t seq, const char *peer,
			    const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms);
int pg_audit_countersigs(struct store *store, uint64_t seq,
			 int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
				   uint64_t time_ms),
			 void *arg);
int pg_audit_kept_put(struct store *store, const struct store_audit_kept *k);
int pg_audit_kept_list(struct store *store, const char *peer,
		       int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
int pg_audit_kept_latest(struct store *store, const char *peer, size_t limit,
			 int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
int pg_audit_kept_body(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap, size_t *len);
int pg_message_client(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len);

/* pg_keys.c: key rotation rows (store.h). */
extern const char pg_keys_schema[];
int pg_key_put(struct store *store, const struct store_key_row *row);
int pg_key_list(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg);
extern const char pg_key_notes_schema[];
int pg_key_note_put(struct store *store, const struct store_key_note *note);
int pg_key_note_delete(struct store *store, const char *kind, const char *name);
int pg_key_note_list(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg);
/* Retention parts, run by pg_purge() in its transaction. */
int pg_outbox_purge(struct store *store, uint64_t cut);
int pg_inbox_purge(struct store *store, uint64_t now_ms, uint64_t cut);

#endif
