/*
 * Generic JSON <-> protobuf mapper driven by protobuf-c descriptors: one
 * mapper for every message type. It validates while it maps (types, enums,
 * required fields, the limits of proto/limits.c) and reports the first bad
 * field in document order as a struct pbjson_error. docs/schemas.md gives
 * the rules. Outside proto/, use schema.h; the descriptor-level functions
 * below are for proto/ and its tests.
 */
#ifndef LIMES_PROTO_PBJSON_H
#define LIMES_PROTO_PBJSON_H

#include <jansson.h>
#include <stddef.h>

struct ProtobufCMessageDescriptor;
struct ProtobufCMessage;
struct ProtobufCEnumDescriptor;

/* Stable validation error kinds; pbjson_code_name() gives the machine names. */
enum pbjson_code {
	PBJSON_OK = 0,
	PBJSON_UNKNOWN_FIELD,   /* "unknown_field" */
	PBJSON_WRONG_TYPE,      /* "wrong_type" */
	PBJSON_BAD_ENUM,        /* "bad_enum" */
	PBJSON_MISSING_FIELD,   /* "missing_field" */
	PBJSON_TOO_LONG,        /* "too_long" */
	PBJSON_OUT_OF_RANGE,    /* "out_of_range" */
	PBJSON_BAD_FORMAT,      /* "bad_format" */
	PBJSON_TOO_MANY,        /* "too_many" */
	PBJSON_INVALID_JSON,    /* "invalid_json" */
	PBJSON_UNDECODABLE,     /* "undecodable": binary body does not decode */
	PBJSON_INCONSISTENT,    /* "inconsistent": contradicts another field (a count, a date, a decision) */
};

/* The first problem found: its kind, the field path ("body.goods_items[2].gross_mass_kg") and a text. */
struct pbjson_error {
	int code;               /* enum pbjson_code */
	char path[256];
	char message[1024];     /* never quotes field values; room for a whole enum list */
};

/* Stable snake_case name of an enum pbjson_code; static storage, never NULL. */
const char *pbjson_code_name(int code);

/* Parses JSON text strictly (duplicate keys refused); *out is the caller's (json_decref), NULL on error. */
int pbjson_parse(const char *text, size_t len, json_t **out, struct pbjson_error *err);

/* A document parsed into an arena of its own (pbjson_doc.c): its nodes cost
 * one pointer bump each and go all at once. Read-only: no node of it (the
 * children jansson's getters return included) may be freed, changed, kept
 * (json_incref) or set into another document; take json_deep_copy of one. */
struct pbjson_doc;
/* Parses like pbjson_parse; *out is the caller's (pbjson_doc_free), NULL on error. */
int pbjson_doc_parse(const char *text, size_t len, struct pbjson_doc **out, struct pbjson_error *err);
/* The document's root (an object or an array); borrowed, valid until pbjson_doc_free. */
const json_t *pbjson_doc_root(const struct pbjson_doc *doc);
/* Frees the document and every node in it; accepts NULL, nulls *doc. */
void pbjson_doc_free(struct pbjson_doc **doc);

/* Builds a message of type desc from a JSON object, validating it; *out is the caller's (pbjson_free). */
int pbjson_from_json(const struct ProtobufCMessageDescriptor *desc, const json_t *json,
		     const char *path_prefix, struct ProtobufCMessage **out, struct pbjson_error *err);

/* Maps a message to a new JSON object without validating it; *out is the caller's (json_decref). */
int pbjson_to_json(const struct ProtobufCMessage *msg, json_t **out, struct pbjson_error *err);

/* Validates a decoded message against enums and limits; borrows msg, err may be NULL. */
int pbjson_check(const struct ProtobufCMessage *msg, const char *path_prefix, struct pbjson_error *err);

/* Frees a message built by pbjson_from_json or unpacked by protobuf-c; accepts NULL, nulls *msg. */
void pbjson_free(struct ProtobufCMessage **msg);

/* The JSON name of an enum value ("stolen_vehicle", "H0") into buf; 0 or LIMES_E_NOTFOUND. */
int pbjson_enum_name(const struct ProtobufCEnumDescriptor *desc, int value, char *buf, size_t size);

#endif
