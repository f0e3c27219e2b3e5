/*
 * test_orset.c — the add-wins observed-remove set: its semantics, the
 * format, every rejection of the decoders and the parser, the limits, the
 * laws of laws.h, and a check against a reference model of add-wins
 * semantics.
 */
#include <stdio.h>
#include <stdlib.h>

#include "laws.h"
#include "lk_limits.h"
#include "orset.h"
#include "orset_check.h"

#define MAX		((uint64_t) LK_COUNT_MAX)

/* ---- the ops table ---- */

/* Add (two times in three) or remove a universe element as node. */
static lk_code
os_op(lk_rng *r, const gen_universe *u, const void *s, lk_str node, void *out, void *d,
	  lk_error *err)
{
	lk_str		e = u->elems[lk_rng_below(r, (uint64_t) u->ne)];
	lk_code		rc;

	if (lk_rng_chance(r, 2, 3))
		rc = lk_orset_add_delta(s, e, node, T, d, err);
	else
		rc = lk_orset_remove_delta(s, e, T, d, err);
	if (rc != LK_OK)
		return rc;
	return lk_orset_merge(s, d, T, out, err);
}

static void
os_from_ref(lk_rng *r, const gen_universe *u, lk_orset *out)
{
	ref_orset	o;
	lk_buf		b = lk_tbuf();
	lk_error	err;

	ref_orset_make(r, u, &o);
	ref_orset_binary(&o, &b);
	CHECK_OK(lk_orset_decode(b.data, b.len, T, out, &err), &err);
}

/* A state a few replicas reach by operations and merges. */
static void
os_reachable(lk_rng *r, const gen_universe *u, lk_orset *out)
{
	lk_orset	s[3];
	int			nrep = 1 + (int) lk_rng_below(r, 3),
				ops = (int) lk_rng_below(r, 13);
	lk_error	err;

	if (nrep > u->nn)
		nrep = u->nn;
	for (int i = 0; i < nrep; i++)
		lk_orset_init(&s[i]);
	for (int k = 0; k < ops; k++)
	{
		int			i = (int) lk_rng_below(r, (uint64_t) nrep);
		lk_orset	d,
					m;

		if (lk_rng_chance(r, 1, 4))
		{
			int			j = (int) lk_rng_below(r, (uint64_t) nrep);

			CHECK_OK(lk_orset_merge(&s[i], &s[j], T, &m, &err), &err);
		}
		else
		{
			CHECK_OK(os_op(r, u, &s[i], u->nodes[i], &m, &d, &err), &err);
		}
		s[i] = m;
	}
	*out = s[lk_rng_below(r, (uint64_t) nrep)];
}

static void
os_gen(lk_rng *r, const gen_universe *u, void *out)
{
	lk_error	err;

	switch (lk_rng_below(r, 5))
	{
		case 0:
		case 1:
			os_from_ref(r, u, out);
			break;
		case 2:
		case 3:
			os_reachable(r, u, out);
			break;
		default:
			{
				lk_orset	a,
							b;

				os_from_ref(r, u, &a);
				os_reachable(r, u, &b);
				CHECK_OK(lk_orset_merge(&a, &b, T, out, &err), &err);
			}
	}
}

static void
os_ref(lk_rng *r, const gen_universe *u, lk_buf *json, lk_buf *bin, lk_buf *loose, int nloose)
{
	ref_orset	o;

	ref_orset_make(r, u, &o);
	ref_orset_json(&o, json);
	ref_orset_binary(&o, bin);
	for (int i = 0; i < nloose; i++)
		ref_orset_json_noncanonical(r, &o, u, &loose[i]);
}

static const crdt_ops orset_ops = {LK_ORSET, os_gen, os_ref, os_op};

/* ---- helpers ---- */

static lk_orset
parse_ok(const char *text)
{
	lk_orset	s;
	lk_error	err;

	CHECK_OK(lk_orset_parse(text, strlen(text), T, &s, &err), &err);
	return s;
}

static void
check_json(const lk_orset *s, const char *want)
{
	lk_buf		b = st_json(s);

	CHECK_BYTES(b.data, b.len, want, strlen(want));
}

static lk_orset
merged(const lk_orset *a, const lk_orset *b)
{
	return *(lk_orset *) st_merge(a, b);
}

static lk_orset
add_delta(const lk_orset *s, const char *elem, const char *node)
{
	lk_orset	d;
	lk_error	err;

	CHECK_OK(lk_orset_add_delta(s, cstr(elem), cstr(node), T, &d, &err), &err);
	return d;
}

static lk_orset
remove_delta(const lk_orset *s, const char *elem)
{
	lk_orset	d;
	lk_error	err;

	CHECK_OK(lk_orset_remove_delta(s, cstr(elem), T, &d, &err), &err);
	return d;
}

static lk_orset
add(const lk_orset *s, const char *elem, const char *node)
{
	lk_orset	d = add_delta(s, elem, node);

	return merged(s, &d);
}

static lk_orset
rem(const lk_orset *s, const char *elem)
{
	lk_orset	d = remove_delta(s, elem);

	return merged(s, &d);
}

static bool
has(const lk_orset *s, const char *elem)
{
	return lk_orset_find(s, cstr(elem)) >= 0;
}

static void
parse_fails(const char *text, lk_code code, const char *msg, const char *detail)
{
	lk_orset	s;
	lk_error	err;
	size_t		live = lk_arena_live();

	CHECK_RC(lk_orset_parse(text, strlen(text), T, &s, &err), code);
	CHECK_ERR(&err, code, msg, detail);
	CHECK(s.nodes == NULL && s.elems == NULL && s.ranges == NULL && s.dots == NULL);
	if (strchr(text, '\\') == NULL)
		CHECK(lk_arena_live() == live);
}

/* The empty orset, encoded. */
static const uint8_t empty_bin[] = {0x13, 0x00, 0x00};

/*
 * lk_orset_merge_encoded into a buffer that already holds a 4-byte prefix
 * (as a varlena header does); on an error the buffer must be as it was and
 * nothing else allocated.
 */
static lk_code
merge_enc(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, lk_buf *out,
		  lk_error *err)
{
	size_t		live;
	lk_code		rc;

	*out = lk_tbuf();
	lk_buf_put(out, "hdr:", 4);
	live = lk_arena_live();
	rc = lk_orset_merge_encoded(a, alen, b, blen, T, out, err);
	if (rc != LK_OK)
	{
		CHECK(out->len == 4 && memcmp(out->data, "hdr:", 4) == 0);
		CHECK(lk_arena_live() == live);
	}
	return rc;
}

/*
 * decode refuses the value with this detail, leaving nothing allocated; so
 * does merging it on the encodings, with the empty orset on either side.
 */
static void
decode_fails(const char *bytes, size_t n, lk_code code, const char *detail)
{
	lk_orset	s;
	lk_error	err;
	uint8_t    *exact = lk_arena_dup(bytes, n);
	size_t		live = lk_arena_live();
	lk_buf		out;

	CHECK_RC(lk_orset_decode(exact, n, T, &s, &err), code);
	CHECK_ERR(&err, code, "invalid binary orset value", detail);
	CHECK(lk_arena_live() == live);
	CHECK_RC(merge_enc(exact, n, empty_bin, sizeof(empty_bin), &out, &err), code);
	CHECK_ERR(&err, code, "invalid binary orset value", detail);
	CHECK_RC(merge_enc(empty_bin, sizeof(empty_bin), exact, n, &out, &err), code);
	CHECK_ERR(&err, code, "invalid binary orset value", detail);
}

#define DECODE_FAILS(lit, detail) decode_fails(lit, sizeof(lit) - 1, LK_ERR_BINARY, detail)

/* decode accepts the value; merged on the encodings with the empty orset, it is itself. */
static lk_orset
decode_ok(const char *bytes, size_t n)
{
	lk_orset	s;
	lk_error	err;
	lk_buf		out;

	CHECK_OK(lk_orset_decode((const uint8_t *) bytes, n, T, &s, &err), &err);
	CHECK_OK(merge_enc((const uint8_t *) bytes, n, empty_bin, sizeof(empty_bin), &out, &err), &err);
	CHECK_BYTES(out.data + 4, out.len - 4, bytes, n);
	CHECK_OK(merge_enc(empty_bin, sizeof(empty_bin), (const uint8_t *) bytes, n, &out, &err), &err);
	CHECK_BYTES(out.data + 4, out.len - 4, bytes, n);
	return s;
}

#define DECODE_OK(lit) decode_ok(lit, sizeof(lit) - 1)

/* ---- the canonical forms ---- */

static void
orset_text_is_canonical_json(void)
{
	lk_orset	e = parse_ok("{}");
	lk_orset	s = add(&e, "x", "a");

	check_json(&e, "{}");
	check_json(&s, "{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"a\":[1]}}}");
	s = add(&s, "w", "b");
	check_json(&s, "{\"c\":{\"a\":[[1,1]],\"b\":[[1,1]]},\"e\":{\"w\":{\"b\":[1]},\"x\":{\"a\":[1]}}}");
	e = parse_ok(" { \"e\" : { } , \"c\" : { } } ");
	check_json(&e, "{}");
}

