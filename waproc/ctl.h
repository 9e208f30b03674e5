/*
 * ctl.h - waproc's side of the workers socket (IPC.md "Worker types"): a
 * DEALER whose identity is the device hash, HELLO with the one-time token,
 * heartbeats both ways, STATUS and WAEVENT up, DEVICE_CALL down and its
 * REPLY up, SHUTDOWN down.  Knows nothing of WhatsApp.
 */
#ifndef WAPROC_CTL_H
#define WAPROC_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

struct ctl;

/* A device call to answer (now or later) with ctl_reply(reqid, ...). */
typedef void (*ctl_call_fn)(struct ctl *, uint32_t reqid,
    const Ipc__Request *, void *arg);

struct ctl	*ctl_new(void *zctx, const char *endpoint, const char *device,
		    long hb_interval_ms, long hb_timeout_ms);
void		 ctl_free(struct ctl *);
void		*ctl_socket(struct ctl *);
/* Send HELLO; wipes the caller's token copy afterwards is up to it. */
/*
 * Hold back every message from now on (replies, events, status,
 * heartbeats) until ctl_flush sends them in order, or ctl_drop forgets
 * them: what they report is not committed yet (store_turn_begin).
 */
void		 ctl_hold(struct ctl *);
void		 ctl_flush(struct ctl *);
void		 ctl_drop(struct ctl *);
int		 ctl_hello(struct ctl *, const char *token, const char *version);
int		 ctl_ready(const struct ctl *);	/* HELLO accepted */
/*
 * Handle every message waiting on the socket.  Returns 0, or 1 when devmgr
 * asked us to stop (SHUTDOWN) or refused the HELLO.
 */
int		 ctl_dispatch(struct ctl *, ctl_call_fn, void *arg);
/*
 * Heartbeats.  Returns the ms until it wants to run again, or -1 when
 * devmgr has been silent for too long (3 x the heartbeat timeout).
 */
long		 ctl_tick(struct ctl *, uint64_t now_mono);
int		 ctl_status(struct ctl *, const char *state, const char *jid,
		    const char *push_name, const char *cause, const char *json);
int		 ctl_event(struct ctl *, const char *type, const char *json,
		    const char *id);
int		 ctl_reply(struct ctl *, uint32_t reqid, int status,
		    const char *code, const char *message, const char *json);

#endif
