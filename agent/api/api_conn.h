/*
 * Private to the API's connection handling (api.c, defer.c): the state
 * of one HTTP request and of the API itself. Includes microhttpd.h, so only
 * the API's files include this header.
 */
#ifndef LIMES_API_CONN_H
#define LIMES_API_CONN_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api_int.h"
#include "base/ratelimit.h"
#include "crypto/secret.h"
#define CLIENT_NAME_MAX 64

/* The connection budget (guard.c; docs/security.md, "descriptor budget"). */
#define API_CONNECTION_LIMIT 256 /* libmicrohttpd's limit: descriptors the API may hold */
#define API_HIGH_WATER 224       /* past this, a new connection evicts the oldest idle one */
#define API_PER_IP_MAX 128       /* past this from one address, the same within that address */
#define API_IDLE_S 10            /* idle between requests, or before the first */
#define API_BODY_S 30            /* headers and body of one request, from the end of the last */
#define API_ANSWER_S 120         /* an answer not read by then: the client is gone or hostile */

enum request_state { REQ_NEW, REQ_BODY, REQ_PARSING, REQ_WAITING, REQ_COMMITTING, REQ_READY, REQ_DONE };

/* A submission body at least this long is parsed on a worker (parsework.c). */
#define API_PARSE_OFFLOAD_BYTES 16384
/* A body announced this much over max_body or less is read and discarded
 * before its 413: a server that answers early and closes with the body
 * still arriving resets the connection, and the client, still sending,
 * may lose the answer with it. A larger one is refused from its header. */
#define API_DRAIN_OVER_BYTES (16u << 20)

/* One HTTP request, from its headers to its completion. */
struct request {
	struct api *api;
	struct MHD_Connection *conn;
	enum request_state state;
	char *body;
	size_t len, cap;
	size_t expected;                       /* Content-Length when given (capped at max_body) */
	bool too_big;
	char addr[INET6_ADDRSTRLEN + 8];
	char client[CLIENT_NAME_MAX + 1];
	struct api_inbox_params inbox;
	uint64_t deadline_ms;
	struct request *wait_prev, *wait_next; /* in api->waiters while suspended */
	bool suspended;
	struct api_reply pending;              /* the answer waiting for the group commit */
	struct request *commit_next;           /* in api->committing while REQ_COMMITTING */
	struct api_track *track;               /* its connection's entry in the guard, or NULL */
	struct api_parse_job *job;             /* while REQ_PARSING: its body on a worker */
	struct request *parse_next;            /* in api->parsing while REQ_PARSING */
};

/* One HTTP connection, from accept to close (guard.c). */
struct api_track {
	struct api_track *prev, *next; /* api->guard list, oldest first */
	int fd;
	uint64_t since_us;   /* monotonic: accepted, or the end of its last request */
	struct request *req; /* the request in progress, NULL between requests */
	bool shut;           /* shut down by the guard, closing */
	char ip[INET6_ADDRSTRLEN];
};

struct api_guard {
	struct api_track *head, *tail;
	unsigned tracked;    /* in the list */
	unsigned live;       /* tracked and not being shut down */
	uint64_t evicted;    /* connections the guard ended */
	struct ratelimit log_limit;
};

struct api {
	struct api_deps deps;   /* borrowed pieces of the agent (copied from api_new) */
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;       /* MHD's own timeouts, and "run MHD soon" */
	uv_check_t again;       /* MHD has more to do: run it once more per loop turn */
	uv_idle_t again_spin;   /* ...and keep the poll phase from sleeping meanwhile */
	uv_timer_t wait_timer;  /* earliest long-poll deadline */
	struct request *committing; /* suspended until the turn's commit ends */
	struct request *parsing;    /* suspended while a worker parses their bodies */
	int handles;            /* loop handles not yet closed */
	bool stopped;
	bool orphaned;          /* api_destroy ran before the handles closed: the last close frees */
	struct api_token *tokens;  /* clients.c: one digest per configured client */
	size_t n_tokens;
	const struct config *tokens_cfg; /* the config they were read from */
	struct request *waiters;
	struct api_counters counters;
	struct api_guard guard;
	uv_timer_t guard_timer; /* sweeps the guard once a second */
	unsigned conns_at_last_run;
	struct ratelimit mhd_log_limit; /* libmicrohttpd's own warnings (accept failures spin) */
};

/* guard.c: libmicrohttpd's connection notification (MHD_OPTION_NOTIFY_CONNECTION). */
void api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);
/* A request's headers arrived: ties it to its connection's entry. */
void api_guard_request_begins(struct request *req);
/* A request ended: its connection is idle again from now. */
void api_guard_request_ends(struct request *req);
/* Ends connections past their deadlines (idle, slow upload, unread answer). */
void api_guard_sweep(struct api *api);

/* Runs MHD from the loop soon (never from inside MHD_run). */
void api_run_mhd_soon(struct api *api);

/* defer.c: requests whose writes are staged wait for the turn's commit,
 * which api_on_commit reports... */
/* Suspends req (its answer in req->pending) until the commit ends. */
void api_defer_commit_wait(struct request *req);
/* Commits now (commit_flush: the API is stopping, no later turn will) and
 * answers the waiting requests; 0 or the commit's error. */
int api_defer_flush(struct api *api);
/* Like api_defer_flush for a request that was not suspended: turns r into
 * the 503 when the commit failed. 0 or the commit's error. */
int api_defer_commit_now(struct api *api, struct api_reply *r);
/* Puts a request that is suspended already on the commit list. */
void api_defer_commit_join(struct request *req);
/* Takes req off the commit list (its client went away; its writes stay staged). */
void api_defer_committing_unlink(struct request *req);

/* ...and long-polls wait until messages arrive or their wait ends. */
/* Suspends req until the inbox changes or req->deadline_ms. */
void api_defer_wait(struct request *req);
/* Takes req off the long-poll list; no-op when it is not on it. */
void api_defer_waiter_unlink(struct request *req);
/* Arms the timer for the earliest long-poll deadline. */
void api_defer_arm_wait_timer(struct api *api);
/* Resumes a waiting long-poll so it answers with what there is. */
void api_defer_wake(struct request *req);

/* parsework.c: a large POST /v1/messages body (API_PARSE_OFFLOAD_BYTES)
 * goes to a worker to be parsed, req suspended meanwhile (REQ_PARSING);
 * false when it stays on the loop (small, stopping, or out of memory). */
bool api_parsework_start(struct request *req);
/* The request ended while its body was on a worker: the job forgets it. */
void api_parsework_detach(struct request *req);
/* The API stops: every request still parsing is answered 503 (nothing of
 * it was staged) and resumed, so that libmicrohttpd stops with none suspended. */
void api_parsework_stop(struct api *api);

/* clients.c: reads every client's token of cfg and keeps their digests
 * (replacing the old ones only on success); err says why it failed. */
int api_clients_load(struct api *api, const struct config *cfg, char *err, size_t err_len);
/* clients.c: the client whose token `bearer` is, or NULL; borrowed until
 * the next reload. */
const char *api_clients_match(struct api *api, const char *bearer);
/* audit.c: GET /v1/audit (the caller checked the admin right). */
void api_audit_route(const struct api_deps *deps, struct MHD_Connection *conn, struct api_reply *r);
/* clients.c: wipes and frees the digests. */
void api_clients_wipe(struct api *api);

#endif
