/*
 * signal-group.c - sender keys (see signal-group.h).  Record blobs are our
 * own protobuf (sig.SenderKeyRecord); SKDM and skmsg are libsignal's wire
 * formats.  Operations load the blob, change an in-memory copy and
 * serialize a new blob only on success.  No I/O, no logging.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "signal.pb-c.h"
#include "signal-group.h"
#include "signal-keys.h"
#include "xmalloc.h"

#define GRP_VERSION	3
#define GRP_REC_VER	1
#define GRP_MSG_MAX	(16 * 1024 * 1024)
#define GRP_STATE_MAX	(2 * 1024 * 1024)

struct grp_skipped {
	uint32_t	iteration;
	uint8_t		seed[32];
};

struct grp_state {
	uint32_t		 key_id;
	uint32_t		 iteration;
	uint8_t			 ck[32];
	uint8_t			 sign_pub[32];
	uint8_t			 sign_priv[32];
	int			 has_priv;
	struct grp_skipped	*sk;
	size_t			 nsk, capsk;
};

struct grp_record {
	struct grp_state	st[SIGNAL_GROUP_MAX_STATES];	/* newest 1st */
	size_t			n;
};

static void
grp_state_clear(struct grp_state *s)
{
	if (s->sk != NULL)
		signal_free_secret(s->sk, s->capsk * sizeof(*s->sk));
	sodium_memzero(s, sizeof(*s));
}

static void
grp_record_clear(struct grp_record *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		grp_state_clear(&r->st[i]);
	sodium_memzero(r, sizeof(*r));
}

/* Put s (moved in) at the front, dropping the oldest beyond the cap. */
static void
grp_record_push(struct grp_record *r, struct grp_state *s)
{
	if (r->n == SIGNAL_GROUP_MAX_STATES)
		grp_state_clear(&r->st[--r->n]);
	memmove(&r->st[1], &r->st[0], r->n * sizeof(r->st[0]));
	r->st[0] = *s;
	r->n++;
	memset(s, 0, sizeof(*s));
}

static void
grp_record_remove(struct grp_record *r, size_t i)
{
	grp_state_clear(&r->st[i]);
	memmove(&r->st[i], &r->st[i + 1], (r->n - i - 1) * sizeof(r->st[0]));
	r->n--;
	memset(&r->st[r->n], 0, sizeof(r->st[0]));
}

static struct grp_state *
grp_find(struct grp_record *r, uint32_t key_id)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->st[i].key_id == key_id)
			return &r->st[i];
	return NULL;
}

/* ---- serialization ---- */

static int
grp_get_bin(uint8_t *dst, size_t n, protobuf_c_boolean has,
    const ProtobufCBinaryData *b)
{
	if (!has || b->len != n)
		return -1;
	memcpy(dst, b->data, n);
	return 0;
}

static void
grp_wipe_bin(ProtobufCBinaryData *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->len);
}

