/*
 * gcounter.c — the grow-only counter.
 */
#include "gcounter.h"

#include <stdio.h>
#include <stdlib.h>

#include "lk_format.h"
#include "lk_limits.h"

static const char *const type_name = "gcounter";

void
lk_gcounter_init(lk_gcounter *gc)
{
	gc->n = 0;
	gc->cap = 0;
	gc->e = NULL;
}

void
lk_gcounter_free(const lk_alloc *a, lk_gcounter *gc)
{
	lk_free(a, gc->e);
	lk_gcounter_init(gc);
}

static void
reserve(lk_gcounter *gc, uint32_t cap, const lk_alloc *a)
{
	lk_gc_entry *e;

	if (gc->cap >= cap)
		return;
	e = lk_malloc(a, (size_t) cap * sizeof(lk_gc_entry));
	if (gc->n)
		memcpy(e, gc->e, (size_t) gc->n * sizeof(lk_gc_entry));
	lk_free(a, gc->e);
	gc->e = e;
	gc->cap = cap;
}

static lk_code
too_many_nodes(lk_error *err, const char *tname)
{
	char		msg[64];

	snprintf(msg, sizeof(msg), "%s has too many nodes", tname);
	return lk_fail(err, LK_ERR_LIMIT, msg, "A state holds at most %d node ids.", LK_MAX_NODES);
}

lk_code
lk_gcounter_decode_body(lk_reader *r, const char *tname, const lk_alloc *a,
						lk_gcounter *out, lk_error *err)
{
	uint64_t	n;

	lk_gcounter_init(out);
	if (!lk_read_varint(r, &n))
		return lk_binary_error(err, tname, "The entry count is truncated or malformed.");
	if (n > LK_MAX_NODES)
		return too_many_nodes(err, tname);
	/* each entry takes at least 3 bytes: refuse to allocate for a lying count */
	if (n > (uint64_t) (r->end - r->p) / 3)
		return lk_binary_error(err, tname, "The entry count exceeds the data.");
	reserve(out, (uint32_t) n, a);
	for (uint64_t i = 0; i < n; i++)
	{
		uint8_t		len;
		const uint8_t *p;
		uint64_t	count;
		lk_str		node;
		lk_error	node_err;

		if (!lk_read_u8(r, &len) || len == 0 || !lk_read_bytes(r, len, &p))
		{
			lk_gcounter_free(a, out);
			return lk_binary_error(err, tname, "A node id is empty or truncated.");
		}
		node = lk_str_make((const char *) p, len);
		if (lk_node_id_check(node, &node_err) != LK_OK)
		{
			lk_gcounter_free(a, out);
			return lk_binary_error(err, tname, "A node id is not valid UTF-8 or has a control character.");
		}
		if (i > 0 && lk_str_cmp(out->e[i - 1].node, node) >= 0)
		{
			lk_gcounter_free(a, out);
			return lk_binary_error(err, tname, "Node ids are not sorted and unique.");
		}
		if (!lk_read_varint(r, &count) || count == 0 || count > LK_COUNT_MAX)
		{
			lk_gcounter_free(a, out);
			return lk_binary_error(err, tname, "A count is truncated, zero, or out of range.");
		}
		out->e[i].node = node;
		out->e[i].count = count;
		out->n++;
	}
	return LK_OK;
}

lk_code
lk_gcounter_decode(const uint8_t *buf, size_t len, const lk_alloc *a,
				   lk_gcounter *out, lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	lk_code		rc;

	lk_gcounter_init(out);
	if ((rc = lk_format_open(&r, LK_GCOUNTER, type_name, err)) != LK_OK)
		return rc;
	if ((rc = lk_gcounter_decode_body(&r, type_name, a, out, err)) != LK_OK)
		return rc;
	if (r.p != r.end)
	{
		lk_gcounter_free(a, out);
		return lk_binary_error(err, type_name, "Trailing bytes follow the value.");
	}
	return LK_OK;
}

