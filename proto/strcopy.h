/* A bounded string copy for the per-message paths: what snprintf(dst, size,
 * "%s", src) does (copy at most size - 1 bytes, always terminate), without
 * the format machinery, which the sender's loop paid a few times per message. */
#ifndef LIMES_PROTO_STRCOPY_H
#define LIMES_PROTO_STRCOPY_H

#include <stddef.h>
#include <string.h>

/* Copies src into dst (size > 0 bytes), cut to size - 1 and NUL-terminated; borrows both. */
static inline void str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

#endif
