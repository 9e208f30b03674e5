/* test_syncd.c - app state wiring without a server: the key share of a
 * protocolMessage stored (and what is not one ignored), the newest key
 * chosen, a collection's state saved as a difference and loaded back
 * equal, the local effects (star, delete for me, chat flags), logout
 * forgetting it all, and syncd_send refusing clearly when it cannot go.
 * The network half runs against tests/fakewa and Baileys in
 * tests/system/test_e2e_appstate.py. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>

#include "t.h"
#include "appstate.h"
#include "log.h"
#include "store.h"
#include "store-appstate.h"
#include "store-msg.h"
#include "store-sig.h"
#include "syncd.h"
#include "wa.pb-c.h"
#include "xmalloc.h"

static char tmpdir[256];

static struct store *
open_store(const char *name)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, name);
	return store_open(dir);
}

/* A packed Message{protocolMessage{type, appStateSyncKeyShare{keys}}}. */
static uint8_t *
key_share(int type, const uint8_t (*ids)[6], const uint8_t (*datas)[32],
    const int64_t *ts, size_t n, size_t *len)
{
	Wa__Message m = WA__MESSAGE__INIT;
	Wa__ProtocolMessage pm = WA__PROTOCOL_MESSAGE__INIT;
	Wa__AppStateSyncKeyShare ks = WA__APP_STATE_SYNC_KEY_SHARE__INIT;
	Wa__AppStateSyncKey k[4], *kp[4];
	Wa__AppStateSyncKeyId kid[4];
	Wa__AppStateSyncKeyData kd[4];
	Wa__AppStateSyncKeyFingerprint fp = WA__APP_STATE_SYNC_KEY_FINGERPRINT__INIT;
	uint8_t *out;
	size_t i;

	for (i = 0; i < n; i++) {
		wa__app_state_sync_key__init(&k[i]);
		wa__app_state_sync_key_id__init(&kid[i]);
		wa__app_state_sync_key_data__init(&kd[i]);
		kid[i].has_keyid = 1;
		kid[i].keyid.data = (uint8_t *)ids[i];
		kid[i].keyid.len = 6;
		kd[i].has_keydata = 1;
		kd[i].keydata.data = (uint8_t *)datas[i];
		kd[i].keydata.len = 32;
		kd[i].has_timestamp = 1;
		kd[i].timestamp = ts[i];
		kd[i].fingerprint = &fp;
		k[i].keyid = &kid[i];
		k[i].keydata = &kd[i];
		kp[i] = &k[i];
	}
	fp.has_rawid = 1;
	fp.rawid = 7;
	ks.n_keys = n;
	ks.keys = kp;
	pm.has_type = 1;
	pm.type = (Wa__ProtocolMessage__Type)type;
	pm.appstatesynckeyshare = &ks;
	m.protocolmessage = &pm;
	*len = wa__message__get_packed_size(&m);
	out = xmalloc(*len);
	wa__message__pack(&m, out);
	return out;
}

static void
test_keys(void)
{
	static const uint8_t ids[2][6] = { { 0, 0, 0, 0, 1, 1 },
	    { 0, 0, 0, 0, 2, 2 } };
	uint8_t datas[2][32], got[STORE_AS_KEYDATA_MAX], id[64], *msg;
	int64_t ts[2] = { 1000, 2000 };
	size_t len, glen, idlen;
	struct store *s = open_store("keys");

	memset(datas[0], 0x11, 32);
	memset(datas[1], 0x22, 32);
	T_OK(s != NULL, "store");
	T_EQ_INT(store_as_key_count(s), 0, "no keys at first");
	T_EQ_INT(store_as_key_latest(s, id, sizeof(id), &idlen, got, &glen), 1,
	    "no latest key");

	/* type 7 (a key request) is not a share */
	msg = key_share(7, ids, datas, ts, 2, &len);
	T_EQ_INT(syncd_take_keys(s, msg, len), 0, "a key request stores nothing");
	free(msg);
	T_EQ_INT(syncd_take_keys(s, (const uint8_t *)"\x0a\x02hi", 4), 0,
	    "a text message is not a share");
	T_EQ_INT(syncd_take_keys(s, (const uint8_t *)"\xff\xff\xff", 3), 0,
	    "garbage is not a share");
	T_EQ_INT(store_as_key_count(s), 0, "still no keys");

	msg = key_share(6, ids, datas, ts, 2, &len);
	T_EQ_INT(syncd_take_keys(s, msg, len), 1, "a share stores its keys");
	free(msg);
	T_EQ_INT(store_as_key_count(s), 2, "two keys");
	T_EQ_INT(store_as_key_get(s, ids[0], 6, got, &glen), 0, "first key");
	T_EQ_MEM(got, glen, datas[0], 32, "first key data");
	T_EQ_INT(store_as_key_latest(s, id, sizeof(id), &idlen, got, &glen), 0,
	    "latest key");
	T_EQ_MEM(id, idlen, ids[1], 6, "the newest timestamp wins");
	T_EQ_MEM(got, glen, datas[1], 32, "its data");
	T_EQ_INT(store_as_key_get(s, (const uint8_t *)"nope", 4, got, &glen), 1,
	    "unknown id");

	/* the same share again replaces, does not duplicate */
	msg = key_share(6, ids, datas, ts, 2, &len);
	T_EQ_INT(syncd_take_keys(s, msg, len), 1, "repeated share");
	free(msg);
	T_EQ_INT(store_as_key_count(s), 2, "still two keys");

	T_EQ_INT(store_forget_account(s), 0, "logout");
	T_EQ_INT(store_as_key_count(s), 0, "logout forgets the keys");
	store_close(s);
}

