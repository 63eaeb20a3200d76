/*
 * Submission: national systems' messages into the outbox. Policy first
 * (known recipient, type allowed to it), then one sealed and signed envelope
 * per recipient, all staged in the turn's commit; whoever submitted answers
 * only after the commit's listeners heard it succeed. Envelopes for links
 * that agreed protocol v2 are sealed at once but signed at the commit, one
 * batch per next hop over every submission of the turn (so many one-message
 * requests share a signature, and a quiet link's batch is one envelope), and
 * written to the outbox then: their bytes never change afterwards, so
 * re-sends, relays and duplicates see the same envelope. Owns the envelope
 * sequence counter and the turn's pending messages.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "core_int.h"
#include "crypto/audit.h"
#include "crypto/envelope.h"
#include "crypto/random.h"
#include "proto/err.h"
#include "proto/schema.h"
#include "proto/wire.h"
#include "proto/sizes.h"
#include "proto/strcopy.h"

/* One recipient's envelope of a pending message: sealed, signed at the commit. */
struct pending_delivery {
	char recipient[CONFIG_ID_MAX + 1];
	char next_hop[CONFIG_ID_MAX + 1];
	struct envelope_unsigned *u;        /* NULL once signed, or for a v1 envelope */
	uint8_t sealed_by[8];               /* our key id when sealed: a promotion in the turn swaps s->me */
	uint8_t *env;                       /* the signed envelope */
	size_t env_len;
};

/* A message of this turn with at least one v2 envelope: written to the
 * outbox, with its audit entry, by the commit's hook. */
struct pending_msg {
	struct store_message m;             /* client and idempotency_key point below */
	char *client, *idempotency_key;
	char to[SUBMIT_MAX_TO][CONFIG_ID_MAX + 1];
	size_t n_to;
	uint8_t body_hash[STORE_HASH_LEN];
	struct pending_delivery d[SUBMIT_MAX_TO];
};

static void pending_free_from(struct submit *s, size_t from)
{
	for (size_t i = from; i < s->n_pend; i++) {
		struct pending_msg *pm = &s->pend[i];
		for (size_t k = 0; k < pm->n_to; k++) {
			envelope_unsigned_free(&pm->d[k].u);
			free(pm->d[k].env);
		}
		free(pm->client);
		free(pm->idempotency_key);
	}
	s->n_pend = from < s->n_pend ? from : s->n_pend;
}

static int before_commit(void *arg);

/* A message id in RFC 9562's UUIDv7 layout: the creation time in Unix
 * milliseconds (48 bits, big-endian), the version (7) and variant bits, and
 * 74 random bits. Ids made close in time sort close together, so every
 * B-tree keyed by a message id (the outbox's id index and the audit trail's
 * here, the seen set and its trail at a receiver) takes them near its right
 * edge, a few pages per commit, rather than one random page per message
 * (docs/benchmarks.md, "Message ids in time order"). The time is the
 * header's created_ms, which travels in the clear already; the random part
 * keeps ids unique and unguessable. */
static void message_id_stamp(uint8_t id[STORE_ID_LEN], uint64_t now_ms)
{
	for (int b = 0; b < 6; b++)
		id[b] = (uint8_t)(now_ms >> (40 - 8 * b));
	id[6] = (uint8_t)(0x70 | (id[6] & 0x0f));
	id[8] = (uint8_t)(0x80 | (id[8] & 0x3f));
}

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
	commit_before(commit, before_commit, s);
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
	commit_before((*ps)->commit, NULL, NULL);
	pending_free_from(*ps, 0);
	free((*ps)->pend);
	free((*ps)->resend_served);
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

/* "[index].to[k]" (or "to[k]" for a lone message) into field; formatted
 * only on a refusal, as every accepted message would pay it per recipient. */
static const char *to_field(char *field, size_t size, size_t index, size_t n, size_t k)
{
	if (n > 1)
		snprintf(field, size, "[%zu].to[%zu]", index, k);
	else
		snprintf(field, size, "to[%zu]", k);
	return field;
}

