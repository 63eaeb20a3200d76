/*
 * Expiry: deliveries whose TTL passed undelivered are marked expired in the
 * turn's commit, each counted against its recipient and logged by id, so an
 * operator can find and re-queue them.
 */
#include "base/log.h"
#include "core/core.h"
#include "core/events.h"
#include "crypto/encode.h"
#include "proto/schema.h"

struct expire_ctx {
	struct peers *peers;
	uint64_t now_ms;
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
	events_add(peers_events(x->peers), x->now_ms, "expired", e->recipient, hex, "ttl", schema_type_name(e->type));
	log_info("peer=%s msg=%s type=%s event=expired via=%s", e->recipient, hex, schema_type_name(e->type),
		 e->next_hop);
}

int core_expire(struct peers *peers, struct store *store, struct commit *commit, uint64_t now_ms)
{
	struct expire_ctx x = { .peers = peers, .now_ms = now_ms };
	/* asked first, so an idle agent does not commit once a second */
	int rc = store_expire_due(store, now_ms);

	if (rc <= 0)
		return rc;
	rc = commit_stage(commit, 0);
	if (rc < 0)
		return rc;
	return store_expire(store, now_ms, on_expired, &x);
}
