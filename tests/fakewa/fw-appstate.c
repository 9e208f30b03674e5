/*
 * fw-appstate.c - fakewa's app state ("syncd", PROTOCOL.md 10.2).
 *
 * The phone side: one app-state sync key per account, derived from the
 * number (keyData = SHA-256("fakewa appstate key " || digits), keyID =
 * SHA-256("fakewa appstate keyid " || digits)[0:6]), shared with each
 * companion as a peer message from device 0: protocolMessage type 6
 * (APP_STATE_SYNC_KEY_SHARE), padded and Signal-encrypted (a pkmsg, fresh
 * session each time) with waproc's own Signal code from the phone's
 * identity to the companion's uploaded bundle (signed prekey), delivered
 * through the offline queue.
 *
 * The server side of <iq xmlns="w:sync:app:state" type="set"><sync>
 * <collection name version [return_snapshot]>[<patch/>]</collection>…
 * </sync></iq>: per account and collection, the patches clients upload,
 * stored with their SyncdPatch.version (field 1, appended), served back
 * FW_AS_FETCH_MAX at a time, and a server_sync notification to the
 * account's other companions.  A patch is only checked to parse as a
 * SyncdPatch: fakewa never decrypts one (the MACs are the clients'
 * business, which is why two independent clients can check each other).
 * Kept in <state-dir>/appstate.json (base64, written atomically).
 *
 * Snapshots (-S or POST /appstate/snapshots): a fetch with
 * return_snapshot="true" of a collection with patches is answered as the
 * real server does for a device syncing from scratch: the phone (which
 * holds the key) decodes every stored patch with waproc's appstate.c,
 * keeps the last SET record of each live index MAC, and sends a
 * SyncdSnapshot{version, records, mac, keyId} as an "app-state" media
 * blob on the media host; the answer carries its ExternalBlobReference in
 * <snapshot>.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "fakewa.h"
#include "log.h"
#include "xmalloc.h"
#include "syncd.pb-c.h"
#include "wa.pb-c.h"
#include "../../waproc/appstate.h"
#include "../../waproc/media-crypto.h"
#include "../../waproc/padding.h"
#include "../../waproc/signal-keys.h"
#include "../../waproc/signal-session.h"

#define AS_KEYID_LEN		6
#define AS_KEY_TS_MS		1700000000000LL	/* fixed key timestamp */
#define AS_COLL_PER_IQ		16		/* <collection>s in one iq */
#define AS_COLL_BYTES_MAX	(64u << 20)	/* stored per collection */
#define AS_ANSWER_BYTES		(8u << 20)	/* patches in one answer */
#define AS_FILE_MAX		(512u << 20)	/* appstate.json */
/*
 * The phone's session to a companion uses its signed prekey only (X3DH
 * without a one-time prekey, a pkmsg without preKeyId: valid for every
 * Signal implementation).  Taking a one-time prekey would lower the
 * "prekeys held" count right after the upload, which tests (and
 * clients) read as "812 held"; set to 1 to take one like a fetch does.
 */
#define AS_USE_ONETIME		0

static const char *const coll_names[FW_AS_NCOLL] = {
	APPSTATE_CRITICAL_BLOCK, APPSTATE_CRITICAL_UNBLOCK_LOW,
	APPSTATE_REGULAR_LOW, APPSTATE_REGULAR_HIGH, APPSTATE_REGULAR
};

static unsigned	as_seq;		/* notification / message ids */

static void	as_save(void);

/* ------------------------------------------------------------- keys */

static void
as_hash(const char *what, const char *phone, uint8_t out[32])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)what, strlen(what));
	crypto_hash_sha256_update(&st, (const uint8_t *)phone, strlen(phone));
	crypto_hash_sha256_final(&st, out);
}

static void
as_key(const char *phone, uint8_t data[32], uint8_t id[AS_KEYID_LEN])
{
	uint8_t h[32];

	as_hash("fakewa appstate key ", phone, data);
	as_hash("fakewa appstate keyid ", phone, h);
	memcpy(id, h, AS_KEYID_LEN);
}

/* The account's raw id as in pair-success: the last 6 digits. */
static uint32_t
raw_id(const char *phone)
{
	size_t n = strlen(phone), i;
	uint32_t v = 0;

	for (i = n > 6 ? n - 6 : 0; i < n; i++)
		v = v * 10 + (uint32_t)(phone[i] - '0');
	return v;
}

/* ---------------------------------------------------------- accounts */

static int
coll_index(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < FW_AS_NCOLL; i++)
		if (strcmp(name, coll_names[i]) == 0)
			return i;
	return -1;
}

static struct fw_asacct *
acct_get(const char *phone, int create)
{
	struct fw_asacct *a;

	for (a = fw.appstate; a != NULL; a = a->next)
		if (strcmp(a->phone, phone) == 0)
			return a;
	if (!create)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	snprintf(a->phone, sizeof(a->phone), "%s", phone);
	a->next = fw.appstate;
	fw.appstate = a;
	return a;
}

