/*
 * fuzz_msg.c - libFuzzer target for the messaging parsers: the incoming
 * <message> and <receipt> parsers and the replies built from them
 * (waproc/msg-node.c), the usync and prekey-bundle answers (usync.c,
 * bundle.c), webhook bodies from decrypted Message bytes (hook-payload.c)
 * and GOWA send requests (msg-send.c).
 *
 * First input byte = mode, the rest = payload:
 *   0  a binary node: every node parser; replies built from what parses
 *      must encode
 *   1  Message protobuf bytes: webhook body, stanza classification, DSM
 *   2  a JSON request body: msg_send_parse for every kind, then build
 * Built with -DFUZZ_MSG_GEN it is a program writing seeds into a folder:
 *   cc -DFUZZ_MSG_GEN ... tests/fuzz/fuzz_msg.c -o gen && ./gen DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "binnode.h"
#include "buf.h"
#include "bundle.h"
#include "hook-payload.h"
#include "jid.h"
#include "msg-node.h"
#include "msg-send.h"
#include "usync.h"
#include "wamsg.pb-c.h"

#ifndef FUZZ_MSG_GEN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must_encode(struct binnode *n)
{
	struct buf b;

	if (n == NULL)
		return;
	buf_init(&b, 16u << 20);
	if (binnode_encode(n, &b) != 0)
		abort();
	buf_free(&b);
	binnode_free(n);
}

static void
fuzz_nodes(const uint8_t *p, size_t n)
{
	static struct msg_receipt_in rc;
	struct binnode *node = NULL;
	struct msg_in m;
	struct jid own_pn, own_lid;
	struct usync_user *uu = NULL;
	struct bundle_user *bu = NULL;
	struct msg_retry_keys k;
	struct jid out[USYNC_MAX_DEVICES];
	char *json = NULL, eid[HOOK_EVENT_ID_LEN + 1];
	size_t cnt, i;

	if (binnode_decode_node(p, n, &node) != 0)
		return;
	jid_parse(&own_pn, "5511987654321:2@s.whatsapp.net");
	jid_parse(&own_lid, "123456789012345:2@lid");
	if (msg_node_parse(node, &own_pn, &own_lid, &m) == 0) {
		if (m.nenc > MSG_NODE_MAX_ENC)
			abort();
		for (i = 0; i < m.nenc; i++)
			if (m.enc[i].ct == NULL || m.enc[i].ctlen == 0)
				abort();
		(void)msg_node_delivery_type(&m, 0);
		must_encode(msg_node_receipt(node, msg_node_delivery_type(&m,
		    1)));
		must_encode(msg_node_ack(node, 487));
		memset(&k, 7, sizeof(k));
		k.device_identity = p;
		k.device_identity_len = n < 64 ? n : 64;
		must_encode(msg_node_retry_receipt(node, 2, 1234, &k));
	}
	if (msg_node_parse_receipt(node, &rc) == 0) {
		if (rc.nids == 0 || rc.nids > MSG_NODE_MAX_IDS)
			abort();
		if (hook_receipt_payload("0123456789abcdef", "x", &rc, 1, &json,
		    eid) == 0 && json == NULL)
			abort();
		free(json);
		must_encode(msg_node_ack(node, 0));
	}
	if (usync_parse_devices(node, &uu, &cnt) == 0) {
		for (i = 0; i < cnt; i++)
			if (usync_device_jids(&uu[i], i & 1, i & 2, out,
			    USYNC_MAX_DEVICES) > uu[i].ndevices)
				abort();
		free(uu);
	} else if (uu != NULL)
		abort();
	if (bundle_parse(node, &bu, &cnt) == 0)
		free(bu);
	else if (bu != NULL)
		abort();
	binnode_free(node);
}

static int
lookup(void *arg, const struct jid *lid, struct jid *pn)
{
	return jid_set(pn, "6281777", JID_SERVER_PN, 0);
}

static void
fuzz_message(const uint8_t *p, size_t n)
{
	struct hook_msg_env env;
	struct msg_send_out o;
	const char *ev;
	char *json = NULL, eid[HOOK_EVENT_ID_LEN + 1];
	struct json_object *j;
	uint8_t *w = NULL;
	size_t wlen;
	int rc;

	memset(&env, 0, sizeof(env));
	env.device_hash = "0123456789abcdef";
	env.device_jid = "5511987654321:2@s.whatsapp.net";
	env.id = "3EB0FUZZ";
	jid_parse(&env.chat, "120363012345678901@g.us");
	jid_parse(&env.sender, "123456789:4@lid");
	env.is_group = 1;
	env.push_name = "fuzz";
	env.lid_lookup = lookup;
	rc = hook_message_payload(&env, p, n, &json, &ev, eid);
	if (rc == 0) {
		if (json == NULL || ev == NULL || strlen(eid) != 32)
			abort();
		if ((j = json_tokener_parse(json)) == NULL)
			abort();	/* must be valid JSON */
		json_object_put(j);
	}
	free(json);
	(void)msg_send_classify(p, n, &o);
	if (msg_node_dsm_wrap(p, n, "5599@s.whatsapp.net", &w, &wlen) == 0) {
		if (msg_send_classify(w, wlen, &o) != 0)
			abort();
		free(w);
	}
}

