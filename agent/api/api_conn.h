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
#include "crypto/secret.h"
#define CLIENT_NAME_MAX 64

enum request_state { REQ_NEW, REQ_BODY, REQ_WAITING, REQ_COMMITTING, REQ_READY, REQ_DONE };

/* One HTTP request, from its headers to its completion. */
struct request {
	struct api *api;
	struct MHD_Connection *conn;
	enum request_state state;
	char *body;
	size_t len, cap;
	bool too_big;
	char addr[INET6_ADDRSTRLEN + 8];
	char client[CLIENT_NAME_MAX + 1];
	struct api_inbox_params inbox;
	uint64_t deadline_ms;
	struct request *wait_prev, *wait_next; /* in api->waiters while suspended */
	bool suspended;
	struct api_reply pending;              /* the answer waiting for the group commit */
	struct request *commit_next;           /* in api->committing while REQ_COMMITTING */
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
	int handles;            /* loop handles not yet closed */
	bool stopped;
	bool orphaned;          /* api_destroy ran before the handles closed: the last close frees */
	struct api_token *tokens;  /* clients.c: one digest per configured client */
	size_t n_tokens;
	const struct config *tokens_cfg; /* the config they were read from */
	struct request *waiters;
	struct api_counters counters;
};

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
