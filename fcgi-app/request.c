/*
 * request.c - a FastCGI request as the handlers see it: method, path split
 * into decoded segments, query parameters, headers (CGI HTTP_*), content
 * length and the parsed body, the client address and the device hash.
 * Tolerates how nginx, lighttpd and Apache mod_proxy_fcgi fill REQUEST_URI,
 * DOCUMENT_URI, SCRIPT_NAME and PATH_INFO.  Everything is capped; a
 * malformed request gets a 4xx here and never reaches a handler.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fcgi.h"
#include "log.h"
#include "xmalloc.h"

static const struct {
	const char	*name;
	int		 m;
} request_methods[] = {
	{ "GET", M_GET }, { "POST", M_POST }, { "PUT", M_PUT },
	{ "DELETE", M_DELETE }, { "PATCH", M_PATCH }, { "HEAD", M_HEAD },
	{ "OPTIONS", M_OPTIONS },
};

int
request_method_from(const char *s)
{
	size_t i;

	for (i = 0; s && i < sizeof(request_methods) /
	    sizeof(request_methods[0]); i++)
		if (strcmp(s, request_methods[i].name) == 0)
			return request_methods[i].m;
	return 0;
}

const char *
request_method_name(int m)
{
	size_t i;

	for (i = 0; i < sizeof(request_methods) / sizeof(request_methods[0]);
	    i++)
		if (request_methods[i].m == m)
			return request_methods[i].name;
	return "?";
}

void
request_init(struct request *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 0);
	r->content_length = -1;
}

void
request_reset(struct request *r)
{
	struct buf body = r->body;
	struct json_tokener *tok = r->tok;

	json_object_put(r->json);
	if (body.cap > 1024 * 1024)
		buf_free(&body);	/* keep no upload-sized buffer around */
	buf_reset(&body);
	memset(r, 0, sizeof(*r));
	r->body = body;
	r->tok = tok;
	r->content_length = -1;
}

void
request_free(struct request *r)
{
	request_reset(r);
	buf_free(&r->body);
	if (r->tok != NULL)
		json_tokener_free(r->tok);
	r->tok = NULL;
}

const char *
request_env(const struct request *r, const char *name)
{
	size_t nl = strlen(name);
	char **e;

	if (r->env == NULL)
		return NULL;
	for (e = r->env; *e; e++)
		if (strncmp(*e, name, nl) == 0 && (*e)[nl] == '=')
			return *e + nl + 1;
	return NULL;
}

/* Header by its HTTP name ("x-instance-id" -> HTTP_X_INSTANCE_ID). */
const char *
request_header(const struct request *r, const char *name)
{
	char cgi[128];
	size_t i, o = 0;

	o = (size_t)snprintf(cgi, sizeof(cgi), "HTTP_");
	for (i = 0; name[i] && o + 1 < sizeof(cgi); i++)
		cgi[o++] = name[i] == '-' ? '_' :
		    (char)toupper((unsigned char)name[i]);
	cgi[o] = '\0';
	return request_env(r, cgi);
}

const char *
request_query(const struct request *r, const char *key)
{
	int i;

	for (i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].key, key) == 0)
			return r->query[i].val;
	return NULL;
}

int
request_accepts(const struct request *r, const char *mime)
{
	const char *a = request_env(r, "HTTP_ACCEPT");

	return a != NULL && strcasestr(a, mime) != NULL;
}

static int
request_addr_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= REQ_ADDR_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != ':')
			return 0;
	return 1;
}

static int
request_trusted(const char *trusted, const char *a, size_t alen)
{
	const char *p = trusted, *c;
	size_t l;

	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		c = strchr(p, ',');
		l = c ? (size_t)(c - p) : strlen(p);
		while (l > 0 && p[l - 1] == ' ')
			l--;
		if (l > 0 && l == alen && strncmp(p, a, l) == 0)
			return 1;
		p = c;
	}
	return 0;
}

