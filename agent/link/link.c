/*
 * Peer links: the sockets (the ZAP handler first, zap.c; the ROUTER
 * neighbours connect to; one DEALER per direct peer), their life cycle and
 * reload, link health (the tick: heartbeats, silence, re-sends) and the
 * link's side of the group commit. Sending is send.c, what comes back on a
 * DEALER receipts.c, the incoming side recv.c, relaying relay.c.
 *
 * Frames: every ZeroMQ message between agents is one serialized Frame
 * (proto/limes.proto). DEALER -> peer ROUTER carries envelopes and
 * heartbeats; the peer's ROUTER answers on the same connection with receipts
 * and heartbeat replies. docs/protocol.md has the whole conversation.
 */
#include "link_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "proto/err.h"

#define TICK_MS 200

/* ---------------------------------------------------------------- sockets */

static int set_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof(v));
}

static void close_socket(void *s)
{
	if (s && zmq_close(s) < 0)
		log_error("event=link_error reason=\"cannot close a socket: %s\"", zmq_strerror(zmq_errno()));
}

/* Options every link socket gets; see docs/protocol.md "Socket options". */
static int common_options(const struct config *cfg, void *s)
{
	/* twice max_frame: a frame a little too long (a neighbour configured
	 * with a larger max_frame) still reaches us, to be counted, logged and
	 * dropped; past that libzmq cuts the connection without a word */
	int64_t maxmsg = (int64_t)link_frame_read_max(cfg->max_frame_bytes);

	if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0)
		return -1;
	/* short linger: unsent frames are never acknowledged work (the store
	 * keeps the messages), so waiting long at shutdown buys nothing */
	if (set_int(s, ZMQ_LINGER, 200) < 0)
		return -1;
	if (set_int(s, ZMQ_SNDHWM, 100000) < 0 || set_int(s, ZMQ_RCVHWM, 100000) < 0)
		return -1;
	if (set_int(s, ZMQ_HANDSHAKE_IVL, 10000) < 0)
		return -1;
	/* ZMTP pings find a dead TCP connection even while we are busy */
	if (set_int(s, ZMQ_HEARTBEAT_IVL, (int)cfg->heartbeat_ms) < 0 ||
	    set_int(s, ZMQ_HEARTBEAT_TIMEOUT, (int)cfg->dead_after_ms) < 0)
		return -1;
	return 0;
}

/* Connects the DEALER to each endpoint of a comma-separated list (the nodes
 * of a neighbour's HA pair): only the active node binds, and ZMQ_IMMEDIATE
 * keeps messages off the connections that never complete. 0 or -1. */
int link_connect_each(void *s, const char *endpoints)
{
	char one[CONFIG_ENDPOINT_MAX];
	const char *p = endpoints;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len >= sizeof(one))
			return -1;
		memcpy(one, p, len);
		one[len] = '\0';
		if (zmq_connect(s, one) < 0)
			return -1;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Connects ol's DEALER; logs why it could not. */
static int outlink_connect(struct links *L, struct outlink *ol)
{
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	const struct peer_key *mine = identity_public(L->deps.me);
	void *s = p ? zmq_socket(L->ctx, ZMQ_DEALER) : NULL;

	if (!s)
		goto fail;
	if (common_options(peers_config(L->deps.peers), s) < 0)
		goto fail;
	if (set_int(s, ZMQ_IMMEDIATE, 1) < 0) /* never queue on an unfinished connection */
		goto fail;
	/* reconnect back-off: quick first retry, then at most every 500 ms. A
	 * peer back from an outage waits for our next attempt before its
	 * backlog can flow (with 5 s, 2.5 s on average); an attempt on a peer
	 * that is down is one refused TCP connect. */
	if (set_int(s, ZMQ_RECONNECT_IVL, 100) < 0 || set_int(s, ZMQ_RECONNECT_IVL_MAX, 500) < 0)
		goto fail;
	memcpy(ol->key_id, peer_key_in_force(p)->key_id, 8);
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, peer_key_in_force(p)->box_pk, 32) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, mine->box_pk, 32) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(L->deps.me), 32) < 0)
		goto fail;
	/* a failed monitor costs diagnosis, not the link */
	if (link_monitor_start(L, ol, s) < 0)
		log_warn("peer=%s event=monitor_failed reason=\"%s\"", ol->peer_id, zmq_strerror(zmq_errno()));
	if (link_connect_each(s, peer_conf(p)->endpoint) < 0)
		goto fail;
	ol->watch = zsock_watch(L->zl, s, link_dealer_drain, ol);
	if (!ol->watch) {
		log_error("peer=%s event=link_error reason=\"cannot watch its socket\"", ol->peer_id);
		close_socket(s);
		return LIMES_E_NOMEM;
	}
	ol->dealer = s;
	return 0;
