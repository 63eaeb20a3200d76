/*
 * Documents parsed into an arena (proto/pbjson_doc.c): they read back
 * equal to plain jansson's, map to the same packed bodies, leak nothing
 * when refused, and jansson's process-wide allocator hooks leave every
 * other json_* use (built documents, json_dumps results freed with free(),
 * copies taken out of an arena document) as it was, on any thread. Run
 * under ASan (tests/run.sh) any wrong free or leak fails the suite.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
/* ASan's own count (gcc ships no header for it; its runtime has it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "proto/err.h"
#include "proto/pbjson.h"
#include "proto/schema.h"

TestSuite(pbjson_doc, .timeout = 60);

/* docs/examples/NAME.json, whole; the caller's (free). */
static char *example(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/docs/examples/%s.json", LIMES_SOURCE_DIR, name);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s", path);
	cr_assert(eq(int, fseek(f, 0, SEEK_END), 0));
	long n = ftell(f);
	cr_assert(n > 0);
	rewind(f);
	char *text = malloc((size_t)n + 1);
	cr_assert_not_null(text);
	cr_assert(eq(sz, fread(text, 1, (size_t)n, f), (size_t)n));
	text[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return text;
}

/* Text of a POST /v1/messages batch of n copies of the alert example (the
 * agent's large case: hundreds of objects, rehashed tables); the caller's (free). */
static char *alert_batch(size_t n)
{
	size_t len;
	char *alert = example("alert", &len);
	json_t *body = json_loads(alert, 0, NULL), *arr = json_array();
	cr_assert_not_null(body);
	for (size_t i = 0; i < n; i++)
		cr_assert(eq(int, json_array_append_new(arr, json_pack("{s:[s], s:s, s:s, s:O}", "to", "RS-MUP", "type",
									  "alert", "priority", "urgent", "body", body)),
			     0));
	char *text = json_dumps(arr, JSON_COMPACT);
	cr_assert_not_null(text);
	json_decref(arr);
	json_decref(body);
	free(alert);
	return text;
}

/* Bytes the process has malloc'd and not freed (ASan keeps its own count). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#endif
}

/* Parses text both ways and checks the trees and their dumps are equal. */
static void same_as_plain(const char *text, size_t len)
{
	struct pbjson_error err;
	struct pbjson_doc *doc = NULL;
	json_error_t jerr;
	json_t *plain = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

	cr_assert_not_null(plain, "%s", jerr.text);
	cr_assert(eq(int, pbjson_doc_parse(text, len, &doc, &err), 0), "%s", err.message);
	const json_t *root = pbjson_doc_root(doc);
	cr_assert_not_null(root);
	cr_assert(json_equal(plain, root), "the arena document differs from jansson's");
	char *a = json_dumps(plain, JSON_COMPACT), *b = json_dumps(root, JSON_COMPACT);
	cr_assert(eq(str, a, b)); /* same key order as well */
	free(a);                  /* json_dumps' result is plain malloc'd memory */
	free(b);
	json_decref(plain);
	pbjson_doc_free(&doc);
	cr_assert_null(doc);
}

Test(pbjson_doc, reads_back_equal_to_plain_jansson)
{
	static const char *const names[] = { "alert", "alert_hit_report", "control_result", "passenger_manifest",
					     "pre_arrival", "readmission_reply", "readmission_request" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len;
		char *text = example(names[i], &len);
		same_as_plain(text, len);
		free(text);
	}
	char *batch = alert_batch(200);
	same_as_plain(batch, strlen(batch));
	free(batch);
	/* escapes, numbers at the edges, empty containers, a key and a string
	 * longer than the lexer's first buffers, an object of 300 keys */
	const char *odd = "{\"e\":\"a\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\",\"n\":[0,-0,9223372036854775807,"
			  "-9223372036854775808,1.5e300,-2.5e-300,true,false,null],\"o\":{},\"a\":[[],[{}]]}";
	same_as_plain(odd, strlen(odd));
	json_t *wide = json_object();
	char key[600];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	cr_assert(eq(int, json_object_set_new(wide, key, json_string(key)), 0));
	for (int i = 0; i < 300; i++) {
		char k[16];
		snprintf(k, sizeof(k), "f%d", i);
		cr_assert(eq(int, json_object_set_new(wide, k, json_integer(i)), 0));
	}
	char *text = json_dumps(wide, 0);
	json_decref(wide);
	same_as_plain(text, strlen(text));
	free(text);
}

