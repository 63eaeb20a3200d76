/*
 * Hostile clients of the local HTTP API against a real agent: hundreds of
 * idle, slow-header and slow-body connections, the connection limit reached
 * and released. The API must keep answering /healthz within a second, close
 * trickling connections on its own, and accept connections again after a
 * flood (it once stopped accepting for good after 256 idle connections).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <signal.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support/agentproc.h"
#include "support/store_testutil.h"

static char root[256];
static struct agentproc *agent;

static void setup(void)
{
	/* the agent cuts trickling connections: a write to one must fail, not kill the test */
	signal(SIGPIPE, SIG_IGN);
	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "apiflood"), 0));
	agent = agentproc_new(root, "RS-CUSTOMS-HORGOS");
	cr_assert(agent != NULL);
	cr_assert(eq(int, agentproc_start(agent), 0));
}

static void teardown(void)
{
	agentproc_destroy(&agent);
	store_test_rmtree(root);
}

TestSuite(api_flood, .init = setup, .fini = teardown, .timeout = 120);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A TCP connection to the API, connected (blocking connect on loopback). */
static int dial(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET /healthz on a fresh connection with a deadline of timeout_ms for the
 * whole exchange; the HTTP status, or 0 when no answer came in time. */
static int healthz_within(unsigned port, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int fd = dial(port), status = 0;
	char buf[512];
	size_t got = 0;

	if (fd < 0)
		return 0;
	const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	while (got < 12) {
		uint64_t t = now_ms();
		if (t >= deadline)
			goto out;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)(deadline - t)) <= 0)
			goto out;
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		status = 0;
out:
	close(fd);
	return status;
}

/* True when the peer closed fd (read returns 0 or an error) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	char c[64];
	for (;;) {
		uint64_t t = now_ms();
		if (t >= deadline)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, (int)(deadline - t));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		ssize_t r = read(fd, c, sizeof(c));
		if (r <= 0)
			return true;
	}
}

#define FLOOD 300

Test(api_flood, accepts_again_after_the_connection_limit_was_reached)
{
	unsigned port = agentproc_api_port(agent);
	int fds[FLOOD];
	int opened = 0;

	for (int i = 0; i < FLOOD; i++) {
		fds[i] = dial(port);
		opened += fds[i] >= 0;
	}
	cr_assert(eq(int, opened, FLOOD));
	sleep(3);
	for (int i = 0; i < FLOOD; i++)
		close(fds[i]);
	/* one answer within a second, ten times in a row: the listen socket is watched again */
	for (int i = 0; i < 10; i++)
		cr_assert(eq(int, healthz_within(port, 1000), 200), "round %d after the flood", i);
	cr_assert(agentproc_running(agent));
}

Test(api_flood, healthz_answers_within_a_second_during_idle_and_slow_floods)
{
	unsigned port = agentproc_api_port(agent);
	int fds[FLOOD];

	/* a third idle, a third slow headers, a third a slow body */
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = dial(port);
		cr_assert(fds[i] >= 0, "connection %d", i);
		if (i % 3 == 1)
			cr_assert(eq(int, (int)write(fds[i], "GET /heal", 9), 9));
		else if (i % 3 == 2) {
			const char *h = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{";
			cr_assert(eq(int, (int)write(fds[i], h, strlen(h)), (int)strlen(h)));
		}
	}
	for (int round = 0; round < 5; round++) {
		cr_assert(eq(int, healthz_within(port, 1000), 200), "round %d during the flood", round);
		/* the attacker keeps the flood full: each connection the agent ended is opened again */
		for (int i = 0; i < FLOOD; i++) {
			struct pollfd p = { .fd = fds[i], .events = POLLIN };
			if (poll(&p, 1, 0) == 1) {
				close(fds[i]);
				fds[i] = dial(port);
				cr_assert(fds[i] >= 0);
			}
		}
		usleep(200 * 1000);
	}
	for (int i = 0; i < FLOOD; i++)
		close(fds[i]);
	cr_assert(agentproc_wait_log(agent, "event=api_conn_closed", 2000),
		  "the flood's connections were ended and logged");
}

Test(api_flood, a_trickle_does_not_keep_a_connection_alive)
{
	unsigned port = agentproc_api_port(agent);
	int hdr = dial(port), body = dial(port);
	const char *h = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";

	cr_assert(hdr >= 0 && body >= 0);
	cr_assert(eq(int, (int)write(body, h, strlen(h)), (int)strlen(h)));
	/* one byte every 400 ms on each: libmicrohttpd's inactivity timeout never fires */
	uint64_t start = now_ms();
	bool hdr_closed = false, body_closed = false;
	while (now_ms() - start < 45000 && !(hdr_closed && body_closed)) {
		if (!hdr_closed) {
			if (write(hdr, "G", 1) != 1 || closed_within(hdr, 400))
				hdr_closed = true;
		}
		if (!body_closed) {
			if (write(body, "x", 1) != 1 || closed_within(body, 1))
				body_closed = true;
		}
	}
	cr_assert(hdr_closed, "a slow header was cut off");
	cr_assert(body_closed, "a slow body was cut off");
	close(hdr);
	close(body);
	cr_assert(eq(int, healthz_within(port, 1000), 200));
}
