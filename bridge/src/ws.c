/*
 * ws.c — the WebSocket transport (ws.h): the handshake's checks, messages
 * reassembled from frames, the conn's queue written out, flow control and
 * the close handshake.
 *
 * Replies cannot be merged, so the transport stops reading from a client
 * whose queue is half full (lws rx flow control) and reads on once it has
 * drained: a client that sends faster than it reads is slowed down by TCP,
 * and a burst of any length is answered in full and in order.  The queue
 * grows past CONN_RING only for replies the client is owed and for events
 * about its channels (phx_error, phx_close), bounded by
 * --max-pending-pushes and --max-channels.
 *
 * A close goes out after the frames queued before it, and lws then reads
 * (and drops) what the client still sends until it answers the close: closing
 * a socket with unread input makes the kernel reset the connection, and the
 * client would lose the replies and the close frame it had not read yet.
 */
#include "ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bridge.h"
#include "conn.h"
#include "http.h"
#include "lws/workarounds.h"
#include "metrics.h"
#include "phoenix.h"
#include "xalloc.h"

/* A WebSocket connection's own state; conn->io points at it. */
typedef struct ws_conn
{
	struct lws *wsi;
	conn	   *c;				/* NULL until established and once closed */
	char	   *rx;				/* a message arriving in fragments */
	size_t		rx_len;
	bool		close_asked;	/* lws was told to send the close */
	bool		rx_paused;		/* not read from until its queue drains */
	bool		want_write;		/* lws_callback_on_writable asked, not yet served */
	const char *fail_reason;	/* a protocol violation: close with 1002 and this */
	bool		ignore_input;	/* serve none of its frames (the guard could not check them) */
} ws_conn;

/* lws's per-connection user data: a connection costs no allocation of its own here */
typedef struct pss
{
	ws_conn		w;
	json_t	   *claims;			/* verified during the handshake, until ESTABLISHED */
	http_reply	http;
} pss;

/* One writable request per event: a burst of frames to one client asks lws once. */
static void
request_write(ws_conn *w)
{
	if (!w->want_write)
	{
		w->want_write = true;
		lws_callback_on_writable(w->wsi);
	}
}

static void
rx_pause(ws_conn *w)
{
	if (!w->rx_paused)
	{
		w->rx_paused = true;
		lws_rx_flow_control(w->wsi, 0);
	}
}

static void
rx_resume(ws_conn *w)
{
	if (w->rx_paused)
	{
		w->rx_paused = false;
		lws_rx_flow_control(w->wsi, 1);
	}
}

static void
ws_wake(conn *c)
{
	request_write(c->io);
}

/* conn_close: queue the close behind what the ring holds; input is ignored from here on. */
static void
ws_close(conn *c, int code, const char *reason)
{
	ws_conn    *w = c->io;

	lws_close_reason(w->wsi, (enum lws_close_status) code, (unsigned char *) reason, strlen(reason));
	/* lws must read on to see the client's answer to the close */
	rx_resume(w);
	request_write(w);
}

static const transport ws_transport = {"websocket", ws_wake, ws_close};

/* ---- the handshake ---- */

static int
reject(const char *why)
{
	lwsl_info("laniakea-bridge: refusing a connection: %s\n", why);
	return -1;
}

static int
filter(struct lws *wsi, pss *p)
{
	char		uri[256];
	char		ip[64] = "";
	char		token[4096];
	const char *why;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
		strncmp(uri, "/socket/websocket", 17) != 0)
		return reject("not the socket endpoint");
	if (!CFG.websocket)
		return reject("WebSockets are turned off (--websocket 0)");
	/* an HTTP/2 stream (after an h2c upgrade): its bytes never pass the guard */
	if (lws_get_network_wsi(wsi) != wsi)
		return reject("WebSocket over HTTP/2 is not served");
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	if ((why = phoenix_admit(ip)) != NULL)
		return reject(why);
	if (CFG.jwt_secret[0])
	{
		char	   *from_protocol = NULL;
		const char *tok = NULL;
		bool		ok;

		tok = lws_get_urlarg_by_name(wsi, "token=", token, sizeof(token));
		/* the guard's copy: lws keeps only the first 126 bytes of this header */
		if (!tok && guard_protocol(lws_get_socket_fd(wsi)))
			tok = from_protocol = auth_token_from_protocols(guard_protocol(lws_get_socket_fd(wsi)));
		ok = auth_verify(CFG.jwt_secret, tok, &p->claims, &why);
		free(from_protocol);
		if (!ok)
			return reject(why);
	}
	return 0;
}