static void
orset_parse_normalizes_ranges_and_repeated_dots(void)
{
	lk_orset	s = parse_ok("{\"e\":{\"x\":{\"a\":[3,3,1],\"b\":[]},\"y\":{}},"
							 "\"c\":{\"a\":[[5,9],[1,3],[4,4],[2,6],[12,12],[11,11]],\"b\":[]}}");

	/* overlapping and adjacent ranges join; a node or element with nothing goes */
	check_json(&s, "{\"c\":{\"a\":[[1,9],[11,12]]},\"e\":{\"x\":{\"a\":[1,3]}}}");
}

static void
orset_elements_are_escaped_and_sorted_by_bytes(void)
{
	lk_orset	s = parse_ok("{}");

	s = add(&s, "q\"\\/", "n");
	s = add(&s, "line\n\x01", "n");
	s = add(&s, "\xc3\xa9", "n");
	s = add(&s, "", "n");
	s = add(&s, "Z", "n");
	check_json(&s, "{\"c\":{\"n\":[[1,5]]},\"e\":{\"\":{\"n\":[4]},\"Z\":{\"n\":[5]},"
			   "\"line\\n\\u0001\":{\"n\":[2]},\"q\\\"\\\\/\":{\"n\":[1]},\"\xc3\xa9\":{\"n\":[3]}}}");
}

static void
orset_binary_format_is_pinned(void)
{
	lk_orset	e = parse_ok("{}");
	lk_orset	s = add(&e, "x", "a");
	lk_buf		b = st_bin(&s);

	/*
	 * 0x13; 1 node: "a" with 1 range (lo-1 = 0, hi-lo = 0); 1 element: "x"
	 * with 1 dot (node 0, seq 1)
	 */
	CHECK_BYTES(b.data, b.len, "\x13\x01\x01" "a" "\x01\x00\x00\x01\x01" "x" "\x01\x00\x01", 13);
	b = st_bin(&e);
	CHECK_BYTES(b.data, b.len, "\x13\x00\x00", 3);
	/* a: [1,3] [6,6], b: [2,2]; x: a6 b2, y: a1 */
	s = parse_ok("{\"c\":{\"b\":[[2,2]],\"a\":[[6,6],[1,3]]},\"e\":{\"y\":{\"a\":[1]},\"x\":{\"b\":[2],\"a\":[6]}}}");
	b = st_bin(&s);
	CHECK_BYTES(b.data, b.len,
				"\x13\x02"
				"\x01" "a" "\x02" "\x00\x02" "\x01\x00"
				"\x01" "b" "\x01" "\x01\x00"
				"\x02"
				"\x01" "x" "\x02" "\x00\x06" "\x01\x02"
				"\x01" "y" "\x01" "\x00\x01", 27);
}

/* ---- semantics ---- */

static void
orset_add_supersedes_the_elements_dots(void)
{
	lk_orset	s = parse_ok("{}");
	lk_orset	d;

	s = add(&s, "x", "a");
	s = add(&s, "x", "b");
	check_json(&s, "{\"c\":{\"a\":[[1,1]],\"b\":[[1,1]]},\"e\":{\"x\":{\"b\":[1]}}}");
	d = add_delta(&s, "x", "a");
	/* one new dot, and the dots it replaces in the context */
	check_json(&d, "{\"c\":{\"a\":[[2,2]],\"b\":[[1,1]]},\"e\":{\"x\":{\"a\":[2]}}}");
	s = merged(&s, &d);
	check_json(&s, "{\"c\":{\"a\":[[1,2]],\"b\":[[1,1]]},\"e\":{\"x\":{\"a\":[2]}}}");
	/* the next sequence number follows the highest seen, across gaps */
	s = parse_ok("{\"c\":{\"a\":[[1,2],[7,7]]}}");
	d = add_delta(&s, "y", "a");
	check_json(&d, "{\"c\":{\"a\":[[8,8]]},\"e\":{\"y\":{\"a\":[8]}}}");
}

static void
orset_remove_keeps_the_context_and_no_element_residue(void)
{
	lk_orset	s = parse_ok("{}");
	lk_orset	d;

	s = add(&s, "x", "a");
	s = add(&s, "y", "a");
	d = remove_delta(&s, "x");
	check_json(&d, "{\"c\":{\"a\":[[1,1]]}}");
	s = merged(&s, &d);
	check_json(&s, "{\"c\":{\"a\":[[1,2]]},\"e\":{\"y\":{\"a\":[2]}}}");
	CHECK(!has(&s, "x") && has(&s, "y"));
	s = rem(&s, "y");
	check_json(&s, "{\"c\":{\"a\":[[1,2]]}}");
	CHECK(s.nelems == 0 && s.ndots == 0);
}

static void
orset_remove_of_an_absent_element_is_a_noop(void)
{
	lk_orset	s = parse_ok("{}");
	lk_orset	d,
				after;

	s = add(&s, "x", "a");
	d = remove_delta(&s, "nope");
	check_json(&d, "{}");
	after = merged(&s, &d);
	CHECK_SAME(&after, &s);
}

static void
orset_concurrent_add_wins(void)
{
	lk_orset	base = add(&(lk_orset) {0}, "x", "a");
	lk_orset	a,
				b,
				ab,
				ba;

	/* a re-adds x while b, having seen the same add, removes it */
	a = add(&base, "x", "a");
	b = rem(&base, "x");
	CHECK(!has(&b, "x"));
	ab = merged(&a, &b);
	ba = merged(&b, &a);
	CHECK(has(&ab, "x"));
	CHECK_SAME(&ab, &ba);
	check_json(&ab, "{\"c\":{\"a\":[[1,2]]},\"e\":{\"x\":{\"a\":[2]}}}");

	/* an add the remover never saw survives, whoever merges first */
	a = add(&(lk_orset) {0}, "y", "d");
	b = rem(&base, "y");
	ab = merged(&a, &b);
	CHECK(has(&ab, "y"));
	b = rem(&base, "x");
	a = add(&(lk_orset) {0}, "x", "c");
	ab = merged(&b, &a);
	CHECK(has(&ab, "x"));
	check_json(&ab, "{\"c\":{\"a\":[[1,1]],\"c\":[[1,1]]},\"e\":{\"x\":{\"c\":[1]}}}");
}

static void
orset_observed_remove_removes(void)
{
	lk_orset	a = add(&(lk_orset) {0}, "x", "a");
	lk_orset	b = merged(&(lk_orset) {0}, &a);
	lk_orset	ab;

	b = rem(&b, "x");
	/* a concurrently adds something else, which must stay */
	a = add(&a, "y", "a");
	ab = merged(&a, &b);
	CHECK(!has(&ab, "x"));
	CHECK(has(&ab, "y"));
	{
		lk_orset	ba = merged(&b, &a);

		CHECK_SAME(&ba, &ab);
	}
	check_json(&ab, "{\"c\":{\"a\":[[1,2]]},\"e\":{\"y\":{\"a\":[2]}}}");
}

static void
orset_concurrent_readd_from_another_node_survives_a_remove(void)
{
	lk_orset	a = add(&(lk_orset) {0}, "x", "a");
	lk_orset	b = a,
				c = a;
	lk_orset	all1,
				all2;

	b = rem(&b, "x");
	c = add(&c, "x", "c");		/* supersedes a's dot, adds (c, 1) */
	all1 = merged(&a, &b);
	all1 = merged(&all1, &c);
	all2 = merged(&c, &b);
	all2 = merged(&all2, &a);
	CHECK(has(&all1, "x"));
	CHECK_SAME(&all1, &all2);
	/* only the re-add's dot is left */
	check_json(&all1, "{\"c\":{\"a\":[[1,1]],\"c\":[[1,1]]},\"e\":{\"x\":{\"c\":[1]}}}");
}

static void
orset_stale_copy_does_not_resurrect_a_removed_element(void)
{
	lk_orset	a = add(&(lk_orset) {0}, "x", "a");
	lk_orset	stale = a;
	lk_orset	m;

	a = rem(&a, "x");
	/* no tombstone, yet the context knows the dot: the stale copy cannot bring x back */
	m = merged(&a, &stale);
	CHECK(!has(&m, "x"));
	CHECK_SAME(&m, &a);
	m = merged(&stale, &a);
	CHECK_SAME(&m, &a);
}

static void
orset_delta_compacts_its_context_into_ranges(void)
{
	lk_orset	old = parse_ok("{\"c\":{\"a\":[[1,5]]},\"e\":{\"x\":{\"a\":[5]}}}");
	lk_orset	nw = parse_ok("{\"c\":{\"a\":[[1,1000]]},\"e\":{\"x\":{\"a\":[5]},\"y\":{\"a\":[1000]}}}");
	lk_orset	d;
	lk_error	err;

	CHECK_OK(lk_orset_delta(&old, &nw, T, &d, &err), &err);
	check_json(&d, "{\"c\":{\"a\":[[6,1000]]},\"e\":{\"y\":{\"a\":[1000]}}}");
	CHECK(lk_orset_context_dots(&d) == 995);
}

