/*
 * The audit trail and the named API clients, with real agents: every kind
 * of event leaves its entry naming the right client or peer; a client's
 * rights are enforced (403 naming the right) and its refused attempts are
 * on the record; `limes audit verify` finds every kind of tampering with a
 * stopped agent's database, naming the entry, including a store swapped for
 * an older copy (through the neighbour's countersigned checkpoints), on
 * SQLite and on PostgreSQL (ctest runs this suite beside a throwaway
 * server, tests/pg_throwaway.sh); and
 * after SIGKILLs of both sides the trails verify and match what happened.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/cluster.h"
#include "support/store_testutil.h"

TestSuite(audit, .timeout = 600);

#define A "RS-CUSTOMS-HORGOS"
#define R "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"

/* Fast checkpoints, so the tests see countersignatures within a second. */
#define AUDIT_FAST "[audit]\ncheckpoint_every = 5\ncheckpoint_interval = 300ms\n"

static void write_token(const char *path, const char *token)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "cannot write %s", path);
	cr_assert(write(fd, token, strlen(token)) == (ssize_t)strlen(token));
	close(fd);
}

/* GET /v1/audit as an array of records (an admin client's view). */
static json_t *audit_records(struct agentproc *ap, const char *query)
{
	char path[512], *body = NULL;
	json_t *arr = json_array();
	snprintf(path, sizeof(path), "/v1/audit%s", query);
	long status = agentproc_http(ap, "GET", path, NULL, 0, NULL, &body);
	cr_assert(eq(long, status, 200), "GET %s: %ld %s", path, status, body ? body : "");
	char *save = NULL;
	for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		cr_assert(o != NULL, "not a JSON line: %s", line);
		json_array_append_new(arr, o);
	}
	free(body);
	return arr;
}

/* True when o's field `key` (or, in a batch entry, its message m's) is `value`. */
static bool field_is(json_t *o, json_t *m, const char *key, const char *value)
{
	const char *v = json_string_value(json_object_get(m, key));
	if (!v)
		v = json_string_value(json_object_get(o, key));
	return v && strcmp(v, value) == 0;
}

/* True when "id" (a string or an array) of o holds id. */
static bool names_id(json_t *o, const char *id)
{
	json_t *ids = json_object_get(o, "id");
	bool hit = json_is_string(ids) && strcmp(json_string_value(ids), id) == 0;
	size_t j;
	json_t *x;
	json_array_foreach(ids, j, x)
		hit |= strcmp(json_string_value(x), id) == 0;
	return hit;
}

/* Messages recorded by entries of `kind` (a one-message entry, or each
 * message of the kind's batch entries, "receipt_batch" for "receipt")
 * whose field `key` is `value` (NULL: any), and whose id is `id` when id is
 * not NULL. */
static size_t count(json_t *recs, const char *kind, const char *key, const char *value, const char *id)
{
	size_t i, j, n = 0;
	json_t *o, *m;
	json_array_foreach(recs, i, o) {
		json_t *msgs = agentproc_audit_messages(o, kind);
		json_array_foreach(msgs, j, m)
			n += (!key || field_is(o, m, key, value)) && (!id || names_id(m, id));
		json_decref(msgs);
	}
	return n;
}

/* Waits until `ap` holds `kind` entries matching, at least `want`. */
static json_t *wait_entries(struct agentproc *ap, const char *kind, const char *key, const char *value,
			    const char *id, size_t want, int ms)
{
	for (int t = 0;; t += 100) {
		json_t *recs = audit_records(ap, "");
		if (count(recs, kind, key, value, id) >= want || t >= ms)
			return recs;
		json_decref(recs);
		cluster_sleep_ms(100);
	}
}

/* The body_hash recorded for message id by entries of `kind` (hex, "" if none). */
static void body_hash_of(json_t *recs, const char *kind, const char *id, char out[65])
{
	size_t i, j;
	json_t *o, *m;
	out[0] = '\0';
	json_array_foreach(recs, i, o) {
		json_t *msgs = agentproc_audit_messages(o, kind);
		json_array_foreach(msgs, j, m)
			if (names_id(m, id) && json_is_string(json_object_get(m, "body_hash")))
				snprintf(out, 65, "%s", json_string_value(json_object_get(m, "body_hash")));
		json_decref(msgs);
	}
}

static long http_as(struct agentproc *ap, const char *token, const char *method, const char *path,
		    const char *body, json_t **doc)
{
	char *text = NULL;
	long status = agentproc_http(ap, method, path, body, body ? strlen(body) : 0, token, &text);
	if (doc)
		*doc = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return status;
}

static char *message_body(const char *to, const char *type, const char *ttl)
{
	json_t *body = json_loads(cluster_example(type), 0, NULL);
	json_t *m = json_pack("{s:[s], s:s, s:O}", "to", to, "type", type, "body", body);
	if (ttl)
		json_object_set_new(m, "ttl_s", json_integer(atoi(ttl)));
	char *text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	json_decref(body);
	return text;
}

static void submit_one(struct agentproc *ap, const char *token, const char *to, const char *type,
		       const char *ttl, char id[33])
{
	char *text = message_body(to, type, ttl);
	json_t *doc = NULL;
	long status = http_as(ap, token, "POST", "/v1/messages", text, &doc);
	cr_assert(eq(long, status, 202), "submit %s to %s: %ld", type, to, status);
	snprintf(id, 33, "%s", json_string_value(json_object_get(doc, "id")));
	json_decref(doc);
	free(text);
}

static void error_of(json_t *doc, const char **field, const char **message)
{
	json_t *e = json_object_get(doc, "error");
	*field = json_string_value(json_object_get(e, "field"));
	*message = json_string_value(json_object_get(e, "message"));
	bool both = *field && *message;
	cr_assert(eq(int, both, 1), "403 without field and message");
}

