/*
 * Text forms of the JSON mapping: enum value names, RFC 3339 timestamps,
 * calendar dates, base64 and UTF-8 validation. Pure functions, no state.
 */
#include "pbjson_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

/* ------------------------------------------------------------ UTF-8 */

bool pbjson_utf8_ok(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* ------------------------------------------------------------ enums */

static char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c; }
static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }
static bool is_up(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_low_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* AlertCategory -> "ALERT_CATEGORY_": the prefix every value name carries. */
static size_t enum_prefix(const ProtobufCEnumDescriptor *desc, char *buf, size_t size)
{
	const char *name = desc->short_name;
	size_t n = 0;

	for (size_t i = 0; name[i] != '\0' && n + 3 < size; i++) {
		if (i > 0 && is_up(name[i]) &&
		    (is_low_or_digit(name[i - 1]) ||
		     (is_up(name[i - 1]) && name[i + 1] != '\0' && !is_up(name[i + 1]))))
			buf[n++] = '_';
		buf[n++] = upper(name[i]);
	}
	buf[n++] = '_';
	buf[n] = '\0';
	return n;
}

/* The value name without its prefix; the whole name if it lacks the prefix. */
static const char *enum_stem(const ProtobufCEnumDescriptor *desc, const char *value_name)
{
	char prefix[128];
	size_t n = enum_prefix(desc, prefix, sizeof(prefix));

	if (strncmp(value_name, prefix, n) == 0 && value_name[n] != '\0')
		return value_name + n;
	return value_name;
}

int pbjson_enum_name(const ProtobufCEnumDescriptor *desc, int value, char *buf, size_t size)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	const char *stem;
	size_t len;

	if (v == NULL || size == 0)
		return LIMES_E_NOTFOUND;
	stem = enum_stem(desc, v->name);
	len = strlen(stem);
	if (len >= size)
		return LIMES_E_NOTFOUND;
	/* Short stems are codes users know in upper case ("H0", "A", "1"); words read in lower case. */
	for (size_t i = 0; i <= len; i++)
		buf[i] = len <= 2 ? stem[i] : lower(stem[i]);
	return 0;
}

int pbjson_enum_parse(const ProtobufCEnumDescriptor *desc, const char *name, size_t len, int *value)
{
	for (unsigned i = 0; i < desc->n_values; i++) {
		const char *stem = enum_stem(desc, desc->values[i].name);
		size_t k = 0;

		while (k < len && stem[k] != '\0' && lower(stem[k]) == lower(name[k]))
			k++;
		if (k == len && stem[k] == '\0') {
			*value = desc->values[i].value;
			return 0;
		}
	}
	return LIMES_E_NOTFOUND;
}

void pbjson_enum_list(const ProtobufCEnumDescriptor *desc, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < desc->n_values && used < size; i++) {
		char name[128];
		int n;

		if (pbjson_enum_name(desc, desc->values[i].value, name, sizeof(name)) != 0)
			continue;
		n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
		if (n < 0 || (size_t)n >= size - used) {
			/* never cut a name in half: end the list at the last whole one */
			buf[used] = '\0';
			break;
		}
		used += (size_t)n;
	}
}

/* ------------------------------------------------------------ dates and times */

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : dim[m - 1];
}

