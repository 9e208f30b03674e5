/*
 * signal-session.c - X3DH + double ratchet over session-record blobs
 * (see signal-session.h).  The blob is our own protobuf (sig.SessionRecord
 * in proto/signal.proto); wire messages are libsignal's.  Every operation
 * loads the blob into C structs, works on copies, and serializes a new
 * blob only on success, so a failed decryption never changes anything.
 * No I/O, no logging (keys and content must never reach a log).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "signal.pb-c.h"
#include "signal-keys.h"
#include "signal-session.h"
#include "xmalloc.h"

#define SESS_VERSION	3
#define SESS_MAC_LEN	8
#define SESS_REC_VER	1

struct sess_skipped {
	uint32_t	index;
	uint8_t		seed[32];
};

struct sess_chain {
	uint8_t			 ratchet[32];	/* their ratchet public */
	uint8_t			 key[32];
	uint32_t		 index;
	struct sess_skipped	*sk;
	size_t			 nsk, capsk;
};

struct sess_state {
	uint8_t			local_id[32];
	uint8_t			remote_id[32];
	uint8_t			root[32];
	uint32_t		prev_counter;
	int			has_sender;
	struct signal_keypair	ratchet;	/* our sending ratchet */
	uint8_t			send_ck[32];
	uint32_t		send_index;
	struct sess_chain	recv[SIGNAL_MAX_RECV_CHAINS];	/* oldest 1st */
	size_t			nrecv;
	int			pending;
	int			has_prekey_id;
	uint32_t		prekey_id;
	uint32_t		spk_id;
	uint8_t			pending_base[32];
	uint32_t		local_reg;
	uint32_t		remote_reg;
	uint8_t			alice_base[32];
};

struct sess_record {
	struct sess_state	*cur;
	struct sess_state	*prev[SIGNAL_SESSION_ARCHIVED];	/* newest 1st */
	size_t			 nprev;
};

struct sess_msg_keys {
	uint8_t	cipher[32];
	uint8_t	mac[32];
	uint8_t	iv[16];
};

/* ---- chain and key derivation ---- */

static void
sess_ck_seed(const uint8_t ck[32], uint8_t seed[32])
{
	static const uint8_t one = 0x01;

	signal_hmac_sha256(seed, ck, 32, &one, 1);
}

static void
sess_ck_next(uint8_t ck[32])
{
	static const uint8_t two = 0x02;
	uint8_t n[32];

	signal_hmac_sha256(n, ck, 32, &two, 1);
	memcpy(ck, n, 32);
	sodium_memzero(n, sizeof(n));
}

static void
sess_msg_keys(const uint8_t seed[32], struct sess_msg_keys *k)
{
	static const char info[] = "WhisperMessageKeys";
	uint8_t out[80];

	signal_hkdf(out, sizeof(out), seed, 32, NULL, 0,
	    (const uint8_t *)info, sizeof(info) - 1);
	memcpy(k->cipher, out, 32);
	memcpy(k->mac, out + 32, 32);
	memcpy(k->iv, out + 64, 16);
	sodium_memzero(out, sizeof(out));
}

/* (root', chain) = HKDF(DH(priv, their), salt root, "WhisperRatchet") */
static int
sess_root_step(const uint8_t root[32], const uint8_t priv[32],
    const uint8_t their[32], uint8_t nroot[32], uint8_t ck[32])
{
	static const char info[] = "WhisperRatchet";
	uint8_t dh[32], out[64];
	int rc;

	if ((rc = signal_dh(dh, priv, their)) != 0)
		return rc;
	signal_hkdf(out, sizeof(out), dh, sizeof(dh), root, 32,
	    (const uint8_t *)info, sizeof(info) - 1);
	memcpy(nroot, out, 32);
	memcpy(ck, out + 32, 32);
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(out, sizeof(out));
	return 0;
}

/* HKDF(0xFF*32 || dhs, "WhisperText") -> root, chain */
static void
sess_x3dh_derive(const uint8_t *secrets, size_t len, uint8_t root[32],
    uint8_t ck[32])
{
	static const char info[] = "WhisperText";
	uint8_t out[64];

	signal_hkdf(out, sizeof(out), secrets, len, NULL, 0,
	    (const uint8_t *)info, sizeof(info) - 1);
	memcpy(root, out, 32);
	memcpy(ck, out + 32, 32);
	sodium_memzero(out, sizeof(out));
}

/* ---- in-memory state ---- */

static void
sess_chain_clear(struct sess_chain *c)
{
	if (c->sk != NULL)
		signal_free_secret(c->sk, c->capsk * sizeof(*c->sk));
	sodium_memzero(c, sizeof(*c));
}

static void
sess_state_free(struct sess_state *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nrecv; i++)
		sess_chain_clear(&st->recv[i]);
	signal_free_secret(st, sizeof(*st));
}

static struct sess_state *
sess_state_dup(const struct sess_state *st)
{
	struct sess_state *n = xmalloc(sizeof(*n));
	size_t i;

	memcpy(n, st, sizeof(*n));
	for (i = 0; i < n->nrecv; i++) {
		const struct sess_chain *c = &st->recv[i];

		n->recv[i].sk = NULL;
		n->recv[i].capsk = 0;
		if (c->nsk > 0) {
			n->recv[i].sk = xreallocarray(NULL, c->nsk,
			    sizeof(*c->sk));
			memcpy(n->recv[i].sk, c->sk, c->nsk * sizeof(*c->sk));
			n->recv[i].capsk = c->nsk;
		}
	}
	return n;
}

