/*
 * Internals shared by the mapper's files (pbjson.c maps, pbjson_check.c
 * validates, pbjson_text.c holds the text forms: enum names, RFC 3339,
 * dates, base64, UTF-8). Only proto/ includes this header.
 */
#ifndef LIMES_PROTO_PBJSON_IMPL_H
#define LIMES_PROTO_PBJSON_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/limits.h"
#include "proto/pbjson.h"

#define PBJSON_MAX_DEPTH 32

/* One step of the path below the walk's prefix: a field name (borrowed: a
 * descriptor's or a key of the document being walked) or, name NULL, an index. */
struct pbjson_path_frame {
	const char *name;
	size_t index;
};

/* Frames past this many are not kept: each adds at least two characters, so
 * by then the 255-character path is full and formatting them adds nothing. */
#define PBJSON_PATH_FRAMES 128

/* Where the walk is: the error being filled and the path as a stack of
 * frames, growing and shrinking as we descend. The text of the path is
 * written into err only when a field is refused (pbjson_fail), so a walk
 * that finds nothing wrong never formats one. */
struct pbjson_walk {
	struct pbjson_error *err;
	size_t prefix_len;     /* err->path holds the prefix, written once at init */
	size_t n_frames;       /* frames pushed, kept or not (see PBJSON_PATH_FRAMES) */
	struct pbjson_path_frame frames[PBJSON_PATH_FRAMES];
	int depth;
	/* Where JSON -> message allocates (NULL: the system allocator), and
	 * whether its strings may point into the JSON document rather than be
	 * copied (only with an arena: protobuf-c would free them otherwise). */
	ProtobufCAllocator *alloc;
	bool borrow_strings;
};

/*
 * A bump allocator for one message's life: a first block inside the struct
 * (a body of a few KiB fits, so most messages cost no malloc at all), then
 * malloc'd blocks chained behind it. Nothing is freed one by one; the whole
 * arena goes at once with pbjson_arena_release. Used where a message lives
 * only for one call (JSON -> packed body, decode-and-check of a received
 * body), so that its dozens of small pieces cost one pointer bump each.
 */
struct pbjson_arena_block;
struct pbjson_arena {
	ProtobufCAllocator allocator;      /* hands out of this arena; free is a no-op */
	struct pbjson_arena_block *blocks; /* malloc'd overflow blocks, newest first */
	char *next, *end;                  /* the free part of the current block */
	_Alignas(16) char first[4096];
};

/* Readies an arena (no allocation yet); its allocator is &arena->allocator. */
void pbjson_arena_init(struct pbjson_arena *a);
/* Frees every block of the arena; everything allocated from it is gone. */
void pbjson_arena_release(struct pbjson_arena *a);
/* Builds a message as pbjson_from_json does, from the arena; strings point
 * into json, which must outlive the message. Free the arena, not the message. */
int pbjson_from_json_arena(const ProtobufCMessageDescriptor *desc, const json_t *json,
			   const char *path_prefix, struct pbjson_arena *arena,
			   ProtobufCMessage **out, struct pbjson_error *err);

/* Fills err from jansson's parse error; LIMES_E_NOMEM or LIMES_E_SCHEMA. */
int pbjson_parse_failed(struct pbjson_error *err, const json_error_t *jerr);

#define PBJSON_MEMBER(msg, off, type) ((type *)(void *)((char *)(msg) + (off)))

