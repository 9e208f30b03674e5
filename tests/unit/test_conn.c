/*
 * test_conn.c - the waproc WhatsApp client (conn.c, login.c, creds.c,
 * wsclient.c) against the fake server: build/bin/fakewa runs as a child
 * with a private state directory and random ports; its control API is
 * driven with libcurl.  QR pairing -> 515 -> login -> 812 prekeys, login
 * again from saved credentials, pair-code pairing, logout from the phone,
 * QR rotation, certificate rejection, every injected fault, and a fakewa
 * restart that keeps the pairing.
 *     build/tests/test_conn [name...]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include <sodium.h>

#include "t.h"
#include "buf.h"
#include "log.h"
#include "cert.h"
#include "config.h"
#include "conn.h"
#include "creds.h"
#include "pairing.h"

/* ------------------------------------------------------------ fakewa */

static struct {
	pid_t	pid;
	int	ws, http;
	char	root[65];
	char	dir[256];
	char	tls[300];
	int	ok;
} fw;

static int
fw_start2(int ws_port, int tls)
{
	int p[2];
	char portarg[16], line[512];
	size_t n = 0;
	const char *bin = getenv("FAKEWA");
	uint64_t end;

	if (bin == NULL)
		bin = "build/bin/fakewa";
	if (access(bin, X_OK) != 0)
		return -1;
	if (pipe(p) != 0)
		return -1;
	snprintf(portarg, sizeof(portarg), "%d", ws_port);
	if ((fw.pid = fork()) == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(p[1], 1);
		if (!getenv("FAKEWA_LOG") && devnull >= 0)
			dup2(devnull, 2);
		close(p[0]);
		execl(bin, "fakewa", "-d", fw.dir, "-p", portarg, "-P", "0",
		    "-i", "1", tls ? "-t" : "-i", tls ? "-t" : "1",
		    getenv("FAKEWA_LOG") ? "-v" : (char *)NULL, (char *)NULL);
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
	fw.tls[0] = '\0';
	if (tls && sscanf(line, "fakewa ready ws=%*d http=%*d root=%*s "
	    "tls=%299s", fw.tls) != 1)
		return -1;
	fw.ok = 1;
	return 0;
}

static int
fw_start(int ws_port)
{
	return fw_start2(ws_port, 0);
}

static void
fw_stop(void)
{
	int st;

	if (fw.pid > 0) {
		kill(fw.pid, SIGTERM);
		waitpid(fw.pid, &st, 0);
		fw.pid = 0;
	}
	fw.ok = 0;
}

static size_t
curl_write(char *p, size_t sz, size_t n, void *arg)
{
	if (buf_append(arg, p, sz * n) != 0)
		return 0;
	return sz * n;
}

/* HTTP to the control API; returns the status, *out the JSON (or NULL). */
static long
http(const char *method, const char *path, const char *body,
    struct json_object **out)
{
	CURL *h = curl_easy_init();
	struct buf b;
	char url[256];
	long status = -1;

	*out = NULL;
	buf_init(&b, 1 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fw.http, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		*out = json_tokener_parse(buf_cstr(&b));
	}
	curl_easy_cleanup(h);
	buf_free(&b);
	return status;
}

static const char *
jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return json_object_get_string(v);
}

static long long
jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v))
		return -1;
	return json_object_get_int64(v);
}

/* The /devices entry for jid (a new reference), or NULL. */
static struct json_object *
device(const char *jid)
{
	struct json_object *o, *arr, *d, *res = NULL;
	size_t i;

	if (http("GET", "/devices", NULL, &o) != 200)
		return NULL;
	if (json_object_object_get_ex(o, "devices", &arr))
		for (i = 0; i < json_object_array_length(arr); i++) {
			d = json_object_array_get_idx(arr, i);
			if (strcmp(jstr(d, "jid"), jid) == 0)
				res = json_object_get(d);
		}
	json_object_put(o);
	return res;
}

static long long
device_int(const char *jid, const char *k)
{
	struct json_object *d = device(jid);
	long long v = jint(d, k);

	if (d)
		json_object_put(d);
	return v;
}

static long
post(const char *path, const char *body, char *err, size_t errlen)
{
	struct json_object *o;
	long st = http("POST", path, body, &o);

	if (err != NULL)
		snprintf(err, errlen, "%s", o && jstr(o, "error") ?
		    jstr(o, "error") : "");
	if (o)
		json_object_put(o);
	return st;
}

/* ------------------------------------------------------------ client */

struct cl {
	struct conn	*c;
	struct creds	 creds;
	struct buf	 saved;		/* last persisted creds blob */
	char		 qr[PAIRING_QR_MAX];
	int		 nqr;
	int		 paired, pair_errors, logged_in, logged_out;
	int		 code_sent;	/* pair_code_sent callbacks */
	int		 stream_errors, last_stream, nwait;
	enum conn_cause	 causes[16];	/* of each WAITING */
	size_t		 prekeys_seen;
	int		 messages;	/* <message> given to the node cb */
	enum conn_state	 st;
};

static void
cb_state(void *arg, enum conn_state s, enum conn_cause cause)
{
	((struct cl *)arg)->st = s;
	if (s == CONN_WAITING) {
		struct cl *cl = arg;

		if (cl->nwait < 16)
			cl->causes[cl->nwait] = cause;
		cl->nwait++;
	}
}

