/* limes: the single binary; dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		printf("usage: limes COMMAND ...\n");
		return argc < 2 ? 2 : 0;
	}
	fprintf(stderr, "limes: unknown command '%s'\n", argv[1]);
	return 2;
}
