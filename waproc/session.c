/*
 * session.c - one device's WhatsApp session glued to devmgr (session.h):
 * credentials in store.db (one blob, "creds", written before conn relies
 * on it), lifecycle STATUS and WAEVENTs from conn's callbacks, and the
 * device API (/app/login answered asynchronously when the first QR is
 * there, login-with-code, logout, reconnect, status, devices; 401 while
 * not logged in, 501 for what is not built yet - never a fake success).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "conn.h"
#include "creds.h"
#include "log.h"
#include "msgr.h"
#include "session.h"
#include "store.h"
#include "xmalloc.h"

#define CREDS_KEY	"creds"
#define PEND_MAX	16

enum pend_kind { PEND_LOGIN = 1, PEND_LOGOUT, PEND_CODE };

struct pend {
	uint32_t	reqid;
	int		kind;
	uint64_t	deadline;
};

struct session {
	struct store		*store;
	struct conn_cfg		 cfg;
	struct session_out	 out;
	struct conn		*conn;
	struct creds		 creds;
	char			 state[24];
	char			 cause[32];
	int			 was_connected;
	int			 code_requested;
	int			 quiet;		/* our own conn_stop */
	char			 qr[PAIRING_QR_MAX];
	char			 code[PAIRING_CODE_LEN + 2];
	uint64_t		 qr_expires;	/* conn_now_ms() */
	struct pend		 pend[PEND_MAX];
	struct msgr		*msgr;		/* messaging (msgr.c) */
	int			 online;	/* msgr told: logged in */
};

static const char JSON_401[] = "{\"code\":\"AUTHENTICATION_ERROR\","
    "\"message\":\"you are not logged in\"}";

/* ------------------------------------------------------------ helpers */

static char *
json_take(json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return s;
}

/* {"code","message","results"?} */
static json_object *
answer(const char *code, const char *message, json_object *results)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (results != NULL)
		json_object_object_add(o, "results", results);
	return o;
}

static void
reply(struct session *s, uint32_t reqid, int status, const char *code,
    const char *message, json_object *results)
{
	char *j = json_take(answer(code, message, results));

	s->out.reply(s->out.arg, reqid, status, code, message, j);
	free(j);
}

static void
event(struct session *s, const char *type, json_object *o)
{
	char *j = o != NULL ? json_take(o) : NULL;

	s->out.event(s->out.arg, type, j != NULL ? j : "{}");
	free(j);
}

int
session_registered(const struct session *s)
{
	return creds_registered(&s->creds);
}

const char *
session_state(const struct session *s)
{
	return s->state;
}

struct conn *
session_conn(struct session *s)
{
	return s->conn;
}

void
session_set_media(struct session *s, struct media *md)
{
	msgr_set_media(s->msgr, md);
}

static int
logged_in(const struct session *s)
{
	return s->conn != NULL && conn_state(s->conn) == CONN_LOGGED_IN;
}

static void
set_status(struct session *s, const char *state, const char *cause)
{
	int conn = strcmp(state, "connected") == 0;

	if (cause == NULL)
		cause = "";
	if (strcmp(s->state, state) == 0 && strcmp(s->cause, cause) == 0)
		return;
	snprintf(s->state, sizeof(s->state), "%s", state);
	snprintf(s->cause, sizeof(s->cause), "%s", cause);
	log_info("status %s%s%s", state, *cause ? ": " : "", cause);
	s->out.status(s->out.arg, state, conn || session_registered(s) ?
	    s->creds.jid : NULL, conn || session_registered(s) ?
	    s->creds.push_name : NULL, cause);
}

static void
ready_event(struct session *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "jid", json_object_new_string(s->creds.jid));
	json_object_object_add(o, "pushName",
	    json_object_new_string(s->creds.push_name));
	event(s, "ready", o);
}

static int logged_in(const struct session *);

