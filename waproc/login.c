/*
 * login.c - pairing (QR and pair code) and the work after <success> (see
 * login.h).  All server input is checked; a bad pair-success is answered
 * with an <error> IQ (pairing_error_reply) and reported, never trusted.
 * Secrets (code, ephemeral keys, adv secret) are wiped when done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "xmalloc.h"
#include "conn.h"
#include "creds.h"
#include "login.h"
#include "pairing.h"
#include "signal-keys.h"

#define REFS_MAX	16

struct login {
	struct conn		*conn;
	/* QR */
	char			 refs[REFS_MAX][PAIRING_REF_MAX];
	int			 nrefs;
	int			 ref_i;		/* next ref to show */
	uint64_t		 ref_deadline;	/* current ref expires */
	int			 pair_device_seen;
	/* pair code */
	int			 code_active;
	char			 code[PAIRING_CODE_LEN + 1];
	char			 code_phone[32];
	struct signal_keypair	 code_eph;
	char			 code_ref[PAIRING_REF_MAX];
	int			 code_hello_sent;
	/* prekeys */
	int			 upload_pending;
};

struct login *
login_new(struct conn *c)
{
	struct login *l = xcalloc(1, sizeof(*l));

	l->conn = c;
	return l;
}

static void
code_clear(struct login *l)
{
	sodium_memzero(l->code, sizeof(l->code));
	signal_keypair_clear(&l->code_eph);
	l->code_active = 0;
	l->code_hello_sent = 0;
	l->code_ref[0] = '\0';
}

void
login_free(struct login *l)
{
	if (l == NULL)
		return;
	code_clear(l);
	free(l);
}

void
login_reset(struct login *l)
{
	l->nrefs = 0;
	l->ref_i = 0;
	l->ref_deadline = 0;
	l->pair_device_seen = 0;
	l->code_hello_sent = 0;
	l->code_ref[0] = '\0';
	l->upload_pending = 0;
}

static struct binnode *
iq_to_server(const char *type, const char *id)
{
	struct binnode *n = binnode_new("iq");
	struct jid j;

	jid_set(&j, "", JID_SERVER_PN, 0);
	binnode_set_attr_jid(n, "to", &j);
	binnode_set_attrs(n, "type", type, "id", id, NULL);
	return n;
}

/* ------------------------------------------------------------------ QR */

static void
show_qr(struct login *l, uint64_t now)
{
	const struct conn_callbacks *cb = conn_callbacks(l->conn);
	const struct conn_cfg *cfg = conn_cfg(l->conn);
	struct creds *cr = conn_creds(l->conn);
	char qr[PAIRING_QR_MAX];
	int ms;

	if (l->ref_i >= l->nrefs) {
		log_info("every QR ref expired");
		conn_drop(l->conn, CONN_CAUSE_QR_TIMEOUT);
		return;
	}
	ms = l->ref_i == 0 ? cfg->qr_first_ms : cfg->qr_next_ms;
	l->ref_deadline = now + (uint64_t)ms;
	if (!l->code_active && pairing_qr_string(l->refs[l->ref_i],
	    cr->noise.pub, cr->identity.pub, cr->adv_secret, "1", qr,
	    sizeof(qr)) == 0 && cb->qr)
		cb->qr(cb->arg, qr, ms);
	l->ref_i++;
}

static void send_code_hello(struct login *);

static void
pair_device(struct login *l, const struct binnode *iq,
    const struct binnode *pd)
{
	struct binnode *r;
	size_t i;

	r = iq_to_server("result", binnode_attr(iq, "id"));
	(void)conn_send_node(l->conn, r);
	binnode_free(r);
	l->nrefs = 0;
	for (i = 0; i < pd->nchildren && l->nrefs < REFS_MAX; i++) {
		const struct binnode *ref = pd->children[i];
		size_t k;
		int ok = 1;

		if (!binnode_tag_is(ref, "ref") || (ref->type !=
		    BINNODE_BYTES && ref->type != BINNODE_STRING) ||
		    ref->len == 0 || ref->len >= PAIRING_REF_MAX)
			continue;
		for (k = 0; k < ref->len; k++)
			if (ref->data[k] < 0x21 || ref->data[k] > 0x7e ||
			    ref->data[k] == ',')
				ok = 0;
		if (!ok)
			continue;
		memcpy(l->refs[l->nrefs], ref->data, ref->len);
		l->refs[l->nrefs][ref->len] = '\0';
		l->nrefs++;
	}
	if (l->nrefs == 0) {
		log_warnx("pair-device without usable refs");
		conn_drop(l->conn, CONN_CAUSE_PROTOCOL);
		return;
	}
	l->pair_device_seen = 1;
	l->ref_i = 0;
	show_qr(l, conn_now_ms());
	if (l->code_active)
		send_code_hello(l);
}