static void
sess_record_clear(struct sess_record *r)
{
	size_t i;

	sess_state_free(r->cur);
	for (i = 0; i < r->nprev; i++)
		sess_state_free(r->prev[i]);
	memset(r, 0, sizeof(*r));
}

/* Make st current; the old current goes to the front of the archive. */
static void
sess_record_set_current(struct sess_record *r, struct sess_state *st)
{
	if (r->cur != NULL) {
		if (r->nprev == SIGNAL_SESSION_ARCHIVED)
			sess_state_free(r->prev[--r->nprev]);
		memmove(&r->prev[1], &r->prev[0],
		    r->nprev * sizeof(r->prev[0]));
		r->prev[0] = r->cur;
		r->nprev++;
	}
	r->cur = st;
}

static size_t
sess_total_skipped(const struct sess_state *st)
{
	size_t i, n = 0;

	for (i = 0; i < st->nrecv; i++)
		n += st->recv[i].nsk;
	return n;
}

static void
sess_chain_drop_first(struct sess_chain *c)
{
	memmove(&c->sk[0], &c->sk[1], (c->nsk - 1) * sizeof(c->sk[0]));
	c->nsk--;
	sodium_memzero(&c->sk[c->nsk], sizeof(c->sk[0]));
}

static void
sess_chain_add_skipped(struct sess_state *st, struct sess_chain *c,
    uint32_t index, const uint8_t seed[32])
{
	struct sess_skipped *n;
	size_t i, ncap;

	/* Bound per session: drop the oldest key of the oldest chain. */
	if (sess_total_skipped(st) >= SIGNAL_MAX_SKIP) {
		for (i = 0; i < st->nrecv; i++)
			if (st->recv[i].nsk > 0) {
				sess_chain_drop_first(&st->recv[i]);
				break;
			}
	}
	if (c->nsk == c->capsk) {
		ncap = c->capsk ? c->capsk * 2 : 16;
		n = xreallocarray(NULL, ncap, sizeof(*n));
		if (c->nsk > 0)
			memcpy(n, c->sk, c->nsk * sizeof(*n));
		if (c->sk != NULL)
			signal_free_secret(c->sk, c->capsk * sizeof(*c->sk));
		c->sk = n;
		c->capsk = ncap;
	}
	c->sk[c->nsk].index = index;
	memcpy(c->sk[c->nsk].seed, seed, 32);
	c->nsk++;
}

static struct sess_chain *
sess_find_chain(struct sess_state *st, const uint8_t their[32])
{
	size_t i;

	for (i = 0; i < st->nrecv; i++)
		if (sodium_memcmp(st->recv[i].ratchet, their, 32) == 0)
			return &st->recv[i];
	return NULL;
}

static struct sess_chain *
sess_add_chain(struct sess_state *st, const uint8_t their[32],
    const uint8_t ck[32])
{
	struct sess_chain *c;

	if (st->nrecv == SIGNAL_MAX_RECV_CHAINS) {
		sess_chain_clear(&st->recv[0]);
		memmove(&st->recv[0], &st->recv[1],
		    (st->nrecv - 1) * sizeof(st->recv[0]));
		st->nrecv--;
		memset(&st->recv[st->nrecv], 0, sizeof(st->recv[0]));
	}
	c = &st->recv[st->nrecv++];
	memset(c, 0, sizeof(*c));
	memcpy(c->ratchet, their, 32);
	memcpy(c->key, ck, 32);
	return c;
}

/* Message-key seed for counter on chain c, storing skipped keys. */
static int
sess_chain_seed(struct sess_state *st, struct sess_chain *c, uint32_t counter,
    uint8_t seed[32])
{
	uint8_t s[32];
	size_t i;

	if (c->index > counter) {
		for (i = 0; i < c->nsk; i++)
			if (c->sk[i].index == counter) {
				memcpy(seed, c->sk[i].seed, 32);
				memmove(&c->sk[i], &c->sk[i + 1],
				    (c->nsk - i - 1) * sizeof(c->sk[0]));
				c->nsk--;
				sodium_memzero(&c->sk[c->nsk],
				    sizeof(c->sk[0]));
				return 0;
			}
		return SIGNAL_ERR_DUPLICATE;
	}
	if (counter - c->index > SIGNAL_MAX_SKIP)
		return SIGNAL_ERR_FUTURE;
	if (counter == UINT32_MAX)
		return SIGNAL_ERR_INVALID;
	while (c->index < counter) {
		sess_ck_seed(c->key, s);
		sess_chain_add_skipped(st, c, c->index, s);
		sess_ck_next(c->key);
		c->index++;
	}
	sodium_memzero(s, sizeof(s));
	sess_ck_seed(c->key, seed);
	sess_ck_next(c->key);
	c->index++;
	return 0;
}

/* ---- serialization ---- */

static int
sess_get_bin(uint8_t *dst, size_t n, protobuf_c_boolean has,
    const ProtobufCBinaryData *b)
{
	if (!has || b->len != n)
		return -1;
	memcpy(dst, b->data, n);
	return 0;
}

