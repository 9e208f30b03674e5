/*
 * fw-http.c - fakewa's control API: a small HTTP/1.1 JSON server on its
 * own loopback port (a second libwebsockets vhost).  Routes:
 *   GET  /devices  GET /connections  GET /root
 *   POST /phone/scan {"qr","phone"}   POST /phone/code {"phone","code"}
 *   POST /phone/logout {"jid"}        POST /fault {"jid"?, "kind"}
 *   POST /prekeys {"jid", "count"}    POST /message {"jid", "from"?, "id"?}
 *   GET  /messages?jid=   GET /stats   POST /phones {"phones": [...]}
 *   GET /groups   POST /groups {"subject","owner",
 *   "participants"}
 *   GET  /appstate?phone=   GET /appstate/patches?phone=&name=[&from=]
 *   POST /appstate/share?jid= (or {"jid"})
 *   GET  /appstate/snapshots   POST /appstate/snapshots {"enabled"?,
 *   "corrupt_next"?}
 * Bodies are capped at 64 KiB; every answer is JSON.  The same callback
 * serves the media host (a third vhost, HTTPS): POST /mms/<type>/<token>
 * ?auth= stores an encrypted blob (16 MiB cap), GET /mms-dl/<type>/<token>
 * returns it; those two routes also answer on the control port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "fakewa.h"
#include "log.h"
#include "xmalloc.h"

#define BODY_MAX	(64 * 1024)
#define MEDIA_MAX	(16 * 1024 * 1024)	/* one uploaded blob */
#define MEDIA_NAME_MAX	128

struct http_pss {
	char		path[128];
	int		post;
	struct buf	body;
	int		body_init;
};

