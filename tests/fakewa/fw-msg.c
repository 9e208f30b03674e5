/*
 * fw-msg.c - fakewa relays messages between the devices it paired:
 * Signal bundles (kept from each device's prekey upload, one-time prekeys
 * popped on fetch), usync device lists with LIDs, <message> fan-out to
 * every addressed device (offline devices get it on their next login: a
 * queue kept in memory and in <state-dir>/queue.json), the server <ack>,
 * receipts routed back to the sender, groups (w:g2 create / metadata,
 * skmsg fan-out) and media_conn.  fakewa never sees plaintext: it only
 * stores and forwards bundles and ciphertexts.  A log of what was routed
 * (ids, jids, enc types) serves GET /messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "fakewa.h"
#include "log.h"
#include "xmalloc.h"
#include "../../waproc/signal-keys.h"
#include "../../waproc/signal-session.h"

#define LOG_MAX		2000	/* routed messages remembered */
#define RCPT_MAX	256	/* recipients logged per message */
#define QUEUE_MAX	10000	/* queued stanzas, all devices */

struct fw_logrcpt {
	char	jid[JID_STR_MAX];
	char	enc[48];	/* "pkmsg", "msg", "pkmsg+skmsg", ... */
	char	state[16];	/* queued, sent, delivered, read, ... */
};

struct fw_logmsg {
	struct fw_logmsg	*next;
	char			 id[80];
	char			 from[JID_STR_MAX];	/* sender device */
	char			 to[JID_STR_MAX];	/* chat */
	char			 type[24];
	int			 lid;		/* LID-addressed */
	int			 group;
	uint64_t		 t;
	size_t			 nr, rcap;
	struct fw_logrcpt	*r;
};

static struct fw_logmsg *log_head, *log_tail;
static size_t log_n;

/* ------------------------------------------------------------ helpers */

static void
put_u32be(uint8_t *p, uint32_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint32_t
get_u32be(const uint8_t *p, size_t n)
{
	uint32_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static struct binnode *
bytes_child(const struct binnode *n, const char *tag, size_t want)
{
	struct binnode *c = binnode_child(n, tag);

	if (c == NULL || (c->type != BINNODE_BYTES &&
	    c->type != BINNODE_STRING) || (want && c->len != want))
		return NULL;
	return c;
}

static struct binnode *
copy_node(const struct binnode *n)
{
	struct binnode *c = binnode_new(n->tag), *ch;
	size_t i;

	for (i = 0; i < n->nattrs; i++) {
		if (n->attrs[i].jid != NULL)
			binnode_set_attr_jid(c, n->attrs[i].key,
			    n->attrs[i].jid);
		else
			binnode_set_attr(c, n->attrs[i].key,
			    n->attrs[i].value);
	}
	switch (n->type) {
	case BINNODE_BYTES:
		binnode_set_bytes(c, n->data, n->len);
		break;
	case BINNODE_STRING:
		binnode_set_string(c, (const char *)n->data);
		break;
	case BINNODE_JID:
		binnode_set_jid(c, n->jid);
		break;
	case BINNODE_LIST:
		for (i = 0; i < n->nchildren; i++) {
			ch = copy_node(n->children[i]);
			binnode_add_child(c, &ch);
		}
		break;
	default:
		break;
	}
	return c;
}

/* Phone number of a user JID: PN user, or LID "9<phone>". */
static int
jid_phone(const struct jid *j, char *out, size_t len)
{
	const char *u = j->user;

	if (jid_server_is(j, JID_SERVER_LID)) {
		if (u[0] != '9')
			return -1;
		u++;
	} else if (!jid_server_is(j, JID_SERVER_PN)) {
		return -1;
	}
	if (!fw_phone_valid(u) || strlen(u) >= len)
		return -1;
	memcpy(out, u, strlen(u) + 1);
	return 0;
}

/* Device jid in LID or PN form. */
static void
dev_jid(const struct fw_device *d, int lid, struct jid *j)
{
	char lu[FW_PHONE_MAX + 2];

	if (lid) {
		snprintf(lu, sizeof(lu), "9%s", d->phone);
		jid_set(j, lu, JID_SERVER_LID, (uint16_t)d->devid);
	} else {
		jid_set(j, d->phone, JID_SERVER_PN, (uint16_t)d->devid);
	}
}

static void
set_now(struct binnode *n)
{
	char t[24];

	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	binnode_set_attr(n, "t", t);
}

/* ---------------------------------------------------- prekey bundles */

void
fw_prekeys_store(struct fw_device *d, const struct binnode *iq)
{
	struct binnode *list = binnode_child(iq, "list");
	struct binnode *skey = binnode_child(iq, "skey");
	struct binnode *reg, *ident, *id, *val, *sig;
	size_t i;

	reg = bytes_child(iq, "registration", 4);
	ident = bytes_child(iq, "identity", 32);
	if (reg != NULL)
		d->regid = get_u32be(reg->data, 4);
	if (ident != NULL)
		memcpy(d->identity_pub, ident->data, 32);
	if (skey != NULL && (id = bytes_child(skey, "id", 3)) != NULL &&
	    (val = bytes_child(skey, "value", 32)) != NULL &&
	    (sig = bytes_child(skey, "signature", 64)) != NULL) {
		d->has_skey = 1;
		d->skey_id = get_u32be(id->data, 3);
		memcpy(d->skey_pub, val->data, 32);
		memcpy(d->skey_sig, sig->data, 64);
	}
	for (i = 0; list != NULL && i < list->nchildren; i++) {
		struct binnode *k = list->children[i];

		if (!binnode_tag_is(k, "key") ||
		    (id = bytes_child(k, "id", 3)) == NULL ||
		    (val = bytes_child(k, "value", 32)) == NULL)
			continue;
		if (d->npk == d->pkcap) {
			d->pkcap = d->pkcap ? d->pkcap * 2 : 64;
			d->pk = xreallocarray(d->pk, d->pkcap,
			    sizeof(*d->pk));
		}
		d->pk[d->npk].id = get_u32be(id->data, 3);
		memcpy(d->pk[d->npk].pub, val->data, 32);
		d->npk++;
	}
}

static void
add_bytes(struct binnode *n, const char *tag, const void *p, size_t len)
{
	binnode_set_bytes(binnode_add_new(n, tag), p, len);
}

/*
 * The fake phone (device 0) has a Signal identity so that clients which
 * always include device 0 (whatsmeow, waproc) can encrypt to it: keys
 * derived from the number, a fresh random one-time prekey per fetch.
 * Nothing sent to device 0 is ever decrypted: fakewa swallows it.
 */
static void
phone_key(const char *phone, const char *what, uint8_t priv[32])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)what, strlen(what));
	crypto_hash_sha256_update(&st, (const uint8_t *)phone, strlen(phone));
	crypto_hash_sha256_final(&st, priv);
	signal_clamp(priv);
}

