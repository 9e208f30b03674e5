/*
 * test_webhook.c - message webhooks (waproc/msghook.c + store-msg.c) with a
 * real store.db in a temp dir and real HTTP to receivers in this process
 * (hookrx.h): signature, no signature without a secret, retries with the
 * same X-Webhook-Id, dead-letter, a comma list, a live URL change, and a
 * crash in the middle of a delivery.  Small timeouts and backoff through
 * msghook_opts; nothing asserts on wall-clock speed (the waits below are
 * only upper bounds so a broken build does not hang).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <sqlite3.h>
#include <zmq.h>

#include "t.h"
#include "hookrx.h"
#include "lazycurl.h"
#include "log.h"
#include "msghook.h"
#include "store.h"
#include "store-msg.h"

static char tmpdir[] = "/tmp/test_webhook.XXXXXX";
static int ndir;

static struct store *
open_fresh(char *dir, size_t sz)
{
	snprintf(dir, sz, "%s/d%d", tmpdir, ndir++);
	return store_open(dir);
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the poll loop until cond() or an upper bound (10 s) passes. */
static int
pump(int (*cond)(void *), void *arg, long long bound_ms)
{
	zmq_pollitem_t items[32];
	long long end = mono_ms() + bound_ms;
	size_t n;
	long t;

	while (mono_ms() < end) {
		n = msghook_pollfds(items, 32);
		t = msghook_timeout_ms();
		if (t < 0 || t > 10)
			t = 10;
		if (n == 0)
			usleep((useconds_t)t * 1000);
		else if (zmq_poll(items, (int)n, t) == -1 && errno != EINTR)
			return 0;
		msghook_service(items, n);
		if (cond != NULL && cond(arg))
			return 1;
	}
	return cond == NULL;
}

struct want {
	struct rx	*rx;
	int		 n;
	struct store	*s;
};

static int
got_n(void *arg)
{
	struct want *w = arg;

	return rx_count(w->rx) >= w->n;
}

static int
queue_done(void *arg)
{
	struct want *w = arg;

	return q_int(w->s, "SELECT COUNT(*) FROM webhook_queue WHERE state = "
	    "'pending'", NULL) == 0 && msghook_active() == 0;
}

static int
enqueue(struct store *s, const char *event_id, const char *json)
{
	int rc;

	if (store_begin(s) == -1)
		return -1;
	rc = msghook_enqueue(s, "message", event_id, json);
	if (store_commit(s) == -1)
		return -1;
	return rc;
}

static struct msghook_opts fast = { 2000, 3, 5, 20 };

/* Whether a libcurl is mapped into this process. */
static int
libcurl_mapped(void)
{
	char line[512];
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "/libcurl") != NULL)
			found = 1;
	fclose(f);
	return found;
}

/*
 * libcurl is loaded by the first delivery, not before (lazycurl.c): an
 * idle waproc without webhooks never maps it.  Runs first, before any
 * other test has delivered anything.
 */
