/*
 * The client side of the local API for the `limes` subcommands: reads the
 * API address and token from the agent's config file, makes HTTP requests
 * with libcurl, maps HTTP statuses to the exit codes of agent/cli.h and
 * prints the API's errors (code, field, message).
 */
#ifndef LIMES_CLI_HTTP_H
#define LIMES_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct cli_http;

/* An HTTP answer; body is malloc'd and NUL-terminated, owned by the answer. */
struct cli_http_answer {
	long status;          /* 0 when the agent could not be reached */
	char *body;
	size_t len;
	char error[256];      /* transport error text when status is 0 */
};

/* Loads config_file and its token for command `cmd` (for messages); NULL
 * after printing why, with *exit_code set. Caller owns the result. */
struct cli_http *cli_http_open(const char *config_file, const char *cmd, int *exit_code);
/* Wipes the token and frees; accepts NULL and nulls *c. */
void cli_http_destroy(struct cli_http **c);
/* The largest request body the agent takes (its [api] max_body). */
size_t cli_http_max_body(const struct cli_http *c);
/* Makes one request; body may be NULL. Fills the caller's answer (free with
 * cli_http_answer_clear). 0, or CLI_UNAVAILABLE when the agent is not reachable. */
int cli_http_request(struct cli_http *c, const char *method, const char *path, const char *body, size_t len,
		     long timeout_s, struct cli_http_answer *answer);
/* Frees answer->body; accepts NULL. */
void cli_http_answer_clear(struct cli_http_answer *answer);
/* The exit code for an HTTP status (2xx: CLI_OK). */
int cli_http_exit_code(long status);
/* Prints "limes CMD: STATUS CODE FIELD: MESSAGE" to stderr from an error
 * answer and returns its exit code (CLI_UNAVAILABLE when status is 0). */
int cli_http_fail(const char *cmd, const struct cli_http_answer *answer);

/* True for a message id as the API writes it: 32 hex digits. */
bool cli_http_plain_id(const char *id);

#endif