void
session_announce(struct session *s)
{
	const char *jid = session_registered(s) ? s->creds.jid : NULL;

	s->out.status(s->out.arg, s->state, jid, jid ? s->creds.push_name :
	    NULL, s->cause);
	/* logged in before devmgr accepted the HELLO: the event too */
	if (logged_in(s))
		ready_event(s);
}

const char *
session_lifecycle(enum conn_state st, enum conn_cause cause,
    int was_connected, int code_requested)
{
	switch (st) {
	case CONN_IDLE:
		return "disconnected";
	case CONN_CONNECTING:
		return was_connected ? "reconnecting" : "starting";
	case CONN_PAIRING:
		return code_requested ? "pairing_code" : "qr";
	case CONN_LOGGING_IN:
		return NULL;
	case CONN_LOGGED_IN:
		return "connected";
	case CONN_WAITING:
		return "reconnecting";
	case CONN_LOGGED_OUT:
		return "logged_out";
	case CONN_STOPPED:
		if (cause == CONN_CAUSE_USER)
			return "stopped";
		/* Nobody scanned: idle again until the next /app/login. */
		if (cause == CONN_CAUSE_QR_TIMEOUT)
			return "disconnected";
		return "failed";
	}
	return NULL;
}

int
session_valid_phone(const char *p)
{
	size_t n = 0;

	if (p == NULL)
		return 0;
	if (*p == '+')
		p++;
	for (; p[n] != '\0'; n++)
		if (p[n] < '0' || p[n] > '9')
			return 0;
	return n >= 1 && n <= 15;
}

/* --------------------------------------------------------- persistence */

static int
creds_save(struct session *s, const struct creds *c)
{
	struct buf b;
	int rc = -1;

	buf_init(&b, CREDS_BLOB_MAX);
	if (creds_serialize(c, &b) == 0)
		rc = store_cred_set(s->store, CREDS_KEY, b.data, b.len);
	if (b.data != NULL)
		memset(b.data, 0, b.len);
	buf_free(&b);
	if (rc != 0)
		log_warnx("cannot persist the credentials");
	return rc;
}

static void
creds_load(struct session *s)
{
	uint8_t *v = NULL;
	size_t len = 0;
	int rc;

	rc = store_cred_get(s->store, CREDS_KEY, &v, &len);
	if (rc == 0 && (rc = creds_deserialize(&s->creds, v, len)) != 0)
		log_warnx("stored credentials unusable (%s): a new login is "
		    "needed", creds_strerror(rc));
	if (v != NULL) {
		memset(v, 0, len);
		free(v);
	}
	if (rc != 0)
		creds_generate(&s->creds);
}

/* ------------------------------------------------------------- pending */

static int
pend_add(struct session *s, uint32_t reqid, int kind, int ms)
{
	size_t i;

	for (i = 0; i < PEND_MAX; i++)
		if (s->pend[i].kind == 0) {
			s->pend[i].reqid = reqid;
			s->pend[i].kind = kind;
			s->pend[i].deadline = conn_now_ms() + (uint64_t)ms;
			return 0;
		}
	return -1;
}

static json_object *
qr_results(struct session *s)
{
	json_object *r = json_object_new_object();
	uint64_t now = conn_now_ms();
	int left = s->qr_expires > now ? (int)((s->qr_expires - now + 999) /
	    1000) : 0;

	json_object_object_add(r, "qr_string", json_object_new_string(s->qr));
	json_object_object_add(r, "qr_duration", json_object_new_int(left));
	return r;
}

static void
pend_answer_logins(struct session *s, int status, const char *code,
    const char *msg)
{
	size_t i;

	for (i = 0; i < PEND_MAX; i++)
		if (s->pend[i].kind == PEND_LOGIN) {
			s->pend[i].kind = 0;
			reply(s, s->pend[i].reqid, status, code, msg,
			    status == 200 ? qr_results(s) : NULL);
		}
}

