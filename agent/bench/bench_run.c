/*
 * limes-bench: the measuring phases against two running agents. Each phase
 * submits through the sender's API (httpc, several POSTs in flight), takes
 * the submit time before each POST, maps the ids of each 202 to it and reads
 * receipt-verified times from the sender's trace pipe (bench_trace.c) until
 * every message is delivered or the phase's time bound passes. Owns the
 * message body and the batch texts it builds.
 */
#include "bench.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "proto/schema.h"

#define POST_PATH "/v1/messages"
#define SAMPLE_EVERY_NS 250000000ull
#define POST_TIMEOUT_MS 600000L     /* one batch POST, however loaded the sender */

/* ------------------------------------------------------------ bodies */

/* An alert with the required fields; free_text carries the padding. */
static json_t *alert_body(size_t pad)
{
	static const char filler[] = "Tractor unit with loaded semi-trailer seen heading to the crossing. ";
	char *text = malloc(pad + 1);
	json_t *o = NULL;

	if (!text)
		return NULL;
	for (size_t i = 0; i < pad; i++)
		text[i] = filler[i % (sizeof(filler) - 1)];
	text[pad] = '\0';
	o = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:s, s:s, s:s, s:s, s:s, s:s}",
		      "action", "create", "alert_id", "BENCH-2026-000001", "category", "stolen_vehicle",
		      "requested_action", "seize", "vehicles", "registration_number", "SU 214-KM",
		      "registration_country", "RS", "vin", "WDB9634031L738215", "handling_code", "H1",
		      "legal_basis", "PCC SEE, Articles 5 and 24", "issuing_authority",
		      "Police Administration Subotica", "contact_desk", "SPOC Belgrade 24/7, +381 11 306 2000",
		      "language", "en", "free_text", text);
	free(text);
	return o;
}

/* Packed protobuf size of the body with `pad` bytes of free text, or -1. */
static long packed_size(size_t pad, char *err, size_t err_len)
{
	json_t *body = alert_body(pad);
	uint8_t *pb = NULL;
	size_t pb_len = 0;
	struct pbjson_error perr;
	long size = -1;

	if (!body)
		goto out;
	int type = schema_type_from_name("alert");
	if (schema_body_from_json(type, body, "body", &pb, &pb_len, &perr) < 0) {
		snprintf(err, err_len, "the benchmark's alert body does not validate: %s: %s", perr.path,
			 perr.message);
		goto out;
	}
	size = (long)pb_len;
out:
	free(pb);
	json_decref(body);
	return size;
}

int bench_run_body(struct bench_ctx *c)
{
	/* --body-bytes is the packed protobuf size: what is sealed, signed,
	 * stored and sent. Find the padding that makes it so (free_text may
	 * not be empty, so at least one byte); the varint length prefix of
	 * free_text may leave it one byte off. */
	long base = packed_size(1, c->err, sizeof(c->err));
	size_t target = c->o->body_bytes;
	size_t pad = 1;

	if (base < 0)
		return -1;
	if (target > (size_t)base) {
		pad = 1 + target - (size_t)base;
		for (int i = 0; i < 4; i++) {
			long got = packed_size(pad, c->err, sizeof(c->err));
			if (got < 0)
				return -1;
			if ((size_t)got == target)
				break;
			if ((size_t)got > target)
				pad -= (size_t)got - target < pad ? (size_t)got - target : pad - 1;
			else
				pad += target - (size_t)got;
		}
	}
	long packed = packed_size(pad, c->err, sizeof(c->err));
	json_t *body = alert_body(pad);
	c->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!c->body || packed < 0) {
		snprintf(c->err, sizeof(c->err), "cannot build the message body");
		return -1;
	}
	c->body_len = strlen(c->body);
	c->body_pb_len = (size_t)packed;
	return 0;
}

