/*
 * test_lwwreg.c — the last-writer-wins register: its order and operations,
 * the hybrid logical clock and the far-future check, the format, every
 * rejection of the decoder and the parser, the value limit, and the laws of
 * laws.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "laws.h"
#include "lk_limits.h"
#include "lwwreg.h"

#define MAX		LK_CLOCK_MAX
#define NOW		INT64_C(1700000000000000)	/* a wall clock in 2023, µs */
#define AHEAD	LK_LWWREG_MAX_AHEAD_US

/* ---- the ops table ---- */

/*
 * A set of a universe value as node, at a drawn clock or, half the time, at
 * the clock a hybrid logical clock with a drawn past and wall clock issues.
 * The delta a replica ships for a set is the write itself.
 */
static lk_code
lw_op(lk_rng *r, const gen_universe *u, const void *s, lk_str node, void *out, void *d,
	  lk_error *err)
{
	const lk_lwwreg *reg = s;
	lk_str		value = gen_value(r, u);
	int64_t		clock = (int64_t) gen_clock(r);
	lk_code		rc;

	if (lk_rng_chance(r, 1, 2))
	{
		lk_hlc		h = {(int64_t) gen_clock(r)};

		if ((rc = lk_hlc_next(&h, reg, (int64_t) gen_clock(r), &clock, err)) != LK_OK)
			return rc;
	}
	if ((rc = lk_lwwreg_set(reg, value, node, clock, out, err)) != LK_OK)
		return rc;
	*(lk_lwwreg *) d = *(lk_lwwreg *) out;
	return LK_OK;
}

static void
lw_from_ref(lk_rng *r, const gen_universe *u, lk_lwwreg *out)
{
	ref_lwwreg	w;
	lk_buf		b = lk_tbuf();
	lk_error	err;

	ref_lwwreg_make(r, u, &w);
	ref_lwwreg_binary(&w, &b);
	CHECK_OK(lk_lwwreg_decode(b.data, b.len, T, out, &err), &err);
}

static void
lw_gen(lk_rng *r, const gen_universe *u, void *out)
{
	lk_lwwreg  *w = out;
	lk_error	err;

	switch (lk_rng_below(r, 3))
	{
		case 0:
			lw_from_ref(r, u, w);
			break;
		case 1:
			{
				/* a few sets by the universe's nodes */
				int			n = (int) lk_rng_below(r, 4);

				lk_lwwreg_init(w);
				for (int i = 0; i < n; i++)
				{
					lk_lwwreg next;
					lk_code		rc = lk_lwwreg_set(w, gen_value(r, u),
												   u->nodes[lk_rng_below(r, (uint64_t) u->nn)],
												   (int64_t) gen_clock(r), &next, &err);

					CHECK(rc == LK_OK || rc == LK_ERR_RANGE);
					if (rc == LK_OK)
						*w = next;
				}
				break;
			}
		default:
			{
				lk_lwwreg	a,
							b;

				lw_from_ref(r, u, &a);
				lw_from_ref(r, u, &b);
				lk_lwwreg_merge(&a, &b, w);
				break;
			}
	}
}

static void
lw_ref(lk_rng *r, const gen_universe *u, lk_buf *json, lk_buf *bin, lk_buf *loose, int nloose)
{
	ref_lwwreg	w;

	ref_lwwreg_make(r, u, &w);
	ref_lwwreg_json(&w, json);
	ref_lwwreg_binary(&w, bin);
	for (int i = 0; i < nloose; i++)
		ref_lwwreg_json_noncanonical(r, &w, &loose[i]);
}

static const crdt_ops lwwreg_ops = {LK_LWWREG, lw_gen, lw_ref, lw_op};

/* ---- helpers ---- */

static lk_lwwreg
parse_ok(const char *text)
{
	lk_lwwreg	w;
	lk_error	err;

	CHECK_OK(lk_lwwreg_parse(text, strlen(text), T, &w, &err), &err);
	return w;
}

static lk_lwwreg
write_of(int64_t clock, const char *node, const char *value)
{
	lk_lwwreg	w = {true, clock, cstr(node), cstr(value)};

	return w;
}

static void
check_json(const lk_lwwreg *w, const char *want)
{
	lk_buf		b = st_json(w);

	CHECK_BYTES(b.data, b.len, want, strlen(want));
}

static void
parse_fails(const char *text, lk_code code, const char *msg, const char *detail)
{
	lk_lwwreg	w;
	lk_error	err;
	size_t		live = lk_arena_live();

	CHECK_RC(lk_lwwreg_parse(text, strlen(text), T, &w, &err), code);
	CHECK_ERR(&err, code, msg, detail);
	CHECK(!w.present);
	if (strchr(text, '\\') == NULL)
		CHECK(lk_arena_live() == live);
}

#define PARSE_SYNTAX(text, detail) \
	parse_fails(text, LK_ERR_SYNTAX, "invalid input syntax", detail)

