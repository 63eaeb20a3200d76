/*
 * Shared by the API's files only (api.c, defer.c, routes.c, json.c,
 * metrics.c, dashboard.c): the reply a route builds, the API's counters,
 * the JSON helpers and the one mapping of our error codes to HTTP. None of
 * this sees libmicrohttpd; api.c turns a struct api_reply into an HTTP
 * response.
 */
#ifndef LIMES_API_INT_H
#define LIMES_API_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "core/core.h"
#include "store/store.h"

#define API_ID_HEX 33           /* 32 hex digits and a NUL */
#define API_TIME_SIZE 32        /* "2026-11-26T19:05:12.000Z" and a NUL */
#define API_MAX_BATCH 10000     /* messages in one POST /v1/messages */
#define API_MAX_WAIT_S 60       /* longest inbox long-poll */
/* One inbox answer stops after sizes_inbox_page_bytes(max_frame) bytes of
 * envelopes (proto/sizes.h; at least one message): 150 messages of 1.6 MB
 * once built a 244 MB answer and stalled the loop for seconds. The client
 * pages on with "next". */
#define API_DEFAULT_LIMIT 100   /* inbox rows per answer by default */
#define API_MAX_LIMIT 1000

/* What a route answers; api.c sends it and logs it. */
struct api_reply {
	int status;
	char *body;                 /* malloc'd, owned by the reply */
	size_t len;
	const char *content_type;   /* static */
	char code[32];              /* error code, "" on success (for logs and counters) */
	char field[128];
	char msg_id[API_ID_HEX];    /* message id for the log line, "" if none */
	size_t accepted;            /* messages accepted by this request */
	bool needs_commit;          /* staged writes: answer only after the group commit */
};

/* Requests answered, per HTTP status, for /metrics. */
#define API_STATUS_SLOTS 16
struct api_status_count {
	int status;                 /* 0: unused slot */
	uint64_t count;
};

/* The API's own figures, written by api.c, defer.c and parsework.c only. */
struct api_counters {
	struct api_status_count by_status[API_STATUS_SLOTS];
	uint64_t accepted_messages; /* messages accepted and committed */
	uint64_t parsed_on_worker;  /* submission bodies parsed off the loop (parsework.c) */
};

/* Inbox query, parsed. */
struct api_inbox_params {
	int64_t after;
	size_t limit;
	unsigned wait_s;
};

/* --- json.c --- */

/* Formats unix ms as RFC 3339 UTC with milliseconds into the caller's buf. */
void api_json_time(char *buf, size_t len, uint64_t ms);
/* A new JSON string with the RFC 3339 time, or JSON null for 0; caller owns it (NULL: out of memory). */
json_t *api_json_time_value(uint64_t ms);
/* proof.c: what row's stored receipt proves of it (v2: the entry, its
 * inclusion proof and the root signature; v1: the whole receipt), as a new
 * JSON object; NULL when there is no receipt. max_bytes: the decoding cap. */
json_t *api_receipt_proof_json(const struct store_delivery_row *row, size_t max_bytes);
/* A new JSON string of 32 lowercase hex digits; caller owns it (NULL: out of memory). */
json_t *api_json_id_value(const uint8_t id[STORE_ID_LEN]);
/* Parses 32 hex digits into id; 0 or LIMES_E_INVAL. */
int api_json_parse_id(const char *text, uint8_t id[STORE_ID_LEN]);
/* Fills r with status and obj serialised (steals obj; 500 if it cannot). */
void api_json_reply(struct api_reply *r, int status, json_t *obj);
/* Sets r's body to {"ids":["<hex>",...]} for the n ids of results, written
 * directly (hex needs no escaping): a batch's 202 without a JSON tree. */
