/*
 * cell.c — encoded column states.
 */
#include "cell.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void
cell_state(const cell *c, lk_kind kind, const lk_alloc *a, lk_state *out)
{
	lk_error	err;

	if (!c->bytes || lk_state_decode(c->bytes, c->len, kind, a, out, &err) != LK_OK)
		lk_state_init(out, kind);
}

void
cell_set(cell *c, const lk_state *s)
{
	lk_buf		b;
	lk_error	err;

	lk_buf_init(&b, &lk_std_alloc, 64);
	if (lk_state_encode(s, &b, &err) != LK_OK)
	{
		lk_free(&lk_std_alloc, b.data);
		return;
	}
	free(c->bytes);
	c->bytes = b.data;
	c->len = b.len;
}

void
cell_clear(cell *c)
{
	free(c->bytes);
	c->bytes = NULL;
	c->len = 0;
}

bool
cell_merge(cell *c, lk_kind kind, const lk_state *delta, const lk_alloc *a)
{
	lk_state	cur,
				m;
	lk_error	err;
	lk_buf		b;

	cell_state(c, kind, a, &cur);
	if (lk_state_merge(&cur, delta, a, &m, &err) != LK_OK)
		return false;
	lk_buf_init(&b, a, c->len + 16);
	if (lk_state_encode(&m, &b, &err) != LK_OK)
		return false;
	if (c->bytes && b.len == c->len && memcmp(b.data, c->bytes, b.len) == 0)
		return false;
	free(c->bytes);
	c->bytes = xmalloc(b.len);
	memcpy(c->bytes, b.data, b.len);
	c->len = b.len;
	return true;
}

void
cell_json(const cell *c, lk_kind kind, const lk_alloc *a, lk_buf *b)
{
	lk_state	s;

	cell_state(c, kind, a, &s);
	lk_state_to_json(&s, b);
}

void
cell_delta_json(const cell *c, lk_kind kind, const lk_state *have, const lk_alloc *a, lk_buf *b)
{
	lk_state	cur,
				d;
	lk_error	err;

	cell_state(c, kind, a, &cur);
	if (lk_state_delta(have, &cur, a, &d, &err) == LK_OK)
		lk_state_to_json(&d, b);
	else
		lk_state_to_json(&cur, b);
}