Test(pbjson_doc, maps_to_the_same_packed_body_as_plain_jansson)
{
	static const char *const names[] = { "alert", "passenger_manifest", "pre_arrival", "control_result" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len, plain_len = 0, arena_len = 0;
		char *text = example(names[i], &len);
		int type = schema_type_from_name(names[i]);
		struct pbjson_error err;
		struct pbjson_doc *doc = NULL;
		uint8_t *plain_body = NULL, *arena_body = NULL;
		json_t *plain = json_loadb(text, len, 0, NULL);

		cr_assert(type >= 0, "%s", names[i]);
		cr_assert_not_null(plain);
		cr_assert(eq(int, schema_body_from_json(type, plain, "body", &plain_body, &plain_len, &err), 0),
			  "%s: %s", names[i], err.message);
		cr_assert(eq(int, pbjson_doc_parse(text, len, &doc, &err), 0));
		cr_assert(eq(int, schema_body_from_json(type, pbjson_doc_root(doc), "body", &arena_body, &arena_len, &err),
			     0));
		cr_assert(eq(sz, arena_len, plain_len), "%s", names[i]);
		cr_assert(eq(int, memcmp(arena_body, plain_body, plain_len), 0), "%s", names[i]);
		free(plain_body);
		free(arena_body);
		json_decref(plain);
		pbjson_doc_free(&doc);
		free(text);
	}
}

Test(pbjson_doc, refuses_as_pbjson_parse_does_and_leaks_nothing)
{
	char *batch = alert_batch(50);
	size_t n = strlen(batch);
	static const char dup_end[] = ",{\"type\":\"alert\",\"type\":\"alert\"}]";
	char *dup = malloc(n + sizeof(dup_end));
	char *tail = strdup(batch);
	cr_assert(dup && tail);
	/* a duplicate key after hundreds of nodes */
	memcpy(dup, batch, n - 1);
	memcpy(dup + n - 1, dup_end, sizeof(dup_end));
	tail[n - 1] = ','; /* the closing bracket gone */
	const char *bad[] = { dup, tail, "{\"a\":[1,2,", "[1,2]x", "{\"a\":\"\xc3\x28\"}", "", "{\"a\":1,\"a\":2}",
			      "\"text\"", "{\"a\":\"\\ud800\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pbjson_error want, got;
		struct pbjson_doc *doc = (struct pbjson_doc *)&want; /* must come back NULL */
		json_t *plain = (json_t *)&want;
		int rc_plain = pbjson_parse(bad[i], strlen(bad[i]), &plain, &want);
		int rc = pbjson_doc_parse(bad[i], strlen(bad[i]), &doc, &got);
		cr_assert(eq(int, rc_plain, LIMES_E_SCHEMA), "case %zu", i);
		cr_assert(eq(int, rc, rc_plain), "case %zu", i);
		cr_assert_null(doc);
		cr_assert_null(plain);
		cr_assert(eq(int, got.code, PBJSON_INVALID_JSON));
		cr_assert(eq(str, got.message, want.message), "case %zu", i);
		cr_assert_null(pbjson_doc_root(doc));
	}
	pbjson_doc_free(NULL);
	free(dup);
	free(tail);
	free(batch);
}

