/*
 * fuzz_guard.c — libFuzzer target for the bridge's recv()/close() guard
 * (bridge/src/lws/guard.c).
 *
 * Each input is a byte stream a client sends, delivered through a real
 * socketpair in writes of fuzz-chosen sizes (the rest in one after 64 writes)
 * and read back with the guard's recv() at fuzz-chosen buffer sizes (15 to
 * 4079; lws never reads less than its buffer, hundreds of bytes), as
 * lws would: until EAGAIN with nothing left in the socket.  The first byte
 * picks one of two modes.
 *
 *  raw (bit 0 clear): the rest is chunks [len][size][len bytes], optionally
 *    after a fixed upgrade request (bit 1), so any bytes reach both the HTTP
 *    and the WebSocket reader.  Checked: every recv returns at most the size
 *    asked and writes nothing past it; what comes out is the input with bytes
 *    removed (a subsequence), never more; the violation callback fires at most
 *    once; and the output, the callback count and the protocol are the same as
 *    when the whole stream is read in one recv: how a stream is split must not
 *    change what lws sees.
 *
 *  built (bit 0 set): the next byte n and the n bytes after it are pairs
 *    (write size, recv size).  From the rest: a well-formed upgrade request
 *    (its Sec-WebSocket-Protocol of fuzz-chosen length, over 126 bytes, maybe
 *    in two headers, maybe after a keep-alive GET), then
 *    frames with 7-, 16- and 64-bit lengths.  Every frame is masked unless
 *    bit 6 allows unmasked ones.  The output must be exactly the request and the
 *    frames before the first unmasked one, then only the masked closes
 *    (opcode 8) after it; the callback fires once if any frame was unmasked,
 *    never otherwise; guard_protocol() is exactly the upgrade request's value.
 *    A protocol line past the guard's 8192-byte line limit ends the following:
 *    then everything passes unchanged, unreported, with no protocol.
 *
 * In both, the session may be bound before the bytes arrive or after (bit 2:
 * a violation seen earlier is then reported at guard_bind); EOF must pass
 * through; the socket is closed with or without guard_forget first (bit 7),
 * and after close() the fd has no protocol, with nothing leaked.  A
 * protocol is read with strlen, so ASan checks its terminator.  Any violation
 * prints what broke and aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lws/guard.h"

#define MODE_BUILT 0x01
#define RAW_UPGRADE 0x02
#define BIND_LATE 0x04
#define BUILT_KEEPALIVE 0x08
#define BUILT_BARE_LF 0x10
#define BUILT_TWO_PROTOCOLS 0x20
#define BUILT_UNMASKED 0x40
#define FORGET_FIRST 0x80

#define MIN_RECV 15				/* the guard passes shorter reads through */
#define MAX_RECV 4096
#define ONE_SHOT_RECV 65536
#define MAX_FRAME_BYTES 8192	/* of a built stream; keeps each input fast */
#define LINE_LIMIT 8192			/* guard.c's: a longer header line ends the following */
#define MAX_FRAMES 64
#define MAX_WRITES 64			/* then the rest in one: syscalls are most of the time */
#define CANARY 32

static const char UPGRADE_REQUEST[] =
	"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\n"
	"Host: localhost:4000\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Sec-WebSocket-Protocol: phoenix\r\n"
	"\r\n";

