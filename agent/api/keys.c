/*
 * Key rotation over the API: GET /v1/keys (this agent's keys: in use, next
 * and who answered its announcement, replaced and until when),
 * POST /v1/keys/promote (switch to the next key now, no restart),
 * POST /v1/peers/{id}/accept-key (adopt a neighbour's offered key), and the
 * "key" object of each peer in GET /v1/peers. Administrators only, but for
 * the peers' key objects.
 */
#include "api_int.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "core/core.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "proto/err.h"

static json_t *key_id_value(const uint8_t key_id[8])
{
	char hex[17];
	encode_hex(hex, sizeof(hex), key_id, 8);
	return json_string(hex);
}

static const char *state_name(int state)
{
	return state == STORE_KEY_ADOPTED ? "adopted" : state == STORE_KEY_OFFERED ? "offered" : "none";
}

/* {"id", "source": "config"|"rotation", "previous", "previous_until",
 *  "offered": {"id", "state", "seq", "announced", "changed_by"} | null} */
json_t *api_json_peer_key(const struct api_deps *deps, const struct peer *p)
{
	const struct peer_rotation *rot = peer_rotation(p);
	const struct envelope_peer *prev = peer_crypto_previous(p);
	json_t *offered = NULL;
	(void)deps;

	if (rot->next_state != STORE_KEY_NONE)
		offered = json_pack("{s:o, s:s, s:I, s:o, s:s*}", "id", key_id_value(rot->next.key_id), "state",
				    state_name(rot->next_state), "seq", (json_int_t)rot->seq, "announced",
				    api_json_time_value(rot->announced_ms), "changed_by",
				    rot->changed_by[0] ? rot->changed_by : NULL);
	return json_pack("{s:o, s:s, s:o?, s:o?, s:o?}", "id", key_id_value(peer_key_in_force(p)->key_id), "source",
			 rot->learnt ? "rotation" : "config", "previous",
			 prev ? key_id_value(envelope_peer_key(prev)->key_id) : NULL, "previous_until",
			 prev ? api_json_time_value(peer_previous_until(p)) : NULL, "offered", offered);
}

void api_routes_keys(const struct api_deps *deps, struct api_reply *r)
{
	const struct store_key_row *own = deps->rotation ? rotation_own(deps->rotation) : NULL;
	uint64_t seq = 0;
	const struct peer_key *next = rotation_next_key(deps->rotation, &seq);
	struct peer_key prev;
	char why[128];
	json_t *answers = json_object(), *next_o = NULL, *prev_o = NULL;

	if (next) {
		for (size_t i = 0; i < peers_count(deps->peers); i++) {
			/* direct neighbours and peers behind a relay alike */
			struct peer *p = peers_at(deps->peers, i);
			json_object_set_new(answers, peer_id(p),
					    json_string(state_name(rotation_neighbour_answer(deps->rotation, peer_id(p)))));
		}
		next_o = json_pack("{s:o, s:I, s:O}", "id", key_id_value(next->key_id), "seq", (json_int_t)seq,
				   "neighbours", answers);
	}
	if (own && own->previous_line[0] && identity_line_parse(own->previous_line, &prev, why, sizeof(why)) == 0)
		prev_o = json_pack("{s:o, s:o, s:b}", "id", key_id_value(prev.key_id), "valid_until",
				   api_json_time_value(own->previous_until_ms), "valid",
				   rotation_previous(deps->rotation, NULL, clock_now_ms()) != NULL);
	json_t *ring = json_array();
	for (size_t i = 0; i < rotation_ring_count(deps->rotation); i++) {
		uint64_t until = 0;
		const struct peer_key *k = rotation_ring_at(deps->rotation, i, &until);
		json_array_append_new(ring, json_pack("{s:o, s:o, s:b}", "id", key_id_value(k->key_id), "valid_until",
						      api_json_time_value(until), "valid", clock_now_ms() <= until));
	}
	api_json_reply(r, 200, json_pack("{s:o, s:o?, s:o?, s:o}", "id",
					 key_id_value(identity_public(deps->me)->key_id), "next", next_o, "previous",
					 prev_o, "ring", ring));
	json_decref(answers);
}

void api_routes_promote(const struct api_deps *deps, const char *client, struct api_reply *r)
{
	struct core_error err = { 0 };

	if (!deps->rotation) {
		api_json_error(r, 503, "unavailable", "", "this agent takes no key rotation");
		return;
	}
	int rc = rotation_promote(deps->rotation, client, &err);
	if (rc < 0) {
		api_json_core_error(r, rc, &err);
		return;
	}
	api_routes_keys(deps, r);
	r->needs_commit = true; /* answered once the new state is durable */
}

void api_routes_accept_key(const struct api_deps *deps, const char *client, const char *peer, struct api_reply *r)
{
	struct core_error err = { 0 };

	if (!deps->rotation) {
		api_json_error(r, 503, "unavailable", "", "this agent takes no key rotation");
		return;
	}
	int rc = rotation_accept(deps->rotation, peer, client, &err);
	if (rc < 0) {
		api_json_core_error(r, rc, &err);
		return;
	}
	struct peer *p = peers_find(deps->peers, peer);
	api_json_reply(r, 200, json_pack("{s:s, s:o}", "peer", peer, "key", api_json_peer_key(deps, p)));
	r->needs_commit = true;
}
