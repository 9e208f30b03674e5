/* test_signal.c - Signal protocol: keys, XEdDSA, sessions (X3DH + double
 * ratchet), sender keys; vectors from signal_vectors.json (npm libsignal,
 * checked with libsignal-protocol-c) and our own round trips. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>

#include "t.h"
#include "signal-group.h"
#include "signal-keys.h"
#include "signal-session.h"

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
	{
		uint8_t id3[3];
		uint32_t v;

		signal_id24_put(id3, 0x01e240);
		T_OK(id3[0] == 0x01 && id3[1] == 0xe2 && id3[2] == 0x40 &&
		    signal_id24_get(id3, 3, &v) == 0 && v == 0x01e240,
		    "3-byte prekey id round trip");
		T_EQ_INT(signal_id24_get(id3, 2, &v), SIGNAL_ERR_INVALID,
		    "short id refused");
	}
	reg = signal_registration_id_generate();
	T_OK(reg >= 1 && reg <= 16380, "registration id range");
}

struct receiver {
	struct signal_keypair	id, spk, opk;
	uint32_t		regid, spk_id, opk_id;
};

static void
load_receiver(struct receiver *rv)
{
	struct json_object *r = vo(vec, "receiver");
	uint8_t priv[32];

	memset(rv, 0, sizeof(*rv));
	vh(r, "identity_priv", priv, 32);
	signal_keypair_from_priv(&rv->id, priv);
	vh(r, "signed_prekey_priv", priv, 32);
	signal_keypair_from_priv(&rv->spk, priv);
	vh(r, "prekey_priv", priv, 32);
	signal_keypair_from_priv(&rv->opk, priv);
	rv->regid = (uint32_t)json_object_get_int(vo(r, "registration_id"));
	rv->spk_id = (uint32_t)json_object_get_int(vo(r, "signed_prekey_id"));
	rv->opk_id = (uint32_t)json_object_get_int(vo(r, "prekey_id"));
}

static void
test_session_vector_pkmsg(void)
{
	struct receiver rv;
	struct signal_pkmsg_info pi;
	uint8_t m1[512], m2[512], want[64], sender[33];
	uint8_t *pt = NULL, *st1 = NULL, *st2 = NULL, *st3 = NULL;
	size_t ptlen, st1len, st2len, st3len;
	int n1, n2, wlen, used = -1, rc;

	load_receiver(&rv);
	n1 = vh(vec, "pkmsg_1", m1, sizeof(m1));
	n2 = vh(vec, "second_message_2", m2, sizeof(m2));
	vh(vo(vec, "sender"), "identity_pub", sender, 33);
	T_OK(signal_pkmsg_parse(m1, (size_t)n1, &pi) == 0, "parse pkmsg_1");
	T_OK(pi.has_prekey_id && pi.prekey_id == rv.opk_id, "prekey id");
	T_EQ_INT(pi.signed_prekey_id, rv.spk_id, "signed prekey id");
	T_EQ_INT(pi.registration_id, json_object_get_int(vo(vo(vec, "sender"),
	    "registration_id")), "sender registration id");
	T_EQ_MEM(pi.identity_pub, 32, sender + 1, 32, "sender identity");
	T_EQ_INT(signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, NULL,
	    NULL, 0, m1, (size_t)n1, &pt, &ptlen, &st1, &st1len, &used),
	    SIGNAL_ERR_NO_PREKEY, "missing one-time prekey reported");
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, &rv.opk,
	    NULL, 0, m1, (size_t)n1, &pt, &ptlen, &st1, &st1len, &used);
	T_EQ_INT(rc, 0, "decrypt pkmsg_1");
	wlen = vh(vec, "pkmsg_1_plaintext_padded", want, sizeof(want));
	T_EQ_MEM(pt, ptlen, want, wlen, "pkmsg_1 plaintext");
	T_EQ_INT(used, 1, "one-time prekey consumed");
	signal_free_secret(pt, ptlen);
	pt = NULL;
	/* second pkmsg of the same session: no prekey needed any more */
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, NULL,
	    st1, st1len, m2, (size_t)n2, &pt, &ptlen, &st2, &st2len, &used);
	T_EQ_INT(rc, 0, "decrypt second pkmsg with the session");
	wlen = vh(vec, "second_message_plaintext_padded", want, sizeof(want));
	T_EQ_MEM(pt, ptlen, want, wlen, "second plaintext");
	T_EQ_INT(used, 0, "no prekey consumed the second time");
	signal_free_secret(pt, ptlen);
	pt = NULL;
	/* replay of pkmsg_1 on the new state */
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, &rv.opk,
	    st2, st2len, m1, (size_t)n1, &pt, &ptlen, &st3, &st3len, &used);
	T_EQ_INT(rc, SIGNAL_ERR_DUPLICATE, "replayed pkmsg is a duplicate");
	T_OK(pt == NULL && st3 == NULL, "no output on failure");
	/* second message first (out of order), from scratch */
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, &rv.opk,
	    NULL, 0, m2, (size_t)n2, &pt, &ptlen, &st3, &st3len, &used);
	T_EQ_INT(rc, 0, "second pkmsg first");
	signal_free_secret(pt, ptlen);
	pt = NULL;
	signal_free_secret(st1, st1len);
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, NULL,
	    st3, st3len, m1, (size_t)n1, &pt, &ptlen, &st1, &st1len, &used);
	T_EQ_INT(rc, 0, "then the first one (skipped key)");
	wlen = vh(vec, "pkmsg_1_plaintext_padded", want, sizeof(want));
	T_EQ_MEM(pt, ptlen, want, wlen, "first plaintext after second");
	signal_free_secret(pt, ptlen);
	pt = NULL;
	signal_free_secret(st3, st3len);
	st3 = NULL;
	/* tampered MAC (the inner message ends before the trailing
	 * registrationId and signedPreKeyId fields, 5 bytes) */
	m1[n1 - 6] ^= 1;
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.spk, &rv.opk,
	    NULL, 0, m1, (size_t)n1, &pt, &ptlen, &st3, &st3len, &used);
	T_EQ_INT(rc, SIGNAL_ERR_MAC, "tampered MAC rejected");
	m1[n1 - 6] ^= 1;
	/* wrong receiver keys */
	rc = signal_session_decrypt_pkmsg(&rv.id, rv.regid, &rv.opk, &rv.opk,
	    NULL, 0, m1, (size_t)n1, &pt, &ptlen, &st3, &st3len, &used);
	T_EQ_INT(rc, SIGNAL_ERR_MAC, "wrong signed prekey rejected");
	signal_free_secret(st1, st1len);
	signal_free_secret(st2, st2len);
}

