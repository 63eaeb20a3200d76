/*
 * The durable store: one SQLite database (WAL, synchronous=FULL) in the data
 * folder, or one PostgreSQL database (synchronous_commit on) that every node
 * of an agency shares, holding the outbox with per-recipient delivery state, the inbox with
 * the durable seen-id set, receipts and idempotency keys.
 *
 * Writes are staged inside a transaction opened by store_begin() and made
 * durable together by store_commit() (group commit): callers acknowledge
 * anything only after store_commit() returned 0. Any I/O, fsync or disk-full
 * error makes the store refuse every further write (store_healthy() turns
 * false with the reason); it never reports success for data it could not make
 * durable. Only this module includes sqlite3.h and libpq-fe.h; the two
 * backends sit behind one table of operations (docs/store.md).
 *
 * Message ids are 16 raw bytes. Envelopes and bodies are stored as the sealed
 * bytes they are on the wire: the disk holds ciphertext only.
 *
 * Ownership: the store keeps no pointer it is handed beyond the call (it
 * copies what it stores). What it gives back is either written into memory
 * the caller provides, or a row lent to a callback: the row and every
 * pointer in it are valid only during that callback, which must not call
 * into the store. int functions return 0 or a negative LIMES_E_* error
 * (proto/err.h); those that count say so.
 *
 * One thread (the loop) uses a store; docs/store.md has the schema, the rules
 * and which file holds each query.
 */
#ifndef LIMES_STORE_H
#define LIMES_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ID_LEN 16
#define STORE_HASH_LEN 32
#define STORE_AGENCY_MAX 64
/* ReceiptStatus ACCEPTED, as store_inbox_put() records it in the seen set. */
#define STORE_SEEN_ACCEPTED 1

struct store;

enum delivery_state {
	DELIVERY_QUEUED = 0,    /* waiting to be sent */
	DELIVERY_SENT = 1,      /* sent, no receipt yet */
	DELIVERY_DELIVERED = 2, /* verified receipt: accepted or duplicate */
	DELIVERY_REJECTED = 3,  /* verified rejection, reason kept */
	DELIVERY_EXPIRED = 4,   /* TTL passed undelivered; re-queueable */
};

/* Name of a delivery state ("queued", "sent", ...); static storage. */
const char *store_delivery_state_name(enum delivery_state state);

/* One outgoing message as submitted (shared by all its recipients); the
 * store copies it and its strings. */
struct store_message {
	uint8_t id[STORE_ID_LEN];
	int type;                  /* MessageType value */
	int priority;              /* 0 normal, 1 urgent */
	uint64_t created_ms;
	uint64_t expires_ms;
	bool has_ref;
	uint8_t ref[STORE_ID_LEN];
	const char *client;          /* API client (token name), for idempotency; may be NULL */
	const char *idempotency_key; /* may be NULL */
};

/* One recipient's copy: the envelope sealed to it; the store copies it. */
struct store_delivery {
	const char *recipient;     /* final recipient agency id */
	const char *next_hop;      /* peer the envelope is sent to (recipient, or its relay) */
	const uint8_t *envelope;
	size_t envelope_len;
};

/* A delivery as read back for sending or reporting; lent to a callback:
 * it and its pointers are valid only during the callback. */
struct store_delivery_row {
	uint8_t id[STORE_ID_LEN];
	char recipient[STORE_AGENCY_MAX + 1];
	char next_hop[STORE_AGENCY_MAX + 1];
	int type;
	int priority;
	enum delivery_state state;
	uint64_t created_ms;
	uint64_t expires_ms;
	uint64_t sent_ms;          /* last send, 0 if never */
	uint64_t next_attempt_ms;  /* earliest re-send */
	uint32_t attempts;
	uint64_t done_ms;          /* delivered / rejected / expired time, 0 otherwise */
	int reason;                /* RejectReason when rejected */
	const char *detail;        /* rejection detail or "" */
	const uint8_t *envelope;
	size_t envelope_len;
	const uint8_t *receipt;    /* signed receipt bytes when delivered/rejected, else NULL */
	size_t receipt_len;
	int64_t cursor;            /* the row's place in store_delivery_list() order */
};

/* What store_delivery_list() lists: each filter is off when negative / NULL / 0. */
struct store_list_filter {
	int state;                 /* enum delivery_state, or -1 */
	const char *recipient;     /* final recipient, or NULL */
	int type;                  /* MessageType, or -1 */
	uint64_t since_ms;         /* created at or after, or 0 */
};