static size_t
coll_bytes(const struct fw_ascoll *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n; i++)
		n += c->p[i].len;
	return n;
}

/* Take ownership of data as the collection's next version. */
static void
coll_append(struct fw_ascoll *c, uint8_t *data, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->p = xreallocarray(c->p, c->cap, sizeof(*c->p));
	}
	c->p[c->n].data = data;
	c->p[c->n].len = len;
	c->n++;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/*
 * The patch as the server serves it: the client's bytes with
 * SyncdPatch.version = SyncdVersion{version = ver} appended (field 1;
 * a later embedded message merges over an earlier one).
 */
static uint8_t *
patch_with_version(const uint8_t *p, size_t len, uint64_t ver, size_t *outlen)
{
	uint8_t inner[11], *out;
	size_t ilen, n;

	inner[0] = 0x08;			/* SyncdVersion.version */
	ilen = 1 + put_varint(inner + 1, ver);
	out = xmalloc(len + 2 + ilen);
	memcpy(out, p, len);
	n = len;
	out[n++] = 0x0a;			/* SyncdPatch.version */
	out[n++] = (uint8_t)ilen;
	memcpy(out + n, inner, ilen);
	*outlen = n + ilen;
	return out;
}

/* --------------------------------------------------------- key share */

static void
msg_id(char *out, size_t len)
{
	uint8_t rnd[8];
	char hex[17];
	size_t i;

	randombytes_buf(rnd, sizeof(rnd));
	fw_hex(rnd, sizeof(rnd), hex);
	for (i = 0; hex[i] != '\0'; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	snprintf(out, len, "3EB0%s", hex);
}

/* Packed, padded Message{protocolMessage{type 6, the account's key}}. */
static int
key_share_plain(const char *phone, uint8_t **out, size_t *outlen)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ProtocolMessage pm = WA__PROTOCOL_MESSAGE__INIT;
	Wa__AppStateSyncKeyShare ks = WA__APP_STATE_SYNC_KEY_SHARE__INIT;
	Wa__AppStateSyncKey k = WA__APP_STATE_SYNC_KEY__INIT, *kp = &k;
	Wa__AppStateSyncKeyId kid = WA__APP_STATE_SYNC_KEY_ID__INIT;
	Wa__AppStateSyncKeyData kd = WA__APP_STATE_SYNC_KEY_DATA__INIT;
	Wa__AppStateSyncKeyFingerprint fp =
	    WA__APP_STATE_SYNC_KEY_FINGERPRINT__INIT;
	uint32_t devidx = 0;
	uint8_t keydata[32], keyid[AS_KEYID_LEN], *plain;
	size_t plen;
	int rc;

	as_key(phone, keydata, keyid);
	kid.has_keyid = 1;
	kid.keyid.data = keyid;
	kid.keyid.len = sizeof(keyid);
	fp.has_rawid = 1;
	fp.rawid = raw_id(phone);
	fp.has_currentindex = 1;
	fp.currentindex = 0;
	fp.n_deviceindexes = 1;
	fp.deviceindexes = &devidx;
	kd.has_keydata = 1;
	kd.keydata.data = keydata;
	kd.keydata.len = sizeof(keydata);
	kd.fingerprint = &fp;
	kd.has_timestamp = 1;
	kd.timestamp = AS_KEY_TS_MS;
	k.keyid = &kid;
	k.keydata = &kd;
	ks.n_keys = 1;
	ks.keys = &kp;
	pm.has_type = 1;
	pm.type = WA__PROTOCOL_MESSAGE__TYPE__APP_STATE_SYNC_KEY_SHARE;
	pm.appstatesynckeyshare = &ks;
	m.protocolmessage = &pm;
	plen = wa__message__get_packed_size(&m);
	plain = xmalloc(plen);
	wa__message__pack(&m, plain);
	rc = padding_add(plain, plen, 0, out, outlen);
	signal_free_secret(plain, plen);
	sodium_memzero(keydata, sizeof(keydata));
	return rc;
}

