/* Real agent processes, their configs and HTTP to them, for integration tests. */
#include "support/agentproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/identity.h"
#include "crypto/random.h"
#include "httpc/httpc.h"

#define HTTP_TIMEOUT_MS 90000L

struct agentproc {
	char id[80];
	char dir[512];
	char config[600];
	char log[600];
	char data_dir[600];
	char pubkey[IDENTITY_LINE_SIZE];
	char token[80];
	char endpoint[64];
	unsigned api_port, zmq_port;
	char *agent_extra, *api_extra, *link_extra;
	char *peers;
	bool written;
	pid_t pid;
	char api_host[64];            /* [api] listen host; "127.0.0.1" unless set */
	char tls_ca[600];             /* "" for plain HTTP */
	const char *wrapper[8];       /* runs the agent under this command (borrowed); [0] NULL: none */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* True when nothing listens on 127.0.0.1:port (checked by binding it). */
static bool port_free(unsigned port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* The first port the kernel hands out for outgoing connections
 * (ip_local_port_range), 32768 when it cannot be read. */
static unsigned ephemeral_low(void)
{
	unsigned low = 32768, high = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%u %u", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	return low;
}

/*
 * A port for an agent to listen on, below the kernel's range for outgoing
 * connections: a port the kernel handed out (bind to port 0) could be taken,
 * between this call and the agent's bind, as the source port of any of the
 * tests' own connections (HTTP clients, ZeroMQ), and was (the agent then
 * refused to start: "cannot bind: Address already in use"). Candidates from
 * 10000 up to that range, spread by process id so that suites run in
 * parallel pick apart, each checked free by binding it. The kernel's pick
 * only when that range leaves no room below it.
 */
unsigned agentproc_free_port(void)
{
	static atomic_uint next;
	static const unsigned base = 10000;
	unsigned low = ephemeral_low();

	if (low > base + 1000) {
		unsigned span = low - base;
		unsigned start = atomic_fetch_add(&next, 1) + (unsigned)getpid() * 7919u;
		for (unsigned i = 0; i < 4000; i++) {
			unsigned port = base + (start + i * 131u) % span;
			if (port_free(port))
				return port;
		}
	}
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port = 0;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	int ok = write(fd, text, len) == (ssize_t)len;
	fchmod(fd, mode);
	close(fd);
	return ok ? 0 : -1;
}

struct agentproc *agentproc_new(const char *root, const char *id)
{
	struct agentproc *ap = calloc(1, sizeof(*ap));
	char keys[700], token_path[700];
	uint8_t raw[16];

	if (!ap || random_init() < 0)
		goto fail;
	snprintf(ap->id, sizeof(ap->id), "%s", id);
	snprintf(ap->dir, sizeof(ap->dir), "%s/%s", root, id);
	snprintf(ap->config, sizeof(ap->config), "%s/limes.ini", ap->dir);
	snprintf(ap->log, sizeof(ap->log), "%s/agent.log", ap->dir);
	snprintf(ap->data_dir, sizeof(ap->data_dir), "data");
	if (mkdir(ap->dir, 0700) < 0)
		goto fail;
	snprintf(keys, sizeof(keys), "%s/keys", ap->dir);
	if (identity_generate(keys, false, ap->pubkey, sizeof(ap->pubkey)) < 0)
		goto fail;
	random_fill(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(ap->token + 2 * i, 3, "%02x", raw[i]);
	snprintf(token_path, sizeof(token_path), "%s/api.token", ap->dir);
	if (write_file(token_path, ap->token, 0600) < 0)
		goto fail;
	ap->api_port = agentproc_free_port();
	ap->zmq_port = agentproc_free_port();
	snprintf(ap->endpoint, sizeof(ap->endpoint), "tcp://127.0.0.1:%u", ap->zmq_port);
	snprintf(ap->api_host, sizeof(ap->api_host), "127.0.0.1");
	ap->peers = strdup("");
	ap->agent_extra = strdup("");
	ap->api_extra = strdup("");
	ap->link_extra = strdup("");
	if (!ap->api_port || !ap->zmq_port || !ap->peers || !ap->agent_extra || !ap->api_extra || !ap->link_extra)
		goto fail;
	return ap;
fail:
	agentproc_destroy(&ap);
	return NULL;
}

void agentproc_destroy(struct agentproc **pap)
{
	if (!pap || !*pap)
		return;
	struct agentproc *ap = *pap;
	if (ap->pid > 0)
		agentproc_kill9(ap);
	free(ap->peers);
	free(ap->agent_extra);
	free(ap->api_extra);
	free(ap->link_extra);
	free(ap);
	*pap = NULL;
}

const char *agentproc_dir(const struct agentproc *ap) { return ap->dir; }
const char *agentproc_config(const struct agentproc *ap) { return ap->config; }
const char *agentproc_pubkey(const struct agentproc *ap) { return ap->pubkey; }
const char *agentproc_token(const struct agentproc *ap) { return ap->token; }
unsigned agentproc_api_port(const struct agentproc *ap) { return ap->api_port; }
const char *agentproc_endpoint(const struct agentproc *ap) { return ap->endpoint; }

static void replace(char **slot, const char *text)
{
	free(*slot);
	*slot = strdup(text ? text : "");
	if (!*slot)
		abort();
	/* caller changed the config: write it again before the next start */
}

void agentproc_set_agent_extra(struct agentproc *ap, const char *lines) { replace(&ap->agent_extra, lines); ap->written = false; }
void agentproc_set_api_extra(struct agentproc *ap, const char *lines) { replace(&ap->api_extra, lines); ap->written = false; }
void agentproc_set_link_extra(struct agentproc *ap, const char *lines) { replace(&ap->link_extra, lines); ap->written = false; }

void agentproc_set_api_host(struct agentproc *ap, const char *host)
{
	snprintf(ap->api_host, sizeof(ap->api_host), "%s", host);
	ap->written = false;
}

void agentproc_set_tls_ca(struct agentproc *ap, const char *ca_file)
{
	snprintf(ap->tls_ca, sizeof(ap->tls_ca), "%s", ca_file);
}

void agentproc_set_wrapper(struct agentproc *ap, const char *const *argv)
{
	size_t i = 0;
	for (; argv && argv[i] && i + 1 < sizeof(ap->wrapper) / sizeof(ap->wrapper[0]); i++)
		ap->wrapper[i] = argv[i];
	ap->wrapper[i] = NULL;
}

void agentproc_set_listen(struct agentproc *ap, const char *endpoint)
{
	snprintf(ap->endpoint, sizeof(ap->endpoint), "%s", endpoint);
	ap->written = false;
}

unsigned agentproc_zmq_port(const struct agentproc *ap)
{
	return ap->zmq_port;
}

void agentproc_set_data_dir(struct agentproc *ap, const char *dir)
{
	snprintf(ap->data_dir, sizeof(ap->data_dir), "%s", dir);
	ap->written = false;
}

static void add_peer_section(struct agentproc *ap, const char *id, const char *route_key, const char *route,
			     const char *key, const char *send, const char *accept)
{
	size_t n = strlen(ap->peers) + strlen(id) + strlen(route) + strlen(key) + strlen(send) + strlen(accept) + 128;
	char *grown = realloc(ap->peers, n);
	if (!grown)
		abort();
	ap->peers = grown;
	size_t used = strlen(grown);
	snprintf(grown + used, n - used, "\n[peer \"%s\"]\n%s = %s\nkey = %s\nsend = %s\naccept = %s\n", id,
		 route_key, route, key, send, accept);
	ap->written = false;
}

void agentproc_add_peer(struct agentproc *ap, const char *id, const char *endpoint, const char *key,
			const char *send, const char *accept)
{
	add_peer_section(ap, id, "endpoint", endpoint, key, send, accept);
}

void agentproc_add_relayed_peer(struct agentproc *ap, const char *id, const char *via, const char *key,
				const char *send, const char *accept)
{
	add_peer_section(ap, id, "via", via, key, send, accept);
}

void agentproc_add_agent_peer(struct agentproc *ap, const struct agentproc *other, const char *send,
			      const char *accept)
{
	agentproc_add_peer(ap, other->id, other->endpoint, other->pubkey, send, accept);
}

const char *agentproc_id(const struct agentproc *ap)
{
	return ap->id;
}

/* The test defaults of a section, without those the extra lines set
 * themselves (a key given twice is a config error). */
static void defaults(char *out, size_t len, const char *const *lines, size_t n, const char *extra)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t key = strcspn(lines[i], " =");
		bool overridden = false;
		for (const char *p = extra; *p && !overridden; p++)
			overridden = (p == extra || p[-1] == '\n') && strncmp(p, lines[i], key) == 0 &&
				     (p[key] == ' ' || p[key] == '=');
		if (!overridden) {
			size_t used = strlen(out);
			snprintf(out + used, len - used, "%s\n", lines[i]);
		}
	}
}

int agentproc_write_config(struct agentproc *ap)
{
	static const char *const agent_defaults[] = { "min_free_mb = 0" };
	static const char *const link_defaults[] = { "retry = 200ms", "retry_max = 1s", "heartbeat = 500ms",
						     "dead_after = 3s" };
	char agent_def[128], link_def[256];
	size_t n = strlen(ap->peers) + strlen(ap->agent_extra) + strlen(ap->api_extra) + strlen(ap->link_extra) + 1024;
	char *text = malloc(n);
	int rc;

	if (!text)
		return -1;
	defaults(agent_def, sizeof(agent_def), agent_defaults, 1, ap->agent_extra);
	defaults(link_def, sizeof(link_def), link_defaults, 4, ap->link_extra);
	snprintf(text, n,
		 "; written by tests/support/agentproc.c\n"
		 "[agent]\nid = %s\nkeys = keys\nlisten = %s\ndata = %s\n%s%s\n"
		 "[api]\nlisten = %s%s%s:%u\ntoken_file = api.token\n%s\n"
		 "[link]\n%s%s\n%s",
		 ap->id, ap->endpoint, ap->data_dir, agent_def, ap->agent_extra, strchr(ap->api_host, ':') ? "[" : "",
		 ap->api_host, strchr(ap->api_host, ':') ? "]" : "", ap->api_port, ap->api_extra, link_def,
		 ap->link_extra, ap->peers);
	rc = write_file(ap->config, text, 0600);
	free(text);
	ap->written = rc == 0;
	return rc;
}

int agentproc_write_config_text(struct agentproc *ap, const char *text)
{
	int rc = write_file(ap->config, text, 0600);
	ap->written = rc == 0;
	return rc;
}

int agentproc_start_wrapped(struct agentproc *ap, const char *const *prefix)
{
	agentproc_set_wrapper(ap, prefix);
	int rc = agentproc_start(ap);
	agentproc_set_wrapper(ap, NULL);
	return rc;
}

int agentproc_start(struct agentproc *ap)
{
	if (!ap->written && agentproc_write_config(ap) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(ap->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
			close(fd);
		}
		if (ap->wrapper[0]) {
			const char *argv[sizeof(ap->wrapper) / sizeof(ap->wrapper[0]) + 5];
			size_t n = 0;
			for (; ap->wrapper[n]; n++)
				argv[n] = ap->wrapper[n];
			argv[n++] = LIMES_BIN;
			argv[n++] = "agent";
			argv[n++] = "-c";
			argv[n++] = ap->config;
			argv[n] = NULL;
			execv(argv[0], (char *const *)argv);
		} else {
			execl(LIMES_BIN, "limes", "agent", "-c", ap->config, (char *)NULL);
		}
		_exit(127);
	}
	ap->pid = pid;
	for (int i = 0; i < 200; i++) {
		if (!agentproc_running(ap))
			return -1;
		long status = agentproc_http(ap, "GET", "/healthz", NULL, 0, "", NULL);
		if (status != 0)
			return 0;
		sleep_ms(50);
	}
	return -1;
}

int agentproc_pid(const struct agentproc *ap)
{
	return ap->pid;
}

bool agentproc_running(struct agentproc *ap)
{
	int status;
	if (ap->pid <= 0)
		return false;
	pid_t r = waitpid(ap->pid, &status, WNOHANG);
	if (r == ap->pid) {
		ap->pid = 0;
		return false;
	}
	return r == 0;
}

int agentproc_stop(struct agentproc *ap)
{
	int status = 0;

	if (ap->pid <= 0)
		return -1;
	kill(ap->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		pid_t r = waitpid(ap->pid, &status, WNOHANG);
		if (r == ap->pid) {
			ap->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		sleep_ms(50);
	}
	agentproc_kill9(ap);
	return -1;
}

void agentproc_kill9(struct agentproc *ap)
{
	if (ap->pid <= 0)
		return;
	kill(ap->pid, SIGKILL);
	waitpid(ap->pid, NULL, 0);
	ap->pid = 0;
}

int agentproc_signal(struct agentproc *ap, int sig)
{
	return ap->pid > 0 ? kill(ap->pid, sig) : -1;
}

bool agentproc_log_contains(const struct agentproc *ap, const char *needle)
{
	FILE *f = fopen(ap->log, "re");
	char *buf = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return false;
	while (!found && getline(&buf, &cap, f) > 0)
		found = strstr(buf, needle) != NULL;
	free(buf);
	fclose(f);
	return found;
}

bool agentproc_wait_log(const struct agentproc *ap, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (agentproc_log_contains(ap, needle))
			return true;
		sleep_ms(50);
	}
	return false;
}

struct buffer {
	char *data;
	size_t len;
};

static int append(struct buffer *b, const char *data, size_t n)
{
	char *grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return -1;
	b->data = grown;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

long agentproc_http(struct agentproc *ap, const char *method, const char *path, const char *body, size_t len,
		    const char *token, char **answer)
{
	struct httpc_answer a = { 0 };
	long status = 0;
	/* A client per request: each may carry another token, and the tests
	 * call this from several threads at once. */
	struct httpc *h = httpc_new(ap->api_host, (uint16_t)ap->api_port, token ? token : ap->token, 1);

	if (answer)
		*answer = NULL;
	if (!h)
		return 0;
	if (ap->tls_ca[0] && httpc_use_tls(h, ap->tls_ca) < 0) {
		httpc_destroy(&h);
		return 0;
	}
	if (httpc_request(h, method, path, body, len, HTTP_TIMEOUT_MS, &a) == 0)
		status = a.status;
	if (answer) {
		*answer = a.body;
		a.body = NULL;
	}
	httpc_answer_clear(&a);
	httpc_destroy(&h);
	return status;
}

long agentproc_json(struct agentproc *ap, const char *method, const char *path, const char *body, json_t **doc)
{
	char *answer = NULL;
	long status = agentproc_http(ap, method, path, body, body ? strlen(body) : 0, NULL, &answer);
	*doc = answer ? json_loads(answer, 0, NULL) : NULL;
	free(answer);
	return status;
}

double agentproc_metric(struct agentproc *ap, const char *series)
{
	char *text = NULL;
	double v = -1;
	size_t n = strlen(series);

	if (agentproc_http(ap, "GET", "/metrics", NULL, 0, NULL, &text) != 200 || !text) {
		free(text);
		return -1;
	}
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (strncmp(line, series, n) == 0 && line[n] == ' ') {
			v = strtod(line + n + 1, NULL);
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(text);
	return v;
}

long agentproc_queued(struct agentproc *ap, const char *peer_id)
{
	json_t *doc = NULL;
	long queued = -1;
	size_t i;
	json_t *p;

	if (agentproc_json(ap, "GET", "/v1/peers", NULL, &doc) != 200)
		goto out;
	json_array_foreach(json_object_get(doc, "peers"), i, p) {
		if (strcmp(json_string_value(json_object_get(p, "id")), peer_id) == 0 &&
		    json_is_integer(json_object_get(p, "queued")))
			queued = (long)json_integer_value(json_object_get(p, "queued"));
	}
out:
	json_decref(doc);
	return queued;
}

int agentproc_cli(char **out, const char *stdin_text, const char *arg, ...)
{
	const char *argv[32];
	int argc = 0, in_pipe[2], out_pipe[2], status = 0;
	va_list ap;

	argv[argc++] = "limes";
	va_start(ap, arg);
	for (const char *a = arg; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	if (out)
		*out = NULL;
	signal(SIGPIPE, SIG_IGN); /* the CLI may exit before reading its stdin */
	if (pipe(in_pipe) < 0 || pipe(out_pipe) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in_pipe[0], 0);
		dup2(out_pipe[1], 1);
		close(in_pipe[1]);
		close(out_pipe[0]);
		execv(LIMES_BIN, (char *const *)argv);
		_exit(127);
	}
	close(in_pipe[0]);
	close(out_pipe[1]);
	if (stdin_text) {
		size_t len = strlen(stdin_text), done = 0;
		while (done < len) {
			ssize_t n = write(in_pipe[1], stdin_text + done, len - done);
			if (n <= 0)
				break;
			done += (size_t)n;
		}
	}
	close(in_pipe[1]);
	struct buffer b = { NULL, 0 };
	char chunk[4096];
	ssize_t n;
	while ((n = read(out_pipe[0], chunk, sizeof(chunk))) > 0)
		if (append(&b, chunk, (size_t)n) < 0)
			abort();
	close(out_pipe[0]);
	waitpid(pid, &status, 0);
	if (out)
		*out = b.data ? b.data : strdup("");
	else
		free(b.data);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

json_t *agentproc_audit_messages(json_t *entry, const char *kind)
{
	json_t *out = json_array();
	const char *k = json_string_value(json_object_get(entry, "kind"));
	size_t n = strlen(kind);

	if (!out || !k)
		return out;
	if (strcmp(k, kind) == 0) {
		json_array_append(out, entry);
	} else if (strncmp(k, kind, n) == 0 && strcmp(k + n, "_batch") == 0) {
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(entry, "messages"), i, m)
			json_array_append(out, m);
	}
	return out;
}