static void
fuzz_request(const uint8_t *p, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *body;
	struct msg_send_req req;
	struct msg_send_error err;
	struct msg_send_out out, o2;
	struct msg_send_ctx ctx;
	struct msg_media md;
	struct msg_quoted q = { "5599@s.whatsapp.net", "quoted" };
	struct msg_send_file f = { 1, "image/png", 10 };
	char status[512], *s;
	int k;

	body = json_tokener_parse_ex(tok, (const char *)p, (int)(n > 65536 ?
	    65536 : n));
	json_tokener_free(tok);
	if (body == NULL)
		return;
	memset(&md, 0, sizeof(md));
	md.url = "https://mmg.whatsapp.net/x";
	md.direct_path = "/x";
	memset(&ctx, 0, sizeof(ctx));
	ctx.media = &md;
	ctx.quoted = &q;
	ctx.now_ms = 1;
	for (k = 0; k < MSG_SEND_NKINDS; k++) {
		if (msg_send_parse((enum msg_send_kind)k, body, k & 1 ?
		    "3EB0PATH" : NULL, k & 2 ? &f : NULL, &req, &err) != 0) {
			if (err.code[0] == '\0' || err.message[0] == '\0')
				abort();
			continue;
		}
		if (msg_send_build(&req, &ctx, &out, &err) == 0) {
			if (msg_send_classify(out.msg, out.msglen, &o2) != 0 ||
			    strcmp(o2.type, out.type) != 0)
				abort();
			msg_send_out_free(&out);
		}
		if (msg_send_status(&req, 1700000000, status,
		    sizeof(status)) < 0)
			abort();
		s = msg_send_response(&req, "3EB0X", 1);
		free(s);
		msg_send_req_free(&req);
	}
	json_object_put(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_nodes(data + 1, size - 1);
		break;
	case 1:
		fuzz_message(data + 1, size - 1);
		break;
	case 2:
		fuzz_request(data + 1, size - 1);
		break;
	}
	return 0;
}

#else /* FUZZ_MSG_GEN */

static const char *dir;

