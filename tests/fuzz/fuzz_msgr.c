/*
 * fuzz_msgr.c - libFuzzer target for the messaging pipeline of one device
 * (msgr.c): the stanzas conn hands over (<message>, <receipt>, <ack>) and
 * the device calls below /api (msgr_call).
 *
 * One paired device with FIXED keys (so seeds built once keep decrypting),
 * a store.db in a private temporary directory, a conn that never connects
 * (sends fail, nothing leaves the process), a media object without media
 * hosts (downloads stop at "not connected", sends are only queued) and a
 * message webhook URL nobody serves (events are queued in store.db, never
 * delivered).  Before
 * every input the store is put back to the same baseline (no sessions,
 * one-time prekey FUZZ_PREKEY_ID, one message we sent with its outbox row)
 * and a new msgr is made, so an input behaves the same whenever it runs.
 *
 * An input is up to REC_MAX records; missing bytes read as 0:
 *   op % 6 == 0  RAW      len16, bytes: binnode_decode (flag + node)
 *            1  MESSAGE  flags, from, id, type, [participant] [recipient]
 *                        [alt] [t] [notify], nenc, per enc: type, v/count
 *                        byte, [mediatype], len16, ciphertext
 *            2  RECEIPT  flags, type, from, id, [participant] [recipient]
 *                        [t], nlist, ids..., [retry count] [registration]
 *            3  ACK      flags, id, class, from, [error] [t]
 *            4  CALL     method, route, arg, idem, len16 body, len16 query
 *            5  PLAIN    flags, from, participant, id, len16 Message bytes
 *                        that the harness pads (unless flags & 1) and
 *                        encrypts as a fake peer: pkmsg in a session it
 *                        keeps for the input, or (flags & 2) an skmsg with
 *                        its SKDM in a pkmsg beside it, so the fuzzer
 *                        reaches what follows decryption with any content
 * Strings (JIDs, ids, types, routes) come from fixed pools, so the fuzzer
 * reaches past the parsers into decryption, storage and receipts.
 *
 * Oracles: ASan/UBSan/LSan, msgr_node takes every <message>, <receipt>
 * and <ack>, every reply and event body is a JSON object, a reply status
 * is 200..599, and no store transaction is left open.
 *
 * Seeds: FUZZ_MSGR_SEEDS=<dir> build-fuzz/fuzz_msgr -runs=0 writes the
 * seed corpus (valid pkmsg/skmsg stanzas for this device among them: they
 * hold only while fixed_creds() keeps its keys);
 * FUZZ_MSGR_VERBOSE=1 build-fuzz/fuzz_msgr FILE... says what each input
 * did (counters, rows, replies).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>

#include "wamsg.pb-c.h"

#include "binnode.h"
#include "buf.h"
#include "conn.h"
#include "creds.h"
#include "log.h"
#include "media.h"
#include "msg-node.h"
#include "msghook.h"
#include "msgr.h"
#include "padding.h"
#include "signal-group.h"
#include "signal-keys.h"
#include "signal-session.h"
#include "store.h"
#include "store-msg.h"
#include "xmalloc.h"

#define REC_MAX		8
#define FUZZ_PREKEY_ID	7
#define FUZZ_SPK_ID	1
#define FUZZ_REGID	4242
#define OWN_JID		"15550001111:1@s.whatsapp.net"
#define SENT_ID		"3EB0F00DF00DF00DF00D"
#define SENT_CHAT	"15551234567@s.whatsapp.net"

enum { OP_RAW, OP_MESSAGE, OP_RECEIPT, OP_ACK, OP_CALL, OP_PLAIN, OP_N };

/* Pools.  Index 0 is what the seeds use most. */
static const char *const jids[] = {
	"15551234567:2@s.whatsapp.net",		/* the peer's device */
	"15551234567@s.whatsapp.net",
	"120363012345678901@g.us",
	"123456789012345:3@lid",
	"123456789012345@lid",
	"15550001111:2@s.whatsapp.net",		/* our other device */
	"15550001111@s.whatsapp.net",
	OWN_JID,				/* our exact device */
	"status@broadcast",
	"120363000000000001@newsletter",
	"s.whatsapp.net",
	"15551234567:99@hosted",
	"123456789012345:99@hosted.lid",
	"15557654321.0:5@s.whatsapp.net",
	"",
	"@",
	"x@y",
	"15551234567:99999@s.whatsapp.net",
	"9999999999999999999999999999999999999999@s.whatsapp.net",
	("1555123456712345678901234567890123456789012345678901234567890123"
	    "4567890@lid"),
};
#define NJIDS	(sizeof(jids) / sizeof(jids[0]))

static const char *const ids[] = {
	"3EB0AABBCCDDEEFF0011",
	"3EB0AABBCCDDEEFF0022",
	SENT_ID,
	"ABCDEF0123456789",
	"",
	"x",
	"3EB0/../..",
	"id with spaces and 'quotes\"",
	("3EB0000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000"),
};
#define NIDS	(sizeof(ids) / sizeof(ids[0]))

