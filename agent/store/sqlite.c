/*
 * The SQLite backend's core: opening the database (folder and file modes, PRAGMAs,
 * schema and migrations), the prepared-statement cache, transactions (group
 * commit) and the health state that turns any I/O, fsync, full-disk or
 * corruption error into a permanent refusal to write, and the retention entry
 * point that runs each file's purge, and the backend's table of operations.
 * Outbox operations and their SQL live in sqlite_outbox.c, inbox and seen-set
 * operations and theirs in sqlite_inbox.c.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "proto/err.h"
#include "base/log.h"

#define STORE_DB_NAME "limes.db"
/* SQLite's unix VFS that holds the database file for this process alone and
 * keeps the WAL index in its heap: several connections of the process, no
 * -shm file, no lock system calls (sqlite_checkpoint.c). */
#define STORE_VFS "unix-excl"
/* quick_check reads every page: run it at open only below this size. */
#define STORE_QUICK_CHECK_MAX_BYTES (64LL * 1024 * 1024)

/* The statements of this file: transactions and the savepoint behind
 * store_mark(). The other queries live beside their code in outbox.c and
 * inbox.c. */
enum {
	SQL_BEGIN,
	SQL_COMMIT,
	SQL_ROLLBACK,
	SQL_SAVEPOINT,
	SQL_RELEASE,
	SQL_ROLLBACK_TO,
	SQL_COUNT_
};
_Static_assert(SQL_COUNT_ <= STORE_FILE_STMT_MAX, "raise STORE_FILE_STMT_MAX");

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_BEGIN] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_SAVEPOINT] = "SAVEPOINT request",
	[SQL_RELEASE] = "RELEASE request",
	[SQL_ROLLBACK_TO] = "ROLLBACK TO request",
};

static const struct store_queries queries = { STORE_FILE_STORE, SQL_COUNT_, sql_text };

/*
 * Schema version 1. Messages and deliveries are keyed by an integer sequence
 * so inserts append to their B-trees; only the random 16-byte ids (messages.id,
 * seen.message_id) land at random places. The partial indexes hold only the
 * rows a hot query needs: queued rows in send order, in-flight rows by retry
 * time, pending rows by expiry, finished rows by finish time. `state` sits in
 * the queue indexes (constant in each) so counting a hop's queue reads the
 * index alone.
 */
static const char schema_v1[] =
	"CREATE TABLE messages ("
	" seq INTEGER PRIMARY KEY,"
	" id BLOB NOT NULL UNIQUE,"
	" type INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" ref BLOB,"
	" client TEXT,"
	" idempotency_key TEXT);"
	"CREATE UNIQUE INDEX messages_idempotency ON messages(client, idempotency_key)"
	" WHERE idempotency_key IS NOT NULL;"
	"CREATE TABLE deliveries ("
	" msg INTEGER NOT NULL,"
	" recipient TEXT NOT NULL,"
	" message_id BLOB NOT NULL,"
	" next_hop TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" type INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" sent_ms INTEGER NOT NULL DEFAULT 0,"
	" next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
	" done_ms INTEGER NOT NULL DEFAULT 0,"
	" reason INTEGER NOT NULL DEFAULT 0,"
	" detail TEXT NOT NULL DEFAULT '',"
	" receipt_id INTEGER,"      /* receipts.id: one signed receipt covers a batch */
	" envelope BLOB NOT NULL,"
	" PRIMARY KEY (msg, recipient));"
	"CREATE TABLE receipts ("
	" id INTEGER PRIMARY KEY,"
	" bytes BLOB NOT NULL);"
	"CREATE INDEX deliveries_queued ON deliveries(next_hop, state, priority DESC, created_ms)"
	" WHERE state = 0;"
	"CREATE INDEX deliveries_sent ON deliveries(next_hop, state, next_attempt_ms, created_ms)"
	" WHERE state = 1;"
	"CREATE INDEX deliveries_expiry ON deliveries(expires_ms) WHERE state IN (0, 1);"
	"CREATE INDEX deliveries_done ON deliveries(done_ms) WHERE state IN (2, 3, 4);"
	"CREATE TABLE inbox ("
	" cursor INTEGER PRIMARY KEY AUTOINCREMENT,"
	" message_id BLOB NOT NULL,"
	" sender TEXT NOT NULL,"
	" type INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" received_ms INTEGER NOT NULL,"
	" ref BLOB,"
	" envelope_hash BLOB NOT NULL,"
	" envelope BLOB NOT NULL);"
	"CREATE INDEX inbox_received ON inbox(received_ms);"
	"CREATE TABLE seen ("
	" message_id BLOB PRIMARY KEY,"
	" sender TEXT NOT NULL,"
	" envelope_hash BLOB NOT NULL,"
	" status INTEGER NOT NULL,"
	" reason INTEGER NOT NULL,"
	" received_ms INTEGER NOT NULL,"
	" forget_after_ms INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX seen_forget ON seen(forget_after_ms);";