int
fw_appstate_share(struct fw_device *d, char *id_out, size_t idlen,
    char *err, size_t errlen)
{
	struct signal_keypair ident;
	struct signal_bundle b;
	struct binnode *n, *enc;
	struct jid j;
	uint8_t *plain = NULL, *st = NULL, *st2 = NULL, *ct = NULL;
	size_t plen = 0, stlen = 0, st2len = 0, ctlen = 0;
	char id[32], t[24];
	int type = 0, rc, ret = -1;

	if (d == NULL) {
		snprintf(err, errlen, "no such device");
		return -1;
	}
	if (fw_device_take_bundle(d, &b, AS_USE_ONETIME) != 0) {
		snprintf(err, errlen, "no prekey bundle from %s yet", d->jid);
		return -1;
	}
	if (b.has_prekey)
		fw_state_save();	/* a one-time prekey is used up */
	if (key_share_plain(d->phone, &plain, &plen) != 0) {
		snprintf(err, errlen, "cannot build the key share");
		return -1;
	}
	fw_phone_identity(d->phone, &ident);
	rc = signal_session_initiate(&ident, fw_phone_regid(d->phone), &b,
	    NULL, 0, &st, &stlen);
	if (rc == 0)
		rc = signal_session_encrypt(st, stlen, plain, plen, &type, &ct,
		    &ctlen, &st2, &st2len);
	signal_keypair_clear(&ident);
	if (rc != 0 || type != SIGNAL_MSG_TYPE_PKMSG) {
		snprintf(err, errlen, "encrypting to %s: %s", d->jid,
		    rc != 0 ? signal_strerror(rc) : "not a pkmsg");
		goto out;
	}
	msg_id(id, sizeof(id));
	n = binnode_new("message");
	jid_set(&j, d->phone, JID_SERVER_PN, 0);
	binnode_set_attr_jid(n, "from", &j);
	jid_set(&j, d->phone, JID_SERVER_PN, (uint16_t)d->devid);
	binnode_set_attr_jid(n, "to", &j);
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	binnode_set_attrs(n, "type", "text", "category", "peer", "id", id,
	    "t", t, NULL);
	enc = binnode_add_new(n, "enc");
	binnode_set_attrs(enc, "v", "2", "type", "pkmsg", NULL);
	binnode_set_bytes(enc, ct, ctlen);
	fw_deliver(d, id, n);
	binnode_free(n);
	d->as_key_shared = 1;
	fw_state_save();
	log_info("appstate: phone %s shared its key with %s (%s, %s)",
	    d->phone, d->jid, id, d->conn != NULL ? "sent" : "queued");
	if (id_out != NULL)
		snprintf(id_out, idlen, "%s", id);
	ret = 0;
out:
	signal_free_secret(plain, plen);
	signal_free_secret(st, stlen);
	signal_free_secret(st2, st2len);
	free(ct);
	return ret;
}

void
fw_appstate_autoshare(struct fw_device *d)
{
	char err[160];

	if (fw.no_key_share || d == NULL || d->as_key_shared || !d->has_skey)
		return;
	if (fw_appstate_share(d, NULL, 0, err, sizeof(err)) != 0)
		log_warnx("appstate: key share: %s", err);
}

/* ---------------------------------------------------------- the iq */

static struct binnode *
coll_node(const char *name)
{
	struct binnode *n = binnode_new("collection");

	if (name != NULL)
		binnode_set_attr(n, "name", name);
	return n;
}

static struct binnode *
coll_error(const char *name, const char *code, const char *text)
{
	struct binnode *n = coll_node(name), *e;

	binnode_set_attr(n, "type", "error");
	e = binnode_add_new(n, "error");
	binnode_set_attrs(e, "code", code, "text", text, NULL);
	return n;
}

static int
parse_version(const char *s, uint64_t *v)
{
	unsigned long long x;
	char *end;

	*v = 0;
	if (s == NULL)
		return 0;
	if (*s < '0' || *s > '9' || strlen(s) > 20)
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*v = x;
	return 0;
}

/* server_sync to every other companion of the account (queued). */
static void
notify_others(const struct fw_device *from, const char *name, uint64_t ver)
{
	struct fw_device *d;
	struct binnode *n, *c;
	struct jid j;
	char id[64], prefix[48], v[24], t[24];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)ver);
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	snprintf(prefix, sizeof(prefix), "ss-%s-", name);
	for (d = fw.devices; d != NULL; d = d->next) {
		if (d == from || strcmp(d->phone, from->phone) != 0)
			continue;
		/* only the newest version matters to a device */
		fw_dequeue_prefix(d, prefix);
		snprintf(id, sizeof(id), "%s%u.%08x", prefix, ++as_seq,
		    randombytes_random());	/* unique across restarts */
		n = binnode_new("notification");
		jid_set(&j, "", JID_SERVER_PN, 0);
		binnode_set_attr_jid(n, "from", &j);
		binnode_set_attrs(n, "type", "server_sync", "id", id, "t", t,
		    NULL);
		c = binnode_add_new(n, "collection");
		binnode_set_attrs(c, "name", name, "version", v, NULL);
		fw_deliver(d, id, n);
		binnode_free(n);
	}
}

