/*
 * longpoll.c — the LongPoll transport (longpoll.h), as the official phoenix
 * client's LongPoll speaks it.
 *
 *   GET  /socket/longpoll?vsn=2.0.0[&token=S]   poll
 *   POST /socket/longpoll?vsn=2.0.0&token=S     a batch of client messages
 *
 * A GET without a session token opens a session (the checks of a WebSocket
 * handshake: --max-per-ip, the JWT from a "token" parameter or the
 * X-Phoenix-AuthToken header) and is answered {"status":410,"token":S}.  A
 * poll is answered {"status":200,"token":S,"messages":[…]} with the frames
 * the conn queued (each a JSON string), or held until there are some and
 * answered {"status":204,"token":S} after --longpoll-window.  A POST's body
 * is newline-separated messages (application/x-ndjson, phoenix 1.7.12 and
 * later) or one message; it is answered {"status":200,"token":S}.  A session
 * token is random (lws_get_random: /dev/urandom), so it cannot be guessed;
 * the JWT is checked once, when the session opens, as a WebSocket's is at
 * the handshake.  An unknown token (never issued, expired, closed) gets
 * {"status":410}: the client opens a new session and rejoins.
 *
 * GET answers are HTTP 200 whatever the status in the body (Phoenix does
 * the same, and 204 cannot carry a body); refusals are HTTP errors with the
 * same status in the body: 400 (malformed batch, wrong vsn), 403 (token),
 * 410 (POST to an unknown session), 413 (a body over --max-body or a message
 * over --max-message), 429 (--max-per-ip, a second batch waiting).  A batch
 * is checked whole before any message of it is served, so a refused batch
 * changes nothing.
 *
 * A session is a conn (conn.h) like a WebSocket connection's: its frames
 * wait in the conn's ring between polls, deltas merge once it is half full
 * (channel.c), so an idle or slow session holds at most its channels'
 * merged state.  Replies cannot be merged: a batch served while the client
 * is behind is answered only once its queue has drained, which holds the
 * phoenix client's next batch back as TCP holds back a WebSocket client's
 * frames.  A session that sees no poll for --longpoll-expiry is closed.
 */
#include "longpoll.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bridge.h"
#include "conn.h"
#include "lk_json.h"
#include "lws/workarounds.h"
#include "map.h"
#include "metrics.h"
#include "phoenix.h"
#include "wire.h"
#include "xalloc.h"

#define TOKEN_BYTES 24
#define TOKEN_LEN (2 * TOKEN_BYTES)

/* A poll's answer stops taking frames past this many bytes: the next poll takes the rest. */
#define POLL_BYTES (256 * 1024)

/* lws 4.1 names no 429 */
#define HTTP_TOO_MANY_REQUESTS 429

typedef struct lp_req lp_req;

/* One client's session; conn->io points at it. */
typedef struct lp_session
{
	conn	   *c;
	char		token[TOKEN_LEN + 1];
	lp_req	   *poll;			/* the GET held open, or NULL */
	lp_req	   *post;			/* a served batch answered once the queue drains, or NULL */
	lws_sorted_usec_list_t window;	/* answers the held poll when nothing came */
	lws_sorted_usec_list_t expiry;	/* closes the session when no poll came */
} lp_session;

typedef enum lp_kind
{
	LP_POLL,					/* a GET held (on s->poll) until there is something or the window ends */
	LP_POST,					/* a POST reading its body, then held (on s->post) while behind */
} lp_kind;

/* One request to /socket/longpoll; http_reply->req points at it. */
struct lp_req
{
	lp_kind		kind;
	struct lws *wsi;
	http_reply *hr;
	lp_session *s;				/* NULL once the session ended */
	char		token[TOKEN_LEN + 1];	/* the session named */
	bool		ready;			/* a held request was asked to answer */
	bool		ndjson;			/* the body is newline-separated messages */
	bool		too_large;		/* the body passed --max-body: read and dropped */
	bool		superseded;		/* a later poll of its session came: answered 204 */
	lk_buf		body;
};

static map	sessions;			/* token → lp_session */

