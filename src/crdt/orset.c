/*
 * orset.c — the add-wins observed-remove set (see orset.h for the model and
 * the encoding).
 *
 * Every constructor (decode, parse, merge, delta, the operation deltas)
 * builds its result through the push_* helpers in canonical order, so each
 * result is canonical by construction.  Operations are deltas applied with
 * merge: add(s) = merge(s, add_delta(s)), which keeps one code path for the
 * lattice and hands the bridge the delta it must send.
 */
#include "orset.h"

#include <stdio.h>
#include <stdlib.h>

#include "lk_format.h"
#include "lk_json.h"
#include "lk_limits.h"

static const char *const type_name = "orset";

#define NONE UINT32_MAX

void
lk_orset_init(lk_orset *s)
{
	memset(s, 0, sizeof(*s));
}

void
lk_orset_free(const lk_alloc *a, lk_orset *s)
{
	lk_free(a, s->nodes);
	lk_free(a, s->ranges);
	lk_free(a, s->elems);
	lk_free(a, s->dots);
	lk_orset_init(s);
}

/* Make room for one more item in an array of n items with capacity *cap. */
static void *
grow(const lk_alloc *a, void *arr, uint32_t n, uint32_t *cap, size_t elsize)
{
	uint32_t	newcap;
	void	   *p;

	if (n < *cap)
		return arr;
	newcap = *cap ? *cap * 2 : 8;
	p = lk_malloc(a, (size_t) newcap * elsize);
	if (n)
		memcpy(p, arr, (size_t) n * elsize);
	lk_free(a, arr);
	*cap = newcap;
	return p;
}

/* Size an empty array for n items up front: one allocation instead of log2(n) copies. */
static void *
reserve_arr(const lk_alloc *a, void *arr, uint32_t used, uint32_t *cap, uint64_t n, size_t elsize)
{
	void	   *p;

	if (n <= *cap)
		return arr;
	p = lk_malloc(a, (size_t) n * elsize);
	if (used)
		memcpy(p, arr, (size_t) used * elsize);
	lk_free(a, arr);
	*cap = (uint32_t) n;
	return p;
}

static uint32_t
push_node(lk_orset *s, lk_str id, const lk_alloc *a)
{
	s->nodes = grow(a, s->nodes, s->nnodes, &s->cap_nodes, sizeof(lk_onode));
	s->nodes[s->nnodes].id = id;
	s->nodes[s->nnodes].r_off = s->nranges;
	s->nodes[s->nnodes].nr = 0;
	return s->nnodes++;
}

/* Drop the last node if it received no range. */
static bool
end_node(lk_orset *s)
{
	if (s->nodes[s->nnodes - 1].nr == 0)
	{
		s->nnodes--;
		return false;
	}
	return true;
}

/* Append a range to the last node; ranges must come in ascending lo order. */
static void
push_range(lk_orset *s, uint64_t lo, uint64_t hi, const lk_alloc *a)
{
	lk_onode   *n = &s->nodes[s->nnodes - 1];

	if (n->nr > 0)
	{
		lk_range   *last = &s->ranges[s->nranges - 1];

		if (lo <= last->hi + 1)
		{
			if (hi > last->hi)
				last->hi = hi;
			return;
		}
	}
	s->ranges = grow(a, s->ranges, s->nranges, &s->cap_ranges, sizeof(lk_range));
	s->ranges[s->nranges].lo = lo;
	s->ranges[s->nranges].hi = hi;
	s->nranges++;
	n->nr++;
}

static void
push_elem(lk_orset *s, lk_str str, const lk_alloc *a)
{
	s->elems = grow(a, s->elems, s->nelems, &s->cap_elems, sizeof(lk_oelem));
	s->elems[s->nelems].s = str;
	s->elems[s->nelems].d_off = s->ndots;
	s->elems[s->nelems].nd = 0;
	s->nelems++;
}

static void
push_dot(lk_orset *s, uint32_t node, uint64_t seq, const lk_alloc *a)
{
	s->dots = grow(a, s->dots, s->ndots, &s->cap_dots, sizeof(lk_dot));
	s->dots[s->ndots].node = node;
	s->dots[s->ndots].seq = seq;
	s->ndots++;
	s->elems[s->nelems - 1].nd++;
}

/* An element without dots is absent: drop it. */
static void
end_elem(lk_orset *s)
{
	if (s->elems[s->nelems - 1].nd == 0)
		s->nelems--;
}

/* Index in s->ranges of node's range that holds seq, or NONE. */
static uint32_t
range_of(const lk_orset *s, uint32_t node, uint64_t seq)
{
	const lk_range *r;
	uint32_t	lo = 0,
				hi;

	if (node == NONE)
		return NONE;
	r = s->ranges + s->nodes[node].r_off;
	hi = s->nodes[node].nr;
	/* find the first range whose hi is ≥ seq */
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (r[mid].hi < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->nodes[node].nr && r[lo].lo <= seq)
		return s->nodes[node].r_off + lo;
	return NONE;
}

static bool
in_context(const lk_orset *s, uint32_t node, uint64_t seq)
{
	return range_of(s, node, seq) != NONE;
}