/* One received message as handed to store_inbox_put() (the store copies it). */
struct store_inbox_entry {
	uint8_t id[STORE_ID_LEN];
	const char *sender;
	int type;
	int priority;
	uint64_t created_ms;
	uint64_t expires_ms;
	uint64_t received_ms;
	bool has_ref;
	uint8_t ref[STORE_ID_LEN];
	uint8_t envelope_hash[STORE_HASH_LEN];
	const uint8_t *envelope;   /* exact envelope bytes as received */
	size_t envelope_len;
};

/* An inbox row read back; `cursor` increases strictly. Lent to a callback:
 * it and its pointers are valid only during the callback. */
struct store_inbox_row {
	int64_t cursor;
	struct store_inbox_entry entry;
	char sender_buf[STORE_AGENCY_MAX + 1];
};

/* One delivery that expired: id, final recipient, next hop. Lent to the
 * store_expire() callback, valid only during it. */
struct store_expired {
	uint8_t id[STORE_ID_LEN];
	char recipient[STORE_AGENCY_MAX + 1];
	char next_hop[STORE_AGENCY_MAX + 1];
	int type;                  /* MessageType value */
};

/* What the seen-id set remembers of a message id, to answer duplicates with
 * the original receipt entry. Plain values: the caller owns its copy. */
struct store_seen {
	char sender[STORE_AGENCY_MAX + 1];
	uint8_t envelope_hash[STORE_HASH_LEN];
	int status;                /* ReceiptStatus of the original answer */
	int reason;                /* RejectReason, 0 when accepted */
	uint64_t received_ms;
	uint64_t forget_after_ms;  /* kept at least until then */
};

/* Opens (creating if needed) DIR/limes.db; DIR is created mode 0700. Returns
 * NULL and sets *err (may be NULL) on failure. Caller owns the result
 * (store_destroy()); dir is not kept. */
struct store *store_open(const char *dir, int *err);
/* Same, through the named SQLite VFS (NULL: the default); for fault tests.
 * Caller owns the result; dir and vfs_name are not kept. */
struct store *store_open_vfs(const char *dir, const char *vfs_name, int *err);
enum store_backend {
	STORE_BACKEND_SQLITE = 0,   /* DIR/limes.db, one node */
	STORE_BACKEND_POSTGRES = 1, /* a PostgreSQL database, shared by the agency's nodes */
};

/* How to open a store; the strings are read during the call, not kept. */
struct store_settings {
	enum store_backend backend;
	const char *dir;            /* sqlite: the data folder */
	const char *conninfo;       /* postgres: libpq connection string (a secret: never logged) */
	const char *agency;         /* postgres: the agency id, names the advisory lock */
	const char *schema;         /* postgres: NULL, or a schema of its own (created if
				     * missing; [a-z0-9_], 1..48): several agencies on one database */
};

/* What store_wal_check() found in a SQLite WAL (docs/operations.md, "A damaged WAL"). */
struct store_wal_report {
	char path[4096];            /* DIR/limes.db-wal */
	bool header_ok;             /* the header's magic, page size and checksum hold (false: no WAL, or damaged) */
	bool lost;                  /* commits that completed lie past the damage: SQLite would drop them */
	uint64_t frames;            /* whole frames in the file */
	uint64_t replayed;          /* frames SQLite replays (through the last good commit frame) */
	uint64_t bad_frame;         /* 1-based index of the first frame that ends the log early, 0 none */
	uint64_t bad_offset;        /* its byte offset in the file */
	uint64_t end_frame;         /* = bad_frame when that frame only carried an earlier generation's salts */
	uint64_t commits_after;     /* commit frames with the current salts past bad_frame */
};
/* Reads the SQLite store's WAL in the data folder dir (absent: 0, nothing
 * found) without opening the database, and fills *r. 0, or negative LIMES_E_* when the
 * file cannot be read. Keeps nothing. */
int store_wal_check(const char *dir, struct store_wal_report *r);

/* The SQLite store's write-ahead log and its checkpoints (docs/store.md,
 * "Checkpoints"): a thread of the store's own copies the log into the
 * database; a commit that leaves STORE_WAL_LIMIT_FRAMES or more in the log
 * waits for it to catch up, so the log restarts. */
