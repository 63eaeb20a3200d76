/*
 * Operators' tooling against real agents: listing messages by state with
 * cursor paging (API and `limes msgs`), re-queueing by state with a
 * confirmation, a backup taken while messages flow and restored into an
 * agent that delivers what was queued, and the command line's error cases:
 * each checked for its message (stderr, prefixed `limes COMMAND:`) and its
 * exit status.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "support/cluster.h"
#include "support/store_testutil.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"
#define C "AT-BMI-NICKELSDORF"
#define NOBODY 65534

static inline int is(int cond)
{
	return cond;
}

TestSuite(ops, .timeout = 300);

/* Runs `limes ARGS...` with stdin_text (may be NULL), as user `nobody` when
 * as_nobody and we are root; the exit status, stdout and stderr (caller
 * frees both). */
static int run(char **out, char **err, bool as_nobody, const char *stdin_text, const char *arg, ...)
{
	char tmpl_out[] = "/tmp/limes-ops-out-XXXXXX", tmpl_err[] = "/tmp/limes-ops-err-XXXXXX";
	int fo = mkstemp(tmpl_out), fe = mkstemp(tmpl_err), in[2];
	const char *argv[32] = { "limes" };
	size_t n = 1;
	va_list ap;

	cr_assert(fo >= 0 && fe >= 0 && pipe(in) == 0);
	va_start(ap, arg);
	for (const char *a = arg; a && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(fo, 1);
		dup2(fe, 2);
		close(in[1]);
		if (as_nobody && geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
			_exit(126);
		execv(LIMES_BIN, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	if (stdin_text && write(in[1], stdin_text, strlen(stdin_text)) < 0)
		cr_fatal("cannot feed the child");
	close(in[1]);
	int status;
	waitpid(pid, &status, 0);
	char *bufs[2] = { NULL, NULL };
	int fds[2] = { fo, fe };
	for (int k = 0; k < 2; k++) {
		off_t len = lseek(fds[k], 0, SEEK_END);
		bufs[k] = calloc(1, (size_t)len + 1);
		if (pread(fds[k], bufs[k], (size_t)len, 0) != len)
			cr_fatal("cannot read the child's output");
		close(fds[k]);
	}
	unlink(tmpl_out);
	unlink(tmpl_err);
	if (out)
		*out = bufs[0];
	else
		free(bufs[0]);
	if (err)
		*err = bufs[1];
	else
		free(bufs[1]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static struct cluster *three(void)
{
	static const char *const ids[] = { A, B, C };
	struct cluster *c = cluster_new(3, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL }, { A, C, "alert", NULL } };
	cluster_configure(c, l, 2, NULL);
	return c;
}

static size_t count_rows(json_t *doc)
{
	return json_array_size(json_object_get(doc, "messages"));
}

Test(ops, messages_are_listed_by_state_peer_and_type_with_cursor_paging)
{
	struct cluster *c = three();
	char ids[8][33];
	json_t *doc = NULL;
	cluster_start(c, A); /* B and C are away: everything stays queued */
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 5, ids), 202));
	cr_assert(eq(int, cluster_submit(c, A, C, "alert", "urgent", 3, ids + 5), 202));

	/* paging: 2 + 2 + 1 to B, each page's cursor leads to the next */
	char path[256] = "/v1/messages?peer=" B "&limit=2";
	size_t total = 0, pages = 0;
	for (;;) {
		cr_assert(eq(int, cluster_http(c, A, "GET", path, NULL, &doc), 200));
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(doc, "messages"), i, m) {
			cr_assert(eq(str, (char *)json_string_value(json_object_get(m, "to")), B));
			cr_assert(eq(str, (char *)json_string_value(json_object_get(m, "id")), ids[total]));
			total++;
		}
		pages++;
		const char *next = json_string_value(json_object_get(doc, "next"));
		if (!next) {
			json_decref(doc);
			break;
		}
		snprintf(path, sizeof(path), "/v1/messages?peer=" B "&limit=2&after=%s", next);
		json_decref(doc);
		cr_assert(lt(sz, pages, 5));
	}
	cr_assert(eq(sz, total, 5));
	cr_assert(eq(sz, pages, 3));
	/* by state and type */
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/messages?state=queued&type=alert", NULL, &doc), 200));
	cr_assert(eq(sz, count_rows(doc), 8));
	json_decref(doc);
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/messages?state=delivered", NULL, &doc), 200));
	cr_assert(eq(sz, count_rows(doc), 0));
	json_decref(doc);
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/messages?since=2999-01-01T00:00:00Z", NULL, &doc), 200));
	cr_assert(eq(sz, count_rows(doc), 0));
	json_decref(doc);
	/* bad filters: named, whole lists, nothing listed */
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/messages?state=lost", NULL, &doc), 400));
	json_t *e = json_object_get(doc, "error");
	cr_assert(eq(str, (char *)json_string_value(json_object_get(e, "field")), "state"));
	cr_assert(is(strstr(json_string_value(json_object_get(e, "message")), "expired)") != NULL));
	json_decref(doc);
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/messages?peer=XX-NOBODY", NULL, &doc), 404));
	json_decref(doc);
	cr_assert(eq(int, cluster_http(c, A, "GET", "/v1/messages?since=yesterday", NULL, &doc), 400));
	json_decref(doc);

	/* limes msgs: a header and one line per delivery; --json lines */
	char *out = NULL, *err = NULL;
	const char *cfg = agentproc_config(cluster_ap(c, A));
	cr_assert(eq(int, run(&out, &err, false, NULL, "msgs", "-c", cfg, "--peer", C, NULL), CLI_OK), "%s", err);
	size_t lines = 0;
	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	cr_assert(eq(sz, lines, 4), "%s", out);
	cr_assert(is(strstr(out, ids[5]) && strstr(out, ids[7]) && !strstr(out, ids[0])), "%s", out);
	free(out);
	free(err);
	cr_assert(eq(int, run(&out, &err, false, NULL, "msgs", "-c", cfg, "--json", "--limit", "3", NULL), CLI_OK));
	lines = 0;
	for (char *p = out; *p; lines++) {
		char *nl = strchr(p, '\n');
		cr_assert(ne(ptr, nl, NULL));
		*nl = '\0';
		json_t *m = json_loads(p, 0, NULL);
		cr_assert(ne(ptr, m, NULL), "not JSON: %s", p);
		json_decref(m);
		p = nl + 1;
	}
	cr_assert(eq(sz, lines, 3));
	free(out);
	free(err);
	cr_assert(eq(int, run(&out, &err, false, NULL, "msgs", "-c", cfg, "--state", "lost", NULL), CLI_DATAERR));
	cr_assert(is(strncmp(err, "limes msgs: 400 bad_enum state:", 31) == 0), "%s", err);
	free(out);
	free(err);
	cluster_destroy(&c);
}

