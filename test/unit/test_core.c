/*
 * test_core.c — the pieces every type is built on: varints, UTF-8 and the
 * node id and element rules, the JSON reader and writer, the format byte
 * and the size limit.
 */
#include <stdio.h>

#include "gen.h"
#include "lk_format.h"
#include "lk_json.h"
#include "lk_limits.h"
#include "lk_state.h"

/* ---- varints ---- */

static bool
read_varint_bytes(const char *bytes, size_t n, uint64_t *v, size_t *used)
{
	lk_reader	r = {(const uint8_t *) bytes, (const uint8_t *) bytes + n};
	bool		ok = lk_read_varint(&r, v);

	*used = (size_t) (r.p - (const uint8_t *) bytes);
	return ok;
}

static void
varint_encodes_boundaries_canonically(void)
{
	static const struct
	{
		uint64_t	v;
		const char *bytes;
		size_t		n;
	}			cases[] = {
		{0, "\x00", 1},
		{1, "\x01", 1},
		{127, "\x7f", 1},
		{128, "\x80\x01", 2},
		{16383, "\xff\x7f", 2},
		{16384, "\x80\x80\x01", 3},
		{UINT64_C(0x7fffffffffffffff), "\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 9},
		{UINT64_C(0x8000000000000000), "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10},
		{UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		lk_buf		b = lk_tbuf();
		uint64_t	v;
		size_t		used;

		lk_buf_put_varint(&b, cases[i].v);
		CHECK_BYTES(b.data, b.len, cases[i].bytes, cases[i].n);
		CHECK(lk_varint_size(cases[i].v) == cases[i].n);
		CHECK(read_varint_bytes(cases[i].bytes, cases[i].n, &v, &used));
		CHECK(v == cases[i].v && used == cases[i].n);
	}
}

static void
varint_reader_rejects_overlong_encodings(void)
{
	uint64_t	v;
	size_t		used;

	/* a final zero group is redundant: zero, 1 and 127 have one-byte forms */
	CHECK(!read_varint_bytes("\x80\x00", 2, &v, &used));
	CHECK(!read_varint_bytes("\x81\x00", 2, &v, &used));
	CHECK(!read_varint_bytes("\xff\x00", 2, &v, &used));
	CHECK(!read_varint_bytes("\x80\x80\x00", 3, &v, &used));
	CHECK(!read_varint_bytes("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00", 10, &v, &used));
}

static void
varint_reader_rejects_truncation(void)
{
	uint64_t	v;
	size_t		used;

	CHECK(!read_varint_bytes("", 0, &v, &used));
	CHECK(!read_varint_bytes("\x80", 1, &v, &used));
	CHECK(!read_varint_bytes("\xff\xff", 2, &v, &used));
	CHECK(!read_varint_bytes("\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9, &v, &used));
}

static void
varint_reader_rejects_more_than_64_bits(void)
{
	uint64_t	v;
	size_t		used;

	/* the tenth byte holds only bit 63: 2 and above, or a continuation, overflow */
	CHECK(!read_varint_bytes("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, &v, &used));
	CHECK(!read_varint_bytes("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f", 10, &v, &used));
	CHECK(!read_varint_bytes("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", 11, &v, &used));
	CHECK(!read_varint_bytes("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 11, &v, &used));
}

static void
varint_round_trips_random_values(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		uint64_t	x = lk_rng_u64(&r) >> lk_rng_below(&r, 64);
		lk_buf		b = lk_tbuf();
		lk_reader	rd;
		uint64_t	y;

		lk_buf_put_varint(&b, x);
		CHECK(b.len == lk_varint_size(x));
		rd.p = b.data;
		rd.end = b.data + b.len;
		CHECK(lk_read_varint(&rd, &y));
		CHECK_MSG(y == x && rd.p == rd.end, "varint %llu read back as %llu",
				  (unsigned long long) x, (unsigned long long) y);
		/* every proper prefix is truncated */
		for (size_t n = 0; n < b.len; n++)
		{
			lk_reader	p = {b.data, b.data + n};

			CHECK(!lk_read_varint(&p, &y));
		}
	}
}

/* ---- UTF-8, node ids, elements ---- */

static void
utf8_validation_rejects_overlongs_surrogates_and_truncation(void)
{
	static const struct
	{
		const char *s;
		size_t		n;
		bool		valid;
	}			cases[] = {
		{"", 0, true},
		{"abc", 3, true},
		{"\xc2\x80", 2, true},
		{"\xdf\xbf", 2, true},
		{"\xe0\xa0\x80", 3, true},
		{"\xed\x9f\xbf", 3, true},	/* U+D7FF, just below the surrogates */
		{"\xee\x80\x80", 3, true},	/* U+E000, just above */
		{"\xef\xbf\xbf", 3, true},
		{"\xf0\x90\x80\x80", 4, true},
		{"\xf4\x8f\xbf\xbf", 4, true},	/* U+10FFFF */
		{"\x80", 1, false},		/* lone continuation */
		{"\xbf", 1, false},
		{"\xc0\x80", 2, false},	/* overlong NUL */
		{"\xc1\xbf", 2, false},
		{"\xc2", 1, false},
		{"\xc2\x41", 2, false},
		{"\xe0\x80\x80", 3, false},
		{"\xe0\x9f\xbf", 3, false},
		{"\xed\xa0\x80", 3, false},	/* U+D800 */
		{"\xed\xbf\xbf", 3, false},	/* U+DFFF */
		{"\xe6\x97", 2, false},
		{"\xf0\x80\x80\x80", 4, false},
		{"\xf0\x8f\xbf\xbf", 4, false},
		{"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
		{"\xf5\x80\x80\x80", 4, false},
		{"\xf8\x88\x80\x80\x80", 5, false},
		{"\xff", 1, false},
		{"\xf0\x9f\x9a", 3, false},
		{"a\xf0\x9f\x9a\x80\x80", 6, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_MSG(lk_utf8_valid(cases[i].s, cases[i].n) == cases[i].valid,
				  "lk_utf8_valid(\"%s\") should be %s", lk_show((const uint8_t *) cases[i].s,
																	cases[i].n),
				  cases[i].valid ? "true" : "false");
}

static void
node_id_rules_reject_empty_long_invalid_and_control(void)
{
	char		id[LK_NODE_ID_MAX + 2];
	lk_error	err;

	memset(id, 'n', sizeof(id));
	CHECK_RC(lk_node_id_check(lk_str_make(id, LK_NODE_ID_MAX), &err), LK_OK);
	CHECK_RC(lk_node_id_check(lk_str_make(id, LK_NODE_ID_MAX + 1), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id is too long",
			  "A node id has at most 255 bytes; this one has 256.");
	CHECK_RC(lk_node_id_check(cstr(""), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id must not be empty", "");
	CHECK_RC(lk_node_id_check(cstr("a\xff"), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id is not valid UTF-8", "");
	CHECK_RC(lk_node_id_check(cstr("a\nb"), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id contains a control character",
			  "Byte 1 of the node id is a control character.");
	CHECK_RC(lk_node_id_check(lk_str_make("\0", 1), &err), LK_ERR_VALUE);
	CHECK_RC(lk_node_id_check(cstr("\x1f"), &err), LK_ERR_VALUE);
	CHECK_RC(lk_node_id_check(cstr("ab\x7f"), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id contains a control character",
			  "Byte 2 of the node id is a control character.");
	/* C1 controls: U+0080 and U+009F, but not U+00A0 */
	CHECK_RC(lk_node_id_check(cstr("\xc2\x80"), &err), LK_ERR_VALUE);
	CHECK_RC(lk_node_id_check(cstr("x\xc2\x9f"), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id contains a control character",
			  "Byte 1 of the node id is a control character.");
	CHECK_RC(lk_node_id_check(cstr("\xc2\xa0"), &err), LK_OK);
	CHECK_RC(lk_node_id_check(cstr("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x9a\x80 \"\\/"), &err), LK_OK);
	/* a 255-byte id that ends in a multibyte character */
	memset(id, 'x', LK_NODE_ID_MAX - 3);
	memcpy(id + LK_NODE_ID_MAX - 3, "\xe6\x97\xa5", 3);
	CHECK_RC(lk_node_id_check(lk_str_make(id, LK_NODE_ID_MAX), &err), LK_OK);
	CHECK_RC(lk_node_id_check(lk_str_make(id, LK_NODE_ID_MAX - 1), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id is not valid UTF-8", "");
}

static void
element_rules_bound_length_and_reject_nul_and_invalid_utf8(void)
{
	char	   *e = lk_malloc(T, LK_ELEMENT_MAX + 1);
	lk_error	err;

	memset(e, 'e', LK_ELEMENT_MAX + 1);
	CHECK_RC(lk_element_check(cstr(""), &err), LK_OK);
	CHECK_RC(lk_element_check(cstr("\x01\x1f\x7f\xc2\x80"), &err), LK_OK);
	CHECK_RC(lk_element_check(lk_str_make(e, LK_ELEMENT_MAX), &err), LK_OK);
	CHECK_RC(lk_element_check(lk_str_make(e, LK_ELEMENT_MAX + 1), &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset element is too long",
			  "An element has at most 4096 bytes; this one has 4097.");
	CHECK_RC(lk_element_check(lk_str_make("a\0b", 3), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "orset element contains a NUL character", "");
	CHECK_RC(lk_element_check(cstr("\xed\xa0\x80"), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "orset element is not valid UTF-8", "");
}

static void
value_rules_bound_length_and_reject_nul_and_invalid_utf8(void)
{
	char	   *v = lk_malloc(T, LK_VALUE_MAX + 1);
	lk_error	err;

	memset(v, 'v', LK_VALUE_MAX + 1);
	CHECK_RC(lk_value_check(cstr(""), &err), LK_OK);
	CHECK_RC(lk_value_check(cstr("\x01\x1f\x7f\xc2\x80"), &err), LK_OK);
	/* longer than any element: the value limit is its own */
	CHECK_RC(lk_value_check(lk_str_make(v, LK_ELEMENT_MAX + 1), &err), LK_OK);
	CHECK_RC(lk_value_check(lk_str_make(v, LK_VALUE_MAX), &err), LK_OK);
	CHECK_RC(lk_value_check(lk_str_make(v, LK_VALUE_MAX + 1), &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "lwwreg value is too long",
			  "A value has at most 1048576 bytes; this one has 1048577.");
	CHECK_RC(lk_value_check(lk_str_make("a\0b", 3), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "lwwreg value contains a NUL character", "");
	CHECK_RC(lk_value_check(cstr("\xc0\x80"), &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "lwwreg value is not valid UTF-8", "");
}

static void
str_order_is_bytewise_with_shorter_prefix_first(void)
{
	CHECK(lk_str_cmp(cstr(""), cstr("a")) < 0);
	CHECK(lk_str_cmp(cstr("a"), cstr("aa")) < 0);
	CHECK(lk_str_cmp(cstr("aa"), cstr("ab")) < 0);
	CHECK(lk_str_cmp(cstr("Z"), cstr("a")) < 0);
	/* bytes compare unsigned: every non-ASCII id sorts after ASCII */
	CHECK(lk_str_cmp(cstr("z"), cstr("\xc3\xa9")) < 0);
	CHECK(lk_str_cmp(cstr("\xc3\xa9"), cstr("\xe6\x97\xa5")) < 0);
	CHECK(lk_str_cmp(cstr("ab"), cstr("ab")) == 0);
	CHECK(lk_str_eq(lk_str_make(NULL, 0), cstr("")));
}

/* ---- JSON ---- */

static lk_buf
write_string(lk_str s)
{
	lk_buf		b = lk_tbuf();

	lk_json_put_string(&b, s);
	return b;
}

static void
json_writer_escapes_exactly_what_json_stringify_escapes(void)
{
	lk_buf		b;

	b = write_string(cstr("plain"));
	CHECK_BYTES(b.data, b.len, "\"plain\"", 7);
	b = write_string(cstr("q\"b\\s/"));
	CHECK_BYTES(b.data, b.len, "\"q\\\"b\\\\s/\"", 10);
	b = write_string(cstr("\b\f\n\r\t"));
	CHECK_BYTES(b.data, b.len, "\"\\b\\f\\n\\r\\t\"", 12);
	b = write_string(lk_str_make("\x00\x01\x1f\x7f", 4));
	CHECK_BYTES(b.data, b.len, "\"\\u0000\\u0001\\u001f\x7f\"", 21);
	/* non-ASCII, U+2028 and C1 controls stay raw, as JSON.stringify leaves them */
	b = write_string(cstr("\xc3\xa9\xe2\x80\xa8\xc2\x85\xf0\x9f\x9a\x80"));
	CHECK_BYTES(b.data, b.len, "\"\xc3\xa9\xe2\x80\xa8\xc2\x85\xf0\x9f\x9a\x80\"", 13);
	b = write_string(cstr(""));
	CHECK_BYTES(b.data, b.len, "\"\"", 2);
}

/* Read one string literal; returns the code and leaves the error in err. */
static lk_code
read_string(const char *text, lk_str *out, lk_error *err)
{
	lk_json		j;

	lk_json_init(&j, text, strlen(text), T, err);
	return lk_json_string(&j, out);
}

static void
json_reader_decodes_every_escape(void)
{
	lk_str		s;
	lk_error	err;

	CHECK_OK(read_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", &s, &err), &err);
	CHECK_BYTES(s.p, s.len, "\"\\/\b\f\n\r\t", 8);
	CHECK_OK(read_string("\"\\u0041\\u00e9\\u00E9\\u65e5\\uFFFF\"", &s, &err), &err);
	CHECK_BYTES(s.p, s.len, "A\xc3\xa9\xc3\xa9\xe6\x97\xa5\xef\xbf\xbf", 11);
	CHECK_OK(read_string("\"\\ud83d\\ude80|\\uDBFF\\uDFFF\"", &s, &err), &err);
	CHECK_BYTES(s.p, s.len, "\xf0\x9f\x9a\x80|\xf4\x8f\xbf\xbf", 9);
	CHECK_OK(read_string("\"\\u0000\"", &s, &err), &err);
	CHECK_BYTES(s.p, s.len, "\0", 1);
	CHECK_OK(read_string("  \"raw \xc3\xa9\"", &s, &err), &err);
	CHECK_BYTES(s.p, s.len, "raw \xc3\xa9", 6);
}

static void
json_reader_without_escapes_borrows_the_input(void)
{
	const char *text = "\"borrowed\"";
	lk_json		j;
	lk_str		s;
	lk_error	err;
	size_t		live = lk_arena_live();

	lk_json_init(&j, text, strlen(text), T, &err);
	CHECK_OK(lk_json_string(&j, &s), &err);
	CHECK(s.p == text + 1 && s.len == 8);
	CHECK(lk_arena_live() == live);
}

static void
json_reader_string_errors_name_the_position(void)
{
	static const struct
	{
		const char *text;
		const char *detail;
	}			cases[] = {
		{"", "Unexpected end of input at position 0: expected a string."},
		{"x", "Unexpected character \"x\" at position 0: expected a string."},
		{"\"abc", "Unexpected end of input at position 4: unterminated string."},
		{"\"ab\\", "Unexpected end of input at position 4: unterminated string."},
		{"\"a\nb\"", "Unexpected byte 0x0a at position 2: control characters must be escaped in a string."},
		{"\"a\x01\"", "Unexpected byte 0x01 at position 2: control characters must be escaped in a string."},
		{"\"a\xff\"", "Unexpected character \"a\" at position 1: string is not valid UTF-8."},
		{"\"\xc0\x80\"", "Unexpected byte 0xc0 at position 1: string is not valid UTF-8."},
		/* the byte after a backslash counts too: not valid UTF-8 before it is an escape */
		{"\"ab\\\x80\"", "Unexpected character \"a\" at position 1: string is not valid UTF-8."},
		{"\"\\x\"", "Unexpected character \"x\" at position 2: invalid escape sequence."},
		{"\"\\u12g4\"", "Unexpected character \"g\" at position 5: expected a hexadecimal digit."},
		{"\"\\u12\"", "Unexpected character \"\"\" at position 5: expected a hexadecimal digit."},
		{"\"\\udc00\"", "Unexpected character \"\\\" at position 1: lone low surrogate in \\u escape."},
		{"\"\\ud800\"", "Unexpected character \"\"\" at position 7: high surrogate not followed by a low surrogate."},
		{"\"\\ud800x\\u0041\"", "Unexpected character \"x\" at position 7: high surrogate not followed by a low surrogate."},
		{"\"\\ud800\\u0041\"", "Unexpected character \"\\\" at position 7: high surrogate not followed by a low surrogate."},
		{"\"\\ud800\\ud800\"", "Unexpected character \"\\\" at position 7: high surrogate not followed by a low surrogate."},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		lk_str		s;
		lk_error	err;
		size_t		live = lk_arena_live();

		CHECK_RC(read_string(cases[i].text, &s, &err), LK_ERR_SYNTAX);
		CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax", cases[i].detail);
		/* a failed decode frees its scratch copy */
		CHECK(lk_arena_live() == live);
	}
}

static void
json_string_round_trips_random_text(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		lk_str		s = gen_element(&r);
		lk_buf		canon = write_string(s);
		lk_buf		ref = lk_tbuf();
		lk_buf		loose = lk_tbuf();
		lk_str		back;
		lk_error	err;
		lk_json		j;

		if (memchr(s.p, '\0', s.len))
			continue;
		/* the core's writer agrees with an independent one */
		ref_json_string(&ref, s);
		CHECK_BUF(canon, ref);
		lk_json_init(&j, (const char *) canon.data, canon.len, T, &err);
		CHECK_OK(lk_json_string(&j, &back), &err);
		CHECK_BYTES(back.p, back.len, s.p, s.len);
		CHECK(j.p == j.end);
		/* any valid escaping reads back to the same bytes */
		gen_json_string(&r, &loose, s);
		lk_json_init(&j, (const char *) loose.data, loose.len, T, &err);
		CHECK_OK(lk_json_string(&j, &back), &err);
		CHECK_BYTES(back.p, back.len, s.p, s.len);
	}
}

static lk_code
read_uint(const char *text, uint64_t *v, lk_error *err, size_t *consumed)
{
	lk_json		j;
	lk_code		rc;

	lk_json_init(&j, text, strlen(text), T, err);
	rc = lk_json_uint(&j, "count", v);
	*consumed = (size_t) (j.p - j.start);
	return rc;
}

static void
json_uint_accepts_the_bigint_range_only(void)
{
	uint64_t	v;
	lk_error	err;
	size_t		used;

	CHECK_OK(read_uint("0", &v, &err, &used), &err);
	CHECK(v == 0 && used == 1);
	CHECK_OK(read_uint(" 42,", &v, &err, &used), &err);
	CHECK(v == 42 && used == 3);
	CHECK_OK(read_uint("9223372036854775807", &v, &err, &used), &err);
	CHECK(v == (uint64_t) LK_COUNT_MAX);
	CHECK_OK(read_uint("-0", &v, &err, &used), &err);
	CHECK(v == 0 && used == 2);

	CHECK_RC(read_uint("9223372036854775808", &v, &err, &used), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "value out of range",
			  "The count at position 0 exceeds 9223372036854775807.");
	CHECK_RC(read_uint("  18446744073709551616", &v, &err, &used), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "value out of range",
			  "The count at position 2 exceeds 9223372036854775807.");
	CHECK_RC(read_uint("-1", &v, &err, &used), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "value out of range", "The count at position 0 is negative.");
	CHECK_RC(read_uint("-", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected end of input at position 1: expected a digit.");
	CHECK_RC(read_uint("01", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \"1\" at position 1: leading zeros are not allowed.");
	CHECK_RC(read_uint("1.5", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \".\" at position 1: expected an integer without fraction or exponent.");
	CHECK_RC(read_uint("1e3", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_RC(read_uint("0E0", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_RC(read_uint("-0.0", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_RC(read_uint("\"1\"", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \"\"\" at position 0: expected count as an integer.");
	CHECK_RC(read_uint("", &v, &err, &used), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected end of input at position 0: expected count as an integer.");
	CHECK_RC(read_uint("true", &v, &err, &used), LK_ERR_SYNTAX);
}

static void
json_uint_round_trips_random_counts(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		uint64_t	x = gen_count(&r),
					y;
		lk_buf		b = lk_tbuf();
		lk_error	err;
		lk_json		j;

		lk_buf_put_int(&b, (int64_t) x);
		lk_json_init(&j, (const char *) b.data, b.len, T, &err);
		CHECK_OK(lk_json_uint(&j, "count", &y), &err);
		CHECK(x == y && j.p == j.end);
	}
}

static void
json_containers_report_separator_errors_with_positions(void)
{
	lk_json		j;
	lk_json_iter it;
	lk_error	err;
	bool		more;
	lk_str		key;

	lk_json_init(&j, " [1", 3, T, &err);
	CHECK_RC(lk_json_object(&j, &it), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \"[\" at position 1: expected an object.");
	lk_json_init(&j, "{", 1, T, &err);
	CHECK_RC(lk_json_array(&j, &it), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \"{\" at position 0: expected an array.");
	lk_json_init(&j, "[1 2]", 5, T, &err);
	CHECK_RC(lk_json_array(&j, &it), LK_OK);
	CHECK_RC(lk_json_next_item(&j, &it, &more), LK_OK);
	CHECK(more);
	j.p++;						/* the caller reads the item */
	CHECK_RC(lk_json_next_item(&j, &it, &more), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \"2\" at position 3: expected \",\" or \"]\".");
	lk_json_init(&j, "{\"k\" 1}", 7, T, &err);
	CHECK_RC(lk_json_object(&j, &it), LK_OK);
	CHECK_RC(lk_json_next_key(&j, &it, &more, &key), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected character \"1\" at position 5: expected \":\".");
	lk_json_init(&j, "{} \xe2\x80\x83", 6, T, &err);
	CHECK_RC(lk_json_object(&j, &it), LK_OK);
	CHECK_RC(lk_json_next_key(&j, &it, &more, &key), LK_OK);
	CHECK(!more);
	/* only JSON's four whitespace characters are whitespace, not U+2003 */
	CHECK_RC(lk_json_finish(&j), LK_ERR_SYNTAX);
	CHECK_ERR(&err, LK_ERR_SYNTAX, "invalid input syntax",
			  "Unexpected byte 0xe2 at position 3: expected end of input.");
}

static void
buf_put_int_writes_the_whole_int64_range(void)
{
	static const struct
	{
		int64_t		v;
		const char *s;
	}			cases[] = {
		{0, "0"}, {7, "7"}, {-1, "-1"}, {10, "10"},
		{INT64_MAX, "9223372036854775807"},
		{INT64_MIN, "-9223372036854775808"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		lk_buf		b = lk_tbuf();

		lk_buf_put_int(&b, cases[i].v);
		CHECK_BYTES(b.data, b.len, cases[i].s, strlen(cases[i].s));
	}
}

static void
buf_grows_without_losing_bytes(void)
{
	lk_buf		b;

	lk_buf_init(&b, T, 1);
	for (int i = 0; i < 10000; i++)
		lk_buf_put_u8(&b, (uint8_t) i);
	lk_buf_put(&b, "tail", 4);
	CHECK(b.len == 10004 && b.cap >= b.len);
	for (int i = 0; i < 10000; i++)
		CHECK_MSG(b.data[i] == (uint8_t) i, "byte %d lost in growth", i);
	CHECK(memcmp(b.data + 10000, "tail", 4) == 0);
	/* a reserve larger than double the capacity */
	lk_buf_reserve(&b, 1000000);
	CHECK(b.cap - b.len >= 1000000);
	lk_free(T, b.data);
}

/* ---- format byte and size limit ---- */

static void
format_byte_rejects_empty_other_versions_and_other_kinds(void)
{
	lk_error	err;
	lk_reader	r;
	static const uint8_t empty[1] = {0};

	CHECK(lk_format_byte(LK_GCOUNTER) == 0x11);
	CHECK(lk_format_byte(LK_PNCOUNTER) == 0x12);
	CHECK(lk_format_byte(LK_ORSET) == 0x13);

	r = (lk_reader) {empty, empty};
	CHECK_RC(lk_format_open(&r, LK_GCOUNTER, "gcounter", &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary gcounter value", "The value is empty.");
	r = (lk_reader) {(const uint8_t *) "\x21", (const uint8_t *) "\x21" + 1};
	CHECK_RC(lk_format_open(&r, LK_GCOUNTER, "gcounter", &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary gcounter value",
			  "Unsupported format version 2.");
	r = (lk_reader) {(const uint8_t *) "\x01", (const uint8_t *) "\x01" + 1};
	CHECK_RC(lk_format_open(&r, LK_GCOUNTER, "gcounter", &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary gcounter value",
			  "Unsupported format version 0.");
	r = (lk_reader) {(const uint8_t *) "\x13", (const uint8_t *) "\x13" + 1};
	CHECK_RC(lk_format_open(&r, LK_PNCOUNTER, "pncounter", &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary pncounter value",
			  "The value is of another type.");
	r = (lk_reader) {(const uint8_t *) "\x10", (const uint8_t *) "\x10" + 1};
	CHECK_RC(lk_format_open(&r, LK_ORSET, "orset", &err), LK_ERR_BINARY);
	r = (lk_reader) {(const uint8_t *) "\x12", (const uint8_t *) "\x12" + 1};
	CHECK_RC(lk_format_open(&r, LK_PNCOUNTER, "pncounter", &err), LK_OK);
	CHECK(r.p == r.end);
}

static void
state_size_limit_is_inclusive(void)
{
	lk_error	err;

	CHECK_RC(lk_check_state_size(LK_MAX_STATE_BYTES, "orset", &err), LK_OK);
	CHECK_RC(lk_check_state_size((size_t) LK_MAX_STATE_BYTES + 1, "orset", &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset value is too large",
			  "A state is at most 67108864 bytes encoded; this one would be 67108865.");
}

static void
fail_with_null_error_still_returns_the_code(void)
{
	lk_error	err;

	CHECK(lk_fail(NULL, LK_ERR_LIMIT, "m", "d %d", 1) == LK_ERR_LIMIT);
	CHECK(lk_fail(&err, LK_ERR_VALUE, "message", NULL) == LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "message", "");
}

/* ---- the kind dispatch ---- */

#define STATE_DECODE(lit, kind, out, err) \
	lk_state_decode((const uint8_t *) lk_arena_dup(lit, sizeof(lit) - 1), sizeof(lit) - 1, \
					(kind), T, (out), (err))

static void
state_decode_takes_the_kind_from_the_format_byte(void)
{
	lk_state	s;
	lk_error	err;
	lk_buf		b;

	CHECK_OK(STATE_DECODE("\x11\x01\x01" "a" "\x02", 0, &s, &err), &err);
	CHECK(s.kind == LK_GCOUNTER && s.u.gc.n == 1);
	CHECK_OK(STATE_DECODE("\x12\x00\x01\x01" "a" "\x02", 0, &s, &err), &err);
	CHECK(s.kind == LK_PNCOUNTER && s.u.pn.n.n == 1);
	CHECK_OK(STATE_DECODE("\x13\x01\x01" "a" "\x01\x00\x00\x01\x01" "x" "\x01\x00\x01", 0, &s, &err),
			 &err);
	CHECK(s.kind == LK_ORSET && s.u.os.nelems == 1);
	CHECK_OK(STATE_DECODE("\x14\x01\x05\x01" "a" "\x01" "x", 0, &s, &err), &err);
	CHECK(s.kind == LK_LWWREG && s.u.lw.present && s.u.lw.clock == 5);
	CHECK_OK(STATE_DECODE("\x13\x01\x01" "a" "\x01\x00\x00\x01\x01" "x" "\x01\x00\x01", 0, &s, &err),
			 &err);
	b = lk_tbuf();
	lk_state_to_json(&s, &b);
	CHECK_BYTES(b.data, b.len, "{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"a\":[1]}}}", 39);
	b = lk_tbuf();
	CHECK_OK(lk_state_encode(&s, &b, &err), &err);
	CHECK_BYTES(b.data, b.len, "\x13\x01\x01" "a" "\x01\x00\x00\x01\x01" "x" "\x01\x00\x01", 13);
	lk_state_free(T, &s);
}

static void
state_decode_rejects_unknown_and_unexpected_kinds(void)
{
	lk_state	s;
	lk_error	err;

	CHECK_RC(STATE_DECODE("\x15\x00", 0, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary CRDT value", "Unknown kind 5 in the format byte.");
	CHECK_RC(STATE_DECODE("\x1f\x00", 0, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary CRDT value", "Unknown kind 15 in the format byte.");
	CHECK_RC(STATE_DECODE("\x10\x00", 0, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary CRDT value", "Unknown kind 0 in the format byte.");
	/* the kind is known but the version is not: the type's decoder says so */
	CHECK_RC(STATE_DECODE("\x21\x00", 0, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary gcounter value", "Unsupported format version 2.");
	CHECK_RC(STATE_DECODE("", 0, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary gcounter value", "The value is empty.");
	/* asked for an orset, handed a gcounter */
	CHECK_RC(STATE_DECODE("\x11\x00", LK_ORSET, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary orset value", "The value is of another type.");
	CHECK_RC(STATE_DECODE("\x13\x00\x00", LK_LWWREG, &s, &err), LK_ERR_BINARY);
	CHECK_ERR(&err, LK_ERR_BINARY, "invalid binary lwwreg value", "The value is of another type.");
}

static void
state_operations_refuse_mixed_kinds(void)
{
	lk_state	g,
				p,
				out;
	lk_error	err;
	bool		leq;

	CHECK_OK(lk_state_parse(LK_GCOUNTER, "{\"a\":1}", 7, T, &g, &err), &err);
	CHECK_OK(lk_state_parse(LK_PNCOUNTER, "{\"p\":{\"a\":1}}", 13, T, &p, &err), &err);
	CHECK_RC(lk_state_merge(&g, &p, T, &out, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "cannot combine states of different types",
			  "One is a gcounter, the other a pncounter.");
	CHECK_RC(lk_state_delta(&p, &g, T, &out, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "cannot combine states of different types",
			  "One is a pncounter, the other a gcounter.");
	CHECK_RC(lk_state_leq(&g, &p, T, &leq, &err), LK_ERR_VALUE);
	CHECK_OK(lk_state_merge(&g, &g, T, &out, &err), &err);
	CHECK(out.kind == LK_GCOUNTER && out.u.gc.n == 1);
	CHECK_OK(lk_state_leq(&g, &out, T, &leq, &err), &err);
	CHECK(leq);
	CHECK(strcmp(lk_kind_name(LK_ORSET), "orset") == 0 && lk_kind_name((lk_kind) 9) == NULL);
	CHECK(strcmp(lk_kind_name(LK_LWWREG), "lwwreg") == 0 && LK_KIND_MAX == LK_LWWREG);
	CHECK(lk_kind_name((lk_kind) (LK_KIND_MAX + 1)) == NULL && lk_kind_name((lk_kind) 0) == NULL);
}

static void
state_init_is_the_empty_state_of_each_kind(void)
{
	static const struct
	{
		lk_kind		kind;
		const char *bin;
		size_t		n;
	}			cases[] = {
		{LK_GCOUNTER, "\x11\x00", 2},
		{LK_PNCOUNTER, "\x12\x00\x00", 3},
		{LK_ORSET, "\x13\x00\x00", 3},
		{LK_LWWREG, "\x14\x00", 2},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		lk_state	s;
		lk_buf		b = lk_tbuf(),
					j = lk_tbuf();
		lk_error	err;

		lk_state_init(&s, cases[i].kind);
		CHECK_OK(lk_state_encode(&s, &b, &err), &err);
		CHECK_BYTES(b.data, b.len, cases[i].bin, cases[i].n);
		lk_state_to_json(&s, &j);
		CHECK_BYTES(j.data, j.len, "{}", 2);
	}
}

static const lk_test_case tests[] = {
	LK_TEST(varint_encodes_boundaries_canonically),
	LK_TEST(varint_reader_rejects_overlong_encodings),
	LK_TEST(varint_reader_rejects_truncation),
	LK_TEST(varint_reader_rejects_more_than_64_bits),
	LK_TEST(varint_round_trips_random_values),
	LK_TEST(utf8_validation_rejects_overlongs_surrogates_and_truncation),
	LK_TEST(node_id_rules_reject_empty_long_invalid_and_control),
	LK_TEST(element_rules_bound_length_and_reject_nul_and_invalid_utf8),
	LK_TEST(value_rules_bound_length_and_reject_nul_and_invalid_utf8),
	LK_TEST(str_order_is_bytewise_with_shorter_prefix_first),
	LK_TEST(json_writer_escapes_exactly_what_json_stringify_escapes),
	LK_TEST(json_reader_decodes_every_escape),
	LK_TEST(json_reader_without_escapes_borrows_the_input),
	LK_TEST(json_reader_string_errors_name_the_position),
	LK_TEST(json_string_round_trips_random_text),
	LK_TEST(json_uint_accepts_the_bigint_range_only),
	LK_TEST(json_uint_round_trips_random_counts),
	LK_TEST(json_containers_report_separator_errors_with_positions),
	LK_TEST(buf_put_int_writes_the_whole_int64_range),
	LK_TEST(buf_grows_without_losing_bytes),
	LK_TEST(format_byte_rejects_empty_other_versions_and_other_kinds),
	LK_TEST(state_size_limit_is_inclusive),
	LK_TEST(fail_with_null_error_still_returns_the_code),
	LK_TEST(state_decode_takes_the_kind_from_the_format_byte),
	LK_TEST(state_decode_rejects_unknown_and_unexpected_kinds),
	LK_TEST(state_operations_refuse_mixed_kinds),
	LK_TEST(state_init_is_the_empty_state_of_each_kind),
};

int
main(void)
{
	return lk_test_main("core", tests, sizeof(tests) / sizeof(tests[0]));
}
