/*
 * longpoll.h — the LongPoll transport: /socket/longpoll on the bridge's port
 * (Phoenix's LongPoll transport, JSON serializer V2), for clients whose
 * network does not let WebSockets through.
 */
#ifndef BRIDGE_LONGPOLL_H
#define BRIDGE_LONGPOLL_H

#include <libwebsockets.h>

#include "http.h"

/* LWS_CALLBACK_HTTP of /socket/longpoll: a poll (GET) or a batch (POST). */
int			longpoll_serve(struct lws *wsi, http_reply *hr);

#endif
