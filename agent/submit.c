/*
 * Submission: national systems' messages into the outbox. Policy first
 * (known recipient, type allowed to it), then one sealed and signed envelope
 * per recipient, all staged in the open transaction; the API commits every
 * submission of a loop turn together and acknowledges only after that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/err.h"
#include "agent/log.h"
#include "crypto/envelope.h"
#include "crypto/random.h"
#include "proto/schema.h"
#include "proto/wire.h"

static void set_err(struct submit_error *err, int status, const char *code, const char *field, const char *fmt,
		    ...) __attribute__((format(printf, 5, 6)));

#include <stdarg.h>
static void set_err(struct submit_error *err, int status, const char *code, const char *field, const char *fmt,
		    ...)
{
	va_list ap;
	err->status = status;
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* 503 for a store that cannot take writes, with the reason. */
static int store_refusal(struct agent *agent, int rc, struct submit_error *err)
{
	if (rc == LIMES_E_STORE_FULL)
		set_err(err, 503, "disk_full", NULL, "the store's disk is full: nothing was accepted");
	else
		set_err(err, 503, "store_unavailable", NULL, "the store cannot take writes (%s): nothing was accepted",
			store_health_reason(agent->store)[0] ? store_health_reason(agent->store) : limes_strerror(rc));
	return rc;
}

static int check_policy(struct agent *agent, const struct submit_request *r, size_t index, size_t n,
			struct submit_error *err)
{
	char field[64];
	for (size_t k = 0; k < r->n_to; k++) {
		if (n > 1)
			snprintf(field, sizeof(field), "[%zu].to[%zu]", index, k);
		else
			snprintf(field, sizeof(field), "to[%zu]", k);
		struct peer *p = agent_peer(agent, r->to[k]);
		if (!p) {
			set_err(err, 404, "unknown_peer", field, "recipient '%s' is not a configured peer", r->to[k]);
			return LIMES_E_UNKNOWN_PEER;
		}
		if (!(p->conf->send_mask & CONFIG_TYPE_BIT(r->type))) {
			set_err(err, 403, "policy_forbidden", field,
				"policy does not allow sending '%s' messages to '%s' (see its send list)",
				schema_type_name(r->type), r->to[k]);
			return LIMES_E_POLICY;
		}
		for (size_t j = 0; j < k; j++)
			if (strcmp(r->to[j], r->to[k]) == 0) {
				set_err(err, 400, "invalid_field", field, "recipient '%s' is listed twice", r->to[k]);
				return LIMES_E_INVAL;
			}
	}
	if (r->n_to == 0) {
		set_err(err, 400, "missing_field", n > 1 ? "to" : "to", "at least one recipient is needed");
		return LIMES_E_INVAL;
	}
	uint64_t ttl = r->ttl_ms ? r->ttl_ms : agent->cfg->default_ttl_ms;
	if (ttl > agent->cfg->max_ttl_ms) {
		set_err(err, 400, "out_of_range", "ttl_s", "ttl exceeds the maximum of %llu s",
			(unsigned long long)(agent->cfg->max_ttl_ms / 1000));
		return LIMES_E_INVAL;
	}
	return 0;
}

/* Seals one envelope for (message, recipient). */
static int seal_for(struct agent *agent, const struct store_message *m, const struct submit_request *r,
		    struct peer *to, uint8_t **env, size_t *env_len)
{
	struct wire_header h;
	memset(&h, 0, sizeof(h));
	h.version_major = WIRE_VERSION_MAJOR;
	memcpy(h.message_id, m->id, 16);
	snprintf(h.sender, sizeof(h.sender), "%s", agent->cfg->id);
	snprintf(h.recipient, sizeof(h.recipient), "%s", to->conf->id);
	h.type = r->type;
	h.priority = r->priority;
	h.created_ms = m->created_ms;
	h.expires_ms = m->expires_ms;
	h.has_seq = true;
	h.seq = agent->next_seq++;
	h.has_ref = r->has_ref;
	memcpy(h.ref, r->ref, 16);
	h.schema_major = 1;
	return envelope_build(agent->me, to->crypto, &h, r->body, r->body_len, env, env_len);
}

