/*
 * pairing.c - companion-device linking crypto (PROTOCOL.md 5): QR text,
 * ADV device identity (HMAC, account signature, device signature), the
 * pair-code PBKDF2/AES-CTR wrapping and key-bundle exchange, for the
 * companion and for the primary phone the fake server simulates.
 * Every protobuf here comes from the network: sizes are checked before
 * use and failures are returned, never logged or fatal.  Temporary secret
 * material is wiped before returning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "buf.h"
#include "xmalloc.h"
#include "noise.h"
#include "pairing.h"
#include "xeddsa.h"
#include "wa.pb-c.h"

static const uint8_t pairing_prefix_account[2] = { 6, 0 };
static const uint8_t pairing_prefix_device[2] = { 6, 1 };
static const uint8_t pairing_prefix_hosted_account[2] = { 6, 5 };
static const uint8_t pairing_prefix_hosted_device[2] = { 6, 6 };

static const char pairing_info_bundle[] =
    "link_code_pairing_key_bundle_encryption_key";
static const char pairing_info_adv[] = "adv_secret";

static const struct {
	int		 code;
	const char	*msg;
	int		 reply_code;
	const char	*reply_text;
} pairing_errors[] = {
	{ PAIRING_OK,		"ok",				0,   "" },
	{ PAIRING_EINVAL,	"invalid argument",		500, "internal-error" },
	{ PAIRING_EPARSE,	"malformed device identity",	500, "internal-error" },
	{ PAIRING_EHMAC,	"device identity HMAC mismatch", 401, "hmac-mismatch" },
	{ PAIRING_ESIG,		"signature does not verify",	401, "signature-mismatch" },
	{ PAIRING_EKEY,		"bad or mismatched key",	500, "internal-error" },
	{ PAIRING_EDECRYPT,	"key bundle does not decrypt",	500, "internal-error" },
	{ PAIRING_ECRYPTO,	"crypto library failure",	500, "internal-error" },
};

const char *
pairing_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(pairing_errors) / sizeof(pairing_errors[0]);
	    i++)
		if (pairing_errors[i].code == err)
			return pairing_errors[i].msg;
	return "unknown pairing error";
}

void
pairing_error_reply(int err, int *code, const char **text)
{
	size_t i;

	*code = 500;
	*text = "internal-error";
	for (i = 0; i < sizeof(pairing_errors) / sizeof(pairing_errors[0]);
	    i++)
		if (pairing_errors[i].code == err && err != PAIRING_OK) {
			*code = pairing_errors[i].reply_code;
			*text = pairing_errors[i].reply_text;
		}
}

/* ------------------------------------------------------------------ QR */

static int
pairing_token_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e || *s == ',')
			return 0;
	return 1;
}

