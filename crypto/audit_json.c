/*
 * The audit trail as JSON lines: one object per entry, checkpoint or kept
 * countersigned checkpoint, the form `limes audit export` writes and
 * GET /v1/audit answers (docs/audit.md). Each line carries the exact bytes
 * (hex) beside their decoded fields, so an auditor verifies the bytes and
 * reads the fields without Limes. Also the time and peer filters both use.
 */
#define _GNU_SOURCE /* timegm */
#include "crypto/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/encode.h"
#include "proto/err.h"

static json_t *hex_value(const uint8_t *bytes, size_t len)
{
	char *buf = malloc(2 * len + 1);
	json_t *v;

	if (!buf)
		return NULL;
	if (encode_hex(buf, 2 * len + 1, bytes, len) < 0) {
		free(buf);
		return NULL;
	}
	v = json_string(buf);
	free(buf);
	return v;
}

static json_t *time_value(uint64_t ms)
{
	char buf[96];
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
	return json_string(buf);
}

struct to_json {
	json_t *obj;
	json_t *cur;               /* where fields go: obj, or a batch's current message */
	bool batch;
	bool nomem;
};

/* In a batch entry an id opens the next object of "messages". */
static int open_message(struct to_json *t)
{
	json_t *msgs = json_object_get(t->obj, "messages");
	json_t *m = json_object();

	if (!msgs) {
		msgs = json_array();
		if (!msgs || json_object_set_new(t->obj, "messages", msgs) < 0)
			msgs = NULL;
	}
	if (!m || !msgs || json_array_append_new(msgs, m) < 0) {
		t->nomem = true;
		return 1;
	}
	t->cur = m;
	return 0;
}

static int field_to_json(void *arg, int tag, const uint8_t *value, size_t len)
{
	struct to_json *t = arg;
	const char *name = audit_tag_name(tag);
	json_t *v = NULL;

	if (t->batch && tag == AUDIT_T_ID && open_message(t))
		return 1;

	switch (audit_tag_form(tag)) {
	case AUDIT_TEXT:
		v = json_stringn((const char *)value, len);
		if (!v) /* not UTF-8: shown as hex, still verifiable from the bytes */
			v = hex_value(value, len);
		break;
	case AUDIT_U64: {
		uint64_t n = 0;
		for (size_t i = 0; i < 8; i++)
			n = (n << 8) | value[i];
		v = json_integer((json_int_t)n);
		break;
	}
	default:
		v = hex_value(value, len);
		break;
	}
	if (!v) {
		t->nomem = true;
		return 1;
	}
	/* a repeated field (recipients, the ids of a read) becomes an array */
	json_t *had = json_object_get(t->cur, name);
	if (!had)
		return json_object_set_new(t->cur, name, v) < 0 ? (t->nomem = true, 1) : 0;
	if (!json_is_array(had)) {
		json_t *arr = json_array();
		if (!arr || json_array_append(arr, had) < 0 || json_object_set_new(t->cur, name, arr) < 0) {
			json_decref(arr);
			json_decref(v);
			t->nomem = true;
			return 1;
		}
		had = arr;
	}
	return json_array_append_new(had, v) < 0 ? (t->nomem = true, 1) : 0;
}

