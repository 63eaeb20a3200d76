/*
 * What the API does about this node's role (docs/availability.md): on a
 * standby, /healthz answers 503 role=standby (so a load balancer sends the
 * national system to the active node) and every request but health,
 * metrics, peers and the console page answers 503 naming the active node.
 * The role itself belongs to the daemon, read through deps->role.
 */
#include <stdio.h>

#include "api_int.h"
#include "store/store.h"

bool api_role_get(const struct api_deps *deps, struct api_role *out)
{
	out->standby = false;
	out->node = "";
	out->backend = store_backend_name(deps->store);
	if (!deps->role)
		return false;
	deps->role(deps->role_arg, out);
	return true;
}

/* The active node as recorded in the store, for a standby's answers. */
static void active_node(const struct api_deps *deps, char *node, size_t node_len, char *api,
			size_t api_len)
{
	if (store_ha_active_node(deps->store, node, node_len, api, api_len) < 0) {
		snprintf(node, node_len, "unknown");
		api[0] = '\0';
	}
}

bool api_routes_standby(const struct api_deps *deps, struct api_reply *r)
{
	struct api_role role;
	char node[STORE_AGENCY_MAX + 1], api[128];

	if (!api_role_get(deps, &role) || !role.standby)
		return false;
	active_node(deps, node, sizeof(node), api, sizeof(api));
	snprintf(r->code, sizeof(r->code), "standby");
	api_json_reply(r, 503,
		       json_pack("{s:{s:s, s:s, s:s, s:s, s:s}}", "error", "code", "standby", "field", "",
				 "message", "this node is standby: send to the active node", "active_node",
				 node, "active_api", api));
	return true;
}

bool api_routes_healthz_standby(const struct api_deps *deps, struct api_reply *r)
{
	struct api_role role;
	char node[STORE_AGENCY_MAX + 1], api[128];

	if (!api_role_get(deps, &role) || !role.standby)
		return false;
	active_node(deps, node, sizeof(node), api, sizeof(api));
	snprintf(r->code, sizeof(r->code), "standby");
	api_json_reply(r, 503,
		       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", "unavailable", "reason",
				 "standby", "role", "standby", "node", role.node, "active_node", node,
				 "active_api", api));
	return true;
}
