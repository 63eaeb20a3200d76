/*
 * Private to the store: the table of operations each backend implements
 * (in the spirit of OpenSMTPD's queue_backend.c) and the struct behind the
 * opaque handle. store.c holds the public entry points of store.h and
 * dispatches each through store->ops; sqlite*.c implement the table on an
 * embedded SQLite database, pg*.c on a PostgreSQL server through libpq.
 *
 * Adding an operation: add a pointer here, its public wrapper in store.c,
 * and the function in both backends (docs/store.md, "Adding an operation").
 * A NULL pointer means the backend cannot do it: the wrapper returns
 * LIMES_E_INVAL, so a half-filled table fails loudly, never silently.
 *
 * Each operation gets a non-NULL store; the wrapper checked it. Arguments
 * and return values are exactly those of the store.h function it serves.
 */
#ifndef LIMES_STORE_BACKEND_H
#define LIMES_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
	const char *name;                       /* "sqlite", "postgres" */
	void (*close)(struct store *store);     /* frees the backend's state, not the store */
	int (*check)(struct store *store, bool full);
	/* after a disk-full failure: 0 when the failed transaction is gone and
	 * need_free_bytes are free again (store_recover); NULL: never recovers */
	int (*recover)(struct store *store, uint64_t need_free_bytes);

	int (*begin)(struct store *store);
	int (*commit)(struct store *store);
	void (*rollback)(struct store *store);
	bool (*in_transaction)(const struct store *store);
	int (*mark)(struct store *store);
	int (*mark_keep)(struct store *store);
	void (*mark_undo)(struct store *store);

	int (*outbox_put)(struct store *store, const struct store_message *msg,
			  const struct store_delivery *deliveries, size_t n_deliveries);
	int (*outbox_add_delivery)(struct store *store, const uint8_t id[STORE_ID_LEN],
				   const struct store_delivery *d);
	int (*idempotency_get)(struct store *store, const char *client, const char *key,
			       uint8_t id[STORE_ID_LEN]);
	int (*outbox_due)(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
			  int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
	int (*delivery_sent)(struct store *store, const uint8_t id[STORE_ID_LEN],
			     const char *recipient, uint64_t now_ms, uint64_t next_attempt_ms);
	int (*delivery_reset_hop)(struct store *store, const char *next_hop);
	int (*receipt_put)(struct store *store, const uint8_t *receipt, size_t len,
			   int64_t *receipt_id);
	int (*delivery_done)(struct store *store, const uint8_t id[STORE_ID_LEN],
			     const char *recipient, enum delivery_state state, int reason,
			     const char *detail, uint64_t done_ms, int64_t receipt_id);
	int (*deliveries_sent)(struct store *store, const int64_t *cursors, size_t n,
			       uint64_t now_ms, uint64_t next_attempt_ms, size_t *marked);
	int (*deliveries_delivered)(struct store *store, const int64_t *cursors, size_t n,
				    uint64_t done_ms, int64_t receipt_id, size_t *marked);
	int (*expire_due)(struct store *store, uint64_t now_ms);
	int (*expire)(struct store *store, uint64_t now_ms,
		      void (*fn)(void *arg, const struct store_expired *e), void *arg);
	int (*delivery_requeue)(struct store *store, const uint8_t id[STORE_ID_LEN],
				const char *recipient, const uint8_t *envelope, size_t envelope_len,
				uint64_t expires_ms);
	int (*message_get)(struct store *store, const uint8_t id[STORE_ID_LEN],
			   int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
	int (*outbox_stats)(struct store *store, const char *next_hop, uint64_t *queued,
			    uint64_t *oldest_unacked_created_ms);
	int (*outbox_stats_recipient)(struct store *store, const char *recipient, uint64_t *queued,
				      uint64_t *oldest_unacked_created_ms);
	int (*delivery_list)(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
			     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
	int (*delivery_reseal)(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			       const uint8_t *envelope, size_t envelope_len);
	int (*delivery_readdress)(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
				  const struct store_delivery *to, uint64_t expires_ms);
	int (*delivered_since)(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
			       int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg);
	/* NULL for a backend with its own tools (PostgreSQL: pg_dump), which
	 * has no copy marker either */
	int (*restored_copy)(struct store *store, uint64_t *taken_ms);
	int (*restored_done)(struct store *store);
	/* NULL for a backend with its own tools (PostgreSQL: pg_dump) */
	int (*backup)(struct store *store, const char *out, char *why, size_t why_len);

	int (*seen_get)(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen);
	int (*inbox_put)(struct store *store, const struct store_inbox_entry *entry,
			 uint64_t forget_after_ms);
	int (*seen_put)(struct store *store, const uint8_t id[STORE_ID_LEN],
			const struct store_seen *seen);
	int (*seen_forget)(struct store *store, const uint8_t id[STORE_ID_LEN]);
	int (*inbox_list)(struct store *store, int64_t after, size_t limit,
			  int (*fn)(void *arg, const struct store_inbox_row *row), void *arg);
	int (*purge)(struct store *store, uint64_t now_ms, uint64_t retention_ms);
	/* a case's messages and body retention per type */
	int (*case_get)(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e);
	int (*case_children)(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
			     size_t max, size_t *n);
	int (*purge_bodies)(struct store *store, int type, uint64_t cut_ms);

	/* the audit trail (docs/audit.md): store_audit_* and store_message_client */
	int (*audit_head)(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN]);
	int (*audit_append)(struct store *store, const struct store_audit_row *row,
			    const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids);
	int (*audit_list)(struct store *store, const struct store_audit_filter *f,
			  int (*fn)(void *arg, const struct store_audit_row *row), void *arg);
	int (*audit_checkpoint_put)(struct store *store, const struct store_audit_checkpoint *cp);
	int (*audit_checkpoint_last)(struct store *store, uint64_t *seq, uint64_t *time_ms);
	int (*audit_checkpoints)(struct store *store, uint64_t after_seq,
				 int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
	int (*audit_uncountersigned)(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
				     int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
	int (*audit_countersig_put)(struct store *store, uint64_t seq, const char *peer,
				    const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms);
	int (*audit_countersigs)(struct store *store, uint64_t seq,
				 int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
					   uint64_t time_ms),
				 void *arg);
	int (*audit_kept_put)(struct store *store, const struct store_audit_kept *k);
	int (*audit_kept_list)(struct store *store, const char *peer,
			       int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
	int (*audit_kept_latest)(struct store *store, const char *peer, size_t limit,
				 int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
	int (*audit_kept_body)(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap,
			       size_t *len);
	int (*message_client)(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len);
	/* key rotation (key_row in store.h) */
	int (*key_put)(struct store *store, const struct store_key_row *row);
	int (*key_list)(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg);
	int (*key_note_put)(struct store *store, const struct store_key_note *note);
	int (*key_note_delete)(struct store *store, const char *kind, const char *name);
	int (*key_note_list)(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg);

	/* high availability (docs/availability.md) */
	int (*ha_try_active)(struct store *store, const char *node, const char *api);
	int (*ha_active_node)(struct store *store, char *node, size_t node_len, char *api,
			      size_t api_len);
	int (*ping)(struct store *store);
	/* the SQLite WAL and its checkpointer (NULL: PostgreSQL) */
	int (*wal_stats)(struct store *store, struct store_wal_stats *s);
	int (*wal_limit)(struct store *store, uint32_t frames);
};

/* The cache slots per file of the SQLite backend (store_int.h). */
#define STORE_FILE_STMT_MAX 40
enum store_file {
	STORE_FILE_STORE,   /* sqlite.c: transactions and savepoints */
	STORE_FILE_OUTBOX,  /* sqlite_outbox.c: messages, deliveries, receipts, idempotency */
	STORE_FILE_INBOX,   /* sqlite_inbox.c: inbox rows and the seen set */
	STORE_FILE_AUDIT,   /* audit.c: the audit trail, checkpoints, countersignatures */
	STORE_FILE_CASES,   /* sqlite_cases.c: messages by id and ref across both, body retention */
	STORE_FILE_KEYS,    /* sqlite_keys.c: neighbours' announced and adopted keys, our own rotation */
	STORE_FILE_RESEND,  /* sqlite_resend.c: deliveries to send again after a neighbour's restore */
	STORE_FILE_COUNT_
};

struct sqlite3;
struct sqlite3_stmt;
struct store_ckpt;
struct pg_conn;     /* libpq's PGconn */

/* The handle: the operations, the health state both backends share, and
 * each backend's connection (only the open backend's fields are set). */
struct store {
	const struct store_ops *ops;
	bool healthy;
	int fail_code;           /* what writes return once unhealthy */
	char reason[256];        /* why unhealthy */
	uint64_t undo_generation; /* bumped whenever staged writes are undone */

	/* sqlite backend */
	struct sqlite3 *db;
	struct sqlite3_stmt *stmt[STORE_FILE_COUNT_][STORE_FILE_STMT_MAX]; /* prepared on first use */
	struct store_ckpt *ckpt; /* the WAL checkpointer (sqlite_checkpoint.c), NULL if none */

	/* postgres backend */
	struct pg_conn *pg;
	bool pg_in_tx;           /* BEGIN sent, no COMMIT/ROLLBACK yet */
	bool pg_mark;            /* the request savepoint is set */
	bool pg_ha_active;       /* this session holds the agency's advisory lock */
	char pg_agency[STORE_AGENCY_MAX + 1]; /* names the advisory lock */
	uint32_t pg_prepared[6]; /* per pg file (enum pg_file): bit i, its query i is prepared */
};

/* The two backends' tables. */
extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

/* store_open_pg() in a schema of its own (NULL: the session's search_path). */
struct store *store_open_pg_schema(const char *conninfo, const char *agency, const char *schema,
				   int *err);
/* An existing PostgreSQL store opened for reading by tools (store_open_existing_with()). */
struct store *store_open_pg_reader(const char *conninfo, const char *agency, const char *schema, int *err);

/* The cursors as one text list between `open` and `close`, comma-separated
 * ("[1,2]" for SQLite's json_each, "{1,2}" for a PostgreSQL bigint[]): one
 * statement then marks them all. Returns a malloc'd string the caller frees,
 * or NULL (out of memory, or n == 0). */
char *store_cursor_list(const int64_t *cursors, size_t n, char open, char close);

/* Marks the store unhealthy for good with `reason` (logged once); later
 * writes return `code`. The backend rolls back its own transaction. */
void store_set_failed(struct store *store, int code, const char *reason);

#endif
