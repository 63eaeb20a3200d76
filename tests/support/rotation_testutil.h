/*
 * Helpers of the key rotation integration tests (test_rotation.c, direct
 * neighbours; test_relayed_rotation.c, peers behind a relay): the config
 * edit, the peers' key objects and waits on them, the next key, a stream
 * of messages both ways in a child process, and the checks that none was
 * lost or delivered twice.
 */
#ifndef LIMES_ROTATION_TESTUTIL_H
#define LIMES_ROTATION_TESTUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "support/cluster.h"

/* Adds `line` to agent ap's section of peer `peer` (the config file). */
void rotation_test_peer_option(struct agentproc *ap, const char *peer, const char *line);
/* The "key" object of `peer` in GET /v1/peers at agent id (new reference, or NULL). */
json_t *rotation_test_peer_key(struct cluster *c, const char *id, const char *peer);
/* Waits up to ms for peer's offered key at agent id to be in `state`. */
bool rotation_test_wait_offered(struct cluster *c, const char *id, const char *peer, const char *state, int ms);
/* Waits up to ms for peer's key in force at agent id to be key_id, learnt by rotation. */
bool rotation_test_wait_in_force(struct cluster *c, const char *id, const char *peer, const char *key_id, int ms);
/* `limes keygen --next` for agent ap: the key id of its next key (static storage). */
const char *rotation_test_make_next(struct agentproc *ap);
/* The value of metric line `name` in agent id's /metrics (-1 if absent). */
long rotation_test_metric(struct cluster *c, const char *id, const char *name);
/* Every message of one way delivered once: each id delivered at `from`,
 * `to`'s inbox holds exactly those ids, each with a readable body. */
void rotation_test_check_way(struct cluster *c, const char *from, const char *to, char (*ids)[33], size_t n);

/* A child process posting one alert x->y and one y->x every 50 ms until
 * stopped, writing each accepted id to a pipe. */
struct rotation_stream {
	pid_t pid;
	int ctl, ids;
};
struct rotation_stream rotation_stream_start(struct cluster *c, const char *x, const char *y);
/* Stops it; the ids accepted each way (caller frees both); fails the test
 * if a submission was refused. */
void rotation_stream_stop(struct rotation_stream *s, char (**xy)[33], size_t *n_xy, char (**yx)[33], size_t *n_yx);

#endif