static int
grp_record_load(const uint8_t *blob, size_t len, struct grp_record *r)
{
	Sig__SenderKeyRecord *p = NULL;
	Sig__SenderKeyState *ps;
	struct grp_state *s;
	size_t i, j;
	int rc = SIGNAL_ERR_STATE;

	memset(r, 0, sizeof(*r));
	if (blob == NULL || len == 0)
		return 0;
	if (len > GRP_STATE_MAX)
		return SIGNAL_ERR_STATE;
	if ((p = sig__sender_key_record__unpack(NULL, len, blob)) == NULL)
		return SIGNAL_ERR_STATE;
	if (!p->has_version || p->version != GRP_REC_VER ||
	    p->n_states > SIGNAL_GROUP_MAX_STATES)
		goto out;
	for (i = 0; i < p->n_states; i++) {
		ps = p->states[i];
		s = &r->st[r->n++];
		if (!ps->has_keyid || ps->chain == NULL ||
		    grp_get_bin(s->ck, 32, ps->chain->has_key,
		    &ps->chain->key) != 0 ||
		    grp_get_bin(s->sign_pub, 32, ps->has_signingpub,
		    &ps->signingpub) != 0 ||
		    ps->n_skipped > SIGNAL_GROUP_MAX_SKIP)
			goto out;
		s->key_id = ps->keyid;
		s->iteration = ps->chain->index;
		if (ps->has_signingpriv) {
			if (grp_get_bin(s->sign_priv, 32, 1,
			    &ps->signingpriv) != 0)
				goto out;
			s->has_priv = 1;
		}
		if (ps->n_skipped > 0) {
			s->sk = xcalloc(ps->n_skipped, sizeof(*s->sk));
			s->capsk = ps->n_skipped;
		}
		for (j = 0; j < ps->n_skipped; j++) {
			s->sk[j].iteration = ps->skipped[j]->index;
			if (grp_get_bin(s->sk[j].seed, 32,
			    ps->skipped[j]->has_seed,
			    &ps->skipped[j]->seed) != 0)
				goto out;
			s->nsk++;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		grp_record_clear(r);
	for (i = 0; i < p->n_states; i++) {
		ps = p->states[i];
		if (ps->chain != NULL)
			grp_wipe_bin(&ps->chain->key);
		grp_wipe_bin(&ps->signingpriv);
		for (j = 0; j < ps->n_skipped; j++)
			grp_wipe_bin(&ps->skipped[j]->seed);
	}
	sig__sender_key_record__free_unpacked(p, NULL);
	return rc;
}

static void
grp_bin(ProtobufCBinaryData *b, protobuf_c_boolean *has, const uint8_t *p,
    size_t n)
{
	b->data = (uint8_t *)(uintptr_t)p;
	b->len = n;
	*has = 1;
}

static int
grp_record_store(const struct grp_record *r, uint8_t **out, size_t *outlen)
{
	Sig__SenderKeyRecord rec = SIG__SENDER_KEY_RECORD__INIT;
	Sig__SenderKeyState ps[SIGNAL_GROUP_MAX_STATES];
	Sig__SenderKeyState *psp[SIGNAL_GROUP_MAX_STATES];
	Sig__ChainKey ck[SIGNAL_GROUP_MAX_STATES];
	Sig__SkippedKey *sk[SIGNAL_GROUP_MAX_STATES];
	Sig__SkippedKey **skp[SIGNAL_GROUP_MAX_STATES];
	Sig__SenderKeyState psinit = SIG__SENDER_KEY_STATE__INIT;
	Sig__ChainKey ckinit = SIG__CHAIN_KEY__INIT;
	Sig__SkippedKey skinit = SIG__SKIPPED_KEY__INIT;
	const struct grp_state *s;
	size_t i, j, len;
	uint8_t *buf;

	memset(sk, 0, sizeof(sk));
	memset(skp, 0, sizeof(skp));
	rec.has_version = 1;
	rec.version = GRP_REC_VER;
	for (i = 0; i < r->n; i++) {
		s = &r->st[i];
		ps[i] = psinit;
		ck[i] = ckinit;
		ps[i].has_keyid = 1;
		ps[i].keyid = s->key_id;
		ck[i].has_index = 1;
		ck[i].index = s->iteration;
		grp_bin(&ck[i].key, &ck[i].has_key, s->ck, 32);
		ps[i].chain = &ck[i];
		grp_bin(&ps[i].signingpub, &ps[i].has_signingpub, s->sign_pub,
		    32);
		if (s->has_priv)
			grp_bin(&ps[i].signingpriv, &ps[i].has_signingpriv,
			    s->sign_priv, 32);
		if (s->nsk > 0) {
			sk[i] = xcalloc(s->nsk, sizeof(Sig__SkippedKey));
			skp[i] = xcalloc(s->nsk, sizeof(Sig__SkippedKey *));
			for (j = 0; j < s->nsk; j++) {
				sk[i][j] = skinit;
				sk[i][j].has_index = 1;
				sk[i][j].index = s->sk[j].iteration;
				grp_bin(&sk[i][j].seed, &sk[i][j].has_seed,
				    s->sk[j].seed, 32);
				skp[i][j] = &sk[i][j];
			}
			ps[i].n_skipped = s->nsk;
			ps[i].skipped = skp[i];
		}
		psp[i] = &ps[i];
	}
	rec.n_states = r->n;
	rec.states = psp;
	len = sig__sender_key_record__get_packed_size(&rec);
	buf = xmalloc(len ? len : 1);
	sig__sender_key_record__pack(&rec, buf);
	for (i = 0; i < r->n; i++) {
		free(sk[i]);
		free(skp[i]);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- chain ---- */

static void
grp_ck_seed(const uint8_t ck[32], uint8_t seed[32])
{
	static const uint8_t one = 0x01;

	signal_hmac_sha256(seed, ck, 32, &one, 1);
}

static void
grp_ck_next(uint8_t ck[32])
{
	static const uint8_t two = 0x02;
	uint8_t n[32];

	signal_hmac_sha256(n, ck, 32, &two, 1);
	memcpy(ck, n, 32);
	sodium_memzero(n, sizeof(n));
}

/* iv [0:16], cipher key [16:48] = HKDF(seed, "WhisperGroup", 48) */
static void
grp_msg_keys(const uint8_t seed[32], uint8_t iv[16], uint8_t key[32])
{
	static const char info[] = "WhisperGroup";
	uint8_t out[48];

	signal_hkdf(out, sizeof(out), seed, 32, NULL, 0,
	    (const uint8_t *)info, sizeof(info) - 1);
	memcpy(iv, out, 16);
	memcpy(key, out + 16, 32);
	sodium_memzero(out, sizeof(out));
}

static void
grp_add_skipped(struct grp_state *s, uint32_t iteration,
    const uint8_t seed[32])
{
	struct grp_skipped *n;
	size_t ncap;

	if (s->nsk >= SIGNAL_GROUP_MAX_SKIP) {
		memmove(&s->sk[0], &s->sk[1], (s->nsk - 1) * sizeof(s->sk[0]));
		s->nsk--;
	}
	if (s->nsk == s->capsk) {
		ncap = s->capsk ? s->capsk * 2 : 16;
		n = xreallocarray(NULL, ncap, sizeof(*n));
		if (s->nsk > 0)
			memcpy(n, s->sk, s->nsk * sizeof(*n));
		if (s->sk != NULL)
			signal_free_secret(s->sk, s->capsk * sizeof(*s->sk));
		s->sk = n;
		s->capsk = ncap;
	}
	s->sk[s->nsk].iteration = iteration;
	memcpy(s->sk[s->nsk].seed, seed, 32);
	s->nsk++;
}

static int
grp_seed_for(struct grp_state *s, uint32_t iteration, uint8_t seed[32])
{
	uint8_t t[32];
	size_t i;

	if (s->iteration > iteration) {
		for (i = 0; i < s->nsk; i++)
			if (s->sk[i].iteration == iteration) {
				memcpy(seed, s->sk[i].seed, 32);
				memmove(&s->sk[i], &s->sk[i + 1],
				    (s->nsk - i - 1) * sizeof(s->sk[0]));
				s->nsk--;
				sodium_memzero(&s->sk[s->nsk],
				    sizeof(s->sk[0]));
				return 0;
			}
		return SIGNAL_ERR_DUPLICATE;
	}
	if (iteration - s->iteration > SIGNAL_GROUP_MAX_SKIP)
		return SIGNAL_ERR_FUTURE;
	if (iteration == UINT32_MAX)
		return SIGNAL_ERR_INVALID;
	while (s->iteration < iteration) {
		grp_ck_seed(s->ck, t);
		grp_add_skipped(s, s->iteration, t);
		grp_ck_next(s->ck);
		s->iteration++;
	}
	sodium_memzero(t, sizeof(t));
	grp_ck_seed(s->ck, seed);
	grp_ck_next(s->ck);
	s->iteration++;
	return 0;
}

/* ---- API ---- */

int
signal_group_create(uint8_t **state, size_t *statelen)
{
	struct grp_record r;
	struct grp_state s;
	struct signal_keypair kp;
	int rc;

	*state = NULL;
	*statelen = 0;
	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	signal_keypair_generate(&kp);	/* also initializes libsodium */
	s.key_id = randombytes_uniform(0x7fffffff) + 1;
	randombytes_buf(s.ck, sizeof(s.ck));
	memcpy(s.sign_pub, kp.pub, 32);
	memcpy(s.sign_priv, kp.priv, 32);
	s.has_priv = 1;
	grp_record_push(&r, &s);
	rc = grp_record_store(&r, state, statelen);
	grp_record_clear(&r);
	sodium_memzero(&kp, sizeof(kp));
	return rc;
}

int
signal_group_skdm(const uint8_t *state, size_t statelen, uint8_t **skdm,
    size_t *skdmlen)
{
	Sig__SenderKeyDistributionMessage m =
	    SIG__SENDER_KEY_DISTRIBUTION_MESSAGE__INIT;
	struct grp_record r;
	uint8_t sk[SIGNAL_PUB_SER_LEN], *buf;
	size_t len;
	int rc;

	*skdm = NULL;
	*skdmlen = 0;
	if ((rc = grp_record_load(state, statelen, &r)) != 0)
		return rc;
	if (r.n == 0 || !r.st[0].has_priv) {
		rc = SIGNAL_ERR_NO_SESSION;
		goto out;
	}
	m.has_id = 1;
	m.id = r.st[0].key_id;
	m.has_iteration = 1;
	m.iteration = r.st[0].iteration;
	grp_bin(&m.chainkey, &m.has_chainkey, r.st[0].ck, 32);
	signal_pub_serialize(sk, r.st[0].sign_pub);
	grp_bin(&m.signingkey, &m.has_signingkey, sk, sizeof(sk));
	len = sig__sender_key_distribution_message__get_packed_size(&m);
	buf = xmalloc(1 + len);
	buf[0] = 0x33;
	sig__sender_key_distribution_message__pack(&m, buf + 1);
	*skdm = buf;
	*skdmlen = 1 + len;
	rc = 0;
out:
	grp_record_clear(&r);
	return rc;
}

static int
grp_skdm_unpack(const uint8_t *skdm, size_t len,
    Sig__SenderKeyDistributionMessage **mp)
{
	Sig__SenderKeyDistributionMessage *m;

	*mp = NULL;
	if (skdm == NULL || len < 2 || len > 4096)
		return SIGNAL_ERR_INVALID;
	if ((skdm[0] >> 4) != GRP_VERSION)
		return SIGNAL_ERR_VERSION;
	m = sig__sender_key_distribution_message__unpack(NULL, len - 1,
	    skdm + 1);
	if (m == NULL)
		return SIGNAL_ERR_INVALID;
	if (!m->has_id || !m->has_iteration || !m->has_chainkey ||
	    m->chainkey.len != 32 || !m->has_signingkey) {
		sig__sender_key_distribution_message__free_unpacked(m, NULL);
		return SIGNAL_ERR_INVALID;
	}
	*mp = m;
	return 0;
}

int
signal_group_process_skdm(const uint8_t *state, size_t statelen,
    const uint8_t *skdm, size_t skdmlen, uint8_t **newstate,
    size_t *newstatelen)
{
	Sig__SenderKeyDistributionMessage *m = NULL;
	struct grp_record r;
	struct grp_state s, *old;
	size_t i;
	int rc;

	*newstate = NULL;
	*newstatelen = 0;
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	if ((rc = grp_skdm_unpack(skdm, skdmlen, &m)) != 0)
		return rc;
	if ((rc = signal_pub_parse(s.sign_pub, m->signingkey.data,
	    m->signingkey.len)) != 0)
		goto out;
	if ((rc = grp_record_load(state, statelen, &r)) != 0)
		goto out;
	s.key_id = m->id;
	s.iteration = m->iteration;
	memcpy(s.ck, m->chainkey.data, 32);
	if ((old = grp_find(&r, s.key_id)) != NULL &&
	    sodium_memcmp(old->sign_pub, s.sign_pub, 32) == 0) {
		/* already known: keep its chain position and skipped keys,
		 * move it to the front */
		i = (size_t)(old - r.st);
		s = *old;
		memset(old, 0, sizeof(*old));
		memmove(&r.st[i], &r.st[i + 1],
		    (r.n - i - 1) * sizeof(r.st[0]));
		r.n--;
		memset(&r.st[r.n], 0, sizeof(r.st[0]));
	} else {
		while ((old = grp_find(&r, s.key_id)) != NULL)
			grp_record_remove(&r, (size_t)(old - r.st));
	}
	grp_record_push(&r, &s);
	rc = grp_record_store(&r, newstate, newstatelen);
out:
	if (m != NULL) {
		grp_wipe_bin(&m->chainkey);
		sig__sender_key_distribution_message__free_unpacked(m, NULL);
	}
	grp_state_clear(&s);
	grp_record_clear(&r);
	return rc;
}

int
signal_group_encrypt(const uint8_t *state, size_t statelen,
    const uint8_t *plain, size_t plainlen, uint8_t **ct, size_t *ctlen,
    uint8_t **newstate, size_t *newstatelen)
{
	Sig__SenderKeyMessage m = SIG__SENDER_KEY_MESSAGE__INIT;
	struct grp_record r;
	struct grp_state *s;
	uint8_t seed[32], iv[16], key[32], *enc = NULL, *buf = NULL;
	size_t enclen = 0, len = 0;
	int rc;

	*ct = NULL;
	*ctlen = 0;
	*newstate = NULL;
	*newstatelen = 0;
	if ((plain == NULL && plainlen > 0) || plainlen > GRP_MSG_MAX)
		return SIGNAL_ERR_INVALID;
	if ((rc = grp_record_load(state, statelen, &r)) != 0)
		return rc;
	s = &r.st[0];
	if (r.n == 0 || !s->has_priv || s->iteration == UINT32_MAX) {
		rc = SIGNAL_ERR_NO_SESSION;
		goto out;
	}
	grp_ck_seed(s->ck, seed);
	grp_msg_keys(seed, iv, key);
	if ((rc = signal_aes_cbc_encrypt(key, iv, plain, plainlen, &enc,
	    &enclen)) != 0)
		goto out;
	m.has_id = 1;
	m.id = s->key_id;
	m.has_iteration = 1;
	m.iteration = s->iteration;
	grp_bin(&m.ciphertext, &m.has_ciphertext, enc, enclen);
	len = 1 + sig__sender_key_message__get_packed_size(&m);
	buf = xmalloc(len + SIGNAL_SIG_LEN);
	buf[0] = 0x33;
	sig__sender_key_message__pack(&m, buf + 1);
	if ((rc = signal_sign(s->sign_priv, buf, len, buf + len)) != 0)
		goto out;
	grp_ck_next(s->ck);
	s->iteration++;
	if ((rc = grp_record_store(&r, newstate, newstatelen)) != 0)
		goto out;
	*ct = buf;
	*ctlen = len + SIGNAL_SIG_LEN;
	buf = NULL;
out:
	free(buf);
	free(enc);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(iv, sizeof(iv));
	grp_record_clear(&r);
	return rc;
}

static int
grp_skmsg_unpack(const uint8_t *ct, size_t len, Sig__SenderKeyMessage **mp)
{
	Sig__SenderKeyMessage *m;

	*mp = NULL;
	if (ct == NULL || len < 2 + SIGNAL_SIG_LEN || len > GRP_MSG_MAX)
		return SIGNAL_ERR_INVALID;
	if ((ct[0] >> 4) != GRP_VERSION)
		return SIGNAL_ERR_VERSION;
	m = sig__sender_key_message__unpack(NULL, len - 1 - SIGNAL_SIG_LEN,
	    ct + 1);
	if (m == NULL)
		return SIGNAL_ERR_INVALID;
	if (!m->has_id || !m->has_iteration || !m->has_ciphertext) {
		sig__sender_key_message__free_unpacked(m, NULL);
		return SIGNAL_ERR_INVALID;
	}
	*mp = m;
	return 0;
}

int
signal_group_decrypt(const uint8_t *state, size_t statelen, const uint8_t *ct,
    size_t ctlen, uint8_t **plain, size_t *plainlen, uint8_t **newstate,
    size_t *newstatelen)
{
	Sig__SenderKeyMessage *m = NULL;
	struct grp_record r;
	struct grp_state *s;
	uint8_t seed[32], iv[16], key[32];
	int rc;

	*plain = NULL;
	*plainlen = 0;
	*newstate = NULL;
	*newstatelen = 0;
	memset(&r, 0, sizeof(r));
	memset(seed, 0, sizeof(seed));
	memset(key, 0, sizeof(key));
	if ((rc = grp_skmsg_unpack(ct, ctlen, &m)) != 0)
		return rc;
	if ((rc = grp_record_load(state, statelen, &r)) != 0)
		goto out;
	if ((s = grp_find(&r, m->id)) == NULL) {
		rc = SIGNAL_ERR_NO_SESSION;
		goto out;
	}
	if ((rc = signal_verify(s->sign_pub, ct, ctlen - SIGNAL_SIG_LEN,
	    ct + ctlen - SIGNAL_SIG_LEN)) != 0)
		goto out;
	if ((rc = grp_seed_for(s, m->iteration, seed)) != 0)
		goto out;
	grp_msg_keys(seed, iv, key);
	if ((rc = signal_aes_cbc_decrypt(key, iv, m->ciphertext.data,
	    m->ciphertext.len, plain, plainlen)) != 0)
		goto out;
	if ((rc = grp_record_store(&r, newstate, newstatelen)) != 0)
		goto out;
out:
	if (rc != 0 && *plain != NULL) {
		signal_free_secret(*plain, *plainlen);
		*plain = NULL;
		*plainlen = 0;
	}
	sig__sender_key_message__free_unpacked(m, NULL);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(key, sizeof(key));
	grp_record_clear(&r);
	return rc;
}

int
signal_group_key_id(const uint8_t *msg, size_t len, int is_skdm,
    uint32_t *key_id, uint32_t *iteration)
{
	Sig__SenderKeyDistributionMessage *d = NULL;
	Sig__SenderKeyMessage *m = NULL;
	int rc;

	*key_id = 0;
	*iteration = 0;
	if (is_skdm) {
		if ((rc = grp_skdm_unpack(msg, len, &d)) != 0)
			return rc;
		*key_id = d->id;
		*iteration = d->iteration;
		grp_wipe_bin(&d->chainkey);
		sig__sender_key_distribution_message__free_unpacked(d, NULL);
	} else {
		if ((rc = grp_skmsg_unpack(msg, len, &m)) != 0)
			return rc;
		*key_id = m->id;
		*iteration = m->iteration;
		sig__sender_key_message__free_unpacked(m, NULL);
	}
	return 0;
}
