/*
 * cert.c - verify (and, for the fake server, create) the Noise server
 * certificate chain: PROTOCOL.md 1.4, all eight checks whatsmeow makes.
 * Input comes from the network: every field is checked for presence and
 * length before use, nothing here crashes or logs on bad input (callers
 * log the returned code).  The only log line is the warning when a test
 * root replaces WhatsApp's.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "cert.h"
#include "xeddsa.h"
#include "wa.pb-c.h"

const uint8_t cert_wa_root_key[CERT_KEY_LEN] = {
	0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71,
	0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
	0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c,
	0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
};

static uint8_t	cert_root_key[CERT_KEY_LEN] = {
	0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71,
	0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
	0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c,
	0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
};

static const struct {
	int		 code;
	const char	*msg;
} cert_errors[] = {
	{ CERT_OK,		"ok" },
	{ CERT_EMALFORMED,	"malformed certificate chain" },
	{ CERT_ESIG_ROOT,	"intermediate not signed by the root key" },
	{ CERT_EISSUER,		"issuer serial mismatch" },
	{ CERT_ESIG_LEAF,	"leaf not signed by the intermediate key" },
	{ CERT_EEXPIRED,	"certificate not valid at this time" },
	{ CERT_EKEY,		"leaf key is not the server static key" },
	{ CERT_EINVAL,		"invalid argument" },
};

const char *
cert_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(cert_errors) / sizeof(cert_errors[0]); i++)
		if (cert_errors[i].code == err)
			return cert_errors[i].msg;
	return "unknown certificate error";
}

/* A certificate must carry details and a 64-byte signature (check 1). */
static int
cert_present(const Wa__CertChain__NoiseCertificate *c)
{
	return c != NULL && c->has_details && c->details.data != NULL &&
	    c->details.len > 0 && c->has_signature &&
	    c->signature.len == CERT_SIG_LEN;
}

/* Nested messages have no generated unpack function. */
static Wa__CertChain__NoiseCertificate__Details *
cert_details_unpack(const ProtobufCBinaryData *b)
{
	return (Wa__CertChain__NoiseCertificate__Details *)
	    protobuf_c_message_unpack(
	    &wa__cert_chain__noise_certificate__details__descriptor, NULL,
	    b->len, b->data);
}

static int
cert_valid_at(const Wa__CertChain__NoiseCertificate__Details *d,
    uint64_t now)
{
	uint64_t nb = d->has_notbefore ? d->notbefore : 0;
	uint64_t na = d->has_notafter ? d->notafter : 0;

	return now >= nb && now <= na;
}