static void
test_lazy_libcurl(void)
{
	static const char body[] = "{\"event\":\"message\",\"event_id\":"
	    "\"feedfacefeedfacefeedfacefeedface\"}";
	char dir[256];
	struct store *s;
	struct rx rx;
	struct want w;

	T_EQ_INT(libcurl_mapped(), 0, "no libcurl in the process at start");
	T_OK(rx_start(&rx, 200) == 0, "receiver up");
	s = open_fresh(dir, sizeof(dir));
	T_OK(s != NULL, "store opened");
	T_EQ_INT(msghook_set_target(rx.url, NULL), 0, "target set");
	T_EQ_INT(msghook_init(s, &fast), 0, "init");
	T_OK(pump(NULL, NULL, 100), "a few idle passes");
	T_EQ_INT(lazycurl_loaded(), 0, "init and idle passes: not loaded");
	T_EQ_INT(libcurl_mapped(), 0, "init and idle passes: not mapped");
	T_EQ_INT(enqueue(s, "feedfacefeedfacefeedfacefeedface", body), 0,
	    "enqueued");
	w.rx = &rx;
	w.n = 1;
	w.s = s;
	T_OK(pump(got_n, &w, 10000), "delivered to the receiver");
	T_EQ_INT(lazycurl_loaded(), 1, "the delivery loaded libcurl");
	T_EQ_INT(libcurl_mapped(), 1, "libcurl mapped now");
	T_OK(pump(queue_done, &w, 10000), "queue drained");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

static void
test_signature(void)
{
	static const char body[] = "{\"event\":\"message\",\"event_id\":"
	    "\"0123456789abcdef0123456789abcdef\",\"message\":{\"text\":\"hi\"}}";
	unsigned char mac[32];
	unsigned int maclen = 0;
	char want[80], dir[256];
	struct store *s;
	struct rx rx;
	struct want w;
	size_t i;

	T_OK(rx_start(&rx, 200) == 0, "receiver up");
	s = open_fresh(dir, sizeof(dir));
	T_OK(s != NULL, "store opened");
	T_EQ_INT(msghook_set_target(rx.url, "s3cr3t"), 0, "target set");
	T_EQ_INT(msghook_init(s, &fast), 0, "init");
	T_EQ_INT(enqueue(s, "0123456789abcdef0123456789abcdef", body), 0,
	    "enqueued");
	T_EQ_INT(enqueue(s, "0123456789abcdef0123456789abcdef", body), 1,
	    "same event_id again: not queued twice");
	w.rx = &rx;
	w.n = 1;
	w.s = s;
	T_OK(pump(got_n, &w, 10000), "delivered to the receiver");
	T_OK(pump(queue_done, &w, 10000), "queue drained");
	T_EQ_INT(rx_count(&rx), 1, "one request");
	T_EQ_STR(rx.req[0].body, body, "body as queued");
	T_EQ_STR(rx.req[0].id, "0123456789abcdef0123456789abcdef",
	    "X-Webhook-Id is the event id");
	T_EQ_STR(rx.req[0].ctype, "application/json", "Content-Type");
	T_OK(strtoll(rx.req[0].ts, NULL, 10) > 1600000000,
	    "X-Webhook-Timestamp in unix seconds");
	HMAC(EVP_sha256(), "s3cr3t", 6, (const unsigned char *)body,
	    strlen(body), mac, &maclen);
	memcpy(want, "sha256=", 7);
	for (i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	T_OK(rx.req[0].has_sig, "signature header present");
	T_EQ_STR(rx.req[0].sig, want, "X-Hub-Signature-256 = HMAC-SHA256");
	T_EQ_STR(q_str(s, "SELECT state FROM webhook_queue", NULL),
	    "delivered", "event row delivered");
	T_EQ_STR(q_str(s, "SELECT state FROM webhook_delivery WHERE url = ?",
	    rx.url), "delivered", "URL row delivered");
	T_EQ_INT(store_wh_prune(s, 0), 0, "prune: nothing that old");
	T_EQ_INT(store_wh_prune(s, INT64_MAX), 1, "prune: the closed event");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM webhook_delivery", NULL), 0,
	    "prune: its delivery rows too");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

static void
test_no_secret(void)
{
	char dir[256];
	struct store *s;
	struct rx rx;
	struct want w;

	T_OK(rx_start(&rx, 204) == 0, "receiver up");
	s = open_fresh(dir, sizeof(dir));
	msghook_set_target(rx.url, "");
	msghook_init(s, &fast);
	T_EQ_INT(enqueue(s, "aa", "{\"a\":1}"), 0, "enqueued");
	w.rx = &rx;
	w.n = 1;
	w.s = s;
	T_OK(pump(got_n, &w, 10000) && pump(queue_done, &w, 10000),
	    "delivered");
	T_OK(!rx.req[0].has_sig, "no X-Hub-Signature-256 without a secret");
	T_EQ_STR(rx.req[0].id, "aa", "X-Webhook-Id");
	msghook_set_target(rx.url, NULL);
	T_EQ_INT(enqueue(s, "bb", "{\"b\":1}"), 0, "enqueued");
	w.n = 2;
	T_OK(pump(got_n, &w, 10000), "delivered");
	T_OK(!rx.req[1].has_sig, "nor with a NULL secret");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

static void
test_retry_same_id(void)
{
	static const int codes[] = { 500, 503, 200 };
	char dir[256];
	struct store *s;
	struct rx rx;
	struct want w;
	int i;

	T_OK(rx_start(&rx, 200) == 0, "receiver up");
	rx_codes(&rx, codes, 3, 200);
	s = open_fresh(dir, sizeof(dir));
	msghook_set_target(rx.url, "k");
	msghook_init(s, &fast);
	T_EQ_INT(enqueue(s, "ev-retry", "{\"r\":1}"), 0, "enqueued");
	w.rx = &rx;
	w.n = 3;
	w.s = s;
	T_OK(pump(got_n, &w, 10000) && pump(queue_done, &w, 10000),
	    "delivered on the third attempt");
	T_EQ_INT(rx_count(&rx), 3, "three requests");
	for (i = 0; i < 3 && i < rx_count(&rx); i++) {
		T_EQ_STR(rx.req[i].id, "ev-retry", "same X-Webhook-Id");
		T_EQ_STR(rx.req[i].sig, rx.req[0].sig, "same signature");
	}
	T_EQ_INT(q_int(s, "SELECT attempts FROM webhook_delivery", NULL), 3,
	    "three attempts recorded");
	T_EQ_STR(q_str(s, "SELECT state FROM webhook_queue", NULL),
	    "delivered", "delivered");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

static void
test_dead_letter(void)
{
	char dir[256];
	struct store *s;
	struct rx rx;
	struct want w;

	T_OK(rx_start(&rx, 500) == 0, "receiver up");
	s = open_fresh(dir, sizeof(dir));
	msghook_set_target(rx.url, NULL);
	msghook_init(s, &fast);
	T_EQ_INT(enqueue(s, "ev-dead", "{}"), 0, "enqueued");
	w.rx = &rx;
	w.n = 3;
	w.s = s;
	T_OK(pump(got_n, &w, 10000) && pump(queue_done, &w, 10000),
	    "three attempts");
	pump(NULL, NULL, 100);		/* anything more would show now */
	T_EQ_INT(rx_count(&rx), 3, "no attempt past max_attempts");
	T_EQ_STR(q_str(s, "SELECT state FROM webhook_delivery", NULL), "dead",
	    "URL dead");
	T_EQ_STR(q_str(s, "SELECT state FROM webhook_queue", NULL), "dead",
	    "event dead");
	T_EQ_STR(q_str(s, "SELECT last_error FROM webhook_delivery", NULL),
	    "HTTP 500", "last error kept");
	T_EQ_INT(msghook_timeout_ms(), -1, "nothing left to do");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

static void
test_comma_list(void)
{
	static const int codes[] = { 500 };
	char dir[256], list[200];
	struct store *s;
	struct rx a, b;
	struct want w;

	T_OK(rx_start(&a, 200) == 0 && rx_start(&b, 200) == 0,
	    "receivers up");
	rx_codes(&b, codes, 1, 200);
	s = open_fresh(dir, sizeof(dir));
	snprintf(list, sizeof(list), " %s , %s,%s", a.url, b.url, a.url);
	T_EQ_INT(msghook_set_target(list, "x"), 0, "list accepted");
	msghook_init(s, &fast);
	T_EQ_INT(enqueue(s, "ev-two", "{\"two\":1}"), 0, "enqueued");
	w.s = s;
	T_OK(pump(queue_done, &w, 10000), "done");
	T_EQ_INT(rx_count(&a), 1, "first URL: one request (duplicates "
	    "in the list collapse)");
	T_EQ_INT(rx_count(&b), 2, "second URL: retried after its 500");
	T_EQ_STR(a.req[0].id, "ev-two", "first got the event id");
	T_EQ_STR(b.req[1].id, "ev-two", "second got the same event id");
	T_EQ_INT(q_int(s, "SELECT attempts FROM webhook_delivery WHERE url = ?",
	    a.url), 1, "attempts tracked per URL (first)");
	T_EQ_INT(q_int(s, "SELECT attempts FROM webhook_delivery WHERE url = ?",
	    b.url), 2, "attempts tracked per URL (second)");
	T_EQ_INT(msghook_set_target("http://ok, ftp://no", NULL), -1,
	    "a non-http URL refuses the list");
	msghook_cleanup();
	store_close(s);
	rx_stop(&a);
	rx_stop(&b);
}

static void
test_url_change_live(void)
{
	struct msghook_opts slow = { 2000, 5, 60000, 60000 };
	char dir[256];
	struct store *s;
	struct rx a, b;
	struct want w;

	T_OK(rx_start(&a, 500) == 0 && rx_start(&b, 200) == 0,
	    "receivers up");
	s = open_fresh(dir, sizeof(dir));
	msghook_set_target(a.url, NULL);
	msghook_init(s, &slow);
	T_EQ_INT(enqueue(s, "ev-move", "{\"m\":1}"), 0, "enqueued");
	w.rx = &a;
	w.n = 1;
	w.s = s;
	T_OK(pump(got_n, &w, 10000), "old URL tried (500, retry in a minute)");
	pump(NULL, NULL, 50);
	T_EQ_INT(msghook_set_target(b.url, "new"), 0, "URL changed live");
	T_EQ_INT(enqueue(s, "ev-after", "{\"m\":2}"), 0, "enqueued after");
	w.rx = &b;
	w.n = 2;
	T_OK(pump(got_n, &w, 10000) && pump(queue_done, &w, 10000),
	    "both events reach the new URL without waiting for the backoff");
	T_EQ_INT(rx_count(&a), 1, "old URL not used again");
	T_OK(b.nreq == 2 && b.req[0].has_sig && b.req[1].has_sig,
	    "new secret applied");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM webhook_delivery WHERE url = ?",
	    a.url), 0, "pending delivery to the old URL dropped");
	msghook_cleanup();
	store_close(s);
	rx_stop(&a);
	rx_stop(&b);
}

static void
test_crash_resume(void)
{
	static const int codes[] = { 0 };	/* first request: hang */
	char dir[256], id[16];
	struct store *s;
	struct rx rx;
	struct want w;
	int i, n0, seen[5] = { 0 };

	T_OK(rx_start(&rx, 200) == 0, "receiver up");
	rx_codes(&rx, codes, 1, 200);
	s = open_fresh(dir, sizeof(dir));
	msghook_set_target(rx.url, "c");
	msghook_init(s, &fast);
	T_EQ_INT(enqueue(s, "ev-0", "{\"n\":0}"), 0, "first enqueued");
	w.rx = &rx;
	w.n = 1;
	w.s = s;
	T_OK(pump(got_n, &w, 10000), "first in flight (receiver hangs)");
	for (i = 1; i < 5; i++) {
		snprintf(id, sizeof(id), "ev-%d", i);
		enqueue(s, id, "{\"n\":1}");
	}
	T_OK(msghook_active() >= 1, "in flight when the process dies");
	/* "kill": transfers dropped, store closed without a result */
	msghook_cleanup();
	store_close(s);
	n0 = rx_count(&rx);

	s = store_open(dir);
	T_OK(s != NULL, "store reopened");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM webhook_queue WHERE state = "
	    "'pending'", NULL) >= 1, 1, "the event in flight is still pending");
	msghook_set_target(rx.url, "c");
	msghook_init(s, &fast);
	w.s = s;
	T_OK(pump(queue_done, &w, 10000), "resumed and drained");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM webhook_queue WHERE state = "
	    "'delivered'", NULL), 5, "all five delivered, none lost");
	for (i = 0; i < rx_count(&rx); i++)
		if (strncmp(rx.req[i].id, "ev-", 3) == 0 &&
		    rx.req[i].id[3] >= '0' && rx.req[i].id[3] <= '4')
			seen[rx.req[i].id[3] - '0']++;
	T_EQ_INT(seen[0], 2, "the event in flight came again (same id)");
	for (i = 1; i < 5; i++)
		T_OK(seen[i] >= 1, "event %d received", i);
	T_OK(rx_count(&rx) > n0, "delivered after the restart");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

