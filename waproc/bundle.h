/*
 * bundle.h - prekey-bundle fetch (PROTOCOL.md §6.4): the IQ asking for the
 * bundles of a list of devices and the parser of its answer into
 * struct signal_bundle (signal-session.h) per device.
 *
 *   <iq xmlns="encrypt" type="get" to="s.whatsapp.net">
 *     <key><user jid="<device JID>" [reason="identity"]/>…</key></iq>
 *   -> <list><user jid=…><registration>4</registration><type>1</type>
 *      <identity>32</identity>[<key><id>3</id><value>32</value></key>]
 *      <skey><id>3</id><value>32</value><signature>64</signature></skey>
 *      </user>…</list>   (a <user> may hold <error/> instead, and the keys
 *      may be wrapped in <keys>)
 *
 * Every length is checked; a bad <user> is reported in its entry, not as a
 * failure of the whole answer.  Pure; no I/O, no logging.
 */
#ifndef WAPROC_BUNDLE_H
#define WAPROC_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "binnode.h"
#include "jid.h"
#include "signal-session.h"

#define BUNDLE_EINVAL	(-1)
#define BUNDLE_EIQ	(-2)	/* type="error" answer */
#define BUNDLE_ELIMIT	(-3)

#define BUNDLE_MAX_USERS	4096

struct bundle_user {
	struct jid		jid;		/* device JID */
	int			ok;		/* bundle valid */
	int			error_code;	/* <error code>, or -1 when
						 * malformed */
	struct signal_bundle	bundle;
};

/* The fetch IQ; reason_identity adds reason="identity" (whatsmeow always
 * does).  NULL if n is 0 or too large. */
struct binnode *bundle_query(const struct jid *devs, size_t n,
	    int reason_identity);

/* Parse one <user> (or the node holding the keys). 0 or BUNDLE_EINVAL. */
int	bundle_parse_user(const struct binnode *user, struct signal_bundle *);

/* Parse the answer (the <iq> or its <list>).  *users xcalloc'd (free()).
 * 0, BUNDLE_EIQ, BUNDLE_EINVAL, BUNDLE_ELIMIT. */
int	bundle_parse(const struct binnode *reply, struct bundle_user **users,
	    size_t *n);

#endif
