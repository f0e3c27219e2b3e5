/*
 * test_pncounter.c — the positive-negative counter: its examples, its error
 * paths and the laws of laws.h.
 */
#include <stdio.h>

#include "laws.h"
#include "lk_limits.h"
#include "pncounter.h"

#define MAX		((uint64_t) LK_COUNT_MAX)

/* ---- the ops table ---- */

static lk_gcounter
half_copy(const lk_gcounter *g)
{
	lk_gcounter c = *g;

	c.cap = g->n;
	c.e = lk_arena_dup(g->e, (size_t) g->n * sizeof(lk_gc_entry));
	return c;
}

static lk_pncounter
pn_copy(const lk_pncounter *s)
{
	lk_pncounter c;

	c.p = half_copy(&s->p);
	c.n = half_copy(&s->n);
	return c;
}

static int64_t
gen_by(lk_rng *r)
{
	return lk_rng_chance(r, 1, 8) ? (int64_t) gen_count(r) : 1 + (int64_t) lk_rng_below(r, 100);
}

static lk_code
pn_op(lk_rng *r, const gen_universe *u, const void *s, lk_str node, void *out, void *d,
	  lk_error *err)
{
	lk_pncounter c = pn_copy(s);
	lk_code		rc;

	(void) u;
	if (lk_rng_chance(r, 1, 2))
		rc = lk_pncounter_increment(&c, node, gen_by(r), T, err);
	else
		rc = lk_pncounter_decrement(&c, node, gen_by(r), T, err);
	if (rc != LK_OK)
		return rc;
	*(lk_pncounter *) out = c;
	lk_pncounter_delta(s, &c, T, d);
	return LK_OK;
}

static void
pn_ref_make(lk_rng *r, const gen_universe *u, ref_gc *p, ref_gc *n)
{
	ref_gc_make(r, u, p);
	ref_gc_make(r, u, n);
}

static void
pn_ref_binary(const ref_gc *p, const ref_gc *n, lk_buf *b)
{
	lk_buf_put_u8(b, 0x12);
	ref_gc_binary_body(p, b);
	ref_gc_binary_body(n, b);
}

static void
pn_gen(lk_rng *r, const gen_universe *u, void *out)
{
	lk_pncounter *s = out;
	lk_error	err;

	if (lk_rng_chance(r, 1, 2))
	{
		ref_gc		p,
					n;
		lk_buf		b = lk_tbuf();

		pn_ref_make(r, u, &p, &n);
		pn_ref_binary(&p, &n, &b);
		CHECK_OK(lk_pncounter_decode(b.data, b.len, T, s, &err), &err);
	}
	else
	{
		int			ops = (int) lk_rng_below(r, 10);

		lk_pncounter_init(s);
		for (int i = 0; i < ops; i++)
		{
			lk_str		node = u->nodes[lk_rng_below(r, (uint64_t) u->nn)];
			lk_code		rc = lk_rng_chance(r, 1, 2) ?
				lk_pncounter_increment(s, node, gen_by(r), T, &err) :
				lk_pncounter_decrement(s, node, gen_by(r), T, &err);

			CHECK(rc == LK_OK || rc == LK_ERR_RANGE);
		}
	}
}

static void
pn_ref_json_body(lk_rng *r, const ref_gc *g, const gen_universe *u, lk_buf *b, bool loose)
{
	if (loose)
		ref_gc_json_noncanonical(r, g, u, b);
	else
		ref_gc_json(g, b);
}