static void
decode_fails(const char *bytes, size_t n, lk_code code, const char *msg, const char *detail)
{
	lk_lwwreg	w;
	lk_error	err;
	uint8_t    *exact = lk_arena_dup(bytes, n);
	size_t		live = lk_arena_live();

	CHECK_RC(lk_lwwreg_decode(exact, n, T, &w, &err), code);
	CHECK_ERR(&err, code, msg, detail);
	CHECK(!w.present);
	CHECK(lk_arena_live() == live);
}

#define DECODE_FAILS(lit, detail) \
	decode_fails(lit, sizeof(lit) - 1, LK_ERR_BINARY, "invalid binary lwwreg value", detail)

/* A value of n bytes: 'v's, then a 4-byte character if it fits. */
static lk_str
value_of_length(size_t n)
{
	char	   *s = lk_malloc(T, n);

	memset(s, 'v', n);
	if (n >= 4)
		memcpy(s + n - 4, "\xf0\x9f\x9a\x80", 4);
	return lk_str_make(s, n);
}

/* ---- examples ---- */

static void
lwwreg_text_is_canonical_json(void)
{
	lk_lwwreg	w = parse_ok(" { \"v\" : \"x\" , \"n\":\"a\",\n\"c\" : 5 } ");

	check_json(&w, "{\"c\":5,\"n\":\"a\",\"v\":\"x\"}");
	CHECK(w.present && w.clock == 5);
	w = parse_ok(" { } ");
	check_json(&w, "{}");
	CHECK(!w.present);
}

static void
lwwreg_escapes_and_minus_zero_parse_to_canonical_text(void)
{
	lk_lwwreg	w = parse_ok("{\"\\u0063\":-0,\"n\":\"\\u0061\",\"v\":\"\"}");

	check_json(&w, "{\"c\":0,\"n\":\"a\",\"v\":\"\"}");
	w = write_of(7, "q\"", "line\nq\"\\ \x01 \xc3\xa9 \xe2\x80\xa8");
	check_json(&w, "{\"c\":7,\"n\":\"q\\\"\",\"v\":\"line\\nq\\\"\\\\ \\u0001 \xc3\xa9 \xe2\x80\xa8\"}");
	w = parse_ok("{\"c\":7,\"n\":\"q\\\"\",\"v\":\"line\\nq\\\"\\\\ \\u0001 \\u00e9 \\u2028\"}");
	check_json(&w, "{\"c\":7,\"n\":\"q\\\"\",\"v\":\"line\\nq\\\"\\\\ \\u0001 \xc3\xa9 \xe2\x80\xa8\"}");
}

static void
lwwreg_binary_format_is_pinned(void)
{
	lk_lwwreg	w = parse_ok("{\"c\":300,\"n\":\"a\",\"v\":\"xy\"}");
	lk_buf		b = st_bin(&w);

	/* format byte 0x14, tag 1, clock 300, node "a", value "xy" */
	CHECK_BYTES(b.data, b.len, "\x14\x01\xac\x02\x01" "a" "\x02" "xy", 9);
	w = parse_ok("{}");
	b = st_bin(&w);
	CHECK_BYTES(b.data, b.len, "\x14\x00", 2);
	w = write_of(0, "n", "");
	b = st_bin(&w);
	CHECK_BYTES(b.data, b.len, "\x14\x01\x00\x01" "n" "\x00", 6);
}

static void
lwwreg_merge_keeps_the_greater_clock(void)
{
	lk_lwwreg	a = write_of(5, "b", "old"),
				b = write_of(6, "a", "new"),
				m;

	lk_lwwreg_merge(&a, &b, &m);
	check_json(&m, "{\"c\":6,\"n\":\"a\",\"v\":\"new\"}");
	lk_lwwreg_merge(&b, &a, &m);
	check_json(&m, "{\"c\":6,\"n\":\"a\",\"v\":\"new\"}");
	CHECK(lk_lwwreg_leq(&a, &b) && !lk_lwwreg_leq(&b, &a));
	CHECK(lk_lwwreg_cmp(&a, &b) == -1 && lk_lwwreg_cmp(&b, &a) == 1 && lk_lwwreg_cmp(&a, &a) == 0);
}