static const char *const msgtypes[] = {
	"text", "media", "reaction", "poll", "", "pay", "protocol", "x",
};
static const char *const enctypes[] = {
	"pkmsg", "msg", "skmsg", "msmsg", "", "PKMSG", "frskmsg",
};
static const char *const mediatypes[] = {
	"", "image", "video", "document", "ptt", "sticker",
};
static const char *const rtypes[] = {
	"", "read", "played", "retry", "inactive", "sender", "read-self",
	"peer_msg", "server-error", "hist_sync", "delivery",
};
static const char *const classes[] = {
	"message", "receipt", "notification", "call", "", "MESSAGE",
};
static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "" };
static const char *const routes[] = {
	"/send/message", "/send/image", "/send/file", "/send/video",
	"/send/audio", "/send/sticker", "/send/contact", "/send/link",
	"/send/location", "/send/poll", "/send/presence",
	"/send/chat-presence", "/send/nothing", "/chats", "/chat/%s/messages",
	"/chat/%s", "/chat/%s/messages/x", "/message/%s", "/message/%s/read",
	"/message/%s/download", "/message/%s/reaction", "/message/%s/revoke",
	"/message/%s/update", "/message/%s/star", "/message/", "/message//read",
	"/app/login",
};
static const char *const args[] = {
	"15551234567", "15551234567@s.whatsapp.net",
	"120363012345678901@g.us", "123456789012345@lid", SENT_ID,
	"3EB0AABBCCDDEEFF0011", "", "+1 555 123", "abc", "%00",
};
static const char *const idems[] = { NULL, "k1", "", "key with space" };

#define PICK(pool, b)	((pool)[(b) % (sizeof(pool) / sizeof((pool)[0]))])

/* ------------------------------------------------------------ state */

static char		 dir[128];
static struct store	*st;
static struct creds	 creds;
static struct conn	*cn;
static struct media	*md;		/* no media_conn: never transfers */
static struct signal_prekey prekey;
static int		 verbose;	/* FUZZ_MSGR_VERBOSE: what happened */

static void
fixed_key(struct signal_keypair *kp, uint8_t fill)
{
	uint8_t priv[32];

	memset(priv, fill, sizeof(priv));
	priv[31] = 0x40;
	if (signal_keypair_from_priv(kp, priv) != 0)
		abort();
}

/* The device: fixed identity, signed prekey and one-time prekey. */
static void
fixed_creds(void)
{
	uint8_t ser[SIGNAL_PUB_SER_LEN];

	creds_generate(&creds);
	fixed_key(&creds.identity, 0x11);
	fixed_key(&creds.spk.kp, 0x22);
	creds.spk.id = FUZZ_SPK_ID;
	signal_pub_serialize(ser, creds.spk.kp.pub);
	if (signal_sign(creds.identity.priv, ser, sizeof(ser),
	    creds.spk.sig) != 0)
		abort();
	creds.registration_id = FUZZ_REGID;
	snprintf(creds.jid, sizeof(creds.jid), "%s", OWN_JID);
	snprintf(creds.lid, sizeof(creds.lid), "987654321098765:1@lid");
	snprintf(creds.push_name, sizeof(creds.push_name), "fuzz");
	prekey.id = FUZZ_PREKEY_ID;
	fixed_key(&prekey.kp, 0x33);
}

static void
cleanup(void)
{
	char p[256];

	store_close(st);
	st = NULL;
	snprintf(p, sizeof(p), "%s/store.db", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/store.db-wal", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/store.db-shm", dir);
	unlink(p);
	rmdir(dir);
}

/* Back to the baseline. */
static void
reset_store(void)
{
	static const char *const sql = "DELETE FROM identity_keys; "
	    "DELETE FROM prekeys; DELETE FROM sessions; "
	    "DELETE FROM sender_keys; DELETE FROM sender_key_shared; "
	    "DELETE FROM lid_map; DELETE FROM contacts; DELETE FROM chats; "
	    "DELETE FROM messages; DELETE FROM outbox; "
	    "DELETE FROM webhook_delivery; DELETE FROM webhook_queue;";
	struct store_msg sm;

	if (store_begin(st) != 0 ||
	    sqlite3_exec(store_db(st), sql, NULL, NULL, NULL) != SQLITE_OK)
		abort();
	memset(&sm, 0, sizeof(sm));
	sm.chat = SENT_CHAT;
	sm.id = SENT_ID;
	sm.sender = OWN_JID;
	sm.from_me = 1;
	sm.ts = 1700000000;
	sm.type = "text";
	sm.body = "hi";
	sm.status = "sent";
	sm.raw = (const uint8_t *)"\x0a\x02hi";	/* conversation "hi" */
	sm.rawlen = 4;
	if (store_msg_put(st, &sm) != 0 ||
	    store_ob_insert(st, SENT_ID, SENT_CHAT, NULL, "message",
	    "{\"phone\":\"15551234567\",\"message\":\"hi\"}", "{}",
	    1700000000000LL) != 0 || store_commit(st) != 0)
		abort();
	/* (its own transaction) */
	if (store_prekeys_put(st, &prekey, 1) != 0)
		abort();
}

/* ------------------------------------------------------- callbacks */

static void
check_json(const char *json)
{
	json_object *o;

	if (json == NULL)
		abort();
	o = json_tokener_parse(json);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		abort();
	json_object_put(o);
}