/*
 * Fail w with 1002 at its next writable event.  The guard reports from inside
 * lws's read, before lws has served the frames that preceded the bad one in
 * the same read; closing later lets their replies go out first.
 */
static void
fail_protocol(ws_conn *w, const char *reason)
{
	if (!w->c || w->fail_reason)
		return;
	M.protocol_errors_total++;
	w->fail_reason = reason;
	request_write(w);
}

/* The guard cut an unmasked frame out of w's input (RFC 6455 5.1). */
static void
unmasked_frame(void *user)
{
	fail_protocol(user, "client frames must be masked");
}

static void
established(struct lws *wsi, pss *p)
{
	ws_conn    *w = &p->w;
	char		ip[64] = "";

	lws_get_peer_simple(wsi, ip, sizeof(ip));
	memset(w, 0, sizeof(*w));
	w->wsi = wsi;
	w->c = phoenix_open(&ws_transport, w, ip, p->claims);
	p->claims = NULL;
	guard_bind(lws_get_socket_fd(wsi), w);
	if (!guard_upgraded(lws_get_socket_fd(wsi)))
	{
		/* frames lws already read were not checked: serve none of them */
		w->ignore_input = true;
		fail_protocol(w, "the handshake could not be checked");
	}
}

/* ---- reading ---- */

static int
receive(struct lws *wsi, ws_conn *w, const char *in, size_t len)
{
	conn	   *c = w->c;
	size_t		remaining = lws_remaining_packet_payload(wsi);
	bool		ok = true;

	if (w->ignore_input || c->closing)
		return 0;

	if (lws_frame_is_binary(wsi))
	{
		M.protocol_errors_total++;
		conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frames are not supported");
		return 0;
	}
	if (w->rx_len + len + remaining > (size_t) CFG.max_message)
	{
		M.protocol_errors_total++;
		conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
		return 0;
	}
	if (w->rx_len == 0 && remaining == 0 && lws_is_final_fragment(wsi))
		ok = phoenix_message(c, in, len);
	else
	{
		w->rx = xrealloc(w->rx, w->rx_len + len);
		memcpy(w->rx + w->rx_len, in, len);
		w->rx_len += len;
		if (remaining == 0 && lws_is_final_fragment(wsi))
		{
			ok = phoenix_message(c, w->rx, w->rx_len);
			free(w->rx);
			w->rx = NULL;
			w->rx_len = 0;
		}
	}
	if (!ok)
	{
		M.protocol_errors_total++;
		conn_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "not a Phoenix V2 frame");
	}
	else if (conn_behind(c))
		rx_pause(w);
	return 0;
}

/* ---- writing ---- */

/*
 * Several frames queued to one client leave in one send(): each gets its WebSocket
 * header written in front of it in a scratch buffer and lws is handed the lot as raw
 * bytes (it adds no header to LWS_WRITE_RAW and keeps what the socket did not take).
 * A client that falls behind then costs one system call per writable event, not one
 * per frame, which is what lets a burst drain faster than it queued.
 */
#define GATHER_MAX (64 * 1024)

/* A server text frame's header for a payload under 64 KiB (all a gathered write holds). */
static size_t
ws_text_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;				/* FIN, text; frames from a server are not masked */
	if (len < 126)
	{
		h[1] = (unsigned char) len;
		return 2;
	}
	h[1] = 126;
	h[2] = (unsigned char) (len >> 8);
	h[3] = (unsigned char) len;
	return 4;
}

