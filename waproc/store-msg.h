/*
 * store-msg.h - the SQL of the device store's message side: the outbox
 * (accepted sends), the message-webhook queue (webhook_queue = one row per
 * event, webhook_delivery = its state per URL) and incoming messages.  Part
 * of the store family (store.c opens and migrates, this file only reads and
 * writes rows); webhook.c and outbox.c hold the policy.  Times are Unix
 * milliseconds unless named _s.  Never logs message content.
 */
#ifndef WAPROC_STORE_MSG_H
#define WAPROC_STORE_MSG_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* ---- webhook queue ---- */

/* One due (event, URL) delivery; strings xmalloc'd (store_wh_due_free). */
struct store_wh_due {
	int64_t	 row;		/* webhook_queue.id */
	char	*url;
	char	*event;
	char	*event_id;
	char	*payload;
	int	 attempts;	/* attempts made so far for this URL */
};

/* New event with a pending delivery per URL.  0 added, 1 the event_id is
 * already queued (nothing added), -1 error. */
int	store_wh_insert(struct store *, const char *event,
	    const char *event_id, const char *payload,
	    const char *const *urls, size_t nurls, int64_t now);
/* Up to max pending deliveries with next_at <= now, oldest first, skipping
 * the (row, url) pairs for which skip(arg, row, url) is nonzero.  Returns
 * the count (<= max) or -1. */
typedef int (*store_wh_skip_fn)(void *arg, int64_t row, const char *url);
int	store_wh_due(struct store *, int64_t now, struct store_wh_due *out,
	    size_t max, store_wh_skip_fn skip, void *arg);
void	store_wh_due_free(struct store_wh_due *);
/* Earliest next_at of a pending delivery: 0 and *at set, 1 none, -1. */
int	store_wh_next_at(struct store *, int64_t *at);
/* Outcome of one attempt (attempts = the new count).  state is "pending"
 * (retry at next_at), "delivered" or "dead".  The event row is closed when
 * no URL is pending any more (dead if any URL is dead).  0 or -1. */
int	store_wh_result(struct store *, int64_t row, const char *url,
	    const char *state, int attempts, int64_t next_at, int http_status,
	    const char *error, int64_t now);
/* Apply a new URL list to the events still pending: pending deliveries to
 * URLs no longer listed are dropped, each listed URL gets a pending
 * delivery (due now) unless it already has one.  Events left with nothing
 * pending are closed.  0 or -1. */
int	store_wh_retarget(struct store *, const char *const *urls,
	    size_t nurls, int64_t now);
/* Delete closed events (delivered or dead) created before `before`, with
 * their delivery rows.  Number of events deleted, or -1. */
int	store_wh_prune(struct store *, int64_t before);

/* ---- outbox ---- */

struct store_ob_row {
	char	*id;
	char	*chat;
	char	*kind;
	char	*request;
	char	*state;		/* queued sent delivered read failed */
	char	*result;	/* the first answer given to the API */
	char	*last_error;	/* NULL if none */
	int	 attempts;
	int64_t	 next_at;
	int64_t	 server_ts;	/* unix seconds, 0 if none */
	int64_t	 created_at;
	int64_t	 updated_at;
};
void	store_ob_row_free(struct store_ob_row *);

/* Look a send up by id (key NULL) or by idempotency key (id NULL).
 * 0 found (*r filled), 1 absent, -1 error. */
int	store_ob_find(struct store *, const char *id, const char *key,
	    struct store_ob_row *r);
/* New queued row due at now.  0, 1 id or key already present, -1. */
int	store_ob_insert(struct store *, const char *id, const char *chat,
	    const char *key, const char *kind, const char *request,
	    const char *result, int64_t now);
/* Set state/attempts/next_at/server_ts/last_error of one row.  0, 1 no
 * such row, -1. */
int	store_ob_update(struct store *, const struct store_ob_row *,
	    int64_t now);
/* Up to max queued rows with next_at <= now, oldest first.  Count or -1. */
int	store_ob_due(struct store *, int64_t now, struct store_ob_row *out,
	    size_t max);
/* Earliest next_at of a queued row: 0 and *at, 1 none, -1. */
int	store_ob_next_at(struct store *, int64_t *at);

/* ---- messages ---- */

struct store_msg {
	const char	*chat;
	const char	*id;
	const char	*sender;	/* may be NULL */
	int		 from_me;
	int64_t		 ts;		/* unix seconds */
	const char	*type;		/* text, image, ... */
	const char	*body;		/* may be NULL */
	const char	*media;		/* JSON, may be NULL */
	const char	*quoted_id;	/* may be NULL */
	const char	*status;	/* NULL: "received" */
	const uint8_t	*raw;		/* serialized Message, may be NULL */
	size_t		 rawlen;
};

/* Insert a message.  0 added, 1 (chat, id) already there (a redelivery:
 * nothing changed), -1.  Call inside the transaction that also enqueues
 * its webhook. */
int	store_msg_put(struct store *, const struct store_msg *);
/* Set the status of a stored message; 0, 1 no such message, -1. */
int	store_msg_set_status(struct store *, const char *chat, const char *id,
	    const char *status);

#endif
