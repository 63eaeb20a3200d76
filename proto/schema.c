/*
 * The message-type registry: maps type names and numbers to the protobuf
 * descriptors of the business messages, and packs/unpacks bodies through
 * the generic mapper (pbjson). Bodies are capped at SCHEMA_BODY_MAX.
 */
#include "proto/schema.h"

#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "pbjson_impl.h"
#include "schema_rules.h"

#define HOURS(h) ((uint64_t)(h) * 3600u * 1000u)

/* The one table of message types: every module that names a type (config
 * lists, client rights, the API, the docs test) reads it from here, so a
 * type added in this table is known everywhere at once. The default
 * retention is how long bodies are kept when [retention] does not say;
 * 0 means the agent-wide retention. */
static const struct {
	int type;
	const char *name;
	const ProtobufCMessageDescriptor *desc;
	uint32_t schema_major;           /* highest body schema major this build reads */
	uint64_t default_retention_ms;
} types[] = {
	{ LIMES__MESSAGE_TYPE__MESSAGE_TYPE_ALERT, "alert", &limes__alert__descriptor, 1, 0 },
	{ LIMES__MESSAGE_TYPE__MESSAGE_TYPE_PRE_ARRIVAL, "pre_arrival",
	  &limes__pre_arrival_declaration__descriptor, 1, 0 },
	{ LIMES__MESSAGE_TYPE__MESSAGE_TYPE_CONTROL_RESULT, "control_result",
	  &limes__control_result__descriptor, 1, 0 },
	/* Directive 2004/82/EC art. 6: deleted within 24 hours of transmission
	 * unless needed for a case */
	{ LIMES__MESSAGE_TYPE__MESSAGE_TYPE_PASSENGER_MANIFEST, "passenger_manifest",
	  &limes__passenger_manifest__descriptor, 1, HOURS(24) },
	/* the agreements' time limits run to weeks (reply within 12 days, up to
	 * 60 on request, transfer within 3 months): 90 days covers a case's
	 * exchange; the case file itself lives in the national system */
	{ LIMES__MESSAGE_TYPE__MESSAGE_TYPE_READMISSION_REQUEST, "readmission_request",
	  &limes__readmission_request__descriptor, 1, HOURS(24 * 90) },
	{ LIMES__MESSAGE_TYPE__MESSAGE_TYPE_READMISSION_REPLY, "readmission_reply",
	  &limes__readmission_reply__descriptor, 1, HOURS(24 * 90) },
};

#define N_TYPES (sizeof(types) / sizeof(types[0]))

static const ProtobufCMessageDescriptor *descriptor_of(int type)
{
	for (size_t i = 0; i < N_TYPES; i++)
		if (types[i].type == type)
			return types[i].desc;
	return NULL;
}

int schema_type_from_name(const char *name)
{
	for (size_t i = 0; name != NULL && i < N_TYPES; i++)
		if (strcmp(types[i].name, name) == 0)
			return types[i].type;
	return LIMES_E_NOTFOUND;
}

const char *schema_type_name(int type)
{
	for (size_t i = 0; i < N_TYPES; i++)
		if (types[i].type == type)
			return types[i].name;
	return NULL;
}

size_t schema_type_count(void)
{
	return N_TYPES;
}

int schema_type_at(size_t i)
{
	return i < N_TYPES ? types[i].type : LIMES_E_NOTFOUND;
}

void schema_type_list(char *buf, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < N_TYPES && n < size; i++) {
		int w = snprintf(buf + n, size - n, "%s%s", i ? ", " : "", types[i].name);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

uint32_t schema_type_major(int type)
{
	for (size_t i = 0; i < N_TYPES; i++)
		if (types[i].type == type)
			return types[i].schema_major;
	return 0;
}

uint64_t schema_type_default_retention_ms(int type)
{
	for (size_t i = 0; i < N_TYPES; i++)
		if (types[i].type == type)
			return types[i].default_retention_ms;
	return 0;
}

int schema_parse_priority(const char *name)
{
	if (name != NULL && strcmp(name, "normal") == 0)
		return LIMES__PRIORITY__PRIORITY_NORMAL;
	if (name != NULL && strcmp(name, "urgent") == 0)
		return LIMES__PRIORITY__PRIORITY_URGENT;
	return LIMES_E_INVAL;
}

const char *schema_priority_name(int priority)
{
	switch (priority) {
	case LIMES__PRIORITY__PRIORITY_NORMAL: return "normal";
	case LIMES__PRIORITY__PRIORITY_URGENT: return "urgent";
	}
	return NULL;
}

static void set_error(struct pbjson_error *err, int code, const char *path, const char *message)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
	err->code = code;
	if (path != NULL)
		snprintf(err->path, sizeof(err->path), "%s", path);
	snprintf(err->message, sizeof(err->message), "%s", message);
}

