/*
 * The API's deferred answers: submissions and re-queues staged in the turn's
 * group commit wait, suspended, until core's commit tells its listeners
 * (api_on_commit) that their writes are durable or lost; GET /v1/inbox
 * long-polls wait, suspended, until a commit brings messages to the inbox
 * or their wait ends. Both resume the connection and let MHD call the
 * handler again. The API commits nothing itself.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api_conn.h"
#include "base/clock.h"
#include "base/log.h"
#include "proto/err.h"

/* ------------------------------------------------------------ group commit */

void api_defer_commit_join(struct request *req)
{
	struct api *api = req->api;

	req->state = REQ_COMMITTING;
	req->commit_next = api->committing;
	api->committing = req;
}

void api_defer_commit_wait(struct request *req)
{
	api_defer_commit_join(req);
	MHD_suspend_connection(req->conn);
}

/*
 * The commit that covered every request on the list ended: 202 for each
 * when rc is 0, else 503 (disk_full or store_unavailable), nothing of
 * theirs kept (the commit logged why). The answers go out when MHD next
 * runs.
 */
/* What a failed commit means for the client. A full disk rolls the
 * transaction back; after a failed fsync or write the WAL may hold the
 * commit all the same (the kernel may have written it), so "nothing was
 * accepted" would be a promise the agent cannot keep. */
static const char *commit_failure_text(int rc)
{
	if (rc == LIMES_E_STORE_FULL)
		return "the store could not make the messages durable: nothing was accepted";
	return "the store failed while making the messages durable (I/O error): whether they were kept is "
	       "unknown until the agent restarts on a good disk; then resubmit them with the same "
	       "idempotency_key, which returns the kept message's id instead of queueing it twice";
}

static void answer_committed(struct api *api, int rc)
{
	struct request *list = api->committing;

	if (!list)
		return;
	api->committing = NULL;
	for (struct request *req = list, *next; req; req = next) {
		next = req->commit_next;
		req->commit_next = NULL;
		if (rc < 0) {
			free(req->pending.body);
			memset(&req->pending, 0, sizeof(req->pending));
			api_json_store_error(&req->pending, rc, "%s", commit_failure_text(rc));
		} else {
			api->counters.accepted_messages += req->pending.accepted;
		}
		req->state = REQ_READY;
		MHD_resume_connection(req->conn);
	}
	api_run_mhd_soon(api);
}

int api_defer_flush(struct api *api)
{
	int rc = commit_flush(api->deps.commit);

	/* the listener has answered them already, unless the daemon did not
	 * register it: then they are answered here */
	answer_committed(api, rc);
	return rc;
}

int api_defer_commit_now(struct api *api, struct api_reply *r)
{
	int rc = api_defer_flush(api);

	if (rc < 0) {
		/* the commit logged the store's failure */
		free(r->body);
		memset(r, 0, sizeof(*r));
		api_json_store_error(r, rc, "%s", commit_failure_text(rc));
		return rc;
	}
	api->counters.accepted_messages += r->accepted;
	return 0;
}

void api_defer_committing_unlink(struct request *req)
{
	for (struct request **pp = &req->api->committing; *pp; pp = &(*pp)->commit_next)
		if (*pp == req) {
			*pp = req->commit_next;
			break;
		}
}

/* ------------------------------------------------------------ long-polls */

void api_defer_waiter_unlink(struct request *req)
{
	struct api *api = req->api;

	if (!req->suspended)
		return;
	if (req->wait_prev)
		req->wait_prev->wait_next = req->wait_next;
	else
		api->waiters = req->wait_next;
	if (req->wait_next)
		req->wait_next->wait_prev = req->wait_prev;
	req->wait_prev = req->wait_next = NULL;
	req->suspended = false;
}

static void on_wait_timer(uv_timer_t *t);

void api_defer_arm_wait_timer(struct api *api)
{
	uint64_t earliest = UINT64_MAX, now = clock_now_ms();

	for (struct request *w = api->waiters; w; w = w->wait_next)
		if (w->deadline_ms < earliest)
			earliest = w->deadline_ms;
	if (earliest == UINT64_MAX || api->stopped) {
		(void)uv_timer_stop(&api->wait_timer); /* stopping cannot fail */
		return;
	}
	int rc = uv_timer_start(&api->wait_timer, on_wait_timer, earliest > now ? earliest - now : 0, 0);
	if (rc < 0) /* only for a closing handle, which a stopped API never starts */
		log_warn("event=api_loop_error call=uv_timer_start reason=\"%s\"", uv_strerror(rc));
}

void api_defer_wait(struct request *req)
{
	struct api *api = req->api;

	req->state = REQ_WAITING;
	req->suspended = true;
	req->wait_prev = NULL;
	req->wait_next = api->waiters;
	if (api->waiters)
		api->waiters->wait_prev = req;
	api->waiters = req;
	MHD_suspend_connection(req->conn);
	api_defer_arm_wait_timer(api);
}

void api_defer_wake(struct request *req)
{
	api_defer_waiter_unlink(req);
	MHD_resume_connection(req->conn);
}

static void on_wait_timer(uv_timer_t *t)
{
	struct api *api = t->data;
	uint64_t now = clock_now_ms();
	struct request *w = api->waiters, *next;

	for (; w; w = next) {
		next = w->wait_next;
		if (w->deadline_ms <= now)
			api_defer_wake(w);
	}
	api_defer_arm_wait_timer(api);
	api_run_mhd_soon(api);
}

/* New inbox rows are durable: every waiting long-poll looks again. */
static void inbox_changed(struct api *api)
{
	if (!api->waiters)
		return;
	while (api->waiters)
		api_defer_wake(api->waiters);
	api_defer_arm_wait_timer(api);
	api_run_mhd_soon(api);
}

void api_on_commit(void *arg, int rc, unsigned changes)
{
	struct api *api = arg;

	if (!api)
		return;
	answer_committed(api, rc);
	if (rc == 0 && (changes & COMMIT_INBOX))
		inbox_changed(api);
}