#define STORE_WAL_LIMIT_FRAMES 8192
/* The -wal file the agent's store writes in full (zeros) when it opens it:
 * the bound plus 1,024 frames of 4 KiB pages and the 32-byte header, so that
 * a commit overwrites blocks already in the file instead of growing it (an
 * append's fsync also commits the new size to the file system's journal;
 * docs/store.md, "The WAL written up front"). 37,969,952 bytes. */
#define STORE_WAL_FILL_BYTES ((uint64_t)(STORE_WAL_LIMIT_FRAMES + 1024) * (4096 + 24) + 32)
struct store_wal_stats {
	uint64_t frames;            /* in the log after the last commit */
	uint64_t high_water_frames; /* the most the log held since the store opened */
	uint64_t frame_bytes;       /* bytes per frame: the page and its 24-byte header */
	uint64_t limit_frames;      /* the bound */
	uint64_t checkpointer_checkpoints; /* checkpoints that copied frames, on the checkpointer's thread */
	uint64_t loop_checkpoints;  /* ... on the committing thread: the checkpointer had not caught up */
	uint64_t bound_waits;       /* commits that reached the bound and waited for the checkpointer */
	uint64_t bound_wait_us;     /* the time they waited, in all */
	uint64_t wal_syncs;         /* fsyncs of the -wal file while open (commits, checkpoints) ... */
	uint64_t wal_syncs_skipped; /* ... and those skipped: nothing written since a sync (walbuf.c) */
	uint64_t ckpt_log_reads;    /* frames the checkpointer read from the log ... */
	uint64_t ckpt_log_reads_kept; /* ... of them answered from a window read before (walbuf.c) */
	uint64_t db_syncs_deferred;   /* checkpoints that left the database's sync for later ... */
	uint64_t db_syncs_checkpointer; /* ... syncs of it the checkpointer made later ... */
	uint64_t db_syncs_restart;    /* ... and the committing thread, before the log restarted */
	uint64_t db_sync_owed;        /* 1 while a checkpoint's sync of the database is still owed */
};
/* Fills *s (plain values, the caller's). LIMES_E_INVAL for a store without
 * a checkpointer (PostgreSQL; a SQLite built without the unix-excl VFS). */
int store_wal_stats(struct store *store, struct store_wal_stats *s);
/* Sets the bound to `frames` (> 0) instead of STORE_WAL_LIMIT_FRAMES (tests
 * reach it with little data); 0 or LIMES_E_INVAL as store_wal_stats(). */
int store_wal_limit(struct store *store, uint32_t frames);

/* Opens the store the settings describe. Caller owns the result
 * (store_destroy()); NULL and *err (may be NULL) on failure. */
struct store *store_open_with(const struct store_settings *settings, int *err);
/* Connects to PostgreSQL (libpq conninfo), sets synchronous_commit=on and
 * brings the schema up to date (one node migrates, under a lock). `agency`
 * names the advisory lock of store_ha_try_active(). Caller owns the result;
 * NULL and *err (may be NULL) on failure; nothing is kept. */
struct store *store_open_pg(const char *conninfo, const char *agency, int *err);
/* "sqlite" or "postgres"; static storage. */
const char *store_backend_name(const struct store *store);

/*
 * High availability (docs/availability.md). With PostgreSQL every node of an
 * agency opens the same database; the one whose session holds the agency's
 * advisory lock is active. SQLite is always active (one node).
 */
/* Tries to become the active node without waiting: 1 when this store's
 * session holds the lock (it then records node and api as the active one,
 * committed at once), 0 when another session holds it, or an error (outside
 * any transaction; strings are copied). */
int store_ha_try_active(struct store *store, const char *node, const char *api);
/* The active node as last recorded: 0 and its name and API address in the
 * caller's buffers, LIMES_E_NOTFOUND when none ever was, or an error. */
int store_ha_active_node(struct store *store, char *node, size_t node_len, char *api,
			 size_t api_len);
/* PostgreSQL: a round trip to the database (no transaction open): 0 while
 * the session is alive (and, when active, still holds the lock), else an
 * error and the store turns unhealthy. SQLite has no session: always 0 (a
 * failed disk shows in store_healthy(), the agent stays up to say so). */
int store_ping(struct store *store);

/* Opens an existing DIR/limes.db as it is, for reading by tools (`limes
 * audit verify`): no folder or file is created, no PRAGMA set, no migration
 * run, nothing written. LIMES_E_NOENT when there is no database. Caller owns
 * the result. */