json_t *audit_entry_to_json(const uint8_t *entry, size_t len, const uint8_t *hash, size_t hash_len)
{
	struct audit_head head;
	struct to_json t = { json_object(), NULL, false, false };
	char why[160];

	if (!t.obj)
		return NULL;
	t.cur = t.obj;
	if (audit_entry_parse(entry, len, &head, NULL, NULL, why, sizeof(why)) == 0) {
		json_object_set_new(t.obj, "record", json_string("entry"));
		json_object_set_new(t.obj, "seq", json_integer((json_int_t)head.seq));
		json_object_set_new(t.obj, "time", time_value(head.time_ms));
		json_object_set_new(t.obj, "kind", json_string(audit_kind_name(head.kind)));
		t.batch = audit_kind_is_batch(head.kind);
		(void)audit_entry_parse(entry, len, &head, field_to_json, &t, why, sizeof(why));
		json_object_set_new(t.obj, "prev", hex_value(head.prev, AUDIT_HASH_LEN));
	} else {
		json_object_set_new(t.obj, "record", json_string("entry"));
		json_object_set_new(t.obj, "malformed", json_string(why));
	}
	json_object_set_new(t.obj, "hash", hex_value(hash, hash_len));
	json_object_set_new(t.obj, "bytes", hex_value(entry, len));
	if (t.nomem) {
		json_decref(t.obj);
		return NULL;
	}
	return t.obj;
}

json_t *audit_checkpoint_to_json(const char *record, const char *peer, const uint8_t *body, size_t len,
				 const uint8_t sig[AUDIT_SIG_LEN], const uint8_t *countersig)
{
	char agent[65];
	uint64_t seq = 0, time_ms = 0;
	uint8_t head[AUDIT_HASH_LEN];
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "record", json_string(record));
	if (audit_checkpoint_parse(body, len, agent, &seq, head, &time_ms) == 0) {
		json_object_set_new(o, "agent", json_string(agent));
		json_object_set_new(o, "seq", json_integer((json_int_t)seq));
		json_object_set_new(o, "head", hex_value(head, AUDIT_HASH_LEN));
		json_object_set_new(o, "time", time_value(time_ms));
	} else {
		json_object_set_new(o, "malformed", json_string("checkpoint body does not parse"));
	}
	if (peer)
		json_object_set_new(o, "countersigner", json_string(peer));
	json_object_set_new(o, "body", hex_value(body, len));
	json_object_set_new(o, "sig", hex_value(sig, AUDIT_SIG_LEN));
	if (countersig)
		json_object_set_new(o, "countersig", hex_value(countersig, AUDIT_SIG_LEN));
	return o;
}

bool audit_entry_names_peer(const uint8_t *entry, size_t len, const char *peer)
{
	size_t n = strlen(peer);
	size_t off = AUDIT_ENTRY_HEAD_LEN;

	/* a malformed field simply does not match: verify says what is wrong */
	while (off + 3 <= len) {
		int tag = entry[off];
		size_t vlen = ((size_t)entry[off + 1] << 8) | entry[off + 2];
		if (off + 3 + vlen > len)
			return false;
		if ((tag == AUDIT_T_PEER || tag == AUDIT_T_RECIPIENT || tag == AUDIT_T_AUTHOR) && vlen == n &&
		    memcmp(entry + off + 3, peer, n) == 0)
			return true;
		off += 3 + vlen;
	}
	return false;
}

int audit_parse_time(const char *text, uint64_t *ms)
{
	struct tm tm;
	const char *rest;
	char *end;
	unsigned long long v;
	unsigned frac = 0;

	if (!text || !*text)
		return LIMES_E_INVAL;
	/* plain digits: unix milliseconds */
	errno = 0;
	v = strtoull(text, &end, 10);
	if (!errno && *end == '\0' && text[0] >= '0' && text[0] <= '9') {
		*ms = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest) {
		memset(&tm, 0, sizeof(tm));
		rest = strptime(text, "%Y-%m-%d", &tm);
		if (!rest || *rest)
			return LIMES_E_INVAL;
	} else {
		if (*rest == '.') {
			unsigned scale = 100;
			rest++;
			while (*rest >= '0' && *rest <= '9') {
				frac += (unsigned)(*rest - '0') * scale;
				scale /= 10;
				rest++;
			}
		}
		if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
			return LIMES_E_INVAL;
	}
	time_t secs = timegm(&tm);
	if (secs < 0)
		return LIMES_E_INVAL;
	*ms = (uint64_t)secs * 1000 + frac;
	return 0;
}
