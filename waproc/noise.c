/*
 * noise.c - Noise_XX_25519_AESGCM_SHA256 as WhatsApp runs it (PROTOCOL.md
 * 1.3): symmetric state, the three handshake messages for initiator and
 * responder, split into transport keys, transport AES-GCM.
 *
 * Every handshake message comes from the network: lengths are checked
 * before use, any failure leaves the handshake in a failed state (further
 * calls return NOISE_EINVAL) and nothing here crashes or logs on bad input;
 * callers log the returned code.  No framing, no sockets, no key logging.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"
#include "cert.h"
#include "noise.h"
#include "wa.pb-c.h"

#define NOISE_STEP_FAILED	(-1)
/* initiator steps */
#define NOISE_I_HELLO		0
#define NOISE_I_READ_HELLO	1
#define NOISE_I_FINISH		2
/* responder steps */
#define NOISE_R_READ_HELLO	0
#define NOISE_R_HELLO		1
#define NOISE_R_READ_FINISH	2
/* both */
#define NOISE_SPLIT		3

#define NOISE_ENC_STATIC_LEN	(NOISE_KEY_LEN + NOISE_TAG_LEN)

const uint8_t noise_protocol_name[NOISE_HASH_LEN] =
    "Noise_XX_25519_AESGCM_SHA256\0\0\0";	/* + implicit 4th NUL */
const uint8_t noise_wa_header[NOISE_HEADER_LEN] = { 'W', 'A', 6, 3 };

static const struct {
	int		 code;
	const char	*msg;
} noise_errors[] = {
	{ NOISE_OK,		"ok" },
	{ NOISE_EINVAL,		"invalid argument or handshake step" },
	{ NOISE_EPARSE,		"malformed handshake message" },
	{ NOISE_EDECRYPT,	"decryption failed" },
	{ NOISE_EKEY,		"bad public key" },
	{ NOISE_ECERT,		"server certificate rejected" },
	{ NOISE_ECRYPTO,	"crypto library failure" },
	{ NOISE_ETOOBIG,	"message too large" },
	{ NOISE_ECOUNTER,	"nonce counter exhausted" },
};

const char *
noise_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(noise_errors) / sizeof(noise_errors[0]); i++)
		if (noise_errors[i].code == err)
			return noise_errors[i].msg;
	return "unknown noise error";
}

static void
noise_sodium_init(void)
{
	if (sodium_init() < 0)
		fatalx("noise: libsodium initialisation failed");
}

/* ------------------------------------------------------------ primitives */

int
noise_hkdf(uint8_t *out, size_t olen, const uint8_t *salt, size_t saltlen,
    const uint8_t *ikm, size_t ikmlen, const uint8_t *info, size_t infolen)
{
	static const uint8_t zero[32];
	crypto_auth_hmacsha256_state st;
	uint8_t prk[32], t[32];
	size_t done = 0, n;
	uint8_t i;

	if (out == NULL || olen == 0 || olen > 255 * 32 ||
	    (ikm == NULL && ikmlen) || (info == NULL && infolen))
		return NOISE_EINVAL;
	if (salt == NULL || saltlen == 0) {
		salt = zero;
		saltlen = sizeof(zero);
	}
	/* extract */
	crypto_auth_hmacsha256_init(&st, salt, saltlen);
	if (ikmlen)
		crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
	crypto_auth_hmacsha256_final(&st, prk);
	/* expand */
	for (i = 1; done < olen; i++) {
		crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
		if (i > 1)
			crypto_auth_hmacsha256_update(&st, t, sizeof(t));
		if (infolen)
			crypto_auth_hmacsha256_update(&st, info, infolen);
		crypto_auth_hmacsha256_update(&st, &i, 1);
		crypto_auth_hmacsha256_final(&st, t);
		n = olen - done < sizeof(t) ? olen - done : sizeof(t);
		memcpy(out + done, t, n);
		done += n;
	}
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	return NOISE_OK;
}

