/*
 * The API's routes as plain functions from a parsed request to a struct
 * api_reply: submission (validation with the generic mapper, then policy,
 * sealing and staging by core's submit_stage), message state, re-queueing
 * (core's submit_requeue), the inbox (decoded bodies), peers and health.
 * Submissions and re-queues are staged in the turn's group commit and
 * answered by defer.c once it is durable. No HTTP library here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "base/log.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/reason.h"
#include "proto/schema.h"
#include "proto/sizes.h"

#define IDEMPOTENCY_KEY_MAX 128

/* Path of a top-level field: "ttl_s", or "[3].ttl_s" in a batch. */
static void field_path(char *buf, size_t len, bool batch, size_t index, const char *name)
{
	if (batch)
		snprintf(buf, len, "[%zu]%s%s", index, name[0] == '[' ? "" : ".", name);
	else
		snprintf(buf, len, "%s", name);
}

/* Reads the whole-number seconds at key into *ms (0 when absent). */
static int get_ttl(const json_t *obj, const char *key, const char *path, uint64_t max_ms, uint64_t *ms,
		   struct api_reply *r)
{
	const json_t *v = json_object_get(obj, key);

	*ms = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v)) {
		api_json_error(r, 400, "wrong_type", path, "must be a whole number of seconds");
		return LIMES_E_INVAL;
	}
	json_int_t s = json_integer_value(v);
	if (s <= 0 || (uint64_t)s > max_ms / 1000) {
		api_json_error(r, 400, "out_of_range", path, "must be from 1 to %" PRIu64 " seconds",
			       max_ms / 1000);
		return LIMES_E_INVAL;
	}
	*ms = (uint64_t)s * 1000;
	return 0;
}

/* Validates one message object into req; *body is the packed body (caller
 * frees). Pure (no agent state): runs on the loop or on a worker thread. */
static int parse_message(uint64_t max_ttl_ms, const json_t *obj, bool batch, size_t index,
			 struct submit_request *req, uint8_t **body, struct api_reply *r)
{
	static const char *const known[] = { "to", "type", "priority", "ttl_s", "ref", "idempotency_key", "body" };
	char path[160];
	const char *key;
	const json_t *v;

