/*
 * signal_oracle.c - interoperability test of our Signal code (waproc
 * signal-*.c) against libsignal-protocol-c, in both directions:
 * pairwise sessions (pkmsg/msg, with and without a one-time prekey, out of
 * order), sender keys (SKDM + skmsg) and XEdDSA signatures.  Prints TAP.
 *
 * TEST ONLY: libsignal-protocol-c is GPL; the product never links it.
 * Built by tests/oracle/build.sh, run by tests/system/test_signal_oracle.py.
 * The stores below are minimal in-memory tables for one test process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <signal_protocol.h>
#include <curve.h>
#include <group_cipher.h>
#include <group_session_builder.h>
#include <key_helper.h>
#include <protocol.h>
#include <ratchet.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>

#include "signal-group.h"
#include "signal-keys.h"
#include "signal-session.h"

static int tap_n, tap_failed;

static int
ok(int cond, const char *what)
{
	tap_n++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", tap_n, what);
	if (!cond)
		tap_failed++;
	return cond;
}

/* ---- crypto provider ----------------------------------------------------- */

static int
cp_random(uint8_t *data, size_t len, void *u)
{
	(void)u;
	return RAND_bytes(data, (int)len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int
cp_hmac_init(void **ctx, const uint8_t *key, size_t klen, void *u)
{
	crypto_auth_hmacsha256_state *st = malloc(sizeof(*st));

	(void)u;
	if (st == NULL)
		return SG_ERR_NOMEM;
	crypto_auth_hmacsha256_init(st, key, klen);
	*ctx = st;
	return 0;
}

static int
cp_hmac_update(void *ctx, const uint8_t *d, size_t len, void *u)
{
	(void)u;
	crypto_auth_hmacsha256_update(ctx, d, len);
	return 0;
}

static int
cp_hmac_final(void *ctx, signal_buffer **out, void *u)
{
	uint8_t mac[32];

	(void)u;
	crypto_auth_hmacsha256_final(ctx, mac);
	*out = signal_buffer_create(mac, sizeof(mac));
	return *out ? 0 : SG_ERR_NOMEM;
}

static void
cp_hmac_cleanup(void *ctx, void *u)
{
	(void)u;
	free(ctx);
}

static int
cp_sha512_init(void **ctx, void *u)
{
	crypto_hash_sha512_state *st = malloc(sizeof(*st));

	(void)u;
	if (st == NULL)
		return SG_ERR_NOMEM;
	crypto_hash_sha512_init(st);
	*ctx = st;
	return 0;
}

static int
cp_sha512_update(void *ctx, const uint8_t *d, size_t len, void *u)
{
	(void)u;
	crypto_hash_sha512_update(ctx, d, len);
	return 0;
}

static int
cp_sha512_final(void *ctx, signal_buffer **out, void *u)
{
	uint8_t h[64];

	(void)u;
	crypto_hash_sha512_final(ctx, h);
	crypto_hash_sha512_init(ctx);
	*out = signal_buffer_create(h, sizeof(h));
	return *out ? 0 : SG_ERR_NOMEM;
}

static void
cp_sha512_cleanup(void *ctx, void *u)
{
	(void)u;
	free(ctx);
}

static const EVP_CIPHER *
cp_cipher(int cipher, size_t klen)
{
	if (cipher == SG_CIPHER_AES_CBC_PKCS5)
		return klen == 16 ? EVP_aes_128_cbc() : klen == 24 ?
		    EVP_aes_192_cbc() : klen == 32 ? EVP_aes_256_cbc() : NULL;
	if (cipher == SG_CIPHER_AES_CTR_NOPADDING)
		return klen == 16 ? EVP_aes_128_ctr() : klen == 24 ?
		    EVP_aes_192_ctr() : klen == 32 ? EVP_aes_256_ctr() : NULL;
	return NULL;
}

static int
cp_crypt(int enc, signal_buffer **out, int cipher, const uint8_t *key,
    size_t klen, const uint8_t *iv, size_t ivlen, const uint8_t *in,
    size_t len)
{
	const EVP_CIPHER *c = cp_cipher(cipher, klen);
	EVP_CIPHER_CTX *ctx;
	uint8_t *buf;
	int n1 = 0, n2 = 0, rc = SG_ERR_UNKNOWN;

	*out = NULL;
	if (c == NULL || ivlen != 16)
		return SG_ERR_UNKNOWN;
	if ((buf = malloc(len + 32)) == NULL)
		return SG_ERR_NOMEM;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx != NULL &&
	    EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) == 1 &&
	    EVP_CipherUpdate(ctx, buf, &n1, in, (int)len) == 1 &&
	    EVP_CipherFinal_ex(ctx, buf + n1, &n2) == 1) {
		*out = signal_buffer_create(buf, (size_t)(n1 + n2));
		rc = *out ? 0 : SG_ERR_NOMEM;
	}
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	return rc;
}

