/*
 * The operators' console in a real browser: headless Chromium driven by
 * Playwright (tests/dashboard/check.mjs) signs in to a running agent with a
 * wrong then the right token, must show a row per peer, must show a killed
 * peer down within 2 s and up again once restarted, must draw charts whose
 * points are the samples of GET /v1/stats/history, and leaves screenshots in
 * the build folder (build/dashboard/). tests/run.sh installs the browser and
 * playwright-core first.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "support/cluster.h"

TestSuite(dashboard, .timeout = 240);

/* The next line of the browser script, which must start with `want`. */
static void expect_line(FILE *p, const char *want, char *line, size_t len)
{
	cr_assert(ne(ptr, fgets(line, (int)len, p), NULL), "the browser script stopped before %s", want);
	line[strcspn(line, "\n")] = '\0';
	cr_assert(eq(int, strncmp(line, want, strlen(want)), 0), "console: expected %s, got: %s", want, line);
}

Test(dashboard, an_operator_signs_in_watches_a_peer_go_down_and_reads_its_charts)
{
	static const char *const ids[] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE", "RO-POLITIA-NADLAC" };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = {
		{ ids[0], ids[1], "alert", NULL }, { ids[1], ids[0], "alert", NULL },
		{ ids[0], ids[2], "alert", NULL }, { ids[2], ids[0], "alert", NULL },
	};
	/* a silent link is declared down after 1 s: the console must show it within 2 s */
	cluster_configure(c, l, 4, "heartbeat = 250ms\ndead_after = 1s\n");
	/* a sample a second, so the charts have points within the test */
	agentproc_set_api_extra(cluster_ap(c, ids[0]), "history_interval = 1s\n");
	for (size_t i = 0; i < 3; i++)
		cluster_start(c, ids[i]);
	cr_assert(eq(int, cluster_wait_up(c, ids[0], ids[1], 10000), 1));
	cr_assert(eq(int, cluster_wait_up(c, ids[0], ids[2], 10000), 1));

	/* traffic both ways, so the charts have something other than zeros */
	char sent[3][33], back[2][33];
	cr_assert(eq(int, cluster_submit(c, ids[0], ids[1], "alert", "normal", 3, sent), 202));
	cr_assert(eq(int, cluster_submit(c, ids[1], ids[0], "alert", "normal", 2, back), 202));

	char shots[1024], cmd[4096], line[512];
	snprintf(shots, sizeof(shots), "%s/dashboard", LIMES_BINARY_DIR);
	cr_assert(eq(int, mkdir(shots, 0755) == 0 || errno == EEXIST, 1), "cannot create %s", shots);
	struct agentproc *a = cluster_ap(c, ids[0]);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s/tests/dashboard' && test -d node_modules/playwright-core "
		 "|| { echo 'FAIL playwright-core is not installed: run npm ci in tests/dashboard'; exit 1; }; "
		 "node check.mjs http://127.0.0.1:%u/ '%s' '%s,%s' '%s' '%s' '%s' 2>&1",
		 LIMES_SOURCE_DIR, agentproc_api_port(a), agentproc_token(a), ids[1], ids[2], ids[1], sent[0], shots);
	FILE *p = popen(cmd, "r");
	cr_assert(ne(ptr, p, NULL));

	expect_line(p, "SIGNIN 2", line, sizeof(line));
	expect_line(p, "UP", line, sizeof(line));

	uint64_t killed_ms = clock_now_ms();
	cluster_kill(c, ids[1]); /* the neighbour goes away: its row must change by itself */
	expect_line(p, "DOWN ", line, sizeof(line));
	unsigned long long seen_ms = 0;
	char state[32] = "";
	cr_assert(eq(int, sscanf(line, "DOWN %31s %llu", state, &seen_ms), 2), "console: %s", line);
	cr_assert(le(u64, seen_ms - killed_ms, 2000), "the console showed %s down %llu ms after it was killed",
		  ids[1], seen_ms - killed_ms);
	cr_log_info("peer shown %s %llu ms after SIGKILL", state, seen_ms - killed_ms);

	cluster_start(c, ids[1]);
	expect_line(p, "UPAGAIN ", line, sizeof(line));
	expect_line(p, "CHARTS ", line, sizeof(line));
	cr_assert(lt(int, 0, atoi(line + 7)), "console: %s", line);
	expect_line(p, "DONE", line, sizeof(line));
	cr_assert(eq(int, pclose(p), 0));

	static const char *const files[] = { "signin-refused.png", "console-1280.png", "console-peer-down.png",
					     "console-degraded.png", "console-phone.png" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[1200];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", shots, files[i]);
		cr_assert(eq(int, stat(path, &sb), 0), "no screenshot %s", path);
		cr_assert(lt(i64, 1000, (int64_t)sb.st_size), "%s is empty", path);
	}
	cluster_destroy(&c);
}
