/*
 * ZeroMQ sockets on the libuv loop. ZMQ_FD is edge-triggered: a uv_poll_t
 * watches it, and after every send or receive ZMQ_EVENTS must be read again
 * because libzmq may have consumed the edge. A uv_check runs after each loop
 * iteration and drains any socket whose ZMQ_EVENTS says input is waiting; a
 * uv_idle keeps the loop from sleeping while a drain was cut short by its
 * per-turn budget. Only this glue and the link module include zmq.h.
 */
#ifndef LIMES_ZSOCK_H
#define LIMES_ZSOCK_H

#include <stdbool.h>
#include <uv.h>

struct zsock;
struct zloop;

/* Called with input waiting; returns true when it stopped on its budget
 * with more input left. */
typedef bool (*zsock_drain_fn)(struct zsock *zs, void *arg);

/* Creates the per-loop glue (check + idle handles). Caller owns it. */
struct zloop *zloop_new(uv_loop_t *loop);
/* Closes the handles; free with zloop_destroy after uv_run returned. */
void zloop_close(struct zloop *zl);
/* Frees the glue; accepts NULL and nulls *zl. */
void zloop_destroy(struct zloop **zl);

/* Watches a ZeroMQ socket (borrowed; the caller closes it after
 * zsock_close). Caller owns the result. */
struct zsock *zsock_watch(struct zloop *zl, void *socket, zsock_drain_fn drain, void *arg);
/* Stops watching and closes the poll handle; the zsock frees itself in the
 * close callback. Accepts NULL. */
void zsock_close(struct zsock *zs);
/* The ZeroMQ socket behind zs. */
void *zsock_socket(const struct zsock *zs);
/* Tells the glue to look at the socket again at the end of this turn
 * (after a send that may have consumed the edge). */
void zsock_poke(struct zsock *zs);

#endif
