/*
 * The API's connection budget: every HTTP connection is tracked from its
 * accept to its close, so that idle, slow-header, slow-body and too many
 * connections cannot lock legitimate clients out.
 *
 * - A connection between requests (or before its first) may stay idle
 *   API_IDLE_S; one uploading a request must finish it within API_BODY_S of
 *   the end of the previous request: a 1-byte trickle does not keep a
 *   connection forever (libmicrohttpd's own timeout resets on every byte).
 * - Past API_HIGH_WATER connections, or API_PER_IP_MAX from one address,
 *   each new connection evicts the oldest idle or uploading one (of that
 *   address for the per-address rule), so the connection limit is never
 *   reached by a flood and a new client is always served.
 * A connection is closed by shutting its socket down: libmicrohttpd sees the
 * end of stream on its next read and closes it through its usual path
 * (on_completed, the notify callback), so no state is freed behind its back.
 * Owns the tracking list in struct api.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api_conn.h"
#include "base/clock.h"
#include "base/log.h"

static uint64_t now_s_us(void)
{
	return clock_mono_us();
}

static void track_address(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(buf, len, "?");
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, buf,
			  (socklen_t)len);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, buf,
			  (socklen_t)len);
}

/* Ends a connection: libmicrohttpd reads the end of stream and closes it. */
static void shut(struct api *api, struct api_track *t, const char *why)
{
	uint64_t suppressed;

	if (t->shut)
		return;
	t->shut = true;
	api->guard.live--;
	api->guard.evicted++;
	(void)shutdown(t->fd, SHUT_RDWR); /* fails only for a socket already gone: MHD closes it anyway */
	if (ratelimit_pass(&api->guard.log_limit, t->ip, &suppressed))
		log_warn("event=api_conn_closed client=%s reason=\"%s\" connections=%u suppressed=%llu", t->ip, why,
			 api->guard.live, (unsigned long long)suppressed);
	api_run_mhd_soon(api);
}

/* Idle or uploading: a connection that may be ended to make room. */
static bool evictable(const struct api_track *t)
{
	return !t->shut && (!t->req || t->req->state == REQ_BODY || t->req->state == REQ_NEW);
}

/* Makes room: ends the oldest evictable connection (of ip when ip is set),
 * or wakes the oldest long-poll so it answers now. */
static void evict_one(struct api *api, const char *ip)
{
	for (struct api_track *t = api->guard.head; t; t = t->next) {
		if (evictable(t) && (!ip || strcmp(t->ip, ip) == 0)) {
			shut(api, t, ip ? "too many connections from this address" : "connection budget full");
			return;
		}
	}
	for (struct api_track *t = api->guard.head; t; t = t->next) {
		if (!t->shut && t->req && t->req->state == REQ_WAITING && t->req->suspended &&
		    (!ip || strcmp(t->ip, ip) == 0)) {
			api_defer_wake(t->req);
			api_run_mhd_soon(api);
			return;
		}
	}
}

static unsigned count_from(const struct api *api, const char *ip)
{
	unsigned n = 0;
	for (const struct api_track *t = api->guard.head; t; t = t->next)
		n += !t->shut && strcmp(t->ip, ip) == 0;
	return n;
}

void api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code)
{
	struct api *api = cls;
	struct api_track *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!t)
			return;
		if (t->req)
			t->req->track = NULL;
		if (!t->shut)
			api->guard.live--;
		if (t->prev)
			t->prev->next = t->next;
		else
			api->guard.head = t->next;
		if (t->next)
			t->next->prev = t->prev;
		else
			api->guard.tail = t->prev;
		api->guard.tracked--;
		free(t);
		*socket_context = NULL;
		/* at its limit libmicrohttpd stopped watching the listen socket and
		 * puts it back only when it runs again: make sure it does */
		api_run_mhd_soon(api);
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	t = calloc(1, sizeof(*t));
	if (!t) {
		/* untracked: still served, only not evictable */
		log_warn("event=api_conn_untracked reason=\"out of memory\"");
		return;
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	t->fd = ci ? ci->connect_fd : -1;
	t->since_us = now_s_us();
	track_address(conn, t->ip, sizeof(t->ip));
	t->prev = api->guard.tail;
	if (api->guard.tail)
		api->guard.tail->next = t;
	else
		api->guard.head = t;
	api->guard.tail = t;
	api->guard.tracked++;
	api->guard.live++;
	*socket_context = t;
	if (t->fd < 0)
		t->shut = true, api->guard.live--; /* cannot be ended by us: never chosen */
	if (count_from(api, t->ip) > API_PER_IP_MAX)
		evict_one(api, t->ip);
	if (api->guard.live > API_HIGH_WATER)
		evict_one(api, NULL);
}

void api_guard_request_begins(struct request *req)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct api_track *t = ci ? ci->socket_context : NULL;

	if (!t)
		return;
	t->req = req;
	req->track = t;
}

void api_guard_request_ends(struct request *req)
{
	struct api_track *t = req->track;

	if (!t)
		return;
	t->req = NULL;
	t->since_us = now_s_us();
	req->track = NULL;
}

void api_guard_sweep(struct api *api)
{
	uint64_t now = now_s_us();
	struct api_track *t, *next;

	for (t = api->guard.head; t; t = next) {
		next = t->next;
		if (t->shut)
			continue;
		uint64_t age_s = (now - t->since_us) / 1000000;
		if (!t->req && age_s >= API_IDLE_S)
			shut(api, t, "idle");
		else if (t->req && (t->req->state == REQ_BODY || t->req->state == REQ_NEW) && age_s >= API_BODY_S)
			shut(api, t, "request not complete in time");
		else if (t->req && t->req->state == REQ_DONE && age_s >= API_ANSWER_S)
			shut(api, t, "answer not read in time");
	}
}
