/*
 * The benchmark harness: its pure parts (trace lines, the id table,
 * percentiles, the body) linked in, and the limes-bench program itself run
 * as `limes-bench` and as `limes bench` for its options and exit statuses.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

TestSuite(bench, .timeout = 60);

static const char *ID1 = "00112233445566778899aabbccddeeff";
static const char *ID2 = "ffeeddccbbaa99887766554433221100";

static int line(struct bench_trace *t, const char *text)
{
	return bench_trace_line(t, text, strlen(text));
}

Test(bench, pairs_submit_and_receipt_in_either_order)
{
	struct bench_trace *t = bench_trace_new(4, -1);
	struct bench_trace_summary s;
	uint64_t *lat = NULL;
	size_t n = 0;

	cr_assert(t != NULL);
	cr_assert(eq(int, bench_trace_submitted(t, ID1, 1000, 0), 0));
	cr_assert(eq(u64, bench_trace_complete(t), 0));
	cr_assert(eq(int, line(t, "00112233445566778899aabbccddeeff 4000 delivered"), 0));
	cr_assert(eq(u64, bench_trace_complete(t), 1));
	/* receipt first, then the 202 naming the id */
	cr_assert(eq(int, line(t, "ffeeddccbbaa99887766554433221100 9000 rejected"), 0));
	cr_assert(eq(u64, bench_trace_complete(t), 1));
	cr_assert(eq(int, bench_trace_submitted(t, ID2, 2000, BENCH_TRACE_URGENT), 0));
	cr_assert(eq(u64, bench_trace_complete(t), 2));
	/* a second receipt for the same id changes nothing */
	cr_assert(eq(int, line(t, "00112233445566778899aabbccddeeff 8000 delivered"), 0));
	bench_trace_summary(t, &s, &lat, &n);
	cr_assert(eq(u64, s.complete, 2));
	cr_assert(eq(u64, s.rejected, 1));
	cr_assert(eq(u64, s.first_submit_ns, 1000));
	cr_assert(eq(u64, s.last_delivery_ns, 9000));
	cr_assert(eq(u64, s.last_urgent_ns, 9000));
	cr_assert(eq(u64, s.last_normal_ns, 4000));
	cr_assert(eq(sz, n, 2));
	cr_assert(eq(u64, lat[0], 3000));
	cr_assert(eq(u64, lat[1], 7000));
	free(lat);
	bench_trace_destroy(&t);
	cr_assert(t == NULL);
}