/* Characters of a JWT, as the phoenix client's authToken subprotocol carries one. */
static const char TOKEN_CHARS[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

static int	calls;
static int	session;			/* its address is the bound user */
static uint8_t buf[ONE_SHOT_RECV + CANARY];	/* what recv reads into, canary after the size */

static void
on_unmasked(void *user)
{
	if (user != &session)
	{
		fprintf(stderr, "invariant violated: the callback got a user never bound\n");
		abort();
	}
	calls++;
}

static void
die(const char *what)
{
	fprintf(stderr, "invariant violated: %s\n", what);
	abort();
}

static void
die_bytes(const char *what, const uint8_t *x, size_t xn, const uint8_t *y, size_t yn)
{
	size_t		i = 0;

	while (i < xn && i < yn && x[i] == y[i])
		i++;
	fprintf(stderr, "invariant violated: %s\n", what);
	fprintf(stderr, "  got %zu bytes, expected %zu; first difference at %zu\n", xn, yn, i);
	abort();
}

#define CHECK(cond, what) \
	do { \
		if (!(cond)) \
			die(what); \
	} while (0)

typedef struct bytes
{
	uint8_t    *p;
	size_t		len;
	size_t		cap;
} bytes;

static void
put(bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
put_str(bytes *b, const char *s)
{
	put(b, s, strlen(s));
}

static void
put_byte(bytes *b, uint8_t c)
{
	put(b, &c, 1);
}

/* One write and the recv buffer size of the reads that follow it. */
typedef struct piece
{
	size_t		len;
	size_t		recv_size;
} piece;

/* What lws would have seen of a stream. */
typedef struct seen
{
	bytes		out;
	int			calls;
	bool		refused;		/* the guard hung up (an upgrade other than WebSocket) */
	char	   *protocol;		/* a copy of guard_protocol() at the end, or NULL */
} seen;

/* Small sizes often: they are where a held-back header meets a short read. */
static size_t
recv_size(uint8_t b)
{
	return b < 128 ? MIN_RECV + b : MIN_RECV + (size_t) (b - 128) * 32;
}

/* A write of 1 to 128 bytes, or up to 4096 in steps of 32. */
static size_t
write_size(uint8_t b)
{
	return b < 128 ? (size_t) b + 1 : (size_t) (b - 127) * 32;
}

static size_t
pending(int fd)
{
	int			n = 0;

	CHECK(ioctl(fd, FIONREAD, &n) == 0, "FIONREAD failed");
	return (size_t) n;
}

static void
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n)
	{
		ssize_t		w = write(fd, p, n);

		CHECK(w > 0, "write to the socketpair failed");
		p += w;
		n -= (size_t) w;
	}
}

/*
 * Read fd as lws does, until the guard says EAGAIN and the socket is empty:
 * the guard answers EAGAIN when it cut out or held back all it read, and lws's
 * poll would then wake it again while bytes remain.
 */
static void
drain(int fd, size_t size, size_t written, seen *s)
{
	size_t		waiting = SIZE_MAX,	/* in the socket at the last EAGAIN */
				left;

	for (;;)
	{
		ssize_t		r;

		memset(buf + size, 0xA5, CANARY);
		r = recv(fd, buf, size, 0);
		for (size_t i = 0; i < CANARY; i++)
			CHECK(buf[size + i] == 0xA5, "recv wrote past the size asked");
		if (r > 0)
		{
			CHECK((size_t) r <= size, "recv returned more than the size asked");
			CHECK(s->out.len + (size_t) r <= written, "recv returned more bytes than were sent");
			put(&s->out, buf, (size_t) r);
			waiting = SIZE_MAX;
			continue;
		}
		CHECK(r != 0, "recv returned EOF on an open socket");
		if (errno == ECONNRESET)
		{
			/* lws closes the connection: nothing more is read */
			s->refused = true;
			return;
		}
		CHECK(errno == EAGAIN || errno == EWOULDBLOCK, "recv failed other than with EAGAIN");
		left = pending(fd);
		if (left == 0)
			return;
		CHECK(left < waiting, "recv said EAGAIN twice and read nothing while bytes wait");
		waiting = left;
	}
}

/*
 * Deliver stream in pieces (cycled; a zero-length list means one piece), the
 * rest in one after MAX_WRITES.
 */
