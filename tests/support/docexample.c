/*
 * The worked examples' text buffer (docexample.h).
 */
#include "support/docexample.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char text[65536];
static size_t text_n;

void doc_reset(void)
{
	text_n = 0;
	text[0] = '\0';
}

void doc_emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(text + text_n, sizeof(text) - text_n, fmt, ap);
	va_end(ap);
	cr_assert(ge(int, n, 0));
	text_n += (size_t)n;
	cr_assert(lt(sz, text_n, sizeof(text)), "the worked example is longer than its buffer");
}

void doc_hexblock(const char *label, const uint8_t *p, size_t n)
{
	doc_emit("%s (%zu bytes):\n", label, n);
	for (size_t i = 0; i < n; i += 32) {
		doc_emit("  ");
		for (size_t j = i; j < n && j < i + 32; j++)
			doc_emit("%02x", p[j]);
		doc_emit("\n");
	}
}

const char *doc_text(void)
{
	return text;
}

void doc_check_in_protocol(const char *what)
{
	static char doc[1 << 20];
	if (getenv("LIMES_PRINT_VECTOR"))
		fputs(text, stdout);
	FILE *f = fopen(LIMES_SOURCE_DIR "/docs/protocol.md", "rb");
	cr_assert(ne(ptr, f, NULL));
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	cr_assert(ne(ptr, strstr(doc, text), NULL),
		  "docs/protocol.md does not hold the %s example; regenerate with LIMES_PRINT_VECTOR=1", what);
}
