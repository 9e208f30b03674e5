/* test_appstate.c - app state (syncd) codec: key expansion and LTHash
 * against values computed independently (Python hmac/hashlib HKDF), record
 * encode/decode round trip, tampered value/index/patch/snapshot MACs
 * rejected, LTHash add/subtract, patches and sync answers applied to a
 * collection state, the IQ shapes, index JSON.
 * test_oracle_dump (only with APPSTATE_ORACLE_DIR set) is driven by
 * tests/system/test_appstate_oracle.mjs: it writes the patches our code
 * builds for Baileys to check, and verifies the ones Baileys built. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "appstate.h"
#include "binnode.h"
#include "buf.h"
#include "syncd.pb-c.h"
#include "xmalloc.h"

static const char *KEYS_HEX[5] = {	/* HKDF of keyData 00..1f */
	"61387bcf643616a68bd611a45516b3980418323087d78bf08c615645549434b4",
	"900ba2843ba5fb0cee55cf2a4de9503dce68187d3f6b95b420b008bde66f5a20",
	"d0879f6b61f0bcba79faad3f47a8a768fd7fc04a6cc8b3ecefedfa087413226f",
	"69b2e91be6587307c43c29b027a71fdd55be25f07ca726714115430d23093071",
	"693845bdd996652aca9ca0b96d0f081abf29943303c5eb19bdb84f38b24c32ab",
};
/* LTHash of 0 + mac(ab * 32) + mac(20..3f), and its snapshot MAC at
 * version 7 for regular_high with the keys above. */
static const char *LTHASH_HEX =
	"3b23f1fb655871f2785ab1f3e4b02487767b72d96c8d4fa149dd0189f84dbfff"
	"94a2e6132e951f25518c90d50568aa198bb5585a00bb85b126ffdc4fdff0695a"
	"926caa78aa38bdde7a5c0a197439fafb4bb769142456a498d4b2d837b12a652b"
	"05b67849bf17666a871f8bd495f93752fc78c6866ea427d0b63d1f5c29971c3d";
static const char *SNAPMAC_HEX =
	"cafcdd97f4eec7fe0e59a66f59c8f018fed18c2d8eb06e064568ee1e7928b24f";

static const uint8_t KEYID[6] = { 0, 0, 0, 0, 0x42, 0x32 };
static const uint8_t IV[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16 };
static const char *CHAT = "15550001111@s.whatsapp.net";

static void
keydata(uint8_t kd[32])
{
	int	i;

	for (i = 0; i < 32; i++)
		kd[i] = (uint8_t)i;
}

/* The getter: one key, KEYID -> keydata 00..1f. */
static int
getkey(void *arg, const uint8_t *id, size_t len, struct appstate_keys *out)
{
	uint8_t	kd[32];

	if (len != sizeof(KEYID) || memcmp(id, KEYID, len) != 0)
		return APPSTATE_ENOKEY;
	keydata(kd);
	appstate_expand_keys(kd, sizeof(kd), out);
	return 0;
}

static void
mykeys(struct appstate_keys *k)
{
	getkey(NULL, KEYID, sizeof(KEYID), k);
}

static int
hexeq(const uint8_t *p, size_t len, const char *hex)
{
	uint8_t	want[256];

	return t_unhex(hex, want, sizeof(want)) == (int)len &&
	    memcmp(p, want, len) == 0;
}

static void
test_keys(void)
{
	struct appstate_keys	k;

	mykeys(&k);
	T_OK(hexeq(k.index, 32, KEYS_HEX[0]), "index key");
	T_OK(hexeq(k.value_enc, 32, KEYS_HEX[1]), "value encryption key");
	T_OK(hexeq(k.value_mac, 32, KEYS_HEX[2]), "value MAC key");
	T_OK(hexeq(k.snapshot_mac, 32, KEYS_HEX[3]), "snapshot MAC key");
	T_OK(hexeq(k.patch_mac, 32, KEYS_HEX[4]), "patch MAC key");
}

static void
test_lthash(void)
{
	struct appstate_state	st;
	struct appstate_keys	k;
	uint8_t			m1[32], m2[32], zero[128], mac[32];
	int			i;

	memset(m1, 0xab, sizeof(m1));
	for (i = 0; i < 32; i++)
		m2[i] = (uint8_t)(32 + i);
	memset(zero, 0, sizeof(zero));
	appstate_state_init(&st, APPSTATE_REGULAR_HIGH);
	appstate_lthash_add(st.hash, m1);
	appstate_lthash_add(st.hash, m2);
	T_OK(hexeq(st.hash, 128, LTHASH_HEX), "add two value MACs");
	st.version = 7;
	mykeys(&k);
	appstate_snapshot_mac(&st, &k, mac);
	T_OK(hexeq(mac, 32, SNAPMAC_HEX), "snapshot MAC");
	appstate_lthash_sub(st.hash, m1);
	appstate_lthash_sub(st.hash, m2);
	T_EQ_MEM(st.hash, 128, zero, 128, "subtract returns to zero");
	appstate_lthash_sub(st.hash, m2);	/* wraps below zero */
	appstate_lthash_add(st.hash, m2);
	T_EQ_MEM(st.hash, 128, zero, 128, "wrap-around is mod 2^16");
	appstate_state_free(&st);
}

