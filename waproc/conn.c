/*
 * conn.c - the WhatsApp connection state machine (see conn.h): socket,
 * Noise handshake, node I/O, IQ bookkeeping, keepalive, stream errors and
 * reconnect backoff.  Pairing and post-login work are delegated to
 * login.c.  Everything the server sends is untrusted: any malformed frame
 * or node drops the connection (clean close, then backoff); nothing here
 * aborts on input.  Key material never reaches a log line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "xmalloc.h"
#include "cert.h"
#include "conn.h"
#include "login.h"
#include "noise.h"
#include "payload.h"

#define IQ_ID_MAX	48

struct pending_iq {
	struct pending_iq	*next;
	char			 id[IQ_ID_MAX];
	uint64_t		 deadline;
	conn_iq_cb		 cb;
	void			*arg;
};

struct conn {
	struct conn_cfg		 cfg;
	struct conn_callbacks	 cb;
	struct creds		*creds;
	struct wsclient		*ws;
	struct login		*login;
	enum conn_state		 state;
	enum conn_cause		 cause;		/* of the last drop */
	enum conn_cause		 drop_cause;	/* pending close */
	int			 hs_step;	/* 0 none, 1 hello sent, 2 open */
	struct noise_hs		 hs;
	struct noise_transport	 tr;
	struct pending_iq	*iqs;
	uint16_t		 id_a, id_b;
	unsigned		 id_n;
	unsigned		 attempts;	/* connects */
	unsigned		 backoff_n;	/* failures since stable */
	int			 restart_now;	/* 515 without backoff */
	uint64_t		 hs_deadline;
	uint64_t		 reconnect_at;
	uint64_t		 logged_in_at;
	uint64_t		 next_ping;
	uint64_t		 last_rx;
	int			 ping_out;	/* a keepalive is pending */
	int			 logout_sent;
	int			 in_service;
};

static const char *state_names[] = { "idle", "connecting", "pairing",
	"logging_in", "logged_in", "waiting", "logged_out", "stopped" };
static const char *cause_names[] = { "none", "network", "protocol", "cert",
	"restart", "stream", "logged_out", "replaced", "failure",
	"qr_timeout", "keepalive", "timeout", "user" };

const char *
conn_state_name(enum conn_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ?
	    state_names[s] : "?";
}

const char *
conn_cause_name(enum conn_cause c)
{
	return (unsigned)c < sizeof(cause_names) / sizeof(cause_names[0]) ?
	    cause_names[c] : "?";
}

uint64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A duration key: 100 ms .. 1 day, else def. */
static int
cfg_ms(const char *key, int def)
{
	long v = config_get_int(key);

	if (v < 100 || v > 86400000L) {
		log_warnx("config: %s=%ld out of range (100..86400000): "
		    "using %d", key, v, def);
		return def;
	}
	return (int)v;
}

void
conn_cfg_default(struct conn_cfg *cfg)
{
	const char *v;

	memset(cfg, 0, sizeof(*cfg));
	v = config_get("WA_SERVER_URL");
	snprintf(cfg->url, sizeof(cfg->url), "%s",
	    v && *v ? v : "wss://web.whatsapp.com/ws/chat");
	v = config_get("WA_CERT_ROOT");
	if (v != NULL)
		snprintf(cfg->cert_root_hex, sizeof(cfg->cert_root_hex), "%s",
		    v);
	v = config_get("WA_CA_FILE");	/* TEST ONLY, for wss:// */
	if (v != NULL)
		snprintf(cfg->ca_file, sizeof(cfg->ca_file), "%s", v);
	payload_opts_default(&cfg->popts);
	cfg->handshake_timeout_ms = 20000;
	cfg->iq_timeout_ms = 60000;
	/* a ping every N .. 1.5 N ms while logged in */
	cfg->keepalive_min_ms = cfg_ms("WA_KEEPALIVE_MS", 20000);
	cfg->keepalive_max_ms = cfg->keepalive_min_ms +
	    cfg->keepalive_min_ms / 2;
	cfg->keepalive_timeout_ms = cfg_ms("WA_KEEPALIVE_TIMEOUT_MS", 10000);
	cfg->backoff_min_ms = 1000;
	cfg->backoff_max_ms = 300000;
	cfg->stable_ms = 60000;
	cfg->qr_first_ms = 60000;
	cfg->qr_next_ms = 20000;
	cfg->prekeys_initial = 812;
	cfg->prekeys_refill = 50;
	cfg->prekeys_min = 5;
}

