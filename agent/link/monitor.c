/*
 * What libzmq sees of our DEALER's connection and would otherwise keep to
 * itself: a handshake the peer refuses (it has not configured our key), a
 * handshake that dies (the key configured here for it is not its key), a
 * live connection the peer closed (it revoked us, or stopped). Read from
 * libzmq's socket monitor on the loop; each turns into the link's state and
 * reason, logged once per change.
 */
#include "link_int.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/encode.h"
#include "proto/err.h"

#define MONITOR_EVENTS                                                                                      \
	(ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |                             \
	 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_DISCONNECTED)

/* Sets ol's link state with a reason, logging the reason when it changes. */
static void report(struct links *L, struct outlink *ol, enum link_state state, const char *reason)
{
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	if (!p)
		return;
	if (strcmp(peer_link(p)->reason, reason) != 0)
		log_warn("peer=%s event=%s reason=\"%s\"", ol->peer_id,
			 state == LINK_DEGRADED ? "link_degraded" : "link_down", reason);
	link_set_state(L, ol, state, reason);
	peer_link_set_reason(p, "%s", reason);
}

static void on_event(struct links *L, struct outlink *ol, uint16_t event, uint32_t value)
{
	char mine[2 * 8 + 1], theirs[2 * 8 + 1], why[200];
	encode_hex(mine, sizeof(mine), identity_public(L->deps.me)->key_id, 8);
	encode_hex(theirs, sizeof(theirs), ol->key_id, 8);

	switch (event) {
	case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
		ol->handshake_ok = true;
		ol->key_refused = false;
		/* ask now rather than at the next tick: its reply brings the link
		 * up, and with it the first fill of the window */
		link_send_heartbeat(ol, clock_now_ms());
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		/* the peer's ZAP handler said no: it does not admit our key */
		snprintf(why, sizeof(why), "%s refuses our key %s (ZAP %u): is it configured there?", ol->peer_id, mine,
			 value);
		report(L, ol, LINK_DEGRADED, why);
		ol->key_refused = true;
		break;
	case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
	case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		snprintf(why, sizeof(why), "handshake with %s fails: the key configured here (key id %s) is not its key",
			 ol->peer_id, theirs);
		report(L, ol, LINK_DEGRADED, why);
		break;
	case ZMQ_EVENT_DISCONNECTED:
		if (ol->key_refused) {
			/* the refusal said more than the hang-up that follows it */
		} else if (!ol->handshake_ok) {
			/* a CURVE server that cannot open our HELLO just hangs up */
			snprintf(why, sizeof(why),
				 "%s hangs up during the handshake: the key configured here (key id %s) is not its key",
				 ol->peer_id, theirs);
			report(L, ol, LINK_DEGRADED, why);
		} else if (!ol->goodbye) {
			report(L, ol, LINK_DOWN, "the peer closed the connection");
			link_inflight_clear(ol);
		}
		ol->handshake_ok = false;
		break;
	default:
		break;
	}
}

/* Monitor events: two parts, (uint16 event, uint32 value) and the address. */
static bool monitor_drain(struct zsock *zs, void *arg)
{
	struct outlink *ol = arg;
	void *s = zsock_socket(zs);
	int n = 0;

	for (; n < 64; n++) {
		zmq_msg_t head, addr;
		zmq_msg_init(&head);
		if (zmq_msg_recv(&head, s, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&head);
			break;
		}
		bool ok = zmq_msg_size(&head) == 6;
		uint16_t event = 0;
		uint32_t value = 0;
		if (ok) {
			memcpy(&event, zmq_msg_data(&head), 2);
			memcpy(&value, (uint8_t *)zmq_msg_data(&head) + 2, 4);
		}
		int more = zmq_msg_more(&head);
		zmq_msg_close(&head);
		while (more) {
			zmq_msg_init(&addr);
			more = zmq_msg_recv(&addr, s, 0) >= 0 && zmq_msg_more(&addr);
			zmq_msg_close(&addr);
		}
		if (ok)
			on_event(ol->links, ol, event, value);
	}
	return n == 64;
}

int link_monitor_start(struct links *L, struct outlink *ol, void *dealer)
{
	static unsigned serial; /* a stopped monitor's endpoint lingers: never reuse one */
	char endpoint[80];
	snprintf(endpoint, sizeof(endpoint), "inproc://limes-monitor-%p-%u", (void *)ol, serial++);
	if (zmq_socket_monitor(dealer, endpoint, MONITOR_EVENTS) < 0)
		return LIMES_E_IO;
	void *mon = zmq_socket(L->ctx, ZMQ_PAIR);
	int linger = 0;
	if (!mon || zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof(linger)) < 0 || zmq_connect(mon, endpoint) < 0) {
		if (mon)
			zmq_close(mon);
		zmq_socket_monitor(dealer, NULL, 0);
		return LIMES_E_IO;
	}
	ol->monitor_watch = zsock_watch(L->zl, mon, monitor_drain, ol);
	if (!ol->monitor_watch) {
		zmq_close(mon);
		zmq_socket_monitor(dealer, NULL, 0);
		return LIMES_E_NOMEM;
	}
	ol->monitor = mon;
	ol->handshake_ok = false;
	ol->key_refused = false;
	return 0;
}

void link_monitor_stop(struct outlink *ol)
{
	if (ol->dealer)
		zmq_socket_monitor(ol->dealer, NULL, 0);
	zsock_close(ol->monitor_watch);
	ol->monitor_watch = NULL;
	if (ol->monitor)
		zmq_close(ol->monitor);
	ol->monitor = NULL;
}
