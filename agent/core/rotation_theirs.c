/*
 * The neighbours' side of a key rotation: an announced next key checked
 * (its author, the key in force that signed it, sequence, time), then
 * offered to the operator or adopted at once (`rotation = accept`); our
 * answer owed to it; the adopted key put in force when the neighbour first
 * presents it (a handshake, or a signature when it is behind a relay); and
 * each row put in force on its peer after start and reloads. The state is
 * rotation.c's.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/events.h"
#include "core_int.h"
#include "crypto/envelope.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "rotation_int.h"

/* Puts a neighbour's row in force on its peer (after start and reloads). */
void rotation_theirs_apply(struct rotation *r, struct store_key_row *row, uint64_t now)
{
	struct peer *p = peers_find(r->peers, row->peer);
	char conf_line[IDENTITY_LINE_SIZE];

	if (!p)
		return;
	rotation_line_of(&peer_conf(p)->key, conf_line, sizeof(conf_line));
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
		rotation_persist(r, row);
	}
	struct peer_rotation *pr = peer_rotation_mut(p);
	struct peer_key cur, prev, next;
	bool has_cur = rotation_parse_line(row->current_line, &cur) == 0;
	bool has_prev = rotation_parse_line(row->previous_line, &prev) == 0;
	bool has_next = rotation_parse_line(row->next_line, &next) == 0;
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

/* ------------------------------------------------------------ receiving */

static void answer_of(const struct store_key_row *row, const struct peer_key *next, uint8_t out[ROTATION_ACK_LEN])
{
	be64_put(out, row->seq);
	memcpy(out + 8, next->key_id, 8);
	out[16] = (uint8_t)row->next_state;
}

/* A peer's announcement: from a direct neighbour named by ZAP, or (relayed)
 * from the author of an envelope that verified with its key. */
