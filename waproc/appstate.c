/*
 * appstate.c - app state ("syncd") codec: key expansion, LTHash, mutation
 * encryption and MACs, outgoing patches and their IQ, incoming patches,
 * snapshots and sync answers verified and applied to a collection state
 * (PROTOCOL.md 10.2; formulas in appstate.h).
 *
 * Pure: no network, no SQL, no logging, no waproc state.  Input is
 * untrusted: every length is checked against the APPSTATE_*_MAX caps and
 * a bad patch leaves the collection state untouched.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "appstate.h"
#include "signal-keys.h"
#include "syncd.pb-c.h"
#include "xmalloc.h"

#define MUTATION_KEYS_INFO	"WhatsApp Mutation Keys"
#define PATCH_INTEGRITY_INFO	"WhatsApp Patch Integrity"
#define IV_LEN			16

void
appstate_expand_keys(const uint8_t *keydata, size_t len,
    struct appstate_keys *out)
{
	uint8_t	okm[160];

	signal_hkdf(okm, sizeof(okm), keydata, len, NULL, 0,
	    (const uint8_t *)MUTATION_KEYS_INFO, strlen(MUTATION_KEYS_INFO));
	memcpy(out->index, okm, 32);
	memcpy(out->value_enc, okm + 32, 32);
	memcpy(out->value_mac, okm + 64, 32);
	memcpy(out->snapshot_mac, okm + 96, 32);
	memcpy(out->patch_mac, okm + 128, 32);
	sodium_memzero(okm, sizeof(okm));
}

static void
lthash_op(uint8_t hash[APPSTATE_HASH_LEN], const uint8_t mac[APPSTATE_MAC_LEN],
    int sub)
{
	uint8_t		 d[APPSTATE_HASH_LEN];
	uint16_t	 x, y;
	size_t		 i;

	signal_hkdf(d, sizeof(d), mac, APPSTATE_MAC_LEN, NULL, 0,
	    (const uint8_t *)PATCH_INTEGRITY_INFO,
	    strlen(PATCH_INTEGRITY_INFO));
	for (i = 0; i < APPSTATE_HASH_LEN; i += 2) {
		x = (uint16_t)(hash[i] | hash[i + 1] << 8);
		y = (uint16_t)(d[i] | d[i + 1] << 8);
		x = sub ? (uint16_t)(x - y) : (uint16_t)(x + y);
		hash[i] = (uint8_t)x;
		hash[i + 1] = (uint8_t)(x >> 8);
	}
}

void
appstate_lthash_add(uint8_t hash[APPSTATE_HASH_LEN],
    const uint8_t value_mac[APPSTATE_MAC_LEN])
{
	lthash_op(hash, value_mac, 0);
}

void
appstate_lthash_sub(uint8_t hash[APPSTATE_HASH_LEN],
    const uint8_t value_mac[APPSTATE_MAC_LEN])
{
	lthash_op(hash, value_mac, 1);
}

static void
put_u64be(uint8_t out[8], uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

void
appstate_snapshot_mac(const struct appstate_state *st,
    const struct appstate_keys *k, uint8_t out[APPSTATE_MAC_LEN])
{
	crypto_auth_hmacsha256_state	 h;
	uint8_t				 ver[8];

	put_u64be(ver, st->version);
	crypto_auth_hmacsha256_init(&h, k->snapshot_mac, 32);
	crypto_auth_hmacsha256_update(&h, st->hash, APPSTATE_HASH_LEN);
	crypto_auth_hmacsha256_update(&h, ver, sizeof(ver));
	crypto_auth_hmacsha256_update(&h, (const uint8_t *)st->name,
	    strlen(st->name));
	crypto_auth_hmacsha256_final(&h, out);
}

/* patchMAC over snapMAC, the value MACs (last 32 bytes of each blob). */
static void
patch_mac(const struct appstate_keys *k, const uint8_t *snapmac,
    const uint8_t *const *vmacs, size_t n, uint64_t version,
    const char *name, uint8_t out[APPSTATE_MAC_LEN])
{
	crypto_auth_hmacsha256_state	 h;
	uint8_t				 ver[8];
	size_t				 i;

	put_u64be(ver, version);
	crypto_auth_hmacsha256_init(&h, k->patch_mac, 32);
	crypto_auth_hmacsha256_update(&h, snapmac, APPSTATE_MAC_LEN);
	for (i = 0; i < n; i++)
		crypto_auth_hmacsha256_update(&h, vmacs[i], APPSTATE_MAC_LEN);
	crypto_auth_hmacsha256_update(&h, ver, sizeof(ver));
	crypto_auth_hmacsha256_update(&h, (const uint8_t *)name, strlen(name));
	crypto_auth_hmacsha256_final(&h, out);
}

static void
value_mac(const struct appstate_keys *k, enum appstate_op op,
    const uint8_t *keyid, size_t keyidlen, const uint8_t *data, size_t len,
    uint8_t out[APPSTATE_MAC_LEN])
{
	crypto_auth_hmacsha512_state	 h;
	uint8_t				 full[64], opb, tail[8];

	opb = (uint8_t)(op + 1);
	put_u64be(tail, (uint64_t)keyidlen + 1);
	crypto_auth_hmacsha512_init(&h, k->value_mac, 32);
	crypto_auth_hmacsha512_update(&h, &opb, 1);
	crypto_auth_hmacsha512_update(&h, keyid, keyidlen);
	crypto_auth_hmacsha512_update(&h, data, len);
	crypto_auth_hmacsha512_update(&h, tail, sizeof(tail));
	crypto_auth_hmacsha512_final(&h, full);
	memcpy(out, full, APPSTATE_MAC_LEN);
}

