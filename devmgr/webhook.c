/*
 * webhook.c - status webhooks (SEED_API.md 4.2, API.md "Webhooks"): the
 * payload, its HMAC-SHA256 signature, and delivery from the durable queue
 * in registry.db with libcurl's multi interface driven by devmgr's poll
 * loop (socket and timer callbacks, never curl_multi_perform blocking).
 * At-least-once: a row leaves 'pending' only on a 2xx (delivered) or
 * after WEBHOOK_MAX_ATTEMPTS failures (dead); rows pending when devmgr
 * stopped are resumed at start.  Only http and https, no redirects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>
#include <zmq.h>

#include "config.h"
#include "devmgr.h"
#include "log.h"
#include "xmalloc.h"

#define WH_ACTIVE_MAX	16
#define WH_FDS_MAX	(WH_ACTIVE_MAX * 2)
#define WH_BACKOFF_BASE	1000ULL
#define WH_BACKOFF_MAX	(10 * 60 * 1000ULL)
#define WH_PRUNE_EVERY	(3600 * 1000ULL)
#define WH_KEEP_MS	(7LL * 86400 * 1000)

struct wh_xfer {
	CURL			*easy;
	struct curl_slist	*hdrs;
	int64_t			 id;
	int			 attempts;
	char			*body;
	char			 err[CURL_ERROR_SIZE];
};

static CURLM		*wh_multi;
static struct wh_xfer	 wh_x[WH_ACTIVE_MAX];
static size_t		 wh_nactive;
static struct {
	curl_socket_t	fd;
	int		what;
} wh_fds[WH_FDS_MAX];
static size_t		 wh_nfds;
static long		 wh_timer = -1;		/* ms from wh_timer_set */
static uint64_t		 wh_timer_set;
static int64_t		 wh_next_due = 0;	/* realtime ms; -1 none */
static uint64_t		 wh_pruned;		/* mono ms of the last prune */

char *
webhook_payload(const char *hash, const char *status, const char *type,
    const char *code, const char *message, json_object *data, int64_t ts_ms)
{
	json_object *o = json_object_new_object(), *d, *e;
	char ts[40];
	char *s;

	d = json_object_new_object();
	json_object_object_add(d, "deviceHash", json_object_new_string(hash));
	json_object_object_add(d, "status", json_object_new_string(status));
	json_object_object_add(o, "device", d);
	e = json_object_new_object();
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "data", data ? json_object_get(data) :
	    json_object_new_object());
	json_object_object_add(o, "event", e);
	dm_iso8601(ts_ms, ts, sizeof(ts));
	json_object_object_add(o, "timestamp", json_object_new_string(ts));
	s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

void
webhook_sign(const char *secret, const char *body, size_t len, char out[65])
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret,
	    strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

/* attempts failed so far (>= 1): base 1 s doubling, cap 10 min, plus up to
 * half again as jitter (still capped). */
uint64_t
webhook_backoff_ms(int attempts, uint32_t rnd)
{
	uint64_t d = WH_BACKOFF_BASE;
	int i;

	for (i = 1; i < attempts && d < WH_BACKOFF_MAX; i++)
		d *= 2;
	if (d > WH_BACKOFF_MAX)
		d = WH_BACKOFF_MAX;
	d += rnd % (d / 2 + 1);
	return d > WH_BACKOFF_MAX ? WH_BACKOFF_MAX : d;
}

static int
wh_sockcb(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
	size_t i;

	for (i = 0; i < wh_nfds; i++)
		if (wh_fds[i].fd == s)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < wh_nfds)
			wh_fds[i] = wh_fds[--wh_nfds];
		return 0;
	}
	if (i == wh_nfds) {
		if (wh_nfds == WH_FDS_MAX)
			return -1;
		wh_nfds++;
	}
	wh_fds[i].fd = s;
	wh_fds[i].what = what;
	return 0;
}

static int
wh_timercb(CURLM *m, long timeout_ms, void *u)
{
	wh_timer = timeout_ms;
	wh_timer_set = ipc_mono_ms();
	return 0;
}

static size_t
wh_discard(char *p, size_t sz, size_t n, void *u)
{
	return sz * n;
}

