/*
 * The descriptor budget: with systemd's default of 1,024 descriptors, 1,100
 * half-open connections to the link port filled the table and the API spun
 * on accept. The agent raises its soft RLIMIT_NOFILE to the hard limit,
 * warns when that stays under 4,096, and the shipped unit raises the limit
 * to 65,536 (docs/security.md, the budget).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/cluster.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

TestSuite(descriptors, .timeout = 60);

/* The soft "Max open files" of a running process. */
static long soft_nofile(int pid)
{
	char path[64], line[256];
	long soft = -1;
	snprintf(path, sizeof(path), "/proc/%d/limits", pid);
	FILE *f = fopen(path, "re");
	cr_assert(f != NULL, "%s", path);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Max open files", 14) == 0)
			soft = strtol(line + 14, NULL, 10);
	fclose(f);
	return soft;
}

static struct cluster *under_limit(const char *limit)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	const char *const wrap[] = { "/usr/bin/prlimit", limit, "--", NULL };
	cr_assert(eq(int, agentproc_start_wrapped(cluster_ap(c, A), wrap), 0));
	return c;
}

Test(descriptors, the_soft_limit_is_raised_to_the_hard_one)
{
	struct cluster *c = under_limit("--nofile=1024:8192");
	cr_assert(eq(long, soft_nofile(agentproc_pid(cluster_ap(c, A))), 8192));
	cr_assert(not(agentproc_log_contains(cluster_ap(c, A), "event=nofile_low")));
	cluster_destroy(&c);
}

Test(descriptors, a_hard_limit_under_4096_is_warned_about)
{
	struct cluster *c = under_limit("--nofile=1024:1024");
	cr_assert(agentproc_wait_log(cluster_ap(c, A), "event=nofile_low limit=1024", 5000));
	cluster_destroy(&c);
}

Test(descriptors, the_unit_raises_the_limit_to_match)
{
	char path[512], line[256];
	bool found = false;
	snprintf(path, sizeof(path), "%s/deploy/limes.service", LIMES_SOURCE_DIR);
	FILE *f = fopen(path, "re");
	cr_assert(f != NULL, "%s", path);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "LimitNOFILE=", 12) == 0)
			found = strtol(line + 12, NULL, 10) >= 65536;
	fclose(f);
	cr_assert(found, "deploy/limes.service sets LimitNOFILE=65536 or more");
}
