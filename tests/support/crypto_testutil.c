/* Scratch folders and a three-agency world for the crypto/ and wire tests. */
#define _XOPEN_SOURCE 700
#include "support/crypto_testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/err.h"
#include "crypto/random.h"

const char *const ct_ids[CT_N] = { "RS-CUSTOMS-HORGOS", "HU-NAV-ROSZKE", "RO-POLITIA-NADLAC" };

int ct_mkdtemp(char *buf, size_t len, const char *tag)
{
	int n = snprintf(buf, len, "/tmp/limes-%s-XXXXXX", tag);

	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int ct_rmtree(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int ct_world_init(struct ct_world *w)
{
	char sub[512], why[512];
	int rc;

	memset(w, 0, sizeof(*w));
	if ((rc = random_init()) < 0)
		return rc;
	if (ct_mkdtemp(w->dir, sizeof(w->dir), "crypto") < 0)
		return LIMES_E_IO;
	for (int i = 0; i < CT_N; i++) {
		snprintf(sub, sizeof(sub), "%s/%c", w->dir, 'a' + i);
		if ((rc = identity_generate(sub, false, NULL, 0)) < 0)
			return rc;
		w->id[i] = identity_load(sub, &rc, why, sizeof(why));
		if (!w->id[i]) {
			fprintf(stderr, "ct_world_init: %s\n", why);
			return rc;
		}
	}
	for (int i = 0; i < CT_N; i++)
		for (int j = 0; j < CT_N; j++) {
			if (i == j)
				continue;
			w->peer[i][j] = envelope_peer_new(w->id[i], identity_public(w->id[j]), ct_ids[j]);
			if (!w->peer[i][j])
				return LIMES_E_NOMEM;
		}
	return 0;
}

void ct_world_fini(struct ct_world *w)
{
	for (int i = 0; i < CT_N; i++) {
		for (int j = 0; j < CT_N; j++)
			envelope_peer_destroy(&w->peer[i][j]);
		identity_destroy(&w->id[i]);
	}
	if (w->dir[0])
		ct_rmtree(w->dir);
	w->dir[0] = '\0';
}

static int find_other(struct ct_world *w, const char *id, const uint8_t key_id[8], int *err)
{
	if (w->lookup_fail) {
		*err = w->lookup_fail;
		return -1;
	}
	for (int j = 0; j < CT_N; j++) {
		if (j == w->viewer || strcmp(ct_ids[j], id) != 0)
			continue;
		if (memcmp(identity_public(w->id[j])->key_id, key_id, 8) != 0)
			break;
		return j;
	}
	*err = LIMES_E_ENV_UNKNOWN_KEY;
	return -1;
}

const struct envelope_peer *ct_lookup(void *arg, const char *sender, const uint8_t key_id[8],
				      uint64_t created_ms, int *err)
{
	struct ct_world *w = arg;
	int j = find_other(w, sender, key_id, err);

	(void)created_ms;
	return j < 0 ? NULL : w->peer[w->viewer][j];
}

const struct peer_key *ct_receipt_lookup(void *arg, const char *issuer, const uint8_t key_id[8],
					 uint64_t issued_ms, int *err)
{
	struct ct_world *w = arg;
	int j = find_other(w, issuer, key_id, err);

	(void)issued_ms;
	return j < 0 ? NULL : envelope_peer_key(w->peer[w->viewer][j]);
}

struct envelope_open_params ct_params(struct ct_world *w, int viewer)
{
	struct envelope_open_params p = {
		.me = w->id[viewer],
		.my_id = ct_ids[viewer],
		.now_ms = CT_NOW_MS,
		.max_ttl_ms = CT_MAX_TTL_MS,
		.max_skew_ms = CT_MAX_SKEW_MS,
		.max_envelope_bytes = CT_MAX_BYTES,
		.lookup = ct_lookup,
		.lookup_arg = w,
	};

	w->viewer = viewer;
	return p;
}

void ct_header(struct wire_header *h, int from, int to, uint8_t id_byte)
{
	memset(h, 0, sizeof(*h));
	memset(h->message_id, id_byte, sizeof(h->message_id));
	snprintf(h->sender, sizeof(h->sender), "%s", ct_ids[from]);
	snprintf(h->recipient, sizeof(h->recipient), "%s", ct_ids[to]);
	h->type = WIRE_TYPE_ALERT;
	h->priority = WIRE_PRIORITY_URGENT;
	h->created_ms = CT_NOW_MS;
	h->expires_ms = CT_NOW_MS + 3600 * 1000;
	h->has_seq = true;
	h->seq = 42;
}

int ct_build(struct ct_world *w, int from, int to, const char *body, uint8_t **out, size_t *out_len)
{
	struct wire_header h;

	ct_header(&h, from, to, 0x11);
	return envelope_build(w->id[from], w->peer[from][to], &h, (const uint8_t *)body, strlen(body), out, out_len);
}