static int
noise_gcm(int enc, const uint8_t key[NOISE_KEY_LEN],
    const uint8_t iv[NOISE_IV_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t tag[NOISE_TAG_LEN];
	size_t plen = enc ? len : len - NOISE_TAG_LEN;
	int outl, rc = NOISE_ECRYPTO;

	if (key == NULL || iv == NULL || out == NULL || (in == NULL && len) ||
	    (aad == NULL && aadlen))
		return NOISE_EINVAL;
	if ((!enc && len < NOISE_TAG_LEN) || len > INT_MAX - NOISE_TAG_LEN ||
	    aadlen > INT_MAX)
		return enc ? NOISE_ETOOBIG : NOISE_EDECRYPT;
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NOISE_IV_LEN,
	    NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) != 1)
		goto out;
	if (aadlen && EVP_CipherUpdate(c, NULL, &outl, aad, (int)aadlen) != 1)
		goto out;
	if (!enc) {
		memcpy(tag, in + plen, NOISE_TAG_LEN);
		if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, NOISE_TAG_LEN,
		    tag) != 1)
			goto out;
	}
	if (plen && EVP_CipherUpdate(c, out, &outl, in, (int)plen) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + plen, &outl) != 1) {
		if (!enc) {
			sodium_memzero(out, plen);
			rc = NOISE_EDECRYPT;
		}
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, NOISE_TAG_LEN,
	    out + plen) != 1)
		goto out;
	rc = NOISE_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int
noise_aesgcm_seal(const uint8_t key[NOISE_KEY_LEN],
    const uint8_t iv[NOISE_IV_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	return noise_gcm(1, key, iv, aad, aadlen, in, len, out);
}

int
noise_aesgcm_open(const uint8_t key[NOISE_KEY_LEN],
    const uint8_t iv[NOISE_IV_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	return noise_gcm(0, key, iv, aad, aadlen, in, len, out);
}

int
noise_dh(uint8_t out[NOISE_KEY_LEN], const uint8_t priv[NOISE_KEY_LEN],
    const uint8_t pub[NOISE_KEY_LEN])
{
	if (crypto_scalarmult(out, priv, pub) != 0) {
		sodium_memzero(out, NOISE_KEY_LEN);
		return NOISE_EKEY;
	}
	return NOISE_OK;
}

static void
noise_iv(uint8_t iv[NOISE_IV_LEN], uint32_t n)
{
	memset(iv, 0, NOISE_IV_LEN);
	iv[8] = (uint8_t)(n >> 24);
	iv[9] = (uint8_t)(n >> 16);
	iv[10] = (uint8_t)(n >> 8);
	iv[11] = (uint8_t)n;
}

/* ----------------------------------------------------------------- keys */

void
noise_keypair_generate(struct noise_keypair *kp)
{
	uint8_t priv[NOISE_KEY_LEN];

	noise_sodium_init();
	do {
		randombytes_buf(priv, sizeof(priv));
	} while (noise_keypair_from_priv(kp, priv) != NOISE_OK);
	sodium_memzero(priv, sizeof(priv));
}

int
noise_keypair_from_priv(struct noise_keypair *kp,
    const uint8_t priv[NOISE_KEY_LEN])
{
	memcpy(kp->priv, priv, NOISE_KEY_LEN);
	kp->priv[0] &= 248;
	kp->priv[31] &= 127;
	kp->priv[31] |= 64;
	if (crypto_scalarmult_base(kp->pub, kp->priv) != 0) {
		noise_keypair_clear(kp);
		return NOISE_EKEY;
	}
	return NOISE_OK;
}

void
noise_keypair_clear(struct noise_keypair *kp)
{
	if (kp != NULL)
		sodium_memzero(kp, sizeof(*kp));
}

/* ------------------------------------------------------- symmetric state */

void
noise_mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, hs->h, sizeof(hs->h));
	if (len)
		crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, hs->h);
}

int
noise_mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t out[2 * NOISE_HASH_LEN];
	int rc;

	rc = noise_hkdf(out, sizeof(out), hs->ck, sizeof(hs->ck), ikm, len,
	    NULL, 0);
	if (rc == NOISE_OK) {
		memcpy(hs->ck, out, NOISE_HASH_LEN);
		memcpy(hs->k, out + NOISE_HASH_LEN, NOISE_KEY_LEN);
		hs->n = 0;
	}
	sodium_memzero(out, sizeof(out));
	return rc;
}

int
noise_hs_encrypt(struct noise_hs *hs, const uint8_t *in, size_t len,
    uint8_t *out)
{
	uint8_t iv[NOISE_IV_LEN];
	int rc;

	if (hs->n == UINT32_MAX)
		return NOISE_ECOUNTER;
	noise_iv(iv, hs->n);
	rc = noise_aesgcm_seal(hs->k, iv, hs->h, sizeof(hs->h), in, len, out);
	if (rc != NOISE_OK)
		return rc;
	hs->n++;
	noise_mix_hash(hs, out, len + NOISE_TAG_LEN);
	return NOISE_OK;
}

