/*
 * lk_wasm.c — the exports of the CRDT core compiled to WebAssembly: the C
 * side of the one boundary with JavaScript (client/lib/core.js is the other).
 *
 * States cross the boundary as their canonical JSON text (UTF-8), each with
 * its kind, and every operation dispatches through lk_state: a new kind in
 * the core needs no change here except for its own operations.  Text, not
 * the canonical binary encoding, because JavaScript keeps, stores and sends
 * states as text anyway, and the module then carries no binary codec (a
 * fifth of it).  A state that comes from this module is canonical text, which
 * the core's parser reads in one pass.
 *
 * Memory: every call starts with lk_wasm_input, which empties the arena
 * below and gives room for the call's arguments; the core allocates the rest
 * of the call there, and the result (bytes in the arena, or the error) stays
 * readable until the next call starts.  No malloc: libc's allocator would be
 * a fifth of the module, and a bump arena emptied per call is all the core's
 * short-lived states need.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lk_json.h"
#include "lk_limits.h"
#include "lk_state.h"
#include "lk_topic.h"

/*
 * Exports are named by the operation alone (lk_wasm_parse is "parse"): core.js
 * names each in the bundle, where no minifier shortens a property name.
 */
#define EXPORT(name) __attribute__((export_name(#name)))

/*
 * What a call leaves for JavaScript to read (offsets below are part of the
 * boundary: core.js reads them).  code is an lk_code; on LK_OK, data/len are
 * the result bytes and num_lo/num_hi a 128-bit integer result (for a state,
 * an orset's element count), split where the result bytes are two texts,
 * on failure msg and detail are the core's NUL-terminated texts.
 */
typedef struct lk_wasm_result
{
	uint32_t	data;			/* 0 */
	uint32_t	len;			/* 4 */
	int32_t		code;			/* 8 */
	uint32_t	split;			/* 12 */
	uint64_t	num_lo;			/* 16 */
	uint64_t	num_hi;			/* 24 */
	char		msg[160];		/* 32 */
	char		detail[256];	/* 192 */
} lk_wasm_result;

static lk_wasm_result result;

/*
 * The arena: one bump region from __heap_base up, emptied by lk_wasm_input
 * at the start of every call.  The call's arguments come first, then every
 * allocation the core makes, so nothing outlives the call but its result.
 * Pages come from memory.grow and are reused by every later call: the heap
 * is as large as the largest call needed, whatever the number of calls.
 */
extern uint8_t __heap_base;

static uintptr_t arena_top;

static void *
arena_alloc(void *ctx, size_t size)
{
	uintptr_t	p = arena_top;
	size_t		have = __builtin_wasm_memory_size(0) * 65536;

	(void) ctx;
	size = (size + 7) & ~(size_t) 7;
	if (size > have || p > have - size)
	{
		size_t		pages = (p + size - have + 65535) / 65536;

		if (__builtin_wasm_memory_grow(0, pages) == (size_t) -1)
			__builtin_trap();	/* lk_alloc's contract: never return NULL */
	}
	arena_top = p + size;
	return (void *) p;
}

/* Freed memory is reclaimed when the next call starts. */
static void
arena_free(void *ctx, void *ptr)
{
	(void) ctx;
	(void) ptr;
}

static const lk_alloc alloc = {arena_alloc, arena_free, NULL};

/* one copy for every export (0.2 KB): the call costs nothing next to the work */
__attribute__((noinline)) static void
begin(void)
{
	memset(&result, 0, offsetof(lk_wasm_result, msg));
	result.msg[0] = '\0';
	result.detail[0] = '\0';
}

/*
 * The rest of libc the core uses, smaller than wasi-libc's, which is built
 * without bulk memory and for speed: its memcpy, qsort (smoothsort), memchr
 * and strlen were 3.5 KB of the module.  memcpy is one memory.copy
 * instruction (-mbulk-memory), which engines run as fast as anything.
 */
void *
memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	return __builtin_memmove(dst, src, n);
}

void *
memchr(const void *s, int c, size_t n)
{
	for (const unsigned char *p = s; n > 0; p++, n--)
		if (*p == (unsigned char) c)
			return (void *) p;
	return NULL;
}

size_t
strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t) (p - s);
}

/*
 * qsort as a bottom-up merge sort through the arena (the sort's scratch goes
 * with the call): O(n log n) comparisons at worst, and one pass over input
 * that is sorted already, which canonical input always is.
 */
