/*
 * cell.h — one column's state held by the bridge, as its binary encoding.
 *
 * Decoded states borrow memory, so a state that outlives a message is kept
 * encoded (malloc'd bytes) and decoded into a scratch arena when used.  An
 * empty cell (bytes NULL) is the bottom of the lattice.
 *
 * A cell that does not decode, or a merge the core refuses (a state past its
 * limits), is never taken for the bottom or for "no change": the functions
 * say it failed, and the caller reports it (cell_report: logged once,
 * counted in laniakea_cell_errors_total) and recovers (the row is read again,
 * the column left out of what is sent).
 */
#ifndef BRIDGE_CELL_H
#define BRIDGE_CELL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk_state.h"

typedef struct cell
{
	uint8_t    *bytes;
	size_t		len;
} cell;

typedef enum cell_result
{
	CELL_UNCHANGED,
	CELL_CHANGED,
	CELL_FAILED					/* err says why; the cell is as it was */
} cell_result;

/* Decode c into memory from a (bottom when empty); false with err when its bytes do not decode. */
bool		cell_state(const cell *c, lk_kind kind, const lk_alloc *a, lk_state *out, lk_error *err);

/* c := merge(c, delta); temporaries from a. */
cell_result cell_merge(cell *c, lk_kind kind, const lk_state *delta, const lk_alloc *a, lk_error *err);

void		cell_clear(cell *c);

/* Append c's canonical JSON; false (nothing appended) when c does not decode. */
bool		cell_json(const cell *c, lk_kind kind, const lk_alloc *a, lk_buf *b, lk_error *err);

/*
 * Append the JSON of delta(have, c), or of c when the core cannot make the
 * delta (c is always a right answer, only larger); false as cell_json.
 */
bool		cell_delta_json(const cell *c, lk_kind kind, const lk_state *have, const lk_alloc *a,
							lk_buf *b, lk_error *err);

/*
 * A cell failed (what: "decode", "merge", "parse"; where: table and column):
 * counted in laniakea_cell_errors_total, and logged the first time.
 */
void		cell_report(const char *what, const char *table, const char *column, const lk_error *err);

#endif