static void
orset_delta_carries_removals_as_context(void)
{
	lk_orset	old = parse_ok("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"a\":[1]}}}");
	lk_orset	nw = parse_ok("{\"c\":{\"a\":[[1,2]]},\"e\":{\"y\":{\"a\":[2]}}}");
	lk_orset	d,
				m;
	lk_error	err;

	CHECK_OK(lk_orset_delta(&old, &nw, T, &d, &err), &err);
	check_json(&d, "{\"c\":{\"a\":[[1,2]]},\"e\":{\"y\":{\"a\":[2]}}}");
	m = merged(&old, &d);
	CHECK(!has(&m, "x") && has(&m, "y"));
	/* the reverse: old knows nothing newer lacks, except the removed x */
	CHECK_OK(lk_orset_delta(&nw, &old, T, &d, &err), &err);
	check_json(&d, "{}");
}

static void
orset_find_and_context_size(void)
{
	lk_orset	s = parse_ok("{\"c\":{\"a\":[[1,3],[9,9]],\"b\":[[1,9223372036854775807]]},"
							 "\"e\":{\"\":{\"a\":[9]},\"m\":{\"b\":[5]},\"z\":{\"a\":[1]}}}");

	CHECK(lk_orset_find(&s, cstr("")) == 0);
	CHECK(lk_orset_find(&s, cstr("m")) == 1);
	CHECK(lk_orset_find(&s, cstr("z")) == 2);
	CHECK(lk_orset_find(&s, cstr("a")) == -1);
	CHECK(lk_orset_find(&s, cstr("zz")) == -1);
	CHECK(lk_orset_context_dots(&s) == 4 + MAX);
	s = parse_ok("{\"c\":{\"a\":[[1,9223372036854775807]],\"b\":[[1,9223372036854775807]],"
				 "\"c\":[[1,9223372036854775807]]}}");
	CHECK(lk_orset_context_dots(&s) == UINT64_MAX);
	CHECK(lk_orset_context_dots(&(lk_orset) {0}) == 0);
}

/* ---- operations' errors ---- */

static void
orset_sequence_exhaustion_is_a_range_error(void)
{
	lk_orset	s = parse_ok("{\"c\":{\"a\":[[1,9223372036854775807]]}}");
	lk_orset	d;
	lk_error	err;

	CHECK_RC(lk_orset_add_delta(&s, cstr("x"), cstr("a"), T, &d, &err), LK_ERR_RANGE);
	CHECK_ERR(&err, LK_ERR_RANGE, "orset sequence number out of range",
			  "Node \"a\" has used every sequence number.");
	CHECK(d.nnodes == 0 && d.nodes == NULL);
	/* another node still can */
	d = add_delta(&s, "x", "b");
	check_json(&d, "{\"c\":{\"b\":[[1,1]]},\"e\":{\"x\":{\"b\":[1]}}}");
	/* the last sequence number itself is usable */
	s = parse_ok("{\"c\":{\"a\":[[1,9223372036854775806]]}}");
	d = add_delta(&s, "x", "a");
	check_json(&d, "{\"c\":{\"a\":[[9223372036854775807,9223372036854775807]]},"
			   "\"e\":{\"x\":{\"a\":[9223372036854775807]}}}");
}