Test(audit, every_event_is_recorded_with_its_client_or_peer_and_rights_are_enforced)
{
	static const char *const ids[] = { A, R, C };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = {
		{ A, R, "alert, pre_arrival, control_result", NULL },
		{ R, C, "alert, pre_arrival", NULL },
		{ A, C, "alert, pre_arrival", R },
	};
	struct agentproc *a = cluster_ap(c, A), *r = cluster_ap(c, R);
	char extra_a[2048], extra_r[2048], path[700];
	/* on A: a customs application that may send pre-arrivals to R only and
	 * read control results; on R: one that may read pre-arrivals only */
	snprintf(path, sizeof(path), "%s/ncts.token", agentproc_dir(a));
	write_token(path, "ncts-token-0123456789abcdef");
	snprintf(extra_a, sizeof(extra_a),
		 AUDIT_FAST "[client \"customs-ncts\"]\ntoken_file = %s\nsubmit = pre_arrival\nto = " R
		 "\nread = control_result\n", path);
	snprintf(path, sizeof(path), "%s/entry.token", agentproc_dir(r));
	write_token(path, "entry-token-0123456789abcdef");
	snprintf(extra_r, sizeof(extra_r),
		 AUDIT_FAST "[client \"customs-entry\"]\ntoken_file = %s\nread = pre_arrival\n", path);
	agentproc_set_link_extra(a, extra_a);
	agentproc_set_link_extra(r, extra_r);
	agentproc_set_link_extra(cluster_ap(c, C), AUDIT_FAST);
	cluster_configure(c, l, 3, NULL);
	agentproc_set_link_extra(a, extra_a);
	agentproc_set_link_extra(r, extra_r);
	agentproc_set_link_extra(cluster_ap(c, C), AUDIT_FAST);
	/* one line per message is debug; C stays at info and writes none */
	agentproc_set_agent_extra(a, "log_level = debug\n");
	agentproc_set_agent_extra(r, "log_level = debug\n");
	cr_assert(agentproc_write_config(a) == 0 && agentproc_write_config(r) == 0 &&
		  agentproc_write_config(cluster_ap(c, C)) == 0);
	/* R accepts no control_result from A: a refusal to record */
	{
		FILE *f = fopen(agentproc_config(r), "r");
		cr_assert(f != NULL);
		char text[16384];
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		char *hit = strstr(text, "accept = alert, pre_arrival, control_result");
		cr_assert(hit != NULL, "R's config has no accept line for A:\n%s", text);
		memmove(hit + strlen("accept = alert, pre_arrival"), hit + strlen("accept = alert, pre_arrival, control_result"),
			strlen(hit + strlen("accept = alert, pre_arrival, control_result")) + 1);
		cr_assert(agentproc_write_config_text(r, text) == 0);
	}
	/* a control_result queued while R is down (A has not yet heard what R
	 * accepts, so it takes it): R refuses it on arrival */
	char alert[33], pre[33], relayed[33], cr[33];
	cluster_start(c, A);
	submit_one(a, NULL, R, "control_result", NULL, cr);
	cluster_start(c, R);
	cluster_start(c, C);
	cr_assert(eq(int, cluster_wait_up(c, A, R, 10000), 1));
	cr_assert(eq(int, cluster_wait_up(c, R, C, 10000), 1));

	/* submission, sending, receipt, reception, relaying */
	submit_one(a, NULL, R, "alert", NULL, alert);
	submit_one(a, "ncts-token-0123456789abcdef", R, "pre_arrival", NULL, pre);
	submit_one(a, NULL, C, "alert", NULL, relayed);
	json_t *ra = wait_entries(a, "receipt", "peer", R, relayed, 1, 15000);
	cr_assert(eq(sz, count(ra, "submitted", "client", "default", alert), 1));
	cr_assert(eq(sz, count(ra, "submitted", "client", "customs-ncts", pre), 1));
	cr_assert(ge(sz, count(ra, "sent", "peer", R, alert), 1));
	cr_assert(ge(sz, count(ra, "sent", "peer", R, relayed), 1), "relayed message sent to the relay");
	cr_assert(ge(sz, count(ra, "receipt", "status", "accepted", relayed), 1), "end-to-end receipt from C");
	cr_assert(ge(sz, count(ra, "config", NULL, NULL, NULL), 1));
	cr_assert(ge(sz, count(ra, "key", "peer", A, NULL), 1));
	json_decref(ra);
	json_t *rr = wait_entries(r, "refused", "peer", A, cr, 1, 10000);
	cr_assert(eq(sz, count(rr, "received", "peer", A, alert), 1));
	cr_assert(eq(sz, count(rr, "received", "author", A, pre), 1));
	cr_assert(eq(sz, count(rr, "relayed", "peer", A, relayed), 1));
	cr_assert(eq(sz, count(rr, "refused", "reason", "policy_deny", cr), 1), "R refused the control_result");
	json_decref(rr);
	json_t *rc = wait_entries(cluster_ap(c, C), "received", "peer", R, relayed, 1, 10000);
	cr_assert(eq(sz, count(rc, "received", "author", A, relayed), 1));
	json_decref(rc);
	cr_assert(eq(int, agentproc_wait_log(r, "event=received", 1000), 1), "debug line for received");
	cr_assert(eq(int, agentproc_wait_log(r, "event=relayed", 1000), 1), "debug line for relayed");
	cr_assert(eq(int, agentproc_wait_log(a, "event=delivered", 1000), 1), "debug line for delivered");
	cr_assert(not(agentproc_log_contains(cluster_ap(c, C), "event=received")),
		  "C (log_level info) wrote a line for a message it received");

	/* submitting a type or to a peer outside its rights: 403 naming the right */
	json_t *doc = NULL;
	const char *field, *message;
	char *text = message_body(R, "alert", NULL);
	cr_assert(eq(long, http_as(a, "ncts-token-0123456789abcdef", "POST", "/v1/messages", text, &doc), 403));
	free(text);
	error_of(doc, &field, &message);
	cr_assert(eq(str, (char *)field, "type"));
	cr_assert(strstr(message, "may not submit 'alert'") != NULL && strstr(message, "submit = pre_arrival") != NULL, "%s", message);
	json_decref(doc);
	text = message_body(C, "pre_arrival", NULL);
	cr_assert(eq(long, http_as(a, "ncts-token-0123456789abcdef", "POST", "/v1/messages", text, &doc), 403));
	free(text);
	error_of(doc, &field, &message);
	cr_assert(eq(str, (char *)field, "to[0]"));
	cr_assert(strstr(message, "may not send to '" C "'") != NULL && strstr(message, "to = " R) != NULL, "%s", message);
	json_decref(doc);
	/* reading an alert by id without read = alert: 403, and the attempt is recorded */
	snprintf(path, sizeof(path), "/v1/messages/%s", alert);
	cr_assert(eq(long, http_as(a, "ncts-token-0123456789abcdef", "GET", path, NULL, &doc), 403));
	error_of(doc, &field, &message);
	cr_assert(strstr(message, "may not read 'alert'") != NULL, "%s", message);
	json_decref(doc);
	/* its own pre-arrival it may follow */
	snprintf(path, sizeof(path), "/v1/messages/%s", pre);
	cr_assert(eq(long, http_as(a, "ncts-token-0123456789abcdef", "GET", path, NULL, NULL), 200));
	/* admin rights: status and re-queue are refused */
	cr_assert(eq(long, http_as(a, "ncts-token-0123456789abcdef", "GET", "/v1/peers", NULL, NULL), 403));
	cr_assert(eq(long, http_as(a, "ncts-token-0123456789abcdef", "GET", "/v1/audit", NULL, NULL), 403));
	ra = wait_entries(a, "denied", "client", "customs-ncts", NULL, 5, 3000);
	cr_assert(eq(sz, count(ra, "denied", "right", "submit", NULL), 1));
	cr_assert(eq(sz, count(ra, "denied", "right", "to", NULL), 1));
	cr_assert(eq(sz, count(ra, "denied", "right", "read", alert), 1));
	cr_assert(eq(sz, count(ra, "read", "client", "customs-ncts", pre), 1), "the allowed look is logged");
	cr_assert(ge(sz, count(ra, "denied", "right", "admin", NULL), 2));
	json_decref(ra);

	/* the inbox of a client without read = alert never shows an alert */
	cr_assert(eq(long, http_as(r, "entry-token-0123456789abcdef", "GET", "/v1/inbox", NULL, &doc), 200));
	json_t *msgs = json_object_get(doc, "messages");
	size_t i;
	json_t *m;
	cr_assert(eq(sz, json_array_size(msgs), 1), "customs-entry sees only the pre-arrival");
	json_array_foreach(msgs, i, m)
		cr_assert(eq(str, (char *)json_string_value(json_object_get(m, "type")), "pre_arrival"));
	json_decref(doc);
	/* the default client sees both, and both reads are in the consultation log */
	json_t *all = cluster_inbox(c, R);
	cr_assert(ge(sz, json_array_size(all), 2));
	json_decref(all);
	rr = audit_records(r, "");
	cr_assert(eq(sz, count(rr, "read", "client", "customs-entry", pre), 1));
	cr_assert(eq(sz, count(rr, "read", "client", "customs-entry", alert), 0));
	cr_assert(ge(sz, count(rr, "read", "client", "default", alert), 1));
	json_decref(rr);

	/* expiry and requeue: C is stopped, a 1 s message to it expires */
	cluster_stop(c, C);
	char late[33];
	submit_one(a, NULL, C, "alert", "1", late);
	ra = wait_entries(a, "expired", NULL, NULL, late, 1, 8000);
	cr_assert(eq(sz, count(ra, "expired", "recipient", C, late), 1));
	json_decref(ra);
	snprintf(path, sizeof(path), "/v1/messages/%s/requeue", late);
	cr_assert(eq(long, http_as(a, NULL, "POST", path, "{\"ttl_s\": 600}", NULL), 202));
	ra = audit_records(a, "");
	cr_assert(eq(sz, count(ra, "requeued", "client", "default", late), 1));
	cr_assert(ge(sz, count(ra, "purged", NULL, NULL, NULL), 1), "retention ran at start");
	json_decref(ra);
	/* a reload is recorded with the config's hash */
	cr_assert(agentproc_signal(a, SIGHUP) == 0);
	ra = wait_entries(a, "config", "detail", "reload", NULL, 1, 5000);
	cr_assert(eq(sz, count(ra, "config", "detail", "reload", NULL), 1));
	json_decref(ra);
	/* checkpoints went to the neighbour and came back countersigned */
	for (int t = 0; t < 50; t++) {
		ra = audit_records(a, "?checkpoints=yes&limit=1");
		size_t n = 0;
		json_array_foreach(ra, i, m)
			n += strcmp(json_string_value(json_object_get(m, "record")), "countersignature") == 0;
		json_decref(ra);
		if (n)
			break;
		cr_assert(t < 49, "no countersigned checkpoint after 5 s");
		cluster_sleep_ms(100);
	}
	/* the /v1/audit filters */
	cr_assert(eq(long, http_as(a, NULL, "GET", "/v1/audit?msg=zz", NULL, NULL), 400));
	cr_assert(eq(long, http_as(a, NULL, "GET", "/v1/audit?colour=red", NULL, NULL), 400));
	snprintf(path, sizeof(path), "?msg=%s", pre);
	ra = audit_records(a, path);
	json_array_foreach(ra, i, m)
		cr_assert(strstr(json_dumps(m, 0), pre) != NULL, "msg filter returned an entry not naming it");
	cr_assert(ge(sz, json_array_size(ra), 3));
	json_decref(ra);
	cluster_destroy(&c);
}

