/*
 * The store's public entry points (store.h): each checks the handle and
 * dispatches through the backend's table of operations (backend.h), so the
 * core, the links and the API never know which engine holds their data.
 * Also what both backends share: the health state, opening by settings and
 * closing, and the delivery state names.
 */
#include "backend.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "proto/err.h"

/* Calls operation `op` of the store's backend, or answers `none` when the
 * store is NULL or its backend lacks the operation. */
#define DISPATCH(store, none, op, ...) \
	((store) && (store)->ops->op ? (store)->ops->op(__VA_ARGS__) : (none))

char *store_cursor_list(const int64_t *cursors, size_t n, char open, char close)
{
	/* 20 digits and a sign per cursor, a separator, the brackets */
	size_t cap = n * 22 + 3, len = 0;
	char *text;

	if (!cursors || n == 0 || n > SIZE_MAX / 22 - 1 || !(text = malloc(cap)))
		return NULL;
	text[len++] = open;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, i ? ",%lld" : "%lld", (long long)cursors[i]);
	text[len++] = close;
	text[len] = '\0';
	return text;
}

int store_recover(struct store *store, uint64_t need_free_bytes)
{
	if (!store)
		return LIMES_E_INVAL;
	if (store->healthy)
		return 0;
	/* only a full disk: after an fsync or I/O error what was written is in doubt */
	if (store->fail_code != LIMES_E_STORE_FULL)
		return store->fail_code;
	int rc = DISPATCH(store, store->fail_code, recover, store, need_free_bytes);
	if (rc < 0)
		return rc;
	store->healthy = true;
	store->fail_code = 0;
	log_info("event=store_recovered backend=%s was=\"%s\"", store->ops->name, store->reason);
	store->reason[0] = '\0';
	return 0;
}

void store_set_failed(struct store *store, int code, const char *reason)
{
	store->undo_generation++;
	if (!store->healthy)
		return;
	store->healthy = false;
	store->fail_code = code;
	snprintf(store->reason, sizeof(store->reason), "%s", reason);
	log_error("store unusable event=store_failed backend=%s reason=\"%s\"", store->ops->name,
		  store->reason);
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

int store_wal_stats(struct store *store, struct store_wal_stats *s)
{
	if (!s)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, wal_stats, store, s);
}

int store_wal_limit(struct store *store, uint32_t frames)
{
	return DISPATCH(store, LIMES_E_INVAL, wal_limit, store, frames);
}

const char *store_backend_name(const struct store *store)
{
	return store ? store->ops->name : "none";
}

struct store *store_open(const char *dir, int *err)
{
	return store_open_vfs(dir, NULL, err);
}

struct store *store_open_with(const struct store_settings *settings, int *err)
{
	if (!settings) {
		if (err)
			*err = LIMES_E_INVAL;
		return NULL;
	}
	switch (settings->backend) {
	case STORE_BACKEND_SQLITE:
		return store_open_vfs(settings->dir, NULL, err);
	case STORE_BACKEND_POSTGRES:
		return store_open_pg_schema(settings->conninfo, settings->agency, settings->schema, err);
	}
	if (err)
		*err = LIMES_E_INVAL;
	return NULL;
}

struct store *store_open_existing_with(const struct store_settings *settings, int *err)
{
	if (settings && settings->backend == STORE_BACKEND_SQLITE)
		return store_open_existing(settings->dir, err);
	if (settings && settings->backend == STORE_BACKEND_POSTGRES)
		return store_open_pg_reader(settings->conninfo, settings->agency, settings->schema, err);
	if (err)
		*err = LIMES_E_INVAL;
	return NULL;
}

void store_destroy(struct store **storep)
{
	struct store *store;

	if (!storep || !*storep)
		return;
	store = *storep;
	if (store->ops)
		store->ops->close(store);
	free(store);
	*storep = NULL;
}

int store_check(struct store *store, bool full)
{
	return DISPATCH(store, LIMES_E_INVAL, check, store, full);
}

int store_begin(struct store *store)
{
	return DISPATCH(store, LIMES_E_INVAL, begin, store);
}

int store_commit(struct store *store)
{
	return DISPATCH(store, LIMES_E_INVAL, commit, store);
}

uint64_t store_undo_generation(const struct store *store)
{
	return store ? store->undo_generation : 0;
}