void
qsort(void *base, size_t n, size_t size, int (*cmp) (const void *, const void *))
{
	uint8_t    *from = base,
			   *to;
	size_t		sorted = 1;

	while (sorted < n && cmp(from + (sorted - 1) * size, from + sorted * size) <= 0)
		sorted++;
	if (sorted >= n)
		return;
	to = arena_alloc(NULL, n * size);
	for (size_t width = 1; width < n; width *= 2)
	{
		uint8_t    *t;

		for (size_t lo = 0; lo < n; lo += 2 * width)
		{
			size_t		mid = lo + width < n ? lo + width : n,
						hi = lo + 2 * width < n ? lo + 2 * width : n,
						l = lo,
						r = mid;

			for (size_t k = lo; k < hi; k++)
			{
				bool		right = r < hi && (l >= mid || cmp(from + r * size, from + l * size) < 0);

				memcpy(to + k * size, from + (right ? r++ : l++) * size, size);
			}
		}
		t = from;
		from = to;
		to = t;
	}
	if (from != base)
		memcpy(base, from, n * size);
}

/*
 * snprintf and vsnprintf for the core, which formats only its error messages
 * and only with %s, %.*s, %c, %d, %u, %x with 0-padding, and the l, ll and z
 * sizes.  They take the place of libc's, whose FILE machinery and other
 * conversions would be an eighth of the module.  Anything else prints '?'.
 */
static size_t
put_number(char *out, size_t size, size_t n, unsigned long long u, bool neg, int base,
		   int width, char pad)
{
	char		digits[24];
	int			len = 0;

	do
	{
		digits[len++] = "0123456789abcdef"[u % (unsigned) base];
		u /= (unsigned) base;
	} while (u);
	if (neg)
		digits[len++] = '-';
	for (; width > len; width--, n++)
		if (n + 1 < size)
			out[n] = pad;
	while (len > 0)
	{
		if (n + 1 < size)
			out[n] = digits[len - 1];
		n++;
		len--;
	}
	return n;
}

int
vsnprintf(char *restrict out, size_t size, const char *restrict fmt, va_list ap)
{
	size_t		n = 0;

	for (const char *f = fmt; *f; f++)
	{
		int			width = 0,
					prec = -1,
					longs = 0;
		char		pad = ' ';
		const char *s;
		size_t		len;

		if (*f != '%')
		{
			if (n + 1 < size)
				out[n] = *f;
			n++;
			continue;
		}
		if (*++f == '0')
			pad = *f++;
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		if (f[0] == '.' && f[1] == '*')
		{
			prec = va_arg(ap, int);
			f += 2;
		}
		for (; *f == 'l' || *f == 'z'; f++)
			longs += *f == 'l' ? 1 : 3;
		switch (*f)
		{
			case 'd':
				{
					long long	v = longs >= 2 ? va_arg(ap, long long) : longs == 1 ? va_arg(ap, long) : va_arg(ap, int);

					n = put_number(out, size, n, v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v,
								   v < 0, 10, width, pad);
					continue;
				}
			case 'u':
			case 'x':
				n = put_number(out, size, n,
							   longs == 3 ? va_arg(ap, size_t) : longs == 2 ? va_arg(ap, unsigned long long) :
							   longs == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned),
							   false, *f == 'x' ? 16 : 10, width, pad);
				continue;
			case 's':
				s = va_arg(ap, const char *);
				len = prec >= 0 ? strnlen(s, (size_t) prec) : strlen(s);
				break;
			case 'c':
				pad = (char) va_arg(ap, int);
				s = &pad;
				len = 1;
				break;
			case '%':
				s = "%";
				len = 1;
				break;
			default:
				s = "?";
				len = 1;
				if (*f == '\0')
					f--;
		}
		for (size_t i = 0; i < len; i++, n++)
			if (n + 1 < size)
				out[n] = s[i];
	}
	if (size > 0)
		out[n < size ? n : size - 1] = '\0';
	return (int) n;
}

int
snprintf(char *restrict out, size_t size, const char *restrict fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n;
}

static int32_t
fail(const lk_error *err)
{
	result.code = (int32_t) err->code;
	memcpy(result.msg, err->msg, sizeof(result.msg));
	memcpy(result.detail, err->detail, sizeof(result.detail));
	return result.code;
}

static int32_t
give_bytes(const lk_buf *b)
{
	result.data = (uint32_t) (uintptr_t) b->data;
	result.len = (uint32_t) b->len;
	return LK_OK;
}