/* ------------------------------------------------------------ tamper tests */

/* Runs `limes audit ARGS` and returns its exit status, stdout into *out. */
static int limes_audit(char **out, const char *sub, const char *config, const char *opt, const char *arg)
{
	if (opt)
		return agentproc_cli(out, NULL, "audit", sub, "-c", config, opt, arg, NULL);
	return agentproc_cli(out, NULL, "audit", sub, "-c", config, NULL);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	cr_assert(eq(int, rc, 0), "command failed: %s", cmd);
}

static unsigned long long sql_number(const char *db, const char *query)
{
	char cmd[1024], line[64] = "";
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", db, query);
	FILE *p = popen(cmd, "r");
	cr_assert(p != NULL);
	char *got = fgets(line, sizeof(line), p);
	cr_assert(eq(int, pclose(p), 0), "%s", cmd);
	cr_assert(got != NULL, "no answer to %s", query);
	return strtoull(line, NULL, 10);
}

/* The last entry's seq in ap's trail (it may grow meanwhile). */
static unsigned long long trail_head(struct agentproc *ap)
{
	json_t *recs = audit_records(ap, "?limit=1000000");
	unsigned long long head = 0;
	size_t i;
	json_t *o;
	json_array_foreach(recs, i, o) {
		unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(o, "seq"));
		head = seq > head ? seq : head;
	}
	json_decref(recs);
	return head;
}

