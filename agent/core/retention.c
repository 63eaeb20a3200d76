/*
 * Body retention per message type: each type's bodies (the sealed envelope
 * bytes, in the outbox and the inbox) are emptied once older than its
 * retention (config_body_retention_ms), while ids, states and hashes stay
 * for accountability. Staged in the turn's commit like every write.
 */
#include "base/log.h"
#include "proto/err.h"
#include "core/core.h"
#include "proto/schema.h"

int core_purge_bodies(struct peers *peers, struct store *store, struct commit *commit, uint64_t now_ms)
{
	const struct config *cfg = peers_config(peers);
	int total = 0;

	for (size_t i = 0; i < schema_type_count(); i++) {
		int type = schema_type_at(i);
		uint64_t keep = config_body_retention_ms(cfg, type);
		if (keep == 0 || keep >= now_ms)
			continue;
		int rc = commit_stage(commit, 0);
		if (rc == 0)
			rc = store_purge_bodies(store, type, now_ms - keep);
		if (rc < 0)
			return rc;
		if (rc > 0)
			log_info("event=bodies_purged type=%s count=%d retention_s=%llu", schema_type_name(type), rc,
				 (unsigned long long)(keep / 1000));
		total += rc;
	}
	return total;
}

uint64_t core_purge_bodies_every_ms(const struct config *cfg)
{
	uint64_t shortest = UINT64_MAX;

	for (size_t i = 0; i < schema_type_count(); i++) {
		uint64_t keep = config_body_retention_ms(cfg, schema_type_at(i));
		if (keep > 0 && keep < shortest)
			shortest = keep;
	}
	/* an eighth of the shortest retention: a body outlives it by that at
	 * most; never more often than the housekeeping tick, never less than
	 * once a minute */
	uint64_t every = shortest / 8;
	return every < 1000 ? 1000 : every > 60000 ? 60000 : every;
}
