/*
 * session.c — WebSocket connections, their channels, and what each client
 * is sent and when.
 *
 * Outgoing frames wait in a per-connection ring.  A full-profile channel
 * gets the shared broadcast frame while its ring is less than half full; once
 * the client falls behind, or for throttled profiles, deltas are merged into
 * the channel's pending state instead, so memory per client is bounded by
 * state size, not by the message rate.  Past --pending-cap bytes the pending
 * deltas are dropped and the client is resent full state when it can take it.
 *
 * Replies cannot be merged, so the bridge stops reading from a client whose
 * ring is half full (lws rx flow control) and reads on once it has drained:
 * a client that sends faster than it reads is slowed down by TCP, and a burst
 * of any length is answered in full and in order.  The ring grows past
 * CONN_RING only for replies the client is owed and for events about its
 * channels (phx_error, phx_close), bounded by --max-pending-pushes and
 * --max-channels.
 *
 * A close goes out after the frames queued before it, and lws then reads
 * (and drops) what the client still sends until it answers the close: closing
 * a socket with unread input makes the kernel reset the connection, and the
 * client would lose the replies and the close frame it had not read yet.
 */
#include "bridge.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "arena.h"
#include "fragment.h"
#include "lws/workarounds.h"
#include "metrics.h"
#include "wire.h"

typedef struct pss
{
	conn	   *c;
	json_t	   *claims;			/* verified during the handshake, until ESTABLISHED */
	http_reply	http;
} pss;

static lws_dll2_owner_t all_conns;
static map	per_ip;				/* address → open connections (as intptr_t) */
static bool ip_map_ready;

void
conn_ref(conn *c)
{
	c->refs++;
}

void
conn_unref(conn *c)
{
	if (--c->refs > 0)
		return;
	for (int i = 0; i < c->ring_count; i++)
		frame_unref(c->ring[(c->ring_head + i) % c->ring_cap]);
	free(c->ring);
	free(c->topics.buckets);
	free(c->rx);
	free(c->node);
	if (c->claims)
		json_decref(c->claims);
	free(c);
}

/* One writable request per event: a burst of frames to one client asks lws once. */
static void
request_write(conn *c)
{
	if (!c->want_write)
	{
		c->want_write = true;
		lws_callback_on_writable(c->wsi);
	}
}

/* Copy the ring in order into n slots (n >= ring_count). */
static void
ring_resize(conn *c, int n)
{
	frame	  **r = xmalloc((size_t) n * sizeof(frame *));

	for (int i = 0; i < c->ring_count; i++)
		r[i] = c->ring[(c->ring_head + i) % c->ring_cap];
	free(c->ring);
	c->ring = r;
	c->ring_head = 0;
	c->ring_cap = n;
}

static void
ring_push(conn *c, frame *f)
{
	if (c->ring_count == c->ring_cap)
		ring_resize(c, c->ring_cap * 2);
	c->ring[(c->ring_head + c->ring_count) % c->ring_cap] = f;
	c->ring_count++;
}

static void
rx_pause(conn *c)
{
	if (!c->rx_paused && c->wsi)
	{
		c->rx_paused = true;
		lws_rx_flow_control(c->wsi, 0);
	}
}

static void
rx_resume(conn *c)
{
	if (c->rx_paused && c->wsi)
	{
		c->rx_paused = false;
		lws_rx_flow_control(c->wsi, 1);
	}
}

/* Queue a close behind what the ring holds; input is ignored from here on. */
static void
close_conn(conn *c, enum lws_close_status status, const char *reason)
{
	if (!c->wsi || c->closing)
		return;
	c->closing = true;
	lws_close_reason(c->wsi, status, (unsigned char *) reason, strlen(reason));
	/* lws must read on to see the client's answer to the close */
	rx_resume(c);
	request_write(c);
}

void
conn_send(conn *c, frame *f)
{
	if (!c->wsi || c->closing)
		return;
	frame_ref(f);
	ring_push(c, f);
	request_write(c);
}

static void
send_and_release(conn *c, frame *f)
{
	conn_send(c, f);
	frame_unref(f);
}

/* A server event about channel ch itself (phx_close, phx_error), under its join_ref. */
static void
send_channel_event(channel *ch, const char *event, const char *payload)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_std_alloc, 64);
	wire_begin(&b, ch->join_ref, ch->join_ref, ch->topic, event);
	lk_buf_put_str(&b, payload);
	wire_end(&b);
	send_and_release(ch->conn, frame_from_buf(&b));
	lk_free(&lk_std_alloc, b.data);
}

/* ---- channels ---- */

static channel *
find_channel(conn *c, const char *topic)
{
	return map_get(&c->topics, topic);
}

static void
pending_free(const char *key, void *value, void *arg)
{
	pending    *p = value;
	row		   *r = p->r;

	for (int i = 0; i < r->t->ncol; i++)
		cell_clear(&p->cells[i]);
	free(p->cells);
	free(p);
	hub_row_unref(r);
}

static void
pending_clear(channel *ch)
{
	map_each(&ch->pending, pending_free, NULL);
	map_clear(&ch->pending);
	ch->pending_bytes = 0;
}

