/*
 * The core: what the API and the links share, each piece with one writer.
 *
 *  - the peer table (peers.c): owns the config, swapped whole on reload, and
 *    one runtime peer per configured peer with its crypto, its link state
 *    and its counters; the next-hop rule lives here and nowhere else;
 *  - the commit (commit.c): the only caller of store_begin/store_commit. Any
 *    module stages writes with commit_stage(); once per loop turn, just
 *    before the loop waits for I/O, one commit makes them durable and the
 *    listeners hear the result (acknowledge only then);
 *  - submission and re-queueing (submit.c, requeue.c): policy, sealing and
 *    staging into the outbox, returning our own error codes and the field;
 *  - expiry (expire.c): overdue deliveries expired, counted per peer, logged
 *    per message.
 *
 * Everything runs on the loop thread. Lower modules (store, config, crypto,
 * proto, base) know nothing of this; higher ones (api, link, daemon) use it
 * and never each other.
 */
#ifndef LIMES_CORE_H
#define LIMES_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "store/store.h"

struct identity;
struct envelope_peer;
struct audit;
struct audit_builder;

/* ------------------------------------------------------------ errors */

/* Why core refused a request: a LIMES_E_* code, the request field it is
 * about ("to[1]", "ttl_s", "" for none) and a sentence for a human. The API
 * alone turns the code into an HTTP status. */
struct core_error {
	int code;
	char field[128];
	char message[256];
};

/* ------------------------------------------------------------ peer table */

/* down: no connection (never connected, the peer said goodbye, or silent
 * past dead_after and not yet reconnecting); connecting: our DEALER is trying;
 * up: frames come back; degraded: frames come back but what they carry fails
 * (receipts that do not verify, every message refused): `reason` says why. */
enum link_state { LINK_DOWN = 0, LINK_CONNECTING = 1, LINK_UP = 2, LINK_DEGRADED = 3 };

/* Name of a link state ("down", "connecting", "up", "degraded"); static storage. */
const char *link_state_name(enum link_state state);

/* Link health of one direct peer, written by the link module only. */
/* Where our request to a neighbour to send again what it delivered since
 * our restored copy stands (docs/protocol.md "Resend after a restore"). */
enum peer_resend {
	PEER_RESEND_NONE = 0,       /* not restored, or not asked yet */
	PEER_RESEND_ASKING,         /* asked; answered "more" or "busy", or not yet */
	PEER_RESEND_NOT_ANSWERING,  /* asked RESEND_UNANSWERED_WARN times without any answer: asked ever less often */
	PEER_RESEND_DONE,           /* it answered "done" */
};
/* "asking", "not_answering", "done", or NULL for PEER_RESEND_NONE. */
const char *peer_resend_name(enum peer_resend r);

struct peer_link {
	enum link_state state;
	uint64_t since_ms;          /* wall clock of the last state change, 0 never */
	uint64_t up_since_ms;
	uint64_t last_heard_ms;     /* wall clock of the last frame from it, 0 never */
	double rtt_ms;              /* smoothed, from heartbeats; valid when has_rtt */
	double clock_offset_ms;     /* its clock minus ours, smoothed */
	double offset_last_ms;      /* the last measurement alone, unsmoothed */
	uint64_t measured_wall_ms;  /* our wall clock when it was taken */
	uint64_t measured_mono_ms;  /* and our monotonic clock */
	uint32_t protocol;          /* envelope version agreed on our DEALER (its heartbeat replies); 0 not yet = 1 */
	uint32_t protocol_kept;     /* the last version agreed, kept while the link is down (peer_build_protocol) */
	bool has_rtt;               /* false again once the link leaves up/degraded: stale figures are unknown */
	char reason[128];           /* why it is down or degraded, "" otherwise */
	enum peer_resend resend;    /* our ResendRequest to it after a restore (link/resend.c) */
};

/* Message counters of one peer since start. */
enum peer_counter {
	PEER_SENT,               /* envelopes sent to it (first sends and re-sends) */
	PEER_RESENT,             /* of those, re-sends */
	PEER_DELIVERED,          /* verified receipts: accepted or duplicate */
	PEER_REJECTED,           /* verified rejections by it */
	PEER_RECEIVED,           /* envelopes accepted from it */
	PEER_REFUSED,            /* envelopes from it we refused */
	PEER_DUPLICATES,         /* replays from it answered as duplicates */
	PEER_EXPIRED,            /* our deliveries to it that expired undelivered */
	PEER_EQUIVOCATIONS,      /* audit checkpoints from it refused: a second, different one for a seq */
	PEER_COUNTERS
};
struct peer_counters {
	uint64_t n[PEER_COUNTERS];
};

struct peers;
struct peer;

