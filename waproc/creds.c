/*
 * creds.c - device credentials: generation, wipe, and the TLV blob the
 * store keeps (see creds.h).  Parsing is bounds-checked and never trusts a
 * length; public keys are recomputed from the private ones, and the signed
 * prekey signature is checked, so a corrupted blob is refused rather than
 * producing a device the server would reject later.
 */
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "creds.h"

enum {
	T_NOISE = 1, T_IDENTITY, T_SPK_ID, T_SPK_PRIV, T_SPK_SIG, T_REGID,
	T_ADV, T_NEXT_PREKEY, T_UPLOADED, T_JID, T_LID, T_PUSH, T_PLATFORM,
	T_BIZ, T_ACCOUNT_KEY, T_KEY_INDEX, T_ACCOUNT,
	T_END = 0xFF	/* last: BLAKE2b-128 of every byte before it */
};
#define SUM_LEN		16
#define REQUIRED	((1u << T_NOISE) | (1u << T_IDENTITY) | \
	(1u << T_SPK_ID) | (1u << T_SPK_PRIV) | (1u << T_SPK_SIG) | \
	(1u << T_REGID) | (1u << T_ADV))

static const uint8_t magic[4] = { 'W', 'A', 'C', 'R' };

void
creds_generate(struct creds *c)
{
	memset(c, 0, sizeof(*c));
	noise_keypair_generate(&c->noise);
	signal_keypair_generate(&c->identity);
	if (signal_signed_prekey_generate(&c->spk, &c->identity, 1) != 0) {
		/* cannot happen with a fresh key; retry once with another */
		signal_keypair_generate(&c->identity);
		(void)signal_signed_prekey_generate(&c->spk, &c->identity, 1);
	}
	c->registration_id = signal_registration_id_generate();
	randombytes_buf(c->adv_secret, sizeof(c->adv_secret));
	c->next_prekey_id = 1;
}

void
creds_clear(struct creds *c)
{
	sodium_memzero(c, sizeof(*c));
}

void
creds_reset(struct creds *c)
{
	creds_clear(c);
	creds_generate(c);
}

int
creds_jid(const struct creds *c, struct jid *j)
{
	if (c->jid[0] == '\0' || jid_parse(j, c->jid) != 0)
		return -1;
	return 0;
}

int
creds_registered(const struct creds *c)
{
	struct jid j;

	return creds_jid(c, &j) == 0 && j.user[0] != '\0';
}

const char *
creds_strerror(int e)
{
	switch (e) {
	case CREDS_OK:		return "ok";
	case CREDS_EPARSE:	return "malformed credentials blob";
	case CREDS_EVERSION:	return "unknown credentials version";
	case CREDS_EKEY:	return "credentials keys do not check out";
	case CREDS_ENOSPC:	return "credentials blob too large";
	}
	return "unknown error";
}

static int
put(struct buf *b, int tag, const void *v, size_t len)
{
	uint8_t h[3];

	if (len > 0xFFFF)
		return -1;
	h[0] = (uint8_t)tag;
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)len;
	if (buf_append(b, h, 3) != 0 || (len && buf_append(b, v, len) != 0))
		return -1;
	return 0;
}

static int
put32(struct buf *b, int tag, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	return put(b, tag, x, 4);
}

static int
putstr(struct buf *b, int tag, const char *s)
{
	if (s[0] == '\0')
		return 0;
	return put(b, tag, s, strlen(s));
}