/*
 * Version 2: a case's exchange and body retention per type. The ref indexes
 * hold only messages that answer another (random keys, but only replies pay
 * for them); the body indexes hold only rows whose body is still there, in
 * (type, time) order, so a purge reads exactly what it empties.
 */
static const char schema_v2[] =
	"CREATE INDEX messages_ref ON messages(ref) WHERE ref IS NOT NULL;"
	"CREATE INDEX inbox_ref ON inbox(ref) WHERE ref IS NOT NULL;"
	"CREATE INDEX inbox_body ON inbox(type, received_ms) WHERE length(envelope) > 0;"
	"CREATE INDEX deliveries_body ON deliveries(type, done_ms)"
	" WHERE state IN (2, 3, 4) AND length(envelope) > 0;";

/*
 * Version 4: fewer pages per commit (docs/benchmarks.md, "Half the CPU: the
 * store"). No query reads audit_time (the trail is listed by seq), yet every
 * audit entry paid for it. The expiry index was partial on `state IN (0, 1)`,
 * so marking a delivery sent (state 0 -> 1) rewrote its entry for nothing:
 * keyed on `done_ms = 0` instead (the same rows: done_ms is set exactly when
 * a delivery leaves states 0 and 1, and cleared when it is queued again), the
 * sent mark no longer touches it. Its queries still say `state IN (0, 1)`.
 */
static const char schema_v4[] =
	"DROP INDEX audit_time;"
	"DROP INDEX deliveries_expiry;"
	"CREATE INDEX deliveries_expiry ON deliveries(expires_ms) WHERE done_ms = 0;";

/* migrations[v] brings a database from user_version v to v + 1. */
static const char *const migrations[] = { schema_v1, schema_v2, store_audit_schema, schema_v4, store_keys_schema,
					  store_outbox_v6_schema, store_key_notes_schema, store_outbox_v8_schema };
#define STORE_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static bool is_fatal_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		return true;
	default:
		return false;
	}
}

static int limes_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_FULL:
		return LIMES_E_STORE_FULL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return LIMES_E_STORE_CORRUPT;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return LIMES_E_STORE_FAILED;
	case SQLITE_CONSTRAINT:
		return LIMES_E_EXISTS;
	case SQLITE_NOMEM:
		return LIMES_E_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return LIMES_E_AGAIN;
	case SQLITE_TOOBIG:
		return LIMES_E_TOOBIG;
	default:
		return LIMES_E_IO;
	}
}

/* Names the system call behind an extended I/O error, for the reason text. */
static const char *ioerr_detail(int rc)
{
	switch (rc) {
	case SQLITE_IOERR_FSYNC: return " (fsync)";
	case SQLITE_IOERR_DIR_FSYNC: return " (directory fsync)";
	case SQLITE_IOERR_WRITE: return " (write)";
	case SQLITE_IOERR_READ: return " (read)";
	case SQLITE_IOERR_SHORT_READ: return " (short read)";
	case SQLITE_IOERR_TRUNCATE: return " (truncate)";
	case SQLITE_IOERR_FSTAT: return " (fstat)";
	case SQLITE_IOERR_SHMOPEN:
	case SQLITE_IOERR_SHMSIZE:
	case SQLITE_IOERR_SHMMAP: return " (shared memory)";
	default: return "";
	}
}

