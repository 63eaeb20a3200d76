/*
 * Link cuts between network namespaces: three agencies, each in a network
 * namespace of its own that this test creates, joined by veth pairs A–B and
 * B–C (A has no route to C: A → C goes through the relay B). While A sends
 * 2,000 messages (half to C through B, half to B), the veth links are cut
 * and restored (`ip link set down/up`) again and again, short cuts that TCP
 * rides out and long ones past `dead_after` that reset the links. At the
 * end every message accepted is in its recipient's inbox exactly once and
 * marked delivered at A (the receipts came back, through B for C), and B's
 * store (database, WAL, shared memory) and its log hold none of the
 * plaintext: every body carries a marker string that C reads back.
 * LIMES_LONG=1 (tests/run.sh --long) sends 10,000 with more cuts.
 * Needs root (namespaces); everything it makes is removed on every exit
 * path, by the test or by the janitor of support/netns.c.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "support/cluster.h"
#include "support/faults.h"
#include "support/netns.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "RO-POLITIA-NADLAC"
#define BATCH 10

static struct cluster *cl;
static struct netns *ns;

/* Criterion runs this after the test, also when an assertion failed. */
static void teardown(void)
{
	cluster_destroy(&cl);
	netns_destroy(&ns);
}

TestSuite(netns_links, .timeout = 900, .fini = teardown);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct flow {
	char marker[64];
	size_t target;             /* messages per recipient */
	struct fault_ids to_b, to_c;
	size_t refused;
	int last_status;
	pthread_mutex_t lock;
	uint64_t last_submit_ms;   /* when the last batch was accepted */
	atomic_bool done;
};

/* Submits `target` alerts to B and as many to C, alternating, in batches
 * of BATCH, paced so that they flow through the whole cut schedule. */
static void *submitter(void *arg)
{
	struct flow *f = arg;
	json_t *example = json_loads(cluster_example("alert"), 0, NULL);
	for (unsigned turn = 0; f->to_b.n < f->target || f->to_c.n < f->target; turn++) {
		bool to_c = turn % 2 == 0;
		struct fault_ids *ids = to_c ? &f->to_c : &f->to_b;
		if (ids->n >= f->target)
			continue;
		json_t *arr = json_array();
		for (size_t i = 0; i < BATCH; i++) {
			json_t *body = json_deep_copy(example);
			json_object_set_new(body, "free_text",
					    json_sprintf("%s message %zu of the netns link test", f->marker, ids->n + i));
			json_array_append_new(arr, json_pack("{s:[s], s:s, s:s, s:o}", "to", to_c ? C : B, "type",
							     "alert", "priority", turn % 7 ? "normal" : "urgent",
							     "body", body));
		}
		char *text = json_dumps(arr, JSON_COMPACT);
		json_t *resp = NULL;
		int st = cluster_http(cl, A, "POST", "/v1/messages", text, &resp);
		pthread_mutex_lock(&f->lock);
		f->last_status = st;
		if (st == 202) {
			json_t *list = json_object_get(resp, "ids");
			for (size_t i = 0; i < json_array_size(list); i++)
				fault_ids_add(ids, json_string_value(json_array_get(list, i)));
		} else {
			f->refused += BATCH;
		}
		pthread_mutex_unlock(&f->lock);
		free(text);
		json_decref(resp);
		json_decref(arr);
		if (st != 202)
			break; /* the agent is local to A and never cut: a refusal is a failure */
		cluster_sleep_ms(90);
	}
	json_decref(example);
	f->last_submit_ms = now_ms();
	atomic_store(&f->done, true);
	return NULL;
}

/* Occurrences of needle in the file at path; adds the bytes read to *bytes. */
static size_t count_in_file(const char *path, const char *needle, size_t *bytes)
{
	FILE *fp = fopen(path, "rb");
	size_t hits = 0, n = strlen(needle), len = 0;
	char *buf = NULL;
	if (!fp)
		return 0;
	if (fseek(fp, 0, SEEK_END) == 0) {
		long size = ftell(fp);
		rewind(fp);
		buf = size > 0 ? malloc((size_t)size) : NULL;
		if (buf)
			len = fread(buf, 1, (size_t)size, fp);
	}
	fclose(fp);
	for (size_t i = 0; i + n <= len; i++)
		hits += memcmp(buf + i, needle, n) == 0;
	free(buf);
	*bytes += len;
	return hits;
}

