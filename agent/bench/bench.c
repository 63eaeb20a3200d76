/*
 * limes-bench: the state every file of the harness shares. The monotonic
 * clock (the clock of the agent's --trace-fd lines), the interrupt flag that
 * SIGINT and SIGTERM set so every loop gives up and cleanup runs, and the
 * progress lines on stderr. Owns the flag only.
 */
#include "bench.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t interrupted;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int bench_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return -1;
	/* A child that dies under a write must not take the harness with it. */
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

bool bench_interrupted(void)
{
	return interrupted != 0;
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	fputs("limes bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
