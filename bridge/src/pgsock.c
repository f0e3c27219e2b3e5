/*
 * pgsock.c — a libpq connection's socket, watched by the lws event loop.
 */
#include "pgsock.h"

#include <string.h>
#include <unistd.h>

void
pgsock_init(pgsock *s, struct lws_context *ctx, struct lws_vhost *vh, const char *protocol,
			const pgsock_events *events)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->vh = vh;
	s->protocol = protocol;
	s->events = events;
	s->fd = -1;
}

void
pgsock_detach(pgsock *s)
{
	struct lws *wsi = s->wsi;

	if (!wsi)
		return;
	s->wsi = NULL;
	lwsw_raw_cancel(&s->rearm);
	/* not closed here: this may run inside one of its own callbacks */
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

bool
pgsock_adopt(pgsock *s, PGconn *conn)
{
	int			fd = PQsocket(conn);
	lws_sock_file_fd_type u;

	if (fd == s->fd && s->wsi)
		return true;
	pgsock_detach(s);
	s->fd = fd;
	u.filefd = dup(fd);
	s->wsi = lws_adopt_descriptor_vhost(s->vh, LWS_ADOPT_RAW_FILE_DESC, u, s->protocol, NULL);
	if (s->wsi)
		return true;
	close(u.filefd);
	return false;
}

void
pgsock_want_writable(pgsock *s)
{
	lwsw_raw_want_writable(s->ctx, &s->rearm, s->wsi, s->in_writeable);
}

int
pgsock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	const struct lws_protocols *p = lws_get_protocol(wsi);
	pgsock	   *s = p ? p->user : NULL;

	(void) user;
	(void) in;
	(void) len;
	switch (reason)
	{
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:

			/*
			 * lws lets a client pick any protocol of the vhost by name: one
			 * asking for this one would get a WebSocket that skips the
			 * session's token and per-address checks.  Refuse it.
			 */
			return -1;
		case LWS_CALLBACK_RAW_RX_FILE:
			if (s && wsi == s->wsi)
				s->events->readable();
			break;
		case LWS_CALLBACK_RAW_WRITEABLE_FILE:
			if (!s || wsi != s->wsi)
				break;
			s->in_writeable = true;
			s->events->writeable();
			s->in_writeable = false;
			break;
		case LWS_CALLBACK_RAW_CLOSE_FILE:
			if (!s || wsi != s->wsi)
				break;
			s->wsi = NULL;
			lwsw_raw_cancel(&s->rearm);
			s->events->closed();
			break;
		default:
			break;
	}
	return 0;
}
