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

char *
lk_write_uint(char *o, uint64_t v)
{
	char		tmp[LK_UINT_TEXT_MAX];
	int			i = sizeof(tmp);

	do
	{
		tmp[--i] = (char) ('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(o, tmp + i, sizeof(tmp) - i);
	return o + sizeof(tmp) - i;
}

void
lk_buf_put_int(lk_buf *b, int64_t v)
{
	char	   *o = lk_buf_room(b, LK_UINT_TEXT_MAX + 1);

	if (v < 0)
		*o++ = '-';
	lk_buf_end(b, lk_write_uint(o, v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v));
}
