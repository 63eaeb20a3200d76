/*
 * The local HTTP API: libmicrohttpd without threads of its own, driven from
 * the agent's libuv loop (its epoll descriptor on a uv_poll_t, its timeout
 * on a uv_timer_t, MHD_run after each event). Owns the MHD daemon, the loop
 * handles, the token's digest and the request counters; answers that wait
 * (long-polls, submissions waiting for the group commit) are defer.c.
 * Authenticates, reads and caps request bodies, routes to routes.c and logs
 * one line per answered request. Only the API's files include microhttpd.h.
 */
#include "api/api.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "api_conn.h"
#include "api_int.h"
#include "api_tls.h"
#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "crypto/secret.h"
#include "proto/err.h"

/* libmicrohttpd's own inactivity timeout; guard.c enforces the tighter
 * per-state deadlines (API_IDLE_S, API_BODY_S) */
#define CONNECTION_TIMEOUT_S 30

/* ------------------------------------------------------------ loop glue */

static void run_mhd(struct api *api);

static void on_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

/* libuv's start calls fail only for a closing handle, which the API never
 * starts (api->stopped is set before it closes them); logged should that change. */
static void check_uv(const char *what, int rc)
{
	if (rc < 0)
		log_warn("event=api_loop_error call=%s reason=\"%s\"", what, uv_strerror(rc));
}

/* Once per loop turn, after I/O: ZeroMQ drains and timers get their turn
 * between two MHD_run calls (a 0 ms timer re-armed from its own callback
 * runs again at once in libuv < 1.45 and starves everything else). */
static void on_again(uv_check_t *c)
{
	struct api *api = c->data;
	(void)uv_check_stop(&api->again);     /* stopping cannot fail */
	(void)uv_idle_stop(&api->again_spin);
	run_mhd(api);
}

static void on_again_spin(uv_idle_t *i)
{
	(void)i;
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	run_mhd(p->data);
}

/* Lets MHD work, then sleeps until its next timeout. */
static void run_mhd(struct api *api)
{
	MHD_UNSIGNED_LONG_LONG timeout = 0;

	if (api->stopped || !api->mhd)
		return;
	if (MHD_run(api->mhd) != MHD_YES)
		log_warn("event=http_error detail=\"MHD_run failed\"");
	/* At its connection limit (or out of descriptors) libmicrohttpd takes
	 * the listen socket out of its epoll set and puts it back only at the
	 * start of a later MHD_run: when connections closed in this run,
	 * nothing else may wake the loop, so run it again now. */
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	unsigned conns = di ? di->num_connections : 0;
	bool fewer = conns < api->conns_at_last_run;
	api->conns_at_last_run = conns;
	if (MHD_get_timeout(api->mhd, &timeout) != MHD_YES)
		timeout = 1000;
	if (fewer)
		timeout = 0;
	if (timeout == 0) {
		(void)uv_timer_stop(&api->timer);
		check_uv("uv_check_start", uv_check_start(&api->again, on_again));
		check_uv("uv_idle_start", uv_idle_start(&api->again_spin, on_again_spin));
	} else {
		check_uv("uv_timer_start",
			 uv_timer_start(&api->timer, on_timer, timeout > 1000 ? 1000 : timeout, 0));
	}
}

/* Soon, from the loop: never re-enter MHD_run from inside it. */
void api_run_mhd_soon(struct api *api)
{
	if (!api->stopped)
		check_uv("uv_timer_start", uv_timer_start(&api->timer, on_timer, 0, 0));
}

/* ------------------------------------------------------------ answering */

static void count_status(struct api *api, int status)
{
	struct api_status_count *slots = api->counters.by_status;

	for (size_t i = 0; i < API_STATUS_SLOTS; i++) {
		if (slots[i].status == status || slots[i].status == 0) {
			slots[i].status = status;
			slots[i].count++;
			return;
		}
	}
}

/* The URL path made safe for a log line. */
static void log_path(char *out, size_t len, const char *url)
{
	size_t i = 0;

	for (; url[i] && i + 1 < len; i++) {
		char c = url[i];
		out[i] = (c > ' ' && c < 127 && c != '"' && c != '\\') ? c : '?';
	}
	out[i] = '\0';
}

#define CONSOLE_CSP "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; " \
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

