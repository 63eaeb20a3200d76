/*
 * Helpers shared by the store's unit and crash tests: scratch folders and
 * ready-made messages with recognisable ids.
 */
#ifndef LIMES_TEST_STORE_TESTUTIL_H
#define LIMES_TEST_STORE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Creates a fresh folder /tmp/limes-<tag>-XXXXXX into buf; 0 or -1. */
int store_test_mkdtemp(char *buf, size_t len, const char *tag);
/* Removes a folder tree; 0 or -1. */
int store_test_rmtree(const char *path);
/* Writes a recognisable id: a 32-bit major, a 32-bit minor, then 0x5A bytes. */
void store_test_id(uint8_t id[STORE_ID_LEN], uint32_t major, uint32_t minor);
/* Reads back the major and minor of an id made by store_test_id(). */
void store_test_id_parts(const uint8_t id[STORE_ID_LEN], uint32_t *major, uint32_t *minor);

#endif
