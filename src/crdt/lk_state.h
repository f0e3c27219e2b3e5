/*
 * lk_state.h — any CRDT state, tagged by its kind.
 *
 * The hosts mostly treat the four types alike (decode, encode, text, merge,
 * delta, order).  This one dispatch point lets src/pg bind a single fmgr
 * function to all four SQL types, and lets the bridge handle a state whose
 * kind it learns from the format byte.
 */
#ifndef LK_STATE_H
#define LK_STATE_H

#include "gcounter.h"
#include "lk_format.h"
#include "lwwreg.h"
#include "orset.h"
#include "pncounter.h"

typedef struct lk_state
{
	lk_kind		kind;
	union
	{
		lk_gcounter gc;
		lk_pncounter pn;
		lk_orset	os;
		lk_lwwreg	lw;
	}			u;
} lk_state;

/* "gcounter", "pncounter", "orset", "lwwreg"; NULL for anything else. */
const char *lk_kind_name(lk_kind kind);

/* The empty state (bottom of the lattice) of a kind. */
void		lk_state_init(lk_state *s, lk_kind kind);
void		lk_state_free(const lk_alloc *a, lk_state *s);

/*
 * Decode a whole binary value.  With kind 0 the kind is taken from the
 * format byte; otherwise a value of another kind is an error.
 */
lk_code		lk_state_decode(const uint8_t *buf, size_t len, lk_kind kind,
							const lk_alloc *a, lk_state *out, lk_error *err);
lk_code		lk_state_encode(const lk_state *s, lk_buf *b, lk_error *err);

lk_code		lk_state_parse(lk_kind kind, const char *text, size_t len,
						   const lk_alloc *a, lk_state *out, lk_error *err);
void		lk_state_to_json(const lk_state *s, lk_buf *b);

/* Both operands must be of one kind (LK_ERR_VALUE otherwise). */
lk_code		lk_state_merge(const lk_state *x, const lk_state *y, const lk_alloc *a,
						   lk_state *out, lk_error *err);
lk_code		lk_state_delta(const lk_state *old, const lk_state *newer, const lk_alloc *a,
						   lk_state *out, lk_error *err);
lk_code		lk_state_leq(const lk_state *x, const lk_state *y, const lk_alloc *a,
						 bool *out, lk_error *err);

#endif
