/*
 * test_pgoutput.c — the bridge's parser of pgoutput messages and the
 * replication protocol's framing (bridge/src/pgoutput.h): every message kind
 * reads back what was written, and every cut or corrupted message is an
 * error, never a read past its end (each input is copied into the tracking
 * arena at its exact length, so ASan sees any over-read).
 */
#include "lk_test.h"
#include "pgoutput.h"

/* ---- writing messages ---- */

static void
put16(lk_buf *b, uint16_t v)
{
	lk_buf_put_u8(b, (uint8_t) (v >> 8));
	lk_buf_put_u8(b, (uint8_t) v);
}

static void
put32(lk_buf *b, uint32_t v)
{
	put16(b, (uint16_t) (v >> 16));
	put16(b, (uint16_t) v);
}

static void
put64(lk_buf *b, uint64_t v)
{
	put32(b, (uint32_t) (v >> 32));
	put32(b, (uint32_t) v);
}

static void
putstr(lk_buf *b, const char *s)
{
	lk_buf_put(b, s, strlen(s) + 1);
}

/* A tuple: 'n', 'u', or 't' followed by the text of spec's next word. */
static void
put_tuple(lk_buf *b, const char *kinds, const char *const *texts)
{
	put16(b, (uint16_t) strlen(kinds));
	for (size_t i = 0; kinds[i]; i++)
	{
		lk_buf_put_u8(b, (uint8_t) kinds[i]);
		if (kinds[i] == 't')
		{
			put32(b, (uint32_t) strlen(texts[i]));
			lk_buf_put(b, texts[i], strlen(texts[i]));
		}
	}
}

static const char *
parse(const lk_buf *b, pgo_msg *m)
{
	return pgo_parse(lk_arena_dup(b->data, b->len), b->len, T, m);
}

static bool
value_is(const pgo_value *v, const char *text)
{
	return v->kind == 't' && v->len == strlen(text) && memcmp(v->data, text, v->len) == 0;
}

/* Every strict prefix of a valid message is an error, and so is one byte more of garbage where it matters. */
static void
check_prefixes_fail(const lk_buf *b)
{
	for (size_t n = 0; n < b->len; n++)
	{
		pgo_msg		m;
		const char *why = pgo_parse(lk_arena_dup(b->data, n), n, T, &m);

		CHECK_MSG(why != NULL, "a prefix of %zu of %zu bytes parsed", n, b->len);
	}
}

/* ---- the messages ---- */

static void
begin_and_commit_read_back(void)
{
	lk_buf		b = lk_tbuf();
	pgo_msg		m;

	lk_buf_put_u8(&b, 'B');
	put64(&b, 0x100000200ull);
	put64(&b, 123456789);
	put32(&b, 4000000000u);
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'B' && m.lsn == 0x100000200ull && m.ts == 123456789 && m.xid == 4000000000u);
	check_prefixes_fail(&b);

	b = lk_tbuf();
	lk_buf_put_u8(&b, 'C');
	lk_buf_put_u8(&b, 0);
	put64(&b, 0x10);
	put64(&b, 0x20);
	put64(&b, 77);
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'C' && m.lsn == 0x20 && m.ts == 77);
	check_prefixes_fail(&b);
}

static void
relation_reads_names_types_and_key_columns(void)
{
	lk_buf		b = lk_tbuf();
	pgo_msg		m;

	lk_buf_put_u8(&b, 'R');
	put32(&b, 16384);
	putstr(&b, "app");
	putstr(&b, "items");
	lk_buf_put_u8(&b, 'd');
	put16(&b, 2);
	lk_buf_put_u8(&b, 1);
	putstr(&b, "id");
	put32(&b, 25);
	put32(&b, (uint32_t) -1);
	lk_buf_put_u8(&b, 0);
	putstr(&b, "hits");
	put32(&b, 90000);
	put32(&b, (uint32_t) -1);
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'R' && m.relid == 16384 && strcmp(m.nspname, "app") == 0 &&
		  strcmp(m.relname, "items") == 0 && m.identity == 'd' && m.ncols == 2);
	CHECK(m.cols[0].key && strcmp(m.cols[0].name, "id") == 0 && m.cols[0].type == 25);
	CHECK(!m.cols[1].key && strcmp(m.cols[1].name, "hits") == 0 && m.cols[1].type == 90000);
	check_prefixes_fail(&b);
}

