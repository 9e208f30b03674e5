/*
 * test_waproc.c - waproc's glue (session.c, the store's credential and
 * prekey functions) in-process: the lifecycle mapping, the device API's
 * request -> answer mapping (401 not logged in, 400 validation,
 * ALREADY_LOGGED_IN, 501 not implemented, star/pin refused offline, status, devices, local logout),
 * the credentials round trip through store.db in a temporary directory,
 * and, against build/bin/fakewa (skipped when absent): /app/login
 * answered asynchronously with the QR, scan, connected, the credentials
 * persisted, a new session from the same store logged in without a QR,
 * logout through the server.
 *     build/tests/test_waproc [name...]
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "t.h"
#include "buf.h"
#include "conn.h"
#include "creds.h"
#include "ctl.h"
#include "ipc.h"
#include "ipc.pb-c.h"
#include "log.h"
#include "session.h"
#include "signal-keys.h"
#include "store.h"
#include "store-appstate.h"

static char tmpdir[256];

/* ------------------------------------------------------------ capture */

struct cap {
	char	state[32], cause[64], jid[128];
	int	nstatus;
	char	events[32][24];
	char	evjson[32][600];
	int	nevents;
	int	nreplies;
	uint32_t reqid;
	int	status;
	char	code[64];
	char	body[2048];
};

static void
c_status(void *arg, const char *state, const char *jid, const char *push,
    const char *cause)
{
	struct cap *c = arg;

	snprintf(c->state, sizeof(c->state), "%s", state);
	snprintf(c->cause, sizeof(c->cause), "%s", cause ? cause : "");
	snprintf(c->jid, sizeof(c->jid), "%s", jid ? jid : "");
	c->nstatus++;
	(void)push;
}

static void
c_event(void *arg, const char *type, const char *json)
{
	struct cap *c = arg;

	if (c->nevents < 32) {
		snprintf(c->events[c->nevents], sizeof(c->events[0]), "%s",
		    type);
		snprintf(c->evjson[c->nevents], sizeof(c->evjson[0]), "%s",
		    json);
	}
	c->nevents++;
}

static void
c_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *msg, const char *json)
{
	struct cap *c = arg;

	c->nreplies++;
	c->reqid = reqid;
	c->status = status;
	snprintf(c->code, sizeof(c->code), "%s", code);
	snprintf(c->body, sizeof(c->body), "%s", json ? json : "");
	(void)msg;
}

static int
has_event(const struct cap *c, const char *type)
{
	int i;

	for (i = 0; i < c->nevents && i < 32; i++)
		if (strcmp(c->events[i], type) == 0)
			return 1;
	return 0;
}

static struct session *
sess_open(struct store *st, struct cap *c, const struct conn_cfg *cfg)
{
	struct session_out o;
	struct conn_cfg def;

	memset(c, 0, sizeof(*c));
	memset(&o, 0, sizeof(o));
	o.arg = c;
	o.status = c_status;
	o.event = c_event;
	o.reply = c_reply;
	if (cfg == NULL) {
		conn_cfg_default(&def);
		/* nothing listens there */
		snprintf(def.url, sizeof(def.url), "ws://127.0.0.1:9/ws/chat");
		cfg = &def;
	}
	return session_new(st, cfg, &o, "0123456789abcdef");
}

static void
call(struct session *s, struct cap *c, uint32_t id, const char *path,
    const char *query)
{
	c->nreplies = 0;
	c->status = 0;
	session_call(s, id, "GET", path, query, query ? strlen(query) : 0,
	    NULL, 0, NULL);
}

static void
post(struct session *s, struct cap *c, uint32_t id, const char *path,
    const char *body)
{
	c->nreplies = 0;
	c->status = 0;
	session_call(s, id, "POST", path, NULL, 0, body, body ? strlen(body) :
	    0, NULL);
}