/* Pack a record from the encoded parts. */
static uint8_t *
pack_record(const uint8_t *imac, const uint8_t *blob, size_t bloblen,
    const uint8_t *keyid, size_t keyidlen, size_t *len)
{
	Syncd__SyncdRecord	r = SYNCD__SYNCD_RECORD__INIT;
	Syncd__SyncdIndex	i = SYNCD__SYNCD_INDEX__INIT;
	Syncd__SyncdValue	v = SYNCD__SYNCD_VALUE__INIT;
	Syncd__KeyId		kid = SYNCD__KEY_ID__INIT;
	uint8_t			*out;

	i.has_blob = v.has_blob = kid.has_id = 1;
	i.blob.data = (uint8_t *)imac;
	i.blob.len = 32;
	v.blob.data = (uint8_t *)blob;
	v.blob.len = bloblen;
	kid.id.data = (uint8_t *)keyid;
	kid.id.len = keyidlen;
	r.index = &i;
	r.value = &v;
	r.keyid = &kid;
	*len = syncd__syncd_record__get_packed_size(&r);
	out = malloc(*len);
	syncd__syncd_record__pack(&r, out);
	return out;
}

static void
test_record_roundtrip(void)
{
	struct appstate_keys	  k;
	struct appstate_mutation  m, d;
	Syncd__SyncActionValue	 *v = NULL;
	uint8_t			  imac[32], vmac[32], *blob = NULL, *rec;
	size_t			  bloblen = 0, reclen;
	uint8_t			  other[6] = { 9, 9, 9, 9, 9, 9 };

	mykeys(&k);
	T_EQ_INT(appstate_star(CHAT, "3EB0ABCDEF", 1, NULL, 1, 1700000000123,
	    &m), 0, "star builder");
	T_EQ_STR(m.index, "[\"star\",\"15550001111@s.whatsapp.net\","
	    "\"3EB0ABCDEF\",\"1\",\"0\"]", "star index layout");
	T_EQ_INT(m.version, 2, "star action version");
	T_EQ_INT(appstate_encode_value(&k, KEYID, sizeof(KEYID), &m, IV,
	    imac, &blob, &bloblen, vmac), 0, "encode");
	T_OK(bloblen > 64 && (bloblen - 48) % 16 == 0, "iv || ct || mac");
	T_EQ_MEM(blob, 16, IV, 16, "value starts with the IV");
	T_EQ_MEM(blob + bloblen - 32, 32, vmac, 32, "value ends with its MAC");

	rec = pack_record(imac, blob, bloblen, KEYID, sizeof(KEYID), &reclen);
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_SET, getkey,
	    NULL, &d), 0, "decode");
	T_EQ_STR(d.index, m.index, "index back");
	T_EQ_INT(d.version, 2, "version back");
	T_EQ_MEM(d.index_mac, 32, imac, 32, "index MAC");
	T_EQ_MEM(d.value_mac, 32, vmac, 32, "value MAC");
	if (d.value != NULL)
		v = syncd__sync_action_value__unpack(NULL, d.value_len,
		    d.value);
	T_OK(v != NULL && v->staraction != NULL &&
	    v->staraction->has_starred && v->staraction->starred,
	    "starAction.starred");
	T_OK(v != NULL && v->has_timestamp &&
	    v->timestamp == 1700000000123, "timestamp");
	if (v != NULL)
		syncd__sync_action_value__free_unpacked(v, NULL);
	appstate_mutation_clear(&d);

	/* wrong operation: the op byte is under the value MAC */
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_REMOVE, getkey,
	    NULL, &d), APPSTATE_EVALUEMAC, "wrong op rejected");
	free(rec);

	/* tampered ciphertext, MAC, index MAC; unknown key */
	blob[20] ^= 1;
	rec = pack_record(imac, blob, bloblen, KEYID, sizeof(KEYID), &reclen);
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_SET, getkey,
	    NULL, &d), APPSTATE_EVALUEMAC, "tampered ciphertext");
	free(rec);
	blob[20] ^= 1;
	blob[bloblen - 1] ^= 0x80;
	rec = pack_record(imac, blob, bloblen, KEYID, sizeof(KEYID), &reclen);
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_SET, getkey,
	    NULL, &d), APPSTATE_EVALUEMAC, "tampered value MAC");
	free(rec);
	blob[bloblen - 1] ^= 0x80;
	imac[0] ^= 1;
	rec = pack_record(imac, blob, bloblen, KEYID, sizeof(KEYID), &reclen);
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_SET, getkey,
	    NULL, &d), APPSTATE_EINDEXMAC, "tampered index MAC");
	free(rec);
	imac[0] ^= 1;
	rec = pack_record(imac, blob, bloblen, other, sizeof(other), &reclen);
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_SET, getkey,
	    NULL, &d), APPSTATE_ENOKEY, "unknown key id");
	free(rec);
	rec = pack_record(imac, blob, 40, KEYID, sizeof(KEYID), &reclen);
	T_EQ_INT(appstate_decode_record(rec, reclen, APPSTATE_SET, getkey,
	    NULL, &d), APPSTATE_EINVAL, "short value");
	free(rec);
	T_EQ_INT(appstate_decode_record((const uint8_t *)"\xff\xff", 2,
	    APPSTATE_SET, getkey, NULL, &d), APPSTATE_EINVAL, "not protobuf");
	free(blob);
	appstate_mutation_clear(&m);
}

