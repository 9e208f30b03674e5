/*
 * test_fakewa_appstate.c - tests/fakewa/fw-appstate.c in-process, with
 * waproc's own app-state and Signal code on the client side, so the wire
 * between fakewa and the gateway is checked without a socket:
 *   key share: the queued <message category="peer"> from the phone
 *     decrypts (signal_session_decrypt_pkmsg, padding_remove) to
 *     protocolMessage type 6 carrying the derived key; once per device,
 *     -K, no bundle;
 *   patches: waproc's appstate_build_patch / appstate_patch_iq are stored
 *     as v1, v2 (server_sync queued for the other companion only), a
 *     stale base gets 409 (appstate_apply_answer: APPSTATE_ESERVER), a
 *     fetch answer applies with every MAC checked (appstate_apply_answer),
 *     pages of FW_AS_FETCH_MAX, malformed iqs;
 *   snapshots (-S): a fetch from scratch of regular_low (pin, star,
 *     unstar over it, a REMOVE of the pin) gets <snapshot> with an
 *     ExternalBlobReference; the blob on the media host decrypts as
 *     "app-state" media (media_crypto_decrypt with both hashes) and
 *     verifies with appstate_apply_snapshot to the uploader's LTHash and
 *     version, live records only; cached per version; corrupt_next gives
 *     one APPSTATE_ESNAPSHOTMAC then the good one again; a new patch
 *     gives a new snapshot that a patch-following client agrees with;
 *     an empty collection and unverifiable (junk) patches still answer
 *     with patches;
 *   appstate.json: free + load gives the same patches back.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "t.h"
#include "fakewa.h"
#include "log.h"
#include "wa.pb-c.h"
#include "syncd.pb-c.h"
#include "../../waproc/appstate.h"
#include "../../waproc/media-crypto.h"
#include "../../waproc/padding.h"
#include "../../waproc/signal-keys.h"
#include "../../waproc/signal-session.h"

struct fw fw;		/* fakewa.c's, which is not in the library */

static const char *PHONE = "15550008888";
static const char *CHAT = "15550001111@s.whatsapp.net";

struct companion {
	struct fw_device		*d;
	struct signal_keypair		 ident;
	struct signal_signed_prekey	 spk;
};

static struct companion c1, c2;

static void
derive(const char *what, uint8_t out[32])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)what, strlen(what));
	crypto_hash_sha256_update(&st, (const uint8_t *)PHONE, strlen(PHONE));
	crypto_hash_sha256_final(&st, out);
}

/* The getter for waproc's decoder: fakewa's derived key. */
static int
getkey(void *arg, const uint8_t *id, size_t len, struct appstate_keys *out)
{
	uint8_t kd[32], kid[32];

	derive("fakewa appstate keyid ", kid);
	if (len != 6 || memcmp(id, kid, 6) != 0)
		return APPSTATE_ENOKEY;
	derive("fakewa appstate key ", kd);
	appstate_expand_keys(kd, sizeof(kd), out);
	return 0;
}

static void
companion_add(struct companion *c, uint32_t devid)
{
	c->d = fw_device_add(PHONE, devid);
	signal_keypair_generate(&c->ident);
	signal_signed_prekey_generate(&c->spk, &c->ident, 7);
	memcpy(c->d->identity_pub, c->ident.pub, 32);
	c->d->regid = 1000 + devid;
	c->d->has_skey = 1;
	c->d->skey_id = c->spk.id;
	memcpy(c->d->skey_pub, c->spk.kp.pub, 32);
	memcpy(c->d->skey_sig, c->spk.sig, 64);
}

