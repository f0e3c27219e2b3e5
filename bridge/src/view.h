/*
 * view.h — /view/<table>/<key>: a tracked row as a complete HTML page, with
 * forms that write to it, for browsers without JavaScript.
 */
#ifndef BRIDGE_VIEW_H
#define BRIDGE_VIEW_H

#include <libwebsockets.h>

#include "http.h"

/* LWS_CALLBACK_HTTP of /view/<rest>: a page (GET) or a form (POST). */
int			view_serve(struct lws *wsi, http_reply *hr, const char *rest);

#endif
