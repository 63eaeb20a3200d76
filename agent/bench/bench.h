/*
 * limes-bench (`limes bench`), shared by its files only: main.c (the
 * program: options and the order of the phases), bench.c (clock, interrupt
 * flag, progress), bench_run.c (the measuring phases), bench_agents.c
 * (temporary keys, configs and child processes), bench_trace.c (message ids
 * with their submit and delivery times), bench_limits.c (verify and
 * fdatasync rates), bench_wal.c (each agent's WAL), bench_nats.c (the JetStream baseline) and
 * bench_report.c (machine, percentiles, JSON and table). The agents' API is
 * reached through httpc, the one HTTP client. Figures not measured are NAN
 * and print as null.
 */
#ifndef LIMES_BENCH_H
#define LIMES_BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "httpc/httpc.h"

#define BENCH_ID_HEX 32
#define BENCH_ERR_MAX 8192

struct bench_opts {
	bool quick, json, nats, keep;
	uint64_t messages;          /* throughput phase */
	size_t body_bytes;          /* JSON body of each message */
	double rate;                /* latency phase: offered msg/s */
	double latency_s;           /* latency phase: duration */
	uint64_t backlog;           /* messages queued during the outage */
	uint64_t queued;            /* messages queued for the memory figure */
	unsigned batch;             /* messages per POST, throughput phase */
	unsigned connections;       /* concurrent API connections, throughput phase */
	unsigned big_batch;         /* messages per POST when queueing (backlog, queued) */
	unsigned window;            /* [link] window of both agents; 0: the agent's default */
	unsigned protocol;          /* [link] protocol of both agents; 0: the agent's default (2) */
	const char *dir;            /* parent of the temporary folder */
	const char *pg_conninfo;    /* --store postgres: the server's conninfo; NULL: SQLite */
};

struct bench_results {
	double throughput_msgs_per_s, api_accept_msgs_per_s, throughput_s;
	double sender_cpu_us_per_msg, receiver_cpu_us_per_msg, harness_cpu_us_per_msg;
	/* throughput phase, each agent's loop thread: on a core, and runnable
	 * but waiting for a core, per message; and the share of the phase it
	 * was one or the other (near 1: the loop thread is the bottleneck) */
	double sender_loop_cpu_us_per_msg, sender_loop_wait_us_per_msg, sender_loop_busy_share;
	double receiver_loop_cpu_us_per_msg, receiver_loop_wait_us_per_msg, receiver_loop_busy_share;
	double verify_limit_per_s, fdatasync_per_s, ratio_to_verify_limit;
	double verify_limit_before_per_s, verify_limit_after_per_s; /* the probe before the phases, and after throughput */
	double fdatasync_paced_p50_ms, fdatasync_paced_p99_ms; /* one sync when the disk and CPU were idle */
	double latency_p50_ms, latency_p90_ms, latency_p99_ms, latency_max_ms, latency_offered_per_s;
	double latency_ack_p50_ms, latency_ack_p99_ms; /* submit -> 202 (sender's commit) */
	uint64_t latency_samples;
	double backlog_drain_s, backlog_urgent_drain_s, backlog_first_delivery_s, backlog_queue_s;
	int backlog_urgent_first;   /* 1 true, 0 false, -1 not measured */
	/* backlog phase: the link's own rate (first to last delivery), and the
	 * CPU each agent used per message from the receiver's start to the last
	 * delivery (the restarted receiver's from its exec) */
	double backlog_link_msgs_per_s, backlog_sender_cpu_us_per_msg, backlog_receiver_cpu_us_per_msg;
	double rss_peak_mb, rss_peak_sender_mb, rss_peak_receiver_mb;
	double rss_1m_queued_mb, rss_1m_queued_hwm_mb, rss_1m_queued_restart_mb, queued_submit_s;
	double nats_sync_msgs_per_s, nats_async_msgs_per_s, ratio_to_nats_sync, ratio_to_nats_async;
	unsigned nats_async_window;
	/* throughput phase: the envelope version the sender's link agreed on,
	 * and the sender's envelope signatures per message (its metric) */
	double protocol_version, signatures_per_msg;
	double sender_audit_entries_per_msg, receiver_audit_entries_per_msg; /* the trail, always on */
	/* the largest WAL file of each agent during the throughput, latency and
	 * backlog phases (MiB), and the sender's checkpoints on its loop thread
	 * per 1,000 messages of the latency phase (its metric; NAN if absent) */
	double sender_wal_high_water_mb, receiver_wal_high_water_mb, latency_sender_wal_high_water_mb;
	double backlog_sender_wal_high_water_mb, backlog_receiver_wal_high_water_mb;
	double latency_loop_checkpoints_per_1000_msgs;
	/* the checkpoints (both threads) and the syncs of the database file
	 * made for them, of both agents: per 1,000 messages of the throughput
	 * phase, per second of the latency phase (NAN without the series) */
	double checkpoints_per_1000_msgs, db_syncs_per_1000_msgs;
	double latency_checkpoints_per_s, latency_db_syncs_per_s;
	char fs_type[32];
	char store[16];             /* "sqlite" or "postgres" */
};

