/*
 * reply.c - the answer being built: the one table mapping every error code
 * the gateway knows to its HTTP status, the JSON error shape
 * {"success":false,"code","message","error"}, headers (security, rate
 * limit, WWW-Authenticate) and the CGI response head.  Replies from devmgr
 * carry their own status; the table is for errors decided here.
 * Nothing here talks to devmgr or reads the request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"
#include "xmalloc.h"

#define RESP_BODY_MAX	(64u * 1024 * 1024)
#define RESP_HDRS_MAX	(16u * 1024)

static const struct {
	const char	*code;
	int		 status;
} reply_codes[] = {
	{ "SUCCESS", 200 },
	{ "BAD_REQUEST", 400 },
	{ "INVALID_JSON", 400 },
	{ "VALIDATION_ERROR", 400 },
	{ "INVALID_PATH", 400 },
	{ "INVALID_QUERY", 400 },
	{ "INVALID_MULTIPART", 400 },
	{ "INVALID_FORM", 400 },
	{ "INVALID_CONTENT_LENGTH", 400 },
	{ "INCOMPLETE_BODY", 400 },
	{ "MISSING_DEVICE_HASH", 400 },
	{ "INVALID_DEVICE_HASH", 400 },
	{ "MISSING_FIELDS", 400 },
	{ "INVALID_USERNAME", 400 },
	{ "INVALID_PASSWORD", 400 },
	{ "INVALID_ROLE", 400 },
	{ "CANNOT_DELETE_SELF", 400 },
	{ "LAST_ADMIN", 400 },
	{ "MISSING_PASSWORDS", 400 },
	{ "INVALID_NEW_PASSWORD", 400 },
	{ "INCORRECT_CURRENT_PASSWORD", 400 },
	{ "NO_VALID_FIELDS", 400 },
	{ "INVALID_IDEMPOTENCY_KEY", 400 },
	{ "MISSING_TOKEN", 401 },
	{ "MISSING_CREDENTIALS", 401 },
	{ "INVALID_TOKEN", 401 },
	{ "INVALID_CREDENTIALS", 401 },
	{ "UNAUTHORIZED", 401 },
	{ "INSUFFICIENT_PERMISSIONS", 403 },
	{ "FORBIDDEN", 403 },
	{ "NOT_FOUND", 404 },
	{ "DEVICE_NOT_FOUND", 404 },
	{ "USER_NOT_FOUND", 404 },
	{ "METHOD_NOT_ALLOWED", 405 },
	{ "NOT_ACCEPTABLE", 406 },
	{ "DEVICE_NOT_RUNNING", 409 },
	{ "USER_EXISTS", 409 },
	{ "CONFLICT", 409 },
	{ "LENGTH_REQUIRED", 411 },
	{ "PAYLOAD_TOO_LARGE", 413 },
	{ "URI_TOO_LONG", 414 },
	{ "UNSUPPORTED_MEDIA_TYPE", 415 },
	{ "RATE_LIMIT_EXCEEDED", 429 },
	{ "INTERNAL_ERROR", 500 },
	{ "IPC_ERROR", 502 },
	{ "SERVICE_UNAVAILABLE", 503 },
	{ "MAX_PROCESSES_REACHED", 503 },
	{ "DEVICE_TIMEOUT", 504 },
	{ "GATEWAY_TIMEOUT", 504 },
};

static const struct {
	int		 status;
	const char	*reason;
} reply_reasons[] = {
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 204, "No Content" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
	{ 408, "Request Timeout" }, { 409, "Conflict" },
	{ 411, "Length Required" }, { 413, "Content Too Large" },
	{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
};

int
reply_status_of(const char *code)
{
	size_t i;

	if (code == NULL)
		return 500;
	for (i = 0; i < sizeof(reply_codes) / sizeof(reply_codes[0]); i++)
		if (strcmp(reply_codes[i].code, code) == 0)
			return reply_codes[i].status;
	return 500;
}

const char *
reply_reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reply_reasons) / sizeof(reply_reasons[0]); i++)
		if (reply_reasons[i].status == status)
			return reply_reasons[i].reason;
	return status < 400 ? "OK" : status < 500 ? "Bad Request" :
	    "Internal Server Error";
}

void
reply_init(struct response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->hdrs, RESP_HDRS_MAX);
	buf_init(&r->body, RESP_BODY_MAX);
	r->status = 200;
}

void
reply_reset(struct response *r)
{
	buf_reset(&r->hdrs);
	buf_reset(&r->body);
	r->status = 200;
	r->ctype = NULL;
	r->rated = 0;
	r->rate_counted = 0;
}

void
reply_free(struct response *r)
{
	buf_free(&r->hdrs);
	buf_free(&r->body);
}

void
reply_header(struct response *r, const char *name, const char *fmt, ...)
{
	char val[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	/* Never let a value split the header block. */
	val[strcspn(val, "\r\n")] = '\0';
	buf_printf(&r->hdrs, "%s: %s\r\n", name, val);
}

