/*
 * hub.c — topics, the rows the bridge keeps, and the path from NOTIFY to
 * subscribers.
 *
 * A row's cells are the join of its snapshot and every delta since, in
 * whatever order they came: the LISTEN is up before any snapshot is read, so
 * nothing committed after a read can be missed, and what is seen twice
 * merges away.  Deltas are decoded once per notification and encoded into
 * one shared frame per topic; each subscriber gets that frame or, when it is
 * behind or throttled, a merge into its pending state (session.c).
 *
 * Deletes: a row's cells are those of one incarnation, its causal length
 * (row.cl).  What comes with a greater one replaces the cells (deltas are
 * then whole states), what comes with a smaller one is stale and dropped,
 * and a deletion empties the row and is sent as a "delete" event.  A read
 * is at least as new as every notification processed before its result:
 * PostgreSQL sends notifications only between transactions, so those that
 * arrive while a query runs were committed before its snapshot.  A read
 * that finds no row therefore deletes the row the bridge holds (at the
 * key's tombstone, or one above the row's causal length if it was
 * collected).
 *
 * The catalog (laniakea.tracked) is read when PostgreSQL becomes ready, when
 * a NOTIFY on laniakea_catalog says it changed, and before a join of a table
 * it does not hold is refused.  When a table's layout changed or it is no
 * longer tracked, its rows and table topic leave the maps (they become
 * orphans, freed once no read is under way on them); subscribers are told
 * (session.c, channel_retired) and joins not answered yet start over.
 */
#include "bridge.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "arena.h"
#include "db.h"
#include "fragment.h"
#include "lk_json.h"
#include "metrics.h"
#include "wire.h"

static map	rows;				/* row topic → row */
static map	tabs;				/* table topic → tab */
static uint64_t read_stamp;		/* table reads so far: which rows the last one listed */

/*
 * A read of the tombstones of the keys a table join's have names (the join
 * waits for it), or a read of rows the bridge holds (rows: held through
 * refs) with their tombstones: those a table read did not list (tab_subs:
 * their table topic's subscribers are resent what is found too), or those
 * of a table a notification says to read again.  ch is NULL once the join's
 * channel is gone.
 */
typedef struct tomb_read
{
	channel    *ch;
	row		  **rows;
	size_t		nrows;
	bool		tab_subs;
} tomb_read;

typedef struct ptr_list
{
	void	  **v;
	size_t		n,
				cap;
} ptr_list;

static void
ptr_push(ptr_list *l, void *p)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(void *));
	}
	l->v[l->n++] = p;
}

map *
hub_rows(void)
{
	return &rows;
}

void
hub_init(void)
{
	map_init(&rows);
	map_init(&tabs);
}

/*
 * Catalog reads: one at a time.  A join of an unknown table waits for a read
 * queued after it arrived, so one asked for while another is under way waits
 * for the next (catalog_again).
 */
static bool catalog_reading;
static bool catalog_again;
static lws_dll2_owner_t catalog_wait;	/* joins the read under way answers */
static lws_dll2_owner_t catalog_wait_next;	/* joins for the next read */

static void catalog_loaded(void *arg, PGresult *res, const char *error);

/* catalog_loaded's argument after a (re)connection: the subscribed rows are read again */
#define RESYNC ((void *) 1)

static void
read_catalog(bool resync)
{
	if (catalog_reading)
	{
		catalog_again = true;
		return;
	}
	catalog_reading = true;
	db_query(catalog_query, 0, NULL, catalog_loaded, resync ? RESYNC : NULL);
}

void
hub_await_catalog(channel *ch)
{
	if (catalog_reading)
	{
		lws_dll2_add_tail(&ch->topic_link, &catalog_wait_next);
		catalog_again = true;
		return;
	}
	lws_dll2_add_tail(&ch->topic_link, &catalog_wait);
	read_catalog(false);
}

void
hub_on_catalog(const char *payload)
{
	read_catalog(false);
}

static char *
topic_of(const table *t, const char *key)
{
	return key ? xasprintf("crdt:%s:%s", t->name, key) : xasprintf("crdt:%s", t->name);
}

static row *
row_get(table *t, const char *key, bool create)
{
	char	   *topic = topic_of(t, key);
	row		   *r = map_get(&rows, topic);

	if (!r && create)
	{
		r = xcalloc(1, sizeof(row));
		r->topic = topic;
		r->t = t;
		r->key = xstrdup(key);
		r->cells = xcalloc(t->ncol, sizeof(cell));
		map_put(&rows, topic, r);
		return r;
	}
	free(topic);
	return r;
}

row *
hub_row(table *t, const char *key)
{
	return row_get(t, key, false);
}

