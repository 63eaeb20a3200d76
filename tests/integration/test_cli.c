/*
 * The `limes` client commands against a real agent (exit codes that scripts
 * rely on, the API's error printed), and the agent's signals: SIGTERM stops
 * cleanly, SIGHUP with a broken config keeps the old one, with a good one
 * adds the new peer.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "support/agentproc.h"
#include "support/store_testutil.h"

#define ALERT_BODY                                                                                          \
	"{\"action\":\"create\",\"alert_id\":\"RS-MUP-SU-2026-004512\",\"category\":\"stolen_vehicle\","      \
	"\"requested_action\":\"seize\",\"handling_code\":\"H1\",\"legal_basis\":\"PCC SEE, Art. 5\","        \
	"\"issuing_authority\":\"Police Administration Subotica\",\"contact_desk\":\"SPOC Belgrade 24/7\"}"

static inline int is(int cond)
{
	return cond;
}

static char root[256];
static char cfg[700];
static struct agentproc *agent, *absent, *late;

static void setup(void)
{
	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "cli"), 0));
	absent = agentproc_new(root, "HU-NAV-ROSZKE");
	late = agentproc_new(root, "AT-BMI-NICKELSDORF");
	agent = agentproc_new(root, "RS-CUSTOMS-HORGOS");
	cr_assert(absent && late && agent);
	agentproc_add_agent_peer(agent, absent, "alert", "alert");
	snprintf(cfg, sizeof(cfg), "%s", agentproc_config(agent));
}

static void teardown(void)
{
	agentproc_destroy(&agent);
	agentproc_destroy(&absent);
	agentproc_destroy(&late);
	store_test_rmtree(root);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

Test(cli, send_msg_status_and_inbox_succeed)
{
	char *out = NULL;
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(int, agentproc_cli(&out, ALERT_BODY, "send", "-c", cfg, "--to", "HU-NAV-ROSZKE", "--type", "alert",
					"--priority", "urgent", "--ttl", "2h", "-", NULL), CLI_OK));
	cr_assert(eq(sz, strlen(out), 33), "id line: %s", out);
	char id[33];
	memcpy(id, out, 32);
	id[32] = '\0';
	free(out);
	cr_assert(eq(int, agentproc_cli(&out, NULL, "msg", "-c", cfg, id, NULL), CLI_OK));
	cr_assert(is(strstr(out, "\"HU-NAV-ROSZKE\"") != NULL), "%s", out);
	free(out);
	/* the peer is away: status says so in its exit status */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", cfg, NULL), CLI_PEERS_DOWN));
	cr_assert(is(strstr(out, "PEER") != NULL && strstr(out, "HU-NAV-ROSZKE") != NULL), "%s", out);
	free(out);
	cr_assert(eq(int, agentproc_cli(&out, NULL, "inbox", "-c", cfg, NULL), CLI_OK));
	cr_assert(eq(str, out, ""));
	free(out);
}

