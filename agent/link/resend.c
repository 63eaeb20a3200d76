/*
 * Resend after a restore (docs/protocol.md "Resend after a restore"; the
 * core decides what goes again, core/resend.c, this file carries).
 *
 * Asking: a store restored from a copy (store_restored_copy()) lost what
 * our neighbours delivered after the copy was taken, and they hold our
 * receipts for it. So each DEALER, once its link is up, asks its neighbour
 * with a signed ResendRequest, again until it answers (link_resend_ask_wait_ms);
 * when every direct neighbour has answered "done" the store's copy mark is
 * dropped and a later start asks no more.
 *
 * Answering: a neighbour's request on the ROUTER, checked (its own id, ours,
 * its signature by the key we hold for it), re-queues our deliveries to it
 * delivered since, at most RESEND_BATCH_MAX per request and one resend
 * per neighbour per RESEND_EVERY_MS (core: an operator's counts too); the
 * answer leaves once the re-queueing
 * is committed. A request repeated (same time) gets the same answer again
 * and re-queues nothing.
 */
#include "link_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/envelope.h"
#include "crypto/resend.h"
#include "proto/bytes.h"
#include "proto/err.h"

/* A neighbour that never answers (an agent older than ResendRequest counts
 * it as a garbage frame) is asked ever less often: the wait, `[link] retry`
 * at first as for an unreceipted envelope, doubles per unanswered ask up to
 * this (or `retry` when longer), and after RESEND_UNANSWERED_WARN asks one
 * line says so and its status reads not_answering. */
#define ASK_MAX_MS 60000
#define RESEND_UNANSWERED_WARN 5
/* A series of requests (one restore: the same since, each "more" asking
 * again) ends with "done", or when the asker has been quiet this long. */
#define SERIES_IDLE_MS 30000
#define RESEND_PEERS_MAX 256

enum { ACK_DONE = 0, ACK_MORE = 1, ACK_BUSY = 2 };

/* One neighbour, as asker or as answerer. */
struct resend_peer {
	char peer_id[CONFIG_ID_MAX + 1];
	/* asking it */
	bool done;
	uint64_t request_ms;          /* names our current request to it (0: none yet) */
	uint64_t asked_ms;            /* when it last went */
	unsigned unanswered;          /* asks since its last answer of any kind */
	/* answering it */
	uint64_t answered_time_ms;    /* the request last answered (or being answered) */
	uint64_t series_since_ms;     /* the since of the series of requests being answered */
	uint64_t series_until_ms;     /* what was delivered before its first request: 0 none open */
	uint64_t series_heard_ms;     /* its last request of the series */
	uint8_t ack[WIRE_RESEND_ACK_LEN];
	bool ack_waits_commit;        /* its re-queueing is staged: answer after the commit */
	bool ack_due;                 /* an answer to send */
};

struct link_resend {
	bool checked;                 /* the store was asked whether it is a restored copy */
	bool restored;                /* it is, and not every neighbour has answered yet */
	uint64_t since_ms;            /* ask for what was delivered since this (their clock) */
	struct resend_peer peers[RESEND_PEERS_MAX];
	size_t n;
};

static struct resend_peer *peer_state(struct link_resend *R, const char *peer_id)
{
	for (size_t i = 0; i < R->n; i++)
		if (strcmp(R->peers[i].peer_id, peer_id) == 0)
			return &R->peers[i];
	if (R->n == RESEND_PEERS_MAX)
		return NULL;
	struct resend_peer *rp = &R->peers[R->n++];
	memset(rp, 0, sizeof(*rp));
	snprintf(rp->peer_id, sizeof(rp->peer_id), "%s", peer_id);
	return rp;
}

uint64_t link_resend_ask_wait_ms(uint64_t retry_ms, unsigned unanswered)
{
	uint64_t max = retry_ms > ASK_MAX_MS ? retry_ms : ASK_MAX_MS;
	uint64_t ms = retry_ms;
	for (unsigned i = 1; i < unanswered && ms < max; i++)
		ms *= 2;
	return ms < max ? ms : max;
}

