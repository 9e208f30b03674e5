/*
 * webhooks-drive.c - drives waproc's message-webhook queue (waproc/msghook.c
 * over store.db) outside waproc, for bench/webhooks.sh and for
 * tests/system/test_webhook_durability.py.  Two modes:
 *
 *   webhooks-drive drive -d STOREDIR -u URL [-s SECRET] [-n N] [-f FIRST]
 *       [-b BATCH] [-r RATE] [-E] [-x] [-P] [-R RUNTAG] [-t TIMEOUT_MS]
 *       [-a MAX_ATTEMPTS] [-B BACKOFF_MS] [-M BACKOFF_MAX_MS]
 *     Opens (or creates) the store, points msghook at URL, then runs the
 *     poll loop (msghook_pollfds / zmq_poll / msghook_service, as waproc
 *     does) while it enqueues events FIRST .. FIRST+N-1 with msghook_enqueue,
 *     BATCH events per transaction, RATE events/s (0: as fast as it can),
 *     or all of them before the loop with -E.  Each event is a ~1 KB GOWA
 *     "message" body whose message.id is "3EB0" + 16 hex digits of its
 *     index, and which carries {"bench":{"run":RUNTAG,"seq":i,"enq_ns":…}}
 *     (CLOCK_MONOTONIC ns at enqueue, for latency figures).  An event_id
 *     already queued (a second run on the same store) is left as it was.
 *     -P prints "committed LAST_INDEX" after each commit (flushed), -x
 *     exits once nothing is pending or in flight, printing figures read
 *     back from the store (key=value lines); -S adds the time spent in
 *     each SQL statement (sqlite3_trace_v2), to see what limits the rate.
 *
 *   webhooks-drive rx [-p PORT] [-s SECRET] [-n EXPECTED] [-o PORTFILE]
 *     A fast HTTP/1.1 keep-alive receiver on 127.0.0.1 (epoll, one
 *     thread): answers 200 to every POST, verifies X-Hub-Signature-256
 *     against SECRET and X-Webhook-Id against the body's event_id, writes
 *     its port to PORTFILE, and exits after EXPECTED distinct event ids
 *     (or on SIGTERM/SIGINT) printing requests, duplicates, bad
 *     signatures and enqueue -> received latency.
 *
 * Not product code: a bench / test tool that links build/lib/libwa.a and
 * libcommon.a; built by bench/webhooks.sh and by the durability test:
 *   cc -O2 -D_GNU_SOURCE -Icommon -Iwaproc -Ibuild/gen \
 *      bench/webhooks-drive.c build/lib/libwa.a build/lib/libcommon.a \
 *      $(pkg-config --cflags --libs libzmq libcurl libsodium sqlite3 \
 *      json-c libprotobuf-c openssl zlib) -lm
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>
#include <zmq.h>

#include "hook-payload.h"
#include "log.h"
#include "msghook.h"
#include "store.h"

#define DEV_HASH	"b3e1c0ffee5a1e01"
#define DEV_JID		"5511900000001:7@s.whatsapp.net"
#define TEXT_LEN	720	/* body ~1 KB */

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long
num(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0) {
		fprintf(stderr, "webhooks-drive: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
pct(const int64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* ------------------------------------------------------------ drive */

static struct {
	const char	*dir, *url, *secret, *run;
	long		 n, first, batch, rate;
	int		 all_first, exit_drained, progress, profile;
	struct msghook_opts opts;
} d;

/* A GOWA v7.8.0 text message body (hook-payload.c's shape) for index i. */
static char *
drive_body(long i, char event_id[HOOK_EVENT_ID_LEN + 1])
{
	static const char words[] = "Lorem ipsum dolor sit amet, consectetur "
	    "adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
	    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
	    "exercitation ullamco laboris nisi ut aliquip ex ea commodo. ";
	char text[TEXT_LEN + 1], id[24], seq[24], ts[40], *b;
	size_t k, wl = sizeof(words) - 1;
	size_t cap = TEXT_LEN + 1024;
	int64_t secs = 1764000000 + i;

	for (k = 0; k < TEXT_LEN; k++)
		text[k] = words[(k + (size_t)i * 7) % wl];
	text[TEXT_LEN] = '\0';
	snprintf(id, sizeof(id), "3EB0%016lX", i);
	snprintf(seq, sizeof(seq), "%ld", i);
	hook_event_id(event_id, DEV_HASH, "message", "5511987654321@s.whatsapp."
	    "net", id, NULL);
	hook_rfc3339(secs, ts, sizeof(ts));
	b = malloc(cap);
	if (b == NULL)
		abort();
	snprintf(b, cap, "{\"sender_id\":\"5511987654321\",\"chat_id\":"
	    "\"5511987654321\",\"from\":\"5511987654321@s.whatsapp.net\","
	    "\"message\":{\"text\":\"%s\",\"id\":\"%s\",\"replied_id\":\"\","
	    "\"quoted_message\":\"\"},\"pushname\":\"Bench Sender\","
	    "\"timestamp\":\"%s\",\"device_hash\":\"" DEV_HASH "\","
	    "\"device_jid\":\"" DEV_JID "\",\"event\":\"message\","
	    "\"event_id\":\"%s\",\"bench\":{\"run\":\"%s\",\"seq\":%ld,"
	    "\"enq_ns\":%lld}}", text, id, ts, event_id, d.run, i,
	    (long long)mono_ns());
	return b;
}

/* Enqueue [from, to) in one transaction; -1 on a store error. */
static int
drive_enqueue(struct store *s, long from, long to, long *added)
{
	char eid[HOOK_EVENT_ID_LEN + 1], *b;
	long i;
	int rc;

	if (store_begin(s) == -1)
		return -1;
	for (i = from; i < to; i++) {
		b = drive_body(i, eid);
		rc = msghook_enqueue(s, "message", eid, b);
		free(b);
		if (rc == -1) {
			store_rollback(s);
			return -1;
		}
		if (rc == 0)
			(*added)++;
	}
	if (store_commit(s) == -1) {
		store_rollback(s);
		return -1;
	}
	if (d.progress) {
		printf("committed %ld\n", to - 1);
		fflush(stdout);
	}
	return 0;
}

static long long
q_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* -S: time spent per SQL statement (sqlite3_trace_v2 profile), to see
 * what limits the delivery rate. */
#define PROF_MAX	64

static struct {
	char		*sql;
	long		 calls;
	int64_t		 ns;
} prof[PROF_MAX];

static int
prof_cb(unsigned type, void *ctx, void *p, void *x)
{
	const char *sql = sqlite3_sql(p);
	int i;

	if (sql == NULL)
		return 0;
	for (i = 0; i < PROF_MAX && prof[i].sql != NULL; i++)
		if (strcmp(prof[i].sql, sql) == 0)
			break;
	if (i == PROF_MAX)
		return 0;
	if (prof[i].sql == NULL && (prof[i].sql = strdup(sql)) == NULL)
		return 0;
	prof[i].calls++;
	prof[i].ns += *(const sqlite3_int64 *)x;
	return 0;
}

static void
prof_report(double run_s)
{
	int i;

	for (i = 0; i < PROF_MAX && prof[i].sql != NULL; i++) {
		if (prof[i].ns < 1000000)
			continue;
		printf("sql_ms=%.0f calls=%ld us_per_call=%.1f share=%.0f%% "
		    "sql=%.90s\n", (double)prof[i].ns / 1e6, prof[i].calls,
		    (double)prof[i].ns / 1e3 / (double)prof[i].calls,
		    run_s > 0 ? (double)prof[i].ns / 1e7 / run_s : 0,
		    prof[i].sql);
	}
}

/* Figures read back from the store, key=value. */
static void
drive_report(struct store *s, double enq_s, double run_s, long added)
{
	sqlite3_stmt *st;
	int64_t *lat = NULL;
	size_t n = 0, cap = 0;
	long long delivered;

	delivered = q_int(s, "SELECT COUNT(*) FROM webhook_delivery WHERE "
	    "state = 'delivered'");
	printf("enqueued=%ld\n", added);
	printf("enqueue_s=%.3f\n", enq_s);
	printf("enqueue_per_s=%.0f\n", enq_s > 0 ? (double)added / enq_s : 0);
	printf("run_s=%.3f\n", run_s);
	printf("events=%lld\n", q_int(s, "SELECT COUNT(*) FROM webhook_queue"));
	printf("delivered=%lld\n", delivered);
	printf("dead=%lld\n", q_int(s, "SELECT COUNT(*) FROM webhook_delivery "
	    "WHERE state = 'dead'"));
	printf("pending=%lld\n", q_int(s, "SELECT COUNT(*) FROM "
	    "webhook_delivery WHERE state = 'pending'"));
	printf("attempts=%lld\n", q_int(s, "SELECT COALESCE(SUM(attempts), 0) "
	    "FROM webhook_delivery"));
	/* created (enqueue) -> recorded delivered, ms, from the store */
	if (sqlite3_prepare_v2(store_db(s), "SELECT d.updated_at - "
	    "q.created_at FROM webhook_delivery d JOIN webhook_queue q ON "
	    "q.id = d.event_row WHERE d.state = 'delivered'", -1, &st, NULL)
	    == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				lat = realloc(lat, cap * sizeof(*lat));
				if (lat == NULL)
					abort();
			}
			lat[n++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
	}
	qsort(lat, n, sizeof(*lat), cmp_i64);
	printf("store_latency_ms_p50=%lld\n", (long long)pct(lat, n, 0.50));
	printf("store_latency_ms_p99=%lld\n", (long long)pct(lat, n, 0.99));
	printf("store_latency_ms_max=%lld\n", (long long)pct(lat, n, 1.0));
	free(lat);
	fflush(stdout);
}

static int
drive_main(int argc, char **argv)
{
	zmq_pollitem_t items[64];
	struct store *s;
	int64_t t0, t_enq0, t_enq1 = 0, next_slot, next_check = 0;
	long next, end, added = 0, to;
	long t;
	size_t ni;
	int c, k;

	d.batch = 1;
	d.n = 1000;
	d.run = "r";
	while ((c = getopt(argc, argv, "d:u:s:n:f:b:r:ExPSR:t:a:B:M:")) != -1) {
		switch (c) {
		case 'd': d.dir = optarg; break;
		case 'u': d.url = optarg; break;
		case 's': d.secret = optarg; break;
		case 'n': d.n = num(optarg, "-n"); break;
		case 'f': d.first = num(optarg, "-f"); break;
		case 'b': d.batch = num(optarg, "-b"); break;
		case 'r': d.rate = num(optarg, "-r"); break;
		case 'E': d.all_first = 1; break;
		case 'x': d.exit_drained = 1; break;
		case 'P': d.progress = 1; break;
		case 'S': d.profile = 1; break;
		case 'R': d.run = optarg; break;
		case 't': d.opts.timeout_ms = num(optarg, "-t"); break;
		case 'a': d.opts.max_attempts = (int)num(optarg, "-a"); break;
		case 'B': d.opts.backoff_ms = num(optarg, "-B"); break;
		case 'M': d.opts.backoff_max_ms = num(optarg, "-M"); break;
		default:
			fprintf(stderr, "usage: webhooks-drive drive -d DIR -u URL "
			    "[-s SECRET] [-n N] [-f FIRST] [-b BATCH] [-r RATE] "
			    "[-E] [-x] [-P] [-S] [-R RUN] [-t MS] [-a N] [-B MS] "
			    "[-M MS]\n");
			return 2;
		}
	}
	if (d.dir == NULL || d.url == NULL || d.batch < 1) {
		fprintf(stderr, "webhooks-drive drive: -d and -u are needed\n");
		return 2;
	}
	/* defaults that do not depend on a gateway config file */
	if (d.opts.timeout_ms == 0)
		d.opts.timeout_ms = 10000;
	if (d.opts.max_attempts == 0)
		d.opts.max_attempts = 8;
	if ((s = store_open(d.dir)) == NULL) {
		fprintf(stderr, "webhooks-drive: cannot open the store\n");
		return 1;
	}
	if (msghook_set_target(d.url, d.secret) == -1 ||
	    msghook_init(s, &d.opts) == -1) {
		fprintf(stderr, "webhooks-drive: msghook set-up failed\n");
		return 1;
	}
	if (d.profile)
		sqlite3_trace_v2(store_db(s), SQLITE_TRACE_PROFILE, prof_cb,
		    NULL);
	next = d.first;
	end = d.first + d.n;
	t_enq0 = mono_ns();
	if (d.all_first) {
		for (; next < end; next = to) {
			to = next + d.batch < end ? next + d.batch : end;
			if (drive_enqueue(s, next, to, &added) == -1)
				return 1;
		}
		t_enq1 = mono_ns();
	}
	t0 = mono_ns();
	next_slot = t0;
	for (;;) {
		/* what is due (as messages read in one round by waproc),
		 * BATCH per transaction, at most 64 transactions a round */
		for (k = 0; k < 64 && next < end && (d.rate == 0 ||
		    mono_ns() >= next_slot); k++) {
			to = next + d.batch < end ? next + d.batch : end;
			if (drive_enqueue(s, next, to, &added) == -1)
				return 1;
			next_slot += (to - next) * (d.rate > 0 ?
			    1000000000LL / d.rate : 0);
			next = to;
			if (next == end)
				t_enq1 = mono_ns();
			if (d.rate == 0)
				break;
		}
		ni = msghook_pollfds(items, 64);
		t = msghook_timeout_ms();
		if (next < end) {
			long w = d.rate == 0 ? 0 :
			    (long)((next_slot - mono_ns()) / 1000000);

			if (w < 0)
				w = 0;
			if (t < 0 || w < t)
				t = w;
		} else if (d.exit_drained && msghook_active() == 0 &&
		    (t < 0 || mono_ns() >= next_check)) {
			/* nothing to do for msghook (or curl keeps a timer
			 * for its idle connections: once a second) */
			if (q_int(s, "SELECT COUNT(*) FROM webhook_delivery "
			    "WHERE state = 'pending'") == 0)
				break;
			next_check = mono_ns() + 1000000000;
		}
		/* msghook's own timeout, never shortened (that would hide
		 * its stalls), at most 1 s as in waproc's loop */
		if (t < 0 || t > 1000)
			t = 1000;
		if (zmq_poll(items, (int)ni, t) == -1 && errno != EINTR) {
			fprintf(stderr, "webhooks-drive: zmq_poll: %s\n",
			    zmq_strerror(errno));
			return 1;
		}
		msghook_service(items, ni);
	}
	if (d.profile)
		sqlite3_trace_v2(store_db(s), 0, NULL, NULL);
	drive_report(s, (double)(t_enq1 - t_enq0) / 1e9,
	    (double)(mono_ns() - t0) / 1e9, added);
	if (d.profile)
		prof_report((double)(mono_ns() - t_enq0) / 1e9);
	msghook_cleanup();
	store_close(s);
	return 0;
}

/* ------------------------------------------------------------ rx */

#define RX_BUF		(256 * 1024)
#define RX_CONNS	1024
#define RX_ID_LEN	HOOK_EVENT_ID_LEN

struct rx_conn {
	int	 fd;
	size_t	 len;
	char	*buf;
};

static struct {
	const char	*secret;
	long		 expected;
	long		 requests, dups, badsig, nosig, badid, conns, errs;
	long		 distinct;
	char		(*ids)[RX_ID_LEN + 1];
	size_t		 idcap;
	int64_t		*lat;
	size_t		 nlat, latcap;
	int64_t		 first_ns, last_ns;
} rx;

static volatile sig_atomic_t rx_stop;

static void
rx_onsig(int sig)
{
	rx_stop = 1;
}

/* 1 new, 0 seen before. */
static int
rx_id_add(const char *id)
{
	uint32_t h = 2166136261u;
	size_t i;
	const char *p;

	for (p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (i = h & (rx.idcap - 1);; i = (i + 1) & (rx.idcap - 1)) {
		if (rx.ids[i][0] == '\0') {
			snprintf(rx.ids[i], sizeof(rx.ids[i]), "%s", id);
			rx.distinct++;
			return 1;
		}
		if (strcmp(rx.ids[i], id) == 0)
			return 0;
	}
}

static int
rx_hdr(const char *head, size_t hlen, const char *name, char *out,
    size_t sz)
{
	const char *p = head, *e = head + hlen;
	size_t n = strlen(name), l;

	out[0] = '\0';
	while (p < e && (p = memmem(p, (size_t)(e - p), "\r\n", 2)) != NULL) {
		p += 2;
		if ((size_t)(e - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
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
rx_request(const char *head, size_t hlen, const char *body, size_t blen)
{
	char id[128], sig[128], want[80], bid[RX_ID_LEN + 1];
	const char *p;
	int64_t now = mono_ns();
	long long enq;

	rx.requests++;
	if (rx.first_ns == 0)
		rx.first_ns = now;
	rx.last_ns = now;
	rx_hdr(head, hlen, "X-Webhook-Id", id, sizeof(id));
	if (rx_hdr(head, hlen, "X-Hub-Signature-256", sig, sizeof(sig)) == 0)
		rx.nosig++;
	else if (hook_signature(rx.secret, body, blen, want,
	    sizeof(want)) != 1 || sodium_memcmp(want, sig, strlen(want) + 1)
	    != 0)
		rx.badsig++;
	/* the body's event_id must be the header's */
	bid[0] = '\0';
	if ((p = memmem(body, blen, "\"event_id\":\"", 12)) != NULL &&
	    (size_t)(body + blen - p) > 12 + RX_ID_LEN) {
		memcpy(bid, p + 12, RX_ID_LEN);
		bid[RX_ID_LEN] = '\0';
	}
	if (id[0] == '\0' || strcmp(id, bid) != 0)
		rx.badid++;
	if (id[0] == '\0' || strlen(id) > RX_ID_LEN ||
	    (size_t)rx.distinct * 2 >= rx.idcap) {
		rx.dups++;
		return;
	}
	if (!rx_id_add(id)) {
		rx.dups++;
		return;
	}
	if ((p = memmem(body, blen, "\"enq_ns\":", 9)) != NULL &&
	    sscanf(p + 9, "%lld", &enq) == 1) {
		if (rx.nlat == rx.latcap) {
			rx.latcap = rx.latcap ? rx.latcap * 2 : 4096;
			rx.lat = realloc(rx.lat, rx.latcap * sizeof(*rx.lat));
			if (rx.lat == NULL)
				abort();
		}
		rx.lat[rx.nlat++] = now - enq;
	}
}

/* Parse and answer every complete request in c->buf; -1 to close. */
static int
rx_drain(struct rx_conn *c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: keep-alive\r\n\r\n";
	char cl[32], *he;
	size_t hlen, blen, off = 0, nok = 0;
	char out[sizeof(ok) * 64];
	ssize_t w;

	for (;;) {
		he = memmem(c->buf + off, c->len - off, "\r\n\r\n", 4);
		if (he == NULL)
			break;
		hlen = (size_t)(he - (c->buf + off)) + 4;
		blen = 0;
		if (rx_hdr(c->buf + off, hlen, "Content-Length", cl,
		    sizeof(cl)))
			blen = strtoul(cl, NULL, 10);
		if (hlen + blen > RX_BUF)
			return -1;
		if (c->len - off < hlen + blen)
			break;
		rx_request(c->buf + off, hlen, c->buf + off + hlen, blen);
		off += hlen + blen;
		if (nok < 64)
			memcpy(out + nok++ * (sizeof(ok) - 1), ok,
			    sizeof(ok) - 1);
	}
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	}
	if (nok > 0) {
		w = write(c->fd, out, nok * (sizeof(ok) - 1));
		if (w != (ssize_t)(nok * (sizeof(ok) - 1))) {
			rx.errs++;
			return -1;
		}
	}
	return 0;
}

static void
rx_report(void)
{
	double secs = (double)(rx.last_ns - rx.first_ns) / 1e9;

	qsort(rx.lat, rx.nlat, sizeof(*rx.lat), cmp_i64);
	printf("rx_requests=%ld\n", rx.requests);
	printf("rx_distinct=%ld\n", rx.distinct);
	printf("rx_duplicates=%ld\n", rx.dups);
	printf("rx_bad_signature=%ld\n", rx.badsig);
	printf("rx_no_signature=%ld\n", rx.nosig);
	printf("rx_id_mismatch=%ld\n", rx.badid);
	printf("rx_connections=%ld\n", rx.conns);
	printf("rx_errors=%ld\n", rx.errs);
	printf("rx_span_s=%.3f\n", secs);
	printf("rx_per_s=%.0f\n", secs > 0 ? (double)rx.requests / secs : 0);
	printf("rx_latency_ms_p50=%.2f\n", (double)pct(rx.lat, rx.nlat, .5) /
	    1e6);
	printf("rx_latency_ms_p90=%.2f\n", (double)pct(rx.lat, rx.nlat, .9) /
	    1e6);
	printf("rx_latency_ms_p99=%.2f\n", (double)pct(rx.lat, rx.nlat, .99) /
	    1e6);
	printf("rx_latency_ms_max=%.2f\n", (double)pct(rx.lat, rx.nlat, 1.) /
	    1e6);
	fflush(stdout);
}

static int
rx_main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct epoll_event ev, evs[64];
	struct rx_conn *c;
	const char *portfile = NULL;
	socklen_t sl = sizeof(sa);
	long port = 0;
	int lfd, ep, fd, one = 1, i, n, opt;
	ssize_t r;
	FILE *f;

	while ((opt = getopt(argc, argv, "p:s:n:o:")) != -1) {
		switch (opt) {
		case 'p': port = num(optarg, "-p"); break;
		case 's': rx.secret = optarg; break;
		case 'n': rx.expected = num(optarg, "-n"); break;
		case 'o': portfile = optarg; break;
		default:
			fprintf(stderr, "usage: webhooks-drive rx [-p PORT] "
			    "[-s SECRET] [-n EXPECTED] [-o PORTFILE]\n");
			return 2;
		}
	}
	for (rx.idcap = 4096; rx.idcap < (size_t)rx.expected * 4;)
		rx.idcap *= 2;
	if ((rx.ids = calloc(rx.idcap, sizeof(*rx.ids))) == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, rx_onsig);
	signal(SIGINT, rx_onsig);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 512) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) == -1) {
		perror("webhooks-drive rx: bind");
		return 1;
	}
	if (portfile != NULL) {
		if ((f = fopen(portfile, "w")) == NULL)
			return 1;
		fprintf(f, "%d\n", ntohs(sa.sin_port));
		fclose(f);
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!rx_stop && (rx.expected == 0 || rx.distinct < rx.expected)) {
		n = epoll_wait(ep, evs, 64, 500);
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (c == NULL) {
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) != -1) {
					if (fd >= RX_CONNS) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					c->buf = malloc(RX_BUF);
					c->fd = fd;
					rx.conns++;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(c->fd, c->buf + c->len, RX_BUF - c->len);
			if (r > 0) {
				c->len += (size_t)r;
				if (rx_drain(c) == 0)
					continue;
			} else if (r == -1 && (errno == EAGAIN ||
			    errno == EINTR))
				continue;
			close(c->fd);
			free(c->buf);
			free(c);
		}
	}
	rx_report();
	return 0;
}

int
main(int argc, char **argv)
{
	if (sodium_init() == -1)
		return 1;
	log_init("webhooks-drive", LOG_LVL_WARN);
	if (argc >= 2 && strcmp(argv[1], "drive") == 0)
		return drive_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rx") == 0)
		return rx_main(argc - 1, argv + 1);
	fprintf(stderr, "usage: webhooks-drive drive|rx ...\n");
	return 2;
}