void store_fail(struct store *store, int code, const char *reason)
{
	if (!store->healthy)
		return;
	store_set_failed(store, code, reason);
	/* Whatever the transaction staged is not durable: drop all of it. Should
	 * even that fail, nothing can commit it: every write and commit is
	 * refused from now on. */
	if (store->db && !sqlite3_get_autocommit(store->db) &&
	    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		log_error("store rollback after failure failed: %s", sqlite3_errmsg(store->db));
}

/* SQLite rolls a statement or commit that ran out of room back, and the WAL
 * ignores frames after its last commit frame: after ENOSPC nothing
 * acknowledged is in doubt (store.c refuses any other failure). */
static int sqlite_recover(struct store *store, uint64_t need_free_bytes)
{
	struct statvfs vfs;
	const char *file = sqlite3_db_filename(store->db, "main");

	if (!file || statvfs(file, &vfs) < 0 || (uint64_t)vfs.f_bavail * vfs.f_frsize < need_free_bytes)
		return LIMES_E_STORE_FULL;
	if (!sqlite3_get_autocommit(store->db) && sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		return LIMES_E_STORE_FULL;
	return 0;
}

static void mark_unhealthy(struct store *store, int rc, const char *what)
{
	char reason[sizeof(store->reason)];

	snprintf(reason, sizeof(reason), "%s failed: %s%s", what, sqlite3_errstr(rc),
		 ioerr_detail(rc));
	store_fail(store, limes_code(rc), reason);
}

int store_sqlite_error(struct store *store, int rc, const char *what)
{
	if (is_fatal_code(rc)) {
		mark_unhealthy(store, rc, what);
		return store->fail_code;
	}
	if ((rc & 0xff) != SQLITE_CONSTRAINT)
		log_warn("store %s failed: %s (%d)", what, sqlite3_errmsg(store->db), rc);
	return limes_code(rc);
}

sqlite3_stmt *store_stmt(struct store *store, const struct store_queries *file_queries, int which,
			 int *err)
{
	const struct store_queries *q = file_queries;
	sqlite3_stmt **slot;
	int rc;

	/* A broken invariant of the calling file, never a runtime condition. */
	if (which < 0 || which >= q->count || q->count > STORE_FILE_STMT_MAX) {
		log_error("store query %d of file %d out of range", which, (int)q->file);
		*err = LIMES_E_INVAL;
		return NULL;
	}
	slot = &store->stmt[q->file][which];
	if (*slot)
		return *slot;
	rc = sqlite3_prepare_v3(store->db, q->sql[which], -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
	if (rc != SQLITE_OK) {
		log_error("store prepare failed: %s sql=\"%s\"", sqlite3_errmsg(store->db),
			  q->sql[which]);
		*err = store_sqlite_error(store, rc, "prepare");
		if (*err == 0)
			*err = LIMES_E_IO;
		*slot = NULL;
		return NULL;
	}
	return *slot;
}

void store_reset(sqlite3_stmt *stmt)
{
	/* sqlite3_reset() returns the error of the statement's last step again;
	 * the caller handled that step's result already. */
	(void)sqlite3_reset(stmt);
}

int store_bind_result(struct store *store, bool failed, const char *what)
{
	int err;

	if (!failed)
		return 0;
	err = store_sqlite_error(store, sqlite3_extended_errcode(store->db), what);
	return err ? err : LIMES_E_IO;
}

int store_step_done(struct store *store, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);
	int err = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = store_sqlite_error(store, rc, what);
	store_reset(stmt);
	return err;
}

/* Runs one of this file's statements; 0 or a Limes error. */
static int run(struct store *store, int which, const char *what)
{
	int err = 0;
	sqlite3_stmt *stmt = store_stmt(store, &queries, which, &err);

	if (!stmt)
		return err;
	return store_step_done(store, stmt, what);
}

bool store_agency_ok(const char *s)
{
	size_t len;

	if (!s)
		return false;
	len = strnlen(s, STORE_AGENCY_MAX + 1);
	return len > 0 && len <= STORE_AGENCY_MAX;
}

void store_copy_text(char *dst, size_t dst_len, sqlite3_stmt *stmt, int col)
{
	const unsigned char *text = sqlite3_column_text(stmt, col);
	size_t len = text ? (size_t)sqlite3_column_bytes(stmt, col) : 0;

	if (len >= dst_len)
		len = dst_len - 1;
	if (len)
		memcpy(dst, text, len);
	dst[len] = '\0';
}

void store_copy_blob(uint8_t *dst, size_t dst_len, sqlite3_stmt *stmt, int col)
{
	const void *blob = sqlite3_column_blob(stmt, col);
	size_t len = (size_t)sqlite3_column_bytes(stmt, col);

	memset(dst, 0, dst_len);
	if (blob)
		memcpy(dst, blob, len < dst_len ? len : dst_len);
}

int sqlite_begin(struct store *store)
{
	if (!store)
		return LIMES_E_INVAL;
	sqlite_ckpt_health(store);
	if (!store->healthy)
		return store->fail_code;
	if (!sqlite3_get_autocommit(store->db))
		return 0;
	int err = run(store, SQL_BEGIN, "begin");
	sqlite_ckpt_writer(store, !sqlite3_get_autocommit(store->db));
	return err;
}

int store_write_begin(struct store *store)
{
	return sqlite_begin(store);
}

int sqlite_commit(struct store *store)
{
	int err;

	if (!store)
		return LIMES_E_INVAL;
	sqlite_ckpt_health(store);
	if (!store->healthy)
		return store->fail_code;
	if (sqlite3_get_autocommit(store->db))
		return 0;
	err = run(store, SQL_COMMIT, "commit");
	/* A failed COMMIT may leave the transaction open: never keep it. */
	if (err != 0 && !sqlite3_get_autocommit(store->db))
		sqlite_rollback(store);
	sqlite_ckpt_writer(store, !sqlite3_get_autocommit(store->db));
	if (err == 0)
		sqlite_ckpt_after_commit(store);
	return err;
}

bool sqlite_in_transaction(const struct store *store)
{
	return store && !sqlite3_get_autocommit(store->db);
}

int sqlite_mark(struct store *store)
{
	int err;
	if (!store)
		return LIMES_E_INVAL;
	if (!store->healthy)
		return store->fail_code;
	err = store_write_begin(store);
	return err ? err : run(store, SQL_SAVEPOINT, "savepoint");
}

int sqlite_mark_keep(struct store *store)
{
	if (!store || sqlite3_get_autocommit(store->db))
		return LIMES_E_INVAL;
	return run(store, SQL_RELEASE, "release savepoint");
}

void sqlite_mark_undo(struct store *store)
{
	int err;

	if (!store || sqlite3_get_autocommit(store->db))
		return;
	/* Writes that should be undone must never be committed with the rest:
	 * if they cannot be undone, the store refuses to commit anything. */
	err = run(store, SQL_ROLLBACK_TO, "rollback to savepoint");
	if (err) {
		store_fail(store, LIMES_E_STORE_FAILED, "undo to a mark failed");
		return;
	}
	/* The writes are gone; a mark left behind only nests the next one. */
	err = run(store, SQL_RELEASE, "release savepoint");
	if (err)
		log_warn("store release after undo failed: %s", limes_strerror(err));
}

void sqlite_rollback(struct store *store)
{
	int err;

	if (!store || sqlite3_get_autocommit(store->db))
		return;
	err = run(store, SQL_ROLLBACK, "rollback");
	/* Abandoned writes must never be committed by a later store_commit(). */
	if (err && !sqlite3_get_autocommit(store->db))
		store_fail(store, LIMES_E_STORE_FAILED, "rollback failed");
	sqlite_ckpt_writer(store, !sqlite3_get_autocommit(store->db));
}

void store_undo(struct store *store, const struct store_queries *undo_queries, int which,
		int64_t seq, const uint8_t *id)
{
	int err = 0;
	sqlite3_stmt *stmt;

	/* After an I/O error the whole transaction is already gone. */
	if (!store->healthy || sqlite3_get_autocommit(store->db))
		return;
	stmt = store_stmt(store, undo_queries, which, &err);
	if (stmt) {
		if (id)
			err = sqlite3_bind_blob(stmt, 1, id, STORE_ID_LEN, SQLITE_STATIC);
		else
			err = sqlite3_bind_int64(stmt, 1, seq);
		err = err == SQLITE_OK ? store_step_done(store, stmt, "undo") : LIMES_E_IO;
	}
	if (err)
		store_fail(store, LIMES_E_STORE_FAILED, "undo of a half-written put failed");
}

/* Retention spans both halves of the store: each file purges its own tables
 * with its own queries, inside the one transaction opened here. */
int sqlite_purge(struct store *store, uint64_t now_ms, uint64_t retention_ms)
{
	uint64_t cut = now_ms > retention_ms ? now_ms - retention_ms : 0;
	int err;

	if (!store)
		return LIMES_E_INVAL;
	err = store_write_begin(store);
	if (!err)
		err = store_inbox_purge(store, now_ms, cut);
	if (!err)
		err = store_outbox_purge(store, cut);
	return err;
}

/* Creates DIR mode 0700, or tightens an existing one that is wider. */
static int make_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		int err = limes_from_errno(errno);

		log_error("store cannot create folder %s: %s", dir, strerror(errno));
		return err;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_error("store path %s is not a folder", dir);
		return LIMES_E_IO;
	}
	if ((st.st_mode & 077) != 0) {
		log_warn("store folder %s was mode %03o: setting 0700", dir,
			 (unsigned)(st.st_mode & 0777));
		if (chmod(dir, 0700) != 0) {
			int err = limes_from_errno(errno);

			log_error("store cannot chmod %s: %s", dir, strerror(errno));
			return err;
		}
	}
	return 0;
}

