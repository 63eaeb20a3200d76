/*
 * Shared by the files of the link module only: link.c (sockets, life cycle,
 * health, commit), send.c (outgoing), receipts.c (answers on a DEALER),
 * recv.c (incoming on the ROUTER), relay.c, inflight.c, zap.c.
 */
#ifndef LIMES_LINK_INT_H
#define LIMES_LINK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "base/ratelimit.h"
#include "config/config.h"
#include "core/core.h"
#include "link/link.h"
#include "proto/wire.h"
#include "zsock.h"

/* A delivery sent and not yet receipted (memory only: after a restart the
 * store makes everything unreceipted due again). */
struct inflight {
	uint8_t id[16];
	char recipient[CONFIG_ID_MAX + 1];
	uint8_t hash[32];
	uint64_t sent_ms;
	int64_t cursor;               /* the delivery's store cursor: its receipt marks it by that */
	bool used;
};

/* Our DEALER to one direct peer. The peer is looked up by peer_id whenever
 * it is needed: a reload replaces the peer table's entries. */
struct outlink {
	struct links *links;
	bool clock_skewed;            /* its clock was last seen beyond max_clock_skew (logged once) */
	char peer_id[CONFIG_ID_MAX + 1];
	char endpoint[CONFIG_ENDPOINT_MAX];
	uint8_t key_id[8];
	void *dealer;
	struct zsock *watch;
	uint32_t window;
	struct inflight *inflight;    /* open addressing, inflight_cap a power of 2 */
	size_t inflight_cap, n_inflight;
	uint64_t connect_ms, last_heard_ms, last_send_ms, last_heartbeat_ms;
	uint64_t heartbeat_mono_us;   /* monotonic send time of the last heartbeat, for RTT */
	uint64_t audit_offered_seq;   /* audit.c: last checkpoint offered for countersignature */
	uint64_t audit_offered_ms;
	char degraded[128];           /* why its answers fail ("" when they do not): keys.c */
	bool goodbye;                 /* it said it stops: down until it answers again */
	void *monitor;                /* PAIR reading libzmq's monitor of the DEALER (monitor.c) */
	struct zsock *monitor_watch;
	bool handshake_ok;            /* the current connection completed its handshake */
	bool key_refused;             /* the peer's ZAP refused our key on this attempt */
	uint64_t key_update_ms;       /* rotation.c: when our key announcement last went to it */
	/* inflight.c's overdue rule: when a receipt last took an entry out,
	 * and the latest send time of an entry a receipt took out */
	uint64_t receipt_progress_ms, receipted_sent_ms;
};

/* A neighbour connected to our ROUTER, with the receipt entries waiting for
 * the next commit. */
struct inbound {
	char peer_id[CONFIG_ID_MAX + 1];
	uint8_t routing_id[256];
	size_t routing_len;
	struct wire_receipt_entry *pending;
	char (*pending_to)[CONFIG_ID_MAX + 1]; /* addressee of each entry: the original sender */
	uint8_t *pending_version;     /* receipt version of each entry: that of the envelope it answers */
	uint8_t answering;            /* the version the envelope being handled is answered in */
	size_t n_pending, cap_pending;
};

struct links {
	struct link_deps deps;        /* borrowed pointers, see link.h */
	struct ratelimit log_limit;   /* refusals and garbage, per peer (or address) */
	void *ctx, *zap, *router;
	struct zloop *zl;
	struct zsock *zap_watch, *router_watch;
	struct outlink **out;
	size_t n_out;
	struct inbound *in;
	size_t n_in;
	uv_timer_t tick;
	bool tick_on, stopped;
	/* a commit_stage() of ours succeeded since the last commit: the commit
	 * listener will run, so receipts wait for it rather than leave now */
	bool staged;
	struct link_stats stats;      /* written here only, read through links_stats() */
	/* the last v2 batch roots verified (16), so a batch costs one
	 * Ed25519 verify however its envelopes arrive */
	struct envelope_root_cache *roots;
	struct link_audit *audit;     /* audit.c: countersignatures waiting for the commit */
	struct link_refusals *refusals; /* refusals.c: the trail's refusal entries, bounded per peer */
	char key_why[200];            /* the last key refusal, in words (keys.c) */
	struct envelope_peer *previous_pair; /* rotation.c: for one envelope sealed to our replaced key */
	const struct identity *previous_me;  /* rotation.c: our replaced key that envelope is sealed to */
	struct link_resend *resend;   /* resend.c: asking after our restore, answering after theirs */
};

