/*
 * orset.c — the operations and readers of orset.
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