static void
index_mac(const struct appstate_keys *k, const char *index, size_t len,
    uint8_t out[APPSTATE_MAC_LEN])
{
	signal_hmac_sha256(out, k->index, 32, (const uint8_t *)index, len);
}

/* --- collection state --- */

void
appstate_state_init(struct appstate_state *st, const char *name)
{
	memset(st, 0, sizeof(*st));
	if (name != NULL)
		snprintf(st->name, sizeof(st->name), "%s", name);
}

void
appstate_state_free(struct appstate_state *st)
{
	if (st == NULL)
		return;
	free(st->entries);
	st->entries = NULL;
	st->nentries = st->cap = 0;
}

void
appstate_state_copy(struct appstate_state *dst,
    const struct appstate_state *src)
{
	*dst = *src;
	dst->entries = NULL;
	dst->cap = src->nentries;
	if (src->nentries > 0) {
		dst->entries = xreallocarray(NULL, src->nentries,
		    sizeof(*dst->entries));
		memcpy(dst->entries, src->entries,
		    src->nentries * sizeof(*dst->entries));
	}
}

/* Position of index_mac, or where it would go (*found = 0). */
static size_t
state_find(const struct appstate_state *st, const uint8_t *imac, int *found)
{
	size_t	lo = 0, hi = st->nentries, mid;
	int	c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(st->entries[mid].index_mac, imac, APPSTATE_MAC_LEN);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const uint8_t *
appstate_state_get(const struct appstate_state *st,
    const uint8_t index_mac[APPSTATE_MAC_LEN])
{
	size_t	i;
	int	found;

	i = state_find(st, index_mac, &found);
	return found ? st->entries[i].value_mac : NULL;
}

int
appstate_state_put(struct appstate_state *st,
    const uint8_t imac[APPSTATE_MAC_LEN], const uint8_t vmac[APPSTATE_MAC_LEN])
{
	size_t	i;
	int	found;

	i = state_find(st, imac, &found);
	if (!found) {
		if (st->nentries >= APPSTATE_ENTRIES_MAX)
			return APPSTATE_ELIMIT;
		if (st->nentries == st->cap) {
			st->cap = st->cap ? st->cap * 2 : 16;
			st->entries = xreallocarray(st->entries, st->cap,
			    sizeof(*st->entries));
		}
		memmove(&st->entries[i + 1], &st->entries[i],
		    (st->nentries - i) * sizeof(*st->entries));
		st->nentries++;
		memcpy(st->entries[i].index_mac, imac, APPSTATE_MAC_LEN);
	}
	memcpy(st->entries[i].value_mac, vmac, APPSTATE_MAC_LEN);
	return 0;
}

void
appstate_state_del(struct appstate_state *st,
    const uint8_t imac[APPSTATE_MAC_LEN])
{
	size_t	i;
	int	found;

	i = state_find(st, imac, &found);
	if (!found)
		return;
	memmove(&st->entries[i], &st->entries[i + 1],
	    (st->nentries - i - 1) * sizeof(*st->entries));
	st->nentries--;
}

/*
 * One mutation into the state and its LTHash (whatsmeow updateHash,
 * Baileys makeLtHashGenerator): a SET adds its value MAC, the value MAC
 * it replaces or removes is subtracted; a REMOVE of an unknown index
 * changes nothing.
 */
static int
state_mix(struct appstate_state *st, enum appstate_op op,
    const uint8_t *imac, const uint8_t *vmac)
{
	const uint8_t	*prev;
	uint8_t		 old[APPSTATE_MAC_LEN];
	int		 had = 0, r;

	if ((prev = appstate_state_get(st, imac)) != NULL) {
		memcpy(old, prev, sizeof(old));
		had = 1;
	}
	if (op == APPSTATE_SET) {
		if ((r = appstate_state_put(st, imac, vmac)) < 0)
			return r;
		appstate_lthash_add(st->hash, vmac);
	} else
		appstate_state_del(st, imac);
	if (had)
		appstate_lthash_sub(st->hash, old);
	return 0;
}

/* --- mutations --- */

void
appstate_mutation_clear(struct appstate_mutation *m)
{
	if (m == NULL)
		return;
	free(m->index);
	free(m->value);
	memset(m, 0, sizeof(*m));
}

void
appstate_mutations_free(struct appstate_mutation *m, size_t n)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < n; i++)
		appstate_mutation_clear(&m[i]);
	free(m);
}

static int
keyid_ok(const uint8_t *keyid, size_t len)
{
	return keyid != NULL && len > 0 && len <= APPSTATE_KEYID_MAX;
}