/* Submits n alerts from A to `to` with a TTL of one second; fills ids. */
static void submit_short_lived(struct cluster *c, const char *to, size_t n, char (*ids)[33])
{
	json_t *batch = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_pack("{s:[s], s:s, s:i, s:o}", "to", to, "type", "alert", "ttl_s", 1, "body",
				      json_loads(cluster_example("alert"), 0, NULL));
		json_array_append_new(batch, m);
	}
	char *text = json_dumps(batch, JSON_COMPACT);
	json_t *doc = NULL;
	cr_assert(eq(int, cluster_http(c, A, "POST", "/v1/messages", text, &doc), 202));
	for (size_t i = 0; i < n; i++)
		snprintf(ids[i], 33, "%s", json_string_value(json_array_get(json_object_get(doc, "ids"), i)));
	json_decref(doc);
	free(text);
	json_decref(batch);
}

static size_t count_state(struct cluster *c, const char *state)
{
	char path[128];
	json_t *doc = NULL;
	snprintf(path, sizeof(path), "/v1/messages?state=%s", state);
	cr_assert(eq(int, cluster_http(c, A, "GET", path, NULL, &doc), 200));
	size_t n = count_rows(doc);
	json_decref(doc);
	return n;
}

Test(ops, requeue_by_state_asks_before_acting_on_many_and_expiry_names_each_message)
{
	struct cluster *c = three();
	char ids[3][33];
	cluster_start(c, A);
	submit_short_lived(c, B, 3, ids);
	for (int i = 0; i < 100 && count_state(c, "expired") < 3; i++)
		cluster_sleep_ms(100);
	cr_assert(eq(sz, count_state(c, "expired"), 3));
	struct agentproc *a = cluster_ap(c, A);
	for (int i = 0; i < 3; i++) {
		char needle[160];
		snprintf(needle, sizeof(needle), "msg=%.32s", ids[i]);
		cr_assert(eq(int, agentproc_wait_log(a, needle, 5000), 1), "expiry did not name %s", ids[i]);
	}
	const char *cfg = agentproc_config(a);
	char *out = NULL, *err = NULL;
	/* answered no: nothing changes */
	cr_assert(eq(int, run(&out, &err, false, "n\n", "requeue", "-c", cfg, "--state", "expired", "--peer", B, NULL),
		     CLI_FAILED));
	cr_assert(is(strstr(err, "limes requeue: re-queue 3 expired deliveries to " B "? [y/N]") != NULL), "%s", err);
	cr_assert(is(strstr(err, "limes requeue: not confirmed; nothing re-queued") != NULL), "%s", err);
	free(out);
	free(err);
	cr_assert(eq(sz, count_state(c, "expired"), 3));
	/* a state that cannot be re-queued, and nothing to re-queue */
	cr_assert(eq(int, run(&out, &err, false, NULL, "requeue", "-c", cfg, "--state", "queued", NULL), CLI_USAGE));
	cr_assert(is(strncmp(err, "limes requeue: --state 'queued'", 31) == 0), "%s", err);
	free(out);
	free(err);
	cr_assert(eq(int, run(&out, &err, false, NULL, "requeue", "-c", cfg, "--state", "rejected", NULL), CLI_NOTFOUND));
	cr_assert(is(strncmp(err, "limes requeue: no rejected deliveries", 37) == 0), "%s", err);
	free(out);
	free(err);
	/* confirmed: all three go back in the queue */
	cr_assert(eq(int, run(&out, &err, false, "y\n", "requeue", "-c", cfg, "--state", "expired", "--peer", B, "--ttl",
			      "1h", NULL), CLI_OK), "%s", err);
	for (int i = 0; i < 3; i++)
		cr_assert(is(strstr(out, ids[i]) != NULL), "%s", out);
	free(out);
	free(err);
	cr_assert(eq(sz, count_state(c, "expired"), 0));
	cr_assert(eq(sz, count_state(c, "queued"), 3));
	/* and B receives them once it runs */
	cluster_start(c, B);
	for (int i = 0; i < 100 && count_state(c, "delivered") < 3; i++)
		cluster_sleep_ms(100);
	cr_assert(eq(sz, count_state(c, "delivered"), 3));
	cluster_destroy(&c);
}

