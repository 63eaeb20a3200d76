/*
 * What the audit trail records and when (docs/audit.md): one entry per
 * action, staged in the same transaction as the action itself, so a commit
 * keeps both or neither; every N entries or T seconds a checkpoint (the
 * chain head signed with the agent's Ed25519 key) staged with them. It owns
 * the one entry buffer; the bytes are crypto/audit.c's, the tables the
 * store's. Reached through the commit (commit_audit()), since whoever
 * stages an action holds the commit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "crypto/audit.h"
#include "crypto/envelope.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/schema.h"

/* Message ids one entry may name in the index (a READ names a page). */
#define AUDIT_INDEX_MAX 4096

struct audit {
	struct store *store;          /* borrowed */
	struct commit *commit;        /* borrowed */
	const struct identity *me;    /* borrowed */
	char my_id[STORE_AGENCY_MAX + 1];
	uint64_t every_entries;
	uint64_t every_ms;
	uint64_t last_cp_seq;         /* committed view, refreshed at each checkpoint */
	uint64_t last_cp_ms;
	bool standby;                 /* another node writes the trail: record nothing */
	bool started;                 /* an entry is being built */
	bool head_known;              /* head_seq/head_hash mirror the (staged) chain */
	uint64_t head_generation;     /* the store's undo generation they were read at */
	uint64_t head_seq;
	uint8_t head_hash[STORE_HASH_LEN];
	struct audit_builder b;
	uint8_t (*ids)[STORE_ID_LEN];
	uint64_t entries, checkpoints;
	struct later *later;          /* received facts waiting for the commit (audit_flush) */
	size_t n_later, cap_later;
};

/* One accepted envelope's facts, copied until the turn's commit. */
struct later {
	char peer[STORE_AGENCY_MAX + 1];
	char author[STORE_AGENCY_MAX + 1];
	uint8_t id[STORE_ID_LEN];
	int type;
	bool has_body_hash, has_envelope_hash;
	uint8_t body_hash[STORE_HASH_LEN];
	uint8_t envelope_hash[STORE_HASH_LEN];
};

struct audit *audit_new(struct store *store, struct commit *commit, const struct identity *me,
			const char *my_id, uint64_t every_entries, uint64_t every_ms)
{
	struct audit *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ids = calloc(AUDIT_INDEX_MAX, STORE_ID_LEN);
	if (!a->ids) {
		free(a);
		return NULL;
	}
	a->store = store;
	a->commit = commit;
	a->me = me;
	snprintf(a->my_id, sizeof(a->my_id), "%s", my_id);
	a->every_entries = every_entries ? every_entries : 1000;
	a->every_ms = every_ms ? every_ms : 60000;
	if (store_audit_checkpoint_last(store, &a->last_cp_seq, &a->last_cp_ms) < 0)
		log_warn("audit: cannot read the last checkpoint; the next one starts afresh");
	a->last_cp_ms = a->last_cp_ms ? a->last_cp_ms : clock_now_ms();
	return a;
}

void audit_destroy(struct audit **pa)
{
	if (!pa || !*pa)
		return;
	free((*pa)->ids);
	free((*pa)->later);
	free(*pa);
	*pa = NULL;
}

void audit_set_active(struct audit *a, bool active)
{
	if (!a)
		return;
	a->standby = !active;
	/* Whatever was followed in memory may be stale: the other node of the
	 * agency may have written the trail meanwhile. The head is read from
	 * the store before the next entry, and the checkpoint state now. */
	a->head_known = false;
	if (active && store_audit_checkpoint_last(a->store, &a->last_cp_seq, &a->last_cp_ms) < 0)
		a->last_cp_seq = 0;
	if (active && !a->last_cp_ms)
		a->last_cp_ms = clock_now_ms();
}

void audit_set_checkpoints(struct audit *a, uint64_t every_entries, uint64_t every_ms)
{
	if (!a)
		return;
	if (every_entries)
		a->every_entries = every_entries;
	if (every_ms)
		a->every_ms = every_ms;
}

struct audit_builder *audit_start(struct audit *a, int kind)
{
	if (!a)
		return NULL;
	/* seq, time and the previous hash are written by audit_finish(), when
	 * the head of the (staged) chain is read */
	audit_begin(&a->b, 0, 0, kind, NULL);
	a->started = true;
	return &a->b;
}

