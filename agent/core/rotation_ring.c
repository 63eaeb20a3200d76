/*
 * Replaced keys kept for what is stored: ours older than the previous one
 * (keys/ring-KEYID.*, each with its note and end of overlap) and the
 * neighbours' keys they replaced over the link (public halves, as notes),
 * loaded at start and retired once their overlap and the [agent] retention
 * after it are over, when no stored row can be sealed to them. The state
 * is rotation.c's.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core_int.h"
#include "proto/err.h"
#include "rotation_int.h"

int rotation_ring_add(struct rotation *r, struct identity **id, const char *stem, uint64_t at_ms, uint64_t until_ms)
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

struct store_key_note rotation_ring_note(const struct ring_key *k)
{
	struct store_key_note n;
	memset(&n, 0, sizeof(n));
	snprintf(n.kind, sizeof(n.kind), STORE_NOTE_RING);
	snprintf(n.name, sizeof(n.name), "%s", k->stem + strlen(IDENTITY_RING_PREFIX));
	rotation_line_of(identity_public(k->id), n.line, sizeof(n.line));
	n.at_ms = k->at_ms;
	n.until_ms = k->until_ms;
	return n;
}

/* keys/ring-*.key at start: each with its overlap end from the store; one
 * retired while we were stopped (no note) ends its overlap now, or at the
 * end the store knew for it as our previous key. */
int rotation_ring_load(struct rotation *r, char *err, size_t err_len)
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
		rotation_line_of(identity_public(id), line, sizeof(line));
		const struct store_key_note *note = rotation_note_find(r, STORE_NOTE_RING, stem + pre);
		bool fresh = !note;
		uint64_t until = note ? note->until_ms : strcmp(line, r->own.previous_line) == 0 ?
			r->own.previous_until_ms : now;
		if ((rc = rotation_ring_add(r, &id, stem, note ? note->at_ms : now, until)) < 0) {
			identity_destroy(&id);
			snprintf(err, err_len, "out of memory");
			break;
		}
		if (fresh) {
			struct store_key_note rn = rotation_ring_note(&r->ring[r->n_ring - 1]);
			rc = rotation_note_put(r, &rn);
		}
	}
	closedir(d);
	return rc;
}

/* The replaced key of ours whose id is key_id (NULL: the newest), live
 * (its overlap not over at now) or for stored rows (any time). */
const struct identity *rotation_ring_replaced(const struct rotation *r, const uint8_t *key_id, bool live, uint64_t now)
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

int rotation_ring_theirs_add(struct rotation *r, const char *peer, const struct peer_key *key, uint64_t at_ms,
		      uint64_t until_ms, bool save)
{
	char hex[17];
	struct store_key_note n;
	rotation_key_hex(hex, key->key_id);
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
	rotation_line_of(key, n.line, sizeof(n.line));
	n.at_ms = at_ms;
	n.until_ms = until_ms;
	return rotation_note_put(r, &n);
}

int rotation_ring_load_theirs(struct rotation *r)
{
	for (size_t i = 0; i < r->n_notes; i++) {
		const struct store_key_note *n = &r->notes[i];
		const char *slash = strrchr(n->name, '/');
		char peer[STORE_AGENCY_MAX + 1];
		struct peer_key key;
		if (strcmp(n->kind, STORE_NOTE_THEIRS) != 0 || !slash || rotation_parse_line(n->line, &key) < 0)
			continue;
		snprintf(peer, sizeof(peer), "%.*s", (int)(slash - n->name), n->name);
		int rc = rotation_ring_theirs_add(r, peer, &key, n->at_ms, n->until_ms, false);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Past its overlap and the [agent] retention after it, no row sealed to a
 * ring key can still be stored: its files and note go. So do the
 * neighbours' replaced keys. */
void rotation_ring_retire(struct rotation *r, uint64_t now)
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
		rotation_key_hex(hex, identity_public(k->id)->key_id);
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
		rotation_record(r, r->my_id, identity_public(k->id)->key_id, "replaced key retired from the key ring");
		identity_destroy(&k->id);
		r->ring[i] = r->ring[--r->n_ring];
	}
}

const struct identity *rotation_previous(const struct rotation *r, const uint8_t *key_id, uint64_t now_ms)
{
	return rotation_ring_replaced(r, key_id, true, now_ms);
}

const struct identity *rotation_replaced(const struct rotation *r, const uint8_t key_id[8])
{
	return rotation_ring_replaced(r, key_id, false, 0);
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
