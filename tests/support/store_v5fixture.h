/*
 * The store of tests/fixtures/store_v5.sql (SQLite schema 5) and
 * tests/fixtures/store_pg_v4.sql (PostgreSQL schema 4): the same six
 * deliveries, written by main before the envelope left the deliveries rows.
 * These helpers check, through the store API only, that a migrated copy shows
 * every delivery as it was (state, times, reason, receipt, envelope bytes,
 * cursor), then that every operation that reads or writes envelopes works on
 * it. Both backends' upgrade tests call them.
 */
#ifndef LIMES_TEST_STORE_V5FIXTURE_H
#define LIMES_TEST_STORE_V5FIXTURE_H

#include "store/store.h"

/* Asserts that st (opened on a migrated copy of the fixture) shows every
 * delivery exactly as the fixture holds it. */
void store_v5fixture_check(struct store *st);
/* Then marks, re-queues, re-seals, re-addresses and purges on it (through
 * store_begin/store_commit), asserting each result; st is left with only
 * the deliveries still pending. */
void store_v5fixture_exercise(struct store *st);

#endif
