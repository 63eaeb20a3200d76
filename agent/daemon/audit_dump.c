/*
 * `limes-agent audit-dump -c FILE ...`: the audit trail read from the store
 * of a stopped agent (SQLite: opened as it is, nothing created, migrated or
 * written), or from the agency's PostgreSQL database in a read-only session
 * whether a node runs or not, and printed as the JSON lines of
 * docs/audit.md. `limes audit` runs it: the CLI links neither SQLite nor
 * libpq, the daemon does.
 * Entry records add the store's own row number (stored_seq), so a verifier
 * sees rows deleted, inserted or swapped, not only bytes changed.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/audit.h"
#include "crypto/encode.h"
#include "crypto/secret.h"
#include "daemon/daemon.h"
#include "proto/err.h"
#include "store/store.h"

#include "storeconf.h"

enum { DUMP_OK = 0, DUMP_FAILED = 1, DUMP_BUSY = 75, DUMP_USAGE = 64, DUMP_CONFIG = 78 };

struct dump {
	const char *peer;
	bool failed;
	const char *me;
};

static void put(struct dump *d, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!text)
		d->failed = true;
	else
		puts(text);
	free(text);
	json_decref(o);
}

static int on_entry(void *arg, const struct store_audit_row *row)
{
	struct dump *d = arg;
	if (d->peer && !audit_entry_names_peer(row->bytes, row->len, d->peer))
		return 0;
	json_t *o = audit_entry_to_json(row->bytes, row->len, row->hash, row->hash_len);
	if (o)
		json_object_set_new(o, "stored_seq", json_integer((json_int_t)row->seq));
	put(d, o);
	return d->failed;
}

struct cps {
	struct store_audit_checkpoint *c;
	uint8_t (*bodies)[AUDIT_CHECKPOINT_MAX];
	size_t n, cap;
	bool nomem;
};

static int collect_cp(void *arg, const struct store_audit_checkpoint *cp)
{
	struct cps *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct store_audit_checkpoint *g = realloc(c->c, cap * sizeof(*g));
		if (g)
			c->c = g;
		uint8_t(*b)[AUDIT_CHECKPOINT_MAX] = g ? realloc(c->bodies, cap * sizeof(*b)) : NULL;
		if (!b) {
			c->nomem = true;
			return 1;
		}
		c->bodies = b;
		c->cap = cap;
	}
	c->c[c->n] = *cp;
	/* an oversized body is cut: its signature then fails, as it should */
	size_t len = cp->body_len < AUDIT_CHECKPOINT_MAX ? cp->body_len : AUDIT_CHECKPOINT_MAX;
	memcpy(c->bodies[c->n], cp->body, len);
	c->c[c->n].body_len = len;
	c->n++;
	return 0;
}

struct cs_ctx {
	struct dump *d;
	const struct store_audit_checkpoint *cp;
	const uint8_t *body;
};

static int on_countersig(void *arg, const char *peer, const uint8_t *cs, size_t len, uint64_t time_ms)
{
	struct cs_ctx *c = arg;
	uint8_t sig[AUDIT_SIG_LEN] = { 0 };
	(void)time_ms;
	memcpy(sig, cs, len < AUDIT_SIG_LEN ? len : AUDIT_SIG_LEN);
	put(c->d, audit_checkpoint_to_json("countersignature", peer, c->body, c->cp->body_len, c->cp->sig, sig));
	return c->d->failed;
}

static int on_kept(void *arg, const struct store_audit_kept *k)
{
	struct dump *d = arg;
	json_t *o = audit_checkpoint_to_json("kept", d->me, k->body, k->body_len, k->sig, k->countersig);
	if (o)
		json_object_set_new(o, "peer", json_string(k->peer));
	put(d, o);
	return d->failed;
}