int
noise_hs_decrypt(struct noise_hs *hs, const uint8_t *in, size_t len,
    uint8_t *out)
{
	crypto_hash_sha256_state st;
	uint8_t iv[NOISE_IV_LEN], nh[NOISE_HASH_LEN];
	int rc;

	if (len < NOISE_TAG_LEN)
		return NOISE_EDECRYPT;
	if (hs->n == UINT32_MAX)
		return NOISE_ECOUNTER;
	/* the next h covers the ciphertext, which out may overwrite */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, hs->h, sizeof(hs->h));
	crypto_hash_sha256_update(&st, in, len);
	crypto_hash_sha256_final(&st, nh);
	noise_iv(iv, hs->n);
	rc = noise_aesgcm_open(hs->k, iv, hs->h, sizeof(hs->h), in, len, out);
	if (rc != NOISE_OK)
		return rc;
	hs->n++;
	memcpy(hs->h, nh, sizeof(nh));
	return NOISE_OK;
}

/* ------------------------------------------------------ message codec */

int
noise_msg_build(int type, const uint8_t *ephemeral, size_t elen,
    const uint8_t *static_, size_t slen, const uint8_t *payload,
    size_t plen, struct buf *out)
{
	Wa__HandshakeMessage m = WA__HANDSHAKE_MESSAGE__INIT;
	Wa__HandshakeMessage__ClientHello ch =
	    WA__HANDSHAKE_MESSAGE__CLIENT_HELLO__INIT;
	Wa__HandshakeMessage__ServerHello sh =
	    WA__HANDSHAKE_MESSAGE__SERVER_HELLO__INIT;
	Wa__HandshakeMessage__ClientFinish cf =
	    WA__HANDSHAKE_MESSAGE__CLIENT_FINISH__INIT;
	ProtobufCBinaryData e = { elen, (uint8_t *)ephemeral };
	ProtobufCBinaryData s = { slen, (uint8_t *)static_ };
	ProtobufCBinaryData p = { plen, (uint8_t *)payload };
	uint8_t *tmp = NULL;
	size_t n;
	int rc = NOISE_EINVAL;

	if (out == NULL || (ephemeral == NULL && elen) ||
	    (static_ == NULL && slen) || (payload == NULL && plen))
		return NOISE_EINVAL;
	switch (type) {
	case NOISE_MSG_CLIENT_HELLO:
		ch.has_ephemeral = ephemeral != NULL;
		ch.ephemeral = e;
		ch.has_static_ = static_ != NULL;
		ch.static_ = s;
		ch.has_payload = payload != NULL;
		ch.payload = p;
		m.clienthello = &ch;
		break;
	case NOISE_MSG_SERVER_HELLO:
		sh.has_ephemeral = ephemeral != NULL;
		sh.ephemeral = e;
		sh.has_static_ = static_ != NULL;
		sh.static_ = s;
		sh.has_payload = payload != NULL;
		sh.payload = p;
		m.serverhello = &sh;
		break;
	case NOISE_MSG_CLIENT_FINISH:
		if (ephemeral != NULL)
			goto out;
		cf.has_static_ = static_ != NULL;
		cf.static_ = s;
		cf.has_payload = payload != NULL;
		cf.payload = p;
		m.clientfinish = &cf;
		break;
	default:
		goto out;
	}
	n = wa__handshake_message__get_packed_size(&m);
	if (n > NOISE_HS_MSG_MAX) {
		rc = NOISE_ETOOBIG;
		goto out;
	}
	tmp = xmalloc(n ? n : 1);
	wa__handshake_message__pack(&m, tmp);
	if (buf_append(out, tmp, n) != 0) {
		rc = NOISE_ETOOBIG;
		goto out;
	}
	rc = NOISE_OK;
out:
	free(tmp);
	return rc;
}

static void
noise_msg_view(const ProtobufCBinaryData *b, int has, const uint8_t **p,
    size_t *len)
{
	if (has && b->data != NULL) {
		*p = b->data;
		*len = b->len;
	} else {
		*p = NULL;
		*len = 0;
	}
}

