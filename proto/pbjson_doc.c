/*
 * A parsed JSON document whose every jansson node lives in one arena.
 *
 * jansson allocates each value, each object's hash buckets and each key on
 * its own (and frees the lexer's copies of keys as it goes): a batch of 200
 * messages is ~10,000 malloc/free pairs on the way in and as many on the
 * way out (docs/benchmarks.md, "jansson's allocations in an arena"). Here
 * the parse carves them from a bump arena (pbjson_arena.c) and the document
 * goes with the arena in a handful of free() calls.
 *
 * jansson's allocator hooks are process-wide, so they are installed once,
 * before main, and behave exactly as malloc/free except on a thread that is
 * inside pbjson_doc_parse: the arena is thread-local and set only while
 * json_loadb runs. On that thread, during that call, every allocation jansson
 * makes is the document's and every free it makes is of something it
 * allocated in the same call (a key copied into its object, a grown lexer
 * buffer, a partial tree on error), so the free is a no-op. Every other
 * json_* call, on any thread (the CLI, json_dumps results that callers
 * free(), documents built by hand), still gets plain malloc and free.
 *
 * The one rule this needs: an arena document is read-only, and its nodes
 * never reach jansson's free later (json_decref, json_object_set or _del
 * on it, one of its nodes set into another document). pbjson_doc_root
 * hands out a const pointer, which keeps the root out of jansson's
 * changing calls; the children jansson's getters return are not const, so
 * past the root the rule rests on the callers: the one user,
 * api_post_parse, and the mapper under it only read (get, iterate, borrow
 * strings until pbjson_doc_free). A caller that needs a node elsewhere
 * takes json_deep_copy of it, which is plain jansson. A break of the rule
 * is a free of an address malloc never gave: ASan (the unit and API tests
 * under tests/run.sh) and glibc both stop on it.
 */
#include "pbjson_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

struct pbjson_doc {
	json_t *root;
	struct pbjson_arena arena;
};

/* The arena of the pbjson_doc_parse running on this thread, else NULL. */
static _Thread_local struct pbjson_arena *parsing;

static void *doc_malloc(size_t size)
{
	struct pbjson_arena *a = parsing;

	return a ? a->allocator.alloc(a, size) : malloc(size);
}

static void doc_free(void *p)
{
	if (!parsing)
		free(p);
}

/* Before main, so before any thread or any jansson allocation exists: a
 * pointer malloc'd before the hooks would otherwise be freed through them
 * (harmless here as well, since outside a parse they are malloc/free). */
__attribute__((constructor)) static void install_hooks(void)
{
	json_set_alloc_funcs(doc_malloc, doc_free);
}

int pbjson_doc_parse(const char *text, size_t len, struct pbjson_doc **out, struct pbjson_error *err)
{
	struct pbjson_error scratch;
	struct pbjson_doc *doc;
	json_error_t jerr;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	doc = malloc(sizeof(*doc));
	if (doc == NULL) {
		err->code = PBJSON_INVALID_JSON;
		snprintf(err->message, sizeof(err->message), "out of memory");
		return LIMES_E_NOMEM;
	}
	pbjson_arena_init(&doc->arena);
	parsing = &doc->arena;
	doc->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	parsing = NULL;
	if (doc->root != NULL) {
		*out = doc;
		return 0;
	}
	pbjson_arena_release(&doc->arena); /* the partial tree was in it */
	free(doc);
	return pbjson_parse_failed(err, &jerr);
}

const json_t *pbjson_doc_root(const struct pbjson_doc *doc)
{
	return doc ? doc->root : NULL;
}

void pbjson_doc_free(struct pbjson_doc **doc)
{
	if (doc == NULL || *doc == NULL)
		return;
	pbjson_arena_release(&(*doc)->arena); /* every node; no json_decref */
	free(*doc);
	*doc = NULL;
}
