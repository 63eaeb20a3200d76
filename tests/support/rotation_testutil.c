/*
 * Helpers of the key rotation integration tests (rotation_testutil.h).
 */
#include "support/rotation_testutil.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "cli/cli.h"
#include "support/agentproc.h"

void rotation_test_peer_option(struct agentproc *ap, const char *peer, const char *line)
{
	static char text[65536], out[65536];
	char head[128];
	FILE *f = fopen(agentproc_config(ap), "r");
	cr_assert(ne(ptr, f, NULL));
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	snprintf(head, sizeof(head), "[peer \"%s\"]\n", peer);
	char *at = strstr(text, head);
	cr_assert(ne(ptr, at, NULL));
	at += strlen(head);
	snprintf(out, sizeof(out), "%.*s%s\n%s", (int)(at - text), text, line, at);
	f = fopen(agentproc_config(ap), "w");
	cr_assert(ne(ptr, f, NULL));
	fputs(out, f);
	fclose(f);
}

json_t *rotation_test_peer_key(struct cluster *c, const char *id, const char *peer)
{
	json_t *doc = NULL, *key = NULL, *p;
	size_t i;
	if (cluster_http(c, id, "GET", "/v1/peers", NULL, &doc) != 200)
		return NULL;
	json_array_foreach(json_object_get(doc, "peers"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), peer) == 0)
			key = json_incref(json_object_get(p, "key"));
	json_decref(doc);
	return key;
}

bool rotation_test_wait_offered(struct cluster *c, const char *id, const char *peer, const char *state, int ms)
{
	for (int waited = 0; waited <= ms; waited += 100) {
		json_t *key = rotation_test_peer_key(c, id, peer);
		const char *s = json_string_value(json_object_get(json_object_get(key, "offered"), "state"));
		bool ok = s && strcmp(s, state) == 0;
		json_decref(key);
		if (ok)
			return true;
		cluster_sleep_ms(100);
	}
	return false;
}

bool rotation_test_wait_in_force(struct cluster *c, const char *id, const char *peer, const char *key_id, int ms)
{
	for (int waited = 0; waited <= ms; waited += 100) {
		json_t *key = rotation_test_peer_key(c, id, peer);
		const char *k = json_string_value(json_object_get(key, "id"));
		const char *src = json_string_value(json_object_get(key, "source"));
		bool ok = k && src && strcmp(k, key_id) == 0 && strcmp(src, "rotation") == 0;
		json_decref(key);
		if (ok)
			return true;
		cluster_sleep_ms(100);
	}
	return false;
}

const char *rotation_test_make_next(struct agentproc *ap)
{
	static char key_id[17];
	char dir[700], *out = NULL;
	snprintf(dir, sizeof(dir), "%s/keys", agentproc_dir(ap));
	cr_assert(eq(int, agentproc_cli(&out, NULL, "keygen", "--next", "--dir", dir, NULL), CLI_OK), "%s", out);
	char *line = strstr(out, "limes1:");
	cr_assert(ne(ptr, line, NULL), "%s", out);
	snprintf(key_id, sizeof(key_id), "%.16s", line + 7);
	free(out);
	return key_id;
}

long rotation_test_metric(struct cluster *c, const char *id, const char *name)
{
	char *text = NULL;
	long v = -1;
	if (agentproc_http(cluster_ap(c, id), "GET", "/metrics", NULL, 0, NULL, &text) == 200 && text) {
		const char *at = strstr(text, name);
		if (at)
			v = strtol(at + strlen(name), NULL, 10);
	}
	free(text);
	return v;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

void rotation_test_check_way(struct cluster *c, const char *from, const char *to, char (*ids)[33], size_t n)
{
	char state[32] = "";
	for (size_t k = 0; k < n; k++) {
		for (int waited = 0; waited < 20000; waited += 100) {
			cluster_state(c, from, ids[k], to, state, sizeof(state), NULL);
			if (strcmp(state, "delivered") == 0)
				break;
			cluster_sleep_ms(100);
		}
		cr_assert(eq(str, state, "delivered"), "message %s from %s to %s is %s", ids[k], from, to, state);
	}
	json_t *inbox = cluster_inbox(c, to);
	cr_assert(eq(sz, json_array_size(inbox), n), "%s's inbox holds %zu messages, %zu were sent", to,
		  json_array_size(inbox), n);
	char (*got)[33] = calloc(n ? n : 1, 33), (*want)[33] = calloc(n ? n : 1, 33);
	size_t i;
	json_t *m;
	json_array_foreach(inbox, i, m) {
		snprintf(got[i], 33, "%s", json_string_value(json_object_get(m, "id")));
		bool readable = json_is_object(json_object_get(m, "body"));
		cr_assert(eq(int, readable, 1), "message %s has no readable body", got[i]);
	}
	memcpy(want, ids, n * 33);
	qsort(got, n, 33, cmp_id);
	qsort(want, n, 33, cmp_id);
	for (size_t k = 0; k < n; k++)
		cr_assert(eq(str, got[k], want[k]));
	free(got);
	free(want);
	json_decref(inbox);
}

struct rotation_stream rotation_stream_start(struct cluster *c, const char *x, const char *y)
{
	int ctl[2], ids[2];
	cr_assert(eq(int, pipe(ctl), 0));
	cr_assert(eq(int, pipe(ids), 0));
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ctl[1]);
		close(ids[0]);
		FILE *outp = fdopen(ids[1], "w");
		struct pollfd pfd = { .fd = ctl[0], .events = POLLIN };
		int failures = 0;
		while (poll(&pfd, 1, 50) == 0) {
			char id[1][33];
			if (cluster_submit(c, x, y, "alert", "normal", 1, id) == 202)
				fprintf(outp, "X %s\n", id[0]);
			else
				failures++;
			if (cluster_submit(c, y, x, "alert", "normal", 1, id) == 202)
				fprintf(outp, "Y %s\n", id[0]);
			else
				failures++;
			fflush(outp);
		}
		fprintf(outp, "F %d\n", failures);
		fclose(outp);
		_exit(0);
	}
	close(ctl[0]);
	close(ids[1]);
	return (struct rotation_stream){ pid, ctl[1], ids[0] };
}

void rotation_stream_stop(struct rotation_stream *s, char (**xy)[33], size_t *n_xy, char (**yx)[33], size_t *n_yx)
{
	char line[64];
	size_t cap = 4096;
	int failures = -1;
	close(s->ctl);
	FILE *in = fdopen(s->ids, "r");
	*xy = calloc(cap, 33);
	*yx = calloc(cap, 33);
	*n_xy = *n_yx = 0;
	while (fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == 'F')
			failures = atoi(line + 2);
		else if (line[0] == 'X' && *n_xy < cap)
			snprintf((*xy)[(*n_xy)++], 33, "%.32s", line + 2);
		else if (line[0] == 'Y' && *n_yx < cap)
			snprintf((*yx)[(*n_yx)++], 33, "%.32s", line + 2);
	}
	fclose(in);
	waitpid(s->pid, NULL, 0);
	cr_assert(eq(int, failures, 0), "the sender's submissions were refused %d times", failures);
}