static void
insert_reads_null_unchanged_and_text_columns(void)
{
	lk_buf		b = lk_tbuf();
	pgo_msg		m;
	const char *texts[] = {"k1", NULL, NULL, "{\"a\":1}", ""};

	lk_buf_put_u8(&b, 'I');
	put32(&b, 7);
	lk_buf_put_u8(&b, 'N');
	put_tuple(&b, "tnutt", texts);
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'I' && m.relid == 7 && m.new.ncols == 5);
	CHECK(value_is(&m.new.vals[0], "k1"));
	CHECK(m.new.vals[1].kind == 'n' && m.new.vals[1].data == NULL);
	CHECK(m.new.vals[2].kind == 'u');
	CHECK(value_is(&m.new.vals[3], "{\"a\":1}"));
	CHECK(value_is(&m.new.vals[4], ""));
	check_prefixes_fail(&b);
}

static void
update_reads_key_old_and_no_old_tuples(void)
{
	const char *key[] = {"k0"};
	const char *row[] = {"k1", "{}"};
	const char	olds[] = {'K', 'O', 0};

	for (int i = 0; i < 3; i++)
	{
		lk_buf		b = lk_tbuf();
		pgo_msg		m;

		lk_buf_put_u8(&b, 'U');
		put32(&b, 9);
		if (olds[i])
		{
			lk_buf_put_u8(&b, (uint8_t) olds[i]);
			put_tuple(&b, olds[i] == 'K' ? "t" : "tt", olds[i] == 'K' ? key : row);
		}
		lk_buf_put_u8(&b, 'N');
		put_tuple(&b, "tu", row);
		CHECK(parse(&b, &m) == NULL);
		CHECK(m.kind == 'U' && m.relid == 9 && m.old_kind == olds[i]);
		CHECK(m.old.ncols == (olds[i] == 'K' ? 1 : olds[i] == 'O' ? 2 : 0));
		if (olds[i])
			CHECK(value_is(&m.old.vals[0], olds[i] == 'K' ? "k0" : "k1"));
		CHECK(m.new.ncols == 2 && value_is(&m.new.vals[0], "k1") && m.new.vals[1].kind == 'u');
		check_prefixes_fail(&b);
	}
}

static void
delete_reads_key_or_old_tuple(void)
{
	const char *row[] = {"k1", "{}"};

	for (int i = 0; i < 2; i++)
	{
		lk_buf		b = lk_tbuf();
		pgo_msg		m;

		lk_buf_put_u8(&b, 'D');
		put32(&b, 11);
		lk_buf_put_u8(&b, i ? 'O' : 'K');
		put_tuple(&b, i ? "tt" : "t", row);
		CHECK(parse(&b, &m) == NULL);
		CHECK(m.kind == 'D' && m.relid == 11 && m.old_kind == (i ? 'O' : 'K'));
		CHECK(m.old.ncols == (i ? 2 : 1) && value_is(&m.old.vals[0], "k1"));
		check_prefixes_fail(&b);
	}
}

static void
truncate_origin_and_type_read_back(void)
{
	lk_buf		b = lk_tbuf();
	pgo_msg		m;

	lk_buf_put_u8(&b, 'T');
	put32(&b, 3);
	lk_buf_put_u8(&b, 1);
	put32(&b, 100);
	put32(&b, 200);
	put32(&b, 300);
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'T' && m.nrels == 3 && m.truncate_options == 1);
	CHECK(m.relids[0] == 100 && m.relids[1] == 200 && m.relids[2] == 300);
	check_prefixes_fail(&b);

	b = lk_tbuf();
	lk_buf_put_u8(&b, 'O');
	put64(&b, 42);
	putstr(&b, "origin1");
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'O' && m.lsn == 42 && strcmp(m.relname, "origin1") == 0);
	check_prefixes_fail(&b);

	b = lk_tbuf();
	lk_buf_put_u8(&b, 'Y');
	put32(&b, 90000);
	putstr(&b, "public");
	putstr(&b, "gcounter");
	CHECK(parse(&b, &m) == NULL);
	CHECK(m.kind == 'Y' && m.relid == 90000 && strcmp(m.nspname, "public") == 0 &&
		  strcmp(m.relname, "gcounter") == 0);
	check_prefixes_fail(&b);
}

