/* test_usync.c - usync device-list query/answer and prekey-bundle fetch
 * IQ/answer: node shapes, parsed values, device JIDs (key-index, hosted),
 * and malformed or truncated answers (every prefix of a valid one). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "binnode.h"
#include "buf.h"
#include "bundle.h"
#include "jid.h"
#include "usync.h"

static struct jid
J(const char *s)
{
	struct jid j;

	if (jid_parse(&j, s) != 0)
		printf("# bad jid %s\n", s);
	return j;
}

static struct binnode *
wire(const struct binnode *n, struct buf *b)
{
	struct binnode *d = NULL;

	buf_reset(b);
	if (binnode_encode_node(n, b) == 0)
		binnode_decode_node(b->data, b->len, &d);
	return d;
}

/* ------------------------------------------------------------ usync */

static void
test_usync_query(void)
{
	struct jid u[3];
	struct binnode *iq, *us, *q, *l;
	struct buf b;
	struct binnode *d;

	u[0] = J("5511987654321@s.whatsapp.net");
	u[1] = J("5511999999999:4@s.whatsapp.net");	/* device dropped */
	u[2] = J("123456789012345@lid");
	iq = usync_devices_query(u, 3, "sid-1", 1);
	T_OK(iq != NULL, "query built");
	if (iq == NULL)
		return;
	T_EQ_STR(binnode_attr(iq, "type"), "get", "type get");
	T_EQ_STR(binnode_attr(iq, "xmlns"), "usync", "xmlns usync");
	T_EQ_STR(binnode_attr(iq, "to"), "@s.whatsapp.net", "to server JID");
	us = binnode_child(iq, "usync");
	T_OK(us != NULL && strcmp(binnode_attr(us, "sid"), "sid-1") == 0 &&
	    strcmp(binnode_attr(us, "mode"), "query") == 0 &&
	    strcmp(binnode_attr(us, "last"), "true") == 0 &&
	    strcmp(binnode_attr(us, "index"), "0") == 0 &&
	    strcmp(binnode_attr(us, "context"), "message") == 0,
	    "usync attrs");
	q = us ? binnode_child(us, "query") : NULL;
	T_OK(q != NULL && binnode_child(q, "devices") != NULL &&
	    strcmp(binnode_attr(binnode_child(q, "devices"), "version"), "2")
	    == 0 && binnode_child(q, "lid") != NULL, "query devices v2 + lid");
	l = us ? binnode_child(us, "list") : NULL;
	T_OK(l != NULL && binnode_count(l, "user") == 3 &&
	    strcmp(binnode_attr(l->children[1], "jid"),
	    "5511999999999@s.whatsapp.net") == 0 &&
	    strcmp(binnode_attr(l->children[2], "jid"),
	    "123456789012345@lid") == 0, "user list, bare JIDs");
	buf_init(&b, 1 << 16);
	d = wire(iq, &b);
	T_OK(d != NULL && binnode_equal(d, iq), "wire round trip");
	binnode_free(d);
	buf_free(&b);
	binnode_free(iq);

	iq = usync_devices_query(u, 1, NULL, 0);
	T_OK(iq != NULL && strlen(binnode_attr(binnode_child(iq, "usync"),
	    "sid")) == 16 && binnode_child(binnode_child(binnode_child(iq,
	    "usync"), "query"), "lid") == NULL, "random sid, no lid");
	binnode_free(iq);
	T_OK(usync_devices_query(u, 0, NULL, 0) == NULL, "no users refused");
	u[0] = J("120363012345678901@g.us");
	T_OK(usync_devices_query(u, 1, NULL, 0) == NULL, "group refused");
}

