/* test_signal.c - Signal protocol: keys, XEdDSA, sessions (X3DH + double
 * ratchet), sender keys; vectors from signal_vectors.json (npm libsignal,
 * checked with libsignal-protocol-c) and our own round trips. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "t.h"
#include "signal-keys.h"
#include "signal-xeddsa.h"

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

static struct json_object *
vo(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o != NULL)
		json_object_object_get_ex(o, key, &v);
	return v;
}

static void
test_xeddsa_vector(void)
{
	struct json_object *x = vo(vec, "xeddsa");
	uint8_t pubser[33], pub[32], msg[128], sig[64];
	int mlen;

	T_OK(vh(x, "pub", pubser, sizeof(pubser)) == 33, "pub is 33 bytes");
	T_OK(signal_pub_parse(pub, pubser, 33) == 0, "parse 0x05 key");
	mlen = vh(x, "message", msg, sizeof(msg));
	T_OK(vh(x, "signature", sig, sizeof(sig)) == 64, "sig");
	T_OK(signal_verify(pub, msg, (size_t)mlen, sig) == 0,
	    "npm libsignal signature verifies");
	msg[0] ^= 1;
	T_EQ_INT(signal_verify(pub, msg, (size_t)mlen, sig),
	    SIGNAL_ERR_SIGNATURE, "altered message rejected");
	msg[0] ^= 1;
	sig[10] ^= 4;
	T_EQ_INT(signal_verify(pub, msg, (size_t)mlen, sig),
	    SIGNAL_ERR_SIGNATURE, "altered signature rejected");
}

static void
test_keys_vector(void)
{
	struct json_object *r = vo(vec, "receiver");
	struct signal_keypair kp;
	uint8_t priv[32], pubser[33], pub[32], sig[64];

	vh(r, "identity_priv", priv, 32);
	vh(r, "identity_pub", pubser, 33);
	T_OK(signal_keypair_from_priv(&kp, priv) == 0, "identity from priv");
	T_EQ_MEM(kp.pub, 32, pubser + 1, 32, "identity pub matches");
	vh(r, "signed_prekey_pub", pubser, 33);
	vh(r, "signed_prekey_signature", sig, 64);
	signal_pub_parse(pub, pubser, 33);
	T_OK(signal_signed_prekey_verify(kp.pub, pub, sig) == 0,
	    "vector signed prekey signature verifies");
	vh(r, "prekey_priv", priv, 32);
	vh(r, "prekey_pub", pubser, 33);
	signal_keypair_from_priv(&kp, priv);
	T_EQ_MEM(kp.pub, 32, pubser + 1, 32, "prekey pub matches");
	pubser[0] = 0x06;
	T_EQ_INT(signal_pub_parse(pub, pubser, 33), SIGNAL_ERR_KEY,
	    "wrong type byte rejected");
	T_EQ_INT(signal_pub_parse(pub, pubser + 1, 32), SIGNAL_ERR_KEY,
	    "32-byte key rejected in protobuf form");
}

static void
test_keys_generate(void)
{
	struct signal_keypair id, a, b;
	struct signal_signed_prekey spk;
	struct signal_prekey pk[3];
	uint8_t s1[32], s2[32], sig[64];
	uint32_t next, reg;
	int i, ok = 1;

	signal_keypair_generate(&id);
	T_OK((id.priv[0] & 7) == 0 && (id.priv[31] & 0xc0) == 0x40,
	    "generated key clamped");
	T_OK(signal_signed_prekey_generate(&spk, &id, 1) == 0, "spk");
	T_OK(signal_signed_prekey_verify(id.pub, spk.kp.pub, spk.sig) == 0,
	    "our spk signature verifies");
	spk.sig[0] ^= 1;
	T_OK(signal_signed_prekey_verify(id.pub, spk.kp.pub, spk.sig) != 0,
	    "bad spk signature rejected");
	for (i = 0; i < 50; i++) {
		signal_keypair_generate(&a);
		signal_sign(a.priv, (const uint8_t *)"abc", 3, sig);
		if (signal_verify(a.pub, (const uint8_t *)"abc", 3, sig) != 0)
			ok = 0;
	}
	T_OK(ok, "50 random sign/verify");
	signal_keypair_generate(&a);
	signal_keypair_generate(&b);
	T_OK(signal_dh(s1, a.priv, b.pub) == 0 &&
	    signal_dh(s2, b.priv, a.pub) == 0 && memcmp(s1, s2, 32) == 0,
	    "dh agrees");
	memset(s1, 0, 32);
	T_EQ_INT(signal_dh(s2, a.priv, s1), SIGNAL_ERR_KEY,
	    "low-order peer key rejected");
	next = signal_prekeys_generate(pk, 3, SIGNAL_PREKEY_ID_MAX - 1);
	T_OK(pk[0].id == SIGNAL_PREKEY_ID_MAX - 1 &&
	    pk[1].id == SIGNAL_PREKEY_ID_MAX && pk[2].id == 1 && next == 2,
	    "prekey ids wrap, skipping 0 and 0xFFFFFF");
	reg = signal_registration_id_generate();
	T_OK(reg >= 1 && reg <= 16380, "registration id range");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	vec = json_object_from_file(t_shared("wa/vectors/signal_vectors.json"));
	if (vec == NULL) {
		printf("not ok 1 - signal_vectors.json missing\n1..1\n");
		return 1;
	}
	T_RUN(test_xeddsa_vector);
	T_RUN(test_keys_vector);
	T_RUN(test_keys_generate);
	json_object_put(vec);
	return t_done();
}
