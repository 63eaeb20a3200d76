/* Big-endian integers in signed and hashed byte strings: the one copy of
 * the rule docs/protocol.md and docs/audit.md write as "u64 big-endian". */
#ifndef LIMES_PROTO_BYTES_H
#define LIMES_PROTO_BYTES_H

#include <stdint.h>

static inline void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#endif
