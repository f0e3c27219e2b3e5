/*
 * fuzz_pncounter.c — libFuzzer target for the pncounter's decoder and parser
 * (see fuzz_common.h for the invariants checked).
 */
#include "fuzz_common.h"
#include "pncounter.h"

static void
init(void *s)
{
	lk_pncounter_init(s);
}

static lk_code
decode(const uint8_t *p, size_t n, void *out, lk_error *err)
{
	return lk_pncounter_decode(p, n, A, out, err);
}

static lk_code
encode(const void *s, lk_buf *b, lk_error *err)
{
	return lk_pncounter_encode(s, b, err);
}

static lk_code
parse(const char *p, size_t n, void *out, lk_error *err)
{
	return lk_pncounter_parse(p, n, A, out, err);
}

static void
to_json(const void *s, lk_buf *b)
{
	lk_pncounter_to_json(s, b);
}

static lk_code
merge(const void *a, const void *b, void *out, lk_error *err)
{
	return lk_pncounter_merge(a, b, A, out, err);
}

static lk_code
delta(const void *old, const void *nw, void *out, lk_error *err)
{
	(void) err;
	lk_pncounter_delta(old, nw, A, out);
	return LK_OK;
}

static lk_code
leq(const void *a, const void *b, bool *out, lk_error *err)
{
	(void) err;
	*out = lk_pncounter_leq(a, b);
	return LK_OK;
}

static lk_gcounter
copy_half(const lk_gcounter *g)
{
	lk_gcounter c = *g;

	c.cap = g->n;
	c.e = lk_malloc(A, (size_t) g->n * sizeof(lk_gc_entry));
	if (g->n)
		memcpy(c.e, g->e, (size_t) g->n * sizeof(lk_gc_entry));
	return c;
}

/* Increment or decrement a copy as one of two nodes. */
static lk_code
op(const void *s, uint8_t choice, void *out, lk_error *err)
{
	const lk_pncounter *pn = s;
	lk_pncounter *c = out;
	lk_str		node = lk_str_make(choice & 1 ? "a" : "fz", choice & 1 ? 1 : 2);
	int64_t		by = choice & 2 ? INT64_MAX : 1 + (choice >> 3);

	c->p = copy_half(&pn->p);
	c->n = copy_half(&pn->n);
	if (choice & 4)
		return lk_pncounter_decrement(c, node, by, A, err);
	return lk_pncounter_increment(c, node, by, A, err);
}

static const fz_ops ops = {
	sizeof(lk_pncounter), init, decode, encode, parse, to_json, merge, delta, leq, op,
};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run(&ops, data, size);
}
