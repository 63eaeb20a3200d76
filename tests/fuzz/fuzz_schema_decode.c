/*
 * libFuzzer harness: protobuf bytes -> schema_body_to_json for every message
 * type, as a receiving agent decodes a peer's body. A body that decodes and
 * validates must map back through JSON to a body that decodes to the same
 * JSON, so the two directions of the mapper agree on the rules.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto/err.h"
#include "proto/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int type = 1; type <= 3; type++) {
		struct pbjson_error err;
		json_t *json = NULL, *again = NULL;
		uint8_t *buf = NULL;
		size_t len = 0;
		int rc = schema_body_to_json(type, data, size, &json, &err);

		if (rc != 0) {
			if (rc != LIMES_E_SCHEMA || json != NULL || schema_body_check(type, data, size) != rc)
				abort();
			continue;
		}
		if (schema_body_check(type, data, size) != 0)
			abort();
		/* Valid on the wire means valid as JSON, and stable through another trip. */
		if (schema_body_from_json(type, json, "body", &buf, &len, &err) != 0)
			abort();
		if (schema_body_to_json(type, buf, len, &again, &err) != 0 || !json_equal(json, again))
			abort();
		json_decref(again);
		json_decref(json);
		free(buf);
	}
	return 0;
}