int
noise_msg_parse(const uint8_t *in, size_t len, struct noise_msg *msg)
{
	Wa__HandshakeMessage *m = NULL;
	int rc = NOISE_EPARSE;

	if (msg == NULL)
		return NOISE_EINVAL;
	memset(msg, 0, sizeof(*msg));
	if (in == NULL && len)
		return NOISE_EINVAL;
	if (len > NOISE_HS_MSG_MAX)
		return NOISE_ETOOBIG;
	if ((m = wa__handshake_message__unpack(NULL, len, in)) == NULL)
		goto out;
	if ((m->clienthello != NULL) + (m->serverhello != NULL) +
	    (m->clientfinish != NULL) != 1)
		goto out;
	if (m->clienthello != NULL) {
		msg->type = NOISE_MSG_CLIENT_HELLO;
		noise_msg_view(&m->clienthello->ephemeral,
		    m->clienthello->has_ephemeral, &msg->ephemeral,
		    &msg->ephemeral_len);
		noise_msg_view(&m->clienthello->static_,
		    m->clienthello->has_static_, &msg->static_,
		    &msg->static_len);
		noise_msg_view(&m->clienthello->payload,
		    m->clienthello->has_payload, &msg->payload,
		    &msg->payload_len);
	} else if (m->serverhello != NULL) {
		msg->type = NOISE_MSG_SERVER_HELLO;
		noise_msg_view(&m->serverhello->ephemeral,
		    m->serverhello->has_ephemeral, &msg->ephemeral,
		    &msg->ephemeral_len);
		noise_msg_view(&m->serverhello->static_,
		    m->serverhello->has_static_, &msg->static_,
		    &msg->static_len);
		noise_msg_view(&m->serverhello->payload,
		    m->serverhello->has_payload, &msg->payload,
		    &msg->payload_len);
	} else {
		msg->type = NOISE_MSG_CLIENT_FINISH;
		noise_msg_view(&m->clientfinish->static_,
		    m->clientfinish->has_static_, &msg->static_,
		    &msg->static_len);
		noise_msg_view(&m->clientfinish->payload,
		    m->clientfinish->has_payload, &msg->payload,
		    &msg->payload_len);
	}
	msg->pb = m;
	m = NULL;
	rc = NOISE_OK;
out:
	if (m != NULL)
		wa__handshake_message__free_unpacked(m, NULL);
	return rc;
}

void
noise_msg_free(struct noise_msg *msg)
{
	if (msg == NULL)
		return;
	if (msg->pb != NULL)
		wa__handshake_message__free_unpacked(msg->pb, NULL);
	memset(msg, 0, sizeof(*msg));
}

/* ------------------------------------------------------------ handshake */

int
noise_hs_init(struct noise_hs *hs, int role, const struct noise_keypair *s,
    const struct noise_keypair *e)
{
	if (hs == NULL)
		return NOISE_EINVAL;
	memset(hs, 0, sizeof(*hs));
	hs->step = NOISE_STEP_FAILED;
	if ((role != NOISE_INITIATOR && role != NOISE_RESPONDER) || s == NULL)
		return NOISE_EINVAL;
	noise_sodium_init();
	hs->role = role;
	hs->s = *s;
	if (e != NULL)
		hs->e = *e;
	else
		noise_keypair_generate(&hs->e);
	memcpy(hs->h, noise_protocol_name, NOISE_HASH_LEN);
	memcpy(hs->ck, noise_protocol_name, NOISE_HASH_LEN);
	memcpy(hs->k, noise_protocol_name, NOISE_KEY_LEN);
	hs->n = 0;
	noise_mix_hash(hs, noise_wa_header, NOISE_HEADER_LEN);
	hs->step = 0;	/* NOISE_I_HELLO / NOISE_R_READ_HELLO */
	return NOISE_OK;
}

void
noise_hs_clear(struct noise_hs *hs)
{
	if (hs != NULL) {
		sodium_memzero(hs, sizeof(*hs));
		hs->step = NOISE_STEP_FAILED;
	}
}

/* Both roles: true when hs is ours, in this role and at this step. */
static int
noise_at(const struct noise_hs *hs, int role, int step)
{
	return hs != NULL && hs->role == role && hs->step == step;
}

