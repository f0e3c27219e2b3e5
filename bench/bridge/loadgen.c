/*
 * loadgen.c — the fan-out load generator of bench/bridge/run.sh, in C.
 *
 * N WebSocket subscribers spread over W forked worker processes (a process may hold at
 * most 20,000 files), each worker one epoll loop. Every subscriber sends a raw Phoenix
 * Channels V2 join for one topic, then counts frames whose text contains "delta" and
 * the commit->receive latency read from the last `"n1":<unix µs>` in the frame (the
 * driver writes the commit time there; the Laniakea bridge forwards the delta, the Node
 * peer the whole payload, so both frames carry the same number, found the same way).
 *
 * Why C: the Node load generator (load.mjs) saturated before the servers did on this
 * 2-core machine, so it measured itself. This one reads a socket's whole backlog per
 * recv() and parses frames in place, so the client costs far less CPU per frame than
 * the server it measures.
 *
 * Orchestrator protocol, lines on stdin/stdout (the same as load.mjs):
 *   "connect" -> "connected <ok> <failed>"
 *   "reset"   -> "reset"
 *   "report"  -> "report <frames> <p50_ms> <p95_ms> <p99_ms> <first_ms> <last_ms> <samples>"
 *   "close"   -> "closed", exits
 *
 * usage: loadgen HOST PORT PATH TOPIC N WORKERS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUCKET_US 100			/* histogram: 0.1 ms buckets up to 20 s */
#define NBUCKETS 200000
#define INFLIGHT 128			/* connects in progress per worker */
#define RBUF (1 << 20)

enum
{
	S_CONNECTING, S_HANDSHAKE, S_JOINING, S_JOINED, S_DEAD
};

typedef struct sub
{
	int			fd;
	int			state;
	char	   *left;			/* bytes of an incomplete frame or response */
	size_t		left_len;
} sub;

