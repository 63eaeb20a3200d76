/*
 * The per-peer history ring (see history.h): each followed peer has a
 * fixed ring of samples and the counters it had at its last sample, from
 * which the next sample's per-interval counts are the growth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/history.h"
#include "proto/err.h"

struct series {
	char peer[CONFIG_ID_MAX + 1];
	struct history_point ring[HISTORY_POINTS]; /* oldest at (head + HISTORY_POINTS - count) % N */
	size_t head, count;                        /* next slot to write, samples held */
	uint64_t last_sent, last_received, last_refused;
	bool seen;                                 /* in the sample being recorded */
};

struct history {
	uint64_t interval_ms;
	uint64_t last_sample_ms;                   /* 0: never sampled */
	struct series **series;
	size_t n, cap;
};

struct history *history_new(uint64_t interval_ms)
{
	struct history *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->interval_ms = interval_ms ? interval_ms : 60000;
	return h;
}

void history_destroy(struct history **ph)
{
	if (!ph || !*ph)
		return;
	for (size_t i = 0; i < (*ph)->n; i++)
		free((*ph)->series[i]);
	free((*ph)->series);
	free(*ph);
	*ph = NULL;
}

uint64_t history_interval_ms(const struct history *h)
{
	return h->interval_ms;
}

static struct series *find_or_add(struct history *h, const char *peer)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->series[i]->peer, peer) == 0)
			return h->series[i];
	if (h->n >= HISTORY_PEERS_MAX)
		return NULL;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 8;
		struct series **grown = realloc(h->series, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		h->series = grown;
		h->cap = cap;
	}
	struct series *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	h->series[h->n++] = s;
	return s;
}

/* Growth of a cumulative counter; a counter that went back restarted from 0. */
static uint32_t growth(uint64_t now, uint64_t *last)
{
	uint64_t d = now >= *last ? now - *last : now;
	*last = now;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

int history_record(struct history *h, uint64_t now_ms, const struct history_input *in, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < h->n; i++)
		h->series[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct series *s = find_or_add(h, in[i].peer);
		if (!s) {
			rc = LIMES_E_NOMEM;
			continue;
		}
		s->seen = true;
		struct history_point *p = &s->ring[s->head];
		p->t_ms = now_ms;
		p->sent = growth(in[i].sent, &s->last_sent);
		p->received = growth(in[i].received, &s->last_received);
		p->refused = growth(in[i].refused, &s->last_refused);
		p->queued = in[i].has_queued ? (int64_t)in[i].queued : -1;
		p->rtt_ms = in[i].has_rtt ? in[i].rtt_ms : -1.0;
		s->head = (s->head + 1) % HISTORY_POINTS;
		if (s->count < HISTORY_POINTS)
			s->count++;
	}
	/* peers a reload removed leave the charts */
	size_t kept = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (h->series[i]->seen)
			h->series[kept++] = h->series[i];
		else
			free(h->series[i]);
	}
	h->n = kept;
	h->last_sample_ms = now_ms;
	return rc;
}

int history_sample(struct history *h, struct peers *peers, struct store *store, uint64_t now_ms)
{
	if (h->last_sample_ms && now_ms < h->last_sample_ms + h->interval_ms)
		return 0;
	size_t n = peers_count(peers);
	struct history_input *in = calloc(n ? n : 1, sizeof(*in));
	if (!in)
		return LIMES_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		struct peer *p = peers_at(peers, i);
		const struct peer_counters *c = peer_counters(p);
		in[i].peer = peer_id(p);
		in[i].sent = c->n[PEER_SENT];
		in[i].received = c->n[PEER_RECEIVED];
		in[i].refused = c->n[PEER_REFUSED];
		if (peer_is_direct(p)) {
			/* counted afresh, not through peer_outbox_stats: its cache
			 * would then serve this figure to /v1/peers for a while */
			uint64_t oldest;
			in[i].has_queued = store_outbox_stats(store, peer_id(p), &in[i].queued, &oldest) == 0;
			in[i].has_rtt = peer_link(p)->has_rtt;
			in[i].rtt_ms = peer_link(p)->rtt_ms;
		}
	}
	int rc = history_record(h, now_ms, in, n);
	free(in);
	return rc < 0 ? rc : 1;
}

size_t history_peers(const struct history *h)
{
	return h->n;
}

const char *history_peer(const struct history *h, size_t i)
{
	return i < h->n ? h->series[i]->peer : NULL;
}

size_t history_points(const struct history *h, size_t i, uint64_t since_ms, struct history_point *out, size_t max)
{
	if (i >= h->n)
		return 0;
	const struct series *s = h->series[i];
	size_t first = (s->head + HISTORY_POINTS - s->count) % HISTORY_POINTS;
	size_t skip = 0, n = 0;

	/* oldest first: skip those before since_ms, then those beyond max of the newest */
	while (skip < s->count && s->ring[(first + skip) % HISTORY_POINTS].t_ms < since_ms)
		skip++;
	if (s->count - skip > max)
		skip = s->count - max;
	for (size_t k = skip; k < s->count; k++)
		out[n++] = s->ring[(first + k) % HISTORY_POINTS];
	return n;
}