void store_rollback(struct store *store)
{
	if (store)
		store->undo_generation++;
	if (store && store->ops->rollback)
		store->ops->rollback(store);
}

bool store_in_transaction(const struct store *store)
{
	return DISPATCH(store, false, in_transaction, store);
}

int store_mark(struct store *store)
{
	return DISPATCH(store, LIMES_E_INVAL, mark, store);
}

int store_mark_keep(struct store *store)
{
	return DISPATCH(store, LIMES_E_INVAL, mark_keep, store);
}

void store_mark_undo(struct store *store)
{
	if (store)
		store->undo_generation++;
	if (store && store->ops->mark_undo)
		store->ops->mark_undo(store);
}

int store_outbox_put(struct store *store, const struct store_message *msg,
		     const struct store_delivery *deliveries, size_t n_deliveries)
{
	return DISPATCH(store, LIMES_E_INVAL, outbox_put, store, msg, deliveries, n_deliveries);
}

int store_outbox_add_delivery(struct store *store, const uint8_t id[STORE_ID_LEN],
			      const struct store_delivery *d)
{
	return DISPATCH(store, LIMES_E_INVAL, outbox_add_delivery, store, id, d);
}

int store_idempotency_get(struct store *store, const char *client, const char *key,
			  uint8_t id[STORE_ID_LEN])
{
	return DISPATCH(store, LIMES_E_INVAL, idempotency_get, store, client, key, id);
}

int store_outbox_due(struct store *store, const char *next_hop, uint64_t now_ms, size_t limit,
		     int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	return DISPATCH(store, LIMES_E_INVAL, outbox_due, store, next_hop, now_ms, limit, fn, arg);
}

int store_delivery_sent(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			uint64_t now_ms, uint64_t next_attempt_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_sent, store, id, recipient, now_ms,
			next_attempt_ms);
}

int store_delivery_reset_hop(struct store *store, const char *next_hop)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_reset_hop, store, next_hop);
}

int store_receipt_put(struct store *store, const uint8_t *receipt, size_t len, int64_t *receipt_id)
{
	return DISPATCH(store, LIMES_E_INVAL, receipt_put, store, receipt, len, receipt_id);
}

int store_delivery_done(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			enum delivery_state state, int reason, const char *detail, uint64_t done_ms,
			int64_t receipt_id)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_done, store, id, recipient, state, reason,
			detail, done_ms, receipt_id);
}

int store_deliveries_sent(struct store *store, const int64_t *cursors, size_t n, uint64_t now_ms,
			  uint64_t next_attempt_ms, size_t *marked)
{
	return DISPATCH(store, LIMES_E_INVAL, deliveries_sent, store, cursors, n, now_ms,
			next_attempt_ms, marked);
}

int store_deliveries_delivered(struct store *store, const int64_t *cursors, size_t n,
			       uint64_t done_ms, int64_t receipt_id, size_t *marked)
{
	return DISPATCH(store, LIMES_E_INVAL, deliveries_delivered, store, cursors, n, done_ms,
			receipt_id, marked);
}

int store_expire_due(struct store *store, uint64_t now_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, expire_due, store, now_ms);
}

int store_expire(struct store *store, uint64_t now_ms,
		 void (*fn)(void *arg, const struct store_expired *e), void *arg)
{
	return DISPATCH(store, LIMES_E_INVAL, expire, store, now_ms, fn, arg);
}

int store_delivery_requeue(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			   const uint8_t *envelope, size_t envelope_len, uint64_t expires_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_requeue, store, id, recipient, envelope,
			envelope_len, expires_ms);
}

int store_message_get(struct store *store, const uint8_t id[STORE_ID_LEN],
		      int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	return DISPATCH(store, LIMES_E_INVAL, message_get, store, id, fn, arg);
}

int store_outbox_stats(struct store *store, const char *next_hop, uint64_t *queued,
		       uint64_t *oldest_unacked_created_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, outbox_stats, store, next_hop, queued,
			oldest_unacked_created_ms);
}

int store_seen_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_seen *seen)
{
	return DISPATCH(store, LIMES_E_INVAL, seen_get, store, id, seen);
}

int store_inbox_put(struct store *store, const struct store_inbox_entry *entry,
		    uint64_t forget_after_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, inbox_put, store, entry, forget_after_ms);
}