void
request_client_addr(const char *remote, const char *xff, const char *trusted,
    char *out, size_t outlen)
{
	char copy[1024], *hops[32], *p, *h;
	int n = 0, i;
	size_t l;

	snprintf(out, outlen, "%s", remote && *remote ? remote : "unknown");
	if (remote == NULL || xff == NULL || trusted == NULL || !*trusted ||
	    !request_trusted(trusted, remote, strlen(remote)) ||
	    strlen(xff) >= sizeof(copy))
		return;
	memcpy(copy, xff, strlen(xff) + 1);
	for (p = copy; p != NULL && n < 32;) {
		h = strsep(&p, ",");
		while (*h == ' ' || *h == '\t')
			h++;
		l = strlen(h);
		while (l > 0 && (h[l - 1] == ' ' || h[l - 1] == '\t'))
			h[--l] = '\0';
		hops[n++] = h;
	}
	/* Right to left: the first hop that is not a trusted proxy. */
	for (i = n - 1; i >= 0; i--) {
		l = strlen(hops[i]);
		if (!request_addr_ok(hops[i], l))
			return;
		if (!request_trusted(trusted, hops[i], l)) {
			snprintf(out, outlen, "%s", hops[i]);
			return;
		}
	}
}

static int
request_is_loopback(const char *a)
{
	return a != NULL && (strncmp(a, "127.", 4) == 0 ||
	    strcmp(a, "::1") == 0 || strncmp(a, "::ffff:127.", 11) == 0);
}

/* Split the raw path into decoded segments. */
static int
request_split(struct request *r)
{
	char *p, *s;
	size_t l;

	memcpy(r->segbuf, r->path, strlen(r->path) + 1);
	r->nsegs = 0;
	for (p = r->segbuf; p != NULL;) {
		s = strsep(&p, "/");
		if (*s == '\0')
			continue;
		if (r->nsegs >= REQ_SEGS_MAX)
			return -1;
		l = form_pct_decode(s, strlen(s), 0);
		if (l == (size_t)-1 || memchr(s, '/', l) != NULL ||
		    !form_utf8_valid(s, l) ||
		    strcmp(s, "..") == 0 || strcmp(s, ".") == 0)
			return -1;
		r->segs[r->nsegs++] = s;
	}
	return 0;
}

