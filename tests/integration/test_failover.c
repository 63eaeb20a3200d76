/*
 * High availability with real processes (docs/availability.md): nodes N1
 * and N2 of agency A share one PostgreSQL (a throwaway server: ctest runs
 * this through tests/pg_throwaway.sh), neighbour B lists both nodes'
 * endpoints. While messages flow A->B and B->A, the active node of A is
 * SIGKILLed at random moments and restarted (it comes back as a standby).
 * Checked: every 202'd message is delivered exactly once and every received
 * message is in the inbox exactly once; the nodes' active intervals (from
 * their own role log lines, ended by the kill) never overlap; each takeover
 * completes in under 10 s (the figures are printed); the agency's one
 * audit trail, written by whichever node was active, verifies whole and
 * records each 202'd and each received message once. A standby answers
 * /healthz and submissions 503 naming the active node, and /metrics and
 * /v1/peers show the role.
 *
 * The default run sends 600 messages each way and kills twice; with
 * LIMES_LONG=1 (tests/run.sh --long) 5,000 each way and 5 kills.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "support/agentproc.h"
#include "support/cluster.h"
#include "support/store_testutil.h"

#define BATCH 50
#define MAX_KILLS 8
#define MAX_ACTIVE 32

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "2026-12-01T13:36:49.963Z" -> ms since the epoch (UTC). */
static uint64_t log_time_ms(const char *line)
{
	struct tm tm = { 0 };
	int ms = 0;
	if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000 + (uint64_t)ms;
}

/* The times at which a node's log says it became active. */
static size_t active_starts(const struct agentproc *ap, uint64_t *out, size_t cap)
{
	char path[1024], line[2048];
	size_t n = 0;
	snprintf(path, sizeof(path), "%s/agent.log", agentproc_dir(ap));
	FILE *f = fopen(path, "r");
	cr_assert(f != NULL, "no log at %s", path);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "event=role role=active") && n < cap) {
			out[n] = log_time_ms(line);
			cr_assert(out[n] > 0, "unreadable time in: %s", line);
			n++;
		}
	fclose(f);
	return n;
}

static void copy_file(const char *from, const char *to)
{
	char buf[4096];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	cr_assert(in != NULL && out != NULL, "copy %s -> %s", from, to);
	size_t n = fread(buf, 1, sizeof(buf), in);
	cr_assert(fwrite(buf, 1, n, out) == n);
	fclose(in);
	fclose(out);
	cr_assert(eq(int, chmod(to, 0600), 0));
}

/* 200 from /healthz: this node is the active one. */
static bool is_active(struct agentproc *ap)
{
	return agentproc_running(ap) && agentproc_http(ap, "GET", "/healthz", NULL, 0, "", NULL) == 200;
}

/* Waits up to ms for one of the two nodes to be active; NULL if none. */
static struct agentproc *wait_active(struct agentproc *a, struct agentproc *b, int ms)
{
	for (int waited = 0; waited <= ms; waited += 20) {
		if (is_active(a))
			return a;
		if (is_active(b))
			return b;
		cluster_sleep_ms(20);
	}
	return NULL;
}

/* Every id of `ids` must be in the inbox exactly once, and no inbox id twice. */
static void check_exactly_once(json_t *inbox, char (*ids)[33], size_t n, const char *what)
{
	size_t count = json_array_size(inbox);
	char **seen = calloc(count ? count : 1, sizeof(*seen));
	size_t i;
	json_t *m;
	cr_assert(seen != NULL);
	json_array_foreach(inbox, i, m)
		seen[i] = (char *)json_string_value(json_object_get(m, "id"));
	for (i = 0; i < count; i++)
		for (size_t j = i + 1; j < count; j++)
			cr_assert(strcmp(seen[i], seen[j]) != 0, "%s: %s is in the inbox twice", what, seen[i]);
	for (size_t k = 0; k < n; k++) {
		int found = 0;
		for (i = 0; i < count; i++)
			found += strcmp(ids[k], seen[i]) == 0;
		cr_assert(eq(int, found, 1), "%s: 202'd message %s is in the inbox %d times", what, ids[k], found);
	}
	free(seen);
}