struct collect {
	uint8_t (*ids)[STORE_ID_LEN];
	size_t n;
};

static int collect_id(void *arg, int tag, const uint8_t *value, size_t len)
{
	struct collect *c = arg;

	if (tag == AUDIT_T_ID && len == STORE_ID_LEN && c->n < AUDIT_INDEX_MAX)
		memcpy(c->ids[c->n++], value, STORE_ID_LEN);
	return 0;
}

int audit_finish(struct audit *a)
{
	struct store_audit_row row;
	struct audit_head head;
	struct collect ids = { NULL, 0 };
	uint8_t prev[STORE_HASH_LEN];
	uint64_t seq;
	char why[128];
	int rc;

	if (!a || !a->started)
		return LIMES_E_INVAL;
	a->started = false;
	/* a standby never writes the shared trail: its action must not happen */
	if (a->standby)
		return LIMES_E_AGAIN;
	if (a->b.overflow) {
		log_error("audit: an entry of kind %s does not fit in %u bytes",
			  audit_kind_name(a->b.buf[20]), AUDIT_ENTRY_MAX);
		return LIMES_E_TOOBIG;
	}
	/* the entry commits with its action: a lazily staged mark's entry
	 * does not make the turn's commit urgent (commit_stage_join) */
	rc = commit_stage_join(a->commit, 0);
	if (rc < 0)
		return rc;
	/* the head is read once and then followed in memory, until the store
	 * undoes staged writes (its undo generation moves) */
	if (!a->head_known || a->head_generation != store_undo_generation(a->store)) {
		rc = store_audit_head(a->store, &a->head_seq, a->head_hash);
		if (rc < 0)
			return rc;
		a->head_known = true;
		a->head_generation = store_undo_generation(a->store);
	}
	seq = a->head_seq;
	memcpy(prev, a->head_hash, STORE_HASH_LEN);
	be64_put(a->b.buf + 4, seq + 1);
	be64_put(a->b.buf + 12, clock_now_ms());
	memcpy(a->b.buf + 21, prev, STORE_HASH_LEN);
	ids.ids = a->ids;
	rc = audit_entry_parse(a->b.buf, a->b.len, &head, collect_id, &ids, why, sizeof(why));
	if (rc < 0) {
		log_error("audit: built a malformed entry: %s", why);
		return LIMES_E_INTERNAL;
	}
	memset(&row, 0, sizeof(row));
	row.seq = seq + 1;
	row.time_ms = head.time_ms;
	row.kind = head.kind;
	row.bytes = a->b.buf;
	row.len = a->b.len;
	audit_entry_hash(a->b.buf, a->b.len, row.hash);
	row.hash_len = STORE_HASH_LEN;
	rc = store_audit_append(a->store, &row, (const uint8_t(*)[STORE_ID_LEN])ids.ids, ids.n);
	if (rc == 0) {
		a->entries++;
		a->head_seq = row.seq;
		memcpy(a->head_hash, row.hash, STORE_HASH_LEN);
	} else {
		a->head_known = false; /* a failed insert may have left anything */
	}
	return rc;
}

int audit_checkpoint_tick(struct audit *a, uint64_t now_ms, bool force)
{
	struct store_audit_checkpoint cp;
	uint8_t body[AUDIT_CHECKPOINT_MAX];
	uint64_t seq;
	int n, rc;

	if (!a || a->standby)
		return 0;
	rc = store_audit_head(a->store, &seq, cp.head);
	if (rc < 0)
		return rc;
	if (seq <= a->last_cp_seq)
		return 0;
	if (!force && seq - a->last_cp_seq < a->every_entries && now_ms - a->last_cp_ms < a->every_ms)
		return 0;
	/* The checkpoint commits with the entries it covers (staged ones
	 * included): it can never name a head that was rolled back. */
	rc = commit_stage(a->commit, COMMIT_AUDIT);
	if (rc < 0)
		return rc;
	n = audit_checkpoint_body(a->my_id, seq, cp.head, now_ms, body);
	if (n < 0)
		return n;
	cp.seq = seq;
	cp.time_ms = now_ms;
	cp.body = body;
	cp.body_len = (size_t)n;
	rc = audit_checkpoint_sign(a->me, body, (size_t)n, cp.sig);
	if (rc == 0)
		rc = store_audit_checkpoint_put(a->store, &cp);
	if (rc == 0) {
		a->last_cp_seq = seq;
		a->last_cp_ms = now_ms;
		a->checkpoints++;
		log_debug("audit checkpoint seq=%llu", (unsigned long long)seq);
	}
	return rc;
}

