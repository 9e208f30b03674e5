/*
 * test_fcgi_app.c - fcgi-app's request pipeline (app_handle) against a
 * fake devmgr: authentication (Bearer, Basic + cache, disabled), one
 * counted IPC call per request, who/device/path/json passed on, replies
 * relayed (status, GOWA envelope, register's two shapes, QR rendering),
 * devmgr down -> 503, rate limit -> 429 + headers, 401/404/405 order.
 */
#include <errno.h>
#include <sodium.h>
#include <time.h>

#include "t.h"
#include "config.h"
#include "fcgi.h"
#include "log.h"
#include "xmalloc.h"

#define SECRET	"unit-test-secret-unit-test-secret"
#define DEV	"0123456789abcdef"

/* What the fake devmgr saw. */
struct seen {
	uint16_t	 type;
	char		 user[80];
	char		 addr[80];
	char		 device[32];
	char		 method[16];
	char		 path[256];
	char		 json[4096];
	char		 query[1024];
	char		 idem[160];
	int		 exempt;
};
static struct seen seen[16];
static int nseen;
static int fake_down;		/* 1: every call fails EHOSTUNREACH */
static int fake_limited;	/* 1: counted calls answer 429 */
static int fake_gone;		/* 1: counted calls answer 401 */
static char fake_hash[AUTH_HASH_MAX];
static const char *fake_call_json;	/* DEVICE_CALL reply */
static int fake_call_status = 200;

static void
cp(char *dst, size_t len, const void *src, size_t n)
{
	if (n >= len)
		n = len - 1;
	memcpy(dst, src ? src : "", src ? n : 0);
	dst[src ? n : 0] = '\0';
}

static int
fake_call(struct app *a, uint16_t type, const Ipc__Request *q,
    Ipc__Reply **rep, int timeout_ms)
{
	struct seen *s = &seen[nseen < 16 ? nseen : 15];
	const char *json = "{}";
	char buf[1024];
	int status = 200;

	nseen++;
	memset(s, 0, sizeof(*s));
	s->type = type;
	if (q->who) {
		cp(s->user, sizeof(s->user), q->who->user,
		    strlen(q->who->user));
		cp(s->addr, sizeof(s->addr), q->who->addr,
		    strlen(q->who->addr));
	}
	cp(s->device, sizeof(s->device), q->device, strlen(q->device));
	cp(s->method, sizeof(s->method), q->method, strlen(q->method));
	cp(s->path, sizeof(s->path), q->path, strlen(q->path));
	cp(s->json, sizeof(s->json), q->json.data, q->json.len);
	cp(s->query, sizeof(s->query), q->query.data, q->query.len);
	cp(s->idem, sizeof(s->idem), q->idempotency_key,
	    strlen(q->idempotency_key));
	s->exempt = q->rate_exempt;
	if (fake_down) {
		errno = EHOSTUNREACH;
		return -1;
	}
	if (fake_gone && !q->rate_exempt) {
		*rep = ipc_reply_new(401, "INVALID_TOKEN", "user gone", NULL);
		return 0;
	}
	if (fake_limited && !q->rate_exempt) {
		*rep = ipc_reply_new(429, "RATE_LIMIT_EXCEEDED", "Too many",
		    NULL);
		goto rate;
	}
	switch (type) {
	case IPC_AUTH_INFO:
		if (strstr(s->json, "\"bob\"") == NULL) {
			*rep = ipc_reply_new(404, "USER_NOT_FOUND", "no", NULL);
			return 0;
		}
		snprintf(buf, sizeof(buf), "{\"username\":\"bob\",\"role\":"
		    "\"user\",\"hash\":\"%s\",\"active\":true}", fake_hash);
		json = buf;
		break;
	case IPC_DEVICE_REGISTER:
		status = 201;
		json = "{\"deviceHash\":\"" DEV "\",\"status\":\"registered\","
		    "\"processInfo\":null,\"device\":{\"id\":1}}";
		break;
	case IPC_DEVICE_INFO:
		json = "{\"deviceHash\":\"" DEV "\"}";
		break;
	case IPC_DEVICE_CALL:
		status = fake_call_status;
		json = fake_call_json;
		break;
	case IPC_PING:
		json = "{\"uptime\":5,\"version\":\"9.9\"}";
		break;
	case IPC_HEALTH:
		status = 503;
		json = "{\"status\":\"degraded\"}";
		break;
	}
	*rep = ipc_reply_new(status, status < 400 ? "SUCCESS" : "ERR", "m",
	    json);
rate:
	if (!q->rate_exempt) {
		(*rep)->rate = xcalloc(1, sizeof(*(*rep)->rate));
		ipc__rate_info__init((*rep)->rate);
		(*rep)->rate->limit = 100;
		(*rep)->rate->remaining = fake_limited ? 0 : 42;
		(*rep)->rate->reset = 60;
		(*rep)->rate->counted = 1;
	}
	return 0;
}

