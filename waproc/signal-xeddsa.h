/*
 * signal-xeddsa.h - XEdDSA signatures with Curve25519 (Montgomery) keys, as
 * Signal uses them: 64-byte Ed25519-style signatures made with an X25519
 * private key and checked against an X25519 public key.
 *
 * Compatibility: signatures we make have the Edwards sign bit 0 (the
 * private scalar is negated when needed, per the XEdDSA paper), and the
 * verifier takes the sign bit from the top bit of sig[63], as libsignal-c
 * curve25519_verify, npm libsignal and go libsignal do, so signatures of
 * either style verify.  No state, no logging.
 */
#ifndef WAPROC_SIGNAL_XEDDSA_H
#define WAPROC_SIGNAL_XEDDSA_H

#include <stddef.h>
#include <stdint.h>

/* 0 ok, -1 failure.  priv is a clamped Curve25519 scalar. */
int	signal_xeddsa_sign(const uint8_t priv[32], const uint8_t *msg,
	    size_t len, const uint8_t random[64], uint8_t sig[64]);
/* 0 when sig is valid for msg under the Curve25519 key pub, else -1. */
int	signal_xeddsa_verify(const uint8_t pub[32], const uint8_t *msg,
	    size_t len, const uint8_t sig[64]);

#endif
