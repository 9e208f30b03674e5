/*
 * msgr.h - end-to-end messaging of one device (PROTOCOL.md §6.3-§8): the
 * send pipeline from the durable outbox (outbox.h) to the server's ack,
 * and the receive pipeline from <message> to the store, the webhook queue
 * (msghook.h) and the receipt.  Owned by session.c, which feeds it the
 * stanzas conn did not consume and the device calls below /api it does not
 * answer itself.
 *
 * Send: a /send/... call is validated (msg-send.c), committed to the
 * outbox (and answered 200 with its id) and then, while logged in, built
 * once (the Message bytes are kept in messages.raw, so a re-send after a
 * crash carries the very same content under the same id), fanned out to
 * every device of the peer and of our own account (usync, prekey bundles,
 * Signal sessions; groups with sender keys), and sent.  The row becomes
 * "sent" on the server's <ack>, "delivered" / "read" on receipts.  A send
 * not acked in time is sent again with the same id.
 *
 * Receive: each <enc> is decrypted; the new Signal state, the message row
 * and its webhook commit in one transaction, then the delivery receipt and
 * the ack go out.  A message that cannot be decrypted gets a retry
 * receipt and is not stored.
 *
 * Single-threaded; callbacks from conn.  Never logs message content.
 */
#ifndef WAPROC_MSGR_H
#define WAPROC_MSGR_H

#include <stddef.h>
#include <stdint.h>

#include "binnode.h"

struct conn;
struct creds;
struct store;
struct media;

struct msgr_out {
	void	*arg;
	/* json: the whole answer body. */
	void	(*reply)(void *arg, uint32_t reqid, int status,
		    const char *code, const char *message, const char *json);
	void	(*event)(void *arg, const char *type, const char *json);
	/* creds changed (prekey ids): persist. */
	void	(*creds_changed)(void *arg);
};

struct msgr;

struct msgr	*msgr_new(struct store *, struct creds *, const char *device_hash,
		    const struct msgr_out *);
void		 msgr_free(struct msgr *);
/* The connection (NULL when there is none).  Not owned. */
void		 msgr_set_conn(struct msgr *, struct conn *);
/* Media transfers (NULL: media sends and downloads answer 501). */
void		 msgr_set_media(struct msgr *, struct media *);
/* Logged in: start sending what is queued.  Connection lost: what was
 * waiting for an answer is due again. */
void		 msgr_logged_in(struct msgr *);
void		 msgr_disconnected(struct msgr *);
/* A stanza conn did not consume: 1 handled (acked when due), 0 not ours. */
int		 msgr_node(struct msgr *, const struct binnode *);
/* A device call: 1 answered (now or later), 0 not a messaging route. */
int		 msgr_call(struct msgr *, uint32_t reqid, const char *method,
		    const char *route, const char *query, size_t qlen,
		    const char *body, size_t blen, const char *idem_key);
/* Timers: ms until msgr_service wants to run (-1 none). */
int		 msgr_timeout_ms(struct msgr *);
void		 msgr_service(struct msgr *);

/* Counters (tests, stats). */
struct msgr_stats {
	uint64_t	sent, acked, received, dup, undecryptable, retries;
	uint64_t	resent;
};
void		 msgr_stats(const struct msgr *, struct msgr_stats *);

#endif