static void
out_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	(void)arg;
	(void)reqid;
	if (verbose)
		fprintf(stderr, "fuzz_msgr: reply %d %s %.300s\n", status,
		    code, json);
	if (status < 200 || status > 599 || code == NULL || message == NULL)
		abort();
	check_json(json);
}

static void
out_event(void *arg, const char *type, const char *json)
{
	(void)arg;
	if (verbose)
		fprintf(stderr, "fuzz_msgr: event %s\n", type);
	if (type == NULL)
		abort();
	check_json(json);
}

static void
out_creds(void *arg)
{
	(void)arg;
}

/* ------------------------------------------------------- fake peer */

struct peer {
	struct signal_keypair	 id;
	uint32_t		 regid;
	uint8_t			*st;
	size_t			 stlen;
};

static void
peer_init(struct peer *p)
{
	struct signal_bundle b;

	memset(p, 0, sizeof(*p));
	signal_keypair_generate(&p->id);
	p->regid = signal_registration_id_generate();
	memset(&b, 0, sizeof(b));
	b.registration_id = creds.registration_id;
	memcpy(b.identity_pub, creds.identity.pub, 32);
	b.signed_prekey_id = creds.spk.id;
	memcpy(b.signed_prekey_pub, creds.spk.kp.pub, 32);
	memcpy(b.signed_prekey_sig, creds.spk.sig, 64);
	b.has_prekey = 1;
	b.prekey_id = prekey.id;
	memcpy(b.prekey_pub, prekey.kp.pub, 32);
	if (signal_session_initiate(&p->id, p->regid, &b, NULL, 0, &p->st,
	    &p->stlen) != 0)
		abort();
}

static void
peer_free(struct peer *p)
{
	signal_free_secret(p->st, p->stlen);
	p->st = NULL;
}

/* Pad and encrypt a serialized Message; ct xmalloc'd. */
static void
peer_encrypt(struct peer *p, const uint8_t *msg, size_t len, uint8_t **ct,
    size_t *ctlen)
{
	uint8_t *padded, *ns;
	size_t plen, nslen;
	int type;

	if (padding_add(msg, len, 0, &padded, &plen) != 0 ||
	    signal_session_encrypt(p->st, p->stlen, padded, plen, &type, ct,
	    ctlen, &ns, &nslen) != 0)
		abort();
	free(padded);
	signal_free_secret(p->st, p->stlen);
	p->st = ns;
	p->stlen = nslen;
}

static uint8_t *
text_message(const char *text, size_t *len)
{
	Wamsg__Message m = WAMSG__MESSAGE__INIT;
	uint8_t *p;

	m.conversation = (char *)text;
	*len = wamsg__message__get_packed_size(&m);
	p = xmalloc(*len);
	wamsg__message__pack(&m, p);
	return p;
}

/* ------------------------------------------------------------ input */

struct rd {
	const uint8_t	*p;
	size_t		 n, i;
};

