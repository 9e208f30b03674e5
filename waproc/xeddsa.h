/*
 * xeddsa.h - Curve25519 signatures as Signal and WhatsApp use them
 * ("XEdDSA", libsignal's curve25519_sign / curve25519_verify).
 *
 * The signer's X25519 private scalar a is used directly as an Ed25519
 * scalar; the sign bit of the Edwards public key A = aB travels in the
 * (otherwise unused) top bit of the signature's last byte.  The verifier
 * turns the Montgomery u of the X25519 public key into the Edwards y,
 * restores that sign bit and runs a standard Ed25519 verification.
 * Signatures made by libsignal (C, Java, Rust, npm) verify here and ours
 * verify there.
 *
 * Self-contained: libsodium's Ed25519 scalar/point primitives, OpenSSL
 * BIGNUM for the one field inversion of a public value.  No state, no I/O,
 * never logs key material.
 */
#ifndef WAPROC_XEDDSA_H
#define WAPROC_XEDDSA_H

#include <stddef.h>
#include <stdint.h>

#define XEDDSA_KEY_LEN		32
#define XEDDSA_SIG_LEN		64
#define XEDDSA_RANDOM_LEN	64

/*
 * Sign msg with an X25519 private key (clamped here; an already clamped key
 * is unchanged).  random: 64 bytes of fresh randomness, or NULL to draw
 * them from libsodium.  Returns 0, or -1 on a degenerate key.
 */
int	xeddsa_sign(const uint8_t priv[XEDDSA_KEY_LEN], const uint8_t *msg,
	    size_t len, const uint8_t random[XEDDSA_RANDOM_LEN],
	    uint8_t sig[XEDDSA_SIG_LEN]);

/* 0 when sig is a valid signature of msg by the X25519 key pub, else -1. */
int	xeddsa_verify(const uint8_t pub[XEDDSA_KEY_LEN], const uint8_t *msg,
	    size_t len, const uint8_t sig[XEDDSA_SIG_LEN]);

#endif
