/*
 * test_fcgi.c - fcgi-app parsers and tables without FastCGI or devmgr:
 * route matching (params, 404, 405/Allow), the error table and shape,
 * device-hash validation, request paths from nginx/lighttpd/Apache CGI
 * variables, content-length checks, query/urlencoded/multipart parsing
 * (incl. malformed), JSON bodies, Basic headers, X-Forwarded-For, rate
 * headers and the QR PNG.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <unistd.h>

#include "t.h"
#include "fcgi.h"
#include "log.h"

/* A request from NULL-terminated "NAME=VALUE" strings. */
static int
mkreq(struct request *r, struct response *resp, char **env)
{
	request_init(r);
	reply_init(resp);
	return request_begin(r, env, 1000, 5000, "10.0.0.1,10.0.0.2", resp);
}

static void
endreq(struct request *r, struct response *resp)
{
	request_free(r);
	reply_free(resp);
}

static const char *
body(struct response *resp)
{
	return buf_cstr(&resp->body);
}

static void
test_route_match(void)
{
	struct request r;
	struct response resp;
	const struct route *rt;
	int allowed, pub;
	char allow[64];
	char *e1[] = { "REQUEST_METHOD=POST",
	    "REQUEST_URI=/api/message/ABC%2D1/reaction?x=1", NULL };
	char *e2[] = { "REQUEST_METHOD=DELETE",
	    "REQUEST_URI=/api/devices/info", NULL };
	char *e3[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/api/nothing/here",
	    NULL };
	char *e4[] = { "REQUEST_METHOD=HEAD", "REQUEST_URI=/api/health/",
	    NULL };
	char *e5[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/", NULL };
	char *e6[] = { "REQUEST_METHOD=GET",
	    "REQUEST_URI=/api//group/participants/export", NULL };
	char *e7[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/health",
	    NULL };

	T_EQ_INT(mkreq(&r, &resp, e1), 0, "request parsed");
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt && strcmp(rt->pattern, "/api/message/:message_id/reaction")
	    == 0, "param route matched");
	T_EQ_INT(r.nparams, 1, "one param");
	T_EQ_STR(r.params[0], "ABC-1", "param decoded");
	endreq(&r, &resp);

	mkreq(&r, &resp, e2);
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt == NULL && allowed == M_GET && !pub, "405: GET allowed only");
	route_allow_header(allowed, allow, sizeof(allow));
	T_EQ_STR(allow, "GET, HEAD", "Allow header");
	endreq(&r, &resp);

	mkreq(&r, &resp, e3);
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt == NULL && allowed == 0, "404: unknown path");
	endreq(&r, &resp);

	mkreq(&r, &resp, e4);
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt && strcmp(rt->pattern, "/api/health") == 0 &&
	    (rt->flags & R_PUBLIC), "HEAD matches GET, trailing slash ok");
	endreq(&r, &resp);

	mkreq(&r, &resp, e5);
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt && rt->fn == api_service_root, "root");
	endreq(&r, &resp);

	mkreq(&r, &resp, e6);
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt && (rt->methods & M_POST) && (rt->methods & M_GET),
	    "export accepts GET and POST");
	endreq(&r, &resp);

	mkreq(&r, &resp, e7);
	rt = route_match(&r, &allowed, &pub);
	T_OK(rt == NULL && allowed == M_GET && pub, "405 on a public path");
	endreq(&r, &resp);
}

static void
test_route_table_sane(void)
{
	size_t i, j;
	int dup = 0, nodev = 0;

	for (i = 0; i < route_count; i++) {
		for (j = i + 1; j < route_count; j++)
			if (strcmp(route_table[i].pattern,
			    route_table[j].pattern) == 0 &&
			    (route_table[i].methods & route_table[j].methods))
				dup++;
		if (route_table[i].fn == api_proxy_call &&
		    !(route_table[i].flags & R_DEVICE))
			nodev++;
	}
	T_EQ_INT(dup, 0, "no route twice with the same method");
	T_EQ_INT(nodev, 0, "every device call needs a device hash");
	T_OK(route_count > 80, "all routes present (%zu)", route_count);
}