/* The pair code, once its companion_hello is on its way to the server. */
static void
pend_answer_codes(struct session *s, int ok)
{
	json_object *r;
	size_t i;

	for (i = 0; i < PEND_MAX; i++)
		if (s->pend[i].kind == PEND_CODE) {
			s->pend[i].kind = 0;
			if (!ok) {
				reply(s, s->pend[i].reqid, 500,
				    "PAIR_CODE_ERROR", "the connection to "
				    "WhatsApp stopped", NULL);
				continue;
			}
			r = json_object_new_object();
			json_object_object_add(r, "pair_code",
			    json_object_new_string(s->code));
			reply(s, s->pend[i].reqid, 200, "SUCCESS",
			    "Login with code success", r);
		}
}

static void
pend_answer_logouts(struct session *s)
{
	size_t i;

	for (i = 0; i < PEND_MAX; i++)
		if (s->pend[i].kind == PEND_LOGOUT) {
			s->pend[i].kind = 0;
			reply(s, s->pend[i].reqid, 200, "SUCCESS",
			    "Success logout", NULL);
		}
}

/* ----------------------------------------------------------- callbacks */

static void
cb_state(void *arg, enum conn_state st, enum conn_cause cause)
{
	struct session *s = arg;
	const char *name, *cn = cause == CONN_CAUSE_NONE ? NULL :
	    conn_cause_name(cause);
	json_object *o;

	if (st == CONN_LOGGED_IN && !s->online) {
		s->online = 1;
		msgr_set_conn(s->msgr, s->conn);
		msgr_logged_in(s->msgr);
	} else if (st != CONN_LOGGED_IN && s->online) {
		s->online = 0;
		msgr_disconnected(s->msgr);
	}
	if (s->quiet)
		return;
	name = session_lifecycle(st, cause, s->was_connected,
	    s->code_requested);
	switch (st) {
	case CONN_LOGGED_IN:
		s->was_connected = 1;
		s->code_requested = 0;
		s->qr[0] = '\0';
		set_status(s, name, NULL);
		ready_event(s);
		return;
	case CONN_LOGGED_OUT:
		s->was_connected = 0;
		s->code_requested = 0;
		s->qr[0] = '\0';
		set_status(s, name, cn ? cn : "logged_out");
		o = json_object_new_object();
		json_object_object_add(o, "reason",
		    json_object_new_string(cn ? cn : "logged_out"));
		event(s, "logged_out", o);
		pend_answer_logins(s, 500, "QR_CHANNEL_ERROR",
		    "the device was logged out");
		pend_answer_codes(s, 0);
		pend_answer_logouts(s);
		return;
	case CONN_STOPPED:
		s->qr[0] = '\0';
		s->code_requested = 0;
		set_status(s, name, cn);
		if (cause == CONN_CAUSE_QR_TIMEOUT)
			event(s, "qr-expired", NULL);
		else if (cause != CONN_CAUSE_USER) {
			o = json_object_new_object();
			json_object_object_add(o, "cause",
			    json_object_new_string(cn ? cn : "failure"));
			event(s, "failed", o);
		}
		pend_answer_logins(s, 500, "QR_CHANNEL_ERROR",
		    cause == CONN_CAUSE_QR_TIMEOUT ? "the QR code expired" :
		    "the connection to WhatsApp stopped");
		pend_answer_codes(s, 0);
		return;
	case CONN_PAIRING:
		set_status(s, name, NULL);
		return;
	default:
		if (name != NULL)
			set_status(s, name, st == CONN_WAITING ? cn : NULL);
		return;
	}
}