int
noise_initiator_hello(struct noise_hs *hs, struct buf *out)
{
	int rc;

	if (!noise_at(hs, NOISE_INITIATOR, NOISE_I_HELLO) || out == NULL)
		return NOISE_EINVAL;
	hs->step = NOISE_STEP_FAILED;
	noise_mix_hash(hs, hs->e.pub, NOISE_KEY_LEN);
	rc = noise_msg_build(NOISE_MSG_CLIENT_HELLO, hs->e.pub, NOISE_KEY_LEN,
	    NULL, 0, NULL, 0, out);
	if (rc == NOISE_OK)
		hs->step = NOISE_I_READ_HELLO;
	return rc;
}

int
noise_initiator_read_hello(struct noise_hs *hs, const uint8_t *msg,
    size_t len, uint64_t now, struct buf *cert_out)
{
	struct noise_msg m;
	uint8_t dh[NOISE_KEY_LEN], *cert = NULL;
	size_t certlen = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	if (!noise_at(hs, NOISE_INITIATOR, NOISE_I_READ_HELLO))
		return NOISE_EINVAL;
	hs->step = NOISE_STEP_FAILED;
	hs->cert_err = CERT_OK;
	if ((rc = noise_msg_parse(msg, len, &m)) != NOISE_OK)
		goto out;
	rc = NOISE_EPARSE;
	if (m.type != NOISE_MSG_SERVER_HELLO ||
	    m.ephemeral_len != NOISE_KEY_LEN ||
	    m.static_len != NOISE_ENC_STATIC_LEN ||
	    m.payload_len < NOISE_TAG_LEN)
		goto out;
	memcpy(hs->re, m.ephemeral, NOISE_KEY_LEN);
	noise_mix_hash(hs, hs->re, NOISE_KEY_LEN);
	if ((rc = noise_dh(dh, hs->e.priv, hs->re)) != NOISE_OK ||
	    (rc = noise_mix_key(hs, dh, sizeof(dh))) != NOISE_OK)
		goto out;
	if ((rc = noise_hs_decrypt(hs, m.static_, m.static_len,
	    hs->rs)) != NOISE_OK)
		goto out;
	hs->have_rs = 1;
	if ((rc = noise_dh(dh, hs->e.priv, hs->rs)) != NOISE_OK ||
	    (rc = noise_mix_key(hs, dh, sizeof(dh))) != NOISE_OK)
		goto out;
	certlen = m.payload_len - NOISE_TAG_LEN;
	cert = xmalloc(certlen ? certlen : 1);
	if ((rc = noise_hs_decrypt(hs, m.payload, m.payload_len,
	    cert)) != NOISE_OK)
		goto out;
	hs->cert_err = cert_verify_chain(cert, certlen, hs->rs, now);
	if (hs->cert_err != CERT_OK) {
		rc = NOISE_ECERT;
		goto out;
	}
	if (cert_out != NULL && buf_append(cert_out, cert, certlen) != 0) {
		rc = NOISE_ETOOBIG;
		goto out;
	}
	hs->step = NOISE_I_FINISH;
	rc = NOISE_OK;
out:
	sodium_memzero(dh, sizeof(dh));
	free(cert);
	noise_msg_free(&m);
	return rc;
}

int
noise_initiator_finish(struct noise_hs *hs, const uint8_t *payload,
    size_t len, struct buf *out)
{
	uint8_t encs[NOISE_ENC_STATIC_LEN], dh[NOISE_KEY_LEN], *encp = NULL;
	int rc;

	if (!noise_at(hs, NOISE_INITIATOR, NOISE_I_FINISH) || out == NULL ||
	    (payload == NULL && len))
		return NOISE_EINVAL;
	if (len > NOISE_HS_MSG_MAX - 2 * NOISE_ENC_STATIC_LEN)
		return NOISE_ETOOBIG;
	hs->step = NOISE_STEP_FAILED;
	encp = xmalloc(len + NOISE_TAG_LEN);
	/* counter continues from the certificate's decryption (n = 1) */
	if ((rc = noise_hs_encrypt(hs, hs->s.pub, NOISE_KEY_LEN,
	    encs)) != NOISE_OK)
		goto out;
	if ((rc = noise_dh(dh, hs->s.priv, hs->re)) != NOISE_OK ||
	    (rc = noise_mix_key(hs, dh, sizeof(dh))) != NOISE_OK)
		goto out;
	if ((rc = noise_hs_encrypt(hs, payload, len, encp)) != NOISE_OK)
		goto out;
	rc = noise_msg_build(NOISE_MSG_CLIENT_FINISH, NULL, 0, encs,
	    sizeof(encs), encp, len + NOISE_TAG_LEN, out);
	if (rc == NOISE_OK)
		hs->step = NOISE_SPLIT;
out:
	sodium_memzero(dh, sizeof(dh));
	free(encp);
	return rc;
}