int
webhook_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return -1;
	if ((wh_multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(wh_multi, CURLMOPT_SOCKETFUNCTION, wh_sockcb);
	curl_multi_setopt(wh_multi, CURLMOPT_TIMERFUNCTION, wh_timercb);
	wh_next_due = 0;	/* look at the queue at once: resume */
	return 0;
}

static void
wh_xfer_free(struct wh_xfer *x)
{
	if (x->easy != NULL) {
		curl_multi_remove_handle(wh_multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	free(x->body);
	memset(x, 0, sizeof(*x));
}

void
webhook_cleanup(void)
{
	size_t i;

	for (i = 0; i < WH_ACTIVE_MAX; i++)
		if (wh_x[i].easy != NULL)
			wh_xfer_free(&wh_x[i]);
	wh_nactive = 0;
	if (wh_multi != NULL)
		curl_multi_cleanup(wh_multi);
	wh_multi = NULL;
	curl_global_cleanup();
}

void
webhook_kick(void)
{
	wh_next_due = 0;
}

static void
wh_start(struct reg_webhook *w)
{
	struct wh_xfer *x = NULL;
	char hdr[256], sig[65];
	char *secret;
	size_t i;

	for (i = 0; i < WH_ACTIVE_MAX; i++)
		if (wh_x[i].easy == NULL) {
			x = &wh_x[i];
			break;
		}
	if (x == NULL)
		return;
	x->id = w->id;
	x->attempts = w->attempts;
	x->body = w->payload;
	w->payload = NULL;
	x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	x->hdrs = curl_slist_append(x->hdrs,
	    "User-Agent: WhatsApp-Gateway-Webhook/1.0");
	snprintf(hdr, sizeof(hdr), "X-Webhook-Id: %s", w->event_id);
	x->hdrs = curl_slist_append(x->hdrs, hdr);
	snprintf(hdr, sizeof(hdr), "X-Webhook-Timestamp: %lld",
	    (long long)time(NULL));
	x->hdrs = curl_slist_append(x->hdrs, hdr);
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	if ((secret = registry_webhook_secret(dm.reg, w->device)) != NULL) {
		if (*secret) {
			webhook_sign(secret, x->body, strlen(x->body), sig);
			snprintf(hdr, sizeof(hdr), "X-Webhook-Signature: %s",
			    sig);
			x->hdrs = curl_slist_append(x->hdrs, hdr);
		}
		sodium_memzero(secret, strlen(secret));
		free(secret);
	}
	if ((x->easy = curl_easy_init()) == NULL) {
		wh_xfer_free(x);
		return;
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, w->url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
	    config_get_int("WEBHOOK_TIMEOUT_MS"));
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    config_get_int("WEBHOOK_TIMEOUT_MS"));
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(x->body));
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, wh_discard);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	if (curl_multi_add_handle(wh_multi, x->easy) != CURLM_OK) {
		wh_xfer_free(x);
		return;
	}
	wh_nactive++;
}

static void
wh_finish(struct wh_xfer *x, CURLcode res)
{
	long code = 0;
	int64_t now = (int64_t)ipc_now_ms();
	int attempts = x->attempts + 1;
	char err[CURL_ERROR_SIZE + 32];
	uint32_t rnd;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (res == CURLE_OK && code >= 200 && code < 300) {
		registry_webhook_result(dm.reg, x->id, "delivered", attempts,
		    now, NULL);
		log_debug("webhook %lld delivered", (long long)x->id);
	} else {
		if (res != CURLE_OK)
			snprintf(err, sizeof(err), "%s", x->err[0] ? x->err :
			    curl_easy_strerror(res));
		else
			snprintf(err, sizeof(err), "HTTP %ld", code);
		if (attempts >= config_get_int("WEBHOOK_MAX_ATTEMPTS")) {
			registry_webhook_result(dm.reg, x->id, "dead", attempts,
			    now, err);
			log_warnx("webhook %lld dead after %d attempts: %s",
			    (long long)x->id, attempts, err);
		} else {
			randombytes_buf(&rnd, sizeof(rnd));
			registry_webhook_result(dm.reg, x->id, "pending",
			    attempts, now + (int64_t)webhook_backoff_ms(
			    attempts, rnd), err);
			log_debug("webhook %lld attempt %d: %s",
			    (long long)x->id, attempts, err);
		}
	}
	wh_xfer_free(x);
	wh_nactive--;
	wh_next_due = 0;
}