static int
cp_encrypt(signal_buffer **out, int cipher, const uint8_t *key, size_t klen,
    const uint8_t *iv, size_t ivlen, const uint8_t *in, size_t len, void *u)
{
	(void)u;
	return cp_crypt(1, out, cipher, key, klen, iv, ivlen, in, len);
}

static int
cp_decrypt(signal_buffer **out, int cipher, const uint8_t *key, size_t klen,
    const uint8_t *iv, size_t ivlen, const uint8_t *in, size_t len, void *u)
{
	(void)u;
	return cp_crypt(0, out, cipher, key, klen, iv, ivlen, in, len);
}

/* ---- in-memory stores ------------------------------------------------------ */

#define MAXREC	16

struct rec {
	char		 key[256];
	uint32_t	 id;
	signal_buffer	*data;
};

struct lib {
	signal_context			*ctx;
	signal_protocol_store_context	*store;
	struct rec			 sessions[MAXREC];
	struct rec			 prekeys[MAXREC];
	struct rec			 spks[MAXREC];
	struct rec			 senderkeys[MAXREC];
	uint8_t				 id_pub[33];
	uint8_t				 id_priv[32];
	uint32_t			 regid;
};

static struct rec *
rec_find(struct rec *t, const char *key, uint32_t id, int create)
{
	int i;

	for (i = 0; i < MAXREC; i++)
		if (t[i].data != NULL && t[i].id == id &&
		    strcmp(t[i].key, key) == 0)
			return &t[i];
	if (!create)
		return NULL;
	for (i = 0; i < MAXREC; i++)
		if (t[i].data == NULL) {
			snprintf(t[i].key, sizeof(t[i].key), "%s", key);
			t[i].id = id;
			return &t[i];
		}
	return NULL;
}

static int
rec_put(struct rec *t, const char *key, uint32_t id, const uint8_t *d,
    size_t len)
{
	struct rec *r = rec_find(t, key, id, 1);

	if (r == NULL)
		return SG_ERR_NOMEM;
	signal_buffer_free(r->data);
	r->data = signal_buffer_create(d, len);
	return 0;
}

static void
rec_del(struct rec *t, const char *key, uint32_t id)
{
	struct rec *r = rec_find(t, key, id, 0);

	if (r != NULL) {
		signal_buffer_free(r->data);
		r->data = NULL;
	}
}

static void
addr_key(char *buf, size_t len, const signal_protocol_address *a)
{
	snprintf(buf, len, "%.*s:%d", (int)a->name_len, a->name, a->device_id);
}

static int
ss_load(signal_buffer **record, signal_buffer **user,
    const signal_protocol_address *a, void *u)
{
	struct lib *l = u;
	char k[256];
	struct rec *r;

	*user = NULL;
	addr_key(k, sizeof(k), a);
	if ((r = rec_find(l->sessions, k, 0, 0)) == NULL)
		return 0;
	*record = signal_buffer_copy(r->data);
	return 1;
}

static int
ss_subdev(signal_int_list **s, const char *name, size_t len, void *u)
{
	(void)s; (void)name; (void)len; (void)u;
	return 0;
}

static int
ss_store(const signal_protocol_address *a, uint8_t *rec, size_t len,
    uint8_t *urec, size_t ulen, void *u)
{
	struct lib *l = u;
	char k[256];

	(void)urec; (void)ulen;
	addr_key(k, sizeof(k), a);
	return rec_put(l->sessions, k, 0, rec, len);
}

static int
ss_contains(const signal_protocol_address *a, void *u)
{
	struct lib *l = u;
	char k[256];

	addr_key(k, sizeof(k), a);
	return rec_find(l->sessions, k, 0, 0) != NULL;
}

static int
ss_delete(const signal_protocol_address *a, void *u)
{
	struct lib *l = u;
	char k[256];

	addr_key(k, sizeof(k), a);
	rec_del(l->sessions, k, 0);
	return 1;
}

static int
ss_delete_all(const char *name, size_t len, void *u)
{
	(void)name; (void)len; (void)u;
	return 0;
}