static struct store *
store_tmp(const char *name)
{
	char d[400];

	snprintf(d, sizeof(d), "%s/%s", tmpdir, name);
	return store_open(d);
}

/* -------------------------------------------------------------- tests */

static void
test_lifecycle(void)
{
	T_EQ_STR(session_lifecycle(CONN_IDLE, CONN_CAUSE_NONE, 0, 0),
	    "disconnected", "idle");
	T_EQ_STR(session_lifecycle(CONN_CONNECTING, CONN_CAUSE_NONE, 0, 0),
	    "starting", "first connect");
	T_EQ_STR(session_lifecycle(CONN_CONNECTING, CONN_CAUSE_NONE, 1, 0),
	    "reconnecting", "connect after connected");
	T_EQ_STR(session_lifecycle(CONN_PAIRING, CONN_CAUSE_NONE, 0, 0),
	    "qr", "pairing: qr");
	T_EQ_STR(session_lifecycle(CONN_PAIRING, CONN_CAUSE_NONE, 0, 1),
	    "pairing_code", "pairing with a code");
	T_OK(session_lifecycle(CONN_LOGGING_IN, CONN_CAUSE_NONE, 0, 0) ==
	    NULL, "logging in: no change");
	T_EQ_STR(session_lifecycle(CONN_LOGGED_IN, CONN_CAUSE_NONE, 0, 0),
	    "connected", "logged in");
	T_EQ_STR(session_lifecycle(CONN_WAITING, CONN_CAUSE_NETWORK, 1, 0),
	    "reconnecting", "backing off");
	T_EQ_STR(session_lifecycle(CONN_LOGGED_OUT, CONN_CAUSE_LOGGED_OUT, 1,
	    0), "logged_out", "logged out");
	T_EQ_STR(session_lifecycle(CONN_STOPPED, CONN_CAUSE_USER, 1, 0),
	    "stopped", "stopped by us");
	T_EQ_STR(session_lifecycle(CONN_STOPPED, CONN_CAUSE_REPLACED, 1, 0),
	    "failed", "replaced: failed");
	T_EQ_STR(session_lifecycle(CONN_STOPPED, CONN_CAUSE_FAILURE, 1, 0),
	    "failed", "failure: failed");
	T_EQ_STR(session_lifecycle(CONN_STOPPED, CONN_CAUSE_QR_TIMEOUT, 0, 0),
	    "disconnected", "nobody scanned: idle again");
}

static void
test_phone(void)
{
	T_OK(session_valid_phone("15551234567"), "digits");
	T_OK(session_valid_phone("+15551234567"), "with +");
	T_OK(session_valid_phone("1"), "one digit");
	T_OK(session_valid_phone("123456789012345"), "15 digits");
	T_OK(!session_valid_phone("1234567890123456"), "16 digits");
	T_OK(!session_valid_phone(""), "empty");
	T_OK(!session_valid_phone("+"), "only +");
	T_OK(!session_valid_phone("++1"), "two +");
	T_OK(!session_valid_phone("1555-123"), "dash");
	T_OK(!session_valid_phone("abc"), "letters");
	T_OK(!session_valid_phone(NULL), "NULL");
}

