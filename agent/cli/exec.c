/*
 * `limes agent` and `limes bench`: the daemon and the benchmark are programs
 * of their own (limes-agent, limes-bench), so that the daemon links nothing
 * it does not run on. The CLI execs them with the same arguments: same
 * process, same pid, same signals.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* Both set by cmake/install.cmake from the install's libexec folder. */
#ifndef LIMES_LIBEXECDIR
#define LIMES_LIBEXECDIR "/usr/libexec/limes"
#endif
#ifndef LIMES_LIBEXEC_FROM_BIN
#define LIMES_LIBEXEC_FROM_BIN "../libexec/limes"
#endif

/* Runs PROGRAM found beside our own executable (the build tree), else in
 * the libexec folder relative to it (an installed tree, wherever its root),
 * else in the configured libexec folder; returns only on failure. */
static int exec_sibling(const char *command, const char *program, int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *args[argc + 1];

	args[0] = (char *)program;
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	args[argc] = NULL;
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			const char *const dirs[] = { "", "/" LIMES_LIBEXEC_FROM_BIN };
			for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
				snprintf(path, sizeof(path), "%s%s/%s", self, dirs[i], program);
				if (access(path, X_OK) == 0) {
					execv(path, args);
					fprintf(stderr, "limes %s: cannot run %s: %s\n", command, path,
						strerror(errno));
					return CLI_SOFTWARE;
				}
			}
		}
	}
	snprintf(path, sizeof(path), "%s/%s", LIMES_LIBEXECDIR, program);
	execv(path, args);
	fprintf(stderr, "limes %s: cannot run %s: %s (is Limes installed?)\n", command, path, strerror(errno));
	return CLI_SOFTWARE;
}

int cli_agent(int argc, char **argv)
{
	return exec_sibling("agent", "limes-agent", argc, argv);
}

int cli_bench(int argc, char **argv)
{
	return exec_sibling("bench", "limes-bench", argc, argv);
}