/* Index of the node named id, or NONE. */
static uint32_t
find_node(const lk_orset *s, lk_str id)
{
	uint32_t	lo = 0,
				hi = s->nnodes;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		int			c = lk_str_cmp(s->nodes[mid].id, id);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

int64_t
lk_orset_find(const lk_orset *s, lk_str elem)
{
	uint32_t	lo = 0,
				hi = s->nelems;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		int			c = lk_str_cmp(s->elems[mid].s, elem);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static lk_code
check_limits(lk_orset *s, const lk_alloc *a, lk_error *err)
{
	if (s->nnodes > LK_MAX_NODES)
	{
		lk_orset_free(a, s);
		return lk_fail(err, LK_ERR_LIMIT, "orset has too many nodes",
					   "A state holds at most %d node ids.", LK_MAX_NODES);
	}
	if (s->nelems > LK_MAX_ELEMENTS)
	{
		lk_orset_free(a, s);
		return lk_fail(err, LK_ERR_LIMIT, "orset has too many elements",
					   "An orset holds at most %d elements.", LK_MAX_ELEMENTS);
	}
	return LK_OK;
}

static int	dot_cmp(const void *x, const void *y);

/*
 * A dot names one add of one element, so no two elements may hold the same
 * dot.  Operations never build such a state; given one, delta and add would
 * act on every element holding the dot (they retire dots through the
 * context), and merge(old, delta(old, new)) would differ from
 * merge(old, new).  So the decoder and the parser refuse it.  True, with the
 * dot, when one is shared.
 */
static bool
find_shared_dot(const lk_orset *s, const lk_alloc *a, lk_dot *shared)
{
	lk_dot	   *all;
	bool		found = false;

	if (s->nelems < 2)
		return false;
	all = lk_malloc(a, (size_t) s->ndots * sizeof(lk_dot));
	memcpy(all, s->dots, (size_t) s->ndots * sizeof(lk_dot));
	lk_sort(all, s->ndots, sizeof(lk_dot), dot_cmp);
	for (uint32_t i = 1; i < s->ndots && !found; i++)
	{
		if (dot_cmp(&all[i - 1], &all[i]) == 0)
		{
			*shared = all[i];
			found = true;
		}
	}
	lk_free(a, all);
	return found;
}

/* ---- binary ---- */

/*
 * The nodes and ranges of a binary value, r just past the format byte,
 * pushed onto out (empty).  Checked as lk_orset_decode checks them.
 */
static lk_code
decode_context(lk_reader *r, const lk_alloc *a, lk_orset *out, lk_error *err)
{
	uint64_t	nnodes;

	if (!lk_read_varint(r, &nnodes))
		return lk_binary_error(err, type_name, "The node count is truncated or malformed.");
	if (nnodes > LK_MAX_NODES)
		return lk_binary_error(err, type_name, "The node count exceeds the limit.");
	for (uint64_t i = 0; i < nnodes; i++)
	{
		uint8_t		idlen;
		const uint8_t *p;
		uint64_t	nr,
					prev_hi = 0;
		lk_str		id;
		lk_error	node_err;

		if (!lk_read_u8(r, &idlen) || idlen == 0 || !lk_read_bytes(r, idlen, &p))
			return lk_binary_error(err, type_name, "A node id is empty or truncated.");
		id = lk_str_make((const char *) p, idlen);
		if (lk_node_id_check(id, &node_err) != LK_OK)
			return lk_binary_error(err, type_name, "A node id is not valid UTF-8 or has a control character.");
		if (i > 0 && lk_str_cmp(out->nodes[i - 1].id, id) >= 0)
			return lk_binary_error(err, type_name, "Node ids are not sorted and unique.");
		if (!lk_read_varint(r, &nr) || nr == 0)
			return lk_binary_error(err, type_name, "A node has no context ranges.");
		if (nr > (uint64_t) (r->end - r->p) / 2)
			return lk_binary_error(err, type_name, "The range count exceeds the data.");
		push_node(out, id, a);
		for (uint64_t k = 0; k < nr; k++)
		{
			uint64_t	gap,
						span,
						lo;

			if (!lk_read_varint(r, &gap) || !lk_read_varint(r, &span))
				return lk_binary_error(err, type_name, "A context range is truncated or malformed.");
			/* lo = prev_hi + 2 + gap (first: 1 + gap), hi = lo + span, all ≤ 2^63−1 */
			lo = k == 0 ? 1 : prev_hi + 2;
			if (gap > LK_COUNT_MAX || lo > LK_COUNT_MAX - gap)
				return lk_binary_error(err, type_name, "A context range exceeds the sequence range.");
			lo += gap;
			if (span > LK_COUNT_MAX - lo)
				return lk_binary_error(err, type_name, "A context range exceeds the sequence range.");
			push_range(out, lo, lo + span, a);
			prev_hi = lo + span;
		}
	}
	return LK_OK;
}

/*
 * No dot may be held by two elements (find_shared_dot says why).  A decoder
 * finds one as it reads, in O(dots), with one bit per sequence number the
 * context covers, when those are at most SEEN_BITS_PER_BYTE per byte of the
 * value: the bitmap is then smaller than the arrays a decoded state takes.
 * A sparser context (a few dots among huge ranges) falls back to sorting
 * the dots at the end: the decoded state's, or a copy kept here when the
 * caller keeps no state (lk_orset_merge_encoded).
 */
#define SEEN_BITS_PER_BYTE 16

typedef struct dot_seen
{
	uint64_t   *bits;			/* NULL: sort at the end instead */
	uint64_t   *first;			/* per range of the context: the bit of its lo */
	bool		keep;			/* without bits: copy every dot to kept */
	lk_dot	   *kept;
	uint32_t	nkept,
				cap_kept;
	bool		shared;
} dot_seen;

static void
seen_init(dot_seen *ds, const lk_orset *ctx, size_t value_len, bool keep, const lk_alloc *a)
{
	uint64_t	covered = 0;

	memset(ds, 0, sizeof(*ds));
	for (uint32_t i = 0; i < ctx->nranges; i++)
	{
		covered += ctx->ranges[i].hi - ctx->ranges[i].lo + 1;
		if (covered > (uint64_t) value_len * SEEN_BITS_PER_BYTE)
		{
			ds->keep = keep;
			return;
		}
	}
	ds->bits = lk_malloc(a, (size_t) (covered / 64 + 1) * sizeof(uint64_t));
	memset(ds->bits, 0, (size_t) (covered / 64 + 1) * sizeof(uint64_t));
	ds->first = lk_malloc(a, ((size_t) ctx->nranges + 1) * sizeof(uint64_t));
	covered = 0;
	for (uint32_t i = 0; i < ctx->nranges; i++)
	{
		ds->first[i] = covered;
		covered += ctx->ranges[i].hi - ctx->ranges[i].lo + 1;
	}
}

/* A dot of an element, in range `range` of the context. */
static void
seen_add(dot_seen *ds, const lk_orset *ctx, uint32_t range, uint32_t node, uint64_t seq,
		 const lk_alloc *a)
{
	if (ds->bits)
	{
		uint64_t	bit = ds->first[range] + (seq - ctx->ranges[range].lo);
		uint64_t	mask = (uint64_t) 1 << (bit % 64);

		if (ds->bits[bit / 64] & mask)
			ds->shared = true;
		ds->bits[bit / 64] |= mask;
	}
	else if (ds->keep)
	{
		ds->kept = grow(a, ds->kept, ds->nkept, &ds->cap_kept, sizeof(lk_dot));
		ds->kept[ds->nkept].node = node;
		ds->kept[ds->nkept].seq = seq;
		ds->nkept++;
	}
}

static void
seen_free(dot_seen *ds, const lk_alloc *a)
{
	lk_free(a, ds->bits);
	lk_free(a, ds->first);
	lk_free(a, ds->kept);
	memset(ds, 0, sizeof(*ds));
}

/* True when some dot was seen twice; decoded is the state read, or NULL if kept. */
static bool
seen_shared(dot_seen *ds, const lk_orset *decoded, const lk_alloc *a)
{
	lk_dot		shared;

	if (ds->bits)
		return ds->shared;
	if (decoded)
		return find_shared_dot(decoded, a, &shared);
	lk_sort(ds->kept, ds->nkept, sizeof(lk_dot), dot_cmp);
	for (uint32_t i = 1; i < ds->nkept; i++)
		if (dot_cmp(&ds->kept[i - 1], &ds->kept[i]) == 0)
			return true;
	return false;
}

/*
 * The elements of a binary value, read one at a time and checked as the
 * decoder checks them.
 */
typedef struct elem_reader
{
	lk_reader	r;
	uint64_t	left;			/* elements not read yet */
	bool		any;			/* whether one was read */
	lk_str		prev;			/* the last one read */
	const lk_orset *ctx;		/* the value's nodes and ranges */
	dot_seen	seen;
} elem_reader;

/* r is past the context of a value of value_len bytes; keep as for seen_init. */
static lk_code
elems_open(elem_reader *er, const lk_reader *r, const lk_orset *ctx, size_t value_len,
		   bool keep, const lk_alloc *a, lk_error *err)
{
	memset(er, 0, sizeof(*er));
	er->r = *r;
	er->ctx = ctx;
	if (!lk_read_varint(&er->r, &er->left))
		return lk_binary_error(err, type_name, "The element count is truncated or malformed.");
	if (er->left > LK_MAX_ELEMENTS)
		return lk_binary_error(err, type_name, "The element count exceeds the limit.");
	if (er->left > (uint64_t) (er->r.end - er->r.p) / 3)
		return lk_binary_error(err, type_name, "The element count exceeds the data.");
	seen_init(&er->seen, ctx, value_len, keep, a);
	return LK_OK;
}

/*
 * Read the next element and push it onto `into` (push_elem, push_dot),
 * its dots naming nodes by their index in the context.
 */
static lk_code
elems_next(elem_reader *er, lk_orset *into, const lk_alloc *a, lk_error *err)
{
	lk_reader  *r = &er->r;
	uint64_t	elen,
				nd;
	const uint8_t *p;
	lk_str		e;
	lk_error	elem_err;

	if (!lk_read_varint(r, &elen) || elen > LK_ELEMENT_MAX ||
		!lk_read_bytes(r, (size_t) elen, &p))
		return lk_binary_error(err, type_name, "An element is truncated or too long.");
	e = lk_str_make((const char *) p, (size_t) elen);
	if (lk_element_check(e, &elem_err) != LK_OK)
		return lk_binary_error(err, type_name, "An element is not valid UTF-8 or holds a NUL.");
	if (er->any && lk_str_cmp(er->prev, e) >= 0)
		return lk_binary_error(err, type_name, "Elements are not sorted and unique.");
	if (!lk_read_varint(r, &nd) || nd == 0)
		return lk_binary_error(err, type_name, "An element has no dots.");
	if (nd > (uint64_t) (r->end - r->p) / 2)
		return lk_binary_error(err, type_name, "The dot count exceeds the data.");
	push_elem(into, e, a);
	for (uint64_t k = 0; k < nd; k++)
	{
		uint64_t	node,
					seq;
		uint32_t	range;
		lk_dot	   *prev = k ? &into->dots[into->ndots - 1] : NULL;

		if (!lk_read_varint(r, &node) || !lk_read_varint(r, &seq))
			return lk_binary_error(err, type_name, "A dot is truncated or malformed.");
		if (node >= er->ctx->nnodes)
			return lk_binary_error(err, type_name, "A dot names a node outside the context.");
		if (prev && (node < prev->node || (node == prev->node && seq <= prev->seq)))
			return lk_binary_error(err, type_name, "The dots of an element are not sorted and unique.");
		if ((range = range_of(er->ctx, (uint32_t) node, seq)) == NONE)
			return lk_binary_error(err, type_name, "A dot is not covered by the causal context.");
		seen_add(&er->seen, er->ctx, range, (uint32_t) node, seq, a);
		push_dot(into, (uint32_t) node, seq, a);
	}
	er->prev = e;
	er->any = true;
	er->left--;
	return LK_OK;
}

/* After the last element: nothing may follow, no dot may be shared. */
static lk_code
elems_close(elem_reader *er, const lk_orset *decoded, const lk_alloc *a, lk_error *err)
{
	if (er->r.p != er->r.end)
		return lk_binary_error(err, type_name, "Trailing bytes follow the value.");
	if (seen_shared(&er->seen, decoded, a))
		return lk_binary_error(err, type_name, "A dot belongs to more than one element.");
	return LK_OK;
}

lk_code
lk_orset_decode(const uint8_t *buf, size_t len, const lk_alloc *a, lk_orset *out, lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	elem_reader er;
	lk_code		rc;

	lk_orset_init(out);
	memset(&er, 0, sizeof(er));
	if ((rc = lk_format_open(&r, LK_ORSET, type_name, err)) != LK_OK ||
		(rc = decode_context(&r, a, out, err)) != LK_OK ||
		(rc = elems_open(&er, &r, out, len, false, a, err)) != LK_OK)
		goto done;
	out->elems = reserve_arr(a, out->elems, out->nelems, &out->cap_elems, er.left, sizeof(lk_oelem));
	out->dots = reserve_arr(a, out->dots, out->ndots, &out->cap_dots, er.left, sizeof(lk_dot));
	while (er.left > 0)
		if ((rc = elems_next(&er, out, a, err)) != LK_OK)
			goto done;
	rc = elems_close(&er, out, a, err);
done:
	seen_free(&er.seen, a);
	if (rc != LK_OK)
		lk_orset_free(a, out);
	return rc;
}

static size_t
context_size(const lk_orset *s)
{
	size_t		n = lk_varint_size(s->nnodes);

	for (uint32_t i = 0; i < s->nnodes; i++)
	{
		const lk_onode *nd = &s->nodes[i];
		uint64_t	prev_hi = 0;

		n += 1 + nd->id.len + lk_varint_size(nd->nr);
		for (uint32_t k = 0; k < nd->nr; k++)
		{
			const lk_range *rg = &s->ranges[nd->r_off + k];

			n += lk_varint_size(rg->lo - (k == 0 ? 1 : prev_hi + 2)) + lk_varint_size(rg->hi - rg->lo);
			prev_hi = rg->hi;
		}
	}
	return n;
}

static void
encode_context(const lk_orset *s, lk_buf *b)
{
	lk_buf_put_varint(b, s->nnodes);
	for (uint32_t i = 0; i < s->nnodes; i++)
	{
		const lk_onode *n = &s->nodes[i];
		uint64_t	prev_hi = 0;

		lk_buf_put_u8(b, (uint8_t) n->id.len);
		lk_buf_put(b, n->id.p, n->id.len);
		lk_buf_put_varint(b, n->nr);
		for (uint32_t k = 0; k < n->nr; k++)
		{
			const lk_range *rg = &s->ranges[n->r_off + k];

			lk_buf_put_varint(b, rg->lo - (k == 0 ? 1 : prev_hi + 2));
			lk_buf_put_varint(b, rg->hi - rg->lo);
			prev_hi = rg->hi;
		}
	}
}

static size_t
elem_size(lk_str s, const lk_dot *d, uint32_t nd)
{
	size_t		n = lk_varint_size(s.len) + s.len + lk_varint_size(nd);

	for (uint32_t k = 0; k < nd; k++)
		n += lk_varint_size(d[k].node) + lk_varint_size(d[k].seq);
	return n;
}

static void
encode_elem(lk_buf *b, lk_str s, const lk_dot *d, uint32_t nd)
{
	lk_buf_reserve(b, elem_size(s, d, nd));
	lk_buf_put_varint(b, s.len);
	lk_buf_put(b, s.p, s.len);
	lk_buf_put_varint(b, nd);
	for (uint32_t k = 0; k < nd; k++)
	{
		lk_buf_put_varint(b, d[k].node);
		lk_buf_put_varint(b, d[k].seq);
	}
}

lk_code
lk_orset_encode(const lk_orset *s, lk_buf *b, lk_error *err)
{
	size_t		start = b->len,
				size = 1 + context_size(s) + lk_varint_size(s->nelems);

	/* sized first: one allocation instead of a doubling copy per power of two */
	for (uint32_t i = 0; i < s->nelems; i++)
		size += elem_size(s->elems[i].s, s->dots + s->elems[i].d_off, s->elems[i].nd);
	lk_buf_reserve(b, size);
	lk_buf_put_u8(b, lk_format_byte(LK_ORSET));
	encode_context(s, b);
	lk_buf_put_varint(b, s->nelems);
	for (uint32_t i = 0; i < s->nelems; i++)
		encode_elem(b, s->elems[i].s, s->dots + s->elems[i].d_off, s->elems[i].nd);
	return lk_check_state_size(b->len - start, type_name, err);
}

/* ---- text ---- */

void
lk_orset_to_json(const lk_orset *s, lk_buf *b)
{
	char	   *o;

	/*
	 * Bulk writes (lk_buf_room): room for each range, each element's key and
	 * each dot with its node's key is reserved once, then written through o.
	 */
	lk_buf_put_u8(b, '{');
	if (s->nnodes)
	{
		lk_buf_put_lit(b, "\"c\":{");
		for (uint32_t i = 0; i < s->nnodes; i++)
		{
			const lk_onode *n = &s->nodes[i];

			o = lk_buf_room(b, LK_JSON_STRING_MAX(n->id.len) + 4);	/* ,:[ and ] */
			if (i)
				*o++ = ',';
			o = lk_json_write_string(o, n->id);
			*o++ = ':';
			*o++ = '[';
			for (uint32_t k = 0; k < n->nr; k++)
			{
				const lk_range *r = &s->ranges[n->r_off + k];

				lk_buf_end(b, o);
				o = lk_buf_room(b, 2 * LK_UINT_TEXT_MAX + 5);	/* ,[,] and ] */
				if (k)
					*o++ = ',';
				*o++ = '[';
				o = lk_write_uint(o, r->lo);
				*o++ = ',';
				o = lk_write_uint(o, r->hi);
				*o++ = ']';
			}
			*o++ = ']';
			lk_buf_end(b, o);
		}
		lk_buf_put_u8(b, '}');
	}
	if (s->nelems)
	{
		if (s->nnodes)
			lk_buf_put_u8(b, ',');
		lk_buf_put_lit(b, "\"e\":{");
		for (uint32_t i = 0; i < s->nelems; i++)
		{
			const lk_oelem *e = &s->elems[i];
			const lk_dot *d = s->dots + e->d_off;

			o = lk_buf_room(b, LK_JSON_STRING_MAX(e->s.len) + 5);	/* ,:{ and ]} */
			if (i)
				*o++ = ',';
			o = lk_json_write_string(o, e->s);
			*o++ = ':';
			*o++ = '{';
			for (uint32_t k = 0; k < e->nd; k++)
			{
				lk_str		id = s->nodes[d[k].node].id;

				lk_buf_end(b, o);
				o = lk_buf_room(b, LK_JSON_STRING_MAX(id.len) + LK_UINT_TEXT_MAX + 6);	/* ],:[ and ]} */
				if (k == 0 || d[k].node != d[k - 1].node)
				{
					if (k)
					{
						*o++ = ']';
						*o++ = ',';
					}
					o = lk_json_write_string(o, id);
					*o++ = ':';
					*o++ = '[';
				}
				else
					*o++ = ',';
				o = lk_write_uint(o, d[k].seq);
			}
			*o++ = ']';
			*o++ = '}';
			lk_buf_end(b, o);
		}
		lk_buf_put_u8(b, '}');
	}
	lk_buf_put_u8(b, '}');
}

/* What the parser collects before it can order and check anything. */
typedef struct ctx_entry
{
	lk_str		id;
	uint64_t	lo,
				hi;
	uint32_t	member;			/* which "c" member it came from: finds duplicate keys */
} ctx_entry;

typedef struct raw_dot
{
	lk_str		id;
	uint64_t	seq;
} raw_dot;

typedef struct raw_elem
{
	lk_str		s;
	uint32_t	off,
				n;
} raw_elem;

typedef struct parse_state
{
	lk_json		j;
	ctx_entry  *ctx;
	uint32_t	nctx,
				cap_ctx;
	raw_elem   *el;
	uint32_t	nel,
				cap_el;
	raw_dot    *dots;
	uint32_t	ndots,
				cap_dots;
} parse_state;

static lk_code
parse_seq(parse_state *ps, const char *what, uint64_t *out)
{
	const char *at = ps->j.p;
	lk_code		rc;

	if ((rc = lk_json_uint(&ps->j, what, out)) != LK_OK)
		return rc;
	if (*out == 0)
	{
		ps->j.p = at;
		return lk_json_error(&ps->j, "sequence numbers start at 1");
	}
	return LK_OK;
}

static lk_code
parse_node_key(parse_state *ps, lk_json_iter *it, bool *more, lk_str *id)
{
	lk_code		rc;
	lk_error	node_err;

	if ((rc = lk_json_next_key(&ps->j, it, more, id)) != LK_OK || !*more)
		return rc;
	if (lk_node_id_check(*id, &node_err) != LK_OK)
		return lk_json_invalid(&ps->j, ps->j.key_at, "node id", node_err.msg);
	return LK_OK;
}

/* "c": {node: [[lo, hi], ...], ...} */
static lk_code
parse_context(parse_state *ps)
{
	lk_json_iter it;
	bool		more;
	lk_code		rc;
	uint32_t	member = 0;

	if ((rc = lk_json_object(&ps->j, &it)) != LK_OK)
		return rc;
	for (;;)
	{
		lk_str		id;
		lk_json_iter ranges;

		if ((rc = parse_node_key(ps, &it, &more, &id)) != LK_OK)
			return rc;
		if (!more)
			return LK_OK;
		member++;
		if ((rc = lk_json_array(&ps->j, &ranges)) != LK_OK)
			return rc;
		for (;;)
		{
			lk_json_iter pair;
			bool		item;
			uint64_t	lo,
						hi;
			const char *at;

			if ((rc = lk_json_next_item(&ps->j, &ranges, &item)) != LK_OK)
				return rc;
			if (!item)
				break;
			if ((rc = lk_json_array(&ps->j, &pair)) != LK_OK ||
				(rc = lk_json_next_item(&ps->j, &pair, &item)) != LK_OK)
				return rc;
			if (!item)
				return lk_json_error(&ps->j, "a range is [first, last]");
			if ((rc = parse_seq(ps, "range start", &lo)) != LK_OK ||
				(rc = lk_json_next_item(&ps->j, &pair, &item)) != LK_OK)
				return rc;
			if (!item)
				return lk_json_error(&ps->j, "a range is [first, last]");
			at = ps->j.p;
			if ((rc = parse_seq(ps, "range end", &hi)) != LK_OK)
				return rc;
			if (hi < lo)
			{
				ps->j.p = at;
				return lk_json_error(&ps->j, "a range must not end before it starts");
			}
			if ((rc = lk_json_next_item(&ps->j, &pair, &item)) != LK_OK)
				return rc;
			if (item)
				return lk_json_error(&ps->j, "a range is [first, last]");
			ps->ctx = grow(ps->j.a, ps->ctx, ps->nctx, &ps->cap_ctx, sizeof(ctx_entry));
			ps->ctx[ps->nctx].id = id;
			ps->ctx[ps->nctx].lo = lo;
			ps->ctx[ps->nctx].hi = hi;
			ps->ctx[ps->nctx].member = member;
			ps->nctx++;
		}
	}
}

/* "e": {element: {node: [seq, ...], ...}, ...} */
static lk_code
parse_elements(parse_state *ps)
{
	lk_json_iter it;
	bool		more;
	lk_code		rc;

	if ((rc = lk_json_object(&ps->j, &it)) != LK_OK)
		return rc;
	for (;;)
	{
		lk_str		e;
		lk_error	elem_err;
		lk_json_iter nodes;

		if ((rc = lk_json_next_key(&ps->j, &it, &more, &e)) != LK_OK)
			return rc;
		if (!more)
			return LK_OK;
		if ((rc = lk_element_check(e, &elem_err)) != LK_OK)
		{
			if (rc == LK_ERR_LIMIT)
				return lk_fail(ps->j.err, rc, elem_err.msg, "%s", elem_err.detail);
			return lk_json_invalid(&ps->j, ps->j.key_at, "element", elem_err.msg);
		}
		ps->el = grow(ps->j.a, ps->el, ps->nel, &ps->cap_el, sizeof(raw_elem));
		ps->el[ps->nel].s = e;
		ps->el[ps->nel].off = ps->ndots;
		ps->el[ps->nel].n = 0;
		ps->nel++;
		if ((rc = lk_json_object(&ps->j, &nodes)) != LK_OK)
			return rc;
		for (;;)
		{
			lk_str		id;
			lk_json_iter seqs;

			if ((rc = parse_node_key(ps, &nodes, &more, &id)) != LK_OK)
				return rc;
			if (!more)
				break;
			if ((rc = lk_json_array(&ps->j, &seqs)) != LK_OK)
				return rc;
			for (;;)
			{
				bool		item;
				uint64_t	seq;

				if ((rc = lk_json_next_item(&ps->j, &seqs, &item)) != LK_OK)
					return rc;
				if (!item)
					break;
				if ((rc = parse_seq(ps, "sequence number", &seq)) != LK_OK)
					return rc;
				ps->dots = grow(ps->j.a, ps->dots, ps->ndots, &ps->cap_dots, sizeof(raw_dot));
				ps->dots[ps->ndots].id = id;
				ps->dots[ps->ndots].seq = seq;
				ps->ndots++;
				ps->el[ps->nel - 1].n++;
			}
		}
	}
}

static int
ctx_cmp(const void *x, const void *y)
{
	const ctx_entry *a = x,
			   *b = y;
	int			c = lk_str_cmp(a->id, b->id);

	if (c)
		return c;
	return (a->lo > b->lo) - (a->lo < b->lo);
}

static int
raw_elem_cmp(const void *x, const void *y)
{
	return lk_str_cmp(((const raw_elem *) x)->s, ((const raw_elem *) y)->s);
}

static int
dot_cmp(const void *x, const void *y)
{
	const lk_dot *a = x,
			   *b = y;

	if (a->node != b->node)
		return (a->node > b->node) - (a->node < b->node);
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* A dot of an element as parsed, with the range of the context that covers it. */
typedef struct parsed_dot
{
	lk_dot		d;				/* first: dot_cmp reads it */
	uint32_t	range;
} parsed_dot;

/*
 * Order and check what was parsed, and build the canonical state.  A value's
 * text lists elements in order, so their sort is one pass (lk_sort); their
 * dots come in element order, not dot order, so a dot named by two elements
 * is found as the decoder finds it (dot_seen), not by sorting every dot.
 */
static lk_code
build_parsed(parse_state *ps, lk_orset *out)
{
	const lk_alloc *a = ps->j.a;
	lk_error   *err = ps->j.err;
	parsed_dot *scratch = NULL;
	uint32_t	cap_scratch = 0;
	dot_seen	seen;
	lk_dot		shared;
	lk_code		rc = LK_OK;

	lk_sort(ps->ctx, ps->nctx, sizeof(ctx_entry), ctx_cmp);
	for (uint32_t i = 0; i < ps->nctx; i++)
	{
		if (i == 0 || !lk_str_eq(ps->ctx[i - 1].id, ps->ctx[i].id))
			push_node(out, ps->ctx[i].id, a);
		else if (ps->ctx[i - 1].member != ps->ctx[i].member)
			return lk_fail(err, LK_ERR_SYNTAX, "invalid input syntax",
						   "Node id \"%.*s\" appears more than once in the context.",
						   lk_str_quote_len(ps->ctx[i].id), ps->ctx[i].id.p);
		push_range(out, ps->ctx[i].lo, ps->ctx[i].hi, a);
	}

	seen_init(&seen, out, (size_t) (ps->j.end - ps->j.start), false, a);
	lk_sort(ps->el, ps->nel, sizeof(raw_elem), raw_elem_cmp);
	for (uint32_t i = 0; i < ps->nel && rc == LK_OK; i++)
	{
		raw_elem   *re = &ps->el[i];
		uint32_t	n = 0;

		if (i > 0 && lk_str_eq(ps->el[i - 1].s, re->s))
		{
			rc = lk_fail(err, LK_ERR_SYNTAX, "invalid input syntax",
						 "Element \"%.*s\" appears more than once.",
						 lk_str_quote_len(re->s), re->s.p);
			break;
		}
		for (uint32_t k = 0; k < re->n; k++)
		{
			raw_dot    *rd = &ps->dots[re->off + k];
			uint32_t	node = find_node(out, rd->id),
						range = range_of(out, node, rd->seq);

			if (range == NONE)
			{
				rc = lk_fail(err, LK_ERR_VALUE, "orset dot is not in the causal context",
							 "Element \"%.*s\" has dot (\"%.*s\", %llu), which \"c\" does not cover.",
							 lk_str_quote_len(re->s), re->s.p,
							 lk_str_quote_len(rd->id), rd->id.p, (unsigned long long) rd->seq);
				break;
			}
			scratch = grow(a, scratch, n, &cap_scratch, sizeof(parsed_dot));
			scratch[n].d.node = node;
			scratch[n].d.seq = rd->seq;
			scratch[n].range = range;
			n++;
		}
		if (rc != LK_OK)
			break;
		lk_sort(scratch, n, sizeof(parsed_dot), dot_cmp);
		push_elem(out, re->s, a);
		for (uint32_t k = 0; k < n; k++)
		{
			if (k > 0 && dot_cmp(&scratch[k - 1], &scratch[k]) == 0)
				continue;		/* one element naming a dot twice holds it once */
			seen_add(&seen, out, scratch[k].range, scratch[k].d.node, scratch[k].d.seq, a);
			push_dot(out, scratch[k].d.node, scratch[k].d.seq, a);
		}
		end_elem(out);
	}
	lk_free(a, scratch);
	if (rc == LK_OK && seen_shared(&seen, out, a) && find_shared_dot(out, a, &shared))
		rc = lk_fail(err, LK_ERR_VALUE, "orset dot belongs to more than one element",
					 "Dot (\"%.*s\", %llu) is held by more than one element.",
					 lk_str_quote_len(out->nodes[shared.node].id), out->nodes[shared.node].id.p,
					 (unsigned long long) shared.seq);
	seen_free(&seen, a);
	return rc;
}

lk_code
lk_orset_parse(const char *s, size_t len, const lk_alloc *a, lk_orset *out, lk_error *err)
{
	parse_state ps;
	lk_json_iter it;
	bool		more,
				seen_c = false,
				seen_e = false;
	lk_code		rc;

	memset(&ps, 0, sizeof(ps));
	lk_orset_init(out);
	lk_json_init(&ps.j, s, len, a, err);
	if ((rc = lk_json_object(&ps.j, &it)) != LK_OK)
		goto done;
	for (;;)
	{
		lk_str		key;

		if ((rc = lk_json_next_key(&ps.j, &it, &more, &key)) != LK_OK)
			goto done;
		if (!more)
			break;
		if (key.len == 1 && key.p[0] == 'c' && !seen_c)
		{
			seen_c = true;
			rc = parse_context(&ps);
		}
		else if (key.len == 1 && key.p[0] == 'e' && !seen_e)
		{
			seen_e = true;
			rc = parse_elements(&ps);
		}
		else
		{
			rc = lk_json_invalid(&ps.j, ps.j.key_at, "key",
								 (key.len == 1 && (key.p[0] == 'c' || key.p[0] == 'e')) ?
								 "duplicate key" :
								 "the only keys of an orset are \"c\" and \"e\"");
		}
		if (rc != LK_OK)
			goto done;
	}
	if ((rc = lk_json_finish(&ps.j)) != LK_OK)
		goto done;
	if ((rc = build_parsed(&ps, out)) != LK_OK)
		goto done;
	rc = check_limits(out, a, err);
done:
	if (rc != LK_OK)
		lk_orset_free(a, out);
	lk_free(a, ps.ctx);
	lk_free(a, ps.el);
	lk_free(a, ps.dots);
	return rc;
}

/* ---- the lattice ---- */

/* Push the union of two sorted range lists onto the last node. */
static void
push_union(lk_orset *out, const lk_range *x, uint32_t nx, const lk_range *y, uint32_t ny,
		   const lk_alloc *a)
{
	uint32_t	i = 0,
				k = 0;

	while (i < nx || k < ny)
	{
		if (k == ny || (i < nx && x[i].lo <= y[k].lo))
		{
			push_range(out, x[i].lo, x[i].hi, a);
			i++;
		}
		else
		{
			push_range(out, y[k].lo, y[k].hi, a);
			k++;
		}
	}
}

/*
 * Where each side's nodes went in a merge: amap[i] is a's node i's index in
 * the result, a2b[i] its index in b (NONE if b lacks it); bmap, b2a alike.
 */
typedef struct node_maps
{
	uint32_t   *amap,
			   *a2b,
			   *bmap,
			   *b2a;
} node_maps;

static void
maps_free(const lk_alloc *al, node_maps *mp)
{
	lk_free(al, mp->amap);
	lk_free(al, mp->bmap);
	memset(mp, 0, sizeof(*mp));
}

/* Push the union of a's and b's nodes and ranges onto out (empty), and fill mp. */
static void
merge_nodes(const lk_orset *a, const lk_orset *b, const lk_alloc *al, lk_orset *out,
			node_maps *mp)
{
	uint32_t	i = 0,
				k = 0;

	mp->amap = lk_malloc(al, ((size_t) a->nnodes * 2 + 1) * sizeof(uint32_t));
	mp->a2b = mp->amap + a->nnodes;
	mp->bmap = lk_malloc(al, ((size_t) b->nnodes * 2 + 1) * sizeof(uint32_t));
	mp->b2a = mp->bmap + b->nnodes;
	out->nodes = reserve_arr(al, out->nodes, out->nnodes, &out->cap_nodes,
							 (uint64_t) a->nnodes + b->nnodes, sizeof(lk_onode));
	out->ranges = reserve_arr(al, out->ranges, out->nranges, &out->cap_ranges,
							  (uint64_t) a->nranges + b->nranges, sizeof(lk_range));
	while (i < a->nnodes || k < b->nnodes)
	{
		int			c = i == a->nnodes ? 1 : k == b->nnodes ? -1 :
			lk_str_cmp(a->nodes[i].id, b->nodes[k].id);
		const lk_onode *na = c <= 0 ? &a->nodes[i] : NULL;
		const lk_onode *nb = c > 0 || (c == 0 && na) ? &b->nodes[k] : NULL;
		/*
		 * The analyzer cannot know that an array is non-NULL whenever its
		 * count is positive (every lk_orset constructor keeps that so).
		 */
		lk_str		id = na ? na->id : nb->id;	/* NOLINT(clang-analyzer-core.NullDereference) */
		uint32_t	idx = push_node(out, id, al);

		push_union(out, na ? a->ranges + na->r_off : NULL, na ? na->nr : 0,
				   nb ? b->ranges + nb->r_off : NULL, nb ? nb->nr : 0, al);
		if (na)
		{
			mp->amap[i] = idx;
			mp->a2b[i] = nb ? k : NONE;
		}
		if (nb)
		{
			mp->bmap[k] = idx;
			mp->b2a[k] = na ? i : NONE;
		}
		i += na != NULL;
		k += nb != NULL;
	}
}

/*
 * The dots one element keeps in a merge, written to out (room for na + nb),
 * naming nodes by their index in the result; returns how many.  a and b
 * give the contexts (their nodes and ranges), da and db the element's dots
 * on each side (either count may be 0).
 */
static uint32_t
merge_dots(const lk_orset *a, const lk_dot *da, uint32_t na, const lk_orset *b,
		   const lk_dot *db, uint32_t nb, const node_maps *mp, lk_dot *out)
{
	uint32_t	x = 0,
				y = 0,
				n = 0;

	/*
	 * A dot both sides hold survives; a dot one side holds survives unless
	 * the other side has seen it (and so removed it).  Node maps are
	 * monotone, so mapped dots stay sorted.
	 */
	while (x < na || y < nb)
	{
		lk_dot		ma = {0, 0},
					mb = {0, 0};
		int			d;

		if (x < na)
			ma = (lk_dot) {mp->amap[da[x].node], da[x].seq};
		if (y < nb)
			mb = (lk_dot) {mp->bmap[db[y].node], db[y].seq};
		d = x == na ? 1 : y == nb ? -1 : dot_cmp(&ma, &mb);
		if (d == 0)
		{
			out[n++] = ma;
			x++;
			y++;
		}
		else if (d < 0)
		{
			if (!in_context(b, mp->a2b[da[x].node], da[x].seq))
				out[n++] = ma;
			x++;
		}
		else
		{
			if (!in_context(a, mp->b2a[db[y].node], db[y].seq))
				out[n++] = mb;
			y++;
		}
	}
	return n;
}

lk_code
lk_orset_merge(const lk_orset *a, const lk_orset *b, const lk_alloc *al, lk_orset *out,
			   lk_error *err)
{
	node_maps	mp;
	uint32_t	i = 0,
				k = 0;

	lk_orset_init(out);
	merge_nodes(a, b, al, out, &mp);
	out->elems = reserve_arr(al, NULL, 0, &out->cap_elems, (uint64_t) a->nelems + b->nelems, sizeof(lk_oelem));
	out->dots = reserve_arr(al, NULL, 0, &out->cap_dots, (uint64_t) a->ndots + b->ndots, sizeof(lk_dot));
	while (i < a->nelems || k < b->nelems)
	{
		int			c = i == a->nelems ? 1 : k == b->nelems ? -1 :
			lk_str_cmp(a->elems[i].s, b->elems[k].s);
		const lk_oelem *ea = c <= 0 ? &a->elems[i] : NULL;
		const lk_oelem *eb = c > 0 || (c == 0 && ea) ? &b->elems[k] : NULL;
		uint32_t	nd;

		push_elem(out, ea ? ea->s : eb->s, al);	/* NOLINT(clang-analyzer-core.NullDereference) */
		/* out->dots has room for every dot of a and b */
		nd = merge_dots(a, ea ? a->dots + ea->d_off : NULL, ea ? ea->nd : 0,
						b, eb ? b->dots + eb->d_off : NULL, eb ? eb->nd : 0,
						&mp, out->dots + out->ndots);
		out->ndots += nd;
		out->elems[out->nelems - 1].nd = nd;
		end_elem(out);
		i += ea != NULL;
		k += eb != NULL;
	}
	maps_free(al, &mp);
	return check_limits(out, al, err);
}

/* The element count takes at most this many bytes: a merge has < 2^21 elements. */
#define COUNT_BYTES 3

/*
 * Read the next element of one side of lk_orset_merge_encoded into cur
 * (emptied first): *at is it, or NULL after the last.
 */
static lk_code
next_side(elem_reader *er, lk_orset *cur, const lk_oelem **at, const lk_alloc *al, lk_error *err)
{
	lk_code		rc;

	cur->nelems = 0;
	cur->ndots = 0;
	*at = NULL;
	if (er->left == 0)
		return LK_OK;
	if ((rc = elems_next(er, cur, al, err)) == LK_OK)
		*at = &cur->elems[0];
	return rc;
}

lk_code
lk_orset_merge_encoded(const uint8_t *abuf, size_t alen, const uint8_t *bbuf, size_t blen,
					   const lk_alloc *al, lk_buf *out, lk_error *err)
{
	lk_reader	ra = {abuf, abuf + alen},
				rb = {bbuf, bbuf + blen};
	lk_orset	a,
				b,
				m,
				cura,
				curb;
	elem_reader ea,
				eb;
	node_maps	mp;
	lk_dot	   *dots = NULL;
	uint32_t	cap_dots = 0;
	uint64_t	nelems = 0;
	size_t		start = out->len,
				count_at;
	const lk_oelem *xa = NULL,
			   *xb = NULL;
	lk_code		rc;

	lk_orset_init(&a);
	lk_orset_init(&b);
	lk_orset_init(&m);
	lk_orset_init(&cura);
	lk_orset_init(&curb);
	memset(&ea, 0, sizeof(ea));
	memset(&eb, 0, sizeof(eb));
	memset(&mp, 0, sizeof(mp));
	if ((rc = lk_format_open(&ra, LK_ORSET, type_name, err)) != LK_OK ||
		(rc = decode_context(&ra, al, &a, err)) != LK_OK ||
		(rc = elems_open(&ea, &ra, &a, alen, true, al, err)) != LK_OK ||
		(rc = lk_format_open(&rb, LK_ORSET, type_name, err)) != LK_OK ||
		(rc = decode_context(&rb, al, &b, err)) != LK_OK ||
		(rc = elems_open(&eb, &rb, &b, blen, true, al, err)) != LK_OK)
		goto done;
	merge_nodes(&a, &b, al, &m, &mp);
	if (m.nnodes > LK_MAX_NODES)
	{
		rc = lk_fail(err, LK_ERR_LIMIT, "orset has too many nodes",
					 "A state holds at most %d node ids.", LK_MAX_NODES);
		goto done;
	}
	lk_buf_reserve(out, 1 + context_size(&m) + COUNT_BYTES);
	lk_buf_put_u8(out, lk_format_byte(LK_ORSET));
	encode_context(&m, out);
	count_at = out->len;
	out->len += COUNT_BYTES;

	if ((rc = next_side(&ea, &cura, &xa, al, err)) != LK_OK ||
		(rc = next_side(&eb, &curb, &xb, al, err)) != LK_OK)
		goto done;
	while (xa || xb)
	{
		int			c = !xa ? 1 : !xb ? -1 : lk_str_cmp(xa->s, xb->s);
		uint32_t	na = c <= 0 ? cura.ndots : 0,
					nb = c >= 0 ? curb.ndots : 0,
					nd;

		dots = reserve_arr(al, dots, 0, &cap_dots, (uint64_t) na + nb, sizeof(lk_dot));
		nd = merge_dots(&a, cura.dots, na, &b, curb.dots, nb, &mp, dots);
		if (nd > 0)
		{
			encode_elem(out, c <= 0 ? xa->s : xb->s, dots, nd);
			nelems++;
		}
		if ((c <= 0 && (rc = next_side(&ea, &cura, &xa, al, err)) != LK_OK) ||
			(c >= 0 && (rc = next_side(&eb, &curb, &xb, al, err)) != LK_OK))
			goto done;
	}
	if ((rc = elems_close(&ea, NULL, al, err)) != LK_OK ||
		(rc = elems_close(&eb, NULL, al, err)) != LK_OK)
		goto done;
	if (nelems > LK_MAX_ELEMENTS)
	{
		rc = lk_fail(err, LK_ERR_LIMIT, "orset has too many elements",
					 "An orset holds at most %d elements.", LK_MAX_ELEMENTS);
		goto done;
	}
	/* the count goes before the elements: write it and close the room left */
	{
		uint8_t    *p = out->data + count_at;
		uint64_t	v = nelems;
		size_t		used = 0;

		while (v >= 0x80)
		{
			p[used++] = (uint8_t) (v | 0x80);
			v >>= 7;
		}
		p[used++] = (uint8_t) v;
		memmove(p + used, p + COUNT_BYTES, out->len - count_at - COUNT_BYTES);
		out->len -= COUNT_BYTES - used;
	}
	rc = lk_check_state_size(out->len - start, type_name, err);
done:
	if (rc != LK_OK)
		out->len = start;
	seen_free(&ea.seen, al);
	seen_free(&eb.seen, al);
	maps_free(al, &mp);
	lk_free(al, dots);
	lk_orset_free(al, &a);
	lk_orset_free(al, &b);
	lk_orset_free(al, &m);
	lk_orset_free(al, &cura);
	lk_orset_free(al, &curb);
	return rc;
}

/* Push x \ y (sorted, disjoint range lists) onto the last node. */
static void
push_difference(lk_orset *out, const lk_range *x, uint32_t nx, const lk_range *y, uint32_t ny,
				const lk_alloc *a)
{
	uint32_t	k = 0;

	for (uint32_t i = 0; i < nx; i++)
	{
		uint64_t	lo = x[i].lo,
					hi = x[i].hi;

		while (k < ny && y[k].hi < lo)
			k++;
		for (uint32_t m = k; m < ny && y[m].lo <= hi; m++)
		{
			if (y[m].lo > lo)
				push_range(out, lo, y[m].lo - 1, a);
			lo = y[m].hi + 1;
			if (lo > hi)
				break;
		}
		if (lo <= hi)
			push_range(out, lo, hi, a);
	}
}

typedef struct udot
{
	uint32_t	u;				/* node index in the union of old's and newer's nodes */
	uint64_t	seq;
} udot;

static int
udot_cmp(const void *x, const void *y)
{
	const udot *a = x,
			   *b = y;

	if (a->u != b->u)
		return (a->u > b->u) - (a->u < b->u);
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static bool
elem_has_dot(const lk_orset *s, const lk_oelem *e, uint32_t node, uint64_t seq)
{
	const lk_dot *d = s->dots + e->d_off;
	uint32_t	lo = 0,
				hi = e->nd;
	lk_dot		key = {node, seq};

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		int			c = dot_cmp(&d[mid], &key);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

lk_code
lk_orset_delta(const lk_orset *old, const lk_orset *nw, const lk_alloc *al, lk_orset *out,
			   lk_error *err)
{
	uint32_t	nu_cap = old->nnodes + nw->nnodes + 1;
	uint32_t   *u_old = lk_malloc(al, (size_t) nu_cap * 3 * sizeof(uint32_t));
	uint32_t   *u_new = u_old + nu_cap;
	uint32_t   *u_out = u_new + nu_cap;
	uint32_t   *o2u = lk_malloc(al, ((size_t) old->nnodes + nw->nnodes + 1) * sizeof(uint32_t));
	uint32_t   *n2u = o2u + old->nnodes;
	udot	   *removed = NULL;
	uint32_t	nremoved = 0,
				cap_removed = 0,
				nu = 0,
				i = 0,
				k = 0,
				r = 0;

	lk_orset_init(out);

	/* the union of the node lists, with each side's index */
	while (i < old->nnodes || k < nw->nnodes)
	{
		int			c = i == old->nnodes ? 1 : k == nw->nnodes ? -1 :
			lk_str_cmp(old->nodes[i].id, nw->nodes[k].id);

		u_old[nu] = c <= 0 ? i : NONE;
		u_new[nu] = c >= 0 ? k : NONE;
		if (c <= 0)
			o2u[i++] = nu;
		if (c >= 0)
			n2u[k++] = nu;
		nu++;
	}

	/* dots of old that newer has seen but no longer holds: removals to carry */
	k = 0;
	for (i = 0; i < old->nelems; i++)
	{
		const lk_oelem *eo = &old->elems[i];
		const lk_oelem *en = NULL;
		int			c = 1;

		while (k < nw->nelems && (c = lk_str_cmp(nw->elems[k].s, eo->s)) < 0)
			k++;
		if (k < nw->nelems && c == 0)
			en = &nw->elems[k];
		for (uint32_t d = 0; d < eo->nd; d++)
		{
			const lk_dot *dot = &old->dots[eo->d_off + d];
			uint32_t	u = o2u[dot->node];
			uint32_t	nn = u_new[u];

			if (!in_context(nw, nn, dot->seq))
				continue;
			if (en && elem_has_dot(nw, en, nn, dot->seq))
				continue;
			removed = grow(al, removed, nremoved, &cap_removed, sizeof(udot));
			removed[nremoved].u = u;
			removed[nremoved].seq = dot->seq;
			nremoved++;
		}
	}
	lk_sort(removed, nremoved, sizeof(udot), udot_cmp);

	/* context: (newer's \ old's) ∪ removed dots, per node */
	for (uint32_t u = 0; u < nu; u++)
	{
		const lk_onode *no = u_old[u] == NONE ? NULL : &old->nodes[u_old[u]];
		const lk_onode *nn = u_new[u] == NONE ? NULL : &nw->nodes[u_new[u]];
		lk_orset	diff;
		uint32_t	x = 0;

		/* build the difference in a scratch state, then union it with the removals */
		lk_orset_init(&diff);
		push_node(&diff, lk_str_make(NULL, 0), al);
		if (nn)
			push_difference(&diff, nw->ranges + nn->r_off, nn->nr,
							no ? old->ranges + no->r_off : NULL, no ? no->nr : 0, al);
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): as in merge */
		push_node(out, u_new[u] != NONE ? nw->nodes[u_new[u]].id : old->nodes[u_old[u]].id, al);
		while (x < diff.nranges || (r < nremoved && removed[r].u == u))
		{
			if (r < nremoved && removed[r].u == u &&
				(x == diff.nranges || removed[r].seq < diff.ranges[x].lo))
			{
				push_range(out, removed[r].seq, removed[r].seq, al);
				r++;
			}
			else
			{
				push_range(out, diff.ranges[x].lo, diff.ranges[x].hi, al);
				x++;
			}
		}
		lk_orset_free(al, &diff);
		u_out[u] = end_node(out) ? out->nnodes - 1 : NONE;
	}

	/* store: newer's dots that old has not seen */
	for (k = 0; k < nw->nelems; k++)
	{
		const lk_oelem *en = &nw->elems[k];

		push_elem(out, en->s, al);
		for (uint32_t d = 0; d < en->nd; d++)
		{
			const lk_dot *dot = &nw->dots[en->d_off + d];
			uint32_t	u = n2u[dot->node];

			if (!in_context(old, u_old[u], dot->seq))
				push_dot(out, u_out[u], dot->seq, al);
		}
		end_elem(out);
	}
	lk_free(al, removed);
	lk_free(al, u_old);
	lk_free(al, o2u);
	return check_limits(out, al, err);
}

bool
lk_orset_equal(const lk_orset *a, const lk_orset *b)
{
	if (a->nnodes != b->nnodes || a->nranges != b->nranges ||
		a->nelems != b->nelems || a->ndots != b->ndots)
		return false;
	for (uint32_t i = 0; i < a->nnodes; i++)
		if (!lk_str_eq(a->nodes[i].id, b->nodes[i].id) || a->nodes[i].nr != b->nodes[i].nr)
			return false;
	for (uint32_t i = 0; i < a->nranges; i++)
		if (a->ranges[i].lo != b->ranges[i].lo || a->ranges[i].hi != b->ranges[i].hi)
			return false;
	for (uint32_t i = 0; i < a->nelems; i++)
		if (!lk_str_eq(a->elems[i].s, b->elems[i].s) || a->elems[i].nd != b->elems[i].nd)
			return false;
	for (uint32_t i = 0; i < a->ndots; i++)
		if (a->dots[i].node != b->dots[i].node || a->dots[i].seq != b->dots[i].seq)
			return false;
	return true;
}

lk_code
lk_orset_leq(const lk_orset *a, const lk_orset *b, const lk_alloc *al, bool *out, lk_error *err)
{
	lk_orset	m;
	lk_code		rc;

	if ((rc = lk_orset_merge(a, b, al, &m, err)) != LK_OK)
		return rc;
	*out = lk_orset_equal(&m, b);
	lk_orset_free(al, &m);
	return LK_OK;
}

typedef struct named_dot
{
	lk_str		id;
	uint64_t	seq;
} named_dot;

static int
named_dot_cmp(const void *x, const void *y)
{
	const named_dot *a = x,
			   *b = y;
	int			c = lk_str_cmp(a->id, b->id);

	if (c)
		return c;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/*
 * A delta whose context is the element's current dots plus `extra` (when
 * extra.id.p is set), and whose store gives the element that extra dot.
 */
static void
element_delta(const lk_orset *s, lk_str elem, const named_dot *extra, const lk_alloc *al,
			  lk_orset *out)
{
	int64_t		at = lk_orset_find(s, elem);
	uint32_t	nd = at < 0 ? 0 : s->elems[at].nd;
	named_dot  *dots = lk_malloc(al, ((size_t) nd + 1) * sizeof(named_dot));
	uint32_t	n = 0;

	lk_orset_init(out);
	for (uint32_t k = 0; k < nd; k++)
	{
		const lk_dot *d = &s->dots[s->elems[at].d_off + k];

		dots[n].id = s->nodes[d->node].id;
		dots[n].seq = d->seq;
		n++;
	}
	if (extra)
		dots[n++] = *extra;
	lk_sort(dots, n, sizeof(named_dot), named_dot_cmp);
	for (uint32_t k = 0; k < n; k++)
	{
		if (k == 0 || !lk_str_eq(dots[k - 1].id, dots[k].id))
			push_node(out, dots[k].id, al);
		push_range(out, dots[k].seq, dots[k].seq, al);
	}
	if (extra)
	{
		push_elem(out, elem, al);
		push_dot(out, find_node(out, extra->id), extra->seq, al);
	}
	lk_free(al, dots);
}

lk_code
lk_orset_add_delta(const lk_orset *s, lk_str elem, lk_str node, const lk_alloc *al,
				   lk_orset *delta, lk_error *err)
{
	lk_code		rc;
	uint32_t	idx;
	named_dot	dot = {node, 1};

	lk_orset_init(delta);
	if ((rc = lk_node_id_check(node, err)) != LK_OK ||
		(rc = lk_element_check(elem, err)) != LK_OK)
		return rc;
	idx = find_node(s, node);
	if (idx != NONE)
	{
		const lk_onode *n = &s->nodes[idx];
		uint64_t	max = s->ranges[n->r_off + n->nr - 1].hi;

		if (max == LK_COUNT_MAX)
			return lk_fail(err, LK_ERR_RANGE, "orset sequence number out of range",
						   "Node \"%.*s\" has used every sequence number.",
						   lk_str_quote_len(node), node.p);
		dot.seq = max + 1;
	}
	if (lk_orset_find(s, elem) < 0 && s->nelems == LK_MAX_ELEMENTS)
		return lk_fail(err, LK_ERR_LIMIT, "orset has too many elements",
					   "An orset holds at most %d elements.", LK_MAX_ELEMENTS);
	element_delta(s, elem, &dot, al, delta);
	return LK_OK;
}

lk_code
lk_orset_remove_delta(const lk_orset *s, lk_str elem, const lk_alloc *al, lk_orset *delta,
					  lk_error *err)
{
	lk_code		rc;

	lk_orset_init(delta);
	if ((rc = lk_element_check(elem, err)) != LK_OK)
		return rc;
	element_delta(s, elem, NULL, al, delta);
	return LK_OK;
}

uint64_t
lk_orset_context_dots(const lk_orset *s)
{
	uint64_t	total = 0;

	for (uint32_t i = 0; i < s->nranges; i++)
	{
		uint64_t	n = s->ranges[i].hi - s->ranges[i].lo + 1;

		total = total > UINT64_MAX - n ? UINT64_MAX : total + n;
	}
	return total;
}
