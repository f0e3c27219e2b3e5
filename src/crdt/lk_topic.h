/*
 * lk_topic.h — the names of channels: one per table, one per row.
 *
 *   crdt:<table>          a table
 *   crdt:<table>:<key>    a row; <key> is the key's text, as it is
 *
 * <table> is the relation's name, written <schema>.<name> unless the schema is
 * public.  In the schema and the name, '%', '.' and ':' are written %25, %2E
 * and %3A; nothing else is escaped (quotes, spaces and non-ASCII stay as they
 * are).  So every table has one topic and every topic one table: a table "a.b"
 * of schema public is crdt:a%2Eb, table b of schema a is crdt:a.b, and the
 * first ':' after the table ends it, whatever the key holds.  A name without
 * those three characters reads as it is: crdt:counters:42, crdt:app.items:a.
 *
 * The database (notify trigger), the bridge and the client all name topics
 * through this file, so that they agree byte for byte.
 */
#ifndef LK_TOPIC_H
#define LK_TOPIC_H

#include <stdbool.h>

#include "lk_buf.h"
#include "lk_error.h"
#include "lk_str.h"

#define LK_TOPIC_PREFIX "crdt:"

/* <table>: the escaped name, schema-qualified unless schema is "public". */
void		lk_topic_put_table(lk_buf *b, lk_str schema, lk_str table);

/* crdt:<table>, and :<key> when key is not NULL. */
void		lk_topic_put(lk_buf *b, lk_str schema, lk_str table, const lk_str *key);

typedef struct lk_topic
{
	lk_str		schema;			/* "public" when the topic names none */
	lk_str		table;
	lk_str		table_part;		/* <table> as written in the topic (escaped) */
	bool		has_key;
	lk_str		key;			/* borrowed from the topic */
} lk_topic;

/*
 * Read a topic.  The unescaped schema and table are written into names
 * (which the caller owns and frees; out points into it and into topic).
 * Errors (LK_ERR_SYNTAX with a message): not a crdt: topic, an empty schema
 * or table name, a second '.', an escape other than %25, %2E, %3A.
 */
lk_code		lk_topic_parse(lk_str topic, lk_buf *names, lk_topic *out, lk_error *err);

#endif