static void
run(const uint8_t *stream, size_t n, const piece *pieces, size_t npieces, bool bind_late,
	bool forget_first, seen *s)
{
	int			sv[2];
	size_t		at = 0,
				k = 0;
	const char *protocol;
	ssize_t		r;

	memset(s, 0, sizeof(*s));
	calls = 0;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair failed");
	CHECK(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK failed");
	guard_watch(sv[0]);
	CHECK(guard_protocol(sv[0]) == NULL, "a new watch has a protocol");
	if (!bind_late)
		guard_bind(sv[0], &session);

	do
	{
		size_t		len = npieces ? pieces[k % npieces].len : n;
		size_t		size = npieces ? pieces[k % npieces].recv_size : ONE_SHOT_RECV;

		if (len > n - at || k + 1 >= MAX_WRITES)
			len = n - at;
		if (len)
			write_all(sv[1], stream + at, len);
		at += len;
		drain(sv[0], size, at, s);
		k++;
	} while (at < n && !s->refused);

	CHECK(calls <= 1, "the callback fired more than once");
	if (bind_late)
	{
		CHECK(calls == 0, "the callback fired with no session bound");
		guard_bind(sv[0], NULL);
		CHECK(calls == 0, "binding no session fired the callback");
		guard_bind(sv[0], &session);
	}
	s->calls = calls;

	/* ASan checks the NUL terminator: strlen reads up to it */
	protocol = guard_protocol(sv[0]);
	if (protocol)
	{
		s->protocol = strdup(protocol);
		CHECK(s->protocol != NULL, "out of memory");
	}

	/* lws must see the peer's EOF, whatever the guard holds back */
	close(sv[1]);
	if (!s->refused)
	{
		r = recv(sv[0], buf, MIN_RECV + 1, 0);
		CHECK(r == 0, "EOF did not pass through the guard");
	}

	if (forget_first)
		guard_forget(sv[0]);
	CHECK(close(sv[0]) == 0, "close failed");
	CHECK(guard_protocol(sv[0]) == NULL, "a closed fd still has a protocol");
}

static void
seen_free(seen *s)
{
	free(s->out.p);
	free(s->protocol);
}

static bool
is_subsequence(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t		j = 0;

	for (size_t i = 0; i < bn && j < an; i++)
		if (b[i] == a[j])
			j++;
	return j == an;
}

static void
fuzz_raw(const uint8_t *data, size_t size, uint8_t flags)
{
	bytes		stream = {0};
	piece	   *pieces = calloc(size / 2 + 1, sizeof(piece));
	size_t		npieces = 0,
				i = 0;
	seen		split,
				whole;

	CHECK(pieces != NULL, "out of memory");
	if (flags & RAW_UPGRADE)
	{
		put_str(&stream, UPGRADE_REQUEST);
		pieces[npieces++] = (piece) {stream.len, MAX_RECV};
	}
	while (i + 2 <= size)
	{
		size_t		len = data[i];

		if (len > size - i - 2)
			len = size - i - 2;
		pieces[npieces++] = (piece) {len, recv_size(data[i + 1])};
		put(&stream, data + i + 2, len);
		i += 2 + len;
	}

	run(stream.p, stream.len, pieces, npieces, flags & BIND_LATE, flags & FORGET_FIRST, &split);
	run(stream.p, stream.len, NULL, 0, false, false, &whole);

	if (!is_subsequence(split.out.p, split.out.len, stream.p, stream.len))
		die_bytes("the output is not the input with bytes removed", split.out.p, split.out.len,
				  stream.p, stream.len);
	/* a hang-up ends each run where its reads met the upgrade line: only that must agree */
	CHECK(split.refused == whole.refused, "whether the guard hung up depends on the split");
	if (!split.refused &&
		(split.out.len != whole.out.len || (split.out.len && memcmp(split.out.p, whole.out.p,
																	 split.out.len) != 0)))
		die_bytes("the output depends on how the stream was split", split.out.p, split.out.len,
				  whole.out.p, whole.out.len);
	CHECK(split.calls == whole.calls, "whether the callback fired depends on the split");
	CHECK((split.protocol == NULL) == (whole.protocol == NULL) &&
		  (!split.protocol || strcmp(split.protocol, whole.protocol) == 0),
		  "the protocol depends on how the stream was split");

	seen_free(&split);
	seen_free(&whole);
	free(stream.p);
	free(pieces);
}

/* Fuzz bytes for the built mode; once they run out, zeros. */
typedef struct cursor
{
	const uint8_t *p;
	size_t		n;
} cursor;

static uint8_t
take(cursor *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static void
put_token(bytes *b, size_t len, uint8_t salt)
{
	for (size_t i = 0; i < len; i++)
		put_byte(b, (uint8_t) TOKEN_CHARS[(i * 7 + salt) % (sizeof(TOKEN_CHARS) - 1)]);
}

static void
put_line(bytes *b, const char *s, bool bare_lf)
{
	put_str(b, s);
	put_str(b, bare_lf ? "\n" : "\r\n");
}

/*
 * The upgrade request (and any request before it); sets *protocol to its full
 * value.  Returns false if its protocol line is too long for the guard, which
 * then stops following the socket.
 */
static bool
build_requests(bytes *stream, bytes *protocol, cursor *c, uint8_t flags)
{
	static const char prefix[] = "Sec-WebSocket-Protocol: \tphoenix, base64url.bGFuaWFrZWE.";
	bool		lf = flags & BUILT_BARE_LF;
	uint8_t		pick = take(c);
	size_t		len;

	/* mostly past lws's 126 bytes; the top few picks straddle the guard's line limit */
	if (pick < 250)
		len = 127 + (size_t) pick * 3;
	else
		len = LINE_LIMIT - (sizeof(prefix) - 1) - 3 + (size_t) (pick - 250);

	if (flags & BUILT_KEEPALIVE)
	{
		/* a keep-alive GET first (the guard follows no request with a body);
		 * its protocol is forgotten at its end */
		put_line(stream, "GET /healthz HTTP/1.1", lf);
		put_line(stream, "Host: localhost:4000", lf);
		put_line(stream, "Sec-WebSocket-Protocol: stale", lf);
		put_line(stream, "", lf);
	}
	put_line(stream, "GET /socket/websocket?vsn=2.0.0 HTTP/1.1", lf);
	put_line(stream, "Host: localhost:4000", lf);
	put_line(stream, "upgrade: WebSocket", lf);
	put_line(stream, "Connection: Upgrade", lf);
	put_line(stream, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", lf);
	put_line(stream, "Sec-WebSocket-Version: 13", lf);
	put_str(stream, prefix);
	put_str(protocol, "phoenix, base64url.bGFuaWFrZWE.");
	put_token(stream, len, (uint8_t) len);
	put_token(protocol, len, (uint8_t) len);
	put_line(stream, "", lf);
	if (flags & BUILT_TWO_PROTOCOLS)
	{
		/* a repeated header joins the list, RFC 7230 3.2.2 */
		put_str(stream, "sec-websocket-protocol:x-");
		put_str(protocol, ", x-");
		put_token(stream, len / 2, 3);
		put_token(protocol, len / 2, 3);
		put_line(stream, "", lf);
	}
	put_line(stream, "Origin: http://localhost:4000", lf);
	put_line(stream, "", lf);
	/* the guard keeps LINE_LIMIT bytes of a line, its CR included */
	return sizeof(prefix) - 1 + len + (lf ? 0 : 1) <= LINE_LIMIT;
}

/*
 * Frames from the fuzz bytes, appended to stream; those lws must see go to
 * expect too.  Returns whether any frame was unmasked.
 */
static bool
build_frames(bytes *stream, bytes *expect, cursor *c, uint8_t flags)
{
	bool		violated = false;
	size_t		begin = stream->len;

	for (int f = 0; f < MAX_FRAMES && c->n && stream->len - begin < MAX_FRAME_BYTES; f++)
	{
		uint8_t		b0 = take(c),
					shape = take(c);
		bool		masked = !((flags & BUILT_UNMASKED) && (shape & 0x80));
		size_t		len,
					start = stream->len;

		put_byte(stream, b0);
		switch ((shape >> 5) & 3)
		{
			case 2:
				len = (size_t) take(c) * 4 + (shape & 3);
				put_byte(stream, (uint8_t) ((masked ? 0x80 : 0) | 126));
				put_byte(stream, (uint8_t) (len >> 8));
				put_byte(stream, (uint8_t) len);
				break;
			case 3:
				/* a 64-bit length of a small payload: not minimal, but legal for the guard */
				len = (size_t) take(c) + (shape & 3) * 256;
				put_byte(stream, (uint8_t) ((masked ? 0x80 : 0) | 127));
				for (int i = 7; i >= 0; i--)
					put_byte(stream, (uint8_t) (i < 2 ? len >> (8 * i) : 0));
				break;
			default:
				len = take(c) % 126;
				put_byte(stream, (uint8_t) ((masked ? 0x80 : 0) | len));
				break;
		}
		if (masked)
			for (int i = 0; i < 4; i++)
				put_byte(stream, take(c));
		/* past the fuzz bytes a payload is a pattern, so lengths stay free */
		for (size_t i = 0; i < len; i++)
			put_byte(stream, c->n ? take(c) : (uint8_t) (i * 31 + f));

		if (!masked)
			violated = true;
		else if (!violated || (b0 & 0x0f) == 0x8)
			put(expect, stream->p + start, stream->len - start);
	}
	return violated;
}

static void
fuzz_built(const uint8_t *data, size_t size, uint8_t flags)
{
	cursor		c = {data, size};
	size_t		nsched = take(&c);
	piece	   *pieces = calloc(nsched / 2 + 1, sizeof(piece));
	size_t		npieces = 0;
	bytes		stream = {0},
				expect = {0},
				protocol = {0};
	bool		followed,
				violated;
	seen		s;

	CHECK(pieces != NULL, "out of memory");
	if (nsched > c.n)
		nsched = c.n;
	for (size_t i = 0; i + 1 < nsched; i += 2)
		pieces[npieces++] = (piece) {write_size(c.p[i]), recv_size(c.p[i + 1])};
	c.p += nsched;
	c.n -= nsched;

	followed = build_requests(&stream, &protocol, &c, flags);
	put_byte(&protocol, 0);
	put(&expect, stream.p, stream.len);
	violated = build_frames(&stream, &expect, &c, flags);
	if (!followed)
	{
		/* unfollowed, the socket is served as lws alone would be */
		expect.len = 0;
		put(&expect, stream.p, stream.len);
		violated = false;
	}

	run(stream.p, stream.len, pieces, npieces, flags & BIND_LATE, flags & FORGET_FIRST, &s);
	if (s.out.len != expect.len || memcmp(s.out.p, expect.p, expect.len) != 0)
		die_bytes(violated ? "the output is not the frames before the unmasked one and later closes"
				  : !followed ? "an unfollowed stream did not pass unchanged"
				  : "a well-formed masked stream did not pass unchanged",
				  s.out.p, s.out.len, expect.p, expect.len);
	CHECK(s.calls == (violated ? 1 : 0),
		  violated ? "an unmasked frame was not reported once" : "a masked stream was reported");
	if (!followed)
		CHECK(s.protocol == NULL, "a protocol line past the limit was kept");
	else
	{
		CHECK(s.protocol != NULL, "the upgrade request's protocol was not kept");
		if (strcmp(s.protocol, (const char *) protocol.p) != 0)
			die_bytes("the protocol is not the upgrade request's whole value",
					  (const uint8_t *) s.protocol, strlen(s.protocol), protocol.p,
					  protocol.len - 1);
	}

	seen_free(&s);
	free(stream.p);
	free(expect.p);
	free(protocol.p);
	free(pieces);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready)
	{
		guard_init(on_unmasked);
		ready = true;
	}
	if (size == 0)
		return 0;
	if (data[0] & MODE_BUILT)
		fuzz_built(data + 1, size - 1, data[0]);
	else
		fuzz_raw(data + 1, size - 1, data[0]);
	return 0;
}
