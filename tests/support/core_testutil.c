/* A small agent world for the core's unit tests: identities, config, peer
 * table, store, loop, commit and submitter in one scratch folder. */
#include "support/core_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/random.h"
#include "proto/err.h"
#include "support/store_testutil.h"

const char *const core_test_ids[CORE_TEST_N] = {
	"RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE", "RO-POLITIA-NADLAC", "AT-BMI-NICKELSDORF", "AT-BMI-NICKELSDORF",
};

char *core_test_config_text(const struct core_world *w, int at_key, const char *extra)
{
	size_t n = 4096 + (extra ? strlen(extra) : 0);
	char *text = malloc(n);

	if (!text)
		return NULL;
	snprintf(text, n,
		 "[agent]\n"
		 "id = %s\n"
		 "keys = keys\n"
		 "listen = tcp://127.0.0.1:7400\n"
		 "data = data\n"
		 "default_ttl = 1h\n"
		 "max_ttl = 7d\n"
		 "\n"
		 "[api]\n"
		 "token_file = api.token\n"
		 "\n"
		 "[peer \"%s\"]\n"
		 "endpoint = tcp://198.51.100.7:7400\n"
		 "key = %s\n"
		 "send = alert, pre_arrival\n"
		 "accept = alert\n"
		 "\n"
		 "[peer \"%s\"]\n"
		 "via = %s\n"
		 "key = %s\n"
		 "send = alert\n"
		 "\n"
		 "[peer \"%s\"]\n"
		 "endpoint = tcp://192.0.2.1:7400\n"
		 "key = %s\n"
		 "send = alert, control_result\n"
		 "%s",
		 core_test_ids[CORE_TEST_ME], core_test_ids[CORE_TEST_HU], w->line[CORE_TEST_HU],
		 core_test_ids[CORE_TEST_RO], core_test_ids[CORE_TEST_HU], w->line[CORE_TEST_RO],
		 core_test_ids[CORE_TEST_AT], w->line[at_key], extra ? extra : "");
	return text;
}

struct config *core_test_config(const struct core_world *w, int at_key, const char *extra, char *err,
				size_t err_len)
{
	char *text = core_test_config_text(w, at_key, extra);
	struct config *cfg;

	if (!text) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	cfg = config_load_string(text, "test.ini", w->dir, err, err_len);
	free(text);
	return cfg;
}

int core_test_world_init(struct core_world *w, const char *tag)
{
	uint8_t sign_seed[IDENTITY_SEED_LEN], box_sk[IDENTITY_SEED_LEN];
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = NULL;
	int rc;

	memset(w, 0, sizeof(*w));
	if ((rc = random_init()) < 0)
		return rc;
	if (store_test_mkdtemp(w->dir, sizeof(w->dir), tag) < 0)
		return LIMES_E_IO;
	snprintf(w->data_dir, sizeof(w->data_dir), "%s/data", w->dir);
	for (int k = 0; k < CORE_TEST_N; k++) {
		memset(sign_seed, 0x10 + k, sizeof(sign_seed));
		memset(box_sk, 0x40 + k, sizeof(box_sk));
		w->id[k] = identity_from_seeds(sign_seed, box_sk);
		if (!w->id[k])
			return LIMES_E_NOMEM;
		if ((rc = identity_line_format(identity_public(w->id[k]), w->line[k], sizeof(w->line[k]))) < 0)
			return rc;
	}
	cfg = core_test_config(w, CORE_TEST_AT, NULL, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "core_test_world_init: %s\n", err);
		return LIMES_E_CONFIG;
	}
	w->peers = peers_new(&cfg, w->id[CORE_TEST_ME], err, sizeof(err));
	if (!w->peers) {
		fprintf(stderr, "core_test_world_init: %s\n", err);
		config_destroy(&cfg);
		return LIMES_E_CONFIG;
	}
	w->store = store_open(w->data_dir, &rc);
	if (!w->store)
		return rc < 0 ? rc : LIMES_E_IO;
	if ((rc = uv_loop_init(&w->loop)) < 0)
		return limes_from_errno(-rc);
	w->loop_ready = true;
	w->commit = commit_new(&w->loop, w->store);
	if (!w->commit)
		return LIMES_E_NOMEM;
	w->submit = submit_new(w->peers, w->store, w->commit, w->id[CORE_TEST_ME]);
	if (!w->submit)
		return LIMES_E_NOMEM;
	return 0;
}