void
fw_phone_identity(const char *phone, struct signal_keypair *kp)
{
	uint8_t priv[32];

	phone_key(phone, "fakewa phone identity ", priv);
	(void)signal_keypair_from_priv(kp, priv);
	sodium_memzero(priv, sizeof(priv));
}

uint32_t
fw_phone_regid(const char *phone)
{
	uint8_t h[32];

	crypto_hash_sha256(h, (const uint8_t *)phone, strlen(phone));
	return 1 + get_u32be(h, 2) % 16380;
}

static int
phone_bundle(struct binnode *u, const char *phone)
{
	uint8_t ipriv[32], ipub[32], spriv[32], spub[32], ser[33], sig[64];
	uint8_t opriv[32], opub[32], b[4];
	struct binnode *sk, *k;
	uint32_t oid;

	phone_key(phone, "fakewa phone identity ", ipriv);
	phone_key(phone, "fakewa phone signed prekey ", spriv);
	crypto_scalarmult_base(ipub, ipriv);
	crypto_scalarmult_base(spub, spriv);
	signal_pub_serialize(ser, spub);
	if (signal_sign(ipriv, ser, sizeof(ser), sig) != 0) {
		sodium_memzero(ipriv, sizeof(ipriv));
		return -1;
	}
	sodium_memzero(ipriv, sizeof(ipriv));
	sodium_memzero(spriv, sizeof(spriv));
	put_u32be(b, fw_phone_regid(phone), 4);
	add_bytes(u, "registration", b, 4);
	b[0] = 5;
	add_bytes(u, "type", b, 1);
	add_bytes(u, "identity", ipub, 32);
	sk = binnode_add_new(u, "skey");
	put_u32be(b, 1, 3);
	add_bytes(sk, "id", b, 3);
	add_bytes(sk, "value", spub, 32);
	add_bytes(sk, "signature", sig, 64);
	randombytes_buf(opriv, sizeof(opriv));
	signal_clamp(opriv);
	crypto_scalarmult_base(opub, opriv);
	sodium_memzero(opriv, sizeof(opriv));
	oid = 1 + randombytes_uniform(SIGNAL_PREKEY_ID_MAX);
	k = binnode_add_new(u, "key");
	put_u32be(b, oid, 3);
	add_bytes(k, "id", b, 3);
	add_bytes(k, "value", opub, 32);
	return 0;
}

/* Pop d's oldest one-time prekey (handed out for good). */
static int
prekey_pop(struct fw_device *d, struct fw_prekey *out)
{
	if (d->npk == 0)
		return -1;
	*out = d->pk[0];
	memmove(d->pk, d->pk + 1, (d->npk - 1) * sizeof(*d->pk));
	d->npk--;
	if (d->prekeys > 0)
		d->prekeys--;
	return 0;
}

int
fw_device_take_bundle(struct fw_device *d, struct signal_bundle *b,
    int onetime)
{
	struct fw_prekey pk;

	if (!d->has_skey)
		return -1;
	memset(b, 0, sizeof(*b));
	b->registration_id = d->regid;
	memcpy(b->identity_pub, d->identity_pub, 32);
	b->signed_prekey_id = d->skey_id;
	memcpy(b->signed_prekey_pub, d->skey_pub, 32);
	memcpy(b->signed_prekey_sig, d->skey_sig, 64);
	if (onetime && prekey_pop(d, &pk) == 0) {
		b->has_prekey = 1;
		b->prekey_id = pk.id;
		memcpy(b->prekey_pub, pk.pub, 32);
	}
	return 0;
}

static void
bundle_user(struct binnode *list, const struct jid *j)
{
	struct binnode *u = binnode_add_new(list, "user"), *sk, *k, *e;
	struct fw_device *d = NULL, *x;
	struct fw_prekey pk;
	char phone[FW_PHONE_MAX];
	uint8_t b[4];

	binnode_set_attr_jid(u, "jid", j);
	if (j->device == 0 && jid_phone(j, phone, sizeof(phone)) == 0 &&
	    phone_bundle(u, phone) == 0)
		return;
	if (jid_phone(j, phone, sizeof(phone)) == 0)
		for (x = fw.devices; x != NULL; x = x->next)
			if (strcmp(x->phone, phone) == 0 &&
			    x->devid == j->device)
				d = x;
	if (d == NULL || !d->has_skey) {
		e = binnode_add_new(u, "error");
		binnode_set_attrs(e, "code", "404", "text", "item-not-found",
		    NULL);
		return;
	}
	put_u32be(b, d->regid, 4);
	add_bytes(u, "registration", b, 4);
	b[0] = 5;
	add_bytes(u, "type", b, 1);
	add_bytes(u, "identity", d->identity_pub, 32);
	sk = binnode_add_new(u, "skey");
	put_u32be(b, d->skey_id, 3);
	add_bytes(sk, "id", b, 3);
	add_bytes(sk, "value", d->skey_pub, 32);
	add_bytes(sk, "signature", d->skey_sig, 64);
	if (prekey_pop(d, &pk) == 0) {
		k = binnode_add_new(u, "key");
		put_u32be(b, pk.id, 3);
		add_bytes(k, "id", b, 3);
		add_bytes(k, "value", pk.pub, 32);
	}
}

void
fw_bundle_iq(struct fw_conn *c, const struct binnode *iq)
{
	struct binnode *key = binnode_child(iq, "key"), *list;
	struct jid j;
	size_t i;

	list = binnode_new("list");
	for (i = 0; key != NULL && i < key->nchildren; i++) {
		if (!binnode_tag_is(key->children[i], "user") ||
		    binnode_attr_jid(key->children[i], "jid", &j) != 0)
			continue;
		bundle_user(list, &j);
	}
	fw_iq_reply(c, iq, list);
	fw_state_save();
}

/* -------------------------------------------------------------- usync */

/* <user><contact>+15550001111</contact></user> (a number lookup). */
static int
contact_jid(const struct binnode *u, struct jid *j)
{
	struct binnode *ct = binnode_child(u, "contact");
	char num[FW_PHONE_MAX];
	size_t i, k = 0;

	if (ct == NULL || (ct->type != BINNODE_STRING &&
	    ct->type != BINNODE_BYTES))
		return -1;
	for (i = 0; i < ct->len && k + 1 < sizeof(num); i++)
		if (ct->data[i] >= '0' && ct->data[i] <= '9')
			num[k++] = (char)ct->data[i];
	num[k] = '\0';
	if (!fw_phone_valid(num))
		return -1;
	return jid_set(j, num, JID_SERVER_PN, 0);
}

static int	account_exists(const char *);

