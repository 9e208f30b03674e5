/*
 * signal-keys.c - Curve25519 key pairs (X25519 via libsodium), the 0x05
 * serialization, XEdDSA signing of prekeys, registration ids, and the
 * shared HMAC/HKDF/AES-CBC primitives (OpenSSL EVP for AES).
 * Never logs; every temporary holding key material is wiped.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "log.h"
#include "signal-keys.h"
#include "xeddsa.h"
#include "xmalloc.h"

static const struct {
	int		 code;
	const char	*name;
} signal_errors[] = {
	{ 0,			"ok" },
	{ SIGNAL_ERR_INVALID,	"invalid input" },
	{ SIGNAL_ERR_KEY,	"invalid key" },
	{ SIGNAL_ERR_SIGNATURE,	"bad signature" },
	{ SIGNAL_ERR_MAC,	"bad MAC or ciphertext" },
	{ SIGNAL_ERR_VERSION,	"unsupported version" },
	{ SIGNAL_ERR_NO_SESSION, "no session" },
	{ SIGNAL_ERR_DUPLICATE,	"duplicate message" },
	{ SIGNAL_ERR_FUTURE,	"message too far in the future" },
	{ SIGNAL_ERR_NO_PREKEY,	"prekey missing" },
	{ SIGNAL_ERR_STATE,	"corrupt state" },
	{ SIGNAL_ERR_CRYPTO,	"crypto library failure" },
};

const char *
signal_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(signal_errors) / sizeof(signal_errors[0]); i++)
		if (signal_errors[i].code == err)
			return signal_errors[i].name;
	return "unknown error";
}

static void
signal_sodium_init(void)
{
	static int done;

	if (!done) {
		if (sodium_init() < 0)
			fatalx("sodium_init failed");
		done = 1;
	}
}

void
signal_clamp(uint8_t k[SIGNAL_KEY_LEN])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

void
signal_keypair_generate(struct signal_keypair *kp)
{
	signal_sodium_init();
	do {
		randombytes_buf(kp->priv, sizeof(kp->priv));
		signal_clamp(kp->priv);
	} while (crypto_scalarmult_base(kp->pub, kp->priv) != 0);
}

int
signal_keypair_from_priv(struct signal_keypair *kp,
    const uint8_t priv[SIGNAL_KEY_LEN])
{
	signal_sodium_init();
	memmove(kp->priv, priv, SIGNAL_KEY_LEN);
	signal_clamp(kp->priv);
	if (crypto_scalarmult_base(kp->pub, kp->priv) != 0) {
		signal_keypair_clear(kp);
		return SIGNAL_ERR_KEY;
	}
	return 0;
}

void
signal_keypair_clear(struct signal_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}

int
signal_dh(uint8_t out[SIGNAL_KEY_LEN], const uint8_t priv[SIGNAL_KEY_LEN],
    const uint8_t pub[SIGNAL_KEY_LEN])
{
	signal_sodium_init();
	if (crypto_scalarmult(out, priv, pub) != 0) {
		sodium_memzero(out, SIGNAL_KEY_LEN);
		return SIGNAL_ERR_KEY;
	}
	return 0;
}

void
signal_pub_serialize(uint8_t out[SIGNAL_PUB_SER_LEN],
    const uint8_t pub[SIGNAL_KEY_LEN])
{
	out[0] = SIGNAL_DJB_TYPE;
	memmove(out + 1, pub, SIGNAL_KEY_LEN);
}

int
signal_pub_parse(uint8_t pub[SIGNAL_KEY_LEN], const uint8_t *in, size_t len)
{
	if (in == NULL || len != SIGNAL_PUB_SER_LEN ||
	    in[0] != SIGNAL_DJB_TYPE)
		return SIGNAL_ERR_KEY;
	memcpy(pub, in + 1, SIGNAL_KEY_LEN);
	return 0;
}

uint32_t
signal_registration_id_generate(void)
{
	signal_sodium_init();
	return 1 + randombytes_uniform(16380);
}

int
signal_sign(const uint8_t priv[SIGNAL_KEY_LEN], const uint8_t *msg,
    size_t len, uint8_t sig[SIGNAL_SIG_LEN])
{
	uint8_t rnd[64];
	int rc;

	signal_sodium_init();
	randombytes_buf(rnd, sizeof(rnd));
	rc = xeddsa_sign(priv, msg, len, rnd, sig) == 0 ?
	    0 : SIGNAL_ERR_CRYPTO;
	sodium_memzero(rnd, sizeof(rnd));
	return rc;
}

int
signal_verify(const uint8_t pub[SIGNAL_KEY_LEN], const uint8_t *msg,
    size_t len, const uint8_t sig[SIGNAL_SIG_LEN])
{
	signal_sodium_init();
	return xeddsa_verify(pub, msg, len, sig) == 0 ?
	    0 : SIGNAL_ERR_SIGNATURE;
}

int
signal_signed_prekey_generate(struct signal_signed_prekey *spk,
    const struct signal_keypair *identity, uint32_t id)
{
	uint8_t ser[SIGNAL_PUB_SER_LEN];
	int rc;

	memset(spk, 0, sizeof(*spk));
	if (id == 0 || id > SIGNAL_PREKEY_ID_MAX)
		return SIGNAL_ERR_INVALID;
	spk->id = id;
	signal_keypair_generate(&spk->kp);
	signal_pub_serialize(ser, spk->kp.pub);
	if ((rc = signal_sign(identity->priv, ser, sizeof(ser), spk->sig)) != 0)
		sodium_memzero(spk, sizeof(*spk));
	return rc;
}

int
signal_signed_prekey_verify(const uint8_t identity_pub[SIGNAL_KEY_LEN],
    const uint8_t spk_pub[SIGNAL_KEY_LEN], const uint8_t sig[SIGNAL_SIG_LEN])
{
	uint8_t ser[SIGNAL_PUB_SER_LEN];

	signal_pub_serialize(ser, spk_pub);
	return signal_verify(identity_pub, ser, sizeof(ser), sig);
}

uint32_t
signal_prekeys_generate(struct signal_prekey *out, size_t count,
    uint32_t start_id)
{
	uint32_t id = start_id;
	size_t i;

	if (id == 0 || id > SIGNAL_PREKEY_ID_MAX)
		id = 1;
	for (i = 0; i < count; i++) {
		out[i].id = id;
		signal_keypair_generate(&out[i].kp);
		id = id >= SIGNAL_PREKEY_ID_MAX ? 1 : id + 1;
	}
	return id;
}

void
signal_id24_put(uint8_t out[3], uint32_t id)
{
	out[0] = (uint8_t)(id >> 16);
	out[1] = (uint8_t)(id >> 8);
	out[2] = (uint8_t)id;
}

int
signal_id24_get(const uint8_t *in, size_t len, uint32_t *id)
{
	*id = 0;
	if (in == NULL || len != 3)
		return SIGNAL_ERR_INVALID;
	*id = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
	return 0;
}

void
signal_hmac_sha256(uint8_t out[32], const uint8_t *key, size_t klen,
    const uint8_t *msg, size_t len)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, klen);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int
signal_hkdf(uint8_t *out, size_t olen, const uint8_t *ikm, size_t ikmlen,
    const uint8_t *salt, size_t saltlen, const uint8_t *info, size_t infolen)
{
	static const uint8_t zeros[32];
	crypto_auth_hmacsha256_state st;
	uint8_t prk[32], t[32];
	size_t done = 0, n;
	uint8_t ctr = 0;

	if (olen > 255 * 32)
		return SIGNAL_ERR_INVALID;
	if (salt == NULL) {
		salt = zeros;
		saltlen = sizeof(zeros);
	}
	signal_hmac_sha256(prk, salt, saltlen, ikm, ikmlen);
	while (done < olen) {
		ctr++;
		crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
		if (ctr > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof(t));
		if (infolen > 0)
			crypto_auth_hmacsha256_update(&st, info, infolen);
		crypto_auth_hmacsha256_update(&st, &ctr, 1);
		crypto_auth_hmacsha256_final(&st, t);
		n = olen - done < sizeof(t) ? olen - done : sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	return 0;
}

/* Run the whole input through ctx in int-sized pieces. */
static int
signal_aes_run(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
	size_t off = 0, chunk;
	size_t acc = 0;
	int n;

	while (off < len) {
		chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
		if (EVP_CipherUpdate(ctx, out + acc, &n, in + off,
		    (int)chunk) != 1)
			return -1;
		acc += (size_t)n;
		off += chunk;
	}
	if (EVP_CipherFinal_ex(ctx, out + acc, &n) != 1)
		return -1;
	acc += (size_t)n;
	*outlen = acc;
	return 0;
}

static int
signal_aes_cbc(int enc, const uint8_t key[32], const uint8_t iv[16],
    const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, got = 0;
	int rc = SIGNAL_ERR_CRYPTO;

	*out = NULL;
	*outlen = 0;
	if ((in == NULL && len > 0) || len > SIZE_MAX - 32)
		return SIGNAL_ERR_INVALID;
	if (!enc && (len == 0 || len % 16 != 0))
		return SIGNAL_ERR_MAC;
	cap = len + 16;
	buf = xmalloc(cap);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) != 1)
		goto out;
	if (signal_aes_run(ctx, in, len, buf, &got) != 0) {
		rc = enc ? SIGNAL_ERR_CRYPTO : SIGNAL_ERR_MAC;
		goto out;
	}
	*out = buf;
	*outlen = got;
	buf = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	signal_free_secret(buf, cap);
	return rc;
}

int
signal_aes_cbc_encrypt(const uint8_t key[32], const uint8_t iv[16],
    const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	return signal_aes_cbc(1, key, iv, in, len, out, outlen);
}

int
signal_aes_cbc_decrypt(const uint8_t key[32], const uint8_t iv[16],
    const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	return signal_aes_cbc(0, key, iv, in, len, out, outlen);
}

void
signal_free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	free(p);
}