static struct app app;

/* Run one request; env is a NULL-terminated list, body may be NULL. */
static void
run(struct request *r, struct response *resp, char **env, const char *ct,
    const char *body)
{
	request_init(r);
	reply_init(resp);
	nseen = 0;
	if (request_begin(r, env, 1 << 20, 1 << 22, "", resp) == -1)
		return;
	r->content_type = ct;
	if (body != NULL) {
		r->body.max = 1 << 22;
		buf_append(&r->body, body, strlen(body));
	}
	app_handle(&app, r, resp);
}

static void
done(struct request *r, struct response *resp)
{
	request_free(r);
	reply_free(resp);
}

static const char *
B(struct response *resp)
{
	return buf_cstr(&resp->body);
}

static const char *
H(struct response *resp)
{
	return buf_cstr(&resp->hdrs);
}

static int
counted(void)
{
	int i, n = 0;

	for (i = 0; i < nseen && i < 16; i++)
		n += !seen[i].exempt;
	return n;
}

static char bearer[1200], admin_bearer[1200];

static void
test_no_auth(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/devices", "REMOTE_ADDR=1.2.3.4",
	    NULL };
	char *e2[] = { "REQUEST_URI=/api/unknown/route", NULL };
	char *e3[] = { "REQUEST_URI=/nothing", NULL };

	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 401, "401 without credentials");
	T_OK(strstr(H(&resp), "WWW-Authenticate: Bearer, Basic realm=\"gateway\"")
	    != NULL, "WWW-Authenticate");
	T_OK(strstr(B(&resp), "\"MISSING_CREDENTIALS\"") != NULL, "code");
	T_EQ_INT(counted(), 1, "one counted call (by address)");
	T_EQ_INT(seen[0].type, IPC_RATE_CHECK, "RATE_CHECK");
	T_EQ_STR(seen[0].addr, "1.2.3.4", "who.addr from REMOTE_ADDR");
	T_EQ_STR(seen[0].user, "", "no user");
	done(&r, &resp);
	run(&r, &resp, e2, NULL, NULL);
	T_EQ_INT(resp.status, 401, "unknown /api route: 401 before 404");
	done(&r, &resp);
	run(&r, &resp, e3, NULL, NULL);
	T_EQ_INT(resp.status, 404, "unknown non-api route: 404");
	done(&r, &resp);
}