/* Creates the database file 0600 before SQLite does (it would use 0644 and
 * give the WAL and shm files the same mode). */
static int make_db_file(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int err = 0;

	if (fd < 0) {
		err = limes_from_errno(errno);
		log_error("store cannot open %s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_error("store database %s is not a regular file", path);
		err = LIMES_E_IO;
		goto out;
	}
	if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
		err = limes_from_errno(errno);
		log_error("store cannot chmod %s: %s", path, strerror(errno));
	}
out:
	/* Nothing was written through fd: a failed close loses no data. */
	if (close(fd) != 0)
		log_warn("store close of %s failed: %s", path, strerror(errno));
	return err;
}

static int exec(struct store *store, const char *sql, const char *what)
{
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		log_error("store %s failed: %s", what, sqlite3_errmsg(store->db));
		int err = store_sqlite_error(store, rc, what);
		return err ? err : LIMES_E_IO;
	}
	return 0;
}

/* Runs a one-row PRAGMA query; copies the first column's text into out. */
static int pragma_text(struct store *store, const char *sql, char *out, size_t out_len)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
	int err = 0;

	if (rc != SQLITE_OK) {
		err = store_sqlite_error(store, rc, sql);
		goto out;
	}
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		err = rc == SQLITE_DONE ? LIMES_E_IO : store_sqlite_error(store, rc, sql);
		goto out;
	}
	const unsigned char *text = sqlite3_column_text(stmt, 0);
	snprintf(out, out_len, "%s", text ? (const char *)text : "");
