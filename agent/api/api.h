/*
 * The local HTTP/JSON API (libmicrohttpd), driven from the agent's libuv
 * loop: MHD's epoll descriptor sits on a uv_poll_t and its timeout on a
 * uv_timer_t, so no second thread ever touches agent state. Only this module
 * includes microhttpd.h. It reaches the rest of the agent only through the
 * core pieces handed over in struct api_deps, and hears the group commit
 * through api_on_commit(), which the daemon registers with commit_listen().
 */
#ifndef LIMES_API_H
#define LIMES_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct peers;
struct store;
struct commit;
struct submit;
struct api;
struct config;
struct link_stats;
struct identity;
struct history;

/* This node's role among its agency's nodes (docs/availability.md), as the
 * daemon sees it; strings borrowed until the next call. */
struct api_role {
	bool standby;               /* false: active (a single node is always active) */
	const char *node;           /* this node's name */
	const char *backend;        /* "sqlite" or "postgres" */
};

/* What the API uses, all borrowed for its whole life (until api_destroy). */
struct api_deps {
	uv_loop_t *loop;
	struct peers *peers;        /* config (peers_config()), peer table, link state, counters */
	struct store *store;
	struct commit *commit;      /* group commit: the API never calls store_begin/store_commit */
	struct submit *submit;      /* submission and requeue */
	const struct link_stats *(*link_stats)(void *arg); /* link figures for /metrics; may be NULL */
	void *link_stats_arg;
	uint64_t started_ms;        /* for limes_uptime_seconds */
	const struct identity *me;  /* ours, to open inbox bodies for GET /v1/inbox; required */
	const struct history *history; /* per-peer samples for GET /v1/stats/history; may be NULL (404) */
	/* the node's role; NULL: always active. A standby answers /healthz
	 * 503 role=standby, serves /metrics, /v1/peers and the console page, and
	 * answers everything else 503 naming the active node. */
	void (*role)(void *arg, struct api_role *out);
	void *role_arg;
	struct rotation *rotation;  /* key rotation (accept-key, promote, peers' keys); may be NULL */
};

/* Reads the token, binds the config's [api] listen and joins deps->loop;
 * deps is copied, what it points to stays borrowed. NULL with the reason in
 * err on failure. Caller owns the result. */
struct api *api_new(const struct api_deps *deps, char *err, size_t err_len);
/* Commits and answers staged submissions (commit_flush), answers waiting
 * long-polls, stops accepting and closes the loop handles; accepts NULL.
 * Call it while deps->commit still exists. */
void api_stop(struct api *api);
/* SIGHUP: reads the token file of cfg (the config just swapped in) and
 * takes it from now on (the old one stops working); on failure the old
 * token stays and err says why. 0 or a negative LIMES_E_*. */
int api_reload_token(struct api *api, const struct config *cfg, char *err, size_t err_len);
/* Frees the API (stopping it first if need be), once the loop has closed its
 * handles: at once when it has, else from the last close callback. Accepts
 * NULL and nulls *api. No commit may be flushed after this (its listener
 * would hear it). */
void api_destroy(struct api **api);
/* Commit listener (a commit_done_fn; arg is the struct api): answers the
 * submissions and re-queues waiting on the commit (202 when rc is 0, 503
 * otherwise) and, when COMMIT_INBOX is in changes, the waiting long-polls. */
void api_on_commit(void *api, int rc, unsigned changes);

#endif