fail:
	log_error("peer=%s event=link_error reason=\"cannot connect %s: %s\"", ol->peer_id,
		  p ? peer_conf(p)->endpoint : "?", p ? zmq_strerror(zmq_errno()) : "not a configured peer");
	if (s) {
		void *kept = ol->dealer;
		ol->dealer = s;
		link_monitor_stop(ol);
		ol->dealer = kept;
	}
	close_socket(s);
	return LIMES_E_IO;
}

static void outlink_disconnect(struct outlink *ol)
{
	link_monitor_stop(ol);
	zsock_close(ol->watch);
	ol->watch = NULL;
	close_socket(ol->dealer);
	ol->dealer = NULL;
}

/* ---------------------------------------------------------------- commit */

int link_stage(struct links *L, unsigned changes)
{
	int rc = commit_stage(L->deps.commit, changes);
	if (rc == 0)
		L->staged = true;
	return rc;
}

/* For marks no acknowledgement waits on (sent, delivered): they ride the
 * next commit something waits on (commit_stage_lazy). */
int link_stage_lazy(struct links *L, unsigned changes)
{
	int rc = commit_stage_lazy(L->deps.commit, changes);
	if (rc == 0)
		L->staged = true;
	return rc;
}

/* A reconnect (or a restart) left nothing in flight on the link: what was
 * sent to the hop and not receipted is due now, not after its back-off. */
static void reset_hop(struct links *L, const char *hop)
{
	int rc = link_stage(L, COMMIT_OUTBOX);
	if (rc == 0)
		rc = store_delivery_reset_hop(L->deps.store, hop);
	if (rc < 0)
		log_warn("peer=%s event=reset_failed reason=%s action=\"unreceipted messages wait for their back-off\"",
			 hop, limes_errname(rc));
}

void links_on_commit(void *arg, int rc, unsigned changes)
{
	struct links *L = arg;

	L->staged = false;
	if (rc < 0 || L->stopped) {
		link_audit_drop_answers(L);
		link_resend_drop_answers(L);
		size_t n = link_drop_pending(L);
		if (n)
			log_warn("event=receipts_withheld count=%zu reason=\"%s\" action=\"peers will resend\"", n,
				 rc < 0 ? limes_strerror(rc) : "links stopped");
		return;
	}
	link_send_pending(L);
	link_audit_send_answers(L);
	link_resend_send_answers(L);
	if (changes & COMMIT_AUDIT)
		link_audit_push(L, clock_now_ms());
	if (changes & COMMIT_OUTBOX)
		for (size_t i = 0; i < L->n_out; i++)
			link_fill(L, L->out[i]);
}

const struct link_stats *links_stats(const struct links *L)
{
	return &L->stats;
}

/* ---------------------------------------------------------------- link state */

void link_set_state(struct links *L, struct outlink *ol, enum link_state state, const char *why)
{
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	if (!p)
		return;
	enum link_state was = peer_link(p)->state;
	if (was == state) {
		/* the same state for a better-known reason (a goodbye after the
		 * hang-up it causes) */
		if (state != LINK_UP && why[0])
			peer_link_set_reason(p, "%s", why);
		return;
	}
	/* agreed afresh by the next heartbeat reply (a degraded link keeps its connection) */
	if (state != LINK_UP && state != LINK_DEGRADED)
		peer_link_set_protocol(p, 0);
	bool was_up = was == LINK_UP || was == LINK_DEGRADED;
	if (state == LINK_UP && !was_up)
		log_info("peer=%s event=link_up", ol->peer_id);
	else if (was_up && state != LINK_UP && state != LINK_DEGRADED)
		log_warn("peer=%s event=link_down reason=\"%s\"", ol->peer_id, why);
	peer_link_set_state(p, state, clock_now_ms());
	if (state != LINK_UP)
		peer_link_set_reason(p, "%s", why);
}

