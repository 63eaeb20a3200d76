/* `limes keygen --dir DIR [--force]`: make this agent's identity;
 * `--next`: make the next one beside it; `--promote`: switch to it. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "proto/err.h"
#include "crypto/identity.h"

static const char usage[] =
	"usage: limes keygen --dir DIR [--force]\n"
	"       limes keygen --next --dir DIR\n"
	"       limes keygen --promote --dir DIR [-c FILE]\n"
	"makes DIR/identity.key (mode 0600) and DIR/identity.pub and prints the public\n"
	"identity line a neighbour pastes as `key = ...` in its [peer] section\n"
	"  --dir DIR          the key folder (created 0700; its parent must exist)\n"
	"  --force            replace an existing identity.key\n"
	"  --next             make the next identity, DIR/next.key and DIR/next.pub; the agent\n"
	"                     announces it to its neighbours (restart it, or it is read at start)\n"
	"  --promote          switch to the next identity: identity.* becomes previous.* (valid for\n"
	"                     receiving for [link] key_overlap), next.* becomes identity.*\n"
	"  -c, --config FILE  with --promote: ask the running agent to switch now (no restart)\n";

static int fail_make(const char *dir, const char *stem, int rc)
{
	if (rc == LIMES_E_EXISTS) {
		if (strcmp(stem, IDENTITY_NEXT) == 0)
			fprintf(stderr, "limes keygen: %s/next.key already exists: promote it first "
					"(limes keygen --promote --dir %s) or remove it\n", dir, dir);
		else
			fprintf(stderr, "limes keygen: %s/identity.key already exists; use --force to replace it\n", dir);
	} else if (rc == LIMES_E_NOENT) {
		fprintf(stderr, "limes keygen: %s: no such file or folder (its parent folder must exist)\n", dir);
	} else {
		fprintf(stderr, "limes keygen: %s: %s\n", dir, limes_strerror(rc));
	}
	return CLI_FAILED;
}

static int make_next(const char *dir)
{
	char line[256];
	if (!identity_file_exists(dir, IDENTITY_CURRENT)) {
		fprintf(stderr, "limes keygen: %s/identity.key does not exist: a next key needs a current one "
				"(limes keygen --dir %s)\n", dir, dir);
		return CLI_FAILED;
	}
	int rc = identity_generate_as(dir, IDENTITY_NEXT, false, line, sizeof(line));
	if (rc < 0)
		return fail_make(dir, IDENTITY_NEXT, rc);
	fprintf(stderr, "wrote %s/next.key (mode 0600) and %s/next.pub; the agent announces it to its direct\n"
			"neighbours at its next start (signed by the current key); then switch with\n"
			"limes keygen --promote --dir %s [-c FILE]. The next identity line:\n", dir, dir, dir);
	printf("%s\n", line);
	return CLI_OK;
}

static int promote_local(const char *dir)
{
	int rc = identity_promote(dir);
	if (rc == LIMES_E_NOTFOUND) {
		fprintf(stderr, "limes keygen: %s/next.key does not exist: make one with limes keygen --next --dir %s\n",
			dir, dir);
		return CLI_FAILED;
	}
	if (rc < 0) {
		fprintf(stderr, "limes keygen: %s: cannot switch the key files: %s\n", dir, limes_strerror(rc));
		return CLI_FAILED;
	}
	fprintf(stderr, "limes keygen: %s/identity.key is now the former next key; the replaced one is\n"
			"%s/previous.key. A stopped agent switches at its next start; a running one at its\n"
			"restart (or use -c FILE to switch a running agent without restart)\n", dir, dir);
	return CLI_OK;
}

static int promote_running(const char *file)
{
	int exit_code;
	struct cli_api *api = cli_api_open(file, "keygen", &exit_code);
	if (!api)
		return exit_code;
	struct httpc_answer a = { 0 };
	exit_code = cli_api_request(api, "POST", "/v1/keys/promote", "{}", 2, 30, &a);
	if (exit_code == CLI_OK && a.status == 200)
		printf("%.*s\n", (int)a.len, a.body);
	else
		exit_code = cli_api_fail("keygen", &a);
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}

int cli_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "next", no_argument, NULL, 'n' },
		{ "promote", no_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *file = NULL;
	bool force = false, next = false, promote = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:fc:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': force = true; break;
		case 'n': next = true; break;
		case 'p': promote = true; break;
		case 'c': file = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if ((!dir && !(promote && file)) || optind != argc || (next && promote) || (force && (next || promote)) ||
	    (file && !promote)) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (next)
		return make_next(dir);
	if (promote)
		return file ? promote_running(file) : promote_local(dir);
	char line[256];
	int rc = identity_generate(dir, force, line, sizeof(line));
	if (rc < 0)
		return fail_make(dir, IDENTITY_CURRENT, rc);
	fprintf(stderr, "wrote %s/identity.key (mode 0600) and %s/identity.pub\n"
			"give this line to each neighbour, as `key = ...` in its [peer] section:\n", dir, dir);
	printf("%s\n", line);
	return CLI_OK;
}
