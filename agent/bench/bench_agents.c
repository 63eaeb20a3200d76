/*
 * limes-bench: the temporary world it measures in. Owns the temporary
 * folder (identities, tokens, configs, data folders, logs) and every child
 * process: the two agents (the limes-agent program beside this one,
 * fork/exec) and nats-server. Children get PR_SET_PDEATHSIG so they never
 * outlive the harness; cleanup stops them on every path. Traffic stays on
 * 127.0.0.1.
 */
/* pipe2, F_SETPIPE_SZ and nftw are Linux/XSI extensions. */
#define _GNU_SOURCE
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "crypto/encode.h"
#include "crypto/identity.h"
#include "crypto/random.h"

#define STOP_TIMEOUT_S 20.0

uint16_t bench_agents_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	uint16_t port = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int rc = -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	size_t len = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, len) == (ssize_t)len)
		rc = 0;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* Identity, token and port of one agent; the config comes once both exist. */
static int prepare_agent(struct bench_env *env, struct bench_agent *ag, const char *id, const char *stem,
			 char *line, size_t line_len, char *err, size_t err_len)
{
	char keys[PATH_MAX], token_file[PATH_MAX];
	uint8_t raw[24];

	snprintf(ag->id, sizeof(ag->id), "%s", id);
	ag->trace_fd = -1;
	ag->rss_hwm_mb = NAN;
	ag->wal_hwm_mb = NAN;
	if (snprintf(keys, sizeof(keys), "%s/keys-%s", env->dir, stem) >= (int)sizeof(keys) ||
	    snprintf(token_file, sizeof(token_file), "%s/token-%s", env->dir, stem) >= (int)sizeof(token_file) ||
	    snprintf(ag->conf, sizeof(ag->conf), "%s/%s.ini", env->dir, stem) >= (int)sizeof(ag->conf) ||
	    snprintf(ag->data, sizeof(ag->data), "%s/data-%s", env->dir, stem) >= (int)sizeof(ag->data) ||
	    snprintf(ag->proc.log, sizeof(ag->proc.log), "%s/%s.log", env->dir, stem) >= (int)sizeof(ag->proc.log)) {
		snprintf(err, err_len, "temporary folder path is too long: %s", env->dir);
		return -1;
	}
	int rc = identity_generate(keys, false, line, line_len);
	if (rc < 0) {
		snprintf(err, err_len, "%s: cannot make an identity (error %d)", keys, rc);
		return -1;
	}
	random_fill(raw, sizeof(raw));
	if (encode_hex(ag->token, sizeof(ag->token), raw, sizeof(raw)) < 0 ||
	    write_file(token_file, ag->token, 0600) < 0) {
		snprintf(err, err_len, "%s: cannot write the token: %s", token_file, strerror(errno));
		return -1;
	}
	ag->api_port = bench_agents_free_port();
	ag->zmq_port = bench_agents_free_port();
	if (ag->api_port == 0 || ag->zmq_port == 0 || ag->api_port == ag->zmq_port) {
		snprintf(err, err_len, "cannot find free ports on 127.0.0.1");
		return -1;
	}
	return 0;
}

static const char *pg_conninfo; /* --store postgres */

void bench_agents_use_postgres(const char *conninfo)
{
	pg_conninfo = conninfo;
}

/* The [store] section for --store postgres: the conninfo goes into a 0600
 * file beside the config (it may hold a password). */