Test(cli, exit_codes_follow_the_api_answer)
{
	char *out = NULL;
	cr_assert(eq(int, agentproc_start(agent), 0));
	/* 404 unknown recipient */
	cr_assert(eq(int, agentproc_cli(&out, ALERT_BODY, "send", "-c", cfg, "--to", "XX-NOBODY", "--type", "alert", "-",
					NULL), CLI_NOTFOUND));
	free(out);
	/* 403 type not in the send list */
	cr_assert(eq(int, agentproc_cli(&out, "{}", "send", "-c", cfg, "--to", "HU-NAV-ROSZKE", "--type",
					"control_result", "-", NULL), CLI_DATAERR)); /* the empty body is refused first */
	free(out);
	/* 400 invalid body; bad JSON file */
	cr_assert(eq(int, agentproc_cli(&out, "{\"action\":1}", "send", "-c", cfg, "--to", "HU-NAV-ROSZKE", "--type",
					"alert", "-", NULL), CLI_DATAERR));
	free(out);
	cr_assert(eq(int, agentproc_cli(&out, "{not json", "send", "-c", cfg, "--to", "HU-NAV-ROSZKE", "--type",
					"alert", "-", NULL), CLI_DATAERR));
	free(out);
	/* 404 unknown message */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "msg", "-c", cfg, "00112233445566778899aabbccddeeff", NULL),
		     CLI_NOTFOUND));
	free(out);
	/* bad command line */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "msg", "-c", cfg, "not-an-id", NULL), CLI_USAGE));
	free(out);
	/* config error */
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", "/nonexistent/limes.ini", NULL), CLI_CONFIG));
	free(out);
	/* 401: a config whose token file holds another token */
	char other[800], tok[800];
	snprintf(tok, sizeof(tok), "%s/other.token", agentproc_dir(agent));
	FILE *f = fopen(tok, "we");
	fputs("ffffffffffffffffffffffffffffffff\n", f);
	fclose(f);
	chmod(tok, 0600);
	snprintf(other, sizeof(other), "sed 's/^token_file = api.token/token_file = other.token/' %s > %s/other.ini",
		 cfg, agentproc_dir(agent));
	cr_assert(eq(int, system(other), 0));
	snprintf(other, sizeof(other), "%s/other.ini", agentproc_dir(agent));
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", other, NULL), CLI_NOPERM));
	free(out);
	/* agent down: unreachable */
	cr_assert(eq(int, agentproc_stop(agent), 0));
	cr_assert(eq(int, agentproc_cli(&out, NULL, "status", "-c", cfg, NULL), CLI_UNAVAILABLE));
	free(out);
}

Test(cli, forbidden_type_exits_77)
{
	char *out = NULL;
	cr_assert(eq(int, agentproc_start(agent), 0));
	const char *body = "{\"answers_message_id\":\"4f1c2a9be07d4c3aa5f0d2e8b61c7e93\",\"mrn\":\"26TR34150000A12345\","
			   "\"outcome\":\"irregularity_found\",\"controlling_office\":\"HU701200\","
			   "\"controlled_at\":\"2026-11-26T19:05:12.000Z\"}";
	int rc = agentproc_cli(&out, body, "send", "-c", cfg, "--to", "HU-NAV-ROSZKE", "--type", "control_result", "-",
			       NULL);
	cr_assert(eq(int, rc, CLI_NOPERM));
	free(out);
}

Test(cli, sigterm_stops_cleanly)
{
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(int, agentproc_stop(agent), 0));
	cr_assert(is(agentproc_log_contains(agent, "event=stop signal=SIGTERM")));
	cr_assert(is(agentproc_log_contains(agent, "event=stopped clean=yes")));
}

Test(cli, sighup_keeps_the_old_config_when_the_new_one_is_broken_and_adds_a_good_peer)
{
	char *out = NULL;
	cr_assert(eq(int, agentproc_start(agent), 0));
	/* broken: an unknown key; the agent keeps serving with the old peers */
	agentproc_set_agent_extra(agent, "colour = blue");
	cr_assert(eq(int, agentproc_write_config(agent), 0));
	cr_assert(eq(int, agentproc_signal(agent, SIGHUP), 0));
	cr_assert(is(agentproc_wait_log(agent, "event=reload_failed keeping=old_config", 5000)));
	cr_assert(is(agentproc_running(agent)));
	cr_assert(eq(long, agentproc_queued(agent, "HU-NAV-ROSZKE"), 0));
	/* good: a new peer appears and can be sent to */
	agentproc_set_agent_extra(agent, "");
	agentproc_add_agent_peer(agent, late, "alert", "alert");
	cr_assert(eq(int, agentproc_write_config(agent), 0));
	cr_assert(eq(int, agentproc_signal(agent, SIGHUP), 0));
	cr_assert(is(agentproc_wait_log(agent, "event=reload peers=2", 5000)));
	cr_assert(eq(long, agentproc_queued(agent, "AT-BMI-NICKELSDORF"), 0));
	cr_assert(eq(int, agentproc_cli(&out, ALERT_BODY, "send", "-c", cfg, "--to", "AT-BMI-NICKELSDORF", "--type",
					"alert", "-", NULL), CLI_OK));
	free(out);
	cr_assert(eq(long, agentproc_queued(agent, "AT-BMI-NICKELSDORF"), 1));
	cr_assert(eq(int, agentproc_stop(agent), 0));
}

