/*
 * The daemon: the composition root. Builds every part from the config
 * (identity, store, peer table, commit, submission, links, API), hands each
 * its dependencies and callbacks, and owns what belongs to no part: the
 * loop, the signals (SIGTERM/SIGINT stop, SIGHUP reloads), the housekeeping
 * timer (expiry, retention purge) and the data-folder lock. Nothing includes
 * this header but the `limes-agent` program.
 */
#ifndef LIMES_DAEMON_H
#define LIMES_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

struct agent;

struct agent_options {
	const char *config_file;
	int trace_fd;               /* -1, or the descriptor the delivery trace goes to (see link/link.h) */
	bool accept_wal_loss;       /* start although the WAL's damage drops completed commits (walgate.h) */
};

/* Builds an agent: loads and checks the config, takes the data-folder lock,
 * loads the identity, opens the store, binds the links and the API; nothing
 * runs yet. NULL with the reason in err on failure (nothing is left bound
 * or locked). Caller owns the result. */
struct agent *agent_new(const struct agent_options *opts, char *err, size_t err_len);
/* Runs the loop until SIGTERM/SIGINT or agent_stop(); 0, or
 * LIMES_E_STORE_FAILED when the store failed on the way. */
int agent_run(struct agent *agent);
/* Asks the loop to stop: closes watchers; agent_run() returns afterwards. */
void agent_stop(struct agent *agent);
/* Frees everything; accepts NULL and sets *agent to NULL. */
void agent_destroy(struct agent **agent);
/* The agency id this agent runs as; borrowed. */
const char *agent_id(const struct agent *agent);

/* `limes-agent audit-dump ARGS`: prints a stopped agent's audit trail as
 * JSON lines (docs/audit.md); returns the process exit status. */
int agent_audit_dump(int argc, char **argv);
/* `limes-agent audit-ask ARGS`: asks the direct neighbours, with this
 * agent's key, for the checkpoints of ours they keep countersigned and
 * prints them as "kept" JSON lines (docs/audit.md); exit 69 when one did
 * not answer. */
int agent_audit_ask(int argc, char **argv);

#endif
