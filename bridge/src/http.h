/*
 * http.h — /healthz, /metrics and static files on the WebSocket port.
 */
#ifndef BRIDGE_HTTP_H
#define BRIDGE_HTTP_H

#include <libwebsockets.h>

#include "lk_buf.h"

typedef struct http_reply
{
	lk_buf		body;			/* a dynamic response, written when writable */
	int			status;
	const char *ctype;
} http_reply;

/* LWS_CALLBACK_HTTP of path, and LWS_CALLBACK_HTTP_WRITEABLE. */
int			http_serve(struct lws *wsi, http_reply *hr, const char *path);
int			http_writeable(struct lws *wsi, http_reply *hr);

#endif
