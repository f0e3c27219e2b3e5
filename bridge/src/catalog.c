/*
 * catalog.c — tracked tables, their key and CRDT columns.
 */
#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lk_buf.h"
#include "lk_topic.h"
#include "xalloc.h"

/*
 * One row per (table, CRDT column), and at least one per tracked table: one
 * whose key or a recorded column was renamed or dropped since laniakea.track,
 * or whose laniakea_cl is gone, is stale (one row, its column fields NULL if
 * none is left).
 */
const char *const catalog_query =
"SELECT c.oid, n.nspname, c.relname, t.key_column, format_type(k.atttypid, k.atttypmod), "
"       a.attname, ty.typname, e.extnamespace::regnamespace::text, "
"       k.attname IS NULL "
"       OR cardinality(t.crdt_columns) <> count(a.attname) OVER (PARTITION BY c.oid) "
"       OR NOT EXISTS (SELECT FROM pg_attribute l WHERE l.attrelid = c.oid "
"                      AND l.attname = 'laniakea_cl' AND l.atttypid = 'bigint'::regtype "
"                      AND NOT l.attisdropped) "
"FROM laniakea.tracked t "
"JOIN pg_class c ON c.oid = t.tbl "
"JOIN pg_namespace n ON n.oid = c.relnamespace "
"LEFT JOIN pg_attribute k ON k.attrelid = c.oid AND k.attname = t.key_column "
"    AND NOT k.attisdropped "
"LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ANY (t.crdt_columns) "
"    AND NOT a.attisdropped "
"LEFT JOIN pg_type ty ON ty.oid = a.atttypid "
"CROSS JOIN pg_extension e "
"WHERE e.extname = 'laniakea' "
"ORDER BY c.oid, a.attnum";

/*
 * A key's tombstone: its greatest deletion, filed under the name
 * laniakea.tracked keeps for the table (it follows renames).  KEY is the
 * key's canonical text; the comparisons are in the tombstones' collation.
 */
#define TOMBSTONE_OF(KEY) \
	"(SELECT max(ts.cl) FROM laniakea.tombstones ts, laniakea.tracked tr " \
	"WHERE tr.tbl = %u::oid::regclass AND ts.nsp = tr.nsp::text COLLATE \"C\" " \
	"AND ts.rel = tr.rel::text COLLATE \"C\" AND ts.key = " KEY " COLLATE \"C\")"

/*
 * The snapshot a read used, last in every row read: the WAL source merges
 * into a read the changes it received that the snapshot does not see
 * (recent.h).  A scalar subquery, computed once per read.
 */
#define READ_SNAPSHOT "(SELECT pg_catalog.pg_current_snapshot()::text)"

static table *tables;
static int	ntables;
static char *ext_schema;
static bool loaded;

typedef struct retired_catalog
{
	table	   *tables;
	struct retired_catalog *next;
} retired_catalog;

static retired_catalog *retired;	/* replaced catalogs that topics may still use */

static char *
quote_ident(const char *s)
{
	size_t		n = strlen(s);
	char	   *q = xmalloc(2 * n + 3),
			   *p = q;

	*p++ = '"';
	for (; *s; s++)
	{
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

/* <table> of the topics of nsp.rel (lk_topic.h), malloc'd. */
static char *
topic_table(const char *nsp, const char *rel)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_std_alloc, strlen(nsp) + strlen(rel) + 8);
	lk_topic_put_table(&b, lk_str_make(nsp, strlen(nsp)), lk_str_make(rel, strlen(rel)));
	lk_buf_put_u8(&b, '\0');
	return (char *) b.data;
}

static lk_kind
kind_named(const char *typname)
{
	for (lk_kind k = LK_GCOUNTER; k <= LK_KIND_MAX; k++)
		if (strcmp(lk_kind_name(k), typname) == 0)
			return k;
	return 0;
}

static void
finish_table(table *t)
{
	lk_buf		cols,
				nulls;

	for (int i = 0; i < t->ncol; i++)
		if (!t->cols[i].kind)
			t->stale = true;	/* a column's type changed to another type */
	if (t->stale)
		return;					/* never queried: joins are refused */

	/* "r".col::text, …: qualified, since the read of one row joins another relation */
	lk_buf_init(&cols, &lk_std_alloc, 64);
	for (int i = 0; i < t->ncol; i++)
	{
		lk_buf_put_str(&cols, i ? ", r." : "r.");
		lk_buf_put_str(&cols, t->cols[i].ident);
		lk_buf_put_str(&cols, "::text");
	}
	lk_buf_put_u8(&cols, '\0');
	lk_buf_init(&nulls, &lk_std_alloc, 64);
	for (int i = 0; i < t->ncol; i++)
		lk_buf_put_str(&nulls, "NULL, ");
	lk_buf_put_u8(&nulls, '\0');

	/*
	 * The key's canonical text comes first so that a join can be refused a
	 * key written otherwise (one row, one topic) in the read it needs anyway.
	 * The bridge's session has the settings key_text pins (db.c), so key::text
	 * and $1::type agree with it.
	 */
	t->select_row = xasprintf("SELECT k.t, r.laniakea_cl, CASE WHEN r.laniakea_cl IS NULL THEN "
						   TOMBSTONE_OF("k.t") " END, %s, " READ_SNAPSHOT " "
						   "FROM (SELECT laniakea.key_text(%u::oid::regclass, $1) AS t) k "
						   "LEFT JOIN %s r ON r.%s = $1::%s",
						   t->oid, (char *) cols.data, t->oid, t->ident, t->key_ident, t->key_type);
	t->select_all = xasprintf("(SELECT r.%s::text, r.laniakea_cl, %s, NULL FROM %s r ORDER BY 1 LIMIT $1::int) "
						   "UNION ALL SELECT NULL, NULL, %s" READ_SNAPSHOT,
						   t->key_ident, (char *) cols.data, t->ident, (char *) nulls.data);
	t->select_keys = xasprintf("SELECT h.k, r.laniakea_cl, CASE WHEN r.laniakea_cl IS NULL THEN "
							TOMBSTONE_OF("h.k") " END, %s, " READ_SNAPSHOT " "
							"FROM jsonb_array_elements_text($1::jsonb) h(k) "
							"LEFT JOIN %s r ON r.%s = h.k::%s",
							t->oid, (char *) cols.data, t->ident, t->key_ident, t->key_type);
	/* keys from clients: compared as text, never parsed, so none is an error */
	t->select_tombs = xasprintf("SELECT h.k, " TOMBSTONE_OF("h.k") " "
							 "FROM jsonb_array_elements_text($1::jsonb) h(k)", t->oid);
	lk_free(&lk_std_alloc, cols.data);
	lk_free(&lk_std_alloc, nulls.data);
}