int agent_audit_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "from", required_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' }, { "until", required_argument, NULL, 'u' },
		{ "msg", required_argument, NULL, 'm' }, { "peer", required_argument, NULL, 'p' },
		{ "kept", required_argument, NULL, 'k' }, { "checkpoints", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct store_audit_filter f;
	struct dump d = { 0 };
	const char *file = NULL, *kept = NULL;
	bool checkpoints = false;
	char err[CONFIG_ERR_MAX];
	int c, rc = 0, e = 0;

	memset(&f, 0, sizeof(f));
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'f': {
			char *end;
			errno = 0;
			f.from_seq = strtoull(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || errno) {
				fprintf(stderr, "limes-agent audit-dump: --from: '%s' is not an entry number\n", optarg);
				return DUMP_USAGE;
			}
			break;
		}
		case 's':
		case 'u':
			if (audit_parse_time(optarg, c == 's' ? &f.since_ms : &f.until_ms) < 0) {
				fprintf(stderr, "limes-agent audit-dump: bad time '%s'\n", optarg);
				return DUMP_USAGE;
			}
			break;
		case 'm':
			if (strlen(optarg) != 32 || encode_unhex(f.id, sizeof(f.id), optarg, 32) < 0) {
				fprintf(stderr, "limes-agent audit-dump: bad message id '%s'\n", optarg);
				return DUMP_USAGE;
			}
			f.has_id = true;
			break;
		case 'p': d.peer = optarg; break;
		case 'k': kept = optarg; break;
		case 'C': checkpoints = true; break;
		default: return DUMP_USAGE;
		}
	}
	if (!file || optind != argc) {
		fprintf(stderr, "usage: limes-agent audit-dump -c FILE [--from SEQ] [--since T] [--until T] [--msg ID] "
				"[--peer ID] [--checkpoints] [--kept PEER|*]\n");
		return DUMP_USAGE;
	}
	struct config *cfg = config_load(file, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "limes audit: %s\n", err);
		return DUMP_CONFIG;
	}
	d.me = cfg->id;
	/* SQLite: the file of a stopped agent; PostgreSQL: one read-only
	 * snapshot of the agency's database, whether or not a node runs */
	struct store_settings settings;
	char conninfo[4096];
	struct store *s = NULL;
	const char *where = cfg->store_backend == 1 ? "[store] postgres" : cfg->data_dir;
	if (storeconf_settings(cfg, &settings, conninfo, sizeof(conninfo), err, sizeof(err)) < 0) {
		fprintf(stderr, "limes audit: %s\n", err);
		config_destroy(&cfg);
		return DUMP_CONFIG;
	}
	s = store_open_existing_with(&settings, &e);
	secret_wipe(conninfo, sizeof(conninfo));
	uint64_t head;
	uint8_t hash[32];
	if (s)
		e = store_audit_head(s, &head, hash);
	if (!s || e < 0) {
		fprintf(stderr, "limes audit: %s: cannot read the store%s: %s\n", where,
			e == LIMES_E_AGAIN ? " (the agent is running: use the API)" : "", limes_strerror(e));
		store_destroy(&s);
		config_destroy(&cfg);
		return e == LIMES_E_AGAIN ? DUMP_BUSY : DUMP_FAILED;
	}
	rc = store_audit_list(s, &f, on_entry, &d);
	if (rc >= 0 && !d.failed && checkpoints) {
		struct cps cp = { 0 };
		rc = store_audit_checkpoints(s, 0, collect_cp, &cp);
		d.failed |= cp.nomem;
		for (size_t i = 0; rc >= 0 && !d.failed && i < cp.n; i++) {
			cp.c[i].body = cp.bodies[i];
			put(&d, audit_checkpoint_to_json("checkpoint", NULL, cp.bodies[i], cp.c[i].body_len, cp.c[i].sig,
							 NULL));
			struct cs_ctx cc = { &d, &cp.c[i], cp.bodies[i] };
			rc = store_audit_countersigs(s, cp.c[i].seq, on_countersig, &cc);
		}
		free(cp.c);
		free(cp.bodies);
	}
	if (rc >= 0 && !d.failed && kept)
		rc = store_audit_kept_list(s, strcmp(kept, "*") == 0 ? NULL : kept, on_kept, &d);
	store_destroy(&s);
	config_destroy(&cfg);
	if (rc < 0 || d.failed) {
		fprintf(stderr, "limes audit: cannot read the trail: %s\n", rc < 0 ? limes_strerror(rc) : "out of memory");
		return DUMP_FAILED;
	}
	return fflush(stdout) == 0 ? DUMP_OK : DUMP_FAILED;
}
