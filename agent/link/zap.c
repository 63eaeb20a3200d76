/*
 * The ZAP handler (RFC 27) for the links' CURVE handshakes: libzmq asks it,
 * over inproc://zeromq.zap.01, whether a client key may connect. It admits
 * only the X25519 keys of configured direct peers and names the peer as the
 * User-Id, the only sender identity the receiving code believes. It is bound
 * before any CURVE socket (links_new); without it libzmq would admit any key.
 */
#include "link_int.h"

#include <string.h>

#include "base/log.h"
#include "proto/err.h"

/* Sends the six-part reply; 0 or LIMES_E_* (libzmq then fails the handshake). */
static int zap_reply(void *s, const zmq_msg_t *req_id, const char *code, const char *text, const char *user)
{
	zmq_msg_t id;
	int rc = -1;

	zmq_msg_init(&id);
	/* ZMQ_SNDMORE parts are only queued: the REP socket has room for them */
	if (zmq_msg_copy(&id, (zmq_msg_t *)req_id) == 0 && zmq_send(s, "1.0", 3, ZMQ_SNDMORE) >= 0 &&
	    zmq_msg_send(&id, s, ZMQ_SNDMORE) >= 0 && zmq_send(s, code, strlen(code), ZMQ_SNDMORE) >= 0 &&
	    zmq_send(s, text, strlen(text), ZMQ_SNDMORE) >= 0 && zmq_send(s, user, strlen(user), ZMQ_SNDMORE) >= 0)
		rc = zmq_send(s, "", 0, 0);
	int e = zmq_errno();
	zmq_msg_close(&id);
	return rc < 0 ? limes_from_errno(e) : 0;
}

/* ZAP (RFC 27) requests from libzmq's CURVE handshakes: admit only
 * configured peer keys and name the peer as the User-Id. */
bool link_zap_drain(struct zsock *zs, void *arg)
{
	struct links *L = arg;
	void *s = zsock_socket(zs);
	int n = 0;

	for (; n < 64; n++) {
		zmq_msg_t part[7];
		int parts = 0;
		int more = 1;
		while (more && parts < 7) {
			zmq_msg_init(&part[parts]);
			if (zmq_msg_recv(&part[parts], s, ZMQ_DONTWAIT) < 0) {
				for (int i = 0; i <= parts; i++)
					zmq_msg_close(&part[i]);
				goto done;
			}
			more = zmq_msg_more(&part[parts]);
			parts++;
		}
		while (more) { /* more parts than RFC 27 allows: discard */
			zmq_msg_t extra;
			zmq_msg_init(&extra);
			/* the parts of a message arrive together: a failure is the socket's end */
			more = zmq_msg_recv(&extra, s, 0) >= 0 && zmq_msg_more(&extra);
			zmq_msg_close(&extra);
		}
		/* version, request id, domain, address, routing id, mechanism, key */
		const char *user = NULL; /* the admitted peer, named as the User-Id */
		char presented[200] = "no CURVE key";
		if (parts == 7 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
		    zmq_msg_size(&part[6]) == 32) {
			/* only directly linked peers: a peer configured `via` a relay
			 * must come through that relay */
			struct peer *p = peers_find_by_box_key(L->deps.peers, zmq_msg_data(&part[6]));
			if (p) {
				user = peer_id(p);
				link_rotation_presented(L, p, zmq_msg_data(&part[6]));
			}
			else
				link_describe_curve_key(L, zmq_msg_data(&part[6]), presented, sizeof(presented));
		}
		char addr[64] = "";
		if (parts >= 4) {
			size_t al = zmq_msg_size(&part[3]);
			if (al >= sizeof(addr))
				al = sizeof(addr) - 1;
			memcpy(addr, zmq_msg_data(&part[3]), al);
			addr[al] = '\0';
		}
		if (parts >= 2) {
			int rc;
			if (user) {
				rc = zap_reply(s, &part[1], "200", "OK", user);
				log_debug("peer=%s event=handshake_ok address=%s", user, addr);
			} else {
				rc = zap_reply(s, &part[1], "400", "unknown key", "");
				uint64_t suppressed;
				/* per address: a handshake flood from one host logs a few lines a second */
				if (ratelimit_pass(&L->log_limit, addr, &suppressed))
					log_warn("event=unknown_peer address=%s reason=\"%s presented\" suppressed=%llu", addr,
						 presented, (unsigned long long)suppressed);
				L->stats.refused_handshakes++;
			}
			if (rc < 0)
				log_error("event=zap_reply_failed address=%s reason=%s", addr, limes_errname(rc));
		}
		for (int i = 0; i < parts; i++)
			zmq_msg_close(&part[i]);
	}
done:
	return n == 64;
}
