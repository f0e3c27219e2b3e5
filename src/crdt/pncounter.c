/*
 * pncounter.c — the positive-negative counter, as two gcounters.
 */
#include "pncounter.h"

#include "lk_format.h"

static const char *const type_name = "pncounter";

void
lk_pncounter_init(lk_pncounter *pn)
{
	lk_gcounter_init(&pn->p);
	lk_gcounter_init(&pn->n);
}

void
lk_pncounter_free(const lk_alloc *a, lk_pncounter *pn)
{
	lk_gcounter_free(a, &pn->p);
	lk_gcounter_free(a, &pn->n);
}

lk_code
lk_pncounter_decode(const uint8_t *buf, size_t len, const lk_alloc *a,
					lk_pncounter *out, lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	lk_code		rc;

	lk_pncounter_init(out);
	if ((rc = lk_format_open(&r, LK_PNCOUNTER, type_name, err)) != LK_OK)
		return rc;
	if ((rc = lk_gcounter_decode_body(&r, type_name, a, &out->p, err)) != LK_OK)
		return rc;
	if ((rc = lk_gcounter_decode_body(&r, type_name, a, &out->n, err)) != LK_OK)
	{
		lk_pncounter_free(a, out);
		return rc;
	}
	if (r.p != r.end)
	{
		lk_pncounter_free(a, out);
		return lk_binary_error(err, type_name, "Trailing bytes follow the value.");
	}
	return LK_OK;
}

lk_code
lk_pncounter_encode(const lk_pncounter *pn, lk_buf *b, lk_error *err)
{
	size_t		start = b->len;

	lk_buf_put_u8(b, lk_format_byte(LK_PNCOUNTER));
	lk_gcounter_encode_body(&pn->p, b);
	lk_gcounter_encode_body(&pn->n, b);
	return lk_check_state_size(b->len - start, type_name, err);
}

lk_code
lk_pncounter_parse(const char *s, size_t len, const lk_alloc *a,
				   lk_pncounter *out, lk_error *err)
{
	lk_json		j;
	lk_json_iter it;
	bool		more;
	bool		seen_p = false,
				seen_n = false;
	lk_code		rc;

	lk_pncounter_init(out);
	lk_json_init(&j, s, len, a, err);
	if ((rc = lk_json_object(&j, &it)) != LK_OK)
		return rc;
	for (;;)
	{
		lk_str		key;

		if ((rc = lk_json_next_key(&j, &it, &more, &key)) != LK_OK)
			goto fail;
		if (!more)
			break;
		if (key.len == 1 && (key.p[0] == 'p' || key.p[0] == 'n'))
		{
			bool	   *seen = key.p[0] == 'p' ? &seen_p : &seen_n;

			if (*seen)
			{
				rc = lk_json_invalid(&j, j.key_at, "key", "duplicate key");
				goto fail;
			}
			*seen = true;
			rc = lk_gcounter_parse_json(&j, key.p[0] == 'p' ? &out->p : &out->n);
			if (rc != LK_OK)
				goto fail;
		}
		else
		{
			rc = lk_json_invalid(&j, j.key_at, "key",
								 "the only keys of a pncounter are \"p\" and \"n\"");
			goto fail;
		}
	}
	if ((rc = lk_json_finish(&j)) != LK_OK)
		goto fail;
	return LK_OK;
fail:
	lk_pncounter_free(a, out);
	return rc;
}

void
lk_pncounter_to_json(const lk_pncounter *pn, lk_buf *b)
{
	lk_buf_put_u8(b, '{');
	if (pn->n.n)
	{
		lk_buf_put_lit(b, "\"n\":");
		lk_gcounter_to_json(&pn->n, b);
	}
	if (pn->p.n)
	{
		if (pn->n.n)
			lk_buf_put_u8(b, ',');
		lk_buf_put_lit(b, "\"p\":");
		lk_gcounter_to_json(&pn->p, b);
	}
	lk_buf_put_u8(b, '}');
}

lk_code
lk_pncounter_merge(const lk_pncounter *a, const lk_pncounter *b, const lk_alloc *al,
				   lk_pncounter *out, lk_error *err)
{
	lk_code		rc;

	lk_pncounter_init(out);
	if ((rc = lk_gcounter_merge(&a->p, &b->p, al, &out->p, err)) != LK_OK)
		return rc;
	if ((rc = lk_gcounter_merge(&a->n, &b->n, al, &out->n, err)) != LK_OK)
		lk_pncounter_free(al, out);
	return rc;
}