static void
cb_qr(void *arg, const char *qr, int ms)
{
	struct cl *cl = arg;

	snprintf(cl->qr, sizeof(cl->qr), "%s", qr);
	cl->nqr++;
}

static void
cb_creds(void *arg, const struct creds *c)
{
	struct cl *cl = arg;

	buf_reset(&cl->saved);
	(void)creds_serialize(c, &cl->saved);
}

static void cb_pair(void *arg, const struct creds *c) { ((struct cl *)arg)->paired++; }
static void cb_pair_err(void *arg, int e) { ((struct cl *)arg)->pair_errors++; }
static void cb_in(void *arg) { ((struct cl *)arg)->logged_in++; }
static void cb_code_sent(void *arg) { ((struct cl *)arg)->code_sent++; }

static void
cb_out(void *arg, int reason)
{
	struct cl *cl = arg;

	cl->logged_out++;
	buf_reset(&cl->saved);	/* the store forgets the device */
}

static void
cb_stream(void *arg, int code, const char *conflict)
{
	((struct cl *)arg)->stream_errors++;
	((struct cl *)arg)->last_stream = code;
}

static void
cb_prekeys(void *arg, const struct signal_prekey *k, size_t n)
{
	((struct cl *)arg)->prekeys_seen += n;
}

static void
cb_node(void *arg, const struct binnode *n)
{
	struct cl *cl = arg;

	if (binnode_tag_is(n, "message")) {
		cl->messages++;
		(void)conn_ack(cl->c, n);	/* "stored": ack it */
	}
}

static void
cfg_test(struct conn_cfg *cfg)
{
	conn_cfg_default(cfg);
	snprintf(cfg->url, sizeof(cfg->url), "ws://127.0.0.1:%d/ws/chat",
	    fw.ws);
	snprintf(cfg->cert_root_hex, sizeof(cfg->cert_root_hex), "%s",
	    fw.root);
	cfg->backoff_min_ms = 300;
	cfg->backoff_max_ms = 3000;
	cfg->keepalive_min_ms = 800;
	cfg->keepalive_max_ms = 1000;
	cfg->keepalive_timeout_ms = 1000;
	cfg->iq_timeout_ms = 5000;
	snprintf(cfg->popts.push_name, sizeof(cfg->popts.push_name), "t");
}

/* blob NULL: fresh credentials. */
static void
cl_open(struct cl *cl, const struct buf *blob, const struct conn_cfg *cfgp)
{
	struct conn_callbacks cb;
	struct conn_cfg cfg;

	memset(cl, 0, sizeof(*cl));
	buf_init(&cl->saved, CREDS_BLOB_MAX);
	if (blob == NULL || creds_deserialize(&cl->creds, blob->data,
	    blob->len) != 0)
		creds_generate(&cl->creds);
	if (cfgp)
		cfg = *cfgp;
	else
		cfg_test(&cfg);
	memset(&cb, 0, sizeof(cb));
	cb.arg = cl;
	cb.state = cb_state;
	cb.qr = cb_qr;
	cb.pair_success = cb_pair;
	cb.pair_error = cb_pair_err;
	cb.creds_changed = cb_creds;
	cb.prekeys = cb_prekeys;
	cb.logged_in = cb_in;
	cb.logged_out = cb_out;
	cb.stream_error = cb_stream;
	cb.node = cb_node;
	cb.pair_code_sent = cb_code_sent;
	cl->c = conn_new(&cfg, &cl->creds, &cb);
	conn_start(cl->c);
}

static void
cl_close(struct cl *cl)
{
	conn_free(cl->c);
	creds_clear(&cl->creds);
	buf_free(&cl->saved);
}

/* Run until *flag >= want (or state == st when flag NULL). */
static int
run_until(struct cl *cl, const int *flag, int want, int ms)
{
	uint64_t end = conn_now_ms() + (uint64_t)ms;

	while (conn_now_ms() < end) {
		if (flag && *flag >= want)
			return 1;
		conn_run(cl->c, 20);
	}
	return flag ? *flag >= want : 0;
}

static int
run_until_state(struct cl *cl, enum conn_state st, int ms)
{
	uint64_t end = conn_now_ms() + (uint64_t)ms;

	while (conn_now_ms() < end) {
		if (conn_state(cl->c) == st)
			return 1;
		conn_run(cl->c, 20);
	}
	return conn_state(cl->c) == st;
}

static int
scan(struct cl *cl, const char *phone)
{
	char body[1024], err[160];
	long st;

	snprintf(body, sizeof(body), "{\"qr\":\"%s\",\"phone\":\"%s\"}",
	    cl->qr, phone);
	st = post("/phone/scan", body, err, sizeof(err));
	if (st != 200)
		printf("# scan: %ld %s\n", st, err);
	return st == 200;
}

/* QR-pair a fresh client and run until logged in. */
static int
pair_qr(struct cl *cl, const char *phone)
{
	cl_open(cl, NULL, NULL);
	if (!run_until(cl, &cl->nqr, 1, 5000) || !scan(cl, phone))
		return 0;
	return run_until(cl, &cl->logged_in, 1, 8000);
}

/* ------------------------------------------------------------- tests */

