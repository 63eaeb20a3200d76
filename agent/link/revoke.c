/*
 * Ends of connections: a reload that removed or replaced a key drops every
 * connection to our ROUTER (libzmq admits a key only at the handshake, so
 * a connection opened under a revoked key would otherwise live on), and a
 * clean stop says goodbye so the neighbours show the link down at once.
 */
#include "link_int.h"

#include <string.h>
#include <time.h>

#include "base/log.h"
#include "proto/err.h"

void link_relisten(struct links *L)
{
	char endpoint[CONFIG_ENDPOINT_MAX + 64];
	size_t len = sizeof(endpoint);

	/* the endpoint as bound (a wildcard port resolved): bind it again as is */
	if (!L->router || zmq_getsockopt(L->router, ZMQ_LAST_ENDPOINT, endpoint, &len) < 0) {
		log_error("event=revoke_failed reason=\"cannot read the ROUTER's endpoint: %s\"",
			  zmq_strerror(zmq_errno()));
		return;
	}
	/* unbinding ends the listener and, with it, every session it accepted */
	if (zmq_unbind(L->router, endpoint) < 0) {
		log_error("event=revoke_failed endpoint=%s reason=\"cannot unbind: %s\"", endpoint,
			  zmq_strerror(zmq_errno()));
		return;
	}
	/* the listener's socket closes on libzmq's I/O thread: the address may
	 * be busy for a few milliseconds; a reload may wait that long */
	for (int i = 0; i < 200; i++) {
		if (zmq_bind(L->router, endpoint) == 0) {
			log_info("event=connections_dropped endpoint=%s reason=\"a key was removed or replaced\"",
				 endpoint);
			zsock_poke(L->router_watch);
			return;
		}
		if (zmq_errno() != EADDRINUSE)
			break;
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	log_error("event=listen_failed endpoint=%s reason=\"cannot bind again after dropping connections: %s\"",
		  endpoint, zmq_strerror(zmq_errno()));
}

void link_say_goodbye(struct links *L)
{
	struct wire_frame f = { .kind = WIRE_FRAME_GOODBYE };

	if (!L->router)
		return;
	for (size_t i = 0; i < L->n_in; i++) {
		if (!L->in[i].routing_len)
			continue;
		const char *why = "";
		/* a neighbour gone already is no error: it finds out by itself */
		if (link_send_routed(L, &L->in[i], &f, &why) == 0)
			log_debug("peer=%s event=goodbye_sent", L->in[i].peer_id);
	}
}

void link_heard_goodbye(struct links *L, struct outlink *ol)
{
	log_warn("peer=%s event=link_down reason=\"the peer stopped cleanly\"", ol->peer_id);
	link_set_state(L, ol, LINK_DOWN, "the peer stopped cleanly");
	/* it answers nothing more on this connection */
	link_inflight_clear(ol);
	ol->goodbye = true;
}