/* A state as the result: its canonical text, and for an orset its size in num_lo. */
static int32_t
give_state(const lk_state *s)
{
	lk_buf		b;

	lk_buf_init(&b, &alloc, 64);
	lk_state_to_json(s, &b);
	if (s->kind == LK_ORSET)
		result.num_lo = s->u.os.nelems;
	return give_bytes(&b);
}

/* A state of kind from its text; an unknown kind is the core's error. */
static lk_code
read_state(const uint8_t *p, uint32_t len, int32_t kind, lk_state *out, lk_error *err)
{
	return lk_state_parse((lk_kind) kind, (const char *) p, len, &alloc, out, err);
}

/*
 * Start a call: empty the arena and return room for its size bytes of
 * arguments at its bottom.
 */
EXPORT(input)
uint8_t *
lk_wasm_input(uint32_t size)
{
	arena_top = (uintptr_t) &__heap_base;
	return arena_alloc(NULL, size);
}

EXPORT(result)
lk_wasm_result *
lk_wasm_result_at(void)
{
	return &result;
}

/* Canonical text of kind from text (any whitespace and order). */
EXPORT(parse)
int32_t
lk_wasm_parse(int32_t kind, const uint8_t *text, uint32_t len)
{
	lk_state	s;
	lk_error	err;

	begin();
	if (read_state(text, len, kind, &s, &err) != LK_OK)
		return fail(&err);
	return give_state(&s);
}

/*
 * The join of n states of kind, laid out in the input as a 4-byte little-endian
 * length then the text, n times.  Each is parsed once and the parsed
 * states are merged as a binary counter (a state joins the one below it
 * while it is at least half that one's size), so n small deltas joined to a
 * large state cost O(total · log n), not n passes over the large state.
 */
#define JOIN_LEVELS 64

EXPORT(merge_all)
int32_t
lk_wasm_merge_all(int32_t kind, const uint8_t *p, uint32_t len, uint32_t n)
{
	lk_state	stack[JOIN_LEVELS];
	size_t		size[JOIN_LEVELS];
	int			top = 0;
	lk_error	err;

	begin();
	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t	slen;

		if (len < 4 || (memcpy(&slen, p, 4), len - 4 < slen))
			return fail(&(lk_error) {LK_ERR_BINARY, "truncated list of states", ""});
		if (read_state(p + 4, slen, kind, &stack[top], &err) != LK_OK)
			return fail(&err);
		size[top++] = slen;
		p += 4 + slen;
		len -= 4 + slen;
		/* after the last state, everything joins down to one */
		while (top > 1 && (i + 1 == n || top == JOIN_LEVELS || size[top - 1] * 2 >= size[top - 2]))
		{
			lk_state	m;

			if (lk_state_merge(&stack[top - 2], &stack[top - 1], &alloc, &m, &err) != LK_OK)
				return fail(&err);
			stack[top - 2] = m;
			size[top - 2] += size[top - 1];
			top--;
		}
	}
	if (top == 0)
		return fail(&(lk_error) {LK_ERR_VALUE, "nothing to merge", ""});
	return give_state(&stack[0]);
}

/* delta(old, newer): the smallest d with merge(old, d) = merge(old, newer). */
EXPORT(delta)
int32_t
lk_wasm_delta(int32_t kind, const uint8_t *x, uint32_t xlen, const uint8_t *y, uint32_t ylen)
{
	lk_state	a,
				b,
				out;
	lk_error	err;

	begin();
	if (read_state(x, xlen, kind, &a, &err) != LK_OK || read_state(y, ylen, kind, &b, &err) != LK_OK ||
		lk_state_delta(&a, &b, &alloc, &out, &err) != LK_OK)
		return fail(&err);
	return give_state(&out);
}

/*
 * x ≤ y in the lattice, the answer in num_lo (0 or 1): whether x ⊔ y is y,
 * compared by canonical text, which is equal exactly when the states are.
 * The core orders orsets so (lk_orset_leq), reporting its merge's errors; a
 * merge of counters past a limit is not y, which is within them.
 * Ordering by the merge keeps every kind's own order out of the module
 * (1 KB).
 */
