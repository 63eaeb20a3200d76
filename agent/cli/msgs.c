/* `limes msgs`: deliveries by state, peer, type and age, over GET /v1/messages (all pages). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"

/* Appends "&name=value" percent-encoded to buf. */
static void add_param(char *buf, size_t len, const char *name, const char *value)
{
	size_t used = strlen(buf);
	if (!value)
		return;
	used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s=", strchr(buf, '?') ? "&" : "?",
				  name);
	for (const unsigned char *p = (const unsigned char *)value; *p && used + 4 < len; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			buf[used++] = (char)*p;
		else
			used += (size_t)snprintf(buf + used, len - used, "%%%02X", *p);
	}
	buf[used < len ? used : len - 1] = '\0';
}

int cli_msgs_fetch(struct cli_api *api, const char *cmd, const struct cli_msgs_query *q, size_t max,
		   int (*fn)(void *arg, json_t *row), void *arg)
{
	char after[32] = "";
	size_t seen = 0;

	for (;;) {
		char path[1024] = "/v1/messages";
		char limit[16];
		size_t want = max && max - seen < 1000 ? max - seen : 1000;
		snprintf(limit, sizeof(limit), "%zu", want);
		add_param(path, sizeof(path), "state", q->state);
		add_param(path, sizeof(path), "peer", q->peer);
		add_param(path, sizeof(path), "type", q->type);
		add_param(path, sizeof(path), "since", q->since);
		add_param(path, sizeof(path), "after", after[0] ? after : NULL);
		add_param(path, sizeof(path), "limit", limit);
		struct httpc_answer a = { 0 };
		int rc = cli_api_request(api, "GET", path, NULL, 0, 60, &a);
		if (rc != CLI_OK || a.status != 200) {
			rc = cli_api_fail(cmd, &a);
			httpc_answer_clear(&a);
			return rc;
		}
		json_t *doc = json_loads(a.body, 0, NULL);
		httpc_answer_clear(&a);
		json_t *list = json_object_get(doc, "messages");
		if (!json_is_array(list)) {
			fprintf(stderr, "limes %s: the agent's answer has no message list\n", cmd);
			json_decref(doc);
			return CLI_SOFTWARE;
		}
		size_t i;
		json_t *row;
		json_array_foreach(list, i, row) {
			seen++;
			if ((rc = fn(arg, row)) != CLI_OK) {
				json_decref(doc);
				return rc;
			}
		}
		const char *next = json_string_value(json_object_get(doc, "next"));
		snprintf(after, sizeof(after), "%s", next ? next : "");
		json_decref(doc);
		if (!after[0] || (max && seen >= max))
			return CLI_OK;
	}
}

static int print_row(void *arg, json_t *row)
{
	bool as_json = *(bool *)arg;
	if (as_json) {
		char *text = json_dumps(row, JSON_COMPACT);
		if (!text)
			return CLI_SOFTWARE;
		printf("%s\n", text);
		free(text);
		return CLI_OK;
	}
	const char *reason = json_string_value(json_object_get(row, "reason"));
	printf("%-32s %-24s %-18s %-9s %-24s %8lld %s\n", json_string_value(json_object_get(row, "id")),
	       json_string_value(json_object_get(row, "to")), json_string_value(json_object_get(row, "type")),
	       json_string_value(json_object_get(row, "state")), json_string_value(json_object_get(row, "created")),
	       (long long)json_integer_value(json_object_get(row, "attempts")), reason ? reason : "");
	return CLI_OK;
}

int cli_msgs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "state", required_argument, NULL, 's' },
		{ "peer", required_argument, NULL, 'p' },   { "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 'S' },  { "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },         { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: limes msgs -c FILE [--state S] [--peer ID] [--type T] [--since TIME] [--limit N] [--json]\n"
		"lists deliveries (one line per message and recipient), oldest first\n"
		"  -c, --config FILE   the agent's config (API address and token)\n"
		"  --state S           queued, sent, delivered, rejected or expired\n"
		"  --peer ID           final recipient\n"
		"  --type T            message type (alert, pre_arrival, ...)\n"
		"  --since TIME        created at or after TIME (2026-12-01T10:00:00Z)\n"
		"  --limit N           at most N lines (default: all)\n"
		"  --json              JSON lines, as GET /v1/messages gives them\n";
	struct cli_msgs_query q = { 0 };
	const char *file = NULL;
	bool as_json = false;
	size_t max = 0;
	int exit_code, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 's': q.state = optarg; break;
		case 'p': q.peer = optarg; break;
		case 't': q.type = optarg; break;
		case 'S': q.since = optarg; break;
		case 'l': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || optarg[0] == '-') {
				fprintf(stderr, "limes msgs: --limit '%s' is not a positive number\n", optarg);
				return CLI_USAGE;
			}
			max = v;
			break;
		}
		case 'j': as_json = true; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || optind != argc) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	struct cli_api *api = cli_api_open(file, "msgs", &exit_code);
	if (!api)
		return exit_code;
	if (!as_json)
		printf("%-32s %-24s %-18s %-9s %-24s %8s %s\n", "ID", "TO", "TYPE", "STATE", "CREATED", "ATTEMPTS",
		       "REASON");
	exit_code = cli_msgs_fetch(api, "msgs", &q, max, print_row, &as_json);
	cli_api_destroy(&api);
	return exit_code;
}
