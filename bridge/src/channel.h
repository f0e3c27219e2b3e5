/*
 * channel.h — a connection's channels: one joined topic each, with the
 * deltas not yet sent to it and when it is sent them.
 *
 * A channel subscribes to its topic through the hub (hub.h, whose hooks
 * channel.c implements) and sends what it gets through its conn (conn.h),
 * not knowing which transport carries it.  A full-profile channel is sent
 * the shared broadcast frame while its client keeps up; once the client
 * falls behind, or for throttled profiles, deltas are merged into the
 * channel's pending state instead, so memory per client is bounded by state
 * size, not by the message rate.  Past --pending-cap bytes the pending
 * deltas are dropped and the rows are resent as full state when the client
 * can take them.
 */
#ifndef BRIDGE_CHANNEL_H
#define BRIDGE_CHANNEL_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>

#include "conn.h"
#include "hub.h"
#include "map.h"
#include "profile.h"

typedef struct channel
{
	conn	   *conn;
	char	   *topic;
	char	   *join_ref;
	char	   *join_msg_ref;	/* ref of the join, for its reply */
	json_t	   *have;			/* the join's "have", until the reply */
	hub_sub		sub;			/* its subscription to the topic */
	profile		prof;
	lws_dll2_t	conn_link;		/* in conn->channels */
	map			pending;		/* row topic → pending entry (channel.c) */
	size_t		pending_bytes;
	lws_usec_t	last_flush;		/* when it last flushed (throttled profiles) */
	lws_usec_t	due;			/* 0: nothing scheduled */
} channel;

/* Register the channels' hooks with the hub. */
void		channels_init(void);

/*
 * Join topic on c: a channel, answered with a phx_reply when its topic is
 * loaded or at once when the join is refused (the channel is freed then);
 * have (a reference is taken) is what the client holds.
 */
void		channel_open(conn *c, const char *topic, const char *join_ref, const char *ref,
						 json_t *have, profile prof);

/* c's channel of topic, if any. */
channel    *channel_find(conn *c, const char *topic);

/* Tell the client the channel is closed (phx_close) and free it. */
void		channel_close(channel *ch);

/* Free every channel of c (it closed). */
void		channels_free_all(conn *c);

/* The client can take frames: full-profile channels send what they hold pending. */
void		channels_refill(conn *c);

/* Do full-profile channels of c hold pending rows (to send once the client drains)? */
bool		channels_pending(conn *c);

/* A joined channel's table, and its row (NULL on a table topic). */
const table *channel_table(const channel *ch);
row		   *channel_row(const channel *ch);

#endif