static void
test_bearer(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/devices/info?deviceHash=" DEV, bearer,
	    NULL };
	char *e404[] = { "REQUEST_URI=/api/unknown/route", bearer, NULL };
	char *e405[] = { "REQUEST_METHOD=PATCH", "REQUEST_URI=/api/devices",
	    bearer, NULL };
	char tampered[1200];
	char *et[] = { "REQUEST_URI=/api/devices/info", tampered, NULL };
	char *bad[] = { "REQUEST_URI=/api/devices/info?deviceHash=ABC", bearer,
	    NULL };

	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 200, "200");
	T_EQ_INT(nseen, 1, "exactly one IPC call");
	T_EQ_INT(seen[0].type, IPC_DEVICE_INFO, "DEVICE_INFO");
	T_EQ_STR(seen[0].user, "alice", "who.user from the token");
	T_EQ_STR(seen[0].device, DEV, "device passed");
	T_EQ_INT(seen[0].exempt, 0, "counted");
	T_OK(strstr(H(&resp), "RateLimit-Remaining: 42\r\n") != NULL,
	    "rate headers relayed");
	T_OK(strncmp(B(&resp), "{\"success\":true,", 16) == 0 &&
	    strstr(B(&resp), "\"data\":{\"deviceHash\":\"" DEV "\"}") != NULL,
	    "data relayed");
	done(&r, &resp);

	run(&r, &resp, e404, NULL, NULL);
	T_EQ_INT(resp.status, 404, "authenticated unknown route: 404");
	T_OK(strstr(B(&resp), "NOT_FOUND") != NULL, "NOT_FOUND JSON");
	T_EQ_INT(counted(), 1, "404 still counted once");
	done(&r, &resp);

	run(&r, &resp, e405, NULL, NULL);
	T_EQ_INT(resp.status, 405, "405");
	T_OK(strstr(H(&resp), "Allow: GET, HEAD, POST, PUT, DELETE") != NULL,
	    "Allow lists the methods");
	done(&r, &resp);

	run(&r, &resp, bad, NULL, NULL);
	T_EQ_INT(resp.status, 400, "bad device hash: 400");
	T_OK(strstr(B(&resp), "INVALID_DEVICE_HASH") != NULL, "code");
	T_OK(nseen <= 1 && (nseen == 0 || seen[0].type == IPC_RATE_CHECK),
	    "no device lookup");
	done(&r, &resp);

	snprintf(tampered, sizeof(tampered), "%s", bearer);
	tampered[strlen(tampered) - 3] ^= 1;
	run(&r, &resp, et, NULL, NULL);
	T_EQ_INT(resp.status, 401, "tampered token: 401");
	T_OK(strstr(B(&resp), "INVALID_TOKEN") != NULL, "INVALID_TOKEN");
	done(&r, &resp);
}

static void
test_token_cache(void)
{
	char *tok = auth_jwt_issue((const uint8_t *)SECRET, strlen(SECRET),
	    "carol", "admin", 60, "whatsapp-gateway");
	struct auth_claims c;
	long now = (long)time(NULL);

	T_EQ_INT(authn_verify_token(&app, tok, now, &c), AUTH_OK, "verified");
	T_EQ_INT(authn_verify_token(&app, tok, now, &c), AUTH_OK,
	    "verified again (cached)");
	T_EQ_STR(c.user, "carol", "claims from the cache");
	T_EQ_STR(c.role, "admin", "role from the cache");
	T_EQ_INT(authn_verify_token(&app, tok, now + 61, &c), AUTH_EEXPIRED,
	    "cached token still expires");
	tok[strlen(tok) - 2] ^= 1;
	T_OK(authn_verify_token(&app, tok, now, &c) != AUTH_OK,
	    "a changed token is verified, not served from the cache");
	free(tok);
}

static void
test_user_gone(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/unknown/route", bearer, NULL };

	fake_gone = 1;
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 401, "deleted user: RATE_CHECK's 401 wins");
	T_OK(strstr(B(&resp), "INVALID_TOKEN") != NULL, "INVALID_TOKEN");
	done(&r, &resp);
	fake_gone = 0;
}

static void
test_expired(void)
{
	struct request r;
	struct response resp;
	char *tok = auth_jwt_issue((const uint8_t *)SECRET, strlen(SECRET),
	    "alice", "user", -10, "whatsapp-gateway");
	char hdr[1200];
	char *e[] = { "REQUEST_URI=/api/devices", hdr, NULL };

	snprintf(hdr, sizeof(hdr), "HTTP_AUTHORIZATION=Bearer %s", tok);
	free(tok);
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 401, "expired: 401");
	T_OK(strstr(B(&resp), "INVALID_TOKEN") != NULL, "INVALID_TOKEN");
	done(&r, &resp);
}