static void
test_builders(void)
{
	struct appstate_mutation	 m;
	Syncd__SyncActionValue		*v;

	T_EQ_INT(appstate_delete_for_me("123-456@g.us", "ABC", 0,
	    "15550002222@s.whatsapp.net", 1, 1700000000, 5, &m), 0,
	    "delete-for-me builder");
	T_EQ_STR(m.index, "[\"deleteMessageForMe\",\"123-456@g.us\",\"ABC\","
	    "\"0\",\"15550002222@s.whatsapp.net\"]", "delete index layout");
	T_EQ_INT(m.version, 3, "delete action version");
	v = syncd__sync_action_value__unpack(NULL, m.value_len, m.value);
	T_OK(v != NULL && v->deletemessageformeaction != NULL &&
	    v->deletemessageformeaction->deletemedia &&
	    v->deletemessageformeaction->messagetimestamp == 1700000000 &&
	    v->timestamp == 5, "deleteMessageForMeAction fields");
	syncd__sync_action_value__free_unpacked(v, NULL);
	appstate_mutation_clear(&m);

	T_EQ_INT(appstate_star(CHAT, "X", 0, NULL, 0, 1, &m), 0, "unstar");
	v = syncd__sync_action_value__unpack(NULL, m.value_len, m.value);
	T_OK(v != NULL && v->staraction && v->staraction->has_starred &&
	    !v->staraction->starred, "starred=false is sent");
	syncd__sync_action_value__free_unpacked(v, NULL);
	appstate_mutation_clear(&m);

	T_EQ_INT(appstate_mute(CHAT, 1, 0, 1, &m), 0, "mute builder");
	T_EQ_STR(m.index, "[\"mute\",\"15550001111@s.whatsapp.net\"]",
	    "mute index");
	v = syncd__sync_action_value__unpack(NULL, m.value_len, m.value);
	T_OK(v != NULL && v->muteaction && v->muteaction->muted &&
	    v->muteaction->muteendtimestamp == -1, "mute forever = -1");
	syncd__sync_action_value__free_unpacked(v, NULL);
	appstate_mutation_clear(&m);

	T_EQ_INT(appstate_pin(CHAT, 1, 1, &m), 0, "pin builder");
	T_EQ_STR(m.index, "[\"pin_v1\",\"15550001111@s.whatsapp.net\"]",
	    "pin index");
	T_EQ_INT(m.version, 5, "pin version");
	appstate_mutation_clear(&m);

	T_EQ_INT(appstate_star(NULL, "X", 0, NULL, 1, 1, &m), APPSTATE_EINVAL,
	    "no chat");
	T_EQ_INT(appstate_star(CHAT, "", 0, NULL, 1, 1, &m), APPSTATE_EINVAL,
	    "no id");
}

static void
test_index_json(void)
{
	const char	*parts[3] = { "a\"b\\c", "\n\t\x01", "é" };
	char		*j, **p = NULL;
	size_t		 n = 0;

	j = appstate_index_json(parts, 3);
	T_EQ_STR(j, "[\"a\\\"b\\\\c\",\"\\n\\t\\u0001\",\"é\"]",
	    "JSON.stringify escapes");
	T_EQ_INT(appstate_index_parse(j, &p, &n), 0, "parse");
	T_OK(n == 3 && strcmp(p[0], parts[0]) == 0 &&
	    strcmp(p[1], parts[1]) == 0 && strcmp(p[2], parts[2]) == 0,
	    "parse gives the parts back");
	appstate_index_free(p, n);
	free(j);
	T_EQ_INT(appstate_index_parse("[\"a\",1]", &p, &n), APPSTATE_EINVAL,
	    "non-string element");
	T_EQ_INT(appstate_index_parse("{}", &p, &n), APPSTATE_EINVAL,
	    "not an array");
}

