/*
 * gen.c — random states and the reference codec (see gen.h).
 */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>

#include "lk_limits.h"

/* 255 bytes: 252 × 'x' then U+65E5, the longest legal node id. */
static char long_node_id[LK_NODE_ID_MAX + 1];

static const char *const node_pool[] = {
	"a", "b", "c", "aa", "ab", "A", "node-1", "node-2", "/",
	"\xc3\xa9",					/* é precomposed */
	"e\xcc\x81",				/* e + combining acute: looks alike, differs */
	"\xe6\x97\xa5\xe6\x9c\xac", /* 日本 */
	"\xf0\x9f\x9a\x80",			/* rocket, 4 bytes */
	"q\"t",
	"b\\s",
	"\xc2\xa0nbsp",				/* U+00A0, the first code point after C1 */
	"\xce\xa9",					/* Ω */
	"z~",
	long_node_id,
};

#define NODE_POOL_N (sizeof(node_pool) / sizeof(node_pool[0]))

static const char *const elem_pool[] = {
	"", "x", "y", "xy", "q\"uote", "back\\slash", "new\nline", "\x01", "ctl\x1f",
	"tab\t", "cr\r", "bs\b", "ff\f", "/slash", "del\x7f",
	"\xc3\xbcn\xc3\xaf",		/* ünï */
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* 日本語 */
	"\xf0\x9f\x9a\x80\xf0\x9f\x8c\x8c",
	"e\xcc\x81",
	"\xe2\x80\xa8",				/* U+2028, which JSON.stringify leaves raw */
	"\xef\xbf\xbf",				/* U+FFFF */
	"\xf4\x8f\xbf\xbf",			/* U+10FFFF */
	"\xc2\x80",					/* U+0080: a C1 control is a legal element */
};

#define ELEM_POOL_N (sizeof(elem_pool) / sizeof(elem_pool[0]))

/* Code points random strings are made of. */
static const uint32_t cps[] = {
	'a', 'b', 'z', '"', '\\', '/', '\n', '\t', 0x01, 0x1f, 0x7f, ' ',
	0x80, 0xe9, 0x7ff, 0x800, 0x65e5, 0xfffd, 0xffff, 0x10000, 0x1f680, 0x10ffff,
};