static void
row_maybe_free(row *r)
{
	if (r->subs.count || r->waiting.count || r->pinned || r->loading || r->retiring || r->refs)
		return;
	if (!r->orphan)
		map_del(&rows, r->topic);
	fragment_free_all(r);
	for (int i = 0; i < r->t->ncol; i++)
		cell_clear(&r->cells[i]);
	free(r->cells);
	free(r->key);
	free(r->topic);
	free(r);
}

void
hub_row_unref(row *r)
{
	r->refs--;
	row_maybe_free(r);
}

static tab *
tab_get(table *t, bool create)
{
	char	   *topic = topic_of(t, NULL);
	tab		   *tb = map_get(&tabs, topic);

	if (!tb && create)
	{
		tb = xcalloc(1, sizeof(tab));
		tb->topic = topic;
		tb->t = t;
		map_put(&tabs, topic, tb);
		return tb;
	}
	free(topic);
	return tb;
}

static bool
tab_active(const tab *tb)
{
	return tb && (tb->subs.count || tb->waiting.count);
}

static void
tab_maybe_free(tab *tb)
{
	if (tab_active(tb) || tb->loading || tb->retiring)
		return;
	if (!tb->orphan)
		map_del(&tabs, tb->topic);
	free(tb->topic);
	free(tb);
}

static bool
is_alive(int64_t cl)
{
	return cl % 2 == 1;
}

/* A causal length from a result's text (NULL: none, 0). */
static int64_t
cl_value(PGresult *res, int tuple, int col)
{
	const char *v = db_value(res, tuple, col);

	return v ? strtoll(v, NULL, 10) : 0;
}

static void
clear_cells(row *r)
{
	for (int i = 0; i < r->t->ncol; i++)
		cell_clear(&r->cells[i]);
}

/* A JSON array of keys, as the tombstone and row reads take them (malloc'd). */
static char *
keys_json(const char *const *keys, size_t n)
{
	json_t	   *a = json_array();
	char	   *text;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(keys[i]));
	text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return text;
}

/* Merge a row's column texts (one result row) into its cells. */
static void
merge_texts(row *r, PGresult *res, int tuple, int first_col)
{
	arena	   *a = arena_new();

	for (int i = 0; i < r->t->ncol; i++)
	{
		const char *text = db_value(res, tuple, first_col + i);
		lk_state	s;
		lk_error	err;

		if (text && lk_state_parse(r->t->cols[i].kind, text, strlen(text), arena_alloc(a), &s,
								   &err) == LK_OK)
			cell_merge(&r->cells[i], r->t->cols[i].kind, &s, arena_alloc(a));
	}
	r->version++;
	arena_free(a);
}

static const char *
result_error(PGresult *res, const char *error, ExecStatusType want)
{
	if (!res)
		return error ? error : "database unavailable";
	if (PQresultStatus(res) != want)
		return "database error";
	return NULL;
}

static void tombs_read(void *arg, PGresult *res, const char *error);

/*
 * Answer a join whose topic is loaded (ch is on its subscribers' list, not
 * joined yet, so no event goes to it): now, or once the tombstones of the
 * keys a table join's have names that the bridge does not hold as existing
 * are read, so that a client that was away learns of their deletion.
 */
static void
answer(channel *ch)
{
	const char *key;
	json_t	   *v;
	const char **keys;
	size_t		n = 0;

	if (!ch->tb || !ch->have || json_object_size(ch->have) == 0)
	{
		channel_joined(ch, NULL);
		return;
	}
	keys = xmalloc(json_object_size(ch->have) * sizeof(char *));
	json_object_foreach(ch->have, key, v)
	{
		row		   *r = row_get(ch->tb->t, key, false);

		if (!r || !is_alive(r->cl))
			keys[n++] = key;
	}
	if (n == 0)
		channel_joined(ch, NULL);
	else
	{
		char	   *json = keys_json(keys, n);

		ch->tombs = xcalloc(1, sizeof(tomb_read));
		ch->tombs->ch = ch;
		db_query(ch->tb->t->select_tombs, 1, (const char *const *) &json, tombs_read, ch->tombs);
		free(json);
	}
	free(keys);
}

static void
tombs_read(void *arg, PGresult *res, const char *error)
{
	tomb_read  *tr = arg;
	channel    *ch = tr->ch;
	const char *why = result_error(res, error, PGRES_TUPLES_OK);
	map			tombs;

	free(tr);
	if (!ch)
		return;					/* the channel is gone */
	ch->tombs = NULL;
	if (why)
	{
		channel_join_failed(ch, why);
		return;
	}
	map_init(&tombs);
	for (int i = 0; i < PQntuples(res); i++)
		if (cl_value(res, i, 1))
			map_put(&tombs, db_value(res, i, 0), (void *) (intptr_t) cl_value(res, i, 1));
	channel_joined(ch, &tombs);
	map_clear(&tombs);
	free(tombs.buckets);
}