/* Star + delete-for-me at v1, then unstar (overwrite) + remove at v2. */
static void
two_patches(struct appstate_mutation v1[2], struct appstate_mutation v2[2])
{
	appstate_star(CHAT, "3EB0AAAA", 1, NULL, 1, 1700000000001, &v1[0]);
	appstate_delete_for_me(CHAT, "3EB0BBBB", 0, NULL, 0, 1700000000,
	    1700000000002, &v1[1]);
	appstate_star(CHAT, "3EB0AAAA", 1, NULL, 0, 1700000000003, &v2[0]);
	appstate_delete_for_me(CHAT, "3EB0BBBB", 0, NULL, 0, 1700000000,
	    1700000000004, &v2[1]);
	v2[1].op = APPSTATE_REMOVE;
}

static void
clear4(struct appstate_mutation v1[2], struct appstate_mutation v2[2])
{
	int	i;

	for (i = 0; i < 2; i++) {
		appstate_mutation_clear(&v1[i]);
		appstate_mutation_clear(&v2[i]);
	}
}

static void
test_patch_apply(void)
{
	struct appstate_keys	  k;
	struct appstate_state	  cur, next, next2, rx;
	struct appstate_mutation  v1[2], v2[2], *got = NULL;
	Syncd__SyncdPatch	 *p;
	uint8_t			 *pb = NULL, *pb2 = NULL, zero[128];
	size_t			  plen, plen2, ngot = 0;

	mykeys(&k);
	memset(zero, 0, sizeof(zero));
	two_patches(v1, v2);
	appstate_state_init(&cur, APPSTATE_REGULAR_HIGH);
	appstate_state_init(&rx, APPSTATE_REGULAR_HIGH);

	T_EQ_INT(appstate_build_patch(&cur, &k, KEYID, sizeof(KEYID), v1, 2,
	    NULL, &pb, &plen, &next), 0, "build v1");
	T_EQ_INT(next.version, 1, "next version");
	T_EQ_INT(next.nentries, 2, "two entries");
	T_EQ_INT(cur.version, 0, "current state untouched");
	p = syncd__syncd_patch__unpack(NULL, plen, pb);
	T_OK(p != NULL && p->n_mutations == 2 && p->version == NULL &&
	    p->keyid && p->keyid->id.len == 6 && p->has_patchmac &&
	    p->has_snapshotmac, "patch shape (no version field)");
	syncd__syncd_patch__free_unpacked(p, NULL);

	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 0, getkey, NULL, &got,
	    &ngot), 0, "apply v1");
	T_EQ_INT(rx.version, 1, "rx version 1");
	T_EQ_MEM(rx.hash, 128, next.hash, 128, "rx hash == sender hash");
	T_OK(ngot == 2 && strcmp(got[0].index, v1[0].index) == 0 &&
	    strcmp(got[1].index, v1[1].index) == 0, "mutations in order");
	appstate_mutations_free(got, ngot);
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 1, getkey, NULL, NULL,
	    NULL), APPSTATE_EVERSION, "same patch again (version 1)");
	T_EQ_INT(rx.version, 1, "  ... state kept");

	T_EQ_INT(appstate_build_patch(&next, &k, KEYID, sizeof(KEYID), v2, 2,
	    NULL, &pb2, &plen2, &next2), 0, "build v2");
	T_EQ_INT(next2.nentries, 1, "overwrite keeps one, remove drops one");
	T_EQ_INT(appstate_apply_patch(&rx, pb2, plen2, 0, getkey, NULL, NULL,
	    NULL), 0, "apply v2");
	T_EQ_INT(rx.version, 2, "rx version 2");
	T_EQ_MEM(rx.hash, 128, next2.hash, 128, "v2 hashes agree");
	T_OK(rx.nentries == 1 &&
	    memcmp(rx.entries[0].value_mac, next2.entries[0].value_mac, 32) ==
	    0, "entry holds the unstar value MAC");
	/* only the unstar is left: hash == its value MAC alone */
	memset(zero, 0, sizeof(zero));
	appstate_lthash_add(zero, rx.entries[0].value_mac);
	T_EQ_MEM(rx.hash, 128, zero, 128, "hash = add(unstar) only");

	/* tampering: patch MAC, snapshot MAC, a value */
	appstate_state_free(&rx);
	appstate_state_init(&rx, APPSTATE_REGULAR_HIGH);
	p = syncd__syncd_patch__unpack(NULL, plen, pb);
	p->patchmac.data[3] ^= 1;
	syncd__syncd_patch__pack(p, pb);
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 0, getkey, NULL, NULL,
	    NULL), APPSTATE_EPATCHMAC, "tampered patch MAC");
	p->patchmac.data[3] ^= 1;
	p->snapshotmac.data[0] ^= 1;
	syncd__syncd_patch__pack(p, pb);
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 0, getkey, NULL, NULL,
	    NULL), APPSTATE_EPATCHMAC, "tampered snapshot MAC (under patch MAC)");
	p->snapshotmac.data[0] ^= 1;
	syncd__syncd_patch__pack(p, pb);
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 5, getkey, NULL, NULL,
	    NULL), APPSTATE_EPATCHMAC, "wrong version (under patch MAC)");
	p->mutations[1]->record->index->blob.data[0] ^= 1;
	syncd__syncd_patch__pack(p, pb);
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 0, getkey, NULL, NULL,
	    NULL), APPSTATE_EINDEXMAC, "tampered index MAC in a patch");
	T_EQ_INT(rx.version, 0, "failed patches leave the state");
	T_EQ_INT(rx.nentries, 0, "  ... and its map");
	{
		static const uint8_t z[128];

		T_EQ_MEM(rx.hash, 128, z, 128, "  ... and its hash");
	}
	p->mutations[1]->record->index->blob.data[0] ^= 1;
	syncd__syncd_patch__pack(p, pb);
	syncd__syncd_patch__free_unpacked(p, NULL);

	/* a state whose LTHash disagrees with the sender's fails the
	 * snapshot MAC */
	rx.hash[5] ^= 1;
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 0, getkey, NULL, NULL,
	    NULL), APPSTATE_ESNAPSHOTMAC, "diverged LTHash");
	rx.hash[5] ^= 1;
	T_EQ_INT(appstate_apply_patch(&rx, pb, plen, 0, getkey, NULL, NULL,
	    NULL), 0, "untampered patch still applies");

	free(pb);
	free(pb2);
	clear4(v1, v2);
	appstate_state_free(&cur);
	appstate_state_free(&next);
	appstate_state_free(&next2);
	appstate_state_free(&rx);
}

