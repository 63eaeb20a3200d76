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
#include "crypto/audit.h"
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
	 * roll back; the next push (after the commit) sends it */
	if (!commit_audit(L->deps.commit) || store_in_transaction(L->deps.store))
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
