/* `limes keygen --dir DIR [--force]`: make this agent's identity. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "proto/err.h"
#include "crypto/identity.h"

int cli_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	bool force = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': force = true; break;
		case 'h':
			printf("usage: limes keygen --dir DIR [--force]\n"
			       "makes DIR/identity.key (mode 0600) and DIR/identity.pub and prints the public\n"
			       "identity line a neighbour pastes as `key = ...` in its [peer] section\n"
			       "  --dir DIR   the key folder (created 0700; its parent must exist)\n"
			       "  --force     replace an existing identity.key\n");
			return CLI_OK;
		default:
			fprintf(stderr, "limes keygen: usage: limes keygen --dir DIR [--force]\n");
			return CLI_USAGE;
		}
	}
	if (!dir || optind != argc) {
		fprintf(stderr, "limes keygen: usage: limes keygen --dir DIR [--force]\n");
		return CLI_USAGE;
	}
	char line[256];
	int rc = identity_generate(dir, force, line, sizeof(line));
	if (rc == LIMES_E_EXISTS) {
		fprintf(stderr, "limes keygen: %s/identity.key already exists; use --force to replace it\n", dir);
		return CLI_FAILED;
	}
	if (rc == LIMES_E_NOENT) {
		fprintf(stderr, "limes keygen: %s: no such file or folder (its parent folder must exist)\n", dir);
		return CLI_FAILED;
	}
	if (rc < 0) {
		fprintf(stderr, "limes keygen: %s: %s\n", dir, limes_strerror(rc));
		return CLI_FAILED;
	}
	fprintf(stderr, "wrote %s/identity.key (mode 0600) and %s/identity.pub\n"
			"give this line to each neighbour, as `key = ...` in its [peer] section:\n", dir, dir);
	printf("%s\n", line);
	return CLI_OK;
}
