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

/*
 * merge_agg's accumulator trusts stored values to be canonical, but must not
 * read past the end of any input.  The input is absorbed twice: the second
 * time the accumulator holds its nodes, so the in-place path reads it.  An
 * input that decodes must leave the accumulator holding exactly it.  Split as
 * [k][k bytes][rest], the rest is absorbed after the first part's nodes: the
 * in-place path then meets inputs of the same count that differ or end early.
 */
static void
check_acc(const uint8_t *data, size_t size)
{
	lk_gcounter_acc acc;
	lk_gcounter s;
	lk_error	err;
	bool		whole;

	lk_gcounter_acc_init(&acc);
	whole = lk_gcounter_acc_absorb_value(&acc, data, size, A, &err) == LK_OK &&
		lk_gcounter_acc_finish(&acc, A, &err) == LK_OK &&
		lk_gcounter_acc_absorb_value(&acc, data, size, A, &err) == LK_OK &&
		lk_gcounter_acc_finish(&acc, A, &err) == LK_OK;
	if (lk_gcounter_decode(data, size, A, &s, &err) == LK_OK)
	{
		lk_buf		b;

		FZ_ASSERT(whole, "the accumulator refused a valid value");
		lk_buf_init(&b, A, size);
		FZ_ASSERT(lk_gcounter_encode(&acc.gc, &b, &err) == LK_OK && b.len == size &&
				  memcmp(b.data, data, size) == 0, "the accumulator of a value differs from it");
		lk_free(A, b.data);
		lk_gcounter_free(A, &s);
	}
	lk_gcounter_acc_free(A, &acc);
	if (size >= 2 && (size_t) data[0] + 1 <= size)
	{
		size_t		k = data[0];

		lk_gcounter_acc_init(&acc);
		if (lk_gcounter_acc_absorb_value(&acc, data + 1, k, A, &err) == LK_OK &&
			lk_gcounter_acc_finish(&acc, A, &err) == LK_OK)
			(void) lk_gcounter_acc_absorb_value(&acc, data + 1 + k, size - 1 - k, A, &err);
		lk_gcounter_acc_free(A, &acc);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_acc(data, size);
	return fz_run(&ops, data, size);
}
