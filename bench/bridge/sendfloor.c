/*
 * sendfloor.c — the kernel's floor under one fan-out, without any server.
 *
 * Opens N loopback TCP connections (the accepting ends in this process, the
 * connecting ends read by a forked child with epoll), then R times sends one
 * small message to each of the N sockets, as a fan-out server must for one
 * broadcast when every subscriber is up to date, and reports the sender's
 * wall and CPU time per send and how long the last message of a round took
 * to arrive.  No event loop, no WebSocket, no JSON: what remains is the cost
 * of send() on this machine, the bound any bridge's latency at N subscribers
 * sits on.
 *
 * usage: sendfloor N ROUNDS [BYTES]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_s(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int			n = argc > 1 ? atoi(argv[1]) : 10000;
	int			rounds = argc > 2 ? atoi(argv[2]) : 10;
	int			bytes = argc > 3 ? atoi(argv[3]) : 60;
	int			ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t	sl = sizeof(sa);
	int		   *srv = calloc((size_t) n, sizeof(int));
	int		   *cli = calloc((size_t) n, sizeof(int));
	int			ready[2], done[2];
	char		msg[4096];
	pid_t		child;

	if (n <= 0 || rounds <= 0 || bytes <= 0 || bytes > (int) sizeof(msg))
		return 2;
	memset(msg, 'x', sizeof(msg));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(ls, (struct sockaddr *) &sa, sizeof(sa)) || listen(ls, 4096) ||
		getsockname(ls, (struct sockaddr *) &sa, &sl))
		return 1;
	for (int i = 0; i < n; i++)
	{
		int			one = 1;

		cli[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(cli[i], (struct sockaddr *) &sa, sizeof(sa)))
			return 1;
		srv[i] = accept(ls, NULL, NULL);
		setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (pipe(ready) || pipe(done))
		return 1;
	child = fork();
	if (child == 0)
	{
		/* the reader: epoll over the connecting ends, reports when each round is in */
		int			ep = epoll_create1(0);
		struct epoll_event evs[1024];
		long long	got = 0,
					want = (long long) n * bytes;
		char		buf[65536];

		for (int i = 0; i < n; i++)
		{
			struct epoll_event ev = {.events = EPOLLIN, .data.fd = cli[i]};

			close(srv[i]);
			epoll_ctl(ep, EPOLL_CTL_ADD, cli[i], &ev);
		}
		(void) !write(ready[1], "r", 1);
		for (int r = 0; r < rounds; r++)
		{
			while (got < want * (r + 1))
			{
				int			k = epoll_wait(ep, evs, 1024, -1);

				for (int i = 0; i < k; i++)
				{
					ssize_t		m = recv(evs[i].data.fd, buf, sizeof(buf), 0);

					if (m > 0)
						got += m;
				}
			}
			double		t = now_s(CLOCK_REALTIME);

			(void) !write(done[1], &t, sizeof(t));
		}
		_exit(0);
	}
	for (int i = 0; i < n; i++)
		close(cli[i]);

	char		c;
	double		wall = 0,
				cpu = 0,
				last = 0;

	(void) !read(ready[0], &c, 1);
	for (int r = 0; r < rounds; r++)
	{
		double		w0 = now_s(CLOCK_REALTIME),
					c0 = now_s(CLOCK_PROCESS_CPUTIME_ID),
					arrived;

		for (int i = 0; i < n; i++)
			(void) !send(srv[i], msg, (size_t) bytes, MSG_NOSIGNAL);
		wall += now_s(CLOCK_REALTIME) - w0;
		cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
		(void) !read(done[0], &arrived, sizeof(arrived));
		last += arrived - w0;
		usleep(100000);
	}
	waitpid(child, NULL, 0);
	printf("sendfloor: N=%d rounds=%d bytes=%d: send wall %.2f us, sender CPU %.2f us per send; "
		   "round of N sends %.1f ms; last message in after %.1f ms (mean over rounds)\n",
		   n, rounds, bytes, wall / rounds / n * 1e6, cpu / rounds / n * 1e6,
		   wall / rounds * 1e3, last / rounds * 1e3);
	return 0;
}
