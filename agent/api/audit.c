/*
 * GET /v1/audit (admin clients): the audit trail as JSON lines, the same
 * records `limes audit export` writes (docs/audit.md): entries filtered by
 * since, until, msg, peer and from (seq), then, with checkpoints=yes, our
 * signed checkpoints with the countersignatures neighbours returned, and
 * the neighbours' checkpoints we countersigned (kept=PEER or kept=*).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_conn.h"
#include "api_int.h"
#include "crypto/audit.h"
#include "crypto/encode.h"
#include "proto/err.h"

#define AUDIT_DEFAULT_LIMIT 10000
#define AUDIT_MAX_LIMIT 1000000

struct lines {
	char *buf;
	size_t len, cap;
	bool nomem;
	const char *peer;       /* entries naming this peer only, or NULL */
	const char *me;         /* our agency id: the countersigner of kept checkpoints */
	struct store *store;
	size_t n;
};

static void add_line(struct lines *l, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n = text ? strlen(text) : 0;

	json_decref(o);
	if (!text) {
		l->nomem = true;
		return;
	}
	if (l->len + n + 2 > l->cap) {
		size_t cap = (l->cap ? 2 * l->cap : 65536) + n + 2;
		char *grown = realloc(l->buf, cap);
		if (!grown) {
			free(text);
			l->nomem = true;
			return;
		}
		l->buf = grown;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, text, n);
	l->len += n;
	l->buf[l->len++] = '\n';
	free(text);
	l->n++;
}

static int on_entry(void *arg, const struct store_audit_row *row)
{
	struct lines *l = arg;

	if (l->peer && !audit_entry_names_peer(row->bytes, row->len, l->peer))
		return 0;
	json_t *o = audit_entry_to_json(row->bytes, row->len, row->hash, row->hash_len);
	if (o)
		json_object_set_new(o, "stored_seq", json_integer((json_int_t)row->seq));
	add_line(l, o);
	return l->nomem;
}

struct cp_ctx {
	struct lines *l;
	const struct store_audit_checkpoint *cp;
};

static int on_countersig(void *arg, const char *peer, const uint8_t *cs, size_t len, uint64_t time_ms)
{
	struct cp_ctx *c = arg;
	(void)time_ms;
	if (len != AUDIT_SIG_LEN)
		return 0; /* verify reports it from the store; the API shows only well-formed ones */
	add_line(c->l, audit_checkpoint_to_json("countersignature", peer, c->cp->body, c->cp->body_len, c->cp->sig,
						 cs));
	return c->l->nomem;
}

static int on_checkpoint(void *arg, const struct store_audit_checkpoint *cp)
{
	struct lines *l = arg;

	add_line(l, audit_checkpoint_to_json("checkpoint", NULL, cp->body, cp->body_len, cp->sig, NULL));
	return l->nomem;
}

/* Countersignatures are listed per checkpoint after the checkpoint scan:
 * a store callback must not call into the store. */
struct seqs {
	struct store_audit_checkpoint *cps;
	uint8_t *bodies;
	size_t n, cap;
	bool nomem;
};

static int collect_cp(void *arg, const struct store_audit_checkpoint *cp)
{
	struct seqs *s = arg;
	if (cp->body_len > AUDIT_CHECKPOINT_MAX)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct store_audit_checkpoint *g = realloc(s->cps, cap * sizeof(*g));
		uint8_t *b = g ? realloc(s->bodies, cap * AUDIT_CHECKPOINT_MAX) : NULL;
		if (g)
			s->cps = g;
		if (!b) {
			s->nomem = true;
			return 1;
		}
		s->bodies = b;
		s->cap = cap;
	}
	s->cps[s->n] = *cp;
	memcpy(s->bodies + s->n * AUDIT_CHECKPOINT_MAX, cp->body, cp->body_len);
	s->n++;
	return 0;
}

static int on_kept(void *arg, const struct store_audit_kept *k)
{
	struct lines *l = arg;
	json_t *o = audit_checkpoint_to_json("kept", l->me, k->body, k->body_len, k->sig, k->countersig);
	if (o)
		json_object_set_new(o, "peer", json_string(k->peer));
	add_line(l, o);
	return l->nomem;
}