/* link.c: the protocol field of our heartbeats: the configured version, or
 * 0 (absent, as a v1 agent sends it) when we are v1 only. */
uint32_t link_protocol_offer(const struct links *L);

/* inflight.c: the in-flight set of one outlink. */
struct inflight *link_inflight_find(struct outlink *ol, const uint8_t id[16], const char *recipient);
struct inflight *link_inflight_add(struct outlink *ol, const uint8_t id[16], const char *recipient);
void link_inflight_remove(struct outlink *ol, struct inflight *f);
void link_inflight_clear(struct outlink *ol);
/* A receipt answered fl (about to be removed): remembered for the overdue rule. */
void link_inflight_receipted(struct outlink *ol, const struct inflight *fl, uint64_t now);
/* True when fl's receipt is overdue after `after_ms` (its delivery is to
 * be sent again): see inflight.c. */
bool link_inflight_overdue(const struct outlink *ol, const struct inflight *fl, uint64_t now, uint64_t after_ms);
/* zap.c: answers the ZAP requests waiting on the handler socket. */
bool link_zap_drain(struct zsock *zs, void *arg);

/* link.c: opens the turn's transaction for writes touching `changes`
 * (COMMIT_*, 0 for none a listener cares about); 0 or the store's error,
 * and then the caller writes nothing. */
int link_stage(struct links *L, unsigned changes);
/* link.c: the same for writes no acknowledgement waits on (commit_stage_lazy). */
int link_stage_lazy(struct links *L, unsigned changes);
/* link.c: connects s to each endpoint of a comma-separated list; 0 or -1. */
int link_connect_each(void *s, const char *endpoints);
/* link.c: records a state change of ol's peer (logging up and down). */
void link_set_state(struct links *L, struct outlink *ol, enum link_state state, const char *why);

/* send.c: packs f and sends it without blocking: 0 or LIMES_E_* (LIMES_E_AGAIN
 * when the socket would block); *why (may be NULL) gets static text saying
 * why it failed, in ZeroMQ's words when it refused. */
int link_send_frame(void *socket, const struct wire_frame *f, int flags, const char **why);
/* framefree.c: ZeroMQ's free function for a packed frame it took without
 * copying (any thread): the buffer waits on a lock-free list for
 * link_frames_reclaim(). hint: link_frame_release_hint(len) of the buffer. */
void link_frame_release(void *data, void *hint);
void *link_frame_release_hint(size_t len);
/* framefree.c: frees every released frame; on the loop thread (or once
 * ZeroMQ's threads have ended). */
void link_frames_reclaim(void);
/* send.c: sends one frame on our ROUTER to the neighbour `in`; as link_send_frame. */
int link_send_routed(struct links *L, const struct inbound *in, const struct wire_frame *f, const char **why);
/* send.c: sends due outbox rows to the peer while its window has room. */
void link_fill(struct links *L, struct outlink *ol);
/* send.c: sends a heartbeat on ol's DEALER (now: wall clock ms). */
void link_send_heartbeat(struct outlink *ol, uint64_t now);

/* receipts.c: input on a DEALER (receipts, heartbeat replies). */
bool link_dealer_drain(struct zsock *zs, void *arg);

/* recv.c: input on the ROUTER (envelopes, heartbeats from neighbours). */
bool link_router_drain(struct zsock *zs, void *arg);
/* recv.c: after a commit: one signed receipt per neighbour, addressee and batch. */
void link_send_pending(struct links *L);
/* recv.c: the commit failed: forgets the waiting receipt entries, returns how many. */
size_t link_drop_pending(struct links *L);
/* recv.c: frees the neighbours' state. */
void link_recv_free(struct links *L);
/* keys.c: envelope_open's key lookup: the configured key of `sender`, or
 * the one a reload replaced while its overlap lasts (arg: links); on a
 * refusal L->key_why says which key was presented and whose it is. */
const struct envelope_peer *link_sender_lookup(void *arg, const char *sender, const uint8_t key_id[8],
					       uint64_t created_ms, int *err);