/* "[{...},{...}]" with count messages; every urgent_every-th is urgent. */
static char *batch_text(const struct bench_ctx *c, size_t count, unsigned urgent_every, size_t *len)
{
	static const char head[] = "{\"to\":[\"%s\"],\"type\":\"alert\",\"priority\":\"%s\",\"body\":";
	char h_normal[128], h_urgent[128];
	int nn = snprintf(h_normal, sizeof(h_normal), head, c->env->receiver.id, "normal");
	int nu = snprintf(h_urgent, sizeof(h_urgent), head, c->env->receiver.id, "urgent");
	size_t cap = 2 + count * ((size_t)nu + c->body_len + 2);
	char *text = malloc(cap + 1);
	size_t at = 0;

	if (!text)
		return NULL;
	text[at++] = '[';
	for (size_t i = 0; i < count; i++) {
		bool urgent = urgent_every && i % urgent_every == urgent_every - 1;
		if (i)
			text[at++] = ',';
		memcpy(text + at, urgent ? h_urgent : h_normal, (size_t)(urgent ? nu : nn));
		at += (size_t)(urgent ? nu : nn);
		memcpy(text + at, c->body, c->body_len);
		at += c->body_len;
		text[at++] = '}';
	}
	text[at++] = ']';
	text[at] = '\0';
	*len = at;
	return text;
}

/* ------------------------------------------------------------ phases */

struct post {
	uint64_t submit_ns;
	size_t count;
};

struct phase {
	struct bench_ctx *c;
	struct httpc *http;
	bool track;                 /* record ids in the trace table */
	unsigned urgent_every;
	uint64_t accepted;          /* messages answered 202 */
	uint64_t last_accept_ns;
	uint64_t last_sample_ns;
	bool failed;
	uint64_t *ack_ns;           /* when not NULL: submit -> 202 of each POST */
	size_t n_ack, ack_cap;
};

static unsigned flags_of(size_t index, void *arg)
{
	const struct phase *p = arg;
	return p->urgent_every && index % p->urgent_every == p->urgent_every - 1 ? BENCH_TRACE_URGENT : 0;
}

static void on_done(void *arg, void *tag, const struct httpc_answer *a)
{
	struct phase *p = arg;
	struct post *post = tag;
	long status = a->status;
	const char *body = status ? a->body : a->error;
	size_t len = status ? a->len : strlen(a->error);

	if (status != 202) {
		if (!p->failed)
			snprintf(p->c->err, sizeof(p->c->err), "POST %s answered %ld: %.*s", POST_PATH, status,
				 (int)(len > 300 ? 300 : len), body);
		p->failed = true;
	} else if (p->track) {
		int n = bench_trace_submitted_json(p->c->trace, body, len, post->submit_ns, flags_of, p);
		if (n != (int)post->count && !p->failed) {
			snprintf(p->c->err, sizeof(p->c->err), "POST %s: expected %zu ids, got %d in: %.*s",
				 POST_PATH, post->count, n, (int)(len > 300 ? 300 : len), body);
			p->failed = true;
		}
	}
	p->accepted += post->count;
	p->last_accept_ns = bench_now_ns();
	if (p->ack_ns && p->n_ack < p->ack_cap)
		p->ack_ns[p->n_ack++] = p->last_accept_ns - post->submit_ns;
	free(post);
}

static int post_batch(struct phase *p, const char *text, size_t len, size_t count)
{
	struct post *post = malloc(sizeof(*post));

	if (!post)
		return -1;
	post->count = count;
	post->submit_ns = bench_now_ns();
	if (httpc_start(p->http, "POST", POST_PATH, text, len, POST_TIMEOUT_MS, post) < 0) {
		free(post);
		snprintf(p->c->err, sizeof(p->c->err), "cannot start a POST");
		return -1;
	}
	return 0;
}