int
request_begin(struct request *r, char **env, size_t body_max,
    size_t upload_max, const char *trusted, struct response *resp)
{
	const char *uri, *q = NULL, *cl, *sn, *pi, *remote;
	size_t plen;
	char *end;
	long long v;
	int n;

	r->env = env;
	r->method_str = request_env(r, "REQUEST_METHOD");
	if (r->method_str == NULL)
		r->method_str = "GET";
	r->method = request_method_from(r->method_str);

	/* Path: REQUEST_URI (raw), else DOCUMENT_URI, else SCRIPT_NAME +
	 * PATH_INFO (Apache may put the path in either). */
	uri = request_env(r, "REQUEST_URI");
	if (uri != NULL && *uri != '\0') {
		if (strncasecmp(uri, "http://", 7) == 0 ||
		    strncasecmp(uri, "https://", 8) == 0) {
			const char *h = strstr(uri, "://") + 3;

			uri = strchr(h, '/');
			if (uri == NULL)
				uri = "/";
		}
		q = strchr(uri, '?');
		plen = q ? (size_t)(q - uri) : strlen(uri);
		if (plen >= sizeof(r->path))
			goto toolong;
		memcpy(r->path, uri, plen);
		r->path[plen] = '\0';
		if (q != NULL)
			q++;
	} else if ((uri = request_env(r, "DOCUMENT_URI")) != NULL &&
	    *uri != '\0') {
		if (strlen(uri) >= sizeof(r->path))
			goto toolong;
		snprintf(r->path, sizeof(r->path), "%s", uri);
	} else {
		sn = request_env(r, "SCRIPT_NAME");
		pi = request_env(r, "PATH_INFO");
		if ((size_t)snprintf(r->path, sizeof(r->path), "%s%s",
		    sn ? sn : "", pi ? pi : "") >= sizeof(r->path))
			goto toolong;
		if (r->path[0] == '\0')
			snprintf(r->path, sizeof(r->path), "/");
	}
	if (request_split(r) == -1) {
		reply_error(resp, 0, "INVALID_PATH", "Malformed request path");
		return -1;
	}

	r->query_string = request_env(r, "QUERY_STRING");
	if (r->query_string == NULL)
		r->query_string = q ? q : "";
	if (strlen(r->query_string) > REQ_QUERY_MAX) {
		reply_error(resp, 0, "URI_TOO_LONG", "Query string too long");
		return -1;
	}
	memcpy(r->qbuf, r->query_string, strlen(r->query_string) + 1);
	if ((n = form_parse_query(r->qbuf, r->query, REQ_KV_MAX)) == -1) {
		reply_error(resp, 0, "INVALID_QUERY", "Malformed query string");
		return -1;
	}
	r->nquery = n;
	for (n = 0; n < r->nquery; n++)
		if (!form_utf8_valid(r->query[n].key, strlen(r->query[n].key)) ||
		    !form_utf8_valid(r->query[n].val, r->query[n].vallen)) {
			reply_error(resp, 0, "INVALID_QUERY",
			    "Query string is not UTF-8");
			return -1;
		}

	r->content_type = request_env(r, "CONTENT_TYPE");
	if (r->content_type != NULL && *r->content_type == '\0')
		r->content_type = NULL;
	r->body_max = body_max;
	if (r->content_type != NULL && strncasecmp(r->content_type,
	    "multipart/form-data", 19) == 0)
		r->body_max = upload_max;
	cl = request_env(r, "CONTENT_LENGTH");
	if (cl == NULL || *cl == '\0') {
		r->content_length = -1;
		if (request_env(r, "HTTP_TRANSFER_ENCODING") != NULL) {
			reply_error(resp, 0, "LENGTH_REQUIRED",
			    "Content-Length required");
			return -1;
		}
	} else {
		errno = 0;
		v = strtoll(cl, &end, 10);
		if (errno || *end != '\0' || v < 0 || !isdigit((unsigned
		    char)*cl)) {
			reply_error(resp, 0, "INVALID_CONTENT_LENGTH",
			    "Malformed Content-Length");
			return -1;
		}
		r->content_length = v;
		if ((unsigned long long)v > r->body_max) {
			reply_error(resp, 0, "PAYLOAD_TOO_LARGE",
			    "Request body larger than %zu bytes", r->body_max);
			return -1;
		}
	}

	remote = request_env(r, "REMOTE_ADDR");
	request_client_addr(remote, request_header(r, "x-forwarded-for"),
	    trusted, r->addr, sizeof(r->addr));
	/* The client, not a trusted proxy that happens to be local. */
	r->loopback = request_is_loopback(r->addr);
	return 0;
toolong:
	reply_error(resp, 0, "URI_TOO_LONG", "Request path too long");
	return -1;
}

static int
request_is_json_type(const char *ct)
{
	const char *semi;
	size_t l;

	if (ct == NULL)
		return 1;
	semi = strchr(ct, ';');
	l = semi ? (size_t)(semi - ct) : strlen(ct);
	while (l > 0 && ct[l - 1] == ' ')
		l--;
	if ((l == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	    (l == 10 && strncasecmp(ct, "text/plain", 10) == 0))
		return 1;
	return l > 5 && strncasecmp(ct + l - 5, "+json", 5) == 0;
}

int
request_parse_body(struct request *r, struct response *resp)
{
	struct json_tokener *tok;
	const char *why = NULL;
	json_object *o;
	size_t end;

	json_object_put(r->json);
	r->json = NULL;
	if (r->body.len == 0)
		return 0;
	if (r->content_type != NULL && strncasecmp(r->content_type,
	    "application/x-www-form-urlencoded", 33) == 0) {
		if (form_urlencoded_json((const char *)r->body.data,
		    r->body.len, &r->json) == -1) {
			reply_error(resp, 0, "INVALID_FORM",
			    "Malformed urlencoded body");
			return -1;
		}
		return 0;
	}
	if (r->content_type != NULL && strncasecmp(r->content_type,
	    "multipart/form-data", 19) == 0) {
		if (form_multipart_json(r->body.data, r->body.len,
		    r->content_type, &r->json, &why) == -1) {
			reply_error(resp, 0, "INVALID_MULTIPART", "%s", why);
			return -1;
		}
		return 0;
	}
	if (!request_is_json_type(r->content_type)) {
		reply_error(resp, 0, "UNSUPPORTED_MEDIA_TYPE",
		    "Unsupported Content-Type");
		return -1;
	}
	if (r->body.len > INT32_MAX) {
		reply_error(resp, 0, "PAYLOAD_TOO_LARGE", "Body too large");
		return -1;
	}
	/* the request's own (its thread's): a tokener is not shared */
	if (r->tok == NULL &&
	    (r->tok = json_tokener_new_ex(REQ_JSON_DEPTH)) == NULL) {
		reply_error(resp, 500, "INTERNAL_ERROR", "out of memory");
		return -1;
	}
	tok = r->tok;
	json_tokener_reset(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, (const char *)r->body.data,
	    (int)r->body.len);
	end = json_tokener_get_parse_end(tok);
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);	/* end of input */
		end = r->body.len;
	}
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		reply_error(resp, 0, "INVALID_JSON", "Malformed JSON body");
		return -1;
	}
	/* Only whitespace may follow the value. */
	for (; end < r->body.len; end++)
		if (!isspace(r->body.data[end])) {
			json_object_put(o);
			reply_error(resp, 0, "INVALID_JSON",
			    "Trailing data after the JSON body");
			return -1;
		}
	if (o == NULL)		/* JSON null: no body */
		return 0;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		reply_error(resp, 0, "VALIDATION_ERROR",
		    "Request body must be a JSON object");
		return -1;
	}
	r->json = o;
	return 0;
}

