/*
 * test_msgr.c - the receive path of msgr.c, in-process and deterministic:
 * a paired device (fresh keys, store.db in a temporary directory, a conn
 * that never connects, a message webhook URL nobody serves so events are
 * only queued) and a fake peer that starts a Signal session against the
 * device's bundle (identity, signed prekey, one stored one-time prekey)
 * and sends padded wamsg.Message bytes as <enc type="pkmsg">.
 *   - a valid pkmsg is stored (store_msg_find, GET /chat/:jid/messages,
 *     GET /message/:id) with exactly one webhook and one event, and the
 *     one-time prekey is consumed;
 *   - the same stanza again, and the same id under a fresh ciphertext,
 *     store nothing more; a new id does (the positive control);
 *   - a tampered ciphertext (alone, or beside a good one) stores
 *     nothing, keeps the prekey (rolled back), and the untampered one
 *     still decrypts afterwards;
 *   - an SKDM + skmsg group message lands in the group chat;
 *   - receipts and acks for unknown ids change nothing and do not crash;
 *   - without a conn, msgr_node leaves stanzas alone.
 *     build/tests/test_msgr [name...]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "wamsg.pb-c.h"

#include "t.h"
#include "binnode.h"
#include "conn.h"
#include "creds.h"
#include "log.h"
#include "msg-node.h"
#include "msghook.h"
#include "msgr.h"
#include "padding.h"
#include "signal-group.h"
#include "signal-keys.h"
#include "signal-session.h"
#include "store.h"
#include "store-sig.h"

#define OWN_JID		"15550001111:1@s.whatsapp.net"
#define PEER_DEV	"15551234567:2@s.whatsapp.net"
#define PEER_CHAT	"15551234567@s.whatsapp.net"
#define GROUP		"120363012345678901@g.us"
#define MSG_ID		"3EB0AABBCCDDEEFF0011"
#define MSG_ID2		"3EB0AABBCCDDEEFF0022"
#define PREKEY_ID	100

static char tmpdir[256];

/* ------------------------------------------------------------ fixture */

struct fx {
	char			 dir[320];
	struct store		*st;
	struct creds		 creds;
	struct signal_prekey	 prekey;
	struct conn		*conn;
	struct msgr		*m;
	/* what msgr gave back */
	int			 nevents;
	char			 evtype[64];
	int			 nreplies;
	int			 status;
	char			 body[4096];
};

static void
fx_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	struct fx *f = arg;

	(void)reqid;
	(void)code;
	(void)message;
	f->nreplies++;
	f->status = status;
	snprintf(f->body, sizeof(f->body), "%s", json != NULL ? json : "");
}

static void
fx_event(void *arg, const char *type, const char *json)
{
	struct fx *f = arg;

	(void)json;
	f->nevents++;
	snprintf(f->evtype, sizeof(f->evtype), "%s", type);
}

static void
fx_creds(void *arg)
{
	(void)arg;
}

static int
fx_open(struct fx *f, const char *name)
{
	struct msgr_out out;
	struct conn_cfg cfg;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/%s", tmpdir, name);
	if ((f->st = store_open(f->dir)) == NULL)
		return -1;
	creds_generate(&f->creds);
	snprintf(f->creds.jid, sizeof(f->creds.jid), "%s", OWN_JID);
	(void)signal_prekeys_generate(&f->prekey, 1, PREKEY_ID);
	if (store_prekeys_put(f->st, &f->prekey, 1) != 0)
		return -1;
	conn_cfg_default(&cfg);
	/* nothing listens there, and it is never started */
	snprintf(cfg.url, sizeof(cfg.url), "ws://127.0.0.1:9/ws/chat");
	f->conn = conn_new(&cfg, &f->creds, NULL);
	memset(&out, 0, sizeof(out));
	out.arg = f;
	out.reply = fx_reply;
	out.event = fx_event;
	out.creds_changed = fx_creds;
	f->m = msgr_new(f->st, &f->creds, "0123456789abcdef", &out);
	msgr_set_conn(f->m, f->conn);
	return 0;
}