/* ------------------------------------------------------------ helpers */

struct creds *
conn_creds(struct conn *c)
{
	return c->creds;
}

const struct conn_cfg *
conn_cfg(const struct conn *c)
{
	return &c->cfg;
}

const struct conn_callbacks *
conn_callbacks(const struct conn *c)
{
	return &c->cb;
}

void
conn_creds_changed(struct conn *c)
{
	if (c->cb.creds_changed)
		c->cb.creds_changed(c->cb.arg, c->creds);
}

enum conn_state
conn_state(const struct conn *c)
{
	return c->state;
}

enum conn_cause
conn_last_cause(const struct conn *c)
{
	return c->cause;
}

unsigned
conn_attempts(const struct conn *c)
{
	return c->attempts;
}

void
conn_set_state(struct conn *c, enum conn_state s)
{
	if (c->state == s)
		return;
	log_debug("conn: %s -> %s", conn_state_name(c->state),
	    conn_state_name(s));
	c->state = s;
	if (c->cb.state)
		c->cb.state(c->cb.arg, s, c->cause);
}

void
conn_next_id(struct conn *c, char *out, size_t len)
{
	snprintf(out, len, "%u.%u-%u", c->id_a, c->id_b, ++c->id_n);
}

static void
fail_iqs(struct conn *c, int err)
{
	struct pending_iq *q;

	while ((q = c->iqs) != NULL) {
		c->iqs = q->next;
		if (q->cb)
			q->cb(q->arg, NULL, err);
		free(q);
	}
}

/* ------------------------------------------------------------- output */

int
conn_send_node(struct conn *c, const struct binnode *n)
{
	struct buf plain;
	uint8_t *ct = NULL;
	size_t clen;
	int rc = CONN_ENOTCONN;

	if (c->hs_step != 2 || c->drop_cause != CONN_CAUSE_NONE ||
	    !wsclient_connected(c->ws))
		return CONN_ENOTCONN;
	buf_init(&plain, NOISE_FRAME_MAX - NOISE_TAG_LEN);
	if (binnode_encode(n, &plain) != 0) {
		log_warnx("conn: cannot encode <%s>", n->tag);
		rc = CONN_EINVAL;
		goto out;
	}
	if (log_get_level() >= LOG_LVL_DEBUG) {
		struct buf d;

		buf_init(&d, 4096);
		binnode_print(n, &d);
		log_debug("conn >> %s", buf_cstr(&d));
		buf_free(&d);
	}
	ct = xmalloc(plain.len + NOISE_TAG_LEN);
	if (noise_encrypt(&c->tr, plain.data, plain.len, ct,
	    plain.len + NOISE_TAG_LEN, &clen) != 0 ||
	    wsclient_send_frame(c->ws, ct, clen) != 0)
		goto out;
	rc = CONN_OK;
out:
	if (plain.data)
		sodium_memzero(plain.data, plain.len);
	buf_free(&plain);
	free(ct);
	return rc;
}

int
conn_send_iq(struct conn *c, struct binnode *iq, int timeout_ms,
    conn_iq_cb cb, void *arg)
{
	struct pending_iq *q;
	char id[IQ_ID_MAX];
	struct jid j;
	int rc;

	if (binnode_attr(iq, "id") == NULL) {
		conn_next_id(c, id, sizeof(id));
		binnode_set_attr(iq, "id", id);
	}
	if (binnode_attr(iq, "to") == NULL) {
		jid_set(&j, "", JID_SERVER_PN, 0);
		binnode_set_attr_jid(iq, "to", &j);
	}
	if (strlen(binnode_attr(iq, "id")) >= IQ_ID_MAX)
		return CONN_EINVAL;
	if ((rc = conn_send_node(c, iq)) != CONN_OK)
		return rc;
	q = xcalloc(1, sizeof(*q));
	snprintf(q->id, sizeof(q->id), "%s", binnode_attr(iq, "id"));
	q->deadline = conn_now_ms() + (uint64_t)(timeout_ms > 0 ?
	    timeout_ms : c->cfg.iq_timeout_ms);
	q->cb = cb;
	q->arg = arg;
	q->next = c->iqs;
	c->iqs = q;
	return CONN_OK;
}