/* The same over every regular file of a folder (not recursing: the store is flat). */
static size_t count_in_dir(const char *dir, const char *needle, size_t *bytes, size_t *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t hits = 0;
	cr_assert(d != NULL, "cannot list %s", dir);
	while ((e = readdir(d))) {
		char path[1300];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			hits += count_in_file(path, needle, bytes);
			(*files)++;
		}
	}
	closedir(d);
	return hits;
}

static void place(struct agentproc *ap, int i, const char *const *wrapper)
{
	char listen[64], api[64];
	snprintf(listen, sizeof(listen), "tcp://0.0.0.0:%u", agentproc_zmq_port(ap));
	agentproc_set_listen(ap, listen);
	agentproc_set_api_host(ap, ns->mgmt_addr[i]);
	/* the management veth is the test's own: plain HTTP there is accepted on purpose */
	snprintf(api, sizeof(api), "allow_plaintext = yes\n");
	agentproc_set_api_extra(ap, api);
	agentproc_set_link_extra(ap, "retry = 300ms\nretry_max = 2s\nheartbeat = 500ms\ndead_after = 3s\n");
	agentproc_set_wrapper(ap, wrapper);
}

static void endpoint(char *out, size_t len, const char *addr, const struct agentproc *ap)
{
	snprintf(out, len, "tcp://%s:%u", addr, agentproc_zmq_port(ap));
}