static void
fx_close(struct fx *f)
{
	char p[400];

	msgr_free(f->m);
	conn_free(f->conn);
	store_close(f->st);
	creds_clear(&f->creds);
	snprintf(p, sizeof(p), "%s/store.db", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/store.db-wal", f->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/store.db-shm", f->dir);
	unlink(p);
	rmdir(f->dir);
}

static long
fx_count(struct fx *f, const char *table)
{
	sqlite3_stmt *q;
	char sql[128];
	long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(store_db(f->st), sql, -1, &q, NULL) ==
	    SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* The payload of the only webhook row ("" if not exactly one). */
static void
fx_hook(struct fx *f, char *out, size_t outsz)
{
	sqlite3_stmt *q;
	const unsigned char *t;

	out[0] = '\0';
	if (fx_count(f, "webhook_queue") != 1)
		return;
	if (sqlite3_prepare_v2(store_db(f->st), "SELECT payload FROM "
	    "webhook_queue", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW &&
	    (t = sqlite3_column_text(q, 0)) != NULL)
		snprintf(out, outsz, "%s", (const char *)t);
	sqlite3_finalize(q);
}

static void
fx_get(struct fx *f, const char *route, const char *query)
{
	f->nreplies = 0;
	f->status = 0;
	f->body[0] = '\0';
	(void)msgr_call(f->m, 7, "GET", route, query, query ? strlen(query) :
	    0, NULL, 0, NULL);
}

static struct msgr_stats
fx_stats(struct fx *f)
{
	struct msgr_stats s;

	msgr_stats(f->m, &s);
	return s;
}

/* ------------------------------------------------------------ the peer */

struct peer {
	struct signal_keypair	 id;
	uint32_t		 regid;
	uint8_t			*st;
	size_t			 stlen;
};

/* X3DH against the device's bundle, with its one-time prekey. */
static int
peer_init(struct peer *p, const struct fx *f)
{
	struct signal_bundle b;

	memset(p, 0, sizeof(*p));
	signal_keypair_generate(&p->id);
	p->regid = signal_registration_id_generate();
	memset(&b, 0, sizeof(b));
	b.registration_id = f->creds.registration_id;
	memcpy(b.identity_pub, f->creds.identity.pub, 32);
	b.signed_prekey_id = f->creds.spk.id;
	memcpy(b.signed_prekey_pub, f->creds.spk.kp.pub, 32);
	memcpy(b.signed_prekey_sig, f->creds.spk.sig, 64);
	b.has_prekey = 1;
	b.prekey_id = f->prekey.id;
	memcpy(b.prekey_pub, f->prekey.kp.pub, 32);
	return signal_session_initiate(&p->id, p->regid, &b, NULL, 0, &p->st,
	    &p->stlen);
}

static void
peer_free(struct peer *p)
{
	signal_free_secret(p->st, p->stlen);
	p->st = NULL;
}

/* Padded and encrypted: the type (pkmsg until we reply) or -1. */
static int
peer_encrypt(struct peer *p, const uint8_t *msg, size_t len, uint8_t **ct,
    size_t *ctlen)
{
	uint8_t *padded, *ns;
	size_t plen, nslen;
	int type;

	*ct = NULL;
	if (padding_add(msg, len, 0, &padded, &plen) != 0)
		return -1;
	if (signal_session_encrypt(p->st, p->stlen, padded, plen, &type, ct,
	    ctlen, &ns, &nslen) != 0) {
		free(padded);
		return -1;
	}
	free(padded);
	signal_free_secret(p->st, p->stlen);
	p->st = ns;
	p->stlen = nslen;
	return type;
}

static uint8_t *
text_message(const char *text, size_t *len)
{
	Wamsg__Message m = WAMSG__MESSAGE__INIT;
	uint8_t *p;

	m.conversation = (char *)text;
	*len = wamsg__message__get_packed_size(&m);
	p = malloc(*len);
	if (p == NULL)
		abort();
	wamsg__message__pack(&m, p);
	return p;
}

/* Encrypt a text: ciphertext (malloc'd) and whether it is a pkmsg. */
static uint8_t *
peer_text(struct peer *p, const char *text, size_t *ctlen, int *type)
{
	uint8_t *msg, *ct;
	size_t len;

	msg = text_message(text, &len);
	*type = peer_encrypt(p, msg, len, &ct, ctlen);
	free(msg);
	return ct;
}

/* <message from id type t notify><enc v=2 type>ct</enc>...</message> */
static struct binnode *
stanza(const char *from, const char *participant, const char *id,
    const char *t1, const uint8_t *ct1, size_t len1, const char *t2,
    const uint8_t *ct2, size_t len2)
{
	struct binnode *n = binnode_new("message"), *e;

	binnode_set_attrs(n, "from", from, "id", id, "type", "text",
	    "t", "1700000100", "notify", "Peer", NULL);
	if (participant != NULL)
		binnode_set_attr(n, "participant", participant);
	e = binnode_add_new(n, "enc");
	binnode_set_attrs(e, "v", "2", "type", t1, NULL);
	binnode_set_bytes(e, ct1, len1);
	if (t2 != NULL) {
		e = binnode_add_new(n, "enc");
		binnode_set_attrs(e, "v", "2", "type", t2, NULL);
		binnode_set_bytes(e, ct2, len2);
	}
	return n;
}

/* -------------------------------------------------------------- tests */

static void
test_pkmsg_stored(void)
{
	struct fx f;
	struct peer p;
	struct store_msg_ref ref;
	struct signal_keypair kp;
	struct binnode *n;
	struct msgr_stats s;
	uint8_t *ct;
	size_t ctlen;
	char *body = NULL, hook[4096];
	int type;

	if (!T_OK(fx_open(&f, "stored") == 0, "device store"))
		return;
	T_OK(peer_init(&p, &f) == 0, "peer starts a session from our bundle");
	ct = peer_text(&p, "hello", &ctlen, &type);
	T_EQ_INT(type, SIGNAL_MSG_TYPE_PKMSG, "first message is a pkmsg");
	n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct, ctlen, NULL, NULL, 0);
	T_EQ_INT(msgr_node(f.m, n), 1, "msgr takes the <message>");
	s = fx_stats(&f);
	T_EQ_INT(s.received, 1, "received 1");
	T_EQ_INT(s.undecryptable, 0, "nothing undecryptable");
	T_EQ_INT(s.retries, 0, "no retry receipt");

	T_EQ_INT(store_msg_find(f.st, PEER_CHAT, MSG_ID, &ref, &body, NULL,
	    NULL), 0, "stored in the peer's chat");
	T_EQ_STR(body, "hello", "body is the text");
	T_EQ_STR(ref.sender, PEER_DEV, "sender is the peer's device");
	T_EQ_STR(ref.type, "text", "type text");
	T_EQ_INT(ref.from_me, 0, "not from me");
	T_EQ_INT(ref.ts, 1700000100, "timestamp from t");
	free(body);
	T_EQ_INT(fx_count(&f, "messages"), 1, "exactly one message row");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 1, "exactly one webhook");
	fx_hook(&f, hook, sizeof(hook));
	T_OK(strstr(hook, MSG_ID) != NULL && strstr(hook, "hello") != NULL,
	    "webhook payload names the id and the text: %.200s", hook);
	T_EQ_INT(f.nevents, 1, "one event");
	T_EQ_STR(f.evtype, "message", "a message event");
	T_EQ_INT(store_prekey_get(f.st, PREKEY_ID, &kp), 1,
	    "the one-time prekey is consumed");
	T_EQ_INT(fx_count(&f, "sessions"), 1, "the session is stored");

	fx_get(&f, "/chat/15551234567/messages", NULL);
	T_EQ_INT(f.status, 200, "GET /chat/:jid/messages 200");
	T_OK(strstr(f.body, MSG_ID) != NULL && strstr(f.body,
	    "\"hello\"") != NULL, "listed with its text: %.300s", f.body);
	fx_get(&f, "/message/" MSG_ID, NULL);
	T_EQ_INT(f.status, 200, "GET /message/:id 200");
	T_OK(strstr(f.body, "\"received\"") != NULL, "status received: %.300s",
	    f.body);

	binnode_free(n);
	free(ct);
	peer_free(&p);
	fx_close(&f);
}

