/*
 * limes-bench: the SQLite WAL of each agent during a phase (docs/benchmarks.md,
 * "The WAL checkpoint off the loop thread"). The agent writes its -wal file
 * in full when it opens it (docs/store.md, "The WAL written up front"), so
 * the file's size says nothing about the log: the high-water mark is the
 * most of the agent's own limes_store_wal_bytes (the log after its last
 * commit) sampled with the RSS (every 250 ms) and at the end of the phase.
 * An agent without that series (PostgreSQL) leaves it NAN.
 */
#include "bench.h"

#include <math.h>

void bench_wal_reset(struct bench_agent *ag)
{
	ag->wal_hwm_mb = NAN;
}

void bench_wal_sample(struct bench_agent *ag)
{
	double bytes = bench_agents_metric(ag, "limes_store_wal_bytes");

	if (isnan(bytes))
		return; /* not up yet, or a PostgreSQL store */
	double mb = bytes / (1024.0 * 1024.0);
	if (isnan(ag->wal_hwm_mb) || mb > ag->wal_hwm_mb)
		ag->wal_hwm_mb = mb;
}

double bench_wal_loop_checkpoints(struct bench_agent *ag)
{
	return bench_agents_metric(ag, "limes_store_checkpoints_total{thread=\"loop\"}");
}

double bench_wal_checkpoints(struct bench_agent *ag)
{
	return bench_agents_metric(ag, "limes_store_checkpoints_total{thread=\"checkpointer\"}") +
	       bench_agents_metric(ag, "limes_store_checkpoints_total{thread=\"loop\"}");
}

double bench_wal_db_syncs(struct bench_agent *ag)
{
	return bench_agents_metric(ag, "limes_store_database_syncs_total{thread=\"checkpointer\"}") +
	       bench_agents_metric(ag, "limes_store_database_syncs_total{thread=\"loop\"}");
}