Test(ops, backup_during_a_run_restores_into_an_agent_that_delivers_what_was_queued, .timeout = 400)
{
	static const char *const ids2[] = { A, B };
	struct cluster *c = cluster_new(2, ids2);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	struct agentproc *a = cluster_ap(c, A);
	char backup[600], data[600], aside[600];
	snprintf(backup, sizeof(backup), "%s/backup.db", c->dir);
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(a));
	snprintf(aside, sizeof(aside), "%s/data.old", agentproc_dir(a));
	static char ids[5000][33];
	/* 5,000 messages in batches; the backup is taken by a second process
	 * while the batches go in */
	pid_t pid = -1;
	for (int k = 0; k < 10; k++) {
		cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 500, ids + 500 * k), 202));
		if (k == 3) {
			pid = fork();
			cr_assert(pid >= 0);
			if (pid == 0)
				_exit(run(NULL, NULL, false, NULL, "backup", "-c", agentproc_config(a), backup, NULL));
		}
	}
	int status;
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(is(WIFEXITED(status) && WEXITSTATUS(status) == CLI_OK), "limes backup failed: %d", status);
	struct stat sb;
	cr_assert(eq(int, stat(backup, &sb), 0));
	cr_assert(eq(int, (int)(sb.st_mode & 0777), 0600));
	/* a second backup to the same file is refused, naming it */
	char *err = NULL;
	cr_assert(eq(int, run(NULL, &err, false, NULL, "backup", "-c", agentproc_config(a), backup, NULL), CLI_FAILED));
	cr_assert(is(strstr(err, "limes backup:") == err && strstr(err, "already exists")), "%s", err);
	free(err);

	/* restore as docs/operations.md says: stop, move the folder aside, a
	 * fresh 0700 folder with the copy as limes.db, start */
	cr_assert(eq(int, cluster_stop(c, A), 0));
	cr_assert(eq(int, rename(data, aside), 0));
	cr_assert(eq(int, mkdir(data, 0700), 0));
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "cp %s %s/limes.db", backup, data);
	cr_assert(eq(int, system(cmd), 0));
	cluster_start(c, A);
	long queued = cluster_queued(c, A, B);
	/* at least what was acknowledged before the copy began, at most all */
	cr_assert(ge(long, queued, 2000));
	cr_assert(le(long, queued, 5000));
	cluster_start(c, B);
	for (int i = 0; i < 1200 && cluster_queued(c, A, B) != 0; i++)
		cluster_sleep_ms(100);
	cr_assert(eq(long, cluster_queued(c, A, B), 0));
	json_t *inbox = cluster_inbox(c, B);
	cr_assert(eq(sz, json_array_size(inbox), (size_t)queued), "B got %zu of the %ld in the copy",
		  json_array_size(inbox), queued);
	/* each one of ours, each once */
	size_t i;
	json_t *m;
	char *seen = calloc(5000, 1);
	json_array_foreach(inbox, i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		int found = -1;
		for (int k = 0; k < 5000 && found < 0; k++)
			if (strcmp(ids[k], id) == 0)
				found = k;
		cr_assert(ge(int, found, 0), "unknown id %s", id);
		cr_assert(eq(int, seen[found], 0), "%s delivered twice", id);
		seen[found] = 1;
	}
	free(seen);
	json_decref(inbox);
	cluster_destroy(&c);
}