/* ---- malformed ---- */

static void
malformed_messages_are_errors_that_say_what_is_wrong(void)
{
	lk_buf		b;
	pgo_msg		m;
	const char *one[] = {"x"};

	/* a kind of another protocol version: stream start */
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'S');
	put32(&b, 1);
	CHECK(strcmp(parse(&b, &m), "unknown pgoutput message") == 0);

	/* binary tuple data, which proto_version 1 with text never sends */
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'I');
	put32(&b, 1);
	lk_buf_put_u8(&b, 'N');
	put16(&b, 1);
	lk_buf_put_u8(&b, 'b');
	put32(&b, 1);
	lk_buf_put_u8(&b, 'x');
	CHECK(strstr(parse(&b, &m), "unknown tuple value kind") != NULL);

	/* a column count far past the message */
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'I');
	put32(&b, 1);
	lk_buf_put_u8(&b, 'N');
	put16(&b, 65535);
	lk_buf_put_u8(&b, 'n');
	CHECK(strcmp(parse(&b, &m), "tuple column count past the message") == 0);

	/* a value length past the message, even one that wraps a pointer */
	for (int i = 0; i < 2; i++)
	{
		b = lk_tbuf();
		lk_buf_put_u8(&b, 'I');
		put32(&b, 1);
		lk_buf_put_u8(&b, 'N');
		put16(&b, 1);
		lk_buf_put_u8(&b, 't');
		put32(&b, i ? 0xFFFFFFFFu : 5);
		lk_buf_put(&b, "abc", 3);
		CHECK(strcmp(parse(&b, &m), "tuple value past the message") == 0);
	}

	/* relation and truncate counts past the message */
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'R');
	put32(&b, 1);
	putstr(&b, "s");
	putstr(&b, "t");
	lk_buf_put_u8(&b, 'd');
	put16(&b, 1000);
	CHECK(strcmp(parse(&b, &m), "relation column count past the message") == 0);
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'T');
	put32(&b, 0x7FFFFFFF);
	lk_buf_put_u8(&b, 0);
	put32(&b, 1);
	CHECK(strcmp(parse(&b, &m), "truncate relation count past the message") == 0);
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'T');
	put32(&b, 0x80000000u);		/* negative as an int */
	lk_buf_put_u8(&b, 0);
	CHECK(strcmp(parse(&b, &m), "truncate relation count past the message") == 0);

	/* a name without its terminating NUL */
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'Y');
	put32(&b, 1);
	putstr(&b, "public");
	lk_buf_put(&b, "gcounter", 8);
	CHECK(strcmp(parse(&b, &m), "truncated pgoutput message") == 0);

	/* changes without the tuple they need */
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'I');
	put32(&b, 1);
	lk_buf_put_u8(&b, 'K');
	put_tuple(&b, "t", one);
	CHECK(strcmp(parse(&b, &m), "insert without a new tuple") == 0);
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'U');
	put32(&b, 1);
	lk_buf_put_u8(&b, 'X');
	CHECK(strcmp(parse(&b, &m), "update without a new tuple") == 0);
	b = lk_tbuf();
	lk_buf_put_u8(&b, 'D');
	put32(&b, 1);
	lk_buf_put_u8(&b, 'N');
	put_tuple(&b, "t", one);
	CHECK(strcmp(parse(&b, &m), "delete without an old tuple") == 0);

	/* nothing at all */
	CHECK(pgo_parse(lk_arena_dup("", 0), 0, T, &m) != NULL);
}

/* ---- the replication protocol's framing ---- */