static const char *host, *path, *topic;
static int	port;
static sub *subs;
static int	nsubs, opened, ok, failed, epfd;
static uint64_t frames, samples, first_us, last_us;
static uint32_t *hist;
static char *rbuf;
static unsigned hb_ref = 100;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* A client frame must be masked (RFC 6455 5.3); a zero key keeps the payload as is. */
static void
send_text(sub *s, const char *text)
{
	size_t		len = strlen(text);
	char		f[512];
	size_t		h = 0;

	if (len + 8 > sizeof(f))
		return;
	f[h++] = (char) 0x81;
	if (len < 126)
		f[h++] = (char) (0x80 | len);
	else
	{
		f[h++] = (char) (0x80 | 126);
		f[h++] = (char) (len >> 8);
		f[h++] = (char) (len & 0xff);
	}
	memset(f + h, 0, 4);
	h += 4;
	memcpy(f + h, text, len);
	if (send(s->fd, f, h + len, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		s->state = S_DEAD;
}

static void
kill_sub(sub *s)
{
	if (s->state == S_DEAD)
		return;
	if (s->state != S_JOINED)
		failed++;
	s->state = S_DEAD;
	epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	free(s->left);
	s->left = NULL;
	s->left_len = 0;
}

static void
open_next(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET};
	sub		   *s = &subs[opened];
	int			one = 1;

	inet_pton(AF_INET, host, &sa.sin_addr);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	s->state = S_CONNECTING;
	opened++;
	if (s->fd < 0)
	{
		failed++;
		s->state = S_DEAD;
		return;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
	{
		close(s->fd);
		failed++;
		s->state = S_DEAD;
		return;
	}
	ev.data.ptr = s;
	epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static void
on_text(sub *s, const char *p, size_t len)
{
	if (s->state == S_JOINING)
	{
		if (memmem(p, len, "\"phx_reply\"", 11))
		{
			if (memmem(p, len, "\"status\":\"ok\"", 13))
			{
				s->state = S_JOINED;
				ok++;
			}
			else
			{
				fprintf(stderr, "join refused: %.*s\n", (int) (len < 200 ? len : 200), p);
				kill_sub(s);
			}
		}
		return;
	}
	if (!memmem(p, len, "\"delta\"", 7))
		return;

	uint64_t	t = now_us();
	const char *n1 = NULL;

	frames++;
	if (!first_us)
		first_us = t;
	last_us = t;
	for (const char *q = p; (q = memmem(q, len - (size_t) (q - p), "\"n1\":", 5)) != NULL; q += 5)
		n1 = q;
	if (n1)
	{
		unsigned long long v = strtoull(n1 + 5, NULL, 10);

		if (v > 1000000000000000ull)
		{
			int64_t		b = ((int64_t) t - (int64_t) v) / BUCKET_US;

			if (b < 0)
				b = 0;
			if (b >= NBUCKETS)
				b = NBUCKETS - 1;
			hist[b]++;
			samples++;
		}
	}
}

/* Parse complete frames in buf[0..len); return the bytes consumed. */
static size_t
parse_frames(sub *s, char *buf, size_t len)
{
	size_t		off = 0;

	while (s->state == S_JOINING || s->state == S_JOINED)
	{
		unsigned char *b = (unsigned char *) buf + off;
		size_t		avail = len - off, h = 2;
		uint64_t	plen;

		if (avail < 2)
			break;
		plen = b[1] & 0x7f;
		if (plen == 126)
		{
			if (avail < 4)
				break;
			plen = ((uint64_t) b[2] << 8) | b[3];
			h = 4;
		}
		else if (plen == 127)
		{
			if (avail < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = (plen << 8) | b[2 + i];
			h = 10;
		}
		if (avail < h + plen)
			break;
		switch (b[0] & 0x0f)
		{
			case 0x1:
				on_text(s, (char *) b + h, (size_t) plen);
				break;
			case 0x8:
				kill_sub(s);
				return len;
			case 0x9:
				{
					/* pong with the same (short) payload, masked with a zero key */
					char		pong[136] = {(char) 0x8a, (char) (0x80 | (plen & 0x7f))};

					if (plen <= 125)
					{
						memcpy(pong + 6, b + h, (size_t) plen);
						(void) !send(s->fd, pong, 6 + (size_t) plen, MSG_NOSIGNAL);
					}
					break;
				}
			default:
				break;
		}
		off += h + (size_t) plen;
	}
	return off;
}

static void
on_readable(sub *s)
{
	for (;;)
	{
		size_t		have = s->left_len;
		size_t		room = RBUF - have;
		ssize_t		n;

		if (have)
			memcpy(rbuf, s->left, have);
		n = recv(s->fd, rbuf + have, room, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		{
			kill_sub(s);
			return;
		}
		if (n < 0)
			return;
		have += (size_t) n;

		size_t		used = 0;

		if (s->state == S_HANDSHAKE)
		{
			char	   *end = memmem(rbuf, have, "\r\n\r\n", 4);

			if (!end)
				used = 0;
			else if (have < 12 || memcmp(rbuf + 8, " 101", 4) != 0)
			{
				fprintf(stderr, "upgrade refused: %.*s\n", (int) (have < 120 ? have : 120), rbuf);
				kill_sub(s);
				return;
			}
			else
			{
				char		join[400];

				used = (size_t) (end + 4 - rbuf);
				s->state = S_JOINING;
				snprintf(join, sizeof(join),
						 "[\"1\",\"1\",\"%s\",\"phx_join\",{\"node\":\"b\",\"caps\":{\"hasWorkers\":true,"
						 "\"hasSharedArrayBuffer\":true,\"memoryMb\":4096,\"connectionType\":\"ethernet\"}}]",
						 topic);
				send_text(s, join);
			}
		}
		if (s->state == S_JOINING || s->state == S_JOINED)
			used += parse_frames(s, rbuf + used, have - used);
		if (s->state == S_DEAD)
			return;
		free(s->left);
		s->left = NULL;
		s->left_len = have - used;
		if (s->left_len)
		{
			s->left = malloc(s->left_len);
			memcpy(s->left, rbuf + used, s->left_len);
		}
		if ((size_t) n < room)
			return;				/* the socket is drained: edge-triggered, so stop */
	}
}

static void
on_writable(sub *s)
{
	int			err = 0;
	socklen_t	l = sizeof(err);
	char		req[512];

	if (s->state != S_CONNECTING)
		return;
	getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err)
	{
		kill_sub(s);
		return;
	}
	s->state = S_HANDSHAKE;
	snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 path, host, port);
	if (send(s->fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		kill_sub(s);
}

static void
heartbeat(void)
{
	char		hb[96];

	snprintf(hb, sizeof(hb), "[null,\"%u\",\"phoenix\",\"heartbeat\",{}]", hb_ref++);
	for (int i = 0; i < opened; i++)
		if (subs[i].state == S_JOINED)
			send_text(&subs[i], hb);
}

static int
in_flight(void)
{
	int			n = 0;

	for (int i = 0; i < opened; i++)
		n += subs[i].state == S_CONNECTING || subs[i].state == S_HANDSHAKE || subs[i].state == S_JOINING;
	return n;
}

/* One worker: commands on `cmd` (a pipe), answers on `ans`. */
static void
worker(int cmd, int ans, int count)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct epoll_event evs[512];
	bool		connecting = false;
	uint64_t	last_hb = now_us();
	FILE	   *out = fdopen(ans, "w");

	nsubs = count;
	subs = calloc((size_t) count, sizeof(sub));
	hist = calloc(NBUCKETS, sizeof(uint32_t));
	rbuf = malloc(RBUF);
	epfd = epoll_create1(0);
	epoll_ctl(epfd, EPOLL_CTL_ADD, cmd, &ev);
	for (;;)
	{
		int			n = epoll_wait(epfd, evs, 512, connecting ? 10 : 1000);

		for (int i = 0; i < n; i++)
		{
			sub		   *s = evs[i].data.ptr;

			if (s == NULL)
			{
				char		line[32] = {0};

				if (read(cmd, line, sizeof(line) - 1) <= 0 || strncmp(line, "close", 5) == 0)
					_exit(0);
				if (strncmp(line, "connect", 7) == 0)
					connecting = true;
				else if (strncmp(line, "reset", 5) == 0)
				{
					frames = samples = first_us = last_us = 0;
					memset(hist, 0, NBUCKETS * sizeof(uint32_t));
					fprintf(out, "reset\n");
					fflush(out);
				}
				else if (strncmp(line, "report", 6) == 0)
				{
					fprintf(out, "%llu %llu %llu %llu\n", (unsigned long long) frames,
							(unsigned long long) samples, (unsigned long long) first_us,
							(unsigned long long) last_us);
					for (int b = 0; b < NBUCKETS; b++)
						if (hist[b])
							fprintf(out, "%d %u\n", b, hist[b]);
					fprintf(out, "end\n");
					fflush(out);
				}
				continue;
			}
			if (evs[i].events & (EPOLLERR | EPOLLHUP) && s->state == S_CONNECTING)
				kill_sub(s);
			else
			{
				if (evs[i].events & EPOLLOUT)
					on_writable(s);
				if (evs[i].events & EPOLLIN)
					on_readable(s);
			}
		}
		if (connecting)
		{
			int			busy = in_flight();

			while (opened < nsubs && busy++ < INFLIGHT)
				open_next();
			if (opened == nsubs && in_flight() == 0)
			{
				connecting = false;
				fprintf(out, "connected %d %d\n", ok, failed);
				fflush(out);
			}
		}
		if (now_us() - last_hb > 30000000u)
		{
			heartbeat();
			last_hb = now_us();
		}
	}
}

int
main(int argc, char **argv)
{
	int			w;
	int		   *cmd,
			   *ans;
	FILE	  **from;
	pid_t	   *pids;
	char		line[64];

	if (argc != 7)
	{
		fprintf(stderr, "usage: %s HOST PORT PATH TOPIC N WORKERS\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	path = argv[3];
	topic = argv[4];
	nsubs = atoi(argv[5]);
	w = atoi(argv[6]);
	if (nsubs <= 0 || w <= 0 || w > nsubs)
	{
		fprintf(stderr, "loadgen: N and WORKERS must be positive and WORKERS <= N\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	cmd = calloc((size_t) w, sizeof(int));
	ans = calloc((size_t) w, sizeof(int));
	from = calloc((size_t) w, sizeof(FILE *));
	pids = calloc((size_t) w, sizeof(pid_t));
	for (int i = 0; i < w; i++)
	{
		int			c[2], a[2];
		int			count = nsubs / w + (i < nsubs % w);

		if (pipe(c) || pipe(a))
			return 1;
		pids[i] = fork();
		if (pids[i] == 0)
		{
			close(c[1]);
			close(a[0]);
			worker(c[0], a[1], count);
		}
		close(c[0]);
		close(a[1]);
		cmd[i] = c[1];
		ans[i] = a[0];
		from[i] = fdopen(a[0], "r");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin))
	{
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == 0)
			continue;
		for (int i = 0; i < w; i++)
			(void) !write(cmd[i], line, strlen(line));
		if (strcmp(line, "close") == 0)
		{
			for (int i = 0; i < w; i++)
				waitpid(pids[i], NULL, 0);
			printf("closed\n");
			return 0;
		}
		if (strcmp(line, "connect") == 0)
		{
			int			o = 0, f = 0, a, b;

			for (int i = 0; i < w; i++)
				if (fscanf(from[i], " connected %d %d", &a, &b) == 2)
				{
					o += a;
					f += b;
				}
			printf("connected %d %d\n", o, f);
		}
		else if (strcmp(line, "reset") == 0)
		{
			for (int i = 0; i < w; i++)
				(void) !fscanf(from[i], " reset");
			printf("reset\n");
		}
		else if (strcmp(line, "report") == 0)
		{
			uint32_t   *all = calloc(NBUCKETS, sizeof(uint32_t));
			unsigned long long fr = 0, sm = 0, fi = 0, la = 0;
			double		q[3] = {0.5, 0.95, 0.99};
			char		qs[3][32];

			for (int i = 0; i < w; i++)
			{
				unsigned long long a, b, c, d;
				char		l[64];

				if (fscanf(from[i], " %llu %llu %llu %llu ", &a, &b, &c, &d) != 4)
					continue;
				fr += a;
				sm += b;
				if (c && (!fi || c < fi))
					fi = c;
				if (d > la)
					la = d;
				while (fgets(l, sizeof(l), from[i]) && strncmp(l, "end", 3) != 0)
				{
					int			bk;
					unsigned	cnt;

					if (sscanf(l, "%d %u", &bk, &cnt) == 2 && bk >= 0 && bk < NBUCKETS)
						all[bk] += cnt;
				}
			}
			for (int k = 0; k < 3; k++)
			{
				unsigned long long acc = 0;

				snprintf(qs[k], sizeof(qs[k]), "nan");
				for (int b = 0; b < NBUCKETS && sm; b++)
				{
					acc += all[b];
					if ((double) acc >= q[k] * (double) sm)
					{
						snprintf(qs[k], sizeof(qs[k]), "%.2f", (b + 0.5) * BUCKET_US / 1000.0);
						break;
					}
				}
			}
			printf("report %llu %s %s %s %.3f %.3f %llu\n", fr, qs[0], qs[1], qs[2],
				   fi / 1000.0, la / 1000.0, sm);
			free(all);
		}
	}
	return 0;
}