/* Builds the peer table for cfg, taking ownership of *cfg (nulled) on
 * success; derives each peer's pair key with `me`. NULL with "file:line:
 * reason" in err on failure (cfg left with the caller). */
struct peers *peers_new(struct config **cfg, const struct identity *me, char *err, size_t err_len);
/* Frees the table and its config; accepts NULL and nulls *peers. */
void peers_destroy(struct peers **peers);
/* Swaps in a new config (SIGHUP), taking *cfg on success. Peers that stay
 * with the same key keep their link state and counters. On failure nothing
 * changes and err says why. */
int peers_reload(struct peers *peers, struct config **cfg, char *err, size_t err_len);

/* The current config; borrowed, valid until the next reload. */
const struct config *peers_config(const struct peers *peers);
/* The recent-events ring (core/events.h), owned by the table for its whole
 * life (reloads keep it): the core and the link append, the API reads. */
struct events *peers_events(struct peers *peers);
/* Number of peers and the i-th one (config order); borrowed until reload. */
size_t peers_count(const struct peers *peers);
struct peer *peers_at(struct peers *peers, size_t i);
/* The peer with that id, or NULL; borrowed until reload. */
struct peer *peers_find(struct peers *peers, const char *id);
/* The direct peer whose CURVE key is box_pk (or whose replaced key it is,
 * while that key's overlap lasts), or NULL. */
struct peer *peers_find_by_box_key(struct peers *peers, const uint8_t box_pk[32]);

const struct config_peer *peer_conf(const struct peer *p);
const char *peer_id(const struct peer *p);
/* True for a peer with an endpoint of its own (not reached through a relay). */
bool peer_is_direct(const struct peer *p);
/* The peer its envelopes are handed to: its relay, or itself when direct. */
const char *peer_next_hop(const struct peer *p);
/* The pair key for sealing to it and verifying it; borrowed. */
const struct envelope_peer *peer_crypto(const struct peer *p);
/* The pair key of its key `key_id`: the current one, or the one it replaced
 * (kept after a reload that changed the key, valid for receiving until
 * *valid_until_ms, 0 for the current key). NULL when neither; borrowed. */
const struct envelope_peer *peer_crypto_for_key(const struct peer *p, const uint8_t key_id[8],
						uint64_t *valid_until_ms);
/* The pair key its key replaced, or NULL; borrowed until reload. */
const struct envelope_peer *peer_crypto_previous(const struct peer *p);
/* The configured peer (direct or relayed) whose current key has this key id, or NULL. */
struct peer *peers_find_by_key_id(struct peers *peers, const uint8_t key_id[8]);
const struct peer_link *peer_link(const struct peer *p);
/* A direct peer, up, whose clock (measured by heartbeats) agrees with ours
 * within max_clock_skew now: its last measurement, moved by however far our
 * wall clock stepped against the monotonic one since. It vouches for our
 * wall clock. NULL when none does; *offset_ms (may be NULL) gets its offset
 * now. Borrowed until reload. */
const struct peer *peers_clock_witness(struct peers *peers, double *offset_ms);
/* The same, judged at these readings of our wall and monotonic clocks. */
const struct peer *peers_clock_witness_at(struct peers *peers, uint64_t wall_ms, uint64_t mono_ms,
					  double *offset_ms);
const struct peer_counters *peer_counters(const struct peer *p);
/* The key in force for the peer: its configured key, or the key it rotated
 * to over the link (rotation_theirs.c); borrowed. */
const struct peer_key *peer_key_in_force(const struct peer *p);
/* Its adopted next key's pair key (announced, not yet in use), or NULL. */
const struct envelope_peer *peer_crypto_next(const struct peer *p);
/* When its replaced key stops being valid for receiving (0: none). */
uint64_t peer_previous_until(const struct peer *p);

/* What a neighbour announced of its keys over the link (rotation_theirs.c). */
struct peer_rotation {
	int next_state;              /* STORE_KEY_NONE, _OFFERED (waits for the operator), _ADOPTED */
	struct peer_key next;        /* the announced next key, when next_state != NONE */
	uint64_t seq;                /* the announcement's sequence number */
	uint64_t announced_ms;       /* its time */
	uint64_t changed_ms;         /* when it was offered, adopted or put in force */
	char changed_by[65];         /* who adopted it: "auto" or the API client */
	bool learnt;                 /* the key in force came over the link, not from the config */
};
const struct peer_rotation *peer_rotation(const struct peer *p);

/* What a direct peer said, over the link, it accepts from us: a bit per
 * MessageType and the highest body schema major it reads for each. Not
 * known until its first heartbeat reply that carries it (older agents
 * never send it: then nothing is refused on its account). */