/* ---- answers ---- */

static int
answer(struct lws *wsi, http_reply *hr, int http_status, const char *json)
{
	http_body_begin(hr);
	lk_buf_put_str(&hr->body, json);
	return http_respond(wsi, hr, http_status, "application/json", NULL) ? -1 : 0;
}

/* A refusal: HTTP status and the same status in the body, with the reason. */
static int
refuse(struct lws *wsi, http_reply *hr, int status, const char *reason)
{
	M.lp_refused_total++;
	lwsl_info("laniakea-bridge: LongPoll %d: %s\n", status, reason);
	http_body_begin(hr);
	buf_printf(&hr->body, "{\"status\":%d,\"reason\":", status);
	wire_string(&hr->body, reason);
	lk_buf_put_u8(&hr->body, '}');
	return http_respond(wsi, hr, status, "application/json", NULL) ? -1 : 0;
}

/* Have a held request answered at its next writeable event. */
static void
trigger(lp_req *r)
{
	if (r && !r->ready)
	{
		r->ready = true;
		lws_callback_on_writable(r->wsi);
	}
}

/* ---- sessions ---- */

static void expired(lws_sorted_usec_list_t *sul);

static void
arm_expiry(lp_session *s, lws_usec_t us)
{
	lws_sul_schedule(CTX, 0, &s->expiry, expired, us);
}

/* The session ends: its held requests are answered 410, its conn closed. */
static void
session_end(lp_session *s)
{
	conn	   *c = s->c;

	map_del(&sessions, s->token);
	lws_sul_cancel(&s->window);
	lws_sul_cancel(&s->expiry);
	if (s->poll)
	{
		s->poll->s = NULL;
		trigger(s->poll);
	}
	if (s->post)
	{
		s->post->s = NULL;
		trigger(s->post);
	}
	M.lp_sessions--;
	phoenix_closed(c);
	free(s);
}

static void
expired(lws_sorted_usec_list_t *sul)
{
	lp_session *s = lws_container_of(sul, lp_session, expiry);

	/* a close (not an expiry) asked for the session to end from here */
	if (!s->c->closing)
		M.lp_expired_total++;
	session_end(s);
}

static void
window_ended(lws_sorted_usec_list_t *sul)
{
	lp_session *s = lws_container_of(sul, lp_session, window);

	trigger(s->poll);
}

static void
lp_wake(conn *c)
{
	lp_session *s = c->io;

	trigger(s->poll);
}

/*
 * conn_close: what is queued still goes out with the next poll, then the
 * session ends and the client, told 410, opens a new one.  Ended from a
 * timer, never here: the caller may be walking the list of conns.
 */
static void
lp_close(conn *c, int code, const char *reason)
{
	lp_session *s = c->io;

	if (s->poll)
		trigger(s->poll);
	else if (c->ring_count == 0)
		arm_expiry(s, 1);
}

static const transport lp_transport = {"longpoll", lp_wake, lp_close};

static bool
is_session_token(const char *v)
{
	if (strlen(v) != TOKEN_LEN)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/*
 * The request's parameters: vsn, the session token (a token parameter of
 * the session tokens' form) and the JWT (any other token parameter).  The
 * phoenix client sends the user's params (a JWT among them) and its session
 * token both as "token".
 */
typedef struct lp_args
{
	char		vsn[16];
	char		session[TOKEN_LEN + 1];
	char		jwt[LWSW_HEADER_BYTES + 1];
} lp_args;

static void
read_args(struct lws *wsi, lp_args *a)
{
	char		frag[LWSW_HEADER_BYTES + 16];

	memset(a, 0, sizeof(*a));
	for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0; i++)
	{
		if (strncmp(frag, "vsn=", 4) == 0)
			xsnprintf(a->vsn, sizeof(a->vsn), "%.15s", frag + 4);
		else if (strncmp(frag, "token=", 6) == 0 && is_session_token(frag + 6))
			memcpy(a->session, frag + 6, TOKEN_LEN + 1);
		else if (strncmp(frag, "token=", 6) == 0 && strlen(frag + 6) < sizeof(a->jwt))
			xsnprintf(a->jwt, sizeof(a->jwt), "%s", frag + 6);
	}
	/* the phoenix client's authToken option, which LongPoll sends as a header */
	if (!a->jwt[0])
	{
		static const char *const names[] = {"x-phoenix-authtoken:", "X-Phoenix-AuthToken:"};

		for (size_t i = 0; i < 2 && !a->jwt[0]; i++)
			if (lws_hdr_custom_length(wsi, names[i], (int) strlen(names[i])) > 0 &&
				lws_hdr_custom_copy(wsi, a->jwt, sizeof(a->jwt), names[i], (int) strlen(names[i])) < 0)
				a->jwt[0] = '\0';
	}
}