static struct binnode *
usync_answer(void)
{
	struct binnode *iq, *us, *list, *u, *devs, *dl, *d, *k;
	struct jid j;

	iq = binnode_new("iq");
	binnode_set_attrs(iq, "type", "result", "id", "1", NULL);
	us = binnode_add_new(iq, "usync");
	list = binnode_add_new(us, "list");

	u = binnode_add_new(list, "user");
	j = J("5511987654321@s.whatsapp.net");
	binnode_set_attr_jid(u, "jid", &j);
	devs = binnode_add_new(u, "devices");
	dl = binnode_add_new(devs, "device-list");
	d = binnode_add_new(dl, "device");
	binnode_set_attr(d, "id", "0");
	d = binnode_add_new(dl, "device");
	binnode_set_attrs(d, "id", "7", "key-index", "2", NULL);
	d = binnode_add_new(dl, "device");
	binnode_set_attr(d, "id", "9");		/* no key-index */
	d = binnode_add_new(dl, "device");
	binnode_set_attrs(d, "id", "99", "key-index", "3", "is_hosted",
	    "true", NULL);
	k = binnode_add_new(devs, "key-index-list");
	binnode_set_attr(k, "ts", "1700000000");
	binnode_set_bytes(k, "signed", 6);
	d = binnode_add_new(u, "lid");
	j = J("123456789012345@lid");
	binnode_set_attr_jid(d, "val", &j);

	u = binnode_add_new(list, "user");
	j = J("5511999999999@s.whatsapp.net");
	binnode_set_attr_jid(u, "jid", &j);
	devs = binnode_add_new(u, "devices");
	d = binnode_add_new(devs, "error");
	binnode_set_attrs(d, "code", "404", "text", "not found", NULL);
	return iq;
}

static void
test_usync_parse(void)
{
	struct binnode *a = usync_answer(), *d;
	struct usync_user *u = NULL;
	struct jid out[8];
	char s[JID_STR_MAX];
	size_t n = 0, k;
	struct buf b;

	buf_init(&b, 1 << 16);
	d = wire(a, &b);
	T_OK(d != NULL && usync_parse_devices(d, &u, &n) == 0 && n == 2,
	    "answer parses");
	if (u == NULL || n != 2)
		goto out;
	jid_format(&u[0].jid, s, sizeof(s));
	T_EQ_STR(s, "5511987654321@s.whatsapp.net", "user jid");
	T_OK(u[0].ndevices == 4 && u[0].devices[1].id == 7 &&
	    u[0].devices[1].has_key_index && u[0].devices[1].key_index == 2 &&
	    !u[0].devices[2].has_key_index && u[0].devices[3].hosted,
	    "devices, key-index, hosted");
	T_OK(u[0].has_lid, "lid present");
	jid_format(&u[0].lid, s, sizeof(s));
	T_EQ_STR(s, "123456789012345@lid", "lid mapping");
	T_EQ_INT(u[0].key_index_ts, 1700000000, "key-index ts");
	T_OK(u[1].error && u[1].ndevices == 0, "user with <error>");

	k = usync_device_jids(&u[0], 1, 0, out, 8);
	T_EQ_INT(k, 3, "unindexed device dropped");
	jid_format(&out[1], s, sizeof(s));
	T_EQ_STR(s, "5511987654321:7@s.whatsapp.net", "device JID");
	jid_format(&out[2], s, sizeof(s));
	T_EQ_STR(s, "5511987654321:99@hosted", "hosted device JID");
	T_EQ_INT(usync_device_jids(&u[0], 0, 0, out, 8), 4, "all devices");
	T_EQ_INT(usync_device_jids(&u[0], 1, 1, out, 8), 2, "hosted skipped");
	T_EQ_INT(usync_device_jids(&u[0], 0, 0, out, 2), 2, "max respected");
	T_EQ_INT(usync_device_jids(&u[1], 0, 0, out, 8), 0, "error user");
	/* the <usync> node itself is accepted too */
	free(u);
	u = NULL;
	T_OK(usync_parse_devices(binnode_child(d, "usync"), &u, &n) == 0 &&
	    n == 2, "usync node accepted");
out:
	free(u);
	binnode_free(d);
	binnode_free(a);
	buf_free(&b);
}