/* The peer went silent: forget what is in flight, reconnect afresh. */
void link_reset(struct links *L, struct outlink *ol, const char *why)
{
	/* it was heard before: the link is down (its DEALER keeps trying) */
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	bool was_heard = ol->last_heard_ms || ol->goodbye || (p && peer_link(p)->state == LINK_DOWN);
	link_set_state(L, ol, was_heard ? LINK_DOWN : LINK_CONNECTING, why);
	link_inflight_clear(ol);
	outlink_disconnect(ol);
	reset_hop(L, ol->peer_id);
	/* a failure was logged; the next silence check tries again */
	if (outlink_connect(L, ol) < 0)
		log_info("peer=%s event=reconnect_later", ol->peer_id);
	ol->last_heard_ms = 0;
	ol->connect_ms = clock_now_ms();
}

static void on_tick(uv_timer_t *timer)
{
	struct links *L = timer->data;
	const struct config *cfg = peers_config(L->deps.peers);
	uint64_t now = clock_now_ms();

	for (size_t i = 0; i < L->n_out; i++) {
		struct outlink *ol = L->out[i];
		struct peer *p = peers_find(L->deps.peers, ol->peer_id);
		if (!p)
			continue;
		uint64_t heard = ol->last_heard_ms ? ol->last_heard_ms : ol->connect_ms;
		if (now > heard + cfg->dead_after_ms) {
			link_reset(L, ol, ol->goodbye ? "the peer stopped cleanly" : "silent for longer than dead_after");
			continue;
		}
		if (now >= ol->last_send_ms + cfg->heartbeat_ms ||
		    (peer_link(p)->state != LINK_UP && now >= ol->last_heartbeat_ms + 500))
			link_send_heartbeat(ol, now);
		/* deliveries whose receipt is overdue become due again in the store */
		for (size_t k = 0; k < ol->inflight_cap && ol->n_inflight; k++) {
			struct inflight *fl = &ol->inflight[k];
			if (fl->used && link_inflight_overdue(ol, fl, now, cfg->retry_initial_ms)) {
				link_inflight_remove(ol, fl);
				k--; /* backward shift may have moved an entry here */
			}
		}
		link_fill(L, ol);
		link_rotation_tick(L, ol, now);
		link_resend_tick(L, ol, now);
	}
	link_rotation_answer(L);
	/* a neighbour back up gets the checkpoints it missed */
	link_audit_push(L, now);
	link_refusals_flush(L, false);
}

void links_flush_audit(struct links *L)
{
	if (L && !L->stopped)
		link_refusals_flush(L, true);
}

/* ---------------------------------------------------------------- life cycle */

static void free_outlink(struct outlink *ol)
{
	outlink_disconnect(ol);
	free(ol->inflight);
	free(ol);
}

/* Adds the DEALER of direct peer cp. Once added (even when the connect
 * failed: the tick retries) it is in L->out; LIMES_E_NOMEM when it is not. */
static int add_outlink(struct links *L, const struct config_peer *cp)
{
	struct outlink **grown = realloc(L->out, (L->n_out + 1) * sizeof(*grown));
	if (!grown)
		return LIMES_E_NOMEM;
	L->out = grown;
	struct outlink *ol = calloc(1, sizeof(*ol));
	if (!ol)
		return LIMES_E_NOMEM;
	ol->links = L;
	snprintf(ol->peer_id, sizeof(ol->peer_id), "%s", cp->id);
	snprintf(ol->endpoint, sizeof(ol->endpoint), "%s", cp->endpoint);
	memcpy(ol->key_id, cp->key.key_id, 8);
	struct peer *in_force = peers_find(L->deps.peers, cp->id);
	if (in_force)
		memcpy(ol->key_id, peer_key_in_force(in_force)->key_id, 8);
	ol->window = peers_config(L->deps.peers)->window;
	ol->inflight_cap = 16;
	while (ol->inflight_cap < 2 * (size_t)ol->window)
		ol->inflight_cap *= 2;
	ol->inflight = calloc(ol->inflight_cap, sizeof(*ol->inflight));
	if (!ol->inflight) {
		free(ol);
		return LIMES_E_NOMEM;
	}
	ol->connect_ms = clock_now_ms();
	L->out[L->n_out++] = ol;
	/* after a restart or reload nothing is in flight */
	reset_hop(L, ol->peer_id);
	int rc = outlink_connect(L, ol);
	if (rc == 0)
		link_set_state(L, ol, LINK_CONNECTING, "");
	return rc;
}

