/*
 * ws.h — the WebSocket transport: /socket/websocket on the bridge's port
 * (Phoenix's WebSocket transport, JSON serializer V2), and the HTTP
 * requests that arrive on the same listener (http.h).
 */
#ifndef BRIDGE_WS_H
#define BRIDGE_WS_H

#include <libwebsockets.h>

/* The lws protocol, named "phoenix" so that the phoenix client's subprotocol list selects it. */
extern const struct lws_protocols ws_protocol;

#endif