/* JSON string literal of s (UTF-8 passed through, controls escaped). */
void
reply_json_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	buf_putc(b, '"');
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20) {
				buf_puts(b, "\\u00");
				buf_putc(b, hex[*p >> 4]);
				buf_putc(b, hex[*p & 15]);
			} else
				buf_putc(b, *p);
		}
	}
	buf_putc(b, '"');
}

void
reply_error(struct response *r, int status, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status ? status : reply_status_of(code);
	r->ctype = NULL;
	buf_reset(&r->body);
	buf_puts(&r->body, "{\"success\":false,\"code\":");
	reply_json_string(&r->body, code);
	buf_puts(&r->body, ",\"message\":");
	reply_json_string(&r->body, msg);
	buf_puts(&r->body, ",\"error\":");
	reply_json_string(&r->body, code);
	buf_puts(&r->body, "}");
}

void
reply_unauthorized(struct response *r, const char *code, const char *msg)
{
	reply_error(r, 401, code, "%s", msg);
	reply_header(r, "WWW-Authenticate", "Bearer, Basic realm=\"gateway\"");
}

void
reply_json(struct response *r, int status, json_object *o)
{
	const char *s;
	size_t len;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	r->status = status;
	r->ctype = NULL;
	buf_reset(&r->body);
	if (buf_append(&r->body, s, len) == -1)
		reply_error(r, 500, "INTERNAL_ERROR", "Response too large");
}

void
reply_raw(struct response *r, int status, const char *ctype,
    const void *data, size_t len)
{
	r->status = status;
	r->ctype = ctype;
	buf_reset(&r->body);
	if (len > 0 && buf_append(&r->body, data, len) == -1)
		reply_error(r, 500, "INTERNAL_ERROR", "Response too large");
}

void
reply_rate_headers(struct response *r, uint32_t limit, uint32_t remaining,
    uint32_t reset, long window)
{
	if (r->rated)
		return;
	r->rated = 1;
	reply_header(r, "RateLimit-Limit", "%u", limit);
	reply_header(r, "RateLimit-Remaining", "%u", remaining);
	reply_header(r, "RateLimit-Reset", "%u", reset);
	reply_header(r, "RateLimit-Policy", "%u;w=%ld", limit, window);
}

void
reply_head(const struct response *r, struct buf *out)
{
	const char *ct = r->ctype ? r->ctype : "application/json; charset=utf-8";

	buf_reset(out);
	buf_printf(out, "Status: %d %s\r\n", r->status,
	    reply_reason(r->status));
	buf_printf(out, "Content-Type: %s\r\n", ct);
	buf_printf(out, "Content-Length: %zu\r\n", r->body.len);
	buf_puts(out, "X-Content-Type-Options: nosniff\r\n"
	    "Cache-Control: no-store\r\n"
	    "Access-Control-Allow-Origin: *\r\n");
	if (r->status == 429 && (r->hdrs.len == 0 || memmem(r->hdrs.data,
	    r->hdrs.len, "Retry-After:", 12) == NULL))
		buf_puts(out, "Retry-After: 60\r\n");
	if (r->hdrs.len > 0)
		buf_append(out, r->hdrs.data, r->hdrs.len);
	buf_puts(out, "\r\n");
}

char *
reply_iso8601(long t, char *out, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	return out;
}