/* ------------------------------------------------------------- bench.c */

/* Monotonic clock in ns (the clock of the agent's --trace-fd lines). */
uint64_t bench_now_ns(void);
/* Makes SIGINT and SIGTERM set the interrupt flag and ignores SIGPIPE; 0 or -1 (errno). */
int bench_catch_signals(void);
/* True once SIGINT or SIGTERM reached the harness: every loop gives up. */
bool bench_interrupted(void);
/* Progress line on stderr. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------ bench_agents.c */

/* One child process: an agent (limes-agent) or nats-server. */
struct bench_proc {
	pid_t pid;                  /* 0 when not running */
	char log[PATH_MAX];         /* its stdout and stderr */
};

struct bench_agent {
	struct bench_proc proc;
	char id[32];
	char conf[PATH_MAX];
	char data[PATH_MAX];
	uint16_t api_port, zmq_port;
	char token[80];
	int trace_fd;               /* read end of the agent's --trace-fd pipe, -1 none */
	double rss_hwm_mb;          /* highest VmHWM seen, over restarts */
	double wal_hwm_mb;          /* largest WAL log (limes_store_wal_bytes) seen since bench_wal_reset(), NAN none */
};

struct bench_env {
	char dir[PATH_MAX];         /* the temporary folder, removed at the end */
	struct bench_agent sender, receiver;
	struct bench_proc nats;
};

/* Makes the temporary folder under parent, two identities, tokens and configs
 * on free loopback ports. 0 or -1 with the reason in err. */
int bench_agents_setup(struct bench_env *env, const char *parent, unsigned window, unsigned protocol, char *err,
		       size_t err_len);
/* With --store postgres: the agents' configs name this server (each agent in
 * a schema of its own, bench_<pid>_sender / _receiver); NULL: SQLite.
 * Call before bench_agents_setup(); the string is borrowed. */
void bench_agents_use_postgres(const char *conninfo);
/* Starts limes-agent (found beside this program) for ag; with trace, gives
 * it a pipe as descriptor 3 with `--trace-fd 3` and keeps the read end in
 * ag->trace_fd. */
int bench_agents_start(struct bench_agent *ag, bool trace, char *err, size_t err_len);
/* Waits until /healthz answers 200 and, with want_link, /v1/peers shows a peer up. */
int bench_agents_wait_ready(struct bench_agent *ag, bool want_link, double timeout_s, char *err,
			    size_t err_len);
