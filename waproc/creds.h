/*
 * creds.h - one companion device's long-term credentials (PROTOCOL.md 5):
 * Noise static key, Signal identity key, signed prekey, registration id,
 * ADV secret, and what pairing taught us (own JID and LID, push name,
 * platform, the primary's account key and the signed device identity
 * "account" blob), plus the next one-time prekey id.
 *
 * A plain fixed-size struct (nothing to free; creds_clear wipes it) and a
 * versioned binary blob (creds_serialize / creds_deserialize) so the store
 * can keep it in one column.  The blob is TLV: "WACR", version byte, then
 * (tag u8, len u16 BE, value)*, ending with tag 0xFF holding a BLAKE2b-128
 * of everything before it (so truncation and corruption are refused);
 * unknown tags are skipped.  The parser
 * takes untrusted bytes.  No I/O, no logging of key material.
 */
#ifndef WAPROC_CREDS_H
#define WAPROC_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "jid.h"
#include "noise.h"
#include "pairing.h"
#include "signal-keys.h"

struct buf;

#define CREDS_NAME_MAX		64
#define CREDS_BLOB_MAX		4096
#define CREDS_VERSION		1

#define CREDS_OK		0
#define CREDS_EPARSE		(-1)	/* malformed blob */
#define CREDS_EVERSION		(-2)	/* unknown blob version */
#define CREDS_EKEY		(-3)	/* a key does not check out */
#define CREDS_ENOSPC		(-4)	/* output buffer cap */

struct creds {
	struct noise_keypair		noise;
	struct signal_keypair		identity;
	struct signal_signed_prekey	spk;
	uint32_t			registration_id;
	uint8_t				adv_secret[32];
	uint32_t			next_prekey_id;	/* next one-time id */
	int				prekeys_uploaded; /* first 812 done */
	/* Filled by pairing; jid "" = not paired (register with a QR). */
	char				jid[JID_STR_MAX];
	char				lid[JID_STR_MAX];
	char				push_name[CREDS_NAME_MAX];
	char				platform[CREDS_NAME_MAX];
	char				biz_name[CREDS_NAME_MAX];
	uint8_t				account_key[32];  /* primary identity */
	uint32_t			key_index;
	uint8_t				account[PAIRING_IDENTITY_MAX];
	size_t				account_len;
};

/* Fresh keys for a new device (not paired).  Never fails. */
void	creds_generate(struct creds *);
/* Wipe everything (keys included). */
void	creds_clear(struct creds *);
/* Forget the pairing but keep nothing either: a fresh device. */
void	creds_reset(struct creds *);
/* 1 when paired (jid set and parses as a PN device JID). */
int	creds_registered(const struct creds *);
/* Own JID parsed; 0 or -1. */
int	creds_jid(const struct creds *, struct jid *);

/* Append the blob to out.  0 or CREDS_ENOSPC. */
int	creds_serialize(const struct creds *, struct buf *out);
/* Parse a blob into c (cleared first; wiped on error).  0 or CREDS_E*. */
int	creds_deserialize(struct creds *c, const uint8_t *p, size_t len);
const char *creds_strerror(int);

#endif
