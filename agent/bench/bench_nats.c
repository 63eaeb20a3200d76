/*
 * limes-bench: the peer baseline, NATS JetStream on the same machine.
 * Starts Debian's nats-server with JetStream file storage in the temporary
 * folder on a free loopback port, makes a file-storage stream through the C
 * client (libnats) and publishes the same bodies two ways: waiting for each
 * ack (js_Publish), and asynchronously with a window of pending acks
 * (js_PublishAsync, js_PublishAsyncComplete). JetStream acknowledges once
 * the message is in its file store's buffers; it fsyncs on its own interval
 * (2 minutes by default), whereas Limes answers only after fdatasync.
 * Owns the connection and context; the server process is env->nats.
 */
#include "bench.h"

#include <nats/nats.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NATS_STREAM "LIMESBENCH"
#define NATS_SUBJECT "limesbench.alert"

/* Finds an executable by name on PATH, then in the sbin folders Debian uses. */
static int find_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char list[4096];

	snprintf(list, sizeof(list), "%s:/usr/sbin:/usr/local/sbin:/usr/bin:/usr/local/bin", path ? path : "");
	for (const char *p = list; *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		if (n > 0 && snprintf(out, len, "%.*s/%s", (int)n, p, name) < (int)len && access(out, X_OK) == 0)
			return 0;
		p += n + (colon ? 1 : 0);
	}
	return -1;
}

static void on_async_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pae;
	(*(uint64_t *)closure)++;
}

static natsStatus connect_with_retry(natsConnection **nc, uint16_t port, double timeout_s)
{
	char url[64];
	natsOptions *opts = NULL;
	natsStatus s;
	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout_s * 1e9);

	snprintf(url, sizeof(url), "nats://127.0.0.1:%u", port);
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, url);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, 2000);
	while (s == NATS_OK) {
		s = natsConnection_Connect(nc, opts);
		if (s != NATS_NO_SERVER || bench_now_ns() > deadline || bench_interrupted())
			break;
		s = NATS_OK;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	natsOptions_Destroy(opts);
	return s;
}

int bench_nats_run(struct bench_env *env, const char *body, size_t len, uint64_t n, unsigned window,
		   struct bench_results *res, char *err, size_t err_len)
{
	char server[PATH_MAX], store[PATH_MAX], port_text[8];
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = NATS_OK;
	uint64_t async_errors = 0;
	const char *what = "start";
	int rc = -1;

	if (find_program("nats-server", server, sizeof(server)) < 0) {
		snprintf(err, err_len, "nats-server not found (Debian package nats-server); use --no-nats to skip");
		goto out;
	}
	uint16_t port = bench_agents_free_port();
	snprintf(port_text, sizeof(port_text), "%u", port);
	if (port == 0 || snprintf(store, sizeof(store), "%s/nats", env->dir) >= (int)sizeof(store) ||
	    mkdir(store, 0700) < 0) {
		snprintf(err, err_len, "cannot prepare the nats-server folder or port");
		goto out;
	}
	char *argv[] = { server, "-js", "-sd", store, "-a", "127.0.0.1", "-p", port_text, NULL };
	if (bench_agents_spawn(&env->nats, argv, -1) < 0) {
		snprintf(err, err_len, "cannot start %s", server);
		goto out;
	}
	what = "connect";
	s = connect_with_retry(&nc, port, 10.0);
	if (s != NATS_OK)
		goto out;

	jsOptions jo;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = window;
	jo.PublishAsync.ErrHandler = on_async_error;
	jo.PublishAsync.ErrHandlerClosure = &async_errors;
	jo.Wait = 10000;
	what = "JetStream context";
	s = natsConnection_JetStream(&js, nc, &jo);
	if (s != NATS_OK)
		goto out;

	jsStreamConfig sc;
	const char *subjects[] = { NATS_SUBJECT };
	jsStreamConfig_Init(&sc);
	sc.Name = NATS_STREAM;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	what = "add stream";
	s = js_AddStream(&si, js, &sc, NULL, &jerr);
	if (s != NATS_OK)
		goto out;

	bench_progress("nats: %llu messages, publish and wait for each ack", (unsigned long long)n);
	what = "publish";
	uint64_t t0 = bench_now_ns();
	for (uint64_t i = 0; i < n && s == NATS_OK; i++) {
		jsPubAck *ack = NULL;
		s = js_Publish(&ack, js, NATS_SUBJECT, body, (int)len, NULL, &jerr);
		jsPubAck_Destroy(ack);
		if ((i & 1023) == 0 && bench_interrupted())
			s = NATS_ERR;
	}
	if (s != NATS_OK)
		goto out;
	res->nats_sync_msgs_per_s = (double)n / ((double)(bench_now_ns() - t0) / 1e9);

	bench_progress("nats: %llu messages, asynchronous publish, window %u", (unsigned long long)n, window);
	what = "async publish";
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n && s == NATS_OK; i++) {
		s = js_PublishAsync(js, NATS_SUBJECT, body, (int)len, NULL);
		if ((i & 1023) == 0 && bench_interrupted())
			s = NATS_ERR;
	}
	if (s == NATS_OK) {
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = 120000;
		s = js_PublishAsyncComplete(js, &po);
	}
	if (s != NATS_OK)
		goto out;
	if (async_errors) {
		snprintf(err, err_len, "nats: %llu asynchronous publishes failed", (unsigned long long)async_errors);
		goto out;
	}
	res->nats_async_msgs_per_s = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
	res->nats_async_window = window;
	rc = 0;
out:
	if (rc < 0 && s != NATS_OK)
		snprintf(err, err_len, "nats: %s failed: %s (JetStream error %d); server log: %s", what,
			 natsStatus_GetText(s), (int)jerr, env->nats.log);
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	if (nc) {
		natsConnection_Close(nc);
		natsConnection_Destroy(nc);
	}
	if (env->nats.pid > 0)
		bench_agents_kill(&env->nats, 10.0);
	nats_CloseAndWait(2000);
	return rc;
}