	memset(req, 0, sizeof(*req));
	*body = NULL;
	if (!json_is_object(obj)) {
		field_path(path, sizeof(path), batch, index, "");
		if (!batch)
			path[0] = '\0';
		else
			path[strlen(path) - 1] = '\0'; /* "[3]" */
		api_json_error(r, 400, "wrong_type", path, "a message must be a JSON object");
		return LIMES_E_INVAL;
	}
	json_object_foreach((json_t *)obj, key, v) { /* only reads: obj may be an arena document's */
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			field_path(path, sizeof(path), batch, index, key);
			api_json_error(r, 400, "unknown_field", path,
				       "unknown field (known: to, type, priority, ttl_s, ref, idempotency_key, body)");
			return LIMES_E_INVAL;
		}
	}
	/* to */
	v = json_object_get(obj, "to");
	field_path(path, sizeof(path), batch, index, "to");
	if (!v) {
		api_json_error(r, 400, "missing_field", path, "at least one recipient is needed");
		return LIMES_E_INVAL;
	}
	if (!json_is_array(v)) {
		api_json_error(r, 400, "wrong_type", path, "must be an array of agency ids");
		return LIMES_E_INVAL;
	}
	if (json_array_size(v) == 0) {
		api_json_error(r, 400, "missing_field", path, "at least one recipient is needed");
		return LIMES_E_INVAL;
	}
	if (json_array_size(v) > SUBMIT_MAX_TO) {
		api_json_error(r, 400, "too_many", path, "at most %d recipients", SUBMIT_MAX_TO);
		return LIMES_E_INVAL;
	}
	for (size_t k = 0; k < json_array_size(v); k++) {
		const json_t *t = json_array_get(v, k);
		char sub[32];
		snprintf(sub, sizeof(sub), "to[%zu]", k);
		if (!json_is_string(t)) {
			field_path(path, sizeof(path), batch, index, sub);
			api_json_error(r, 400, "wrong_type", path, "must be an agency id string");
			return LIMES_E_INVAL;
		}
		req->to[req->n_to++] = json_string_value(t);
	}
	/* type */
	v = json_object_get(obj, "type");
	field_path(path, sizeof(path), batch, index, "type");
	if (!v) {
		api_json_error(r, 400, "missing_field", path, "the message type is needed");
		return LIMES_E_INVAL;
	}
	if (!json_is_string(v)) {
		api_json_error(r, 400, "wrong_type", path, "must be a string");
		return LIMES_E_INVAL;
	}
	req->type = schema_type_from_name(json_string_value(v));
	if (req->type < 0) {
		char types[256];
		schema_type_list(types, sizeof(types));
		api_json_error(r, 400, "bad_enum", path, "unknown message type (known: %s)", types);
		return LIMES_E_INVAL;
	}
	/* priority */
	v = json_object_get(obj, "priority");
	field_path(path, sizeof(path), batch, index, "priority");
	if (v) {
		if (!json_is_string(v)) {
			api_json_error(r, 400, "wrong_type", path, "must be a string");
			return LIMES_E_INVAL;
		}
		req->priority = schema_parse_priority(json_string_value(v));
		if (req->priority < 0) {
			api_json_error(r, 400, "bad_enum", path, "must be \"normal\" or \"urgent\"");
			return LIMES_E_INVAL;
		}
	}
	/* ttl_s */
	field_path(path, sizeof(path), batch, index, "ttl_s");
	if (get_ttl(obj, "ttl_s", path, max_ttl_ms, &req->ttl_ms, r) < 0)
		return LIMES_E_INVAL;
	/* ref */
	v = json_object_get(obj, "ref");
	field_path(path, sizeof(path), batch, index, "ref");
	if (v) {
		if (!json_is_string(v)) {
			api_json_error(r, 400, "wrong_type", path, "must be a string of 32 hex digits");
			return LIMES_E_INVAL;
		}
		if (api_json_parse_id(json_string_value(v), req->ref) < 0) {
			api_json_error(r, 400, "bad_format", path, "must be a message id: 32 hex digits");
			return LIMES_E_INVAL;
		}
		req->has_ref = true;
	}
	/* idempotency_key */
	v = json_object_get(obj, "idempotency_key");
	field_path(path, sizeof(path), batch, index, "idempotency_key");
	if (v) {
		if (!json_is_string(v)) {
			api_json_error(r, 400, "wrong_type", path, "must be a string");
			return LIMES_E_INVAL;
		}
		size_t n = json_string_length(v);
		if (n == 0 || n > IDEMPOTENCY_KEY_MAX || strlen(json_string_value(v)) != n) {
			api_json_error(r, 400, n > IDEMPOTENCY_KEY_MAX ? "too_long" : "bad_format", path,
				       "must be 1 to %d characters without NUL", IDEMPOTENCY_KEY_MAX);
			return LIMES_E_INVAL;
		}
		req->idempotency_key = json_string_value(v);
	}
	/* body */
	v = json_object_get(obj, "body");
	field_path(path, sizeof(path), batch, index, "body");
	if (!v) {
		api_json_error(r, 400, "missing_field", path, "the message body is needed");
		return LIMES_E_INVAL;
	}
	if (!json_is_object(v)) {
		api_json_error(r, 400, "wrong_type", path, "must be a JSON object");
		return LIMES_E_INVAL;
	}
	struct pbjson_error perr;
	memset(&perr, 0, sizeof(perr));
	int rc = schema_body_from_json(req->type, v, path, body, &req->body_len, &perr);
	if (rc == LIMES_E_NOMEM) {
		api_json_code_error(r, rc, path, "out of memory");
		return rc;
	}
	if (rc < 0) {
		api_json_error(r, 400, perr.code ? pbjson_code_name(perr.code) : "invalid_field",
			       perr.path[0] ? perr.path : path, "%s", perr.message[0] ? perr.message : "invalid body");
		return LIMES_E_INVAL;
	}
	req->body = *body;
	/* the audit entry's hash of the body, here rather than on the loop
	 * (this runs on a worker for a large request) */
	envelope_hash(req->body, req->body_len, req->body_hash);
	req->has_body_hash = true;
	return 0;
}

