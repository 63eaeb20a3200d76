/* Test clusters of real agents on loopback: see cluster.h. */
#include "support/cluster.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/identity.h"
#include "crypto/random.h"

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

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	cr_assert(write(fd, text, len) == (ssize_t)len);
	fchmod(fd, mode);
	close(fd);
}

struct cluster *cluster_new(size_t n, const char *const *ids)
{
	struct cluster *c = calloc(1, sizeof(*c));
	cr_assert(c && n <= CLUSTER_MAX);
	snprintf(c->dir, sizeof(c->dir), "/tmp/limes-cluster.XXXXXX");
	cr_assert(mkdtemp(c->dir));
	random_init();
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		struct cluster_agent *a = &c->a[i];
		snprintf(a->id, sizeof(a->id), "%s", ids[i]);
		char dir[sizeof(a->dir)];
		snprintf(dir, sizeof(dir), "%s/%s", c->dir, ids[i]);
		memcpy(a->dir, dir, sizeof(dir));
		cr_assert(mkdir(a->dir, 0700) == 0);
		char keys[600];
		snprintf(keys, sizeof(keys), "%s/keys", a->dir);
		cr_assert(identity_generate(keys, false, a->line, sizeof(a->line)) == 0);
		uint8_t raw[24];
		random_fill(raw, sizeof(raw));
		for (size_t k = 0; k < sizeof(raw); k++)
			snprintf(a->token + 2 * k, 3, "%02x", raw[k]);
		char tok[600];
		snprintf(tok, sizeof(tok), "%s/api.token", a->dir);
		write_file(tok, a->token, 0600);
		a->link_port = free_port();
		a->api_port = free_port();
		char config[sizeof(a->config)];
		snprintf(config, sizeof(config), "%s/limes.ini", a->dir);
		memcpy(a->config, config, sizeof(config));
	}
	return c;
}

struct cluster_agent *cluster_agent(struct cluster *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->a[i].id, id) == 0)
			return &c->a[i];
	cr_assert_fail("no agent %s", id);
	return NULL;
}

static void append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#include <stdarg.h>
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

void cluster_configure(struct cluster *c, const struct cluster_link *links, size_t n_links, const char *extra)
{
	for (size_t i = 0; i < c->n; i++) {
		struct cluster_agent *a = &c->a[i];
		char cfg[8192] = "";
		append(cfg, sizeof(cfg),
		       "[agent]\nid = %s\nkeys = keys\nlisten = tcp://127.0.0.1:%d\ndata = data\n"
		       "[api]\nlisten = 127.0.0.1:%d\ntoken_file = api.token\n"
		       "[link]\nheartbeat = 500ms\ndead_after = 3s\nretry = 1s\nretry_max = 4s\n%s",
		       a->id, a->link_port, a->api_port, extra ? extra : "");
		/* one [peer] per other agent this one has a link with (either way) */
		for (size_t j = 0; j < c->n; j++) {
			struct cluster_agent *b = &c->a[j];
			const char *send = NULL, *accept = NULL, *via = NULL;
			bool linked = false;
			for (size_t k = 0; k < n_links; k++) {
				const struct cluster_link *l = &links[k];
				if (strcmp(l->from, a->id) == 0 && strcmp(l->to, b->id) == 0) {
					send = l->send;
					via = l->via;
					linked = true;
				}
				if (strcmp(l->to, a->id) == 0 && strcmp(l->from, b->id) == 0) {
					accept = l->send;
					via = l->via;
					linked = true;
				}
			}
			if (!linked || i == j)
				continue;
			append(cfg, sizeof(cfg), "[peer \"%s\"]\n", b->id);
			if (via)
				append(cfg, sizeof(cfg), "via = %s\n", via);
			else
				append(cfg, sizeof(cfg), "endpoint = tcp://127.0.0.1:%d\n", b->link_port);
			append(cfg, sizeof(cfg), "key = %s\n", b->line);
			if (send)
				append(cfg, sizeof(cfg), "send = %s\n", send);
			if (accept)
				append(cfg, sizeof(cfg), "accept = %s\n", accept);
		}
		write_file(a->config, cfg, 0600);
	}
}