static void
test_redelivery(void)
{
	struct fx f;
	struct peer p;
	struct binnode *n;
	struct msgr_stats s;
	uint8_t *ct, *ct2, *ct3;
	size_t ctlen, ct2len, ct3len;
	int type;

	if (!T_OK(fx_open(&f, "dup") == 0, "device store"))
		return;
	peer_init(&p, &f);
	ct = peer_text(&p, "hello", &ctlen, &type);
	n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct, ctlen, NULL, NULL, 0);
	msgr_node(f.m, n);
	T_EQ_INT(fx_count(&f, "messages"), 1, "first delivery stored");

	/* the very same stanza (the server redelivers after a lost ack) */
	T_EQ_INT(msgr_node(f.m, n), 1, "taken again");
	s = fx_stats(&f);
	T_EQ_INT(s.received, 1, "same stanza: not received twice");
	T_EQ_INT(s.dup, 1, "counted as a duplicate");
	T_EQ_INT(fx_count(&f, "messages"), 1, "same stanza: one message row");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 1, "same stanza: one webhook");
	T_EQ_INT(f.nevents, 1, "same stanza: one event");
	binnode_free(n);

	/* the same id, encrypted again (the sender re-sent after a retry) */
	ct2 = peer_text(&p, "hello", &ct2len, &type);
	n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct2, ct2len, NULL, NULL,
	    0);
	T_EQ_INT(msgr_node(f.m, n), 1, "taken");
	s = fx_stats(&f);
	T_EQ_INT(s.received, 1, "same id: not received twice");
	T_EQ_INT(s.undecryptable, 0, "it did decrypt");
	T_EQ_INT(fx_count(&f, "messages"), 1, "same id: one message row");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 1, "same id: one webhook");
	T_EQ_INT(f.nevents, 1, "same id: one event");
	binnode_free(n);

	/* the control: a new id is a new message */
	ct3 = peer_text(&p, "second", &ct3len, &type);
	n = stanza(PEER_DEV, NULL, MSG_ID2, "pkmsg", ct3, ct3len, NULL, NULL,
	    0);
	msgr_node(f.m, n);
	s = fx_stats(&f);
	T_EQ_INT(s.received, 2, "a new id is received");
	T_EQ_INT(fx_count(&f, "messages"), 2, "a new id: second row");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 2, "a new id: second webhook");
	T_EQ_INT(f.nevents, 2, "a new id: second event");
	binnode_free(n);

	free(ct);
	free(ct2);
	free(ct3);
	peer_free(&p);
	fx_close(&f);
}

