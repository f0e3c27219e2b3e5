/*
 * fuzz_gcounter.c — libFuzzer target for the gcounter's decoder and parser
 * (see fuzz_common.h for the invariants checked).
 */
#include "fuzz_common.h"
#include "gcounter.h"

static void
init(void *s)
{
	lk_gcounter_init(s);
}

static lk_code
decode(const uint8_t *p, size_t n, void *out, lk_error *err)
{
	return lk_gcounter_decode(p, n, A, out, err);
}

static lk_code
encode(const void *s, lk_buf *b, lk_error *err)
{
	return lk_gcounter_encode(s, b, err);
}

static lk_code
parse(const char *p, size_t n, void *out, lk_error *err)
{
	return lk_gcounter_parse(p, n, A, out, err);
}

static void
to_json(const void *s, lk_buf *b)
{
	lk_gcounter_to_json(s, b);
}

static lk_code
merge(const void *a, const void *b, void *out, lk_error *err)
{
	return lk_gcounter_merge(a, b, A, out, err);
}

static lk_code
delta(const void *old, const void *nw, void *out, lk_error *err)
{
	(void) err;
	lk_gcounter_delta(old, nw, A, out);
	return LK_OK;
}

static lk_code
leq(const void *a, const void *b, bool *out, lk_error *err)
{
	(void) err;
	*out = lk_gcounter_leq(a, b);
	return LK_OK;
}

/* Increment a copy as one of two nodes, by a small or a huge amount. */
static lk_code
op(const void *s, uint8_t choice, void *out, lk_error *err)
{
	const lk_gcounter *g = s;
	lk_gcounter *c = out;

	c->n = g->n;
	c->cap = g->n;
	c->e = lk_malloc(A, (size_t) g->n * sizeof(lk_gc_entry));
	if (g->n)
		memcpy(c->e, g->e, (size_t) g->n * sizeof(lk_gc_entry));
	return lk_gcounter_increment(c, lk_str_make(choice & 1 ? "a" : "fz", choice & 1 ? 1 : 2),
								 choice & 2 ? INT64_MAX : 1 + (choice >> 2), A, err);
}

static const fz_ops ops = {
	sizeof(lk_gcounter), init, decode, encode, parse, to_json, merge, delta, leq, op,
};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run(&ops, data, size);
}