/* Channels waiting on a load: reply now (or fail them). */
static void
finish_waiting(lws_dll2_owner_t *waiting, lws_dll2_owner_t *subs, const char *error)
{
	while (waiting->head)
	{
		channel    *ch = lws_container_of(waiting->head, channel, topic_link);

		lws_dll2_remove(&ch->topic_link);
		if (error)
		{
			channel_join_failed(ch, error);
			continue;
		}
		lws_dll2_add_tail(&ch->topic_link, subs);
		answer(ch);
	}
}

static void
resync_subs(lws_dll2_owner_t *subs, row *r)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, subs->head)
	{
		channel_resync(lws_container_of(d, channel, topic_link), r);
	}
	lws_end_foreach_dll_safe(d, d1);
}

/* The shared frame [null,null,topic,"delete",{"key":…,"cl":…}]. */
static frame *
delete_frame(const char *topic, const row *r)
{
	lk_buf		b;
	frame	   *f;

	lk_buf_init(&b, &lk_std_alloc, 128);
	wire_begin(&b, NULL, NULL, topic, "delete");
	lk_buf_put_str(&b, "{\"key\":");
	wire_string(&b, r->key);
	lk_buf_put_str(&b, ",\"cl\":");
	lk_buf_put_int(&b, r->cl);
	lk_buf_put_str(&b, "}");
	wire_end(&b);
	f = frame_from_buf(&b);
	lk_free(&lk_std_alloc, b.data);
	return f;
}

static void
deliver_deleted(lws_dll2_owner_t *subs, row *r, frame *f)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, subs->head)
	{
		channel_deleted(lws_container_of(d, channel, topic_link), r, f);
	}
	lws_end_foreach_dll_safe(d, d1);
}

/*
 * r is deleted at causal length cl (> r->cl): empty it and tell its row
 * topic's subscribers and, if the row existed, its table topic's.  The
 * caller frees r if nothing holds it any more.
 */
static void
delete_row(row *r, int64_t cl)
{
	tab		   *tb = r->orphan ? NULL : tab_get(r->t, false);
	bool		existed = is_alive(r->cl);
	frame	   *f;

	clear_cells(r);
	r->cl = cl;
	r->version++;
	r->pinned = false;
	if (existed)
		M.deletes_total++;
	if (r->subs.count)
	{
		f = delete_frame(r->topic, r);
		deliver_deleted(&r->subs, r, f);
		frame_unref(f);
	}
	if (existed && tb && tb->subs.count)
	{
		f = delete_frame(tb->topic, r);
		deliver_deleted(&tb->subs, r, f);
		frame_unref(f);
	}
}

/*
 * A read found no row of r's key; cl is its tombstone (0: none).  The row
 * the bridge holds, if any, is deleted: at the tombstone, or one above its
 * own causal length when the tombstone is older or was collected.
 */
static void
read_gone(row *r, int64_t cl)
{
	if (is_alive(r->cl))
		delete_row(r, cl > r->cl ? cl : r->cl + 1);
	else if (cl > r->cl)
		delete_row(r, cl);
}

typedef enum read_outcome
{
	READ_GONE,					/* no row: r is deleted (or never existed) */
	READ_STALE,					/* of an incarnation before r's: ignored */
	READ_MERGED,				/* the same incarnation: merged */
	READ_NEWER					/* a later incarnation: it replaced r's cells */
} read_outcome;

/*
 * Take a read of r: its causal length cl (the row's, or the tombstone's when
 * even or 0) and, for a row, its column texts from first_col on.
 */
static read_outcome
take_read(row *r, int64_t cl, PGresult *res, int tuple, int first_col)
{
	read_outcome out = READ_MERGED;

	if (!is_alive(cl))
	{
		read_gone(r, cl);
		return READ_GONE;
	}
	if (cl < r->cl)
		return READ_STALE;
	if (cl > r->cl)
	{
		clear_cells(r);
		r->cl = cl;
		out = READ_NEWER;
	}
	merge_texts(r, res, tuple, first_col);
	return out;
}

/* The join error of a row read that failed, and what a client can do about it. */
static const char *
row_read_error(PGresult *res, const char *error)
{
	const char *state;

	if (!res)
		return error ? error : "database unavailable";
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return PQntuples(res) == 1 ? NULL : "database error";
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	/* laniakea.key_text: a key its type does not parse (22…), or too long (54000) */
	if (state && (strncmp(state, "22", 2) == 0 || strcmp(state, "54000") == 0))
		return "invalid key";
	return "database error";
}