int
appstate_encode_value(const struct appstate_keys *k, const uint8_t *keyid,
    size_t keyidlen, const struct appstate_mutation *m, const uint8_t iv[16],
    uint8_t imac[APPSTATE_MAC_LEN], uint8_t **blob, size_t *bloblen,
    uint8_t vmac[APPSTATE_MAC_LEN])
{
	Syncd__SyncActionData	 data = SYNCD__SYNC_ACTION_DATA__INIT;
	Syncd__SyncActionValue	*val = NULL;
	uint8_t			*plain = NULL, *ct = NULL, *b;
	uint8_t			 ivb[IV_LEN];
	size_t			 plen = 0, ctlen = 0, ilen;
	int			 r = APPSTATE_EINVAL;

	*blob = NULL;
	*bloblen = 0;
	if (!keyid_ok(keyid, keyidlen) || m == NULL || m->index == NULL ||
	    (m->op != APPSTATE_SET && m->op != APPSTATE_REMOVE))
		return APPSTATE_EINVAL;
	ilen = strlen(m->index);
	if (ilen > APPSTATE_INDEX_MAX || m->value_len > APPSTATE_VALUE_MAX)
		return APPSTATE_ELIMIT;
	if (m->value != NULL && (val = syncd__sync_action_value__unpack(NULL,
	    m->value_len, m->value)) == NULL)
		return APPSTATE_EINVAL;

	data.has_index = 1;
	data.index.data = (uint8_t *)m->index;
	data.index.len = ilen;
	data.value = val;
	data.has_padding = 1;			/* empty, as both clients do */
	data.padding.data = NULL;
	data.padding.len = 0;
	data.has_version = 1;
	data.version = m->version;
	plen = syncd__sync_action_data__get_packed_size(&data);
	plain = xmalloc(plen ? plen : 1);
	syncd__sync_action_data__pack(&data, plain);

	if (iv != NULL)
		memcpy(ivb, iv, IV_LEN);
	else
		randombytes_buf(ivb, IV_LEN);
	if (signal_aes_cbc_encrypt(k->value_enc, ivb, plain, plen, &ct,
	    &ctlen) != 0)
		goto out;
	b = xmalloc(IV_LEN + ctlen + APPSTATE_MAC_LEN);
	memcpy(b, ivb, IV_LEN);
	memcpy(b + IV_LEN, ct, ctlen);
	value_mac(k, m->op, keyid, keyidlen, b, IV_LEN + ctlen, vmac);
	memcpy(b + IV_LEN + ctlen, vmac, APPSTATE_MAC_LEN);
	index_mac(k, m->index, ilen, imac);
	*blob = b;
	*bloblen = IV_LEN + ctlen + APPSTATE_MAC_LEN;
	r = 0;
out:
	if (val != NULL)
		syncd__sync_action_value__free_unpacked(val, NULL);
	signal_free_secret(plain, plen);
	free(ct);
	return r;
}

/* Verify and decrypt one record already unpacked. */
static int
decode_rec(const Syncd__SyncdRecord *rec, enum appstate_op op,
    appstate_getkey_cb getkey, void *arg, struct appstate_mutation *out)
{
	struct appstate_keys	 k;
	Syncd__SyncActionData	*data = NULL;
	const uint8_t		*blob, *keyid;
	uint8_t			*plain = NULL, mac[APPSTATE_MAC_LEN];
	size_t			 bloblen, keyidlen, plen = 0, enclen;
	int			 r;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	if (rec == NULL || rec->index == NULL || !rec->index->has_blob ||
	    rec->index->blob.len != APPSTATE_MAC_LEN || rec->value == NULL ||
	    !rec->value->has_blob || rec->keyid == NULL ||
	    !rec->keyid->has_id)
		return APPSTATE_EINVAL;
	blob = rec->value->blob.data;
	bloblen = rec->value->blob.len;
	keyid = rec->keyid->id.data;
	keyidlen = rec->keyid->id.len;
	if (!keyid_ok(keyid, keyidlen) ||
	    bloblen < IV_LEN + 16 + APPSTATE_MAC_LEN ||
	    (bloblen - IV_LEN - APPSTATE_MAC_LEN) % 16 != 0)
		return APPSTATE_EINVAL;
	if (bloblen > APPSTATE_VALUE_MAX)
		return APPSTATE_ELIMIT;
	if (getkey == NULL || getkey(arg, keyid, keyidlen, &k) != 0)
		return APPSTATE_ENOKEY;

	enclen = bloblen - APPSTATE_MAC_LEN;
	value_mac(&k, op, keyid, keyidlen, blob, enclen, mac);
	if (sodium_memcmp(mac, blob + enclen, APPSTATE_MAC_LEN) != 0) {
		r = APPSTATE_EVALUEMAC;
		goto out;
	}
	r = APPSTATE_EDECRYPT;
	if (signal_aes_cbc_decrypt(k.value_enc, blob, blob + IV_LEN,
	    enclen - IV_LEN, &plain, &plen) != 0)
		goto out;
	if ((data = syncd__sync_action_data__unpack(NULL, plen, plain)) ==
	    NULL || !data->has_index)
		goto out;
	r = APPSTATE_ELIMIT;
	if (data->index.len > APPSTATE_INDEX_MAX)
		goto out;
	r = APPSTATE_EINVAL;
	if (memchr(data->index.data, '\0', data->index.len) != NULL)
		goto out;
	index_mac(&k, (const char *)data->index.data, data->index.len, mac);
	if (sodium_memcmp(mac, rec->index->blob.data, APPSTATE_MAC_LEN) != 0) {
		r = APPSTATE_EINDEXMAC;
		goto out;
	}
	out->op = op;
	out->index = xstrndup((const char *)data->index.data,
	    data->index.len);
	if (data->value != NULL) {
		out->value_len =
		    syncd__sync_action_value__get_packed_size(data->value);
		out->value = xmalloc(out->value_len ? out->value_len : 1);
		syncd__sync_action_value__pack(data->value, out->value);
	}
	out->version = data->has_version ? data->version : 0;
	memcpy(out->index_mac, rec->index->blob.data, APPSTATE_MAC_LEN);
	memcpy(out->value_mac, blob + enclen, APPSTATE_MAC_LEN);
	r = 0;
out:
	if (data != NULL)
		syncd__sync_action_data__free_unpacked(data, NULL);
	signal_free_secret(plain, plen);
	sodium_memzero(&k, sizeof(k));
	return r;
}