static void
test_tampered(void)
{
	static const size_t flips[] = { 1, 12, 40 };	/* from the end */
	struct fx f;
	struct peer p;
	struct signal_keypair kp;
	struct store_msg_ref ref;
	struct binnode *n;
	struct msgr_stats s;
	uint8_t *ct;
	size_t ctlen, i;
	int type;

	if (!T_OK(fx_open(&f, "tampered") == 0, "device store"))
		return;
	peer_init(&p, &f);
	ct = peer_text(&p, "hello", &ctlen, &type);
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		ct[ctlen - flips[i]] ^= 0x01;
		n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct, ctlen, NULL,
		    NULL, 0);
		T_EQ_INT(msgr_node(f.m, n), 1, "tampered stanza taken");
		binnode_free(n);
		ct[ctlen - flips[i]] ^= 0x01;
		s = fx_stats(&f);
		T_EQ_INT(s.undecryptable, i + 1, "counted undecryptable");
		T_EQ_INT(s.received, 0, "not received");
		T_EQ_INT(fx_count(&f, "messages"), 0, "tampered: nothing stored");
		T_EQ_INT(fx_count(&f, "webhook_queue"), 0,
		    "tampered: no webhook");
		T_EQ_INT(fx_count(&f, "sessions"), 0,
		    "tampered: no session kept");
		T_EQ_INT(store_prekey_get(f.st, PREKEY_ID, &kp), 0,
		    "tampered: the prekey is still there");
		T_EQ_INT(f.nevents, 0, "tampered: no event");
	}
	/* a good pkmsg beside a bad enc: the whole stanza is rolled back */
	n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct, ctlen, "msg",
	    (const uint8_t *)"\x33garbage", 8);
	T_EQ_INT(msgr_node(f.m, n), 1, "good + bad enc taken");
	binnode_free(n);
	T_EQ_INT(fx_count(&f, "messages"), 0, "good + bad: nothing stored");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 0, "good + bad: no webhook");
	T_EQ_INT(fx_count(&f, "sessions"), 0,
	    "good + bad: the good enc's session is not kept");
	T_EQ_INT(store_prekey_get(f.st, PREKEY_ID, &kp), 0,
	    "good + bad: the prekey is not consumed");
	T_EQ_INT(fx_stats(&f).retries, 4, "a retry receipt each time");
	/* the same bytes untouched: the rollback left everything usable */
	n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct, ctlen, NULL, NULL, 0);
	msgr_node(f.m, n);
	binnode_free(n);
	T_EQ_INT(store_msg_find(f.st, PEER_CHAT, MSG_ID, &ref, NULL, NULL,
	    NULL), 0, "untampered: stored");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 1, "untampered: one webhook");
	/* a msg (not pkmsg) with no session at all */
	n = stanza(PEER_CHAT, NULL, MSG_ID2, "msg", ct, ctlen, NULL, NULL, 0);
	binnode_set_attr(n, "from", "15557654321:3@s.whatsapp.net");
	T_EQ_INT(msgr_node(f.m, n), 1, "msg without a session taken");
	binnode_free(n);
	T_EQ_INT(fx_count(&f, "messages"), 1, "no session: nothing stored");
	free(ct);
	peer_free(&p);
	fx_close(&f);
}

