/*
 * The `limes` subcommands. Each returns a process exit status from the table
 * below, documented in `limes --help` and docs/operations.md, so scripts can
 * rely on them.
 */
#ifndef LIMES_CLI_H
#define LIMES_CLI_H

enum cli_exit {
	CLI_OK = 0,            /* done */
	CLI_FAILED = 1,        /* the operation failed (message on stderr) */
	CLI_PEERS_DOWN = 2,    /* limes status: some link is not up (down, connecting or degraded) */
	CLI_USAGE = 64,        /* bad command line */
	CLI_DATAERR = 65,      /* the agent refused the input: 400 or 413 */
	CLI_NOTFOUND = 66,     /* unknown peer or message: 404 */
	CLI_UNAVAILABLE = 69,  /* agent not reachable */
	CLI_SOFTWARE = 70,     /* internal error */
	CLI_TEMPFAIL = 75,     /* agent cannot accept now (store unusable, disk full): 503 */
	CLI_NOPERM = 77,       /* token refused (401) or policy forbids (403) */
	CLI_CONFIG = 78,       /* config or key file error */
};

int cli_keygen(int argc, char **argv);
int cli_agent(int argc, char **argv);
int cli_send(int argc, char **argv);
int cli_inbox(int argc, char **argv);
int cli_msg(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_requeue(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_msgs(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_peer(int argc, char **argv);
int cli_peer(int argc, char **argv);

#endif
