/*
 * The API clients' rights: the one place that says whether a named client
 * may submit a type to a peer or read a type. The API authenticates the
 * token and names the client; these checks decide, and a refusal names the
 * right that is missing.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core_int.h"
#include "proto/err.h"
#include "proto/schema.h"

const struct config_client *client_find(const struct config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_clients; i++)
		if (strcmp(cfg->clients[i].name, name) == 0)
			return &cfg->clients[i];
	return NULL;
}

const struct config_client *client_rights(const struct config *cfg, const char *name)
{
	const struct config_client *c = client_find(cfg, name);

	/* the API lets a name that is not a configured client through only
	 * with the simple setup's token (Limes-Client names the system) */
	return c ? c : client_find(cfg, CONFIG_DEFAULT_CLIENT);
}

bool client_may_read(const struct config_client *c, int type)
{
	return c && type > 0 && type < 32 && (c->read_mask & CONFIG_TYPE_BIT(type));
}

static bool may_send_to(const struct config_client *c, const char *peer)
{
	if (c->to_any)
		return true;
	for (size_t i = 0; i < c->n_to; i++)
		if (strcmp(c->to[i], peer) == 0)
			return true;
	return false;
}

/* "alert, pre_arrival" for a mask, "*" for all, "nothing" for none. */
static void types_text(uint32_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (mask == CONFIG_TYPES_ALL) {
		snprintf(buf, len, "*");
		return;
	}
	for (int t = 1; t < 32; t++) {
		const char *name = (mask & CONFIG_TYPE_BIT(t)) ? schema_type_name(t) : NULL;
		if (!name)
			continue;
		int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", name);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "nothing");
}

void client_rights_text(const struct config_client *c, char *buf, size_t len)
{
	char submit[256], read[256], to[512];
	size_t off = 0;

	types_text(c->submit_mask, submit, sizeof(submit));
	types_text(c->read_mask, read, sizeof(read));
	to[0] = '\0';
	if (c->to_any)
		snprintf(to, sizeof(to), "*");
	for (size_t i = 0; !c->to_any && i < c->n_to; i++) {
		int n = snprintf(to + off, sizeof(to) - off, "%s%s", off ? ", " : "", c->to[i]);
		if (n < 0 || (size_t)n >= sizeof(to) - off)
			break;
		off += (size_t)n;
	}
	snprintf(buf, len, "submit = %s; to = %s; read = %s; admin = %s", submit, to[0] ? to : "nobody", read,
		 c->admin ? "yes" : "no");
}

const char *client_read_text(const struct config_client *c, char *buf, size_t len)
{
	types_text(c ? c->read_mask : 0, buf, len);
	return buf;
}

int client_may_submit(const struct config *cfg, const char *client, const struct submit_request *r,
		      size_t index, size_t n, struct core_error *err)
{
	const struct config_client *c = client_rights(cfg, client);
	char field[64], list[256];

	/* no client table (unit tests building a config by hand): the caller
	 * authenticated nobody, so nothing is limited beyond peer policy */
	if (!cfg || cfg->n_clients == 0)
		return 0;
	if (!c)
		return core_set_error(err, LIMES_E_FORBIDDEN, "", "'%s' is not a configured client", client);
	if (!(c->submit_mask & CONFIG_TYPE_BIT(r->type))) {
		types_text(c->submit_mask, list, sizeof(list));
		if (n > 1)
			snprintf(field, sizeof(field), "[%zu].type", index);
		else
			snprintf(field, sizeof(field), "type");
		return core_set_error(err, LIMES_E_FORBIDDEN, field, "client '%s' may not submit '%s' (submit = %s)",
				      c->name, schema_type_name(r->type) ? schema_type_name(r->type) : "?", list);
	}
	for (size_t k = 0; k < r->n_to; k++)
		if (!may_send_to(c, r->to[k])) {
			size_t off = 0;
			list[0] = '\0';
			for (size_t i = 0; i < c->n_to; i++) {
				int w = snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "", c->to[i]);
				if (w < 0 || (size_t)w >= sizeof(list) - off)
					break;
				off += (size_t)w;
			}
			if (n > 1)
				snprintf(field, sizeof(field), "[%zu].to[%zu]", index, k);
			else
				snprintf(field, sizeof(field), "to[%zu]", k);
			return core_set_error(err, LIMES_E_FORBIDDEN, field, "client '%s' may not send to '%s' (to = %s)",
					      c->name, r->to[k], list[0] ? list : "nobody");
		}
	return 0;
}
