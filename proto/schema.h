/*
 * The message-type registry: the business message types an agent carries
 * ("alert", "pre_arrival", "control_result"), their JSON bodies and their
 * protobuf bodies. Validation errors come back as struct pbjson_error, with
 * a path ("body.goods_items[2].gross_mass_kg") and a stable code name
 * (pbjson_code_name). docs/schemas.md describes the mapping and the limits.
 */
#ifndef LIMES_PROTO_SCHEMA_H
#define LIMES_PROTO_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/pbjson.h"

/* Largest body, in protobuf bytes, that is packed or unpacked. */
#define SCHEMA_BODY_MAX (4u * 1024u * 1024u)

/* MessageType value of a type name ("alert", "passenger_manifest"), or LIMES_E_NOTFOUND. */
int schema_type_from_name(const char *name);
/* How many message types this build knows, and the i-th one's MessageType
 * value (LIMES_E_NOTFOUND past the end): the one table of types, for config
 * lists, client rights and the link's advertisement. */
size_t schema_type_count(void);
int schema_type_at(size_t i);
/* Every type name, comma-separated, into buf (truncated to size). */
void schema_type_list(char *buf, size_t size);
/* Highest body schema major this build reads for a type, 0 for an unknown type. */
uint32_t schema_type_major(int type);
/* How long bodies of a type are kept by default (its exchange's usual legal
 * limit), 0 when the agent-wide retention applies. */
uint64_t schema_type_default_retention_ms(int type);
/* Name of a MessageType value ("alert"), or NULL if unknown; static storage. */
const char *schema_type_name(int type);
/* Priority value of "normal" (0) or "urgent" (1), or LIMES_E_INVAL. */
int schema_parse_priority(const char *name);
/* Name of a Priority value ("normal", "urgent"), or NULL if unknown; static storage. */
const char *schema_priority_name(int priority);

/* Validates a JSON body of the type and packs it; *out is the caller's (free). LIMES_E_SCHEMA with err filled when invalid. */
int schema_body_from_json(int type, const json_t *body, const char *path_prefix,
			  uint8_t **out, size_t *out_len, struct pbjson_error *err);
/* Decodes and validates a protobuf body into a new JSON object, the caller's (json_decref). LIMES_E_SCHEMA when it does not decode or validate. */
int schema_body_to_json(int type, const uint8_t *buf, size_t len, json_t **out,
			struct pbjson_error *err);
/* Decode-only validation of a received body; borrows buf. 0 or LIMES_E_SCHEMA (LIMES_E_INVAL for an unknown type). */
int schema_body_check(int type, const uint8_t *buf, size_t len);
/* As schema_body_check, saying why in err (path prefix "body"); err may be NULL. */
int schema_body_validate(int type, const uint8_t *buf, size_t len, struct pbjson_error *err);

#endif