int
pairing_qr_string(const char *ref, const uint8_t noise_pub[32],
    const uint8_t identity_pub[32], const uint8_t adv_secret[32],
    const char *platform_id, char *out, size_t outlen)
{
	char n64[64], i64[64], a64[64];
	int n, rc = PAIRING_EINVAL;

	if (out == NULL || outlen == 0)
		return PAIRING_EINVAL;
	out[0] = '\0';
	if (platform_id == NULL)
		platform_id = "1";
	if (!pairing_token_ok(ref, PAIRING_REF_MAX) ||
	    !pairing_token_ok(platform_id, 8) || noise_pub == NULL ||
	    identity_pub == NULL || adv_secret == NULL)
		return PAIRING_EINVAL;
	sodium_bin2base64(n64, sizeof(n64), noise_pub, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(i64, sizeof(i64), identity_pub, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(a64, sizeof(a64), adv_secret, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, outlen, "%s%s,%s,%s,%s,%s", PAIRING_QR_PREFIX, ref,
	    n64, i64, a64, platform_id);
	if (n < 0 || (size_t)n >= outlen) {
		sodium_memzero(out, outlen);
		goto out;
	}
	rc = PAIRING_OK;
out:
	sodium_memzero(a64, sizeof(a64));
	return rc;
}

/* --------------------------------------------------------- ADV identity */

void
pairing_adv_hmac(const uint8_t adv_secret[32], const uint8_t *details,
    size_t len, int hosted, uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, adv_secret, 32);
	if (hosted)
		crypto_auth_hmacsha256_update(&st,
		    pairing_prefix_hosted_account, 2);
	if (len)
		crypto_auth_hmacsha256_update(&st, details, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int
pairing_adv_hmac_verify(const uint8_t adv_secret[32], const uint8_t *details,
    size_t len, int hosted, const uint8_t *hmac, size_t hmaclen)
{
	uint8_t want[32];
	int rc = PAIRING_EHMAC;

	if (adv_secret == NULL || (details == NULL && len))
		return PAIRING_EINVAL;
	pairing_adv_hmac(adv_secret, details, len, hosted, want);
	if (hmac != NULL && hmaclen == sizeof(want) &&
	    sodium_memcmp(want, hmac, sizeof(want)) == 0)
		rc = PAIRING_OK;
	sodium_memzero(want, sizeof(want));
	return rc;
}

/* p2 || a || b || c into a fresh buffer (b, c optional). */
static uint8_t *
pairing_concat(const uint8_t p2[2], const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, const uint8_t *c, size_t clen,
    size_t *len)
{
	uint8_t *m = xmalloc(2 + alen + blen + clen);

	memcpy(m, p2, 2);
	if (alen)
		memcpy(m + 2, a, alen);
	if (blen)
		memcpy(m + 2 + alen, b, blen);
	if (clen)
		memcpy(m + 2 + alen + blen, c, clen);
	*len = 2 + alen + blen + clen;
	return m;
}

static uint8_t *
pairing_pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *p;

	*len = protobuf_c_message_get_packed_size(m);
	p = xmalloc(*len ? *len : 1);
	protobuf_c_message_pack(m, p);
	return p;
}

static int
pairing_is_hosted(int has, Wa__ADVEncryptionType t)
{
	return has && t == WA__ADVENCRYPTION_TYPE__HOSTED;
}

int
pairing_handle_identity(const uint8_t *in, size_t len,
    const uint8_t adv_secret[32], const uint8_t identity_priv[32],
    const uint8_t identity_pub[32], struct pairing_identity *pi)
{
	Wa__ADVSignedDeviceIdentityHMAC *c = NULL;
	Wa__ADVSignedDeviceIdentity *sd = NULL;
	Wa__ADVDeviceIdentity *di = NULL;
	ProtobufCBinaryData saved;
	protobuf_c_boolean saved_has;
	uint8_t *msg = NULL, devsig[PAIRING_SIG_LEN];
	size_t mlen = 0;
	int rc = PAIRING_EPARSE;

	if (pi == NULL)
		return PAIRING_EINVAL;
	memset(pi, 0, sizeof(*pi));
	if (adv_secret == NULL || identity_priv == NULL ||
	    identity_pub == NULL || (in == NULL && len))
		return PAIRING_EINVAL;
	if (len > PAIRING_IDENTITY_MAX)
		goto out;
	if ((c = wa__advsigned_device_identity_hmac__unpack(NULL, len,
	    in)) == NULL || !c->has_details || c->details.data == NULL ||
	    !c->has_hmac)
		goto out;
	if ((rc = pairing_adv_hmac_verify(adv_secret, c->details.data,
	    c->details.len, pairing_is_hosted(c->has_accounttype,
	    c->accounttype), c->hmac.data, c->hmac.len)) != PAIRING_OK)
		goto out;
	rc = PAIRING_EPARSE;
	if ((sd = wa__advsigned_device_identity__unpack(NULL, c->details.len,
	    c->details.data)) == NULL || !sd->has_details ||
	    sd->details.data == NULL)
		goto out;
	if ((di = wa__advdevice_identity__unpack(NULL, sd->details.len,
	    sd->details.data)) == NULL)
		goto out;
	pi->hosted = pairing_is_hosted(di->has_devicetype, di->devicetype);
	pi->key_index = di->keyindex;
	pi->raw_id = di->rawid;
	pi->timestamp = di->timestamp;

	/* the primary vouches for our identity key */
	rc = PAIRING_ESIG;
	if (!sd->has_accountsignaturekey ||
	    sd->accountsignaturekey.len != 32 ||
	    !sd->has_accountsignature || sd->accountsignature.len != 64)
		goto out;
	msg = pairing_concat(pi->hosted ? pairing_prefix_hosted_account :
	    pairing_prefix_account, sd->details.data, sd->details.len,
	    identity_pub, 32, NULL, 0, &mlen);
	if (xeddsa_verify(sd->accountsignaturekey.data, msg, mlen,
	    sd->accountsignature.data) != 0)
		goto out;
	free(msg);

	/* and we sign it back */
	msg = pairing_concat(pi->hosted ? pairing_prefix_hosted_device :
	    pairing_prefix_device, sd->details.data, sd->details.len,
	    identity_pub, 32, sd->accountsignaturekey.data, 32, &mlen);
	if (xeddsa_sign(identity_priv, msg, mlen, NULL, devsig) != 0) {
		rc = PAIRING_EKEY;
		goto out;
	}
	memcpy(pi->account_key, sd->accountsignaturekey.data, 32);
	saved = sd->devicesignature;
	saved_has = sd->has_devicesignature;
	sd->has_devicesignature = 1;
	sd->devicesignature.data = devsig;
	sd->devicesignature.len = sizeof(devsig);
	pi->account = pairing_pack(&sd->base, &pi->account_len);
	sd->has_accountsignaturekey = 0;
	pi->reply = pairing_pack(&sd->base, &pi->reply_len);
	/* hand protobuf-c back the fields it allocated, so it frees them */
	sd->has_accountsignaturekey = 1;
	sd->devicesignature = saved;
	sd->has_devicesignature = saved_has;
	rc = PAIRING_OK;
out:
	free(msg);
	if (di != NULL)
		wa__advdevice_identity__free_unpacked(di, NULL);
	if (sd != NULL)
		wa__advsigned_device_identity__free_unpacked(sd, NULL);
	if (c != NULL)
		wa__advsigned_device_identity_hmac__free_unpacked(c, NULL);
	if (rc != PAIRING_OK)
		pairing_identity_free(pi);
	return rc;
}

void
pairing_identity_free(struct pairing_identity *pi)
{
	if (pi == NULL)
		return;
	free(pi->account);
	free(pi->reply);
	memset(pi, 0, sizeof(*pi));
}

int
pairing_make_identity(const struct pairing_account *a,
    const uint8_t companion_identity_pub[32], const uint8_t adv_secret[32],
    struct buf *out)
{
	Wa__ADVDeviceIdentity di = WA__ADVDEVICE_IDENTITY__INIT;
	Wa__ADVSignedDeviceIdentity sd = WA__ADVSIGNED_DEVICE_IDENTITY__INIT;
	Wa__ADVSignedDeviceIdentityHMAC c =
	    WA__ADVSIGNED_DEVICE_IDENTITY_HMAC__INIT;
	uint8_t *inner = NULL, *signed_ = NULL, *outer = NULL, *msg = NULL;
	uint8_t apub[32], apriv[32], sig[64], mac[32];
	size_t ilen, slen, olen, mlen;
	int rc = PAIRING_EINVAL;

	if (a == NULL || companion_identity_pub == NULL ||
	    adv_secret == NULL || out == NULL)
		return PAIRING_EINVAL;
	memcpy(apriv, a->account_priv, 32);
	apriv[0] &= 248;
	apriv[31] &= 127;
	apriv[31] |= 64;
	if (crypto_scalarmult_base(apub, apriv) != 0) {
		rc = PAIRING_EKEY;
		goto out;
	}
	di.has_rawid = di.has_timestamp = di.has_keyindex = 1;
	di.rawid = a->raw_id;
	di.timestamp = a->timestamp;
	di.keyindex = a->key_index;
	if (a->hosted) {
		di.has_accounttype = di.has_devicetype = 1;
		di.accounttype = di.devicetype =
		    WA__ADVENCRYPTION_TYPE__HOSTED;
	}
	inner = pairing_pack(&di.base, &ilen);
	msg = pairing_concat(a->hosted ? pairing_prefix_hosted_account :
	    pairing_prefix_account, inner, ilen, companion_identity_pub, 32,
	    NULL, 0, &mlen);
	if (xeddsa_sign(apriv, msg, mlen, NULL, sig) != 0) {
		rc = PAIRING_EKEY;
		goto out;
	}
	sd.has_details = sd.has_accountsignaturekey = 1;
	sd.has_accountsignature = 1;
	sd.details.data = inner;
	sd.details.len = ilen;
	sd.accountsignaturekey.data = apub;
	sd.accountsignaturekey.len = 32;
	sd.accountsignature.data = sig;
	sd.accountsignature.len = 64;
	signed_ = pairing_pack(&sd.base, &slen);
	pairing_adv_hmac(adv_secret, signed_, slen, a->hosted, mac);
	c.has_details = c.has_hmac = 1;
	c.details.data = signed_;
	c.details.len = slen;
	c.hmac.data = mac;
	c.hmac.len = sizeof(mac);
	if (a->hosted) {
		c.has_accounttype = 1;
		c.accounttype = WA__ADVENCRYPTION_TYPE__HOSTED;
	}
	outer = pairing_pack(&c.base, &olen);
	rc = buf_append(out, outer, olen) == 0 ? PAIRING_OK : PAIRING_EINVAL;
out:
	sodium_memzero(apriv, sizeof(apriv));
	free(inner);
	free(signed_);
	free(outer);
	free(msg);
	return rc;
}

int
pairing_verify_reply(const uint8_t *in, size_t len,
    const uint8_t account_pub[32], const uint8_t companion_identity_pub[32],
    uint32_t *key_index)
{
	Wa__ADVSignedDeviceIdentity *sd = NULL;
	Wa__ADVDeviceIdentity *di = NULL;
	uint8_t *msg = NULL;
	size_t mlen;
	int hosted, rc = PAIRING_EPARSE;

	if (key_index != NULL)
		*key_index = 0;
	if (account_pub == NULL || companion_identity_pub == NULL ||
	    (in == NULL && len))
		return PAIRING_EINVAL;
	if (len > PAIRING_IDENTITY_MAX ||
	    (sd = wa__advsigned_device_identity__unpack(NULL, len,
	    in)) == NULL || !sd->has_details || sd->details.data == NULL ||
	    (di = wa__advdevice_identity__unpack(NULL, sd->details.len,
	    sd->details.data)) == NULL)
		goto out;
	hosted = pairing_is_hosted(di->has_devicetype, di->devicetype);
	rc = PAIRING_ESIG;
	if (!sd->has_devicesignature || sd->devicesignature.len != 64 ||
	    !sd->has_accountsignature || sd->accountsignature.len != 64)
		goto out;
	msg = pairing_concat(hosted ? pairing_prefix_hosted_account :
	    pairing_prefix_account, sd->details.data, sd->details.len,
	    companion_identity_pub, 32, NULL, 0, &mlen);
	if (xeddsa_verify(account_pub, msg, mlen,
	    sd->accountsignature.data) != 0)
		goto out;
	free(msg);
	msg = pairing_concat(hosted ? pairing_prefix_hosted_device :
	    pairing_prefix_device, sd->details.data, sd->details.len,
	    companion_identity_pub, 32, account_pub, 32, &mlen);
	if (xeddsa_verify(companion_identity_pub, msg, mlen,
	    sd->devicesignature.data) != 0)
		goto out;
	if (key_index != NULL)
		*key_index = di->keyindex;
	rc = PAIRING_OK;
out:
	free(msg);
	if (di != NULL)
		wa__advdevice_identity__free_unpacked(di, NULL);
	if (sd != NULL)
		wa__advsigned_device_identity__free_unpacked(sd, NULL);
	return rc;
}

/* ----------------------------------------------------------- pair code */

void
pairing_code_encode(const uint8_t rnd[5], char out[PAIRING_CODE_LEN + 1])
{
	static const char alphabet[] = PAIRING_CODE_ALPHABET;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 5; i++)
		v = v << 8 | rnd[i];
	for (i = 0; i < PAIRING_CODE_LEN; i++)
		out[i] = alphabet[(v >> (35 - 5 * i)) & 31];
	out[PAIRING_CODE_LEN] = '\0';
}

void
pairing_code_generate(char out[PAIRING_CODE_LEN + 1])
{
	uint8_t rnd[5];

	randombytes_buf(rnd, sizeof(rnd));
	pairing_code_encode(rnd, out);
	sodium_memzero(rnd, sizeof(rnd));
}

int
pairing_code_valid(const char *code)
{
	size_t i;

	if (code == NULL || strlen(code) != PAIRING_CODE_LEN)
		return 0;
	for (i = 0; i < PAIRING_CODE_LEN; i++)
		if (strchr(PAIRING_CODE_ALPHABET, code[i]) == NULL)
			return 0;
	return 1;
}

void
pairing_code_display(const char *code, char out[PAIRING_CODE_LEN + 2])
{
	if (code == NULL || strlen(code) != PAIRING_CODE_LEN) {
		out[0] = '\0';
		return;
	}
	memcpy(out, code, 4);
	out[4] = '-';
	memcpy(out + 5, code + 4, 4);
	out[9] = '\0';
}

int
pairing_code_key(const char *code, const uint8_t salt[32], uint8_t key[32])
{
	size_t i;

	/* any 8 printable characters: a custom code may leave the alphabet */
	if (code == NULL || salt == NULL || key == NULL ||
	    strlen(code) != PAIRING_CODE_LEN)
		return PAIRING_EINVAL;
	for (i = 0; i < PAIRING_CODE_LEN; i++)
		if (code[i] < 0x21 || code[i] > 0x7e)
			return PAIRING_EINVAL;
	if (PKCS5_PBKDF2_HMAC(code, PAIRING_CODE_LEN, salt, 32,
	    PAIRING_PBKDF2_ITER, EVP_sha256(), 32, key) != 1)
		return PAIRING_ECRYPTO;
	return PAIRING_OK;
}

static int
pairing_ctr(const uint8_t key[32], const uint8_t iv[16], const uint8_t in[32],
    uint8_t out[32])
{
	EVP_CIPHER_CTX *c;
	int l1 = 0, l2 = 0, rc = PAIRING_ECRYPTO;

	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return PAIRING_ECRYPTO;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, iv) == 1 &&
	    EVP_EncryptUpdate(c, out, &l1, in, 32) == 1 &&
	    EVP_EncryptFinal_ex(c, out + l1, &l2) == 1 && l1 + l2 == 32)
		rc = PAIRING_OK;
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int
pairing_code_wrap(const char *code, const uint8_t salt[32],
    const uint8_t iv[16], const uint8_t pub[32],
    uint8_t out[PAIRING_WRAPPED_LEN])
{
	uint8_t key[32];
	int rc;

	if (pub == NULL || out == NULL)
		return PAIRING_EINVAL;
	if (salt != NULL)
		memcpy(out, salt, 32);
	else
		randombytes_buf(out, 32);
	if (iv != NULL)
		memcpy(out + 32, iv, 16);
	else
		randombytes_buf(out + 32, 16);
	if ((rc = pairing_code_key(code, out, key)) == PAIRING_OK)
		rc = pairing_ctr(key, out + 32, pub, out + 48);
	sodium_memzero(key, sizeof(key));
	return rc;
}