static int
sess_state_load(const Sig__SessionState *p, struct sess_state **out)
{
	struct sess_state *st = xcalloc(1, sizeof(*st));
	const Sig__ReceiverChain *pc;
	struct sess_chain *c;
	size_t i, j;

	*out = NULL;
	if (!p->has_version || p->version != SESS_VERSION ||
	    sess_get_bin(st->local_id, 32, p->has_localidentity,
	    &p->localidentity) != 0 ||
	    sess_get_bin(st->remote_id, 32, p->has_remoteidentity,
	    &p->remoteidentity) != 0 ||
	    sess_get_bin(st->root, 32, p->has_rootkey, &p->rootkey) != 0 ||
	    sess_get_bin(st->alice_base, 32, p->has_alicebasekey,
	    &p->alicebasekey) != 0)
		goto bad;
	st->prev_counter = p->previouscounter;
	if (p->senderchain != NULL) {
		if (sess_get_bin(st->ratchet.pub, 32, p->has_senderratchetpub,
		    &p->senderratchetpub) != 0 ||
		    sess_get_bin(st->ratchet.priv, 32,
		    p->has_senderratchetpriv, &p->senderratchetpriv) != 0 ||
		    sess_get_bin(st->send_ck, 32, p->senderchain->has_key,
		    &p->senderchain->key) != 0)
			goto bad;
		st->send_index = p->senderchain->index;
		st->has_sender = 1;
	}
	if (p->n_receiverchains > SIGNAL_MAX_RECV_CHAINS)
		goto bad;
	for (i = 0; i < p->n_receiverchains; i++) {
		pc = p->receiverchains[i];
		c = &st->recv[st->nrecv++];
		if (pc->chain == NULL ||
		    sess_get_bin(c->ratchet, 32, pc->has_ratchetkey,
		    &pc->ratchetkey) != 0 ||
		    sess_get_bin(c->key, 32, pc->chain->has_key,
		    &pc->chain->key) != 0 ||
		    pc->n_skipped > SIGNAL_MAX_SKIP)
			goto bad;
		c->index = pc->chain->index;
		if (pc->n_skipped > 0) {
			c->sk = xcalloc(pc->n_skipped, sizeof(*c->sk));
			c->capsk = pc->n_skipped;
		}
		for (j = 0; j < pc->n_skipped; j++) {
			c->sk[j].index = pc->skipped[j]->index;
			if (sess_get_bin(c->sk[j].seed, 32,
			    pc->skipped[j]->has_seed,
			    &pc->skipped[j]->seed) != 0)
				goto bad;
			c->nsk++;
		}
	}
	if (sess_total_skipped(st) > SIGNAL_MAX_SKIP)
		goto bad;
	if (p->pendingprekey) {
		st->pending = 1;
		st->has_prekey_id = p->hasprekeyid;
		st->prekey_id = p->prekeyid;
		st->spk_id = p->signedprekeyid;
		if (sess_get_bin(st->pending_base, 32, p->has_pendingbasekey,
		    &p->pendingbasekey) != 0)
			goto bad;
	}
	st->local_reg = p->localregistrationid;
	st->remote_reg = p->remoteregistrationid;
	*out = st;
	return 0;
bad:
	sess_state_free(st);
	return SIGNAL_ERR_STATE;
}

static void
sess_wipe_bin(ProtobufCBinaryData *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->len);
}

/* Wipe the secret bytes of an unpacked state before it is freed. */
static void
sess_pb_wipe(Sig__SessionState *p)
{
	size_t i, j;

	if (p == NULL)
		return;
	sess_wipe_bin(&p->rootkey);
	sess_wipe_bin(&p->senderratchetpriv);
	if (p->senderchain != NULL)
		sess_wipe_bin(&p->senderchain->key);
	for (i = 0; i < p->n_receiverchains; i++) {
		Sig__ReceiverChain *c = p->receiverchains[i];

		if (c->chain != NULL)
			sess_wipe_bin(&c->chain->key);
		for (j = 0; j < c->n_skipped; j++)
			sess_wipe_bin(&c->skipped[j]->seed);
	}
}

/* Load a record blob; NULL/0 gives an empty record. */
static int
sess_record_load(const uint8_t *blob, size_t len, struct sess_record *r)
{
	Sig__SessionRecord *p = NULL;
	size_t i;
	int rc = SIGNAL_ERR_STATE;

	memset(r, 0, sizeof(*r));
	if (blob == NULL || len == 0)
		return 0;
	if (len > SIGNAL_STATE_MAX)
		return SIGNAL_ERR_STATE;
	if ((p = sig__session_record__unpack(NULL, len, blob)) == NULL)
		return SIGNAL_ERR_STATE;
	if (!p->has_version || p->version != SESS_REC_VER ||
	    p->n_previous > SIGNAL_SESSION_ARCHIVED)
		goto out;
	if (p->current != NULL && sess_state_load(p->current, &r->cur) != 0)
		goto out;
	for (i = 0; i < p->n_previous; i++) {
		if (sess_state_load(p->previous[i], &r->prev[i]) != 0)
			goto out;
		r->nprev++;
	}
	rc = 0;
out:
	if (rc != 0)
		sess_record_clear(r);
	/* the unpacked copy holds keys: wipe its buffers before freeing */
	if (p != NULL) {
		if (p->current != NULL)
			sess_pb_wipe(p->current);
		for (i = 0; i < p->n_previous; i++)
			sess_pb_wipe(p->previous[i]);
		sig__session_record__free_unpacked(p, NULL);
	}
	return rc;
}

