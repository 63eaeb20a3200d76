/* `limes agent -c FILE`: run the agent in the foreground. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/log.h"

int cli_agent(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "syslog", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool use_syslog = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:sh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 's': use_syslog = true; break;
		case 'h':
			printf("usage: limes agent -c FILE [--syslog]\n");
			return CLI_OK;
		default: return CLI_USAGE;
		}
	}
	if (!file || optind != argc) {
		fprintf(stderr, "limes agent: usage: limes agent -c FILE [--syslog]\n");
		return CLI_USAGE;
	}
	log_init("limes", LOG_LEVEL_INFO, use_syslog);
	char err[1024];
	struct agent *agent = agent_new(file, err, sizeof(err));
	if (!agent) {
		log_error("event=start_failed reason=\"%s\"", err);
		fprintf(stderr, "limes agent: %s\n", err);
		return CLI_CONFIG;
	}
	log_info("event=config_loaded file=%s id=%s peers=%zu", file, agent->cfg->id, agent->cfg->n_peers);
	int rc = agent_run(agent);
	agent_destroy(&agent);
	log_info("event=stopped clean=%s", rc == 0 ? "yes" : "no");
	return rc == 0 ? CLI_OK : CLI_FAILED;
}