static struct buf saved_login;	/* creds of the QR-paired device */

static void
test_qr_pairing(void)
{
	struct cl cl;
	char jid[JID_STR_MAX], body[256];
	const char *p;
	int commas = 0;
	long long acks;
	uint64_t end;

	cl_open(&cl, NULL, NULL);
	T_OK(run_until(&cl, &cl.nqr, 1, 5000), "QR emitted");
	T_OK(strncmp(cl.qr, PAIRING_QR_PREFIX,
	    strlen(PAIRING_QR_PREFIX)) == 0, "QR has the linked-devices URL");
	for (p = cl.qr; *p; p++)
		commas += *p == ',';
	T_EQ_INT(commas, 4, "QR has 5 fields");
	T_EQ_INT(conn_state(cl.c), CONN_PAIRING, "state pairing");
	T_OK(scan(&cl, "15550001111"), "POST /phone/scan");
	T_OK(run_until(&cl, &cl.logged_in, 1, 8000), "logged in");
	T_EQ_INT(cl.paired, 1, "pair_success callback");
	T_EQ_INT(cl.pair_errors, 0, "no pair error");
	T_EQ_INT(cl.last_stream, 515, "515 after pairing");
	T_EQ_INT(conn_attempts(cl.c), 2, "one reconnect after 515");
	T_OK(creds_registered(&cl.creds), "creds registered");
	T_OK(strncmp(cl.creds.jid, "15550001111:", 12) == 0, "own jid");
	T_OK(strstr(cl.creds.lid, "@lid") != NULL, "own lid");
	T_OK(cl.creds.account_len > 0, "account blob kept");
	snprintf(jid, sizeof(jid), "%s", cl.creds.jid);
	end = conn_now_ms() + 5000;
	while (conn_now_ms() < end && device_int(jid, "prekeys") < 812)
		conn_run(cl.c, 50);
	T_EQ_INT(device_int(jid, "prekeys"), 812, "server holds 812 prekeys");
	T_EQ_INT(cl.prekeys_seen, 812, "812 prekeys handed over to persist");
	conn_run(cl.c, 200);
	T_OK(cl.creds.prekeys_uploaded, "first upload recorded");
	T_EQ_INT(cl.creds.next_prekey_id, 813, "next prekey id");
	/* keepalive both ways (fakewa pings every second) */
	end = conn_now_ms() + 4000;
	while (conn_now_ms() < end && (device_int(jid, "pings") < 1 ||
	    device_int(jid, "server_pings_answered") < 1))
		conn_run(cl.c, 50);
	T_OK(device_int(jid, "pings") >= 1, "client keepalive answered");
	T_OK(device_int(jid, "server_pings_answered") >= 1,
	    "server ping answered");
	T_EQ_INT(conn_state(cl.c), CONN_LOGGED_IN, "still logged in");
	/* server running low: refill with 50 */
	snprintf(body, sizeof(body), "{\"jid\":\"%s\",\"count\":3}", jid);
	T_EQ_INT(post("/prekeys", body, NULL, 0), 200, "POST /prekeys 3");
	end = conn_now_ms() + 4000;
	while (conn_now_ms() < end && device_int(jid, "prekeys") < 53)
		conn_run(cl.c, 50);
	T_EQ_INT(device_int(jid, "prekeys"), 53, "refilled with 50");
	T_EQ_INT(device_int(jid, "uploads"), 2, "second upload");
	T_EQ_INT(cl.creds.next_prekey_id, 863, "next prekey id advanced");
	T_OK(device_int(jid, "acks") >= 1, "prekey notification acked");
	/* an incoming stanza reaches the owner, who acks it */
	acks = device_int(jid, "acks");
	snprintf(body, sizeof(body), "{\"jid\":\"%s\"}", jid);
	T_EQ_INT(post("/message", body, NULL, 0), 200, "POST /message");
	T_OK(run_until(&cl, &cl.messages, 1, 3000), "node callback");
	end = conn_now_ms() + 3000;
	while (conn_now_ms() < end && device_int(jid, "acks") < acks + 1)
		conn_run(cl.c, 50);
	T_EQ_INT(device_int(jid, "acks"), acks + 1, "message acked");
	buf_init(&saved_login, CREDS_BLOB_MAX);
	buf_append(&saved_login, cl.saved.data, cl.saved.len);
	conn_stop(cl.c);
	T_OK(run_until_state(&cl, CONN_STOPPED, 3000), "stopped");
	T_EQ_INT(conn_last_cause(cl.c), CONN_CAUSE_USER, "cause user");
	conn_run(cl.c, 300);
	T_EQ_INT(device_int(jid, "connected"), 0, "server saw it go");
	cl_close(&cl);
}

static void
test_saved_login(void)
{
	struct cl cl;
	struct creds c;

	T_OK(saved_login.len > 0 && creds_deserialize(&c, saved_login.data,
	    saved_login.len) == 0, "saved creds parse");
	cl_open(&cl, &saved_login, NULL);
	T_OK(run_until(&cl, &cl.logged_in, 1, 5000), "logged in again");
	T_EQ_INT(cl.nqr, 0, "no QR");
	T_EQ_INT(conn_attempts(cl.c), 1, "one connect");
	T_EQ_STR(cl.creds.jid, c.jid, "same jid");
	conn_run(cl.c, 500);
	T_EQ_INT(device_int(c.jid, "logins"), 2, "server counted 2 logins");
	T_EQ_INT(device_int(c.jid, "uploads"), 2, "no upload at login");
	T_EQ_INT(cl.prekeys_seen, 0, "no new prekeys");
	conn_stop(cl.c);
	run_until_state(&cl, CONN_STOPPED, 3000);
	cl_close(&cl);
	creds_clear(&c);
}