static void
test_usync_malformed(void)
{
	struct binnode *a, *dl;
	struct usync_user *u = NULL;
	size_t n = 9, i;
	struct buf b;
	int ok = 1, parsed = 0;

	a = binnode_new("iq");
	binnode_set_attr(a, "type", "error");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EIQ, "error iq");
	T_OK(u == NULL && n == 0, "outputs cleared");
	binnode_set_attr(a, "type", "result");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EINVAL, "no usync");
	binnode_add_new(a, "usync");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EINVAL, "no list");
	binnode_free(a);
	T_EQ_INT(usync_parse_devices(NULL, &u, &n), USYNC_EINVAL, "NULL");

	a = usync_answer();
	dl = binnode_child(binnode_child(binnode_child(binnode_child(
	    binnode_child(a, "usync"), "list"), "user"), "devices"),
	    "device-list");
	binnode_set_attr(dl->children[1], "id", "70000");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EINVAL,
	    "device id > 65535");
	binnode_set_attr(dl->children[1], "id", "x");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EINVAL, "device id NaN");
	binnode_set_attr(dl->children[1], "id", "7");
	binnode_set_attr(dl->children[1], "key-index", "-1");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EINVAL,
	    "bad key-index");
	binnode_set_attr(dl->children[1], "key-index", "1");
	for (i = 0; i < USYNC_MAX_DEVICES; i++)
		binnode_set_attr(binnode_add_new(dl, "device"), "id", "1");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_ELIMIT,
	    "too many devices");
	binnode_free(a);

	a = usync_answer();
	binnode_del_attr(binnode_child(binnode_child(binnode_child(a, "usync"),
	    "list"), "user"), "jid");
	T_EQ_INT(usync_parse_devices(a, &u, &n), USYNC_EINVAL, "user w/o jid");
	binnode_free(a);

	/* every truncation of the encoded answer: no crash, and whatever
	 * still decodes parses or is refused cleanly */
	a = usync_answer();
	buf_init(&b, 1 << 16);
	binnode_encode_node(a, &b);
	for (i = 0; i < b.len; i++) {
		struct binnode *d = NULL;

		if (binnode_decode_node(b.data, i, &d) == 0) {
			int rc = usync_parse_devices(d, &u, &n);

			if (rc == 0) {
				parsed++;
				free(u);
				u = NULL;
			} else if (u != NULL || n != 0)
				ok = 0;
		}
		binnode_free(d);
	}
	T_OK(ok, "truncated answers: clean results (%d prefixes parsed)",
	    parsed);
	buf_free(&b);
	binnode_free(a);
}

/* ------------------------------------------------------------ bundle */

static void
test_bundle_query(void)
{
	struct jid d[2];
	struct binnode *iq, *k;

	d[0] = J("5511987654321:7@s.whatsapp.net");
	d[1] = J("123456789012345@lid");
	iq = bundle_query(d, 2, 1);
	T_OK(iq != NULL && strcmp(binnode_attr(iq, "xmlns"), "encrypt") == 0 &&
	    strcmp(binnode_attr(iq, "type"), "get") == 0 &&
	    strcmp(binnode_attr(iq, "to"), "@s.whatsapp.net") == 0, "iq attrs");
	k = iq ? binnode_child(iq, "key") : NULL;
	T_OK(k != NULL && binnode_count(k, "user") == 2 &&
	    strcmp(binnode_attr(k->children[0], "jid"),
	    "5511987654321:7@s.whatsapp.net") == 0 &&
	    strcmp(binnode_attr(k->children[0], "reason"), "identity") == 0,
	    "<key><user jid reason=identity>");
	binnode_free(iq);
	iq = bundle_query(d, 1, 0);
	T_OK(iq != NULL && binnode_attr(binnode_child(binnode_child(iq, "key"),
	    "user"), "reason") == NULL, "no reason");
	binnode_free(iq);
	T_OK(bundle_query(d, 0, 1) == NULL, "empty refused");
}

static void
add_b(struct binnode *p, const char *tag, uint8_t fill, size_t len)
{
	uint8_t v[128];

	memset(v, fill, len);
	binnode_set_bytes(binnode_add_new(p, tag), v, len);
}