/* ------------------------------------------------------------ errors */

Test(ops, every_command_names_itself_in_its_error_line)
{
	/* a config that cannot be read: each command's one error line starts
	 * with `limes COMMAND:` and names the file; exit 78 (config) */
	static const char *const argvs[][8] = {
		{ "send", "-c", "/nonexistent.ini", "--to", B, "--type", "alert", "/etc/hostname" },
		{ "inbox", "-c", "/nonexistent.ini" },
		{ "msg", "-c", "/nonexistent.ini", "0123456789abcdef0123456789abcdef" },
		{ "msgs", "-c", "/nonexistent.ini" },
		{ "requeue", "-c", "/nonexistent.ini", "0123456789abcdef0123456789abcdef" },
		{ "requeue", "-c", "/nonexistent.ini", "--state", "delivered", "--peer", B, "--since" },
		{ "status", "-c", "/nonexistent.ini" },
		{ "backup", "-c", "/nonexistent.ini", "/tmp/limes-never.db" },
		{ "peer", "accept-key", "-c", "/nonexistent.ini", B },
		{ "audit", "verify", "-c", "/nonexistent.ini" },
	};
	for (size_t i = 0; i < sizeof(argvs) / sizeof(argvs[0]); i++) {
		const char *const *a = argvs[i];
		char *err = NULL, want[64];
		int rc = strcmp(a[0], "requeue") == 0 && a[3] && strcmp(a[3], "--state") == 0
				 ? run(NULL, &err, false, NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
				       "2026-12-01T10:00:00Z", NULL)
				 : run(NULL, &err, false, NULL, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL);
		snprintf(want, sizeof(want), "limes %s: ", a[0]);
		cr_assert(eq(int, rc, 78), "%s: %d %s", a[0], rc, err);
		cr_assert(is(strncmp(err, want, strlen(want)) == 0 && strstr(err, "/nonexistent.ini") &&
			     strstr(err, "No such file or directory")),
			  "%s", err);
		free(err);
	}
}

Test(ops, a_second_agent_on_the_data_folder_is_refused_naming_the_first_ones_pid)
{
	struct cluster *c = three();
	cluster_start(c, A);
	struct agentproc *a = cluster_ap(c, A);
	char lock[700], pid[32] = "", data[600];
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(a));
	snprintf(lock, sizeof(lock), "%s/agent.lock", data);
	FILE *f = fopen(lock, "r");
	cr_assert(ne(ptr, f, NULL));
	cr_assert(ne(ptr, fgets(pid, sizeof(pid), f), NULL));
	fclose(f);
	pid[strcspn(pid, "\n")] = '\0';
	/* C's config, pointed at A's data folder */
	struct agentproc *other = cluster_ap(c, C);
	agentproc_set_data_dir(other, data);
	cr_assert(eq(int, agentproc_write_config(other), 0));
	char *err = NULL;
	int rc = run(NULL, &err, false, NULL, "agent", "-c", agentproc_config(other), NULL);
	char want[200];
	snprintf(want, sizeof(want), "another agent is running on this data folder (pid %s)", pid);
	cr_assert(eq(int, rc, 78), "%s", err);
	cr_assert(is(strstr(err, "limes agent: ") != NULL && strstr(err, want) != NULL), "%s", err);
	cr_assert(is(strstr(err, "journal_mode") == NULL && strstr(err, "locked") == NULL), "%s", err);
	free(err);
	cr_assert(is(agentproc_running(a)));
	cluster_destroy(&c);
}

