/*
 * media-crypto.c - media key expansion, encrypt+MAC, verify+decrypt
 * (PROTOCOL.md §9).  One table maps a media kind to its HKDF info string
 * and upload path.  Never logs keys or content.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "media-crypto.h"
#include "signal-keys.h"
#include "xmalloc.h"

static const struct {
	const char	*kind;
	const char	*info;
	const char	*path;
} media_kinds[] = {
	{ "image",		"WhatsApp Image Keys",		"image" },
	{ "sticker",		"WhatsApp Image Keys",		"image" },
	{ "product",		"WhatsApp Image Keys",		"image" },
	{ "biz-cover-photo",	"WhatsApp Image Keys",		"image" },
	{ "video",		"WhatsApp Video Keys",		"video" },
	{ "gif",		"WhatsApp Video Keys",		"video" },
	{ "ptv",		"WhatsApp Video Keys",		"video" },
	{ "audio",		"WhatsApp Audio Keys",		"audio" },
	{ "ptt",		"WhatsApp Audio Keys",		"audio" },
	{ "document",		"WhatsApp Document Keys",	"document" },
	{ "history",		"WhatsApp History Keys",	"md-msg-hist" },
	{ "app-state",		"WhatsApp App State Keys",	"md-app-state" },
	{ "thumbnail-link",	"WhatsApp Link Thumbnail Keys",	"thumbnail-link" },
	{ "thumbnail-image",	"WhatsApp Image Thumbnail Keys", NULL },
	{ "thumbnail-video",	"WhatsApp Video Thumbnail Keys", NULL },
	{ "thumbnail-document",	"WhatsApp Document Thumbnail Keys", NULL },
	{ "sticker-pack",	"WhatsApp Sticker Pack Keys",	"sticker-pack" },
	{ "payment-background",	"WhatsApp Payment Background Keys", NULL },
};

static int
media_kind_find(const char *kind)
{
	size_t i;

	if (kind == NULL)
		return -1;
	for (i = 0; i < sizeof(media_kinds) / sizeof(media_kinds[0]); i++)
		if (strcmp(media_kinds[i].kind, kind) == 0)
			return (int)i;
	return -1;
}

const char *
media_crypto_info(const char *kind)
{
	int i = media_kind_find(kind);

	return i < 0 ? NULL : media_kinds[i].info;
}

const char *
media_crypto_mms_path(const char *kind)
{
	int i = media_kind_find(kind);

	return i < 0 ? NULL : media_kinds[i].path;
}

int
media_crypto_expand(const uint8_t media_key[MEDIA_KEY_LEN], const char *info,
    struct media_keys *k)
{
	uint8_t exp[112];

	memset(k, 0, sizeof(*k));
	if (info == NULL)
		return MEDIA_ERR_INVALID;
	if (signal_hkdf(exp, sizeof(exp), media_key, MEDIA_KEY_LEN, NULL, 0,
	    (const uint8_t *)info, strlen(info)) != 0)
		return MEDIA_ERR_INVALID;
	memcpy(k->iv, exp, 16);
	memcpy(k->cipher_key, exp + 16, 32);
	memcpy(k->mac_key, exp + 48, 32);
	memcpy(k->ref_key, exp + 80, 32);
	sodium_memzero(exp, sizeof(exp));
	return 0;
}

static void
media_mac(uint8_t out[32], const struct media_keys *k, const uint8_t *ct,
    size_t len)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, k->mac_key, sizeof(k->mac_key));
	crypto_auth_hmacsha256_update(&st, k->iv, sizeof(k->iv));
	crypto_auth_hmacsha256_update(&st, ct, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int
media_crypto_encrypt(const uint8_t media_key[MEDIA_KEY_LEN], const char *info,
    const uint8_t *plain, size_t len, uint8_t **body, size_t *bodylen,
    uint8_t file_sha256[MEDIA_SHA256_LEN],
    uint8_t file_enc_sha256[MEDIA_SHA256_LEN])
{
	struct media_keys k;
	uint8_t *ct = NULL, mac[32];
	size_t ctlen = 0;
	int rc;

	*body = NULL;
	*bodylen = 0;
	if (plain == NULL && len > 0)
		return MEDIA_ERR_INVALID;
	if (len > MEDIA_CRYPTO_MAX)
		return MEDIA_ERR_TOOBIG;
	if ((rc = media_crypto_expand(media_key, info, &k)) != 0)
		goto out;
	if (signal_aes_cbc_encrypt(k.cipher_key, k.iv, plain, len, &ct,
	    &ctlen) != 0) {
		rc = MEDIA_ERR_INVALID;
		goto out;
	}
	ct = xreallocarray(ct, ctlen + MEDIA_MAC_LEN, 1);
	media_mac(mac, &k, ct, ctlen);
	memcpy(ct + ctlen, mac, MEDIA_MAC_LEN);
	if (file_sha256 != NULL)
		crypto_hash_sha256(file_sha256, plain, len);
	if (file_enc_sha256 != NULL)
		crypto_hash_sha256(file_enc_sha256, ct, ctlen + MEDIA_MAC_LEN);
	*body = ct;
	*bodylen = ctlen + MEDIA_MAC_LEN;
	ct = NULL;
	rc = 0;
out:
	free(ct);
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(mac, sizeof(mac));
	return rc;
}

int
media_crypto_decrypt(const uint8_t media_key[MEDIA_KEY_LEN], const char *info,
    const uint8_t *body, size_t bodylen, const uint8_t *file_enc_sha256,
    const uint8_t *file_sha256, uint8_t **plain, size_t *plainlen)
{
	struct media_keys k;
	uint8_t h[32], mac[32], *pt = NULL;
	size_t ctlen, ptlen = 0;
	int rc;

	*plain = NULL;
	*plainlen = 0;
	memset(&k, 0, sizeof(k));
	if (body == NULL || bodylen < MEDIA_MAC_LEN + 16)
		return MEDIA_ERR_INVALID;
	if (bodylen > MEDIA_CRYPTO_MAX + 64)
		return MEDIA_ERR_TOOBIG;
	ctlen = bodylen - MEDIA_MAC_LEN;
	if (file_enc_sha256 != NULL) {
		crypto_hash_sha256(h, body, bodylen);
		if (sodium_memcmp(h, file_enc_sha256, 32) != 0) {
			rc = MEDIA_ERR_HASH;
			goto out;
		}
	}
	if ((rc = media_crypto_expand(media_key, info, &k)) != 0)
		goto out;
	media_mac(mac, &k, body, ctlen);
	if (sodium_memcmp(mac, body + ctlen, MEDIA_MAC_LEN) != 0) {
		rc = MEDIA_ERR_MAC;
		goto out;
	}
	if (signal_aes_cbc_decrypt(k.cipher_key, k.iv, body, ctlen, &pt,
	    &ptlen) != 0) {
		rc = MEDIA_ERR_DECRYPT;
		goto out;
	}
	if (file_sha256 != NULL) {
		crypto_hash_sha256(h, pt, ptlen);
		if (sodium_memcmp(h, file_sha256, 32) != 0) {
			rc = MEDIA_ERR_PLAINHASH;
			goto out;
		}
	}
	*plain = pt;
	*plainlen = ptlen;
	pt = NULL;
	rc = 0;
out:
	signal_free_secret(pt, ptlen);
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(mac, sizeof(mac));
	return rc;
}

/* ---- streaming ---- */

