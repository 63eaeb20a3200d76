/*
 * Shared by link.c (outgoing side) and link_recv.c (incoming side) only.
 */
#ifndef LIMES_LINK_INT_H
#define LIMES_LINK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "agent/agent.h"
#include "agent/link.h"
#include "agent/zsock.h"
#include "proto/wire.h"

/* A delivery sent and not yet receipted (memory only: after a restart the
 * store makes everything unreceipted due again). */
struct inflight {
	uint8_t id[16];
	char recipient[CONFIG_ID_MAX + 1];
	uint8_t hash[32];
	uint64_t sent_ms;
	bool used;
};

/* Our DEALER to one direct peer. */
struct outlink {
	struct links *links;
	char peer_id[CONFIG_ID_MAX + 1];
	char endpoint[CONFIG_ENDPOINT_MAX];
	uint8_t key_id[8];
	void *dealer;
	struct zsock *watch;
	uint32_t window;
	struct inflight *inflight;    /* open addressing, inflight_cap a power of 2 */
	size_t inflight_cap, n_inflight;
	uint64_t connect_ms, last_heard_ms, last_send_ms, last_heartbeat_ms;
	uint64_t heartbeat_mono_us;   /* monotonic send time of the last heartbeat, for RTT */
};

/* A neighbour connected to our ROUTER, with the receipt entries waiting for
 * the next commit. */
struct inbound {
	char peer_id[CONFIG_ID_MAX + 1];
	uint8_t routing_id[256];
	size_t routing_len;
	struct wire_receipt_entry *pending;
	char (*pending_to)[CONFIG_ID_MAX + 1]; /* addressee of each entry: the original sender */
	size_t n_pending, cap_pending;
};

struct links {
	struct agent *agent;
	void *ctx, *zap, *router;
	struct zloop *zl;
	struct zsock *zap_watch, *router_watch;
	struct outlink **out;
	size_t n_out;
	struct inbound *in;
	size_t n_in;
	uv_timer_t tick;
	bool tick_on, stopped;
	bool dirty;        /* staged writes waiting for a commit */
	bool inbox_grew;   /* inbox rows in the staged writes */
	bool relay_pending; /* relayed envelopes staged: fill links after commit */
	uint64_t refused_handshakes;
	int trace_fd;      /* LIMES_TRACE_FD for limes bench, -1 off */
};

/* link_inflight.c: the in-flight set of one outlink. */
struct inflight *link_inflight_find(struct outlink *ol, const uint8_t id[16], const char *recipient);
struct inflight *link_inflight_add(struct outlink *ol, const uint8_t id[16], const char *recipient);
void link_inflight_remove(struct outlink *ol, struct inflight *f);
void link_inflight_clear(struct outlink *ol);
/* link_zap.c: answers the ZAP requests waiting on the handler socket. */
bool link_zap_drain(struct zsock *zs, void *arg);

bool link_dealer_drain(struct zsock *zs, void *arg);
bool link_router_drain(struct zsock *zs, void *arg);
void link_fill(struct links *L, struct outlink *ol);
int link_commit(struct links *L);
int link_send_frame(void *socket, const struct wire_frame *f, int flags);
void link_send_pending(struct links *L);
void link_drop_pending(struct links *L);
int link_recv_init(struct links *L);
void link_recv_free(struct links *L);
/* Relay: an envelope for another agency arrived from `from`; stage it for
 * its next hop. Returns 0 when taken (no receipt from us: the final
 * recipient's receipt travels back), or a negative error to reject it. */
int link_relay_envelope(struct links *L, struct inbound *from, const struct wire_header *h, const uint8_t *buf,
			size_t len, const uint8_t hash[32], const char **detail);
/* Relay: a receipt on a DEALER addressed to someone else; forward it. */
void link_relay_receipt(struct links *L, const struct wire_receipt_body *body, const uint8_t *buf, size_t len);
/* envelope_open's key lookup: the configured key of `sender` (arg: links). */
const struct envelope_peer *link_sender_lookup(void *arg, const char *sender, const uint8_t key_id[8],
					       uint64_t created_ms, int *err);
/* 32 hex digits of an id, in a static buffer (for log lines). */
const char *link_hex_id(const uint8_t id[16]);

#endif
