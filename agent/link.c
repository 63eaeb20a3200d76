/*
 * Peer links: the sockets (the ZAP handler first, link_zap.c; the ROUTER
 * neighbours connect to; one DEALER per direct peer) and the outgoing side
 * of store-and-forward (windowed sending from the outbox, re-sending with
 * back-off, receipts marking deliveries, heartbeats and link health). The
 * incoming side (envelopes in, receipts out) is link_recv.c, relaying
 * link_relay.c.
 *
 * Frames: every ZeroMQ message between agents is one serialized Frame
 * (proto/limes.proto). DEALER -> peer ROUTER carries envelopes and
 * heartbeats; the peer's ROUTER answers on the same connection with receipts
 * and heartbeat replies. docs/protocol.md has the whole conversation.
 */
#include "agent/link_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/err.h"
#include "agent/log.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"

#define TICK_MS 200
#define FILL_BATCH 512
#define DRAIN_BUDGET 2048

/* ---------------------------------------------------------------- sockets */

static int set_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof(v));
}

/* Options every link socket gets; see docs/protocol.md "Socket options". */
static int common_options(struct links *L, void *s)
{
	const struct config *cfg = L->agent->cfg;
	int64_t maxmsg = (int64_t)cfg->max_frame_bytes;

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

static int outlink_connect(struct links *L, struct outlink *ol)
{
	const struct peer *p = agent_peer(L->agent, ol->peer_id);
	const struct peer_key *mine = identity_public(L->agent->me);
	void *s = zmq_socket(L->ctx, ZMQ_DEALER);

	if (!s || !p)
		goto fail;
	if (common_options(L, s) < 0)
		goto fail;
	if (set_int(s, ZMQ_IMMEDIATE, 1) < 0) /* never queue on an unfinished connection */
		goto fail;
	/* reconnect back-off: quick first retry, at most every 5 s */
	if (set_int(s, ZMQ_RECONNECT_IVL, 100) < 0 || set_int(s, ZMQ_RECONNECT_IVL_MAX, 5000) < 0)
		goto fail;
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, p->conf->key.box_pk, 32) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, mine->box_pk, 32) < 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(L->agent->me), 32) < 0)
		goto fail;
	if (zmq_connect(s, p->conf->endpoint) < 0)
		goto fail;
	ol->dealer = s;
	ol->watch = zsock_watch(L->zl, s, link_dealer_drain, ol);
	if (!ol->watch)
		goto fail_noclose;
	return 0;
fail:
	if (s)
		zmq_close(s);
	log_error("peer=%s event=link_error reason=\"cannot connect %s: %s\"", ol->peer_id,
		  p ? p->conf->endpoint : "?", zmq_strerror(errno));
	return LIMES_E_IO;
fail_noclose:
	zmq_close(s);
	ol->dealer = NULL;
	return LIMES_E_NOMEM;
}

static void outlink_disconnect(struct outlink *ol)
{
	zsock_close(ol->watch);
	ol->watch = NULL;
	if (ol->dealer)
		zmq_close(ol->dealer);
	ol->dealer = NULL;
}

/* ---------------------------------------------------------------- link state */

static void set_state(struct links *L, struct outlink *ol, enum link_state state, const char *why)
{
	struct peer *p = agent_peer(L->agent, ol->peer_id);
	if (!p || p->state == state)
		return;
	if (state == LINK_UP) {
		p->up_since_ms = agent_now_ms();
		log_info("peer=%s event=link_up", ol->peer_id);
	} else if (p->state == LINK_UP) {
		log_warn("peer=%s event=link_down reason=\"%s\"", ol->peer_id, why);
	}
	p->state = state;
}

