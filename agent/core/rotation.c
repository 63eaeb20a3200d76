/*
 * Key rotation with overlap (docs/protocol.md "Key rotation", operations.md
 * "Rotating this agent's key"). Owns both halves:
 *
 *  - ours: the next identity (keys/next.key, made by `limes keygen --next`),
 *    its announcement (built once, re-sent by the links until each direct
 *    neighbour answers), the promotion (files renamed, the identity swapped
 *    in place) and the replaced identity kept for receiving until its
 *    overlap ends;
 *  - the neighbours': an announced next key, checked and then offered (the
 *    operator confirms) or adopted at once (`rotation = accept`); put in
 *    force when the neighbour first presents it; the key it replaced kept
 *    valid for receiving for [link] key_overlap.
 *
 * Everything learnt lives in the store (peer_keys), so a restart keeps it;
 * a configured key that differs from the one a row grew from wins. Every
 * change is logged, audited and, for the console, an event.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "core/events.h"
#include "core_int.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "crypto/keyupdate.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/wire.h"

/* Our own row's changed_by once the replaced key's overlap ended and was recorded. */
#define OVERLAP_ENDED "overlap-ended"

/* One of our replaced keys older than `previous`, kept in the key ring
 * (keys/ring-KEYID.*) while a stored row may still be sealed to it. */
struct ring_key {
	struct identity *id;        /* owned */
	char stem[32];              /* its file stem, "ring-" + key id */
	uint64_t at_ms;             /* when it went to the ring */
	uint64_t until_ms;          /* end of its overlap: it opens live envelopes until then */
};

/* A neighbour's key it replaced over the link, kept (public half only)
 * while a stored row may still be sealed with it. */
struct old_key {
	char name[STORE_AGENCY_MAX + 18]; /* "PEER/KEYID", its note's name */
	char peer[STORE_AGENCY_MAX + 1];
	struct peer_key key;
	uint64_t at_ms, until_ms;
};

struct rotation_ack {
	char peer[STORE_AGENCY_MAX + 1];
	int state;                  /* what it answered: STORE_KEY_OFFERED or _ADOPTED, 0 none yet */
	bool due;                   /* (as the receiver) our answer waits to be sent */
	bool queued;                /* behind a relay: our announcement is in the outbox to it */
};

struct rotation {
	struct peers *peers;        /* borrowed */
	struct store *store;
	struct commit *commit;
	struct audit *audit;        /* may be NULL */
	struct identity *me;        /* borrowed; promotion swaps its contents in place */
	char my_id[STORE_AGENCY_MAX + 1];
	char keys_dir[PATH_MAX];
	struct identity *next;      /* owned: keys/next.key, or NULL */
	struct identity *previous;  /* owned: the replaced identity while its overlap lasts */
	struct ring_key *ring;      /* owned: older replaced keys still needed */
	size_t n_ring;
	struct old_key *theirs;     /* owned: the neighbours' replaced keys still needed */
	size_t n_theirs;
	struct store_key_note *notes; /* read at start only, then freed */
	size_t n_notes;
	struct store_key_row own;   /* our own row (peer = our id) */
	struct store_key_row *rows; /* the neighbours' rows */
	size_t n_rows;
	struct rotation_ack *acks;  /* per direct neighbour: its answer to our announcement, or ours to its */
	size_t n_acks;
	uint8_t body[KEYUPDATE_BODY_MAX], sig[KEYUPDATE_SIG_LEN], sig2[KEYUPDATE_SIG_LEN];
	size_t body_len;            /* 0: nothing to announce */
	rotation_rekey_fn rekey;    /* the links' callback after a promotion */
	void *rekey_arg;
	struct submit *submit;      /* borrowed: seals what goes to peers behind a relay */
};

static void key_hex(char out[17], const uint8_t key_id[8])
{
	encode_hex(out, 17, key_id, 8);
}

static void line_of(const struct peer_key *k, char *buf, size_t len)
{
	if (identity_line_format(k, buf, len) < 0)
		buf[0] = '\0';
}

static int parse_line(const char *line, struct peer_key *out)
{
	char why[128];
	return line[0] ? identity_line_parse(line, out, why, sizeof(why)) : LIMES_E_NOTFOUND;
}

static struct store_key_row *row_find(struct rotation *r, const char *peer)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (strcmp(r->rows[i].peer, peer) == 0)
			return &r->rows[i];
	return NULL;
}

