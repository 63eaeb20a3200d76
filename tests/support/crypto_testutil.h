/*
 * Helpers shared by the crypto/ and wire unit tests: scratch folders and a
 * small world of three agencies (A sends, B receives and relays, C is a third
 * agency) with identities made through keygen + load, every pair's
 * envelope_peer, and the key lookups envelope_open and receipt_open need.
 */
#ifndef LIMES_TEST_CRYPTO_TESTUTIL_H
#define LIMES_TEST_CRYPTO_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"

#define CT_A 0
#define CT_B 1
#define CT_C 2
#define CT_N 3
#define CT_NOW_MS 1764182607120ull        /* 2025-11-26T18:43:27.120Z */
#define CT_MAX_TTL_MS (7ull * 86400 * 1000)
#define CT_MAX_SKEW_MS (300ull * 1000)
#define CT_MAX_BYTES (1u << 20)

extern const char *const ct_ids[CT_N];

struct ct_world {
	char dir[256];
	struct identity *id[CT_N];
	struct envelope_peer *peer[CT_N][CT_N]; /* peer[viewer][other]: viewer's view of other */
	int viewer;                             /* whose view the lookups use */
	int lookup_fail;                        /* 0, or the error the lookups report */
};

/* Creates /tmp/limes-<tag>-XXXXXX into buf; 0 or -1. */
int ct_mkdtemp(char *buf, size_t len, const char *tag);
/* Removes a folder tree; 0 or -1. */
int ct_rmtree(const char *path);
/* Builds the three identities in a fresh scratch folder; 0 or a negative code. */
int ct_world_init(struct ct_world *w);
/* Frees everything and removes the scratch folder. */
void ct_world_fini(struct ct_world *w);
/* The lookup for envelope_open: arg is the world, its viewer the reader. */
const struct envelope_peer *ct_lookup(void *arg, const char *sender, const uint8_t key_id[8],
				      uint64_t created_ms, int *err);
/* The lookup for receipt_open, same rules. */
const struct peer_key *ct_receipt_lookup(void *arg, const char *issuer, const uint8_t key_id[8],
					 uint64_t issued_ms, int *err);
/* Open parameters for viewer at CT_NOW_MS with the default caps. */
struct envelope_open_params ct_params(struct ct_world *w, int viewer);
/* A header from -> to created at CT_NOW_MS, expiring in an hour, with a recognisable id. */
void ct_header(struct wire_header *h, int from, int to, uint8_t id_byte);
/* Builds an envelope from -> to with body; 0 or a negative code; *out malloc'd. */
int ct_build(struct ct_world *w, int from, int to, const char *body, uint8_t **out, size_t *out_len);

#endif