static size_t
queued(const struct fw_device *d, const char *prefix)
{
	struct fw_qmsg *q;
	size_t n = 0;

	for (q = fw.queue; q != NULL; q = q->next)
		if (strcmp(q->to, d->jid) == 0 &&
		    strncmp(q->id, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

static struct fw_qmsg *
queued_id(const struct fw_device *d, const char *id)
{
	struct fw_qmsg *q;

	for (q = fw.queue; q != NULL; q = q->next)
		if (strcmp(q->to, d->jid) == 0 && strcmp(q->id, id) == 0)
			return q;
	return NULL;
}

static void
queue_clear(void)
{
	struct fw_qmsg *q;

	while ((q = fw.queue) != NULL) {
		fw.queue = q->next;
		free(q->data);
		free(q);
	}
}

static void
test_key_share(void)
{
	struct binnode *n = NULL, *enc;
	struct fw_qmsg *q;
	struct signal_pkmsg_info pi;
	struct signal_keypair phone;
	Wa__Message *m = NULL;
	Wa__AppStateSyncKey *k;
	uint8_t *plain = NULL, *st = NULL, kd[32], kid[32];
	size_t plen = 0, stlen = 0, ulen;
	char id[32], err[160];
	int used = -1;

	T_EQ_INT(fw_appstate_share(c1.d, id, sizeof(id), err, sizeof(err)),
	    0, "share");
	T_OK(c1.d->as_key_shared, "remembered");
	T_OK(strncmp(id, "3EB0", 4) == 0 && strlen(id) == 20, "id %s", id);
	T_OK((q = queued_id(c1.d, id)) != NULL, "queued for the companion");
	if (q == NULL || binnode_decode(q->data, q->len, &n) != 0)
		return;
	T_EQ_STR(binnode_attr(n, "from"), "15550008888@s.whatsapp.net", "from");
	T_EQ_STR(binnode_attr(n, "to"), c1.d->jid, "to");
	T_EQ_STR(binnode_attr(n, "category"), "peer", "category");
	T_EQ_STR(binnode_attr(n, "type"), "text", "type");
	enc = binnode_child(n, "enc");
	T_OK(enc != NULL && enc->type == BINNODE_BYTES, "<enc>");
	if (enc == NULL || enc->type != BINNODE_BYTES)
		goto out;
	T_EQ_STR(binnode_attr(enc, "type"), "pkmsg", "pkmsg");
	T_EQ_STR(binnode_attr(enc, "v"), "2", "v=2");
	T_EQ_INT(signal_pkmsg_parse(enc->data, enc->len, &pi), 0, "parse");
	fw_phone_identity(PHONE, &phone);
	T_EQ_MEM(pi.identity_pub, 32, phone.pub, 32, "from the phone's identity");
	signal_keypair_clear(&phone);
	T_EQ_INT(pi.registration_id, fw_phone_regid(PHONE), "phone regid");
	T_EQ_INT(pi.has_prekey_id, 0, "signed prekey only");
	T_EQ_INT(signal_session_decrypt_pkmsg(&c1.ident, c1.d->regid,
	    &c1.spk.kp, NULL, NULL, 0, enc->data, enc->len, &plain, &plen,
	    &st, &stlen, &used), 0, "decrypts");
	if (plain == NULL)
		goto out;
	T_EQ_INT(padding_remove(plain, plen, &ulen), 0, "padded");
	m = wa__message__unpack(NULL, ulen, plain);
	T_OK(m != NULL && m->protocolmessage != NULL &&
	    m->protocolmessage->has_type && m->protocolmessage->type ==
	    WA__PROTOCOL_MESSAGE__TYPE__APP_STATE_SYNC_KEY_SHARE &&
	    m->protocolmessage->appstatesynckeyshare != NULL &&
	    m->protocolmessage->appstatesynckeyshare->n_keys == 1,
	    "protocolMessage type 6, one key");
	if (m == NULL || m->protocolmessage == NULL ||
	    m->protocolmessage->appstatesynckeyshare == NULL ||
	    m->protocolmessage->appstatesynckeyshare->n_keys != 1)
		goto out;
	k = m->protocolmessage->appstatesynckeyshare->keys[0];
	derive("fakewa appstate key ", kd);
	derive("fakewa appstate keyid ", kid);
	T_OK(k->keyid != NULL && k->keydata != NULL &&
	    k->keydata->fingerprint != NULL, "key fields");
	if (k->keyid == NULL || k->keydata == NULL ||
	    k->keydata->fingerprint == NULL)
		goto out;
	T_EQ_MEM(k->keyid->keyid.data, k->keyid->keyid.len, kid, 6, "keyID");
	T_EQ_MEM(k->keydata->keydata.data, k->keydata->keydata.len, kd, 32,
	    "keyData");
	T_EQ_INT(k->keydata->fingerprint->rawid, 8888, "rawId (last 6 digits)");
	T_EQ_INT(k->keydata->fingerprint->currentindex, 0, "currentIndex");
	T_OK(k->keydata->fingerprint->n_deviceindexes == 1 &&
	    k->keydata->fingerprint->deviceindexes[0] == 0, "deviceIndexes");
	T_OK(k->keydata->has_timestamp && k->keydata->timestamp > 0,
	    "timestamp");

	/* once per device; -K; no bundle */
	fw_appstate_autoshare(c1.d);
	T_EQ_INT(queued(c1.d, "3EB0"), 1, "not shared twice");
	fw.no_key_share = 1;
	fw_appstate_autoshare(c2.d);
	T_EQ_INT(queued(c2.d, "3EB0"), 0, "-K: nothing");
	fw.no_key_share = 0;
	fw_appstate_autoshare(c2.d);
	T_EQ_INT(queued(c2.d, "3EB0"), 1, "shared automatically");
	c2.d->has_skey = 0;
	T_EQ_INT(fw_appstate_share(c2.d, NULL, 0, err, sizeof(err)), -1,
	    "no bundle");
	c2.d->has_skey = 1;
	T_EQ_INT(fw_appstate_share(NULL, NULL, 0, err, sizeof(err)), -1,
	    "no device");
out:
	if (m != NULL)
		wa__message__free_unpacked(m, NULL);
	signal_free_secret(plain, plen);
	signal_free_secret(st, stlen);
	binnode_free(n);
	queue_clear();
}

/* Send patch (built on *cur) from c1; returns fakewa's <collection>. */
static struct binnode *
upload(const char *name, uint64_t base, const uint8_t *p, size_t len,
    struct binnode **sync)
{
	struct binnode *iq = appstate_patch_iq(name, base, p, len);

	binnode_set_attr(iq, "id", "t1");
	*sync = fw_appstate_answer(c1.d, iq);
	binnode_free(iq);
	return *sync != NULL ? binnode_child(*sync, "collection") : NULL;
}

static void
test_patches(void)
{
	struct appstate_state cur, next, rx;
	struct appstate_keys keys;
	struct appstate_mutation mut, *got = NULL;
	struct binnode *sync = NULL, *col, *iq;
	uint8_t *patch = NULL, kid[32];
	size_t plen, ngot = 0;
	int more = -1;
	char name[] = APPSTATE_REGULAR_HIGH;

	derive("fakewa appstate keyid ", kid);
	T_EQ_INT(getkey(NULL, kid, 6, &keys), 0, "key");
	appstate_state_init(&cur, name);
	T_EQ_INT(appstate_star(CHAT, "3EB0STAR1", 1, NULL, 1, 1700000000001,
	    &mut), 0, "star");
	T_EQ_INT(appstate_build_patch(&cur, &keys, kid, 6, &mut, 1, NULL,
	    &patch, &plen, &next), 0, "build v1");
	appstate_mutation_clear(&mut);
	col = upload(name, 0, patch, plen, &sync);
	T_OK(col != NULL && binnode_attr(col, "type") == NULL, "accepted");
	T_EQ_STR(col ? binnode_attr(col, "version") : NULL, "1", "v1");
	T_EQ_INT(queued(c2.d, "ss-regular_high-"), 1, "server_sync to c2");
	T_EQ_INT(queued(c1.d, "ss-"), 0, "none to the uploader");
	binnode_free(sync);

	/* the same patch on base 0 again: 409, nothing stored */
	col = upload(name, 0, patch, plen, &sync);
	T_EQ_STR(col ? binnode_attr(col, "type") : NULL, "error", "stale");
	T_EQ_STR(col && binnode_child(col, "error") ? binnode_attr(
	    binnode_child(col, "error"), "code") : NULL, "409", "409");
	appstate_state_init(&rx, name);
	T_EQ_INT(appstate_apply_answer(&rx, sync, getkey, NULL, &more, NULL,
	    NULL), APPSTATE_ESERVER, "waproc sees the conflict");
	binnode_free(sync);
	free(patch);

	/* v2 on top of v1: unstar */
	appstate_state_free(&cur);
	cur = next;
	T_EQ_INT(appstate_star(CHAT, "3EB0STAR1", 1, NULL, 0, 1700000000002,
	    &mut), 0, "unstar");
	T_EQ_INT(appstate_build_patch(&cur, &keys, kid, 6, &mut, 1, NULL,
	    &patch, &plen, &next), 0, "build v2");
	appstate_mutation_clear(&mut);
	col = upload(name, 1, patch, plen, &sync);
	T_EQ_STR(col ? binnode_attr(col, "version") : NULL, "2", "v2");
	T_EQ_INT(queued(c2.d, "ss-regular_high-"), 1,
	    "older server_sync replaced");
	binnode_free(sync);
	free(patch);

	/* a new companion fetches from scratch: every MAC checks out */
	iq = appstate_fetch_iq(name, 0);
	binnode_set_attr(iq, "id", "t2");
	sync = fw_appstate_answer(c2.d, iq);
	binnode_free(iq);
	T_OK(sync != NULL, "fetch answered");
	T_EQ_INT(appstate_apply_answer(&rx, sync, getkey, NULL, &more, &got,
	    &ngot), 0, "waproc applies fakewa's answer");
	T_EQ_INT(rx.version, 2, "at v2");
	T_EQ_INT(more, 0, "no more");
	T_EQ_INT(ngot, 2, "two mutations");
	T_EQ_MEM(rx.hash, APPSTATE_HASH_LEN, next.hash, APPSTATE_HASH_LEN,
	    "same LTHash as the uploader");
	if (ngot == 2)
		T_EQ_STR(got[1].index,
		    "[\"star\",\"15550001111@s.whatsapp.net\",\"3EB0STAR1\","
		    "\"1\",\"0\"]", "index");
	appstate_mutations_free(got, ngot);
	binnode_free(sync);
	appstate_state_free(&rx);
	appstate_state_free(&cur);
	appstate_state_free(&next);
	queue_clear();
}

/* One mutation as a patch from c1 on *cur (moved to the new state). */
static int
upload_mut(const char *name, struct appstate_state *cur,
    struct appstate_mutation *mut)
{
	struct appstate_state next;
	struct appstate_keys keys;
	struct binnode *sync = NULL, *col;
	uint8_t *patch = NULL, kid[32];
	size_t plen;
	char v[24];
	int ok;

	derive("fakewa appstate keyid ", kid);
	if (getkey(NULL, kid, 6, &keys) != 0 || appstate_build_patch(cur,
	    &keys, kid, 6, mut, 1, NULL, &patch, &plen, &next) != 0) {
		appstate_mutation_clear(mut);
		return -1;
	}
	appstate_mutation_clear(mut);
	col = upload(name, cur->version, patch, plen, &sync);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)next.version);
	ok = col != NULL && binnode_attr(col, "version") != NULL &&
	    strcmp(binnode_attr(col, "version"), v) == 0;
	binnode_free(sync);
	free(patch);
	appstate_state_free(cur);
	*cur = next;
	return ok ? 0 : -1;
}

/* c2 fetches name from scratch: fakewa's <sync> answer. */
static struct binnode *
fetch_scratch(const char *name)
{
	struct binnode *iq = appstate_fetch_iq(name, 0), *sync;

	binnode_set_attr(iq, "id", "t3");
	sync = fw_appstate_answer(c2.d, iq);
	binnode_free(iq);
	return sync;
}

/*
 * What a client does with a <snapshot>: unpack the reference, take the
 * blob from the media host's store by its direct path, check both hashes
 * and the MAC while decrypting it as "app-state" media, and apply it.
 * *ref_out (may be NULL) gets a copy of the reference bytes.
 */
static int
apply_snapshot_answer(const struct binnode *sync, struct appstate_state *rx,
    size_t *nrec, uint8_t **ref_out, size_t *reflen)
{
	const struct binnode *col, *sn;
	Syncd__ExternalBlobReference *ref = NULL;
	Syncd__SyncdSnapshot *ss;
	uint8_t *body = NULL, *plain = NULL;
	size_t blen = 0, plen = 0;
	char type[32], tok[64], file[PATH_MAX + 128];
	FILE *f;
	long sz;
	int rc = -100;

	col = sync != NULL ? binnode_child(sync, "collection") : NULL;
	sn = col != NULL ? binnode_child(col, "snapshot") : NULL;
	if (sn == NULL || sn->type != BINNODE_BYTES || (ref =
	    syncd__external_blob_reference__unpack(NULL, sn->len, sn->data)) ==
	    NULL || ref->directpath == NULL || !ref->has_mediakey ||
	    ref->mediakey.len != MEDIA_KEY_LEN || !ref->has_fileencsha256 ||
	    !ref->has_filesha256 || ref->handle == NULL ||
	    sscanf(ref->directpath, "/mms-dl/%31[a-z-]/%63[0-9a-f]?fakewa=1",
	    type, tok) != 2 || strcmp(type, "md-app-state") != 0)
		goto out;
	if (ref_out != NULL) {
		*ref_out = malloc(sn->len);
		memcpy(*ref_out, sn->data, sn->len);
		*reflen = sn->len;
	}
	snprintf(file, sizeof(file), "%s/media/%s-%s", fw.state_dir, type,
	    tok);
	if ((f = fopen(file, "rb")) == NULL)
		goto out;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) <= 0 ||
	    sz > (long)APPSTATE_PATCH_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		goto out;
	}
	body = malloc((size_t)sz);
	blen = fread(body, 1, (size_t)sz, f);
	fclose(f);
	rc = -101;
	if (blen != (size_t)sz || media_crypto_decrypt(ref->mediakey.data,
	    media_crypto_info("app-state"), body, blen,
	    ref->fileencsha256.data, ref->filesha256.data, &plain, &plen) != 0)
		goto out;
	rc = -102;
	if (!ref->has_filesizebytes || ref->filesizebytes != plen)
		goto out;
	if ((ss = syncd__syncd_snapshot__unpack(NULL, plen, plain)) != NULL) {
		*nrec = ss->n_records;
		syncd__syncd_snapshot__free_unpacked(ss, NULL);
	}
	rc = appstate_apply_snapshot(rx, plain, plen, getkey, NULL, NULL,
	    NULL);
