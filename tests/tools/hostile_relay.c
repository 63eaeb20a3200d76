/*
 * limes-hostile-relay: a relay agency gone bad, for tests/security/
 * test_hostile_relay.c. It holds the relay's identity (its keys are the
 * ones the author and the final recipient have configured for it), so the
 * author's DEALER completes its CURVE handshake with it and the final
 * recipient's ZAP admits it: it sees every frame in clear, as a real relay
 * does. What it cannot do is what no relay can: open the payload (sealed to
 * the final recipient) or sign as anyone but itself.
 *
 * Why this model: a man in the middle without the relay's key sees only
 * CURVE ciphertext; it can drop, delay or cut the TCP stream but not touch a
 * frame (one changed byte kills the connection), which the network
 * namespace test already covers with link cuts. A configured relay is the
 * strongest attacker on the path: every frame is its to drop, duplicate,
 * reorder, delay, replay, alter, or answer with receipts it signs itself.
 *
 * While hostile (from start until SIGUSR1) each envelope from the author and
 * each receipt from the recipient meets one fate: forwarded, dropped,
 * duplicated (again 0–500 ms later), held back and released after other
 * frames (reordered), delayed 50–2,000 ms, forwarded with one byte
 * flipped, or (an envelope) re-encoded: the same signed envelope in other
 * bytes, an unknown field appended, in place of the original; an envelope may also draw a forged receipt (ACCEPTED, signed by
 * the relay, as the relay or as the final recipient); and old frames of
 * either direction are replayed at random. Heartbeats are answered (a tenth
 * of the replies dropped) so the author keeps the link up. After SIGUSR1 it
 * releases what it holds and forwards honestly (--honest: from the start).
 * SIGTERM prints its counts on stdout (one `hostile_relay …` line) and ends it.
 *
 * It never answers a ResendRequest (docs/protocol.md "Resend after a
 * restore"), as an agent older than those frames: for
 * tests/integration/test_restore_unanswered.c it prints one line per
 * request on stdout as it comes, `resend_request at_ms=T asker=ID
 * request=TIME` (T: its monotonic clock).
 *
 *   limes-hostile-relay --keys DIR --id RELAY_ID --listen EP --next EP --next-key LINE [--seed N] [--honest]
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "crypto/receipt.h"
#include "crypto/resend.h"
#include "proto/wire.h"

#define MAX_FRAME (4u << 20)
#define HISTORY 512
#define HELD_MAX 4096

enum dest { TO_AUTHOR, TO_NEXT };

struct frame {
	enum dest dest;
	uint8_t *bytes;
	size_t len;
	uint64_t due_ms;          /* delayed: send at this time (0: not delayed) */
	unsigned after;           /* reordered: send after this many other frames went the same way, */
	uint64_t deadline_ms;     /* ... or at this time on a quiet link */
};

static volatile sig_atomic_t honest_now, stop_now;
static void on_usr1(int s) { (void)s; honest_now = 1; }
static void on_term(int s) { (void)s; stop_now = 1; }

static struct {
	unsigned long envelopes, receipts, heartbeats, resend_requests, forwarded, dropped, duplicated, reordered,
		delayed, tampered, replayed, forged, reencoded, hb_dropped, sent_after_honest;
} n;

static void *router, *dealer;
static uint8_t author_rid[256];
static size_t author_rid_len;
static struct frame held[HELD_MAX];
static size_t n_held;
static struct frame history[2][HISTORY];
static size_t n_history[2];
static bool honest;

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned pick(unsigned n_) { return (unsigned)rand() % n_; }

static uint8_t *dup_bytes(const uint8_t *b, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	if (!c)
		abort();
	memcpy(c, b, len);
	return c;
}

/* Sends now, without blocking: a full or gone peer loses the frame, which
 * is what a relay may do anyway. */
