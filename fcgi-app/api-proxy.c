/*
 * api-proxy.c - the device API (GOWA v7.8.0 routes, SEED_API §2.9/§3):
 * every such request becomes one DEVICE_CALL to devmgr with the method,
 * the path below /api, the query as a JSON object, the body as JSON
 * (uploads as base64 inside it) and the Idempotency-Key; the reply's status
 * and JSON are relayed as they are.  A /app/login reply carrying the raw QR
 * text (results.qr_string) is rendered here: data URL in results.qr_code and
 * qrCode, the PNG itself for Accept: image/png, the text for ?format=raw.
 * Nothing here understands WhatsApp data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fcgi.h"
#include "log.h"
#include "xmalloc.h"

#define PROXY_JSON_MAX	(IPC_BODY_MAX - 65536)

static int
api_proxy_idem_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= REQ_IDEM_MAX || s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return i > 0;
}

int
api_proxy_qr(struct request *r, struct response *resp, int status,
    const char *json, size_t len)
{
	json_object *o, *res, *v;
	const char *qr, *fmt;
	uint8_t *png = NULL;
	size_t pnglen = 0;
	char *url;

	o = app_parse_json(json, len);
	if (o == NULL || !json_object_object_get_ex(o, "results", &res) ||
	    !json_object_is_type(res, json_type_object) ||
	    !json_object_object_get_ex(res, "qr_string", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		json_object_put(o);
		return -1;
	}
	qr = json_object_get_string(v);
	fmt = request_query(r, "format");
	if (fmt != NULL && strcmp(fmt, "raw") == 0) {
		reply_raw(resp, status, "text/plain; charset=utf-8", qr,
		    strlen(qr));
		goto done;
	}
	if (request_accepts(r, "image/png")) {
		if (qr_png(qr, &png, &pnglen) == -1) {
			reply_error(resp, 0, "INTERNAL_ERROR",
			    "Cannot render the QR code");
			goto done;
		}
		reply_raw(resp, status, "image/png", png, pnglen);
		free(png);
		goto done;
	}
	if ((url = qr_data_url(qr)) == NULL) {
		reply_error(resp, 0, "INTERNAL_ERROR",
		    "Cannot render the QR code");
		goto done;
	}
	json_object_object_add(res, "qr_code", json_object_new_string(url));
	json_object_object_add(o, "qrCode", json_object_new_string(url));
	free(url);
	reply_json(resp, status, o);
done:
	json_object_put(o);
	return 0;
}

static void
api_proxy_relay(struct request *r, struct response *resp,
    const struct route *rt, const char *path, const Ipc__Reply *rep)
{
	const char *j = (const char *)rep->json.data;
	size_t len = rep->json.len;
	int status = rep->status ? rep->status : 200;

	if (len == 0) {
		if (status >= 400)
			app_reply_error(resp, rep);
		else {
			buf_reset(&resp->body);
			buf_puts(&resp->body, "{\"code\":\"SUCCESS\","
			    "\"message\":");
			reply_json_string(&resp->body, rep->message ?
			    rep->message : "Success");
			buf_puts(&resp->body, "}");
			resp->status = status;
		}
		return;
	}
	if ((rt->flags & R_QR) && status < 400 && api_proxy_qr(r, resp,
	    status, j, len) == 0)
		return;
	if (*j != '{' && *j != '[' && strstr(path, "/export") != NULL) {
		reply_raw(resp, status, "text/csv; charset=utf-8", j, len);
		reply_header(resp, "Content-Disposition",
		    "attachment; filename=\"participants.csv\"");
		return;
	}
	reply_raw(resp, status, NULL, j, len);
}

void
api_proxy_call(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *query = NULL;
	char path[REQ_PATH_MAX];
	const char *idem;
	size_t o = 0;
	int i;

	if (rt->arg != NULL)
		snprintf(path, sizeof(path), "%s", rt->arg);
	else {
		path[0] = '\0';
		for (i = 1; i < r->nsegs; i++)
			o += (size_t)snprintf(path + o, o < sizeof(path) ?
			    sizeof(path) - o : 0, "/%s", r->segs[i]);
		if (o >= sizeof(path)) {
			reply_error(resp, 0, "URI_TOO_LONG", "Path too long");
			return;
		}
	}
	if ((idem = request_header(r, "idempotency-key")) != NULL) {
		if (!api_proxy_idem_ok(idem)) {
			reply_error(resp, 0, "INVALID_IDEMPOTENCY_KEY",
			    "Idempotency-Key: 1 to %d printable characters",
			    REQ_IDEM_MAX);
			return;
		}
		q.idempotency_key = (char *)idem;
	}
	query = json_object_new_object();
	for (i = 0; i < r->nquery; i++)
		if (!json_object_object_get_ex(query, r->query[i].key, NULL))
			json_object_object_add(query, r->query[i].key,
			    json_object_new_string_len(r->query[i].val,
			    (int)r->query[i].vallen));
	app_set_json(&q.query, query);
	if (r->json != NULL)
		app_set_json(&q.json, r->json);
	if (q.json.len > PROXY_JSON_MAX) {
		reply_error(resp, 0, "PAYLOAD_TOO_LARGE",
		    "Request too large to forward (%d bytes at most)",
		    PROXY_JSON_MAX);
		goto out;
	}
	q.method = (char *)(r->method == M_HEAD ? "GET" : r->method_str);
	q.path = path;
	if (app_call(a, r, resp, IPC_DEVICE_CALL, &q, &rep, 0) == 0)
		api_proxy_relay(r, resp, rt, path, rep);
out:
	ipc_reply_free(rep);
	json_object_put(query);
}
