/*
 * A hash of a 16-byte message id for the in-memory tables keyed by id (the
 * link's deliveries in flight, the bench's trace). Ids are not uniform bytes:
 * Limes writes them in UUIDv7 layout (creation time first, docs/protocol.md),
 * so their first bytes are nearly the same for every id of the same hour, and
 * other agents may write any 16 bytes. So all 128 bits are mixed, and the
 * low bits a power-of-two table masks with depend on every input bit.
 */
#ifndef LIMES_PROTO_IDHASH_H
#define LIMES_PROTO_IDHASH_H

#include <stdint.h>
#include <string.h>

static inline uint64_t id_hash(const uint8_t id[16])
{
	uint64_t a, b;

	memcpy(&a, id, sizeof(a));
	memcpy(&b, id + 8, sizeof(b));
	/* splitmix64's finaliser over both halves */
	uint64_t h = a ^ (b * 0x9E3779B97F4A7C15ull);
	h ^= h >> 30;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 27;
	h *= 0x94D049BB133111EBull;
	return h ^ (h >> 31);
}

#endif
