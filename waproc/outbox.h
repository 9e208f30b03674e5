/*
 * outbox.h - the durable outbox (DESIGN.md "Durability rules"): a send the
 * API accepted is a row in store.db before the 2xx leaves, sent (and after
 * a crash sent again) with the same message id, and each status change
 * (queued -> sent -> delivered -> read, or failed) is written together with
 * its message.ack webhook (msghook_enqueue) in one transaction.
 *
 * Statuses only move forward: read > delivered > sent > queued; failed only
 * from queued or sent, and is final.  A late or repeated receipt changes
 * nothing and sends no webhook.
 *
 * Module state (identity, retry policy) is global: one device per process.
 * Never logs request bodies.
 */
#ifndef WAPROC_OUTBOX_H
#define WAPROC_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "msgid.h"

struct store;
struct store_ob_row;

#define OUTBOX_NEW	0	/* accepted now */
#define OUTBOX_REPLAY	1	/* same key / id as before: first answer */
#define OUTBOX_UNCHANGED 1	/* outbox_mark: not a forward move */
#define OUTBOX_FAILED	2	/* outbox_retry: gave up, now failed */
#define OUTBOX_ERR	(-1)	/* store error */
#define OUTBOX_EINVAL	(-2)	/* bad client id / status / arguments */
#define OUTBOX_ENOENT	(-3)	/* no such message */

#define OUTBOX_KEY_MAX	256	/* Idempotency-Key length */

/* Who we are (message.ack bodies, event ids, new message ids).  own_user:
 * the user part of our JID, NULL before login.  Strings are copied. */
void	outbox_set_identity(const char *device_hash, const char *device_jid,
	    const char *own_user);
/* Transient send failures: retry after base*2^(n-1) (jitter, capped),
 * failed after max_attempts.  Defaults 2 s, 5 min, 10. */
void	outbox_set_retry(long base_ms, long max_ms, int max_attempts);

/*
 * Accept a send, in one transaction of its own: a known idempotency_key
 * (or a known client id) returns the first answer and adds nothing;
 * otherwise the client id (msgid_valid_new) or a new msgid_generate id
 * becomes the message id and the row is queued, due now.  kind names the
 * send ("text", "image", ...; the route), chat its bare JID, request the
 * API body (JSON, kept for sending after a crash).  *first_answer (JSON
 * object {"message_id","status"}, xmalloc'd) is what the API returns.
 * OUTBOX_NEW, OUTBOX_REPLAY, OUTBOX_EINVAL (bad id/key), OUTBOX_ERR.
 */
int	outbox_accept(struct store *, const char *client_id,
	    const char *idempotency_key, const char *kind, const char *chat,
	    const char *request_json, char msg_id[MSGID_MAX],
	    char **first_answer);

/* Queued rows due now for the sender, oldest first (store_ob_row_free
 * each).  Count or -1.  The sender calls outbox_mark(sent) on success and
 * outbox_retry on a transient failure; a row it never marks (crash) is
 * due again: sent again with the same id. */
int	outbox_next_due(struct store *, struct store_ob_row *out, size_t max);
/* Milliseconds until the next queued row is due (0 now, -1 none). */
long	outbox_timeout_ms(struct store *);

/*
 * Move message id to status ("sent", "delivered", "read", "failed") with
 * the server timestamp (unix seconds, 0 unknown) and an error text
 * (failed).  In one transaction with its message.ack webhook and the
 * messages row's status.  receipt_json: the hook_receipt_payload body of
 * the receipt that caused it (NULL: built here); "status" is added to its
 * payload and its event_id kept, so one receipt makes one webhook.
 * OUTBOX_NEW (0) moved, OUTBOX_UNCHANGED, OUTBOX_ENOENT, OUTBOX_EINVAL,
 * OUTBOX_ERR.
 */
int	outbox_mark(struct store *, const char *id, const char *status,
	    int64_t server_ts, const char *error);
int	outbox_mark_receipt(struct store *, const char *id, const char *status,
	    int64_t server_ts, const char *error, const char *receipt_json);

/* A transient send failure: retry later (0) or, after max attempts,
 * failed (OUTBOX_FAILED, webhook sent).  OUTBOX_UNCHANGED if no longer
 * queued, OUTBOX_ENOENT, OUTBOX_ERR. */
int	outbox_retry(struct store *, const char *id, const char *error);

/* Status of one send as JSON for GET /api/message/:id ({"message_id",
 * "chat_id","kind","status","attempts","server_timestamp","error",
 * "created_at","updated_at"}), xmalloc'd; NULL if unknown. */
char	*outbox_get(struct store *, const char *id);

#endif
