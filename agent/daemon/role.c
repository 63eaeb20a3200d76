/*
 * This node's role (see role.h): the poll timer that takes the agency's
 * advisory lock when it is free and checks, once active, that the session
 * still holds it. Owns the role state and its log lines.
 */
#include "role.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "proto/err.h"
#include "store/store.h"

struct role {
	uv_timer_t timer;
	bool timer_on;
	struct store *store;                /* borrowed */
	char node[STORE_AGENCY_MAX + 1];
	char api[128];
	uint64_t poll_ms;
	bool active, lost;
	role_active_fn on_active;
	role_lost_fn on_lost;
	void *arg;
};

struct role *role_new(uv_loop_t *loop, struct store *store, const char *node, const char *api,
		      uint64_t poll_ms, role_active_fn on_active, role_lost_fn on_lost, void *arg)
{
	struct role *role = calloc(1, sizeof(*role));

	if (!role)
		return NULL;
	role->store = store;
	snprintf(role->node, sizeof(role->node), "%s", node);
	snprintf(role->api, sizeof(role->api), "%s", api);
	role->poll_ms = poll_ms ? poll_ms : 500;
	role->on_active = on_active;
	role->on_lost = on_lost;
	role->arg = arg;
	if (uv_timer_init(loop, &role->timer) < 0) {
		free(role);
		return NULL;
	}
	role->timer.data = role;
	role->timer_on = true;
	return role;
}

/* Stops acting, once: the daemon stops the agent. */
static void lose(struct role *role, const char *reason)
{
	if (role->lost)
		return;
	role->lost = true;
	log_error("event=role role=stopped node=%s was=%s reason=\"%s\"", role->node,
		  role->active ? "active" : "standby", reason);
	role->active = false;
	uv_timer_stop(&role->timer);
	role->on_lost(role->arg, reason);
}

/* One poll: 0 when nothing went wrong (whatever the role), else an error. */
static int poll_once(struct role *role)
{
	int rc;

	if (role->lost)
		return 0;
	if (role->active) {
		rc = store_ping(role->store);
		if (rc < 0)
			lose(role, store_health_reason(role->store)[0] ? store_health_reason(role->store)
								      : limes_strerror(rc));
		return rc;
	}
	rc = store_ha_try_active(role->store, role->node, role->api);
	if (rc < 0) {
		lose(role, store_health_reason(role->store)[0] ? store_health_reason(role->store)
							      : limes_strerror(rc));
		return rc;
	}
	if (rc == 0)
		return 0;
	role->active = true;
	log_info("event=role role=active node=%s api=%s backend=%s", role->node, role->api,
		 store_backend_name(role->store));
	rc = role->on_active(role->arg);
	if (rc < 0) {
		lose(role, limes_strerror(rc));
		return rc;
	}
	return 0;
}

static void on_timer(uv_timer_t *t)
{
	(void)poll_once(t->data); /* failures were logged and handed to on_lost */
}

int role_start(struct role *role)
{
	char node[STORE_AGENCY_MAX + 1], api[128];
	int rc = poll_once(role);

	if (rc < 0)
		return rc;
	if (!role->active) {
		if (store_ha_active_node(role->store, node, sizeof(node), api, sizeof(api)) < 0)
			snprintf(node, sizeof(node), "unknown");
		log_info("event=role role=standby node=%s active_node=%s poll_ms=%llu", role->node, node,
			 (unsigned long long)role->poll_ms);
	}
	return uv_timer_start(&role->timer, on_timer, role->poll_ms, role->poll_ms) < 0 ? LIMES_E_IO : 0;
}

bool role_is_active(const struct role *role)
{
	return role && role->active;
}

const char *role_node(const struct role *role)
{
	return role ? role->node : "";
}

void role_stop(struct role *role)
{
	if (!role || !role->timer_on)
		return;
	role->timer_on = false;
	uv_timer_stop(&role->timer);
	uv_close((uv_handle_t *)&role->timer, NULL);
}

void role_destroy(struct role **prole)
{
	if (!prole || !*prole)
		return;
	free(*prole);
	*prole = NULL;
}
