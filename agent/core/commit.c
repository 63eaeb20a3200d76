/*
 * The group commit: the only caller of store_begin and store_commit. Any
 * module stages writes with commit_stage(); once per turn of the loop, just
 * before it waits for I/O (a uv_prepare), one commit makes everything staged
 * durable with one fsync, then every listener hears the result and sends the
 * acknowledgements that depended on it (202s, receipts), or withdraws them.
 * Writes that acknowledge nothing (sent and delivered marks: lost, they cost
 * a re-send answered as a duplicate) are staged lazily: they ride the next
 * commit that something waits on, or a commit COMMIT_LAZY_MS later, so a
 * message costs one fsync at the sender rather than three.
 * It owns the commit counters, so they count each commit exactly once.
 */
#include <stdlib.h>

#include "base/clock.h"
#include "base/log.h"
#include "core/core.h"
#include "proto/err.h"

#define COMMIT_LISTENERS 8
/* How long lazy writes may wait for a commit that something waits on. At
 * 1,000 msg/s one comes every millisecond; when nothing comes, the marks
 * are durable this much later (a crash before then costs re-sends). */
#define COMMIT_LAZY_MS 100

/* From a lone fdatasync on a fast disk to one a stalled disk keeps. */
const double commit_time_bounds_s[COMMIT_TIME_BUCKETS] = { 0.0005, 0.001, 0.002, 0.005, 0.01,
							   0.025, 0.05,   0.1,   0.25,  1.0 };

struct commit {
	struct store *store;                /* borrowed */
	uv_prepare_t turn;                  /* commits before the loop waits */
	uv_idle_t again;                    /* keeps the loop from sleeping on work staged mid-flush */
	uv_timer_t lazy;                    /* commits lazy writes nothing else carried */
	bool handles, flushing;
	bool staged;                        /* commit_stage() was called since the last commit */
	bool durable;                       /* ...and not only commit_stage_lazy() */
	unsigned changes;                   /* staged since the last commit */
	struct {
		commit_done_fn fn;
		void *arg;
	} listeners[COMMIT_LISTENERS];
	size_t n_listeners;
	uint64_t commits, failures;
	struct commit_times times;
	struct audit *audit;                /* borrowed; NULL: no trail */
	commit_before_fn before;            /* last writes of the turn (the batch signature) */
	void *before_arg;
};

static void on_turn(uv_prepare_t *p)
{
	struct commit *c = p->data;
	uv_prepare_stop(&c->turn);
	uv_idle_stop(&c->again);
	(void)commit_flush(c); /* a failure was logged and told to every listener */
}

static void on_lazy(uv_timer_t *t)
{
	(void)commit_flush(t->data); /* a failure was logged and told to every listener */
}

static void on_again(uv_idle_t *i)
{
	(void)i; /* nothing: its being active makes the loop poll without blocking */
}

struct commit *commit_new(uv_loop_t *loop, struct store *store)
{
	struct commit *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->store = store;
	if (uv_prepare_init(loop, &c->turn) < 0 || uv_idle_init(loop, &c->again) < 0 ||
	    uv_timer_init(loop, &c->lazy) < 0) {
		free(c);
		return NULL;
	}
	c->turn.data = c->again.data = c->lazy.data = c;
	c->handles = true;
	return c;
}

void commit_stop(struct commit *c)
{
	if (!c || !c->handles)
		return;
	c->handles = false;
	uv_prepare_stop(&c->turn);
	uv_idle_stop(&c->again);
	uv_timer_stop(&c->lazy);
	uv_close((uv_handle_t *)&c->turn, NULL);
	uv_close((uv_handle_t *)&c->again, NULL);
	uv_close((uv_handle_t *)&c->lazy, NULL);
}

void commit_destroy(struct commit **pc)
{
	if (!pc || !*pc)
		return;
	free(*pc);
	*pc = NULL;
}

int commit_listen(struct commit *c, commit_done_fn fn, void *arg)
{
	if (c->n_listeners == COMMIT_LISTENERS)
		return LIMES_E_TOOBIG;
	c->listeners[c->n_listeners].fn = fn;
	c->listeners[c->n_listeners].arg = arg;
	c->n_listeners++;
	return 0;
}

