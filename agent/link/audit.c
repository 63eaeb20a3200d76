/*
 * Audit checkpoints over the links (docs/audit.md, docs/protocol.md): our
 * signed checkpoints go to every direct neighbour on its DEALER until it
 * returns a countersignature (a neighbour that was down gets the ones it
 * missed when it is back); a neighbour's checkpoint arriving on the ROUTER
 * is verified against its configured key, kept, and countersigned once the
 * keeping is durable. Owns the countersignatures waiting for that commit.
 */
#include <stdlib.h>
#include <string.h>

#include "link_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "core/events.h"
#include "crypto/audit.h"
#include "crypto/encode.h"
#include "proto/err.h"

/* Checkpoints offered per neighbour per push, and how long an offered one
 * waits for its countersignature before it is offered again. */
#define AUDIT_PUSH_MAX 16
#define AUDIT_RESEND_MS 10000
#define AUDIT_ANSWERS_MAX 256

struct audit_answer {
	char peer_id[CONFIG_ID_MAX + 1];
	uint8_t body[WIRE_AUDIT_BODY_MAX];
	size_t body_len;
	uint8_t countersig[WIRE_SIG_LEN];
};

struct link_audit {
	struct audit_answer answers[AUDIT_ANSWERS_MAX]; /* waiting for the commit */
	size_t n_answers;
	struct ratelimit asked;       /* AuditKeptRequest answers per peer (a few a second) */
};

struct push_ctx {
	struct links *L;
	struct outlink *ol;
	size_t sent;
	uint64_t last_seq;
	bool blocked;
};

static int push_one(void *arg, const struct store_audit_checkpoint *cp)
{
	struct push_ctx *c = arg;
	struct wire_frame f = { .kind = WIRE_FRAME_AUDIT_CHECKPOINT, .bytes = cp->body, .len = cp->body_len,
				.sig = cp->sig };
	const char *why = "";
	int rc;

	if (cp->body_len == 0 || cp->body_len > WIRE_AUDIT_BODY_MAX)
		return 0;
	rc = link_send_frame(c->ol->dealer, &f, 0, &why);
	if (rc < 0) {
		c->blocked = true;
		if (rc != LIMES_E_AGAIN)
			log_warn("peer=%s event=audit_checkpoint_unsent reason=\"%s\"", c->ol->peer_id, why);
		return 1;
	}
	c->sent++;
	c->last_seq = cp->seq;
	return 0;
}

void link_audit_push(struct links *L, uint64_t now)
{
	/* reads must see committed checkpoints only: a staged one could still
	 * roll back; the next push (after the commit) sends it. Checkpoints are
	 * never staged lazily, so lazy marks waiting do not hold the push up */
	if (!commit_audit(L->deps.commit) || commit_durable_staged(L->deps.commit))
		return;
	for (size_t i = 0; i < L->n_out; i++) {
		struct outlink *ol = L->out[i];
		struct peer *p = peers_find(L->deps.peers, ol->peer_id);
		if (!p || !ol->dealer || peer_link(p)->state != LINK_UP)
			continue;
		/* offered ones get AUDIT_RESEND_MS to come back countersigned */
		uint64_t after = now < ol->audit_offered_ms + AUDIT_RESEND_MS ? ol->audit_offered_seq : 0;
		struct push_ctx c = { .L = L, .ol = ol };
		int rc = store_audit_uncountersigned(L->deps.store, ol->peer_id, after, AUDIT_PUSH_MAX, push_one, &c);
		if (rc < 0) {
			log_warn("peer=%s event=audit_push_failed reason=%s", ol->peer_id, limes_errname(rc));
			continue;
		}
		if (c.sent) {
			if (after == 0)
				ol->audit_offered_ms = now;
			ol->audit_offered_seq = c.last_seq;
			ol->last_send_ms = now;
			log_debug("peer=%s event=audit_checkpoints_offered count=%zu last_seq=%llu", ol->peer_id, c.sent,
				  (unsigned long long)c.last_seq);
		}
	}
}