struct peer_accepts {
	bool known;
	uint32_t mask;              /* CONFIG_TYPE_BIT(type) */
	uint32_t schema_major[32];
	uint64_t said_ms;           /* wall clock when it last said so */
};
const struct peer_accepts *peer_accepts(const struct peer *p);
/* Link module: records what the peer said it accepts (copied). */
void peer_accepts_set(struct peer *p, const struct peer_accepts *acc);

/* Link module: state changes and measurements of a direct peer. */
void peer_link_set_state(struct peer *p, enum link_state state, uint64_t now_ms);
void peer_link_heard(struct peer *p, uint64_t now_ms);
void peer_link_measured(struct peer *p, double rtt_ms, double clock_offset_ms);
/* The envelope version agreed with a direct peer (0: not known, build v1). */
void peer_link_set_protocol(struct peer *p, uint32_t version);
/* The version to build p's envelopes in: the one agreed, or while the link
 * is down the last one agreed (a backlog queued during an outage is signed
 * in batches; the link re-seals it should the peer come back lower). */
uint32_t peer_build_protocol(const struct peer *p);
/* Link module: why the link is down or degraded (printf; "" clears). */
void peer_link_set_reason(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Written by the link only (link/resend.c). */
void peer_link_set_resend(struct peer *p, enum peer_resend r);
/* Adds n to one counter. */
void peer_count(struct peer *p, enum peer_counter which, uint64_t n);

/* The state of a relayed peer from its own evidence (relayed.c): down or
 * connecting while its relay `hop` (NULL: not configured) is, degraded when
 * a message to it waited longer than overdue_ms without a receipt from it
 * since, else up; with the reason in words. queued and oldest_ms are its
 * own (peer_outbox_stats). Never the relay's state copied. */
struct peer_relayed {
	enum link_state state;
	enum link_state relay_state;
	char reason[128];             /* as struct peer_link's */
};
void peer_relayed_state(const struct peer *p, const struct peer *hop, uint64_t now_ms, uint64_t queued,
			uint64_t oldest_ms, uint64_t overdue_ms, struct peer_relayed *out);

/* Queued count and oldest unacknowledged creation time toward a direct
 * peer (for a relayed one: of the messages to it, through its relay). Counting scans the queue, so when it takes long (a big backlog) the
 * figure is reused for up to 50 times what it cost. */
int peer_outbox_stats(struct peer *p, struct store *store, uint64_t *queued, uint64_t *oldest_ms);

/* ------------------------------------------------------------ commit */

/* What the staged writes touched, for the listeners. */
enum commit_change {
	COMMIT_OUTBOX = 1u << 0,    /* deliveries became due: links may send */
	COMMIT_INBOX = 1u << 1,     /* messages arrived: long-polls may answer */
	COMMIT_RECEIPTS = 1u << 2,  /* receipts wait on the commit to be sent */
	COMMIT_AUDIT = 1u << 3,     /* an audit checkpoint was made: links may send it */
};

/* Hears the end of every commit: rc 0 (durable) or the store's error (the
 * staged writes are gone), and the union of the changes staged. */
typedef void (*commit_done_fn)(void *arg, int rc, unsigned changes);

struct commit;

/* The group commit of `store`, run once per turn of `loop`. Caller owns it. */
struct commit *commit_new(uv_loop_t *loop, struct store *store);
/* Closes its loop handle; accepts NULL. */
void commit_stop(struct commit *c);
/* Frees after the loop closed the handle; accepts NULL and nulls *c. */
void commit_destroy(struct commit **c);
/* Adds a listener (at most 8; for the daemon's wiring). */
int commit_listen(struct commit *c, commit_done_fn fn, void *arg);
/* Opens the turn's transaction if none is open, so the caller can write;
 * `changes` says what the writes will touch. 0 or the store's error (then
 * write nothing). */
int commit_stage(struct commit *c, unsigned changes);
/* The same for writes no acknowledgement waits on (a lost one costs a
 * re-send, never a message): they are committed with the next commit
 * something waits on, or a few milliseconds later. Until then this
 * process alone sees them; a crash may lose them. */
int commit_stage_lazy(struct commit *c, unsigned changes);
/* For writes that belong to another's (an audit entry to its action):
 * joins what is staged, lazy or not, without changing when it commits;
 * with nothing staged, commit_stage. */
int commit_stage_join(struct commit *c, unsigned changes);
/* Something staged waits on a commit this turn (commit_stage). */
bool commit_durable_staged(const struct commit *c);
/* Only lazy writes wait, uncommitted (commit_flush commits them). */
bool commit_lazy_staged(const struct commit *c);
/* Commits now and tells the listeners (also run by the loop each turn).
 * 0 when nothing was staged or the commit succeeded. */
int commit_flush(struct commit *c);
/* Runs just before each commit (with something staged) to make the turn's
 * last writes; an error rolls the whole turn back and every listener hears
 * it. One hook (submission's batch signature); fn NULL removes it. */
typedef int (*commit_before_fn)(void *arg);
void commit_before(struct commit *c, commit_before_fn fn, void *arg);
/* Hands the commit the audit trail whose entries ride on it (NULL: none,
 * as in unit tests); borrowed, must outlive the commit's use. */
void commit_set_audit(struct commit *c, struct audit *a);
/* The audit trail of this commit, or NULL; borrowed. */
struct audit *commit_audit(const struct commit *c);
/* Commits made and commits that failed since start. */
uint64_t commit_count(const struct commit *c);
uint64_t commit_failures(const struct commit *c);
/* How long each store commit took (the write and the sync that every 202
 * and receipt waits on), as a histogram: the upper bounds in seconds, and
 * per bucket the commits that took at most that long and more than the
 * bucket before (the last bucket: longer than every bound). */
#define COMMIT_TIME_BUCKETS 10
extern const double commit_time_bounds_s[COMMIT_TIME_BUCKETS];
struct commit_times {
	uint64_t n[COMMIT_TIME_BUCKETS + 1];
	uint64_t count;      /* commits timed: made and failed */
	uint64_t sum_us;     /* their time in all */
};
/* Copies the histogram into *t (the caller's). */
void commit_times(const struct commit *c, struct commit_times *t);

/* ------------------------------------------------------------ submission */

#define SUBMIT_MAX_TO 16

struct submit_request {
	const char *to[SUBMIT_MAX_TO];
	size_t n_to;
	int type;                  /* MessageType */
	int priority;              /* 0 normal, 1 urgent */
	uint64_t ttl_ms;           /* 0: the configured default */
	bool has_ref;
	uint8_t ref[STORE_ID_LEN];
	const char *idempotency_key; /* may be NULL */
	const uint8_t *body;       /* packed protobuf of the type's message */
	size_t body_len;
	/* envelope_hash() of body, when the caller has it already (the API
	 * computes it where it parses, on a worker for large requests); the
	 * audit entry names the body by it. false: submit_stage hashes. */
	bool has_body_hash;
	uint8_t body_hash[STORE_HASH_LEN];
};

struct submit_result {
	uint8_t id[STORE_ID_LEN];
	bool existing;             /* idempotency key seen before: nothing new queued */
};

struct submit;

/* Submission and re-queueing for the agent `me` (borrowed, as are the
 * others, for the submitter's life). Caller owns the result. */
struct submit *submit_new(struct peers *peers, struct store *store, struct commit *commit,
			  const struct identity *me);
void submit_destroy(struct submit **s);
/* Ed25519 signatures made for envelopes since start (one per v1 envelope,
 * one per v2 batch: the envelopes of one turn for one next hop). */
uint64_t submit_signatures(const struct submit *s);

/* Checks policy for every request, seals one envelope per recipient and
 * stages them all in the turn's commit (COMMIT_OUTBOX). Envelopes for v2
 * links are signed at the commit, one batch per next hop for everything
 * submitted in the turn, and only then written to the outbox (a failure
 * there fails the turn's commit). The caller answers
 * only once the commit's listeners heard rc 0. On error nothing of this
 * call remains staged; err says why (codes: LIMES_E_UNKNOWN_PEER, _POLICY,
 * _INVAL, _MISSING, _RANGE, _STORE_FAILED, _STORE_FULL, _NOMEM). */
int submit_stage(struct submit *s, const char *client, const struct submit_request *reqs, size_t n,
		 struct submit_result *results, struct core_error *err);

/* Stages a fresh envelope (same id, new expiry, sealed to the recipient's
 * current key) for an expired or rejected message, to one recipient or to
 * all when recipient is NULL. Committed with the turn, like a submission;
 * *requeued says how many deliveries. A recipient the message was not for
 * takes over its one delivery to a name no longer configured (a misspelt
 * peer section fixed), whatever its state short of delivered. Codes: LIMES_E_NOTFOUND,
 * _NOT_REQUEUEABLE, _UNKNOWN_PEER, _RANGE, store errors. */
int submit_requeue(struct submit *s, const uint8_t id[STORE_ID_LEN], const char *recipient, uint64_t ttl_ms,
		   int *requeued, struct core_error *err);

/* submit_requeue() on behalf of an API client, named in the audit entry. */
int submit_requeue_for(struct submit *s, const char *client, const uint8_t id[STORE_ID_LEN],
		       const char *recipient, uint64_t ttl_ms, int *requeued, struct core_error *err);

/* At most this many deliveries are sent again per resend call (a
 * neighbour's request or an operator's): the rest waits for the next. */
#define RESEND_BATCH_MAX 1000

/* One resend that re-queues (not a dry run) per next hop per this many
 * ms, whoever asks (the neighbour over the link or an operator): each one
 * reads up to RESEND_BATCH_MAX rows and seals as many envelopes. */
#define RESEND_EVERY_MS 1000

/* Sent again after a neighbour's restore (resend.c): stages a fresh
 * envelope, as submit_requeue() does, for each delivery to next_hop
 * (addressed to it or relayed through it) delivered at or after since_ms
 * and before until_ms, up to `limit` (1..RESEND_BATCH_MAX), oldest first.
 * until_ms is fixed by the first call of a series (the time it was asked):
 * what one call sent again is delivered anew, and a later call of the same
 * series must not take it again (each batch would refill the next).
 * `by` names who asked in the log and the audit entries ("peer X" or an
 * API client). With dry_run nothing is staged: *count says how many would
 * be. *more is true when more than `limit` match (call again). Deliveries
 * that cannot be sent again (body purged, recipient no longer configured)
 * are skipped and logged. A call that would re-queue within
 * RESEND_EVERY_MS of the last one for next_hop is refused with
 * LIMES_E_AGAIN, err saying the limit and when to try again.
 * 0, LIMES_E_UNKNOWN_PEER, LIMES_E_RANGE, LIMES_E_AGAIN or a store error. */
int submit_resend_delivered(struct submit *s, const char *by, const char *next_hop, uint64_t since_ms,
			    uint64_t until_ms, size_t limit, bool dry_run, size_t *count, bool *more,
			    struct core_error *err);

/* ------------------------------------------------------------ clients */

/* The configured API client named `name`, or NULL; borrowed from cfg. */
const struct config_client *client_find(const struct config *cfg, const char *name);
/* The rights that apply to requests attributed to `name`: its client, or
 * for any other name the simple setup's client "default" (the API passes
 * such names only with that client's token); NULL when none. Borrowed. */
const struct config_client *client_rights(const struct config *cfg, const char *name);
/* May the client read messages of `type` (inbox, by id)? */
bool client_may_read(const struct config_client *c, int type);
/* Its read right as a list ("control_result", "*", "nothing") in buf; returns buf. */
const char *client_read_text(const struct config_client *c, char *buf, size_t len);
/* The rights of a client as one line ("submit = alert; to = *; read = *;
 * admin = yes"), into the caller's buf. */
void client_rights_text(const struct config_client *c, char *buf, size_t len);
/* An envelope of ours (env, borrowed) waiting for `recipient`: when it is
 * sealed to the key a reload replaced, *out gets a malloc'd copy sealed to
 * the current key (same id, times and sequence; caller frees) and 1 is
 * returned; 0 when it may go as it is; or an error. */
int core_reseal(struct peers *peers, const struct identity *me, const char *recipient, const uint8_t *env,
		size_t len, uint8_t **out, size_t *out_len);
/* A v2 envelope of ours (env, borrowed) for `recipient`, whose path agrees
 * v2 no longer (it came back from an outage as v1, or we were reloaded to
 * v1): 1 with a malloc'd v1 copy in *out (same id, times and sequence,
 * signed alone; caller frees); 0 when it may go as it is; or an error. */
int core_reseal_version(struct peers *peers, const struct identity *me, const char *recipient, const uint8_t *env,
			size_t len, uint8_t **out, size_t *out_len);

/* ------------------------------------------------------------ key rotation */

/*
 * Key rotation with overlap (rotation*.c; docs/protocol.md "Key rotation").
 * Our next key is announced to every direct neighbour until it answers; a
 * neighbour's announced key is checked, then offered to the operator or
 * adopted at once (`rotation = accept`), and put in force when the
 * neighbour first presents it. Everything learnt is kept in the store.
 */
struct rotation;
/* The announcement frame's parts (static storage, valid until the next call). */
struct rotation_frame {
	const uint8_t *body;
	size_t len;
	const uint8_t *sig, *sig2;
	uint64_t seq;
};
#define ROTATION_ACK_LEN 17
/* Called after a promotion so the links take the new key (the daemon wires it). */
typedef void (*rotation_rekey_fn)(void *arg);

/* Reads the stored rotation state, loads keys/next.key and keys/previous.key
 * when present (a promotion made while stopped starts its overlap now) and
 * puts what neighbours taught us in force. All pointers are borrowed; me is
 * swapped in place by a promotion. Caller owns the result; NULL with err. */
struct rotation *rotation_new(struct peers *peers, struct store *store, struct commit *commit, struct audit *audit,
			      struct identity *me, char *err, size_t err_len);
/* Frees; accepts NULL and nulls *r. */
void rotation_destroy(struct rotation **r);
/* After peers_reload(): puts the learnt keys in force again (a configured
 * key that changed wins, and the learnt state of that peer is forgotten). */
void rotation_apply(struct rotation *r);
void rotation_set_rekey(struct rotation *r, rotation_rekey_fn fn, void *arg);
/* Our announcement, when we have a next key; *out borrowed until the next call. */
bool rotation_announcement(const struct rotation *r, const struct rotation_frame **out);
/* Should the announcement go to peer (it has not answered it yet)? */
bool rotation_must_announce(struct rotation *r, const char *peer);
/* A neighbour answered our announcement (ack as received, checked here). */
void rotation_on_ack(struct rotation *r, const char *peer, const uint8_t ack[ROTATION_ACK_LEN]);
/* Its answer to our announcement: 0 none yet, STORE_KEY_OFFERED, STORE_KEY_ADOPTED. */
int rotation_neighbour_answer(const struct rotation *r, const char *peer);
/* Our next key and its announcement's sequence, or NULL; borrowed. */
const struct peer_key *rotation_next_key(const struct rotation *r, uint64_t *seq);
/* A neighbour `from` (named by ZAP) announced a key: checked (agent id,
 * signature by the key in force here and by the next key, sequence, time),
 * recorded, offered or adopted. 0, or an error with why in words
 * (LIMES_E_UNKNOWN_PEER, _ENV_MALFORMED, _ENV_UNKNOWN_KEY, _ENV_BAD_SIG,
 * _ENV_REPLAY, _ENV_FUTURE, store errors). */
int rotation_offered(struct rotation *r, const char *from, const uint8_t *body, size_t len, const uint8_t *sig,
		     const uint8_t *sig2, char *why, size_t why_len);
/* Our answer to peer's announcement, when one is due (into out). */
bool rotation_answer_due(struct rotation *r, const char *peer, uint8_t out[ROTATION_ACK_LEN]);
void rotation_answer_sent(struct rotation *r, const char *peer);
/* The operator adopts peer's offered key (`limes peer accept-key`); by
 * names who. Codes: LIMES_E_UNKNOWN_PEER, _NOTFOUND (nothing offered),
 * _EXISTS (adopted already), store errors. */
int rotation_accept(struct rotation *r, const char *peer, const char *by, struct core_error *err);
/* A direct peer presented box_pk in a handshake: when it is its adopted next
 * key, that key is put in force (the old one kept for key_overlap). */
bool rotation_presented(struct rotation *r, struct peer *p, const uint8_t box_pk[32]);
/* Switches this agent to its next key now (files renamed, identity swapped
 * in place, pair keys derived again, the links told). Codes: LIMES_E_NOTFOUND
 * (no next key), file errors. */
int rotation_promote(struct rotation *r, const char *by, struct core_error *err);
/* Our replaced identity with key id key_id (NULL: the newest one) while its
 * overlap lasts at now_ms, else NULL; borrowed. Older replaced keys are
 * kept in the key ring (docs/operations.md "Rotating this agent's key"). */
const struct identity *rotation_previous(const struct rotation *r, const uint8_t *key_id, uint64_t now_ms);
/* Any replaced key of ours with key id key_id (the previous one or in the
 * ring), whether its overlap lasts or not, else NULL; borrowed. */
const struct identity *rotation_replaced(const struct rotation *r, const uint8_t key_id[8]);
/* Our replaced keys older than the previous one, kept in the key ring:
 * how many, and the i-th's public key (borrowed) and end of its overlap. */
size_t rotation_ring_count(const struct rotation *r);
const struct peer_key *rotation_ring_at(const struct rotation *r, size_t i, uint64_t *until_ms);
/* Our own row (current, previous and its end, next); borrowed. */
const struct store_key_row *rotation_own(const struct rotation *r);
bool rotation_has_next(const struct rotation *r);
/* Opens a stored envelope exchanged with `peer` whatever keys it was made
 * with before a rotation on either side (ours in use or replaced; its in
 * force, replaced or next): own (true) re-opens one we wrote
 * (envelope_reopen_own), else unseals one it sent (envelope_unseal). r may
 * be NULL (then only our key in use). Fills out as envelope_open. */
struct envelope_opened;
int rotation_open_stored(const struct rotation *r, struct peers *peers, const struct identity *me, const char *peer,
			 const uint8_t *env, size_t len, bool own, struct envelope_opened *out);
/* An envelope of ours sealed to a key its recipient replaced, or signed by a
 * replaced key of ours (any in the key ring), as a copy signed and sealed
 * with the current keys (same id, times, sequence): 1 with *out (caller
 * frees), 0 to send it as it is, or an error. One already sent (!never_sent)
 * and only signed by an old key is signed again only for a direct
 * neighbour (it answers the new bytes as a duplicate if it holds the old).
 * r may be NULL (then core_reseal()). */
int rotation_reseal(const struct rotation *r, struct peers *peers, const struct identity *me, const char *recipient,
		    const uint8_t *env, size_t len, bool never_sent, uint8_t **out, size_t *out_len);
/* The submitter re-queues through these keys too (requeue of a message we
 * signed before a promotion); r borrowed, may be NULL. */
void submit_set_rotation(struct submit *s, const struct rotation *r);
/* Ends overlaps that are over (housekeeping), recording each once. */
void rotation_tick(struct rotation *r, uint64_t now_ms);
/*
 * Peers reached through a relay (docs/protocol.md "Key rotation through a
 * relay"): our announcement and our answers to theirs travel end to end as
 * envelopes of type WIRE_TYPE_KEY_ROTATION (their body the very frame a
 * direct neighbour gets), queued through the submitter, carried and stored
 * by the relay like any envelope. rotation_tick queues them.
 */
/* The submitter the envelopes are sealed and queued through; borrowed. */
void rotation_set_submit(struct rotation *r, struct submit *s);
/* An opened envelope of type WIRE_TYPE_KEY_ROTATION from `from`, a peer
 * reached through a relay, whose signature verified with its key: its body
 * (a KeyUpdate or KeyUpdateAck frame) taken as rotation_offered or
 * rotation_on_ack take a direct neighbour's. 0, or an error with why. */
int rotation_relayed_in(struct rotation *r, const char *from, const uint8_t *body, size_t len, char *why,
			size_t why_len);
/* A peer reached through a relay signed something (envelope, receipt)
 * that verified with key_id: when that is its adopted next key it is put
 * in force (there is no handshake with it to show the switch). */
bool rotation_signed_with(struct rotation *r, struct peer *p, const uint8_t key_id[8]);

/* ------------------------------------------------------------ backup */

/* Commits what is staged, then writes a consistent copy of the store to the
 * absolute path `out` (store_backup). 0, or an error with why filled. */
int core_backup(struct commit *commit, struct store *store, const char *out, char *why, size_t why_len);

/* ------------------------------------------------------------ expiry */

/* Expires every delivery whose TTL passed (staged in the turn's commit),
 * counting each against its peer and logging each message id. Returns the
 * number expired or a store error. */
int core_expire(struct peers *peers, struct store *store, struct commit *commit, uint64_t now_ms);

/* ------------------------------------------------------------ audit trail */

/*
 * The audit trail (audit.c, docs/audit.md). Every audit_* recording function
 * stages one entry in the turn's transaction (opening it through the commit)
 * and returns 0 or the store's error: the caller treats an error like a
 * failure of the action itself, so no action commits without its entry.
 * They accept a NULL audit (no trail: unit tests) and then record nothing.
 * Ids are 16 raw bytes, hashes 32; strings are copied into the entry.
 */
/* The trail of agent my_id, signing checkpoints with me; store, commit and
 * me are borrowed. A checkpoint is made every every_entries entries or
 * every_ms (0: 1,000 entries, 60 s). Caller owns the result. */
struct audit *audit_new(struct store *store, struct commit *commit, const struct identity *me,
			const char *my_id, uint64_t every_entries, uint64_t every_ms);
/* Frees; accepts NULL and nulls *a. */
void audit_destroy(struct audit **a);
/* New checkpoint intervals (reload); 0 keeps the current one. */
void audit_set_checkpoints(struct audit *a, uint64_t every_entries, uint64_t every_ms);
/* Active (the default) or standby (docs/availability.md): a standby
 * records nothing (audit_finish() answers LIMES_E_AGAIN, no checkpoint is
 * made); becoming active reads the chain head and the last checkpoint
 * again from the store, where the other node may have moved them. */
void audit_set_active(struct audit *a, bool active);
/* Begins an entry of `kind` in the audit's own buffer (NULL when a is NULL);
 * add fields with audit_put_*, then audit_finish(). */
struct audit_builder *audit_start(struct audit *a, int kind);
/* Chains, hashes and stages the entry begun by audit_start(). */
int audit_finish(struct audit *a);
/* Stages a signed checkpoint of the chain head when every_entries entries
 * or every_ms passed since the last one (or, with force, whenever the head
 * moved). 0 or an error. */
int audit_checkpoint_tick(struct audit *a, uint64_t now_ms, bool force);
/* Tells the audit a commit failed (its checkpoint may be gone). */
void audit_rolled_back(struct audit *a);
/* Entries staged since start; the signing identity and agency id (borrowed). */
uint64_t audit_entries(const struct audit *a);
const struct identity *audit_identity(const struct audit *a);
const char *audit_agent_id(const struct audit *a);

/* envelope_hash may be NULL. */
int audit_relayed(struct audit *a, const char *peer, const char *author, const char *recipient,
		  const uint8_t id[STORE_ID_LEN], int type, const uint8_t envelope_hash[STORE_HASH_LEN]);
/* id may be NULL (a frame whose id is unknown). */
int audit_refused(struct audit *a, const char *peer, const uint8_t *id, const char *reason,
		  const char *detail);
/* The consultation log: client read these n inbox messages. */
/* One entry standing for `count` refusals of peer's not recorded one by
 * one (the bound on refusal entries, link/refusals.c). */
int audit_refused_count(struct audit *a, const char *peer, const char *reason, uint64_t count,
			const char *detail);
int audit_read(struct audit *a, const char *client, const uint8_t (*ids)[STORE_ID_LEN], size_t n,
	       const char *detail);
/* A client's request refused for want of `right`; id may be NULL. */
int audit_denied(struct audit *a, const char *client, const char *right, const uint8_t *id,
		 const char *detail);
int audit_requeued(struct audit *a, const char *client, const uint8_t id[STORE_ID_LEN], const char *recipient);
int audit_expired(struct audit *a, const char *peer, const char *recipient, const uint8_t id[STORE_ID_LEN],
		  int type);
int audit_purged(struct audit *a, uint64_t retention_ms, const char *detail);
int audit_config(struct audit *a, const char *what, const uint8_t config_hash[STORE_HASH_LEN]);
/* A CONFIG entry with the BLAKE2b-256 of the file at path as it is now. */
int audit_config_file(struct audit *a, const char *what, const char *path);
int audit_key(struct audit *a, const char *peer, const uint8_t *key_id, size_t key_id_len, const char *what);

/* One message named by a batch entry (docs/audit.md): the fields its kind
 * takes, all borrowed for the call. */
struct audit_msg {
	const uint8_t *id;                 /* 16 bytes; every kind */
	int type;                          /* submitted, received */
	const char *const *recipients;     /* submitted: n_recipients of them */
	size_t n_recipients;
	const char *recipient;             /* sent, receipt */
	uint32_t attempt;                  /* sent */
	const char *status, *reason;       /* receipt (reason NULL unless rejected) */
	const char *author;                /* received */
	const uint8_t *body_hash;          /* submitted, received (32 bytes or NULL) */
	const uint8_t *envelope_hash;      /* received (32 bytes or NULL) */
};
/* Records n messages of one event as entries of a batch kind
 * (AUDIT_SUBMITTED_BATCH: `who` is the client; _SENT_BATCH, _RECEIPT_BATCH,
 * _RECEIVED_BATCH: the peer), as many entries as their size needs (one
 * for up to a few hundred messages); receipt_hash (32 bytes) for a
 * RECEIPT_BATCH, else NULL. Staged like any entry: 0 or an error (then
 * the caller undoes the action). */
int audit_batch(struct audit *a, int kind, const char *who, const uint8_t *receipt_hash,
		const struct audit_msg *msgs, size_t n);
/* Keeps an accepted envelope's `received` fact (copied) for one
 * RECEIVED_BATCH entry per peer, staged by audit_flush() when the turn's
 * commit is made: the commit then holds the inbox rows and their entry, or
 * fails whole. 0, LIMES_E_AGAIN on a standby (the action must not happen),
 * LIMES_E_NOMEM. */
int audit_received_later(struct audit *a, const char *peer, const struct audit_msg *m);
/* Stages the kept facts' entries (the commit calls it just before it
 * commits); 0 or an error, which must fail the commit. Without an open,
 * healthy transaction the facts are dropped: their actions were undone. */
int audit_flush(struct audit *a);
/* Drops the kept facts: the turn they belonged to is rolled back. */
void audit_discard(struct audit *a);
/* ------------------------------------------------------------ body retention */

/* Empties the bodies of every type past its retention (staged in the turn's
 * commit), logging the count per type. Returns the count or a store error. */
int core_purge_bodies(struct peers *peers, struct store *store, struct commit *commit, uint64_t now_ms);
/* How often to run core_purge_bodies for this config, in ms (1 s to 60 s). */
uint64_t core_purge_bodies_every_ms(const struct config *cfg);

/* ------------------------------------------------------------ link figures */

/* Agent-wide link figures, written by the link module only and read by
 * whoever publishes them (through a getter the daemon hands out). */
#define LINK_REASON_SLOTS 32
struct link_stats {
	uint64_t envelopes_refused[LINK_REASON_SLOTS]; /* by RejectReason */
	uint64_t receipts_bad;
	uint64_t frames_garbage;
	uint64_t frames_oversized;     /* of those, longer than max_frame (read, logged, dropped) */
	uint64_t relayed;
	uint64_t refused_handshakes;
	uint64_t audit_equivocations;  /* neighbours' second, different checkpoints refused */
};

#endif