static void
seed(const char *name, uint8_t mode, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	fputc(mode, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static void
seed_node(const char *name, struct binnode *n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	if (binnode_encode_node(n, &b) != 0)
		abort();
	seed(name, 0, b.data, b.len);
	buf_free(&b);
	binnode_free(n);
}

static void
set_jid(struct binnode *n, const char *k, const char *v)
{
	struct jid j;

	if (jid_parse(&j, v) != 0)
		abort();
	binnode_set_attr_jid(n, k, &j);
}

static void
seed_msg(const char *name, Wamsg__Message *m)
{
	uint8_t buf[4096];
	size_t len = wamsg__message__pack(m, buf);

	seed(name, 1, buf, len);
}

int
main(int argc, char **argv)
{
	struct binnode *n, *c, *l, *u, *d;
	Wamsg__Message m, q;
	Wamsg__ExtendedTextMessage et;
	Wamsg__ContextInfo ci;
	Wamsg__ReactionMessage rm;
	Wamsg__ProtocolMessage pm;
	Wamsg__MessageKey key;
	Wamsg__ImageMessage im;
	uint8_t v[64];

	dir = argc > 1 ? argv[1] : ".";
	memset(v, 0x42, sizeof(v));

	n = binnode_new("message");
	binnode_set_attrs(n, "id", "3EB0AA", "type", "text", "t", "1700000000",
	    "notify", "Ann", NULL);
	set_jid(n, "from", "5599:4@s.whatsapp.net");
	c = binnode_add_new(n, "enc");
	binnode_set_attrs(c, "v", "2", "type", "pkmsg", "count", "2", NULL);
	binnode_set_bytes(c, v, 40);
	seed_node("message-1to1", n);

	n = binnode_new("message");
	binnode_set_attrs(n, "id", "3EB0BB", "type", "media", "t", "1",
	    "addressing_mode", "lid", NULL);
	set_jid(n, "from", "120363012345678901@g.us");
	set_jid(n, "participant", "123456789:3@lid");
	set_jid(n, "participant_pn", "5588@s.whatsapp.net");
	c = binnode_add_new(n, "enc");
	binnode_set_attrs(c, "v", "2", "type", "msg", NULL);
	binnode_set_bytes(c, v, 20);
	c = binnode_add_new(n, "enc");
	binnode_set_attrs(c, "v", "2", "type", "skmsg", "mediatype", "image",
	    "decrypt-fail", "hide", NULL);
	binnode_set_bytes(c, v, 30);
	seed_node("message-group", n);

	n = binnode_new("message");
	binnode_set_attrs(n, "id", "3EB0CC", "category", "peer", NULL);
	set_jid(n, "from", "5511987654321@s.whatsapp.net");
	set_jid(n, "recipient", "5599@s.whatsapp.net");
	binnode_add_new(n, "unavailable");
	seed_node("message-self", n);

	n = binnode_new("receipt");
	binnode_set_attrs(n, "id", "3EB0AA", "type", "read", "t", "5", NULL);
	set_jid(n, "from", "120363012345678901@g.us");
	set_jid(n, "participant", "5599@s.whatsapp.net");
	l = binnode_add_new(n, "list");
	binnode_set_attr(binnode_add_new(l, "item"), "id", "3EB0AB");
	seed_node("receipt-read", n);

	n = binnode_new("receipt");
	binnode_set_attrs(n, "id", "3EB0AA", "type", "retry", NULL);
	set_jid(n, "from", "5599:3@s.whatsapp.net");
	c = binnode_add_new(n, "retry");
	binnode_set_attrs(c, "count", "1", "id", "3EB0AA", "t", "1", "v", "1",
	    NULL);
	binnode_set_bytes(binnode_add_new(n, "registration"), v, 4);
	seed_node("receipt-retry", n);

	n = binnode_new("iq");
	binnode_set_attr(n, "type", "result");
	l = binnode_add_new(binnode_add_new(n, "usync"), "list");
	u = binnode_add_new(l, "user");
	set_jid(u, "jid", "5599@s.whatsapp.net");
	d = binnode_add_new(binnode_add_new(u, "devices"), "device-list");
	binnode_set_attr(binnode_add_new(d, "device"), "id", "0");
	c = binnode_add_new(d, "device");
	binnode_set_attrs(c, "id", "5", "key-index", "1", NULL);
	c = binnode_add_new(d, "device");
	binnode_set_attrs(c, "id", "99", "key-index", "2", "is_hosted", "true",
	    NULL);
	set_jid(binnode_add_new(u, "lid"), "val", "123456789@lid");
	seed_node("usync-answer", n);

	n = binnode_new("iq");
	binnode_set_attr(n, "type", "result");
	l = binnode_add_new(n, "list");
	u = binnode_add_new(l, "user");
	set_jid(u, "jid", "5599:5@s.whatsapp.net");
	binnode_set_bytes(binnode_add_new(u, "registration"), v, 4);
	binnode_set_bytes(binnode_add_new(u, "type"), "\x05", 1);
	binnode_set_bytes(binnode_add_new(u, "identity"), v, 32);
	c = binnode_add_new(u, "key");
	binnode_set_bytes(binnode_add_new(c, "id"), v, 3);
	binnode_set_bytes(binnode_add_new(c, "value"), v, 32);
	c = binnode_add_new(u, "skey");
	binnode_set_bytes(binnode_add_new(c, "id"), v, 3);
	binnode_set_bytes(binnode_add_new(c, "value"), v, 32);
	binnode_set_bytes(binnode_add_new(c, "signature"), v, 64);
	u = binnode_add_new(l, "user");
	set_jid(u, "jid", "5599:6@s.whatsapp.net");
	binnode_set_attr(binnode_add_new(u, "error"), "code", "404");
	seed_node("bundle-answer", n);

	wamsg__message__init(&m);
	m.conversation = (char *)"hello @123456789 there";
	seed_msg("msg-text", &m);

	wamsg__message__init(&m);
	wamsg__message__init(&q);
	wamsg__extended_text_message__init(&et);
	wamsg__context_info__init(&ci);
	q.conversation = (char *)"orig";
	ci.stanzaid = (char *)"3EB0Q";
	ci.quotedmessage = &q;
	ci.has_isforwarded = ci.isforwarded = 1;
	et.text = (char *)"reply";
	et.contextinfo = &ci;
	m.extendedtextmessage = &et;
	seed_msg("msg-reply", &m);

	wamsg__message__init(&m);
	wamsg__reaction_message__init(&rm);
	wamsg__message_key__init(&key);
	key.id = (char *)"3EB0T";
	rm.key = &key;
	rm.text = (char *)"+1";
	m.reactionmessage = &rm;
	seed_msg("msg-reaction", &m);

	wamsg__message__init(&m);
	wamsg__protocol_message__init(&pm);
	pm.key = &key;
	pm.has_type = 1;
	pm.type = 14;
	q.conversation = (char *)"edited";
	pm.editedmessage = &q;
	m.protocolmessage = &pm;
	seed_msg("msg-edit", &m);

	wamsg__message__init(&m);
	wamsg__image_message__init(&im);
	im.mimetype = (char *)"image/jpeg";
	im.caption = (char *)"c";
	m.imagemessage = &im;
	seed_msg("msg-image", &m);

#define JSEED(name, text) seed(name, 2, text, strlen(text))
	JSEED("req-text", "{\"phone\":\"+6281234\",\"message\":\"hi @6285\","
	    "\"reply_message_id\":\"3EB0Q\",\"duration\":60,"
	    "\"is_forwarded\":true}");
	JSEED("req-poll", "{\"phone\":\"120363012345678901@g.us\",\"question\":"
	    "\"q\",\"options\":[\"a\",\"b\"],\"max_answer\":1}");
	JSEED("req-location", "{\"phone\":\"62812\",\"latitude\":\"-6.2\","
	    "\"longitude\":\"106.8\"}");
	JSEED("req-contact", "{\"phone\":\"62812\",\"contact_name\":\"A\","
	    "\"contact_phone\":\"62811\",\"link\":\"https://example.com\","
	    "\"caption\":\"c\",\"emoji\":\"x\",\"image_url\":"
	    "\"https://example.com/a.png\"}");
	return 0;
}

#endif /* FUZZ_MSG_GEN */