/* Is this signed checkpoint a second, different one for a seq we already
 * countersigned for the peer (equivocation: two chains shown to two
 * parties)? Then it is refused: not countersigned, not kept (the first
 * stays), logged with the peer named, recorded in the trail and counted. */
static bool equivocates(struct links *L, const char *peer_id, struct peer *p, const struct wire_frame *f,
			uint64_t seq, const uint8_t head[AUDIT_HASH_LEN])
{
	uint8_t kept[WIRE_AUDIT_BODY_MAX], kept_head[AUDIT_HASH_LEN];
	char author[65], detail[200], kept_hex[17], offered_hex[17];
	uint64_t kseq, ktime;
	size_t kept_len = 0;
	int rc = store_audit_kept_body(L->deps.store, peer_id, seq, kept, sizeof(kept), &kept_len);

	if (rc == LIMES_E_NOTFOUND || (rc == 0 && kept_len == f->len && memcmp(kept, f->bytes, f->len) == 0))
		return false; /* new, or the same one offered again (our answer was lost) */
	if (rc < 0) {
		log_warn("peer=%s event=audit_checkpoint_unchecked seq=%llu reason=%s action=\"it is offered again\"",
			 peer_id, (unsigned long long)seq, limes_errname(rc));
		return true;
	}
	memset(kept_head, 0, sizeof(kept_head));
	if (audit_checkpoint_parse(kept, kept_len, author, &kseq, kept_head, &ktime) < 0)
		memset(kept_head, 0, sizeof(kept_head));
	encode_hex(kept_hex, sizeof(kept_hex), kept_head, 8);
	encode_hex(offered_hex, sizeof(offered_hex), head, 8);
	snprintf(detail, sizeof(detail),
		 "a second, different checkpoint at entry %llu: head %s... countersigned before, head %s... offered now",
		 (unsigned long long)seq, kept_hex, offered_hex);
	peer_count(p, PEER_EQUIVOCATIONS, 1);
	L->stats.audit_equivocations++;
	log_warn("peer=%s event=audit_equivocation seq=%llu kept_head=%s offered_head=%s action=\"refused, the first "
		 "is kept\"", peer_id, (unsigned long long)seq, kept_hex, offered_hex);
	events_add(peers_events(L->deps.peers), clock_now_ms(), "audit_equivocation", peer_id, "", "equivocation",
		   detail);
	rc = link_refusal_record(L, peer_id, NULL, "equivocation", detail);
	if (rc < 0)
		log_error("peer=%s event=audit_failed what=equivocation reason=\"%s\"", peer_id, limes_strerror(rc));
	return true;
}

