/*
 * The generic JSON <-> protobuf mapper: walks protobuf-c descriptors, so one
 * mapper serves every message type. JSON -> message validates as it goes
 * (first bad field in document order wins); message -> JSON only maps.
 * Messages built here use the system allocator, so protobuf-c frees them.
 */
#include "pbjson_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

#define SAFE_INT_MAX 9007199254740991ll   /* 2^53 - 1: larger 64-bit values go out as strings */

static int message_from_json(struct pbjson_walk *w, const ProtobufCMessageDescriptor *desc,
			     const json_t *json, ProtobufCMessage **out);

void pbjson_free(ProtobufCMessage **msg)
{
	if (msg == NULL || *msg == NULL)
		return;
	protobuf_c_message_free_unpacked(*msg, NULL);
	*msg = NULL;
}

int pbjson_parse(const char *text, size_t len, json_t **out, struct pbjson_error *err)
{
	struct pbjson_error scratch;
	json_error_t jerr;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	return *out != NULL ? 0 : pbjson_parse_failed(err, &jerr);
}

int pbjson_parse_failed(struct pbjson_error *err, const json_error_t *jerr)
{
	err->code = PBJSON_INVALID_JSON;
	snprintf(err->message, sizeof(err->message), "line %d column %d: %s",
		 jerr->line, jerr->column, jerr->text);
	return json_error_code(jerr) == json_error_out_of_memory ? LIMES_E_NOMEM : LIMES_E_SCHEMA;
}

/* ------------------------------------------------------------ JSON -> message */

/* A JSON integer, or for 64-bit fields also a string of decimal digits. */
static int int_from_json(struct pbjson_walk *w, const json_t *v, bool wide, bool is_unsigned,
			 long long *s_out, unsigned long long *u_out)
{
	if (json_is_integer(v)) {
		long long x = json_integer_value(v);
		if (is_unsigned && x < 0)
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "must not be negative");
		*s_out = x;
		*u_out = (unsigned long long)x;
		return 0;
	}
	if (wide && json_is_string(v)) {
		const char *s = json_string_value(v), *p = s;
		size_t len = json_string_length(v);
		char *end = NULL;

		if (*p == '-')
			p++;
		if (*p == '\0' || strspn(p, "0123456789") != len - (size_t)(p - s))
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be an integer or a string of decimal digits");
		if (*s == '-' && is_unsigned)
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "must not be negative");
		errno = 0;
		if (is_unsigned) {
			*u_out = strtoull(s, &end, 10);
			*s_out = (long long)*u_out;
		} else {
			*s_out = strtoll(s, &end, 10);
			*u_out = (unsigned long long)*s_out;
		}
		if (errno == ERANGE)
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "does not fit in 64 bits");
		if (end != s + len)
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be a string of decimal digits");
		return 0;
	}
	return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected an integer%s",
			   json_is_real(v) ? ", not a fraction" : "");
}

/* From the walk's arena when it has one, else malloc (what protobuf-c frees). */
static void *walk_alloc(struct pbjson_walk *w, size_t size)
{
	return w->alloc != NULL ? w->alloc->alloc(w->alloc->allocator_data, size) : malloc(size);
}

static void free_message(struct pbjson_walk *w, ProtobufCMessage **msg)
{
	if (*msg != NULL)
		protobuf_c_message_free_unpacked(*msg, w->alloc);
	*msg = NULL;
}

/* The string of a JSON value for a string field. Borrowed when the walk
 * may: jansson's text is NUL-terminated, and pbjson_check_string has
 * refused control characters, so no NUL hides inside the length. */
static char *field_string(struct pbjson_walk *w, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	char *copy;

	if (w->borrow_strings)
		return (char *)s;
	if ((copy = walk_alloc(w, len + 1)) != NULL) {
		memcpy(copy, s, len);
		copy[len] = '\0';
	}
	return copy;
}

