/* Several agents wired together for link tests: see cluster.h. */
#include "support/cluster.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *jstr(const json_t *v)
{
	const char *s = json_string_value(v);
	return s ? s : "";
}

void cluster_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct cluster *cluster_new(size_t n, const char *const *ids)
{
	struct cluster *c = calloc(1, sizeof(*c));
	cr_assert(c && n <= CLUSTER_MAX);
	snprintf(c->dir, sizeof(c->dir), "/tmp/limes-cluster.XXXXXX");
	cr_assert(mkdtemp(c->dir));
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		c->ap[i] = agentproc_new(c->dir, ids[i]);
		cr_assert(c->ap[i], "cannot make agent %s", ids[i]);
	}
	return c;
}

struct agentproc *cluster_ap(struct cluster *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(agentproc_id(c->ap[i]), id) == 0)
			return c->ap[i];
	cr_assert_fail("no agent %s", id);
	return NULL;
}

void cluster_configure(struct cluster *c, const struct cluster_link *links, size_t n_links, const char *extra)
{
	for (size_t i = 0; i < c->n; i++) {
		struct agentproc *a = c->ap[i];
		if (extra)
			agentproc_set_link_extra(a, extra);
		for (size_t j = 0; j < c->n; j++) {
			struct agentproc *b = c->ap[j];
			const char *send = "", *accept = "", *via = NULL;
			bool linked = false;
			for (size_t k = 0; k < n_links; k++) {
				const struct cluster_link *l = &links[k];
				if (strcmp(l->from, agentproc_id(a)) == 0 && strcmp(l->to, agentproc_id(b)) == 0) {
					send = l->send;
					via = l->via;
					linked = true;
				}
				if (strcmp(l->to, agentproc_id(a)) == 0 && strcmp(l->from, agentproc_id(b)) == 0) {
					accept = l->send;
					via = l->via;
					linked = true;
				}
			}
			if (!linked || i == j)
				continue;
			if (via)
				agentproc_add_relayed_peer(a, agentproc_id(b), via, agentproc_pubkey(b), send, accept);
			else
				agentproc_add_agent_peer(a, b, send, accept);
		}
		cr_assert(agentproc_write_config(a) == 0);
	}
}

void cluster_destroy(struct cluster **pc)
{
	if (!pc || !*pc)
		return;
	struct cluster *c = *pc;
	for (size_t i = 0; i < c->n; i++)
		agentproc_destroy(&c->ap[i]);
	if (!getenv("LIMES_KEEP_TEST_DIRS")) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", c->dir);
	}
	free(c);
	*pc = NULL;
}

void cluster_start(struct cluster *c, const char *id)
{
	cr_assert(agentproc_start(cluster_ap(c, id)) == 0, "agent %s did not start; see %s/agent.log", id,
		  agentproc_dir(cluster_ap(c, id)));
}

int cluster_stop(struct cluster *c, const char *id)
{
	return agentproc_stop(cluster_ap(c, id));
}

void cluster_kill(struct cluster *c, const char *id)
{
	agentproc_kill9(cluster_ap(c, id));
}

int cluster_http(struct cluster *c, const char *id, const char *method, const char *path, const char *body,
		 json_t **out)
{
	json_t *doc = NULL;
	long status = agentproc_json(cluster_ap(c, id), method, path, body, &doc);
	if (out)
		*out = doc;
	else
		json_decref(doc);
	return (int)status;
}

const char *cluster_example(const char *type)
{
	static char cache[3][16384];
	static const char *const names[3] = { "alert", "pre_arrival", "control_result" };
	for (int i = 0; i < 3; i++) {
		if (strcmp(type, names[i]) != 0)
			continue;
		if (!cache[i][0]) {
			char path[512];
			snprintf(path, sizeof(path), "%s/docs/examples/%s.json", LIMES_SOURCE_DIR, type);
			FILE *f = fopen(path, "r");
			cr_assert(f, "cannot open %s", path);
			size_t n = fread(cache[i], 1, sizeof(cache[i]) - 1, f);
			cache[i][n] = '\0';
			fclose(f);
		}
		return cache[i];
	}
	cr_assert_fail("no example for %s", type);
	return NULL;
}

int cluster_submit(struct cluster *c, const char *from, const char *to, const char *type, const char *priority,
		   size_t count, char (*ids)[33])
{
	json_t *body = json_loads(cluster_example(type), 0, NULL);
	json_t *arr = json_array();
	cr_assert(body);
	for (size_t i = 0; i < count; i++)
		json_array_append_new(arr, json_pack("{s:[s], s:s, s:s, s:O}", "to", to, "type", type, "priority",
						     priority, "body", body));
	char *text = json_dumps(arr, JSON_COMPACT);
	json_t *resp = NULL;
	int status = cluster_http(c, from, "POST", "/v1/messages", text, &resp);
	if (status == 202 && ids) {
		json_t *list = json_object_get(resp, "ids");
		cr_assert(json_is_array(list) && json_array_size(list) == count, "202 without %zu ids", count);
		for (size_t i = 0; i < count; i++)
			snprintf(ids[i], 33, "%s", json_string_value(json_array_get(list, i)));
	}
	free(text);
	json_decref(resp);
	json_decref(arr);
	json_decref(body);
	return status;
}

void cluster_state(struct cluster *c, const char *from, const char *id, const char *recipient, char *state,
		   size_t len, json_t **detail)
{
	char path[128];
	json_t *resp = NULL;
	snprintf(path, sizeof(path), "/v1/messages/%s", id);
	state[0] = '\0';
	if (detail)
		*detail = NULL;
	if (cluster_http(c, from, "GET", path, NULL, &resp) == 200) {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(resp, "recipients"), i, r)
			if (strcmp(jstr(json_object_get(r, "to")), recipient) == 0) {
				snprintf(state, len, "%s", jstr(json_object_get(r, "state")));
				if (detail)
					*detail = json_incref(r);
			}
	}
	json_decref(resp);
}

json_t *cluster_inbox(struct cluster *c, const char *id)
{
	json_t *all = json_array();
	long long after = 0;
	for (;;) {
		char path[128];
		json_t *resp = NULL;
		snprintf(path, sizeof(path), "/v1/inbox?after=%lld&limit=1000", after);
		int status = cluster_http(c, id, "GET", path, NULL, &resp);
		cr_assert(status == 200, "GET %s at %s: %d", path, id, status);
		json_t *msgs = json_object_get(resp, "messages");
		size_t n = json_array_size(msgs);
		json_array_extend(all, msgs);
		json_t *next = json_object_get(resp, "next");
		long long nx = json_is_integer(next) ? json_integer_value(next) : after;
		json_decref(resp);
		if (n == 0 || nx == after)
			break;
		after = nx;
	}
	return all;
}

long cluster_queued(struct cluster *c, const char *id, const char *peer)
{
	return agentproc_queued(cluster_ap(c, id), peer);
}

bool cluster_wait_up(struct cluster *c, const char *id, const char *peer, int ms)
{
	for (int waited = 0; waited <= ms; waited += 50) {
		json_t *resp = NULL;
		bool up = false;
		if (cluster_http(c, id, "GET", "/v1/peers", NULL, &resp) == 200) {
			size_t i;
			json_t *p;
			json_array_foreach(json_object_get(resp, "peers"), i, p)
				if (strcmp(jstr(json_object_get(p, "id")), peer) == 0 &&
				    strcmp(jstr(json_object_get(p, "state")), "up") == 0)
					up = true;
		}
		json_decref(resp);
		if (up)
			return true;
		cluster_sleep_ms(50);
	}
	return false;
}