static void
test_pair_code(void)
{
	struct cl cl;
	char code[PAIRING_CODE_LEN + 2], body[256], err[160], jid[JID_STR_MAX];
	uint64_t end;
	long st;
	int nqr;

	cl_open(&cl, NULL, NULL);
	T_OK(run_until_state(&cl, CONN_PAIRING, 5000), "pairing state");
	T_EQ_INT(conn_pair_phone(cl.c, "0123", code), CONN_EINVAL,
	    "bad phone refused");
	T_EQ_INT(conn_pair_phone(cl.c, "15550002222", code), CONN_OK,
	    "pair code requested");
	nqr = cl.nqr;
	T_EQ_INT(strlen(code), 9, "code XXXX-XXXX");
	T_EQ_INT(code[4], '-', "code has its dash");
	T_EQ_INT(cl.code_sent, 0, "pair_code_sent not before the server "
	    "answered");
	/* the companion_hello reaches the server and is answered */
	T_OK(run_until(&cl, &cl.code_sent, 1, 5000), "pair_code_sent");
	/* at once: the server knows the code (fakewa: 400 before) */
	st = post("/phone/code", "{\"phone\":\"15550002222\","
	    "\"code\":\"AAAA-AAAA\"}", err, sizeof(err));
	T_EQ_INT(st, 200, "wrong code typed (accepted by the phone)");
	conn_run(cl.c, 1500);
	T_EQ_INT(cl.paired, 0, "wrong code does not pair");
	T_EQ_INT(cl.pair_errors, 1, "wrong code reported");
	/* the server is back to waiting for the right code */
	snprintf(body, sizeof(body), "{\"phone\":\"15550002222\","
	    "\"code\":\"%s\"}", code);
	st = post("/phone/code", body, err, sizeof(err));
	if (st != 200)
		printf("# %s\n", err);
	T_EQ_INT(st, 200, "POST /phone/code");
	T_OK(run_until(&cl, &cl.logged_in, 1, 8000), "logged in by code");
	T_EQ_INT(cl.paired, 1, "paired");
	T_OK(strncmp(cl.creds.jid, "15550002222:", 12) == 0, "jid");
	T_EQ_INT(cl.nqr, nqr, "no more QRs in pair-code mode");
	T_EQ_INT(cl.code_sent, 1, "pair_code_sent once");
	snprintf(jid, sizeof(jid), "%s", cl.creds.jid);
	end = conn_now_ms() + 5000;
	while (conn_now_ms() < end && device_int(jid, "prekeys") < 812)
		conn_run(cl.c, 50);
	T_EQ_INT(device_int(jid, "prekeys"), 812, "prekeys uploaded");

	/* logout from the phone */
	snprintf(body, sizeof(body), "{\"jid\":\"%s\"}", jid);
	T_EQ_INT(post("/phone/logout", body, NULL, 0), 200,
	    "POST /phone/logout");
	T_OK(run_until(&cl, &cl.logged_out, 1, 5000), "logged_out callback");
	T_EQ_INT(conn_state(cl.c), CONN_LOGGED_OUT, "state logged_out");
	T_EQ_INT(cl.saved.len, 0, "stored creds dropped");
	T_OK(!creds_registered(&cl.creds), "in-memory creds reset");
	conn_run(cl.c, 1500);
	T_EQ_INT(conn_attempts(cl.c), 2, "no reconnect after logout");
	T_OK(device(jid) == NULL, "server forgot the device");
	cl_close(&cl);
}

static void
test_qr_rotation(void)
{
	struct cl cl;
	struct conn_cfg cfg;
	char first[PAIRING_QR_MAX];

	cfg_test(&cfg);
	cfg.qr_first_ms = 400;
	cfg.qr_next_ms = 150;
	cl_open(&cl, NULL, &cfg);
	T_OK(run_until(&cl, &cl.nqr, 1, 5000), "first QR");
	snprintf(first, sizeof(first), "%s", cl.qr);
	conn_run(cl.c, 200);
	T_EQ_INT(cl.nqr, 1, "first ref held for its time");
	T_OK(run_until(&cl, &cl.nqr, 2, 1000), "second QR");
	T_OK(strcmp(first, cl.qr) != 0, "new ref");
	T_OK(run_until_state(&cl, CONN_STOPPED, 3000), "stops when refs end");
	T_EQ_INT(cl.nqr, 6, "one QR per ref");
	T_EQ_INT(conn_last_cause(cl.c), CONN_CAUSE_QR_TIMEOUT, "qr timeout");
	cl_close(&cl);
}