int commit_stage(struct commit *c, unsigned changes)
{
	int rc = store_begin(c->store);
	if (rc < 0)
		return rc;
	c->changes |= changes;
	c->staged = true;
	c->durable = true;
	if (c->handles) {
		uv_prepare_start(&c->turn, on_turn);
		/* staged by a listener while flushing: the prepare of this turn
		 * has run, so keep the loop from sleeping before the next one */
		if (c->flushing)
			uv_idle_start(&c->again, on_again);
	}
	return 0;
}

int commit_stage_lazy(struct commit *c, unsigned changes)
{
	int rc = store_begin(c->store);
	if (rc < 0)
		return rc;
	c->changes |= changes;
	c->staged = true;
	/* a commit is due this turn already, or the timer runs */
	if (c->handles && !c->durable && !uv_is_active((uv_handle_t *)&c->lazy))
		uv_timer_start(&c->lazy, on_lazy, COMMIT_LAZY_MS, 0);
	return 0;
}

int commit_stage_join(struct commit *c, unsigned changes)
{
	if (!c->staged)
		return commit_stage(c, changes);
	return c->durable ? commit_stage(c, changes) : commit_stage_lazy(c, changes);
}

bool commit_durable_staged(const struct commit *c)
{
	return c->durable;
}

bool commit_lazy_staged(const struct commit *c)
{
	return c->staged && !c->durable;
}

static void time_commit(struct commit *c, uint64_t us)
{
	size_t b = 0;
	while (b < COMMIT_TIME_BUCKETS && (double)us > commit_time_bounds_s[b] * 1e6)
		b++;
	c->times.n[b]++;
	c->times.count++;
	c->times.sum_us += us;
}

int commit_flush(struct commit *c)
{
	int rc, before_rc = 0;

	if (!c->staged && !store_in_transaction(c->store))
		return 0;
	if (c->before)
		before_rc = c->before(c->before_arg);
	/* the turn's batched audit entries, last: they name what was staged */
	if (before_rc == 0)
		before_rc = audit_flush(c->audit);
	else
		audit_discard(c->audit);
	unsigned changes = c->changes;
	c->changes = 0;
	c->staged = false;
	c->durable = false;
	/* this commit takes everything staged so far, the before hook's
	 * writes too (their stage re-armed the turn's prepare): no second
	 * commit is due unless a listener stages again */
	if (c->handles) {
		uv_timer_stop(&c->lazy);
		uv_prepare_stop(&c->turn);
	}
	if (before_rc < 0) {
		/* what was staged waited on those writes: none of it commits */
		store_rollback(c->store);
		rc = before_rc;
	} else if (store_in_transaction(c->store)) {
		uint64_t t0 = clock_mono_us();
		rc = store_commit(c->store);
		time_commit(c, clock_mono_us() - t0);
	} else {
		/* staged, but a failed write rolled the transaction back: what
		 * waited on this commit must hear that it is not durable */
		rc = store_commit(c->store);
		if (rc == 0)
			rc = LIMES_E_IO;
	}
	if (rc == 0) {
		c->commits++;
	} else {
		c->failures++;
		audit_rolled_back(c->audit);
		log_error("event=store_failed reason=\"%s\" action=\"nothing staged this turn is acknowledged\"",
			  store_health_reason(c->store));
	}
	c->flushing = true;
	for (size_t i = 0; i < c->n_listeners; i++)
		c->listeners[i].fn(c->listeners[i].arg, rc, changes);
	c->flushing = false;
	return rc;
}

void commit_before(struct commit *c, commit_before_fn fn, void *arg)
{
	c->before = fn;
	c->before_arg = arg;
}

void commit_set_audit(struct commit *c, struct audit *a)
{
	c->audit = a;
}

struct audit *commit_audit(const struct commit *c)
{
	return c ? c->audit : NULL;
}

uint64_t commit_count(const struct commit *c)
{
	return c->commits;
}

uint64_t commit_failures(const struct commit *c)
{
	return c->failures;
}

void commit_times(const struct commit *c, struct commit_times *t)
{
	*t = c->times;
}
