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
#include <sys/wait.h>
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

/* Where PROGRAM is: beside our own executable, else the libexec folder. */
static void sibling_path(const char *program, char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, len, "%s/%s", self, program);
			if (access(path, X_OK) == 0)
				return;
		}
	}
	snprintf(path, len, "%s/%s", LIMES_LIBEXECDIR, program);
}

FILE *cli_spawn_sibling(const char *program, char *const *args, pid_t *pid)
{
	char path[PATH_MAX + 64];
	int fds[2];

	sibling_path(program, path, sizeof(path));
	if (pipe(fds) < 0)
		return NULL;
	*pid = fork();
	if (*pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (*pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(path, args);
		fprintf(stderr, "limes: cannot run %s: %s\n", path, strerror(errno));
		_exit(CLI_SOFTWARE);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	if (!f) {
		close(fds[0]);
		waitpid(*pid, NULL, 0);
	}
	return f;
}

int cli_wait_sibling(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return CLI_SOFTWARE;
	return WIFEXITED(status) ? WEXITSTATUS(status) : CLI_SOFTWARE;
}

int cli_agent(int argc, char **argv)
{
	return exec_sibling("agent", "limes-agent", argc, argv);
}

int cli_bench(int argc, char **argv)
{
	return exec_sibling("bench", "limes-bench", argc, argv);
}
