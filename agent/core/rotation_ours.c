/*
 * Our side of a key rotation: the next identity (keys/next.key) and the
 * announcement of it, built once and re-sent by the links until each
 * direct neighbour answers; the neighbours' answers (offered, adopted,
 * kept across restarts); the promotion, which swaps the identity in place,
 * keeps the replaced one for its overlap and moves an older one to the
 * key ring. The state is rotation.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/events.h"
#include "core_int.h"
#include "crypto/envelope.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "rotation_int.h"

static int build_announcement(struct rotation *r)
{
	r->body_len = 0;
	if (!r->next)
		return 0;
	return keyupdate_build(r->me, r->next, r->my_id, r->own.seq, r->own.announced_ms, r->body, &r->body_len,
			       r->sig, r->sig2);
}

/* Our own files as they are at start: a next key to announce, a previous one
 * (an offline `keygen --promote`) whose overlap starts now unless the store
 * already knows it. */
int rotation_ours_load(struct rotation *r, char *err, size_t err_len)
{
	const struct config *cfg = peers_config(r->peers);
	char why[512], line[IDENTITY_LINE_SIZE];
	int rc = 0;
	uint64_t now = clock_now_ms();
	bool changed = false;

	rotation_line_of(identity_public(r->me), line, sizeof(line));
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
		rotation_line_of(identity_public(r->previous), prev, sizeof(prev));
		if (strcmp(r->own.previous_line, prev) != 0) {
			/* promoted while we were stopped: the overlap starts now */
			snprintf(r->own.previous_line, sizeof(r->own.previous_line), "%s", prev);
			r->own.previous_until_ms = now + cfg->key_overlap_ms;
			r->own.changed_ms = now;
			snprintf(r->own.changed_by, sizeof(r->own.changed_by), "keygen --promote");
			changed = true;
			log_info("event=key_promoted key=%.16s previous=%.16s overlap_until_ms=%llu", line + 7, prev + 7,
				 (unsigned long long)r->own.previous_until_ms);
			rotation_record(r, r->my_id, identity_public(r->me)->key_id, "promoted (keygen --promote)");
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
		rotation_line_of(identity_public(r->next), next, sizeof(next));
		if (strcmp(r->own.next_line, next) != 0) {
			/* a new next key: a new announcement, never a reuse of a sequence */
			snprintf(r->own.next_line, sizeof(r->own.next_line), "%s", next);
			r->own.seq++;
			r->own.announced_ms = now;
			r->own.changed_ms = now;
			changed = true;
			log_info("event=key_next key=%.16s seq=%llu reason=\"announcing it to every direct neighbour\"",
				 next + 7, (unsigned long long)r->own.seq);
			rotation_record(r, r->my_id, identity_public(r->next)->key_id, "next key announced");
		}
	} else if (!r->next && r->own.next_line[0]) {
		r->own.next_line[0] = '\0';
		changed = true;
	}
	if (changed && (rc = rotation_persist(r, &r->own)) < 0) {
		snprintf(err, err_len, "cannot record this agent's keys in the store: %s", limes_strerror(rc));
		return rc;
	}
	/* the neighbours' answers to this very announcement outlive a restart */
	for (size_t i = 0; r->next && i < r->n_notes; i++) {
		const struct store_key_note *n = &r->notes[i];
		struct rotation_ack *a;
		if (strcmp(n->kind, STORE_NOTE_ACK) == 0 && n->seq == r->own.seq &&
		    strcmp(n->line, r->own.next_line) == 0 && (a = rotation_ack_get(r, n->name)))
			a->state = n->state;
		if (strcmp(n->kind, STORE_NOTE_RELAYED) == 0 && n->seq == r->own.seq &&
		    strcmp(n->line, r->own.next_line) == 0 && (a = rotation_ack_get(r, n->name)))
			a->queued = true;
	}
	return build_announcement(r);
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
	struct rotation_ack *a = rotation_ack_get(r, peer);
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
	struct rotation_ack *a = rotation_ack_get(r, peer);
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
	rotation_note_put(r, &n);
	rotation_key_hex(hex, identity_public(r->next)->key_id);
	log_info("peer=%s event=key_next_%s key=%s seq=%llu", peer,
		 state == STORE_KEY_ADOPTED ? "adopted" : "offered", hex, (unsigned long long)seq);
	rotation_record(r, peer, identity_public(r->next)->key_id,
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
		    rotation_ring_add(r, &old, stem, now, r->own.previous_until_ms) == 0) {
			struct store_key_note rn = rotation_ring_note(&r->ring[r->n_ring - 1]);
			rotation_note_put(r, &rn);
		}
		identity_destroy(&old);
	}
	r->previous = r->next;
	r->next = NULL;
	r->body_len = 0;
	r->n_acks = 0;
	rotation_line_of(identity_public(r->me), r->own.current_line, sizeof(r->own.current_line));
	rotation_line_of(identity_public(r->previous), r->own.previous_line, sizeof(r->own.previous_line));
	r->own.previous_until_ms = now + peers_config(r->peers)->key_overlap_ms;
	r->own.next_line[0] = '\0';
	r->own.changed_ms = now;
	snprintf(r->own.changed_by, sizeof(r->own.changed_by), "%s", by && *by ? by : "operator");
	rotation_persist(r, &r->own);
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
	rotation_key_hex(hex, identity_public(r->me)->key_id);
	rotation_key_hex(old_hex, identity_public(r->previous)->key_id);
	snprintf(line, sizeof(line), "promoted by %s", r->own.changed_by);
	rotation_record(r, r->my_id, identity_public(r->me)->key_id, line);
	log_info("event=key_promoted key=%s previous=%s by=%s overlap_until_ms=%llu", hex, old_hex, r->own.changed_by,
		 (unsigned long long)r->own.previous_until_ms);
	events_add(peers_events(r->peers), now, "key_offer", r->my_id, NULL, "promoted", hex);
	if (r->rekey)
		r->rekey(r->rekey_arg);
	return 0;
}

const struct store_key_row *rotation_own(const struct rotation *r)
{
	return &r->own;
}

bool rotation_has_next(const struct rotation *r)
{
	return r && r->next;
}