static uint8_t
rd_u8(struct rd *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

/* len16 then that many bytes (fewer at the end of the input). */
static const uint8_t *
rd_blob(struct rd *r, size_t *len)
{
	size_t want = (size_t)rd_u8(r) << 8;
	const uint8_t *p;

	want |= rd_u8(r);
	if (want > r->n - r->i)
		want = r->n - r->i;
	p = r->p + r->i;
	r->i += want;
	*len = want;
	return p;
}

static void
set_jid_attr(struct binnode *n, const char *key, const char *v, int typed)
{
	struct jid j;

	if (typed && jid_parse(&j, v) == 0)
		binnode_set_attr_jid(n, key, &j);
	else
		binnode_set_attr(n, key, v);
}

static void
deliver(struct msgr *m, struct binnode *n)
{
	if (msgr_node(m, n) != 1)
		abort();	/* message, receipt and ack are msgr's */
}

static void
op_message(struct msgr *m, struct rd *r)
{
	struct binnode *n = binnode_new("message"), *e;
	uint8_t f = rd_u8(r), nenc, vb;
	const uint8_t *ct;
	size_t ctlen, i;
	char num[24];

	set_jid_attr(n, "from", PICK(jids, rd_u8(r)), f & 0x80);
	binnode_set_attr(n, "id", PICK(ids, rd_u8(r)));
	binnode_set_attr(n, "type", PICK(msgtypes, rd_u8(r)));
	if (f & 0x01)
		set_jid_attr(n, "participant", PICK(jids, rd_u8(r)), f & 0x80);
	if (f & 0x02)
		set_jid_attr(n, "recipient", PICK(jids, rd_u8(r)), f & 0x80);
	if (f & 0x04) {
		static const char *const alt[] = { "sender_pn", "sender_lid",
		    "participant_pn", "participant_lid" };

		set_jid_attr(n, PICK(alt, rd_u8(r)), PICK(jids, rd_u8(r)), 0);
	}
	if (f & 0x08) {
		snprintf(num, sizeof(num), "%u", 1700000000u + rd_u8(r));
		binnode_set_attr(n, "t", rd_u8(r) == 0xff ? "-1" : num);
	}
	if (f & 0x10)
		binnode_set_attr(n, "notify", rd_u8(r) & 1 ? "Peer" :
		    "\xe2\x80\xae evil \xff name");
	if (f & 0x20)
		binnode_set_attr(n, "category", "peer");
	if (f & 0x40)
		(void)binnode_add_new(n, rd_u8(r) & 1 ? "unavailable" :
		    "plaintext");
	nenc = rd_u8(r) % 4;
	for (i = 0; i < nenc; i++) {
		e = binnode_add_new(n, "enc");
		binnode_set_attr(e, "type", PICK(enctypes, rd_u8(r)));
		vb = rd_u8(r);
		binnode_set_attr(e, "v", vb % 4 == 0 ? NULL : vb % 4 == 1 ?
		    "2" : vb % 4 == 2 ? "3" : "9");
		if (vb & 0x04) {
			snprintf(num, sizeof(num), "%u", (vb >> 4) & 0x0f);
			binnode_set_attr(e, "count", num);
		}
		if (vb & 0x08)
			binnode_set_attr(e, "mediatype", PICK(mediatypes,
			    rd_u8(r)));
		ct = rd_blob(r, &ctlen);
		binnode_set_bytes(e, ct, ctlen);
	}
	deliver(m, n);
	binnode_free(n);
}

static void
op_receipt(struct msgr *m, struct rd *r)
{
	struct binnode *n = binnode_new("receipt"), *l, *c;
	uint8_t f = rd_u8(r), nl;
	uint8_t reg[4];
	char num[24];
	size_t i;

	binnode_set_attr(n, "type", PICK(rtypes, rd_u8(r)));
	set_jid_attr(n, "from", PICK(jids, rd_u8(r)), f & 0x80);
	binnode_set_attr(n, "id", PICK(ids, rd_u8(r)));
	if (f & 0x01)
		set_jid_attr(n, "participant", PICK(jids, rd_u8(r)), f & 0x80);
	if (f & 0x02)
		set_jid_attr(n, "recipient", PICK(jids, rd_u8(r)), f & 0x80);
	if (f & 0x04) {
		snprintf(num, sizeof(num), "%u", 1700000000u + rd_u8(r));
		binnode_set_attr(n, "t", num);
	}
	if ((nl = rd_u8(r) % 4) > 0) {
		l = binnode_add_new(n, "list");
		for (i = 0; i < nl; i++) {
			c = binnode_add_new(l, "item");
			binnode_set_attr(c, "id", PICK(ids, rd_u8(r)));
		}
	}
	if (f & 0x08) {
		c = binnode_add_new(n, "retry");
		snprintf(num, sizeof(num), "%u", rd_u8(r) % 16);
		binnode_set_attr(c, "count", num);
		binnode_set_attr(c, "id", PICK(ids, rd_u8(r)));
		binnode_set_attr(c, "t", "1700000000");
		binnode_set_attr(c, "v", "1");
	}
	if (f & 0x10) {
		c = binnode_add_new(n, "registration");
		for (i = 0; i < 4; i++)
			reg[i] = rd_u8(r);
		binnode_set_bytes(c, reg, f & 0x20 ? 4 : 2);
	}
	deliver(m, n);
	binnode_free(n);
}

static void
op_ack(struct msgr *m, struct rd *r)
{
	struct binnode *n = binnode_new("ack");
	uint8_t f = rd_u8(r);
	char num[24];

	binnode_set_attr(n, "id", PICK(ids, rd_u8(r)));
	binnode_set_attr(n, "class", PICK(classes, rd_u8(r)));
	set_jid_attr(n, "from", PICK(jids, rd_u8(r)), f & 0x80);
	if (f & 0x01) {
		snprintf(num, sizeof(num), "%u", rd_u8(r) * 7u);
		binnode_set_attr(n, "error", num);
	}
	if (f & 0x02) {
		snprintf(num, sizeof(num), "%u", 1700000000u + rd_u8(r));
		binnode_set_attr(n, "t", f & 0x04 ? "12x" : num);
	}
	deliver(m, n);
	binnode_free(n);
}

static void
op_call(struct msgr *m, struct rd *r)
{
	const char *method = PICK(methods, rd_u8(r));
	const char *route = PICK(routes, rd_u8(r));
	const char *arg = PICK(args, rd_u8(r)), *idem = PICK(idems, rd_u8(r));
	const uint8_t *body, *query;
	size_t blen, qlen;
	char path[256];

	/* every route has at most one %s */
	snprintf(path, sizeof(path), route, arg);
	body = rd_blob(r, &blen);
	query = rd_blob(r, &qlen);
	(void)msgr_call(m, 1, method, path, (const char *)query, qlen,
	    (const char *)body, blen, idem);
}

/* The fake peer of one input (PLAIN records): a pairwise session and a
 * sender key, made on first use. */
struct in_peer {
	int		 has_session, has_group;
	struct peer	 p;
	uint8_t		*gst;
	size_t		 gstlen;
};

static void
in_peer_free(struct in_peer *ip)
{
	if (ip->has_session)
		peer_free(&ip->p);
	signal_free_secret(ip->gst, ip->gstlen);
	memset(ip, 0, sizeof(*ip));
}

static void
op_plain(struct msgr *m, struct rd *r, struct in_peer *ip)
{
	struct binnode *n, *e;
	uint8_t f = rd_u8(r), *ct = NULL, *skdm = NULL, *carrier = NULL;
	uint8_t *skct = NULL, *ns = NULL, *padded = NULL, *sct = NULL;
	const char *from = PICK(jids, rd_u8(r)), *part = PICK(jids, rd_u8(r));
	const char *id = PICK(ids, rd_u8(r));
	const uint8_t *plain;
	size_t len, ctlen = 0, skdmlen, carrierlen, skctlen = 0, nslen, plen;
	size_t sctlen = 0;

	plain = rd_blob(r, &len);
	if (!ip->has_session) {
		peer_init(&ip->p);
		ip->has_session = 1;
	}
	n = binnode_new("message");
	binnode_set_attrs(n, "from", (f & 2) ? jids[2] : from, "id", id,
	    "type", "text", "t", "1700000100", NULL);
	if (f & 2)
		binnode_set_attr(n, "participant", part);
	if (f & 2) {
		/* the SKDM goes pairwise, the content as skmsg */
		if (!ip->has_group) {
			if (signal_group_create(&ip->gst, &ip->gstlen) != 0)
				abort();
			ip->has_group = 1;
		}
		if (signal_group_skdm(ip->gst, ip->gstlen, &skdm,
		    &skdmlen) != 0 || msg_node_skdm_message(jids[2], skdm,
		    skdmlen, &carrier, &carrierlen) != 0)
			abort();
		peer_encrypt(&ip->p, carrier, carrierlen, &ct, &ctlen);
		if (f & 1) {
			padded = xmalloc(len + 1);
			memcpy(padded, plain, len);
			plen = len;
		} else if (padding_add(plain, len, 0, &padded, &plen) != 0)
			abort();
		if (signal_group_encrypt(ip->gst, ip->gstlen, padded, plen,
		    &skct, &skctlen, &ns, &nslen) != 0)
			abort();
		signal_free_secret(ip->gst, ip->gstlen);
		ip->gst = ns;
		ip->gstlen = nslen;
		free(padded);
	} else if (f & 1) {
		/* no padding: the receiver's padding check sees the bytes */
		uint8_t *nst;
		size_t nstlen;
		int type;

		if (len == 0 || signal_session_encrypt(ip->p.st, ip->p.stlen,
		    plain, len, &type, &sct, &sctlen, &nst, &nstlen) != 0)
			goto out;
		signal_free_secret(ip->p.st, ip->p.stlen);
		ip->p.st = nst;
		ip->p.stlen = nstlen;
		ct = sct;
		ctlen = sctlen;
		sct = NULL;
	} else
		peer_encrypt(&ip->p, plain, len, &ct, &ctlen);
	e = binnode_add_new(n, "enc");
	binnode_set_attrs(e, "v", "2", "type", "pkmsg", NULL);
	binnode_set_bytes(e, ct, ctlen);
	if (skct != NULL) {
		e = binnode_add_new(n, "enc");
		binnode_set_attrs(e, "v", "2", "type", "skmsg", NULL);
		binnode_set_bytes(e, skct, skctlen);
	}
	deliver(m, n);
out:
	binnode_free(n);
	free(ct);
	free(sct);
	free(skct);
	free(skdm);
	free(carrier);
}

static void
op_raw(struct msgr *m, struct rd *r)
{
	struct binnode *n = NULL;
	const uint8_t *p;
	size_t len;

	p = rd_blob(r, &len);
	if (binnode_decode(p, len, &n) == 0)
		(void)msgr_node(m, n);
	binnode_free(n);
}

/* ------------------------------------------------------------ seeds */

struct wr {
	uint8_t	p[65536];
	size_t	n;
};

static void
w8(struct wr *w, uint8_t v)
{
	if (w->n < sizeof(w->p))
		w->p[w->n++] = v;
}

static void
wblob(struct wr *w, const void *p, size_t len)
{
	w8(w, (uint8_t)(len >> 8));
	w8(w, (uint8_t)len);
	if (w->n + len <= sizeof(w->p)) {
		memcpy(w->p + w->n, p, len);
		w->n += len;
	}
}

static void
wstr(struct wr *w, const char *s)
{
	wblob(w, s, strlen(s));
}

/* A device-call record: method, route, %s argument and Idempotency-Key
 * picks, then body and query. */
static void
w_call(struct wr *w, uint8_t method, uint8_t route, uint8_t arg,
    uint8_t idem, const char *body, const char *query)
{
	w8(w, OP_CALL);
	w8(w, method);
	w8(w, route);
	w8(w, arg);
	w8(w, idem);
	wstr(w, body);
	wstr(w, query);
}

/* A 1:1 message record with encs given as (type idx, ct, len). */
static void
w_message(struct wr *w, uint8_t flags, uint8_t from, uint8_t id,
    uint8_t etype, const uint8_t *ct, size_t ctlen)
{
	w8(w, OP_MESSAGE);
	w8(w, flags);
	w8(w, from);
	w8(w, id);
	w8(w, 0);		/* text */
	if (flags & 0x08) {
		w8(w, 5);
		w8(w, 0);
	}
	if (flags & 0x10)
		w8(w, 1);	/* "Peer" */
	w8(w, 1);
	w8(w, etype);
	w8(w, 1);		/* v="2" */
	wblob(w, ct, ctlen);
}

static void
seed_write(const char *sdir, const char *name, const struct wr *w)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sdir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(w->p, 1, w->n, f) != w->n || fclose(f) != 0) {
		fprintf(stderr, "fuzz_msgr: cannot write %s\n", path);
		exit(1);
	}
}

