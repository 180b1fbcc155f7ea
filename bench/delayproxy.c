/*
 * delayproxy: a loopback TCP proxy that adds a round-trip time and nothing else, so a
 * benchmark can put "the directory across a WAN" in front of a local slapd.
 *
 *   delayproxy LISTEN_PORT UPSTREAM_PORT RTT_MS [PIDFILE]
 *
 * Listens on 127.0.0.1:LISTEN_PORT; every connection gets its own connection to
 * 127.0.0.1:UPSTREAM_PORT. Whatever is read from one side at time t is written to the other at
 * t + RTT/2, in order: a reply therefore comes back RTT after its request left, whatever the
 * number of requests in flight. Throughput is not limited (chunks are read as fast as they
 * come, up to 64 MiB queued per direction), Nagle is off on every socket (TCP_NODELAY), and
 * delays are kept with ppoll's nanosecond timeout, not poll's milliseconds. One process, one
 * ppoll loop, any number of connections. Stopped by its PID (SIGTERM).
 *
 * Only loopback: there is no option to listen or connect anywhere else.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define QUEUE_MAX (64L * 1024 * 1024)
#define MAX_CONNS 512

struct chunk {
	struct chunk *next;
	int64_t due;             /* ns, CLOCK_MONOTONIC */
	size_t len, off;
	char data[];
};

/* One direction: read from `from`, queued, written to `to`. */
struct pipe_dir {
	int from, to;
	struct chunk *head, *tail;
	long queued;
	int eof;                 /* `from` said EOF: shut `to`'s write side once drained */
	int shut;
};

struct conn {
	int used;
	struct pipe_dir d[2];    /* 0: client -> server, 1: server -> client */
};

static struct conn conns[MAX_CONNS];
static int64_t delay_ns;
static int map[1 + MAX_CONNS * 4][2];   /* pfd[j]: connection, direction (2 + k: its writer) */
static volatile sig_atomic_t stop;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int upstream_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	nodelay(fd);
	return fd;
}

static void conn_close(struct conn *c)
{
	for (int k = 0; k < 2; k++) {
		struct chunk *ch = c->d[k].head, *next;

		for (; ch != NULL; ch = next) {
			next = ch->next;
			free(ch);
		}
	}
	close(c->d[0].from);
	close(c->d[0].to);
	memset(c, 0, sizeof(*c));
}

/* Reads what `from` has into a chunk due at now + delay. -1: the connection is finished. */
static int dir_read(struct pipe_dir *p)
{
	struct chunk *ch = malloc(sizeof(*ch) + CHUNK);
	ssize_t n;

	if (ch == NULL)
		return -1;
	n = read(p->from, ch->data, CHUNK);
	if (n <= 0) {
		free(ch);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return 0;
		if (n < 0)
			return -1;
		p->eof = 1;
		return 0;
	}
	if ((size_t)n < CHUNK / 2) {   /* do not keep 64 KiB for a 100-byte request */
		struct chunk *small = realloc(ch, sizeof(*ch) + (size_t)n);

		if (small != NULL)
			ch = small;
	}
	ch->next = NULL;
	ch->due = now_ns() + delay_ns;
	ch->len = (size_t)n;
	ch->off = 0;
	if (p->tail != NULL)
		p->tail->next = ch;
	else
		p->head = ch;
	p->tail = ch;
	p->queued += n;
	return 0;
}

/* Writes the chunks that are due. -1: the connection is finished. */
static int dir_write(struct pipe_dir *p, int64_t now)
{
	while (p->head != NULL && p->head->due <= now) {
		struct chunk *ch = p->head;
		ssize_t n = send(p->to, ch->data + ch->off, ch->len - ch->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		ch->off += (size_t)n;
		p->queued -= n;
		if (ch->off < ch->len)
			return 0;
		p->head = ch->next;
		if (p->head == NULL)
			p->tail = NULL;
		free(ch);
	}
	if (p->eof && p->head == NULL && !p->shut) {
		shutdown(p->to, SHUT_WR);
		p->shut = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct pollfd pfd[1 + MAX_CONNS * 4];
	int lfd, one = 1, upstream;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: delayproxy LISTEN_PORT UPSTREAM_PORT RTT_MS [PIDFILE]\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	upstream = atoi(argv[2]);
	delay_ns = (int64_t)(atof(argv[3]) * 1e6 / 2);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 128) != 0) {
		fprintf(stderr, "delayproxy: cannot listen on 127.0.0.1:%s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	if (argc == 5) {
		FILE *fp = fopen(argv[4], "w");

		if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
			fprintf(stderr, "delayproxy: cannot write '%s'\n", argv[4]);
			return 1;
		}
	}
	while (!stop) {
		int64_t now = now_ns(), next_due = INT64_MAX;
		struct timespec ts, *tsp = NULL;
		int np = 0;

		pfd[np++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];

			if (!c->used)
				continue;
			for (int k = 0; k < 2; k++) {
				struct pipe_dir *p = &c->d[k];

				if (!p->eof && p->queued < QUEUE_MAX) {
					map[np][0] = i;
					map[np][1] = k;
					pfd[np++] = (struct pollfd){ .fd = p->from, .events = POLLIN };
				}
				if (p->head == NULL)
					continue;
				if (p->head->due > now) {
					if (p->head->due < next_due)
						next_due = p->head->due;
					continue;
				}
				/* due but the last send was short: wait until `to` takes more */
				map[np][0] = i;
				map[np][1] = 2 + k;
				pfd[np++] = (struct pollfd){ .fd = p->to, .events = POLLOUT };
			}
		}
		if (next_due != INT64_MAX) {
			int64_t wait = next_due > now ? next_due - now : 0;

			ts.tv_sec = wait / 1000000000;
			ts.tv_nsec = wait % 1000000000;
			tsp = &ts;
		}
		if (ppoll(pfd, (nfds_t)np, tsp, NULL) < 0 && errno != EINTR)
			return 1;
		if (pfd[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			int ufd = cfd >= 0 ? upstream_connect(upstream) : -1;
			int slot = -1;

			for (int i = 0; i < MAX_CONNS && slot < 0; i++)
				if (!conns[i].used)
					slot = i;
			if (cfd >= 0 && (ufd < 0 || slot < 0)) {
				close(cfd);
				if (ufd >= 0)
					close(ufd);
			} else if (cfd >= 0) {
				nodelay(cfd);
				conns[slot].used = 1;
				conns[slot].d[0] = (struct pipe_dir){ .from = cfd, .to = ufd };
				conns[slot].d[1] = (struct pipe_dir){ .from = ufd, .to = cfd };
			}
		}
		for (int j = 1; j < np; j++) {
			struct conn *c = &conns[map[j][0]];

			if (map[j][1] < 2 && c->used &&
			    (pfd[j].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    dir_read(&c->d[map[j][1]]) != 0)
				conn_close(c);
		}
		now = now_ns();
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];

			if (!c->used)
				continue;
			if (dir_write(&c->d[0], now) != 0 || dir_write(&c->d[1], now) != 0 ||
			    (c->d[0].shut && c->d[1].shut))
				conn_close(c);
		}
	}
	return 0;
}