out:
	if (ref != NULL)
		syncd__external_blob_reference__free_unpacked(ref, NULL);
	free(body);
	free(plain);
	return rc;
}

static void
test_snapshot(void)
{
	struct appstate_state cur, rx, follow;
	struct appstate_mutation mut;
	struct binnode *sync, *col, *iq;
	uint8_t *ref1 = NULL, *ref2 = NULL;
	size_t nrec = 0, l1 = 0, l2 = 0;
	uint32_t built;
	int more = -1;
	const char *name = APPSTATE_REGULAR_LOW;

	/* v1 pin, v2 star, v3 unstar (overwrite), v4 REMOVE of the pin */
	appstate_state_init(&cur, name);
	T_EQ_INT(appstate_pin(CHAT, 1, 1700000000010, &mut), 0, "pin");
	T_EQ_INT(upload_mut(name, &cur, &mut), 0, "v1");
	T_EQ_INT(appstate_star(CHAT, "3EB0SNAP1", 1, NULL, 1, 1700000000011,
	    &mut), 0, "star");
	T_EQ_INT(upload_mut(name, &cur, &mut), 0, "v2");
	T_EQ_INT(appstate_star(CHAT, "3EB0SNAP1", 1, NULL, 0, 1700000000012,
	    &mut), 0, "unstar");
	T_EQ_INT(upload_mut(name, &cur, &mut), 0, "v3");
	T_EQ_INT(appstate_pin(CHAT, 0, 1700000000013, &mut), 0, "unpin");
	mut.op = APPSTATE_REMOVE;
	T_EQ_INT(upload_mut(name, &cur, &mut), 0, "v4 (REMOVE)");
	T_EQ_INT(cur.version, 4, "uploader at v4");

	/* off (the default): patches, as before */
	T_EQ_INT(fw.as_snapshots, 0, "off by default");
	sync = fetch_scratch(name);
	col = sync ? binnode_child(sync, "collection") : NULL;
	T_OK(col && binnode_child(col, "snapshot") == NULL &&
	    binnode_child(col, "patches") != NULL, "off: patches");
	binnode_free(sync);

	fw.as_snapshots = 1;
	sync = fetch_scratch(name);
	col = sync ? binnode_child(sync, "collection") : NULL;
	T_EQ_STR(col ? binnode_attr(col, "version") : NULL, "4", "version");
	T_EQ_STR(col ? binnode_attr(col, "has_more_patches") : NULL, "false",
	    "no more");
	T_OK(col && binnode_child(col, "patches") == NULL, "no <patches>");
	appstate_state_init(&rx, name);
	T_EQ_INT(appstate_apply_answer(&rx, sync, getkey, NULL, &more, NULL,
	    NULL), APPSTATE_EEXTERNAL, "waproc: a snapshot to download");
	T_EQ_INT(apply_snapshot_answer(sync, &rx, &nrec, &ref1, &l1), 0,
	    "the blob decrypts and the snapshot MAC verifies");
	binnode_free(sync);
	T_EQ_INT(rx.version, 4, "snapshot at v4");
	T_EQ_INT(nrec, 1, "one live record (the unstarred star)");
	T_EQ_INT(rx.nentries, 1, "one entry");
	T_EQ_MEM(rx.hash, APPSTATE_HASH_LEN, cur.hash, APPSTATE_HASH_LEN,
	    "the uploader's LTHash");
	T_EQ_INT(fw.as_snap_built, 1, "built once");
	T_EQ_INT(fw.as_snap_served, 1, "served once");

	/* cached for the same version */
	sync = fetch_scratch(name);
	appstate_state_free(&rx);
	appstate_state_init(&rx, name);
	T_EQ_INT(apply_snapshot_answer(sync, &rx, &nrec, &ref2, &l2), 0,
	    "again");
	binnode_free(sync);
	T_EQ_MEM(ref2, l2, ref1, l1, "the same reference (cached)");
	T_EQ_INT(fw.as_snap_built, 1, "not built again");
	free(ref2);
	ref2 = NULL;

	/* corrupt_next: one bad MAC, then the good one again */
	fw.as_snap_corrupt = 1;
	sync = fetch_scratch(name);
	appstate_state_free(&rx);
	appstate_state_init(&rx, name);
	T_EQ_INT(apply_snapshot_answer(sync, &rx, &nrec, NULL, NULL),
	    APPSTATE_ESNAPSHOTMAC, "corrupted: snapshot MAC mismatch");
	binnode_free(sync);
	T_EQ_INT(rx.version, 0, "nothing applied");
	T_EQ_INT(fw.as_snap_corrupt, 0, "only the next one");
	sync = fetch_scratch(name);
	T_EQ_INT(apply_snapshot_answer(sync, &rx, &nrec, &ref2, &l2), 0,
	    "then a good one");
	binnode_free(sync);
	T_EQ_MEM(ref2, l2, ref1, l1, "the cached one");
	free(ref2);
	ref2 = NULL;

	/* a new patch: a new snapshot; a client that followed the patches
	 * and one that took the snapshot agree, and both take v6 */
	T_EQ_INT(appstate_star(CHAT, "3EB0SNAP2", 0, NULL, 1, 1700000000014,
	    &mut), 0, "star 2");
	T_EQ_INT(upload_mut(name, &cur, &mut), 0, "v5");
	built = fw.as_snap_built;
	sync = fetch_scratch(name);
	appstate_state_free(&rx);
	appstate_state_init(&rx, name);
	T_EQ_INT(apply_snapshot_answer(sync, &rx, &nrec, &ref2, &l2), 0,
	    "v5 snapshot");
	binnode_free(sync);
	T_OK(l2 != l1 || memcmp(ref1, ref2, l1) != 0, "a new blob");
	T_EQ_INT(fw.as_snap_built, built + 1, "built for v5");
	T_EQ_INT(rx.version, 5, "at v5");
	T_EQ_INT(nrec, 2, "two live records");
	T_EQ_MEM(rx.hash, APPSTATE_HASH_LEN, cur.hash, APPSTATE_HASH_LEN,
	    "LTHash at v5");
	appstate_state_copy(&follow, &rx);
	T_EQ_INT(appstate_star(CHAT, "3EB0SNAP2", 0, NULL, 0, 1700000000015,
	    &mut), 0, "unstar 2");
	T_EQ_INT(upload_mut(name, &cur, &mut), 0, "v6");
	iq = appstate_fetch_iq(name, 5);
	sync = fw_appstate_answer(c2.d, iq);
	binnode_free(iq);
	T_EQ_INT(appstate_apply_answer(&follow, sync, getkey, NULL, &more,
	    NULL, NULL), 0, "v6 verifies on top of the snapshot state");
	binnode_free(sync);
	T_EQ_INT(follow.version, 6, "at v6");
	T_EQ_MEM(follow.hash, APPSTATE_HASH_LEN, cur.hash, APPSTATE_HASH_LEN,
	    "LTHash at v6");

	/* an empty collection: as before (no snapshot, version 0) */
	sync = fetch_scratch(APPSTATE_CRITICAL_BLOCK);
	col = sync ? binnode_child(sync, "collection") : NULL;
	T_OK(col && binnode_child(col, "snapshot") == NULL &&
	    binnode_child(col, "patches") == NULL, "empty: nothing");
	T_EQ_STR(col ? binnode_attr(col, "version") : NULL, "0", "v0");
	binnode_free(sync);

	free(ref1);
	free(ref2);
	appstate_state_free(&rx);
	appstate_state_free(&follow);
	appstate_state_free(&cur);
	queue_clear();
}