static void
test_group(void)
{
	struct fx f;
	struct peer p;
	struct store_msg_ref ref;
	struct binnode *n;
	uint8_t *gst = NULL, *gns = NULL, *skdm = NULL, *carrier = NULL;
	uint8_t *ct = NULL, *msg = NULL, *padded = NULL, *skct = NULL;
	size_t gstlen = 0, gnslen = 0, skdmlen = 0, carrierlen = 0, ctlen = 0;
	size_t msglen = 0, plen = 0, skctlen = 0;
	char *body = NULL;

	if (!T_OK(fx_open(&f, "group") == 0, "device store"))
		return;
	peer_init(&p, &f);
	if (!T_OK(signal_group_create(&gst, &gstlen) == 0 &&
	    signal_group_skdm(gst, gstlen, &skdm, &skdmlen) == 0 &&
	    msg_node_skdm_message(GROUP, skdm, skdmlen, &carrier,
	    &carrierlen) == 0, "peer's sender key and SKDM carrier"))
		goto out;
	T_EQ_INT(peer_encrypt(&p, carrier, carrierlen, &ct, &ctlen),
	    SIGNAL_MSG_TYPE_PKMSG, "SKDM pairwise as pkmsg");
	msg = text_message("hello group", &msglen);
	if (!T_OK(padding_add(msg, msglen, 0, &padded, &plen) == 0 &&
	    signal_group_encrypt(gst, gstlen, padded, plen, &skct, &skctlen,
	    &gns, &gnslen) == 0, "skmsg"))
		goto out;
	n = stanza(GROUP, PEER_DEV, MSG_ID, "pkmsg", ct, ctlen, "skmsg", skct,
	    skctlen);
	T_EQ_INT(msgr_node(f.m, n), 1, "group <message> taken");
	binnode_free(n);
	T_EQ_INT(store_msg_find(f.st, GROUP, MSG_ID, &ref, &body, NULL, NULL),
	    0, "stored in the group chat");
	T_EQ_STR(body, "hello group", "the skmsg's text");
	T_EQ_STR(ref.sender, PEER_DEV, "sender is the participant");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 1, "one webhook");
	T_EQ_INT(fx_count(&f, "sender_keys"), 1, "the sender key is kept");
out:
	free(body);
	free(msg);
	free(padded);
	free(skct);
	free(ct);
	free(carrier);
	free(skdm);
	signal_free_secret(gst, gstlen);
	signal_free_secret(gns, gnslen);
	peer_free(&p);
	fx_close(&f);
}

