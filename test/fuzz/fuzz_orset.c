/*
 * fuzz_orset.c — libFuzzer target for the orset's decoder and parser (see
 * fuzz_common.h for the invariants checked).
 */
#include "fuzz_common.h"
#include "orset.h"
#include "orset_check.h"

/*
 * Add or remove an element the state holds (or a new one) as one of two
 * nodes, then check what add and remove promise: present, or absent, and
 * every other element untouched.
 */
static lk_code
op(const void *s, uint8_t choice, void *out, lk_error *err)
{
	const lk_orset *o = s;
	lk_orset	d;
	lk_str		elem = o->nelems && (choice & 4) ? o->elems[(choice >> 3) % o->nelems].s :
		lk_str_make("fz", 2);
	lk_str		node = o->nnodes && (choice & 2) ? o->nodes[(choice >> 3) % o->nnodes].id :
		lk_str_make("fz", 2);
	bool		adding = choice & 1;
	lk_code		rc;

	rc = adding ? lk_orset_add_delta(o, elem, node, A, &d, err) :
		lk_orset_remove_delta(o, elem, A, &d, err);
	if (rc != LK_OK)
		return rc;
	if ((rc = lk_orset_merge(o, &d, A, out, err)) != LK_OK)
		return rc;
	FZ_ASSERT((lk_orset_find(out, elem) >= 0) == adding,
			  adding ? "an added element is absent" : "a removed element is present");
	FZ_ASSERT(others_unchanged(o, out, elem), "an operation changed another element");
	return LK_OK;
}

static const fz_ops ops = {LK_ORSET, op};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_run(&ops, data, size);
}