static struct binnode *
coll_patch(struct fw_device *dev, struct fw_ascoll *c, const char *name,
    uint64_t base, const struct binnode *p, int *changed)
{
	Syncd__SyncdPatch *sp;
	struct binnode *r;
	uint8_t *data;
	size_t len;
	char v[24];

	if ((p->type != BINNODE_BYTES && p->type != BINNODE_STRING) ||
	    p->len == 0)
		return coll_error(name, "400", "bad-request");
	if (p->len > FW_AS_PATCH_MAX) {
		log_warnx("appstate: %s %s: patch of %zu bytes refused",
		    dev->jid, name, p->len);
		return coll_error(name, "413", "too-large");
	}
	if ((sp = syncd__syncd_patch__unpack(NULL, p->len, p->data)) ==
	    NULL) {
		log_warnx("appstate: %s %s: patch is not a SyncdPatch",
		    dev->jid, name);
		return coll_error(name, "400", "bad-request");
	}
	syncd__syncd_patch__free_unpacked(sp, NULL);
	if (base != c->n) {
		log_info("appstate: %s %s: patch on v%llu, collection is at "
		    "v%zu: conflict", dev->jid, name,
		    (unsigned long long)base, c->n);
		return coll_error(name, "409", "conflict");
	}
	if (c->n >= FW_AS_PATCHES_MAX ||
	    coll_bytes(c) + p->len > AS_COLL_BYTES_MAX) {
		log_warnx("appstate: %s %s: collection full", dev->jid, name);
		return coll_error(name, "507", "insufficient-storage");
	}
	data = patch_with_version(p->data, p->len, base + 1, &len);
	coll_append(c, data, len);
	*changed = 1;
	log_info("appstate: %s %s: patch stored as v%zu (%zu bytes)",
	    dev->jid, name, c->n, p->len);
	r = coll_node(name);
	snprintf(v, sizeof(v), "%zu", c->n);
	binnode_set_attr(r, "version", v);
	notify_others(dev, name, c->n);
	return r;
}

static struct binnode *
coll_fetch(struct fw_device *dev, struct fw_ascoll *c, const char *name,
    uint64_t from)
{
	struct binnode *r, *ps = NULL;
	size_t k, end, bytes = 0;
	char v[24];

	if (from > c->n) {
		log_info("appstate: %s %s: asks after v%llu, collection is at "
		    "v%zu", dev->jid, name, (unsigned long long)from, c->n);
		return coll_error(name, "409", "conflict");
	}
	r = coll_node(name);
	for (k = (size_t)from, end = (size_t)from; k < c->n &&
	    k < (size_t)from + FW_AS_FETCH_MAX; k++) {
		if (k > from && bytes + c->p[k].len > AS_ANSWER_BYTES)
			break;
		if (ps == NULL)
			ps = binnode_add_new(r, "patches");
		binnode_set_bytes(binnode_add_new(ps, "patch"), c->p[k].data,
		    c->p[k].len);
		bytes += c->p[k].len;
		end = k + 1;
	}
	snprintf(v, sizeof(v), "%zu", end > from ? end : c->n);
	binnode_set_attrs(r, "version", v, "has_more_patches",
	    end < c->n ? "true" : "false", NULL);
	log_info("appstate: %s %s: v%llu..v%zu of v%zu served", dev->jid, name,
	    (unsigned long long)from, end, c->n);
	return r;
}

/* --------------------------------------------------------- snapshots */

/* The account's key for waproc's decoder (arg: the phone number). */
static int
as_getkey(void *arg, const uint8_t *id, size_t idlen,
    struct appstate_keys *out)
{
	uint8_t kd[32], kid[AS_KEYID_LEN];
	int rc = APPSTATE_ENOKEY;

	as_key(arg, kd, kid);
	if (idlen == AS_KEYID_LEN && memcmp(id, kid, AS_KEYID_LEN) == 0) {
		appstate_expand_keys(kd, sizeof(kd), out);
		rc = 0;
	}
	sodium_memzero(kd, sizeof(kd));
	return rc;
}

/* The live records: index MAC -> the last SET's record (in a patch). */
struct snap_live {
	Syncd__SyncdRecord	**rec;
	size_t			  n, cap;
};

static size_t
live_find(const struct snap_live *l, const uint8_t *imac)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (memcmp(l->rec[i]->index->blob.data, imac,
		    APPSTATE_MAC_LEN) == 0)
			return i;
	return l->n;
}

/* One verified patch's mutations, in order, on the live set. */
static int
live_apply(struct snap_live *l, const Syncd__SyncdPatch *sp)
{
	const Syncd__SyncdMutation *m;
	Syncd__SyncdRecord *r;
	size_t i, k;

	for (i = 0; i < sp->n_mutations; i++) {
		m = sp->mutations[i];
		r = m->record;
		if (r == NULL || r->index == NULL || !r->index->has_blob ||
		    r->index->blob.len != APPSTATE_MAC_LEN)
			return -1;
		k = live_find(l, r->index->blob.data);
		if (m->has_operation &&
		    m->operation == SYNCD__SYNCD_MUTATION__SYNCD_OPERATION__REMOVE) {
			if (k < l->n) {
				memmove(l->rec + k, l->rec + k + 1,
				    (l->n - k - 1) * sizeof(*l->rec));
				l->n--;
			}
			continue;
		}
		if (k < l->n) {
			l->rec[k] = r;
			continue;
		}
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 64;
			l->rec = xreallocarray(l->rec, l->cap, sizeof(*l->rec));
		}
		l->rec[l->n++] = r;
	}
	return 0;
}