/* Protobuf view of one state; pointers into st and into *mem. */
struct sess_pbstate {
	Sig__SessionState	 s;
	Sig__ChainKey		 sendck;
	Sig__ReceiverChain	 rc[SIGNAL_MAX_RECV_CHAINS];
	Sig__ReceiverChain	*rcp[SIGNAL_MAX_RECV_CHAINS];
	Sig__ChainKey		 rck[SIGNAL_MAX_RECV_CHAINS];
	Sig__SkippedKey		*sk[SIGNAL_MAX_RECV_CHAINS];
	Sig__SkippedKey		**skp[SIGNAL_MAX_RECV_CHAINS];
};

static void
sess_bin(ProtobufCBinaryData *b, protobuf_c_boolean *has, const uint8_t *p,
    size_t n)
{
	b->data = (uint8_t *)(uintptr_t)p;
	b->len = n;
	*has = 1;
}

static void
sess_pb_build(struct sess_pbstate *v, const struct sess_state *st)
{
	Sig__SessionState init = SIG__SESSION_STATE__INIT;
	Sig__ChainKey ckinit = SIG__CHAIN_KEY__INIT;
	Sig__ReceiverChain rcinit = SIG__RECEIVER_CHAIN__INIT;
	Sig__SkippedKey skinit = SIG__SKIPPED_KEY__INIT;
	size_t i, j;

	memset(v, 0, sizeof(*v));
	v->s = init;
	v->s.has_version = 1;
	v->s.version = SESS_VERSION;
	sess_bin(&v->s.localidentity, &v->s.has_localidentity, st->local_id,
	    32);
	sess_bin(&v->s.remoteidentity, &v->s.has_remoteidentity, st->remote_id,
	    32);
	sess_bin(&v->s.rootkey, &v->s.has_rootkey, st->root, 32);
	sess_bin(&v->s.alicebasekey, &v->s.has_alicebasekey, st->alice_base,
	    32);
	v->s.has_previouscounter = 1;
	v->s.previouscounter = st->prev_counter;
	if (st->has_sender) {
		sess_bin(&v->s.senderratchetpub, &v->s.has_senderratchetpub,
		    st->ratchet.pub, 32);
		sess_bin(&v->s.senderratchetpriv, &v->s.has_senderratchetpriv,
		    st->ratchet.priv, 32);
		v->sendck = ckinit;
		v->sendck.has_index = 1;
		v->sendck.index = st->send_index;
		sess_bin(&v->sendck.key, &v->sendck.has_key, st->send_ck, 32);
		v->s.senderchain = &v->sendck;
	}
	for (i = 0; i < st->nrecv; i++) {
		const struct sess_chain *c = &st->recv[i];

		v->rc[i] = rcinit;
		v->rck[i] = ckinit;
		v->rck[i].has_index = 1;
		v->rck[i].index = c->index;
		sess_bin(&v->rck[i].key, &v->rck[i].has_key, c->key, 32);
		v->rc[i].chain = &v->rck[i];
		sess_bin(&v->rc[i].ratchetkey, &v->rc[i].has_ratchetkey,
		    c->ratchet, 32);
		if (c->nsk > 0) {
			v->sk[i] = xcalloc(c->nsk, sizeof(Sig__SkippedKey));
			v->skp[i] = xcalloc(c->nsk, sizeof(Sig__SkippedKey *));
			for (j = 0; j < c->nsk; j++) {
				v->sk[i][j] = skinit;
				v->sk[i][j].has_index = 1;
				v->sk[i][j].index = c->sk[j].index;
				sess_bin(&v->sk[i][j].seed,
				    &v->sk[i][j].has_seed, c->sk[j].seed, 32);
				v->skp[i][j] = &v->sk[i][j];
			}
			v->rc[i].n_skipped = c->nsk;
			v->rc[i].skipped = v->skp[i];
		}
		v->rcp[i] = &v->rc[i];
	}
	v->s.n_receiverchains = st->nrecv;
	v->s.receiverchains = v->rcp;
	if (st->pending) {
		v->s.has_pendingprekey = 1;
		v->s.pendingprekey = 1;
		v->s.has_hasprekeyid = 1;
		v->s.hasprekeyid = st->has_prekey_id ? 1 : 0;
		v->s.has_prekeyid = 1;
		v->s.prekeyid = st->prekey_id;
		v->s.has_signedprekeyid = 1;
		v->s.signedprekeyid = st->spk_id;
		sess_bin(&v->s.pendingbasekey, &v->s.has_pendingbasekey,
		    st->pending_base, 32);
	}
	v->s.has_localregistrationid = 1;
	v->s.localregistrationid = st->local_reg;
	v->s.has_remoteregistrationid = 1;
	v->s.remoteregistrationid = st->remote_reg;
}

static void
sess_pb_free(struct sess_pbstate *v)
{
	size_t i;

	for (i = 0; i < SIGNAL_MAX_RECV_CHAINS; i++) {
		free(v->sk[i]);
		free(v->skp[i]);
	}
}