Test(pbjson_doc, copies_out_of_an_arena_document_live_on_their_own)
{
	size_t len;
	char *text = example("alert", &len);
	struct pbjson_doc *doc = NULL;
	json_t *outside = json_object(); /* built before the parse: plain malloc */
	cr_assert(eq(int, json_object_set_new(outside, "before", json_string("x")), 0));
	cr_assert(eq(int, pbjson_doc_parse(text, len, &doc, NULL), 0));

	/* the way to mix: a deep copy, taken outside the parse, is plain jansson */
	json_t *copy = json_deep_copy(pbjson_doc_root(doc));
	cr_assert_not_null(copy);
	cr_assert(eq(int, json_object_set_new(outside, "alert", copy), 0));
	cr_assert(eq(int, json_object_set_new(copy, "added", json_integer(7)), 0)); /* grows its table */
	cr_assert(eq(int, json_object_del(copy, "alert_id"), 0));
	/* strings are copied by value, never by node (json_pack's O or o would take the node) */
	json_t *built = json_pack("{s:s}", "copied", json_string_value(json_object_get(pbjson_doc_root(doc), "category")));
	cr_assert_not_null(built);
	pbjson_doc_free(&doc); /* the arena goes; nothing outside points into it */
	free(text);

	cr_assert(eq(int, json_integer_value(json_object_get(json_object_get(outside, "alert"), "added")), 7));
	cr_assert_null(json_object_get(json_object_get(outside, "alert"), "alert_id"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(built, "copied")), "stolen_vehicle"));
	char *dumped = json_dumps(outside, JSON_SORT_KEYS);
	cr_assert_not_null(dumped);
	cr_assert_not_null(strstr(dumped, "\"before\": \"x\""));
	free(dumped);
	json_decref(built);
	json_decref(outside);
}

/* Worker threads: each parses batches into arenas while others use plain
 * jansson at the same time; both must see exactly what they built. */
struct worker {
	const char *text;
	const char *want; /* the compact dump every parse must give */
	int rounds;
	bool arena;
	int bad;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->rounds; i++) {
		char *dump = NULL;
		if (w->arena) {
			struct pbjson_doc *doc = NULL;
			if (pbjson_doc_parse(w->text, strlen(w->text), &doc, NULL) == 0)
				dump = json_dumps(pbjson_doc_root(doc), JSON_COMPACT);
			pbjson_doc_free(&doc);
		} else {
			json_t *plain = json_loads(w->text, 0, NULL);
			json_t *extra = json_pack("{s:o}", "doc", plain); /* grows, frees, builds */
			dump = json_dumps(json_object_get(extra, "doc"), JSON_COMPACT);
			json_decref(extra);
		}
		if (!dump || strcmp(dump, w->want) != 0)
			w->bad++;
		free(dump);
	}
	return NULL;
}

Test(pbjson_doc, parses_on_worker_threads_beside_plain_jansson)
{
	char *text = alert_batch(40);
	json_t *plain = json_loads(text, 0, NULL);
	char *want = json_dumps(plain, JSON_COMPACT);
	json_decref(plain);
	struct worker w[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .text = text, .want = want, .rounds = 60, .arena = i % 2 == 0 };
		cr_assert(eq(int, pthread_create(&t[i], NULL, work, &w[i]), 0));
	}
	struct worker self = { .text = text, .want = want, .rounds = 30, .arena = false };
	work(&self); /* the main thread too, plain */
	for (int i = 0; i < 4; i++) {
		cr_assert(eq(int, pthread_join(t[i], NULL), 0));
		cr_assert(eq(int, w[i].bad, 0), "thread %d (%s) read back %d wrong documents", i,
			  w[i].arena ? "arena" : "plain", w[i].bad);
	}
	cr_assert(eq(int, self.bad, 0));
	free(want);
	free(text);
}

/* The document goes with its arena, no json_decref: were a node allocated
 * outside the arena, each round would leave the whole document behind. */
Test(pbjson_doc, a_freed_or_refused_document_leaves_the_heap_as_it_was)
{
	char *batch = alert_batch(200);
	size_t n = strlen(batch);
	struct pbjson_doc *doc = NULL;

	cr_assert(eq(int, pbjson_doc_parse(batch, n, &doc, NULL), 0)); /* warm: jansson's seed, caches */
	pbjson_doc_free(&doc);
	size_t before = heap_in_use();
	for (int i = 0; i < 20; i++) {
		cr_assert(eq(int, pbjson_doc_parse(batch, n, &doc, NULL), 0));
		pbjson_doc_free(&doc);
		cr_assert(eq(int, pbjson_doc_parse(batch, n - 1, &doc, NULL), LIMES_E_SCHEMA)); /* no closing ] */
		cr_assert_null(doc);
	}
	size_t after = heap_in_use();
	cr_assert(after <= before + 65536, "%zu bytes more in use after 20 documents of %zu bytes", after - before, n);
	free(batch);
}
