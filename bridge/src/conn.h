/*
 * conn.h — one client connection, whatever transport carries it.
 *
 * A transport (ws.c: WebSocket) accepts a client, opens a conn for it
 * (phoenix.h), hands it the client's messages and writes out the frames the
 * conn queues; the layers above (channels, pushes) only queue frames and
 * look at how far behind the client is.  The transport's side is the
 * transport struct: a second transport is a second such struct.
 *
 * Outgoing frames wait in the conn's ring, in order.  Deltas stop being
 * queued (and are merged instead, channel.c) once it holds CONN_RING / 2
 * frames, and the transport stops reading from the client then too.
 * Replies are never dropped: the ring grows past CONN_RING for them,
 * bounded by what the client may have unanswered.
 *
 * A conn is reference-counted because database replies may arrive after the
 * client went; they find it closed and drop what they carried.  Everything
 * runs on the one libwebsockets thread: no locks.
 */
#ifndef BRIDGE_CONN_H
#define BRIDGE_CONN_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>

#include "db.h"
#include "frame.h"
#include "map.h"

#define CONN_RING 64

typedef struct conn conn;

typedef struct transport
{
	const char *name;
	/* frames were queued: write them when the client can take them */
	void		(*wake) (conn *c);
	/* close the connection with code and reason after the frames queued */
	void		(*close) (conn *c, int code, const char *reason);
} transport;

struct conn
{
	const transport *tp;
	void	   *io;				/* the transport's state of this connection */
	bool		open;			/* until the transport closed it */
	bool		closing;		/* a close is queued: nothing more is */
	int			refs;
	char		ip[64];
	char	   *node;			/* node id for pushes: the token's, or the first join's */
	json_t	   *claims;			/* verified token claims; NULL in development mode */
	lws_dll2_owner_t channels;	/* its channels (channel.h) */
	map			topics;			/* topic → its channel */
	db_queue	queries;		/* its pushes waiting for PostgreSQL */
	int			pending_pushes; /* ... and the one running, until answered */
	frame	  **ring;			/* ring_cap slots, ring_count used from ring_head */
	int			ring_head,
				ring_count,
				ring_cap;
	lws_sorted_usec_list_t timer;	/* the next flush of a throttled channel (channel.c) */
	lws_sorted_usec_list_t expiry;	/* closes the connection when the token expires */
	lws_dll2_t	all_link;		/* in the list of every conn (phoenix.c) */
};

/* A conn with one reference (the transport's, given up by phoenix_closed). */
conn	   *conn_new(const transport *tp, void *io, const char *ip, json_t *claims);
void		conn_ref(conn *c);
void		conn_unref(conn *c);

/* Queue f (a reference is taken); nothing once the conn is closing or closed. */
void		conn_send(conn *c, frame *f);

/* The same, and the caller's reference goes with it. */
void		conn_send_new(conn *c, frame *f);

/* Close after the frames queued; once. */
void		conn_close(conn *c, int code, const char *reason);

/* Is the client behind (CONN_RING / 2 frames queued or more)? */
static inline bool
conn_behind(const conn *c)
{
	return c->ring_count >= CONN_RING / 2;
}

/* The i-th frame queued (i < ring_count), still queued. */
frame	   *conn_peek(const conn *c, int i);

/* Take the first frame queued: the reference is the caller's. */
frame	   *conn_pop(conn *c);

/* The transport wrote everything: the ring goes back to its usual size. */
void		conn_drained(conn *c);

#endif