void api_json_reply_ids(struct api_reply *r, int status, const struct submit_result *results, size_t n);
/* Fills r with the JSON error {"error": {code, field, message}}. */
void api_json_error(struct api_reply *r, int status, const char *code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Fills r with the error for our code `err` (LIMES_E_*): HTTP status and API
 * error code from the API's one table (500 "internal" for a code it lacks). */
void api_json_code_error(struct api_reply *r, int err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Fills r with core's refusal: its code through the same table, its field
 * and message; rc stands in when e->code is 0. */
void api_json_core_error(struct api_reply *r, int rc, const struct core_error *e);
/* Fills r with the 503 of a store that cannot take or make writes durable:
 * "disk_full" for LIMES_E_STORE_FULL, "store_unavailable" for any other rc. */
void api_json_store_error(struct api_reply *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The link-health document of GET /v1/peers and `limes status --json`; caller owns it. */
json_t *api_json_peers(const struct api_deps *deps);
/* What a direct peer said over the link it accepts from us, {"type": major}
 * (accepts.c), or null when it has not said; a new reference. */
json_t *api_json_peer_accepts(const struct peer *p);
/* Free bytes on the data folder's file system, or UINT64_MAX when unknown. */
uint64_t api_json_free_bytes(const struct api_deps *deps);
/* The same, read at most every 100 ms of the loop's clock (the POST path;
 * loop thread only). */
uint64_t api_json_free_bytes_recent(const struct api_deps *deps);

/* --- routes.c --- */

/* A POST /v1/messages body parsed and mapped: the requests point into doc. */
struct api_post {
	struct pbjson_doc *doc;     /* the requests' strings point into it */
	struct submit_request *reqs;
	uint8_t **bodies;           /* each request's packed body */
	size_t n;
	bool batch;                 /* an array (answered with "ids") */
};
/* Parses and validates text into p (pure: no agent state, so it may run on
 * a worker thread); on a refusal fills r and returns < 0. Either way the
 * caller frees p with api_post_free. */
int api_post_parse(uint64_t max_ttl_ms, const char *text, size_t len, struct api_post *p, struct api_reply *r);
/* On the loop: policy, sealing and staging of a parsed post (p stays the
 * caller's); fills r like api_routes_post_messages. */
void api_post_stage(const struct api_deps *deps, const char *client, const struct api_post *p, struct api_reply *r);
void api_post_free(struct api_post *p);

/* POST /v1/messages: validate and stage the batch in the turn's commit;
 * fills r with the 202 to send once the commit made it durable
 * (r->needs_commit), or with the refusal (nothing staged). */
void api_routes_post_messages(const struct api_deps *deps, const char *client, const char *body, size_t len,
			      struct api_reply *r);
/* GET /v1/messages/{id}. */
void api_routes_get_message(const struct api_deps *deps, const char *client, const char *id_text,
			    struct api_reply *r);
/* cases.c: the messages linked to id by ref, both ways, oldest first, as a
 * new JSON array (the caller's), NULL when id is unknown or on error. */
json_t *api_case_json(const struct api_deps *deps, const uint8_t id[STORE_ID_LEN]);
/* What the store holds of message id, sent or received: 0, LIMES_E_NOTFOUND or an error. */
int api_case_entry(const struct api_deps *deps, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e);
/* POST /v1/messages/{id}/requeue with an optional {"to", "ttl_s"} body:
 * stages like a submission (r->needs_commit) or fills r with the refusal. */
void api_routes_requeue(const struct api_deps *deps, const char *client, const char *id_text, const char *body,
			size_t len, struct api_reply *r);
/* Parses after/limit/wait; on error fills r and returns LIMES_E_INVAL. */
int api_routes_inbox_params(const char *after, const char *limit, const char *wait,
			    struct api_inbox_params *p, struct api_reply *r);
/* GET /v1/inbox: answers and returns the number of messages; when none and
 * may_wait, returns 0 without answering so the caller can wait. Negative
 * (reply filled) on a store error. */
int api_routes_inbox(const struct api_deps *deps, const char *client, const struct api_inbox_params *p,
		     bool may_wait, struct api_reply *r);
/* GET /v1/peers. */
void api_routes_peers(const struct api_deps *deps, struct api_reply *r);
/* GET /healthz. */
void api_routes_healthz(const struct api_deps *deps, struct api_reply *r);
/* role.c: this node's role through deps->role (false and "active" when the
 * daemon gave none); the standby's answers: true when r was filled. */
bool api_role_get(const struct api_deps *deps, struct api_role *out);
bool api_routes_standby(const struct api_deps *deps, struct api_reply *r);
bool api_routes_healthz_standby(const struct api_deps *deps, struct api_reply *r);

/* --- clients.c --- */

/* Fills r with the 403 for `client` lacking `right` (message from fmt), and
 * stages the attempt's DENIED entry in the audit trail (id may be NULL). */
void api_clients_deny(const struct api_deps *deps, const char *client, const char *right, const uint8_t *id,
		      struct api_reply *r, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* True when client is an admin; otherwise fills r with the 403 (and the
 * DENIED entry) for the action `what` and returns false. */
/* keys.c: key rotation routes and each peer's "key" object. */
json_t *api_json_peer_key(const struct api_deps *deps, const struct peer *p);
void api_routes_keys(const struct api_deps *deps, struct api_reply *r);
void api_routes_promote(const struct api_deps *deps, const char *client, struct api_reply *r);
void api_routes_accept_key(const struct api_deps *deps, const char *client, const char *peer, struct api_reply *r);
bool api_clients_admin(const struct api_deps *deps, const char *client, struct api_reply *r, const char *what);
/* --- ops.c --- */

/* The query string of GET /v1/messages; each member NULL when absent. */
struct api_list_query {
	const char *state, *peer, *type, *since, *after, *limit;
};
/* GET /v1/messages: deliveries matching q, one page, and the next cursor. */
void api_routes_list_messages(const struct api_deps *deps, const struct api_list_query *q, struct api_reply *r);
/* POST /v1/backup {"path": "/abs"}: commits, then copies the store there. */
void api_routes_backup(const struct api_deps *deps, const char *body, size_t len, struct api_reply *r);
/* resend.c: POST /v1/peers/{peer}/resend {"since", "dry_run"}. */
void api_routes_resend(const struct api_deps *deps, const char *client, const char *peer, const char *text,
		       size_t len, struct api_reply *r);

/* --- metrics.c --- */

/* GET /metrics: Prometheus text format for the agent and the API counters. */
void metrics_render(const struct api_deps *deps, const struct api_counters *counters, struct api_reply *r);

/* --- console.c --- */

/* GET /v1/events?after=&limit=: recent events after the cursor (query
 * values may be NULL when absent); 400 naming the parameter when bad. */
void api_console_events(const struct api_deps *deps, const char *after, const char *limit, struct api_reply *r);
/* GET /v1/stats/history?peer=&minutes=: the per-peer samples of the last
 * minutes (default a day), as columns; 404 for an unknown peer. */
void api_console_history(const struct api_deps *deps, const char *peer, const char *minutes, struct api_reply *r);

/* --- dashboard.c --- */

/* GET /: the console page (static storage, embedded from console.html) and its length. */
const char *dashboard_page(size_t *len);

#endif