static void
test_basic(void)
{
	struct request r;
	struct response resp;
	char good[128], bad[128], ghost[128], b64[100];
	char *eg[] = { "REQUEST_URI=/api/devices", good, NULL };
	char *eb[] = { "REQUEST_URI=/api/devices", bad, NULL };
	char *eu[] = { "REQUEST_URI=/api/devices", ghost, NULL };
	struct timespec t0, t1;
	double first, second;

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)
	    "bob:right-pass", 14, sodium_base64_VARIANT_ORIGINAL);
	snprintf(good, sizeof(good), "HTTP_AUTHORIZATION=Basic %s", b64);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)
	    "bob:wrong-pass", 14, sodium_base64_VARIANT_ORIGINAL);
	snprintf(bad, sizeof(bad), "HTTP_AUTHORIZATION=Basic %s", b64);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)
	    "ghost:right-pass", 16, sodium_base64_VARIANT_ORIGINAL);
	snprintf(ghost, sizeof(ghost), "HTTP_AUTHORIZATION=Basic %s", b64);
	auth_hash_password("right-pass", fake_hash);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(&r, &resp, eg, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	first = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) /
	    1e9;
	T_EQ_INT(resp.status, 200, "Basic ok");
	T_EQ_INT(seen[0].type, IPC_AUTH_INFO, "AUTH_INFO first");
	T_EQ_INT(seen[0].exempt, 1, "AUTH_INFO exempt");
	T_EQ_INT(seen[1].type, IPC_DEVICE_LIST, "then the call");
	T_EQ_STR(seen[1].user, "bob", "who.user");
	T_EQ_INT(counted(), 1, "one counted call");
	done(&r, &resp);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(&r, &resp, eg, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	second = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) /
	    1e9;
	T_EQ_INT(resp.status, 200, "Basic ok again");
	T_OK(second < first / 3, "second check served from the cache "
	    "(%.1f ms vs %.1f ms)", second * 1e3, first * 1e3);
	done(&r, &resp);

	run(&r, &resp, eb, NULL, NULL);
	T_EQ_INT(resp.status, 401, "wrong password: 401");
	T_OK(strstr(B(&resp), "INVALID_CREDENTIALS") != NULL, "code");
	T_EQ_INT(counted(), 1, "failure counted once (by address)");
	done(&r, &resp);

	run(&r, &resp, eu, NULL, NULL);
	T_EQ_INT(resp.status, 401, "unknown user: 401");
	done(&r, &resp);

	/* Password changed: the stored hash differs, the cache misses. */
	auth_hash_password("new-pass-123", fake_hash);
	run(&r, &resp, eg, NULL, NULL);
	T_EQ_INT(resp.status, 401, "old password refused after a change");
	done(&r, &resp);
}

static void
test_devmgr_down(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/devices", bearer, NULL };
	char *eh[] = { "REQUEST_URI=/api/health", NULL };

	fake_down = 1;
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 503, "devmgr down: 503");
	T_OK(strstr(B(&resp), "SERVICE_UNAVAILABLE") != NULL, "code");
	done(&r, &resp);
	run(&r, &resp, eh, NULL, NULL);
	T_EQ_INT(resp.status, 503, "health: 503");
	T_OK(strstr(B(&resp), "\"status\":\"unhealthy\"") != NULL,
	    "unhealthy");
	done(&r, &resp);
	fake_down = 0;
	run(&r, &resp, eh, NULL, NULL);
	T_EQ_INT(resp.status, 200, "health: 200");
	T_OK(strstr(B(&resp), "\"status\":\"healthy\"") != NULL, "healthy");
	T_EQ_INT(counted(), 0, "health probes are not counted");
	done(&r, &resp);
}

static void
test_rate_limited(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/devices", bearer, NULL };

	fake_limited = 1;
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 429, "429");
	T_OK(strstr(H(&resp), "Retry-After: 60\r\n") != NULL, "Retry-After");
	T_OK(strstr(H(&resp), "RateLimit-Remaining: 0\r\n") != NULL,
	    "RateLimit-Remaining");
	T_OK(strstr(B(&resp), "RATE_LIMIT_EXCEEDED") != NULL, "code");
	T_EQ_INT(nseen, 1, "nothing else asked");
	done(&r, &resp);
	fake_limited = 0;
}

