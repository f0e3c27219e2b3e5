/*
 * hub.c — topics, the rows the bridge keeps, and the path from NOTIFY to
 * subscribers (hub.h).
 *
 * A row's cells are the join of its snapshot and every delta since, in
 * whatever order they came: the LISTEN is up before any snapshot is read, so
 * nothing committed after a read can be missed, and what is seen twice
 * merges away.  Deltas are decoded once per notification and encoded into
 * one shared frame per topic; each subscriber gets that frame or, when it is
 * behind or throttled, a merge into its pending state (channel.c).
 *
 * Rows are kept per table: a table topic (row.h) holds every row of its
 * table the bridge has, so a table join, a TRUNCATE and a table read walk
 * that table's rows and nothing else, and a notification finds its row with
 * two lookups and no string built.
 *
 * Deletes: a row's cells are those of one incarnation, its causal length
 * (row.cl).  A notification with a greater one replaces the cells (its
 * deltas are then whole states), one with a smaller one is stale: it is not
 * applied, and the row is read again (a late notification, or a key deleted
 * and inserted again after its tombstone was collected, which starts over at
 * causal length 1); a deletion empties the row and is sent as a "delete"
 * event.  A read is at least as new as every notification processed before
 * its result: PostgreSQL sends notifications only between transactions, so
 * those that arrive while a query runs were committed before its snapshot.
 * So a read sets the row's causal length, lower or higher, and a read that
 * finds no row deletes the row the bridge holds (at the key's tombstone, or
 * one above the row's causal length if it was collected).
 *
 * The catalog (laniakea.tracked) is read when PostgreSQL becomes ready, when
 * a NOTIFY on laniakea_catalog says it changed, and before a join of a table
 * it does not hold is refused.  When a table's layout changed or it is no
 * longer tracked, its table topic leaves the map with its rows (an orphan,
 * freed once nothing holds it); joined subscribers are retired and joins not
 * answered yet start over.
 */
#include "hub.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "arena.h"
#include "bridge.h"
#include "db.h"
#include "fragment.h"
#include "lk_topic.h"
#include "metrics.h"
#include "recent.h"
#include "render.h"
#include "xalloc.h"
#include "xsnap.h"

static const hub_hooks *H;
static map	tables;				/* t->name → table_topic */

/*
 * A read of the tombstones of the keys a table join's have names: the join
 * waits for it (s; NULL once the subscription is gone).
 */
typedef struct have_read
{
	hub_sub    *s;
} have_read;

/*
 * A read of rows the bridge holds (each held and marked reading), with their
 * tombstones: rows a table read did not list, those of a table a
 * notification says to read again, or one a stale notification names.
 */
typedef struct rows_read
{
	row		  **rows;
	size_t		nrows;
	bool		tab_subs;		/* resend what is found to their table topic's subscribers too */
	bool		if_changed;		/* resend only rows the read changed (a stale notification's) */
} rows_read;

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

static void
collect(const char *key, void *value, void *arg)
{
	ptr_push(arg, value);
}

/* Everything in m: a map must not change while it is walked. */
static ptr_list
values_of(const map *m)
{
	ptr_list	l = {0};

	map_each(m, collect, &l);
	return l;
}

void
hub_init(const hub_hooks *hooks)
{
	H = hooks;
	map_init(&tables);
}

/* ---- table topics and rows: made on demand, freed when nothing needs them ---- */

static bool
tt_active(const table_topic *tt)
{
	return tt && (tt->subs.count || tt->waiting.count);
}

static table_topic *
tt_get(const table *t, bool create)
{
	table_topic *tt = map_get(&tables, t->name);

	if (!tt && create)
	{
		tt = xcalloc(1, sizeof(table_topic));
		tt->topic = xasprintf("crdt:%s", t->name);
		tt->t = t;
		map_init(&tt->rows);
		map_put(&tables, t->name, tt);
	}
	return tt;
}

static void
tt_maybe_free(table_topic *tt)
{
	if (tt_active(tt) || tt->refs || tt->rows.count)
		return;
	if (!tt->orphan)
		map_del(&tables, tt->t->name);
	free(tt->rows.buckets);
	free(tt->topic);
	free(tt);
}

static row *
row_get(table_topic *tt, const char *key, bool create)
{
	row		   *r = map_get(&tt->rows, key);

	if (!r && create)
	{
		r = xcalloc(1, sizeof(row));
		r->topic = xasprintf("%s:%s", tt->topic, key);
		r->tt = tt;
		r->t = tt->t;
		r->key = xstrdup(key);
		r->cells = xcalloc(tt->t->ncol, sizeof(cell));
		map_put(&tt->rows, key, r);
	}
	return r;
}

static void
clear_cells(row *r)
{
	for (int i = 0; i < r->t->ncol; i++)
		cell_clear(&r->cells[i]);
}

static void
row_maybe_free(row *r)
{
	table_topic *tt = r->tt;

	if (r->subs.count || r->waiting.count || r->pinned || r->refs)
		return;
	map_del(&tt->rows, r->key);
	fragment_free_all(r);
	clear_cells(r);
	free(r->cells);
	free(r->key);
	free(r->topic);
	free(r);
	tt_maybe_free(tt);
}

row *
hub_row(const table *t, const char *key)
{
	table_topic *tt = tt_get(t, false);

	return tt ? row_get(tt, key, false) : NULL;
}

void
hub_hold(row *r)
{
	r->refs++;
}

void
hub_release(row *r)
{
	r->refs--;
	row_maybe_free(r);
}

/* The table topic has no subscribers left: its rows are held for it no longer. */
static void
tt_unpin(table_topic *tt)
{
	ptr_list	l = values_of(&tt->rows);

	tt->refs++;
	for (size_t i = 0; i < l.n; i++)
	{
		row		   *r = l.v[i];

		r->pinned = false;
		row_maybe_free(r);
	}
	free(l.v);
	/* a read under way must not make it loaded: nothing pins its rows now */
	tt->loaded = false;
	tt->refs--;
}

/* Take s out of every list; the row or table topic it was on is the caller's to free. */
static void
unlink_sub(hub_sub *s)
{
	if (s->tombs)
	{
		/* its read answers nobody now */
		s->tombs->s = NULL;
		s->tombs = NULL;
	}
	lws_dll2_remove(&s->link);
	s->r = NULL;
	s->tt = NULL;
	s->joined = false;
}

