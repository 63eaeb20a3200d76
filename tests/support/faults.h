/*
 * The invariant every durability test of tests/faults checks at its end:
 * every message the API answered 202 is in the recipient's inbox exactly
 * once and marked delivered at the sender; nothing else is in the inbox.
 */
#ifndef LIMES_TEST_FAULTS_H
#define LIMES_TEST_FAULTS_H
#include <stddef.h>
#include "support/cluster.h"

/* Ids accepted so far (32 hex + NUL each), grown as needed; owned by the test. */
struct fault_ids {
	char (*id)[33];
	size_t n, cap;
};
void fault_ids_add(struct fault_ids *ids, const char *id);
void fault_ids_free(struct fault_ids *ids);

/* Waits up to `seconds` until `from` has nothing queued for `to`; false on timeout. */
bool fault_wait_drained(struct cluster *c, const char *from, const char *to, int seconds);
/* Fails the test unless `to`'s inbox holds every id of ids exactly once
 * and `from` shows them delivered to `to`. Other messages from `from` may
 * be there only from requests whose answer was lost (the agent was killed
 * mid-request): at most `uncertain` of them, each once. */
void fault_assert_invariant(struct cluster *c, const char *from, const char *to, const struct fault_ids *ids,
			    size_t uncertain);
#endif