/* One side of a conversation: keys plus its session record blob. */
struct party {
	struct signal_keypair		id;
	struct signal_signed_prekey	spk;
	struct signal_prekey		opk;
	uint32_t			regid;
	uint8_t				*st;
	size_t				stlen;
};

static void
party_init(struct party *p, uint32_t spk_id, uint32_t opk_id)
{
	memset(p, 0, sizeof(*p));
	signal_keypair_generate(&p->id);
	signal_signed_prekey_generate(&p->spk, &p->id, spk_id);
	signal_prekeys_generate(&p->opk, 1, opk_id);
	p->regid = signal_registration_id_generate();
}

static void
party_bundle(const struct party *p, struct signal_bundle *b, int with_opk)
{
	memset(b, 0, sizeof(*b));
	b->registration_id = p->regid;
	memcpy(b->identity_pub, p->id.pub, 32);
	b->signed_prekey_id = p->spk.id;
	memcpy(b->signed_prekey_pub, p->spk.kp.pub, 32);
	memcpy(b->signed_prekey_sig, p->spk.sig, 64);
	b->has_prekey = with_opk;
	b->prekey_id = p->opk.id;
	memcpy(b->prekey_pub, p->opk.kp.pub, 32);
}

static void
party_set(struct party *p, uint8_t *st, size_t len)
{
	signal_free_secret(p->st, p->stlen);
	p->st = st;
	p->stlen = len;
}

/* Encrypt "text" from a; returns type, ciphertext in *ct. */
static int
party_send(struct party *a, const char *text, uint8_t **ct, size_t *ctlen)
{
	uint8_t *ns;
	size_t nslen;
	int type = 0;

	if (signal_session_encrypt(a->st, a->stlen, (const uint8_t *)text,
	    strlen(text), &type, ct, ctlen, &ns, &nslen) != 0)
		return -1;
	party_set(a, ns, nslen);
	return type;
}