static void
pair_error_reply(struct login *l, const char *id, int err)
{
	struct binnode *r, *e;
	const char *text;
	int code;
	char cs[16];

	pairing_error_reply(err, &code, &text);
	snprintf(cs, sizeof(cs), "%d", code);
	r = iq_to_server("error", id);
	e = binnode_add_new(r, "error");
	binnode_set_attrs(e, "code", cs, "text", text, NULL);
	(void)conn_send_node(l->conn, r);
	binnode_free(r);
}

static void
copy_attr(char *dst, size_t len, const struct binnode *n, const char *key)
{
	const char *v = n ? binnode_attr(n, key) : NULL;

	snprintf(dst, len, "%s", v ? v : "");
}

static void
pair_success(struct login *l, const struct binnode *iq,
    const struct binnode *ps)
{
	const struct conn_callbacks *cb = conn_callbacks(l->conn);
	struct creds *cr = conn_creds(l->conn);
	const char *id = binnode_attr(iq, "id");
	struct binnode *di = binnode_child(ps, "device-identity");
	struct binnode *dev = binnode_child(ps, "device");
	struct binnode *r, *sign, *rdi;
	struct pairing_identity pi;
	struct jid jid, lid;
	char ki[16];
	int rc;

	memset(&pi, 0, sizeof(pi));
	if (id == NULL)
		return;
	if (di == NULL || di->type != BINNODE_BYTES || dev == NULL ||
	    binnode_attr_jid(dev, "jid", &jid) != 0 ||
	    !jid_server_is(&jid, JID_SERVER_PN) || jid.user[0] == '\0') {
		rc = PAIRING_EPARSE;
		goto fail;
	}
	rc = pairing_handle_identity(di->data, di->len, cr->adv_secret,
	    cr->identity.priv, cr->identity.pub, &pi);
	if (rc != 0)
		goto fail;
	if (pi.account_len > sizeof(cr->account)) {
		rc = PAIRING_EPARSE;
		goto fail;
	}
	jid_format(&jid, cr->jid, sizeof(cr->jid));
	if (binnode_attr_jid(dev, "lid", &lid) == 0)
		jid_format(&lid, cr->lid, sizeof(cr->lid));
	copy_attr(cr->platform, sizeof(cr->platform),
	    binnode_child(ps, "platform"), "name");
	copy_attr(cr->biz_name, sizeof(cr->biz_name),
	    binnode_child(ps, "biz"), "name");
	memcpy(cr->account, pi.account, pi.account_len);
	cr->account_len = pi.account_len;
	memcpy(cr->account_key, pi.account_key, 32);
	cr->key_index = pi.key_index;
	conn_creds_changed(l->conn);

	r = iq_to_server("result", id);
	sign = binnode_add_new(r, "pair-device-sign");
	rdi = binnode_add_new(sign, "device-identity");
	snprintf(ki, sizeof(ki), "%u", pi.key_index);
	binnode_set_attr(rdi, "key-index", ki);
	binnode_set_bytes(rdi, pi.reply, pi.reply_len);
	(void)conn_send_node(l->conn, r);
	binnode_free(r);
	pairing_identity_free(&pi);
	code_clear(l);
	log_info("paired as %s; waiting for the restart", cr->jid);
	if (cb->pair_success)
		cb->pair_success(cb->arg, cr);
	return;
fail:
	pairing_identity_free(&pi);
	log_warnx("pair-success refused: %s", pairing_strerror(rc));
	pair_error_reply(l, id, rc);
	if (cb->pair_error)
		cb->pair_error(cb->arg, rc);
}

/* ----------------------------------------------------------- pair code */

static void
code_hello_done(void *arg, const struct binnode *reply, int err)
{
	struct login *l = arg;
	const struct conn_callbacks *cb = conn_callbacks(l->conn);
	struct binnode *reg, *ref;

	if (err != CONN_OK || reply == NULL ||
	    (reg = binnode_child(reply, "link_code_companion_reg")) == NULL ||
	    (ref = binnode_child(reg, "link_code_pairing_ref")) == NULL ||
	    (ref->type != BINNODE_BYTES && ref->type != BINNODE_STRING) ||
	    ref->len == 0 || ref->len >= sizeof(l->code_ref)) {
		log_warnx("pair code request refused (%d)", err);
		return;
	}
	memcpy(l->code_ref, ref->data, ref->len);
	l->code_ref[ref->len] = '\0';
	log_info("pair code registered with the server");
	if (cb->pair_code_sent)
		cb->pair_code_sent(cb->arg);
}

