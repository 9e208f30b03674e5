/*
 * api-service.c - what the gateway says about itself: GET / (service
 * descriptor), /api/openapi.json (OpenAPI 3.1 generated once per worker
 * from the route table, so the document cannot drift from the routes),
 * /docs (a plain route list) and /metrics (Prometheus text, this worker's
 * counters; loopback or authenticated only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"
#include "xmalloc.h"

void
api_service_root(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	char when[40];

	reply_iso8601((long)time(NULL), when, sizeof(when));
	buf_reset(&resp->body);
	buf_printf(&resp->body, "{\"name\":\"WhatsApp Multi-Platform API "
	    "Gateway\",\"version\":\"%s\",\"status\":\"running\","
	    "\"timestamp\":\"%s\",\"endpoints\":{\"health\":\"/api/health\","
	    "\"devices\":\"/api/devices\",\"auth\":\"/api/auth\","
	    "\"proxy\":\"/api/* (app, send, user, message, chat, group, "
	    "newsletter)\",\"docs\":\"/docs\",\"metrics\":\"/metrics\"},"
	    "\"links\":{\"documentation\":\"/docs\",\"openapi_json\":"
	    "\"/api/openapi.json\"}}", FCGI_VERSION, when);
	resp->status = 200;
}

void
api_service_metrics(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	struct buf *b = &resp->body;
	int i;

	if (!r->loopback) {
		if (authn_request(a, r, resp) == -1)
			return;
		if (app_rate_check(a, r, resp, 1) == -1)
			return;
	}
	buf_reset(b);
	buf_puts(b, "# HELP fcgi_requests_total HTTP requests answered by "
	    "this worker, by status.\n# TYPE fcgi_requests_total counter\n");
	for (i = 100; i < 600; i++)
		if (a->nstatus[i])
			buf_printf(b, "fcgi_requests_total{worker=\"%d\","
			    "status=\"%d\"} %lu\n", a->worker, i,
			    a->nstatus[i]);
	buf_printf(b, "fcgi_requests_total{worker=\"%d\",status=\"all\"} "
	    "%lu\n", a->worker, a->nrequests);
	buf_printf(b, "# HELP fcgi_worker_uptime_seconds Seconds since this "
	    "worker started.\n# TYPE fcgi_worker_uptime_seconds gauge\n"
	    "fcgi_worker_uptime_seconds{worker=\"%d\"} %ld\n", a->worker,
	    (long)time(NULL) - a->started);
	resp->status = 200;
	resp->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

static json_object *
api_service_error(void)
{
	json_object *s = json_object_new_object(), *p, *t;
	const char *names[] = { "success", "code", "message", "error" };
	size_t i;

	json_object_object_add(s, "type", json_object_new_string("object"));
	p = json_object_new_object();
	for (i = 0; i < 4; i++) {
		t = json_object_new_object();
		json_object_object_add(t, "type", json_object_new_string(
		    i == 0 ? "boolean" : "string"));
		json_object_object_add(p, names[i], t);
	}
	json_object_object_add(s, "properties", p);
	return s;
}

static json_object *
api_service_param(const char *name, const char *in, int required)
{
	json_object *p = json_object_new_object(), *s;

	json_object_object_add(p, "name", json_object_new_string(name));
	json_object_object_add(p, "in", json_object_new_string(in));
	json_object_object_add(p, "required",
	    json_object_new_boolean(required));
	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string("string"));
	if (strcmp(name, "deviceHash") == 0)
		json_object_object_add(s, "pattern",
		    json_object_new_string("^[0-9a-f]{16}$"));
	json_object_object_add(p, "schema", s);
	return p;
}

/* Query parameters the handlers (or GOWA's device API) read, by route. */
static const struct {
	int		 methods;
	const char	*pattern;
	const char	*params;	/* space separated; '!' = required */
} api_service_queries[] = {
	{ M_GET, "/api/devices", "status limit offset" },
	{ M_DELETE, "/api/devices", "force" },
	{ M_GET, "/api/app/login", "format" },
	{ M_GET, "/api/login", "format" },
	{ M_GET, "/api/app/login-with-code", "!phone" },
	{ M_GET, "/api/user/info", "!phone" },
	{ M_GET, "/api/user/avatar", "!phone is_preview is_community" },
	{ M_GET, "/api/user/check", "!phone" },
	{ M_GET, "/api/user/business-profile", "!phone" },
	{ M_GET, "/api/group/info-from-link", "!link" },
	{ M_GET, "/api/group/info", "!group_id" },
	{ M_GET, "/api/group/participants", "!group_id" },
	{ M_GET, "/api/group/participants/export", "!group_id" },
	{ M_GET, "/api/group/participant-requests", "!group_id" },
	{ M_GET, "/api/group/invite-link", "!group_id reset" },
	{ M_GET, "/api/chats", "limit offset search has_media" },
	{ M_GET, "/api/chat/:chat_jid/messages", "limit offset start_time "
	    "end_time media_only is_from_me search" },
	{ M_GET, "/api/message/:message_id/download", "!phone" },
};