static void emit(enum dest d, const uint8_t *b, size_t len)
{
	if (d == TO_NEXT) {
		zmq_send(dealer, b, len, ZMQ_DONTWAIT);
	} else if (author_rid_len) {
		if (zmq_send(router, author_rid, author_rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
			zmq_send(router, b, len, ZMQ_DONTWAIT);
	}
	if (honest)
		n.sent_after_honest++;
	/* reordered frames wait for others going the same way */
	for (size_t i = 0; i < n_held; i++)
		if (held[i].dest == d && held[i].after)
			held[i].after--;
}

static void hold(enum dest d, const uint8_t *b, size_t len, uint64_t due, unsigned after, uint64_t deadline)
{
	if (n_held == HELD_MAX) {
		n.dropped++;
		return;
	}
	held[n_held++] = (struct frame){ .dest = d, .bytes = dup_bytes(b, len), .len = len, .due_ms = due,
					 .after = after, .deadline_ms = deadline };
}

static void remember(enum dest d, const uint8_t *b, size_t len)
{
	struct frame *slot = &history[d][n_history[d] % HISTORY];
	free(slot->bytes);
	*slot = (struct frame){ .dest = d, .bytes = dup_bytes(b, len), .len = len };
	n_history[d]++;
}

/* Sends what is due: delayed frames whose time came, reordered frames that
 * others overtook (or that waited 1.5 s), and everything once honest. */
static void release(uint64_t now)
{
	for (size_t i = 0; i < n_held;) {
		struct frame *f = &held[i];
		bool due = f->due_ms ? f->due_ms <= now : f->after == 0 || f->deadline_ms <= now;
		if (honest || due) {
			struct frame out = *f;
			held[i] = held[--n_held];
			emit(out.dest, out.bytes, out.len);
			free(out.bytes);
			i = 0; /* emit() changed the counters */
			continue;
		}
		i++;
	}
}

/* Receipts the relay signs itself, claiming delivery: a sender must take
 * neither (a relay can refuse, never deliver; and it cannot sign as the
 * recipient). */
static void forge(const struct identity *me, const char *my_id, const uint8_t *env, size_t len)
{
	struct wire_envelope e = { 0 };
	struct wire_header h;
	if (wire_envelope_unpack(env, len, len, &e) < 0)
		return;
	int rc = wire_header_unpack(e.header, e.header_len, e.header_len, &h);
	wire_envelope_clear(&e);
	if (rc < 0)
		return;
	struct wire_receipt_entry entry = { .status = WIRE_RECEIPT_ACCEPTED, .has_received_ms = true,
					    .received_ms = wall_ms() };
	memcpy(entry.message_id, h.message_id, sizeof(entry.message_id));
	envelope_hash(env, len, entry.envelope_hash);
	struct wire_receipt_body body = { .issued_ms = wall_ms(), .n_entries = 1, .entries = &entry };
	snprintf(body.issuer, sizeof(body.issuer), "%s", pick(2) ? my_id : h.recipient);
	snprintf(body.addressee, sizeof(body.addressee), "%s", h.sender);
	uint8_t *receipt = NULL, *frame = NULL;
	size_t rlen = 0, flen = 0;
	if (receipt_build(me, &body, &receipt, &rlen) == 0) {
		struct wire_frame f = { .kind = WIRE_FRAME_RECEIPT, .bytes = receipt, .len = rlen };
		if (wire_frame_pack(&f, &frame, &flen) == 0) {
			emit(TO_AUTHOR, frame, flen);
			n.forged++;
		}
	}
	free(receipt);
	free(frame);
}

/* Forwards, instead of an envelope, the same envelope re-encoded: an
 * unknown field appended, so the bytes (and their hash) differ while
 * header, ciphertext and signature are untouched and still verify. */
static bool reencode(const uint8_t *b, size_t len)
{
	struct wire_frame f;
	if (wire_frame_unpack(b, len, MAX_FRAME, &f) < 0 || f.kind != WIRE_FRAME_ENVELOPE)
		return false;
	static const uint8_t unknown[] = { 0x7a, 0x02, 'x', 'x' }; /* field 15, 2 bytes */
	uint8_t *env = malloc(f.len + sizeof(unknown)), *out = NULL;
	size_t out_len = 0;
	if (!env)
		return false;
	memcpy(env, f.bytes, f.len);
	memcpy(env + f.len, unknown, sizeof(unknown));
	struct wire_frame g = { .kind = WIRE_FRAME_ENVELOPE, .bytes = env, .len = f.len + sizeof(unknown) };
	bool ok = wire_frame_pack(&g, &out, &out_len) == 0;
	if (ok)
		emit(TO_NEXT, out, out_len);
	free(env);
	free(out);
	return ok;
}

/* One envelope or receipt on its way: its fate while hostile. */
static void pass(enum dest d, const uint8_t *b, size_t len, uint64_t now)
{
	if (honest) {
		emit(d, b, len);
		n.forwarded++;
		return;
	}
	remember(d, b, len);
	unsigned r = pick(100);
	if (r < 15) {
		n.dropped++;
	} else if (r < 30) {
		emit(d, b, len);
		hold(d, b, len, now + 1 + pick(500), 0, 0);
		n.duplicated++;
	} else if (r < 50) {
		hold(d, b, len, 0, 1 + pick(8), now + 1500);
		n.reordered++;
	} else if (r < 65) {
		hold(d, b, len, now + 50 + pick(1950), 0, 0);
		n.delayed++;
	} else if (r < 70 && len > 8) {
		uint8_t *bad = dup_bytes(b, len);
		bad[4 + pick((unsigned)(len - 4))] ^= (uint8_t)(1u << pick(8));
		emit(d, bad, len);
		free(bad);
		n.tampered++;
	} else if (r < 75 && d == TO_NEXT && reencode(b, len)) {
		n.reencoded++;
	} else {
		emit(d, b, len);
		n.forwarded++;
	}
}

static void answer_heartbeat(const uint8_t *rid, size_t rid_len, const struct wire_heartbeat *hb)
{
	if (!honest && pick(10) == 0) {
		n.hb_dropped++;
		return;
	}
	uint64_t now = wall_ms();
	struct wire_frame f = { .kind = WIRE_FRAME_HEARTBEAT };
	f.heartbeat = (struct wire_heartbeat){ .sent_ms = now, .has_echo = true, .echo_sent_ms = hb->sent_ms,
					       .echo_received_ms = now, .reply = true, .protocol = hb->protocol };
	uint8_t *b = NULL;
	size_t len = 0;
	if (wire_frame_pack(&f, &b, &len) == 0 && zmq_send(router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
		zmq_send(router, b, len, ZMQ_DONTWAIT);
	free(b);
}

static const char *arg(int argc, char **argv, const char *name, const char *fallback)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	if (!fallback) {
		fprintf(stderr, "limes-hostile-relay: %s is required\n", name);
		exit(2);
	}
	return fallback;
}

int main(int argc, char **argv)
{
	const char *keys = arg(argc, argv, "--keys", NULL), *my_id = arg(argc, argv, "--id", NULL);
	const char *listen = arg(argc, argv, "--listen", NULL), *next = arg(argc, argv, "--next", NULL);
	const char *next_key = arg(argc, argv, "--next-key", NULL);
	unsigned seed = (unsigned)strtoul(arg(argc, argv, "--seed", "1"), NULL, 10);
	char why[256];
	int err = 0;
	struct peer_key nk;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--honest") == 0)
			honest_now = 1;
	srand(seed);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (random_init() < 0)
		return 1;
	struct identity *me = identity_load(keys, &err, why, sizeof(why));
	if (!me || identity_line_parse(next_key, &nk, why, sizeof(why)) < 0) {
		fprintf(stderr, "limes-hostile-relay: %s\n", why);
		return 1;
	}
	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	void *ctx = zmq_ctx_new();
	int one = 1, linger = 0;
	int64_t maxmsg = MAX_FRAME;
	router = zmq_socket(ctx, ZMQ_ROUTER);
	dealer = zmq_socket(ctx, ZMQ_DEALER);
	zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof(one));
	zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, identity_curve_secret(me), 32);
	zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, nk.box_pk, 32);
	zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, identity_public(me)->box_pk, 32);
	zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, identity_curve_secret(me), 32);
	zmq_setsockopt(router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(router, listen) < 0 || zmq_connect(dealer, next) < 0) {
		fprintf(stderr, "limes-hostile-relay: %s\n", zmq_strerror(errno));
		return 1;
	}
	uint8_t *buf = malloc(MAX_FRAME);
	uint64_t last_replay = 0;
	while (!stop_now) {
		zmq_pollitem_t items[2] = { { router, 0, ZMQ_POLLIN, 0 }, { dealer, 0, ZMQ_POLLIN, 0 } };
		zmq_poll(items, 2, 10);
		if (honest_now && !honest) {
			honest = true;
			fprintf(stderr, "limes-hostile-relay: honest from now on (%zu frames held)\n", n_held);
		}
		uint64_t now = mono_ms();
		for (;;) { /* the author's side: [routing id, frame] */
			uint8_t rid[256];
			int rl = zmq_recv(router, rid, sizeof(rid), ZMQ_DONTWAIT);
			if (rl < 0)
				break;
			int more = 0;
			size_t ml = sizeof(more);
			zmq_getsockopt(router, ZMQ_RCVMORE, &more, &ml);
			if (!more)
				continue;
			int len = zmq_recv(router, buf, MAX_FRAME, 0);
			if (len < 0 || (size_t)len > MAX_FRAME)
				continue;
			memcpy(author_rid, rid, (size_t)rl);
			author_rid_len = (size_t)rl;
			struct wire_frame f;
			if (wire_frame_unpack(buf, (size_t)len, MAX_FRAME, &f) < 0)
				continue;
			if (f.kind == WIRE_FRAME_HEARTBEAT && !f.heartbeat.reply) {
				n.heartbeats++;
				answer_heartbeat(rid, (size_t)rl, &f.heartbeat);
			} else if (f.kind == WIRE_FRAME_ENVELOPE) {
				n.envelopes++;
				if (!honest && pick(100) < 5)
					forge(me, my_id, f.bytes, f.len);
				pass(TO_NEXT, buf, (size_t)len, now);
			} else if (f.kind == WIRE_FRAME_RESEND_REQUEST) {
				struct resend_request rq;
				n.resend_requests++;
				if (resend_parse(f.bytes, f.len, &rq) == 0)
					printf("resend_request at_ms=%llu asker=%s request=%llu\n", (unsigned long long)now,
					       rq.asker, (unsigned long long)rq.time_ms);
				else
					printf("resend_request at_ms=%llu undecodable\n", (unsigned long long)now);
			}
			/* audit checkpoints and the rest: a relay may ignore them */
		}
		for (;;) { /* the recipient's answers on our DEALER */
			int len = zmq_recv(dealer, buf, MAX_FRAME, ZMQ_DONTWAIT);
			if (len < 0)
				break;
			if ((size_t)len > MAX_FRAME)
				continue;
			struct wire_frame f;
			if (wire_frame_unpack(buf, (size_t)len, MAX_FRAME, &f) == 0 && f.kind == WIRE_FRAME_RECEIPT) {
				n.receipts++;
				pass(TO_AUTHOR, buf, (size_t)len, now);
			}
		}
		release(now);
		if (!honest && now - last_replay >= 50) {
			last_replay = now;
			enum dest d = pick(2) ? TO_NEXT : TO_AUTHOR;
			if (pick(10) < 3 && n_history[d]) {
				size_t k = n_history[d] < HISTORY ? n_history[d] : HISTORY;
				struct frame *old = &history[d][pick((unsigned)k)];
				emit(d, old->bytes, old->len);
				n.replayed++;
			}
		}
	}
	printf("hostile_relay envelopes=%lu receipts=%lu heartbeats=%lu resend_requests=%lu forwarded=%lu dropped=%lu "
	       "duplicated=%lu reordered=%lu delayed=%lu tampered=%lu replayed=%lu forged=%lu reencoded=%lu "
	       "heartbeat_replies_dropped=%lu sent_after_honest=%lu\n",
	       n.envelopes, n.receipts, n.heartbeats, n.resend_requests, n.forwarded, n.dropped, n.duplicated,
	       n.reordered, n.delayed, n.tampered, n.replayed, n.forged, n.reencoded, n.hb_dropped, n.sent_after_honest);
	free(buf);
	for (size_t i = 0; i < n_held; i++)
		free(held[i].bytes);
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; i < HISTORY; i++)
			free(history[d][i].bytes);
	zmq_close(router);
	zmq_close(dealer);
	zmq_ctx_term(ctx);
	identity_destroy(&me);
	return 0;
}
