/*
 * The ring of recent events (see events.h): a fixed array written round,
 * addressed by sequence number, so a reader that fell behind learns how
 * many it missed instead of reading stale slots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/events.h"

struct events {
	struct event *ring;            /* capacity slots; seq s lives at (s - 1) % capacity */
	size_t capacity;
	uint64_t last;                 /* newest seq, 0 none */
};

struct events *events_new(size_t capacity)
{
	struct events *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->capacity = capacity ? capacity : EVENTS_CAPACITY;
	e->ring = calloc(e->capacity, sizeof(*e->ring));
	if (!e->ring) {
		free(e);
		return NULL;
	}
	return e;
}

void events_destroy(struct events **pe)
{
	if (!pe || !*pe)
		return;
	free((*pe)->ring);
	free(*pe);
	*pe = NULL;
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

uint64_t events_add(struct events *e, uint64_t at_ms, const char *kind, const char *peer, const char *msg,
		    const char *reason, const char *detail)
{
	if (!e)
		return 0;
	uint64_t seq = ++e->last;
	struct event *ev = &e->ring[(seq - 1) % e->capacity];
	ev->seq = seq;
	ev->at_ms = at_ms;
	copy(ev->kind, sizeof(ev->kind), kind);
	copy(ev->peer, sizeof(ev->peer), peer);
	copy(ev->msg, sizeof(ev->msg), msg);
	copy(ev->reason, sizeof(ev->reason), reason);
	copy(ev->detail, sizeof(ev->detail), detail);
	return seq;
}

size_t events_after(const struct events *e, uint64_t after, struct event *out, size_t max, uint64_t *missed)
{
	uint64_t oldest = e->last > e->capacity ? e->last - e->capacity + 1 : 1;
	uint64_t from = after + 1;
	size_t n = 0;

	if (missed)
		*missed = from < oldest && e->last >= oldest ? oldest - from : 0;
	if (from < oldest)
		from = oldest;
	for (uint64_t s = from; s <= e->last && n < max; s++)
		out[n++] = e->ring[(s - 1) % e->capacity];
	return n;
}

uint64_t events_last_seq(const struct events *e)
{
	return e->last;
}
