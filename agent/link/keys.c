/*
 * Which key a neighbour presented, and what a link's answers say about its
 * health: the key lookups of envelope_open and receipt_open (the current key
 * of the claimed sender, or the key a reload replaced while its overlap
 * lasts), the sentence an operator needs when a key is refused (the key id
 * presented, and whose key it is when another configured peer owns it), and
 * the degraded state of a link whose answers keep failing.
 */
#include "link_int.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/reason.h"

/* Writes why `key_id`, presented as `claimed`, is not that peer's key. */
static void diagnose(struct links *L, const char *claimed, const uint8_t key_id[8], const char *what)
{
	char hex[2 * 8 + 1];
	struct peer *owner = peers_find_by_key_id(L->deps.peers, key_id);
	struct peer *named = peers_find(L->deps.peers, claimed);

	encode_hex(hex, sizeof(hex), key_id, 8);
	if (owner && strcmp(peer_id(owner), claimed) != 0)
		snprintf(L->key_why, sizeof(L->key_why), "key %s of %s presented, configured here as %s", hex, claimed,
			 peer_id(owner));
	else if (!named)
		snprintf(L->key_why, sizeof(L->key_why), "key %s of %s presented, no peer %s is configured here", hex,
			 claimed, claimed);
	else
		snprintf(L->key_why, sizeof(L->key_why), "key %s of %s presented, %s", hex, claimed, what);
}

const struct envelope_peer *link_sender_lookup(void *arg, const char *sender, const uint8_t key_id[8],
					       uint64_t created_ms, int *err)
{
	struct links *L = arg;
	struct peer *p = peers_find(L->deps.peers, sender);
	uint64_t until = 0;
	const struct envelope_peer *k = p ? peer_crypto_for_key(p, key_id, &until) : NULL;

	(void)created_ms;
	if (!k) {
		diagnose(L, sender, key_id, "which is not its configured key");
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	/* a replaced key verifies only for the overlap, so that what was in
	 * flight when the operator switched still lands */
	if (until && clock_now_ms() > until) {
		diagnose(L, sender, key_id, "its replaced key, whose overlap has ended");
		*err = LIMES_E_ENV_KEY_INVALID;
		return NULL;
	}
	return k;
}

const struct peer_key *link_receipt_lookup(void *arg, const char *issuer, const uint8_t key_id[8],
					   uint64_t issued_ms, int *err)
{
	const struct envelope_peer *k = link_sender_lookup(arg, issuer, key_id, issued_ms, err);
	return k ? envelope_peer_key(k) : NULL;
}

void link_describe_curve_key(struct links *L, const uint8_t box_pk[32], char *buf, size_t len)
{
	char hex[2 * 32 + 1];
	encode_hex(hex, sizeof(hex), box_pk, 32);
	for (size_t i = 0; i < peers_count(L->deps.peers); i++) {
		struct peer *p = peers_at(L->deps.peers, i);
		const struct envelope_peer *prev = peer_crypto_previous(p);
		char kid[2 * 8 + 1];
		if (memcmp(peer_key_in_force(p)->box_pk, box_pk, 32) == 0) {
			/* only a relayed peer's key can be known and still refused */
			encode_hex(kid, sizeof(kid), peer_key_in_force(p)->key_id, 8);
			snprintf(buf, len, "key %s of %s, which is configured here to come through %s", kid, peer_id(p),
				 peer_next_hop(p));
			return;
		}
		if (prev && memcmp(envelope_peer_key(prev)->box_pk, box_pk, 32) == 0) {
			encode_hex(kid, sizeof(kid), envelope_peer_key(prev)->key_id, 8);
			snprintf(buf, len, "key %s, the replaced key of %s", kid, peer_id(p));
			return;
		}
	}
	snprintf(buf, len, "CURVE key %s, not configured for any peer", hex);
}

/* Refusals that say the link itself is misconfigured (keys, names), not
 * that one message broke a rule. */
static bool reason_is_link_fault(int reason)
{
	return reason == REASON_UNKNOWN_KEY || reason == REASON_KEY_NOT_VALID || reason == REASON_BAD_SIGNATURE ||
	       reason == REASON_DECRYPT_FAILED || reason == REASON_WRONG_RECIPIENT;
}

void link_health_bad_receipt(struct links *L, struct outlink *ol, const char *why)
{
	snprintf(ol->degraded, sizeof(ol->degraded), "receipts fail to verify: %s", why);
	(void)L;
}

void link_health_receipt(struct links *L, struct outlink *ol, const struct wire_receipt_body *body)
{
	size_t faults = 0, good = 0;
	int reason = 0;
	(void)L;
	for (size_t i = 0; i < body->n_entries; i++) {
		const struct wire_receipt_entry *e = &body->entries[i];
		if (e->status != WIRE_RECEIPT_REJECTED)
			good++;
		else if (reason_is_link_fault(e->reason)) {
			faults++;
			reason = e->reason;
		}
	}
	if (good)
		ol->degraded[0] = '\0';
	else if (faults)
		snprintf(ol->degraded, sizeof(ol->degraded), "%s refuses our messages: %s", body->issuer,
			 reason_name(reason));
}

void link_health_heard(struct links *L, struct outlink *ol)
{
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	if (!p)
		return;
	if (ol->degraded[0]) {
		if (strcmp(peer_link(p)->reason, ol->degraded) != 0) {
			log_warn("peer=%s event=link_degraded reason=\"%s\"", ol->peer_id, ol->degraded);
			peer_link_set_reason(p, "%s", ol->degraded);
		}
		link_set_state(L, ol, LINK_DEGRADED, ol->degraded);
	} else {
		if (peer_link(p)->state == LINK_DEGRADED)
			log_info("peer=%s event=link_recovered", ol->peer_id);
		link_set_state(L, ol, LINK_UP, "");
	}
}
