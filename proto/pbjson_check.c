/*
 * Validation shared by both directions of the mapper: the error path,
 * string/number/array checks against proto/limits.c, and the walk over a
 * decoded message that a receiving agent runs on every body (pbjson_check).
 */
#include "pbjson_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/err.h"

static const char *const code_names[] = {
	[PBJSON_OK] = "ok",
	[PBJSON_UNKNOWN_FIELD] = "unknown_field",
	[PBJSON_WRONG_TYPE] = "wrong_type",
	[PBJSON_BAD_ENUM] = "bad_enum",
	[PBJSON_MISSING_FIELD] = "missing_field",
	[PBJSON_TOO_LONG] = "too_long",
	[PBJSON_OUT_OF_RANGE] = "out_of_range",
	[PBJSON_BAD_FORMAT] = "bad_format",
	[PBJSON_TOO_MANY] = "too_many",
	[PBJSON_INVALID_JSON] = "invalid_json",
	[PBJSON_UNDECODABLE] = "undecodable",
	[PBJSON_INCONSISTENT] = "inconsistent",
};

const char *pbjson_code_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "unknown";
	return code_names[code];
}

/* ------------------------------------------------------------ walk and path */

/* Appends ".name" to err->path at *len, as far as it fits. */
static void path_put_field(struct pbjson_error *err, size_t *len, const char *name)
{
	size_t n = *len, cap = sizeof(err->path) - 1;
	char *path = err->path;

	if (n > 0 && name[0] != '\0' && n < cap)
		path[n++] = '.';
	/* Names may come from the client (unknown fields): show them printable. */
	for (size_t i = 0; name[i] != '\0' && n < cap; i++) {
		unsigned char c = (unsigned char)name[i];
		path[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	path[n] = '\0';
	*len = n;
}

/* Appends "[index]" to err->path at *len, as far as it fits. */
static void path_put_index(struct pbjson_error *err, size_t *len, size_t index)
{
	size_t old = *len, cap = sizeof(err->path);
	int n = snprintf(err->path + old, cap - old, "[%zu]", index);

	if (n > 0)
		*len = (size_t)n < cap - old ? old + (size_t)n : cap - 1;
}

void pbjson_walk_init(struct pbjson_walk *w, struct pbjson_error *err, const char *prefix)
{
	size_t len = 0;

	memset(err, 0, sizeof(*err));
	w->err = err;
	w->depth = 0;
	w->n_frames = 0;
	w->alloc = NULL;
	w->borrow_strings = false;
	if (prefix != NULL)
		path_put_field(err, &len, prefix);
	w->prefix_len = len;
}

int pbjson_fail(struct pbjson_walk *w, int code, const char *fmt, ...)
{
	size_t len = w->prefix_len, kept = w->n_frames < PBJSON_PATH_FRAMES ? w->n_frames : PBJSON_PATH_FRAMES;
	va_list ap;

	/* The same appends, in the same order, as an eagerly kept path would
	 * have made, so truncation and every refusal's text are unchanged. */
	w->err->path[len] = '\0';
	for (size_t i = 0; i < kept; i++) {
		if (w->frames[i].name != NULL)
			path_put_field(w->err, &len, w->frames[i].name);
		else
			path_put_index(w->err, &len, w->frames[i].index);
	}
	w->err->code = code;
	va_start(ap, fmt);
	vsnprintf(w->err->message, sizeof(w->err->message), fmt, ap);
	va_end(ap);
	return LIMES_E_SCHEMA;
}

static size_t path_push(struct pbjson_walk *w, const char *name, size_t index)
{
	size_t mark = w->n_frames;

	if (mark < PBJSON_PATH_FRAMES)
		w->frames[mark] = (struct pbjson_path_frame){ .name = name, .index = index };
	w->n_frames = mark + 1;
	return mark;
}

size_t pbjson_path_field(struct pbjson_walk *w, const char *name)
{
	return path_push(w, name, 0);
}

size_t pbjson_path_index(struct pbjson_walk *w, size_t index)
{
	return path_push(w, NULL, index);
}

size_t pbjson_path_mark(const struct pbjson_walk *w)
{
	return w->n_frames;
}

void pbjson_path_pop(struct pbjson_walk *w, size_t mark)
{
	w->n_frames = mark;
}

/* ------------------------------------------------------------ field metadata */

#define LIMITS_CACHE_SLOTS 256u

const struct limits_field *pbjson_limits(const ProtobufCMessageDescriptor *desc,
					 const ProtobufCFieldDescriptor *f)
{
	/* per thread, so no lock and no torn entry; a miss costs one lookup */
	static _Thread_local struct {
		const ProtobufCFieldDescriptor *f;
		const struct limits_field *lim;
	} cache[LIMITS_CACHE_SLOTS];
	size_t slot = ((uintptr_t)f / sizeof(*f)) % LIMITS_CACHE_SLOTS;

	if (cache[slot].f != f) {
		cache[slot].lim = limits_lookup(desc->name, f->name);
		cache[slot].f = f;
	}
	return cache[slot].lim;
}

size_t pbjson_elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

bool pbjson_is_timestamp(const ProtobufCMessageDescriptor *desc)
{
	return strcmp(desc->name, "limes.Timestamp") == 0;
}

bool pbjson_is_date(const ProtobufCMessageDescriptor *desc)
{
	return strcmp(desc->name, "limes.Date") == 0;
}

static bool is_pointer_type(ProtobufCType type)
{
	return type == PROTOBUF_C_TYPE_STRING || type == PROTOBUF_C_TYPE_MESSAGE;
}

bool pbjson_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const void *slot = PBJSON_MEMBER(msg, f->offset, const char);

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *PBJSON_MEMBER(msg, f->quantifier_offset, const uint32_t) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return !is_pointer_type(f->type) || *(void *const *)slot != NULL;
	if (is_pointer_type(f->type)) {
		const void *p = *(void *const *)slot;
		return p != NULL && (f->type == PROTOBUF_C_TYPE_MESSAGE || p != f->default_value);
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *PBJSON_MEMBER(msg, f->quantifier_offset, const protobuf_c_boolean) != 0;
	/* proto3 without presence: present when not zero. */
	if (f->type == PROTOBUF_C_TYPE_BYTES)
		return ((const ProtobufCBinaryData *)slot)->len > 0;
	for (size_t i = 0; i < pbjson_elem_size(f->type); i++)
		if (((const unsigned char *)slot)[i] != 0)
			return true;
	return false;
}

/* ------------------------------------------------------------ checks */

/* Every byte of s[0..len) printable ASCII (0x20-0x7e), or newline or tab when multiline. */
static bool printable_bytes(const unsigned char *s, size_t len, bool multiline)
{
	for (size_t i = 0; i < len; i++)
		if ((s[i] < 0x20 && !(multiline && (s[i] == '\n' || s[i] == '\t'))) || s[i] >= 0x7f)
			return false;
	return true;
}

/* printable_bytes, eight bytes at a time (the byte loop alone was ~2 % of
 * the receiver's CPU): a word with a byte at or above 0x80, or equal to
 * 0x7f, fails; one with a byte below 0x20 (a newline, say) is looked at
 * byte by byte. The bit tricks are "haszero" and "hasless", exact in
 * telling whether any byte matches. */
static bool printable_ascii(const char *str, size_t len, bool multiline)
{
	const unsigned char *s = (const unsigned char *)str;
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t x, del;
		memcpy(&x, s + i, 8);
		del = x ^ (0x7f * ones);
		if ((x | ((del - ones) & ~del)) & highs)
			return false;
		if (((x - 0x20 * ones) & ~x & highs) && !printable_bytes(s + i, 8, multiline))
			return false;
	}
	return printable_bytes(s + i, len - i, multiline);
}

int pbjson_check_string(struct pbjson_walk *w, const struct limits_field *lim,
			const char *s, size_t len)
{
	size_t max = lim != NULL && lim->max_len ? lim->max_len : LIMITS_STRING_MAX;
	const char *why = NULL;

	if (len > max)
		return pbjson_fail(w, PBJSON_TOO_LONG, "must be at most %zu bytes", max);
	if (len == 0)
		return pbjson_fail(w, PBJSON_BAD_FORMAT, "must not be empty");
	/* most text is printable ASCII: one branch-free pass proves it valid
	 * UTF-8 without control characters, and the two checks below (each a
	 * pass of its own) are only needed when it is not */
	if (!printable_ascii(s, len, lim != NULL && lim->multiline))
		goto slow;
	if (lim != NULL && limits_check_format(lim->format, s, len, &why) != 0)
		return pbjson_fail(w, PBJSON_BAD_FORMAT, "%s", why);
	return 0;
slow:
	if (!pbjson_utf8_ok(s, len))
		return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be valid UTF-8");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool control = c < 0x20 || c == 0x7f ||
			       (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0);
		if (control && !(lim != NULL && lim->multiline && (c == '\n' || c == '\t')))
			return pbjson_fail(w, PBJSON_BAD_FORMAT, "must not contain control characters%s",
					   lim != NULL && lim->multiline ? " other than newline and tab" : "");
	}
	if (lim != NULL && limits_check_format(lim->format, s, len, &why) != 0)
		return pbjson_fail(w, PBJSON_BAD_FORMAT, "%s", why);
	return 0;
}