static int
reply(struct lws *wsi, unsigned int status, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
	    *end = hdr + sizeof(hdr) - 1, *out;
	int rc = -1;

	out = xmalloc(LWS_PRE + n + 1);
	memcpy(out + LWS_PRE, s, n);
	json_object_put(o);
	if (lws_add_http_common_headers(wsi, status, "application/json", n,
	    &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	if (lws_write(wsi, out + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != (int)n)
		goto out;
	rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	free(out);
	return rc;
}

static int
reply_bytes(struct lws *wsi, const uint8_t *p, size_t n)
{
	uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *hp = start,
	    *end = hdr + sizeof(hdr) - 1, *out;
	int rc = -1;

	out = xmalloc(LWS_PRE + n + 1);
	memcpy(out + LWS_PRE, p, n);
	if (lws_add_http_common_headers(wsi, 200, "application/octet-stream",
	    n, &hp, end) || lws_finalize_write_http_header(wsi, start, &hp,
	    end))
		goto out;
	if (lws_write(wsi, out + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != (int)n)
		goto out;
	rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	free(out);
	return rc;
}

static int
reply_error(struct lws *wsi, unsigned int status, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(msg));
	return reply(wsi, status, o);
}

static struct json_object *
devices_json(void)
{
	struct json_object *o = json_object_new_object(), *arr, *d;
	struct fw_device *dev;

	arr = json_object_new_array();
	for (dev = fw.devices; dev != NULL; dev = dev->next) {
		d = json_object_new_object();
		json_object_object_add(d, "jid",
		    json_object_new_string(dev->jid));
		json_object_object_add(d, "lid",
		    json_object_new_string(dev->lid));
		json_object_object_add(d, "phone",
		    json_object_new_string(dev->phone));
		json_object_object_add(d, "device",
		    json_object_new_int64(dev->devid));
		json_object_object_add(d, "connected",
		    json_object_new_boolean(dev->conn != NULL));
		json_object_object_add(d, "prekeys",
		    json_object_new_int64(dev->prekeys));
		json_object_object_add(d, "uploads",
		    json_object_new_int64(dev->uploads));
		json_object_object_add(d, "logins",
		    json_object_new_int64(dev->logins));
		json_object_object_add(d, "pings",
		    json_object_new_int64(dev->pings_in));
		json_object_object_add(d, "server_pings_answered",
		    json_object_new_int64(dev->pings_answered));
		json_object_object_add(d, "acks",
		    json_object_new_int64(dev->acks));
		json_object_object_add(d, "receipts",
		    json_object_new_int64(dev->receipts));
		json_object_object_add(d, "retry_keys",
		    json_object_new_int64(dev->retry_keys));
		json_object_object_add(d, "push_name",
		    json_object_new_string(dev->push_name));
		json_object_array_add(arr, d);
	}
	json_object_object_add(o, "devices", arr);
	json_object_object_add(o, "pair_errors",
	    json_object_new_int64(fw.pair_errors));
	json_object_object_add(o, "last_error",
	    json_object_new_string(fw.last_error));
	return o;
}

static struct json_object *
connections_json(void)
{
	static const char *st[] = { "hello", "finish", "open", "dead" };
	struct json_object *o = json_object_new_object(), *arr, *d;
	struct fw_conn *c;

	arr = json_object_new_array();
	for (c = fw.conns; c != NULL; c = c->next) {
		d = json_object_new_object();
		json_object_object_add(d, "id", json_object_new_int64(c->id));
		json_object_object_add(d, "state",
		    json_object_new_string(st[c->state]));
		json_object_object_add(d, "login",
		    json_object_new_boolean(c->pi.login));
		json_object_object_add(d, "jid", json_object_new_string(
		    c->dev ? c->dev->jid : ""));
		json_object_object_add(d, "refs",
		    json_object_new_int64(c->nrefs));
		json_object_object_add(d, "pair_code",
		    json_object_new_int64(c->lc_state));
		json_object_array_add(arr, d);
	}
	json_object_object_add(o, "connections", arr);
	return o;
}

static const char *
jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A small non-negative integer field, 0 when absent or not one. */
static int64_t
jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > 100)
		return 0;
	return json_object_get_int64(v);
}

static int	media_download(struct lws *, const char *);

/* A decimal query argument, def when absent; -1 when malformed. */
static int
urlarg_u64(struct lws *wsi, const char *name, uint64_t def, uint64_t *out)
{
	char arg[32], *end;
	const char *v;
	unsigned long long x;

	*out = def;
	if ((v = lws_get_urlarg_by_name(wsi, name, arg, sizeof(arg))) == NULL)
		return 0;
	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = x;
	return 0;
}

static int
appstate_get(struct lws *wsi, const char *path)
{
	struct json_object *o;
	char phone[FW_PHONE_MAX + 8], name[48], err[128];
	const char *p, *n;
	uint64_t from;

	p = lws_get_urlarg_by_name(wsi, "phone=", phone, sizeof(phone));
	if (strcmp(path, "/appstate") == 0)
		o = fw_appstate_json(p, err, sizeof(err));
	else {
		n = lws_get_urlarg_by_name(wsi, "name=", name, sizeof(name));
		if (urlarg_u64(wsi, "from=", 0, &from) != 0)
			return reply_error(wsi, 400, "bad from");
		o = fw_appstate_patches_json(p, n, from, err, sizeof(err));
	}
	if (o == NULL)
		return reply_error(wsi, 400, err);
	return reply(wsi, 200, o);
}

/* POST /appstate/share?jid= (or a {"jid"} body): the phone re-shares. */
static int
appstate_share(struct lws *wsi, struct buf *body)
{
	struct json_object *req = NULL, *o;
	char arg[JID_STR_MAX + 8], err[160] = "", id[32];
	const char *jid;

	jid = lws_get_urlarg_by_name(wsi, "jid=", arg, sizeof(arg));
	if (jid == NULL && body->len > 0 &&
	    (req = json_tokener_parse(buf_cstr(body))) != NULL)
		jid = jstr(req, "jid");
	if (jid == NULL)
		snprintf(err, sizeof(err), "jid required");
	else
		(void)fw_appstate_share(fw_device_find_jid(jid), id,
		    sizeof(id), err, sizeof(err));
	if (err[0] != '\0') {
		if (req != NULL)
			json_object_put(req);
		return reply_error(wsi, 400, err);
	}
	o = json_object_new_object();
	json_object_object_add(o, "jid", json_object_new_string(jid));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	if (req != NULL)
		json_object_put(req);
	return reply(wsi, 200, o);
}

static int
handle_get(struct lws *wsi, const char *path)
{
	struct json_object *o, *arr;
	struct fw_group *g;
	char hex[65], arg[256];
	const char *v;

	if (strncmp(path, "/mms-dl/", 8) == 0)
		return media_download(wsi, path);
	if (strcmp(path, "/appstate") == 0 ||
	    strcmp(path, "/appstate/patches") == 0)
		return appstate_get(wsi, path);
	if (strcmp(path, "/appstate/snapshots") == 0)
		return reply(wsi, 200, fw_appstate_snapshots_json());
	if (strcmp(path, "/messages") == 0) {
		v = lws_get_urlarg_by_name(wsi, "jid=", arg, sizeof(arg));
		return reply(wsi, 200, fw_messages_json(v));
	}
	if (strcmp(path, "/stats") == 0) {
		o = json_object_new_object();
		json_object_object_add(o, "phone_messages",
		    json_object_new_int64((int64_t)fw_phone_messages()));
		return reply(wsi, 200, o);
	}
	if (strcmp(path, "/groups") == 0) {
		o = json_object_new_object();
		arr = json_object_new_array();
		for (g = fw.groups; g != NULL; g = g->next)
			json_object_array_add(arr, fw_group_json(g));
		json_object_object_add(o, "groups", arr);
		return reply(wsi, 200, o);
	}

	if (strcmp(path, "/devices") == 0)
		return reply(wsi, 200, devices_json());
	if (strcmp(path, "/connections") == 0)
		return reply(wsi, 200, connections_json());
	if (strcmp(path, "/root") == 0) {
		o = json_object_new_object();
		fw_hex(fw.root_pub, 32, hex);
		json_object_object_add(o, "root", json_object_new_string(hex));
		json_object_object_add(o, "media_port",
		    json_object_new_int(fw.media_port));
		json_object_object_add(o, "media_auth",
		    json_object_new_string(fw.media_auth));
		return reply(wsi, 200, o);
	}
	return reply_error(wsi, 404, "not found");
}

/* ------------------------------------------------------- media host */

/*
 * Upload: POST /mms/<type>/<token>?auth=<media_conn auth> (the body is the
 * encrypted blob) -> {"url","direct_path"}; download: GET
 * /mms-dl/<type>/<token>.  Blobs live in <state-dir>/media/.
 */
static int
media_name(const char *path, const char *prefix, char *type, size_t tlen,
    char *tok, size_t toklen)
{
	const char *p = path + strlen(prefix), *slash;
	size_t i, n;

	if ((slash = strchr(p, '/')) == NULL || slash == p ||
	    (size_t)(slash - p) >= tlen)
		return -1;
	memcpy(type, p, (size_t)(slash - p));
	type[slash - p] = '\0';
	p = slash + 1;
	n = strlen(p);
	if (n == 0 || n >= toklen)
		return -1;
	for (i = 0; type[i] != '\0'; i++)
		if (!((type[i] >= 'a' && type[i] <= 'z') || type[i] == '-'))
			return -1;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		    p[i] == '_' || p[i] == '='))
			return -1;
	memcpy(tok, p, n + 1);
	return 0;
}