int store_seen_put(struct store *store, const uint8_t id[STORE_ID_LEN], const struct store_seen *seen)
{
	return DISPATCH(store, LIMES_E_INVAL, seen_put, store, id, seen);
}

int store_seen_forget(struct store *store, const uint8_t id[STORE_ID_LEN])
{
	return DISPATCH(store, LIMES_E_INVAL, seen_forget, store, id);
}

int store_inbox_list(struct store *store, int64_t after, size_t limit,
		     int (*fn)(void *arg, const struct store_inbox_row *row), void *arg)
{
	return DISPATCH(store, LIMES_E_INVAL, inbox_list, store, after, limit, fn, arg);
}

int store_purge(struct store *store, uint64_t now_ms, uint64_t retention_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, purge, store, now_ms, retention_ms);
}

int store_key_put(struct store *store, const struct store_key_row *row)
{
	if (!row || !row->peer[0])
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, key_put, store, row);
}

int store_key_list(struct store *store, int (*fn)(void *arg, const struct store_key_row *row), void *arg)
{
	if (!fn)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, key_list, store, fn, arg);
}

int store_key_note_put(struct store *store, const struct store_key_note *note)
{
	if (!note || !note->kind[0] || !note->name[0])
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, key_note_put, store, note);
}

int store_key_note_delete(struct store *store, const char *kind, const char *name)
{
	if (!kind || !name)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, key_note_delete, store, kind, name);
}

int store_key_note_list(struct store *store, int (*fn)(void *arg, const struct store_key_note *note), void *arg)
{
	if (!fn)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, key_note_list, store, fn, arg);
}

int store_case_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e)
{
	if (!id || !e)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, case_get, store, id, e);
}

int store_case_children(struct store *store, const uint8_t ref[STORE_ID_LEN], uint8_t (*ids)[STORE_ID_LEN],
			size_t max, size_t *n)
{
	if (!ref || !ids || !n)
		return LIMES_E_INVAL;
	*n = 0;
	return DISPATCH(store, LIMES_E_INVAL, case_children, store, ref, ids, max, n);
}

int store_purge_bodies(struct store *store, int type, uint64_t cut_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, purge_bodies, store, type, cut_ms);
}

/* The audit trail's wrappers check what every backend relies on. */
int store_audit_head(struct store *store, uint64_t *seq, uint8_t hash[STORE_HASH_LEN])
{
	if (!seq || !hash)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_head, store, seq, hash);
}

int store_audit_append(struct store *store, const struct store_audit_row *row,
		       const uint8_t (*ids)[STORE_ID_LEN], size_t n_ids)
{
	if (!row || !row->bytes || row->seq == 0 || row->seq > INT64_MAX || (n_ids && !ids))
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_append, store, row, ids, n_ids);
}

int store_audit_list(struct store *store, const struct store_audit_filter *f,
		     int (*fn)(void *arg, const struct store_audit_row *row), void *arg)
{
	if (!f || !fn)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_list, store, f, fn, arg);
}

int store_audit_checkpoint_put(struct store *store, const struct store_audit_checkpoint *cp)
{
	if (!cp || !cp->body)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_checkpoint_put, store, cp);
}

int store_audit_checkpoint_last(struct store *store, uint64_t *seq, uint64_t *time_ms)
{
	if (!seq || !time_ms)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_checkpoint_last, store, seq, time_ms);
}

int store_audit_checkpoints(struct store *store, uint64_t after_seq,
			    int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg)
{
	if (!fn)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_checkpoints, store, after_seq, fn, arg);
}

int store_audit_uncountersigned(struct store *store, const char *peer, uint64_t after_seq, size_t limit,
				int (*fn)(void *arg, const struct store_audit_checkpoint *cp), void *arg)
{
	if (!fn || !peer || !peer[0] || strlen(peer) > STORE_AGENCY_MAX)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_uncountersigned, store, peer, after_seq, limit, fn, arg);
}

int store_audit_countersig_put(struct store *store, uint64_t seq, const char *peer,
			       const uint8_t countersig[STORE_SIG_LEN], uint64_t time_ms)
{
	if (!countersig || !peer || !peer[0] || strlen(peer) > STORE_AGENCY_MAX)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_countersig_put, store, seq, peer, countersig, time_ms);
}