/* A receiver that accepts and never answers holds only its share of
 * the transfer slots: the other URL of the list gets everything. */
static void
test_hung_url_shares(void)
{
	struct msghook_opts o = { 5000, 3, 5, 20 };
	char dir[256], list[200], id[32];
	struct store *s;
	struct rx hung, ok;
	struct want w;
	int i;

	T_OK(rx_start(&hung, 0) == 0 && rx_start(&ok, 200) == 0,
	    "receivers up (one never answers)");
	s = open_fresh(dir, sizeof(dir));
	snprintf(list, sizeof(list), "%s,%s", hung.url, ok.url);
	T_EQ_INT(msghook_set_target(list, NULL), 0, "two URLs");
	msghook_init(s, &o);
	for (i = 0; i < 40; i++) {
		snprintf(id, sizeof(id), "ev-share-%d", i);
		(void)enqueue(s, id, "{}");
	}
	w.rx = &ok;
	w.n = 40;
	w.s = s;
	T_OK(pump(got_n, &w, 4000), "all 40 events reach the healthy URL "
	    "while the other holds its attempts");
	T_EQ_INT(rx_count(&ok), 40, "healthy URL: 40 requests");
	msghook_cleanup();
	store_close(s);
	rx_stop(&ok);
	rx_stop(&hung);
}