static void
test_paging_and_junk(void)
{
	struct binnode *sync = NULL, *col, *iq, *ps, *c;
	uint8_t junk[] = { 0x32, 0x00 };	/* SyncdPatch{mutations: {}} */
	uint8_t bad[] = { 0xff, 0xff, 0xff };
	char v[24];
	int i;

	for (i = 0; i < FW_AS_FETCH_MAX + 3; i++) {
		snprintf(v, sizeof(v), "%d", i + 1);
		col = upload(APPSTATE_REGULAR, (uint64_t)i, junk,
		    sizeof(junk), &sync);
		if (col == NULL || binnode_attr(col, "version") == NULL ||
		    strcmp(binnode_attr(col, "version"), v) != 0) {
			T_OK(0, "patch %d stored", i + 1);
			binnode_free(sync);
			return;
		}
		binnode_free(sync);
	}
	T_EQ_INT(queued(c2.d, "ss-regular-"), 1, "one server_sync kept");
	/* snapshots on (test_snapshot): junk patches do not verify at the
	 * phone, so the answer is patches */
	iq = appstate_fetch_iq(APPSTATE_REGULAR, 0);
	sync = fw_appstate_answer(c2.d, iq);
	binnode_free(iq);
	col = sync ? binnode_child(sync, "collection") : NULL;
	T_OK(fw.as_snapshots && col && binnode_child(col, "snapshot") == NULL,
	    "no snapshot of unverifiable patches");
	ps = col ? binnode_child(col, "patches") : NULL;
	T_EQ_INT(ps ? binnode_count(ps, "patch") : 0, FW_AS_FETCH_MAX,
	    "a page");
	T_EQ_STR(col ? binnode_attr(col, "has_more_patches") : NULL, "true",
	    "more");
	snprintf(v, sizeof(v), "%d", FW_AS_FETCH_MAX);
	T_EQ_STR(col ? binnode_attr(col, "version") : NULL, v, "last given");
	binnode_free(sync);

	/* malformed: the whole iq, then single collections */
	iq = binnode_new("iq");
	binnode_set_attrs(iq, "type", "set", "xmlns", "w:sync:app:state",
	    NULL);
	T_OK(fw_appstate_answer(c1.d, iq) == NULL, "no <sync>");
	binnode_add_new(iq, "sync");
	T_OK(fw_appstate_answer(c1.d, iq) == NULL, "no <collection>");
	binnode_set_attr(iq, "type", "get");
	c = binnode_add_new(binnode_child(iq, "sync"), "collection");
	binnode_set_attr(c, "name", APPSTATE_REGULAR);
	T_OK(fw_appstate_answer(c1.d, iq) == NULL, "type get");
	T_OK(fw_appstate_answer(NULL, iq) == NULL, "no device");
	binnode_free(iq);

	col = upload("regular_nope", 0, junk, sizeof(junk), &sync);
	T_EQ_STR(col && binnode_child(col, "error") ? binnode_attr(
	    binnode_child(col, "error"), "code") : NULL, "400", "unknown name");
	binnode_free(sync);
	col = upload(APPSTATE_REGULAR_LOW, 0, bad, sizeof(bad), &sync);
	T_EQ_STR(col && binnode_child(col, "error") ? binnode_attr(
	    binnode_child(col, "error"), "code") : NULL, "400", "not protobuf");
	binnode_free(sync);
	iq = appstate_fetch_iq(APPSTATE_REGULAR_LOW, 50);
	sync = fw_appstate_answer(c1.d, iq);
	binnode_free(iq);
	col = sync ? binnode_child(sync, "collection") : NULL;
	T_EQ_STR(col && binnode_child(col, "error") ? binnode_attr(
	    binnode_child(col, "error"), "code") : NULL, "409", "ahead");
	binnode_free(sync);
	queue_clear();
}

