/*
 * pgsock.h — a libpq connection's socket, watched by the lws event loop.
 *
 * db.c (queries, LISTEN) and wal.c (the replication stream) each drive one
 * non-blocking libpq connection on the bridge's one thread.  lws watches a
 * dup of the connection's socket as a raw file (lws closes what it adopts,
 * libpq must close its own), and pgsock_callback, the owner's protocol
 * callback, hands the socket's events to the owner (pgsock_events).  libpq
 * may open another socket while it connects, so adopting again replaces the
 * watch unless the descriptor is the same.
 */
#ifndef BRIDGE_PGSOCK_H
#define BRIDGE_PGSOCK_H

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>

#include "lws/workarounds.h"

/* What the owner does when its socket is readable, writeable, or closed under it. */
typedef struct pgsock_events
{
	void		(*readable) (void);
	void		(*writeable) (void);	/* pgsock_want_writable may be called from it */
	void		(*closed) (void);
} pgsock_events;

typedef struct pgsock
{
	struct lws_context *ctx;
	struct lws_vhost *vh;
	const char *protocol;		/* the owner's raw protocol */
	const pgsock_events *events;
	struct lws *wsi;			/* the adopted dup of fd */
	lwsw_raw_writable rearm;	/* POLLOUT asked for inside the writeable callback */
	int			fd;				/* libpq's socket when adopted, else -1 */
	bool		in_writeable;	/* inside LWS_CALLBACK_RAW_WRITEABLE_FILE */
} pgsock;

void		pgsock_init(pgsock *s, struct lws_context *ctx, struct lws_vhost *vh, const char *protocol,
						const pgsock_events *events);

/*
 * The callback of an owner's raw protocol, whose user pointer is its pgsock:
 * { name, pgsock_callback, 0, 0, 0, &sock, 0 }.
 */
int			pgsock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
							size_t len);

/* Watch conn's socket; false when lws could not (the caller reports it). */
bool		pgsock_adopt(pgsock *s, PGconn *conn);

/* Stop watching; lws closes the dup once the loop is back. */
void		pgsock_detach(pgsock *s);

/* Ask for a writeable callback, from inside one too (lws/workarounds.h). */
void		pgsock_want_writable(pgsock *s);

#endif
