/*
 * arena.c — bump allocation in chained blocks.
 */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define BLOCK 16384

typedef struct block
{
	struct block *next;
	size_t		used,
				size;
	_Alignas(16) unsigned char data[];
} block;

struct arena
{
	lk_alloc	alloc;
	block	   *head;
};

static void *
arena_take(void *ctx, size_t size)
{
	arena	   *a = ctx;
	block	   *b = a->head;

	size = (size + 15) & ~(size_t) 15;
	if (!b || b->size - b->used < size)
	{
		size_t		n = size > BLOCK ? size : BLOCK;

		b = xmalloc(sizeof(block) + n);
		b->size = n;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	b->used += size;
	return b->data + b->used - size;
}

static void
arena_give(void *ctx, void *ptr)
{
	(void) ctx;
	(void) ptr;
}

arena *
arena_new(void)
{
	arena	   *a = xmalloc(sizeof(arena));

	a->alloc.alloc = arena_take;
	a->alloc.free = arena_give;
	a->alloc.ctx = a;
	a->head = NULL;
	return a;
}

void
arena_free(arena *a)
{
	block	   *b = a->head;

	while (b)
	{
		block	   *next = b->next;

		free(b);
		b = next;
	}
	free(a);
}

const lk_alloc *
arena_alloc(arena *a)
{
	return &a->alloc;
}

char *
arena_strndup(arena *a, const char *s, size_t n)
{
	char	   *p = arena_take(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
