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

static bool
ranges_contain(const lk_range *r, uint32_t n, uint64_t seq)
{
	uint32_t	lo = 0,
				hi = n;

	/* find the first range whose hi is ≥ seq */
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (r[mid].hi < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && r[lo].lo <= seq;
}

static bool
in_context(const lk_orset *s, uint32_t node, uint64_t seq)
{
	if (node == NONE)
		return false;
	return ranges_contain(s->ranges + s->nodes[node].r_off, s->nodes[node].nr, seq);
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

static lk_code
bad(lk_orset *s, const lk_alloc *a, lk_error *err, const char *detail)
{
	lk_orset_free(a, s);
	return lk_binary_error(err, type_name, detail);
}

lk_code
lk_orset_decode(const uint8_t *buf, size_t len, const lk_alloc *a, lk_orset *out, lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	uint64_t	nnodes,
				nelems;
	lk_dot		shared;
	lk_code		rc;

	lk_orset_init(out);
	if ((rc = lk_format_open(&r, LK_ORSET, type_name, err)) != LK_OK)
		return rc;
	if (!lk_read_varint(&r, &nnodes))
		return bad(out, a, err, "The node count is truncated or malformed.");
	if (nnodes > LK_MAX_NODES)
		return bad(out, a, err, "The node count exceeds the limit.");
	for (uint64_t i = 0; i < nnodes; i++)
	{
		uint8_t		idlen;
		const uint8_t *p;
		uint64_t	nr,
					prev_hi = 0;
		lk_str		id;
		lk_error	node_err;

		if (!lk_read_u8(&r, &idlen) || idlen == 0 || !lk_read_bytes(&r, idlen, &p))
			return bad(out, a, err, "A node id is empty or truncated.");
		id = lk_str_make((const char *) p, idlen);
		if (lk_node_id_check(id, &node_err) != LK_OK)
			return bad(out, a, err, "A node id is not valid UTF-8 or has a control character.");
		if (i > 0 && lk_str_cmp(out->nodes[i - 1].id, id) >= 0)
			return bad(out, a, err, "Node ids are not sorted and unique.");
		if (!lk_read_varint(&r, &nr) || nr == 0)
			return bad(out, a, err, "A node has no context ranges.");
		if (nr > (uint64_t) (r.end - r.p) / 2)
			return bad(out, a, err, "The range count exceeds the data.");
		push_node(out, id, a);
		for (uint64_t k = 0; k < nr; k++)
		{
			uint64_t	gap,
						span,
						lo;

			if (!lk_read_varint(&r, &gap) || !lk_read_varint(&r, &span))
				return bad(out, a, err, "A context range is truncated or malformed.");
			/* lo = prev_hi + 2 + gap (first: 1 + gap), hi = lo + span, all ≤ 2^63−1 */
			lo = k == 0 ? 1 : prev_hi + 2;
			if (gap > LK_COUNT_MAX || lo > LK_COUNT_MAX - gap)
				return bad(out, a, err, "A context range exceeds the sequence range.");
			lo += gap;
			if (span > LK_COUNT_MAX - lo)
				return bad(out, a, err, "A context range exceeds the sequence range.");
			push_range(out, lo, lo + span, a);
			prev_hi = lo + span;
		}
	}
	if (!lk_read_varint(&r, &nelems))
		return bad(out, a, err, "The element count is truncated or malformed.");
	if (nelems > LK_MAX_ELEMENTS)
		return bad(out, a, err, "The element count exceeds the limit.");
	if (nelems > (uint64_t) (r.end - r.p) / 3)
		return bad(out, a, err, "The element count exceeds the data.");
	out->elems = reserve_arr(a, out->elems, out->nelems, &out->cap_elems, nelems, sizeof(lk_oelem));
	out->dots = reserve_arr(a, out->dots, out->ndots, &out->cap_dots, nelems, sizeof(lk_dot));
	for (uint64_t i = 0; i < nelems; i++)
	{
		uint64_t	elen,
					nd;
		const uint8_t *p;
		lk_str		e;
		lk_error	elem_err;

		if (!lk_read_varint(&r, &elen) || elen > LK_ELEMENT_MAX ||
			!lk_read_bytes(&r, (size_t) elen, &p))
			return bad(out, a, err, "An element is truncated or too long.");
		e = lk_str_make((const char *) p, (size_t) elen);
		if (lk_element_check(e, &elem_err) != LK_OK)
			return bad(out, a, err, "An element is not valid UTF-8 or holds a NUL.");
		if (i > 0 && lk_str_cmp(out->elems[i - 1].s, e) >= 0)
			return bad(out, a, err, "Elements are not sorted and unique.");
		if (!lk_read_varint(&r, &nd) || nd == 0)
			return bad(out, a, err, "An element has no dots.");
		if (nd > (uint64_t) (r.end - r.p) / 2)
			return bad(out, a, err, "The dot count exceeds the data.");
		push_elem(out, e, a);
		for (uint64_t k = 0; k < nd; k++)
		{
			uint64_t	node,
						seq;
			lk_dot	   *prev = k ? &out->dots[out->ndots - 1] : NULL;

			if (!lk_read_varint(&r, &node) || !lk_read_varint(&r, &seq))
				return bad(out, a, err, "A dot is truncated or malformed.");
			if (node >= out->nnodes)
				return bad(out, a, err, "A dot names a node outside the context.");
			if (prev && (node < prev->node || (node == prev->node && seq <= prev->seq)))
				return bad(out, a, err, "The dots of an element are not sorted and unique.");
			if (!in_context(out, (uint32_t) node, seq))
				return bad(out, a, err, "A dot is not covered by the causal context.");
			push_dot(out, (uint32_t) node, seq, a);
		}
	}
	if (r.p != r.end)
		return bad(out, a, err, "Trailing bytes follow the value.");
	if (find_shared_dot(out, a, &shared))
		return bad(out, a, err, "A dot belongs to more than one element.");
	return LK_OK;
}

lk_code
lk_orset_encode(const lk_orset *s, lk_buf *b, lk_error *err)
{
	size_t		start = b->len;

	lk_buf_put_u8(b, lk_format_byte(LK_ORSET));
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
	lk_buf_put_varint(b, s->nelems);
	for (uint32_t i = 0; i < s->nelems; i++)
	{
		const lk_oelem *e = &s->elems[i];

		lk_buf_put_varint(b, e->s.len);
		lk_buf_put(b, e->s.p, e->s.len);
		lk_buf_put_varint(b, e->nd);
		for (uint32_t k = 0; k < e->nd; k++)
		{
			lk_buf_put_varint(b, s->dots[e->d_off + k].node);
			lk_buf_put_varint(b, s->dots[e->d_off + k].seq);
		}
	}
	return lk_check_state_size(b->len - start, type_name, err);
}

/* ---- text ---- */

void
lk_orset_to_json(const lk_orset *s, lk_buf *b)
{
	lk_buf_put_u8(b, '{');
	if (s->nnodes)
	{
		lk_buf_put_str(b, "\"c\":{");
		for (uint32_t i = 0; i < s->nnodes; i++)
		{
			const lk_onode *n = &s->nodes[i];

			if (i)
				lk_buf_put_u8(b, ',');
			lk_json_put_string(b, n->id);
			lk_buf_put_str(b, ":[");
			for (uint32_t k = 0; k < n->nr; k++)
			{
				if (k)
					lk_buf_put_u8(b, ',');
				lk_buf_put_u8(b, '[');
				lk_buf_put_int(b, (int64_t) s->ranges[n->r_off + k].lo);
				lk_buf_put_u8(b, ',');
				lk_buf_put_int(b, (int64_t) s->ranges[n->r_off + k].hi);
				lk_buf_put_u8(b, ']');
			}
			lk_buf_put_u8(b, ']');
		}
		lk_buf_put_u8(b, '}');
	}
	if (s->nelems)
	{
		if (s->nnodes)
			lk_buf_put_u8(b, ',');
		lk_buf_put_str(b, "\"e\":{");
		for (uint32_t i = 0; i < s->nelems; i++)
		{
			const lk_oelem *e = &s->elems[i];
			const lk_dot *d = s->dots + e->d_off;

			if (i)
				lk_buf_put_u8(b, ',');
			lk_json_put_string(b, e->s);
			lk_buf_put_str(b, ":{");
			for (uint32_t k = 0; k < e->nd; k++)
			{
				bool		new_node = k == 0 || d[k].node != d[k - 1].node;

				if (new_node)
				{
					if (k)
						lk_buf_put_str(b, "],");
					lk_json_put_string(b, s->nodes[d[k].node].id);
					lk_buf_put_str(b, ":[");
				}
				else
					lk_buf_put_u8(b, ',');
				lk_buf_put_int(b, (int64_t) d[k].seq);
			}
			lk_buf_put_str(b, "]}");
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

/* Order and check what was parsed, and build the canonical state. */
static lk_code
build_parsed(parse_state *ps, lk_orset *out)
{
	const lk_alloc *a = ps->j.a;
	lk_error   *err = ps->j.err;
	lk_dot	   *scratch = NULL;
	uint32_t	cap_scratch = 0;
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
			uint32_t	node = find_node(out, rd->id);

			if (!in_context(out, node, rd->seq))
			{
				rc = lk_fail(err, LK_ERR_VALUE, "orset dot is not in the causal context",
							 "Element \"%.*s\" has dot (\"%.*s\", %llu), which \"c\" does not cover.",
							 lk_str_quote_len(re->s), re->s.p,
							 lk_str_quote_len(rd->id), rd->id.p, (unsigned long long) rd->seq);
				break;
			}
			scratch = grow(a, scratch, n, &cap_scratch, sizeof(lk_dot));
			scratch[n].node = node;
			scratch[n].seq = rd->seq;
			n++;
		}
		if (rc != LK_OK)
			break;
		lk_sort(scratch, n, sizeof(lk_dot), dot_cmp);
		push_elem(out, re->s, a);
		for (uint32_t k = 0; k < n; k++)
			if (k == 0 || dot_cmp(&scratch[k - 1], &scratch[k]) != 0)
				push_dot(out, scratch[k].node, scratch[k].seq, a);
		end_elem(out);
	}
	lk_free(a, scratch);
	if (rc == LK_OK && find_shared_dot(out, a, &shared))
		rc = lk_fail(err, LK_ERR_VALUE, "orset dot belongs to more than one element",
					 "Dot (\"%.*s\", %llu) is held by more than one element.",
					 lk_str_quote_len(out->nodes[shared.node].id), out->nodes[shared.node].id.p,
					 (unsigned long long) shared.seq);
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

lk_code
lk_orset_merge(const lk_orset *a, const lk_orset *b, const lk_alloc *al, lk_orset *out,
			   lk_error *err)
{
	uint32_t   *amap = lk_malloc(al, ((size_t) a->nnodes * 2 + 1) * sizeof(uint32_t));
	uint32_t   *a2b = amap + a->nnodes;
	uint32_t   *bmap = lk_malloc(al, ((size_t) b->nnodes * 2 + 1) * sizeof(uint32_t));
	uint32_t   *b2a = bmap + b->nnodes;
	uint32_t	i = 0,
				k = 0;

	lk_orset_init(out);
	out->nodes = reserve_arr(al, NULL, 0, &out->cap_nodes, (uint64_t) a->nnodes + b->nnodes, sizeof(lk_onode));
	out->ranges = reserve_arr(al, NULL, 0, &out->cap_ranges, (uint64_t) a->nranges + b->nranges, sizeof(lk_range));
	out->elems = reserve_arr(al, NULL, 0, &out->cap_elems, (uint64_t) a->nelems + b->nelems, sizeof(lk_oelem));
	out->dots = reserve_arr(al, NULL, 0, &out->cap_dots, (uint64_t) a->ndots + b->ndots, sizeof(lk_dot));
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
			amap[i] = idx;
			a2b[i] = nb ? k : NONE;
		}
		if (nb)
		{
			bmap[k] = idx;
			b2a[k] = na ? i : NONE;
		}
		i += na != NULL;
		k += nb != NULL;
	}

	i = k = 0;
	while (i < a->nelems || k < b->nelems)
	{
		int			c = i == a->nelems ? 1 : k == b->nelems ? -1 :
			lk_str_cmp(a->elems[i].s, b->elems[k].s);
		const lk_oelem *ea = c <= 0 ? &a->elems[i] : NULL;
		const lk_oelem *eb = c > 0 || (c == 0 && ea) ? &b->elems[k] : NULL;
		const lk_dot *da = ea ? a->dots + ea->d_off : NULL;
		const lk_dot *db = eb ? b->dots + eb->d_off : NULL;
		uint32_t	na = ea ? ea->nd : 0,
					nb = eb ? eb->nd : 0,
					x = 0,
					y = 0;

		push_elem(out, ea ? ea->s : eb->s, al);	/* NOLINT(clang-analyzer-core.NullDereference) */

		/*
		 * A dot both sides hold survives; a dot one side holds survives
		 * unless the other side has seen it (and so removed it).  Node maps
		 * are monotone, so mapped dots stay sorted.
		 */
		while (x < na || y < nb)
		{
			lk_dot		ma = {0, 0},
						mb = {0, 0};
			int			d;

			if (x < na)
				ma = (lk_dot) {amap[da[x].node], da[x].seq};
			if (y < nb)
				mb = (lk_dot) {bmap[db[y].node], db[y].seq};
			d = x == na ? 1 : y == nb ? -1 : dot_cmp(&ma, &mb);
			if (d == 0)
			{
				push_dot(out, ma.node, ma.seq, al);
				x++;
				y++;
			}
			else if (d < 0)
			{
				if (!in_context(b, a2b[da[x].node], da[x].seq))
					push_dot(out, ma.node, ma.seq, al);
				x++;
			}
			else
			{
				if (!in_context(a, b2a[db[y].node], db[y].seq))
					push_dot(out, mb.node, mb.seq, al);
				y++;
			}
		}
		end_elem(out);
		i += ea != NULL;
		k += eb != NULL;
	}
	lk_free(al, amap);
	lk_free(al, bmap);
	return check_limits(out, al, err);
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
