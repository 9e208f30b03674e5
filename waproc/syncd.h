/*
 * syncd.h - app state sync of one device (PROTOCOL.md 10.2), over the
 * codec in appstate.h.  Owned by msgr.
 *
 * Keys: the phone shares them in a protocolMessage (type 6) from our own
 * account; syncd_take_keys stores them inside the receive transaction.
 *
 * Collections are synced one task at a time: fetch the patches after the
 * stored version (a snapshot, downloaded through media.c, when the server
 * sends one), verify every MAC, then store the new version, LTHash, index
 * MACs and the mutations' local effects (star, delete for me, pin,
 * archive, mute, contact names) in one transaction.  A collection syncs
 * when the keys arrive, at each login, and on <notification
 * type="server_sync">.  A collection whose MACs do not verify is dropped
 * and fetched again from a snapshot, once.
 *
 * Sending (star, unstar, delete for me, pin): the collection is synced
 * first, the patch built on that state and sent; the server's answer
 * decides: accepted -> the new state and the local effect are stored and
 * the API call answered 200; a version conflict (409) -> sync and rebuild,
 * at most SYNCD_CONFLICTS_MAX times; anything else -> an error answer and
 * nothing stored.  Not durable: a call that did not finish (disconnect,
 * restart) answered an error and is the client's to retry.
 *
 * Single-threaded; callbacks from conn and media.  Never logs keys or
 * message content.
 */
#ifndef WAPROC_SYNCD_H
#define WAPROC_SYNCD_H

#include <stddef.h>
#include <stdint.h>

#include "appstate.h"

struct binnode;
struct conn;
struct media;
struct store;

#define SYNCD_TASKS_MAX		64	/* calls waiting; then 503 BUSY */
#define SYNCD_CONFLICTS_MAX	3
#define SYNCD_PAGES_MAX		1000	/* fetches of one sync */

struct syncd_out {
	void	*arg;
	/* results: the "results" JSON text of the answer, or NULL. */
	void	(*reply)(void *arg, uint32_t reqid, int status,
		    const char *code, const char *message, const char *results);
	/* Live event (type "app_state.change"), json owned by the caller. */
	void	(*event)(void *arg, const char *type, const char *json);
};

struct syncd;

struct syncd	*syncd_new(struct store *, const struct syncd_out *);
/* Calls still waiting are not answered (the owner is going away). */
void		 syncd_free(struct syncd *);
void		 syncd_set_conn(struct syncd *, struct conn *);
void		 syncd_set_media(struct syncd *, struct media *);
/* Logged in: sync every collection (when keys are known). */
void		 syncd_logged_in(struct syncd *);
/* Connection lost: calls in progress or waiting answer 503. */
void		 syncd_disconnected(struct syncd *);

/*
 * A decrypted Message (unpadded) from our own account: when it is an app
 * state key share, store its keys (in the caller's open transaction).
 * 1 keys stored, 0 not a key share, -1 store error.
 */
int		 syncd_take_keys(struct store *, const uint8_t *msg, size_t len);
/* After the commit of a key share: sync every collection. */
void		 syncd_keys_arrived(struct syncd *);
/* <notification type="server_sync">: 1 taken (conn acks it), else 0. */
int		 syncd_node(struct syncd *, const struct binnode *);

/*
 * Send one mutation to collection (taken: *mut is cleared).  The call
 * reqid is answered 200 with message / json (may be NULL) once the
 * server took it, or with an error.
 */
void		 syncd_send(struct syncd *, uint32_t reqid,
		    const char *collection, struct appstate_mutation *mut,
		    const char *message, const char *json);

/* Counters (tests, stats). */
struct syncd_stats {
	uint64_t	synced, patches_sent, conflicts, mutations_applied;
	uint64_t	failures, resets;
};
void		 syncd_stats(const struct syncd *, struct syncd_stats *);

#endif
