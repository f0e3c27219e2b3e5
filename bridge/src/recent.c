/*
 * recent.c — changes received that a read may not see yet (recent.h).
 */
#include "recent.h"

#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "metrics.h"
#include "xalloc.h"

/* the changes of one row, oldest first */
typedef struct row_changes
{
	recent_change *head,
			   *tail;
} row_changes;

static struct
{
	size_t		cap;
	size_t		bytes;
	size_t		count;
	recent_change *head,
			   *tail;
	map			rows;			/* "<table>:<key>" → row_changes */
	bool		lost32;			/* a change was not kept; lost_xid not widened yet */
	uint32_t	lost_xid;		/* the latest such transaction */
	uint64_t	lost_until;		/* lossy until snapshots' xmin passes this (0: not) */
	bool		unknown;		/* lossy until recent_lost_before */
} R;

/* "<table>:<key>": a table's name has its ':' escaped (lk_topic.h), so the first one ends it */
static char *
row_id(const table *t, const char *key)
{
	return xasprintf("%s:%s", t->name, key);
}

void
recent_init(size_t cap)
{
	recent_clear();
	R.cap = cap;
	map_init(&R.rows);
}

static void
metrics_sync(void)
{
	M.wal_window_bytes = R.bytes;
	M.wal_window_changes = R.count;
}

static void
forget(recent_change *c)
{
	row_changes *rc = c->row;

	if (c->prev)
		c->prev->next = c->next;
	else
		R.head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		R.tail = c->prev;
	if (c->key_prev)
		c->key_prev->key_next = c->key_next;
	else
		rc->head = c->key_next;
	if (c->key_next)
		c->key_next->key_prev = c->key_prev;
	else
		rc->tail = c->key_prev;
	if (!rc->head)
	{
		map_del(&R.rows, c->id);
		free(rc);
	}
	R.bytes -= c->bytes;
	R.count--;
	free(c->id);
	free(c->cols);
	free(c->data);
	free(c);
}

void
recent_add(const table *t, const char *key, bool deleted, int64_t cl, wal_col *cols, char *data,
		   size_t bytes, uint32_t xid)
{
	recent_change *c;
	row_changes *rc;

	bytes += sizeof(recent_change) + strlen(key) + 1 + (cols ? (size_t) t->ncol * sizeof(wal_col) : 0);
	if (R.bytes + bytes > R.cap)
	{
		/* the latest transaction not kept: ids of committed ones compare within 2^31 */
		if (!R.lost32 || (int32_t) (xid - R.lost_xid) > 0)
			R.lost_xid = xid;
		R.lost32 = true;
		M.wal_window_overflows_total++;
		free(cols);
		free(data);
		return;
	}
	c = xcalloc(1, sizeof(recent_change));
	c->t = t;
	c->id = row_id(t, key);
	c->key = c->id + strlen(t->name) + 1;
	c->deleted = deleted;
	c->cl = cl;
	c->cols = cols;
	c->data = data;
	c->xid = xid;
	c->bytes = bytes;
	c->prev = R.tail;
	if (R.tail)
		R.tail->next = c;
	else
		R.head = c;
	R.tail = c;
	if (!(rc = map_get(&R.rows, c->id)))
	{
		rc = xcalloc(1, sizeof(row_changes));
		map_put(&R.rows, c->id, rc);
	}
	c->row = rc;
	c->key_prev = rc->tail;
	if (rc->tail)
		rc->tail->key_next = c;
	else
		rc->head = c;
	rc->tail = c;
	R.bytes += bytes;
	R.count++;
	metrics_sync();
}

recent_change **
recent_unseen(const char *tname, const char *key, const xsnap *s, size_t *n)
{
	recent_change **out = NULL;
	size_t		cap = 0;
	recent_change *c;

	*n = 0;
	if (!R.head)
		return NULL;
	if (key)
	{
		char	   *id = xasprintf("%s:%s", tname, key);
		row_changes *rc = map_get(&R.rows, id);

		free(id);
		c = rc ? rc->head : NULL;
	}
	else
		c = R.head;
	for (; c; c = key ? c->key_next : c->next)
	{
		if ((!key && strcmp(c->t->name, tname) != 0) || xsnap_sees(s, xsnap_widen(s, c->xid)))
			continue;
		if (*n == cap)
		{
			cap = cap ? cap * 2 : 8;
			out = xrealloc(out, cap * sizeof(recent_change *));
		}
		out[(*n)++] = c;
	}
	return out;
}

void
recent_observe(const xsnap *s)
{
	recent_change *c = R.head;

	while (c)
	{
		recent_change *next = c->next;

		if (xsnap_sees(s, xsnap_widen(s, c->xid)))
			forget(c);
		c = next;
	}
	if (R.lost32)
	{
		uint64_t	x = xsnap_widen(s, R.lost_xid);

		if (x > R.lost_until)
			R.lost_until = x;
		R.lost32 = false;
	}
	/* every transaction before xmin had finished: later reads see all that was not kept */
	if (R.lost_until && R.lost_until < s->xmin)
		R.lost_until = 0;
	metrics_sync();
}

bool
recent_lossy(const xsnap *s)
{
	return R.unknown || (R.lost32 && xsnap_widen(s, R.lost_xid) >= s->xmin) ||
		(R.lost_until && R.lost_until >= s->xmin);
}

void
recent_lost_unknown(void)
{
	R.unknown = true;
}

void
recent_lost_before(uint64_t xmax)
{
	R.unknown = false;
	if (xmax && xmax - 1 > R.lost_until)
		R.lost_until = xmax - 1;
}

bool
recent_idle(void)
{
	return !R.head && !R.lost32 && !R.lost_until && !R.unknown;
}

void
recent_clear(void)
{
	while (R.head)
		forget(R.head);
	free(R.rows.buckets);
	memset(&R.rows, 0, sizeof(R.rows));
	R.lost32 = false;
	R.lost_until = 0;
	R.unknown = false;
	metrics_sync();
}
