/*
 * orset.h — the add-wins observed-remove set of text, delta-state and
 * without tombstones (Almeida, Shoker, Baquero, "Delta State Replicated Data
 * Types", 2018; the shape of riak_dt's ORSWOT).
 *
 * A state is a dot store, element → the dots (node, seq) of the adds that
 * put it there, and a causal context, the set of every dot this state has
 * seen.  An element is present while it has a dot.  Removing an element drops
 * its dots from the store; the context still holds them, which is what makes
 * a later merge with an older copy remove it there too, with no per-element
 * tombstone.  A concurrent add carries a dot the remover never saw, so it
 * survives: add wins.
 *
 * The context is stored per node as sorted, disjoint, non-adjacent ranges of
 * sequence numbers.  A version vector is the range [1, n]; the dot cloud is
 * every other range.  Ranges keep a delta's context small: a delta covering
 * dots 6..1000 of a node is one range, not a cloud of 995 dots.
 *
 * Invariants (checked by every decoder, kept by every constructor):
 *   - nodes strictly ascending by id, each with at least one range;
 *   - ranges: 1 ≤ lo ≤ hi ≤ 2^63−1, ascending, next.lo > prev.hi + 1;
 *   - elements strictly ascending, each with at least one dot;
 *   - an element's dots strictly ascending by (node index, seq), each in the context;
 *   - no dot held by two elements: a dot is one add of one element.
 *
 * Binary body (after the format byte, see lk_format.h), all integers varints:
 *   nnodes, then per node: len:u8, id[len], nranges, then per range
 *       (lo − 1, hi − lo) for the first, (lo − prev.hi − 2, hi − lo) after it
 *       (so every encodable sequence is sorted and disjoint by construction);
 *   nelems, then per element: len, bytes[len], ndots, then per dot: node index, seq.
 *
 * Ownership: the four arrays belong to the lk_orset; node ids and elements are
 * borrowed from the source buffer or argument.
 */
#ifndef LK_ORSET_H
#define LK_ORSET_H

#include <stdbool.h>
#include <stdint.h>

#include "lk_alloc.h"
#include "lk_buf.h"
#include "lk_error.h"
#include "lk_str.h"

typedef struct lk_range
{
	uint64_t	lo;
	uint64_t	hi;
} lk_range;

typedef struct lk_dot
{
	uint32_t	node;			/* index into the state's nodes */
	uint64_t	seq;
} lk_dot;

typedef struct lk_onode
{
	lk_str		id;
	uint32_t	r_off;			/* first range in the state's ranges */
	uint32_t	nr;
} lk_onode;

typedef struct lk_oelem
{
	lk_str		s;
	uint32_t	d_off;			/* first dot in the state's dots */
	uint32_t	nd;
} lk_oelem;

typedef struct lk_orset
{
	uint32_t	nnodes,
				cap_nodes;
	uint32_t	nranges,
				cap_ranges;
	uint32_t	nelems,
				cap_elems;
	uint32_t	ndots,
				cap_dots;
	lk_onode   *nodes;
	lk_range   *ranges;
	lk_oelem   *elems;
	lk_dot	   *dots;
} lk_orset;

void		lk_orset_init(lk_orset *s);
void		lk_orset_free(const lk_alloc *a, lk_orset *s);

lk_code		lk_orset_decode(const uint8_t *buf, size_t len, const lk_alloc *a,
							lk_orset *out, lk_error *err);
lk_code		lk_orset_encode(const lk_orset *s, lk_buf *b, lk_error *err);

/*
 * Text: {"c":{node:[[lo,hi],...],...},"e":{element:{node:[seq,...],...},...}},
 * either key omitted when empty.  Input may list ranges in any order,
 * overlapping or adjacent, and repeat dots: they are normalized.
 */
lk_code		lk_orset_parse(const char *s, size_t len, const lk_alloc *a,
						   lk_orset *out, lk_error *err);
void		lk_orset_to_json(const lk_orset *s, lk_buf *b);

lk_code		lk_orset_merge(const lk_orset *a, const lk_orset *b, const lk_alloc *al,
						   lk_orset *out, lk_error *err);

/*
 * The merge of two binary values (format byte and body), appended to out as
 * a binary value: the bytes encode(merge(decode(a), decode(b))) would give,
 * with the same checks of both inputs and the same errors (when both
 * inputs are bad, which one is reported may differ).  It reads the inputs
 * element by element and writes the result as it goes, so the memory it
 * touches is the inputs, the output and the two contexts, where decoding
 * both sides and merging them builds four arrays per state.  On an error
 * out->len is back where it was.
 */
lk_code		lk_orset_merge_encoded(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
								   const lk_alloc *al, lk_buf *out, lk_error *err);

/* The smallest d with merge(old, d) = merge(old, newer). */
lk_code		lk_orset_delta(const lk_orset *old, const lk_orset *newer, const lk_alloc *al,
						   lk_orset *out, lk_error *err);

bool		lk_orset_equal(const lk_orset *a, const lk_orset *b);

/* a ≤ b: merge(a, b) = b. */
lk_code		lk_orset_leq(const lk_orset *a, const lk_orset *b, const lk_alloc *al,
						 bool *out, lk_error *err);

/*
 * The delta of adding elem as node: the element with one new dot
 * (node, max seen seq of node + 1), and a context covering that dot and the
 * element's current dots, which the add supersedes.  Apply with merge.
 */
lk_code		lk_orset_add_delta(const lk_orset *s, lk_str elem, lk_str node,
							   const lk_alloc *al, lk_orset *delta, lk_error *err);

/* The delta of removing elem: an empty store, a context of the element's dots. */
lk_code		lk_orset_remove_delta(const lk_orset *s, lk_str elem,
								  const lk_alloc *al, lk_orset *delta, lk_error *err);

/* Index of elem, or -1. */
int64_t		lk_orset_find(const lk_orset *s, lk_str elem);

/* Size of the context: how many dots it covers (saturating), for tests and docs. */
uint64_t	lk_orset_context_dots(const lk_orset *s);

#endif
