/*
 * The mapper's bump allocator: one message's pieces (sub-messages, repeated
 * arrays, strings) carved out of a block held in the arena itself, then out
 * of malloc'd blocks when that is full, and all released together. It backs
 * protobuf-c's ProtobufCAllocator, so the same arena serves the JSON mapper
 * and protobuf_c_message_unpack. Owns only its overflow blocks.
 */
#include "pbjson_impl.h"

#include <stdint.h>
#include <stdlib.h>

#define ALIGN 16u
#define BLOCK_MIN 16384u

struct pbjson_arena_block {
	struct pbjson_arena_block *prev;
	_Alignas(16) char data[];
};

static void *arena_alloc(void *data, size_t size)
{
	struct pbjson_arena *a = data;
	size_t need = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);

	if (size == 0)
		need = ALIGN; /* protobuf-c may ask for 0 bytes and expect a pointer */
	if (need < size)
		return NULL; /* wrapped */
	if ((size_t)(a->end - a->next) < need) {
		size_t cap = need > BLOCK_MIN ? need : BLOCK_MIN;
		struct pbjson_arena_block *b;

		if (cap > SIZE_MAX - sizeof(*b) || (b = malloc(sizeof(*b) + cap)) == NULL)
			return NULL;
		b->prev = a->blocks;
		a->blocks = b;
		a->next = b->data;
		a->end = b->data + cap;
	}
	void *p = a->next;
	a->next += need;
	return p;
}

/* Pieces go with the whole arena, never one by one. */
static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

void pbjson_arena_init(struct pbjson_arena *a)
{
	a->allocator.alloc = arena_alloc;
	a->allocator.free = arena_free;
	a->allocator.allocator_data = a;
	a->blocks = NULL;
	a->next = a->first;
	a->end = a->first + sizeof(a->first);
}

void pbjson_arena_release(struct pbjson_arena *a)
{
	while (a->blocks) {
		struct pbjson_arena_block *prev = a->blocks->prev;
		free(a->blocks);
		a->blocks = prev;
	}
	a->next = a->first;
	a->end = a->first + sizeof(a->first);
}
