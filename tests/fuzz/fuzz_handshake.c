/*
 * fuzz_handshake.c - libFuzzer target for everything a client parses while
 * connecting: the Noise ServerHello, the server certificate chain, and (the
 * fake server's side) ClientFinish / ClientPayload, plus the pair-success
 * device identity.  Keys are pinned (noise_handshake_vector.json's), so
 * runs are deterministic, as in OpenSSH's kex_fuzz.
 *
 * Byte 0 picks the mode, the rest is the input:
 *   0  raw ServerHello protobuf, after our ClientHello
 *   1  certificate chain plaintext, encrypted by a real responder into a
 *      ServerHello, so the chain is reached through the full client path
 *   2  certificate chain straight into cert_verify_chain_root
 *   3  raw ClientFinish protobuf into the responder
 *   4  ClientPayload plaintext through a real ClientFinish, then
 *      payload_parse (what the fake server reads)
 *   5  ADVSignedDeviceIdentity bytes behind a valid HMAC, then
 *      pairing_handle_identity; and the raw bytes as a pairing reply
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "cert.h"
#include "noise.h"
#include "pairing.h"
#include "payload.h"
#include "wa.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW	1750000000ULL

static const uint8_t fuzz_client_e[32] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
static const uint8_t fuzz_client_s[32] = {
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
	0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
	0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40,
};
static const uint8_t fuzz_server_e[32] = {
	0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50,
	0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
	0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60,
};
static const uint8_t fuzz_server_s[32] = {
	0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
	0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70,
	0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
	0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f, 0x80,
};
/* test_cert_chain.test_root_pub of the vector */
static const uint8_t fuzz_root[32] = {
	0xff, 0x5d, 0x87, 0x90, 0x7f, 0x13, 0x94, 0xb3,
	0xa1, 0x31, 0x98, 0x5b, 0x89, 0x4f, 0x51, 0x3d,
	0xe7, 0x27, 0x78, 0xce, 0x27, 0xb8, 0xc1, 0x0b,
	0x32, 0xf9, 0x39, 0x82, 0xa8, 0x7c, 0xda, 0x47,
};

/* the vector's cert_plain: a chain for fuzz_server_s under fuzz_root */
static const uint8_t fuzz_chain[240] = {
	0x0a, 0x76, 0x0a, 0x32, 0x08, 0x63, 0x10, 0x07,
	0x1a, 0x20, 0x24, 0x4f, 0xe3, 0xb9, 0x63, 0xe8,
	0x99, 0xdd, 0x29, 0x5b, 0xaf, 0xfc, 0xe2, 0x48,
	0xd3, 0x53, 0x0f, 0x3a, 0x9a, 0x74, 0x79, 0xba,
	0x06, 0x30, 0x02, 0x68, 0x0e, 0xbf, 0xe7, 0xad,
	0xad, 0x49, 0x20, 0x80, 0xe2, 0xcf, 0xaa, 0x06,
	0x28, 0x80, 0xae, 0x99, 0xa4, 0x0f, 0x12, 0x40,
	0x7c, 0xfb, 0x22, 0x9a, 0x3c, 0x8e, 0xc9, 0x8e,
	0x12, 0xeb, 0x37, 0xf6, 0x39, 0x96, 0x1f, 0x1a,
	0xc4, 0x98, 0xaf, 0x1c, 0xb6, 0xfb, 0xa1, 0x14,
	0x81, 0xf6, 0x6f, 0xe5, 0xf6, 0x83, 0xe2, 0xd4,
	0x0f, 0x23, 0x86, 0xc5, 0xe9, 0x58, 0x21, 0x0b,
	0xd6, 0x92, 0xb2, 0x95, 0x3f, 0x50, 0xc1, 0xc3,
	0x0f, 0xdd, 0x6a, 0x98, 0x22, 0x57, 0x13, 0x2b,
	0xd2, 0x76, 0xed, 0x22, 0x97, 0xa8, 0xb9, 0x02,
	0x12, 0x76, 0x0a, 0x32, 0x08, 0x07, 0x10, 0x00,
	0x1a, 0x20, 0x2d, 0xfc, 0x12, 0x2e, 0x60, 0xd7,
	0xe1, 0x8d, 0xbd, 0xc4, 0x38, 0xb4, 0x19, 0x60,
	0x9d, 0x76, 0x20, 0xc1, 0xd8, 0x8d, 0xfd, 0x73,
	0xe7, 0x6e, 0x3e, 0xeb, 0xaf, 0xf5, 0x20, 0x70,
	0x3a, 0x58, 0x20, 0x80, 0xe2, 0xcf, 0xaa, 0x06,
	0x28, 0x80, 0xae, 0x99, 0xa4, 0x0f, 0x12, 0x40,
	0x7e, 0xba, 0xcb, 0x09, 0x30, 0x16, 0xb6, 0xf4,
	0x5b, 0xa0, 0x6d, 0x7d, 0xec, 0x3a, 0x31, 0x88,
	0xc7, 0x24, 0x38, 0xae, 0x24, 0x26, 0xfa, 0x1f,
	0x33, 0x24, 0x95, 0x42, 0x09, 0x40, 0xfa, 0x88,
	0x83, 0x60, 0x53, 0xf8, 0x9e, 0xed, 0x9e, 0x1a,
	0x57, 0xc5, 0x27, 0x44, 0x59, 0x17, 0x9d, 0x7f,
	0x90, 0x92, 0xd4, 0xec, 0x89, 0x87, 0xaf, 0x71,
	0x27, 0x1e, 0xaa, 0x73, 0x2a, 0x62, 0x4c, 0x89,
};