/* Decode one code point of valid UTF-8 at p; returns its length. */
static size_t
utf8_get(const unsigned char *p, uint32_t *cp)
{
	if (p[0] < 0x80)
	{
		*cp = p[0];
		return 1;
	}
	if (p[0] < 0xe0)
	{
		*cp = ((uint32_t) (p[0] & 0x1f) << 6) | (p[1] & 0x3f);
		return 2;
	}
	if (p[0] < 0xf0)
	{
		*cp = ((uint32_t) (p[0] & 0x0f) << 12) | ((uint32_t) (p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		return 3;
	}
	*cp = ((uint32_t) (p[0] & 0x07) << 18) | ((uint32_t) (p[1] & 0x3f) << 12) |
		((uint32_t) (p[2] & 0x3f) << 6) | (p[3] & 0x3f);
	return 4;
}

static void
init_pools(void)
{
	if (long_node_id[0])
		return;
	memset(long_node_id, 'x', LK_NODE_ID_MAX - 3);
	memcpy(long_node_id + LK_NODE_ID_MAX - 3, "\xe6\x97\xa5", 3);
	long_node_id[LK_NODE_ID_MAX] = '\0';
}

lk_str
gen_node_id(lk_rng *r)
{
	init_pools();
	return cstr(node_pool[lk_rng_below(r, NODE_POOL_N)]);
}

lk_str
gen_element(lk_rng *r)
{
	char	   *s;
	size_t		n = 0,
				len;

	if (lk_rng_chance(r, 3, 5))
		return cstr(elem_pool[lk_rng_below(r, ELEM_POOL_N)]);
	if (lk_rng_chance(r, 1, 300))
	{
		/* the longest legal element */
		s = lk_malloc(T, LK_ELEMENT_MAX);
		for (size_t i = 0; i < LK_ELEMENT_MAX; i++)
			s[i] = (char) ('a' + lk_rng_below(r, 3));
		return lk_str_make(s, LK_ELEMENT_MAX);
	}
	len = (size_t) lk_rng_below(r, 7);
	s = lk_malloc(T, len * 4 + 1);
	for (size_t i = 0; i < len; i++)
		n += lk_utf8_put(s + n, cps[lk_rng_below(r, sizeof(cps) / sizeof(cps[0]))]);
	return lk_str_make(s, n);
}

uint64_t
gen_count(lk_rng *r)
{
	static const uint64_t edges[] = {
		1, 2, 127, 128, 16383, 16384, UINT64_C(0xffffffff), UINT64_C(0x100000000),
		UINT64_C(1) << 62, (uint64_t) LK_COUNT_MAX / 2, (uint64_t) LK_COUNT_MAX - 1,
		(uint64_t) LK_COUNT_MAX,
	};

	switch (lk_rng_below(r, 10))
	{
		case 0:
			return edges[lk_rng_below(r, sizeof(edges) / sizeof(edges[0]))];
		case 1:
			return 1 + lk_rng_below(r, (uint64_t) LK_COUNT_MAX);
		case 2:
		case 3:
			return 1 + lk_rng_below(r, 1000000);
		default:
			return 1 + lk_rng_below(r, 10);
	}
}

static int
str_cmp_qsort(const void *x, const void *y)
{
	return lk_str_cmp(*(const lk_str *) x, *(const lk_str *) y);
}

/* Draw up to max distinct strings with draw(), ascending. */
static int
draw_distinct(lk_rng *r, lk_str (*draw) (lk_rng *), lk_str *out, int want)
{
	int			n = 0;

	for (int tries = 0; n < want && tries < want * 4; tries++)
	{
		lk_str		s = draw(r);
		bool		dup = false;

		for (int i = 0; i < n; i++)
			dup |= lk_str_eq(out[i], s);
		if (!dup)
			out[n++] = s;
	}
	qsort(out, (size_t) n, sizeof(lk_str), str_cmp_qsort);
	return n;
}

void
gen_universe_make(lk_rng *r, gen_universe *u)
{
	u->nn = draw_distinct(r, gen_node_id, u->nodes, 1 + (int) lk_rng_below(r, GEN_MAX_NODES));
	u->ne = draw_distinct(r, gen_element, u->elems, 1 + (int) lk_rng_below(r, GEN_MAX_ELEMS));
}

/* ---- JSON text pieces ---- */

void
gen_ws(lk_rng *r, lk_buf *b)
{
	static const char ws[] = " \t\n\r";
	uint64_t	n = lk_rng_chance(r, 1, 2) ? 0 : 1 + lk_rng_below(r, 2);

	for (uint64_t i = 0; i < n; i++)
		lk_buf_put_u8(b, (uint8_t) ws[lk_rng_below(r, 4)]);
}

static void
put_hex4(lk_buf *b, uint32_t v, bool upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char		u[6] = {'\\', 'u', hex[(v >> 12) & 15], hex[(v >> 8) & 15],
	hex[(v >> 4) & 15], hex[v & 15]};

	lk_buf_put(b, u, 6);
}

void
ref_json_string(lk_buf *b, lk_str s)
{
	lk_buf_put_u8(b, '"');
	for (uint32_t i = 0; i < s.len; i++)
	{
		unsigned char c = (unsigned char) s.p[i];
		char		tmp[8];

		switch (c)
		{
			case '"':
				lk_buf_put_str(b, "\\\"");
				break;
			case '\\':
				lk_buf_put_str(b, "\\\\");
				break;
			case '\b':
				lk_buf_put_str(b, "\\b");
				break;
			case '\f':
				lk_buf_put_str(b, "\\f");
				break;
			case '\n':
				lk_buf_put_str(b, "\\n");
				break;
			case '\r':
				lk_buf_put_str(b, "\\r");
				break;
			case '\t':
				lk_buf_put_str(b, "\\t");
				break;
			default:
				if (c < 0x20)
				{
					snprintf(tmp, sizeof(tmp), "\\u%04x", c);
					lk_buf_put_str(b, tmp);
				}
				else
					lk_buf_put_u8(b, c);
		}
	}
	lk_buf_put_u8(b, '"');
}

void
gen_json_string(lk_rng *r, lk_buf *b, lk_str s)
{
	const unsigned char *p = (const unsigned char *) s.p;
	size_t		i = 0;

	lk_buf_put_u8(b, '"');
	while (i < s.len)
	{
		uint32_t	cp;
		size_t		n = utf8_get(p + i, &cp);
		bool		upper = lk_rng_chance(r, 1, 2);
		const char *shortform = NULL;

		switch (cp)
		{
			case '"':
				shortform = "\\\"";
				break;
			case '\\':
				shortform = "\\\\";
				break;
			case '/':
				shortform = "\\/";
				break;
			case '\b':
				shortform = "\\b";
				break;
			case '\f':
				shortform = "\\f";
				break;
			case '\n':
				shortform = "\\n";
				break;
			case '\r':
				shortform = "\\r";
				break;
			case '\t':
				shortform = "\\t";
				break;
		}
		if (shortform && lk_rng_chance(r, 1, 2))
			lk_buf_put_str(b, shortform);
		else if (cp < 0x20 || cp == '"' || cp == '\\' || lk_rng_chance(r, 1, 6))
		{
			if (cp >= 0x10000)
			{
				put_hex4(b, 0xd800 + ((cp - 0x10000) >> 10), upper);
				put_hex4(b, 0xdc00 + ((cp - 0x10000) & 0x3ff), upper);
			}
			else
				put_hex4(b, cp, upper);
		}
		else
			lk_buf_put(b, p + i, n);
		i += n;
	}
	lk_buf_put_u8(b, '"');
}

/* ---- counters ---- */

void
ref_gc_make(lk_rng *r, const gen_universe *u, ref_gc *g)
{
	g->n = 0;
	for (int i = 0; i < u->nn; i++)
	{
		if (lk_rng_chance(r, 1, 2))
			continue;
		g->node[g->n] = u->nodes[i];
		g->count[g->n] = gen_count(r);
		g->n++;
	}
}

void
ref_gc_binary_body(const ref_gc *g, lk_buf *b)
{
	lk_buf_put_varint(b, (uint64_t) g->n);
	for (int i = 0; i < g->n; i++)
	{
		lk_buf_put_u8(b, (uint8_t) g->node[i].len);
		lk_buf_put(b, g->node[i].p, g->node[i].len);
		lk_buf_put_varint(b, g->count[i]);
	}
}

static void
put_u64(lk_buf *b, uint64_t v)
{
	char		tmp[24];

	snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long) v);
	lk_buf_put_str(b, tmp);
}

