/* Scratch folders and recognisable ids for the store tests. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "support/store_testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int store_test_mkdtemp(char *buf, size_t len, const char *tag)
{
	if ((size_t)snprintf(buf, len, "/tmp/limes-%s-XXXXXX", tag) >= len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int store_test_rmtree(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void store_test_id(uint8_t id[STORE_ID_LEN], uint32_t major, uint32_t minor)
{
	memset(id, 0x5a, STORE_ID_LEN);
	put_u32(id, major);
	put_u32(id + 4, minor);
}

void store_test_id_parts(const uint8_t id[STORE_ID_LEN], uint32_t *major, uint32_t *minor)
{
	*major = get_u32(id);
	*minor = get_u32(id + 4);
}