static void
mac(uint8_t out[APPSTATE_MAC_LEN], int i, int v)
{
	memset(out, 0, APPSTATE_MAC_LEN);
	out[0] = (uint8_t)(i >> 8);
	out[1] = (uint8_t)i;
	out[31] = (uint8_t)v;
}

static int
state_equal(const struct appstate_state *a, const struct appstate_state *b)
{
	return strcmp(a->name, b->name) == 0 && a->version == b->version &&
	    memcmp(a->hash, b->hash, sizeof(a->hash)) == 0 &&
	    a->nentries == b->nentries && (a->nentries == 0 ||
	    memcmp(a->entries, b->entries, a->nentries *
	    sizeof(*a->entries)) == 0);
}

static int
mac_rows(struct store *s)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM "
	    "app_state_macs", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
test_state(void)
{
	struct appstate_state empty, a, b, got;
	uint8_t im[APPSTATE_MAC_LEN], vm[APPSTATE_MAC_LEN];
	struct store *s = open_store("state");
	int i;

	appstate_state_init(&empty, APPSTATE_REGULAR_HIGH);
	appstate_state_init(&a, APPSTATE_REGULAR_HIGH);
	appstate_state_init(&got, APPSTATE_REGULAR_HIGH);
	T_EQ_INT(store_as_state_load(s, &got), 0, "load a collection never "
	    "synced");
	T_OK(got.version == 0 && got.nentries == 0, "it is empty, version 0");

	/* 300 entries, inserted out of order */
	for (i = 299; i >= 0; i--) {
		mac(im, i * 7 % 300, 0);
		mac(vm, i, 1);
		T_OK(appstate_state_put(&a, im, vm) == 0, "put %d", i);
	}
	a.version = 5;
	randombytes_buf(a.hash, sizeof(a.hash));
	T_EQ_INT(store_begin(s), 0, "begin");
	T_EQ_INT(store_as_state_save(s, &empty, &a), 0, "save 300");
	T_EQ_INT(store_commit(s), 0, "commit");
	T_EQ_INT(mac_rows(s), 300, "300 rows");
	appstate_state_free(&got);
	appstate_state_init(&got, APPSTATE_REGULAR_HIGH);
	T_EQ_INT(store_as_state_load(s, &got), 0, "load");
	T_OK(state_equal(&a, &got), "loaded == saved");

	/* change 10, delete 20, add 5: only the difference is written */
	appstate_state_copy(&b, &a);
	for (i = 0; i < 10; i++) {
		mac(im, i, 0);
		mac(vm, i, 9);
		appstate_state_put(&b, im, vm);
	}
	for (i = 100; i < 120; i++) {
		mac(im, i, 0);
		appstate_state_del(&b, im);
	}
	for (i = 1000; i < 1005; i++) {
		mac(im, i, 0);
		mac(vm, i, 2);
		appstate_state_put(&b, im, vm);
	}
	b.version = 6;
	randombytes_buf(b.hash, sizeof(b.hash));
	T_EQ_INT(store_begin(s), 0, "begin");
	T_EQ_INT(store_as_state_save(s, &a, &b), 0, "save the difference");
	T_EQ_INT(store_commit(s), 0, "commit");
	T_EQ_INT(mac_rows(s), 285, "300 - 20 + 5 rows");
	appstate_state_free(&got);
	appstate_state_init(&got, APPSTATE_REGULAR_HIGH);
	T_EQ_INT(store_as_state_load(s, &got), 0, "load");
	T_OK(state_equal(&b, &got), "loaded == the new state");

	/* another collection is separate; drop forgets only one */
	appstate_state_free(&got);
	appstate_state_init(&got, APPSTATE_REGULAR_LOW);
	T_EQ_INT(store_as_state_load(s, &got), 0, "other collection");
	T_OK(got.nentries == 0 && got.version == 0, "untouched");
	T_EQ_INT(store_begin(s), 0, "begin");
	T_EQ_INT(store_as_state_drop(s, APPSTATE_REGULAR_HIGH), 0, "drop");
	T_EQ_INT(store_commit(s), 0, "commit");
	appstate_state_free(&got);
	appstate_state_init(&got, APPSTATE_REGULAR_HIGH);
	T_EQ_INT(store_as_state_load(s, &got), 0, "load dropped");
	T_OK(got.nentries == 0 && got.version == 0, "back to version 0");
	T_EQ_INT(mac_rows(s), 0, "no rows left");

	appstate_state_free(&a);
	appstate_state_free(&b);
	appstate_state_free(&got);
	store_close(s);
}