void audit_rolled_back(struct audit *a)
{
	audit_discard(a);
	/* A failed commit may have taken a checkpoint with it: read the
	 * committed one back so the next tick makes it again. */
	if (a && store_audit_checkpoint_last(a->store, &a->last_cp_seq, &a->last_cp_ms) < 0)
		a->last_cp_seq = 0;
}

uint64_t audit_entries(const struct audit *a)
{
	return a ? a->entries : 0;
}

const struct identity *audit_identity(const struct audit *a)
{
	return a ? a->me : NULL;
}

const char *audit_agent_id(const struct audit *a)
{
	return a ? a->my_id : "";
}

/* ------------------------------------------------------------ typed entries */

static void put_type(struct audit_builder *b, int type)
{
	const char *name = schema_type_name(type);
	char num[16];

	if (!name) {
		snprintf(num, sizeof(num), "%d", type);
		name = num;
	}
	audit_put_text(b, AUDIT_T_TYPE, name);
}





int audit_relayed(struct audit *a, const char *peer, const char *author, const char *recipient,
		  const uint8_t id[STORE_ID_LEN], int type, const uint8_t envelope_hash[STORE_HASH_LEN])
{
	struct audit_builder *b = audit_start(a, AUDIT_RELAYED);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_PEER, peer);
	audit_put_text(b, AUDIT_T_AUTHOR, author);
	audit_put_bytes(b, AUDIT_T_ID, id, STORE_ID_LEN);
	put_type(b, type);
	audit_put_text(b, AUDIT_T_RECIPIENT, recipient);
	if (envelope_hash)
		audit_put_bytes(b, AUDIT_T_ENVELOPE_HASH, envelope_hash, STORE_HASH_LEN);
	return audit_finish(a);
}

int audit_refused(struct audit *a, const char *peer, const uint8_t *id, const char *reason,
		  const char *detail)
{
	struct audit_builder *b = audit_start(a, AUDIT_REFUSED);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_PEER, peer);
	if (id)
		audit_put_bytes(b, AUDIT_T_ID, id, STORE_ID_LEN);
	audit_put_text(b, AUDIT_T_REASON, reason);
	audit_put_text(b, AUDIT_T_DETAIL, detail);
	return audit_finish(a);
}

int audit_refused_count(struct audit *a, const char *peer, const char *reason, uint64_t count,
			const char *detail)
{
	struct audit_builder *b = audit_start(a, AUDIT_REFUSED);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_PEER, peer);
	audit_put_text(b, AUDIT_T_REASON, reason);
	audit_put_u64(b, AUDIT_T_COUNT, count);
	audit_put_text(b, AUDIT_T_DETAIL, detail);
	return audit_finish(a);
}

int audit_read(struct audit *a, const char *client, const uint8_t (*ids)[STORE_ID_LEN], size_t n,
	       const char *detail)
{
	struct audit_builder *b = audit_start(a, AUDIT_READ);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_CLIENT, client);
	for (size_t i = 0; i < n; i++)
		audit_put_bytes(b, AUDIT_T_ID, ids[i], STORE_ID_LEN);
	audit_put_text(b, AUDIT_T_DETAIL, detail);
	return audit_finish(a);
}

int audit_denied(struct audit *a, const char *client, const char *right, const uint8_t *id,
		 const char *detail)
{
	struct audit_builder *b = audit_start(a, AUDIT_DENIED);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_CLIENT, client);
	if (id)
		audit_put_bytes(b, AUDIT_T_ID, id, STORE_ID_LEN);
	audit_put_text(b, AUDIT_T_RIGHT, right);
	audit_put_text(b, AUDIT_T_DETAIL, detail);
	return audit_finish(a);
}

int audit_requeued(struct audit *a, const char *client, const uint8_t id[STORE_ID_LEN], const char *recipient)
{
	struct audit_builder *b = audit_start(a, AUDIT_REQUEUED);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_CLIENT, client);
	audit_put_bytes(b, AUDIT_T_ID, id, STORE_ID_LEN);
	audit_put_text(b, AUDIT_T_RECIPIENT, recipient);
	return audit_finish(a);
}

