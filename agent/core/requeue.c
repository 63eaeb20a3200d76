/*
 * Re-queueing: an expired or rejected message goes out again under the same
 * id, in a fresh envelope with a new expiry, staged in the turn's commit like
 * a submission.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "core_int.h"
#include "crypto/encode.h"
#include "crypto/envelope.h"
#include "proto/err.h"
#include "proto/wire.h"

/* A delivery that may be re-queued, copied out of the store. */
struct requeue_item {
	char recipient[CONFIG_ID_MAX + 1];
	enum delivery_state state;
	uint8_t *envelope;
	size_t envelope_len;
};

struct requeue_ctx {
	struct peers *peers;
	const char *recipient;
	/* deliveries to names no longer configured (when recipient is given) */
	size_t stranded;
	char stranded_to[CONFIG_ID_MAX + 1];
	uint8_t *stranded_env;
	size_t stranded_len;
	struct requeue_item items[SUBMIT_MAX_TO * 4];
	size_t n;
	bool nomem;
};

static int collect(void *arg, const struct store_delivery_row *row)
{
	struct requeue_ctx *c = arg;
	if (c->recipient && strcmp(c->recipient, row->recipient) != 0) {
		/* a delivery to a name no longer configured may move to this one */
		if (row->state != DELIVERY_DELIVERED && !peers_find(c->peers, row->recipient)) {
			c->stranded++;
			snprintf(c->stranded_to, sizeof(c->stranded_to), "%s", row->recipient);
			free(c->stranded_env);
			c->stranded_env = malloc(row->envelope_len);
			if (!c->stranded_env) {
				c->nomem = true;
				return 1;
			}
			memcpy(c->stranded_env, row->envelope, row->envelope_len);
			c->stranded_len = row->envelope_len;
		}
		return 0;
	}
	if (c->n == sizeof(c->items) / sizeof(c->items[0]))
		return 1;
	struct requeue_item *it = &c->items[c->n];
	it->envelope = malloc(row->envelope_len ? row->envelope_len : 1); /* 0: purged body */
	if (!it->envelope) {
		c->nomem = true;
		return 1;
	}
	memcpy(it->envelope, row->envelope, row->envelope_len);
	it->envelope_len = row->envelope_len;
	it->state = row->state;
	snprintf(it->recipient, sizeof(it->recipient), "%s", row->recipient);
	c->n++;
	return 0;
}

/* Opens our own envelope and seals it again with a fresh expiry: same id. */
static int requeue_one(struct submit *s, const uint8_t id[STORE_ID_LEN], const struct requeue_item *it,
		       uint64_t ttl_ms, struct core_error *err)
{
	const struct config *cfg = peers_config(s->peers);
	const struct peer *p = peers_find(s->peers, it->recipient);
	struct envelope_opened o;
	uint8_t *env = NULL;
	size_t env_len = 0;

	if (!p)
		return core_set_error(err, LIMES_E_UNKNOWN_PEER, "to", "recipient '%s' is no longer configured",
				      it->recipient);
	if (it->envelope_len == 0)
		return core_set_error(err, LIMES_E_NOT_REQUEUEABLE, "id",
				      "the body was purged after its retention period: submit it anew");
	int rc = envelope_reopen_own(s->me, peer_crypto(p), it->envelope, it->envelope_len, cfg->max_frame_bytes, &o);
	/* sealed to the key a reload replaced: reopen with that one, re-seal
	 * below to the current key */
	if (rc < 0 && peer_crypto_previous(p))
		rc = envelope_reopen_own(s->me, peer_crypto_previous(p), it->envelope, it->envelope_len,
					 cfg->max_frame_bytes, &o);
	/* written before a rotation of our key or its: any pair of keys we hold */
	if (rc < 0)
		rc = rotation_open_stored(s->rotation, s->peers, s->me, it->recipient, it->envelope, it->envelope_len,
					  true, &o);
	if (rc < 0)
		return core_set_error(err, LIMES_E_INTERNAL, NULL, "cannot reopen the stored envelope: %s",
				      limes_strerror(rc));
	struct wire_header h = o.header;
	/* sealed alone, signed alone: a v1 envelope, whatever batch it came from */
	h.version_major = WIRE_VERSION_MAJOR;
	uint64_t now = clock_now_ms();
	h.created_ms = now;
	h.expires_ms = now + (ttl_ms ? ttl_ms : cfg->default_ttl_ms);
	rc = core_seal(s, p, &h, o.body, o.body_len, &env, &env_len);
	envelope_opened_clear(&o);
	if (rc < 0)
		return core_set_error(err, LIMES_E_INTERNAL, NULL, "cannot seal the message: %s", limes_strerror(rc));
	rc = store_delivery_requeue(s->store, id, it->recipient, env, env_len, h.expires_ms);
	free(env);
	if (rc == 0)
		rc = audit_requeued(commit_audit(s->commit), s->acting_client, id, it->recipient);
	if (rc < 0)
		return core_store_refusal(s->store, rc, err);
	return 0;
}

int submit_requeue_for(struct submit *s, const char *client, const uint8_t id[STORE_ID_LEN],
		       const char *recipient, uint64_t ttl_ms, int *requeued, struct core_error *err)
{
	int rc;

	s->acting_client = client;
	rc = submit_requeue(s, id, recipient, ttl_ms, requeued, err);
	s->acting_client = NULL;
	return rc;
}

/* The message was addressed to a name no longer configured (a misspelt
 * section, fixed by the operator): the same key under the right name.
 * Re-opened as sealed to the old name, sealed again to `to`, queued. */
