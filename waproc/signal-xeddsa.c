/*
 * signal-xeddsa.c - XEdDSA sign/verify (Signal's "curve25519 signatures")
 * on top of libsodium's Ed25519 group and scalar arithmetic; the Montgomery
 * to Edwards coordinate conversion uses OpenSSL BIGNUMs (public data only).
 * Holds no state, never logs.
 */
#include <string.h>

#include <openssl/bn.h>
#include <sodium.h>

#include "signal-xeddsa.h"

/* p = 2^255 - 19, big-endian. */
static const uint8_t xeddsa_p_be[32] = {
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xed
};

/* Reduce a 32-byte little-endian number modulo the group order L. */
static void
xeddsa_reduce32(uint8_t out[32], const uint8_t in[32])
{
	uint8_t wide[64];

	memset(wide, 0, sizeof(wide));
	memcpy(wide, in, 32);
	crypto_core_ed25519_scalar_reduce(out, wide);
	sodium_memzero(wide, sizeof(wide));
}

int
signal_xeddsa_sign(const uint8_t priv[32], const uint8_t *msg, size_t len,
    const uint8_t random[64], uint8_t sig[64])
{
	crypto_hash_sha512_state hs;
	uint8_t a[32], A[32], r[32], h[64], hr[32], prefix[32];
	int rc = -1;

	memset(sig, 0, 64);
	if (msg == NULL && len > 0)
		goto out;
	xeddsa_reduce32(a, priv);
	if (crypto_scalarmult_ed25519_base_noclamp(A, a) != 0)
		goto out;
	if (A[31] & 0x80) {
		/* Force the sign bit to 0: use -a, whose point is -A. */
		crypto_core_ed25519_scalar_negate(a, a);
		A[31] &= 0x7f;
	}
	/* r = hash1(a || M || Z) mod L; hash1 prefix = 0xFE, 0xFF * 31 */
	memset(prefix, 0xff, sizeof(prefix));
	prefix[0] = 0xfe;
	crypto_hash_sha512_init(&hs);
	crypto_hash_sha512_update(&hs, prefix, sizeof(prefix));
	crypto_hash_sha512_update(&hs, a, sizeof(a));
	crypto_hash_sha512_update(&hs, msg, len);
	crypto_hash_sha512_update(&hs, random, 64);
	crypto_hash_sha512_final(&hs, h);
	crypto_core_ed25519_scalar_reduce(r, h);
	if (crypto_scalarmult_ed25519_base_noclamp(sig, r) != 0)
		goto out;
	/* h = SHA512(R || A || M) mod L; s = r + h a */
	crypto_hash_sha512_init(&hs);
	crypto_hash_sha512_update(&hs, sig, 32);
	crypto_hash_sha512_update(&hs, A, 32);
	crypto_hash_sha512_update(&hs, msg, len);
	crypto_hash_sha512_final(&hs, h);
	crypto_core_ed25519_scalar_reduce(hr, h);
	crypto_core_ed25519_scalar_mul(hr, hr, a);
	crypto_core_ed25519_scalar_add(sig + 32, hr, r);
	rc = 0;
out:
	if (rc != 0)
		memset(sig, 0, 64);
	sodium_memzero(a, sizeof(a));
	sodium_memzero(r, sizeof(r));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(hr, sizeof(hr));
	sodium_memzero(&hs, sizeof(hs));
	return rc;
}

/* Edwards y = (u - 1) / (u + 1) mod p, little-endian in and out. */
static int
xeddsa_mont_to_edy(uint8_t y[32], const uint8_t u_le[32])
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p, *u, *num, *den, *res;
	uint8_t tmp[32];
	int rc = -1, i;

	if (ctx == NULL)
		return -1;
	BN_CTX_start(ctx);
	p = BN_CTX_get(ctx);
	u = BN_CTX_get(ctx);
	num = BN_CTX_get(ctx);
	den = BN_CTX_get(ctx);
	res = BN_CTX_get(ctx);
	if (res == NULL)
		goto out;
	for (i = 0; i < 32; i++)
		tmp[i] = u_le[31 - i];
	tmp[0] &= 0x7f;
	if (BN_bin2bn(xeddsa_p_be, 32, p) == NULL ||
	    BN_bin2bn(tmp, 32, u) == NULL ||
	    !BN_nnmod(u, u, p, ctx) ||
	    !BN_mod_sub(num, u, BN_value_one(), p, ctx) ||
	    !BN_mod_add(den, u, BN_value_one(), p, ctx))
		goto out;
	if (BN_is_zero(den))
		goto out;
	if (BN_mod_inverse(den, den, p, ctx) == NULL ||
	    !BN_mod_mul(res, num, den, p, ctx) ||
	    BN_bn2binpad(res, tmp, 32) != 32)
		goto out;
	for (i = 0; i < 32; i++)
		y[i] = tmp[31 - i];
	rc = 0;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return rc;
}

int
signal_xeddsa_verify(const uint8_t pub[32], const uint8_t *msg, size_t len,
    const uint8_t sig[64])
{
	uint8_t edpub[32], s[64];

	if (msg == NULL && len > 0)
		return -1;
	if (xeddsa_mont_to_edy(edpub, pub) != 0)
		return -1;
	edpub[31] &= 0x7f;
	edpub[31] |= sig[63] & 0x80;
	memcpy(s, sig, 64);
	s[63] &= 0x7f;
	if (crypto_sign_ed25519_verify_detached(s, msg, len, edpub) != 0)
		return -1;
	return 0;
}