static void
cb_qr(void *arg, const char *qr, int timeout_ms)
{
	struct session *s = arg;
	json_object *o;
	char iso[32];
	time_t exp = time(NULL) + timeout_ms / 1000;
	struct tm tm;

	if (s->qr[0] != '\0')
		event(s, "qr-expired", NULL);
	snprintf(s->qr, sizeof(s->qr), "%s", qr);
	s->qr_expires = conn_now_ms() + (uint64_t)(timeout_ms > 0 ?
	    timeout_ms : 0);
	gmtime_r(&exp, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = json_object_new_object();
	json_object_object_add(o, "qr", json_object_new_string(qr));
	json_object_object_add(o, "ttl", json_object_new_int(timeout_ms /
	    1000));
	json_object_object_add(o, "expiresAt", json_object_new_string(iso));
	event(s, "qr", o);
	pend_answer_logins(s, 200, "SUCCESS", "Login success");
}

static void
cb_pair_success(void *arg, const struct creds *c)
{
	(void)arg;
	log_debug("paired as %s", c->jid);
}

/* The server has the pair code's companion_hello: the phone may take the
 * code now (it is handed out only then, so nobody types it too early). */
static void
cb_pair_code_sent(void *arg)
{
	struct session *s = arg;

	if (s->code_requested)
		pend_answer_codes(s, 1);
}

static void
cb_pair_error(void *arg, int err)
{
	(void)arg;
	log_warnx("pairing refused (%d)", err);
}

static void
cb_creds_changed(void *arg, const struct creds *c)
{
	(void)creds_save(arg, c);
}

static void
cb_prekeys(void *arg, const struct signal_prekey *k, size_t n)
{
	struct session *s = arg;

	if (store_prekeys_put(s->store, k, n) != 0)
		log_warnx("cannot persist %zu prekeys", n);
}

static void
cb_logged_out(void *arg, int reason)
{
	struct session *s = arg;

	log_info("logged out (%d): forgetting the account", reason);
	if (store_forget_account(s->store) != 0)
		log_warnx("cannot delete the stored account");
}

static void
cb_logged_in(void *arg)
{
	(void)arg;
}

static void
cb_stream_error(void *arg, int code, const char *conflict)
{
	(void)arg;
	log_debug("stream error %d%s%s", code, conflict ? " " : "",
	    conflict ? conflict : "");
}

static void
cb_node(void *arg, const struct binnode *n)
{
	struct session *s = arg;

	(void)msgr_node(s->msgr, n);
}

/* ----------------------------------------------------------- messaging */

static void
msgr_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	struct session *s = arg;

	s->out.reply(s->out.arg, reqid, status, code, message, json);
}

static void
msgr_event(void *arg, const char *type, const char *json)
{
	struct session *s = arg;

	s->out.event(s->out.arg, type, json);
}

static void
msgr_creds(void *arg)
{
	struct session *s = arg;

	(void)creds_save(s, &s->creds);
}

/* ---------------------------------------------------------------- core */

struct session *
session_new(struct store *st, const struct conn_cfg *cfg,
    const struct session_out *out, const char *device_hash)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct msgr_out mo;

	s->store = st;
	s->cfg = *cfg;
	s->out = *out;
	snprintf(s->state, sizeof(s->state), "disconnected");
	snprintf(s->cause, sizeof(s->cause), "not logged in");
	creds_load(s);
	memset(&mo, 0, sizeof(mo));
	mo.arg = s;
	mo.reply = msgr_reply;
	mo.event = msgr_event;
	mo.creds_changed = msgr_creds;
	s->msgr = msgr_new(st, &s->creds, device_hash, &mo);
	return s;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		conn_free(s->conn);
	msgr_free(s->msgr);
	creds_clear(&s->creds);
	free(s);
}

/* Make sure a connection is up or on its way.  0 or -1. */
static int
ensure_conn(struct session *s)
{
	struct conn_callbacks cb;
	enum conn_state st;

	if (s->conn == NULL) {
		memset(&cb, 0, sizeof(cb));
		cb.arg = s;
		cb.state = cb_state;
		cb.qr = cb_qr;
		cb.pair_success = cb_pair_success;
		cb.pair_error = cb_pair_error;
		cb.pair_code_sent = cb_pair_code_sent;
		cb.creds_changed = cb_creds_changed;
		cb.prekeys = cb_prekeys;
		cb.logged_in = cb_logged_in;
		cb.logged_out = cb_logged_out;
		cb.stream_error = cb_stream_error;
		cb.node = cb_node;
		s->conn = conn_new(&s->cfg, &s->creds, &cb);
		msgr_set_conn(s->msgr, s->conn);
	}
	st = conn_state(s->conn);
	if (st == CONN_IDLE || st == CONN_STOPPED || st == CONN_LOGGED_OUT ||
	    st == CONN_WAITING)
		return conn_start(s->conn);
	return 0;
}

