/*
 * app.c - one worker's state and the request pipeline: route, authenticate,
 * parse the body, run the handler, and make sure exactly one counted IPC
 * call (the rate limit lives in devmgr) was made for the request.  app_call
 * is the only way to reach devmgr: it fills Request.who from the verified
 * principal, applies the deadline, maps transport failures to 503/504 and
 * relays Reply.rate as RateLimit-* headers.  Never blocks past a deadline,
 * never exits because of a request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zmq.h>

#include "config.h"
#include "fcgi.h"
#include "log.h"
#include "xmalloc.h"

static int
app_ipc_call(struct app *a, uint16_t type, const Ipc__Request *q,
    Ipc__Reply **rep, int timeout_ms)
{
	return ipc_client_call(a->ipc, type, q, rep, timeout_ms);
}

void
app_init(struct app *a, int worker)
{
	long v;

	memset(a, 0, sizeof(*a));
	a->worker = worker;
	a->started = (long)time(NULL);
	a->call = app_ipc_call;
	a->auth_enabled = config_get_bool("API_AUTH_ENABLED");
	snprintf(a->admin_user, sizeof(a->admin_user), "%s",
	    config_get("DEFAULT_ADMIN_USER"));
	snprintf(a->issuer, sizeof(a->issuer), "%s", config_get("JWT_ISSUER"));
	snprintf(a->jwt_ttl_str, sizeof(a->jwt_ttl_str), "%s",
	    config_get("JWT_EXPIRES_IN"));
	if ((a->jwt_ttl = config_parse_duration(a->jwt_ttl_str)) <= 0) {
		log_warnx("JWT_EXPIRES_IN=%s is malformed, using 24h",
		    a->jwt_ttl_str);
		a->jwt_ttl = 86400;
		snprintf(a->jwt_ttl_str, sizeof(a->jwt_ttl_str), "24h");
	}
	v = config_get_int("IPC_TIMEOUT_MS");
	a->ipc_timeout = v > 0 && v < 600000 ? (int)v : 2000;
	v = config_get_int("DEVICE_CALL_TIMEOUT_MS");
	a->device_timeout = v > 0 && v < 600000 ? (int)v : 30000;
	v = config_get_int("API_BODY_MAX");
	a->body_max = v > 0 ? (size_t)v : 10485760;
	v = config_get_int("API_UPLOAD_MAX");
	a->upload_max = v > 0 ? (size_t)v : 104857600;
	/* What fits one IPC message (uploads travel as base64). */
	if (a->body_max > IPC_BODY_MAX - 65536)
		a->body_max = IPC_BODY_MAX - 65536;
	if (a->upload_max > (IPC_BODY_MAX - 65536) / 4 * 3) {
		a->upload_max = (IPC_BODY_MAX - 65536) / 4 * 3;
		log_debug("uploads capped at %zu bytes (IPC message size)",
		    a->upload_max);
	}
	if ((a->rate_window = config_parse_duration(
	    config_get("API_RATE_WINDOW"))) <= 0)
		a->rate_window = 900;
	snprintf(a->trusted, sizeof(a->trusted), "%s",
	    config_get("TRUSTED_PROXIES"));
	randombytes_buf(a->cache_key, sizeof(a->cache_key));
	if (auth_secret_load(a->secret, sizeof(a->secret), &a->secretlen) ==
	    -1) {
		if (a->auth_enabled)
			fatalx("cannot load the JWT secret");
		log_warnx("no JWT secret; tokens cannot be issued");
	}
}

void
app_connect(struct app *a)
{
	char ep[4200];

	config_endpoint(ep, sizeof(ep), "control");
	if ((a->zctx = zmq_ctx_new()) == NULL)
		fatal("zmq_ctx_new");
	a->ipc = ipc_client_new(a->zctx, ep);
	a->call = app_ipc_call;
}

void
app_free(struct app *a)
{
	ipc_client_free(a->ipc);
	a->ipc = NULL;
	if (a->zctx != NULL)
		zmq_ctx_term(a->zctx);
	a->zctx = NULL;
	free(a->openapi);
	a->openapi = NULL;
	sodium_memzero(a->secret, sizeof(a->secret));
	sodium_memzero(a->cache, sizeof(a->cache));
	sodium_memzero(a->tokens, sizeof(a->tokens));
}

