/*
 * A neighbour's advertised accept list as JSON for GET /v1/peers and
 * `limes status --json`: the types it said, over the link, it takes from
 * us, each with the body schema major it reads.
 */
#include <stdio.h>

#include "api_int.h"
#include "proto/schema.h"

json_t *api_json_peer_accepts(const struct peer *p)
{
	const struct peer_accepts *acc = peer_accepts(p);
	json_t *o;

	if (!acc->known)
		return json_null();
	o = json_object();
	for (int t = 1; o && t < 32; t++) {
		char number[16];
		const char *name = schema_type_name(t);
		if (!(acc->mask & CONFIG_TYPE_BIT(t)))
			continue;
		if (!name) {
			snprintf(number, sizeof(number), "%d", t);
			name = number; /* a type newer than this build */
		}
		json_object_set_new(o, name, json_integer(acc->schema_major[t]));
	}
	return o ? o : json_null();
}
