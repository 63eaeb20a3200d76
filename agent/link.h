/*
 * Peer links over ZeroMQ with CURVE: one ROUTER bound for neighbours, one
 * DEALER connected per direct peer, the ZAP handler that admits only
 * configured keys, and the sending, receiving, receipt and heartbeat logic.
 * Only this module and its socket glue include zmq.h.
 */
#ifndef LIMES_LINK_H
#define LIMES_LINK_H

#include <stddef.h>

struct agent;
struct peer;
struct links;

/* Starts the ZAP handler, binds the ROUTER, connects a DEALER per direct
 * peer, all on the agent's loop. NULL with the reason in err on failure. */
struct links *links_new(struct agent *agent, char *err, size_t err_len);
/* Closes sockets (linger set) and loop handles; accepts NULL. */
void links_stop(struct links *links);
/* Frees after the handles closed, terminates the ZeroMQ context; accepts NULL. */
void links_destroy(struct links **links);
/* The agent's peers changed (SIGHUP): reconcile sockets and admitted keys.
 * old/n_old are the previous runtime peers (NULL,0 to re-sync to current). */
int links_reload(struct links *links, const struct peer *old, size_t n_old);
/* Outbox rows were committed for next_hop: try to send now. */
void links_kick(struct links *links, const char *next_hop);

#endif
