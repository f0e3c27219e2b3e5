/*
 * fragment.h — a row as throttled subscribers receive it, encoded once.
 *
 * A throttled (constrained or minimal) subscriber is sent its pending rows
 * when it flushes.  Flushes fall on a shared grid of the profile's period
 * (channel.c), so the subscribers of a row that are keeping up flush at the
 * same instant with the same pending content.  The row keeps the last
 * encoding of each kind together with what it was encoded from; the next
 * subscriber with the same content reuses the bytes and, on a row topic, the
 * whole frame.  A subscriber whose content differs (it fell behind, or joined
 * mid-period) gets its own encoding, which then becomes the cached one.
 */
#ifndef BRIDGE_FRAGMENT_H
#define BRIDGE_FRAGMENT_H

#include "frame.h"
#include "row.h"

typedef enum frag_kind
{
	FRAG_STATE,					/* {"key":…,"state":{…}} */
	FRAG_STATE_HTML,			/* the same with "html" (minimal profile) */
	FRAG_DELTA,					/* {"key":…,"deltas":{…}} of pending deltas */
	FRAG_KINDS
} frag_kind;

typedef struct fragment
{
	bool		valid;
	uint64_t	version;		/* state kinds: the row version encoded */
	cell	   *cells;			/* FRAG_DELTA: the pending deltas encoded (t->ncol) */
	int64_t		cl;				/* ... and the incarnation they belong to */
	lk_buf		json;
	frame	   *frame;			/* the row topic's frame around json, once built */
} fragment;

/*
 * The cached fragment of kind k for r if it was encoded from the same content:
 * r's current version for state kinds, the same pending cells of the same
 * incarnation cl for FRAG_DELTA.  NULL when it must be encoded (then call
 * fragment_store).
 */
const fragment *fragment_find(row *r, frag_kind k, const cell *pending, int64_t cl);

/* Cache json (its buffer is taken) as r's fragment of kind k, encoded from the given content. */
const fragment *fragment_store(row *r, frag_kind k, const cell *pending, int64_t cl, lk_buf *json);

/* The event a fragment of kind k is sent as: "delta" or "state". */
const char *fragment_event(frag_kind k);

/* The frame [null,null,r->topic,event,json]: shared, one reference for the caller. */
frame	   *fragment_frame(row *r, frag_kind k);

/* Forget r's fragments (its columns changed, or it is freed). */
void		fragment_free_all(row *r);

#endif