/* The peer went silent: forget what is in flight, reconnect afresh. */
static void link_reset(struct links *L, struct outlink *ol, const char *why)
{
	set_state(L, ol, LINK_CONNECTING, why);
	link_inflight_clear(ol);
	outlink_disconnect(ol);
	if (store_healthy(L->agent->store)) {
		store_begin(L->agent->store);
		store_delivery_reset_hop(L->agent->store, ol->peer_id);
		link_commit(L);
	}
	outlink_connect(L, ol);
	ol->last_heard_ms = 0;
	ol->connect_ms = agent_now_ms();
}

static uint64_t retry_delay(const struct config *cfg, uint32_t attempts)
{
	uint64_t d = cfg->retry_initial_ms;
	for (uint32_t i = 1; i < attempts && d < cfg->retry_max_ms; i++)
		d *= 2;
	return d < cfg->retry_max_ms ? d : cfg->retry_max_ms;
}

/* ---------------------------------------------------------------- sending */

int link_send_frame(void *socket, const struct wire_frame *f, int flags)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = wire_frame_pack(f, &buf, &len);
	if (rc < 0)
		return rc;
	rc = zmq_send(socket, buf, len, flags | ZMQ_DONTWAIT) < 0 ? -errno : 0;
	free(buf);
	return rc;
}

/* A due delivery copied out of the store (its rows are not to be touched
 * while the store iterates). */
struct due {
	uint8_t id[16];
	char recipient[CONFIG_ID_MAX + 1];
	uint32_t attempts;
	uint8_t *envelope;
	size_t envelope_len;
};

struct collect_ctx {
	struct outlink *ol;
	uint64_t now;
	struct due *due;
	size_t n, cap;
};

static int collect_one(void *arg, const struct store_delivery_row *row)
{
	struct collect_ctx *c = arg;
	if (c->n == c->cap)
		return 1;
	if (link_inflight_find(c->ol, row->id, row->recipient))
		return 0; /* already on its way */
	if (row->expires_ms <= c->now)
		return 0; /* never sent late: housekeeping marks it expired */
	struct due *d = &c->due[c->n];
	d->envelope = malloc(row->envelope_len);
	if (!d->envelope)
		return 1;
	memcpy(d->envelope, row->envelope, row->envelope_len);
	d->envelope_len = row->envelope_len;
	memcpy(d->id, row->id, 16);
	snprintf(d->recipient, sizeof(d->recipient), "%s", row->recipient);
	d->attempts = row->attempts;
	c->n++;
	return 0;
}

/* Sends due outbox rows to the peer while the window has room. */
void link_fill(struct links *L, struct outlink *ol)
{
	struct agent *agent = L->agent;
	const struct config *cfg = agent->cfg;
	struct peer *p = agent_peer(agent, ol->peer_id);
	uint64_t now = agent_now_ms();
	size_t sent = 0;
	bool blocked = false;

	if (!ol->dealer || !p || p->state != LINK_UP || !store_healthy(agent->store))
		return;
	while (ol->n_inflight < ol->window && !blocked) {
		size_t room = ol->window - ol->n_inflight;
		struct due batch[FILL_BATCH];
		struct collect_ctx c = { .ol = ol, .now = now, .due = batch, .cap = room < FILL_BATCH ? room : FILL_BATCH };
		/* ask for more than we take: rows already in flight are skipped */
		int n = store_outbox_due(agent->store, ol->peer_id, now, c.cap + ol->n_inflight, collect_one, &c);
		if (n <= 0 || c.n == 0)
			break;
		if (store_begin(agent->store) < 0)
			blocked = true;
		for (size_t i = 0; i < c.n; i++) {
			struct due *d = &batch[i];
			if (!blocked) {
				struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = d->envelope,
							.len = d->envelope_len };
				int rc = link_send_frame(ol->dealer, &f, 0);
				if (rc < 0) {
					if (rc != -EAGAIN)
						log_warn("peer=%s msg=%s event=send_failed reason=\"%s\"", ol->peer_id,
							 link_hex_id(d->id),
							 rc == LIMES_E_NOMEM ? "out of memory" : zmq_strerror(-rc));
					blocked = true;
				} else {
					struct inflight *fl = link_inflight_add(ol, d->id, d->recipient);
					if (fl) {
						fl->sent_ms = now;
						envelope_hash(d->envelope, d->envelope_len, fl->hash);
					}
					store_delivery_sent(agent->store, d->id, d->recipient, now,
							    now + retry_delay(cfg, d->attempts + 1));
					p->sent++;
					if (d->attempts > 0)
						p->resent++;
					sent++;
				}
			}
			free(d->envelope);
		}
	}
	/* any zmq call may have consumed the socket's edge: look again */
	zsock_poke(ol->watch);
	if (sent) {
		ol->last_send_ms = now;
		/* "sent" marks need no fsync of their own: they ride the next commit */
		L->dirty = true;
	}
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void send_heartbeat(struct links *L, struct outlink *ol, uint64_t now)
{
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
	f.heartbeat.sent_ms = now;
	if (link_send_frame(ol->dealer, &f, 0) == 0) {
		ol->last_send_ms = now;
		ol->last_heartbeat_ms = now;
		ol->heartbeat_mono_us = mono_us();
	}
	zsock_poke(ol->watch);
	(void)L;
}

