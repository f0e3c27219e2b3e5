/*
 * bridge.h — the map of laniakea-bridge, and the two things every part shares.
 *
 * One process, one thread, one libwebsockets event loop; libpq runs
 * non-blocking on the same loop.  The modules, from the edge inwards; each
 * depends only on those below it, and where a lower one must call up it does
 * so through a hooks struct the upper one hands it (db_hooks, wal_hooks,
 * hub_hooks, transport):
 *
 *   main.c          configuration, the lws context, signals, shutdown
 *   ws.c            TRANSPORT: WebSocket connections (/socket/websocket): the
 *                   handshake's checks (path, --websocket, --max-per-ip, JWT),
 *                   messages reassembled from frames, the queue written out
 *                   (gathered writes), flow control, the close handshake
 *   longpoll.c      TRANSPORT: Phoenix LongPoll sessions (/socket/longpoll):
 *                   random session tokens, polls held and answered with the
 *                   queue, batches checked whole then served, expiry of
 *                   abandoned sessions; like ws.c it implements conn.h's
 *                   transport and calls phoenix.h, nothing else
 *   view.c          PAGES: /view/<table>/<key>, a row as HTML with forms that
 *                   write through push.c's push_build; CSRF, auth as sockets
 *   http.c          HTTP routing on the same port: /healthz, /metrics, static
 *                   files, and the handlers of longpoll.c and view.c (request
 *                   bodies, answers given later)
 *   lws/            the libwebsockets workarounds (lws/workarounds.h): the
 *                   guard (unmasked frames, long protocol headers), SO_REUSEPORT
 *   phoenix.c       SESSION: a client's Phoenix Channels messages whatever
 *                   carries them: heartbeats, joins and their checks, leaves,
 *                   pushes handed on; admission, token expiry, closing
 *   push.c          PUSHES: client pushes to parameterized SQL, their replies
 *   channel.c       CHANNELS: a conn's joined topics: the join reply, pending
 *                   (merged) deltas, throttled flushes on the profile's grid,
 *                   phx_close / phx_error; implements hub_hooks
 *   profile.c       the delivery profile from a join's capabilities
 *   conn.c          a client connection whatever its transport: the queue of
 *                   frames it is owed, its channels, its node and claims
 *   hub.c           HUB: table topics and the rows held (row.h), reads of rows
 *                   and tables, NOTIFY in (deltas, deletions, references,
 *                   TRUNCATE, resyncs), WAL changes in (deltas computed against
 *                   the rows held), the catalog followed; calls channels back
 *                   through hub_hooks; implements db_hooks and wal_hooks
 *   render.c        RENDERING: the JSON of join replies and events, the
 *                   minimal profile's HTML, HTML escaping
 *   fragment.c      encodings of a row shared by throttled subscribers
 *   wal.c           SOURCE: NOTIFY or the WAL (--source): the choice, and the
 *                   replication connection (temporary slot, pgoutput stream,
 *                   status updates, reconnection); each committed transaction's
 *                   changes coalesced per row and handed to the hub through
 *                   wal_hooks (main.c wires them to hub_on_change & co.)
 *   pgoutput.c      pgoutput protocol version 1 parsed, pure (no I/O)
 *   catalog.c       the tracked tables (laniakea.tracked) and their SQL
 *   db.c            DATABASE LOOP: the one PostgreSQL connection, queries in
 *                   turns per client, LISTEN, reconnection; calls db_hooks
 *   pgsock.c        a libpq connection's socket in the lws loop (db.c, wal.c)
 *   auth.c          JWT verification and topic permissions
 *   wire.c          Phoenix V2 frames: parsing, encoding
 *   cell.c          a column's state kept encoded; frame.c shared frames;
 *   map.c arena.c   string hash map; scratch allocator for the core;
 *   metrics.c       /metrics counters; config.c flags and environment;
 *   xalloc.c        the allocation rule: the x-family never returns NULL
 *
 * Objects: a conn owns its channels; a channel holds a hub_sub on a row or
 * a table topic, and pending entries that hold rows; the hub owns table
 * topics, which own the rows of their table the bridge holds.  A row lives
 * while a subscription, a pending entry, a read or a table topic's
 * subscribers need it.
 */
#ifndef BRIDGE_BRIDGE_H
#define BRIDGE_BRIDGE_H

#include <libwebsockets.h>

#include "config.h"

extern config CFG;
extern struct lws_context *CTX;

#endif
