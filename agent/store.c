/*
 * The store's core: opening the database (folder and file modes, PRAGMAs,
 * schema and migrations), the prepared-statement cache, transactions (group
 * commit) and the health state that turns any I/O, fsync, full-disk or
 * corruption error into a permanent refusal to write. Outbox and inbox
 * operations live in store_outbox.c and store_inbox.c.
 */
#include "agent/store_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/err.h"
#include "agent/log.h"

#define STORE_DB_NAME "limes.db"
/* quick_check reads every page: run it at open only below this size. */
#define STORE_QUICK_CHECK_MAX_BYTES (64LL * 1024 * 1024)

static const char *const sql_text[SQL_COUNT_] = {
	[SQL_BEGIN] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_MSG_INSERT] =
		"INSERT INTO messages(id, type, priority, created_ms, expires_ms, ref,"
		" client, idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[SQL_DLV_INSERT] =
		"INSERT INTO deliveries(msg, recipient, message_id, next_hop, state, type,"
		" priority, created_ms, expires_ms, envelope)"
		" VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9)",
	[SQL_IDEM_GET] =
		"SELECT id FROM messages WHERE client = ?1 AND idempotency_key = ?2"
		" AND idempotency_key IS NOT NULL",
#define DLV_COLUMNS \
	"rowid, message_id, recipient, next_hop, type, priority, state, created_ms," \
	" expires_ms, sent_ms, next_attempt_ms, attempts, done_ms, reason, detail," \
	" envelope, (SELECT bytes FROM receipts WHERE id = receipt_id)"
	[SQL_DUE_QUEUED] =
		"SELECT " DLV_COLUMNS " FROM deliveries WHERE next_hop = ?1 AND state = 0"
		" ORDER BY priority DESC, created_ms, rowid LIMIT ?2",
	[SQL_DUE_SENT] =
		"SELECT " DLV_COLUMNS " FROM deliveries WHERE next_hop = ?1 AND state = 1"
		" AND next_attempt_ms <= ?2 ORDER BY priority DESC, created_ms, rowid LIMIT ?3",
	[SQL_DLV_SENT] =
		"UPDATE deliveries SET state = 1, attempts = attempts + 1, sent_ms = ?3,"
		" next_attempt_ms = ?4 WHERE msg = (SELECT seq FROM messages WHERE id = ?1)"
		" AND recipient = ?2 AND state IN (0, 1)",
	[SQL_RESET_HOP] =
		"UPDATE deliveries SET state = 0, next_attempt_ms = 0"
		" WHERE next_hop = ?1 AND state = 1",
	[SQL_DLV_DONE] =
		"UPDATE deliveries SET state = ?3, reason = ?4, detail = ?5, done_ms = ?6,"
		" receipt_id = ?7 WHERE msg = (SELECT seq FROM messages WHERE id = ?1)"
		" AND recipient = ?2 AND state IN (0, 1, 4)",
	[SQL_DLV_STATE] =
		"SELECT state FROM deliveries WHERE msg = (SELECT seq FROM messages WHERE id = ?1)"
		" AND recipient = ?2",
	[SQL_EXPIRE] =
		"UPDATE deliveries SET state = 4, done_ms = ?1"
		" WHERE state IN (0, 1) AND expires_ms <= ?1",
	[SQL_REQUEUE] =
		"UPDATE deliveries SET state = 0, envelope = ?3, expires_ms = ?4, sent_ms = 0,"
		" next_attempt_ms = 0, done_ms = 0, reason = 0, detail = '', receipt_id = NULL"
		" WHERE msg = (SELECT seq FROM messages WHERE id = ?1) AND recipient = ?2"
		" AND state IN (3, 4)",
	[SQL_MSG_GET] =
		"SELECT " DLV_COLUMNS " FROM deliveries"
		" WHERE msg = (SELECT seq FROM messages WHERE id = ?1) ORDER BY recipient",
	[SQL_STATS] =
		"SELECT count(*), min(created_ms) FROM deliveries WHERE next_hop = ?1 AND state = 0"
		" UNION ALL "
		"SELECT count(*), min(created_ms) FROM deliveries WHERE next_hop = ?1 AND state = 1",
	[SQL_SEEN_GET] =
		"SELECT sender, envelope_hash, status, reason, received_ms, forget_after_ms"
		" FROM seen WHERE message_id = ?1",
	[SQL_SEEN_INSERT] =
		"INSERT INTO seen(message_id, sender, envelope_hash, status, reason,"
		" received_ms, forget_after_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[SQL_INBOX_INSERT] =
		"INSERT INTO inbox(message_id, sender, type, priority, created_ms, expires_ms,"
		" received_ms, ref, envelope_hash, envelope)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SQL_INBOX_LIST] =
		"SELECT cursor, message_id, sender, type, priority, created_ms, expires_ms,"
		" received_ms, ref, envelope_hash, envelope FROM inbox WHERE cursor > ?1"
		" ORDER BY cursor LIMIT ?2",
	[SQL_PURGE_SEEN] = "DELETE FROM seen WHERE forget_after_ms <= ?1",
	[SQL_PURGE_INBOX] = "DELETE FROM inbox WHERE received_ms <= ?1",
	[SQL_PURGE_DLV] =
		"DELETE FROM deliveries WHERE state IN (2, 3, 4) AND done_ms <= ?1 RETURNING msg",
	[SQL_PURGE_MSG] =
		"DELETE FROM messages WHERE seq = ?1"
		" AND NOT EXISTS (SELECT 1 FROM deliveries WHERE msg = ?1)",
	[SQL_UNDO_DLV] = "DELETE FROM deliveries WHERE msg = ?1",
	[SQL_UNDO_MSG] = "DELETE FROM messages WHERE seq = ?1",
	[SQL_UNDO_SEEN] = "DELETE FROM seen WHERE message_id = ?1",
	[SQL_RECEIPT_INSERT] = "INSERT INTO receipts(bytes) VALUES (?1)",
	[SQL_PURGE_RECEIPTS] =
		/* receipts are numbered in arrival order and deliveries purged oldest
		 * first: everything below the lowest id still referenced is unused
		 * (one scan of deliveries, no index to keep up on every receipt) */
		"DELETE FROM receipts WHERE id < (SELECT coalesce(min(receipt_id), 9223372036854775807)"
		" FROM deliveries)",
	[SQL_SAVEPOINT] = "SAVEPOINT request",
	[SQL_RELEASE] = "RELEASE request",
	[SQL_ROLLBACK_TO] = "ROLLBACK TO request",
	[SQL_MSG_BY_ID] = "SELECT seq, type, priority, created_ms, expires_ms FROM messages WHERE id = ?1",
