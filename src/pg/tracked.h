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

typedef struct tracked_rel
{
	Oid			relid;			/* hash key */
	bool		valid;
	AttrNumber	key_attnum;
	Oid			key_type;
	Oid			pk_index;
	RegProcedure key_eq_proc;	/* btree equality of the key type */
	FmgrInfo	key_out;		/* the key type's output function */
	int			ncrdt;
	tracked_column *crdt;		/* in attnum order */
	char	   *name;			/* relation name, schema-qualified unless public */
	char	   *name_json;		/* the same as a JSON string literal */
	SPIPlanPtr	upsert;			/* made on first use, see merge_trigger.c */
} tracked_rel;

/*
 * The entry for rel, built on first use.  Errors (with SQLSTATE) when rel has
 * no single-column primary key or no CRDT column.
 */
tracked_rel *tracked_rel_get(Relation rel);

/* The CRDT kind of a column type, or 0 for any other type. */
lk_kind		tracked_kind_of(Oid typid);

/* The key of a row as text (its type's output function). */
char	   *tracked_key_text(tracked_rel *tr, HeapTuple tuple, TupleDesc desc);

#endif