/*
 * The packed SyncdSnapshot of collection c at its current version, or
 * NULL when a stored patch does not verify (they are the clients'; junk
 * patches are accepted, see coll_patch).  corrupt: flip a byte of its
 * MAC (POST /appstate/snapshots {"corrupt_next": true}).
 */
static uint8_t *
snap_plain(const char *phone, const char *name, const struct fw_ascoll *c,
    int corrupt, size_t *outlen, size_t *nrec)
{
	Syncd__SyncdSnapshot ss = SYNCD__SYNCD_SNAPSHOT__INIT;
	Syncd__SyncdVersion sv = SYNCD__SYNCD_VERSION__INIT;
	Syncd__KeyId ki = SYNCD__KEY_ID__INIT;
	Syncd__SyncdPatch **sp;
	struct appstate_state st;
	struct appstate_keys keys;
	struct snap_live live = { NULL, 0, 0 };
	uint8_t kd[32], kid[AS_KEYID_LEN], mac[APPSTATE_MAC_LEN], *out = NULL;
	size_t k;
	int rc = 0;

	sp = xcalloc(c->n, sizeof(*sp));
	appstate_state_init(&st, name);
	for (k = 0; k < c->n && rc == 0; k++) {
		rc = appstate_apply_patch(&st, c->p[k].data, c->p[k].len, 0,
		    as_getkey, (void *)phone, NULL, NULL);
		if (rc != 0) {
			log_warnx("appstate: %s %s: patch v%zu does not verify "
			    "(%s): no snapshot", phone, name, k + 1,
			    appstate_strerror(rc));
			break;
		}
		if ((sp[k] = syncd__syncd_patch__unpack(NULL, c->p[k].len,
		    c->p[k].data)) == NULL || live_apply(&live, sp[k]) != 0) {
			log_warnx("appstate: %s %s: patch v%zu: bad records",
			    phone, name, k + 1);
			rc = -1;
		}
	}
	if (rc == 0 && (live.n != st.nentries || st.version != c->n)) {
		log_warnx("appstate: %s %s: %zu records for %zu entries at "
		    "v%llu: no snapshot", phone, name, live.n, st.nentries,
		    (unsigned long long)st.version);
		rc = -1;
	}
	if (rc == 0) {
		as_key(phone, kd, kid);
		appstate_expand_keys(kd, sizeof(kd), &keys);
		sodium_memzero(kd, sizeof(kd));
		appstate_snapshot_mac(&st, &keys, mac);
		sodium_memzero(&keys, sizeof(keys));
		if (corrupt)
			mac[APPSTATE_MAC_LEN / 2] ^= 0x5a;
		sv.has_version = 1;
		sv.version = st.version;
		ki.has_id = 1;
		ki.id.data = kid;
		ki.id.len = sizeof(kid);
		ss.version = &sv;
		ss.n_records = live.n;
		ss.records = live.rec;
		ss.has_mac = 1;
		ss.mac.data = mac;
		ss.mac.len = sizeof(mac);
		ss.keyid = &ki;
		*outlen = syncd__syncd_snapshot__get_packed_size(&ss);
		out = xmalloc(*outlen ? *outlen : 1);
		syncd__syncd_snapshot__pack(&ss, out);
		*nrec = live.n;
	}
	for (k = 0; k < c->n; k++)
		if (sp[k] != NULL)
			syncd__syncd_patch__free_unpacked(sp[k], NULL);
	free(sp);
	free(live.rec);
	appstate_state_free(&st);
	return out;
}

/*
 * Encrypt the snapshot as media kind "app-state" with a fresh media key,
 * store it on the media host (<state-dir>/media/md-app-state-<token>,
 * GET /mms-dl/md-app-state/<token>) and return the packed
 * ExternalBlobReference, or NULL.
 */
