/*
 * lk_state.c — dispatch on the kind of a state.
 */
#include "lk_state.h"

const char *
lk_kind_name(lk_kind kind)
{
	switch (kind)
	{
		case LK_GCOUNTER:
			return "gcounter";
		case LK_PNCOUNTER:
			return "pncounter";
		case LK_ORSET:
			return "orset";
		case LK_LWWREG:
			return "lwwreg";
	}
	return NULL;
}

void
lk_state_init(lk_state *s, lk_kind kind)
{
	s->kind = kind;
	switch (kind)
	{
		case LK_GCOUNTER:
			lk_gcounter_init(&s->u.gc);
			break;
		case LK_PNCOUNTER:
			lk_pncounter_init(&s->u.pn);
			break;
		case LK_ORSET:
			lk_orset_init(&s->u.os);
			break;
		case LK_LWWREG:
			lk_lwwreg_init(&s->u.lw);
			break;
	}
}

void
lk_state_free(const lk_alloc *a, lk_state *s)
{
	switch (s->kind)
	{
		case LK_GCOUNTER:
			lk_gcounter_free(a, &s->u.gc);
			break;
		case LK_PNCOUNTER:
			lk_pncounter_free(a, &s->u.pn);
			break;
		case LK_ORSET:
			lk_orset_free(a, &s->u.os);
			break;
		case LK_LWWREG:
			lk_lwwreg_free(a, &s->u.lw);
			break;
	}
}

lk_code
lk_state_decode(const uint8_t *buf, size_t len, lk_kind kind, const lk_alloc *a,
				lk_state *out, lk_error *err)
{
	if (kind == 0)
	{
		kind = len > 0 ? (lk_kind) (buf[0] & 15) : LK_GCOUNTER;
		if (lk_kind_name(kind) == NULL)
			return lk_fail(err, LK_ERR_BINARY, "invalid binary CRDT value",
						   "Unknown kind %d in the format byte.", (int) kind);
	}
	out->kind = kind;
	switch (kind)
	{
		case LK_GCOUNTER:
			return lk_gcounter_decode(buf, len, a, &out->u.gc, err);
		case LK_PNCOUNTER:
			return lk_pncounter_decode(buf, len, a, &out->u.pn, err);
		case LK_ORSET:
			return lk_orset_decode(buf, len, a, &out->u.os, err);
		case LK_LWWREG:
			return lk_lwwreg_decode(buf, len, a, &out->u.lw, err);
	}
	return lk_fail(err, LK_ERR_VALUE, "unknown CRDT kind", NULL);
}

lk_code
lk_state_encode(const lk_state *s, lk_buf *b, lk_error *err)
{
	switch (s->kind)
	{
		case LK_GCOUNTER:
			return lk_gcounter_encode(&s->u.gc, b, err);
		case LK_PNCOUNTER:
			return lk_pncounter_encode(&s->u.pn, b, err);
		case LK_ORSET:
			return lk_orset_encode(&s->u.os, b, err);
		case LK_LWWREG:
			return lk_lwwreg_encode(&s->u.lw, b, err);
	}
	return lk_fail(err, LK_ERR_VALUE, "unknown CRDT kind", NULL);
}

lk_code
lk_state_parse(lk_kind kind, const char *text, size_t len, const lk_alloc *a,
			   lk_state *out, lk_error *err)
{
	out->kind = kind;
	switch (kind)
	{
		case LK_GCOUNTER:
			return lk_gcounter_parse(text, len, a, &out->u.gc, err);
		case LK_PNCOUNTER:
			return lk_pncounter_parse(text, len, a, &out->u.pn, err);
		case LK_ORSET:
			return lk_orset_parse(text, len, a, &out->u.os, err);
		case LK_LWWREG:
			return lk_lwwreg_parse(text, len, a, &out->u.lw, err);
	}
	return lk_fail(err, LK_ERR_VALUE, "unknown CRDT kind", NULL);
}

void
lk_state_to_json(const lk_state *s, lk_buf *b)
{
	switch (s->kind)
	{
		case LK_GCOUNTER:
			lk_gcounter_to_json(&s->u.gc, b);
			break;
		case LK_PNCOUNTER:
			lk_pncounter_to_json(&s->u.pn, b);
			break;
		case LK_ORSET:
			lk_orset_to_json(&s->u.os, b);
			break;
		case LK_LWWREG:
			lk_lwwreg_to_json(&s->u.lw, b);
			break;
	}
}

static lk_code
same_kind(const lk_state *x, const lk_state *y, lk_error *err)
{
	if (x->kind != y->kind)
		return lk_fail(err, LK_ERR_VALUE, "cannot combine states of different types",
					   "One is a %s, the other a %s.",
					   lk_kind_name(x->kind), lk_kind_name(y->kind));
	return LK_OK;
}

lk_code
lk_state_merge(const lk_state *x, const lk_state *y, const lk_alloc *a, lk_state *out,
			   lk_error *err)
{
	lk_code		rc;

	if ((rc = same_kind(x, y, err)) != LK_OK)
		return rc;
	out->kind = x->kind;
	switch (x->kind)
	{
		case LK_GCOUNTER:
			return lk_gcounter_merge(&x->u.gc, &y->u.gc, a, &out->u.gc, err);
		case LK_PNCOUNTER:
			return lk_pncounter_merge(&x->u.pn, &y->u.pn, a, &out->u.pn, err);
		case LK_ORSET:
			return lk_orset_merge(&x->u.os, &y->u.os, a, &out->u.os, err);
		case LK_LWWREG:
			lk_lwwreg_merge(&x->u.lw, &y->u.lw, &out->u.lw);
			return LK_OK;
	}
	return lk_fail(err, LK_ERR_VALUE, "unknown CRDT kind", NULL);
}

lk_code
lk_state_delta(const lk_state *old, const lk_state *newer, const lk_alloc *a, lk_state *out,
			   lk_error *err)
{
	lk_code		rc;

	if ((rc = same_kind(old, newer, err)) != LK_OK)
		return rc;
	out->kind = old->kind;
	switch (old->kind)
	{
		case LK_GCOUNTER:
			lk_gcounter_delta(&old->u.gc, &newer->u.gc, a, &out->u.gc);
			return LK_OK;
		case LK_PNCOUNTER:
			lk_pncounter_delta(&old->u.pn, &newer->u.pn, a, &out->u.pn);
			return LK_OK;
		case LK_ORSET:
			return lk_orset_delta(&old->u.os, &newer->u.os, a, &out->u.os, err);
		case LK_LWWREG:
			lk_lwwreg_delta(&old->u.lw, &newer->u.lw, &out->u.lw);
			return LK_OK;
	}
	return lk_fail(err, LK_ERR_VALUE, "unknown CRDT kind", NULL);
}

lk_code
lk_state_leq(const lk_state *x, const lk_state *y, const lk_alloc *a, bool *out, lk_error *err)
{
	lk_code		rc;

	if ((rc = same_kind(x, y, err)) != LK_OK)
		return rc;
	switch (x->kind)
	{
		case LK_GCOUNTER:
			*out = lk_gcounter_leq(&x->u.gc, &y->u.gc);
			return LK_OK;
		case LK_PNCOUNTER:
			*out = lk_pncounter_leq(&x->u.pn, &y->u.pn);
			return LK_OK;
		case LK_ORSET:
			return lk_orset_leq(&x->u.os, &y->u.os, a, out, err);
		case LK_LWWREG:
			*out = lk_lwwreg_leq(&x->u.lw, &y->u.lw);
			return LK_OK;
	}
	return lk_fail(err, LK_ERR_VALUE, "unknown CRDT kind", NULL);
}