static int
pk_load(signal_buffer **record, uint32_t id, void *u)
{
	struct rec *r = rec_find(((struct lib *)u)->prekeys, "", id, 0);

	if (r == NULL)
		return SG_ERR_INVALID_KEY_ID;
	*record = signal_buffer_copy(r->data);
	return SG_SUCCESS;
}

static int
pk_store(uint32_t id, uint8_t *rec, size_t len, void *u)
{
	return rec_put(((struct lib *)u)->prekeys, "", id, rec, len);
}

static int
pk_contains(uint32_t id, void *u)
{
	return rec_find(((struct lib *)u)->prekeys, "", id, 0) != NULL;
}

static int
pk_remove(uint32_t id, void *u)
{
	rec_del(((struct lib *)u)->prekeys, "", id);
	return 0;
}

static int
spk_load(signal_buffer **record, uint32_t id, void *u)
{
	struct rec *r = rec_find(((struct lib *)u)->spks, "", id, 0);

	if (r == NULL)
		return SG_ERR_INVALID_KEY_ID;
	*record = signal_buffer_copy(r->data);
	return SG_SUCCESS;
}

static int
spk_store(uint32_t id, uint8_t *rec, size_t len, void *u)
{
	return rec_put(((struct lib *)u)->spks, "", id, rec, len);
}

static int
spk_contains(uint32_t id, void *u)
{
	return rec_find(((struct lib *)u)->spks, "", id, 0) != NULL;
}

static int
spk_remove(uint32_t id, void *u)
{
	rec_del(((struct lib *)u)->spks, "", id);
	return 0;
}

static int
id_get_pair(signal_buffer **pub, signal_buffer **priv, void *u)
{
	struct lib *l = u;

	*pub = signal_buffer_create(l->id_pub, 33);
	*priv = signal_buffer_create(l->id_priv, 32);
	return 0;
}

static int
id_get_regid(void *u, uint32_t *regid)
{
	*regid = ((struct lib *)u)->regid;
	return 0;
}

static int
id_save(const signal_protocol_address *a, uint8_t *k, size_t len, void *u)
{
	(void)a; (void)k; (void)len; (void)u;
	return 0;
}

static int
id_trusted(const signal_protocol_address *a, uint8_t *k, size_t len, void *u)
{
	(void)a; (void)k; (void)len; (void)u;
	return 1;
}

static void
skn_key(char *buf, size_t len, const signal_protocol_sender_key_name *n)
{
	snprintf(buf, len, "%.*s/%.*s:%d", (int)n->group_id_len, n->group_id,
	    (int)n->sender.name_len, n->sender.name, n->sender.device_id);
}

static int
sk_store(const signal_protocol_sender_key_name *n, uint8_t *rec, size_t len,
    uint8_t *urec, size_t ulen, void *u)
{
	char k[256];

	(void)urec; (void)ulen;
	skn_key(k, sizeof(k), n);
	return rec_put(((struct lib *)u)->senderkeys, k, 0, rec, len);
}

static int
sk_load(signal_buffer **record, signal_buffer **user,
    const signal_protocol_sender_key_name *n, void *u)
{
	char k[256];
	struct rec *r;

	*user = NULL;
	skn_key(k, sizeof(k), n);
	if ((r = rec_find(((struct lib *)u)->senderkeys, k, 0, 0)) == NULL)
		return 0;
	*record = signal_buffer_copy(r->data);
	return 1;
}

