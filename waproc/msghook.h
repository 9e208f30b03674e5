/*
 * msghook.h - message webhooks of this device (API.md "Webhooks"): a
 * durable queue in store.db (webhook_queue + webhook_delivery, one state
 * per URL of the comma list WEBHOOK_URL), delivered at least once with
 * libcurl's multi interface inside waproc's zmq_poll loop (never blocks).
 *
 * Each POST carries Content-Type: application/json, X-Webhook-Id: the
 * event_id (the same on every retry, after a crash too), X-Webhook-
 * Timestamp (unix seconds of the attempt) and, only when the secret is
 * non-empty, X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>.  A
 * 2xx delivers; anything else (or a timeout) is retried with exponential
 * backoff and jitter, and after max_attempts the URL is dead.  Rows left
 * pending (or in flight) by a crash are resumed by msghook_init.
 *
 * One device per process, so the module state is global.  Never logs
 * payloads, URLs' query strings or secrets.
 */
#ifndef WAPROC_MSGHOOK_H
#define WAPROC_MSGHOOK_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

struct store;

#define MSGHOOK_URLS_MAX	8	/* URLs in the comma list */
#define MSGHOOK_ACTIVE_MAX	16	/* transfers at once */

struct msghook_opts {
	long	timeout_ms;	/* one attempt; 0: WEBHOOK_TIMEOUT_MS */
	int	max_attempts;	/* 0: WEBHOOK_MAX_ATTEMPTS */
	long	backoff_ms;	/* first retry delay; 0: 1000 */
	long	backoff_max_ms;	/* cap; 0: 5 minutes */
};

/*
 * Start delivering from store s (kept, not owned) with opts (NULL: the
 * config values).  Resumes whatever is pending.  Call after
 * msghook_set_target when the URL is known at start.  0 or -1.
 */
int	msghook_init(struct store *s, const struct msghook_opts *opts);
/* Abort transfers (their rows stay pending: retried by the next init),
 * forget the store.  The target is kept. */
void	msghook_cleanup(void);

/*
 * Set (or change, live) the comma list of URLs and the secret (NULL or ""
 * = no signature).  With a store, events still pending are moved to the
 * new list in one transaction: URLs no longer listed are dropped, new
 * ones get them.  Not inside a caller's transaction.  0, -1 bad list (too
 * many URLs, not http/https): the old target stays.
 */
int	msghook_set_target(const char *urls, const char *secret);

/*
 * Queue an event for every current URL.  Call inside the caller's
 * transaction (store_begin ... store_commit), so the row it reports on
 * and its webhook commit or roll back together.  0 queued (or no URL
 * configured: nothing to do), 1 event_id already queued, -1 error.
 */
/* 1 when a URL is set (msghook_enqueue would queue): a caller can skip
 * building a payload nobody gets. */
int	msghook_wanted(void);
int	msghook_enqueue(struct store *s, const char *event,
	    const char *event_id, const char *json);

/* Poll loop: the sockets to watch (<= max items filled), the longest
 * wait in ms (-1: nothing to do), then service after zmq_poll with the
 * same items (revents read; n may be 0 on a timeout). */
size_t	msghook_pollfds(zmq_pollitem_t *items, size_t max);
long	msghook_timeout_ms(void);
void	msghook_service(const zmq_pollitem_t *items, size_t n);

/* Transfers in flight (tests, stats). */
size_t	msghook_active(void);
/* Backoff before retry number attempts (>= 1), jitter from rnd. */
long	msghook_backoff_ms(int attempts, uint32_t rnd, long base, long cap);

#endif
