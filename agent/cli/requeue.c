/* `limes requeue`: put an expired or rejected message back in the queue (same id). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "config/config.h"

int cli_requeue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "to", required_argument, NULL, 't' },
		{ "ttl", required_argument, NULL, 'l' },    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: limes requeue -c FILE ID [--to ID] [--ttl DURATION]\n";
	const char *file = NULL, *to = NULL, *ttl = NULL;
	struct cli_api *api = NULL;
	struct httpc_answer a = { 0 };
	json_t *req = NULL;
	char *text = NULL;
	int exit_code = CLI_USAGE, c;
	char path[160];

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 't': to = optarg; break;
		case 'l': ttl = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || optind != argc - 1) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (!cli_api_plain_id(argv[optind])) {
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
	req = json_object();
	if (to)
		json_object_set_new(req, "to", json_string(to));
	if (ttl_ms)
		json_object_set_new(req, "ttl_s", json_integer((json_int_t)(ttl_ms / 1000)));
	text = json_dumps(req, JSON_COMPACT);
	snprintf(path, sizeof(path), "/v1/messages/%s/requeue", argv[optind]);
	exit_code = cli_api_request(api, "POST", path, text, text ? strlen(text) : 0, 60, &a);
	if (exit_code != CLI_OK || a.status != 202) {
		exit_code = cli_api_fail("requeue", &a);
		goto out;
	}
	printf("%s\n", argv[optind]);
out:
	free(text);
	json_decref(req);
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}