/* Waits until A holds a countersignature by B of a checkpoint at or past seq. */
static unsigned long long wait_countersigned(struct cluster *c, const char *a_id, unsigned long long seq)
{
	for (int t = 0; t < 100; t++) {
		json_t *recs = audit_records(cluster_ap(c, a_id), "?checkpoints=yes&limit=1");
		unsigned long long best = 0;
		size_t i;
		json_t *m;
		json_array_foreach(recs, i, m)
			if (strcmp(json_string_value(json_object_get(m, "record")), "countersignature") == 0 &&
			    (unsigned long long)json_integer_value(json_object_get(m, "seq")) > best)
				best = (unsigned long long)json_integer_value(json_object_get(m, "seq"));
		json_decref(recs);
		if (best >= seq)
			return best;
		cluster_sleep_ms(100);
	}
	cr_fatal("no countersigned checkpoint at or past entry %llu after 10 s", seq);
	return 0;
}

static void expect_fault(const char *what, int rc, const char *out, const char *first_bad, const char *why)
{
	cr_assert(ne(int, rc, 0), "%s: verify passed:\n%s", what, out);
	char want[64];
	snprintf(want, sizeof(want), "first bad entry: %s\n", first_bad);
	cr_assert(strstr(out, want) != NULL, "%s: verify does not name entry %s:\n%s", what, first_bad, out);
	cr_assert(strstr(out, why) != NULL, "%s: verify does not say \"%s\":\n%s", what, why, out);
}

/* Stops A and R, and writes R's copies of A's checkpoints to `kept`, as
 * an auditor would get them. */
static void stop_and_keep(struct cluster *c, const char *kept)
{
	char *out = NULL;
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cr_assert(eq(int, cluster_stop(c, R), 0));
	cr_assert(eq(int, limes_audit(&out, "export", agentproc_config(cluster_ap(c, R)), "--kept", A), 0));
	FILE *f = fopen(kept, "w");
	cr_assert(f != NULL);
	fputs(out, f);
	fclose(f);
	cr_assert(strstr(out, "\"record\":\"kept\"") != NULL, "R kept none of A's checkpoints:\n%s", out);
	free(out);
}