static int
sess_record_store(const struct sess_record *r, uint8_t **out, size_t *outlen)
{
	Sig__SessionRecord rec = SIG__SESSION_RECORD__INIT;
	struct sess_pbstate *v;
	Sig__SessionState *prevp[SIGNAL_SESSION_ARCHIVED];
	size_t i, n, len;
	uint8_t *buf;

	*out = NULL;
	*outlen = 0;
	n = 1 + r->nprev;
	v = xcalloc(n, sizeof(*v));
	rec.has_version = 1;
	rec.version = SESS_REC_VER;
	if (r->cur != NULL) {
		sess_pb_build(&v[0], r->cur);
		rec.current = &v[0].s;
	}
	for (i = 0; i < r->nprev; i++) {
		sess_pb_build(&v[1 + i], r->prev[i]);
		prevp[i] = &v[1 + i].s;
	}
	rec.n_previous = r->nprev;
	rec.previous = prevp;
	len = sig__session_record__get_packed_size(&rec);
	buf = xmalloc(len ? len : 1);
	sig__session_record__pack(&rec, buf);
	for (i = 0; i < n; i++)
		sess_pb_free(&v[i]);
	free(v);
	*out = buf;
	*outlen = len;
	return 0;
}

/* ---- protocol ---- */

/* MAC = HMAC(macKey, senderId33 || receiverId33 || msg)[0:8] */
static void
sess_mac(uint8_t out[32], const uint8_t mackey[32], const uint8_t sender[32],
    const uint8_t receiver[32], const uint8_t *msg, size_t len)
{
	crypto_auth_hmacsha256_state hs;
	uint8_t ser[SIGNAL_PUB_SER_LEN];

	crypto_auth_hmacsha256_init(&hs, mackey, 32);
	signal_pub_serialize(ser, sender);
	crypto_auth_hmacsha256_update(&hs, ser, sizeof(ser));
	signal_pub_serialize(ser, receiver);
	crypto_auth_hmacsha256_update(&hs, ser, sizeof(ser));
	crypto_auth_hmacsha256_update(&hs, msg, len);
	crypto_auth_hmacsha256_final(&hs, out);
	sodium_memzero(&hs, sizeof(hs));
}

/* Receiving ratchet step for a new their-ratchet key. */
static int
sess_ratchet_step(struct sess_state *st, const uint8_t their[32],
    struct sess_chain **cp)
{
	struct signal_keypair nk;
	uint8_t root1[32], ckr[32], root2[32], cks[32];
	int rc;

	*cp = NULL;
	if ((rc = sess_root_step(st->root, st->ratchet.priv, their, root1,
	    ckr)) != 0)
		goto out;
	signal_keypair_generate(&nk);
	if ((rc = sess_root_step(root1, nk.priv, their, root2, cks)) != 0)
		goto out;
	memcpy(st->root, root2, 32);
	*cp = sess_add_chain(st, their, ckr);
	st->prev_counter = st->send_index > 0 ? st->send_index - 1 : 0;
	st->ratchet = nk;
	memcpy(st->send_ck, cks, 32);
	st->send_index = 0;
out:
	sodium_memzero(&nk, sizeof(nk));
	sodium_memzero(root1, sizeof(root1));
	sodium_memzero(root2, sizeof(root2));
	sodium_memzero(ckr, sizeof(ckr));
	sodium_memzero(cks, sizeof(cks));
	return rc;
}