out:
	/* sqlite3_finalize() repeats the last step's error, handled above. */
	(void)sqlite3_finalize(stmt);
	return err;
}

static int configure(struct store *store, bool process_vfs)
{
	char mode[16];
	int err = 0;

	if (sqlite3_extended_result_codes(store->db, 1) != SQLITE_OK ||
	    sqlite3_busy_timeout(store->db, 250) != SQLITE_OK) {
		log_error("store cannot configure the connection: %s", sqlite3_errmsg(store->db));
		return LIMES_E_IO;
	}
	/* One agent owns the store (the agent also holds a flock on the data
	 * folder): exclusive locking keeps the WAL index in our own memory and
	 * spares two fcntl() calls per read. Set before WAL is first used.
	 * STORE_VFS does the same for the whole process, so that the
	 * checkpointer's connection can share the file: then normal locking. */
	if (!process_vfs)
		err = exec(store, "PRAGMA locking_mode=EXCLUSIVE;", "configure");
	if (err)
		return err;
	err = pragma_text(store, "PRAGMA journal_mode=WAL", mode, sizeof(mode));
	if (err)
		return err;
	if (strcmp(mode, "wal") != 0) {
		log_error("store cannot use WAL journal mode (got %s)", mode);
		return LIMES_E_IO;
	}
	/* FULL: the WAL is fsynced at every commit (what lets the
	 * checkpointer skip its own sync of the WAL, walbuf.c). Foreign keys stay off: the
	 * store writes parent and child rows itself, and checks cost a lookup. */
	return exec(store,
		    "PRAGMA synchronous=FULL;"
		    /* 8 MiB page cache: RSS stays flat however long the queue. */
		    "PRAGMA cache_size=-8192;"
		    "PRAGMA mmap_size=0;"
		    "PRAGMA temp_store=MEMORY;"
		    "PRAGMA foreign_keys=OFF;"
		    "PRAGMA journal_size_limit=67108864;",
		    "configure");
}