/* ---------------------------------------------------------------- receipts in */

/* Benchmark hook: with LIMES_TRACE_FD set, one line per verified receipt
 * ("<id hex> <CLOCK_MONOTONIC ns> <state>") goes to that descriptor, so
 * `limes bench` can time submit -> receipt verified across processes. */
static void trace_delivery(struct links *L, const uint8_t id[16], enum delivery_state st)
{
	struct timespec ts;
	char line[96];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int n = snprintf(line, sizeof(line), "%s %llu %s\n", link_hex_id(id),
			 (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
			 store_delivery_state_name(st));
	if (n > 0 && write(L->trace_fd, line, (size_t)n) < 0)
		L->trace_fd = -1; /* reader gone: stop tracing */
}

/* Finds the delivery a receipt entry speaks of: the one to `recipient`, or
 * (for a refusal by the relay itself) one routed through `relay`; either way
 * its envelope must hash to the entry's hash. */
struct recipient_match {
	const char *recipient;
	const char *relay;        /* NULL unless the issuer is our next hop */
	const uint8_t *hash;
	bool match;
	char matched[CONFIG_ID_MAX + 1];
};

static int match_recipient(void *arg, const struct store_delivery_row *row)
{
	struct recipient_match *m = arg;
	bool mine = strcmp(row->recipient, m->recipient) == 0;
	bool via = m->relay && strcmp(row->next_hop, m->relay) == 0;
	if (!mine && !via)
		return 0;
	uint8_t h[32];
	envelope_hash(row->envelope, row->envelope_len, h);
	if (memcmp(h, m->hash, 32) != 0)
		return 0;
	m->match = true;
	snprintf(m->matched, sizeof(m->matched), "%s", row->recipient);
	return 1;
}

static const struct peer_key *receipt_lookup(void *arg, const char *issuer, const uint8_t key_id[8],
					     uint64_t issued_ms, int *err)
{
	struct links *L = arg;
	struct peer *p = agent_peer(L->agent, issuer);
	(void)issued_ms;
	if (!p || memcmp(p->conf->key.key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return &p->conf->key;
}

/* A receipt from the peer behind ol's DEALER (or relayed through it). */
static void on_receipt(struct links *L, struct outlink *ol, const uint8_t *buf, size_t len)
{
	struct agent *agent = L->agent;
	struct wire_receipt_body body;
	uint64_t now = agent_now_ms();
	int rc = receipt_open(buf, len, agent->cfg->max_frame_bytes, receipt_lookup, L, &body);

	if (rc < 0) {
		agent->counters.receipts_bad++;
		log_warn("peer=%s event=bad_receipt reason=%s", ol->peer_id, limes_errname(rc));
		return;
	}
	/* addressed to another agency: we relayed its message */
	bool relay = strcmp(body.addressee, agent->cfg->id) != 0;
	if (relay && !agent_peer(agent, body.addressee)) {
		agent->counters.receipts_bad++;
		log_warn("peer=%s event=bad_receipt reason=\"addressed to unknown %s\"", ol->peer_id, body.addressee);
		goto out;
	}
	/* a receipt may come from the final recipient through a relay: the
	 * issuer must route through this link */
	struct peer *issuer = agent_peer(agent, body.issuer);
	const char *hop = issuer ? (issuer->conf->via[0] ? issuer->conf->via : issuer->conf->id) : "";
	if (strcmp(hop, ol->peer_id) != 0) {
		agent->counters.receipts_bad++;
		log_warn("peer=%s event=bad_receipt reason=\"issuer %s does not route through this link\"",
			 ol->peer_id, body.issuer);
		goto out;
	}
	if (store_begin(agent->store) < 0)
		goto out;
	int64_t receipt_id = 0;
	for (size_t i = 0; i < body.n_entries; i++) {
		const struct wire_receipt_entry *e = &body.entries[i];
		const char *recipient = body.issuer;
		struct inflight *fl = link_inflight_find(ol, e->message_id, body.issuer);
		bool bound;
		struct recipient_match m = { .recipient = body.issuer, .hash = e->envelope_hash };
		if (fl) {
			bound = memcmp(fl->hash, e->envelope_hash, 32) == 0;
		} else {
			/* a relay may refuse what it cannot carry; it can never deliver */
			if (e->status == WIRE_RECEIPT_REJECTED && strcmp(body.issuer, ol->peer_id) == 0)
				m.relay = ol->peer_id;
			store_message_get(agent->store, e->message_id, match_recipient, &m);
			bound = m.match;
			if (bound) {
				recipient = m.matched;
				fl = link_inflight_find(ol, e->message_id, recipient);
			}
		}
		if (!bound) {
			agent->counters.receipts_bad++;
			log_warn("peer=%s msg=%s event=bad_receipt reason=\"entry does not match a message we sent\"",
				 body.issuer, link_hex_id(e->message_id));
			continue;
		}
		if (fl)
			link_inflight_remove(ol, fl);
		enum delivery_state st = e->status == WIRE_RECEIPT_REJECTED ? DELIVERY_REJECTED : DELIVERY_DELIVERED;
		/* delivered = when we verified the receipt, on our clock */
		/* the signed receipt is kept once, however many entries it covers */
		if (receipt_id == 0 && store_receipt_put(agent->store, buf, len, &receipt_id) < 0)
			break;
		rc = store_delivery_done(agent->store, e->message_id, recipient, st, e->reason, e->detail, now,
					 receipt_id);
		if (rc < 0)
			continue;
		if (L->trace_fd >= 0)
			trace_delivery(L, e->message_id, st);
		if (issuer) {
			if (st == DELIVERY_REJECTED) {
				issuer->rejected_by_peer++;
				log_warn("peer=%s msg=%s event=rejected_by_peer reason=%d detail=\"%s\"", body.issuer,
					 link_hex_id(e->message_id), e->reason, e->detail);
			} else {
				issuer->delivered++;
				log_debug("peer=%s msg=%s event=delivered", body.issuer, link_hex_id(e->message_id));
			}
		}
	}
	L->dirty = true;
	if (relay)
		link_relay_receipt(L, &body, buf, len);
out:
	wire_receipt_body_clear(&body);
}

static void on_heartbeat_reply(struct links *L, struct outlink *ol, const struct wire_heartbeat *hb,
			       uint64_t now)
{
	struct peer *p = agent_peer(L->agent, ol->peer_id);
	if (!p || !hb->reply || !hb->has_echo || hb->echo_sent_ms > now)
		return;
	/* NTP-style: t0 our send, t1 their receive, t2 their send, t3 our receive */
	double t0 = (double)hb->echo_sent_ms, t1 = (double)hb->echo_received_ms;
	double t2 = (double)hb->sent_ms, t3 = (double)now;
	double rtt = (t3 - t0) - (t2 - t1);
	/* our own clock in microseconds when this answers our last heartbeat:
	 * the millisecond fields would round a loopback or LAN RTT to zero */
	if (hb->echo_sent_ms == ol->last_heartbeat_ms && ol->heartbeat_mono_us)
		rtt = (double)(mono_us() - ol->heartbeat_mono_us) / 1000.0 - (t2 - t1);
	if (rtt < 0)
		rtt = 0;
	double offset = ((t1 - t0) + (t2 - t3)) / 2;
	if (!p->has_rtt) {
		p->rtt_ms = rtt;
		p->clock_offset_ms = offset;
		p->has_rtt = true;
	} else {
		p->rtt_ms = 0.8 * p->rtt_ms + 0.2 * rtt;
		p->clock_offset_ms = 0.8 * p->clock_offset_ms + 0.2 * offset;
	}
}

/* Input on a DEALER: receipts and heartbeat replies from that peer. */
bool link_dealer_drain(struct zsock *zs, void *arg)
{
	struct outlink *ol = arg;
	struct links *L = ol->links;
	void *s = zsock_socket(zs);
	size_t n = 0;
	bool heard = false;

	for (; n < DRAIN_BUDGET; n++) {
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			break;
		}
		uint64_t now = agent_now_ms();
		struct wire_frame f;
		int rc = wire_frame_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), L->agent->cfg->max_frame_bytes, &f);
		heard = true;
		ol->last_heard_ms = now;
		if (rc < 0) {
			L->agent->counters.frames_garbage++;
			log_warn("peer=%s event=garbage_frame reason=%s", ol->peer_id, limes_errname(rc));
		} else if (f.kind == WIRE_FRAME_RECEIPT) {
			on_receipt(L, ol, f.bytes, f.len);
		} else if (f.kind == WIRE_FRAME_HEARTBEAT) {
			on_heartbeat_reply(L, ol, &f.heartbeat, now);
		} else {
			L->agent->counters.frames_garbage++;
			log_warn("peer=%s event=unexpected_frame kind=%d", ol->peer_id, (int)f.kind);
		}
		zmq_msg_close(&msg);
	}
	if (heard) {
		struct peer *p = agent_peer(L->agent, ol->peer_id);
		if (p)
			p->last_heard_ms = ol->last_heard_ms;
		set_state(L, ol, LINK_UP, "");
	}
	/* delivery marks ride the next commit (tick or API); a mark lost in a
	 * crash only costs a re-send answered as a duplicate */
	link_fill(L, ol);
	return n == DRAIN_BUDGET;
}

