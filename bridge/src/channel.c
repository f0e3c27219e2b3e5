/*
 * channel.c — channels, their pending deltas and their flushes (channel.h).
 */
#include "channel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "bridge.h"
#include "fragment.h"
#include "metrics.h"
#include "render.h"
#include "wire.h"
#include "xalloc.h"

/* The deltas of one row not yet sent to a channel, merged. */
typedef struct pending
{
	row		   *r;				/* held (hub_hold) */
	cell	   *cells;			/* merged deltas not yet sent, per column */
	int64_t		cl;				/* the incarnation they belong to; even: send the deletion */
	bool		resync;			/* send full state instead (pending cap exceeded) */
	size_t		bytes;
} pending;

static channel *
of_sub(hub_sub *s)
{
	return lws_container_of(s, channel, sub);
}

channel    *
channel_find(conn *c, const char *topic)
{
	return map_get(&c->topics, topic);
}

const table *
channel_table(const channel *ch)
{
	return ch->sub.r ? ch->sub.r->t : ch->sub.tt->t;
}

row *
channel_row(const channel *ch)
{
	return ch->sub.r;
}

/* A server event about channel ch itself (phx_close, phx_error), under its join_ref. */
static void
send_channel_event(channel *ch, const char *event, const char *payload)
{
	conn_send_new(ch->conn, wire_event(ch->join_ref, ch->join_ref, ch->topic, event, payload));
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
	hub_release(r);
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
	hub_detach(&ch->sub);
	pending_clear(ch);
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

static void on_join_failed(hub_sub *s, const char *reason);

void
channel_open(conn *c, const char *topic, const char *join_ref, const char *ref, json_t *have,
			 profile prof)
{
	channel    *ch = xcalloc(1, sizeof(channel));
	const char *why;

	ch->conn = c;
	ch->topic = xstrdup(topic);
	ch->join_ref = join_ref ? xstrdup(join_ref) : (ref ? xstrdup(ref) : NULL);
	ch->join_msg_ref = ref ? xstrdup(ref) : NULL;
	ch->have = have ? json_incref(have) : NULL;
	ch->prof = prof;
	ch->sub.topic = ch->topic;
	ch->sub.have = ch->have;
	map_init(&ch->pending);
	lws_dll2_add_tail(&ch->conn_link, &c->channels);
	map_put(&c->topics, ch->topic, ch);
	if ((why = hub_attach(&ch->sub)) != NULL)
		on_join_failed(&ch->sub, why);
}

void
channel_close(channel *ch)
{
	send_channel_event(ch, "phx_close", "{}");
	channel_free(ch);
}

void
channels_free_all(conn *c)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, c->channels.head)
	{
		channel_free(lws_container_of(d, channel, conn_link));
	}
	lws_end_foreach_dll_safe(d, d1);
}

/* ---- the hub's hooks: joins answered, refused, retired ---- */

static void
on_joined(hub_sub *s, const map *tombs)
{
	channel    *ch = of_sub(s);
	lk_buf		b;

	lk_buf_init(&b, &lk_std_alloc, 256);
	render_join_response(&b, profile_name(ch->prof), ch->conn->node, s->r, s->tt, ch->have, tombs);
	ch->last_flush = lws_now_usecs();
	M.joins_total++;
	conn_send_new(ch->conn, wire_reply(ch->join_ref, ch->join_msg_ref, ch->topic, true,
									   (const char *) b.data));
	lk_free(&lk_std_alloc, b.data);
	if (ch->have)
		json_decref(ch->have);
	ch->have = NULL;
	s->have = NULL;
}

static void
on_join_failed(hub_sub *s, const char *reason)
{
	channel    *ch = of_sub(s);

	M.join_errors_total++;
	conn_send_new(ch->conn, wire_error(ch->join_ref, ch->join_msg_ref, ch->topic, reason));
	channel_free(ch);
}

/*
 * A table no longer tracked is gone for good: phx_close, after which the
 * phoenix client does not rejoin.  A table whose columns changed: phx_error,
 * after which it rejoins and learns the new columns from the join reply.
 */
static void
on_retired(hub_sub *s, bool untracked)
{
	channel    *ch = of_sub(s);

	send_channel_event(ch, untracked ? "phx_close" : "phx_error",
					   untracked ? "{\"reason\":\"table not tracked\"}" : "{\"reason\":\"table changed\"}");
	channel_free(ch);
}

/* ---- pending deltas ---- */

static void arm_timer(conn *c);