static struct noise_keypair ce, cs, se, ss;

static void
fuzz_init(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	log_init("fuzz_handshake", LOG_LVL_ERROR);
	if (noise_keypair_from_priv(&ce, fuzz_client_e) != 0 ||
	    noise_keypair_from_priv(&cs, fuzz_client_s) != 0 ||
	    noise_keypair_from_priv(&se, fuzz_server_e) != 0 ||
	    noise_keypair_from_priv(&ss, fuzz_server_s) != 0)
		abort();
	cert_set_root(fuzz_root);
}

/* Client up to the point where it waits for ServerHello. */
static void
fuzz_client(struct noise_hs *c, struct buf *hello)
{
	if (noise_hs_init(c, NOISE_INITIATOR, &cs, &ce) != 0 ||
	    noise_initiator_hello(c, hello) != 0)
		abort();
}

static void
fuzz_server_hello(const uint8_t *p, size_t n)
{
	struct noise_hs c;
	struct buf m;

	buf_init(&m, NOISE_HS_MSG_MAX);
	fuzz_client(&c, &m);
	if (noise_initiator_read_hello(&c, p, n, FUZZ_NOW, NULL) == 0) {
		buf_reset(&m);
		if (noise_initiator_finish(&c, p, n > 64 ? 64 : n, &m) != 0)
			abort();
	}
	noise_hs_clear(&c);
	buf_free(&m);
}

static void
fuzz_cert_via_noise(const uint8_t *p, size_t n)
{
	struct noise_hs c, s;
	struct buf m;
	int rc;

	buf_init(&m, NOISE_HS_MSG_MAX);
	fuzz_client(&c, &m);
	if (noise_hs_init(&s, NOISE_RESPONDER, &ss, &se) != 0 ||
	    noise_responder_read_hello(&s, m.data, m.len) != 0)
		abort();
	buf_reset(&m);
	if (noise_responder_hello(&s, p, n, &m) == 0) {
		rc = noise_initiator_read_hello(&c, m.data, m.len, FUZZ_NOW,
		    NULL);
		/* the transport layer may fail only on the certificate */
		if (rc != 0 && rc != NOISE_ECERT)
			abort();
		if (rc == NOISE_ECERT && c.cert_err == CERT_OK)
			abort();
	}
	noise_hs_clear(&c);
	noise_hs_clear(&s);
	buf_free(&m);
}