static void
test_register(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/devices",
	    bearer, NULL };
	json_object *o, *v, *d = NULL;

	run(&r, &resp, e, "application/json",
	    "{\"autoStart\":\"false\",\"webhookUrl\":\"http://x/y\","
	    "\"evil\":1}");
	T_EQ_INT(resp.status, 201, "201");
	T_OK(strstr(seen[0].json, "\"autoStart\":false") != NULL,
	    "autoStart as boolean");
	T_OK(strstr(seen[0].json, "evil") == NULL, "unknown fields dropped");
	o = json_tokener_parse(B(&resp));
	T_OK(o && json_object_object_get_ex(o, "deviceHash", &v) &&
	    strcmp(json_object_get_string(v), DEV) == 0, "top-level hash");
	T_OK(o && json_object_object_get_ex(o, "data", &d) &&
	    json_object_object_get_ex(d, "deviceHash", &v) &&
	    json_object_object_get_ex(d, "processInfo", &v),
	    "data.deviceHash and data.processInfo");
	json_object_put(o);
	done(&r, &resp);
	run(&r, &resp, e, "application/json", "{\"webhookUrl\":5}");
	T_EQ_INT(resp.status, 400, "wrong type: 400");
	T_OK(strstr(B(&resp), "webhookUrl") != NULL, "names the field");
	done(&r, &resp);
}

static void
test_device_call(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/api/message/ABC/reaction?phone=1%2B2",
	    "HTTP_DEVICEHASH=" DEV, "HTTP_IDEMPOTENCY_KEY=k-1", bearer, NULL };
	char *em[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/send/file",
	    "HTTP_X_INSTANCE_ID=" DEV, bearer, NULL };
	const char *mp = "--b\r\nContent-Disposition: form-data; name=\"phone\""
	    "\r\n\r\n123\r\n--b\r\nContent-Disposition: form-data; "
	    "name=\"file\"; filename=\"x.txt\"\r\nContent-Type: text/plain"
	    "\r\n\r\nhello\r\n--b--\r\n";

	fake_call_json = "{\"code\":\"SUCCESS\",\"message\":\"ok\","
	    "\"results\":{\"message_id\":\"X\"}}";
	run(&r, &resp, e, "application/json", "{\"emoji\":\"x\"}");
	T_EQ_INT(resp.status, 200, "200");
	T_EQ_INT(seen[0].type, IPC_DEVICE_CALL, "DEVICE_CALL");
	T_EQ_STR(seen[0].path, "/message/ABC/reaction", "path below /api");
	T_EQ_STR(seen[0].method, "POST", "method");
	T_EQ_STR(seen[0].device, DEV, "device from header");
	T_EQ_STR(seen[0].idem, "k-1", "Idempotency-Key");
	T_EQ_STR(seen[0].query, "{\"phone\":\"1+2\"}", "query as JSON");
	T_EQ_STR(seen[0].json, "{\"emoji\":\"x\"}", "body");
	T_EQ_STR(B(&resp), fake_call_json, "GOWA envelope relayed as is");
	done(&r, &resp);

	run(&r, &resp, em, "multipart/form-data; boundary=b", mp);
	T_EQ_INT(resp.status, 200, "multipart 200");
	T_OK(strstr(seen[0].json, "\"file\":{\"filename\":\"x.txt\","
	    "\"mime\":\"text/plain\",\"size\":5,\"data_base64\":\"aGVsbG8=\"}")
	    != NULL, "file as base64 in JSON");
	done(&r, &resp);

	fake_call_status = 409;
	fake_call_json = "";
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 409, "error status relayed");
	T_OK(strstr(B(&resp), "\"code\":\"ERR\"") != NULL, "code relayed");
	done(&r, &resp);
	fake_call_status = 200;
}

