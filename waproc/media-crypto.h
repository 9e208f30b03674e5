/*
 * media-crypto.h - WhatsApp media encryption (PROTOCOL.md §9.2-9.4).
 *
 *   expanded = HKDF-SHA256(mediaKey, salt none, info "WhatsApp <X> Keys", 112)
 *   iv [0:16], cipherKey [16:48], macKey [48:80], refKey [80:112]
 *   ct = AES-256-CBC(cipherKey, iv, plain),
 *   body = ct || HMAC-SHA256(macKey, iv || ct)[0:10]
 *   fileSha256 = SHA256(plain), fileEncSha256 = SHA256(body)
 *
 * Pure functions over memory buffers; no network, no logging.  media.c
 * does the HTTP side.
 */
#ifndef WAPROC_MEDIA_CRYPTO_H
#define WAPROC_MEDIA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define MEDIA_KEY_LEN		32
#define MEDIA_MAC_LEN		10
#define MEDIA_SHA256_LEN	32
#define MEDIA_CRYPTO_MAX	((size_t)2100 * 1024 * 1024)	/* > 2 GB */

#define MEDIA_ERR_INVALID	(-1)	/* bad argument / unknown kind */
#define MEDIA_ERR_HASH		(-2)	/* fileEncSha256 mismatch */
#define MEDIA_ERR_MAC		(-3)	/* MAC mismatch */
#define MEDIA_ERR_DECRYPT	(-4)	/* bad CBC padding */
#define MEDIA_ERR_PLAINHASH	(-5)	/* fileSha256 mismatch */
#define MEDIA_ERR_TOOBIG	(-6)
#define MEDIA_ERR_STATE		(-7)	/* stream misuse / already final */

struct media_keys {
	uint8_t	iv[16];
	uint8_t	cipher_key[32];
	uint8_t	mac_key[32];
	uint8_t	ref_key[32];
};

/*
 * Media kinds: "image", "sticker", "video", "gif", "ptv", "audio", "ptt",
 * "document", "history", "app-state", "thumbnail-link", "thumbnail-image",
 * "thumbnail-video", "thumbnail-document", "sticker-pack",
 * "payment-background", "product", "biz-cover-photo".
 * HKDF info string of a kind ("WhatsApp Image Keys"), NULL if unknown.
 */
const char	*media_crypto_info(const char *kind);
/* Upload path component (/mms/<path>), NULL if unknown or none. */
const char	*media_crypto_mms_path(const char *kind);

/* Expand a media key with an info string.  0 or MEDIA_ERR_INVALID. */
int	media_crypto_expand(const uint8_t media_key[MEDIA_KEY_LEN],
	    const char *info, struct media_keys *);

/*
 * Encrypt plain: *body (xmalloc'd, caller frees) = ct || mac10, and the two
 * hashes.  Either hash pointer may be NULL.  0 or MEDIA_ERR_*.
 */
int	media_crypto_encrypt(const uint8_t media_key[MEDIA_KEY_LEN],
	    const char *info, const uint8_t *plain, size_t len,
	    uint8_t **body, size_t *bodylen,
	    uint8_t file_sha256[MEDIA_SHA256_LEN],
	    uint8_t file_enc_sha256[MEDIA_SHA256_LEN]);

/*
 * Verify and decrypt a downloaded body: SHA256(body) == file_enc_sha256
 * (skipped if NULL), MAC, CBC decryption, SHA256(plain) == file_sha256
 * (skipped if NULL).  *plain is xmalloc'd.  0 or MEDIA_ERR_*.
 */
int	media_crypto_decrypt(const uint8_t media_key[MEDIA_KEY_LEN],
	    const char *info, const uint8_t *body, size_t bodylen,
	    const uint8_t *file_enc_sha256, const uint8_t *file_sha256,
	    uint8_t **plain, size_t *plainlen);

/*
 * Streaming form for large files (upload from / download to disk).
 * mode MEDIA_STREAM_ENCRYPT: feed plaintext, get ct, then final gives the
 * last block followed by the 10-byte MAC.  MEDIA_STREAM_DECRYPT: feed the
 * downloaded body (MAC included, any chunking); final verifies the MAC and
 * CBC padding.  Plaintext leaves before it is verified: on any decrypt
 * error discard everything written so far.  In both modes final returns
 * SHA256 of the plaintext and of the body (fileSha256, fileEncSha256; NULL
 * to skip) for the caller to fill in or compare.
 * update needs outcap >= len + MEDIA_STREAM_SLACK; final outcap >=
 * MEDIA_STREAM_SLACK.
 */
#define MEDIA_STREAM_ENCRYPT	1
#define MEDIA_STREAM_DECRYPT	0
#define MEDIA_STREAM_SLACK	32

struct media_crypto_stream;

struct media_crypto_stream *media_crypto_stream_new(
	    const uint8_t media_key[MEDIA_KEY_LEN], const char *info, int mode);
void	media_crypto_stream_free(struct media_crypto_stream *);
int	media_crypto_stream_update(struct media_crypto_stream *,
	    const uint8_t *in, size_t len, uint8_t *out, size_t outcap,
	    size_t *outlen);
int	media_crypto_stream_final(struct media_crypto_stream *, uint8_t *out,
	    size_t outcap, size_t *outlen,
	    uint8_t file_sha256[MEDIA_SHA256_LEN],
	    uint8_t file_enc_sha256[MEDIA_SHA256_LEN]);

#endif
