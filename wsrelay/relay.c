/*
 * relay.c - wsrelay's core without sockets: refcounted frames shared by all
 * client queues, the bounded drop-oldest queue, the authorization filter,
 * room names, the join cache, and rendering a devmgr Event into the one
 * envelope of docs/events.md and the frames of each protocol.  Never trusts
 * an Event's fields: a malformed one is dropped, never forwarded.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "log.h"
#include "relay.h"
#include "sio.h"
#include "xmalloc.h"

#define RELAY_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define RELAY_TYPE_MAX	64

struct frame *
frame_new(const void *text, size_t len)
{
	struct frame *f;

	f = xmalloc(sizeof(*f) + RELAY_PRE + len + 1);
	f->refs = 1;
	f->len = len;
	if (len)
		memcpy(f->data + RELAY_PRE, text, len);
	f->data[RELAY_PRE + len] = '\0';
	return f;
}

struct frame *
frame_ref(struct frame *f)
{
	f->refs++;
	return f;
}

void
frame_unref(struct frame *f)
{
	if (f == NULL)
		return;
	if (--f->refs == 0)
		free(f);
}

void
queue_init(struct queue *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max ? max : 1;
}

void
queue_free(struct queue *q)
{
	struct frame *f;

	while ((f = queue_pop(q)) != NULL)
		frame_unref(f);
	free(q->ring);
	q->ring = NULL;
	q->cap = 0;
}

static void
queue_grow(struct queue *q)
{
	struct frame **n;
	size_t ncap, i;

	ncap = q->cap ? q->cap * 2 : 16;
	if (ncap > q->max)
		ncap = q->max;
	n = xreallocarray(NULL, ncap, sizeof(*n));
	for (i = 0; i < q->len; i++)
		n[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = n;
	q->cap = ncap;
	q->head = 0;
}

int
queue_push(struct queue *q, struct frame *f)
{
	int dropped = 0;

	if (q->len == q->cap && q->cap < q->max)
		queue_grow(q);
	if (q->len == q->max) {
		frame_unref(queue_pop(q));
		q->dropped++;
		q->dropped_unreported++;
		dropped = 1;
	}
	q->ring[(q->head + q->len) % q->cap] = frame_ref(f);
	q->len++;
	return dropped;
}

struct frame *
queue_peek(struct queue *q)
{
	return q->len ? q->ring[q->head] : NULL;
}

struct frame *
queue_pop(struct queue *q)
{
	struct frame *f;

	if (q->len == 0)
		return NULL;
	f = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return f;
}

int
relay_valid_hash(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < RELAY_HASH_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[RELAY_HASH_LEN] == '\0';
}

int
relay_room_hash(const char *room, char out[RELAY_HASH_LEN + 1])
{
	out[0] = '\0';
	if (room == NULL)
		return -1;
	if (strncmp(room, "device-", 7) == 0)
		room += 7;
	if (!relay_valid_hash(room))
		return -1;
	memcpy(out, room, RELAY_HASH_LEN + 1);
	return 0;
}

int
relay_may_see(const char *user, int admin, const char *owner)
{
	if (admin)
		return 1;
	if (user == NULL || owner == NULL || *user == '\0')
		return 0;
	return strcmp(user, owner) == 0;
}

void
relay_iso_time(int64_t ms, char out[32])
{
	struct tm tm;
	time_t t;
	char s[24];

	if (ms < 0)
		ms = 0;
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", s, (int)(ms % 1000));
}

static const struct {
	const char	*type;
	const char	*hist;
} relay_hist[] = {
	{ "qr",			"qr-code" },
	{ "qr-expired",		"qr-expired" },
	{ "qr_expired",		"qr-expired" },
	{ "ready",		"auth-success" },
	{ "auth_failed",	"auth-failed" },
	{ "auth-failed",	"auth-failed" },
	{ "pair_failed",	"auth-failed" },
	{ "pair-failed",	"auth-failed" },
	{ "process-stopped",	"process-stopped" },
};

const char *
relay_hist_name(const char *type, const char *payload_json)
{
	size_t i;

	(void)payload_json;
	if (type == NULL)
		return NULL;
	for (i = 0; i < sizeof(relay_hist) / sizeof(relay_hist[0]); i++)
		if (strcmp(relay_hist[i].type, type) == 0)
			return relay_hist[i].hist;
	return NULL;
}

static int
relay_event_ok(const Ipc__Event *ev)
{
	const char *p;

	if (ev == NULL || !relay_valid_hash(ev->device))
		return 0;
	if (ev->owner == NULL || strlen(ev->owner) > AUTH_USER_MAX)
		return 0;
	if (ev->type == NULL || *ev->type == '\0' ||
	    strlen(ev->type) >= RELAY_TYPE_MAX)
		return 0;
	for (p = ev->type; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' &&
		    *p != '.')
			return 0;
	if (ev->json.len > RELAY_EVENT_JSON_MAX)
		return 0;
	if (ev->id != NULL && strlen(ev->id) > 128)
		return 0;
	return 1;
}

static const char *relay_reserved[] = {
	"type", "deviceHash", "timestamp", "ts", "eventId"
};

static int
relay_is_reserved(const char *k)
{
	size_t i;

	for (i = 0; i < sizeof(relay_reserved) / sizeof(relay_reserved[0]); i++)
		if (strcmp(k, relay_reserved[i]) == 0)
			return 1;
	return 0;
}

/* The envelope as a json-c object (caller puts), NULL on bad payload. */
static struct json_object *
relay_envelope_obj(const Ipc__Event *ev)
{
	struct json_object *env, *payload = NULL, *raw = NULL;
	struct json_tokener *tok;
	char iso[32];

	if (!relay_event_ok(ev))
		return NULL;
	if (ev->json.len > 0) {
		if ((tok = json_tokener_new_ex(32)) == NULL)
			return NULL;
		payload = json_tokener_parse_ex(tok, (const char *)ev->json.data,
		    (int)ev->json.len);
		if (payload == NULL ||
		    json_tokener_get_error(tok) != json_tokener_success ||
		    json_tokener_get_parse_end(tok) != ev->json.len) {
			json_object_put(payload);
			json_tokener_free(tok);
			return NULL;
		}
		json_tokener_free(tok);
	}
	relay_iso_time(ev->ts_ms, iso);
	env = json_object_new_object();
	json_object_object_add(env, "type", json_object_new_string(ev->type));
	json_object_object_add(env, "deviceHash",
	    json_object_new_string(ev->device));
	json_object_object_add(env, "timestamp", json_object_new_string(iso));
	json_object_object_add(env, "ts", json_object_new_int64(ev->ts_ms));
	json_object_object_add(env, "eventId",
	    json_object_new_string(ev->id ? ev->id : ""));
	if (payload != NULL && json_object_is_type(payload, json_type_object)) {
		json_object_object_foreach(payload, k, v) {
			if (relay_is_reserved(k)) {
				if (raw == NULL)
					raw = json_object_new_object();
				json_object_object_add(raw, k,
				    json_object_get(v));
			} else
				json_object_object_add(env, k,
				    json_object_get(v));
		}
		if (raw != NULL)
			json_object_object_add(env, "raw", raw);
	} else if (payload != NULL)
		json_object_object_add(env, "data", json_object_get(payload));
	/* The seed's qr-code room event carried the image as qrImage. */
	if (strcmp(ev->type, "qr") == 0 && payload != NULL &&
	    json_object_is_type(payload, json_type_object)) {
		struct json_object *img;

		if (json_object_object_get_ex(payload, "qrCode", &img) &&
		    !json_object_object_get_ex(payload, "qrImage", NULL))
			json_object_object_add(env, "qrImage",
			    json_object_get(img));
	}
	json_object_put(payload);
	return env;
}