int schema_body_from_json(int type, const json_t *body, const char *path_prefix,
			  uint8_t **out, size_t *out_len, struct pbjson_error *err)
{
	const ProtobufCMessageDescriptor *desc = descriptor_of(type);
	ProtobufCMessage *msg = NULL;
	struct pbjson_arena arena;
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (desc == NULL || body == NULL) {
		set_error(err, PBJSON_OK, path_prefix, "unknown message type");
		return LIMES_E_INVAL;
	}
	/* The message lives only until it is packed: its pieces come from an
	 * arena and its strings point into body, so building it copies nothing
	 * but numbers and costs (almost) no malloc. */
	pbjson_arena_init(&arena);
	if ((rc = pbjson_from_json_arena(desc, body, path_prefix, &arena, &msg, err)) != 0)
		goto out;
	{
		struct pbjson_error scratch;
		if ((rc = schema_rules_check(msg, path_prefix, err != NULL ? err : &scratch)) != 0)
			goto out;
	}
	len = protobuf_c_message_get_packed_size(msg);
	if (len > SCHEMA_BODY_MAX) {
		set_error(err, PBJSON_TOO_LONG, path_prefix, "body exceeds the 4 MiB limit");
		rc = LIMES_E_SCHEMA;
		goto out;
	}
	if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
		rc = LIMES_E_NOMEM;
		goto out;
	}
	protobuf_c_message_pack(msg, buf);
	*out = buf;
	*out_len = len;
out:
	pbjson_arena_release(&arena);
	return rc;
}

/* Unpacks from the arena and validates; *msg lives as long as the arena
 * (never pbjson_free it). */
static int unpack_checked(int type, const uint8_t *buf, size_t len, struct pbjson_arena *arena,
			  ProtobufCMessage **msg, struct pbjson_error *err)
{
	const ProtobufCMessageDescriptor *desc = descriptor_of(type);
	int rc;

	*msg = NULL;
	if (desc == NULL || (buf == NULL && len > 0)) {
		set_error(err, PBJSON_OK, "body", "unknown message type");
		return LIMES_E_INVAL;
	}
	if (len > SCHEMA_BODY_MAX) {
		set_error(err, PBJSON_TOO_LONG, "body", "body exceeds the 4 MiB limit");
		return LIMES_E_SCHEMA;
	}
	*msg = protobuf_c_message_unpack(desc, &arena->allocator, len, buf);
	if (*msg == NULL) {
		set_error(err, PBJSON_UNDECODABLE, "body", "body does not decode as its message type");
		return LIMES_E_SCHEMA;
	}
	if ((rc = pbjson_check(*msg, "body", err)) == 0) {
		struct pbjson_error scratch;
		rc = schema_rules_check(*msg, "body", err != NULL ? err : &scratch);
	}
	if (rc != 0)
		*msg = NULL;
	return rc;
}

int schema_body_to_json(int type, const uint8_t *buf, size_t len, json_t **out,
			struct pbjson_error *err)
{
	ProtobufCMessage *msg = NULL;
	struct pbjson_arena arena;
	int rc;

	*out = NULL;
	pbjson_arena_init(&arena);
	if ((rc = unpack_checked(type, buf, len, &arena, &msg, err)) == 0)
		rc = pbjson_to_json(msg, out, err); /* jansson copies what it keeps */
	pbjson_arena_release(&arena);
	return rc;
}

/* Every received body passes here: decoded into an arena (one or two
 * blocks, not a malloc per field), checked, and dropped whole. */
int schema_body_validate(int type, const uint8_t *buf, size_t len, struct pbjson_error *err)
{
	ProtobufCMessage *msg = NULL;
	struct pbjson_arena arena;
	int rc;

	pbjson_arena_init(&arena);
	rc = unpack_checked(type, buf, len, &arena, &msg, err);
	pbjson_arena_release(&arena);
	return rc;
}

int schema_body_check(int type, const uint8_t *buf, size_t len)
{
	return schema_body_validate(type, buf, len, NULL);
}