static void
lib_init(struct lib *l, const struct signal_keypair *id, uint32_t regid)
{
	signal_crypto_provider cp = {
		.random_func = cp_random,
		.hmac_sha256_init_func = cp_hmac_init,
		.hmac_sha256_update_func = cp_hmac_update,
		.hmac_sha256_final_func = cp_hmac_final,
		.hmac_sha256_cleanup_func = cp_hmac_cleanup,
		.sha512_digest_init_func = cp_sha512_init,
		.sha512_digest_update_func = cp_sha512_update,
		.sha512_digest_final_func = cp_sha512_final,
		.sha512_digest_cleanup_func = cp_sha512_cleanup,
		.encrypt_func = cp_encrypt,
		.decrypt_func = cp_decrypt,
	};
	signal_protocol_session_store ss = {
		.load_session_func = ss_load,
		.get_sub_device_sessions_func = ss_subdev,
		.store_session_func = ss_store,
		.contains_session_func = ss_contains,
		.delete_session_func = ss_delete,
		.delete_all_sessions_func = ss_delete_all,
	};
	signal_protocol_pre_key_store pks = {
		.load_pre_key = pk_load,
		.store_pre_key = pk_store,
		.contains_pre_key = pk_contains,
		.remove_pre_key = pk_remove,
	};
	signal_protocol_signed_pre_key_store spks = {
		.load_signed_pre_key = spk_load,
		.store_signed_pre_key = spk_store,
		.contains_signed_pre_key = spk_contains,
		.remove_signed_pre_key = spk_remove,
	};
	signal_protocol_identity_key_store iks = {
		.get_identity_key_pair = id_get_pair,
		.get_local_registration_id = id_get_regid,
		.save_identity = id_save,
		.is_trusted_identity = id_trusted,
	};
	signal_protocol_sender_key_store sks = {
		.store_sender_key = sk_store,
		.load_sender_key = sk_load,
	};

	memset(l, 0, sizeof(*l));
	signal_pub_serialize(l->id_pub, id->pub);
	memcpy(l->id_priv, id->priv, 32);
	l->regid = regid;
	cp.user_data = l;
	ss.user_data = pks.user_data = spks.user_data = iks.user_data =
	    sks.user_data = l;
	if (signal_context_create(&l->ctx, l) != 0 ||
	    signal_context_set_crypto_provider(l->ctx, &cp) != 0 ||
	    signal_protocol_store_context_create(&l->store, l->ctx) != 0) {
		printf("Bail out! libsignal context\n");
		exit(1);
	}
	signal_protocol_store_context_set_session_store(l->store, &ss);
	signal_protocol_store_context_set_pre_key_store(l->store, &pks);
	signal_protocol_store_context_set_signed_pre_key_store(l->store, &spks);
	signal_protocol_store_context_set_identity_key_store(l->store, &iks);
	signal_protocol_store_context_set_sender_key_store(l->store, &sks);
}

static void
lib_free(struct lib *l)
{
	int i;

	for (i = 0; i < MAXREC; i++) {
		signal_buffer_free(l->sessions[i].data);
		signal_buffer_free(l->prekeys[i].data);
		signal_buffer_free(l->spks[i].data);
		signal_buffer_free(l->senderkeys[i].data);
	}
	signal_protocol_store_context_destroy(l->store);
	signal_context_destroy(l->ctx);
}

static ec_public_key *
lib_pub(struct lib *l, const uint8_t pub[32])
{
	ec_public_key *k = NULL;
	uint8_t ser[33];

	signal_pub_serialize(ser, pub);
	curve_decode_point(&k, ser, sizeof(ser), l->ctx);
	return k;
}

static ec_key_pair *
lib_pair(struct lib *l, const struct signal_keypair *kp)
{
	ec_private_key *priv = NULL;
	ec_public_key *pub = lib_pub(l, kp->pub);
	ec_key_pair *pair = NULL;

	curve_decode_private_point(&priv, kp->priv, 32, l->ctx);
	ec_key_pair_create(&pair, pub, priv);
	SIGNAL_UNREF(pub);
	SIGNAL_UNREF(priv);
	return pair;
}

/* Put our-generated prekeys into the library's stores. */
static void
lib_add_prekeys(struct lib *l, const struct signal_signed_prekey *spk,
    const struct signal_prekey *opk)
{
	session_signed_pre_key *s = NULL;
	session_pre_key *p = NULL;
	signal_buffer *b = NULL;
	ec_key_pair *kp;

	kp = lib_pair(l, &spk->kp);
	session_signed_pre_key_create(&s, spk->id, 0, kp, spk->sig, 64);
	session_signed_pre_key_serialize(&b, s);
	spk_store(spk->id, signal_buffer_data(b), signal_buffer_len(b), l);
	signal_buffer_free(b);
	SIGNAL_UNREF(s);
	SIGNAL_UNREF(kp);
	kp = lib_pair(l, &opk->kp);
	session_pre_key_create(&p, opk->id, kp);
	session_pre_key_serialize(&b, p);
	pk_store(opk->id, signal_buffer_data(b), signal_buffer_len(b), l);
	signal_buffer_free(b);
	SIGNAL_UNREF(p);
	SIGNAL_UNREF(kp);
}

static const signal_protocol_address peer_addr = { "peer", 4, 1 };

/* Library encrypts; returns type (2 msg / 3 pkmsg), bytes in *out. */
static int
lib_encrypt(struct lib *l, const char *text, uint8_t **out, size_t *outlen)
{
	session_cipher *c = NULL;
	ciphertext_message *m = NULL;
	signal_buffer *b;
	int type = -1;

	*out = NULL;
	if (session_cipher_create(&c, l->store, &peer_addr, l->ctx) == 0 &&
	    session_cipher_encrypt(c, (const uint8_t *)text, strlen(text),
	    &m) == 0) {
		type = ciphertext_message_get_type(m);
		b = ciphertext_message_get_serialized(m);
		*outlen = signal_buffer_len(b);
		*out = malloc(*outlen);
		memcpy(*out, signal_buffer_data(b), *outlen);
	}
	SIGNAL_UNREF(m);
	session_cipher_free(c);
	return type;
}