/* A new session for the client of wsi: the checks of a WebSocket handshake. */
static int
session_open(struct lws *wsi, http_reply *hr, const lp_args *a)
{
	char		ip[64] = "";
	unsigned char raw[TOKEN_BYTES];
	json_t	   *claims = NULL;
	const char *why;
	lp_session *s;

	lws_get_peer_simple(wsi, ip, sizeof(ip));
	/* phoenix.js retries after a 500 (as after a refused handshake); a 403 would end it */
	if ((why = phoenix_admit(ip)) != NULL)
	{
		M.lp_refused_total++;
		http_body_begin(hr);
		lk_buf_put_str(&hr->body, "{\"status\":500,\"reason\":");
		wire_string(&hr->body, why);
		lk_buf_put_u8(&hr->body, '}');
		return http_respond(wsi, hr, HTTP_TOO_MANY_REQUESTS, "application/json", NULL) ? -1 : 0;
	}
	if (CFG.jwt_secret[0] && !auth_verify(CFG.jwt_secret, a->jwt, &claims, &why))
		return refuse(wsi, hr, HTTP_STATUS_FORBIDDEN, why);
	if (lws_get_random(CTX, raw, sizeof(raw)) != sizeof(raw))
	{
		if (claims)
			json_decref(claims);
		return refuse(wsi, hr, HTTP_STATUS_INTERNAL_SERVER_ERROR, "no randomness for a session token");
	}
	s = xcalloc(1, sizeof(lp_session));
	for (int i = 0; i < TOKEN_BYTES; i++)
		xsnprintf(s->token + 2 * i, 3, "%02x", raw[i]);
	s->c = phoenix_open(&lp_transport, s, ip, claims);
	map_put(&sessions, s->token, s);
	M.lp_sessions++;
	M.lp_sessions_total++;
	M.lp_polls_total++;
	arm_expiry(s, (lws_usec_t) CFG.longpoll_expiry * LWS_US_PER_MS);
	http_body_begin(hr);
	buf_printf(&hr->body, "{\"status\":410,\"token\":\"%s\"}", s->token);
	return http_respond(wsi, hr, HTTP_STATUS_OK, "application/json", NULL) ? -1 : 0;
}

/* ---- polls ---- */

static void
req_free(lp_req *r)
{
	if (r->body.data)
		lk_free(&lk_std_alloc, r->body.data);
	free(r);
}

/* http_handler.done: the request is answered or its connection is gone. */
static void
req_done(http_reply *hr)
{
	lp_req	   *r = hr->req;
	lp_session *s = r->s;

	if (s && s->poll == r)
	{
		s->poll = NULL;
		lws_sul_cancel(&s->window);
		arm_expiry(s, s->c->closing && s->c->ring_count == 0 ? 1 :
				   (lws_usec_t) CFG.longpoll_expiry * LWS_US_PER_MS);
	}
	if (s && s->post == r)
		s->post = NULL;
	req_free(r);
}