EXPORT(leq)
int32_t
lk_wasm_leq(int32_t kind, const uint8_t *x, uint32_t xlen, const uint8_t *y, uint32_t ylen)
{
	lk_state	a,
				b,
				m;
	lk_error	err;
	lk_buf		joined,
				right;

	begin();
	if (read_state(x, xlen, kind, &a, &err) != LK_OK || read_state(y, ylen, kind, &b, &err) != LK_OK)
		return fail(&err);
	if (lk_state_merge(&a, &b, &alloc, &m, &err) != LK_OK)
		return a.kind == LK_ORSET || err.code != LK_ERR_LIMIT ? fail(&err) : LK_OK;
	lk_buf_init(&joined, &alloc, 64);
	lk_buf_init(&right, &alloc, 64);
	lk_state_to_json(&m, &joined);
	lk_state_to_json(&b, &right);
	result.num_lo = joined.len == right.len && memcmp(joined.data, right.data, right.len) == 0;
	return LK_OK;
}

/* A counter raised by `by` for node: increments, or a pncounter's decrement when down. */
EXPORT(count)
int32_t
lk_wasm_count(int32_t kind, const uint8_t *p, uint32_t len, const char *node, uint32_t nlen,
			  int64_t by, int32_t down)
{
	lk_state	s;
	lk_error	err;
	lk_code		rc;
	lk_str		id = lk_str_make(node, nlen);

	begin();
	if (read_state(p, len, kind, &s, &err) != LK_OK)
		return fail(&err);
	if (s.kind == LK_GCOUNTER && !down)
		rc = lk_gcounter_increment(&s.u.gc, id, by, &alloc, &err);
	else if (s.kind == LK_PNCOUNTER)
		rc = down ? lk_pncounter_decrement(&s.u.pn, id, by, &alloc, &err)
			: lk_pncounter_increment(&s.u.pn, id, by, &alloc, &err);
	else
		return fail(&(lk_error) {LK_ERR_VALUE, "operation does not apply to this type", ""});
	if (rc != LK_OK)
		return fail(&err);
	return give_state(&s);
}

/*
 * The value of a counter, exact in 128 bits (num_lo, num_hi): the sums of
 * the core, before the bigint range check SQL's value() adds.
 */
EXPORT(value)
int32_t
lk_wasm_value(int32_t kind, const uint8_t *p, uint32_t len)
{
	lk_state	s;
	lk_error	err;
	__int128	v;

	begin();
	if (read_state(p, len, kind, &s, &err) != LK_OK)
		return fail(&err);
	if (s.kind == LK_GCOUNTER)
		v = lk_gcounter_sum(&s.u.gc);
	else if (s.kind == LK_PNCOUNTER)
		v = lk_gcounter_sum(&s.u.pn.p) - lk_gcounter_sum(&s.u.pn.n);
	else
		return fail(&(lk_error) {LK_ERR_VALUE, "operation does not apply to this type", ""});
	result.num_lo = (uint64_t) v;
	result.num_hi = (uint64_t) (v >> 64);
	return LK_OK;
}

static lk_code
need_orset(const uint8_t *p, uint32_t len, lk_state *s, lk_error *err)
{
	return read_state(p, len, LK_ORSET, s, err);
}

/* The orset with an operation's delta merged in: an add as node, or a remove (node NULL). */
static int32_t
set_op(const uint8_t *p, uint32_t len, lk_str elem, const lk_str *node)
{
	lk_state	s,
				out;
	lk_orset	delta;
	lk_error	err;
	lk_code		rc;

	begin();
	if (need_orset(p, len, &s, &err) != LK_OK)
		return fail(&err);
	if (node != NULL)
		rc = lk_orset_add_delta(&s.u.os, elem, *node, &alloc, &delta, &err);
	else
		rc = lk_orset_remove_delta(&s.u.os, elem, &alloc, &delta, &err);
	out.kind = LK_ORSET;
	if (rc != LK_OK || lk_orset_merge(&s.u.os, &delta, &alloc, &out.u.os, &err) != LK_OK)
		return fail(&err);
	return give_state(&out);
}

EXPORT(add)
int32_t
lk_wasm_add(const uint8_t *p, uint32_t len, const char *elem, uint32_t elen, const char *node,
			uint32_t nlen)
{
	lk_str		id = lk_str_make(node, nlen);

	return set_op(p, len, lk_str_make(elem, elen), &id);
}

EXPORT(remove)
int32_t
lk_wasm_remove(const uint8_t *p, uint32_t len, const char *elem, uint32_t elen)
{
	return set_op(p, len, lk_str_make(elem, elen), NULL);
}

/* Whether elem is in the orset: num_lo (0 or 1). */
EXPORT(has)
int32_t
lk_wasm_has(const uint8_t *p, uint32_t len, const char *elem, uint32_t elen)
{
	lk_state	s;
	lk_error	err;

	begin();
	if (need_orset(p, len, &s, &err) != LK_OK)
		return fail(&err);
	result.num_lo = lk_orset_find(&s.u.os, lk_str_make(elem, elen)) >= 0;
	return LK_OK;
}