static struct binnode *
wire(const struct binnode *n, struct buf *b)
{
	struct binnode	*d = NULL;

	buf_reset(b);
	if (binnode_encode(n, b) != 0 || binnode_decode(b->data, b->len,
	    &d) != 0)
		return NULL;
	return d;
}

/* <patch> child with the SyncdPatch given a version field, as the
 * server sends them. */
static void
add_versioned(struct binnode *ps, const uint8_t *pb, size_t plen,
    uint64_t ver)
{
	Syncd__SyncdPatch	*p;
	Syncd__SyncdVersion	 v = SYNCD__SYNCD_VERSION__INIT;
	uint8_t			*q;
	size_t			 ql;

	p = syncd__syncd_patch__unpack(NULL, plen, pb);
	v.has_version = 1;
	v.version = ver;
	p->version = &v;
	ql = syncd__syncd_patch__get_packed_size(p);
	q = malloc(ql);
	syncd__syncd_patch__pack(p, q);
	p->version = NULL;
	syncd__syncd_patch__free_unpacked(p, NULL);
	binnode_set_bytes(binnode_add_new(ps, "patch"), q, ql);
	free(q);
}

static void
test_iq_and_answer(void)
{
	struct appstate_keys	  k;
	struct appstate_state	  cur, next, next2, rx;
	struct appstate_mutation  v1[2], v2[2], *got = NULL;
	struct binnode		 *iq, *d, *ans, *coll, *ps;
	struct buf		  b;
	uint8_t			 *pb = NULL, *pb2 = NULL;
	size_t			  plen, plen2, ngot = 0;
	int			  more = -1;
	const struct binnode	 *c;

	buf_init(&b, 1 << 20);
	mykeys(&k);
	two_patches(v1, v2);
	appstate_state_init(&cur, APPSTATE_REGULAR_HIGH);
	appstate_state_init(&rx, APPSTATE_REGULAR_HIGH);
	appstate_build_patch(&cur, &k, KEYID, 6, v1, 2, NULL, &pb, &plen,
	    &next);
	appstate_build_patch(&next, &k, KEYID, 6, v2, 2, NULL, &pb2, &plen2,
	    &next2);

	iq = appstate_patch_iq(APPSTATE_REGULAR_HIGH, 0, pb, plen);
	d = wire(iq, &b);
	T_OK(d != NULL, "patch IQ encodes and decodes");
	c = d ? binnode_child(binnode_child(d, "sync"), "collection") : NULL;
	T_OK(d && strcmp(binnode_attr(d, "xmlns"), "w:sync:app:state") == 0 &&
	    strcmp(binnode_attr(d, "type"), "set") == 0 &&
	    strstr(binnode_attr(d, "to"), "s.whatsapp.net") != NULL,
	    "iq attrs");
	T_OK(c && strcmp(binnode_attr(c, "name"), "regular_high") == 0 &&
	    strcmp(binnode_attr(c, "version"), "0") == 0 &&
	    strcmp(binnode_attr(c, "return_snapshot"), "false") == 0,
	    "collection attrs: base version");
	c = c ? binnode_child(c, "patch") : NULL;
	T_OK(c && c->len == plen && memcmp(c->data, pb, plen) == 0,
	    "patch bytes");
	binnode_free(iq);
	binnode_free(d);

	iq = appstate_fetch_iq(APPSTATE_CRITICAL_BLOCK, 0);
	c = binnode_child(binnode_child(iq, "sync"), "collection");
	T_OK(binnode_attr(c, "version") == NULL &&
	    strcmp(binnode_attr(c, "return_snapshot"), "true") == 0,
	    "fetch from scratch asks for a snapshot");
	binnode_free(iq);
	iq = appstate_fetch_iq(APPSTATE_CRITICAL_BLOCK, 12);
	c = binnode_child(binnode_child(iq, "sync"), "collection");
	T_OK(strcmp(binnode_attr(c, "version"), "12") == 0 &&
	    strcmp(binnode_attr(c, "return_snapshot"), "false") == 0,
	    "fetch after version 12");
	binnode_free(iq);

	/* server answer: both patches, with their versions */
	ans = binnode_new("iq");
	binnode_set_attrs(ans, "type", "result", NULL);
	coll = binnode_add_new(binnode_add_new(ans, "sync"), "collection");
	binnode_set_attrs(coll, "name", "regular_high", "version", "2",
	    "has_more_patches", "true", NULL);
	ps = binnode_add_new(coll, "patches");
	add_versioned(ps, pb, plen, 1);
	add_versioned(ps, pb2, plen2, 2);
	d = wire(ans, &b);
	T_EQ_INT(appstate_apply_answer(&rx, d, getkey, NULL, &more, &got,
	    &ngot), 0, "apply answer");
	T_EQ_INT(more, 1, "has_more_patches");
	T_EQ_INT(rx.version, 2, "answer brings version 2");
	T_EQ_MEM(rx.hash, 128, next2.hash, 128, "answer hash");
	T_EQ_INT(ngot, 4, "four mutations");
	T_OK(ngot == 4 && got[3].op == APPSTATE_REMOVE, "last is the remove");
	appstate_mutations_free(got, ngot);
	T_EQ_INT(appstate_apply_answer(&rx, d, getkey, NULL, &more, NULL,
	    NULL), 0, "same answer again: old patches skipped");
	T_EQ_INT(rx.version, 2, "  ... version unchanged");
	binnode_free(d);

	binnode_set_attr(coll, "type", "error");
	d = wire(ans, &b);
	T_EQ_INT(appstate_apply_answer(&rx, d, getkey, NULL, &more, NULL,
	    NULL), APPSTATE_ESERVER, "collection type=error");
	binnode_free(d);
	binnode_del_attr(coll, "type");
	binnode_add_new(coll, "snapshot");
	T_EQ_INT(appstate_apply_answer(&rx, ans, getkey, NULL, &more, NULL,
	    NULL), APPSTATE_EEXTERNAL, "snapshot needs a download");
	binnode_set_attr(coll, "name", "regular_low");
	T_EQ_INT(appstate_apply_answer(&rx, ans, getkey, NULL, &more, NULL,
	    NULL), APPSTATE_EINVAL, "other collection only");
	binnode_free(ans);

	free(pb);
	free(pb2);
	clear4(v1, v2);
	appstate_state_free(&cur);
	appstate_state_free(&next);
	appstate_state_free(&next2);
	appstate_state_free(&rx);
	buf_free(&b);
}

