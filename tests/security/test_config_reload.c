/*
 * Reloads and start-up with hostile or broken files: a new token by SIGHUP
 * (the old one stops working), a config replaced by a FIFO (refused at
 * once, the loop keeps running), a peer carrying our own key.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/agentproc.h"
#include "support/store_testutil.h"

static char root[256];
static struct agentproc *agent;

static void setup(void)
{
	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "reload"), 0));
	agent = agentproc_new(root, "RS-CUSTOMS-HORGOS");
	cr_assert(agent != NULL);
}

static void teardown(void)
{
	agentproc_destroy(&agent);
	store_test_rmtree(root);
}

TestSuite(config_reload, .init = setup, .fini = teardown, .timeout = 60);

static void write_token(const char *token)
{
	char path[600], tmp[620];
	snprintf(path, sizeof(path), "%s/api.token", agentproc_dir(agent));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert(eq(int, (int)write(fd, token, strlen(token)), (int)strlen(token)));
	close(fd);
	cr_assert(eq(int, rename(tmp, path), 0));
}

Test(config_reload, a_new_token_takes_over_on_sighup)
{
	const char *fresh = "0123456789abcdef0123456789abcdef";
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(int, (int)agentproc_http(agent, "GET", "/v1/peers", NULL, 0, NULL, NULL), 200));
	cr_assert(eq(int, (int)agentproc_http(agent, "GET", "/v1/peers", NULL, 0, fresh, NULL), 401));
	write_token(fresh);
	cr_assert(eq(int, agentproc_signal(agent, SIGHUP), 0));
	cr_assert(agentproc_wait_log(agent, "event=reload ", 5000));
	cr_assert(eq(int, (int)agentproc_http(agent, "GET", "/v1/peers", NULL, 0, fresh, NULL), 200));
	cr_assert(eq(int, (int)agentproc_http(agent, "GET", "/v1/peers", NULL, 0, NULL, NULL), 401),
		  "the old token stops working");
}

Test(config_reload, a_bad_new_token_keeps_the_old_one)
{
	cr_assert(eq(int, agentproc_start(agent), 0));
	write_token("short");
	cr_assert(eq(int, agentproc_signal(agent, SIGHUP), 0));
	cr_assert(agentproc_wait_log(agent, "event=reload_failed", 5000));
	cr_assert(agentproc_log_contains(agent, "shorter than 16"));
	cr_assert(eq(int, (int)agentproc_http(agent, "GET", "/v1/peers", NULL, 0, NULL, NULL), 200));
}

Test(config_reload, a_config_replaced_by_a_fifo_is_refused_and_the_loop_runs_on)
{
	cr_assert(eq(int, agentproc_start(agent), 0));
	const char *cfg = agentproc_config(agent);
	char moved[700];
	snprintf(moved, sizeof(moved), "%s.real", cfg);
	cr_assert(eq(int, rename(cfg, moved), 0));
	cr_assert(eq(int, mkfifo(cfg, 0600), 0));
	cr_assert(eq(int, agentproc_signal(agent, SIGHUP), 0));
	cr_assert(agentproc_wait_log(agent, "event=reload_failed", 5000), "refused at once, not waiting for a writer");
	cr_assert(agentproc_log_contains(agent, "not a regular file"));
	cr_assert(eq(int, (int)agentproc_http(agent, "GET", "/healthz", NULL, 0, NULL, NULL), 200));
	cr_assert(eq(int, unlink(cfg), 0));
	cr_assert(eq(int, rename(moved, cfg), 0));
}

Test(config_reload, a_fifo_token_file_is_refused_at_start)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/api.token", agentproc_dir(agent));
	cr_assert(eq(int, unlink(path), 0));
	cr_assert(eq(int, mkfifo(path, 0600), 0));
	cr_assert(eq(int, agentproc_start(agent), -1));
	cr_assert(agentproc_wait_log(agent, "FIFO", 5000));
}

Test(config_reload, a_peer_with_our_own_key_is_refused_at_start)
{
	agentproc_add_peer(agent, "HU-NAV-ROSZKE", "tcp://127.0.0.1:9", agentproc_pubkey(agent), "alert", "alert");
	cr_assert(eq(int, agentproc_start(agent), -1));
	cr_assert(agentproc_wait_log(agent, "its key is this agent's own key", 5000));
}