void
lk_pncounter_delta(const lk_pncounter *old, const lk_pncounter *newer, const lk_alloc *al,
				   lk_pncounter *out)
{
	lk_gcounter_delta(&old->p, &newer->p, al, &out->p);
	lk_gcounter_delta(&old->n, &newer->n, al, &out->n);
}

bool
lk_pncounter_leq(const lk_pncounter *a, const lk_pncounter *b)
{
	return lk_gcounter_leq(&a->p, &b->p) && lk_gcounter_leq(&a->n, &b->n);
}

lk_code
lk_pncounter_increment(lk_pncounter *pn, lk_str node, int64_t by, const lk_alloc *a, lk_error *err)
{
	return lk_gcounter_raise(&pn->p, node, by, "pncounter total out of range", "increments", a, err);
}

lk_code
lk_pncounter_decrement(lk_pncounter *pn, lk_str node, int64_t by, const lk_alloc *a, lk_error *err)
{
	if (by <= 0)
		return lk_fail(err, LK_ERR_VALUE, "decrement must be positive",
					   "The amount was %lld.", (long long) by);
	return lk_gcounter_raise(&pn->n, node, by, "pncounter total out of range", "decrements", a, err);
}

lk_code
lk_pncounter_value(const lk_pncounter *pn, int64_t *out, lk_error *err)
{
	__int128	v = lk_gcounter_sum(&pn->p) - lk_gcounter_sum(&pn->n);

	if (v > INT64_MAX || v < INT64_MIN)
		return lk_fail(err, LK_ERR_RANGE, "pncounter value out of range",
					   "The value does not fit in a bigint.");
	*out = (int64_t) v;
	return LK_OK;
}

void
lk_pncounter_acc_init(lk_pncounter_acc *acc)
{
	lk_gcounter_acc_init(&acc->p);
	lk_gcounter_acc_init(&acc->n);
}

void
lk_pncounter_acc_free(const lk_alloc *a, lk_pncounter_acc *acc)
{
	lk_gcounter_acc_free(a, &acc->p);
	lk_gcounter_acc_free(a, &acc->n);
}

lk_code
lk_pncounter_acc_absorb_value(lk_pncounter_acc *acc, const uint8_t *buf, size_t len,
							  const lk_alloc *a, lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	lk_code		rc;

	if ((rc = lk_format_open(&r, LK_PNCOUNTER, type_name, err)) != LK_OK)
		return rc;
	if ((rc = lk_gcounter_acc_absorb_body(&acc->p, &r, type_name, a, err)) != LK_OK)
		return rc;
	return lk_gcounter_acc_absorb_body(&acc->n, &r, type_name, a, err);
}

lk_code
lk_pncounter_acc_absorb(lk_pncounter_acc *acc, const lk_pncounter *in, const lk_alloc *a,
						lk_error *err)
{
	lk_code		rc;

	if ((rc = lk_gcounter_acc_absorb(&acc->p, &in->p, a, err)) != LK_OK)
		return rc;
	return lk_gcounter_acc_absorb(&acc->n, &in->n, a, err);
}

lk_code
lk_pncounter_acc_absorb_acc(lk_pncounter_acc *acc, const lk_pncounter_acc *in,
							const lk_alloc *a, lk_error *err)
{
	lk_code		rc;

	if ((rc = lk_gcounter_acc_absorb_acc(&acc->p, &in->p, a, err)) != LK_OK)
		return rc;
	return lk_gcounter_acc_absorb_acc(&acc->n, &in->n, a, err);
}

lk_code
lk_pncounter_acc_finish(lk_pncounter_acc *acc, const lk_alloc *a, lk_pncounter *out,
						lk_error *err)
{
	lk_code		rc;

	if ((rc = lk_gcounter_acc_finish(&acc->p, a, err)) != LK_OK)
		return rc;
	if ((rc = lk_gcounter_acc_finish(&acc->n, a, err)) != LK_OK)
		return rc;
	out->p = acc->p.gc;
	out->n = acc->n.gc;
	return LK_OK;
}
