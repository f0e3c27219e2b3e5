/*
 * gen.h — random states for the property tests, and a reference codec.
 *
 * States are drawn from a per-case universe of a few node ids and elements,
 * so independently drawn states share ids and collide.  The pools hold the
 * awkward cases on purpose: ids and elements that are prefixes of each other,
 * multibyte UTF-8, quotes, backslashes, control characters that JSON must
 * escape, the 255-byte id.
 *
 * The reference ("ref_") structures describe a state as plain arrays.  Their
 * encoders are written here from the format description in lk_format.h,
 * orset.h and lwwreg.h, independently of the core, so a test can hold the
 * core's codecs against a second implementation.  The noncanonical writers render a state
 * as valid but unnormalized JSON: keys shuffled, whitespace, gratuitous
 * escapes, zero entries, split and overlapping ranges, repeated dots, "-0".
 */
#ifndef LK_TEST_GEN_H
#define LK_TEST_GEN_H

#include "lk_test.h"

#define GEN_MAX_NODES	6
#define GEN_MAX_ELEMS	8
#define REF_MAX_RANGES	4
#define REF_MAX_DOTS	4

typedef struct gen_universe
{
	int			nn;
	lk_str		nodes[GEN_MAX_NODES];	/* distinct, ascending */
	int			ne;
	lk_str		elems[GEN_MAX_ELEMS];	/* distinct, ascending */
} gen_universe;

void		gen_universe_make(lk_rng *r, gen_universe *u);

/* One node id or element drawn from the global pools or made up. */
lk_str		gen_node_id(lk_rng *r);
lk_str		gen_element(lk_rng *r);

/* A count, biased to 1, small values and the varint and bigint boundaries. */
uint64_t	gen_count(lk_rng *r);

/* ---- counters ---- */

typedef struct ref_gc
{
	int			n;
	lk_str		node[GEN_MAX_NODES];	/* ascending */
	uint64_t	count[GEN_MAX_NODES];	/* 1 .. 2^63-1 */
} ref_gc;

void		ref_gc_make(lk_rng *r, const gen_universe *u, ref_gc *g);
void		ref_gc_binary_body(const ref_gc *g, lk_buf *b);
void		ref_gc_json(const ref_gc *g, lk_buf *b);
void		ref_gc_json_noncanonical(lk_rng *r, const ref_gc *g, const gen_universe *u, lk_buf *b);

/* ---- orset ---- */

typedef struct ref_range
{
	uint64_t	lo,
				hi;
} ref_range;

typedef struct ref_onode
{
	lk_str		id;
	int			nr;
	ref_range	r[REF_MAX_RANGES];
} ref_onode;

typedef struct ref_dot
{
	int			node;
	uint64_t	seq;
} ref_dot;

typedef struct ref_oelem
{
	lk_str		s;
	int			nd;
	ref_dot		d[REF_MAX_DOTS];
} ref_oelem;

typedef struct ref_orset
{
	int			nn;
	ref_onode	n[GEN_MAX_NODES];
	int			ne;
	ref_oelem	e[GEN_MAX_ELEMS];
} ref_orset;

/* An arbitrary valid state: every invariant of orset.h holds, nothing more. */
void		ref_orset_make(lk_rng *r, const gen_universe *u, ref_orset *o);
void		ref_orset_binary(const ref_orset *o, lk_buf *b);
void		ref_orset_json(const ref_orset *o, lk_buf *b);
void		ref_orset_json_noncanonical(lk_rng *r, const ref_orset *o, const gen_universe *u,
										lk_buf *b);

/* ---- lwwreg ---- */

/* A clock, biased to a few small values (so writes tie), varint edges and the maximum. */
uint64_t	gen_clock(lk_rng *r);

/* A register value: a universe element, rarely one of GEN_LONG_VALUE bytes. */
#define GEN_LONG_VALUE	5000
lk_str		gen_value(lk_rng *r, const gen_universe *u);

typedef struct ref_lwwreg
{
	bool		present;
	uint64_t	clock;			/* 0 .. 2^63-1 */
	lk_str		node;
	lk_str		value;
} ref_lwwreg;

/* Empty one time in five, else a write by a universe node. */
void		ref_lwwreg_make(lk_rng *r, const gen_universe *u, ref_lwwreg *w);
void		ref_lwwreg_binary(const ref_lwwreg *w, lk_buf *b);
void		ref_lwwreg_json(const ref_lwwreg *w, lk_buf *b);
void		ref_lwwreg_json_noncanonical(lk_rng *r, const ref_lwwreg *w, lk_buf *b);

/* ---- JSON text pieces ---- */

/* The canonical string literal, written without the core's writer. */
void		ref_json_string(lk_buf *b, lk_str s);
/* The same string with random but valid escapes. */
void		gen_json_string(lk_rng *r, lk_buf *b, lk_str s);
/* Zero to two random JSON whitespace characters. */
void		gen_ws(lk_rng *r, lk_buf *b);

/* Bytes as an lk_str (for buffers that hold text). */
static inline lk_str
buf_str(const lk_buf *b)
{
	return lk_str_make((const char *) b->data, b->len);
}

static inline lk_str
cstr(const char *s)
{
	return lk_str_make(s, strlen(s));
}

#endif