static uint8_t *
snap_upload(const uint8_t *plain, size_t plen, size_t *reflen)
{
	Syncd__ExternalBlobReference ref = SYNCD__EXTERNAL_BLOB_REFERENCE__INIT;
	uint8_t mkey[MEDIA_KEY_LEN], fsha[MEDIA_SHA256_LEN],
	    fencsha[MEDIA_SHA256_LEN], tok[16], *body = NULL, *out = NULL;
	char hex[33], dir[PATH_MAX + 16], file[PATH_MAX + 64], dp[80],
	    handle[48];
	size_t blen = 0;
	FILE *f;

	randombytes_buf(mkey, sizeof(mkey));
	randombytes_buf(tok, sizeof(tok));
	fw_hex(tok, sizeof(tok), hex);
	if (media_crypto_encrypt(mkey, media_crypto_info("app-state"), plain,
	    plen, &body, &blen, fsha, fencsha) != 0) {
		log_warnx("appstate: snapshot: cannot encrypt");
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/media", fw.state_dir);
	(void)mkdir(dir, 0700);
	snprintf(file, sizeof(file), "%s/md-app-state-%s", dir, hex);
	if ((f = fopen(file, "wb")) == NULL) {
		log_warn("%s", file);
		goto out;
	}
	if (fwrite(body, 1, blen, f) != blen) {
		log_warn("%s", file);
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0) {
		log_warn("%s", file);
		goto out;
	}
	/* like an upload's, the direct path carries a query */
	snprintf(dp, sizeof(dp), "/mms-dl/md-app-state/%s?fakewa=1", hex);
	snprintf(handle, sizeof(handle), "fakewa-snapshot-%.16s", hex);
	ref.has_mediakey = 1;
	ref.mediakey.data = mkey;
	ref.mediakey.len = sizeof(mkey);
	ref.directpath = dp;
	ref.handle = handle;
	ref.has_filesizebytes = 1;
	ref.filesizebytes = plen;
	ref.has_filesha256 = 1;
	ref.filesha256.data = fsha;
	ref.filesha256.len = sizeof(fsha);
	ref.has_fileencsha256 = 1;
	ref.fileencsha256.data = fencsha;
	ref.fileencsha256.len = sizeof(fencsha);
	*reflen = syncd__external_blob_reference__get_packed_size(&ref);
	out = xmalloc(*reflen);
	syncd__external_blob_reference__pack(&ref, out);
	log_info("appstate: snapshot blob %s (%zu bytes, %zu plain)", dp, blen,
	    plen);
out:
	sodium_memzero(mkey, sizeof(mkey));
	free(body);
	return out;
}

/*
 * <collection name version="<current>" has_more_patches="false">
 * <snapshot>ExternalBlobReference</snapshot></collection>, or NULL when
 * no snapshot can be made (the caller serves patches).  The blob is
 * cached per collection and version; a corrupted one is not.
 */
static struct binnode *
coll_snapshot(struct fw_device *dev, struct fw_ascoll *c, const char *name)
{
	struct binnode *r;
	uint8_t *plain, *ref;
	size_t plen = 0, reflen = 0, nrec = 0;
	char v[24];
	int corrupt = fw.as_snap_corrupt, cached;

	cached = !corrupt && c->snap_ref != NULL && c->snap_ver == c->n;
	if (!cached) {
		if ((plain = snap_plain(dev->phone, name, c, corrupt, &plen,
		    &nrec)) == NULL)
			return NULL;
		ref = snap_upload(plain, plen, &reflen);
		free(plain);
		if (ref == NULL)
			return NULL;
		fw.as_snap_built++;
		if (corrupt) {
			fw.as_snap_corrupt = 0;
			log_info("appstate: %s %s: snapshot v%zu made with a "
			    "corrupted MAC (as asked)", dev->jid, name, c->n);
		} else {
			free(c->snap_ref);
			c->snap_ref = ref;
			c->snap_reflen = reflen;
			c->snap_ver = c->n;
		}
	} else {
		ref = c->snap_ref;
		reflen = c->snap_reflen;
	}
	r = coll_node(name);
	snprintf(v, sizeof(v), "%zu", c->n);
	binnode_set_attrs(r, "version", v, "has_more_patches", "false", NULL);
	binnode_set_bytes(binnode_add_new(r, "snapshot"), ref, reflen);
	if (ref != c->snap_ref)
		free(ref);
	fw.as_snap_served++;
	log_info("appstate: %s %s: snapshot v%zu served (%s%s)", dev->jid,
	    name, c->n, cached ? "cached" : "built", corrupt ? ", corrupted" :
	    "");
	if (!cached)
		log_info("appstate: %s %s: snapshot v%zu holds %zu records",
		    dev->jid, name, c->n, nrec);
	return r;
}

struct json_object *
fw_appstate_snapshots_json(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "enabled",
	    json_object_new_boolean(fw.as_snapshots));
	json_object_object_add(o, "corrupt_next",
	    json_object_new_boolean(fw.as_snap_corrupt));
	json_object_object_add(o, "built",
	    json_object_new_int64(fw.as_snap_built));
	json_object_object_add(o, "served",
	    json_object_new_int64(fw.as_snap_served));
	json_object_object_add(o, "downloads",
	    json_object_new_int64(fw.as_snap_downloads));
	return o;
}

