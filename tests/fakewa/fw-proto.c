/*
 * fw-proto.c - fakewa's chat connections: WebSocket /ws/chat, frames,
 * Noise XX responder, then binary nodes.  Plays the server's side of
 * pairing (pair-device refs, pair-success, pair-device-sign check, 515),
 * login (<success> or <failure 401>), prekey upload/count/digest, pings
 * both ways, logout, the pair-code exchange, and injected faults; hands
 * messages, receipts, usync, bundle, group and media_conn IQs to fw-msg.c
 * and app-state IQs to fw-appstate.c.
 * Everything a client sends is untrusted: a bad frame closes that
 * connection only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fakewa.h"
#include "log.h"
#include "xmalloc.h"
#include "../../waproc/pairing.h"
#include "../../waproc/signal-keys.h"

static void conn_close_after(struct fw_conn *);

/* ------------------------------------------------------------ output */

static void
queue_raw(struct fw_conn *c, const uint8_t *p, size_t len)
{
	struct fw_msg *m;

	if (c->state == FWC_DEAD || c->wsi == NULL)
		return;
	if (c->qbytes + len > FW_QUEUE_MAX) {
		log_warnx("conn %u: output queue full, dropping", c->id);
		c->kill = 1;
		lws_callback_on_writable(c->wsi);
		return;
	}
	m = xmalloc(sizeof(*m) + LWS_PRE + len);
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, p, len);
	if (c->qtail)
		c->qtail->next = m;
	else
		c->qhead = m;
	c->qtail = m;
	c->qbytes += len;
	lws_callback_on_writable(c->wsi);
}

/* One WA frame (len24 || payload) as one WebSocket message. */
static void
send_frame(struct fw_conn *c, const uint8_t *payload, size_t len)
{
	struct buf b;

	buf_init(&b, FRAME_MAX_PAYLOAD + FRAME_HDR_LEN);
	if (frame_encode(payload, len, &b) == 0)
		queue_raw(c, b.data, b.len);
	buf_free(&b);
}

static void
send_plain_encrypted(struct fw_conn *c, const uint8_t *p, size_t len)
{
	uint8_t *ct;
	size_t clen;

	if (c->state != FWC_OPEN)
		return;
	ct = xmalloc(len + NOISE_TAG_LEN);
	if (noise_encrypt(&c->tr, p, len, ct, len + NOISE_TAG_LEN,
	    &clen) == 0)
		send_frame(c, ct, clen);
	free(ct);
}

static void
send_node(struct fw_conn *c, const struct binnode *n)
{
	struct buf b;

	if (c->stalled)
		return;
	if (fw.verbose) {
		struct buf d;

		buf_init(&d, 8192);
		binnode_print(n, &d);
		log_info("conn %u >> %s", c->id, buf_cstr(&d));
		buf_free(&d);
	}
	buf_init(&b, NOISE_FRAME_MAX - NOISE_TAG_LEN);
	if (binnode_encode(n, &b) == 0)
		send_plain_encrypted(c, b.data, b.len);
	else
		log_warnx("conn %u: cannot encode <%s>", c->id, n->tag);
	buf_free(&b);
}

static void
set_server_attr(struct binnode *n, const char *key)
{
	struct jid j;

	jid_set(&j, "", JID_SERVER_PN, 0);
	binnode_set_attr_jid(n, key, &j);
}

static struct binnode *
iq_new(const char *type, const char *id)
{
	struct binnode *n = binnode_new("iq");

	set_server_attr(n, "from");
	binnode_set_attrs(n, "type", type, "id", id, NULL);
	return n;
}

static void
iq_reply(struct fw_conn *c, const struct binnode *req, struct binnode *child)
{
	struct binnode *n = iq_new("result", binnode_attr(req, "id"));

	if (child != NULL)
		binnode_add_child(n, &child);
	send_node(c, n);
	binnode_free(n);
}

static void
iq_error(struct fw_conn *c, const struct binnode *req, const char *code,
    const char *text)
{
	struct binnode *n = iq_new("error", binnode_attr(req, "id")), *e;

	e = binnode_add_new(n, "error");
	binnode_set_attrs(e, "code", code, "text", text, NULL);
	send_node(c, n);
	binnode_free(n);
}

void
fw_send_node(struct fw_conn *c, const struct binnode *n)
{
	send_node(c, n);
}

void
fw_iq_reply(struct fw_conn *c, const struct binnode *req,
    struct binnode *child)
{
	iq_reply(c, req, child);
}

void
fw_iq_error(struct fw_conn *c, const struct binnode *req, const char *code,
    const char *text)
{
	iq_error(c, req, code, text);
}

static void
next_id(struct fw_conn *c, const char *prefix, char *out, size_t len)
{
	snprintf(out, len, "%s-%u.%u", prefix, c->id, ++c->seq);
}

static void
stream_error(struct fw_conn *c, const char *code, const char *conflict)
{
	struct binnode *n = binnode_new("stream:error");

	binnode_set_attr(n, "code", code);
	if (conflict != NULL)
		binnode_set_attr(binnode_add_new(n, "conflict"), "type",
		    conflict);
	send_node(c, n);
	binnode_free(n);
	conn_close_after(c);
}