int
creds_serialize(const struct creds *c, struct buf *out)
{
	uint8_t up = c->prekeys_uploaded ? 1 : 0;
	size_t start = out->len;
	int r = 0;

	r |= buf_append(out, magic, 4);
	r |= buf_putc(out, CREDS_VERSION);
	r |= put(out, T_NOISE, c->noise.priv, 32);
	r |= put(out, T_IDENTITY, c->identity.priv, 32);
	r |= put32(out, T_SPK_ID, c->spk.id);
	r |= put(out, T_SPK_PRIV, c->spk.kp.priv, 32);
	r |= put(out, T_SPK_SIG, c->spk.sig, 64);
	r |= put32(out, T_REGID, c->registration_id);
	r |= put(out, T_ADV, c->adv_secret, 32);
	r |= put32(out, T_NEXT_PREKEY, c->next_prekey_id);
	r |= put(out, T_UPLOADED, &up, 1);
	r |= putstr(out, T_JID, c->jid);
	r |= putstr(out, T_LID, c->lid);
	r |= putstr(out, T_PUSH, c->push_name);
	r |= putstr(out, T_PLATFORM, c->platform);
	r |= putstr(out, T_BIZ, c->biz_name);
	if (c->account_len > 0 && c->account_len <= sizeof(c->account)) {
		r |= put(out, T_ACCOUNT_KEY, c->account_key, 32);
		r |= put32(out, T_KEY_INDEX, c->key_index);
		r |= put(out, T_ACCOUNT, c->account, c->account_len);
	}
	if (r == 0) {
		uint8_t sum[SUM_LEN];

		crypto_generichash(sum, sizeof(sum), out->data + start,
		    out->len - start, NULL, 0);
		r |= put(out, T_END, sum, sizeof(sum));
	}
	if (r != 0) {
		if (out->len > start)
			sodium_memzero(out->data + start, out->len - start);
		out->len = start;
		return CREDS_ENOSPC;
	}
	return CREDS_OK;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
getstr(char *dst, size_t max, const uint8_t *v, size_t len)
{
	if (len >= max || memchr(v, '\0', len) != NULL)
		return -1;
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

int
creds_deserialize(struct creds *c, const uint8_t *p, size_t len)
{
	uint32_t seen = 0;
	size_t off, l;
	int tag, rc = CREDS_EPARSE;
	const uint8_t *v;

	memset(c, 0, sizeof(*c));
	if (p == NULL || len < 5 || len > CREDS_BLOB_MAX ||
	    memcmp(p, magic, 4) != 0)
		goto out;
	if (p[4] != CREDS_VERSION) {
		rc = CREDS_EVERSION;
		goto out;
	}
	/* the checksum comes first: nothing below sees a corrupt blob */
	if (len < 5 + 3 + SUM_LEN || p[len - SUM_LEN - 3] != T_END ||
	    p[len - SUM_LEN - 2] != 0 || p[len - SUM_LEN - 1] != SUM_LEN)
		goto out;
	{
		uint8_t sum[SUM_LEN];

		crypto_generichash(sum, sizeof(sum), p, len - SUM_LEN - 3,
		    NULL, 0);
		if (sodium_memcmp(sum, p + len - SUM_LEN, SUM_LEN) != 0)
			goto out;
	}
	len -= SUM_LEN + 3;
	for (off = 5; off < len; off += l) {
		if (len - off < 3)
			goto out;
		tag = p[off];
		l = (size_t)p[off + 1] << 8 | p[off + 2];
		off += 3;
		if (l > len - off)
			goto out;
		v = p + off;
		if (tag >= 1 && tag <= T_ACCOUNT) {
			if (seen & (1u << tag))
				goto out;	/* duplicate */
			seen |= 1u << tag;
		}
		switch (tag) {
		case T_NOISE:
			if (l != 32 || noise_keypair_from_priv(&c->noise, v))
				goto out;
			break;
		case T_IDENTITY:
			if (l != 32 ||
			    signal_keypair_from_priv(&c->identity, v) != 0)
				goto out;
			break;
		case T_SPK_PRIV:
			if (l != 32 || signal_keypair_from_priv(&c->spk.kp, v))
				goto out;
			break;
		case T_SPK_SIG:
			if (l != 64)
				goto out;
			memcpy(c->spk.sig, v, 64);
			break;
		case T_ADV:
			if (l != 32)
				goto out;
			memcpy(c->adv_secret, v, 32);
			break;
		case T_ACCOUNT_KEY:
			if (l != 32)
				goto out;
			memcpy(c->account_key, v, 32);
			break;
		case T_SPK_ID:
		case T_REGID:
		case T_NEXT_PREKEY:
		case T_KEY_INDEX:
			if (l != 4)
				goto out;
			if (tag == T_SPK_ID)
				c->spk.id = get32(v);
			else if (tag == T_REGID)
				c->registration_id = get32(v);
			else if (tag == T_NEXT_PREKEY)
				c->next_prekey_id = get32(v);
			else
				c->key_index = get32(v);
			break;
		case T_UPLOADED:
			if (l != 1 || v[0] > 1)
				goto out;
			c->prekeys_uploaded = v[0];
			break;
		case T_JID:
			if (getstr(c->jid, sizeof(c->jid), v, l))
				goto out;
			break;
		case T_LID:
			if (getstr(c->lid, sizeof(c->lid), v, l))
				goto out;
			break;
		case T_PUSH:
			if (getstr(c->push_name, sizeof(c->push_name), v, l))
				goto out;
			break;
		case T_PLATFORM:
			if (getstr(c->platform, sizeof(c->platform), v, l))
				goto out;
			break;
		case T_BIZ:
			if (getstr(c->biz_name, sizeof(c->biz_name), v, l))
				goto out;
			break;
		case T_ACCOUNT:
			if (l == 0 || l > sizeof(c->account))
				goto out;
			memcpy(c->account, v, l);
			c->account_len = l;
			break;
		default:
			break;	/* newer field: skip */
		}
	}
	if ((seen & REQUIRED) != REQUIRED)
		goto out;
	if (c->spk.id == 0 || c->spk.id > SIGNAL_PREKEY_ID_MAX ||
	    c->next_prekey_id > SIGNAL_PREKEY_ID_MAX ||
	    signal_signed_prekey_verify(c->identity.pub, c->spk.kp.pub,
	    c->spk.sig) != 0) {
		rc = CREDS_EKEY;
		goto out;
	}
	if (c->next_prekey_id == 0)
		c->next_prekey_id = 1;
	rc = CREDS_OK;
out:
	if (rc != CREDS_OK)
		creds_clear(c);
	return rc;
}