/* Library decrypts; 0 when the plaintext equals want. */
static int
lib_decrypt(struct lib *l, int type, const uint8_t *ct, size_t len,
    const char *want)
{
	session_cipher *c = NULL;
	pre_key_signal_message *pm = NULL;
	signal_message *sm = NULL;
	signal_buffer *pt = NULL;
	int rc;

	if ((rc = session_cipher_create(&c, l->store, &peer_addr, l->ctx)) != 0)
		return rc;
	if (type == SIGNAL_MSG_TYPE_PKMSG) {
		if ((rc = pre_key_signal_message_deserialize(&pm, ct, len,
		    l->ctx)) == 0)
			rc = session_cipher_decrypt_pre_key_signal_message(c,
			    pm, NULL, &pt);
	} else {
		if ((rc = signal_message_deserialize(&sm, ct, len,
		    l->ctx)) == 0)
			rc = session_cipher_decrypt_signal_message(c, sm, NULL,
			    &pt);
	}
	if (rc == 0 && (signal_buffer_len(pt) != strlen(want) ||
	    memcmp(signal_buffer_data(pt), want, strlen(want)) != 0))
		rc = -1000;
	signal_buffer_free(pt);
	SIGNAL_UNREF(pm);
	SIGNAL_UNREF(sm);
	session_cipher_free(c);
	return rc;
}

/* ---- our side ----------------------------------------------------------- */

struct ours {
	struct signal_keypair		id;
	struct signal_signed_prekey	spk;
	struct signal_prekey		opk;
	uint32_t			regid;
	uint8_t				*st;
	size_t				stlen;
};

static void
ours_init(struct ours *o, uint32_t spk_id, uint32_t opk_id)
{
	memset(o, 0, sizeof(*o));
	signal_keypair_generate(&o->id);
	signal_signed_prekey_generate(&o->spk, &o->id, spk_id);
	signal_prekeys_generate(&o->opk, 1, opk_id);
	o->regid = signal_registration_id_generate();
}

static void
ours_set(struct ours *o, uint8_t *st, size_t len)
{
	signal_free_secret(o->st, o->stlen);
	o->st = st;
	o->stlen = len;
}

static int
ours_encrypt(struct ours *o, const char *text, uint8_t **ct, size_t *len)
{
	uint8_t *ns;
	size_t nslen;
	int type, rc;

	rc = signal_session_encrypt(o->st, o->stlen, (const uint8_t *)text,
	    strlen(text), &type, ct, len, &ns, &nslen);
	if (rc != 0)
		return rc;
	ours_set(o, ns, nslen);
	return type;
}

static int
ours_decrypt(struct ours *o, int type, const uint8_t *ct, size_t len,
    const char *want)
{
	uint8_t *pt = NULL, *ns = NULL;
	size_t ptlen = 0, nslen = 0;
	int rc, used;

	if (type == SIGNAL_MSG_TYPE_PKMSG)
		rc = signal_session_decrypt_pkmsg(&o->id, o->regid,
		    &o->spk.kp, &o->opk.kp, o->st, o->stlen, ct, len, &pt,
		    &ptlen, &ns, &nslen, &used);
	else
		rc = signal_session_decrypt_msg(o->st, o->stlen, ct, len, &pt,
		    &ptlen, &ns, &nslen);
	if (rc == 0) {
		if (ptlen != strlen(want) || memcmp(pt, want, ptlen) != 0)
			rc = -1000;
		ours_set(o, ns, nslen);
	}
	signal_free_secret(pt, ptlen);
	return rc;
}

/* ---- scenarios ---------------------------------------------------------- */