static void
test_qr_login(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/login", "HTTP_DEVICEHASH=" DEV,
	    bearer, NULL };
	char *ep[] = { "REQUEST_URI=/api/app/login", "HTTP_DEVICEHASH=" DEV,
	    "HTTP_ACCEPT=image/png", bearer, NULL };
	char *er[] = { "REQUEST_URI=/api/app/login?format=raw",
	    "HTTP_DEVICEHASH=" DEV, bearer, NULL };
	json_object *o, *v, *res = NULL;

	fake_call_json = "{\"code\":\"SUCCESS\",\"message\":\"Login success\","
	    "\"results\":{\"qr_string\":\"2@abc,def,ghi\",\"qr_duration\":30}}";
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 200, "200");
	T_EQ_STR(seen[0].path, "/app/login", "/api/login is /app/login");
	o = json_tokener_parse(B(&resp));
	T_OK(o && json_object_object_get_ex(o, "qrCode", &v) &&
	    strncmp(json_object_get_string(v), "data:image/png;base64,", 22)
	    == 0, "qrCode data URL");
	T_OK(o && json_object_object_get_ex(o, "results", &res) &&
	    json_object_object_get_ex(res, "qr_code", &v) &&
	    json_object_object_get_ex(res, "qr_duration", &v),
	    "results.qr_code, qr_duration kept");
	json_object_put(o);
	done(&r, &resp);
	run(&r, &resp, ep, NULL, NULL);
	T_OK(resp.ctype && strcmp(resp.ctype, "image/png") == 0 &&
	    resp.body.len > 8 && memcmp(resp.body.data, "\x89PNG", 4) == 0,
	    "Accept: image/png gives the PNG");
	done(&r, &resp);
	run(&r, &resp, er, NULL, NULL);
	T_EQ_STR(B(&resp), "2@abc,def,ghi", "format=raw gives the text");
	done(&r, &resp);
}

static void
test_login(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/auth/login",
	    "REMOTE_ADDR=5.6.7.8", NULL };
	json_object *o, *v, *d = NULL;
	struct auth_claims c;

	auth_hash_password("right-pass", fake_hash);
	run(&r, &resp, e, "application/json",
	    "{\"username\":\"bob\",\"password\":\"right-pass\"}");
	T_EQ_INT(resp.status, 200, "login 200");
	T_EQ_INT(seen[0].type, IPC_RATE_CHECK, "attempt counted first");
	T_EQ_STR(seen[0].addr, "5.6.7.8", "against the address");
	T_EQ_INT(counted(), 1, "one counted call");
	o = json_tokener_parse(B(&resp));
	T_OK(o && json_object_object_get_ex(o, "data", &d) &&
	    json_object_object_get_ex(d, "token", &v) &&
	    auth_jwt_verify((const uint8_t *)SECRET, strlen(SECRET),
	    json_object_get_string(v), "whatsapp-gateway", time(NULL), &c) ==
	    AUTH_OK && strcmp(c.user, "bob") == 0, "token verifies");
	T_OK(d && json_object_object_get_ex(d, "expiresIn", &v) &&
	    strcmp(json_object_get_string(v), "24h") == 0, "expiresIn");
	json_object_put(o);
	done(&r, &resp);
	run(&r, &resp, e, "application/x-www-form-urlencoded",
	    "username=bob&password=nope-nope");
	T_EQ_INT(resp.status, 401, "bad password 401");
	done(&r, &resp);
	run(&r, &resp, e, "application/json", "{\"username\":\"bob\"}");
	T_EQ_INT(resp.status, 400, "missing password 400");
	T_OK(strstr(B(&resp), "MISSING_CREDENTIALS") != NULL, "code");
	done(&r, &resp);
}

static void
test_auth_disabled(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_URI=/api/devices", "REMOTE_ADDR=127.0.0.1",
	    NULL };
	char *far[] = { "REQUEST_URI=/api/devices", "REMOTE_ADDR=8.8.8.8",
	    NULL };

	app.auth_enabled = 0;
	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 200, "loopback: no credentials needed");
	T_EQ_STR(seen[0].user, "admin", "acts as the default admin");
	done(&r, &resp);
	run(&r, &resp, far, NULL, NULL);
	T_EQ_INT(resp.status, 401, "remote clients still authenticate");
	done(&r, &resp);
	app.auth_enabled = 1;
}

static void
test_metrics(void)
{
	struct request r;
	struct response resp;
	char *lo[] = { "REQUEST_URI=/metrics", "REMOTE_ADDR=127.0.0.1", NULL };
	char *far[] = { "REQUEST_URI=/metrics", "REMOTE_ADDR=8.8.8.8", NULL };

	run(&r, &resp, lo, NULL, NULL);
	T_EQ_INT(resp.status, 200, "loopback: 200");
	T_OK(strstr(B(&resp), "fcgi_requests_total{worker=\"0\",status=\"200\"}")
	    != NULL, "per-status counter");
	done(&r, &resp);
	run(&r, &resp, far, NULL, NULL);
	T_EQ_INT(resp.status, 401, "remote without auth: 401");
	done(&r, &resp);
}