static struct binnode *
bundle_user(const char *jid, int with_prekey, int wrapped)
{
	struct binnode *u = binnode_new("user"), *k, *keys;
	struct jid j = J(jid);

	binnode_set_attr_jid(u, "jid", &j);
	binnode_set_bytes(binnode_add_new(u, "registration"),
	    "\x00\x00\x30\x39", 4);
	keys = wrapped ? binnode_add_new(u, "keys") : u;
	binnode_set_bytes(binnode_add_new(keys, "type"), "\x05", 1);
	add_b(keys, "identity", 0xA1, 32);
	if (with_prekey) {
		k = binnode_add_new(keys, "key");
		binnode_set_bytes(binnode_add_new(k, "id"), "\x01\x02\x03", 3);
		add_b(k, "value", 0xB2, 32);
	}
	k = binnode_add_new(keys, "skey");
	binnode_set_bytes(binnode_add_new(k, "id"), "\x00\x00\x01", 3);
	add_b(k, "value", 0xC3, 32);
	add_b(k, "signature", 0xD4, 64);
	return u;
}

static struct binnode *
bundle_answer(void)
{
	struct binnode *iq = binnode_new("iq"), *list, *u, *e;
	struct jid j = J("5511000000001:3@s.whatsapp.net");

	binnode_set_attrs(iq, "type", "result", "id", "2", NULL);
	list = binnode_add_new(iq, "list");
	u = bundle_user("5511987654321:7@s.whatsapp.net", 1, 0);
	binnode_add_child(list, &u);
	u = bundle_user("123456789012345@lid", 0, 1);
	binnode_add_child(list, &u);
	u = binnode_add_new(list, "user");
	binnode_set_attr_jid(u, "jid", &j);
	e = binnode_add_new(u, "error");
	binnode_set_attrs(e, "code", "404", "text", "item-not-found", NULL);
	return iq;
}

static void
test_bundle_parse(void)
{
	struct binnode *a = bundle_answer(), *d;
	struct bundle_user *u = NULL;
	size_t n = 0;
	struct buf b;
	char s[JID_STR_MAX];
	uint8_t x[64];

	buf_init(&b, 1 << 16);
	d = wire(a, &b);
	T_OK(d != NULL && bundle_parse(d, &u, &n) == 0 && n == 3, "parses");
	if (u == NULL || n != 3)
		goto out;
	jid_format(&u[0].jid, s, sizeof(s));
	T_EQ_STR(s, "5511987654321:7@s.whatsapp.net", "device jid");
	T_OK(u[0].ok && u[0].bundle.registration_id == 12345,
	    "registration id BE32");
	memset(x, 0xA1, 32);
	T_OK(memcmp(u[0].bundle.identity_pub, x, 32) == 0, "identity");
	memset(x, 0xB2, 32);
	T_OK(u[0].bundle.has_prekey && u[0].bundle.prekey_id == 0x010203 &&
	    memcmp(u[0].bundle.prekey_pub, x, 32) == 0, "one-time prekey");
	memset(x, 0xC3, 32);
	T_OK(u[0].bundle.signed_prekey_id == 1 &&
	    memcmp(u[0].bundle.signed_prekey_pub, x, 32) == 0,
	    "signed prekey");
	memset(x, 0xD4, 64);
	T_OK(memcmp(u[0].bundle.signed_prekey_sig, x, 64) == 0, "signature");
	T_OK(u[1].ok && !u[1].bundle.has_prekey, "<keys> wrapper, no prekey");
	T_OK(!u[2].ok && u[2].error_code == 404, "<error code=404>");
out:
	free(u);
	binnode_free(d);
	buf_free(&b);
	binnode_free(a);
}