static void
test_timeout(void)
{
	static const int codes[] = { 0 };	/* first request: no answer */
	struct msghook_opts o = { 200, 3, 5, 20 };
	char dir[256];
	struct store *s;
	struct rx rx;
	struct want w;

	T_OK(rx_start(&rx, 200) == 0, "receiver up");
	rx_codes(&rx, codes, 1, 200);
	s = open_fresh(dir, sizeof(dir));
	msghook_set_target(rx.url, NULL);
	msghook_init(s, &o);
	T_EQ_INT(enqueue(s, "ev-slow", "{}"), 0, "enqueued");
	w.rx = &rx;
	w.n = 2;
	w.s = s;
	T_OK(pump(got_n, &w, 10000) && pump(queue_done, &w, 10000),
	    "a hung attempt times out and is retried");
	T_EQ_STR(rx.req[1].id, "ev-slow", "same X-Webhook-Id");
	T_EQ_INT(q_int(s, "SELECT attempts FROM webhook_delivery", NULL), 2,
	    "two attempts");
	T_EQ_STR(q_str(s, "SELECT state FROM webhook_queue", NULL),
	    "delivered", "delivered");
	msghook_cleanup();
	store_close(s);
	rx_stop(&rx);
}

static void
test_backoff(void)
{
	long d;
	int a;

	for (a = 1; a <= 12; a++) {
		d = msghook_backoff_ms(a, 0xffffffffu, 1000, 300000);
		T_OK(d >= 0 && d <= 300000, "attempt %d within the cap", a);
	}
	T_OK(msghook_backoff_ms(3, 0, 1000, 300000) == 2000,
	    "low jitter: half of 4 s");
	T_OK(msghook_backoff_ms(3, 2000, 1000, 300000) == 4000,
	    "high jitter: 4 s");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test_webhook", LOG_LVL_ERROR);
	if (sodium_init() < 0 || mkdtemp(tmpdir) == NULL)
		return 1;
	T_RUN(test_lazy_libcurl);
	T_RUN(test_backoff);
	T_RUN(test_signature);
	T_RUN(test_no_secret);
	T_RUN(test_retry_same_id);
	T_RUN(test_dead_letter);
	T_RUN(test_comma_list);
	T_RUN(test_url_change_live);
	T_RUN(test_crash_resume);
	T_RUN(test_timeout);
	T_RUN(test_hung_url_shares);
	rx_rm_rf(tmpdir);
	return t_done();
}