static void
test_unpaired_api(void)
{
	struct store *st = store_tmp("unpaired");
	struct session *s;
	struct cap c;

	T_OK(st != NULL, "store opened");
	s = sess_open(st, &c, NULL);
	T_OK(!session_registered(s), "fresh store: not paired");
	session_begin(s);
	T_EQ_STR(c.state, "disconnected", "unpaired: disconnected");
	T_OK(session_conn(s) == NULL, "unpaired: does not connect");
	T_EQ_INT(session_timeout_ms(s), -1, "nothing to wait for");

	call(s, &c, 7, "/app/status", NULL);
	T_EQ_INT(c.status, 200, "status 200");
	T_EQ_INT(c.reqid, 7, "reply to the request id");
	T_OK(strstr(c.body, "\"is_connected\":false") &&
	    strstr(c.body, "\"is_logged_in\":false") &&
	    strstr(c.body, "\"device_id\":\"\""), "status body: %s", c.body);
	call(s, &c, 8, "/app/devices", NULL);
	T_EQ_INT(c.status, 401, "devices: 401");
	T_EQ_STR(c.code, "AUTHENTICATION_ERROR", "devices: code");
	T_OK(strstr(c.body, "you are not logged in") != NULL, "401 body");
	call(s, &c, 9, "/send/message", NULL);
	T_EQ_INT(c.status, 401, "send: 401 while not logged in");
	call(s, &c, 10, "/app/logout", NULL);
	T_EQ_INT(c.status, 401, "logout: 401 while not logged in");
	call(s, &c, 11, "/app/reconnect", NULL);
	T_EQ_INT(c.status, 401, "reconnect: 401 while not logged in");
	call(s, &c, 12, "/app/login-with-code", "{\"phone\":\"12ab\"}");
	T_EQ_INT(c.status, 400, "bad phone: 400");
	T_EQ_STR(c.code, "VALIDATION_ERROR", "bad phone: VALIDATION_ERROR");
	call(s, &c, 13, "/app/login-with-code?phone=1234567890123456", NULL);
	T_EQ_INT(c.status, 400, "16 digits in the path query: 400");
	call(s, &c, 14, "/app/login-with-code", NULL);
	T_EQ_INT(c.status, 400, "no phone: 400");
	T_OK(session_conn(s) == NULL, "refused calls do not connect");
	session_free(s);
	store_close(st);
}

static void
paired_creds(struct creds *cr)
{
	creds_generate(cr);
	snprintf(cr->jid, sizeof(cr->jid), "15550001111:3@s.whatsapp.net");
	snprintf(cr->push_name, sizeof(cr->push_name), "Tester");
}