static void format_bound(char *buf, size_t size, double v)
{
	snprintf(buf, size, "%.15g", v);
}

int pbjson_check_number(struct pbjson_walk *w, const struct limits_field *lim, double v)
{
	char lo[32], hi[32];

	if (!isfinite(v))
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "must be a finite number");
	if (lim == NULL || !lim->has_range)
		return 0;
	if ((lim->min_exclusive ? v <= lim->min : v < lim->min) || v > lim->max) {
		format_bound(lo, sizeof(lo), lim->min);
		format_bound(hi, sizeof(hi), lim->max);
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "must be %s %s and <= %s",
				   lim->min_exclusive ? ">" : ">=", lo, hi);
	}
	return 0;
}

int pbjson_check_count(struct pbjson_walk *w, const struct limits_field *lim, size_t n)
{
	unsigned max = lim != NULL && lim->max_items ? lim->max_items : LIMITS_ARRAY_MAX;

	if (n > max)
		return pbjson_fail(w, PBJSON_TOO_MANY, "must have at most %u elements", max);
	return 0;
}

int pbjson_check_date(struct pbjson_walk *w, uint32_t year, uint32_t month, uint32_t day)
{
	if (year < LIMITS_DATE_YEAR_MIN || year > LIMITS_DATE_YEAR_MAX)
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "year must be %u to %u",
				   LIMITS_DATE_YEAR_MIN, LIMITS_DATE_YEAR_MAX);
	if (!pbjson_days_valid(year, month, day))
		return pbjson_fail(w, PBJSON_BAD_FORMAT, "must be a calendar date YYYY-MM-DD");
	return 0;
}

