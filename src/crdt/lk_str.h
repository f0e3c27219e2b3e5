/*
 * lk_str.h — borrowed byte strings, their order, and the rules for node ids,
 * orset elements and lwwreg values.
 *
 * An lk_str never owns its bytes: decoded states point into the buffer they
 * were decoded from (or into an argument), so whoever owns that buffer keeps
 * it alive until the state has been encoded again.
 */
#ifndef LK_STR_H
#define LK_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lk_error.h"

typedef struct lk_str
{
	const char *p;
	uint32_t	len;
} lk_str;

static inline lk_str
lk_str_make(const char *p, size_t len)
{
	lk_str		s = {p, (uint32_t) len};

	return s;
}

/* Byte order of the UTF-8, shorter first on a common prefix: the canonical order. */
static inline int
lk_str_cmp(lk_str a, lk_str b)
{
	size_t		n = a.len < b.len ? a.len : b.len;
	int			c = n ? memcmp(a.p, b.p, n) : 0;

	if (c)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

static inline bool
lk_str_eq(lk_str a, lk_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/*
 * qsort that accepts an empty, NULL array, and leaves sorted input after one
 * pass.  qsort's arguments are declared nonnull, so passing NULL lets the
 * compiler drop later NULL checks on the same pointer (it did: a free(NULL)
 * guard vanished).  Canonical input arrives sorted, and glibc's merge sort
 * would still spend n log n comparisons on it.
 */
static inline void
lk_sort(void *base, size_t n, size_t size, int (*cmp) (const void *, const void *))
{
	size_t		i = 1;

	while (i < n && cmp((const char *) base + (i - 1) * size, (const char *) base + i * size) <= 0)
		i++;
	if (i < n)
		qsort(base, n, size, cmp);
}

/* The most bytes of a node id or element an error detail quotes. */
#define LK_QUOTE_MAX 64

/*
 * How many leading bytes of s (valid UTF-8) an error detail quotes: at most
 * LK_QUOTE_MAX and never part of a character, so that a detail quoting a
 * 255-byte node id or a 4096-byte element still fits lk_error's buffer whole
 * and stays valid UTF-8.
 */
static inline int
lk_str_quote_len(lk_str s)
{
	uint32_t	n = LK_QUOTE_MAX;

	if (s.len <= LK_QUOTE_MAX)
		return (int) s.len;
	while (n > 0 && ((unsigned char) s.p[n] & 0xc0) == 0x80)
		n--;
	return (int) n;
}

/* True when p[0..len) is well-formed UTF-8 (no surrogates, no overlongs). */
bool		lk_utf8_valid(const char *p, size_t len);

/* Bytes of the longest decimal 128-bit integer, sign and NUL included. */
#define LK_INT128_TEXT 41

/* v in decimal, written into buf; returns where it starts in buf. */
const char *lk_int128_text(__int128 v, char buf[LK_INT128_TEXT]);

/* Write code point cp (at most 0x10FFFF) as UTF-8 at out; returns its 1 to 4 bytes. */
size_t		lk_utf8_put(char *out, uint32_t cp);

/*
 * A node id is 1 to LK_NODE_ID_MAX bytes of UTF-8 with no control character
 * (C0, DEL, C1).  Returns LK_OK or LK_ERR_VALUE with a message naming what.
 */
lk_code		lk_node_id_check(lk_str node, lk_error *err);

/* An element is at most LK_ELEMENT_MAX bytes of UTF-8 with no NUL (text cannot hold one). */
lk_code		lk_element_check(lk_str elem, lk_error *err);

/* An lwwreg value: the element rules with LK_VALUE_MAX bytes. */
lk_code		lk_value_check(lk_str value, lk_error *err);

#endif