static void
test_snapshot(void)
{
	struct appstate_keys	  k;
	struct appstate_state	  st, rx;
	struct appstate_mutation  m[2];
	Syncd__SyncdSnapshot	  s = SYNCD__SYNCD_SNAPSHOT__INIT;
	Syncd__SyncdVersion	  v = SYNCD__SYNCD_VERSION__INIT;
	Syncd__KeyId		  kid = SYNCD__KEY_ID__INIT;
	Syncd__SyncdRecord	 *recs[2];
	uint8_t			  imac[2][32], vmac[2][32], *blob[2], mac[32];
	uint8_t			 *buf;
	size_t			  bl[2], len, i;

	mykeys(&k);
	appstate_pin(CHAT, 1, 7, &m[0]);
	appstate_pin("15550003333@s.whatsapp.net", 1, 8, &m[1]);
	appstate_state_init(&st, APPSTATE_REGULAR_LOW);
	appstate_state_init(&rx, APPSTATE_REGULAR_LOW);
	kid.has_id = 1;
	kid.id.data = (uint8_t *)KEYID;
	kid.id.len = 6;
	for (i = 0; i < 2; i++) {
		Syncd__SyncdRecord	*r = calloc(1, sizeof(*r));
		Syncd__SyncdIndex	*ix = calloc(1, sizeof(*ix));
		Syncd__SyncdValue	*vv = calloc(1, sizeof(*vv));

		appstate_encode_value(&k, KEYID, 6, &m[i], NULL, imac[i],
		    &blob[i], &bl[i], vmac[i]);
		syncd__syncd_record__init(r);
		syncd__syncd_index__init(ix);
		syncd__syncd_value__init(vv);
		ix->has_blob = vv->has_blob = 1;
		ix->blob.data = imac[i];
		ix->blob.len = 32;
		vv->blob.data = blob[i];
		vv->blob.len = bl[i];
		r->index = ix;
		r->value = vv;
		r->keyid = &kid;
		recs[i] = r;
		appstate_state_put(&st, imac[i], vmac[i]);
		appstate_lthash_add(st.hash, vmac[i]);
	}
	st.version = 40;
	appstate_snapshot_mac(&st, &k, mac);
	v.has_version = 1;
	v.version = 40;
	s.version = &v;
	s.n_records = 2;
	s.records = recs;
	s.has_mac = 1;
	s.mac.data = mac;
	s.mac.len = 32;
	s.keyid = &kid;
	len = syncd__syncd_snapshot__get_packed_size(&s);
	buf = malloc(len);
	syncd__syncd_snapshot__pack(&s, buf);
	T_EQ_INT(appstate_apply_snapshot(&rx, buf, len, getkey, NULL, NULL,
	    NULL), 0, "snapshot applies");
	T_EQ_INT(rx.version, 40, "snapshot version");
	T_EQ_INT(rx.nentries, 2, "snapshot entries");
	T_EQ_MEM(rx.hash, 128, st.hash, 128, "snapshot hash");
	mac[0] ^= 1;
	syncd__syncd_snapshot__pack(&s, buf);
	T_EQ_INT(appstate_apply_snapshot(&rx, buf, len, getkey, NULL, NULL,
	    NULL), APPSTATE_ESNAPSHOTMAC, "bad snapshot MAC");
	T_EQ_INT(rx.version, 40, "  ... state kept");
	for (i = 0; i < 2; i++) {
		free(recs[i]->index);
		free(recs[i]->value);
		free(recs[i]);
		free(blob[i]);
		appstate_mutation_clear(&m[i]);
	}
	free(buf);
	appstate_state_free(&st);
	appstate_state_free(&rx);
}