int api_post_parse(uint64_t max_ttl_ms, const char *text, size_t len, struct api_post *p, struct api_reply *r)
{
	struct pbjson_error perr;

	memset(p, 0, sizeof(*p));
	if (pbjson_doc_parse(text, len, &p->doc, &perr) < 0) {
		api_json_error(r, 400, "invalid_json", "", "request is not valid JSON: %s", perr.message);
		return LIMES_E_INVAL;
	}
	const json_t *root = pbjson_doc_root(p->doc);
	p->batch = json_is_array(root);
	size_t n = p->batch ? json_array_size(root) : 1;
	if (p->batch && n == 0) {
		api_json_error(r, 400, "missing_field", "[0]", "the batch is empty");
		return LIMES_E_INVAL;
	}
	if (n > API_MAX_BATCH) {
		api_json_error(r, 413, "too_many", "", "at most %d messages in one request", API_MAX_BATCH);
		return LIMES_E_INVAL;
	}
	p->reqs = calloc(n, sizeof(*p->reqs));
	p->bodies = calloc(n, sizeof(*p->bodies));
	if (!p->reqs || !p->bodies) {
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory: nothing was accepted");
		return LIMES_E_NOMEM;
	}
	p->n = n;
	for (size_t i = 0; i < n; i++)
		if (parse_message(max_ttl_ms, p->batch ? json_array_get(root, i) : root, p->batch, i, &p->reqs[i],
				  &p->bodies[i], r) < 0)
			return LIMES_E_INVAL;
	return 0;
}

void api_post_stage(const struct api_deps *deps, const char *client, const struct api_post *p, struct api_reply *r)
{
	struct submit_result *results = calloc(p->n ? p->n : 1, sizeof(*results));
	json_t *answer = NULL;
	size_t n = p->n;

	if (!results) {
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory: nothing was accepted");
		return;
	}
	/* Disk below the reserve counts as full: refuse before writing anything. */
	if (api_json_free_bytes_recent(deps) < peers_config(deps->peers)->min_free_bytes) {
		api_json_store_error(r, LIMES_E_STORE_FULL,
				     "the data folder's disk has less than the configured reserve free: nothing was accepted");
		goto out;
	}
	struct core_error cerr;
	memset(&cerr, 0, sizeof(cerr));
	/* staged only: the turn's commit makes every request of this loop turn
	 * durable together, and the 202 goes out after it (group commit) */
	int rc = submit_stage(deps->submit, client, p->reqs, n, results, &cerr);
	if (rc < 0) {
		api_json_core_error(r, rc, &cerr);
		goto out;
	}
	r->needs_commit = true;
	size_t fresh = 0;
	for (size_t i = 0; i < n; i++)
		fresh += results[i].existing ? 0 : 1;
	r->accepted = fresh;
	if (encode_hex(r->msg_id, sizeof(r->msg_id), results[0].id, STORE_ID_LEN) < 0)
		r->msg_id[0] = '\0'; /* cannot happen: the buffer fits an id */
	if (p->batch) {
		api_json_reply_ids(r, 202, results, n);
		goto out;
	}
	answer = json_pack("{s:o, s:b}", "id", api_json_id_value(results[0].id), "existing", results[0].existing);
	api_json_reply(r, 202, answer);
out:
	free(results);
}

void api_post_free(struct api_post *p)
{
	for (size_t i = 0; p->bodies && i < p->n; i++)
		free(p->bodies[i]);
	free(p->bodies);
	free(p->reqs);
	pbjson_doc_free(&p->doc);
	memset(p, 0, sizeof(*p));
}

void api_routes_post_messages(const struct api_deps *deps, const char *client, const char *text, size_t len,
			      struct api_reply *r)
{
	struct api_post p;

	if (api_post_parse(peers_config(deps->peers)->max_ttl_ms, text, len, &p, r) == 0)
		api_post_stage(deps, client, &p, r);
	api_post_free(&p);
}

struct message_view {
	json_t *recipients;
	int type, priority;
	uint64_t created_ms, expires_ms;
	bool nomem;
	size_t max_bytes;          /* the receipt decoding cap ([link] max_frame) */
};

/* Pending deliveries show their next attempt; finished ones when and how
 * they finished. A key whose value is NULL is left out. */