static int migrate(struct store *store)
{
	char text[32];
	int err = pragma_text(store, "PRAGMA user_version", text, sizeof(text));
	long version;
	char *end = NULL;

	if (err)
		return err;
	errno = 0;
	version = strtol(text, &end, 10);
	if (errno != 0 || end == text || version < 0) {
		log_error("store user_version unreadable: %s", text);
		return LIMES_E_STORE_CORRUPT;
	}
	if (version > STORE_SCHEMA_VERSION) {
		log_error("store schema version %ld is newer than this Limes (%d)", version,
			  STORE_SCHEMA_VERSION);
		return LIMES_E_STORE_CORRUPT;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		char set_version[64];

		snprintf(set_version, sizeof(set_version), "PRAGMA user_version=%ld", version + 1);
		err = exec(store, "BEGIN IMMEDIATE", "migrate");
		if (!err)
			err = exec(store, migrations[version], "migrate");
		if (!err)
			err = exec(store, set_version, "migrate");
		if (!err)
			err = exec(store, "COMMIT", "migrate");
		if (err) {
			/* The store is closed after a failed migration: a failed
			 * rollback is logged, and SQLite drops the rest at close. */
			if (!sqlite3_get_autocommit(store->db) &&
			    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
				log_warn("store rollback of migration failed: %s",
					 sqlite3_errmsg(store->db));
			return err;
		}
		log_info("store schema migrated to version %ld", version + 1);
	}
	return 0;
}

int sqlite_check(struct store *store, bool full)
{
	char result[256];
	int err;

	if (!store)
		return LIMES_E_INVAL;
	err = pragma_text(store, full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)",
			  result, sizeof(result));
	if (err)
		return err;
	if (strcmp(result, "ok") != 0) {
		log_error("store integrity check failed: %s", result);
		return LIMES_E_STORE_CORRUPT;
	}
	return 0;
}

/* Before SQLite initialises (the first open does it): no memory statistics.
 * With them on, every sqlite3_malloc/free takes a global mutex to count
 * bytes nobody reads (a few per cent of the sender's CPU, docs/benchmarks.md).
 * Once SQLite is initialised (a test opened a database first) the call is
 * refused and changes nothing, which is fine: only speed depends on it. */
