/*
 * Shared by the core's files only: the submitter's fields (submit.c owns
 * them; requeue.c seals through it) and the error helpers.
 */
#ifndef LIMES_CORE_INT_H
#define LIMES_CORE_INT_H

#include "core/core.h"

struct wire_header;

struct submit {
	struct peers *peers;                /* borrowed */
	struct store *store;                /* borrowed */
	struct commit *commit;              /* borrowed */
	const struct identity *me;          /* borrowed */
	uint64_t next_seq;                  /* envelope sequence numbers */
	uint64_t signatures;                /* Ed25519 signatures made for envelopes */
	const char *acting_client;          /* the API client of a requeue in progress, for its entry */
	struct pending_msg *pend;           /* submitted this turn, waiting for the batch signature */
	size_t n_pend, cap_pend;
	const struct rotation *rotation;    /* borrowed, may be NULL: our replaced key for re-opening */
	struct resend_served *resend_served; /* resend.c: when each next hop last had a resend (RESEND_EVERY_MS) */
	size_t n_resend_served;
};

/* clients.c: may `client` submit request r (index i of n)? 0, or
 * LIMES_E_FORBIDDEN with err naming the right it lacks. */
int client_may_submit(const struct config *cfg, const char *client, const struct submit_request *r,
		      size_t index, size_t n, struct core_error *err);

/* peers.c, for rotation_theirs.c and rotation_ours.c: the rotation state
 * to write, and new keys for p (in force, replaced with its end of overlap,
 * adopted next; the last two may be NULL), derived with me. 0 or
 * LIMES_E_KEY_FORMAT (nothing changed). */
struct peer_rotation *peer_rotation_mut(struct peer *p);
int peer_keys_set(struct peer *p, const struct identity *me, const struct peer_key *in_force,
		  const struct peer_key *previous, uint64_t previous_until_ms, const struct peer_key *next);

/* requeue.c: submit_requeue(), delivered deliveries taken too when
 * delivered_too (sent again after the recipient's restore: resend.c). */
int requeue_states(struct submit *s, const uint8_t id[STORE_ID_LEN], const char *recipient, uint64_t ttl_ms,
		   bool delivered_too, int *requeued, struct core_error *err);

/* Fills err; returns code. */
int core_set_error(struct core_error *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Fills err for a store that cannot take writes (rc its error); returns rc. */
int core_store_refusal(struct store *store, int rc, struct core_error *err);
/* Gives h the next sequence number and seals body to `to`; *env is the
 * caller's (free()). */
int core_seal(struct submit *s, const struct peer *to, struct wire_header *h, const uint8_t *body, size_t len,
	      uint8_t **env, size_t *env_len);

/* rotrelay.c: seals body (a key rotation frame) to `to` in a v1 envelope of
 * type WIRE_TYPE_KEY_ROTATION, fresh id, urgent, max_ttl, and stages it in
 * the outbox for its next hop; *id gets the message id. 0 or a store error. */
int rotation_queue_envelope(struct submit *s, const struct peer *to, const uint8_t *body, size_t len,
			    uint8_t id[STORE_ID_LEN]);

#endif