static void
pn_ref(lk_rng *r, const gen_universe *u, lk_buf *json, lk_buf *bin, lk_buf *loose, int nloose)
{
	ref_gc		p,
				n;

	pn_ref_make(r, u, &p, &n);
	pn_ref_binary(&p, &n, bin);
	lk_buf_put_u8(json, '{');
	if (n.n)
	{
		lk_buf_put_str(json, "\"n\":");
		ref_gc_json(&n, json);
	}
	if (p.n)
	{
		lk_buf_put_str(json, n.n ? ",\"p\":" : "\"p\":");
		ref_gc_json(&p, json);
	}
	lk_buf_put_u8(json, '}');
	for (int i = 0; i < nloose; i++)
	{
		lk_buf	   *b = &loose[i];
		bool		p_first = lk_rng_chance(r, 1, 2);
		bool		any = false;

		gen_ws(r, b);
		lk_buf_put_u8(b, '{');
		for (int half = 0; half < 2; half++)
		{
			bool		is_p = (half == 0) == p_first;
			const ref_gc *g = is_p ? &p : &n;

			/* an empty half may be written as {} or left out */
			if (g->n == 0 && lk_rng_chance(r, 1, 2))
				continue;
			if (any)
				lk_buf_put_u8(b, ',');
			gen_ws(r, b);
			gen_json_string(r, b, cstr(is_p ? "p" : "n"));
			gen_ws(r, b);
			lk_buf_put_u8(b, ':');
			pn_ref_json_body(r, g, u, b, true);
			any = true;
		}
		gen_ws(r, b);
		lk_buf_put_u8(b, '}');
		gen_ws(r, b);
	}
}

static const crdt_ops pncounter_ops = {LK_PNCOUNTER, pn_gen, pn_ref, pn_op};

/* ---- helpers ---- */

static lk_pncounter
parse_ok(const char *text)
{
	lk_pncounter s;
	lk_error	err;

	CHECK_OK(lk_pncounter_parse(text, strlen(text), T, &s, &err), &err);
	return s;
}

static void
check_json(const lk_pncounter *s, const char *want)
{
	lk_buf		b = st_json(s);

	CHECK_BYTES(b.data, b.len, want, strlen(want));
}

static void
parse_fails(const char *text, lk_code code, const char *msg, const char *detail)
{
	lk_pncounter s;
	lk_error	err;
	size_t		live = lk_arena_live();

	CHECK_RC(lk_pncounter_parse(text, strlen(text), T, &s, &err), code);
	CHECK_ERR(&err, code, msg, detail);
	CHECK(s.p.e == NULL && s.n.e == NULL);
	if (strchr(text, '\\') == NULL)
		CHECK(lk_arena_live() == live);
}

static void
decode_fails(const char *bytes, size_t n, lk_code code, const char *msg, const char *detail)
{
	lk_pncounter s;
	lk_error	err;
	uint8_t    *exact = lk_arena_dup(bytes, n);
	size_t		live = lk_arena_live();

	CHECK_RC(lk_pncounter_decode(exact, n, T, &s, &err), code);
	CHECK_ERR(&err, code, msg, detail);
	CHECK(lk_arena_live() == live);
}

#define DECODE_FAILS(lit, detail) \
	decode_fails(lit, sizeof(lit) - 1, LK_ERR_BINARY, "invalid binary pncounter value", detail)

/* ---- examples ---- */

static void
pncounter_text_is_canonical_json(void)
{
	lk_pncounter s = parse_ok(" { \"p\" : {\"a\":3} , \"n\":{\"b\":1}}");
	int64_t		v;
	lk_error	err;

	check_json(&s, "{\"n\":{\"b\":1},\"p\":{\"a\":3}}");
	CHECK_OK(lk_pncounter_value(&s, &v, &err), &err);
	CHECK(v == 2);
	s = parse_ok("{\"p\":{\"a\":3}}");
	check_json(&s, "{\"p\":{\"a\":3}}");
	s = parse_ok("{\"n\":{\"a\":3}}");
	check_json(&s, "{\"n\":{\"a\":3}}");
	CHECK_OK(lk_pncounter_value(&s, &v, &err), &err);
	CHECK(v == -3);
}

static void
pncounter_empty_halves_are_omitted(void)
{
	lk_pncounter s = parse_ok("{\"p\":{},\"n\":{\"x\":0}}");

	check_json(&s, "{}");
	s = parse_ok("{}");
	check_json(&s, "{}");
}

static void
pncounter_binary_format_is_pinned(void)
{
	lk_pncounter s = parse_ok("{\"n\":{\"b\":1},\"p\":{\"a\":3}}");
	lk_buf		b = st_bin(&s);

	/* format byte 0x12, P = {a:3}, then N = {b:1} */
	CHECK_BYTES(b.data, b.len, "\x12\x01\x01" "a" "\x03\x01\x01" "b" "\x01", 9);
	s = parse_ok("{}");
	b = st_bin(&s);
	CHECK_BYTES(b.data, b.len, "\x12\x00\x00", 3);
}