struct media_crypto_stream {
	int				 mode;
	int				 done;
	EVP_CIPHER_CTX			*evp;
	crypto_auth_hmacsha256_state	 hmac;
	crypto_hash_sha256_state	 plain_sha;
	crypto_hash_sha256_state	 body_sha;
	uint8_t				 tail[MEDIA_MAC_LEN];	/* decrypt */
	size_t				 ntail;
};

struct media_crypto_stream *
media_crypto_stream_new(const uint8_t media_key[MEDIA_KEY_LEN],
    const char *info, int mode)
{
	struct media_crypto_stream *s;
	struct media_keys k;

	if (media_crypto_expand(media_key, info, &k) != 0)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->mode = mode == MEDIA_STREAM_ENCRYPT;
	if ((s->evp = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(s->evp, EVP_aes_256_cbc(), NULL, k.cipher_key,
	    k.iv, s->mode) != 1) {
		media_crypto_stream_free(s);
		s = NULL;
		goto out;
	}
	crypto_auth_hmacsha256_init(&s->hmac, k.mac_key, sizeof(k.mac_key));
	crypto_auth_hmacsha256_update(&s->hmac, k.iv, sizeof(k.iv));
	crypto_hash_sha256_init(&s->plain_sha);
	crypto_hash_sha256_init(&s->body_sha);
out:
	sodium_memzero(&k, sizeof(k));
	return s;
}

void
media_crypto_stream_free(struct media_crypto_stream *s)
{
	if (s == NULL)
		return;
	EVP_CIPHER_CTX_free(s->evp);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* Run n bytes through the cipher in int-sized pieces. */
static int
media_stream_cipher(struct media_crypto_stream *s, const uint8_t *in,
    size_t n, uint8_t *out, size_t *outlen)
{
	size_t off = 0, chunk;
	int got;

	while (off < n) {
		chunk = n - off > (1u << 30) ? (1u << 30) : n - off;
		if (EVP_CipherUpdate(s->evp, out + *outlen, &got, in + off,
		    (int)chunk) != 1)
			return -1;
		*outlen += (size_t)got;
		off += chunk;
	}
	return 0;
}

/* Decrypt: ciphertext bytes (MAC already held back). */
static int
media_stream_dec(struct media_crypto_stream *s, const uint8_t *ct, size_t n,
    uint8_t *out, size_t *outlen)
{
	size_t before = *outlen;

	if (n == 0)
		return 0;
	crypto_auth_hmacsha256_update(&s->hmac, ct, n);
	if (media_stream_cipher(s, ct, n, out, outlen) != 0)
		return MEDIA_ERR_DECRYPT;
	crypto_hash_sha256_update(&s->plain_sha, out + before,
	    *outlen - before);
	return 0;
}

int
media_crypto_stream_update(struct media_crypto_stream *s, const uint8_t *in,
    size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t total, n, fromtail;
	int rc;

	*outlen = 0;
	if (s == NULL || s->done)
		return MEDIA_ERR_STATE;
	if ((in == NULL && len > 0) || outcap < MEDIA_STREAM_SLACK ||
	    len > outcap - MEDIA_STREAM_SLACK)
		return MEDIA_ERR_INVALID;
	if (s->mode == MEDIA_STREAM_ENCRYPT) {
		crypto_hash_sha256_update(&s->plain_sha, in, len);
		if (media_stream_cipher(s, in, len, out, outlen) != 0)
			return MEDIA_ERR_INVALID;
		crypto_auth_hmacsha256_update(&s->hmac, out, *outlen);
		crypto_hash_sha256_update(&s->body_sha, out, *outlen);
		return 0;
	}
	crypto_hash_sha256_update(&s->body_sha, in, len);
	total = s->ntail + len;
	if (total <= MEDIA_MAC_LEN) {
		memcpy(s->tail + s->ntail, in, len);
		s->ntail = total;
		return 0;
	}
	/* everything but the last MEDIA_MAC_LEN bytes is ciphertext */
	n = total - MEDIA_MAC_LEN;
	fromtail = n < s->ntail ? n : s->ntail;
	if ((rc = media_stream_dec(s, s->tail, fromtail, out, outlen)) != 0)
		return rc;
	if ((rc = media_stream_dec(s, in, n - fromtail, out, outlen)) != 0)
		return rc;
	/* new tail: rest of the old tail, then the end of in */
	memmove(s->tail, s->tail + fromtail, s->ntail - fromtail);
	s->ntail -= fromtail;
	memcpy(s->tail + s->ntail, in + (n - fromtail), len - (n - fromtail));
	s->ntail += len - (n - fromtail);
	return 0;
}

int
media_crypto_stream_final(struct media_crypto_stream *s, uint8_t *out,
    size_t outcap, size_t *outlen, uint8_t file_sha256[MEDIA_SHA256_LEN],
    uint8_t file_enc_sha256[MEDIA_SHA256_LEN])
{
	uint8_t mac[32], h[32];
	int got = 0, rc = MEDIA_ERR_INVALID;

	*outlen = 0;
	if (s == NULL || s->done)
		return MEDIA_ERR_STATE;
	if (outcap < MEDIA_STREAM_SLACK)
		return MEDIA_ERR_INVALID;
	s->done = 1;
	if (s->mode == MEDIA_STREAM_ENCRYPT) {
		if (EVP_CipherFinal_ex(s->evp, out, &got) != 1)
			goto out;
		crypto_auth_hmacsha256_update(&s->hmac, out, (size_t)got);
		crypto_auth_hmacsha256_final(&s->hmac, mac);
		memcpy(out + got, mac, MEDIA_MAC_LEN);
		*outlen = (size_t)got + MEDIA_MAC_LEN;
		crypto_hash_sha256_update(&s->body_sha, out, *outlen);
	} else {
		crypto_auth_hmacsha256_final(&s->hmac, mac);
		if (s->ntail != MEDIA_MAC_LEN ||
		    sodium_memcmp(mac, s->tail, MEDIA_MAC_LEN) != 0) {
			rc = MEDIA_ERR_MAC;
			goto out;
		}
		if (EVP_CipherFinal_ex(s->evp, out, &got) != 1) {
			rc = MEDIA_ERR_DECRYPT;
			goto out;
		}
		*outlen = (size_t)got;
		crypto_hash_sha256_update(&s->plain_sha, out, *outlen);
	}
	crypto_hash_sha256_final(&s->plain_sha, h);
	if (file_sha256 != NULL)
		memcpy(file_sha256, h, 32);
	crypto_hash_sha256_final(&s->body_sha, h);
	if (file_enc_sha256 != NULL)
		memcpy(file_enc_sha256, h, 32);
	rc = 0;
out:
	sodium_memzero(mac, sizeof(mac));
	if (rc != 0)
		*outlen = 0;
	return rc;
}
