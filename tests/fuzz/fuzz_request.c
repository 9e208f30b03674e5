/*
 * fuzz_request.c - fcgi-app's request parsing: CGI parameters (path,
 * query, headers, Content-Type/Length) and the body (JSON, urlencoded,
 * multipart).  Input: "NAME=VALUE" lines up to an empty line, then the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NENV 32

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int init;
	char *copy, *env[NENV + 1], *p, *end, *nl;
	struct request req;
	struct response resp;
	size_t n = 0;

	if (!init) {
		log_init("fuzz", LOG_LVL_ERROR);
		init = 1;
	}
	copy = malloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	p = copy;
	end = copy + len;
	/* CGI parameters, one per line, until an empty line. */
	while (p < end && n < NENV) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		*nl = '\0';
		if (nl == p) {
			p = nl + 1;
			break;
		}
		env[n++] = p;
		p = nl + 1;
	}
	env[n] = NULL;

	request_init(&req);
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.hdrs, 64 * 1024);
	buf_init(&resp.body, 1024 * 1024);
	if (request_begin(&req, env, 1 << 20, 1 << 20, "127.0.0.1", &resp)
	    == 0) {
		req.body.max = (size_t)(end - p) + 1;
		if (buf_append(&req.body, p, (size_t)(end - p)) == 0)
			(void)request_parse_body(&req, &resp);
		(void)request_device(&req, &resp);
	}
	request_free(&req);
	buf_free(&resp.hdrs);
	buf_free(&resp.body);
	free(copy);
	return 0;
}