static void
row_loaded(void *arg, PGresult *res, const char *error)
{
	row		   *r = arg;
	const char *why = row_read_error(res, error);
	char	   *canonical = NULL;

	if (!why && strcmp(db_value(res, 0, ROW_KEY), r->key) != 0)
	{
		/* one row, one topic: a key written otherwise is refused, naming its form */
		canonical = xasprintf("key is not in canonical form: \"%s\"", db_value(res, 0, ROW_KEY));
		why = canonical;
	}
	/* an orphan's read is of a table the catalog no longer has, and nobody waits for it */
	if (!why && !r->orphan)
	{
		tab		   *tb = tab_get(r->t, false);

		switch (take_read(r, cl_value(res, 0, ROW_CL) ? cl_value(res, 0, ROW_CL) :
						  cl_value(res, 0, ROW_TOMB), res, 0, ROW_COLS))
		{
			case READ_MERGED:
			case READ_NEWER:
				if (tab_active(tb))
					r->pinned = true;
				resync_subs(&r->subs, r);
				break;
			case READ_GONE:
			case READ_STALE:
				break;
		}
		r->loaded = true;
	}

	/*
	 * r->loading stays set while the waiters are answered: a failed join
	 * frees its channel, whose hub_detach would otherwise free r in the
	 * middle of the walk (the load fails at once while PostgreSQL is down).
	 */
	finish_waiting(&r->waiting, &r->subs, why);
	free(canonical);
	r->loading = false;
	row_maybe_free(r);
}

static void
load_row(row *r)
{
	const char *params[1] = {r->key};

	if (r->loading)
		return;
	r->loading = true;
	db_query(r->t->select_row, 1, params, row_loaded, r);
}

/* Rows the bridge holds, read again in a single query (reread). */
static void
reread_done(void *arg, PGresult *res, const char *error)
{
	tomb_read  *tr = arg;
	map			found;

	map_init(&found);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		for (int i = 0; i < PQntuples(res); i++)
			map_put(&found, db_value(res, i, ROW_KEY), (void *) (intptr_t) (i + 1));
	for (size_t i = 0; i < tr->nrows; i++)
	{
		row		   *r = tr->rows[i];
		intptr_t	tuple = (intptr_t) map_get(&found, r->key) - 1;

		/* unread (the query failed): the next resync reads it */
		if (tuple >= 0 && !r->orphan)
		{
			read_outcome out = take_read(r, cl_value(res, (int) tuple, ROW_CL) ?
										 cl_value(res, (int) tuple, ROW_CL) :
										 cl_value(res, (int) tuple, ROW_TOMB),
										 res, (int) tuple, ROW_COLS);

			if (out == READ_NEWER || out == READ_MERGED)
			{
				tab		   *tb = tab_get(r->t, false);

				if (tab_active(tb))
				{
					r->pinned = true;
					if (tr->tab_subs)
						resync_subs(&tb->subs, r);
				}
				resync_subs(&r->subs, r);
			}
		}
		hub_row_unref(r);
	}
	map_clear(&found);
	free(found.buckets);
	free(tr->rows);
	free(tr);
}

/*
 * Read the rows (of table t) again, and the tombstones of those gone, in one
 * query; each is held (refs) until the answer.  Their subscribers are sent
 * state or delete; tab_subs: their table topic's subscribers too.
 */
static void
reread(const table *t, ptr_list *l, bool tab_subs)
{
	tomb_read  *tr;
	const char **keys;
	char	   *json;

	if (l->n == 0)
	{
		free(l->v);
		return;
	}
	tr = xcalloc(1, sizeof(tomb_read));
	tr->rows = (row **) l->v;
	tr->nrows = l->n;
	tr->tab_subs = tab_subs;
	keys = xmalloc(l->n * sizeof(char *));
	for (size_t i = 0; i < l->n; i++)
	{
		tr->rows[i]->refs++;
		keys[i] = tr->rows[i]->key;
	}
	json = keys_json(keys, l->n);
	free(keys);
	db_query(t->select_keys, 1, (const char *const *) &json, reread_done, tr);
	free(json);
}

typedef struct missing_ctx
{
	const table *t;
	uint64_t	stamp;
	ptr_list   *out;
} missing_ctx;

static void
collect_missing(const char *key, void *value, void *arg)
{
	row		   *r = value;
	missing_ctx *mc = arg;

	if (r->t == mc->t && is_alive(r->cl) && r->seen != mc->stamp)
		ptr_push(mc->out, r);
}

static void
tab_loaded(void *arg, PGresult *res, const char *error)
{
	tab		   *tb = arg;
	const char *why = result_error(res, error, PGRES_TUPLES_OK);

	if (!why && PQntuples(res) > CFG.max_table_rows)
		why = "table has too many rows to join";
	/* an orphan's rows are laid out by a table the catalog no longer has */
	if (!why && !tb->orphan)
	{
		uint64_t	stamp = ++read_stamp;
		ptr_list	missing = {0};
		missing_ctx mc = {tb->t, stamp, &missing};

		for (int i = 0; i < PQntuples(res); i++)
		{
			row		   *r = row_get(tb->t, db_value(res, i, 0), true);
			read_outcome out = take_read(r, cl_value(res, i, 1), res, i, 2);

			r->seen = stamp;
			r->loaded = true;
			if (out == READ_MERGED || out == READ_NEWER)
			{
				r->pinned = true;
				if (tb->subs.count)
					resync_subs(&tb->subs, r);
				if (out == READ_NEWER)
					resync_subs(&r->subs, r);
			}
			row_maybe_free(r);
		}
		tb->loaded = true;

		/*
		 * Rows the bridge holds as existing that the read did not list were
		 * deleted (or replaced, if their deletion's notification is still
		 * on its way): read them, and their tombstones, to know which.
		 */
		map_each(&rows, collect_missing, &mc);
		reread(tb->t, &missing, true);
	}
	/* as in row_loaded: hub_detach must not free tb while its waiters are answered */
	finish_waiting(&tb->waiting, &tb->subs, why);
	tb->loading = false;
	tab_maybe_free(tb);
}

