/*
 * The peer table: owns the config (swapped whole on reload) and one runtime
 * peer per configured peer: its pair key, its link health (written by the
 * link module through peer_link_*) and its counters. The next-hop rule and
 * the outbox figures' cache live here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "core/core.h"
#include "core/events.h"
#include "crypto/envelope.h"
#include "proto/err.h"

struct peer {
	const struct config_peer *conf;     /* borrowed from the table's config */
	struct envelope_peer *crypto;       /* owned */
	struct envelope_peer *previous;     /* owned: the key a reload replaced, or NULL */
	uint64_t previous_until_ms;         /* it verifies what the peer sent until then */
	struct envelope_peer *next;         /* owned: its adopted next key (rotation.c), or NULL */
	struct peer_rotation rotation;      /* what rotation.c learnt over the link */
	struct peer_link link;
	struct peer_counters counters;
	struct events *events;              /* the table's, for link changes */
	struct peer_accepts accepts;        /* what it said it accepts, over the link */
	/* outbox figures toward this next hop, cached when counting is slow */
	uint64_t stats_queued, stats_oldest_ms, stats_at_ms, stats_cost_ms;
	bool stats_valid;
};

struct peers {
	struct config *cfg;                 /* owned */
	const struct identity *me;          /* borrowed */
	struct peer *peers;                 /* one per cfg->peers[i], same order */
	size_t n;
	struct events *events;              /* owned: recent events for the console */
};

const char *link_state_name(enum link_state state)
{
	switch (state) {
	case LINK_DOWN: return "down";
	case LINK_CONNECTING: return "connecting";
	case LINK_UP: return "up";
	case LINK_DEGRADED: return "degraded";
	}
	return "unknown";
}

static void free_array(struct peer *peers, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		envelope_peer_destroy(&peers[i].crypto);
		envelope_peer_destroy(&peers[i].previous);
		envelope_peer_destroy(&peers[i].next);
	}
	free(peers);
}

/* Runtime peers for cfg, carrying over the figures of peers that stay with
 * the same key (old may be NULL). */
static struct peer *make_array(const struct config *cfg, const struct identity *me, const struct peer *old,
			       size_t n_old, char *err, size_t err_len)
{
	struct peer *peers = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*peers));

	if (!peers) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *cp = &cfg->peers[i];
		struct peer *p = &peers[i];
		const struct peer_key *previous = NULL;
		for (size_t j = 0; j < n_old; j++) {
			if (strcmp(old[j].conf->id, cp->id) != 0)
				continue;
			if (memcmp(old[j].conf->key.key_id, cp->key.key_id, sizeof(cp->key.key_id)) == 0) {
				p->link = old[j].link;
				p->counters = old[j].counters;
				p->accepts = old[j].accepts;
				if (old[j].previous) {
					previous = envelope_peer_key(old[j].previous);
					p->previous_until_ms = old[j].previous_until_ms;
				}
			} else {
				/* a replaced key: what was sealed to it can still be
				 * re-opened and re-sealed, and what it signed is
				 * accepted for the overlap */
				previous = &old[j].conf->key;
				p->previous_until_ms = clock_now_ms() + cfg->key_overlap_ms;
			}
			break;
		}
		p->conf = cp;
		/* our own key under a neighbour's name: every envelope "from" it
		 * would be one we could have written ourselves */
		if (memcmp(identity_public(me)->key_id, cp->key.key_id, sizeof(cp->key.key_id)) == 0) {
			snprintf(err, err_len, "%s:%u: peer \"%s\": its key is this agent's own key", cfg->path,
				 cp->line, cp->id);
			free_array(peers, i);
			return NULL;
		}
		p->crypto = envelope_peer_new(me, &cp->key, cp->id);
		if (p->crypto && previous) {
			p->previous = envelope_peer_new(me, previous, cp->id);
			if (!p->previous)
				envelope_peer_destroy(&p->crypto);
		}
		if (!p->crypto) {
			snprintf(err, err_len, "%s:%u: peer \"%s\": cannot derive a shared key from its key", cfg->path,
				 cp->line, cp->id);
			free_array(peers, i + 1);
			return NULL;
		}
	}
	return peers;
}

struct peers *peers_new(struct config **cfg, const struct identity *me, char *err, size_t err_len)
{
	struct peers *t = calloc(1, sizeof(*t));

	if (!t) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	t->me = me;
	t->events = events_new(EVENTS_CAPACITY);
	t->peers = t->events ? make_array(*cfg, me, NULL, 0, err, err_len) : NULL;
	if (!t->peers) {
		if (!t->events)
			snprintf(err, err_len, "out of memory");
		events_destroy(&t->events);
		free(t);
		return NULL;
	}
	t->cfg = *cfg;
	t->n = t->cfg->n_peers;
	*cfg = NULL;
	for (size_t i = 0; i < t->n; i++)
		t->peers[i].events = t->events;
	return t;
}

void peers_destroy(struct peers **pt)
{
	if (!pt || !*pt)
		return;
	free_array((*pt)->peers, (*pt)->n);
	config_destroy(&(*pt)->cfg);
	events_destroy(&(*pt)->events);
	free(*pt);
	*pt = NULL;
}

