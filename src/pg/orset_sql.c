/*
 * orset_sql.c — the SQL functions of orset: its operations and readers (the
 * type itself is src/crdt/orset.c).
 *
 * add and remove build the operation's delta in the core and merge it, the
 * same path a replica's delta takes.
 */
#include "lk_pg.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

static Datum
apply_delta(lk_state *s, lk_orset *delta)
{
	lk_state	m;
	lk_error	err;

	m.kind = LK_ORSET;
	lk_pg_check(lk_orset_merge(&s->u.os, delta, &lk_pg_alloc, &m.u.os, &err), &err);
	PG_RETURN_POINTER(lk_pg_state_datum(&m));
}

static Datum
add(FunctionCallInfo fcinfo, lk_str node)
{
	lk_state	s;
	lk_orset	delta;
	lk_error	err;

	lk_pg_arg_state(fcinfo, 0, LK_ORSET, &s);
	lk_pg_check(lk_orset_add_delta(&s.u.os, lk_pg_text_arg(fcinfo, 1), node,
								   &lk_pg_alloc, &delta, &err), &err);
	return apply_delta(&s, &delta);
}

PG_FUNCTION_INFO_V1(orset_add);
Datum
orset_add(PG_FUNCTION_ARGS)
{
	return add(fcinfo, lk_pg_node_id());
}

PG_FUNCTION_INFO_V1(orset_add_node);
Datum
orset_add_node(PG_FUNCTION_ARGS)
{
	return add(fcinfo, lk_pg_text_arg(fcinfo, 2));
}

PG_FUNCTION_INFO_V1(orset_remove);
Datum
orset_remove(PG_FUNCTION_ARGS)
{
	lk_state	s;
	lk_orset	delta;
	lk_error	err;

	lk_pg_arg_state(fcinfo, 0, LK_ORSET, &s);
	lk_pg_check(lk_orset_remove_delta(&s.u.os, lk_pg_text_arg(fcinfo, 1),
									  &lk_pg_alloc, &delta, &err), &err);
	return apply_delta(&s, &delta);
}

PG_FUNCTION_INFO_V1(orset_contains);
Datum
orset_contains(PG_FUNCTION_ARGS)
{
	lk_state	s;

	lk_pg_arg_state(fcinfo, 0, LK_ORSET, &s);
	PG_RETURN_BOOL(lk_orset_find(&s.u.os, lk_pg_text_arg(fcinfo, 1)) >= 0);
}

PG_FUNCTION_INFO_V1(orset_cardinality);
Datum
orset_cardinality(PG_FUNCTION_ARGS)
{
	lk_state	s;

	lk_pg_arg_state(fcinfo, 0, LK_ORSET, &s);
	PG_RETURN_INT32((int32) s.u.os.nelems);
}