Test(audit, verify_finds_every_tampering_of_a_stopped_agents_database)
{
	static const char *const ids[] = { A, R };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, R, "alert", NULL } };
	char sent[40][33];
	cluster_configure(c, l, 1, AUDIT_FAST);
	struct agentproc *a = cluster_ap(c, A);
	char data[700], db[800], kept[800], *out = NULL;
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(a));
	snprintf(db, sizeof(db), "%s/limes.db", data);
	snprintf(kept, sizeof(kept), "%s/kept.jsonl", agentproc_dir(a));

	cluster_start(c, A);
	cluster_start(c, R);
	cr_assert(eq(int, cluster_wait_up(c, A, R, 10000), 1));
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 10, sent), 202));
	json_decref(cluster_inbox(c, R));
	json_t *recs = wait_entries(a, "receipt", NULL, NULL, NULL, 10, 10000);
	json_decref(recs);
	cr_log_info("the trail of 10 messages: %llu entries", trail_head(a));
	wait_countersigned(c, A, trail_head(a));
	/* the backup: an earlier copy of the whole store */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	sh("cp -a '%s' '%s.backup'", data, data);
	unsigned long long backup_head = sql_number(db, "SELECT max(seq) FROM audit");
	cluster_start(c, A);
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 20, sent + 10), 202));
	recs = wait_entries(a, "receipt", NULL, NULL, NULL, 30, 10000);
	json_decref(recs);
	unsigned long long countersigned = wait_countersigned(c, A, trail_head(a));
	stop_and_keep(c, kept);
	sh("cp -a '%s' '%s.orig'", data, data);

	int rc = limes_audit(&out, "verify", agentproc_config(a), "--neighbour", kept);
	cr_assert(eq(int, rc, 0), "the untouched trail does not verify:\n%s", out);
	cr_assert(strstr(out, "ok: ") != NULL);
	free(out);

	static const struct {
		const char *what, *sql, *first_bad, *why;
	} cases[] = {
		{ "one field of one entry changed",
		  "DROP TRIGGER audit_no_update; UPDATE audit SET bytes = substr(bytes, 1, 59) || X'7A' || "
		  "substr(bytes, 61) WHERE seq = 7;", "7", "do not hash to its stored hash" },
		{ "one entry deleted", "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 7;", "7", "missing" },
		{ "one entry inserted",
		  "DROP TRIGGER audit_no_update; UPDATE audit SET seq = seq + 1000000 WHERE seq >= 8; "
		  "UPDATE audit SET seq = seq - 999999 WHERE seq > 1000000; "
		  "INSERT INTO audit SELECT 8, time_ms, kind, bytes, hash FROM audit WHERE seq = 7;", "8",
		  "its bytes say entry 7" },
		{ "two entries swapped",
		  "DROP TRIGGER audit_no_update; UPDATE audit SET seq = -7 WHERE seq = 7; "
		  "UPDATE audit SET seq = 7 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = -7;", "7",
		  "its bytes say entry 8" },
		{ "an entry's hash rewritten to match its changed bytes",
		  "DROP TRIGGER audit_no_update; UPDATE audit SET bytes = substr(bytes, 1, 59) || X'7A' || "
		  "substr(bytes, 61) WHERE seq = 9; UPDATE audit SET hash = X'00' || substr(hash, 2) WHERE seq = 9;",
		  "9", "9" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sh("rm -rf '%s' && cp -a '%s.orig' '%s'", data, data, data);
		sh("sqlite3 '%s' \"%s\"", db, cases[i].sql);
		rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
		expect_fault(cases[i].what, rc, out, cases[i].first_bad, cases[i].why);
		free(out);
	}

	/* one message id inside a batch entry changed (the entry names all ten
	 * of the first submission; the index row is rewritten with it) */
	sh("rm -rf '%s' && cp -a '%s.orig' '%s'", data, data, data);
	{
		char q[512], seq[32];
		snprintf(q, sizeof(q), "SELECT seq FROM audit WHERE kind = 14 AND instr(bytes, X'%s') > 0", sent[4]);
		unsigned long long batch_seq = sql_number(db, q);
		snprintf(q, sizeof(q), "SELECT count(*) FROM audit_ids WHERE seq = %llu", batch_seq);
		cr_assert(ge(ullong, sql_number(db, q), 10), "the submission of ten is not one entry");
		snprintf(q, sizeof(q),
			 "DROP TRIGGER audit_no_update; UPDATE audit SET bytes = substr(bytes, 1, instr(bytes, X'%s') - 1)"
			 " || X'00112233445566778899aabbccddeeff' || substr(bytes, instr(bytes, X'%s') + 16) WHERE seq = %llu;"
			 " UPDATE audit_ids SET message_id = X'00112233445566778899aabbccddeeff' WHERE message_id = X'%s';",
			 sent[4], sent[4], batch_seq, sent[4]);
		sh("sqlite3 '%s' \"%s\"", db, q);
		rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
		snprintf(seq, sizeof(seq), "%llu", batch_seq);
		expect_fault("one id inside a batch entry changed", rc, out, seq, "do not hash to its stored hash");
		free(out);
	}

	/* the tail truncated after a countersigned checkpoint, with our own
	 * checkpoints removed too: only the neighbour's copy shows it */
	sh("rm -rf '%s' && cp -a '%s.orig' '%s'", data, data, data);
	unsigned long long cut = countersigned - 2;
	char sql[512], first[32];
	snprintf(sql, sizeof(sql),
		 "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq > %llu; DELETE FROM audit_ids WHERE seq > %llu;"
		 " DELETE FROM audit_checkpoints WHERE seq > %llu; DELETE FROM audit_countersigs WHERE seq > %llu;",
		 cut, cut, cut, cut);
	sh("sqlite3 '%s' \"%s\"", db, sql);
	rc = limes_audit(&out, "verify", agentproc_config(a), "--neighbour", kept);
	snprintf(first, sizeof(first), "%llu", cut + 1);
	expect_fault("tail truncated after a countersigned checkpoint", rc, out, first, "were removed or the store was replaced");
	free(out);

	/* the whole store replaced by the earlier backup */
	sh("rm -rf '%s' && cp -a '%s.backup' '%s'", data, data, data);
	rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
	cr_assert(eq(int, rc, 0), "the backup alone is a consistent trail:\n%s", out);
	free(out);
	rc = limes_audit(&out, "verify", agentproc_config(a), "--neighbour", kept);
	snprintf(first, sizeof(first), "%llu", backup_head + 1);
	expect_fault("store replaced by an older backup", rc, out, first, "replaced by an older copy");
	free(out);
	cluster_destroy(&c);
}

/* A store of schema 3 (tests/fixtures/store_v3.sql) whose trail holds
 * one entry per message (submitted, sent, receipt): the agent goes on with
 * batch entries after it, and the whole trail verifies, old and new. */
