/*
 * lwwreg_sql.c — the SQL functions of lwwreg: its operations and readers, and
 * its merge (the type itself is src/crdt/lwwreg.c).
 *
 * A set without a clock takes one from this backend's hybrid logical clock
 * (lk_hlc): never behind the wall clock, never behind a clock the backend
 * issued before, always past the register's.  A set with an explicit clock
 * trusts the caller for the clock's origin, so the core's far-future check
 * refuses one more than LK_LWWREG_MAX_AHEAD_US ahead of this server's clock.
 */
#include "lk_pg.h"

#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* This backend's clock, as a writer; zero until the first set. */
static lk_hlc backend_hlc;

/* The wall clock in µs since the Unix epoch (a TimestampTz counts from 2000). */
static int64
wall_us(void)
{
	return GetCurrentTimestamp() +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

static Datum
register_datum(const lk_lwwreg *w)
{
	lk_state	out;

	out.kind = LK_LWWREG;
	out.u.lw = *w;
	PG_RETURN_POINTER(lk_pg_state_datum(&out));
}

/* set(r, value[, node]): the clock from the backend's HLC. */
static Datum
set_now(FunctionCallInfo fcinfo, lk_str node)
{
	lk_state	s;
	lk_lwwreg	w;
	lk_hlc		h = backend_hlc;
	int64_t		clock;
	lk_error	err;

	lk_pg_arg_state(fcinfo, 0, LK_LWWREG, &s);
	lk_pg_check(lk_hlc_next(&h, &s.u.lw, wall_us(), &clock, &err), &err);
	lk_pg_check(lk_lwwreg_set(&s.u.lw, lk_pg_text_arg(fcinfo, 1), node, clock, &w, &err), &err);
	/* a set that failed issued no clock */
	backend_hlc = h;
	return register_datum(&w);
}

PG_FUNCTION_INFO_V1(lwwreg_set);
Datum
lwwreg_set(PG_FUNCTION_ARGS)
{
	return set_now(fcinfo, lk_pg_node_id());
}

PG_FUNCTION_INFO_V1(lwwreg_set_node);
Datum
lwwreg_set_node(PG_FUNCTION_ARGS)
{
	return set_now(fcinfo, lk_pg_text_arg(fcinfo, 2));
}

/*
 * set(r, value, node, clock).  The clock is checked only when it is the
 * write's: when r's own clock is ahead, the write takes r's clock + 1, which
 * came from the register, not from the caller.
 */
PG_FUNCTION_INFO_V1(lwwreg_set_clock);
Datum
lwwreg_set_clock(PG_FUNCTION_ARGS)
{
	lk_state	s;
	lk_lwwreg	w;
	int64		clock = PG_GETARG_INT64(3);
	lk_error	err;

	lk_pg_arg_state(fcinfo, 0, LK_LWWREG, &s);
	lk_pg_check(lk_lwwreg_set(&s.u.lw, lk_pg_text_arg(fcinfo, 1), lk_pg_text_arg(fcinfo, 2), clock,
							  &w, &err), &err);
	if (w.clock == clock)
		lk_pg_check(lk_lwwreg_check_clock(&w, wall_us(), LK_LWWREG_MAX_AHEAD_US, &err), &err);
	return register_datum(&w);
}

PG_FUNCTION_INFO_V1(lwwreg_get);
Datum
lwwreg_get(PG_FUNCTION_ARGS)
{
	lk_state	s;

	lk_pg_arg_state(fcinfo, 0, LK_LWWREG, &s);
	if (!s.u.lw.present)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(s.u.lw.value.p, (int) s.u.lw.value.len));
}

PG_FUNCTION_INFO_V1(lwwreg_clock);
Datum
lwwreg_clock(PG_FUNCTION_ARGS)
{
	lk_state	s;

	lk_pg_arg_state(fcinfo, 0, LK_LWWREG, &s);
	if (!s.u.lw.present)
		PG_RETURN_NULL();
	PG_RETURN_INT64(s.u.lw.clock);
}

PG_FUNCTION_INFO_V1(lwwreg_node);
Datum
lwwreg_node(PG_FUNCTION_ARGS)
{
	lk_state	s;

	lk_pg_arg_state(fcinfo, 0, LK_LWWREG, &s);
	if (!s.u.lw.present)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(s.u.lw.node.p, (int) s.u.lw.node.len));
}

/*
 * merge(a, b), also merge_agg's transition and combine function: the join
 * is one of the two states, so it is returned as it came (as core's
 * text_larger does), with no encoding and no allocation.  The aggregate
 * copies a returned input into its own context.
 */
PG_FUNCTION_INFO_V1(lwwreg_merge);
Datum
lwwreg_merge(PG_FUNCTION_ARGS)
{
	struct varlena *va = LK_PG_ARG(0);
	struct varlena *vb = LK_PG_ARG(1);
	size_t		alen,
				blen;
	const uint8_t *pa = lk_pg_bytes(va, &alen);
	const uint8_t *pb = lk_pg_bytes(vb, &blen);
	lk_lwwreg	a,
				b;
	lk_error	err;

	lk_pg_check(lk_lwwreg_decode(pa, alen, &lk_pg_alloc, &a, &err), &err);
	lk_pg_check(lk_lwwreg_decode(pb, blen, &lk_pg_alloc, &b, &err), &err);
	PG_RETURN_POINTER(lk_lwwreg_cmp(&a, &b) >= 0 ? va : vb);
}