static int
media_upload(struct lws *wsi, const char *path, struct buf *body)
{
	struct json_object *o;
	char type[32], tok[MEDIA_NAME_MAX], dir[PATH_MAX + 16];
	char file[PATH_MAX + 200];
	char arg[128], url[300], dp[200];
	const char *auth;
	FILE *f;
	int https = lws_is_ssl(wsi);

	auth = lws_get_urlarg_by_name(wsi, "auth=", arg, sizeof(arg));
	if (auth == NULL || strcmp(auth, fw.media_auth) != 0)
		return reply_error(wsi, 401, "bad media auth");
	if (media_name(path, "/mms/", type, sizeof(type), tok,
	    sizeof(tok)) != 0)
		return reply_error(wsi, 400, "bad media path");
	snprintf(dir, sizeof(dir), "%s/media", fw.state_dir);
	(void)mkdir(dir, 0700);
	snprintf(file, sizeof(file), "%s/%s-%s", dir, type, tok);
	if ((f = fopen(file, "wb")) == NULL ||
	    fwrite(body->data, 1, body->len, f) != body->len ||
	    fclose(f) != 0) {
		log_warn("%s", file);
		return reply_error(wsi, 500, "cannot store");
	}
	/* like the real one, the direct path carries a query */
	snprintf(dp, sizeof(dp), "/mms-dl/%s/%s?fakewa=1", type, tok);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s",
	    https ? "https" : "http", https ? fw.media_port : fw.http_port,
	    dp);
	log_info("media: %zu bytes stored as %s", body->len, dp);
	o = json_object_new_object();
	json_object_object_add(o, "url", json_object_new_string(url));
	json_object_object_add(o, "direct_path", json_object_new_string(dp));
	return reply(wsi, 200, o);
}

