/*
 * conn.c — a client connection's outgoing frames (conn.h).
 */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "xalloc.h"

conn *
conn_new(const transport *tp, void *io, const char *ip, json_t *claims)
{
	conn	   *c = xcalloc(1, sizeof(conn));

	c->tp = tp;
	c->io = io;
	c->open = true;
	c->refs = 1;
	xsnprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->claims = claims;
	c->ring_cap = CONN_RING;
	c->ring = xmalloc(CONN_RING * sizeof(frame *));
	map_init(&c->topics);
	return c;
}

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
		frame_unref(conn_peek(c, i));
	free(c->ring);
	free(c->topics.buckets);
	free(c->node);
	if (c->claims)
		json_decref(c->claims);
	free(c);
}

/* Copy the ring in order into n slots (n >= ring_count). */
static void
ring_resize(conn *c, int n)
{
	frame	  **r = xmalloc((size_t) n * sizeof(frame *));

	for (int i = 0; i < c->ring_count; i++)
		r[i] = conn_peek(c, i);
	free(c->ring);
	c->ring = r;
	c->ring_head = 0;
	c->ring_cap = n;
}

void
conn_send(conn *c, frame *f)
{
	if (!c->open || c->closing)
		return;
	if (c->ring_count == c->ring_cap)
		ring_resize(c, c->ring_cap * 2);
	frame_ref(f);
	c->ring[(c->ring_head + c->ring_count) % c->ring_cap] = f;
	c->ring_count++;
	c->tp->wake(c);
}

void
conn_send_new(conn *c, frame *f)
{
	conn_send(c, f);
	frame_unref(f);
}

void
conn_close(conn *c, int code, const char *reason)
{
	if (!c->open || c->closing)
		return;
	c->closing = true;
	c->tp->close(c, code, reason);
}

frame *
conn_peek(const conn *c, int i)
{
	return c->ring[(c->ring_head + i) % c->ring_cap];
}

frame *
conn_pop(conn *c)
{
	frame	   *f = c->ring[c->ring_head];

	c->ring_head = (c->ring_head + 1) % c->ring_cap;
	c->ring_count--;
	M.frames_out_total++;
	return f;
}

void
conn_drained(conn *c)
{
	if (c->ring_count == 0 && c->ring_cap > CONN_RING)
		ring_resize(c, CONN_RING);
}