/* keys.c: receipt_open's key lookup, the same rule for receipts' issuers. */
const struct peer_key *link_receipt_lookup(void *arg, const char *issuer, const uint8_t key_id[8],
					   uint64_t issued_ms, int *err);
/* keys.c: in words, whose CURVE public key box_pk is (for ZAP refusals). */
void link_describe_curve_key(struct links *L, const uint8_t box_pk[32], char *buf, size_t len);
/* keys.c: a receipt on ol failed to verify (why: in words). */
void link_health_bad_receipt(struct links *L, struct outlink *ol, const char *why);
/* keys.c: a verified receipt on ol: all refused for a link fault degrades
 * it, one accepted entry heals it. */
void link_health_receipt(struct links *L, struct outlink *ol, const struct wire_receipt_body *body);
/* keys.c: frames came back on ol: up, or degraded with the reason. */
void link_health_heard(struct links *L, struct outlink *ol);

/* relay.c: an envelope for another agency arrived from `from`; stage it for
 * its next hop. Returns 0 when taken (no receipt from us: the final
 * recipient's receipt travels back), or a negative error to reject it. */
struct envelope_parsed;
int link_relay_envelope(struct links *L, struct inbound *from, const struct envelope_parsed *e, const char **detail);
/* relay.c: our heartbeat reply to `asker` lists the direct peers we relay
 * v2 envelopes to (those whose link agreed v2); nothing when we are v1. */
void link_relays_fill(struct links *L, const char *asker, struct wire_heartbeat *hb);
/* relay.c: a heartbeat reply from `relay`: each peer configured via it
 * takes v2 through it exactly when the reply lists it. */
void link_relays_heard(struct links *L, const struct peer *relay, const struct wire_heartbeat *hb);
/* relay.c: a receipt on a DEALER addressed to someone else; forward it. */
void link_relay_receipt(struct links *L, const struct wire_receipt_body *body, const uint8_t *buf, size_t len);

/* audit.c: audit checkpoints over the links. */
struct link_audit *link_audit_new(void);
void link_audit_free(struct link_audit **a);
/* Offers committed, not yet countersigned checkpoints to every neighbour
 * that is up (nothing while a transaction is open). */
void link_audit_push(struct links *L, uint64_t now);
/* A neighbour's checkpoint (ROUTER) / countersignature of ours (DEALER). */
void link_audit_on_checkpoint(struct links *L, struct inbound *in, const struct wire_frame *f);
void link_audit_on_countersign(struct links *L, struct outlink *ol, const struct wire_frame *f);
/* A neighbour's AuditKeptRequest (ROUTER), possibly on a connection of
 * its own: answered at once to routing_id with the newest checkpoints of
 * its that we keep. */
void link_audit_on_kept_request(struct links *L, const char *peer_id, const uint8_t *routing_id, size_t routing_len,
				const struct wire_frame *f);
/* After a commit: send the countersignatures whose keeping is durable; or drop them. */
void link_audit_send_answers(struct links *L);
void link_audit_drop_answers(struct links *L);
/* refusals.c: records a refusal of peer's in the trail (staged), or counts
 * it once the peer's entries for the window are spent; 0 or LIMES_E_*. */
int link_refusal_record(struct links *L, const char *peer, const uint8_t *id, const char *reason,
			const char *detail);
/* refusals.c: writes one entry with the count for each window that ended
 * (all: every open one, at a stop). */
void link_refusals_flush(struct links *L, bool all);
struct link_refusals *link_refusals_new(void);
void link_refusals_free(struct link_refusals **R);
/* monitor.c: watches the handshakes and disconnections of `dealer` (ol's,
 * before it connects); 0 or LIMES_E_*. */
int link_monitor_start(struct links *L, struct outlink *ol, void *dealer);
/* monitor.c: stops watching (before the DEALER closes); accepts a stopped one. */
void link_monitor_stop(struct outlink *ol);
/* revoke.c: drops every connection to our ROUTER (unbind, bind again) and
 * forgets the neighbours' routing ids; used after a reload removed a key. */
