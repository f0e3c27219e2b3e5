/*
 * http.h — the HTTP side of the WebSocket port: /healthz, /metrics, static
 * files, and the endpoints that answer later (LongPoll, views), which hang
 * an http_handler on the request.
 */
#ifndef BRIDGE_HTTP_H
#define BRIDGE_HTTP_H

#include <libwebsockets.h>

#include "lk_buf.h"

struct http_reply;

/*
 * An endpoint that reads a request body or answers later.  Each returns
 * what the lws callback returns (-1: close the connection).  writeable runs
 * while no response is prepared (hr->body.data NULL); done runs once when
 * the request ends: answered, or its connection gone.
 */
typedef struct http_handler
{
	int			(*body) (struct lws *wsi, struct http_reply *hr, const char *in, size_t len);
	int			(*body_done) (struct lws *wsi, struct http_reply *hr);
	int			(*writeable) (struct lws *wsi, struct http_reply *hr);
	void		(*done) (struct http_reply *hr);
} http_handler;

typedef struct http_reply
{
	lk_buf		body;			/* a dynamic response, written when writable */
	int			status;
	const char *ctype;
	const http_handler *h;		/* the request's handler, or NULL */
	void	   *req;			/* its state */
} http_reply;

/* LWS_CALLBACK_HTTP of path, and LWS_CALLBACK_HTTP_WRITEABLE. */
int			http_serve(struct lws *wsi, http_reply *hr, const char *path);
int			http_writeable(struct lws *wsi, http_reply *hr);

/* LWS_CALLBACK_HTTP_BODY, LWS_CALLBACK_HTTP_BODY_COMPLETION. */
int			http_body(struct lws *wsi, http_reply *hr, const char *in, size_t len);
int			http_body_done(struct lws *wsi, http_reply *hr);

/* The connection closed (LWS_CALLBACK_CLOSED_HTTP, LWS_CALLBACK_WSI_DESTROY): its request ends. */
void		http_closed(http_reply *hr);

/* Start a response body in hr->body (with the headroom lws_write needs). */
void		http_body_begin(http_reply *hr);

/*
 * Send the headers of hr->body's response and have it written when
 * writable; headers: NULL or "name:", "value" pairs ending with NULL.
 */
int			http_respond(struct lws *wsi, http_reply *hr, int status, const char *ctype,
						 const char *const *headers);

#endif