struct store *store_open_existing(const char *dir, int *err);
/* The same for the store the settings describe: SQLite as above; PostgreSQL
 * connects with the session read-only (default_transaction_read_only) and
 * reads from one REPEATABLE READ snapshot, with no schema created and no
 * migration run (LIMES_E_NOENT when the schema holds no Limes store). It
 * may be read while the agent runs. Caller owns the result. */
struct store *store_open_existing_with(const struct store_settings *settings, int *err);
/* Closes the store and frees it; accepts NULL and sets *store to NULL. An
 * open transaction is rolled back. */
void store_destroy(struct store **store);

/* After a disk-full failure only (ENOSPC while writing, no failed fsync, no
 * I/O error): when the store's file system has need_free_bytes free again,
 * drops what remains of the failed transaction and takes writes again.
 * 0 when healthy, LIMES_E_STORE_FULL while still full, or the failure's own
 * code when it cannot recover (an fsync or I/O error, corruption: what was
 * written is in doubt, restart on a good disk). */
int store_recover(struct store *store, uint64_t need_free_bytes);

/* False once an I/O, fsync, full-disk or corruption error happened. */
bool store_healthy(const struct store *store);
/* Why the store is unhealthy ("" when healthy); static or store-owned, valid
 * until store_destroy(). */
const char *store_health_reason(const struct store *store);

/* Runs PRAGMA integrity_check (full) or quick_check: 0 when the database is
 * sound, LIMES_E_STORE_CORRUPT when not, or another error. Reads every page:
 * O(database size). */
int store_check(struct store *store, bool full);

/*
 * Transactions. store_begin() and store_commit() belong to the core's commit
 * module, the one place that decides when a turn's writes become durable;
 * no other module calls them.
 */
/* Opens a write transaction if none is open (nesting is a no-op); 0 or an
 * error. Every write function below also opens one itself when none is open
 * (auto-begin): its change is staged, not durable, until store_commit(). */
int store_begin(struct store *store);
/* Commits the open transaction durably: 0 only when it is on disk (0 too when
 * none is open). On error the transaction is rolled back and the store marked
 * unhealthy when the cause was I/O. */
int store_commit(struct store *store);
/* Abandons the open transaction: nothing staged since store_begin() remains
 * (if even the rollback fails, the store turns unhealthy rather than ever
 * commit it). */
void store_rollback(struct store *store);

/* A number that changes whenever staged writes are undone (rollback, undo
 * to a mark, failure): a cache of what was staged is stale once it moved. */
uint64_t store_undo_generation(const struct store *store);
/* True while a write transaction is open (staged writes wait for a commit). */
bool store_in_transaction(const struct store *store);
/* Marks the current point of the open transaction (opening one if needed),
 * so one caller's writes can be undone without discarding what others
 * staged before; one mark at a time. 0 or an error. */
int store_mark(struct store *store);
/* Keeps what was written since store_mark(): it commits with the rest. 0, or
 * LIMES_E_INVAL when no transaction is open, or an error. */
int store_mark_keep(struct store *store);
/* Undoes what was written since store_mark(), and drops the mark (if the
 * undo fails, the store turns unhealthy rather than ever commit those writes). */
void store_mark_undo(struct store *store);

/* Stages one message and its per-recipient deliveries (state queued); the
 * store copies msg and deliveries. 0, LIMES_E_EXISTS for a known id or
 * idempotency key (nothing written), LIMES_E_INVAL, LIMES_E_TOOBIG, or an error. */
int store_outbox_put(struct store *store, const struct store_message *msg,
		     const struct store_delivery *deliveries, size_t n_deliveries);
/* Stages one more delivery for a message already in the outbox (a relay
 * carrying one message id to several recipients); the store copies d.
 * LIMES_E_NOTFOUND when the message is not there, LIMES_E_EXISTS when that
 * recipient already has it. */
int store_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			      const struct store_delivery *d);
/* Finds the id stored for (client, key): 0 and writes the caller's id, or
 * LIMES_E_NOTFOUND, or an error. */
int store_idempotency_get(struct store *store, const char *client, const char *key,
			  uint8_t id[STORE_ID_LEN]);

/* Calls fn for up to `limit` deliveries to next_hop that are due at now_ms:
 * queued, or sent with next_attempt_ms <= now_ms; urgent first, then oldest
 * (created_ms, then insertion order). Stops early when fn returns non-zero.
 * The row is lent to fn for the call only; fn must not call into the store:
 * collect, then mark sent afterwards. Returns the count visited or a
 * negative error. */
