/*
 * test_gcounter.c — the grow-only counter: its examples, its error paths and
 * the laws of laws.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gcounter.h"
#include "laws.h"
#include "lk_limits.h"

#define MAX		((uint64_t) LK_COUNT_MAX)

/* ---- the ops table ---- */

static lk_gcounter
gc_copy(const lk_gcounter *g)
{
	lk_gcounter c = *g;

	c.cap = g->n;
	c.e = lk_arena_dup(g->e, (size_t) g->n * sizeof(lk_gc_entry));
	return c;
}

/* An amount to add: mostly small, sometimes one that may overflow. */
static int64_t
gen_by(lk_rng *r)
{
	return lk_rng_chance(r, 1, 8) ? (int64_t) gen_count(r) : 1 + (int64_t) lk_rng_below(r, 100);
}

static lk_code
gc_op(lk_rng *r, const gen_universe *u, const void *s, lk_str node, void *out, void *d,
	  lk_error *err)
{
	lk_gcounter c = gc_copy(s);
	lk_code		rc;

	(void) u;
	if ((rc = lk_gcounter_increment(&c, node, gen_by(r), T, err)) != LK_OK)
		return rc;
	*(lk_gcounter *) out = c;
	lk_gcounter_delta(s, &c, T, d);
	return LK_OK;
}

static void
gc_from_ref(lk_rng *r, const gen_universe *u, lk_gcounter *out)
{
	ref_gc		g;
	lk_buf		b = lk_tbuf();
	lk_error	err;

	ref_gc_make(r, u, &g);
	lk_buf_put_u8(&b, 0x11);
	ref_gc_binary_body(&g, &b);
	CHECK_OK(lk_gcounter_decode(b.data, b.len, T, out, &err), &err);
}

static void
gc_gen(lk_rng *r, const gen_universe *u, void *out)
{
	lk_gcounter *g = out;
	lk_error	err;

	switch (lk_rng_below(r, 3))
	{
		case 0:
			gc_from_ref(r, u, g);
			break;
		case 1:
			{
				int			n = (int) lk_rng_below(r, 8);

				lk_gcounter_init(g);
				for (int i = 0; i < n; i++)
				{
					lk_code		rc = lk_gcounter_increment(g, u->nodes[lk_rng_below(r, (uint64_t) u->nn)],
														   gen_by(r), T, &err);

					CHECK(rc == LK_OK || rc == LK_ERR_RANGE);
				}
				break;
			}
		default:
			{
				lk_gcounter a,
							b;

				gc_from_ref(r, u, &a);
				gc_from_ref(r, u, &b);
				CHECK_OK(lk_gcounter_merge(&a, &b, T, g, &err), &err);
				break;
			}
	}
}

static void
gc_ref(lk_rng *r, const gen_universe *u, lk_buf *json, lk_buf *bin, lk_buf *loose, int nloose)
{
	ref_gc		g;

	ref_gc_make(r, u, &g);
	ref_gc_json(&g, json);
	lk_buf_put_u8(bin, 0x11);
	ref_gc_binary_body(&g, bin);
	for (int i = 0; i < nloose; i++)
		ref_gc_json_noncanonical(r, &g, u, &loose[i]);
}

static const crdt_ops gcounter_ops = {LK_GCOUNTER, gc_gen, gc_ref, gc_op};

/* ---- helpers ---- */

static lk_gcounter
parse_ok(const char *text)
{
	lk_gcounter g;
	lk_error	err;

	CHECK_OK(lk_gcounter_parse(text, strlen(text), T, &g, &err), &err);
	return g;
}

static void
check_json(const lk_gcounter *g, const char *want)
{
	lk_buf		b = st_json(g);

	CHECK_BYTES(b.data, b.len, want, strlen(want));
}

/* Parse must fail with this code, message and detail, and free what it took. */
static void
parse_fails(const char *text, lk_code code, const char *msg, const char *detail)
{
	lk_gcounter g;
	lk_error	err;
	size_t		live = lk_arena_live();

	CHECK_RC(lk_gcounter_parse(text, strlen(text), T, &g, &err), code);
	CHECK_ERR(&err, code, msg, detail);
	CHECK(g.n == 0 && g.e == NULL);
	if (strchr(text, '\\') == NULL)
		CHECK(lk_arena_live() == live);
}

static void
decode_fails(const char *bytes, size_t n, lk_code code, const char *detail)
{
	lk_gcounter g;
	lk_error	err;
	uint8_t    *exact = lk_arena_dup(bytes, n);
	size_t		live = lk_arena_live();

	CHECK_RC(lk_gcounter_decode(exact, n, T, &g, &err), code);
	if (code == LK_ERR_BINARY)
		CHECK_ERR(&err, code, "invalid binary gcounter value", detail);
	else
		CHECK_STR(err.detail, detail);
	CHECK(lk_arena_live() == live);
}

#define DECODE_FAILS(lit, detail) decode_fails(lit, sizeof(lit) - 1, LK_ERR_BINARY, detail)

/* ---- examples ---- */

static void
gcounter_text_is_canonical_json(void)
{
	lk_gcounter g = parse_ok(" {\n\t\"b\" : 5 ,\"a\":3 } \r\n");
	int64_t		v;
	lk_error	err;

	check_json(&g, "{\"a\":3,\"b\":5}");
	CHECK_OK(lk_gcounter_value(&g, &v, &err), &err);
	CHECK(v == 8);
	check_json(&(lk_gcounter) {0, 0, NULL}, "{}");
	g = parse_ok("{}");
	CHECK(g.n == 0);
}