static int store_section(const struct bench_agent *ag, const char *stem, char *out, size_t len, char *err,
			 size_t err_len)
{
	char path[PATH_MAX];

	out[0] = '\0';
	if (!pg_conninfo)
		return 0;
	snprintf(path, sizeof(path), "%.*s/pg-%s.conninfo", (int)(strrchr(ag->conf, '/') - ag->conf), ag->conf,
		 stem);
	if (write_file(path, pg_conninfo, 0600) < 0) {
		snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	snprintf(out, len, "[store]\nbackend = postgres\nconninfo_file = pg-%s.conninfo\nschema = bench_%ld_%s\n\n",
		 stem, (long)getpid(), stem);
	return 0;
}

static int write_config(const struct bench_agent *ag, const char *stem, const struct bench_agent *peer,
			const char *peer_line, unsigned window, unsigned protocol, char *err, size_t err_len)
{
	char text[2048], link[96] = "", store[256];
	size_t at = 0;

	if (window || protocol)
		at += (size_t)snprintf(link, sizeof(link), "[link]\n");
	if (window)
		at += (size_t)snprintf(link + at, sizeof(link) - at, "window = %u\n", window);
	if (protocol)
		at += (size_t)snprintf(link + at, sizeof(link) - at, "protocol = %u\n", protocol);
	if (at)
		snprintf(link + at, sizeof(link) - at, "\n");
	if (store_section(ag, stem, store, sizeof(store), err, err_len) < 0)
		return -1;
	int n = snprintf(text, sizeof(text),
			 "; written by limes bench\n"
			 "[agent]\nid = %s\nkeys = keys-%s\nlisten = tcp://127.0.0.1:%u\ndata = data-%s\n"
			 "log_level = warn\n\n%s%s"
			 "[api]\nlisten = 127.0.0.1:%u\ntoken_file = token-%s\n\n"
			 "[peer \"%s\"]\nendpoint = tcp://127.0.0.1:%u\nkey = %s\nsend = alert\naccept = alert\n",
			 ag->id, stem, ag->zmq_port, stem, link, store, ag->api_port, stem, peer->id, peer->zmq_port,
			 peer_line);
	if (n < 0 || n >= (int)sizeof(text) || write_file(ag->conf, text, 0600) < 0) {
		snprintf(err, err_len, "%s: cannot write the config: %s", ag->conf, strerror(errno));
		return -1;
	}
	return 0;
}

int bench_agents_setup(struct bench_env *env, const char *parent, unsigned window, unsigned protocol, char *err,
		       size_t err_len)
{
	char line_s[IDENTITY_LINE_SIZE], line_r[IDENTITY_LINE_SIZE];

	memset(env, 0, sizeof(*env));
	env->sender.trace_fd = env->receiver.trace_fd = -1;
	if (random_init() < 0) {
		snprintf(err, err_len, "libsodium cannot start");
		return -1;
	}
	if (snprintf(env->dir, sizeof(env->dir), "%s/limes-bench-XXXXXX", parent) >= (int)sizeof(env->dir) ||
	    !mkdtemp(env->dir)) {
		snprintf(err, err_len, "%s: cannot make a temporary folder: %s", parent, strerror(errno));
		env->dir[0] = '\0';
		return -1;
	}
	if (prepare_agent(env, &env->sender, "BENCH-SENDER", "sender", line_s, sizeof(line_s), err, err_len) < 0 ||
	    prepare_agent(env, &env->receiver, "BENCH-RECEIVER", "receiver", line_r, sizeof(line_r), err,
			  err_len) < 0)
		return -1;
	if (env->sender.api_port == env->receiver.api_port || env->sender.api_port == env->receiver.zmq_port ||
	    env->sender.zmq_port == env->receiver.api_port || env->sender.zmq_port == env->receiver.zmq_port) {
		snprintf(err, err_len, "free port probe returned the same port twice; run again");
		return -1;
	}
	if (write_config(&env->sender, "sender", &env->receiver, line_r, window, protocol, err, err_len) < 0 ||
	    write_config(&env->receiver, "receiver", &env->sender, line_s, window, protocol, err, err_len) < 0)
		return -1;
	if (snprintf(env->nats.log, sizeof(env->nats.log), "%s/nats.log", env->dir) >= (int)sizeof(env->nats.log)) {
		snprintf(err, err_len, "temporary folder path is too long: %s", env->dir);
		return -1;
	}
	return 0;
}

int bench_agents_spawn(struct bench_proc *p, char *const argv[], int extra_fd)
{
	int logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid_t parent = getpid();

	if (logfd < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(logfd);
		return -1;
	}
	if (pid == 0) {
		/* Child: only async-signal-safe calls until exec. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		/* Own process group: a terminal's ^C reaches the harness only,
		 * which then stops its children in order. */
		setpgid(0, 0);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		if (extra_fd >= 0 && dup2(extra_fd, 3) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(logfd);
	p->pid = pid;
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int bench_agents_kill(struct bench_proc *p, double timeout_s)
{
	int status = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * 1e9);
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		if (r == p->pid || (r < 0 && errno != EINTR))
			break;
		if (bench_now_ns() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			break;
		}
		sleep_ms(10);
	}
	p->pid = 0;
	return status;
}

void bench_agents_log_tail(const struct bench_proc *p)
{
	char buf[2048];
	int fd = open(p->log, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "--- end of %s:\n%s%s", p->log, buf, buf[n - 1] == '\n' ? "" : "\n");
	}
}

/* The agent program: limes-agent in the folder of this executable (both
 * are built into, and installed in, the same folder). */
static int agent_program(char *out, size_t len, char *err, size_t err_len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		snprintf(err, err_len, "cannot find this executable: %s", strerror(errno));
		return -1;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(out, len, "%s/limes-agent", slash ? self : ".") >= (int)len || access(out, X_OK) < 0) {
		snprintf(err, err_len, "cannot run %s/limes-agent: %s", slash ? self : ".", strerror(errno));
		return -1;
	}
	return 0;
}

