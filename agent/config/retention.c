/*
 * The [retention] section: how long the bodies of each message type are
 * kept. Type names come from the one table in proto/schema.c, so a type
 * added there is configurable here with no change.
 */
#include <stdio.h>

#include "config/config.h"
#include "proto/err.h"
#include "proto/schema.h"

int config_retention_key(struct config *cfg, const char *name, const char *value, char *why, size_t why_len)
{
	int type = schema_type_from_name(name);
	uint64_t ms;

	if (type < 0 || type >= 32) {
		char known[256];
		schema_type_list(known, sizeof(known));
		snprintf(why, why_len, "unknown message type '%s' (known: %s)", name, known);
		return -1;
	}
	if (config_parse_duration(value, &ms) < 0 || ms == 0) {
		snprintf(why, why_len, "%s: '%s' is not a duration (e.g. 24h, 90d, 30m)", name, value);
		return -1;
	}
	cfg->type_retention_ms[type] = ms;
	cfg->type_retention_set[type] = true;
	return 0;
}

uint64_t config_body_retention_ms(const struct config *cfg, int type)
{
	uint64_t ms = cfg->retention_ms;

	if (type >= 0 && type < 32 && cfg->type_retention_set[type])
		ms = cfg->type_retention_ms[type];
	else if (schema_type_default_retention_ms(type) > 0)
		ms = schema_type_default_retention_ms(type);
	return ms < cfg->retention_ms ? ms : cfg->retention_ms;
}