static int
write_queued(struct lws *wsi, conn *c)
{
	static unsigned char gather[GATHER_MAX];
	size_t		used = 0;
	frame	   *f = conn_peek(c, 0);

	if (c->ring_count == 1 || f->len + 4 > GATHER_MAX)
	{
		int			n;

		f = conn_pop(c);
		n = lws_write(wsi, f->data, f->len, LWS_WRITE_TEXT);
		frame_unref(f);
		return n < 0 ? -1 : 0;
	}
	while (c->ring_count > 0)
	{
		f = conn_peek(c, 0);
		if (used + f->len + 4 > GATHER_MAX)
			break;
		used += ws_text_header(gather + used, f->len);
		memcpy(gather + used, f->data, f->len);
		used += f->len;
		frame_unref(conn_pop(c));
	}
	return lws_write(wsi, gather, used, LWS_WRITE_RAW) < (int) used ? -1 : 0;
}

static int
writeable(struct lws *wsi, ws_conn *w)
{
	conn	   *c = w->c;

	w->want_write = false;
	if (w->fail_reason)
		conn_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, w->fail_reason);
	if (c->closing && c->ring_count == 0)
	{
		/*
		 * -1 has lws send the close; once is enough: a second -1 while lws
		 * waits for the client's answer would drop the connection at once
		 */
		if (w->close_asked)
			return 0;
		w->close_asked = true;
		return -1;
	}
	phoenix_refill(c);
	if (c->ring_count > 0 && write_queued(wsi, c) < 0)
		return -1;
	conn_drained(c);
	if (c->ring_count < CONN_RING / 4 && !c->closing)
		rx_resume(w);
	if (c->closing || phoenix_wants_write(c))
		request_write(w);
	return 0;
}

static void
closed(struct lws *wsi, pss *p)
{
	ws_conn    *w = &p->w;
	conn	   *c = w->c;

	guard_bind(lws_get_socket_fd(wsi), NULL);
	if (!c)
		return;
	w->c = NULL;
	phoenix_closed(c);
	free(w->rx);
	w->rx = NULL;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	pss		   *p = user;

	switch (reason)
	{
		case LWS_CALLBACK_PROTOCOL_INIT:
			guard_init(unmasked_frame);
			break;
		case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
			guard_watch((int) (intptr_t) in);
			break;
		case LWS_CALLBACK_HTTP:
			return http_serve(wsi, &p->http, (const char *) in);
		case LWS_CALLBACK_HTTP_WRITEABLE:
			return http_writeable(wsi, &p->http);
		case LWS_CALLBACK_HTTP_BODY:
			return http_body(wsi, &p->http, (const char *) in, len);
		case LWS_CALLBACK_HTTP_BODY_COMPLETION:
			return http_body_done(wsi, &p->http);
		case LWS_CALLBACK_CLOSED_HTTP:
			if (p)
				http_closed(&p->http);
			break;
		case LWS_CALLBACK_HTTP_FILE_COMPLETION:
			/* keep-alive: the connection can take the next request */
			return lws_http_transaction_completed(wsi) ? -1 : 0;
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			return filter(wsi, p);
		case LWS_CALLBACK_ESTABLISHED:
			established(wsi, p);
			break;
		case LWS_CALLBACK_RECEIVE:
			return p->w.c ? receive(wsi, &p->w, in, len) : -1;
		case LWS_CALLBACK_SERVER_WRITEABLE:
			return p->w.c ? writeable(wsi, &p->w) : -1;
		case LWS_CALLBACK_CLOSED:
			closed(wsi, p);
			break;
		case LWS_CALLBACK_WSI_DESTROY:
			if (p && p->claims)
				json_decref(p->claims);
			if (p)
			{
				p->claims = NULL;
				http_closed(&p->http);
			}
			break;
		default:
			break;
	}
	return 0;
}

/*
 * tx_packet_size: lws sends at most this much per system call and buffers the rest, so
 * it matches the largest gathered write.
 */
const struct lws_protocols ws_protocol = {"phoenix", callback, sizeof(pss), 4096, 0, NULL, GATHER_MAX};
