/*
 * Worked examples of docs/protocol.md rebuilt by the tests: the lines a
 * test emits (text, and bytes as hex blocks as the document prints them)
 * go into one buffer per test process, which the test then looks for in
 * the document. Criterion runs each test in its own process, so the buffer
 * is the test's own.
 */
#ifndef LIMES_TEST_DOCEXAMPLE_H
#define LIMES_TEST_DOCEXAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* Empties the buffer. */
void doc_reset(void);
/* Appends printf-style text; fails the test when the buffer (64 KiB) is full. */
void doc_emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Appends "label (N bytes):" then the bytes in hex, 32 a line, indented by two spaces. */
void doc_hexblock(const char *label, const uint8_t *p, size_t n);
/* What was emitted since the last reset; owned by this module. */
const char *doc_text(void);
/* Fails the test unless docs/protocol.md holds what was emitted, naming
 * `what` (the example); prints it first when LIMES_PRINT_VECTOR is set. */
void doc_check_in_protocol(const char *what);

#endif