static struct binnode *
coll_answer(struct fw_device *dev, const struct binnode *col, int *changed)
{
	const char *name = binnode_attr(col, "name");
	const char *rs = binnode_attr(col, "return_snapshot");
	struct binnode *patch = NULL, *r;
	struct fw_asacct *a;
	uint64_t v;
	size_t i, npatch = 0;
	int ci;

	if ((ci = coll_index(name)) < 0) {
		log_warnx("appstate: %s: unknown collection", dev->jid);
		return coll_error(name != NULL && strlen(name) <
		    APPSTATE_NAME_MAX ? name : NULL, "400", "bad-request");
	}
	if (parse_version(binnode_attr(col, "version"), &v) != 0)
		return coll_error(name, "400", "bad-request");
	for (i = 0; col->type == BINNODE_LIST && i < col->nchildren; i++)
		if (binnode_tag_is(col->children[i], "patch")) {
			patch = col->children[i];
			npatch++;
		}
	if (npatch > 1)
		return coll_error(name, "400", "bad-request");
	a = acct_get(dev->phone, 1);
	if (patch != NULL)
		return coll_patch(dev, &a->coll[ci], name, v, patch, changed);
	if (rs != NULL && strcmp(rs, "true") == 0) {
		v = 0;
		if (fw.as_snapshots && a->coll[ci].n > 0 &&
		    (r = coll_snapshot(dev, &a->coll[ci], name)) != NULL)
			return r;
	}
	return coll_fetch(dev, &a->coll[ci], name, v);
}

struct binnode *
fw_appstate_answer(struct fw_device *dev, const struct binnode *iq)
{
	const char *type = binnode_attr(iq, "type");
	struct binnode *sync = binnode_child(iq, "sync"), *r, *ch;
	size_t i, ncoll = 0;
	int changed = 0;

	if (sync != NULL && sync->type == BINNODE_LIST)
		ncoll = binnode_count(sync, "collection");
	if (dev == NULL || type == NULL || strcmp(type, "set") != 0 ||
	    ncoll == 0 || ncoll > AS_COLL_PER_IQ)
		return NULL;
	r = binnode_new("sync");
	for (i = 0; i < sync->nchildren; i++) {
		if (!binnode_tag_is(sync->children[i], "collection"))
			continue;
		ch = coll_answer(dev, sync->children[i], &changed);
		binnode_add_child(r, &ch);
	}
	if (changed)
		as_save();
	return r;
}

void
fw_appstate_iq(struct fw_conn *c, const struct binnode *iq)
{
	struct binnode *r;

	if (c->dev == NULL) {
		fw_iq_error(c, iq, "401", "not-authorized");
		return;
	}
	if ((r = fw_appstate_answer(c->dev, iq)) == NULL) {
		log_warnx("conn %u: bad w:sync:app:state iq", c->id);
		fw_iq_error(c, iq, "400", "bad-request");
		return;
	}
	fw_iq_reply(c, iq, r);
}

void
fw_appstate_free(void)
{
	struct fw_asacct *a;
	size_t i;
	int k;

	while ((a = fw.appstate) != NULL) {
		fw.appstate = a->next;
		for (k = 0; k < FW_AS_NCOLL; k++) {
			for (i = 0; i < a->coll[k].n; i++)
				free(a->coll[k].p[i].data);
			free(a->coll[k].p);
			free(a->coll[k].snap_ref);
		}
		free(a);
	}
}

/* ------------------------------------------------------- persistence */

static struct json_object *
b64_string(const uint8_t *p, size_t len)
{
	struct json_object *s;
	size_t n = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *b = xmalloc(n);

	sodium_bin2base64(b, n, p, len, sodium_base64_VARIANT_ORIGINAL);
	s = json_object_new_string(b);
	free(b);
	return s;
}