int agent_submit_stage(struct agent *agent, const char *client, const struct submit_request *reqs, size_t n,
		       struct submit_result *results, struct submit_error *err)
{
	uint8_t *envs[SUBMIT_MAX_TO] = { 0 };
	int rc = 0;

	memset(err, 0, sizeof(*err));
	for (size_t i = 0; i < n; i++) {
		rc = check_policy(agent, &reqs[i], i, n, err);
		if (rc < 0)
			return rc;
	}
	if (!store_healthy(agent->store))
		return store_refusal(agent, LIMES_E_STORE_FAILED, err);
	/* a mark, not a fresh transaction: the links may have staged writes
	 * (delivery marks) that a refusal here must not throw away */
	rc = store_mark(agent->store);
	if (rc < 0)
		return store_refusal(agent, rc, err);

	uint64_t now = agent_now_ms();
	for (size_t i = 0; i < n; i++) {
		const struct submit_request *r = &reqs[i];
		struct submit_result *res = &results[i];
		res->existing = false;
		if (r->idempotency_key &&
		    store_idempotency_get(agent->store, client, r->idempotency_key, res->id) == 0) {
			res->existing = true;
			continue;
		}
		struct store_message m = {
			.type = r->type,
			.priority = r->priority,
			.created_ms = now,
			.expires_ms = now + (r->ttl_ms ? r->ttl_ms : agent->cfg->default_ttl_ms),
			.has_ref = r->has_ref,
			.client = client,
			.idempotency_key = r->idempotency_key,
		};
		random_fill(m.id, sizeof(m.id));
		memcpy(m.ref, r->ref, 16);
		struct store_delivery d[SUBMIT_MAX_TO];
		size_t lens[SUBMIT_MAX_TO];
		for (size_t k = 0; k < r->n_to; k++) {
			struct peer *p = agent_peer(agent, r->to[k]);
			rc = seal_for(agent, &m, r, p, &envs[k], &lens[k]);
			if (rc < 0) {
				set_err(err, 500, "internal", NULL, "cannot seal the message: %s", limes_strerror(rc));
				goto fail;
			}
			d[k].recipient = p->conf->id;
			d[k].next_hop = p->conf->via[0] ? p->conf->via : p->conf->id;
			d[k].envelope = envs[k];
			d[k].envelope_len = lens[k];
		}
		rc = store_outbox_put(agent->store, &m, d, r->n_to);
		for (size_t k = 0; k < r->n_to; k++) {
			free(envs[k]);
			envs[k] = NULL;
		}
		if (rc == LIMES_E_EXISTS && r->idempotency_key &&
		    store_idempotency_get(agent->store, client, r->idempotency_key, res->id) == 0) {
			res->existing = true; /* the same key twice in one batch */
			continue;
		}
		if (rc < 0) {
			store_refusal(agent, rc, err);
			goto fail;
		}
		memcpy(res->id, m.id, 16);
	}
	rc = store_mark_keep(agent->store);
	if (rc < 0) {
		store_refusal(agent, rc, err);
		goto fail;
	}
	return 0;
fail:
	for (size_t k = 0; k < SUBMIT_MAX_TO; k++)
		free(envs[k]);
	store_mark_undo(agent->store);
	return rc < 0 ? rc : LIMES_E_INVAL;
}

void agent_outbox_committed(struct agent *agent)
{
	/* durable: wake every direct link (a link with nothing due costs one query) */
	for (size_t i = 0; i < agent->n_peers; i++)
		if (agent->peers[i].conf->endpoint[0])
			agent_outbox_changed(agent, agent->peers[i].conf->id);
}

/* A delivery that may be re-queued, copied out of the store. */
struct requeue_item {
	char recipient[CONFIG_ID_MAX + 1];
	enum delivery_state state;
	uint8_t *envelope;
	size_t envelope_len;
};

struct requeue_ctx {
	const char *recipient;
	struct requeue_item items[SUBMIT_MAX_TO * 4];
	size_t n;
};