static struct link_resend *state(struct links *L)
{
	if (!L->resend)
		L->resend = calloc(1, sizeof(*L->resend));
	return L->resend;
}

void link_resend_free(struct link_resend **R)
{
	if (R) {
		free(*R);
		*R = NULL;
	}
}

/* Reads the copy mark once: the store is what it is at start. */
static void check_restored(struct links *L, struct link_resend *R)
{
	uint64_t taken_ms = 0;
	R->checked = true;
	int rc = store_restored_copy(L->deps.store, &taken_ms);
	if (rc == LIMES_E_NOTFOUND)
		return;
	if (rc < 0) {
		log_warn("event=restore_check_failed reason=\"%s\" action=\"neighbours are not asked to resend\"",
			 limes_strerror(rc));
		return;
	}
	/* delivered at their clock: allow for it being behind ours (what
	 * comes twice is answered as a duplicate) */
	uint64_t skew = peers_config(L->deps.peers)->max_clock_skew_ms;
	R->restored = true;
	R->since_ms = taken_ms > skew ? taken_ms - skew : 0;
	log_warn("event=restored_copy taken_ms=%llu since_ms=%llu action=\"asking each neighbour to send again what "
		 "it delivered since\"",
		 (unsigned long long)taken_ms, (unsigned long long)R->since_ms);
}

/* Every direct neighbour answered: the copy is whole again. */
static void maybe_finish(struct links *L, struct link_resend *R)
{
	for (size_t i = 0; i < L->n_out; i++) {
		struct resend_peer *rp = peer_state(R, L->out[i]->peer_id);
		if (!rp || !rp->done)
			return;
	}
	int rc = link_stage(L, 0);
	if (rc == 0)
		rc = store_restored_done(L->deps.store);
	if (rc < 0) {
		log_warn("event=restore_mark_kept reason=\"%s\" action=\"retried\"", limes_strerror(rc));
		return;
	}
	R->restored = false;
	log_info("event=restore_resend_complete peers=%zu", L->n_out);
}

void link_resend_tick(struct links *L, struct outlink *ol, uint64_t now)
{
	struct link_resend *R = state(L);
	const char *why = "";

	if (!R)
		return;
	if (!R->checked)
		check_restored(L, R);
	if (!R->restored)
		return;
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	struct resend_peer *rp = peer_state(R, ol->peer_id);
	if (!rp || rp->done || !ol->dealer || !p ||
	    (peer_link(p)->state != LINK_UP && peer_link(p)->state != LINK_DEGRADED))
		return;
	uint64_t retry_ms = peers_config(L->deps.peers)->retry_initial_ms;
	if (rp->asked_ms && now < rp->asked_ms + link_resend_ask_wait_ms(retry_ms, rp->unanswered))
		return;
	if (rp->unanswered == RESEND_UNANSWERED_WARN) {
		peer_link_set_resend(p, PEER_RESEND_NOT_ANSWERING);
		log_warn("peer=%s event=resend_unanswered asks=%u action=\"asking every %llu s at most; an agent "
			 "older than ResendRequest cannot answer: its operator can run limes requeue --state "
			 "delivered --peer %s --since %llu\"",
			 ol->peer_id, rp->unanswered,
			 (unsigned long long)(link_resend_ask_wait_ms(retry_ms, UINT_MAX) / 1000),
			 peers_config(L->deps.peers)->id, (unsigned long long)R->since_ms);
	}
	bool first = !rp->request_ms || !rp->asked_ms;
	if (!rp->request_ms)
		rp->request_ms = now;
	struct resend_request rq = { .since_ms = R->since_ms, .time_ms = rp->request_ms };
	snprintf(rq.asker, sizeof(rq.asker), "%s", peers_config(L->deps.peers)->id);
	snprintf(rq.to, sizeof(rq.to), "%s", ol->peer_id);
	uint8_t body[RESEND_BODY_MAX], sig[RESEND_SIG_LEN];
	size_t body_len = 0;
	if (resend_build(L->deps.me, &rq, body, &body_len, sig) < 0)
		return;
	struct wire_frame f = { .kind = WIRE_FRAME_RESEND_REQUEST, .bytes = body, .len = body_len, .sig = sig };
	rp->asked_ms = now;
	rp->unanswered++;
	if (first)
		peer_link_set_resend(p, PEER_RESEND_ASKING);
	if (link_send_frame(ol->dealer, &f, 0, &why) < 0)
		log_debug("peer=%s event=resend_request_unsent reason=\"%s\"", ol->peer_id, why);
	else
		/* asked again while it does not answer: logged once */
		(first ? log_info : log_debug)("peer=%s event=resend_requested since_ms=%llu request=%llu", ol->peer_id,
			 (unsigned long long)R->since_ms, (unsigned long long)rp->request_ms);
}

