/* `limes peer accept-key -c FILE ID`: adopt the next key neighbour ID announced. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"

int cli_peer(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: limes peer accept-key -c FILE ID\n"
		"adopts the next key neighbour ID announced over the link (shown as offered in\n"
		"limes status); it is in force once ID switches to it (docs/operations.md)\n"
		"  -c, --config FILE   the agent's config (API address and token)\n";
	const char *file = NULL;
	int exit_code, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || optind != argc - 2 || strcmp(argv[optind], "accept-key") != 0) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	const char *peer = argv[optind + 1];
	char path[160];
	/* an id that cannot be one is refused here, never put in a URL */
	for (const char *s = peer; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_' || *s == '.')) {
			fprintf(stderr, "limes peer: '%s' is not an agency id\n", peer);
			return CLI_USAGE;
		}
	if (!*peer || snprintf(path, sizeof(path), "/v1/peers/%s/accept-key", peer) >= (int)sizeof(path)) {
		fprintf(stderr, "limes peer: '%s' is not an agency id\n", peer);
		return CLI_USAGE;
	}
	struct cli_api *api = cli_api_open(file, "peer", &exit_code);
	if (!api)
		return exit_code;
	struct httpc_answer a = { 0 };
	exit_code = cli_api_request(api, "POST", path, "{}", 2, 30, &a);
	if (exit_code == CLI_OK && a.status == 200)
		fprintf(stderr, "limes peer: adopted the key %s offered; it is in force once %s switches to it\n", peer,
			peer);
	else
		exit_code = cli_api_fail("peer", &a);
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}