/* The answer to a held poll: what the conn queued, 204 when nothing, 410 once the session is gone. */
static int
poll_writeable(struct lws *wsi, http_reply *hr)
{
	lp_req	   *r = hr->req;
	lp_session *s = r->s;
	conn	   *c;
	int			n = 0;

	if (!r->ready)
		return 0;
	M.lp_polls_total++;
	if (r->superseded)
	{
		http_body_begin(hr);
		buf_printf(&hr->body, "{\"status\":204,\"token\":\"%s\"}", r->token);
		return http_respond(wsi, hr, HTTP_STATUS_OK, "application/json", NULL) ? -1 : 0;
	}
	if (!s || (s->c->closing && s->c->ring_count == 0))
		return answer(wsi, hr, HTTP_STATUS_OK, "{\"status\":410}");
	c = s->c;
	phoenix_refill(c);
	http_body_begin(hr);
	buf_printf(&hr->body, "{\"status\":%d,\"token\":\"%s\"", c->ring_count ? 200 : 204, s->token);
	if (c->ring_count)
	{
		lk_buf_put_str(&hr->body, ",\"messages\":[");
		while (c->ring_count > 0 && hr->body.len < POLL_BYTES)
		{
			frame	   *f = conn_pop(c);

			if (n++)
				lk_buf_put_u8(&hr->body, ',');
			lk_json_put_string(&hr->body, lk_str_make((const char *) f->data, f->len));
			frame_unref(f);
			if (c->ring_count == 0)
				phoenix_refill(c);
		}
		lk_buf_put_u8(&hr->body, ']');
		conn_drained(c);
	}
	lk_buf_put_u8(&hr->body, '}');
	if (s->post && c->ring_count < CONN_RING / 4)
		trigger(s->post);
	return http_respond(wsi, hr, HTTP_STATUS_OK, "application/json", NULL) ? -1 : 0;
}

static const http_handler poll_handler = {NULL, NULL, poll_writeable, req_done};

static int
serve_poll(struct lws *wsi, http_reply *hr, const lp_args *a)
{
	lp_session *s = a->session[0] ? map_get(&sessions, a->session) : NULL;
	lp_req	   *r;

	if (!s && a->session[0])
	{
		/* gone: the client opens a new session (no new token here, or two would be made) */
		M.lp_polls_total++;
		return answer(wsi, hr, HTTP_STATUS_OK, "{\"status\":410}");
	}
	if (!s)
		return session_open(wsi, hr, a);
	/* one poll at a time: an earlier one still held is answered now, with nothing */
	if (s->poll)
	{
		s->poll->s = NULL;
		s->poll->superseded = true;
		trigger(s->poll);
		s->poll = NULL;
	}
	r = xcalloc(1, sizeof(lp_req));
	r->kind = LP_POLL;
	r->wsi = wsi;
	r->hr = hr;
	r->s = s;
	memcpy(r->token, s->token, sizeof(r->token));
	hr->h = &poll_handler;
	hr->req = r;
	s->poll = r;
	lws_sul_cancel(&s->expiry);
	/* held for as long as the window: lws's own timeouts would cut it short */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	if (phoenix_wants_write(s->c) || s->c->closing)
		trigger(r);
	else
		lws_sul_schedule(CTX, 0, &s->window, window_ended,
						 (lws_usec_t) CFG.longpoll_window * LWS_US_PER_MS);
	return 0;
}

/* ---- batches ---- */

static int
post_body(struct lws *wsi, http_reply *hr, const char *in, size_t len)
{
	lp_req	   *r = hr->req;

	if (r->too_large || r->body.len + len > (size_t) CFG.max_body)
	{
		/* read on and drop: closing with unread input would reset the connection before the 413 */
		r->too_large = true;
		return 0;
	}
	lk_buf_put(&r->body, in, len);
	return 0;
}

/* Each message of the body: [*start, *start + *len); false at the end. */
static bool
next_message(const lp_req *r, size_t *pos, const char **start, size_t *len)
{
	const char *b = (const char *) r->body.data;
	size_t		n = r->body.len;

	if (!r->ndjson)
	{
		if (*pos > 0)
			return false;
		*start = b;
		*len = n;
		*pos = n + 1;
		return true;
	}
	while (*pos < n && (b[*pos] == '\n' || b[*pos] == '\r'))
		(*pos)++;
	if (*pos >= n)
		return false;
	*start = b + *pos;
	while (*pos < n && b[*pos] != '\n')
		(*pos)++;
	*len = (size_t) (b + *pos - *start);
	if (*len && (*start)[*len - 1] == '\r')
		(*len)--;
	return true;
}

