/* `limes backup -c FILE OUT`: the running agent writes a consistent copy of its store to OUT. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_int.h"

int cli_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: limes backup -c FILE OUT\n"
		"the running agent copies its store to OUT with SQLite's online backup (consistent, while\n"
		"messages flow); OUT must not exist. Restore: docs/operations.md\n"
		"  -c, --config FILE   the agent's config (API address and token)\n";
	const char *file = NULL;
	char abs[PATH_MAX], cwd[PATH_MAX];
	int exit_code, c;

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
	const char *out = argv[optind];
	/* the agent writes the file: it needs the path from the root */
	if (out[0] == '/') {
		snprintf(abs, sizeof(abs), "%s", out);
	} else if (!getcwd(cwd, sizeof(cwd)) || (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, out) >= sizeof(abs)) {
		fprintf(stderr, "limes backup: %s: cannot make the path absolute: %s\n", out, strerror(errno));
		return CLI_USAGE;
	}
	struct cli_api *api = cli_api_open(file, "backup", &exit_code);
	if (!api)
		return exit_code;
	json_t *req = json_pack("{s:s}", "path", abs);
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	struct httpc_answer a = { 0 };
	exit_code = text ? cli_api_request(api, "POST", "/v1/backup", text, strlen(text), 600, &a) : CLI_SOFTWARE;
	if (exit_code == CLI_OK && a.status == 200)
		fprintf(stderr, "limes backup: wrote %s\n", abs);
	else if (text)
		exit_code = cli_api_fail("backup", &a);
	free(text);
	json_decref(req);
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}