void link_resend_on_ack(struct links *L, struct outlink *ol, const struct wire_frame *f)
{
	struct link_resend *R = state(L);
	if (!R || !R->restored || f->len != WIRE_RESEND_ACK_LEN)
		return;
	struct resend_peer *rp = peer_state(R, ol->peer_id);
	uint64_t time_ms = be64_get(f->bytes);
	uint32_t count = ((uint32_t)f->bytes[8] << 24) | ((uint32_t)f->bytes[9] << 16) |
			 ((uint32_t)f->bytes[10] << 8) | f->bytes[11];
	uint8_t status = f->bytes[12];
	if (!rp || rp->done || time_ms != rp->request_ms)
		return; /* an answer to an earlier request of ours */
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	rp->unanswered = 0;
	log_info("peer=%s event=resend_answered request=%llu count=%u status=%s", ol->peer_id,
		 (unsigned long long)time_ms, count,
		 status == ACK_DONE ? "done" : status == ACK_MORE ? "more" : status == ACK_BUSY ? "busy" : "?");
	if (p)
		peer_link_set_resend(p, status == ACK_DONE ? PEER_RESEND_DONE : PEER_RESEND_ASKING);
	if (status == ACK_DONE) {
		rp->done = true;
		maybe_finish(L, R);
	} else if (status == ACK_MORE) {
		/* the next batch: a new request, at once */
		rp->request_ms = clock_now_ms();
		if (rp->request_ms <= time_ms)
			rp->request_ms = time_ms + 1;
		rp->asked_ms = 0;
	}
	/* busy: the same request goes again after `[link] retry` */
}

static void put_ack(uint8_t ack[WIRE_RESEND_ACK_LEN], uint64_t time_ms, size_t count, uint8_t status)
{
	be64_put(ack, time_ms);
	ack[8] = (uint8_t)(count >> 24);
	ack[9] = (uint8_t)(count >> 16);
	ack[10] = (uint8_t)(count >> 8);
	ack[11] = (uint8_t)count;
	ack[12] = status;
}

void link_resend_send_answers(struct links *L)
{
	struct link_resend *R = L->resend;
	const char *why = "";

	if (!R)
		return;
	for (size_t i = 0; i < R->n; i++) {
		struct resend_peer *rp = &R->peers[i];
		if (!rp->ack_due)
			continue;
		rp->ack_due = rp->ack_waits_commit = false;
		for (size_t k = 0; k < L->n_in; k++) {
			if (strcmp(L->in[k].peer_id, rp->peer_id) != 0 || !L->in[k].routing_len)
				continue;
			struct wire_frame f = { .kind = WIRE_FRAME_RESEND_ACK, .bytes = rp->ack, .len = sizeof(rp->ack) };
			if (link_send_routed(L, &L->in[k], &f, &why) < 0)
				log_debug("peer=%s event=resend_answer_unsent reason=\"%s\"", rp->peer_id, why);
			break;
		}
	}
}

void link_resend_drop_answers(struct links *L)
{
	struct link_resend *R = L->resend;
	if (!R)
		return;
	for (size_t i = 0; i < R->n; i++)
		if (R->peers[i].ack_waits_commit) {
			/* not durable: the request is served afresh when it comes again */
			R->peers[i].ack_due = R->peers[i].ack_waits_commit = false;
			R->peers[i].answered_time_ms = 0;
		}
}

