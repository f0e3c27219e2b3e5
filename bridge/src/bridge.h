/*
 * bridge.h — the objects of the bridge and how they point at each other.
 *
 *   conn      one WebSocket connection; owns its channels and its outgoing ring
 *   channel   one joined topic of a conn: on a row's list (row topic) or a
 *             table topic's list; holds the deltas not yet sent to it, merged
 *   row       the bridge's copy of one row's CRDT columns and causal length:
 *             of the latest incarnation seen, the join of every snapshot and
 *             delta of it; lives while a channel needs it
 *   tab       a table topic ("crdt:<table>") and its subscribers
 *
 * Everything runs on the one libwebsockets thread: no locks.  A conn is
 * reference-counted because database replies may arrive after its socket
 * closed; they find conn->wsi NULL and drop what they carried.
 */
#ifndef BRIDGE_BRIDGE_H
#define BRIDGE_BRIDGE_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>

#include "catalog.h"
#include "cell.h"
#include "config.h"
#include "db.h"
#include "frame.h"
#include "map.h"
#include "xalloc.h"

/*
 * A client's outgoing queue: deltas stop being queued (and are merged
 * instead) once it holds CONN_RING / 2 frames, and the bridge stops reading
 * from the client at that point too (session.c).  Replies are never dropped:
 * the queue grows past CONN_RING for them, bounded by what the client may
 * have unanswered.
 */
#define CONN_RING 64

typedef enum profile
{
	PROFILE_FULL,				/* every delta as it comes (≤ 16 ms) */
	PROFILE_CONSTRAINED,		/* deltas merged, at most one frame per 100 ms */
	PROFILE_MINIMAL				/* full state and HTML, at most one frame per 1000 ms */
} profile;

typedef struct row
{
	char	   *topic;			/* "crdt:<table>:<key>" */
	table	   *t;
	char	   *key;
	cell	   *cells;			/* t->ncol; all empty while deleted */

	/*
	 * Its causal length (laniakea_cl; docs/replication.md): odd while the
	 * row exists, even once deleted (the tombstone's), 0 while the bridge
	 * knows of neither.  Only grows: what comes with a smaller one is stale.
	 */
	int64_t		cl;
	int			refs;			/* pending entries and tombstone reads that point at it */
	uint64_t	seen;			/* the last table read that listed it (hub.c) */
	lws_dll2_owner_t subs;		/* channels joined to this row topic */
	lws_dll2_owner_t waiting;	/* channels whose join waits for the load */
	uint64_t	version;		/* bumped whenever cells change */
	struct fragment *frags;		/* encodings shared by throttled subscribers (fragment.h) */
	bool		pinned;			/* it exists and its table topic has subscribers */
	bool		loaded;
	bool		loading;
	bool		orphan;			/* out of the map: its table changed (hub.c, migrate) */
	bool		retiring;		/* ... and its channels are being let go: not freed yet */
} row;

typedef struct tab
{
	char	   *topic;			/* "crdt:<table>" */
	table	   *t;
	lws_dll2_owner_t subs;
	lws_dll2_owner_t waiting;
	bool		loaded;
	bool		loading;
	bool		orphan;			/* as in row */
	bool		retiring;
} tab;

typedef struct pending
{
	row		   *r;				/* holds a reference (r->refs) */
	cell	   *cells;			/* merged deltas not yet sent, per column */
	int64_t		cl;				/* the incarnation they belong to; even: send the deletion */
	bool		resync;			/* send full state instead (pending cap exceeded) */
	size_t		bytes;
} pending;

struct tomb_read;

struct conn;

typedef struct channel
{
	struct conn *conn;
	char	   *topic;
	char	   *join_ref;
	char	   *join_msg_ref;	/* ref of the join, for a deferred reply */
	json_t	   *have;			/* the join's "have", until the reply */
	struct tomb_read *tombs;	/* the read of have's deleted keys under way (hub.c) */
	row		   *r;				/* row topic, or */
	tab		   *tb;				/* table topic; neither while it waits for the catalog */
	profile		prof;
	bool		joined;
	lws_dll2_t	topic_link;		/* in r/tb subs or waiting, or a catalog wait list */
	lws_dll2_t	conn_link;		/* in conn->channels */
	map			pending;		/* row topic → pending */
	size_t		pending_bytes;
	lws_usec_t	last_flush;		/* when it last flushed (throttled profiles) */
	lws_usec_t	due;			/* 0: nothing scheduled */
} channel;