static enum MHD_Result send_reply(struct request *req, const char *method, const char *url, struct api_reply *r)
{
	struct api *api = req->api;
	struct MHD_Response *resp;
	char path[128];
	enum MHD_Result ret;

	req->state = REQ_DONE;
	if (!r->body) {
		api_json_error(r, 500, "internal", "", "no answer");
	}
	resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(r->body);
		r->body = NULL;
		return MHD_NO;
	}
	r->body = NULL;
	/* a header that cannot be added (out of memory) closes the connection
	 * rather than send an answer without its content type or its nosniff */
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    r->content_type ? r->content_type : "application/json") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    (r->status == 401 &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"limes\"") != MHD_YES) ||
	    /* the console: it may talk to this agent only (a script injected
	     * anyhow could not send the token elsewhere) and not be framed */
	    (r->content_type && strncmp(r->content_type, "text/html", 9) == 0 &&
	     (MHD_add_response_header(resp, "Content-Security-Policy", CONSOLE_CSP) != MHD_YES ||
	      MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES))) {
		log_warn("event=http_error detail=\"cannot build the response headers\"");
		ret = MHD_NO;
	} else {
		ret = MHD_queue_response(req->conn, (unsigned)r->status, resp);
	}
	MHD_destroy_response(resp);

	count_status(api, r->status);
	log_path(path, sizeof(path), url);
	if (r->status >= 400) {
		log_warn("event=api_refuse status=%d code=%s field=\"%s\" method=%s path=%s client=%s%s%s", r->status,
			 r->code[0] ? r->code : "-", r->field, method, path, req->addr, r->msg_id[0] ? " msg=" : "",
			 r->msg_id);
	} else if (strcmp(method, "POST") == 0) {
		log_info("event=api_accept status=%d method=%s path=%s client=%s name=%s msg=%s count=%zu", r->status,
			 method, path, req->addr, req->client, r->msg_id[0] ? r->msg_id : "-", r->accepted);
	} else {
		log_debug("event=api_accept status=%d method=%s path=%s client=%s%s%s", r->status, method, path,
			  req->addr, r->msg_id[0] ? " msg=" : "", r->msg_id);
	}
	return ret;
}

static enum MHD_Result send_error(struct request *req, const char *method, const char *url, int status,
				  const char *code, const char *field, const char *message)
{
	struct api_reply r = { 0 };
	api_json_error(&r, status, code, field, "%s", message);
	return send_reply(req, method, url, &r);
}

/* ------------------------------------------------------------ requests */

/* The configured client whose bearer token the request carries, or NULL. */
static const char *authorized(struct api *api, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return api_clients_match(api, h);
}

static bool needs_token(const char *url)
{
	return strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0 || strcmp(url, "/metrics") == 0;
}

static void client_address(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ci && ci->client_addr) {
		if (ci->client_addr->sa_family == AF_INET) {
			const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else if (ci->client_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(buf, len, "%s:%u", host, port);
}

/* The optional Limes-Client header names the national system, for idempotency keys. */
static int client_name(struct MHD_Connection *conn, char *buf, size_t len)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Limes-Client");
	size_t n;

	if (!h) {
		snprintf(buf, len, "default");
		return 0;
	}
	n = strlen(h);
	if (n == 0 || n > CLIENT_NAME_MAX || strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
						      "0123456789._-") != n)
		return LIMES_E_INVAL;
	snprintf(buf, len, "%s", h);
	return 0;
}

struct query_check {
	const char *bad;
};

static enum MHD_Result check_query_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_check *q = cls;
	(void)kind;
	(void)value;
	if (strcmp(key, "after") && strcmp(key, "limit") && strcmp(key, "wait")) {
		q->bad = key;
		return MHD_NO;
	}
	return MHD_YES;
}

static const char *query(struct request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

struct query_known {
	const char *known;          /* NUL-separated names, ending with an empty one */
	const char *bad;
};

static enum MHD_Result check_known_key(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_known *q = cls;
	(void)kind;
	(void)value;
	for (const char *k = q->known; *k; k += strlen(k) + 1)
		if (strcmp(k, key) == 0)
			return MHD_YES;
	q->bad = key;
	return MHD_NO;
}

/* False, with the 400 naming the parameter in r, when the query has one not in known. */
static bool known_query(struct request *req, const char *known, struct api_reply *r)
{
	struct query_known q = { known, NULL };
	char field[64], names[128] = "";

	(void)MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_known_key, &q); /* a count */
	if (!q.bad)
		return true;
	for (const char *k = known; *k; k += strlen(k) + 1)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", names[0] ? ", " : "", k);
	log_path(field, sizeof(field), q.bad);
	api_json_error(r, 400, "unknown_field", field, "unknown parameter (known: %s)", names);
	return false;
}