bool pbjson_days_valid(uint32_t year, uint32_t month, uint32_t day)
{
	return month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* n decimal digits at s[*pos]; advances *pos. */
static bool digits(const char *s, size_t len, size_t *pos, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (len - *pos < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[*pos + i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*pos += n;
	*out = v;
	return true;
}

static bool expect(const char *s, size_t len, size_t *pos, const char *any)
{
	if (*pos >= len || s[*pos] == '\0' || strchr(any, s[*pos]) == NULL)
		return false;
	(*pos)++;
	return true;
}

int pbjson_date_parse(const char *s, size_t len, uint32_t *year, uint32_t *month, uint32_t *day)
{
	size_t pos = 0;
	unsigned y, m, d;

	if (!digits(s, len, &pos, 4, &y) || !expect(s, len, &pos, "-") ||
	    !digits(s, len, &pos, 2, &m) || !expect(s, len, &pos, "-") ||
	    !digits(s, len, &pos, 2, &d) || pos != len)
		return LIMES_E_SCHEMA;
	*year = y;
	*month = m;
	*day = d;
	return 0;
}

int pbjson_time_parse(const char *s, size_t len, int64_t *unix_ms, int *code)
{
	size_t pos = 0;
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0, ms = 0;
	int sign = 0;
	int64_t secs;

	*code = PBJSON_BAD_FORMAT;
	if (!digits(s, len, &pos, 4, &y) || !expect(s, len, &pos, "-") ||
	    !digits(s, len, &pos, 2, &mo) || !expect(s, len, &pos, "-") ||
	    !digits(s, len, &pos, 2, &d) || !expect(s, len, &pos, "Tt") ||
	    !digits(s, len, &pos, 2, &h) || !expect(s, len, &pos, ":") ||
	    !digits(s, len, &pos, 2, &mi) || !expect(s, len, &pos, ":") ||
	    !digits(s, len, &pos, 2, &sec))
		return LIMES_E_SCHEMA;
	if (pos < len && s[pos] == '.') {
		size_t start = ++pos;
		/* Keep milliseconds; finer digits are truncated, at most nanoseconds accepted. */
		while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
			if (pos - start < 3)
				ms = ms * 10 + (unsigned)(s[pos] - '0');
			pos++;
		}
		if (pos == start || pos - start > 9)
			return LIMES_E_SCHEMA;
		for (size_t k = pos - start; k < 3; k++)
			ms *= 10;
	}
	if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
		pos++;
	} else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
		sign = s[pos] == '+' ? 1 : -1;
		pos++;
		if (!digits(s, len, &pos, 2, &oh) || !expect(s, len, &pos, ":") ||
		    !digits(s, len, &pos, 2, &om) || oh > 23 || om > 59)
			return LIMES_E_SCHEMA;
	} else {
		return LIMES_E_SCHEMA;
	}
	if (pos != len || !pbjson_days_valid(y, mo, d) || h > 23 || mi > 59 || sec > 59)
		return LIMES_E_SCHEMA;
	secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	       sign * (int64_t)(oh * 3600 + om * 60);
	*unix_ms = secs * 1000 + ms;
	if (*unix_ms < LIMITS_TIME_MS_MIN || *unix_ms > LIMITS_TIME_MS_MAX) {
		*code = PBJSON_OUT_OF_RANGE;
		return LIMES_E_SCHEMA;
	}
	*code = PBJSON_OK;
	return 0;
}

int pbjson_time_format(int64_t unix_ms, char *buf, size_t size)
{
	int64_t days, rem, y;
	unsigned m, d;
	int n;

	if (unix_ms < LIMITS_TIME_MS_MIN || unix_ms > LIMITS_TIME_MS_MAX)
		return LIMES_E_SCHEMA;
	days = unix_ms / 86400000;
	rem = unix_ms % 86400000;
	civil_from_days(days, &y, &m, &d);
	n = snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d,
		     (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
		     (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
	return n > 0 && (size_t)n < size ? 0 : LIMES_E_INVAL;
}

/* ------------------------------------------------------------ base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

char *pbjson_b64_encode(const uint8_t *data, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16;
		if (i + 1 < len) v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < len) v |= data[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

int pbjson_b64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
	uint8_t *buf;
	size_t o = 0, pad = 0;

	*out = NULL;
	*out_len = 0;
	if (len % 4 != 0)
		return LIMES_E_SCHEMA;
	if (len == 0)
		return 0;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	buf = malloc(len / 4 * 3);
	if (buf == NULL)
		return LIMES_E_NOMEM;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		bool last = i + 4 == len;
		for (int k = 0; k < 4; k++) {
			v[k] = b64_value(s[i + k]);
			if (v[k] < 0 && !(last && k >= 4 - (int)pad))
				goto bad;
			if (v[k] < 0)
				v[k] = 0;
		}
		uint32_t triple = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
				  (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Canonical form only: the bits under the padding must be zero. */
		if (last && ((pad == 1 && (triple & 0xff)) || (pad == 2 && (triple & 0xffff))))
			goto bad;
		buf[o++] = (uint8_t)(triple >> 16);
		if (!last || pad < 2) buf[o++] = (uint8_t)(triple >> 8);
		if (!last || pad < 1) buf[o++] = (uint8_t)triple;
	}
	*out = buf;
	*out_len = o;
	return 0;
bad:
	free(buf);
	return LIMES_E_SCHEMA;
}