void
hub_detach(hub_sub *s)
{
	row		   *r = s->r;
	table_topic *tt = s->tt;

	unlink_sub(s);
	if (r)
		row_maybe_free(r);
	else if (tt)
	{
		if (!tt_active(tt))
			tt_unpin(tt);
		tt_maybe_free(tt);
	}
}

/* The hooks that end a subscription: it is detached first, so the owner may free it. */
static void
fail(hub_sub *s, const char *why)
{
	hub_detach(s);
	H->join_failed(s, why);
}

static void
joined(hub_sub *s, const map *tombs)
{
	s->joined = true;
	H->joined(s, tombs);
}

/* Deltas (NULL: a resend of r's state) to the joined subscribers on subs. */
static void
deliver(lws_dll2_owner_t *subs, row *r, const lk_state *deltas, int64_t cl, frame *shared)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, subs->head)
	{
		hub_sub    *s = lws_container_of(d, hub_sub, link);

		if (s->joined)
			H->deliver(s, r, deltas, cl, shared);
	}
	lws_end_foreach_dll_safe(d, d1);
}

static void
resync_subs(lws_dll2_owner_t *subs, row *r)
{
	deliver(subs, r, NULL, 0, NULL);
}

/* ---- changes a read may not see yet (WAL source, recent.h) ---- */

/*
 * With the WAL source a read is not always newer than every change taken
 * before its result: a commit is decoded before it is visible.  Each read
 * returns its snapshot, and a row's changes that the bridge received and the
 * snapshot does not see take the read's place (unseen_read): they are newer.
 * (A row's writers wait for the transaction that wrote it before to be
 * visible — its row lock, the unique index, TRUNCATE's table lock — so what
 * a snapshot misses of a row is the last of its changes, never one between
 * two it sees.)  What cannot be known so (a change not kept past the cap, a
 * TOASTed column the WAL did not carry) is read again once a snapshot shows
 * it visible: deferred, not read at once, since a read now would miss it
 * again for as long as the commit stays invisible.
 */
typedef struct deferred
{
	row		   *r;				/* held, or */
	table_topic *tt;			/* referenced */
	uint64_t	until;			/* read again once a snapshot sees this transaction; 0: once reads are lossless */
} deferred;

static struct
{
	deferred   *v;
	size_t		n,
				cap;
} defers;

static bool probing;			/* a snapshot probe is under way */
static uint64_t stream_gen;		/* slots streamed from: a probe sent since the last bounds what it missed */
static bool probe_timer_on;
static lws_sorted_usec_list_t probe_sul;

static void
defer_push(row *r, table_topic *tt, uint64_t until)
{
	for (size_t i = 0; i < defers.n; i++)
		if (defers.v[i].r == r && defers.v[i].tt == tt && defers.v[i].until == until)
			return;
	if (defers.n == defers.cap)
	{
		defers.cap = defers.cap ? defers.cap * 2 : 16;
		defers.v = xrealloc(defers.v, defers.cap * sizeof(deferred));
	}
	if (r)
		hub_hold(r);
	else
		tt->refs++;
	defers.v[defers.n++] = (deferred) {r, tt, until};
}

/* A read's snapshot: the first one in column col; false when none (nothing to merge, or a bad one). */
static bool
read_snapshot(PGresult *res, int col, xsnap *snap, bool *bad)
{
	*bad = false;
	if (recent_idle())
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *v = db_value(res, i, col);

		if (v)
		{
			*bad = !xsnap_parse(v, snap);
			return !*bad;
		}
	}
	*bad = true;
	return false;
}

/*
 * r was read with snapshot s: its causal length *cl and column texts cols
 * (t->ncol; text NULL: SQL NULL, or no row).  If the bridge received changes
 * of it that s does not see, the last one replaces them: its causal length
 * and states, and for a TOASTed column it did not carry, the last state
 * before it (an earlier unseen change of the same incarnation's, or the
 * read's).  When that is not known either, r is read again once the change
 * is visible.
 */
static void
unseen_read(row *r, const xsnap *s, int64_t *cl, wal_col *cols)
{
	size_t		n;
	recent_change **c = recent_unseen(r->t->name, r->key, s, &n);
	const recent_change *last;
	int64_t		lcl;
	bool		unknown = false;

	if (!n)
		return;
	last = c[n - 1];
	M.wal_window_merged_total += n;
	if (last->deleted)
	{
		/* without its tombstone's causal length: one above the read's (read_gone) */
		*cl = last->cl;
		for (int i = 0; i < r->t->ncol; i++)
			cols[i] = (wal_col) {NULL, 0, false};
		free(c);
		return;
	}
	lcl = last->cl ? last->cl : 1;
	for (int i = 0; i < r->t->ncol; i++)
	{
		size_t		k = n;

		/* back through the unseen changes of this incarnation to the one that has the column */
		while (k > 0 && !c[k - 1]->deleted && (c[k - 1]->cl ? c[k - 1]->cl : 1) == lcl &&
			   c[k - 1]->cols[i].unchanged)
			k--;
		if (k > 0 && !c[k - 1]->deleted && (c[k - 1]->cl ? c[k - 1]->cl : 1) == lcl)
			cols[i] = c[k - 1]->cols[i];
		else if (*cl != lcl)
		{
			cols[i] = (wal_col) {NULL, 0, false};
			unknown = true;
		}
		/* else the read has it */
	}
	*cl = lcl;
	if (unknown)
		defer_push(r, NULL, xsnap_widen(s, last->xid));
	free(c);
}

static void load_tab(table_topic *tt);
static void refresh(row *r);

/* What was deferred until s: read again now (a read sent from here on is newer than s). */
static void
fire_deferred(const xsnap *s)
{
	bool		lossy = recent_lossy(s);
	deferred   *v = defers.v;
	size_t		n = defers.n;

	defers.v = NULL;
	defers.n = defers.cap = 0;
	for (size_t i = 0; i < n; i++)
	{
		deferred	d = v[i];

		if (d.until ? !xsnap_sees(s, d.until) : lossy)
		{
			defer_push(d.r, d.tt, d.until);
			if (d.r)
				hub_release(d.r);
			else
				d.tt->refs--;
			continue;
		}
		M.wal_window_rereads_total++;
		if (d.r)
		{
			if (!d.r->tt->orphan)
				refresh(d.r);
			hub_release(d.r);
		}
		else
		{
			if (!d.tt->orphan && tt_active(d.tt))
			{
				/* a read of a loaded table topic resends what it finds to its subscribers */
				load_tab(d.tt);
			}
			d.tt->refs--;
			tt_maybe_free(d.tt);
		}
	}
	free(v);
}

