/*
 * The dashboard page in a real browser: headless Chromium driven by
 * Playwright (tests/dashboard/check.mjs) loads GET / from a running agent,
 * must show the peer's link up with its RTT, and must turn the row to
 * "connecting" live when the peer goes away. tests/run.sh installs the
 * browser and playwright-core first.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

TestSuite(dashboard, .timeout = 120);

Test(dashboard, shows_link_health_live_in_a_browser)
{
	static const char *const ids[] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE" };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { ids[0], ids[1], "alert", NULL }, { ids[1], ids[0], "alert", NULL } };
	cluster_configure(c, l, 2, NULL);
	cluster_start(c, ids[0]);
	cluster_start(c, ids[1]);
	cr_assert(eq(int, cluster_wait_up(c, ids[0], ids[1], 10000), 1));

	char cmd[2048];
	struct agentproc *a = cluster_ap(c, ids[0]);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s/tests/dashboard' && test -d node_modules/playwright-core "
		 "|| { echo 'FAIL playwright-core is not installed: run npm ci in tests/dashboard'; exit 1; }; "
		 "node check.mjs http://127.0.0.1:%u/ '%s' '%s' '%s' 2>&1",
		 LIMES_SOURCE_DIR, agentproc_api_port(a), agentproc_token(a), ids[1], getenv("LIMES_DASHBOARD_SHOT") ? getenv("LIMES_DASHBOARD_SHOT") : "");
	FILE *p = popen(cmd, "r");
	cr_assert(ne(ptr, p, NULL));
	char line[512] = "";
	cr_assert(ne(ptr, fgets(line, sizeof(line), p), NULL), "the browser script printed nothing");
	cr_assert(eq(int, strncmp(line, "UP ", 3), 0), "dashboard: %s", line);

	cluster_kill(c, ids[1]); /* the neighbour goes away: the row must change by itself */
	cr_assert(ne(ptr, fgets(line, sizeof(line), p), NULL), "the browser script stopped");
	cr_assert(eq(int, strncmp(line, "DOWN ", 5), 0), "dashboard: %s", line);
	cr_assert(eq(int, pclose(p), 0));
	cluster_destroy(&c);
}