#undef DLV_COLUMNS
};

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

/* migrations[v] brings a database from user_version v to v + 1. */
static const char *const migrations[] = { schema_v1 };
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
	store->healthy = false;
	store->fail_code = code;
	snprintf(store->reason, sizeof(store->reason), "%s", reason);
	log_error("store unusable event=store_failed reason=\"%s\"", store->reason);
	/* Whatever the transaction staged is not durable: drop all of it. */
	if (store->db && !sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
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

sqlite3_stmt *store_stmt(struct store *store, enum store_sql which, int *err)
{
	int rc;

	if (store->stmt[which])
		return store->stmt[which];
	rc = sqlite3_prepare_v3(store->db, sql_text[which], -1, SQLITE_PREPARE_PERSISTENT,
				&store->stmt[which], NULL);
	if (rc != SQLITE_OK) {
		log_error("store prepare failed: %s sql=\"%s\"", sqlite3_errmsg(store->db),
			  sql_text[which]);
		*err = store_sqlite_error(store, rc, "prepare");
		if (*err == 0)
			*err = LIMES_E_IO;
		store->stmt[which] = NULL;
		return NULL;
	}
	return store->stmt[which];
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
	sqlite3_reset(stmt);
	return err;
}

static int run(struct store *store, enum store_sql which, const char *what)
{
	int err = 0;
	sqlite3_stmt *stmt = store_stmt(store, which, &err);

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

bool store_healthy(const struct store *store)
{
	return store && store->healthy;
}

const char *store_health_reason(const struct store *store)
{
	if (!store)
		return "no store";
	return store->healthy ? "" : store->reason;
}

int store_begin(struct store *store)
{
	if (!store)
		return LIMES_E_INVAL;
	if (!store->healthy)
		return store->fail_code;
	if (!sqlite3_get_autocommit(store->db))
		return 0;
	return run(store, SQL_BEGIN, "begin");
}

int store_write_begin(struct store *store)
{
	return store_begin(store);
}

int store_commit(struct store *store)
{
	int err;

	if (!store)
		return LIMES_E_INVAL;
	if (!store->healthy)
		return store->fail_code;
	if (sqlite3_get_autocommit(store->db))
		return 0;
	err = run(store, SQL_COMMIT, "commit");
	/* A failed COMMIT may leave the transaction open: never keep it. */
	if (err != 0 && !sqlite3_get_autocommit(store->db))
		store_rollback(store);
	return err;
}

bool store_in_transaction(const struct store *store)
{
	return store && !sqlite3_get_autocommit(store->db);
}

int store_mark(struct store *store)
{
	int err;
	if (!store)
		return LIMES_E_INVAL;
	if (!store->healthy)
		return store->fail_code;
	err = store_write_begin(store);
	return err ? err : run(store, SQL_SAVEPOINT, "savepoint");
}

int store_mark_keep(struct store *store)
{
	if (!store || sqlite3_get_autocommit(store->db))
		return LIMES_E_INVAL;
	return run(store, SQL_RELEASE, "release savepoint");
}

void store_mark_undo(struct store *store)
{
	if (!store || sqlite3_get_autocommit(store->db))
		return;
	if (run(store, SQL_ROLLBACK_TO, "rollback to savepoint") == 0)
		run(store, SQL_RELEASE, "release savepoint");
}

void store_rollback(struct store *store)
{
	if (!store || sqlite3_get_autocommit(store->db))
		return;
	run(store, SQL_ROLLBACK, "rollback");
}

void store_undo(struct store *store, enum store_sql which, int64_t seq, const uint8_t *id)
{
	int err = 0;
	sqlite3_stmt *stmt;

	/* After an I/O error the whole transaction is already gone. */
	if (!store->healthy || sqlite3_get_autocommit(store->db))
		return;
	stmt = store_stmt(store, which, &err);
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

/* Creates DIR mode 0700, or tightens an existing one that is wider. */
static int make_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST) {
		log_error("store cannot create folder %s: %s", dir, strerror(errno));
		return LIMES_E_IO;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_error("store path %s is not a folder", dir);
		return LIMES_E_IO;
	}
	if ((st.st_mode & 077) != 0) {
		log_warn("store folder %s was mode %03o: setting 0700", dir,
			 (unsigned)(st.st_mode & 0777));
		if (chmod(dir, 0700) != 0) {
			log_error("store cannot chmod %s: %s", dir, strerror(errno));
			return LIMES_E_IO;
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
		log_error("store cannot open %s: %s", path, strerror(errno));
		return LIMES_E_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_error("store database %s is not a regular file", path);
		err = LIMES_E_IO;
		goto out;
	}
	if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
		log_error("store cannot chmod %s: %s", path, strerror(errno));
		err = LIMES_E_IO;
	}
out:
	close(fd);
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
	sqlite3_finalize(stmt);
	return err;
}

static int configure(struct store *store)
{
	char mode[16];
	int err;

	sqlite3_extended_result_codes(store->db, 1);
	sqlite3_busy_timeout(store->db, 250);
	/* One agent owns the store (the agent also holds a flock on the data
	 * folder): exclusive locking keeps the WAL index in our own memory and
	 * spares two fcntl() calls per read. Set before WAL is first used. */
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
	/* FULL: the WAL is fsynced at every commit. Foreign keys stay off: the
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
			if (!sqlite3_get_autocommit(store->db))
				sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
			return err;
		}
		log_info("store schema migrated to version %ld", version + 1);
	}
	return 0;
}

int store_check(struct store *store, bool full)
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

struct store *store_open_vfs(const char *dir, const char *vfs_name, int *err)
{
	struct store *store = NULL;
	char path[PATH_MAX];
	struct stat st;
	int rc, e = 0;

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
	rc = sqlite3_open_v2(path, &store->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     vfs_name);
	if (rc != SQLITE_OK) {
		log_error("store cannot open %s: %s", path,
			  store->db ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
		e = limes_code(rc) ? limes_code(rc) : LIMES_E_IO;
		goto out;
	}
	e = configure(store);
	if (!e && stat(path, &st) == 0 && st.st_size <= STORE_QUICK_CHECK_MAX_BYTES)
		e = store_check(store, false);
	if (!e)
		e = migrate(store);
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

struct store *store_open(const char *dir, int *err)
{
	return store_open_vfs(dir, NULL, err);
}

void store_destroy(struct store **storep)
{
	struct store *store;

	if (!storep || !*storep)
		return;
	store = *storep;
	if (store->db) {
		/* Staged writes never committed are dropped, never half-kept. */
		if (!sqlite3_get_autocommit(store->db))
			sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
		for (size_t i = 0; i < SQL_COUNT_; i++)
			sqlite3_finalize(store->stmt[i]);
		if (sqlite3_close(store->db) != SQLITE_OK)
			log_warn("store close failed: %s", sqlite3_errmsg(store->db));
	}
	free(store);
	*storep = NULL;
}

const char *store_delivery_state_name(enum delivery_state state)
{
	switch (state) {
	case DELIVERY_QUEUED: return "queued";
	case DELIVERY_SENT: return "sent";
	case DELIVERY_DELIVERED: return "delivered";
	case DELIVERY_REJECTED: return "rejected";
	case DELIVERY_EXPIRED: return "expired";
	}
	return "unknown";
}
