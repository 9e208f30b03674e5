/*
 * test_pairing.c - pairing crypto: crypto_vectors.json entries adv_hmac,
 * pair_code and pair_code_finish; the QR string; the pair-success device
 * identity round trip (primary builds, companion checks and signs, primary
 * checks the reply) with its rejections; pair-code companion <-> primary.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "t.h"
#include "buf.h"
#include "log.h"
#include "noise.h"
#include "pairing.h"
#include "xeddsa.h"

static struct json_object *cv;

static struct json_object *
entry(const char *name)
{
	struct json_object *e;
	char *s;

	if (cv == NULL) {
		s = t_read_file(t_shared("wa/vectors/crypto_vectors.json"),
		    NULL);
		if (s == NULL || (cv = json_tokener_parse(s)) == NULL) {
			printf("# cannot load crypto_vectors.json\n");
			exit(1);
		}
		free(s);
	}
	if (!json_object_object_get_ex(cv, name, &e)) {
		printf("# no entry %s\n", name);
		exit(1);
	}
	return e;
}

static const char *
vstr(struct json_object *e, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(e, key, &v)) {
		printf("# no field %s\n", key);
		exit(1);
	}
	return json_object_get_string(v);
}

static size_t
vhex(struct json_object *e, const char *key, uint8_t *out, size_t max)
{
	int n = t_unhex(vstr(e, key), out, max);

	if (n < 0) {
		printf("# bad hex in %s\n", key);
		exit(1);
	}
	return (size_t)n;
}

static void
test_adv_hmac_vector(void)
{
	struct json_object *e = entry("adv_hmac");
	uint8_t secret[32], det[64], want[32], got[32];
	size_t dn;

	vhex(e, "adv_secret", secret, sizeof(secret));
	dn = vhex(e, "details", det, sizeof(det));
	vhex(e, "hmac_e2ee", want, sizeof(want));
	pairing_adv_hmac(secret, det, dn, 0, got);
	T_EQ_MEM(got, 32, want, 32, "HMAC (E2EE)");
	T_EQ_INT(pairing_adv_hmac_verify(secret, det, dn, 0, want, 32),
	    PAIRING_OK, "verify E2EE");
	T_EQ_INT(pairing_adv_hmac_verify(secret, det, dn, 1, want, 32),
	    PAIRING_EHMAC, "E2EE HMAC is not the hosted one");
	vhex(e, "hmac_hosted(prefix 0605)", want, sizeof(want));
	pairing_adv_hmac(secret, det, dn, 1, got);
	T_EQ_MEM(got, 32, want, 32, "HMAC (hosted, prefix 06 05)");
	T_EQ_INT(pairing_adv_hmac_verify(secret, det, dn, 1, want, 32),
	    PAIRING_OK, "verify hosted");
	T_EQ_INT(pairing_adv_hmac_verify(secret, det, dn, 1, want, 31),
	    PAIRING_EHMAC, "short HMAC");
	want[0] ^= 1;
	T_EQ_INT(pairing_adv_hmac_verify(secret, det, dn, 1, want, 32),
	    PAIRING_EHMAC, "altered HMAC");
}

static void
test_pair_code_vector(void)
{
	struct json_object *e = entry("pair_code");
	uint8_t rnd[5], salt[32], iv[16], key[32], want[80], got[80];
	uint8_t priv[32], pub[32], wpub[32];
	char code[PAIRING_CODE_LEN + 1], disp[PAIRING_CODE_LEN + 2];
	const char *kdf_code = vstr(e, "code_used_for_kdf");

	vhex(e, "random5", rnd, sizeof(rnd));
	pairing_code_encode(rnd, code);
	T_EQ_STR(code, vstr(e, "code_from_random5"), "base32 of 5 bytes");
	pairing_code_display(code, disp);
	T_EQ_STR(disp, vstr(e, "display"), "display form");
	T_OK(pairing_code_valid(code) && pairing_code_valid(kdf_code),
	    "codes valid");
	T_OK(!pairing_code_valid("119K5DT") && !pairing_code_valid("119K5DTU")
	    && !pairing_code_valid("119k5dt5") && !pairing_code_valid("0119K5DT")
	    && !pairing_code_valid(NULL), "invalid codes");
	{
		uint8_t ff[5] = { 0xff, 0xff, 0xff, 0xff, 0xff }, z[5] = { 0 };

		pairing_code_encode(ff, code);
		T_EQ_STR(code, "ZZZZZZZZ", "all ones");
		pairing_code_encode(z, code);
		T_EQ_STR(code, "11111111", "all zeros");
	}
	pairing_code_generate(code);
	T_OK(pairing_code_valid(code), "generated code valid");

	vhex(e, "salt", salt, sizeof(salt));
	vhex(e, "iv", iv, sizeof(iv));
	T_EQ_INT(json_object_get_int(json_object_object_get(e,
	    "pbkdf2_iterations")), PAIRING_PBKDF2_ITER, "iterations");
	T_OK(pairing_code_key(kdf_code, salt, key) == 0, "PBKDF2");
	vhex(e, "pbkdf2_key", want, sizeof(want));
	T_EQ_MEM(key, 32, want, 32, "PBKDF2 key");
	vhex(e, "companion_ephemeral_priv", priv, sizeof(priv));
	crypto_scalarmult_base(pub, priv);
	vhex(e, "companion_ephemeral_pub", want, sizeof(want));
	T_EQ_MEM(pub, 32, want, 32, "companion ephemeral pub");
	T_OK(pairing_code_wrap(kdf_code, salt, iv, pub, got) == 0, "wrap");
	vhex(e, "link_code_pairing_wrapped_companion_ephemeral_pub(80 bytes)",
	    want, sizeof(want));
	T_EQ_MEM(got, 80, want, 80, "wrapped companion ephemeral");
	T_OK(pairing_code_unwrap(kdf_code, got, wpub) == 0 &&
	    memcmp(wpub, pub, 32) == 0, "unwrap gives it back");
	T_EQ_INT(pairing_code_key("ABCD234", salt, key), PAIRING_EINVAL,
	    "7-char code refused");
}

static void
test_pair_code_finish_vector(void)
{
	struct json_object *e = entry("pair_code_finish");
	struct json_object *pc = entry("pair_code");
	const char *code = vstr(pc, "code_used_for_kdf");
	struct pairing_code_random r;
	uint8_t wrapped[80], ppub[32], want[256], eph_priv[32], id_priv[32];
	uint8_t id_pub[32], pid_pub[32], bundle[PAIRING_BUNDLE_LEN], adv[32];
	uint8_t shared[32], key[32];
	char b64[64];
	size_t n;

	vhex(e, "link_code_pairing_wrapped_primary_ephemeral_pub", wrapped,
	    sizeof(wrapped));
	T_OK(pairing_code_unwrap(code, wrapped, ppub) == 0, "unwrap primary");
	vhex(e, "primary_ephemeral_pub", want, sizeof(want));
	T_EQ_MEM(ppub, 32, want, 32, "primary ephemeral pub");

	vhex(pc, "companion_ephemeral_priv", eph_priv, sizeof(eph_priv));
	vhex(e, "our_identity_priv", id_priv, sizeof(id_priv));
	vhex(e, "our_identity_pub", id_pub, sizeof(id_pub));
	vhex(e, "primary_identity_pub", pid_pub, sizeof(pid_pub));
	crypto_scalarmult_base(want, id_priv);
	T_EQ_MEM(want, 32, id_pub, 32, "our identity pub");
	T_OK(noise_dh(shared, eph_priv, ppub) == 0, "ephemeral DH");
	vhex(e, "ephemeral_shared", want, sizeof(want));
	T_EQ_MEM(shared, 32, want, 32, "ephemeral shared");
	vhex(e, "key_bundle_salt", r.kb_salt, sizeof(r.kb_salt));
	vhex(e, "key_bundle_nonce", r.nonce, sizeof(r.nonce));
	vhex(e, "adv_random", r.adv_random, sizeof(r.adv_random));
	T_OK(noise_hkdf(key, 32, r.kb_salt, 32, shared, 32,
	    (const uint8_t *)"link_code_pairing_key_bundle_encryption_key",
	    43) == 0, "bundle HKDF");
	vhex(e, "key_bundle_key", want, sizeof(want));
	T_EQ_MEM(key, 32, want, 32, "key bundle key");
	T_OK(noise_dh(shared, id_priv, pid_pub) == 0, "identity DH");
	vhex(e, "identity_shared", want, sizeof(want));
	T_EQ_MEM(shared, 32, want, 32, "identity shared");

	T_EQ_INT(pairing_code_companion_finish(code, eph_priv, wrapped,
	    pid_pub, id_priv, id_pub, &r, bundle, adv), 0, "companion finish");
	n = vhex(e, "link_code_pairing_wrapped_key_bundle(salt||nonce||gcm)",
	    want, sizeof(want));
	T_EQ_MEM(bundle, PAIRING_BUNDLE_LEN, want, n, "wrapped key bundle "
	    "(156 bytes)");
	vhex(e, "adv_secret", want, sizeof(want));
	T_EQ_MEM(adv, 32, want, 32, "adv secret");
	sodium_bin2base64(b64, sizeof(b64), adv, 32,
	    sodium_base64_VARIANT_ORIGINAL);
	T_EQ_STR(b64, vstr(e, "adv_secret_b64"), "adv secret base64");
	T_EQ_INT(pairing_code_companion_finish("ABCD2346", eph_priv, wrapped,
	    pid_pub, id_priv, id_pub, &r, bundle, adv), 0,
	    "wrong code still derives (nothing to check on this side)");
	T_OK(memcmp(adv, want, 32) != 0, "but a different secret");
}

/* Both sides of the pair-code exchange with fresh keys. */
static void
test_pair_code_roundtrip(void)
{
	struct noise_keypair ce, pe, cid, pid;
	uint8_t wc[80], wp[80], ce_pub[32];
	uint8_t bundle[PAIRING_BUNDLE_LEN], adv_c[32], adv_p[32];
	char code[PAIRING_CODE_LEN + 1];

	noise_keypair_generate(&ce);
	noise_keypair_generate(&pe);
	noise_keypair_generate(&cid);
	noise_keypair_generate(&pid);
	pairing_code_generate(code);
	T_OK(pairing_code_wrap(code, NULL, NULL, ce.pub, wc) == 0 &&
	    pairing_code_wrap(code, NULL, NULL, pe.pub, wp) == 0,
	    "both wrap with random salt and iv");
	T_OK(pairing_code_unwrap(code, wc, ce_pub) == 0 &&
	    memcmp(ce_pub, ce.pub, 32) == 0, "primary unwraps companion's");
	T_OK(pairing_code_companion_finish(code, ce.priv, wp, pid.pub,
	    cid.priv, cid.pub, NULL, bundle, adv_c) == 0, "companion finish");
	T_OK(pairing_code_primary_finish(pe.priv, ce_pub, pid.priv, pid.pub,
	    cid.pub, bundle, adv_p) == 0, "primary opens the bundle");
	T_EQ_MEM(adv_c, 32, adv_p, 32, "same adv secret on both sides");
	T_EQ_INT(pairing_code_primary_finish(pe.priv, ce_pub, pid.priv,
	    pid.pub, pe.pub, bundle, adv_p), PAIRING_EKEY,
	    "bundle names another companion identity");
	bundle[100] ^= 1;
	T_EQ_INT(pairing_code_primary_finish(pe.priv, ce_pub, pid.priv,
	    pid.pub, cid.pub, bundle, adv_p), PAIRING_EDECRYPT,
	    "tampered bundle");
	/* a wrong code unwraps to a different key: the DH disagrees */
	{
		char other[PAIRING_CODE_LEN + 1];
		uint8_t k2[32];

		memcpy(other, code, sizeof(other));
		other[0] = other[0] == 'A' ? 'B' : 'A';
		T_OK(pairing_code_unwrap(other, wc, k2) == 0 &&
		    memcmp(k2, ce.pub, 32) != 0, "wrong code, wrong key");
	}
}