static enum MHD_Result answer_staged(struct request *req, const char *method, const char *url, struct api_reply *r);

/* GET /v1/inbox: answers, or suspends the connection until messages arrive or the wait ends. */
static enum MHD_Result serve_inbox(struct request *req, const char *method, const char *url)
{
	struct api *api = req->api;
	struct api_reply r = { 0 };

	if (req->state != REQ_WAITING) {
		struct query_check q = { NULL };
		(void)MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_query_key, &q); /* a count */
		if (q.bad) {
			char field[64];
			log_path(field, sizeof(field), q.bad);
			api_json_error(&r, 400, "unknown_field", field, "unknown parameter (known: after, limit, wait)");
			return send_reply(req, method, url, &r);
		}
		if (api_routes_inbox_params(MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "after"),
					    MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit"),
					    MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "wait"),
					    &req->inbox, &r) < 0)
			return send_reply(req, method, url, &r);
		req->deadline_ms = clock_now_ms() + (uint64_t)req->inbox.wait_s * 1000;
	}
	bool may_wait = !api->stopped && req->inbox.wait_s > 0 && clock_now_ms() < req->deadline_ms;
	int rc = api_routes_inbox(&api->deps, req->client, &req->inbox, may_wait, &r);
	if (rc == 0 && may_wait) {
		api_defer_wait(req);
		return MHD_YES;
	}
	/* what was shown is in the consultation log: answered once durable */
	return answer_staged(req, method, url, &r);
}

/* "/v1/messages/{id}" or "/v1/messages/{id}/requeue": copies the id, says which. */
static int message_path(const char *url, char *id, size_t id_len, bool *requeue)
{
	const char *p = url + strlen("/v1/messages/");
	const char *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);

	*requeue = false;
	if (n == 0 || n >= id_len)
		return LIMES_E_NOTFOUND;
	if (slash) {
		if (strcmp(slash, "/requeue") != 0)
			return LIMES_E_NOTFOUND;
		*requeue = true;
	}
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

/* A route staged writes (r->needs_commit): its answer waits, suspended,
 * for the turn's commit; when the API is stopping there is no later turn,
 * so it commits at once. Refusals go out now. */
static enum MHD_Result answer_staged(struct request *req, const char *method, const char *url, struct api_reply *r)
{
	if (!r->needs_commit)
		return send_reply(req, method, url, r);
	if (req->api->stopped) {
		/* on failure r has become the 503; the commit logged why */
		(void)api_defer_commit_now(req->api, r);
		return send_reply(req, method, url, r);
	}
	/* its writes may have joined lazily staged ones (an audit entry):
	 * this answer waits, so the commit is this turn's */
	if (commit_stage(req->api->deps.commit, 0) < 0) {
		/* the store refused: the 503 the commit would have given */
		(void)api_defer_commit_now(req->api, r);
		return send_reply(req, method, url, r);
	}
	req->pending = *r;
	api_defer_commit_wait(req);
	return MHD_YES;
}

/* url is /v1/peers/{id}SUFFIX: 1 with the id copied into peer, -1 when the
 * id is too long to be a peer's, 0 when url is another route. */
static int peer_route(const char *url, const char *suffix, char peer[CONFIG_ID_MAX + 1])
{
	size_t len = strlen(url), slen = strlen(suffix);
	if (strncmp(url, "/v1/peers/", 10) != 0 || len <= 10 + slen || strcmp(url + len - slen, suffix) != 0)
		return 0;
	size_t n = len - 10 - slen;
	if (n > CONFIG_ID_MAX)
		return -1;
	memcpy(peer, url + 10, n);
	peer[n] = '\0';
	return 1;
}

static enum MHD_Result route(struct request *req, const char *method, const char *url)
{
	const struct api_deps *deps = &req->api->deps;
	struct api_reply r = { 0 };
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;

