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

/*
 * merge_agg's accumulator trusts stored values to be canonical, but must not
 * read past the end of any input.  The input is absorbed twice: the second
 * time the accumulator holds its nodes, so the in-place path reads both
 * halves.  An input that decodes must leave the accumulator holding exactly
 * it.  Split as [k][k bytes][rest], the rest is absorbed after the first
 * part's nodes: the in-place path then meets inputs of the same counts that
 * differ or end early.
 */
static void
check_acc(const uint8_t *data, size_t size)
{
	lk_pncounter_acc acc;
	lk_pncounter s,
				held;
	lk_error	err;
	bool		whole;

	lk_pncounter_acc_init(&acc);
	whole = lk_pncounter_acc_absorb_value(&acc, data, size, A, &err) == LK_OK &&
		lk_pncounter_acc_finish(&acc, A, &held, &err) == LK_OK &&
		lk_pncounter_acc_absorb_value(&acc, data, size, A, &err) == LK_OK &&
		lk_pncounter_acc_finish(&acc, A, &held, &err) == LK_OK;
	if (lk_pncounter_decode(data, size, A, &s, &err) == LK_OK)
	{
		lk_buf		b;

		FZ_ASSERT(whole, "the accumulator refused a valid value");
		lk_buf_init(&b, A, size);
		FZ_ASSERT(lk_pncounter_encode(&held, &b, &err) == LK_OK && b.len == size &&
				  memcmp(b.data, data, size) == 0, "the accumulator of a value differs from it");
		lk_free(A, b.data);
		lk_pncounter_free(A, &s);
	}
	lk_pncounter_acc_free(A, &acc);
	if (size >= 2 && (size_t) data[0] + 1 <= size)
	{
		size_t		k = data[0];

		lk_pncounter_acc_init(&acc);
		if (lk_pncounter_acc_absorb_value(&acc, data + 1, k, A, &err) == LK_OK &&
			lk_pncounter_acc_finish(&acc, A, &held, &err) == LK_OK)
			(void) lk_pncounter_acc_absorb_value(&acc, data + 1 + k, size - 1 - k, A, &err);
		lk_pncounter_acc_free(A, &acc);
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_acc(data, size);
	return fz_run(&ops, data, size);
}