/* Decrypt at b; 0 and plaintext equal to want, else error code. */
static int
party_recv(struct party *b, int type, const uint8_t *ct, size_t ctlen,
    const char *want)
{
	uint8_t *pt = NULL, *ns = NULL;
	size_t ptlen = 0, nslen = 0;
	int rc, used;

	if (type == SIGNAL_MSG_TYPE_PKMSG)
		rc = signal_session_decrypt_pkmsg(&b->id, b->regid, &b->spk.kp,
		    &b->opk.kp, b->st, b->stlen, ct, ctlen, &pt, &ptlen, &ns,
		    &nslen, &used);
	else
		rc = signal_session_decrypt_msg(b->st, b->stlen, ct, ctlen,
		    &pt, &ptlen, &ns, &nslen);
	if (rc == 0) {
		if (ptlen != strlen(want) || memcmp(pt, want, ptlen) != 0)
			rc = -100;
		party_set(b, ns, nslen);
	}
	signal_free_secret(pt, ptlen);
	return rc;
}

static void
party_free(struct party *p)
{
	signal_free_secret(p->st, p->stlen);
	p->st = NULL;
}

static void
test_session_round_trip(void)
{
	struct party a, b;
	struct signal_bundle bundle;
	struct signal_session_info si;
	uint8_t *ct = NULL, *st = NULL;
	size_t ctlen, stlen;
	char text[64];
	int type, i, ok;

	party_init(&a, 1, 100);
	party_init(&b, 7, 200);
	party_bundle(&b, &bundle, 1);
	T_OK(signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st,
	    &stlen) == 0, "initiate");
	party_set(&a, st, stlen);
	T_OK(signal_session_info(a.st, a.stlen, &si) == 0 && si.has_session &&
	    si.pending_prekey && si.remote_registration_id == b.regid &&
	    memcmp(si.remote_identity, b.id.pub, 32) == 0, "session info");
	type = party_send(&a, "hello 1", &ct, &ctlen);
	T_EQ_INT(type, SIGNAL_MSG_TYPE_PKMSG, "first message is pkmsg");
	T_EQ_INT(party_recv(&b, type, ct, ctlen, "hello 1"), 0, "b decrypts");
	free(ct);
	type = party_send(&a, "hello 2", &ct, &ctlen);
	T_EQ_INT(type, SIGNAL_MSG_TYPE_PKMSG, "still pkmsg before a reply");
	T_EQ_INT(party_recv(&b, type, ct, ctlen, "hello 2"), 0, "b 2");
	free(ct);
	type = party_send(&b, "reply", &ct, &ctlen);
	T_EQ_INT(type, SIGNAL_MSG_TYPE_MSG, "responder sends msg");
	T_EQ_INT(party_recv(&a, type, ct, ctlen, "reply"), 0, "a decrypts");
	T_EQ_INT(party_recv(&a, type, ct, ctlen, "reply"),
	    SIGNAL_ERR_DUPLICATE, "replayed msg rejected");
	free(ct);
	type = party_send(&a, "after reply", &ct, &ctlen);
	T_EQ_INT(type, SIGNAL_MSG_TYPE_MSG, "msg after the first reply");
	T_EQ_INT(party_recv(&b, type, ct, ctlen, "after reply"), 0, "b 3");
	free(ct);
	/* many messages both ways, alternating bursts */
	ok = 1;
	for (i = 0; i < 60; i++) {
		struct party *s = (i / 3) % 2 ? &a : &b;
		struct party *r = s == &a ? &b : &a;

		snprintf(text, sizeof(text), "message %d", i);
		type = party_send(s, text, &ct, &ctlen);
		if (type != SIGNAL_MSG_TYPE_MSG ||
		    party_recv(r, type, ct, ctlen, text) != 0)
			ok = 0;
		free(ct);
	}
	T_OK(ok, "60 messages in alternating bursts");
	party_free(&a);
	party_free(&b);
}