void link_relisten(struct links *L);
/* revoke.c: tells every connected neighbour we stop (a Goodbye frame). */
void link_say_goodbye(struct links *L);
/* revoke.c: a Goodbye came back on ol's DEALER: the link is down now. */
void link_heard_goodbye(struct links *L, struct outlink *ol);

/* link.c: drops ol's DEALER and connects a new one (the peer's key in force, our key now). */
void link_reset(struct links *L, struct outlink *ol, const char *why);
/* rotation.c: key rotation over the links. Announces our next key on ol's
 * DEALER until the peer answers (every 2 s while it is up). */
void link_rotation_tick(struct links *L, struct outlink *ol, uint64_t now);
/* resend.c: after a restore, ask ol's neighbour to send again what it
 * delivered since the copy; its answer; a neighbour's request on the
 * ROUTER; the answers once the re-queueing is committed (or dropped when
 * the commit failed); the state, freed with the links. */
void link_resend_tick(struct links *L, struct outlink *ol, uint64_t now);
void link_resend_on_ack(struct links *L, struct outlink *ol, const struct wire_frame *f);
void link_resend_on_request(struct links *L, struct inbound *in, const struct wire_frame *f);
void link_resend_send_answers(struct links *L);
void link_resend_drop_answers(struct links *L);
void link_resend_free(struct link_resend **R);
/* resend.c: how long after an ask that has had no answer yet (the
 * unanswered-th in a row; 0 after a busy answer) the next one goes: retry_ms
 * (`[link] retry`) doubled per unanswered ask after the first, at most 60 s
 * or retry_ms when that is longer. */
uint64_t link_resend_ask_wait_ms(uint64_t retry_ms, unsigned unanswered);
/* rotation.c: sends the answers due to neighbours' announcements (ROUTER). */
void link_rotation_answer(struct links *L);
/* rotation.c: a neighbour's announcement (ROUTER) / its answer to ours (DEALER). */
void link_rotation_on_update(struct links *L, struct inbound *in, const struct wire_frame *f);
void link_rotation_on_ack(struct links *L, struct outlink *ol, const struct wire_frame *f);
/* rotation.c: the ZAP handler admitted p presenting box_pk: when that is its
 * adopted next key it is now in force, and our DEALER to it takes it. */
void link_rotation_presented(struct links *L, struct peer *p, const uint8_t box_pk[32]);
/* rotation.c: an opened envelope of type WIRE_TYPE_KEY_ROTATION from a peer
 * behind a relay, taken (0) or refused (an error, *detail its words, static). */
int link_rotation_envelope(struct links *L, const struct envelope_opened *o, const char **detail);
/* rotation.c: `who` signed an envelope or receipt that verified with key_id;
 * a peer behind a relay has its adopted next key put in force by it. */
void link_rotation_signed(struct links *L, const char *who, const uint8_t key_id[8]);
/* rotation.c: envelope_open's key lookup for an envelope sealed to our
 * replaced key (arg: links): pair keys derived with that key. */
const struct envelope_peer *link_previous_lookup(void *arg, const char *sender, const uint8_t key_id[8],
						 uint64_t created_ms, int *err);
/* rotation.c: frees the pair key link_previous_lookup made. */
void link_previous_done(struct links *L);

/* 32 hex digits of an id, in a static buffer (for log lines). */
const char *link_hex_id(const uint8_t id[16]);

/* accepts.c: what we accept from a neighbour, said in our heartbeat
 * replies, and what it said it accepts from us, heard in its replies. */
/* Fills hb's accept list for the neighbour peer_id (nothing for an unknown one). */
void link_accepts_fill(struct links *L, const char *peer_id, struct wire_heartbeat *hb);
/* Records the accept list of a heartbeat reply from p, when it carries one. */
void link_accepts_heard(struct peer *p, const struct wire_heartbeat *hb, uint64_t now);

/* badframe.c: frames that do not decode. */
/* What libzmq may hand us (ZMQ_MAXMSGSIZE): twice max_frame, so that a frame
 * somewhat too long is read and reported instead of cutting the connection. */
size_t link_frame_read_max(size_t max_frame);
/* Counts a frame of len bytes from peer_id that wire_frame_unpack refused
 * with rc, and logs it (rate-limited per peer, with the suppressed count). */
void link_frame_refused(struct links *L, const char *peer_id, int rc, size_t len, size_t max_frame);

#endif