static int add_recipient(void *arg, const struct store_delivery_row *row)
{
	struct message_view *mv = arg;
	bool pending = row->state == DELIVERY_QUEUED || row->state == DELIVERY_SENT;
	bool rejected = row->state == DELIVERY_REJECTED;

	mv->type = row->type;
	mv->priority = row->priority;
	mv->created_ms = row->created_ms;
	mv->expires_ms = row->expires_ms;
	json_t *o = json_pack("{s:s, s:s*, s:s, s:I, s:o, s:o, s:o*, s:o*, s:o*, s:s*, s:s*, s:o*}",
			      "to", row->recipient,
			      "via", strcmp(row->next_hop, row->recipient) != 0 ? row->next_hop : NULL,
			      "state", store_delivery_state_name(row->state),
			      "attempts", (json_int_t)row->attempts,
			      "last_attempt", api_json_time_value(row->sent_ms),
			      "expires", api_json_time_value(row->expires_ms),
			      "next_attempt", pending ? api_json_time_value(row->next_attempt_ms) : NULL,
			      "delivered", row->state == DELIVERY_DELIVERED ? api_json_time_value(row->done_ms) : NULL,
			      "rejected", rejected ? api_json_time_value(row->done_ms) : NULL,
			      "reason", rejected ? reason_name(row->reason) : NULL,
			      "detail", rejected ? (row->detail ? row->detail : "") : NULL,
			      "expired", row->state == DELIVERY_EXPIRED ? api_json_time_value(row->done_ms) : NULL);
	json_t *proof = o && row->receipt ? api_receipt_proof_json(row, mv->max_bytes) : NULL;
	if (proof)
		json_object_set_new(o, "receipt_proof", proof);
	if (json_array_append_new(mv->recipients, o) < 0) {
		mv->nomem = true;
		return 1; /* stop */
	}
	return 0;
}

void api_routes_get_message(const struct api_deps *deps, const char *client, const char *id_text,
			    struct api_reply *r)
{
	uint8_t id[STORE_ID_LEN];
	struct message_view mv = { .recipients = json_array(),
				   .max_bytes = peers_config(deps->peers)->max_frame_bytes };

	if (api_json_parse_id(id_text, id) < 0) {
		api_json_error(r, 404, "not_found", "id", "not a message id (32 hex digits)");
		goto out;
	}
	int rc = store_message_get(deps->store, id, add_recipient, &mv);
	if (mv.nomem || !mv.recipients) {
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		goto out;
	}
	/* what the store holds of it either way; a backend without cases
	 * (LIMES_E_INVAL: PostgreSQL so far) shows sent messages as before */
	struct store_case_entry ce;
	memset(&ce, 0, sizeof(ce));
	int crc = rc >= 0 || rc == LIMES_E_NOTFOUND ? api_case_entry(deps, id, &ce) : rc;
	bool have_case = crc == 0;
	if (rc == LIMES_E_NOTFOUND && have_case && ce.received)
		rc = 0;
	else if (rc >= 0 && crc < 0 && crc != LIMES_E_INVAL && crc != LIMES_E_NOTFOUND)
		rc = crc;
	if (rc == LIMES_E_NOTFOUND) {
		api_json_code_error(r, rc, "id", "no such message");
		goto out;
	}
	if (rc < 0) {
		api_json_store_error(r, rc, "the store cannot be read: %s", limes_strerror(rc));
		goto out;
	}
	snprintf(r->msg_id, sizeof(r->msg_id), "%s", id_text);
	const char *type = schema_type_name(mv.type);
	const char *prio = schema_priority_name(mv.priority);
	/* its submitter and clients that may read its type see it; the look
	 * itself goes on the record before the answer */
	const struct config_client *cl = client_rights(peers_config(deps->peers), client);
	char submitter[STORE_AGENCY_MAX + 1] = "";
	(void)store_message_client(deps->store, id, submitter, sizeof(submitter));
	/* a received message's type is the inbox's (it has no outbox rows) */
	int msg_type = have_case && ce.received ? ce.type : mv.type;
	if (strcmp(submitter, client) != 0 && !client_may_read(cl, msg_type)) {
		char list[256];
		const char *tname = schema_type_name(msg_type);
		api_clients_deny(deps, client, "read", id, r, "id", "client '%s' may not read '%s' messages (read = %s)",
				 client, tname ? tname : "unknown", client_read_text(cl, list, sizeof(list)));
		goto out;
	}
	int arc = commit_stage(deps->commit, 0);
	if (arc == 0)
		arc = audit_read(commit_audit(deps->commit), client, (const uint8_t(*)[STORE_ID_LEN])id, 1, "message");
	if (arc < 0) {
		api_json_store_error(r, arc, "the read cannot be recorded: %s", limes_strerror(arc));
		goto out;
	}
	r->needs_commit = commit_audit(deps->commit) != NULL;
	json_t *doc;
	if (have_case && ce.received) {
		type = schema_type_name(ce.type);
		doc = json_pack("{s:o, s:s, s:s, s:s, s:o, s:o}", "id", api_json_id_value(id), "direction", "received",
				"type", type ? type : "unknown", "from", ce.sender, "created",
				api_json_time_value(ce.created_ms), "received", api_json_time_value(ce.received_ms));
	} else {
		doc = json_pack("{s:o, s:s, s:s, s:s, s:o, s:o, s:O}", "id", api_json_id_value(id), "direction", "sent",
				"type", type ? type : "unknown", "priority", prio ? prio : "normal", "created",
				api_json_time_value(mv.created_ms), "expires", api_json_time_value(mv.expires_ms),
				"recipients", mv.recipients);
	}
	/* what is left of a message past its body retention: its id, states and hash */
	if (doc && have_case) {
		json_object_set_new(doc, "ref", ce.has_ref ? api_json_id_value(ce.ref) : json_null());
		json_object_set_new(doc, "body", json_string(ce.body_purged ? "purged" : "kept"));
		json_t *kase = api_case_json(deps, id);
		if (kase && json_array_size(kase) > 1)
			json_object_set_new(doc, "case", kase);
		else
			json_decref(kase);
	}
	api_json_reply(r, 200, doc);
out:
	json_decref(mv.recipients);
}