/* ---------------------------------------------------------------- timers */

static void on_tick(uv_timer_t *timer)
{
	struct links *L = timer->data;
	const struct config *cfg = L->agent->cfg;
	uint64_t now = agent_now_ms();

	for (size_t i = 0; i < L->n_out; i++) {
		struct outlink *ol = L->out[i];
		struct peer *p = agent_peer(L->agent, ol->peer_id);
		if (!p)
			continue;
		uint64_t heard = ol->last_heard_ms ? ol->last_heard_ms : ol->connect_ms;
		if (now > heard + cfg->dead_after_ms) {
			link_reset(L, ol, "silent");
			continue;
		}
		if (now >= ol->last_send_ms + cfg->heartbeat_ms ||
		    (p->state != LINK_UP && now >= ol->last_heartbeat_ms + 500))
			send_heartbeat(L, ol, now);
		/* deliveries whose receipt is overdue become due again in the store */
		for (size_t k = 0; k < ol->inflight_cap && ol->n_inflight; k++) {
			struct inflight *fl = &ol->inflight[k];
			if (fl->used && now > fl->sent_ms + cfg->retry_initial_ms) {
				link_inflight_remove(ol, fl);
				k--; /* backward shift may have moved an entry here */
			}
		}
		link_fill(L, ol);
	}
	if (L->dirty)
		link_commit(L);
}