static void
channel_free(channel *ch)
{
	/* pending entries point at rows that hub_detach may free: clear them first */
	pending_clear(ch);
	hub_detach(ch);
	lws_dll2_remove(&ch->conn_link);
	map_del(&ch->conn->topics, ch->topic);
	free(ch->pending.buckets);
	if (ch->have)
		json_decref(ch->have);
	free(ch->topic);
	free(ch->join_ref);
	free(ch->join_msg_ref);
	free(ch);
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
	bool		deleted = r->cl && r->cl % 2 == 0;

	if (r->cl > 1)
		have = NULL;
	lk_buf_put_str(b, "{\"key\":");
	wire_string(b, r->key);
	if (always_cl || r->cl > 1)
	{
		lk_buf_put_str(b, ",\"cl\":");
		lk_buf_put_int(b, r->cl ? r->cl : 1);
	}
	if (deleted)
		lk_buf_put_str(b, ",\"deleted\":true");
	lk_buf_put_str(b, have ? ",\"delta\":{" : ",\"state\":{");
	for (int i = 0; i < r->t->ncol; i++)
	{
		const column *col = &r->t->cols[i];
		json_t	   *h = have ? json_object_get(have, col->name) : NULL;

		wire_member(b, &first, col->name);
		if (h)
		{
			char	   *text = json_dumps(h, JSON_COMPACT | JSON_ENCODE_ANY);
			lk_state	hs;
			lk_error	err;

			if (text && lk_state_parse(col->kind, text, strlen(text), a, &hs, &err) == LK_OK)
				cell_delta_json(&r->cells[i], col->kind, &hs, a, b);
			else
				cell_json(&r->cells[i], col->kind, a, b);
			free(text);
		}
		else
			cell_json(&r->cells[i], col->kind, a, b);
	}
	lk_buf_put_str(b, "}}");
}

typedef struct table_reply
{
	lk_buf	   *b;
	const table *t;
	json_t	   *have;
	const lk_alloc *a;
	bool		first;
} table_reply;