	/* what a GET shows is durable: marks staged lazily (commit_stage_lazy)
	 * are committed first rather than shown and then lost in a crash */
	if (get && commit_lazy_staged(deps->commit))
		(void)commit_flush(deps->commit); /* a failure was logged; the store shows what it holds */
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
		if (!get)
			goto not_allowed;
		size_t len;
		const char *page = dashboard_page(&len);
		r.body = malloc(len);
		if (r.body) {
			memcpy(r.body, page, len);
			r.len = len;
			r.status = 200;
			r.content_type = "text/html; charset=utf-8";
		}
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/healthz") == 0) {
		if (!get)
			goto not_allowed;
		api_routes_healthz(deps, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/metrics") == 0) {
		if (!get)
			goto not_allowed;
		if (api_clients_admin(deps, req->client, &r, "read the metrics"))
			metrics_render(deps, &req->api->counters, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/v1/peers") != 0 && api_routes_standby(deps, &r))
		return send_reply(req, method, url, &r);
	if (strcmp(url, "/v1/messages") == 0 && get) {
#define ARG(name) MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name)
		struct api_list_query q = { ARG("state"), ARG("peer"), ARG("type"),
					    ARG("since"), ARG("after"), ARG("limit") };
#undef ARG
		if (api_clients_admin(deps, req->client, &r, "list messages by state"))
			api_routes_list_messages(deps, &q, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/v1/keys") == 0) {
		if (!get)
			goto not_allowed;
		if (api_clients_admin(deps, req->client, &r, "read this agent's keys"))
			api_routes_keys(deps, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/v1/keys/promote") == 0) {
		if (!post)
			goto not_allowed;
		if (api_clients_admin(deps, req->client, &r, "switch this agent's key"))
			api_routes_promote(deps, req->client, &r);
		return answer_staged(req, method, url, &r);
	}
	char peer[CONFIG_ID_MAX + 1];
	int peer_rc = peer_route(url, "/accept-key", peer);
	bool resend = false;
	if (!peer_rc && (peer_rc = peer_route(url, "/resend", peer)) != 0)
		resend = true;
	if (peer_rc) {
		if (!post)
			goto not_allowed;
		if (peer_rc < 0) {
			api_json_error(&r, 404, "unknown_peer", "peer", "no such peer");
			return send_reply(req, method, url, &r);
		}
		if (!resend && api_clients_admin(deps, req->client, &r, "adopt a neighbour's key"))
			api_routes_accept_key(deps, req->client, peer, &r);
		if (resend && api_clients_admin(deps, req->client, &r, "have messages sent again"))
			api_routes_resend(deps, req->client, peer, req->body ? req->body : "", req->len, &r);
		return answer_staged(req, method, url, &r);
	}
	if (strcmp(url, "/v1/backup") == 0) {
		if (!post)
			goto not_allowed;
		if (api_clients_admin(deps, req->client, &r, "take a backup"))
			api_routes_backup(deps, req->body ? req->body : "", req->len, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/v1/messages") == 0) {
		if (!post)
			goto not_allowed;
		if (api_parsework_start(req))
			return MHD_YES; /* suspended; parsework.c answers as below */
		api_routes_post_messages(deps, req->client, req->body ? req->body : "", req->len, &r);
		return answer_staged(req, method, url, &r);
	}
	if (strncmp(url, "/v1/messages/", 13) == 0) {
		char id[80];
		bool requeue;
		if (message_path(url, id, sizeof(id), &requeue) < 0) {
			api_json_error(&r, 404, "not_found", "", "no such endpoint");
			return send_reply(req, method, url, &r);
		}
		if (requeue ? !post : !get)
			goto not_allowed;
		if (requeue) {
			api_routes_requeue(deps, req->client, id, req->body ? req->body : "", req->len, &r);
			return answer_staged(req, method, url, &r);
		}
		api_routes_get_message(deps, req->client, id, &r);
		return answer_staged(req, method, url, &r);
	}
	if (strcmp(url, "/v1/inbox") == 0) {
		if (!get)
			goto not_allowed;
		return serve_inbox(req, method, url);
	}
	if (strcmp(url, "/v1/peers") == 0) {
		if (!get)
			goto not_allowed;
		if (api_clients_admin(deps, req->client, &r, "read the link status"))
			api_routes_peers(deps, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/v1/audit") == 0) {
		if (!get)
			goto not_allowed;
		if (api_clients_admin(deps, req->client, &r, "read the audit trail"))
			api_audit_route(deps, req->conn, &r);
		return send_reply(req, method, url, &r);
	}
	if (strcmp(url, "/v1/events") == 0 || strcmp(url, "/v1/stats/history") == 0) {
		if (!get)
			goto not_allowed;
		bool events = url[4] == 'e';
		if (!api_clients_admin(deps, req->client, &r, "read the link events and history"))
			return send_reply(req, method, url, &r);
		if (!known_query(req, events ? "after\0limit\0" : "peer\0minutes\0", &r))
			return send_reply(req, method, url, &r);
		if (events)
			api_console_events(deps, query(req, "after"), query(req, "limit"), &r);
		else
			api_console_history(deps, query(req, "peer"), query(req, "minutes"), &r);
		return send_reply(req, method, url, &r);
	}
	api_json_error(&r, 404, "not_found", "", "no such endpoint (see docs/api.md)");
	return send_reply(req, method, url, &r);
not_allowed:
	api_json_error(&r, 405, "method_not_allowed", "", "%s is not allowed on this endpoint", method);
	return send_reply(req, method, url, &r);
}

/* First call for a request: who is it, may it, and is its body too large already? */
static enum MHD_Result begin(struct api *api, struct MHD_Connection *conn, const char *url, const char *method,
			     void **con_cls)
{
	struct request *req = calloc(1, sizeof(*req));

	if (!req)
		return MHD_NO;
	req->api = api;
	req->conn = conn;
	*con_cls = req;
	api_guard_request_begins(req);
	client_address(conn, req->addr, sizeof(req->addr));
	if (api->stopped)
		return send_error(req, method, url, 503, "shutting_down", "", "the agent is stopping");
	const char *who = needs_token(url) ? authorized(api, conn) : NULL;
	if (needs_token(url) && !who)
		return send_error(req, method, url, 401, "unauthorized", "Authorization",
				  "a valid bearer token is needed (Authorization: Bearer TOKEN)");
	if (client_name(conn, req->client, sizeof(req->client)) < 0)
		return send_error(req, method, url, 400, "bad_format", "Limes-Client",
				  "the Limes-Client header must be 1 to 64 of A-Z a-z 0-9 . _ -");
	/* a named client is its token; only the simple setup's token lets
	 * Limes-Client name the system, and never as another client */
	if (who && strcmp(who, CONFIG_DEFAULT_CLIENT) != 0)
		snprintf(req->client, sizeof(req->client), "%s", who);
	else if (who && strcmp(req->client, CONFIG_DEFAULT_CLIENT) != 0 &&
		 client_find(peers_config(api->deps.peers), req->client))
		return send_error(req, method, url, 403, "forbidden", "Limes-Client",
				  "the Limes-Client header names another configured client: use its own token");
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		size_t max = peers_config(api->deps.peers)->max_body_bytes;
		if (errno || *end || n > (unsigned long long)max + API_DRAIN_OVER_BYTES)
			return send_error(req, method, url, 413, "too_large", "",
					  "the request body is larger than the configured max_body");
		if (n > max)
			req->too_big = true; /* read, dropped, then 413 (on_request) */
		else
			req->expected = (size_t)n;
	}
	req->state = REQ_BODY;
	return MHD_YES;
}

static int append_body(struct request *req, const char *data, size_t size, size_t max)
{
	if (req->too_big || size > max - req->len) {
		req->too_big = true;
		return 0;
	}
	if (req->len + size + 1 > req->cap) {
		/* the announced length at once: a batch of 200 (~250 KiB) grew
		 * by doubling from 4 KiB, copying itself six times (3 % of the
		 * sender's samples in realloc's memmove) */
		size_t cap = req->cap ? req->cap : req->expected + 1 > 4096 ? req->expected + 1 : 4096;
		while (cap < req->len + size + 1)
			cap *= 2;
		char *grown = realloc(req->body, cap);
		if (!grown)
			return LIMES_E_NOMEM;
		req->body = grown;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, size);
	req->len += size;
	req->body[req->len] = '\0';
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct api *api = cls;
	struct request *req = *con_cls;
	(void)version;

	if (!req)
		return begin(api, conn, url, method, con_cls);
	if (req->state == REQ_DONE)
		return MHD_YES; /* answered early; MHD drains or closes */
	if (req->state == REQ_WAITING)
		return serve_inbox(req, method, url);
	if (req->state == REQ_COMMITTING || req->state == REQ_PARSING)
		return MHD_YES; /* suspended until the group commit, or the parse */
	if (req->state == REQ_READY)
		return send_reply(req, method, url, &req->pending);
	if (*upload_data_size > 0) {
		if (append_body(req, upload_data, *upload_data_size, peers_config(api->deps.peers)->max_body_bytes) < 0) {
			struct api_reply r = { 0 };
			api_json_code_error(&r, LIMES_E_NOMEM, "", "out of memory");
			return send_reply(req, method, url, &r);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->too_big)
		return send_error(req, method, url, 413, "too_large", "",
				  "the request body is larger than the configured max_body");
	return route(req, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (!req)
		return;
	api_defer_waiter_unlink(req);
	api_guard_request_ends(req);
	if (req->state == REQ_COMMITTING)
		api_defer_committing_unlink(req); /* the client went away; its messages still commit */
	api_parsework_detach(req); /* gone before its parse ended: nothing staged */
	free(req->pending.body);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

/* libmicrohttpd's warnings, rate-limited: out of descriptors it warns on
 * every accept attempt. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct api *api = cls;
	char line[512];
	uint64_t suppressed;

	if (!ratelimit_pass(&api->mhd_log_limit, "libmicrohttpd", &suppressed))
		return;

	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (line[i] == '"')
			line[i] = '\'';
	log_warn("event=http_error detail=\"%s\" suppressed=%llu", line, (unsigned long long)suppressed);
}

static void on_guard_timer(uv_timer_t *t)
{
	struct api *api = t->data;
	api_guard_sweep(api);
	run_mhd(api);
}

/* ------------------------------------------------------------ life cycle */

static void free_api(struct api *api)
{
	api_clients_wipe(api);
	free(api);
}

/* The last handle closed frees an API that api_destroy already let go of. */
static void on_handle_closed(uv_handle_t *h)
{
	struct api *api = h->data;
	api->handles--;
	if (api->handles == 0 && api->orphaned)
		free_api(api);
}

struct api *api_new(const struct api_deps *deps, char *err, size_t err_len)
{
	struct api *api = NULL;
	struct addrinfo hints, *ai = NULL;
	char port[8];
	int rc;
	char why[512];
	struct api_tls tls = { 0 };

	if (!deps || !deps->loop || !deps->peers || !deps->store || !deps->commit || !deps->submit || !deps->me) {
		snprintf(err, err_len, "the API needs the loop, the peer table, the store, the commit, the submitter "
				       "and the agent's identity (api_deps)");
		return NULL;
	}
	api = calloc(1, sizeof(*api));
	if (!api) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	api->deps = *deps;
	uv_loop_t *loop = deps->loop;
	/* the config in force now; later lookups go through peers_config() again (reload swaps it) */
	const struct config *cfg = peers_config(deps->peers);
	if (api_clients_load(api, cfg, why, sizeof(why)) < 0) {
		snprintf(err, err_len, "%s", why);
		goto fail;
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", cfg->api_port);
	int gai = getaddrinfo(cfg->api_host, port, &hints, &ai);
	if (gai != 0 || !ai) {
		snprintf(err, err_len, "%s: [api] listen %s:%u: %s", cfg->path, cfg->api_host, cfg->api_port,
			 gai_strerror(gai));
		goto fail;
	}
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* HTTPS when configured; plain HTTP off loopback only when allowed */
	rc = api_tls_setup(&tls, cfg, ai->ai_addr, &flags, err, err_len);
	if (rc < 0) {
		freeaddrinfo(ai);
		goto fail;
	}
	api->mhd = MHD_start_daemon(flags, cfg->api_port, NULL, NULL, on_request, api,
				    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, api,
				    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				    MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
				    MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, api,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONNECTION_LIMIT,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				    MHD_OPTION_ARRAY, tls.options,
				    MHD_OPTION_END);
	freeaddrinfo(ai);
	api_tls_clear(&tls); /* GnuTLS holds its own copy of the key now */
	if (!api->mhd) {
		snprintf(err, err_len, "%s: [api] cannot listen on %s:%u (address in use or not local?%s)", cfg->path,
			 cfg->api_host, cfg->api_port,
			 cfg->tls_cert[0] ? " or tls_cert and tls_key are not a matching PEM certificate and key" : "");
		goto fail;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || info->epoll_fd < 0) {
		snprintf(err, err_len, "libmicrohttpd has no epoll descriptor");
		goto fail;
	}
	rc = uv_poll_init(loop, &api->poll, info->epoll_fd);
	if (rc < 0) {
		snprintf(err, err_len, "cannot watch the API's epoll descriptor: %s", uv_strerror(rc));
		goto fail;
	}
	/* the other inits only fill the handle in: they cannot fail */
	api->poll.data = api;
	api->handles++;
	(void)uv_timer_init(loop, &api->timer);
	api->timer.data = api;
	api->handles++;
	(void)uv_timer_init(loop, &api->wait_timer);
	api->wait_timer.data = api;
	api->handles++;
	(void)uv_check_init(loop, &api->again);
	api->again.data = api;
	api->handles++;
	(void)uv_idle_init(loop, &api->again_spin);
	api->again_spin.data = api;
	api->handles++;
	(void)uv_timer_init(loop, &api->guard_timer);
	api->guard_timer.data = api;
	api->handles++;
	rc = uv_poll_start(&api->poll, UV_READABLE, on_poll);
	if (rc < 0) {
		snprintf(err, err_len, "cannot watch the API's epoll descriptor: %s", uv_strerror(rc));
		goto fail;
	}
	check_uv("uv_timer_start", uv_timer_start(&api->guard_timer, on_guard_timer, 1000, 1000));
	api_run_mhd_soon(api);
	log_info("event=api_listen address=%s:%u tls=%s", cfg->api_host, cfg->api_port,
		 cfg->tls_cert[0] ? "yes" : "no");
	return api;
fail:
	api_tls_clear(&tls);
	api_stop(api);
	api_destroy(&api);
	return NULL;
}

int api_reload_token(struct api *api, const struct config *cfg, char *err, size_t err_len)
{
	/* every client's token, read again; the old ones stay on failure */
	return api_clients_load(api, cfg, err, err_len);
}

void api_stop(struct api *api)
{
	if (!api || api->stopped)
		return;
	/* Commit and answer staged submissions (no later turn will), answer
	 * waiting long-polls with what there is, then stop listening. */
	if (api->mhd && (api->waiters || api->committing || api->parsing)) {
		api_parsework_stop(api);
		int rc = api_defer_flush(api);
		if (rc < 0) /* they were answered 503 */
			log_warn("event=api_stop reason=\"%s\" action=\"staged submissions refused\"",
				 limes_strerror(rc));
		while (api->waiters)
			api_defer_wake(api->waiters);
		api->stopped = true;
		if (MHD_run(api->mhd) != MHD_YES)
			log_warn("event=http_error detail=\"MHD_run failed while stopping\"");
	}
	api->stopped = true;
	if (api->handles > 0) {
		(void)uv_poll_stop(&api->poll); /* stopping cannot fail */
		uv_close((uv_handle_t *)&api->poll, on_handle_closed);
		uv_close((uv_handle_t *)&api->timer, on_handle_closed);
		uv_close((uv_handle_t *)&api->wait_timer, on_handle_closed);
		uv_close((uv_handle_t *)&api->again, on_handle_closed);
		uv_close((uv_handle_t *)&api->again_spin, on_handle_closed);
		uv_close((uv_handle_t *)&api->guard_timer, on_handle_closed);
	}
	if (api->mhd) {
		MHD_stop_daemon(api->mhd);
		api->mhd = NULL;
	}
}

void api_destroy(struct api **papi)
{
	if (!papi || !*papi)
		return;
	struct api *api = *papi;
	*papi = NULL;
	api_stop(api); /* a no-op when stopped already, as it should be by now */
	/* libuv may free a handle's memory only after its close callback: when
	 * the loop has not run those yet (a failed api_new), the last one frees */
	if (api->handles > 0)
		api->orphaned = true;
	else
		free_api(api);
}