int
noise_responder_read_hello(struct noise_hs *hs, const uint8_t *msg,
    size_t len)
{
	struct noise_msg m;
	int rc;

	if (!noise_at(hs, NOISE_RESPONDER, NOISE_R_READ_HELLO))
		return NOISE_EINVAL;
	hs->step = NOISE_STEP_FAILED;
	if ((rc = noise_msg_parse(msg, len, &m)) != NOISE_OK)
		return rc;
	rc = NOISE_EPARSE;
	if (m.type == NOISE_MSG_CLIENT_HELLO &&
	    m.ephemeral_len == NOISE_KEY_LEN) {
		memcpy(hs->re, m.ephemeral, NOISE_KEY_LEN);
		noise_mix_hash(hs, hs->re, NOISE_KEY_LEN);
		hs->step = NOISE_R_HELLO;
		rc = NOISE_OK;
	}
	noise_msg_free(&m);
	return rc;
}

int
noise_responder_hello(struct noise_hs *hs, const uint8_t *cert,
    size_t certlen, struct buf *out)
{
	uint8_t encs[NOISE_ENC_STATIC_LEN], dh[NOISE_KEY_LEN], *encc = NULL;
	int rc;

	if (!noise_at(hs, NOISE_RESPONDER, NOISE_R_HELLO) || out == NULL ||
	    (cert == NULL && certlen))
		return NOISE_EINVAL;
	if (certlen > NOISE_HS_MSG_MAX - 2 * NOISE_ENC_STATIC_LEN)
		return NOISE_ETOOBIG;
	hs->step = NOISE_STEP_FAILED;
	encc = xmalloc(certlen + NOISE_TAG_LEN);
	noise_mix_hash(hs, hs->e.pub, NOISE_KEY_LEN);
	if ((rc = noise_dh(dh, hs->e.priv, hs->re)) != NOISE_OK ||
	    (rc = noise_mix_key(hs, dh, sizeof(dh))) != NOISE_OK)
		goto out;
	if ((rc = noise_hs_encrypt(hs, hs->s.pub, NOISE_KEY_LEN,
	    encs)) != NOISE_OK)
		goto out;
	if ((rc = noise_dh(dh, hs->s.priv, hs->re)) != NOISE_OK ||
	    (rc = noise_mix_key(hs, dh, sizeof(dh))) != NOISE_OK)
		goto out;
	if ((rc = noise_hs_encrypt(hs, cert, certlen, encc)) != NOISE_OK)
		goto out;
	rc = noise_msg_build(NOISE_MSG_SERVER_HELLO, hs->e.pub, NOISE_KEY_LEN,
	    encs, sizeof(encs), encc, certlen + NOISE_TAG_LEN, out);
	if (rc == NOISE_OK)
		hs->step = NOISE_R_READ_FINISH;
out:
	sodium_memzero(dh, sizeof(dh));
	free(encc);
	return rc;
}

int
noise_responder_read_finish(struct noise_hs *hs, const uint8_t *msg,
    size_t len, struct buf *payload_out)
{
	struct noise_msg m;
	uint8_t dh[NOISE_KEY_LEN], *plain = NULL;
	size_t plen = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	if (!noise_at(hs, NOISE_RESPONDER, NOISE_R_READ_FINISH) ||
	    payload_out == NULL)
		return NOISE_EINVAL;
	hs->step = NOISE_STEP_FAILED;
	if ((rc = noise_msg_parse(msg, len, &m)) != NOISE_OK)
		goto out;
	rc = NOISE_EPARSE;
	if (m.type != NOISE_MSG_CLIENT_FINISH ||
	    m.static_len != NOISE_ENC_STATIC_LEN ||
	    m.payload_len < NOISE_TAG_LEN)
		goto out;
	if ((rc = noise_hs_decrypt(hs, m.static_, m.static_len,
	    hs->rs)) != NOISE_OK)
		goto out;
	hs->have_rs = 1;
	if ((rc = noise_dh(dh, hs->e.priv, hs->rs)) != NOISE_OK ||
	    (rc = noise_mix_key(hs, dh, sizeof(dh))) != NOISE_OK)
		goto out;
	plen = m.payload_len - NOISE_TAG_LEN;
	plain = xmalloc(plen ? plen : 1);
	if ((rc = noise_hs_decrypt(hs, m.payload, m.payload_len,
	    plain)) != NOISE_OK)
		goto out;
	if (buf_append(payload_out, plain, plen) != 0) {
		rc = NOISE_ETOOBIG;
		goto out;
	}
	hs->step = NOISE_SPLIT;
	rc = NOISE_OK;
out:
	sodium_memzero(dh, sizeof(dh));
	if (plain != NULL)
		sodium_memzero(plain, plen);
	free(plain);
	noise_msg_free(&m);
	return rc;
}