int
conn_ack(struct conn *c, const struct binnode *n)
{
	struct binnode *a;
	const char *id = binnode_attr(n, "id"), *type, *p;
	struct jid from;
	int rc;

	if (id == NULL)
		return CONN_EINVAL;
	a = binnode_new("ack");
	binnode_set_attrs(a, "id", id, "class", n->tag, NULL);
	if (binnode_attr_jid(n, "from", &from) == 0)
		binnode_set_attr_jid(a, "to", &from);
	if ((type = binnode_attr(n, "type")) != NULL &&
	    strcmp(n->tag, "message") != 0)
		binnode_set_attr(a, "type", type);
	if ((p = binnode_attr(n, "participant")) != NULL)
		binnode_set_attr(a, "participant", p);
	rc = conn_send_node(c, a);
	binnode_free(a);
	return rc;
}

/* ----------------------------------------------------- connect / drop */

static uint64_t
backoff_ms(struct conn *c)
{
	uint64_t d = (uint64_t)c->cfg.backoff_min_ms;
	unsigned i;

	for (i = 0; i < c->backoff_n && d < (uint64_t)c->cfg.backoff_max_ms;
	    i++)
		d *= 2;
	if (d > (uint64_t)c->cfg.backoff_max_ms)
		d = (uint64_t)c->cfg.backoff_max_ms;
	/* jitter: [d/2, d] */
	return d / 2 + (d / 2 > 0 ? randombytes_uniform(
	    (uint32_t)(d / 2 > UINT32_MAX - 1 ? UINT32_MAX - 1 : d / 2) + 1) :
	    0);
}

static int
connect_now(struct conn *c)
{
	c->hs_step = 0;
	c->drop_cause = CONN_CAUSE_NONE;
	c->ping_out = 0;
	c->logout_sent = 0;
	c->attempts++;
	randombytes_buf(&c->id_a, sizeof(c->id_a));
	randombytes_buf(&c->id_b, sizeof(c->id_b));
	c->id_n = 0;
	login_reset(c->login);
	c->hs_deadline = conn_now_ms() + (uint64_t)c->cfg.handshake_timeout_ms;
	conn_set_state(c, CONN_CONNECTING);
	log_info("connecting to %s (attempt %u)", c->cfg.url, c->attempts);
	if (wsclient_connect(c->ws, c->cfg.url) != 0) {
		log_warnx("bad server URL %s", c->cfg.url);
		return -1;
	}
	return 0;
}

int
conn_start(struct conn *c)
{
	if (c->state != CONN_IDLE && c->state != CONN_STOPPED &&
	    c->state != CONN_LOGGED_OUT && c->state != CONN_WAITING)
		return 0;
	c->cause = CONN_CAUSE_NONE;
	c->backoff_n = 0;
	return connect_now(c);
}

void
conn_drop(struct conn *c, enum conn_cause cause)
{
	if (c->drop_cause == CONN_CAUSE_NONE)
		c->drop_cause = cause;
	wsclient_close(c->ws, conn_cause_name(cause));
}

static void
logged_out(struct conn *c, int reason)
{
	log_info("logged out (%d): wiping credentials", reason);
	if (c->cb.logged_out)
		c->cb.logged_out(c->cb.arg, reason);
	creds_reset(c->creds);
}

/* The socket is gone: decide what comes next. */
static void
on_closed(void *arg, const char *why)
{
	struct conn *c = arg;
	enum conn_cause cause = c->drop_cause != CONN_CAUSE_NONE ?
	    c->drop_cause : CONN_CAUSE_NETWORK;
	uint64_t now = conn_now_ms(), delay;

	c->hs_step = 0;
	noise_hs_clear(&c->hs);
	noise_transport_clear(&c->tr);
	fail_iqs(c, CONN_EDISCONNECTED);
	c->cause = cause;
	c->drop_cause = CONN_CAUSE_NONE;
	if (c->state == CONN_LOGGED_IN && c->logged_in_at &&
	    now - c->logged_in_at >= (uint64_t)c->cfg.stable_ms)
		c->backoff_n = 0;
	c->logged_in_at = 0;
	log_info("disconnected: %s (%s)", conn_cause_name(cause), why);
	switch (cause) {
	case CONN_CAUSE_USER:
	case CONN_CAUSE_REPLACED:
	case CONN_CAUSE_FAILURE:
	case CONN_CAUSE_QR_TIMEOUT:
		conn_set_state(c, CONN_STOPPED);
		return;
	case CONN_CAUSE_LOGGED_OUT:
		conn_set_state(c, CONN_LOGGED_OUT);
		return;
	case CONN_CAUSE_RESTART:
		if (c->restart_now) {
			c->restart_now = 0;
			delay = 0;
			break;
		}
		/* FALLTHROUGH */
	default:
		delay = backoff_ms(c);
		c->backoff_n++;
		break;
	}
	c->reconnect_at = now + delay;
	conn_set_state(c, CONN_WAITING);
	log_info("reconnecting in %" PRIu64 " ms", delay);
}

