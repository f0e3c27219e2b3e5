/*
 * cell.c — encoded column states (cell.h).
 */
#include "cell.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xalloc.h"

bool
cell_state(const cell *c, lk_kind kind, const lk_alloc *a, lk_state *out, lk_error *err)
{
	if (!c->bytes)
	{
		lk_state_init(out, kind);
		return true;
	}
	return lk_state_decode(c->bytes, c->len, kind, a, out, err) == LK_OK;
}

void
cell_clear(cell *c)
{
	free(c->bytes);
	c->bytes = NULL;
	c->len = 0;
}

cell_result
cell_merge(cell *c, lk_kind kind, const lk_state *delta, const lk_alloc *a, lk_error *err)
{
	lk_state	cur,
				m;
	lk_buf		b;

	if (!cell_state(c, kind, a, &cur, err) || lk_state_merge(&cur, delta, a, &m, err) != LK_OK)
		return CELL_FAILED;
	lk_buf_init(&b, a, c->len + 16);
	if (lk_state_encode(&m, &b, err) != LK_OK)
		return CELL_FAILED;
	if (c->bytes && b.len == c->len && memcmp(b.data, c->bytes, b.len) == 0)
		return CELL_UNCHANGED;
	free(c->bytes);
	c->bytes = xmalloc(b.len);
	memcpy(c->bytes, b.data, b.len);
	c->len = b.len;
	return CELL_CHANGED;
}

bool
cell_json(const cell *c, lk_kind kind, const lk_alloc *a, lk_buf *b, lk_error *err)
{
	lk_state	s;

	if (!cell_state(c, kind, a, &s, err))
		return false;
	lk_state_to_json(&s, b);
	return true;
}

bool
cell_delta_json(const cell *c, lk_kind kind, const lk_state *have, const lk_alloc *a, lk_buf *b,
				lk_error *err)
{
	lk_state	cur,
				d;
	lk_error	derr;

	if (!cell_state(c, kind, a, &cur, err))
		return false;
	if (lk_state_delta(have, &cur, a, &d, &derr) == LK_OK)
		lk_state_to_json(&d, b);
	else
		lk_state_to_json(&cur, b);
	return true;
}

void
cell_report(const char *what, const char *table, const char *column, const lk_error *err)
{
	if (M.cell_errors_total++ == 0)
		lwsl_err("laniakea-bridge: cannot %s column %s of %s: %s (%s); further cell errors are "
				 "only counted in laniakea_cell_errors_total\n",
				 what, column, table, err->msg, err->detail);
}
