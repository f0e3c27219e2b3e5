/*
 * pncounter.h — the positive-negative counter: two gcounters, P for
 * increments and N for decrements; value = sum(P) − sum(N).
 *
 * Every operation and law is the gcounter's, applied to both halves.
 * Ownership as in gcounter.h.
 */
#ifndef LK_PNCOUNTER_H
#define LK_PNCOUNTER_H

#include "gcounter.h"

typedef struct lk_pncounter
{
	lk_gcounter p;
	lk_gcounter n;
} lk_pncounter;

void		lk_pncounter_init(lk_pncounter *pn);
void		lk_pncounter_free(const lk_alloc *a, lk_pncounter *pn);

lk_code		lk_pncounter_decode(const uint8_t *buf, size_t len, const lk_alloc *a,
								lk_pncounter *out, lk_error *err);
lk_code		lk_pncounter_encode(const lk_pncounter *pn, lk_buf *b, lk_error *err);

/* Text: {"n":{...},"p":{...}}, either half omitted when empty. */
lk_code		lk_pncounter_parse(const char *s, size_t len, const lk_alloc *a,
							   lk_pncounter *out, lk_error *err);
void		lk_pncounter_to_json(const lk_pncounter *pn, lk_buf *b);

lk_code		lk_pncounter_merge(const lk_pncounter *a, const lk_pncounter *b,
							   const lk_alloc *al, lk_pncounter *out, lk_error *err);
void		lk_pncounter_delta(const lk_pncounter *old, const lk_pncounter *newer,
							   const lk_alloc *al, lk_pncounter *out);
bool		lk_pncounter_leq(const lk_pncounter *a, const lk_pncounter *b);

/* by > 0; an increment raises P, a decrement raises N. */
lk_code		lk_pncounter_increment(lk_pncounter *pn, lk_str node, int64_t by,
								   const lk_alloc *a, lk_error *err);
lk_code		lk_pncounter_decrement(lk_pncounter *pn, lk_str node, int64_t by,
								   const lk_alloc *a, lk_error *err);

lk_code		lk_pncounter_value(const lk_pncounter *pn, int64_t *out, lk_error *err);

/* The aggregate accumulator: one lk_gcounter_acc per half (see gcounter.h). */
typedef struct lk_pncounter_acc
{
	lk_gcounter_acc p;
	lk_gcounter_acc n;
} lk_pncounter_acc;

void		lk_pncounter_acc_init(lk_pncounter_acc *acc);
void		lk_pncounter_acc_free(const lk_alloc *a, lk_pncounter_acc *acc);
lk_code		lk_pncounter_acc_absorb_value(lk_pncounter_acc *acc, const uint8_t *buf, size_t len,
										  const lk_alloc *a, lk_error *err);
lk_code		lk_pncounter_acc_absorb(lk_pncounter_acc *acc, const lk_pncounter *in,
									const lk_alloc *a, lk_error *err);
lk_code		lk_pncounter_acc_absorb_acc(lk_pncounter_acc *acc, const lk_pncounter_acc *in,
										const lk_alloc *a, lk_error *err);
/* Merge the pending entries in; out borrows the halves of acc. */
lk_code		lk_pncounter_acc_finish(lk_pncounter_acc *acc, const lk_alloc *a,
									lk_pncounter *out, lk_error *err);

#endif
