/*
 * lk_buf.c — growth of an lk_buf and integer formatting.
 */
#include "lk_buf.h"

void
lk_buf_init(lk_buf *b, const lk_alloc *a, size_t cap)
{
	b->a = a;
	b->cap = cap ? cap : 16;
	b->len = 0;
	b->data = lk_malloc(a, b->cap);
}

/* Doubling keeps appends amortized O(1). */
void
lk_buf_grow(lk_buf *b, size_t need)
{
	size_t		cap = b->cap * 2;
	uint8_t    *data;

	while (cap - b->len < need)
		cap *= 2;
	data = lk_malloc(b->a, cap);
	memcpy(data, b->data, b->len);
	lk_free(b->a, b->data);
	b->data = data;
	b->cap = cap;
}

void
lk_buf_put_int(lk_buf *b, int64_t v)
{
	char		tmp[24];
	int			i = sizeof(tmp);
	uint64_t	u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

	do
	{
		tmp[--i] = (char) ('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	lk_buf_put(b, tmp + i, sizeof(tmp) - i);
}