static int collect(void *arg, const struct store_delivery_row *row)
{
	struct requeue_ctx *c = arg;
	if (c->recipient && strcmp(c->recipient, row->recipient) != 0)
		return 0;
	if (c->n == sizeof(c->items) / sizeof(c->items[0]))
		return 1;
	struct requeue_item *it = &c->items[c->n];
	it->envelope = malloc(row->envelope_len);
	if (!it->envelope)
		return 1;
	memcpy(it->envelope, row->envelope, row->envelope_len);
	it->envelope_len = row->envelope_len;
	it->state = row->state;
	snprintf(it->recipient, sizeof(it->recipient), "%s", row->recipient);
	c->n++;
	return 0;
}

/* Opens our own envelope and seals it again with a fresh expiry: same id. */
static int requeue_one(struct agent *agent, const uint8_t id[STORE_ID_LEN], const struct requeue_item *it,
		       uint64_t ttl_ms, struct submit_error *err)
{
	struct peer *p = agent_peer(agent, it->recipient);
	struct envelope_opened o;
	if (!p) {
		set_err(err, 404, "unknown_peer", "to", "recipient '%s' is no longer configured", it->recipient);
		return LIMES_E_UNKNOWN_PEER;
	}
	int rc = envelope_reopen_own(agent->me, p->crypto, it->envelope, it->envelope_len,
				     agent->cfg->max_frame_bytes, &o);
	if (rc < 0) {
		set_err(err, 500, "internal", NULL, "cannot reopen the stored envelope: %s", limes_strerror(rc));
		return rc;
	}
	struct wire_header h = o.header;
	uint64_t now = agent_now_ms();
	h.created_ms = now;
	h.expires_ms = now + (ttl_ms ? ttl_ms : agent->cfg->default_ttl_ms);
	h.seq = agent->next_seq++;
	uint8_t *env = NULL;
	size_t env_len = 0;
	rc = envelope_build(agent->me, p->crypto, &h, o.body, o.body_len, &env, &env_len);
	envelope_opened_clear(&o);
	if (rc == 0)
		rc = store_delivery_requeue(agent->store, id, it->recipient, env, env_len, h.expires_ms);
	free(env);
	if (rc < 0)
		return store_refusal(agent, rc, err);
	return 0;
}

int agent_requeue(struct agent *agent, const uint8_t id[STORE_ID_LEN], const char *recipient, uint64_t ttl_ms,
		  struct submit_error *err)
{
	struct requeue_ctx c = { .recipient = recipient };
	int requeued = 0;
	int rc;

	memset(err, 0, sizeof(*err));
	if (ttl_ms > agent->cfg->max_ttl_ms) {
		set_err(err, 400, "out_of_range", "ttl_s", "ttl exceeds the maximum");
		return LIMES_E_INVAL;
	}
	rc = store_message_get(agent->store, id, collect, &c);
	if (rc == LIMES_E_NOTFOUND || (rc >= 0 && c.n == 0)) {
		set_err(err, 404, "not_found", recipient ? "to" : "id", "no such message%s",
			recipient ? " for that recipient" : "");
		rc = LIMES_E_NOTFOUND;
		goto out;
	}
	if (rc < 0) {
		store_refusal(agent, rc, err);
		goto out;
	}
	rc = store_mark(agent->store);
	if (rc < 0) {
		store_refusal(agent, rc, err);
		goto out;
	}
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		if (c.items[i].state != DELIVERY_EXPIRED && c.items[i].state != DELIVERY_REJECTED)
			continue;
		rc = requeue_one(agent, id, &c.items[i], ttl_ms, err);
		if (rc == 0)
			requeued++;
	}
	if (rc == 0 && requeued == 0) {
		set_err(err, 409, "not_requeueable", "id", "only expired or rejected deliveries can be re-queued");
		rc = LIMES_E_INVAL;
	}
	if (rc < 0) {
		store_mark_undo(agent->store);
		goto out;
	}
	rc = store_mark_keep(agent->store);
	if (rc == 0)
		rc = store_commit(agent->store);
	if (rc < 0) {
		store_refusal(agent, rc, err);
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		struct peer *p = agent_peer(agent, c.items[i].recipient);
		if (p)
			agent_outbox_changed(agent, p->conf->via[0] ? p->conf->via : p->conf->id);
	}
	log_info("event=requeued count=%d", requeued);
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.items[i].envelope);
	return rc;
}