void
lk_gcounter_encode_body(const lk_gcounter *gc, lk_buf *b)
{
	lk_buf_put_varint(b, gc->n);
	for (uint32_t i = 0; i < gc->n; i++)
	{
		lk_buf_reserve(b, 1 + gc->e[i].node.len + 10);
		lk_buf_put_u8(b, (uint8_t) gc->e[i].node.len);
		lk_buf_put(b, gc->e[i].node.p, gc->e[i].node.len);
		lk_buf_put_varint(b, gc->e[i].count);
	}
}

lk_code
lk_gcounter_encode(const lk_gcounter *gc, lk_buf *b, lk_error *err)
{
	size_t		start = b->len;

	lk_buf_put_u8(b, lk_format_byte(LK_GCOUNTER));
	lk_gcounter_encode_body(gc, b);
	return lk_check_state_size(b->len - start, type_name, err);
}

static int
entry_cmp(const void *x, const void *y)
{
	return lk_str_cmp(((const lk_gc_entry *) x)->node, ((const lk_gc_entry *) y)->node);
}

lk_code
lk_gcounter_parse_json(lk_json *j, lk_gcounter *out)
{
	lk_json_iter it;
	bool		more;
	lk_code		rc;
	uint32_t	kept = 0;

	lk_gcounter_init(out);
	if ((rc = lk_json_object(j, &it)) != LK_OK)
		return rc;
	for (;;)
	{
		lk_str		node;
		uint64_t	count;
		lk_error	node_err;

		if ((rc = lk_json_next_key(j, &it, &more, &node)) != LK_OK)
			goto fail;
		if (!more)
			break;
		if (lk_node_id_check(node, &node_err) != LK_OK)
		{
			rc = lk_json_invalid(j, j->key_at, "node id", node_err.msg);
			goto fail;
		}
		if ((rc = lk_json_uint(j, "count", &count)) != LK_OK)
			goto fail;
		if (out->n == LK_MAX_NODES)
		{
			rc = too_many_nodes(j->err, type_name);
			goto fail;
		}
		if (out->n == out->cap)
			reserve(out, out->cap ? out->cap * 2 : 8, j->a);
		out->e[out->n].node = node;
		out->e[out->n].count = count;
		out->n++;
	}
	/* duplicates are found before zero entries go, so {"a":0,"a":1} is refused too */
	lk_sort(out->e, out->n, sizeof(lk_gc_entry), entry_cmp);
	for (uint32_t i = 0; i < out->n; i++)
	{
		if (i > 0 && lk_str_eq(out->e[i - 1].node, out->e[i].node))
		{
			rc = lk_fail(j->err, LK_ERR_SYNTAX, "invalid input syntax",
						 "Node id \"%.*s\" appears more than once.",
						 lk_str_quote_len(out->e[i].node), out->e[i].node.p);
			goto fail;
		}
		if (out->e[i].count > 0)	/* a zero entry is the identity: normalize it away */
			out->e[kept++] = out->e[i];
	}
	out->n = kept;
	return LK_OK;
fail:
	lk_gcounter_free(j->a, out);
	return rc;
}

lk_code
lk_gcounter_parse(const char *s, size_t len, const lk_alloc *a, lk_gcounter *out, lk_error *err)
{
	lk_json		j;
	lk_code		rc;

	lk_json_init(&j, s, len, a, err);
	if ((rc = lk_gcounter_parse_json(&j, out)) != LK_OK)
		return rc;
	if ((rc = lk_json_finish(&j)) != LK_OK)
		lk_gcounter_free(a, out);
	return rc;
}

void
lk_gcounter_to_json(const lk_gcounter *gc, lk_buf *b)
{
	lk_buf_put_u8(b, '{');
	for (uint32_t i = 0; i < gc->n; i++)
	{
		if (i)
			lk_buf_put_u8(b, ',');
		lk_json_put_string(b, gc->e[i].node);
		lk_buf_put_u8(b, ':');
		lk_buf_put_int(b, (int64_t) gc->e[i].count);
	}
	lk_buf_put_u8(b, '}');
}

