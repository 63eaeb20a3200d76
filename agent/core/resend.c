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

#include "base/log.h"
#include "core/core.h"
#include "core_int.h"
#include "crypto/encode.h"
#include "proto/err.h"

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
			    size_t limit, bool dry_run, size_t *count, bool *more, struct core_error *err)
{
	struct found f = { 0 };
	size_t skipped = 0;
	int rc;

	*count = 0;
	*more = false;
	memset(err, 0, sizeof(*err));
	if (limit == 0 || limit > RESEND_BATCH_MAX)
		return core_set_error(err, LIMES_E_RANGE, "limit", "limit must be 1..%d", RESEND_BATCH_MAX);
	if (!peers_find(s->peers, next_hop))
		return core_set_error(err, LIMES_E_UNKNOWN_PEER, "peer", "'%s' is not a configured peer", next_hop);
	/* one more than asked tells whether more remain */
	f.cap = limit + 1;
	f.id = calloc(f.cap, sizeof(*f.id));
	f.to = calloc(f.cap, sizeof(*f.to));
	if (!f.id || !f.to) {
		rc = core_store_refusal(s->store, LIMES_E_NOMEM, err);
		goto out;
	}
	rc = store_delivered_since(s->store, next_hop, since_ms, f.cap, collect, &f);
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
