/*
 * msghook.c - durable message-webhook delivery (msghook.h).  The queue is
 * in store.db (store-msg.c has the SQL); this file holds the policy:
 * which URL gets what, signatures, backoff, dead-letter, and the libcurl
 * multi driven by socket/timer callbacks from waproc's poll loop.  No
 * blocking call, no payload or secret in a log line.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "config.h"
#include "hook-payload.h"
#include "log.h"
#include "store.h"
#include "store-msg.h"
#include "msghook.h"
#include "xmalloc.h"

#define WH_FDS_MAX	(MSGHOOK_ACTIVE_MAX * 2)
#define WH_URL_MAX	2048
#define WH_KEEP_MS	(7LL * 24 * 3600 * 1000)	/* closed events kept */
#define WH_PRUNE_EVERY	(3600LL * 1000)

struct wh_xfer {
	CURL			*easy;
	struct curl_slist	*hdrs;
	int64_t			 row;
	char			*url;
	char			*body;
	int			 attempts;	/* before this one */
	char			 err[CURL_ERROR_SIZE];
};

struct wh_fd {
	curl_socket_t	fd;
	int		what;		/* CURL_POLL_* */
};

static struct store	*wh_store;
static CURLM		*wh_multi;	/* made by the first delivery */
static int		 wh_ready;	/* between msghook_init and _cleanup */
static struct wh_xfer	 wh_x[MSGHOOK_ACTIVE_MAX];
static size_t		 wh_nactive;
static struct wh_fd	 wh_fds[WH_FDS_MAX];
static size_t		 wh_nfds;
static int64_t		 wh_timer = -1;		/* monotonic deadline, ms */
static int64_t		 wh_next_due = -1;	/* wall clock ms; 0 = now */
static struct msghook_opts wh_opts;
static char		*wh_urls[MSGHOOK_URLS_MAX];
static size_t		 wh_nurls;
static char		*wh_secret;
static int64_t		 wh_pruned;		/* monotonic ms */
static int		 wh_finished;	/* in wh_check_done: 1 a transfer
					 * ended, -1 its result not stored */

