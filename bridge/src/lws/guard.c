/*
 * lws/guard.c — the client-side checks libwebsockets leaves undone
 * (lws/workarounds.h: which versions, and what upstream does instead).
 *
 * lws reads a client socket with recv() and offers no hook before it parses
 * what it read: it accepts frames without the mask bit (it records the bit and
 * ignores it), and it hangs up on a Sec-WebSocket-Protocol header of 127 bytes
 * or more, which is where the phoenix client puts an auth token.  So, as with
 * bind() in reuseport.c, the bridge defines recv() and close(): lws's calls
 * resolve to these, which call the C library's.  Sockets the session protocol
 * did not register (libpq's) pass straight through.
 *
 * A registered socket is followed in two modes:
 *  - HTTP: the request's header lines are read as they pass, unchanged.  The
 *    Sec-WebSocket-Protocol value is kept whole (lws is told to truncate its
 *    own copy, main.c), and at the end of an upgrade request the mode turns to
 *    WebSocket.  Only GET and HEAD requests without a body are followed (see
 *    lose()); should lws upgrade a connection the guard did not see upgrade
 *    (guard_upgraded), the session fails it.
 *  - WebSocket: frame headers are tracked across reads.  A frame without the
 *    mask bit is cut out of what lws sees, header and payload, and reported
 *    once, so the session closes with 1002.  Frames before it are served; of
 *    the frames after it only a close goes on (the client's reply to ours).  A frame
 *    header split across two reads is held back (at most 14 bytes) until it is
 *    whole: lws could not use a partial header either, so holding it back
 *    never stalls a connection.
 */
#include "lws/guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "xalloc.h"

#define LINE_LIMIT 8192			/* lws refuses header data beyond this anyway */
#define MAX_FRAME_HEADER 14

enum
{
	MODE_HTTP = 1,
	MODE_WS,
	MODE_OFF					/* no longer followed: bytes pass unchanged */
};

typedef struct watch
{
	unsigned char mode;
	bool		upgrade;		/* the current request asks for a WebSocket */
	bool		request_line;	/* the next line starts a request */
	bool		refuse;			/* hang up: an upgrade the bridge does not serve */
	bool		violated;		/* an unmasked frame was seen */
	bool		reported;		/* ... and the session was told */
	bool		dropping;		/* the current frame's payload is cut out */
	unsigned char held_len;
	unsigned char held[MAX_FRAME_HEADER];	/* an incomplete frame header */
	uint64_t	left;			/* payload bytes of the current frame still to come */
	char	   *line;			/* the header line being read */
	size_t		line_len;
	char	   *protocol;
	void	   *user;
} watch;

typedef ssize_t (*recv_fn) (int, void *, size_t, int);
typedef int (*close_fn) (int);

static watch **table;
static size_t table_len;
static guard_violation_fn on_violation;

void
guard_init(guard_violation_fn fn)
{
	on_violation = fn;
}

static watch *
lookup(int fd)
{
	return fd >= 0 && (size_t) fd < table_len ? table[fd] : NULL;
}

static void
report(watch *w)
{
	if (w->violated && w->user && !w->reported && on_violation)
	{
		w->reported = true;
		on_violation(w->user);
	}
}

static void
violation(watch *w)
{
	w->violated = true;
	report(w);
}

static void
free_request(watch *w)
{
	free(w->line);
	w->line = NULL;
	w->line_len = 0;
}

void
guard_forget(int fd)
{
	watch	   *w = lookup(fd);

	if (!w)
		return;
	free_request(w);
	free(w->protocol);
	free(w);
	table[fd] = NULL;
}

void
guard_watch(int fd)
{
	if (fd < 0)
		return;
	if ((size_t) fd >= table_len)
	{
		size_t		n = table_len ? table_len : 1024;
		watch	  **t;

		while (n <= (size_t) fd)
			n *= 2;
		t = xrealloc(table, n * sizeof(watch *));
		memset(t + table_len, 0, (n - table_len) * sizeof(watch *));
		table = t;
		table_len = n;
	}
	guard_forget(fd);
	table[fd] = xcalloc(1, sizeof(watch));
	table[fd]->mode = MODE_HTTP;
	table[fd]->request_line = true;
}

void
guard_bind(int fd, void *user)
{
	watch	   *w = lookup(fd);

	if (!w)
		return;
	w->user = user;
	report(w);
}

bool
guard_upgraded(int fd)
{
	watch	   *w = lookup(fd);

	if (!w)
		return false;
	if (w->mode == MODE_WS)
		return true;

	/*
	 * The guard stopped following this connection (a request it cannot frame
	 * as lws does) or read it differently: what lws read past the upgrade
	 * request went unchecked.  From here on only a close frame goes on.
	 */
	free_request(w);
	w->mode = MODE_WS;
	w->left = 0;
	w->held_len = 0;
	w->violated = true;
	w->reported = true;
	return false;
}

const char *
guard_protocol(int fd)
{
	watch	   *w = lookup(fd);

	return w ? w->protocol : NULL;
}