/* n messages each way with out-of-order delivery; 1 if all decrypt. */
static int
converse(struct ours *o, struct lib *l, int rounds)
{
	uint8_t *ct[6];
	size_t len[6];
	int type[6], i, r, good = 1;
	char text[64];

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 6; i++) {
			snprintf(text, sizeof(text), "ours %d/%d", r, i);
			type[i] = ours_encrypt(o, text, &ct[i], &len[i]);
		}
		for (i = 5; i >= 0; i--) {	/* reverse order */
			snprintf(text, sizeof(text), "ours %d/%d", r, i);
			if (type[i] < 0 ||
			    lib_decrypt(l, type[i], ct[i], len[i], text) != 0)
				good = 0;
			free(ct[i]);
		}
		for (i = 0; i < 6; i++) {
			snprintf(text, sizeof(text), "lib %d/%d", r, i);
			type[i] = lib_encrypt(l, text, &ct[i], &len[i]);
		}
		for (i = 0; i < 6; i++) {	/* odd first, then even */
			int j = i < 3 ? 2 * i + 1 : 2 * (i - 3);

			snprintf(text, sizeof(text), "lib %d/%d", r, j);
			if (type[j] != SIGNAL_MSG_TYPE_MSG ||
			    ours_decrypt(o, type[j], ct[j], len[j], text) != 0)
				good = 0;
		}
		for (i = 0; i < 6; i++)
			free(ct[i]);
	}
	return good;
}

static void
test_ours_initiates(int with_opk)
{
	struct ours a;
	struct signal_keypair bid;
	struct signal_signed_prekey bspk;
	struct signal_prekey bopk;
	struct signal_bundle bundle;
	struct lib b;
	uint8_t *st, *ct;
	size_t stlen, len;
	int type;
	char what[128];
	const char *tag = with_opk ? "with one-time prekey" :
	    "without one-time prekey";

	ours_init(&a, 1, 1);
	signal_keypair_generate(&bid);
	signal_signed_prekey_generate(&bspk, &bid, 5);
	signal_prekeys_generate(&bopk, 1, 77);
	lib_init(&b, &bid, 4321);
	lib_add_prekeys(&b, &bspk, &bopk);
	memset(&bundle, 0, sizeof(bundle));
	bundle.registration_id = b.regid;
	memcpy(bundle.identity_pub, bid.pub, 32);
	bundle.signed_prekey_id = bspk.id;
	memcpy(bundle.signed_prekey_pub, bspk.kp.pub, 32);
	memcpy(bundle.signed_prekey_sig, bspk.sig, 64);
	bundle.has_prekey = with_opk;
	bundle.prekey_id = bopk.id;
	memcpy(bundle.prekey_pub, bopk.kp.pub, 32);
	signal_session_initiate(&a.id, a.regid, &bundle, NULL, 0, &st, &stlen);
	ours_set(&a, st, stlen);
	type = ours_encrypt(&a, "hello from ours", &ct, &len);
	snprintf(what, sizeof(what),
	    "ours -> libsignal-c: pkmsg %s decrypts", tag);
	ok(type == SIGNAL_MSG_TYPE_PKMSG &&
	    lib_decrypt(&b, type, ct, len, "hello from ours") == 0, what);
	free(ct);
	type = ours_encrypt(&a, "second pkmsg", &ct, &len);
	snprintf(what, sizeof(what), "ours -> libsignal-c: second pkmsg %s",
	    tag);
	ok(type == SIGNAL_MSG_TYPE_PKMSG &&
	    lib_decrypt(&b, type, ct, len, "second pkmsg") == 0, what);
	free(ct);
	type = lib_encrypt(&b, "reply from libsignal", &ct, &len);
	snprintf(what, sizeof(what), "libsignal-c -> ours: reply msg %s", tag);
	ok(type == SIGNAL_MSG_TYPE_MSG &&
	    ours_decrypt(&a, type, ct, len, "reply from libsignal") == 0, what);
	free(ct);
	type = ours_encrypt(&a, "now a msg", &ct, &len);
	snprintf(what, sizeof(what), "ours -> libsignal-c: msg after reply %s",
	    tag);
	ok(type == SIGNAL_MSG_TYPE_MSG &&
	    lib_decrypt(&b, type, ct, len, "now a msg") == 0, what);
	free(ct);
	snprintf(what, sizeof(what),
	    "5 rounds x 12 messages, out of order, both ways (%s)", tag);
	ok(converse(&a, &b, 5), what);
	ours_set(&a, NULL, 0);
	lib_free(&b);
}