static int64_t
wh_clock(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wh_now(void)
{
	return wh_clock(CLOCK_REALTIME);
}

long
msghook_backoff_ms(int attempts, uint32_t rnd, long base, long cap)
{
	long d = base;
	int i;

	for (i = 1; i < attempts && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	/* "equal jitter": somewhere in [d/2, d] */
	return d / 2 + (long)(rnd % (uint32_t)(d / 2 + 1));
}

/* ---- target ---- */

static void
wh_target_free(void)
{
	size_t i;

	for (i = 0; i < wh_nurls; i++)
		free(wh_urls[i]);
	wh_nurls = 0;
	if (wh_secret != NULL) {
		sodium_memzero(wh_secret, strlen(wh_secret));
		free(wh_secret);
		wh_secret = NULL;
	}
}

/* Split "a, b,c" into trimmed URLs; -1 on a bad list. */
static int
wh_split(const char *list, char **out, size_t *n)
{
	const char *p = list, *e, *b;
	size_t len, i;

	*n = 0;
	while (p != NULL && *p != '\0') {
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		b = p;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		len = (size_t)(e - b);
		while (len > 0 && (b[len - 1] == ' ' || b[len - 1] == '\t'))
			len--;
		if (len > 0) {
			if (*n == MSGHOOK_URLS_MAX || len >= WH_URL_MAX ||
			    (strncasecmp(b, "http://", 7) != 0 &&
			    strncasecmp(b, "https://", 8) != 0))
				goto bad;
			for (i = 0; i < *n; i++)
				if (strlen(out[i]) == len &&
				    memcmp(out[i], b, len) == 0)
					break;
			if (i == *n)
				out[(*n)++] = xstrndup(b, len);
		}
		p = *e == ',' ? e + 1 : e;
	}
	return 0;
bad:
	for (i = 0; i < *n; i++)
		free(out[i]);
	*n = 0;
	return -1;
}

static int
wh_retarget(void)
{
	if (wh_store == NULL)
		return 0;
	if (store_begin(wh_store) == -1)
		return -1;
	if (store_wh_retarget(wh_store, (const char *const *)wh_urls, wh_nurls,
	    wh_now()) == -1) {
		store_rollback(wh_store);
		return -1;
	}
	if (store_commit(wh_store) == -1) {
		store_rollback(wh_store);
		return -1;
	}
	wh_next_due = 0;
	return 0;
}

int
msghook_set_target(const char *urls, const char *secret)
{
	char *nu[MSGHOOK_URLS_MAX];
	size_t n, i;

	if (wh_split(urls, nu, &n) == -1) {
		log_warnx("msghook: bad WEBHOOK_URL list, keeping the old one");
		return -1;
	}
	wh_target_free();
	for (i = 0; i < n; i++)
		wh_urls[i] = nu[i];
	wh_nurls = n;
	if (secret != NULL && *secret != '\0')
		wh_secret = xstrdup(secret);
	log_info("msghook: %zu message webhook URL(s), %s", wh_nurls,
	    wh_secret != NULL ? "signed" : "unsigned");
	return wh_retarget();
}

int
msghook_wanted(void)
{
	return wh_nurls > 0;
}

int
msghook_enqueue(struct store *s, const char *event, const char *event_id,
    const char *json)
{
	int rc;

	if (wh_nurls == 0)
		return 0;
	rc = store_wh_insert(s, event, event_id, json,
	    (const char *const *)wh_urls, wh_nurls, wh_now());
	if (rc == 0)
		wh_next_due = 0;
	return rc;
}

/* ---- curl callbacks ---- */

static int
wh_sockcb(CURL *e, curl_socket_t fd, int what, void *u, void *sp)
{
	size_t i;

	for (i = 0; i < wh_nfds; i++)
		if (wh_fds[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < wh_nfds)
			wh_fds[i] = wh_fds[--wh_nfds];
		return 0;
	}
	if (i == wh_nfds) {
		if (wh_nfds == WH_FDS_MAX) {
			log_warnx("msghook: too many sockets");
			return -1;
		}
		wh_nfds++;
	}
	wh_fds[i].fd = fd;
	wh_fds[i].what = what;
	return 0;
}

static int
wh_timercb(CURLM *m, long ms, void *u)
{
	wh_timer = ms < 0 ? -1 : wh_clock(CLOCK_MONOTONIC) + ms;
	return 0;
}

static size_t
wh_discard(char *p, size_t sz, size_t n, void *u)
{
	return sz * n;
}

/* ---- transfers ---- */

static void
wh_xfer_free(struct wh_xfer *x)
{
	if (x->easy != NULL) {
		curl_multi_remove_handle(wh_multi, x->easy);
		curl_easy_cleanup(x->easy);
		wh_nactive--;
	}
	curl_slist_free_all(x->hdrs);
	free(x->url);
	free(x->body);
	memset(x, 0, sizeof(*x));
}

/* Transfers running to url. */
static size_t
wh_url_active(const char *url)
{
	size_t i, n = 0;

	for (i = 0; i < MSGHOOK_ACTIVE_MAX; i++)
		if (wh_x[i].easy != NULL && strcmp(wh_x[i].url, url) == 0)
			n++;
	return n;
}

/*
 * The slots are shared fairly between the URLs of the list: a receiver
 * that accepts and never answers holds at most its share until the
 * attempts time out, never every slot.
 */
static size_t
wh_url_cap(void)
{
	size_t cap = MSGHOOK_ACTIVE_MAX / (wh_nurls > 0 ? wh_nurls : 1);

	return cap > 0 ? cap : 1;
}

static int
wh_in_flight(void *arg, int64_t row, const char *url)
{
	size_t i;

	for (i = 0; i < MSGHOOK_ACTIVE_MAX; i++)
		if (wh_x[i].easy != NULL && wh_x[i].row == row &&
		    strcmp(wh_x[i].url, url) == 0)
			return 1;
	return wh_url_active(url) >= wh_url_cap();
}

static void
wh_start(struct store_wh_due *d)
{
	struct wh_xfer *x = NULL;
	char hdr[160], sig[80];
	size_t i;

	for (i = 0; i < MSGHOOK_ACTIVE_MAX; i++)
		if (wh_x[i].easy == NULL && wh_x[i].url == NULL) {
			x = &wh_x[i];
			break;
		}
	if (x == NULL || d->payload == NULL || d->event_id == NULL)
		return;
	x->row = d->row;
	x->attempts = d->attempts;
	x->url = d->url;
	d->url = NULL;
	x->body = d->payload;
	d->payload = NULL;
	x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	x->hdrs = curl_slist_append(x->hdrs,
	    "User-Agent: WhatsApp-Gateway-Webhook/1.0");
	snprintf(hdr, sizeof(hdr), "X-Webhook-Id: %s", d->event_id);
	x->hdrs = curl_slist_append(x->hdrs, hdr);
	snprintf(hdr, sizeof(hdr), "X-Webhook-Event: %s",
	    d->event != NULL ? d->event : "");
	x->hdrs = curl_slist_append(x->hdrs, hdr);
	snprintf(hdr, sizeof(hdr), "X-Webhook-Timestamp: %lld",
	    (long long)(wh_now() / 1000));
	x->hdrs = curl_slist_append(x->hdrs, hdr);
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	if (hook_signature(wh_secret, x->body, strlen(x->body), sig,
	    sizeof(sig)) == 1) {
		snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: %s", sig);
		x->hdrs = curl_slist_append(x->hdrs, hdr);
	}
	if ((x->easy = curl_easy_init()) == NULL) {
		wh_xfer_free(x);
		return;
	}
	wh_nactive++;
	curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, wh_opts.timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    wh_opts.timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, wh_discard);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(wh_multi, x->easy) != CURLM_OK)
		wh_xfer_free(x);
}

