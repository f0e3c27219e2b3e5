/*
 * db.h — the bridge's one PostgreSQL connection, non-blocking on the
 * libwebsockets loop.
 *
 * libpq's socket is adopted into the loop as a raw descriptor (a dup of it,
 * so that lws and libpq each close their own).  Queries run one at a time.
 * Each client connection queues its queries in a db_queue of its own, and the
 * bridge's own queries (catalog, row reads) go into one more; the queues that
 * hold queries take turns, one query each, so a client with a long backlog
 * delays another client's query by at most one of its own.  A queue may
 * have a statement_timeout of its own (a client's pushes: --push-timeout),
 * set on the session before its queries run, so that a push that waits on a
 * lock held elsewhere fails instead of stalling every client.  A query's
 * callback never runs inside the call that queued it.  Notifications
 * are drained whenever input arrives.  When the connection fails, every
 * queued query is answered with an error, and the bridge reconnects with
 * exponential backoff (100 ms doubling to 5 s), sets the settings keys are
 * written under (db.c), LISTENs again (channels laniakea and
 * laniakea_catalog), and calls on_ready.
 */
#ifndef BRIDGE_DB_H
#define BRIDGE_DB_H

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>

/* res is the query's last result (NULL with error set when it could not run). */
typedef void (*db_result_fn) (void *arg, PGresult *res, const char *error);

/*
 * A query that sets the settings keys are written under (what
 * laniakea.key_text pins): the bridge's sessions run it first.
 */
extern const char db_session_settings[];

/* The error of a query dropped by db_cancel. */
extern const char DB_CANCELLED[];

/* One party's queries, in order; all zero is an empty queue without a timeout. */
typedef struct db_queue
{
	struct query *head,
			   *tail;
	lws_dll2_t	turn;			/* in the turn order while it holds queries */
	int			timeout_ms;		/* statement_timeout of its queries; 0: the session's default */
} db_queue;

typedef struct db_hooks
{
	void		(*on_ready) (void); /* connected and listening */
	void		(*on_notify) (const char *payload); /* channel laniakea */
	void		(*on_catalog) (const char *payload);	/* channel laniakea_catalog */
	void		(*on_lost) (void);
} db_hooks;

extern const struct lws_protocols db_protocol;

void		db_start(struct lws_context *ctx, struct lws_vhost *vh, const char *conninfo,
					 const db_hooks *hooks);
void		db_stop(void);
bool		db_ready(void);

/* Queue a query with text parameters (copied) in the bridge's own queue. */
void		db_query(const char *sql, int nparams, const char *const *params,
					 db_result_fn fn, void *arg);

/* ... in q. */
void		db_query_on(db_queue *q, const char *sql, int nparams, const char *const *params,
						db_result_fn fn, void *arg);

/*
 * Drop q's queued queries (not one already sent): each fn is called with
 * DB_CANCELLED.  Returns how many were dropped.  Call before q's memory goes.
 */
size_t		db_cancel(db_queue *q);

/* The text of column c of row r, or NULL. */
const char *db_value(PGresult *res, int r, int c);

#endif
