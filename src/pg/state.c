/*
 * state.c — what all four types share: text and binary I/O, merge, delta,
 * the lattice order, equality and hashing.
 *
 * One C function serves the four SQL types wherever the kind can be read
 * from the value's format byte; only input and receive, which start from
 * bytes of no known type, have one entry point per type.
 */
#include "lk_pg.h"

#include "common/hashfn.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

static Datum
state_in(FunctionCallInfo fcinfo, lk_kind kind)
{
	char	   *str = PG_GETARG_CSTRING(0);
	lk_state	s;
	lk_error	err;

	if (lk_state_parse(kind, str, strlen(str), &lk_pg_alloc, &s, &err) != LK_OK)
		lk_pg_raise(&err, lk_kind_name(kind), str);
	PG_RETURN_POINTER(lk_pg_state_datum(&s));
}

/*
 * A received value is decoded with full validation and encoded again, so
 * what is stored is canonical even if a sender's bytes were not.
 */
static Datum
state_recv(FunctionCallInfo fcinfo, lk_kind kind)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	lk_state	s;
	lk_error	err;

	lk_pg_check(lk_state_decode((const uint8_t *) buf->data + buf->cursor,
								buf->len - buf->cursor, kind, &lk_pg_alloc, &s, &err), &err);
	buf->cursor = buf->len;
	PG_RETURN_POINTER(lk_pg_state_datum(&s));
}

PG_FUNCTION_INFO_V1(gcounter_in);
Datum
gcounter_in(PG_FUNCTION_ARGS)
{
	return state_in(fcinfo, LK_GCOUNTER);
}

PG_FUNCTION_INFO_V1(pncounter_in);
Datum
pncounter_in(PG_FUNCTION_ARGS)
{
	return state_in(fcinfo, LK_PNCOUNTER);
}

PG_FUNCTION_INFO_V1(orset_in);
Datum
orset_in(PG_FUNCTION_ARGS)
{
	return state_in(fcinfo, LK_ORSET);
}

PG_FUNCTION_INFO_V1(lwwreg_in);
Datum
lwwreg_in(PG_FUNCTION_ARGS)
{
	return state_in(fcinfo, LK_LWWREG);
}

PG_FUNCTION_INFO_V1(gcounter_recv);
Datum
gcounter_recv(PG_FUNCTION_ARGS)
{
	return state_recv(fcinfo, LK_GCOUNTER);
}

PG_FUNCTION_INFO_V1(pncounter_recv);
Datum
pncounter_recv(PG_FUNCTION_ARGS)
{
	return state_recv(fcinfo, LK_PNCOUNTER);
}

PG_FUNCTION_INFO_V1(orset_recv);
Datum
orset_recv(PG_FUNCTION_ARGS)
{
	return state_recv(fcinfo, LK_ORSET);
}

PG_FUNCTION_INFO_V1(lwwreg_recv);
Datum
lwwreg_recv(PG_FUNCTION_ARGS)
{
	return state_recv(fcinfo, LK_LWWREG);
}

PG_FUNCTION_INFO_V1(crdt_out);
Datum
crdt_out(PG_FUNCTION_ARGS)
{
	lk_state	s;
	lk_buf		b;

	lk_pg_arg_state(fcinfo, 0, 0, &s);
	lk_buf_init(&b, &lk_pg_alloc, 64);
	lk_state_to_json(&s, &b);
	lk_buf_put_u8(&b, '\0');
	PG_RETURN_CSTRING((char *) b.data);
}

PG_FUNCTION_INFO_V1(crdt_send);
Datum
crdt_send(PG_FUNCTION_ARGS)
{
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(0), &len);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (const char *) p, len);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Two orsets are merged on their encodings (lk_orset_merge_encoded): a
 * large merge then touches the inputs and the result only, where decoding
 * both and encoding the merge first-touched four times as much fresh memory,
 * a page fault per 4 kB (docs/benchmarks.md).  The result is allocated for
 * the inputs' total, which it exceeds only when node indexes grow; pages it
 * leaves unused are never touched.
 */
static Datum
orset_merge_encoded(FunctionCallInfo fcinfo, const uint8_t *a, size_t alen)
{
	size_t		blen;
	const uint8_t *b = lk_pg_bytes(LK_PG_ARG(1), &blen);
	lk_buf		out;
	lk_error	err;

	lk_pg_buf_init(&out, alen + blen);
	lk_pg_check(lk_orset_merge_encoded(a, alen, b, blen, &lk_pg_alloc, &out, &err), &err);
	PG_RETURN_POINTER(lk_pg_buf_finish(&out));
}