/* How often each of ids is a message of a `kind` entry (or of its batch
 * entries) in the export. */
static void count_ids(const char *export, const char *kind, char (*ids)[33], size_t n, unsigned *counts)
{
	char *copy = strdup(export), *save = NULL;
	cr_assert(copy != NULL);
	memset(counts, 0, n * sizeof(*counts));
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		json_t *m, *msgs = o ? agentproc_audit_messages(o, kind) : NULL;
		size_t j;
		json_array_foreach(msgs, j, m) {
			const char *id = json_string_value(json_object_get(m, "id"));
			for (size_t i = 0; id && i < n; i++)
				if (strcmp(ids[i], id) == 0)
					counts[i]++;
		}
		json_decref(msgs);
		json_decref(o);
	}
	free(copy);
}

/* The agency has one audit trail, written by each node while it was
 * active: after every takeover the new active node chained on the head it
 * read from the database, so the whole trail verifies; each activation (and
 * nothing a standby did) recorded its config once; every 202'd message has
 * exactly one submission entry and every message received one reception. */
static void check_one_trail(struct agentproc *active, char (*ab)[33], size_t n_ab, char (*ba)[33], size_t n_ba,
			    size_t kills)
{
	char *out = NULL;
	unsigned *counts = calloc(n_ab > n_ba ? n_ab : n_ba, sizeof(*counts));
	int rc = agentproc_cli(&out, NULL, "audit", "verify", "-c", agentproc_config(active), NULL);
	cr_assert(eq(int, rc, 0), "the agency's trail after %zu takeovers does not verify:\n%s", kills, out);
	fprintf(stderr, "failover: %s", out);
	free(out);
	rc = agentproc_cli(&out, NULL, "audit", "export", "-c", agentproc_config(active), NULL);
	cr_assert(eq(int, rc, 0));
	size_t loads = 0;
	for (const char *p = out; (p = strstr(p, "\"kind\":\"config\"")) != NULL; p++)
		loads++;
	cr_assert(eq(sz, loads, kills + 1), "one config entry per activation");
	count_ids(out, "submitted", ab, n_ab, counts);
	for (size_t i = 0; i < n_ab; i++)
		cr_assert(eq(u32, counts[i], 1), "202'd %s has %u submission entries", ab[i], counts[i]);
	count_ids(out, "received", ba, n_ba, counts);
	for (size_t i = 0; i < n_ba; i++)
		cr_assert(eq(u32, counts[i], 1), "received %s has %u reception entries", ba[i], counts[i]);
	free(counts);
	free(out);
}

