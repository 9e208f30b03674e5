/* test_media_crypto.c - media key expansion/encryption and message padding
 * against crypto_vectors.json (PROTOCOL.md §7.2, §9). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "t.h"
#include "media-crypto.h"
#include "padding.h"

static struct json_object *vec;

static const char *
vs(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return "";
	return json_object_get_string(v);
}

static int
vh(struct json_object *o, const char *key, uint8_t *out, size_t max)
{
	return t_unhex(vs(o, key), out, max);
}

static void
test_media_expand(void)
{
	struct json_object *m = NULL;
	uint8_t key[32], exp[112], buf[112];
	struct media_keys k;
	static const struct { const char *kind, *field; } kinds[] = {
		{ "video", "expanded_112 WhatsApp Video Keys" },
		{ "audio", "expanded_112 WhatsApp Audio Keys" },
		{ "document", "expanded_112 WhatsApp Document Keys" },
		{ "history", "expanded_112 WhatsApp History Keys" },
		{ "app-state", "expanded_112 WhatsApp App State Keys" },
	};
	size_t i;

	json_object_object_get_ex(vec, "media", &m);
	T_OK(vh(m, "media_key", key, 32) == 32, "media key");
	T_EQ_STR(media_crypto_info("image"), vs(m, "hkdf_info"), "image info");
	T_EQ_STR(media_crypto_info("sticker"), "WhatsApp Image Keys",
	    "sticker uses image keys");
	T_EQ_STR(media_crypto_mms_path("history"), "md-msg-hist", "hist path");
	T_OK(media_crypto_info("bogus") == NULL, "unknown kind");
	T_OK(media_crypto_expand(key, "WhatsApp Image Keys", &k) == 0,
	    "expand");
	vh(m, "expanded_112", exp, sizeof(exp));
	memcpy(buf, k.iv, 16);
	memcpy(buf + 16, k.cipher_key, 32);
	memcpy(buf + 48, k.mac_key, 32);
	memcpy(buf + 80, k.ref_key, 32);
	T_EQ_MEM(buf, 112, exp, 112, "image expansion");
	vh(m, "iv", buf, 16);
	T_EQ_MEM(k.iv, 16, buf, 16, "iv");
	vh(m, "mac_key", buf, 32);
	T_EQ_MEM(k.mac_key, 32, buf, 32, "mac key");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		media_crypto_expand(key, media_crypto_info(kinds[i].kind), &k);
		memcpy(buf, k.iv, 16);
		memcpy(buf + 16, k.cipher_key, 32);
		memcpy(buf + 48, k.mac_key, 32);
		memcpy(buf + 80, k.ref_key, 32);
		vh(m, kinds[i].field, exp, sizeof(exp));
		T_EQ_MEM(buf, 112, exp, 112, kinds[i].field);
	}
}

static void
test_media_encrypt_decrypt(void)
{
	struct json_object *m = NULL;
	uint8_t key[32], pt[64], body[128], fsha[32], fesha[32], h1[32], h2[32];
	uint8_t *out = NULL, *plain = NULL;
	size_t outlen = 0, plainlen = 0;
	int ptlen, bodylen;

	json_object_object_get_ex(vec, "media", &m);
	vh(m, "media_key", key, 32);
	ptlen = vh(m, "plaintext_hex", pt, sizeof(pt));
	bodylen = vh(m, "upload_body(ct||mac10)", body, sizeof(body));
	vh(m, "fileSha256", fsha, 32);
	vh(m, "fileEncSha256", fesha, 32);
	T_EQ_INT(ptlen, json_object_get_int(json_object_object_get(m,
	    "fileLength")), "fileLength");
	T_OK(media_crypto_encrypt(key, "WhatsApp Image Keys", pt,
	    (size_t)ptlen, &out, &outlen, h1, h2) == 0, "encrypt");
	T_EQ_MEM(out, outlen, body, bodylen, "upload body");
	T_EQ_MEM(h1, 32, fsha, 32, "fileSha256");
	T_EQ_MEM(h2, 32, fesha, 32, "fileEncSha256");
	T_OK(media_crypto_decrypt(key, "WhatsApp Image Keys", body,
	    (size_t)bodylen, fesha, fsha, &plain, &plainlen) == 0, "decrypt");
	T_EQ_MEM(plain, plainlen, pt, ptlen, "plaintext");
	free(plain);
	plain = NULL;
	T_EQ_INT(media_crypto_decrypt(key, "WhatsApp Video Keys", body,
	    (size_t)bodylen, NULL, NULL, &plain, &plainlen), MEDIA_ERR_MAC,
	    "wrong media type rejected");
	body[3] ^= 1;
	T_EQ_INT(media_crypto_decrypt(key, "WhatsApp Image Keys", body,
	    (size_t)bodylen, fesha, fsha, &plain, &plainlen), MEDIA_ERR_HASH,
	    "tampered body: enc hash");
	T_EQ_INT(media_crypto_decrypt(key, "WhatsApp Image Keys", body,
	    (size_t)bodylen, NULL, NULL, &plain, &plainlen), MEDIA_ERR_MAC,
	    "tampered body: mac");
	body[3] ^= 1;
	fsha[0] ^= 1;
	T_EQ_INT(media_crypto_decrypt(key, "WhatsApp Image Keys", body,
	    (size_t)bodylen, NULL, fsha, &plain, &plainlen),
	    MEDIA_ERR_PLAINHASH, "plain hash mismatch");
	T_EQ_INT(media_crypto_decrypt(key, "WhatsApp Image Keys", body, 9,
	    NULL, NULL, &plain, &plainlen), MEDIA_ERR_INVALID, "short body");
	T_OK(plain == NULL, "no output on failure");
	free(out);
}

static void
test_media_round_trip_sizes(void)
{
	uint8_t key[32], buf[300], *body = NULL, *plain = NULL;
	size_t n, blen, plen;
	int ok = 1;

	for (n = 0; n < sizeof(buf); n++)
		buf[n] = (uint8_t)(n * 7);
	memset(key, 0x42, sizeof(key));
	for (n = 0; n < sizeof(buf); n += 13) {
		if (media_crypto_encrypt(key, "WhatsApp Document Keys", buf, n,
		    &body, &blen, NULL, NULL) != 0 ||
		    blen != (n / 16 + 1) * 16 + 10 ||
		    media_crypto_decrypt(key, "WhatsApp Document Keys", body,
		    blen, NULL, NULL, &plain, &plen) != 0 || plen != n ||
		    (n && memcmp(plain, buf, n) != 0))
			ok = 0;
		free(body);
		free(plain);
		body = plain = NULL;
	}
	T_OK(ok, "round trips 0..300 bytes");
}

static void
test_padding(void)
{
	struct json_object *p = NULL;
	uint8_t in[32], want[32], *out = NULL;
	size_t outlen = 0, len = 0;
	int inlen, wantlen, i, ok;

	json_object_object_get_ex(vec, "padding", &p);
	inlen = vh(p, "example_plaintext", in, sizeof(in));
	wantlen = vh(p, "example_padded_n=3", want, sizeof(want));
	T_OK(padding_add(in, (size_t)inlen, 3, &out, &outlen) == 0, "add n=3");
	T_EQ_MEM(out, outlen, want, wantlen, "padded example");
	free(out);
	T_OK(padding_remove(want, (size_t)wantlen, &len) == 0 &&
	    len == (size_t)inlen, "remove");
	ok = 1;
	for (i = 0; i < 200; i++) {
		if (padding_add(in, (size_t)inlen, 0, &out, &outlen) != 0 ||
		    outlen <= (size_t)inlen || outlen > (size_t)inlen + 15 ||
		    padding_remove(out, outlen, &len) != 0 ||
		    len != (size_t)inlen)
			ok = 0;
		free(out);
	}
	T_OK(ok, "random padding 1..15 round trips");
	T_OK(padding_add(in, 2, 17, &out, &outlen) == -1, "n=17 refused");
	want[wantlen - 2] = 2;
	T_OK(padding_remove(want, (size_t)wantlen, &len) == -1,
	    "inconsistent padding rejected");
	in[0] = 0;
	T_OK(padding_remove(in, 1, &len) == -1, "zero pad byte rejected");
	in[0] = 5;
	T_OK(padding_remove(in, 1, &len) == -1, "pad longer than data");
	T_OK(padding_remove(in, 0, &len) == -1, "empty rejected");
	memset(in, 16, 16);
	T_OK(padding_remove(in, 16, &len) == 0 && len == 0,
	    "Baileys 16-byte padding accepted");
}

/* Run body through a stream in chunks of size step; 0 and output. */
static int
stream_run(int mode, const uint8_t *key, const uint8_t *in, size_t len,
    size_t step, uint8_t *out, size_t *outlen, uint8_t *psha, uint8_t *bsha)
{
	struct media_crypto_stream *s;
	size_t off = 0, n, got, total = 0;
	uint8_t buf[512];
	int rc = 0;

	s = media_crypto_stream_new(key, "WhatsApp Image Keys", mode);
	if (s == NULL)
		return -99;
	while (off < len && rc == 0) {
		n = len - off < step ? len - off : step;
		rc = media_crypto_stream_update(s, in + off, n, buf,
		    sizeof(buf), &got);
		memcpy(out + total, buf, got);
		total += got;
		off += n;
	}
	if (rc == 0) {
		rc = media_crypto_stream_final(s, buf, sizeof(buf), &got, psha,
		    bsha);
		memcpy(out + total, buf, got);
		total += got;
	}
	media_crypto_stream_free(s);
	*outlen = total;
	return rc;
}