/* The ZAP handler, then the ROUTER: a CURVE server without a handler would
 * admit any key. */
static int bind_sockets(struct links *L, const struct config *cfg, char *err, size_t err_len)
{
	L->zap = zmq_socket(L->ctx, ZMQ_REP);
	if (!L->zap || set_int(L->zap, ZMQ_LINGER, 0) < 0 || zmq_bind(L->zap, "inproc://zeromq.zap.01") < 0) {
		snprintf(err, err_len, "cannot bind the ZAP handler (inproc://zeromq.zap.01): %s; refusing to run",
			 zmq_strerror(zmq_errno()));
		return LIMES_E_IO;
	}
	L->zap_watch = zsock_watch(L->zl, L->zap, link_zap_drain, L);
	if (!L->zap_watch) {
		snprintf(err, err_len, "cannot watch the ZAP handler socket");
		return LIMES_E_NOMEM;
	}
	L->router = zmq_socket(L->ctx, ZMQ_ROUTER);
	if (!L->router || common_options(cfg, L->router) < 0 || set_int(L->router, ZMQ_ROUTER_MANDATORY, 1) < 0 ||
	    set_int(L->router, ZMQ_CURVE_SERVER, 1) < 0 ||
	    zmq_setsockopt(L->router, ZMQ_CURVE_SECRETKEY, identity_curve_secret(L->deps.me), 32) < 0 ||
	    zmq_setsockopt(L->router, ZMQ_ZAP_DOMAIN, "limes", 5) < 0) {
		snprintf(err, err_len, "cannot set up the ROUTER socket: %s", zmq_strerror(zmq_errno()));
		return LIMES_E_IO;
	}
	if (zmq_bind(L->router, cfg->listen) < 0) {
		snprintf(err, err_len, "%s: [agent] listen = %s: cannot bind: %s", cfg->path, cfg->listen,
			 zmq_strerror(zmq_errno()));
		return LIMES_E_IO;
	}
	L->router_watch = zsock_watch(L->zl, L->router, link_router_drain, L);
	if (!L->router_watch) {
		snprintf(err, err_len, "cannot watch the ROUTER socket");
		return LIMES_E_NOMEM;
	}
	return 0;
}

struct links *links_new(const struct link_deps *deps, char *err, size_t err_len)
{
	struct links *L = calloc(1, sizeof(*L));
	const struct config *cfg = peers_config(deps->peers);
	int rc;