int
appstate_decode_record(const uint8_t *rec, size_t len, enum appstate_op op,
    appstate_getkey_cb getkey, void *arg, struct appstate_mutation *out)
{
	Syncd__SyncdRecord	*r;
	int			 rv;

	memset(out, 0, sizeof(*out));
	if (rec == NULL || len > APPSTATE_VALUE_MAX + 1024)
		return rec == NULL ? APPSTATE_EINVAL : APPSTATE_ELIMIT;
	if ((r = syncd__syncd_record__unpack(NULL, len, rec)) == NULL)
		return APPSTATE_EINVAL;
	rv = decode_rec(r, op, getkey, arg, out);
	syncd__syncd_record__free_unpacked(r, NULL);
	return rv;
}

/* --- outgoing patch --- */

int
appstate_build_patch(const struct appstate_state *cur,
    const struct appstate_keys *k, const uint8_t *keyid, size_t keyidlen,
    const struct appstate_mutation *muts, size_t n, const uint8_t iv[16],
    uint8_t **patch, size_t *patchlen, struct appstate_state *next)
{
	Syncd__SyncdPatch	  p = SYNCD__SYNCD_PATCH__INIT;
	Syncd__KeyId		  kid = SYNCD__KEY_ID__INIT;
	Syncd__SyncdMutation	 *mv = NULL, **mp = NULL;
	Syncd__SyncdRecord	 *rv = NULL;
	Syncd__SyncdIndex	 *iv_ = NULL;
	Syncd__SyncdValue	 *vv = NULL;
	uint8_t			(*imacs)[APPSTATE_MAC_LEN] = NULL;
	uint8_t			(*vmacs)[APPSTATE_MAC_LEN] = NULL;
	const uint8_t		**vptr = NULL;
	uint8_t			 snap[APPSTATE_MAC_LEN], pmac[APPSTATE_MAC_LEN];
	size_t			 i;
	int			 r = APPSTATE_EINVAL;

	*patch = NULL;
	*patchlen = 0;
	appstate_state_init(next, cur ? cur->name : NULL);
	if (cur == NULL || cur->name[0] == '\0' || k == NULL ||
	    !keyid_ok(keyid, keyidlen) || muts == NULL || n == 0)
		return APPSTATE_EINVAL;
	if (n > APPSTATE_MUTATIONS_MAX)
		return APPSTATE_ELIMIT;
	appstate_state_copy(next, cur);

	mv = xcalloc(n, sizeof(*mv));
	mp = xcalloc(n, sizeof(*mp));
	rv = xcalloc(n, sizeof(*rv));
	iv_ = xcalloc(n, sizeof(*iv_));
	vv = xcalloc(n, sizeof(*vv));
	imacs = xcalloc(n, sizeof(*imacs));
	vmacs = xcalloc(n, sizeof(*vmacs));
	vptr = xcalloc(n, sizeof(*vptr));
	kid.has_id = 1;
	kid.id.data = (uint8_t *)keyid;
	kid.id.len = keyidlen;

	for (i = 0; i < n; i++) {
		syncd__syncd_mutation__init(&mv[i]);
		syncd__syncd_record__init(&rv[i]);
		syncd__syncd_index__init(&iv_[i]);
		syncd__syncd_value__init(&vv[i]);
		if ((r = appstate_encode_value(k, keyid, keyidlen, &muts[i],
		    iv, imacs[i], &vv[i].blob.data, &vv[i].blob.len,
		    vmacs[i])) < 0)
			goto out;
		vv[i].has_blob = 1;
		iv_[i].has_blob = 1;
		iv_[i].blob.data = imacs[i];
		iv_[i].blob.len = APPSTATE_MAC_LEN;
		rv[i].index = &iv_[i];
		rv[i].value = &vv[i];
		rv[i].keyid = &kid;
		mv[i].has_operation = 1;
		mv[i].operation = muts[i].op == APPSTATE_REMOVE ?
		    SYNCD__SYNCD_MUTATION__SYNCD_OPERATION__REMOVE :
		    SYNCD__SYNCD_MUTATION__SYNCD_OPERATION__SET;
		mv[i].record = &rv[i];
		mp[i] = &mv[i];
		vptr[i] = vmacs[i];
		if ((r = state_mix(next, muts[i].op, imacs[i], vmacs[i])) < 0)
			goto out;
	}
	next->version = cur->version + 1;
	appstate_snapshot_mac(next, k, snap);
	patch_mac(k, snap, vptr, n, next->version, next->name, pmac);

	p.n_mutations = n;
	p.mutations = mp;
	p.has_snapshotmac = 1;
	p.snapshotmac.data = snap;
	p.snapshotmac.len = sizeof(snap);
	p.has_patchmac = 1;
	p.patchmac.data = pmac;
	p.patchmac.len = sizeof(pmac);
	p.keyid = &kid;
	*patchlen = syncd__syncd_patch__get_packed_size(&p);
	*patch = xmalloc(*patchlen);
	syncd__syncd_patch__pack(&p, *patch);
	r = 0;
out:
	for (i = 0; i < n && vv != NULL; i++)
		free(vv[i].blob.data);
	free(mv);
	free(mp);
	free(rv);
	free(iv_);
	free(vv);
	free(imacs);
	free(vmacs);
	free(vptr);
	if (r < 0) {
		appstate_state_free(next);
		appstate_state_init(next, cur->name);
	}
	return r;
}