Test(bench, refuses_malformed_trace_lines)
{
	struct bench_trace *t = bench_trace_new(4, -1);
	const char *bad[] = {
		"",
		"0011223344556677 4000 delivered",
		"00112233445566778899aabbccddeeff",
		"00112233445566778899aabbccddeeff 4000",
		"00112233445566778899aabbccddeeff x delivered",
		"00112233445566778899aabbccddeeff 0 delivered",
		"00112233445566778899aabbccddeeff 4000 sent",
		"0011223344556677889zaabbccddeeff 4000 delivered",
		"00112233445566778899aabbccddeeff  4000 delivered",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(eq(int, line(t, bad[i]), -1), "accepted: '%s'", bad[i]);
	cr_assert(eq(int, bench_trace_submitted(t, "xyz", 1, 0), -1));
	bench_trace_destroy(&t);
}

Test(bench, reads_lines_split_across_pipe_reads)
{
	int fds[2];
	cr_assert(eq(int, pipe(fds), 0));
	struct bench_trace *t = bench_trace_new(4, fds[0]);
	cr_assert(eq(int, bench_trace_submitted(t, ID1, 10, 0), 0));
	cr_assert(eq(int, bench_trace_submitted(t, ID2, 10, 0), 0));
	const char *part1 = "00112233445566778899aabbccddeeff 50 deliv";
	const char *part2 = "ered\nffeeddccbbaa99887766554433221100 60 delivered\n";
	cr_assert(eq(sz, (size_t)write(fds[1], part1, strlen(part1)), strlen(part1)));
	close(fds[1]);
	/* the reader stops at EOF (-1) having kept the partial line */
	cr_assert(eq(int, bench_trace_read(t), -1));
	cr_assert(eq(u64, bench_trace_complete(t), 0));
	cr_assert(eq(int, pipe(fds), 0));
	bench_trace_reset(t, fds[0]);
	cr_assert(eq(int, bench_trace_submitted(t, ID1, 10, 0), 0));
	cr_assert(eq(int, bench_trace_submitted(t, ID2, 10, 0), 0));
	cr_assert(eq(sz, (size_t)write(fds[1], part1, strlen(part1)), strlen(part1)));
	cr_assert(eq(sz, (size_t)write(fds[1], part2, strlen(part2)), strlen(part2)));
	close(fds[1]);
	bench_trace_read(t);
	cr_assert(eq(u64, bench_trace_complete(t), 2));
	close(fds[0]);
	bench_trace_destroy(&t);
}

static unsigned every_third_urgent(size_t i, void *arg)
{
	(void)arg;
	return i % 3 == 2 ? BENCH_TRACE_URGENT : 0;
}

Test(bench, maps_ids_of_a_202_answer_and_grows)
{
	struct bench_trace *t = bench_trace_new(1, -1);
	char body[64 * 40 + 32];
	size_t at = 0;
	struct bench_trace_summary s;

	/* 3000 ids: well past the initial table, which must grow */
	cr_assert(eq(int, bench_trace_submitted_json(t, "{\"ids\":[]}", 10, 1, NULL, NULL), 0));
	for (unsigned batch = 0; batch < 50; batch++) {
		at = (size_t)snprintf(body, sizeof(body), "{\"ids\":[");
		for (unsigned i = 0; i < 60; i++)
			at += (size_t)snprintf(body + at, sizeof(body) - at, "%s\"%016x%016x\"", i ? "," : "", batch + 1,
					       i + 7);
		at += (size_t)snprintf(body + at, sizeof(body) - at, "]}");
		cr_assert(eq(int, bench_trace_submitted_json(t, body, at, 100, every_third_urgent, NULL), 60));
	}
	char l[80];
	snprintf(l, sizeof(l), "%016x%016x 500 delivered", 50u, 59u + 7);
	cr_assert(eq(int, line(t, l), 0));
	snprintf(l, sizeof(l), "%016x%016x 400 delivered", 1u, 0u + 7);
	cr_assert(eq(int, line(t, l), 0));
	bench_trace_summary(t, &s, NULL, NULL);
	cr_assert(eq(u64, s.complete, 2));
	cr_assert(eq(u64, s.urgent, 1)); /* index 59 is urgent, index 0 is not */
	cr_assert(eq(u64, s.normal, 1));
	cr_assert(eq(int, bench_trace_submitted_json(t, "{\"ids\":[42]}", 12, 1, NULL, NULL), -1));
	cr_assert(eq(int, bench_trace_submitted_json(t, "not json", 8, 1, NULL, NULL), -1));
	bench_trace_destroy(&t);
}

Test(bench, percentiles_are_nearest_rank)
{
	uint64_t v[100];
	for (int i = 0; i < 100; i++)
		v[i] = (uint64_t)i + 1;
	cr_assert(eq(u64, bench_report_percentile(v, 100, 50), 50));
	cr_assert(eq(u64, bench_report_percentile(v, 100, 99), 99));
	cr_assert(eq(u64, bench_report_percentile(v, 100, 100), 100));
	cr_assert(eq(u64, bench_report_percentile(v, 1, 99), 1));
	cr_assert(eq(u64, bench_report_percentile(v, 0, 50), 0));
	uint64_t three[] = { 10, 20, 30 };
	cr_assert(eq(u64, bench_report_percentile(three, 3, 50), 20));
	cr_assert(eq(u64, bench_report_percentile(three, 3, 90), 30));
}

Test(bench, ratios_and_peak_follow_the_figures)
{
	struct bench_results r;
	bench_report_init(&r);
	cr_assert(isnan(r.throughput_msgs_per_s));
	cr_assert(eq(int, r.backlog_urgent_first, -1));
	r.throughput_msgs_per_s = 8000;
	r.verify_limit_per_s = 10000;
	r.nats_sync_msgs_per_s = 4000;
	r.rss_peak_sender_mb = 30;
	r.rss_peak_receiver_mb = 40;
	bench_report_ratios(&r);
	cr_assert(ieee_ulp_eq(dbl, r.ratio_to_verify_limit, 0.8, 4));
	cr_assert(ieee_ulp_eq(dbl, r.ratio_to_nats_sync, 2.0, 4));
	cr_assert(isnan(r.ratio_to_nats_async));
	cr_assert(ieee_ulp_eq(dbl, r.rss_peak_mb, 40.0, 4));
}

Test(bench, body_is_a_valid_alert_of_the_asked_size)
{
	size_t sizes[] = { 1, 300, 1024, 4096 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct bench_opts o = { .body_bytes = sizes[i] };
		struct bench_ctx c = { .o = &o };
		cr_assert(eq(int, bench_run_body(&c), 0), "%s", c.err);
		if (sizes[i] >= 300)
			cr_expect(eq(sz, c.body_pb_len, sizes[i]));
		cr_assert(eq(sz, strlen(c.body), c.body_len));
		free(c.body);
	}
}

Test(bench, limits_measure_positive_rates)
{
	cr_assert(lt(dbl, 0.0, bench_limits_verify_rate(1024, 0.05)));
	cr_assert(lt(dbl, 0.0, bench_limits_fdatasync_rate("/tmp", 0.05)));
	char fs[32];
	bench_limits_fs_type("/tmp", fs, sizeof(fs));
	cr_assert(lt(sz, 0, strlen(fs)));
}

Test(bench, the_paced_fdatasync_gives_ordered_percentiles_and_leaves_no_file)
{
	double p50 = -1, p99 = -1;
	char dir[] = "/tmp/limes-bench-paced-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	cr_assert(eq(int, bench_limits_fdatasync_paced(dir, 20, &p50, &p99), 0));
	cr_assert(lt(dbl, 0.0, p50));
	cr_assert(le(dbl, p50, p99));
	/* its scratch file is gone: the folder can be removed */
	cr_assert(eq(int, rmdir(dir), 0));
	/* nothing to measure, or nowhere to write: an error, figures untouched */
	p50 = p99 = -1;
	cr_assert(eq(int, bench_limits_fdatasync_paced("/tmp", 0, &p50, &p99), -1));
	cr_assert(eq(int, bench_limits_fdatasync_paced("/nonexistent-limes-dir", 5, &p50, &p99), -1));
	cr_assert(eq(dbl, p50, -1.0));
	cr_assert(eq(dbl, p99, -1.0));
}

/* Runs argv (argv[0] a path) with stdout and stderr captured into *out
 * (caller frees); the exit status, or -1 if it did not exit normally. */
static int run(char *const argv[], char **out)
{
	int fds[2], status = 0;
	char *buf = NULL;
	size_t len = 0;

	cr_assert(eq(int, pipe(fds), 0));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	char chunk[4096];
	ssize_t n;
	while ((n = read(fds[0], chunk, sizeof(chunk))) > 0) {
		char *grown = realloc(buf, len + (size_t)n + 1);
		cr_assert(grown != NULL);
		buf = grown;
		memcpy(buf + len, chunk, (size_t)n);
		len += (size_t)n;
		buf[len] = '\0';
	}
	close(fds[0]);
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	*out = buf ? buf : strdup("");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(bench, program_prints_its_options_with_help)
{
	char *out = NULL;
	char *argv[] = { LIMES_BENCH_BIN, "--help", NULL };

	cr_assert(eq(int, run(argv, &out), 0), "%s", out);
	const char *options[] = { "--quick", "--json", "--messages", "--body-bytes", "--rate", "--duration",
				  "--backlog", "--queued", "--batch", "--connections", "--window", "--no-nats",
				  "--dir", "--keep", "--trace-fd", "limes-agent" };
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		cr_expect(strstr(out, options[i]) != NULL, "--help does not mention %s", options[i]);
	free(out);
}

Test(bench, program_refuses_bad_options_with_64)
{
	char *bad[][3] = {
		{ "--messages", "0", NULL },     { "--messages", "-5", NULL },  { "--rate", "fast", NULL },
		{ "--connections", "65", NULL }, { "--no-such-option", NULL, NULL }, { "stray", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = NULL;
		char *argv[] = { LIMES_BENCH_BIN, bad[i][0], bad[i][1], NULL };
		cr_expect(eq(int, run(argv, &out), 64), "%s %s: %s", bad[i][0], bad[i][1] ? bad[i][1] : "", out);
		cr_expect(strstr(out, "limes bench: ") != NULL, "%s", out);
		free(out);
	}
}

Test(bench, limes_bench_runs_the_limes_bench_program)
{
	char *direct = NULL, *via_cli = NULL;
	char *argv_direct[] = { LIMES_BENCH_BIN, "--help", NULL };
	char *argv_cli[] = { LIMES_BIN, "bench", "--help", NULL };

	cr_assert(eq(int, run(argv_direct, &direct), 0));
	cr_assert(eq(int, run(argv_cli, &via_cli), 0), "%s", via_cli);
	cr_assert(eq(str, via_cli, direct));
	char *argv_bad[] = { LIMES_BIN, "bench", "--batch", "0", NULL };
	free(via_cli);
	cr_assert(eq(int, run(argv_bad, &via_cli), 64), "%s", via_cli);
	free(direct);
	free(via_cli);
}