static struct store_key_row *row_get(struct rotation *r, const char *peer)
{
	struct store_key_row *row = row_find(r, peer);
	if (row)
		return row;
	struct store_key_row *grown = realloc(r->rows, (r->n_rows + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	r->rows = grown;
	row = &r->rows[r->n_rows++];
	memset(row, 0, sizeof(*row));
	snprintf(row->peer, sizeof(row->peer), "%s", peer);
	return row;
}

static struct rotation_ack *ack_get(struct rotation *r, const char *peer)
{
	for (size_t i = 0; i < r->n_acks; i++)
		if (strcmp(r->acks[i].peer, peer) == 0)
			return &r->acks[i];
	struct rotation_ack *grown = realloc(r->acks, (r->n_acks + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	r->acks = grown;
	struct rotation_ack *a = &r->acks[r->n_acks++];
	memset(a, 0, sizeof(*a));
	snprintf(a->peer, sizeof(a->peer), "%s", peer);
	return a;
}

/* Stages the row in the turn's commit. */
static int persist(struct rotation *r, const struct store_key_row *row)
{
	int rc = commit_stage(r->commit, 0);
	if (rc == 0)
		rc = store_key_put(r->store, row);
	if (rc < 0)
		log_error("peer=%s event=key_state_not_saved reason=\"%s\"", row->peer, limes_strerror(rc));
	return rc;
}

static int note_put(struct rotation *r, const struct store_key_note *n)
{
	int rc = commit_stage(r->commit, 0);
	if (rc == 0)
		rc = store_key_note_put(r->store, n);
	if (rc < 0)
		log_error("event=key_state_not_saved what=%s name=%s reason=\"%s\"", n->kind, n->name,
			  limes_strerror(rc));
	return rc;
}

static const struct store_key_note *note_find(const struct rotation *r, const char *kind, const char *name)
{
	for (size_t i = 0; i < r->n_notes; i++)
		if (strcmp(r->notes[i].kind, kind) == 0 && strcmp(r->notes[i].name, name) == 0)
			return &r->notes[i];
	return NULL;
}

static void record(struct rotation *r, const char *peer, const uint8_t key_id[8], const char *what)
{
	int rc = audit_key(r->audit, peer, key_id, 8, what);
	if (rc < 0)
		log_error("peer=%s event=audit_failed reason=\"%s\"", peer, limes_strerror(rc));
}

static void relay_tick(struct rotation *r, uint64_t now);

/* ------------------------------------------------------------ ours */

static int build_announcement(struct rotation *r)
{
	r->body_len = 0;
	if (!r->next)
		return 0;
	return keyupdate_build(r->me, r->next, r->my_id, r->own.seq, r->own.announced_ms, r->body, &r->body_len,
			       r->sig, r->sig2);
}

/* ------------------------------------------------------------ the key ring */

static int ring_add(struct rotation *r, struct identity **id, const char *stem, uint64_t at_ms, uint64_t until_ms)
{
	struct ring_key *grown = realloc(r->ring, (r->n_ring + 1) * sizeof(*grown));
	if (!grown)
		return LIMES_E_NOMEM;
	r->ring = grown;
	struct ring_key *k = &r->ring[r->n_ring++];
	memset(k, 0, sizeof(*k));
	k->id = *id;
	*id = NULL;
	snprintf(k->stem, sizeof(k->stem), "%s", stem);
	k->at_ms = at_ms;
	k->until_ms = until_ms;
	return 0;
}

static struct store_key_note ring_note(const struct ring_key *k)
{
	struct store_key_note n;
	memset(&n, 0, sizeof(n));
	snprintf(n.kind, sizeof(n.kind), STORE_NOTE_RING);
	snprintf(n.name, sizeof(n.name), "%s", k->stem + strlen(IDENTITY_RING_PREFIX));
	line_of(identity_public(k->id), n.line, sizeof(n.line));
	n.at_ms = k->at_ms;
	n.until_ms = k->until_ms;
	return n;
}

/* keys/ring-*.key at start: each with its overlap end from the store; one
 * retired while we were stopped (no note) ends its overlap now, or at the
 * end the store knew for it as our previous key. */
static int load_ring(struct rotation *r, char *err, size_t err_len)
{
	DIR *d = opendir(r->keys_dir);
	struct dirent *de;
	uint64_t now = clock_now_ms();
	int rc = 0;

	if (!d)
		return 0; /* identity_load already judged the folder */
	while (rc == 0 && (de = readdir(d))) {
		size_t n = strlen(de->d_name), pre = strlen(IDENTITY_RING_PREFIX);
		char stem[32], why[512];
		if (n <= pre + 4 || n - 4 >= sizeof(stem) || strncmp(de->d_name, IDENTITY_RING_PREFIX, pre) != 0 ||
		    strcmp(de->d_name + n - 4, ".key") != 0)
			continue;
		snprintf(stem, sizeof(stem), "%.*s", (int)(n - 4), de->d_name);
		struct identity *id = identity_load_as(r->keys_dir, stem, &rc, why, sizeof(why));
		if (!id) {
			snprintf(err, err_len, "%s", why);
			break;
		}
		char line[IDENTITY_LINE_SIZE];
		line_of(identity_public(id), line, sizeof(line));
		const struct store_key_note *note = note_find(r, STORE_NOTE_RING, stem + pre);
		bool fresh = !note;
		uint64_t until = note ? note->until_ms : strcmp(line, r->own.previous_line) == 0 ?
			r->own.previous_until_ms : now;
		if ((rc = ring_add(r, &id, stem, note ? note->at_ms : now, until)) < 0) {
			identity_destroy(&id);
			snprintf(err, err_len, "out of memory");
			break;
		}
		if (fresh) {
			struct store_key_note rn = ring_note(&r->ring[r->n_ring - 1]);
			rc = note_put(r, &rn);
		}
	}
	closedir(d);
	return rc;
}

/* The replaced key of ours whose id is key_id (NULL: the newest), live
 * (its overlap not over at now) or for stored rows (any time). */
static const struct identity *replaced_key(const struct rotation *r, const uint8_t *key_id, bool live, uint64_t now)
{
	if (!r)
		return NULL;
	if (r->previous && (!key_id || memcmp(identity_public(r->previous)->key_id, key_id, 8) == 0))
		return !live || now <= r->own.previous_until_ms ? r->previous : NULL;
	for (size_t i = 0; key_id && i < r->n_ring; i++)
		if (memcmp(identity_public(r->ring[i].id)->key_id, key_id, 8) == 0)
			return !live || now <= r->ring[i].until_ms ? r->ring[i].id : NULL;
	return NULL;
}

static int theirs_add(struct rotation *r, const char *peer, const struct peer_key *key, uint64_t at_ms,
		      uint64_t until_ms, bool save)
{
	char hex[17];
	struct store_key_note n;
	key_hex(hex, key->key_id);
	for (size_t i = 0; i < r->n_theirs; i++)
		if (strcmp(r->theirs[i].peer, peer) == 0 && memcmp(r->theirs[i].key.key_id, key->key_id, 8) == 0)
			return 0;
	struct old_key *grown = realloc(r->theirs, (r->n_theirs + 1) * sizeof(*grown));
	if (!grown)
		return LIMES_E_NOMEM;
	r->theirs = grown;
	struct old_key *k = &r->theirs[r->n_theirs++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s/%s", peer, hex);
	snprintf(k->peer, sizeof(k->peer), "%s", peer);
	k->key = *key;
	k->at_ms = at_ms;
	k->until_ms = until_ms;
	if (!save)
		return 0;
	memset(&n, 0, sizeof(n));
	snprintf(n.kind, sizeof(n.kind), STORE_NOTE_THEIRS);
	snprintf(n.name, sizeof(n.name), "%s", k->name);
	line_of(key, n.line, sizeof(n.line));
	n.at_ms = at_ms;
	n.until_ms = until_ms;
	return note_put(r, &n);
}

static int load_theirs(struct rotation *r)
{
	for (size_t i = 0; i < r->n_notes; i++) {
		const struct store_key_note *n = &r->notes[i];
		const char *slash = strrchr(n->name, '/');
		char peer[STORE_AGENCY_MAX + 1];
		struct peer_key key;
		if (strcmp(n->kind, STORE_NOTE_THEIRS) != 0 || !slash || parse_line(n->line, &key) < 0)
			continue;
		snprintf(peer, sizeof(peer), "%.*s", (int)(slash - n->name), n->name);
		int rc = theirs_add(r, peer, &key, n->at_ms, n->until_ms, false);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Past its overlap and the [agent] retention after it, no row sealed to a
 * ring key can still be stored: its files and note go. So do the
 * neighbours' replaced keys. */
static void ring_retire(struct rotation *r, uint64_t now)
{
	uint64_t keep = peers_config(r->peers)->retention_ms;
	for (size_t i = 0; i < r->n_theirs;) {
		struct old_key *k = &r->theirs[i];
		if (now <= k->until_ms + keep) {
			i++;
			continue;
		}
		int rc = commit_stage(r->commit, 0);
		if (rc == 0)
			rc = store_key_note_delete(r->store, STORE_NOTE_THEIRS, k->name);
		if (rc < 0) {
			i++;
			continue;
		}
		log_info("peer=%s event=key_retired key=%.16s reason=\"its replaced key: overlap and retention over\"",
			 k->peer, k->name + strlen(k->peer) + 1);
		r->theirs[i] = r->theirs[--r->n_theirs];
	}
	for (size_t i = 0; i < r->n_ring;) {
		struct ring_key *k = &r->ring[i];
		char hex[17];
		if (now <= k->until_ms + keep) {
			i++;
			continue;
		}
		key_hex(hex, identity_public(k->id)->key_id);
		int rc = commit_stage(r->commit, 0);
		if (rc == 0)
			rc = store_key_note_delete(r->store, STORE_NOTE_RING, k->stem + strlen(IDENTITY_RING_PREFIX));
		if (rc == 0)
			rc = identity_remove(r->keys_dir, k->stem);
		if (rc < 0) {
			log_error("event=key_retire_failed key=%s reason=\"%s\"", hex, limes_strerror(rc));
			i++;
			continue;
		}
		log_info("event=key_retired key=%s reason=\"overlap and retention over: no stored row can be sealed "
			 "to it\"", hex);
		record(r, r->my_id, identity_public(k->id)->key_id, "replaced key retired from the key ring");
		identity_destroy(&k->id);
		r->ring[i] = r->ring[--r->n_ring];
	}
}

/* Our own files as they are at start: a next key to announce, a previous one
 * (an offline `keygen --promote`) whose overlap starts now unless the store
 * already knows it. */
static int load_own(struct rotation *r, char *err, size_t err_len)
{
	const struct config *cfg = peers_config(r->peers);
	char why[512], line[IDENTITY_LINE_SIZE];
	int rc = 0;
	uint64_t now = clock_now_ms();
	bool changed = false;

	line_of(identity_public(r->me), line, sizeof(line));
	if (strcmp(r->own.current_line, line) != 0) {
		snprintf(r->own.current_line, sizeof(r->own.current_line), "%s", line);
		changed = true;
	}
	if (!r->previous && identity_file_exists(r->keys_dir, IDENTITY_PREVIOUS)) {
		r->previous = identity_load_as(r->keys_dir, IDENTITY_PREVIOUS, &rc, why, sizeof(why));
		if (!r->previous) {
			snprintf(err, err_len, "%s", why);
			return rc;
		}
		char prev[IDENTITY_LINE_SIZE];
		line_of(identity_public(r->previous), prev, sizeof(prev));
		if (strcmp(r->own.previous_line, prev) != 0) {
			/* promoted while we were stopped: the overlap starts now */
			snprintf(r->own.previous_line, sizeof(r->own.previous_line), "%s", prev);
			r->own.previous_until_ms = now + cfg->key_overlap_ms;
			r->own.changed_ms = now;
			snprintf(r->own.changed_by, sizeof(r->own.changed_by), "keygen --promote");
			changed = true;
			log_info("event=key_promoted key=%.16s previous=%.16s overlap_until_ms=%llu", line + 7, prev + 7,
				 (unsigned long long)r->own.previous_until_ms);
			record(r, r->my_id, identity_public(r->me)->key_id, "promoted (keygen --promote)");
		}
		/* past its overlap it opens only what is stored (rotation_open_stored);
		 * rotation_tick records the end once */
	}
	if (!r->next && identity_file_exists(r->keys_dir, IDENTITY_NEXT)) {
		r->next = identity_load_as(r->keys_dir, IDENTITY_NEXT, &rc, why, sizeof(why));
		if (!r->next) {
			snprintf(err, err_len, "%s", why);
			return rc;
		}
		char next[IDENTITY_LINE_SIZE];
		line_of(identity_public(r->next), next, sizeof(next));
		if (strcmp(r->own.next_line, next) != 0) {
			/* a new next key: a new announcement, never a reuse of a sequence */
			snprintf(r->own.next_line, sizeof(r->own.next_line), "%s", next);
			r->own.seq++;
			r->own.announced_ms = now;
			r->own.changed_ms = now;
			changed = true;
			log_info("event=key_next key=%.16s seq=%llu reason=\"announcing it to every direct neighbour\"",
				 next + 7, (unsigned long long)r->own.seq);
			record(r, r->my_id, identity_public(r->next)->key_id, "next key announced");
		}
	} else if (!r->next && r->own.next_line[0]) {
		r->own.next_line[0] = '\0';
		changed = true;
	}
	if (changed && (rc = persist(r, &r->own)) < 0) {
		snprintf(err, err_len, "cannot record this agent's keys in the store: %s", limes_strerror(rc));
		return rc;
	}
	/* the neighbours' answers to this very announcement outlive a restart */
	for (size_t i = 0; r->next && i < r->n_notes; i++) {
		const struct store_key_note *n = &r->notes[i];
		struct rotation_ack *a;
		if (strcmp(n->kind, STORE_NOTE_ACK) == 0 && n->seq == r->own.seq &&
		    strcmp(n->line, r->own.next_line) == 0 && (a = ack_get(r, n->name)))
			a->state = n->state;
		if (strcmp(n->kind, STORE_NOTE_RELAYED) == 0 && n->seq == r->own.seq &&
		    strcmp(n->line, r->own.next_line) == 0 && (a = ack_get(r, n->name)))
			a->queued = true;
	}
	return build_announcement(r);
}

/* ------------------------------------------------------------ theirs */

/* Puts a neighbour's row in force on its peer (after start and reloads). */
static void apply_row(struct rotation *r, struct store_key_row *row, uint64_t now)
{
	struct peer *p = peers_find(r->peers, row->peer);
	char conf_line[IDENTITY_LINE_SIZE];

	if (!p)
		return;
	line_of(&peer_conf(p)->key, conf_line, sizeof(conf_line));
	if (strcmp(row->base_line, conf_line) != 0) {
		/* the operator set another key: what the link taught us is void */
		if (row->current_line[0] || row->next_line[0])
			log_info("peer=%s event=key_config_wins reason=\"its configured key changed: the configured key "
				 "is in force, keys learnt over the link are forgotten\"", row->peer);
		uint64_t seq = row->seq;
		memset(row, 0, sizeof(*row));
		snprintf(row->peer, sizeof(row->peer), "%s", peer_id(p));
		snprintf(row->base_line, sizeof(row->base_line), "%s", conf_line);
		row->seq = seq; /* replay protection outlives a key change */
		row->changed_ms = now;
		persist(r, row);
	}
	struct peer_rotation *pr = peer_rotation_mut(p);
	struct peer_key cur, prev, next;
	bool has_cur = parse_line(row->current_line, &cur) == 0;
	bool has_prev = parse_line(row->previous_line, &prev) == 0;
	bool has_next = parse_line(row->next_line, &next) == 0;
	const struct envelope_peer *reload_prev = peer_crypto_previous(p);

	memset(pr, 0, sizeof(*pr));
	pr->next_state = has_next ? row->next_state : STORE_KEY_NONE;
	if (has_next)
		pr->next = next;
	pr->seq = row->seq;
	pr->announced_ms = row->announced_ms;
	pr->changed_ms = row->changed_ms;
	snprintf(pr->changed_by, sizeof(pr->changed_by), "%s", row->changed_by);
	pr->learnt = has_cur;
	if (!has_cur && !has_prev && !(has_next && row->next_state == STORE_KEY_ADOPTED))
		return; /* nothing beyond the config: keep what the reload made */
	if (!has_prev && reload_prev) {
		prev = *envelope_peer_key(reload_prev);
		has_prev = true;
		row->previous_until_ms = peer_previous_until(p);
	}
	int rc = peer_keys_set(p, r->me, has_cur ? &cur : &peer_conf(p)->key, has_prev ? &prev : NULL,
			       row->previous_until_ms,
			       has_next && row->next_state == STORE_KEY_ADOPTED ? &next : NULL);
	if (rc < 0)
		log_error("peer=%s event=key_state_unusable reason=\"%s\"", row->peer, limes_strerror(rc));
}

void rotation_apply(struct rotation *r)
{
	uint64_t now = clock_now_ms();
	char err[512];

	if (!r)
		return;
	/* `limes keygen --next` while running: announce it from this reload on */
	if (!r->next && identity_file_exists(r->keys_dir, IDENTITY_NEXT) && load_own(r, err, sizeof(err)) < 0)
		log_error("event=key_next_unusable reason=\"%s\"", err);
	for (size_t i = 0; i < r->n_rows; i++)
		apply_row(r, &r->rows[i], now);
}

static int take_note(void *arg, const struct store_key_note *note)
{
	struct rotation *r = arg;
	struct store_key_note *grown = realloc(r->notes, (r->n_notes + 1) * sizeof(*grown));
	if (!grown)
		return LIMES_E_NOMEM;
	r->notes = grown;
	r->notes[r->n_notes++] = *note;
	return 0;
}

static int take_row(void *arg, const struct store_key_row *row)
{
	struct rotation *r = arg;
	if (strcmp(row->peer, r->my_id) == 0) {
		r->own = *row;
		return 0;
	}
	struct store_key_row *mine = row_get(r, row->peer);
	if (!mine)
		return LIMES_E_NOMEM;
	*mine = *row;
	return 0;
}

struct rotation *rotation_new(struct peers *peers, struct store *store, struct commit *commit, struct audit *audit,
			      struct identity *me, char *err, size_t err_len)
{
	struct rotation *r = calloc(1, sizeof(*r));
	const struct config *cfg = peers_config(peers);
	int rc;

	if (!r) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	r->peers = peers;
	r->store = store;
	r->commit = commit;
	r->audit = audit;
	r->me = me;
	snprintf(r->my_id, sizeof(r->my_id), "%s", cfg->id);
	snprintf(r->keys_dir, sizeof(r->keys_dir), "%s", cfg->keys_dir);
	snprintf(r->own.peer, sizeof(r->own.peer), "%s", cfg->id);
	if ((rc = store_key_list(store, take_row, r)) < 0) {
		snprintf(err, err_len, "cannot read the key rotation state from the store: %s", limes_strerror(rc));
		goto fail;
	}
	if ((rc = store_key_note_list(store, take_note, r)) < 0) {
		snprintf(err, err_len, "cannot read the key rotation notes from the store: %s", limes_strerror(rc));
		goto fail;
	}
	if ((rc = load_ring(r, err, err_len)) < 0 || (rc = load_own(r, err, err_len)) < 0)
		goto fail;
	if ((rc = load_theirs(r)) < 0) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	free(r->notes);
	r->notes = NULL;
	r->n_notes = 0;
	rotation_apply(r);
	/* durable before anything else runs: PostgreSQL's role lock is taken
	 * outside a transaction */
	if ((rc = commit_flush(commit)) < 0) {
		snprintf(err, err_len, "cannot record the key rotation state in the store: %s", limes_strerror(rc));
		goto fail;
	}
	return r;
fail:
	rotation_destroy(&r);
	return NULL;
}

void rotation_destroy(struct rotation **pr)
{
	if (!pr || !*pr)
		return;
	identity_destroy(&(*pr)->next);
	identity_destroy(&(*pr)->previous);
	for (size_t i = 0; i < (*pr)->n_ring; i++)
		identity_destroy(&(*pr)->ring[i].id);
	free((*pr)->ring);
	free((*pr)->theirs);
	free((*pr)->notes);
	free((*pr)->rows);
	free((*pr)->acks);
	free(*pr);
	*pr = NULL;
}

void rotation_set_rekey(struct rotation *r, rotation_rekey_fn fn, void *arg)
{
	r->rekey = fn;
	r->rekey_arg = arg;
}

/* ------------------------------------------------------------ announcing */

bool rotation_announcement(const struct rotation *r, const struct rotation_frame **out)
{
	static struct rotation_frame f;
	if (!r || !r->body_len)
		return false;
	f.body = r->body;
	f.len = r->body_len;
	f.sig = r->sig;
	f.sig2 = r->sig2;
	f.seq = r->own.seq;
	*out = &f;
	return true;
}

bool rotation_must_announce(struct rotation *r, const char *peer)
{
	if (!r || !r->body_len)
		return false;
	struct rotation_ack *a = ack_get(r, peer);
	return !a || a->state == 0;
}

void rotation_on_ack(struct rotation *r, const char *peer, const uint8_t ack[ROTATION_ACK_LEN])
{
	char hex[17];
	if (!r || !r->next)
		return;
	uint64_t seq = be64_get(ack);
	int state = ack[16];
	if (seq != r->own.seq || memcmp(ack + 8, identity_public(r->next)->key_id, 8) != 0 ||
	    (state != STORE_KEY_OFFERED && state != STORE_KEY_ADOPTED)) {
		log_warn("peer=%s event=key_ack_ignored reason=\"it answers another announcement (sequence %llu)\"", peer,
			 (unsigned long long)seq);
		return;
	}
	struct rotation_ack *a = ack_get(r, peer);
	if (!a || a->state == state)
		return;
	a->state = state;
	struct store_key_note n;
	memset(&n, 0, sizeof(n));
	snprintf(n.kind, sizeof(n.kind), STORE_NOTE_ACK);
	snprintf(n.name, sizeof(n.name), "%s", peer);
	snprintf(n.line, sizeof(n.line), "%s", r->own.next_line);
	n.seq = seq;
	n.state = state;
	n.at_ms = clock_now_ms();
	note_put(r, &n);
	key_hex(hex, identity_public(r->next)->key_id);
	log_info("peer=%s event=key_next_%s key=%s seq=%llu", peer,
		 state == STORE_KEY_ADOPTED ? "adopted" : "offered", hex, (unsigned long long)seq);
	record(r, peer, identity_public(r->next)->key_id,
	       state == STORE_KEY_ADOPTED ? "next key adopted by the neighbour" :
					    "next key offered to the neighbour's operator");
}

int rotation_neighbour_answer(const struct rotation *r, const char *peer)
{
	for (size_t i = 0; r && i < r->n_acks; i++)
		if (strcmp(r->acks[i].peer, peer) == 0)
			return r->acks[i].state;
	return 0;
}

const struct peer_key *rotation_next_key(const struct rotation *r, uint64_t *seq)
{
	if (!r || !r->next)
		return NULL;
	if (seq)
		*seq = r->own.seq;
	return identity_public(r->next);
}

/* ------------------------------------------------------------ receiving */

static void answer_of(const struct store_key_row *row, const struct peer_key *next, uint8_t out[ROTATION_ACK_LEN])
{
	be64_put(out, row->seq);
	memcpy(out + 8, next->key_id, 8);
	out[16] = (uint8_t)row->next_state;
}

static void answer_due(struct rotation *r, struct peer *p, struct rotation_ack *a);

/* A peer's announcement: from a direct neighbour named by ZAP, or (relayed)
 * from the author of an envelope that verified with its key. */
static int offered(struct rotation *r, const char *from, bool relayed, const uint8_t *body, size_t len,
		   const uint8_t *sig, const uint8_t *sig2, char *why, size_t why_len)
{
	struct keyupdate ku;
	struct peer *p = peers_find(r->peers, from);
	char cur_hex[17], next_hex[17], force_hex[17], line[IDENTITY_LINE_SIZE];
	uint64_t now = clock_now_ms();

	if (!p || peer_is_direct(p) == relayed) {
		snprintf(why, why_len, relayed ? "%s is a direct neighbour: its keys come over its own link" :
						 "%s is not a direct neighbour", from);
		return LIMES_E_UNKNOWN_PEER;
	}
	if (keyupdate_parse(body, len, &ku) < 0) {
		snprintf(why, why_len, "the announcement does not decode");
		return LIMES_E_ENV_MALFORMED;
	}
	key_hex(cur_hex, ku.current.key_id);
	key_hex(next_hex, ku.next.key_id);
	key_hex(force_hex, peer_key_in_force(p)->key_id);
	/* the connection is the ZAP-named peer's: it may announce only its own keys */
	if (strcmp(ku.agent_id, from) != 0) {
		snprintf(why, why_len, "it announces keys of %s, but the %s is %s's", ku.agent_id,
			 relayed ? "envelope" : "connection", from);
		return LIMES_E_UNKNOWN_PEER;
	}
	if (memcmp(&ku.current, peer_key_in_force(p), sizeof(ku.current)) != 0) {
		snprintf(why, why_len, "it is signed by key %s, not by %s's key in force here (%s)", cur_hex, from,
			 force_hex);
		return LIMES_E_ENV_UNKNOWN_KEY;
	}
	if (memcmp(ku.current.key_id, ku.next.key_id, 8) == 0) {
		snprintf(why, why_len, "its next key %s is its current key", next_hex);
		return LIMES_E_ENV_MALFORMED;
	}
	if (keyupdate_verify(&ku, body, len, sig, sig2) < 0) {
		snprintf(why, why_len, "a signature over the announcement of key %s does not verify", next_hex);
		return LIMES_E_ENV_BAD_SIG;
	}
	if (ku.time_ms > now + peers_config(r->peers)->max_clock_skew_ms) {
		snprintf(why, why_len, "it is dated %llu ms in our future", (unsigned long long)(ku.time_ms - now));
		return LIMES_E_ENV_FUTURE;
	}
	struct store_key_row *row = row_get(r, from);
	if (!row) {
		snprintf(why, why_len, "out of memory");
		return LIMES_E_NOMEM;
	}
	if (!row->base_line[0])
		line_of(&peer_conf(p)->key, row->base_line, sizeof(row->base_line));
	line_of(&ku.next, line, sizeof(line));
	struct rotation_ack *a = ack_get(r, from);
	if (row->seq && ku.seq == row->seq && strcmp(row->next_line, line) == 0) {
		answer_due(r, p, a); /* the same announcement again: answer again */
		return 0;
	}
	if (ku.seq <= row->seq) {
		snprintf(why, why_len, "replayed: sequence %llu, and sequence %llu was already taken",
			 (unsigned long long)ku.seq, (unsigned long long)row->seq);
		return LIMES_E_ENV_REPLAY;
	}
	bool auto_adopt = peer_conf(p)->rotation_accept;
	snprintf(row->next_line, sizeof(row->next_line), "%s", line);
	row->next_state = auto_adopt ? STORE_KEY_ADOPTED : STORE_KEY_OFFERED;
	row->seq = ku.seq;
	row->announced_ms = ku.time_ms;
	row->changed_ms = now;
	snprintf(row->changed_by, sizeof(row->changed_by), "%s", auto_adopt ? "auto" : "");
	int rc = persist(r, row);
	if (rc < 0) {
		snprintf(why, why_len, "cannot record it: %s", limes_strerror(rc));
		return rc;
	}
	log_info("peer=%s event=key_offer key=%s seq=%llu state=%s%s", from, next_hex, (unsigned long long)ku.seq,
		 auto_adopt ? "adopted" : "offered",
		 auto_adopt ? " reason=\"rotation = accept\"" : " action=\"limes peer accept-key to adopt it\"");
	record(r, from, ku.next.key_id, "offered key received");
	if (auto_adopt)
		record(r, from, ku.next.key_id, "adopted automatically (rotation = accept)");
	events_add(peers_events(r->peers), now, "key_offer", from, NULL, auto_adopt ? "adopted" : "offered",
		   next_hex);
	apply_row(r, row, now);
	answer_due(r, p, a);
	return 0;
}

int rotation_offered(struct rotation *r, const char *from, const uint8_t *body, size_t len, const uint8_t *sig,
		     const uint8_t *sig2, char *why, size_t why_len)
{
	return offered(r, from, false, body, len, sig, sig2, why, why_len);
}

bool rotation_answer_due(struct rotation *r, const char *peer, uint8_t out[ROTATION_ACK_LEN])
{
	struct store_key_row *row = r ? row_find(r, peer) : NULL;
	struct peer_key next;
	for (size_t i = 0; row && i < r->n_acks; i++) {
		if (strcmp(r->acks[i].peer, peer) != 0 || !r->acks[i].due)
			continue;
		if (parse_line(row->next_line, &next) < 0)
			return false;
		answer_of(row, &next, out);
		return true;
	}
	return false;
}

void rotation_answer_sent(struct rotation *r, const char *peer)
{
	for (size_t i = 0; r && i < r->n_acks; i++)
		if (strcmp(r->acks[i].peer, peer) == 0)
			r->acks[i].due = false;
}

int rotation_accept(struct rotation *r, const char *peer, const char *by, struct core_error *err)
{
	struct peer *p = peers_find(r->peers, peer);
	struct store_key_row *row = p ? row_find(r, peer) : NULL;
	struct peer_key next;
	char hex[17];
	uint64_t now = clock_now_ms();

	if (!p)
		return core_set_error(err, LIMES_E_UNKNOWN_PEER, "peer", "no peer %s is configured", peer);
	if (!row || !row->next_line[0] || parse_line(row->next_line, &next) < 0)
		return core_set_error(err, LIMES_E_NOTFOUND, "peer", "%s has offered no key", peer);
	key_hex(hex, next.key_id);
	if (row->next_state == STORE_KEY_ADOPTED)
		return core_set_error(err, LIMES_E_EXISTS, "peer", "key %s of %s is adopted already (by %s)", hex,
				      peer, row->changed_by[0] ? row->changed_by : "?");
	row->next_state = STORE_KEY_ADOPTED;
	row->changed_ms = now;
	snprintf(row->changed_by, sizeof(row->changed_by), "%s", by && *by ? by : "operator");
	int rc = persist(r, row);
	if (rc < 0)
		return core_store_refusal(r->store, rc, err);
	char what[128];
	snprintf(what, sizeof(what), "adopted by %s", row->changed_by);
	record(r, peer, next.key_id, what);
	log_info("peer=%s event=key_adopted key=%s by=%s", peer, hex, row->changed_by);
	events_add(peers_events(r->peers), now, "key_offer", peer, NULL, "adopted", hex);
	apply_row(r, row, now);
	answer_due(r, p, ack_get(r, peer)); /* tell it, so its status says adopted */
	return 0;
}

bool rotation_presented(struct rotation *r, struct peer *p, const uint8_t box_pk[32])
{
	const struct envelope_peer *next = r ? peer_crypto_next(p) : NULL;
	struct store_key_row *row = next ? row_find(r, peer_id(p)) : NULL;
	char old_hex[17], new_hex[17];
	uint64_t now = clock_now_ms();

	if (!row || memcmp(envelope_peer_key(next)->box_pk, box_pk, 32) != 0)
		return false;
	struct peer_key old = *peer_key_in_force(p), now_key = *envelope_peer_key(next);
	line_of(&old, row->previous_line, sizeof(row->previous_line));
	line_of(&now_key, row->current_line, sizeof(row->current_line));
	row->previous_until_ms = now + peers_config(r->peers)->key_overlap_ms;
	/* what is stored sealed with it must still open after its next rotation */
	theirs_add(r, peer_id(p), &old, now, row->previous_until_ms, true);
	row->next_line[0] = '\0';
	row->next_state = STORE_KEY_NONE;
	row->changed_ms = now;
	persist(r, row);
	key_hex(old_hex, old.key_id);
	key_hex(new_hex, now_key.key_id);
	log_info("peer=%s event=key_in_force key=%s previous=%s reason=\"the peer switched to its adopted key; the "
		 "previous one stays valid for receiving for key_overlap\"", peer_id(p), new_hex, old_hex);
	record(r, peer_id(p), now_key.key_id, "adopted key in force (the neighbour switched to it)");
	events_add(peers_events(r->peers), now, "key_offer", peer_id(p), NULL, "in_force", new_hex);
	apply_row(r, row, now);
	return true;
}

/* ------------------------------------------------------------ promotion */

int rotation_promote(struct rotation *r, const char *by, struct core_error *err)
{
	char hex[17], old_hex[17], line[IDENTITY_LINE_SIZE];
	uint64_t now = clock_now_ms();

	if (!r->next)
		return core_set_error(err, LIMES_E_NOTFOUND, "", "there is no next key: make one with "
				      "limes keygen --next --dir %s first", r->keys_dir);
	int rc = identity_promote(r->keys_dir);
	if (rc < 0)
		return core_set_error(err, rc, "", "%s: cannot switch the key files: %s", r->keys_dir,
				      limes_strerror(rc));
	/* every holder of r->me sees the new key; r->next now holds the old one */
	identity_exchange(r->me, r->next);
	if (r->previous) {
		/* identity_promote moved its files to the ring: so does memory */
		char stem[32];
		struct identity *old = r->previous;
		r->previous = NULL;
		if (identity_ring_stem(identity_public(old)->key_id, stem, sizeof(stem)) == 0 &&
		    ring_add(r, &old, stem, now, r->own.previous_until_ms) == 0) {
			struct store_key_note rn = ring_note(&r->ring[r->n_ring - 1]);
			note_put(r, &rn);
		}
		identity_destroy(&old);
	}
	r->previous = r->next;
	r->next = NULL;
	r->body_len = 0;
	r->n_acks = 0;
	line_of(identity_public(r->me), r->own.current_line, sizeof(r->own.current_line));
	line_of(identity_public(r->previous), r->own.previous_line, sizeof(r->own.previous_line));
	r->own.previous_until_ms = now + peers_config(r->peers)->key_overlap_ms;
	r->own.next_line[0] = '\0';
	r->own.changed_ms = now;
	snprintf(r->own.changed_by, sizeof(r->own.changed_by), "%s", by && *by ? by : "operator");
	persist(r, &r->own);
	/* every pair key is derived with our secret: derive them again */
	for (size_t i = 0; i < peers_count(r->peers); i++) {
		struct peer *p = peers_at(r->peers, i);
		const struct envelope_peer *prev = peer_crypto_previous(p), *next = peer_crypto_next(p);
		struct peer_key cur = *peer_key_in_force(p), pk, nk;
		if (prev)
			pk = *envelope_peer_key(prev);
		if (next)
			nk = *envelope_peer_key(next);
		if (peer_keys_set(p, r->me, &cur, prev ? &pk : NULL, peer_previous_until(p), next ? &nk : NULL) < 0)
			log_error("peer=%s event=key_state_unusable reason=\"cannot derive the pair key again\"",
				  peer_id(p));
	}
	key_hex(hex, identity_public(r->me)->key_id);
	key_hex(old_hex, identity_public(r->previous)->key_id);
	snprintf(line, sizeof(line), "promoted by %s", r->own.changed_by);
	record(r, r->my_id, identity_public(r->me)->key_id, line);
	log_info("event=key_promoted key=%s previous=%s by=%s overlap_until_ms=%llu", hex, old_hex, r->own.changed_by,
		 (unsigned long long)r->own.previous_until_ms);
	events_add(peers_events(r->peers), now, "key_offer", r->my_id, NULL, "promoted", hex);
	if (r->rekey)
		r->rekey(r->rekey_arg);
	return 0;
}

const struct identity *rotation_previous(const struct rotation *r, const uint8_t *key_id, uint64_t now_ms)
{
	return replaced_key(r, key_id, true, now_ms);
}

const struct identity *rotation_replaced(const struct rotation *r, const uint8_t key_id[8])
{
	return replaced_key(r, key_id, false, 0);
}

size_t rotation_ring_count(const struct rotation *r)
{
	return r ? r->n_ring : 0;
}

const struct peer_key *rotation_ring_at(const struct rotation *r, size_t i, uint64_t *until_ms)
{
	if (!r || i >= r->n_ring)
		return NULL;
	if (until_ms)
		*until_ms = r->ring[i].until_ms;
	return identity_public(r->ring[i].id);
}

const struct store_key_row *rotation_own(const struct rotation *r)
{
	return &r->own;
}

bool rotation_has_next(const struct rotation *r)
{
	return r && r->next;
}

void rotation_tick(struct rotation *r, uint64_t now)
{
	char hex[17];
	if (!r)
		return;
	ring_retire(r, now);
	relay_tick(r, now);
	if (r->previous && now > r->own.previous_until_ms && strcmp(r->own.changed_by, OVERLAP_ENDED) != 0) {
		key_hex(hex, identity_public(r->previous)->key_id);
		log_info("event=key_overlap_over previous=%s reason=\"what is sealed to it is refused from now on\"",
			 hex);
		record(r, r->my_id, identity_public(r->previous)->key_id, "overlap expired (our replaced key)");
		snprintf(r->own.changed_by, sizeof(r->own.changed_by), OVERLAP_ENDED);
		persist(r, &r->own);
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		struct store_key_row *row = &r->rows[i];
		struct peer_key prev;
		if (!row->previous_line[0] || now <= row->previous_until_ms || parse_line(row->previous_line, &prev) < 0)
			continue;
		key_hex(hex, prev.key_id);
		log_info("peer=%s event=key_overlap_over previous=%s reason=\"its replaced key is refused from now on "
			 "(key_not_valid)\"", row->peer, hex);
		record(r, row->peer, prev.key_id, "overlap expired (the neighbour's replaced key)");
		/* the peer keeps it (its refusals say "replaced key"), the row forgets it */
		row->previous_line[0] = '\0';
		persist(r, row);
	}
}

/* ------------------------------------------------------------ stored envelopes */

/* The peer's keys we may meet in a stored envelope: in force, replaced,
 * next, and those it replaced over the link before (caller frees). */
static struct peer_key *peer_keys_of(const struct rotation *r, const struct peer *p, size_t *count)
{
	size_t n = 0, cap = 3 + (r ? r->n_theirs : 0);
	struct peer_key *keys = calloc(cap, sizeof(*keys));
	if (!keys)
		return NULL;
	keys[n++] = *peer_key_in_force(p);
	if (peer_crypto_previous(p))
		keys[n++] = *envelope_peer_key(peer_crypto_previous(p));
	if (peer_crypto_next(p))
		keys[n++] = *envelope_peer_key(peer_crypto_next(p));
	for (size_t i = 0; r && i < r->n_theirs; i++)
		if (strcmp(r->theirs[i].peer, peer_id(p)) == 0)
			keys[n++] = r->theirs[i].key;
	*count = n;
	return keys;
}

int rotation_open_stored(const struct rotation *r, struct peers *peers, const struct identity *me, const char *peer,
			 const uint8_t *env, size_t len, bool own, struct envelope_opened *out)
{
	struct peer *p = peers_find(peers, peer);
	size_t max = peers_config(peers)->max_frame_bytes;
	size_t n_ids = 2 + (r ? r->n_ring : 0), n = 0;
	int rc = LIMES_E_UNKNOWN_PEER;

	if (!p)
		return rc;
	struct peer_key *keys = peer_keys_of(r, p, &n);
	if (!keys)
		return LIMES_E_NOMEM;
	/* written or received before a rotation on either side: try each pair
	 * of keys once (ours in use, replaced, in the ring; a wrong pair fails
	 * its tag check) */
	for (size_t i = 0; i < n_ids; i++) {
		const struct identity *id = i == 0 ? me : i == 1 ? (r ? r->previous : NULL) : r->ring[i - 2].id;
		if (!id)
			continue;
		for (size_t k = 0; k < n; k++) {
			struct envelope_peer *pair = envelope_peer_new(id, &keys[k], peer);
			if (!pair)
				continue;
			rc = own ? envelope_reopen_own(id, pair, env, len, max, out)
				 : envelope_unseal(id, pair, env, len, max, out);
			envelope_peer_destroy(&pair);
			if (rc == 0)
				goto out;
		}
	}
out:
	free(keys);
	return rc;
}

int rotation_reseal(const struct rotation *r, struct peers *peers, const struct identity *me, const char *recipient,
		    const uint8_t *env, size_t len, bool never_sent, uint8_t **out, size_t *out_len)
{
	struct peer *p = peers_find(peers, recipient);
	const struct config *cfg = peers_config(peers);
	struct wire_envelope e;
	struct wire_header h;
	struct envelope_opened o;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (!r)
		return core_reseal(peers, me, recipient, env, len, out, out_len);
	if (!p || wire_envelope_unpack(env, len, cfg->max_frame_bytes, &e) < 0)
		return 0; /* not ours to judge: the peer refuses it as it is */
	rc = wire_header_unpack(e.header, e.header_len, cfg->max_frame_bytes, &h);
	wire_envelope_clear(&e);
	if (rc < 0 || strcmp(h.sender, cfg->id) != 0)
		return 0; /* relayed for someone else */
	bool signed_old = memcmp(h.sender_key_id, identity_public(me)->key_id, IDENTITY_KEY_ID_LEN) != 0 &&
			  replaced_key(r, h.sender_key_id, false, 0) != NULL;
	bool sealed_old = memcmp(h.recipient_key_id, peer_key_in_force(p)->key_id, IDENTITY_KEY_ID_LEN) != 0;
	/* A sent one signed by a replaced key goes again under new bytes only
	 * to a direct neighbour: it answers a copy of an id it holds, signed
	 * again by its author, as a duplicate (docs/protocol.md "Receiving");
	 * a relay would answer with the final recipient's receipt of the old
	 * bytes, which we could not match. */
	if (signed_old && !never_sent && !peer_is_direct(p) && !sealed_old)
		return 0;
	if (!signed_old && !sealed_old)
		return 0;
	if ((rc = rotation_open_stored(r, peers, me, recipient, env, len, true, &o)) < 0)
		return rc;
	struct wire_header nh = o.header;
	nh.version_major = WIRE_VERSION_MAJOR; /* sealed and signed alone */
	rc = envelope_build(me, peer_crypto(p), &nh, o.body, o.body_len, out, out_len);
	envelope_opened_clear(&o);
	return rc < 0 ? rc : 1;
}

/* ------------------------------------------------------------ through a relay */

void rotation_set_submit(struct rotation *r, struct submit *s)
{
	if (r)
		r->submit = s;
}

/* Queues frame f to `to`, a peer behind a relay, in an envelope. */
static int relay_frame(struct rotation *r, struct peer *to, const struct wire_frame *f, const char *what)
{
	uint8_t *buf = NULL, id[STORE_ID_LEN];
	size_t len = 0;
	char hex[2 * STORE_ID_LEN + 1];
	int rc = r->submit ? wire_frame_pack(f, &buf, &len) : LIMES_E_INTERNAL;

	if (rc == 0)
		rc = rotation_queue_envelope(r->submit, to, buf, len, id);
	free(buf);
	if (rc < 0) {
		log_error("peer=%s event=key_rotation_unqueued what=%s reason=\"%s\" action=\"tried again in a second\"",
			  peer_id(to), what, limes_strerror(rc));
		return rc;
	}
	encode_hex(hex, sizeof(hex), id, STORE_ID_LEN);
	log_info("peer=%s msg=%s event=key_rotation_queued what=%s via=%s", peer_id(to), hex, what, peer_next_hop(to));
	return 0;
}

/* Our answer to p's announcement is due: a direct neighbour gets it on the
 * ROUTER (link/rotation.c); one behind a relay in an envelope, now, in the
 * turn that records what it answers. */
static void answer_due(struct rotation *r, struct peer *p, struct rotation_ack *a)
{
	uint8_t ack[ROTATION_ACK_LEN];
	if (!a)
		return;
	a->due = true;
	if (peer_is_direct(p) || !rotation_answer_due(r, peer_id(p), ack))
		return;
	struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE_ACK, .bytes = ack, .len = sizeof(ack) };
	if (relay_frame(r, p, &f, "key_update_ack") == 0)
		rotation_answer_sent(r, peer_id(p));
}

/* Once a second: our announcement to each peer behind a relay that has
 * neither answered it nor been sent it (once per announcement: the outbox,
 * the relay's store and the retries carry it from there), and any answer a
 * failed write left due. */
static void relay_tick(struct rotation *r, uint64_t now)
{
	const struct rotation_frame *rf;

	for (size_t i = 0; r->submit && i < peers_count(r->peers); i++) {
		struct peer *p = peers_at(r->peers, i);
		if (peer_is_direct(p))
			continue;
		for (size_t k = 0; k < r->n_acks; k++)
			if (r->acks[k].due && strcmp(r->acks[k].peer, peer_id(p)) == 0)
				answer_due(r, p, &r->acks[k]);
		struct rotation_ack *a = rotation_announcement(r, &rf) ? ack_get(r, peer_id(p)) : NULL;
		if (!a || a->state || a->queued)
			continue;
		struct wire_frame f = { .kind = WIRE_FRAME_KEY_UPDATE, .bytes = rf->body, .len = rf->len,
					.sig = rf->sig, .sig2 = rf->sig2 };
		if (relay_frame(r, p, &f, "key_update") < 0)
			continue;
		a->queued = true;
		struct store_key_note n;
		memset(&n, 0, sizeof(n));
		snprintf(n.kind, sizeof(n.kind), STORE_NOTE_RELAYED);
		snprintf(n.name, sizeof(n.name), "%s", peer_id(p));
		snprintf(n.line, sizeof(n.line), "%s", r->own.next_line);
		n.seq = r->own.seq;
		n.at_ms = now;
		note_put(r, &n);
		record(r, peer_id(p), identity_public(r->next)->key_id, "next key announced through the relay");
	}
}

int rotation_relayed_in(struct rotation *r, const char *from, const uint8_t *body, size_t len, char *why,
			size_t why_len)
{
	struct peer *p = r ? peers_find(r->peers, from) : NULL;
	struct wire_frame f;

	if (!r) {
		snprintf(why, why_len, "this agent takes no key rotation");
		return LIMES_E_POLICY;
	}
	if (!p || peer_is_direct(p)) {
		snprintf(why, why_len, "%s is %s: its keys come over its own link", from,
			 p ? "a direct neighbour" : "not configured");
		return p ? LIMES_E_POLICY : LIMES_E_UNKNOWN_PEER;
	}
	if (wire_frame_unpack(body, len, len, &f) < 0 ||
	    (f.kind != WIRE_FRAME_KEY_UPDATE && f.kind != WIRE_FRAME_KEY_UPDATE_ACK)) {
		snprintf(why, why_len, "the body is not a KeyUpdate or KeyUpdateAck frame");
		return LIMES_E_ENV_MALFORMED;
	}
	if (f.kind == WIRE_FRAME_KEY_UPDATE) {
		/* another agency's keys in its envelope: a policy refusal, not "unroutable" */
		int rc = offered(r, from, true, f.bytes, f.len, f.sig, f.sig2, why, why_len);
		return rc == LIMES_E_UNKNOWN_PEER ? LIMES_E_POLICY : rc;
	}
	if (f.len != ROTATION_ACK_LEN) {
		snprintf(why, why_len, "the answer is %zu bytes, not %d", f.len, ROTATION_ACK_LEN);
		return LIMES_E_ENV_MALFORMED;
	}
	rotation_on_ack(r, from, f.bytes);
	return 0;
}

bool rotation_signed_with(struct rotation *r, struct peer *p, const uint8_t key_id[8])
{
	const struct envelope_peer *next = r && !peer_is_direct(p) ? peer_crypto_next(p) : NULL;
	uint8_t box_pk[32];

	if (!next || memcmp(envelope_peer_key(next)->key_id, key_id, 8) != 0)
		return false;
	memcpy(box_pk, envelope_peer_key(next)->box_pk, sizeof(box_pk));
	return rotation_presented(r, p, box_pk);
}
