/*
 * The pure part of a large submission on libuv's worker threads: the
 * jansson parse of a POST /v1/messages body, the field checks and the
 * mapping of each body to protobuf (api_post_parse) run off the loop while
 * the loop thread does SQLite, the links and other requests; then, back on
 * the loop, policy, sealing and staging (api_post_stage) and the group
 * commit as for any submission; the 202 still goes out only after the
 * commit, and a refusal is the same answer the loop would have given.
 * Freeing the parsed document goes back to a worker too. Small bodies (one
 * message, the latency case) stay on the loop: the two thread hand-offs
 * cost more than their parse. docs/benchmarks.md has the measurement.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api_conn.h"
#include "base/log.h"
#include "proto/err.h"

/* One body on its way through a worker; owned by the job until freed. */
struct api_parse_job {
	uv_work_t work;
	struct request *req;        /* NULL once the request ended (client gone, API stopped) */
	char *text;                 /* the body, taken from the request; freed on the worker */
	size_t len;
	uint64_t max_ttl_ms;        /* the config's, read on the loop */
	struct api_post post;
	struct api_reply reply;     /* the refusal when the parse failed */
	int rc;
};

static void unlink_parsing(struct request *req)
{
	for (struct request **pp = &req->api->parsing; *pp; pp = &(*pp)->parse_next)
		if (*pp == req) {
			*pp = req->parse_next;
			break;
		}
	req->parse_next = NULL;
}

static void job_free(struct api_parse_job *job)
{
	api_post_free(&job->post);
	free(job->reply.body);
	free(job->text);
	free(job);
}

/* Worker: nothing here touches agent state. */
static void parse_on_worker(uv_work_t *w)
{
	struct api_parse_job *job = w->data;

	job->rc = api_post_parse(job->max_ttl_ms, job->text, job->len, &job->post, &job->reply);
	free(job->text); /* the document holds copies of what the requests point to */
	job->text = NULL;
}

static void free_on_worker(uv_work_t *w)
{
	struct api_parse_job *job = w->data;
	api_post_free(&job->post);
}

static void freed(uv_work_t *w, int status)
{
	(void)status;
	job_free(w->data);
}

/* The document and packed bodies are garbage now: a worker frees them
 * (the document's arena blocks and one packed body per message). */
static void release(uv_loop_t *loop, struct api_parse_job *job)
{
	job->req = NULL;
	if (uv_queue_work(loop, &job->work, free_on_worker, freed) < 0)
		job_free(job);
}

/* Back on the loop: stage, or hand over the refusal; then the request
 * answers as a synchronous one would (api.c, defer.c). */
static void parsed(uv_work_t *w, int status)
{
	struct api_parse_job *job = w->data;
	struct request *req = job->req;

	if (!req) { /* the request ended meanwhile: nothing was staged, nothing answered */
		job_free(job);
		return;
	}
	struct api *api = req->api;
	struct api_reply r = { 0 };
	req->job = NULL;
	unlink_parsing(req);
	api->counters.parsed_on_worker++;
	if (status < 0) {
		api_json_error(&r, 503, "shutting_down", "", "the agent is stopping");
	} else if (job->rc < 0) {
		r = job->reply;
		memset(&job->reply, 0, sizeof(job->reply));
	} else {
		api_post_stage(&api->deps, req->client, &job->post, &r);
	}
	release(api->deps.loop, job);
	if (r.needs_commit && !api->stopped) {
		req->pending = r;
		api_defer_commit_join(req); /* suspended already */
		return;
	}
	if (r.needs_commit)
		(void)api_defer_commit_now(api, &r); /* no later turn; r became the 503 on failure */
	req->pending = r;
	req->state = REQ_READY;
	MHD_resume_connection(req->conn);
	api_run_mhd_soon(api);
}

bool api_parsework_start(struct request *req)
{
	struct api *api = req->api;
	struct api_parse_job *job;

	if (req->len < API_PARSE_OFFLOAD_BYTES || api->stopped)
		return false;
	job = calloc(1, sizeof(*job));
	if (!job)
		return false; /* the loop parses it */
	job->work.data = job;
	job->req = req;
	job->text = req->body;
	job->len = req->len;
	job->max_ttl_ms = peers_config(api->deps.peers)->max_ttl_ms;
	if (uv_queue_work(api->deps.loop, &job->work, parse_on_worker, parsed) < 0) {
		free(job);
		return false;
	}
	req->body = NULL;
	req->len = req->cap = 0;
	req->job = job;
	req->state = REQ_PARSING;
	req->parse_next = api->parsing;
	api->parsing = req;
	MHD_suspend_connection(req->conn);
	return true;
}

void api_parsework_detach(struct request *req)
{
	if (!req->job)
		return;
	req->job->req = NULL;
	req->job = NULL;
	unlink_parsing(req);
}

void api_parsework_stop(struct api *api)
{
	while (api->parsing) {
		struct request *req = api->parsing;
		api_parsework_detach(req); /* the worker's result is dropped when it comes */
		free(req->pending.body);
		memset(&req->pending, 0, sizeof(req->pending));
		api_json_error(&req->pending, 503, "shutting_down", "", "the agent is stopping: nothing was accepted");
		req->state = REQ_READY;
		MHD_resume_connection(req->conn);
	}
}