lk_code
lk_gcounter_merge(const lk_gcounter *a, const lk_gcounter *b, const lk_alloc *al,
				  lk_gcounter *out, lk_error *err)
{
	uint32_t	i = 0,
				k = 0;
	lk_gcounter m;				/* not out: clang's analyzer cannot rule out out == a */

	lk_gcounter_init(&m);
	lk_gcounter_init(out);
	/* no state holds more: the sum of the sizes cannot wrap */
	if (a->n > LK_MAX_NODES || b->n > LK_MAX_NODES)
		return too_many_nodes(err, type_name);
	m.cap = a->n + b->n;
	m.e = lk_malloc(al, (size_t) m.cap * sizeof(lk_gc_entry));
	while (i < a->n || k < b->n)
	{
		int			c = i == a->n ? 1 : k == b->n ? -1 : lk_str_cmp(a->e[i].node, b->e[k].node);

		if (c < 0)
			m.e[m.n++] = a->e[i++];
		else if (c > 0)
			m.e[m.n++] = b->e[k++];
		else
		{
			m.e[m.n] = a->e[i];
			if (b->e[k].count > a->e[i].count)
				m.e[m.n].count = b->e[k].count;
			m.n++;
			i++;
			k++;
		}
	}
	if (m.n > LK_MAX_NODES)
	{
		lk_gcounter_free(al, &m);
		return too_many_nodes(err, type_name);
	}
	*out = m;
	return LK_OK;
}

void
lk_gcounter_delta(const lk_gcounter *old, const lk_gcounter *newer, const lk_alloc *al,
				  lk_gcounter *out)
{
	uint32_t	i = 0;

	lk_gcounter_init(out);
	reserve(out, newer->n, al);
	for (uint32_t k = 0; k < newer->n; k++)
	{
		int			c = 1;

		while (i < old->n && (c = lk_str_cmp(old->e[i].node, newer->e[k].node)) < 0)
			i++;
		if (i == old->n)
			c = 1;
		if (c != 0 || newer->e[k].count > old->e[i].count)
			out->e[out->n++] = newer->e[k];
	}
}

bool
lk_gcounter_leq(const lk_gcounter *a, const lk_gcounter *b)
{
	uint32_t	k = 0;

	for (uint32_t i = 0; i < a->n; i++)
	{
		int			c = 1;

		while (k < b->n && (c = lk_str_cmp(b->e[k].node, a->e[i].node)) < 0)
			k++;
		if (k == b->n || c != 0 || b->e[k].count < a->e[i].count)
			return false;
	}
	return true;
}

lk_code
lk_gcounter_increment(lk_gcounter *gc, lk_str node, int64_t by, const lk_alloc *a, lk_error *err)
{
	return lk_gcounter_raise(gc, node, by, "gcounter total out of range", "counts", a, err);
}

lk_code
lk_gcounter_raise(lk_gcounter *gc, lk_str node, int64_t by, const char *msg, const char *what,
				  const lk_alloc *a, lk_error *err)
{
	uint32_t	lo = 0,
				hi = gc->n;
	lk_code		rc;
	__int128	total;

	if (by <= 0)
		return lk_fail(err, LK_ERR_VALUE, "increment must be positive",
					   "The amount was %lld.", (long long) by);
	if ((rc = lk_node_id_check(node, err)) != LK_OK)
		return rc;
	/* an entry is at most its total: this bounds the entry too */
	total = lk_gcounter_sum(gc) + by;
	if (total > LK_COUNT_MAX)
	{
		char		buf[LK_INT128_TEXT];

		/* the entry's own limit is the sharper error when it is the one passed */
		for (uint32_t i = 0; i < gc->n; i++)
			if (lk_str_eq(gc->e[i].node, node) && gc->e[i].count > (uint64_t) (LK_COUNT_MAX - by))
				return lk_fail(err, LK_ERR_RANGE, "counter out of range",
							   "The count of node \"%.*s\" would exceed 9223372036854775807.",
							   lk_str_quote_len(node), node.p);
		return lk_fail(err, LK_ERR_RANGE, msg, "The %s would sum to %s, more than 9223372036854775807.",
					   what, lk_int128_text(total, buf));
	}
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (lk_str_cmp(gc->e[mid].node, node) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < gc->n && lk_str_eq(gc->e[lo].node, node))
	{
		gc->e[lo].count += (uint64_t) by;	/* within the total checked above */
		return LK_OK;
	}
	if (gc->n == LK_MAX_NODES)
		return too_many_nodes(err, type_name);
	if (gc->n == gc->cap)
		reserve(gc, gc->cap ? gc->cap * 2 : 4, a);
	memmove(gc->e + lo + 1, gc->e + lo, (size_t) (gc->n - lo) * sizeof(lk_gc_entry));
	gc->e[lo].node = node;
	gc->e[lo].count = (uint64_t) by;
	gc->n++;
	return LK_OK;
}