int rotation_theirs_offered(struct rotation *r, const char *from, bool relayed, const uint8_t *body, size_t len,
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
	rotation_key_hex(cur_hex, ku.current.key_id);
	rotation_key_hex(next_hex, ku.next.key_id);
	rotation_key_hex(force_hex, peer_key_in_force(p)->key_id);
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
	struct store_key_row *row = rotation_row_get(r, from);
	if (!row) {
		snprintf(why, why_len, "out of memory");
		return LIMES_E_NOMEM;
	}
	if (!row->base_line[0])
		rotation_line_of(&peer_conf(p)->key, row->base_line, sizeof(row->base_line));
	rotation_line_of(&ku.next, line, sizeof(line));
	struct rotation_ack *a = rotation_ack_get(r, from);
	if (row->seq && ku.seq == row->seq && strcmp(row->next_line, line) == 0) {
		rotrelay_answer_due(r, p, a); /* the same announcement again: answer again */
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
	int rc = rotation_persist(r, row);
	if (rc < 0) {
		snprintf(why, why_len, "cannot record it: %s", limes_strerror(rc));
		return rc;
	}
	log_info("peer=%s event=key_offer key=%s seq=%llu state=%s%s", from, next_hex, (unsigned long long)ku.seq,
		 auto_adopt ? "adopted" : "offered",
		 auto_adopt ? " reason=\"rotation = accept\"" : " action=\"limes peer accept-key to adopt it\"");
	rotation_record(r, from, ku.next.key_id, "offered key received");
	if (auto_adopt)
		rotation_record(r, from, ku.next.key_id, "adopted automatically (rotation = accept)");
	events_add(peers_events(r->peers), now, "key_offer", from, NULL, auto_adopt ? "adopted" : "offered",
		   next_hex);
	rotation_theirs_apply(r, row, now);
	rotrelay_answer_due(r, p, a);
	return 0;
}

int rotation_offered(struct rotation *r, const char *from, const uint8_t *body, size_t len, const uint8_t *sig,
		     const uint8_t *sig2, char *why, size_t why_len)
{
	return rotation_theirs_offered(r, from, false, body, len, sig, sig2, why, why_len);
}

bool rotation_answer_due(struct rotation *r, const char *peer, uint8_t out[ROTATION_ACK_LEN])
{
	struct store_key_row *row = r ? rotation_row_find(r, peer) : NULL;
	struct peer_key next;
	for (size_t i = 0; row && i < r->n_acks; i++) {
		if (strcmp(r->acks[i].peer, peer) != 0 || !r->acks[i].due)
			continue;
		if (rotation_parse_line(row->next_line, &next) < 0)
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
	struct store_key_row *row = p ? rotation_row_find(r, peer) : NULL;
	struct peer_key next;
	char hex[17];
	uint64_t now = clock_now_ms();

	if (!p)
		return core_set_error(err, LIMES_E_UNKNOWN_PEER, "peer", "no peer %s is configured", peer);
	if (!row || !row->next_line[0] || rotation_parse_line(row->next_line, &next) < 0)
		return core_set_error(err, LIMES_E_NOTFOUND, "peer", "%s has offered no key", peer);
	rotation_key_hex(hex, next.key_id);
	if (row->next_state == STORE_KEY_ADOPTED)
		return core_set_error(err, LIMES_E_EXISTS, "peer", "key %s of %s is adopted already (by %s)", hex,
				      peer, row->changed_by[0] ? row->changed_by : "?");
	row->next_state = STORE_KEY_ADOPTED;
	row->changed_ms = now;
	snprintf(row->changed_by, sizeof(row->changed_by), "%s", by && *by ? by : "operator");
	int rc = rotation_persist(r, row);
	if (rc < 0)
		return core_store_refusal(r->store, rc, err);
	char what[128];
	snprintf(what, sizeof(what), "adopted by %s", row->changed_by);
	rotation_record(r, peer, next.key_id, what);
	log_info("peer=%s event=key_adopted key=%s by=%s", peer, hex, row->changed_by);
	events_add(peers_events(r->peers), now, "key_offer", peer, NULL, "adopted", hex);
	rotation_theirs_apply(r, row, now);
	rotrelay_answer_due(r, p, rotation_ack_get(r, peer)); /* tell it, so its status says adopted */
	return 0;
}

bool rotation_presented(struct rotation *r, struct peer *p, const uint8_t box_pk[32])
{
	const struct envelope_peer *next = r ? peer_crypto_next(p) : NULL;
	struct store_key_row *row = next ? rotation_row_find(r, peer_id(p)) : NULL;
	char old_hex[17], new_hex[17];
	uint64_t now = clock_now_ms();

	if (!row || memcmp(envelope_peer_key(next)->box_pk, box_pk, 32) != 0)
		return false;
	struct peer_key old = *peer_key_in_force(p), now_key = *envelope_peer_key(next);
	rotation_line_of(&old, row->previous_line, sizeof(row->previous_line));
	rotation_line_of(&now_key, row->current_line, sizeof(row->current_line));
	row->previous_until_ms = now + peers_config(r->peers)->key_overlap_ms;
	/* what is stored sealed with it must still open after its next rotation */
	rotation_ring_theirs_add(r, peer_id(p), &old, now, row->previous_until_ms, true);
	row->next_line[0] = '\0';
	row->next_state = STORE_KEY_NONE;
	row->changed_ms = now;
	rotation_persist(r, row);
	rotation_key_hex(old_hex, old.key_id);
	rotation_key_hex(new_hex, now_key.key_id);
	log_info("peer=%s event=key_in_force key=%s previous=%s reason=\"the peer switched to its adopted key; the "
		 "previous one stays valid for receiving for key_overlap\"", peer_id(p), new_hex, old_hex);
	rotation_record(r, peer_id(p), now_key.key_id, "adopted key in force (the neighbour switched to it)");
	events_add(peers_events(r->peers), now, "key_offer", peer_id(p), NULL, "in_force", new_hex);
	rotation_theirs_apply(r, row, now);
	return true;
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