/* ---------------------------------------------------------- handshake */

static void
on_open(void *arg)
{
	struct conn *c = arg;
	struct buf out;

	buf_init(&out, NOISE_HS_MSG_MAX);
	if (noise_hs_init(&c->hs, NOISE_INITIATOR, &c->creds->noise,
	    NULL) != 0 || noise_initiator_hello(&c->hs, &out) != 0 ||
	    wsclient_send_frame(c->ws, out.data, out.len) != 0) {
		log_warnx("cannot start the handshake");
		conn_drop(c, CONN_CAUSE_PROTOCOL);
	} else
		c->hs_step = 1;
	buf_free(&out);
}

static int
finish_handshake(struct conn *c, const uint8_t *p, size_t len)
{
	struct buf payload, out;
	struct jid me;
	char *end;
	uint64_t user;
	int rc;

	rc = noise_initiator_read_hello(&c->hs, p, len, (uint64_t)time(NULL),
	    NULL);
	if (rc != 0) {
		if (rc == NOISE_ECERT)
			log_warnx("server certificate rejected: %s",
			    cert_strerror(c->hs.cert_err));
		else
			log_warnx("bad ServerHello: %s", noise_strerror(rc));
		c->drop_cause = rc == NOISE_ECERT ? CONN_CAUSE_CERT :
		    CONN_CAUSE_PROTOCOL;
		return -1;
	}
	buf_init(&payload, PAYLOAD_MAX);
	buf_init(&out, NOISE_HS_MSG_MAX);
	if (creds_registered(c->creds) && creds_jid(c->creds, &me) == 0) {
		user = strtoull(me.user, &end, 10);
		rc = *end != '\0' ? -1 : payload_build_login(&c->cfg.popts,
		    user, me.device, &payload);
	} else {
		struct payload_reg reg;

		memset(&reg, 0, sizeof(reg));
		reg.registration_id = c->creds->registration_id;
		memcpy(reg.identity_pub, c->creds->identity.pub, 32);
		reg.signed_prekey_id = c->creds->spk.id;
		memcpy(reg.signed_prekey_pub, c->creds->spk.kp.pub, 32);
		memcpy(reg.signed_prekey_sig, c->creds->spk.sig, 64);
		rc = payload_build_registration(&c->cfg.popts, &reg, &payload);
	}
	if (rc != 0 || noise_initiator_finish(&c->hs, payload.data,
	    payload.len, &out) != 0 ||
	    wsclient_send_frame(c->ws, out.data, out.len) != 0 ||
	    noise_split(&c->hs, &c->tr) != 0) {
		log_warnx("cannot finish the handshake");
		c->drop_cause = CONN_CAUSE_PROTOCOL;
		rc = -1;
	} else {
		c->hs_step = 2;
		c->last_rx = conn_now_ms();
		rc = 0;
		conn_set_state(c, creds_registered(c->creds) ?
		    CONN_LOGGING_IN : CONN_PAIRING);
	}
	sodium_memzero(payload.data, payload.len);
	buf_free(&payload);
	buf_free(&out);
	return rc;
}

/* -------------------------------------------------------------- input */

static int
handle_iq_reply(struct conn *c, const struct binnode *n)
{
	struct pending_iq **pp, *q;
	const char *id = binnode_attr(n, "id");
	const char *type = binnode_attr(n, "type");

	if (id == NULL)
		return 0;
	for (pp = &c->iqs; (q = *pp) != NULL; pp = &q->next) {
		if (strcmp(q->id, id) != 0)
			continue;
		*pp = q->next;
		if (q->cb)
			q->cb(q->arg, n, type && strcmp(type, "error") == 0 ?
			    CONN_EERROR : CONN_OK);
		free(q);
		return 1;
	}
	return 0;
}