void
ref_gc_json(const ref_gc *g, lk_buf *b)
{
	lk_buf_put_u8(b, '{');
	for (int i = 0; i < g->n; i++)
	{
		if (i)
			lk_buf_put_u8(b, ',');
		ref_json_string(b, g->node[i]);
		lk_buf_put_u8(b, ':');
		put_u64(b, g->count[i]);
	}
	lk_buf_put_u8(b, '}');
}

void
ref_gc_json_noncanonical(lk_rng *r, const ref_gc *g, const gen_universe *u, lk_buf *b)
{
	lk_str		node[GEN_MAX_NODES * 2];
	uint64_t	count[GEN_MAX_NODES * 2];
	int			order[GEN_MAX_NODES * 2];
	int			n = 0;

	for (int i = 0; i < g->n; i++)
	{
		node[n] = g->node[i];
		count[n++] = g->count[i];
	}
	/* zero entries are the identity: any absent node may appear with 0 */
	for (int i = 0; i < u->nn; i++)
	{
		bool		present = false;

		for (int k = 0; k < g->n; k++)
			present |= lk_str_eq(g->node[k], u->nodes[i]);
		if (!present && lk_rng_chance(r, 1, 3))
		{
			node[n] = u->nodes[i];
			count[n++] = 0;
		}
	}
	for (int i = 0; i < n; i++)
		order[i] = i;
	lk_rng_shuffle(r, order, (size_t) n, sizeof(int));
	gen_ws(r, b);
	lk_buf_put_u8(b, '{');
	for (int i = 0; i < n; i++)
	{
		gen_ws(r, b);
		if (i)
		{
			lk_buf_put_u8(b, ',');
			gen_ws(r, b);
		}
		gen_json_string(r, b, node[order[i]]);
		gen_ws(r, b);
		lk_buf_put_u8(b, ':');
		gen_ws(r, b);
		put_u64(b, count[order[i]]);
	}
	gen_ws(r, b);
	lk_buf_put_u8(b, '}');
	gen_ws(r, b);
}

/* ---- orset ---- */

static uint64_t
below_incl(lk_rng *r, uint64_t lo, uint64_t hi)
{
	uint64_t	span = hi - lo;

	return span == UINT64_MAX ? lk_rng_u64(r) : lo + lk_rng_below(r, span + 1);
}

