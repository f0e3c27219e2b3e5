/*
 * fuzz_gcounter.c — libFuzzer target for the gcounter's decoder and parser
 * (see fuzz_common.h for the invariants checked).
 */
#include "fuzz_common.h"
#include "gcounter.h"

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

static const fz_ops ops = {LK_GCOUNTER, op};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run(&ops, data, size);
}