static void
test_qr_string(void)
{
	uint8_t noise[32], ident[32], adv[32];
	char out[PAIRING_QR_MAX], want[PAIRING_QR_MAX];
	char small[40];
	int i;

	for (i = 0; i < 32; i++) {
		noise[i] = (uint8_t)i;
		ident[i] = (uint8_t)(0xff - i);
		adv[i] = 0x09;
	}
	T_OK(pairing_qr_string("2@abc/def+==", noise, ident, adv, NULL, out,
	    sizeof(out)) == 0, "QR string");
	snprintf(want, sizeof(want), "%s%s", PAIRING_QR_PREFIX,
	    "2@abc/def+==,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,"
	    "//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA=,"
	    "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=,1");
	T_EQ_STR(out, want, "layout: prefix ref,noise,identity,adv,platform");
	T_OK(strncmp(out, "https://wa.me/settings/linked_devices#", 38) == 0,
	    "URL prefix");
	T_OK(pairing_qr_string("ref", noise, ident, adv, "6", out,
	    sizeof(out)) == 0 && strcmp(out + strlen(out) - 2, ",6") == 0,
	    "platform id");
	T_EQ_INT(pairing_qr_string("a,b", noise, ident, adv, NULL, out,
	    sizeof(out)), PAIRING_EINVAL, "comma in ref");
	T_EQ_INT(pairing_qr_string("a b", noise, ident, adv, NULL, out,
	    sizeof(out)), PAIRING_EINVAL, "space in ref");
	T_EQ_INT(pairing_qr_string("", noise, ident, adv, NULL, out,
	    sizeof(out)), PAIRING_EINVAL, "empty ref");
	T_EQ_INT(pairing_qr_string("ref", noise, ident, adv, NULL, small,
	    sizeof(small)), PAIRING_EINVAL, "output too small");
	T_OK(small[0] == '\0', "no partial output");
}