static void
test_creds_roundtrip(void)
{
	struct store *st = store_tmp("paired");
	struct session *s;
	struct creds cr;
	struct buf b;
	struct cap c;
	uint8_t *v;
	size_t len;
	struct signal_prekey pk[3];

	paired_creds(&cr);
	T_OK(creds_registered(&cr), "test creds count as paired");
	buf_init(&b, CREDS_BLOB_MAX);
	T_EQ_INT(creds_serialize(&cr, &b), 0, "serialize");
	T_EQ_INT(store_cred_set(st, "creds", b.data, b.len), 0, "stored");
	buf_free(&b);
	T_EQ_INT((int)signal_prekeys_generate(pk, 3, 1), 4, "3 prekeys");
	T_EQ_INT(store_prekeys_put(st, pk, 3), 0, "prekeys stored");
	T_EQ_INT(store_prekey_count(st), 3, "3 prekeys in the store");
	T_EQ_INT(store_prekeys_put(st, pk, 3), 0, "again: upsert");
	T_EQ_INT(store_prekey_count(st), 3, "still 3");

	s = sess_open(st, &c, NULL);
	T_OK(session_registered(s), "loaded from store.db: paired");
	call(s, &c, 1, "/app/status", NULL);
	T_OK(strstr(c.body, "15550001111:3@s.whatsapp.net") != NULL,
	    "status device_id: %s", c.body);
	T_OK(strstr(c.body, "\"is_logged_in\":false") != NULL,
	    "not connected: not logged in");
	call(s, &c, 2, "/app/devices", NULL);
	T_EQ_INT(c.status, 200, "devices: 200");
	T_OK(strstr(c.body, "\"name\":\"Tester\"") &&
	    strstr(c.body, "\"device\":\"15550001111:3@s.whatsapp.net\""),
	    "devices body: %s", c.body);
	call(s, &c, 3, "/app/login", NULL);
	T_EQ_INT(c.status, 400, "login when paired: 400");
	T_EQ_STR(c.code, "ALREADY_LOGGED_IN", "ALREADY_LOGGED_IN");
	T_OK(strstr(c.body, "you are already logged in.") != NULL,
	    "GOWA's message");
	call(s, &c, 4, "/app/login-with-code?phone=15551112222", NULL);
	T_EQ_STR(c.code, "ALREADY_LOGGED_IN", "login-with-code when paired");
	call(s, &c, 5, "/send/message", NULL);
	T_EQ_INT(c.status, 400, "send without a body: 400");
	T_OK(strstr(c.body, "VALIDATION_ERROR") &&
	    strstr(c.body, "phone: cannot be blank."),
	    "GOWA's validation text: %s", c.body);
	post(s, &c, 51, "/message/3EB0AABBCCDDEEFF0011/star", NULL);
	T_OK(c.status == 404 && strstr(c.body, "NOT_FOUND"),
	    "star of an unknown message without phone: 404 %s", c.body);
	post(s, &c, 52, "/message/3EB0AABBCCDDEEFF0011/star",
	    "{\"phone\":\"15552223333\"}");
	T_OK(c.status == 503 && strstr(c.body, "NOT_CONNECTED"),
	    "star while not connected: 503 %s", c.body);
	post(s, &c, 53, "/chat/15552223333/pin", "{\"pinned\":1}");
	T_OK(c.status == 400 && strstr(c.body, "pinned: must be a boolean"),
	    "pin with a non-boolean: 400 %s", c.body);
	call(s, &c, 6, "/group/info?groupId=1", NULL);
	T_OK(c.status == 501 && strstr(c.body, "\"/group/info is not"),
	    "route without its query: %s", c.body);

	/* not connected: logout forgets the account locally */
	call(s, &c, 7, "/app/logout", NULL);
	T_EQ_INT(c.status, 200, "logout: 200");
	T_OK(strstr(c.body, "Success logout") != NULL, "logout message");
	T_EQ_STR(c.state, "logged_out", "status logged_out");
	T_OK(has_event(&c, "logged_out"), "logged_out event");
	T_OK(!session_registered(s), "no longer paired");
	T_EQ_INT(store_cred_get(st, "creds", &v, &len), 1,
	    "credentials deleted from store.db");
	T_EQ_INT(store_prekey_count(st), 0, "prekeys deleted");
	call(s, &c, 8, "/app/devices", NULL);
	T_EQ_INT(c.status, 401, "devices after logout: 401");
	session_free(s);
	store_close(st);

	st = store_tmp("paired");
	s = sess_open(st, &c, NULL);
	T_OK(!session_registered(s), "reopened: still logged out");
	session_free(s);
	store_close(st);
	creds_clear(&cr);
}

static void
test_corrupt_creds(void)
{
	struct store *st = store_tmp("corrupt");
	struct session *s;
	struct cap c;

	T_EQ_INT(store_cred_set(st, "creds", (const uint8_t *)"WACR\x01junk",
	    9), 0, "junk stored");
	s = sess_open(st, &c, NULL);
	T_OK(!session_registered(s), "junk credentials: a new login");
	session_begin(s);
	T_EQ_STR(c.state, "disconnected", "and no connection");
	session_free(s);
	store_close(st);
}

/* ----------------------------------------------------------- fakewa */

static struct {
	pid_t	pid;
	int	ws, http;
	char	root[65];
	char	dir[300];
} fw;