static void
test_error_table(void)
{
	struct response resp;
	json_object *o, *v;

	T_EQ_INT(reply_status_of("INVALID_JSON"), 400, "INVALID_JSON 400");
	T_EQ_INT(reply_status_of("INVALID_TOKEN"), 401, "INVALID_TOKEN 401");
	T_EQ_INT(reply_status_of("METHOD_NOT_ALLOWED"), 405, "405");
	T_EQ_INT(reply_status_of("PAYLOAD_TOO_LARGE"), 413, "413");
	T_EQ_INT(reply_status_of("RATE_LIMIT_EXCEEDED"), 429, "429");
	T_EQ_INT(reply_status_of("SERVICE_UNAVAILABLE"), 503, "503");
	T_EQ_INT(reply_status_of("DEVICE_TIMEOUT"), 504, "504");
	T_EQ_INT(reply_status_of("DEVICE_NOT_RUNNING"), 409, "409");
	T_EQ_INT(reply_status_of("NO_SUCH_CODE"), 500, "unknown -> 500");
	reply_init(&resp);
	reply_error(&resp, 0, "VALIDATION_ERROR", "phone: \"bad\"\n");
	T_EQ_INT(resp.status, 400, "status from table");
	o = json_tokener_parse(body(&resp));
	T_OK(o != NULL, "error body is JSON");
	T_OK(json_object_object_get_ex(o, "success", &v) &&
	    !json_object_get_boolean(v), "success false");
	T_OK(json_object_object_get_ex(o, "code", &v) &&
	    strcmp(json_object_get_string(v), "VALIDATION_ERROR") == 0, "code");
	T_OK(json_object_object_get_ex(o, "error", &v) &&
	    strcmp(json_object_get_string(v), "VALIDATION_ERROR") == 0,
	    "error = code");
	T_OK(json_object_object_get_ex(o, "message", &v) &&
	    strcmp(json_object_get_string(v), "phone: \"bad\"\n") == 0,
	    "message escaped and round-trips");
	json_object_put(o);
	reply_free(&resp);
}

static void
test_device_hash(void)
{
	T_OK(request_valid_device_hash("0123456789abcdef"), "valid");
	T_OK(!request_valid_device_hash("0123456789ABCDEF"), "upper refused");
	T_OK(!request_valid_device_hash("0123456789abcde"), "short refused");
	T_OK(!request_valid_device_hash("0123456789abcdef0"), "long refused");
	T_OK(!request_valid_device_hash("0123456789abcdeg"), "non-hex");
	T_OK(!request_valid_device_hash("../../etc/passwd"), "path refused");
	T_OK(!request_valid_device_hash(""), "empty refused");
	T_OK(!request_valid_device_hash(NULL), "NULL refused");
}

static void
test_device_select(void)
{
	struct request r;
	struct response resp;
	char *e1[] = { "REQUEST_URI=/api/app/login",
	    "HTTP_X_INSTANCE_ID=00112233aabbccdd", NULL };
	char *e2[] = { "REQUEST_URI=/api/app/login",
	    "HTTP_DEVICEHASH=00112233AABBCCDD", NULL };
	char *e3[] = { "REQUEST_URI=/api/app/login?deviceHash=aaaaaaaaaaaaaaaa",
	    NULL };
	char *e4[] = { "REQUEST_URI=/api/app/login", NULL };

	mkreq(&r, &resp, e1);
	T_EQ_INT(request_device(&r, &resp), 0, "x-instance-id header");
	T_EQ_STR(r.device, "00112233aabbccdd", "device from header");
	endreq(&r, &resp);
	mkreq(&r, &resp, e2);
	T_EQ_INT(request_device(&r, &resp), -1, "upper-case hash refused");
	T_EQ_INT(resp.status, 400, "400");
	T_OK(strstr(body(&resp), "INVALID_DEVICE_HASH") != NULL, "code");
	endreq(&r, &resp);
	mkreq(&r, &resp, e3);
	T_EQ_INT(request_device(&r, &resp), 0, "query deviceHash");
	endreq(&r, &resp);
	mkreq(&r, &resp, e4);
	r.json = json_tokener_parse("{\"deviceHash\":\"bbbbbbbbbbbbbbbb\"}");
	T_EQ_INT(request_device(&r, &resp), 0, "body deviceHash");
	T_EQ_STR(r.device, "bbbbbbbbbbbbbbbb", "device from body");
	json_object_put(r.json);
	r.json = json_tokener_parse("{\"deviceHash\":12}");
	T_EQ_INT(request_device(&r, &resp), -1, "numeric deviceHash refused");
	json_object_put(r.json);
	r.json = NULL;
	T_EQ_INT(request_device(&r, &resp), -1, "missing");
	T_OK(strstr(body(&resp), "MISSING_DEVICE_HASH") != NULL,
	    "MISSING_DEVICE_HASH");
	endreq(&r, &resp);
}