static void
table_row_json(const char *key, void *value, void *arg)
{
	row		   *r = value;
	table_reply *tr = arg;

	if (strcmp(r->t->name, tr->t->name) != 0 || !r->pinned || r->cl % 2 == 0)
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
table_deleted_json(table_reply *tr, const map *tombs)
{
	const char *key;
	json_t	   *v;

	json_object_foreach(tr->have, key, v)
	{
		row		   *r = hub_row((table *) tr->t, key);
		int64_t		cl = tombs ? (int64_t) (intptr_t) map_get(tombs, key) : 0;

		if (r && r->cl % 2 == 1)
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
		lk_buf_put_str(tr->b, ",\"cl\":");
		lk_buf_put_int(tr->b, cl);
		lk_buf_put_str(tr->b, ",\"deleted\":true}");
	}
}

void
channel_joined(channel *ch, const map *tombs)
{
	conn	   *c = ch->conn;
	arena	   *ar = arena_new();
	lk_buf		b;
	table	   *t = ch->r ? ch->r->t : ch->tb->t;

	lk_buf_init(&b, &lk_std_alloc, 256);
	lk_buf_put_str(&b, "{\"profile\":");
	wire_string(&b, profile_name(ch->prof));
	if (c->node)
	{
		lk_buf_put_str(&b, ",\"node\":");
		wire_string(&b, c->node);
	}
	lk_buf_put_u8(&b, ',');
	columns_json(&b, t);
	if (ch->r)
	{
		lk_buf_put_u8(&b, ',');
		/* row_json writes an object: splice its members into the response */
		{
			lk_buf		rb;

			lk_buf_init(&rb, &lk_std_alloc, 128);
			row_json(&rb, ch->r, ch->have, true, arena_alloc(ar));
			lk_buf_put(&b, rb.data + 1, rb.len - 2);
			lk_free(&lk_std_alloc, rb.data);
		}
	}
	else
	{
		table_reply tr = {&b, t, ch->have, arena_alloc(ar), true};

		lk_buf_put_str(&b, ",\"rows\":[");
		map_each(hub_rows(), table_row_json, &tr);
		if (ch->have)
			table_deleted_json(&tr, tombs);
		lk_buf_put_u8(&b, ']');
	}
	lk_buf_put_u8(&b, '}');
	lk_buf_put_u8(&b, '\0');
	ch->joined = true;
	ch->last_flush = lws_now_usecs();
	M.joins_total++;
	send_and_release(c, wire_reply(ch->join_ref, ch->join_msg_ref, ch->topic, true,
								   (const char *) b.data));
	lk_free(&lk_std_alloc, b.data);
	arena_free(ar);
	if (ch->have)
		json_decref(ch->have);
	ch->have = NULL;
}

void
channel_join_failed(channel *ch, const char *reason)
{
	M.join_errors_total++;
	send_and_release(ch->conn, wire_error(ch->join_ref, ch->join_msg_ref, ch->topic, reason));
	channel_free(ch);
}

/*
 * A table no longer tracked is gone for good: phx_close, after which the
 * phoenix client does not rejoin.  A table whose columns changed: phx_error,
 * after which it rejoins and learns the new columns from the join reply.
 */
void
channel_retired(channel *ch, bool untracked)
{
	send_channel_event(ch, untracked ? "phx_close" : "phx_error",
					   untracked ? "{\"reason\":\"table not tracked\"}" : "{\"reason\":\"table changed\"}");
	channel_free(ch);
}

/* ---- pending deltas and flushing ---- */

static void arm_timer(conn *c);

static pending *
pending_for(channel *ch, row *r)
{
	pending    *p = map_get(&ch->pending, r->topic);

	if (!p)
	{
		p = xcalloc(1, sizeof(pending));
		p->r = r;
		r->refs++;
		p->cells = xcalloc(r->t->ncol, sizeof(cell));
		map_put(&ch->pending, r->topic, p);
	}
	return p;
}

/* Drop p's merged deltas (the channel's byte count too). */
static void
pending_drop(channel *ch, pending *p)
{
	for (int i = 0; i < p->r->t->ncol; i++)
		cell_clear(&p->cells[i]);
	ch->pending_bytes -= p->bytes;
	p->bytes = 0;
}

static void
mark_resync(const char *key, void *value, void *arg)
{
	pending    *p = value;

	for (int i = 0; i < p->r->t->ncol; i++)
		cell_clear(&p->cells[i]);
	p->bytes = 0;
	p->resync = true;
}

/*
 * Throttled channels flush on a grid of their period (multiples of it on the
 * monotonic clock): the subscribers of a row that keep up then flush together
 * with the same content and share one encoding (fragment.h).  The next flush
 * is the first grid point at least 0.9 period after the last one really ran,
 * so a flush that ran late does not let the next follow at once: a constrained
 * channel gets at most 11 frames in any second, a minimal one frames at least
 * 0.9 s apart.  A flush more than 0.1 period late skips one grid point.
 */
static lws_usec_t
next_tick(const channel *ch, lws_usec_t period)
{
	lws_usec_t	earliest = ch->last_flush + period - period / 10;
	lws_usec_t	now = lws_now_usecs();

	if (earliest < now)
		earliest = now;
	return (earliest + period - 1) / period * period;
}

static void
schedule(channel *ch)
{
	conn	   *c = ch->conn;
	lws_usec_t	period = profile_period(ch->prof);

	if (!c->wsi)
		return;
	if (period == 0)
	{
		request_write(c);
		return;
	}
	if (ch->due == 0)
	{
		ch->due = next_tick(ch, period);
		arm_timer(c);
	}
}

/*
 * Merge deltas of incarnation cl into ch's pending state for r (deltas NULL:
 * resend r's full state).  Deltas of a later incarnation than the pending
 * ones replace them, a pending deletion included: the later causal length
 * tells the client that what it held is gone.
 */
static void
pending_merge(channel *ch, row *r, const lk_state *deltas, int64_t cl)
{
	pending    *p = pending_for(ch, r);
	arena	   *ar;

	if (!p->resync && deltas && cl < p->cl)
	{
		schedule(ch);
		return;
	}
	if (!p->resync && deltas)
	{
		if (cl > p->cl)
		{
			pending_drop(ch, p);
			p->cl = cl;
		}
		ar = arena_new();
		for (int i = 0; i < r->t->ncol; i++)
		{
			if (!deltas[i].kind)
				continue;
			ch->pending_bytes -= p->cells[i].len;
			p->bytes -= p->cells[i].len;
			cell_merge(&p->cells[i], r->t->cols[i].kind, &deltas[i], arena_alloc(ar));
			ch->pending_bytes += p->cells[i].len;
			p->bytes += p->cells[i].len;
		}
		arena_free(ar);
		if (ch->pending_bytes > (size_t) CFG.pending_cap)
		{
			M.culled_total++;
			map_each(&ch->pending, mark_resync, NULL);
			ch->pending_bytes = 0;
		}
	}
	else if (!deltas)
	{
		pending_drop(ch, p);
		p->resync = true;
	}
	schedule(ch);
}

void
channel_deliver(channel *ch, row *r, const lk_state *deltas, int64_t cl, frame *shared)
{
	conn	   *c = ch->conn;

	if (!ch->joined || !c->wsi || c->closing)
		return;
	if (ch->prof == PROFILE_FULL && ch->pending.count == 0 && c->ring_count < CONN_RING / 2)
	{
		conn_send(c, shared);
		return;
	}
	pending_merge(ch, r, deltas, cl);
}

/*
 * A deletion is never merged away: it replaces whatever is pending for the
 * row (a full-state resend included) and is sent as a "delete" event, unless
 * a later incarnation's deltas replace it in turn before the flush.
 */
void
channel_deleted(channel *ch, row *r, frame *shared)
{
	conn	   *c = ch->conn;
	pending    *p;

	if (!ch->joined || !c->wsi || c->closing)
		return;
	if (ch->prof == PROFILE_FULL && ch->pending.count == 0 && c->ring_count < CONN_RING / 2)
	{
		conn_send(c, shared);
		return;
	}
	p = pending_for(ch, r);
	pending_drop(ch, p);
	p->cl = r->cl;
	p->resync = false;
	schedule(ch);
}

void
channel_resync(channel *ch, row *r)
{
	if (!ch->joined || !ch->conn->wsi)
		return;
	pending_merge(ch, r, NULL, 0);
}

static void
html_escape(lk_buf *b, const char *s, size_t n)
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

		cell_state(&r->cells[i], col->kind, a, &s);
		lk_buf_put_str(&h, col->kind == LK_ORSET ? "<ul class=\"lk-" : "<span class=\"lk-");
		html_escape(&h, col->name, strlen(col->name));
		lk_buf_put_str(&h, "\">");
		if (col->kind == LK_LWWREG)
		{
			if (s.u.lw.present)
				html_escape(&h, s.u.lw.value.p, s.u.lw.value.len);
			lk_buf_put_str(&h, "</span>");
		}
		else if (col->kind == LK_ORSET)
		{
			for (uint32_t e = 0; e < s.u.os.nelems; e++)
			{
				lk_buf_put_str(&h, "<li>");
				html_escape(&h, s.u.os.elems[e].s.p, s.u.os.elems[e].s.len);
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

/* Is a pending row sent as full state (resend, minimal profile) rather than its deltas? */
static bool
pending_full(const channel *ch, const pending *p)
{
	return p->resync || ch->prof == PROFILE_MINIMAL;
}

/* The causal length of the deletion a pending row is sent as, or 0 when it is not one. */
static int64_t
pending_deletion(const channel *ch, const pending *p)
{
	int64_t		cl = pending_full(ch, p) ? p->r->cl : p->cl;

	return cl && cl % 2 == 0 ? cl : 0;
}

/*
 * A pending deletion: {"key":K,"cl":n}, the payload of a "delete" event, or
 * as a member of a batch {"key":K,"cl":n,"deleted":true}.
 */
static void
deletion_json(lk_buf *b, const row *r, int64_t cl, bool in_batch)
{
	lk_buf_put_str(b, "{\"key\":");
	wire_string(b, r->key);
	lk_buf_put_str(b, ",\"cl\":");
	lk_buf_put_int(b, cl);
	lk_buf_put_str(b, in_batch ? ",\"deleted\":true}" : "}");
}

/*
 * One pending row (not a deletion) as a batch member or event payload: r's
 * cached fragment when another subscriber had the same content, else
 * encoded here and cached.  "cl" when above 1: the row's for full state,
 * the deltas' own otherwise.
 */
static const fragment *
pending_fragment(channel *ch, pending *p, frag_kind *kind)
{
	row		   *r = p->r;
	bool		full = pending_full(ch, p);
	int64_t		cl = full ? r->cl : p->cl;
	const fragment *f;
	lk_buf		b;
	arena	   *ar;
	bool		first = true;

	*kind = !full ? FRAG_DELTA : ch->prof == PROFILE_MINIMAL ? FRAG_STATE_HTML : FRAG_STATE;
	if ((f = fragment_find(r, *kind, p->cells, cl)) != NULL)
		return f;
	ar = arena_new();
	lk_buf_init(&b, &lk_std_alloc, 256);
	lk_buf_put_str(&b, "{\"key\":");
	wire_string(&b, r->key);
	if (cl > 1)
	{
		lk_buf_put_str(&b, ",\"cl\":");
		lk_buf_put_int(&b, cl);
	}
	lk_buf_put_str(&b, full ? ",\"state\":{" : ",\"deltas\":{");
	for (int i = 0; i < r->t->ncol; i++)
	{
		if (!full && !p->cells[i].bytes)
			continue;
		wire_member(&b, &first, r->t->cols[i].name);
		cell_json(full ? &r->cells[i] : &p->cells[i], r->t->cols[i].kind, arena_alloc(ar), &b);
	}
	lk_buf_put_u8(&b, '}');
	if (*kind == FRAG_STATE_HTML)
	{
		lk_buf_put_str(&b, ",\"html\":");
		row_html(&b, r, arena_alloc(ar));
	}
	lk_buf_put_u8(&b, '}');
	f = fragment_store(r, *kind, p->cells, cl, &b);
	arena_free(ar);
	return f;
}

typedef struct flush_ctx
{
	channel    *ch;
	pending   **v;
	size_t		n;
} flush_ctx;

static void
collect_pending(const char *key, void *value, void *arg)
{
	flush_ctx  *fc = arg;

	fc->v[fc->n++] = value;
}

/*
 * Turn a channel's pending rows into frames.  A row topic, or a full-profile
 * channel, gets one frame per row ("delta", or "state" for full state); a
 * throttled table topic gets them all in one "batch" frame.
 */
static void
flush_channel(channel *ch)
{
	conn	   *c = ch->conn;
	flush_ctx	fc = {ch, NULL, 0};
	bool		batch = ch->tb && ch->prof != PROFILE_FULL;
	size_t		sent = 0;
	frag_kind	k;

	if (ch->pending.count == 0 || !c->wsi)
		return;
	fc.v = xmalloc(ch->pending.count * sizeof(pending *));
	map_each(&ch->pending, collect_pending, &fc);
	if (batch)
	{
		lk_buf		b;

		lk_buf_init(&b, &lk_std_alloc, 256);
		wire_begin(&b, NULL, NULL, ch->topic, "batch");
		lk_buf_put_str(&b, "{\"rows\":[");
		for (size_t i = 0; i < fc.n; i++)
		{
			int64_t		gone = pending_deletion(ch, fc.v[i]);

			if (i)
				lk_buf_put_u8(&b, ',');
			if (gone)
				deletion_json(&b, fc.v[i]->r, gone, true);
			else
			{
				const fragment *f = pending_fragment(ch, fc.v[i], &k);

				lk_buf_put(&b, f->json.data, f->json.len);
			}
		}
		lk_buf_put_str(&b, "]}");
		wire_end(&b);
		send_and_release(c, frame_from_buf(&b));
		lk_free(&lk_std_alloc, b.data);
		sent = fc.n;
	}
	else
	{
		for (; sent < fc.n && c->ring_count < CONN_RING - 4; sent++)
		{
			pending    *p = fc.v[sent];
			int64_t		gone = pending_deletion(ch, p);
			const fragment *f;
			lk_buf		b;

			if (gone)
			{
				lk_buf_init(&b, &lk_std_alloc, 128);
				wire_begin(&b, NULL, NULL, ch->topic, "delete");
				deletion_json(&b, p->r, gone, false);
				wire_end(&b);
				send_and_release(c, frame_from_buf(&b));
				lk_free(&lk_std_alloc, b.data);
				continue;
			}
			f = pending_fragment(ch, p, &k);
			if (!ch->tb)
			{
				/* a row topic: the frame itself is shared */
				send_and_release(c, fragment_frame(p->r, k));
				continue;
			}
			lk_buf_init(&b, &lk_std_alloc, f->json.len + 64);
			wire_begin(&b, NULL, NULL, ch->topic, fragment_event(k));
			lk_buf_put(&b, f->json.data, f->json.len);
			wire_end(&b);
			send_and_release(c, frame_from_buf(&b));
			lk_free(&lk_std_alloc, b.data);
		}
	}
	for (size_t i = 0; i < sent; i++)
	{
		ch->pending_bytes -= fc.v[i]->bytes;
		map_del(&ch->pending, fc.v[i]->r->topic);
		pending_free(NULL, fc.v[i], NULL);
	}
	free(fc.v);
	ch->last_flush = lws_now_usecs();
	ch->due = 0;
	if (ch->pending.count)
		schedule(ch);
}

static void
timer_fired(lws_sorted_usec_list_t *sul)
{
	conn	   *c = lws_container_of(sul, conn, timer);
	lws_usec_t	now = lws_now_usecs();

	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, c->channels.head)
	{
		channel    *ch = lws_container_of(d, channel, conn_link);

		if (ch->due && ch->due <= now + LWS_US_PER_MS)
		{
			if (c->ring_count < CONN_RING / 2)
				flush_channel(ch);
			else
				ch->due = next_tick(ch, profile_period(ch->prof));	/* behind: try again later */
		}
	}
	lws_end_foreach_dll_safe(d, d1);
	arm_timer(c);
}

static void
arm_timer(conn *c)
{
	lws_usec_t	next = 0;
	lws_usec_t	now = lws_now_usecs();

	lws_start_foreach_dll(struct lws_dll2 *, d, c->channels.head)
	{
		channel    *ch = lws_container_of(d, channel, conn_link);

		if (ch->due && (!next || ch->due < next))
			next = ch->due;
	}
	lws_end_foreach_dll(d);
	if (!next)
	{
		lws_sul_cancel(&c->timer);
		return;
	}
	lws_sul_schedule(CTX, 0, &c->timer, timer_fired, next > now ? next - now : 1);
}

/* Full-profile channels with pending rows, once the ring has drained. */
static void
flush_full(conn *c)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, c->channels.head)
	{
		channel    *ch = lws_container_of(d, channel, conn_link);

		if (ch->prof == PROFILE_FULL && ch->pending.count && c->ring_count < CONN_RING / 2)
			flush_channel(ch);
	}
	lws_end_foreach_dll_safe(d, d1);
}

