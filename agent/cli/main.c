/*
 * limes: the command line; dispatches to one subcommand (one file each in
 * agent/cli/). `limes agent` and `limes bench` run the programs limes-agent
 * and limes-bench (exec.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
	"usage: limes COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  keygen --dir DIR [--force]      make identity.key (0600) and identity.pub; print the identity line\n"
	"  keygen --next --dir DIR         make the next identity (next.key), announced to the neighbours\n"
	"  keygen --promote --dir DIR [-c FILE]  switch to the next identity (-c: the running agent, now)\n"
	"  peer accept-key -c FILE ID      adopt the next key neighbour ID announced\n"
	"  agent -c FILE                   run the agent in the foreground (SIGTERM/SIGINT stop, SIGHUP reloads)\n"
	"  send -c FILE --to ID[,ID...] --type TYPE [--priority urgent|normal] [--ttl DURATION]\n"
	"       [--ref ID] [--idempotency-key KEY] JSONFILE|-\n"
	"                                  submit a message body; prints the message id\n"
	"  inbox -c FILE [--follow] [--after CURSOR] [--limit N]\n"
	"                                  print received messages as JSON lines\n"
	"  msg -c FILE ID                  delivery state of one message, per recipient\n"
	"  msgs -c FILE [--state S] [--peer ID] [--type T] [--since TIME] [--limit N] [--json]\n"
	"                                  list deliveries by state (queued, sent, delivered, rejected, expired)\n"
	"  requeue -c FILE ID [--to ID] [--ttl DURATION]\n"
	"  requeue -c FILE --state rejected|expired [--peer ID] [--type T] [--yes]\n"
	"                                  put expired or rejected messages back in the queue, re-sealed to\n"
	"                                  the recipient's current key\n"
	"  status -c FILE [--json]         one row per peer: link, RTT, last heard, queue, clock offset;\n"
	"                                  exits 2 when some link is not up\n"
	"  backup -c FILE OUT              a consistent copy of the store, taken by the running agent\n"
	"  audit verify -c FILE [--from SEQ] [--neighbour EXPORT]\n"
	"                                  check the audit trail: chain, signatures, countersignatures\n"
	"  audit export -c FILE [--since T] [--until T] [--msg ID] [--peer ID] [--checkpoints] [--kept PEER]\n"
	"                                  the audit trail as JSON lines (docs/audit.md)\n"
	"  audit show -c FILE ID           the life of one message: submitted, sent, receipt, read by whom\n"
	"  bench [--quick] [--json] ...    run two agents on loopback and measure (limes-bench; see\n"
	"                                  docs/benchmarks.md)\n"
	"\n"
	"exit status:\n"
	"   0  done                          65  agent refused the input (400, 413)\n"
	"   1  operation failed              66  unknown peer or message (404)\n"
	"   2  status: some link not up\n"
	"  64  bad command line              69  agent not reachable\n"
	"  70  internal error                75  agent cannot accept now (503: store or disk)\n"
	"  77  token refused or policy       78  config or key file error\n"
	"      forbids (401, 403)\n";

/* What a command printed must have reached its destination: `limes audit
 * export > trail.jsonl` on a full disk must not exit 0 with half a trail. */
static int flushed(int exit_code)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "limes: cannot write the output: %s\n", strerror(errno ? errno : EIO));
		return exit_code == CLI_OK ? CLI_FAILED : exit_code;
	}
	return exit_code;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} commands[] = {
		{ "keygen", cli_keygen }, { "agent", cli_agent },   { "send", cli_send },
		{ "inbox", cli_inbox },   { "msg", cli_msg },       { "status", cli_status },
		{ "requeue", cli_requeue }, { "bench", cli_bench }, { "msgs", cli_msgs },
		{ "backup", cli_backup }, { "peer", cli_peer }, { "audit", cli_audit },
	};

	if (argc < 2) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return flushed(CLI_OK);
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("limes %s\n", LIMES_VERSION);
		return flushed(CLI_OK);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return flushed(commands[i].run(argc - 1, argv + 1));
	fprintf(stderr, "limes: unknown command '%s' (see limes --help)\n", argv[1]);
	return CLI_USAGE;
}