static void
test_session_out_of_order(void)
{
	struct party a, b;
	struct signal_bundle bundle;
	uint8_t *ct[10], *st = NULL, *ns = NULL, *pt = NULL;
	size_t ctlen[10], stlen, nslen, ptlen;
	int type[10], i, ok, rc;
	char text[32];

	party_init(&a, 1, 100);
	party_init(&b, 2, 200);
	party_bundle(&b, &bundle, 0);	/* no one-time prekey */
	signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st, &stlen);
	party_set(&a, st, stlen);
	type[0] = party_send(&a, "m0", &ct[0], &ctlen[0]);
	T_EQ_INT(party_recv(&b, type[0], ct[0], ctlen[0], "m0"), 0,
	    "pkmsg without one-time prekey");
	free(ct[0]);
	type[0] = party_send(&b, "r0", &ct[0], &ctlen[0]);
	party_recv(&a, type[0], ct[0], ctlen[0], "r0");
	free(ct[0]);
	for (i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "ooo %d", i);
		type[i] = party_send(&a, text, &ct[i], &ctlen[i]);
	}
	ok = 1;
	for (i = 9; i >= 0; i -= 2) {
		snprintf(text, sizeof(text), "ooo %d", i);
		if (party_recv(&b, type[i], ct[i], ctlen[i], text) != 0)
			ok = 0;
	}
	for (i = 0; i < 10; i += 2) {
		snprintf(text, sizeof(text), "ooo %d", i);
		if (party_recv(&b, type[i], ct[i], ctlen[i], text) != 0)
			ok = 0;
	}
	T_OK(ok, "10 messages received in reverse/odd-even order");
	T_EQ_INT(party_recv(&b, type[3], ct[3], ctlen[3], "ooo 3"),
	    SIGNAL_ERR_DUPLICATE, "skipped key used once only");
	/* a message from the previous chain arriving after a ratchet */
	for (i = 0; i < 10; i++)
		free(ct[i]);
	type[0] = party_send(&a, "old chain", &ct[0], &ctlen[0]);
	type[1] = party_send(&b, "new from b", &ct[1], &ctlen[1]);
	T_EQ_INT(party_recv(&a, type[1], ct[1], ctlen[1], "new from b"), 0,
	    "a ratchets");
	type[2] = party_send(&a, "new chain", &ct[2], &ctlen[2]);
	T_EQ_INT(party_recv(&b, type[2], ct[2], ctlen[2], "new chain"), 0,
	    "b gets new chain first");
	T_EQ_INT(party_recv(&b, type[0], ct[0], ctlen[0], "old chain"), 0,
	    "then the late message of the old chain");
	/* tampering: MAC, ciphertext, truncation: state unchanged */
	free(ct[0]);
	type[0] = party_send(&a, "tamper", &ct[0], &ctlen[0]);
	ct[0][ctlen[0] - 1] ^= 0x80;
	rc = signal_session_decrypt_msg(b.st, b.stlen, ct[0], ctlen[0], &pt,
	    &ptlen, &ns, &nslen);
	T_EQ_INT(rc, SIGNAL_ERR_MAC, "tampered MAC rejected");
	ct[0][ctlen[0] - 1] ^= 0x80;
	ct[0][ctlen[0] - 12] ^= 0x01;
	rc = signal_session_decrypt_msg(b.st, b.stlen, ct[0], ctlen[0], &pt,
	    &ptlen, &ns, &nslen);
	T_EQ_INT(rc, SIGNAL_ERR_MAC, "tampered ciphertext rejected");
	ct[0][ctlen[0] - 12] ^= 0x01;
	for (i = 0; i < (int)ctlen[0]; i++)
		if (signal_session_decrypt_msg(b.st, b.stlen, ct[0], (size_t)i,
		    &pt, &ptlen, &ns, &nslen) == 0)
			break;
	T_EQ_INT(i, ctlen[0], "no truncation decrypts");
	ct[0][0] = 0x23;
	T_EQ_INT(signal_session_decrypt_msg(b.st, b.stlen, ct[0], ctlen[0],
	    &pt, &ptlen, &ns, &nslen), SIGNAL_ERR_VERSION, "version 2 refused");
	ct[0][0] = 0x33;
	T_EQ_INT(party_recv(&b, type[0], ct[0], ctlen[0], "tamper"), 0,
	    "the genuine message still decrypts");
	for (i = 0; i < 3; i++)
		free(ct[i]);
	party_free(&a);
	party_free(&b);
}