static void
conn_close_after(struct fw_conn *c)
{
	c->close_after = 1;
	if (c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

/* ------------------------------------------------------------ pairing */

static void
send_pair_device(struct fw_conn *c)
{
	struct binnode *n, *pd;
	uint8_t rnd[16];
	char id[32], hex[33];
	int i;

	next_id(c, "pd", id, sizeof(id));
	n = iq_new("set", id);
	binnode_set_attr(n, "xmlns", "md");
	pd = binnode_add_new(n, "pair-device");
	c->nrefs = fw.nrefs;
	for (i = 0; i < c->nrefs; i++) {
		randombytes_buf(rnd, sizeof(rnd));
		fw_hex(rnd, sizeof(rnd), hex);
		snprintf(c->refs[i], sizeof(c->refs[i]), "2@%s", hex);
		binnode_set_bytes(binnode_add_new(pd, "ref"), c->refs[i],
		    strlen(c->refs[i]));
	}
	send_node(c, n);
	binnode_free(n);
}

static void
send_pair_success(struct fw_conn *c, const char *phone,
    const uint8_t adv[32])
{
	struct pairing_account acct;
	struct binnode *n, *ps, *dev;
	struct buf ident;
	struct jid j;
	uint8_t pub[32];
	char t[24];

	memset(&acct, 0, sizeof(acct));
	fw_account_key(phone, acct.account_priv, pub);
	c->pair_devid = fw_device_next_id(phone);
	acct.raw_id = (uint32_t)strtoul(phone + strlen(phone) - 6, NULL, 10);
	acct.timestamp = (uint64_t)time(NULL);
	acct.key_index = c->pair_devid;
	buf_init(&ident, PAIRING_IDENTITY_MAX);
	if (pairing_make_identity(&acct, c->pi.reg.identity_pub, adv,
	    &ident) != 0) {
		log_warnx("conn %u: cannot make device identity", c->id);
		goto out;
	}
	snprintf(c->pair_phone, sizeof(c->pair_phone), "%s", phone);
	next_id(c, "ps", c->pair_id, sizeof(c->pair_id));
	c->pairing = 1;
	n = iq_new("set", c->pair_id);
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	binnode_set_attr(n, "t", t);
	ps = binnode_add_new(n, "pair-success");
	binnode_set_bytes(binnode_add_new(ps, "device-identity"), ident.data,
	    ident.len);
	binnode_set_attr(binnode_add_new(ps, "platform"), "name", "android");
	dev = binnode_add_new(ps, "device");
	jid_set(&j, phone, JID_SERVER_PN, (uint16_t)c->pair_devid);
	binnode_set_attr_jid(dev, "jid", &j);
	{
		char lu[FW_PHONE_MAX + 2];

		snprintf(lu, sizeof(lu), "9%s", phone);
		jid_set(&j, lu, JID_SERVER_LID, (uint16_t)c->pair_devid);
		binnode_set_attr_jid(dev, "lid", &j);
	}
	send_node(c, n);
	binnode_free(n);
out:
	sodium_memzero(acct.account_priv, 32);
	buf_free(&ident);
}

/*
 * A phone got a new companion: every other open connection hears of it
 * (<notification type="devices"><add><device jid/></add></notification>,
 * as the server tells a user's contacts and own devices), so clients drop
 * the device list they cached.
 */
static void
devices_changed(struct fw_conn *from, const struct fw_device *d)
{
	struct fw_conn *c;
	struct binnode *n, *add, *dev;
	struct jid user;
	char id[32];

	if (jid_set(&user, d->phone, JID_SERVER_PN, 0) != 0)
		return;
	for (c = fw.conns; c != NULL; c = c->next) {
		if (c == from || c->state != FWC_OPEN || c->dev == NULL ||
		    c->dev == d)
			continue;
		next_id(c, "dn", id, sizeof(id));
		n = binnode_new("notification");
		binnode_set_attr_jid(n, "from", &user);
		binnode_set_attrs(n, "type", "devices", "id", id, NULL);
		add = binnode_add_new(n, "add");
		dev = binnode_add_new(add, "device");
		binnode_set_attr(dev, "jid", d->jid);
		send_node(c, n);
		binnode_free(n);
	}
}

static void
pair_reply(struct fw_conn *c, const struct binnode *n)
{
	struct binnode *sign, *di;
	struct fw_device *d;
	uint8_t priv[32], pub[32];
	uint32_t ki = 0;
	int rc;

	c->pairing = 0;
	if (binnode_tag_is(n, "iq") && strcmp(binnode_attr(n, "type"),
	    "error") == 0) {
		fw.pair_errors++;
		snprintf(fw.last_error, sizeof(fw.last_error),
		    "client refused pair-success");
		log_warnx("conn %u: client refused pair-success", c->id);
		conn_close_after(c);
		return;
	}
	sign = binnode_child(n, "pair-device-sign");
	di = sign ? binnode_child(sign, "device-identity") : NULL;
	if (di == NULL || di->type != BINNODE_BYTES) {
		fw.pair_errors++;
		snprintf(fw.last_error, sizeof(fw.last_error),
		    "pair-device-sign missing");
		conn_close_after(c);
		return;
	}
	fw_account_key(c->pair_phone, priv, pub);
	sodium_memzero(priv, sizeof(priv));
	rc = pairing_verify_reply(di->data, di->len, pub,
	    c->pi.reg.identity_pub, &ki);
	if (rc != 0) {
		fw.pair_errors++;
		snprintf(fw.last_error, sizeof(fw.last_error),
		    "device signature: %s", pairing_strerror(rc));
		log_warnx("conn %u: %s", c->id, fw.last_error);
		stream_error(c, "401", NULL);
		return;
	}
	if ((d = fw_device_find(c->pair_phone, c->pair_devid)) != NULL)
		fw_device_remove(d);
	d = fw_device_add(c->pair_phone, c->pair_devid);
	memcpy(d->noise_pub, c->client_static, 32);
	memcpy(d->identity_pub, c->pi.reg.identity_pub, 32);
	d->regid = c->pi.reg.registration_id;
	snprintf(d->push_name, sizeof(d->push_name), "%s", c->pi.push_name);
	snprintf(d->platform, sizeof(d->platform), "%s", c->pi.os_name);
	fw_state_save();
	log_info("conn %u: paired %s (key-index %u)", c->id, d->jid, ki);
	devices_changed(c, d);
	stream_error(c, "515", NULL);
}

static struct fw_conn *
find_ref(const char *ref)
{
	struct fw_conn *c;
	int i;

	for (c = fw.conns; c != NULL; c = c->next) {
		if (c->state != FWC_OPEN || c->pi.login)
			continue;
		for (i = 0; i < c->nrefs; i++)
			if (strcmp(c->refs[i], ref) == 0)
				return c;
	}
	return NULL;
}

static int
b64(const char *s, size_t len, uint8_t *out, size_t want)
{
	size_t n;

	if (sodium_base642bin(out, want, s, len, NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n != want)
		return -1;
	return 0;
}

int
fw_scan(const char *qr, const char *phone, char *jid_out, size_t jidlen,
    char *err, size_t errlen)
{
	const char *f[6], *p;
	size_t flen[6];
	char ref[FW_REF_MAX];
	uint8_t noise[32], ident[32], adv[32];
	struct fw_conn *c;
	int nf = 0;

	if (!fw_phone_valid(phone)) {
		snprintf(err, errlen, "bad phone number");
		return -1;
	}
	if (strncmp(qr, PAIRING_QR_PREFIX, strlen(PAIRING_QR_PREFIX)) == 0)
		qr += strlen(PAIRING_QR_PREFIX);
	for (p = qr; nf < 6; nf++) {
		const char *comma = strchr(p, ',');

		f[nf] = p;
		flen[nf] = comma ? (size_t)(comma - p) : strlen(p);
		if (comma == NULL) {
			nf++;
			break;
		}
		p = comma + 1;
	}
	if (nf < 4 || nf > 5 || flen[0] == 0 || flen[0] >= sizeof(ref)) {
		snprintf(err, errlen, "QR string has %d fields", nf);
		return -1;
	}
	memcpy(ref, f[0], flen[0]);
	ref[flen[0]] = '\0';
	if (b64(f[1], flen[1], noise, 32) || b64(f[2], flen[2], ident, 32) ||
	    b64(f[3], flen[3], adv, 32)) {
		snprintf(err, errlen, "QR keys are not base64 of 32 bytes");
		return -1;
	}
	if ((c = find_ref(ref)) == NULL) {
		snprintf(err, errlen, "no connection shows this ref");
		return -1;
	}
	if (sodium_memcmp(noise, c->client_static, 32) != 0 ||
	    sodium_memcmp(ident, c->pi.reg.identity_pub, 32) != 0) {
		snprintf(err, errlen, "QR keys do not match the connection");
		return -1;
	}
	if (c->pairing) {
		snprintf(err, errlen, "pairing already in progress");
		return -1;
	}
	send_pair_success(c, phone, adv);
	if (!c->pairing) {
		snprintf(err, errlen, "cannot build pair-success");
		return -1;
	}
	snprintf(jid_out, jidlen, "%s:%u@s.whatsapp.net", phone,
	    c->pair_devid);
	return 0;
}

/* ---------------------------------------------------------- pair code */

static struct binnode *
child_bytes(const struct binnode *n, const char *tag, size_t want)
{
	struct binnode *c = binnode_child(n, tag);

	if (c == NULL || (c->type != BINNODE_BYTES &&
	    c->type != BINNODE_STRING) || (want && c->len != want))
		return NULL;
	return c;
}

static void
link_code_iq(struct fw_conn *c, const struct binnode *iq,
    const struct binnode *reg)
{
	const char *stage = binnode_attr(reg, "stage");
	struct binnode *w, *k, *r, *ref, *bundle, *ci;
	struct jid j;
	uint8_t priv[32], pub[32], adv[32], rnd[12];

	if (stage != NULL && strcmp(stage, "companion_hello") == 0) {
		w = child_bytes(reg,
		    "link_code_pairing_wrapped_companion_ephemeral_pub", 80);
		k = child_bytes(reg, "companion_server_auth_key_pub", 32);
		if (binnode_attr_jid(reg, "jid", &j) != 0 ||
		    !fw_phone_valid(j.user) || w == NULL || k == NULL ||
		    sodium_memcmp(k->data, c->client_static, 32) != 0 ||
		    c->pi.login) {
			iq_error(c, iq, "400", "bad-request");
			return;
		}
		c->lc_state = 1;
		snprintf(c->lc_phone, sizeof(c->lc_phone), "%.*s",
		    (int)sizeof(c->lc_phone) - 1, j.user);
		memcpy(c->lc_wrapped, w->data, 80);
		randombytes_buf(rnd, sizeof(rnd));
		memcpy(c->lc_ref, "lc@", 3);
		fw_hex(rnd, sizeof(rnd), c->lc_ref + 3);
		r = binnode_new("link_code_companion_reg");
		binnode_set_bytes(binnode_add_new(r, "link_code_pairing_ref"),
		    c->lc_ref, strlen(c->lc_ref));
		iq_reply(c, iq, r);
		return;
	}
	if (stage != NULL && strcmp(stage, "companion_finish") == 0) {
		bundle = child_bytes(reg, "link_code_pairing_wrapped_key_bundle",
		    PAIRING_BUNDLE_LEN);
		ci = child_bytes(reg, "companion_identity_public", 32);
		ref = child_bytes(reg, "link_code_pairing_ref", 0);
		if (c->lc_state != 2 || bundle == NULL || ci == NULL ||
		    ref == NULL || ref->len != strlen(c->lc_ref) ||
		    memcmp(ref->data, c->lc_ref, ref->len) != 0 ||
		    sodium_memcmp(ci->data, c->pi.reg.identity_pub, 32) != 0) {
			iq_error(c, iq, "400", "bad-request");
			return;
		}
		fw_account_key(c->lc_phone, priv, pub);
		if (pairing_code_primary_finish(c->lc_eph_priv, c->lc_comp_eph,
		    priv, pub, ci->data, bundle->data, adv) != 0) {
			sodium_memzero(priv, sizeof(priv));
			fw.pair_errors++;
			snprintf(fw.last_error, sizeof(fw.last_error),
			    "pair code key bundle does not open");
			iq_error(c, iq, "401", "not-authorized");
			c->lc_state = 1;
			return;
		}
		sodium_memzero(priv, sizeof(priv));
		c->lc_state = 3;
		iq_reply(c, iq, NULL);
		send_pair_success(c, c->lc_phone, adv);
		sodium_memzero(adv, sizeof(adv));
		return;
	}
	iq_error(c, iq, "400", "bad-request");
}

int
fw_code(const char *phone, const char *code, char *err, size_t errlen)
{
	struct fw_conn *c;
	struct binnode *n, *r;
	struct keypair_tmp { uint8_t priv[32], pub[32]; } e;
	uint8_t wrapped[PAIRING_WRAPPED_LEN], apriv[32], apub[32];
	char clean[PAIRING_CODE_LEN + 1], id[32];
	size_t i, k = 0;

	for (i = 0; code[i] != '\0' && k < PAIRING_CODE_LEN; i++)
		if (code[i] != '-')
			clean[k++] = code[i];
	clean[k] = '\0';
	if (code[i] != '\0' || !pairing_code_valid(clean)) {
		snprintf(err, errlen, "bad code");
		return -1;
	}
	for (c = fw.conns; c != NULL; c = c->next)
		if (c->state == FWC_OPEN && c->lc_state == 1 &&
		    strcmp(c->lc_phone, phone) == 0)
			break;
	if (c == NULL) {
		snprintf(err, errlen, "no companion asked to link %s", phone);
		return -1;
	}
	/* A wrong code gives a wrong key here; the bundle then fails. */
	if (pairing_code_unwrap(clean, c->lc_wrapped, c->lc_comp_eph) != 0) {
		snprintf(err, errlen, "cannot unwrap");
		return -1;
	}
	randombytes_buf(e.priv, 32);
	e.priv[0] &= 248;
	e.priv[31] &= 127;
	e.priv[31] |= 64;
	crypto_scalarmult_base(e.pub, e.priv);
	if (pairing_code_wrap(clean, NULL, NULL, e.pub, wrapped) != 0) {
		snprintf(err, errlen, "cannot wrap");
		return -1;
	}
	memcpy(c->lc_eph_priv, e.priv, 32);
	sodium_memzero(&e, sizeof(e));
	snprintf(c->lc_code, sizeof(c->lc_code), "%s", clean);
	fw_account_key(phone, apriv, apub);
	sodium_memzero(apriv, sizeof(apriv));
	next_id(c, "lc", id, sizeof(id));
	n = binnode_new("notification");
	set_server_attr(n, "from");
	binnode_set_attrs(n, "type", "link_code_companion_reg", "id", id,
	    NULL);
	r = binnode_add_new(n, "link_code_companion_reg");
	binnode_set_attr(r, "stage", "primary_hello");
	binnode_set_bytes(binnode_add_new(r, "link_code_pairing_ref"),
	    c->lc_ref, strlen(c->lc_ref));
	binnode_set_bytes(binnode_add_new(r, "primary_identity_pub"), apub, 32);
	binnode_set_bytes(binnode_add_new(r,
	    "link_code_pairing_wrapped_primary_ephemeral_pub"), wrapped,
	    sizeof(wrapped));
	send_node(c, n);
	binnode_free(n);
	c->lc_state = 2;
	return 0;
}

/* ------------------------------------------------------- after login */

static void
send_success(struct fw_conn *c)
{
	struct binnode *n = binnode_new("success");
	char t[24];
	struct jid j;
	char lu[FW_PHONE_MAX + 2];

	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	binnode_set_attrs(n, "t", t, "props", "1", "abprops", "1",
	    "location", "fake", "creation", t, NULL);
	snprintf(lu, sizeof(lu), "9%s", c->dev->phone);
	jid_set(&j, lu, JID_SERVER_LID, (uint16_t)c->dev->devid);
	binnode_set_attr_jid(n, "lid", &j);
	send_node(c, n);
	binnode_free(n);
}

static void
login(struct fw_conn *c)
{
	struct fw_device *d;
	struct fw_conn *o;
	char phone[FW_PHONE_MAX];
	struct binnode *f;

	snprintf(phone, sizeof(phone), "%llu",
	    (unsigned long long)c->pi.username);
	d = fw_device_find(phone, c->pi.device);
	if (d == NULL || sodium_memcmp(d->noise_pub, c->client_static,
	    32) != 0) {
		log_info("conn %u: login %s:%u refused (not paired)", c->id,
		    phone, c->pi.device);
		f = binnode_new("failure");
		binnode_set_attr(f, "reason", "401");
		send_node(c, f);
		binnode_free(f);
		conn_close_after(c);
		return;
	}
	if ((o = d->conn) != NULL && o != c) {
		o->dev = NULL;
		stream_error(o, "440", "replaced");
	}
	d->conn = c;
	c->dev = d;
	d->logins++;
	log_info("conn %u: %s logged in", c->id, d->jid);
	send_success(c);
	fw_login_flush(c);
	fw_appstate_autoshare(d);	/* a bundle kept from before */
}

static void
encrypt_iq(struct fw_conn *c, const struct binnode *iq)
{
	const char *type = binnode_attr(iq, "type");
	struct binnode *list, *r;
	char v[16];
	size_t i, n = 0;

	if (binnode_child(iq, "count") != NULL) {
		r = binnode_new("count");
		snprintf(v, sizeof(v), "%u", c->dev ? c->dev->prekeys : 0);
		binnode_set_attr(r, "value", v);
		iq_reply(c, iq, r);
		return;
	}
	if (binnode_child(iq, "digest") != NULL) {
		iq_reply(c, iq, binnode_new("digest"));
		return;
	}
	if ((list = binnode_child(iq, "list")) != NULL && type != NULL &&
	    strcmp(type, "set") == 0) {
		if (c->dev == NULL || binnode_child(iq, "identity") == NULL ||
		    binnode_child(iq, "skey") == NULL ||
		    binnode_child(iq, "registration") == NULL) {
			iq_error(c, iq, "400", "bad-request");
			return;
		}
		for (i = 0; i < list->nchildren; i++) {
			struct binnode *k = list->children[i];
			struct binnode *id = binnode_child(k, "id");
			struct binnode *val = binnode_child(k, "value");

			if (binnode_tag_is(k, "key") && id && val &&
			    id->len == 3 && val->len == 32)
				n++;
		}
		fw_prekeys_store(c->dev, iq);
		c->dev->prekeys += (uint32_t)n;
		c->dev->uploads++;
		fw_state_save();
		log_info("conn %u: %zu prekeys uploaded (%u held)", c->id, n,
		    c->dev->prekeys);
		iq_reply(c, iq, NULL);
		fw_appstate_autoshare(c->dev);	/* now it can decrypt */
		return;
	}
	if (binnode_child(iq, "key") != NULL) {
		fw_bundle_iq(c, iq);
		return;
	}
	iq_reply(c, iq, NULL);
}

static void
handle_iq(struct fw_conn *c, const struct binnode *n)
{
	const char *type = binnode_attr(n, "type");
	const char *id = binnode_attr(n, "id");
	const char *xmlns = binnode_attr(n, "xmlns");
	struct binnode *ch;
	struct fw_device *d;

	if (type == NULL || id == NULL)
		return;
	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		if (c->pairing && strcmp(id, c->pair_id) == 0)
			pair_reply(c, n);
		else if (strncmp(id, "sp-", 3) == 0 && c->dev)
			c->dev->pings_answered++;
		return;
	}
	if (xmlns == NULL)
		xmlns = "";
	if (strcmp(xmlns, "w:p") == 0) {
		if (c->dev)
			c->dev->pings_in++;
		iq_reply(c, n, NULL);
	} else if (strcmp(xmlns, "encrypt") == 0) {
		encrypt_iq(c, n);
	} else if (strcmp(xmlns, "usync") == 0 && c->dev != NULL) {
		fw_usync_iq(c, n);
	} else if (strcmp(xmlns, "w:g2") == 0 && c->dev != NULL) {
		fw_group_iq(c, n);
	} else if (strcmp(xmlns, "privacy") == 0 &&
	    strcmp(type, "get") == 0 &&
	    binnode_child(n, "privacy") != NULL) {
		fw_privacy_iq(c, n);
	} else if (strcmp(xmlns, "w:sync:app:state") == 0) {
		fw_appstate_iq(c, n);
	} else if (strcmp(xmlns, "w:m") == 0 &&
	    binnode_child(n, "media_conn") != NULL) {
		fw_media_conn_iq(c, n);
	} else if (strcmp(xmlns, "md") == 0 &&
	    (ch = binnode_child(n, "link_code_companion_reg")) != NULL) {
		link_code_iq(c, n, ch);
	} else if (strcmp(xmlns, "md") == 0 &&
	    binnode_child(n, "remove-companion-device") != NULL) {
		iq_reply(c, n, NULL);
		if ((d = c->dev) != NULL) {
			log_info("conn %u: %s logged out itself", c->id,
			    d->jid);
			fw_device_remove(d);
			c->dev = NULL;
			fw_state_save();
		}
		stream_error(c, "401", "device_removed");
	} else {
		iq_reply(c, n, NULL);	/* passive, abt, blocklist, ... */
	}
}

static void
handle_node(struct fw_conn *c, struct binnode *n)
{
	const char *name;

	if (fw.verbose) {
		struct buf d;

		buf_init(&d, 8192);
		binnode_print(n, &d);
		log_info("conn %u << %s", c->id, buf_cstr(&d));
		buf_free(&d);
	}
	if (binnode_tag_is(n, "iq"))
		handle_iq(c, n);
	else if (binnode_tag_is(n, "ack") && c->dev != NULL)
		fw_ack_in(c, n);
	else if (binnode_tag_is(n, "receipt") && c->dev != NULL)
		fw_receipt_in(c, n);
	else if (binnode_tag_is(n, "message") && c->dev != NULL)
		fw_message_in(c, n);
	else if (binnode_tag_is(n, "presence") && c->dev != NULL &&
	    (name = binnode_attr(n, "name")) != NULL)
		snprintf(c->dev->push_name, sizeof(c->dev->push_name), "%s",
		    name);
	/* ack, receipt, ib, chatstate ...: nothing to do */
}

/* ------------------------------------------------------------- input */

static void
after_handshake(struct fw_conn *c)
{
	c->next_ping_ms = fw_now_ms() + (uint64_t)fw.ping_ms;
	if (c->pi.login)
		login(c);
	else
		send_pair_device(c);
}

static int
on_frame(void *arg, const uint8_t *p, size_t len)
{
	struct fw_conn *c = arg;
	struct buf out;
	struct binnode *n = NULL;
	uint8_t *pt;
	size_t plen;
	int rc;

	if (c->stalled || c->state == FWC_DEAD)
		return 0;
	switch (c->state) {
	case FWC_HELLO:
		buf_init(&out, NOISE_HS_MSG_MAX);
		if ((rc = noise_responder_read_hello(&c->hs, p, len)) != 0 ||
		    (rc = noise_responder_hello(&c->hs, fw.certchain.data,
		    fw.certchain.len, &out)) != 0) {
			log_warnx("conn %u: ClientHello: %s", c->id,
			    noise_strerror(rc));
			buf_free(&out);
			return -1;
		}
		send_frame(c, out.data, out.len);
		buf_free(&out);
		c->state = FWC_FINISH;
		return 0;
	case FWC_FINISH:
		buf_init(&out, PAYLOAD_MAX);
		if ((rc = noise_responder_read_finish(&c->hs, p, len,
		    &out)) != 0) {
			log_warnx("conn %u: ClientFinish: %s", c->id,
			    noise_strerror(rc));
			buf_free(&out);
			return -1;
		}
		memcpy(c->client_static, c->hs.rs, 32);
		rc = payload_parse(out.data, out.len, &c->pi);
		buf_free(&out);
		if (rc != 0) {
			log_warnx("conn %u: bad ClientPayload", c->id);
			return -1;
		}
		if (noise_split(&c->hs, &c->tr) != 0)
			return -1;
		c->state = FWC_OPEN;
		after_handshake(c);
		return 0;
	case FWC_OPEN:
		if (len < NOISE_TAG_LEN)
			return -1;
		pt = xmalloc(len);
		if (noise_decrypt(&c->tr, p, len, pt, len, &plen) != 0) {
			log_warnx("conn %u: frame does not decrypt", c->id);
			free(pt);
			return -1;
		}
		rc = binnode_decode(pt, plen, &n);
		free(pt);
		if (rc != 0) {
			log_warnx("conn %u: bad node: %s", c->id,
			    binnode_strerror(rc));
			return -1;
		}
		handle_node(c, n);
		binnode_free(n);
		return 0;
	default:
		return 0;
	}
}

static void
conn_free(struct fw_conn *c)
{
	struct fw_conn **pp;
	struct fw_msg *m;

	for (pp = &fw.conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->dev != NULL && c->dev->conn == c)
		c->dev->conn = NULL;
	while ((m = c->qhead) != NULL) {
		c->qhead = m->next;
		free(m);
	}
	frame_reader_free(&c->rd);
	noise_hs_clear(&c->hs);
	noise_transport_clear(&c->tr);
	sodium_memzero(c->lc_eph_priv, sizeof(c->lc_eph_priv));
	free(c);
}

int
fw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct fw_conn **pc = user, *c = pc ? *pc : NULL;
	struct fw_msg *m;
	char uri[256];

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (lws_hdr_copy(wsi, uri, sizeof(uri),
		    WSI_TOKEN_GET_URI) <= 0 || strcmp(uri, "/ws/chat") != 0)
			return -1;
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		c = xcalloc(1, sizeof(*c));
		c->wsi = wsi;
		c->id = ++fw.next_conn_id;
		c->opened_ms = fw_now_ms();
		frame_reader_init(&c->rd, 0);
		frame_reader_expect_intro(&c->rd);
		if (noise_hs_init(&c->hs, NOISE_RESPONDER, &fw.server_static,
		    NULL) != 0) {
			free(c);
			return -1;
		}
		if (fw.stall_next) {
			fw.stall_next = 0;
			c->stalled = 1;
		}
		c->next = fw.conns;
		fw.conns = c;
		*pc = c;
		log_info("conn %u: connected", c->id);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c == NULL || c->state == FWC_DEAD)
			return 0;
		if (c->stalled)
			return 0;
		if (frame_reader_feed(&c->rd, in, len, on_frame, c) != 0) {
			log_info("conn %u: protocol error, closing", c->id);
			c->state = FWC_DEAD;
			return -1;
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c == NULL)
			return 0;
		if (c->kill)
			return -1;
		if ((m = c->qhead) != NULL) {
			c->qhead = m->next;
			if (c->qhead == NULL)
				c->qtail = NULL;
			c->qbytes -= m->len;
			if (lws_write(wsi, m->data + LWS_PRE, m->len,
			    LWS_WRITE_BINARY) < (int)m->len) {
				free(m);
				return -1;
			}
			free(m);
		}
		if (c->qhead != NULL) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (c->close_after) {
			/*
			 * Like the real server, leave the client a moment to
			 * read the stream error and hang up itself (Baileys
			 * reports 428 instead of 515 if the socket closes
			 * while it still decodes the last frame).
			 */
			if (c->close_at == 0) {
				c->close_at = fw_now_ms() + 300;
				return 0;
			}
			if (fw_now_ms() < c->close_at)
				return 0;
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (c != NULL) {
			log_info("conn %u: closed", c->id);
			conn_free(c);
			*pc = NULL;
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ------------------------------------------------------- faults, tick */

int
fw_logout(const char *jid, char *err, size_t errlen)
{
	struct fw_device *d = fw_device_find_jid(jid);
	struct fw_conn *c;
	struct binnode *n, *rm;
	char id[32];

	if (d == NULL) {
		snprintf(err, errlen, "no such device");
		return -1;
	}
	if ((c = d->conn) != NULL) {
		next_id(c, "lo", id, sizeof(id));
		n = binnode_new("notification");
		set_server_attr(n, "from");
		binnode_set_attrs(n, "type", "devices", "id", id, NULL);
		rm = binnode_add_new(n, "remove");
		binnode_set_attr(binnode_add_new(rm, "device"), "jid", d->jid);
		send_node(c, n);
		binnode_free(n);
		stream_error(c, "401", "device_removed");
		c->dev = NULL;
	}
	log_info("phone logged out %s", d->jid);
	fw_device_remove(d);
	fw_state_save();
	return 0;
}

int
fw_message(const char *jid, const char *from, const char *id, uint32_t count,
    char *err, size_t errlen)
{
	struct fw_device *d = fw_device_find_jid(jid);
	struct binnode *n, *enc;
	struct jid f;
	uint8_t junk[32];
	char t[24];

	if (d == NULL || d->conn == NULL) {
		snprintf(err, errlen, "device not connected");
		return -1;
	}
	if (jid_parse(&f, from) != 0 || id == NULL || *id == '\0' ||
	    strlen(id) > 64) {
		snprintf(err, errlen, "bad from or id");
		return -1;
	}
	n = binnode_new("message");
	binnode_set_attr_jid(n, "from", &f);
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	binnode_set_attrs(n, "id", id, "type", "text", "t", t, "notify",
	    "fakewa", NULL);
	enc = binnode_add_new(n, "enc");
	binnode_set_attrs(enc, "v", "2", "type", "msg", NULL);
	if (count > 0) {	/* as a sender's re-send after our retry */
		snprintf(t, sizeof(t), "%u", count);
		binnode_set_attr(enc, "count", t);
	}
	randombytes_buf(junk, sizeof(junk));
	binnode_set_bytes(enc, junk, sizeof(junk));
	send_node(d->conn, n);
	binnode_free(n);
	return 0;
}

int
fw_prekeys_low(const char *jid, uint32_t count, char *err, size_t errlen)
{
	struct fw_device *d = fw_device_find_jid(jid);
	struct binnode *n;
	char id[32], v[16];

	if (d == NULL) {
		snprintf(err, errlen, "no such device");
		return -1;
	}
	d->prekeys = count;
	fw_state_save();
	if (d->conn == NULL)
		return 0;
	next_id(d->conn, "pk", id, sizeof(id));
	n = binnode_new("notification");
	set_server_attr(n, "from");
	binnode_set_attrs(n, "type", "encrypt", "id", id, NULL);
	snprintf(v, sizeof(v), "%u", count);
	binnode_set_attr(binnode_add_new(n, "count"), "value", v);
	send_node(d->conn, n);
	binnode_free(n);
	return 0;
}

static void
fault_one(struct fw_conn *c, const char *kind)
{
	static const uint8_t garbage[] = { 0x00, 0xf8, 0xff, 0x01, 0xfe,
	    0xff, 0xff, 0xff, 0xff, 0x13, 0x37 };
	struct fw_device *d;

	if (strcmp(kind, "drop") == 0) {
		c->kill = 1;
		lws_callback_on_writable(c->wsi);
	} else if (strcmp(kind, "515") == 0) {
		stream_error(c, "515", NULL);
	} else if (strcmp(kind, "401") == 0) {
		if ((d = c->dev) != NULL) {
			c->dev = NULL;
			fw_device_remove(d);
			fw_state_save();
		}
		stream_error(c, "401", "device_removed");
	} else if (strcmp(kind, "440") == 0) {
		stream_error(c, "440", "replaced");
	} else if (strcmp(kind, "malformed") == 0) {
		send_plain_encrypted(c, garbage, sizeof(garbage));
	} else if (strcmp(kind, "badframe") == 0) {
		uint8_t junk[48];

		randombytes_buf(junk, sizeof(junk));
		send_frame(c, junk, sizeof(junk));	/* fails GCM */
	} else if (strcmp(kind, "stall") == 0) {
		c->stalled = 1;
	}
}

int
fw_fault(const char *jid, const char *kind, char *err, size_t errlen)
{
	static const char *kinds[] = { "drop", "515", "401", "440",
	    "malformed", "badframe", "stall", "stall_next", NULL };
	struct fw_device *d = NULL;
	struct fw_conn *c, *next;
	int i, n = 0;

	for (i = 0; kinds[i] != NULL; i++)
		if (strcmp(kinds[i], kind) == 0)
			break;
	if (kinds[i] == NULL) {
		snprintf(err, errlen, "unknown fault kind");
		return -1;
	}
	if (strcmp(kind, "stall_next") == 0) {
		fw.stall_next = 1;
		log_info("fault stall_next armed");
		return 0;
	}
	if (jid != NULL && (d = fw_device_find_jid(jid)) == NULL) {
		snprintf(err, errlen, "no such device");
		return -1;
	}
	for (c = fw.conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != FWC_OPEN || c->close_after || c->kill)
			continue;
		if (d != NULL && c->dev != d)
			continue;
		fault_one(c, kind);
		n++;
	}
	log_info("fault %s on %d connection(s)", kind, n);
	return n;
}

void
fw_tick(void)
{
	struct fw_conn *c;
	struct binnode *n;
	uint64_t now = fw_now_ms();
	char id[32];

	for (c = fw.conns; c != NULL; c = c->next) {
		if (c->close_at != 0 && now >= c->close_at && c->wsi != NULL)
			lws_callback_on_writable(c->wsi);
		if (c->state != FWC_OPEN || c->stalled || c->close_after ||
		    c->dev == NULL || fw.ping_ms <= 0 ||
		    now < c->next_ping_ms)
			continue;
		c->next_ping_ms = now + (uint64_t)fw.ping_ms;
		next_id(c, "sp", id, sizeof(id));
		n = iq_new("get", id);
		binnode_set_attr(n, "xmlns", "urn:xmpp:ping");
		send_node(c, n);
		binnode_free(n);
	}
}

void
fw_close_all(void)
{
	struct fw_conn *c;

	for (c = fw.conns; c != NULL; c = c->next) {
		c->kill = 1;
		if (c->wsi)
			lws_callback_on_writable(c->wsi);
	}
}