int
pairing_code_unwrap(const char *code,
    const uint8_t wrapped[PAIRING_WRAPPED_LEN], uint8_t pub[32])
{
	uint8_t key[32];
	int rc;

	if (wrapped == NULL || pub == NULL)
		return PAIRING_EINVAL;
	if ((rc = pairing_code_key(code, wrapped, key)) == PAIRING_OK)
		rc = pairing_ctr(key, wrapped + 32, wrapped + 48, pub);
	sodium_memzero(key, sizeof(key));
	return rc;
}

/* advSecret = HKDF(ephShared || idShared || advRandom, no salt, "adv_secret") */
static int
pairing_adv_secret(const uint8_t eph_shared[32], const uint8_t id_shared[32],
    const uint8_t adv_random[32], uint8_t adv_secret[32])
{
	uint8_t ikm[96];
	int rc;

	memcpy(ikm, eph_shared, 32);
	memcpy(ikm + 32, id_shared, 32);
	memcpy(ikm + 64, adv_random, 32);
	rc = noise_hkdf(adv_secret, 32, NULL, 0, ikm, sizeof(ikm),
	    (const uint8_t *)pairing_info_adv, strlen(pairing_info_adv));
	sodium_memzero(ikm, sizeof(ikm));
	return rc == NOISE_OK ? PAIRING_OK : PAIRING_ECRYPTO;
}

