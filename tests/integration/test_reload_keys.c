/*
 * A reload that changes the keys of many peers puts every change on the
 * audit trail, not only the first ones.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/identity.h"
#include "crypto/random.h"
#include "support/agentproc.h"
#include "support/store_testutil.h"

#define N_PEERS 70 /* more than the 64 a reload once noted */

static char root[256];
static struct agentproc *agent;

static void setup(void)
{
	cr_assert(eq(int, random_init(), 0));
	cr_assert(eq(int, store_test_mkdtemp(root, sizeof(root), "reload_keys"), 0));
	agent = agentproc_new(root, "RS-CUSTOMS-HORGOS");
	cr_assert(agent != NULL);
}

static void teardown(void)
{
	agentproc_destroy(&agent);
	store_test_rmtree(root);
}

TestSuite(reload_keys, .init = setup, .fini = teardown, .timeout = 120);

/* base config + N_PEERS peer sections whose keys depend on gen */
static char *config_with_peers(const char *base, unsigned gen)
{
	size_t cap = strlen(base) + N_PEERS * 400, used = strlen(base);
	char *text = malloc(cap);
	cr_assert(text != NULL);
	memcpy(text, base, used + 1);
	for (unsigned i = 0; i < N_PEERS; i++) {
		uint8_t seed[IDENTITY_SEED_LEN] = { (uint8_t)gen, (uint8_t)i, 7 }, box[IDENTITY_SEED_LEN] = { (uint8_t)gen,
												  (uint8_t)i, 9 };
		struct identity *id = identity_from_seeds(seed, box);
		char line[IDENTITY_LINE_SIZE];
		cr_assert(id != NULL);
		cr_assert(eq(int, identity_line_format(identity_public(id), line, sizeof(line)), 0));
		identity_destroy(&id);
		used += (size_t)snprintf(text + used, cap - used,
					 "\n[peer \"XX-PEER-%u\"]\nendpoint = tcp://127.0.0.1:9\nkey = %s\nsend = alert\n"
					 "accept = alert\n",
					 i, line);
		cr_assert(used < cap);
	}
	return text;
}

static size_t reload_key_entries(struct agentproc *ap)
{
	char *body = NULL, *save = NULL;
	size_t n = 0;
	cr_assert(eq(long, agentproc_http(ap, "GET", "/v1/audit?limit=10000", NULL, 0, NULL, &body), 200));
	for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *detail = json_string_value(json_object_get(o, "detail"));
		if (kind && detail && strcmp(kind, "key") == 0 && strcmp(detail, "peer key changed by reload") == 0)
			n++;
		json_decref(o);
	}
	free(body);
	return n;
}

Test(reload_keys, every_changed_peer_key_is_on_the_audit_trail)
{
	cr_assert(eq(int, agentproc_write_config(agent), 0));
	FILE *f = fopen(agentproc_config(agent), "re");
	cr_assert(f != NULL);
	static char base[65536];
	size_t len = fread(base, 1, sizeof(base) - 1, f);
	fclose(f);
	base[len] = '\0';

	char *text = config_with_peers(base, 1);
	cr_assert(eq(int, agentproc_write_config_text(agent, text), 0));
	free(text);
	cr_assert(eq(int, agentproc_start(agent), 0));
	cr_assert(eq(sz, reload_key_entries(agent), 0));

	text = config_with_peers(base, 2);
	cr_assert(eq(int, agentproc_write_config_text(agent, text), 0));
	free(text);
	cr_assert(eq(int, agentproc_signal(agent, SIGHUP), 0));
	cr_assert(agentproc_wait_log(agent, "event=reload peers=", 10000));
	cr_assert(eq(sz, reload_key_entries(agent), N_PEERS));
}
