/*
 * cell.h — one column's state held by the bridge, as its binary encoding.
 *
 * Decoded states borrow memory, so a state that outlives a message is kept
 * encoded (malloc'd bytes) and decoded into a scratch arena when used.  An
 * empty cell (bytes NULL) is the bottom of the lattice.
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

/* Decode c into memory from a (bottom when empty). */
void		cell_state(const cell *c, lk_kind kind, const lk_alloc *a, lk_state *out);

/* c := merge(c, delta); temporaries from a.  True when c changed. */
bool		cell_merge(cell *c, lk_kind kind, const lk_state *delta, const lk_alloc *a);

/* c := s, encoded. */
void		cell_set(cell *c, const lk_state *s);
void		cell_clear(cell *c);

/* Append c's canonical JSON. */
void		cell_json(const cell *c, lk_kind kind, const lk_alloc *a, lk_buf *b);

/* Append the JSON of delta(have, c). */
void		cell_delta_json(const cell *c, lk_kind kind, const lk_state *have,
							const lk_alloc *a, lk_buf *b);

#endif