/* --- incoming patches --- */

static void
muts_append(struct appstate_mutation **muts, size_t *n,
    struct appstate_mutation *add, size_t nadd)
{
	if (nadd == 0)
		return;
	*muts = xreallocarray(*muts, *n + nadd, sizeof(**muts));
	memcpy(*muts + *n, add, nadd * sizeof(*add));
	*n += nadd;
}

/* Decode records/mutations into work, in order; collect into *got. */
static int
apply_records(struct appstate_state *work, Syncd__SyncdMutation **mv,
    Syncd__SyncdRecord **rv, size_t n, appstate_getkey_cb getkey, void *arg,
    struct appstate_mutation **got)
{
	const Syncd__SyncdRecord	*rec;
	enum appstate_op		 op;
	size_t				 i;
	int				 r;

	*got = xcalloc(n ? n : 1, sizeof(**got));
	for (i = 0; i < n; i++) {
		if (mv != NULL) {
			if (mv[i] == NULL)
				return APPSTATE_EINVAL;
			rec = mv[i]->record;
			op = mv[i]->has_operation && mv[i]->operation ==
			    SYNCD__SYNCD_MUTATION__SYNCD_OPERATION__REMOVE ?
			    APPSTATE_REMOVE : APPSTATE_SET;
			if (mv[i]->has_operation && mv[i]->operation !=
			    SYNCD__SYNCD_MUTATION__SYNCD_OPERATION__REMOVE &&
			    mv[i]->operation !=
			    SYNCD__SYNCD_MUTATION__SYNCD_OPERATION__SET)
				return APPSTATE_EINVAL;
		} else {
			rec = rv[i];
			op = APPSTATE_SET;
		}
		if ((r = decode_rec(rec, op, getkey, arg, &(*got)[i])) < 0)
			return r;
		if ((r = state_mix(work, op, (*got)[i].index_mac,
		    (*got)[i].value_mac)) < 0)
			return r;
	}
	return 0;
}

static int
getkey_of(const Syncd__KeyId *kid, appstate_getkey_cb getkey, void *arg,
    struct appstate_keys *k)
{
	if (kid == NULL || !kid->has_id || !keyid_ok(kid->id.data, kid->id.len))
		return APPSTATE_EINVAL;
	if (getkey == NULL || getkey(arg, kid->id.data, kid->id.len, k) != 0)
		return APPSTATE_ENOKEY;
	return 0;
}

/*
 * The last step of applying a patch or snapshot: work, at version, must
 * hash to the snapshot MAC want; then it replaces *st and the decoded
 * mutations (*got, n) go to the caller.  0 or APPSTATE_ESNAPSHOTMAC.
 */
static int
work_commit(struct appstate_state *st, struct appstate_state *work,
    const struct appstate_keys *k, uint64_t version, const uint8_t *want,
    struct appstate_mutation **got, size_t n,
    struct appstate_mutation **muts, size_t *nmuts)
{
	uint8_t	mac[APPSTATE_MAC_LEN];

	work->version = version;
	appstate_snapshot_mac(work, k, mac);
	if (sodium_memcmp(mac, want, APPSTATE_MAC_LEN) != 0)
		return APPSTATE_ESNAPSHOTMAC;
	appstate_state_free(st);
	*st = *work;
	appstate_state_init(work, NULL);
	if (muts != NULL && nmuts != NULL) {
		*muts = *got;
		*nmuts = n;
		*got = NULL;
	}
	return 0;
}

int
appstate_apply_patch(struct appstate_state *st, const uint8_t *buf,
    size_t len, uint64_t version, appstate_getkey_cb getkey, void *arg,
    struct appstate_mutation **muts, size_t *nmuts)
{
	Syncd__SyncdPatch	 *p = NULL;
	struct appstate_state	  work;
	struct appstate_keys	  k;
	struct appstate_mutation *got = NULL;
	const uint8_t		**vptr = NULL;
	uint8_t			  mac[APPSTATE_MAC_LEN];
	const ProtobufCBinaryData *b;
	size_t			  i, n = 0;
	int			  r;

	if (muts != NULL)
		*muts = NULL;
	if (nmuts != NULL)
		*nmuts = 0;
	memset(&k, 0, sizeof(k));
	appstate_state_init(&work, st->name);
	if (buf == NULL || st->name[0] == '\0')
		return APPSTATE_EINVAL;
	if (len > APPSTATE_PATCH_MAX)
		return APPSTATE_ELIMIT;
	if ((p = syncd__syncd_patch__unpack(NULL, len, buf)) == NULL)
		return APPSTATE_EINVAL;
	r = APPSTATE_EEXTERNAL;
	if (p->externalmutations != NULL)
		goto out;
	r = APPSTATE_ELIMIT;
	if ((n = p->n_mutations) > APPSTATE_MUTATIONS_MAX)
		goto out;
	if (version == 0)
		version = p->version != NULL && p->version->has_version ?
		    p->version->version : st->version + 1;
	r = APPSTATE_EVERSION;
	if (version <= st->version)
		goto out;
	r = APPSTATE_EINVAL;
	if (!p->has_snapshotmac || p->snapshotmac.len != APPSTATE_MAC_LEN ||
	    !p->has_patchmac || p->patchmac.len != APPSTATE_MAC_LEN)
		goto out;
	if ((r = getkey_of(p->keyid, getkey, arg, &k)) < 0)
		goto out;