static void
xlogdata_and_keepalive_frames_read_back_and_cut_ones_fail(void)
{
	lk_buf		b = lk_tbuf();
	pgo_copy	c;

	lk_buf_put_u8(&b, 'w');
	put64(&b, 1);
	put64(&b, 2);
	put64(&b, 3);
	lk_buf_put(&b, "Bxyz", 4);
	CHECK(pgo_parse_copy(lk_arena_dup(b.data, b.len), b.len, &c) == NULL);
	CHECK(c.kind == 'w' && c.start == 1 && c.wal_end == 2 && c.send_time == 3 && c.payload_len == 4 &&
		  memcmp(c.payload, "Bxyz", 4) == 0);
	for (size_t n = 0; n < 25; n++)
		CHECK(pgo_parse_copy(lk_arena_dup(b.data, n), n, &c) != NULL);

	b = lk_tbuf();
	lk_buf_put_u8(&b, 'k');
	put64(&b, 0xABCDEF);
	put64(&b, 5);
	lk_buf_put_u8(&b, 1);
	CHECK(pgo_parse_copy(lk_arena_dup(b.data, b.len), b.len, &c) == NULL);
	CHECK(c.kind == 'k' && c.wal_end == 0xABCDEF && c.send_time == 5 && c.reply_requested);
	for (size_t n = 0; n < b.len; n++)
		CHECK(pgo_parse_copy(lk_arena_dup(b.data, n), n, &c) != NULL);

	CHECK(strcmp(pgo_parse_copy(lk_arena_dup("q", 1), 1, &c), "unknown replication message") == 0);
}

static void
a_status_update_reports_one_position_as_written_flushed_and_applied(void)
{
	uint8_t		out[PGO_STATUS_LEN];
	static const uint8_t lsn[8] = {0, 0, 0, 1, 0, 0, 0, 0x20};

	pgo_status(out, 0x100000020ull, 0x0102030405060708ll, true);
	CHECK(out[0] == 'r');
	CHECK(memcmp(out + 1, lsn, 8) == 0 && memcmp(out + 9, lsn, 8) == 0 && memcmp(out + 17, lsn, 8) == 0);
	CHECK(out[25] == 1 && out[32] == 8 && out[33] == 1);
	pgo_status(out, 0, 0, false);
	CHECK(out[33] == 0);
}

static void
lsns_read_and_write_as_postgresql_writes_them(void)
{
	char		text[32];
	uint64_t	v;

	pgo_lsn_text(0x1A5CA60, text, sizeof(text));
	CHECK(strcmp(text, "0/1A5CA60") == 0);
	pgo_lsn_text(0xFFFFFFFF00000001ull, text, sizeof(text));
	CHECK(strcmp(text, "FFFFFFFF/1") == 0);
	CHECK(pgo_lsn_parse("FFFFFFFF/1", &v) && v == 0xFFFFFFFF00000001ull);
	CHECK(pgo_lsn_parse("0/1A5CA60", &v) && v == 0x1A5CA60);
	CHECK(!pgo_lsn_parse("0/1A5CA60x", &v));
	CHECK(!pgo_lsn_parse("01A5CA60", &v));
	CHECK(!pgo_lsn_parse("", &v));
	CHECK(!pgo_lsn_parse(NULL, &v));
}

int
main(void)
{
	static const lk_test_case tests[] = {
		LK_TEST(begin_and_commit_read_back),
		LK_TEST(relation_reads_names_types_and_key_columns),
		LK_TEST(insert_reads_null_unchanged_and_text_columns),
		LK_TEST(update_reads_key_old_and_no_old_tuples),
		LK_TEST(delete_reads_key_or_old_tuple),
		LK_TEST(truncate_origin_and_type_read_back),
		LK_TEST(malformed_messages_are_errors_that_say_what_is_wrong),
		LK_TEST(xlogdata_and_keepalive_frames_read_back_and_cut_ones_fail),
		LK_TEST(a_status_update_reports_one_position_as_written_flushed_and_applied),
		LK_TEST(lsns_read_and_write_as_postgresql_writes_them),
	};

	return lk_test_main("pgoutput", tests, sizeof(tests) / sizeof(tests[0]));
}
