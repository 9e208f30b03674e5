/*
 * events.c - the PUB socket (IPC.md "Events") and the one path by which a
 * device's lifecycle changes: the registry row and the status webhook it
 * causes commit in one transaction, then the event goes out on PUB.
 * Publishing never blocks: a slow subscriber loses events (ZMQ HWM), a
 * status webhook never (it is in the registry).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "devmgr.h"
#include "log.h"
#include "xmalloc.h"

void
events_event_id(char out[33])
{
	dm_random_hex(out, 16);
}

void
events_publish(const char *hash, const char *owner, const char *type,
    const char *json, const char *id)
{
	Ipc__Event ev = IPC__EVENT__INIT;
	char topic[32], idbuf[33], ownbuf[REG_USER_MAX + 1];
	uint8_t small[1024], *buf = small;
	size_t len;

	if (dm.events == NULL)
		return;
	if (owner == NULL) {
		ownbuf[0] = '\0';
		if (registry_device_owner(dm.reg, hash, ownbuf,
		    sizeof(ownbuf)) != 0)
			ownbuf[0] = '\0';
		owner = ownbuf;
	}
	if (id == NULL) {
		events_event_id(idbuf);
		id = idbuf;
	}
	ev.device = (char *)hash;
	ev.owner = (char *)owner;
	ev.type = (char *)type;
	ev.ts_ms = (int64_t)ipc_now_ms();
	ev.id = (char *)id;
	if (json != NULL) {
		ev.json.data = (uint8_t *)json;
		ev.json.len = strlen(json);
	}
	len = ipc__event__get_packed_size(&ev);
	if (len > sizeof(small))
		buf = xmalloc(len);
	ipc__event__pack(&ev, buf);
	snprintf(topic, sizeof(topic), "ev.%s", hash);
	if (zmq_send(dm.events, topic, strlen(topic), ZMQ_SNDMORE |
	    ZMQ_DONTWAIT) == -1 || zmq_send(dm.events, buf, len,
	    ZMQ_DONTWAIT) == -1)
		log_debug("events: publish %s: %s", type, zmq_strerror(errno));
	if (buf != small)
		free(buf);
}

/* Webhook code and message for a lifecycle event. */
static const struct {
	const char	*event;
	const char	*code;
	const char	*message;
} event_codes[] = {
	{ "registered",	"DEVICE_REGISTERED",	"Device registered" },
	{ "started",	"PROCESS_STARTED",	"Process started" },
	{ "restarted",	"PROCESS_RESTARTED",	"Process restarted" },
	{ "stopped",	"PROCESS_STOPPED",	"Process stopped" },
	{ "crashed",	"PROCESS_CRASHED",	"Process crashed" },
	{ "failed",	"PROCESS_FAILED",
	    "Process failed: too many crashes, not restarting" },
	{ "connected",	"LOGIN_SUCCESS",	"Device connected and ready" },
	{ "disconnected", "DISCONNECTED",	"Device disconnected" },
	{ "logged_out",	"LOGOUT_COMPLETE",	"Device logged out" },
	{ "qr",		"QR_CODE",		"QR code ready to scan" },
	{ "pairing_code", "PAIRING_CODE",	"Pairing code ready" },
	{ "reconnecting", "RECONNECTING",	"Reconnecting" },
};

static void
events_code(const char *event, char *code, size_t clen, const char **msg)
{
	size_t i;

	for (i = 0; i < sizeof(event_codes) / sizeof(event_codes[0]); i++)
		if (strcmp(event_codes[i].event, event) == 0) {
			snprintf(code, clen, "%s", event_codes[i].code);
			*msg = event_codes[i].message;
			return;
		}
	for (i = 0; i + 1 < clen && event[i]; i++)
		code[i] = isalnum((unsigned char)event[i]) ?
		    (char)toupper((unsigned char)event[i]) : '_';
	code[i] = '\0';
	*msg = "Device status changed";
}

static int
events_stops(const char *event)
{
	return strcmp(event, "stopped") == 0 || strcmp(event, "crashed") == 0 ||
	    strcmp(event, "failed") == 0;
}

int
events_status(const char *hash, const char *status, const char *event,
    const char *cause, int pid, int restarts, json_object *extra)
{
	struct reg_device d;
	json_object *o, *ps;
	char id[33], code[48];
	const char *msg, *text;
	char *payload = NULL;
	int64_t now = (int64_t)ipc_now_ms();
	int rc = -1;

	if (registry_device_get(dm.reg, hash, &d) != 0)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "previous", json_object_new_string(d.status));
	json_object_object_add(o, "event", json_object_new_string(event));
	if (cause != NULL && *cause)
		json_object_object_add(o, "cause",
		    json_object_new_string(cause));
	if (pid > 0)
		json_object_object_add(o, "pid", json_object_new_int(pid));
	if (restarts >= 0)
		json_object_object_add(o, "restarts",
		    json_object_new_int(restarts));
	if (extra != NULL) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(o, k, json_object_get(v));
	}
	events_event_id(id);
	if (d.status_webhook_url != NULL) {
		events_code(event, code, sizeof(code), &msg);
		payload = webhook_payload(hash, status, event, code,
		    cause && *cause ? cause : msg, o, now);
	}
	if (registry_begin(dm.reg) == -1)
		goto out;
	if (registry_device_set_status(dm.reg, hash, status, pid, restarts,
	    now) == -1 || (payload != NULL && registry_webhook_enqueue(dm.reg,
	    hash, id, d.status_webhook_url, payload, now) == -1) ||
	    registry_commit(dm.reg) == -1) {
		registry_rollback(dm.reg);
		log_warnx("events: %s: status %s not recorded", hash, status);
		goto out;
	}
	rc = 0;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	events_publish(hash, d.owner, "status", text, id);
	if (events_stops(event)) {
		ps = json_object_new_object();
		json_object_object_add(ps, "cause", json_object_new_string(
		    cause && *cause ? cause : event));
		events_publish(hash, d.owner, "process-stopped",
		    json_object_to_json_string_ext(ps, JSON_C_TO_STRING_PLAIN),
		    NULL);
		json_object_put(ps);
	}
	log_info("device %s: %s -> %s (%s%s%s)", hash, d.status, status, event,
	    cause && *cause ? ": " : "", cause && *cause ? cause : "");
	if (payload != NULL)
		webhook_kick();
out:
	free(payload);
	json_object_put(o);
	reg_device_clear(&d);
	return rc;
}