static void
load_tab(tab *tb)
{
	char		limit[16];		/* an int's digits */
	const char *params[1] = {limit};

	if (tb->loading)
		return;
	xsnprintf(limit, sizeof(limit), "%d", CFG.max_table_rows + 1);
	tb->loading = true;
	db_query(tb->t->select_all, 1, params, tab_loaded, tb);
}

void
hub_attach(channel *ch, table *t, const char *key)
{
	if (key)
	{
		row		   *r = row_get(t, key, true);

		ch->r = r;
		if (r->loaded)
		{
			lws_dll2_add_tail(&ch->topic_link, &r->subs);
			answer(ch);
		}
		else
		{
			lws_dll2_add_tail(&ch->topic_link, &r->waiting);
			load_row(r);
		}
	}
	else
	{
		tab		   *tb = tab_get(t, true);

		ch->tb = tb;
		if (tb->loaded)
		{
			lws_dll2_add_tail(&ch->topic_link, &tb->subs);
			answer(ch);
		}
		else
		{
			lws_dll2_add_tail(&ch->topic_link, &tb->waiting);
			load_tab(tb);
		}
	}
}

static void
unpin(const char *key, void *value, void *arg)
{
	row		   *r = value;

	if (r->t == arg)
		r->pinned = false;
}

static void
collect(const char *key, void *value, void *arg)
{
	ptr_push(arg, value);
}

static void
collect_unused(const char *key, void *value, void *arg)
{
	row		   *r = value;

	if (r->subs.count || r->waiting.count || r->pinned || r->loading || r->refs)
		return;
	ptr_push(arg, r);
}

void
hub_detach(channel *ch)
{
	if (ch->tombs)
	{
		/* its read answers nobody now */
		ch->tombs->ch = NULL;
		ch->tombs = NULL;
	}
	lws_dll2_remove(&ch->topic_link);
	if (ch->r)
		row_maybe_free(ch->r);
	else if (ch->tb && !tab_active(ch->tb))
	{
		tab		   *tb = ch->tb;
		ptr_list	dead = {0};

		/* the map must not change during the walk: collect, then free */
		map_each(&rows, unpin, tb->t);
		map_each(&rows, collect_unused, &dead);
		for (size_t i = 0; i < dead.n; i++)
			row_maybe_free(dead.v[i]);
		free(dead.v);
		/* a load under way must not make it loaded: nothing pins its rows now */
		tb->loaded = false;
		tab_maybe_free(tb);
	}
	ch->r = NULL;
	ch->tb = NULL;
}

/*
 * Topics, rows and their SQL follow the catalog's copy of a table with the
 * same layout; any other change (a column added, renamed, removed or of
 * another type, the key's type, a table dropped and created again, stale)
 * changes what subscribers were told at their join.
 */
static bool
same_layout(const table *a, const table *b)
{
	if (a == b)
		return true;
	if (a->oid != b->oid || a->stale != b->stale || a->ncol != b->ncol ||
		strcmp(a->key_type, b->key_type) != 0)
		return false;
	for (int i = 0; i < a->ncol; i++)
		if (a->cols[i].kind != b->cols[i].kind || strcmp(a->cols[i].name, b->cols[i].name) != 0)
			return false;
	return true;
}

/* The catalog's table for t if its layout is t's, else NULL (see migrate). */
static table *
current_table(const table *t)
{
	table	   *now = catalog_find(t->name);

	return now && same_layout(t, now) ? now : NULL;
}

/* ---- notifications ---- */

static uint64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

/* The shared frame [null,null,topic,"delta",{"key":…,"cl":…,"deltas":{…}}] ("cl" when above 1). */
static frame *
delta_frame(const char *topic, const row *r, const lk_state *deltas)
{
	lk_buf		b;
	frame	   *f;
	bool		first = true;

	lk_buf_init(&b, &lk_std_alloc, 256);
	wire_begin(&b, NULL, NULL, topic, "delta");
	lk_buf_put_str(&b, "{\"key\":");
	wire_string(&b, r->key);
	if (r->cl > 1)
	{
		lk_buf_put_str(&b, ",\"cl\":");
		lk_buf_put_int(&b, r->cl);
	}
	lk_buf_put_str(&b, ",\"deltas\":{");
	for (int i = 0; i < r->t->ncol; i++)
	{
		if (deltas[i].kind == 0)
			continue;
		wire_member(&b, &first, r->t->cols[i].name);
		lk_state_to_json(&deltas[i], &b);
	}
	lk_buf_put_str(&b, "}}");
	wire_end(&b);
	f = frame_from_buf(&b);
	lk_free(&lk_std_alloc, b.data);
	return f;
}

