/*
 * Private to the daemon: this node's role among its agency's nodes
 * (docs/availability.md). The node whose store session holds the agency's
 * advisory lock is active; the others are standby and try again every
 * poll interval. The active node checks its session at the same interval:
 * a node that lost it stops acting at once (the daemon exits, to come back
 * as a standby). Every change is logged: event=role role=... node=...
 * With SQLite the node is active from the start (one node per store).
 */
#ifndef LIMES_DAEMON_ROLE_H
#define LIMES_DAEMON_ROLE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct store;
struct role;

/* Called once when the node becomes active (bind the ROUTER, start the
 * links): 0, or an error (the role is then given up, see role_lost_fn). */
typedef int (*role_active_fn)(void *arg);
/* Called once when the node must stop acting (its session is gone, or
 * becoming active failed); `reason` is borrowed for the call. */
typedef void (*role_lost_fn)(void *arg, const char *reason);

/* A standby until role_start(); store borrowed; node and api copied. Caller
 * owns the result (role_destroy() after the loop closed its timer). */
struct role *role_new(uv_loop_t *loop, struct store *store, const char *node, const char *api,
		      uint64_t poll_ms, role_active_fn on_active, role_lost_fn on_lost, void *arg);
/* Tries once at once (so a lone node is active before the loop runs), then
 * every poll interval. 0, or the error of on_active at this first try. */
int role_start(struct role *role);
bool role_is_active(const struct role *role);
/* This node's name; borrowed from the role. */
const char *role_node(const struct role *role);
/* Stops and closes the timer; accepts NULL. */
void role_stop(struct role *role);
/* Frees the role (after role_stop and the loop's close); accepts NULL. */
void role_destroy(struct role **role);

#endif