static void
send_code_hello(struct login *l)
{
	struct creds *cr = conn_creds(l->conn);
	struct binnode *iq, *reg;
	uint8_t wrapped[PAIRING_WRAPPED_LEN], nonce = 0;
	char id[48];
	struct jid j;

	if (l->code_hello_sent || !l->pair_device_seen)
		return;
	if (pairing_code_wrap(l->code, NULL, NULL, l->code_eph.pub,
	    wrapped) != 0)
		return;
	conn_next_id(l->conn, id, sizeof(id));
	iq = iq_to_server("set", id);
	binnode_set_attr(iq, "xmlns", "md");
	reg = binnode_add_new(iq, "link_code_companion_reg");
	jid_set(&j, l->code_phone, JID_SERVER_PN, 0);
	binnode_set_attr_jid(reg, "jid", &j);
	binnode_set_attrs(reg, "stage", "companion_hello",
	    "should_show_push_notification", "true", NULL);
	binnode_set_bytes(binnode_add_new(reg,
	    "link_code_pairing_wrapped_companion_ephemeral_pub"), wrapped,
	    sizeof(wrapped));
	binnode_set_bytes(binnode_add_new(reg,
	    "companion_server_auth_key_pub"), cr->noise.pub, 32);
	binnode_set_string(binnode_add_new(reg, "companion_platform_id"),
	    "1");
	binnode_set_string(binnode_add_new(reg,
	    "companion_platform_display"), "Chrome (Linux)");
	binnode_set_bytes(binnode_add_new(reg, "link_code_pairing_nonce"),
	    &nonce, 1);
	if (conn_send_iq(l->conn, iq, 0, code_hello_done, l) == CONN_OK)
		l->code_hello_sent = 1;
	binnode_free(iq);
}

int
login_pair_phone(struct login *l, const char *phone,
    char code_out[PAIRING_CODE_LEN + 2])
{
	struct creds *cr = conn_creds(l->conn);
	size_t i, n = strlen(phone);

	code_out[0] = '\0';
	if (creds_registered(cr) || n <= 6 || n >= sizeof(l->code_phone) ||
	    phone[0] == '0')
		return CONN_EINVAL;
	for (i = 0; i < n; i++)
		if (phone[i] < '0' || phone[i] > '9')
			return CONN_EINVAL;
	code_clear(l);
	snprintf(l->code_phone, sizeof(l->code_phone), "%s", phone);
	pairing_code_generate(l->code);
	signal_keypair_generate(&l->code_eph);
	l->code_active = 1;
	pairing_code_display(l->code, code_out);
	send_code_hello(l);
	return CONN_OK;
}

static void
code_finish_done(void *arg, const struct binnode *reply, int err)
{
	struct login *l = arg;
	const struct conn_callbacks *cb = conn_callbacks(l->conn);

	if (err == CONN_OK)
		return;
	/* the phone could not open our bundle: wrong code typed */
	log_warnx("pair code refused by the phone (%d)", err);
	if (cb->pair_error)
		cb->pair_error(cb->arg, PAIRING_EDECRYPT);
}

static void
code_finish(struct login *l, const struct binnode *reg)
{
	struct creds *cr = conn_creds(l->conn);
	struct binnode *ref, *pid, *wr, *iq, *r;
	uint8_t bundle[PAIRING_BUNDLE_LEN], adv[32];
	char id[48];
	struct jid j;
	int rc;

	ref = binnode_child(reg, "link_code_pairing_ref");
	pid = binnode_child(reg, "primary_identity_pub");
	wr = binnode_child(reg,
	    "link_code_pairing_wrapped_primary_ephemeral_pub");
	if (!l->code_active || ref == NULL || pid == NULL || wr == NULL ||
	    pid->len != 32 || wr->len != PAIRING_WRAPPED_LEN ||
	    l->code_ref[0] == '\0' || ref->len != strlen(l->code_ref) ||
	    memcmp(ref->data, l->code_ref, ref->len) != 0) {
		log_warnx("pair code notification does not match our request");
		return;
	}
	rc = pairing_code_companion_finish(l->code, l->code_eph.priv,
	    wr->data, pid->data, cr->identity.priv, cr->identity.pub, NULL,
	    bundle, adv);
	if (rc != 0) {
		log_warnx("pair code exchange failed: %s",
		    pairing_strerror(rc));
		return;
	}
	memcpy(cr->adv_secret, adv, 32);
	sodium_memzero(adv, sizeof(adv));
	conn_creds_changed(l->conn);
	conn_next_id(l->conn, id, sizeof(id));
	iq = iq_to_server("set", id);
	binnode_set_attr(iq, "xmlns", "md");
	r = binnode_add_new(iq, "link_code_companion_reg");
	jid_set(&j, l->code_phone, JID_SERVER_PN, 0);
	binnode_set_attr_jid(r, "jid", &j);
	binnode_set_attr(r, "stage", "companion_finish");
	binnode_set_bytes(binnode_add_new(r,
	    "link_code_pairing_wrapped_key_bundle"), bundle, sizeof(bundle));
	binnode_set_bytes(binnode_add_new(r, "companion_identity_public"),
	    cr->identity.pub, 32);
	binnode_set_bytes(binnode_add_new(r, "link_code_pairing_ref"),
	    l->code_ref, strlen(l->code_ref));
	(void)conn_send_iq(l->conn, iq, 0, code_finish_done, l);
	binnode_free(iq);
}