static void
wh_finish(struct wh_xfer *x, CURLcode res)
{
	long code = 0;
	int64_t now = wh_now(), next = now;
	int attempts = x->attempts + 1;
	const char *state = "delivered";
	char err[CURL_ERROR_SIZE + 32];
	uint32_t rnd;

	err[0] = '\0';
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK || code < 200 || code > 299) {
		if (res != CURLE_OK)
			snprintf(err, sizeof(err), "%s", x->err[0] ? x->err :
			    curl_easy_strerror(res));
		else
			snprintf(err, sizeof(err), "HTTP %ld", code);
		if (attempts >= wh_opts.max_attempts) {
			state = "dead";
			log_warnx("msghook: event %lld dead after %d attempts: "
			    "%s", (long long)x->row, attempts, err);
		} else {
			state = "pending";
			randombytes_buf(&rnd, sizeof(rnd));
			next = now + msghook_backoff_ms(attempts, rnd,
			    wh_opts.backoff_ms, wh_opts.backoff_max_ms);
			log_debug("msghook: event %lld attempt %d: %s",
			    (long long)x->row, attempts, err);
		}
	}
	if (store_wh_result(wh_store, x->row, x->url, state, attempts, next,
	    (int)code, err[0] ? err : NULL, now) == -1) {
		log_warnx("msghook: cannot record the result of event %lld",
		    (long long)x->row);
		wh_finished = -1;
	} else if (wh_finished == 0)
		wh_finished = 1;
	wh_xfer_free(x);
}