void
session_begin(struct session *s)
{
	if (session_registered(s)) {
		log_info("paired as %s: connecting", s->creds.jid);
		if (ensure_conn(s) != 0)
			set_status(s, "failed", "bad server URL or root");
	} else
		session_announce(s);	/* "disconnected": not logged in */
}

void
session_stop(struct session *s)
{
	if (s->conn == NULL)
		return;
	s->quiet = 1;
	conn_stop(s->conn);
	s->quiet = 0;
}

/* Logout without the server (not connected, or it did not answer). */
static void
local_logout(struct session *s)
{
	json_object *o;

	session_stop(s);
	if (store_forget_account(s->store) != 0)
		log_warnx("cannot delete the stored account");
	creds_reset(&s->creds);
	s->was_connected = 0;
	s->code_requested = 0;
	s->qr[0] = '\0';
	set_status(s, "logged_out", "user");
	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string("user"));
	event(s, "logged_out", o);
}

int
session_pollfds(struct session *s, struct pollfd *pfd, int max)
{
	return s->conn != NULL ? conn_pollfds(s->conn, pfd, max) : 0;
}

int
session_timeout_ms(struct session *s)
{
	uint64_t now = conn_now_ms();
	int t = s->conn != NULL ? conn_timeout_ms(s->conn) : -1;
	int mt = msgr_timeout_ms(s->msgr);
	size_t i;

	if (mt >= 0 && (t < 0 || mt < t))
		t = mt;
	for (i = 0; i < PEND_MAX; i++)
		if (s->pend[i].kind != 0) {
			uint64_t dl = s->pend[i].deadline;
			int d;

			d = dl > now ? (int)(dl - now) : 0;

			if (t < 0 || d < t)
				t = d;
		}
	return t;
}

void
session_jobs(struct session *s)
{
	msgr_service(s->msgr);
}

void
session_service(struct session *s)
{
	uint64_t now;
	size_t i;
	int logout = 0;

	if (s->conn != NULL)
		conn_service(s->conn);
	msgr_service(s->msgr);
	now = conn_now_ms();
	for (i = 0; i < PEND_MAX; i++) {
		if (s->pend[i].kind == 0 || s->pend[i].deadline > now)
			continue;
		if (s->pend[i].kind == PEND_LOGIN) {
			s->pend[i].kind = 0;
			reply(s, s->pend[i].reqid, 504, "QR_CHANNEL_ERROR",
			    "no QR code from WhatsApp in time", NULL);
		} else if (s->pend[i].kind == PEND_CODE) {
			s->pend[i].kind = 0;
			reply(s, s->pend[i].reqid, 504, "PAIR_CODE_ERROR",
			    "no pairing from WhatsApp in time", NULL);
		} else
			logout = 1;
	}
	if (logout) {
		log_warnx("logout not confirmed by the server: forgetting "
		    "the account locally");
		local_logout(s);
		pend_answer_logouts(s);
	}
}

/* ------------------------------------------------------------ routes */

/* The route of path: no query, no trailing '/'. */
static void
route_of(const char *path, char *out, size_t len)
{
	size_t n = strcspn(path, "?");

	if (n >= len)
		n = len - 1;
	memcpy(out, path, n);
	out[n] = '\0';
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
}