static void
pncounter_merge_joins_each_half(void)
{
	lk_pncounter a = parse_ok("{\"p\":{\"a\":3},\"n\":{\"a\":1}}");
	lk_pncounter b = parse_ok("{\"p\":{\"a\":2,\"b\":4},\"n\":{\"a\":5}}");
	lk_pncounter m,
				d;
	lk_error	err;
	int64_t		v;

	CHECK_OK(lk_pncounter_merge(&a, &b, T, &m, &err), &err);
	check_json(&m, "{\"n\":{\"a\":5},\"p\":{\"a\":3,\"b\":4}}");
	CHECK_OK(lk_pncounter_value(&m, &v, &err), &err);
	CHECK(v == 2);
	lk_pncounter_delta(&a, &b, T, &d);
	check_json(&d, "{\"n\":{\"a\":5},\"p\":{\"b\":4}}");
	CHECK(lk_pncounter_leq(&a, &m) && lk_pncounter_leq(&b, &m));
	CHECK(!lk_pncounter_leq(&a, &b) && !lk_pncounter_leq(&b, &a));
}

static void
pncounter_decrement_raises_n_not_p(void)
{
	lk_pncounter s = parse_ok("{}");
	lk_error	err;
	int64_t		v;

	CHECK_OK(lk_pncounter_increment(&s, cstr("a"), 5, T, &err), &err);
	CHECK_OK(lk_pncounter_decrement(&s, cstr("a"), 7, T, &err), &err);
	CHECK_OK(lk_pncounter_decrement(&s, cstr("b"), 1, T, &err), &err);
	check_json(&s, "{\"n\":{\"a\":7,\"b\":1},\"p\":{\"a\":5}}");
	CHECK_OK(lk_pncounter_value(&s, &v, &err), &err);
	CHECK(v == -3);
	lk_pncounter_free(T, &s);
}