/* A snapshot taken on db.c's connection: reads from now on see what it sees. */
static void
observe(const xsnap *s)
{
	recent_observe(s);
	fire_deferred(s);
}

/*
 * After a read with snapshot s (have: one was parsed; bad: a read that
 * should have had one did not) of the row r or, r NULL, of table topic tt:
 * if what it missed is not known, read it again once it can be.
 */
static void
read_taken(row *r, table_topic *tt, const xsnap *s, bool have, bool bad)
{
	if (bad || (have && recent_lossy(s)))
		defer_push(r, r ? NULL : tt, 0);
}

static void
probed(void *arg, PGresult *res, const char *error)
{
	uint64_t	gen = (uint64_t) (uintptr_t) arg;
	xsnap		s;

	probing = false;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		!xsnap_parse(db_value(res, 0, 0), &s))
		return;					/* the next tick asks again */
	/* taken after the slot streamed: whatever it missed had begun before this xmax */
	if (gen == stream_gen)
		recent_lost_before(s.xmax);
	observe(&s);
	xsnap_free(&s);
}

/* Every 100 ms while changes are kept or reads deferred: a snapshot, so that they go. */
static void
probe_tick(lws_sorted_usec_list_t *sul)
{
	if (!probing && db_ready() && (!recent_idle() || defers.n))
	{
		probing = true;
		db_query("SELECT pg_catalog.pg_current_snapshot()::text", 0, NULL, probed,
				 (void *) (uintptr_t) stream_gen);
	}
	lws_sul_schedule(CTX, 0, &probe_sul, probe_tick, 100 * LWS_US_PER_MS);
}

/* ---- reads ---- */

