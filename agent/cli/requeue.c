/* `limes requeue`: put expired or rejected messages back in the queue (same id), one by id or all of a state;
 * or send again what was delivered to a neighbour since it restored an older copy of its store. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "config/config.h"

/* The deliveries a --state request found, to re-queue one by one. */
struct found {
	char (*id)[33];
	char (*to)[65];
	size_t n, cap;
};

static int collect(void *arg, json_t *row)
{
	struct found *f = arg;
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *to = json_string_value(json_object_get(row, "to"));
	if (!id || !to || strlen(id) != 32 || strlen(to) > 64)
		return CLI_SOFTWARE;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		void *a = realloc(f->id, cap * sizeof(*f->id)), *b = a ? realloc(f->to, cap * sizeof(*f->to)) : NULL;
		if (a)
			f->id = a;
		if (!b)
			return CLI_SOFTWARE;
		f->to = b;
		f->cap = cap;
	}
	memcpy(f->id[f->n], id, 33);
	snprintf(f->to[f->n], sizeof(f->to[f->n]), "%s", to);
	f->n++;
	return CLI_OK;
}

/* POST /v1/messages/ID/requeue {"to", "ttl_s"}; prints the id on success. */
static int requeue_one(struct cli_api *api, const char *id, const char *to, uint64_t ttl_ms, bool show_to)
{
	struct httpc_answer a = { 0 };
	json_t *req = json_object();
	char path[160];
	if (to)
		json_object_set_new(req, "to", json_string(to));
	if (ttl_ms)
		json_object_set_new(req, "ttl_s", json_integer((json_int_t)(ttl_ms / 1000)));
	char *text = json_dumps(req, JSON_COMPACT);
	snprintf(path, sizeof(path), "/v1/messages/%s/requeue", id);
	int exit_code = cli_api_request(api, "POST", path, text, text ? strlen(text) : 0, 60, &a);
	if (exit_code != CLI_OK || a.status != 202)
		exit_code = cli_api_fail("requeue", &a);
	else
		printf("%s%s%s\n", id, show_to ? " " : "", show_to ? to : "");
	free(text);
	json_decref(req);
	httpc_answer_clear(&a);
	return exit_code;
}

/* --state: list, confirm when more than one, re-queue each. */
static int requeue_by_state(struct cli_api *api, const struct cli_msgs_query *q, uint64_t ttl_ms, bool yes)
{
	struct found f = { 0 };
	int exit_code = cli_msgs_fetch(api, "requeue", q, 0, collect, &f);
	if (exit_code != CLI_OK)
		goto out;
	if (f.n == 0) {
		fprintf(stderr, "limes requeue: no %s deliveries%s%s\n", q->state, q->peer ? " to " : "",
			q->peer ? q->peer : "");
		exit_code = CLI_NOTFOUND;
		goto out;
	}
	/* many messages sent again at once is not to be done by a typo */
	if (f.n > 1 && !yes) {
		char answer[16] = "";
		fprintf(stderr, "limes requeue: re-queue %zu %s deliveries%s%s? [y/N] ", f.n, q->state,
			q->peer ? " to " : "", q->peer ? q->peer : "");
		if (!fgets(answer, sizeof(answer), stdin) || (strcmp(answer, "y\n") != 0 && strcmp(answer, "yes\n") != 0)) {
			fprintf(stderr, "limes requeue: not confirmed; nothing re-queued (--yes confirms)\n");
			exit_code = CLI_FAILED;
			goto out;
		}
	}
	for (size_t i = 0; i < f.n && exit_code == CLI_OK; i++)
		exit_code = requeue_one(api, f.id[i], f.to[i], ttl_ms, true);
out:
	free(f.id);
	free(f.to);
	return exit_code;
}

/* POST /v1/peers/PEER/resend {"since", "until", "dry_run"}; *count, *more
 * and (when until is "") *until from the answer. A 429 (one resend per peer
 * a second) is waited out and asked again. */
static int resend_call(struct cli_api *api, const char *peer, const char *since, char *until, size_t until_size,
		       bool dry_run, long long *count, bool *more)
{
	struct httpc_answer a = { 0 };
	char path[160];
	json_t *req = json_pack("{s:s, s:b}", "since", since, "dry_run", dry_run);
	char *text = NULL;
	int exit_code = CLI_SOFTWARE;

	if (req && until[0] && json_object_set_new(req, "until", json_string(until)) < 0) {
		json_decref(req);
		req = NULL;
	}
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	snprintf(path, sizeof(path), "/v1/peers/%s/resend", peer);
	for (int tries = 0; text && tries < 30; tries++) {
		httpc_answer_clear(&a);
		exit_code = cli_api_request(api, "POST", path, text, strlen(text), 60, &a);
		if (exit_code != CLI_OK || a.status != 429)
			break;
		usleep(500 * 1000);
	}
	if (exit_code != CLI_OK || (a.status != 200 && a.status != 202)) {
		exit_code = cli_api_fail("requeue", &a);
	} else {
		json_t *doc = json_loadb(a.body ? a.body : "", a.len, 0, NULL);
		json_t *c = json_object_get(doc, "count");
		json_t *u = json_object_get(doc, "until_ms");
		if (!json_is_integer(c) || !json_is_integer(u)) {
			fprintf(stderr, "limes requeue: the agent's answer has no count or until_ms\n");
			exit_code = CLI_SOFTWARE;
		} else {
			*count = json_integer_value(c);
			*more = json_is_true(json_object_get(doc, "more"));
			if (!until[0])
				snprintf(until, until_size, "%lld", (long long)json_integer_value(u));
		}
		json_decref(doc);
	}
	free(text);
	json_decref(req);
	httpc_answer_clear(&a);
	return exit_code;
}