__int128
lk_gcounter_sum(const lk_gcounter *gc)
{
	__int128	sum = 0;

	for (uint32_t i = 0; i < gc->n; i++)
		sum += gc->e[i].count;
	return sum;
}

lk_code
lk_gcounter_value(const lk_gcounter *gc, int64_t *out, lk_error *err)
{
	__int128	sum = lk_gcounter_sum(gc);

	if (sum > LK_COUNT_MAX)
		return lk_fail(err, LK_ERR_RANGE, "gcounter value out of range",
					   "The sum of the counts exceeds 9223372036854775807.");
	*out = (int64_t) sum;
	return LK_OK;
}

/* ---- the aggregate accumulator ---- */

/* Fewer pending entries than this are never merged in before finish. */
#define ACC_MIN_PENDING 64

/*
 * The accumulator's copy of a node id, stored as the encoding stores it:
 * the length byte, then the bytes, with node.p pointing past the length.  So
 * the fast path compares an input's entry with one run of bytes.
 */
static lk_str
own_id(const lk_alloc *a, lk_str node)
{
	uint8_t    *copy = lk_malloc(a, (size_t) node.len + 1);

	copy[0] = (uint8_t) node.len;
	memcpy(copy + 1, node.p, node.len);
	return lk_str_make((const char *) copy + 1, node.len);
}

static void
free_id(const lk_alloc *a, lk_str node)
{
	lk_free(a, (void *) (node.p - 1));
}

void
lk_gcounter_acc_init(lk_gcounter_acc *acc)
{
	lk_gcounter_init(&acc->gc);
	acc->npending = 0;
	acc->cap_pending = 0;
	acc->pending = NULL;
}

void
lk_gcounter_acc_free(const lk_alloc *a, lk_gcounter_acc *acc)
{
	for (uint32_t i = 0; i < acc->gc.n; i++)
		free_id(a, acc->gc.e[i].node);
	for (uint32_t i = 0; i < acc->npending; i++)
		free_id(a, acc->pending[i].node);
	lk_gcounter_free(a, &acc->gc);
	lk_free(a, acc->pending);
	lk_gcounter_acc_init(acc);
}

/*
 * The first index at or after `from` whose node is not below `node` (gc->n
 * if none), by exponential then binary search: over sorted input, whose
 * successive nodes are found at growing indexes, each costs O(log distance).
 */