static int
media_download(struct lws *wsi, const char *path)
{
	char type[32], tok[MEDIA_NAME_MAX], file[PATH_MAX + 200];
	struct buf b;
	uint8_t chunk[8192];
	size_t n;
	FILE *f;
	int rc;

	if (media_name(path, "/mms-dl/", type, sizeof(type), tok,
	    sizeof(tok)) != 0)
		return reply_error(wsi, 400, "bad media path");
	snprintf(file, sizeof(file), "%s/media/%s-%s", fw.state_dir, type,
	    tok);
	if ((f = fopen(file, "rb")) == NULL)
		return reply_error(wsi, 404, "no such media");
	if (strcmp(type, "md-app-state") == 0) {
		fw.as_snap_downloads++;
		log_info("media: app state snapshot %s downloaded", path);
	}
	buf_init(&b, MEDIA_MAX);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) != 0)
			break;
	fclose(f);
	rc = reply_bytes(wsi, b.data ? b.data : chunk, b.len);
	buf_free(&b);
	return rc;
}

/*
 * POST /appstate/snapshots {"enabled": bool, "corrupt_next": bool}
 * (either or both): serve snapshots to fetches from scratch; make the
 * next snapshot built with a corrupted MAC (test only).  Answers the
 * new setting.
 */
static int
appstate_snapshots(struct lws *wsi, struct json_object *req)
{
	struct json_object *e = NULL, *c = NULL, *o;

	(void)json_object_object_get_ex(req, "enabled", &e);
	(void)json_object_object_get_ex(req, "corrupt_next", &c);
	if ((e == NULL && c == NULL) ||
	    (e != NULL && !json_object_is_type(e, json_type_boolean)) ||
	    (c != NULL && !json_object_is_type(c, json_type_boolean))) {
		json_object_put(req);
		return reply_error(wsi, 400, "enabled or corrupt_next "
		    "(booleans) required");
	}
	if (e != NULL)
		fw.as_snapshots = json_object_get_boolean(e);
	if (c != NULL)
		fw.as_snap_corrupt = json_object_get_boolean(c);
	json_object_put(req);
	log_info("appstate: snapshots %s%s", fw.as_snapshots ? "on" : "off",
	    fw.as_snap_corrupt ? ", the next one corrupted" : "");
	o = fw_appstate_snapshots_json();
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return reply(wsi, 200, o);
}

