/*
 * pairing.h - the cryptography of linking a companion device (PROTOCOL.md
 * 5): the QR string, the pair-success device identity (ADV HMAC, account
 * signature check, our device signature), and the pair-code ("link with
 * phone number") key exchange.  Both sides are here: the companion (waproc)
 * and the primary phone that the fake server plays in tests.
 *
 * Crypto only: no sockets, no XML, no storage, no logging.  Random inputs
 * can be injected (tests); NULL means fresh randomness.  Secrets passed in
 * are never kept; temporary copies are wiped.
 */
#ifndef WAPROC_PAIRING_H
#define WAPROC_PAIRING_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define PAIRING_KEY_LEN		32
#define PAIRING_SIG_LEN		64
#define PAIRING_QR_PREFIX	"https://wa.me/settings/linked_devices#"
#define PAIRING_QR_MAX		512
#define PAIRING_REF_MAX		256
#define PAIRING_CODE_LEN	8		/* without the display dash */
#define PAIRING_CODE_ALPHABET	"123456789ABCDEFGHJKLMNPQRSTVWXYZ"
#define PAIRING_PBKDF2_ITER	131072		/* 2 << 16 */
#define PAIRING_WRAPPED_LEN	80		/* salt 32 || iv 16 || ct 32 */
#define PAIRING_BUNDLE_LEN	156		/* salt 32 || nonce 12 || gcm */
#define PAIRING_IDENTITY_MAX	1024		/* a device-identity blob */

#define PAIRING_OK		0
#define PAIRING_EINVAL		(-1)	/* bad argument */
#define PAIRING_EPARSE		(-2)	/* malformed protobuf / sizes */
#define PAIRING_EHMAC		(-3)	/* ADV HMAC mismatch */
#define PAIRING_ESIG		(-4)	/* account / device signature */
#define PAIRING_EKEY		(-5)	/* bad public key, DH, key mismatch */
#define PAIRING_EDECRYPT	(-6)	/* key bundle does not decrypt */
#define PAIRING_ECRYPTO		(-7)	/* library failure */

const char	*pairing_strerror(int err);
/* The <error code text> a companion answers pair-success with. */
void		 pairing_error_reply(int err, int *code, const char **text);

/* ------------------------------------------------------------- QR (5.1) */
/*
 * ref,b64(noise pub),b64(identity pub),b64(adv secret),platform behind
 * PAIRING_QR_PREFIX; b64 is standard base64 with padding.  platform_id:
 * "1" Chrome, ... (NULL: "1").  ref must be printable ASCII without ','.
 */
int	 pairing_qr_string(const char *ref, const uint8_t noise_pub[32],
	    const uint8_t identity_pub[32], const uint8_t adv_secret[32],
	    const char *platform_id, char *out, size_t outlen);

/* ----------------------------------------------- pair-success (5.1 step 6) */
/* HMAC-SHA256(adv_secret, [06 05 when hosted] || details). */
void	 pairing_adv_hmac(const uint8_t adv_secret[32], const uint8_t *details,
	    size_t len, int hosted, uint8_t out[32]);
/* Constant-time check; PAIRING_OK or PAIRING_EHMAC. */
int	 pairing_adv_hmac_verify(const uint8_t adv_secret[32],
	    const uint8_t *details, size_t len, int hosted,
	    const uint8_t *hmac, size_t hmaclen);

/* What a verified pair-success gives the companion. */
struct pairing_identity {
	uint32_t	 key_index;	/* <device-identity key-index=…> */
	uint32_t	 raw_id;
	uint64_t	 timestamp;
	int		 hosted;	/* deviceType == HOSTED */
	uint8_t		 account_key[32];	/* primary's identity: trust */
	/* ADVSignedDeviceIdentity with deviceSignature and
	 * accountSignatureKey: persist as the "account" blob */
	uint8_t		*account;
	size_t		 account_len;
	/* the same without accountSignatureKey: the reply's content */
	uint8_t		*reply;
	size_t		 reply_len;
};

/*
 * Process <device-identity> (ADVSignedDeviceIdentityHMAC bytes): check the
 * HMAC with adv_secret, the account signature over our identity key, and
 * sign it with our identity key.  0 or PAIRING_E*; answer failures with
 * pairing_error_reply.  Free with pairing_identity_free.
 */