/* One turn: drive HTTP, wait up to timeout_ms, read receipts, sample RSS. */
static int pump(struct phase *p, int timeout_ms)
{
	struct bench_env *env = p->c->env;

	if (httpc_poll(p->http, env->sender.trace_fd, timeout_ms, on_done, p) < 0) {
		snprintf(p->c->err, sizeof(p->c->err), "HTTP client failure");
		return -1;
	}
	if (bench_trace_read(p->c->trace) < 0) {
		snprintf(p->c->err, sizeof(p->c->err), "the sender closed its trace pipe (exited?); log: %s",
			 env->sender.proc.log);
		return -1;
	}
	uint64_t now = bench_now_ns();
	if (now - p->last_sample_ns > SAMPLE_EVERY_NS) {
		p->last_sample_ns = now;
		if (bench_agents_check(env, p->c->err, sizeof(p->c->err)) < 0)
			return -1;
		bench_agents_sample(&env->sender);
		bench_agents_sample(&env->receiver);
		bench_wal_sample(&env->sender);
		bench_wal_sample(&env->receiver);
	}
	if (p->failed)
		return -1;
	if (bench_interrupted()) {
		snprintf(p->c->err, sizeof(p->c->err), "interrupted");
		return -1;
	}
	return 0;
}

static int phase_open(struct phase *p, struct bench_ctx *c, unsigned slots, bool track, unsigned urgent_every)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->track = track;
	p->urgent_every = urgent_every;
	p->http = httpc_new("127.0.0.1", c->env->sender.api_port, c->env->sender.token, slots);
	if (!p->http) {
		snprintf(c->err, sizeof(c->err), "cannot make an HTTP client");
		return -1;
	}
	bench_trace_reset(c->trace, c->env->sender.trace_fd);
	return 0;
}

static void phase_close(struct phase *p)
{
	/* Let running POSTs finish (their tags are freed in on_done). */
	uint64_t deadline = bench_now_ns() + 30000000000ull;
	while (p->http && httpc_running(p->http) > 0 && bench_now_ns() < deadline)
		if (httpc_poll(p->http, -1, 50, on_done, p) < 0)
			break;
	httpc_destroy(&p->http);
}

/* Submits n messages in batches of `batch` on the phase's slots, reading
 * receipts meanwhile; returns once all are answered 202 (then no POST is
 * running). */
static int submit_all(struct phase *p, uint64_t n, unsigned batch, uint64_t deadline_ns)
{
	size_t full_len = 0, tail_len = 0;
	char *full = batch_text(p->c, batch, p->urgent_every, &full_len);
	char *tail = NULL;
	uint64_t posted = 0;
	int rc = -1;

	if (!full || (n % batch && !(tail = batch_text(p->c, n % batch, p->urgent_every, &tail_len)))) {
		snprintf(p->c->err, sizeof(p->c->err), "out of memory");
		goto out;
	}
	while (p->accepted < n) {
		while (posted < n && httpc_free_slots(p->http) > 0) {
			bool last = n - posted < batch;
			size_t count = last ? n - posted : batch;
			if (post_batch(p, last ? tail : full, last ? tail_len : full_len, count) < 0)
				goto out;
			posted += count;
		}
		if (pump(p, 50) < 0)
			goto out;
		if (bench_now_ns() > deadline_ns) {
			snprintf(p->c->err, sizeof(p->c->err), "submitting took too long: %llu of %llu accepted",
				 (unsigned long long)p->accepted, (unsigned long long)n);
			goto out;
		}
	}
	rc = 0;
out:
	/* Every POST that borrows these texts must end before they go. */
	if (rc < 0)
		phase_close(p);
	free(full);
	free(tail);
	return rc;
}

static int wait_delivered(struct phase *p, uint64_t n, uint64_t deadline_ns, const char *what)
{
	while (bench_trace_complete(p->c->trace) < n) {
		if (pump(p, 50) < 0)
			return -1;
		if (bench_now_ns() > deadline_ns) {
			snprintf(p->c->err, sizeof(p->c->err), "%s: only %llu of %llu delivered in time", what,
				 (unsigned long long)bench_trace_complete(p->c->trace), (unsigned long long)n);
			return -1;
		}
	}
	return 0;
}