	r = APPSTATE_EINVAL;
	vptr = xcalloc(n ? n : 1, sizeof(*vptr));
	for (i = 0; i < n; i++) {
		if (p->mutations[i]->record == NULL ||
		    p->mutations[i]->record->value == NULL)
			goto out;
		b = &p->mutations[i]->record->value->blob;
		if (b->len < APPSTATE_MAC_LEN)
			goto out;
		vptr[i] = b->data + b->len - APPSTATE_MAC_LEN;
	}
	patch_mac(&k, p->snapshotmac.data, vptr, n, version, st->name, mac);
	r = APPSTATE_EPATCHMAC;
	if (sodium_memcmp(mac, p->patchmac.data, APPSTATE_MAC_LEN) != 0)
		goto out;

	appstate_state_copy(&work, st);
	if ((r = apply_records(&work, p->mutations, NULL, n, getkey, arg,
	    &got)) < 0)
		goto out;
	r = work_commit(st, &work, &k, version, p->snapshotmac.data, &got, n,
	    muts, nmuts);
out:
	appstate_mutations_free(got, n);
	appstate_state_free(&work);
	free(vptr);
	syncd__syncd_patch__free_unpacked(p, NULL);
	sodium_memzero(&k, sizeof(k));
	return r;
}

int
appstate_apply_snapshot(struct appstate_state *st, const uint8_t *buf,
    size_t len, appstate_getkey_cb getkey, void *arg,
    struct appstate_mutation **muts, size_t *nmuts)
{
	Syncd__SyncdSnapshot	 *s = NULL;
	struct appstate_state	  work;
	struct appstate_keys	  k;
	struct appstate_mutation *got = NULL;
	size_t			  n = 0;
	int			  r;

	if (muts != NULL)
		*muts = NULL;
	if (nmuts != NULL)
		*nmuts = 0;
	memset(&k, 0, sizeof(k));
	appstate_state_init(&work, st->name);
	if (buf == NULL || st->name[0] == '\0')
		return APPSTATE_EINVAL;
	if (len > APPSTATE_PATCH_MAX)
		return APPSTATE_ELIMIT;
	if ((s = syncd__syncd_snapshot__unpack(NULL, len, buf)) == NULL)
		return APPSTATE_EINVAL;
	r = APPSTATE_ELIMIT;
	if ((n = s->n_records) > APPSTATE_ENTRIES_MAX)
		goto out;
	r = APPSTATE_EINVAL;
	if (s->version == NULL || !s->version->has_version || !s->has_mac ||
	    s->mac.len != APPSTATE_MAC_LEN)
		goto out;
	if ((r = getkey_of(s->keyid, getkey, arg, &k)) < 0)
		goto out;
	if ((r = apply_records(&work, NULL, s->records, n, getkey, arg,
	    &got)) < 0)
		goto out;
	r = work_commit(st, &work, &k, s->version->version, s->mac.data, &got,
	    n, muts, nmuts);
out:
	appstate_mutations_free(got, n);
	appstate_state_free(&work);
	syncd__syncd_snapshot__free_unpacked(s, NULL);
	sodium_memzero(&k, sizeof(k));
	return r;
}

/* --- stanzas --- */

static struct binnode *
sync_iq(struct binnode **coll, const char *name)
{
	struct binnode	*iq, *sync;
	struct jid	 srv;

	iq = binnode_new("iq");
	jid_set(&srv, "", JID_SERVER_PN, 0);
	binnode_set_attr_jid(iq, "to", &srv);
	binnode_set_attrs(iq, "xmlns", "w:sync:app:state", "type", "set",
	    NULL);
	sync = binnode_add_new(iq, "sync");
	*coll = binnode_add_new(sync, "collection");
	binnode_set_attr(*coll, "name", name);
	return iq;
}

struct binnode *
appstate_patch_iq(const char *name, uint64_t base_version,
    const uint8_t *patch, size_t len)
{
	struct binnode	*iq, *coll;
	char		 v[24];

	if (name == NULL || *name == '\0' || patch == NULL)
		return NULL;
	iq = sync_iq(&coll, name);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)base_version);
	binnode_set_attrs(coll, "version", v, "return_snapshot", "false",
	    NULL);
	binnode_set_bytes(binnode_add_new(coll, "patch"), patch, len);
	return iq;
}

struct binnode *
appstate_fetch_iq(const char *name, uint64_t version)
{
	struct binnode	*iq, *coll;
	char		 v[24];

	if (name == NULL || *name == '\0')
		return NULL;
	iq = sync_iq(&coll, name);
	if (version > 0) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)version);
		binnode_set_attrs(coll, "version", v, "return_snapshot",
		    "false", NULL);
	} else
		binnode_set_attr(coll, "return_snapshot", "true");
	return iq;
}

const struct binnode *
appstate_answer_collection(const struct binnode *answer, const char *name)
{
	const struct binnode	*sync, *c;
	const char		*n;
	size_t			 i;

	if (answer == NULL || name == NULL)
		return NULL;
	sync = binnode_tag_is(answer, "sync") ? answer :
	    binnode_child(answer, "sync");
	if (sync == NULL || sync->type != BINNODE_LIST)
		return NULL;
	for (i = 0; i < sync->nchildren; i++) {
		c = sync->children[i];
		if (binnode_tag_is(c, "collection") &&
		    (n = binnode_attr(c, "name")) != NULL && strcmp(n, name) == 0)
			return c;
	}
	return NULL;
}

