/*
 * hook-payload.h - message webhook bodies in GOWA v7.8.0's format
 * (SEED_API.md §4.1) plus the gateway's extras (API.md "Webhooks"):
 * every body also carries device_hash, device_jid, event and event_id.
 *
 *   event              when
 *   message            text, media, contact, location, ... (flat GOWA body)
 *   message.reaction   reactionMessage (flat body with "reaction")
 *   message.revoked    protocolMessage REVOKE (action "message_revoked")
 *   message.edited     protocolMessage MESSAGE_EDIT (action
 *                      "message_edited", edited_text)
 *   message.ack        delivered / read / read-self receipts
 *                      ({"event","timestamp","payload":{ids,…}})
 *   group.participants join / leave / promote / demote
 *
 * event_id is stable: 32 hex of SHA-256 over the device hash, the event
 * kind and what identifies the event (chat, message ids, sender, receipt
 * type), never over time of delivery or attempt, so a retried or
 * re-decrypted event keeps its id.
 *
 * hook_signature() gives the X-Hub-Signature-256 value "sha256=<hex>" of
 * HMAC-SHA256(secret, body); with an empty secret there is no header
 * (never the public default "secret").
 *
 * Pure: the caller does the I/O (media download into media_path, LID->PN
 * lookups through a callback).  Bodies are compact JSON, xmalloc'd.
 * Never logs.
 */
#ifndef WAPROC_HOOK_PAYLOAD_H
#define WAPROC_HOOK_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "jid.h"

struct msg_receipt_in;

#define HOOK_EVENT_ID_LEN	32	/* hex chars */
#define HOOK_SKIP		1	/* nothing to send for this input */
#define HOOK_EINVAL		(-1)

/* Find the phone-number JID of a LID user ("1234@lid" -> "5511…@s.whatsapp.
 * net"); 0 and out filled when known. */
typedef int (*hook_lid_lookup)(void *arg, const struct jid *lid,
    struct jid *pn);

/* The envelope of one decrypted message. */
struct hook_msg_env {
	const char	*device_hash;	/* 16 hex */
	const char	*device_jid;	/* our JID */
	const char	*id;		/* message id */
	struct jid	 chat;		/* bare chat JID */
	struct jid	 sender;	/* author device JID */
	int		 is_group;
	int		 is_from_me;
	int		 is_broadcast;	/* status@broadcast etc.: skipped */
	const char	*push_name;	/* notify attr, may be NULL */
	int64_t		 timestamp;	/* unix seconds (stanza t) */
	const struct jid *sender_pn;	/* PN of a @lid sender, NULL unknown */
	hook_lid_lookup	 lid_lookup;	/* for @lid mentions, may be NULL */
	void		*lid_arg;
	const char	*media_path;	/* where the caller stored the media,
					 * "statics/media/<ts>-<uuid>.<ext>" */
};

/*
 * Body for a decrypted Message (serialized, padding removed).  *event
 * gets the event name (static string).  0, HOOK_SKIP (nothing to report:
 * broadcast, SKDM-only, history sync, app-state keys, ephemeral sync
 * response), HOOK_EINVAL (does not decode / bad env).
 */
int	hook_message_payload(const struct hook_msg_env *, const uint8_t *msg,
	    size_t len, char **json, const char **event,
	    char event_id[HOOK_EVENT_ID_LEN + 1]);

/* message.ack body for an incoming receipt; HOOK_SKIP for types other
 * than delivered, read, read-self. */
int	hook_receipt_payload(const char *device_hash, const char *device_jid,
	    const struct msg_receipt_in *, int64_t timestamp, char **json,
	    char event_id[HOOK_EVENT_ID_LEN + 1]);

/* group.participants body; type "join", "leave", "promote", "demote". */
int	hook_group_payload(const char *device_hash, const char *device_jid,
	    const struct jid *group, const char *type, const struct jid *jids,
	    size_t n, int64_t timestamp, char **json,
	    char event_id[HOOK_EVENT_ID_LEN + 1]);

/* Stable id from parts (NULL-terminated list of strings). */
void	hook_event_id(char out[HOOK_EVENT_ID_LEN + 1], const char *device_hash,
	    const char *kind, ...) __attribute__((sentinel));

/*
 * X-Hub-Signature-256 value into out ("sha256=" + 64 hex, outsz >= 72).
 * Returns 1 when a header must be sent, 0 when secret is NULL or empty
 * (out = ""), -1 if out is too small.
 */
int	hook_signature(const char *secret, const void *body, size_t len,
	    char *out, size_t outsz);

/* The message inside the wrappers (sent-by-me, ephemeral, view-once,
 * document-with-caption, edited); *view_once set when one was view-once
 * (view_once may be NULL). */
struct Wamsg__Message;
const struct Wamsg__Message *hook_unwrap(const struct Wamsg__Message *,
	    int *view_once);

/* RFC 3339 in UTC ("2025-01-02T03:04:05Z"), as Go's time.RFC3339. */
void	hook_rfc3339(int64_t unix_secs, char *out, size_t outsz);

#endif