int	 pairing_handle_identity(const uint8_t *in, size_t len,
	    const uint8_t adv_secret[32], const uint8_t identity_priv[32],
	    const uint8_t identity_pub[32], struct pairing_identity *);
void	 pairing_identity_free(struct pairing_identity *);

/* Primary side (fake server): build <device-identity> for a companion. */
struct pairing_account {
	uint8_t		account_priv[32];	/* primary identity key */
	uint32_t	raw_id;
	uint64_t	timestamp;
	uint32_t	key_index;
	int		hosted;
};
int	 pairing_make_identity(const struct pairing_account *,
	    const uint8_t companion_identity_pub[32],
	    const uint8_t adv_secret[32], struct buf *out);
/*
 * Primary side: check a companion's <pair-device-sign> device-identity
 * (ADVSignedDeviceIdentity without accountSignatureKey).  key_index may be
 * NULL.  0, PAIRING_EPARSE or PAIRING_ESIG.
 */
int	 pairing_verify_reply(const uint8_t *in, size_t len,
	    const uint8_t account_pub[32],
	    const uint8_t companion_identity_pub[32], uint32_t *key_index);

/* ------------------------------------------------------ pair code (5.2) */
/* 5 bytes -> 8 characters of PAIRING_CODE_ALPHABET (+ NUL). */
void	 pairing_code_encode(const uint8_t rnd[5],
	    char out[PAIRING_CODE_LEN + 1]);
void	 pairing_code_generate(char out[PAIRING_CODE_LEN + 1]);
/* 1 when code is 8 characters of the alphabet. */
int	 pairing_code_valid(const char *code);
/* "ABCD2345" -> "ABCD-2345" */
void	 pairing_code_display(const char *code, char out[PAIRING_CODE_LEN + 2]);
/* PBKDF2-HMAC-SHA256(code, salt, 131072, 32). */
int	 pairing_code_key(const char *code, const uint8_t salt[32],
	    uint8_t key[32]);
/*
 * salt(32) || iv(16) || AES-256-CTR(key(code, salt), iv, pub): the
 * wrapped ephemeral each side sends.  salt / iv NULL: random.
 */
int	 pairing_code_wrap(const char *code, const uint8_t salt[32],
	    const uint8_t iv[16], const uint8_t pub[32],
	    uint8_t out[PAIRING_WRAPPED_LEN]);
int	 pairing_code_unwrap(const char *code,
	    const uint8_t wrapped[PAIRING_WRAPPED_LEN], uint8_t pub[32]);

/* Randomness of companion_finish (tests); NULL: fresh. */
struct pairing_code_random {
	uint8_t		kb_salt[32];
	uint8_t		nonce[12];
	uint8_t		adv_random[32];
};

/*
 * Companion, step 5: from the primary's wrapped ephemeral and identity,
 * make the wrapped key bundle for companion_finish and the new adv secret
 * (which replaces the random one; pair-success's HMAC uses it).
 */
int	 pairing_code_companion_finish(const char *code,
	    const uint8_t companion_eph_priv[32],
	    const uint8_t wrapped_primary[PAIRING_WRAPPED_LEN],
	    const uint8_t primary_identity_pub[32],
	    const uint8_t identity_priv[32], const uint8_t identity_pub[32],
	    const struct pairing_code_random *rnd,
	    uint8_t bundle[PAIRING_BUNDLE_LEN], uint8_t adv_secret[32]);
/*
 * Primary (fake server): open the companion's key bundle.  The companion
 * ephemeral comes from pairing_code_unwrap of its hello.  Checks both
 * identity keys inside the bundle; gives the same adv secret.
 */
int	 pairing_code_primary_finish(const uint8_t primary_eph_priv[32],
	    const uint8_t companion_eph_pub[32],
	    const uint8_t primary_identity_priv[32],
	    const uint8_t primary_identity_pub[32],
	    const uint8_t companion_identity_pub[32],
	    const uint8_t bundle[PAIRING_BUNDLE_LEN], uint8_t adv_secret[32]);

#endif