static void
wh_check_done(void)
{
	struct wh_xfer *x;
	CURLMsg *m;
	int left, txn = 0;

	wh_finished = 0;
	if (wh_multi == NULL)
		return;
	while ((m = curl_multi_info_read(wh_multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		if (x == NULL)
			continue;
		/* The results of one round go in one transaction (one WAL
		 * commit rather than three per result).  Lost with it if
		 * the commit fails: the rows stay pending, sent again. */
		if (txn == 0)
			txn = store_begin(wh_store) == 0 ? 1 : -1;
		wh_finish(x, m->data.result);
	}
	if (txn == 1 && store_commit(wh_store) == -1) {
		store_rollback(wh_store);
		log_warnx("msghook: cannot record delivery results, they "
		    "will be sent again");
		wh_finished = -1;
	}
	/* A slot is free: look at the queue at once.  The store refused a
	 * result (that row is still due): not before a second, rather than
	 * send it again and again in a tight loop. */
	if (wh_finished != 0)
		wh_next_due = wh_finished > 0 ? 0 : wh_now() + 1000;
}

/*
 * The multi handle, made when the first delivery is due: a waproc without
 * webhooks never loads libcurl (lazycurl.c).  NULL if it cannot be.
 */
static CURLM *
wh_multi_get(void)
{
	if (wh_multi != NULL)
		return wh_multi;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_warnx("msghook: curl_global_init failed");
		return NULL;
	}
	if ((wh_multi = curl_multi_init()) == NULL) {
		log_warnx("msghook: curl_multi_init failed");
		curl_global_cleanup();
		return NULL;
	}
	curl_multi_setopt(wh_multi, CURLMOPT_SOCKETFUNCTION, wh_sockcb);
	curl_multi_setopt(wh_multi, CURLMOPT_TIMERFUNCTION, wh_timercb);
	return wh_multi;
}

/* Start what is due; work out when to look again. */
static void
wh_schedule(void)
{
	struct store_wh_due due[MSGHOOK_ACTIVE_MAX];
	int64_t now = wh_now(), at;
	int n, i, running;

	if (wh_next_due < 0 || now < wh_next_due)
		return;
	n = 0;
	if (wh_multi == NULL && store_wh_next_at(wh_store, &at) == 0 &&
	    at <= now && wh_multi_get() == NULL) {
		wh_next_due = now + 5000;	/* no libcurl: try later */
		return;
	}
	if (wh_multi != NULL && wh_nactive < MSGHOOK_ACTIVE_MAX &&
	    (n = store_wh_due(wh_store, now, due, MSGHOOK_ACTIVE_MAX -
	    wh_nactive, wh_in_flight, NULL)) > 0) {
		for (i = 0; i < n; i++) {
			/* the batch itself may bring a URL to its share */
			if (wh_url_active(due[i].url) < wh_url_cap())
				wh_start(&due[i]);
			store_wh_due_free(&due[i]);
		}
		curl_multi_socket_action(wh_multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
		wh_check_done();
		/* A transfer that ended in there (a fast receiver, a refused
		 * connection) freed a slot: wh_check_done has set when to
		 * look again (at once), not "in 250 ms" below. */
		if (wh_finished != 0)
			return;
	}
	switch (store_wh_next_at(wh_store, &at)) {
	case 0:
		/* Due but in flight (or no room): a completion kicks us;
		 * look again soon anyway. */
		wh_next_due = at > now ? at : now + 250;
		break;
	case 1:
		wh_next_due = -1;
		break;
	default:
		wh_next_due = now + 1000;
		break;
	}
}

int
msghook_init(struct store *s, const struct msghook_opts *opts)
{
	memset(&wh_opts, 0, sizeof(wh_opts));
	if (opts != NULL)
		wh_opts = *opts;
	if (wh_opts.timeout_ms <= 0)
		wh_opts.timeout_ms = config_get_int("WEBHOOK_TIMEOUT_MS");
	if (wh_opts.max_attempts <= 0)
		wh_opts.max_attempts =
		    (int)config_get_int("WEBHOOK_MAX_ATTEMPTS");
	if (wh_opts.timeout_ms <= 0)
		wh_opts.timeout_ms = 10000;
	if (wh_opts.max_attempts <= 0)
		wh_opts.max_attempts = 8;
	if (wh_opts.backoff_ms <= 0)
		wh_opts.backoff_ms = 1000;
	if (wh_opts.backoff_max_ms < wh_opts.backoff_ms)
		wh_opts.backoff_max_ms = wh_opts.backoff_ms > 300000 ?
		    wh_opts.backoff_ms : 300000;
	wh_store = s;
	wh_pruned = wh_clock(CLOCK_MONOTONIC);
	wh_nactive = 0;
	wh_nfds = 0;
	wh_timer = -1;
	/* The current list applies to what a previous run left pending;
	 * a row in flight when it died is pending too: sent again, with
	 * the same event id. */
	if (wh_retarget() == -1)
		log_warnx("msghook: cannot apply the URL list to the queue");
	wh_next_due = 0;
	wh_ready = 1;
	return 0;
}

void
msghook_cleanup(void)
{
	size_t i;

	if (!wh_ready)
		return;
	wh_ready = 0;
	for (i = 0; i < MSGHOOK_ACTIVE_MAX; i++)
		if (wh_x[i].easy != NULL || wh_x[i].url != NULL)
			wh_xfer_free(&wh_x[i]);
	wh_nactive = 0;
	wh_nfds = 0;
	if (wh_multi != NULL) {
		curl_multi_cleanup(wh_multi);
		wh_multi = NULL;
		curl_global_cleanup();
	}
	wh_store = NULL;
	wh_timer = -1;
	wh_next_due = -1;
}

/* ---- poll loop ---- */

size_t
msghook_pollfds(zmq_pollitem_t *items, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < wh_nfds && n < max; i++, n++) {
		memset(&items[n], 0, sizeof(items[n]));
		items[n].fd = wh_fds[i].fd;
		items[n].events = (short)(((wh_fds[i].what & CURL_POLL_IN) ?
		    ZMQ_POLLIN : 0) | ((wh_fds[i].what & CURL_POLL_OUT) ?
		    ZMQ_POLLOUT : 0));
	}
	return n;
}

long
msghook_timeout_ms(void)
{
	int64_t w = -1, d;

	if (!wh_ready)
		return -1;
	if (wh_timer >= 0) {
		d = wh_timer - wh_clock(CLOCK_MONOTONIC);
		w = d < 0 ? 0 : d;
	}
	if (wh_next_due >= 0) {
		d = wh_next_due - wh_now();
		if (d < 0)
			d = 0;
		if (w < 0 || d < w)
			w = d;
	}
	return (long)w;
}

void
msghook_service(const zmq_pollitem_t *items, size_t n)
{
	size_t i;
	int running, ev;

	if (!wh_ready)
		return;
	for (i = 0; i < n && wh_multi != NULL; i++) {
		if (items[i].revents == 0)
			continue;
		ev = ((items[i].revents & ZMQ_POLLIN) ? CURL_CSELECT_IN : 0) |
		    ((items[i].revents & ZMQ_POLLOUT) ? CURL_CSELECT_OUT : 0) |
		    ((items[i].revents & ZMQ_POLLERR) ? CURL_CSELECT_ERR : 0);
		curl_multi_socket_action(wh_multi, items[i].fd, ev, &running);
	}
	if (wh_multi != NULL && wh_timer >= 0 &&
	    wh_clock(CLOCK_MONOTONIC) >= wh_timer) {
		wh_timer = -1;
		curl_multi_socket_action(wh_multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
	}
	wh_check_done();
	wh_schedule();
	if (wh_clock(CLOCK_MONOTONIC) >= wh_pruned + WH_PRUNE_EVERY) {
		/* delivered and dead events stay a week, for inspection */
		wh_pruned = wh_clock(CLOCK_MONOTONIC);
		if (store_wh_prune(wh_store, wh_now() - WH_KEEP_MS) == -1)
			log_warnx("msghook: cannot prune the queue");
	}
}

size_t
msghook_active(void)
{
	return wh_nactive;
}
