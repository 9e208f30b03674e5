/*
 * test_noise.c - Noise XX handshake (noise_handshake_vector.json step by
 * step, both roles), initiator <-> responder round trips, transport
 * counters, handshake misuse and malformed messages, and the server
 * certificate chain: the vector's chain accepted under its test root and
 * every rejection cert_verify_chain knows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "t.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "cert.h"
#include "noise.h"
#include "payload.h"

#define VEC_NOW		1750000000ULL	/* inside the vector's validity */

static struct json_object *vec;

static void
vec_load(void)
{
	char *s;

	if (vec != NULL)
		return;
	s = t_read_file(t_shared("wa/vectors/noise_handshake_vector.json"),
	    NULL);
	if (s == NULL) {
		printf("# cannot read noise_handshake_vector.json\n");
		exit(1);
	}
	vec = json_tokener_parse(s);
	free(s);
	if (vec == NULL) {
		printf("# bad JSON in noise_handshake_vector.json\n");
		exit(1);
	}
}

/* Hex value of key in obj (NULL: the vector root) into out; length. */
static size_t
vhex_in(struct json_object *obj, const char *key, uint8_t *out, size_t max)
{
	struct json_object *v;
	int n;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    (n = t_unhex(json_object_get_string(v), out, max)) < 0) {
		printf("# vector field %s missing or bad\n", key);
		exit(1);
	}
	return (size_t)n;
}

static size_t
vhex(const char *key, uint8_t *out, size_t max)
{
	vec_load();
	return vhex_in(vec, key, out, max);
}

static size_t
vchain(const char *key, uint8_t *out, size_t max)
{
	struct json_object *c;

	vec_load();
	if (!json_object_object_get_ex(vec, "test_cert_chain", &c)) {
		printf("# no test_cert_chain\n");
		exit(1);
	}
	return vhex_in(c, key, out, max);
}

/* ck/k pair "name": [ck, k] */
static void
vpair(const char *key, uint8_t ck[32], uint8_t k[32])
{
	struct json_object *a;

	vec_load();
	if (!json_object_object_get_ex(vec, key, &a) ||
	    json_object_array_length(a) != 2 ||
	    t_unhex(json_object_get_string(json_object_array_get_idx(a, 0)),
	    ck, 32) != 32 ||
	    t_unhex(json_object_get_string(json_object_array_get_idx(a, 1)),
	    k, 32) != 32) {
		printf("# vector pair %s bad\n", key);
		exit(1);
	}
}

static void
vkeypair(const char *key, struct noise_keypair *kp)
{
	uint8_t priv[32];

	vhex(key, priv, sizeof(priv));
	if (noise_keypair_from_priv(kp, priv) != 0) {
		printf("# bad key %s\n", key);
		exit(1);
	}
}

static void
set_test_root(void)
{
	uint8_t root[32];

	vchain("test_root_pub", root, sizeof(root));
	cert_set_root(root);
}

/* "len24 || msg" (and the WA header first when intro). */
static void
wire(struct buf *w, int intro, const uint8_t *msg, size_t len)
{
	uint8_t l[3] = { (uint8_t)(len >> 16), (uint8_t)(len >> 8),
	    (uint8_t)len };

	buf_reset(w);
	if (intro)
		buf_append(w, noise_wa_header, NOISE_HEADER_LEN);
	buf_append(w, l, 3);
	buf_append(w, msg, len);
}

