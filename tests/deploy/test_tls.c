/*
 * HTTPS for the local API, with real agents on a real non-loopback address:
 * tests/deploy/netns.sh runs this suite in a network namespace of its own
 * with a veth address (LIMES_TEST_NONLOOPBACK), so nothing listens on the
 * machine's own networks. Certificates come from a throwaway CA made with
 * openssl in each test's folder.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/agentproc.h"

TestSuite(tls, .timeout = 120);

struct world {
	char dir[256];
	char host[64];
	struct agentproc *ap;
};

static void world_init(struct world *w)
{
	const char *host = getenv("LIMES_TEST_NONLOOPBACK");
	cr_assert(eq(int, host && host[0], 1), "LIMES_TEST_NONLOOPBACK is not set: run this suite through tests/deploy/netns.sh "
				   "(ctest does), which makes a network namespace with a non-loopback address");
	snprintf(w->host, sizeof(w->host), "%s", host);
	snprintf(w->dir, sizeof(w->dir), "/tmp/limes-tls.XXXXXX");
	cr_assert(ne(ptr, mkdtemp(w->dir), NULL));
	w->ap = agentproc_new(w->dir, "RS-CUSTOMS-HORGOS");
	cr_assert(ne(ptr, w->ap, NULL));
	agentproc_set_api_host(w->ap, w->host);
}

static void world_fini(struct world *w)
{
	char cmd[512];
	agentproc_destroy(&w->ap);
	if (!getenv("LIMES_KEEP_TEST_DIRS")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
		cr_assert(eq(int, system(cmd), 0));
	}
}

/* Runs a shell command, its output into out (may be NULL); its exit status, -1 if it did not exit. */
static int sh(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t len, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	cr_assert(ne(ptr, p, NULL), "cannot run %s", cmd);
	size_t n = 0;
	if (out) {
		out[0] = '\0';
		size_t r;
		while (n + 1 < len && (r = fread(out + n, 1, len - 1 - n, p)) > 0)
			n += r;
		out[n] = '\0';
	} else {
		char sink[256];
		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A CA (ca.crt) and a server certificate for name IP (api.crt, api.key mode
 * 0600) in dir/tls; another CA (other.crt) that signed nothing of ours. */
static void make_certs(const char *dir, const char *ip)
{
	char out[4096];
	int rc = sh(out, sizeof(out),
		    "set -e; mkdir -p '%s/tls'; cd '%s/tls'; "
		    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt "
		    "  -days 2 -subj /CN=limes-test-ca 2>&1; "
		    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key "
		    "  -out other.crt -days 2 -subj /CN=limes-other-ca 2>&1; "
		    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.csr "
		    "  -subj /CN=limes-api 2>&1; "
		    "printf 'subjectAltName=IP:%s,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > san.ext; "
		    "openssl x509 -req -in api.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out api.crt -days 2 "
		    "  -extfile san.ext 2>&1; "
		    "chmod 600 api.key",
		    dir, dir, ip);
	cr_assert(eq(int, rc, 0), "openssl could not make the test certificates:\n%s", out);
}

static void set_tls(struct world *w, const char *ca)
{
	char extra[1024];
	snprintf(extra, sizeof(extra), "tls_cert = %s/tls/api.crt\ntls_key = %s/tls/api.key\n%s%s%s%s", w->dir,
		 w->dir, ca ? "tls_ca = " : "", ca ? w->dir : "", ca ? ca : "", ca ? "\n" : "");
	agentproc_set_api_extra(w->ap, extra);
}

/* Starts the agent, which must refuse to start (and exit). */
static void start_refused(struct world *w)
{
	cr_assert(eq(int, agentproc_start(w->ap), -1), "the agent started");
	for (int i = 0; i < 100 && agentproc_running(w->ap); i++)
		usleep(50 * 1000);
	cr_assert(not(agentproc_running(w->ap)), "the agent still runs");
}

Test(tls, refuses_plain_http_on_a_non_loopback_address)
{
	struct world w;
	world_init(&w);
	const char *hosts[] = { w.host, "0.0.0.0", "::" };
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		char needle[256];
		agentproc_set_api_host(w.ap, hosts[i]);
		start_refused(&w);
		bool v6 = strchr(hosts[i], ':') != NULL;
		snprintf(needle, sizeof(needle), "listen %s%s%s:%u is not a loopback address", v6 ? "[" : "", hosts[i],
			 v6 ? "]" : "", agentproc_api_port(w.ap));
		cr_assert(agentproc_log_contains(w.ap, needle), "no '%s' in the log", needle);
		cr_assert(agentproc_log_contains(w.ap, "set [api] tls_cert and tls_key"));
		cr_assert(agentproc_log_contains(w.ap, "allow_plaintext = yes"));
	}
	/* nothing was left listening */
	char out[256];
	int rc = sh(out, sizeof(out), "curl -sS -o /dev/null -m 2 http://%s:%u/healthz 2>&1", w.host,
		    agentproc_api_port(w.ap));
	cr_assert(eq(int, rc, 7), "curl did not fail to connect (exit %d): %s", rc, out);
	world_fini(&w);
}

Test(tls, allow_plaintext_starts_and_warns_at_every_start)
{
	struct world w;
	world_init(&w);
	agentproc_set_api_extra(w.ap, "allow_plaintext = yes\n");
	for (int round = 1; round <= 2; round++) {
		cr_assert(eq(int, agentproc_start(w.ap), 0), "the agent did not start (round %d)", round);
		cr_assert(eq(long, agentproc_http(w.ap, "GET", "/healthz", NULL, 0, "", NULL), 200));
		cr_assert(eq(int, agentproc_stop(w.ap), 0));
		char out[64];
		cr_assert(eq(int, sh(out, sizeof(out), "grep -c 'level=warn event=api_plaintext' '%s/%s/agent.log'",
				     w.dir, agentproc_id(w.ap)), 0));
		cr_assert(eq(int, atoi(out), round), "api_plaintext warnings after %d starts: %s", round, out);
	}
	world_fini(&w);
}

Test(tls, serves_https_and_refuses_plain_http)
{
	struct world w;
	world_init(&w);
	make_certs(w.dir, w.host);
	set_tls(&w, "/tls/ca.crt");
	char ca[512];
	snprintf(ca, sizeof(ca), "%s/tls/ca.crt", w.dir);
	agentproc_set_tls_ca(w.ap, ca);
	cr_assert(eq(int, agentproc_start(w.ap), 0), "the agent did not start with TLS");
	cr_assert(agentproc_log_contains(w.ap, "event=api_listen"));
	cr_assert(agentproc_log_contains(w.ap, "tls=yes"));
	cr_assert(not(agentproc_log_contains(w.ap, "event=api_plaintext")));

	unsigned port = agentproc_api_port(w.ap);
	char out[2048];
	/* curl trusting our CA reaches /healthz */
	int rc = sh(out, sizeof(out), "curl -sS -m 10 --cacert '%s' -o /dev/null -w '%%{http_code}' https://%s:%u/healthz 2>&1",
		    ca, w.host, port);
	cr_assert(eq(int, rc, 0), "curl --cacert: exit %d: %s", rc, out);
	cr_assert(eq(str, out, "200"));
	/* plain HTTP gets no HTTP answer at all */
	rc = sh(out, sizeof(out), "curl -sS -m 10 -o /dev/null -w '%%{http_code}' http://%s:%u/healthz 2>/dev/null", w.host,
		port);
	cr_assert(ne(int, rc, 0), "plain HTTP was answered: %s", out);
	cr_assert(eq(str, out, "000"));
	/* a client that does not trust our CA is refused the connection */
	rc = sh(out, sizeof(out), "curl -sS -m 10 --cacert '%s/tls/other.crt' -o /dev/null https://%s:%u/healthz 2>&1",
		w.dir, w.host, port);
	cr_assert(eq(int, rc, 60), "curl with another CA: exit %d: %s", rc, out);
	/* the token travels over TLS: an authenticated request works */
	json_t *doc = NULL;
	cr_assert(eq(long, agentproc_json(w.ap, "GET", "/v1/peers", NULL, &doc), 200));
	json_decref(doc);
	/* the agent still runs: TLS handshakes that failed did not harm it */
	cr_assert(agentproc_running(w.ap));

	/* the CLI speaks HTTPS too, trusting tls_ca */
	rc = agentproc_cli(NULL, NULL, "status", "-c", agentproc_config(w.ap), NULL);
	cr_assert(eq(int, rc, 0), "limes status over HTTPS: exit %d", rc);
	cr_assert(eq(int, agentproc_stop(w.ap), 0));
	world_fini(&w);
}

Test(tls, cli_trusts_the_certificate_itself_and_nothing_else)
{
	struct world w;
	world_init(&w);
	make_certs(w.dir, w.host);
	char ca[512];
	snprintf(ca, sizeof(ca), "%s/tls/ca.crt", w.dir);
	agentproc_set_tls_ca(w.ap, ca);
	set_tls(&w, NULL); /* no tls_ca: the CLI trusts tls_cert */
	cr_assert(eq(int, agentproc_start(w.ap), 0));
	cr_assert(eq(int, agentproc_cli(NULL, NULL, "status", "-c", agentproc_config(w.ap), NULL), 0));
	cr_assert(eq(int, agentproc_stop(w.ap), 0));

	/* a CLI told to trust another CA does not talk to the agent */
	set_tls(&w, "/tls/other.crt");
	cr_assert(eq(int, agentproc_write_config(w.ap), 0));
	cr_assert(eq(int, agentproc_start(w.ap), 0));
	int rc = agentproc_cli(NULL, NULL, "status", "-c", agentproc_config(w.ap), NULL);
	cr_assert(eq(int, rc, 69), "limes status trusting another CA: exit %d (69: not reachable)", rc);
	cr_assert(eq(int, agentproc_stop(w.ap), 0));
	world_fini(&w);
}

Test(tls, refuses_a_tls_key_others_can_read)
{
	struct world w;
	world_init(&w);
	make_certs(w.dir, w.host);
	set_tls(&w, NULL);
	char key[512];
	snprintf(key, sizeof(key), "%s/tls/api.key", w.dir);
	cr_assert(eq(int, chmod(key, 0644), 0));
	start_refused(&w);
	cr_assert(agentproc_log_contains(w.ap, "[api] tls_key"));
	cr_assert(agentproc_log_contains(w.ap, "chmod 600"));

	/* a key that does not match the certificate: refused, naming both */
	cr_assert(eq(int, sh(NULL, 0, "cd '%s/tls' && cp other.key api.key && chmod 600 api.key", w.dir), 0));
	start_refused(&w);
	cr_assert(agentproc_log_contains(w.ap, "tls_cert and tls_key are not a matching PEM certificate and key"));
	world_fini(&w);
}