static void
test_lib_initiates(int with_opk)
{
	struct ours bob;
	struct signal_keypair aid;
	struct lib a;
	session_pre_key_bundle *bundle = NULL;
	session_builder *sb = NULL;
	ec_public_key *ik, *spk, *opk = NULL;
	uint8_t *ct;
	size_t len;
	int type, rc;
	char what[128];
	const char *tag = with_opk ? "with one-time prekey" :
	    "without one-time prekey";

	ours_init(&bob, 9, 4242);
	signal_keypair_generate(&aid);
	lib_init(&a, &aid, 999);
	ik = lib_pub(&a, bob.id.pub);
	spk = lib_pub(&a, bob.spk.kp.pub);
	if (with_opk)
		opk = lib_pub(&a, bob.opk.kp.pub);
	session_pre_key_bundle_create(&bundle, bob.regid, 1,
	    with_opk ? bob.opk.id : 0, opk, bob.spk.id, spk, bob.spk.sig, 64,
	    ik);
	session_builder_create(&sb, a.store, &peer_addr, a.ctx);
	rc = session_builder_process_pre_key_bundle(sb, bundle);
	snprintf(what, sizeof(what),
	    "libsignal-c accepts our bundle (our XEdDSA signature) %s", tag);
	ok(rc == 0, what);
	type = lib_encrypt(&a, "hello from libsignal", &ct, &len);
	snprintf(what, sizeof(what), "libsignal-c -> ours: pkmsg %s", tag);
	ok(type == SIGNAL_MSG_TYPE_PKMSG &&
	    ours_decrypt(&bob, type, ct, len, "hello from libsignal") == 0,
	    what);
	free(ct);
	type = lib_encrypt(&a, "again", &ct, &len);
	snprintf(what, sizeof(what), "libsignal-c -> ours: second pkmsg %s",
	    tag);
	ok(type == SIGNAL_MSG_TYPE_PKMSG &&
	    ours_decrypt(&bob, type, ct, len, "again") == 0, what);
	free(ct);
	type = ours_encrypt(&bob, "reply from ours", &ct, &len);
	snprintf(what, sizeof(what), "ours -> libsignal-c: reply msg %s", tag);
	ok(type == SIGNAL_MSG_TYPE_MSG &&
	    lib_decrypt(&a, type, ct, len, "reply from ours") == 0, what);
	free(ct);
	snprintf(what, sizeof(what),
	    "5 rounds x 12 messages, out of order, both ways (%s, responder)",
	    tag);
	ok(converse(&bob, &a, 5), what);
	SIGNAL_UNREF(bundle);
	SIGNAL_UNREF(ik);
	SIGNAL_UNREF(spk);
	SIGNAL_UNREF(opk);
	session_builder_free(sb);
	ours_set(&bob, NULL, 0);
	lib_free(&a);
}

static int
lib_group_decrypt(struct lib *l, const signal_protocol_sender_key_name *n,
    const uint8_t *ct, size_t len, const char *want)
{
	group_cipher *gc = NULL;
	sender_key_message *m = NULL;
	signal_buffer *pt = NULL;
	int rc;

	if ((rc = group_cipher_create(&gc, l->store, n, l->ctx)) == 0 &&
	    (rc = sender_key_message_deserialize(&m, ct, len, l->ctx)) == 0)
		rc = group_cipher_decrypt(gc, m, NULL, &pt);
	if (rc == 0 && (signal_buffer_len(pt) != strlen(want) ||
	    memcmp(signal_buffer_data(pt), want, strlen(want)) != 0))
		rc = -1000;
	signal_buffer_free(pt);
	SIGNAL_UNREF(m);
	group_cipher_free(gc);
	return rc;
}

