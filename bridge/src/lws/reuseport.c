/*
 * lws/reuseport.c — SO_REUSEPORT on the listening socket
 * (lws/workarounds.h: which versions need it).
 *
 * Several bridge processes share one port (docs/operations.md), which needs
 * SO_REUSEPORT set before bind().  libwebsockets 4.1 accepts
 * LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE but never sets the option (strace
 * shows only SO_REUSEADDR), and has no hook before its bind().  So the
 * bridge interposes bind(): libwebsockets' call resolves to this one, which
 * sets the option on TCP sockets and calls the C library's bind.  The bridge
 * binds nothing else (libpq only connects).
 */
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef int (*bind_fn) (int, const struct sockaddr *, socklen_t);

int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static bind_fn real_bind;
	int			type = 0;
	socklen_t	tlen = sizeof(type);
	int			on = 1;

	if (!real_bind)
		real_bind = (bind_fn) dlsym(RTLD_NEXT, "bind");
	if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
		getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM)
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	return real_bind(fd, addr, len);
}