/* Converts one JSON value into *slot (one element or a singular field); slot untouched on error. */
static int value_from_json(struct pbjson_walk *w, const ProtobufCFieldDescriptor *f,
			   const struct limits_field *lim, const json_t *v, void *slot)
{
	long long s = 0;
	unsigned long long u = 0;
	int rc;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		if ((rc = int_from_json(w, v, false, false, &s, &u)) != 0)
			return rc;
		if (s < INT32_MIN || s > INT32_MAX)
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "does not fit in 32 bits");
		if ((rc = pbjson_check_number(w, lim, (double)s)) != 0)
			return rc;
		*(int32_t *)slot = (int32_t)s;
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		if ((rc = int_from_json(w, v, false, true, &s, &u)) != 0)
			return rc;
		if (u > UINT32_MAX)
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "does not fit in 32 bits");
		if ((rc = pbjson_check_number(w, lim, (double)u)) != 0)
			return rc;
		*(uint32_t *)slot = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		if ((rc = int_from_json(w, v, true, false, &s, &u)) != 0 ||
		    (rc = pbjson_check_number(w, lim, (double)s)) != 0)
			return rc;
		*(int64_t *)slot = s;
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		if ((rc = int_from_json(w, v, true, true, &s, &u)) != 0 ||
		    (rc = pbjson_check_number(w, lim, (double)u)) != 0)
			return rc;
		*(uint64_t *)slot = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double d;
		if (!json_is_number(v))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected a number");
		d = json_number_value(v);
		if (f->type == PROTOBUF_C_TYPE_FLOAT && isfinite(d) && fabs(d) > 3.4028234663852886e38)
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "does not fit in a float");
		if ((rc = pbjson_check_number(w, lim, d)) != 0)
			return rc;
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)slot = (float)d;
		else
			*(double *)slot = d;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected true or false");
		*(protobuf_c_boolean *)slot = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		char names[900];
		int value;
		if (!json_is_string(v))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected a string naming a %s", ed->short_name);
		if (pbjson_enum_parse(ed, json_string_value(v), json_string_length(v), &value) != 0) {
			pbjson_enum_list(ed, names, sizeof(names));
			return pbjson_fail(w, PBJSON_BAD_ENUM, "expected one of: %s", names);
		}
		*(int *)slot = value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *copy;
		if (!json_is_string(v))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected a string");
		if ((rc = pbjson_check_string(w, lim, json_string_value(v), json_string_length(v))) != 0)
			return rc;
		if ((copy = field_string(w, v)) == NULL)
			return LIMES_E_NOMEM;
		*(char **)slot = copy;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		size_t max = lim != NULL && lim->max_len ? lim->max_len : LIMITS_BYTES_MAX;
		ProtobufCBinaryData *bin = slot;
		uint8_t *data = NULL;
		size_t len = 0;
		if (!json_is_string(v))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected a base64 string");
		rc = pbjson_b64_decode(json_string_value(v), json_string_length(v), &data, &len);
		if (rc == LIMES_E_NOMEM)
			return rc;
		if (rc != 0)
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be standard base64 with padding");
		if (len > max) {
			free(data);
			return pbjson_fail(w, PBJSON_TOO_LONG, "must be at most %zu bytes", max);
		}
		if (w->alloc != NULL && data != NULL) {
			/* the message's pieces all come from its allocator */
			uint8_t *moved = walk_alloc(w, len);
			if (moved != NULL)
				memcpy(moved, data, len);
			free(data);
			if ((data = moved) == NULL)
				return LIMES_E_NOMEM;
		}
		bin->data = data;
		bin->len = len;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_from_json(w, f->descriptor, v, (ProtobufCMessage **)slot);
	}
	return pbjson_fail(w, PBJSON_WRONG_TYPE, "unsupported field type");
}

