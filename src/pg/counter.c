/*
 * counter.c — the operations of gcounter and pncounter, and their merge_agg.
 *
 * The forms without a node argument count as laniakea.node_id and are
 * STABLE; the forms with one are IMMUTABLE.
 *
 * Totals: no accepted write may make a row unreadable, and value() keeps
 * its bigint contract.  So the operations, which are writes made on this
 * node, refuse to raise a total (a gcounter's sum, a pncounter's P or N)
 * beyond 2^63-1, which keeps value() exact for every state they build;
 * merge never refuses (a join must be total), so a state that meets another
 * node's counts can still pass it, and bigvalue() reads every state exactly.
 */
#include "lk_pg.h"

#include "utils/builtins.h"

static void
check_total(__int128 before, __int128 after, const char *type, const char *what,
			const char *column)
{
	if (after <= before || after <= LK_COUNT_MAX)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s total of column \"%s\" out of range", type, column),
			 errdetail("The %s would sum to %s, more than 9223372036854775807.", what,
					   lk_pg_int128_text(after)),
			 errhint("A write on this node may not raise a counter's total beyond bigint; replication may, and bigvalue() reads such a state.")));
}

void
lk_pg_check_totals(const lk_state *before, const lk_state *after, const char *column)
{
	if (after->kind == LK_GCOUNTER)
		check_total(before ? lk_gcounter_sum(&before->u.gc) : 0, lk_gcounter_sum(&after->u.gc),
					"gcounter", "counts", column);
	else if (after->kind == LK_PNCOUNTER)
	{
		check_total(before ? lk_gcounter_sum(&before->u.pn.p) : 0,
					lk_gcounter_sum(&after->u.pn.p), "pncounter", "increments", column);
		check_total(before ? lk_gcounter_sum(&before->u.pn.n) : 0,
					lk_gcounter_sum(&after->u.pn.n), "pncounter", "decrements", column);
	}
}

/* The core refuses an increment past the totals rule (gcounter.h), as it does in every host. */
static Datum
count(FunctionCallInfo fcinfo, lk_str node, int64 by, bool down)
{
	lk_state	s;
	lk_error	err;
	lk_code		rc;

	lk_pg_arg_state(fcinfo, 0, 0, &s);
	if (s.kind == LK_GCOUNTER)
		rc = lk_gcounter_increment(&s.u.gc, node, by, &lk_pg_alloc, &err);
	else if (down)
		rc = lk_pncounter_decrement(&s.u.pn, node, by, &lk_pg_alloc, &err);
	else
		rc = lk_pncounter_increment(&s.u.pn, node, by, &lk_pg_alloc, &err);
	lk_pg_check(rc, &err);
	PG_RETURN_POINTER(lk_pg_state_datum(&s));
}

PG_FUNCTION_INFO_V1(counter_increment);
Datum
counter_increment(PG_FUNCTION_ARGS)
{
	return count(fcinfo, lk_pg_node_id(), PG_GETARG_INT64(1), false);
}

PG_FUNCTION_INFO_V1(counter_increment_node);
Datum
counter_increment_node(PG_FUNCTION_ARGS)
{
	return count(fcinfo, lk_pg_text_arg(fcinfo, 1), PG_GETARG_INT64(2), false);
}

PG_FUNCTION_INFO_V1(counter_decrement);
Datum
counter_decrement(PG_FUNCTION_ARGS)
{
	return count(fcinfo, lk_pg_node_id(), PG_GETARG_INT64(1), true);
}

PG_FUNCTION_INFO_V1(counter_decrement_node);
Datum
counter_decrement_node(PG_FUNCTION_ARGS)
{
	return count(fcinfo, lk_pg_text_arg(fcinfo, 1), PG_GETARG_INT64(2), true);
}

PG_FUNCTION_INFO_V1(counter_value);
Datum
counter_value(PG_FUNCTION_ARGS)
{
	lk_state	s;
	lk_error	err;
	int64_t		v;

	lk_pg_arg_state(fcinfo, 0, 0, &s);
	if (s.kind == LK_GCOUNTER)
		lk_pg_check(lk_gcounter_value(&s.u.gc, &v, &err), &err);
	else
		lk_pg_check(lk_pncounter_value(&s.u.pn, &v, &err), &err);
	PG_RETURN_INT64(v);
}