static void tune_library(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *store_open_vfs(const char *dir, const char *vfs_name, int *err)
{
	struct store *store = NULL;
	char path[PATH_MAX];
	struct stat st;
	int rc, e = 0;
	const char *vfs = vfs_name;

	if (!dir || !*dir) {
		e = LIMES_E_INVAL;
		goto out;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_NAME) >= sizeof(path)) {
		e = LIMES_E_TOOBIG;
		goto out;
	}
	e = make_dir(dir);
	if (!e)
		e = make_db_file(path);
	if (e)
		goto out;
	store = calloc(1, sizeof(*store));
	if (!store) {
		e = LIMES_E_NOMEM;
		goto out;
	}
	store->healthy = true;
	store->ops = &store_sqlite_ops;
	tune_library();
	/* a VFS named by a test wraps STORE_VFS (tests/support/store_faultvfs.c);
	 * the agent's own writes each commit's WAL frames in one call
	 * (walbuf.c) over STORE_VFS */
	if (!vfs)
		vfs = store_walbuf_vfs();
	if (!vfs && sqlite3_vfs_find(STORE_VFS))
		vfs = STORE_VFS;
	rc = sqlite3_open_v2(path, &store->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     vfs);
	if (rc != SQLITE_OK) {
		log_error("store cannot open %s: %s", path,
			  store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
		e = limes_code(rc) ? limes_code(rc) : LIMES_E_IO;
		goto out;
	}
	e = configure(store, vfs != NULL);
	if (!e && stat(path, &st) == 0 && st.st_size <= STORE_QUICK_CHECK_MAX_BYTES)
		e = sqlite_check(store, false);
	if (!e)
		e = migrate(store);
	/* without STORE_VFS (a SQLite built without it) SQLite checkpoints
	 * after commits on its own, as it always did */
	if (!e && vfs)
		e = sqlite_ckpt_start(store, path, vfs);
	if (!e && !store->healthy)
		e = store->fail_code;
out:
	if (e) {
		store_destroy(&store);
		if (err)
			*err = e;
		return NULL;
	}
	if (err)
		*err = 0;
	return store;
}

struct store *store_open_existing(const char *dir, int *err)
{
	struct store *store = NULL;
	char path[PATH_MAX];
	int rc, e = 0;

	if (!dir || !*dir) {
		e = LIMES_E_INVAL;
		goto out;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_NAME) >= sizeof(path)) {
		e = LIMES_E_TOOBIG;
		goto out;
	}
	store = calloc(1, sizeof(*store));
	if (!store) {
		e = LIMES_E_NOMEM;
		goto out;
	}
	store->healthy = true;
	store->ops = &store_sqlite_ops;
	/* Read-write without create: a WAL left by a killed agent is replayed
	 * on open, which needs write access to the -shm file; nothing else is
	 * ever written through this handle. */
	rc = sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		e = rc == SQLITE_CANTOPEN ? LIMES_E_NOENT : (limes_code(rc) ? limes_code(rc) : LIMES_E_IO);
		goto out;
	}
	if (sqlite3_extended_result_codes(store->db, 1) != SQLITE_OK ||
	    sqlite3_busy_timeout(store->db, 250) != SQLITE_OK)
		e = LIMES_E_IO;
out:
	if (e) {
		store_destroy(&store);
		if (err)
			*err = e;
		return NULL;
	}
	if (err)
		*err = 0;
	return store;
}

