/*
 * What the `limes` subcommands share, private to agent/cli/: the client of
 * the local API (api.c) on top of httpc. It reads the API address and token
 * from the agent's config file, maps HTTP statuses to the exit codes of
 * cli.h and prints the API's errors (code, field, message).
 */
#ifndef LIMES_CLI_INT_H
#define LIMES_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "httpc/httpc.h"

struct json_t;

struct cli_api;

/* Loads config_file and its token for subcommand `cmd` (named in messages);
 * NULL after printing why, with *exit_code set. Caller owns the result. */
struct cli_api *cli_api_open(const char *config_file, const char *cmd, int *exit_code);
/* Frees (the token is wiped by httpc); accepts NULL and nulls *api. */
void cli_api_destroy(struct cli_api **api);
/* The largest request body the agent takes (its [api] max_body). */
size_t cli_api_max_body(const struct cli_api *api);
/* Makes one request, at most timeout_s long; body (borrowed) may be NULL.
 * Fills the caller's answer (free with httpc_answer_clear). CLI_OK when the
 * agent answered (any status), CLI_UNAVAILABLE when it cannot be reached,
 * CLI_SOFTWARE on any other failure. */
int cli_api_request(struct cli_api *api, const char *method, const char *path, const char *body, size_t len,
		    long timeout_s, struct httpc_answer *answer);
/* The exit code for an HTTP status (2xx: CLI_OK, 0: CLI_UNAVAILABLE). */
int cli_api_exit_code(long status);
/* Prints "limes CMD: STATUS CODE FIELD: MESSAGE" to stderr from an error
 * answer and returns its exit code (CLI_UNAVAILABLE when status is 0). */
int cli_api_fail(const char *cmd, const struct httpc_answer *answer);
/* Filters of GET /v1/messages; NULL members are left out. */
struct cli_msgs_query {
	const char *state, *peer, *type, *since;
};
/* Calls fn for every listed delivery (all pages, at most max when not 0);
 * fn returns CLI_OK to go on. Prints the API's error as `limes CMD:` and
 * returns its exit code, else fn's first non-OK code or CLI_OK. */
int cli_msgs_fetch(struct cli_api *api, const char *cmd, const struct cli_msgs_query *q, size_t max,
		   int (*fn)(void *arg, struct json_t *row), void *arg);

/* True for a message id as the API writes it: 32 hex digits. */
bool cli_api_plain_id(const char *id);

/* exec.c: runs PROGRAM (beside limes, else in libexec) with args (args[0]
 * its name, NULL-terminated), its stdout readable from the returned stream
 * (the caller's: fclose it, then cli_wait_sibling); NULL on failure. */
#include <stdio.h>
#include <sys/types.h>
FILE *cli_spawn_sibling(const char *program, char *const *args, pid_t *pid);
/* Waits for it; its exit status (CLI_SOFTWARE when it did not exit). */
int cli_wait_sibling(pid_t pid);

#endif
