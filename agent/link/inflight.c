/*
 * The deliveries a link has sent and not yet seen receipted: an
 * open-addressing hash keyed by (message id, recipient), capacity a power of
 * two at least twice the window, deletion by backward shift so probing never
 * needs tombstones. Memory only: after a restart the store makes every
 * unreceipted delivery due again.
 */
#include "link_int.h"

#include <stdio.h>
#include <string.h>

#include "proto/idhash.h"
#include "proto/strcopy.h"

static size_t slot_of(const struct outlink *ol, const uint8_t id[16], const char *recipient)
{
	uint64_t h = id_hash(id); /* not the id's first bytes: they are its time */
	for (const char *p = recipient; *p; p++)
		h = h * 31 + (unsigned char)*p;
	return (size_t)(h & (ol->inflight_cap - 1));
}

struct inflight *link_inflight_find(struct outlink *ol, const uint8_t id[16], const char *recipient)
{
	size_t i = slot_of(ol, id, recipient);
	for (size_t n = 0; n < ol->inflight_cap; n++, i = (i + 1) & (ol->inflight_cap - 1)) {
		struct inflight *f = &ol->inflight[i];
		if (!f->used)
			return NULL;
		if (memcmp(f->id, id, 16) == 0 && strcmp(f->recipient, recipient) == 0)
			return f;
	}
	return NULL;
}

struct inflight *link_inflight_add(struct outlink *ol, const uint8_t id[16], const char *recipient)
{
	size_t i = slot_of(ol, id, recipient);
	for (size_t n = 0; n < ol->inflight_cap; n++, i = (i + 1) & (ol->inflight_cap - 1)) {
		struct inflight *f = &ol->inflight[i];
		if (!f->used) {
			f->used = true;
			memcpy(f->id, id, 16);
			str_copy(f->recipient, sizeof(f->recipient), recipient);
			ol->n_inflight++;
			return f;
		}
	}
	return NULL;
}

/* Removes f keeping linear probing intact (backward shift). */
void link_inflight_remove(struct outlink *ol, struct inflight *f)
{
	size_t mask = ol->inflight_cap - 1;
	size_t i = (size_t)(f - ol->inflight);
	size_t j = i;

	ol->inflight[i].used = false;
	ol->n_inflight--;
	for (;;) {
		j = (j + 1) & mask;
		if (!ol->inflight[j].used)
			break;
		size_t k = slot_of(ol, ol->inflight[j].id, ol->inflight[j].recipient);
		/* can entry j move to the hole at i? */
		bool between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
		if (between)
			continue;
		ol->inflight[i] = ol->inflight[j];
		ol->inflight[j].used = false;
		i = j;
	}
}

void link_inflight_receipted(struct outlink *ol, const struct inflight *fl, uint64_t now)
{
	ol->receipt_progress_ms = now;
	if (fl->sent_ms > ol->receipted_sent_ms)
		ol->receipted_sent_ms = fl->sent_ms;
}

/* Sent more than after_ms ago, and either lost or the link stalled. A
 * neighbour answers what it reads in the order it was sent, so an entry sent
 * before one already receipted was lost (dropped, or refused unanswered);
 * and no receipt for after_ms means the link stalled. An entry still queued
 * at a receiver that is answering others (a long window draining a backlog,
 * the last of it reached seconds after it was sent) is neither: sending it
 * again would only queue a duplicate behind it. A relayed delivery's receipt
 * may come after later direct ones: it is sent again after after_ms, as
 * before this rule. */
bool link_inflight_overdue(const struct outlink *ol, const struct inflight *fl, uint64_t now, uint64_t after_ms)
{
	if (now <= fl->sent_ms + after_ms)
		return false;
	return fl->sent_ms < ol->receipted_sent_ms || now > ol->receipt_progress_ms + after_ms;
}

void link_inflight_clear(struct outlink *ol)
{
	/* an empty table is left untouched: its pages (half a MiB at the default
	 * window) stay unmapped until a drain uses them */
	if (ol->n_inflight)
		memset(ol->inflight, 0, ol->inflight_cap * sizeof(*ol->inflight));
	ol->n_inflight = 0;
}