static void
orset_operations_reject_bad_nodes_and_elements(void)
{
	lk_orset	s = parse_ok("{}");
	lk_orset	d;
	lk_error	err;
	char	   *big = lk_malloc(T, LK_ELEMENT_MAX + 1);

	memset(big, 'e', LK_ELEMENT_MAX + 1);
	CHECK_RC(lk_orset_add_delta(&s, cstr("x"), cstr(""), T, &d, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id must not be empty", "");
	CHECK_RC(lk_orset_add_delta(&s, cstr("x"), cstr("a\x1b"), T, &d, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "node id contains a control character",
			  "Byte 1 of the node id is a control character.");
	CHECK_RC(lk_orset_add_delta(&s, lk_str_make("a\0b", 3), cstr("n"), T, &d, &err),
			 LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "orset element contains a NUL character", "");
	CHECK_RC(lk_orset_add_delta(&s, cstr("\xc3"), cstr("n"), T, &d, &err), LK_ERR_VALUE);
	CHECK_ERR(&err, LK_ERR_VALUE, "orset element is not valid UTF-8", "");
	CHECK_RC(lk_orset_add_delta(&s, lk_str_make(big, LK_ELEMENT_MAX + 1), cstr("n"), T, &d, &err),
			 LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset element is too long",
			  "An element has at most 4096 bytes; this one has 4097.");
	CHECK_RC(lk_orset_remove_delta(&s, lk_str_make(big, LK_ELEMENT_MAX + 1), T, &d, &err),
			 LK_ERR_LIMIT);
	CHECK_RC(lk_orset_remove_delta(&s, lk_str_make("\0", 1), T, &d, &err), LK_ERR_VALUE);
	CHECK_RC(lk_orset_add_delta(&s, lk_str_make(big, LK_ELEMENT_MAX), cstr("n"), T, &d, &err),
			 LK_OK);
	CHECK(d.nelems == 1 && d.elems[0].s.len == LK_ELEMENT_MAX);
}

/*
 * A state of exactly LK_MAX_ELEMENTS elements "0000000".."0999999", each with
 * one dot of node "a".
 */
static lk_orset
orset_at_element_limit(void)
{
	lk_buf		b = lk_tbuf();
	lk_orset	s;
	lk_error	err;

	lk_buf_put_u8(&b, 0x13);
	lk_buf_put_varint(&b, 1);
	lk_buf_put_u8(&b, 1);
	lk_buf_put_u8(&b, 'a');
	lk_buf_put_varint(&b, 1);
	lk_buf_put_varint(&b, 0);
	lk_buf_put_varint(&b, LK_MAX_ELEMENTS - 1);
	lk_buf_put_varint(&b, LK_MAX_ELEMENTS);
	for (uint64_t i = 0; i < LK_MAX_ELEMENTS; i++)
	{
		char		e[16];

		snprintf(e, sizeof(e), "%07llu", (unsigned long long) i);
		lk_buf_put_varint(&b, 7);
		lk_buf_put(&b, e, 7);
		lk_buf_put_varint(&b, 1);
		lk_buf_put_varint(&b, 0);
		lk_buf_put_varint(&b, i + 1);
	}
	CHECK_OK(lk_orset_decode(b.data, b.len, T, &s, &err), &err);
	CHECK(s.nelems == LK_MAX_ELEMENTS);
	return s;
}

static void
orset_element_limit_holds_for_add_and_merge(void)
{
	lk_orset	full = orset_at_element_limit();
	lk_orset	d,
				other,
				m;
	lk_error	err;

	CHECK_RC(lk_orset_add_delta(&full, cstr("new"), cstr("b"), T, &d, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset has too many elements",
			  "An orset holds at most 1000000 elements.");
	/* re-adding an element that is there adds nothing to the count */
	CHECK_OK(lk_orset_add_delta(&full, cstr("0000007"), cstr("b"), T, &d, &err), &err);
	other = add(&(lk_orset) {0}, "new", "b");
	CHECK_RC(lk_orset_merge(&full, &other, T, &m, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset has too many elements",
			  "An orset holds at most 1000000 elements.");
	CHECK(m.nelems == 0 && m.elems == NULL);
	{
		lk_buf		fb = st_bin(&full),
					ob = st_bin(&other),
					out;

		CHECK_RC(merge_enc(fb.data, fb.len, ob.data, ob.len, &out, &err), LK_ERR_LIMIT);
		CHECK_ERR(&err, LK_ERR_LIMIT, "orset has too many elements",
				  "An orset holds at most 1000000 elements.");
		/* at the limit exactly, it merges */
		ob = st_bin(&d);
		CHECK_OK(merge_enc(fb.data, fb.len, ob.data, ob.len, &out, &err), &err);
	}
	/* one more element than the limit in a binary value */
	decode_fails("\x13\x00\xc1\x84\x3d", 5, LK_ERR_BINARY, "The element count exceeds the limit.");
}

/* A context of `n` nodes "m00000".., each [1, 1], as binary. */
static lk_orset
orset_with_nodes(int n, char prefix)
{
	lk_buf		b = lk_tbuf();
	lk_orset	s;
	lk_error	err;

	lk_buf_put_u8(&b, 0x13);
	lk_buf_put_varint(&b, (uint64_t) n);
	for (int i = 0; i < n; i++)
	{
		char		id[16];

		snprintf(id, sizeof(id), "%c%05d", prefix, i);
		lk_buf_put_u8(&b, 6);
		lk_buf_put(&b, id, 6);
		lk_buf_put_varint(&b, 1);
		lk_buf_put_varint(&b, 0);
		lk_buf_put_varint(&b, 0);
	}
	lk_buf_put_varint(&b, 0);
	CHECK_OK(lk_orset_decode(b.data, b.len, T, &s, &err), &err);
	return s;
}

static void
orset_node_limit_holds_for_merge_add_and_parse(void)
{
	lk_orset	full = orset_with_nodes(LK_MAX_NODES, 'm');
	lk_orset	more = orset_with_nodes(1, 'z');
	lk_orset	d,
				m;
	lk_buf		text = lk_tbuf();
	lk_error	err;

	CHECK_RC(lk_orset_merge(&full, &more, T, &m, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset has too many nodes", "A state holds at most 65536 node ids.");
	{
		lk_buf		fb = st_bin(&full),
					mb = st_bin(&more),
					out;

		CHECK_RC(merge_enc(fb.data, fb.len, mb.data, mb.len, &out, &err), LK_ERR_LIMIT);
		CHECK_ERR(&err, LK_ERR_LIMIT, "orset has too many nodes", "A state holds at most 65536 node ids.");
	}
	/* an add by a node the state has not seen makes the 65537th */
	CHECK_OK(lk_orset_add_delta(&full, cstr("x"), cstr("new"), T, &d, &err), &err);
	CHECK_RC(lk_orset_merge(&full, &d, T, &m, &err), LK_ERR_LIMIT);
	/* by a node it has seen, it is fine */
	d = add_delta(&full, "x", "m00042");
	m = merged(&full, &d);
	CHECK(m.nnodes == LK_MAX_NODES && has(&m, "x"));
	/* the text of 65537 nodes */
	lk_orset_to_json(&full, &text);
	text.len -= 2;
	lk_buf_put_str(&text, ",\"z\":[[1,1]]}}");
	CHECK_RC(lk_orset_parse((const char *) text.data, text.len, T, &m, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset has too many nodes", "A state holds at most 65536 node ids.");
}

static void
orset_encode_refuses_a_state_over_the_size_limit(void)
{
	/* 16400 elements of 4096 bytes: over 64 MiB encoded */
	enum
	{
		N = 16400
	};
	char	   *text = lk_malloc(T, LK_ELEMENT_MAX);
	lk_orset	s;
	lk_buf		b;
	lk_error	err;

	memset(text, 't', LK_ELEMENT_MAX);
	lk_orset_init(&s);
	s.nnodes = 1;
	s.nodes = lk_malloc(T, sizeof(lk_onode));
	s.nodes[0] = (lk_onode) {cstr("a"), 0, 1};
	s.nranges = 1;
	s.ranges = lk_malloc(T, sizeof(lk_range));
	s.ranges[0] = (lk_range) {1, N};
	s.nelems = N;
	s.elems = lk_malloc(T, sizeof(lk_oelem) * N);
	s.ndots = N;
	s.dots = lk_malloc(T, sizeof(lk_dot) * N);
	for (uint32_t i = 0; i < N; i++)
	{
		/* encode does not look at the order, only the size */
		s.elems[i] = (lk_oelem) {lk_str_make(text, LK_ELEMENT_MAX), i, 1};
		s.dots[i] = (lk_dot) {0, i + 1};
	}
	b = lk_tbuf();
	CHECK_RC(lk_orset_encode(&s, &b, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset value is too large", NULL);
	CHECK(strncmp(err.detail, "A state is at most 67108864 bytes encoded; this one would be ", 61) == 0);
	lk_free(T, b.data);
}

/* ---- decoder rejections ---- */

static void
orset_decode_rejects_empty_and_foreign_values(void)
{
	decode_fails("", 0, LK_ERR_BINARY, "The value is empty.");
	DECODE_FAILS("\x23\x00\x00", "Unsupported format version 2.");
	DECODE_FAILS("\x11\x00", "The value is of another type.");
	DECODE_FAILS("\x12\x00\x00", "The value is of another type.");
}

static void
orset_decode_rejects_every_truncation(void)
{
	static const char v[] =
		"\x13\x02"
		"\x01" "a" "\x02" "\x00\x02" "\x01\x00"
		"\x02" "bb" "\x01" "\x80\x01\x00"
		"\x02"
		"\x01" "x" "\x02" "\x00\x06" "\x01\x81\x01"
		"\x03" "y\xc3\xa9" "\x01" "\x00\x01";
	lk_orset	s;
	lk_error	err;

	/* the value itself is fine */
	DECODE_OK(v);
	for (size_t n = 0; n < sizeof(v) - 1; n++)
	{
		uint8_t    *cut = lk_arena_dup(v, n);
		size_t		live = lk_arena_live();

		CHECK_RC(lk_orset_decode(cut, n, T, &s, &err), LK_ERR_BINARY);
		CHECK(lk_arena_live() == live);
	}
}

static void
orset_decode_rejects_bad_node_counts(void)
{
	DECODE_FAILS("\x13", "The node count is truncated or malformed.");
	DECODE_FAILS("\x13\x80", "The node count is truncated or malformed.");
	DECODE_FAILS("\x13\x80\x00\x00", "The node count is truncated or malformed.");
	DECODE_FAILS("\x13\x81\x80\x04\x00", "The node count exceeds the limit.");
	DECODE_FAILS("\x13\x02\x01" "a" "\x01\x00\x00", "A node id is empty or truncated.");
}

static void
orset_decode_rejects_bad_node_ids(void)
{
	DECODE_FAILS("\x13\x01\x00\x01\x00\x00\x00", "A node id is empty or truncated.");
	DECODE_FAILS("\x13\x01\x05" "ab", "A node id is empty or truncated.");
	DECODE_FAILS("\x13\x01\x01\xff\x01\x00\x00\x00",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x13\x01\x03\xed\xb0\x80\x01\x00\x00\x00",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x13\x01\x01\x0d\x01\x00\x00\x00",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x13\x01\x02" "a\x7f" "\x01\x00\x00\x00",
				 "A node id is not valid UTF-8 or has a control character.");
	DECODE_FAILS("\x13\x01\x02\xc2\x9f\x01\x00\x00\x00",
				 "A node id is not valid UTF-8 or has a control character.");
}

static void
orset_decode_rejects_unsorted_and_duplicate_nodes(void)
{
	DECODE_FAILS("\x13\x02\x01" "b" "\x01\x00\x00\x01" "a" "\x01\x00\x00\x00",
				 "Node ids are not sorted and unique.");
	DECODE_FAILS("\x13\x02\x01" "a" "\x01\x00\x00\x01" "a" "\x01\x00\x00\x00",
				 "Node ids are not sorted and unique.");
	DECODE_FAILS("\x13\x02\x02" "aa" "\x01\x00\x00\x01" "a" "\x01\x00\x00\x00",
				 "Node ids are not sorted and unique.");
}

static void
orset_decode_rejects_bad_context_ranges(void)
{
	/* a node with no range would be a node the state never saw */
	DECODE_FAILS("\x13\x01\x01" "a" "\x00\x00", "A node has no context ranges.");
	DECODE_FAILS("\x13\x01\x01" "a" "\x80", "A node has no context ranges.");
	DECODE_FAILS("\x13\x01\x01" "a" "\x05\x00\x00\x00", "The range count exceeds the data.");
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\x00\x80", "A context range is truncated or malformed.");
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\x80\x00\x00", "A context range is truncated or malformed.");
	DECODE_FAILS("\x13\x01\x01" "a" "\x02\x00\x00\x00\x80\x00",
				 "A context range is truncated or malformed.");
}

static void
orset_decode_rejects_ranges_beyond_the_sequence_space(void)
{
	/* first lo = 1 + 2^63 - 1 */
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00\x00",
				 "A context range exceeds the sequence range.");
	/* gap 2^63 */
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00\x00",
				 "A context range exceeds the sequence range.");
	/* gap 2^64 - 1: the sum would wrap in 64 bits */
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x00",
				 "A context range exceeds the sequence range.");
	/* lo = 1, span 2^63 - 1: hi = 2^63 */
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00",
				 "A context range exceeds the sequence range.");
	/* span 2^64 - 1 */
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00",
				 "A context range exceeds the sequence range.");
	/* [1, 2^63 - 2] then the next range would start at 2^63 */
	DECODE_FAILS("\x13\x01\x01" "a" "\x02\x00\xfd\xff\xff\xff\xff\xff\xff\xff\x7f\x00\x00\x00",
				 "A context range exceeds the sequence range.");
	/* the edges themselves: [1, 2^63 - 3], [2^63 - 1, 2^63 - 1] */
	{
		lk_orset	s = DECODE_OK("\x13\x01\x01" "a" "\x02\x00\xfc\xff\xff\xff\xff\xff\xff\xff\x7f"
								  "\x00\x00\x00");

		check_json(&s, "{\"c\":{\"a\":[[1,9223372036854775805],"
				   "[9223372036854775807,9223372036854775807]]}}");
	}
	{
		lk_orset	s = DECODE_OK("\x13\x01\x01" "a" "\x01\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"
								  "\x00\x00");

		check_json(&s, "{\"c\":{\"a\":[[9223372036854775807,9223372036854775807]]}}");
	}
}

static void
orset_decode_rejects_bad_element_counts(void)
{
	DECODE_FAILS("\x13\x00", "The element count is truncated or malformed.");
	DECODE_FAILS("\x13\x00\x80", "The element count is truncated or malformed.");
	DECODE_FAILS("\x13\x00\x80\x00", "The element count is truncated or malformed.");
	DECODE_FAILS("\x13\x00\x05\x00\x00\x00", "The element count exceeds the data.");
	DECODE_FAILS("\x13\x00\xc1\x84\x3d", "The element count exceeds the limit.");
}

/* The context "a": [1, 3] for the element tests below. */
#define CTX_A3 "\x13\x01\x01" "a" "\x01\x00\x02"

static void
orset_decode_rejects_bad_elements(void)
{
	DECODE_FAILS(CTX_A3 "\x01\x81\x20\x00\x00", "An element is truncated or too long.");
	DECODE_FAILS(CTX_A3 "\x01\x05" "ab", "An element is truncated or too long.");
	DECODE_FAILS(CTX_A3 "\x01\x80\x00\x01\x00\x01", "An element is truncated or too long.");
	DECODE_FAILS(CTX_A3 "\x01\x01\xff\x01\x00\x01", "An element is not valid UTF-8 or holds a NUL.");
	DECODE_FAILS(CTX_A3 "\x01\x02\xc0\xaf\x01\x00\x01", "An element is not valid UTF-8 or holds a NUL.");
	DECODE_FAILS(CTX_A3 "\x01\x03" "a\0b" "\x01\x00\x01", "An element is not valid UTF-8 or holds a NUL.");
	DECODE_FAILS(CTX_A3 "\x02\x01" "y" "\x01\x00\x01\x01" "x" "\x01\x00\x02",
				 "Elements are not sorted and unique.");
	DECODE_FAILS(CTX_A3 "\x02\x01" "x" "\x01\x00\x01\x01" "x" "\x01\x00\x02",
				 "Elements are not sorted and unique.");
	DECODE_FAILS(CTX_A3 "\x02\x01" "x" "\x01\x00\x01\x00" "\x01\x00\x02",
				 "Elements are not sorted and unique.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x00\x00", "An element has no dots.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x80\x00\x00", "An element has no dots.");
	/* control characters other than NUL are legal in elements */
	DECODE_OK(CTX_A3 "\x02\x00\x01\x00\x01\x02\x01\n\x01\x00\x02");
}

static void
orset_decode_rejects_bad_dots(void)
{
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x05\x00\x01", "The dot count exceeds the data.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x01\x00\x80", "A dot is truncated or malformed.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x02\x00\x01\x80\x00", "A dot is truncated or malformed.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x01\x01\x01", "A dot names a node outside the context.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x01\xff\xff\xff\xff\x0f\x01",
				 "A dot names a node outside the context.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x02\x00\x02\x00\x01",
				 "The dots of an element are not sorted and unique.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x02\x00\x02\x00\x02",
				 "The dots of an element are not sorted and unique.");
	DECODE_FAILS("\x13\x02\x01" "a" "\x01\x00\x00\x01" "b" "\x01\x00\x00"
				 "\x01\x01" "x" "\x02\x01\x01\x00\x01",
				 "The dots of an element are not sorted and unique.");
}

static void
orset_decode_rejects_dots_outside_the_context(void)
{
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x01\x00\x04", "A dot is not covered by the causal context.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x01\x00\x00", "A dot is not covered by the causal context.");
	/* a: [1,1] [3,3]: 2 falls in the gap */
	DECODE_FAILS("\x13\x01\x01" "a" "\x02\x00\x00\x00\x00\x01\x01" "x" "\x01\x00\x02",
				 "A dot is not covered by the causal context.");
	DECODE_OK("\x13\x01\x01" "a" "\x02\x00\x00\x00\x00\x01\x01" "x" "\x01\x00\x03");
	/* b: [1,1] covers (b, 1) but not (a, 1) */
	DECODE_FAILS("\x13\x02\x01" "a" "\x01\x01\x00\x01" "b" "\x01\x00\x00"
				 "\x01\x01" "x" "\x01\x00\x01",
				 "A dot is not covered by the causal context.");
}

static void
orset_decode_rejects_a_dot_held_by_two_elements(void)
{
	DECODE_FAILS(CTX_A3 "\x02\x01" "x" "\x01\x00\x01\x01" "y" "\x01\x00\x01",
				 "A dot belongs to more than one element.");
	DECODE_FAILS("\x13\x02\x01" "a" "\x01\x00\x02\x01" "b" "\x01\x00\x00"
				 "\x03\x00\x01\x00\x02\x01" "x" "\x01\x01\x01\x01" "y" "\x02\x00\x03\x01\x01",
				 "A dot belongs to more than one element.");
	DECODE_OK("\x13\x02\x01" "a" "\x01\x00\x02\x01" "b" "\x01\x00\x00"
			  "\x03\x00\x01\x00\x02\x01" "x" "\x01\x01\x01\x01" "y" "\x01\x00\x03");
	/*
	 * A context far larger than the value (a: 1 .. 2^35) is checked by
	 * sorting the dots rather than with a bit per sequence number: same
	 * verdicts.
	 */
	DECODE_FAILS("\x13\x01\x01" "a" "\x01\x00\xff\xff\xff\xff\x7f"
				 "\x02\x01" "x" "\x01\x00\x05\x01" "y" "\x01\x00\x05",
				 "A dot belongs to more than one element.");
	DECODE_OK("\x13\x01\x01" "a" "\x01\x00\xff\xff\xff\xff\x7f"
			  "\x02\x01" "x" "\x01\x00\x05\x01" "y" "\x01\x00\x06");
}

static void
orset_decode_rejects_trailing_bytes(void)
{
	DECODE_FAILS("\x13\x00\x00\x00", "Trailing bytes follow the value.");
	DECODE_FAILS(CTX_A3 "\x01\x01" "x" "\x01\x00\x01" "\x00", "Trailing bytes follow the value.");
}

/* ---- text rejections ---- */

static void
orset_parse_errors_name_the_position(void)
{
	parse_fails("", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected end of input at position 0: expected an object.");
	parse_fails("{\"x\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 1: the only keys of an orset are \"c\" and \"e\".");
	parse_fails("{\"c\":{},\"c\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 8: duplicate key.");
	parse_fails("{\"e\":{},\"e\":{}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid key at position 8: duplicate key.");
	parse_fails("{\"c\":[]}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"[\" at position 5: expected an object.");
	parse_fails("{\"c\":{\"a\":{}}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"{\" at position 10: expected an array.");
	parse_fails("{\"c\":{\"a\":[1]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"1\" at position 11: expected an array.");
	parse_fails("{\"c\":{\"a\":[[]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"]\" at position 13: a range is [first, last].");
	parse_fails("{\"c\":{\"a\":[[1]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"]\" at position 14: a range is [first, last].");
	parse_fails("{\"c\":{\"a\":[[1,2,3]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"3\" at position 16: a range is [first, last].");
	parse_fails("{\"c\":{\"a\":[[2,1]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"1\" at position 14: a range must not end before it starts.");
	parse_fails("{\"c\":{\"a\":[[0,1]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"0\" at position 12: sequence numbers start at 1.");
	parse_fails("{\"c\":{\"a\":[[1,\"2\"]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"\"\" at position 14: expected range end as an integer.");
	parse_fails("{\"c\":{\"a\":[[1,9223372036854775808]]}}", LK_ERR_RANGE, "value out of range",
				"The range end at position 14 exceeds 9223372036854775807.");
	parse_fails("{\"c\":{\"a\":[[-1,1]]}}", LK_ERR_RANGE, "value out of range",
				"The range start at position 12 is negative.");
	parse_fails("{\"c\":{\"\":[[1,1]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 6: node id must not be empty.");
	parse_fails("{\"c\":{\"a\\u007f\":[[1,1]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid node id at position 6: node id contains a control character.");
	parse_fails("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":[]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"[\" at position 28: expected an object.");
	parse_fails("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"a\":1}}}", LK_ERR_SYNTAX,
				"invalid input syntax",
				"Unexpected character \"1\" at position 33: expected an array.");
	parse_fails("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"a\":[0]}}}", LK_ERR_SYNTAX,
				"invalid input syntax",
				"Unexpected character \"0\" at position 34: sequence numbers start at 1.");
	parse_fails("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"\\u0001\":[1]}}}", LK_ERR_SYNTAX,
				"invalid input syntax",
				"Invalid node id at position 29: node id contains a control character.");
	parse_fails("{\"e\":{\"x\\u0000\":{}}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Invalid element at position 6: orset element contains a NUL character.");
	parse_fails("{\"c\":{}} {", LK_ERR_SYNTAX, "invalid input syntax",
				"Unexpected character \"{\" at position 9: expected end of input.");
}

static void
orset_parse_rejects_duplicates(void)
{
	parse_fails("{\"c\":{\"a\":[[1,1]],\"a\":[[2,2]]}}", LK_ERR_SYNTAX, "invalid input syntax",
				"Node id \"a\" appears more than once in the context.");
	parse_fails("{\"c\":{\"a\":[[1,1]],\"b\":[[1,1]],\"\\u0061\":[[1,1]]}}", LK_ERR_SYNTAX,
				"invalid input syntax",
				"Node id \"a\" appears more than once in the context.");
	parse_fails("{\"c\":{\"a\":[[1,2]]},\"e\":{\"x\":{\"a\":[1]},\"y\":{},\"x\":{\"a\":[2]}}}",
				LK_ERR_SYNTAX, "invalid input syntax", "Element \"x\" appears more than once.");
}

static void
orset_parse_rejects_dots_outside_the_context(void)
{
	parse_fails("{\"e\":{\"x\":{\"a\":[1]}}}", LK_ERR_VALUE,
				"orset dot is not in the causal context",
				"Element \"x\" has dot (\"a\", 1), which \"c\" does not cover.");
	parse_fails("{\"c\":{\"a\":[[1,1],[3,4]]},\"e\":{\"x\":{\"a\":[1,2]}}}", LK_ERR_VALUE,
				"orset dot is not in the causal context",
				"Element \"x\" has dot (\"a\", 2), which \"c\" does not cover.");
	parse_fails("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"b\":[1]}}}", LK_ERR_VALUE,
				"orset dot is not in the causal context",
				"Element \"x\" has dot (\"b\", 1), which \"c\" does not cover.");
}

static void
orset_parse_rejects_a_dot_held_by_two_elements(void)
{
	parse_fails("{\"c\":{\"a\":[[1,2]]},\"e\":{\"x\":{\"a\":[1,2]},\"y\":{\"a\":[2]}}}", LK_ERR_VALUE,
				"orset dot belongs to more than one element",
				"Dot (\"a\", 2) is held by more than one element.");
	/* the state on which delta(old, new) used to lose y */
	parse_fails("{\"c\":{\"a\":[[1,1]]},\"e\":{\"x\":{\"a\":[1]},\"y\":{\"a\":[1]}}}", LK_ERR_VALUE,
				"orset dot belongs to more than one element",
				"Dot (\"a\", 1) is held by more than one element.");
	/* a context too wide for a bitmap of its dots: found by sorting them */
	parse_fails("{\"c\":{\"a\":[[1,1000000000000]]},\"e\":{\"x\":{\"a\":[7,999999999999]},"
				"\"y\":{\"a\":[999999999999]}}}", LK_ERR_VALUE,
				"orset dot belongs to more than one element",
				"Dot (\"a\", 999999999999) is held by more than one element.");
	/* in a second node's ranges, after elements out of dot order */
	parse_fails("{\"c\":{\"a\":[[1,3]],\"b\":[[1,2],[5,9]]},\"e\":{\"p\":{\"a\":[3],\"b\":[6]},"
				"\"q\":{\"a\":[1],\"b\":[2]},\"r\":{\"b\":[1,6]}}}", LK_ERR_VALUE,
				"orset dot belongs to more than one element",
				"Dot (\"b\", 6) is held by more than one element.");
}

static void
orset_parse_holds_a_dot_one_element_names_twice_once(void)
{
	lk_orset	s = parse_ok("{\"c\":{\"a\":[[1,2]]},\"e\":{\"x\":{\"a\":[2,1,2]}}}");

	check_json(&s, "{\"c\":{\"a\":[[1,2]]},\"e\":{\"x\":{\"a\":[1,2]}}}");
}

static void
orset_error_details_quote_long_strings_by_whole_characters(void)
{
	lk_buf		e = lk_tbuf(),
				n = lk_tbuf(),
				text = lk_tbuf(),
				want = lk_tbuf();
	lk_orset	s;
	lk_error	err;

	/* a 140-byte element of U+00E9 and a 255-byte id of U+65E5 */
	for (int i = 0; i < 70; i++)
		lk_buf_put_str(&e, "\xc3\xa9");
	for (int i = 0; i < 85; i++)
		lk_buf_put_str(&n, "\xe6\x97\xa5");
	lk_buf_put_str(&text, "{\"e\":{\"");
	lk_buf_put(&text, e.data, e.len);
	lk_buf_put_str(&text, "\":{\"");
	lk_buf_put(&text, n.data, n.len);
	lk_buf_put_str(&text, "\":[7]}}}");
	/* 32 × é (64 bytes) and 21 × 日 (63 bytes) */
	lk_buf_put_str(&want, "Element \"");
	lk_buf_put(&want, e.data, 64);
	lk_buf_put_str(&want, "\" has dot (\"");
	lk_buf_put(&want, n.data, 63);
	lk_buf_put_str(&want, "\", 7), which \"c\" does not cover.");
	lk_buf_put_u8(&want, '\0');
	CHECK_RC(lk_orset_parse((const char *) text.data, text.len, T, &s, &err), LK_ERR_VALUE);
	CHECK_STR(err.detail, (const char *) want.data);

	text.len = 0;
	lk_buf_put_str(&text, "{\"e\":{\"");
	lk_buf_put(&text, e.data, e.len);
	lk_buf_put_str(&text, "\":{},\"");
	lk_buf_put(&text, e.data, e.len);
	lk_buf_put_str(&text, "\":{}}}");
	want.len = 0;
	lk_buf_put_str(&want, "Element \"");
	lk_buf_put(&want, e.data, 64);
	lk_buf_put_str(&want, "\" appears more than once.");
	lk_buf_put_u8(&want, '\0');
	CHECK_RC(lk_orset_parse((const char *) text.data, text.len, T, &s, &err), LK_ERR_SYNTAX);
	CHECK_STR(err.detail, (const char *) want.data);

	text.len = 0;
	lk_buf_put_str(&text, "{\"c\":{\"");
	lk_buf_put(&text, n.data, n.len);
	lk_buf_put_str(&text, "\":[[1,9223372036854775807]]}}");
	CHECK_OK(lk_orset_parse((const char *) text.data, text.len, T, &s, &err), &err);
	CHECK_RC(lk_orset_add_delta(&s, cstr("x"), buf_str(&n), T, &(lk_orset) {0}, &err), LK_ERR_RANGE);
	want.len = 0;
	lk_buf_put_str(&want, "Node \"");
	lk_buf_put(&want, n.data, 63);
	lk_buf_put_str(&want, "\" has used every sequence number.");
	lk_buf_put_u8(&want, '\0');
	CHECK_STR(err.detail, (const char *) want.data);
}

static void
orset_parse_rejects_overlong_elements(void)
{
	lk_buf		b = lk_tbuf();
	lk_orset	s;
	lk_error	err;

	lk_buf_put_str(&b, "{\"c\":{\"a\":[[1,1]]},\"e\":{\"");
	for (int i = 0; i < LK_ELEMENT_MAX; i++)
		lk_buf_put_u8(&b, 'e');
	lk_buf_put_str(&b, "\":{\"a\":[1]}}}");
	CHECK_OK(lk_orset_parse((const char *) b.data, b.len, T, &s, &err), &err);
	CHECK(s.nelems == 1 && s.elems[0].s.len == LK_ELEMENT_MAX);
	b.len = 0;
	lk_buf_put_str(&b, "{\"c\":{\"a\":[[1,1]]},\"e\":{\"");
	for (int i = 0; i <= LK_ELEMENT_MAX; i++)
		lk_buf_put_u8(&b, 'e');
	lk_buf_put_str(&b, "\":{\"a\":[1]}}}");
	CHECK_RC(lk_orset_parse((const char *) b.data, b.len, T, &s, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset element is too long",
			  "An element has at most 4096 bytes; this one has 4097.");
	/* escapes count decoded: 4096 × "\u00e9" is 8192 bytes of UTF-8 */
	b.len = 0;
	lk_buf_put_str(&b, "{\"e\":{\"");
	for (int i = 0; i < LK_ELEMENT_MAX; i++)
		lk_buf_put_str(&b, "\\u00e9");
	lk_buf_put_str(&b, "\":{}}}");
	CHECK_RC(lk_orset_parse((const char *) b.data, b.len, T, &s, &err), LK_ERR_LIMIT);
	CHECK_ERR(&err, LK_ERR_LIMIT, "orset element is too long",
			  "An element has at most 4096 bytes; this one has 8192.");
}

/* ---- properties beyond the laws ---- */

/* The highest sequence number of node the context has seen, 0 for none. */
static uint64_t
max_seen(const lk_orset *s, lk_str node)
{
	for (uint32_t i = 0; i < s->nnodes; i++)
		if (lk_str_eq(s->nodes[i].id, node))
			return s->ranges[s->nodes[i].r_off + s->nodes[i].nr - 1].hi;
	return 0;
}

static void
orset_add_makes_present_and_remove_makes_absent(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_orset	s,
					d,
					after;
		lk_str		e,
					node;
		lk_error	err;
		lk_code		rc;
		uint64_t	ctx_before;
		int64_t		at;

		gen_universe_make(&r, &u);
		os_gen(&r, &u, &s);
		e = u.elems[lk_rng_below(&r, (uint64_t) u.ne)];
		node = u.nodes[lk_rng_below(&r, (uint64_t) u.nn)];
		rc = lk_orset_add_delta(&s, e, node, T, &d, &err);
		if (rc == LK_OK)
		{
			after = merged(&s, &d);
			at = lk_orset_find(&after, e);
			CHECK(at >= 0);
			/* the element holds exactly the add's new dot: node's next number */
			CHECK(after.elems[at].nd == 1);
			CHECK(lk_str_eq(after.nodes[after.dots[after.elems[at].d_off].node].id, node));
			CHECK(after.dots[after.elems[at].d_off].seq == max_seen(&s, node) + 1);
			CHECK(max_seen(&after, node) == max_seen(&s, node) + 1);
			CHECK(others_unchanged(&s, &after, e));
		}
		else
		{
			CHECK(rc == LK_ERR_RANGE);
			CHECK(max_seen(&s, node) == MAX);
		}

		ctx_before = lk_orset_context_dots(&s);
		CHECK_OK(lk_orset_remove_delta(&s, e, T, &d, &err), &err);
		after = merged(&s, &d);
		CHECK(lk_orset_find(&after, e) < 0);
		/* removing adds nothing to the context: it only forgets dots */
		CHECK(lk_orset_context_dots(&after) == ctx_before);
		CHECK(others_unchanged(&s, &after, e));
	}
}

/*
 * Merging on the encodings gives the bytes of encoding the merge of the
 * decoded states, for any two states (reachable by operations, arbitrary
 * from the reference codec, or merges of both), in either order.
 */
static void
orset_merge_of_encodings_is_the_encoded_merge(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_orset	a,
					b;
		lk_buf		ab,
					bb,
					want,
					out;
		uint8_t    *ax,
				   *bx;
		lk_error	err;

		gen_universe_make(&r, &u);
		os_gen(&r, &u, &a);
		os_gen(&r, &u, &b);
		ab = st_bin(&a);
		bb = st_bin(&b);
		ax = lk_arena_dup(ab.data, ab.len);
		bx = lk_arena_dup(bb.data, bb.len);
		want = st_bin(st_merge(&a, &b));
		CHECK_OK(merge_enc(ax, ab.len, bx, bb.len, &out, &err), &err);
		CHECK_BYTES(out.data + 4, out.len - 4, want.data, want.len);
		CHECK_OK(merge_enc(bx, bb.len, ax, ab.len, &out, &err), &err);
		CHECK_BYTES(out.data + 4, out.len - 4, want.data, want.len);
		CHECK_OK(merge_enc(ax, ab.len, ax, ab.len, &out, &err), &err);
		CHECK_BYTES(out.data + 4, out.len - 4, ab.data, ab.len);
	}
}

/*
 * With one input mutated, merging on the encodings fails exactly when
 * decoding that input fails, with the decoder's error, and leaves nothing
 * behind; when the mutated input still decodes, the result is the encoded
 * merge.
 */
static void
orset_merge_of_encodings_checks_as_decode_does(void)
{
	static const char special[] = {0x00, 0x01, 0x02, 0x7f, (char) 0x80, (char) 0xff, 0x13};
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_orset	a,
					b,
					bad;
		lk_buf		ab,
					bb,
					out;
		uint8_t    *ax,
				   *bx;
		lk_error	err,
					derr;
		lk_code		rc,
					mrc;
		bool		bad_first = lk_rng_chance(&r, 1, 2);

		gen_universe_make(&r, &u);
		os_gen(&r, &u, &a);
		os_gen(&r, &u, &b);
		ab = st_bin(&a);
		bb = st_bin(&b);
		law_mutate(&r, &bb, special, sizeof(special));
		ax = lk_arena_dup(ab.data, ab.len);
		bx = lk_arena_dup(bb.data, bb.len);
		rc = lk_orset_decode(bx, bb.len, T, &bad, &derr);
		mrc = bad_first ? merge_enc(bx, bb.len, ax, ab.len, &out, &err) :
			merge_enc(ax, ab.len, bx, bb.len, &out, &err);
		if (rc == LK_OK)
		{
			lk_buf		want = st_bin(st_merge(&a, &bad));

			CHECK_OK(mrc, &err);
			CHECK_BYTES(out.data + 4, out.len - 4, want.data, want.len);
		}
		else
		{
			CHECK_RC(mrc, rc);
			CHECK_ERR(&err, rc, derr.msg, derr.detail);
		}
	}
}

static void
orset_equal_iff_bytes_equal(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_orset	a,
					b;
		lk_buf		ab,
					bb;

		gen_universe_make(&r, &u);
		os_gen(&r, &u, &a);
		if (lk_rng_chance(&r, 1, 3))
			b = merged(&a, &a);
		else
			os_gen(&r, &u, &b);
		ab = st_bin(&a);
		bb = st_bin(&b);
		CHECK(lk_orset_equal(&a, &b) ==
			  (ab.len == bb.len && memcmp(ab.data, bb.data, ab.len) == 0));
		CHECK(lk_orset_equal(&a, &a));
	}
}

static bool
ctx_has(const lk_orset *s, lk_str node, uint64_t seq)
{
	for (uint32_t i = 0; i < s->nnodes; i++)
	{
		if (!lk_str_eq(s->nodes[i].id, node))
			continue;
		for (uint32_t k = 0; k < s->nodes[i].nr; k++)
		{
			const lk_range *rg = &s->ranges[s->nodes[i].r_off + k];

			if (rg->lo <= seq && seq <= rg->hi)
				return true;
		}
	}
	return false;
}

static bool
store_has(const lk_orset *s, lk_str elem, lk_str node, uint64_t seq)
{
	int64_t		at = lk_orset_find(s, elem);

	if (at < 0)
		return false;
	for (uint32_t k = 0; k < s->elems[at].nd; k++)
	{
		const lk_dot *d = &s->dots[s->elems[at].d_off + k];

		if (lk_str_eq(s->nodes[d->node].id, node) && d->seq == seq)
			return true;
	}
	return false;
}

/*
 * a ≤ b exactly when b's context covers a's, and every dot of b's store that
 * a has seen, a holds too (else a knows it was removed and the join drops it).
 */
static bool
leq_by_definition(const lk_orset *a, const lk_orset *b)
{
	for (uint32_t i = 0; i < a->nnodes; i++)
		for (uint32_t k = 0; k < a->nodes[i].nr; k++)
		{
			const lk_range *rg = &a->ranges[a->nodes[i].r_off + k];

			/* ranges are small here, except at the top of the space: sample the ends */
			if (!ctx_has(b, a->nodes[i].id, rg->lo) || !ctx_has(b, a->nodes[i].id, rg->hi))
				return false;
			for (uint64_t q = rg->lo; q <= rg->hi && q - rg->lo < 64; q++)
				if (!ctx_has(b, a->nodes[i].id, q))
					return false;
		}
	for (uint32_t e = 0; e < b->nelems; e++)
		for (uint32_t k = 0; k < b->elems[e].nd; k++)
		{
			const lk_dot *d = &b->dots[b->elems[e].d_off + k];
			lk_str		node = b->nodes[d->node].id;

			if (ctx_has(a, node, d->seq) && !store_has(a, b->elems[e].s, node, d->seq))
				return false;
		}
	return true;
}

static void
orset_leq_matches_its_definition(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_orset	a,
					b;
		bool		leq;
		lk_error	err;

		gen_universe_make(&r, &u);
		os_gen(&r, &u, &a);
		switch (lk_rng_below(&r, 3))
		{
			case 0:
				os_gen(&r, &u, &b);
				break;
			case 1:
				{
					lk_orset	x;

					os_gen(&r, &u, &x);
					b = merged(&a, &x);
					break;
				}
			default:
				{
					lk_orset	out,
								d;

					if (os_op(&r, &u, &a, u.nodes[0], &out, &d, &err) != LK_OK)
						out = a;
					b = out;
					break;
				}
		}
		CHECK_OK(lk_orset_leq(&a, &b, T, &leq, &err), &err);
		CHECK_MSG(leq == leq_by_definition(&a, &b), "leq = %d for %s <= %s", leq,
				  lk_show(st_json(&a).data, st_json(&a).len),
				  lk_show(st_json(&b).data, st_json(&b).len));
	}
}

/*
 * The reference model: an observed-remove set with tombstones.  Every add
 * makes a globally unique tag; a replica's state is the set of tags it has
 * seen added (A) and seen removed (R); an element is present while one of
 * its tags is in A and not in R.  An add also retires the tags of the
 * element the adder can see, as the ORSWOT's add does, and a remove retires
 * exactly the tags the remover can see: that is observed-remove with add
 * wins, stated with no causal context at all.
 */
#define MC_TAGS		64
#define MC_REPLICAS 4
#define MC_MSGS		512

typedef struct mc_model
{
	uint64_t	added;
	uint64_t	removed;
} mc_model;

typedef struct mc_tag
{
	int			elem;			/* universe index */
	int			replica;		/* whose node made the dot */
	uint64_t	seq;
} mc_tag;

typedef struct mc_msg
{
	int			to;
	lk_orset	d;
	mc_model	m;
} mc_msg;

static uint64_t
mc_live(const mc_model *m, const mc_tag *tags, int ntags, int elem)
{
	uint64_t	live = 0;

	for (int t = 0; t < ntags; t++)
		if (tags[t].elem == elem && (m->added >> t & 1) && !(m->removed >> t & 1))
			live |= UINT64_C(1) << t;
	return live;
}

/* The replica's elements and their dots must be exactly the model's live tags. */
static void
mc_compare(const lk_orset *s, const mc_model *m, const mc_tag *tags, int ntags,
		   const gen_universe *u, int replica)
{
	uint32_t	present = 0;

	for (int e = 0; e < u->ne; e++)
	{
		uint64_t	live = mc_live(m, tags, ntags, e);
		int64_t		at = lk_orset_find(s, u->elems[e]);

		CHECK_MSG((at >= 0) == (live != 0),
				  "replica %d: element \"%s\" is %s but the model says %s", replica,
				  lk_show((const uint8_t *) u->elems[e].p, u->elems[e].len),
				  at >= 0 ? "present" : "absent", live ? "present" : "absent");
		if (at < 0)
			continue;
		present++;
		CHECK_MSG(s->elems[at].nd == (uint32_t) __builtin_popcountll(live),
				  "replica %d: element holds %u dots, the model %d live tags", replica,
				  s->elems[at].nd, __builtin_popcountll(live));
		for (int t = 0; t < ntags; t++)
			if (live >> t & 1)
				CHECK(store_has(s, u->elems[e], u->nodes[tags[t].replica], tags[t].seq));
	}
	CHECK(s->nelems == present);
}

static void
orset_matches_the_add_wins_reference_model(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_orset	s[MC_REPLICAS];
		mc_model	m[MC_REPLICAS];
		mc_tag		tags[MC_TAGS];
		mc_msg	   *q = lk_malloc(T, sizeof(mc_msg) * MC_MSGS);
		int			ntags = 0,
					nq = 0,
					nrep,
					steps;
		lk_error	err;

		gen_universe_make(&r, &u);
		nrep = 2 + (int) lk_rng_below(&r, MC_REPLICAS - 1);
		if (nrep > u.nn)
			nrep = u.nn;
		for (int i = 0; i < nrep; i++)
		{
			lk_orset_init(&s[i]);
			m[i] = (mc_model) {0, 0};
		}
		steps = 10 + (int) lk_rng_below(&r, 50);
		for (int step = 0; step < steps; step++)
		{
			int			i = (int) lk_rng_below(&r, (uint64_t) nrep);
			uint64_t	what = lk_rng_below(&r, 10);

			if (what < 5 && ntags < MC_TAGS)
			{
				int			e = (int) lk_rng_below(&r, (uint64_t) u.ne);
				lk_orset	d;
				mc_model	md = {0, 0};

				if (lk_rng_chance(&r, 3, 5))
				{
					CHECK_OK(lk_orset_add_delta(&s[i], u.elems[e], u.nodes[i], T, &d, &err), &err);
					CHECK(d.nelems == 1 && d.elems[0].nd == 1);
					tags[ntags] = (mc_tag) {e, i, d.dots[d.elems[0].d_off].seq};
					md.removed = mc_live(&m[i], tags, ntags, e);
					md.added = UINT64_C(1) << ntags;
					ntags++;
				}
				else
				{
					CHECK_OK(lk_orset_remove_delta(&s[i], u.elems[e], T, &d, &err), &err);
					md.removed = mc_live(&m[i], tags, ntags, e);
				}
				s[i] = merged(&s[i], &d);
				m[i].added |= md.added;
				m[i].removed |= md.removed;
				for (int to = 0; to < nrep && nq < MC_MSGS; to++)
					if (to != i)
						q[nq++] = (mc_msg) {to, d, md};
			}
			else if (what < 8 && nq > 0)
			{
				int			k = (int) lk_rng_below(&r, (uint64_t) nq);
				int			to = q[k].to;

				s[to] = merged(&s[to], &q[k].d);
				m[to].added |= q[k].m.added;
				m[to].removed |= q[k].m.removed;
				if (!lk_rng_chance(&r, 1, 4))
					q[k] = q[--nq];
			}
			else
			{
				int			j = (int) lk_rng_below(&r, (uint64_t) nrep);

				s[i] = merged(&s[i], &s[j]);
				m[i].added |= m[j].added;
				m[i].removed |= m[j].removed;
			}
			for (int k = 0; k < nrep; k++)
				mc_compare(&s[k], &m[k], tags, ntags, &u, k);
		}
		/* deliver the rest in any order: every replica converges, to the model */
		lk_rng_shuffle(&r, q, (size_t) nq, sizeof(mc_msg));
		for (int k = 0; k < nq; k++)
		{
			int			to = q[k].to;

			s[to] = merged(&s[to], &q[k].d);
			m[to].added |= q[k].m.added;
			m[to].removed |= q[k].m.removed;
		}
		for (int k = 0; k < nrep; k++)
		{
			mc_compare(&s[k], &m[k], tags, ntags, &u, k);
			CHECK_SAME(&s[k], &s[0]);
		}
	}
}

static const lk_test_case tests[] = {
	LK_TEST(orset_text_is_canonical_json),
	LK_TEST(orset_parse_normalizes_ranges_and_repeated_dots),
	LK_TEST(orset_elements_are_escaped_and_sorted_by_bytes),
	LK_TEST(orset_binary_format_is_pinned),
	LK_TEST(orset_add_supersedes_the_elements_dots),
	LK_TEST(orset_remove_keeps_the_context_and_no_element_residue),
	LK_TEST(orset_remove_of_an_absent_element_is_a_noop),
	LK_TEST(orset_concurrent_add_wins),
	LK_TEST(orset_observed_remove_removes),
	LK_TEST(orset_concurrent_readd_from_another_node_survives_a_remove),
	LK_TEST(orset_stale_copy_does_not_resurrect_a_removed_element),
	LK_TEST(orset_delta_compacts_its_context_into_ranges),
	LK_TEST(orset_delta_carries_removals_as_context),
	LK_TEST(orset_find_and_context_size),
	LK_TEST(orset_sequence_exhaustion_is_a_range_error),
	LK_TEST(orset_operations_reject_bad_nodes_and_elements),
	LK_TEST(orset_element_limit_holds_for_add_and_merge),
	LK_TEST(orset_node_limit_holds_for_merge_add_and_parse),
	LK_TEST(orset_encode_refuses_a_state_over_the_size_limit),
	LK_TEST(orset_decode_rejects_empty_and_foreign_values),
	LK_TEST(orset_decode_rejects_every_truncation),
	LK_TEST(orset_decode_rejects_bad_node_counts),
	LK_TEST(orset_decode_rejects_bad_node_ids),
	LK_TEST(orset_decode_rejects_unsorted_and_duplicate_nodes),
	LK_TEST(orset_decode_rejects_bad_context_ranges),
	LK_TEST(orset_decode_rejects_ranges_beyond_the_sequence_space),
	LK_TEST(orset_decode_rejects_bad_element_counts),
	LK_TEST(orset_decode_rejects_bad_elements),
	LK_TEST(orset_decode_rejects_bad_dots),
	LK_TEST(orset_decode_rejects_dots_outside_the_context),
	LK_TEST(orset_decode_rejects_a_dot_held_by_two_elements),
	LK_TEST(orset_decode_rejects_trailing_bytes),
	LK_TEST(orset_parse_errors_name_the_position),
	LK_TEST(orset_parse_rejects_duplicates),
	LK_TEST(orset_parse_rejects_dots_outside_the_context),
	LK_TEST(orset_parse_rejects_a_dot_held_by_two_elements),
	LK_TEST(orset_parse_holds_a_dot_one_element_names_twice_once),
	LK_TEST(orset_error_details_quote_long_strings_by_whole_characters),
	LK_TEST(orset_parse_rejects_overlong_elements),
	LK_TEST(orset_add_makes_present_and_remove_makes_absent),
	LK_TEST(orset_merge_of_encodings_is_the_encoded_merge),
	LK_TEST(orset_merge_of_encodings_checks_as_decode_does),
	LK_TEST(orset_equal_iff_bytes_equal),
	LK_TEST(orset_leq_matches_its_definition),
	LK_TEST(orset_matches_the_add_wins_reference_model),
	LAW_TESTS(orset),
};

int
main(void)
{
	L = &orset_ops;
	return lk_test_main("orset", tests, sizeof(tests) / sizeof(tests[0]));
}