static void
wh_check_done(void)
{
	CURLMsg *msg;
	int left;
	struct wh_xfer *x;

	while ((msg = curl_multi_info_read(wh_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		if (x != NULL)
			wh_finish(x, msg->data.result);
	}
}

size_t
webhook_pollfds(void *items, size_t max)
{
	zmq_pollitem_t *pi = items;
	size_t i, n = 0;

	for (i = 0; i < wh_nfds && n < max; i++, n++) {
		memset(&pi[n], 0, sizeof(pi[n]));
		pi[n].fd = wh_fds[i].fd;
		pi[n].events = (short)(((wh_fds[i].what & CURL_POLL_IN) ?
		    ZMQ_POLLIN : 0) | ((wh_fds[i].what & CURL_POLL_OUT) ?
		    ZMQ_POLLOUT : 0));
	}
	return n;
}

void
webhook_poll_done(void *items, size_t n)
{
	zmq_pollitem_t *pi = items;
	size_t i;
	int running, ev;

	if (wh_multi == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (pi[i].revents == 0)
			continue;
		ev = ((pi[i].revents & ZMQ_POLLIN) ? CURL_CSELECT_IN : 0) |
		    ((pi[i].revents & ZMQ_POLLOUT) ? CURL_CSELECT_OUT : 0) |
		    ((pi[i].revents & ZMQ_POLLERR) ? CURL_CSELECT_ERR : 0);
		curl_multi_socket_action(wh_multi, pi[i].fd, ev, &running);
	}
	wh_check_done();
}

int
webhook_tick(uint64_t now)
{
	struct reg_webhook *due = NULL;
	int64_t skip[WH_ACTIVE_MAX];
	size_t n = 0, i, nskip = 0;
	int running, wait = 60000;
	uint64_t mono = ipc_mono_ms();

	if (wh_multi == NULL)
		return wait;
	if (mono >= wh_pruned + WH_PRUNE_EVERY) {
		/* delivered and dead rows are kept a week, for inspection */
		registry_webhook_prune(dm.reg, (int64_t)now - WH_KEEP_MS);
		wh_pruned = mono;
	}
	if (wh_timer >= 0 && mono >= wh_timer_set + (uint64_t)wh_timer) {
		wh_timer = -1;
		curl_multi_socket_action(wh_multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
		wh_check_done();
	}
	if (wh_next_due >= 0 && (int64_t)now >= wh_next_due &&
	    wh_nactive < WH_ACTIVE_MAX) {
		for (i = 0; i < WH_ACTIVE_MAX; i++)
			if (wh_x[i].easy != NULL)
				skip[nskip++] = wh_x[i].id;
		registry_webhook_due(dm.reg, (int64_t)now, WH_ACTIVE_MAX -
		    wh_nactive, skip, nskip, &due, &n);
		for (i = 0; i < n; i++) {
			wh_start(&due[i]);
			reg_webhook_clear(&due[i]);
		}
		free(due);
		/* Next look: the soonest pending row not in flight. */
		wh_next_due = registry_webhook_next(dm.reg);
		if (wh_next_due >= 0 && wh_next_due <= (int64_t)now)
			wh_next_due = (int64_t)now + (wh_nactive <
			    WH_ACTIVE_MAX ? 1000 : 200);
		if (n > 0) {
			curl_multi_socket_action(wh_multi, CURL_SOCKET_TIMEOUT,
			    0, &running);
			wh_check_done();
		}
	}
	if (wh_next_due >= 0) {
		int64_t d = wh_next_due - (int64_t)now;

		if (d < wait)
			wait = d < 0 ? 0 : (int)d;
	}
	if (wh_timer >= 0) {
		int64_t d = (int64_t)(wh_timer_set + (uint64_t)wh_timer) -
		    (int64_t)ipc_mono_ms();

		if (d < wait)
			wait = d < 0 ? 0 : (int)d;
	}
	return wait;
}
