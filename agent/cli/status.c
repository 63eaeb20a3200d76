/* `limes status`: one row per peer (link, RTT, last heard, queue, clock offset), or the JSON of GET /v1/peers. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"

static void age(char *buf, size_t len, const json_t *v)
{
	if (!json_is_number(v)) {
		snprintf(buf, len, "-");
		return;
	}
	double s = json_number_value(v);
	if (s < 120)
		snprintf(buf, len, "%.1fs", s);
	else if (s < 7200)
		snprintf(buf, len, "%.1fm", s / 60);
	else
		snprintf(buf, len, "%.1fh", s / 3600);
}

static void millis(char *buf, size_t len, const json_t *v)
{
	if (json_is_number(v))
		snprintf(buf, len, "%.1fms", json_number_value(v));
	else
		snprintf(buf, len, "-");
}

static void key_line(const json_t *p);

static void print_table(const json_t *doc)
{
	const json_t *agent = json_object_get(doc, "agent");
	const json_t *peers = json_object_get(doc, "peers");
	size_t i;
	json_t *p;

	const char *role = json_string_value(json_object_get(agent, "role"));
	const char *node = json_string_value(json_object_get(agent, "node"));
	printf("agent %s  store %s  node %s  role %s\n", json_string_value(json_object_get(agent, "id")),
	       json_is_true(json_object_get(agent, "store_healthy")) ? "ok" : "UNUSABLE", node ? node : "-",
	       role ? role : "-");
	printf("%-24s %-10s %-10s %-12s %8s %-14s %-12s\n", "PEER", "LINK", "RTT", "LAST HEARD", "QUEUED",
	       "OLDEST UNACKED", "CLOCK OFFSET");
	json_array_foreach(peers, i, p) {
		char rtt[32], heard[32], oldest[32], offset[32], queued[32], state[32];
		const json_t *q = json_object_get(p, "queued");
		const char *via = json_string_value(json_object_get(p, "via"));
		millis(rtt, sizeof(rtt), json_object_get(p, "rtt_ms"));
		millis(offset, sizeof(offset), json_object_get(p, "clock_offset_ms"));
		if (json_is_null(json_object_get(p, "last_heard")))
			snprintf(heard, sizeof(heard), "never");
		else {
			char ago[24];
			age(ago, sizeof(ago), json_object_get(p, "last_heard_age_s"));
			snprintf(heard, sizeof(heard), "%s ago", ago);
		}
		age(oldest, sizeof(oldest), json_object_get(p, "oldest_unacked_age_s"));
		if (json_is_integer(q))
			snprintf(queued, sizeof(queued), "%lld", (long long)json_integer_value(q));
		else
			snprintf(queued, sizeof(queued), "(relay)");
		snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(p, "state")));
		const char *reason = json_string_value(json_object_get(p, "reason"));
		/* a relayed peer's row is its own; its relay's link state is said beside "via" */
		const char *via_state = json_string_value(json_object_get(p, "via_state"));
		char via_text[100] = "";
		if (via)
			snprintf(via_text, sizeof(via_text), "  relayed via %s%s%s%s", via, via_state ? " (" : "",
				 via_state ? via_state : "", via_state ? ")" : "");
		printf("%-24s %-10s %-10s %-12s %8s %-14s %-12s%s%s%s\n", json_string_value(json_object_get(p, "id")),
		       state, rtt, heard, queued, oldest, offset, via_text, reason && reason[0] ? "  " : "",
		       reason && reason[0] ? reason : "");
		key_line(p);
	}
}

/* A second line for a peer whose keys changed over the link: which key is in
 * force and where it came from, an offered key waiting for the operator. */
static void key_line(const json_t *p)
{
	const json_t *key = json_object_get(p, "key");
	const json_t *offered = json_object_get(key, "offered");
	const char *source = json_string_value(json_object_get(key, "source"));
	const char *id = json_string_value(json_object_get(key, "id"));

	if (!id)
		return;
	if (source && strcmp(source, "rotation") == 0)
		printf("  key %s in force, adopted over the link (the configured key is replaced)\n", id);
	if (json_is_object(offered)) {
		const char *state = json_string_value(json_object_get(offered, "state"));
		const char *next = json_string_value(json_object_get(offered, "id"));
		if (state && strcmp(state, "offered") == 0)
			printf("  next key %s OFFERED: limes peer accept-key -c FILE %s to adopt it\n", next ? next : "?",
			       json_string_value(json_object_get(p, "id")));
		else
			printf("  next key %s adopted (in force once the peer switches to it)\n", next ? next : "?");
	}
}

int cli_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: limes status -c FILE [--json]\n"
		"one row per peer: link state (down, connecting, up, degraded) and why, RTT, last heard,\n"
		"queued messages, oldest unacknowledged, clock offset ('-': not measured or stale)\n"
		"  -c, --config FILE   the agent's config (API address and token)\n"
		"  --json              print the GET /v1/peers document instead\n"
		"exit status: 0 every direct link up, 2 some link down, connecting or degraded,\n"
		"69 agent not reachable, 77 token refused, 78 config error\n";
	const char *file = NULL;
	bool as_json = false;
	struct cli_api *api = NULL;
	struct httpc_answer a = { 0 };
	int exit_code, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'j': as_json = true; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || optind != argc) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	api = cli_api_open(file, "status", &exit_code);
	if (!api)
		return exit_code;
	exit_code = cli_api_request(api, "GET", "/v1/peers", NULL, 0, 30, &a);
	if (exit_code != CLI_OK || a.status != 200) {
		exit_code = cli_api_fail("status", &a);
		goto out;
	}
	json_t *doc = json_loads(a.body, 0, NULL);
	if (!doc) {
		exit_code = CLI_SOFTWARE;
		goto out;
	}
	/* scripts and monitoring read the exit status: every link up, or not */
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(doc, "peers"), i, p) {
		const char *state = json_string_value(json_object_get(p, "state"));
		if (!json_is_string(json_object_get(p, "via")) && (!state || strcmp(state, "up") != 0))
			exit_code = CLI_PEERS_DOWN;
	}
	if (as_json) {
		char *text = json_dumps(doc, JSON_INDENT(2));
		if (text)
			printf("%s\n", text);
		free(text);
	} else {
		print_table(doc);
	}
	json_decref(doc);
out:
	httpc_answer_clear(&a);
	cli_api_destroy(&api);
	return exit_code;
}
