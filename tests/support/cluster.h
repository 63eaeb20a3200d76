/*
 * Several agents wired together for link tests, on top of agentproc (which
 * owns the processes, keys, configs and HTTP): peer sections from a list of
 * links, and the message-level helpers the link tests share. Every process
 * started is stopped by cluster_destroy().
 */
#ifndef LIMES_TEST_CLUSTER_H
#define LIMES_TEST_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "support/agentproc.h"

#define CLUSTER_MAX 4

struct cluster {
	char dir[256];
	size_t n;
	struct agentproc *ap[CLUSTER_MAX];
};

/* A link between two agents of the cluster: who sends what to whom. */
struct cluster_link {
	const char *from, *to;
	const char *send;     /* types `from` may send to `to`, e.g. "alert, pre_arrival" */
	const char *via;      /* NULL for a direct link */
};

/* Makes n agents with ids ids[i] (keys, tokens, ports) in a fresh scratch folder. */
struct cluster *cluster_new(size_t n, const char *const *ids);
/* Writes every agent's config from the links (each agent accepts what the
 * other side sends); `extra` goes into each [link] section. */
void cluster_configure(struct cluster *c, const struct cluster_link *links, size_t n_links, const char *extra);
/* Stops every running agent and removes the scratch folder (kept when
 * LIMES_KEEP_TEST_DIRS is set). */
void cluster_destroy(struct cluster **c);

/* The agent with that id (fails the test if none). Owned by the cluster. */
struct agentproc *cluster_ap(struct cluster *c, const char *id);
/* Starts the agent and waits for /healthz (fails the test otherwise). */
void cluster_start(struct cluster *c, const char *id);
/* SIGTERM and wait; returns the exit status. */
int cluster_stop(struct cluster *c, const char *id);
/* SIGKILL and reap. */
void cluster_kill(struct cluster *c, const char *id);

/* HTTP to an agent's API with its token; the status (0 when unreachable)
 * and, when out is not NULL, the parsed JSON (caller decrefs). */
int cluster_http(struct cluster *c, const char *id, const char *method, const char *path, const char *body,
		 json_t **out);
/* Submits `count` messages of `type` from->to in one POST; fills ids
 * (32 hex + NUL each) and returns the HTTP status. */
int cluster_submit(struct cluster *c, const char *from, const char *to, const char *type, const char *priority,
		   size_t count, char (*ids)[33]);
/* Delivery state of message id for recipient at agent `from` ("" if unknown);
 * *detail (optional) gets that recipient's JSON object. */
void cluster_state(struct cluster *c, const char *from, const char *id, const char *recipient, char *state,
		   size_t len, json_t **detail);
/* Every inbox entry of agent id (all pages), as a new JSON array. */
json_t *cluster_inbox(struct cluster *c, const char *id);
/* Queued count toward a peer from GET /v1/peers, or -1. */
long cluster_queued(struct cluster *c, const char *id, const char *peer);
/* Waits up to ms until GET /v1/peers shows peer's link up. */
bool cluster_wait_up(struct cluster *c, const char *id, const char *peer, int ms);
/* The body of docs/examples/TYPE.json (static storage). */
const char *cluster_example(const char *type);
void cluster_sleep_ms(int ms);

#endif