/* A neighbour's checkpoint on the ROUTER: verify, keep, countersign after the commit. */
void link_audit_on_checkpoint(struct links *L, struct inbound *in, const struct wire_frame *f)
{
	struct audit *audit = commit_audit(L->deps.commit);
	struct peer *p = peers_find(L->deps.peers, in->peer_id);
	char author[65];
	uint64_t seq, time_ms;
	uint8_t head[AUDIT_HASH_LEN];
	struct store_audit_kept k;
	int rc;

	if (!audit || !p)
		return;
	if (audit_checkpoint_parse(f->bytes, f->len, author, &seq, head, &time_ms) < 0 ||
	    strcmp(author, in->peer_id) != 0) {
		L->stats.frames_garbage++;
		log_warn("peer=%s event=bad_audit_checkpoint reason=\"%s\"", in->peer_id,
			 strcmp(author, in->peer_id) ? "not the authenticated peer's checkpoint" : "does not parse");
		return;
	}
	if (audit_checkpoint_verify(peer_key_in_force(p)->sign_pk, f->bytes, f->len, f->sig) < 0) {
		L->stats.frames_garbage++;
		log_warn("peer=%s event=bad_sig what=audit_checkpoint seq=%llu", in->peer_id, (unsigned long long)seq);
		return;
	}
	if (equivocates(L, in->peer_id, p, f, seq, head))
		return;
	if (L->audit->n_answers == AUDIT_ANSWERS_MAX)
		return; /* the author offers it again later */
	struct audit_answer *a = &L->audit->answers[L->audit->n_answers];
	if (audit_countersign(audit_identity(audit), audit_agent_id(audit), f->bytes, f->len, f->sig,
			      a->countersig) < 0)
		return;
	memset(&k, 0, sizeof(k));
	k.peer = in->peer_id;
	k.seq = seq;
	k.body = f->bytes;
	k.body_len = f->len;
	memcpy(k.sig, f->sig, WIRE_SIG_LEN);
	memcpy(k.countersig, a->countersig, WIRE_SIG_LEN);
	k.time_ms = clock_now_ms();
	rc = link_stage(L, COMMIT_AUDIT);
	if (rc == 0)
		rc = store_audit_kept_put(L->deps.store, &k);
	if (rc < 0) {
		log_warn("peer=%s event=audit_checkpoint_unkept reason=%s action=\"it is offered again\"", in->peer_id,
			 limes_errname(rc));
		return;
	}
	snprintf(a->peer_id, sizeof(a->peer_id), "%s", in->peer_id);
	memcpy(a->body, f->bytes, f->len);
	a->body_len = f->len;
	L->audit->n_answers++;
	log_debug("peer=%s event=audit_checkpoint_kept seq=%llu", in->peer_id, (unsigned long long)seq);
}

void link_audit_send_answers(struct links *L)
{
	for (size_t i = 0; i < L->audit->n_answers; i++) {
		struct audit_answer *a = &L->audit->answers[i];
		struct inbound *in = NULL;
		for (size_t j = 0; j < L->n_in; j++)
			if (strcmp(L->in[j].peer_id, a->peer_id) == 0)
				in = &L->in[j];
		if (!in)
			continue;
		struct wire_frame f = { .kind = WIRE_FRAME_AUDIT_COUNTERSIGN, .bytes = a->body, .len = a->body_len,
					.sig = a->countersig };
		const char *why = "";
		if (link_send_routed(L, in, &f, &why) < 0)
			log_info("peer=%s event=audit_countersign_unsent reason=\"%s\" action=\"it is asked again\"",
				 a->peer_id, why);
	}
	L->audit->n_answers = 0;
}

void link_audit_drop_answers(struct links *L)
{
	L->audit->n_answers = 0;
}

/* A neighbour's countersignature of our checkpoint, on its DEALER. */
void link_audit_on_countersign(struct links *L, struct outlink *ol, const struct wire_frame *f)
{
	struct audit *audit = commit_audit(L->deps.commit);
	struct peer *p = peers_find(L->deps.peers, ol->peer_id);
	char author[65];
	uint64_t seq, time_ms;
	uint8_t head[AUDIT_HASH_LEN];
	int rc;

	if (!audit || !p)
		return;
	if (audit_checkpoint_parse(f->bytes, f->len, author, &seq, head, &time_ms) < 0 ||
	    strcmp(author, audit_agent_id(audit)) != 0) {
		L->stats.frames_garbage++;
		log_warn("peer=%s event=bad_audit_countersign reason=\"not one of our checkpoints\"", ol->peer_id);
		return;
	}
	/* the countersignature covers our signature too: ours, made again, is
	 * the same bytes (Ed25519 is deterministic) */
	uint8_t sig[WIRE_SIG_LEN];
	if (audit_checkpoint_sign(audit_identity(audit), f->bytes, f->len, sig) < 0 ||
	    audit_countersign_verify(peer_key_in_force(p)->sign_pk, ol->peer_id, f->bytes, f->len, sig, f->sig) < 0) {
		L->stats.frames_garbage++;
		log_warn("peer=%s event=bad_sig what=audit_countersign seq=%llu", ol->peer_id, (unsigned long long)seq);
		return;
	}
	rc = link_stage(L, 0);
	if (rc == 0)
		rc = store_audit_countersig_put(L->deps.store, seq, ol->peer_id, f->sig, clock_now_ms());
	if (rc < 0)
		log_warn("peer=%s event=audit_countersign_unkept reason=%s action=\"it is asked again\"", ol->peer_id,
			 limes_errname(rc));
	else
		log_debug("peer=%s event=audit_countersigned seq=%llu", ol->peer_id, (unsigned long long)seq);
}

