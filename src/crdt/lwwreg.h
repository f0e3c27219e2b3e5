/*
 * lwwreg.h — the last-writer-wins register of text.
 *
 * A state is either empty (the bottom of the lattice) or one write: a value,
 * the clock it was written at and the node id of its writer.  Merge keeps the
 * greater write in the order (clock, node id, value bytes): ties of the clock
 * are broken by the node id, then by the value's bytes (lk_str_cmp), so two
 * different writes never tie and merge is commutative, associative,
 * idempotent and deterministic.  The order is total, so the lattice is a
 * chain with the empty register below every write.
 *
 * The clock is a hybrid logical clock in microseconds since the Unix epoch
 * (lk_hlc below): a set takes max(wall clock, r's clock + 1), so it always
 * wins over the state it was applied to, and a writer's clock never goes
 * backwards even when its wall clock does.
 *
 * Invariants (checked by every decoder, kept by every constructor):
 *   - clock in 0 .. LK_CLOCK_MAX;
 *   - node a valid node id (lk_node_id_check);
 *   - value at most LK_VALUE_MAX bytes of UTF-8 with no NUL (lk_value_check).
 *
 * Binary body (after the format byte 0x14, see lk_format.h):
 *   tag:u8 — 0 for the empty register, which ends there; 1 for a write, then
 *   clock:varint, len:u8 (1..255), node[len], len:varint (0..LK_VALUE_MAX), value[len].
 *
 * Text: {} or {"c":<clock>,"n":"<node>","v":"<value>"}: all three keys or none.
 *
 * Ownership: a state owns nothing; node and value are borrowed from whatever
 * it was decoded, parsed or built from, and merge and delta return states
 * that borrow from their inputs.
 */
#ifndef LK_LWWREG_H
#define LK_LWWREG_H

#include <stdbool.h>
#include <stdint.h>

#include "lk_alloc.h"
#include "lk_buf.h"
#include "lk_error.h"
#include "lk_str.h"

typedef struct lk_lwwreg
{
	bool		present;		/* false: the empty register; the rest is unset */
	int64_t		clock;
	lk_str		node;
	lk_str		value;
} lk_lwwreg;

void		lk_lwwreg_init(lk_lwwreg *r);
/* Nothing to free (the state owns nothing); it becomes the empty register. */
void		lk_lwwreg_free(const lk_alloc *a, lk_lwwreg *r);

lk_code		lk_lwwreg_decode(const uint8_t *buf, size_t len, const lk_alloc *a,
							 lk_lwwreg *out, lk_error *err);
lk_code		lk_lwwreg_encode(const lk_lwwreg *r, lk_buf *b, lk_error *err);

lk_code		lk_lwwreg_parse(const char *s, size_t len, const lk_alloc *a,
							lk_lwwreg *out, lk_error *err);
void		lk_lwwreg_to_json(const lk_lwwreg *r, lk_buf *b);

/* The total order of the lattice: <0, 0, >0; the empty register is least. */
int			lk_lwwreg_cmp(const lk_lwwreg *a, const lk_lwwreg *b);

/* Join: the greater of a and b. */
void		lk_lwwreg_merge(const lk_lwwreg *a, const lk_lwwreg *b, lk_lwwreg *out);

/* newer if it is greater than old, else the empty register. */
void		lk_lwwreg_delta(const lk_lwwreg *old, const lk_lwwreg *newer, lk_lwwreg *out);

/* a ≤ b: merge(a, b) = b. */
bool		lk_lwwreg_leq(const lk_lwwreg *a, const lk_lwwreg *b);

/*
 * Write value as node at clock: *out is the write (value, node, clock'),
 * with clock' = max(clock, r's clock + 1), so the write is greater than r.
 * out borrows value and node.  LK_ERR_VALUE or LK_ERR_LIMIT for a bad node
 * id or value, LK_ERR_RANGE for a negative clock or when r's clock is
 * already LK_CLOCK_MAX; *out is untouched on error.
 */
lk_code		lk_lwwreg_set(const lk_lwwreg *r, lk_str value, lk_str node, int64_t clock,
						  lk_lwwreg *out, lk_error *err);

/*
 * LK_OK when r is empty or its clock is at most max_ahead_us ahead of
 * now_us (the wall clock, µs since the Unix epoch); else LK_ERR_RANGE.
 * For states from a writer that could lie about its clock (an explicit
 * clock in SQL, a client's push), which would otherwise beat every honest
 * write until the wall clock caught up.  The usual bound is
 * LK_LWWREG_MAX_AHEAD_US.
 */
lk_code		lk_lwwreg_check_clock(const lk_lwwreg *r, int64_t now_us, int64_t max_ahead_us,
								  lk_error *err);

/*
 * One writer's hybrid logical clock (Kulkarni et al., "Logical Physical
 * Clocks", 2014), in microseconds since the Unix epoch.  Zero-initialize it.
 */
typedef struct lk_hlc
{
	int64_t		last;			/* the writer's own last clock */
} lk_hlc;

/*
 * The clock of a set on r by a writer whose wall clock reads wall_us:
 * max(wall_us, h->last + 1, r's clock + 1), so it is greater than r's and
 * than every clock h issued before, whatever the wall clock did.  h
 * remembers it, except when it is more than LK_LWWREG_MAX_AHEAD_US ahead of
 * wall_us (r arrived with a clock far in the future, e.g. by replication,
 * which does not refuse one): then h remembers only max(wall_us, h->last + 1),
 * so such a register wins this set but does not carry the writer's later
 * sets on other registers into the future.  LK_ERR_RANGE when wall_us is
 * negative or the clock would pass LK_CLOCK_MAX; h is untouched then.
 */
lk_code		lk_hlc_next(lk_hlc *h, const lk_lwwreg *r, int64_t wall_us, int64_t *clock,
						lk_error *err);

#endif