/* Starts a walk at prefix, clearing err. */
void pbjson_walk_init(struct pbjson_walk *w, struct pbjson_error *err, const char *prefix);
/* Records the error at the current path (formatting it now); returns LIMES_E_SCHEMA. */
int pbjson_fail(struct pbjson_walk *w, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Appends ".name" (shown with unprintable bytes as '?'); borrows name until
 * it is popped or the walk ends; returns the mark to restore. */
size_t pbjson_path_field(struct pbjson_walk *w, const char *name);
/* Appends "[index]"; returns the mark to restore. */
size_t pbjson_path_index(struct pbjson_walk *w, size_t index);
/* The current mark, to restore later with pbjson_path_pop. */
size_t pbjson_path_mark(const struct pbjson_walk *w);
/* Cuts the path back to mark, as returned by a push or pbjson_path_mark. */
void pbjson_path_pop(struct pbjson_walk *w, size_t mark);

/* The limits of field f of desc (limits_lookup), remembered per field
 * descriptor in a small per-thread cache: descriptors are static, so their
 * addresses name them for the life of the process. */
const struct limits_field *pbjson_limits(const ProtobufCMessageDescriptor *desc,
					 const ProtobufCFieldDescriptor *f);
/* Bytes one element of a field of this type takes in a protobuf-c struct or array. */
size_t pbjson_elem_size(ProtobufCType type);
/* True for limes.Timestamp, which maps to an RFC 3339 string; borrows desc. */
bool pbjson_is_timestamp(const ProtobufCMessageDescriptor *desc);
/* True for limes.Date, which maps to "YYYY-MM-DD"; borrows desc. */
bool pbjson_is_date(const ProtobufCMessageDescriptor *desc);
/* True when a singular field is set in msg (has_ flag, non-NULL pointer, oneof case). */
bool pbjson_field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f);

/* Validation shared by both directions; each returns 0 or LIMES_E_SCHEMA with w's error set. */
/* A string's length, UTF-8, control characters and format; borrows s. */
int pbjson_check_string(struct pbjson_walk *w, const struct limits_field *lim,
			const char *s, size_t len);
/* A number is finite and within the field's range. */
int pbjson_check_number(struct pbjson_walk *w, const struct limits_field *lim, double v);
/* An array has at most the field's number of elements. */
int pbjson_check_count(struct pbjson_walk *w, const struct limits_field *lim, size_t n);
/* A Date is a calendar day within the supported years. */
int pbjson_check_date(struct pbjson_walk *w, uint32_t year, uint32_t month, uint32_t day);
/* A Timestamp is within 1970..9999. */
int pbjson_check_time(struct pbjson_walk *w, int64_t unix_ms);
/* Every present field of a decoded message, recursively; borrows msg. */
int pbjson_check_message(struct pbjson_walk *w, const ProtobufCMessage *msg);

/* Text forms. */
/* True when s (len bytes) is well-formed UTF-8: no overlongs, surrogates or values past U+10FFFF. */
bool pbjson_utf8_ok(const char *s, size_t len);
/* Value of an enum from its JSON name, case-insensitive; 0 or LIMES_E_NOTFOUND. */
int pbjson_enum_parse(const ProtobufCEnumDescriptor *desc, const char *name, size_t len, int *value);
/* Comma-separated JSON names of every value of the enum into buf (truncated if need be). */
void pbjson_enum_list(const ProtobufCEnumDescriptor *desc, char *buf, size_t size);
/* True when year-month-day is a day of the proleptic Gregorian calendar. */
bool pbjson_days_valid(uint32_t year, uint32_t month, uint32_t day);
/* Parses RFC 3339; 0, or LIMES_E_SCHEMA with *code set (bad_format or out_of_range). */
int pbjson_time_parse(const char *s, size_t len, int64_t *unix_ms, int *code);
/* "2026-11-26T18:43:27.120Z" for unix_ms within the limits; buf at least 32 bytes. */
int pbjson_time_format(int64_t unix_ms, char *buf, size_t size);
/* Parses "YYYY-MM-DD" (digits and dashes only; the calendar is checked separately). */
int pbjson_date_parse(const char *s, size_t len, uint32_t *year, uint32_t *month, uint32_t *day);
/* Standard base64 with padding; *out is the caller's (free); NULL with *out_len 0 for "". */
int pbjson_b64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);
/* Standard base64 with padding into a new NUL-terminated string, the caller's (free). */
char *pbjson_b64_encode(const uint8_t *data, size_t len);

#endif