static void
test_cert_reject(void)
{
	struct cl cl;
	struct conn_cfg cfg;
	uint8_t k[32], pub[32];
	int i;

	cfg_test(&cfg);
	randombytes_buf(k, sizeof(k));
	crypto_scalarmult_base(pub, k);
	for (i = 0; i < 32; i++)
		snprintf(cfg.cert_root_hex + 2 * i, 3, "%02x", pub[i]);
	cl_open(&cl, NULL, &cfg);
	T_OK(run_until_state(&cl, CONN_WAITING, 5000), "handshake refused");
	T_EQ_INT(conn_last_cause(cl.c), CONN_CAUSE_CERT, "cause cert");
	T_EQ_INT(cl.nqr, 0, "no QR from an unverified server");
	conn_run(cl.c, 1000);
	T_OK(conn_attempts(cl.c) <= 3, "backs off");
	cl_close(&cl);
	cert_set_root_hex(fw.root);
}

/* WA_KEEPALIVE_MS / WA_KEEPALIVE_TIMEOUT_MS reach conn_cfg_default. */
static void
test_cfg_keepalive(void)
{
	struct conn_cfg cfg;

	conn_cfg_default(&cfg);
	T_EQ_INT(cfg.keepalive_min_ms, 20000, "default ping interval 20 s");
	T_EQ_INT(cfg.keepalive_max_ms, 30000, "up to 30 s");
	T_EQ_INT(cfg.keepalive_timeout_ms, 10000, "default ping timeout 10 s");
	config_set("WA_KEEPALIVE_MS", "1500");
	config_set("WA_KEEPALIVE_TIMEOUT_MS", "700");
	conn_cfg_default(&cfg);
	T_EQ_INT(cfg.keepalive_min_ms, 1500, "WA_KEEPALIVE_MS");
	T_EQ_INT(cfg.keepalive_max_ms, 2250, "jitter up to 1.5 x");
	T_EQ_INT(cfg.keepalive_timeout_ms, 700, "WA_KEEPALIVE_TIMEOUT_MS");
	config_set("WA_KEEPALIVE_MS", "5");
	config_set("WA_KEEPALIVE_TIMEOUT_MS", "soon");
	conn_cfg_default(&cfg);
	T_EQ_INT(cfg.keepalive_min_ms, 20000, "too small: default");
	T_EQ_INT(cfg.keepalive_timeout_ms, 10000, "not a number: default");
	config_set("WA_KEEPALIVE_MS", NULL);
	config_set("WA_KEEPALIVE_TIMEOUT_MS", NULL);
}

/* Fault on a logged-in device; returns attempts used to recover. */
static void
fault_recovers(const char *kind, const char *phone, enum conn_cause want)
{
	struct cl cl;
	char body[256], name[64];
	unsigned a0;
	int w0;

	snprintf(name, sizeof(name), "fault %s: ", kind);
	if (!T_OK(pair_qr(&cl, phone), "%spaired", name)) {
		cl_close(&cl);
		return;
	}
	conn_run(cl.c, 300);
	a0 = conn_attempts(cl.c);
	w0 = cl.nwait;
	snprintf(body, sizeof(body), "{\"jid\":\"%s\",\"kind\":\"%s\"}",
	    cl.creds.jid, kind);
	T_EQ_INT(post("/fault", body, NULL, 0), 200, "POST /fault");
	T_OK(run_until(&cl, &cl.nwait, w0 + 1, 5000), "%sdisconnected", name);
	T_EQ_INT(conn_last_cause(cl.c), want, "cause");
	T_OK(run_until(&cl, &cl.logged_in, 2, 8000), "%slogged in again",
	    name);
	conn_run(cl.c, 2500);
	T_EQ_INT(conn_attempts(cl.c) - a0, 1, "one reconnect, no storm");
	T_EQ_INT(conn_state(cl.c), CONN_LOGGED_IN, "stays logged in");
	conn_stop(cl.c);
	run_until_state(&cl, CONN_STOPPED, 3000);
	cl_close(&cl);
}

static void
test_fault_drop(void)
{
	fault_recovers("drop", "15550003001", CONN_CAUSE_NETWORK);
}

static void
test_fault_515(void)
{
	fault_recovers("515", "15550003002", CONN_CAUSE_RESTART);
}

static void
test_fault_malformed(void)
{
	fault_recovers("malformed", "15550003003", CONN_CAUSE_PROTOCOL);
}

static void
test_fault_badframe(void)
{
	fault_recovers("badframe", "15550003007", CONN_CAUSE_PROTOCOL);
}

static void
test_handshake_timeout(void)
{
	struct cl cl;
	struct conn_cfg cfg;
	char body[256];
	int w0;

	cfg_test(&cfg);
	cfg.handshake_timeout_ms = 1000;
	cl_open(&cl, NULL, &cfg);
	T_OK(run_until(&cl, &cl.nqr, 1, 5000), "QR");
	T_OK(scan(&cl, "15550003009"), "scan");
	T_OK(run_until(&cl, &cl.logged_in, 1, 8000), "logged in");
	w0 = cl.nwait;
	T_EQ_INT(post("/fault", "{\"kind\":\"stall_next\"}", NULL, 0), 200,
	    "arm stall_next");
	snprintf(body, sizeof(body), "{\"jid\":\"%s\",\"kind\":\"drop\"}",
	    cl.creds.jid);
	T_EQ_INT(post("/fault", body, NULL, 0), 200, "drop");
	T_OK(run_until(&cl, &cl.logged_in, 2, 10000),
	    "logged in after a silent server");
	T_OK(cl.nwait >= w0 + 2 && cl.causes[w0] == CONN_CAUSE_NETWORK &&
	    cl.causes[w0 + 1] == CONN_CAUSE_TIMEOUT,
	    "drop, then handshake timeout");
	conn_stop(cl.c);
	run_until_state(&cl, CONN_STOPPED, 3000);
	cl_close(&cl);
}