/* xmalloc'd bytes of a base64 string no longer than a stored patch. */
static uint8_t *
b64_bytes(const char *s, size_t *len)
{
	size_t n = strlen(s), max = FW_AS_PATCH_MAX + 16;
	uint8_t *out;

	if (n == 0 || n > (max / 3 + 1) * 4)
		return NULL;
	out = xmalloc(n);
	if (sodium_base642bin(out, n, s, n, NULL, len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || *len == 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void
as_save(void)
{
	struct json_object *root = json_object_new_object(), *arr, *o, *cs, *l;
	struct fw_asacct *a;
	char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
	const char *s;
	size_t i;
	int k;
	FILE *f;

	arr = json_object_new_array();
	for (a = fw.appstate; a != NULL; a = a->next) {
		o = json_object_new_object();
		json_object_object_add(o, "phone",
		    json_object_new_string(a->phone));
		cs = json_object_new_object();
		for (k = 0; k < FW_AS_NCOLL; k++) {
			if (a->coll[k].n == 0)
				continue;
			l = json_object_new_array();
			for (i = 0; i < a->coll[k].n; i++)
				json_object_array_add(l,
				    b64_string(a->coll[k].p[i].data,
				    a->coll[k].p[i].len));
			json_object_object_add(cs, coll_names[k], l);
		}
		json_object_object_add(o, "collections", cs);
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "accounts", arr);
	snprintf(path, sizeof(path), "%s/appstate.json", fw.state_dir);
	snprintf(tmp, sizeof(tmp), "%s/appstate.json.tmp", fw.state_dir);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if ((f = fopen(tmp, "w")) == NULL)
		log_warn("%s", tmp);
	else if (fputs(s, f) == EOF || fclose(f) != 0)
		log_warn("%s", tmp);
	else if (rename(tmp, path) != 0)
		log_warn("rename %s", path);
	json_object_put(root);
}

static int
load_account(struct json_object *o)
{
	struct json_object *v, *cs, *l, *e;
	struct fw_asacct *a;
	const char *phone;
	uint8_t *data;
	size_t i, len;
	int k;

	if (!json_object_object_get_ex(o, "phone", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !fw_phone_valid(phone = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "collections", &cs) ||
	    !json_object_is_type(cs, json_type_object))
		return -1;
	a = acct_get(phone, 1);
	for (k = 0; k < FW_AS_NCOLL; k++) {
		if (!json_object_object_get_ex(cs, coll_names[k], &l))
			continue;
		if (!json_object_is_type(l, json_type_array) ||
		    json_object_array_length(l) > FW_AS_PATCHES_MAX)
			return -1;
		for (i = 0; i < json_object_array_length(l); i++) {
			e = json_object_array_get_idx(l, i);
			if (!json_object_is_type(e, json_type_string) ||
			    (data = b64_bytes(json_object_get_string(e),
			    &len)) == NULL)
				return -1;
			coll_append(&a->coll[k], data, len);
		}
	}
	return 0;
}

int
fw_appstate_load(void)
{
	struct json_object *root, *arr;
	char path[PATH_MAX + 16];
	size_t i;
	FILE *f;
	long sz;

	snprintf(path, sizeof(path), "%s/appstate.json", fw.state_dir);
	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 0 : -1;
	sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
	fclose(f);
	if (sz < 0 || (unsigned long)sz > AS_FILE_MAX) {
		log_warnx("%s: too large", path);
		return -1;
	}
	if ((root = json_object_from_file(path)) == NULL) {
		log_warnx("%s: not JSON", path);
		return -1;
	}
	if (!json_object_object_get_ex(root, "accounts", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		goto bad;
	for (i = 0; i < json_object_array_length(arr); i++)
		if (load_account(json_object_array_get_idx(arr, i)) != 0)
			goto bad;
	json_object_put(root);
	return 0;
bad:
	log_warnx("%s: bad account entry", path);
	json_object_put(root);
	return -1;
}

/* ------------------------------------------------------- control API */

struct json_object *
fw_appstate_json(const char *phone, char *err, size_t errlen)
{
	struct json_object *o, *cs, *c, *sh;
	struct fw_asacct *a;
	struct fw_device *d;
	uint8_t kd[32], kid[AS_KEYID_LEN];
	char hex[65];
	int k;

	if (phone == NULL || !fw_phone_valid(phone)) {
		snprintf(err, errlen, "phone required");
		return NULL;
	}
	a = acct_get(phone, 0);
	as_key(phone, kd, kid);
	o = json_object_new_object();
	fw_hex(kid, sizeof(kid), hex);
	json_object_object_add(o, "key_id", json_object_new_string(hex));
	fw_hex(kd, sizeof(kd), hex);
	json_object_object_add(o, "key_data", json_object_new_string(hex));
	sodium_memzero(kd, sizeof(kd));
	cs = json_object_new_object();
	for (k = 0; k < FW_AS_NCOLL; k++) {
		c = json_object_new_object();
		json_object_object_add(c, "version", json_object_new_int64(
		    a != NULL ? (int64_t)a->coll[k].n : 0));
		json_object_object_add(cs, coll_names[k], c);
	}
	json_object_object_add(o, "collections", cs);
	sh = json_object_new_array();
	for (d = fw.devices; d != NULL; d = d->next)
		if (strcmp(d->phone, phone) == 0 && d->as_key_shared)
			json_object_array_add(sh,
			    json_object_new_string(d->jid));
	json_object_object_add(o, "key_shared", sh);
	return o;
}

struct json_object *
fw_appstate_patches_json(const char *phone, const char *name, uint64_t from,
    char *err, size_t errlen)
{
	struct json_object *o, *l;
	struct fw_asacct *a;
	size_t i, n;
	int ci;

	if (phone == NULL || !fw_phone_valid(phone) ||
	    (ci = coll_index(name)) < 0) {
		snprintf(err, errlen, "phone and a collection name required");
		return NULL;
	}
	a = acct_get(phone, 0);
	n = a != NULL ? a->coll[ci].n : 0;
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "version", json_object_new_int64((int64_t)n));
	l = json_object_new_array();
	for (i = (size_t)(from < n ? from : n); i < n; i++)
		json_object_array_add(l, b64_string(a->coll[ci].p[i].data,
		    a->coll[ci].p[i].len));
	json_object_object_add(o, "patches", l);
	return o;
}
