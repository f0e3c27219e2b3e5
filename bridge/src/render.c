/*
 * render.c — JSON and HTML of rows (render.h).
 */
#include "render.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "lk_json.h"
#include "wire.h"
#include "xalloc.h"

/*
 * "name":<cell's JSON> as a member of an object being written (delta
 * against have when have is not NULL); a cell that does not decode is
 * reported and left out, never sent as an empty state.
 */
static void
member_cell(lk_buf *b, bool *first, const table *t, int i, const cell *c, const lk_state *have,
			const lk_alloc *a)
{
	size_t		mark = b->len;
	bool		was_first = *first;
	lk_error	err;
	bool		ok;

	wire_member(b, first, t->cols[i].name);
	ok = have ? cell_delta_json(c, t->cols[i].kind, have, a, b, &err) :
		cell_json(c, t->cols[i].kind, a, b, &err);
	if (!ok)
	{
		cell_report("decode", t->name, t->cols[i].name, &err);
		b->len = mark;
		*first = was_first;
	}
}

static void
put_cl(lk_buf *b, int64_t cl)
{
	lk_buf_put_str(b, ",\"cl\":");
	lk_buf_put_int(b, cl);
}

static void
columns_json(lk_buf *b, const table *t)
{
	bool		first = true;

	lk_buf_put_str(b, "\"columns\":{");
	for (int i = 0; i < t->ncol; i++)
	{
		wire_member(b, &first, t->cols[i].name);
		wire_string(b, lk_kind_name(t->cols[i].kind));
	}
	lk_buf_put_u8(b, '}');
}

/*
 * {"key":K,"cl":n,"state":{…}} or, against have ({col: state}),
 * {"key":K,"cl":n,"delta":{…}}; "cl" always (1 for a row never written)
 * or only above 1, and a deleted row as {"key":K,"cl":n,"deleted":true,
 * "state":{…}} with empty states.  have says nothing of the incarnation it
 * is of, so only a row that was never deleted (cl 1) is answered with a
 * delta: a delta against an older incarnation's state would be wrong.
 */
static void
row_json(lk_buf *b, const row *r, json_t *have, bool always_cl, const lk_alloc *a)
{
	bool		first = true;
	bool		deleted = r->cl && !cl_alive(r->cl);

	if (r->cl > 1)
		have = NULL;
	lk_buf_put_str(b, "{\"key\":");
	wire_string(b, r->key);
	if (always_cl || r->cl > 1)
		put_cl(b, r->cl ? r->cl : 1);
	if (deleted)
		lk_buf_put_str(b, ",\"deleted\":true");
	lk_buf_put_str(b, have ? ",\"delta\":{" : ",\"state\":{");
	for (int i = 0; i < r->t->ncol; i++)
	{
		const column *col = &r->t->cols[i];
		json_t	   *h = have ? json_object_get(have, col->name) : NULL;
		char	   *text = h ? json_dumps(h, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		lk_state	hs;
		lk_error	err;

		/* have was checked at the join (hub.c, valid_have): it parses */
		member_cell(b, &first, r->t, i, &r->cells[i],
					text && lk_state_parse(col->kind, text, strlen(text), a, &hs, &err) == LK_OK ? &hs : NULL,
					a);
		free(text);
	}
	lk_buf_put_str(b, "}}");
}

typedef struct table_reply
{
	lk_buf	   *b;
	json_t	   *have;
	const lk_alloc *a;
	bool		first;
} table_reply;

static void
table_row_json(const char *key, void *value, void *arg)
{
	const row  *r = value;
	table_reply *tr = arg;

	if (!r->pinned || !cl_alive(r->cl))
		return;
	if (!tr->first)
		lk_buf_put_u8(tr->b, ',');
	tr->first = false;
	row_json(tr->b, r, tr->have ? json_object_get(tr->have, r->key) : NULL, false, tr->a);
}

/*
 * A table join's have names keys the client holds: those deleted now are
 * listed {"key":K,"cl":n,"deleted":true}, from the row the bridge holds or
 * the tombstone read for the join (tombs).
 */
static void
table_deleted_json(table_reply *tr, const table_topic *tt, const map *tombs)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(tr->have, key, v)
	{
		const row  *r = map_get(&tt->rows, key);
		int64_t		cl = tombs ? (int64_t) (intptr_t) map_get(tombs, key) : 0;

		if (r && cl_alive(r->cl))
			continue;			/* it exists: listed above */
		if (r && r->cl > cl)
			cl = r->cl;
		if (cl == 0)
			continue;			/* never written here: the client's own, not yet pushed */
		if (!tr->first)
			lk_buf_put_u8(tr->b, ',');
		tr->first = false;
		lk_buf_put_str(tr->b, "{\"key\":");
		wire_string(tr->b, key);
		put_cl(tr->b, cl);
		lk_buf_put_str(tr->b, ",\"deleted\":true}");
	}
}