static void
test_session_limits(void)
{
	struct party a, b;
	struct signal_bundle bundle;
	uint8_t *ct = NULL, *first = NULL, *mid = NULL, *st = NULL;
	size_t ctlen, firstlen = 0, midlen = 0, stlen;
	int i, type, ftype = 0, rc;

	party_init(&a, 1, 100);
	party_init(&b, 2, 200);
	party_bundle(&b, &bundle, 1);
	signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st, &stlen);
	party_set(&a, st, stlen);
	type = party_send(&a, "x", &ct, &ctlen);
	party_recv(&b, type, ct, ctlen, "x");
	free(ct);
	type = party_send(&b, "y", &ct, &ctlen);
	party_recv(&a, type, ct, ctlen, "y");
	free(ct);
	for (i = 0; i < SIGNAL_MAX_SKIP + 2; i++) {
		type = party_send(&a, "skip", &ct, &ctlen);
		if (i == 0) {
			first = ct;
			firstlen = ctlen;
			ftype = type;
		} else if (i == SIGNAL_MAX_SKIP) {
			mid = ct;
			midlen = ctlen;
		} else if (i < SIGNAL_MAX_SKIP) {
			free(ct);
		}
	}
	rc = party_recv(&b, type, ct, ctlen, "skip");
	T_EQ_INT(rc, SIGNAL_ERR_FUTURE, "2001 ahead rejected");
	free(ct);
	rc = party_recv(&b, type, mid, midlen, "skip");
	T_EQ_INT(rc, 0, "2000 ahead accepted");
	free(mid);
	rc = party_recv(&b, ftype, first, firstlen, "skip");
	T_EQ_INT(rc, 0, "oldest skipped key still there");
	free(first);
	/* garbage states and messages never crash */
	{
		uint8_t junk[64], *pt, *ns;
		size_t ptlen, nslen;
		struct signal_session_info si;

		memset(junk, 0xa5, sizeof(junk));
		T_OK(signal_session_decrypt_msg(junk, sizeof(junk), junk,
		    sizeof(junk), &pt, &ptlen, &ns, &nslen) < 0,
		    "junk state refused");
		T_OK(signal_session_info(junk, sizeof(junk), &si) ==
		    SIGNAL_ERR_STATE, "junk state: info");
		T_OK(signal_session_decrypt_msg(b.st, b.stlen, junk,
		    sizeof(junk), &pt, &ptlen, &ns, &nslen) < 0,
		    "junk message refused");
		T_EQ_INT(signal_session_decrypt_msg(NULL, 0, junk,
		    sizeof(junk), &pt, &ptlen, &ns, &nslen),
		    SIGNAL_ERR_NO_SESSION, "no session");
		junk[0] = 0x33;
		T_OK(signal_session_decrypt_msg(b.st, b.stlen, junk,
		    sizeof(junk), &pt, &ptlen, &ns, &nslen) < 0,
		    "junk v3 message refused");
	}
	party_free(&a);
	party_free(&b);
}

static void
test_session_reinit_and_archive(void)
{
	struct party a, b;
	struct signal_bundle bundle;
	uint8_t *ct = NULL, *st = NULL, *old = NULL;
	size_t ctlen, stlen, oldlen;
	struct signal_session_info si;
	int type;

	party_init(&a, 1, 100);
	party_init(&b, 2, 200);
	party_bundle(&b, &bundle, 1);
	signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st, &stlen);
	party_set(&a, st, stlen);
	type = party_send(&a, "one", &ct, &ctlen);
	T_EQ_INT(party_recv(&b, type, ct, ctlen, "one"), 0, "first session");
	free(ct);
	/* b has an old message from the first session in flight */
	type = party_send(&b, "late", &ct, &ctlen);
	old = ct;
	oldlen = ctlen;
	/* a re-fetches a bundle (without a one-time key) and starts over */
	party_bundle(&b, &bundle, 0);
	signal_session_initiate(&a.id, a.regid, &bundle, a.st, a.stlen, &st,
	    &stlen);
	party_set(&a, st, stlen);
	signal_session_info(a.st, a.stlen, &si);
	T_EQ_INT(si.archived, 1, "old session archived");
	type = party_send(&a, "two", &ct, &ctlen);
	T_EQ_INT(type, SIGNAL_MSG_TYPE_PKMSG, "new session starts with pkmsg");
	T_EQ_INT(party_recv(&b, type, ct, ctlen, "two"), 0,
	    "b replaces the session");
	free(ct);
	T_EQ_INT(party_recv(&a, SIGNAL_MSG_TYPE_MSG, old, oldlen, "late"), 0,
	    "late message decrypts with the archived session");
	free(old);
	signal_session_info(a.st, a.stlen, &si);
	T_OK(si.has_session, "a still has a session");
	type = party_send(&b, "three", &ct, &ctlen);
	T_EQ_INT(party_recv(&a, type, ct, ctlen, "three"), 0,
	    "conversation continues");
	free(ct);
	/* bad bundle signature */
	party_bundle(&b, &bundle, 1);
	bundle.signed_prekey_sig[5] ^= 1;
	T_EQ_INT(signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st,
	    &stlen), SIGNAL_ERR_SIGNATURE, "bad bundle signature refused");
	party_free(&a);
	party_free(&b);
}