static int
post_done(struct lws *wsi, http_reply *hr)
{
	lp_req	   *r = hr->req;
	lp_session *s = map_get(&sessions, r->token);
	const char *m;
	size_t		len,
				pos = 0;
	int			count = 0;
	wire_msg	msg;
	const char *why;

	if (!s)
		return refuse(wsi, hr, HTTP_STATUS_GONE, "unknown or expired session");
	if (r->too_large)
		return refuse(wsi, hr, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "batch larger than --max-body");
	if (s->post)
		return refuse(wsi, hr, HTTP_TOO_MANY_REQUESTS, "a batch of this session is waiting");
	while (next_message(r, &pos, &m, &len))
	{
		if (len > (size_t) CFG.max_message)
			return refuse(wsi, hr, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "message larger than --max-message");
		if (!wire_parse(m, len, &msg, &why))
		{
			M.protocol_errors_total++;
			return refuse(wsi, hr, HTTP_STATUS_BAD_REQUEST, why);
		}
		wire_free(&msg);
		count++;
	}
	if (count == 0)
		return refuse(wsi, hr, HTTP_STATUS_BAD_REQUEST, "empty batch");
	pos = 0;
	while (next_message(r, &pos, &m, &len))
		phoenix_message(s->c, m, len);
	M.lp_posts_total++;
	if (!s->poll)
		arm_expiry(s, (lws_usec_t) CFG.longpoll_expiry * LWS_US_PER_MS);
	r->s = s;
	if (conn_behind(s->c))
	{
		s->post = r;
		lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
		return 0;
	}
	return answer(wsi, hr, HTTP_STATUS_OK, "{\"status\":200}");
}

/* A batch held while its session was behind: answered once it drained (or ended). */
static int
post_writeable(struct lws *wsi, http_reply *hr)
{
	lp_req	   *r = hr->req;

	if (!r->ready)
		return 0;
	if (!r->s)
		return refuse(wsi, hr, HTTP_STATUS_GONE, "session closed");
	return answer(wsi, hr, HTTP_STATUS_OK, "{\"status\":200}");
}

static const http_handler post_handler = {post_body, post_done, post_writeable, req_done};

static int
serve_post(struct lws *wsi, http_reply *hr, const lp_args *a)
{
	char		ctype[128] = "";
	char		length[32] = "";
	lp_req	   *r;

	if (!a->session[0])
		return refuse(wsi, hr, HTTP_STATUS_GONE, "unknown or expired session");
	r = xcalloc(1, sizeof(lp_req));
	r->kind = LP_POST;
	r->wsi = wsi;
	r->hr = hr;
	memcpy(r->token, a->session, sizeof(r->token));
	lws_hdr_copy(wsi, ctype, sizeof(ctype), WSI_TOKEN_HTTP_CONTENT_TYPE);
	r->ndjson = strncmp(ctype, "application/x-ndjson", 20) == 0;
	lk_buf_init(&r->body, &lk_std_alloc, 256);
	hr->h = &post_handler;
	hr->req = r;
	/* lws reads a body only when it has a length: none is an empty batch */
	if (lws_hdr_copy(wsi, length, sizeof(length), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
		strtoll(length, NULL, 10) <= 0)
		return post_done(wsi, hr);
	return 0;
}

int
longpoll_serve(struct lws *wsi, http_reply *hr)
{
	static lp_args a;			/* one request at a time: the JWT's buffer is large */
	bool		post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;

	read_args(wsi, &a);
	if (strcmp(a.vsn, "2.0.0") != 0)
		return refuse(wsi, hr, HTTP_STATUS_BAD_REQUEST, "vsn must be 2.0.0");
	if (post)
		return serve_post(wsi, hr, &a);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
		return refuse(wsi, hr, HTTP_STATUS_METHOD_NOT_ALLOWED, "GET polls, POST sends");
	return serve_poll(wsi, hr, &a);
}
