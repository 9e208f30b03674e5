/*
 * signal-keys.h - Curve25519 keys as the Signal protocol uses them, and the
 * few symmetric primitives every Signal/WhatsApp layer shares.
 *
 * Key pairs are X25519 (RFC 7748); private keys are always clamped.  Inside
 * Signal protobufs a public key is 33 bytes, the DJB type byte 0x05 followed
 * by the raw 32 bytes (signal_pub_serialize / signal_pub_parse); XML nodes
 * and pairing use the raw 32 bytes.  Signatures are XEdDSA (64 bytes); a
 * signed prekey's signature covers the 33-byte form of its public key.
 *
 * This file holds no state, does no I/O and never logs key material.
 */
#ifndef WAPROC_SIGNAL_KEYS_H
#define WAPROC_SIGNAL_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define SIGNAL_DJB_TYPE		0x05
#define SIGNAL_KEY_LEN		32
#define SIGNAL_PUB_SER_LEN	33
#define SIGNAL_SIG_LEN		64
#define SIGNAL_PREKEY_ID_MAX	0xFFFFFE	/* 0xFFFFFF means "none" */

/* Error codes shared by signal-keys, signal-session and signal-group. */
#define SIGNAL_ERR_INVALID	(-1)	/* malformed input / bad argument */
#define SIGNAL_ERR_KEY		(-2)	/* bad public key or DH result */
#define SIGNAL_ERR_SIGNATURE	(-3)	/* signature does not verify */
#define SIGNAL_ERR_MAC		(-4)	/* MAC mismatch / decryption fails */
#define SIGNAL_ERR_VERSION	(-5)	/* unsupported message version */
#define SIGNAL_ERR_NO_SESSION	(-6)	/* no usable session / sender key */
#define SIGNAL_ERR_DUPLICATE	(-7)	/* message key already used */
#define SIGNAL_ERR_FUTURE	(-8)	/* too far into the future */
#define SIGNAL_ERR_NO_PREKEY	(-9)	/* pkmsg needs a prekey not given */
#define SIGNAL_ERR_STATE	(-10)	/* corrupt state blob */
#define SIGNAL_ERR_CRYPTO	(-11)	/* library failure */

struct signal_keypair {
	uint8_t	pub[SIGNAL_KEY_LEN];
	uint8_t	priv[SIGNAL_KEY_LEN];	/* clamped scalar */
};

struct signal_signed_prekey {
	uint32_t		id;
	struct signal_keypair	kp;
	uint8_t			sig[SIGNAL_SIG_LEN];	/* over 0x05||pub */
};

struct signal_prekey {
	uint32_t		id;
	struct signal_keypair	kp;
};

/* Human-readable name of a SIGNAL_ERR_* code. */
const char	*signal_strerror(int err);

/* Keys. */
void	 signal_clamp(uint8_t priv[SIGNAL_KEY_LEN]);
void	 signal_keypair_generate(struct signal_keypair *);
/* Pair from a private key (clamped on the way in).  0 or SIGNAL_ERR_KEY. */
int	 signal_keypair_from_priv(struct signal_keypair *,
	    const uint8_t priv[SIGNAL_KEY_LEN]);
void	 signal_keypair_clear(struct signal_keypair *);
/* X25519; rejects an all-zero result (low-order peer key). */
int	 signal_dh(uint8_t out[SIGNAL_KEY_LEN],
	    const uint8_t priv[SIGNAL_KEY_LEN],
	    const uint8_t pub[SIGNAL_KEY_LEN]);
void	 signal_pub_serialize(uint8_t out[SIGNAL_PUB_SER_LEN],
	    const uint8_t pub[SIGNAL_KEY_LEN]);
/* Exactly 33 bytes starting with 0x05.  0 or SIGNAL_ERR_KEY. */
int	 signal_pub_parse(uint8_t pub[SIGNAL_KEY_LEN], const uint8_t *in,
	    size_t len);

/* Registration id, 14-bit range 1..16380 (valid for every client). */
uint32_t signal_registration_id_generate(void);

/* XEdDSA over msg with a Curve25519 key.  0 ok, SIGNAL_ERR_*. */
int	 signal_sign(const uint8_t priv[SIGNAL_KEY_LEN], const uint8_t *msg,
	    size_t len, uint8_t sig[SIGNAL_SIG_LEN]);
int	 signal_verify(const uint8_t pub[SIGNAL_KEY_LEN], const uint8_t *msg,
	    size_t len, const uint8_t sig[SIGNAL_SIG_LEN]);

/* Signed prekey: fresh pair, signature by the identity over 0x05||pub. */
int	 signal_signed_prekey_generate(struct signal_signed_prekey *,
	    const struct signal_keypair *identity, uint32_t id);
int	 signal_signed_prekey_verify(const uint8_t identity_pub[SIGNAL_KEY_LEN],
	    const uint8_t spk_pub[SIGNAL_KEY_LEN],
	    const uint8_t sig[SIGNAL_SIG_LEN]);
/*
 * count one-time prekeys with consecutive ids from start_id, wrapping
 * within 1..SIGNAL_PREKEY_ID_MAX.  Returns the id to use next time.
 */
uint32_t signal_prekeys_generate(struct signal_prekey *out, size_t count,
	    uint32_t start_id);

/* Prekey ids travel as 3-byte big-endian <id> elements in XML. */
void	 signal_id24_put(uint8_t out[3], uint32_t id);
/* 0, or SIGNAL_ERR_INVALID unless len == 3. */
int	 signal_id24_get(const uint8_t *in, size_t len, uint32_t *id);

/* Shared primitives (also used by media-crypto). */
void	 signal_hmac_sha256(uint8_t out[32], const uint8_t *key, size_t klen,
	    const uint8_t *msg, size_t len);
/* HKDF-SHA256 (RFC 5869); salt NULL = 32 zero bytes; olen <= 255*32. */
int	 signal_hkdf(uint8_t *out, size_t olen, const uint8_t *ikm,
	    size_t ikmlen, const uint8_t *salt, size_t saltlen,
	    const uint8_t *info, size_t infolen);
/*
 * AES-256-CBC with PKCS#7 padding.  *out is xmalloc'd (caller frees);
 * decrypt fails with SIGNAL_ERR_MAC on bad padding.
 */
int	 signal_aes_cbc_encrypt(const uint8_t key[32], const uint8_t iv[16],
	    const uint8_t *in, size_t len, uint8_t **out, size_t *outlen);
int	 signal_aes_cbc_decrypt(const uint8_t key[32], const uint8_t iv[16],
	    const uint8_t *in, size_t len, uint8_t **out, size_t *outlen);
/* Wipe then free (NULL-safe). */
void	 signal_free_secret(void *p, size_t len);

#endif