static void
gcounter_zero_entries_are_normalized_away(void)
{
	lk_gcounter g = parse_ok("{\"a\":0,\"b\":2,\"c\":-0}");

	check_json(&g, "{\"b\":2}");
	g = parse_ok("{\"a\":0}");
	check_json(&g, "{}");
}

static void
gcounter_keys_sort_by_utf8_bytes(void)
{
	lk_gcounter g = parse_ok("{\"\xc3\xa9\":1,\"z\":2,\"Z\":3,\"aa\":4,\"a\":5,\"\\u00e9t\":6}");

	check_json(&g, "{\"Z\":3,\"a\":5,\"aa\":4,\"z\":2,\"\xc3\xa9\":1,\"\xc3\xa9t\":6}");
}

static void
gcounter_node_ids_are_escaped_in_text(void)
{
	lk_gcounter g = parse_ok("{\"q\\\"\\\\\\/\":1}");

	check_json(&g, "{\"q\\\"\\\\/\":1}");
}

static void
gcounter_binary_format_is_pinned(void)
{
	lk_gcounter g = parse_ok("{\"a\":3,\"b\":5}");
	lk_buf		b = st_bin(&g);

	/* format byte 0x11, 2 entries, (len 1, "a", 3), (len 1, "b", 5) */
	CHECK_BYTES(b.data, b.len, "\x11\x02\x01" "a" "\x03\x01" "b" "\x05", 8);
	g = parse_ok("{}");
	b = st_bin(&g);
	CHECK_BYTES(b.data, b.len, "\x11\x00", 2);
	g = parse_ok("{\"n\":9223372036854775807}");
	b = st_bin(&g);
	CHECK_BYTES(b.data, b.len, "\x11\x01\x01n\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 13);
	g = parse_ok("{\"n\":128}");
	b = st_bin(&g);
	CHECK_BYTES(b.data, b.len, "\x11\x01\x01n\x80\x01", 6);
}

static void
gcounter_merge_takes_the_pointwise_maximum(void)
{
	lk_gcounter a = parse_ok("{\"a\":3,\"b\":5}");
	lk_gcounter b = parse_ok("{\"b\":7,\"c\":1,\"a\":2}");
	lk_gcounter m;
	lk_error	err;

	CHECK_OK(lk_gcounter_merge(&a, &b, T, &m, &err), &err);
	check_json(&m, "{\"a\":3,\"b\":7,\"c\":1}");
}

static void
gcounter_delta_holds_only_raised_entries(void)
{
	lk_gcounter old = parse_ok("{\"a\":3,\"b\":5,\"c\":1}");
	lk_gcounter nw = parse_ok("{\"a\":3,\"b\":9,\"d\":2}");
	lk_gcounter d;

	lk_gcounter_delta(&old, &nw, T, &d);
	check_json(&d, "{\"b\":9,\"d\":2}");
	lk_gcounter_delta(&nw, &old, T, &d);
	check_json(&d, "{\"c\":1}");
	lk_gcounter_delta(&old, &old, T, &d);
	check_json(&d, "{}");
}

static void
gcounter_leq_is_the_pointwise_order(void)
{
	lk_gcounter a = parse_ok("{\"a\":3}");
	lk_gcounter b = parse_ok("{\"a\":3,\"b\":1}");
	lk_gcounter c = parse_ok("{\"a\":2,\"b\":9}");
	lk_gcounter e = parse_ok("{}");

	CHECK(lk_gcounter_leq(&a, &b));
	CHECK(!lk_gcounter_leq(&b, &a));
	CHECK(!lk_gcounter_leq(&a, &c));
	CHECK(!lk_gcounter_leq(&c, &a));
	CHECK(lk_gcounter_leq(&e, &a));
	CHECK(!lk_gcounter_leq(&a, &e));
	CHECK(lk_gcounter_leq(&e, &e));
}

static void
gcounter_increment_raises_only_its_own_node(void)
{
	lk_gcounter g;
	lk_error	err;
	int64_t		v;

	lk_gcounter_init(&g);
	CHECK_OK(lk_gcounter_increment(&g, cstr("m"), 2, T, &err), &err);
	CHECK_OK(lk_gcounter_increment(&g, cstr("a"), 1, T, &err), &err);
	CHECK_OK(lk_gcounter_increment(&g, cstr("z"), 4, T, &err), &err);
	CHECK_OK(lk_gcounter_increment(&g, cstr("m"), 10, T, &err), &err);
	CHECK_OK(lk_gcounter_increment(&g, cstr("\xe6\x97\xa5"), 1, T, &err), &err);
	check_json(&g, "{\"a\":1,\"m\":12,\"z\":4,\"\xe6\x97\xa5\":1}");
	CHECK_OK(lk_gcounter_value(&g, &v, &err), &err);
	CHECK(v == 18);
	lk_gcounter_free(T, &g);
}

static void
gcounter_increment_rejects_nonpositive_amounts(void)
{
	lk_gcounter g = parse_ok("{\"a\":1}");
	lk_error	err;

	CHECK_RC(lk_gcounter_increment(&g, cstr("a"), 0, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "increment must be positive", "The amount was 0.");
	CHECK_RC(lk_gcounter_increment(&g, cstr("a"), -5, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "increment must be positive", "The amount was -5.");
	CHECK_RC(lk_gcounter_increment(&g, cstr("a"), INT64_MIN, T, &err), LK_ERR_VALUE);
	check_json(&g, "{\"a\":1}");
}

static void
gcounter_increment_rejects_bad_node_ids(void)
{
	lk_gcounter g = parse_ok("{}");
	lk_error	err;
	char		long_id[LK_NODE_ID_MAX + 1];

	memset(long_id, 'n', sizeof(long_id));
	CHECK_RC(lk_gcounter_increment(&g, cstr(""), 1, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id must not be empty", "");
	CHECK_RC(lk_gcounter_increment(&g, cstr("a\tb"), 1, T, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id contains a control character",
			  "Byte 1 of the node id is a control character.");
	CHECK_RC(lk_gcounter_increment(&g, lk_str_make(long_id, sizeof(long_id)), 1, T, &err),
			 LK_ERR_VALUE);
	CHECK_RC(lk_gcounter_increment(&g, cstr("\xff"), 1, T, &err), LK_ERR_VALUE);
	CHECK_RC(lk_gcounter_increment(&g, lk_str_make(long_id, LK_NODE_ID_MAX), 1, T, &err), LK_OK);
	CHECK(g.n == 1);
}

static void
gcounter_increment_overflow_is_a_range_error_and_changes_nothing(void)
{
	lk_gcounter g = parse_ok("{\"a\":9223372036854775806}");
	lk_gcounter e = parse_ok("{}");
	lk_error	err;

	CHECK_OK(lk_gcounter_increment(&g, cstr("a"), 1, T, &err), &err);
	check_json(&g, "{\"a\":9223372036854775807}");
	CHECK_RC(lk_gcounter_increment(&g, cstr("a"), 1, T, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "counter out of range",
			  "The count of node \"a\" would exceed 9223372036854775807.");
	check_json(&g, "{\"a\":9223372036854775807}");
	/* a new node may start at the maximum */
	CHECK_OK(lk_gcounter_increment(&e, cstr("c"), INT64_MAX, T, &err), &err);
	check_json(&e, "{\"c\":9223372036854775807}");
}

static void
gcounter_increment_may_not_raise_the_total_past_bigint(void)
{
	/* a merge may hold such a state (nodes counting apart); a write may not raise it */
	lk_gcounter g = parse_ok("{\"a\":9223372036854775806,\"b\":1}");
	lk_gcounter over = parse_ok("{\"a\":9223372036854775807,\"b\":1}");
	lk_error	err;

	CHECK_RC(lk_gcounter_increment(&g, cstr("a"), 1, T, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "gcounter total out of range",
			  "The counts would sum to 9223372036854775808, more than 9223372036854775807.");
	CHECK_RC(lk_gcounter_increment(&g, cstr("c"), 1, T, &err), LK_ERR_RANGE);
	CHECK_RC(lk_gcounter_increment(&g, cstr("b"), INT64_MAX, T, &err), LK_ERR_RANGE);
	check_json(&g, "{\"a\":9223372036854775806,\"b\":1}");
	CHECK_RC(lk_gcounter_increment(&over, cstr("b"), 1, T, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "gcounter total out of range",
			  "The counts would sum to 9223372036854775809, more than 9223372036854775807.");
	check_json(&over, "{\"a\":9223372036854775807,\"b\":1}");
}

static void
gcounter_value_overflow_is_a_range_error(void)
{
	lk_gcounter g = parse_ok("{\"a\":9223372036854775807,\"b\":1}");
	lk_gcounter ok = parse_ok("{\"a\":9223372036854775806,\"b\":1}");
	lk_error	err;
	int64_t		v = 0;

	CHECK_RC(lk_gcounter_value(&g, &v, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "gcounter value out of range",
			  "The sum of the counts exceeds 9223372036854775807.");
	CHECK_OK(lk_gcounter_value(&ok, &v, &err), &err);
	CHECK(v == INT64_MAX);
}

static void
gcounter_sum_is_exact_beyond_64_bits(void)
{
	lk_gcounter g;
	lk_buf		b = lk_tbuf();
	lk_error	err;

	/* 300 nodes at the maximum: the sum needs 72 bits */
	lk_buf_put_u8(&b, 0x11);
	lk_buf_put_varint(&b, 300);
	for (int i = 0; i < 300; i++)
	{
		char		id[16];

		snprintf(id, sizeof(id), "n%03d", i);
		lk_buf_put_u8(&b, 4);
		lk_buf_put(&b, id, 4);
		lk_buf_put_varint(&b, MAX);
	}
	CHECK_OK(lk_gcounter_decode(b.data, b.len, T, &g, &err), &err);
	CHECK(lk_gcounter_sum(&g) == (__int128) 300 * (__int128) MAX);
}

/* ---- decoder rejections ---- */

static void
gcounter_decode_rejects_empty_and_foreign_values(void)
{
	decode_fails("", 0, LK_ERR_BINARY, "The value is empty.");
	DECODE_FAILS("\x21\x00", "Unsupported format version 2.");
	DECODE_FAILS("\x01\x00", "Unsupported format version 0.");
	DECODE_FAILS("\xf1\x00", "Unsupported format version 15.");
	DECODE_FAILS("\x12\x00\x00", "The value is of another type.");
	DECODE_FAILS("\x13\x00\x00", "The value is of another type.");
	DECODE_FAILS("\x10", "The value is of another type.");
}

static void
gcounter_decode_rejects_every_truncation(void)
{
	static const char v[] = "\x11\x03\x01" "a" "\x80\x01\x02" "bb" "\x05\x01" "c" "\xff\x7f";
	lk_gcounter g;
	lk_error	err;

	CHECK_OK(lk_gcounter_decode((const uint8_t *) v, sizeof(v) - 1, T, &g, &err), &err);
	for (size_t n = 0; n < sizeof(v) - 1; n++)
	{
		uint8_t    *cut = lk_arena_dup(v, n);
		size_t		live = lk_arena_live();

		CHECK_RC(lk_gcounter_decode(cut, n, T, &g, &err), LK_ERR_BINARY);
		CHECK(lk_arena_live() == live);
	}
}

static void
gcounter_decode_rejects_unsorted_and_duplicate_nodes(void)
{
	DECODE_FAILS("\x11\x02\x01" "b" "\x01\x01" "a" "\x01", "Node ids are not sorted and unique.");
	DECODE_FAILS("\x11\x02\x01" "a" "\x01\x01" "a" "\x02", "Node ids are not sorted and unique.");
	/* a shorter id sorts first: "ab" then "a" is out of order */
	DECODE_FAILS("\x11\x02\x02" "ab" "\x01\x01" "a" "\x01", "Node ids are not sorted and unique.");
	/* bytes compare unsigned: "é" then "z" is out of order */
	DECODE_FAILS("\x11\x02\x02\xc3\xa9\x01\x01" "z" "\x01", "Node ids are not sorted and unique.");
}

static void
gcounter_decode_rejects_zero_and_out_of_range_counts(void)
{
	DECODE_FAILS("\x11\x01\x01" "a" "\x00", "A count is truncated, zero, or out of range.");
	/* 2^63 */
	DECODE_FAILS("\x11\x01\x01" "a" "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
				 "A count is truncated, zero, or out of range.");
	/* 2^64 - 1 */
	DECODE_FAILS("\x11\x01\x01" "a" "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
				 "A count is truncated, zero, or out of range.");
}

static void
gcounter_decode_rejects_overlong_varints(void)
{
	DECODE_FAILS("\x11\x01\x01" "a" "\x85\x00", "A count is truncated, zero, or out of range.");
	DECODE_FAILS("\x11\x81\x00\x01" "a" "\x01", "The entry count is truncated or malformed.");
	DECODE_FAILS("\x11\x80\x00", "The entry count is truncated or malformed.");
}

static void
gcounter_decode_rejects_bad_node_ids(void)
{
	DECODE_FAILS("\x11\x01\x00\x01\x01", "A node id is empty or truncated.");
	DECODE_FAILS("\x11\x01\x05" "ab" "\x01", "A node id is empty or truncated.");
	DECODE_FAILS("\x11\x01\x01\xff\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x11\x01\x02\xc0\x80\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x11\x01\x03\xed\xa0\x80\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x11\x01\x03" "a\nb" "\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x11\x01\x01\x7f\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x11\x01\x02\xc2\x85\x01",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x11\x01\x01\x00\x01",
				 "A node id is not valid UTF-8 or has a control character.");
}

static void
gcounter_decode_rejects_trailing_bytes(void)
{
	DECODE_FAILS("\x11\x00\x00", "Trailing bytes follow the value.");
	DECODE_FAILS("\x11\x01\x01" "a" "\x01" "x", "Trailing bytes follow the value.");
}

static void
gcounter_decode_rejects_a_count_the_data_cannot_hold(void)
{
	/* 21 entries announced, 20 bytes follow: refused before allocating */
	DECODE_FAILS("\x11\x15" "01234567890123456789", "The entry count exceeds the data.");
	DECODE_FAILS("\x11\xff\xff\x03", "The entry count exceeds the data.");
	/* more than LK_MAX_NODES is a limit, whatever follows */
	decode_fails("\x11\x81\x80\x04", 4, LK_ERR_LIMIT, "A state holds at most 65536 node ids.");
}

static void
gcounter_decode_accepts_the_largest_node_id(void)
{
	lk_buf		b = lk_tbuf();
	lk_gcounter g;
	lk_error	err;

	lk_buf_put_u8(&b, 0x11);
	lk_buf_put_u8(&b, 1);
	lk_buf_put_u8(&b, 255);
	for (int i = 0; i < 255; i++)
		lk_buf_put_u8(&b, 'x');
	lk_buf_put_u8(&b, 1);
	CHECK_OK(lk_gcounter_decode(b.data, b.len, T, &g, &err), &err);
	CHECK(g.n == 1 && g.e[0].node.len == 255);
}

/* ---- text rejections ---- */

static void
gcounter_parse_errors_name_the_position(void)
{
	parse_fails("", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected end of input at position 0: expected an object.");
	parse_fails("[]", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"[\" at position 0: expected an object.");
	parse_fails("{\"a\":1", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected end of input at position 6: expected \",\" or \"}\".");
	parse_fails("{\"a\" 1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"1\" at position 5: expected \":\".");
	parse_fails("{\"a\":1,}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"}\" at position 7: expected a string key.");
	parse_fails("{a:1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"a\" at position 1: expected a string key.");
	parse_fails("{\"a\":\"1\"}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"\"\" at position 5: expected count as an integer.");
	parse_fails("{\"a\":1.5}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \".\" at position 6: expected an integer without fraction or exponent.");
	parse_fails("{\"a\":1e2}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"e\" at position 6: expected an integer without fraction or exponent.");
	parse_fails("{\"a\":01}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"1\" at position 6: leading zeros are not allowed.");
	parse_fails("{\"a\":null}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"n\" at position 5: expected count as an integer.");
	parse_fails("{\"a\":1} x", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"x\" at position 8: expected end of input.");
	parse_fails("{\"a\":1}{}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"{\" at position 7: expected end of input.");
	parse_fails("{\"a\":1 \"b\":2}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"\"\" at position 7: expected \",\" or \"}\".");
	parse_fails("{\"a\xff\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"a\" at position 2: string is not valid UTF-8.");
}

static void
gcounter_parse_rejects_negative_and_oversized_counts(void)
{
	parse_fails("{\"a\":-1}", LK_ERR_RANGE, "value out of range",
				"The count at position 5 is negative.");
	parse_fails("{\"a\": 9223372036854775808}", LK_ERR_RANGE, "value out of range",
				"The count at position 6 exceeds 9223372036854775807.");
	parse_fails("{\"a\":99999999999999999999999}", LK_ERR_RANGE, "value out of range",
				"The count at position 5 exceeds 9223372036854775807.");
}

static void
gcounter_parse_rejects_bad_node_ids_at_the_key(void)
{
	char		text[400];

	parse_fails("{\"\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 1: node id must not be empty.");
	parse_fails("{\"a\":1, \"\":2}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 8: node id must not be empty.");
	parse_fails("{\"a\\nb\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 1: node id contains a control character.");
	parse_fails("{\"\\u0000\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 1: node id contains a control character.");
	parse_fails("{\"\\u0085\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 1: node id contains a control character.");
	parse_fails("{\"a\x7f\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 1: node id contains a control character.");
	snprintf(text, sizeof(text), "{\"%0256d\":1}", 0);
	parse_fails(text, LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 1: node id is too long.");
	snprintf(text, sizeof(text), "{\"%0255d\":1}", 0);
	CHECK(parse_ok(text).n == 1);
}

static void
gcounter_parse_rejects_duplicate_nodes(void)
{
	parse_fails("{\"a\":1,\"b\":1,\"a\":2}", LK_ERR_SYNTAX, "invalid input syntax",
				"Node id \"a\" appears more than once.");
	/* the same id written two ways is still the same id */
	parse_fails("{\"a\":1,\"\\u0061\":1}", LK_ERR_SYNTAX, "invalid input syntax",
				"Node id \"a\" appears more than once.");
}

static void
gcounter_error_details_quote_long_ids_by_whole_characters(void)
{
	lk_buf		text = lk_tbuf();
	lk_buf		want = lk_tbuf();
	lk_gcounter g;
	lk_error	err;
	char		id[LK_NODE_ID_MAX];

	/* 85 × U+65E5 is a 255-byte id; a detail quotes 21 of them (63 bytes) */
	lk_buf_put_str(&text, "{\"");
	for (int i = 0; i < 85; i++)
		lk_buf_put_str(&text, "\xe6\x97\xa5");
	lk_buf_put_str(&text, "\":1,\"");
	for (int i = 0; i < 85; i++)
		lk_buf_put_str(&text, "\xe6\x97\xa5");
	lk_buf_put_str(&text, "\":2}");
	lk_buf_put_str(&want, "Node id \"");
	for (int i = 0; i < 21; i++)
		lk_buf_put_str(&want, "\xe6\x97\xa5");
	lk_buf_put_str(&want, "\" appears more than once.");
	lk_buf_put_u8(&want, '\0');
	CHECK_RC(lk_gcounter_parse((const char *) text.data, text.len, T, &g, &err), LK_ERR_SYNTAX);
	CHECK_STR(err.detail, (const char *) want.data);

	memset(id, 'x', sizeof(id));
	g = parse_ok("{}");
	CHECK_OK(lk_gcounter_increment(&g, lk_str_make(id, sizeof(id)), INT64_MAX, T, &err), &err);
	CHECK_RC(lk_gcounter_increment(&g, lk_str_make(id, sizeof(id)), 1, T, &err), LK_ERR_RANGE);
	CHECK_STR(err.detail, "The count of node \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			  "x\" would exceed 9223372036854775807.");
}

static void
gcounter_parse_rejects_more_than_the_node_limit(void)
{
	lk_buf		b = lk_tbuf();
	lk_gcounter g;
	lk_error	err;

	lk_buf_put_u8(&b, '{');
	for (int i = 0; i <= LK_MAX_NODES; i++)
	{
		char		entry[24];

		snprintf(entry, sizeof(entry), "%s\"n%d\":1", i ? "," : "", i);
		lk_buf_put_str(&b, entry);
	}
	lk_buf_put_u8(&b, '}');
	CHECK_RC(lk_gcounter_parse((const char *) b.data, b.len, T, &g, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "gcounter has too many nodes",
			  "A state holds at most 65536 node ids.");
	/* exactly the limit is fine */
	b.len = 0;
	lk_buf_put_u8(&b, '{');
	for (int i = 0; i < LK_MAX_NODES; i++)
	{
		char		entry[24];

		snprintf(entry, sizeof(entry), "%s\"n%d\":1", i ? "," : "", i);
		lk_buf_put_str(&b, entry);
	}
	lk_buf_put_u8(&b, '}');
	CHECK_OK(lk_gcounter_parse((const char *) b.data, b.len, T, &g, &err), &err);
	CHECK(g.n == LK_MAX_NODES);
}

static void
gcounter_node_limit_holds_for_increment_and_merge(void)
{
	lk_gcounter full,
				other,
				m;
	lk_buf		b = lk_tbuf();
	lk_error	err;

	/* LK_MAX_NODES ids "n00000".."n65535", sorted because zero-padded */
	lk_buf_put_u8(&b, 0x11);
	lk_buf_put_varint(&b, LK_MAX_NODES);
	for (int i = 0; i < LK_MAX_NODES; i++)
	{
		char		id[16];

		snprintf(id, sizeof(id), "n%05d", i);
		lk_buf_put_u8(&b, 6);
		lk_buf_put(&b, id, 6);
		lk_buf_put_u8(&b, 1);
	}
	CHECK_OK(lk_gcounter_decode(b.data, b.len, T, &full, &err), &err);
	CHECK_RC(lk_gcounter_increment(&full, cstr("z"), 1, T, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "gcounter has too many nodes",
			  "A state holds at most 65536 node ids.");
	CHECK(full.n == LK_MAX_NODES);
	/* an existing node still counts */
	CHECK_OK(lk_gcounter_increment(&full, cstr("n00007"), 1, T, &err), &err);
	other = parse_ok("{\"z\":1}");
	CHECK_RC(lk_gcounter_merge(&full, &other, T, &m, &err), LK_ERR_LIMIT);
	other = parse_ok("{\"n00001\":5}");
	CHECK_OK(lk_gcounter_merge(&full, &other, T, &m, &err), &err);
	CHECK(m.n == LK_MAX_NODES && m.e[1].count == 5 && m.e[7].count == 2);
}

/* ---- the aggregate accumulator ---- */

/* What a finished accumulator owns: one copy per node id, and its arrays. */
static size_t
acc_owned(const lk_gcounter_acc *acc)
{
	return acc->gc.n + (acc->gc.e != NULL) + (acc->pending != NULL);
}

static void
gcounter_absorb_equals_merge_fold(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_gcounter_acc acc;
		lk_gcounter fold,
					s;
		int			n = 1 + (int) lk_rng_below(&r, 5);
		lk_error	err;

		gen_universe_make(&r, &u);
		lk_gcounter_acc_init(&acc);
		lk_gcounter_init(&fold);
		for (int i = 0; i < n; i++)
		{
			lk_buf		b;
			uint8_t    *copy;
			lk_gcounter m;

			/* same-shaped inputs take the in-place path, others the lookups */
			if (i > 0 && lk_rng_chance(&r, 1, 2))
			{
				s = gc_copy(&fold);
				for (uint32_t k = 0; k < s.n; k++)
					if (lk_rng_chance(&r, 1, 2))
						s.e[k].count = 1 + lk_rng_below(&r, MAX);
			}
			else
				gc_gen(&r, &u, &s);
			b = st_bin(&s);
			CHECK_OK(lk_gcounter_merge(&fold, &s, T, &m, &err), &err);
			fold = m;
			/* the accumulator must own its ids: the input buffer dies here */
			copy = lk_arena_dup(b.data, b.len);
			CHECK_OK(lk_gcounter_acc_absorb_value(&acc, copy, b.len, T, &err), &err);
			memset(copy, 0xa5, b.len);
			lk_free(T, copy);
			/* finishing midway changes nothing: absorbing goes on after it */
			if (lk_rng_chance(&r, 1, 4))
				CHECK_OK(lk_gcounter_acc_finish(&acc, T, &err), &err);
		}
		CHECK_OK(lk_gcounter_acc_finish(&acc, T, &err), &err);
		/* fold borrows from arena buffers still alive; acc from nothing */
		CHECK_SAME(&acc.gc, &fold);
		{
			size_t		live = lk_arena_live();
			size_t		owned = acc_owned(&acc);

			lk_gcounter_acc_free(T, &acc);
			CHECK(live - lk_arena_live() == owned);
		}
	}
}

/* An id of len bytes: 'm's, then last. */
static lk_str
id_of(size_t len, char last)
{
	char	   *id = lk_malloc(T, len);

	memset(id, 'm', len);
	id[len - 1] = last;
	return lk_str_make(id, len);
}

/*
 * The same-nodes path compares each entry's length byte and id with the
 * accumulator's in overlapping word loads: an input with as many entries,
 * one of whose ids differs in any one byte, or in length, must leave it for
 * the lookups, whatever the id's length (the loads change width at 4, 8 and
 * 16 bytes), with one node or among others.  Inputs are exact-size copies,
 * so a read past their end is an ASan error, and a value cut anywhere (also
 * inside a count) is refused, never misread.
 */
static void
gcounter_acc_same_count_other_ids_equals_merge_fold(void)
{
	static const size_t lens[] = {1, 2, 3, 4, 6, 7, 8, 9, 14, 15, 16, 17, 23, 24, 31, 32, 33, 255};

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
	{
		size_t		len = lens[li];

		/* at < len: byte `at` of the changed id differs; at == len: its length does */
		for (size_t at = 0; at <= len; at++)
		{
			for (int nodes = 1; nodes <= 3; nodes += 2)
			{
				lk_gcounter base,
							other,
							fold;
				lk_gcounter_acc acc;
				lk_str		changed;
				lk_buf		b;
				uint8_t    *copy;
				lk_error	err;

				if (at == len)
					changed = id_of(len == 255 ? len - 1 : len + 1, 'd');
				else
				{
					changed = id_of(len, 'd');
					((char *) changed.p)[at] = at == len - 1 ? 'e' : 'n';
				}
				lk_gcounter_init(&base);
				lk_gcounter_init(&other);
				/* counts of three bytes, so that cuts fall inside them too */
				CHECK_OK(lk_gcounter_increment(&base, id_of(len, 'd'), 300000, T, &err), &err);
				CHECK_OK(lk_gcounter_increment(&other, changed, 400000, T, &err), &err);
				if (nodes == 3)
				{
					CHECK_OK(lk_gcounter_increment(&base, id_of(len, 'b'), 300001, T, &err), &err);
					CHECK_OK(lk_gcounter_increment(&base, id_of(len, 'f'), 300002, T, &err), &err);
					CHECK_OK(lk_gcounter_increment(&other, id_of(len, 'b'), 400001, T, &err), &err);
					CHECK_OK(lk_gcounter_increment(&other, id_of(len, 'f'), 400002, T, &err), &err);
				}
				CHECK_OK(lk_gcounter_merge(&base, &other, T, &fold, &err), &err);
				CHECK(fold.n == (uint32_t) nodes + 1);
				lk_gcounter_acc_init(&acc);
				b = st_bin(&base);
				CHECK_OK(lk_gcounter_acc_absorb_value(&acc, b.data, b.len, T, &err), &err);
				/* base's nodes wait as pending entries until this: then they are acc's nodes */
				CHECK_OK(lk_gcounter_acc_finish(&acc, T, &err), &err);
				CHECK(acc.gc.n == (uint32_t) nodes);
				b = st_bin(&other);
				copy = lk_arena_dup(b.data, b.len);
				CHECK_OK(lk_gcounter_acc_absorb_value(&acc, copy, b.len, T, &err), &err);
				/* every proper prefix of a same-shaped input is an error */
				b = st_bin(&base);
				for (size_t cut = 1; cut < b.len; cut++)
				{
					copy = lk_arena_dup(b.data, cut);
					CHECK_RC(lk_gcounter_acc_absorb_value(&acc, copy, cut, T, &err), LK_ERR_BINARY);
				}
				CHECK_OK(lk_gcounter_acc_finish(&acc, T, &err), &err);
				CHECK_SAME(&acc.gc, &fold);
				lk_gcounter_acc_free(T, &acc);
			}
		}
	}
}

/* The id "n<i>" (not zero-padded: sorted order differs from numeric order). */
static lk_str
numbered_node(int i)
{
	char		id[16];
	int			len = snprintf(id, sizeof(id), "n%d", i);

	return lk_str_make(lk_arena_dup(id, (size_t) len), (size_t) len);
}

/*
 * Inputs over many nodes, in any order, with repeats, through all three ways
 * in (encoded, decoded, another accumulator): the pending entries are merged
 * in many times over (they wait until there are as many as merged ones), and
 * the result is the merge fold.
 */
static void
gcounter_acc_of_many_nodes_equals_merge_fold(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		int			nnodes = 1 + (int) lk_rng_below(&r, 200);
		int			ninputs = 1 + (int) lk_rng_below(&r, 80);
		lk_gcounter_acc acc,
					side;
		lk_gcounter fold;
		lk_error	err;

		lk_gcounter_acc_init(&acc);
		lk_gcounter_acc_init(&side);
		lk_gcounter_init(&fold);
		for (int i = 0; i < ninputs; i++)
		{
			lk_gcounter s,
						m;
			int			k = 1 + (int) lk_rng_below(&r, lk_rng_chance(&r, 1, 2) ? 3 : 40);

			lk_gcounter_init(&s);
			for (int j = 0; j < k; j++)
				CHECK_OK(lk_gcounter_increment(&s, numbered_node((int) lk_rng_below(&r, (uint64_t) nnodes)),
											   (int64_t) (1 + lk_rng_below(&r, 1000)), T, &err), &err);
			CHECK_OK(lk_gcounter_merge(&fold, &s, T, &m, &err), &err);
			fold = m;
			switch (lk_rng_below(&r, 3))
			{
				case 0:
					{
						lk_buf		b = st_bin(&s);

						CHECK_OK(lk_gcounter_acc_absorb_value(&acc, b.data, b.len, T, &err), &err);
						break;
					}
				case 1:
					CHECK_OK(lk_gcounter_acc_absorb(&acc, &s, T, &err), &err);
					break;
				default:
					{
						lk_buf		b = st_bin(&s);

						CHECK_OK(lk_gcounter_acc_absorb_value(&side, b.data, b.len, T, &err), &err);
						break;
					}
			}
		}
		/* combine: side is read, not changed, and may hold pending entries */
		CHECK_OK(lk_gcounter_acc_absorb_acc(&acc, &side, T, &err), &err);
		CHECK_OK(lk_gcounter_acc_finish(&acc, T, &err), &err);
		CHECK_SAME(&acc.gc, &fold);
		{
			size_t		live = lk_arena_live();
			size_t		owned = acc_owned(&acc);

			lk_gcounter_acc_free(T, &acc);
			CHECK(live - lk_arena_live() == owned);
		}
		lk_gcounter_acc_free(T, &side);
	}
}

/* 65,537 one-node inputs: the node limit holds, and the accumulator is freed whole. */
static void
gcounter_acc_past_the_node_limit_is_a_limit_error(void)
{
	lk_gcounter_acc acc;
	lk_error	err;
	lk_code		rc = LK_OK;
	size_t		live = lk_arena_live();

	lk_gcounter_acc_init(&acc);
	for (int i = 0; i <= LK_MAX_NODES && rc == LK_OK; i++)
	{
		lk_gcounter one;

		lk_gcounter_init(&one);
		CHECK_OK(lk_gcounter_increment(&one, cstr("x"), 1, T, &err), &err);
		one.e[0].node = numbered_node(i);
		rc = lk_gcounter_acc_absorb(&acc, &one, T, &err);
	}
	if (rc == LK_OK)
		rc = lk_gcounter_acc_finish(&acc, T, &err);
	CHECK_RC(rc, LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "gcounter has too many nodes", "A state holds at most 65536 node ids.");
	lk_gcounter_acc_free(T, &acc);
	/* what is left is the inputs' arrays and ids, none of the accumulator's */
	CHECK(lk_arena_live() - live == 2 * (size_t) (LK_MAX_NODES + 1));
}

static void
gcounter_value_is_the_sum_or_a_range_error(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_gcounter g;
		__int128	sum = 0;
		int64_t		v;
		lk_error	err;
		lk_code		rc;

		gen_universe_make(&r, &u);
		gc_gen(&r, &u, &g);
		for (uint32_t i = 0; i < g.n; i++)
			sum += g.e[i].count;
		rc = lk_gcounter_value(&g, &v, &err);
		if (sum <= INT64_MAX)
			CHECK(rc == LK_OK && v == (int64_t) sum);
		else
			CHECK(rc == LK_ERR_RANGE);
	}
}

static void
gcounter_delta_is_minimal(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_gcounter old,
					nw,
					d;
		uint32_t	want = 0;

		gen_universe_make(&r, &u);
		gc_gen(&r, &u, &old);
		gc_gen(&r, &u, &nw);
		lk_gcounter_delta(&old, &nw, T, &d);
		/* exactly the entries of newer that old lacks or holds lower */
		for (uint32_t k = 0; k < nw.n; k++)
		{
			bool		raises = true;

			for (uint32_t i = 0; i < old.n; i++)
				if (lk_str_eq(old.e[i].node, nw.e[k].node))
					raises = nw.e[k].count > old.e[i].count;
			if (raises)
			{
				CHECK(want < d.n);
				CHECK(lk_str_eq(d.e[want].node, nw.e[k].node) &&
					  d.e[want].count == nw.e[k].count);
				want++;
			}
		}
		CHECK(d.n == want);
	}
}

static const lk_test_case tests[] = {
	LK_TEST(gcounter_text_is_canonical_json),
	LK_TEST(gcounter_zero_entries_are_normalized_away),
	LK_TEST(gcounter_keys_sort_by_utf8_bytes),
	LK_TEST(gcounter_node_ids_are_escaped_in_text),
	LK_TEST(gcounter_binary_format_is_pinned),
	LK_TEST(gcounter_merge_takes_the_pointwise_maximum),
	LK_TEST(gcounter_delta_holds_only_raised_entries),
	LK_TEST(gcounter_leq_is_the_pointwise_order),
	LK_TEST(gcounter_increment_raises_only_its_own_node),
	LK_TEST(gcounter_increment_rejects_nonpositive_amounts),
	LK_TEST(gcounter_increment_rejects_bad_node_ids),
	LK_TEST(gcounter_increment_overflow_is_a_range_error_and_changes_nothing),
	LK_TEST(gcounter_increment_may_not_raise_the_total_past_bigint),
	LK_TEST(gcounter_value_overflow_is_a_range_error),
	LK_TEST(gcounter_sum_is_exact_beyond_64_bits),
	LK_TEST(gcounter_decode_rejects_empty_and_foreign_values),
	LK_TEST(gcounter_decode_rejects_every_truncation),
	LK_TEST(gcounter_decode_rejects_unsorted_and_duplicate_nodes),
	LK_TEST(gcounter_decode_rejects_zero_and_out_of_range_counts),
	LK_TEST(gcounter_decode_rejects_overlong_varints),
	LK_TEST(gcounter_decode_rejects_bad_node_ids),
	LK_TEST(gcounter_decode_rejects_trailing_bytes),
	LK_TEST(gcounter_decode_rejects_a_count_the_data_cannot_hold),
	LK_TEST(gcounter_decode_accepts_the_largest_node_id),
	LK_TEST(gcounter_parse_errors_name_the_position),
	LK_TEST(gcounter_parse_rejects_negative_and_oversized_counts),
	LK_TEST(gcounter_parse_rejects_bad_node_ids_at_the_key),
	LK_TEST(gcounter_parse_rejects_duplicate_nodes),
	LK_TEST(gcounter_error_details_quote_long_ids_by_whole_characters),
	LK_TEST(gcounter_parse_rejects_more_than_the_node_limit),
	LK_TEST(gcounter_node_limit_holds_for_increment_and_merge),
	LK_TEST(gcounter_absorb_equals_merge_fold),
	LK_TEST(gcounter_acc_of_many_nodes_equals_merge_fold),
	LK_TEST(gcounter_acc_same_count_other_ids_equals_merge_fold),
	LK_TEST(gcounter_acc_past_the_node_limit_is_a_limit_error),
	LK_TEST(gcounter_value_is_the_sum_or_a_range_error),
	LK_TEST(gcounter_delta_is_minimal),
	LAW_TESTS(gcounter),
};

int
main(void)
{
	L = &gcounter_ops;
	return lk_test_main("gcounter", tests, sizeof(tests) / sizeof(tests[0]));
}