static uint32_t
seek(const lk_gcounter *gc, uint32_t from, lk_str node)
{
	uint32_t	lo,
				hi,
				step = 1;

	if (from >= gc->n || lk_str_cmp(gc->e[from].node, node) >= 0)
		return from;
	lo = from;					/* e[lo] < node */
	while (lo + step < gc->n && lk_str_cmp(gc->e[lo + step].node, node) < 0)
	{
		lo += step;
		step *= 2;
	}
	hi = lo + step < gc->n ? lo + step : gc->n; /* e[hi] >= node, or hi == n */
	lo++;
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (lk_str_cmp(gc->e[mid].node, node) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Raise node's entry, or queue it (with a copy of its id) when gc lacks it. */
static void
absorb_entry(lk_gcounter_acc *acc, uint32_t *cursor, lk_str node, uint64_t count,
			 const lk_alloc *a)
{
	uint32_t	i = seek(&acc->gc, *cursor, node);

	if (i < acc->gc.n && lk_str_eq(acc->gc.e[i].node, node))
	{
		if (count > acc->gc.e[i].count)
			acc->gc.e[i].count = count;
		*cursor = i + 1;
		return;
	}
	*cursor = i;
	if (acc->npending == acc->cap_pending)
	{
		uint32_t	cap = acc->cap_pending ? acc->cap_pending * 2 : ACC_MIN_PENDING;
		lk_gc_entry *e = lk_malloc(a, (size_t) cap * sizeof(lk_gc_entry));

		if (acc->npending)
			memcpy(e, acc->pending, (size_t) acc->npending * sizeof(lk_gc_entry));
		lk_free(a, acc->pending);
		acc->pending = e;
		acc->cap_pending = cap;
	}
	acc->pending[acc->npending].node = own_id(a, node);
	acc->pending[acc->npending].count = count;
	acc->npending++;
}

/*
 * Sort the pending entries, take the maximum of repeated nodes, and merge
 * them into gc: O(p log p + n).  Done only once p ≥ n, so the O(n) is paid
 * for by the p entries.
 */
static lk_code
flush(lk_gcounter_acc *acc, const lk_alloc *a, lk_error *err)
{
	lk_gcounter merged;
	uint32_t	k = 0,
				i = 0,
				j = 0;

	if (acc->npending == 0)
		return LK_OK;
	lk_sort(acc->pending, acc->npending, sizeof(lk_gc_entry), entry_cmp);
	for (uint32_t p = 0; p < acc->npending; p++)
	{
		if (k > 0 && lk_str_eq(acc->pending[k - 1].node, acc->pending[p].node))
		{
			if (acc->pending[p].count > acc->pending[k - 1].count)
				acc->pending[k - 1].count = acc->pending[p].count;
			free_id(a, acc->pending[p].node);
		}
		else
			acc->pending[k++] = acc->pending[p];
	}
	acc->npending = 0;
	lk_gcounter_init(&merged);
	reserve(&merged, acc->gc.n + k, a);
	while (i < acc->gc.n || j < k)
	{
		int			c = i == acc->gc.n ? 1 : j == k ? -1 :
			lk_str_cmp(acc->gc.e[i].node, acc->pending[j].node);

		if (c < 0)
			merged.e[merged.n++] = acc->gc.e[i++];
		else if (c > 0)
			merged.e[merged.n++] = acc->pending[j++];
		else
		{
			/* a node can be pending and in gc when an input was not sorted */
			merged.e[merged.n] = acc->gc.e[i++];
			if (acc->pending[j].count > merged.e[merged.n].count)
				merged.e[merged.n].count = acc->pending[j].count;
			free_id(a, acc->pending[j++].node);
			merged.n++;
		}
	}
	lk_gcounter_free(a, &acc->gc);
	acc->gc = merged;
	if (acc->gc.n > LK_MAX_NODES)
		return too_many_nodes(err, type_name);
	return LK_OK;
}

static lk_code
maybe_flush(lk_gcounter_acc *acc, const lk_alloc *a, lk_error *err)
{
	if (acc->npending < ACC_MIN_PENDING || acc->npending < acc->gc.n)
		return LK_OK;
	return flush(acc, a, err);
}

lk_code
lk_gcounter_acc_finish(lk_gcounter_acc *acc, const lk_alloc *a, lk_error *err)
{
	return flush(acc, a, err);
}

lk_code
lk_gcounter_acc_absorb(lk_gcounter_acc *acc, const lk_gcounter *in, const lk_alloc *a,
					   lk_error *err)
{
	uint32_t	cursor = 0;

	for (uint32_t k = 0; k < in->n; k++)
		absorb_entry(acc, &cursor, in->e[k].node, in->e[k].count, a);
	return maybe_flush(acc, a, err);
}

lk_code
lk_gcounter_acc_absorb_acc(lk_gcounter_acc *acc, const lk_gcounter_acc *in, const lk_alloc *a,
						   lk_error *err)
{
	for (uint32_t k = 0; k < in->npending; k++)
	{
		uint32_t	cursor = 0;

		absorb_entry(acc, &cursor, in->pending[k].node, in->pending[k].count, a);
	}
	return lk_gcounter_acc_absorb(acc, &in->gc, a, err);
}

static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t
load32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t
load16(const uint8_t *p)
{
	uint16_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * p[0..n) = q[0..n) for n ≥ 2 (an entry's length byte and id): two
 * overlapping loads cover up to twice their width, so a short id costs two
 * compares, with no byte loop and no libc call.
 */
static inline bool
same_entry_bytes(const uint8_t *p, const uint8_t *q, size_t n)
{
	if (n >= 8)
	{
		size_t		i;

		for (i = 0; i + 8 < n; i += 8)
			if (load64(p + i) != load64(q + i))
				return false;
		return load64(p + n - 8) == load64(q + n - 8);
	}
	if (n >= 4)
		return ((load32(p) ^ load32(q)) | (load32(p + n - 4) ^ load32(q + n - 4))) == 0;
	return ((load16(p) ^ load16(q)) | (load16(p + n - 2) ^ load16(q + n - 2))) == 0;
}

/*
 * A count of a trusted input: its bounds are checked, its canonical form is
 * not (a stored value was checked when it was stored).
 */
static inline bool
read_count(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t	v = 0;
	unsigned	shift = 0;
	uint8_t		byte;

	do
	{
		if (p == end || shift > 63)
			return false;
		byte = *p++;
		v |= (uint64_t) (byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	*pp = p;
	*out = v;
	return true;
}

/*
 * The common case of an aggregate: the input names the same nodes as the
 * accumulator, in the same order, so a lockstep walk takes the maxima in
 * place with no allocation.  False, with r unmoved, when the input is of
 * another shape; raising some entries before finding that out is harmless,
 * max being idempotent.
 */
static bool
absorb_same_nodes(lk_gcounter_acc *acc, lk_reader *r)
{
	lk_reader	head = *r;
	const uint8_t *p;
	uint64_t	n;

	if (!lk_read_varint(&head, &n) || n != acc->gc.n)
		return false;
	p = head.p;
	for (uint32_t i = 0; i < acc->gc.n; i++)
	{
		lk_gc_entry *e = &acc->gc.e[i];
		size_t		enc = (size_t) e->node.len + 1;
		uint64_t	count;

		/* own_id keeps the length byte just before the id */
		if ((size_t) (r->end - p) < enc ||
			!same_entry_bytes(p, (const uint8_t *) e->node.p - 1, enc))
			return false;
		p += enc;
		if (!read_count(&p, r->end, &count))
			return false;
		if (count > e->count)
			e->count = count;
	}
	r->p = p;
	return true;
}

lk_code
lk_gcounter_acc_absorb_body(lk_gcounter_acc *acc, lk_reader *r, const char *tname,
							const lk_alloc *a, lk_error *err)
{
	uint64_t	n;
	uint32_t	cursor = 0;

	if (absorb_same_nodes(acc, r))
		return LK_OK;

	/* Otherwise each entry is looked up from where the previous one was found. */
	if (!lk_read_varint(r, &n) || n > (uint64_t) (r->end - r->p))
		return lk_binary_error(err, tname, "The entry count is truncated or malformed.");
	for (uint64_t k = 0; k < n; k++)
	{
		uint8_t		len;
		const uint8_t *p;
		uint64_t	count;

		if (!lk_read_u8(r, &len) || len == 0 || !lk_read_bytes(r, len, &p) ||
			!lk_read_varint(r, &count))
			return lk_binary_error(err, tname, "An entry is truncated.");
		absorb_entry(acc, &cursor, lk_str_make((const char *) p, len), count, a);
	}
	return maybe_flush(acc, a, err);
}

lk_code
lk_gcounter_acc_absorb_value(lk_gcounter_acc *acc, const uint8_t *buf, size_t len,
							 const lk_alloc *a, lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	lk_code		rc;

	/* once per row: the usual case is checked inline, lk_format_open words the errors */
	if (len > 0 && len <= LK_MAX_STATE_BYTES && buf[0] == lk_format_byte(LK_GCOUNTER))
		r.p++;
	else if ((rc = lk_format_open(&r, LK_GCOUNTER, type_name, err)) != LK_OK)
		return rc;
	return lk_gcounter_acc_absorb_body(acc, &r, type_name, a, err);
}