static void
test_persist(void)
{
	struct json_object *a, *b;
	char err[128];
	char *sa, *sb;

	a = fw_appstate_patches_json(PHONE, APPSTATE_REGULAR_HIGH, 0, err,
	    sizeof(err));
	T_OK(a != NULL, "patches json");
	fw_appstate_free();
	T_OK(fw.appstate == NULL, "freed");
	T_EQ_INT(fw_appstate_load(), 0, "load appstate.json");
	b = fw_appstate_patches_json(PHONE, APPSTATE_REGULAR_HIGH, 0, err,
	    sizeof(err));
	if (a == NULL || b == NULL)
		return;
	sa = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	sb = strdup(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
	T_EQ_STR(sb, sa, "same patches after a reload");
	T_OK(strstr(sa, "\"version\":2") != NULL, "v2");
	free(sa);
	free(sb);
	json_object_put(a);
	json_object_put(b);
	a = fw_appstate_json(PHONE, err, sizeof(err));
	T_OK(a != NULL && strstr(json_object_to_json_string_ext(a,
	    JSON_C_TO_STRING_PLAIN), "\"regular\":{\"version\":23}") != NULL,
	    "GET /appstate view");
	if (a != NULL)
		json_object_put(a);
	T_OK(fw_appstate_json("12", err, sizeof(err)) == NULL, "bad phone");
}

/* Remove the snapshot blobs (dir/media/md-app-state-*). */
static void
media_clean(const char *dir)
{
	char path[PATH_MAX + 300];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/media", dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "md-app-state-", 13) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/media/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/media", dir);
	rmdir(path);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/test_fakewa_appstate.XXXXXX", path[PATH_MAX];

	t_init(argc, argv);
	log_init("test_fakewa_appstate", LOG_LVL_WARN);
	if (sodium_init() < 0 || mkdtemp(dir) == NULL)
		return 1;
	snprintf(fw.state_dir, sizeof(fw.state_dir), "%s", dir);
	companion_add(&c1, 1);
	companion_add(&c2, 2);
	T_RUN(test_key_share);
	T_RUN(test_patches);
	T_RUN(test_snapshot);
	T_RUN(test_paging_and_junk);
	T_RUN(test_persist);
	fw_appstate_free();
	queue_clear();
	fw_device_remove(c1.d);
	fw_device_remove(c2.d);
	signal_keypair_clear(&c1.ident);
	signal_keypair_clear(&c2.ident);
	snprintf(path, sizeof(path), "%s/appstate.json", dir);
	unlink(path);
	media_clean(dir);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	unlink(path);
	rmdir(dir);
	return t_done();
}
