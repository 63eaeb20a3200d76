/*
 * `limes audit verify|export|show`. The trail comes as the JSON lines of
 * docs/audit.md: from a stopped agent's store through `limes-agent
 * audit-dump` (the CLI links no SQLite), from a running agent through
 * GET /v1/audit, or (verify) from an exported file. verify checks every
 * entry's bytes, hash and chain link, every checkpoint's signature and head
 * and every countersignature, and compares with a neighbour's countersigned
 * copies (--neighbour FILE: its `limes audit export --kept OUR-ID`); it names
 * the first bad entry and why, and exits non-zero on any fault. It reads
 * only what an independent verifier would: the JSON lines.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "config/config.h"
#include "crypto/audit.h"
#include "crypto/encode.h"
#include "crypto/identity.h"
#include "proto/err.h"
#include "proto/wire.h"

/* ------------------------------------------------------------ records */

struct entry {
	uint64_t stored_seq;     /* the store's row number (the bytes' seq when not given) */
	uint8_t *bytes;
	size_t len;
	uint8_t hash[AUDIT_HASH_LEN];
	bool hash_ok;            /* the stored hash field was 32 bytes of hex */
};

struct checkpoint {
	uint8_t body[AUDIT_CHECKPOINT_MAX];
	size_t body_len;
	uint8_t sig[AUDIT_SIG_LEN];
	char countersigner[65];  /* "" for our own checkpoint record */
	uint8_t countersig[AUDIT_SIG_LEN];
};

struct records {
	struct entry *e;
	size_t n, cap;
	struct checkpoint *c;
	size_t nc, capc;
	bool nomem;
	unsigned bad_lines;
};

static void records_free(struct records *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->e[i].bytes);
	free(r->e);
	free(r->c);
	memset(r, 0, sizeof(*r));
}

/* Hex field `key` of o: exactly `len` bytes, or (len 0) up to cap with *got. */
static int json_hex(const json_t *o, const char *key, uint8_t *out, size_t len, size_t cap, size_t *got)
{
	const char *s = json_string_value(json_object_get(o, key));
	size_t n = s ? strlen(s) : 0;

	if (!s || n % 2 || (len && n != 2 * len) || (!len && n / 2 > cap))
		return LIMES_E_INVAL;
	if (n && encode_unhex(out, n / 2, s, n) < 0)
		return LIMES_E_INVAL;
	if (got)
		*got = n / 2;
	return 0;
}

/* Takes one JSON line into r; lines that are not audit records are counted. */
static void records_add(struct records *r, const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	const char *rec = o ? json_string_value(json_object_get(o, "record")) : NULL;

	if (!rec) {
		r->bad_lines++;
		goto out;
	}
	if (strcmp(rec, "entry") == 0) {
		const char *hex = json_string_value(json_object_get(o, "bytes"));
		size_t n = hex ? strlen(hex) / 2 : 0;
		if (r->n == r->cap) {
			size_t cap = r->cap ? 2 * r->cap : 1024;
			struct entry *g = realloc(r->e, cap * sizeof(*g));
			if (!g) {
				r->nomem = true;
				goto out;
			}
			r->e = g;
			r->cap = cap;
		}
		struct entry *e = &r->e[r->n];
		memset(e, 0, sizeof(*e));
		e->bytes = malloc(n ? n : 1);
		if (!e->bytes) {
			r->nomem = true;
			goto out;
		}
		if (json_hex(o, "bytes", e->bytes, 0, n, &e->len) < 0)
			e->len = 0; /* reported as malformed */
		e->hash_ok = json_hex(o, "hash", e->hash, AUDIT_HASH_LEN, 0, NULL) == 0;
		json_t *ss = json_object_get(o, "stored_seq");
		e->stored_seq = ss ? (uint64_t)json_integer_value(ss)
				   : (uint64_t)json_integer_value(json_object_get(o, "seq"));
		r->n++;
	} else if (strcmp(rec, "checkpoint") == 0 || strcmp(rec, "countersignature") == 0) {
		if (r->nc == r->capc) {
			size_t cap = r->capc ? 2 * r->capc : 64;
			struct checkpoint *g = realloc(r->c, cap * sizeof(*g));
			if (!g) {
				r->nomem = true;
				goto out;
			}
			r->c = g;
			r->capc = cap;
		}
		struct checkpoint *c = &r->c[r->nc];
		memset(c, 0, sizeof(*c));
		if (json_hex(o, "body", c->body, 0, sizeof(c->body), &c->body_len) < 0 ||
		    json_hex(o, "sig", c->sig, AUDIT_SIG_LEN, 0, NULL) < 0) {
			r->bad_lines++;
			goto out;
		}
		if (rec[1] == 'o') { /* countersignature */
			const char *who = json_string_value(json_object_get(o, "countersigner"));
			if (!who || strlen(who) > 64 || json_hex(o, "countersig", c->countersig, AUDIT_SIG_LEN, 0, NULL) < 0) {
				r->bad_lines++;
				goto out;
			}
			snprintf(c->countersigner, sizeof(c->countersigner), "%s", who);
		}
		r->nc++;
	}
out:
	json_decref(o);
}