Test(cli, agent_refuses_a_loose_token_file)
{
	char tok[800];
	snprintf(tok, sizeof(tok), "%s/api.token", agentproc_dir(agent));
	cr_assert(eq(int, agentproc_write_config(agent), 0));
	chmod(tok, 0644);
	cr_assert(eq(int, agentproc_start(agent), -1));
	cr_assert(is(agentproc_log_contains(agent, "chmod 600")));
}

/* Reads one JSON line from the follower and checks its id and sender. */
static void expect_line(FILE *follow, const char *id)
{
	char line[16384];
	cr_assert(ne(ptr, fgets(line, sizeof(line), follow), NULL), "--follow printed nothing");
	json_t *m = json_loads(line, 0, NULL);
	cr_assert(ne(ptr, m, NULL), "not a JSON line: %s", line);
	cr_assert(eq(str, (char *)json_string_value(json_object_get(m, "id")), (char *)id));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(m, "from")), "RS-CUSTOMS-HORGOS"));
	json_decref(m);
}

static void send_one(char id[40])
{
	char *out = NULL;
	cr_assert(eq(int, agentproc_cli(&out, ALERT_BODY, "send", "-c", cfg, "--to", "HU-NAV-ROSZKE", "--type",
					"alert", "-", NULL), CLI_OK));
	snprintf(id, 40, "%.32s", out);
	free(out);
}

Test(cli, inbox_follow_prints_each_message_once_and_survives_an_agent_restart)
{
	/* the absent peer runs this time, and accepts alerts from `agent` */
	agentproc_add_agent_peer(absent, agent, "alert", "alert");
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(int, agentproc_start(absent), 0));
	int fds[2];
	cr_assert(eq(int, pipe(fds), 0));
	pid_t pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(LIMES_BIN, "limes", "inbox", "-c", agentproc_config(absent), "--follow", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *follow = fdopen(fds[0], "r");
	char ids[3][40];
	for (int i = 0; i < 2; i++) {
		send_one(ids[i]);
		expect_line(follow, ids[i]); /* each arrives on the open stream, in order, once */
	}
	/* the receiving agent restarts: the follower waits, then resumes after its cursor */
	cr_assert(eq(int, agentproc_stop(absent), 0));
	send_one(ids[2]);
	cr_assert(eq(int, agentproc_start(absent), 0));
	expect_line(follow, ids[2]);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	char rest[256];
	cr_assert(eq(ptr, fgets(rest, sizeof(rest), follow), NULL), "unexpected extra line: %s", rest);
	fclose(follow);
}

Test(cli, agent_refuses_a_loose_or_symlinked_identity_key)
{
	char key[800], moved[800];
	snprintf(key, sizeof(key), "%s/keys/identity.key", agentproc_dir(agent));
	cr_assert(eq(int, agentproc_write_config(agent), 0));
	cr_assert(eq(int, chmod(key, 0640), 0));
	cr_assert(eq(int, agentproc_start(agent), -1));
	cr_assert(is(agentproc_log_contains(agent, "identity.key")), "the refusal does not name the file");
	cr_assert(is(agentproc_log_contains(agent, "event=start_failed")));
	/* a symlink to a private key is refused too */
	cr_assert(eq(int, chmod(key, 0600), 0));
	snprintf(moved, sizeof(moved), "%s/keys/real.key", agentproc_dir(agent));
	cr_assert(eq(int, rename(key, moved), 0));
	cr_assert(eq(int, symlink(moved, key), 0));
	cr_assert(eq(int, agentproc_start(agent), -1));
	cr_assert(is(agentproc_log_contains(agent, "symbolic link")) || is(agentproc_log_contains(agent, "symlink")),
		  "the refusal does not say symlink");
}
