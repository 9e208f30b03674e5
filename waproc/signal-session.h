/*
 * signal-session.h - pairwise Signal sessions (PROTOCOL.md §11): X3DH and
 * the double ratchet, wire-compatible with libsignal (v3, version byte
 * 0x33, AES-256-CBC + 8-byte HMAC-SHA256 over both identity keys).
 *
 * Pure functions over state blobs.  A session record (one per peer device
 * address, holding the current session and up to SIGNAL_SESSION_ARCHIVED
 * older ones) is an opaque byte string the caller stores.  Every call that
 * changes a session takes the old blob and returns a NEW blob; nothing is
 * persisted here.  Commit the new blob in the same transaction that marks
 * the stanza handled (and, for a pkmsg with *prekey_used, deletes the
 * one-time prekey); on failure the old blob stays valid and unchanged.
 *
 * Calls for one address must be serialized by the caller (read blob, call,
 * commit), as must calls for one sender-key name in signal-group.h.
 *
 * All output buffers are xmalloc'd and owned by the caller: free state
 * blobs and plaintext with signal_free_secret(p, len) (they hold keys /
 * content).  Errors are SIGNAL_ERR_* (signal-keys.h).  Never logs.
 *
 * Typical use
 *   send:  no record -> fetch bundle -> signal_session_initiate;
 *          signal_session_encrypt -> enc type="pkmsg" (type 3) until the
 *          peer replies, then "msg" (type 2).
 *   recv:  "pkmsg": signal_pkmsg_parse (ids, sender identity), look up our
 *          signed prekey and one-time prekey by id (NULL if gone), then
 *          signal_session_decrypt_pkmsg.  "msg": signal_session_decrypt_msg.
 */
#ifndef WAPROC_SIGNAL_SESSION_H
#define WAPROC_SIGNAL_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "signal-keys.h"

#define SIGNAL_MSG_TYPE_MSG	2	/* enc type="msg" */
#define SIGNAL_MSG_TYPE_PKMSG	3	/* enc type="pkmsg" */
#define SIGNAL_VERSION_BYTE	0x33
#define SIGNAL_MAX_SKIP		2000	/* future window and stored keys */
#define SIGNAL_MAX_RECV_CHAINS	5
#define SIGNAL_SESSION_ARCHIVED	10
#define SIGNAL_MSG_MAX		(16 * 1024 * 1024)	/* ciphertext cap */
#define SIGNAL_STATE_MAX	(8 * 1024 * 1024)	/* blob cap */

/* A peer's prekey bundle (keys raw 32 bytes, as in the XML <user> node). */
struct signal_bundle {
	uint32_t	registration_id;
	uint8_t		identity_pub[SIGNAL_KEY_LEN];
	uint32_t	signed_prekey_id;
	uint8_t		signed_prekey_pub[SIGNAL_KEY_LEN];
	uint8_t		signed_prekey_sig[SIGNAL_SIG_LEN];
	int		has_prekey;		/* one-time <key> present */
	uint32_t	prekey_id;
	uint8_t		prekey_pub[SIGNAL_KEY_LEN];
};

/* What a pkmsg says about itself (before any decryption). */
struct signal_pkmsg_info {
	uint32_t	registration_id;
	int		has_prekey_id;
	uint32_t	prekey_id;
	uint32_t	signed_prekey_id;
	uint8_t		identity_pub[SIGNAL_KEY_LEN];	/* sender identity */
	uint8_t		base_key[SIGNAL_KEY_LEN];
};

/* Summary of a record's current session. */
struct signal_session_info {
	int		has_session;
	int		pending_prekey;		/* next encrypt gives pkmsg */
	uint32_t	local_registration_id;
	uint32_t	remote_registration_id;
	uint8_t		remote_identity[SIGNAL_KEY_LEN];
	size_t		archived;		/* older sessions kept */
};

/*
 * Start a session as initiator from a peer's bundle (verifies the signed
 * prekey signature: SIGNAL_ERR_SIGNATURE).  old/oldlen: the existing
 * record or NULL/0; its current session is archived.
 */
int	signal_session_initiate(const struct signal_keypair *our_identity,
	    uint32_t our_registration_id, const struct signal_bundle *,
	    const uint8_t *old, size_t oldlen, uint8_t **state,
	    size_t *statelen);

/*
 * Encrypt plain (already padded, §7.2) with the record's current session.
 * *type is SIGNAL_MSG_TYPE_PKMSG or SIGNAL_MSG_TYPE_MSG.  The new record
 * must be stored even if the message is never sent.
 */
int	signal_session_encrypt(const uint8_t *state, size_t statelen,
	    const uint8_t *plain, size_t plainlen, int *type, uint8_t **ct,
	    size_t *ctlen, uint8_t **newstate, size_t *newstatelen);

/* Parse a pkmsg's header fields.  0 or SIGNAL_ERR_INVALID/_VERSION/_KEY. */
int	signal_pkmsg_parse(const uint8_t *ct, size_t len,
	    struct signal_pkmsg_info *);

/*
 * Decrypt a pkmsg.  state: existing record or NULL/0.  signed_prekey: our
 * pair with the id the pkmsg names; prekey: our one-time pair with its
 * prekey id, NULL if the pkmsg names none or it is gone.  If the record
 * already holds the session this pkmsg belongs to (a second pkmsg before
 * we replied) no prekey is needed.  *prekey_used = 1 when the one-time
 * prekey was consumed: delete it with the commit.  SIGNAL_ERR_NO_PREKEY
 * when a needed key was not given.
 */
int	signal_session_decrypt_pkmsg(const struct signal_keypair *our_identity,
	    uint32_t our_registration_id,
	    const struct signal_keypair *signed_prekey,
	    const struct signal_keypair *prekey,
	    const uint8_t *state, size_t statelen, const uint8_t *ct,
	    size_t ctlen, uint8_t **plain, size_t *plainlen,
	    uint8_t **newstate, size_t *newstatelen, int *prekey_used);

/*
 * Decrypt a msg with the record (current session, then archived ones).
 * SIGNAL_ERR_DUPLICATE for a message key already used (ignore the stanza),
 * SIGNAL_ERR_NO_SESSION without a record.
 */
int	signal_session_decrypt_msg(const uint8_t *state, size_t statelen,
	    const uint8_t *ct, size_t ctlen, uint8_t **plain, size_t *plainlen,
	    uint8_t **newstate, size_t *newstatelen);

/* Summary of a record; 0, or SIGNAL_ERR_STATE for a corrupt blob. */
int	signal_session_info(const uint8_t *state, size_t statelen,
	    struct signal_session_info *);

#endif
