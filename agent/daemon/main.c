/*
 * limes-agent: the daemon's program (`limes agent` execs it). Runs the agent
 * in the foreground until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "daemon/daemon.h"

static const char usage[] =
	"usage: limes agent -c FILE [--syslog] [--trace-fd N] [--accept-wal-loss]\n"
	"\n"
	"  -c, --config FILE   the agent's config file (see limes.ini(5), docs/operations.md)\n"
	"      --syslog        log to syslog instead of stderr\n"
	"      --trace-fd N    write one line per delivery event to descriptor N (for limes-bench;\n"
	"                      format in docs/operations.md)\n"
	"      --accept-wal-loss  start although the store's WAL is damaged so that commits that\n"
	"                      completed are dropped (docs/operations.md, \"A damaged WAL\")\n";

/* Exit statuses, as in `limes --help`. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 64, EXIT_CONFIG = 78 };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "syslog", no_argument, NULL, 's' },
		{ "trace-fd", required_argument, NULL, 't' },
		{ "accept-wal-loss", no_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_options o = { .config_file = NULL, .trace_fd = -1 };
	bool use_syslog = false;
	int c;

	/* the store-reading half of `limes audit` (the CLI links no SQLite) */
	if (argc > 1 && strcmp(argv[1], "audit-dump") == 0)
		return agent_audit_dump(argc - 1, argv + 1);
	/* the neighbour-asking half of `limes audit verify --ask` (the CLI links no ZeroMQ) */
	if (argc > 1 && strcmp(argv[1], "audit-ask") == 0)
		return agent_audit_ask(argc - 1, argv + 1);

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config_file = optarg; break;
		case 's': use_syslog = true; break;
		case 'w': o.accept_wal_loss = true; break;
		case 't': {
			char *end;
			errno = 0;
			long fd = strtol(optarg, &end, 10);
			if (errno || *end || fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
				fprintf(stderr, "limes agent: --trace-fd: '%s' is not an open descriptor\n", optarg);
				return EXIT_USAGE;
			}
			o.trace_fd = (int)fd;
			break;
		}
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (!o.config_file || optind != argc) {
		fprintf(stderr, "limes agent: %s\n", !o.config_file ? "missing -c FILE" : "unexpected argument");
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	log_init("limes", LOG_LEVEL_INFO, use_syslog);
	char err[1024];
	struct agent *agent = agent_new(&o, err, sizeof(err));
	if (!agent) {
		log_error("event=start_failed reason=\"%s\"", err);
		fprintf(stderr, "limes agent: %s\n", err);
		return EXIT_CONFIG;
	}
	log_info("event=config_loaded file=%s id=%s", o.config_file, agent_id(agent));
	int rc = agent_run(agent);
	agent_destroy(&agent);
	log_info("event=stopped clean=%s", rc == 0 ? "yes" : "no");
	return rc == 0 ? EXIT_OK : EXIT_FAILED;
}
