/*
 * msg-node.c - build and parse the stanzas of end-to-end messaging
 * (PROTOCOL.md §6.6, §7.4-7.7, §8.1, §8.3-8.4).  Pure functions over
 * binnode trees and Message bytes: no crypto beyond the phash digest, no
 * I/O, no logging.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wamsg.pb-c.h"

#include "buf.h"
#include "msg-node.h"
#include "signal-session.h"
#include "xmalloc.h"

/* ------------------------------------------------------------ helpers */

static const struct binnode_attr *
find_attr(const struct binnode *n, const char *key)
{
	size_t i;

	for (i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[i].key, key) == 0)
			return &n->attrs[i];
	return NULL;
}

/* Copy one attribute, keeping a typed JID typed. */
static void
copy_attr(struct binnode *dst, const char *dkey, const struct binnode *src,
    const char *skey)
{
	const struct binnode_attr *a = find_attr(src, skey);
	struct jid j;

	if (a == NULL || a->value == NULL || a->value[0] == '\0')
		return;
	if (a->jid != NULL)
		binnode_set_attr_jid(dst, dkey, a->jid);
	else if (strchr(a->value, '@') != NULL && jid_parse(&j, a->value) == 0)
		binnode_set_attr_jid(dst, dkey, &j);
	else
		binnode_set_attr(dst, dkey, a->value);
}

static void
set_u64(struct binnode *n, const char *key, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	binnode_set_attr(n, key, s);
}

static void
add_bytes(struct binnode *parent, const char *tag, const void *p, size_t len)
{
	struct binnode *c = binnode_add_new(parent, tag);

	binnode_set_bytes(c, p, len);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static int
is_group_server(const struct jid *j)
{
	return jid_is_group(j) || jid_is_broadcast(j);
}

/* ------------------------------------------------------------ sending */

enum msg_node_role
msg_node_device_role(const struct jid *dev, const struct jid *own_pn,
    const struct jid *own_lid)
{
	const struct jid *own[2] = { own_pn, own_lid };
	int i;

	for (i = 0; i < 2; i++) {
		if (own[i] == NULL || own[i]->user[0] == '\0')
			continue;
		if (strcmp(dev->user, own[i]->user) != 0 ||
		    strcmp(dev->server, own[i]->server) != 0)
			continue;
		return dev->device == own[i]->device ? MSG_NODE_SKIP :
		    MSG_NODE_OWN;
	}
	return MSG_NODE_PEER;
}

/* Protobuf wire helpers for the DSM wrapper, which must carry the
 * original Message bytes verbatim (re-serializing a decoded message would
 * not be byte-exact: protobuf-c strings stop at a NUL). */
static int
pb_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	int shift;

	*v = 0;
	for (shift = 0; shift < 64; shift += 7) {
		if (*off >= len)
			return -1;
		*v |= (uint64_t)(p[*off] & 0x7f) << shift;
		if ((p[(*off)++] & 0x80) == 0)
			return 0;
	}
	return -1;
}

static void
pb_put_varint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_putc(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	buf_putc(b, (uint8_t)v);
}

static void
pb_put_bytes(struct buf *b, uint32_t field, const void *p, size_t len)
{
	pb_put_varint(b, (uint64_t)field << 3 | 2);
	pb_put_varint(b, len);
	buf_append(b, p, len);
}

/* Last top-level length-delimited field `field` of a message; -1 if the
 * message is malformed at the top level. */