static void
handle_stream_error(struct conn *c, const struct binnode *n)
{
	const char *code = binnode_attr(n, "code");
	struct binnode *conflict = binnode_child(n, "conflict");
	const char *ctype = conflict ? binnode_attr(conflict, "type") : NULL;
	long v = 0;

	if (code != NULL)
		v = strtol(code, NULL, 10);
	log_info("stream error %ld%s%s", v, ctype ? " conflict " : "",
	    ctype ? ctype : "");
	if (c->cb.stream_error)
		c->cb.stream_error(c->cb.arg, (int)v, ctype);
	if (v == 515) {
		c->restart_now = c->backoff_n == 0;
		conn_drop(c, CONN_CAUSE_RESTART);
	} else if (v == 401 || (ctype && strcmp(ctype, "device_removed") == 0)) {
		logged_out(c, 401);
		conn_drop(c, CONN_CAUSE_LOGGED_OUT);
	} else if (v == 440 || (ctype && strcmp(ctype, "replaced") == 0)) {
		conn_drop(c, CONN_CAUSE_REPLACED);
	} else {
		conn_drop(c, CONN_CAUSE_STREAM);
	}
}

static void
handle_failure(struct conn *c, const struct binnode *n)
{
	const char *r = binnode_attr(n, "reason");
	long v = r ? strtol(r, NULL, 10) : 0;

	log_warnx("login failure, reason %ld", v);
	if (v == 401) {
		logged_out(c, 401);
		conn_drop(c, CONN_CAUSE_LOGGED_OUT);
	} else if (v == 500 || v == 503 || v == 0) {
		conn_drop(c, CONN_CAUSE_STREAM);
	} else {
		conn_drop(c, CONN_CAUSE_FAILURE);
	}
}

static void
dispatch(struct conn *c, const struct binnode *n)
{
	const char *type = binnode_attr(n, "type");
	const char *xmlns = binnode_attr(n, "xmlns");
	struct binnode *r;
	struct jid j;

	if (binnode_tag_is(n, "iq") && type != NULL &&
	    (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) &&
	    handle_iq_reply(c, n))
		return;
	if (binnode_tag_is(n, "iq") && type && strcmp(type, "get") == 0 &&
	    xmlns && strcmp(xmlns, "urn:xmpp:ping") == 0) {
		r = binnode_new("iq");
		jid_set(&j, "", JID_SERVER_PN, 0);
		binnode_set_attr_jid(r, "to", &j);
		binnode_set_attrs(r, "id", binnode_attr(n, "id"),
		    "type", "result", NULL);
		(void)conn_send_node(c, r);
		binnode_free(r);
		return;
	}
	if (binnode_tag_is(n, "stream:error")) {
		handle_stream_error(c, n);
		return;
	}
	if (binnode_tag_is(n, "failure")) {
		handle_failure(c, n);
		return;
	}
	if (binnode_tag_is(n, "xmlstreamend")) {
		conn_drop(c, CONN_CAUSE_STREAM);
		return;
	}
	if (binnode_tag_is(n, "success")) {
		c->logged_in_at = conn_now_ms();
		c->next_ping = c->logged_in_at + (uint64_t)c->cfg.keepalive_min_ms;
		login_on_success(c->login, n);
		conn_set_state(c, CONN_LOGGED_IN);
		if (c->cb.logged_in)
			c->cb.logged_in(c->cb.arg);
		return;
	}
	if (login_handle(c->login, n))
		return;
	if (c->cb.node)
		c->cb.node(c->cb.arg, n);
	if (binnode_tag_is(n, "notification"))
		(void)conn_ack(c, n);
}

int
conn_inject(struct conn *c, const uint8_t *p, size_t len)
{
	struct binnode *n = NULL;
	int rc;

	if ((rc = binnode_decode(p, len, &n)) != 0)
		return rc;
	dispatch(c, n);
	binnode_free(n);
	return 0;
}