Test(failover, active_node_killed_repeatedly_loses_nothing_and_never_overlaps, .timeout = 900)
{
	bool lng = getenv("LIMES_LONG") && strcmp(getenv("LIMES_LONG"), "1") == 0;
	size_t total = lng ? 5000 : 600, kills = lng ? 5 : 2;
	char root[128], root2[128], conninfo[1024], schema[96], path[1024], from[1024], extra[1400];
	char(*ab)[33] = calloc(total + BATCH, 33), (*ba)[33] = calloc(total + BATCH, 33);
	size_t n_ab = 0, n_ba = 0, kills_done = 0;
	uint64_t kill_ms[2][MAX_KILLS], takeover_ms[MAX_KILLS];
	size_t n_kill[2] = { 0, 0 };
	unsigned seed = (unsigned)time(NULL);

	cr_assert(ab != NULL && ba != NULL);
	srand(seed);
	cr_log_info("seed %u, %zu messages each way, %zu kills", seed, total, kills);
	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "failover"), 0));
	cr_assert(eq(int, store_test_mkdtemp(root2, sizeof(root2), "failover2"), 0));
	cr_assert(eq(int, store_test_pg_create("fo", conninfo, sizeof(conninfo), schema, sizeof(schema)), 0));

	struct agentproc *node[2] = { agentproc_new(root, "A"), agentproc_new(root2, "A") };
	struct agentproc *b = agentproc_new(root, "B");
	cr_assert(node[0] != NULL && node[1] != NULL && b != NULL);
	/* one agency, one identity: N2 gets N1's keys */
	for (int k = 0; k < 2; k++) {
		static const char *const files[] = { "identity.key", "identity.pub" };
		snprintf(from, sizeof(from), "%s/keys/%s", agentproc_dir(node[0]), files[k]);
		snprintf(path, sizeof(path), "%s/keys/%s", agentproc_dir(node[1]), files[k]);
		copy_file(from, path);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/pg.conninfo", agentproc_dir(node[i]));
		FILE *f = fopen(path, "w");
		cr_assert(f != NULL);
		fprintf(f, "%s\n", conninfo);
		fclose(f);
		cr_assert(eq(int, chmod(path, 0600), 0));
		snprintf(extra, sizeof(extra), "\n[store]\nbackend = postgres\nconninfo_file = pg.conninfo\nnode = N%d\nha_poll = 200ms\n",
			 i + 1);
		agentproc_set_api_extra(node[i], extra);
		agentproc_add_agent_peer(node[i], b, "alert", "alert");
	}
	char endpoints[600];
	snprintf(endpoints, sizeof(endpoints), "%s, %s", agentproc_endpoint(node[0]), agentproc_endpoint(node[1]));
	agentproc_add_peer(b, "A", endpoints, agentproc_pubkey(node[0]), "alert", "alert");

	cr_assert(eq(int, agentproc_start(b), 0));
	cr_assert(eq(int, agentproc_start(node[0]), 0));
	cr_assert(eq(ptr, wait_active(node[0], node[0], 5000), node[0]));
	cr_assert(eq(int, agentproc_start(node[1]), 0));
	cr_assert(agentproc_wait_log(node[1], "event=role role=standby node=N2 active_node=N1", 5000));

	/* the standby: 503 naming the active node, role in /metrics and /v1/peers */
	json_t *doc = NULL;
	cr_assert(eq(long, agentproc_json(node[1], "GET", "/healthz", NULL, &doc), 503));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(doc, "role")), "standby"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(doc, "active_node")), "N1"));
	json_decref(doc);
	doc = NULL;
	struct cluster c = { .n = 2, .ap = { node[1], b } };
	snprintf(c.dir, sizeof(c.dir), "%s", root);
	cr_assert(eq(int, cluster_submit(&c, "A", "B", "alert", "normal", 1, NULL), 503));
	cr_assert(eq(long, agentproc_json(node[1], "POST", "/v1/messages", "{}", &doc), 503));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(doc, "error"), "code")), "standby"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(doc, "error"), "active_node")), "N1"));
	json_decref(doc);
	doc = NULL;
	cr_assert(eq(dbl, agentproc_metric(node[1], "limes_role{node=\"N2\",role=\"standby\"}"), 0.0));
	cr_assert(eq(dbl, agentproc_metric(node[0], "limes_role{node=\"N1\",role=\"active\"}"), 1.0));
	cr_assert(eq(long, agentproc_json(node[1], "GET", "/v1/peers", NULL, &doc), 200));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(json_object_get(doc, "agent"), "role")), "standby"));
	json_decref(doc);

	/* traffic both ways; kill the active node of A at random batches */
	size_t batches = total / BATCH, next_kill = 1 + (size_t)rand() % (batches / (kills + 1) + 1);
	struct agentproc *active = node[0];
	for (size_t batch = 0; n_ab < total || n_ba < total; batch++) {
		if (n_ab < total) {
			c.ap[0] = active;
			int st = cluster_submit(&c, "A", "B", "alert", "normal", BATCH, ab + n_ab);
			if (st == 202)
				n_ab += BATCH;
			else /* the node died or is standby: the client goes to the other */
				active = wait_active(node[0], node[1], 15000);
			cr_assert(active != NULL, "no active node of A within 15 s");
		}
		if (n_ba < total && cluster_submit(&c, "B", "A", "alert", "normal", BATCH, ba + n_ba) == 202)
			n_ba += BATCH;
		if (kills_done < kills && batch == next_kill) {
			int who = active == node[0] ? 0 : 1;
			cr_assert(is_active(active));
			agentproc_kill9(active);
			uint64_t killed = now_ms();
			kill_ms[who][n_kill[who]++] = killed;
			struct agentproc *other = node[1 - who];
			active = wait_active(other, other, 10000);
			cr_assert(eq(ptr, active, other), "kill %zu: N%d did not take over within 10 s", kills_done + 1,
				  2 - who);
			uint64_t starts[MAX_ACTIVE];
			size_t n = active_starts(other, starts, MAX_ACTIVE);
			cr_assert(n > 0);
			takeover_ms[kills_done] = starts[n - 1] - killed;
			cr_assert(lt(u64, takeover_ms[kills_done], 10000));
			/* restarted, it is a standby */
			cr_assert(eq(int, agentproc_start(node[who]), 0));
			cr_assert(not(is_active(node[who])));
			kills_done++;
			next_kill = batch + 1 + (size_t)rand() % (batches / (kills + 1) + 1);
		}
	}
	cr_assert(eq(u64, (uint64_t)kills_done, (uint64_t)kills));

	/* everything arrives: B's inbox holds the A->B messages, A's the B->A ones */
	json_t *inbox_b = NULL, *inbox_a = NULL;
	for (int waited = 0; waited <= 120000; waited += 500) {
		json_decref(inbox_b);
		json_decref(inbox_a);
		c.ap[0] = active;
		inbox_b = cluster_inbox(&c, "B");
		inbox_a = cluster_inbox(&c, "A");
		if (json_array_size(inbox_b) >= n_ab && json_array_size(inbox_a) >= n_ba)
			break;
		cluster_sleep_ms(500);
	}
	check_exactly_once(inbox_b, ab, n_ab, "B's inbox");
	check_exactly_once(inbox_a, ba, n_ba, "A's inbox");
	/* and the sender saw each delivered (the sample: first, last, one at random) */
	size_t pick[3] = { 0, n_ab - 1, (size_t)rand() % n_ab };
	for (int k = 0; k < 3; k++) {
		char state[32];
		cluster_state(&c, "A", ab[pick[k]], "B", state, sizeof(state), NULL);
		for (int waited = 0; strcmp(state, "delivered") != 0 && waited < 20000; waited += 200) {
			cluster_sleep_ms(200);
			cluster_state(&c, "A", ab[pick[k]], "B", state, sizeof(state), NULL);
		}
		cr_assert(eq(str, state, "delivered"), "message %s", ab[pick[k]]);
	}

	/* role intervals: [start from the log, end = the kill or now]; sorted by
	 * start, each begins after the previous one ended */
	uint64_t iv_start[MAX_ACTIVE], iv_end[MAX_ACTIVE], end_now = now_ms();
	size_t n_iv = 0;
	for (int w = 0; w < 2; w++) {
		uint64_t starts[MAX_ACTIVE];
		size_t n = active_starts(node[w], starts, MAX_ACTIVE);
		for (size_t k = 0; k < n; k++) {
			uint64_t end = end_now;
			for (size_t q = 0; q < n_kill[w]; q++)
				if (kill_ms[w][q] >= starts[k] && kill_ms[w][q] < end)
					end = kill_ms[w][q];
			iv_start[n_iv] = starts[k];
			iv_end[n_iv++] = end;
		}
	}
	cr_assert(eq(u64, (uint64_t)n_iv, (uint64_t)kills + 1), "one active interval per takeover, plus the first");
	for (size_t i = 0; i < n_iv; i++)
		for (size_t j = 0; j < n_iv; j++)
			if (i != j && iv_start[i] <= iv_start[j])
				cr_assert(le(u64, iv_end[i], iv_start[j]),
					  "active intervals overlap: [%llu, %llu] and [%llu, %llu]",
					  (unsigned long long)iv_start[i], (unsigned long long)iv_end[i],
					  (unsigned long long)iv_start[j], (unsigned long long)iv_end[j]);
	check_one_trail(active, ab, n_ab, ba, n_ba, kills);
	for (size_t k = 0; k < kills; k++)
		fprintf(stderr, "failover: takeover %zu took %llu ms\n", k + 1, (unsigned long long)takeover_ms[k]);
	fprintf(stderr, "failover: %zu A->B and %zu B->A messages, each delivered exactly once\n", n_ab, n_ba);

	json_decref(inbox_a);
	json_decref(inbox_b);
	for (int i = 0; i < 2; i++)
		agentproc_destroy(&node[i]);
	agentproc_destroy(&b);
	cr_assert(eq(int, store_test_pg_drop(schema), 0));
	if (!getenv("LIMES_KEEP_TEST_DIRS")) {
		store_test_rmtree(root);
		store_test_rmtree(root2);
	}
	free(ab);
	free(ba);
}