Test(audit, a_trail_of_per_message_entries_goes_on_with_batch_entries_and_verifies)
{
	static const char *const ids[] = { "BENCH-SENDER", "BENCH-RECEIVER" };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { "BENCH-SENDER", "BENCH-RECEIVER", "alert", NULL } };
	char data[700], db[800], sent[5][33], *out = NULL;
	cluster_configure(c, l, 1, AUDIT_FAST);
	struct agentproc *a = cluster_ap(c, "BENCH-SENDER");
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(a));
	snprintf(db, sizeof(db), "%s/limes.db", data);
	/* its checkpoints were signed by the key of the agent that wrote it,
	 * not this one's: the entries are kept, the checkpoints dropped */
	sh("mkdir -m 700 -p '%s' && sqlite3 '%s' < '%s/tests/fixtures/store_v3.sql' && "
	   "sqlite3 '%s' 'DELETE FROM audit_checkpoints' && chmod 600 '%s'", data, db, LIMES_SOURCE_DIR, db, db);
	unsigned long long old_head = sql_number(db, "SELECT max(seq) FROM audit");
	cr_assert(ge(ullong, old_head, 10), "the fixture has a trail");
	cluster_start(c, "BENCH-SENDER");
	cluster_start(c, "BENCH-RECEIVER");
	cr_assert(eq(int, cluster_wait_up(c, "BENCH-SENDER", "BENCH-RECEIVER", 10000), 1));
	cr_assert(eq(int, cluster_submit(c, "BENCH-SENDER", "BENCH-RECEIVER", "alert", "normal", 5, sent), 202));
	json_t *recs = wait_entries(a, "receipt", "status", "accepted", sent[4], 1, 10000);
	cr_assert(eq(sz, count(recs, "submitted", NULL, NULL, sent[4]), 1));
	/* the fixture's message 5a33... has its per-message entries, ours batch ones */
	size_t i, old_kinds = 0, batch_kinds = 0;
	json_t *o;
	json_array_foreach(recs, i, o) {
		const char *k = json_string_value(json_object_get(o, "kind"));
		old_kinds += k && (strcmp(k, "submitted") == 0 || strcmp(k, "sent") == 0 || strcmp(k, "receipt") == 0);
		batch_kinds += k && strstr(k, "_batch") != NULL;
	}
	json_decref(recs);
	cr_assert(ge(sz, old_kinds, 3), "the old per-message entries are listed");
	cr_assert(ge(sz, batch_kinds, 3), "new entries are batch entries");
	int rc = agentproc_cli(&out, NULL, "audit", "show", "-c", agentproc_config(a), "5a3307e0aed373da59a2f427c4b23591",
			       NULL);
	cr_assert(eq(int, rc, 0), "audit show of the fixture's message: %s", out);
	cr_assert(strstr(out, "submitted ") && strstr(out, "receipt "), "%s", out);
	free(out);
	rc = agentproc_cli(&out, NULL, "audit", "show", "-c", agentproc_config(a), sent[2], NULL);
	cr_assert(eq(int, rc, 0), "audit show of a new message: %s", out);
	cr_assert(strstr(out, "submitted_batch") && strstr(out, "sent_batch") && strstr(out, "receipt_batch"), "%s", out);
	cr_assert(strstr(out, "(one of 5 messages)") != NULL, "%s", out);
	free(out);
	/* The body's hash the sender records (the API hashes it where it
	 * parses: a 64-message request on a worker, the 5 above on the loop)
	 * is the one the receiver records for the body it opened. */
	char big[64][33];
	cr_assert(eq(int, cluster_submit(c, "BENCH-SENDER", "BENCH-RECEIVER", "alert", "normal", 64, big), 202));
	cr_assert(ge(dbl, agentproc_metric(a, "limes_api_bodies_parsed_on_worker_total"), 1.0),
		  "the 64-message request was parsed on a worker");
	struct agentproc *b = cluster_ap(c, "BENCH-RECEIVER");
	const char *check[] = { sent[0], sent[4], big[0], big[63] };
	json_t *got = wait_entries(b, "received", NULL, NULL, big[63], 1, 10000);
	recs = audit_records(a, "");
	for (size_t k = 0; k < 4; k++) {
		char theirs[65] = "", ours[65] = "";
		body_hash_of(got, "received", check[k], theirs);
		body_hash_of(recs, "submitted", check[k], ours);
		cr_assert(eq(sz, strlen(ours), 64), "message %s: no body_hash in its submitted entry", check[k]);
		cr_assert(eq(str, ours, theirs), "message %s: submitted body_hash differs from the received one", check[k]);
	}
	json_decref(got);
	json_decref(recs);
	cr_assert(eq(int, cluster_stop(c, "BENCH-SENDER"), 0));
	rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
	cr_assert(eq(int, rc, 0), "the old and new trail does not verify:\n%s", out);
	free(out);
	cluster_destroy(&c);
}

/* Runs SQL on A's PostgreSQL schema as the server's superuser (a tamperer
 * who owns the database); the first value of the last result into out. */
static void pg_sql(const char *schema, const char *sql, char *out, size_t len)
{
	cr_assert(eq(int, store_test_pg_sql(schema, sql, out, len), 0), "SQL failed: %s", sql);
}

/* The audit tables, saved and restored around each tampering. */
static const char *const trail_tables[] = { "audit", "audit_ids", "audit_checkpoints", "audit_countersigs" };

static void pg_trail(const char *schema, bool save)
{
	char sql[1024] = "ALTER TABLE audit DISABLE TRIGGER USER;";
	for (size_t i = 0; i < 4; i++) {
		size_t n = strlen(sql);
		if (save)
			snprintf(sql + n, sizeof(sql) - n, "CREATE TABLE saved_%s AS SELECT * FROM %s;", trail_tables[i],
				 trail_tables[i]);
		else
			snprintf(sql + n, sizeof(sql) - n, "DELETE FROM %s; INSERT INTO %s SELECT * FROM saved_%s;",
				 trail_tables[i], trail_tables[i], trail_tables[i]);
	}
	pg_sql(schema, sql, NULL, 0);
}

/* The same trail on PostgreSQL (docs/audit.md, docs/availability.md): the
 * agent's own writes cannot change an entry, GET /v1/audit and `limes audit`
 * read it (the CLI straight from the database, through the config's
 * conninfo, while the agent runs), and each tampering with the tables is
 * found and named as on SQLite, the truncated tail through the neighbour's
 * countersigned copies. */