static void
make_seeds(const char *sdir)
{
	static struct wr w;
	struct peer a, g;
	struct binnode *n, *e;
	struct buf b;
	uint8_t *msg, *ct, *ct2, *skdm, *gst, *gns, *carrier, *padded, *skct;
	size_t msglen, ctlen, ct2len, skdmlen, gstlen, gnslen, carrierlen;
	size_t plen, skctlen;

	mkdir(sdir, 0755);
	peer_init(&a);
	msg = text_message("hello", &msglen);
	peer_encrypt(&a, msg, msglen, &ct, &ctlen);

	/* a valid pkmsg from the peer's device */
	w.n = 0;
	w_message(&w, 0x18, 0, 0, 0, ct, ctlen);
	seed_write(sdir, "pkmsg-hello", &w);

	/* the same stanza twice: the second is a duplicate */
	w_message(&w, 0x18, 0, 0, 0, ct, ctlen);
	seed_write(sdir, "pkmsg-twice", &w);

	/* then a second pkmsg of the same session, another id */
	free(msg);
	msg = text_message("second", &msglen);
	peer_encrypt(&a, msg, msglen, &ct2, &ct2len);
	w.n = 0;
	w_message(&w, 0x18, 0, 0, 0, ct, ctlen);
	w_message(&w, 0x18, 0, 1, 0, ct2, ct2len);
	seed_write(sdir, "pkmsg-two", &w);

	/* tampered: a byte of the ciphertext flipped */
	ct[ctlen - 12] ^= 0x01;
	w.n = 0;
	w_message(&w, 0x18, 0, 0, 0, ct, ctlen);
	seed_write(sdir, "pkmsg-tampered", &w);
	ct[ctlen - 12] ^= 0x01;

	/* the same pkmsg from a LID device with its PN as sender_pn, as a
	 * msg (wrong type), and inside a raw binary node */
	w.n = 0;
	w8(&w, OP_MESSAGE);
	w8(&w, 0x04 | 0x08);
	w8(&w, 3);		/* from 123456789012345:3@lid */
	w8(&w, 0);
	w8(&w, 0);
	w8(&w, 0);		/* sender_pn */
	w8(&w, 1);		/* 15551234567@s.whatsapp.net */
	w8(&w, 9);
	w8(&w, 0);
	w8(&w, 2);		/* two encs */
	w8(&w, 0);		/* pkmsg */
	w8(&w, 1);
	wblob(&w, ct, ctlen);
	w8(&w, 3);		/* msmsg: skipped */
	w8(&w, 1);
	wstr(&w, "ignored");
	seed_write(sdir, "pkmsg-lid", &w);

	w.n = 0;
	w_message(&w, 0x00, 0, 0, 1, ct, ctlen);
	seed_write(sdir, "pkmsg-as-msg", &w);

	n = binnode_new("message");
	binnode_set_attrs(n, "from", jids[0], "id", ids[0], "type", "text",
	    "t", "1700000001", NULL);
	e = binnode_add_new(n, "enc");
	binnode_set_attrs(e, "v", "2", "type", "pkmsg", NULL);
	binnode_set_bytes(e, ct, ctlen);
	buf_init(&b, 1 << 20);
	if (binnode_encode(n, &b) != 0)
		abort();
	w.n = 0;
	w8(&w, OP_RAW);
	wblob(&w, b.data, b.len);
	seed_write(sdir, "raw-pkmsg", &w);
	buf_free(&b);
	binnode_free(n);

	/* group: a pkmsg carrying the SKDM, then the skmsg */
	peer_init(&g);
	if (signal_group_create(&gst, &gstlen) != 0 ||
	    signal_group_skdm(gst, gstlen, &skdm, &skdmlen) != 0 ||
	    msg_node_skdm_message(jids[2], skdm, skdmlen, &carrier,
	    &carrierlen) != 0)
		abort();
	free(ct2);
	peer_encrypt(&g, carrier, carrierlen, &ct2, &ct2len);
	free(msg);
	msg = text_message("hello group", &msglen);
	if (padding_add(msg, msglen, 0, &padded, &plen) != 0 ||
	    signal_group_encrypt(gst, gstlen, padded, plen, &skct, &skctlen,
	    &gns, &gnslen) != 0)
		abort();
	w.n = 0;
	w8(&w, OP_MESSAGE);
	w8(&w, 0x01 | 0x08 | 0x10);
	w8(&w, 2);		/* from the group */
	w8(&w, 1);
	w8(&w, 0);
	w8(&w, 0);		/* participant: the peer's device */
	w8(&w, 7);
	w8(&w, 0);
	w8(&w, 1);
	w8(&w, 2);
	w8(&w, 0);		/* pkmsg */
	w8(&w, 1);
	wblob(&w, ct2, ct2len);
	w8(&w, 2);		/* skmsg */
	w8(&w, 1);
	wblob(&w, skct, skctlen);
	seed_write(sdir, "group-skdm-skmsg", &w);
	free(padded);
	free(skct);
	free(carrier);
	free(skdm);
	signal_free_secret(gst, gstlen);
	signal_free_secret(gns, gnslen);
	peer_free(&g);

	/* receipts for what we sent: delivered, read with a list, retry */
	w.n = 0;
	w8(&w, OP_RECEIPT);
	w8(&w, 0x04);
	w8(&w, 0);		/* delivered */
	w8(&w, 0);
	w8(&w, 2);		/* SENT_ID */
	w8(&w, 9);
	w8(&w, 0);
	seed_write(sdir, "receipt-delivered", &w);

	w.n = 0;
	w8(&w, OP_RECEIPT);
	w8(&w, 0x04);
	w8(&w, 1);		/* read */
	w8(&w, 1);
	w8(&w, 0);
	w8(&w, 9);
	w8(&w, 2);
	w8(&w, 2);
	w8(&w, 3);
	seed_write(sdir, "receipt-read-list", &w);

	w.n = 0;
	w8(&w, OP_RECEIPT);
	w8(&w, 0x08 | 0x10 | 0x20);
	w8(&w, 3);		/* retry */
	w8(&w, 0);
	w8(&w, 2);
	w8(&w, 0);		/* no list */
	w8(&w, 1);		/* count 1 */
	w8(&w, 2);
	w8(&w, 0);
	w8(&w, 0);
	w8(&w, 0x10);
	w8(&w, 0x92);
	seed_write(sdir, "receipt-retry", &w);

	w.n = 0;
	w8(&w, OP_RECEIPT);
	w8(&w, 0x00);
	w8(&w, 3);		/* retry for an unknown id */
	w8(&w, 2);
	w8(&w, 0);
	w8(&w, 0);
	seed_write(sdir, "receipt-unknown", &w);

	/* acks */
	w.n = 0;
	w8(&w, OP_ACK);
	w8(&w, 0x02);
	w8(&w, 2);
	w8(&w, 0);
	w8(&w, 10);		/* from s.whatsapp.net */
	w8(&w, 5);
	w8(&w, OP_ACK);
	w8(&w, 0x01);
	w8(&w, 2);
	w8(&w, 0);
	w8(&w, 10);
	w8(&w, 68);		/* error 476 */
	seed_write(sdir, "ack", &w);

	/* device calls */
	w.n = 0;
	/* POST, /send/message, idem k1 */
	w_call(&w, 1, 0, 0, 1,
	    "{\"phone\":\"15551234567\",\"message\":\"hello\"}", "");
	seed_write(sdir, "call-send-message", &w);

	w.n = 0;
	w_message(&w, 0x18, 0, 0, 0, ct, ctlen);
	/* GET, /chats */
	w_call(&w, 0, 13, 0, 0, "",
	    "{\"limit\":[\"10\"],\"search\":[\"he\"]}");
	/* /chat/%s/messages */
	w_call(&w, 0, 14, 0, 0, "",
	    "{\"limit\":[\"5\"],\"offset\":[\"0\"]}");
	/* /message/%s, the received id */
	w_call(&w, 0, 17, 5, 0, "", "");
	/* /message/%s/read */
	w_call(&w, 1, 18, 5, 0, "{}", "");
	seed_write(sdir, "pkmsg-then-calls", &w);

	w.n = 0;
	/* /message/%s/download, SENT_ID */
	w_call(&w, 0, 19, 4, 0, "", "");
	/* /message/%s/reaction */
	w_call(&w, 1, 20, 4, 2,
	    "{\"phone\":\"15551234567\",\"emoji\":\"\xf0\x9f\x91\x8d\"}",
	    "");
	/* /send/location */
	w_call(&w, 1, 8, 0, 0,
	    "{\"phone\":\"120363012345678901@g.us\",\"latitude\":\"1.5\","
	    "\"longitude\":\"2\"}",
	    "");
	seed_write(sdir, "calls", &w);

	/* PLAIN: the harness encrypts these Message bytes */
	{
		Wamsg__Message x = WAMSG__MESSAGE__INIT;
		Wamsg__ExtendedTextMessage et =
		    WAMSG__EXTENDED_TEXT_MESSAGE__INIT;
		Wamsg__ImageMessage im = WAMSG__IMAGE_MESSAGE__INIT;
		uint8_t key[32], pb[1024];
		size_t pblen;

		x.conversation = "plain text";
		pblen = wamsg__message__pack(&x, pb);
		w.n = 0;
		w8(&w, OP_PLAIN);
		w8(&w, 0);
		w8(&w, 0);
		w8(&w, 0);
		w8(&w, 0);
		wblob(&w, pb, pblen);
		w8(&w, OP_PLAIN);	/* then in the group */
		w8(&w, 2);
		w8(&w, 0);
		w8(&w, 0);
		w8(&w, 1);
		wblob(&w, pb, pblen);
		seed_write(sdir, "plain-text-and-group", &w);

		wamsg__message__init(&x);
		et.text = "see https://example.com";
		et.matchedtext = "https://example.com";
		x.extendedtextmessage = &et;
		pblen = wamsg__message__pack(&x, pb);
		w.n = 0;
		w8(&w, OP_PLAIN);
		w8(&w, 0);
		w8(&w, 3);
		w8(&w, 0);
		w8(&w, 0);
		wblob(&w, pb, pblen);
		seed_write(sdir, "plain-extended-lid", &w);

		wamsg__message__init(&x);
		memset(key, 0x5a, sizeof(key));
		im.mimetype = "image/jpeg";
		im.caption = "a picture";
		im.directpath = "/v/t62.7118-24/1_2_3.enc";
		im.has_mediakey = 1;
		im.mediakey.data = key;
		im.mediakey.len = sizeof(key);
		im.has_fileencsha256 = 1;
		im.fileencsha256.data = key;
		im.fileencsha256.len = sizeof(key);
		x.imagemessage = &im;
		pblen = wamsg__message__pack(&x, pb);
		w.n = 0;
		w8(&w, OP_PLAIN);
		w8(&w, 0);
		w8(&w, 0);
		w8(&w, 0);
		w8(&w, 0);
		wblob(&w, pb, pblen);
		w_call(&w, 0, 19, 5, 0, "", "");	/* /message/%s/download */
		seed_write(sdir, "plain-image-download", &w);

		w.n = 0;
		w8(&w, OP_PLAIN);
		w8(&w, 1);		/* unpadded */
		w8(&w, 0);
		w8(&w, 0);
		w8(&w, 0);
		wstr(&w, "\x0a\x03" "abc" "\x20");
		seed_write(sdir, "plain-unpadded", &w);
	}

	free(msg);
	free(ct);
	free(ct2);
	peer_free(&a);
}