static void refuse(struct links *L, const char *peer_id, const char *why)
{
	uint64_t suppressed;
	L->stats.frames_garbage++;
	if (ratelimit_pass(&L->log_limit, peer_id, &suppressed))
		log_warn("peer=%s event=resend_request_refused reason=\"%s\" suppressed=%llu", peer_id, why,
			 (unsigned long long)suppressed);
}

void link_resend_on_request(struct links *L, struct inbound *in, const struct wire_frame *f)
{
	struct link_resend *R = state(L);
	struct resend_request rq;
	struct peer *p = peers_find(L->deps.peers, in->peer_id);
	uint64_t now = clock_now_ms();

	if (!R || !p)
		return;
	if (resend_parse(f->bytes, f->len, &rq) < 0)
		return refuse(L, in->peer_id, "the request does not decode");
	if (strcmp(rq.asker, in->peer_id) != 0 || strcmp(rq.to, peers_config(L->deps.peers)->id) != 0)
		return refuse(L, in->peer_id, "the request names another asker or another neighbour");
	const struct envelope_peer *k = peer_crypto(p);
	if (!k || resend_verify(envelope_peer_key(k)->sign_pk, f->bytes, f->len, f->sig) < 0)
		return refuse(L, in->peer_id, "the request's signature does not verify with the key configured here");
	struct resend_peer *rp = peer_state(R, in->peer_id);
	if (!rp)
		return refuse(L, in->peer_id, "too many neighbours asking");
	if (rp->answered_time_ms == rq.time_ms) {
		/* asked again (our answer was lost, or is waiting for the commit) */
		if (!rp->ack_waits_commit) {
			rp->ack_due = true;
			link_resend_send_answers(L);
		}
		return;
	}
	if (!L->deps.submit) {
		put_ack(rp->ack, rq.time_ms, 0, ACK_BUSY);
		rp->ack_due = true;
		link_resend_send_answers(L);
		return;
	}
	/* Only what was delivered before the series' first request goes
	 * again: what it re-queued is delivered anew during the series, and
	 * taking it again would refill every batch ("more" for ever). */
	if (!rp->series_until_ms || rp->series_since_ms != rq.since_ms || now >= rp->series_heard_ms + SERIES_IDLE_MS) {
		rp->series_since_ms = rq.since_ms;
		rp->series_until_ms = now > rq.since_ms ? now : rq.since_ms + 1;
	}
	rp->series_heard_ms = now;
	char by[CONFIG_ID_MAX + 32];
	snprintf(by, sizeof(by), "peer %s (resend request)", in->peer_id);
	struct core_error err;
	size_t count = 0;
	bool more = false;
	int rc = submit_resend_delivered(L->deps.submit, by, in->peer_id, rq.since_ms, rp->series_until_ms,
					 RESEND_BATCH_MAX, false, &count, &more, &err);
	if (rc == LIMES_E_AGAIN) {
		/* another resend to it (an operator's) within RESEND_EVERY_MS */
		put_ack(rp->ack, rq.time_ms, 0, ACK_BUSY);
		rp->ack_due = true;
		link_resend_send_answers(L);
		return;
	}
	if (rc < 0) {
		log_warn("peer=%s event=resend_failed reason=\"%s\" action=\"it asks again\"", in->peer_id,
			 err.message[0] ? err.message : limes_strerror(rc));
		return;
	}
	rp->answered_time_ms = rq.time_ms;
	put_ack(rp->ack, rq.time_ms, count, more ? ACK_MORE : ACK_DONE);
	if (!more)
		rp->series_until_ms = 0; /* done: a later restore starts a series of its own */
	rp->ack_due = true;
	/* what was re-queued is staged: the answer leaves after the commit */
	rp->ack_waits_commit = count > 0 && L->staged;
	if (!rp->ack_waits_commit)
		link_resend_send_answers(L);
}
