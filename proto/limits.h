/*
 * Field limits for the JSON mapper and the body checker: maximum string
 * lengths, value ranges, array caps and named formats (country codes, HS
 * codes, UN/LOCODEs...), keyed by full protobuf field name. Internal to
 * proto/; the table itself lives in limits.c.
 */
#ifndef LIMES_PROTO_LIMITS_H
#define LIMES_PROTO_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#define LIMITS_STRING_MAX       256u   /* bytes, unless the field says otherwise */
#define LIMITS_TEXT_MAX         4096u  /* free text fields */
#define LIMITS_BYTES_MAX        1024u  /* decoded bytes fields */
#define LIMITS_ARRAY_MAX        99u    /* elements, unless the field says otherwise */
#define LIMITS_DATE_YEAR_MIN    1900u
#define LIMITS_DATE_YEAR_MAX    2199u
#define LIMITS_TIME_MS_MIN      0ll                  /* 1970-01-01T00:00:00.000Z */
#define LIMITS_TIME_MS_MAX      253402300799999ll    /* 9999-12-31T23:59:59.999Z */

enum limits_format {
	LIMITS_FORMAT_NONE = 0,
	LIMITS_FORMAT_COUNTRY,        /* ISO 3166-1 alpha-2, assigned code, upper case */
	LIMITS_FORMAT_HS_CODE,        /* 6 to 10 digits */
	LIMITS_FORMAT_UNLOCODE,       /* 2 letters + 3 of [A-Z2-9] */
	LIMITS_FORMAT_UN_NUMBER,      /* 4 digits */
	LIMITS_FORMAT_MRN,            /* 18: 2 digits, 2 letters, 14 [A-Z0-9] */
	LIMITS_FORMAT_CONTAINER,      /* ISO 6346 with check digit */
	LIMITS_FORMAT_VIN,            /* ISO 3779: 17 of [A-HJ-NPR-Z0-9] */
	LIMITS_FORMAT_PLATE,          /* [A-Z0-9], inner spaces and hyphens */
	LIMITS_FORMAT_CUSTOMS_OFFICE, /* 2 letters + 6 [A-Z0-9] */
	LIMITS_FORMAT_LANGUAGE,       /* BCP 47 tag, simple form */
	LIMITS_FORMAT_MESSAGE_ID,     /* 32 hex digits */
	LIMITS_FORMAT_PACKAGE_CODE,   /* UN/ECE Rec. 21: 2 of [A-Z0-9] */
	LIMITS_FORMAT_STATE,          /* ICAO 9303 Part 3: ISO 3166-1 alpha-3 or an ICAO code */
	LIMITS_FORMAT_ICAO_DOC_CODE,  /* ICAO 9303 document code: [PIACV] and an optional letter */
	LIMITS_FORMAT_MRZ_NUMBER,     /* MRZ document number: [A-Z0-9], no filler */
	LIMITS_FORMAT_SHA256,         /* 64 lower-case hex digits */
	LIMITS_FORMAT_SEAT,           /* seat or compartment: [A-Z0-9], inner hyphens */
};

struct limits_field {
	const char *field;            /* full name, "limes.Vehicle.vin" */
	enum limits_format format;
	size_t max_len;               /* bytes; 0 = LIMITS_STRING_MAX */
	bool multiline;               /* \n and \t allowed */
	bool has_range;
	bool min_exclusive;           /* value > min rather than >= min */
	double min, max;
	unsigned max_items;           /* repeated fields; 0 = LIMITS_ARRAY_MAX */
};

/* The limits of one field, or NULL for the defaults; static storage. */
const struct limits_field *limits_lookup(const char *message_name, const char *field_name);
/* Checks s (len bytes) against a format; 0 or negative LIMES_E_SCHEMA, *why set to static text. */
int limits_check_format(enum limits_format format, const char *s, size_t len, const char **why);
/* How many ISO 3166-1 alpha-3 codes the state check knows (for tests). */
size_t limits_iso_states_count(void);
/* Every entry of the table, for documentation and tests; static storage. */
const struct limits_field *limits_table(size_t *count);

#endif
