/*
 * arena.h — a scratch allocator for the CRDT core: many allocations, one free.
 *
 * Decoded and parsed states borrow memory (strings with escapes, entry
 * arrays) that the core never frees one by one.  The bridge does each piece
 * of CRDT work with a fresh arena and keeps only encoded bytes afterwards.
 */
#ifndef BRIDGE_ARENA_H
#define BRIDGE_ARENA_H

#include "lk_alloc.h"

typedef struct arena arena;

arena	   *arena_new(void);
void		arena_free(arena *a);

/* A copy of s[0..n) (NUL-terminated) in a: parsed states borrow their input. */
char	   *arena_strndup(arena *a, const char *s, size_t n);

/* The lk_alloc that allocates from a (its free is a no-op). */
const lk_alloc *arena_alloc(arena *a);

#endif