int store_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);
/* Records a send: state sent, attempts+1, sent_ms, next_attempt_ms.
 * LIMES_E_NOTFOUND unless the delivery exists and is queued or sent. */
int store_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			uint64_t now_ms, uint64_t next_attempt_ms);
/* The same for many deliveries in one statement, named by the cursors
 * store_outbox_due() (or store_message_get()) gave for them (the caller's
 * array, read during the call): each queued or sent one gets state sent,
 * attempts+1, sent_ms and next_attempt_ms; others are left alone. *marked (may
 * be NULL) gets how many changed. 0 or an error. */
int store_deliveries_sent(struct store *store, const int64_t *cursors, size_t n, uint64_t now_ms,
			  uint64_t next_attempt_ms, size_t *marked);
/* Makes every sent-but-unreceipted delivery to next_hop due now (after a
 * reconnect): they go back to queued, keeping their attempt count. 0 or an
 * error. */
int store_delivery_reset_hop(struct store *store, const char *next_hop);
/* Stages a copy of the bytes of one verified signed receipt (it may cover
 * many deliveries) and writes its id into the caller's *receipt_id, for
 * store_delivery_done(). 0 or an error. */
int store_receipt_put(struct store *store, const uint8_t *receipt, size_t len, int64_t *receipt_id);
/* Records a verified receipt: delivered or rejected (with reason, detail,
 * copied); receipt_id from store_receipt_put(), or 0 for none. Applies to
 * queued, sent or expired deliveries; a finished one is left as it is and 0
 * returned (a duplicate receipt). LIMES_E_NOTFOUND if none, LIMES_E_INVAL when
 * state is neither delivered nor rejected. */
int store_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
			int64_t receipt_id);
/* The delivered entries of one verified receipt in one statement, by their
 * deliveries' cursors (as store_deliveries_sent()): each queued, sent or
 * expired one becomes delivered at done_ms with receipt_id (0: none); a
 * finished one is left as it is (a duplicate receipt). *marked (may be NULL)
 * gets how many changed. 0 or an error. */
int store_deliveries_delivered(struct store *store, const int64_t *cursors, size_t n,
			       uint64_t done_ms, int64_t receipt_id, size_t *marked);
/* Marks queued/sent deliveries whose expiry is <= now_ms as expired, calling
 * fn (may be NULL) for each after it is staged; the struct is lent to fn for
 * the call only, and fn must not call into the store. Returns the count or a
 * negative error. */
/* 1 when some queued/sent delivery has expires_ms <= now_ms (read only, no
 * transaction), 0 when none, or a negative error. */
int store_expire_due(struct store *store, uint64_t now_ms);
int store_expire(struct store *store, uint64_t now_ms,
		 void (*fn)(void *arg, const struct store_expired *e), void *arg);
/* Puts a finished delivery (expired, rejected, or delivered: sent again
 * after the recipient's restore) back in the queue with a copy of a new
 * envelope (same place in the send order); the caller decides which states
 * it may take. LIMES_E_NOTFOUND if none,
 * LIMES_E_INVAL in another state. */
int store_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			   const uint8_t *envelope, size_t envelope_len, uint64_t expires_ms);
/* Moves a delivery not yet delivered from old_recipient (a name no longer
 * configured: a misspelt section fixed) to to->recipient with its new
 * envelope, queued afresh. LIMES_E_NOTFOUND when there is none. The
 * store copies what it needs. */
int store_delivery_readdress(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
			     const struct store_delivery *to, uint64_t expires_ms);
/* Replaces the envelope of a queued or sent delivery (re-sealed to its
 * recipient's new key). LIMES_E_NOTFOUND when there is none in those states. */
int store_delivery_reseal(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			  const uint8_t *envelope, size_t envelope_len);
/* Calls fn for each recipient's delivery of message id (stops early when fn
 * returns non-zero); each row is lent to fn for the call only. 0,
 * LIMES_E_NOTFOUND if none, or an error. */
int store_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		      int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);

/* Calls fn for up to `limit` deliveries matching f with cursor > after, in
 * cursor order (stops early when fn returns non-zero); each row is lent to
 * fn for the call only. Returns the count visited or a negative error. */
int store_delivery_list(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
			int (*fn)(void *arg, const struct store_delivery_row *row), void *arg);

