/*
 * One question to a neighbour outside the running links: `limes audit
 * verify --ask` (through `limes-agent audit-ask`) asks each direct
 * neighbour which of our audit checkpoints it keeps countersigned. It opens
 * a DEALER of its own with the agent's key (so it works whether our agent is
 * stopped, running, or running on a swapped store), sends one
 * AuditKeptRequest and waits for the AuditKept answer. Blocking by design:
 * a one-shot tool, never on the agent's loop. Owns nothing after it returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "link_int.h"

#include "base/clock.h"
#include "crypto/identity.h"
#include "proto/err.h"

/* What the connection's monitor said, in words for the error message. */
struct ask_watch {
	bool connected;     /* a handshake completed */
	bool key_refused;   /* the neighbour's ZAP refused our key */
	bool protocol_fail; /* the handshake failed otherwise (wrong server key?) */
};

static void read_events(void *mon, struct ask_watch *w)
{
	for (;;) {
		zmq_msg_t head, addr;
		zmq_msg_init(&head);
		zmq_msg_init(&addr);
		if (zmq_msg_recv(&head, mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&head);
			zmq_msg_close(&addr);
			return;
		}
		if (zmq_msg_more(&head))
			(void)zmq_msg_recv(&addr, mon, 0); /* the parts arrive together */
		if (zmq_msg_size(&head) >= 6) {
			uint16_t event;
			memcpy(&event, zmq_msg_data(&head), sizeof(event));
			if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
				w->connected = true;
			else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
				w->key_refused = true;
			else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
				w->protocol_fail = true;
		}
		zmq_msg_close(&head);
		zmq_msg_close(&addr);
	}
}

int link_ask_kept(const struct config *cfg, const struct identity *me, const char *peer_id, int timeout_ms,
		  int (*fn)(void *arg, const struct wire_kept_checkpoint *cp), void *arg, uint64_t *kept_total,
		  char *why, size_t why_len)
{
	const struct config_peer *p = config_peer_find(cfg, peer_id);
	struct wire_kept_checkpoint *cps = NULL;
	struct ask_watch w = { 0 };
	void *ctx = NULL, *s = NULL, *mon = NULL;
	uint8_t *req = NULL, *buf = NULL;
	size_t req_len = 0, n = 0;
	char mon_ep[64];
	int rc = LIMES_E_IO;

	if (!p || p->via[0] || !me || !fn || !kept_total) {
		snprintf(why, why_len, "%s is not a direct neighbour in the configuration", peer_id);
		return LIMES_E_UNKNOWN_PEER;
	}
	ctx = zmq_ctx_new();
	s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
	buf = malloc(cfg->max_frame_bytes);
	cps = calloc(WIRE_AUDIT_KEPT_MAX, sizeof(*cps));
	if (!s || !buf || !cps) {
		snprintf(why, why_len, "cannot set up a connection: %s", !s ? zmq_strerror(zmq_errno()) : "out of memory");
		rc = LIMES_E_NOMEM;
		goto out;
	}
	int64_t maxmsg = (int64_t)cfg->max_frame_bytes;
	int zero = 0;
	snprintf(mon_ep, sizeof(mon_ep), "inproc://limes-ask-%p", (void *)s);
	if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, p->key.box_pk, 32) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, identity_public(me)->box_pk, 32) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(me), 32) < 0 ||
	    zmq_socket_monitor(s, mon_ep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
					      ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
					      ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0) {
		snprintf(why, why_len, "cannot set up a connection: %s", zmq_strerror(zmq_errno()));
		goto out;
	}
	mon = zmq_socket(ctx, ZMQ_PAIR);
	if (!mon || zmq_connect(mon, mon_ep) < 0 || link_connect_each(s, p->endpoint) < 0) {
		snprintf(why, why_len, "cannot connect to %s: %s", p->endpoint, zmq_strerror(zmq_errno()));
		goto out;
	}
	struct wire_frame rq = { .kind = WIRE_FRAME_AUDIT_KEPT_REQUEST, .kept_limit = WIRE_AUDIT_KEPT_MAX };
	rc = wire_frame_pack(&rq, &req, &req_len);
	if (rc < 0 || zmq_send(s, req, req_len, ZMQ_DONTWAIT) < 0) {
		/* a DEALER queues until the connection is up: a failure is ours */
		snprintf(why, why_len, "cannot send the request: %s", rc < 0 ? limes_strerror(rc) : zmq_strerror(zmq_errno()));
		rc = LIMES_E_IO;
		goto out;
	}
	uint64_t deadline = clock_mono_us() + (uint64_t)timeout_ms * 1000;
	rc = LIMES_E_AGAIN;
	for (;;) {
		uint64_t now = clock_mono_us();
		if (now >= deadline || w.key_refused)
			break;
		zmq_pollitem_t items[] = { { s, 0, ZMQ_POLLIN, 0 }, { mon, 0, ZMQ_POLLIN, 0 } };
		if (zmq_poll(items, 2, (long)((deadline - now) / 1000) + 1) < 0)
			break;
		if (items[1].revents)
			read_events(mon, &w);
		if (!items[0].revents)
			continue;
		int got = zmq_recv(s, buf, cfg->max_frame_bytes, ZMQ_DONTWAIT);
		struct wire_frame f;
		if (got <= 0 || wire_frame_unpack(buf, (size_t)got, cfg->max_frame_bytes, &f) < 0 ||
		    f.kind != WIRE_FRAME_AUDIT_KEPT)
			continue; /* nothing else is addressed to this connection */
		rc = wire_audit_kept_unpack(f.bytes, f.len, cps, WIRE_AUDIT_KEPT_MAX, &n, kept_total);
		if (rc < 0) {
			snprintf(why, why_len, "its answer does not decode");
			goto out;
		}
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = fn(arg, &cps[i]) < 0 ? LIMES_E_INTERNAL : 0;
		goto out;
	}
	if (w.key_refused)
		snprintf(why, why_len, "%s (%s) refused our key: this agent is not configured there", peer_id, p->endpoint);
	else if (w.protocol_fail)
		snprintf(why, why_len, "the handshake with %s (%s) failed: its key in our configuration is not the one it uses",
			 peer_id, p->endpoint);
	else if (w.connected)
		snprintf(why, why_len, "%s (%s) did not answer within %d s (an agent without this question?)", peer_id,
			 p->endpoint, timeout_ms / 1000);
	else
		snprintf(why, why_len, "%s is unreachable: no connection to %s within %d s", peer_id, p->endpoint,
			 timeout_ms / 1000);
out:
	free(req);
	free(buf);
	free(cps);
	if (s) {
		zmq_socket_monitor(s, NULL, 0);
		zmq_close(s);
	}
	if (mon)
		zmq_close(mon);
	if (ctx)
		zmq_ctx_term(ctx);
	return rc;
}
