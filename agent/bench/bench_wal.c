/*
 * limes-bench: the SQLite WAL of each agent during a phase (docs/benchmarks.md,
 * "The WAL checkpoint off the loop thread"). The WAL file is reused from its
 * start after each checkpoint restart and only truncated beyond SQLite's
 * journal_size_limit, so its size sampled with the RSS (every 250 ms) is the
 * high-water mark of the log, whichever agent version runs.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <sys/stat.h>

void bench_wal_reset(struct bench_agent *ag)
{
	ag->wal_hwm_mb = NAN;
}

void bench_wal_sample(struct bench_agent *ag)
{
	char path[PATH_MAX + 16];
	struct stat sb;

	if (snprintf(path, sizeof(path), "%s/limes.db-wal", ag->data) >= (int)sizeof(path) || stat(path, &sb) < 0)
		return; /* none yet, or a PostgreSQL store */
	double mb = (double)sb.st_size / (1024.0 * 1024.0);
	if (isnan(ag->wal_hwm_mb) || mb > ag->wal_hwm_mb)
		ag->wal_hwm_mb = mb;
}

double bench_wal_loop_checkpoints(struct bench_agent *ag)
{
	return bench_agents_metric(ag, "limes_store_checkpoints_total{thread=\"loop\"}");
}