static int field_from_json(struct pbjson_walk *w, const ProtobufCMessageDescriptor *desc,
			   const ProtobufCFieldDescriptor *f, const json_t *v, ProtobufCMessage *msg)
{
	const struct limits_field *lim = pbjson_limits(desc, f);
	void *slot = PBJSON_MEMBER(msg, f->offset, char);
	int rc;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t set = *PBJSON_MEMBER(msg, f->quantifier_offset, uint32_t);
		if (set != 0 && set != f->id)
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "only one field of its oneof may be set");
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *count = PBJSON_MEMBER(msg, f->quantifier_offset, size_t);
		size_t n, size = pbjson_elem_size(f->type);
		char *arr;

		if (!json_is_array(v))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected an array");
		n = json_array_size(v);
		if ((rc = pbjson_check_count(w, lim, n)) != 0)
			return rc;
		/* n is capped by pbjson_check_count, so n * size cannot wrap */
		if ((arr = walk_alloc(w, (n > 0 ? n : 1) * size)) == NULL)
			return LIMES_E_NOMEM;
		memset(arr, 0, (n > 0 ? n : 1) * size);
		*(char **)slot = arr;
		/* Count only converted elements, so protobuf-c frees exactly those on error. */
		for (size_t i = 0; i < n; i++) {
			size_t mark = pbjson_path_index(w, i);
			if ((rc = value_from_json(w, f, lim, json_array_get(v, i), arr + i * size)) != 0)
				return rc;
			(*count)++;
			pbjson_path_pop(w, mark);
		}
		return 0;
	}
	if ((rc = value_from_json(w, f, lim, v, slot)) != 0)
		return rc;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*PBJSON_MEMBER(msg, f->quantifier_offset, uint32_t) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
		 f->type != PROTOBUF_C_TYPE_MESSAGE)
		*PBJSON_MEMBER(msg, f->quantifier_offset, protobuf_c_boolean) = 1;
	return 0;
}

static ProtobufCMessage *new_message(struct pbjson_walk *w, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *msg = walk_alloc(w, desc->sizeof_message);

	if (msg != NULL)
		protobuf_c_message_init(desc, msg);
	return msg;
}

/* Timestamp and Date have string forms of their own. */
static int special_from_json(struct pbjson_walk *w, const ProtobufCMessageDescriptor *desc,
			     const json_t *json, ProtobufCMessage **out)
{
	const char *s = json_string_value(json);
	size_t len = json_string_length(json);
	ProtobufCMessage *msg;
	uint32_t y = 0, m = 0, d = 0;
	int64_t ms = 0;
	int code, rc;

	if (pbjson_is_timestamp(desc)) {
		if (!json_is_string(json))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected an RFC 3339 timestamp string");
		if (pbjson_time_parse(s, len, &ms, &code) != 0)
			return code == PBJSON_OUT_OF_RANGE ? pbjson_check_time(w, -1)
				: pbjson_fail(w, PBJSON_BAD_FORMAT,
					      "must be an RFC 3339 timestamp, e.g. 2026-11-26T18:43:27.120Z");
	} else {
		if (!json_is_string(json))
			return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected a date string YYYY-MM-DD");
		if (pbjson_date_parse(s, len, &y, &m, &d) != 0)
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be a calendar date YYYY-MM-DD");
		if ((rc = pbjson_check_date(w, y, m, d)) != 0)
			return rc;
	}
	if ((msg = new_message(w, desc)) == NULL)
		return LIMES_E_NOMEM;
	if (pbjson_is_timestamp(desc)) {
		*PBJSON_MEMBER(msg, desc->fields[0].offset, int64_t) = ms;
	} else {
		*PBJSON_MEMBER(msg, desc->fields[0].offset, uint32_t) = y;
		*PBJSON_MEMBER(msg, desc->fields[1].offset, uint32_t) = m;
		*PBJSON_MEMBER(msg, desc->fields[2].offset, uint32_t) = d;
	}
	*out = msg;
	return 0;
}

