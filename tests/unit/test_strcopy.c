/*
 * str_copy (proto/strcopy.h) stands in for snprintf(dst, size, "%s", src) on
 * the per-message paths: it must leave exactly the bytes snprintf leaves,
 * for every source length around the destination's size.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "proto/strcopy.h"

/* truncation is what this test compares */
#pragma GCC diagnostic ignored "-Wformat-truncation"

TestSuite(strcopy, .timeout = 30);

Test(strcopy, leaves_what_snprintf_leaves)
{
	char src[80], want[80], got[80];

	for (size_t size = 1; size <= 40; size++) {
		for (size_t len = 0; len < 60; len++) {
			memset(src, 0, sizeof(src));
			for (size_t i = 0; i < len; i++)
				src[i] = (char)('a' + (i % 26));
			memset(want, 0x5a, sizeof(want));
			memset(got, 0x5a, sizeof(got));
			snprintf(want, size, "%s", src);
			str_copy(got, size, src);
			cr_assert(eq(int, memcmp(want, got, sizeof(got)), 0), "size %zu, length %zu", size, len);
		}
	}
}