static void
test_groups(void)
{
	static const signal_protocol_sender_key_name name = {
		"120363000000000001@g.us", 23, { "alice", 5, 1 }
	};
	struct signal_keypair id;
	struct lib l;
	group_session_builder *gb = NULL;
	group_cipher *gc = NULL;
	sender_key_distribution_message *skdm = NULL;
	ciphertext_message *cm = NULL;
	signal_buffer *b;
	uint8_t *snd = NULL, *rcv = NULL, *d = NULL, *ct[8], *ns, *pt;
	size_t sndlen, rcvlen, dlen, ctlen[8], nslen, ptlen;
	char text[32];
	int i, good, rc;

	signal_keypair_generate(&id);
	lib_init(&l, &id, 55);
	group_session_builder_create(&gb, l.store, l.ctx);
	/* ours -> libsignal */
	signal_group_create(&snd, &sndlen);
	signal_group_skdm(snd, sndlen, &d, &dlen);
	rc = sender_key_distribution_message_deserialize(&skdm, d, dlen,
	    l.ctx);
	if (rc == 0)
		rc = group_session_builder_process_session(gb, &name, skdm);
	ok(rc == 0, "libsignal-c processes our SKDM");
	SIGNAL_UNREF(skdm);
	free(d);
	for (i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "grp ours %d", i);
		signal_group_encrypt(snd, sndlen, (const uint8_t *)text,
		    strlen(text), &ct[i], &ctlen[i], &ns, &nslen);
		signal_free_secret(snd, sndlen);
		snd = ns;
		sndlen = nslen;
	}
	good = 1;
	for (i = 7; i >= 0; i--) {
		snprintf(text, sizeof(text), "grp ours %d", i);
		if (lib_group_decrypt(&l, &name, ct[i], ctlen[i], text) != 0)
			good = 0;
		free(ct[i]);
	}
	ok(good, "libsignal-c decrypts 8 of our skmsgs in reverse order");
	/* libsignal -> ours */
	rc = group_session_builder_create_session(gb, &skdm, &((const
	    signal_protocol_sender_key_name){ "g2@g.us", 7, { "me", 2, 1 } }));
	ok(rc == 0, "libsignal-c creates a sender key");
	if (rc == 0) {
		b = ciphertext_message_get_serialized(
		    (ciphertext_message *)skdm);
		rc = signal_group_process_skdm(NULL, 0, signal_buffer_data(b),
		    signal_buffer_len(b), &rcv, &rcvlen);
	}
	ok(rc == 0, "we process libsignal-c's SKDM");
	SIGNAL_UNREF(skdm);
	group_cipher_create(&gc, l.store, &((const
	    signal_protocol_sender_key_name){ "g2@g.us", 7, { "me", 2, 1 } }),
	    l.ctx);
	good = 1;
	for (i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "grp lib %d", i);
		ct[i] = NULL;
		if (group_cipher_encrypt(gc, (const uint8_t *)text,
		    strlen(text), &cm) != 0) {
			good = 0;
			continue;
		}
		b = ciphertext_message_get_serialized(cm);
		ctlen[i] = signal_buffer_len(b);
		ct[i] = malloc(ctlen[i]);
		memcpy(ct[i], signal_buffer_data(b), ctlen[i]);
		SIGNAL_UNREF(cm);
	}
	for (i = 0; i < 8; i++) {
		int j = i < 4 ? 2 * i + 1 : 2 * (i - 4);

		snprintf(text, sizeof(text), "grp lib %d", j);
		if (ct[j] == NULL || signal_group_decrypt(rcv, rcvlen, ct[j],
		    ctlen[j], &pt, &ptlen, &ns, &nslen) != 0) {
			good = 0;
			continue;
		}
		if (ptlen != strlen(text) || memcmp(pt, text, ptlen) != 0)
			good = 0;
		signal_free_secret(pt, ptlen);
		signal_free_secret(rcv, rcvlen);
		rcv = ns;
		rcvlen = nslen;
	}
	ok(good, "we decrypt 8 libsignal-c skmsgs out of order");
	for (i = 0; i < 8; i++)
		free(ct[i]);
	group_cipher_free(gc);
	group_session_builder_free(gb);
	signal_free_secret(snd, sndlen);
	signal_free_secret(rcv, rcvlen);
	lib_free(&l);
}

static void
test_xeddsa(void)
{
	struct signal_keypair kp;
	struct lib l;
	ec_public_key *pub;
	ec_private_key *priv = NULL;
	signal_buffer *sig = NULL;
	uint8_t ours[64];
	static const uint8_t msg[] = "interop message";
	int i, good_lib = 1, good_ours = 1;

	signal_keypair_generate(&kp);
	lib_init(&l, &kp, 1);
	for (i = 0; i < 20; i++) {
		signal_keypair_generate(&kp);
		pub = lib_pub(&l, kp.pub);
		curve_decode_private_point(&priv, kp.priv, 32, l.ctx);
		signal_sign(kp.priv, msg, sizeof(msg), ours);
		if (curve_verify_signature(pub, msg, sizeof(msg), ours, 64) != 1)
			good_lib = 0;
		if (curve_calculate_signature(l.ctx, &sig, priv, msg,
		    sizeof(msg)) != 0 || signal_verify(kp.pub, msg,
		    sizeof(msg), signal_buffer_data(sig)) != 0)
			good_ours = 0;
		signal_buffer_free(sig);
		sig = NULL;
		SIGNAL_UNREF(pub);
		SIGNAL_UNREF(priv);
	}
	ok(good_lib, "libsignal-c verifies 20 of our XEdDSA signatures");
	ok(good_ours, "we verify 20 libsignal-c signatures");
	lib_free(&l);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0) {
		printf("Bail out! sodium_init\n");
		return 1;
	}
	test_xeddsa();
	test_ours_initiates(1);
	test_ours_initiates(0);
	test_lib_initiates(1);
	test_lib_initiates(0);
	test_groups();
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}