int audit_expired(struct audit *a, const char *peer, const char *recipient, const uint8_t id[STORE_ID_LEN],
		  int type)
{
	struct audit_builder *b = audit_start(a, AUDIT_EXPIRED);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_PEER, peer);
	audit_put_bytes(b, AUDIT_T_ID, id, STORE_ID_LEN);
	put_type(b, type);
	audit_put_text(b, AUDIT_T_RECIPIENT, recipient);
	return audit_finish(a);
}

int audit_purged(struct audit *a, uint64_t retention_ms, const char *detail)
{
	struct audit_builder *b = audit_start(a, AUDIT_PURGED);

	if (!b)
		return 0;
	audit_put_u64(b, AUDIT_T_COUNT, retention_ms);
	audit_put_text(b, AUDIT_T_DETAIL, detail);
	return audit_finish(a);
}

int audit_config(struct audit *a, const char *what, const uint8_t config_hash[STORE_HASH_LEN])
{
	struct audit_builder *b = audit_start(a, AUDIT_CONFIG);

	if (!b)
		return 0;
	audit_put_bytes(b, AUDIT_T_CONFIG_HASH, config_hash, STORE_HASH_LEN);
	audit_put_text(b, AUDIT_T_DETAIL, what);
	return audit_finish(a);
}

int audit_config_file(struct audit *a, const char *what, const char *path)
{
	uint8_t hash[STORE_HASH_LEN];
	uint8_t *text = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int rc = 0;

	if (!a)
		return 0;
	/* the bytes as they are on disk now: an auditor can hash a kept copy */
	f = fopen(path, "rbe");
	if (!f)
		return limes_from_errno(errno);
	for (;;) {
		if (len == cap) {
			uint8_t *grown = cap >= (1u << 20) ? NULL : realloc(text, cap ? 2 * cap : 4096);
			if (!grown) {
				rc = cap >= (1u << 20) ? LIMES_E_TOOBIG : LIMES_E_NOMEM;
				break;
			}
			text = grown;
			cap = cap ? 2 * cap : 4096;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				rc = LIMES_E_IO;
			break;
		}
	}
	fclose(f);
	if (rc == 0) {
		envelope_hash(text ? text : (const uint8_t *)"", len, hash);
		rc = audit_config(a, what, hash);
	}
	free(text);
	return rc;
}

int audit_key(struct audit *a, const char *peer, const uint8_t *key_id, size_t key_id_len, const char *what)
{
	struct audit_builder *b = audit_start(a, AUDIT_KEY);

	if (!b)
		return 0;
	audit_put_text(b, AUDIT_T_PEER, peer);
	audit_put_bytes(b, AUDIT_T_KEY_ID, key_id, key_id_len);
	audit_put_text(b, AUDIT_T_DETAIL, what);
	return audit_finish(a);
}

/* ------------------------------------------------------------ batch entries */

/* The fields of one message of a batch entry, its id first (docs/audit.md). */
static void put_msg(struct audit_builder *b, int kind, const struct audit_msg *m)
{
	audit_put_bytes(b, AUDIT_T_ID, m->id, STORE_ID_LEN);
	switch (kind) {
	case AUDIT_SUBMITTED_BATCH:
		put_type(b, m->type);
		for (size_t i = 0; i < m->n_recipients; i++)
			audit_put_text(b, AUDIT_T_RECIPIENT, m->recipients[i]);
		if (m->body_hash)
			audit_put_bytes(b, AUDIT_T_BODY_HASH, m->body_hash, STORE_HASH_LEN);
		break;
	case AUDIT_SENT_BATCH:
		audit_put_text(b, AUDIT_T_RECIPIENT, m->recipient);
		audit_put_u64(b, AUDIT_T_ATTEMPT, m->attempt);
		break;
	case AUDIT_RECEIPT_BATCH:
		audit_put_text(b, AUDIT_T_RECIPIENT, m->recipient);
		audit_put_text(b, AUDIT_T_STATUS, m->status);
		audit_put_text(b, AUDIT_T_REASON, m->reason);
		break;
	case AUDIT_RECEIVED_BATCH:
		audit_put_text(b, AUDIT_T_AUTHOR, m->author);
		put_type(b, m->type);
		if (m->body_hash)
			audit_put_bytes(b, AUDIT_T_BODY_HASH, m->body_hash, STORE_HASH_LEN);
		if (m->envelope_hash)
			audit_put_bytes(b, AUDIT_T_ENVELOPE_HASH, m->envelope_hash, STORE_HASH_LEN);
		break;
	default:
		break;
	}
}

