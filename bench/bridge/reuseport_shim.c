/* LD_PRELOAD shim for bench/bridge/run.sh: set SO_REUSEPORT on every TCP socket before
 * bind().  laniakea-bridge asks libwebsockets for LWS_SERVER_OPTION_ALLOW_LISTEN_SHARE,
 * but libwebsockets 4.1.6 (Debian 12) never calls setsockopt(SO_REUSEPORT) (checked with
 * strace), so a second process on the same port fails with EADDRINUSE.  This shim stands
 * in for the fix so the documented 2-process mode can be measured; it is labelled in the
 * results.  Build: cc -shared -fPIC -O2 -o reuseport_shim.so reuseport_shim.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real_bind)(int, const struct sockaddr *, socklen_t);
	int one = 1;

	if (!real_bind)
		real_bind = (int (*)(int, const struct sockaddr *, socklen_t)) dlsym(RTLD_NEXT, "bind");
	if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6))
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	return real_bind(fd, addr, len);
}
