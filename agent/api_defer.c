/*
 * The API's deferred answers: submissions staged during a loop turn wait,
 * suspended, for one group commit just before the loop next waits for I/O;
 * GET /v1/inbox long-polls wait, suspended, until messages arrive or their
 * wait ends. Both resume the connection and let MHD call the handler again.
 */
#include <string.h>

#include "agent/api.h"
#include "agent/api_conn.h"
#include "agent/err.h"
#include "agent/log.h"

/* ------------------------------------------------------------ group commit */

/*
 * Submissions of one loop turn are staged in the store's open transaction
 * and their connections suspended; just before the loop next waits for I/O
 * one commit makes them all durable, and only then are they answered (202,
 * or 503 when the commit failed: nothing of theirs is kept).
 */
void api_flush_commit(struct api *api)
{
	struct agent *agent = api->agent;
	struct request *list = api->committing;

	if (!list)
		return;
	api->committing = NULL;
	int rc = store_commit(agent->store);
	if (rc == 0)
		agent->counters.commits++;
	else
		log_error("event=store_failed reason=\"%s\" action=\"submissions refused\"",
			  store_health_reason(agent->store));
	for (struct request *req = list, *next; req; req = next) {
		next = req->commit_next;
		req->commit_next = NULL;
		if (rc < 0) {
			free(req->pending.body);
			memset(&req->pending, 0, sizeof(req->pending));
			api_json_error(&req->pending, 503, rc == LIMES_E_STORE_FULL ? "disk_full" : "store_unavailable",
				       "", "the store could not make the messages durable: nothing was accepted");
		} else {
			agent->counters.api_accepted_messages += req->pending.accepted;
		}
		req->state = REQ_READY;
		MHD_resume_connection(req->conn);
	}
	if (rc == 0)
		agent_outbox_committed(agent);
	api_run_mhd_soon(api);
}

void api_on_flush(uv_prepare_t *p)
{
	struct api *api = p->data;
	uv_prepare_stop(&api->flush);
	api_flush_commit(api);
}

void api_committing_unlink(struct request *req)
{
	for (struct request **pp = &req->api->committing; *pp; pp = &(*pp)->commit_next)
		if (*pp == req) {
			*pp = req->commit_next;
			break;
		}
}

/* ------------------------------------------------------------ long-polls */

void api_waiter_unlink(struct request *req)
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

void api_arm_wait_timer(struct api *api)
{
	uint64_t earliest = UINT64_MAX, now = agent_now_ms();

	for (struct request *w = api->waiters; w; w = w->wait_next)
		if (w->deadline_ms < earliest)
			earliest = w->deadline_ms;
	if (earliest == UINT64_MAX || api->stopped) {
		uv_timer_stop(&api->wait_timer);
		return;
	}
	uv_timer_start(&api->wait_timer, on_wait_timer, earliest > now ? earliest - now : 0, 0);
}

void api_wake(struct request *req)
{
	api_waiter_unlink(req);
	MHD_resume_connection(req->conn);
}

static void on_wait_timer(uv_timer_t *t)
{
	struct api *api = t->data;
	uint64_t now = agent_now_ms();
	struct request *w = api->waiters, *next;

	for (; w; w = next) {
		next = w->wait_next;
		if (w->deadline_ms <= now)
			api_wake(w);
	}
	api_arm_wait_timer(api);
	api_run_mhd_soon(api);
}

void api_inbox_changed(struct api *api)
{
	if (!api || !api->waiters)
		return;
	while (api->waiters)
		api_wake(api->waiters);
	api_arm_wait_timer(api);
	api_run_mhd_soon(api);
}