static int
fw_start(void)
{
	int p[2];
	char line[512];
	size_t n = 0;
	const char *bin = getenv("FAKEWA");
	uint64_t end;

	if (bin == NULL)
		bin = "build/bin/fakewa";
	if (access(bin, X_OK) != 0 || pipe(p) != 0)
		return -1;
	if ((fw.pid = fork()) == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(p[1], 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		close(p[0]);
		execl(bin, "fakewa", "-d", fw.dir, "-p", "0", "-P", "0",
		    (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	end = conn_now_ms() + 10000;
	while (conn_now_ms() < end && n < sizeof(line) - 1) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t r;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		if ((r = read(p[0], line + n, sizeof(line) - 1 - n)) <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
		if (strchr(line, '\n'))
			break;
	}
	close(p[0]);
	line[n] = '\0';
	if (sscanf(line, "fakewa ready ws=%d http=%d root=%64s", &fw.ws,
	    &fw.http, fw.root) != 3)
		return -1;
	return 0;
}

static void
fw_stop(void)
{
	int stt;

	if (fw.pid > 0) {
		kill(fw.pid, SIGTERM);
		waitpid(fw.pid, &stt, 0);
		fw.pid = 0;
	}
}

static size_t
curl_write(char *p, size_t sz, size_t n, void *arg)
{
	return buf_append(arg, p, sz * n) == 0 ? sz * n : 0;
}

static long
fw_post(const char *path, const char *body, char *out, size_t outlen)
{
	CURL *h = curl_easy_init();
	struct buf b;
	char url[256];
	long status = -1;

	buf_init(&b, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fw.http, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (out != NULL)
		snprintf(out, outlen, "%s", buf_cstr(&b));
	curl_easy_cleanup(h);
	buf_free(&b);
	return status;
}

static void
run(struct session *s, int ms)
{
	struct pollfd pfd[CONN_POLLFDS_MAX];
	uint64_t end = conn_now_ms() + (uint64_t)ms;
	int n, t;

	while (conn_now_ms() < end) {
		n = session_pollfds(s, pfd, CONN_POLLFDS_MAX);
		t = session_timeout_ms(s);
		if (t < 0 || t > 20)
			t = 20;
		(void)poll(pfd, (nfds_t)n, t);
		session_service(s);
	}
}

static int
run_until_state(struct session *s, struct cap *c, const char *state, int ms)
{
	uint64_t end = conn_now_ms() + (uint64_t)ms;

	while (conn_now_ms() < end) {
		if (strcmp(c->state, state) == 0)
			return 1;
		run(s, 20);
	}
	return strcmp(c->state, state) == 0;
}

static void
fw_cfg(struct conn_cfg *cfg)
{
	conn_cfg_default(cfg);
	snprintf(cfg->url, sizeof(cfg->url), "ws://127.0.0.1:%d/ws/chat",
	    fw.ws);
	snprintf(cfg->cert_root_hex, sizeof(cfg->cert_root_hex), "%s",
	    fw.root);
	cfg->backoff_min_ms = 300;
	cfg->backoff_max_ms = 3000;
}

/* The "qr" member of a QR event / reply body. */
static int
qr_of(const char *json, const char *key, char *out, size_t len)
{
	json_object *o = json_tokener_parse(json), *v, *r;
	int ok = 0;

	if (o == NULL)
		return 0;
	r = o;
	if (json_object_object_get_ex(o, "results", &v))
		r = v;
	if (json_object_object_get_ex(r, key, &v)) {
		snprintf(out, len, "%s", json_object_get_string(v));
		ok = 1;
	}
	json_object_put(o);
	return ok;
}

static void
test_fakewa_pairing(void)
{
	struct store *st = store_tmp("live");
	struct session *s;
	struct conn_cfg cfg;
	struct cap c;
	char qr[PAIRING_QR_MAX], body[1024], out[1024];
	uint64_t end;
	uint8_t *v;
	size_t len;
	int i, dur = -1;
	json_object *o, *res, *d;

	fw_cfg(&cfg);
	s = sess_open(st, &c, &cfg);
	session_begin(s);
	T_OK(session_conn(s) == NULL, "unpaired: no connection at start");
	call(s, &c, 41, "/app/login", NULL);
	T_EQ_INT(c.nreplies, 0, "login: answered later, with the QR");
	end = conn_now_ms() + 5000;
	while (c.nreplies == 0 && conn_now_ms() < end)
		run(s, 20);
	T_EQ_INT(c.status, 200, "login: 200");
	T_EQ_INT(c.reqid, 41, "login: the pending request answered");
	T_OK(qr_of(c.body, "qr_string", qr, sizeof(qr)) && strchr(qr, ','),
	    "qr_string: %s", c.body);
	if ((o = json_tokener_parse(c.body)) != NULL) {
		if (json_object_object_get_ex(o, "results", &res) &&
		    json_object_object_get_ex(res, "qr_duration", &d))
			dur = json_object_get_int(d);
		json_object_put(o);
	}
	T_OK(dur > 0 && dur <= 60, "qr_duration %d s", dur);
	T_EQ_STR(c.state, "qr", "status qr");
	T_OK(has_event(&c, "qr"), "qr event");
	for (i = 0; i < c.nevents && i < 32; i++)
		if (strcmp(c.events[i], "qr") == 0)
			T_OK(strstr(c.evjson[i], "\"ttl\":") &&
			    strstr(c.evjson[i], "\"expiresAt\":\"") &&
			    strstr(c.evjson[i], "\"qr\":\""), "qr event: %s",
			    c.evjson[i]);
	call(s, &c, 42, "/app/login", NULL);
	T_EQ_INT(c.status, 200, "second login: the current QR at once");

	snprintf(body, sizeof(body), "{\"qr\":\"%s\",\"phone\":"
	    "\"15557770001\"}", qr);
	T_OK(fw_post("/phone/scan", body, out, sizeof(out)) == 200,
	    "scanned: %s", out);
	T_OK(run_until_state(s, &c, "connected", 8000), "connected");
	T_OK(strncmp(c.jid, "15557770001:", 12) == 0, "status jid %s", c.jid);
	T_OK(has_event(&c, "ready"), "ready event");
	T_OK(store_cred_get(st, "creds", &v, &len) == 0 && len > 0,
	    "credentials persisted");
	free(v);
	run(s, 500);
	/* fakewa's phone shares its app state key in a pkmsg: that one
	 * prekey is used up, and the key is stored */
	T_OK(store_prekey_count(st) + store_as_key_count(st) >= 812,
	    "prekeys persisted (%d; app state keys %d)",
	    store_prekey_count(st), store_as_key_count(st));
	call(s, &c, 43, "/app/status", NULL);
	T_OK(strstr(c.body, "\"is_connected\":true") &&
	    strstr(c.body, "\"is_logged_in\":true"), "status: %s", c.body);
	session_stop(s);
	session_free(s);

	/* a new process: logged in from store.db, no QR */
	s = sess_open(st, &c, &cfg);
	T_OK(session_registered(s), "paired from the store");
	session_begin(s);
	T_OK(session_conn(s) != NULL, "paired: connects at start");
	T_OK(run_until_state(s, &c, "connected", 8000),
	    "connected again without a QR");
	T_OK(!has_event(&c, "qr"), "no qr event");

	/* logout through the server */
	call(s, &c, 44, "/app/logout", NULL);
	end = conn_now_ms() + 4000;
	while (c.nreplies == 0 && conn_now_ms() < end)
		run(s, 20);
	T_EQ_INT(c.status, 200, "logout: 200");
	T_EQ_INT(c.reqid, 44, "logout: the pending request answered");
	T_EQ_STR(c.state, "logged_out", "logged_out");
	T_EQ_INT(store_cred_get(st, "creds", &v, &len), 1,
	    "credentials deleted");
	fw_post("/devices", NULL, out, sizeof(out));
	T_OK(strstr(out, "15557770001:") == NULL, "unlinked on the server");

	/* the pair-code flow on the same (logged out) session */
	call(s, &c, 45, "/app/login-with-code", "{\"phone\":\"+15557770002\"}");
	end = conn_now_ms() + 5000;
	while (c.nreplies == 0 && conn_now_ms() < end)
		run(s, 20);
	T_EQ_INT(c.status, 200, "login-with-code: 200");
	T_OK(qr_of(c.body, "pair_code", qr, sizeof(qr)) && strlen(qr) == 9 &&
	    qr[4] == '-', "pair_code: %s", c.body);
	T_EQ_STR(c.state, "pairing_code", "status pairing_code");
	T_OK(has_event(&c, "pairing_code"), "pairing_code event");
	snprintf(body, sizeof(body), "{\"phone\":\"15557770002\",\"code\":"
	    "\"%s\"}", qr);
	T_OK(fw_post("/phone/code", body, out, sizeof(out)) == 200,
	    "code typed: %s", out);
	T_OK(run_until_state(s, &c, "connected", 8000), "code: connected");
	T_OK(strncmp(c.jid, "15557770002:", 12) == 0, "jid %s", c.jid);
	session_stop(s);
	session_free(s);
	store_close(st);
}

/* The next event devmgr's side gets: its type, or "" (none in 5 s). */
static const char *
next_event(void *router, char *out, size_t outlen)
{
	struct ipc_msg m;
	Ipc__Event *e;

	out[0] = '\0';
	if (ipc_recv(router, 1, &m, 5000) != 0)
		return out;
	if (m.hdr.type == IPC_WAEVENT && (e = ipc__event__unpack(NULL,
	    m.bodylen, m.body)) != NULL) {
		snprintf(out, outlen, "%s", e->type);
		ipc__event__free_unpacked(e, NULL);
	} else
		snprintf(out, outlen, "type %u", m.hdr.type);
	ipc_msg_clear(&m);
	return out;
}

/* ctl_hold: what a turn reports waits for its commit (ctl_flush, in
 * order) or is forgotten (ctl_drop). */
static void
test_ctl_hold(void)
{
	void *z = zmq_ctx_new(), *router = zmq_socket(z, ZMQ_ROUTER);
	struct ctl *c;
	char t[64];

	T_OK(zmq_bind(router, "inproc://ctl-hold") == 0, "router bound");
	c = ctl_new(z, "inproc://ctl-hold", "0123456789abcdef", 0, 0);
	ctl_hold(c);
	T_EQ_INT(ctl_event(c, "held.one", "{}", NULL), 0, "held event 1");
	T_EQ_INT(ctl_event(c, "held.two", "{\"a\":1}", NULL), 0,
	    "held event 2");
	ctl_drop(c);		/* never sent */
	ctl_hold(c);
	T_EQ_INT(ctl_event(c, "kept.one", NULL, NULL), 0, "held event 3");
	T_EQ_INT(ctl_event(c, "kept.two", "{}", NULL), 0, "held event 4");
	ctl_flush(c);
	T_EQ_INT(ctl_event(c, "after", "{}", NULL), 0, "event after the flush");
	T_EQ_STR(next_event(router, t, sizeof(t)), "kept.one", "the first to "
	    "arrive is the first flushed: the dropped ones never went");
	T_EQ_STR(next_event(router, t, sizeof(t)), "kept.two", "then the "
	    "second, in order");
	T_EQ_STR(next_event(router, t, sizeof(t)), "after", "then the one "
	    "sent after the flush");
	ctl_free(c);
	zmq_close(router);
	zmq_ctx_term(z);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/test_waproc.XXXXXX";

	t_init(argc, argv);
	log_init("test_waproc", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	T_RUN(test_ctl_hold);
	T_RUN(test_lifecycle);
	T_RUN(test_phone);
	T_RUN(test_unpaired_api);
	T_RUN(test_creds_roundtrip);
	T_RUN(test_corrupt_creds);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(fw.dir, sizeof(fw.dir), "%s/fakewa", tmpl);
	if (fw_start() != 0)
		printf("ok %d - # SKIP build/bin/fakewa not available\n",
		    ++t_n);
	else {
		T_RUN(test_fakewa_pairing);
		fw_stop();
	}
	curl_global_cleanup();
	return t_done();
}