static void
test_logout_self(void)
{
	struct cl cl;
	char jid[JID_STR_MAX];
	unsigned a0;

	if (!T_OK(pair_qr(&cl, "15550003008"), "paired")) {
		cl_close(&cl);
		return;
	}
	snprintf(jid, sizeof(jid), "%s", cl.creds.jid);
	a0 = conn_attempts(cl.c);
	T_EQ_INT(conn_logout(cl.c), CONN_OK, "conn_logout");
	T_OK(run_until(&cl, &cl.logged_out, 1, 5000), "logged out");
	conn_run(cl.c, 1000);
	T_EQ_INT(cl.logged_out, 1, "logged_out once");
	T_EQ_INT(conn_state(cl.c), CONN_LOGGED_OUT, "state logged_out");
	T_EQ_INT(conn_attempts(cl.c), a0, "no reconnect");
	T_OK(device(jid) == NULL, "server removed the device");
	T_OK(!creds_registered(&cl.creds), "creds reset");
	/* a fresh start pairs again with the new credentials */
	T_EQ_INT(conn_start(cl.c), 0, "restart");
	T_OK(run_until(&cl, &cl.nqr, 1, 5000), "new QR");
	cl_close(&cl);
}

static void
test_fault_stall(void)
{
	fault_recovers("stall", "15550003004", CONN_CAUSE_KEEPALIVE);
}

static void
test_fault_440(void)
{
	struct cl cl;
	char body[256];
	unsigned a0;

	if (!T_OK(pair_qr(&cl, "15550003005"), "paired")) {
		cl_close(&cl);
		return;
	}
	a0 = conn_attempts(cl.c);
	snprintf(body, sizeof(body), "{\"jid\":\"%s\",\"kind\":\"440\"}",
	    cl.creds.jid);
	T_EQ_INT(post("/fault", body, NULL, 0), 200, "POST /fault 440");
	T_OK(run_until_state(&cl, CONN_STOPPED, 5000), "stopped");
	T_EQ_INT(conn_last_cause(cl.c), CONN_CAUSE_REPLACED, "cause replaced");
	T_EQ_INT(cl.last_stream, 440, "stream error 440 reported");
	conn_run(cl.c, 1500);
	T_EQ_INT(conn_attempts(cl.c), a0, "no reconnect");
	T_OK(creds_registered(&cl.creds), "creds kept");
	cl_close(&cl);
}

static void
test_fault_401(void)
{
	struct cl cl;
	char body[256], jid[JID_STR_MAX];
	unsigned a0;

	if (!T_OK(pair_qr(&cl, "15550003006"), "paired")) {
		cl_close(&cl);
		return;
	}
	a0 = conn_attempts(cl.c);
	snprintf(jid, sizeof(jid), "%s", cl.creds.jid);
	snprintf(body, sizeof(body), "{\"jid\":\"%s\",\"kind\":\"401\"}",
	    jid);
	T_EQ_INT(post("/fault", body, NULL, 0), 200, "POST /fault 401");
	T_OK(run_until(&cl, &cl.logged_out, 1, 5000), "logged out");
	T_EQ_INT(conn_state(cl.c), CONN_LOGGED_OUT, "state logged_out");
	conn_run(cl.c, 1500);
	T_EQ_INT(conn_attempts(cl.c), a0, "no reconnect");
	T_OK(!creds_registered(&cl.creds), "creds wiped");
	cl_close(&cl);
}

static void
test_server_down(void)
{
	struct cl cl;
	struct conn_cfg cfg;
	unsigned n;

	/* nothing listens there: back off exponentially, never spin */
	cfg_test(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "ws://127.0.0.1:1/ws/chat");
	cl_open(&cl, NULL, &cfg);
	conn_run(cl.c, 3000);
	n = conn_attempts(cl.c);
	T_OK(n >= 2 && n <= 6, "%u attempts in 3 s (backoff 0.3 s .. 3 s)", n);
	T_EQ_INT(conn_last_cause(cl.c), CONN_CAUSE_NETWORK, "cause network");
	T_EQ_INT(cl.nqr, 0, "no QR");
	conn_stop(cl.c);
	T_EQ_INT(conn_state(cl.c), CONN_STOPPED, "stop while waiting");
	conn_run(cl.c, 1000);
	T_EQ_INT(conn_attempts(cl.c), n, "stays stopped");
	cl_close(&cl);
}

static void
test_login_unknown(void)
{
	struct cl cl;
	struct buf b;
	struct creds c;

	/* a paired-looking device the server never saw: <failure 401> */
	creds_generate(&c);
	snprintf(c.jid, sizeof(c.jid), "15550009999:3@s.whatsapp.net");
	buf_init(&b, CREDS_BLOB_MAX);
	creds_serialize(&c, &b);
	cl_open(&cl, &b, NULL);
	T_OK(run_until(&cl, &cl.logged_out, 1, 5000), "failure 401");
	T_EQ_INT(conn_state(cl.c), CONN_LOGGED_OUT, "logged out");
	cl_close(&cl);
	buf_free(&b);
	creds_clear(&c);
}