void api_routes_requeue(const struct api_deps *deps, const char *client, const char *id_text, const char *text,
			size_t len, struct api_reply *r)
{
	uint8_t id[STORE_ID_LEN];
	json_t *doc = NULL;
	const char *to = NULL;
	uint64_t ttl_ms = 0;
	int requeued = 0;
	struct pbjson_error perr;
	struct core_error cerr;

	if (api_json_parse_id(id_text, id) < 0) {
		api_json_error(r, 404, "not_found", "id", "not a message id (32 hex digits)");
		goto out;
	}
	if (len > 0) {
		const char *key;
		json_t *v;
		if (pbjson_parse(text, len, &doc, &perr) < 0) {
			api_json_error(r, 400, "invalid_json", "", "request is not valid JSON: %s", perr.message);
			goto out;
		}
		if (!json_is_object(doc)) {
			api_json_error(r, 400, "wrong_type", "", "must be a JSON object");
			goto out;
		}
		json_object_foreach(doc, key, v) {
			if (strcmp(key, "to") != 0 && strcmp(key, "ttl_s") != 0) {
				api_json_error(r, 400, "unknown_field", key, "unknown field (known: to, ttl_s)");
				goto out;
			}
		}
		v = json_object_get(doc, "to");
		if (v && !json_is_string(v)) {
			api_json_error(r, 400, "wrong_type", "to", "must be an agency id string");
			goto out;
		}
		to = v ? json_string_value(v) : NULL;
		if (get_ttl(doc, "ttl_s", "ttl_s", peers_config(deps->peers)->max_ttl_ms, &ttl_ms, r) < 0)
			goto out;
	}
	memset(&cerr, 0, sizeof(cerr));
	/* staged in the turn's commit like a submission: answered once durable */
	if (!api_clients_admin(deps, client, r, "re-queue messages"))
		goto out;
	int rc = submit_requeue_for(deps->submit, client, id, to, ttl_ms, &requeued, &cerr);
	if (rc < 0) {
		api_json_core_error(r, rc, &cerr);
		goto out;
	}
	r->needs_commit = true;
	snprintf(r->msg_id, sizeof(r->msg_id), "%s", id_text);
	api_json_reply(r, 202, json_pack("{s:o, s:s}", "id", api_json_id_value(id), "state", "queued"));
out:
	json_decref(doc);
}

static int parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	char *end;

	if (!text || *text < '0' || *text > '9')
		return LIMES_E_INVAL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end || v > max)
		return LIMES_E_INVAL;
	*out = v;
	return 0;
}

int api_routes_inbox_params(const char *after, const char *limit, const char *wait, struct api_inbox_params *p,
			    struct api_reply *r)
{
	uint64_t v;