struct kept_answer {
	struct wire_kept_checkpoint *cps;
	size_t n;
};

static int collect_kept(void *arg, const struct store_audit_kept *k)
{
	struct kept_answer *a = arg;

	if (a->n == WIRE_AUDIT_KEPT_MAX || k->body_len == 0 || k->body_len > WIRE_AUDIT_BODY_MAX)
		return 0;
	struct wire_kept_checkpoint *c = &a->cps[a->n++];
	memcpy(c->body, k->body, k->body_len);
	c->body_len = k->body_len;
	memcpy(c->sig, k->sig, WIRE_SIG_LEN);
	memcpy(c->countersig, k->countersig, WIRE_SIG_LEN);
	return 0;
}

static int count_kept(void *arg, const struct store_audit_kept *k)
{
	(void)k;
	(*(uint64_t *)arg)++;
	return 0;
}

void link_audit_on_kept_request(struct links *L, const char *peer_id, const uint8_t *routing_id, size_t routing_len,
				const struct wire_frame *f)
{
	struct kept_answer a = { 0 };
	struct inbound to;
	uint64_t suppressed, total = 0;
	uint8_t *packed = NULL;
	size_t packed_len = 0;
	const char *why = "";
	int rc;

	/* each answer reads the store: a peer asking in a loop gets a few a second */
	if (!ratelimit_pass(&L->audit->asked, peer_id, &suppressed)) {
		log_debug("peer=%s event=audit_kept_request_dropped reason=\"asked too often\"", peer_id);
		return;
	}
	if (routing_len > sizeof(to.routing_id))
		return;
	a.cps = calloc(WIRE_AUDIT_KEPT_MAX, sizeof(*a.cps));
	if (!a.cps) {
		log_warn("peer=%s event=audit_kept_unanswered reason=\"out of memory\"", peer_id);
		return;
	}
	rc = store_audit_kept_latest(L->deps.store, peer_id, f->kept_limit, collect_kept, &a);
	if (rc >= 0)
		rc = store_audit_kept_list(L->deps.store, peer_id, count_kept, &total);
	if (rc >= 0)
		rc = wire_audit_kept_pack(a.cps, a.n, total, &packed, &packed_len);
	if (rc < 0) {
		log_warn("peer=%s event=audit_kept_unanswered reason=%s", peer_id, limes_errname(rc));
		goto out;
	}
	/* the answer goes to the connection that asked, which need not be the
	 * neighbour's agent (whose routing id stays as it was) */
	memset(&to, 0, sizeof(to));
	snprintf(to.peer_id, sizeof(to.peer_id), "%s", peer_id);
	memcpy(to.routing_id, routing_id, routing_len);
	to.routing_len = routing_len;
	struct wire_frame answer = { .kind = WIRE_FRAME_AUDIT_KEPT, .bytes = packed, .len = packed_len };
	if (link_send_routed(L, &to, &answer, &why) < 0)
		log_warn("peer=%s event=audit_kept_unanswered reason=\"%s\"", peer_id, why);
	else
		log_info("peer=%s event=audit_kept_answered count=%zu kept=%llu suppressed=%llu", peer_id, a.n,
			 (unsigned long long)total, (unsigned long long)suppressed);
out:
	free(packed);
	free(a.cps);
}

struct link_audit *link_audit_new(void)
{
	return calloc(1, sizeof(struct link_audit));
}

void link_audit_free(struct link_audit **a)
{
	if (!a)
		return;
	free(*a);
	*a = NULL;
}
