/*
 * api-device.c - /api/devices...: list, register, update, delete, info,
 * start/stop/restart (SEED_API §2.7), each one control call to devmgr.
 * Validates field types here (400 naming the field) and passes only the
 * known fields on; ownership and state are devmgr's business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

static const char *api_device_fields[] = {
	"name", "webhookUrl", "webhookSecret", "statusWebhookUrl",
	"statusWebhookSecret", NULL
};

/* Copy the known string fields of the body into o; -1 on a wrong type. */
static int
api_device_copy_fields(struct request *r, struct response *resp,
    json_object *o, int *n)
{
	const char **f, *v;

	*n = 0;
	for (f = api_device_fields; *f; f++) {
		if (request_json_str(r, resp, *f, &v) == -1)
			return -1;
		if (v == NULL)
			continue;
		if (strlen(v) > 4096) {
			reply_error(resp, 0, "VALIDATION_ERROR",
			    "%s: too long", *f);
			return -1;
		}
		json_object_object_add(o, *f, json_object_new_string(v));
		(*n)++;
	}
	return 0;
}

static int
api_device_uint(struct request *r, struct response *resp, const char *key,
    json_object *o)
{
	const char *s = request_query(r, key);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < 0 || v > 1000000000) {
		reply_error(resp, 0, "VALIDATION_ERROR",
		    "%s: must be a non-negative integer", key);
		return -1;
	}
	json_object_object_add(o, key, json_object_new_int64(v));
	return 0;
}

void
api_device_list(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object();
	const char *st = request_query(r, "status");

	if (api_device_uint(r, resp, "limit", o) == -1 ||
	    api_device_uint(r, resp, "offset", o) == -1)
		goto out;
	if (st != NULL && *st != '\0')
		json_object_object_add(o, "status", json_object_new_string(st));
	app_set_json(&q.query, o);
	if (app_call(a, r, resp, IPC_DEVICE_LIST, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, "Devices");
out:
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_device_register(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object(), *d = NULL, *out, *data, *v;
	int n, autostart;
	static const char *keys[] = { "deviceHash", "status", "processInfo",
	    NULL };
	const char **k;

	if (api_device_copy_fields(r, resp, o, &n) == -1 ||
	    request_json_bool(r, resp, "autoStart", &autostart) == -1)
		goto done;
	if (autostart != -1)
		json_object_object_add(o, "autoStart",
		    json_object_new_boolean(autostart));
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_DEVICE_REGISTER, &q, &rep, 0) == -1)
		goto done;
	if (rep->status >= 400) {
		app_reply_error(resp, rep);
		goto done;
	}
	d = app_reply_json(rep);
	if (d == NULL || !json_object_is_type(d, json_type_object)) {
		reply_error(resp, 502, "IPC_ERROR",
		    "Malformed reply from the device manager");
		goto done;
	}
	/* Both shapes at once: README (top level) and code (data). */
	out = json_object_new_object();
	data = json_object_new_object();
	json_object_object_add(out, "success", json_object_new_boolean(1));
	json_object_object_add(out, "message", json_object_new_string(
	    "Device registered successfully."));
	for (k = keys; *k; k++) {
		if (!json_object_object_get_ex(d, *k, &v))
			v = NULL;
		if (strcmp(*k, "processInfo") != 0)
			json_object_object_add(out, *k, json_object_get(v));
		json_object_object_add(data, *k, json_object_get(v));
	}
	if (json_object_object_get_ex(d, "startError", &v)) {
		json_object_object_add(out, "startError", json_object_get(v));
		json_object_object_add(data, "startError", json_object_get(v));
	}
	if (json_object_object_get_ex(d, "device", &v))
		json_object_object_add(data, "device", json_object_get(v));
	json_object_object_add(out, "data", data);
	reply_json(resp, rep->status ? rep->status : 201, out);
	json_object_put(out);
done:
	json_object_put(d);
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_device_update(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object();
	int n;

	if (api_device_copy_fields(r, resp, o, &n) == -1)
		goto out;
	if (n == 0) {
		reply_error(resp, 0, "NO_VALID_FIELDS",
		    "Nothing to update: send name, webhookUrl, webhookSecret, "
		    "statusWebhookUrl or statusWebhookSecret");
		goto out;
	}
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_DEVICE_UPDATE, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, "Device updated successfully");
out:
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_device_delete(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object();
	int force;

	if (request_param_bool(r, resp, "force", &force) == -1)
		goto out;
	json_object_object_add(o, "force", json_object_new_boolean(force == 1));
	app_set_json(&q.query, o);
	if (app_call(a, r, resp, IPC_DEVICE_DELETE, &q, &rep, 0) == 0) {
		if (rep->status < 400)
			rep->json.len = 0;
		app_reply_data(resp, rep, "Device removed successfully");
	}
out:
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_device_info(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;

	if (app_call(a, r, resp, IPC_DEVICE_INFO, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, "Device");
	ipc_reply_free(rep);
}

void
api_device_action(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;

	if (app_call(a, r, resp, rt->ipc, &q, &rep, 0) == 0)
		app_reply_data(resp, rep, rt->arg);
	ipc_reply_free(rep);
}
