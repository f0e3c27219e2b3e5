/*
 * tracked.h — what the triggers need to know about a tracked table, cached
 * per backend.
 *
 * Everything is derived from the relation itself (its primary key, the types
 * of its columns), never from laniakea.tracked, so the triggers stay right
 * after ALTER TABLE and in a replication apply worker, which has an empty
 * search_path.  Entries are dropped on relcache invalidation.
 */
#ifndef LK_TRACKED_H
#define LK_TRACKED_H

#include "lk_pg.h"

#include "executor/spi.h"
#include "utils/rel.h"

typedef struct tracked_column
{
	AttrNumber	attnum;
	lk_kind		kind;
	char	   *json_name;		/* the column name as a JSON string literal */
} tracked_column;

/* The column laniakea.track adds: the row's causal length (docs/replication.md) */
#define TRACKED_CL_COLUMN "laniakea_cl"
/* Far above any count of deletions, and far enough below INT64_MAX to add to */
#define TRACKED_CL_MAX (INT64CONST(1) << 62)
/* Bytes of a key's text: its tombstone's index entry must fit a btree page */
#define TRACKED_KEY_MAX 2048

typedef struct tracked_rel
{
	Oid			relid;			/* hash key */
	bool		valid;
	uint32		generation;		/* changes whenever the entry is rebuilt */
	MemoryContext cxt;			/* everything below lives here; dropped on rebuild */
	AttrNumber	key_attnum;
	Oid			key_type;
	Oid			pk_index;
	RegProcedure key_eq_proc;	/* btree equality of the key type */
	FmgrInfo	key_out;		/* the key type's output function */
	bool		key_plain;		/* its text depends on no setting */
	int			ncrdt;
	tracked_column *crdt;		/* in attnum order */
	AttrNumber	cl_attnum;		/* laniakea_cl; 0 if the table lacks it */
	char	   *nspname;		/* schema and relation name: a tombstone's address */
	char	   *relname;
	char	   *display_name;	/* for messages: schema-qualified unless public */
	char	   *topic_table;	/* <table> of its topics, escaped (lk_topic.h) */
	char	   *topic_table_json;	/* the same as a JSON string literal */
	SPIPlanPtr	upsert;			/* made on first use, see merge_trigger.c */
	SPIPlanPtr	purge;			/* made on first use, see tombstone.c */
} tracked_rel;

/*
 * The entry for rel, built on first use.  Errors (with SQLSTATE) when rel has
 * no single-column primary key or no CRDT column.
 */
tracked_rel *tracked_rel_get(Relation rel);

/* <table> of the topics of relation rel in schema nsp (lk_topic.h), palloc'd. */
char	   *tracked_topic_table(const char *nsp, const char *rel);

/* The CRDT kind of a column type, or 0 for any other type. */
lk_kind		tracked_kind_of(Oid typid);

/*
 * The key of a row as text: its type's output function under the canonical
 * settings, so every session and node prints one key alike.  Errors (54000)
 * past TRACKED_KEY_MAX bytes.  "" for a NULL key.
 */
char	   *tracked_key_text(tracked_rel *tr, HeapTuple tuple, TupleDesc desc);
char	   *tracked_key_out(tracked_rel *tr, Datum key);

/*
 * Pin the settings that change how values print and parse (DateStyle,
 * TimeZone, ...) to fixed values until tracked_unpin_settings(nest).
 */
int			tracked_pin_settings(void);
void		tracked_unpin_settings(int nest);

/* An error when the table has no laniakea_cl column (tracked by an old version). */
void		tracked_require_cl(tracked_rel *tr);

/*
 * The causal length of a row, 0 when the column is NULL (an INSERT that left
 * it to the trigger).  Errors as tracked_require_cl, and when it is not
 * positive.
 */
int64		tracked_row_cl(tracked_rel *tr, HeapTuple tuple, TupleDesc desc);

#endif