Test(netns_links, cuts_and_restores_deliver_everything_once_and_the_relay_holds_no_plaintext)
{
	bool long_run = getenv("LIMES_LONG") && strcmp(getenv("LIMES_LONG"), "1") == 0;
	static const char *const ids[] = { A, B, C };
	struct flow f = { .target = long_run ? 5000 : 1000 };
	pthread_mutex_init(&f.lock, NULL);

	ns = netns_new(3);
	cr_assert(ns != NULL, "cannot make the network namespaces (the test needs root and iproute2)");
	int ab = netns_join(ns, 0, 1), bc = netns_join(ns, 1, 2);
	cr_assert(ab >= 0 && bc >= 0, "cannot join the namespaces with veth pairs");
	const struct netns_link *lab = &ns->link[ab], *lbc = &ns->link[bc];

	cl = cluster_new(3, ids);
	struct agentproc *pa = cluster_ap(cl, A), *pb = cluster_ap(cl, B), *pc = cluster_ap(cl, C);
	static const char *wrap[3][5];
	for (int i = 0; i < 3; i++) {
		const char *w[] = { "/usr/sbin/ip", "netns", "exec", ns->name[i], NULL };
		memcpy(wrap[i], w, sizeof(w));
		place(cluster_ap(cl, ids[i]), i, wrap[i]);
	}
	char ep[64];
	endpoint(ep, sizeof(ep), lab->addr_b, pb);
	agentproc_add_peer(pa, B, ep, agentproc_pubkey(pb), "alert", "");
	agentproc_add_relayed_peer(pa, C, B, agentproc_pubkey(pc), "alert", "");
	endpoint(ep, sizeof(ep), lab->addr_a, pa);
	agentproc_add_peer(pb, A, ep, agentproc_pubkey(pa), "", "alert");
	endpoint(ep, sizeof(ep), lbc->addr_b, pc);
	agentproc_add_peer(pb, C, ep, agentproc_pubkey(pc), "alert", "");
	endpoint(ep, sizeof(ep), lbc->addr_a, pb);
	agentproc_add_peer(pc, B, ep, agentproc_pubkey(pb), "", "");
	agentproc_add_relayed_peer(pc, A, B, agentproc_pubkey(pa), "", "alert");
	for (int i = 0; i < 3; i++)
		cluster_start(cl, ids[i]);
	cr_assert(cluster_wait_up(cl, A, B, 15000), "A's link to B never came up across the veth");
	cr_assert(cluster_wait_up(cl, B, C, 15000), "B's link to C never came up across the veth");

	unsigned seed = (unsigned)time(NULL);
	srand(seed);
	snprintf(f.marker, sizeof(f.marker), "PLAINTEXT-MARKER-%08x%08x", (unsigned)rand(), (unsigned)rand());
	cr_log_info("seed %u, marker %s", seed, f.marker);

	/* cuts while the messages flow: short ones (TCP rides them out) and
	 * long ones past dead_after (the links reset and everything unreceipted
	 * is sent again), on A–B, on B–C, or on both */
	uint64_t t0 = now_ms();
	pthread_t th;
	cr_assert(pthread_create(&th, NULL, submitter, &f) == 0);
	int cuts = 0, short_cuts = 0, long_cuts = 0, min_cuts = long_run ? 60 : 8;
	uint64_t down_ms = 0;
	while (!atomic_load(&f.done) || cuts < min_cuts) {
		int which = rand() % 3; /* 0: A–B, 1: B–C, 2: both */
		bool is_long = rand() % 3 == 0;
		int ms = is_long ? 3500 + rand() % 2500 : 100 + rand() % 900;
		if (which != 1)
			cr_assert(netns_link_set(ns, ab, false) == 0);
		if (which != 0)
			cr_assert(netns_link_set(ns, bc, false) == 0);
		cluster_sleep_ms(ms);
		if (which != 1)
			cr_assert(netns_link_set(ns, ab, true) == 0);
		if (which != 0)
			cr_assert(netns_link_set(ns, bc, true) == 0);
		cuts++;
		short_cuts += !is_long;
		long_cuts += is_long;
		down_ms += (uint64_t)ms;
		cluster_sleep_ms(300 + rand() % 1200);
	}
	pthread_join(th, NULL);
	uint64_t t_sent = f.last_submit_ms, t_cuts_over = now_ms();
	cr_assert(eq(sz, f.refused, 0), "A refused %zu submissions (last status %d)", f.refused, f.last_status);

	cr_assert(fault_wait_drained(cl, A, B, 120), "A never drained toward B");
	cr_assert(fault_wait_drained(cl, A, C, 120), "A never drained toward C");
	uint64_t t_drained = now_ms();
	cr_log_info("drained %.1f s after the last cut", (double)(t_drained - t_cuts_over) / 1000.0);
	fault_assert_invariant(cl, A, B, &f.to_b, 0);
	fault_assert_invariant(cl, A, C, &f.to_c, 0);
	cr_assert(eq(long, cluster_queued(cl, B, C), 0), "B still holds relayed messages for C");

	/* the plaintext went end to end: C reads the marker in every body */
	json_t *inbox = cluster_inbox(cl, C);
	size_t i, with_marker = 0;
	json_t *m;
	json_array_foreach(inbox, i, m) {
		const char *text = json_string_value(json_object_get(json_object_get(m, "body"), "free_text"));
		with_marker += text && strstr(text, f.marker) != NULL;
	}
	json_decref(inbox);
	cr_assert(eq(sz, with_marker, f.to_c.n), "C reads the marker in %zu of %zu bodies", with_marker, f.to_c.n);
	cr_assert(lt(dbl, 0.0, agentproc_metric(pb, "limes_relayed_total")),
		  "B relayed nothing: the plaintext check means nothing");

	/* B's store as a crash leaves it (SIGKILL: the WAL stays) and its log:
	 * no trace of the plaintext; the scanner itself finds the marker where
	 * it is written (a control file) */
	cluster_kill(cl, B);
	char path[1024];
	size_t bytes = 0, files = 0;
	snprintf(path, sizeof(path), "%s/data", agentproc_dir(pb));
	size_t hits = count_in_dir(path, f.marker, &bytes, &files);
	snprintf(path, sizeof(path), "%s/agent.log", agentproc_dir(pb));
	size_t log_hits = count_in_file(path, f.marker, &bytes);
	files++;
	cr_assert(eq(sz, hits, 0), "B's store holds the plaintext marker %zu times", hits);
	cr_assert(eq(sz, log_hits, 0), "B's log holds the plaintext marker %zu times", log_hits);
	snprintf(path, sizeof(path), "%s/marker-control", cl->dir);
	FILE *ctl = fopen(path, "w");
	cr_assert(ctl != NULL);
	fprintf(ctl, "xx%syy", f.marker);
	fclose(ctl);
	size_t ctl_bytes = 0;
	cr_assert(eq(sz, count_in_file(path, f.marker, &ctl_bytes), 1), "the scanner misses the marker");

	printf("netns_links messages=%zu (A->C via B %zu, A->B %zu) cuts=%d (short %d, long %d) down_ms=%llu "
	       "send_s=%.1f done_after_last_submit_s=%.1f lost=0 duplicated=0 plaintext_at_B=0 "
	       "(%zu files, %zu bytes scanned)\n",
	       f.to_b.n + f.to_c.n, f.to_c.n, f.to_b.n, cuts, short_cuts, long_cuts, (unsigned long long)down_ms,
	       (double)(t_sent - t0) / 1000.0, (double)(t_drained - t_sent) / 1000.0, files, bytes);
	fflush(stdout);
	fault_ids_free(&f.to_b);
	fault_ids_free(&f.to_c);
}
