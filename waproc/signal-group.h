/*
 * signal-group.h - Signal sender keys for groups and status broadcasts
 * (PROTOCOL.md §7.6, §8.2, §11), wire-compatible with libsignal's groups
 * package (skmsg = 0x33 || SenderKeyMessage || XEdDSA signature; SKDM =
 * 0x33 || SenderKeyDistributionMessage; keys via HKDF "WhisperGroup").
 *
 * One sender-key record per sender key name (group JID, sender address):
 * an opaque blob, up to SIGNAL_GROUP_MAX_STATES key states, newest first.
 * Like signal-session.h these are pure functions: each change returns a
 * NEW blob the caller stores atomically with whatever it commits; on error
 * the old blob is untouched.  Outputs are xmalloc'd; free blobs and
 * plaintext with signal_free_secret().  Errors: SIGNAL_ERR_*.  Never logs.
 *
 *   sending:  no record for (group, us) -> signal_group_create; every
 *             message: signal_group_skdm (send it pairwise inside
 *             Message.senderKeyDistributionMessage) and
 *             signal_group_encrypt (enc type="skmsg").
 *   receiving: SKDM from a pairwise message -> signal_group_process_skdm
 *             on (group, sender)'s record; skmsg -> signal_group_decrypt.
 */
#ifndef WAPROC_SIGNAL_GROUP_H
#define WAPROC_SIGNAL_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "signal-keys.h"

#define SIGNAL_GROUP_MAX_STATES	5
#define SIGNAL_GROUP_MAX_SKIP	2000

/* A new record holding our own fresh sender key (random id, chain key
 * and signing pair), iteration 0. */
int	signal_group_create(uint8_t **state, size_t *statelen);

/* The SKDM for our record's newest state, at its current iteration. */
int	signal_group_skdm(const uint8_t *state, size_t statelen,
	    uint8_t **skdm, size_t *skdmlen);

/*
 * Add a received SKDM to a sender's record (state NULL/0: none yet).  An
 * SKDM for a key we already hold (same id and signing key) leaves that
 * state as it is, so re-sent SKDMs (whatsmeow sends one with every
 * message) neither rewind the chain nor allow replays.
 */
int	signal_group_process_skdm(const uint8_t *state, size_t statelen,
	    const uint8_t *skdm, size_t skdmlen, uint8_t **newstate,
	    size_t *newstatelen);

/* Encrypt (padded) plain with our newest state: skmsg bytes in *ct. */
int	signal_group_encrypt(const uint8_t *state, size_t statelen,
	    const uint8_t *plain, size_t plainlen, uint8_t **ct, size_t *ctlen,
	    uint8_t **newstate, size_t *newstatelen);

/*
 * Decrypt an skmsg.  SIGNAL_ERR_NO_SESSION: no state with its key id (ask
 * for a retry: the SKDM never arrived); SIGNAL_ERR_SIGNATURE;
 * SIGNAL_ERR_DUPLICATE (ignore); SIGNAL_ERR_FUTURE.
 */
int	signal_group_decrypt(const uint8_t *state, size_t statelen,
	    const uint8_t *ct, size_t ctlen, uint8_t **plain, size_t *plainlen,
	    uint8_t **newstate, size_t *newstatelen);

/* Key id of an skmsg or SKDM without decrypting (0 or SIGNAL_ERR_*). */
int	signal_group_key_id(const uint8_t *msg, size_t len, int is_skdm,
	    uint32_t *key_id, uint32_t *iteration);

#endif