/* The ZeroMQ listen port taken by another program: the agent refuses to
 * start, naming the address, and exits with the configuration code. Its
 * links failed while the role was starting, and the stop that followed
 * closed the signal handles before they were initialized: libuv aborted
 * (SIGABRT) instead. */
Test(ops, a_taken_listen_port_is_named_and_the_agent_exits_cleanly)
{
	struct cluster *c = three();
	struct agentproc *a = cluster_ap(c, A);
	const char *ep = agentproc_endpoint(a);
	const char *colon = strrchr(ep, ':');
	cr_assert(colon != NULL && strncmp(ep, "tcp://127.0.0.1:", 16) == 0, "%s", ep);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0), "cannot take %s: %s", ep, strerror(errno));
	cr_assert(eq(int, listen(fd, 1), 0));
	cr_assert(eq(int, agentproc_write_config(a), 0));
	char *err = NULL;
	int rc = run(NULL, &err, false, NULL, "agent", "-c", agentproc_config(a), NULL);
	close(fd);
	cr_assert(eq(int, rc, 78), "exit %d (-1: killed by a signal): %s", rc, err);
	cr_assert(is(strstr(err, "limes agent: ") != NULL), "%s", err);
	cr_assert(is(strstr(err, ep) != NULL && strstr(err, "Address already in use") != NULL), "%s", err);
	cr_assert(is(strstr(err, "Assertion") == NULL), "%s", err);
	free(err);
	cluster_destroy(&c);
}

Test(ops, missing_and_forbidden_folders_are_named_with_their_errno)
{
	struct cluster *c = three();
	struct agentproc *a = cluster_ap(c, A);
	char *err = NULL, path[700];

	/* keygen into a folder whose parent does not exist */
	snprintf(path, sizeof(path), "%s/no-such/keys", c->dir);
	cr_assert(eq(int, run(NULL, &err, false, NULL, "keygen", "--dir", path, NULL), CLI_FAILED));
	cr_assert(is(strncmp(err, "limes keygen: ", 14) == 0 && strstr(err, path) && strstr(err, "no such file")),
		  "%s", err);
	free(err);
	/* a data folder under a missing parent */
	snprintf(path, sizeof(path), "%s/no-such/data", c->dir);
	agentproc_set_data_dir(a, path);
	cr_assert(eq(int, agentproc_write_config(a), 0));
	cr_assert(eq(int, run(NULL, &err, false, NULL, "agent", "-c", agentproc_config(a), NULL), 78));
	cr_assert(is(strstr(err, "limes agent: ") && strstr(err, path) && strstr(err, "No such file or directory")),
		  "%s", err);
	free(err);
	/* a data folder the agent's user may not write: run as nobody, who owns
	 * the agent's files, with the data folder read-only */
	snprintf(path, sizeof(path), "%s/data", agentproc_dir(a));
	agentproc_set_data_dir(a, path);
	cr_assert(eq(int, agentproc_write_config(a), 0));
	cr_assert(eq(int, mkdir(path, 0500), 0));
	char cmd[1600];
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chmod 0711 %s && chown -R %d:%d %s", c->dir, NOBODY, NOBODY,
			 agentproc_dir(a));
		cr_assert(eq(int, system(cmd), 0));
	}
	cr_assert(eq(int, run(NULL, &err, true, NULL, "agent", "-c", agentproc_config(a), NULL), 78), "%s", err);
	cr_assert(is(strstr(err, "limes agent: ") && strstr(err, path) && strstr(err, "Permission denied")), "%s", err);
	cr_assert(is(strstr(err, "input/output") == NULL), "%s", err);
	free(err);
	/* keygen into a folder it may not write: EACCES, named */
	char locked[600];
	snprintf(locked, sizeof(locked), "%s/locked", c->dir);
	cr_assert(eq(int, mkdir(locked, 0500), 0));
	snprintf(path, sizeof(path), "%s/keys", locked);
	cr_assert(eq(int, run(NULL, &err, true, NULL, "keygen", "--dir", path, NULL), CLI_FAILED), "%s", err);
	cr_assert(is(strncmp(err, "limes keygen: ", 14) == 0 && strstr(err, path) && strstr(err, "ermission denied")),
		  "%s", err);
	cr_assert(is(strstr(err, "input/output") == NULL), "%s", err);
	free(err);
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown -R 0:0 %s", agentproc_dir(a));
		cr_assert(eq(int, system(cmd), 0));
	}
	cluster_destroy(&c);
}