int
appstate_apply_answer(struct appstate_state *st,
    const struct binnode *answer, appstate_getkey_cb getkey, void *arg,
    int *more, struct appstate_mutation **muts, size_t *nmuts)
{
	const struct binnode	 *coll, *patches, *pn;
	struct appstate_mutation *got = NULL;
	const char		 *type, *hm;
	size_t			  i, ngot = 0;
	int			  r;

	if (more != NULL)
		*more = 0;
	if (muts != NULL)
		*muts = NULL;
	if (nmuts != NULL)
		*nmuts = 0;
	if (answer == NULL)
		return APPSTATE_EINVAL;
	if ((coll = appstate_answer_collection(answer, st->name)) == NULL)
		return APPSTATE_EINVAL;
	if (((type = binnode_attr(coll, "type")) != NULL &&
	    strcmp(type, "error") == 0) || binnode_child(coll, "error") != NULL)
		return APPSTATE_ESERVER;
	if (more != NULL && (hm = binnode_attr(coll, "has_more_patches")) !=
	    NULL)
		*more = strcmp(hm, "true") == 0;
	if (binnode_child(coll, "snapshot") != NULL)
		return APPSTATE_EEXTERNAL;
	if ((patches = binnode_child(coll, "patches")) == NULL)
		patches = coll;
	r = 0;
	for (i = 0; patches->type == BINNODE_LIST &&
	    i < patches->nchildren; i++) {
		struct appstate_mutation	*pm = NULL;
		size_t				 npm = 0;

		pn = patches->children[i];
		if (!binnode_tag_is(pn, "patch"))
			continue;
		if (pn->type != BINNODE_BYTES && pn->type != BINNODE_STRING) {
			r = APPSTATE_EINVAL;
			break;
		}
		r = appstate_apply_patch(st, pn->data, pn->len, 0, getkey, arg,
		    &pm, &npm);
		if (r == APPSTATE_EVERSION) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		if (ngot + npm > APPSTATE_ENTRIES_MAX) {
			appstate_mutations_free(pm, npm);
			r = APPSTATE_ELIMIT;
			break;
		}
		muts_append(&got, &ngot, pm, npm);
		free(pm);
	}
	if (muts != NULL && nmuts != NULL) {
		*muts = got;
		*nmuts = ngot;
	} else
		appstate_mutations_free(got, ngot);
	return r;
}

/* --- index JSON --- */

char *
appstate_index_json(const char *const *parts, size_t n)
{
	struct buf	 b;
	const char	*s;
	size_t		 i;
	char		*out = NULL;
	int		 r = 0;

	buf_init(&b, APPSTATE_INDEX_MAX + 1);
	r |= buf_putc(&b, '[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			r |= buf_putc(&b, ',');
		r |= buf_putc(&b, '"');
		for (s = parts[i] ? parts[i] : ""; *s != '\0'; s++) {
			unsigned char	c = (unsigned char)*s;

			switch (c) {	/* JSON.stringify's escapes */
			case '"':  r |= buf_puts(&b, "\\\""); break;
			case '\\': r |= buf_puts(&b, "\\\\"); break;
			case '\b': r |= buf_puts(&b, "\\b"); break;
			case '\f': r |= buf_puts(&b, "\\f"); break;
			case '\n': r |= buf_puts(&b, "\\n"); break;
			case '\r': r |= buf_puts(&b, "\\r"); break;
			case '\t': r |= buf_puts(&b, "\\t"); break;
			default:
				if (c < 0x20)
					r |= buf_printf(&b, "\\u%04x", c);
				else
					r |= buf_putc(&b, c);
			}
		}
		r |= buf_putc(&b, '"');
	}
	r |= buf_putc(&b, ']');
	if (r == 0 && b.len <= APPSTATE_INDEX_MAX)
		out = xstrndup((const char *)b.data, b.len);
	buf_free(&b);
	return out;
}

int
appstate_index_parse(const char *json, char ***parts, size_t *n)
{
	struct json_object	*a, *e;
	size_t			 i, len;
	int			 r = APPSTATE_EINVAL;

	*parts = NULL;
	*n = 0;
	if (json == NULL || strlen(json) > APPSTATE_INDEX_MAX ||
	    (a = json_tokener_parse(json)) == NULL)
		return APPSTATE_EINVAL;
	if (!json_object_is_type(a, json_type_array))
		goto out;
	len = json_object_array_length(a);
	*parts = xcalloc(len ? len : 1, sizeof(**parts));
	for (i = 0; i < len; i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string)) {
			appstate_index_free(*parts, i);
			*parts = NULL;
			goto out;
		}
		(*parts)[i] = xstrndup(json_object_get_string(e),
		    (size_t)json_object_get_string_len(e));
	}
	*n = len;
	r = 0;
out:
	json_object_put(a);
	return r;
}