static int readdress(struct submit *s, const uint8_t id[STORE_ID_LEN], const struct requeue_ctx *c, const char *to,
		     uint64_t ttl_ms, struct core_error *err)
{
	const struct config *cfg = peers_config(s->peers);
	const struct peer *p = peers_find(s->peers, to);
	struct envelope_peer *old = NULL;
	struct envelope_opened o;
	uint8_t *env = NULL;
	size_t env_len = 0;
	int rc;

	if (!p)
		return core_set_error(err, LIMES_E_UNKNOWN_PEER, "to", "recipient '%s' is not a configured peer", to);
	old = envelope_peer_new(s->me, &peer_conf(p)->key, c->stranded_to);
	if (!old)
		return core_set_error(err, LIMES_E_NOMEM, NULL, "out of memory");
	rc = envelope_reopen_own(s->me, old, c->stranded_env, c->stranded_len, cfg->max_frame_bytes, &o);
	envelope_peer_destroy(&old);
	if (rc < 0)
		return core_set_error(err, LIMES_E_NOTFOUND, "to",
				      "the message was for '%s', sealed to a key that is not %s's: it cannot be moved",
				      c->stranded_to, to);
	struct wire_header h = o.header;
	/* sealed alone, signed alone: a v1 envelope, whatever batch it came from */
	h.version_major = WIRE_VERSION_MAJOR;
	uint64_t now = clock_now_ms();
	snprintf(h.recipient, sizeof(h.recipient), "%s", to);
	h.created_ms = now;
	h.expires_ms = now + (ttl_ms ? ttl_ms : cfg->default_ttl_ms);
	rc = core_seal(s, p, &h, o.body, o.body_len, &env, &env_len);
	envelope_opened_clear(&o);
	if (rc < 0)
		return core_set_error(err, LIMES_E_INTERNAL, NULL, "cannot seal the message: %s", limes_strerror(rc));
	struct store_delivery d = { .recipient = to, .next_hop = peer_next_hop(p), .envelope = env,
				    .envelope_len = env_len };
	rc = store_delivery_readdress(s->store, id, c->stranded_to, &d, h.expires_ms);
	free(env);
	if (rc < 0)
		return core_store_refusal(s->store, rc, err);
	char hex[2 * STORE_ID_LEN + 1];
	encode_hex(hex, sizeof(hex), id, STORE_ID_LEN);
	log_info("msg=%s event=readdressed from=%s to=%s", hex, c->stranded_to, to);
	return 0;
}

int submit_requeue(struct submit *s, const uint8_t id[STORE_ID_LEN], const char *recipient, uint64_t ttl_ms,
		   int *requeued, struct core_error *err)
{
	return requeue_states(s, id, recipient, ttl_ms, false, requeued, err);
}

int requeue_states(struct submit *s, const uint8_t id[STORE_ID_LEN], const char *recipient, uint64_t ttl_ms,
		   bool delivered_too, int *requeued, struct core_error *err)
{
	struct requeue_ctx c = { .peers = s->peers, .recipient = recipient };
	int rc;

	*requeued = 0;
	memset(err, 0, sizeof(*err));
	if (ttl_ms > peers_config(s->peers)->max_ttl_ms) {
		rc = core_set_error(err, LIMES_E_RANGE, "ttl_s", "ttl exceeds the maximum");
		goto out;
	}
	rc = store_message_get(s->store, id, collect, &c);
	if (c.nomem) {
		rc = core_store_refusal(s->store, LIMES_E_NOMEM, err);
		goto out;
	}
	if (rc >= 0 && c.n == 0 && recipient && c.stranded == 1) {
		rc = commit_stage(s->commit, COMMIT_OUTBOX);
		if (rc < 0) {
			core_store_refusal(s->store, rc, err);
			goto out;
		}
		rc = readdress(s, id, &c, recipient, ttl_ms, err);
		if (rc == 0)
			*requeued = 1;
		goto out;
	}
	if (rc == LIMES_E_NOTFOUND || (rc >= 0 && c.n == 0)) {
		rc = core_set_error(err, LIMES_E_NOTFOUND, recipient ? "to" : "id", "no such message%s",
				    recipient ? " for that recipient" : "");
		goto out;
	}
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		goto out;
	}
	rc = commit_stage(s->commit, COMMIT_OUTBOX);
	if (rc == 0)
		rc = store_mark(s->store);
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		goto out;
	}
	for (size_t i = 0; i < c.n && rc == 0; i++) {
		if (c.items[i].state != DELIVERY_EXPIRED && c.items[i].state != DELIVERY_REJECTED &&
		    !(delivered_too && c.items[i].state == DELIVERY_DELIVERED))
			continue;
		rc = requeue_one(s, id, &c.items[i], ttl_ms, err);
		if (rc == 0)
			(*requeued)++;
	}
	if (rc == 0 && *requeued == 0)
		rc = core_set_error(err, LIMES_E_NOT_REQUEUEABLE, "id",
				    "only expired or rejected deliveries can be re-queued");
	if (rc < 0) {
		store_mark_undo(s->store);
		*requeued = 0;
		goto out;
	}
	rc = store_mark_keep(s->store);
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		*requeued = 0;
		goto out;
	}
	char hex[2 * STORE_ID_LEN + 1];
	if (encode_hex(hex, sizeof(hex), id, STORE_ID_LEN) < 0)
		hex[0] = '\0'; /* cannot happen: the buffer fits */
	log_info("msg=%s event=requeued count=%d", hex, *requeued);
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.items[i].envelope);
	free(c.stranded_env);
	return rc;
}