Test(failover, a_node_that_loses_its_database_session_stops_at_once, .timeout = 120)
{
	char root[128], root2[128], conninfo[1024], schema[96], path[1024], extra[1400];

	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "fence"), 0));
	cr_assert(eq(int, store_test_mkdtemp(root2, sizeof(root2), "fence2"), 0));
	cr_assert(eq(int, store_test_pg_create("fence", conninfo, sizeof(conninfo), schema, sizeof(schema)), 0));
	struct agentproc *node[2] = { agentproc_new(root, "A"), agentproc_new(root2, "A") };
	cr_assert(node[0] != NULL && node[1] != NULL);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/pg.conninfo", agentproc_dir(node[i]));
		FILE *f = fopen(path, "w");
		cr_assert(f != NULL);
		fprintf(f, "%s\n", conninfo);
		fclose(f);
		cr_assert(eq(int, chmod(path, 0600), 0));
		snprintf(extra, sizeof(extra), "\n[store]\nbackend = postgres\nconninfo_file = pg.conninfo\nnode = N%d\nha_poll = 200ms\n",
			 i + 1);
		agentproc_set_api_extra(node[i], extra);
	}
	cr_assert(eq(int, agentproc_start(node[0]), 0));
	cr_assert(eq(ptr, wait_active(node[0], node[0], 5000), node[0]));
	cr_assert(eq(int, agentproc_start(node[1]), 0));
	cr_assert(agentproc_wait_log(node[1], "role=standby", 5000));
	/* the database ends both nodes' sessions (as a failover or a partition
	 * would): the active node stops acting within a poll, and so does the
	 * standby; both exit non-zero, for systemd to restart them */
	cr_assert(eq(int, store_test_pg_kill_sessions(schema), 2));
	for (int i = 0; i < 2; i++) {
		int waited = 0;
		while (agentproc_running(node[i]) && waited < 5000) {
			cluster_sleep_ms(50);
			waited += 50;
		}
		cr_assert(not(agentproc_running(node[i])), "N%d still runs 5 s after losing its session", i + 1);
	}
	cr_assert(agentproc_log_contains(node[0], "event=role role=stopped node=N1 was=active"));
	/* N2 may have taken the lock in the moment between the two sessions'
	 * ends: stopped either way */
	cr_assert(agentproc_log_contains(node[1], "event=role role=stopped node=N2 was="));
	/* restarted, one of them is active again */
	cr_assert(eq(int, agentproc_start(node[1]), 0));
	cr_assert(eq(ptr, wait_active(node[1], node[1], 5000), node[1]));
	cr_assert(eq(int, agentproc_start(node[0]), 0));
	cr_assert(not(is_active(node[0])));
	for (int i = 0; i < 2; i++)
		agentproc_destroy(&node[i]);
	cr_assert(eq(int, store_test_pg_drop(schema), 0));
	store_test_rmtree(root);
	store_test_rmtree(root2);
}
