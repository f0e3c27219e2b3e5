/*
 * phoenix.h — a client's Phoenix Channels V2 session, whatever transport
 * carries it: what a transport calls.
 *
 * A transport admits a client (phoenix_admit), opens a conn for it, hands
 * it every whole message the client sends (phoenix_message), writes out what
 * the conn queues (calling phoenix_refill whenever the queue is empty, and
 * asking to write again while phoenix_wants_write), and
 * tells it when the client is gone (phoenix_closed).  Heartbeats, joins
 * (with the checks a join must pass), leaves and pushes are handled here.
 */
#ifndef BRIDGE_PHOENIX_H
#define BRIDGE_PHOENIX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

/* Start: the channels' and the hub's hooks. */
void		phoenix_init(void);

/* May a client from ip connect (--max-per-ip)?  NULL when it may, else why not. */
const char *phoenix_admit(const char *ip);

/*
 * A client admitted, with its verified token's claims (taken; NULL in
 * development mode): a conn whose reference is the transport's until
 * phoenix_closed.  A token's expiry closes it with 4001.
 */
conn	   *phoenix_open(const transport *tp, void *io, const char *ip, json_t *claims);

/* One whole client message; false when it is not a Phoenix V2 frame (close the connection). */
bool		phoenix_message(conn *c, const char *text, size_t len);

/*
 * The transport wrote everything queued: full-profile channels that merged
 * deltas while the client was behind queue them now.
 */
void		phoenix_refill(conn *c);

/* Is there more for the client: frames queued, or pending rows a refill would queue? */
bool		phoenix_wants_write(conn *c);

/* The client is gone: its channels and queued pushes go, and the transport's reference. */
void		phoenix_closed(conn *c);

/* Close every connection with 1001 (going away). */
void		phoenix_shutdown(void);

#endif