static int check_policy(struct submit *s, const struct submit_request *r, size_t index, size_t n,
			struct core_error *err)
{
	char buf[64];
	for (size_t k = 0; k < r->n_to; k++) {
		const struct peer *p = peers_find(s->peers, r->to[k]);
		if (!p)
			return core_set_error(err, LIMES_E_UNKNOWN_PEER, to_field(buf, sizeof(buf), index, n, k),
					      "recipient '%s' is not a configured peer", r->to[k]);
		if (!(peer_conf(p)->send_mask & CONFIG_TYPE_BIT(r->type)))
			return core_set_error(err, LIMES_E_POLICY, to_field(buf, sizeof(buf), index, n, k),
					      "policy does not allow sending '%s' messages to '%s' (see its send list)",
					      schema_type_name(r->type), r->to[k]);
		/* the neighbour told us over the link what it takes: refuse now
		 * rather than have it rejected later (relayed recipients never
		 * said, so only direct ones are held to it) */
		const struct peer_accepts *acc = peer_accepts(p);
		if (peer_is_direct(p) && acc->known && r->type >= 1 && r->type < 32 &&
		    (!(acc->mask & CONFIG_TYPE_BIT(r->type)) || acc->schema_major[r->type] < 1))
			return core_set_error(err, LIMES_E_PEER_LACKS_TYPE, to_field(buf, sizeof(buf), index, n, k),
					      "peer '%s' does not accept '%s' messages from us (it said so over the link)",
					      r->to[k], schema_type_name(r->type));
		for (size_t j = 0; j < k; j++)
			if (strcmp(r->to[j], r->to[k]) == 0)
				return core_set_error(err, LIMES_E_INVAL, to_field(buf, sizeof(buf), index, n, k),
						      "recipient '%s' is listed twice", r->to[k]);
	}
	if (r->n_to == 0) {
		if (n > 1)
			snprintf(buf, sizeof(buf), "[%zu].to", index);
		return core_set_error(err, LIMES_E_MISSING, n > 1 ? buf : "to", "at least one recipient is needed");
	}
	const struct config *cfg = peers_config(s->peers);
	uint64_t ttl = r->ttl_ms ? r->ttl_ms : cfg->default_ttl_ms;
	if (ttl > cfg->max_ttl_ms) {
		if (n > 1)
			snprintf(buf, sizeof(buf), "[%zu].ttl_s", index);
		return core_set_error(err, LIMES_E_RANGE, n > 1 ? buf : "ttl_s", "ttl exceeds the maximum of %llu s",
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
	str_copy(h->sender, sizeof(h->sender), peers_config(s->peers)->id);
	str_copy(h->recipient, sizeof(h->recipient), peer_id(to));
	h->type = r->type;
	h->priority = r->priority;
	h->created_ms = m->created_ms;
	h->expires_ms = m->expires_ms;
	h->has_ref = r->has_ref;
	memcpy(h->ref, r->ref, 16);
	h->schema_major = 1;
}

/* Protocol v2 for this recipient: our link to its next hop agreed on 2,
 * and, behind a relay, the relay said in its heartbeat replies that its own
 * link to the recipient did (it forwards our bytes unchanged). While a link
 * is down, what it last agreed (peer_build_protocol). */
static bool batch_eligible(struct submit *s, const struct peer *to)
{
	if (peers_config(s->peers)->protocol < WIRE_VERSION_BATCH || peer_build_protocol(to) < WIRE_VERSION_BATCH)
		return false;
	if (peer_is_direct(to))
		return true;
	const struct peer *relay = peers_find(s->peers, peer_next_hop(to));
	return relay && peer_build_protocol(relay) >= WIRE_VERSION_BATCH;
}

/* One envelope to seal: (message, recipient). */
struct slot {
	struct wire_header h;
	const struct peer *to;
	const struct submit_request *r;
	uint8_t *env;                       /* v1: signed now */
	size_t env_len;
	struct envelope_unsigned *u;        /* v2: signed at the commit */
};

/* Seals every slot: the v2 ones unsigned (before_commit signs them with
 * the rest of the turn), the others signed one by one as v1. */
static int seal_all(struct submit *s, struct slot *slots, size_t n)
{
	uint8_t (*nonces)[WIRE_NONCE_LEN] = malloc((n ? n : 1) * sizeof(*nonces));
	int rc = 0;

	if (!nonces)
		return LIMES_E_NOMEM;
	/* one draw for the whole submission, from the pool of public random
	 * values (a getrandom() per ~50 submissions, not per call) */
	random_fill_public(nonces, n * sizeof(*nonces));
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
		sl->u = envelope_seal_unsigned(s->me, peer_crypto(sl->to), &sl->h, nonces[k], sl->r->body,
					       sl->r->body_len, &rc);
		if (!sl->u)
			goto out;
	}
out:
	free(nonces);
	return rc;
}

static void free_slots(struct slot *slots, size_t n)
{
	for (size_t k = 0; slots && k < n; k++) {
		free(slots[k].env);
		envelope_unsigned_free(&slots[k].u);
	}
	free(slots);
}

/* The message of this turn whose idempotency key is (client, key), or NULL. */
static const struct pending_msg *pending_by_key(const struct submit *s, const char *client, const char *key)
{
	for (size_t i = 0; key && i < s->n_pend; i++) {
		const struct pending_msg *pm = &s->pend[i];
		if (pm->idempotency_key && strcmp(pm->idempotency_key, key) == 0 &&
		    strcmp(pm->client ? pm->client : "", client ? client : "") == 0)
			return pm;
	}
	return NULL;
}

/* The audit's hash of a request's body: the caller's, or computed here. */
static void body_hash_of(const struct submit_request *r, uint8_t out[STORE_HASH_LEN])
{
	if (r->has_body_hash)
		memcpy(out, r->body_hash, STORE_HASH_LEN);
	else
		envelope_hash(r->body, r->body_len, out);
}

/* Keeps message m (request r) for the commit: its slots' envelopes move in. */
static int pending_add(struct submit *s, const struct store_message *m, const struct submit_request *r,
		       struct slot *slots)
{
	if (s->n_pend == s->cap_pend) {
		size_t cap = s->cap_pend ? s->cap_pend * 2 : 16;
		struct pending_msg *grown = realloc(s->pend, cap * sizeof(*grown));
		if (!grown)
			return LIMES_E_NOMEM;
		s->pend = grown;
		s->cap_pend = cap;
	}
	struct pending_msg *pm = &s->pend[s->n_pend];
	memset(pm, 0, sizeof(*pm));
	pm->m = *m;
	pm->client = m->client ? strdup(m->client) : NULL;
	pm->idempotency_key = m->idempotency_key ? strdup(m->idempotency_key) : NULL;
	if ((m->client && !pm->client) || (m->idempotency_key && !pm->idempotency_key)) {
		free(pm->client);
		free(pm->idempotency_key);
		return LIMES_E_NOMEM;
	}
	pm->m.client = pm->client;
	pm->m.idempotency_key = pm->idempotency_key;
	body_hash_of(r, pm->body_hash);
	pm->n_to = r->n_to;
	for (size_t k = 0; k < r->n_to; k++) {
		str_copy(pm->to[k], sizeof(pm->to[k]), r->to[k]);
		str_copy(pm->d[k].recipient, sizeof(pm->d[k].recipient), peer_id(slots[k].to));
		str_copy(pm->d[k].next_hop, sizeof(pm->d[k].next_hop), peer_next_hop(slots[k].to));
		pm->d[k].u = slots[k].u;
		memcpy(pm->d[k].sealed_by, identity_public(s->me)->key_id, sizeof(pm->d[k].sealed_by));
		pm->d[k].env = slots[k].env;
		pm->d[k].env_len = slots[k].env_len;
		slots[k].u = NULL;
		slots[k].env = NULL;
	}
	s->n_pend++;
	return 0;
}

/* Signs the turn's v2 envelopes for one next hop: up to WIRE_BATCH_MAX per
 * signature, in submission order. */
static int sign_hop(struct submit *s, const char *next_hop, struct pending_delivery **todo, size_t n_todo)
{
	struct envelope_unsigned **u = malloc(WIRE_BATCH_MAX * sizeof(*u));
	uint8_t **outs = malloc(WIRE_BATCH_MAX * sizeof(*outs));
	size_t *lens = malloc(WIRE_BATCH_MAX * sizeof(*lens));
	struct pending_delivery **batch = malloc(WIRE_BATCH_MAX * sizeof(*batch));
	size_t i = 0;
	int rc = LIMES_E_NOMEM;

	if (!u || !outs || !lens || !batch)
		goto out;
	/* sealed before a promotion in this turn: signed by the key that
	 * sealed them (the header names it); sent, they are signed again */
	const uint8_t *by = todo[0]->sealed_by;
	const struct identity *signer = memcmp(identity_public(s->me)->key_id, by, 8) == 0 ?
		s->me : rotation_replaced(s->rotation, by);
	rc = LIMES_E_INTERNAL;
	if (!signer)
		goto out;
	rc = 0;
	while (i < n_todo && rc == 0) {
		size_t n = 0;
		for (; i < n_todo && n < WIRE_BATCH_MAX; i++)
			if (todo[i]->u && strcmp(todo[i]->next_hop, next_hop) == 0 &&
			    memcmp(todo[i]->sealed_by, by, 8) == 0) {
				batch[n] = todo[i];
				u[n++] = todo[i]->u;
			}
		if (n == 0)
			break;
		rc = envelope_sign_batch(signer, u, n, outs, lens);
		if (rc < 0)
			break;
		s->signatures++;
		for (size_t k = 0; k < n; k++) {
			envelope_unsigned_free(&batch[k]->u);
			batch[k]->env = outs[k];
			batch[k]->env_len = lens[k];
		}
	}
out:
	free(u);
	free(outs);
	free(lens);
	free(batch);
	return rc;
}

/* The audit entries of the turn's v2 messages: one submitted_batch entry per
 * client (a turn's messages may come from several API requests). */
static int audit_pending(struct submit *s)
{
	struct audit_msg *am = calloc(s->n_pend, sizeof(*am));
	const char *(*to)[SUBMIT_MAX_TO] = calloc(s->n_pend, sizeof(*to));
	bool *done = calloc(s->n_pend, sizeof(*done));
	int rc = am && to && done ? 0 : LIMES_E_NOMEM;

	for (size_t i = 0; i < s->n_pend && rc == 0; i++) {
		size_t n = 0;
		if (done[i])
			continue;
		for (size_t j = i; j < s->n_pend; j++) {
			struct pending_msg *pm = &s->pend[j];
			if (done[j] || strcmp(pm->client, s->pend[i].client) != 0)
				continue;
			done[j] = true;
			for (size_t k = 0; k < pm->n_to; k++)
				to[n][k] = pm->to[k];
			am[n] = (struct audit_msg){ .id = pm->m.id, .type = pm->m.type, .recipients = to[n],
						    .n_recipients = pm->n_to, .body_hash = pm->body_hash };
			n++;
		}
		rc = audit_batch(commit_audit(s->commit), AUDIT_SUBMITTED_BATCH, s->pend[i].client, NULL, am, n);
	}
	free(am);
	free(to);
	free(done);
	return rc;
}

/* The commit's hook: signs the turn's v2 envelopes, one batch per next hop,
 * and writes their messages to the outbox with their audit entries. */
static int before_commit(void *arg)
{
	struct submit *s = arg;
	struct pending_delivery **todo = NULL;
	size_t n_todo = 0;
	int rc = 0;

	if (!s->n_pend)
		return 0;
	/* a failed write rolled the turn back: the commit fails, nothing to add */
	if (!store_in_transaction(s->store))
		goto out;
	rc = LIMES_E_NOMEM;
	if (!(todo = malloc(s->n_pend * SUBMIT_MAX_TO * sizeof(*todo))))
		goto out;
	for (size_t i = 0; i < s->n_pend; i++)
		for (size_t k = 0; k < s->pend[i].n_to; k++)
			if (s->pend[i].d[k].u)
				todo[n_todo++] = &s->pend[i].d[k];
	rc = 0;
	for (size_t t = 0; t < n_todo && rc == 0; t++)
		if (todo[t]->u) /* the first of a next hop not yet signed */
			rc = sign_hop(s, todo[t]->next_hop, todo + t, n_todo - t);
	for (size_t i = 0; i < s->n_pend && rc == 0; i++) {
		struct pending_msg *pm = &s->pend[i];
		struct store_delivery d[SUBMIT_MAX_TO];
		for (size_t k = 0; k < pm->n_to; k++)
			d[k] = (struct store_delivery){ .recipient = pm->d[k].recipient, .next_hop = pm->d[k].next_hop,
							.envelope = pm->d[k].env, .envelope_len = pm->d[k].env_len };
		rc = store_outbox_put(s->store, &pm->m, d, pm->n_to);
	}
	if (rc == 0)
		rc = audit_pending(s);
	if (rc < 0)
		log_error("event=store_failed reason=\"the turn's signed messages could not be written: %s\" "
			  "action=\"nothing of this turn is acknowledged\"", limes_strerror(rc));
out:
	free(todo);
	pending_free_from(s, 0);
	return rc;
}

int submit_stage(struct submit *s, const char *client, const struct submit_request *reqs, size_t n,
		 struct submit_result *results, struct core_error *err)
{
	struct store_message *msgs = NULL;
	struct slot *slots = NULL;
	struct audit_msg *audit_msgs = NULL;   /* the v1 messages' submitted_batch entry */
	uint8_t (*body_hashes)[STORE_HASH_LEN] = NULL;
	size_t n_slots = 0, n_audit = 0, pend_mark = s->n_pend;
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
	audit_msgs = calloc(n ? n : 1, sizeof(*audit_msgs));
	body_hashes = calloc(n ? n : 1, sizeof(*body_hashes));
	if (!msgs || !slots || !audit_msgs || !body_hashes) {
		rc = core_set_error(err, LIMES_E_NOMEM, NULL, "out of memory: nothing was accepted");
		goto fail;
	}
	/* first every envelope, so that the v2 ones share one signature */
	n_slots = 0;
	uint8_t ids[64][STORE_ID_LEN];
	size_t ids_left = 0;
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
		/* the same key earlier this turn, not yet in the store */
		const struct pending_msg *twin = pending_by_key(s, client, r->idempotency_key);
		if (twin) {
			memcpy(res->id, twin->m.id, 16);
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
		if (ids_left == 0) {
			/* ids drawn 64 at a time: one getrandom() per 256 bytes, not per id */
			ids_left = n - i < 64 ? n - i : 64;
			random_fill_public(ids, ids_left * sizeof(ids[0]));
		}
		memcpy(m->id, ids[--ids_left], sizeof(m->id));
		message_id_stamp(m->id, now);
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
		bool deferred = false;
		for (size_t k = 0; k < r->n_to; k++) {
			struct slot *sl = &slots[next + k];
			size_t max_frame = peers_config(s->peers)->max_frame_bytes;
			/* v2: the longest the envelope can be once signed */
			size_t len = sl->u ? envelope_unsigned_max_len(sl->u) : sl->env_len;
			deferred |= sl->u != NULL;
			/* accepted, it could never cross the link: the receiver
			 * drops the over-size frame and the sender resends it until
			 * it expires. The body's limit follows from max_frame
			 * (proto/sizes.h), so it does not depend on the header's
			 * size; the envelope's is the backstop. */
			if (r->body_len > sizes_body_max(max_frame) || len > wire_frame_payload_max(max_frame)) {
				char field[32] = "body";
				if (n > 1)
					snprintf(field, sizeof(field), "[%zu].body", i);
				rc = core_set_error(err, LIMES_E_TOOBIG, field,
						    "the body is %zu bytes (sealed %zu), more than a link frame carries: "
						    "at most %zu bytes of body with max_frame = %zu bytes (in [link])",
						    r->body_len, len, sizes_body_max(max_frame), max_frame);
				goto fail;
			}
			d[k].recipient = peer_id(sl->to);
			d[k].next_hop = peer_next_hop(sl->to);
			d[k].envelope = sl->env;
			d[k].envelope_len = sl->env_len;
		}
		/* the same key earlier in this request, kept for the commit */
		const struct pending_msg *twin = pending_by_key(s, client, r->idempotency_key);
		if (twin) {
			memcpy(res->id, twin->m.id, 16);
			res->existing = true;
			next += r->n_to;
			continue;
		}
		if (deferred) {
			if ((rc = pending_add(s, &msgs[i], r, &slots[next])) < 0) {
				core_set_error(err, rc, NULL, "out of memory: nothing was accepted");
				goto fail;
			} else {
				memcpy(res->id, msgs[i].id, 16);
			}
			next += r->n_to;
			continue;
		}
		next += r->n_to;
		rc = store_outbox_put(s->store, &msgs[i], d, r->n_to);
		if (rc == LIMES_E_EXISTS && r->idempotency_key &&
		    store_idempotency_get(s->store, client, r->idempotency_key, res->id) == 0) {
			res->existing = true; /* the same key twice in one batch */
			continue;
		}
		if (rc == 0) {
			size_t k = n_audit++;
			body_hash_of(r, body_hashes[k]);
			audit_msgs[k] = (struct audit_msg){ .id = msgs[i].id, .type = r->type, .recipients = r->to,
							    .n_recipients = r->n_to, .body_hash = body_hashes[k] };
		}
		if (rc < 0) {
			core_store_refusal(s->store, rc, err);
			goto fail;
		}
		memcpy(res->id, msgs[i].id, 16);
	}
	/* the submission's entry rides in the same mark: all or nothing */
	rc = audit_batch(commit_audit(s->commit), AUDIT_SUBMITTED_BATCH, client, NULL, audit_msgs, n_audit);
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		goto fail;
	}
	rc = store_mark_keep(s->store);
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		goto fail;
	}
	free_slots(slots, n_slots);
	free(msgs);
	free(audit_msgs);
	free(body_hashes);
	return 0;
fail:
	pending_free_from(s, pend_mark);
	free_slots(slots, n_slots);
	free(msgs);
	free(audit_msgs);
	free(body_hashes);
	store_mark_undo(s->store);
	return rc < 0 ? rc : LIMES_E_INVAL;
}

void submit_set_rotation(struct submit *s, const struct rotation *r)
{
	s->rotation = r;
}