int
cert_verify_chain_root(const uint8_t *chain, size_t len,
    const uint8_t server_static[CERT_KEY_LEN], uint64_t now,
    const uint8_t root[CERT_KEY_LEN])
{
	Wa__CertChain *cc = NULL;
	Wa__CertChain__NoiseCertificate__Details *id = NULL, *ld = NULL;
	const Wa__CertChain__NoiseCertificate *inter, *leaf;
	int rc = CERT_EMALFORMED;

	if (chain == NULL || server_static == NULL || root == NULL)
		return CERT_EINVAL;
	if (len == 0 || len > CERT_CHAIN_MAX)
		goto out;
	if ((cc = wa__cert_chain__unpack(NULL, len, chain)) == NULL)
		goto out;
	inter = cc->intermediate;
	leaf = cc->leaf;
	/* 1. both certificates have details and a 64-byte signature */
	if (!cert_present(inter) || !cert_present(leaf))
		goto out;
	/* 2. intermediate signed by the root */
	if (xeddsa_verify(root, inter->details.data, inter->details.len,
	    inter->signature.data) != 0) {
		rc = CERT_ESIG_ROOT;
		goto out;
	}
	/* 3. intermediate details: issuer is the root, 32-byte key */
	id = cert_details_unpack(&inter->details);
	if (id == NULL || !id->has_key || id->key.len != CERT_KEY_LEN)
		goto out;
	if ((id->has_issuerserial ? id->issuerserial : 0) !=
	    CERT_ROOT_ISSUER_SERIAL) {
		rc = CERT_EISSUER;
		goto out;
	}
	/* 4. leaf signed by the intermediate key */
	if (xeddsa_verify(id->key.data, leaf->details.data, leaf->details.len,
	    leaf->signature.data) != 0) {
		rc = CERT_ESIG_LEAF;
		goto out;
	}
	/* 5. intermediate validity */
	if (!cert_valid_at(id, now)) {
		rc = CERT_EEXPIRED;
		goto out;
	}
	/* 6. leaf details, issued by the intermediate */
	ld = cert_details_unpack(&leaf->details);
	if (ld == NULL || !ld->has_key || ld->key.len != CERT_KEY_LEN)
		goto out;
	if ((ld->has_issuerserial ? ld->issuerserial : 0) !=
	    (id->has_serial ? id->serial : 0)) {
		rc = CERT_EISSUER;
		goto out;
	}
	/* 7. the leaf certifies the key the server proved it holds */
	if (sodium_memcmp(ld->key.data, server_static, CERT_KEY_LEN) != 0) {
		rc = CERT_EKEY;
		goto out;
	}
	/* 8. leaf validity */
	if (!cert_valid_at(ld, now)) {
		rc = CERT_EEXPIRED;
		goto out;
	}
	rc = CERT_OK;
out:
	if (ld != NULL)
		protobuf_c_message_free_unpacked(&ld->base, NULL);
	if (id != NULL)
		protobuf_c_message_free_unpacked(&id->base, NULL);
	if (cc != NULL)
		wa__cert_chain__free_unpacked(cc, NULL);
	return rc;
}

int
cert_verify_chain(const uint8_t *chain, size_t len,
    const uint8_t server_static[CERT_KEY_LEN], uint64_t now)
{
	return cert_verify_chain_root(chain, len, server_static, now,
	    cert_root_key);
}

const uint8_t *
cert_root(void)
{
	return cert_root_key;
}

int
cert_root_is_test(void)
{
	return memcmp(cert_root_key, cert_wa_root_key, CERT_KEY_LEN) != 0;
}

void
cert_set_root(const uint8_t root[CERT_KEY_LEN])
{
	memcpy(cert_root_key, root, CERT_KEY_LEN);
	if (cert_root_is_test())
		log_warnx("WARNING: server certificates are checked against a "
		    "TEST root key, not WhatsApp's (WA_CERT_ROOT) - this "
		    "connection is NOT authenticated as WhatsApp; never use "
		    "this setting in production");
}

static int
cert_unhex(const char *hex, uint8_t *out, size_t outlen)
{
	size_t n = 0;
	const char *end = NULL;

	if (strlen(hex) != outlen * 2 ||
	    sodium_hex2bin(out, outlen, hex, outlen * 2, NULL, &n,
	    &end) != 0 || n != outlen || *end != '\0')
		return -1;
	return 0;
}

int
cert_set_root_hex(const char *hex)
{
	uint8_t k[CERT_KEY_LEN];

	if (hex == NULL || cert_unhex(hex, k, sizeof(k)) != 0)
		return CERT_EINVAL;
	cert_set_root(k);
	return 0;
}

void
cert_reset_root(void)
{
	memcpy(cert_root_key, cert_wa_root_key, CERT_KEY_LEN);
}

int
cert_root_from_config(void)
{
	const char *v = config_get("WA_CERT_ROOT");

	if (v == NULL || *v == '\0') {
		cert_reset_root();
		return 0;
	}
	if (cert_set_root_hex(v) != 0) {
		log_warnx("WA_CERT_ROOT is not 64 hex digits; ignored, "
		    "WhatsApp's root key stays in use");
		cert_reset_root();
		return CERT_EINVAL;
	}
	return 0;
}

