/*
 * bare_state.h — the lk_state dispatch over a type's own struct.
 *
 * The unit laws and the fuzz targets hold states as opaque blobs of one
 * type's struct (lk_gcounter, ...), because each suite's examples and
 * operations work on that struct directly.  Rather than have every suite and
 * target re-wrap the type's functions, these helpers lend a bare state to
 * lk_state (src/crdt/lk_state.h) for one call, so the dispatch the hosts use
 * is also the one under test.
 *
 * Lending is a shallow copy in and out of lk_state's union: the structs hold
 * counts and pointers into their own allocations, never into themselves.  An
 * output is copied in before the call and back after it, whatever the
 * result, so a failed call leaves in *out exactly what the type's own
 * function would have (the unit tests check what a failed decode leaves).
 *
 * Everything is static inline: each user passes its own allocator, the unit
 * tests' arena or the fuzz targets'.
 */
#ifndef LK_TEST_BARE_STATE_H
#define LK_TEST_BARE_STATE_H

#include <string.h>

#include "lk_state.h"

/* sizeof the struct of a kind; lk_state keeps it in its union */
static inline size_t
bare_size(lk_kind kind)
{
	switch (kind)
	{
		case LK_GCOUNTER:
			return sizeof(lk_gcounter);
		case LK_PNCOUNTER:
			return sizeof(lk_pncounter);
		case LK_ORSET:
			return sizeof(lk_orset);
		case LK_LWWREG:
			return sizeof(lk_lwwreg);
	}
	return 0;
}

static inline lk_state
bare_lend(lk_kind kind, const void *s)
{
	lk_state	st;

	st.kind = kind;
	memcpy(&st.u, s, bare_size(kind));
	return st;
}

static inline void
bare_return(const lk_state *st, void *out)
{
	memcpy(out, &st->u, bare_size(st->kind));
}

static inline void
bare_init(lk_kind kind, void *s)
{
	lk_state	st;

	lk_state_init(&st, kind);
	bare_return(&st, s);
}

static inline void
bare_free(lk_kind kind, const lk_alloc *a, void *s)
{
	lk_state	st = bare_lend(kind, s);

	lk_state_free(a, &st);
	bare_return(&st, s);
}

static inline lk_code
bare_decode(lk_kind kind, const uint8_t *p, size_t n, const lk_alloc *a, void *out,
			lk_error *err)
{
	lk_state	st = bare_lend(kind, out);
	lk_code		rc = lk_state_decode(p, n, kind, a, &st, err);

	bare_return(&st, out);
	return rc;
}

static inline lk_code
bare_encode(lk_kind kind, const void *s, lk_buf *b, lk_error *err)
{
	lk_state	st = bare_lend(kind, s);

	return lk_state_encode(&st, b, err);
}

static inline lk_code
bare_parse(lk_kind kind, const char *p, size_t n, const lk_alloc *a, void *out, lk_error *err)
{
	lk_state	st = bare_lend(kind, out);
	lk_code		rc = lk_state_parse(kind, p, n, a, &st, err);

	bare_return(&st, out);
	return rc;
}

static inline void
bare_to_json(lk_kind kind, const void *s, lk_buf *b)
{
	lk_state	st = bare_lend(kind, s);

	lk_state_to_json(&st, b);
}

static inline lk_code
bare_merge(lk_kind kind, const void *x, const void *y, const lk_alloc *a, void *out,
		   lk_error *err)
{
	lk_state	sx = bare_lend(kind, x),
				sy = bare_lend(kind, y),
				so = bare_lend(kind, out);
	lk_code		rc = lk_state_merge(&sx, &sy, a, &so, err);

	bare_return(&so, out);
	return rc;
}

static inline lk_code
bare_delta(lk_kind kind, const void *old, const void *newer, const lk_alloc *a, void *out,
		   lk_error *err)
{
	lk_state	so = bare_lend(kind, old),
				sn = bare_lend(kind, newer),
				sd = bare_lend(kind, out);
	lk_code		rc = lk_state_delta(&so, &sn, a, &sd, err);

	bare_return(&sd, out);
	return rc;
}

static inline lk_code
bare_leq(lk_kind kind, const void *x, const void *y, const lk_alloc *a, bool *out,
		 lk_error *err)
{
	lk_state	sx = bare_lend(kind, x),
				sy = bare_lend(kind, y);

	return lk_state_leq(&sx, &sy, a, out, err);
}

#endif
