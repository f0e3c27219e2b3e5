/*
 * catalog.h — the tracked tables the bridge may expose, read from
 * laniakea.tracked when PostgreSQL becomes ready.
 *
 * A table is named as in its topics and in the extension's NOTIFY payloads
 * ("table"): <table> of lk_topic.h, schema-qualified unless in public, with
 * '%', '.' and ':' escaped.  SQL text is built here from catalog identifiers
 * only (quoted); client input only ever travels as parameters.
 */
#ifndef BRIDGE_CATALOG_H
#define BRIDGE_CATALOG_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "lk_state.h"

typedef struct column
{
	char	   *name;
	char	   *ident;			/* quoted identifier */
	lk_kind		kind;
} column;

typedef struct table
{
	Oid			oid;			/* a table dropped and created again is another table */
	char	   *name;			/* as in topics: "counters", "app.items", "a%2Eb" */
	char	   *ident;			/* quoted, schema-qualified */
	char	   *key_ident;
	char	   *key_name;		/* the key column's name */
	char	   *key_type;		/* format_type of the key column */
	int			ncol;
	column	   *cols;
	/*
	 * $1 = key: the key's canonical text (laniakea.key_text: an error when it
	 * does not parse), the row's laniakea_cl, the key's tombstone (when there
	 * is no row), then one text column per CRDT column, then the read's
	 * snapshot (ROW_SNAPSHOT).  Always one row.
	 */
	char	   *select_row;
	/*
	 * Key text, laniakea_cl, the CRDT columns, NULL; LIMIT $1; then one row
	 * of NULLs but for the read's snapshot, last (ALL_SNAPSHOT).
	 */
	char	   *select_all;
	char	   *select_keys;		/* $1 = JSON array of canonical keys: select_row's columns for each */
	char	   *select_tombs;	/* $1 = JSON array of keys (any text): key, tombstone or NULL */

	/*
	 * Tracked, but its key or a recorded column was renamed, dropped or given
	 * another type since laniakea.track, or laniakea_cl is gone: not served
	 * (no SQL) until tracked again.
	 */
	bool		stale;
} table;

/* The columns of select_row's result before the CRDT columns. */
#define ROW_KEY 0
#define ROW_CL 1
#define ROW_TOMB 2
#define ROW_COLS 3
/* After them, in select_row and select_keys: the read's snapshot (pg_current_snapshot). */
#define ROW_SNAPSHOT(t) (ROW_COLS + (t)->ncol)
/* select_all's columns: key, laniakea_cl, the CRDT columns from 2, the snapshot. */
#define ALL_COLS 2
#define ALL_SNAPSHOT(t) (ALL_COLS + (t)->ncol)

/* The query whose result catalog_load takes. */
extern const char *const catalog_query;

/* Replace the catalog with a query result; false if it has the wrong shape. */
bool		catalog_load(PGresult *res);

/* Has a catalog been loaded since startup?  Until then no topic is known. */
bool		catalog_ready(void);

table	   *catalog_find(const char *name);
int			catalog_column(const table *t, const char *name);

/* The schema-qualified, quoted name of an extension type or function ("ext".name). */
const char *catalog_ext(void);

#endif