static pending *
pending_for(channel *ch, row *r)
{
	pending    *p = map_get(&ch->pending, r->topic);

	if (!p)
	{
		p = xcalloc(1, sizeof(pending));
		p->r = r;
		hub_hold(r);
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

	if (!c->open)
		return;
	if (period == 0)
	{
		/* full profile: flushed when the client drains (channels_refill) */
		c->tp->wake(c);
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
		for (int i = 0; i < r->t->ncol && !p->resync; i++)
		{
			lk_error	err;
			cell_result res;

			if (!deltas[i].kind)
				continue;
			ch->pending_bytes -= p->cells[i].len;
			p->bytes -= p->cells[i].len;
			res = cell_merge(&p->cells[i], r->t->cols[i].kind, &deltas[i], arena_alloc(ar), &err);
			ch->pending_bytes += p->cells[i].len;
			p->bytes += p->cells[i].len;
			if (res == CELL_FAILED)
			{
				/* what could not be merged is sent whole: the row's state */
				cell_report("merge", r->t->name, r->t->cols[i].name, &err);
				pending_drop(ch, p);
				p->resync = true;
			}
		}
		arena_free(ar);
		if (ch->pending_bytes > (size_t) CFG.pending_cap)
		{
			M.pending_resyncs_total++;
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

/* The shared frame goes straight to a full-profile client that keeps up with nothing pending. */
static bool
sends_shared(const channel *ch)
{
	return ch->prof == PROFILE_FULL && ch->pending.count == 0 && !conn_behind(ch->conn);
}

static void
on_deliver(hub_sub *s, row *r, const lk_state *deltas, int64_t cl, frame *shared)
{
	channel    *ch = of_sub(s);

	if (!ch->conn->open || ch->conn->closing)
		return;
	if (deltas && sends_shared(ch))
	{
		conn_send(ch->conn, shared);
		return;
	}
	pending_merge(ch, r, deltas, cl);
}

/*
 * A deletion is never merged away: it replaces whatever is pending for the
 * row (a full-state resend included) and is sent as a "delete" event, unless
 * a later incarnation's deltas replace it in turn before the flush.
 */
static void
on_deleted(hub_sub *s, row *r, frame *shared)
{
	channel    *ch = of_sub(s);
	pending    *p;

	if (!ch->conn->open || ch->conn->closing)
		return;
	if (sends_shared(ch))
	{
		conn_send(ch->conn, shared);
		return;
	}
	p = pending_for(ch, r);
	pending_drop(ch, p);
	p->cl = r->cl;
	p->resync = false;
	schedule(ch);
}

/* ---- flushing ---- */

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

	return cl && !cl_alive(cl) ? cl : 0;
}

/*
 * One pending row (not a deletion) as a batch member or event payload: r's
 * cached fragment when another subscriber had the same content, else
 * encoded here and cached.
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

	*kind = !full ? FRAG_DELTA : ch->prof == PROFILE_MINIMAL ? FRAG_STATE_HTML : FRAG_STATE;
	if ((f = fragment_find(r, *kind, p->cells, cl)) != NULL)
		return f;
	ar = arena_new();
	lk_buf_init(&b, &lk_std_alloc, 256);
	render_pending_row(&b, r, full ? NULL : p->cells, cl, *kind == FRAG_STATE_HTML, arena_alloc(ar));
	f = fragment_store(r, *kind, p->cells, cl, &b);
	arena_free(ar);
	return f;
}

typedef struct flush_ctx
{
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
	flush_ctx	fc = {NULL, 0};
	bool		batch = ch->sub.tt && ch->prof != PROFILE_FULL;
	size_t		sent = 0;
	frag_kind	k;

	if (ch->pending.count == 0 || !c->open)
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
				render_deletion(&b, fc.v[i]->r, gone, true);
			else
			{
				const fragment *f = pending_fragment(ch, fc.v[i], &k);

				lk_buf_put(&b, f->json.data, f->json.len);
			}
		}
		lk_buf_put_str(&b, "]}");
		wire_end(&b);
		conn_send_new(c, frame_from_buf(&b));
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
				render_deletion(&b, p->r, gone, false);
				conn_send_new(c, wire_event_json(NULL, NULL, ch->topic, "delete", b.data, b.len));
				lk_free(&lk_std_alloc, b.data);
				continue;
			}
			f = pending_fragment(ch, p, &k);
			if (!ch->sub.tt)
			{
				/* a row topic: the frame itself is shared */
				conn_send_new(c, fragment_frame(p->r, k));
				continue;
			}
			conn_send_new(c, wire_event_json(NULL, NULL, ch->topic, fragment_event(k), f->json.data,
											 f->json.len));
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
			if (!conn_behind(c))
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

void
channels_refill(conn *c)
{
	lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, c->channels.head)
	{
		channel    *ch = lws_container_of(d, channel, conn_link);

		if (ch->prof == PROFILE_FULL && ch->pending.count && !conn_behind(c))
			flush_channel(ch);
	}
	lws_end_foreach_dll_safe(d, d1);
}

bool
channels_pending(conn *c)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, c->channels.head)
	{
		channel    *ch = lws_container_of(d, channel, conn_link);

		if (ch->prof == PROFILE_FULL && ch->pending.count)
			return true;
	}
	lws_end_foreach_dll(d);
	return false;
}

static const hub_hooks hooks = {
	.joined = on_joined,
	.join_failed = on_join_failed,
	.retired = on_retired,
	.deliver = on_deliver,
	.deleted = on_deleted,
};

void
channels_init(void)
{
	hub_init(&hooks);
}