/*
 * Merge deltas (kind 0: column unchanged) of incarnation cl into the row
 * and fan them out.  Deltas of an incarnation after the one held are whole
 * states: they replace its cells; of one before, they are stale.  A
 * notification may come after a read that saw a later state (a read can run
 * between a commit and its notification): the causal length is what keeps
 * such a late entry from bringing back what was deleted.
 */
static void
apply(table *t, const char *key, int64_t cl, lk_state *deltas, uint64_t ts, const lk_alloc *a)
{
	row		   *r = row_get(t, key, false);
	tab		   *tb = tab_get(t, false);
	frame	   *rf = NULL,
			   *tf = NULL;

	if (!r && !tab_active(tb))
		return;
	if (!r)
	{
		/* a row new to a table topic's subscribers: its first delta is its state */
		r = row_get(t, key, true);
		r->loaded = true;
	}
	/* an entry without one is of the first incarnation (the extension writes cl above 1 only) */
	if (cl == 0)
		cl = 1;
	/* stale, or deltas of a deleted incarnation: nothing of it is kept */
	if (cl < r->cl || !is_alive(cl))
	{
		row_maybe_free(r);
		return;
	}
	if (cl > r->cl)
	{
		clear_cells(r);
		r->cl = cl;
	}
	if (tab_active(tb))
		r->pinned = true;
	for (int i = 0; i < t->ncol; i++)
		if (deltas[i].kind)
			cell_merge(&r->cells[i], t->cols[i].kind, &deltas[i], a);
	r->version++;
	if (r->subs.count)
		rf = delta_frame(r->topic, r, deltas);
	if (tb && tb->subs.count)
		tf = delta_frame(tb->topic, r, deltas);
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, r->subs.head)
	{
		channel_deliver(lws_container_of(d, channel, topic_link), r, deltas, cl, rf);
	}
	lws_end_foreach_dll_safe(d, d1);
	if (tb)
	{
		lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, tb->subs.head)
		{
			channel_deliver(lws_container_of(d, channel, topic_link), r, deltas, cl, tf);
		}
		lws_end_foreach_dll_safe(d, d1);
	}
	frame_unref(rf);
	frame_unref(tf);
	if (ts)
	{
		uint64_t	now = now_us();

		metrics_lag(now > ts ? now - ts : 0);
	}
}

typedef struct ref_fetch
{
	table	   *t;
	char	   *key;
	uint64_t	ts;
} ref_fetch;

/*
 * A reference notification: read the row and treat its state as the delta
 * of the incarnation read; a read that finds no row is a deletion.
 */
static void
ref_fetched(void *arg, PGresult *res, const char *error)
{
	ref_fetch  *rf = arg;
	table	   *t = current_table(rf->t);

	/* the read's columns are rf->t's: no use to a table whose layout changed since */
	if (t && !row_read_error(res, error))
	{
		int64_t		cl = cl_value(res, 0, ROW_CL);

		if (cl)
		{
			arena	   *ar = arena_new();
			lk_state   *deltas = xcalloc(rf->t->ncol, sizeof(lk_state));

			for (int i = 0; i < rf->t->ncol; i++)
			{
				const char *text = db_value(res, 0, ROW_COLS + i);
				lk_error	err;

				if (!text || lk_state_parse(rf->t->cols[i].kind, text, strlen(text),
											arena_alloc(ar), &deltas[i], &err) != LK_OK)
					deltas[i].kind = 0;
			}
			apply(t, rf->key, cl, deltas, rf->ts, arena_alloc(ar));
			free(deltas);
			arena_free(ar);
		}
		else
		{
			row		   *r = row_get(t, rf->key, false);

			if (r)
			{
				read_gone(r, cl_value(res, 0, ROW_TOMB));
				row_maybe_free(r);
			}
		}
	}
	free(rf->key);
	free(rf);
}

/*
 * A row's deletion at causal length cl (0: one above the incarnation held).
 * A row the bridge does not hold has nobody to tell: a table topic holds
 * every row that exists.
 */
static void
notify_deleted(table *t, const char *key, int64_t cl)
{
	row		   *r = row_get(t, key, false);

	if (!r)
		return;
	if (cl == 0)
	{
		if (r->cl && !is_alive(r->cl))
			return;
		cl = (r->cl ? r->cl : 1) + 1;
	}
	if (cl > r->cl)
		delete_row(r, cl);
	row_maybe_free(r);
}

