/*
 * render.h — rows as clients see them: the JSON of join replies and events,
 * and the HTML of minimal clients.  Frames are built with wire.h.
 *
 * "cl" is written when above 1 (the join reply of a row topic always has
 * it); a row never written has causal length 1 on the wire.  Functions that
 * take an lk_alloc decode states with it (an arena: nothing to free).
 */
#ifndef BRIDGE_RENDER_H
#define BRIDGE_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "frame.h"
#include "lk_buf.h"
#include "map.h"
#include "row.h"

/*
 * The response of a join reply: profile, node (when not NULL), columns, and
 * the row (r) or the table topic's rows (tt); have is what the join said the
 * client holds, tombs (key → causal length, intptr_t) the deleted keys of a
 * table join's have.  NUL-terminated text in b.
 */
void		render_join_response(lk_buf *b, const char *profile, const char *node, const row *r,
								 const table_topic *tt, json_t *have, const map *tombs);

/* [null,null,topic,"delta",{"key":…,"cl":…,"deltas":{…}}] of deltas (kind 0: column unchanged). */
frame	   *render_delta_frame(const char *topic, const row *r, const lk_state *deltas);

/* [null,null,topic,"delete",{"key":…,"cl":r->cl}]. */
frame	   *render_delete_frame(const char *topic, const row *r);

/* A deletion at cl: {"key":K,"cl":n}, or as a batch member {"key":K,"cl":n,"deleted":true}. */
void		render_deletion(lk_buf *b, const row *r, int64_t cl, bool in_batch);

/*
 * A row sent to a throttled subscriber, the payload of a "delta" or "state"
 * event or a batch member: {"key":…,"cl":…,"deltas":{…}} of the pending
 * cells (columns without bytes left out), or with pending NULL
 * {"key":…,"cl":…,"state":{…}} of r's cells and, with html, "html" (the
 * minimal profile's server-rendered row).
 */
void		render_pending_row(lk_buf *b, const row *r, const cell *pending, int64_t cl, bool html,
							   const lk_alloc *a);

/* Append s[0..n) with & < > " ' written as HTML character references. */
void		render_html_escape(lk_buf *b, const char *s, size_t n);

#endif
