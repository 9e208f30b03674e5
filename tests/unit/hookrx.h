/*
 * hookrx.h - a tiny HTTP receiver for webhook tests: a thread with a
 * listening socket on 127.0.0.1 (random port) that records each request's
 * headers and body and answers with a configurable status (0: hold the
 * connection without answering, as a hung receiver would).  Header-only,
 * for test_webhook.c and test_outbox.c, with the two queries they use to
 * look into a store.
 */
#ifndef TESTS_HOOKRX_H
#define TESTS_HOOKRX_H

#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define RX_REQ_MAX	64
#define RX_HELD_MAX	16

struct rx_req {
	char	 id[96];
	char	 sig[128];
	int	 has_sig;
	char	 ts[32];
	char	 ctype[64];
	char	*body;
	size_t	 blen;
};

struct rx {
	int		 lfd;
	int		 port;
	char		 url[64];
	pthread_t	 th;
	int		 stop;		/* atomic: set by rx_stop */
	pthread_mutex_t	 mu;
	int		 codes[32];	/* status for request i */
	int		 ncodes;
	int		 dflt;		/* after that */
	struct rx_req	 req[RX_REQ_MAX];
	int		 nreq;
	int		 held[RX_HELD_MAX];
	int		 nheld;
};

/* Value of header name (case-insensitive) in head, or 0. */
static int
rx_header(const char *head, const char *name, char *out, size_t sz)
{
	const char *p = head;
	size_t n = strlen(name), l;

	out[0] = '\0';
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			l = strcspn(p, "\r\n");
			if (l >= sz)
				l = sz - 1;
			memcpy(out, p, l);
			out[l] = '\0';
			return 1;
		}
	}
	return 0;
}

static void
rx_handle(struct rx *r, int fd)
{
	char buf[65536], cl[32], resp[160];
	size_t have = 0, need = 0;
	char *end = NULL;
	struct timeval tv = { 2, 0 };
	struct rx_req *q;
	ssize_t k;
	int code, idx;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		if (have == sizeof(buf) - 1)
			break;
		if ((k = read(fd, buf + have, sizeof(buf) - 1 - have)) <= 0)
			break;
		have += (size_t)k;
		buf[have] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			*end = '\0';
			rx_header(buf, "Content-Length", cl, sizeof(cl));
			need = (size_t)(end - buf) + 4 + strtoul(cl, NULL, 10);
		}
		if (end != NULL && have >= need)
			break;
	}
	if (end == NULL || have < need) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&r->mu);
	idx = r->nreq;
	code = idx < r->ncodes ? r->codes[idx] : r->dflt;
	if (idx < RX_REQ_MAX) {
		q = &r->req[r->nreq++];
		rx_header(buf, "X-Webhook-Id", q->id, sizeof(q->id));
		q->has_sig = rx_header(buf, "X-Hub-Signature-256", q->sig,
		    sizeof(q->sig));
		rx_header(buf, "X-Webhook-Timestamp", q->ts, sizeof(q->ts));
		rx_header(buf, "Content-Type", q->ctype, sizeof(q->ctype));
		q->blen = need - (size_t)(end - buf) - 4;
		q->body = malloc(q->blen + 1);
		memcpy(q->body, end + 4, q->blen);
		q->body[q->blen] = '\0';
	}
	if (code == 0 && r->nheld < RX_HELD_MAX) {
		r->held[r->nheld++] = fd;
		pthread_mutex_unlock(&r->mu);
		return;
	}
	pthread_mutex_unlock(&r->mu);
	snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n", code ? code : 500);
	if (write(fd, resp, strlen(resp)) < 0)
		perror("rx write");
	close(fd);
}

static void *
rx_main(void *arg)
{
	struct rx *r = arg;
	struct pollfd p;
	int fd;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		p.fd = r->lfd;
		p.events = POLLIN;
		if (poll(&p, 1, 20) <= 0)
			continue;
		if ((fd = accept(r->lfd, NULL, NULL)) >= 0)
			rx_handle(r, fd);
	}
	return NULL;
}

static int
rx_start(struct rx *r, int dflt)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(r, 0, sizeof(*r));
	r->dflt = dflt;
	pthread_mutex_init(&r->mu, NULL);
	if ((r->lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(r->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(r->lfd, 64) < 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	r->port = ntohs(a.sin_port);
	snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d/hook", r->port);
	return pthread_create(&r->th, NULL, rx_main, r) == 0 ? 0 : -1;
}

static void
rx_codes(struct rx *r, const int *codes, int n, int dflt)
{
	pthread_mutex_lock(&r->mu);
	memcpy(r->codes, codes, (size_t)n * sizeof(int));
	r->ncodes = n;
	r->dflt = dflt;
	pthread_mutex_unlock(&r->mu);
}

static int
rx_count(struct rx *r)
{
	int n;

	pthread_mutex_lock(&r->mu);
	n = r->nreq;
	pthread_mutex_unlock(&r->mu);
	return n;
}

static void
rx_stop(struct rx *r)
{
	int i;

	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(r->th, NULL);
	close(r->lfd);
	for (i = 0; i < r->nheld; i++)
		close(r->held[i]);
	for (i = 0; i < r->nreq && i < RX_REQ_MAX; i++)
		free(r->req[i].body);
	pthread_mutex_destroy(&r->mu);
}

static int
rx_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

/* Remove a test's temp directory. */
static void
rx_rm_rf(const char *dir)
{
	nftw(dir, rx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One value of the first row of sql on the store (tests' look into it). */
static long long
q_int(struct store *s, const char *sql, const char *arg)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return -2;
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static const char *
q_str(struct store *s, const char *sql, const char *arg)
{
	static char out[4096];
	sqlite3_stmt *st;
	const unsigned char *t;

	out[0] = '\0';
	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return "(sql)";
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (t = sqlite3_column_text(st, 0)) != NULL)
		snprintf(out, sizeof(out), "%s", (const char *)t);
	sqlite3_finalize(st);
	return out;
}

#endif
