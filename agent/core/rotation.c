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
 *
 * This file owns the state (struct rotation, rotation_int.h): its start
 * from the store and the key files, reloads, the housekeeping tick, and the
 * rows, answers and notes the other files change through it. By concern:
 * rotation_ours.c (our next key: announcing, answers, promotion),
 * rotation_theirs.c (the neighbours' announcements: offered, adopted, in
 * force), rotation_ring.c (replaced keys kept for what is stored),
 * reseal.c (stored envelopes across a rotation), rotrelay.c (peers behind
 * a relay).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core_int.h"
#include "crypto/encode.h"
#include "proto/err.h"
#include "rotation_int.h"

void rotation_key_hex(char out[17], const uint8_t key_id[8])
{
	encode_hex(out, 17, key_id, 8);
}

void rotation_line_of(const struct peer_key *k, char *buf, size_t len)
{
	if (identity_line_format(k, buf, len) < 0)
		buf[0] = '\0';
}

int rotation_parse_line(const char *line, struct peer_key *out)
{
	char why[128];
	return line[0] ? identity_line_parse(line, out, why, sizeof(why)) : LIMES_E_NOTFOUND;
}

struct store_key_row *rotation_row_find(struct rotation *r, const char *peer)
{
	for (size_t i = 0; i < r->n_rows; i++)
		if (strcmp(r->rows[i].peer, peer) == 0)
			return &r->rows[i];
	return NULL;
}

struct store_key_row *rotation_row_get(struct rotation *r, const char *peer)
{
	struct store_key_row *row = rotation_row_find(r, peer);
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

struct rotation_ack *rotation_ack_get(struct rotation *r, const char *peer)
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
int rotation_persist(struct rotation *r, const struct store_key_row *row)
{
	int rc = commit_stage(r->commit, 0);
	if (rc == 0)
		rc = store_key_put(r->store, row);
	if (rc < 0)
		log_error("peer=%s event=key_state_not_saved reason=\"%s\"", row->peer, limes_strerror(rc));
	return rc;
}

int rotation_note_put(struct rotation *r, const struct store_key_note *n)
{
	int rc = commit_stage(r->commit, 0);
	if (rc == 0)
		rc = store_key_note_put(r->store, n);
	if (rc < 0)
		log_error("event=key_state_not_saved what=%s name=%s reason=\"%s\"", n->kind, n->name,
			  limes_strerror(rc));
	return rc;
}

const struct store_key_note *rotation_note_find(const struct rotation *r, const char *kind, const char *name)
{
	for (size_t i = 0; i < r->n_notes; i++)
		if (strcmp(r->notes[i].kind, kind) == 0 && strcmp(r->notes[i].name, name) == 0)
			return &r->notes[i];
	return NULL;
}

void rotation_record(struct rotation *r, const char *peer, const uint8_t key_id[8], const char *what)
{
	int rc = audit_key(r->audit, peer, key_id, 8, what);
	if (rc < 0)
		log_error("peer=%s event=audit_failed reason=\"%s\"", peer, limes_strerror(rc));
}

void rotation_apply(struct rotation *r)
{
	uint64_t now = clock_now_ms();
	char err[512];

	if (!r)
		return;
	/* `limes keygen --next` while running: announce it from this reload on */
	if (!r->next && identity_file_exists(r->keys_dir, IDENTITY_NEXT) && rotation_ours_load(r, err, sizeof(err)) < 0)
		log_error("event=key_next_unusable reason=\"%s\"", err);
	for (size_t i = 0; i < r->n_rows; i++)
		rotation_theirs_apply(r, &r->rows[i], now);
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
	struct store_key_row *mine = rotation_row_get(r, row->peer);
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
	if ((rc = rotation_ring_load(r, err, err_len)) < 0 || (rc = rotation_ours_load(r, err, err_len)) < 0)
		goto fail;
	if ((rc = rotation_ring_load_theirs(r)) < 0) {
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

void rotation_tick(struct rotation *r, uint64_t now)
{
	char hex[17];
	if (!r)
		return;
	rotation_ring_retire(r, now);
	rotrelay_tick(r, now);
	if (r->previous && now > r->own.previous_until_ms && strcmp(r->own.changed_by, OVERLAP_ENDED) != 0) {
		rotation_key_hex(hex, identity_public(r->previous)->key_id);
		log_info("event=key_overlap_over previous=%s reason=\"what is sealed to it is refused from now on\"",
			 hex);
		rotation_record(r, r->my_id, identity_public(r->previous)->key_id, "overlap expired (our replaced key)");
		snprintf(r->own.changed_by, sizeof(r->own.changed_by), OVERLAP_ENDED);
		rotation_persist(r, &r->own);
	}
	for (size_t i = 0; i < r->n_rows; i++) {
		struct store_key_row *row = &r->rows[i];
		struct peer_key prev;
		if (!row->previous_line[0] || now <= row->previous_until_ms || rotation_parse_line(row->previous_line, &prev) < 0)
			continue;
		rotation_key_hex(hex, prev.key_id);
		log_info("peer=%s event=key_overlap_over previous=%s reason=\"its replaced key is refused from now on "
			 "(key_not_valid)\"", row->peer, hex);
		rotation_record(r, row->peer, prev.key_id, "overlap expired (the neighbour's replaced key)");
		/* the peer keeps it (its refusals say "replaced key"), the row forgets it */
		row->previous_line[0] = '\0';
		rotation_persist(r, row);
	}
}
