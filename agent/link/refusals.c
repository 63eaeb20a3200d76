/*
 * The trail's record of what the links refuse, bounded per peer: a
 * neighbour sending garbage must not grow the audit trail without limit.
 * Each peer gets REFUSALS_RECORDED `refused` entries of its own per
 * REFUSALS_WINDOW_MS; further refusals in that window are counted and, when
 * the window ends (or the agent stops), written as one `refused` entry with
 * their count (docs/audit.md). Owns the per-peer windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "proto/err.h"

#define REFUSALS_RECORDED 10
#define REFUSALS_WINDOW_MS 60000

struct refusal_window {
	char peer[CONFIG_ID_MAX + 1];
	uint64_t start_ms;            /* 0: no window open */
	unsigned recorded;            /* entries of their own in this window */
	uint64_t counted;             /* refusals beyond those, not recorded yet */
	uint64_t first_counted_ms, last_counted_ms;
	char reason[48];              /* of the last one counted */
	char detail[96];
};

struct link_refusals {
	struct refusal_window *w;
	size_t n;
};

static struct refusal_window *window_of(struct link_refusals *R, const char *peer)
{
	for (size_t i = 0; i < R->n; i++)
		if (strcmp(R->w[i].peer, peer) == 0)
			return &R->w[i];
	/* one per configured peer that ever sent us something refused */
	struct refusal_window *grown = realloc(R->w, (R->n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	R->w = grown;
	struct refusal_window *w = &R->w[R->n++];
	memset(w, 0, sizeof(*w));
	snprintf(w->peer, sizeof(w->peer), "%s", peer);
	return w;
}

/* Writes the window's count as one entry and closes the window. */
static void write_summary(struct links *L, struct refusal_window *w)
{
	char detail[256];
	int rc;

	if (w->counted) {
		snprintf(detail, sizeof(detail),
			 "%llu more refusals in %.1f s not recorded one by one (at most %d a peer each %d s); last: %s",
			 (unsigned long long)w->counted, (double)(w->last_counted_ms - w->first_counted_ms) / 1000.0,
			 REFUSALS_RECORDED, REFUSALS_WINDOW_MS / 1000, w->detail);
		rc = link_stage(L, 0);
		if (rc == 0)
			rc = audit_refused_count(commit_audit(L->deps.commit), w->peer, w->reason, w->counted, detail);
		if (rc < 0)
			log_error("peer=%s event=audit_failed what=refused_count count=%llu reason=\"%s\"", w->peer,
				  (unsigned long long)w->counted, limes_strerror(rc));
		else
			log_info("peer=%s event=refusals_summarised count=%llu", w->peer, (unsigned long long)w->counted);
	}
	w->start_ms = 0;
	w->recorded = 0;
	w->counted = 0;
}

int link_refusal_record(struct links *L, const char *peer, const uint8_t *id, const char *reason,
			const char *detail)
{
	struct refusal_window *w = window_of(L->refusals, peer);
	uint64_t now = clock_now_ms();
	int rc;

	if (!w)
		return LIMES_E_NOMEM;
	if (w->start_ms && now >= w->start_ms + REFUSALS_WINDOW_MS)
		write_summary(L, w);
	if (!w->start_ms)
		w->start_ms = now;
	if (w->recorded < REFUSALS_RECORDED) {
		w->recorded++;
		rc = link_stage(L, 0);
		return rc ? rc : audit_refused(commit_audit(L->deps.commit), peer, id, reason, detail);
	}
	if (!w->counted)
		w->first_counted_ms = now;
	w->counted++;
	w->last_counted_ms = now;
	snprintf(w->reason, sizeof(w->reason), "%s", reason);
	snprintf(w->detail, sizeof(w->detail), "%s", detail);
	return 0;
}

void link_refusals_flush(struct links *L, bool all)
{
	struct link_refusals *R = L->refusals;
	uint64_t now = clock_now_ms();

	for (size_t i = 0; R && i < R->n; i++)
		if (R->w[i].start_ms && (all || now >= R->w[i].start_ms + REFUSALS_WINDOW_MS))
			write_summary(L, &R->w[i]);
}

struct link_refusals *link_refusals_new(void)
{
	return calloc(1, sizeof(struct link_refusals));
}

void link_refusals_free(struct link_refusals **R)
{
	if (!R || !*R)
		return;
	free((*R)->w);
	free(*R);
	*R = NULL;
}
