/*
 * xeddsa.c - Signal's Curve25519 signatures (see xeddsa.h).
 *
 * Signing (libsignal curve25519_sign):
 *     A = aB                                  (a = clamped X25519 scalar)
 *     r = SHA512(0xFE 0xFF*31 || a || M || Z) mod L   (Z = 64 random bytes)
 *     R = rB,  h = SHA512(R || A || M) mod L,  s = r + h*a mod L
 *     sig = R || s, with the sign bit of A in the top bit of sig[63]
 * Verifying: y = (u - 1) / (u + 1) mod p gives the Edwards key; its sign
 * bit comes from sig[63]; then plain Ed25519 verification (libsodium).
 * This file touches no network data structures and keeps no state.
 */
#include <string.h>

#include <openssl/bn.h>
#include <sodium.h>

#include "xeddsa.h"

/* Edwards y (little endian, canonical) of the Montgomery u in pub. */
static int
xeddsa_mont_to_edy(const uint8_t pub[XEDDSA_KEY_LEN], uint8_t y[32])
{
	static const uint8_t p_le[32] = {
		0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
	};
	uint8_t ub[32];
	BN_CTX *ctx = NULL;
	BIGNUM *p, *u, *num, *den, *r;
	int rc = -1;

	memcpy(ub, pub, sizeof(ub));
	ub[31] &= 0x7f;			/* X25519 ignores the top bit */
	if ((ctx = BN_CTX_new()) == NULL)
		goto out;
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx);
	u = BN_CTX_get(ctx);
	num = BN_CTX_get(ctx);
	den = BN_CTX_get(ctx);
	r = BN_CTX_get(ctx);
	if (r == NULL ||
	    BN_lebin2bn(p_le, sizeof(p_le), p) == NULL ||
	    BN_lebin2bn(ub, sizeof(ub), u) == NULL ||
	    !BN_mod_sub(num, u, BN_value_one(), p, ctx) ||
	    !BN_mod_add(den, u, BN_value_one(), p, ctx))
		goto out;
	if (BN_is_zero(den)) {
		/* u = -1: the reference field inversion yields 0, so y = 0 */
		BN_zero(r);
	} else if (BN_mod_inverse(den, den, p, ctx) == NULL ||
	    !BN_mod_mul(r, num, den, p, ctx))
		goto out;
	if (BN_bn2lebinpad(r, y, 32) != 32)
		goto out;
	rc = 0;
out:
	if (ctx != NULL) {
		BN_CTX_end(ctx);
		BN_CTX_free(ctx);
	}
	return rc;
}

int
xeddsa_sign(const uint8_t priv[XEDDSA_KEY_LEN], const uint8_t *msg,
    size_t len, const uint8_t random[XEDDSA_RANDOM_LEN],
    uint8_t sig[XEDDSA_SIG_LEN])
{
	static const uint8_t prefix[32] = {
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	crypto_hash_sha512_state st;
	uint8_t a[32], wide[64], ared[32], A[32], Z[64], r[32], R[32];
	uint8_t h[32], ha[32], s[32];
	int rc = -1;

	memset(sig, 0, XEDDSA_SIG_LEN);
	if (msg == NULL && len != 0)
		return -1;
	memcpy(a, priv, sizeof(a));
	a[0] &= 248;
	a[31] &= 127;
	a[31] |= 64;
	if (crypto_scalarmult_ed25519_base_noclamp(A, a) != 0)
		goto out;
	if (random != NULL)
		memcpy(Z, random, sizeof(Z));
	else
		randombytes_buf(Z, sizeof(Z));

	/* r = SHA512(prefix || a || M || Z) mod L */
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, prefix, sizeof(prefix));
	crypto_hash_sha512_update(&st, a, sizeof(a));
	if (len)
		crypto_hash_sha512_update(&st, msg, len);
	crypto_hash_sha512_update(&st, Z, sizeof(Z));
	crypto_hash_sha512_final(&st, wide);
	crypto_core_ed25519_scalar_reduce(r, wide);
	if (crypto_scalarmult_ed25519_base_noclamp(R, r) != 0)
		goto out;

	/* h = SHA512(R || A || M) mod L */
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, R, sizeof(R));
	crypto_hash_sha512_update(&st, A, sizeof(A));
	if (len)
		crypto_hash_sha512_update(&st, msg, len);
	crypto_hash_sha512_final(&st, wide);
	crypto_core_ed25519_scalar_reduce(h, wide);

	/* s = r + h*a mod L */
	memset(wide, 0, sizeof(wide));
	memcpy(wide, a, sizeof(a));
	crypto_core_ed25519_scalar_reduce(ared, wide);
	crypto_core_ed25519_scalar_mul(ha, h, ared);
	crypto_core_ed25519_scalar_add(s, ha, r);

	memcpy(sig, R, 32);
	memcpy(sig + 32, s, 32);
	sig[63] &= 0x7f;		/* s < L < 2^253: bit already clear */
	sig[63] |= A[31] & 0x80;
	rc = 0;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(a, sizeof(a));
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(ared, sizeof(ared));
	sodium_memzero(Z, sizeof(Z));
	sodium_memzero(r, sizeof(r));
	sodium_memzero(ha, sizeof(ha));
	sodium_memzero(s, sizeof(s));
	return rc;
}

int
xeddsa_verify(const uint8_t pub[XEDDSA_KEY_LEN], const uint8_t *msg,
    size_t len, const uint8_t sig[XEDDSA_SIG_LEN])
{
	uint8_t edpk[32], s2[XEDDSA_SIG_LEN];
	static const uint8_t empty[1];

	if (pub == NULL || sig == NULL || (msg == NULL && len != 0))
		return -1;
	if (xeddsa_mont_to_edy(pub, edpk) != 0)
		return -1;
	edpk[31] &= 0x7f;
	edpk[31] |= sig[63] & 0x80;
	memcpy(s2, sig, sizeof(s2));
	s2[63] &= 0x7f;
	if (crypto_sign_ed25519_verify_detached(s2, msg ? msg : empty, len,
	    edpk) != 0)
		return -1;
	return 0;
}