PG_FUNCTION_INFO_V1(crdt_merge);
Datum
crdt_merge(PG_FUNCTION_ARGS)
{
	lk_state	a,
				b,
				m;
	lk_error	err;
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(0), &len);

	if (len > 0 && (p[0] & 15) == LK_ORSET)
		return orset_merge_encoded(fcinfo, p, len);
	lk_pg_check(lk_state_decode(p, len, 0, &lk_pg_alloc, &a, &err), &err);
	lk_pg_arg_state(fcinfo, 1, a.kind, &b);
	lk_pg_check(lk_state_merge(&a, &b, &lk_pg_alloc, &m, &err), &err);
	PG_RETURN_POINTER(lk_pg_state_datum(&m));
}

PG_FUNCTION_INFO_V1(crdt_delta);
Datum
crdt_delta(PG_FUNCTION_ARGS)
{
	lk_state	old,
				newer,
				d;
	lk_error	err;

	lk_pg_arg_state(fcinfo, 0, 0, &old);
	lk_pg_arg_state(fcinfo, 1, old.kind, &newer);
	lk_pg_check(lk_state_delta(&old, &newer, &lk_pg_alloc, &d, &err), &err);
	PG_RETURN_POINTER(lk_pg_state_datum(&d));
}

/*
 * The lattice order, SQL's <= (gcounter_le …): b already contains a.  Not to
 * be confused with crdt_bytes_le below, the btree's order on encodings.
 */
PG_FUNCTION_INFO_V1(crdt_lattice_le);
Datum
crdt_lattice_le(PG_FUNCTION_ARGS)
{
	lk_state	a,
				b;
	lk_error	err;
	bool		leq;

	lk_pg_arg_state(fcinfo, 0, 0, &a);
	lk_pg_arg_state(fcinfo, 1, a.kind, &b);
	lk_pg_check(lk_state_leq(&a, &b, &lk_pg_alloc, &leq, &err), &err);
	PG_RETURN_BOOL(leq);
}

/* Canonical encodings make equality and hashing bytewise. */
static bool
bytes_equal(FunctionCallInfo fcinfo)
{
	size_t		alen,
				blen;
	const uint8_t *a = lk_pg_bytes(LK_PG_ARG(0), &alen);
	const uint8_t *b = lk_pg_bytes(LK_PG_ARG(1), &blen);

	return alen == blen && memcmp(a, b, alen) == 0;
}

PG_FUNCTION_INFO_V1(crdt_eq);
Datum
crdt_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bytes_equal(fcinfo));
}

PG_FUNCTION_INFO_V1(crdt_ne);
Datum
crdt_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!bytes_equal(fcinfo));
}

PG_FUNCTION_INFO_V1(crdt_hash);
Datum
crdt_hash(PG_FUNCTION_ARGS)
{
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(0), &len);

	return hash_any(p, (int) len);
}

PG_FUNCTION_INFO_V1(crdt_hash_extended);
Datum
crdt_hash_extended(PG_FUNCTION_ARGS)
{
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(0), &len);

	return hash_any_extended(p, (int) len, PG_GETARG_INT64(1));
}

/*
 * A total order on the encodings, for the btree operator class: it lets
 * states be sorted (ORDER BY, DISTINCT aggregates, merge joins).  It is not
 * the lattice order, which is partial and is the <= operator.
 */
static int
bytes_cmp(FunctionCallInfo fcinfo)
{
	size_t		alen,
				blen;
	const uint8_t *a = lk_pg_bytes(LK_PG_ARG(0), &alen);
	const uint8_t *b = lk_pg_bytes(LK_PG_ARG(1), &blen);
	int			c = memcmp(a, b, Min(alen, blen));

	if (c)
		return c < 0 ? -1 : 1;
	return (alen > blen) - (alen < blen);
}

PG_FUNCTION_INFO_V1(crdt_bytes_cmp);
Datum
crdt_bytes_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(bytes_cmp(fcinfo));
}

PG_FUNCTION_INFO_V1(crdt_bytes_lt);
Datum
crdt_bytes_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bytes_cmp(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(crdt_bytes_le);
Datum
crdt_bytes_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bytes_cmp(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(crdt_bytes_ge);
Datum
crdt_bytes_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bytes_cmp(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(crdt_bytes_gt);
Datum
crdt_bytes_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bytes_cmp(fcinfo) > 0);
}
