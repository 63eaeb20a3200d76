/* `limes bench`: placeholder until the benchmark lands (another engineer's work). */
#include <stdio.h>

#include "agent/cli.h"

int cli_bench(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "limes bench: not built yet\n");
	return CLI_SOFTWARE;
}
