/*
 * arena.c — bump allocation in chained blocks.
 */
#include "arena.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define BLOCK 16384

/*
 * Freed arenas with their first block, kept for the next arena_new: the
 * bridge makes one per change, and freeing a 16 kB block next to the top of
 * the heap makes glibc consolidate its fast bins each time (a profile under
 * a stream of WAL changes showed malloc_consolidate and its unlinking at a
 * tenth of the bridge's CPU).  The bridge is one thread.  Not under
 * AddressSanitizer, which then catches a use of an arena's memory after
 * arena_free (unless ARENA_SPARES says how many: test/unit/test_arena.c).
 */
#if defined(ARENA_SPARES)
#define SPARES ARENA_SPARES
#elif defined(__SANITIZE_ADDRESS__)
#define SPARES 0
#else
#define SPARES 4
#endif

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
	struct arena *next_spare;
};

static arena *spares;
static int	nspares;

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
	arena	   *a = spares;

	if (a)
	{
		spares = a->next_spare;
		nspares--;
		return a;
	}
	a = xmalloc(sizeof(arena));
	a->alloc.alloc = arena_take;
	a->alloc.free = arena_give;
	a->alloc.ctx = a;
	a->head = NULL;
	return a;
}

void
arena_free(arena *a)
{
	bool		keep = nspares < SPARES;
	block	   *b = a->head;

	/* a spare keeps its first block (the chain's last), emptied, when that is a standard one */
	while (b)
	{
		block	   *next = b->next;

		if (keep && !next && b->size == BLOCK)
			break;
		free(b);
		b = next;
	}
	if (!keep)
	{
		free(a);
		return;
	}
	a->head = b;
	if (b)
		b->used = 0;
	a->next_spare = spares;
	spares = a;
	nspares++;
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