static int read_lines(FILE *f, struct records *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, f)) > 0 && !r->nomem)
		if (line[strspn(line, " \t\r\n")] != '\0')
			records_add(r, line);
	free(line);
	return r->nomem ? LIMES_E_NOMEM : 0;
}

/* The trail from a stopped agent's store (limes-agent audit-dump); 75
 * (CLI_TEMPFAIL) when the agent is running. */
static int from_store(const char *file, char *const *extra, struct records *r, FILE *out)
{
	char *args[24] = { "limes-agent", "audit-dump", "-c", (char *)file };
	size_t n = 4;
	pid_t pid;

	for (size_t i = 0; extra && extra[i] && n < 23; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	FILE *f = cli_spawn_sibling("limes-agent", args, &pid);
	if (!f) {
		fprintf(stderr, "limes audit: cannot run limes-agent audit-dump\n");
		return CLI_SOFTWARE;
	}
	int rc = 0;
	if (out) {
		char buf[65536];
		size_t got;
		while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, got, out);
	} else {
		rc = read_lines(f, r);
	}
	fclose(f);
	int status = cli_wait_sibling(pid);
	if (status)
		return status == 75 ? CLI_TEMPFAIL : CLI_FAILED;
	return rc < 0 ? CLI_SOFTWARE : CLI_OK;
}