/* ---------------------------------------------------------------- commit */

/* Group commit: everything staged this turn goes to disk with one fsync;
 * then the receipts that depend on it are sent. */
int link_commit(struct links *L)
{
	struct agent *agent = L->agent;
	bool open = store_in_transaction(agent->store);
	int rc = store_commit(agent->store);

	L->dirty = false;
	if (open)
		agent->counters.commits++;
	if (rc < 0) {
		agent->counters.commit_failures++;
		log_error("event=store_failed reason=\"%s\" action=\"receipts withheld; peers will resend\"",
			  store_health_reason(agent->store));
		link_drop_pending(L);
		return rc;
	}
	link_send_pending(L);
	if (L->relay_pending) {
		L->relay_pending = false;
		for (size_t i = 0; i < L->n_out; i++)
			link_fill(L, L->out[i]);
	}
	if (L->inbox_grew) {
		L->inbox_grew = false;
		agent_inbox_changed(agent);
	}
	return 0;
}

/* ---------------------------------------------------------------- life cycle */

static void free_outlink(struct outlink *ol)
{
	outlink_disconnect(ol);
	free(ol->inflight);
	free(ol);
}

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
	ol->window = L->agent->cfg->window;
	ol->inflight_cap = 16;
	while (ol->inflight_cap < 2 * (size_t)ol->window)
		ol->inflight_cap *= 2;
	ol->inflight = calloc(ol->inflight_cap, sizeof(*ol->inflight));
	if (!ol->inflight) {
		free(ol);
		return LIMES_E_NOMEM;
	}
	ol->connect_ms = agent_now_ms();
	L->out[L->n_out++] = ol;
	/* after a restart or reload nothing is in flight: what was sent and not
	 * receipted is due now, not after its back-off */
	if (store_healthy(L->agent->store) && store_begin(L->agent->store) == 0 &&
	    store_delivery_reset_hop(L->agent->store, ol->peer_id) == 0)
		L->dirty = true;
	int rc = outlink_connect(L, ol);
	if (rc == 0)
		set_state(L, ol, LINK_CONNECTING, "");
	return rc;
}

