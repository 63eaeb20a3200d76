/*
 * Private to the API's connection handling (api.c, api_defer.c): the state
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

#include "agent/api_int.h"
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
	struct agent *agent;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;       /* MHD's own timeouts, and "run MHD soon" */
	uv_check_t again;       /* MHD has more to do: run it once more per loop turn */
	uv_idle_t again_spin;   /* ...and keep the poll phase from sleeping meanwhile */
	uv_timer_t wait_timer;  /* earliest long-poll deadline */
	uv_prepare_t flush;     /* group commit of the submissions staged this turn */
	struct request *committing;
	int handles;            /* loop handles not yet closed */
	bool stopped;
	uint8_t token_digest[SECRET_DIGEST_LEN];
	struct request *waiters;
	struct api_status_count counts[API_STATUS_SLOTS];
};

/* Runs MHD from the loop soon (never from inside MHD_run). */
void api_run_mhd_soon(struct api *api);

/* api_defer.c: the group commit of staged submissions... */
void api_flush_commit(struct api *api);
void api_on_flush(uv_prepare_t *p);
void api_committing_unlink(struct request *req);
/* ...and long-polls suspended until messages arrive or their wait ends. */
void api_waiter_unlink(struct request *req);
void api_arm_wait_timer(struct api *api);
void api_wake(struct request *req);

#endif
