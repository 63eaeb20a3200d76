/* Placeholder until the API client commands land. */
#include <stdio.h>
#include "agent/cli.h"
int cli_send(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return CLI_SOFTWARE; }
int cli_inbox(int argc, char **argv) { (void)argc; (void)argv; return CLI_SOFTWARE; }
int cli_msg(int argc, char **argv) { (void)argc; (void)argv; return CLI_SOFTWARE; }
int cli_status(int argc, char **argv) { (void)argc; (void)argv; return CLI_SOFTWARE; }
int cli_requeue(int argc, char **argv) { (void)argc; (void)argv; return CLI_SOFTWARE; }