static void
test_request_paths(void)
{
	struct request r;
	struct response resp;
	/* nginx: raw REQUEST_URI with the query */
	char *ng[] = { "REQUEST_METHOD=GET",
	    "REQUEST_URI=/api/chat/123%40s.whatsapp.net/messages?limit=5",
	    "QUERY_STRING=limit=5", NULL };
	/* Apache mod_proxy_fcgi without REQUEST_URI: encoded SCRIPT_NAME */
	char *ap[] = { "REQUEST_METHOD=GET",
	    "SCRIPT_NAME=/api/chat/123%40g.us", "PATH_INFO=/messages", NULL };
	/* lighttpd with DOCUMENT_URI only */
	char *li[] = { "REQUEST_METHOD=GET", "DOCUMENT_URI=/api/health",
	    NULL };
	char *abs[] = { "REQUEST_URI=http://example.com/api/health?x", NULL };
	char *dots[] = { "REQUEST_URI=/api/../etc/passwd", NULL };
	char *nul[] = { "REQUEST_URI=/api/a%00b", NULL };
	char *slash[] = { "REQUEST_URI=/api/message/a%2Fb/read", NULL };
	char *badq[] = { "REQUEST_URI=/api/health?a=%zz", NULL };
	char *badu[] = { "REQUEST_URI=/api/message/%C0%AF/read", NULL };

	T_EQ_INT(mkreq(&r, &resp, ng), 0, "nginx ok");
	T_EQ_INT(r.nsegs, 4, "4 segments");
	T_EQ_STR(r.segs[2], "123@s.whatsapp.net", "segment decoded");
	T_EQ_STR(request_query(&r, "limit"), "5", "query");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, ap), 0, "apache ok");
	T_EQ_INT(r.nsegs, 4, "apache: 4 segments");
	T_EQ_STR(r.segs[2], "123@g.us", "apache: decoded");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, li), 0, "lighttpd ok");
	T_EQ_STR(r.segs[1], "health", "DOCUMENT_URI used");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, abs), 0, "absolute URI ok");
	T_EQ_STR(r.path, "/api/health", "absolute URI stripped");
	T_EQ_INT(r.nquery, 1, "query from REQUEST_URI");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, dots), -1, "dot-dot refused");
	T_EQ_INT(resp.status, 400, "400 INVALID_PATH");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, nul), -1, "%00 refused");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, slash), -1, "encoded slash refused");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, badu), -1, "non-UTF-8 segment refused");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, badq), -1, "bad query escape refused");
	T_OK(strstr(body(&resp), "INVALID_QUERY") != NULL, "INVALID_QUERY");
	endreq(&r, &resp);
}