static const char *arg_of(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

struct key_check {
	const char *bad;
};

static enum MHD_Result check_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	static const char *const known[] = { "since", "until", "msg", "peer", "from", "limit", "checkpoints",
					     "kept" };
	struct key_check *k = cls;
	(void)kind;
	(void)value;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(key, known[i]) == 0)
			return MHD_YES;
	k->bad = key;
	return MHD_NO;
}

void api_audit_route(const struct api_deps *deps, struct MHD_Connection *conn, struct api_reply *r)
{
	struct store_audit_filter f;
	struct lines l;
	struct key_check kc = { NULL };
	const char *v;
	int rc = 0;

	memset(&f, 0, sizeof(f));
	memset(&l, 0, sizeof(l));
	l.store = deps->store;
	l.me = peers_config(deps->peers)->id;
	f.limit = AUDIT_DEFAULT_LIMIT;
	(void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, check_key, &kc);
	if (kc.bad) {
		api_json_error(r, 400, "unknown_field", "", "unknown parameter '%.64s' (known: since, until, msg, peer, "
			       "from, limit, checkpoints, kept)", kc.bad);
		return;
	}
	if ((v = arg_of(conn, "since")) && audit_parse_time(v, &f.since_ms) < 0) {
		api_json_error(r, 400, "bad_format", "since", "must be RFC 3339 UTC (2026-12-01T10:00:00Z) or unix ms");
		return;
	}
	if ((v = arg_of(conn, "until")) && audit_parse_time(v, &f.until_ms) < 0) {
		api_json_error(r, 400, "bad_format", "until", "must be RFC 3339 UTC (2026-12-01T10:00:00Z) or unix ms");
		return;
	}
	if ((v = arg_of(conn, "msg"))) {
		if (api_json_parse_id(v, f.id) < 0) {
			api_json_error(r, 400, "bad_format", "msg", "must be a message id (32 hex digits)");
			return;
		}
		f.has_id = true;
	}
	if ((v = arg_of(conn, "from"))) {
		char *end;
		errno = 0;
		f.from_seq = strtoull(v, &end, 10);
		if (*v < '0' || *v > '9' || *end || errno) {
			api_json_error(r, 400, "bad_format", "from", "must be an entry sequence number");
			return;
		}
	}
	if ((v = arg_of(conn, "limit"))) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		if (*v < '0' || *v > '9' || *end || n == 0 || n > AUDIT_MAX_LIMIT) {
			api_json_error(r, 400, "out_of_range", "limit", "must be a whole number from 1 to %d",
				       AUDIT_MAX_LIMIT);
			return;
		}
		f.limit = (size_t)n;
	}
	l.peer = arg_of(conn, "peer");
	rc = store_audit_list(deps->store, &f, on_entry, &l);
	v = arg_of(conn, "checkpoints");
	if (rc >= 0 && !l.nomem && v && strcmp(v, "yes") == 0) {
		struct seqs s = { 0 };
		rc = store_audit_checkpoints(deps->store, 0, collect_cp, &s);
		l.nomem |= s.nomem;
		for (size_t i = 0; rc >= 0 && !l.nomem && i < s.n; i++) {
			s.cps[i].body = s.bodies + i * AUDIT_CHECKPOINT_MAX;
			on_checkpoint(&l, &s.cps[i]);
			struct cp_ctx c = { &l, &s.cps[i] };
			rc = store_audit_countersigs(deps->store, s.cps[i].seq, on_countersig, &c);
		}
		free(s.cps);
		free(s.bodies);
	}
	v = arg_of(conn, "kept");
	if (rc >= 0 && !l.nomem && v)
		rc = store_audit_kept_list(deps->store, strcmp(v, "*") == 0 ? NULL : v, on_kept, &l);
	if (l.nomem) {
		free(l.buf);
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		return;
	}
	if (rc < 0) {
		free(l.buf);
		api_json_store_error(r, rc, "the store cannot be read: %s", limes_strerror(rc));
		return;
	}
	r->status = 200;
	r->body = l.buf ? l.buf : strdup("");
	r->len = l.len;
	r->content_type = "application/x-ndjson";
}
