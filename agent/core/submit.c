/*
 * Submission: national systems' messages into the outbox. Policy first
 * (known recipient, type allowed to it), then one sealed and signed envelope
 * per recipient, all staged in the turn's commit; whoever submitted answers
 * only after the commit's listeners heard it succeed. Owns the envelope
 * sequence counter.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "core_int.h"
#include "crypto/envelope.h"
#include "crypto/random.h"
#include "proto/err.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "proto/sizes.h"

struct submit *submit_new(struct peers *peers, struct store *store, struct commit *commit,
			  const struct identity *me)
{
	struct submit *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->peers = peers;
	s->store = store;
	s->commit = commit;
	s->me = me;
	/* seeded from the start time, so a restart never reuses a value;
	 * receivers never order or dedupe by it (docs/protocol.md) */
	s->next_seq = clock_now_ms() * 1000;
	return s;
}

uint64_t submit_signatures(const struct submit *s)
{
	return s->signatures;
}

void submit_destroy(struct submit **ps)
{
	if (!ps || !*ps)
		return;
	free(*ps);
	*ps = NULL;
}

int core_set_error(struct core_error *err, int code, const char *field, const char *fmt, ...)
{
	va_list ap;
	err->code = code;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

int core_store_refusal(struct store *store, int rc, struct core_error *err)
{
	if (rc == LIMES_E_STORE_FULL)
		return core_set_error(err, rc, NULL, "the store's disk is full: nothing was accepted");
	if (rc == LIMES_E_NOMEM)
		return core_set_error(err, rc, NULL, "out of memory: nothing was accepted");
	return core_set_error(err, rc, NULL, "the store cannot take writes (%s): nothing was accepted",
			      store_health_reason(store)[0] ? store_health_reason(store) : limes_strerror(rc));
}

int core_seal(struct submit *s, const struct peer *to, struct wire_header *h, const uint8_t *body, size_t len,
	      uint8_t **env, size_t *env_len)
{
	h->has_seq = true;
	h->seq = s->next_seq++;
	int rc = envelope_build(s->me, peer_crypto(to), h, body, len, env, env_len);
	if (rc == 0)
		s->signatures++;
	return rc;
}

static int check_policy(struct submit *s, const struct submit_request *r, size_t index, size_t n,
			struct core_error *err)
{
	char field[64];
	for (size_t k = 0; k < r->n_to; k++) {
		if (n > 1)
			snprintf(field, sizeof(field), "[%zu].to[%zu]", index, k);
		else
			snprintf(field, sizeof(field), "to[%zu]", k);
		const struct peer *p = peers_find(s->peers, r->to[k]);
		if (!p)
			return core_set_error(err, LIMES_E_UNKNOWN_PEER, field, "recipient '%s' is not a configured peer",
					      r->to[k]);
		if (!(peer_conf(p)->send_mask & CONFIG_TYPE_BIT(r->type)))
			return core_set_error(err, LIMES_E_POLICY, field,
					      "policy does not allow sending '%s' messages to '%s' (see its send list)",
					      schema_type_name(r->type), r->to[k]);
		/* the neighbour told us over the link what it takes: refuse now
		 * rather than have it rejected later (relayed recipients never
		 * said, so only direct ones are held to it) */
		const struct peer_accepts *acc = peer_accepts(p);
		if (peer_is_direct(p) && acc->known && r->type >= 1 && r->type < 32 &&
		    (!(acc->mask & CONFIG_TYPE_BIT(r->type)) || acc->schema_major[r->type] < 1))
			return core_set_error(err, LIMES_E_PEER_LACKS_TYPE, field,
					      "peer '%s' does not accept '%s' messages from us (it said so over the link)",
					      r->to[k], schema_type_name(r->type));
		for (size_t j = 0; j < k; j++)
			if (strcmp(r->to[j], r->to[k]) == 0)
				return core_set_error(err, LIMES_E_INVAL, field, "recipient '%s' is listed twice",
						      r->to[k]);
	}
	if (r->n_to == 0) {
		if (n > 1)
			snprintf(field, sizeof(field), "[%zu].to", index);
		return core_set_error(err, LIMES_E_MISSING, n > 1 ? field : "to", "at least one recipient is needed");
	}
	const struct config *cfg = peers_config(s->peers);
	uint64_t ttl = r->ttl_ms ? r->ttl_ms : cfg->default_ttl_ms;
	if (ttl > cfg->max_ttl_ms) {
		if (n > 1)
			snprintf(field, sizeof(field), "[%zu].ttl_s", index);
		return core_set_error(err, LIMES_E_RANGE, n > 1 ? field : "ttl_s", "ttl exceeds the maximum of %llu s",
				      (unsigned long long)(cfg->max_ttl_ms / 1000));
	}
	if (r->priority != 0 && r->priority != 1)
		return core_set_error(err, LIMES_E_INVAL, "priority", "priority must be normal or urgent");
	return 0;
}

/* The header of the envelope for (message, recipient). */
static void header_for(struct submit *s, const struct store_message *m, const struct submit_request *r,
		       const struct peer *to, struct wire_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version_major = WIRE_VERSION_MAJOR;
	memcpy(h->message_id, m->id, 16);
	snprintf(h->sender, sizeof(h->sender), "%s", peers_config(s->peers)->id);
	snprintf(h->recipient, sizeof(h->recipient), "%s", peer_id(to));
	h->type = r->type;
	h->priority = r->priority;
	h->created_ms = m->created_ms;
	h->expires_ms = m->expires_ms;
	h->has_ref = r->has_ref;
	memcpy(h->ref, r->ref, 16);
	h->schema_major = 1;
}

/* Protocol v2 for this recipient: it is our direct peer (a relay passes the
 * bytes on to an agent whose version we do not know) and our link to it
 * agreed on 2. */
static bool batch_eligible(const struct submit *s, const struct peer *to)
{
	return peers_config(s->peers)->protocol >= WIRE_VERSION_BATCH && peer_is_direct(to) &&
	       peer_link(to)->protocol >= WIRE_VERSION_BATCH;
}

/* One envelope to seal: (message, recipient). */
struct slot {
	struct wire_header h;
	const struct peer *to;
	const struct submit_request *r;
	uint8_t *env;
	size_t env_len;
};

/* Seals every slot: the v2 ones together (one signature per batch of up to
 * WIRE_BATCH_MAX), the others one by one as v1. */
static int seal_all(struct submit *s, struct slot *slots, size_t n)
{
	struct envelope_batch_item *items = NULL;
	size_t *which = NULL, n_items = 0;
	int rc = 0;

	items = malloc((n ? n : 1) * sizeof(*items));
	which = malloc((n ? n : 1) * sizeof(*which));
	if (!items || !which) {
		rc = LIMES_E_NOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		struct slot *sl = &slots[k];
		if (!batch_eligible(s, sl->to)) {
			rc = core_seal(s, sl->to, &sl->h, sl->r->body, sl->r->body_len, &sl->env, &sl->env_len);
			if (rc < 0)
				goto out;
			continue;
		}
		sl->h.has_seq = true;
		sl->h.seq = s->next_seq++;
		items[n_items] = (struct envelope_batch_item){ .to = peer_crypto(sl->to), .h = &sl->h,
							       .body = sl->r->body, .body_len = sl->r->body_len };
		which[n_items++] = k;
	}
	for (size_t off = 0; off < n_items; off += WIRE_BATCH_MAX) {
		size_t c = n_items - off < WIRE_BATCH_MAX ? n_items - off : WIRE_BATCH_MAX;
		rc = envelope_build_batch(s->me, items + off, c);
		if (rc < 0)
			goto out;
		s->signatures++;
		for (size_t k = off; k < off + c; k++) {
			slots[which[k]].env = items[k].out;
			slots[which[k]].env_len = items[k].out_len;
		}
	}
out:
	free(items);
	free(which);
	return rc;
}

static void free_slots(struct slot *slots, size_t n)
{
	for (size_t k = 0; slots && k < n; k++)
		free(slots[k].env);
	free(slots);
}

int submit_stage(struct submit *s, const char *client, const struct submit_request *reqs, size_t n,
		 struct submit_result *results, struct core_error *err)
{
	struct store_message *msgs = NULL;
	struct slot *slots = NULL;
	size_t n_slots = 0;
	int rc = 0;

	memset(err, 0, sizeof(*err));
	for (size_t i = 0; i < n; i++) {
		rc = client_may_submit(peers_config(s->peers), client, &reqs[i], i, n, err);
		if (rc < 0) {
			/* the attempt itself is on the record; the refusal stands even
			 * if the entry cannot be written (the store then refuses all) */
			int arc = commit_stage(s->commit, 0);
			if (arc == 0)
				arc = audit_denied(commit_audit(s->commit), client,
						   strstr(err->field, "to") ? "to" : "submit", NULL, err->message);
			if (arc < 0)
				log_warn("client=%s audit entry of a refused submission failed: %s", client,
					 limes_strerror(arc));
			return rc;
		}
		rc = check_policy(s, &reqs[i], i, n, err);
		if (rc < 0)
			return rc;
	}
	if (!store_healthy(s->store))
		return core_store_refusal(s->store, LIMES_E_STORE_FAILED, err);
	rc = commit_stage(s->commit, COMMIT_OUTBOX);
	if (rc < 0)
		return core_store_refusal(s->store, rc, err);
	/* a mark, not a fresh transaction: others may have staged writes this
	 * turn (delivery marks) that a refusal here must not throw away */
	rc = store_mark(s->store);
	if (rc < 0)
		return core_store_refusal(s->store, rc, err);

	const struct config *cfg = peers_config(s->peers);
	uint64_t now = clock_now_ms();
	for (size_t i = 0; i < n; i++)
		n_slots += reqs[i].n_to;
	msgs = calloc(n ? n : 1, sizeof(*msgs));
	slots = calloc(n_slots ? n_slots : 1, sizeof(*slots));
	if (!msgs || !slots) {
		rc = core_set_error(err, LIMES_E_NOMEM, NULL, "out of memory: nothing was accepted");
		goto fail;
	}
	/* first every envelope, so that the v2 ones share one signature */
	n_slots = 0;
	for (size_t i = 0; i < n; i++) {
		const struct submit_request *r = &reqs[i];
		struct submit_result *res = &results[i];
		struct store_message *m = &msgs[i];
		res->existing = false;
		if (r->idempotency_key &&
		    store_idempotency_get(s->store, client, r->idempotency_key, res->id) == 0) {
			res->existing = true;
			continue;
		}
		*m = (struct store_message){
			.type = r->type,
			.priority = r->priority,
			.created_ms = now,
			.expires_ms = now + (r->ttl_ms ? r->ttl_ms : cfg->default_ttl_ms),
			.has_ref = r->has_ref,
			.client = client,
			.idempotency_key = r->idempotency_key,
		};
		random_fill(m->id, sizeof(m->id));
		memcpy(m->ref, r->ref, 16);
		for (size_t k = 0; k < r->n_to; k++) {
			struct slot *sl = &slots[n_slots++];
			sl->to = peers_find(s->peers, r->to[k]);
			sl->r = r;
			header_for(s, m, r, sl->to, &sl->h);
		}
	}
	rc = seal_all(s, slots, n_slots);
	if (rc < 0) {
		rc = core_set_error(err, rc == LIMES_E_NOMEM ? rc : LIMES_E_INTERNAL, NULL,
				    "cannot seal the message: %s", limes_strerror(rc));
		goto fail;
	}
	size_t next = 0;
	for (size_t i = 0; i < n; i++) {
		const struct submit_request *r = &reqs[i];
		struct submit_result *res = &results[i];
		if (res->existing)
			continue;
		struct store_delivery d[SUBMIT_MAX_TO];
		for (size_t k = 0; k < r->n_to; k++) {
			struct slot *sl = &slots[next + k];
			size_t max_frame = peers_config(s->peers)->max_frame_bytes;
			/* accepted, it could never cross the link: the receiver
			 * drops the over-size frame and the sender resends it until
			 * it expires. The body's limit follows from max_frame
			 * (proto/sizes.h), so it does not depend on the header's
			 * size; the envelope's is the backstop. */
			if (r->body_len > sizes_body_max(max_frame) || sl->env_len > wire_frame_payload_max(max_frame)) {
				char field[32] = "body";
				if (n > 1)
					snprintf(field, sizeof(field), "[%zu].body", i);
				rc = core_set_error(err, LIMES_E_TOOBIG, field,
						    "the body is %zu bytes (sealed %zu), more than a link frame carries: "
						    "at most %zu bytes of body with max_frame = %zu bytes (in [link])",
						    r->body_len, sl->env_len, sizes_body_max(max_frame), max_frame);
				goto fail;
			}
			d[k].recipient = peer_id(sl->to);
			d[k].next_hop = peer_next_hop(sl->to);
			d[k].envelope = sl->env;
			d[k].envelope_len = sl->env_len;
		}
		next += r->n_to;
		rc = store_outbox_put(s->store, &msgs[i], d, r->n_to);
		if (rc == LIMES_E_EXISTS && r->idempotency_key &&
		    store_idempotency_get(s->store, client, r->idempotency_key, res->id) == 0) {
			res->existing = true; /* the same key twice in one batch */
			continue;
		}
		if (rc == 0) {
			/* the submission's entry rides in the same mark: both or neither */
			uint8_t body_hash[STORE_HASH_LEN];
			envelope_hash(r->body, r->body_len, body_hash);
			rc = audit_submitted(commit_audit(s->commit), client, msgs[i].id, r->type, r->to, r->n_to,
					     body_hash);
		}
		if (rc < 0) {
			core_store_refusal(s->store, rc, err);
			goto fail;
		}
		memcpy(res->id, msgs[i].id, 16);
	}
	rc = store_mark_keep(s->store);
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		goto fail;
	}
	free_slots(slots, n_slots);
	free(msgs);
	return 0;
fail:
	free_slots(slots, n_slots);
	free(msgs);
	store_mark_undo(s->store);
	return rc < 0 ? rc : LIMES_E_INVAL;
}