Test(audit, verify_finds_every_tampering_of_a_postgres_store)
{
	static const char *const ids[] = { A, R };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, R, "alert", NULL } };
	char conninfo[1024], schema[96], path[800], extra[1200], kept[800], value[64], sent[23][33], *out = NULL;
	cluster_configure(c, l, 1, AUDIT_FAST);
	struct agentproc *a = cluster_ap(c, A);

	cr_assert(eq(int, store_test_pg_create("auditpg", conninfo, sizeof(conninfo), schema, sizeof(schema)), 0));
	snprintf(path, sizeof(path), "%s/pg.conninfo", agentproc_dir(a));
	write_token(path, conninfo);
	snprintf(extra, sizeof(extra), "\n[store]\nbackend = postgres\nconninfo_file = %s\n", path);
	agentproc_set_api_extra(a, extra);
	snprintf(kept, sizeof(kept), "%s/kept.jsonl", agentproc_dir(a));

	cluster_start(c, A);
	cluster_start(c, R);
	cr_assert(eq(int, cluster_wait_up(c, A, R, 10000), 1));
	cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 20, sent), 202));
	json_decref(cluster_inbox(c, R));
	json_t *recs = wait_entries(a, "receipt", NULL, NULL, NULL, 20, 10000);
	cr_assert(eq(sz, count(recs, "submitted", NULL, NULL, sent[3]), 1));
	cr_assert(eq(sz, count(recs, "sent", "peer", R, sent[3]), 1));
	cr_assert(eq(sz, count(recs, "receipt", "status", "accepted", NULL), 20));
	cr_assert(eq(sz, count(recs, "config", "detail", "load", NULL), 1));
	cr_assert(eq(sz, count(recs, "key", "peer", A, NULL), 1));
	json_decref(recs);
	/* three more, one by one: entries enough for the tamperings below
	 * (the twenty above take a few batch entries) */
	for (int i = 0; i < 3; i++) {
		cr_assert(eq(int, cluster_submit(c, A, R, "alert", "normal", 1, sent + 20 + i), 202));
		json_decref(wait_entries(a, "receipt", NULL, NULL, sent[20 + i], 1, 10000));
	}
	unsigned long long countersigned = wait_countersigned(c, A, trail_head(a));

	/* the agent itself cannot change an entry: the trigger refuses */
	cr_assert(ne(int, store_test_pg_sql(schema, "UPDATE audit SET time_ms = 0 WHERE seq = 3", NULL, 0), 0));
	cr_assert(ne(int, store_test_pg_sql(schema, "DELETE FROM audit WHERE seq = 3", NULL, 0), 0));
	/* read straight from the database while the agent runs */
	int rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
	cr_assert(eq(int, rc, 0), "the running agent's trail does not verify:\n%s", out);
	cr_assert(strstr(out, "ok: ") != NULL);
	free(out);
	rc = agentproc_cli(&out, NULL, "audit", "show", "-c", agentproc_config(a), sent[3], NULL);
	cr_assert(eq(int, rc, 0), "audit show: %s", out);
	cr_assert(strstr(out, "submitted") && strstr(out, "receipt"), "the life of %s:\n%s", sent[3], out);
	free(out);

	stop_and_keep(c, kept);
	rc = limes_audit(&out, "verify", agentproc_config(a), "--neighbour", kept);
	cr_assert(eq(int, rc, 0), "the untouched trail does not verify against R's copies:\n%s", out);
	free(out);
	pg_trail(schema, true);

	static const struct {
		const char *what, *sql, *first_bad, *why;
	} cases[] = {
		{ "one field of one entry changed",
		  "UPDATE audit SET bytes = overlay(bytes placing '\\x7a'::bytea from 60 for 1) WHERE seq = 7", "7",
		  "do not hash to its stored hash" },
		{ "one entry deleted", "DELETE FROM audit WHERE seq = 7", "7", "missing" },
		{ "one entry inserted",
		  "UPDATE audit SET seq = seq + 1000000 WHERE seq >= 8; UPDATE audit SET seq = seq - 999999 WHERE seq > 1000000;"
		  " INSERT INTO audit SELECT 8, time_ms, kind, bytes, hash FROM audit WHERE seq = 7", "8",
		  "its bytes say entry 7" },
		{ "two entries swapped",
		  "UPDATE audit SET seq = -7 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = 8;"
		  " UPDATE audit SET seq = 8 WHERE seq = -7", "7", "its bytes say entry 8" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pg_trail(schema, false);
		char sql[1024];
		snprintf(sql, sizeof(sql), "ALTER TABLE audit DISABLE TRIGGER USER; %s", cases[i].sql);
		pg_sql(schema, sql, NULL, 0);
		rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
		expect_fault(cases[i].what, rc, out, cases[i].first_bad, cases[i].why);
		free(out);
	}

	/* one message id inside a batch entry changed (the submission of
	 * twenty is one entry; its index row is rewritten with it) */
	pg_trail(schema, false);
	{
		char sql[1024];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_ids WHERE seq = (SELECT seq FROM audit WHERE kind = 14"
			 " AND position('\\x%s'::bytea in bytes) > 0)", sent[4]);
		pg_sql(schema, sql, value, sizeof(value));
		cr_assert(eq(int, atoi(value), 20), "the submission of twenty is not one entry: %s ids", value);
		snprintf(sql, sizeof(sql), "ALTER TABLE audit DISABLE TRIGGER USER;"
			 " UPDATE audit_ids SET message_id = '\\x00112233445566778899aabbccddeeff' WHERE message_id = '\\x%s';"
			 " UPDATE audit SET bytes = overlay(bytes placing '\\x00112233445566778899aabbccddeeff'::bytea"
			 " from position('\\x%s'::bytea in bytes) for 16) WHERE kind = 14 AND position('\\x%s'::bytea in bytes) > 0"
			 " RETURNING seq", sent[4], sent[4], sent[4]);
		pg_sql(schema, sql, value, sizeof(value));
		rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
		expect_fault("one id inside a batch entry changed", rc, out, value, "do not hash to its stored hash");
		free(out);
	}

	/* the tail truncated after a countersigned checkpoint, our own
	 * checkpoints with it: only the neighbour's copy shows it */
	pg_trail(schema, false);
	unsigned long long cut = countersigned - 2;
	char sql[768], first[32];
	snprintf(sql, sizeof(sql),
		 "ALTER TABLE audit DISABLE TRIGGER USER; DELETE FROM audit WHERE seq > %llu;"
		 " DELETE FROM audit_ids WHERE seq > %llu; DELETE FROM audit_checkpoints WHERE seq > %llu;"
		 " DELETE FROM audit_countersigs WHERE seq > %llu; SELECT max(seq) FROM audit",
		 cut, cut, cut, cut);
	pg_sql(schema, sql, value, sizeof(value));
	cr_assert(eq(str, value, (snprintf(first, sizeof(first), "%llu", cut), first)));
	rc = limes_audit(&out, "verify", agentproc_config(a), NULL, NULL);
	cr_assert(eq(int, rc, 0), "the truncated trail alone is consistent:\n%s", out);
	free(out);
	rc = limes_audit(&out, "verify", agentproc_config(a), "--neighbour", kept);
	snprintf(first, sizeof(first), "%llu", cut + 1);
	expect_fault("tail truncated after a countersigned checkpoint", rc, out, first,
		     "were removed or the store was replaced");
	free(out);
	cluster_destroy(&c);
	cr_assert(eq(int, store_test_pg_drop(schema), 0));
}

