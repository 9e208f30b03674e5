/*
 * api-health.c - /api/health (public liveness: PING to devmgr, never
 * counted so load-balancer probes cannot exhaust a rate limit),
 * /api/health/{detailed,devices,processes,system} and auto-heal (relayed
 * bodies of SEED_API §2.6, authenticated).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fcgi.h"

void
api_health(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object(), *p = NULL, *v;
	uint64_t t0 = ipc_mono_ms();
	char when[40];
	int ok;

	ok = app_call(a, r, resp, IPC_PING, &q, &rep, 1) == 0 &&
	    rep->status < 400;
	json_object_object_add(o, "status", json_object_new_string(ok ?
	    "healthy" : "unhealthy"));
	json_object_object_add(o, "timestamp", json_object_new_string(
	    reply_iso8601((long)time(NULL), when, sizeof(when))));
	if (ok && rep->json.len)
		p = app_reply_json(rep);
	if (p != NULL && json_object_object_get_ex(p, "uptime", &v))
		json_object_object_add(o, "uptime", json_object_get(v));
	else
		json_object_object_add(o, "uptime", json_object_new_int64(
		    (long)time(NULL) - a->started));
	json_object_object_add(o, "responseTime", json_object_new_int64(
	    (int64_t)(ipc_mono_ms() - t0)));
	if (p != NULL && json_object_object_get_ex(p, "version", &v))
		json_object_object_add(o, "version", json_object_get(v));
	else
		json_object_object_add(o, "version",
		    json_object_new_string(FCGI_VERSION));
	json_object_object_add(o, "environment",
	    json_object_new_string("production"));
	if (!ok) {
		json_object_object_add(o, "error",
		    json_object_new_string("SERVICE_UNAVAILABLE"));
		json_object_object_add(o, "message", json_object_new_string(
		    "Device manager unavailable"));
	}
	reply_json(resp, ok ? 200 : 503, o);
	json_object_put(p);
	json_object_put(o);
	ipc_reply_free(rep);
}

/* Relay status and body as devmgr gave them. */
static void
api_health_relay(struct response *resp, const Ipc__Reply *rep)
{
	if (rep->json.len == 0) {
		if (rep->status >= 400)
			app_reply_error(resp, rep);
		else
			reply_raw(resp, rep->status, NULL, "{}", 2);
		return;
	}
	reply_raw(resp, rep->status ? rep->status : 200, NULL,
	    rep->json.data, rep->json.len);
}

void
api_health_what(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "what", json_object_new_string(rt->arg));
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_HEALTH, &q, &rep, 0) == 0)
		api_health_relay(resp, rep);
	ipc_reply_free(rep);
	json_object_put(o);
}

void
api_health_heal(struct app *a, struct request *r, struct response *resp,
    const struct route *rt)
{
	Ipc__Request q = IPC__REQUEST__INIT;
	Ipc__Reply *rep = NULL;
	json_object *o = json_object_new_object(), *v, *e;
	size_t i, n;

	if (r->json != NULL && json_object_object_get_ex(r->json, "services",
	    &v) && !json_object_is_type(v, json_type_null)) {
		if (json_object_is_type(v, json_type_string)) {
			e = json_object_new_array();
			json_object_array_add(e, json_object_get(v));
			v = e;
		} else if (json_object_is_type(v, json_type_array))
			json_object_get(v);
		else {
			reply_error(resp, 0, "VALIDATION_ERROR",
			    "services: must be an array of strings");
			goto out;
		}
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			if (!json_object_is_type(json_object_array_get_idx(v,
			    i), json_type_string)) {
				json_object_put(v);
				reply_error(resp, 0, "VALIDATION_ERROR",
				    "services: must be an array of strings");
				goto out;
			}
		json_object_object_add(o, "services", v);
	}
	app_set_json(&q.json, o);
	if (app_call(a, r, resp, IPC_AUTO_HEAL, &q, &rep, 0) == 0)
		api_health_relay(resp, rep);
out:
	ipc_reply_free(rep);
	json_object_put(o);
}
