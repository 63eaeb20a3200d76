/* `limes send`: submit one message body through the local API; prints its id. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli_int.h"
#include "config/config.h"

static const char usage[] =
	"usage: limes send -c FILE --to ID[,ID...] --type TYPE [--priority urgent|normal] [--ttl DURATION]\n"
	"                  [--ref ID] [--idempotency-key KEY] JSONFILE|-\n"
	"submits the JSON body in JSONFILE (- for stdin) and prints the message id\n"
	"  -c, --config FILE        the agent's config (API address and token)\n"
	"  --to ID[,ID...]          recipients (agency ids; blanks around commas are ignored)\n"
	"  --type TYPE              alert, pre_arrival, control_result, passenger_manifest, ...\n"
	"  --priority P             urgent or normal (default normal)\n"
	"  --ttl DURATION           time to live: 30m, 24h, 7d (default: the agent's default_ttl)\n"
	"  --ref ID                 the message this one answers (32 hex digits)\n"
	"  --idempotency-key KEY    the same key again returns the same id and queues nothing\n";

/* Reads a whole file (or stdin for "-") up to max bytes; *out is malloc'd. */
static int read_input(const char *name, size_t max, char **out, size_t *out_len)
{
	FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;

	if (!f) {
		fprintf(stderr, "limes send: %s: %s\n", name, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *grown = realloc(buf, cap);
			if (!grown)
				goto out;
			buf = grown;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (len > max) {
			fprintf(stderr, "limes send: %s is larger than the agent's max_body (%zu bytes)\n", name, max);
			rc = -2;
			goto out;
		}
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "limes send: %s: %s\n", name, strerror(errno));
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (f != stdin)
		fclose(f);
	return rc;
}

int cli_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "to", required_argument, NULL, 't' },
		{ "type", required_argument, NULL, 'T' },   { "priority", required_argument, NULL, 'p' },
		{ "ttl", required_argument, NULL, 'l' },    { "ref", required_argument, NULL, 'r' },
		{ "idempotency-key", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *to = NULL, *type = NULL, *priority = NULL, *ttl = NULL, *ref = NULL, *key = NULL;
	struct cli_api *api = NULL;
	struct httpc_answer a = { 0 };
	json_t *req = NULL, *body = NULL;
	char *input = NULL, *text = NULL;
	size_t input_len = 0;
	int exit_code = CLI_USAGE, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 't': to = optarg; break;
		case 'T': type = optarg; break;
		case 'p': priority = optarg; break;
		case 'l': ttl = optarg; break;
		case 'r': ref = optarg; break;
		case 'k': key = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (!file || !to || !type || optind != argc - 1) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	uint64_t ttl_ms = 0;
	if (ttl && (config_parse_duration(ttl, &ttl_ms) < 0 || ttl_ms < 1000)) {
		fprintf(stderr, "limes send: --ttl '%s' is not a duration of at least 1s (e.g. 30m, 24h, 7d)\n", ttl);
		return CLI_USAGE;
	}
	api = cli_api_open(file, "send", &exit_code);
	if (!api)
		goto out;
	int rrc = read_input(argv[optind], cli_api_max_body(api), &input, &input_len);
	if (rrc < 0) {
		exit_code = rrc == -2 ? CLI_DATAERR : CLI_FAILED;
		goto out;
	}
	json_error_t jerr;
	body = json_loadb(input, input_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!body) {
		fprintf(stderr, "limes send: %s:%d:%d: not valid JSON: %s\n", argv[optind], jerr.line, jerr.column,
			jerr.text);
		exit_code = CLI_DATAERR;
		goto out;
	}
	json_t *recipients = json_array();
	char *list = strdup(to), *save = NULL;
	for (char *id = list ? strtok_r(list, ",", &save) : NULL; id; id = strtok_r(NULL, ",", &save)) {
		/* "A, B" is two ids: blanks around each are the shell's, not the id's */
		while (*id == ' ' || *id == '\t')
			id++;
		size_t n = strlen(id);
		while (n && (id[n - 1] == ' ' || id[n - 1] == '\t'))
			id[--n] = '\0';
		if (n)
			json_array_append_new(recipients, json_string(id));
	}
	free(list);
	req = json_pack("{s:o, s:s, s:O}", "to", recipients, "type", type, "body", body);
	if (priority)
		json_object_set_new(req, "priority", json_string(priority));
	if (ttl_ms)
		json_object_set_new(req, "ttl_s", json_integer((json_int_t)(ttl_ms / 1000)));
	if (ref)
		json_object_set_new(req, "ref", json_string(ref));
	if (key)
		json_object_set_new(req, "idempotency_key", json_string(key));
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		exit_code = CLI_SOFTWARE;
		goto out;
	}
	exit_code = cli_api_request(api, "POST", "/v1/messages", text, strlen(text), 60, &a);
	if (exit_code != CLI_OK || a.status != 202) {
		exit_code = cli_api_fail("send", &a);
		goto out;
	}
	json_t *doc = json_loads(a.body, 0, NULL);
	const char *id = json_string_value(json_object_get(doc, "id"));
	if (id)
		printf("%s\n", id);
	else
		exit_code = CLI_SOFTWARE;
	json_decref(doc);
out:
	httpc_answer_clear(&a);
	free(text);
	free(input);
	json_decref(req);
	json_decref(body);
	cli_api_destroy(&api);
	return exit_code;
}