static void
test_receipt_unknown(void)
{
	static const char *const types[] = { NULL, "read", "played",
	    "inactive", "retry", "sender", "server-error" };
	struct fx f;
	struct binnode *n, *c;
	size_t i;

	if (!T_OK(fx_open(&f, "receipt") == 0, "device store"))
		return;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		n = binnode_new("receipt");
		binnode_set_attrs(n, "from", PEER_DEV, "id",
		    "3EB0DEADBEEFDEADBEEF", "t", "1700000200", NULL);
		if (types[i] != NULL)
			binnode_set_attr(n, "type", types[i]);
		if (types[i] != NULL && strcmp(types[i], "retry") == 0) {
			c = binnode_add_new(n, "retry");
			binnode_set_attrs(c, "count", "1", "id",
			    "3EB0DEADBEEFDEADBEEF", "t", "1700000200", "v",
			    "1", NULL);
		}
		c = binnode_add_new(n, "list");
		c = binnode_add_new(c, "item");
		binnode_set_attr(c, "id", "3EB0DEADBEEFDEADBEF0");
		T_OK(msgr_node(f.m, n) == 1, "receipt %s taken",
		    types[i] ? types[i] : "(delivery)");
		binnode_free(n);
	}
	/* a receipt without an id and an ack for nothing we sent */
	n = binnode_new("receipt");
	binnode_set_attr(n, "from", PEER_DEV);
	T_EQ_INT(msgr_node(f.m, n), 1, "receipt without id taken");
	binnode_free(n);
	n = binnode_new("ack");
	binnode_set_attrs(n, "id", "3EB0DEADBEEFDEADBEEF", "class", "message",
	    "from", "s.whatsapp.net", "t", "1700000300", NULL);
	T_EQ_INT(msgr_node(f.m, n), 1, "ack taken");
	binnode_free(n);
	T_EQ_INT(f.nevents, 0, "no events");
	T_EQ_INT(fx_count(&f, "webhook_queue"), 0, "no webhooks");
	T_EQ_INT(fx_count(&f, "messages"), 0, "no messages");
	T_EQ_INT(fx_count(&f, "outbox"), 0, "no outbox rows");
	T_EQ_INT(fx_stats(&f).acked, 0, "nothing acked");
	/* not msgr's */
	n = binnode_new("notification");
	binnode_set_attrs(n, "from", "s.whatsapp.net", "id", "1", NULL);
	T_EQ_INT(msgr_node(f.m, n), 0, "a notification is not msgr's");
	binnode_free(n);
	fx_close(&f);
}

static void
test_no_conn(void)
{
	struct fx f;
	struct peer p;
	struct binnode *n;
	uint8_t *ct;
	size_t ctlen;
	int type;

	if (!T_OK(fx_open(&f, "noconn") == 0, "device store"))
		return;
	peer_init(&p, &f);
	ct = peer_text(&p, "hello", &ctlen, &type);
	n = stanza(PEER_DEV, NULL, MSG_ID, "pkmsg", ct, ctlen, NULL, NULL, 0);
	msgr_set_conn(f.m, NULL);
	T_EQ_INT(msgr_node(f.m, n), 0, "no conn: not taken");
	T_EQ_INT(fx_count(&f, "messages"), 0, "no conn: nothing stored");
	msgr_set_conn(f.m, f.conn);
	T_EQ_INT(msgr_node(f.m, n), 1, "conn back: taken");
	T_EQ_INT(fx_count(&f, "messages"), 1, "conn back: stored");
	binnode_free(n);
	free(ct);
	peer_free(&p);
	fx_close(&f);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/test_msgr.XXXXXX";

	t_init(argc, argv);
	log_init("test_msgr", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	if (sodium_init() < 0 || mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	/* events are queued for this URL; nothing delivers them here */
	if (msghook_set_target("http://127.0.0.1:9/hook", NULL) != 0)
		return 1;
	T_RUN(test_pkmsg_stored);
	T_RUN(test_redelivery);
	T_RUN(test_tampered);
	T_RUN(test_group);
	T_RUN(test_receipt_unknown);
	T_RUN(test_no_conn);
	rmdir(tmpdir);
	return t_done();
}