PG_FUNCTION_INFO_V1(orset_elements);
Datum
orset_elements(PG_FUNCTION_ARGS)
{
	lk_state	s;
	Datum	   *items;

	lk_pg_arg_state(fcinfo, 0, LK_ORSET, &s);
	items = palloc(sizeof(Datum) * (s.u.os.nelems + 1));
	for (uint32_t i = 0; i < s.u.os.nelems; i++)
		items[i] = PointerGetDatum(cstring_to_text_with_len(s.u.os.elems[i].s.p,
															(int) s.u.os.elems[i].s.len));
	PG_RETURN_ARRAYTYPE_P(construct_array(items, (int) s.u.os.nelems, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

/*
 * merge_agg(orset).  Merging each row into one growing state would cost
 * O(rows × state size).  Instead the aggregate keeps a stack of states like
 * a binary counter: a new row is pushed, and while the top state is at least
 * half the size of the one below, the two are merged.  Sizes then at least
 * double down the stack, so each byte takes part in O(log n) merges.
 *
 * Each level owns a copy of its encoding, and its decoded form borrows from
 * that copy (orset.h's ownership rule), so levels outlive the input rows.
 */
#define ORSET_AGG_LEVELS 64

typedef struct orset_level
{
	uint8_t    *bytes;
	size_t		len;
	lk_orset	s;
} orset_level;

typedef struct orset_agg
{
	lk_alloc	alloc;
	int			n;
	orset_level lv[ORSET_AGG_LEVELS];
} orset_agg;

static orset_agg *
orset_agg_new(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx = lk_pg_agg_context(fcinfo);
	orset_agg  *agg = MemoryContextAllocZero(aggctx, sizeof(orset_agg));

	lk_pg_context_alloc(&agg->alloc, aggctx);
	return agg;
}

/* A level holding a copy of bytes (a whole encoded orset). */
static orset_level
level_from_bytes(orset_agg *agg, const uint8_t *p, size_t len)
{
	orset_level lv;
	lk_error	err;

	lv.bytes = lk_malloc(&agg->alloc, len);
	memcpy(lv.bytes, p, len);
	lv.len = len;
	lk_pg_check(lk_orset_decode(lv.bytes, len, &agg->alloc, &lv.s, &err), &err);
	return lv;
}

static void
level_free(orset_agg *agg, orset_level *lv)
{
	lk_orset_free(&agg->alloc, &lv->s);
	lk_free(&agg->alloc, lv->bytes);
}

static orset_level
level_merge(orset_agg *agg, orset_level *a, orset_level *b)
{
	lk_orset	m;
	lk_buf		buf;
	lk_error	err;
	orset_level out;

	lk_pg_check(lk_orset_merge(&a->s, &b->s, &agg->alloc, &m, &err), &err);
	lk_buf_init(&buf, &agg->alloc, a->len + b->len);
	lk_pg_check(lk_orset_encode(&m, &buf, &err), &err);
	lk_orset_free(&agg->alloc, &m);
	level_free(agg, a);
	level_free(agg, b);
	out.bytes = buf.data;
	out.len = buf.len;
	lk_pg_check(lk_orset_decode(out.bytes, out.len, &agg->alloc, &out.s, &err), &err);
	return out;
}

static void
level_push(orset_agg *agg, orset_level lv)
{
	if (agg->n == ORSET_AGG_LEVELS)
		elog(ERROR, "orset aggregate stack overflow");
	agg->lv[agg->n++] = lv;
	while (agg->n >= 2 && agg->lv[agg->n - 1].len * 2 >= agg->lv[agg->n - 2].len)
	{
		agg->lv[agg->n - 2] = level_merge(agg, &agg->lv[agg->n - 2], &agg->lv[agg->n - 1]);
		agg->n--;
	}
}

/* Merge the whole stack into its bottom level. */
static orset_level *
collapse(orset_agg *agg)
{
	while (agg->n >= 2)
	{
		agg->lv[agg->n - 2] = level_merge(agg, &agg->lv[agg->n - 2], &agg->lv[agg->n - 1]);
		agg->n--;
	}
	return &agg->lv[0];
}

PG_FUNCTION_INFO_V1(orset_agg_trans);
Datum
orset_agg_trans(PG_FUNCTION_ARGS)
{
	orset_agg  *agg = PG_ARGISNULL(0) ? NULL : (orset_agg *) PG_GETARG_POINTER(0);
	size_t		len;
	const uint8_t *p;

	if (PG_ARGISNULL(1))
	{
		if (agg == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(agg);
	}
	if (agg == NULL)
		agg = orset_agg_new(fcinfo);
	p = lk_pg_bytes(LK_PG_ARG(1), &len);
	level_push(agg, level_from_bytes(agg, p, len));
	PG_RETURN_POINTER(agg);
}

PG_FUNCTION_INFO_V1(orset_agg_combine);
Datum
orset_agg_combine(PG_FUNCTION_ARGS)
{
	orset_agg  *a = PG_ARGISNULL(0) ? NULL : (orset_agg *) PG_GETARG_POINTER(0);
	orset_agg  *b = PG_ARGISNULL(1) ? NULL : (orset_agg *) PG_GETARG_POINTER(1);

	if (b == NULL || b->n == 0)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = orset_agg_new(fcinfo);
	/* both live in the aggregate context: b's levels can move over */
	for (int i = 0; i < b->n; i++)
		level_push(a, b->lv[i]);
	b->n = 0;
	PG_RETURN_POINTER(a);
}

static Datum
collapsed_datum(orset_agg *agg)
{
	orset_level *lv = collapse(agg);
	struct varlena *v = palloc(VARHDRSZ + lv->len);

	SET_VARSIZE(v, VARHDRSZ + lv->len);
	memcpy(VARDATA(v), lv->bytes, lv->len);
	PG_RETURN_POINTER(v);
}

PG_FUNCTION_INFO_V1(orset_agg_final);
Datum
orset_agg_final(PG_FUNCTION_ARGS)
{
	return collapsed_datum((orset_agg *) PG_GETARG_POINTER(0));
}

PG_FUNCTION_INFO_V1(orset_agg_serialize);
Datum
orset_agg_serialize(PG_FUNCTION_ARGS)
{
	return collapsed_datum((orset_agg *) PG_GETARG_POINTER(0));
}

PG_FUNCTION_INFO_V1(orset_agg_deserialize);
Datum
orset_agg_deserialize(PG_FUNCTION_ARGS)
{
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(0), &len);
	orset_agg  *agg = orset_agg_new(fcinfo);

	level_push(agg, level_from_bytes(agg, p, len));
	PG_RETURN_POINTER(agg);
}
