/*
 * gcounter.h — the grow-only counter: a map node id → count (1 .. 2^63-1).
 *
 * Value is the sum; merge takes the per-node maximum; an increment raises the
 * caller's own entry.  Entries are kept sorted by node id (lk_str_cmp) with no
 * zero counts, which makes the encoding canonical.
 *
 * Ownership: the entry array belongs to the lk_gcounter (free it with
 * lk_gcounter_free); node ids are borrowed from whatever the state was
 * decoded, parsed or built from, except in an accumulator (lk_gcounter_acc).
 */
#ifndef LK_GCOUNTER_H
#define LK_GCOUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include "lk_alloc.h"
#include "lk_buf.h"
#include "lk_error.h"
#include "lk_json.h"
#include "lk_str.h"

typedef struct lk_gc_entry
{
	lk_str		node;
	uint64_t	count;
} lk_gc_entry;

typedef struct lk_gcounter
{
	uint32_t	n;
	uint32_t	cap;
	lk_gc_entry *e;
} lk_gcounter;

void		lk_gcounter_init(lk_gcounter *gc);
void		lk_gcounter_free(const lk_alloc *a, lk_gcounter *gc);

/* Binary: the whole value (format byte + body). Decoding validates everything. */
lk_code		lk_gcounter_decode(const uint8_t *buf, size_t len, const lk_alloc *a,
							   lk_gcounter *out, lk_error *err);
lk_code		lk_gcounter_encode(const lk_gcounter *gc, lk_buf *b, lk_error *err);

/* The body alone, for the pncounter which holds two. */
lk_code		lk_gcounter_decode_body(lk_reader *r, const char *type_name, const lk_alloc *a,
									lk_gcounter *out, lk_error *err);
void		lk_gcounter_encode_body(const lk_gcounter *gc, lk_buf *b);

/* Text: the canonical JSON object {"node":count,...}. */
lk_code		lk_gcounter_parse(const char *s, size_t len, const lk_alloc *a,
							  lk_gcounter *out, lk_error *err);
lk_code		lk_gcounter_parse_json(lk_json *j, lk_gcounter *out);
void		lk_gcounter_to_json(const lk_gcounter *gc, lk_buf *b);

/* Join; out is a new state (node ids borrowed from a and b). */
lk_code		lk_gcounter_merge(const lk_gcounter *a, const lk_gcounter *b,
							  const lk_alloc *al, lk_gcounter *out, lk_error *err);

/* The entries of newer that raise old: merge(old, delta) = merge(old, newer). */
void		lk_gcounter_delta(const lk_gcounter *old, const lk_gcounter *newer,
							  const lk_alloc *al, lk_gcounter *out);

/* a ≤ b in the lattice: every entry of a is at most b's. */
bool		lk_gcounter_leq(const lk_gcounter *a, const lk_gcounter *b);

/*
 * Raise node's entry by `by` (> 0) in place; node is borrowed.  Refuses
 * (LK_ERR_RANGE) an increment that would take the entry, or the counter's
 * total, past 2^63-1: a write may not make a counter unreadable as a bigint
 * (a merge may: lk_gcounter_sum reads every state).
 */
lk_code		lk_gcounter_increment(lk_gcounter *gc, lk_str node, int64_t by,
								  const lk_alloc *a, lk_error *err);

/*
 * The same for a counter inside another type (a pncounter's increments or
 * decrements): msg is the error of a total past 2^63-1 ("pncounter total out
 * of range") and what names what it sums ("increments").
 */
lk_code		lk_gcounter_raise(lk_gcounter *gc, lk_str node, int64_t by, const char *msg,
							  const char *what, const lk_alloc *a, lk_error *err);

/* Sum of the counts, which needs 128 bits before the range check. */
__int128	lk_gcounter_sum(const lk_gcounter *gc);
lk_code		lk_gcounter_value(const lk_gcounter *gc, int64_t *out, lk_error *err);

/*
 * The aggregate accumulator (merge_agg): the join of every state absorbed so
 * far, which owns copies of its node ids (made through the allocator), so it
 * outlives its inputs.  gc holds the entries in node order.  A node gc lacks
 * waits in `pending` (unsorted, possibly repeated) until there are as many
 * pending entries as gc has, and is then sorted and merged in.  So absorbing
 * costs O(entries · log nodes) in all, whatever the node sets of the inputs
 * (merging every input into the sorted array cost O(inputs × nodes)); an
 * input naming exactly gc's nodes is merged in place with no allocation,
 * comparing its entries with the accumulator's copies of the ids, which are
 * kept as the encoding has them (the length byte just before node.p).
 *
 * Read acc->gc only after lk_gcounter_acc_finish.  Inputs of absorb_body and
 * absorb_value must be trusted (stored, already validated) values; they are
 * only checked enough not to read past their end.  The node limit is checked
 * when pending entries are merged in: an error then leaves acc freeable.
 */
typedef struct lk_gcounter_acc
{
	lk_gcounter gc;
	uint32_t	npending;
	uint32_t	cap_pending;
	lk_gc_entry *pending;
} lk_gcounter_acc;

void		lk_gcounter_acc_init(lk_gcounter_acc *acc);
void		lk_gcounter_acc_free(const lk_alloc *a, lk_gcounter_acc *acc);
lk_code		lk_gcounter_acc_absorb_body(lk_gcounter_acc *acc, lk_reader *r, const char *type_name,
										const lk_alloc *a, lk_error *err);
lk_code		lk_gcounter_acc_absorb_value(lk_gcounter_acc *acc, const uint8_t *buf, size_t len,
										 const lk_alloc *a, lk_error *err);
/* A decoded state, or another accumulator (left unchanged). */
lk_code		lk_gcounter_acc_absorb(lk_gcounter_acc *acc, const lk_gcounter *in,
								   const lk_alloc *a, lk_error *err);
lk_code		lk_gcounter_acc_absorb_acc(lk_gcounter_acc *acc, const lk_gcounter_acc *in,
									   const lk_alloc *a, lk_error *err);
/* Merge the pending entries in: acc->gc is then the join. */
lk_code		lk_gcounter_acc_finish(lk_gcounter_acc *acc, const lk_alloc *a, lk_error *err);

#endif