pid_t cluster_spawn(struct cluster *c, const char *id)
{
	struct cluster_agent *a = cluster_agent(c, id);
	char log[600];
	snprintf(log, sizeof(log), "%s/agent.log", a->dir);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(LIMES_BIN, "limes", "agent", "-c", a->config, (char *)NULL);
		_exit(127);
	}
	a->pid = pid;
	a->starts++;
	return pid;
}

void cluster_start(struct cluster *c, const char *id)
{
	struct cluster_agent *a = cluster_agent(c, id);
	cluster_spawn(c, id);
	for (int i = 0; i < 200; i++) {
		if (cluster_http(c, id, "GET", "/healthz", NULL, NULL) == 200)
			return;
		int status;
		if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
			a->pid = 0;
			cr_assert_fail("agent %s exited at start (status %d); see %s/agent.log", id, status, a->dir);
		}
		cluster_sleep_ms(50);
	}
	cr_assert_fail("agent %s did not answer /healthz within 10 s", id);
}

int cluster_stop(struct cluster *c, const char *id)
{
	struct cluster_agent *a = cluster_agent(c, id);
	int status = 0;
	if (!a->pid)
		return -1;
	kill(a->pid, SIGTERM);
	for (int i = 0; i < 400; i++) {
		if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
			a->pid = 0;
			return status;
		}
		cluster_sleep_ms(25);
	}
	kill(a->pid, SIGKILL);
	waitpid(a->pid, &status, 0);
	a->pid = 0;
	cr_assert_fail("agent %s did not stop within 10 s of SIGTERM", id);
	return status;
}

void cluster_kill(struct cluster *c, const char *id)
{
	struct cluster_agent *a = cluster_agent(c, id);
	if (!a->pid)
		return;
	kill(a->pid, SIGKILL);
	waitpid(a->pid, NULL, 0);
	a->pid = 0;
}

void cluster_destroy(struct cluster **pc)
{
	if (!pc || !*pc)
		return;
	struct cluster *c = *pc;
	for (size_t i = 0; i < c->n; i++)
		if (c->a[i].pid) {
			kill(c->a[i].pid, SIGKILL);
			waitpid(c->a[i].pid, NULL, 0);
		}
	if (!getenv("LIMES_KEEP_TEST_DIRS")) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", c->dir);
	}
	free(c);
	*pc = NULL;
}

struct growbuf {
	char *data;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct growbuf *b = arg;
	size_t n = size * nmemb;
	char *grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int cluster_http(struct cluster *c, const char *id, const char *method, const char *path, const char *body,
		 json_t **out)
{
	struct cluster_agent *a = cluster_agent(c, id);
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	struct growbuf resp = { 0 };
	char url[256], auth[128];
	long status = 0;

	cr_assert(curl);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", a->api_port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (out) {
		*out = resp.data ? json_loads(resp.data, 0, NULL) : NULL;
	}
	free(resp.data);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return (int)status;
}

const char *cluster_example(const char *type)
{
	static char cache[3][16384];
	static const char *names[3] = { "alert", "pre_arrival", "control_result" };
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
	json_error_t jerr;
	json_t *body = json_loads(cluster_example(type), 0, &jerr);
	json_t *arr = json_array();
	cr_assert(body);
	for (size_t i = 0; i < count; i++) {
		json_t *m = json_pack("{s:[s], s:s, s:s, s:O}", "to", to, "type", type, "priority", priority, "body",
				      body);
		json_array_append_new(arr, m);
	}
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
	if (cluster_http(c, from, "GET", path, NULL, &resp) != 200) {
		json_decref(resp);
		return;
	}
	json_t *list = json_object_get(resp, "recipients");
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r) {
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
		long long nx = json_is_integer(next) ? json_integer_value(next)
						     : (json_is_string(next) ? strtoll(json_string_value(next), NULL, 10) : after);
		json_decref(resp);
		if (n == 0 || nx == after)
			break;
		after = nx;
	}
	return all;
}

long cluster_queued(struct cluster *c, const char *id, const char *peer)
{
	json_t *resp = NULL;
	long q = -1;
	if (cluster_http(c, id, "GET", "/v1/peers", NULL, &resp) == 200) {
		size_t i;
		json_t *p;
		json_array_foreach(json_object_get(resp, "peers"), i, p)
			if (strcmp(jstr(json_object_get(p, "id")), peer) == 0)
				q = (long)json_integer_value(json_object_get(p, "queued"));
	}
	json_decref(resp);
	return q;
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