static void
free_tables(table *ts, int nt)
{
	for (int i = 0; i < nt; i++)
	{
		for (int k = 0; k < ts[i].ncol; k++)
		{
			free(ts[i].cols[k].name);
			free(ts[i].cols[k].ident);
		}
		free(ts[i].cols);
		free(ts[i].name);
		free(ts[i].ident);
		free(ts[i].key_ident);
		free(ts[i].key_name);
		free(ts[i].key_type);
		free(ts[i].select_row);
		free(ts[i].select_all);
		free(ts[i].select_keys);
		free(ts[i].select_tombs);
	}
	free(ts);
}

/* Same tables, keys and columns?  (The SQL texts hold every identifier.) */
static bool
same_tables(const table *a, int na, const table *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
	{
		if (a[i].oid != b[i].oid || a[i].stale != b[i].stale || strcmp(a[i].name, b[i].name) != 0 ||
			a[i].ncol != b[i].ncol ||
			(!a[i].stale && (strcmp(a[i].select_row, b[i].select_row) != 0 ||
							 strcmp(a[i].select_all, b[i].select_all) != 0)))
			return false;
		for (int k = 0; k < a[i].ncol; k++)
			if (strcmp(a[i].cols[k].name, b[i].cols[k].name) != 0 ||
				a[i].cols[k].kind != b[i].cols[k].kind)
				return false;
	}
	return true;
}

bool
catalog_load(PGresult *res)
{
	int			n = PQntuples(res);
	table	   *ts = xcalloc(n ? n : 1, sizeof(table));
	int			nt = 0;
	const char *last_oid = NULL;

	if (PQnfields(res) != 9)
	{
		free(ts);
		return false;
	}
	for (int r = 0; r < n; r++)
	{
		const char *oid = db_value(res, r, 0);
		const char *nsp = db_value(res, r, 1);
		const char *rel = db_value(res, r, 2);
		table	   *t;
		column	   *c;

		if (!last_oid || strcmp(oid, last_oid) != 0)
		{
			char	   *qn = quote_ident(nsp),
					   *qr = quote_ident(rel);

			if (nt > 0)
				finish_table(&ts[nt - 1]);
			t = &ts[nt++];
			t->oid = (Oid) strtoul(oid, NULL, 10);
			t->name = topic_table(nsp, rel);
			t->ident = xasprintf("%s.%s", qn, qr);
			t->key_ident = quote_ident(db_value(res, r, 3));
			t->key_name = xstrdup(db_value(res, r, 3));
			t->key_type = xstrdup(db_value(res, r, 4) ? db_value(res, r, 4) : "");
			t->stale = strcmp(db_value(res, r, 8), "t") == 0;
			t->cols = xcalloc(n, sizeof(column));
			free(qn);
			free(qr);
			last_oid = oid;
		}
		t = &ts[nt - 1];
		free(ext_schema);
		ext_schema = xstrdup(db_value(res, r, 7));
		if (!db_value(res, r, 5))
			continue;			/* a stale table without columns */
		c = &t->cols[t->ncol++];
		c->name = xstrdup(db_value(res, r, 5));
		c->ident = quote_ident(c->name);
		c->kind = kind_named(db_value(res, r, 6));
	}
	if (nt > 0)
		finish_table(&ts[nt - 1]);

	/*
	 * A reconnect usually reads the same catalog again: keep the one rows and
	 * channels point at instead of a copy per reconnect.  A changed catalog
	 * replaces it, and the old one is retired, not freed: a row read or a
	 * reference fetch still under way may point at its tables.  Catalogs
	 * change rarely (a table tracked, untracked or altered), so the retired
	 * ones stay small.
	 */
	if (loaded && same_tables(tables, ntables, ts, nt))
	{
		free_tables(ts, nt);
		return true;
	}
	if (loaded)
	{
		retired_catalog *old = xmalloc(sizeof(retired_catalog));

		old->tables = tables;
		old->next = retired;
		retired = old;
	}
	tables = ts;
	ntables = nt;
	loaded = true;
	return true;
}

bool
catalog_ready(void)
{
	return loaded;
}

table *
catalog_find(const char *name)
{
	for (int i = 0; i < ntables; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

int
catalog_column(const table *t, const char *name)
{
	for (int i = 0; i < t->ncol; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

const char *
catalog_ext(void)
{
	return ext_schema ? ext_schema : "public";
}