/* -1 with the reason in err if an agent that was running has exited. */
int bench_agents_check(struct bench_env *env, char *err, size_t err_len);
/* Stops ag (SIGTERM, then SIGKILL after the timeout) after sampling its RSS. */
void bench_agents_stop(struct bench_agent *ag);
/* Records the agent's VmHWM into ag->rss_hwm_mb; returns it (NAN if not running). */
double bench_agents_sample(struct bench_agent *ag);
/* bench_proto.c: one series of the agent's GET /metrics (NAN if absent or unreachable). */
double bench_agents_metric(struct bench_agent *ag, const char *series);
/* bench_proto.c: the "protocol" figure of the agent's first peer in GET /v1/peers (NAN if null). */
double bench_agents_protocol(struct bench_agent *ag);
/* CPU time (user + system) the process has used so far, in seconds; NAN if unknown. */
double bench_agents_cpu_s(pid_t pid);
/* The agent's loop thread (its main thread, TID = PID): the time it has
 * spent on a core and the time it has spent runnable, waiting for one
 * (/proc/PID/task/PID/schedstat), in seconds so far. 0, or -1 if unreadable
 * (a kernel without scheduler statistics). */
int bench_agents_loop_sched(pid_t pid, double *on_cpu_s, double *waiting_s);
/* A /proc/PID/status field ("VmRSS:", "VmHWM:") in MiB, NAN if unreadable. */
double bench_agents_status_mb(pid_t pid, const char *field);
/* Stops every process and, unless keep, removes the folder. Safe to repeat. */
void bench_agents_cleanup(struct bench_env *env, bool keep);

/* Forks and execs argv with stdout/stderr to p->log; extra_fd (if >= 0)
 * becomes descriptor 3 of the child. The child dies with the harness. */
int bench_agents_spawn(struct bench_proc *p, char *const argv[], int extra_fd);
/* SIGTERM, wait up to timeout_s, then SIGKILL; returns the exit status or -1. */
int bench_agents_kill(struct bench_proc *p, double timeout_s);
/* A TCP port free on 127.0.0.1 right now, 0 on failure. */
uint16_t bench_agents_free_port(void);
/* Prints the last lines of a child's log to stderr. */
void bench_agents_log_tail(const struct bench_proc *p);

/* --------------------------------------------------------- bench_wal.c */

/* Forgets the WAL high-water mark of ag (a new phase). */
void bench_wal_reset(struct bench_agent *ag);
/* Records ag's limes_store_wal_bytes (MiB) into ag->wal_hwm_mb if larger. */
void bench_wal_sample(struct bench_agent *ag);
/* The agent's checkpoints on its loop thread so far (its metric; NAN if absent). */
double bench_wal_loop_checkpoints(struct bench_agent *ag);
/* Its checkpoints that copied pages (both threads), and its syncs of the
 * database file made for checkpoints that left them for later (docs/store.md,
 * "Checkpoints"); NAN without those series. */
double bench_wal_checkpoints(struct bench_agent *ag);
double bench_wal_db_syncs(struct bench_agent *ag);

/* ------------------------------------------------------- bench_trace.c */

#define BENCH_TRACE_URGENT 0x01u

struct bench_trace;

struct bench_trace_summary {
	uint64_t complete;          /* submitted and delivered */
	uint64_t rejected;
	uint64_t first_submit_ns, last_delivery_ns, first_delivery_ns;
	uint64_t last_urgent_ns, last_normal_ns;
	uint64_t urgent, normal;    /* complete, by priority */
};

/* Id table for up to `capacity` messages per phase, reading delivery lines
 * from fd (non-blocking; not owned). Caller owns the result. */
struct bench_trace *bench_trace_new(size_t capacity, int fd);
/* Frees; accepts NULL and sets *t to NULL. */
void bench_trace_destroy(struct bench_trace **t);
/* Forgets every message (new phase) and switches to reading fd. */
void bench_trace_reset(struct bench_trace *t, int fd);
/* Records the submit time of one message id (32 hex digits). */
int bench_trace_submitted(struct bench_trace *t, const char *hex, uint64_t submit_ns, unsigned flags);
/* Parses a 202 answer {"ids": [...]} and records every id; flags_of(i)
 * gives the flags of the i-th message of the batch. Returns the id count. */
