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

/*
 * Merging two binary values on their encodings must give the bytes of
 * encoding the merge of the decoded values, or, when a value does not
 * decode, the decoder's error (any binary or limit error when neither
 * does), leaving out as it was and nothing allocated.  The input is split as
 * [k][k bytes][rest]; each part is copied to an allocation of its exact size
 * so that ASan sees a read past either end.
 */
static void
check_merge_encoded(const uint8_t *data, size_t size)
{
	size_t		k,
				live;
	uint8_t    *x,
			   *y;
	lk_orset	a,
				b,
				m;
	lk_error	ea,
				eb,
				err;
	lk_code		ra,
				rb,
				rc;
	lk_buf		out,
				want;

	if (size < 2 || (size_t) data[0] + 1 > size)
		return;
	k = data[0];
	x = lk_malloc(A, k);
	y = lk_malloc(A, size - 1 - k);
	memcpy(x, data + 1, k);
	memcpy(y, data + 1 + k, size - 1 - k);
	ra = lk_orset_decode(x, k, A, &a, &ea);
	rb = lk_orset_decode(y, size - 1 - k, A, &b, &eb);
	lk_buf_init(&out, A, 16);
	lk_buf_put(&out, "hdr:", 4);
	live = fz_live;
	rc = lk_orset_merge_encoded(x, k, y, size - 1 - k, A, &out, &err);
	if (ra == LK_OK && rb == LK_OK)
	{
		FZ_ASSERT(rc == lk_orset_merge(&a, &b, A, &m, &eb),
				  "merging encodings and merging states disagree on failing");
		if (rc == LK_OK)
		{
			lk_buf_init(&want, A, 16);
			FZ_ASSERT(lk_orset_encode(&m, &want, &err) == LK_OK && want.len == out.len - 4 &&
					  memcmp(want.data, out.data + 4, want.len) == 0,
					  "merging encodings differs from encoding the merge");
		}
	}
	else if (ra == LK_OK || rb == LK_OK)
	{
		const lk_error *e = ra == LK_OK ? &eb : &ea;

		FZ_ASSERT(rc == (ra == LK_OK ? rb : ra) && strcmp(err.msg, e->msg) == 0 &&
				  strcmp(err.detail, e->detail) == 0,
				  "merging encodings reports another error than the decoder");
	}
	else
		FZ_ASSERT(rc == LK_ERR_BINARY || rc == LK_ERR_LIMIT,
				  "merging bad encodings failed with an odd code");
	if (rc != LK_OK)
		FZ_ASSERT(out.len == 4 && fz_live == live,
				  "a failed merge of encodings left output or memory behind");
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_merge_encoded(data, size);
	return fz_run(&ops, data, size);
}