/* --state delivered: how many, confirm when more than one, then batch by
 * batch, every batch bounded by the time of the first question (what one
 * batch sent again is delivered anew: it must not fill the next). */
static int requeue_delivered(struct cli_api *api, const char *peer, const char *since, bool yes)
{
	long long count = 0, total = 0;
	bool more = false;
	char until[32] = "";
	int exit_code = resend_call(api, peer, since, until, sizeof(until), true, &count, &more);
	if (exit_code != CLI_OK)
		return exit_code;
	if (count == 0) {
		fprintf(stderr, "limes requeue: no deliveries to %s delivered since %s\n", peer, since);
		return CLI_NOTFOUND;
	}
	/* many messages sent again at once is not to be done by a typo */
	if ((count > 1 || more) && !yes) {
		char answer[16] = "";
		fprintf(stderr, "limes requeue: send again %lld%s messages delivered to %s since %s? [y/N] ", count,
			more ? " or more" : "", peer, since);
		if (!fgets(answer, sizeof(answer), stdin) || (strcmp(answer, "y\n") != 0 && strcmp(answer, "yes\n") != 0)) {
			fprintf(stderr, "limes requeue: not confirmed; nothing re-queued (--yes confirms)\n");
			return CLI_FAILED;
		}
	}
	do {
		exit_code = resend_call(api, peer, since, until, sizeof(until), false, &count, &more);
		total += count;
	} while (exit_code == CLI_OK && more && count > 0);
	if (exit_code == CLI_OK)
		printf("%lld messages delivered to %s since %s queued again\n", total, peer, since);
	return exit_code;
}

int cli_requeue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "to", required_argument, NULL, 't' },
		{ "ttl", required_argument, NULL, 'l' },    { "state", required_argument, NULL, 's' },
		{ "peer", required_argument, NULL, 'p' },   { "type", required_argument, NULL, 'T' },
		{ "yes", no_argument, NULL, 'y' },          { "help", no_argument, NULL, 'h' },
		{ "since", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: limes requeue -c FILE ID [--to ID] [--ttl DURATION]\n"
		"       limes requeue -c FILE --state rejected|expired [--peer ID] [--type T] [--ttl DURATION] [--yes]\n"
		"       limes requeue -c FILE --state delivered --peer ID --since TIME [--yes]\n"
		"sends expired or rejected messages again under the same id, re-sealed to the recipient's\n"
		"current key; with --state delivered, what was delivered to (or relayed through) neighbour ID\n"
		"since TIME, after it restored an older copy of its store (it answers what it holds as\n"
		"duplicates)\n"
		"  -c, --config FILE   the agent's config (API address and token)\n"
		"  --to ID             only this recipient of message ID\n"
		"  --ttl DURATION      new time to live (default: the agent's default_ttl)\n"
		"  --state S           every delivery in state S (rejected, expired or delivered)\n"
		"  --since TIME        with --state delivered: delivered at or after TIME (2026-12-01T10:00:00Z,\n"
		"                      the time of the neighbour's copy)\n"
		"  --peer ID, --type T with --state: only to that recipient / of that type\n"
		"  --yes               do not ask before re-queueing more than one\n";
	const char *file = NULL, *to = NULL, *ttl = NULL, *since = NULL;
	struct cli_msgs_query q = { 0 };
	bool yes = false;
	struct cli_api *api = NULL;
	int exit_code = CLI_USAGE, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:hy", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 't': to = optarg; break;
		case 'l': ttl = optarg; break;
		case 's': q.state = optarg; break;
		case 'p': q.peer = optarg; break;
		case 'T': q.type = optarg; break;
		case 'y': yes = true; break;
		case 'S': since = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	bool by_state = q.state != NULL;
	if (!file || optind != argc - (by_state ? 0 : 1) || (by_state && to) || (!by_state && (q.peer || q.type))) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	bool delivered = by_state && strcmp(q.state, "delivered") == 0;
	if (by_state && !delivered && strcmp(q.state, "rejected") != 0 && strcmp(q.state, "expired") != 0) {
		fprintf(stderr, "limes requeue: --state '%s': only rejected, expired or delivered deliveries can be "
			"re-queued\n", q.state);
		return CLI_USAGE;
	}
	if (delivered && (!q.peer || !since || q.type || ttl)) {
		fprintf(stderr, "limes requeue: --state delivered takes --peer ID and --since TIME (and no --type or "
			"--ttl)\n");
		return CLI_USAGE;
	}
	if (since && !delivered) {
		fprintf(stderr, "limes requeue: --since goes with --state delivered only\n");
		return CLI_USAGE;
	}
	if (!by_state && !cli_api_plain_id(argv[optind])) {
		fprintf(stderr, "limes requeue: '%s' is not a message id (32 hex digits)\n", argv[optind]);
		return CLI_USAGE;
	}
	uint64_t ttl_ms = 0;
	if (ttl && (config_parse_duration(ttl, &ttl_ms) < 0 || ttl_ms < 1000)) {
		fprintf(stderr, "limes requeue: --ttl '%s' is not a duration of at least 1s\n", ttl);
		return CLI_USAGE;
	}
	api = cli_api_open(file, "requeue", &exit_code);
	if (!api)
		return exit_code;
	if (delivered)
		exit_code = requeue_delivered(api, q.peer, since, yes);
	else
		exit_code = by_state ? requeue_by_state(api, &q, ttl_ms, yes)
				     : requeue_one(api, argv[optind], to, ttl_ms, false);
	cli_api_destroy(&api);
	return exit_code;
}