void
cert_params_default(struct cert_params *p, uint64_t now)
{
	memset(p, 0, sizeof(*p));
	p->int_serial = 7;
	p->int_issuer_serial = CERT_ROOT_ISSUER_SERIAL;
	p->int_not_before = now > 86400 ? now - 86400 : 0;
	p->int_not_after = now + 365 * 86400ULL;
	p->leaf_serial = 99;
	p->leaf_issuer_serial = p->int_serial;
	p->leaf_not_before = p->int_not_before;
	p->leaf_not_after = p->int_not_after;
}

/* Serialize Details, sign them, append the NoiseCertificate to *nc. */
static int
cert_make_one(uint32_t serial, uint32_t issuer, const uint8_t key[32],
    uint64_t nb, uint64_t na, const uint8_t signer_priv[32],
    uint8_t *det, size_t detmax, size_t *detlen, uint8_t sig[64])
{
	Wa__CertChain__NoiseCertificate__Details d =
	    WA__CERT_CHAIN__NOISE_CERTIFICATE__DETAILS__INIT;

	d.has_serial = d.has_issuerserial = d.has_key = 1;
	d.has_notbefore = d.has_notafter = 1;
	d.serial = serial;
	d.issuerserial = issuer;
	d.key.data = (uint8_t *)key;
	d.key.len = CERT_KEY_LEN;
	d.notbefore = nb;
	d.notafter = na;
	if (protobuf_c_message_get_packed_size(&d.base) > detmax)
		return -1;
	*detlen = protobuf_c_message_pack(&d.base, det);
	return xeddsa_sign(signer_priv, det, *detlen, NULL, sig);
}

int
cert_create_chain(const uint8_t root_priv[CERT_KEY_LEN],
    const uint8_t int_priv[CERT_KEY_LEN],
    const uint8_t leaf_pub[CERT_KEY_LEN],
    const struct cert_params *p, struct buf *out)
{
	Wa__CertChain cc = WA__CERT_CHAIN__INIT;
	Wa__CertChain__NoiseCertificate leaf =
	    WA__CERT_CHAIN__NOISE_CERTIFICATE__INIT;
	Wa__CertChain__NoiseCertificate inter =
	    WA__CERT_CHAIN__NOISE_CERTIFICATE__INIT;
	uint8_t int_pub[CERT_KEY_LEN], idet[128], ldet[128];
	uint8_t isig[CERT_SIG_LEN], lsig[CERT_SIG_LEN], packed[512];
	size_t ilen, llen, n;
	int rc = CERT_EINVAL;

	if (root_priv == NULL || int_priv == NULL || leaf_pub == NULL ||
	    p == NULL || out == NULL)
		return CERT_EINVAL;
	if (crypto_scalarmult_base(int_pub, int_priv) != 0)
		goto out;
	if (cert_make_one(p->int_serial, p->int_issuer_serial, int_pub,
	    p->int_not_before, p->int_not_after, root_priv, idet,
	    sizeof(idet), &ilen, isig) != 0)
		goto out;
	if (cert_make_one(p->leaf_serial, p->leaf_issuer_serial, leaf_pub,
	    p->leaf_not_before, p->leaf_not_after, int_priv, ldet,
	    sizeof(ldet), &llen, lsig) != 0)
		goto out;
	inter.has_details = inter.has_signature = 1;
	inter.details.data = idet;
	inter.details.len = ilen;
	inter.signature.data = isig;
	inter.signature.len = sizeof(isig);
	leaf.has_details = leaf.has_signature = 1;
	leaf.details.data = ldet;
	leaf.details.len = llen;
	leaf.signature.data = lsig;
	leaf.signature.len = sizeof(lsig);
	cc.leaf = &leaf;
	cc.intermediate = &inter;
	if (wa__cert_chain__get_packed_size(&cc) > sizeof(packed))
		goto out;
	n = wa__cert_chain__pack(&cc, packed);
	if (buf_append(out, packed, n) != 0)
		goto out;
	rc = CERT_OK;
out:
	return rc;
}