void core_test_world_stop_commit(struct core_world *w)
{
	submit_destroy(&w->submit);
	commit_stop(w->commit);
	if (w->loop_ready)
		(void)uv_run(&w->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
	commit_destroy(&w->commit);
}

int core_test_world_reopen_store(struct core_world *w)
{
	int rc = 0;

	store_destroy(&w->store);
	w->store = store_open(w->data_dir, &rc);
	return w->store ? 0 : (rc < 0 ? rc : LIMES_E_IO);
}

int core_test_world_fini(struct core_world *w)
{
	int rc = 0;

	core_test_world_stop_commit(w);
	if (w->loop_ready) {
		if (uv_loop_close(&w->loop) != 0)
			rc = LIMES_E_INTERNAL; /* a handle leaked */
		w->loop_ready = false;
	}
	peers_destroy(&w->peers);
	store_destroy(&w->store);
	for (int k = 0; k < CORE_TEST_N; k++)
		identity_destroy(&w->id[k]);
	if (w->dir[0])
		store_test_rmtree(w->dir);
	w->dir[0] = '\0';
	return rc;
}

static int collect(void *arg, const struct store_delivery_row *row)
{
	struct core_test_rows *rows = arg;
	struct core_test_row *r;

	if (rows->n == sizeof(rows->row) / sizeof(rows->row[0]))
		return 1;
	r = &rows->row[rows->n++];
	snprintf(r->recipient, sizeof(r->recipient), "%s", row->recipient);
	snprintf(r->next_hop, sizeof(r->next_hop), "%s", row->next_hop);
	r->type = row->type;
	r->priority = row->priority;
	r->state = row->state;
	r->expires_ms = row->expires_ms;
	/* a longer envelope is cut: the comparison against it then fails loudly */
	r->envelope_len = row->envelope_len < sizeof(r->envelope) ? row->envelope_len : sizeof(r->envelope);
	memcpy(r->envelope, row->envelope, r->envelope_len);
	return 0;
}

int core_test_message_get(struct store *store, const uint8_t id[STORE_ID_LEN], struct core_test_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	return store_message_get(store, id, collect, rows);
}

const struct core_test_row *core_test_row_for(const struct core_test_rows *rows, const char *recipient)
{
	for (size_t i = 0; i < rows->n; i++)
		if (strcmp(rows->row[i].recipient, recipient) == 0)
			return &rows->row[i];
	return NULL;
}

/* The reader's view of us: the only sender it knows. */
static const struct envelope_peer *lookup_sender(void *arg, const char *sender,
						 const uint8_t key_id[IDENTITY_KEY_ID_LEN], uint64_t created_ms,
						 int *err)
{
	const struct envelope_peer *me = arg;

	(void)created_ms;
	if (strcmp(sender, envelope_peer_id(me)) != 0 ||
	    memcmp(key_id, envelope_peer_key(me)->key_id, IDENTITY_KEY_ID_LEN) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return me;
}

int core_test_open(const struct core_world *w, int reader, const uint8_t *env, size_t len, uint64_t now_ms,
		   struct envelope_opened *out)
{
	struct envelope_peer *me = envelope_peer_new(w->id[reader], identity_public(w->id[CORE_TEST_ME]),
						     core_test_ids[CORE_TEST_ME]);
	struct envelope_open_params p = {
		.me = w->id[reader],
		.my_id = core_test_ids[reader],
		.now_ms = now_ms,
		.max_ttl_ms = CORE_TEST_MAX_TTL_MS,
		.max_skew_ms = 300ull * 1000,
		.max_envelope_bytes = 1u << 20,
		.lookup = lookup_sender,
		.lookup_arg = me,
		.max_version = WIRE_VERSION_BATCH, /* v1 and v2, as the agent's receiver */
	};
	int rc;

	if (!me)
		return LIMES_E_NOMEM;
	rc = envelope_open(&p, env, len, out);
	envelope_peer_destroy(&me);
	return rc;
}