int peers_reload(struct peers *t, struct config **cfg, char *err, size_t err_len)
{
	struct peer *peers = make_array(*cfg, t->me, t->peers, t->n, err, err_len);

	if (!peers)
		return LIMES_E_CONFIG;
	free_array(t->peers, t->n);
	config_destroy(&t->cfg);
	t->cfg = *cfg;
	t->peers = peers;
	t->n = t->cfg->n_peers;
	*cfg = NULL;
	for (size_t i = 0; i < t->n; i++)
		t->peers[i].events = t->events;
	return 0;
}

struct events *peers_events(struct peers *t)
{
	return t->events;
}

const struct config *peers_config(const struct peers *t)
{
	return t->cfg;
}

size_t peers_count(const struct peers *t)
{
	return t->n;
}

struct peer *peers_at(struct peers *t, size_t i)
{
	return i < t->n ? &t->peers[i] : NULL;
}

struct peer *peers_find(struct peers *t, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->peers[i].conf->id, id) == 0)
			return &t->peers[i];
	return NULL;
}

struct peer *peers_find_by_box_key(struct peers *t, const uint8_t box_pk[32])
{
	for (size_t i = 0; i < t->n; i++)
		if (peer_is_direct(&t->peers[i]) &&
		    (memcmp(peer_key_in_force(&t->peers[i])->box_pk, box_pk, 32) == 0 ||
		     (t->peers[i].next && memcmp(envelope_peer_key(t->peers[i].next)->box_pk, box_pk, 32) == 0)))
			return &t->peers[i];
	/* a replaced key is still admitted for its overlap, so that the peer
	 * can deliver what it signed before it learnt of the switch */
	uint64_t now = clock_now_ms();
	for (size_t i = 0; i < t->n; i++) {
		const struct peer *p = &t->peers[i];
		if (peer_is_direct(p) && p->previous && now <= p->previous_until_ms &&
		    memcmp(envelope_peer_key(p->previous)->box_pk, box_pk, 32) == 0)
			return &t->peers[i];
	}
	return NULL;
}

const struct config_peer *peer_conf(const struct peer *p)
{
	return p->conf;
}

const char *peer_id(const struct peer *p)
{
	return p->conf->id;
}

bool peer_is_direct(const struct peer *p)
{
	return p->conf->endpoint[0] != '\0';
}

const char *peer_next_hop(const struct peer *p)
{
	return p->conf->via[0] ? p->conf->via : p->conf->id;
}

const struct envelope_peer *peer_crypto(const struct peer *p)
{
	return p->crypto;
}

const struct envelope_peer *peer_crypto_for_key(const struct peer *p, const uint8_t key_id[8],
						uint64_t *valid_until_ms)
{
	*valid_until_ms = 0;
	if (memcmp(peer_key_in_force(p)->key_id, key_id, IDENTITY_KEY_ID_LEN) == 0)
		return p->crypto;
	/* an adopted next key signs once its owner switched to it */
	if (p->next && memcmp(envelope_peer_key(p->next)->key_id, key_id, IDENTITY_KEY_ID_LEN) == 0)
		return p->next;
	if (p->previous && memcmp(envelope_peer_key(p->previous)->key_id, key_id, IDENTITY_KEY_ID_LEN) == 0) {
		*valid_until_ms = p->previous_until_ms;
		return p->previous;
	}
	return NULL;
}

const struct peer_key *peer_key_in_force(const struct peer *p)
{
	return envelope_peer_key(p->crypto);
}

const struct peer_rotation *peer_rotation(const struct peer *p)
{
	return &p->rotation;
}

struct peer_rotation *peer_rotation_mut(struct peer *p)
{
	return &p->rotation;
}

const struct envelope_peer *peer_crypto_next(const struct peer *p)
{
	return p->next;
}

uint64_t peer_previous_until(const struct peer *p)
{
	return p->previous ? p->previous_until_ms : 0;
}

int peer_keys_set(struct peer *p, const struct identity *me, const struct peer_key *in_force,
		  const struct peer_key *previous, uint64_t previous_until_ms, const struct peer_key *next)
{
	struct envelope_peer *c = envelope_peer_new(me, in_force, p->conf->id);
	struct envelope_peer *prev = previous ? envelope_peer_new(me, previous, p->conf->id) : NULL;
	struct envelope_peer *nx = next ? envelope_peer_new(me, next, p->conf->id) : NULL;

	if (!c || (previous && !prev) || (next && !nx)) {
		envelope_peer_destroy(&c);
		envelope_peer_destroy(&prev);
		envelope_peer_destroy(&nx);
		return LIMES_E_KEY_FORMAT;
	}
	envelope_peer_destroy(&p->crypto);
	envelope_peer_destroy(&p->previous);
	envelope_peer_destroy(&p->next);
	p->crypto = c;
	p->previous = prev;
	p->previous_until_ms = prev ? previous_until_ms : 0;
	p->next = nx;
	return 0;
}