int
noise_split(struct noise_hs *hs, struct noise_transport *t)
{
	uint8_t out[2 * NOISE_KEY_LEN], rs[NOISE_KEY_LEN];
	int rc, have_rs, role;

	if (t == NULL)
		return NOISE_EINVAL;
	memset(t, 0, sizeof(*t));
	if (hs == NULL || hs->step != NOISE_SPLIT)
		return NOISE_EINVAL;
	rc = noise_hkdf(out, sizeof(out), hs->ck, sizeof(hs->ck), NULL, 0,
	    NULL, 0);
	if (rc != NOISE_OK)
		goto out;
	if (hs->role == NOISE_INITIATOR) {
		memcpy(t->wkey, out, NOISE_KEY_LEN);
		memcpy(t->rkey, out + NOISE_KEY_LEN, NOISE_KEY_LEN);
	} else {
		memcpy(t->rkey, out, NOISE_KEY_LEN);
		memcpy(t->wkey, out + NOISE_KEY_LEN, NOISE_KEY_LEN);
	}
	t->ready = 1;
out:
	/* wipe everything but the peer's static public key */
	memcpy(rs, hs->rs, sizeof(rs));
	have_rs = hs->have_rs;
	role = hs->role;
	noise_hs_clear(hs);
	memcpy(hs->rs, rs, sizeof(rs));
	hs->have_rs = have_rs;
	hs->role = role;
	sodium_memzero(out, sizeof(out));
	return rc;
}

int
noise_encrypt(struct noise_transport *t, const uint8_t *in, size_t len,
    uint8_t *out, size_t outmax, size_t *outlen)
{
	uint8_t iv[NOISE_IV_LEN];
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (t == NULL || !t->ready || out == NULL || outlen == NULL ||
	    (in == NULL && len))
		return NOISE_EINVAL;
	if (len > NOISE_FRAME_MAX - NOISE_TAG_LEN ||
	    outmax < len + NOISE_TAG_LEN)
		return NOISE_ETOOBIG;
	if (t->wn == UINT32_MAX)
		return NOISE_ECOUNTER;
	noise_iv(iv, t->wn);
	if ((rc = noise_aesgcm_seal(t->wkey, iv, NULL, 0, in, len,
	    out)) != NOISE_OK)
		return rc;
	t->wn++;
	*outlen = len + NOISE_TAG_LEN;
	return NOISE_OK;
}

int
noise_decrypt(struct noise_transport *t, const uint8_t *in, size_t len,
    uint8_t *out, size_t outmax, size_t *outlen)
{
	uint8_t iv[NOISE_IV_LEN];
	int rc;

	if (outlen != NULL)
		*outlen = 0;
	if (t == NULL || !t->ready || out == NULL || outlen == NULL ||
	    (in == NULL && len))
		return NOISE_EINVAL;
	if (t->rn == UINT32_MAX)
		return NOISE_ECOUNTER;
	noise_iv(iv, t->rn);
	t->rn++;		/* advances even for a frame that fails */
	if (len < NOISE_TAG_LEN)
		return NOISE_EDECRYPT;
	if (len > NOISE_FRAME_MAX || outmax < len - NOISE_TAG_LEN)
		return NOISE_ETOOBIG;
	if ((rc = noise_aesgcm_open(t->rkey, iv, NULL, 0, in, len,
	    out)) != NOISE_OK)
		return rc;
	*outlen = len - NOISE_TAG_LEN;
	return NOISE_OK;
}

void
noise_transport_clear(struct noise_transport *t)
{
	if (t != NULL)
		sodium_memzero(t, sizeof(*t));
}