/* -------------------------------------------------------- after login */

struct upload {
	struct login	*l;
	uint32_t	 next_id;
};

static void
upload_done(void *arg, const struct binnode *reply, int err)
{
	struct upload *u = arg;
	struct creds *cr = conn_creds(u->l->conn);

	u->l->upload_pending = 0;
	if (err == CONN_OK) {
		if (!cr->prekeys_uploaded) {
			cr->prekeys_uploaded = 1;
			conn_creds_changed(u->l->conn);
		}
		log_info("prekeys uploaded (next id %u)", u->next_id);
	} else {
		log_warnx("prekey upload failed (%d)", err);
	}
	free(u);
}

static void
upload_prekeys(struct login *l, size_t n)
{
	const struct conn_callbacks *cb = conn_callbacks(l->conn);
	struct creds *cr = conn_creds(l->conn);
	struct signal_prekey *keys;
	struct binnode *iq, *list, *key, *skey;
	struct upload *u;
	uint8_t b[4], id3[3];
	char id[48];
	size_t i;

	if (l->upload_pending || n == 0)
		return;
	keys = xcalloc(n, sizeof(*keys));
	u = xcalloc(1, sizeof(*u));
	u->l = l;
	u->next_id = signal_prekeys_generate(keys, n, cr->next_prekey_id);
	if (cb->prekeys)
		cb->prekeys(cb->arg, keys, n);
	cr->next_prekey_id = u->next_id;
	conn_creds_changed(l->conn);

	conn_next_id(l->conn, id, sizeof(id));
	iq = iq_to_server("set", id);
	binnode_set_attr(iq, "xmlns", "encrypt");
	b[0] = (uint8_t)(cr->registration_id >> 24);
	b[1] = (uint8_t)(cr->registration_id >> 16);
	b[2] = (uint8_t)(cr->registration_id >> 8);
	b[3] = (uint8_t)cr->registration_id;
	binnode_set_bytes(binnode_add_new(iq, "registration"), b, 4);
	b[0] = SIGNAL_DJB_TYPE;
	binnode_set_bytes(binnode_add_new(iq, "type"), b, 1);
	binnode_set_bytes(binnode_add_new(iq, "identity"), cr->identity.pub,
	    32);
	list = binnode_add_new(iq, "list");
	for (i = 0; i < n; i++) {
		key = binnode_add_new(list, "key");
		signal_id24_put(id3, keys[i].id);
		binnode_set_bytes(binnode_add_new(key, "id"), id3, 3);
		binnode_set_bytes(binnode_add_new(key, "value"),
		    keys[i].kp.pub, 32);
	}
	skey = binnode_add_new(iq, "skey");
	signal_id24_put(id3, cr->spk.id);
	binnode_set_bytes(binnode_add_new(skey, "id"), id3, 3);
	binnode_set_bytes(binnode_add_new(skey, "value"), cr->spk.kp.pub, 32);
	binnode_set_bytes(binnode_add_new(skey, "signature"), cr->spk.sig, 64);
	signal_free_secret(keys, n * sizeof(*keys));
	if (conn_send_iq(l->conn, iq, 0, upload_done, u) == CONN_OK)
		l->upload_pending = 1;
	else
		free(u);
	binnode_free(iq);
	log_info("uploading %zu prekeys", n);
}

static void
check_count(struct login *l, uint64_t count)
{
	const struct conn_cfg *cfg = conn_cfg(l->conn);
	struct creds *cr = conn_creds(l->conn);

	if (!cr->prekeys_uploaded && count == 0)
		upload_prekeys(l, (size_t)cfg->prekeys_initial);
	else if (count < (uint64_t)cfg->prekeys_min)
		upload_prekeys(l, (size_t)cfg->prekeys_refill);
}