static void
test_bundle_malformed(void)
{
	static const struct {
		const char *path[3];	/* child chain from the user */
		size_t len;		/* new length of its bytes */
	} cut[] = {
		{ { "registration", NULL, NULL }, 3 },
		{ { "identity", NULL, NULL }, 31 },
		{ { "identity", NULL, NULL }, 33 },
		{ { "key", "id", NULL }, 2 },
		{ { "key", "value", NULL }, 31 },
		{ { "skey", "id", NULL }, 4 },
		{ { "skey", "value", NULL }, 0 },
		{ { "skey", "signature", NULL }, 63 },
	};
	struct signal_bundle sb;
	struct binnode *u, *c, *a;
	struct bundle_user *bu = NULL;
	size_t i, j, n;
	struct buf b;
	int ok = 1, parsed = 0;

	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		u = bundle_user("5511@s.whatsapp.net", 1, 0);
		c = u;
		for (j = 0; j < 3 && cut[i].path[j] != NULL; j++)
			c = binnode_child(c, cut[i].path[j]);
		binnode_set_bytes(c, "\x00\x00\x00\x00\x00\x00\x00\x00"
		    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
		    "\x00\x00", cut[i].len);
		T_EQ_INT(bundle_parse_user(u, &sb), BUNDLE_EINVAL,
		    cut[i].path[1] ? cut[i].path[1] : cut[i].path[0]);
		binnode_free(u);
	}
	u = bundle_user("5511@s.whatsapp.net", 1, 0);
	binnode_set_bytes(binnode_child(u, "type"), "\x06", 1);
	T_EQ_INT(bundle_parse_user(u, &sb), BUNDLE_EINVAL, "key type 6");
	binnode_free(u);
	u = bundle_user("5511@s.whatsapp.net", 1, 0);
	binnode_set_bytes(binnode_child(binnode_child(u, "key"), "id"),
	    "\xff\xff\xff", 3);
	T_EQ_INT(bundle_parse_user(u, &sb), BUNDLE_EINVAL, "prekey id 0xFFFFFF");
	binnode_free(u);
	u = bundle_user("5511@s.whatsapp.net", 1, 0);
	binnode_clear_content(binnode_child(u, "skey"));
	T_EQ_INT(bundle_parse_user(u, &sb), BUNDLE_EINVAL, "empty skey");
	binnode_free(u);

	/* a bad user is reported in its entry */
	a = bundle_answer();
	c = binnode_child(binnode_child(a, "list"), "user");
	binnode_set_bytes(binnode_child(c, "identity"), "x", 1);
	T_OK(bundle_parse(a, &bu, &n) == 0 && n == 3 && !bu[0].ok &&
	    bu[0].error_code == -1 && bu[1].ok, "bad user flagged, others ok");
	free(bu);
	bu = NULL;
	binnode_del_attr(c, "jid");
	T_EQ_INT(bundle_parse(a, &bu, &n), BUNDLE_EINVAL, "user without jid");
	binnode_set_attr(a, "type", "error");
	T_EQ_INT(bundle_parse(a, &bu, &n), BUNDLE_EIQ, "error iq");
	binnode_free(a);
	a = binnode_new("iq");
	T_EQ_INT(bundle_parse(a, &bu, &n), BUNDLE_EINVAL, "no list");
	binnode_free(a);

	a = bundle_answer();
	buf_init(&b, 1 << 16);
	binnode_encode_node(a, &b);
	for (i = 0; i < b.len; i++) {
		struct binnode *d = NULL;

		if (binnode_decode_node(b.data, i, &d) == 0) {
			int rc = bundle_parse(d, &bu, &n);

			if (rc == 0) {
				parsed++;
				free(bu);
				bu = NULL;
			} else if (bu != NULL || n != 0)
				ok = 0;
		}
		binnode_free(d);
	}
	T_OK(ok, "truncated answers: clean results (%d prefixes parsed)",
	    parsed);
	buf_free(&b);
	binnode_free(a);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_usync_query);
	T_RUN(test_usync_parse);
	T_RUN(test_usync_malformed);
	T_RUN(test_bundle_query);
	T_RUN(test_bundle_parse);
	T_RUN(test_bundle_malformed);
	return t_done();
}
