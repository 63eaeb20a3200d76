/*
 * The running agent: one libuv loop that owns the config, the identity, the
 * store, the local API and the peer links. Everything here runs on the loop
 * thread; there are no locks. This header is shared by the daemon's modules
 * (api, link, submit, metrics); nothing outside agent/ includes it.
 */
#ifndef LIMES_AGENT_H
#define LIMES_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent/config.h"
#include "agent/store.h"

struct api;
struct links;
struct envelope_peer;
struct identity;

enum link_state { LINK_DOWN = 0, LINK_CONNECTING = 1, LINK_UP = 2 };

/* Runtime state of one configured peer (direct or relayed). */
struct peer {
	const struct config_peer *conf;     /* borrowed from agent->cfg */
	struct envelope_peer *crypto;       /* pair key for sealing to / verifying it */
	enum link_state state;
	uint64_t last_heard_ms;             /* wall clock of last frame from it, 0 never */
	uint64_t up_since_ms;
	double rtt_ms;                      /* smoothed, from heartbeats; <0 unknown */
	double clock_offset_ms;             /* its clock minus ours, from heartbeats */
	bool has_rtt;
	/* counters since start */
	uint64_t sent, delivered, rejected_by_peer, received, refused, duplicates, expired;
	uint64_t resent;
	/* outbox figures toward this next hop, cached when counting is slow */
	uint64_t stats_queued, stats_oldest_ms, stats_at_ms, stats_cost_ms;
	bool stats_valid;
};

/* Counters of refusals by reason, for metrics and logs. */
struct agent_counters {
	uint64_t api_requests, api_refused, api_accepted_messages;
	uint64_t envelopes_refused[32];     /* indexed by RejectReason */
	uint64_t receipts_bad;
	uint64_t frames_garbage;
	uint64_t relayed;
	uint64_t commits, commit_failures;
};

struct agent {
	uv_loop_t loop;
	struct config *cfg;
	struct identity *me;
	struct store *store;
	struct api *api;
	struct links *links;
	struct peer *peers;                 /* one per cfg->peers[i], same order */
	size_t n_peers;
	struct agent_counters counters;
	uint64_t next_seq;                  /* envelope sequence numbers */
	uint64_t started_ms;

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t housekeeping;
	bool stopping;
	bool loop_ready;
	int lock_fd;                        /* flock on DATA/agent.lock */
};

/* Wall clock, unix milliseconds. */
uint64_t agent_now_ms(void);

/* Builds an agent from a config file: loads and checks the config, the
 * identity, the store, the API and the links; nothing runs yet. On failure
 * returns NULL with the reason in err. Caller owns the result. */
struct agent *agent_new(const char *config_file, char *err, size_t err_len);
/* Runs the loop until SIGTERM/SIGINT or agent_stop(); returns 0 or an error. */
int agent_run(struct agent *agent);
/* Asks the loop to stop: closes watchers; agent_run() returns afterwards. */
void agent_stop(struct agent *agent);
/* Frees everything; accepts NULL and sets *agent to NULL. */
void agent_destroy(struct agent **agent);

/* Queued count and oldest unacknowledged creation time toward peer p (a
 * direct peer). Counting scans the queue, so when it takes long (a big
 * backlog) the figure is reused for up to 50 times what it cost. */
int agent_outbox_stats(struct agent *agent, struct peer *p, uint64_t *queued, uint64_t *oldest_ms);

/* The runtime peer with that id, or NULL. Borrowed. */
struct peer *agent_peer(struct agent *agent, const char *id);

/* --- submission (agent/submit.c) --- */

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
};

struct submit_result {
	uint8_t id[STORE_ID_LEN];
	bool existing;             /* idempotency key seen before: nothing new queued */
};

/* Why a submission was refused: HTTP status, stable code and the field. */
struct submit_error {
	int status;
	char code[32];
	char field[128];
	char message[256];
};

/* Checks policy for every request, seals one envelope per recipient and
 * stages them all, with nothing committed. The caller commits (store_commit, possibly together
 * with other staged work: group commit), may acknowledge only after that
 * returned 0, and then calls agent_outbox_committed(). On error nothing of
 * this call remains staged. */
int agent_submit_stage(struct agent *agent, const char *client, const struct submit_request *reqs, size_t n,
		       struct submit_result *results, struct submit_error *err);
/* Outbox rows were committed: wakes the links so they send now. */
void agent_outbox_committed(struct agent *agent);

/* Re-queues an expired or rejected message to one recipient (or all when
 * recipient is NULL) with a fresh envelope and expiry; same message id. */
int agent_requeue(struct agent *agent, const uint8_t id[STORE_ID_LEN], const char *recipient,
		  uint64_t ttl_ms, struct submit_error *err);

/* Called after messages were committed to the inbox: wakes long-polls. */
void agent_inbox_changed(struct agent *agent);
/* Called after outbox rows were committed for that next hop: wakes its link. */
void agent_outbox_changed(struct agent *agent, const char *next_hop);

#endif
