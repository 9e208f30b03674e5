/*
 * msg-node.h - the <message>, <receipt> and <ack> stanzas of end-to-end
 * messaging (PROTOCOL.md §6.6, §7.4-7.7, §8.1, §8.3-8.4), built and parsed
 * as binnode trees.
 *
 * Pure: no crypto, no I/O, no logging.  The caller encrypts (signal-
 * session.h / signal-group.h, after padding.h) and hands over the
 * ciphertexts; this file only shapes nodes and the plaintext wrappers the
 * fan-out needs (DeviceSentMessage for our own other devices, the
 * SenderKeyDistributionMessage carrier for groups).
 *
 * Sending, 1:1 (§7.4):
 *   for each device d from usync (ours and the peer's):
 *     role = msg_node_device_role(d, own PN device, own LID device)
 *     SKIP: our exact device; OWN: encrypt msg_node_dsm_wrap(msg, chat);
 *     PEER: encrypt msg itself.
 *   msg_node_build_send() with every (d, ciphertext, pkmsg|msg) ->
 *   <message><participants><to jid><enc v="2" type=…/></to>…</participants>
 *   [<device-identity>] (required when any pkmsg: else MSG_NODE_EIDENTITY).
 * Groups (§7.6): skmsg = signal_group_encrypt(padded msg); pairwise
 *   encs of msg_node_skdm_message(group, skdm) to the devices lacking our
 *   key; phash over all participant devices (msg_node_phash).
 * Receiving (§8.1): msg_node_parse() -> struct msg_in (pointers into the
 *   node for the ciphertexts: keep the node alive while using them), then
 *   msg_node_receipt()/msg_node_retry_receipt()/msg_node_ack().
 */
#ifndef WAPROC_MSG_NODE_H
#define WAPROC_MSG_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "binnode.h"
#include "jid.h"
#include "msgid.h"

#define MSG_NODE_EINVAL		(-1)	/* malformed stanza / bad argument */
#define MSG_NODE_EIDENTITY	(-2)	/* pkmsg without device identity */
#define MSG_NODE_ELIMIT		(-3)	/* too many children */

#define MSG_NODE_MAX_ENC	8	/* <enc> children we accept */
#define MSG_NODE_MAX_DEVICES	4096	/* <to> children we build */
#define MSG_NODE_MAX_IDS	256	/* ids in one receipt */
#define MSG_NODE_PHASH_LEN	10	/* "2:" + 8 base64 chars */
#define MSG_NODE_NOTIFY_MAX	256	/* push name bytes kept, incl. NUL */

/* ------------------------------------------------------------ sending */

enum msg_node_role {
	MSG_NODE_SKIP = 0,	/* our own exact device */
	MSG_NODE_PEER,		/* plain Message */
	MSG_NODE_OWN		/* our other device: DeviceSentMessage */
};

/* Role of a recipient device; own_pn / own_lid are our device JIDs
 * (either may be NULL). */
enum msg_node_role msg_node_device_role(const struct jid *dev,
	    const struct jid *own_pn, const struct jid *own_lid);

/* Message{deviceSentMessage{destinationJID, message}, messageContextInfo
 * of the original} for our own other devices.  *out xmalloc'd.
 * 0, or MSG_NODE_EINVAL if msg does not decode. */
int	msg_node_dsm_wrap(const uint8_t *msg, size_t len, const char *dest_jid,
	    uint8_t **out, size_t *outlen);
/* Message{senderKeyDistributionMessage{groupID, axolotl…}}.  0. */
int	msg_node_skdm_message(const char *group_jid, const uint8_t *skdm,
	    size_t skdmlen, uint8_t **out, size_t *outlen);

/* whatsmeow participantListHashV2 over device JIDs:
 * "2:" + base64(SHA256(concat(sort(ADString)))[0:6]).  0 or -1. */
int	msg_node_phash(const struct jid *devs, size_t n, char *out,
	    size_t outsz);

/* One device's ciphertext. */
struct msg_node_enc {
	struct jid	 jid;		/* device JID */
	const uint8_t	*ct;
	size_t		 ctlen;
	int		 type;		/* SIGNAL_MSG_TYPE_PKMSG or _MSG */
};

struct msg_node_send {
	const char		*id;		/* message id */
	const struct jid	*to;		/* chat (user, group, broadcast) */
	const char		*type;		/* "text", "media", ... */
	const char		*mediatype;	/* enc mediatype or NULL/"" */
	const char		*edit;		/* "1", "7", "8" or NULL/"" */
	int			 hide_fail;	/* enc decrypt-fail="hide" */
	const struct msg_node_enc *encs;	/* pairwise, any number */
	size_t			 nencs;
	const uint8_t		*skmsg;		/* group: sender-key ct */
	size_t			 skmsglen;
	const uint8_t		*device_identity; /* account blob (§7.4) */
	size_t			 device_identity_len;
	const char		*phash;		/* NULL: computed for groups
						 * from encs' devices */
	const char		*addressing_mode;	/* "lid"/"pn"/NULL */
	const struct jid	*peer_recipient_pn;	/* LID-addressed 1:1 */
	const uint8_t		*tctoken;	/* privacy token (§7.8) */
	size_t			 tctoken_len;
	const char		*polltype;	/* <meta polltype=…> or NULL */
	/* Retry re-send (§7.7): one enc, put directly under <message>. */
	int			 retry;
	uint32_t		 retry_count;	/* enc count= */
	uint64_t		 t;		/* original t (0 = none) */
	const struct jid	*participant;	/* retry: the receipt's */
	const struct jid	*recipient;
};