void sqlite_close(struct store *store)
{
	if (!store->db)
		return;
	/* first: the last connection to close checkpoints the WAL and removes
	 * it. If the database could not be synced after the checkpointer's
	 * last copies, the log is their only copy on disk: kept, whole (not
	 * removed, not cut), for the next open to read. */
	if (!sqlite_ckpt_stop(store)) {
		int keep = 1;
		(void)sqlite3_file_control(store->db, "main", SQLITE_FCNTL_PERSIST_WAL, &keep);
		(void)sqlite3_exec(store->db, "PRAGMA journal_size_limit=-1", NULL, NULL, NULL);
		log_warn("store keeps %s-wal at close: the database was not synced after the last checkpoints",
			 sqlite3_db_filename(store->db, "main"));
	}
	/* Staged writes never committed are dropped, never half-kept. */
	if (!sqlite3_get_autocommit(store->db) &&
	    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		log_warn("store rollback at close failed: %s (SQLite drops it at close)",
			 sqlite3_errmsg(store->db));
	/* sqlite3_finalize() repeats a statement's last error, handled
	 * when it happened. */
	for (int f = 0; f < STORE_FILE_COUNT_; f++)
		for (int i = 0; i < STORE_FILE_STMT_MAX; i++) {
			(void)sqlite3_finalize(store->stmt[f][i]);
			store->stmt[f][i] = NULL;
		}
	if (sqlite3_close(store->db) != SQLITE_OK)
		log_warn("store close failed: %s", sqlite3_errmsg(store->db));
	store->db = NULL;
}

/* One node owns a SQLite store (the agent flocks the data folder): it is
 * always the active one. */
static int sqlite_ha_try_active(struct store *store, const char *node, const char *api)
{
	return 1;
}

static int sqlite_ha_active_node(struct store *store, char *node, size_t node_len, char *api,
				 size_t api_len)
{
	return LIMES_E_NOTFOUND;
}

/* No session to lose: a failed disk keeps the agent up, unhealthy, so
 * /healthz and status can say why (docs/store.md, failure semantics). */
static int sqlite_ping(struct store *store)
{
	return 0;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.check = sqlite_check,
	.recover = sqlite_recover,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.in_transaction = sqlite_in_transaction,
	.mark = sqlite_mark,
	.mark_keep = sqlite_mark_keep,
	.mark_undo = sqlite_mark_undo,
	.outbox_put = sqlite_outbox_put,
	.outbox_add_delivery = sqlite_outbox_add_delivery,
	.idempotency_get = sqlite_idempotency_get,
	.outbox_due = sqlite_outbox_due,
	.delivery_sent = sqlite_delivery_sent,
	.delivery_reset_hop = sqlite_delivery_reset_hop,
	.receipt_put = sqlite_receipt_put,
	.delivery_done = sqlite_delivery_done,
	.deliveries_sent = sqlite_deliveries_sent,
	.deliveries_delivered = sqlite_deliveries_delivered,
	.expire_due = sqlite_expire_due,
	.expire = sqlite_expire,
	.delivery_requeue = sqlite_delivery_requeue,
	.delivered_since = sqlite_delivered_since,
	.restored_copy = sqlite_restored_copy,
	.restored_done = sqlite_restored_done,
	.message_get = sqlite_message_get,
	.outbox_stats = sqlite_outbox_stats,
	.outbox_stats_recipient = sqlite_outbox_stats_recipient,
	.delivery_list = sqlite_delivery_list,
	.delivery_reseal = sqlite_delivery_reseal,
	.delivery_readdress = sqlite_delivery_readdress,
	.backup = sqlite_backup,
	.seen_get = sqlite_seen_get,
	.inbox_put = sqlite_inbox_put,
	.seen_put = sqlite_seen_put,
	.seen_forget = sqlite_seen_forget,
	.inbox_list = sqlite_inbox_list,
	.purge = sqlite_purge,
	.case_get = sqlite_case_get,
	.case_children = sqlite_case_children,
	.purge_bodies = sqlite_purge_bodies,
	.audit_head = sqlite_audit_head,
	.audit_append = sqlite_audit_append,
	.audit_list = sqlite_audit_list,
	.audit_checkpoint_put = sqlite_audit_checkpoint_put,
	.audit_checkpoint_last = sqlite_audit_checkpoint_last,
	.audit_checkpoints = sqlite_audit_checkpoints,
	.audit_uncountersigned = sqlite_audit_uncountersigned,
	.audit_countersig_put = sqlite_audit_countersig_put,
	.audit_countersigs = sqlite_audit_countersigs,
	.audit_kept_put = sqlite_audit_kept_put,
	.audit_kept_list = sqlite_audit_kept_list,
	.audit_kept_latest = sqlite_audit_kept_latest,
	.audit_kept_body = sqlite_audit_kept_body,
	.message_client = sqlite_message_client,
	.key_put = sqlite_key_put,
	.key_list = sqlite_key_list,
	.key_note_put = sqlite_key_note_put,
	.key_note_delete = sqlite_key_note_delete,
	.key_note_list = sqlite_key_note_list,
	.ha_try_active = sqlite_ha_try_active,
	.ha_active_node = sqlite_ha_active_node,
	.ping = sqlite_ping,
	.wal_stats = sqlite_wal_stats,
	.wal_limit = sqlite_wal_limit,
};
