/*
 * hub.h — topics, the rows the bridge holds, and the path from NOTIFY to
 * subscribers.
 *
 * A subscriber is a hub_sub, which the channel layer embeds in its channel;
 * the hub never sees a channel.  It attaches subscriptions to topics, reads
 * what they need, and calls back up through hub_hooks (as db.h calls the hub):
 *
 *   joined       the topic is loaded: the subscriber may answer its join and
 *                is sent events from now on
 *   join_failed  the join cannot be answered
 *   retired      the table of a joined topic changed or is no longer tracked
 *   deliver      deltas of a row (or, with deltas NULL, a resend of its state)
 *   deleted      a row was deleted
 *
 * join_failed and retired come after the hub has detached the subscription,
 * so what the channel does then (free itself, hub_detach included) never
 * reaches back into a list the hub is walking.  The hub holds a reference on
 * every row and table topic while it reads or walks it.
 */
#ifndef BRIDGE_HUB_H
#define BRIDGE_HUB_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>

#include "frame.h"
#include "map.h"
#include "row.h"
#include "wal.h"

struct have_read;

typedef struct hub_sub
{
	const char *topic;			/* the topic joined (the owner's string) */
	json_t	   *have;			/* the join's "have", or NULL (the owner's) */
	row		   *r;				/* attached to a row topic, or */
	table_topic *tt;			/* a table topic; neither while waiting for the catalog or detached */
	bool		joined;			/* the joined hook ran: events flow */
	lws_dll2_t	link;			/* in a subs or waiting list, or a catalog wait list */
	struct have_read *tombs;	/* the read of have's deleted keys under way */
} hub_sub;

typedef struct hub_hooks
{
	/* tombs: for a table join with have, key → causal length (intptr_t) of its deleted keys */
	void		(*joined) (hub_sub *s, const map *tombs);
	void		(*join_failed) (hub_sub *s, const char *reason);
	void		(*retired) (hub_sub *s, bool untracked);
	/* deltas (kind 0: column unchanged) of incarnation cl of r, or NULL: resend r's state */
	void		(*deliver) (hub_sub *s, row *r, const lk_state *deltas, int64_t cl, frame *shared);
	/* r was deleted (r->cl); shared: the delete event's frame */
	void		(*deleted) (hub_sub *s, row *r, frame *shared);
} hub_hooks;

void		hub_init(const hub_hooks *hooks);

/*
 * Subscribe s (topic and have set, nothing else) to its topic.  Returns the
 * reason when the join is refused at once ("unmatched topic", "invalid
 * have", ...); NULL when s is attached: the hooks answer it, at once or after
 * a read.  A table the catalog does not hold is waited for (a catalog read)
 * before the join is refused.
 */
const char *hub_attach(hub_sub *s);

/* Unsubscribe s; nothing when it is not attached. */
void		hub_detach(hub_sub *s);

/* The row of t's key the hub holds, if any. */
row		   *hub_row(const table *t, const char *key);

/* A pending entry holds (or lets go of) r. */
void		hub_hold(row *r);
void		hub_release(row *r);

/* db_hooks: PostgreSQL is ready; a NOTIFY on laniakea and on laniakea_catalog. */
void		hub_on_ready(void);
void		hub_on_notify(const char *payload);
void		hub_on_catalog(const char *payload);

/*
 * Changes read from the WAL (wal.c), of committed transactions in commit
 * order.  Does the bridge hold the row of key, or have subscribers to its
 * table?  Only then does a change of it matter.
 */
bool		hub_needs(const table *t, const char *key);

/* The row of key, at causal length cl, now has these states (t->ncol of them). */
void		hub_on_change(const table *t, const char *key, int64_t cl, const wal_col *cols, uint64_t ts);

/* The row of key was deleted at causal length cl (0: one above the incarnation held). */
void		hub_on_deleted(const table *t, const char *key, int64_t cl);

/* t was truncated. */
void		hub_on_truncated(const table *t);

/* Read every subscribed row and table again, as after a reconnection. */
void		hub_resync(void);

#endif
