/*
 * Peer links over ZeroMQ with CURVE: one ROUTER bound for neighbours, one
 * DEALER connected per direct peer, the ZAP handler that admits only
 * configured keys, and the sending, receiving, receipt and heartbeat logic.
 * Only this module and its socket glue include zmq.h.
 *
 * The links never commit: every write goes through commit_stage() and is
 * made durable by the turn's group commit; the daemon registers
 * links_on_commit() as a commit listener, and only then do the receipts
 * that depend on those writes leave.
 */
#ifndef LIMES_LINK_H
#define LIMES_LINK_H

#include <stddef.h>
#include <uv.h>

struct peers;
struct store;
struct commit;
struct identity;
struct links;
struct link_stats;

/* What the links run on; every pointer is borrowed and must outlive the links. */
struct link_deps {
	uv_loop_t *loop;
	struct peers *peers;        /* the peer table: config, keys, link state, counters */
	struct store *store;
	struct commit *commit;      /* stage every write through commit_stage(); never store_begin/commit */
	const struct identity *me;
	struct rotation *rotation;  /* key rotation (core/rotation.c); NULL: none */
	struct submit *submit;      /* re-queues what a restored neighbour asks for (core/resend.c); NULL: none */
	/*
	 * -1 off; else the delivery trace (`limes agent --trace-fd N`, read by
	 * limes-bench): one line per verified receipt entry recorded against
	 * one of our deliveries (a repeated receipt gives another line), written
	 * from the loop as it is verified:
	 *
	 *   <message id, 32 lowercase hex digits> SP <CLOCK_MONOTONIC in ns, decimal> SP <state> LF
	 *
	 * state is "delivered" or "rejected" (store_delivery_state_name()). The
	 * time has microsecond resolution (clock_mono_us() * 1000). The links
	 * write to the descriptor and never close it; when a write fails (the
	 * reader went away) they stop tracing.
	 */
	int trace_fd;
};

/* Starts the ZAP handler, binds the ROUTER, connects a DEALER per direct
 * peer, all on deps->loop (deps copied, its pointers borrowed). NULL with
 * the reason in err on failure; the caller owns the result. */
struct links *links_new(const struct link_deps *deps, char *err, size_t err_len);
/* Closes sockets (linger set) and loop handles; accepts NULL. Flush the
 * commit first so that receipts waiting on it still leave. */
void links_stop(struct links *links);
/* Frees after the loop closed the handles and terminates the ZeroMQ
 * context; accepts NULL and nulls *links. */
void links_destroy(struct links **links);
/* After peers_reload(): drops and adds DEALERs so there is one per direct
 * peer of peers_config() with its current endpoint and key (the ZAP handler
 * reads admitted keys from the peer table itself). Logs each link it could
 * not set up and keeps going (a failed one is retried by the tick); returns
 * 0 or the first such error. */
int links_reload(struct links *links);
/* Commit listener (a commit_done_fn; arg is the struct links): on rc 0 sends
 * the receipts that waited on the commit and, when deliveries became due
 * (COMMIT_OUTBOX), fills the links; on rc < 0 withholds those receipts
 * (peers will resend). */
void links_on_commit(void *links, int rc, unsigned changes);
/* After a promotion of our key (a rotation_rekey_fn; arg is the struct
 * links): the ROUTER listens with the new key (every connection to it is
 * dropped and comes back) and every DEALER connects again with it. */
void links_rekey(void *links);
struct config;
struct identity;
struct wire_kept_checkpoint;
/* Asks the direct neighbour peer_id of cfg, on a connection of its own with
 * our key `me` (borrowed), for the newest audit checkpoints of ours it keeps
 * countersigned (ask.c); blocks up to timeout_ms (a one-shot tool, never
 * on the agent's loop). fn gets each one (lent for the call), *kept_total how
 * many it keeps in all. 0; LIMES_E_AGAIN when it did not answer in time,
 * LIMES_E_UNKNOWN_PEER, or another LIMES_E_*; `why` then says what failed,
 * naming the peer and its endpoint. */
int link_ask_kept(const struct config *cfg, const struct identity *me, const char *peer_id, int timeout_ms,
		  int (*fn)(void *arg, const struct wire_kept_checkpoint *cp), void *arg, uint64_t *kept_total,
		  char *why, size_t why_len);
/* Writes the audit entries the links hold back (refusals counted beyond
 * each peer's allowance): call before the last commit of a stop. */
void links_flush_audit(struct links *links);
/* Agent-wide link figures (struct link_stats in core/core.h); borrowed,
 * valid as long as the links. */
const struct link_stats *links_stats(const struct links *links);

#endif