typedef struct table_rows
{
	const table *t;
	ptr_list   *out;
} table_rows;

static void
collect_table_rows(const char *key, void *value, void *arg)
{
	row		   *r = value;
	table_rows *tr = arg;

	if (r->t == tr->t)
		ptr_push(tr->out, r);
}

/* Every row of t the bridge holds: the map must not change while it is walked. */
static ptr_list
rows_of(const table *t)
{
	ptr_list	l = {0};
	table_rows	tr = {t, &l};

	map_each(&rows, collect_table_rows, &tr);
	return l;
}

/*
 * A TRUNCATE, or more changes than the transaction could record: read again
 * every row of t that has subscribers (in one query) and its table topic's
 * rows, as after a reconnection.  Subscribers get state, or delete with the
 * tombstone's causal length.  A TRUNCATE is not simply applied to the rows
 * held (each deleted one above its causal length): its notification may
 * come after a read that saw a row inserted again after it, which it would
 * then delete.  A row being loaded needs nothing more: that read is newer.
 */
static void
notify_reread(table *t)
{
	ptr_list	l = rows_of(t);
	ptr_list	subscribed = {0};
	tab		   *tb = tab_get(t, false);

	for (size_t i = 0; i < l.n; i++)
	{
		row		   *r = l.v[i];

		if (r->subs.count && !r->loading)
			ptr_push(&subscribed, r);
	}
	free(l.v);
	reread(t, &subscribed, false);
	if (tab_active(tb))
		load_tab(tb);
}

/* An entry's causal length: 0 without one; -1 when it is not a valid one. */
static int64_t
entry_cl(json_t *entry)
{
	json_t	   *j = json_object_get(entry, "cl");

	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 1)
		return -1;
	return json_integer_value(j);
}

static void
notify_row(json_t *entry, uint64_t ts)
{
	const char *tname = json_string_value(json_object_get(entry, "table"));
	const char *key = json_string_value(json_object_get(entry, "key"));
	json_t	   *jdeltas = json_object_get(entry, "deltas");
	int64_t		cl = entry_cl(entry);
	table	   *t;
	tab		   *tb;

	if (!tname)
		return;
	/* an unknown table: no topic of it can have subscribers (joins wait for the catalog) */
	if (!(t = catalog_find(tname)) || t->stale)
		return;
	if (!key)
	{
		if (json_is_true(json_object_get(entry, "truncated")) ||
			json_is_true(json_object_get(entry, "resync")))
			notify_reread(t);
		return;
	}
	if (cl < 0)
	{
		lwsl_warn("laniakea-bridge: ignoring an entry for %s with an invalid cl\n", tname);
		return;
	}
	tb = tab_get(t, false);
	if (!row_get(t, key, false) && !tab_active(tb))
		return;
	if (json_is_true(json_object_get(entry, "deleted")))
	{
		notify_deleted(t, key, cl);
		return;
	}
	if (json_is_true(json_object_get(entry, "ref")))
	{
		ref_fetch  *rf = xmalloc(sizeof(ref_fetch));
		const char *params[1] = {key};

		rf->t = t;
		rf->key = xstrdup(key);
		rf->ts = ts;
		db_query(t->select_row, 1, params, ref_fetched, rf);
		return;
	}
	if (json_is_object(jdeltas))
	{
		arena	   *ar = arena_new();
		lk_state   *deltas = xcalloc(t->ncol, sizeof(lk_state));

		for (int i = 0; i < t->ncol; i++)
		{
			json_t	   *d = json_object_get(jdeltas, t->cols[i].name);
			char	   *dumped;
			char	   *text;
			lk_error	err;

			deltas[i].kind = 0;
			if (!d || !(dumped = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY)))
				continue;
			/* the parsed delta borrows its text, which must live as long as the arena */
			text = arena_strndup(ar, dumped, strlen(dumped));
			free(dumped);
			if (lk_state_parse(t->cols[i].kind, text, strlen(text), arena_alloc(ar), &deltas[i],
							   &err) != LK_OK)
			{
				lwsl_warn("laniakea-bridge: bad delta for %s.%s: %s\n", tname, t->cols[i].name,
						  err.detail);
				deltas[i].kind = 0;
			}
		}
		apply(t, key, cl, deltas, ts, arena_alloc(ar));
		free(deltas);
		arena_free(ar);
	}
}

void
hub_on_notify(const char *payload)
{
	json_error_t jerr;
	json_t	   *root = json_loads(payload, 0, &jerr);
	json_t	   *rowsj;
	json_t	   *tsj;
	size_t		i;
	json_t	   *entry;
	uint64_t	ts = 0;

	if (!root)
	{
		lwsl_warn("laniakea-bridge: ignoring a notification that is not JSON\n");
		return;
	}
	tsj = json_object_get(root, "ts");
	if (json_is_integer(tsj) && json_integer_value(tsj) > 0)
		ts = (uint64_t) json_integer_value(tsj);
	rowsj = json_object_get(root, "rows");
	json_array_foreach(rowsj, i, entry)
		notify_row(entry, ts);
	json_decref(root);
}