Test(ops, command_line_errors_say_which_command_and_exit_with_their_code)
{
	struct cluster *c = three();
	cluster_start(c, A);
	const char *cfg = agentproc_config(cluster_ap(c, A));
	char *out = NULL, *err = NULL;

	/* status: 2 while a link is not up, with the state per peer */
	cr_assert(eq(int, run(&out, &err, false, NULL, "status", "-c", cfg, NULL), CLI_PEERS_DOWN), "%s", err);
	cr_assert(is(strstr(out, B) != NULL), "%s", out);
	free(out);
	free(err);
	cluster_start(c, B);
	cluster_start(c, C);
	cr_assert(is(cluster_wait_up(c, A, B, 10000) && cluster_wait_up(c, A, C, 10000)));
	cr_assert(eq(int, run(&out, &err, false, NULL, "status", "-c", cfg, NULL), CLI_OK), "%s", out);
	free(out);
	free(err);

	/* --to "B, C": two recipients, blanks trimmed */
	char body[600];
	snprintf(body, sizeof(body), "%s/alert.json", c->dir);
	FILE *f = fopen(body, "w");
	fputs(cluster_example("alert"), f);
	fclose(f);
	cr_assert(eq(int, run(&out, &err, false, NULL, "send", "-c", cfg, "--to", B ", " C, "--type", "alert", body, NULL),
		     CLI_OK), "%s", err);
	char id[33];
	snprintf(id, sizeof(id), "%.32s", out);
	free(out);
	free(err);
	cr_assert(eq(int, run(&out, &err, false, NULL, "msg", "-c", cfg, id, NULL), CLI_OK));
	cr_assert(is(strstr(out, "\"" B "\"") && strstr(out, "\"" C "\"")), "%s", out);
	free(out);
	free(err);

	/* a missing body file: named, prefixed, exit 1, nothing sent */
	cr_assert(eq(int, run(&out, &err, false, NULL, "send", "-c", cfg, "--to", B, "--type", "alert", "/nonexistent.json",
			      NULL), CLI_FAILED));
	cr_assert(eq(str, err, "limes send: /nonexistent.json: No such file or directory\n"));
	free(out);
	free(err);

	/* an enum refused with its whole list of names */
	json_t *doc = json_loads(cluster_example("alert"), 0, NULL);
	json_object_set_new(doc, "category", json_string("stolen_bicycle"));
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	cr_assert(eq(int, run(&out, &err, false, text, "send", "-c", cfg, "--to", B, "--type", "alert", "-", NULL),
		     CLI_DATAERR));
	free(text);
	cr_assert(is(strncmp(err, "limes send: 400 bad_enum body.category: expected one of: wanted_for_arrest,", 75) == 0),
		  "%s", err);
	cr_assert(is(strstr(err, "migrant_smuggling_incident, persons_in_distress\n") != NULL), "%s", err);
	free(out);
	free(err);

	/* --help on every subcommand: its usage and its options, exit 0 */
	static const char *const cmds[] = { "keygen", "send", "inbox", "msg", "msgs", "requeue", "status", "backup",
					    "agent", "peer", "audit" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "usage: limes %s", cmds[i]);
		cr_assert(eq(int, run(&out, &err, false, NULL, cmds[i], "--help", NULL), CLI_OK), "%s", cmds[i]);
		cr_assert(is(strncmp(out, want, strlen(want)) == 0), "%s --help: %s", cmds[i], out);
		cr_assert(is(strstr(out, "\n  -") != NULL), "%s --help lists no option: %s", cmds[i], out);
		free(out);
		free(err);
	}
	/* an unknown option: usage on stderr, 64 */
	cr_assert(eq(int, run(&out, &err, false, NULL, "msgs", "--colour", NULL), CLI_USAGE));
	cr_assert(is(strstr(err, "usage: limes msgs") != NULL), "%s", err);
	free(out);
	free(err);
	cluster_destroy(&c);
}
