/*
 * lk_alloc.c — the malloc-backed allocator.  Out of memory aborts, as the
 * contract in lk_alloc.h requires: callers have no recovery path to take.
 */
#include "lk_alloc.h"

#include <stdio.h>
#include <stdlib.h>

static void *
std_alloc(void *ctx, size_t size)
{
	void	   *p = malloc(size);

	(void) ctx;
	if (p == NULL)
	{
		fprintf(stderr, "laniakea: out of memory allocating %zu bytes\n", size);
		abort();
	}
	return p;
}

static void
std_free(void *ctx, void *ptr)
{
	(void) ctx;
	free(ptr);
}

const lk_alloc lk_std_alloc = {std_alloc, std_free, NULL};
