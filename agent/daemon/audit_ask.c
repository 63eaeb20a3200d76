/*
 * `limes-agent audit-ask -c FILE [--peer ID] [--timeout S]`: asks each direct
 * neighbour (or one) which of this agent's audit checkpoints it keeps
 * countersigned, and prints them as the "kept" JSON lines of docs/audit.md
 * (the same records as the neighbour's `limes audit export --kept OUR-ID`).
 * `limes audit verify --ask` runs it: the CLI links no ZeroMQ. It needs the
 * agent's key, not its store, so it works with the agent stopped or running.
 * Exit status 0 when every neighbour asked answered, 69 (unavailable) when
 * one did not (named on stderr), 64/78 for usage and configuration.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "crypto/audit.h"
#include "crypto/identity.h"
#include "daemon/daemon.h"
#include "link/link.h"
#include "proto/err.h"
#include "proto/wire.h"

enum { ASK_OK = 0, ASK_FAILED = 1, ASK_USAGE = 64, ASK_UNAVAILABLE = 69, ASK_CONFIG = 78 };

struct ask_out {
	const char *my_id;
	const char *peer;
	bool failed;
};

static int print_kept(void *arg, const struct wire_kept_checkpoint *cp)
{
	struct ask_out *o = arg;
	json_t *j = audit_checkpoint_to_json("kept", o->peer, cp->body, cp->body_len, cp->sig, cp->countersig);
	char *text = NULL;

	if (j)
		json_object_set_new(j, "peer", json_string(o->my_id));
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text) {
		o->failed = true;
		return -1;
	}
	puts(text);
	free(text);
	return 0;
}

int agent_audit_ask(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "peer", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *only = NULL;
	char err[CONFIG_ERR_MAX], why[512];
	int c, timeout_s = 5, status = ASK_OK, e = 0;
	size_t asked = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'p': only = optarg; break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 300) {
				fprintf(stderr, "limes audit: --timeout: '%s' is not 1..300 seconds\n", optarg);
				return ASK_USAGE;
			}
			timeout_s = (int)v;
			break;
		}
		default: return ASK_USAGE;
		}
	}
	if (!file || optind != argc) {
		fprintf(stderr, "usage: limes-agent audit-ask -c FILE [--peer ID] [--timeout S]\n");
		return ASK_USAGE;
	}
	struct config *cfg = config_load(file, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "limes audit: %s\n", err);
		return ASK_CONFIG;
	}
	struct identity *me = identity_load(cfg->keys_dir, &e, why, sizeof(why));
	if (!me) {
		fprintf(stderr, "limes audit: %s: %s\n", cfg->keys_dir, why);
		config_destroy(&cfg);
		return ASK_CONFIG;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *p = &cfg->peers[i];
		if (p->via[0] || (only && strcmp(only, p->id) != 0))
			continue;
		struct ask_out o = { cfg->id, p->id, false };
		uint64_t total = 0;
		asked++;
		int rc = link_ask_kept(cfg, me, p->id, timeout_s * 1000, print_kept, &o, &total, why, sizeof(why));
		if (rc < 0 || o.failed) {
			fprintf(stderr, "limes audit: asking %s: %s\n", p->id, o.failed ? "out of memory" : why);
			status = rc == LIMES_E_AGAIN || rc == LIMES_E_IO ? ASK_UNAVAILABLE : ASK_FAILED;
			continue;
		}
		/* how many it holds in all, beside the newest it sent */
		fprintf(stderr, "limes audit: %s keeps %llu checkpoint%s of %s\n", p->id, (unsigned long long)total,
			total == 1 ? "" : "s", cfg->id);
	}
	if (only && asked == 0) {
		fprintf(stderr, "limes audit: --peer: %s is not a direct neighbour in %s\n", only, file);
		status = ASK_USAGE;
	} else if (asked == 0) {
		fprintf(stderr, "limes audit: %s has no direct neighbour to ask\n", file);
		status = ASK_FAILED;
	}
	identity_destroy(&me);
	config_destroy(&cfg);
	if (fflush(stdout) != 0)
		status = ASK_FAILED;
	return status;
}
