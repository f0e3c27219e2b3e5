/*
 * push.h — client pushes to parameterized SQL.
 */
#ifndef BRIDGE_PUSH_H
#define BRIDGE_PUSH_H

#include <jansson.h>

#include "channel.h"
#include "conn.h"

/*
 * Run a push (event and payload) of c on its joined channel ch: answered
 * with a phx_reply once PostgreSQL has run it, or at once when refused.
 */
void		push_handle(conn *c, channel *ch, const char *join_ref, const char *ref,
						const char *event, json_t *payload);

#endif