char *
relay_envelope(const Ipc__Event *ev)
{
	struct json_object *env;
	char *s;

	if ((env = relay_envelope_obj(ev)) == NULL)
		return NULL;
	s = xstrdup(json_object_to_json_string_ext(env, RELAY_JSON_FLAGS));
	json_object_put(env);
	return s;
}

static struct frame *
relay_frame_buf(struct buf *b)
{
	return frame_new(b->data, b->len);
}

int
relay_render(const Ipc__Event *ev, struct rendered *r)
{
	struct buf b, wrap;
	const char *hist;
	char *env, iso[32];
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if ((env = relay_envelope(ev)) == NULL)
		return -1;
	buf_init(&b, 4 * RELAY_EVENT_JSON_MAX);
	buf_init(&wrap, 4 * RELAY_EVENT_JSON_MAX);
	memcpy(r->device, ev->device, RELAY_HASH_LEN + 1);
	snprintf(r->owner, sizeof(r->owner), "%s", ev->owner);
	relay_iso_time(ev->ts_ms, iso);

	/* {"deviceHash","message":<envelope>,"timestamp"} */
	if (buf_printf(&wrap, "{\"deviceHash\":\"%s\",\"message\":", ev->device)
	    == -1 || buf_puts(&wrap, env) == -1 ||
	    buf_printf(&wrap, ",\"timestamp\":\"%s\"}", iso) == -1)
		goto out;

	if (buf_printf(&b, "{\"type\":\"whatsapp-websocket-message\","
	    "\"deviceHash\":\"%s\",\"message\":", ev->device) == -1 ||
	    buf_puts(&b, env) == -1 ||
	    buf_printf(&b, ",\"timestamp\":\"%s\"}", iso) == -1)
		goto out;
	r->ws = relay_frame_buf(&b);
	if (strcmp(ev->type, "process-stopped") == 0)
		r->ws_extra = frame_new(env, strlen(env));

	buf_reset(&b);
	if (sio_encode_event(&b, "whatsapp-websocket-message",
	    buf_cstr(&wrap)) == -1)
		goto out;
	r->sio_global = relay_frame_buf(&b);
	buf_reset(&b);
	if (sio_encode_event(&b, "device-websocket-message",
	    buf_cstr(&wrap)) == -1)
		goto out;
	r->sio_room = relay_frame_buf(&b);
	if ((hist = relay_hist_name(ev->type, env)) != NULL) {
		buf_reset(&b);
		if (sio_encode_event(&b, hist, env) == -1)
			goto out;
		r->sio_hist = relay_frame_buf(&b);
	}
	rc = 0;
out:
	if (rc != 0)
		relay_rendered_clear(r);
	free(env);
	buf_free(&b);
	buf_free(&wrap);
	return rc;
}