typedef struct conn
{
	struct lws *wsi;			/* NULL once closed */
	int			refs;
	char		ip[64];
	char	   *node;			/* node id for pushes: the token's, or the first join's */
	json_t	   *claims;			/* verified token claims; NULL in development mode */
	lws_dll2_owner_t channels;
	map			topics;			/* topic → its channel in channels */
	db_queue	queries;		/* its pushes waiting for PostgreSQL */
	int			pending_pushes; /* ... and the one running, until answered */
	frame	  **ring;			/* ring_cap slots, ring_count used from ring_head */
	int			ring_head,
				ring_count,
				ring_cap;
	char	   *rx;				/* a message arriving in fragments */
	size_t		rx_len;
	lws_sorted_usec_list_t timer;
	lws_sorted_usec_list_t expiry;	/* closes the connection when the token expires */
	bool		closing;		/* a close is queued behind the frames in the ring */
	bool		close_asked;	/* ... and lws was told to send it */
	bool		rx_paused;		/* not read from until its queue drains */
	bool		want_write;		/* lws_callback_on_writable asked, not yet served */
	const char *fail_reason;	/* a protocol violation: close with 1002 and this */
	bool		ignore_input;	/* serve none of its frames (the guard could not check them) */
	lws_dll2_t	all_link;		/* in the list of every conn */
} conn;

extern config CFG;
extern struct lws_context *CTX;

/* session.c */
void		conn_ref(conn *c);
void		conn_unref(conn *c);
void		conn_send(conn *c, frame *f);	/* takes a reference */
/*
 * The load finished: reply, start delivering.  tombs: key → causal length
 * (intptr_t) of the deleted keys a table join's have names, or NULL.
 */
void		channel_joined(channel *ch, const map *tombs);
void		channel_join_failed(channel *ch, const char *reason);

/*
 * Attach a channel whose join was accepted to its table's topic.  A table
 * the catalog does not hold is waited for (a catalog read) unless the
 * catalog was just read (fresh): then the join fails.
 */
void		channel_attach(channel *ch, bool fresh);

/* Its table was untracked (phx_close) or changed (phx_error): tell the client, free it. */
void		channel_retired(channel *ch, bool untracked);
/* Deltas (kind 0: column unchanged) of incarnation cl of r; shared: the event's frame. */
void		channel_deliver(channel *ch, row *r, const lk_state *deltas, int64_t cl, frame *shared);
/* r was deleted (r->cl); shared: the delete event's frame. */
void		channel_deleted(channel *ch, row *r, frame *shared);
void		channel_resync(channel *ch, row *r);
void		sessions_shutdown(void);
extern const struct lws_protocols session_protocol;

/* hub.c */
void		hub_init(void);
/* Subscribe ch to row key of t (a table topic when key is NULL); it is answered now or after a read. */
void		hub_attach(channel *ch, table *t, const char *key);
void		hub_detach(channel *ch);
/* Wait for a catalog read queued from now on, then channel_attach(ch, true). */
void		hub_await_catalog(channel *ch);
void		hub_on_notify(const char *payload);
void		hub_on_catalog(const char *payload);
void		hub_on_ready(void);
row		   *hub_row(table *t, const char *key);	/* cached row, if any */
void		hub_row_unref(row *r);	/* a pending entry or read let go of r */
map		   *hub_rows(void);	/* every cached row, by topic */

/* push.c */
void		push_handle(conn *c, channel *ch, const char *join_ref, const char *ref,
						const char *event, json_t *payload);

/* profile.c */
profile		profile_assign(json_t *caps);
const char *profile_name(profile p);
lws_usec_t	profile_period(profile p);

/* auth.c */
bool		auth_verify(const char *secret, const char *token, json_t **claims, const char **why);
/* Are the claims valid now (exp, nbf)?  Always true in development mode (NULL). */
bool		auth_current(json_t *claims, const char **why);
bool		auth_allows(json_t *claims, const char *claim, const char *topic);
/* The token in the phoenix auth-token subprotocol list, or NULL (malloc'd). */
char	   *auth_token_from_protocols(const char *protocols);

/* http.c: /healthz, /metrics and static files on the WebSocket port */
typedef struct http_reply
{
	lk_buf		body;			/* a dynamic response, written when writable */
	int			status;
	const char *ctype;
} http_reply;

int			http_serve(struct lws *wsi, http_reply *hr, const char *path);
int			http_writeable(struct lws *wsi, http_reply *hr);

#endif
