/*
 * Sending delivered messages again after a neighbour restored an older
 * copy of its store (docs/operations.md "Backup and restore"): what we
 * delivered to it since the copy is gone from its inbox and its seen set,
 * and it holds no receipt we sent, so nothing else would bring it back.
 * Each delivery is re-queued like a rejected one (same id, fresh envelope,
 * current key): the neighbour accepts what it lost and answers what its
 * copy still holds as a duplicate, so its inbox holds each message once.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "core_int.h"
#include "crypto/encode.h"
#include "proto/err.h"

/* When a next hop last had a resend that re-queued (RESEND_EVERY_MS). */
struct resend_served {
	char next_hop[CONFIG_ID_MAX + 1];
	uint64_t at_us;               /* monotonic */
};

static struct resend_served *served_of(struct submit *s, const char *next_hop)
{
	for (size_t i = 0; i < s->n_resend_served; i++)
		if (strcmp(s->resend_served[i].next_hop, next_hop) == 0)
			return &s->resend_served[i];
	struct resend_served *more = realloc(s->resend_served, (s->n_resend_served + 1) * sizeof(*more));
	if (!more)
		return NULL;
	s->resend_served = more;
	struct resend_served *r = &more[s->n_resend_served++];
	snprintf(r->next_hop, sizeof(r->next_hop), "%s", next_hop);
	r->at_us = 0;
	return r;
}

struct found {
	uint8_t (*id)[STORE_ID_LEN];
	char (*to)[CONFIG_ID_MAX + 1];
	size_t n, cap;
};

/* Copies each row out: the store lends it for the call only. */
static int collect(void *arg, const uint8_t id[STORE_ID_LEN], const char *recipient)
{
	struct found *f = arg;
	if (f->n == f->cap)
		return 1;
	memcpy(f->id[f->n], id, STORE_ID_LEN);
	snprintf(f->to[f->n], sizeof(f->to[f->n]), "%s", recipient);
	f->n++;
	return 0;
}

int submit_resend_delivered(struct submit *s, const char *by, const char *next_hop, uint64_t since_ms,
			    uint64_t until_ms, size_t limit, bool dry_run, size_t *count, bool *more,
			    struct core_error *err)
{
	struct found f = { 0 };
	struct resend_served *served = NULL;
	uint64_t now_us = clock_mono_us();
	size_t skipped = 0;
	int rc;

	*count = 0;
	*more = false;
	memset(err, 0, sizeof(*err));
	if (limit == 0 || limit > RESEND_BATCH_MAX)
		return core_set_error(err, LIMES_E_RANGE, "limit", "limit must be 1..%d", RESEND_BATCH_MAX);
	if (!peers_find(s->peers, next_hop))
		return core_set_error(err, LIMES_E_UNKNOWN_PEER, "peer", "'%s' is not a configured peer", next_hop);
	if (until_ms <= since_ms)
		return core_set_error(err, LIMES_E_RANGE, "until", "until (%llu) must be after since (%llu)",
				      (unsigned long long)until_ms, (unsigned long long)since_ms);
	if (!dry_run) {
		if (!(served = served_of(s, next_hop)))
			return core_store_refusal(s->store, LIMES_E_NOMEM, err);
		uint64_t next_us = served->at_us + (uint64_t)RESEND_EVERY_MS * 1000;
		if (served->at_us && now_us < next_us) {
			uint64_t wait_ms = (next_us - now_us + 999) / 1000;
			return core_set_error(err, LIMES_E_AGAIN, "peer",
					      "at most one resend to %s every %d ms (the limit a neighbour's own request "
					      "has too): try again in %llu ms",
					      next_hop, RESEND_EVERY_MS, (unsigned long long)wait_ms);
		}
	}
	/* one more than asked tells whether more remain */
	f.cap = limit + 1;
	f.id = calloc(f.cap, sizeof(*f.id));
	f.to = calloc(f.cap, sizeof(*f.to));
	if (!f.id || !f.to) {
		rc = core_store_refusal(s->store, LIMES_E_NOMEM, err);
		goto out;
	}
	rc = store_delivered_since(s->store, next_hop, since_ms, until_ms, f.cap, collect, &f);
	if (rc < 0) {
		core_store_refusal(s->store, rc, err);
		goto out;
	}
	rc = 0;
	*more = f.n > limit;
	if (f.n > limit)
		f.n = limit;
	if (dry_run) {
		*count = f.n;
		goto out;
	}
	served->at_us = now_us;
	s->acting_client = by;
	for (size_t i = 0; i < f.n; i++) {
		struct core_error one;
		int requeued = 0;
		int orc = requeue_states(s, f.id[i], f.to[i], 0, true, &requeued, &one);
		if (orc == 0) {
			*count += (size_t)requeued;
			continue;
		}
		char hex[2 * STORE_ID_LEN + 1];
		if (encode_hex(hex, sizeof(hex), f.id[i], STORE_ID_LEN) < 0)
			hex[0] = '\0';
		if (orc == LIMES_E_NOT_REQUEUEABLE || orc == LIMES_E_UNKNOWN_PEER || orc == LIMES_E_NOTFOUND ||
		    orc == LIMES_E_INTERNAL) {
			/* this one cannot go again; the others still can */
			skipped++;
			log_warn("peer=%s msg=%s to=%s event=resend_skipped reason=\"%s\"", next_hop, hex, f.to[i],
				 one.message);
			continue;
		}
		*err = one;
		rc = orc;
		break;
	}
	s->acting_client = NULL;
	log_info("peer=%s event=resend by=\"%s\" since_ms=%llu count=%zu skipped=%zu more=%s", next_hop, by,
		 (unsigned long long)since_ms, *count, skipped, *more ? "yes" : "no");
out:
	free(f.id);
	free(f.to);
	return rc;
}