int pbjson_check_time(struct pbjson_walk *w, int64_t unix_ms)
{
	if (unix_ms < LIMITS_TIME_MS_MIN || unix_ms > LIMITS_TIME_MS_MAX)
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE,
				   "must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z");
	return 0;
}

static int check_value(struct pbjson_walk *w, const ProtobufCFieldDescriptor *f,
		       const struct limits_field *lim, const void *slot)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		return pbjson_check_number(w, lim, *(const int32_t *)slot);
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		return pbjson_check_number(w, lim, *(const uint32_t *)slot);
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		return pbjson_check_number(w, lim, (double)*(const int64_t *)slot);
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return pbjson_check_number(w, lim, (double)*(const uint64_t *)slot);
	case PROTOBUF_C_TYPE_FLOAT:
		return pbjson_check_number(w, lim, *(const float *)slot);
	case PROTOBUF_C_TYPE_DOUBLE:
		return pbjson_check_number(w, lim, *(const double *)slot);
	case PROTOBUF_C_TYPE_BOOL:
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)slot) == NULL)
			return pbjson_fail(w, PBJSON_BAD_ENUM, "unknown value of %s",
					   ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name);
		return 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)slot;
		if (s == NULL)
			return pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is missing");
		return pbjson_check_string(w, lim, s, strlen(s));
	}
	case PROTOBUF_C_TYPE_BYTES: {
		size_t max = lim != NULL && lim->max_len ? lim->max_len : LIMITS_BYTES_MAX;
		if (((const ProtobufCBinaryData *)slot)->len > max)
			return pbjson_fail(w, PBJSON_TOO_LONG, "must be at most %zu bytes", max);
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
		if (sub == NULL)
			return pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is missing");
		return pbjson_check_message(w, sub);
	}
	}
	return pbjson_fail(w, PBJSON_WRONG_TYPE, "unsupported field type");
}

int pbjson_check_message(struct pbjson_walk *w, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *desc = msg->descriptor;
	int rc = 0;

	if (w->depth >= PBJSON_MAX_DEPTH)
		return pbjson_fail(w, PBJSON_OUT_OF_RANGE, "nested too deeply");
	if (pbjson_is_timestamp(desc)) {
		const int64_t *ms = PBJSON_MEMBER(msg, desc->fields[0].offset, const int64_t);
		return pbjson_check_time(w, *ms);
	}
	if (pbjson_is_date(desc)) {
		uint32_t y = *PBJSON_MEMBER(msg, desc->fields[0].offset, const uint32_t);
		uint32_t m = *PBJSON_MEMBER(msg, desc->fields[1].offset, const uint32_t);
		uint32_t d = *PBJSON_MEMBER(msg, desc->fields[2].offset, const uint32_t);
		return pbjson_check_date(w, y, m, d);
	}
	w->depth++;
	for (unsigned i = 0; i < desc->n_fields && rc == 0; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const struct limits_field *lim = pbjson_limits(desc, f);
		size_t mark = pbjson_path_field(w, f->name);

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *PBJSON_MEMBER(msg, f->quantifier_offset, const size_t);
			const char *arr = *PBJSON_MEMBER(msg, f->offset, const char *const);
			size_t size = pbjson_elem_size(f->type);

			rc = pbjson_check_count(w, lim, n);
			for (size_t k = 0; k < n && rc == 0; k++) {
				size_t inner = pbjson_path_index(w, k);
				rc = check_value(w, f, lim, arr + k * size);
				if (rc == 0)
					pbjson_path_pop(w, inner);
			}
		} else if (pbjson_field_present(msg, f)) {
			rc = check_value(w, f, lim, PBJSON_MEMBER(msg, f->offset, const char));
		} else if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
			rc = pbjson_fail(w, PBJSON_MISSING_FIELD, "required field is missing");
		}
		if (rc == 0)
			pbjson_path_pop(w, mark);
	}
	w->depth--;
	return rc;
}

int pbjson_check(const ProtobufCMessage *msg, const char *path_prefix, struct pbjson_error *err)
{
	struct pbjson_error scratch;
	struct pbjson_walk w;

	pbjson_walk_init(&w, err != NULL ? err : &scratch, path_prefix);
	if (msg == NULL)
		return LIMES_E_INVAL;
	return pbjson_check_message(&w, msg);
}