json_object *
app_parse_json(const char *s, size_t len)
{
	struct json_tokener *tok;
	json_object *o;

	if (s == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	if ((tok = json_tokener_new_ex(REQ_JSON_DEPTH)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

json_object *
app_reply_json(const Ipc__Reply *rep)
{
	return app_parse_json((const char *)rep->json.data, rep->json.len);
}

void
app_set_json(ProtobufCBinaryData *dst, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	dst->data = (uint8_t *)s;
	dst->len = len;
}

void
app_reply_error(struct response *resp, const Ipc__Reply *rep)
{
	const char *code = rep->code && *rep->code ? rep->code : NULL;
	int status = rep->status;

	if (status < 400 || status > 599)
		status = 502;
	if (code == NULL)
		code = status == 404 ? "NOT_FOUND" : status == 429 ?
		    "RATE_LIMIT_EXCEEDED" : status >= 500 ? "INTERNAL_ERROR" :
		    "BAD_REQUEST";
	reply_error(resp, status, code, "%s", rep->message && *rep->message ?
	    rep->message : reply_reason(status));
	if (status == 401)
		reply_header(resp, "WWW-Authenticate",
		    "Bearer, Basic realm=\"gateway\"");
}

void
app_reply_data(struct response *resp, const Ipc__Reply *rep,
    const char *okmsg)
{
	if (rep->status >= 400) {
		app_reply_error(resp, rep);
		return;
	}
	resp->status = rep->status ? rep->status : 200;
	resp->ctype = NULL;
	buf_reset(&resp->body);
	buf_puts(&resp->body, "{\"success\":true,\"message\":");
	reply_json_string(&resp->body, okmsg ? okmsg : rep->message ?
	    rep->message : "");
	buf_puts(&resp->body, ",\"data\":");
	if (rep->json.len > 0 && rep->json.data != NULL)
		buf_append(&resp->body, rep->json.data, rep->json.len);
	else
		buf_puts(&resp->body, "null");
	if (buf_puts(&resp->body, "}") == -1)
		reply_error(resp, 500, "INTERNAL_ERROR", "Response too large");
}

int
app_call(struct app *a, struct request *r, struct response *resp,
    uint16_t type, Ipc__Request *q, Ipc__Reply **rep, int exempt)
{
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	int timeout, rc;

	*rep = NULL;
	who.user = r->user;
	who.role = r->role;
	who.addr = r->addr;
	q->who = &who;
	if (!exempt && resp->rate_counted)
		exempt = 1;		/* one counted call per request */
	q->rate_exempt = exempt;
	if (q->device == NULL || q->device == protobuf_c_empty_string)
		q->device = r->device;
	timeout = type == IPC_DEVICE_CALL ? a->device_timeout + 1000 :
	    a->ipc_timeout;
	rc = a->call(a, type, q, rep, timeout);
	q->who = NULL;
	if (rc == -1) {
		if (errno == EMSGSIZE)
			reply_error(resp, 0, "PAYLOAD_TOO_LARGE",
			    "Request too large to forward");
		else if (errno == EAGAIN && type == IPC_DEVICE_CALL)
			reply_error(resp, 504, "DEVICE_TIMEOUT",
			    "The device did not answer in time");
		else {
			static _Atomic uint64_t last;	/* all threads' */
			uint64_t now = ipc_mono_ms();

			if (now - last > 10000 || last == 0) {
				last = now;	/* one line per 10 s */
				log_warnx("%s: devmgr unavailable (%s)",
				    ipc_type_name(type), errno == EAGAIN ?
				    "timeout" : strerror(errno));
			}
			reply_error(resp, 0, "SERVICE_UNAVAILABLE",
			    "Device manager unavailable");
		}
		return -1;
	}
	if (!exempt)
		resp->rate_counted = 1;
	if ((*rep)->rate != NULL && (*rep)->rate->counted)
		reply_rate_headers(resp, (*rep)->rate->limit,
		    (*rep)->rate->remaining, (*rep)->rate->reset,
		    a->rate_window);
	if ((*rep)->status == 429) {
		app_reply_error(resp, *rep);
		reply_header(resp, "Retry-After", "%u", (*rep)->rate ?
		    ((*rep)->rate->reset ? (*rep)->rate->reset : 1) : 60);
		ipc_reply_free(*rep);
		*rep = NULL;
		return -1;
	}
	return 0;
}

int
app_rate_check(struct app *a, struct request *r, struct response *resp,
    int fail_open)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	struct response tmp, old;
	int rc = 0;

	if (resp->rate_counted)
		return 0;
	/* Call into a scratch answer so a failure keeps what resp says. */
	reply_init(&tmp);
	if (app_call(a, r, &tmp, IPC_RATE_CHECK, &q, &rep, 0) == -1) {
		if (tmp.status == 429 || !fail_open) {
			old = *resp;
			*resp = tmp;
			tmp = old;
			rc = -1;
		}
	} else if (rep->status >= 400) {
		/* e.g. 401: the token's user is gone or disabled */
		app_reply_error(&tmp, rep);
		tmp.rate_counted = 1;
		old = *resp;
		*resp = tmp;
		tmp = old;
		rc = -1;
	} else {
		if (tmp.hdrs.len > 0)
			buf_append(&resp->hdrs, tmp.hdrs.data, tmp.hdrs.len);
		resp->rated |= tmp.rated;
		resp->rate_counted = 1;
	}
	ipc_reply_free(rep);
	reply_free(&tmp);
	return rc;
}

/* CORS preflight: answered here, without credentials or counting. */
static void
app_preflight(struct request *r, struct response *resp)
{
	const char *h = request_header(r, "access-control-request-headers");
	int allowed = 0, pub;

	route_match(r, &allowed, &pub);
	resp->status = 204;
	buf_reset(&resp->body);
	reply_header(resp, "Access-Control-Allow-Methods",
	    "GET, POST, PUT, DELETE, OPTIONS");
	reply_header(resp, "Access-Control-Allow-Headers", "%s",
	    h != NULL && strlen(h) < 512 ? h : "Authorization, Content-Type, "
	    "deviceHash, x-instance-id, Idempotency-Key");
	reply_header(resp, "Access-Control-Max-Age", "600");
}

int
app_begin(struct app *a, struct request *r, struct response *resp)
{
	const struct route *rt;
	char allow[128];
	int allowed = 0, path_public = 0, is_api, need_auth;

	a->nrequests++;
	if (r->method == M_OPTIONS) {
		app_preflight(r, resp);
		r->route = NULL;
		resp->rate_counted = 1;		/* not counted */
		return -1;
	}
	is_api = r->nsegs > 0 && strcmp(r->segs[0], "api") == 0;
	rt = route_match(r, &allowed, &path_public);
	r->route = rt;
	if (rt != NULL)
		need_auth = !(rt->flags & (R_PUBLIC | R_OPTAUTH));
	else
		need_auth = is_api && !path_public;
	if (need_auth && authn_request(a, r, resp) == -1)
		return -1;
	if (rt == NULL) {
		if (allowed) {
			route_allow_header(allowed, allow, sizeof(allow));
			reply_error(resp, 0, "METHOD_NOT_ALLOWED",
			    "Method %s not allowed on this path",
			    r->method_str);
			reply_header(resp, "Allow", "%s", allow);
		} else
			reply_error(resp, 0, "NOT_FOUND", "Endpoint not found");
		return -1;
	}
	if ((rt->flags & R_ADMIN) && strcmp(r->role, "admin") != 0) {
		reply_error(resp, 0, "INSUFFICIENT_PERMISSIONS",
		    "Admin role required");
		return -1;
	}
	return 0;
}

void
app_run(struct app *a, struct request *r, struct response *resp)
{
	const struct route *rt = r->route;

	if (request_parse_body(r, resp) == -1)
		return;
	if ((rt->flags & R_DEVICE) && request_device(r, resp) == -1)
		return;
	rt->fn(a, r, resp, rt);
}

void
app_end(struct app *a, struct request *r, struct response *resp)
{
	const struct route *rt = r->route;

	if (!resp->rate_counted && !(rt != NULL && (rt->flags & R_NORATE)))
		app_rate_check(a, r, resp, 1);
	if (resp->status >= 100 && resp->status < 600)
		a->nstatus[resp->status]++;
}

void
app_handle(struct app *a, struct request *r, struct response *resp)
{
	if (app_begin(a, r, resp) == 0)
		app_run(a, r, resp);
	app_end(a, r, resp);
}
