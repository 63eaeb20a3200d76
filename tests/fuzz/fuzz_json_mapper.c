/*
 * libFuzzer harness: JSON text -> schema_body_from_json for every message
 * type. Whatever the mapper accepts must pack into a body that the receiving
 * side's check accepts and that maps back to JSON. Seeds: docs/examples/.
 */
#include <stdint.h>
#include <stdlib.h>

#include "proto/err.h"
#include "proto/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pbjson_error err;
	json_t *body = NULL;

	if (pbjson_parse((const char *)data, size, &body, &err) != 0)
		return 0;
	for (int type = 1; type <= 3; type++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		json_t *back = NULL;
		int rc = schema_body_from_json(type, body, "body", &buf, &len, &err);

		if (rc == 0) {
			if (schema_body_check(type, buf, len) != 0)
				abort();   /* accepted from JSON but refused on receipt */
			if (schema_body_to_json(type, buf, len, &back, &err) != 0)
				abort();
			json_decref(back);
		} else if (rc != LIMES_E_SCHEMA || err.code == 0 || buf != NULL) {
			abort();
		}
		free(buf);
	}
	json_decref(body);
	return 0;
}
