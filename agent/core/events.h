/*
 * Recent events for the operators' console (GET /v1/events): link state
 * changes, envelopes refused and deliveries rejected with their reasons,
 * expiries, key offers. A fixed-size ring in memory: it survives nothing
 * and costs no disk; the log keeps the full record.
 *
 * The peer table owns one ring (peers_events()): the core appends link
 * changes and expiries, the link appends refusals and rejections, the API
 * reads. Everything runs on the loop thread.
 */
#ifndef LIMES_EVENTS_H
#define LIMES_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define EVENTS_CAPACITY 1024       /* events kept; older ones are overwritten */
#define EVENT_KIND_MAX 24
#define EVENT_PEER_MAX 65          /* CONFIG_ID_MAX and a NUL */
#define EVENT_MSG_MAX 33           /* 32 hex digits and a NUL */
#define EVENT_REASON_MAX 40
#define EVENT_DETAIL_MAX 160

/* One event. Strings are always NUL-terminated, "" when not applicable. */
struct event {
	uint64_t seq;                  /* 1, 2, 3...: the cursor of GET /v1/events?after= */
	uint64_t at_ms;                /* wall clock */
	char kind[EVENT_KIND_MAX];     /* "link_up", "link_down", "link_connecting", "link_degraded",
					* "refused", "rejected", "expired", "key_offer" */
	char peer[EVENT_PEER_MAX];
	char msg[EVENT_MSG_MAX];       /* message id in hex */
	char reason[EVENT_REASON_MAX]; /* a stable word: a reject reason name, "silent" */
	char detail[EVENT_DETAIL_MAX]; /* a sentence for a human */
};

struct events;

/* An empty ring holding the last `capacity` events (EVENTS_CAPACITY when
 * 0). NULL when out of memory. Caller owns it. */
struct events *events_new(size_t capacity);
/* Frees the ring; accepts NULL and nulls *events. */
void events_destroy(struct events **events);

/* Appends one event at at_ms; any string may be NULL for "" and is cut to
 * its field's size. Returns its sequence number. Accepts a NULL ring (then
 * does nothing and returns 0), so callers without one need no test. */
uint64_t events_add(struct events *events, uint64_t at_ms, const char *kind, const char *peer, const char *msg,
		    const char *reason, const char *detail);

/* Copies up to max events with seq > after, oldest first, into out (the
 * caller's array). *missed (may be NULL) gets how many events after `after`
 * were overwritten before they could be read. Returns the number copied. */
size_t events_after(const struct events *events, uint64_t after, struct event *out, size_t max, uint64_t *missed);
/* Sequence number of the newest event, 0 when none yet. */
uint64_t events_last_seq(const struct events *events);

#endif