/* Every intermediate value of the vector, with the symmetric primitives. */
static void
test_noise_vector_steps(void)
{
	struct noise_keypair s, e, se;
	struct noise_hs hs;
	struct noise_msg m;
	struct buf out;
	uint8_t want[512], got[512], ck[32], k[32], dh[32], rs[32];
	size_t n;

	buf_init(&out, NOISE_HS_MSG_MAX);
	vkeypair("client_static_noise_priv", &s);
	vkeypair("client_ephemeral_priv", &e);
	vkeypair("server_ephemeral_priv", &se);
	n = vhex("client_ephemeral_pub", want, sizeof(want));
	T_EQ_MEM(e.pub, 32, want, n, "client ephemeral pub");
	n = vhex("client_static_noise_pub", want, sizeof(want));
	T_EQ_MEM(s.pub, 32, want, n, "client static pub");
	n = vhex("server_ephemeral_pub", want, sizeof(want));
	T_EQ_MEM(se.pub, 32, want, n, "server ephemeral pub");

	T_OK(noise_hs_init(&hs, NOISE_INITIATOR, &s, &e) == 0, "init");
	n = vhex("wa_header", want, sizeof(want));
	T_EQ_MEM(noise_wa_header, NOISE_HEADER_LEN, want, n, "WA header");
	T_OK(memcmp(noise_protocol_name, "Noise_XX_25519_AESGCM_SHA256\0\0\0",
	    32) == 0, "protocol name is 32 bytes with 4 NULs");
	n = vhex("h0_after_prologue", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h0 = SHA256(name || prologue)");
	T_EQ_MEM(hs.ck, 32, noise_protocol_name, 32, "ck0 = name");

	/* message 1 */
	T_OK(noise_initiator_hello(&hs, &out) == 0, "ClientHello");
	n = vhex("frame1_ClientHello_protobuf", want, sizeof(want));
	T_EQ_MEM(out.data, out.len, want, n, "frame1 protobuf");
	n = vhex("h1_after_client_e", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h1");
	{
		struct buf w;

		buf_init(&w, 1 << 16);
		wire(&w, 1, out.data, out.len);
		n = vhex("frame1_on_wire", want, sizeof(want));
		T_EQ_MEM(w.data, w.len, want, n, "frame1 on the wire");
		buf_free(&w);
	}

	/* message 2 by hand */
	n = vhex("frame2_ServerHello_protobuf", got, sizeof(got));
	T_OK(noise_msg_parse(got, n, &m) == 0 &&
	    m.type == NOISE_MSG_SERVER_HELLO, "ServerHello parses");
	T_OK(m.ephemeral_len == 32 && m.static_len == 48, "ServerHello sizes");
	noise_mix_hash(&hs, m.ephemeral, 32);
	n = vhex("h2_after_server_e", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h2");
	T_OK(noise_dh(dh, e.priv, m.ephemeral) == 0 &&
	    noise_mix_key(&hs, dh, 32) == 0, "MixKey(ee)");
	vpair("ck_k_after_ee", ck, k);
	T_EQ_MEM(hs.ck, 32, ck, 32, "ck after ee");
	T_EQ_MEM(hs.k, 32, k, 32, "k after ee");
	T_OK(noise_hs_decrypt(&hs, m.static_, m.static_len, rs) == 0,
	    "decrypt server static (n=0)");
	n = vhex("server_static_pub", want, sizeof(want));
	T_EQ_MEM(rs, 32, want, n, "server static");
	n = vhex("h3_after_decrypt_static", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h3 (MixHash of the ciphertext)");
	T_OK(noise_dh(dh, e.priv, rs) == 0 && noise_mix_key(&hs, dh, 32) == 0,
	    "MixKey(es)");
	vpair("ck_k_after_es", ck, k);
	T_EQ_MEM(hs.ck, 32, ck, 32, "ck after es");
	T_EQ_MEM(hs.k, 32, k, 32, "k after es");
	{
		uint8_t cert[1024];

		T_OK(m.payload_len - 16 <= sizeof(cert) &&
		    noise_hs_decrypt(&hs, m.payload, m.payload_len, cert) == 0,
		    "decrypt certificate");
		n = vhex("cert_plain", want, sizeof(want));
		T_EQ_MEM(cert, m.payload_len - 16, want, n, "cert plaintext");
		T_OK(hs.n == 1, "counter 1 after the certificate");
	}
	noise_msg_free(&m);
	n = vhex("h4_after_decrypt_cert", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h4");

	/* message 3 by hand (continues from here) */
	T_OK(noise_hs_encrypt(&hs, s.pub, 32, got) == 0, "encrypt static");
	n = vhex("client_static_ciphertext(iv counter=1)", want, sizeof(want));
	T_EQ_MEM(got, 48, want, n, "static ciphertext uses IV counter 1");
	n = vhex("h5", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h5");
	T_OK(noise_dh(dh, s.priv, se.pub) == 0 &&
	    noise_mix_key(&hs, dh, 32) == 0, "MixKey(se)");
	vpair("ck_k_after_se", ck, k);
	T_EQ_MEM(hs.ck, 32, ck, 32, "ck after se");
	T_EQ_MEM(hs.k, 32, k, 32, "k after se");
	n = vhex("client_payload_plain", want, sizeof(want));
	T_OK(noise_hs_encrypt(&hs, want, n, got) == 0, "encrypt payload");
	{
		size_t cl = n + 16;

		n = vhex("client_payload_ciphertext(iv counter=0)", want,
		    sizeof(want));
		T_EQ_MEM(got, cl, want, n, "payload ciphertext (n=0)");
	}
	n = vhex("h6", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h6");

	noise_hs_clear(&hs);
	buf_free(&out);
}

/* The same handshake through the initiator API, then the transport. */
static void
test_noise_vector_initiator(void)
{
	struct noise_keypair s, e;
	struct noise_hs hs;
	struct noise_transport tr;
	struct buf out, cert, w;
	uint8_t want[512], in[512], plain[64], ct[128];
	size_t n, pl, cl;

	buf_init(&out, NOISE_HS_MSG_MAX);
	buf_init(&cert, CERT_CHAIN_MAX);
	buf_init(&w, 1 << 16);
	vkeypair("client_static_noise_priv", &s);
	vkeypair("client_ephemeral_priv", &e);
	set_test_root();

	T_OK(noise_hs_init(&hs, NOISE_INITIATOR, &s, &e) == 0 &&
	    noise_initiator_hello(&hs, &out) == 0, "hello");
	n = vhex("frame2_ServerHello_protobuf", in, sizeof(in));
	T_EQ_INT(noise_initiator_read_hello(&hs, in, n, VEC_NOW, &cert), 0,
	    "ServerHello accepted, chain verified with the test root");
	n = vhex("cert_plain", want, sizeof(want));
	T_EQ_MEM(cert.data, cert.len, want, n, "cert_out");
	n = vhex("h4_after_decrypt_cert", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h4");
	n = vhex("server_static_pub", want, sizeof(want));
	T_OK(hs.have_rs && memcmp(hs.rs, want, 32) == 0, "rs");

	buf_reset(&out);
	n = vhex("client_payload_plain", in, sizeof(in));
	T_OK(noise_initiator_finish(&hs, in, n, &out) == 0, "ClientFinish");
	n = vhex("frame3_ClientFinish_protobuf", want, sizeof(want));
	T_EQ_MEM(out.data, out.len, want, n, "frame3 protobuf");
	wire(&w, 0, out.data, out.len);
	n = vhex("frame3_on_wire", want, sizeof(want));
	T_EQ_MEM(w.data, w.len, want, n, "frame3 on the wire");
	n = vhex("h6", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h6");

	T_OK(noise_split(&hs, &tr) == 0, "split");
	n = vhex("transport_client_write_key", want, sizeof(want));
	T_EQ_MEM(tr.wkey, 32, want, n, "write key = first half");
	n = vhex("transport_client_read_key", want, sizeof(want));
	T_EQ_MEM(tr.rkey, 32, want, n, "read key = second half");
	T_OK(sodium_is_zero(hs.ck, 32) && sodium_is_zero(hs.e.priv, 32) &&
	    sodium_is_zero(hs.s.priv, 32), "handshake secrets wiped");

	pl = vhex("first_transport_frame_plain(keepalive vector)", plain,
	    sizeof(plain));
	T_OK(noise_encrypt(&tr, plain, pl, ct, sizeof(ct), &cl) == 0 &&
	    cl == pl + 16, "encrypt frame 0");
	n = vhex("first_transport_frame_ciphertext(write key, counter 0, "
	    "no AAD)", want, sizeof(want));
	T_EQ_MEM(ct, cl, want, n, "frame 0 ciphertext");
	wire(&w, 0, ct, cl);
	n = vhex("first_transport_frame_on_wire", want, sizeof(want));
	T_EQ_MEM(w.data, w.len, want, n, "frame 0 on the wire");
	T_OK(noise_encrypt(&tr, plain, pl, ct, sizeof(ct), &cl) == 0,
	    "encrypt frame 1");
	n = vhex("second_transport_frame_ciphertext(counter 1)", want,
	    sizeof(want));
	T_EQ_MEM(ct, cl, want, n, "frame 1 ciphertext (counter 1)");
	T_OK(noise_encrypt(&tr, plain, pl, ct, pl + 15, &cl) ==
	    NOISE_ETOOBIG, "short output buffer refused");

	noise_transport_clear(&tr);
	cert_reset_root();
	buf_free(&out);
	buf_free(&cert);
	buf_free(&w);
}

/* The fake server's side reproduces frame 2 and reads frame 3. */
static void
test_noise_vector_responder(void)
{
	struct noise_keypair s, e, cs;
	struct noise_hs hs;
	struct noise_transport tr;
	struct buf out, pay;
	uint8_t want[512], in[512], cert[512], pt[64];
	size_t n, cn, pl;

	buf_init(&out, NOISE_HS_MSG_MAX);
	buf_init(&pay, 1 << 16);
	vkeypair("server_static_priv", &s);
	vkeypair("server_ephemeral_priv", &e);
	vkeypair("client_static_noise_priv", &cs);
	n = vhex("server_static_pub", want, sizeof(want));
	T_EQ_MEM(s.pub, 32, want, n, "server static pub");

	T_OK(noise_hs_init(&hs, NOISE_RESPONDER, &s, &e) == 0, "init");
	n = vhex("frame1_ClientHello_protobuf", in, sizeof(in));
	T_OK(noise_responder_read_hello(&hs, in, n) == 0, "read ClientHello");
	n = vhex("h1_after_client_e", want, sizeof(want));
	T_EQ_MEM(hs.h, 32, want, n, "h1");
	cn = vhex("cert_plain", cert, sizeof(cert));
	T_OK(noise_responder_hello(&hs, cert, cn, &out) == 0, "ServerHello");
	n = vhex("frame2_ServerHello_protobuf", want, sizeof(want));
	T_EQ_MEM(out.data, out.len, want, n, "frame2 protobuf identical");
	n = vhex("frame3_ClientFinish_protobuf", in, sizeof(in));
	T_OK(noise_responder_read_finish(&hs, in, n, &pay) == 0,
	    "read ClientFinish");
	n = vhex("client_payload_plain", want, sizeof(want));
	T_EQ_MEM(pay.data, pay.len, want, n, "ClientPayload plaintext");
	T_OK(hs.have_rs && memcmp(hs.rs, cs.pub, 32) == 0,
	    "client static key learnt");
	T_OK(noise_split(&hs, &tr) == 0, "split");
	T_OK(hs.have_rs && memcmp(hs.rs, cs.pub, 32) == 0,
	    "rs kept after split");
	n = vhex("transport_client_write_key", want, sizeof(want));
	T_EQ_MEM(tr.rkey, 32, want, n, "server reads with the client's "
	    "write key");
	n = vhex("first_transport_frame_ciphertext(write key, counter 0, "
	    "no AAD)", in, sizeof(in));
	T_OK(noise_decrypt(&tr, in, n, pt, sizeof(pt), &pl) == 0,
	    "decrypt frame 0");
	n = vhex("first_transport_frame_plain(keepalive vector)", want,
	    sizeof(want));
	T_EQ_MEM(pt, pl, want, n, "frame 0 plaintext");
	noise_transport_clear(&tr);
	buf_free(&out);
	buf_free(&pay);
}

/* Full in-process handshake with fresh keys and a freshly made chain. */
struct rt {
	struct noise_keypair	root, inter, cs, ss;
	struct noise_hs		c, s;
	struct noise_transport	ct, st;
	struct buf		chain;
};

static int
rt_run(struct rt *r, uint64_t now, const struct cert_params *pp,
    const uint8_t *leaf_pub)
{
	struct cert_params p;
	struct buf m, pay;
	const char payload[] = "client payload bytes";
	int rc = -100;

	buf_init(&m, NOISE_HS_MSG_MAX);
	buf_init(&pay, 1 << 16);
	buf_init(&r->chain, CERT_CHAIN_MAX);
	if (pp == NULL)
		cert_params_default(&p, now);
	else
		p = *pp;
	if (cert_create_chain(r->root.priv, r->inter.priv,
	    leaf_pub ? leaf_pub : r->ss.pub, &p, &r->chain) != 0)
		goto out;
	if (noise_hs_init(&r->c, NOISE_INITIATOR, &r->cs, NULL) != 0 ||
	    noise_hs_init(&r->s, NOISE_RESPONDER, &r->ss, NULL) != 0 ||
	    noise_initiator_hello(&r->c, &m) != 0 ||
	    noise_responder_read_hello(&r->s, m.data, m.len) != 0)
		goto out;
	buf_reset(&m);
	if (noise_responder_hello(&r->s, r->chain.data, r->chain.len,
	    &m) != 0)
		goto out;
	if ((rc = noise_initiator_read_hello(&r->c, m.data, m.len, now,
	    NULL)) != 0)
		goto out;
	buf_reset(&m);
	rc = -101;
	if (noise_initiator_finish(&r->c, (const uint8_t *)payload,
	    sizeof(payload), &m) != 0 ||
	    noise_responder_read_finish(&r->s, m.data, m.len, &pay) != 0 ||
	    pay.len != sizeof(payload) ||
	    memcmp(pay.data, payload, sizeof(payload)) != 0 ||
	    memcmp(r->s.rs, r->cs.pub, 32) != 0 ||
	    noise_split(&r->c, &r->ct) != 0 || noise_split(&r->s, &r->st) != 0)
		goto out;
	rc = 0;
out:
	buf_free(&m);
	buf_free(&pay);
	return rc;
}

static void
rt_init(struct rt *r)
{
	memset(r, 0, sizeof(*r));
	noise_keypair_generate(&r->root);
	noise_keypair_generate(&r->inter);
	noise_keypair_generate(&r->cs);
	noise_keypair_generate(&r->ss);
	cert_set_root(r->root.pub);
}

static void
rt_done(struct rt *r)
{
	noise_hs_clear(&r->c);
	noise_hs_clear(&r->s);
	noise_transport_clear(&r->ct);
	noise_transport_clear(&r->st);
	buf_free(&r->chain);
	cert_reset_root();
}

static void
test_noise_roundtrip(void)
{
	struct rt r;
	uint8_t msg[300], ct[400], pt[400], bad[400];
	size_t cl, pl, bl;
	int i, ok = 1;

	rt_init(&r);
	T_EQ_INT(rt_run(&r, 1800000000ULL, NULL, NULL), 0, "handshake");
	T_OK(memcmp(r.ct.wkey, r.st.rkey, 32) == 0 &&
	    memcmp(r.ct.rkey, r.st.wkey, 32) == 0 &&
	    memcmp(r.ct.wkey, r.ct.rkey, 32) != 0, "keys pair up");
	for (i = 0; i < 50; i++) {
		randombytes_buf(msg, sizeof(msg));
		if (noise_encrypt(i % 2 ? &r.st : &r.ct, msg, (size_t)i * 6,
		    ct, sizeof(ct), &cl) != 0 ||
		    noise_decrypt(i % 2 ? &r.ct : &r.st, ct, cl, pt,
		    sizeof(pt), &pl) != 0 || pl != (size_t)i * 6 ||
		    memcmp(pt, msg, pl) != 0)
			ok = 0;
	}
	T_OK(ok, "50 frames both ways");
	T_OK(r.ct.wn == 25 && r.ct.rn == 25 && r.st.wn == 25 &&
	    r.st.rn == 25, "per-direction counters");

	/* a corrupt frame fails, the counter still moves on */
	noise_encrypt(&r.ct, msg, 40, bad, sizeof(bad), &bl);
	noise_encrypt(&r.ct, msg, 41, ct, sizeof(ct), &cl);
	bad[3] ^= 0x40;
	T_EQ_INT(noise_decrypt(&r.st, bad, bl, pt, sizeof(pt), &pl),
	    NOISE_EDECRYPT, "tampered frame rejected");
	T_OK(noise_decrypt(&r.st, ct, cl, pt, sizeof(pt), &pl) == 0 &&
	    pl == 41, "next frame decrypts (read counter advanced)");
	T_OK(noise_decrypt(&r.st, ct, cl, pt, sizeof(pt), &pl) ==
	    NOISE_EDECRYPT, "replayed frame rejected");
	T_EQ_INT(noise_decrypt(&r.st, ct, 15, pt, sizeof(pt), &pl),
	    NOISE_EDECRYPT, "frame shorter than a tag");
	noise_encrypt(&r.ct, msg, 0, ct, sizeof(ct), &cl);
	T_OK(cl == 16, "empty frame = tag only");
	rt_done(&r);
}

static void
test_noise_handshake_cert_rejected(void)
{
	struct rt r;
	struct cert_params p;

	rt_init(&r);
	cert_reset_root();	/* WhatsApp's key: our chain is not theirs */
	T_EQ_INT(rt_run(&r, 1800000000ULL, NULL, NULL), NOISE_ECERT,
	    "chain from another root refused");
	T_EQ_INT(r.c.cert_err, CERT_ESIG_ROOT, "reason: root signature");
	T_EQ_INT(noise_initiator_finish(&r.c, (const uint8_t *)"x", 1,
	    &r.chain), NOISE_EINVAL, "no ClientFinish after a failure");
	rt_done(&r);

	rt_init(&r);
	T_EQ_INT(rt_run(&r, 1800000000ULL, NULL, r.cs.pub), NOISE_ECERT,
	    "leaf for another key refused");
	T_EQ_INT(r.c.cert_err, CERT_EKEY, "reason: leaf key");
	rt_done(&r);

	rt_init(&r);
	cert_params_default(&p, 1000000000ULL);
	T_EQ_INT(rt_run(&r, 1800000000ULL, &p, NULL), NOISE_ECERT,
	    "expired chain refused");
	T_EQ_INT(r.c.cert_err, CERT_EEXPIRED, "reason: expired");
	rt_done(&r);
}

/* A login ClientPayload carried by the handshake, read by the server. */
static void
test_noise_carries_payload(void)
{
	struct noise_keypair root, inter, cs, ss;
	struct noise_hs c, s;
	struct cert_params p;
	struct payload_opts o;
	struct payload_info pi;
	struct buf chain, m, pl, got;
	uint64_t now = 1800000000ULL;

	buf_init(&chain, CERT_CHAIN_MAX);
	buf_init(&m, NOISE_HS_MSG_MAX);
	buf_init(&pl, PAYLOAD_MAX);
	buf_init(&got, PAYLOAD_MAX);
	noise_keypair_generate(&root);
	noise_keypair_generate(&inter);
	noise_keypair_generate(&cs);
	noise_keypair_generate(&ss);
	cert_params_default(&p, now);
	cert_create_chain(root.priv, inter.priv, ss.pub, &p, &chain);
	cert_set_root(root.pub);
	payload_opts_default(&o);
	payload_build_login(&o, 491701234567ULL, 3, &pl);

	noise_hs_init(&c, NOISE_INITIATOR, &cs, NULL);
	noise_hs_init(&s, NOISE_RESPONDER, &ss, NULL);
	noise_initiator_hello(&c, &m);
	noise_responder_read_hello(&s, m.data, m.len);
	buf_reset(&m);
	noise_responder_hello(&s, chain.data, chain.len, &m);
	T_EQ_INT(noise_initiator_read_hello(&c, m.data, m.len, now, NULL), 0,
	    "server accepted");
	buf_reset(&m);
	T_EQ_INT(noise_initiator_finish(&c, pl.data, pl.len, &m), 0,
	    "finish with a real ClientPayload");
	T_EQ_INT(noise_responder_read_finish(&s, m.data, m.len, &got), 0,
	    "server reads it");
	T_EQ_INT(payload_parse(got.data, got.len, &pi), 0, "and parses it");
	T_OK(pi.login && pi.username == 491701234567ULL && pi.device == 3,
	    "login 491701234567:3");
	T_OK(memcmp(s.rs, cs.pub, 32) == 0, "server knows our noise key");
	noise_hs_clear(&c);
	noise_hs_clear(&s);
	cert_reset_root();
	buf_free(&chain);
	buf_free(&m);
	buf_free(&pl);
	buf_free(&got);
}

static void
test_noise_misuse(void)
{
	struct noise_keypair s;
	struct noise_hs hs;
	struct noise_transport tr;
	struct noise_msg m;
	struct buf out;
	uint8_t junk[64], e32[32], pt[8];
	size_t n;

	buf_init(&out, NOISE_HS_MSG_MAX);
	noise_keypair_generate(&s);
	T_EQ_INT(noise_hs_init(&hs, 7, &s, NULL), NOISE_EINVAL, "bad role");
	T_EQ_INT(noise_initiator_hello(&hs, &out), NOISE_EINVAL,
	    "failed init stays failed");
	noise_hs_init(&hs, NOISE_INITIATOR, &s, NULL);
	T_EQ_INT(noise_initiator_finish(&hs, NULL, 0, &out), NOISE_EINVAL,
	    "finish before hello");
	T_EQ_INT(noise_split(&hs, &tr), NOISE_EINVAL, "split too early");
	T_OK(!tr.ready, "transport not ready");
	T_EQ_INT(noise_encrypt(&tr, junk, 4, junk, sizeof(junk), &n),
	    NOISE_EINVAL, "unready transport refuses");
	T_EQ_INT(noise_decrypt(&tr, junk, 20, pt, sizeof(pt), &n),
	    NOISE_EINVAL, "unready transport refuses to decrypt");
	noise_initiator_hello(&hs, &out);
	T_EQ_INT(noise_initiator_hello(&hs, &out), NOISE_EINVAL,
	    "hello twice");
	/* the client's own hello is not a ServerHello */
	T_EQ_INT(noise_initiator_read_hello(&hs, out.data, out.len, 0, NULL),
	    NOISE_EPARSE, "ClientHello as ServerHello");
	noise_hs_clear(&hs);

	/* ServerHello with a short ephemeral / no static */
	noise_hs_init(&hs, NOISE_INITIATOR, &s, NULL);
	buf_reset(&out);
	noise_initiator_hello(&hs, &out);
	buf_reset(&out);
	memset(e32, 9, sizeof(e32));
	noise_msg_build(NOISE_MSG_SERVER_HELLO, e32, 31, junk, 48, junk, 40,
	    &out);
	T_EQ_INT(noise_initiator_read_hello(&hs, out.data, out.len, 0, NULL),
	    NOISE_EPARSE, "31-byte ephemeral");
	noise_hs_clear(&hs);
	noise_hs_init(&hs, NOISE_INITIATOR, &s, NULL);
	noise_initiator_hello(&hs, &out);
	buf_reset(&out);
	noise_msg_build(NOISE_MSG_SERVER_HELLO, e32, 32, NULL, 0, junk, 40,
	    &out);
	T_EQ_INT(noise_initiator_read_hello(&hs, out.data, out.len, 0, NULL),
	    NOISE_EPARSE, "no static");
	noise_hs_clear(&hs);
	noise_hs_init(&hs, NOISE_INITIATOR, &s, NULL);
	noise_initiator_hello(&hs, &out);
	buf_reset(&out);
	memset(junk, 0x5a, sizeof(junk));
	noise_msg_build(NOISE_MSG_SERVER_HELLO, s.pub, 32, junk, 48, junk, 40,
	    &out);
	T_EQ_INT(noise_initiator_read_hello(&hs, out.data, out.len, 0, NULL),
	    NOISE_EDECRYPT, "garbage static does not decrypt");
	noise_hs_clear(&hs);
	/* low-order server ephemeral (all zero) */
	noise_hs_init(&hs, NOISE_INITIATOR, &s, NULL);
	noise_initiator_hello(&hs, &out);
	buf_reset(&out);
	memset(e32, 0, sizeof(e32));
	noise_msg_build(NOISE_MSG_SERVER_HELLO, e32, 32, junk, 48, junk, 40,
	    &out);
	T_EQ_INT(noise_initiator_read_hello(&hs, out.data, out.len, 0, NULL),
	    NOISE_EKEY, "all-zero ephemeral");
	noise_hs_clear(&hs);

	/* codec */
	T_EQ_INT(noise_msg_parse((const uint8_t *)"\x12\x02\x0a", 3, &m),
	    NOISE_EPARSE, "truncated protobuf");
	T_EQ_INT(noise_msg_parse(NULL, 0, &m), NOISE_EPARSE,
	    "empty message has no part");
	/* clientHello (2) and serverHello (3) both present */
	T_EQ_INT(noise_msg_parse((const uint8_t *)"\x12\x00\x1a\x00", 4, &m),
	    NOISE_EPARSE, "two parts refused");
	T_EQ_INT(noise_msg_parse((const uint8_t *)"\x22\x00", 2, &m), 0,
	    "empty ClientFinish parses");
	T_OK(m.type == NOISE_MSG_CLIENT_FINISH && m.static_ == NULL &&
	    m.payload_len == 0, "with nothing in it");
	noise_msg_free(&m);
	T_EQ_INT(noise_msg_build(NOISE_MSG_CLIENT_FINISH, e32, 32, NULL, 0,
	    NULL, 0, &out), NOISE_EINVAL, "ClientFinish has no ephemeral");
	T_EQ_INT(noise_msg_build(9, NULL, 0, NULL, 0, NULL, 0, &out),
	    NOISE_EINVAL, "unknown type");
	T_OK(strcmp(noise_strerror(NOISE_ECERT), "server certificate "
	    "rejected") == 0, "strerror");
	buf_free(&out);
}

/* ---------------------------------------------------------- certificates */

static void
test_cert_vector_chain(void)
{
	uint8_t chain[1024], root[32], leaf[32], other[32], tmp[1024];
	uint8_t ipub[32], idet[128];
	size_t n, dn;

	n = vchain("certchain", chain, sizeof(chain));
	vchain("test_root_pub", root, sizeof(root));
	vhex("server_static_pub", leaf, sizeof(leaf));
	vhex("client_static_noise_pub", other, sizeof(other));
	{
		uint8_t cp[1024];
		size_t cpn = vhex("cert_plain", cp, sizeof(cp));

		T_EQ_MEM(chain, n, cp, cpn, "cert_plain is the chain");
	}
	T_EQ_INT(cert_verify_chain_root(chain, n, leaf, VEC_NOW, root),
	    CERT_OK, "vector chain valid under the test root");
	T_EQ_INT(cert_verify_chain_root(chain, n, leaf, 1700000000ULL, root),
	    CERT_OK, "valid at notBefore");
	T_EQ_INT(cert_verify_chain_root(chain, n, leaf, 4102444800ULL, root),
	    CERT_OK, "valid at notAfter");
	T_EQ_INT(cert_verify_chain_root(chain, n, leaf, 1699999999ULL, root),
	    CERT_EEXPIRED, "not yet valid");
	T_EQ_INT(cert_verify_chain_root(chain, n, leaf, 4102444801ULL, root),
	    CERT_EEXPIRED, "expired");
	T_EQ_INT(cert_verify_chain(chain, n, leaf, VEC_NOW), CERT_ESIG_ROOT,
	    "rejected under WhatsApp's real root (default)");
	T_EQ_INT(cert_verify_chain_root(chain, n, other, VEC_NOW, root),
	    CERT_EKEY, "leaf key != server static");
	memcpy(tmp, chain, n);
	tmp[n - 5] ^= 1;	/* intermediate signature (last field) */
	T_EQ_INT(cert_verify_chain_root(tmp, n, leaf, VEC_NOW, root),
	    CERT_ESIG_ROOT, "bad intermediate signature");
	memcpy(tmp, chain, n);
	tmp[2 + 2 + 50 + 2 + 10] ^= 1;	/* inside the leaf signature */
	T_EQ_INT(cert_verify_chain_root(tmp, n, leaf, VEC_NOW, root),
	    CERT_ESIG_LEAF, "bad leaf signature");
	memcpy(tmp, chain, n);
	tmp[2 + 2 + 7] ^= 1;		/* leaf details: a key byte */
	T_EQ_INT(cert_verify_chain_root(tmp, n, leaf, VEC_NOW, root),
	    CERT_ESIG_LEAF, "altered leaf details");
	T_EQ_INT(cert_verify_chain_root(chain, n - 1, leaf, VEC_NOW, root),
	    CERT_EMALFORMED, "truncated chain");
	T_EQ_INT(cert_verify_chain_root(chain, 0, leaf, VEC_NOW, root),
	    CERT_EMALFORMED, "empty chain");
	T_EQ_INT(cert_verify_chain_root(chain, 120, leaf, VEC_NOW, root),
	    CERT_EMALFORMED, "leaf only");
	T_EQ_INT(cert_verify_chain_root(NULL, 3, leaf, VEC_NOW, root),
	    CERT_EINVAL, "NULL chain");
	/* the vector's intermediate details decode as the spec says */
	dn = vchain("intermediate_details", idet, sizeof(idet));
	vchain("intermediate_pub", ipub, sizeof(ipub));
	T_OK(dn == 50 && idet[0] == 0x08 && idet[1] == 7 && idet[2] == 0x10 &&
	    idet[3] == 0 && memcmp(idet + 6, ipub, 32) == 0,
	    "intermediate serial 7, issuer 0, key");
}

static void
test_cert_created_chains(void)
{
	struct noise_keypair root, inter, leaf, other;
	struct cert_params p;
	struct buf b;
	uint64_t now = 1800000000ULL;

	buf_init(&b, CERT_CHAIN_MAX);
	noise_keypair_generate(&root);
	noise_keypair_generate(&inter);
	noise_keypair_generate(&leaf);
	noise_keypair_generate(&other);

	cert_params_default(&p, now);
	T_OK(cert_create_chain(root.priv, inter.priv, leaf.pub, &p, &b) == 0,
	    "create");
	T_EQ_INT(cert_verify_chain_root(b.data, b.len, leaf.pub, now,
	    root.pub), CERT_OK, "created chain verifies");
	T_EQ_INT(cert_verify_chain_root(b.data, b.len, leaf.pub, now,
	    other.pub), CERT_ESIG_ROOT, "wrong root");
	cert_set_root(root.pub);
	T_OK(cert_root_is_test(), "test root in use");
	T_EQ_INT(cert_verify_chain(b.data, b.len, leaf.pub, now), CERT_OK,
	    "global test root");
	cert_reset_root();
	T_OK(!cert_root_is_test() && memcmp(cert_root(), cert_wa_root_key,
	    32) == 0, "reset to WhatsApp's root");

	buf_reset(&b);
	cert_params_default(&p, now);
	p.int_issuer_serial = 1;
	cert_create_chain(root.priv, inter.priv, leaf.pub, &p, &b);
	T_EQ_INT(cert_verify_chain_root(b.data, b.len, leaf.pub, now,
	    root.pub), CERT_EISSUER, "intermediate issuer serial != 0");

	buf_reset(&b);
	cert_params_default(&p, now);
	p.leaf_issuer_serial = p.int_serial + 1;
	cert_create_chain(root.priv, inter.priv, leaf.pub, &p, &b);
	T_EQ_INT(cert_verify_chain_root(b.data, b.len, leaf.pub, now,
	    root.pub), CERT_EISSUER, "leaf issuer serial != intermediate");

	buf_reset(&b);
	cert_params_default(&p, now);
	p.int_not_after = now - 1;
	cert_create_chain(root.priv, inter.priv, leaf.pub, &p, &b);
	T_EQ_INT(cert_verify_chain_root(b.data, b.len, leaf.pub, now,
	    root.pub), CERT_EEXPIRED, "intermediate expired");

	buf_reset(&b);
	cert_params_default(&p, now);
	p.leaf_not_before = now + 1;
	cert_create_chain(root.priv, inter.priv, leaf.pub, &p, &b);
	T_EQ_INT(cert_verify_chain_root(b.data, b.len, leaf.pub, now,
	    root.pub), CERT_EEXPIRED, "leaf not yet valid");

	/* config */
	T_OK(config_set("WA_CERT_ROOT", "zz") == 0, "config set");
	T_EQ_INT(cert_root_from_config(), CERT_EINVAL, "bad hex refused");
	T_OK(!cert_root_is_test(), "real root kept after bad config");
	{
		char hex[65];

		sodium_bin2hex(hex, sizeof(hex), root.pub, 32);
		config_set("WA_CERT_ROOT", hex);
		T_EQ_INT(cert_root_from_config(), 0, "hex root accepted");
		T_OK(memcmp(cert_root(), root.pub, 32) == 0, "test root set");
	}
	config_set("WA_CERT_ROOT", "");
	T_EQ_INT(cert_root_from_config(), 0, "empty config");
	T_OK(!cert_root_is_test(), "back to WhatsApp's root");
	config_set("WA_CERT_ROOT", NULL);
	T_OK(strcmp(cert_strerror(CERT_EKEY), "leaf key is not the server "
	    "static key") == 0, "strerror");
	buf_free(&b);
}

/* Chains whose intermediate and leaf are each certified correctly but
 * wired to the wrong signer. */
static void
test_cert_wrong_signer(void)
{
	struct noise_keypair root, inter, leaf, rogue;
	struct cert_params p;
	struct buf good, bad;
	uint64_t now = 1800000000ULL;
	const uint8_t *lp;

	buf_init(&good, CERT_CHAIN_MAX);
	buf_init(&bad, CERT_CHAIN_MAX);
	noise_keypair_generate(&root);
	noise_keypair_generate(&inter);
	noise_keypair_generate(&leaf);
	noise_keypair_generate(&rogue);
	cert_params_default(&p, now);
	cert_create_chain(root.priv, inter.priv, leaf.pub, &p, &good);
	cert_create_chain(rogue.priv, rogue.priv, leaf.pub, &p, &bad);
	/*
	 * Splice: the good intermediate (signed by root, key = inter) with
	 * the rogue leaf (signed by rogue).  Both chains serialize leaf
	 * first, each certificate 2 + 50 + 2 + 64 bytes long.
	 */
	T_OK(good.len == 240 && bad.len == 240, "chain layout");
	lp = bad.data;
	memcpy(good.data, lp, 120);
	T_EQ_INT(cert_verify_chain_root(good.data, good.len, leaf.pub, now,
	    root.pub), CERT_ESIG_LEAF, "leaf signed by another key");
	buf_free(&good);
	buf_free(&bad);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test_noise", LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	T_RUN(test_noise_vector_steps);
	T_RUN(test_noise_vector_initiator);
	T_RUN(test_noise_vector_responder);
	T_RUN(test_noise_roundtrip);
	T_RUN(test_noise_handshake_cert_rejected);
	T_RUN(test_noise_carries_payload);
	T_RUN(test_noise_misuse);
	T_RUN(test_cert_vector_chain);
	T_RUN(test_cert_created_chains);
	T_RUN(test_cert_wrong_signer);
	if (vec != NULL)
		json_object_put(vec);
	return t_done();
}