	p->after = 0;
	p->limit = API_DEFAULT_LIMIT;
	p->wait_s = 0;
	if (after) {
		if (parse_uint(after, INT64_MAX, &v) < 0) {
			api_json_error(r, 400, "bad_format", "after", "must be a cursor from an earlier answer");
			return LIMES_E_INVAL;
		}
		p->after = (int64_t)v;
	}
	if (limit) {
		if (parse_uint(limit, API_MAX_LIMIT, &v) < 0 || v == 0) {
			api_json_error(r, 400, "out_of_range", "limit", "must be a whole number from 1 to %d",
				       API_MAX_LIMIT);
			return LIMES_E_INVAL;
		}
		p->limit = (size_t)v;
	}
	if (wait) {
		if (parse_uint(wait, UINT32_MAX, &v) < 0) {
			api_json_error(r, 400, "out_of_range", "wait", "must be a whole number of seconds (at most %d)",
				       API_MAX_WAIT_S);
			return LIMES_E_INVAL;
		}
		p->wait_s = v > API_MAX_WAIT_S ? API_MAX_WAIT_S : (unsigned)v;
	}
	return 0;
}

struct inbox_view {
	const struct api_deps *deps;
	const struct config_client *client; /* its read right filters the rows */
	bool filter;                        /* clients are configured: rows need a read right */
	bool full;                          /* the answer reached its byte cap */
	json_t *messages;
	int64_t last;                       /* last row looked at, shown or not */
	size_t shown, want;
	uint8_t (*ids)[STORE_ID_LEN];       /* the ids shown, for the consultation log */
	bool nomem;
	size_t bytes; /* envelope bytes in the answer so far */
};

/* The decoded body, or NULL with *why saying why; caller owns it. */
static json_t *decoded_body(const struct api_deps *deps, const struct store_inbox_row *row, const char **why)
{
	const struct store_inbox_entry *e = &row->entry;
	struct envelope_opened opened;
	struct pbjson_error perr;
	json_t *body = NULL;

	*why = NULL;
	memset(&opened, 0, sizeof(opened));
	const struct peer *from = peers_find(deps->peers, e->sender);
	if (!e->envelope || e->envelope_len == 0)
		*why = "purged: the body is past its retention period";
	else if (!from)
		*why = "the sender is no longer a configured peer";
	else if (!deps->me || (envelope_unseal(deps->me, peer_crypto(from), e->envelope, e->envelope_len,
					       peers_config(deps->peers)->max_frame_bytes, &opened) < 0 &&
			       rotation_open_stored(deps->rotation, deps->peers, deps->me, e->sender, e->envelope,
						    e->envelope_len, false, &opened) < 0))
		*why = "the body cannot be unsealed with the sender's current key";
	else if (schema_body_to_json(e->type, opened.body, opened.body_len, &body, &perr) < 0)
		*why = "the body does not decode against its schema";
	envelope_opened_clear(&opened);
	if (*why) {
		json_decref(body);
		body = NULL;
	}
	return body;
}

static int add_inbox_row(void *arg, const struct store_inbox_row *row)
{
	struct inbox_view *iv = arg;
	const struct store_inbox_entry *e = &row->entry;
	const char *type = schema_type_name(e->type), *prio = schema_priority_name(e->priority);
	const char *why = NULL;
	json_t *body;

	/* rows of a type the client may not read are passed over, never shown */
	if (iv->filter && !client_may_read(iv->client, e->type)) {
		iv->last = row->cursor;
		return 0;
	}
	if (iv->bytes > 0 && iv->bytes + e->envelope_len > sizes_inbox_page_bytes(peers_config(iv->deps->peers)->max_frame_bytes)) {
		iv->full = true;
		return 1; /* full: the rest comes on the next page */
	}
	iv->bytes += e->envelope_len;
	iv->last = row->cursor;
	body = decoded_body(iv->deps, row, &why);

	/* "o?": null for a missing ref or body; "s*": body_error only when there is one */
	json_t *o = json_pack("{s:I, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:o?, s:o?, s:s*}",
			      "cursor", (json_int_t)row->cursor,
			      "id", api_json_id_value(e->id),
			      "from", e->sender,
			      "type", type ? type : "unknown",
			      "priority", prio ? prio : "normal",
			      "created", api_json_time_value(e->created_ms),
			      "expires", api_json_time_value(e->expires_ms),
			      "received", api_json_time_value(e->received_ms),
			      "ref", e->has_ref ? api_json_id_value(e->ref) : NULL,
			      "body", body,
			      "body_error", why);
	if (json_array_append_new(iv->messages, o) < 0) {
		iv->nomem = true;
		return 1; /* stop */
	}
	memcpy(iv->ids[iv->shown++], e->id, STORE_ID_LEN);
	return iv->shown == iv->want;
}