void
relay_rendered_clear(struct rendered *r)
{
	frame_unref(r->ws);
	frame_unref(r->ws_extra);
	frame_unref(r->sio_global);
	frame_unref(r->sio_room);
	frame_unref(r->sio_hist);
	r->ws = r->ws_extra = r->sio_global = r->sio_room = r->sio_hist = NULL;
}

struct join_entry {
	char		 user[AUTH_USER_MAX + 1];
	char		 hash[RELAY_HASH_LEN + 1];
	int		 allow;
	int64_t		 expires;
};

struct join_cache {
	struct join_entry	*e;
	size_t			 n, max;
	int64_t			 ttl;
};

struct join_cache *
join_cache_new(size_t max, int64_t ttl_ms)
{
	struct join_cache *c = xcalloc(1, sizeof(*c));

	c->max = max ? max : 1;
	c->ttl = ttl_ms;
	c->e = xcalloc(c->max, sizeof(*c->e));
	return c;
}

void
join_cache_free(struct join_cache *c)
{
	if (c == NULL)
		return;
	free(c->e);
	free(c);
}

static struct join_entry *
join_cache_find(struct join_cache *c, const char *user, const char *hash)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->e[i].hash, hash) == 0 &&
		    strcmp(c->e[i].user, user) == 0)
			return &c->e[i];
	return NULL;
}

int
join_cache_get(struct join_cache *c, const char *user, const char *hash,
    int64_t now)
{
	struct join_entry *e;

	if ((e = join_cache_find(c, user, hash)) == NULL || e->expires <= now)
		return CACHE_MISS;
	return e->allow ? CACHE_ALLOW : CACHE_DENY;
}

void
join_cache_put(struct join_cache *c, const char *user, const char *hash,
    int allow, int64_t now)
{
	struct join_entry *e;
	size_t i;

	if (strlen(user) > AUTH_USER_MAX || !relay_valid_hash(hash))
		return;
	if ((e = join_cache_find(c, user, hash)) == NULL) {
		if (c->n < c->max)
			e = &c->e[c->n++];
		else {
			/* Replace the entry that expires first. */
			e = &c->e[0];
			for (i = 1; i < c->n; i++)
				if (c->e[i].expires < e->expires)
					e = &c->e[i];
		}
		snprintf(e->user, sizeof(e->user), "%s", user);
		memcpy(e->hash, hash, RELAY_HASH_LEN + 1);
	}
	e->allow = allow ? 1 : 0;
	e->expires = now + c->ttl;
}