static int
ref_dot_cmp(const void *x, const void *y)
{
	const ref_dot *a = x,
			   *b = y;

	if (a->node != b->node)
		return a->node - b->node;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

void
ref_orset_make(lk_rng *r, const gen_universe *u, ref_orset *o)
{
	o->nn = 0;
	o->ne = 0;
	for (int i = 0; i < u->nn; i++)
	{
		ref_onode  *n;
		int			want;
		uint64_t	next = 1;

		if (lk_rng_chance(r, 1, 3))
			continue;
		n = &o->n[o->nn++];
		n->id = u->nodes[i];
		n->nr = 0;
		want = 1 + (int) lk_rng_below(r, REF_MAX_RANGES);
		for (int k = 0; k < want; k++)
		{
			uint64_t	lo,
						hi;

			/* sometimes leap to the top of the sequence space */
			if (lk_rng_chance(r, 1, 12) && next < (uint64_t) LK_COUNT_MAX - 40)
				next = (uint64_t) LK_COUNT_MAX - lk_rng_below(r, 40);
			if (next > (uint64_t) LK_COUNT_MAX)
				break;
			lo = below_incl(r, next, next + 4 > (uint64_t) LK_COUNT_MAX ?
							(uint64_t) LK_COUNT_MAX : next + 4);
			hi = below_incl(r, lo, lo + 6 > (uint64_t) LK_COUNT_MAX ?
							(uint64_t) LK_COUNT_MAX : lo + 6);
			n->r[n->nr].lo = lo;
			n->r[n->nr].hi = hi;
			n->nr++;
			if (hi >= (uint64_t) LK_COUNT_MAX - 1)
				break;
			next = hi + 2;		/* not adjacent: the canonical form */
		}
	}
	if (o->nn == 0)
		return;
	for (int i = 0; i < u->ne; i++)
	{
		ref_oelem  *e;
		int			want;

		if (lk_rng_chance(r, 1, 2))
			continue;
		e = &o->e[o->ne];
		e->s = u->elems[i];
		e->nd = 0;
		want = 1 + (int) lk_rng_below(r, REF_MAX_DOTS);
		for (int k = 0; k < want; k++)
		{
			int			ni = (int) lk_rng_below(r, (uint64_t) o->nn);
			const ref_range *rg = &o->n[ni].r[lk_rng_below(r, (uint64_t) o->n[ni].nr)];
			ref_dot		d = {ni, below_incl(r, rg->lo, rg->hi)};
			bool		dup = false;

			/* a dot is one add of one element: never in two elements */
			for (int x = 0; x <= o->ne; x++)
				for (int m = 0; m < o->e[x].nd; m++)
					dup |= ref_dot_cmp(&o->e[x].d[m], &d) == 0;
			if (!dup)
				e->d[e->nd++] = d;
		}
		if (e->nd == 0)
			continue;
		qsort(e->d, (size_t) e->nd, sizeof(ref_dot), ref_dot_cmp);
		o->ne++;
	}
}

void
ref_orset_binary(const ref_orset *o, lk_buf *b)
{
	lk_buf_put_u8(b, 0x13);
	lk_buf_put_varint(b, (uint64_t) o->nn);
	for (int i = 0; i < o->nn; i++)
	{
		const ref_onode *n = &o->n[i];

		lk_buf_put_u8(b, (uint8_t) n->id.len);
		lk_buf_put(b, n->id.p, n->id.len);
		lk_buf_put_varint(b, (uint64_t) n->nr);
		for (int k = 0; k < n->nr; k++)
		{
			lk_buf_put_varint(b, n->r[k].lo - (k == 0 ? 1 : n->r[k - 1].hi + 2));
			lk_buf_put_varint(b, n->r[k].hi - n->r[k].lo);
		}
	}
	lk_buf_put_varint(b, (uint64_t) o->ne);
	for (int i = 0; i < o->ne; i++)
	{
		const ref_oelem *e = &o->e[i];

		lk_buf_put_varint(b, e->s.len);
		lk_buf_put(b, e->s.p, e->s.len);
		lk_buf_put_varint(b, (uint64_t) e->nd);
		for (int k = 0; k < e->nd; k++)
		{
			lk_buf_put_varint(b, (uint64_t) e->d[k].node);
			lk_buf_put_varint(b, e->d[k].seq);
		}
	}
}

void
ref_orset_json(const ref_orset *o, lk_buf *b)
{
	lk_buf_put_u8(b, '{');
	if (o->nn)
	{
		lk_buf_put_str(b, "\"c\":{");
		for (int i = 0; i < o->nn; i++)
		{
			if (i)
				lk_buf_put_u8(b, ',');
			ref_json_string(b, o->n[i].id);
			lk_buf_put_str(b, ":[");
			for (int k = 0; k < o->n[i].nr; k++)
			{
				if (k)
					lk_buf_put_u8(b, ',');
				lk_buf_put_u8(b, '[');
				put_u64(b, o->n[i].r[k].lo);
				lk_buf_put_u8(b, ',');
				put_u64(b, o->n[i].r[k].hi);
				lk_buf_put_u8(b, ']');
			}
			lk_buf_put_u8(b, ']');
		}
		lk_buf_put_u8(b, '}');
	}
	if (o->ne)
	{
		lk_buf_put_str(b, o->nn ? ",\"e\":{" : "\"e\":{");
		for (int i = 0; i < o->ne; i++)
		{
			const ref_oelem *e = &o->e[i];

			if (i)
				lk_buf_put_u8(b, ',');
			ref_json_string(b, e->s);
			lk_buf_put_str(b, ":{");
			for (int k = 0; k < e->nd; k++)
			{
				if (k == 0 || e->d[k].node != e->d[k - 1].node)
				{
					if (k)
						lk_buf_put_str(b, "],");
					ref_json_string(b, o->n[e->d[k].node].id);
					lk_buf_put_str(b, ":[");
				}
				else
					lk_buf_put_u8(b, ',');
				put_u64(b, e->d[k].seq);
			}
			lk_buf_put_str(b, "]}");
		}
		lk_buf_put_u8(b, '}');
	}
	lk_buf_put_u8(b, '}');
}

/* Pieces of [lo, hi] that cover it exactly, possibly overlapping and repeated. */
static int
split_range(lk_rng *r, ref_range in, ref_range *out, int max)
{
	int			n = 0;
	uint64_t	at = in.lo;

	while (at <= in.hi && n < max - 1)
	{
		uint64_t	end = below_incl(r, at, in.hi - at > 3 ? at + 3 : in.hi);
		uint64_t	start = at;

		/* overlap the previous piece now and then */
		if (n > 0 && start > in.lo && lk_rng_chance(r, 1, 3))
			start--;
		out[n].lo = start;
		out[n].hi = end;
		n++;
		if (end == in.hi)
			return n;
		at = end + 1;
	}
	out[n].lo = at;
	out[n].hi = in.hi;
	return n + 1;
}

void
ref_orset_json_noncanonical(lk_rng *r, const ref_orset *o, const gen_universe *u, lk_buf *b)
{
	bool		c_first = lk_rng_chance(r, 1, 2);

	gen_ws(r, b);
	lk_buf_put_u8(b, '{');
	for (int part = 0; part < 2; part++)
	{
		bool		is_c = (part == 0) == c_first;

		gen_ws(r, b);
		if (part == 1)
		{
			lk_buf_put_u8(b, ',');
			gen_ws(r, b);
		}
		if (is_c)
		{
			int			order[GEN_MAX_NODES * 2];
			lk_str		ids[GEN_MAX_NODES * 2];
			const ref_onode *src[GEN_MAX_NODES * 2];
			int			n = 0;

			for (int i = 0; i < o->nn; i++)
			{
				ids[n] = o->n[i].id;
				src[n++] = &o->n[i];
			}
			/* a node with no ranges is normalized away */
			for (int i = 0; i < u->nn; i++)
			{
				bool		present = false;

				for (int k = 0; k < o->nn; k++)
					present |= lk_str_eq(o->n[k].id, u->nodes[i]);
				if (!present && lk_rng_chance(r, 1, 4))
				{
					ids[n] = u->nodes[i];
					src[n++] = NULL;
				}
			}
			for (int i = 0; i < n; i++)
				order[i] = i;
			lk_rng_shuffle(r, order, (size_t) n, sizeof(int));
			lk_buf_put_str(b, "\"c\"");
			gen_ws(r, b);
			lk_buf_put_u8(b, ':');
			gen_ws(r, b);
			lk_buf_put_u8(b, '{');
			for (int i = 0; i < n; i++)
			{
				ref_range	pieces[REF_MAX_RANGES * 16];
				int			np = 0;
				const ref_onode *nd = src[order[i]];

				if (i)
					lk_buf_put_u8(b, ',');
				gen_ws(r, b);
				gen_json_string(r, b, ids[order[i]]);
				gen_ws(r, b);
				lk_buf_put_str(b, ":");
				gen_ws(r, b);
				lk_buf_put_u8(b, '[');
				for (int k = 0; nd && k < nd->nr; k++)
				{
					np += split_range(r, nd->r[k], pieces + np, 8);
					if (lk_rng_chance(r, 1, 5))
					{
						pieces[np] = nd->r[k];
						np++;
					}
				}
				lk_rng_shuffle(r, pieces, (size_t) np, sizeof(ref_range));
				for (int k = 0; k < np; k++)
				{
					if (k)
						lk_buf_put_u8(b, ',');
					gen_ws(r, b);
					lk_buf_put_u8(b, '[');
					gen_ws(r, b);
					put_u64(b, pieces[k].lo);
					gen_ws(r, b);
					lk_buf_put_u8(b, ',');
					gen_ws(r, b);
					put_u64(b, pieces[k].hi);
					gen_ws(r, b);
					lk_buf_put_u8(b, ']');
				}
				gen_ws(r, b);
				lk_buf_put_u8(b, ']');
			}
			gen_ws(r, b);
			lk_buf_put_u8(b, '}');
		}
		else
		{
			int			order[GEN_MAX_ELEMS * 2];
			lk_str		names[GEN_MAX_ELEMS * 2];
			const ref_oelem *src[GEN_MAX_ELEMS * 2];
			int			n = 0;

			for (int i = 0; i < o->ne; i++)
			{
				names[n] = o->e[i].s;
				src[n++] = &o->e[i];
			}
			/* an element with no dots is absent */
			for (int i = 0; i < u->ne; i++)
			{
				bool		present = false;

				for (int k = 0; k < o->ne; k++)
					present |= lk_str_eq(o->e[k].s, u->elems[i]);
				if (!present && lk_rng_chance(r, 1, 4))
				{
					names[n] = u->elems[i];
					src[n++] = NULL;
				}
			}
			for (int i = 0; i < n; i++)
				order[i] = i;
			lk_rng_shuffle(r, order, (size_t) n, sizeof(int));
			lk_buf_put_str(b, "\"e\"");
			gen_ws(r, b);
			lk_buf_put_u8(b, ':');
			gen_ws(r, b);
			lk_buf_put_u8(b, '{');
			for (int i = 0; i < n; i++)
			{
				const ref_oelem *e = src[order[i]];
				int			nodes[REF_MAX_DOTS];
				int			nn = 0;

				if (i)
					lk_buf_put_u8(b, ',');
				gen_ws(r, b);
				gen_json_string(r, b, names[order[i]]);
				gen_ws(r, b);
				lk_buf_put_u8(b, ':');
				gen_ws(r, b);
				lk_buf_put_u8(b, '{');
				/* the nodes this element's dots name, each once, shuffled */
				for (int k = 0; e && k < e->nd; k++)
					if (k == 0 || e->d[k].node != e->d[k - 1].node)
						nodes[nn++] = e->d[k].node;
				lk_rng_shuffle(r, nodes, (size_t) nn, sizeof(int));
				for (int m = 0; m < nn; m++)
				{
					uint64_t	seqs[REF_MAX_DOTS * 2];
					int			ns = 0;

					for (int k = 0; k < e->nd; k++)
					{
						if (e->d[k].node != nodes[m])
							continue;
						seqs[ns++] = e->d[k].seq;
						if (lk_rng_chance(r, 1, 5))
							seqs[ns++] = e->d[k].seq;	/* repeated dots are normalized */
					}
					lk_rng_shuffle(r, seqs, (size_t) ns, sizeof(uint64_t));
					if (m)
						lk_buf_put_u8(b, ',');
					gen_ws(r, b);
					gen_json_string(r, b, o->n[nodes[m]].id);
					gen_ws(r, b);
					lk_buf_put_u8(b, ':');
					gen_ws(r, b);
					lk_buf_put_u8(b, '[');
					for (int k = 0; k < ns; k++)
					{
						if (k)
							lk_buf_put_u8(b, ',');
						gen_ws(r, b);
						put_u64(b, seqs[k]);
						gen_ws(r, b);
					}
					lk_buf_put_u8(b, ']');
				}
				gen_ws(r, b);
				lk_buf_put_u8(b, '}');
			}
			gen_ws(r, b);
			lk_buf_put_u8(b, '}');
		}
	}
	gen_ws(r, b);
	lk_buf_put_u8(b, '}');
	gen_ws(r, b);
}

/* ---- lwwreg ---- */

uint64_t
gen_clock(lk_rng *r)
{
	static const uint64_t edges[] = {
		0, 1, 127, 128, 16383, 16384, UINT64_C(1) << 53, UINT64_C(1700000000000000),
		(uint64_t) LK_CLOCK_MAX - 1, (uint64_t) LK_CLOCK_MAX,
	};

	switch (lk_rng_below(r, 10))
	{
		case 0:
			return edges[lk_rng_below(r, sizeof(edges) / sizeof(edges[0]))];
		case 1:
			return lk_rng_below(r, (uint64_t) LK_CLOCK_MAX + 1);
		case 2:
			return UINT64_C(1700000000000000) + lk_rng_below(r, 1000000);
		default:
			return lk_rng_below(r, 4);
	}
}

lk_str
gen_value(lk_rng *r, const gen_universe *u)
{
	char	   *s;

	if (!lk_rng_chance(r, 1, 300))
		return u->elems[lk_rng_below(r, (uint64_t) u->ne)];

	/*
	 * Longer than any orset element, ending in a 4-byte character.  The
	 * longest legal value (1 MiB) has its own tests: the laws cut encodings
	 * at every length, which is quadratic.
	 */
	s = lk_malloc(T, GEN_LONG_VALUE);
	memset(s, 'v', GEN_LONG_VALUE - 4);
	memcpy(s + GEN_LONG_VALUE - 4, "\xf0\x9f\x9a\x80", 4);
	return lk_str_make(s, GEN_LONG_VALUE);
}

void
ref_lwwreg_make(lk_rng *r, const gen_universe *u, ref_lwwreg *w)
{
	w->present = !lk_rng_chance(r, 1, 5);
	if (!w->present)
		return;
	w->clock = gen_clock(r);
	w->node = u->nodes[lk_rng_below(r, (uint64_t) u->nn)];
	w->value = gen_value(r, u);
}

void
ref_lwwreg_binary(const ref_lwwreg *w, lk_buf *b)
{
	lk_buf_put_u8(b, 0x14);
	lk_buf_put_u8(b, w->present ? 1 : 0);
	if (!w->present)
		return;
	lk_buf_put_varint(b, w->clock);
	lk_buf_put_u8(b, (uint8_t) w->node.len);
	lk_buf_put(b, w->node.p, w->node.len);
	lk_buf_put_varint(b, w->value.len);
	lk_buf_put(b, w->value.p, w->value.len);
}

void
ref_lwwreg_json(const ref_lwwreg *w, lk_buf *b)
{
	if (!w->present)
	{
		lk_buf_put_str(b, "{}");
		return;
	}
	lk_buf_put_str(b, "{\"c\":");
	put_u64(b, w->clock);
	lk_buf_put_str(b, ",\"n\":");
	ref_json_string(b, w->node);
	lk_buf_put_str(b, ",\"v\":");
	ref_json_string(b, w->value);
	lk_buf_put_u8(b, '}');
}

void
ref_lwwreg_json_noncanonical(lk_rng *r, const ref_lwwreg *w, lk_buf *b)
{
	int			order[3] = {0, 1, 2};

	gen_ws(r, b);
	lk_buf_put_u8(b, '{');
	if (w->present)
	{
		lk_rng_shuffle(r, order, 3, sizeof(int));
		for (int i = 0; i < 3; i++)
		{
			if (i)
				lk_buf_put_u8(b, ',');
			gen_ws(r, b);
			gen_json_string(r, b, lk_str_make(&"cnv"[order[i]], 1));
			gen_ws(r, b);
			lk_buf_put_u8(b, ':');
			gen_ws(r, b);
			if (order[i] == 0)
			{
				if (w->clock == 0 && lk_rng_chance(r, 1, 2))
					lk_buf_put_str(b, "-0");
				else
					put_u64(b, w->clock);
			}
			else
				gen_json_string(r, b, order[i] == 1 ? w->node : w->value);
			gen_ws(r, b);
		}
	}
	gen_ws(r, b);
	lk_buf_put_u8(b, '}');
	gen_ws(r, b);
}