void
render_join_response(lk_buf *b, const char *profile, const char *node, const row *r,
					 const table_topic *tt, json_t *have, const map *tombs)
{
	arena	   *ar = arena_new();

	lk_buf_put_str(b, "{\"profile\":");
	wire_string(b, profile);
	if (node)
	{
		lk_buf_put_str(b, ",\"node\":");
		wire_string(b, node);
	}
	lk_buf_put_u8(b, ',');
	columns_json(b, r ? r->t : tt->t);
	if (r)
	{
		lk_buf		rb;

		/* row_json writes an object: its members go into the response */
		lk_buf_init(&rb, &lk_std_alloc, 128);
		row_json(&rb, r, have, true, arena_alloc(ar));
		lk_buf_put_u8(b, ',');
		lk_buf_put(b, rb.data + 1, rb.len - 2);
		lk_free(&lk_std_alloc, rb.data);
	}
	else
	{
		table_reply tr = {b, have, arena_alloc(ar), true};

		lk_buf_put_str(b, ",\"rows\":[");
		map_each(&tt->rows, table_row_json, &tr);
		if (have)
			table_deleted_json(&tr, tt, tombs);
		lk_buf_put_u8(b, ']');
	}
	lk_buf_put_u8(b, '}');
	lk_buf_put_u8(b, '\0');
	arena_free(ar);
}

frame *
render_delta_frame(const char *topic, const row *r, const lk_state *deltas)
{
	lk_buf		b;
	frame	   *f;
	bool		first = true;

	lk_buf_init(&b, &lk_std_alloc, 256);
	wire_begin(&b, NULL, NULL, topic, "delta");
	lk_buf_put_str(&b, "{\"key\":");
	wire_string(&b, r->key);
	if (r->cl > 1)
		put_cl(&b, r->cl);
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

void
render_deletion(lk_buf *b, const row *r, int64_t cl, bool in_batch)
{
	lk_buf_put_str(b, "{\"key\":");
	wire_string(b, r->key);
	put_cl(b, cl);
	lk_buf_put_str(b, in_batch ? ",\"deleted\":true}" : "}");
}

frame *
render_delete_frame(const char *topic, const row *r)
{
	lk_buf		b;
	frame	   *f;

	lk_buf_init(&b, &lk_std_alloc, 128);
	wire_begin(&b, NULL, NULL, topic, "delete");
	render_deletion(&b, r, r->cl, false);
	wire_end(&b);
	f = frame_from_buf(&b);
	lk_free(&lk_std_alloc, b.data);
	return f;
}

void
render_html_escape(lk_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		switch (s[i])
		{
			case '<':
				lk_buf_put_str(b, "&lt;");
				break;
			case '>':
				lk_buf_put_str(b, "&gt;");
				break;
			case '&':
				lk_buf_put_str(b, "&amp;");
				break;
			case '"':
				lk_buf_put_str(b, "&quot;");
				break;
			case '\'':
				lk_buf_put_str(b, "&#39;");
				break;
			default:
				lk_buf_put_u8(b, (uint8_t) s[i]);
		}
	}
}

/* Server-rendered HTML of a row for minimal clients, as a JSON string. */
static void
row_html(lk_buf *out, const row *r, const lk_alloc *a)
{
	lk_buf		h;

	lk_buf_init(&h, a, 128);
	for (int i = 0; i < r->t->ncol; i++)
	{
		const column *col = &r->t->cols[i];
		lk_state	s;
		lk_error	err;
		int64_t		v;

		if (!cell_state(&r->cells[i], col->kind, a, &s, &err))
		{
			cell_report("decode", r->t->name, col->name, &err);
			continue;
		}
		lk_buf_put_str(&h, col->kind == LK_ORSET ? "<ul class=\"lk-" : "<span class=\"lk-");
		render_html_escape(&h, col->name, strlen(col->name));
		lk_buf_put_str(&h, "\">");
		if (col->kind == LK_LWWREG)
		{
			if (s.u.lw.present)
				render_html_escape(&h, s.u.lw.value.p, s.u.lw.value.len);
			lk_buf_put_str(&h, "</span>");
		}
		else if (col->kind == LK_ORSET)
		{
			for (uint32_t e = 0; e < s.u.os.nelems; e++)
			{
				lk_buf_put_str(&h, "<li>");
				render_html_escape(&h, s.u.os.elems[e].s.p, s.u.os.elems[e].s.len);
				lk_buf_put_str(&h, "</li>");
			}
			lk_buf_put_str(&h, "</ul>");
		}
		else
		{
			lk_code		rc = col->kind == LK_GCOUNTER ? lk_gcounter_value(&s.u.gc, &v, &err) :
				lk_pncounter_value(&s.u.pn, &v, &err);

			if (rc == LK_OK)
				lk_buf_put_int(&h, v);
			else
				lk_buf_put_str(&h, "out of range");
			lk_buf_put_str(&h, "</span>");
		}
	}
	lk_json_put_string(out, lk_str_make((const char *) h.data, h.len));
}

void
render_pending_row(lk_buf *b, const row *r, const cell *pending, int64_t cl, bool html,
				   const lk_alloc *a)
{
	bool		first = true;

	lk_buf_put_str(b, "{\"key\":");
	wire_string(b, r->key);
	if (cl > 1)
		put_cl(b, cl);
	lk_buf_put_str(b, pending ? ",\"deltas\":{" : ",\"state\":{");
	for (int i = 0; i < r->t->ncol; i++)
	{
		if (pending && !pending[i].bytes)
			continue;
		member_cell(b, &first, r->t, i, pending ? &pending[i] : &r->cells[i], NULL, a);
	}
	lk_buf_put_u8(b, '}');
	if (html)
	{
		lk_buf_put_str(b, ",\"html\":");
		row_html(b, r, a);
	}
	lk_buf_put_u8(b, '}');
}