void
fw_usync_iq(struct fw_conn *c, const struct binnode *iq)
{
	struct binnode *us = binnode_child(iq, "usync"), *q, *l, *r, *rl,
	    *ru, *u, *dl, *dv, *x;
	struct fw_device *d;
	char phone[FW_PHONE_MAX], lu[FW_PHONE_MAX + 2], v[16];
	struct jid j;
	const char *a;
	int want_dev, want_lid, want_contact, known;
	size_t i;

	if (us == NULL || (q = binnode_child(us, "query")) == NULL ||
	    (l = binnode_child(us, "list")) == NULL) {
		fw_iq_error(c, iq, "400", "bad-request");
		return;
	}
	want_dev = binnode_child(q, "devices") != NULL;
	want_lid = binnode_child(q, "lid") != NULL;
	want_contact = binnode_child(q, "contact") != NULL;
	r = binnode_new("usync");
	if ((a = binnode_attr(us, "sid")) != NULL)
		binnode_set_attr(r, "sid", a);
	if ((a = binnode_attr(us, "context")) != NULL)
		binnode_set_attr(r, "context", a);
	if ((a = binnode_attr(us, "mode")) != NULL)
		binnode_set_attr(r, "mode", a);
	binnode_set_attrs(r, "index", "0", "last", "true", NULL);
	x = binnode_add_new(r, "result");
	if (want_dev)
		binnode_add_new(x, "devices");
	if (want_lid)
		binnode_add_new(x, "lid");
	if (want_contact)
		binnode_add_new(x, "contact");
	rl = binnode_add_new(r, "list");
	for (i = 0; i < l->nchildren; i++) {
		u = l->children[i];
		if (!binnode_tag_is(u, "user"))
			continue;
		if (binnode_attr_jid(u, "jid", &j) != 0 &&
		    contact_jid(u, &j) != 0)
			continue;
		ru = binnode_add_new(rl, "user");
		binnode_set_attr_jid(ru, "jid", &j);
		known = jid_phone(&j, phone, sizeof(phone)) == 0;
		if (want_dev) {
			dl = binnode_add_new(binnode_add_new(ru, "devices"),
			    "device-list");
			if (known && account_exists(phone))	/* the phone */
				binnode_set_attr(binnode_add_new(dl, "device"),
				    "id", "0");
			for (d = fw.devices; known && d != NULL; d = d->next) {
				if (strcmp(d->phone, phone) != 0)
					continue;
				dv = binnode_add_new(dl, "device");
				snprintf(v, sizeof(v), "%u", d->devid);
				binnode_set_attrs(dv, "id", v, "key-index",
				    v, NULL);
			}
		}
		/* a LID asked is its own LID: Baileys warns about X -> X */
		if (want_lid && known && !jid_server_is(&j, JID_SERVER_LID)) {
			snprintf(lu, sizeof(lu), "9%s", phone);
			jid_set(&j, lu, JID_SERVER_LID, 0);
			binnode_set_attr_jid(binnode_add_new(ru, "lid"),
			    "val", &j);
		}
		if (want_contact)
			binnode_set_attr(binnode_add_new(ru, "contact"),
			    "type", known && account_exists(phone) ? "in" :
			    "out");
	}
	fw_iq_reply(c, iq, r);
}

/* ---------------------------------------------------------------- log */