static void
test_effects(void)
{
	struct store *s = open_store("effects");
	struct store_msg sm;
	json_object *chats;
	const char *chat = "15550001111@s.whatsapp.net", *js;

	memset(&sm, 0, sizeof(sm));
	sm.chat = chat;
	sm.id = "3EB0AAAA";
	sm.sender = chat;
	sm.ts = 1700000000;
	sm.type = "text";
	sm.body = "hi";
	T_EQ_INT(store_msg_put(s, &sm), 0, "a message");
	T_EQ_INT(store_msg_starred(s, chat, "3EB0AAAA"), 0, "not starred");
	T_EQ_INT(store_msg_set_starred(s, chat, "3EB0AAAA", 1), 0, "star");
	T_EQ_INT(store_msg_starred(s, chat, "3EB0AAAA"), 1, "starred");
	/* the index may name the chat by LID: found by id */
	T_EQ_INT(store_msg_set_starred(s, "999@lid", "3EB0AAAA", 0), 0,
	    "unstar by id");
	T_EQ_INT(store_msg_starred(s, chat, "3EB0AAAA"), 0, "unstarred");
	T_EQ_INT(store_msg_set_starred(s, chat, "NOPE", 1), 1, "no such "
	    "message");
	T_EQ_INT(store_msg_delete(s, chat, "3EB0AAAA"), 0, "delete for me");
	T_EQ_INT(store_msg_delete(s, chat, "3EB0AAAA"), 1, "gone");
	T_EQ_INT(store_chat_set(s, chat, "pinned", 1), 0, "pin a chat row "
	    "that did not exist");
	T_EQ_INT(store_chat_set(s, chat, "archived", 1), 0, "archive");
	T_EQ_INT(store_chat_set(s, chat, "muted_until", -1), 0, "mute");
	T_EQ_INT(store_chat_set(s, chat, "name; DROP TABLE chats", 1), -1,
	    "unknown column refused");
	T_EQ_INT(store_contact_name(s, chat, "Ann"), 0, "contact name");
	chats = store_chats_json(s, 10, 0, NULL);
	js = chats != NULL ? json_object_to_json_string_ext(chats,
	    JSON_C_TO_STRING_PLAIN) : "NULL";
	T_OK(strstr(js, "\"name\":\"Ann\"") != NULL &&
	    strstr(js, "\"pinned\":true") != NULL &&
	    strstr(js, "\"archived\":true") != NULL &&
	    strstr(js, "\"muted_until\":-1") != NULL,
	    "the chat list shows the address-book name, pin, archive, mute: "
	    "%s", js);
	json_object_put(chats);
	chats = store_chats_json(s, 10, 0, "Ann");
	T_OK(chats != NULL && json_object_array_length(chats) == 1,
	    "search finds the chat by that name");
	json_object_put(chats);
	T_EQ_INT(store_contact_name(s, chat, NULL), 0, "cleared");
	store_close(s);
}

/* syncd_send: clear answers when it cannot go, the mutation freed. */
static int	last_status;
static char	last_code[64];

static void
on_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	last_status = status;
	snprintf(last_code, sizeof(last_code), "%s", code);
}

static void
test_send_refused(void)
{
	struct store *s = open_store("send");
	struct syncd_out out;
	struct syncd *sy;
	struct appstate_mutation mu;

	memset(&out, 0, sizeof(out));
	out.reply = on_reply;
	sy = syncd_new(s, &out);
	T_EQ_INT(appstate_star("15550001111@s.whatsapp.net", "3EB0", 1, NULL,
	    1, 0, &mu), 0, "a star mutation");
	syncd_send(sy, 1, APPSTATE_REGULAR_HIGH, &mu, "ok", NULL);
	T_EQ_INT(last_status, 503, "offline: 503");
	T_EQ_STR(last_code, "NOT_CONNECTED", "offline: NOT_CONNECTED");
	T_OK(mu.index == NULL && mu.value == NULL, "mutation released");
	syncd_free(sy);
	store_close(s);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/test_syncd.XXXXXX";

	t_init(argc, argv);
	log_init("test_syncd", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	if (sodium_init() < 0 || mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	T_RUN(test_keys);
	T_RUN(test_state);
	T_RUN(test_effects);
	T_RUN(test_send_refused);
	return t_done();
}
