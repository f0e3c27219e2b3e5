/*
 * db.h — the bridge's one PostgreSQL connection, non-blocking on the
 * libwebsockets loop.
 *
 * libpq's socket is adopted into the loop as a raw descriptor (a dup of it,
 * so that lws and libpq each close their own).  Queries run one at a time
 * from a FIFO queue; notifications are drained whenever input arrives.  When
 * the connection fails, every queued query is answered with an error, and
 * the bridge reconnects with exponential backoff (100 ms doubling to 5 s),
 * LISTENs again, and calls on_ready.
 */
#ifndef BRIDGE_DB_H
#define BRIDGE_DB_H

#include <libpq-fe.h>
#include <libwebsockets.h>
#include <stdbool.h>

/* res is the query's last result (NULL with error set when it could not run). */
typedef void (*db_result_fn) (void *arg, PGresult *res, const char *error);

typedef struct db_hooks
{
	void		(*on_ready) (void); /* connected and listening */
	void		(*on_notify) (const char *payload);
	void		(*on_lost) (void);
} db_hooks;

extern const struct lws_protocols db_protocol;

void		db_start(struct lws_context *ctx, struct lws_vhost *vh, const char *conninfo,
					 const db_hooks *hooks);
void		db_stop(void);
bool		db_ready(void);

/* Queue a query with text parameters (copied). */
void		db_query(const char *sql, int nparams, const char *const *params,
					 db_result_fn fn, void *arg);

/* The text of column c of row r, or NULL. */
const char *db_value(PGresult *res, int r, int c);

#endif