/* ---- client messages ---- */

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

/* The table of a "crdt:" topic, and its row key (NULL for a table topic). */
static table *
topic_table(const char *topic, const char **key)
{
	const char *rest = topic + 5;
	const char *colon = strchr(rest, ':');
	char	   *name = colon ? xstrndup(rest, (size_t) (colon - rest)) : xstrdup(rest);
	table	   *t = catalog_find(name);

	free(name);
	*key = colon ? colon + 1 : NULL;
	return t;
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

void
channel_attach(channel *ch, bool fresh)
{
	const char *key;
	table	   *t = topic_table(ch->topic, &key);

	if (!t && !fresh)
	{
		/* perhaps tracked since the catalog was read */
		hub_await_catalog(ch);
		return;
	}
	if (!t || (key && !*key))
		channel_join_failed(ch, "unmatched topic");
	else if (t->stale)
		channel_join_failed(ch, "table changed since it was tracked");
	else if (ch->have && !valid_have(ch->have, t, key != NULL))
		channel_join_failed(ch, "invalid have");
	else
		hub_attach(ch, t, key);
}

static void
reply_error(conn *c, const wire_msg *m, const char *reason)
{
	send_and_release(c, wire_error(m->join_ref, m->ref, m->topic, reason));
}

/*
 * A connection's token expired: close it.  Joins and pushes check expiry
 * themselves too, since frames read before this timer runs are served first.
 */
#define CLOSE_TOKEN_EXPIRED 4001

static void
token_expired(lws_sorted_usec_list_t *sul)
{
	conn	   *c = lws_container_of(sul, conn, expiry);

	close_conn(c, (enum lws_close_status) CLOSE_TOKEN_EXPIRED, "token expired");
}

static void
arm_expiry(conn *c)
{
	struct timeval tv;
	lws_usec_t	exp_us = (lws_usec_t) json_integer_value(json_object_get(c->claims, "exp")) * LWS_US_PER_SEC;
	lws_usec_t	now_us;

	gettimeofday(&tv, NULL);
	now_us = (lws_usec_t) tv.tv_sec * LWS_US_PER_SEC + tv.tv_usec;
	lws_sul_schedule(CTX, 0, &c->expiry, token_expired, exp_us > now_us ? exp_us - now_us : 1);
}

static void
handle_join(conn *c, wire_msg *m)
{
	json_t	   *node = json_object_get(m->payload, "node");
	json_t	   *have = json_object_get(m->payload, "have");
	channel    *old = find_channel(c, m->topic);
	channel    *ch;
	const char *err;

	if (old)
	{
		/* a second join of a topic replaces the first, as in Phoenix */
		send_channel_event(old, "phx_close", "{}");
		channel_free(old);
	}
	if (!auth_current(c->claims, &err))
	{
		M.join_errors_total++;
		reply_error(c, m, err);
		return;
	}
	if (c->channels.count >= (uint32_t) CFG.max_channels)
	{
		M.join_errors_total++;
		reply_error(c, m, "too many channels");
		return;
	}
	if (strncmp(m->topic, "crdt:", 5) != 0)
	{
		M.join_errors_total++;
		reply_error(c, m, "unmatched topic");
		return;
	}
	if (!catalog_ready())
	{
		/* before the first catalog read every topic is unknown: that is no answer yet */
		M.join_errors_total++;
		reply_error(c, m, "database unavailable");
		return;
	}
	if (!auth_allows(c->claims, "read", m->topic))
	{
		M.join_errors_total++;
		reply_error(c, m, "unauthorized");
		return;
	}
	if (node && !json_is_null(node))
	{
		const char *id = json_string_value(node);
		lk_error	lerr;

		if (!id || lk_node_id_check(lk_str_make(id, strlen(id)), &lerr) != LK_OK)
		{
			M.join_errors_total++;
			reply_error(c, m, "invalid node id");
			return;
		}
		if (c->node && strcmp(c->node, id) != 0)
		{
			M.join_errors_total++;
			reply_error(c, m, c->claims ? "node does not match the token" :
						"node differs from this connection's");
			return;
		}
		if (!c->node)
			c->node = xstrdup(id);
	}
	if (have && !json_is_null(have) && !json_is_object(have))
	{
		M.join_errors_total++;
		reply_error(c, m, "invalid have");
		return;
	}
	ch = xcalloc(1, sizeof(channel));
	ch->conn = c;
	ch->topic = xstrdup(m->topic);
	ch->join_ref = m->join_ref ? xstrdup(m->join_ref) : (m->ref ? xstrdup(m->ref) : NULL);
	ch->join_msg_ref = m->ref ? xstrdup(m->ref) : NULL;
	ch->have = have && !json_is_null(have) ? json_incref(have) : NULL;
	ch->prof = profile_assign(json_object_get(m->payload, "caps"));
	map_init(&ch->pending);
	lws_dll2_add_tail(&ch->conn_link, &c->channels);
	map_put(&c->topics, ch->topic, ch);
	channel_attach(ch, false);
}

static void
handle_leave(conn *c, wire_msg *m)
{
	channel    *ch = find_channel(c, m->topic);

	send_and_release(c, wire_reply(m->join_ref, m->ref, m->topic, true, "{}"));
	if (!ch)
		return;
	send_channel_event(ch, "phx_close", "{}");
	channel_free(ch);
}

/* A whole message: false closes the connection. */
static bool
handle_message(conn *c, const char *text, size_t len)
{
	wire_msg	m;
	const char *why;
	channel    *ch;

	M.frames_in_total++;
	if (!wire_parse(text, len, &m, &why))
	{
		lwsl_info("laniakea-bridge: closing %s: %s\n", c->ip, why);
		return false;
	}
	if (m.out_of_range)
		reply_error(c, &m, "number out of range");
	else if (strcmp(m.topic, "phoenix") == 0 && strcmp(m.event, "heartbeat") == 0)
		send_and_release(c, wire_reply(m.join_ref, m.ref, m.topic, true, "{}"));
	else if (strcmp(m.event, "phx_join") == 0)
		handle_join(c, &m);
	else if (strcmp(m.event, "phx_leave") == 0)
		handle_leave(c, &m);
	else if ((ch = find_channel(c, m.topic)) == NULL || !ch->joined)
		reply_error(c, &m, "unmatched topic");
	else
		push_handle(c, ch, m.join_ref, m.ref, m.event, m.payload);
	wire_free(&m);
	return true;
}

/* ---- the protocol callback ---- */

static intptr_t
ip_count(const char *ip)
{
	return (intptr_t) map_get(&per_ip, ip);
}

static void
ip_add(const char *ip, int d)
{
	intptr_t	n = ip_count(ip) + d;

	if (n <= 0)
		map_del(&per_ip, ip);
	else
		map_put(&per_ip, ip, (void *) n);
}

static int
reject(struct lws *wsi, const char *why)
{
	lwsl_info("laniakea-bridge: refusing a connection: %s\n", why);
	return -1;
}

static int
filter(struct lws *wsi, pss *p)
{
	char		uri[256];
	char		ip[64] = "";
	char		token[4096];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
		strncmp(uri, "/socket/websocket", 17) != 0)
		return reject(wsi, "not the socket endpoint");
	/* an HTTP/2 stream (after an h2c upgrade): its bytes never pass the guard */
	if (lws_get_network_wsi(wsi) != wsi)
		return reject(wsi, "WebSocket over HTTP/2 is not served");
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	if (ip_count(ip) >= CFG.max_per_ip)
		return reject(wsi, "too many connections from this address");
	if (CFG.jwt_secret[0])
	{
		const char *why;
		char	   *from_protocol = NULL;
		const char *tok = NULL;

		tok = lws_get_urlarg_by_name(wsi, "token=", token, sizeof(token));
		/* the guard's copy: lws keeps only the first 126 bytes of this header */
		if (!tok && guard_protocol(lws_get_socket_fd(wsi)))
			tok = from_protocol = auth_token_from_protocols(guard_protocol(lws_get_socket_fd(wsi)));
		if (!auth_verify(CFG.jwt_secret, tok, &p->claims, &why))
		{
			free(from_protocol);
			return reject(wsi, why);
		}
		free(from_protocol);
	}
	return 0;
}