int bench_agents_start(struct bench_agent *ag, bool trace, char *err, size_t err_len)
{
	char exe[PATH_MAX];
	int pipefd[2] = { -1, -1 };
	int rc = -1;

	if (agent_program(exe, sizeof(exe), err, err_len) < 0)
		goto out;
	if (trace) {
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			snprintf(err, err_len, "pipe: %s", strerror(errno));
			goto out;
		}
		/* The agent writes one line per receipt from its loop: a roomy
		 * pipe keeps a busy harness from ever blocking it. Both are
		 * best effort: a smaller or blocking pipe still works. */
		if (fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20) < 0)
			bench_progress("cannot enlarge the trace pipe (%s); going on", strerror(errno));
		if (fcntl(pipefd[0], F_SETFL, O_NONBLOCK) < 0) {
			snprintf(err, err_len, "trace pipe: %s", strerror(errno));
			goto out;
		}
	}
	/* The trace pipe becomes the agent's descriptor 3 (bench_agents_spawn). */
	char *argv_plain[] = { exe, "-c", ag->conf, NULL };
	char *argv_trace[] = { exe, "-c", ag->conf, "--trace-fd", "3", NULL };
	if (bench_agents_spawn(&ag->proc, trace ? argv_trace : argv_plain, trace ? pipefd[1] : -1) < 0) {
		snprintf(err, err_len, "cannot start %s: %s", ag->id, strerror(errno));
		goto out;
	}
	if (trace) {
		if (ag->trace_fd >= 0)
			close(ag->trace_fd);
		ag->trace_fd = pipefd[0];
		pipefd[0] = -1;
	}
	rc = 0;
out:
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	return rc;
}

/* True when /v1/peers lists a peer whose link is up. */
static bool link_is_up(const char *body, size_t len)
{
	json_t *doc = json_loadb(body, len, 0, NULL);
	json_t *peers = json_is_array(doc) ? doc : json_object_get(doc, "peers");
	bool up = false;
	size_t i;
	json_t *p;

	json_array_foreach(peers, i, p) {
		const char *state = json_string_value(json_object_get(p, "state"));
		if (!state)
			state = json_string_value(json_object_get(p, "link"));
		if (state && strcmp(state, "up") == 0)
			up = true;
	}
	json_decref(doc);
	return up;
}

int bench_agents_wait_ready(struct bench_agent *ag, bool want_link, double timeout_s, char *err,
			    size_t err_len)
{
	struct httpc *h = httpc_new("127.0.0.1", ag->api_port, ag->token, 1);
	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * 1e9);
	bool healthy = false, up = !want_link;
	long status = 0;
	int rc = -1;

	if (!h) {
		snprintf(err, err_len, "cannot make an HTTP client");
		goto out;
	}
	while (!(healthy && up)) {
		int wst;
		if (waitpid(ag->proc.pid, &wst, WNOHANG) == ag->proc.pid) {
			ag->proc.pid = 0;
			snprintf(err, err_len, "agent %s exited during start-up (status %d); log: %s", ag->id, wst,
				 ag->proc.log);
			goto out;
		}
		if (bench_interrupted() || bench_now_ns() > deadline) {
			snprintf(err, err_len, "agent %s: %s after %.0f s (last HTTP status %ld); log: %s", ag->id,
				 !healthy ? "/healthz not 200" : "link not up", timeout_s, status, ag->proc.log);
			goto out;
		}
		struct httpc_answer a;
		/* Not reachable yet is what start-up looks like: status 0, try again. */
		if (httpc_request(h, "GET", healthy ? "/v1/peers" : "/healthz", NULL, 0, 5000, &a) == 0 &&
		    a.status == 200) {
			if (!healthy)
				healthy = true;
			else
				up = link_is_up(a.body, a.len);
		}
		status = a.status;
		httpc_answer_clear(&a);
		if (!(healthy && up))
			sleep_ms(20);
	}
	rc = 0;