void
appstate_index_free(char **parts, size_t n)
{
	size_t	i;

	if (parts == NULL)
		return;
	for (i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
}

/* --- builders --- */

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fill out from index parts and a value whose timestamp is set here. */
static int
build(struct appstate_mutation *out, const char *const *parts, size_t n,
    Syncd__SyncActionValue *v, int64_t ts_ms, int32_t version)
{
	memset(out, 0, sizeof(*out));
	if ((out->index = appstate_index_json(parts, n)) == NULL)
		return APPSTATE_ELIMIT;
	v->has_timestamp = 1;
	v->timestamp = ts_ms ? ts_ms : now_ms();
	out->op = APPSTATE_SET;
	out->version = version;
	out->value_len = syncd__sync_action_value__get_packed_size(v);
	out->value = xmalloc(out->value_len ? out->value_len : 1);
	syncd__sync_action_value__pack(v, out->value);
	return 0;
}

static int
msg_args_ok(const char *chat, const char *id)
{
	return chat != NULL && *chat != '\0' && id != NULL && *id != '\0';
}

int
appstate_star(const char *chat, const char *id, int from_me,
    const char *participant, int starred, int64_t ts_ms,
    struct appstate_mutation *out)
{
	Syncd__SyncActionValue	v = SYNCD__SYNC_ACTION_VALUE__INIT;
	Syncd__StarAction	s = SYNCD__STAR_ACTION__INIT;
	const char		*parts[5];

	memset(out, 0, sizeof(*out));
	if (!msg_args_ok(chat, id))
		return APPSTATE_EINVAL;
	parts[0] = "star";
	parts[1] = chat;
	parts[2] = id;
	parts[3] = from_me ? "1" : "0";
	parts[4] = participant && *participant ? participant : "0";
	s.has_starred = 1;
	s.starred = starred != 0;
	v.staraction = &s;
	return build(out, parts, 5, &v, ts_ms, 2);
}

int
appstate_delete_for_me(const char *chat, const char *id, int from_me,
    const char *participant, int delete_media, int64_t msg_ts,
    int64_t ts_ms, struct appstate_mutation *out)
{
	Syncd__SyncActionValue		v = SYNCD__SYNC_ACTION_VALUE__INIT;
	Syncd__DeleteMessageForMeAction	d =
	    SYNCD__DELETE_MESSAGE_FOR_ME_ACTION__INIT;
	const char			*parts[5];

	memset(out, 0, sizeof(*out));
	if (!msg_args_ok(chat, id))
		return APPSTATE_EINVAL;
	parts[0] = "deleteMessageForMe";
	parts[1] = chat;
	parts[2] = id;
	parts[3] = from_me ? "1" : "0";
	parts[4] = participant && *participant ? participant : "0";
	d.has_deletemedia = 1;
	d.deletemedia = delete_media != 0;
	d.has_messagetimestamp = 1;
	d.messagetimestamp = msg_ts;
	v.deletemessageformeaction = &d;
	return build(out, parts, 5, &v, ts_ms, 3);
}

int
appstate_mute(const char *chat, int muted, int64_t end_ms, int64_t ts_ms,
    struct appstate_mutation *out)
{
	Syncd__SyncActionValue	v = SYNCD__SYNC_ACTION_VALUE__INIT;
	Syncd__MuteAction	m = SYNCD__MUTE_ACTION__INIT;
	const char		*parts[2];

	memset(out, 0, sizeof(*out));
	if (chat == NULL || *chat == '\0')
		return APPSTATE_EINVAL;
	parts[0] = "mute";
	parts[1] = chat;
	m.has_muted = 1;
	m.muted = muted != 0;
	if (muted) {
		m.has_muteendtimestamp = 1;
		m.muteendtimestamp = end_ms ? end_ms : -1;
	}
	v.muteaction = &m;
	return build(out, parts, 2, &v, ts_ms, 2);
}

int
appstate_pin(const char *chat, int pinned, int64_t ts_ms,
    struct appstate_mutation *out)
{
	Syncd__SyncActionValue	v = SYNCD__SYNC_ACTION_VALUE__INIT;
	Syncd__PinAction	p = SYNCD__PIN_ACTION__INIT;
	const char		*parts[2];

	memset(out, 0, sizeof(*out));
	if (chat == NULL || *chat == '\0')
		return APPSTATE_EINVAL;
	parts[0] = "pin_v1";
	parts[1] = chat;
	p.has_pinned = 1;
	p.pinned = pinned != 0;
	v.pinaction = &p;
	return build(out, parts, 2, &v, ts_ms, 5);
}

static const struct {
	int		 code;
	const char	*msg;
} appstate_errs[] = {
	{ APPSTATE_EINVAL,	"malformed app state data" },
	{ APPSTATE_ELIMIT,	"app state size limit" },
	{ APPSTATE_ENOKEY,	"app state key unknown" },
	{ APPSTATE_EVALUEMAC,	"value MAC mismatch" },
	{ APPSTATE_EINDEXMAC,	"index MAC mismatch" },
	{ APPSTATE_EDECRYPT,	"value does not decrypt" },
	{ APPSTATE_EPATCHMAC,	"patch MAC mismatch" },
	{ APPSTATE_ESNAPSHOTMAC, "snapshot MAC (LTHash) mismatch" },
	{ APPSTATE_EVERSION,	"patch not newer than the state" },
	{ APPSTATE_EEXTERNAL,	"needs an external blob" },
	{ APPSTATE_ESERVER,	"server answered with an error" },
};

const char *
appstate_strerror(int e)
{
	size_t	i;

	for (i = 0; i < sizeof(appstate_errs) / sizeof(appstate_errs[0]); i++)
		if (appstate_errs[i].code == e)
			return appstate_errs[i].msg;
	return e == 0 ? "ok" : "unknown app state error";
}