int
request_valid_device_hash(const char *s)
{
	int i;

	if (s == NULL)
		return 0;
	for (i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[16] == '\0';
}

int
request_device(struct request *r, struct response *resp)
{
	const char *h = request_header(r, "x-instance-id");
	json_object *v;

	if (h == NULL)
		h = request_header(r, "devicehash");
	if (h == NULL)
		h = request_query(r, "deviceHash");
	if (h == NULL && r->json != NULL &&
	    json_object_object_get_ex(r->json, "deviceHash", &v)) {
		if (!json_object_is_type(v, json_type_string)) {
			reply_error(resp, 0, "INVALID_DEVICE_HASH",
			    "deviceHash must be 16 lowercase hex characters");
			return -1;
		}
		h = json_object_get_string(v);
	}
	if (h == NULL || *h == '\0') {
		reply_error(resp, 0, "MISSING_DEVICE_HASH",
		    "deviceHash is required (header x-instance-id or "
		    "deviceHash, query or body deviceHash)");
		return -1;
	}
	if (!request_valid_device_hash(h)) {
		reply_error(resp, 0, "INVALID_DEVICE_HASH",
		    "deviceHash must be 16 lowercase hex characters");
		return -1;
	}
	memcpy(r->device, h, 17);
	return 0;
}

int
request_json_str(struct request *r, struct response *resp, const char *key,
    const char **out)
{
	json_object *v;

	*out = NULL;
	if (r->json == NULL || !json_object_object_get_ex(r->json, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		reply_error(resp, 0, "VALIDATION_ERROR",
		    "%s: must be a string", key);
		return -1;
	}
	*out = json_object_get_string(v);
	return 0;
}

static int
request_str_bool(const char *s, int *out)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0)
		*out = 1;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
	    strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0 || !*s)
		*out = 0;
	else
		return -1;
	return 0;
}

int
request_json_bool(struct request *r, struct response *resp, const char *key,
    int *out)
{
	json_object *v;

	*out = -1;
	if (r->json == NULL || !json_object_object_get_ex(r->json, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_boolean)) {
		*out = json_object_get_boolean(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string) &&
	    request_str_bool(json_object_get_string(v), out) == 0)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v) != 0;
		return 0;
	}
	reply_error(resp, 0, "VALIDATION_ERROR", "%s: must be a boolean", key);
	return -1;
}

int
request_param_bool(struct request *r, struct response *resp,
    const char *key, int *out)
{
	const char *q;

	if (request_json_bool(r, resp, key, out) == -1)
		return -1;
	if (*out != -1)
		return 0;
	if ((q = request_query(r, key)) == NULL)
		return 0;
	if (request_str_bool(q, out) == -1) {
		reply_error(resp, 0, "VALIDATION_ERROR",
		    "%s: must be a boolean", key);
		return -1;
	}
	return 0;
}