int store_audit_countersigs(struct store *store, uint64_t seq,
			    int (*fn)(void *arg, const char *peer, const uint8_t *countersig, size_t len,
				      uint64_t time_ms),
			    void *arg)
{
	if (!fn)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_countersigs, store, seq, fn, arg);
}

int store_audit_kept_put(struct store *store, const struct store_audit_kept *k)
{
	if (!k || !k->body || !k->peer || !k->peer[0] || strlen(k->peer) > STORE_AGENCY_MAX)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_kept_put, store, k);
}

int store_audit_kept_list(struct store *store, const char *peer,
			  int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	if (!fn)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_kept_list, store, peer, fn, arg);
}

int store_audit_kept_latest(struct store *store, const char *peer, size_t limit,
			    int (*fn)(void *arg, const struct store_audit_kept *k), void *arg)
{
	if (!fn || !peer || !peer[0] || strlen(peer) > STORE_AGENCY_MAX || limit == 0)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_kept_latest, store, peer, limit, fn, arg);
}

int store_audit_kept_body(struct store *store, const char *peer, uint64_t seq, uint8_t *body, size_t cap,
			  size_t *len)
{
	if (!peer || !peer[0] || strlen(peer) > STORE_AGENCY_MAX || !body || !len)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, audit_kept_body, store, peer, seq, body, cap, len);
}

int store_message_client(struct store *store, const uint8_t id[STORE_ID_LEN], char *buf, size_t len)
{
	if (!id || !buf || len == 0)
		return LIMES_E_INVAL;
	buf[0] = '\0';
	return DISPATCH(store, LIMES_E_INVAL, message_client, store, id, buf, len);
}

int store_ha_try_active(struct store *store, const char *node, const char *api)
{
	return DISPATCH(store, LIMES_E_INVAL, ha_try_active, store, node, api);
}

int store_ha_active_node(struct store *store, char *node, size_t node_len, char *api,
			 size_t api_len)
{
	return DISPATCH(store, LIMES_E_INVAL, ha_active_node, store, node, node_len, api, api_len);
}

int store_ping(struct store *store)
{
	return DISPATCH(store, LIMES_E_INVAL, ping, store);
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

int store_outbox_stats_recipient(struct store *store, const char *recipient, uint64_t *queued,
				 uint64_t *oldest_unacked_created_ms)
{
	if (!recipient)
		return LIMES_E_INVAL;
	return DISPATCH(store, LIMES_E_INVAL, outbox_stats_recipient, store, recipient, queued,
			oldest_unacked_created_ms);
}

int store_delivery_list(struct store *store, const struct store_list_filter *f, int64_t after, size_t limit,
			int (*fn)(void *arg, const struct store_delivery_row *row), void *arg)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_list, store, f, after, limit, fn, arg);
}

int store_delivery_reseal(struct store *store, const uint8_t id[STORE_ID_LEN], const char *recipient,
			  const uint8_t *envelope, size_t envelope_len)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_reseal, store, id, recipient, envelope, envelope_len);
}

int store_delivery_readdress(struct store *store, const uint8_t id[STORE_ID_LEN], const char *old_recipient,
			     const struct store_delivery *to, uint64_t expires_ms)
{
	return DISPATCH(store, LIMES_E_INVAL, delivery_readdress, store, id, old_recipient, to, expires_ms);
}

int store_delivered_since(struct store *store, const char *next_hop, uint64_t since_ms, uint64_t until_ms, size_t limit,
			  int (*fn)(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient), void *arg)
{
	return DISPATCH(store, LIMES_E_INVAL, delivered_since, store, next_hop, since_ms, until_ms, limit, fn, arg);
}

int store_restored_copy(struct store *store, uint64_t *taken_ms)
{
	if (store && !store->ops->restored_copy)
		return LIMES_E_NOTFOUND;
	return DISPATCH(store, LIMES_E_INVAL, restored_copy, store, taken_ms);
}

int store_restored_done(struct store *store)
{
	if (store && !store->ops->restored_done)
		return 0;
	return DISPATCH(store, LIMES_E_INVAL, restored_done, store);
}

int store_backup(struct store *store, const char *out, char *why, size_t why_len)
{
	if (store && !store->ops->backup) {
		snprintf(why, why_len, "the %s store is backed up with its own tools (pg_dump)", store->ops->name);
		return LIMES_E_INVAL;
	}
	return DISPATCH(store, LIMES_E_INVAL, backup, store, out, why, why_len);
}