static int
grp_dec(const uint8_t *st, size_t stlen, const uint8_t *ct, size_t ctlen,
    const uint8_t *want, size_t wantlen, uint8_t **ns, size_t *nslen)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	int rc;

	rc = signal_group_decrypt(st, stlen, ct, ctlen, &pt, &ptlen, ns, nslen);
	if (rc == 0 && (ptlen != wantlen || memcmp(pt, want, ptlen) != 0))
		rc = -100;
	signal_free_secret(pt, ptlen);
	return rc;
}

static void
test_group_vector(void)
{
	struct json_object *g = vo(vec, "group");
	uint8_t skdm[256], m1[256], m2[256], p1[64], p2[64];
	uint8_t *st = NULL, *st1 = NULL, *st2 = NULL, *st3 = NULL;
	size_t stlen, st1len, st2len, st3len;
	int nd, n1, n2, l1, l2;
	uint32_t id, it;

	nd = vh(g, "skdm", skdm, sizeof(skdm));
	n1 = vh(g, "skmsg_1", m1, sizeof(m1));
	n2 = vh(g, "skmsg_2", m2, sizeof(m2));
	l1 = vh(g, "skmsg_1_plain", p1, sizeof(p1));
	l2 = vh(g, "skmsg_2_plain", p2, sizeof(p2));
	T_OK(signal_group_key_id(skdm, (size_t)nd, 1, &id, &it) == 0 &&
	    it == 0, "skdm parses, iteration 0");
	T_OK(signal_group_key_id(m2, (size_t)n2, 0, &id, &it) == 0 && it == 2,
	    "skmsg_2 iteration 2");
	T_EQ_INT(grp_dec(NULL, 0, m1, (size_t)n1, p1, (size_t)l1, &st1,
	    &st1len), SIGNAL_ERR_NO_SESSION, "skmsg before skdm: no session");
	T_OK(signal_group_process_skdm(NULL, 0, skdm, (size_t)nd, &st,
	    &stlen) == 0, "process skdm");
	T_EQ_INT(grp_dec(st, stlen, m1, (size_t)n1, p1, (size_t)l1, &st1,
	    &st1len), 0, "decrypt skmsg_1");
	T_EQ_INT(grp_dec(st1, st1len, m2, (size_t)n2, p2, (size_t)l2, &st2,
	    &st2len), 0, "decrypt skmsg_2 (iteration 1 skipped)");
	T_EQ_INT(grp_dec(st2, st2len, m1, (size_t)n1, p1, (size_t)l1, &st3,
	    &st3len), SIGNAL_ERR_DUPLICATE, "replayed skmsg_1 rejected");
	T_EQ_INT(grp_dec(st2, st2len, m2, (size_t)n2, p2, (size_t)l2, &st3,
	    &st3len), SIGNAL_ERR_DUPLICATE, "replayed skmsg_2 rejected");
	signal_free_secret(st1, st1len);
	/* out of order: 2 then 1 */
	T_EQ_INT(grp_dec(st, stlen, m2, (size_t)n2, p2, (size_t)l2, &st1,
	    &st1len), 0, "skmsg_2 first");
	T_EQ_INT(grp_dec(st1, st1len, m1, (size_t)n1, p1, (size_t)l1, &st3,
	    &st3len), 0, "then skmsg_1");
	signal_free_secret(st3, st3len);
	/* re-processing the same SKDM does not rewind the chain */
	T_OK(signal_group_process_skdm(st2, st2len, skdm, (size_t)nd, &st3,
	    &st3len) == 0, "same skdm again");
	signal_free_secret(st1, st1len);
	T_EQ_INT(grp_dec(st3, st3len, m1, (size_t)n1, p1, (size_t)l1, &st1,
	    &st1len), SIGNAL_ERR_DUPLICATE, "still a duplicate after re-skdm");
	/* bad signature */
	m1[n1 - 1] ^= 1;
	T_EQ_INT(grp_dec(st, stlen, m1, (size_t)n1, p1, (size_t)l1, &st1,
	    &st1len), SIGNAL_ERR_SIGNATURE, "bad signature rejected");
	m1[n1 - 1] ^= 1;
	m1[n1 - 70] ^= 1;
	T_EQ_INT(grp_dec(st, stlen, m1, (size_t)n1, p1, (size_t)l1, &st1,
	    &st1len), SIGNAL_ERR_SIGNATURE, "tampered ciphertext rejected");
	m1[n1 - 70] ^= 1;
	signal_free_secret(st, stlen);
	signal_free_secret(st2, st2len);
	signal_free_secret(st3, st3len);
}