/* ------------------------------------------------------------ entry */

static long
count(const char *table)
{
	sqlite3_stmt *q;
	char sql[128];
	long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void
report(struct msgr *m)
{
	struct msgr_stats s;

	msgr_stats(m, &s);
	fprintf(stderr, "fuzz_msgr: received %llu dup %llu undecryptable "
	    "%llu retries %llu acked %llu; rows: messages %ld webhook_queue "
	    "%ld sessions %ld sender_keys %ld prekeys %ld outbox %ld\n",
	    (unsigned long long)s.received, (unsigned long long)s.dup,
	    (unsigned long long)s.undecryptable,
	    (unsigned long long)s.retries, (unsigned long long)s.acked,
	    count("messages"), count("webhook_queue"), count("sessions"),
	    count("sender_keys"), count("prekeys"), count("outbox"));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conn_cfg cfg;
	const char *seeds;

	(void)argc;
	(void)argv;
	log_init("fuzz_msgr", LOG_LVL_ERROR);
	if (sodium_init() < 0)
		abort();
	fixed_creds();
	verbose = getenv("FUZZ_MSGR_VERBOSE") != NULL;
	if ((seeds = getenv("FUZZ_MSGR_SEEDS")) != NULL) {
		make_seeds(seeds);
		exit(0);
	}
	snprintf(dir, sizeof(dir), "%s/fuzz_msgr.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL || (st = store_open(dir)) == NULL)
		abort();
	atexit(cleanup);
	/* webhooks are queued for this URL, never sent (no msghook_init) */
	if (msghook_set_target("http://127.0.0.1:9/hook", "s3cret") != 0)
		abort();
	conn_cfg_default(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "ws://127.0.0.1:9/ws/chat");
	cn = conn_new(&cfg, &creds, NULL);
	md = media_new(NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr_out out;
	struct in_peer ip;
	struct msgr *m;
	struct rd r;
	int nrec;

	if (st == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	reset_store();
	memset(&out, 0, sizeof(out));
	out.reply = out_reply;
	out.event = out_event;
	out.creds_changed = out_creds;
	m = msgr_new(st, &creds, "0123456789abcdef", &out);
	msgr_set_conn(m, cn);
	msgr_set_media(m, md);
	msgr_logged_in(m);
	r.p = data;
	r.n = size;
	r.i = 0;
	memset(&ip, 0, sizeof(ip));
	for (nrec = 0; nrec < REC_MAX && r.i < r.n; nrec++) {
		switch (rd_u8(&r) % OP_N) {
		case OP_RAW:
			op_raw(m, &r);
			break;
		case OP_MESSAGE:
			op_message(m, &r);
			break;
		case OP_RECEIPT:
			op_receipt(m, &r);
			break;
		case OP_ACK:
			op_ack(m, &r);
			break;
		case OP_CALL:
			op_call(m, &r);
			break;
		case OP_PLAIN:
			op_plain(m, &r, &ip);
			break;
		}
	}
	in_peer_free(&ip);
	if (!sqlite3_get_autocommit(store_db(st))) {
		fprintf(stderr, "fuzz_msgr: a transaction was left open\n");
		abort();
	}
	if (verbose)
		report(m);
	(void)msgr_timeout_ms(m);
	msgr_service(m);
	msgr_disconnected(m);
	msgr_free(m);
	return 0;
}