static void
test_content_length(void)
{
	struct request r;
	struct response resp;
	char *big[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/send/message",
	    "CONTENT_TYPE=application/json", "CONTENT_LENGTH=1001", NULL };
	char *mp[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/send/file",
	    "CONTENT_TYPE=multipart/form-data; boundary=x",
	    "CONTENT_LENGTH=4000", NULL };
	char *bad[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/api/send/message",
	    "CONTENT_LENGTH=12abc", NULL };
	char *neg[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x",
	    "CONTENT_LENGTH=-5", NULL };
	char *te[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x",
	    "HTTP_TRANSFER_ENCODING=chunked", NULL };
	char *none[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/x",
	    "CONTENT_LENGTH=", NULL };

	T_EQ_INT(mkreq(&r, &resp, big), -1, "over API_BODY_MAX");
	T_EQ_INT(resp.status, 413, "413");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, mp), 0, "multipart uses API_UPLOAD_MAX");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, bad), -1, "malformed length");
	T_EQ_INT(resp.status, 400, "400");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, neg), -1, "negative length");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, te), -1, "chunked without length");
	T_EQ_INT(resp.status, 411, "411");
	endreq(&r, &resp);
	T_EQ_INT(mkreq(&r, &resp, none), 0, "empty length: no body");
	T_EQ_INT(r.content_length, -1, "absent");
	endreq(&r, &resp);
}

static void
test_query_parse(void)
{
	char s1[] = "a=1&b=hello+world&c=%41%42&d&&e=";
	char s2[] = "a=%4";
	char s3[] = "a=%00";
	char s4[] = "=x";
	char many[REQ_KV_MAX * 4 + 16];
	struct kv kv[REQ_KV_MAX];
	int n, i;

	n = form_parse_query(s1, kv, REQ_KV_MAX);
	T_EQ_INT(n, 5, "5 pairs");
	T_EQ_STR(kv[1].val, "hello world", "plus is space");
	T_EQ_STR(kv[2].val, "AB", "percent decoded");
	T_EQ_STR(kv[3].key, "d", "key without value");
	T_EQ_STR(kv[3].val, "", "empty value");
	T_EQ_INT(form_parse_query(s2, kv, REQ_KV_MAX), -1, "truncated escape");
	T_EQ_INT(form_parse_query(s3, kv, REQ_KV_MAX), -1, "encoded NUL");
	T_EQ_INT(form_parse_query(s4, kv, REQ_KV_MAX), -1, "empty key");
	many[0] = '\0';
	for (i = 0; i <= REQ_KV_MAX; i++)
		strncat(many, "a=b&", sizeof(many) - strlen(many) - 1);
	T_EQ_INT(form_parse_query(many, kv, REQ_KV_MAX), -1, "too many");
}