/* A query parameter: from the query JSON, else from "?a=b&c=d". */
static void
query_param(const char *path, const char *query, size_t qlen,
    const char *name, char *out, size_t len)
{
	json_object *o = NULL, *v;
	const char *p;
	size_t nl = strlen(name), k;

	out[0] = '\0';
	if (query != NULL && qlen > 0) {
		char *t = xstrndup(query, qlen);

		o = json_tokener_parse(t);
		free(t);
		if (o != NULL && json_object_object_get_ex(o, name, &v)) {
			if (json_object_is_type(v, json_type_array))
				v = json_object_array_get_idx(v, 0);
			if (v != NULL)
				snprintf(out, len, "%s",
				    json_object_get_string(v));
			json_object_put(o);
			return;
		}
		json_object_put(o);
	}
	if ((p = strchr(path, '?')) == NULL)
		return;
	for (p++; *p != '\0'; p += strcspn(p, "&"), p += *p == '&') {
		if (strncmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		for (k = 0; *p != '\0' && *p != '&' && k + 1 < len; k++) {
			if (p[0] == '%' && p[1] == '2' && (p[2] == 'B' ||
			    p[2] == 'b')) {
				out[k] = '+';
				p += 3;
			} else
				out[k] = *p++;
		}
		out[k] = '\0';
		return;
	}
}

static void
call_status(struct session *s, uint32_t reqid)
{
	json_object *r = json_object_new_object();

	json_object_object_add(r, "is_connected",
	    json_object_new_boolean(logged_in(s)));
	json_object_object_add(r, "is_logged_in",
	    json_object_new_boolean(logged_in(s)));
	json_object_object_add(r, "device_id", json_object_new_string(
	    session_registered(s) ? s->creds.jid : ""));
	reply(s, reqid, 200, "SUCCESS", "Connection status retrieved", r);
}

static void
call_login(struct session *s, uint32_t reqid)
{
	if (session_registered(s)) {
		reply(s, reqid, 400, "ALREADY_LOGGED_IN",
		    "you are already logged in.", NULL);
		return;
	}
	if (s->conn != NULL && conn_state(s->conn) == CONN_PAIRING &&
	    s->qr[0] != '\0' && s->qr_expires > conn_now_ms() + 1000) {
		reply(s, reqid, 200, "SUCCESS", "Login success",
		    qr_results(s));
		return;
	}
	if (s->conn == NULL || conn_state(s->conn) == CONN_STOPPED ||
	    conn_state(s->conn) == CONN_LOGGED_OUT)
		creds_reset(&s->creds);		/* a new device */
	if (ensure_conn(s) != 0) {
		reply(s, reqid, 500, "QR_CHANNEL_ERROR",
		    "cannot reach WhatsApp (bad server URL or root)", NULL);
		return;
	}
	if (pend_add(s, reqid, PEND_LOGIN, SESSION_QR_WAIT_MS) != 0)
		reply(s, reqid, 503, "BUSY", "too many logins waiting",
		    NULL);
}

static void
call_login_code(struct session *s, uint32_t reqid, const char *phone)
{
	char code[PAIRING_CODE_LEN + 2];
	json_object *r;
	const char *digits = phone[0] == '+' ? phone + 1 : phone;

	if (!session_valid_phone(phone)) {
		reply(s, reqid, 400, "VALIDATION_ERROR",
		    "phone: must be a phone number (digits, with country "
		    "code)", NULL);
		return;
	}
	if (session_registered(s)) {
		reply(s, reqid, 400, "ALREADY_LOGGED_IN",
		    "you are already logged in.", NULL);
		return;
	}
	if (s->conn == NULL || conn_state(s->conn) == CONN_STOPPED ||
	    conn_state(s->conn) == CONN_LOGGED_OUT)
		creds_reset(&s->creds);
	if (ensure_conn(s) != 0) {
		reply(s, reqid, 500, "PAIR_CODE_ERROR",
		    "cannot reach WhatsApp (bad server URL or root)", NULL);
		return;
	}
	if (conn_pair_phone(s->conn, digits, code) != CONN_OK) {
		reply(s, reqid, 400, "VALIDATION_ERROR",
		    "phone: not a valid phone number for pairing", NULL);
		return;
	}
	s->code_requested = 1;
	snprintf(s->code, sizeof(s->code), "%s", code);
	r = json_object_new_object();
	json_object_object_add(r, "code", json_object_new_string(code));
	event(s, "pairing_code", r);
	/* Answered once the server has been told (pair-device seen). */
	if (pend_add(s, reqid, PEND_CODE, SESSION_QR_WAIT_MS) != 0) {
		reply(s, reqid, 503, "BUSY", "too many logins waiting", NULL);
		return;
	}
	if (conn_state(s->conn) == CONN_PAIRING) {
		set_status(s, "pairing_code", NULL);
	}
}

static void
call_logout(struct session *s, uint32_t reqid)
{
	if (!session_registered(s)) {
		reply(s, reqid, 401, "AUTHENTICATION_ERROR",
		    "you are not logged in", NULL);
		return;
	}
	if (logged_in(s) && conn_logout(s->conn) == 0 &&
	    pend_add(s, reqid, PEND_LOGOUT, SESSION_LOGOUT_WAIT_MS) == 0)
		return;		/* answered when logged_out fires */
	local_logout(s);
	reply(s, reqid, 200, "SUCCESS", "Success logout", NULL);
}

static void
call_reconnect(struct session *s, uint32_t reqid)
{
	if (!session_registered(s)) {
		reply(s, reqid, 401, "AUTHENTICATION_ERROR",
		    "you are not logged in", NULL);
		return;
	}
	session_stop(s);
	if (ensure_conn(s) != 0) {
		reply(s, reqid, 500, "RECONNECT_ERROR",
		    "cannot reach WhatsApp (bad server URL or root)", NULL);
		return;
	}
	reply(s, reqid, 200, "SUCCESS", "Reconnect success", NULL);
}

static void
call_devices(struct session *s, uint32_t reqid)
{
	json_object *a = json_object_new_array(), *d;

	d = json_object_new_object();
	json_object_object_add(d, "name",
	    json_object_new_string(s->creds.push_name));
	json_object_object_add(d, "device",
	    json_object_new_string(s->creds.jid));
	json_object_array_add(a, d);
	reply(s, reqid, 200, "SUCCESS", "Fetch device success", a);
}

void
session_call(struct session *s, uint32_t reqid, const char *method,
    const char *path, const char *query, size_t qlen, const char *body,
    size_t blen, const char *idem_key)
{
	char route[256], phone[64], msg[320];

	route_of(path != NULL ? path : "", route, sizeof(route));
	if (strcmp(route, "/app/status") == 0) {
		call_status(s, reqid);
		return;
	}
	if (strcmp(route, "/app/login") == 0 || strcmp(route, "/login") ==
	    0) {
		call_login(s, reqid);
		return;
	}
	if (strcmp(route, "/app/login-with-code") == 0) {
		query_param(path, query, qlen, "phone", phone, sizeof(phone));
		call_login_code(s, reqid, phone);
		return;
	}
	if (!session_registered(s)) {
		s->out.reply(s->out.arg, reqid, 401, "AUTHENTICATION_ERROR",
		    "you are not logged in", JSON_401);
		return;
	}
	if (strcmp(route, "/app/logout") == 0)
		call_logout(s, reqid);
	else if (strcmp(route, "/app/reconnect") == 0)
		call_reconnect(s, reqid);
	else if (strcmp(route, "/app/devices") == 0)
		call_devices(s, reqid);
	else if (msgr_call(s->msgr, reqid, method, route, query, qlen, body,
	    blen, idem_key != NULL && *idem_key ? idem_key : NULL))
		return;
	else {
		snprintf(msg, sizeof(msg), "%s is not implemented yet", route);
		reply(s, reqid, 501, "NOT_IMPLEMENTED", msg, NULL);
	}
}
