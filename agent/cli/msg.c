/* `limes msg`: one message's delivery state, per recipient. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli_int.h"

int cli_msg(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: limes msg -c FILE ID\n"
		"prints the delivery state of message ID per recipient (queued, sent, delivered, rejected\n"
		"with its reason, expired) as JSON\n"
		"  -c, --config FILE   the agent's config (API address and token)\n";
	const char *file = NULL;
	struct cli_api *api = NULL;
	struct httpc_answer a = { 0 };
	int exit_code, c;
	char path[128];

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || optind != argc - 1) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (!cli_api_plain_id(argv[optind])) {
		fprintf(stderr, "limes msg: '%s' is not a message id (32 hex digits)\n", argv[optind]);
		return CLI_USAGE;
	}
	api = cli_api_open(file, "msg", &exit_code);
	if (!api)
		return exit_code;
	snprintf(path, sizeof(path), "/v1/messages/%s", argv[optind]);
	exit_code = cli_api_request(api, "GET", path, NULL, 0, 30, &a);
	if (exit_code != CLI_OK || a.status != 200) {
		exit_code = cli_api_fail("msg", &a);
		goto out;
	}
	json_t *doc = json_loads(a.body, 0, NULL);
	char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	if (text)
		printf("%s\n", text);
	else
		exit_code = CLI_SOFTWARE;
	free(text);
	json_decref(doc);
out:
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}