static void
api_service_queries_add(json_object *a, const struct route *rt,
    const char *method)
{
	char name[64];
	const char *p;
	size_t i, l;
	int m = strcmp(method, "get") == 0 ? M_GET : strcmp(method,
	    "delete") == 0 ? M_DELETE : 0;

	for (i = 0; i < sizeof(api_service_queries) /
	    sizeof(api_service_queries[0]); i++) {
		if (!(api_service_queries[i].methods & m) ||
		    strcmp(api_service_queries[i].pattern, rt->pattern) != 0)
			continue;
		for (p = api_service_queries[i].params; *p; p += l) {
			while (*p == ' ')
				p++;
			l = strcspn(p, " ");
			if (l == 0)
				break;
			snprintf(name, sizeof(name), "%.*s", (int)(l -
			    (*p == '!')), p + (*p == '!'));
			json_object_array_add(a, api_service_param(name,
			    "query", *p == '!'));
		}
	}
}

static json_object *
api_service_op(const struct route *rt, const char *method, const char *path)
{
	json_object *op = json_object_new_object(), *a, *rs, *x, *sec;
	char opid[256];
	const char *p;
	size_t o = 0;

	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string(rt->tag));
	json_object_object_add(op, "tags", a);
	json_object_object_add(op, "summary",
	    json_object_new_string(rt->summary));
	o = (size_t)snprintf(opid, sizeof(opid), "%s", method);
	for (p = path; *p && o + 1 < sizeof(opid); p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'))
			opid[o++] = *p;
		else if (o && opid[o - 1] != '_')
			opid[o++] = '_';
	opid[o] = '\0';
	json_object_object_add(op, "operationId", json_object_new_string(opid));
	a = json_object_new_array();
	for (p = rt->pattern; (p = strchr(p, ':')) != NULL;) {
		char name[64];
		size_t l = strcspn(p + 1, "/");

		snprintf(name, sizeof(name), "%.*s", (int)l, p + 1);
		json_object_array_add(a, api_service_param(name, "path", 1));
		p += l + 1;
	}
	if (rt->flags & R_DEVICE) {
		json_object_array_add(a, api_service_param("deviceHash",
		    "header", 0));
		json_object_array_add(a, api_service_param("x-instance-id",
		    "header", 0));
	}
	if (strncmp(rt->pattern, "/api/send/", 10) == 0)
		json_object_array_add(a, api_service_param("Idempotency-Key",
		    "header", 0));
	api_service_queries_add(a, rt, method);
	json_object_object_add(op, "parameters", a);
	if (strcmp(method, "post") == 0 || strcmp(method, "put") == 0) {
		x = json_object_new_object();
		json_object_object_add(x, "required",
		    json_object_new_boolean(0));
		rs = json_object_new_object();
		json_object_object_add(rs, "application/json",
		    json_object_new_object());
		json_object_object_add(rs, "application/x-www-form-urlencoded",
		    json_object_new_object());
		json_object_object_add(rs, "multipart/form-data",
		    json_object_new_object());
		json_object_object_add(x, "content", rs);
		json_object_object_add(op, "requestBody", x);
	}
	rs = json_object_new_object();
	x = json_object_new_object();
	json_object_object_add(x, "description", json_object_new_string(
	    "Success"));
	json_object_object_add(rs, strcmp(rt->pattern, "/api/devices") == 0 &&
	    strcmp(method, "post") == 0 ? "201" : "200", x);
	x = json_object_new_object();
	json_object_object_add(x, "description", json_object_new_string(
	    "Error"));
	sec = json_object_new_object();
	a = json_object_new_object();
	json_object_object_add(a, "$ref", json_object_new_string(
	    "#/components/schemas/Error"));
	json_object_object_add(sec, "schema", a);
	a = json_object_new_object();
	json_object_object_add(a, "application/json", sec);
	json_object_object_add(x, "content", a);
	json_object_object_add(rs, "default", x);
	json_object_object_add(op, "responses", rs);
	if (rt->flags & R_PUBLIC)
		json_object_object_add(op, "security", json_object_new_array());
	return op;
}