/* The value as numeric: exact for every state, never an error. */
PG_FUNCTION_INFO_V1(counter_bigvalue);
Datum
counter_bigvalue(PG_FUNCTION_ARGS)
{
	lk_state	s;
	__int128	v;

	lk_pg_arg_state(fcinfo, 0, 0, &s);
	if (s.kind == LK_GCOUNTER)
		v = lk_gcounter_sum(&s.u.gc);
	else
		v = lk_gcounter_sum(&s.u.pn.p) - lk_gcounter_sum(&s.u.pn.n);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(lk_pg_int128_text(v)),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * merge_agg for the counters.  The transition state is an accumulator that
 * lives in the aggregate context and owns copies of its node ids; a row that
 * names the nodes it holds is merged in place with no allocation, rows with
 * other nodes cost O(entries · log nodes) in all (lk_gcounter_acc).
 * Serialized, it is simply the state's encoding.
 */
typedef struct counter_agg
{
	lk_alloc	alloc;
	lk_kind		kind;
	const uint8_t *last;		/* the previous row's value, for prefetch_ahead */
	union
	{
		lk_gcounter_acc gc;
		lk_pncounter_acc pn;
	}			u;
} counter_agg;

static counter_agg *
agg_new(FunctionCallInfo fcinfo, lk_kind kind)
{
	MemoryContext aggctx = lk_pg_agg_context(fcinfo);
	counter_agg *agg = MemoryContextAlloc(aggctx, sizeof(counter_agg));

	lk_pg_context_alloc(&agg->alloc, aggctx);
	agg->kind = kind;
	agg->last = NULL;
	if (kind == LK_GCOUNTER)
		lk_gcounter_acc_init(&agg->u.gc);
	else
		lk_pncounter_acc_init(&agg->u.pn);
	return agg;
}

static void
agg_absorb_bytes(counter_agg *agg, const uint8_t *p, size_t len)
{
	lk_error	err;
	lk_code		rc;

	if (agg->kind == LK_GCOUNTER)
		rc = lk_gcounter_acc_absorb_value(&agg->u.gc, p, len, &agg->alloc, &err);
	else
		rc = lk_pncounter_acc_absorb_value(&agg->u.pn, p, len, &agg->alloc, &err);
	lk_pg_check(rc, &err);
}

/*
 * The state the accumulator holds.  Merging its pending entries in changes
 * how it holds the state, not the state, so the transition may go on after
 * it (a final function must leave the state usable).
 */
static struct varlena *
agg_datum(counter_agg *agg)
{
	lk_state	s;
	lk_error	err;
	lk_code		rc;

	s.kind = agg->kind;
	if (agg->kind == LK_GCOUNTER)
	{
		rc = lk_gcounter_acc_finish(&agg->u.gc, &agg->alloc, &err);
		s.u.gc = agg->u.gc.gc;
	}
	else
		rc = lk_pncounter_acc_finish(&agg->u.pn, &agg->alloc, &s.u.pn, &err);
	lk_pg_check(rc, &err);
	return lk_pg_state_datum(&s);
}

/*
 * A sequential scan hands the transition values that lie at one stride in
 * the buffer page (tuples of one width, one after another).  On a wide table
 * each value's bytes are then a cache miss the hardware does not foresee,
 * and merge_agg(c) over (id, c gcounter, j jsonb, n bigint) waited longer
 * for them than sum(n) took in all (docs/benchmarks.md).  So the lines of
 * the value PREFETCH_ROWS rows ahead, at the stride of the last two, are
 * prefetched; of a long value only the first PREFETCH_LINES.  A wrong guess
 * (a page boundary, rows of other widths, detoasted copies) costs a wasted
 * prefetch: prefetching never faults.
 */
#define PREFETCH_ROWS 4
#define PREFETCH_LINES 4
#define LINE 64

static inline void
prefetch_ahead(counter_agg *agg, const uint8_t *p, size_t len)
{
	intptr_t	stride = (intptr_t) ((uintptr_t) p - (uintptr_t) agg->last);

	agg->last = p;
	if (stride > -BLCKSZ && stride < BLCKSZ)
	{
		uintptr_t	at = (uintptr_t) p + (uintptr_t) (PREFETCH_ROWS * stride);
		uintptr_t	line = at & ~(uintptr_t) (LINE - 1);

		for (int i = 0; i < PREFETCH_LINES && line < at + len; i++, line += LINE)
			__builtin_prefetch((const void *) line);
	}
}

static lk_kind
kind_of(const uint8_t *p, size_t len)
{
	return len > 0 ? (lk_kind) (p[0] & 15) : LK_GCOUNTER;
}

PG_FUNCTION_INFO_V1(counter_agg_trans);
Datum
counter_agg_trans(PG_FUNCTION_ARGS)
{
	counter_agg *agg = PG_ARGISNULL(0) ? NULL : (counter_agg *) PG_GETARG_POINTER(0);
	size_t		len;
	const uint8_t *p;

	if (PG_ARGISNULL(1))
	{
		if (agg == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(agg);
	}
	p = lk_pg_bytes(LK_PG_ARG(1), &len);
	if (agg == NULL)
		agg = agg_new(fcinfo, kind_of(p, len));
	prefetch_ahead(agg, p, len);
	agg_absorb_bytes(agg, p, len);
	PG_RETURN_POINTER(agg);
}

PG_FUNCTION_INFO_V1(counter_agg_combine);
Datum
counter_agg_combine(PG_FUNCTION_ARGS)
{
	counter_agg *a = PG_ARGISNULL(0) ? NULL : (counter_agg *) PG_GETARG_POINTER(0);
	counter_agg *b = PG_ARGISNULL(1) ? NULL : (counter_agg *) PG_GETARG_POINTER(1);
	lk_error	err;
	lk_code		rc;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		a = agg_new(fcinfo, b->kind);
	if (a->kind == LK_GCOUNTER)
		rc = lk_gcounter_acc_absorb_acc(&a->u.gc, &b->u.gc, &a->alloc, &err);
	else
		rc = lk_pncounter_acc_absorb_acc(&a->u.pn, &b->u.pn, &a->alloc, &err);
	lk_pg_check(rc, &err);
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(counter_agg_final);
Datum
counter_agg_final(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(agg_datum((counter_agg *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(counter_agg_serialize);
Datum
counter_agg_serialize(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(agg_datum((counter_agg *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(counter_agg_deserialize);
Datum
counter_agg_deserialize(PG_FUNCTION_ARGS)
{
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(0), &len);
	counter_agg *agg = agg_new(fcinfo, kind_of(p, len));

	agg_absorb_bytes(agg, p, len);
	PG_RETURN_POINTER(agg);
}
