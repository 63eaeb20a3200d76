/*
 * Per-peer history for the console's charts (GET /v1/stats/history): one
 * sample per interval (a minute by default, [api] history_interval) of the
 * messages sent to, received from and refused from each peer during the
 * interval, its queue depth and its RTT. A fixed ring of HISTORY_POINTS
 * samples per peer in memory: a day at one a minute, surviving nothing and
 * costing no disk.
 *
 * The daemon owns it and samples it from its housekeeping timer
 * (history_sample); the API reads it. Loop thread only.
 */
#ifndef LIMES_HISTORY_H
#define LIMES_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct peers;
struct store;

#define HISTORY_POINTS 1440        /* samples kept per peer: a day of minutes */
#define HISTORY_PEERS_MAX 1024     /* peers followed; more are left out of the charts */

/* One sample of one peer. */
struct history_point {
	uint64_t t_ms;                 /* wall clock of the sample (end of its interval) */
	uint32_t sent;                 /* envelopes sent to it during the interval (re-sends included) */
	uint32_t received;             /* envelopes accepted from it */
	uint32_t refused;              /* envelopes from it we refused */
	int64_t queued;                /* deliveries queued toward it at t, -1 unknown (relayed peer) */
	double rtt_ms;                 /* smoothed RTT at t, negative when not measured */
};

/* What one sample reads of one peer: cumulative counters since start and
 * the figures of the moment. */
struct history_input {
	const char *peer;              /* borrowed for the call */
	uint64_t sent, received, refused;
	bool has_queued;
	uint64_t queued;
	bool has_rtt;
	double rtt_ms;
};

struct history;

/* An empty history sampled every interval_ms (>0). NULL when out of
 * memory. Caller owns it. */
struct history *history_new(uint64_t interval_ms);
/* Frees it; accepts NULL and nulls *history. */
void history_destroy(struct history **history);
uint64_t history_interval_ms(const struct history *history);

/* Records one sample at now_ms from the peers' inputs: per interval
 * counts are the growth of the counters since the peer's last sample (a
 * counter that went back, after a reload changed the peer's key, counts
 * from zero). Peers absent from inputs are dropped, new ones start a
 * series. 0 or LIMES_E_NOMEM (the sample is then partly recorded). */
int history_record(struct history *history, uint64_t now_ms, const struct history_input *inputs, size_t n);

/* Records a sample of every peer of the table when an interval has passed
 * since the last one (at once on the first call): for the housekeeping
 * timer, which calls it more often than the interval. Returns 1 when it
 * sampled, 0 when not yet, or a negative LIMES_E_* code. */
int history_sample(struct history *history, struct peers *peers, struct store *store, uint64_t now_ms);

/* Number of peers followed, and the id of the i-th (borrowed until the next
 * record). */
size_t history_peers(const struct history *history);
const char *history_peer(const struct history *history, size_t i);
/* Copies the i-th peer's samples taken at or after since_ms, oldest first,
 * at most max of the newest, into the caller's out. Returns the number
 * copied. */
size_t history_points(const struct history *history, size_t i, uint64_t since_ms, struct history_point *out,
		      size_t max);

#endif
