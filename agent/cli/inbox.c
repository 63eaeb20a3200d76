/* `limes inbox`: received messages as JSON lines; --follow long-polls and resumes from the cursor. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"

#define FOLLOW_WAIT_S 30

static const char usage[] =
	"usage: limes inbox -c FILE [--follow] [--after CURSOR] [--limit N]\n"
	"prints received messages as JSON lines, oldest first\n"
	"  -c, --config FILE   the agent's config (API address and token)\n"
	"  --follow            keep waiting for new messages (survives agent restarts)\n"
	"  --after CURSOR      start after this cursor (the \"cursor\" of an earlier line)\n"
	"  --limit N           messages per request (1..1000)\n";

static bool digits(const char *s)
{
	return s[0] && strspn(s, "0123456789") == strlen(s) && strlen(s) < 19;
}

int cli_inbox(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "follow", no_argument, NULL, 'f' },
		{ "after", required_argument, NULL, 'a' },  { "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *after = "0", *limit = "100";
	bool follow = false;
	struct cli_api *api = NULL;
	int exit_code, c;
	bool said_unreachable = false;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'f': follow = true; break;
		case 'a': after = optarg; break;
		case 'n': limit = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || optind != argc || !digits(after) || !digits(limit)) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	api = cli_api_open(file, "inbox", &exit_code);
	if (!api)
		return exit_code;
	long long cursor = strtoll(after, NULL, 10);
	for (;;) {
		struct httpc_answer a;
		char path[128];
		snprintf(path, sizeof(path), "/v1/inbox?after=%lld&limit=%s&wait=%d", cursor, limit,
			 follow ? FOLLOW_WAIT_S : 0);
		exit_code = cli_api_request(api, "GET", path, NULL, 0, FOLLOW_WAIT_S + 30, &a);
		if (exit_code == CLI_UNAVAILABLE && follow) {
			/* the agent restarts: keep the cursor, try again */
			if (!said_unreachable)
				fprintf(stderr, "limes inbox: the agent is not reachable (%s); retrying\n", a.error);
			said_unreachable = true;
			httpc_answer_clear(&a);
			sleep(1);
			continue;
		}
		if (exit_code != CLI_OK || a.status != 200) {
			exit_code = cli_api_fail("inbox", &a);
			httpc_answer_clear(&a);
			break;
		}
		said_unreachable = false;
		json_t *doc = json_loads(a.body, 0, NULL);
		json_t *messages = json_object_get(doc, "messages");
		json_t *next = json_object_get(doc, "next");
		httpc_answer_clear(&a);
		if (!json_is_array(messages) || !json_is_integer(next)) {
			fprintf(stderr, "limes inbox: the agent's answer is not an inbox page\n");
			json_decref(doc);
			exit_code = CLI_SOFTWARE;
			break;
		}
		size_t i;
		json_t *m;
		json_array_foreach(messages, i, m) {
			char *line = json_dumps(m, JSON_COMPACT);
			if (line)
				printf("%s\n", line);
			free(line);
		}
		fflush(stdout);
		size_t n = json_array_size(messages);
		cursor = (long long)json_integer_value(next);
		json_decref(doc);
		if (n == 0 && !follow) {
			exit_code = CLI_OK;
			break;
		}
	}
	cli_api_destroy(&api);
	return exit_code;
}
