/*
 * Helpers shared by the core's unit tests (peers, commit, submit, requeue,
 * expiry): a small world in its own scratch folder where we are
 * RS-CUSTOMS-HORGOS with three peers, a real store, a real libuv loop, the
 * peer table, the group commit and the submitter; plus the recipients'
 * identities so a test can open what core sealed.
 *
 *   HU-NAV-ROSZKE       direct;                 send = alert, pre_arrival
 *   RO-POLITIA-NADLAC   via HU-NAV-ROSZKE;      send = alert
 *   AT-BMI-NICKELSDORF  direct;                 send = alert, control_result
 *
 * [agent] default_ttl = 1h, max_ttl = 7d.
 */
#ifndef LIMES_TEST_CORE_TESTUTIL_H
#define LIMES_TEST_CORE_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "core/core.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "store/store.h"

/* Identities of the world; CORE_TEST_AT_NEW is AT-BMI-NICKELSDORF's next key. */
enum core_test_agency { CORE_TEST_ME, CORE_TEST_HU, CORE_TEST_RO, CORE_TEST_AT, CORE_TEST_AT_NEW, CORE_TEST_N };

extern const char *const core_test_ids[CORE_TEST_N];

#define CORE_TEST_DEFAULT_TTL_MS (3600ull * 1000)
#define CORE_TEST_MAX_TTL_MS (7ull * 86400 * 1000)
#define CORE_TEST_ENVELOPE_MAX 2048

struct core_world {
	char dir[256];                        /* scratch folder; the config's folder */
	char data_dir[320];                   /* the store's folder (dir/data) */
	struct identity *id[CORE_TEST_N];     /* owned */
	char line[CORE_TEST_N][IDENTITY_LINE_SIZE];
	uv_loop_t loop;
	bool loop_ready;
	struct store *store;                  /* owned */
	struct peers *peers;                  /* owned */
	struct commit *commit;                /* owned */
	struct submit *submit;                /* owned */
};

/* Builds the whole world (identities, config, peer table, store, loop,
 * commit, submitter) in a fresh /tmp/limes-<tag>-XXXXXX; 0 or a negative
 * code with the reason on stderr. */
int core_test_world_init(struct core_world *w, const char *tag);
/* Frees everything the world still owns (accepts a half-built world), closes
 * the loop and removes the scratch folder; 0, or LIMES_E_INTERNAL when the
 * loop still had handles open. */
int core_test_world_fini(struct core_world *w);
/* The world's config text with AT-BMI-NICKELSDORF's key taken from identity
 * `at_key` and `extra` appended (may be NULL); caller frees. */
char *core_test_config_text(const struct core_world *w, int at_key, const char *extra);
/* Loads that text as "test.ini" in the world's folder; caller owns it. */
struct config *core_test_config(const struct core_world *w, int at_key, const char *extra, char *err,
				size_t err_len);
/* Stops and frees the submitter and the commit and lets the loop close the
 * commit's handles, so a test can close and reopen the store. */
void core_test_world_stop_commit(struct core_world *w);
/* Closes and reopens the world's store; 0 or the open error. */
int core_test_world_reopen_store(struct core_world *w);

/* One delivery as read back with store_message_get (copied). */
struct core_test_row {
	char recipient[STORE_AGENCY_MAX + 1];
	char next_hop[STORE_AGENCY_MAX + 1];
	int type;
	int priority;
	enum delivery_state state;
	uint64_t expires_ms;
	uint8_t envelope[CORE_TEST_ENVELOPE_MAX];
	size_t envelope_len;
};

struct core_test_rows {
	size_t n;
	struct core_test_row row[8];
};

/* Reads every delivery of message id into rows; store_message_get's result. */
int core_test_message_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct core_test_rows *rows);
/* The row for recipient, or NULL; borrowed from rows. */
const struct core_test_row *core_test_row_for(const struct core_test_rows *rows, const char *recipient);

/* Opens an envelope from us as agency `reader` would (its identity, at
 * now_ms) with envelope_open; fills out (envelope_opened_clear) or returns
 * the LIMES_E_ENV_* of the first failed check. */
int core_test_open(const struct core_world *w, int reader, const uint8_t *env, size_t len, uint64_t now_ms,
		   struct envelope_opened *out);

#endif