/* ---- catalog changes and (re)connection ---- */

/* A join not answered yet starts over with the new catalog. */
static void
restart_join(channel *ch)
{
	if (ch->tombs)
	{
		ch->tombs->ch = NULL;
		ch->tombs = NULL;
	}
	lws_dll2_remove(&ch->topic_link);
	ch->r = NULL;
	ch->tb = NULL;
	channel_attach(ch, true);
}

/*
 * The subscribers and waiting joins of a changed table's row or table topic
 * (a table join waiting for its tombstones is on the subscribers' list).
 */
static void
retire_channels(lws_dll2_owner_t *subs, lws_dll2_owner_t *waiting, bool untracked)
{
	while (subs->head)
	{
		channel    *ch = lws_container_of(subs->head, channel, topic_link);

		if (ch->joined)
			channel_retired(ch, untracked);
		else
			restart_join(ch);
	}
	while (waiting->head)
		restart_join(lws_container_of(waiting->head, channel, topic_link));
}

/*
 * Bring the maps to a new catalog.  Every changed table's tab and rows leave
 * the maps first, so that joins started over below make new ones; they are
 * held (retiring) while their channels go, then freed unless a read is still
 * under way on them.
 */
static void
migrate(void)
{
	ptr_list	tl = {0},
				rl = {0};
	size_t		nt = 0,
				nr = 0;

	map_each(&tabs, collect, &tl);
	map_each(&rows, collect, &rl);
	for (size_t i = 0; i < tl.n; i++)
	{
		tab		   *tb = tl.v[i];
		table	   *t = current_table(tb->t);

		if (t)
		{
			tb->t = t;
			continue;
		}
		map_del(&tabs, tb->topic);
		tb->orphan = tb->retiring = true;
		tl.v[nt++] = tb;
	}
	for (size_t i = 0; i < rl.n; i++)
	{
		row		   *r = rl.v[i];
		table	   *t = current_table(r->t);

		if (t)
		{
			r->t = t;
			continue;
		}
		map_del(&rows, r->topic);
		r->orphan = r->retiring = true;
		r->pinned = false;
		rl.v[nr++] = r;
	}
	for (size_t i = 0; i < nt; i++)
	{
		tab		   *tb = tl.v[i];

		retire_channels(&tb->subs, &tb->waiting, !catalog_find(tb->t->name));
		tb->retiring = false;
		tab_maybe_free(tb);
	}
	for (size_t i = 0; i < nr; i++)
	{
		row		   *r = rl.v[i];

		retire_channels(&r->subs, &r->waiting, !catalog_find(r->t->name));
		r->retiring = false;
		row_maybe_free(r);
	}
	free(tl.v);
	free(rl.v);
}

static void
resync_row(const char *key, void *value, void *arg)
{
	row		   *r = value;

	if (r->subs.count || r->waiting.count)
		load_row(r);
}

static void
resync_tab(const char *key, void *value, void *arg)
{
	tab		   *tb = value;

	if (tab_active(tb))
		load_tab(tb);
}

static void
catalog_loaded(void *arg, PGresult *res, const char *error)
{
	const char *why = NULL;
	bool		again;

	catalog_reading = false;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || !catalog_load(res))
	{
		lwsl_err("laniakea-bridge: cannot read laniakea.tracked: %s\n",
				 res ? PQresultErrorMessage(res) : error);
		why = res ? "database error" : "database unavailable";
	}
	else
	{
		migrate();
		/* NOTIFYs sent while we were away are lost: re-read every subscribed row */
		if (arg == RESYNC)
		{
			map_each(&rows, resync_row, NULL);
			map_each(&tabs, resync_tab, NULL);
		}
	}
	while (catalog_wait.head)
	{
		channel    *ch = lws_container_of(catalog_wait.head, channel, topic_link);

		lws_dll2_remove(&ch->topic_link);
		if (why)
			channel_join_failed(ch, why);
		else
			channel_attach(ch, true);
	}
	/* a failed read fails the joins waiting for the next too: it would fail alike */
	while (catalog_wait_next.head)
	{
		channel    *ch = lws_container_of(catalog_wait_next.head, channel, topic_link);

		lws_dll2_remove(&ch->topic_link);
		if (why)
			channel_join_failed(ch, why);
		else
			lws_dll2_add_tail(&ch->topic_link, &catalog_wait);
	}
	again = catalog_again && !why;
	catalog_again = false;
	if (again)
		read_catalog(false);
}

void
hub_on_ready(void)
{
	read_catalog(true);
}
