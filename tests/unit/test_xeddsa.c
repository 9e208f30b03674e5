/*
 * test_xeddsa.c - Curve25519 (XEdDSA) signatures: the xeddsa entry of
 * signal_vectors.json (made by npm libsignal), the certificate signatures
 * of noise_handshake_vector.json, sign/verify round trips, and rejection
 * of altered messages, signatures and keys.  (Interop with
 * libsignal-protocol-c 2.3.3 both ways was checked by hand while writing
 * xeddsa.c; the library is GPL and not linked by our tests.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "t.h"
#include "xeddsa.h"

static struct json_object *
load(const char *rel)
{
	struct json_object *o;
	char *s = t_read_file(t_shared(rel), NULL);

	if (s == NULL || (o = json_tokener_parse(s)) == NULL) {
		printf("# cannot load %s\n", rel);
		exit(1);
	}
	free(s);
	return o;
}

static size_t
vhex(struct json_object *o, const char *key, uint8_t *out, size_t max)
{
	struct json_object *v;
	int n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    (n = t_unhex(json_object_get_string(v), out, max)) < 0) {
		printf("# bad field %s\n", key);
		exit(1);
	}
	return (size_t)n;
}

static void
test_xeddsa_signal_vector(void)
{
	struct json_object *root = load("wa/vectors/signal_vectors.json");
	struct json_object *x;
	uint8_t pub[33], msg[256], sig[64];
	size_t pl, ml;

	if (!json_object_object_get_ex(root, "xeddsa", &x)) {
		printf("# no xeddsa entry\n");
		exit(1);
	}
	pl = vhex(x, "pub", pub, sizeof(pub));
	ml = vhex(x, "message", msg, sizeof(msg));
	vhex(x, "signature", sig, sizeof(sig));
	T_OK(pl == 33 && pub[0] == 0x05, "33-byte 0x05 key");
	T_EQ_INT(xeddsa_verify(pub + 1, msg, ml, sig), 0,
	    "npm libsignal signature verifies");
	msg[ml - 1] ^= 1;
	T_EQ_INT(xeddsa_verify(pub + 1, msg, ml, sig), -1, "altered message");
	msg[ml - 1] ^= 1;
	sig[10] ^= 1;
	T_EQ_INT(xeddsa_verify(pub + 1, msg, ml, sig), -1, "altered R");
	sig[10] ^= 1;
	sig[40] ^= 1;
	T_EQ_INT(xeddsa_verify(pub + 1, msg, ml, sig), -1, "altered s");
	sig[40] ^= 1;
	sig[63] ^= 0x80;
	T_EQ_INT(xeddsa_verify(pub + 1, msg, ml, sig), -1, "flipped sign bit");
	sig[63] ^= 0x80;
	pub[5] ^= 1;
	T_EQ_INT(xeddsa_verify(pub + 1, msg, ml, sig), -1, "other key");
	json_object_put(root);
}

static void
test_xeddsa_cert_vector(void)
{
	struct json_object *root =
	    load("wa/vectors/noise_handshake_vector.json");
	struct json_object *c;
	uint8_t rootpub[32], ipub[32], chain[512], idet[64], ldet[64];
	size_t n, il, ll;

	if (!json_object_object_get_ex(root, "test_cert_chain", &c)) {
		printf("# no test_cert_chain\n");
		exit(1);
	}
	vhex(c, "test_root_pub", rootpub, sizeof(rootpub));
	vhex(c, "intermediate_pub", ipub, sizeof(ipub));
	n = vhex(c, "certchain", chain, sizeof(chain));
	il = vhex(c, "intermediate_details", idet, sizeof(idet));
	ll = vhex(c, "leaf_details", ldet, sizeof(ldet));
	/* layout: 0a 76 {0a 32 leaf-details 12 40 sig} 12 76 {...} */
	T_OK(n == 240 && il == 50 && ll == 50, "chain layout");
	T_EQ_MEM(chain + 4, 50, ldet, 50, "leaf details in place");
	T_EQ_MEM(chain + 124, 50, idet, 50, "intermediate details in place");
	T_EQ_INT(xeddsa_verify(rootpub, idet, il, chain + 176), 0,
	    "intermediate signed by the test root");
	T_EQ_INT(xeddsa_verify(ipub, ldet, ll, chain + 56), 0,
	    "leaf signed by the intermediate");
	T_EQ_INT(xeddsa_verify(rootpub, ldet, ll, chain + 56), -1,
	    "leaf not signed by the root");
	json_object_put(root);
}

static void
test_xeddsa_roundtrip(void)
{
	uint8_t priv[32], pub[32], msg[200], sig[64], sig2[64], z[64];
	int i, bad = 0, hi = 0;

	for (i = 0; i < 200; i++) {
		randombytes_buf(priv, sizeof(priv));
		if (i % 2 == 0) {	/* half clamped, half raw scalars */
			priv[0] &= 248;
			priv[31] &= 127;
			priv[31] |= 64;
		}
		{
			uint8_t c[32];

			memcpy(c, priv, 32);
			c[0] &= 248;
			c[31] &= 127;
			c[31] |= 64;
			crypto_scalarmult_base(pub, c);
		}
		randombytes_buf(msg, sizeof(msg));
		if (xeddsa_sign(priv, msg, (size_t)i, NULL, sig) != 0 ||
		    xeddsa_verify(pub, msg, (size_t)i, sig) != 0)
			bad++;
		if (sig[63] & 0x80)
			hi++;
		if (i > 0) {
			msg[0] ^= 1;
			if (xeddsa_verify(pub, msg, (size_t)i, sig) == 0)
				bad++;
		}
	}
	T_EQ_INT(bad, 0, "200 keys: sign, verify, reject altered");
	T_OK(hi > 20 && hi < 180, "sign bit of A carried in sig[63]");

	memset(z, 7, sizeof(z));
	xeddsa_sign(priv, msg, 10, z, sig);
	xeddsa_sign(priv, msg, 10, z, sig2);
	T_EQ_MEM(sig, 64, sig2, 64, "same random, same signature");
	xeddsa_sign(priv, msg, 10, NULL, sig2);
	T_OK(memcmp(sig, sig2, 64) != 0, "fresh random, new signature");
	T_EQ_INT(xeddsa_sign(priv, NULL, 0, NULL, sig), 0, "empty message");
	{
		uint8_t c[32];

		memcpy(c, priv, 32);
		c[0] &= 248;
		c[31] &= 127;
		c[31] |= 64;
		crypto_scalarmult_base(pub, c);
	}
	T_EQ_INT(xeddsa_verify(pub, NULL, 0, sig), 0, "verify empty message");
	memset(pub, 0, sizeof(pub));
	T_EQ_INT(xeddsa_verify(pub, NULL, 0, sig), -1, "zero key refused");
	memset(pub, 0xff, sizeof(pub));
	pub[0] = 0xec;
	pub[31] = 0x7f;
	T_EQ_INT(xeddsa_verify(pub, NULL, 0, sig), -1, "u = p - 1 refused");
	memset(pub, 0xff, sizeof(pub));
	T_EQ_INT(xeddsa_verify(pub, NULL, 0, sig), -1, "non-canonical u");
	memset(sig, 0, sizeof(sig));
	T_EQ_INT(xeddsa_verify(pub, NULL, 0, sig), -1, "zero signature");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	if (sodium_init() < 0)
		return 1;
	T_RUN(test_xeddsa_signal_vector);
	T_RUN(test_xeddsa_cert_vector);
	T_RUN(test_xeddsa_roundtrip);
	return t_done();
}