/* Calls fn with the id and recipient of up to `limit` deliveries to
 * next_hop (addressed to it or relayed through it) delivered at or after
 * since_ms and before until_ms (what a resend sent again and was delivered
 * anew is not taken twice), oldest first (stops early when fn returns non-zero; the
 * recipient is lent for the call, and fn must not call into the store).
 * Returns the count visited or a negative error. */
int store_delivered_since(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
			  int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg);
/* A store opened from a copy store_backup() wrote carries the copy's time
 * until store_restored_done(): 0 with *taken_ms (our clock when the copy
 * was taken), LIMES_E_NOTFOUND for a store that is not (or no longer) a
 * restored copy, or an error. Read only. */
int store_restored_copy(struct store *store, uint64_t *taken_ms);
/* Drops that mark (staged like any write: commit_stage() first), once every
 * neighbour has sent again what it delivered since. 0 or an error. */
int store_restored_done(struct store *store);

/* Writes a consistent copy of the committed database to the absolute path
 * `out` (mode 0600, refused if it exists; written as out.partial, synced,
 * renamed) with SQLite's online backup on the store's connection. No
 * transaction may be open (LIMES_E_AGAIN): the commit module runs it
 * between commits. The copy is marked with the time it was taken, which
 * store_restored_copy() reads once it is restored. 0, or an error with the
 * reason in why. */
int store_backup(struct store *store, const char *out, char *why, size_t why_len);

/* Counts per next hop into the caller's variables (either may be NULL):
 * queued (queued+sent) and the oldest unacknowledged created_ms (0 when
 * none). 0 or an error. */
int store_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
		       uint64_t *oldest_unacked_created_ms);
/* The same figures for one final recipient, whichever hop carries them (a
 * relayed peer's own queue). */
int store_outbox_stats_recipient(struct store *store, const char *recipient, uint64_t *queued,
				 uint64_t *oldest_unacked_created_ms);

/* Looks up a message id in the seen set: 0 and fills the caller's *seen, or
 * LIMES_E_NOTFOUND, or an error. */
int store_seen_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen);
/* Stages a copy of a received message: inbox row and seen id (status
 * accepted). LIMES_E_EXISTS when the id is already in the seen set. */
int store_inbox_put(struct store *store, const struct store_inbox_entry *entry,
		    uint64_t forget_after_ms);
/* Stages a copy of a refused message id into the seen set (so a replay gets
 * the same answer). LIMES_E_EXISTS when the id is there already. */
int store_seen_put(struct store *store, const uint8_t id[STORE_ID_LEN], const struct store_seen *seen);
/* Stages the removal of a seen id: a refused message the sender re-queued
 * under the same id with new, verified bytes gets a fresh hearing. 0 (also
 * when the id was not there) or an error. */
int store_seen_forget(struct store *store, const uint8_t id[STORE_ID_LEN]);
/* Calls fn for up to `limit` inbox rows with cursor > after, in cursor order
 * (stops early when fn returns non-zero); each row is lent to fn for the call
 * only. Returns the count visited or a negative error. */
int store_inbox_list(struct store *store, int64_t after, size_t limit,
		     int (*fn)(void *arg, const struct store_inbox_row *row), void *arg);
/* Stages the forgetting of seen ids with forget_after_ms <= now_ms, inbox
 * rows received and finished deliveries done at or before now_ms -
 * retention_ms, and messages left without deliveries. Queued and sent
 * deliveries are kept. 0 or an error. */
int store_purge(struct store *store, uint64_t now_ms, uint64_t retention_ms);

/* ------------------------------------------------------------ audit trail
 * (audit.c on SQLite, pg_audit.c on PostgreSQL: the same tables, the same
 * bytes). The store keeps the bytes and hashes it is given; core/audit.c
 * decides what is recorded and crypto/audit.c builds and signs the bytes. */

#define STORE_SIG_LEN 64

/* One audit entry: written by store_audit_append() (copied), or lent to a
 * store_audit_list() callback (valid only during it). */
struct store_audit_row {
	uint64_t seq;              /* 1, 2, 3, ... without gaps */
	uint64_t time_ms;
	int kind;                  /* enum audit_kind */
	const uint8_t *bytes;      /* the entry as hashed */
	size_t len;
	uint8_t hash[STORE_HASH_LEN];
	size_t hash_len;           /* as stored (32 unless tampered with) */
};