/* A causal length from a result's text (NULL: none, 0). */
static int64_t
cl_value(PGresult *res, int tuple, int col)
{
	const char *v = db_value(res, tuple, col);

	return v ? strtoll(v, NULL, 10) : 0;
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

/* Merge a row's column texts (NULL: none) into its cells; true when they changed. */
static bool
merge_cols(row *r, const wal_col *cols)
{
	arena	   *a = arena_new();
	bool		changed = false;

	for (int i = 0; i < r->t->ncol; i++)
	{
		const column *col = &r->t->cols[i];
		lk_state	s;
		lk_error	err;

		if (!cols[i].text)
			continue;
		if (lk_state_parse(col->kind, cols[i].text, cols[i].len, arena_alloc(a), &s, &err) != LK_OK)
		{
			cell_report("parse", r->t->name, col->name, &err);
			r->damaged = true;
			continue;
		}
		switch (cell_merge(&r->cells[i], col->kind, &s, arena_alloc(a), &err))
		{
			case CELL_CHANGED:
				changed = true;
				break;
			case CELL_UNCHANGED:
				break;
			case CELL_FAILED:
				cell_report("merge", r->t->name, col->name, &err);
				r->damaged = true;
				break;
		}
	}
	if (changed)
		r->version++;
	arena_free(a);
	return changed;
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

/*
 * r is deleted at causal length cl (> r->cl): empty it and tell its row
 * topic's subscribers and, if the row existed, its table topic's.  The
 * caller frees r if nothing holds it any more.
 */
static void
delete_row(row *r, int64_t cl)
{
	table_topic *tt = r->tt->orphan ? NULL : r->tt;
	bool		existed = cl_alive(r->cl);
	frame	   *f;

	clear_cells(r);
	r->cl = cl;
	r->version++;
	r->pinned = false;
	r->damaged = false;
	if (existed)
		M.deletes_total++;
	if (r->subs.count)
	{
		f = render_delete_frame(r->topic, r);
		lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, r->subs.head)
		{
			hub_sub    *s = lws_container_of(d, hub_sub, link);

			if (s->joined)
				H->deleted(s, r, f);
		}
		lws_end_foreach_dll_safe(d, d1);
		frame_unref(f);
	}
	if (existed && tt && tt->subs.count)
	{
		f = render_delete_frame(tt->topic, r);
		lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, tt->subs.head)
		{
			hub_sub    *s = lws_container_of(d, hub_sub, link);

			if (s->joined)
				H->deleted(s, r, f);
		}
		lws_end_foreach_dll_safe(d, d1);
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
	if (cl_alive(r->cl))
		delete_row(r, cl > r->cl ? cl : r->cl + 1);
	else if (cl > r->cl)
		delete_row(r, cl);
}

typedef enum read_outcome
{
	READ_GONE,					/* no row: r is deleted (or never existed) */
	READ_SAME,					/* the incarnation held, which had all the read has */
	READ_MERGED,				/* the incarnation held: merged, and it changed */
	READ_REPLACED				/* another incarnation (or r was damaged): it replaced r's cells */
} read_outcome;

/*
 * Take a read of r: its causal length cl (the row's, or the tombstone's when
 * even or 0) and, for a row, its column texts from first_col on.  The read
 * is the truth as of its snapshot: its causal length becomes r's, lower or
 * higher; then what the bridge received that the snapshot (s, when given)
 * does not see is merged into it.
 */
static read_outcome
take_read(row *r, int64_t cl, PGresult *res, int tuple, int first_col, const xsnap *s)
{
	read_outcome out;
	wal_col    *cols = xcalloc((size_t) (r->t->ncol ? r->t->ncol : 1), sizeof(wal_col));

	for (int i = 0; res && i < r->t->ncol; i++)
	{
		cols[i].text = db_value(res, tuple, first_col + i);
		cols[i].len = cols[i].text ? strlen(cols[i].text) : 0;
	}
	if (s)
		unseen_read(r, s, &cl, cols);
	if (!cl_alive(cl))
	{
		read_gone(r, cl);
		out = READ_GONE;
	}
	else if (cl != r->cl || r->damaged)
	{
		clear_cells(r);
		r->cl = cl;
		r->damaged = false;
		merge_cols(r, cols);
		r->version++;
		out = READ_REPLACED;
	}
	else
		out = merge_cols(r, cols) ? READ_MERGED : READ_SAME;
	free(cols);
	return out;
}

/* A row's causal length in a read: the row's, else its tombstone's. */
static int64_t
read_cl(PGresult *res, int tuple)
{
	int64_t		cl = cl_value(res, tuple, ROW_CL);

	return cl ? cl : cl_value(res, tuple, ROW_TOMB);
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

static void tombs_read(void *arg, PGresult *res, const char *error);

/*
 * Answer a join whose topic is loaded (s is on its subscribers' list, not
 * joined yet, so no event goes to it): now, or once the tombstones of the
 * keys a table join's have names that the bridge does not hold as existing
 * are read, so that a client that was away learns of their deletion.
 */
static void
answer(hub_sub *s)
{
	const char *key;
	json_t	   *v;
	const char **keys;
	size_t		n = 0;

	if (!s->tt || !s->have || json_object_size(s->have) == 0)
	{
		joined(s, NULL);
		return;
	}
	keys = xmalloc(json_object_size(s->have) * sizeof(char *));
	json_object_foreach(s->have, key, v)
	{
		row		   *r = row_get(s->tt, key, false);

		if (!r || !cl_alive(r->cl))
			keys[n++] = key;
	}
	if (n == 0)
		joined(s, NULL);
	else
	{
		char	   *json = keys_json(keys, n);

		s->tombs = xcalloc(1, sizeof(have_read));
		s->tombs->s = s;
		db_query(s->tt->t->select_tombs, 1, (const char *const *) &json, tombs_read, s->tombs);
		free(json);
	}
	free(keys);
}

static void
tombs_read(void *arg, PGresult *res, const char *error)
{
	have_read  *tr = arg;
	hub_sub    *s = tr->s;
	const char *why = result_error(res, error, PGRES_TUPLES_OK);
	map			tombs;

	free(tr);
	if (!s)
		return;					/* the subscription is gone */
	s->tombs = NULL;
	if (why)
	{
		fail(s, why);
		return;
	}
	map_init(&tombs);
	for (int i = 0; i < PQntuples(res); i++)
		if (cl_value(res, i, 1))
			map_put(&tombs, db_value(res, i, 0), (void *) (intptr_t) cl_value(res, i, 1));
	joined(s, &tombs);
	map_clear(&tombs);
	free(tombs.buckets);
}

/*
 * Subscriptions waiting for a read of their topic: on its subscribers' list
 * and answered, or failed.  The caller holds what owns the lists.
 */
static void
finish_waiting(lws_dll2_owner_t *waiting, lws_dll2_owner_t *subs, const char *error)
{
	while (waiting->head)
	{
		hub_sub    *s = lws_container_of(waiting->head, hub_sub, link);

		lws_dll2_remove(&s->link);
		if (error)
		{
			unlink_sub(s);
			H->join_failed(s, error);
			continue;
		}
		lws_dll2_add_tail(&s->link, subs);
		answer(s);
	}
}

static void
row_loaded(void *arg, PGresult *res, const char *error)
{
	row		   *r = arg;
	const char *why = row_read_error(res, error);
	char	   *canonical = NULL;
	xsnap		snap;
	bool		have = false,
				bad = false;

	r->reading = false;
	if (!why && strcmp(db_value(res, 0, ROW_KEY), r->key) != 0)
	{
		/* one row, one topic: a key written otherwise is refused, naming its form */
		canonical = xasprintf("key is not in canonical form: \"%s\"", db_value(res, 0, ROW_KEY));
		why = canonical;
	}
	/* an orphan's read is of a table the catalog no longer has, and nobody waits for it */
	if (!why && !r->tt->orphan)
	{
		have = read_snapshot(res, ROW_SNAPSHOT(r->t), &snap, &bad);
		switch (take_read(r, read_cl(res, 0), res, 0, ROW_COLS, have ? &snap : NULL))
		{
			case READ_SAME:
			case READ_MERGED:
			case READ_REPLACED:
				if (tt_active(r->tt))
					r->pinned = true;
				resync_subs(&r->subs, r);
				break;
			case READ_GONE:
				break;
		}
		r->loaded = true;
		read_taken(r, NULL, &snap, have, bad);
	}
	finish_waiting(&r->waiting, &r->subs, why);
	free(canonical);
	if (have)
	{
		observe(&snap);
		xsnap_free(&snap);
	}
	hub_release(r);
}

/* Read r (for the joins waiting on it, or to resend its state). */
static void
load_row(row *r)
{
	const char *params[1] = {r->key};

	if (r->reading)
		return;
	r->reading = true;
	hub_hold(r);
	db_query(r->t->select_row, 1, params, row_loaded, r);
}

/* Rows the bridge holds, read again in a single query (reread). */
static void
reread_done(void *arg, PGresult *res, const char *error)
{
	rows_read  *tr = arg;
	const char *why = result_error(res, error, PGRES_TUPLES_OK);
	map			found;
	xsnap		snap;
	bool		have = false,
				bad = false;

	map_init(&found);
	if (!why)
	{
		have = read_snapshot(res, ROW_SNAPSHOT(tr->rows[0]->t), &snap, &bad);
		for (int i = 0; i < PQntuples(res); i++)
			map_put(&found, db_value(res, i, ROW_KEY), (void *) (intptr_t) (i + 1));
	}
	for (size_t i = 0; i < tr->nrows; i++)
	{
		row		   *r = tr->rows[i];
		intptr_t	tuple = (intptr_t) map_get(&found, r->key) - 1;

		r->reading = false;
		/* unread (the query failed): the next resync reads it */
		if (tuple >= 0 && !r->tt->orphan)
		{
			read_outcome out = take_read(r, read_cl(res, (int) tuple), res, (int) tuple, ROW_COLS,
										 have ? &snap : NULL);

			read_taken(r, NULL, &snap, have, bad);

			if (out != READ_GONE && !(out == READ_SAME && tr->if_changed))
			{
				if (tt_active(r->tt))
				{
					r->pinned = true;
					if (tr->tab_subs)
						resync_subs(&r->tt->subs, r);
				}
				resync_subs(&r->subs, r);
			}
		}
		finish_waiting(&r->waiting, &r->subs, tuple >= 0 || !why ? NULL : why);
		hub_release(r);
	}
	map_clear(&found);
	free(found.buckets);
	free(tr->rows);
	free(tr);
	if (have)
	{
		observe(&snap);
		xsnap_free(&snap);
	}
}

/*
 * Read the rows l holds (of table t) again, and the tombstones of those gone,
 * in one query; each is held and marked reading until the answer.  Their
 * subscribers are sent state or delete; tab_subs: their table topic's
 * subscribers too; if_changed: only rows the read changed.  Takes l's memory.
 */
static void
reread(const table *t, ptr_list *l, bool tab_subs, bool if_changed)
{
	rows_read  *tr;
	const char **keys;
	char	   *json;

	if (l->n == 0)
	{
		free(l->v);
		return;
	}
	tr = xcalloc(1, sizeof(rows_read));
	tr->rows = (row **) l->v;
	tr->nrows = l->n;
	tr->tab_subs = tab_subs;
	tr->if_changed = if_changed;
	keys = xmalloc(l->n * sizeof(char *));
	for (size_t i = 0; i < l->n; i++)
	{
		tr->rows[i]->reading = true;
		hub_hold(tr->rows[i]);
		keys[i] = tr->rows[i]->key;
	}
	json = keys_json(keys, l->n);
	free(keys);
	db_query(t->select_keys, 1, (const char *const *) &json, reread_done, tr);
	free(json);
}

/* A notification r cannot take (stale): read r again, unless a read is under way. */
static void
refresh(row *r)
{
	ptr_list	l = {0};

	if (r->reading)
		return;
	ptr_push(&l, r);
	reread(r->t, &l, true, true);
}

static void
tt_loaded(void *arg, PGresult *res, const char *error)
{
	table_topic *tt = arg;
	const char *why = result_error(res, error, PGRES_TUPLES_OK);
	xsnap		snap;
	bool		have = false,
				bad = false;

	bool		changed_only = tt->resend_changed;

	tt->reading = false;
	tt->resend_changed = false;
	/* one row more than the table's: the snapshot's */
	if (!why && PQntuples(res) - 1 > CFG.max_table_rows)
		why = "table has too many rows to join";
	/* an orphan's rows are laid out by a table the catalog no longer has; nobody needs a read of an unsubscribed one */
	if (!why && !tt->orphan && tt_active(tt))
	{
		uint64_t	stamp = ++tt->read_stamp;
		ptr_list	rows;
		ptr_list	missing = {0};
		recent_change **unseen;
		size_t		nunseen = 0;

		have = read_snapshot(res, ALL_SNAPSHOT(tt->t), &snap, &bad);
		for (int i = 0; i < PQntuples(res); i++)
		{
			row		   *r;
			read_outcome out;

			if (!db_value(res, i, 0))
				continue;		/* the snapshot's row */
			r = row_get(tt, db_value(res, i, 0), true);
			hub_hold(r);
			out = take_read(r, cl_value(res, i, 1), res, i, ALL_COLS, have ? &snap : NULL);
			r->seen = stamp;
			r->loaded = true;
			if (out != READ_GONE && !(changed_only && out == READ_SAME))
			{
				r->pinned = true;
				resync_subs(&tt->subs, r);
				/* what the read brought is the row's subscribers' too: no live delta may carry it */
				if (out == READ_REPLACED || out == READ_MERGED)
					resync_subs(&r->subs, r);
			}
			hub_release(r);
		}
		tt->loaded = true;

		/*
		 * Rows the read did not list that the bridge does not hold, changed
		 * by what it did not see (an insert, say): as read, with no row.
		 * (Those it holds are read again below.)
		 */
		unseen = have ? recent_unseen(tt->t->name, NULL, &snap, &nunseen) : NULL;
		for (size_t i = 0; i < nunseen; i++)
		{
			row		   *r = row_get(tt, unseen[i]->key, false);

			if (r)
				continue;
			r = row_get(tt, unseen[i]->key, true);
			hub_hold(r);
			if (take_read(r, 0, NULL, 0, 0, &snap) != READ_GONE)
			{
				r->pinned = true;
				resync_subs(&tt->subs, r);
			}
			r->seen = stamp;
			r->loaded = true;
			hub_release(r);
		}
		free(unseen);
		read_taken(NULL, tt, &snap, have, bad);

		/*
		 * Rows the bridge holds as existing that the read did not list were
		 * deleted (or replaced, if their deletion's notification is still
		 * on its way): read them, and their tombstones, to know which.
		 */
		rows = values_of(&tt->rows);
		for (size_t i = 0; i < rows.n; i++)
		{
			row		   *r = rows.v[i];

			if (cl_alive(r->cl) && r->seen != stamp && !r->reading)
				ptr_push(&missing, r);
		}
		free(rows.v);
		reread(tt->t, &missing, true, false);
	}
	finish_waiting(&tt->waiting, &tt->subs, why);
	if (have)
	{
		observe(&snap);
		xsnap_free(&snap);
	}
	tt->refs--;
	tt_maybe_free(tt);
}

static void
load_tab(table_topic *tt)
{
	char		limit[16];		/* an int's digits */
	const char *params[1] = {limit};

	if (tt->reading)
		return;
	xsnprintf(limit, sizeof(limit), "%d", CFG.max_table_rows + 1);
	tt->reading = true;
	tt->refs++;
	db_query(tt->t->select_all, 1, params, tt_loaded, tt);
}

/* ---- subscribing ---- */

/*
 * Catalog reads: one at a time.  A join of an unknown table waits for a read
 * queued after it arrived, so one asked for while another is under way waits
 * for the next (catalog_again).
 */
/*
 * What a catalog read does next, beyond following the catalog: after
 * PostgreSQL was away, read every row and table held again and resend their
 * states; after only the WAL stream was away, the same reads, but subscribers
 * get only what changed (an outage that took both connections resyncs once
 * with states, not twice).  Ordered: a later request for more wins.
 */
typedef enum resync_mode
{
	RESYNC_NONE,
	RESYNC_CHANGED,
	RESYNC_ALL
} resync_mode;

static bool catalog_reading;
static bool catalog_again;
static resync_mode catalog_again_resync;
static lws_dll2_owner_t catalog_wait;	/* joins the read under way answers */
static lws_dll2_owner_t catalog_wait_next;	/* joins for the next read */

static void read_catalog(resync_mode resync);

static void
await_catalog(hub_sub *s)
{
	if (catalog_reading)
	{
		lws_dll2_add_tail(&s->link, &catalog_wait_next);
		catalog_again = true;
		return;
	}
	lws_dll2_add_tail(&s->link, &catalog_wait);
	read_catalog(RESYNC_NONE);
}

/* Is obj {column: state} of t's columns, each state valid for its column's type? */
static bool
valid_states(json_t *obj, const table *t)
{
	const char *k;
	json_t	   *v;
	arena	   *ar;
	bool		ok = true;

	if (!json_is_object(obj))
		return false;
	ar = arena_new();
	json_object_foreach(obj, k, v)
	{
		int			i = catalog_column(t, k);
		char	   *text;
		lk_state	s;
		lk_error	err;

		if (i < 0 || !(text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		{
			ok = false;
			break;
		}
		ok = lk_state_parse(t->cols[i].kind, text, strlen(text), arena_alloc(ar), &s, &err) == LK_OK;
		free(text);
		if (!ok)
			break;
	}
	arena_free(ar);
	return ok;
}

/* A join's "have": {column: state} for a row topic, {key: {column: state}} for a table. */
static bool
valid_have(json_t *have, const table *t, bool row_topic)
{
	const char *k;
	json_t	   *v;

	if (row_topic)
		return valid_states(have, t);
	json_object_foreach(have, k, v)
		if (!valid_states(v, t))
		return false;
	return true;
}

/*
 * Attach s to its topic.  fresh: the catalog was read since the join came,
 * so a table it does not hold is refused rather than waited for.
 */
static const char *
attach(hub_sub *s, bool fresh)
{
	lk_buf		names;
	lk_topic	tp;
	lk_error	err;
	char	   *name;
	const table *t;
	const char *key;
	table_topic *tt;
	bool		parsed;

	/*
	 * A topic names its table as the catalog does (lk_topic.h): <table> is
	 * looked up as written.  One that does not parse names no table.
	 */
	lk_buf_init(&names, &lk_std_alloc, 64);
	parsed = lk_topic_parse(lk_str_make(s->topic, strlen(s->topic)), &names, &tp, &err) == LK_OK;
	lk_free(&lk_std_alloc, names.data);
	if (!parsed)
		return "unmatched topic";
	name = xstrndup(tp.table_part.p, tp.table_part.len);
	t = catalog_find(name);
	free(name);
	/* the key is the rest of the topic: NUL-terminated */
	key = tp.has_key ? tp.key.p : NULL;
	if (!t && !fresh)
	{
		/* perhaps tracked since the catalog was read */
		await_catalog(s);
		return NULL;
	}
	if (!t || (key && !*key))
		return "unmatched topic";
	if (t->stale)
		return "table changed since it was tracked";
	if (s->have && !valid_have(s->have, t, key != NULL))
		return "invalid have";
	tt = tt_get(t, true);
	if (key)
	{
		row		   *r = row_get(tt, key, true);

		s->r = r;
		if (r->loaded)
		{
			lws_dll2_add_tail(&s->link, &r->subs);
			answer(s);
		}
		else
		{
			lws_dll2_add_tail(&s->link, &r->waiting);
			load_row(r);
		}
	}
	else
	{
		s->tt = tt;
		if (tt->loaded)
		{
			lws_dll2_add_tail(&s->link, &tt->subs);
			answer(s);
		}
		else
		{
			lws_dll2_add_tail(&s->link, &tt->waiting);
			load_tab(tt);
		}
	}
	return NULL;
}

const char *
hub_attach(hub_sub *s)
{
	return attach(s, false);
}

/* A join not answered yet (s unlinked) starts over against the catalog just read. */
static void
restart(hub_sub *s)
{
	const char *why = attach(s, true);

	if (why)
		H->join_failed(s, why);
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
static const table *
current_table(const table *t)
{
	const table *now = catalog_find(t->name);

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

/*
 * Merge deltas (kind 0: column unchanged) of incarnation cl into the row of
 * key and fan them out.  Deltas of an incarnation after the one held are
 * whole states: they replace its cells.  From a notification (read false),
 * those of one before are stale: a notification may come after a read that
 * saw a later state (a read can run between a commit and its notification),
 * and the causal length keeps such a late entry from bringing back what was
 * deleted; the row is read again instead.  From a read, any other
 * incarnation replaces the one held.
 */
static void
apply(table_topic *tt, const char *key, int64_t cl, lk_state *deltas, uint64_t ts, bool read,
	  const lk_alloc *a)
{
	row		   *r = row_get(tt, key, false);
	frame	   *rf = NULL,
			   *tf = NULL;

	if (!r && !tt_active(tt))
		return;
	if (!r)
	{
		/* a row new to a table topic's subscribers: its first delta is its state */
		r = row_get(tt, key, true);
		r->loaded = true;
	}
	hub_hold(r);
	/* an entry without one is of the first incarnation (the extension writes cl above 1 only) */
	if (cl == 0)
		cl = 1;
	if (!read && cl < r->cl)
		refresh(r);
	/* stale, or deltas of a deleted incarnation: nothing of it is kept */
	if ((!read && cl < r->cl) || !cl_alive(cl))
	{
		hub_release(r);
		return;
	}
	if (cl != r->cl || (read && r->damaged))
	{
		clear_cells(r);
		r->cl = cl;
		r->damaged = false;
	}
	if (tt_active(tt))
		r->pinned = true;
	for (int i = 0; i < tt->t->ncol; i++)
	{
		lk_error	err;

		if (deltas[i].kind &&
			cell_merge(&r->cells[i], tt->t->cols[i].kind, &deltas[i], a, &err) == CELL_FAILED)
		{
			/* the cell keeps what it had; the read replaces it */
			cell_report("merge", tt->t->name, tt->t->cols[i].name, &err);
			r->damaged = true;
		}
	}
	r->version++;
	if (r->subs.count)
		rf = render_delta_frame(r->topic, r, deltas);
	if (tt->subs.count)
		tf = render_delta_frame(tt->topic, r, deltas);
	deliver(&r->subs, r, deltas, cl, rf);
	deliver(&tt->subs, r, deltas, cl, tf);
	frame_unref(rf);
	frame_unref(tf);
	if (r->damaged)
		refresh(r);
	if (ts)
	{
		uint64_t	now = now_us();

		metrics_lag(now > ts ? now - ts : 0);
	}
	hub_release(r);
}

typedef struct ref_fetch
{
	const table *t;
	char	   *key;
	uint64_t	ts;
} ref_fetch;

/*
 * A reference notification: read the row and take its state as the delta of
 * the incarnation read; a read that finds no row is a deletion.
 */
static void
ref_fetched(void *arg, PGresult *res, const char *error)
{
	ref_fetch  *rf = arg;
	const table *t = current_table(rf->t);
	table_topic *tt = t ? tt_get(t, false) : NULL;

	/* the read's columns are rf->t's: no use to a table whose layout changed since */
	if (tt && !row_read_error(res, error))
	{
		int64_t		cl = cl_value(res, 0, ROW_CL);

		if (cl)
		{
			arena	   *ar = arena_new();
			lk_state   *deltas = xcalloc(t->ncol, sizeof(lk_state));

			for (int i = 0; i < t->ncol; i++)
			{
				const char *text = db_value(res, 0, ROW_COLS + i);
				lk_error	err;

				deltas[i].kind = 0;
				if (text && lk_state_parse(t->cols[i].kind, text, strlen(text),
										   arena_alloc(ar), &deltas[i], &err) != LK_OK)
				{
					cell_report("parse", t->name, t->cols[i].name, &err);
					deltas[i].kind = 0;
				}
			}
			apply(tt, rf->key, cl, deltas, rf->ts, true, arena_alloc(ar));
			free(deltas);
			arena_free(ar);
		}
		else
		{
			row		   *r = row_get(tt, rf->key, false);

			if (r)
			{
				hub_hold(r);
				read_gone(r, cl_value(res, 0, ROW_TOMB));
				hub_release(r);
			}
		}
	}
	free(rf->key);
	free(rf);
}

/*
 * A row's deletion at causal length cl (0: one above the incarnation held).
 * A row the bridge does not hold has nobody to tell: a table topic holds
 * every row that exists.  A deletion below the incarnation held is stale:
 * the row is read again.
 */
static void
notify_deleted(table_topic *tt, const char *key, int64_t cl)
{
	row		   *r = row_get(tt, key, false);

	if (!r)
		return;
	hub_hold(r);
	if (cl == 0)
		cl = r->cl && !cl_alive(r->cl) ? r->cl : (r->cl ? r->cl : 1) + 1;
	if (cl > r->cl)
		delete_row(r, cl);
	else if (cl < r->cl)
		refresh(r);
	hub_release(r);
}

/*
 * A TRUNCATE, or more changes than the transaction could record: read again
 * every row of the table that has subscribers (in one query) and its table
 * topic's rows, as after a reconnection.  Subscribers get state, or delete
 * with the tombstone's causal length.  A TRUNCATE is not simply applied to
 * the rows held (each deleted one above its causal length): its notification
 * may come after a read that saw a row inserted again after it, which it
 * would then delete.  A row being read needs nothing more: that read is newer.
 */
static void
notify_reread(table_topic *tt)
{
	ptr_list	l = values_of(&tt->rows);
	ptr_list	subscribed = {0};

	for (size_t i = 0; i < l.n; i++)
	{
		row		   *r = l.v[i];

		if (r->subs.count && !r->reading)
			ptr_push(&subscribed, r);
	}
	free(l.v);
	reread(tt->t, &subscribed, false, false);
	if (tt_active(tt))
		load_tab(tt);
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
	const table *t;
	table_topic *tt;
	row		   *r;

	if (!tname)
		return;
	/* an unknown table: no topic of it can have subscribers (joins wait for the catalog) */
	if (!(t = catalog_find(tname)) || t->stale || !(tt = tt_get(t, false)))
		return;
	if (!key)
	{
		if (json_is_true(json_object_get(entry, "truncated")) ||
			json_is_true(json_object_get(entry, "resync")))
			notify_reread(tt);
		return;
	}
	if (cl < 0)
	{
		lwsl_warn("laniakea-bridge: ignoring an entry for %s with an invalid cl\n", tname);
		return;
	}
	if (!row_get(tt, key, false) && !tt_active(tt))
		return;
	if (json_is_true(json_object_get(entry, "deleted")))
	{
		notify_deleted(tt, key, cl);
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
		bool		lost = false;

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
				cell_report("parse a notified delta of", tname, t->cols[i].name, &err);
				deltas[i].kind = 0;
				lost = true;
			}
		}
		apply(tt, key, cl, deltas, ts, false, arena_alloc(ar));
		free(deltas);
		arena_free(ar);
		/* the row missed a delta: the database has it */
		if (lost && (r = row_get(tt, key, false)) != NULL)
			refresh(r);
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

/* ---- changes read from the WAL (wal.c) ---- */

bool
hub_needs(const table *t, const char *key)
{
	table_topic *tt = tt_get(t, false);

	return tt && (tt_active(tt) || row_get(tt, key, false));
}

/*
 * A row as a committed transaction left it: whole states, as the WAL has
 * them.  Against the incarnation the bridge holds, what it lacks is sent
 * (delta(held, new), computed here rather than in the writer's trigger);
 * another incarnation's states are sent whole, as a notification of one
 * carries them.  From there on it is a notification's path (apply): stale
 * incarnations are read again, subscribers get the same frames.
 */
void
hub_on_change(const table *t, const char *key, int64_t cl, const wal_col *cols, uint64_t ts)
{
	table_topic *tt = tt_get(t, false);
	row		   *r = tt ? row_get(tt, key, false) : NULL;
	arena	   *ar;
	lk_state   *deltas;
	bool		incremental;
	bool		changed = false;
	bool		unknown = false;

	/* the columns are t's: of no use to a table whose layout changed since */
	if (!tt || !same_layout(tt->t, t) || (!r && !tt_active(tt)))
		return;
	if (cl == 0)
		cl = 1;
	incremental = r && r->cl == cl && !r->damaged;
	ar = arena_new();
	deltas = xcalloc(t->ncol, sizeof(lk_state));
	for (int i = 0; i < t->ncol; i++)
	{
		lk_kind		kind = t->cols[i].kind;
		lk_state	s,
					held;
		lk_error	err;
		bool		leq;

		deltas[i].kind = 0;
		if (!cols[i].text)
		{
			/* an unchanged TOASTed value: the cell keeps what it has, unless it has nothing */
			unknown |= cols[i].unchanged && !incremental;
			continue;
		}
		if (lk_state_parse(kind, cols[i].text, cols[i].len, arena_alloc(ar), &s, &err) != LK_OK)
		{
			cell_report("parse a WAL change of", t->name, t->cols[i].name, &err);
			unknown = true;
			continue;
		}
		if (incremental && cell_state(&r->cells[i], kind, arena_alloc(ar), &held, &err) &&
			lk_state_leq(&s, &held, arena_alloc(ar), &leq, &err) == LK_OK)
		{
			if (leq)
				continue;		/* nothing the bridge lacks (it read this change already) */
			if (lk_state_delta(&held, &s, arena_alloc(ar), &deltas[i], &err) == LK_OK)
			{
				changed = true;
				continue;
			}
		}
		/* the whole state: always a right delta, only larger */
		deltas[i] = s;
		changed = true;
	}
	if (changed || !incremental)
		apply(tt, key, cl, deltas, ts, false, arena_alloc(ar));
	free(deltas);
	arena_free(ar);
	/* a column the change did not carry and the bridge does not hold: the database has it */
	if (unknown && (r = row_get(tt, key, false)) != NULL)
		refresh(r);
}

void
hub_on_deleted(const table *t, const char *key, int64_t cl)
{
	table_topic *tt = tt_get(t, false);

	if (tt)
		notify_deleted(tt, key, cl);
}

void
hub_on_truncated(const table *t)
{
	table_topic *tt = tt_get(t, false);

	if (tt)
		notify_reread(tt);
}

/* ---- catalog changes and (re)connection ---- */

/*
 * The subscribers and waiting joins of a changed table's row or table topic
 * (a table join waiting for its tombstones is on the subscribers' list):
 * joined ones are retired, the others start over.
 */
static void
retire_subs(lws_dll2_owner_t *subs, lws_dll2_owner_t *waiting, bool untracked)
{
	while (subs->head)
	{
		hub_sub    *s = lws_container_of(subs->head, hub_sub, link);
		bool		was_joined = s->joined;

		unlink_sub(s);
		if (was_joined)
			H->retired(s, untracked);
		else
			restart(s);
	}
	while (waiting->head)
	{
		hub_sub    *s = lws_container_of(waiting->head, hub_sub, link);

		unlink_sub(s);
		restart(s);
	}
}

/*
 * Bring the table topics to a new catalog.  Every changed table's topic
 * leaves the map first, its rows with it, so that joins started over below
 * make new ones; it is held while its subscriptions go, then freed unless a
 * read is still under way on it or its rows.
 */
static void
migrate(void)
{
	ptr_list	all = values_of(&tables);
	ptr_list	gone = {0};

	for (size_t i = 0; i < all.n; i++)
	{
		table_topic *tt = all.v[i];
		const table *t = current_table(tt->t);

		if (t)
		{
			ptr_list	rows = values_of(&tt->rows);

			tt->t = t;
			for (size_t k = 0; k < rows.n; k++)
				((row *) rows.v[k])->t = t;
			free(rows.v);
			continue;
		}
		map_del(&tables, tt->t->name);
		tt->orphan = true;
		tt->refs++;
		ptr_push(&gone, tt);
	}
	free(all.v);
	for (size_t i = 0; i < gone.n; i++)
	{
		table_topic *tt = gone.v[i];
		bool		untracked = !catalog_find(tt->t->name);
		ptr_list	rows = values_of(&tt->rows);

		/* held: a channel let go frees its pending entries, which may hold the last reference */
		for (size_t k = 0; k < rows.n; k++)
			hub_hold(rows.v[k]);
		retire_subs(&tt->subs, &tt->waiting, untracked);
		for (size_t k = 0; k < rows.n; k++)
		{
			row		   *r = rows.v[k];

			r->pinned = false;
			retire_subs(&r->subs, &r->waiting, untracked);
		}
		for (size_t k = 0; k < rows.n; k++)
			hub_release(rows.v[k]);
		free(rows.v);
		tt->refs--;
		tt_maybe_free(tt);
	}
	free(gone.v);
}

/* NOTIFYs sent while the bridge was away are lost: read every subscribed row and table again. */
static void
resync_all(resync_mode mode)
{
	ptr_list	all = values_of(&tables);

	for (size_t i = 0; i < all.n; i++)
	{
		table_topic *tt = all.v[i];
		ptr_list	rows = values_of(&tt->rows);

		for (size_t k = 0; k < rows.n; k++)
		{
			row		   *r = rows.v[k];

			if (!(r->subs.count || r->waiting.count))
				continue;
			if (mode == RESYNC_ALL)
				load_row(r);
			else
				refresh(r);
		}
		free(rows.v);
		if (tt_active(tt))
		{
			if (mode == RESYNC_CHANGED && !tt->reading)
				tt->resend_changed = true;
			load_tab(tt);
		}
	}
	free(all.v);
}

static void
catalog_loaded(PGresult *res, const char *error, resync_mode resync)
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
		if (resync != RESYNC_NONE)
			resync_all(resync);
	}
	while (catalog_wait.head)
	{
		hub_sub    *s = lws_container_of(catalog_wait.head, hub_sub, link);

		lws_dll2_remove(&s->link);
		if (why)
			H->join_failed(s, why);
		else
			restart(s);
	}
	/* a failed read fails the joins waiting for the next too: it would fail alike */
	while (catalog_wait_next.head)
	{
		hub_sub    *s = lws_container_of(catalog_wait_next.head, hub_sub, link);

		lws_dll2_remove(&s->link);
		if (why)
			H->join_failed(s, why);
		else
			lws_dll2_add_tail(&s->link, &catalog_wait);
	}
	again = catalog_again && !why;
	catalog_again = false;
	if (again)
	{
		resync_mode next = catalog_again_resync;

		catalog_again_resync = RESYNC_NONE;
		read_catalog(next);
	}
}

static void
catalog_read(void *arg, PGresult *res, const char *error)
{
	catalog_loaded(res, error, (resync_mode) (uintptr_t) arg);
}

static void
read_catalog(resync_mode resync)
{
	if (catalog_reading)
	{
		/* the read under way may have passed what this one is for */
		catalog_again = true;
		if (resync > catalog_again_resync)
			catalog_again_resync = resync;
		return;
	}
	catalog_reading = true;
	db_query(catalog_query, 0, NULL, catalog_read, (void *) (uintptr_t) resync);
}

void
hub_on_catalog(const char *payload)
{
	read_catalog(RESYNC_NONE);
}

void
hub_on_ready(void)
{
	read_catalog(RESYNC_ALL);
}

/* Changes may have been missed (the WAL source was away): read everything held again, send what changed. */
void
hub_resync(void)
{
	/* what committed before the new slot's start is not decoded, and may not be visible yet */
	stream_gen++;
	recent_lost_unknown();
	if (!probe_timer_on)
	{
		probe_timer_on = true;
		lws_sul_schedule(CTX, 0, &probe_sul, probe_tick, 1);
	}
	read_catalog(RESYNC_CHANGED);
}