static int
handle_post(struct lws *wsi, const char *path, struct buf *body)
{
	struct json_object *req, *o;
	const char *a, *b;
	char err[160] = "", jid[JID_STR_MAX];
	int n, rc;

	if (strcmp(path, "/appstate/share") == 0)
		return appstate_share(wsi, body);
	req = json_tokener_parse(body->len ? buf_cstr(body) : "");
	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		if (req)
			json_object_put(req);
		return reply_error(wsi, 400, "body must be a JSON object");
	}
	if (strcmp(path, "/appstate/snapshots") == 0)
		return appstate_snapshots(wsi, req);
	o = json_object_new_object();
	if (strcmp(path, "/phone/scan") == 0) {
		a = jstr(req, "qr");
		b = jstr(req, "phone");
		if (a == NULL || b == NULL)
			snprintf(err, sizeof(err), "qr and phone required");
		else if (fw_scan(a, b, jid, sizeof(jid), err,
		    sizeof(err)) == 0)
			json_object_object_add(o, "jid",
			    json_object_new_string(jid));
	} else if (strcmp(path, "/phone/code") == 0) {
		a = jstr(req, "phone");
		b = jstr(req, "code");
		if (a == NULL || b == NULL)
			snprintf(err, sizeof(err), "phone and code required");
		else
			(void)fw_code(a, b, err, sizeof(err));
	} else if (strcmp(path, "/phone/logout") == 0) {
		if ((a = jstr(req, "jid")) == NULL)
			snprintf(err, sizeof(err), "jid required");
		else
			(void)fw_logout(a, err, sizeof(err));
	} else if (strcmp(path, "/message") == 0) {
		if ((a = jstr(req, "jid")) == NULL)
			snprintf(err, sizeof(err), "jid required");
		else
			(void)fw_message(a, jstr(req, "from") ?
			    jstr(req, "from") : "15550009999@s.whatsapp.net",
			    jstr(req, "id") ? jstr(req, "id") :
			    "3EB0FAKE0000000001", (uint32_t)jint(req, "count"),
			    err, sizeof(err));
	} else if (strcmp(path, "/prekeys") == 0) {
		struct json_object *v;
		int64_t cnt = -1;

		if (json_object_object_get_ex(req, "count", &v) &&
		    json_object_is_type(v, json_type_int))
			cnt = json_object_get_int64(v);
		if ((a = jstr(req, "jid")) == NULL || cnt < 0 ||
		    cnt > 100000)
			snprintf(err, sizeof(err), "jid and count required");
		else
			(void)fw_prekeys_low(a, (uint32_t)cnt, err,
			    sizeof(err));
	} else if (strcmp(path, "/groups") == 0) {
		struct json_object *pa;
		const char *parts[FW_GROUP_PARTS];
		struct fw_group *g;
		size_t i, np = 0;

		if (json_object_object_get_ex(req, "participants", &pa) &&
		    json_object_is_type(pa, json_type_array))
			np = json_object_array_length(pa);
		if (np >= FW_GROUP_PARTS) {
			snprintf(err, sizeof(err), "too many participants");
		} else {
			for (i = 0; i < np; i++) {
				struct json_object *e =
				    json_object_array_get_idx(pa, i);

				parts[i] = json_object_is_type(e,
				    json_type_string) ?
				    json_object_get_string(e) : NULL;
			}
			if ((g = fw_group_create(jstr(req, "subject"),
			    jstr(req, "owner"), parts, (int)np, err,
			    sizeof(err))) != NULL) {
				json_object_put(o);
				o = fw_group_json(g);
			}
		}
	} else if (strcmp(path, "/phones") == 0) {
		struct json_object *pa, *pv;
		size_t i, np = 0;

		if (json_object_object_get_ex(req, "phones", &pa) &&
		    json_object_is_type(pa, json_type_array))
			np = json_object_array_length(pa);
		for (i = 0; i < np && err[0] == '\0'; i++) {
			pv = json_object_array_get_idx(pa, i);
			if (!json_object_is_type(pv, json_type_string) ||
			    fw_phone_account_add(json_object_get_string(pv)) !=
			    0)
				snprintf(err, sizeof(err), "phones[%zu]: not a "
				    "phone number, or too many", i);
		}
		if (np == 0 && err[0] == '\0')
			snprintf(err, sizeof(err), "phones: a non-empty array "
			    "of phone numbers");
		json_object_object_add(o, "registered",
		    json_object_new_int64((int64_t)i));
	} else if (strcmp(path, "/fault") == 0) {
		if ((b = jstr(req, "kind")) == NULL)
			snprintf(err, sizeof(err), "kind required");
		else if ((n = fw_fault(jstr(req, "jid"), b, err,
		    sizeof(err))) >= 0)
			json_object_object_add(o, "connections",
			    json_object_new_int(n));
	} else {
		json_object_put(req);
		json_object_put(o);
		return reply_error(wsi, 404, "not found");
	}
	json_object_put(req);
	if (err[0] != '\0') {
		json_object_put(o);
		return reply_error(wsi, 400, err);
	}
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	rc = reply(wsi, 200, o);
	return rc;
}

size_t
fw_http_pss_size(void)
{
	return sizeof(struct http_pss);
}

int
fw_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct http_pss *s = user;
	struct buf body;
	char path[sizeof(s->path)];
	int rc;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		snprintf(s->path, sizeof(s->path), "%s", (const char *)in);
		buf_init(&s->body, strncmp(s->path, "/mms/", 5) == 0 ?
		    MEDIA_MAX : BODY_MAX);
		s->body_init = 1;
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
			s->post = 1;
			return 0;	/* body follows */
		}
		if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
			return handle_get(wsi, s->path);
		return reply_error(wsi, 405, "method not allowed");
	case LWS_CALLBACK_HTTP_BODY:
		if (buf_append(&s->body, in, len) != 0)
			return reply_error(wsi, 413, "body too large");
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		/*
		 * Completing the transaction (in reply()) drops the protocol
		 * and frees *s: take the body and path out first.
		 */
		body = s->body;
		s->body_init = 0;
		memset(&s->body, 0, sizeof(s->body));
		snprintf(path, sizeof(path), "%s", s->path);
		if (strncmp(path, "/mms/", 5) == 0)
			rc = media_upload(wsi, path, &body);
		else
			rc = handle_post(wsi, path, &body);
		buf_free(&body);
		return rc;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (s != NULL && s->body_init) {
			buf_free(&s->body);
			s->body_init = 0;
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