/* Which entries store_audit_list() visits. Zero fields do not filter. */
struct store_audit_filter {
	uint64_t from_seq;
	uint64_t since_ms;
	uint64_t until_ms;         /* 0: no upper bound */
	bool has_id;
	uint8_t id[STORE_ID_LEN];  /* entries naming this message id */
	size_t limit;              /* 0: all */
};

/* One of our checkpoints (a signed chain head); copied when put, lent when listed. */
struct store_audit_checkpoint {
	uint64_t seq;
	uint64_t time_ms;
	uint8_t head[STORE_HASH_LEN];
	const uint8_t *body;       /* the signed checkpoint body */
	size_t body_len;
	uint8_t sig[STORE_SIG_LEN];
};

/* A neighbour's checkpoint we verified and countersigned, kept as evidence. */
struct store_audit_kept {
	const char *peer;
	char peer_buf[STORE_AGENCY_MAX + 1];
	uint64_t seq;
	const uint8_t *body;
	size_t body_len;
	uint8_t sig[STORE_SIG_LEN];
	uint8_t countersig[STORE_SIG_LEN];
	uint64_t time_ms;
};

/* The last entry's seq and hash into the caller's variables (0 and zeros
 * when the trail is empty). Sees what the open transaction staged. */
int store_audit_head(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN]);
/* Stages a copy of one entry and an index row for each message id it names
 * (ids may be NULL when n_ids is 0). LIMES_E_EXISTS when the seq is taken. */
int store_audit_append(struct store *store, const struct store_audit_row *row,
		       const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids);
/* Calls fn for each entry matching f in seq order (stops when fn returns
 * non-zero); rows are lent for the call, fn must not call into the store.
 * Returns the count visited or a negative error. */
int store_audit_list(struct store *store, const struct store_audit_filter *f,
		     int (*fn)(void *arg, const struct store_audit_row *row), void *arg);
/* Stages a copy of a checkpoint. LIMES_E_EXISTS when one has that seq. */
int store_audit_checkpoint_put(struct store *store, const struct store_audit_checkpoint *cp);
/* The last checkpoint's seq and time into the caller's variables (0, 0 when none). */
int store_audit_checkpoint_last(struct store *store, uint64_t *seq, uint64_t *time_ms);
/* Calls fn for each checkpoint with seq > after_seq, in order; lent rows.
 * Returns the count visited or a negative error. */
int store_audit_checkpoints(struct store *store, uint64_t after_seq,
			    int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
/* Same, for up to `limit` checkpoints after after_seq that `peer` has not
 * countersigned yet. */
int store_audit_uncountersigned(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
				int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg);
/* Stages a copy of peer's countersignature of our checkpoint seq (a repeat is ignored). */
int store_audit_countersig_put(struct store *store, uint64_t seq, const char *peer,
			       const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms);
/* Calls fn for each countersignature of checkpoint seq; lent values. Count or error. */
int store_audit_countersigs(struct store *store, uint64_t seq,
			    int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
				      uint64_t time_ms),
			    void *arg);
/* The API client that submitted message id (its name into buf; "" when
 * none was recorded): 0, LIMES_E_NOTFOUND or an error. */
int store_message_client(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len);
/* Stages a copy of a neighbour's checkpoint we countersigned (a repeat is ignored). */
int store_audit_kept_put(struct store *store, const struct store_audit_kept *k);
/* Calls fn for each kept checkpoint of peer (NULL: of every peer), by peer
 * then seq; lent rows. Count or error. */
int store_audit_kept_list(struct store *store, const char *peer,
			  int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
/* The same for the newest `limit` kept checkpoints of peer, visited in seq
 * order (what a neighbour asking for its own gets). Count or error. */
int store_audit_kept_latest(struct store *store, const char *peer, size_t limit,
			    int (*fn)(void *arg, const struct store_audit_kept *k), void *arg);
/* The body of peer's kept checkpoint seq, copied into the caller's body
 * (at most cap bytes, *len set): 0, LIMES_E_NOTFOUND or an error. Sees what
 * the open transaction staged. */
int store_audit_kept_body(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap,
			  size_t *len);
/* ------------------------------------------------------------ cases and body retention */

/* One message of a case, sent or received, as store_case_get() finds it:
 * plain values, the caller's copy. */
struct store_case_entry {
	uint8_t id[STORE_ID_LEN];
	bool received;             /* in the inbox (else in the outbox) */
	int type;
	char sender[STORE_AGENCY_MAX + 1]; /* for received messages; "" for ours */
	uint64_t created_ms;
	uint64_t received_ms;      /* received messages only */
	bool has_ref;
	uint8_t ref[STORE_ID_LEN];
	bool body_purged;          /* past its retention: id and hash kept, body gone */
};

/* Finds message id in the outbox or, failing that, the inbox: 0 and fills
 * the caller's *e, LIMES_E_NOTFOUND, or an error. */
int store_case_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e);
/* Writes into the caller's ids[] up to max ids of messages (sent or
 * received) whose ref is `ref`; *n says how many. 0 or an error. */