out:
	httpc_destroy(&h);
	return rc;
}

int bench_agents_check(struct bench_env *env, char *err, size_t err_len)
{
	struct bench_agent *all[] = { &env->sender, &env->receiver };
	int status;

	for (size_t i = 0; i < 2; i++) {
		struct bench_agent *ag = all[i];
		if (ag->proc.pid <= 0 || waitpid(ag->proc.pid, &status, WNOHANG) != ag->proc.pid)
			continue;
		ag->proc.pid = 0;
		snprintf(err, err_len, "agent %s exited unexpectedly (status %d); log: %s", ag->id, status,
			 ag->proc.log);
		bench_agents_log_tail(&ag->proc);
		return -1;
	}
	return 0;
}

/* Reads /proc/PID/NAME into buf (NUL-terminated); false if it cannot. */
static bool read_proc(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

int bench_agents_loop_sched(pid_t pid, double *on_cpu_s, double *waiting_s)
{
	char name[48], buf[128];
	unsigned long long run_ns, wait_ns;

	snprintf(name, sizeof(name), "task/%d/schedstat", (int)pid);
	if (!read_proc(pid, name, buf, sizeof(buf)) || sscanf(buf, "%llu %llu", &run_ns, &wait_ns) != 2)
		return -1;
	*on_cpu_s = (double)run_ns / 1e9;
	*waiting_s = (double)wait_ns / 1e9;
	return 0;
}

double bench_agents_cpu_s(pid_t pid)
{
	char buf[1024];

	if (!read_proc(pid, "stat", buf, sizeof(buf)))
		return NAN;
	/* Fields after the ")" that ends the command name: state is field 3,
	 * utime 14 and stime 15 (proc(5)). */
	const char *p = strrchr(buf, ')');
	if (!p)
		return NAN;
	p++;
	unsigned long long ticks[2] = { 0, 0 };
	for (int field = 3; field <= 15 && *p; field++) {
		while (*p == ' ')
			p++;
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (field >= 14)
			ticks[field - 14] = v;
		while (*end && *end != ' ')
			end++;
		p = end;
	}
	return (double)(ticks[0] + ticks[1]) / (double)sysconf(_SC_CLK_TCK);
}

double bench_agents_status_mb(pid_t pid, const char *field)
{
	char buf[4096];
	double mb = NAN;

	if (!read_proc(pid, "status", buf, sizeof(buf)))
		return NAN;
	const char *at = strstr(buf, field);
	if (at) {
		char *end;
		unsigned long long kb = strtoull(at + strlen(field), &end, 10);
		if (end != at + strlen(field))
			mb = (double)kb / 1024.0;
	}
	return mb;
}

double bench_agents_sample(struct bench_agent *ag)
{
	double hwm = bench_agents_status_mb(ag->proc.pid, "VmHWM:");

	if (!isnan(hwm) && (isnan(ag->rss_hwm_mb) || hwm > ag->rss_hwm_mb))
		ag->rss_hwm_mb = hwm;
	return hwm;
}

void bench_agents_stop(struct bench_agent *ag)
{
	if (ag->proc.pid <= 0)
		return;
	bench_agents_sample(ag);
	int status = bench_agents_kill(&ag->proc, STOP_TIMEOUT_S);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		fprintf(stderr, "limes bench: agent %s did not stop cleanly (status %d)\n", ag->id, status);
		bench_agents_log_tail(&ag->proc);
	}
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void bench_agents_cleanup(struct bench_env *env, bool keep)
{
	bench_agents_stop(&env->sender);
	bench_agents_stop(&env->receiver);
	if (env->nats.pid > 0)
		bench_agents_kill(&env->nats, STOP_TIMEOUT_S);
	if (env->sender.trace_fd >= 0)
		close(env->sender.trace_fd);
	env->sender.trace_fd = -1;
	if (env->dir[0] == '\0')
		return;
	if (keep)
		fprintf(stderr, "limes bench: kept %s\n", env->dir);
	else
		nftw(env->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	env->dir[0] = '\0';
}