static void
test_urlencoded(void)
{
	json_object *o = NULL, *v;
	const char *s = "phone=628123&view_once=true&duration=30&"
	    "participants=1&participants=2&options[]=x&message=true&"
	    "tag=a&tag=b&compress=maybe";

	T_EQ_INT(form_urlencoded_json(s, strlen(s), &o), 0, "parsed");
	T_OK(json_object_object_get_ex(o, "view_once", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v), "known bool coerced");
	T_OK(json_object_object_get_ex(o, "duration", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int(v) == 30, "known int coerced");
	T_OK(json_object_object_get_ex(o, "participants", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) == 2, "array field");
	T_OK(json_object_object_get_ex(o, "options", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) == 1, "[] suffix makes an array");
	T_OK(json_object_object_get_ex(o, "message", &v) &&
	    json_object_is_type(v, json_type_string), "text stays text");
	T_OK(json_object_object_get_ex(o, "tag", &v) &&
	    json_object_is_type(v, json_type_array), "repeated key -> array");
	T_OK(json_object_object_get_ex(o, "compress", &v) &&
	    json_object_is_type(v, json_type_string),
	    "non-boolean text kept for validation downstream");
	json_object_put(o);
	T_EQ_INT(form_urlencoded_json("a=%G1", 5, &o), -1, "malformed");
	T_EQ_INT(form_urlencoded_json("a=b\0c", 5, &o), -1, "raw NUL");
}

static void
test_multipart(void)
{
	const char ok[] =
	    "preamble\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"phone\"\r\n\r\n"
	    "628123\r\n"
	    "--XyZ\r\n"
	    "Content-Disposition: form-data; name=\"file\"; "
	    "filename=\"a b.bin\"\r\n"
	    "Content-Type: application/pdf\r\n\r\n"
	    "\x00\x01\x02--XyZnot\r\n"
	    "--XyZ\r\n"
	    "content-disposition: form-data; name=\"view_once\"\r\n\r\n"
	    "true\r\n"
	    "--XyZ--\r\n";
	const char unterminated[] =
	    "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxx";
	const char noname[] =
	    "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--";
	const char nodisp[] =
	    "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
	json_object *o = NULL, *f, *v;
	const char *why;
	unsigned char dec[64];
	size_t declen;
	int i;
	char many[MP_PARTS_MAX * 80 + 64];

	T_EQ_INT(form_multipart_json((const uint8_t *)ok, sizeof(ok) - 1,
	    "multipart/form-data; boundary=\"XyZ\"", &o, &why), 0, "parsed");
	T_OK(o && json_object_object_get_ex(o, "phone", &v) &&
	    strcmp(json_object_get_string(v), "628123") == 0, "field");
	T_OK(o && json_object_object_get_ex(o, "view_once", &v) &&
	    json_object_is_type(v, json_type_boolean), "field coerced");
	T_OK(o && json_object_object_get_ex(o, "file", &f) &&
	    json_object_is_type(f, json_type_object), "file part");
	if (o && json_object_object_get_ex(o, "file", &f)) {
		json_object_object_get_ex(f, "filename", &v);
		T_EQ_STR(json_object_get_string(v), "a b.bin", "filename");
		json_object_object_get_ex(f, "mime", &v);
		T_EQ_STR(json_object_get_string(v), "application/pdf", "mime");
		json_object_object_get_ex(f, "data_base64", &v);
		T_OK(sodium_base642bin(dec, sizeof(dec),
		    json_object_get_string(v), strlen(json_object_get_string(v)),
		    NULL, &declen, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
		    declen == 11 && memcmp(dec, "\x00\x01\x02--XyZnot", 11) == 0,
		    "file bytes exact (binary, fake delimiter kept)");
	}
	json_object_put(o);
	T_EQ_INT(form_multipart_json((const uint8_t *)unterminated,
	    sizeof(unterminated) - 1, "multipart/form-data; boundary=XyZ", &o,
	    &why), -1, "unterminated refused");
	T_EQ_INT(form_multipart_json((const uint8_t *)noname,
	    sizeof(noname) - 1, "multipart/form-data; boundary=XyZ", &o,
	    &why), -1, "part without name refused");
	T_EQ_INT(form_multipart_json((const uint8_t *)nodisp,
	    sizeof(nodisp) - 1, "multipart/form-data; boundary=XyZ", &o,
	    &why), -1, "part without disposition refused");
	T_EQ_INT(form_multipart_json((const uint8_t *)ok, sizeof(ok) - 1,
	    "multipart/form-data", &o, &why), -1, "no boundary refused");
	T_EQ_INT(form_multipart_json((const uint8_t *)"", 0,
	    "multipart/form-data; boundary=XyZ", &o, &why), -1, "empty");
	many[0] = '\0';
	for (i = 0; i <= MP_PARTS_MAX; i++)
		strncat(many, "--XyZ\r\nContent-Disposition: form-data; "
		    "name=\"a\"\r\n\r\nx\r\n", sizeof(many) - strlen(many) - 1);
	strncat(many, "--XyZ--", sizeof(many) - strlen(many) - 1);
	T_EQ_INT(form_multipart_json((const uint8_t *)many, strlen(many),
	    "multipart/form-data; boundary=XyZ", &o, &why), -1,
	    "too many parts refused");
}

static void
test_utf8(void)
{
	T_OK(form_utf8_valid("plain", 5), "ascii");
	T_OK(form_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
	    "2, 3 and 4 byte sequences");
	T_OK(!form_utf8_valid("\xff", 1), "0xff");
	T_OK(!form_utf8_valid("\xc0\xaf", 2), "overlong");
	T_OK(!form_utf8_valid("\xed\xa0\x80", 3), "surrogate");
	T_OK(!form_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF");
	T_OK(!form_utf8_valid("\xe2\x82", 2), "truncated");
}

static int
parse_body(const char *ct, const char *b, struct response *resp)
{
	struct request r;
	int rc;

	request_init(&r);
	r.content_type = ct;
	buf_init(&r.body, 1 << 20);
	buf_append(&r.body, b, strlen(b));
	rc = request_parse_body(&r, resp);
	request_free(&r);
	return rc;
}

static void
test_json_body(void)
{
	struct response resp;
	char deep[200];
	int i;

	reply_init(&resp);
	T_EQ_INT(parse_body("application/json", "{\"a\":1}", &resp), 0,
	    "object ok");
	T_EQ_INT(parse_body(NULL, "{\"a\":[1,2]} \n", &resp), 0,
	    "no content type, trailing space ok");
	T_EQ_INT(parse_body("application/json; charset=utf-8", "{\"a\":",
	    &resp), -1, "truncated");
	T_OK(strstr(body(&resp), "INVALID_JSON") && resp.status == 400,
	    "INVALID_JSON 400");
	T_EQ_INT(parse_body("application/json", "{\"a\":1} x", &resp), -1,
	    "trailing garbage");
	T_EQ_INT(parse_body("application/json", "[1,2]", &resp), -1,
	    "array refused");
	T_OK(strstr(body(&resp), "VALIDATION_ERROR") != NULL,
	    "non-object is VALIDATION_ERROR");
	for (i = 0; i < 60; i++)
		deep[i] = '[';
	deep[i] = '\0';
	T_EQ_INT(parse_body("application/json", deep, &resp), -1,
	    "nesting capped");
	T_EQ_INT(parse_body("application/json", "{\"a\":\"\xff\"}", &resp),
	    -1, "invalid UTF-8 refused");
	T_EQ_INT(parse_body("application/x-www-form-urlencoded", "a=%FF",
	    &resp), -1, "invalid UTF-8 form refused");
	T_EQ_INT(parse_body("image/png", "{}", &resp), -1, "wrong type");
	T_EQ_INT(resp.status, 415, "415");
	T_EQ_INT(parse_body("application/json", "null", &resp), 0,
	    "null is no body");
	reply_free(&resp);
}

static void
test_json_fields(void)
{
	struct request r;
	struct response resp;
	const char *s;
	int b;

	request_init(&r);
	reply_init(&resp);
	r.json = json_tokener_parse("{\"name\":5,\"ok\":\"true\",\"x\":[1],"
	    "\"y\":\"s\"}");
	T_EQ_INT(request_json_str(&r, &resp, "name", &s), -1, "int not str");
	T_OK(strstr(body(&resp), "name") && resp.status == 400,
	    "field named in the error");
	T_EQ_INT(request_json_str(&r, &resp, "y", &s), 0, "string");
	T_EQ_STR(s, "s", "value");
	T_EQ_INT(request_json_str(&r, &resp, "none", &s), 0, "absent ok");
	T_OK(s == NULL, "absent is NULL");
	T_EQ_INT(request_json_bool(&r, &resp, "ok", &b), 0, "\"true\" bool");
	T_EQ_INT(b, 1, "true");
	T_EQ_INT(request_json_bool(&r, &resp, "x", &b), -1, "array not bool");
	request_free(&r);
	reply_free(&resp);
}

static void
test_basic_header(void)
{
	char u[65], p[260];

	T_EQ_INT(authn_parse_basic("Basic YWRtaW46czNjcjN0", u, sizeof(u), p,
	    sizeof(p)), 0, "admin:s3cr3t");
	T_EQ_STR(u, "admin", "user");
	T_EQ_STR(p, "s3cr3t", "password");
	/* bob:pa:ss */
	T_EQ_INT(authn_parse_basic("basic   Ym9iOnBhOnNz  ", u, sizeof(u), p,
	    sizeof(p)), 0, "colon in password, case and spaces");
	T_EQ_STR(p, "pa:ss", "password keeps its colon");
	T_EQ_INT(authn_parse_basic("Basic !!!", u, sizeof(u), p, sizeof(p)),
	    -1, "bad base64");
	T_EQ_INT(authn_parse_basic("Basic YWRtaW4=", u, sizeof(u), p,
	    sizeof(p)), -1, "no colon");
	T_EQ_INT(authn_parse_basic("Basic OnB3", u, sizeof(u), p, sizeof(p)),
	    -1, "empty user");
	T_EQ_INT(authn_parse_basic("Bearer abc", u, sizeof(u), p, sizeof(p)),
	    -1, "other scheme");
	T_EQ_INT(authn_parse_basic("Basic", u, sizeof(u), p, sizeof(p)), -1,
	    "no credentials");
}

static void
test_client_addr(void)
{
	char out[64];
	const char *tr = "10.0.0.1, 10.0.0.2";

	request_client_addr("1.2.3.4", "9.9.9.9", tr, out, sizeof(out));
	T_EQ_STR(out, "1.2.3.4", "untrusted peer: XFF ignored");
	request_client_addr("10.0.0.1", "6.6.6.6, 5.5.5.5", tr, out,
	    sizeof(out));
	T_EQ_STR(out, "5.5.5.5", "trusted: rightmost untrusted hop");
	request_client_addr("10.0.0.1", "5.5.5.5, 10.0.0.2", tr, out,
	    sizeof(out));
	T_EQ_STR(out, "5.5.5.5", "skips trusted hops");
	request_client_addr("10.0.0.1", "evil<>", tr, out, sizeof(out));
	T_EQ_STR(out, "10.0.0.1", "garbage XFF ignored");
	request_client_addr("10.0.0.1", "5.5.5.5", "", out, sizeof(out));
	T_EQ_STR(out, "10.0.0.1", "no trusted proxies configured");
	request_client_addr(NULL, NULL, tr, out, sizeof(out));
	T_EQ_STR(out, "unknown", "no REMOTE_ADDR");
}

static void
test_rate_headers(void)
{
	struct response resp;
	struct buf head;
	const char *h;

	reply_init(&resp);
	buf_init(&head, 8192);
	reply_rate_headers(&resp, 100, 7, 120, 900);
	reply_rate_headers(&resp, 1, 1, 1, 1);	/* only once */
	reply_error(&resp, 429, "RATE_LIMIT_EXCEEDED", "slow down");
	reply_head(&resp, &head);
	h = buf_cstr(&head);
	T_OK(strncmp(h, "Status: 429 Too Many Requests\r\n", 31) == 0,
	    "status line");
	T_OK(strstr(h, "RateLimit-Limit: 100\r\n") != NULL, "limit");
	T_OK(strstr(h, "RateLimit-Remaining: 7\r\n") != NULL, "remaining");
	T_OK(strstr(h, "RateLimit-Reset: 120\r\n") != NULL, "reset");
	T_OK(strstr(h, "RateLimit-Policy: 100;w=900\r\n") != NULL, "policy");
	T_OK(strstr(h, "RateLimit-Limit: 1\r\n") == NULL, "not repeated");
	T_OK(strstr(h, "Retry-After: ") != NULL, "429 has Retry-After");
	T_OK(strstr(h, "X-Content-Type-Options: nosniff\r\n") != NULL,
	    "nosniff");
	T_OK(strstr(h, "Cache-Control: no-store\r\n") != NULL, "no-store");
	T_OK(strstr(h, "\r\n\r\n") == h + strlen(h) - 4, "head ends once");
	reply_reset(&resp);
	reply_header(&resp, "X-Test", "a\r\nInjected: yes");
	reply_head(&resp, &head);
	T_OK(strstr(buf_cstr(&head), "Injected") == NULL,
	    "no header injection");
	buf_free(&head);
	reply_free(&resp);
}

static void
test_qr_png(void)
{
	const char *text = "2@AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/==,"
	    "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=,"
	    "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=,"
	    "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=";
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
	    '\n' };
	uint8_t *png = NULL;
	size_t len = 0;
	uint32_t w, h;
	char *url;

	T_EQ_INT(qr_png(text, &png, &len), 0, "rendered");
	T_OK(len > 33 && memcmp(png, sig, 8) == 0, "PNG signature");
	T_OK(len > 33 && memcmp(png + 12, "IHDR", 4) == 0, "IHDR first");
	if (len > 33) {
		memcpy(&w, png + 16, 4);
		memcpy(&h, png + 20, 4);
		w = ntohl(w);
		h = ntohl(h);
		T_OK(w == h && w >= 256 && w <= 600, "square ~512 px (%u)", w);
		T_EQ_INT(png[24], 1, "1-bit");
		T_EQ_INT(png[25], 0, "grayscale");
		T_OK(memcmp(png + len - 8, "IEND", 4) == 0, "IEND last");
	}
	free(png);
	url = qr_data_url(text);
	T_OK(url && strncmp(url, "data:image/png;base64,iVBORw0KGgo", 33) == 0,
	    "data URL");
	free(url);
	T_EQ_INT(qr_png("", &png, &len), -1, "empty refused");
}

/* Decode our PNG with zbarimg when it is installed. */
static void
test_qr_decodes(void)
{
	const char *text = "2@Rk9vYmFy1234567890abcdef+/=,aGVsbG8gd29ybGQ=,"
	    "aGVsbG8gd29ybGQgaGVsbG8=,d29ybGQgaGVsbG8gd29ybGQ=";
	char path[] = "/tmp/test_fcgi_qrXXXXXX", cmd[128], got[512];
	uint8_t *png;
	size_t len, n;
	FILE *f;
	int fd;

	if (access("/usr/bin/zbarimg", X_OK) != 0) {
		T_OK(1, "zbarimg not installed: skipped");
		return;
	}
	if (qr_png(text, &png, &len) == -1 || (fd = mkstemp(path)) == -1) {
		T_OK(0, "render");
		return;
	}
	T_OK(write(fd, png, len) == (ssize_t)len, "written");
	close(fd);
	free(png);
	snprintf(cmd, sizeof(cmd), "zbarimg -q --raw %s 2>/dev/null", path);
	got[0] = '\0';
	if ((f = popen(cmd, "r")) != NULL) {
		n = fread(got, 1, sizeof(got) - 1, f);
		got[n] = '\0';
		pclose(f);
	}
	got[strcspn(got, "\n")] = '\0';
	T_EQ_STR(got, text, "zbarimg reads back the text");
	unlink(path);
}

static void
test_openapi(void)
{
	char *doc = api_service_openapi_build();
	json_object *o = json_tokener_parse(doc), *p, *v;

	T_OK(o != NULL, "OpenAPI is JSON");
	T_OK(json_object_object_get_ex(o, "openapi", &v) &&
	    strcmp(json_object_get_string(v), "3.1.0") == 0, "3.1.0");
	T_OK(json_object_object_get_ex(o, "paths", &p) &&
	    json_object_object_get_ex(p, "/api/message/{message_id}/read", &v),
	    "params as {name}");
	T_OK(p && json_object_object_get_ex(p, "/api/devices", &v) &&
	    json_object_object_length(v) == 4, "/api/devices: 4 methods");
	T_OK(p && json_object_object_get_ex(p, "/api/user/check", &v) &&
	    strstr(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
	    "{\"name\":\"phone\","
	    "\"in\":\"query\",\"required\":true") != NULL,
	    "query parameters documented");
	json_object_put(o);
	free(doc);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test", LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	T_RUN(test_route_match);
	T_RUN(test_route_table_sane);
	T_RUN(test_error_table);
	T_RUN(test_device_hash);
	T_RUN(test_device_select);
	T_RUN(test_request_paths);
	T_RUN(test_content_length);
	T_RUN(test_query_parse);
	T_RUN(test_urlencoded);
	T_RUN(test_multipart);
	T_RUN(test_utf8);
	T_RUN(test_json_body);
	T_RUN(test_json_fields);
	T_RUN(test_basic_header);
	T_RUN(test_client_addr);
	T_RUN(test_rate_headers);
	T_RUN(test_qr_png);
	T_RUN(test_qr_decodes);
	T_RUN(test_openapi);
	return t_done();
}