struct links *links_new(struct agent *agent, char *err, size_t err_len)
{
	struct links *L = calloc(1, sizeof(*L));
	const struct config *cfg = agent->cfg;

	if (!L) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	L->agent = agent;
	L->trace_fd = -1;
	const char *trace = getenv("LIMES_TRACE_FD");
	if (trace && *trace) {
		char *end;
		long fd = strtol(trace, &end, 10);
		if (*end == '\0' && fd > 2 && fd < 65536)
			L->trace_fd = (int)fd;
	}
	L->ctx = zmq_ctx_new();
	L->zl = zloop_new(&agent->loop);
	if (!L->ctx || !L->zl) {
		snprintf(err, err_len, "cannot create the ZeroMQ context");
		goto fail;
	}
	if (!zmq_has("curve")) {
		snprintf(err, err_len, "libzmq has no CURVE support: refusing to run");
		goto fail;
	}
	/* The ZAP handler first: a CURVE server without one would admit any key. */
	L->zap = zmq_socket(L->ctx, ZMQ_REP);
	if (!L->zap || set_int(L->zap, ZMQ_LINGER, 0) < 0 || zmq_bind(L->zap, "inproc://zeromq.zap.01") < 0) {
		snprintf(err, err_len, "cannot bind the ZAP handler (inproc://zeromq.zap.01): %s; refusing to run",
			 zmq_strerror(errno));
		goto fail;
	}
	L->zap_watch = zsock_watch(L->zl, L->zap, link_zap_drain, L);
	if (!L->zap_watch) {
		snprintf(err, err_len, "cannot watch the ZAP handler socket");
		goto fail;
	}
	L->router = zmq_socket(L->ctx, ZMQ_ROUTER);
	if (!L->router || common_options(L, L->router) < 0 || set_int(L->router, ZMQ_ROUTER_MANDATORY, 1) < 0 ||
	    set_int(L->router, ZMQ_CURVE_SERVER, 1) < 0 ||
	    zmq_setsockopt(L->router, ZMQ_CURVE_SECRETKEY, identity_curve_secret(agent->me), 32) < 0 ||
	    zmq_setsockopt(L->router, ZMQ_ZAP_DOMAIN, "limes", 5) < 0) {
		snprintf(err, err_len, "cannot set up the ROUTER socket: %s", zmq_strerror(errno));
		goto fail;
	}
	if (zmq_bind(L->router, cfg->listen) < 0) {
		snprintf(err, err_len, "%s: [agent] listen = %s: cannot bind: %s", cfg->path, cfg->listen,
			 zmq_strerror(errno));
		goto fail;
	}
	L->router_watch = zsock_watch(L->zl, L->router, link_router_drain, L);
	if (!L->router_watch) {
		snprintf(err, err_len, "cannot watch the ROUTER socket");
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (cfg->peers[i].endpoint[0] && add_outlink(L, &cfg->peers[i]) < 0) {
			snprintf(err, err_len, "peer \"%s\": cannot connect to %s", cfg->peers[i].id,
				 cfg->peers[i].endpoint);
			goto fail;
		}
	if (link_recv_init(L) < 0) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	uv_timer_init(&agent->loop, &L->tick);
	L->tick.data = L;
	uv_timer_start(&L->tick, on_tick, TICK_MS, TICK_MS);
	L->tick_on = true;
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
	if (L->dirty)
		link_commit(L);
	for (size_t i = 0; i < L->n_out; i++)
		outlink_disconnect(L->out[i]);
	zsock_close(L->router_watch);
	L->router_watch = NULL;
	zsock_close(L->zap_watch);
	L->zap_watch = NULL;
	if (L->router)
		zmq_close(L->router);
	if (L->zap)
		zmq_close(L->zap);
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
	zloop_destroy(&L->zl);
	if (L->ctx)
		zmq_ctx_term(L->ctx);
	free(L);
	*pL = NULL;
}

int links_reload(struct links *L, const struct peer *old, size_t n_old)
{
	const struct config *cfg = L->agent->cfg;
	(void)old;
	(void)n_old;
	/* drop links to peers that went away or changed endpoint or key */
	for (size_t i = 0; i < L->n_out;) {
		struct outlink *ol = L->out[i];
		const struct config_peer *cp = config_peer_find(cfg, ol->peer_id);
		if (cp && cp->endpoint[0] && strcmp(cp->endpoint, ol->endpoint) == 0 &&
		    memcmp(cp->key.key_id, ol->key_id, 8) == 0) {
			i++;
			continue;
		}
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
		if (cp->endpoint[0] && !have) {
			int rc = add_outlink(L, cp);
			if (rc < 0)
				return rc;
			log_info("peer=%s event=link_added endpoint=%s", cp->id, cp->endpoint);
		}
	}
	/* runtime peers were rebuilt: restore the link state we know */
	for (size_t k = 0; k < L->n_out; k++) {
		struct peer *p = agent_peer(L->agent, L->out[k]->peer_id);
		if (p && p->state == LINK_DOWN)
			p->state = LINK_CONNECTING;
	}
	return 0;
}

void links_kick(struct links *L, const char *next_hop)
{
	for (size_t i = 0; i < L->n_out; i++)
		if (strcmp(L->out[i]->peer_id, next_hop) == 0)
			link_fill(L, L->out[i]); /* the "sent" marks ride the next commit */
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