/* --- oracle exchange with tests/system/test_appstate_oracle.mjs --- */

static int
write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char	 path[4096];
	FILE	*f;
	int	 ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	ok = fwrite(p, 1, len, f) == len;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void
hexstr(char *out, const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static char *
read_in(const char *dir, const char *name, size_t *len)
{
	char	path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return t_read_file(path, len);
}

/* Our patches for Baileys: c_patch1.bin (v1), c_patch2.bin (v2) and
 * c_meta.json with the keys, LTHash values and the states after each. */
static void
oracle_write(const char *dir)
{
	struct appstate_keys	  k;
	struct appstate_state	  s0, s1, s2;
	struct appstate_mutation  v1[2], v2[2];
	uint8_t			 *p1 = NULL, *p2 = NULL, kd[32], m1[32],
				  m2[32], lt[128];
	char			  h[5][65], kdh[65], s1h[257], s2h[257],
				  lth[257], *js;
	size_t			  l1, l2;
	int			  i, r;

	mykeys(&k);
	keydata(kd);
	two_patches(v1, v2);
	appstate_state_init(&s0, APPSTATE_REGULAR_HIGH);
	r = appstate_build_patch(&s0, &k, KEYID, 6, v1, 2, NULL, &p1, &l1,
	    &s1);
	r |= appstate_build_patch(&s1, &k, KEYID, 6, v2, 2, NULL, &p2, &l2,
	    &s2);
	T_EQ_INT(r, 0, "oracle: build our patches");
	memset(m1, 0xab, 32);
	for (i = 0; i < 32; i++)
		m2[i] = (uint8_t)(32 + i);
	memset(lt, 0, sizeof(lt));
	appstate_lthash_add(lt, m1);
	appstate_lthash_add(lt, m2);
	hexstr(h[0], k.index, 32);
	hexstr(h[1], k.value_enc, 32);
	hexstr(h[2], k.value_mac, 32);
	hexstr(h[3], k.snapshot_mac, 32);
	hexstr(h[4], k.patch_mac, 32);
	hexstr(kdh, kd, 32);
	hexstr(s1h, s1.hash, 128);
	hexstr(s2h, s2.hash, 128);
	hexstr(lth, lt, 128);
	if (xasprintf(&js, "{\"keyData\":\"%s\",\"keyId\":\"000000004232\","
	    "\"keys\":[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"],"
	    "\"collection\":\"regular_high\",\"lthashAB20\":\"%s\","
	    "\"hash1\":\"%s\",\"hash2\":\"%s\",\"index1\":[%s,%s],"
	    "\"index2\":[%s,%s]}\n", kdh, h[0], h[1], h[2], h[3], h[4], lth,
	    s1h, s2h, v1[0].index, v1[1].index, v2[0].index, v2[1].index) < 0)
		js = NULL;
	T_OK(js != NULL && write_file(dir, "c_meta.json", js, strlen(js)) == 0 &&
	    write_file(dir, "c_patch1.bin", p1, l1) == 0 &&
	    write_file(dir, "c_patch2.bin", p2, l2) == 0,
	    "oracle: wrote c_patch1/2.bin, c_meta.json");
	free(js);
	free(p1);
	free(p2);
	clear4(v1, v2);
	appstate_state_free(&s0);
	appstate_state_free(&s1);
	appstate_state_free(&s2);
}