int api_routes_inbox(const struct api_deps *deps, const char *client, const struct api_inbox_params *p,
		     bool may_wait, struct api_reply *r)
{
	const struct config *cfg = peers_config(deps->peers);
	struct inbox_view iv = { .deps = deps, .messages = json_array(), .last = p->after, .want = p->limit };
	int rc = 0;

	/* a client without rights (none found) sees nothing: closed by default */
	iv.filter = cfg->n_clients > 0;
	iv.client = iv.filter ? client_rights(cfg, client) : NULL;
	iv.ids = calloc(p->limit ? p->limit : 1, STORE_ID_LEN);
	if (!iv.ids)
		iv.nomem = true;
	/* pages of rows until `limit` readable ones or the end: a client never
	 * stalls behind rows it may not read (bounded: 20 pages a request) */
	for (int page = 0; !iv.nomem && iv.shown < iv.want && page < 20; page++) {
		int64_t before = iv.last;
		rc = store_inbox_list(deps->store, iv.last, p->limit, add_inbox_row, &iv);
		if (rc <= 0 || iv.last == before || iv.full)
			break;
	}
	if (rc > 0)
		rc = (int)iv.shown;
	if (iv.nomem || !iv.messages) {
		free(iv.ids);
		api_json_code_error(r, LIMES_E_NOMEM, "", "out of memory");
		json_decref(iv.messages);
		return LIMES_E_NOMEM;
	}
	if (rc < 0) {
		api_json_store_error(r, rc, "the store cannot be read: %s", limes_strerror(rc));
		json_decref(iv.messages);
		free(iv.ids);
		return rc;
	}
	if (iv.shown == 0 && may_wait) {
		json_decref(iv.messages);
		free(iv.ids);
		return 0;
	}
	if (iv.shown > 0) {
		/* the consultation log: who read which ids, durable before the answer */
		int arc = commit_stage(deps->commit, 0);
		if (arc == 0)
			arc = audit_read(commit_audit(deps->commit), client, (const uint8_t(*)[STORE_ID_LEN])iv.ids,
					 iv.shown, "inbox");
		if (arc < 0) {
			api_json_store_error(r, arc, "the read cannot be recorded: %s", limes_strerror(arc));
			json_decref(iv.messages);
			free(iv.ids);
			return arc;
		}
		r->needs_commit = commit_audit(deps->commit) != NULL;
	}
	free(iv.ids);
	api_json_reply(r, 200, json_pack("{s:o, s:I}", "messages", iv.messages, "next", (json_int_t)iv.last));
	return (int)iv.shown;
}

void api_routes_peers(const struct api_deps *deps, struct api_reply *r)
{
	api_json_reply(r, 200, api_json_peers(deps));
}

void api_routes_healthz(const struct api_deps *deps, struct api_reply *r)
{
	const struct config *cfg = peers_config(deps->peers);
	uint64_t free_bytes = api_json_free_bytes(deps);
	const char *reason = NULL;
	char message[300];

	message[0] = '\0';
	if (api_routes_healthz_standby(deps, r))
		return;
	if (!deps->me)
		reason = "keys_unusable";
	else if (!store_healthy(deps->store)) {
		reason = "store_unusable";
		snprintf(message, sizeof(message), "%s", store_health_reason(deps->store));
	} else if (free_bytes < cfg->min_free_bytes) {
		reason = "disk_full";
		snprintf(message, sizeof(message), "%" PRIu64 " bytes free on the data folder, reserve is %" PRIu64,
			 free_bytes, cfg->min_free_bytes);
	}
	if (reason) {
		snprintf(r->code, sizeof(r->code), "%s", reason);
		api_json_reply(r, 503, json_pack("{s:s, s:s, s:s}", "status", "unavailable", "reason", reason,
						 "message", message));
		return;
	}
	struct api_role role;
	api_role_get(deps, &role);
	api_json_reply(r, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "role", "active", "node", role.node));
}