char *
api_service_openapi_build(void)
{
	static const struct {
		int		 m;
		const char	*name;
	} ms[] = {
		{ M_GET, "get" }, { M_POST, "post" }, { M_PUT, "put" },
		{ M_DELETE, "delete" }, { M_PATCH, "patch" },
	};
	json_object *doc = json_object_new_object(), *info, *paths, *item;
	json_object *comp, *sch, *a, *s;
	char path[512];
	const char *p;
	size_t k, i, o;
	char *out;

	json_object_object_add(doc, "openapi", json_object_new_string("3.1.0"));
	info = json_object_new_object();
	json_object_object_add(info, "title", json_object_new_string(
	    "WhatsApp Multi-Platform API Gateway"));
	json_object_object_add(info, "version",
	    json_object_new_string(FCGI_VERSION));
	json_object_object_add(info, "license", s = json_object_new_object());
	json_object_object_add(s, "name", json_object_new_string("MIT"));
	json_object_object_add(s, "identifier", json_object_new_string("MIT"));
	json_object_object_add(doc, "info", info);
	paths = json_object_new_object();
	for (k = 0; k < route_count; k++) {
		const struct route *rt = &route_table[k];

		for (p = rt->pattern, o = 0; *p && o + 2 < sizeof(path); p++) {
			if (*p == ':') {
				size_t l = strcspn(p + 1, "/");

				if (o + l + 3 >= sizeof(path))
					break;
				path[o++] = '{';
				memcpy(path + o, p + 1, l);
				o += l;
				path[o++] = '}';
				p += l;
			} else
				path[o++] = *p;
		}
		path[o] = '\0';
		if (!json_object_object_get_ex(paths, path, &item)) {
			item = json_object_new_object();
			json_object_object_add(paths, path, item);
		}
		for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
			if (rt->methods & ms[i].m)
				json_object_object_add(item, ms[i].name,
				    api_service_op(rt, ms[i].name, path));
	}
	json_object_object_add(doc, "paths", paths);
	comp = json_object_new_object();
	sch = json_object_new_object();
	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string("http"));
	json_object_object_add(s, "scheme", json_object_new_string("bearer"));
	json_object_object_add(s, "bearerFormat",
	    json_object_new_string("JWT"));
	json_object_object_add(sch, "bearerAuth", s);
	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string("http"));
	json_object_object_add(s, "scheme", json_object_new_string("basic"));
	json_object_object_add(sch, "basicAuth", s);
	json_object_object_add(comp, "securitySchemes", sch);
	s = json_object_new_object();
	json_object_object_add(s, "Error", api_service_error());
	json_object_object_add(comp, "schemas", s);
	json_object_object_add(doc, "components", comp);
	a = json_object_new_array();
	s = json_object_new_object();
	json_object_object_add(s, "bearerAuth", json_object_new_array());
	json_object_array_add(a, s);
	s = json_object_new_object();
	json_object_object_add(s, "basicAuth", json_object_new_array());
	json_object_array_add(a, s);
	json_object_object_add(doc, "security", a);
	out = xstrdup(json_object_to_json_string_ext(doc,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(doc);
	return out;
}

void
api_service_openapi(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	if (a->openapi == NULL)
		a->openapi = api_service_openapi_build();
	reply_raw(resp, 200, rt->arg != NULL ? "application/yaml" : NULL,
	    a->openapi, strlen(a->openapi));
}

void
api_service_docs(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	struct buf *b = &resp->body;
	char allow[128];
	size_t k;

	buf_reset(b);
	buf_puts(b, "<!doctype html><html><head><meta charset=\"utf-8\">"
	    "<title>API Gateway routes</title></head><body>"
	    "<h1>WhatsApp Multi-Platform API Gateway</h1>"
	    "<p>OpenAPI 3.1: <a href=\"/api/openapi.json\">/api/openapi.json"
	    "</a></p><table><tr><th>Methods</th><th>Path</th><th>Auth</th>"
	    "<th>Summary</th></tr>");
	for (k = 0; k < route_count; k++) {
		route_allow_header(route_table[k].methods & ~M_HEAD, allow,
		    sizeof(allow));
		buf_printf(b, "<tr><td>%s</td><td><code>%s</code></td>"
		    "<td>%s</td><td>%s</td></tr>", allow,
		    route_table[k].pattern, route_table[k].flags & R_PUBLIC ?
		    "public" : "Bearer / Basic", route_table[k].summary);
	}
	buf_puts(b, "</table></body></html>");
	resp->status = 200;
	resp->ctype = "text/html; charset=utf-8";
}