static int
pairing_bundle_key(const uint8_t eph_shared[32], const uint8_t salt[32],
    uint8_t key[32])
{
	return noise_hkdf(key, 32, salt, 32, eph_shared, 32,
	    (const uint8_t *)pairing_info_bundle,
	    strlen(pairing_info_bundle)) == NOISE_OK ? PAIRING_OK :
	    PAIRING_ECRYPTO;
}

int
pairing_code_companion_finish(const char *code,
    const uint8_t companion_eph_priv[32],
    const uint8_t wrapped_primary[PAIRING_WRAPPED_LEN],
    const uint8_t primary_identity_pub[32], const uint8_t identity_priv[32],
    const uint8_t identity_pub[32], const struct pairing_code_random *rnd,
    uint8_t bundle[PAIRING_BUNDLE_LEN], uint8_t adv_secret[32])
{
	struct pairing_code_random r;
	uint8_t ppub[32], eph[32], ids[32], key[32], plain[96];
	int rc;

	if (companion_eph_priv == NULL || wrapped_primary == NULL ||
	    primary_identity_pub == NULL || identity_priv == NULL ||
	    identity_pub == NULL || bundle == NULL || adv_secret == NULL)
		return PAIRING_EINVAL;
	if (rnd != NULL)
		r = *rnd;
	else
		randombytes_buf(&r, sizeof(r));
	if ((rc = pairing_code_unwrap(code, wrapped_primary,
	    ppub)) != PAIRING_OK)
		goto out;
	rc = PAIRING_EKEY;
	if (noise_dh(eph, companion_eph_priv, ppub) != NOISE_OK ||
	    noise_dh(ids, identity_priv, primary_identity_pub) != NOISE_OK)
		goto out;
	if ((rc = pairing_bundle_key(eph, r.kb_salt, key)) != PAIRING_OK)
		goto out;
	memcpy(plain, identity_pub, 32);
	memcpy(plain + 32, primary_identity_pub, 32);
	memcpy(plain + 64, r.adv_random, 32);
	memcpy(bundle, r.kb_salt, 32);
	memcpy(bundle + 32, r.nonce, 12);
	if (noise_aesgcm_seal(key, r.nonce, NULL, 0, plain, sizeof(plain),
	    bundle + 44) != NOISE_OK) {
		rc = PAIRING_ECRYPTO;
		goto out;
	}
	rc = pairing_adv_secret(eph, ids, r.adv_random, adv_secret);
out:
	sodium_memzero(&r, sizeof(r));
	sodium_memzero(eph, sizeof(eph));
	sodium_memzero(ids, sizeof(ids));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

int
pairing_code_primary_finish(const uint8_t primary_eph_priv[32],
    const uint8_t companion_eph_pub[32],
    const uint8_t primary_identity_priv[32],
    const uint8_t primary_identity_pub[32],
    const uint8_t companion_identity_pub[32],
    const uint8_t bundle[PAIRING_BUNDLE_LEN], uint8_t adv_secret[32])
{
	uint8_t eph[32], ids[32], key[32], plain[96];
	int rc = PAIRING_EKEY;

	if (primary_eph_priv == NULL || companion_eph_pub == NULL ||
	    primary_identity_priv == NULL || primary_identity_pub == NULL ||
	    companion_identity_pub == NULL || bundle == NULL ||
	    adv_secret == NULL)
		return PAIRING_EINVAL;
	if (noise_dh(eph, primary_eph_priv, companion_eph_pub) != NOISE_OK ||
	    noise_dh(ids, primary_identity_priv,
	    companion_identity_pub) != NOISE_OK)
		goto out;
	if ((rc = pairing_bundle_key(eph, bundle, key)) != PAIRING_OK)
		goto out;
	if (noise_aesgcm_open(key, bundle + 32, NULL, 0, bundle + 44,
	    PAIRING_BUNDLE_LEN - 44, plain) != NOISE_OK) {
		rc = PAIRING_EDECRYPT;
		goto out;
	}
	rc = PAIRING_EKEY;
	if (sodium_memcmp(plain, companion_identity_pub, 32) != 0 ||
	    sodium_memcmp(plain + 32, primary_identity_pub, 32) != 0)
		goto out;
	rc = pairing_adv_secret(eph, ids, plain + 64, adv_secret);
out:
	sodium_memzero(eph, sizeof(eph));
	sodium_memzero(ids, sizeof(ids));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(plain, sizeof(plain));
	return rc;
}