int bench_trace_submitted_json(struct bench_trace *t, const char *body, size_t len, uint64_t submit_ns,
			       unsigned (*flags_of)(size_t index, void *arg), void *arg);
/* Reads every complete line waiting on the pipe; 0, or -1 if it closed. */
int bench_trace_read(struct bench_trace *t);
/* Parses one "<hex id> <ns> <state>" line (exposed for tests). */
int bench_trace_line(struct bench_trace *t, const char *line, size_t len);
/* Messages submitted and delivered (or rejected) so far in this phase. */
uint64_t bench_trace_complete(const struct bench_trace *t);
/* Figures of the phase; latencies (ns, sorted) into *lat when lat != NULL (caller frees). */
void bench_trace_summary(const struct bench_trace *t, struct bench_trace_summary *s, uint64_t **lat,
			 size_t *n_lat);

/* ------------------------------------------------------ bench_limits.c */

/* One core's Ed25519 verify rate on msg_len-byte messages, ~seconds long. */
double bench_limits_verify_rate(size_t msg_len, double seconds);
/* 1 KiB append + fdatasync per round in a scratch file in dir, ~seconds long. */
double bench_limits_fdatasync_rate(const char *dir, double seconds);
/* What one isolated commit's sync costs: `rounds` overwrites of a 4 KiB
 * block already on disk, each followed by fdatasync and a 1 ms pause (as
 * at 1,000 msg/s, where the CPU and the disk idle between messages); the
 * p50 and p99 of the fdatasync alone, in ms, into *p50 and *p99. 0 or -1. */
int bench_limits_fdatasync_paced(const char *dir, unsigned rounds, double *p50, double *p99);
/* The file system type of dir ("ext4", "tmpfs"...) into the caller's buf. */
void bench_limits_fs_type(const char *dir, char *buf, size_t len);

/* -------------------------------------------------------- bench_nats.c */

/* Starts nats-server with JetStream file storage under dir, publishes n
 * bodies waiting for each ack, then n with a window of `window` pending
 * acks; rates into the results. 0 or -1 with the reason in err. */
int bench_nats_run(struct bench_env *env, const char *body, size_t len, uint64_t n, unsigned window,
		   struct bench_results *res, char *err, size_t err_len);

/* ------------------------------------------------------ bench_report.c */

/* The p-th percentile (0..100, nearest rank) of n sorted values. */
uint64_t bench_report_percentile(const uint64_t *sorted, size_t n, double p);
/* Sets every figure to NAN / not measured. */
void bench_report_init(struct bench_results *res);
/* Derives the ratios from the measured figures. */
void bench_report_ratios(struct bench_results *res);
/* Prints one JSON object (jansson) on stdout. */
int bench_report_json(const struct bench_opts *o, const struct bench_results *r);
/* Prints the readable table, with the DESIGN §6 targets, on stdout. */
void bench_report_table(const struct bench_opts *o, const struct bench_results *r);

/* --------------------------------------------------------- bench_run.c */

struct bench_ctx {
	const struct bench_opts *o;
	struct bench_env *env;
	struct bench_results *res;
	struct bench_trace *trace;
	char *body;                 /* one message body (JSON text) */
	size_t body_len;
	size_t body_pb_len;         /* its packed protobuf size */
	char err[BENCH_ERR_MAX];
};

/* Builds the alert body of o->body_bytes bytes (JSON) into ctx->body. */
int bench_run_body(struct bench_ctx *c);
/* The measuring phases; each 0 or -1 with the reason in c->err. */
int bench_run_throughput(struct bench_ctx *c);
int bench_run_latency(struct bench_ctx *c);
int bench_run_backlog(struct bench_ctx *c);
int bench_run_queued(struct bench_ctx *c);

#endif