/* Baileys' patches: b_patch1.bin (star), b_patch2.bin (unstar, same
 * index), b_meta.json-ish flat files b_hash1.hex, b_hash2.hex, b_index.txt
 * with Baileys' LTHash after each and the index it used. */
static void
oracle_check(const char *dir)
{
	struct appstate_state	  st;
	struct appstate_mutation *got = NULL;
	Syncd__SyncActionValue	 *v;
	char			 *p1, *p2, *h1, *h2, *idx, *name;
	size_t			  l1 = 0, l2 = 0, ngot = 0;

	p1 = read_in(dir, "b_patch1.bin", &l1);
	p2 = read_in(dir, "b_patch2.bin", &l2);
	h1 = read_in(dir, "b_hash1.hex", NULL);
	h2 = read_in(dir, "b_hash2.hex", NULL);
	idx = read_in(dir, "b_index.txt", NULL);
	name = read_in(dir, "b_name.txt", NULL);
	if (!T_OK(p1 && p2 && h1 && h2 && idx && name,
	    "oracle: Baileys' patches present"))
		goto out;
	appstate_state_init(&st, name);
	T_EQ_INT(appstate_apply_patch(&st, (uint8_t *)p1, l1, 0, getkey,
	    NULL, &got, &ngot), 0, "oracle: Baileys star patch verifies");
	T_EQ_INT(st.version, 1, "oracle: version 1");
	T_OK(hexeq(st.hash, 128, h1), "oracle: LTHash == Baileys' after v1");
	T_OK(ngot == 1 && strcmp(got[0].index, idx) == 0,
	    "oracle: index recovered");
	v = ngot == 1 ? syncd__sync_action_value__unpack(NULL,
	    got[0].value_len, got[0].value) : NULL;
	T_OK(v && v->staraction && v->staraction->starred,
	    "oracle: starAction.starred");
	if (v)
		syncd__sync_action_value__free_unpacked(v, NULL);
	appstate_mutations_free(got, ngot);
	T_EQ_INT(appstate_apply_patch(&st, (uint8_t *)p2, l2, 0, getkey,
	    NULL, &got, &ngot), 0, "oracle: Baileys unstar patch verifies");
	T_EQ_INT(st.version, 2, "oracle: version 2");
	T_OK(hexeq(st.hash, 128, h2), "oracle: LTHash == Baileys' after v2");
	T_EQ_INT(st.nentries, 1, "oracle: overwrite kept one entry");
	appstate_mutations_free(got, ngot);
	appstate_state_free(&st);
out:
	free(p1);
	free(p2);
	free(h1);
	free(h2);
	free(idx);
	free(name);
}

static void
test_oracle_dump(void)
{
	const char	*dir = getenv("APPSTATE_ORACLE_DIR");

	if (dir == NULL || *dir == '\0')
		return;
	oracle_write(dir);
	oracle_check(dir);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_keys);
	T_RUN(test_lthash);
	T_RUN(test_record_roundtrip);
	T_RUN(test_builders);
	T_RUN(test_index_json);
	T_RUN(test_patch_apply);
	T_RUN(test_iq_and_answer);
	T_RUN(test_snapshot);
	T_RUN(test_oracle_dump);
	return t_done();
}
