/*
 * Test clusters of real `limes agent` processes on loopback: keys, configs,
 * tokens in a scratch folder; start, SIGTERM, SIGKILL; HTTP to their APIs
 * with libcurl. Every process started is stopped by cluster_destroy().
 */
#ifndef LIMES_TEST_CLUSTER_H
#define LIMES_TEST_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CLUSTER_MAX 4

struct cluster_agent {
	char id[64];
	char dir[512];
	char config[600];
	char line[160];       /* public identity line */
	char token[80];
	int link_port, api_port;
	pid_t pid;            /* 0 when not running */
	int starts;
};

struct cluster {
	char dir[256];
	size_t n;
	struct cluster_agent a[CLUSTER_MAX];
};

/* A link between two agents of the cluster: who sends what to whom. */
struct cluster_link {
	const char *from, *to;
	const char *send;     /* types from may send to `to`, e.g. "alert, pre_arrival" */
	const char *via;      /* NULL for a direct link */
};

/* Makes n agents with ids ids[i] and keys in a fresh scratch folder; no config yet. */
struct cluster *cluster_new(size_t n, const char *const *ids);
/* Writes every agent's config from the links; `extra` is appended to each
 * config's [link] section (e.g. "window = 64\n"). Each agent accepts what
 * the other side sends. */
void cluster_configure(struct cluster *c, const struct cluster_link *links, size_t n_links, const char *extra);
/* Stops every running agent (SIGKILL) and removes the scratch folder. */
void cluster_destroy(struct cluster **c);

struct cluster_agent *cluster_agent(struct cluster *c, const char *id);
/* Starts the agent and waits until /healthz answers 200 (fails the test otherwise). */
void cluster_start(struct cluster *c, const char *id);
/* Starts the agent without waiting; returns its pid. */
pid_t cluster_spawn(struct cluster *c, const char *id);
/* SIGTERM and wait; returns the exit status. */
int cluster_stop(struct cluster *c, const char *id);
/* SIGKILL and reap. */
void cluster_kill(struct cluster *c, const char *id);

/* HTTP to an agent's API with its token; returns the status (0 when the
 * agent cannot be reached) and, when out is not NULL, the parsed JSON. */
int cluster_http(struct cluster *c, const char *id, const char *method, const char *path, const char *body,
		 json_t **out);
/* Submits `count` messages of `type` from->to in one POST; fills ids
 * (32 hex + NUL each) and returns the HTTP status. */
int cluster_submit(struct cluster *c, const char *from, const char *to, const char *type, const char *priority,
		   size_t count, char (*ids)[33]);
/* Delivery state of message id for recipient at agent `from` ("" if unknown). */
void cluster_state(struct cluster *c, const char *from, const char *id, const char *recipient, char *state,
		   size_t len, json_t **detail);
/* Every inbox entry of agent id (all pages): returns the array (caller decrefs). */
json_t *cluster_inbox(struct cluster *c, const char *id);
/* Queued count toward a peer from GET /v1/peers, or -1. */
long cluster_queued(struct cluster *c, const char *id, const char *peer);
/* Waits up to ms until GET /v1/peers shows peer's link up. */
bool cluster_wait_up(struct cluster *c, const char *id, const char *peer, int ms);
/* A body of the type, read from docs/examples (a static string). */
const char *cluster_example(const char *type);
/* Milliseconds of sleep. */
void cluster_sleep_ms(int ms);

#endif
