/*
 * usync.h - device-list queries (PROTOCOL.md §6.3): the usync IQ that asks
 * for the devices (and optionally the LID) of a list of users, and the
 * parser of its answer.
 *
 *   <iq to="s.whatsapp.net" type="get" xmlns="usync">
 *     <usync sid=… mode="query" last="true" index="0" context="message">
 *       <query><devices version="2"/>[<lid/>]</query>
 *       <list><user jid="<bare user JID>"/>…</list></usync></iq>
 *   -> <usync><list><user jid=…><devices><device-list><device id=…
 *      [key-index=…] [is_hosted="true"]/>…</device-list>
 *      [<key-index-list ts=…>bytes</key-index-list>]</devices>
 *      [<lid val=…/>]</user>…</list></usync>
 *
 * Pure: builds and parses binnode trees; untrusted input never crashes it
 * and every count is capped.  No I/O, no logging.
 */
#ifndef WAPROC_USYNC_H
#define WAPROC_USYNC_H

#include <stddef.h>
#include <stdint.h>

#include "binnode.h"
#include "jid.h"

#define USYNC_EINVAL	(-1)	/* malformed answer / bad argument */
#define USYNC_EIQ	(-2)	/* type="error" answer */
#define USYNC_ELIMIT	(-3)

#define USYNC_MAX_USERS		1024	/* users in one query/answer */
#define USYNC_MAX_DEVICES	64	/* devices kept per user */

struct usync_device {
	uint16_t	id;
	int		has_key_index;
	uint32_t	key_index;
	int		hosted;		/* is_hosted="true" */
};

struct usync_user {
	struct jid		jid;		/* bare user, as answered */
	int			has_lid;
	struct jid		lid;		/* <lid val=…/> */
	int			error;		/* <error code> in devices, or
						 * a device list missing */
	size_t			ndevices;
	struct usync_device	devices[USYNC_MAX_DEVICES];
	uint64_t		key_index_ts;
};

/*
 * The device query IQ for users (device parts are dropped).  sid: the
 * usync session id (NULL: a random one); with_lid adds <lid/> to learn
 * LIDs (Baileys).  NULL if n is 0, too large, or a JID is not a user.
 */
struct binnode *usync_devices_query(const struct jid *users, size_t n,
	    const char *sid, int with_lid);

/*
 * Parse the answer (the <iq> or its <usync> child).  *users is xcalloc'd
 * (free()), one entry per <user>.  0, USYNC_EIQ, USYNC_EINVAL,
 * USYNC_ELIMIT.
 */
int	usync_parse_devices(const struct binnode *reply,
	    struct usync_user **users, size_t *n);

/*
 * Device JIDs of a user for sending (§6.3): id 0 always; other devices
 * only with a key-index when drop_unindexed (Baileys' rule; the server
 * answers bad-request otherwise); hosted devices on hosted/hosted.lid
 * unless skip_hosted (groups).  Returns the count written (<= max).
 */
size_t	usync_device_jids(const struct usync_user *, int drop_unindexed,
	    int skip_hosted, struct jid *out, size_t max);

#endif
