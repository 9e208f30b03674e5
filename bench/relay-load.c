/*
 * relay-load.c - the client side of bench/relay.sh: opens N plain WebSocket
 * clients to wsrelay's /ws (minimal RFC 6455 client: handshake, unmasked
 * server frames), writes "go" to fd 3 (the publisher's stdin) once all are
 * welcomed, then reads every frame with epoll and measures deliveries per
 * second and publish -> receive latency (each event carries sent_ns, the
 * publisher's CLOCK_MONOTONIC).  C rather than node so that the client is
 * not what is measured.  Prints figures; asserts nothing.  Bench only.
 *   relay-load PORT TOKEN CLIENTS EXPECTED_EVENTS 3>publisher-fifo
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define BUFSZ	(256 * 1024)

struct conn {
	int	 fd;
	int	 welcomed;
	int	 closed;
	size_t	 len;
	uint8_t	*buf;
};

static double *lat;
static long nlat, expected, got, dropped, welcomed, closed_early;
static int64_t first_ns, last_ns;

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
on_text(struct conn *c, const char *p, size_t n)
{
	const char *s;
	int64_t now, sent;

	if ((s = memmem(p, n, "\"sent_ns\":", 10)) != NULL) {
		now = mono_ns();
		sent = strtoll(s + 10, NULL, 10);
		if (got == 0)
			first_ns = now;
		last_ns = now;
		if (nlat < expected)
			lat[nlat++] = (double)(now - sent) / 1e6;
		got++;
	} else if (n > 16 && memcmp(p, "{\"type\":\"welcome\"", 17) == 0) {
		c->welcomed = 1;
		welcomed++;
	} else if ((s = memmem(p, n, "\"type\":\"dropped\",\"count\":", 25))
	    != NULL)
		dropped += strtol(s + 25, NULL, 10);
}

/* Parse complete frames in c->buf; returns -1 on a protocol problem. */
static int
parse(struct conn *c)
{
	size_t off = 0, hl, pl;
	uint8_t *b;

	for (;;) {
		b = c->buf + off;
		if (c->len - off < 2)
			break;
		pl = b[1] & 0x7f;
		hl = 2;
		if (pl == 126) {
			if (c->len - off < 4)
				break;
			pl = ((size_t)b[2] << 8) | b[3];
			hl = 4;
		} else if (pl == 127) {
			if (c->len - off < 10)
				break;
			pl = 0;
			for (int i = 0; i < 8; i++)
				pl = (pl << 8) | b[2 + i];
			hl = 10;
		}
		if (hl + pl > BUFSZ)
			return -1;
		if (c->len - off < hl + pl)
			break;
		if ((b[0] & 0x0f) == 1)
			on_text(c, (const char *)b + hl, pl);
		else if ((b[0] & 0x0f) == 8)
			c->closed = 1;
		off += hl + pl;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

static int
handshake(struct conn *c, int port, const char *token)
{
	struct sockaddr_in sa;
	char req[8192];
	char *end;
	ssize_t n;
	int one = 1;

	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	n = snprintf(req, sizeof(req), "GET /ws?token=%s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", token, port);
	if (write(c->fd, req, (size_t)n) != n)
		return -1;
	c->buf = malloc(BUFSZ);
	c->len = 0;
	for (;;) {
		n = read(c->fd, c->buf + c->len, BUFSZ - c->len - 1);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
		c->buf[c->len] = '\0';
		if ((end = strstr((char *)c->buf, "\r\n\r\n")) != NULL)
			break;
	}
	if (strncmp((char *)c->buf, "HTTP/1.1 101", 12) != 0)
		return -1;
	end += 4;
	c->len -= (size_t)(end - (char *)c->buf);
	memmove(c->buf, end, c->len);
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	return parse(c);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	long i = (long)(p * (double)nlat);

	if (nlat == 0)
		return 0;
	return lat[i >= nlat ? nlat - 1 : i];
}

int
main(int argc, char *argv[])
{
	struct epoll_event ev, evs[256];
	struct conn *cs;
	int port, nclients, ep, i, n, idle = 0;
	long nevents, prev = -1;
	int64_t last_progress;
	ssize_t r;
	double secs;

	if (argc != 5) {
		fprintf(stderr, "usage: relay-load PORT TOKEN CLIENTS EVENTS\n");
		return 2;
	}
	port = (int)strtol(argv[1], NULL, 10);
	nclients = (int)strtol(argv[3], NULL, 10);
	nevents = strtol(argv[4], NULL, 10);
	expected = (long)nclients * nevents;
	lat = calloc((size_t)expected + 1, sizeof(*lat));
	cs = calloc((size_t)nclients, sizeof(*cs));
	ep = epoll_create1(0);
	for (i = 0; i < nclients; i++) {
		if (handshake(&cs[i], port, argv[2]) == -1) {
			fprintf(stderr, "client %d: handshake failed: %s\n", i,
			    strerror(errno));
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	last_progress = mono_ns();
	while (welcomed < nclients && mono_ns() - last_progress < 10000000000LL) {
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			while ((r = read(c->fd, c->buf + c->len, BUFSZ - c->len))
			    > 0) {
				c->len += (size_t)r;
				parse(c);
			}
		}
	}
	fprintf(stderr, "# %ld/%d clients connected\n", welcomed, nclients);
	if (write(3, "go\n", 3) != 3)
		fprintf(stderr, "cannot signal the publisher (fd 3)\n");

	last_progress = mono_ns();
	while (got + dropped < expected) {
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			while ((r = read(c->fd, c->buf + c->len, BUFSZ - c->len))
			    > 0) {
				c->len += (size_t)r;
				if (parse(c) == -1)
					break;
			}
			if (r == 0 && !c->closed) {
				c->closed = 1;
				closed_early++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
		if (got != prev) {
			prev = got;
			last_progress = mono_ns();
			idle = 0;
		} else if (mono_ns() - last_progress > 4000000000LL) {
			idle = 1;
			break;
		}
	}
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp);
	secs = (double)(last_ns - first_ns) / 1e9;
	printf("clients            %d\n", nclients);
	printf("events published   %ld\n", nevents);
	printf("deliveries         %ld of %ld (%ld dropped by back-pressure)%s\n",
	    got, expected, dropped, idle ? " - stopped waiting" : "");
	printf("delivery window    %.2f s\n", secs);
	printf("deliveries/s       %.0f\n", secs > 0 ? (double)got / secs : 0);
	printf("latency ms         p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
	    pct(0.50), pct(0.90), pct(0.99), nlat ? lat[nlat - 1] : 0.0);
	printf("closed early       %ld\n", closed_early);
	return 0;
}