int audit_batch(struct audit *a, int kind, const char *who, const uint8_t *receipt_hash,
		const struct audit_msg *msgs, size_t n)
{
	size_t i = 0;
	int rc = 0;

	if (!a || n == 0)
		return 0;
	if (!audit_kind_is_batch(kind))
		return LIMES_E_INVAL;
	while (i < n && rc == 0) {
		struct audit_builder *b = audit_start(a, kind);
		size_t first = i;
		audit_put_text(b, kind == AUDIT_SUBMITTED_BATCH ? AUDIT_T_CLIENT : AUDIT_T_PEER, who);
		if (receipt_hash)
			audit_put_bytes(b, AUDIT_T_RECEIPT_HASH, receipt_hash, STORE_HASH_LEN);
		/* as many messages as fit; the rest go into the next entry, so a
		 * message is never split across two */
		for (; i < n && i - first < AUDIT_INDEX_MAX; i++) {
			size_t before = b->len;
			put_msg(b, kind, &msgs[i]);
			if (b->overflow) {
				b->len = before;
				b->overflow = i == first; /* one message alone too big: refused */
				break;
			}
		}
		if (b->overflow)
			i++;
		rc = audit_finish(a);
	}
	return rc;
}

int audit_received_later(struct audit *a, const char *peer, const struct audit_msg *m)
{
	struct later *l;

	if (!a)
		return 0;
	if (a->standby)
		return LIMES_E_AGAIN;
	if (a->n_later == a->cap_later) {
		size_t cap = a->cap_later ? 2 * a->cap_later : 64;
		struct later *grown = realloc(a->later, cap * sizeof(*grown));
		if (!grown)
			return LIMES_E_NOMEM;
		a->later = grown;
		a->cap_later = cap;
	}
	l = &a->later[a->n_later++];
	snprintf(l->peer, sizeof(l->peer), "%s", peer ? peer : "");
	snprintf(l->author, sizeof(l->author), "%s", m->author ? m->author : "");
	memcpy(l->id, m->id, STORE_ID_LEN);
	l->type = m->type;
	l->has_body_hash = m->body_hash != NULL;
	if (m->body_hash)
		memcpy(l->body_hash, m->body_hash, STORE_HASH_LEN);
	l->has_envelope_hash = m->envelope_hash != NULL;
	if (m->envelope_hash)
		memcpy(l->envelope_hash, m->envelope_hash, STORE_HASH_LEN);
	return 0;
}

void audit_discard(struct audit *a)
{
	if (a)
		a->n_later = 0;
}

int audit_flush(struct audit *a)
{
	struct audit_msg *msgs;
	bool *done;
	int rc = 0;

	if (!a || a->n_later == 0)
		return 0;
	/* the turn was rolled back: the inbox rows these name are gone too */
	if (!store_in_transaction(a->store) || !store_healthy(a->store)) {
		audit_discard(a);
		return 0;
	}
	msgs = malloc(a->n_later * sizeof(*msgs));
	done = calloc(a->n_later, sizeof(*done));
	if (!msgs || !done) {
		rc = LIMES_E_NOMEM;
		goto out;
	}
	/* one entry per neighbour the envelopes came from, in arrival order */
	for (size_t i = 0; i < a->n_later && rc == 0; i++) {
		size_t n = 0;
		if (done[i])
			continue;
		for (size_t j = i; j < a->n_later; j++) {
			const struct later *l = &a->later[j];
			if (done[j] || strcmp(l->peer, a->later[i].peer) != 0)
				continue;
			done[j] = true;
			msgs[n++] = (struct audit_msg){ .id = l->id, .type = l->type, .author = l->author,
							.body_hash = l->has_body_hash ? l->body_hash : NULL,
							.envelope_hash = l->has_envelope_hash ? l->envelope_hash : NULL };
		}
		rc = audit_batch(a, AUDIT_RECEIVED_BATCH, a->later[i].peer, NULL, msgs, n);
	}
out:
	free(msgs);
	free(done);
	audit_discard(a);
	return rc;
}
