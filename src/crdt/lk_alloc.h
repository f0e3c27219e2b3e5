/*
 * lk_alloc.h — the allocator interface of the CRDT core.
 *
 * The core never calls malloc or palloc itself: every allocation goes through
 * an lk_alloc, so the same code runs inside PostgreSQL (palloc in the current
 * memory context), inside the bridge (malloc) and under fuzzers and unit tests.
 *
 * Contract: alloc never returns NULL.  An allocator that cannot satisfy a
 * request must not return: PostgreSQL's raises an ERROR (longjmp), the malloc
 * one aborts.  The core therefore has no out-of-memory paths.
 */
#ifndef LK_ALLOC_H
#define LK_ALLOC_H

#include <stddef.h>

typedef struct lk_alloc
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*free) (void *ctx, void *ptr);
	void	   *ctx;
} lk_alloc;

static inline void *
lk_malloc(const lk_alloc *a, size_t size)
{
	return a->alloc(a->ctx, size ? size : 1);
}

static inline void
lk_free(const lk_alloc *a, void *ptr)
{
	if (ptr)
		a->free(a->ctx, ptr);
}

/* The malloc-backed allocator used by the bridge, the tests and the fuzzers. */
extern const lk_alloc lk_std_alloc;

#endif