static int
on_frame(void *arg, const uint8_t *p, size_t len)
{
	struct conn *c = arg;
	struct binnode *n = NULL;
	uint8_t *pt;
	size_t plen;
	int rc;

	if (c->drop_cause != CONN_CAUSE_NONE)
		return 0;
	c->last_rx = conn_now_ms();
	if (c->hs_step == 1)
		return finish_handshake(c, p, len);
	if (c->hs_step != 2 || len < NOISE_TAG_LEN) {
		c->drop_cause = CONN_CAUSE_PROTOCOL;
		return -1;
	}
	pt = xmalloc(len);
	rc = noise_decrypt(&c->tr, p, len, pt, len, &plen);
	if (rc == 0)
		rc = binnode_decode(pt, plen, &n);
	else
		log_warnx("frame does not decrypt");
	sodium_memzero(pt, len);
	free(pt);
	if (rc != 0) {
		log_warnx("malformed stanza from server (%d): disconnecting",
		    rc);
		c->drop_cause = CONN_CAUSE_PROTOCOL;
		return -1;
	}
	if (log_get_level() >= LOG_LVL_DEBUG) {
		struct buf d;

		buf_init(&d, 4096);
		binnode_print(n, &d);
		log_debug("conn << %s", buf_cstr(&d));
		buf_free(&d);
	}
	dispatch(c, n);
	binnode_free(n);
	return 0;
}

/* ----------------------------------------------------------- lifecycle */

struct conn *
conn_new(const struct conn_cfg *cfg, struct creds *creds,
    const struct conn_callbacks *cb)
{
	struct wsclient_cb wcb;
	struct conn *c = xcalloc(1, sizeof(*c));

	c->cfg = *cfg;
	c->creds = creds;
	if (cb != NULL)
		c->cb = *cb;
	/* the root is process-wide (cert.c); one device per process */
	if (c->cfg.cert_root_hex[0] == '\0')
		cert_reset_root();
	else if (cert_set_root_hex(c->cfg.cert_root_hex) != 0) {
		log_warnx("WA_CERT_ROOT is malformed: using WhatsApp's root");
		cert_reset_root();
	}
	if (c->creds->next_prekey_id == 0)
		c->creds->next_prekey_id = 1;
	memset(&wcb, 0, sizeof(wcb));
	wcb.arg = c;
	wcb.open = on_open;
	wcb.frame = on_frame;
	wcb.closed = on_closed;
	c->ws = wsclient_new(&wcb, c->cfg.ca_file);
	c->login = login_new(c);
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	wsclient_free(c->ws);
	fail_iqs(c, CONN_EDISCONNECTED);
	login_free(c->login);
	noise_hs_clear(&c->hs);
	noise_transport_clear(&c->tr);
	free(c);
}

void
conn_stop(struct conn *c)
{
	if (c->state == CONN_WAITING || c->state == CONN_IDLE) {
		c->cause = CONN_CAUSE_USER;
		conn_set_state(c, CONN_STOPPED);
		return;
	}
	if (c->state == CONN_STOPPED || c->state == CONN_LOGGED_OUT)
		return;
	conn_drop(c, CONN_CAUSE_USER);
}

static void
logout_done(void *arg, const struct binnode *reply, int err)
{
	struct conn *c = arg;

	if (c->state == CONN_LOGGED_OUT || c->drop_cause ==
	    CONN_CAUSE_LOGGED_OUT)
		return;
	logged_out(c, 0);
	conn_drop(c, CONN_CAUSE_LOGGED_OUT);
}

int
conn_logout(struct conn *c)
{
	struct binnode *iq, *rm;
	int rc;

	if (c->state != CONN_LOGGED_IN || c->logout_sent)
		return CONN_ENOTCONN;
	iq = binnode_new("iq");
	binnode_set_attrs(iq, "xmlns", "md", "type", "set", NULL);
	rm = binnode_add_new(iq, "remove-companion-device");
	binnode_set_attrs(rm, "jid", c->creds->jid, "reason",
	    "user_initiated", NULL);
	rc = conn_send_iq(c, iq, 10000, logout_done, c);
	binnode_free(iq);
	if (rc == CONN_OK)
		c->logout_sent = 1;
	return rc;
}

int
conn_pair_phone(struct conn *c, const char *phone,
    char code_out[PAIRING_CODE_LEN + 2])
{
	return login_pair_phone(c->login, phone, code_out);
}

/* --------------------------------------------------------------- loop */

int
conn_pollfds(struct conn *c, struct pollfd *pfd, int max)
{
	return wsclient_pollfds(c->ws, pfd, max);
}

