/*
 * Bad command lines, bad query numbers and failed output around the audit
 * trail: each is refused with a usage exit or a 400, never a crash, never a
 * silent success with less than was asked for.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/cli.h"
#include "support/agentproc.h"
#include "support/store_testutil.h"

static char root[256];
static char cfg[700];
static struct agentproc *agent, *peer;

static void setup(void)
{
	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "cli_input"), 0));
	peer = agentproc_new(root, "HU-NAV-ROSZKE");
	agent = agentproc_new(root, "RS-CUSTOMS-HORGOS");
	cr_assert(peer && agent);
	agentproc_add_agent_peer(agent, peer, "alert", "alert");
	snprintf(cfg, sizeof(cfg), "%s", agentproc_config(agent));
	/* a real config: the options must be refused for themselves */
	cr_assert(eq(int, agentproc_write_config(agent), 0));
}

static void teardown(void)
{
	agentproc_destroy(&agent);
	agentproc_destroy(&peer);
	store_test_rmtree(root);
}

TestSuite(cli_input, .init = setup, .fini = teardown, .timeout = 120);

/* exit status of `sh -c cmd`, -1 when it did not exit */
static int shell(const char *cmd)
{
	int st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(cli_input, audit_export_into_a_full_disk_does_not_exit_0)
{
	char cmd[2000];

	/* a stopped agent's store: the export reads it through audit-dump */
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(int, agentproc_stop(agent), 0));
	snprintf(cmd, sizeof(cmd), "'%s' audit export -c '%s' > /dev/null 2>&1", LIMES_BIN, cfg);
	cr_assert(eq(int, shell(cmd), CLI_OK));
	snprintf(cmd, sizeof(cmd), "'%s' audit export -c '%s' > /dev/full 2>/dev/null", LIMES_BIN, cfg);
	cr_assert(eq(int, shell(cmd), CLI_FAILED));
	snprintf(cmd, sizeof(cmd), "'%s' --version > /dev/full 2>/dev/null", LIMES_BIN);
	cr_assert(eq(int, shell(cmd), CLI_FAILED));
}

Test(cli_input, audit_options_that_do_not_fit_are_refused_not_overrun)
{
	char *out = NULL;
	static char since[1400];

	/* 25 times --checkpoints: once overran the argument array */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "audit", "export", "-c", cfg, "--checkpoints", "--checkpoints",
					"--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints",
					"--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints",
					"--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints",
					"--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints", "--checkpoints",
					"--checkpoints", "--checkpoints", "--checkpoints", NULL),
		     CLI_USAGE));
	free(out);
	/* a valid time longer than the query buffer, then one more option:
	 * once moved the query length past the buffer and wrote beyond it */
	size_t n = (size_t)snprintf(since, sizeof(since), "2026-12-01T00:00:00.");
	memset(since + n, '0', sizeof(since) - n - 2);
	since[sizeof(since) - 2] = 'Z';
	since[sizeof(since) - 1] = '\0';
	cr_assert(eq(int, agentproc_cli(&out, NULL, "audit", "export", "-c", cfg, "--since", since, "--checkpoints",
					NULL),
		     CLI_USAGE));
	free(out);
	/* an entry number past 64 bits is not the last entry */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "audit", "verify", "-c", cfg, "--from", "99999999999999999999999",
					NULL),
		     CLI_USAGE));
	free(out);
}

Test(cli_input, audit_dump_from_must_be_an_entry_number)
{
	char cmd[2000];

	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(int, agentproc_stop(agent), 0));
	snprintf(cmd, sizeof(cmd), "'%s' audit-dump -c '%s' --from 1 > /dev/null 2>&1", LIMES_AGENT_BIN, cfg);
	cr_assert(eq(int, shell(cmd), 0));
	/* once read as 0: the whole trail, as if no --from had been given */
	snprintf(cmd, sizeof(cmd), "'%s' audit-dump -c '%s' --from seven > /dev/null 2>&1", LIMES_AGENT_BIN, cfg);
	cr_assert(eq(int, shell(cmd), 64));
	snprintf(cmd, sizeof(cmd), "'%s' audit-dump -c '%s' --from 99999999999999999999999 > /dev/null 2>&1",
		 LIMES_AGENT_BIN, cfg);
	cr_assert(eq(int, shell(cmd), 64));
}

Test(cli_input, audit_query_from_past_64_bits_is_a_400)
{
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(long, agentproc_http(agent, "GET", "/v1/audit?from=1", NULL, 0, NULL, NULL), 200));
	cr_assert(eq(long, agentproc_http(agent, "GET", "/v1/audit?from=99999999999999999999999", NULL, 0, NULL, NULL),
		     400));
}