static void
test_group_round_trip(void)
{
	uint8_t *snd = NULL, *rcv = NULL, *skdm = NULL, *ns, *ct[20];
	size_t sndlen, rcvlen, skdmlen, nslen, ctlen[20];
	char text[32];
	int i, ok, rc;
	uint8_t *other = NULL, *os = NULL;
	size_t otherlen, oslen;

	T_OK(signal_group_create(&snd, &sndlen) == 0, "create sender key");
	T_OK(signal_group_skdm(snd, sndlen, &skdm, &skdmlen) == 0, "skdm");
	T_OK(signal_group_process_skdm(NULL, 0, skdm, skdmlen, &rcv,
	    &rcvlen) == 0, "receiver processes skdm");
	free(skdm);
	T_EQ_INT(signal_group_encrypt(rcv, rcvlen, (const uint8_t *)"x", 1,
	    &ct[0], &ctlen[0], &ns, &nslen), SIGNAL_ERR_NO_SESSION,
	    "cannot encrypt with a received key");
	for (i = 0; i < 20; i++) {
		snprintf(text, sizeof(text), "group %d", i);
		signal_group_encrypt(snd, sndlen, (const uint8_t *)text,
		    strlen(text), &ct[i], &ctlen[i], &ns, &nslen);
		signal_free_secret(snd, sndlen);
		snd = ns;
		sndlen = nslen;
	}
	ok = 1;
	for (i = 0; i < 20; i++) {
		int j = i < 10 ? 2 * i + 1 : 2 * (i - 10);	/* odd, even */

		snprintf(text, sizeof(text), "group %d", j);
		rc = grp_dec(rcv, rcvlen, ct[j], ctlen[j],
		    (const uint8_t *)text, strlen(text), &ns, &nslen);
		if (rc != 0)
			ok = 0;
		else {
			signal_free_secret(rcv, rcvlen);
			rcv = ns;
			rcvlen = nslen;
		}
	}
	T_OK(ok, "20 messages out of order");
	T_EQ_INT(grp_dec(rcv, rcvlen, ct[5], ctlen[5],
	    (const uint8_t *)"group 5", 7, &ns, &nslen), SIGNAL_ERR_DUPLICATE,
	    "duplicate");
	/* a late joiner gets the SKDM at the current iteration */
	signal_group_skdm(snd, sndlen, &skdm, &skdmlen);
	signal_group_process_skdm(NULL, 0, skdm, skdmlen, &other, &otherlen);
	free(skdm);
	T_EQ_INT(grp_dec(other, otherlen, ct[3], ctlen[3],
	    (const uint8_t *)"group 3", 7, &os, &oslen), SIGNAL_ERR_DUPLICATE,
	    "late joiner cannot read earlier messages");
	for (i = 0; i < 20; i++)
		free(ct[i]);
	signal_group_encrypt(snd, sndlen, (const uint8_t *)"new", 3, &ct[0],
	    &ctlen[0], &ns, &nslen);
	signal_free_secret(snd, sndlen);
	snd = ns;
	sndlen = nslen;
	T_EQ_INT(grp_dec(other, otherlen, ct[0], ctlen[0],
	    (const uint8_t *)"new", 3, &os, &oslen), 0, "late joiner reads new");
	signal_free_secret(os, oslen);
	free(ct[0]);
	/* sender key rotation: a new key id is added, the old one kept */
	signal_group_create(&ns, &nslen);
	signal_group_skdm(ns, nslen, &skdm, &skdmlen);
	signal_group_encrypt(ns, nslen, (const uint8_t *)"rot", 3, &ct[0],
	    &ctlen[0], &os, &oslen);
	signal_free_secret(ns, nslen);
	signal_free_secret(os, oslen);
	signal_group_process_skdm(rcv, rcvlen, skdm, skdmlen, &ns, &nslen);
	free(skdm);
	signal_free_secret(rcv, rcvlen);
	rcv = ns;
	rcvlen = nslen;
	T_EQ_INT(grp_dec(rcv, rcvlen, ct[0], ctlen[0], (const uint8_t *)"rot",
	    3, &ns, &nslen), 0, "rotated key decrypts");
	signal_free_secret(ns, nslen);
	free(ct[0]);
	/* junk never crashes */
	{
		uint8_t junk[100], *pt;
		size_t ptlen;

		memset(junk, 0x33, sizeof(junk));
		T_OK(signal_group_decrypt(rcv, rcvlen, junk, sizeof(junk), &pt,
		    &ptlen, &ns, &nslen) < 0, "junk skmsg refused");
		T_OK(signal_group_process_skdm(rcv, rcvlen, junk, 40, &ns,
		    &nslen) < 0, "junk skdm refused");
		T_OK(signal_group_decrypt(junk, sizeof(junk), junk,
		    sizeof(junk), &pt, &ptlen, &ns, &nslen) < 0,
		    "junk record refused");
	}
	signal_free_secret(snd, sndlen);
	signal_free_secret(rcv, rcvlen);
	signal_free_secret(other, otherlen);
}