static int
pb_find(const uint8_t *p, size_t len, uint32_t field, const uint8_t **val,
    size_t *vlen)
{
	size_t off = 0;
	uint64_t key, v;

	*val = NULL;
	*vlen = 0;
	while (off < len) {
		if (pb_varint(p, len, &off, &key) != 0 || (key >> 3) == 0)
			return -1;
		switch (key & 7) {
		case 0:
			if (pb_varint(p, len, &off, &v) != 0)
				return -1;
			break;
		case 1:
			if (len - off < 8)
				return -1;
			off += 8;
			break;
		case 5:
			if (len - off < 4)
				return -1;
			off += 4;
			break;
		case 2:
			if (pb_varint(p, len, &off, &v) != 0 || v > len - off)
				return -1;
			if ((key >> 3) == field) {
				*val = p + off;
				*vlen = (size_t)v;
			}
			off += (size_t)v;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int
msg_node_dsm_wrap(const uint8_t *msg, size_t len, const char *dest,
    uint8_t **out, size_t *outlen)
{
	Wamsg__Message *orig;
	const uint8_t *mci;
	size_t mcilen;
	struct buf inner, b;

	*out = NULL;
	*outlen = 0;
	if (dest == NULL || msg == NULL ||
	    pb_find(msg, len, 35, &mci, &mcilen) != 0)
		return MSG_NODE_EINVAL;
	if ((orig = wamsg__message__unpack(NULL, len, msg)) == NULL)
		return MSG_NODE_EINVAL;
	wamsg__message__free_unpacked(orig, NULL);
	buf_init(&inner, len + strlen(dest) + 32);
	buf_init(&b, len + strlen(dest) + mcilen + 64);
	/* DeviceSentMessage{destinationJID = 1, message = 2} */
	pb_put_bytes(&inner, 1, dest, strlen(dest));
	pb_put_bytes(&inner, 2, msg, len);
	/* Message{deviceSentMessage = 31, messageContextInfo = 35} */
	pb_put_bytes(&b, 31, inner.data, inner.len);
	if (mci != NULL)
		pb_put_bytes(&b, 35, mci, mcilen);
	buf_free(&inner);
	*out = xmalloc(b.len);
	memcpy(*out, b.data, b.len);
	*outlen = b.len;
	buf_free(&b);
	return 0;
}

int
msg_node_skdm_message(const char *group, const uint8_t *skdm, size_t skdmlen,
    uint8_t **out, size_t *outlen)
{
	Wamsg__Message m;
	Wamsg__SenderKeyDistributionMessage s;

	*out = NULL;
	*outlen = 0;
	if (group == NULL || skdm == NULL)
		return MSG_NODE_EINVAL;
	wamsg__message__init(&m);
	wamsg__sender_key_distribution_message__init(&s);
	s.groupid = (char *)(uintptr_t)group;
	s.has_axolotlsenderkeydistributionmessage = 1;
	s.axolotlsenderkeydistributionmessage.data = (uint8_t *)(uintptr_t)skdm;
	s.axolotlsenderkeydistributionmessage.len = skdmlen;
	m.senderkeydistributionmessage = &s;
	*outlen = wamsg__message__get_packed_size(&m);
	*out = xmalloc(*outlen);
	wamsg__message__pack(&m, *out);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
msg_node_phash(const struct jid *devs, size_t n, char *out, size_t outsz)
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	char **s, b64[16];
	size_t i;

	if (out == NULL || outsz < MSG_NODE_PHASH_LEN + 1 ||
	    n > MSG_NODE_MAX_DEVICES * 4)
		return -1;
	s = xcalloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++)
		xasprintf(&s[i], "%s.%u:%u@%s", devs[i].user,
		    (unsigned)devs[i].agent, (unsigned)devs[i].device,
		    devs[i].server);
	qsort(s, n, sizeof(char *), cmp_str);
	crypto_hash_sha256_init(&st);
	for (i = 0; i < n; i++) {
		crypto_hash_sha256_update(&st, (const uint8_t *)s[i],
		    strlen(s[i]));
		free(s[i]);
	}
	free(s);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2base64(b64, sizeof(b64), h, 6,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(out, outsz, "2:%s", b64);
	return 0;
}

static struct binnode *
enc_node(const char *type, const uint8_t *ct, size_t ctlen,
    const struct msg_node_send *s)
{
	struct binnode *e = binnode_new("enc");
	char cnt[16];

	binnode_set_attrs(e, "v", "2", "type", type, NULL);
	if (s->mediatype != NULL && s->mediatype[0] != '\0')
		binnode_set_attr(e, "mediatype", s->mediatype);
	if (s->hide_fail)
		binnode_set_attr(e, "decrypt-fail", "hide");
	if (s->retry && s->retry_count > 0) {
		snprintf(cnt, sizeof(cnt), "%u", s->retry_count);
		binnode_set_attr(e, "count", cnt);
	}
	binnode_set_bytes(e, ct, ctlen);
	return e;
}

static const char *
enc_type(int t)
{
	if (t == SIGNAL_MSG_TYPE_PKMSG)
		return "pkmsg";
	if (t == SIGNAL_MSG_TYPE_MSG)
		return "msg";
	return NULL;
}

int
msg_node_build_send(const struct msg_node_send *s, struct binnode **out)
{
	struct binnode *m = NULL, *parts, *to, *e;
	struct jid *devs = NULL;
	char phash[MSG_NODE_PHASH_LEN + 1];
	int any_pk = 0, rc = MSG_NODE_EINVAL;
	size_t i;

	*out = NULL;
	if (s == NULL || s->id == NULL || s->id[0] == '\0' || s->to == NULL ||
	    (s->nencs > 0 && s->encs == NULL))
		return MSG_NODE_EINVAL;
	if (s->nencs > MSG_NODE_MAX_DEVICES)
		return MSG_NODE_ELIMIT;
	if (s->nencs == 0 && s->skmsg == NULL)
		return MSG_NODE_EINVAL;
	if (s->retry && (s->nencs != 1 || s->skmsg != NULL))
		return MSG_NODE_EINVAL;
	for (i = 0; i < s->nencs; i++) {
		if (enc_type(s->encs[i].type) == NULL ||
		    s->encs[i].ct == NULL || s->encs[i].ctlen == 0)
			return MSG_NODE_EINVAL;
		if (s->encs[i].type == SIGNAL_MSG_TYPE_PKMSG)
			any_pk = 1;
	}
	if (any_pk && (s->device_identity == NULL ||
	    s->device_identity_len == 0))
		return MSG_NODE_EIDENTITY;

	m = binnode_new("message");
	binnode_set_attr(m, "id", s->id);
	binnode_set_attr_jid(m, "to", s->to);
	binnode_set_attr(m, "type", s->type ? s->type : "text");
	if (s->edit != NULL && s->edit[0] != '\0')
		binnode_set_attr(m, "edit", s->edit);
	if (s->addressing_mode != NULL)
		binnode_set_attr(m, "addressing_mode", s->addressing_mode);
	if (s->peer_recipient_pn != NULL)
		binnode_set_attr_jid(m, "peer_recipient_pn",
		    s->peer_recipient_pn);
	if (s->t > 0)
		set_u64(m, "t", s->t);
	if (s->participant != NULL)
		binnode_set_attr_jid(m, "participant", s->participant);
	if (s->recipient != NULL)
		binnode_set_attr_jid(m, "recipient", s->recipient);
	if (s->retry && !is_group_server(s->to))
		binnode_set_attr(m, "device_fanout", "false");

	if (s->retry) {
		e = enc_node(enc_type(s->encs[0].type), s->encs[0].ct,
		    s->encs[0].ctlen, s);
		binnode_add_child(m, &e);
	} else if (s->nencs > 0) {
		parts = binnode_add_new(m, "participants");
		for (i = 0; i < s->nencs; i++) {
			to = binnode_add_new(parts, "to");
			binnode_set_attr_jid(to, "jid", &s->encs[i].jid);
			e = enc_node(enc_type(s->encs[i].type), s->encs[i].ct,
			    s->encs[i].ctlen, s);
			binnode_add_child(to, &e);
		}
	}
	if (s->skmsg != NULL) {
		e = enc_node("skmsg", s->skmsg, s->skmsglen, s);
		binnode_add_child(m, &e);
	}
	if (is_group_server(s->to) && !s->retry) {
		if (s->phash != NULL)
			binnode_set_attr(m, "phash", s->phash);
		else {
			devs = xcalloc(s->nencs ? s->nencs : 1, sizeof(*devs));
			for (i = 0; i < s->nencs; i++)
				devs[i] = s->encs[i].jid;
			if (msg_node_phash(devs, s->nencs, phash,
			    sizeof(phash)) == 0 && s->nencs > 0)
				binnode_set_attr(m, "phash", phash);
		}
	}
	if (any_pk)
		add_bytes(m, "device-identity", s->device_identity,
		    s->device_identity_len);
	if (s->tctoken != NULL && s->tctoken_len > 0)
		add_bytes(m, "tctoken", s->tctoken, s->tctoken_len);
	if (s->polltype != NULL) {
		e = binnode_add_new(m, "meta");
		binnode_set_attr(e, "polltype", s->polltype);
	}
	*out = m;
	m = NULL;
	rc = 0;
	free(devs);
	binnode_free(m);
	return rc;
}

/* ------------------------------------------------------------ receiving */

static int
copy_str(char *dst, size_t dstsz, const char *src)
{
	size_t n;

	if (src == NULL) {
		dst[0] = '\0';
		return 0;
	}
	n = strlen(src);
	if (n >= dstsz)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

/* Copy an informational attribute, cut to the buffer. */
static void
copy_cut(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src ? src : "");
}

/* Copy a push name, cutting an overlong one on a UTF-8 boundary. */
static void
copy_notify(char *dst, size_t dstsz, const char *src)
{
	size_t n;

	dst[0] = '\0';
	if (src == NULL)
		return;
	n = strlen(src);
	if (n >= dstsz) {
		n = dstsz - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
attr_jid(const struct binnode *n, const char *key, struct jid *out)
{
	const char *v = binnode_attr(n, key);

	if (v == NULL || v[0] == '\0')
		return 1;		/* absent */
	return binnode_attr_jid(n, key, out) == 0 ? 0 : -1;
}

static int
same_user(const struct jid *a, const struct jid *b)
{
	return b != NULL && b->user[0] != '\0' &&
	    strcmp(a->user, b->user) == 0 && strcmp(a->server, b->server) == 0;
}

int
msg_node_parse(const struct binnode *n, const struct jid *own_pn,
    const struct jid *own_lid, struct msg_in *m)
{
	const char *v;
	uint64_t u;
	size_t i;
	int r;

	memset(m, 0, sizeof(*m));
	if (n == NULL || !binnode_tag_is(n, "message"))
		return MSG_NODE_EINVAL;
	v = binnode_attr(n, "id");
	if (v == NULL || v[0] == '\0' ||
	    copy_str(m->id, sizeof(m->id), v) != 0)
		return MSG_NODE_EINVAL;
	if (attr_jid(n, "from", &m->from) != 0)
		return MSG_NODE_EINVAL;
	copy_cut(m->type, sizeof(m->type), binnode_attr(n, "type"));
	copy_cut(m->category, sizeof(m->category), binnode_attr(n, "category"));
	copy_cut(m->edit, sizeof(m->edit), binnode_attr(n, "edit"));
	copy_cut(m->addressing_mode, sizeof(m->addressing_mode),
	    binnode_attr(n, "addressing_mode"));
	copy_notify(m->notify, sizeof(m->notify), binnode_attr(n, "notify"));
	if (binnode_attr(n, "t") != NULL) {
		if (binnode_attr_u64(n, "t", &u) != 0)
			return MSG_NODE_EINVAL;
		m->t = u;
	}
	m->offline = binnode_attr(n, "offline") != NULL;
	if ((r = attr_jid(n, "participant", &m->participant)) < 0)
		return MSG_NODE_EINVAL;
	m->has_participant = r == 0;
	if ((r = attr_jid(n, "recipient", &m->recipient)) < 0)
		return MSG_NODE_EINVAL;
	m->has_recipient = r == 0;
	/* The alternate identity of the author (LID <-> PN). */
	{
		static const char *const alt[] = { "participant_lid",
		    "participant_pn", "sender_lid", "sender_pn" };

		for (i = 0; i < 4 && !m->has_sender_alt; i++) {
			if ((r = attr_jid(n, alt[i], &m->sender_alt)) < 0)
				return MSG_NODE_EINVAL;
			m->has_sender_alt = r == 0;
		}
	}

	/* Who is it (§8.1). */
	if (is_group_server(&m->from)) {
		if (!m->has_participant)
			return MSG_NODE_EINVAL;
		m->is_group = 1;
		jid_to_bare(&m->chat, &m->from);
		m->sender = m->participant;
		m->is_from_me = same_user(&m->sender, own_pn) ||
		    same_user(&m->sender, own_lid);
	} else if (jid_is_newsletter(&m->from)) {
		m->is_newsletter = 1;
		m->chat = m->from;
		m->sender = m->from;
	} else {
		if (m->from.user[0] == '\0')
			return MSG_NODE_EINVAL;
		/* business-hosted devices talk as their PN / LID user */
		if (jid_server_is(&m->from, JID_SERVER_HOSTED) ||
		    jid_server_is(&m->from, JID_SERVER_HOSTED_LID)) {
			struct jid h = m->from;

			if (jid_set(&m->from, h.user, jid_server_is(&h,
			    JID_SERVER_HOSTED) ? JID_SERVER_PN : JID_SERVER_LID,
			    h.device) != 0)
				return MSG_NODE_EINVAL;
		}
		m->sender = m->from;
		if (same_user(&m->from, own_pn) ||
		    same_user(&m->from, own_lid)) {
			m->is_from_me = 1;
			if (m->has_recipient)
				jid_to_bare(&m->chat, &m->recipient);
			else
				jid_to_bare(&m->chat, &m->from);
		} else
			jid_to_bare(&m->chat, &m->from);
	}

	for (i = 0; i < n->nchildren; i++) {
		const struct binnode *c = n->children[i];
		struct msg_in_enc *e;

		if (binnode_tag_is(c, "unavailable")) {
			m->unavailable = 1;
			continue;
		}
		if (binnode_tag_is(c, "plaintext")) {
			if (c->type != BINNODE_BYTES &&
			    c->type != BINNODE_STRING)
				return MSG_NODE_EINVAL;
			m->plaintext = c->data;
			m->plaintextlen = c->len;
			continue;
		}
		if (!binnode_tag_is(c, "enc"))
			continue;
		if (m->nenc == MSG_NODE_MAX_ENC)
			return MSG_NODE_ELIMIT;
		e = &m->enc[m->nenc];
		copy_cut(e->type, sizeof(e->type), binnode_attr(c, "type"));
		if (e->type[0] == '\0')
			return MSG_NODE_EINVAL;
		v = binnode_attr(c, "v");
		if (v == NULL || strcmp(v, "2") == 0)
			e->v = 2;
		else if (strcmp(v, "3") == 0)
			e->v = 3;
		else
			return MSG_NODE_EINVAL;
		if (binnode_attr(c, "count") != NULL) {
			if (binnode_attr_u64(c, "count", &u) != 0 ||
			    u > UINT32_MAX)
				return MSG_NODE_EINVAL;
			e->count = (uint32_t)u;
			if (e->count > m->retry_count)
				m->retry_count = e->count;
		}
		copy_cut(e->mediatype, sizeof(e->mediatype),
		    binnode_attr(c, "mediatype"));
		v = binnode_attr(c, "decrypt-fail");
		e->hide_fail = v != NULL && strcmp(v, "hide") == 0;
		if (c->type != BINNODE_BYTES || c->len == 0)
			return MSG_NODE_EINVAL;
		e->ct = c->data;
		e->ctlen = c->len;
		m->nenc++;
	}
	return 0;
}

int
msg_node_parse_receipt(const struct binnode *n, struct msg_receipt_in *r)
{
	const struct binnode *list, *c;
	const char *v;
	uint64_t u;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	if (n == NULL || !binnode_tag_is(n, "receipt"))
		return MSG_NODE_EINVAL;
	if (attr_jid(n, "from", &r->from) != 0)
		return MSG_NODE_EINVAL;
	v = binnode_attr(n, "id");
	if (v == NULL || v[0] == '\0' ||
	    copy_str(r->ids[0], sizeof(r->ids[0]), v) != 0)
		return MSG_NODE_EINVAL;
	r->nids = 1;
	copy_cut(r->type, sizeof(r->type), binnode_attr(n, "type"));
	if (binnode_attr(n, "t") != NULL) {
		if (binnode_attr_u64(n, "t", &u) != 0)
			return MSG_NODE_EINVAL;
		r->t = u;
	}
	if ((rc = attr_jid(n, "participant", &r->participant)) < 0)
		return MSG_NODE_EINVAL;
	r->has_participant = rc == 0;
	if ((rc = attr_jid(n, "recipient", &r->recipient)) < 0)
		return MSG_NODE_EINVAL;
	r->has_recipient = rc == 0;
	if (is_group_server(&r->from)) {
		r->is_group = 1;
		jid_to_bare(&r->chat, &r->from);
		if (!r->has_participant)
			return MSG_NODE_EINVAL;
		r->sender = r->participant;
	} else {
		r->sender = r->from;
		/* our own device reporting about a chat (type sender) */
		if (r->has_recipient)
			jid_to_bare(&r->chat, &r->recipient);
		else
			jid_to_bare(&r->chat, &r->from);
	}
	if ((list = binnode_child(n, "list")) != NULL) {
		for (i = 0; i < list->nchildren; i++) {
			c = list->children[i];
			if (!binnode_tag_is(c, "item"))
				continue;
			v = binnode_attr(c, "id");
			if (v == NULL || v[0] == '\0')
				return MSG_NODE_EINVAL;
			if (r->nids == MSG_NODE_MAX_IDS)
				return MSG_NODE_ELIMIT;
			if (copy_str(r->ids[r->nids], sizeof(r->ids[0]),
			    v) != 0)
				return MSG_NODE_EINVAL;
			r->nids++;
		}
	}
	if ((c = binnode_child(n, "retry")) != NULL &&
	    binnode_attr(c, "count") != NULL) {
		if (binnode_attr_u64(c, "count", &u) != 0 || u > UINT32_MAX)
			return MSG_NODE_EINVAL;
		r->retry_count = (uint32_t)u;
	}
	return 0;
}

/* ------------------------------------------------------------ replies */

const char *
msg_node_delivery_type(const struct msg_in *m, int available)
{
	if (m->is_from_me)
		return strcmp(m->category, "peer") == 0 ? "peer_msg" :
		    "sender";
	if (!available)
		return "inactive";
	return NULL;
}

static struct binnode *
receipt_base(const struct binnode *stanza, const char *id)
{
	struct binnode *r = binnode_new("receipt");

	binnode_set_attr(r, "id", id);
	copy_attr(r, "to", stanza, "from");
	copy_attr(r, "recipient", stanza, "recipient");
	copy_attr(r, "participant", stanza, "participant");
	return r;
}

struct binnode *
msg_node_receipt(const struct binnode *stanza, const char *type)
{
	const char *id;
	struct binnode *r;

	if (stanza == NULL || (id = binnode_attr(stanza, "id")) == NULL ||
	    binnode_attr(stanza, "from") == NULL)
		return NULL;
	r = receipt_base(stanza, id);
	if (type != NULL && type[0] != '\0')
		binnode_set_attr(r, "type", type);
	return r;
}

struct binnode *
msg_node_read_receipt(const struct jid *chat, const struct jid *participant,
    const char *const *ids, size_t n, uint64_t t, const char *type)
{
	struct binnode *r, *list, *item;
	size_t i;

	if (chat == NULL || ids == NULL || n == 0 || n > MSG_NODE_MAX_IDS)
		return NULL;
	for (i = 0; i < n; i++)
		if (ids[i] == NULL || ids[i][0] == '\0')
			return NULL;
	r = binnode_new("receipt");
	binnode_set_attr(r, "id", ids[0]);
	binnode_set_attr_jid(r, "to", chat);
	if (participant != NULL)
		binnode_set_attr_jid(r, "participant", participant);
	binnode_set_attr(r, "type", type ? type : "read");
	set_u64(r, "t", t);
	if (n > 1) {
		list = binnode_add_new(r, "list");
		for (i = 1; i < n; i++) {
			item = binnode_add_new(list, "item");
			binnode_set_attr(item, "id", ids[i]);
		}
	}
	return r;
}

struct binnode *
msg_node_retry_receipt(const struct binnode *stanza, uint32_t count,
    uint32_t regid, const struct msg_retry_keys *k)
{
	struct binnode *r, *retry, *keys, *key;
	const char *id;
	uint8_t b4[4], b3[3], type = 0x05;
	char cnt[16];

	if (stanza == NULL || (id = binnode_attr(stanza, "id")) == NULL ||
	    binnode_attr(stanza, "from") == NULL || count == 0)
		return NULL;
	r = receipt_base(stanza, id);
	binnode_set_attr(r, "type", "retry");
	if (binnode_attr(stanza, "category") != NULL &&
	    strcmp(binnode_attr(stanza, "category"), "peer") == 0)
		binnode_set_attr(r, "category", "peer");
	retry = binnode_add_new(r, "retry");
	snprintf(cnt, sizeof(cnt), "%u", count);
	binnode_set_attrs(retry, "count", cnt, "id", id, "t",
	    binnode_attr(stanza, "t"), "v", "1", NULL);
	put_be32(b4, regid);
	add_bytes(r, "registration", b4, 4);
	if (k != NULL) {
		keys = binnode_add_new(r, "keys");
		add_bytes(keys, "type", &type, 1);
		add_bytes(keys, "identity", k->identity_pub, 32);
		key = binnode_add_new(keys, "key");
		put_be24(b3, k->prekey_id);
		add_bytes(key, "id", b3, 3);
		add_bytes(key, "value", k->prekey_pub, 32);
		key = binnode_add_new(keys, "skey");
		put_be24(b3, k->signed_prekey_id);
		add_bytes(key, "id", b3, 3);
		add_bytes(key, "value", k->signed_prekey_pub, 32);
		add_bytes(key, "signature", k->signed_prekey_sig, 64);
		if (k->device_identity != NULL)
			add_bytes(keys, "device-identity", k->device_identity,
			    k->device_identity_len);
	}
	return r;
}

struct binnode *
msg_node_ack(const struct binnode *stanza, int error)
{
	struct binnode *a;
	const char *id, *type;
	char e[16];

	if (stanza == NULL || (id = binnode_attr(stanza, "id")) == NULL ||
	    stanza->tag == NULL)
		return NULL;
	a = binnode_new("ack");
	binnode_set_attr(a, "id", id);
	binnode_set_attr(a, "class", stanza->tag);
	copy_attr(a, "to", stanza, "from");
	copy_attr(a, "participant", stanza, "participant");
	copy_attr(a, "recipient", stanza, "recipient");
	if (!binnode_tag_is(stanza, "message") &&
	    (type = binnode_attr(stanza, "type")) != NULL)
		binnode_set_attr(a, "type", type);
	if (error != 0) {
		snprintf(e, sizeof(e), "%d", error);
		binnode_set_attr(a, "error", e);
	}
	return a;
}
