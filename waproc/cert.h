/*
 * cert.h - WhatsApp's Noise server certificate chain (PROTOCOL.md 1.4).
 *
 * The decrypted ServerHello payload is a CertChain {leaf, intermediate};
 * each certificate is serialized Details {serial, issuerSerial, key,
 * notBefore, notAfter} plus a 64-byte XEdDSA signature over those bytes.
 * cert_verify_chain does every check whatsmeow does: intermediate signed by
 * the root, intermediate issuerSerial 0, leaf signed by the intermediate key,
 * leaf issuerSerial == intermediate serial, both validity windows, and
 * leaf key == the server's Noise static key.
 *
 * The root is WhatsApp's real key, compiled in.  Only tests and the fake
 * server replace it (config WA_CERT_ROOT=<hex>, or cert_set_root), and
 * doing so logs a loud warning.  cert_create_chain makes chains signed by
 * any root private key, for the fake server and tests.
 * Nothing here does I/O besides that warning, or logs key material.
 */
#ifndef WAPROC_CERT_H
#define WAPROC_CERT_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define CERT_KEY_LEN		32
#define CERT_SIG_LEN		64
#define CERT_CHAIN_MAX		8192	/* larger chains are rejected */
#define CERT_ROOT_ISSUER_SERIAL	0	/* intermediate.issuerSerial */

#define CERT_OK			0
#define CERT_EMALFORMED		(-1)	/* not a CertChain / missing fields */
#define CERT_ESIG_ROOT		(-2)	/* intermediate not signed by root */
#define CERT_EISSUER		(-3)	/* issuer serial mismatch */
#define CERT_ESIG_LEAF		(-4)	/* leaf not signed by intermediate */
#define CERT_EEXPIRED		(-5)	/* outside notBefore..notAfter */
#define CERT_EKEY		(-6)	/* leaf key != server static key */
#define CERT_EINVAL		(-7)	/* bad argument */

/* WhatsApp's root public key (Curve25519, 32 bytes). */
extern const uint8_t cert_wa_root_key[CERT_KEY_LEN];

const char	*cert_strerror(int err);

/*
 * Verify chain against the current root (see cert_root): 0 or CERT_E*.
 * server_static: the key decrypted from ServerHello.static; now: unix time.
 */
int	 cert_verify_chain(const uint8_t *chain, size_t len,
	    const uint8_t server_static[CERT_KEY_LEN], uint64_t now);
/* Same against an explicit root public key (no global state). */
int	 cert_verify_chain_root(const uint8_t *chain, size_t len,
	    const uint8_t server_static[CERT_KEY_LEN], uint64_t now,
	    const uint8_t root[CERT_KEY_LEN]);

/* The root in use: WhatsApp's unless replaced below. */
const uint8_t	*cert_root(void);
int		 cert_root_is_test(void);
/* Replace the root (tests / fake server); logs a loud warning. */
void		 cert_set_root(const uint8_t root[CERT_KEY_LEN]);
/* 64 hex digits; 0 or CERT_EINVAL (root unchanged). */
int		 cert_set_root_hex(const char *hex);
/* Back to WhatsApp's key. */
void		 cert_reset_root(void);
/*
 * Apply config WA_CERT_ROOT: empty keeps WhatsApp's key; otherwise a test
 * root (warned).  Returns 0, or CERT_EINVAL when the value is malformed
 * (the real root is kept, so a typo never weakens verification).
 */
int		 cert_root_from_config(void);

/* What cert_create_chain writes into the two Details. */
struct cert_params {
	uint32_t	int_serial;
	uint32_t	int_issuer_serial;	/* 0 for a valid chain */
	uint64_t	int_not_before;
	uint64_t	int_not_after;
	uint32_t	leaf_serial;
	uint32_t	leaf_issuer_serial;	/* == int_serial when valid */
	uint64_t	leaf_not_before;
	uint64_t	leaf_not_after;
};

/* Valid defaults: serials 7 / 99, valid from now-1d to now+365d. */
void	 cert_params_default(struct cert_params *, uint64_t now);
/*
 * Serialize a CertChain: intermediate (key = pub of int_priv) signed by
 * root_priv, leaf (key = leaf_pub, the server's Noise static public key)
 * signed by int_priv.  Appends to out.  0, or CERT_EINVAL.
 */
int	 cert_create_chain(const uint8_t root_priv[CERT_KEY_LEN],
	    const uint8_t int_priv[CERT_KEY_LEN],
	    const uint8_t leaf_pub[CERT_KEY_LEN],
	    const struct cert_params *, struct buf *out);

#endif
