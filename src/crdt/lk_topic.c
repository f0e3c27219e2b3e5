/*
 * lk_topic.c — topic names, see lk_topic.h.
 */
#include "lk_topic.h"

static void
put_escaped(lk_buf *b, lk_str s)
{
	for (uint32_t i = 0; i < s.len; i++)
	{
		switch (s.p[i])
		{
			case '%':
				lk_buf_put_lit(b, "%25");
				break;
			case '.':
				lk_buf_put_lit(b, "%2E");
				break;
			case ':':
				lk_buf_put_lit(b, "%3A");
				break;
			default:
				lk_buf_put_u8(b, (uint8_t) s.p[i]);
		}
	}
}

void
lk_topic_put_table(lk_buf *b, lk_str schema, lk_str table)
{
	if (!lk_str_eq(schema, lk_str_make("public", 6)))
	{
		put_escaped(b, schema);
		lk_buf_put_u8(b, '.');
	}
	put_escaped(b, table);
}

void
lk_topic_put(lk_buf *b, lk_str schema, lk_str table, const lk_str *key)
{
	lk_buf_put_str(b, LK_TOPIC_PREFIX);
	lk_topic_put_table(b, schema, table);
	if (key)
	{
		lk_buf_put_u8(b, ':');
		lk_buf_put(b, key->p, key->len);
	}
}

static lk_code
topic_error(lk_error *err, const char *detail)
{
	return lk_fail(err, LK_ERR_SYNTAX, "invalid topic", "%s", detail);
}

/* Unescape s into b; false on an escape other than the three. */
static bool
put_unescaped(lk_buf *b, lk_str s)
{
	for (uint32_t i = 0; i < s.len; i++)
	{
		if (s.p[i] != '%')
		{
			lk_buf_put_u8(b, (uint8_t) s.p[i]);
			continue;
		}
		if (i + 2 >= s.len)
			return false;
		if (s.p[i + 1] == '2' && s.p[i + 2] == '5')
			lk_buf_put_u8(b, '%');
		else if (s.p[i + 1] == '2' && s.p[i + 2] == 'E')
			lk_buf_put_u8(b, '.');
		else if (s.p[i + 1] == '3' && s.p[i + 2] == 'A')
			lk_buf_put_u8(b, ':');
		else
			return false;
		i += 2;
	}
	return true;
}

lk_code
lk_topic_parse(lk_str topic, lk_buf *names, lk_topic *out, lk_error *err)
{
	const size_t plen = sizeof(LK_TOPIC_PREFIX) - 1;
	const char *rest,
			   *end,
			   *colon,
			   *dot;
	lk_str		schema,
				table;
	size_t		schema_at,
				table_at;

	if (topic.len < plen || memcmp(topic.p, LK_TOPIC_PREFIX, plen) != 0)
		return topic_error(err, "A topic starts with \"crdt:\".");
	rest = topic.p + plen;
	end = topic.p + topic.len;
	colon = memchr(rest, ':', (size_t) (end - rest));
	out->table_part = lk_str_make(rest, (size_t) ((colon ? colon : end) - rest));
	out->has_key = colon != NULL;
	out->key = colon ? lk_str_make(colon + 1, (size_t) (end - colon - 1)) : lk_str_make("", 0);

	dot = memchr(out->table_part.p, '.', out->table_part.len);
	if (dot)
	{
		schema = lk_str_make(out->table_part.p, (size_t) (dot - out->table_part.p));
		table = lk_str_make(dot + 1, out->table_part.len - schema.len - 1);
		if (memchr(table.p, '.', table.len))
			return topic_error(err, "A table is named <schema>.<name>, with any '.' in them written %2E.");
	}
	else
	{
		schema = lk_str_make("", 0);
		table = out->table_part;
	}
	if ((dot && schema.len == 0) || table.len == 0)
		return topic_error(err, "A topic names a table: crdt:<table> or crdt:<table>:<key>.");

	schema_at = names->len;
	if (!put_unescaped(names, schema))
		return topic_error(err, "In a table's name only %25, %2E and %3A are escapes.");
	table_at = names->len;
	if (!put_unescaped(names, table))
		return topic_error(err, "In a table's name only %25, %2E and %3A are escapes.");
	out->schema = dot ? lk_str_make((const char *) names->data + schema_at, table_at - schema_at) :
		lk_str_make("public", 6);
	/* one table, one topic: public's tables are named without their schema */
	if (dot && lk_str_eq(out->schema, lk_str_make("public", 6)))
		return topic_error(err, "A table of schema public is named without it.");
	out->table = lk_str_make((const char *) names->data + table_at, names->len - table_at);
	return LK_OK;
}