const struct envelope_peer *peer_crypto_previous(const struct peer *p)
{
	return p->previous;
}

struct peer *peers_find_by_key_id(struct peers *t, const uint8_t key_id[8])
{
	for (size_t i = 0; i < t->n; i++)
		if (memcmp(peer_key_in_force(&t->peers[i])->key_id, key_id, IDENTITY_KEY_ID_LEN) == 0)
			return &t->peers[i];
	return NULL;
}

const struct peer_link *peer_link(const struct peer *p)
{
	return &p->link;
}

const struct peer_counters *peer_counters(const struct peer *p)
{
	return &p->counters;
}

void peer_link_set_state(struct peer *p, enum link_state state, uint64_t now_ms)
{
	if (p->link.state == state)
		return;
	/* the console's feed: which way the link went and how long it had been as it was */
	char kind[EVENT_KIND_MAX], detail[96] = "";
	snprintf(kind, sizeof(kind), "link_%s", link_state_name(state));
	if (p->link.since_ms && now_ms >= p->link.since_ms)
		snprintf(detail, sizeof(detail), "was %s for %.1f s", link_state_name(p->link.state),
			 (double)(now_ms - p->link.since_ms) / 1000.0);
	events_add(p->events, now_ms, kind, p->conf->id, NULL, NULL, detail);
	if (state == LINK_UP && p->link.state != LINK_DEGRADED)
		p->link.up_since_ms = now_ms;
	/* figures measured on a link that went away say nothing of the next one */
	if (state == LINK_DOWN || state == LINK_CONNECTING)
		p->link.has_rtt = false;
	if (state == LINK_UP)
		p->link.reason[0] = '\0';
	p->link.state = state;
	p->link.since_ms = now_ms;
}

void peer_link_set_reason(struct peer *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->link.reason, sizeof(p->link.reason), fmt, ap);
	va_end(ap);
}

void peer_link_set_resend(struct peer *p, enum peer_resend r)
{
	p->link.resend = r;
}

const char *peer_resend_name(enum peer_resend r)
{
	switch (r) {
	case PEER_RESEND_ASKING: return "asking";
	case PEER_RESEND_NOT_ANSWERING: return "not_answering";
	case PEER_RESEND_DONE: return "done";
	default: return NULL;
	}
}

const struct peer_accepts *peer_accepts(const struct peer *p)
{
	return &p->accepts;
}

void peer_accepts_set(struct peer *p, const struct peer_accepts *acc)
{
	p->accepts = *acc;
}

void peer_link_heard(struct peer *p, uint64_t now_ms)
{
	p->link.last_heard_ms = now_ms;
}

void peer_link_set_protocol(struct peer *p, uint32_t version)
{
	p->link.protocol = version;
	if (version)
		p->link.protocol_kept = version;
}

uint32_t peer_build_protocol(const struct peer *p)
{
	return p->link.protocol ? p->link.protocol : p->link.protocol_kept;
}

void peer_link_measured(struct peer *p, double rtt_ms, double clock_offset_ms)
{
	/* the raw one, and when by both our clocks: the clock witness corrects
	 * it by any step of our wall clock since (clocktrust.c) */
	p->link.offset_last_ms = clock_offset_ms;
	p->link.measured_wall_ms = clock_now_ms();
	p->link.measured_mono_ms = clock_mono_us() / 1000;
	/* smoothed like TCP's SRTT, so one slow heartbeat does not swing it */
	if (!p->link.has_rtt) {
		p->link.rtt_ms = rtt_ms;
		p->link.clock_offset_ms = clock_offset_ms;
		p->link.has_rtt = true;
	} else {
		p->link.rtt_ms = 0.8 * p->link.rtt_ms + 0.2 * rtt_ms;
		p->link.clock_offset_ms = 0.8 * p->link.clock_offset_ms + 0.2 * clock_offset_ms;
	}
}

void peer_count(struct peer *p, enum peer_counter which, uint64_t n)
{
	if ((unsigned)which < PEER_COUNTERS)
		p->counters.n[which] += n;
}

int peer_outbox_stats(struct peer *p, struct store *store, uint64_t *queued, uint64_t *oldest_ms)
{
	uint64_t start = clock_now_ms();

	if (p->stats_valid && p->stats_cost_ms >= 10 && start - p->stats_at_ms < 50 * p->stats_cost_ms &&
	    start - p->stats_at_ms < 10000) {
		*queued = p->stats_queued;
		*oldest_ms = p->stats_oldest_ms;
		return 0;
	}
	/* a relayed peer's queue is its own messages, not its relay's */
	int rc = peer_is_direct(p) ? store_outbox_stats(store, p->conf->id, queued, oldest_ms)
				   : store_outbox_stats_recipient(store, p->conf->id, queued, oldest_ms);
	if (rc < 0)
		return rc;
	uint64_t end = clock_now_ms();
	p->stats_queued = *queued;
	p->stats_oldest_ms = *oldest_ms;
	p->stats_at_ms = end;
	p->stats_cost_ms = end - start;
	p->stats_valid = true;
	return 0;
}