static void
test_fakewa_restart(void)
{
	struct cl cl;
	int port = fw.ws;

	fw_stop();
	T_OK(fw_start(port) == 0, "fakewa restarted on the same port");
	if (!fw.ok)
		return;
	cl_open(&cl, &saved_login, NULL);
	T_OK(run_until(&cl, &cl.logged_in, 1, 5000),
	    "saved pairing survives a fakewa restart");
	T_EQ_INT(cl.nqr, 0, "no QR");
	conn_stop(cl.c);
	run_until_state(&cl, CONN_STOPPED, 3000);
	cl_close(&cl);
}

static void
test_control_api(void)
{
	struct json_object *o;
	char *big;
	long st;

	T_EQ_INT(post("/phone/scan", "not json", NULL, 0), 400, "not JSON");
	T_EQ_INT(post("/phone/scan", "[1,2]", NULL, 0), 400, "not an object");
	T_EQ_INT(post("/phone/scan", "{\"qr\":\"a,b,c,d,e\",\"phone\":"
	    "\"15550001111\"}", NULL, 0), 400, "QR keys not base64");
	T_EQ_INT(post("/phone/scan", "{\"qr\":\"x\",\"phone\":\"12\"}",
	    NULL, 0), 400, "bad phone");
	T_EQ_INT(post("/phone/code", "{\"phone\":\"15550001111\","
	    "\"code\":\"0000-0000\"}", NULL, 0), 400, "bad code");
	T_EQ_INT(post("/phone/logout", "{\"jid\":\"1@s.whatsapp.net\"}",
	    NULL, 0), 400, "unknown device");
	T_EQ_INT(post("/fault", "{\"kind\":\"explode\"}", NULL, 0), 400,
	    "unknown fault");
	T_EQ_INT(post("/nope", "{}", NULL, 0), 404, "unknown route");
	big = malloc(70000);
	memset(big, ' ', 69999);
	big[0] = '{';
	big[69998] = '}';
	big[69999] = '\0';
	st = post("/fault", big, NULL, 0);
	T_OK(st == 413 || st == -1, "body cap (%ld)", st);
	free(big);
	st = http("GET", "/connections", NULL, &o);
	T_EQ_INT(st, 200, "fakewa still answers");
	if (o)
		json_object_put(o);
}