static const char *
header_value(const char *line, size_t len, const char *name)
{
	size_t		n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/*
 * The guard follows only what it can frame exactly as lws does: GET and HEAD
 * requests without a body, then an upgrade to WebSocket.  Anything else (a
 * body, whose length lws and the guard might read differently; an upgrade to
 * h2c) ends the following, and lws upgrading such a connection later fails it
 * (guard_upgraded).  Browsers and the phoenix client never send such requests
 * on the connection they upgrade.
 */
static void
lose(watch *w)
{
	free_request(w);
	free(w->protocol);
	w->protocol = NULL;
	w->mode = MODE_OFF;
}

/* A complete header line (NUL-terminated, without its CR LF). */
static void
header_line(watch *w)
{
	const char *line = w->line ? w->line : "";
	size_t		len = w->line_len;
	const char *v;

	if (w->request_line && len > 0)
	{
		w->request_line = false;
		if (strncmp(line, "GET ", 4) != 0 && strncmp(line, "HEAD ", 5) != 0)
			lose(w);
		return;
	}
	if (len == 0)
	{
		/* the end of a request's header (or an empty line before a request line) */
		free_request(w);
		w->request_line = true;
		if (w->upgrade)
			w->mode = MODE_WS;
		else
		{
			free(w->protocol);
			w->protocol = NULL;
		}
		return;
	}
	if ((v = header_value(line, len, "sec-websocket-protocol")) != NULL)
	{
		/* repeated headers form one list, as RFC 7230 3.2.2 reads them */
		size_t		old = w->protocol ? strlen(w->protocol) : 0;
		size_t		vlen = strlen(v);
		char	   *p = xrealloc(w->protocol, old + vlen + 3);

		if (old)
		{
			memcpy(p + old, ", ", 2);
			old += 2;
		}
		memcpy(p + old, v, vlen + 1);
		w->protocol = p;
	}
	else if ((v = header_value(line, len, "upgrade")) != NULL)
	{
		/*
		 * lws would switch an h2c upgrade to HTTP/2, whose frames the guard does
		 * not read: the connection is hung up before lws sees the request end.
		 */
		if (strcasecmp(v, "websocket") != 0)
		{
			lose(w);
			w->refuse = true;
		}
		else
			w->upgrade = true;
	}
	else if (header_value(line, len, "content-length") != NULL ||
			 header_value(line, len, "transfer-encoding") != NULL)
		lose(w);
}

/* Read header lines from p[0..n); return how many bytes were HTTP. */
static size_t
scan_http(watch *w, const unsigned char *p, size_t n)
{
	size_t		i = 0;

	while (i < n && w->mode == MODE_HTTP)
	{
		unsigned char c;

		c = p[i++];
		if (c == '\n')
		{
			if (w->line && w->line_len && w->line[w->line_len - 1] == '\r')
				w->line[--w->line_len] = '\0';
			header_line(w);
			if (w->line)
				w->line_len = 0;
			continue;
		}
		if (!w->line)
			w->line = xmalloc(LINE_LIMIT + 1);
		if (w->line_len == LINE_LIMIT)
		{
			/* lws refuses this request itself; stop following it */
			free_request(w);
			w->mode = MODE_OFF;
			break;
		}
		w->line[w->line_len++] = (char) c;
		w->line[w->line_len] = '\0';
	}
	return i;
}

/*
 * Frames in p[in..n), compacted to p[out..): unmasked frames are cut out, a
 * trailing incomplete header is held back.  Returns the end of the output.
 */
static size_t
filter_frames(watch *w, unsigned char *p, size_t n, size_t out, size_t in)
{
	while (in < n)
	{
		size_t		avail = n - in,
					h;
		unsigned	code;
		bool		masked;

		if (w->left)
		{
			size_t		k = avail < w->left ? avail : (size_t) w->left;

			if (!w->dropping)
			{
				memmove(p + out, p + in, k);
				out += k;
			}
			in += k;
			w->left -= k;
			continue;
		}
		if (avail < 2)
			break;
		masked = (p[in + 1] & 0x80) != 0;
		code = p[in + 1] & 0x7f;
		h = 2 + (code == 126 ? 2 : code == 127 ? 8 : 0) + (masked ? 4 : 0);
		if (avail < h)
			break;
		if (code < 126)
			w->left = code;
		else
		{
			w->left = 0;
			for (size_t i = 2; i < (code == 126 ? 4u : 10u); i++)
				w->left = (w->left << 8) | p[in + i];
		}
		if (!masked)
			violation(w);
		/* after a violation only the client's close (opcode 8) goes on, for the handshake */
		w->dropping = !masked || (w->violated && (p[in] & 0x0f) != 0x8);
		if (!w->dropping)
		{
			memmove(p + out, p + in, h);
			out += h;
		}
		in += h;
	}
	w->held_len = (unsigned char) (n - in);
	memcpy(w->held, p + in, n - in);
	return out;
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	static recv_fn real_recv;
	watch	   *w = lookup(fd);
	unsigned char *p = buf;
	size_t		held,
				http,
				out;
	ssize_t		n;

	if (!real_recv)
		real_recv = (recv_fn) dlsym(RTLD_NEXT, "recv");
	if (!w || w->mode == MODE_OFF || (flags & MSG_PEEK))
		return real_recv(fd, buf, len, flags);

	held = w->held_len;
	if (len <= held)
	{
		/* held bytes are an incomplete frame header: nothing lws can use yet */
		errno = EAGAIN;
		return -1;
	}
	memcpy(p, w->held, held);
	n = real_recv(fd, p + held, len - held, flags);
	if (n <= 0)
		return n;				/* the held header stays held */
	w->held_len = 0;
	n += (ssize_t) held;
	http = w->mode == MODE_HTTP ? scan_http(w, p, (size_t) n) : 0;
	if (w->refuse)
	{
		errno = ECONNRESET;
		return -1;
	}
	if (w->mode == MODE_WS)
		out = filter_frames(w, p, (size_t) n, http, http);
	else
		out = (size_t) n;
	if (out == 0)
	{
		/* all cut out or held back: nothing for lws yet */
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t) out;
}

int
close(int fd)
{
	static close_fn real_close;

	if (!real_close)
		real_close = (close_fn) dlsym(RTLD_NEXT, "close");
	guard_forget(fd);
	return real_close(fd);
}
