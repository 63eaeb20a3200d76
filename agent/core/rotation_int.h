/*
 * Shared by the key rotation's files only (rotation.c, rotation_ours.c,
 * rotation_theirs.c, rotation_ring.c, reseal.c, rotrelay.c): the state
 * rotation.c owns, and the helpers each file lends the others.
 */
#ifndef LIMES_CORE_ROTATION_INT_H
#define LIMES_CORE_ROTATION_INT_H

#include <limits.h>

#include "core/core.h"
#include "crypto/keyupdate.h"

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

/* rotation.c: the state and its rows, answers and notes. */
void rotation_key_hex(char out[17], const uint8_t key_id[8]);
/* k as an identity line ("" when it cannot be written). */
void rotation_line_of(const struct peer_key *k, char *buf, size_t len);
/* An identity line into out; LIMES_E_NOTFOUND for "". */
int rotation_parse_line(const char *line, struct peer_key *out);
/* The neighbour's row, or NULL; _get adds an empty one (NULL: no memory). */
struct store_key_row *rotation_row_find(struct rotation *r, const char *peer);
struct store_key_row *rotation_row_get(struct rotation *r, const char *peer);
/* The answers exchanged with peer, added empty when new (NULL: no memory). */
struct rotation_ack *rotation_ack_get(struct rotation *r, const char *peer);
/* Stage a row or a note in the turn's commit (a failure is logged). */
int rotation_persist(struct rotation *r, const struct store_key_row *row);
int rotation_note_put(struct rotation *r, const struct store_key_note *n);
/* A note read at start (NULL once rotation_new is done). */
const struct store_key_note *rotation_note_find(const struct rotation *r, const char *kind, const char *name);
/* Audits a key change (a failure is logged). */
void rotation_record(struct rotation *r, const char *peer, const uint8_t key_id[8], const char *what);

/* rotation_ours.c: our files at start or reload (a next key to announce, a
 * previous one promoted offline); err says why on failure. */
int rotation_ours_load(struct rotation *r, char *err, size_t err_len);

/* rotation_theirs.c: puts a neighbour's row in force on its peer. */
void rotation_theirs_apply(struct rotation *r, struct store_key_row *row, uint64_t now);
/* A neighbour's announcement, direct or relayed (rotation_offered). */
int rotation_theirs_offered(struct rotation *r, const char *from, bool relayed, const uint8_t *body, size_t len,
			    const uint8_t *sig, const uint8_t *sig2, char *why, size_t why_len);

/* rotation_ring.c: our replaced keys older than `previous` (the key ring)
 * and the neighbours' replaced keys, kept while a stored row may need them. */
int rotation_ring_add(struct rotation *r, struct identity **id, const char *stem, uint64_t at_ms, uint64_t until_ms);
struct store_key_note rotation_ring_note(const struct ring_key *k);
int rotation_ring_load(struct rotation *r, char *err, size_t err_len);
int rotation_ring_load_theirs(struct rotation *r);
const struct identity *rotation_ring_replaced(const struct rotation *r, const uint8_t *key_id, bool live, uint64_t now);
int rotation_ring_theirs_add(struct rotation *r, const char *peer, const struct peer_key *key, uint64_t at_ms,
			     uint64_t until_ms, bool save);
void rotation_ring_retire(struct rotation *r, uint64_t now);

/* rotrelay.c: our answer to p's announcement is due (a; NULL: none). */
void rotrelay_answer_due(struct rotation *r, struct peer *p, struct rotation_ack *a);
/* Once a second: what peers behind a relay are owed. */
void rotrelay_tick(struct rotation *r, uint64_t now);

#endif
