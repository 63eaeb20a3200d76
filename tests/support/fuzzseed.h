/*
 * Seeds for the fuzz harnesses, written by the unit tests that build valid
 * inputs anyway: with LIMES_FUZZ_SEEDS=DIR set, fuzzseed_write() stores the
 * bytes as DIR/HARNESS/NAME (tests/run.sh does this before fuzzing, so the
 * fuzzers start from envelopes and bodies that decode fully).
 */
#ifndef LIMES_TEST_FUZZSEED_H
#define LIMES_TEST_FUZZSEED_H

#include <stddef.h>

/* Writes buf as a seed for `harness` when LIMES_FUZZ_SEEDS is set; no-op otherwise. */
void fuzzseed_write(const char *harness, const char *name, const void *buf, size_t len);

#endif
