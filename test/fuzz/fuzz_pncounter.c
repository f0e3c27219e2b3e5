/*
 * fuzz_pncounter.c — libFuzzer target for the pncounter's decoder and parser
 * (see fuzz_common.h for the invariants checked).
 */
#include "fuzz_common.h"
#include "pncounter.h"

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

static const fz_ops ops = {LK_PNCOUNTER, op};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run(&ops, data, size);
}