/* The same lines from a running agent's GET /v1/audit. */
static int from_api(const char *file, const char *query, struct records *r, FILE *out)
{
	struct httpc_answer a = { 0 };
	int exit_code;
	char path[1200];
	struct cli_api *api = cli_api_open(file, "audit", &exit_code);

	if (!api)
		return exit_code;
	snprintf(path, sizeof(path), "/v1/audit%s", query);
	exit_code = cli_api_request(api, "GET", path, NULL, 0, 300, &a);
	if (exit_code != CLI_OK || a.status != 200) {
		exit_code = cli_api_fail("audit", &a);
	} else if (out) {
		fwrite(a.body, 1, a.len, out);
	} else {
		char *save = NULL;
		for (char *line = strtok_r(a.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			records_add(r, line);
		if (r->nomem)
			exit_code = CLI_SOFTWARE;
	}
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}

/* ------------------------------------------------------------ verify */

struct verifier {
	const struct config *cfg;
	struct peer_key me;
	unsigned faults;
	uint64_t first_bad;      /* first entry named by a fault, 0 when none */
};

static void fault(struct verifier *v, uint64_t entry, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fault(struct verifier *v, uint64_t entry, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAULT ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	v->faults++;
	if (entry && (!v->first_bad || entry < v->first_bad))
		v->first_bad = entry;
}

static void verify_entries(struct verifier *v, const struct records *r, uint64_t from)
{
	uint8_t prev[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
	uint64_t expect = from ? from : 1;
	size_t i = 0;
	char why[160];

	memset(prev, 0, sizeof(prev));
	/* --from N: entry N-1 anchors the chain and is not judged itself */
	if (from > 1 && r->n && r->e[0].stored_seq == from - 1) {
		audit_entry_hash(r->e[0].bytes, r->e[0].len, prev);
		i = 1;
	} else if (from > 1) {
		fault(v, from, "entry %llu: the entry before it is missing, nothing anchors the chain",
		      (unsigned long long)from);
	}
	for (; i < r->n; i++) {
		const struct entry *e = &r->e[i];
		struct audit_head head;
		if (e->stored_seq != expect) {
			if (e->stored_seq > expect)
				fault(v, expect, "entry %llu: missing (the next entry stored is %llu): entries were deleted",
				      (unsigned long long)expect, (unsigned long long)e->stored_seq);
			else
				fault(v, e->stored_seq, "entry %llu: stored out of order after entry %llu",
				      (unsigned long long)e->stored_seq, (unsigned long long)expect - 1);
		}
		if (audit_entry_parse(e->bytes, e->len, &head, NULL, NULL, why, sizeof(why)) < 0) {
			fault(v, e->stored_seq, "entry %llu: malformed: %s", (unsigned long long)e->stored_seq, why);
		} else {
			if (head.seq != e->stored_seq)
				fault(v, e->stored_seq, "entry %llu: its bytes say entry %llu (entries were moved, swapped "
				      "or inserted)", (unsigned long long)e->stored_seq, (unsigned long long)head.seq);
			else if (memcmp(head.prev, prev, AUDIT_HASH_LEN) != 0)
				fault(v, e->stored_seq, "entry %llu: does not chain to the entry before it (its prev is "
				      "not that entry's hash)", (unsigned long long)e->stored_seq);
		}
		audit_entry_hash(e->bytes, e->len, h);
		if (!e->hash_ok || memcmp(h, e->hash, AUDIT_HASH_LEN) != 0)
			fault(v, e->stored_seq, "entry %llu: its bytes do not hash to its stored hash (the entry was "
			      "changed)", (unsigned long long)e->stored_seq);
		/* the chain goes on from these bytes: one changed entry is one
		 * fault, not one for every entry after it */
		memcpy(prev, h, AUDIT_HASH_LEN);
		expect = e->stored_seq + 1;
	}
}

static const struct entry *entry_at(const struct records *r, uint64_t seq)
{
	for (size_t lo = 0, hi = r->n; lo < hi;) {
		size_t mid = (lo + hi) / 2;
		if (r->e[mid].stored_seq < seq)
			lo = mid + 1;
		else if (r->e[mid].stored_seq > seq)
			hi = mid;
		else
			return &r->e[mid];
	}
	return NULL;
}

/* Does a checkpoint's head agree with the trail? Names the entry when not. */
static void check_head(struct verifier *v, const struct records *r, uint64_t seq, const uint8_t head[32],
		       const char *whose)
{
	const struct entry *e = entry_at(r, seq);
	uint64_t last = r->n ? r->e[r->n - 1].stored_seq : 0;
	uint8_t h[AUDIT_HASH_LEN];

	if (!e) {
		if (seq > last)
			fault(v, last + 1, "%s checkpoint covers entry %llu, but the trail ends at entry %llu: entries "
			      "after %llu were removed or the store was replaced by an older copy", whose,
			      (unsigned long long)seq, (unsigned long long)last, (unsigned long long)last);
		else
			fault(v, seq, "entry %llu: missing, yet %s checkpoint covers it", (unsigned long long)seq, whose);
		return;
	}
	audit_entry_hash(e->bytes, e->len, h);
	if (memcmp(h, head, AUDIT_HASH_LEN) != 0)
		fault(v, seq, "entry %llu: differs from the chain head %s checkpoint signed", (unsigned long long)seq,
		      whose);
}

static int read_own_key(const struct config *cfg, struct peer_key *pk)
{
	char path[PATH_MAX + 32], line[256], why[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/identity.pub", cfg->keys_dir);
	f = fopen(path, "re");
	if (!f || !fgets(line, sizeof(line), f)) {
		if (f)
			fclose(f);
		fprintf(stderr, "limes audit verify: %s: cannot read this agent's public identity\n", path);
		return CLI_CONFIG;
	}
	fclose(f);
	if (identity_line_parse(line, pk, why, sizeof(why)) < 0) {
		fprintf(stderr, "limes audit verify: %s: %s\n", path, why);
		return CLI_CONFIG;
	}
	return 0;
}

/* Checkpoints and countersignatures of our own trail. */
static void verify_checkpoints(struct verifier *v, const struct records *r, uint64_t from, unsigned *n_cp,
			       unsigned *n_cs)
{
	for (size_t i = 0; i < r->nc; i++) {
		const struct checkpoint *c = &r->c[i];
		char agent[65];
		uint64_t seq, time_ms;
		uint8_t head[32];

		if (audit_checkpoint_parse(c->body, c->body_len, agent, &seq, head, &time_ms) < 0) {
			fault(v, 0, "checkpoint record %zu: its body does not parse", i + 1);
			continue;
		}
		if (strcmp(agent, v->cfg->id) != 0 || audit_checkpoint_verify(v->me.sign_pk, c->body, c->body_len, c->sig) < 0) {
			fault(v, seq, "checkpoint at entry %llu: its signature does not verify with this agent's key",
			      (unsigned long long)seq);
			continue;
		}
		if (c->countersigner[0]) {
			const struct config_peer *p = config_peer_find(v->cfg, c->countersigner);
			if (!p || audit_countersign_verify(p->key.sign_pk, c->countersigner, c->body, c->body_len, c->sig,
							   c->countersig) < 0) {
				fault(v, 0, "checkpoint at entry %llu: the countersignature of '%s' does not verify",
				      (unsigned long long)seq, c->countersigner);
				continue;
			}
			(*n_cs)++;
		} else {
			(*n_cp)++;
		}
		if (seq >= from) {
			char whose[96];
			snprintf(whose, sizeof(whose), c->countersigner[0] ? "the %s-countersigned" : "this agent's%s",
				 c->countersigner);
			check_head(v, r, seq, head, whose);
		}
	}
}

/* The neighbour's kept copies of our checkpoints ("kept" records of its
 * export, or of `limes-agent audit-ask`), read from f; `label` names the
 * source in faults. */
static void verify_neighbour(struct verifier *v, const struct records *r, FILE *f, const char *label,
			     unsigned *n_seen)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	while (getline(&line, &cap, f) > 0) {
		struct checkpoint c;
		json_t *o;
		const char *rec, *signer;
		char agent[65], whose[96];
		uint64_t seq, time_ms;
		uint8_t head[32];

		lineno++;
		o = json_loads(line, 0, NULL);
		rec = o ? json_string_value(json_object_get(o, "record")) : NULL;
		if (!rec || strcmp(rec, "kept") != 0) {
			json_decref(o);
			continue;
		}
		memset(&c, 0, sizeof(c));
		signer = json_string_value(json_object_get(o, "countersigner"));
		if (!signer || json_hex(o, "body", c.body, 0, sizeof(c.body), &c.body_len) < 0 ||
		    json_hex(o, "sig", c.sig, AUDIT_SIG_LEN, 0, NULL) < 0 ||
		    json_hex(o, "countersig", c.countersig, AUDIT_SIG_LEN, 0, NULL) < 0 ||
		    audit_checkpoint_parse(c.body, c.body_len, agent, &seq, head, &time_ms) < 0) {
			fault(v, 0, "%s:%u: not a kept checkpoint record", label, lineno);
			json_decref(o);
			continue;
		}
		if (strcmp(agent, v->cfg->id) != 0) {
			json_decref(o);
			continue; /* another agency's checkpoint */
		}
		const struct config_peer *p = config_peer_find(v->cfg, signer);
		if (audit_checkpoint_verify(v->me.sign_pk, c.body, c.body_len, c.sig) < 0)
			fault(v, 0, "%s:%u: checkpoint at entry %llu is not signed with this agent's key", label, lineno,
			      (unsigned long long)seq);
		else if (!p || audit_countersign_verify(p->key.sign_pk, signer, c.body, c.body_len, c.sig,
							c.countersig) < 0)
			fault(v, 0, "%s:%u: checkpoint at entry %llu: the countersignature of '%s' does not verify", label,
			      lineno, (unsigned long long)seq, signer);
		else {
			snprintf(whose, sizeof(whose), "the %s-countersigned", signer);
			check_head(v, r, seq, head, whose);
			(*n_seen)++;
		}
		json_decref(o);
	}
	free(line);
}

/* Asks the running neighbours (limes-agent audit-ask, with this agent's
 * key) for their kept copies and checks them. A neighbour that does not
 * answer is an error, never a pass: CLI_UNAVAILABLE, named on stderr by
 * audit-ask. */
static int ask_neighbours(struct verifier *v, const struct records *r, const char *file, const char *peer,
			  unsigned *n_seen)
{
	char *args[] = { "limes-agent", "audit-ask", "-c", (char *)file, peer ? "--peer" : NULL, (char *)peer, NULL };
	pid_t pid;
	FILE *f = cli_spawn_sibling("limes-agent", args, &pid);

	if (!f) {
		fprintf(stderr, "limes audit verify: cannot run limes-agent audit-ask\n");
		return CLI_SOFTWARE;
	}
	verify_neighbour(v, r, f, "neighbour's answer", n_seen);
	fclose(f);
	int status = cli_wait_sibling(pid);
	if (status == CLI_UNAVAILABLE) {
		fprintf(stderr, "limes audit verify: not verified against the neighbours: one did not answer (above)\n");
		return CLI_UNAVAILABLE;
	}
	return status == 0 ? CLI_OK : status == CLI_USAGE || status == CLI_CONFIG ? status : CLI_FAILED;
}

static int do_verify(const char *file, const struct config *cfg, uint64_t from, const char *neighbour,
		     const char *input, bool api, bool ask, const char *ask_peer)
{
	struct verifier v = { .cfg = cfg };
	struct records r = { 0 };
	unsigned n_cp = 0, n_cs = 0, n_seen = 0;
	int rc = read_own_key(cfg, &v.me);
	char from_arg[32], query[128];

	if (rc)
		return rc;
	snprintf(from_arg, sizeof(from_arg), "%llu", (unsigned long long)(from > 1 ? from - 1 : 0));
	snprintf(query, sizeof(query), "?checkpoints=yes&limit=1000000&from=%s", from_arg);
	if (input) {
		FILE *f = strcmp(input, "-") == 0 ? stdin : fopen(input, "re");
		if (!f) {
			fprintf(stderr, "limes audit verify: %s: cannot open\n", input);
			return CLI_FAILED;
		}
		rc = read_lines(f, &r) < 0 ? CLI_SOFTWARE : CLI_OK;
		if (f != stdin)
			fclose(f);
	} else if (api) {
		rc = from_api(file, query, &r, NULL);
	} else {
		char *extra[] = { "--checkpoints", "--from", from_arg, NULL };
		rc = from_store(file, extra, &r, NULL);
		if (rc == CLI_TEMPFAIL) {
			records_free(&r);
			rc = from_api(file, query, &r, NULL);
		}
	}
	if (rc != CLI_OK)
		goto out;
	if (r.bad_lines)
		fault(&v, 0, "%u line%s of the input are not audit records", r.bad_lines, r.bad_lines == 1 ? "" : "s");
	verify_entries(&v, &r, from);
	verify_checkpoints(&v, &r, from, &n_cp, &n_cs);
	if (neighbour) {
		FILE *nf = fopen(neighbour, "re");
		if (!nf) {
			fprintf(stderr, "limes audit verify: %s: cannot open\n", neighbour);
			rc = CLI_FAILED;
			goto out;
		}
		verify_neighbour(&v, &r, nf, neighbour, &n_seen);
		fclose(nf);
	}
	if (ask) {
		rc = ask_neighbours(&v, &r, file, ask_peer, &n_seen);
		if (rc)
			goto out;
	}
	if (v.faults) {
		printf("audit trail of %s: %u fault%s; first bad entry: %llu\n", cfg->id, v.faults,
		       v.faults == 1 ? "" : "s", (unsigned long long)v.first_bad);
		rc = CLI_FAILED;
	} else {
		printf("ok: audit trail of %s: %zu entries (last %llu), %u checkpoints, %u countersignatures", cfg->id,
		       r.n, (unsigned long long)(r.n ? r.e[r.n - 1].stored_seq : 0), n_cp, n_cs);
		if (neighbour || ask)
			printf(", %u neighbour copies agree", n_seen);
		printf("\n");
	}
out:
	records_free(&r);
	return rc;
}

/* ------------------------------------------------------------ show */

/* key=value for each field of o but the hidden ones */
static void print_fields(json_t *o)
{
	const char *key;
	json_t *val;

	json_object_foreach(o, key, val) {
		static const char *const skip[] = { "record", "seq", "time", "kind", "prev", "hash", "bytes",
						    "stored_seq", "id", "messages" };
		bool hide = false;
		for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			hide |= strcmp(key, skip[i]) == 0;
		if (hide)
			continue;
		char *v = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
		printf(" %s=%s", key, v ? v : "?");
		free(v);
	}
}

/* One line of a message's life: the entry's own fields and, in a batch
 * entry, those of the message `id` among the others it names. */
static void print_entry_line(json_t *o, const char *id)
{
	size_t i, n = json_array_size(json_object_get(o, "messages"));
	json_t *m;

	printf("%-7lld %s %-10s", (long long)json_integer_value(json_object_get(o, "seq")),
	       json_string_value(json_object_get(o, "time")) ? json_string_value(json_object_get(o, "time")) : "?",
	       json_string_value(json_object_get(o, "kind")) ? json_string_value(json_object_get(o, "kind")) : "?");
	print_fields(o);
	json_array_foreach(json_object_get(o, "messages"), i, m) {
		const char *mid = json_string_value(json_object_get(m, "id"));
		if (mid && strcasecmp(mid, id) == 0)
			print_fields(m);
	}
	if (n > 1)
		printf(" (one of %zu messages)", n);
	printf("\n");
}

static int do_show(const char *file, const char *id)
{
	struct records r = { 0 };
	char msg_arg[40], query[64];
	char *tmp = NULL;
	size_t tmp_len = 0;
	FILE *mem = open_memstream(&tmp, &tmp_len);
	int rc;

	if (!mem)
		return CLI_SOFTWARE;
	snprintf(msg_arg, sizeof(msg_arg), "%s", id);
	snprintf(query, sizeof(query), "?msg=%s", id);
	char *extra[] = { "--msg", msg_arg, NULL };
	rc = from_store(file, extra, &r, mem);
	if (rc == CLI_TEMPFAIL) {
		rewind(mem);
		rc = from_api(file, query, &r, mem);
	}
	fclose(mem);
	if (rc == CLI_OK) {
		unsigned n = 0;
		char *save = NULL;
		for (char *line = strtok_r(tmp, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			json_t *o = json_loads(line, 0, NULL);
			const char *rec = o ? json_string_value(json_object_get(o, "record")) : NULL;
			if (rec && strcmp(rec, "entry") == 0) {
				print_entry_line(o, id);
				n++;
			}
			json_decref(o);
		}
		if (n == 0) {
			fprintf(stderr, "limes audit show: no entry names message %s\n", id);
			rc = CLI_NOTFOUND;
		}
	}
	free(tmp);
	records_free(&r);
	return rc;
}

/* ------------------------------------------------------------ command */

static const char usage[] =
	"usage: limes audit verify -c FILE [--from SEQ] [--neighbour EXPORT] [--ask [--ask-peer ID]]\n"
	"                              [--input EXPORT|-] [--api]\n"
	"       limes audit export -c FILE [--since T] [--until T] [--msg ID] [--peer ID]\n"
	"                              [--checkpoints] [--kept PEER|*] [--api]\n"
	"       limes audit show -c FILE ID\n"
	"  -c, --config FILE   the agent's config\n"
	"  --from SEQ          verify from entry SEQ on\n"
	"  --neighbour EXPORT  also check the checkpoints a neighbour kept (its export --kept US)\n"
	"  --ask, --ask-peer ID  also ask the running neighbours (or ID) what they keep\n"
	"  --input EXPORT|-    verify an export instead of the store\n"
	"  --api               read through the running agent's API\n"
	"  --since T, --until T, --msg ID, --peer ID  export only those entries\n"
	"  --checkpoints       export the checkpoints too\n"
	"  --kept PEER|*       export the checkpoints of PEER (or all) we countersigned\n"
	"The trail is read from the store of a stopped agent, or through the API of a running one.\n"
	"--ask asks each running direct neighbour (or --ask-peer ID) for the checkpoints of ours it keeps\n"
	"countersigned, over the link with this agent's key; one that does not answer fails the verify (69).\n"
	"T is RFC 3339 UTC (2026-12-01T10:00:00Z), a date (2026-12-01) or unix ms.\n";

int cli_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "from", required_argument, NULL, 'f' },
		{ "neighbour", required_argument, NULL, 'n' }, { "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' }, { "msg", required_argument, NULL, 'm' },
		{ "peer", required_argument, NULL, 'p' }, { "kept", required_argument, NULL, 'k' },
		{ "checkpoints", no_argument, NULL, 'C' }, { "input", required_argument, NULL, 'i' },
		{ "api", no_argument, NULL, 'a' }, { "help", no_argument, NULL, 'h' },
		{ "ask", no_argument, NULL, 'A' }, { "ask-peer", required_argument, NULL, 'P' }, { NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *neighbour = NULL, *input = NULL, *ask_peer = NULL;
	bool ask = false;
	char *extra[20];
	size_t n_extra = 0;
	char query[1200] = "";
	size_t qlen = 0;
	bool api = false;
	uint64_t from = 0, t;
	uint8_t id[16];
	char err[CONFIG_ERR_MAX];
	int c, exit_code;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "verify") && strcmp(sub, "export") && strcmp(sub, "show")) {
		fprintf(stderr, "limes audit: unknown subcommand '%s'\n%s", sub, usage);
		return CLI_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
		const char *flag = NULL, *qkey = NULL;
		switch (c) {
		case 'c': file = optarg; break;
		case 'n': neighbour = optarg; break;
		case 'i': input = optarg; break;
		case 'a': api = true; break;
		case 'A': ask = true; break;
		case 'P':
			if (wire_agency_id_check(optarg) < 0) {
				fprintf(stderr, "limes audit: --ask-peer: '%s' is not an agency id\n", optarg);
				return CLI_USAGE;
			}
			ask = true;
			ask_peer = optarg;
			break;
		case 'p':
			if (strlen(optarg) > 64 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							   "0123456789._-") != strlen(optarg)) {
				fprintf(stderr, "limes audit: --peer: '%s' is not an agency id\n", optarg);
				return CLI_USAGE;
			}
			flag = "--peer", qkey = "peer";
			break;
		case 'k':
			if (strcmp(optarg, "*") && (strlen(optarg) > 64 ||
			    strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(optarg))) {
				fprintf(stderr, "limes audit: --kept: '%s' is not an agency id or *\n", optarg);
				return CLI_USAGE;
			}
			flag = "--kept", qkey = "kept";
			break;
		case 'C':
			flag = "--checkpoints", qkey = "checkpoints";
			break;
		case 'f': {
			char *end;
			errno = 0;
			from = strtoull(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end || errno || from == 0) {
				fprintf(stderr, "limes audit: --from: '%s' is not an entry number\n", optarg);
				return CLI_USAGE;
			}
			break;
		}
		case 's':
		case 'u':
			if (audit_parse_time(optarg, &t) < 0) {
				fprintf(stderr, "limes audit: --%s: '%s' is not RFC 3339 UTC, a date or unix ms\n",
					c == 's' ? "since" : "until", optarg);
				return CLI_USAGE;
			}
			flag = c == 's' ? "--since" : "--until", qkey = c == 's' ? "since" : "until";
			break;
		case 'm':
			if (!cli_api_plain_id(optarg) || encode_unhex(id, sizeof(id), optarg, 32) < 0) {
				fprintf(stderr, "limes audit: --msg: '%s' is not a message id (32 hex digits)\n", optarg);
				return CLI_USAGE;
			}
			flag = "--msg", qkey = "msg";
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
		if (!flag)
			continue;
		/* both the audit-dump arguments and the query must hold every
		 * option: dropping one would widen the listing, and a query cut
		 * short must not move qlen past the buffer */
		bool bare = c == 'C';
		int q = snprintf(query + qlen, sizeof(query) - qlen, "%c%s=%s", qlen ? '&' : '?', qkey,
				 bare ? "yes" : optarg);
		if (n_extra + (bare ? 1 : 2) >= sizeof(extra) / sizeof(extra[0]) || q < 0 ||
		    (size_t)q >= sizeof(query) - qlen - 32) {
			query[qlen] = '\0';
			fprintf(stderr, "limes audit: too many or too long options (at %s)\n", flag);
			return CLI_USAGE;
		}
		qlen += (size_t)q;
		extra[n_extra++] = (char *)flag;
		if (!bare)
			extra[n_extra++] = optarg;
	}
	extra[n_extra] = NULL;
	int rest = argc - 1 - optind;
	if (!file || (strcmp(sub, "show") == 0 ? rest != 1 : rest != 0)) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (strcmp(sub, "show") == 0) {
		const char *msg = argv[1 + optind];
		if (!cli_api_plain_id(msg)) {
			fprintf(stderr, "limes audit show: '%s' is not a message id (32 hex digits)\n", msg);
			return CLI_USAGE;
		}
		return do_show(file, msg);
	}
	struct config *cfg = config_load(file, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "limes audit: %s\n", err);
		return CLI_CONFIG;
	}
	if (strcmp(sub, "verify") == 0) {
		exit_code = do_verify(file, cfg, from, neighbour, input, api, ask, ask_peer);
	} else {
		if (qlen < sizeof(query) - 32)
			snprintf(query + qlen, sizeof(query) - qlen, "%climit=1000000", qlen ? '&' : '?');
		exit_code = api ? CLI_TEMPFAIL : from_store(file, extra, NULL, stdout);
		if (exit_code == CLI_TEMPFAIL)
			exit_code = from_api(file, query, NULL, stdout);
	}
	config_destroy(&cfg);
	return exit_code;
}