static int message_from_json(struct pbjson_walk *w, const ProtobufCMessageDescriptor *desc,
			     const json_t *json, ProtobufCMessage **out)
{
	ProtobufCMessage *msg = NULL;
	unsigned char seen_here[64], *seen = NULL;
	const char *key;
	json_t *value;
	int rc = 0;

	if (pbjson_is_timestamp(desc) || pbjson_is_date(desc))
		return special_from_json(w, desc, json, out);
	if (!json_is_object(json))
		return pbjson_fail(w, PBJSON_WRONG_TYPE, "expected an object");
	if (w->depth >= PBJSON_MAX_DEPTH)
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "nested too deeply");
	/* every message type we carry has fewer fields than seen_here holds */
	if (desc->n_fields < sizeof(seen_here)) {
		seen = seen_here;
		memset(seen, 0, desc->n_fields + 1);
	} else {
		seen = calloc(desc->n_fields + 1, 1);
	}
	if ((msg = new_message(w, desc)) == NULL || seen == NULL) {
		rc = LIMES_E_NOMEM;
		goto out;
	}
	w->depth++;
	/* jansson keeps keys in document order, so the first bad field is found first. */
	json_object_foreach((json_t *)json, key, value) {
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(desc, key);
		size_t mark = pbjson_path_field(w, key);

		if (f == NULL) {
			rc = pbjson_fail(w, PBJSON_UNKNOWN_FIELD, "unknown field of %s", desc->short_name);
			goto out;
		}
		seen[f - desc->fields] = 1;
		if (json_is_null(value)) {
			/* null means absent, which a required field cannot be. */
			if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
				rc = pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is null");
				goto out;
			}
		} else if ((rc = field_from_json(w, desc, f, value, msg)) != 0) {
			goto out;
		}
		pbjson_path_pop(w, mark);
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		if (desc->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen[i]) {
			pbjson_path_field(w, desc->fields[i].name);
			rc = pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is missing");
			goto out;
		}
	}
	w->depth--;
out:
	if (seen != seen_here)
		free(seen);
	if (rc != 0)
		free_message(w, &msg);
	*out = msg;
	return rc;
}

int pbjson_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
		     const char *path_prefix, ProtobufCMessage **out, struct pbjson_error *err)
{
	struct pbjson_error scratch;
	struct pbjson_walk w;

	*out = NULL;
	pbjson_walk_init(&w, err != NULL ? err : &scratch, path_prefix);
	if (desc == NULL || json == NULL)
		return LIMES_E_INVAL;
	return message_from_json(&w, desc, json, out);
}

int pbjson_from_json_arena(const ProtobufCMessageDescriptor *desc, const json_t *json,
			   const char *path_prefix, struct pbjson_arena *arena,
			   ProtobufCMessage **out, struct pbjson_error *err)
{
	struct pbjson_error scratch;
	struct pbjson_walk w;

	*out = NULL;
	pbjson_walk_init(&w, err != NULL ? err : &scratch, path_prefix);
	if (desc == NULL || json == NULL || arena == NULL)
		return LIMES_E_INVAL;
	w.alloc = &arena->allocator;
	w.borrow_strings = true;
	return message_from_json(&w, desc, json, out);
}

/* ------------------------------------------------------------ message -> JSON */

static int message_to_json(struct pbjson_walk *w, const ProtobufCMessage *msg, json_t **out);

static json_t *wide_integer(long long s, unsigned long long u, bool is_unsigned)
{
	char buf[32];

	if (is_unsigned ? u <= (unsigned long long)SAFE_INT_MAX : (s >= -SAFE_INT_MAX && s <= SAFE_INT_MAX))
		return json_integer(is_unsigned ? (json_int_t)u : (json_int_t)s);
	if (is_unsigned)
		snprintf(buf, sizeof(buf), "%llu", u);
	else
		snprintf(buf, sizeof(buf), "%lld", s);
	return json_string(buf);
}