static void
test_media_stream(void)
{
	struct json_object *m = NULL;
	uint8_t key[32], pt[64], body[128], fsha[32], fesha[32], h1[32], h2[32];
	uint8_t out[256];
	size_t outlen, step;
	int ptlen, bodylen, ok_enc = 1, ok_dec = 1;

	json_object_object_get_ex(vec, "media", &m);
	vh(m, "media_key", key, 32);
	ptlen = vh(m, "plaintext_hex", pt, sizeof(pt));
	bodylen = vh(m, "upload_body(ct||mac10)", body, sizeof(body));
	vh(m, "fileSha256", fsha, 32);
	vh(m, "fileEncSha256", fesha, 32);
	for (step = 1; step <= 50; step++) {
		if (stream_run(MEDIA_STREAM_ENCRYPT, key, pt, (size_t)ptlen,
		    step, out, &outlen, h1, h2) != 0 ||
		    outlen != (size_t)bodylen ||
		    memcmp(out, body, outlen) != 0 ||
		    memcmp(h1, fsha, 32) != 0 || memcmp(h2, fesha, 32) != 0)
			ok_enc = 0;
		if (stream_run(MEDIA_STREAM_DECRYPT, key, body,
		    (size_t)bodylen, step, out, &outlen, h1, h2) != 0 ||
		    outlen != (size_t)ptlen || memcmp(out, pt, outlen) != 0 ||
		    memcmp(h1, fsha, 32) != 0 || memcmp(h2, fesha, 32) != 0)
			ok_dec = 0;
	}
	T_OK(ok_enc, "stream encrypt, chunks 1..50, matches vector");
	T_OK(ok_dec, "stream decrypt, chunks 1..50, matches vector");
	body[bodylen - 1] ^= 1;
	T_EQ_INT(stream_run(MEDIA_STREAM_DECRYPT, key, body, (size_t)bodylen,
	    7, out, &outlen, h1, h2), MEDIA_ERR_MAC, "stream: bad MAC");
	body[bodylen - 1] ^= 1;
	T_EQ_INT(stream_run(MEDIA_STREAM_DECRYPT, key, body, 5, 7, out,
	    &outlen, h1, h2), MEDIA_ERR_MAC, "stream: body shorter than MAC");
	T_OK(media_crypto_stream_new(key, NULL, 1) == NULL, "no info refused");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	vec = json_object_from_file(t_shared("wa/vectors/crypto_vectors.json"));
	if (vec == NULL) {
		printf("not ok 1 - crypto_vectors.json missing\n1..1\n");
		return 1;
	}
	T_RUN(test_media_expand);
	T_RUN(test_media_encrypt_decrypt);
	T_RUN(test_media_round_trip_sizes);
	T_RUN(test_padding);
	T_RUN(test_media_stream);
	json_object_put(vec);
	return t_done();
}
