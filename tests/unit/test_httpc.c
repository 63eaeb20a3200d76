/*
 * httpc, the one HTTP client, against a small HTTP/1.1 server on loopback
 * run by the test itself (one thread, poll): what goes on the wire (method,
 * path, token, body), answers, keep-alive, requests in flight at once, and
 * an agent that is not there.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpc/httpc.h"
#include "proto/err.h"

TestSuite(httpc, .timeout = 60);

#define MAX_CONN 8

/* The server: answers every request with `status` and a JSON body naming
 * the request's number; keeps the last request's text; counts accepts. */
struct server {
	int listen_fd, stop_fd[2];
	uint16_t port;
	long status;
	pthread_t thread;
	pthread_mutex_t lock;
	unsigned accepted, requests;
	char last[8192];
};

static int request_complete(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	size_t head = (size_t)(end - buf) + 4, body = 0;
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	return len >= head + body ? (int)(head + body) : 0;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct pollfd pf[MAX_CONN + 2];
	char buf[MAX_CONN][8192];
	size_t len[MAX_CONN] = { 0 };
	int fd[MAX_CONN];

	for (int i = 0; i < MAX_CONN; i++)
		fd[i] = -1;
	for (;;) {
		pf[0] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->stop_fd[0], .events = POLLIN };
		for (int i = 0; i < MAX_CONN; i++)
			pf[i + 2] = (struct pollfd){ .fd = fd[i], .events = POLLIN };
		if (poll(pf, MAX_CONN + 2, -1) < 0 || pf[1].revents)
			break;
		if (pf[0].revents & POLLIN) {
			int c = accept(s->listen_fd, NULL, NULL);
			for (int i = 0; c >= 0 && i < MAX_CONN; i++)
				if (fd[i] < 0) {
					fd[i] = c;
					len[i] = 0;
					c = -1;
					pthread_mutex_lock(&s->lock);
					s->accepted++;
					pthread_mutex_unlock(&s->lock);
				}
			if (c >= 0)
				close(c);
		}
		for (int i = 0; i < MAX_CONN; i++) {
			if (fd[i] < 0 || !(pf[i + 2].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t n = read(fd[i], buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
			if (n <= 0) {
				close(fd[i]);
				fd[i] = -1;
				continue;
			}
			len[i] += (size_t)n;
			buf[i][len[i]] = '\0';
			int used = request_complete(buf[i], len[i]);
			if (!used)
				continue;
			char answer[256], body[64];
			pthread_mutex_lock(&s->lock);
			memcpy(s->last, buf[i], (size_t)used);
			s->last[used] = '\0';
			int nb = snprintf(body, sizeof(body), "{\"request\":%u}", ++s->requests);
			pthread_mutex_unlock(&s->lock);
			int na = snprintf(answer, sizeof(answer),
					  "HTTP/1.1 %ld X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
					  s->status, nb, body);
			if (write(fd[i], answer, (size_t)na) != na) {
				close(fd[i]);
				fd[i] = -1;
				continue;
			}
			memmove(buf[i], buf[i] + used, len[i] - (size_t)used);
			len[i] -= (size_t)used;
		}
	}
	for (int i = 0; i < MAX_CONN; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return NULL;
}

static void server_start(struct server *s, long status)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->status = status;
	pthread_mutex_init(&s->lock, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(s->listen_fd >= 0);
	cr_assert(eq(int, bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0));
	cr_assert(eq(int, listen(s->listen_fd, 16), 0));
	cr_assert(eq(int, getsockname(s->listen_fd, (struct sockaddr *)&a, &sl), 0));
	s->port = ntohs(a.sin_port);
	cr_assert(eq(int, pipe(s->stop_fd), 0));
	cr_assert(eq(int, pthread_create(&s->thread, NULL, serve, s), 0));
}

static void server_stop(struct server *s)
{
	cr_assert(eq(sz, (size_t)write(s->stop_fd[1], "x", 1), 1));
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->stop_fd[0]);
	close(s->stop_fd[1]);
	pthread_mutex_destroy(&s->lock);
}

/* A port nothing listens on (bound, then released). */
static uint16_t closed_port(void)
{
	struct server s;
	server_start(&s, 200);
	uint16_t port = s.port;
	server_stop(&s);
	return port;
}

Test(httpc, sends_method_path_token_and_body_and_returns_the_answer)
{
	struct server s;
	struct httpc_answer a;
	server_start(&s, 202);
	struct httpc *h = httpc_new("127.0.0.1", s.port, "sekrit-token", 1);
	cr_assert(h != NULL);

	cr_assert(eq(int, httpc_request(h, "POST", "/v1/messages", "{\"x\":1}", 7, 5000, &a), 0), "%s", a.error);
	cr_assert(eq(long, a.status, 202));
	cr_assert(eq(str, a.body, "{\"request\":1}"));
	cr_assert(eq(sz, a.len, strlen("{\"request\":1}")));
	cr_assert(strncmp(s.last, "POST /v1/messages HTTP/1.1\r\n", 28) == 0, "%s", s.last);
	cr_assert(strstr(s.last, "\r\nAuthorization: Bearer sekrit-token\r\n") != NULL, "%s", s.last);
	cr_assert(strstr(s.last, "\r\nContent-Type: application/json\r\n") != NULL, "%s", s.last);
	cr_assert(strstr(s.last, "\r\nExpect") == NULL, "%s", s.last);
	cr_assert(strstr(s.last, "\r\n\r\n{\"x\":1}") != NULL, "%s", s.last);
	httpc_answer_clear(&a);
	cr_assert(a.body == NULL);

	/* other methods are named; a GET has no body */
	cr_assert(eq(int, httpc_request(h, "GET", "/v1/peers", NULL, 0, 5000, &a), 0));
	cr_assert(strncmp(s.last, "GET /v1/peers HTTP/1.1\r\n", 24) == 0, "%s", s.last);
	httpc_answer_clear(&a);
	cr_assert(eq(int, httpc_request(h, "DELETE", "/v1/thing", NULL, 0, 5000, &a), 0));
	cr_assert(strncmp(s.last, "DELETE /v1/thing HTTP/1.1\r\n", 27) == 0, "%s", s.last);
	httpc_answer_clear(&a);

	/* one keep-alive connection for all three */
	cr_assert(eq(u32, s.accepted, 1));
	httpc_destroy(&h);
	cr_assert(h == NULL);
	httpc_destroy(&h);
	httpc_destroy(NULL);
	server_stop(&s);
}

Test(httpc, sends_no_authorization_without_a_token)
{
	struct server s;
	struct httpc_answer a;
	server_start(&s, 401);
	const char *none[] = { NULL, "" };
	for (size_t i = 0; i < 2; i++) {
		struct httpc *h = httpc_new("127.0.0.1", s.port, none[i], 1);
		cr_assert(eq(int, httpc_request(h, "GET", "/healthz", NULL, 0, 5000, &a), 0));
		cr_assert(eq(long, a.status, 401), "an error status is still an answer");
		cr_assert(strstr(s.last, "Authorization") == NULL, "%s", s.last);
		httpc_answer_clear(&a);
		httpc_destroy(&h);
	}
	server_stop(&s);
}

Test(httpc, unreachable_agent_is_status_0_and_an_io_error)
{
	struct httpc_answer a;
	uint16_t port = closed_port();
	struct httpc *h = httpc_new("127.0.0.1", port, "t", 1);
	char base[64];

	snprintf(base, sizeof(base), "http://127.0.0.1:%u", port);
	cr_assert(eq(str, (char *)httpc_base(h), base));
	cr_assert(eq(int, httpc_request(h, "GET", "/healthz", NULL, 0, 5000, &a), LIMES_E_IO));
	cr_assert(eq(long, a.status, 0));
	cr_assert(a.body == NULL);
	cr_assert(strncmp(a.error, base, strlen(base)) == 0, "%s", a.error);
	httpc_answer_clear(&a);
	httpc_destroy(&h);
}

Test(httpc, brackets_an_ipv6_host)
{
	struct httpc *h = httpc_new("::1", 8080, NULL, 1);
	cr_assert(eq(str, (char *)httpc_base(h), "http://[::1]:8080"));
	httpc_destroy(&h);
}

struct done_log {
	unsigned calls;
	int seen[4];
	long status[4];
};

static void on_done(void *arg, void *tag, const struct httpc_answer *a)
{
	struct done_log *log = arg;
	int i = (int)(intptr_t)tag;
	log->calls++;
	log->seen[i]++;
	log->status[i] = a->status;
	cr_assert(a->body != NULL);
	if (a->status)
		cr_assert(strstr(a->body, "{\"request\":") == a->body, "%s", a->body);
}

Test(httpc, keeps_several_requests_in_flight_and_reports_each_once)
{
	struct server s;
	struct done_log log = { 0 };
	server_start(&s, 202);
	struct httpc *h = httpc_new("127.0.0.1", s.port, "t", 3);

	cr_assert(eq(u32, httpc_free_slots(h), 3));
	for (intptr_t i = 0; i < 3; i++)
		cr_assert(eq(int, httpc_start(h, "POST", "/v1/messages", "[]", 2, 5000, (void *)i), 0));
	cr_assert(eq(u32, httpc_free_slots(h), 0));
	cr_assert(eq(u32, httpc_running(h), 3));
	cr_assert(eq(int, httpc_start(h, "POST", "/v1/messages", "[]", 2, 5000, (void *)3), LIMES_E_AGAIN));
	for (int turns = 0; httpc_running(h) > 0 && turns < 200; turns++)
		cr_assert(eq(int, httpc_poll(h, -1, 50, on_done, &log), 0));
	cr_assert(eq(u32, log.calls, 3));
	for (int i = 0; i < 3; i++) {
		cr_assert(eq(int, log.seen[i], 1));
		cr_assert(eq(long, log.status[i], 202));
	}
	cr_assert(eq(int, log.seen[3], 0));
	cr_assert(eq(u32, httpc_free_slots(h), 3));
	cr_assert(eq(u32, s.requests, 3));
	httpc_destroy(&h);
	server_stop(&s);
}

Test(httpc, reports_a_failed_request_in_flight_with_status_0)
{
	struct done_log log = { 0 };
	struct httpc *h = httpc_new("127.0.0.1", closed_port(), "t", 1);

	cr_assert(eq(int, httpc_start(h, "POST", "/v1/messages", "[]", 2, 5000, (void *)0), 0));
	for (int turns = 0; httpc_running(h) > 0 && turns < 200; turns++)
		cr_assert(eq(int, httpc_poll(h, -1, 50, on_done, &log), 0));
	cr_assert(eq(u32, log.calls, 1));
	cr_assert(eq(long, log.status[0], 0));
	httpc_destroy(&h);
}

Test(httpc, poll_wakes_up_for_the_extra_descriptor)
{
	struct done_log log = { 0 };
	int fds[2];
	struct httpc *h = httpc_new("127.0.0.1", 1, NULL, 1);

	cr_assert(eq(int, pipe(fds), 0));
	cr_assert(eq(sz, (size_t)write(fds[1], "x", 1), 1));
	/* readable already: returns long before the 20 s */
	cr_assert(eq(int, httpc_poll(h, fds[0], 20000, on_done, &log), 0));
	cr_assert(eq(u32, log.calls, 0));
	close(fds[0]);
	close(fds[1]);
	httpc_destroy(&h);
}