static void
count_done(void *arg, const struct binnode *reply, int err)
{
	struct login *l = arg;
	struct binnode *cnt;
	uint64_t v;

	if (err != CONN_OK || reply == NULL ||
	    (cnt = binnode_child(reply, "count")) == NULL ||
	    binnode_attr_u64(cnt, "value", &v) != 0) {
		log_warnx("prekey count query failed (%d)", err);
		return;
	}
	check_count(l, v);
}

void
login_on_success(struct login *l, const struct binnode *n)
{
	struct creds *cr = conn_creds(l->conn);
	struct binnode *iq, *p;
	struct jid lid;
	char s[JID_STR_MAX], id[48];
	const char *name;

	code_clear(l);
	if (binnode_attr_jid(n, "lid", &lid) == 0 &&
	    jid_format(&lid, s, sizeof(s)) > 0 && strcmp(s, cr->lid) != 0) {
		snprintf(cr->lid, sizeof(cr->lid), "%s", s);
		conn_creds_changed(l->conn);
	}
	log_info("logged in as %s", cr->jid);
	conn_next_id(l->conn, id, sizeof(id));
	iq = iq_to_server("get", id);
	binnode_set_attr(iq, "xmlns", "encrypt");
	binnode_add_new(iq, "count");
	(void)conn_send_iq(l->conn, iq, 0, count_done, l);
	binnode_free(iq);

	conn_next_id(l->conn, id, sizeof(id));
	iq = iq_to_server("set", id);
	binnode_set_attr(iq, "xmlns", "passive");
	binnode_add_new(iq, "active");
	(void)conn_send_iq(l->conn, iq, 0, NULL, NULL);
	binnode_free(iq);

	name = cr->push_name[0] ? cr->push_name :
	    conn_cfg(l->conn)->popts.push_name;
	if (name[0] != '\0') {
		p = binnode_new("presence");
		binnode_set_attrs(p, "type", "available", "name", name, NULL);
		(void)conn_send_node(l->conn, p);
		binnode_free(p);
	}
}

/* ------------------------------------------------------------ dispatch */

static void
ack_notification(struct login *l, const struct binnode *n)
{
	struct binnode *a;
	const char *id = binnode_attr(n, "id"), *type;
	struct jid from;

	if (id == NULL)
		return;
	a = binnode_new("ack");
	binnode_set_attrs(a, "id", id, "class", "notification", NULL);
	if (binnode_attr_jid(n, "from", &from) == 0)
		binnode_set_attr_jid(a, "to", &from);
	if ((type = binnode_attr(n, "type")) != NULL)
		binnode_set_attr(a, "type", type);
	(void)conn_send_node(l->conn, a);
	binnode_free(a);
}

int
login_handle(struct login *l, const struct binnode *n)
{
	const char *type = binnode_attr(n, "type");
	struct binnode *ch, *cnt;
	uint64_t v;

	if (binnode_tag_is(n, "iq") && type && strcmp(type, "set") == 0) {
		if ((ch = binnode_child(n, "pair-device")) != NULL) {
			if (!creds_registered(conn_creds(l->conn)))
				pair_device(l, n, ch);
			return 1;
		}
		if ((ch = binnode_child(n, "pair-success")) != NULL) {
			pair_success(l, n, ch);
			return 1;
		}
		return 0;
	}
	if (!binnode_tag_is(n, "notification") || type == NULL)
		return 0;
	if (strcmp(type, "link_code_companion_reg") == 0) {
		ack_notification(l, n);
		if ((ch = binnode_child(n, "link_code_companion_reg")) != NULL)
			code_finish(l, ch);
		return 1;
	}
	if (strcmp(type, "encrypt") == 0 &&
	    (cnt = binnode_child(n, "count")) != NULL &&
	    binnode_attr_u64(cnt, "value", &v) == 0) {
		ack_notification(l, n);
		check_count(l, v);
		return 1;
	}
	return 0;
}

int
login_timeout_ms(struct login *l, uint64_t now)
{
	if (l->nrefs == 0 || l->ref_deadline == 0)
		return -1;
	return l->ref_deadline > now ? (int)(l->ref_deadline - now) : 0;
}

void
login_tick(struct login *l, uint64_t now)
{
	if (l->nrefs > 0 && l->ref_deadline != 0 && now >= l->ref_deadline &&
	    !creds_registered(conn_creds(l->conn)))
		show_qr(l, now);
}