static uint64_t deadline_after(double seconds)
{
	return bench_now_ns() + (uint64_t)(seconds * 1e9);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return NAN;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static double seconds_between(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (double)(to_ns - from_ns) / 1e9 : 0.0;
}

/* An agent's loop thread over a phase: whether the loop is what limits the
 * phase (on a core or waiting for one nearly all the time) or waits on
 * something else (the disk, the peer, a worker). */
struct loop_sched {
	pid_t pid;
	bool ok;
	double on_cpu_s, waiting_s;
	uint64_t t0_ns;
};

static void loop_sched_start(struct loop_sched *l, pid_t pid)
{
	l->pid = pid;
	l->t0_ns = bench_now_ns();
	l->ok = bench_agents_loop_sched(pid, &l->on_cpu_s, &l->waiting_s) == 0;
}

/* Leaves the figures NAN when the kernel keeps no scheduler statistics. */
static void loop_sched_end(const struct loop_sched *l, double per_msg, double *cpu_us, double *wait_us,
			   double *busy_share)
{
	double on_cpu, waiting, wall = seconds_between(l->t0_ns, bench_now_ns());

	if (!l->ok || bench_agents_loop_sched(l->pid, &on_cpu, &waiting) < 0 || wall <= 0)
		return;
	*cpu_us = (on_cpu - l->on_cpu_s) * per_msg;
	*wait_us = (waiting - l->waiting_s) * per_msg;
	*busy_share = (on_cpu - l->on_cpu_s + waiting - l->waiting_s) / wall;
}

int bench_run_throughput(struct bench_ctx *c)
{
	const struct bench_opts *o = c->o;
	struct bench_trace_summary s;
	struct phase p;
	int rc = -1;

	bench_progress("throughput: %llu messages, batches of %u on %u connections",
		       (unsigned long long)o->messages, o->batch, o->connections);
	if (phase_open(&p, c, o->connections, true, 0) < 0)
		goto out;
	double cpu_sender = bench_agents_cpu_s(c->env->sender.proc.pid);
	double cpu_receiver = bench_agents_cpu_s(c->env->receiver.proc.pid);
	double cpu_self = self_cpu_s();
	struct loop_sched loop_sender, loop_receiver;
	loop_sched_start(&loop_sender, c->env->sender.proc.pid);
	loop_sched_start(&loop_receiver, c->env->receiver.proc.pid);
	double sigs = bench_agents_metric(&c->env->sender, "limes_envelope_signatures_total");
	/* the audit trail is always on: what it wrote during the phase is
	 * part of every figure (docs/benchmarks.md) */
	double entries_sender = bench_agents_metric(&c->env->sender, "limes_audit_entries_total");
	double entries_receiver = bench_agents_metric(&c->env->receiver, "limes_audit_entries_total");
	bench_wal_reset(&c->env->sender);
	bench_wal_reset(&c->env->receiver);
	double ckpts = bench_wal_checkpoints(&c->env->sender) + bench_wal_checkpoints(&c->env->receiver);
	double db_syncs = bench_wal_db_syncs(&c->env->sender) + bench_wal_db_syncs(&c->env->receiver);
	/* Bounded: assumes at least 200 msg/s, plus start-up slack. */
	uint64_t deadline = deadline_after(30.0 + (double)o->messages / 200.0);
	if (submit_all(&p, o->messages, o->batch, deadline) < 0 ||
	    wait_delivered(&p, o->messages, deadline, "throughput") < 0)
		goto out;
	bench_trace_summary(c->trace, &s, NULL, NULL);
	if (s.rejected) {
		snprintf(c->err, sizeof(c->err), "throughput: %llu messages were rejected by the receiver",
			 (unsigned long long)s.rejected);
		goto out;
	}
	c->res->throughput_s = seconds_between(s.first_submit_ns, s.last_delivery_ns);
	c->res->throughput_msgs_per_s = (double)o->messages / c->res->throughput_s;
	c->res->api_accept_msgs_per_s = (double)o->messages / seconds_between(s.first_submit_ns, p.last_accept_ns);
	/* CPU per message: what one message costs each process, whatever
	 * else the machine is doing (clock ticks: 10 ms resolution). */
	double per_msg = 1e6 / (double)o->messages;
	c->res->sender_cpu_us_per_msg = (bench_agents_cpu_s(c->env->sender.proc.pid) - cpu_sender) * per_msg;
	c->res->receiver_cpu_us_per_msg = (bench_agents_cpu_s(c->env->receiver.proc.pid) - cpu_receiver) * per_msg;
	c->res->harness_cpu_us_per_msg = (self_cpu_s() - cpu_self) * per_msg;
	loop_sched_end(&loop_sender, per_msg, &c->res->sender_loop_cpu_us_per_msg, &c->res->sender_loop_wait_us_per_msg,
		       &c->res->sender_loop_busy_share);
	loop_sched_end(&loop_receiver, per_msg, &c->res->receiver_loop_cpu_us_per_msg,
		       &c->res->receiver_loop_wait_us_per_msg, &c->res->receiver_loop_busy_share);
	c->res->signatures_per_msg =
		(bench_agents_metric(&c->env->sender, "limes_envelope_signatures_total") - sigs) / (double)o->messages;
	c->res->protocol_version = bench_agents_protocol(&c->env->sender);
	bench_wal_sample(&c->env->sender);
	bench_wal_sample(&c->env->receiver);
	c->res->sender_wal_high_water_mb = c->env->sender.wal_hwm_mb;
	c->res->receiver_wal_high_water_mb = c->env->receiver.wal_hwm_mb;
	c->res->checkpoints_per_1000_msgs =
		(bench_wal_checkpoints(&c->env->sender) + bench_wal_checkpoints(&c->env->receiver) - ckpts) * 1000.0 /
		(double)o->messages;
	c->res->db_syncs_per_1000_msgs =
		(bench_wal_db_syncs(&c->env->sender) + bench_wal_db_syncs(&c->env->receiver) - db_syncs) * 1000.0 /
		(double)o->messages;
	c->res->sender_audit_entries_per_msg =
		(bench_agents_metric(&c->env->sender, "limes_audit_entries_total") - entries_sender) / (double)o->messages;
	c->res->receiver_audit_entries_per_msg =
		(bench_agents_metric(&c->env->receiver, "limes_audit_entries_total") - entries_receiver) /
		(double)o->messages;
	bench_progress("throughput (audit trail on: %.1f entries/msg at the sender, %.1f at the receiver): %.0f msg/s "
		       "delivered (%.0f msg/s accepted by the API); CPU per message: sender %.0f us, receiver %.0f us, "
		       "harness %.0f us",
		       c->res->sender_audit_entries_per_msg, c->res->receiver_audit_entries_per_msg,
		       c->res->throughput_msgs_per_s, c->res->api_accept_msgs_per_s, c->res->sender_cpu_us_per_msg,
		       c->res->receiver_cpu_us_per_msg, c->res->harness_cpu_us_per_msg);
	bench_progress("throughput: loop threads per message on a core / waiting for one: sender %.1f / %.1f us "
		       "(busy %.0f %% of the phase), receiver %.1f / %.1f us (busy %.0f %%)",
		       c->res->sender_loop_cpu_us_per_msg, c->res->sender_loop_wait_us_per_msg,
		       100.0 * c->res->sender_loop_busy_share, c->res->receiver_loop_cpu_us_per_msg,
		       c->res->receiver_loop_wait_us_per_msg, 100.0 * c->res->receiver_loop_busy_share);
	rc = 0;
out:
	phase_close(&p);
	return rc;
}

int bench_run_latency(struct bench_ctx *c)
{
	const struct bench_opts *o = c->o;
	uint64_t total = (uint64_t)llround(o->rate * o->latency_s);
	uint64_t interval_ns = (uint64_t)(1e9 / o->rate);
	uint64_t *lat = NULL;
	size_t n_lat = 0, one_len = 0;
	char *one = batch_text(c, 1, 0, &one_len);
	struct bench_trace_summary s;
	struct phase p = { 0 };
	uint64_t i = 0, first_post = 0, last_post = 0;
	int rc = -1;

	bench_progress("latency: %.0f msg/s offered for %.0f s, one message per POST", o->rate, o->latency_s);
	if (!one || total == 0) {
		snprintf(c->err, sizeof(c->err), "latency: nothing to send");
		goto out;
	}
	/* Open loop: up to 64 POSTs in flight, so a slow answer never delays
	 * the next send unless 64 are outstanding. */
	if (phase_open(&p, c, 64, true, 0) < 0)
		goto out;
	p.ack_cap = (size_t)total;
	p.ack_ns = malloc(p.ack_cap * sizeof(*p.ack_ns));
	if (!p.ack_ns) {
		snprintf(c->err, sizeof(c->err), "out of memory");
		goto out;
	}
	uint64_t deadline = deadline_after(30.0 + o->latency_s * 3);
	bench_wal_reset(&c->env->sender);
	double loop_ckpts = bench_wal_loop_checkpoints(&c->env->sender);
	double ckpts = bench_wal_checkpoints(&c->env->sender) + bench_wal_checkpoints(&c->env->receiver);
	double db_syncs = bench_wal_db_syncs(&c->env->sender) + bench_wal_db_syncs(&c->env->receiver);
	uint64_t t_ckpt = bench_now_ns();
	uint64_t t0 = bench_now_ns() + 10000000ull;
	while (bench_trace_complete(c->trace) < total) {
		uint64_t now = bench_now_ns();
		while (i < total && now >= t0 + i * interval_ns && httpc_free_slots(p.http) > 0) {
			if (post_batch(&p, one, one_len, 1) < 0)
				goto out;
			last_post = bench_now_ns();
			if (first_post == 0)
				first_post = last_post;
			i++;
			now = bench_now_ns();
		}
		int timeout_ms = 50;
		if (i < total) {
			uint64_t next = t0 + i * interval_ns;
			uint64_t wait = next > now ? next - now : 0;
			if (wait < 1000000ull) {
				/* Sub-millisecond: sleep exactly rather than poll in ms. */
				struct timespec ts = { 0, (long)wait };
				if (wait)
					nanosleep(&ts, NULL);
				timeout_ms = 0;
			} else {
				timeout_ms = (int)(wait / 1000000ull);
			}
		}
		if (pump(&p, timeout_ms) < 0)
			goto out;
		if (bench_now_ns() > deadline) {
			snprintf(c->err, sizeof(c->err), "latency: only %llu of %llu delivered in time",
				 (unsigned long long)bench_trace_complete(c->trace), (unsigned long long)total);
			goto out;
		}
	}
	bench_trace_summary(c->trace, &s, &lat, &n_lat);
	if (!lat || n_lat == 0) {
		snprintf(c->err, sizeof(c->err), "latency: no samples");
		goto out;
	}
	c->res->latency_p50_ms = (double)bench_report_percentile(lat, n_lat, 50) / 1e6;
	c->res->latency_p90_ms = (double)bench_report_percentile(lat, n_lat, 90) / 1e6;
	c->res->latency_p99_ms = (double)bench_report_percentile(lat, n_lat, 99) / 1e6;
	c->res->latency_max_ms = (double)lat[n_lat - 1] / 1e6;
	c->res->latency_samples = n_lat;
	qsort(p.ack_ns, p.n_ack, sizeof(*p.ack_ns), cmp_u64);
	c->res->latency_ack_p50_ms = (double)bench_report_percentile(p.ack_ns, p.n_ack, 50) / 1e6;
	c->res->latency_ack_p99_ms = (double)bench_report_percentile(p.ack_ns, p.n_ack, 99) / 1e6;
	if (last_post > first_post)
		c->res->latency_offered_per_s = (double)(total - 1) / seconds_between(first_post, last_post);
	bench_wal_sample(&c->env->sender);
	c->res->latency_sender_wal_high_water_mb = c->env->sender.wal_hwm_mb;
	c->res->latency_loop_checkpoints_per_1000_msgs =
		(bench_wal_loop_checkpoints(&c->env->sender) - loop_ckpts) * 1000.0 / (double)total;
	double phase_s = (double)(bench_now_ns() - t_ckpt) / 1e9;
	c->res->latency_checkpoints_per_s =
		(bench_wal_checkpoints(&c->env->sender) + bench_wal_checkpoints(&c->env->receiver) - ckpts) / phase_s;
	c->res->latency_db_syncs_per_s =
		(bench_wal_db_syncs(&c->env->sender) + bench_wal_db_syncs(&c->env->receiver) - db_syncs) / phase_s;
	bench_progress("latency: p50 %.3f ms, p99 %.3f ms, max %.3f ms (202 answer: p50 %.3f ms, p99 %.3f ms)",
		       c->res->latency_p50_ms, c->res->latency_p99_ms, c->res->latency_max_ms,
		       c->res->latency_ack_p50_ms, c->res->latency_ack_p99_ms);
	rc = 0;
out:
	phase_close(&p);
	free(p.ack_ns);
	free(lat);
	free(one);
	return rc;
}

int bench_run_backlog(struct bench_ctx *c)
{
	const struct bench_opts *o = c->o;
	struct bench_env *env = c->env;
	struct bench_trace_summary s;
	struct phase p = { 0 };
	int rc = -1;

	bench_progress("backlog: receiver stopped, queueing %llu messages (1 in 10 urgent)",
		       (unsigned long long)o->backlog);
	bench_agents_stop(&env->receiver);
	bench_wal_reset(&env->sender);
	bench_wal_reset(&env->receiver);
	if (phase_open(&p, c, 2, true, 10) < 0)
		goto out;
	uint64_t t_queue = bench_now_ns();
	if (submit_all(&p, o->backlog, o->big_batch, deadline_after(60.0 + (double)o->backlog / 500.0)) < 0)
		goto out;
	c->res->backlog_queue_s = seconds_between(t_queue, p.last_accept_ns);
	bench_progress("backlog: queued in %.1f s; starting the receiver", c->res->backlog_queue_s);
	uint64_t t_restart = bench_now_ns();
	double cpu_sender = bench_agents_cpu_s(env->sender.proc.pid);
	if (bench_agents_start(&env->receiver, false, c->err, sizeof(c->err)) < 0 ||
	    wait_delivered(&p, o->backlog, deadline_after(60.0 + (double)o->backlog / 500.0), "backlog") < 0)
		goto out;
	double per_msg = 1e6 / (double)o->backlog;
	c->res->backlog_sender_cpu_us_per_msg = (bench_agents_cpu_s(env->sender.proc.pid) - cpu_sender) * per_msg;
	c->res->backlog_receiver_cpu_us_per_msg = bench_agents_cpu_s(env->receiver.proc.pid) * per_msg;
	bench_wal_sample(&env->sender);
	bench_wal_sample(&env->receiver);
	c->res->backlog_sender_wal_high_water_mb = env->sender.wal_hwm_mb;
	c->res->backlog_receiver_wal_high_water_mb = env->receiver.wal_hwm_mb;
	bench_trace_summary(c->trace, &s, NULL, NULL);
	if (s.last_delivery_ns > s.first_delivery_ns)
		c->res->backlog_link_msgs_per_s =
			(double)(o->backlog - 1) / seconds_between(s.first_delivery_ns, s.last_delivery_ns);
	c->res->backlog_drain_s = seconds_between(t_restart, s.last_delivery_ns);
	c->res->backlog_first_delivery_s = seconds_between(t_restart, s.first_delivery_ns);
	c->res->backlog_urgent_drain_s = seconds_between(t_restart, s.last_urgent_ns);
	c->res->backlog_urgent_first = s.urgent > 0 && s.last_urgent_ns <= s.last_normal_ns;
	bench_progress("backlog: drained in %.2f s after the restart (urgent done at %.2f s; first delivery at %.2f s, "
		       "then %.0f msg/s); CPU per message: sender %.0f us, receiver %.0f us",
		       c->res->backlog_drain_s, c->res->backlog_urgent_drain_s, c->res->backlog_first_delivery_s,
		       c->res->backlog_link_msgs_per_s, c->res->backlog_sender_cpu_us_per_msg,
		       c->res->backlog_receiver_cpu_us_per_msg);
	rc = 0;
out:
	phase_close(&p);
	return rc;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
	nanosleep(&ts, NULL);
}

int bench_run_queued(struct bench_ctx *c)
{
	const struct bench_opts *o = c->o;
	struct bench_env *env = c->env;
	struct phase p = { 0 };
	int rc = -1;

	bench_progress("queued: receiver stopped, queueing %llu messages", (unsigned long long)o->queued);
	bench_agents_stop(&env->receiver);
	if (phase_open(&p, c, 2, false, 0) < 0)
		goto out;
	uint64_t t0 = bench_now_ns(), last_note = t0;
	uint64_t deadline = deadline_after(120.0 + (double)o->queued / 1000.0);
	/* In slices, to show progress on a long run. */
	uint64_t slice = o->big_batch * 50ull;
	for (uint64_t done = 0; done < o->queued; done += slice) {
		uint64_t n = o->queued - done < slice ? o->queued - done : slice;
		p.accepted = 0;
		if (submit_all(&p, n, o->big_batch, deadline) < 0)
			goto out;
		if (bench_now_ns() - last_note > 5000000000ull) {
			last_note = bench_now_ns();
			bench_progress("queued: %llu of %llu, sender RSS %.1f MiB", (unsigned long long)(done + n),
				       (unsigned long long)o->queued,
				       bench_agents_status_mb(env->sender.proc.pid, "VmRSS:"));
		}
	}
	c->res->queued_submit_s = seconds_between(t0, bench_now_ns());
	phase_close(&p);
	sleep_s(1.0); /* let the sender settle: the figure is its resting size with the queue */
	c->res->rss_1m_queued_mb = bench_agents_status_mb(env->sender.proc.pid, "VmRSS:");
	c->res->rss_1m_queued_hwm_mb = bench_agents_status_mb(env->sender.proc.pid, "VmHWM:");
	bench_progress("queued: sender RSS %.1f MiB with %llu queued (peak %.1f MiB); restarting it",
		       c->res->rss_1m_queued_mb, (unsigned long long)o->queued, c->res->rss_1m_queued_hwm_mb);

	/* The same queue as a fresh process finds it on disk. */
	bench_agents_stop(&env->sender);
	if (env->sender.trace_fd >= 0) {
		close(env->sender.trace_fd);
		env->sender.trace_fd = -1;
	}
	if (bench_agents_start(&env->sender, false, c->err, sizeof(c->err)) < 0 ||
	    bench_agents_wait_ready(&env->sender, false, 60.0, c->err, sizeof(c->err)) < 0)
		goto out;
	sleep_s(2.0);
	c->res->rss_1m_queued_restart_mb = bench_agents_status_mb(env->sender.proc.pid, "VmRSS:");
	bench_progress("queued: restarted sender RSS %.1f MiB", c->res->rss_1m_queued_restart_mb);
	rc = 0;
out:
	phase_close(&p);
	return rc;
}