int store_case_children(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
			size_t max, size_t *n);
/* Stages the purge of the bodies of messages of `type` received, or
 * finished (delivered, rejected, expired), at or before cut_ms: the
 * envelope bytes go, the rows with ids, states and hashes stay. Queued and
 * sent deliveries keep theirs. Returns the count of bodies purged or an error. */
int store_purge_bodies(struct store *store, int type, uint64_t cut_ms);

/* ------------------------------------------------------------ key rotation */

/* What this agent knows of one agency's keys beyond its configuration (a
 * neighbour's announced and adopted keys), or of its own (peer = our id):
 * keys as public identity lines ("" for none). docs/store.md, "peer_keys". */
#define STORE_KEY_LINE_MAX 127
enum store_key_state { STORE_KEY_NONE = 0, STORE_KEY_OFFERED = 1, STORE_KEY_ADOPTED = 2 };
struct store_key_row {
	char peer[STORE_AGENCY_MAX + 1];
	char base_line[STORE_KEY_LINE_MAX + 1];     /* the configured key this grew from: a config that names another wins */
	char current_line[STORE_KEY_LINE_MAX + 1];  /* the key in force ("" = the configured one) */
	char next_line[STORE_KEY_LINE_MAX + 1];     /* the announced next key, "" none */
	int next_state;                             /* enum store_key_state of next_line */
	uint64_t seq;                               /* highest announcement sequence taken */
	uint64_t announced_ms;                      /* the announcement's time */
	uint64_t changed_ms;                        /* when the row last changed */
	char changed_by[STORE_AGENCY_MAX + 1];      /* "auto", a client name, "" */
	char previous_line[STORE_KEY_LINE_MAX + 1]; /* the key the current one replaced, "" none */
	uint64_t previous_until_ms;                 /* it stays valid for receiving until then */
};
/* Inserts or replaces the row of row->peer (in the open transaction). */
int store_key_put(struct store *store, const struct store_key_row *row);
/* Calls fn for every row (peer order); stops at fn's first non-zero return,
 * which it returns. */
int store_key_list(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg);

/* A note of our own rotation that must outlive a restart (docs/store.md,
 * "key_notes"): a direct neighbour's answer to our announcement (kind
 * STORE_NOTE_ACK, name = the peer, line = the next key answered, seq = the
 * announcement's, state = enum store_key_state), or one of our replaced
 * keys kept in the key ring (kind STORE_NOTE_RING, name = its key id in
 * hex, line = its public line, at_ms = when it was replaced, until_ms =
 * the end of its overlap), or a neighbour's key replaced over the link
 * (kind STORE_NOTE_THEIRS, name = "PEER/KEYID", line = its public line,
 * at_ms, until_ms as for the ring). */
#define STORE_NOTE_ACK "ack"
#define STORE_NOTE_RING "ring"
#define STORE_NOTE_THEIRS "theirs"
/* Our announcement queued in an envelope to a peer behind a relay (name =
 * the peer, line = the next key, seq = the announcement's): queued once. */
#define STORE_NOTE_RELAYED "relayed"
struct store_key_note {
	char kind[8];
	char name[STORE_AGENCY_MAX + 18];
	char line[STORE_KEY_LINE_MAX + 1];
	uint64_t seq;
	int state;
	uint64_t at_ms;
	uint64_t until_ms;
};
/* Inserts or replaces the note (kind, name) (in the open transaction). */
int store_key_note_put(struct store *store, const struct store_key_note *note);
/* Deletes the note (kind, name), if any (in the open transaction). */
int store_key_note_delete(struct store *store, const char *kind, const char *name);
/* Calls fn for every note (kind, name order); stops at fn's first non-zero
 * return, which it returns. */
int store_key_note_list(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg);

#endif