static int value_to_json(struct pbjson_walk *w, const ProtobufCFieldDescriptor *f,
			 const void *slot, json_t **out)
{
	char name[128];
	char *text;
	double d;

	*out = NULL;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		*out = json_integer(*(const int32_t *)slot);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		*out = json_integer(*(const uint32_t *)slot);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		*out = wide_integer(*(const int64_t *)slot, 0, false);
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		*out = wide_integer(0, *(const uint64_t *)slot, true);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)slot : *(const double *)slot;
		if (!isfinite(d))
			return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "must be a finite number");
		*out = json_real(d);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*out = json_boolean(*(const protobuf_c_boolean *)slot);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		if (pbjson_enum_name(f->descriptor, *(const int *)slot, name, sizeof(name)) != 0)
			return pbjson_fail(w, PBJSON_BAD_ENUM, "unknown value of %s",
					   ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
		*out = json_string(name);
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)slot;
		if (s == NULL)
			return pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is missing");
		if (!pbjson_utf8_ok(s, strlen(s)))
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be valid UTF-8");
		*out = json_string(s);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bin = slot;
		if ((text = pbjson_b64_encode(bin->data, bin->len)) == NULL)
			return LIMES_E_NOMEM;
		*out = json_string(text);
		free(text);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
		if (sub == NULL)
			return pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is missing");
		return message_to_json(w, sub, out);
	}
	}
	return *out != NULL ? 0 : LIMES_E_NOMEM;
}

static int special_to_json(struct pbjson_walk *w, const ProtobufCMessage *msg, json_t **out)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	char buf[40];

	if (pbjson_is_timestamp(desc)) {
		if (pbjson_time_format(*PBJSON_MEMBER(msg, desc->fields[0].offset, const int64_t),
				       buf, sizeof(buf)) != 0)
			return pbjson_check_time(w, -1);
	} else {
		snprintf(buf, sizeof(buf), "%04u-%02u-%02u",
			 *PBJSON_MEMBER(msg, desc->fields[0].offset, const uint32_t),
			 *PBJSON_MEMBER(msg, desc->fields[1].offset, const uint32_t),
			 *PBJSON_MEMBER(msg, desc->fields[2].offset, const uint32_t));
	}
	*out = json_string(buf);
	return *out != NULL ? 0 : LIMES_E_NOMEM;
}

static int message_to_json(struct pbjson_walk *w, const ProtobufCMessage *msg, json_t **out)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	json_t *obj = NULL, *v = NULL;
	int rc = 0;

	*out = NULL;
	if (pbjson_is_timestamp(desc) || pbjson_is_date(desc))
		return special_to_json(w, msg, out);
	if (w->depth >= PBJSON_MAX_DEPTH)
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "nested too deeply");
	if ((obj = json_object()) == NULL)
		return LIMES_E_NOMEM;
	w->depth++;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		size_t mark;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *PBJSON_MEMBER(msg, f->quantifier_offset, const size_t);
			const char *arr = *PBJSON_MEMBER(msg, f->offset, const char *const);
			size_t size = pbjson_elem_size(f->type);

			if (n == 0)
				continue;
			mark = pbjson_path_field(w, f->name);
			if ((v = json_array()) == NULL) {
				rc = LIMES_E_NOMEM;
				goto out;
			}
			for (size_t k = 0; k < n; k++) {
				size_t inner = pbjson_path_index(w, k);
				json_t *elem;
				if ((rc = value_to_json(w, f, arr + k * size, &elem)) != 0)
					goto out;
				if (json_array_append_new(v, elem) != 0) {
					rc = LIMES_E_NOMEM;
					goto out;
				}
				pbjson_path_pop(w, inner);
			}
		} else if (pbjson_field_present(msg, f) || f->label == PROTOBUF_C_LABEL_REQUIRED) {
			mark = pbjson_path_field(w, f->name);
			if ((rc = value_to_json(w, f, PBJSON_MEMBER(msg, f->offset, const char), &v)) != 0)
				goto out;
		} else {
			continue;
		}
		rc = json_object_set_new(obj, f->name, v) == 0 ? 0 : LIMES_E_NOMEM;
		v = NULL;
		if (rc != 0)
			goto out;
		pbjson_path_pop(w, mark);
	}
	w->depth--;
out:
	json_decref(v);
	if (rc != 0)
		json_decref(obj);
	else
		*out = obj;
	return rc;
}

int pbjson_to_json(const ProtobufCMessage *msg, json_t **out, struct pbjson_error *err)
{
	struct pbjson_error scratch;
	struct pbjson_walk w;

	*out = NULL;
	pbjson_walk_init(&w, err != NULL ? err : &scratch, NULL);
	if (msg == NULL)
		return LIMES_E_INVAL;
	return message_to_json(&w, msg, out);
}