static void
ping_done(void *arg, const struct binnode *reply, int err)
{
	struct conn *c = arg;

	c->ping_out = 0;
	if (err != CONN_ETIMEOUT)
		return;
	/*
	 * Frames kept coming: the server is there, we are the slow ones
	 * (a backlog of messages ahead of the pong).  Dropping now would
	 * only make the server send that backlog again.
	 */
	if (conn_now_ms() - c->last_rx < (uint64_t)c->cfg.keepalive_timeout_ms) {
		log_debug("keepalive: pong late, but data is flowing");
		return;
	}
	log_warnx("keepalive ping unanswered: reconnecting");
	conn_drop(c, CONN_CAUSE_KEEPALIVE);
}

static void
keepalive(struct conn *c, uint64_t now)
{
	struct binnode *iq;
	uint32_t span;

	if (c->state != CONN_LOGGED_IN || c->ping_out || now < c->next_ping)
		return;
	span = (uint32_t)(c->cfg.keepalive_max_ms > c->cfg.keepalive_min_ms ?
	    c->cfg.keepalive_max_ms - c->cfg.keepalive_min_ms : 0);
	c->next_ping = now + (uint64_t)c->cfg.keepalive_min_ms +
	    (span ? randombytes_uniform(span + 1) : 0);
	iq = binnode_new("iq");
	binnode_set_attrs(iq, "xmlns", "w:p", "type", "get", NULL);
	binnode_add_new(iq, "ping");
	if (conn_send_iq(c, iq, c->cfg.keepalive_timeout_ms, ping_done,
	    c) == CONN_OK)
		c->ping_out = 1;
	binnode_free(iq);
}

static void
expire_iqs(struct conn *c, uint64_t now)
{
	struct pending_iq **pp, *q;

	for (pp = &c->iqs; (q = *pp) != NULL;) {
		if (q->deadline > now) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		if (q->cb)
			q->cb(q->arg, NULL, CONN_ETIMEOUT);
		free(q);
		pp = &c->iqs;	/* the callback may have changed the list */
	}
}

static int64_t
until(uint64_t t, uint64_t now)
{
	return t > now ? (int64_t)(t - now) : 0;
}

int
conn_timeout_ms(struct conn *c)
{
	uint64_t now = conn_now_ms();
	int64_t t = wsclient_timeout_ms(c->ws), v;
	struct pending_iq *q;

	if (t < 0)
		t = 1000;
	if (c->state == CONN_WAITING && (v = until(c->reconnect_at, now)) < t)
		t = v;
	if ((c->state == CONN_CONNECTING || c->state == CONN_LOGGING_IN) &&
	    (v = until(c->hs_deadline, now)) < t)
		t = v;
	if (c->state == CONN_LOGGED_IN && !c->ping_out &&
	    (v = until(c->next_ping, now)) < t)
		t = v;
	for (q = c->iqs; q != NULL; q = q->next)
		if ((v = until(q->deadline, now)) < t)
			t = v;
	v = login_timeout_ms(c->login, now);
	if (v >= 0 && v < t)
		t = v;
	return (int)t;
}

void
conn_service(struct conn *c)
{
	uint64_t now;

	wsclient_service(c->ws);
	now = conn_now_ms();
	if (c->state == CONN_WAITING && now >= c->reconnect_at) {
		(void)connect_now(c);
		return;
	}
	if ((c->state == CONN_CONNECTING || c->state == CONN_LOGGING_IN) &&
	    now >= c->hs_deadline && c->drop_cause == CONN_CAUSE_NONE) {
		log_warnx("%s timed out", c->state == CONN_CONNECTING ?
		    "handshake" : "login");
		conn_drop(c, CONN_CAUSE_TIMEOUT);
	}
	if (c->hs_step == 2 && c->drop_cause == CONN_CAUSE_NONE) {
		expire_iqs(c, now);
		keepalive(c, now);
		login_tick(c->login, now);
	}
}

void
conn_run(struct conn *c, int max_ms)
{
	struct pollfd pfd[CONN_POLLFDS_MAX];
	uint64_t end = conn_now_ms() + (uint64_t)max_ms, now;
	int n, t;

	for (;;) {
		now = conn_now_ms();
		if (now >= end)
			break;
		n = conn_pollfds(c, pfd, CONN_POLLFDS_MAX);
		t = conn_timeout_ms(c);
		if ((uint64_t)t > end - now)
			t = (int)(end - now);
		(void)poll(pfd, (nfds_t)n, t);
		conn_service(c);
	}
	conn_service(c);
}