/* Primary builds pair-success, companion checks and signs, primary checks. */
static void
test_identity_roundtrip(void)
{
	struct pairing_account acct;
	struct pairing_identity pi;
	struct noise_keypair prim, comp, other;
	struct buf b;
	uint8_t adv[32], wrongadv[32];
	uint32_t ki = 0;
	int code, hosted;
	const char *text;

	buf_init(&b, PAIRING_IDENTITY_MAX);
	for (hosted = 0; hosted <= 1; hosted++) {
		noise_keypair_generate(&prim);
		noise_keypair_generate(&comp);
		randombytes_buf(adv, sizeof(adv));
		memset(&acct, 0, sizeof(acct));
		memcpy(acct.account_priv, prim.priv, 32);
		acct.raw_id = 12345;
		acct.timestamp = 1750000000;
		acct.key_index = 3 + (uint32_t)hosted;
		acct.hosted = hosted;
		buf_reset(&b);
		T_OK(pairing_make_identity(&acct, comp.pub, adv, &b) == 0,
		    hosted ? "make (hosted)" : "make");
		T_EQ_INT(pairing_handle_identity(b.data, b.len, adv, comp.priv,
		    comp.pub, &pi), 0, hosted ? "handle (hosted)" : "handle");
		T_OK(pi.key_index == acct.key_index && pi.raw_id == 12345 &&
		    pi.timestamp == 1750000000 && pi.hosted == hosted,
		    "identity fields");
		T_EQ_MEM(pi.account_key, 32, prim.pub, 32, "account key");
		T_OK(pi.account != NULL && pi.reply != NULL &&
		    pi.account_len == pi.reply_len + 34,
		    "reply = account blob minus the 32-byte key field");
		T_EQ_INT(pairing_verify_reply(pi.reply, pi.reply_len, prim.pub,
		    comp.pub, &ki), 0, "primary accepts our device signature");
		T_EQ_INT(ki, acct.key_index, "key index");
		T_EQ_INT(pairing_verify_reply(pi.account, pi.account_len,
		    prim.pub, comp.pub, NULL), 0, "account blob verifies too");
		noise_keypair_generate(&other);
		T_EQ_INT(pairing_verify_reply(pi.reply, pi.reply_len, prim.pub,
		    other.pub, NULL), PAIRING_ESIG, "reply for another key");
		pairing_identity_free(&pi);
	}

	/* rejections (last, hosted = 1 state reused with fresh data) */
	acct.hosted = 0;
	buf_reset(&b);
	pairing_make_identity(&acct, comp.pub, adv, &b);
	memcpy(wrongadv, adv, 32);
	wrongadv[0] ^= 1;
	T_EQ_INT(pairing_handle_identity(b.data, b.len, wrongadv, comp.priv,
	    comp.pub, &pi), PAIRING_EHMAC, "wrong adv secret");
	T_OK(pi.account == NULL && pi.reply == NULL, "nothing returned");
	pairing_error_reply(PAIRING_EHMAC, &code, &text);
	T_OK(code == 401 && strcmp(text, "hmac-mismatch") == 0,
	    "401 hmac-mismatch");
	noise_keypair_generate(&other);
	T_EQ_INT(pairing_handle_identity(b.data, b.len, adv, other.priv,
	    other.pub, &pi), PAIRING_ESIG,
	    "account signature over another identity");
	pairing_error_reply(PAIRING_ESIG, &code, &text);
	T_OK(code == 401 && strcmp(text, "signature-mismatch") == 0,
	    "401 signature-mismatch");
	T_EQ_INT(pairing_handle_identity(b.data, b.len - 1, adv, comp.priv,
	    comp.pub, &pi), PAIRING_EPARSE, "truncated");
	pairing_error_reply(PAIRING_EPARSE, &code, &text);
	T_OK(code == 500 && strcmp(text, "internal-error") == 0,
	    "500 internal-error");
	T_EQ_INT(pairing_handle_identity((const uint8_t *)"", 0, adv,
	    comp.priv, comp.pub, &pi), PAIRING_EPARSE, "empty");
	/* a valid HMAC over details that are not an identity */
	{
		uint8_t junk[8] = { 0x0a, 0x02, 0x08, 0x01, 0x12, 0x01, 0x00,
		    0x00 }, mac[32], msg[64];
		size_t n = 0;

		pairing_adv_hmac(adv, junk, 4, 0, mac);
		msg[n++] = 0x0a;
		msg[n++] = 4;
		memcpy(msg + n, junk, 4);
		n += 4;
		msg[n++] = 0x12;
		msg[n++] = 32;
		memcpy(msg + n, mac, 32);
		n += 32;
		T_OK(pairing_handle_identity(msg, n, adv, comp.priv, comp.pub,
		    &pi) < 0, "authentic but meaningless details refused");
	}
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test_pairing", LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	T_RUN(test_adv_hmac_vector);
	T_RUN(test_pair_code_vector);
	T_RUN(test_pair_code_finish_vector);
	T_RUN(test_pair_code_roundtrip);
	T_RUN(test_qr_string);
	T_RUN(test_identity_roundtrip);
	if (cv != NULL)
		json_object_put(cv);
	return t_done();
}