/* dir = a new directory holding pem under its OpenSSL hash name. */
static int
ca_dir_make(const char *pem, char *dir, size_t len)
{
	char link[400];
	X509 *x;
	FILE *f;
	int rc;

	snprintf(dir, len, "%s-cadir", fw.dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	if ((f = fopen(pem, "r")) == NULL)
		return -1;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return -1;
	snprintf(link, sizeof(link), "%s/%08lx.0", dir,
	    X509_subject_name_hash(x));
	X509_free(x);
	unlink(link);
	rc = symlink(pem, link);
	return rc;
}

static void
ca_dir_remove(const char *dir)
{
	struct dirent *de;
	char path[700];
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void
test_tls(void)
{
	struct cl cl;
	struct conn_cfg cfg;
	char *slash, cadir[300];

	fw_stop();
	slash = strrchr(fw.dir, '/');
	snprintf(slash, sizeof(fw.dir) - (size_t)(slash - fw.dir), "/tls");
	if (!T_OK(fw_start2(0, 1) == 0, "fakewa with TLS"))
		return;
	cfg_test(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "wss://127.0.0.1:%d/ws/chat",
	    fw.ws);
	/* the system store does not know fakewa's self-signed certificate */
	cl_open(&cl, NULL, &cfg);
	T_OK(run_until(&cl, &cl.nwait, 1, 5000), "untrusted TLS refused");
	T_EQ_INT(conn_last_cause(cl.c), CONN_CAUSE_NETWORK, "cause network");
	T_EQ_INT(cl.nqr, 0, "no QR");
	cl_close(&cl);
	snprintf(cfg.ca_file, sizeof(cfg.ca_file), "%s", fw.tls);
	cl_open(&cl, NULL, &cfg);
	T_OK(run_until(&cl, &cl.nqr, 1, 5000), "QR over wss://");
	T_OK(scan(&cl, "15550005555"), "scan");
	T_OK(run_until(&cl, &cl.logged_in, 1, 8000), "logged in over wss://");
	conn_stop(cl.c);
	run_until_state(&cl, CONN_STOPPED, 3000);
	cl_close(&cl);
	/* the system store path: a hashed CA directory (SSL_CERT_DIR) */
	if (T_OK(ca_dir_make(fw.tls, cadir, sizeof(cadir)) == 0,
	    "hashed CA directory")) {
		setenv("SSL_CERT_DIR", cadir, 1);
		cfg.ca_file[0] = '\0';
		cl_open(&cl, NULL, &cfg);
		T_OK(run_until(&cl, &cl.nqr, 1, 5000),
		    "QR over wss://, trusted by the hashed CA directory");
		conn_stop(cl.c);
		run_until_state(&cl, CONN_STOPPED, 3000);
		cl_close(&cl);
		unsetenv("SSL_CERT_DIR");
		ca_dir_remove(cadir);
	}
	fw_stop();
}

static void
test_creds_blob(void)
{
	struct creds a, b;
	struct buf blob;
	size_t i;
	int bad = 0;

	creds_generate(&a);
	snprintf(a.jid, sizeof(a.jid), "15550001111:7@s.whatsapp.net");
	snprintf(a.push_name, sizeof(a.push_name), "x");
	a.account_len = 10;
	a.next_prekey_id = 813;
	buf_init(&blob, CREDS_BLOB_MAX);
	T_EQ_INT(creds_serialize(&a, &blob), 0, "serialize");
	T_EQ_INT(creds_deserialize(&b, blob.data, blob.len), 0, "parse");
	T_EQ_MEM(a.noise.pub, 32, b.noise.pub, 32, "noise key");
	T_EQ_MEM(a.identity.pub, 32, b.identity.pub, 32, "identity key");
	T_EQ_INT(a.registration_id, b.registration_id, "registration id");
	T_EQ_STR(a.jid, b.jid, "jid");
	T_EQ_INT(b.next_prekey_id, 813, "next prekey id");
	T_OK(creds_registered(&b), "registered");
	for (i = 0; i < blob.len; i++)
		if (creds_deserialize(&b, blob.data, i) == 0)
			bad++;
	T_EQ_INT(bad, 0, "every truncation refused");
	blob.data[blob.len - 1] ^= 1;
	blob.data[20] ^= 0x40;
	T_OK(creds_deserialize(&b, blob.data, blob.len) != 0,
	    "corruption refused");
	buf_free(&blob);
}

/*
 * Driver for tests/system/test_baileys_peer.mjs: connect to an external
 * server (WA_EXT_URL, test root WA_EXT_ROOT), print each QR as "# qr …",
 * and report login and the first prekey upload.
 */
static int
external(void)
{
	struct cl cl;
	struct conn_cfg cfg;
	uint64_t end;

	cfg_test(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "%s", getenv("WA_EXT_URL"));
	snprintf(cfg.cert_root_hex, sizeof(cfg.cert_root_hex), "%s",
	    getenv("WA_EXT_ROOT") ? getenv("WA_EXT_ROOT") : "");
	cfg.keepalive_min_ms = 20000;
	cfg.keepalive_max_ms = 30000;
	t_cur = "external";
	cl_open(&cl, NULL, &cfg);
	if (T_OK(run_until(&cl, &cl.nqr, 1, 10000), "QR")) {
		printf("# qr %s\n", cl.qr);
		fflush(stdout);
	}
	T_OK(run_until(&cl, &cl.logged_in, 1, 20000), "logged in");
	T_EQ_INT(cl.paired, 1, "paired");
	T_EQ_INT(cl.last_stream, 515, "515 restart");
	end = conn_now_ms() + 10000;
	while (conn_now_ms() < end && !cl.creds.prekeys_uploaded)
		conn_run(cl.c, 50);
	T_OK(cl.creds.prekeys_uploaded, "prekeys uploaded");
	printf("# jid %s\n", cl.creds.jid);
	conn_stop(cl.c);
	run_until_state(&cl, CONN_STOPPED, 2000);
	cl_close(&cl);
	return t_done();
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/test_conn.XXXXXX";

	t_init(argc, argv);
	log_init("test_conn", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG :
	    LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	if (getenv("WA_EXT_URL") != NULL)
		return external();
	T_RUN(test_creds_blob);
	T_RUN(test_cfg_keepalive);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(fw.dir, sizeof(fw.dir), "%s/fakewa", tmpl);
	if (fw_start(0) != 0) {
		printf("ok %d - # SKIP build/bin/fakewa not available\n",
		    ++t_n);
		return t_done();
	}
	T_RUN(test_qr_pairing);
	T_RUN(test_saved_login);
	T_RUN(test_pair_code);
	T_RUN(test_qr_rotation);
	T_RUN(test_cert_reject);
	T_RUN(test_fault_drop);
	T_RUN(test_fault_515);
	T_RUN(test_fault_malformed);
	T_RUN(test_fault_badframe);
	T_RUN(test_fault_stall);
	T_RUN(test_logout_self);
	T_RUN(test_handshake_timeout);
	T_RUN(test_fault_440);
	T_RUN(test_fault_401);
	T_RUN(test_login_unknown);
	T_RUN(test_server_down);
	T_RUN(test_control_api);
	T_RUN(test_fakewa_restart);
	T_RUN(test_tls);
	fw_stop();
	buf_free(&saved_login);
	curl_global_cleanup();
	if (!getenv("KEEP_STATE")) {
		char path[512];

		static const char *sub[] = { "fakewa", "tls" };
		static const char *files[] = { "state.json", "tls-cert.pem",
		    "tls-key.pem" };
		size_t i, k;

		for (i = 0; i < 2; i++) {
			for (k = 0; k < 3; k++) {
				snprintf(path, sizeof(path), "%s/%s/%s", tmpl,
				    sub[i], files[k]);
				unlink(path);
			}
			snprintf(path, sizeof(path), "%s/%s", tmpl, sub[i]);
			rmdir(path);
		}
		rmdir(tmpl);
	}
	return t_done();
}