/* ------------------------------------------------------------ crashes */

static int cmp33(const void *x, const void *y)
{
	return strcmp(x, y);
}

/* The ids of `kind` entries in an export (a sorted array of n strings). */
static char (*ids_of(const char *export, const char *kind, size_t *n))[33]
{
	size_t cap = 1024;
	char (*ids)[33] = malloc(cap * 33);
	char *copy = strdup(export), *save = NULL;
	*n = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		size_t j;
		json_t *m, *msgs = o ? agentproc_audit_messages(o, kind) : NULL;
		json_array_foreach(msgs, j, m) {
			const char *id = json_string_value(json_object_get(m, "id"));
			if (!id)
				continue;
			if (*n == cap)
				ids = realloc(ids, (cap *= 2) * 33);
			snprintf(ids[(*n)++], 33, "%s", id);
		}
		json_decref(msgs);
		json_decref(o);
	}
	free(copy);
	qsort(ids, *n, 33, cmp33);
	return ids;
}

static bool sorted_has(char (*ids)[33], size_t n, const char *id)
{
	return bsearch(id, ids, n, 33, cmp33) != NULL;
}

/* LIMES_LONG=1 (tests/run.sh --long): the full run of the issue, 30 kills
 * over 5,000 messages; by default a shorter one of the same shape. */
Test(audit, trails_verify_and_match_after_sigkills_of_both_sides)
{
	bool full = getenv("LIMES_LONG") != NULL;
	const size_t total = full ? 5000 : 600, batch = full ? 100 : 50;
	const int kills_wanted = full ? 30 : 6;
	static const char *const ids[] = { A, R };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, R, "alert", NULL } };
	char (*accepted)[33] = calloc(total, 33);
	size_t n_accepted = 0;
	int kills = 0;

	cluster_configure(c, l, 1, AUDIT_FAST);
	cluster_start(c, A);
	cluster_start(c, R);
	srand(4242);
	for (size_t round = 0; n_accepted < total; round++) {
		size_t want = total - n_accepted < batch ? total - n_accepted : batch;
		if (cluster_submit(c, A, R, "alert", "normal", want, accepted + n_accepted) == 202)
			n_accepted += want;
		if (kills < kills_wanted && round % 2 == 1) {
			/* the receiver, then the sender, at random moments of delivery */
			const char *victim = kills % 2 ? A : R;
			cluster_sleep_ms(rand() % 150);
			cluster_kill(c, victim);
			kills++;
			cluster_start(c, victim);
		}
	}
	while (kills < kills_wanted) {
		const char *victim = kills % 2 ? A : R;
		cluster_kill(c, victim);
		kills++;
		cluster_start(c, victim);
	}
	cr_assert(eq(int, kills, kills_wanted));
	for (int t = 0; cluster_queued(c, A, R) != 0; t++) {
		cr_assert(t < 1200, "A still has messages queued for R after 120 s");
		cluster_sleep_ms(100);
	}
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cr_assert(eq(int, cluster_stop(c, R), 0));

	char *out = NULL, *exp_a = NULL, *exp_r = NULL;
	int rc = limes_audit(&out, "verify", agentproc_config(cluster_ap(c, A)), NULL, NULL);
	cr_assert(eq(int, rc, 0), "A's trail after %d kills:\n%s", kills, out);
	free(out);
	rc = limes_audit(&out, "verify", agentproc_config(cluster_ap(c, R)), NULL, NULL);
	cr_assert(eq(int, rc, 0), "R's trail after %d kills:\n%s", kills, out);
	free(out);
	cr_assert(eq(int, limes_audit(&exp_a, "export", agentproc_config(cluster_ap(c, A)), NULL, NULL), 0));
	cr_assert(eq(int, limes_audit(&exp_r, "export", agentproc_config(cluster_ap(c, R)), NULL, NULL), 0));
	size_t n_sub, n_recv, n_rcpt;
	char (*submitted)[33] = ids_of(exp_a, "submitted", &n_sub);
	char (*received)[33] = ids_of(exp_r, "received", &n_recv);
	char (*receipts)[33] = ids_of(exp_a, "receipt", &n_rcpt);
	/* every 202'd message has exactly one submission entry */
	for (size_t i = 0; i < n_accepted; i++)
		cr_assert(sorted_has(submitted, n_sub, accepted[i]), "202'd %s has no submission entry", accepted[i]);
	for (size_t i = 0; i + 1 < n_sub; i++)
		cr_assert(ne(str, submitted[i], submitted[i + 1]), "two submission entries for %s", submitted[i]);
	/* exactly one delivery entry on the receiver for each, and nothing else:
	 * a submission whose 202 a kill cut off still happened, and is delivered */
	cr_assert(eq(sz, n_recv, n_sub), "R has %zu received entries, A %zu submissions", n_recv, n_sub);
	for (size_t i = 0; i < n_recv; i++) {
		cr_assert(eq(str, received[i], submitted[i]), "received entry %s without its submission", received[i]);
		cr_assert(sorted_has(receipts, n_rcpt, received[i]), "no verified receipt entry at A for %s", received[i]);
	}
	/* no receipt entry for a message that was not submitted */
	for (size_t i = 0; i < n_rcpt; i++)
		cr_assert(sorted_has(submitted, n_sub, receipts[i]), "receipt entry for unknown %s", receipts[i]);
	free(submitted);
	free(received);
	free(receipts);
	free(exp_a);
	free(exp_r);
	free(accepted);
	cluster_destroy(&c);
}