/* Every single-byte change of an authenticated message fails cleanly, and
 * no truncation of a state blob crashes. */
static void
test_robustness(void)
{
	struct party a, b;
	struct signal_bundle bundle;
	uint8_t *ct = NULL, *st = NULL, *pt, *ns, *gs = NULL, *gct = NULL;
	uint8_t *gr = NULL, *skdm = NULL;
	size_t ctlen, stlen, ptlen, nslen, i, gslen, gctlen, grlen, skdmlen;
	struct signal_session_info si;
	int type, bad_ok = 0, rc;

	party_init(&a, 1, 100);
	party_init(&b, 2, 200);
	party_bundle(&b, &bundle, 1);
	signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st, &stlen);
	party_set(&a, st, stlen);
	type = party_send(&a, "x", &ct, &ctlen);
	party_recv(&b, type, ct, ctlen, "x");
	free(ct);
	type = party_send(&b, "reply", &ct, &ctlen);
	for (i = 0; i < ctlen * 8; i++) {
		ct[i / 8] ^= (uint8_t)(1u << (i % 8));
		rc = signal_session_decrypt_msg(a.st, a.stlen, ct, ctlen, &pt,
		    &ptlen, &ns, &nslen);
		if (rc == 0) {
			bad_ok++;
			signal_free_secret(pt, ptlen);
			signal_free_secret(ns, nslen);
		}
		ct[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	T_EQ_INT(bad_ok, 0, "no bit flip of a msg decrypts");
	T_EQ_INT(party_recv(&a, type, ct, ctlen, "reply"), 0,
	    "the original still does");
	free(ct);
	for (i = 0, bad_ok = 0; i < a.stlen; i++) {
		rc = signal_session_info(a.st, i, &si);
		if (rc == 0 && i > 0 && si.has_session)
			bad_ok++;
	}
	T_OK(1, "every truncation of a session blob handled (%d loaded)",
	    bad_ok);
	signal_group_create(&gs, &gslen);
	signal_group_skdm(gs, gslen, &skdm, &skdmlen);
	signal_group_process_skdm(NULL, 0, skdm, skdmlen, &gr, &grlen);
	signal_group_encrypt(gs, gslen, (const uint8_t *)"g", 1, &gct, &gctlen,
	    &ns, &nslen);
	signal_free_secret(ns, nslen);
	for (i = 0, bad_ok = 0; i < gctlen * 8; i++) {
		gct[i / 8] ^= (uint8_t)(1u << (i % 8));
		rc = signal_group_decrypt(gr, grlen, gct, gctlen, &pt, &ptlen,
		    &ns, &nslen);
		if (rc == 0) {
			bad_ok++;
			signal_free_secret(pt, ptlen);
			signal_free_secret(ns, nslen);
		}
		gct[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	T_EQ_INT(bad_ok, 0, "no bit flip of an skmsg decrypts");
	for (i = 0; i < grlen; i++) {
		rc = signal_group_decrypt(gr, i, gct, gctlen, &pt, &ptlen, &ns,
		    &nslen);
		if (rc == 0) {
			signal_free_secret(pt, ptlen);
			signal_free_secret(ns, nslen);
		}
	}
	T_OK(1, "every truncation of a sender-key blob handled");
	for (i = 0; i < skdmlen; i++) {
		if (signal_group_process_skdm(NULL, 0, skdm, i, &ns,
		    &nslen) == 0)
			signal_free_secret(ns, nslen);
	}
	T_OK(1, "every truncation of an SKDM handled");
	free(gct);
	signal_free_secret(skdm, skdmlen);
	signal_free_secret(gs, gslen);
	signal_free_secret(gr, grlen);
	party_free(&a);
	party_free(&b);
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
	T_RUN(test_session_vector_pkmsg);
	T_RUN(test_session_round_trip);
	T_RUN(test_session_out_of_order);
	T_RUN(test_session_limits);
	T_RUN(test_session_reinit_and_archive);
	T_RUN(test_group_vector);
	T_RUN(test_group_round_trip);
	T_RUN(test_robustness);
	json_object_put(vec);
	return t_done();
}