static void
pncounter_operations_reject_nonpositive_amounts(void)
{
	lk_pncounter s = parse_ok("{}");
	lk_error	err;

	CHECK_RC(lk_pncounter_increment(&s, cstr("a"), 0, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "increment must be positive", "The amount was 0.");
	CHECK_RC(lk_pncounter_decrement(&s, cstr("a"), 0, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "decrement must be positive", "The amount was 0.");
	CHECK_RC(lk_pncounter_decrement(&s, cstr("a"), -3, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "decrement must be positive", "The amount was -3.");
	CHECK_RC(lk_pncounter_decrement(&s, cstr(""), 3, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id must not be empty", "");
	check_json(&s, "{}");
}

static void
pncounter_overflow_of_either_half_is_a_range_error(void)
{
	lk_pncounter s = parse_ok("{\"p\":{\"a\":9223372036854775807},\"n\":{\"a\":9223372036854775807}}");
	lk_error	err;

	CHECK_RC(lk_pncounter_increment(&s, cstr("a"), 1, T, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "counter out of range",
			  "The count of node \"a\" would exceed 9223372036854775807.");
	CHECK_RC(lk_pncounter_decrement(&s, cstr("a"), 1, T, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "counter out of range",
			  "The count of node \"a\" would exceed 9223372036854775807.");
	check_json(&s, "{\"n\":{\"a\":9223372036854775807},\"p\":{\"a\":9223372036854775807}}");
}

static void
pncounter_value_uses_a_wide_intermediate(void)
{
	/* P sums to 2^64 - 2, beyond int64, but the difference fits */
	lk_pncounter s = parse_ok("{\"p\":{\"a\":9223372036854775807,\"b\":9223372036854775807},"
							  "\"n\":{\"c\":9223372036854775807}}");
	int64_t		v = 0;
	lk_error	err;

	CHECK_OK(lk_pncounter_value(&s, &v, &err), &err);
	CHECK(v == INT64_MAX);
	s = parse_ok("{\"n\":{\"a\":9223372036854775807,\"b\":1}}");
	CHECK_OK(lk_pncounter_value(&s, &v, &err), &err);
	CHECK(v == INT64_MIN);
}

static void
pncounter_value_overflow_is_a_range_error_both_ways(void)
{
	lk_pncounter s = parse_ok("{\"p\":{\"a\":9223372036854775807,\"b\":1}}");
	int64_t		v;
	lk_error	err;

	CHECK_RC(lk_pncounter_value(&s, &v, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "pncounter value out of range",
			  "The value does not fit in a bigint.");
	s = parse_ok("{\"n\":{\"a\":9223372036854775807,\"b\":2}}");
	CHECK_RC(lk_pncounter_value(&s, &v, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "pncounter value out of range",
			  "The value does not fit in a bigint.");
}

/* ---- rejections ---- */

static void
pncounter_decode_rejects_foreign_and_truncated_values(void)
{
	static const char v[] = "\x12\x01\x01" "a" "\x03\x02\x01" "b" "\x01\x02" "cc" "\x80\x01";
	lk_pncounter s;
	lk_error	err;

	decode_fails("", 0, LK_ERR_BINARY, "invalid binary pncounter value", "The value is empty.");
	DECODE_FAILS("\x22\x00\x00", "Unsupported format version 2.");
	/* a gcounter's bytes are not a pncounter */
	DECODE_FAILS("\x11\x00\x00", "The value is of another type.");
	DECODE_FAILS("\x13\x00\x00", "The value is of another type.");
	CHECK_OK(lk_pncounter_decode((const uint8_t *) v, sizeof(v) - 1, T, &s, &err), &err);
	for (size_t n = 0; n < sizeof(v) - 1; n++)
	{
		uint8_t    *cut = lk_arena_dup(v, n);
		size_t		live = lk_arena_live();

		CHECK_RC(lk_pncounter_decode(cut, n, T, &s, &err), LK_ERR_BINARY);
		CHECK(lk_arena_live() == live);
	}
}

static void
pncounter_decode_checks_both_halves(void)
{
	/* errors name the pncounter, whichever half holds them */
	DECODE_FAILS("\x12\x00\x02\x01" "a" "\x01", "The entry count exceeds the data.");
	DECODE_FAILS("\x12\x00\x01\x01" "a" "\x00", "A count is truncated, zero, or out of range.");
	DECODE_FAILS("\x12\x01\x01" "a" "\x00\x00", "A count is truncated, zero, or out of range.");
	DECODE_FAILS("\x12\x00\x02\x01" "b" "\x01\x01" "a" "\x01",
				 "Node ids are not sorted and unique.");
	DECODE_FAILS("\x12\x00\x01\x01\x0a\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x12\x01\x01" "a" "\x01\x01\x01" "a" "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
				 "A count is truncated, zero, or out of range.");
	DECODE_FAILS("\x12\x00\x00\x00", "Trailing bytes follow the value.");
	DECODE_FAILS("\x12\x00\x80\x00", "The entry count is truncated or malformed.");
	decode_fails("\x12\x00\x81\x80\x04", 5, LK_ERR_LIMIT, "pncounter has too many nodes",
				 "A state holds at most 65536 node ids.");
}

static void
pncounter_parse_errors_name_the_position(void)
{
	parse_fails("[]", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"[\" at position 0: expected an object.");
	parse_fails("{\"x\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 1: the only keys of a pncounter are \"p\" and \"n\".");
	parse_fails("{\"p\":{},\"P\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 8: the only keys of a pncounter are \"p\" and \"n\".");
	parse_fails("{\"p\":{},\"p\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 8: duplicate key.");
	parse_fails("{\"n\":[]}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"[\" at position 5: expected an object.");
	parse_fails("{\"n\":{\"a\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected end of input at position 12: expected \",\" or \"}\".");
	parse_fails("{\"p\":{\"a\":-2}}", LK_ERR_RANGE, "value out of range",
				"The count at position 10 is negative.");
	parse_fails("{\"p\":{\"a\":1,\"a\":1}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Node id \"a\" appears more than once.");
	parse_fails("{\"n\":{\"\\t\":1}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 6: node id contains a control character.");
	parse_fails("{\"p\":{}} ,", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \",\" at position 9: expected end of input.");
	/* "\u0070" is "p": keys compare decoded */
	parse_fails("{\"p\":{},\"\\u0070\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 8: duplicate key.");
}

/* ---- properties beyond the laws ---- */

static void
pncounter_value_is_p_minus_n_or_a_range_error(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_pncounter s;
		__int128	v = 0;
		int64_t		got;
		lk_error	err;
		lk_code		rc;

		gen_universe_make(&r, &u);
		pn_gen(&r, &u, &s);
		for (uint32_t i = 0; i < s.p.n; i++)
			v += s.p.e[i].count;
		for (uint32_t i = 0; i < s.n.n; i++)
			v -= s.n.e[i].count;
		rc = lk_pncounter_value(&s, &got, &err);
		if (v >= INT64_MIN && v <= INT64_MAX)
			CHECK(rc == LK_OK && got == (int64_t) v);
		else
			CHECK(rc == LK_ERR_RANGE);
	}
}

static void
pncounter_absorb_equals_merge_fold(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_pncounter_acc acc;
		lk_pncounter fold,
					s,
					got;
		int			n = 1 + (int) lk_rng_below(&r, 5);
		lk_error	err;
		size_t		live,
					owned;

		gen_universe_make(&r, &u);
		lk_pncounter_acc_init(&acc);
		lk_pncounter_init(&fold);
		for (int i = 0; i < n; i++)
		{
			lk_buf		b;
			uint8_t    *copy;
			lk_pncounter m;

			if (i > 0 && lk_rng_chance(&r, 1, 2))
			{
				s = pn_copy(&fold);
				for (uint32_t k = 0; k < s.p.n; k++)
					if (lk_rng_chance(&r, 1, 2))
						s.p.e[k].count = 1 + lk_rng_below(&r, MAX);
			}
			else
				pn_gen(&r, &u, &s);
			b = st_bin(&s);
			CHECK_OK(lk_pncounter_merge(&fold, &s, T, &m, &err), &err);
			fold = m;
			if (lk_rng_chance(&r, 1, 2))
			{
				copy = lk_arena_dup(b.data, b.len);
				CHECK_OK(lk_pncounter_acc_absorb_value(&acc, copy, b.len, T, &err), &err);
				memset(copy, 0xa5, b.len);
				lk_free(T, copy);
			}
			else
			{
				/* absorbing a decoded state: it too is gone before acc is read */
				lk_pncounter in;

				copy = lk_arena_dup(b.data, b.len);
				CHECK_OK(lk_pncounter_decode(copy, b.len, T, &in, &err), &err);
				CHECK_OK(lk_pncounter_acc_absorb(&acc, &in, T, &err), &err);
				lk_pncounter_free(T, &in);
				memset(copy, 0xa5, b.len);
				lk_free(T, copy);
			}
		}
		CHECK_OK(lk_pncounter_acc_finish(&acc, T, &got, &err), &err);
		CHECK_SAME(&got, &fold);
		live = lk_arena_live();
		owned = acc.p.gc.n + acc.n.gc.n + (acc.p.gc.e != NULL) + (acc.n.gc.e != NULL) +
			(acc.p.pending != NULL) + (acc.n.pending != NULL);
		lk_pncounter_acc_free(T, &acc);
		CHECK(live - lk_arena_live() == owned);
	}
}

static const lk_test_case tests[] = {
	LK_TEST(pncounter_text_is_canonical_json),
	LK_TEST(pncounter_empty_halves_are_omitted),
	LK_TEST(pncounter_binary_format_is_pinned),
	LK_TEST(pncounter_merge_joins_each_half),
	LK_TEST(pncounter_decrement_raises_n_not_p),
	LK_TEST(pncounter_operations_reject_nonpositive_amounts),
	LK_TEST(pncounter_overflow_of_either_half_is_a_range_error),
	LK_TEST(pncounter_value_uses_a_wide_intermediate),
	LK_TEST(pncounter_value_overflow_is_a_range_error_both_ways),
	LK_TEST(pncounter_decode_rejects_foreign_and_truncated_values),
	LK_TEST(pncounter_decode_checks_both_halves),
	LK_TEST(pncounter_parse_errors_name_the_position),
	LK_TEST(pncounter_value_is_p_minus_n_or_a_range_error),
	LK_TEST(pncounter_absorb_equals_merge_fold),
	LAW_TESTS(pncounter),
};

int
main(void)
{
	L = &pncounter_ops;
	return lk_test_main("pncounter", tests, sizeof(tests) / sizeof(tests[0]));
}
