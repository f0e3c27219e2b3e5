/*
 * pgsock.c — a libpq connection's socket, watched by the lws event loop.
 */
#include "pgsock.h"

#include <string.h>
#include <unistd.h>

void
pgsock_init(pgsock *s, struct lws_context *ctx, struct lws_vhost *vh, const char *protocol)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->vh = vh;
	s->protocol = protocol;
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

bool
pgsock_closed(pgsock *s, struct lws *wsi)
{
	if (wsi != s->wsi)
		return false;
	s->wsi = NULL;
	lwsw_raw_cancel(&s->rearm);
	return true;
}