/* A completed ServerHello exchange: the client is ready to finish. */
static void
fuzz_server(struct noise_hs *c, struct noise_hs *s, struct buf *m)
{
	fuzz_client(c, m);
	if (noise_hs_init(s, NOISE_RESPONDER, &ss, &se) != 0 ||
	    noise_responder_read_hello(s, m->data, m->len) != 0)
		abort();
	buf_reset(m);
	if (noise_responder_hello(s, fuzz_chain, sizeof(fuzz_chain), m) != 0 ||
	    noise_initiator_read_hello(c, m->data, m->len, FUZZ_NOW,
	    NULL) != 0)
		abort();
	buf_reset(m);
}

static void
fuzz_client_finish(const uint8_t *p, size_t n)
{
	struct noise_hs c, s;
	struct noise_transport t;
	struct buf m, pay;

	buf_init(&m, NOISE_HS_MSG_MAX);
	buf_init(&pay, NOISE_HS_MSG_MAX);
	fuzz_server(&c, &s, &m);
	if (noise_responder_read_finish(&s, p, n, &pay) == 0) {
		if (noise_split(&s, &t) != 0)
			abort();
		noise_transport_clear(&t);
	}
	noise_hs_clear(&c);
	noise_hs_clear(&s);
	buf_free(&m);
	buf_free(&pay);
}

static void
fuzz_client_payload(const uint8_t *p, size_t n)
{
	struct noise_hs c, s;
	struct payload_info pi;
	struct buf m, pay;

	buf_init(&m, NOISE_HS_MSG_MAX);
	buf_init(&pay, NOISE_HS_MSG_MAX);
	fuzz_server(&c, &s, &m);
	if (noise_initiator_finish(&c, p, n, &m) == 0) {
		if (noise_responder_read_finish(&s, m.data, m.len, &pay) != 0 ||
		    pay.len != n || (n && memcmp(pay.data, p, n) != 0))
			abort();
		(void)payload_parse(pay.data, pay.len, &pi);
	}
	noise_hs_clear(&c);
	noise_hs_clear(&s);
	buf_free(&m);
	buf_free(&pay);
}

static void
fuzz_identity(const uint8_t *p, size_t n)
{
	Wa__ADVSignedDeviceIdentityHMAC h =
	    WA__ADVSIGNED_DEVICE_IDENTITY_HMAC__INIT;
	struct pairing_identity pi;
	uint8_t adv[32], mac[32], *out;
	size_t len;

	memset(adv, 0x09, sizeof(adv));
	pairing_adv_hmac(adv, p, n, 0, mac);
	h.has_details = h.has_hmac = 1;
	h.details.data = (uint8_t *)p;
	h.details.len = n;
	h.hmac.data = mac;
	h.hmac.len = sizeof(mac);
	len = wa__advsigned_device_identity_hmac__get_packed_size(&h);
	out = malloc(len ? len : 1);
	if (out == NULL)
		abort();
	wa__advsigned_device_identity_hmac__pack(&h, out);
	if (pairing_handle_identity(out, len, adv, cs.priv, cs.pub, &pi) == 0)
		pairing_identity_free(&pi);
	free(out);
	(void)pairing_verify_reply(p, n, ss.pub, cs.pub, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	size_t n;

	fuzz_init();
	if (size < 1 || size > NOISE_HS_MSG_MAX)
		return 0;
	p = data + 1;
	n = size - 1;
	switch (data[0] % 6) {
	case 0:
		fuzz_server_hello(p, n);
		break;
	case 1:
		fuzz_cert_via_noise(p, n);
		break;
	case 2:
		(void)cert_verify_chain_root(p, n, ss.pub, FUZZ_NOW,
		    fuzz_root);
		break;
	case 3:
		fuzz_client_finish(p, n);
		break;
	case 4:
		fuzz_client_payload(p, n);
		break;
	default:
		fuzz_identity(p, n);
		break;
	}
	return 0;
}