static int
receive(struct lws *wsi, conn *c, const char *in, size_t len)
{
	size_t		remaining = lws_remaining_packet_payload(wsi);
	bool		ok = true;

	if (c->ignore_input || c->closing)
		return 0;

	if (lws_frame_is_binary(wsi))
	{
		M.protocol_errors_total++;
		close_conn(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not supported");
		return 0;
	}
	if (c->rx_len + len + remaining > (size_t) CFG.max_message)
	{
		M.protocol_errors_total++;
		close_conn(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return 0;
	}
	if (c->rx_len == 0 && remaining == 0 && lws_is_final_fragment(wsi))
		ok = handle_message(c, in, len);
	else
	{
		c->rx = xrealloc(c->rx, c->rx_len + len);
		memcpy(c->rx + c->rx_len, in, len);
		c->rx_len += len;
		if (remaining == 0 && lws_is_final_fragment(wsi))
		{
			ok = handle_message(c, c->rx, c->rx_len);
			free(c->rx);
			c->rx = NULL;
			c->rx_len = 0;
		}
	}
	if (!ok)
	{
		M.protocol_errors_total++;
		close_conn(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "not a Phoenix V2 frame");
	}
	else if (c->ring_count >= CONN_RING / 2)
		rx_pause(c);
	return 0;
}

/*
 * Several frames queued to one client leave in one send(): each gets its WebSocket
 * header written in front of it in a scratch buffer and lws is handed the lot as raw
 * bytes (it adds no header to LWS_WRITE_RAW and keeps what the socket did not take).
 * A client that falls behind then costs one system call per writable event, not one
 * per frame, which is what lets a burst drain faster than it queued.
 */
#define GATHER_MAX (64 * 1024)

/* A server text frame's header for a payload under 64 KiB (all a gathered write holds). */
static size_t
ws_text_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;				/* FIN, text; frames from a server are not masked */
	if (len < 126)
	{
		h[1] = (unsigned char) len;
		return 2;
	}
	h[1] = 126;
	h[2] = (unsigned char) (len >> 8);
	h[3] = (unsigned char) len;
	return 4;
}

static frame *
ring_pop(conn *c)
{
	frame	   *f = c->ring[c->ring_head];

	c->ring_head = (c->ring_head + 1) % c->ring_cap;
	c->ring_count--;
	M.frames_out_total++;
	return f;
}

static int
write_queued(struct lws *wsi, conn *c)
{
	static unsigned char gather[GATHER_MAX];
	size_t		used = 0;
	frame	   *f = c->ring[c->ring_head];

	if (c->ring_count == 1 || f->len + 4 > GATHER_MAX)
	{
		int			n;

		f = ring_pop(c);
		n = lws_write(wsi, f->data, f->len, LWS_WRITE_TEXT);
		frame_unref(f);
		return n < 0 ? -1 : 0;
	}
	while (c->ring_count > 0)
	{
		f = c->ring[c->ring_head];
		if (used + f->len + 4 > GATHER_MAX)
			break;
		used += ws_text_header(gather + used, f->len);
		memcpy(gather + used, f->data, f->len);
		used += f->len;
		frame_unref(ring_pop(c));
	}
	return lws_write(wsi, gather, used, LWS_WRITE_RAW) < (int) used ? -1 : 0;
}

static int
writeable(struct lws *wsi, conn *c)
{
	c->want_write = false;
	if (c->fail_reason)
		close_conn(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, c->fail_reason);
	if (c->closing && c->ring_count == 0)
	{
		/*
		 * -1 has lws send the close; once is enough: a second -1 while lws
		 * waits for the client's answer would drop the connection at once
		 */
		if (c->close_asked)
			return 0;
		c->close_asked = true;
		return -1;
	}
	if (c->ring_count == 0)
		flush_full(c);
	if (c->ring_count > 0 && write_queued(wsi, c) < 0)
		return -1;
	if (c->ring_count == 0 && c->ring_cap > CONN_RING)
		ring_resize(c, CONN_RING);
	if (c->ring_count < CONN_RING / 4 && !c->closing)
		rx_resume(c);
	if (c->ring_count > 0 || c->closing)
		request_write(c);
	else
	{
		lws_start_foreach_dll(struct lws_dll2 *, d, c->channels.head)
		{
			channel    *ch = lws_container_of(d, channel, conn_link);

			if (ch->prof == PROFILE_FULL && ch->pending.count)
			{
				request_write(c);
				break;
			}
		}
		lws_end_foreach_dll(d);
	}
	return 0;
}

static void
closed(conn *c)
{
	ip_add(c->ip, -1);
	M.connections--;
	lws_sul_cancel(&c->timer);
	lws_sul_cancel(&c->expiry);
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, c->channels.head)
	{
		channel_free(lws_container_of(d, channel, conn_link));
	}
	lws_end_foreach_dll_safe(d, d1);
	lws_dll2_remove(&c->all_link);
	c->wsi = NULL;
	M.pushes_dropped_total += db_cancel(&c->queries);
	conn_unref(c);
}