/* The elements as a JSON array of strings, in SQL's order; their count in num_lo. */
EXPORT(elements)
int32_t
lk_wasm_elements(const uint8_t *p, uint32_t len)
{
	lk_state	s;
	lk_error	err;
	lk_buf		b;

	begin();
	if (need_orset(p, len, &s, &err) != LK_OK)
		return fail(&err);
	lk_buf_init(&b, &alloc, 64);
	lk_buf_put_u8(&b, '[');
	for (uint32_t i = 0; i < s.u.os.nelems; i++)
	{
		if (i > 0)
			lk_buf_put_u8(&b, ',');
		lk_json_put_string(&b, s.u.os.elems[i].s);
	}
	lk_buf_put_u8(&b, ']');
	result.num_lo = s.u.os.nelems;
	return give_bytes(&b);
}

/*
 * An lwwreg written: value as node, the state then the writer's clock in
 * num_lo.  With explicit, a is the clock of the write and b the wall clock
 * (µs since 1970): SQL's set(r, value, node, clock), whose clock, when it is
 * the write's, may be at most LK_LWWREG_MAX_AHEAD_US past the wall clock.
 * Otherwise a is the wall clock and b the writer's hybrid logical clock
 * (lk_hlc.last, 0 for a new writer): the clock comes from lk_hlc_next, as in
 * SQL's set(r, value, node), and num_lo is the writer's clock afterwards, for
 * the caller to keep and pass to its next set.
 */
EXPORT(set)
int32_t
lk_wasm_set(const uint8_t *p, uint32_t len, const char *value, uint32_t vlen, const char *node,
			uint32_t nlen, int64_t a, int64_t b, int32_t explicit)
{
	lk_state	s,
				out;
	lk_hlc		h = {b};
	int64_t		clock = a;
	lk_error	err;

	begin();
	if (read_state(p, len, LK_LWWREG, &s, &err) != LK_OK ||
		(!explicit && lk_hlc_next(&h, &s.u.lw, a, &clock, &err) != LK_OK) ||
		lk_lwwreg_set(&s.u.lw, lk_str_make(value, vlen), lk_str_make(node, nlen), clock, &out.u.lw,
					  &err) != LK_OK ||
		(explicit && out.u.lw.clock == a &&
		 lk_lwwreg_check_clock(&out.u.lw, b, LK_LWWREG_MAX_AHEAD_US, &err) != LK_OK))
		return fail(&err);
	out.kind = LK_LWWREG;
	if (give_state(&out) != LK_OK)
		return result.code;
	result.num_lo = (uint64_t) (explicit ? out.u.lw.clock : h.last);
	return LK_OK;
}

/*
 * An lwwreg's write: the node id then the value as the result bytes, split
 * at the node's length, the clock in num_lo; num_hi is 0 for the empty
 * register, 1 for a write.
 */
EXPORT(register)
int32_t
lk_wasm_register(const uint8_t *p, uint32_t len)
{
	lk_state	s;
	lk_error	err;
	lk_buf		b;

	begin();
	if (read_state(p, len, LK_LWWREG, &s, &err) != LK_OK)
		return fail(&err);
	lk_buf_init(&b, &alloc, 64);
	if (s.u.lw.present)
	{
		lk_buf_put(&b, s.u.lw.node.p, s.u.lw.node.len);
		lk_buf_put(&b, s.u.lw.value.p, s.u.lw.value.len);
		result.split = s.u.lw.node.len;
		result.num_lo = (uint64_t) s.u.lw.clock;
		result.num_hi = 1;
	}
	return give_bytes(&b);
}

/*
 * The topic of a table (key NULL) or of one of its rows: lk_topic_put, so
 * that the client names topics byte for byte as the database and the
 * bridge do.
 */
EXPORT(topic)
int32_t
lk_wasm_topic(const char *schema, uint32_t slen, const char *table, uint32_t tlen, const char *key,
			  uint32_t klen, int32_t has_key)
{
	lk_str		k = lk_str_make(key, klen);
	lk_buf		b;

	begin();
	lk_buf_init(&b, &alloc, 64);
	lk_topic_put(&b, lk_str_make(schema, slen), lk_str_make(table, tlen), has_key ? &k : NULL);
	return give_bytes(&b);
}