static struct fw_logmsg *
log_find(const char *id)
{
	struct fw_logmsg *m;

	for (m = log_head; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static struct fw_logmsg *
log_add(const char *id, const struct fw_device *from, const char *to,
    const char *type, int lid, int group)
{
	struct fw_logmsg *m;

	if (log_n >= LOG_MAX && (m = log_head) != NULL) {
		log_head = m->next;
		if (log_head == NULL)
			log_tail = NULL;
		free(m->r);
		free(m);
		log_n--;
	}
	m = xcalloc(1, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->from, sizeof(m->from), "%s", from->jid);
	snprintf(m->to, sizeof(m->to), "%s", to);
	snprintf(m->type, sizeof(m->type), "%s", type ? type : "");
	m->lid = lid;
	m->group = group;
	m->t = (uint64_t)time(NULL);
	if (log_tail)
		log_tail->next = m;
	else
		log_head = m;
	log_tail = m;
	log_n++;
	return m;
}

static struct fw_logrcpt *
log_rcpt(struct fw_logmsg *m, const char *jid)
{
	size_t i;

	for (i = 0; i < m->nr; i++)
		if (strcmp(m->r[i].jid, jid) == 0)
			return &m->r[i];
	return NULL;
}

/*
 * Accounts that are only a phone (no companion paired): on WhatsApp for
 * usync (device 0, contact "in"), their messages swallowed by the phone.
 * Registered through POST /phones (bench/send.sh TO=phones); not saved.
 */
#define PHONE_ACCTS_MAX	100000
static char	(*phone_accts)[FW_PHONE_MAX];
static size_t	 nphone_accts;

static int
phone_acct_known(const char *phone)
{
	size_t i;

	for (i = 0; i < nphone_accts; i++)
		if (strcmp(phone_accts[i], phone) == 0)
			return 1;
	return 0;
}

int
fw_phone_account_add(const char *phone)
{
	size_t i;

	for (i = 0; phone[i] != '\0'; i++)
		if (phone[i] < '0' || phone[i] > '9')
			return -1;
	if (i < 5 || i >= FW_PHONE_MAX)
		return -1;
	if (phone_acct_known(phone))
		return 0;
	if (nphone_accts >= PHONE_ACCTS_MAX)
		return -1;
	if (nphone_accts % 1024 == 0)
		phone_accts = xreallocarray(phone_accts, nphone_accts + 1024,
		    sizeof(*phone_accts));
	snprintf(phone_accts[nphone_accts++], FW_PHONE_MAX, "%s", phone);
	return 0;
}

/* An account with this phone number: a paired device or POST /phones. */
static int
account_exists(const char *phone)
{
	struct fw_device *d;

	for (d = fw.devices; d != NULL; d = d->next)
		if (strcmp(d->phone, phone) == 0)
			return 1;
	return phone_acct_known(phone);
}

/* Messages the phones of other accounts swallowed (bench/send.sh TO=phones
 * counts them: a send that reached its recipient's phone). */
static uint64_t phone_messages;

uint64_t
fw_phone_messages(void)
{
	return phone_messages;
}

static int
same_user(const char *a, const char *b)
{
	struct jid x, y;
	char p[FW_PHONE_MAX], q[FW_PHONE_MAX];

	if (jid_parse(&x, a) != 0 || jid_parse(&y, b) != 0)
		return 0;
	if (jid_phone(&x, p, sizeof(p)) == 0 &&
	    jid_phone(&y, q, sizeof(q)) == 0)
		return strcmp(p, q) == 0;
	return strcmp(x.user, y.user) == 0 && strcmp(x.server, y.server) == 0;
}

struct json_object *
fw_messages_json(const char *jid)
{
	struct json_object *o = json_object_new_object(), *arr, *m, *ra, *r;
	struct fw_logmsg *x;
	size_t i;
	int hit;

	arr = json_object_new_array();
	for (x = log_head; x != NULL; x = x->next) {
		hit = jid == NULL || *jid == '\0' || same_user(jid, x->from) ||
		    strcmp(jid, x->to) == 0 || same_user(jid, x->to);
		for (i = 0; !hit && i < x->nr; i++)
			hit = same_user(jid, x->r[i].jid);
		if (!hit)
			continue;
		m = json_object_new_object();
		json_object_object_add(m, "id", json_object_new_string(x->id));
		json_object_object_add(m, "from",
		    json_object_new_string(x->from));
		json_object_object_add(m, "to", json_object_new_string(x->to));
		json_object_object_add(m, "type",
		    json_object_new_string(x->type));
		json_object_object_add(m, "addressing",
		    json_object_new_string(x->lid ? "lid" : "pn"));
		json_object_object_add(m, "group",
		    json_object_new_boolean(x->group));
		json_object_object_add(m, "t",
		    json_object_new_int64((int64_t)x->t));
		ra = json_object_new_array();
		for (i = 0; i < x->nr; i++) {
			r = json_object_new_object();
			json_object_object_add(r, "jid",
			    json_object_new_string(x->r[i].jid));
			json_object_object_add(r, "enc",
			    json_object_new_string(x->r[i].enc));
			json_object_object_add(r, "state",
			    json_object_new_string(x->r[i].state));
			json_object_array_add(ra, r);
		}
		json_object_object_add(m, "recipients", ra);
		json_object_array_add(arr, m);
	}
	json_object_object_add(o, "messages", arr);
	return o;
}

/* -------------------------------------------------------------- queue */

/*
 * The offline queue goes to queue.json at most every QUEUE_SAVE_MS (and
 * at exit): rewriting it on every delivery and ack made fakewa itself the
 * bottleneck of a message burst.  A crash of fakewa loses at most that
 * much of its queue; tests restart it with a clean stop.
 */
#define QUEUE_SAVE_MS	200
static int	 queue_dirty;
static uint64_t	 queue_saved_at;

static void	queue_write(void);

static void
queue_save(void)
{
	queue_dirty = 1;
}

void
fw_queue_flush(int force)
{
	uint64_t now = fw_now_ms();

	if (!queue_dirty || (!force && now - queue_saved_at < QUEUE_SAVE_MS))
		return;
	queue_write();
	queue_dirty = 0;
	queue_saved_at = now;
}

static void
queue_write(void)
{
	struct json_object *root = json_object_new_array(), *o;
	struct fw_qmsg *q;
	char path[PATH_MAX + 16], tmp[PATH_MAX + 16], *hex;
	const char *s;
	FILE *f;

	for (q = fw.queue; q != NULL; q = q->next) {
		o = json_object_new_object();
		json_object_object_add(o, "to", json_object_new_string(q->to));
		json_object_object_add(o, "id", json_object_new_string(q->id));
		hex = xmalloc(2 * q->len + 1);
		fw_hex(q->data, q->len, hex);
		json_object_object_add(o, "node", json_object_new_string(hex));
		free(hex);
		json_object_array_add(root, o);
	}
	snprintf(path, sizeof(path), "%s/queue.json", fw.state_dir);
	snprintf(tmp, sizeof(tmp), "%s/queue.json.tmp", fw.state_dir);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
	} else if (fputs(s, f) == EOF || fclose(f) != 0) {
		log_warn("%s", tmp);
	} else if (rename(tmp, path) != 0) {
		log_warn("rename %s", path);
	}
	json_object_put(root);
}

int
fw_queue_load(void)
{
	struct json_object *root, *o, *v;
	struct fw_qmsg *q, **tail = &fw.queue;
	char path[PATH_MAX + 16];
	const char *to, *id, *hex;
	size_t i, n;

	snprintf(path, sizeof(path), "%s/queue.json", fw.state_dir);
	if ((root = json_object_from_file(path)) == NULL)
		return 0;	/* none yet */
	if (!json_object_is_type(root, json_type_array)) {
		json_object_put(root);
		return -1;
	}
	for (i = 0; i < json_object_array_length(root); i++) {
		o = json_object_array_get_idx(root, i);
		to = id = hex = NULL;
		if (json_object_object_get_ex(o, "to", &v))
			to = json_object_get_string(v);
		if (json_object_object_get_ex(o, "id", &v))
			id = json_object_get_string(v);
		if (json_object_object_get_ex(o, "node", &v))
			hex = json_object_get_string(v);
		if (to == NULL || id == NULL || hex == NULL ||
		    (n = strlen(hex)) % 2 != 0 || n == 0)
			continue;
		q = xcalloc(1, sizeof(*q));
		snprintf(q->to, sizeof(q->to), "%s", to);
		snprintf(q->id, sizeof(q->id), "%s", id);
		q->len = n / 2;
		q->data = xmalloc(q->len);
		if (fw_unhex(hex, q->data, q->len) != 0) {
			free(q->data);
			free(q);
			continue;
		}
		*tail = q;
		tail = &q->next;
	}
	json_object_put(root);
	return 0;
}

static size_t
queue_count(void)
{
	struct fw_qmsg *q;
	size_t n = 0;

	for (q = fw.queue; q != NULL; q = q->next)
		n++;
	return n;
}

/* Queue n for device d and send it now if d is connected. */
static void
deliver(struct fw_device *d, const char *id, const struct binnode *n)
{
	struct fw_qmsg *q, **pp;
	struct buf b;

	if (queue_count() >= QUEUE_MAX) {
		log_warnx("offline queue full, dropping %s for %s", id, d->jid);
		return;
	}
	buf_init(&b, NOISE_FRAME_MAX);
	if (binnode_encode(n, &b) != 0) {
		buf_free(&b);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	snprintf(q->to, sizeof(q->to), "%s", d->jid);
	snprintf(q->id, sizeof(q->id), "%s", id);
	q->len = b.len;
	q->data = xmalloc(b.len);
	memcpy(q->data, b.data, b.len);
	buf_free(&b);
	for (pp = &fw.queue; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = q;
	if (d->conn != NULL && d->conn->state == FWC_OPEN) {
		fw_send_node(d->conn, n);
		q->sent_conn = d->conn->id;
	}
	queue_save();
}

/* Drop d's queued stanzas with this id (prefix: whose id starts so). */
static void
queue_drop(const struct fw_device *d, const char *id, int prefix)
{
	struct fw_qmsg **pp = &fw.queue, *q;
	size_t n = strlen(id);
	int changed = 0;

	while ((q = *pp) != NULL) {
		if (strcmp(q->to, d->jid) == 0 && (prefix ?
		    strncmp(q->id, id, n) == 0 : strcmp(q->id, id) == 0)) {
			*pp = q->next;
			free(q->data);
			free(q);
			changed = 1;
		} else {
			pp = &q->next;
		}
	}
	if (changed)
		queue_save();
}

/* The device acknowledged id (ack or receipt): drop it from the queue. */
static void
dequeue(const struct fw_device *d, const char *id)
{
	queue_drop(d, id, 0);
}

void
fw_deliver(struct fw_device *d, const char *id, const struct binnode *n)
{
	deliver(d, id, n);
}

void
fw_dequeue_prefix(const struct fw_device *d, const char *prefix)
{
	queue_drop(d, prefix, 1);
}

void
fw_login_flush(struct fw_conn *c)
{
	struct fw_qmsg *q;
	struct binnode *n;
	int k = 0;

	if (c->dev == NULL)
		return;
	for (q = fw.queue; q != NULL; q = q->next) {
		if (strcmp(q->to, c->dev->jid) != 0 || q->sent_conn == c->id)
			continue;
		if (binnode_decode(q->data, q->len, &n) != 0)
			continue;
		fw_send_node(c, n);
		binnode_free(n);
		q->sent_conn = c->id;
		k++;
	}
	if (k > 0)
		log_info("conn %u: %d queued stanza(s) delivered", c->id, k);
}

/* ----------------------------------------------------------- messages */

static void
enc_types(struct buf *b, const struct binnode *a, const struct binnode *s)
{
	const char *t;

	if (a != NULL && (t = binnode_attr(a, "type")) != NULL)
		buf_puts(b, t);
	if (s != NULL && (t = binnode_attr(s, "type")) != NULL) {
		if (b->len)
			buf_putc(b, '+');
		buf_puts(b, t);
	}
}

/*
 * One delivery: <message from id type t notify [participant] ...><enc/>
 * [<enc skmsg/>][<device-identity/>]</message>.
 */
static void
relay_one(struct fw_logmsg *lm, const struct binnode *msg,
    struct fw_device *from, struct fw_device *to, const char *gid,
    const struct binnode *enc, const struct binnode *skenc, int lid)
{
	struct binnode *n = binnode_new("message"), *ch, *di;
	struct fw_logrcpt *r;
	struct jid j;
	struct buf types;
	const char *a;
	char pn[FW_PHONE_MAX + 24];

	if (gid != NULL) {
		jid_set(&j, gid, JID_SERVER_GROUP, 0);
		binnode_set_attr_jid(n, "from", &j);
		dev_jid(from, lid, &j);
		binnode_set_attr_jid(n, "participant", &j);
	} else {
		dev_jid(from, lid, &j);
		binnode_set_attr_jid(n, "from", &j);
	}
	binnode_set_attr(n, "id", lm->id);
	binnode_set_attr(n, "type", lm->type[0] ? lm->type : "text");
	set_now(n);
	binnode_set_attr(n, "notify", from->push_name[0] ? from->push_name :
	    from->phone);
	if (lid) {
		binnode_set_attr(n, "addressing_mode", "lid");
		snprintf(pn, sizeof(pn), "%s@s.whatsapp.net", from->phone);
		binnode_set_attr(n, gid ? "participant_pn" : "sender_pn", pn);
	}
	if (gid == NULL && strcmp(to->phone, from->phone) == 0 &&
	    (a = binnode_attr(msg, "to")) != NULL)
		binnode_set_attr(n, "recipient", a);	/* our other device */
	if ((a = binnode_attr(msg, "edit")) != NULL)
		binnode_set_attr(n, "edit", a);
	if ((a = binnode_attr(msg, "category")) != NULL)
		binnode_set_attr(n, "category", a);
	if (enc != NULL) {
		ch = copy_node(enc);
		binnode_add_child(n, &ch);
	}
	if (skenc != NULL) {
		ch = copy_node(skenc);
		binnode_add_child(n, &ch);
	}
	if ((di = binnode_child(msg, "device-identity")) != NULL &&
	    enc != NULL && (a = binnode_attr(enc, "type")) != NULL &&
	    strcmp(a, "pkmsg") == 0) {
		ch = copy_node(di);
		binnode_add_child(n, &ch);
	}
	if (lm->nr < RCPT_MAX) {
		if (lm->nr == lm->rcap) {
			lm->rcap = lm->rcap ? lm->rcap * 2 : 4;
			lm->r = xreallocarray(lm->r, lm->rcap,
			    sizeof(*lm->r));
		}
		r = &lm->r[lm->nr++];
		memset(r, 0, sizeof(*r));
		dev_jid(to, lid, &j);
		jid_format(&j, r->jid, sizeof(r->jid));
		buf_init(&types, sizeof(r->enc) - 1);
		enc_types(&types, enc, skenc);
		snprintf(r->enc, sizeof(r->enc), "%s", buf_cstr(&types));
		buf_free(&types);
		snprintf(r->state, sizeof(r->state), "%s",
		    to->conn ? "sent" : "queued");
	}
	deliver(to, lm->id, n);
	binnode_free(n);
}

static void
message_ack(struct fw_conn *c, const struct binnode *msg, const char *err)
{
	struct binnode *a = binnode_new("ack");
	const char *v;

	binnode_set_attr(a, "class", "message");
	if ((v = binnode_attr(msg, "id")) != NULL)
		binnode_set_attr(a, "id", v);
	if ((v = binnode_attr(msg, "to")) != NULL)
		binnode_set_attr(a, "from", v);
	set_now(a);
	if (err != NULL)
		binnode_set_attr(a, "error", err);
	fw_send_node(c, a);
	binnode_free(a);
}

static struct fw_device *
device_for(const struct jid *j)
{
	char phone[FW_PHONE_MAX];

	if (jid_phone(j, phone, sizeof(phone)) != 0)
		return NULL;
	return fw_device_find(phone, j->device);
}

static int
group_has(const struct fw_group *g, const char *phone)
{
	int i;

	for (i = 0; i < g->nparts; i++)
		if (strcmp(g->parts[i], phone) == 0)
			return 1;
	return 0;
}

static void
group_message(struct fw_conn *c, const struct binnode *msg,
    const struct jid *to)
{
	struct binnode *parts = binnode_child(msg, "participants"), *t, *e;
	struct binnode *skenc = NULL;
	struct fw_group *g = fw_group_find(to->user);
	struct fw_device *d;
	struct fw_logmsg *lm;
	struct jid j;
	char tos[JID_STR_MAX];
	size_t i;
	int lid = 1;

	if (g == NULL || !group_has(g, c->dev->phone)) {
		message_ack(c, msg, "404");
		return;
	}
	for (i = 0; i < msg->nchildren; i++)
		if (binnode_tag_is(msg->children[i], "enc"))
			skenc = msg->children[i];
	jid_format(to, tos, sizeof(tos));
	lm = log_add(binnode_attr(msg, "id"), c->dev, tos,
	    binnode_attr(msg, "type"), lid, 1);
	for (d = fw.devices; d != NULL; d = d->next) {
		if (d == c->dev || !group_has(g, d->phone))
			continue;
		e = NULL;
		for (i = 0; parts != NULL && i < parts->nchildren; i++) {
			t = parts->children[i];
			if (binnode_tag_is(t, "to") &&
			    binnode_attr_jid(t, "jid", &j) == 0 &&
			    device_for(&j) == d)
				e = binnode_child(t, "enc");
		}
		if (e == NULL && skenc == NULL)
			continue;
		relay_one(lm, msg, c->dev, d, g->id, e, skenc, lid);
	}
	message_ack(c, msg, NULL);
}

/* A pairwise <enc> for a fake phone: logged, never delivered. */
static void
phone_swallow(struct fw_logmsg *lm, const struct jid *j,
    const struct binnode *enc)
{
	struct fw_logrcpt *r;
	const char *t = binnode_attr(enc, "type");

	if (lm->nr >= RCPT_MAX)
		return;
	if (lm->nr == lm->rcap) {
		lm->rcap = lm->rcap ? lm->rcap * 2 : 4;
		lm->r = xreallocarray(lm->r, lm->rcap, sizeof(*lm->r));
	}
	r = &lm->r[lm->nr++];
	memset(r, 0, sizeof(*r));
	jid_format(j, r->jid, sizeof(r->jid));
	snprintf(r->enc, sizeof(r->enc), "%s", t ? t : "");
	snprintf(r->state, sizeof(r->state), "phone");
	if (!same_user(r->jid, lm->from))
		phone_messages++;	/* not the sender's own phone */
}

void
fw_message_in(struct fw_conn *c, const struct binnode *msg)
{
	char phone[FW_PHONE_MAX];
	struct binnode *parts, *t, *e;
	struct fw_device *d;
	struct fw_logmsg *lm;
	const char *id = binnode_attr(msg, "id");
	struct jid to, j;
	char tos[JID_STR_MAX];
	size_t i;
	int lid;

	if (c->dev == NULL || id == NULL || strlen(id) >= 80 ||
	    binnode_attr_jid(msg, "to", &to) != 0)
		return;
	if (jid_is_group(&to)) {
		group_message(c, msg, &to);
		return;
	}
	jid_format(&to, tos, sizeof(tos));
	lm = log_add(id, c->dev, tos, binnode_attr(msg, "type"),
	    jid_server_is(&to, JID_SERVER_LID), 0);
	if ((parts = binnode_child(msg, "participants")) != NULL) {
		for (i = 0; i < parts->nchildren; i++) {
			t = parts->children[i];
			if (!binnode_tag_is(t, "to") ||
			    binnode_attr_jid(t, "jid", &j) != 0 ||
			    (e = binnode_child(t, "enc")) == NULL)
				continue;
			if (j.device == 0 && jid_phone(&j, phone,
			    sizeof(phone)) == 0) {
				phone_swallow(lm, &j, e);
				continue;
			}
			if ((d = device_for(&j)) == NULL) {
				log_info("conn %u: %s: no device %s@%s:%u",
				    c->id, id, j.user, j.server, j.device);
				continue;
			}
			if (d == c->dev)
				continue;	/* never back to the sender */
			lid = jid_server_is(&j, JID_SERVER_LID);
			lm->lid = lid;
			relay_one(lm, msg, c->dev, d, NULL, e, NULL, lid);
		}
	} else if ((e = binnode_child(msg, "enc")) != NULL) {
		/* direct: one device (a retry), or every device of the user */
		lid = jid_server_is(&to, JID_SERVER_LID);
		if ((d = device_for(&to)) != NULL) {
			relay_one(lm, msg, c->dev, d, NULL, e, NULL, lid);
		} else {
			if (jid_phone(&to, phone, sizeof(phone)) == 0)
				for (d = fw.devices; d != NULL; d = d->next)
					if (strcmp(d->phone, phone) == 0 &&
					    d != c->dev)
						relay_one(lm, msg, c->dev, d,
						    NULL, e, NULL, lid);
		}
	}
	log_info("conn %u: message %s from %s to %s: %zu device(s)", c->id,
	    id, c->dev->jid, tos, lm->nr);
	message_ack(c, msg, NULL);
}

/* ----------------------------------------------------------- receipts */

static void
route_receipt(struct fw_conn *c, const struct binnode *rc, const char *id)
{
	struct fw_logmsg *lm = log_find(id);
	struct fw_logrcpt *r;
	struct fw_device *snd;
	struct binnode *n, *ch;
	struct jid j;
	const char *type = binnode_attr(rc, "type");
	size_t i;
	char me[JID_STR_MAX];
	char gid[40];

	dequeue(c->dev, id);
	if (lm == NULL)
		return;
	dev_jid(c->dev, lm->lid, &j);
	jid_format(&j, me, sizeof(me));
	if ((r = log_rcpt(lm, me)) == NULL)
		return;		/* not a recipient of this message */
	snprintf(r->state, sizeof(r->state), "%s",
	    type == NULL || *type == '\0' ? "delivered" :
	    strcmp(type, "inactive") == 0 ? "delivered" : type);
	if ((snd = fw_device_find_jid(lm->from)) == NULL)
		return;
	/* read-self: the reader's own devices only, never the sender */
	if (type != NULL && strcmp(type, "read-self") == 0 &&
	    strcmp(snd->phone, c->dev->phone) != 0)
		return;
	n = binnode_new("receipt");
	if (lm->group) {
		snprintf(gid, sizeof(gid), "%.*s", (int)strcspn(lm->to, "@"),
		    lm->to);
		jid_set(&j, gid, JID_SERVER_GROUP, 0);
		binnode_set_attr_jid(n, "from", &j);
		dev_jid(c->dev, lm->lid, &j);
		binnode_set_attr_jid(n, "participant", &j);
	} else {
		dev_jid(c->dev, lm->lid, &j);
		binnode_set_attr_jid(n, "from", &j);
	}
	binnode_set_attr(n, "id", id);
	if (type != NULL && *type != '\0')
		binnode_set_attr(n, "type", type);
	set_now(n);
	/* a retry receipt's <retry>, <registration>, <keys> go along */
	for (i = 0; i < rc->nchildren; i++) {
		if (binnode_tag_is(rc->children[i], "list"))
			continue;
		ch = copy_node(rc->children[i]);
		binnode_add_child(n, &ch);
	}
	deliver(snd, id, n);	/* queued until the sender acks it */
	binnode_free(n);
}

void
fw_receipt_in(struct fw_conn *c, const struct binnode *rc)
{
	struct binnode *list, *a;
	const char *id = binnode_attr(rc, "id"), *v;
	size_t i;

	if (c->dev == NULL || id == NULL)
		return;
	c->dev->receipts++;
	if ((v = binnode_attr(rc, "type")) != NULL && strcmp(v, "retry") == 0 &&
	    (a = binnode_child(rc, "keys")) != NULL &&
	    binnode_child(a, "identity") != NULL &&
	    binnode_child(a, "skey") != NULL)
		c->dev->retry_keys++;
	route_receipt(c, rc, id);
	if ((list = binnode_child(rc, "list")) != NULL)
		for (i = 0; i < list->nchildren; i++)
			if ((v = binnode_attr(list->children[i], "id")) !=
			    NULL)
				route_receipt(c, rc, v);
	a = binnode_new("ack");
	binnode_set_attrs(a, "class", "receipt", "id", id, NULL);
	if ((v = binnode_attr(rc, "type")) != NULL)
		binnode_set_attr(a, "type", v);
	if ((v = binnode_attr(rc, "to")) != NULL)
		binnode_set_attr(a, "from", v);
	fw_send_node(c, a);
	binnode_free(a);
}

void
fw_ack_in(struct fw_conn *c, const struct binnode *n)
{
	const char *cls = binnode_attr(n, "class"), *id = binnode_attr(n, "id");
	struct fw_logmsg *lm;
	struct fw_logrcpt *r;
	struct jid j;
	char me[JID_STR_MAX];

	if (c->dev == NULL)
		return;
	c->dev->acks++;
	if (cls == NULL || id == NULL || (strcmp(cls, "message") != 0 &&
	    strcmp(cls, "receipt") != 0 && strcmp(cls, "notification") != 0))
		return;
	dequeue(c->dev, id);
	if (strcmp(cls, "message") != 0)
		return;
	if ((lm = log_find(id)) != NULL) {
		dev_jid(c->dev, lm->lid, &j);
		jid_format(&j, me, sizeof(me));
		if ((r = log_rcpt(lm, me)) != NULL &&
		    strcmp(r->state, "sent") == 0)
			snprintf(r->state, sizeof(r->state), "acked");
	}
}

/* ------------------------------------------------------------- groups */

struct fw_group *
fw_group_find(const char *id)
{
	struct fw_group *g;

	for (g = fw.groups; g != NULL; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

struct fw_group *
fw_group_create(const char *subject, const char *owner, const char **parts,
    int nparts, char *err, size_t errlen)
{
	struct fw_group *g;
	int i;

	if (subject == NULL || *subject == '\0' ||
	    strlen(subject) >= FW_SUBJECT_MAX) {
		snprintf(err, errlen, "bad subject");
		return NULL;
	}
	if (owner == NULL || !fw_phone_valid(owner)) {
		snprintf(err, errlen, "bad owner");
		return NULL;
	}
	if (nparts < 0 || nparts >= FW_GROUP_PARTS) {
		snprintf(err, errlen, "too many participants");
		return NULL;
	}
	for (i = 0; i < nparts; i++)
		if (parts[i] == NULL || !fw_phone_valid(parts[i])) {
			snprintf(err, errlen, "bad participant");
			return NULL;
		}
	g = xcalloc(1, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "120363%012u", ++fw.next_group);
	snprintf(g->subject, sizeof(g->subject), "%s", subject);
	snprintf(g->creator, sizeof(g->creator), "%s", owner);
	g->creation = (uint64_t)time(NULL);
	snprintf(g->parts[g->nparts++], FW_PHONE_MAX, "%s", owner);
	for (i = 0; i < nparts; i++)
		if (!group_has(g, parts[i]))
			snprintf(g->parts[g->nparts++], FW_PHONE_MAX, "%s",
			    parts[i]);
	g->next = fw.groups;
	fw.groups = g;
	fw_state_save();
	log_info("group %s@g.us \"%s\" created, %d participants", g->id,
	    g->subject, g->nparts);
	return g;
}

static struct binnode *
group_node(const struct fw_group *g)
{
	struct binnode *n = binnode_new("group"), *p;
	char v[24], lu[FW_PHONE_MAX + 2], pn[FW_PHONE_MAX + 20];
	struct jid j;
	int i;

	snprintf(v, sizeof(v), "%llu", (unsigned long long)g->creation);
	binnode_set_attrs(n, "id", g->id, "subject", g->subject, "s_t", v,
	    "creation", v, "addressing_mode", "lid", NULL);
	snprintf(lu, sizeof(lu), "9%s", g->creator);
	jid_set(&j, lu, JID_SERVER_LID, 0);
	binnode_set_attr_jid(n, "creator", &j);
	binnode_set_attr_jid(n, "s_o", &j);
	snprintf(pn, sizeof(pn), "%s@s.whatsapp.net", g->creator);
	binnode_set_attr(n, "creator_pn", pn);
	snprintf(v, sizeof(v), "%d", g->nparts);
	binnode_set_attr(n, "size", v);
	for (i = 0; i < g->nparts; i++) {
		p = binnode_add_new(n, "participant");
		snprintf(lu, sizeof(lu), "9%s", g->parts[i]);
		jid_set(&j, lu, JID_SERVER_LID, 0);
		binnode_set_attr_jid(p, "jid", &j);
		snprintf(pn, sizeof(pn), "%s@s.whatsapp.net", g->parts[i]);
		binnode_set_attr(p, "phone_number", pn);
		if (strcmp(g->parts[i], g->creator) == 0)
			binnode_set_attr(p, "type", "superadmin");
	}
	return n;
}

void
fw_group_iq(struct fw_conn *c, const struct binnode *iq)
{
	struct binnode *cr, *r, *p;
	struct fw_group *g;
	struct jid to, j;
	const char *parts[FW_GROUP_PARTS];
	char phones[FW_GROUP_PARTS][FW_PHONE_MAX], err[80];
	int np = 0;
	size_t i;

	if (c->dev == NULL || binnode_attr_jid(iq, "to", &to) != 0) {
		fw_iq_error(c, iq, "400", "bad-request");
		return;
	}
	if ((cr = binnode_child(iq, "create")) != NULL) {
		for (i = 0; i < cr->nchildren && np < FW_GROUP_PARTS - 1; i++) {
			p = cr->children[i];
			if (!binnode_tag_is(p, "participant") ||
			    binnode_attr_jid(p, "jid", &j) != 0 ||
			    jid_phone(&j, phones[np], FW_PHONE_MAX) != 0)
				continue;
			parts[np] = phones[np];
			np++;
		}
		if ((g = fw_group_create(binnode_attr(cr, "subject"),
		    c->dev->phone, parts, np, err, sizeof(err))) == NULL) {
			fw_iq_error(c, iq, "400", err);
			return;
		}
		fw_iq_reply(c, iq, group_node(g));
		return;
	}
	if (binnode_child(iq, "participating") != NULL) {
		r = binnode_new("groups");
		for (g = fw.groups; g != NULL; g = g->next)
			if (group_has(g, c->dev->phone)) {
				p = group_node(g);
				binnode_add_child(r, &p);
			}
		fw_iq_reply(c, iq, r);
		return;
	}
	if (binnode_child(iq, "query") != NULL && jid_is_group(&to)) {
		if ((g = fw_group_find(to.user)) == NULL ||
		    !group_has(g, c->dev->phone)) {
			fw_iq_error(c, iq, "404", "item-not-found");
			return;
		}
		fw_iq_reply(c, iq, group_node(g));
		return;
	}
	fw_iq_reply(c, iq, NULL);
}

struct json_object *
fw_group_json(const struct fw_group *g)
{
	struct json_object *o = json_object_new_object(), *a;
	char jid[64];
	int i;

	snprintf(jid, sizeof(jid), "%s@g.us", g->id);
	json_object_object_add(o, "jid", json_object_new_string(jid));
	json_object_object_add(o, "subject",
	    json_object_new_string(g->subject));
	json_object_object_add(o, "owner", json_object_new_string(g->creator));
	json_object_object_add(o, "creation",
	    json_object_new_int64((int64_t)g->creation));
	a = json_object_new_array();
	for (i = 0; i < g->nparts; i++)
		json_object_array_add(a, json_object_new_string(g->parts[i]));
	json_object_object_add(o, "participants", a);
	return o;
}

void
fw_groups_save(struct json_object *root)
{
	struct json_object *arr = json_object_new_array(), *o;
	struct fw_group *g;

	for (g = fw.groups; g != NULL; g = g->next) {
		o = fw_group_json(g);
		json_object_object_add(o, "id", json_object_new_string(g->id));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "groups", arr);
	json_object_object_add(root, "next_group",
	    json_object_new_int64(fw.next_group));
}

int
fw_groups_load(struct json_object *root)
{
	struct json_object *arr, *o, *v, *pa;
	struct fw_group *g;
	const char *id, *subj, *owner;
	size_t i, k;

	if (json_object_object_get_ex(root, "next_group", &v))
		fw.next_group = (uint32_t)json_object_get_int64(v);
	if (!json_object_object_get_ex(root, "groups", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		id = subj = owner = NULL;
		if (json_object_object_get_ex(o, "id", &v))
			id = json_object_get_string(v);
		if (json_object_object_get_ex(o, "subject", &v))
			subj = json_object_get_string(v);
		if (json_object_object_get_ex(o, "owner", &v))
			owner = json_object_get_string(v);
		if (id == NULL || subj == NULL || owner == NULL ||
		    !json_object_object_get_ex(o, "participants", &pa) ||
		    !json_object_is_type(pa, json_type_array))
			return -1;
		g = xcalloc(1, sizeof(*g));
		snprintf(g->id, sizeof(g->id), "%s", id);
		snprintf(g->subject, sizeof(g->subject), "%s", subj);
		snprintf(g->creator, sizeof(g->creator), "%s", owner);
		if (json_object_object_get_ex(o, "creation", &v))
			g->creation = (uint64_t)json_object_get_int64(v);
		for (k = 0; k < json_object_array_length(pa) &&
		    g->nparts < FW_GROUP_PARTS; k++)
			snprintf(g->parts[g->nparts++], FW_PHONE_MAX, "%s",
			    json_object_get_string(
			    json_object_array_get_idx(pa, k)));
		g->next = fw.groups;
		fw.groups = g;
	}
	return 0;
}

/* ------------------------------------------------- bundle persistence */

void
fw_device_bundle_save(const struct fw_device *d, struct json_object *o)
{
	char *hex;
	uint8_t *raw;
	size_t i;
	char h[2 * 64 + 1];

	if (d->has_skey) {
		json_object_object_add(o, "skey_id",
		    json_object_new_int64(d->skey_id));
		fw_hex(d->skey_pub, 32, h);
		json_object_object_add(o, "skey_pub", json_object_new_string(h));
		fw_hex(d->skey_sig, 64, h);
		json_object_object_add(o, "skey_sig", json_object_new_string(h));
	}
	raw = xmalloc(d->npk * 35 + 1);
	for (i = 0; i < d->npk; i++) {
		put_u32be(raw + 35 * i, d->pk[i].id, 3);
		memcpy(raw + 35 * i + 3, d->pk[i].pub, 32);
	}
	hex = xmalloc(d->npk * 70 + 1);
	fw_hex(raw, d->npk * 35, hex);
	json_object_object_add(o, "onetime", json_object_new_string(hex));
	free(hex);
	free(raw);
}

int
fw_device_bundle_load(struct fw_device *d, struct json_object *o)
{
	struct json_object *v;
	const char *hex = NULL;
	uint8_t *raw;
	size_t n, i;

	if (json_object_object_get_ex(o, "skey_id", &v)) {
		d->skey_id = (uint32_t)json_object_get_int64(v);
		if (!json_object_object_get_ex(o, "skey_pub", &v) ||
		    fw_unhex(json_object_get_string(v), d->skey_pub, 32) != 0 ||
		    !json_object_object_get_ex(o, "skey_sig", &v) ||
		    fw_unhex(json_object_get_string(v), d->skey_sig, 64) != 0)
			return -1;
		d->has_skey = 1;
	}
	if (json_object_object_get_ex(o, "onetime", &v))
		hex = json_object_get_string(v);
	if (hex == NULL || *hex == '\0')
		return 0;
	n = strlen(hex);
	if (n % 70 != 0)
		return -1;
	n /= 70;
	raw = xmalloc(n * 35);
	if (fw_unhex(hex, raw, n * 35) != 0) {
		free(raw);
		return -1;
	}
	d->pk = xreallocarray(NULL, n, sizeof(*d->pk));
	d->pkcap = d->npk = n;
	for (i = 0; i < n; i++) {
		d->pk[i].id = get_u32be(raw + 35 * i, 3);
		memcpy(d->pk[i].pub, raw + 35 * i + 3, 32);
	}
	free(raw);
	return 0;
}

/* ------------------------------------------------------------ privacy */

/* Privacy settings get: everything "all" (read receipts on). */
void
fw_privacy_iq(struct fw_conn *c, const struct binnode *iq)
{
	static const char *cats[] = { "last", "online", "profile", "status",
	    "groupadd", "readreceipts", "calladd", NULL };
	struct binnode *p = binnode_new("privacy"), *k;
	int i;

	for (i = 0; cats[i] != NULL; i++) {
		k = binnode_add_new(p, "category");
		binnode_set_attrs(k, "name", cats[i], "value",
		    "all", NULL);
	}
	fw_iq_reply(c, iq, p);
}

/* ---------------------------------------------------------- media_conn */

void
fw_media_conn_iq(struct fw_conn *c, const struct binnode *iq)
{
	struct binnode *m = binnode_new("media_conn"), *h;
	char host[64];

	binnode_set_attrs(m, "auth", fw.media_auth, "ttl", "3600",
	    "auth_ttl", "21600", "max_buckets", "12", NULL);
	h = binnode_add_new(m, "host");
	snprintf(host, sizeof(host), "127.0.0.1:%d", fw.media_port);
	binnode_set_attr(h, "hostname", host);
	fw_iq_reply(c, iq, m);
}