	if (!L) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	L->deps = *deps;
	L->audit = link_audit_new();
	L->refusals = link_refusals_new();
	if (!L->audit || !L->refusals) {
		link_refusals_free(&L->refusals);
		link_audit_free(&L->audit);
		free(L);
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	L->ctx = zmq_ctx_new();
	L->zl = zloop_new(deps->loop);
	L->roots = envelope_root_cache_new();
	if (!L->ctx || !L->zl || !L->roots) {
		snprintf(err, err_len, "cannot create the ZeroMQ context");
		goto fail;
	}
	if (!zmq_has("curve")) {
		snprintf(err, err_len, "libzmq has no CURVE support: refusing to run");
		goto fail;
	}
	if (bind_sockets(L, cfg, err, err_len) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (cfg->peers[i].endpoint[0] && add_outlink(L, &cfg->peers[i]) < 0) {
			snprintf(err, err_len, "peer \"%s\": cannot connect to %s", cfg->peers[i].id,
				 cfg->peers[i].endpoint);
			goto fail;
		}
	rc = uv_timer_init(deps->loop, &L->tick);
	if (rc == 0) {
		L->tick_on = true; /* initialised: links_stop closes it */
		L->tick.data = L;
		rc = uv_timer_start(&L->tick, on_tick, TICK_MS, TICK_MS);
	}
	if (rc < 0) {
		snprintf(err, err_len, "cannot start the link timer: %s", uv_strerror(rc));
		goto fail;
	}
	return L;
fail:
	links_stop(L);
	links_destroy(&L);
	return NULL;
}

void links_stop(struct links *L)
{
	if (!L || L->stopped)
		return;
	L->stopped = true;
	if (L->tick_on) {
		uv_timer_stop(&L->tick);
		uv_close((uv_handle_t *)&L->tick, NULL);
	}
	size_t dropped = link_drop_pending(L);
	if (dropped)
		log_info("event=receipts_withheld count=%zu reason=\"stopping before their commit\" "
			 "action=\"peers will resend\"",
			 dropped);
	for (size_t i = 0; i < L->n_out; i++)
		outlink_disconnect(L->out[i]);
	link_say_goodbye(L);
	zsock_close(L->router_watch);
	L->router_watch = NULL;
	zsock_close(L->zap_watch);
	L->zap_watch = NULL;
	close_socket(L->router);
	close_socket(L->zap);
	L->router = L->zap = NULL;
	zloop_close(L->zl);
}

void links_destroy(struct links **pL)
{
	if (!pL || !*pL)
		return;
	struct links *L = *pL;
	for (size_t i = 0; i < L->n_out; i++)
		free_outlink(L->out[i]);
	free(L->out);
	link_recv_free(L);
	envelope_root_cache_destroy(&L->roots);
	link_audit_free(&L->audit);
	link_refusals_free(&L->refusals);
	link_resend_free(&L->resend);
	zloop_destroy(&L->zl);
	if (L->ctx) {
		int rc;
		while ((rc = zmq_ctx_term(L->ctx)) < 0 && zmq_errno() == EINTR)
			;
		if (rc < 0)
			log_error("event=link_error reason=\"cannot end the ZeroMQ context: %s\"",
				  zmq_strerror(zmq_errno()));
	}
	link_frames_reclaim(); /* ZeroMQ's threads have ended: nothing is released after this */
	free(L);
	*pL = NULL;
}

int links_reload(struct links *L)
{
	const struct config *cfg = peers_config(L->deps.peers);
	int first = 0;

	/* drop links to peers that went away or changed endpoint or key */
	bool revoked = false;
	for (size_t i = 0; i < L->n_out;) {
		struct outlink *ol = L->out[i];
		const struct config_peer *cp = config_peer_find(cfg, ol->peer_id);
		struct peer *kp = peers_find(L->deps.peers, ol->peer_id);
		if (cp && kp && cp->endpoint[0] && strcmp(cp->endpoint, ol->endpoint) == 0 &&
		    memcmp(peer_key_in_force(kp)->key_id, ol->key_id, 8) == 0) {
			i++;
			continue;
		}
		revoked = true;
		log_info("peer=%s event=link_removed", ol->peer_id);
		free_outlink(ol);
		memmove(&L->out[i], &L->out[i + 1], (L->n_out - i - 1) * sizeof(*L->out));
		L->n_out--;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *cp = &cfg->peers[i];
		bool have = false;
		for (size_t k = 0; k < L->n_out; k++)
			if (strcmp(L->out[k]->peer_id, cp->id) == 0)
				have = true;
		if (!cp->endpoint[0] || have)
			continue;
		int rc = add_outlink(L, cp);
		if (rc == LIMES_E_NOMEM)
			log_error("peer=%s event=link_error reason=\"%s\"", cp->id, limes_strerror(rc));
		else
			log_info("peer=%s event=link_added endpoint=%s", cp->id, cp->endpoint);
		if (rc < 0 && first == 0)
			first = rc;
	}
	/* a removed or replaced key must not keep the connection it opened
	 * before the reload: drop every connection to our ROUTER, the others
	 * come back at once through the ZAP handler, which now refuses it */
	if (revoked)
		link_relisten(L);
	/* a peer the table made afresh starts down; its DEALER is connecting */
	for (size_t k = 0; k < L->n_out; k++) {
		struct peer *p = peers_find(L->deps.peers, L->out[k]->peer_id);
		if (p && peer_link(p)->state == LINK_DOWN)
			link_set_state(L, L->out[k], LINK_CONNECTING, "");
	}
	return first;
}

uint32_t link_protocol_offer(const struct links *L)
{
	uint32_t v = peers_config(L->deps.peers)->protocol;
	return v > WIRE_VERSION_MAJOR ? v : 0;
}

const char *link_hex_id(const uint8_t id[16])
{
	static char buf[33];
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		buf[2 * i] = digits[id[i] >> 4];
		buf[2 * i + 1] = digits[id[i] & 15];
	}
	buf[32] = '\0';
	return buf;
}