static void
test_preflight(void)
{
	struct request r;
	struct response resp;
	char *e[] = { "REQUEST_METHOD=OPTIONS", "REQUEST_URI=/api/send/message",
	    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS=authorization,devicehash",
	    NULL };

	run(&r, &resp, e, NULL, NULL);
	T_EQ_INT(resp.status, 204, "preflight 204 without credentials");
	T_EQ_INT(nseen, 0, "no IPC");
	T_OK(strstr(H(&resp), "Access-Control-Allow-Headers: authorization,"
	    "devicehash\r\n") != NULL, "CORS headers");
	done(&r, &resp);
}

static void
test_users(void)
{
	struct request r;
	struct response resp;
	char *add[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/auth/users",
	    bearer, NULL };
	char *add_admin[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/api/auth/users", admin_bearer, NULL };
	char *del[] = { "REQUEST_METHOD=DELETE",
	    "REQUEST_URI=/api/auth/users/bob", admin_bearer, NULL };
	char *pw[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/api/auth/change-password", bearer, NULL };
	const char *body = "{\"username\":\"dave\",\"password\":"
	    "\"secret-pw\",\"role\":\"user\"}";

	run(&r, &resp, add, "application/json", body);
	T_EQ_INT(resp.status, 403, "user role cannot create users");
	T_OK(nseen <= 1 && (nseen == 0 || seen[0].type == IPC_RATE_CHECK),
	    "refused before hashing or USER_ADD");
	done(&r, &resp);
	run(&r, &resp, add_admin, "application/json", body);
	T_EQ_INT(seen[0].type, IPC_USER_ADD, "USER_ADD");
	T_OK(strstr(seen[0].json, "\"password_hash\":\"$argon2id$") != NULL,
	    "argon2id hash sent");
	T_OK(strstr(seen[0].json, "secret-pw") == NULL, "never the password");
	done(&r, &resp);
	run(&r, &resp, add_admin, "application/json",
	    "{\"username\":\"x y\",\"password\":\"secret-pw\"}");
	T_OK(resp.status == 400 && strstr(B(&resp), "INVALID_USERNAME"),
	    "INVALID_USERNAME");
	done(&r, &resp);
	run(&r, &resp, add_admin, "application/json",
	    "{\"username\":\"dave\",\"password\":\"secret-pw\","
	    "\"role\":\"root\"}");
	T_OK(resp.status == 400 && strstr(B(&resp), "INVALID_ROLE"),
	    "INVALID_ROLE");
	done(&r, &resp);
	run(&r, &resp, del, NULL, NULL);
	T_EQ_INT(seen[0].type, IPC_USER_DELETE, "USER_DELETE");
	T_EQ_STR(seen[0].json, "{\"username\":\"bob\"}", "username sent");
	done(&r, &resp);
	run(&r, &resp, pw, "application/json", "{\"newPassword\":\"x\"}");
	T_OK(resp.status == 400 && strstr(B(&resp), "MISSING_PASSWORDS"),
	    "current password required");
	done(&r, &resp);
	run(&r, &resp, pw, "application/json",
	    "{\"currentPassword\":\"abcdefg\",\"newPassword\":\"123\"}");
	T_OK(resp.status == 400 && strstr(B(&resp), "INVALID_NEW_PASSWORD"),
	    "new password rules");
	done(&r, &resp);
	run(&r, &resp, pw, "application/json", "{\"currentPassword\":"
	    "\"abcdefg\",\"newPassword\":\"1234567\",\"username\":\"bob\"}");
	T_EQ_INT(resp.status, 403, "user cannot change another's password");
	done(&r, &resp);
}

static void
test_device_admin(void)
{
	struct request r;
	struct response resp;
	char *put[] = { "REQUEST_METHOD=PUT", "REQUEST_URI=/api/devices",
	    "HTTP_DEVICEHASH=" DEV, bearer, NULL };
	char *del[] = { "REQUEST_METHOD=DELETE",
	    "REQUEST_URI=/api/devices?deviceHash=" DEV "&force=false", bearer,
	    NULL };
	char *del2[] = { "REQUEST_METHOD=DELETE",
	    "REQUEST_URI=/api/devices?deviceHash=" DEV "&force=1", bearer,
	    NULL };
	char *del3[] = { "REQUEST_METHOD=DELETE",
	    "REQUEST_URI=/api/devices?deviceHash=" DEV "&force=maybe", bearer,
	    NULL };
	char *list[] = { "REQUEST_URI=/api/devices?limit=x", bearer, NULL };
	char *health[] = { "REQUEST_URI=/api/health/detailed", bearer, NULL };
	char *heal[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/api/health/auto-heal", bearer, NULL };

	run(&r, &resp, put, "application/json", "{\"foo\":1}");
	T_OK(resp.status == 400 && strstr(B(&resp), "NO_VALID_FIELDS"),
	    "update without fields");
	done(&r, &resp);
	run(&r, &resp, put, "application/json", "{\"name\":\"n\"}");
	T_EQ_INT(seen[0].type, IPC_DEVICE_UPDATE, "DEVICE_UPDATE");
	T_EQ_STR(seen[0].json, "{\"name\":\"n\"}", "only known fields");
	done(&r, &resp);
	run(&r, &resp, del, NULL, NULL);
	T_EQ_STR(seen[0].query, "{\"force\":false}", "force=false is false");
	done(&r, &resp);
	run(&r, &resp, del2, NULL, NULL);
	T_EQ_STR(seen[0].query, "{\"force\":true}", "force=1 is true");
	done(&r, &resp);
	run(&r, &resp, del3, NULL, NULL);
	T_EQ_INT(resp.status, 400, "force=maybe: 400");
	done(&r, &resp);
	run(&r, &resp, list, NULL, NULL);
	T_OK(resp.status == 400 && strstr(B(&resp), "limit"),
	    "limit not a number: 400 naming it");
	done(&r, &resp);
	run(&r, &resp, health, NULL, NULL);
	T_EQ_INT(resp.status, 503, "detailed: devmgr's status relayed");
	T_EQ_STR(seen[0].json, "{\"what\":\"detailed\"}", "what");
	T_EQ_STR(B(&resp), "{\"status\":\"degraded\"}", "body relayed");
	done(&r, &resp);
	run(&r, &resp, heal, NULL, NULL);
	T_EQ_INT(resp.status, 403, "auto-heal: admin only");
	done(&r, &resp);
}

int
main(int argc, char **argv)
{
	char *tok;

	t_init(argc, argv);
	log_init("test", LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	config_set("JWT_SECRET", SECRET);
	config_set("VAR_DIR", "/nonexistent-test-dir");
	app_init(&app, 0);
	app.call = fake_call;
	tok = auth_jwt_issue((const uint8_t *)SECRET, strlen(SECRET), "alice",
	    "user", 3600, "whatsapp-gateway");
	snprintf(bearer, sizeof(bearer), "HTTP_AUTHORIZATION=Bearer %s", tok);
	free(tok);
	tok = auth_jwt_issue((const uint8_t *)SECRET, strlen(SECRET), "root1",
	    "admin", 3600, "whatsapp-gateway");
	snprintf(admin_bearer, sizeof(admin_bearer),
	    "HTTP_AUTHORIZATION=Bearer %s", tok);
	free(tok);
	T_RUN(test_no_auth);
	T_RUN(test_bearer);
	T_RUN(test_expired);
	T_RUN(test_user_gone);
	T_RUN(test_token_cache);
	T_RUN(test_basic);
	T_RUN(test_devmgr_down);
	T_RUN(test_rate_limited);
	T_RUN(test_register);
	T_RUN(test_device_call);
	T_RUN(test_qr_login);
	T_RUN(test_login);
	T_RUN(test_auth_disabled);
	T_RUN(test_metrics);
	T_RUN(test_preflight);
	T_RUN(test_users);
	T_RUN(test_device_admin);
	app_free(&app);
	return t_done();
}