/* Decrypt a serialized SignalMessage with st (mutated; caller's copy). */
static int
sess_decrypt_state(struct sess_state *st, const uint8_t *msg, size_t len,
    uint8_t **plain, size_t *plainlen)
{
	Sig__SignalMessage *m = NULL;
	struct sess_chain *c;
	struct sess_msg_keys k;
	uint8_t their[32], seed[32], mac[32];
	int rc;

	memset(&k, 0, sizeof(k));
	memset(seed, 0, sizeof(seed));
	if (len < 1 + SESS_MAC_LEN + 1)
		return SIGNAL_ERR_INVALID;
	if ((msg[0] >> 4) != SESS_VERSION)
		return SIGNAL_ERR_VERSION;
	if (!st->has_sender)
		return SIGNAL_ERR_NO_SESSION;
	m = sig__signal_message__unpack(NULL, len - 1 - SESS_MAC_LEN, msg + 1);
	if (m == NULL || !m->has_counter || !m->has_ciphertext ||
	    !m->has_ratchetkey) {
		rc = SIGNAL_ERR_INVALID;
		goto out;
	}
	if ((rc = signal_pub_parse(their, m->ratchetkey.data,
	    m->ratchetkey.len)) != 0)
		goto out;
	if ((c = sess_find_chain(st, their)) == NULL &&
	    (rc = sess_ratchet_step(st, their, &c)) != 0)
		goto out;
	if ((rc = sess_chain_seed(st, c, m->counter, seed)) != 0)
		goto out;
	sess_msg_keys(seed, &k);
	sess_mac(mac, k.mac, st->remote_id, st->local_id, msg,
	    len - SESS_MAC_LEN);
	if (sodium_memcmp(mac, msg + len - SESS_MAC_LEN, SESS_MAC_LEN) != 0) {
		rc = SIGNAL_ERR_MAC;
		goto out;
	}
	if ((rc = signal_aes_cbc_decrypt(k.cipher, k.iv, m->ciphertext.data,
	    m->ciphertext.len, plain, plainlen)) != 0)
		goto out;
	st->pending = 0;	/* the peer has our session: plain msg now */
	rc = 0;
out:
	if (m != NULL)
		sig__signal_message__free_unpacked(m, NULL);
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

/* Try the current session, then archived ones (promoting a winner). */
static int
sess_record_decrypt(struct sess_record *r, const uint8_t *msg, size_t len,
    uint8_t **plain, size_t *plainlen)
{
	struct sess_state *copy;
	size_t i;
	int rc, first;

	if (r->cur == NULL)
		return SIGNAL_ERR_NO_SESSION;
	copy = sess_state_dup(r->cur);
	if ((rc = sess_decrypt_state(copy, msg, len, plain, plainlen)) == 0) {
		sess_state_free(r->cur);
		r->cur = copy;
		return 0;
	}
	sess_state_free(copy);
	first = rc;
	if (rc == SIGNAL_ERR_DUPLICATE || rc == SIGNAL_ERR_INVALID ||
	    rc == SIGNAL_ERR_VERSION)
		return rc;
	for (i = 0; i < r->nprev; i++) {
		copy = sess_state_dup(r->prev[i]);
		if (sess_decrypt_state(copy, msg, len, plain, plainlen) == 0) {
			sess_state_free(r->prev[i]);
			memmove(&r->prev[i], &r->prev[i + 1],
			    (r->nprev - i - 1) * sizeof(r->prev[0]));
			r->nprev--;
			sess_record_set_current(r, copy);
			return 0;
		}
		sess_state_free(copy);
	}
	return first;
}

int
signal_session_initiate(const struct signal_keypair *our_identity,
    uint32_t our_regid, const struct signal_bundle *b, const uint8_t *old,
    size_t oldlen, uint8_t **state, size_t *statelen)
{
	struct sess_record r;
	struct sess_state *st = NULL;
	struct signal_keypair base;
	uint8_t secrets[32 * 5], ck[32];
	size_t slen = 32;
	int rc;

	*state = NULL;
	*statelen = 0;
	memset(&base, 0, sizeof(base));
	if ((rc = sess_record_load(old, oldlen, &r)) != 0)
		return rc;
	if ((rc = signal_signed_prekey_verify(b->identity_pub,
	    b->signed_prekey_pub, b->signed_prekey_sig)) != 0)
		goto out;
	signal_keypair_generate(&base);
	memset(secrets, 0xff, 32);
	if ((rc = signal_dh(secrets + 32, our_identity->priv,
	    b->signed_prekey_pub)) != 0 ||
	    (rc = signal_dh(secrets + 64, base.priv, b->identity_pub)) != 0 ||
	    (rc = signal_dh(secrets + 96, base.priv,
	    b->signed_prekey_pub)) != 0)
		goto out;
	slen = 128;
	if (b->has_prekey) {
		if ((rc = signal_dh(secrets + 128, base.priv,
		    b->prekey_pub)) != 0)
			goto out;
		slen = 160;
	}
	st = xcalloc(1, sizeof(*st));
	sess_x3dh_derive(secrets, slen, st->root, ck);
	memcpy(st->local_id, our_identity->pub, 32);
	memcpy(st->remote_id, b->identity_pub, 32);
	/* their signed prekey is their first ratchet key */
	sess_add_chain(st, b->signed_prekey_pub, ck);
	signal_keypair_generate(&st->ratchet);
	if ((rc = sess_root_step(st->root, st->ratchet.priv,
	    b->signed_prekey_pub, st->root, st->send_ck)) != 0)
		goto out;
	st->has_sender = 1;
	st->pending = 1;
	st->has_prekey_id = b->has_prekey;
	st->prekey_id = b->has_prekey ? b->prekey_id : 0;
	st->spk_id = b->signed_prekey_id;
	memcpy(st->pending_base, base.pub, 32);
	memcpy(st->alice_base, base.pub, 32);
	st->local_reg = our_regid;
	st->remote_reg = b->registration_id;
	sess_record_set_current(&r, st);
	st = NULL;
	rc = sess_record_store(&r, state, statelen);
out:
	sess_state_free(st);
	sess_record_clear(&r);
	sodium_memzero(&base, sizeof(base));
	sodium_memzero(secrets, sizeof(secrets));
	sodium_memzero(ck, sizeof(ck));
	return rc;
}

/* 0x33 || SignalMessage || mac8 for the current sending chain key. */
static int
sess_encrypt_state(struct sess_state *st, const uint8_t *plain, size_t len,
    uint8_t **out, size_t *outlen)
{
	Sig__SignalMessage m = SIG__SIGNAL_MESSAGE__INIT;
	struct sess_msg_keys k;
	uint8_t seed[32], mac[32], rk[SIGNAL_PUB_SER_LEN], *ct = NULL, *buf;
	size_t ctlen = 0, plen;
	int rc;

	*out = NULL;
	*outlen = 0;
	sess_ck_seed(st->send_ck, seed);
	sess_msg_keys(seed, &k);
	if ((rc = signal_aes_cbc_encrypt(k.cipher, k.iv, plain, len, &ct,
	    &ctlen)) != 0)
		goto out;
	signal_pub_serialize(rk, st->ratchet.pub);
	sess_bin(&m.ratchetkey, &m.has_ratchetkey, rk, sizeof(rk));
	m.has_counter = 1;
	m.counter = st->send_index;
	m.has_previouscounter = 1;
	m.previouscounter = st->prev_counter;
	sess_bin(&m.ciphertext, &m.has_ciphertext, ct, ctlen);
	plen = sig__signal_message__get_packed_size(&m);
	buf = xmalloc(1 + plen + SESS_MAC_LEN);
	buf[0] = SIGNAL_VERSION_BYTE;
	sig__signal_message__pack(&m, buf + 1);
	sess_mac(mac, k.mac, st->local_id, st->remote_id, buf, 1 + plen);
	memcpy(buf + 1 + plen, mac, SESS_MAC_LEN);
	*out = buf;
	*outlen = 1 + plen + SESS_MAC_LEN;
	sess_ck_next(st->send_ck);
	st->send_index++;
out:
	free(ct);
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

int
signal_session_encrypt(const uint8_t *state, size_t statelen,
    const uint8_t *plain, size_t plainlen, int *type, uint8_t **ct,
    size_t *ctlen, uint8_t **newstate, size_t *newstatelen)
{
	Sig__PreKeySignalMessage pm = SIG__PRE_KEY_SIGNAL_MESSAGE__INIT;
	struct sess_record r;
	struct sess_state *st;
	uint8_t *msg = NULL, *buf, base[SIGNAL_PUB_SER_LEN];
	uint8_t idk[SIGNAL_PUB_SER_LEN];
	size_t msglen = 0, plen;
	int rc;

	*type = 0;
	*ct = NULL;
	*ctlen = 0;
	*newstate = NULL;
	*newstatelen = 0;
	if ((plain == NULL && plainlen > 0) || plainlen > SIGNAL_MSG_MAX)
		return SIGNAL_ERR_INVALID;
	if ((rc = sess_record_load(state, statelen, &r)) != 0)
		return rc;
	if ((st = r.cur) == NULL || !st->has_sender ||
	    st->send_index == UINT32_MAX) {
		rc = SIGNAL_ERR_NO_SESSION;
		goto out;
	}
	if ((rc = sess_encrypt_state(st, plain, plainlen, &msg, &msglen)) != 0)
		goto out;
	if (st->pending) {
		pm.has_registrationid = 1;
		pm.registrationid = st->local_reg;
		if (st->has_prekey_id) {
			pm.has_prekeyid = 1;
			pm.prekeyid = st->prekey_id;
		}
		pm.has_signedprekeyid = 1;
		pm.signedprekeyid = st->spk_id;
		signal_pub_serialize(base, st->pending_base);
		sess_bin(&pm.basekey, &pm.has_basekey, base, sizeof(base));
		signal_pub_serialize(idk, st->local_id);
		sess_bin(&pm.identitykey, &pm.has_identitykey, idk,
		    sizeof(idk));
		sess_bin(&pm.message, &pm.has_message, msg, msglen);
		plen = sig__pre_key_signal_message__get_packed_size(&pm);
		buf = xmalloc(1 + plen);
		buf[0] = SIGNAL_VERSION_BYTE;
		sig__pre_key_signal_message__pack(&pm, buf + 1);
		*ct = buf;
		*ctlen = 1 + plen;
		*type = SIGNAL_MSG_TYPE_PKMSG;
	} else {
		*ct = msg;
		*ctlen = msglen;
		msg = NULL;
		*type = SIGNAL_MSG_TYPE_MSG;
	}
	rc = sess_record_store(&r, newstate, newstatelen);
out:
	free(msg);
	sess_record_clear(&r);
	return rc;
}

/* Parse a pkmsg; *pm is the unpacked message (caller frees). */
static int
sess_pkmsg_unpack(const uint8_t *ct, size_t len, struct signal_pkmsg_info *pi,
    Sig__PreKeySignalMessage **pmp)
{
	Sig__PreKeySignalMessage *pm;
	int rc = SIGNAL_ERR_INVALID;

	memset(pi, 0, sizeof(*pi));
	*pmp = NULL;
	if (ct == NULL || len < 2 || len > SIGNAL_MSG_MAX)
		return SIGNAL_ERR_INVALID;
	if ((ct[0] >> 4) != SESS_VERSION)
		return SIGNAL_ERR_VERSION;
	if ((pm = sig__pre_key_signal_message__unpack(NULL, len - 1,
	    ct + 1)) == NULL)
		return SIGNAL_ERR_INVALID;
	if (!pm->has_signedprekeyid || !pm->has_basekey ||
	    !pm->has_identitykey || !pm->has_message)
		goto out;
	if ((rc = signal_pub_parse(pi->base_key, pm->basekey.data,
	    pm->basekey.len)) != 0 ||
	    (rc = signal_pub_parse(pi->identity_pub, pm->identitykey.data,
	    pm->identitykey.len)) != 0)
		goto out;
	pi->registration_id = pm->registrationid;
	pi->has_prekey_id = pm->has_prekeyid && pm->prekeyid != 0xFFFFFF;
	pi->prekey_id = pi->has_prekey_id ? pm->prekeyid : 0;
	pi->signed_prekey_id = pm->signedprekeyid;
	*pmp = pm;
	pm = NULL;
	rc = 0;
out:
	if (pm != NULL)
		sig__pre_key_signal_message__free_unpacked(pm, NULL);
	if (rc != 0)
		memset(pi, 0, sizeof(*pi));
	return rc;
}

int
signal_pkmsg_parse(const uint8_t *ct, size_t len,
    struct signal_pkmsg_info *pi)
{
	Sig__PreKeySignalMessage *pm = NULL;
	int rc;

	if ((rc = sess_pkmsg_unpack(ct, len, pi, &pm)) == 0)
		sig__pre_key_signal_message__free_unpacked(pm, NULL);
	return rc;
}

static int
sess_record_has_base(const struct sess_record *r, const uint8_t base[32])
{
	size_t i;

	if (r->cur != NULL && sodium_memcmp(r->cur->alice_base, base, 32) == 0)
		return 1;
	for (i = 0; i < r->nprev; i++)
		if (sodium_memcmp(r->prev[i]->alice_base, base, 32) == 0)
			return 1;
	return 0;
}

int
signal_session_decrypt_pkmsg(const struct signal_keypair *our_identity,
    uint32_t our_regid, const struct signal_keypair *spk,
    const struct signal_keypair *opk, const uint8_t *state, size_t statelen,
    const uint8_t *ct, size_t ctlen, uint8_t **plain, size_t *plainlen,
    uint8_t **newstate, size_t *newstatelen, int *prekey_used)
{
	Sig__PreKeySignalMessage *pm = NULL;
	struct signal_pkmsg_info pi;
	struct sess_record r;
	struct sess_state *st = NULL;
	uint8_t secrets[32 * 5], ck[32];
	size_t slen = 128;
	int rc, used = 0;

	*plain = NULL;
	*plainlen = 0;
	*newstate = NULL;
	*newstatelen = 0;
	*prekey_used = 0;
	memset(&r, 0, sizeof(r));
	memset(secrets, 0, sizeof(secrets));
	memset(ck, 0, sizeof(ck));
	if ((rc = sess_pkmsg_unpack(ct, ctlen, &pi, &pm)) != 0)
		return rc;
	if ((rc = sess_record_load(state, statelen, &r)) != 0)
		goto out;
	if (!sess_record_has_base(&r, pi.base_key)) {
		if (spk == NULL || (pi.has_prekey_id && opk == NULL)) {
			rc = SIGNAL_ERR_NO_PREKEY;
			goto out;
		}
		memset(secrets, 0xff, 32);
		if ((rc = signal_dh(secrets + 32, spk->priv,
		    pi.identity_pub)) != 0 ||
		    (rc = signal_dh(secrets + 64, our_identity->priv,
		    pi.base_key)) != 0 ||
		    (rc = signal_dh(secrets + 96, spk->priv, pi.base_key)) != 0)
			goto out;
		if (pi.has_prekey_id) {
			if ((rc = signal_dh(secrets + 128, opk->priv,
			    pi.base_key)) != 0)
				goto out;
			slen = 160;
			used = 1;
		}
		st = xcalloc(1, sizeof(*st));
		sess_x3dh_derive(secrets, slen, st->root, st->send_ck);
		memcpy(st->local_id, our_identity->pub, 32);
		memcpy(st->remote_id, pi.identity_pub, 32);
		st->ratchet = *spk;	/* our signed prekey: first ratchet */
		st->has_sender = 1;
		memcpy(st->alice_base, pi.base_key, 32);
		st->local_reg = our_regid;
		st->remote_reg = pi.registration_id;
		sess_record_set_current(&r, st);
		st = NULL;
	}
	if ((rc = sess_record_decrypt(&r, pm->message.data, pm->message.len,
	    plain, plainlen)) != 0)
		goto out;
	rc = sess_record_store(&r, newstate, newstatelen);
	*prekey_used = used;
out:
	if (rc != 0 && *plain != NULL) {
		signal_free_secret(*plain, *plainlen);
		*plain = NULL;
		*plainlen = 0;
	}
	sess_state_free(st);
	sess_record_clear(&r);
	sig__pre_key_signal_message__free_unpacked(pm, NULL);
	sodium_memzero(secrets, sizeof(secrets));
	sodium_memzero(ck, sizeof(ck));
	return rc;
}

int
signal_session_decrypt_msg(const uint8_t *state, size_t statelen,
    const uint8_t *ct, size_t ctlen, uint8_t **plain, size_t *plainlen,
    uint8_t **newstate, size_t *newstatelen)
{
	struct sess_record r;
	int rc;

	*plain = NULL;
	*plainlen = 0;
	*newstate = NULL;
	*newstatelen = 0;
	if (ct == NULL || ctlen > SIGNAL_MSG_MAX)
		return SIGNAL_ERR_INVALID;
	if ((rc = sess_record_load(state, statelen, &r)) != 0)
		return rc;
	if ((rc = sess_record_decrypt(&r, ct, ctlen, plain, plainlen)) == 0)
		rc = sess_record_store(&r, newstate, newstatelen);
	sess_record_clear(&r);
	return rc;
}

int
signal_session_info(const uint8_t *state, size_t statelen,
    struct signal_session_info *si)
{
	struct sess_record r;
	int rc;

	memset(si, 0, sizeof(*si));
	if ((rc = sess_record_load(state, statelen, &r)) != 0)
		return rc;
	if (r.cur != NULL) {
		si->has_session = r.cur->has_sender;
		si->pending_prekey = r.cur->pending;
		si->local_registration_id = r.cur->local_reg;
		si->remote_registration_id = r.cur->remote_reg;
		memcpy(si->remote_identity, r.cur->remote_id, 32);
	}
	si->archived = r.nprev;
	sess_record_clear(&r);
	return 0;
}
