/*
 * push.h — client pushes to parameterized SQL.
 */
#ifndef BRIDGE_PUSH_H
#define BRIDGE_PUSH_H

#include <jansson.h>

#include "catalog.h"
#include "channel.h"
#include "conn.h"
#include "row.h"

/*
 * Run a push (event and payload) of c on its joined channel ch: answered
 * with a phx_reply once PostgreSQL has run it, or at once when refused.
 */
void		push_handle(conn *c, channel *ch, const char *join_ref, const char *ref,
						const char *event, json_t *payload);

/*
 * A write's SQL and its text parameters ($1 key, $2 value, $3 node or the
 * incarnation), pointing into the payload and the struct itself.
 */
typedef struct push_sql
{
	char	   *sql;
	const char *params[3];
	int			nparams;
	char		by_text[24];	/* an int64's digits and sign */
	char		cl_text[24];
	char	   *text;			/* a merge's delta as JSON */
	char		reason[256];	/* a refusal's formatted reason */
} push_sql;

/*
 * The SQL of a write of node (NULL: none known) to key of t, as the push
 * event ("merge", "increment", "decrement", "add", "remove") with payload
 * would make it; r is the row the bridge holds (or NULL).  NULL when it
 * may run (free it with push_sql_free), else why it is refused (in out or
 * static).  /view forms write through this too.
 */
const char *push_build(const table *t, row *r, const char *key, const char *node, const char *event,
					   json_t *payload, push_sql *out);
void		push_sql_free(push_sql *ps);

#endif
