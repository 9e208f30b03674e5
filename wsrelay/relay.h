/*
 * relay.h - wsrelay's transport-independent core: shared outgoing frames,
 * the bounded per-client queue (drop oldest, count drops), who may see
 * which event, device room names, the join-decision cache, and rendering
 * one devmgr Event into the frames every kind of client receives (the one
 * envelope of docs/events.md).  No sockets here and no libwebsockets: the
 * server (server.c) owns those.
 */
#ifndef WSRELAY_RELAY_H
#define WSRELAY_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "ipc.h"

#define RELAY_PRE		32	/* headroom before frame data (>= LWS_PRE) */
#define RELAY_HASH_LEN		16
#define RELAY_EVENT_JSON_MAX	(1024 * 1024)	/* larger events are dropped */

/* One outgoing text frame, shared by every client queue holding it. */
struct frame {
	unsigned int	 refs;
	size_t		 len;
	uint8_t		 data[];	/* RELAY_PRE headroom, then len bytes */
};

struct frame	*frame_new(const void *text, size_t len);	/* refs = 1 */
struct frame	*frame_ref(struct frame *);
void		 frame_unref(struct frame *);			/* NULL-safe */
#define FRAME_TEXT(f)	((f)->data + RELAY_PRE)

/*
 * Per-client queue: a ring of frame references with a hard maximum.
 * queue_push on a full queue drops the oldest frame and counts it.
 */
struct queue {
	struct frame	**ring;
	size_t		 cap;		/* allocated slots (grows to max) */
	size_t		 max;
	size_t		 head;
	size_t		 len;
	uint64_t	 dropped;	/* total dropped since creation */
	uint64_t	 dropped_unreported;
};

void		 queue_init(struct queue *, size_t max);
void		 queue_free(struct queue *);
/* Takes a new reference.  Returns 1 when the oldest frame was dropped. */
int		 queue_push(struct queue *, struct frame *);
struct frame	*queue_pop(struct queue *);	/* caller owns the reference */
struct frame	*queue_peek(struct queue *);

/* "device-<hash>" or a bare hash -> hash (16 lowercase hex).  0 or -1. */
int		 relay_room_hash(const char *room, char out[RELAY_HASH_LEN + 1]);
int		 relay_valid_hash(const char *);

/* The authorization filter: admin sees all, a user its own devices. */
int		 relay_may_see(const char *user, int admin, const char *owner);

/* ISO-8601 UTC with milliseconds, e.g. 2026-11-24T15:53:03.123Z */
void		 relay_iso_time(int64_t ms, char out[32]);

/*
 * One devmgr Event rendered for delivery.  Frames are NULL when the event
 * has no such form.  Built once per event, shared by all clients.
 */
struct rendered {
	char		 device[RELAY_HASH_LEN + 1];
	char		 owner[AUTH_USER_MAX + 1];
	struct frame	*ws;		/* /ws: whatsapp-websocket-message */
	struct frame	*ws_extra;	/* /ws: top-level process-stopped */
	struct frame	*sio_global;	/* 42["whatsapp-websocket-message",…] */
	struct frame	*sio_room;	/* 42["device-websocket-message",…] */
	struct frame	*sio_hist;	/* 42["qr-code"|…,…] historical room event */
};

/* Map a devmgr event type to its historical Socket.IO room event, or NULL. */
const char	*relay_hist_name(const char *type, const char *payload_json);
/*
 * The envelope object (JSON text, caller frees): type, deviceHash,
 * timestamp, ts, eventId and the payload's own fields.  NULL on bad input.
 */
char		*relay_envelope(const Ipc__Event *);
/* Render everything.  0, or -1 when the event is malformed (dropped). */
int		 relay_render(const Ipc__Event *, struct rendered *);
void		 relay_rendered_clear(struct rendered *);

/*
 * Join decisions (DEVICE_INFO answers) remembered briefly per user+device.
 */
#define RELAY_CACHE_MAX		1024
enum { CACHE_MISS = -1, CACHE_DENY = 0, CACHE_ALLOW = 1 };
struct join_cache;
struct join_cache	*join_cache_new(size_t max, int64_t ttl_ms);
void			 join_cache_free(struct join_cache *);
int			 join_cache_get(struct join_cache *, const char *user,
			    const char *hash, int64_t now_ms);
void			 join_cache_put(struct join_cache *, const char *user,
			    const char *hash, int allow, int64_t now_ms);

#endif
