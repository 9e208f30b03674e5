/*
 * bus.h - wsrelay's two ZeroMQ sockets toward devmgr: a SUB on the events
 * endpoint (topic "ev.<hash>" + Event) and an asynchronous DEALER on the
 * control endpoint for DEVICE_INFO lookups.  Nothing here blocks: receives
 * use ZMQ_DONTWAIT and the caller drains each socket fully whenever its
 * ZMQ_FD signals (edge-triggered) and on a slow safety tick.
 */
#ifndef WSRELAY_BUS_H
#define WSRELAY_BUS_H

#include <stdint.h>

#include "ipc.h"

struct bus;

struct bus	*bus_new(const char *events_ep, const char *control_ep);
void		 bus_free(struct bus *);
int		 bus_sub_fd(struct bus *);
int		 bus_ctl_fd(struct bus *);

/*
 * Next published event: 1 and *ev (ipc__event__free_unpacked), 0 when none
 * is waiting, -1 for a malformed message (already dropped; call again).
 */
int		 bus_event_next(struct bus *, Ipc__Event **ev);

/*
 * Send DEVICE_INFO for device `hash` on behalf of user/role (rate exempt).
 * 0 and *reqid, or -1 when devmgr is not reachable right now.
 */
int		 bus_device_info(struct bus *, const char *user, const char *role,
		    const char *hash, int timeout_ms, uint32_t *reqid);

/* Next control reply: 1 with *reqid and *status, 0 none, -1 malformed. */
int		 bus_reply_next(struct bus *, uint32_t *reqid, int *status);

#endif
