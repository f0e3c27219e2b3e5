/*
 * lk_buf.h — a growable byte buffer for encoders, and a bounded reader with
 * the canonical varint (unsigned LEB128) used by the binary format.
 *
 * A varint is canonical when it has no redundant trailing zero group: the
 * encoder only writes that form and the reader rejects any other, so every
 * value has exactly one encoding and states compare bytewise.
 */
#ifndef LK_BUF_H
#define LK_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lk_alloc.h"

typedef struct lk_buf
{
	uint8_t    *data;			/* owned; allocated through a */
	size_t		len;
	size_t		cap;
	const lk_alloc *a;
} lk_buf;

void		lk_buf_init(lk_buf *b, const lk_alloc *a, size_t cap);
void		lk_buf_grow(lk_buf *b, size_t need);

static inline void
lk_buf_reserve(lk_buf *b, size_t extra)
{
	if (b->cap - b->len < extra)
		lk_buf_grow(b, extra);
}

static inline void
lk_buf_put_u8(lk_buf *b, uint8_t v)
{
	lk_buf_reserve(b, 1);
	b->data[b->len++] = v;
}

static inline void
lk_buf_put(lk_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;					/* p may be NULL then, which memcpy forbids */
	lk_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void
lk_buf_put_str(lk_buf *b, const char *s)
{
	lk_buf_put(b, s, strlen(s));
}

/* A string literal: its length known when compiled, not counted by strlen. */
#define lk_buf_put_lit(b, lit) lk_buf_put((b), "" lit, sizeof(lit) - 1)

static inline void
lk_buf_put_varint(lk_buf *b, uint64_t v)
{
	lk_buf_reserve(b, 10);
	while (v >= 0x80)
	{
		b->data[b->len++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	b->data[b->len++] = (uint8_t) v;
}

/* Decimal text of v, as JSON wants it. */
void		lk_buf_put_int(lk_buf *b, int64_t v);

/*
 * Writing in bulk: lk_buf_room reserves n bytes and returns where they start;
 * the writer fills them through a pointer and lk_buf_end takes the length
 * from where it stopped.  One capacity check for many small writes, where
 * each put checks its own (in the wasm build those are calls).
 */
static inline char *
lk_buf_room(lk_buf *b, size_t n)
{
	lk_buf_reserve(b, n);
	return (char *) b->data + b->len;
}

static inline void
lk_buf_end(lk_buf *b, const char *end)
{
	b->len = (size_t) ((const uint8_t *) end - b->data);
}

/* The most bytes lk_write_uint writes: 18446744073709551615. */
#define LK_UINT_TEXT_MAX 20

/* Decimal text of v at o; returns its end. */
char	   *lk_write_uint(char *o, uint64_t v);

static inline size_t
lk_varint_size(uint64_t v)
{
	size_t		n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

typedef struct lk_reader
{
	const uint8_t *p;
	const uint8_t *end;
} lk_reader;

static inline bool
lk_read_u8(lk_reader *r, uint8_t *out)
{
	if (r->p >= r->end)
		return false;
	*out = *r->p++;
	return true;
}

/*
 * Read a canonical varint.  False on truncation, on more than 64 bits and on
 * a non-canonical (overlong) encoding.
 */
static inline bool
lk_read_varint(lk_reader *r, uint64_t *out)
{
	uint64_t	v = 0;
	unsigned	shift = 0;

	for (;;)
	{
		uint8_t		byte;

		if (r->p >= r->end || shift > 63)
			return false;
		byte = *r->p++;
		if (shift == 63 && byte > 1)
			return false;
		v |= (uint64_t) (byte & 0x7f) << shift;
		if (!(byte & 0x80))
		{
			if (byte == 0 && shift > 0)
				return false;
			*out = v;
			return true;
		}
		shift += 7;
	}
}

/* Point *out at the next n bytes. */
static inline bool
lk_read_bytes(lk_reader *r, size_t n, const uint8_t **out)
{
	if ((size_t) (r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

#endif
