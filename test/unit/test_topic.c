/*
 * test_topic.c — topic names (lk_topic.h): every table has one topic and every
 * topic one table; plain names read as they are.
 */
#include "lk_test.h"
#include "lk_topic.h"

static lk_str
S(const char *s)
{
	return lk_str_make(s, strlen(s));
}

/* The topic of (schema, table[, key]) as a NUL-terminated string in b. */
static const char *
topic_of(lk_buf *b, const char *schema, const char *table, const char *key)
{
	lk_str		k = key ? S(key) : S("");

	b->len = 0;
	lk_topic_put(b, S(schema), S(table), key ? &k : NULL);
	lk_buf_put_u8(b, '\0');
	return (const char *) b->data;
}

static void
plain_names_read_as_they_are(void)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_std_alloc, 64);
	CHECK(strcmp(topic_of(&b, "public", "counters", "42"), "crdt:counters:42") == 0);
	CHECK(strcmp(topic_of(&b, "app", "items", "a"), "crdt:app.items:a") == 0);
	CHECK(strcmp(topic_of(&b, "public", "counters", NULL), "crdt:counters") == 0);
	CHECK(strcmp(topic_of(&b, "public", "Crème \"brûlée\"", "k:1"), "crdt:Crème \"brûlée\":k:1") == 0);
	lk_free(&lk_std_alloc, b.data);
}

static void
dots_colons_and_percents_are_escaped_so_names_never_collide(void)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_std_alloc, 64);
	/* the collision of the issue: table "a.b" of public, table b of schema a */
	CHECK(strcmp(topic_of(&b, "public", "a.b", NULL), "crdt:a%2Eb") == 0);
	CHECK(strcmp(topic_of(&b, "a", "b", NULL), "crdt:a.b") == 0);
	/* "a:b" with key c, and a with key "b:c" */
	CHECK(strcmp(topic_of(&b, "public", "a:b", "c"), "crdt:a%3Ab:c") == 0);
	CHECK(strcmp(topic_of(&b, "public", "a", "b:c"), "crdt:a:b:c") == 0);
	CHECK(strcmp(topic_of(&b, "s.x", "100%", NULL), "crdt:s%2Ex.100%25") == 0);
	lk_free(&lk_std_alloc, b.data);
}

static void
every_topic_reads_back_to_its_table_and_key(void)
{
	const char *names[] = {"", "a", ".", ":", "%", "%2E", "a.b", "a:b", "x.y:z%", "public", "é.ü:ß", "\"q\""};
	size_t		n = sizeof(names) / sizeof(names[0]);
	lk_buf		b,
				got;

	lk_buf_init(&b, &lk_std_alloc, 64);
	lk_buf_init(&got, &lk_std_alloc, 64);
	for (size_t s = 0; s < n; s++)
		for (size_t t = 0; t < n; t++)
			for (int with_key = 0; with_key < 2; with_key++)
			{
				lk_topic	tp;
				lk_error	err;
				lk_str		key = S("k:%2E.x");

				if (names[t][0] == '\0' || (names[s][0] == '\0'))
					continue;	/* PostgreSQL names are never empty */
				b.len = 0;
				got.len = 0;
				lk_topic_put(&b, S(names[s]), S(names[t]), with_key ? &key : NULL);
				CHECK_OK(lk_topic_parse(lk_str_make((const char *) b.data, b.len), &got, &tp, &err), &err);
				CHECK_MSG(lk_str_eq(tp.schema, S(names[s])) && lk_str_eq(tp.table, S(names[t])),
						  "%s.%s read back as %.*s.%.*s", names[s], names[t],
						  (int) tp.schema.len, tp.schema.p, (int) tp.table.len, tp.table.p);
				CHECK(tp.has_key == with_key);
				CHECK(!with_key || lk_str_eq(tp.key, key));
			}
	lk_free(&lk_std_alloc, b.data);
	lk_free(&lk_std_alloc, got.data);
}

static void
malformed_topics_are_refused(void)
{
	const char *bad[] = {"", "crdt", "crdt:", "crdt::k", "crdt:.t", "crdt:s.", "crdt:a.b.c",
	"crdt:a%2", "crdt:a%41", "crdt:a%2e", "phoenix", "crdt:s.:k", "crdt:public.t", "crdt:public.t:k"};
	lk_buf		names;

	lk_buf_init(&names, &lk_std_alloc, 16);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		lk_topic	tp;
		lk_error	err;

		names.len = 0;
		CHECK_MSG(lk_topic_parse(S(bad[i]), &names, &tp, &err) == LK_ERR_SYNTAX,
				  "\"%s\" was accepted", bad[i]);
		CHECK(strcmp(err.msg, "invalid topic") == 0 && err.detail[0]);
	}
	lk_free(&lk_std_alloc, names.data);
}

int
main(void)
{
	static const lk_test_case tests[] = {
		LK_TEST(plain_names_read_as_they_are),
		LK_TEST(dots_colons_and_percents_are_escaped_so_names_never_collide),
		LK_TEST(every_topic_reads_back_to_its_table_and_key),
		LK_TEST(malformed_topics_are_refused),
	};

	return lk_test_main("topic", tests, sizeof(tests) / sizeof(tests[0]));
}