/*
 * Fail c with 1002 at its next writable event.  The guard reports from inside
 * lws's read, before lws has served the frames that preceded the bad one in
 * the same read; closing later lets their replies go out first.
 */
static void
fail_protocol(conn *c, const char *reason)
{
	if (!c->wsi || c->fail_reason)
		return;
	M.protocol_errors_total++;
	c->fail_reason = reason;
	request_write(c);
}

/* The guard cut an unmasked frame out of c's input (RFC 6455 5.1). */
static void
unmasked_frame(void *user)
{
	fail_protocol(user, "client frames must be masked");
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	pss		   *p = user;

	switch (reason)
	{
		case LWS_CALLBACK_PROTOCOL_INIT:
			if (!ip_map_ready)
			{
				map_init(&per_ip);
				ip_map_ready = true;
			}
			guard_init(unmasked_frame);
			break;
		case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
			guard_watch((int) (intptr_t) in);
			break;
		case LWS_CALLBACK_HTTP:
			return http_serve(wsi, &p->http, (const char *) in);
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return http_writeable(wsi, &p->http);
		case LWS_CALLBACK_HTTP_FILE_COMPLETION:
			/* keep-alive: the connection can take the next request */
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			return filter(wsi, p);
		case LWS_CALLBACK_ESTABLISHED:
			{
				conn	   *c = xcalloc(1, sizeof(conn));

				c->wsi = wsi;
				c->refs = 1;
				c->ring_cap = CONN_RING;
				c->ring = xmalloc(CONN_RING * sizeof(frame *));
				lws_get_peer_simple(wsi, c->ip, sizeof(c->ip));
				c->claims = p->claims;
				p->claims = NULL;
				if (c->claims)
				{
					c->node = xstrdup(json_string_value(json_object_get(c->claims, "node")));
					arm_expiry(c);
				}
				p->c = c;
				ip_add(c->ip, 1);
				lws_dll2_add_tail(&c->all_link, &all_conns);
				guard_bind(lws_get_socket_fd(wsi), c);
				if (!guard_upgraded(lws_get_socket_fd(wsi)))
				{
					/* frames lws already read were not checked: serve none of them */
					c->ignore_input = true;
					fail_protocol(c, "the handshake could not be checked");
				}
				M.connections++;
				M.connections_total++;
				break;
			}
		case LWS_CALLBACK_RECEIVE:
			return p->c ? receive(wsi, p->c, in, len) : -1;
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return p->c ? writeable(wsi, p->c) : -1;
		case LWS_CALLBACK_CLOSED:
			guard_bind(lws_get_socket_fd(wsi), NULL);
			if (p->c)
				closed(p->c);
			p->c = NULL;
			break;
		case LWS_CALLBACK_WSI_DESTROY:
			if (p && p->claims)
				json_decref(p->claims);
			if (p)
				p->claims = NULL;
			break;
		default:
			break;
	}
	return 0;
}

/* Named "phoenix" so that the phoenix client's subprotocol list selects it. */
/*
 * tx_packet_size: lws sends at most this much per system call and buffers the rest, so
 * it matches the largest gathered write.
 */
const struct lws_protocols session_protocol = {"phoenix", callback, sizeof(pss), 4096, 0, NULL, GATHER_MAX};

void
sessions_shutdown(void)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, all_conns.head)
	{
		conn	   *c = lws_container_of(d, conn, all_link);

		close_conn(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
	}
	lws_end_foreach_dll(d);
}