static void
lwwreg_clock_ties_are_broken_by_node_then_value_bytes(void)
{
	static const struct
	{
		lk_lwwreg	lo,
					hi;
	}			cases[] = {
		/* the node decides before the value */
		{{true, 5, {"a", 1}, {"z", 1}}, {true, 5, {"b", 1}, {"a", 1}}},
		/* shorter first on a common prefix, for nodes and values */
		{{true, 5, {"a", 1}, {"x", 1}}, {true, 5, {"a", 1}, {"xy", 2}}},
		{{true, 5, {"a", 1}, {"", 0}}, {true, 5, {"a", 1}, {"x", 1}}},
		{{true, 5, {"n", 1}, {"z", 1}}, {true, 5, {"nn", 2}, {"a", 1}}},
		/* bytes, not a collation: é (0xc3 0xa9) is after z */
		{{true, 5, {"a", 1}, {"z", 1}}, {true, 5, {"a", 1}, {"\xc3\xa9", 2}}},
		{{true, 5, {"a", 1}, {"Z", 1}}, {true, 5, {"a", 1}, {"a", 1}}},
		/* the clock decides before both */
		{{true, 5, {"z", 1}, {"z", 1}}, {true, 6, {"a", 1}, {"", 0}}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		lk_lwwreg	m;

		lk_lwwreg_merge(&cases[i].lo, &cases[i].hi, &m);
		CHECK_SAME(&m, &cases[i].hi);
		lk_lwwreg_merge(&cases[i].hi, &cases[i].lo, &m);
		CHECK_SAME(&m, &cases[i].hi);
		CHECK_MSG(lk_lwwreg_cmp(&cases[i].lo, &cases[i].hi) < 0, "case %zu is not ordered", i);
	}
}

static void
lwwreg_empty_register_is_the_identity(void)
{
	lk_lwwreg	e,
				w = write_of(0, "a", ""),
				m;

	lk_lwwreg_init(&e);
	lk_lwwreg_merge(&e, &w, &m);
	CHECK_SAME(&m, &w);
	lk_lwwreg_merge(&w, &e, &m);
	CHECK_SAME(&m, &w);
	lk_lwwreg_merge(&e, &e, &m);
	CHECK(!m.present);
	CHECK(lk_lwwreg_leq(&e, &w) && !lk_lwwreg_leq(&w, &e) && lk_lwwreg_leq(&e, &e));
}

static void
lwwreg_delta_is_empty_or_the_newer_write(void)
{
	lk_lwwreg	e,
				a = write_of(5, "a", "x"),
				b = write_of(5, "b", "x"),
				d;

	lk_lwwreg_init(&e);
	lk_lwwreg_delta(&a, &b, &d);
	CHECK_SAME(&d, &b);
	lk_lwwreg_delta(&b, &a, &d);
	CHECK(!d.present);
	lk_lwwreg_delta(&a, &a, &d);
	CHECK(!d.present);
	lk_lwwreg_delta(&e, &a, &d);
	CHECK_SAME(&d, &a);
	lk_lwwreg_delta(&a, &e, &d);
	CHECK(!d.present);
	check_json(&d, "{}");
}

static void
lwwreg_set_beats_the_state_it_was_applied_to(void)
{
	lk_lwwreg	r = write_of(100, "z", "r"),
				e,
				out;
	lk_error	err;

	/* an earlier clock is raised past the register's */
	CHECK_OK(lk_lwwreg_set(&r, cstr("x"), cstr("a"), 50, &out, &err), &err);
	check_json(&out, "{\"c\":101,\"n\":\"a\",\"v\":\"x\"}");
	CHECK_OK(lk_lwwreg_set(&r, cstr("x"), cstr("a"), 100, &out, &err), &err);
	check_json(&out, "{\"c\":101,\"n\":\"a\",\"v\":\"x\"}");
	/* a later one is kept */
	CHECK_OK(lk_lwwreg_set(&r, cstr("x"), cstr("a"), 200, &out, &err), &err);
	check_json(&out, "{\"c\":200,\"n\":\"a\",\"v\":\"x\"}");
	CHECK(lk_lwwreg_cmp(&r, &out) < 0);
	/* on the empty register any clock stands, 0 included */
	lk_lwwreg_init(&e);
	CHECK_OK(lk_lwwreg_set(&e, cstr(""), cstr("a"), 0, &out, &err), &err);
	check_json(&out, "{\"c\":0,\"n\":\"a\",\"v\":\"\"}");
	CHECK_OK(lk_lwwreg_set(&e, cstr("top"), cstr("a"), MAX, &out, &err), &err);
	check_json(&out, "{\"c\":9223372036854775807,\"n\":\"a\",\"v\":\"top\"}");
	/* the same value written again is still a newer write */
	CHECK_OK(lk_lwwreg_set(&r, cstr("r"), cstr("z"), 1, &out, &err), &err);
	check_json(&out, "{\"c\":101,\"n\":\"z\",\"v\":\"r\"}");
}

static void
lwwreg_set_rejects_bad_nodes_values_and_clocks(void)
{
	lk_lwwreg	r = write_of(1, "a", "x"),
				out = write_of(42, "untouched", "untouched"),
				before = out;
	lk_error	err;

	CHECK_RC(lk_lwwreg_set(&r, cstr("x"), cstr(""), 5, &out, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id must not be empty", "");
	CHECK_RC(lk_lwwreg_set(&r, cstr("x"), cstr("a\nb"), 5, &out, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id contains a control character",
			  "Byte 1 of the node id is a control character.");
	CHECK_RC(lk_lwwreg_set(&r, lk_str_make("a\0b", 3), cstr("a"), 5, &out, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "lwwreg value contains a NUL character", "");
	CHECK_RC(lk_lwwreg_set(&r, cstr("\xff"), cstr("a"), 5, &out, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "lwwreg value is not valid UTF-8", "");
	CHECK_RC(lk_lwwreg_set(&r, cstr("x"), cstr("a"), -1, &out, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock out of range",
			  "The clock was -1; a clock counts microseconds since 1970 and is not negative.");
	CHECK_RC(lk_lwwreg_set(&r, cstr("x"), cstr("a"), INT64_MIN, &out, &err), LK_ERR_RANGE);
	CHECK(memcmp(&out, &before, sizeof(out)) == 0);
}

static void
lwwreg_set_at_the_greatest_clock_is_a_range_error(void)
{
	lk_lwwreg	r = write_of(MAX, "a", "x"),
				out;
	lk_error	err;

	CHECK_RC(lk_lwwreg_set(&r, cstr("y"), cstr("b"), 5, &out, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock out of range",
			  "The register's clock is already 9223372036854775807, the greatest.");
	CHECK_RC(lk_lwwreg_set(&r, cstr("y"), cstr("b"), MAX, &out, &err), LK_ERR_RANGE);
	r.clock = MAX - 1;
	CHECK_OK(lk_lwwreg_set(&r, cstr("y"), cstr("b"), 5, &out, &err), &err);
	CHECK(out.clock == MAX);
}

static void
lwwreg_value_limit_is_inclusive_everywhere(void)
{
	lk_str		longest = value_of_length(LK_VALUE_MAX),
				over = value_of_length(LK_VALUE_MAX + 1);
	lk_lwwreg	e,
				w,
				back;
	lk_buf		b,
				j;
	lk_error	err;

	lk_lwwreg_init(&e);
	CHECK_OK(lk_lwwreg_set(&e, longest, cstr("n"), 1, &w, &err), &err);
	b = st_bin(&w);
	CHECK(b.len == 1 + 1 + 1 + 2 + 3 + LK_VALUE_MAX);
	j = st_json(&w);
	CHECK_OK(lk_lwwreg_parse((const char *) j.data, j.len, T, &back, &err), &err);
	CHECK_SAME(&back, &w);

	CHECK_RC(lk_lwwreg_set(&e, over, cstr("n"), 1, &w, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "lwwreg value is too long",
			  "A value has at most 1048576 bytes; this one has 1048577.");
	/* the same value in text and in binary */
	j = lk_tbuf();
	lk_buf_put_str(&j, "{\"c\":1,\"n\":\"n\",\"v\":\"");
	lk_buf_put(&j, over.p, over.len);
	lk_buf_put_str(&j, "\"}");
	CHECK_RC(lk_lwwreg_parse((const char *) j.data, j.len, T, &back, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "lwwreg value is too long",
			  "A value has at most 1048576 bytes; this one has 1048577.");
	b = lk_tbuf();
	lk_buf_put(&b, "\x14\x01\x01\x01n\x81\x80\x40", 8);
	lk_buf_put(&b, over.p, over.len);
	CHECK_RC(lk_lwwreg_decode(b.data, b.len, T, &back, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary lwwreg value",
			  "The register's value is truncated or too long.");
}

static void
lwwreg_values_follow_the_text_rules_not_the_node_id_rules(void)
{
	lk_lwwreg	w = parse_ok("{\"c\":1,\"n\":\"a\",\"v\":\"tab\\there \\u0001 \\u0085 \\u007f\"}");
	lk_buf		b = st_bin(&w);
	lk_lwwreg	back;
	lk_error	err;

	/* control characters are text; only NUL is not */
	CHECK(w.value.len == 15);
	CHECK_OK(lk_lwwreg_decode(b.data, b.len, T, &back, &err), &err);
	CHECK_SAME(&back, &w);
}

/* ---- the far-future check ---- */

static void
lwwreg_check_clock_refuses_only_beyond_the_bound(void)
{
	lk_lwwreg	e,
				w = write_of(NOW + AHEAD, "a", "x");
	lk_error	err;

	lk_lwwreg_init(&e);
	CHECK_OK(lk_lwwreg_check_clock(&e, NOW, AHEAD, &err), &err);
	CHECK_OK(lk_lwwreg_check_clock(&w, NOW, AHEAD, &err), &err);
	w.clock = 0;
	CHECK_OK(lk_lwwreg_check_clock(&w, NOW, AHEAD, &err), &err);
	w.clock = NOW + AHEAD + 1;
	CHECK_RC(lk_lwwreg_check_clock(&w, NOW, AHEAD, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock is too far in the future",
			  "The clock 1700000300000001 is more than 300 seconds ahead of the wall clock.");
	w.clock = MAX;
	CHECK_RC(lk_lwwreg_check_clock(&w, NOW, AHEAD, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock is too far in the future",
			  "The clock 9223372036854775807 is more than 300 seconds ahead of the wall clock.");
	/* a bound of zero allows the wall clock itself */
	w.clock = NOW;
	CHECK_OK(lk_lwwreg_check_clock(&w, NOW, 0, &err), &err);
	w.clock = NOW + 1;
	CHECK_RC(lk_lwwreg_check_clock(&w, NOW, 0, &err), LK_ERR_RANGE);
	/* near the top of the clock the bound saturates instead of overflowing */
	w.clock = MAX;
	CHECK_OK(lk_lwwreg_check_clock(&w, MAX - 10, AHEAD, &err), &err);
	CHECK_OK(lk_lwwreg_check_clock(&w, MAX, AHEAD, &err), &err);
}

/* ---- the hybrid logical clock ---- */

static int64_t
next_ok(lk_hlc *h, const lk_lwwreg *r, int64_t wall)
{
	int64_t		c = -1;
	lk_error	err;

	CHECK_OK(lk_hlc_next(h, r, wall, &c, &err), &err);
	return c;
}

static void
lwwreg_hlc_never_goes_backwards_when_the_wall_clock_does(void)
{
	lk_hlc		h = {0};
	lk_lwwreg	e,
				r = write_of(7000, "z", "r");

	lk_lwwreg_init(&e);
	CHECK(next_ok(&h, &e, 1000) == 1000);
	CHECK(next_ok(&h, &e, 500) == 1001);	/* the wall clock stepped back */
	CHECK(next_ok(&h, &e, 1001) == 1002);	/* and is still behind */
	CHECK(next_ok(&h, &e, 5000) == 5000);
	CHECK(next_ok(&h, &r, 5000) == 7001);	/* past the register's clock */
	CHECK(h.last == 7001);
	CHECK(next_ok(&h, &e, 5000) == 7002);	/* and it stays past it */
	CHECK(next_ok(&h, &e, 0) == 7003);
}

static void
lwwreg_hlc_does_not_carry_a_far_future_clock_to_later_sets(void)
{
	lk_hlc		h = {0};
	lk_lwwreg	e,
				far = write_of(NOW + AHEAD + 1000, "z", "far"),
				near = write_of(NOW + AHEAD - 1, "z", "near");

	lk_lwwreg_init(&e);
	/* the register from the future wins this set ... */
	CHECK(next_ok(&h, &far, NOW) == NOW + AHEAD + 1001);
	/* ... but the writer's own clock stays with its wall clock */
	CHECK(h.last == NOW);
	CHECK(next_ok(&h, &e, NOW) == NOW + 1);
	/* a clock within the bound is absorbed as any HLC does */
	CHECK(next_ok(&h, &near, NOW) == NOW + AHEAD);
	CHECK(h.last == NOW + AHEAD);
	CHECK(next_ok(&h, &e, NOW) == NOW + AHEAD + 1);
}

static void
lwwreg_hlc_range_errors_leave_it_untouched(void)
{
	lk_hlc		h = {1234};
	lk_lwwreg	e,
				top = write_of(MAX, "z", "top");
	int64_t		c = 77;
	lk_error	err;

	lk_lwwreg_init(&e);
	CHECK_RC(lk_hlc_next(&h, &e, -1, &c, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock out of range", "The wall clock reads -1, before 1970.");
	CHECK_RC(lk_hlc_next(&h, &top, NOW, &c, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock out of range",
			  "The register's clock is already 9223372036854775807, the greatest.");
	CHECK(h.last == 1234 && c == 77);
	h.last = MAX;
	CHECK_RC(lk_hlc_next(&h, &e, NOW, &c, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "lwwreg clock out of range",
			  "This writer's clock is already 9223372036854775807, the greatest.");
	CHECK(h.last == MAX && c == 77);
	/* the wall clock itself may be the greatest clock */
	h.last = 0;
	CHECK(next_ok(&h, &e, MAX) == MAX);
}

/* ---- rejections ---- */

static void
lwwreg_decode_rejects_empty_and_foreign_values(void)
{
	decode_fails("", 0, LK_ERR_BINARY, "invalid binary lwwreg value", "The value is empty.");
	DECODE_FAILS("\x24\x00", "Unsupported format version 2.");
	DECODE_FAILS("\x04\x00", "Unsupported format version 0.");
	DECODE_FAILS("\x11\x00", "The value is of another type.");
	DECODE_FAILS("\x13\x00\x00", "The value is of another type.");
	DECODE_FAILS("\x14", "The register's tag is missing.");
}

static void
lwwreg_decode_rejects_every_truncation(void)
{
	static const char v[] = "\x14\x01\xac\x02\x02" "ab" "\x02" "xy";
	lk_lwwreg	w;
	lk_error	err;

	CHECK_OK(lk_lwwreg_decode((const uint8_t *) v, sizeof(v) - 1, T, &w, &err), &err);
	for (size_t n = 0; n < sizeof(v) - 1; n++)
	{
		uint8_t    *cut = lk_arena_dup(v, n);
		size_t		live = lk_arena_live();

		CHECK_RC(lk_lwwreg_decode(cut, n, T, &w, &err), LK_ERR_BINARY);
		CHECK(lk_arena_live() == live);
	}
}

static void
lwwreg_decode_rejects_bad_tags(void)
{
	DECODE_FAILS("\x14\x02", "The register's tag is neither 0 (empty) nor 1 (a write).");
	DECODE_FAILS("\x14\xff\x00\x01" "a" "\x00",
				 "The register's tag is neither 0 (empty) nor 1 (a write).");
}

static void
lwwreg_decode_rejects_bad_clocks(void)
{
	DECODE_FAILS("\x14\x01", "The clock is truncated, malformed or out of range.");
	DECODE_FAILS("\x14\x01\x80", "The clock is truncated, malformed or out of range.");
	/* overlong: 5 written in two bytes */
	DECODE_FAILS("\x14\x01\x85\x00\x01" "a" "\x00",
				 "The clock is truncated, malformed or out of range.");
	/* 2^63 and 2^64 − 1 */
	DECODE_FAILS("\x14\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x01" "a" "\x00",
				 "The clock is truncated, malformed or out of range.");
	DECODE_FAILS("\x14\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x01" "a" "\x00",
				 "The clock is truncated, malformed or out of range.");
}

static void
lwwreg_decode_rejects_bad_node_ids(void)
{
	DECODE_FAILS("\x14\x01\x05\x00\x00", "A node id is empty or truncated.");
	DECODE_FAILS("\x14\x01\x05\x02" "a", "A node id is empty or truncated.");
	DECODE_FAILS("\x14\x01\x05\x01\x0a\x00",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x14\x01\x05\x02\xc2\x85\x00",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x14\x01\x05\x02\xc0\x80\x00",
				 "A node id is not valid UTF-8 or has a control character.");
}

static void
lwwreg_decode_rejects_bad_values(void)
{
	DECODE_FAILS("\x14\x01\x05\x01" "a", "The register's value is truncated or too long.");
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x03" "xy", "The register's value is truncated or too long.");
	/* an overlong length varint */
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x80\x00", "The register's value is truncated or too long.");
	/* 1048577 bytes declared: refused before the data is looked at */
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x81\x80\x40",
				 "The register's value is truncated or too long.");
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x03" "x\x00y",
				 "The register's value is not valid UTF-8 or holds a NUL.");
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x01\xff",
				 "The register's value is not valid UTF-8 or holds a NUL.");
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x03\xed\xa0\x80",
				 "The register's value is not valid UTF-8 or holds a NUL.");
}

static void
lwwreg_decode_rejects_trailing_bytes(void)
{
	DECODE_FAILS("\x14\x00\x00", "Trailing bytes follow the value.");
	DECODE_FAILS("\x14\x00\x01\x05\x01" "a" "\x00", "Trailing bytes follow the value.");
	DECODE_FAILS("\x14\x01\x05\x01" "a" "\x01" "xy", "Trailing bytes follow the value.");
}

static void
lwwreg_decode_accepts_the_extremes(void)
{
	char		bin[1 + 1 + 9 + 1 + LK_NODE_ID_MAX + 1 + 2];
	size_t		n = 0;
	lk_lwwreg	w;
	lk_buf		again;
	lk_error	err;

	/* the greatest clock, the longest node id, a C1 control in the value */
	memcpy(bin, "\x14\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f\xff", 12);
	n = 12;
	memset(bin + n, 'x', LK_NODE_ID_MAX - 3);
	n += LK_NODE_ID_MAX - 3;
	memcpy(bin + n, "\xe6\x97\xa5\x02\xc2\x80", 6);
	n += 6;
	CHECK(n == sizeof(bin));
	CHECK_OK(lk_lwwreg_decode((const uint8_t *) lk_arena_dup(bin, n), n, T, &w, &err), &err);
	CHECK(w.present && w.clock == MAX && w.node.len == LK_NODE_ID_MAX && w.value.len == 2);
	again = st_bin(&w);
	CHECK_BYTES(again.data, again.len, bin, n);
}

static void
lwwreg_parse_errors_name_the_position(void)
{
	PARSE_SYNTAX("[]", "Unexpected character \"[\" at position 0: expected an object.");
	PARSE_SYNTAX("", "Unexpected end of input at position 0: expected an object.");
	PARSE_SYNTAX("{\"x\":1}",
				 "Invalid key at position 1: the only keys of an lwwreg are \"c\", \"n\" and \"v\".");
	PARSE_SYNTAX("{\"cc\":1}",
				 "Invalid key at position 1: the only keys of an lwwreg are \"c\", \"n\" and \"v\".");
	PARSE_SYNTAX("{\"c\":1,\"c\":2}", "Invalid key at position 7: duplicate key.");
	/* "\u0063" is "c": keys compare decoded */
	PARSE_SYNTAX("{\"c\":1,\"\\u0063\":2}", "Invalid key at position 7: duplicate key.");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"a\"}",
				 "Invalid register at position 0: \"v\" is missing; a register has all of "
				 "\"c\", \"n\" and \"v\", or none.");
	PARSE_SYNTAX("  {\"v\":\"x\"}",
				 "Invalid register at position 2: \"c\" is missing; a register has all of "
				 "\"c\", \"n\" and \"v\", or none.");
	PARSE_SYNTAX("{\"c\":1,\"v\":\"x\"}",
				 "Invalid register at position 0: \"n\" is missing; a register has all of "
				 "\"c\", \"n\" and \"v\", or none.");
	PARSE_SYNTAX("{\"c\":1.5,\"n\":\"a\",\"v\":\"x\"}",
				 "Unexpected character \".\" at position 6: expected an integer without fraction or exponent.");
	PARSE_SYNTAX("{\"c\":\"1\",\"n\":\"a\",\"v\":\"x\"}",
				 "Unexpected character \"\"\" at position 5: expected clock as an integer.");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"\",\"v\":\"x\"}",
				 "Invalid node id at position 11: node id must not be empty.");
	PARSE_SYNTAX("{\"c\":1,\"n\": \"a\\u0001\",\"v\":\"x\"}",
				 "Invalid node id at position 12: node id contains a control character.");
	PARSE_SYNTAX("{\"c\":1,\"n\":5,\"v\":\"x\"}",
				 "Unexpected character \"5\" at position 11: expected a string.");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"a\",\"v\":null}",
				 "Unexpected character \"n\" at position 19: expected a string.");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"a\",\"v\":\"x\\u0000y\"}",
				 "Invalid value at position 19: lwwreg value contains a NUL character.");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"a\",\"v\":\"\\ud800\"}",
				 "Unexpected character \"\"\" at position 26: high surrogate not followed by a low surrogate.");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"a\",\"v\":\"x\"",
				 "Unexpected end of input at position 22: expected \",\" or \"}\".");
	PARSE_SYNTAX("{\"c\":1,\"n\":\"a\",\"v\":\"x\"} x",
				 "Unexpected character \"x\" at position 24: expected end of input.");
	PARSE_SYNTAX("{} {}", "Unexpected character \"{\" at position 3: expected end of input.");
}

static void
lwwreg_parse_rejects_negative_and_oversized_clocks(void)
{
	parse_fails("{\"c\":-1,\"n\":\"a\",\"v\":\"x\"}", LK_ERR_RANGE, "value out of range",
				"The clock at position 5 is negative.");
	parse_fails("{\"c\":9223372036854775808,\"n\":\"a\",\"v\":\"x\"}", LK_ERR_RANGE,
				"value out of range", "The clock at position 5 exceeds 9223372036854775807.");
	parse_ok("{\"c\":9223372036854775807,\"n\":\"a\",\"v\":\"x\"}");
}

/* ---- properties beyond the laws ---- */

static void
lwwreg_order_is_total_and_merge_is_its_maximum(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_lwwreg	a,
					b,
					c,
					m;
		int			ab,
					bc;

		gen_universe_make(&r, &u);
		lw_gen(&r, &u, &a);
		lw_gen(&r, &u, &b);
		lw_gen(&r, &u, &c);
		ab = lk_lwwreg_cmp(&a, &b);
		bc = lk_lwwreg_cmp(&b, &c);
		CHECK(ab == -lk_lwwreg_cmp(&b, &a));
		/* equal in the order exactly when the encodings are equal */
		CHECK((ab == 0) == st_same(&a, &b));
		if (ab <= 0 && bc <= 0)
			CHECK(lk_lwwreg_cmp(&a, &c) <= 0);
		lk_lwwreg_merge(&a, &b, &m);
		CHECK_SAME(&m, ab >= 0 ? &a : &b);
	}
}

static void
lwwreg_merge_of_all_writes_is_the_greatest_write(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_lwwreg	rep[3],
					greatest,
					all;
		lk_hlc		h[3] = {{0}, {0}, {0}};
		int			nrep,
					steps = 1 + (int) lk_rng_below(&r, 12);
		lk_error	err;

		gen_universe_make(&r, &u);
		nrep = u.nn < 3 ? u.nn : 3;
		lk_lwwreg_init(&greatest);
		for (int i = 0; i < nrep; i++)
			lk_lwwreg_init(&rep[i]);
		for (int s = 0; s < steps; s++)
		{
			int			i = (int) lk_rng_below(&r, (uint64_t) nrep);

			if (lk_rng_chance(&r, 2, 3))
			{
				/* a set on replica i, whose wall clock is skewed and jumps */
				int64_t		wall = NOW + (int64_t) lk_rng_below(&r, 2000) - 1000,
							clock;
				lk_lwwreg	w;

				CHECK_OK(lk_hlc_next(&h[i], &rep[i], wall, &clock, &err), &err);
				CHECK_OK(lk_lwwreg_set(&rep[i], gen_value(&r, &u), u.nodes[i], clock, &w, &err),
						 &err);
				CHECK(lk_lwwreg_cmp(&w, &rep[i]) > 0);
				rep[i] = w;
				if (lk_lwwreg_cmp(&w, &greatest) > 0)
					greatest = w;
			}
			else
			{
				int			j = (int) lk_rng_below(&r, (uint64_t) nrep);

				lk_lwwreg_merge(&rep[i], &rep[j], &rep[i]);
			}
		}
		lk_lwwreg_init(&all);
		for (int i = 0; i < nrep; i++)
			lk_lwwreg_merge(&all, &rep[i], &all);
		CHECK_SAME(&all, &greatest);
	}
}

static void
lwwreg_hlc_follows_its_rules_under_a_wandering_wall_clock(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_hlc		h = {0};
		int64_t		wall = NOW;
		int			steps = 1 + (int) lk_rng_below(&r, 20);
		lk_error	err;

		gen_universe_make(&r, &u);
		for (int s = 0; s < steps; s++)
		{
			lk_lwwreg	reg;
			int64_t		before = h.last,
						own,
						c;

			/* the wall clock mostly ticks, sometimes steps back or leaps */
			switch (lk_rng_below(&r, 6))
			{
				case 0:
					wall -= (int64_t) lk_rng_below(&r, 1000000);
					break;
				case 1:
					wall += (int64_t) lk_rng_below(&r, 2 * AHEAD);
					break;
				default:
					wall += (int64_t) lk_rng_below(&r, 3);
			}
			if (lk_rng_chance(&r, 1, 2))
				lk_lwwreg_init(&reg);
			else
				reg = write_of(wall - AHEAD + (int64_t) lk_rng_below(&r, 3 * AHEAD), "z", "r");
			CHECK_OK(lk_hlc_next(&h, &reg, wall, &c, &err), &err);
			own = wall > before ? wall : before + 1;
			CHECK(c > before && c >= wall);
			CHECK(!reg.present || c > reg.clock);
			CHECK(c == (reg.present && reg.clock >= own ? reg.clock + 1 : own));
			CHECK(h.last == (c - wall <= AHEAD ? c : own));
		}
	}
}

static const lk_test_case tests[] = {
	LK_TEST(lwwreg_text_is_canonical_json),
	LK_TEST(lwwreg_escapes_and_minus_zero_parse_to_canonical_text),
	LK_TEST(lwwreg_binary_format_is_pinned),
	LK_TEST(lwwreg_merge_keeps_the_greater_clock),
	LK_TEST(lwwreg_clock_ties_are_broken_by_node_then_value_bytes),
	LK_TEST(lwwreg_empty_register_is_the_identity),
	LK_TEST(lwwreg_delta_is_empty_or_the_newer_write),
	LK_TEST(lwwreg_set_beats_the_state_it_was_applied_to),
	LK_TEST(lwwreg_set_rejects_bad_nodes_values_and_clocks),
	LK_TEST(lwwreg_set_at_the_greatest_clock_is_a_range_error),
	LK_TEST(lwwreg_value_limit_is_inclusive_everywhere),
	LK_TEST(lwwreg_values_follow_the_text_rules_not_the_node_id_rules),
	LK_TEST(lwwreg_check_clock_refuses_only_beyond_the_bound),
	LK_TEST(lwwreg_hlc_never_goes_backwards_when_the_wall_clock_does),
	LK_TEST(lwwreg_hlc_does_not_carry_a_far_future_clock_to_later_sets),
	LK_TEST(lwwreg_hlc_range_errors_leave_it_untouched),
	LK_TEST(lwwreg_decode_rejects_empty_and_foreign_values),
	LK_TEST(lwwreg_decode_rejects_every_truncation),
	LK_TEST(lwwreg_decode_rejects_bad_tags),
	LK_TEST(lwwreg_decode_rejects_bad_clocks),
	LK_TEST(lwwreg_decode_rejects_bad_node_ids),
	LK_TEST(lwwreg_decode_rejects_bad_values),
	LK_TEST(lwwreg_decode_rejects_trailing_bytes),
	LK_TEST(lwwreg_decode_accepts_the_extremes),
	LK_TEST(lwwreg_parse_errors_name_the_position),
	LK_TEST(lwwreg_parse_rejects_negative_and_oversized_clocks),
	LK_TEST(lwwreg_order_is_total_and_merge_is_its_maximum),
	LK_TEST(lwwreg_merge_of_all_writes_is_the_greatest_write),
	LK_TEST(lwwreg_hlc_follows_its_rules_under_a_wandering_wall_clock),
	LAW_TESTS(lwwreg),
};

int
main(void)
{
	L = &lwwreg_ops;
	return lk_test_main("lwwreg", tests, sizeof(tests) / sizeof(tests[0]));
}