/* Build the outgoing <message>.  *out = NULL on error. */
int	msg_node_build_send(const struct msg_node_send *, struct binnode **out);

/* ------------------------------------------------------------ receiving */

struct msg_in_enc {
	char		 type[16];	/* pkmsg, msg, skmsg, msmsg */
	int		 v;		/* 2 or 3 */
	uint32_t	 count;		/* retry count, 0 = none */
	char		 mediatype[24];
	int		 hide_fail;
	const uint8_t	*ct;		/* points into the node */
	size_t		 ctlen;
};

struct msg_in {
	char		 id[MSGID_MAX];
	/* Informational attributes are cut to their buffer, never fatal. */
	char		 type[32];		/* text, media, reaction, ... */
	char		 category[16];		/* "peer" or "" */
	char		 edit[8];
	char		 addressing_mode[8];
	char		 notify[MSG_NODE_NOTIFY_MAX];	/* push name, "" */
	uint64_t	 t;
	int		 offline;
	struct jid	 from;			/* as received */
	struct jid	 chat;			/* bare chat JID */
	struct jid	 sender;		/* author device JID */
	int		 has_participant, has_recipient, has_sender_alt;
	struct jid	 participant, recipient;
	struct jid	 sender_alt;		/* sender_lid/_pn, participant_* */
	int		 is_group;		/* g.us or broadcast */
	int		 is_from_me;		/* sent by our other device */
	int		 is_newsletter;
	struct msg_in_enc enc[MSG_NODE_MAX_ENC];
	size_t		 nenc;
	uint32_t	 retry_count;		/* highest enc count */
	int		 unavailable;		/* <unavailable/> child */
	const uint8_t	*plaintext;		/* newsletter <plaintext> */
	size_t		 plaintextlen;
};

/*
 * Parse an incoming <message>.  own_pn / own_lid (either NULL) decide
 * is_from_me (user part compared).  0, or MSG_NODE_EINVAL (wrong tag, no
 * id/from, bad JID, group without participant, enc without bytes, bad v),
 * MSG_NODE_ELIMIT (more than MSG_NODE_MAX_ENC encs).
 */
int	msg_node_parse(const struct binnode *, const struct jid *own_pn,
	    const struct jid *own_lid, struct msg_in *);

/* Incoming <receipt> (delivery/read/retry of what we sent). */
struct msg_receipt_in {
	char		 type[16];	/* "" = delivered */
	struct jid	 from, chat, sender;
	int		 has_participant, has_recipient;
	struct jid	 participant, recipient;
	uint64_t	 t;
	size_t		 nids;
	char		 ids[MSG_NODE_MAX_IDS][MSGID_MAX];
	int		 is_group;
	uint32_t	 retry_count;	/* type="retry": <retry count> */
};
/* 0 or MSG_NODE_EINVAL / _ELIMIT.  The struct is large (~32 KiB). */
int	msg_node_parse_receipt(const struct binnode *, struct msg_receipt_in *);

/* ------------------------------------------------------------ replies */

/* Delivery-receipt type for a parsed message: NULL (normal), "sender"
 * (from our other device), "peer_msg" (category peer), "inactive" (we
 * are not available, §6.5). */
const char *msg_node_delivery_type(const struct msg_in *, int available);

/* <receipt id to=from [participant] [recipient] [type]/> for a stanza. */
struct binnode *msg_node_receipt(const struct binnode *stanza,
	    const char *type);

/* Read/played receipt: ids[0] in id=, the rest in <list><item id/>.
 * participant: the sender in groups (NULL for 1:1).  type "read",
 * "read-self", "played".  NULL if n is 0 or too large. */
struct binnode *msg_node_read_receipt(const struct jid *chat,
	    const struct jid *participant, const char *const *ids, size_t n,
	    uint64_t t, const char *type);

/* What a retry receipt carries in <keys> (count > 1). */
struct msg_retry_keys {
	uint8_t		 identity_pub[32];
	uint32_t	 prekey_id;
	uint8_t		 prekey_pub[32];
	uint32_t	 signed_prekey_id;
	uint8_t		 signed_prekey_pub[32];
	uint8_t		 signed_prekey_sig[64];
	const uint8_t	*device_identity;	/* account blob */
	size_t		 device_identity_len;
};

/* <receipt type="retry" id to [participant] [recipient]><retry count id t
 * v="1"/><registration>regid BE32</registration>[<keys>…</keys>]
 * </receipt> (§8.3); keys NULL to leave them out. */
struct binnode *msg_node_retry_receipt(const struct binnode *stanza,
	    uint32_t count, uint32_t registration_id,
	    const struct msg_retry_keys *keys);

/* <ack id class=<tag> to=<from> [participant] [recipient] [type (not for
 * class message)] [error]/> (§6.6); error 0 = none. */
struct binnode *msg_node_ack(const struct binnode *stanza, int error);

#endif
