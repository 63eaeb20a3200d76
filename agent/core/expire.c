/*
 * Expiry: deliveries whose TTL passed undelivered are marked expired in the
 * turn's commit, each counted against its recipient and logged by id, so an
 * operator can find and re-queue them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "proto/err.h"
#include "core/core.h"
#include "core/events.h"
#include "crypto/encode.h"
#include "proto/schema.h"

struct expire_ctx {
	struct peers *peers;
	uint64_t now_ms;
	struct store_expired *done;  /* collected for their audit entries */
	size_t n, cap;
	bool nomem;
};

static void on_expired(void *arg, const struct store_expired *e)
{
	struct expire_ctx *x = arg;
	struct peer *p = peers_find(x->peers, e->recipient);
	char hex[2 * STORE_ID_LEN + 1];

	if (p)
		peer_count(p, PEER_EXPIRED, 1);
	if (encode_hex(hex, sizeof(hex), e->id, STORE_ID_LEN) < 0)
		hex[0] = '\0'; /* cannot happen: the buffer fits */
	/* type 30 (key rotation through a relay) is no message type: its number */
	char number[16];
	const char *type = schema_type_name(e->type);
	if (!type) {
		snprintf(number, sizeof(number), "%d", e->type);
		type = number;
	}
	events_add(peers_events(x->peers), x->now_ms, "expired", e->recipient, hex, "ttl", type);
	log_info("peer=%s msg=%s type=%s event=expired via=%s", e->recipient, hex, type, e->next_hop);
	/* the callback may not call into the store: entries are written after */
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct store_expired *grown = realloc(x->done, cap * sizeof(*grown));
		if (!grown) {
			x->nomem = true;
			return;
		}
		x->done = grown;
		x->cap = cap;
	}
	x->done[x->n++] = *e;
}

int core_expire(struct peers *peers, struct store *store, struct commit *commit, uint64_t now_ms)
{
	struct expire_ctx x = { .peers = peers, .now_ms = now_ms };
	struct audit *audit = commit_audit(commit);
	/* asked first, so an idle agent does not commit once a second */
	int rc = store_expire_due(store, now_ms);
	int count;

	if (rc <= 0)
		return rc;
	rc = commit_stage(commit, 0);
	if (rc < 0)
		return rc;
	/* a mark, so expiries whose entries cannot be written are undone too */
	rc = store_mark(store);
	if (rc < 0)
		return rc;
	count = store_expire(store, now_ms, on_expired, &x);
	rc = count < 0 ? count : 0;
	if (rc == 0 && audit && x.nomem)
		rc = LIMES_E_NOMEM;
	for (size_t i = 0; rc == 0 && i < x.n; i++) {
		struct store_expired *e = &x.done[i];
		rc = audit_expired(audit, e->next_hop, e->recipient, e->id, e->type);
	}
	free(x.done);
	if (rc < 0) {
		store_mark_undo(store);
		return rc;
	}
	rc = store_mark_keep(store);
	return rc < 0 ? rc : count;
}
