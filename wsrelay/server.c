/*
 * server.c - wsrelay's libwebsockets server (the only wsrelay file that
 * includes libwebsockets).  One single-threaded lws loop serves:
 *   /ws          plain WebSocket, JSON text frames (SEED_API §5.1 shapes)
 *   /socket.io/  Engine.IO 4 + Socket.IO 5 over the websocket transport
 * and integrates devmgr's ZeroMQ sockets (SUB for events, DEALER for
 * DEVICE_INFO) by adopting their ZMQ_FDs, drained fully on every signal
 * (edge-triggered) plus a slow safety tick.  Each client has a bounded
 * queue of shared frames; a slow client loses its oldest events (counted
 * and reported), never slows devmgr or other clients.  A client's input is
 * capped and parsed defensively: bad input gets an error or a close.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <libwebsockets.h>

#include "auth.h"
#include "buf.h"
#include "bus.h"
#include "ipc.h"
#include "log.h"
#include "relay.h"
#include "server.h"
#include "sio.h"
#include "xmalloc.h"

#if LWS_PRE > RELAY_PRE
#error "RELAY_PRE must be at least LWS_PRE"
#endif

#define RX_MAX			(64 * 1024)	/* largest inbound message */
#define CTL_QUEUE_MAX		256	/* replies queued; more: client closed */
#define CTL_BYTES_MAX		(1024 * 1024)	/* ... or more bytes than this */
#define ROOMS_MAX		64
#define PENDING_PER_CLIENT	8
#define WRITES_PER_CALLBACK	64
#define DRAIN_BATCH		256	/* events per drain before yielding */
#define TICK_US			(100 * LWS_US_PER_MS)
#define CONNECT_TIMEOUT_MS	45000	/* socket.io: engine open, no "40" */
#define WS_PING_MS		25000
#define JOIN_CACHE_TTL_MS	10000
#define CLOSE_TOKEN		4001
#define NEVER			INT64_MAX

enum client_kind { KIND_WS, KIND_SIO };

struct client {
	struct client	*next, *prev;
	struct lws	*wsi;
	uint64_t	 serial;
	int		 kind;
	int		 authed;	/* token verified (ws) / "40" accepted (sio) */
	int		 admin;
	char		 user[AUTH_USER_MAX + 1];
	char		 role[16];
	int64_t		 exp_ms;
	char		 sid[21];
	/* handshake credentials (socket.io fallback when auth.token absent) */
	int		 hs_ok;
	struct auth_claims hs_claims;
	char		 filter[RELAY_HASH_LEN + 1];	/* ws: one device */
	char		 rooms[ROOMS_MAX][RELAY_HASH_LEN + 1];
	int		 nrooms;
	struct queue	 q;		/* events (bounded, drop oldest) */
	struct queue	 ctl;		/* replies, pings (never dropped) */
	size_t		 ctl_bytes;
	struct buf	 rx;
	int64_t		 next_ping, pong_deadline, connect_deadline;
	int		 want_ws_ping;
	int		 npending;
	int		 closing;	/* close code once queued frames flushed */
	char		 close_reason[64];
};

struct pending {
	struct pending	*next;
	uint32_t	 reqid;
	uint64_t	 serial;
	char		 hash[RELAY_HASH_LEN + 1];
	char		 user[AUTH_USER_MAX + 1];
	long		 ack;
	int64_t		 deadline;
};

struct pss {
	struct client	*c;
};

static struct {
	struct server_conf	 conf;
	struct lws_context	*ctx;
	struct lws_vhost	*vh;
	struct bus		*bus;
	struct join_cache	*cache;
	struct client		*clients;
	size_t			 nclients;
	uint64_t		 serial;
	struct pending		*pending;
	lws_sorted_usec_list_t	 tick;
	lws_sorted_usec_list_t	 redrain;
	volatile sig_atomic_t	 stop;
	uint64_t		 n_events, n_bad, n_deliver, n_drops;
	unsigned int		 ticks;
	uint64_t		 logged_events;
} S;

static int64_t
now_ms(void)
{
	return (int64_t)ipc_now_ms();
}

static void client_arm_timer(struct client *);
static void client_queue_ctl(struct client *, const char *, size_t);
static void client_close(struct client *, int code, const char *reason);

/* ---- output helpers ---------------------------------------------------- */

static void
client_queue_ctl(struct client *c, const char *text, size_t len)
{
	struct frame *f;

	if (c->ctl.len >= CTL_QUEUE_MAX ||
	    c->ctl_bytes + len > CTL_BYTES_MAX) {
		/* It asks faster than it reads: it is not a client we serve. */
		if (!c->closing)
			client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
			    "too many pending replies");
		return;
	}
	f = frame_new(text, len);
	c->ctl_bytes += len;
	queue_push(&c->ctl, f);
	frame_unref(f);
	lws_callback_on_writable(c->wsi);
}

static void
client_queue_buf(struct client *c, struct buf *b)
{
	client_queue_ctl(c, (const char *)b->data, b->len);
}

static void
client_close(struct client *c, int code, const char *reason)
{
	if (c->closing)
		return;
	c->closing = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	lws_callback_on_writable(c->wsi);
}

/* A JSON object for /ws, {"type":…,…,"timestamp":…}; takes obj. */
static void
ws_send_obj(struct client *c, struct json_object *o)
{
	char iso[32];
	const char *s;

	relay_iso_time(now_ms(), iso);
	json_object_object_add(o, "timestamp", json_object_new_string(iso));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	client_queue_ctl(c, s, strlen(s));
	json_object_put(o);
}

static void
ws_send_error(struct client *c, const char *message)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("error"));
	json_object_object_add(o, "message", json_object_new_string(message));
	ws_send_obj(c, o);
}

/* 42["name",obj] for socket.io; takes obj (may be NULL). */
static void
sio_send_event(struct client *c, const char *name, struct json_object *o)
{
	struct buf b;

	buf_init(&b, RX_MAX * 2);
	if (sio_encode_event(&b, name, o ? json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL)
	    == 0)
		client_queue_buf(c, &b);
	buf_free(&b);
	json_object_put(o);
}

static void
sio_send_ack(struct client *c, long ack, struct json_object *o)
{
	struct buf b;

	buf_init(&b, RX_MAX * 2);
	if (sio_encode_ack(&b, ack, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) == 0)
		client_queue_buf(c, &b);
	buf_free(&b);
	json_object_put(o);
}

static struct json_object *
msg_obj(const char *message)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "message", json_object_new_string(message));
	return o;
}

/* An error reply in the client's protocol. */
static void
client_error(struct client *c, long ack, const char *message)
{
	struct json_object *o;

	if (c->kind == KIND_WS) {
		ws_send_error(c, message);
		return;
	}
	if (ack >= 0) {
		o = msg_obj(message);
		json_object_object_add(o, "ok", json_object_new_boolean(0));
		sio_send_ack(c, ack, o);
	}
	sio_send_event(c, "error", msg_obj(message));
}

/* ---- authentication ---------------------------------------------------- */

static int
verify_token(const char *token, struct auth_claims *cl)
{
	int rc;

	rc = auth_jwt_verify(S.conf.key, S.conf.keylen, token, S.conf.issuer,
	    (long)time(NULL), cl);
	if (rc != AUTH_OK)
		log_debug("token rejected: %s", auth_strerror(rc));
	return rc;
}

static void
client_set_principal(struct client *c, const struct auth_claims *cl)
{
	snprintf(c->user, sizeof(c->user), "%s", cl->user);
	snprintf(c->role, sizeof(c->role), "%s", cl->role);
	c->admin = strcmp(cl->role, "admin") == 0;
	c->exp_ms = (int64_t)cl->exp * 1000;
	c->authed = 1;
	client_arm_timer(c);
}

static int
copy_token(char *out, size_t outlen, const char *v)
{
	size_t n = strlen(v);

	if (n >= outlen)
		return -1;
	memcpy(out, v, n + 1);
	return 0;
}

/* Token from the query (?token=) or the Authorization: Bearer header. */
static int
handshake_token(struct lws *wsi, char *out, size_t outlen)
{
	char buf[AUTH_SECRET_MAX + 4200];
	const char *v;
	int n;

	out[0] = '\0';
	if ((v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf))) !=
	    NULL && *v)
		return copy_token(out, outlen, v);
	n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n > 7 && strncasecmp(buf, "Bearer ", 7) == 0) {
		v = buf + 7;
		while (*v == ' ')
			v++;
		return copy_token(out, outlen, v);
	}
	return -1;
}

/* ---- rooms and joins ---------------------------------------------------- */

static int
client_in_room(const struct client *c, const char *hash)
{
	int i;

	for (i = 0; i < c->nrooms; i++)
		if (strcmp(c->rooms[i], hash) == 0)
			return 1;
	return 0;
}

static void
join_done(struct client *c, const char *hash, long ack)
{
	struct json_object *o;
	char room[RELAY_HASH_LEN + 8];

	snprintf(room, sizeof(room), "device-%s", hash);
	if (c->kind == KIND_WS) {
		memcpy(c->filter, hash, RELAY_HASH_LEN + 1);
		o = json_object_new_object();
		json_object_object_add(o, "type",
		    json_object_new_string("joined-device"));
		json_object_object_add(o, "deviceHash",
		    json_object_new_string(hash));
		ws_send_obj(c, o);
		return;
	}
	if (!client_in_room(c, hash)) {
		if (c->nrooms >= ROOMS_MAX) {
			client_error(c, ack, "too many rooms");
			return;
		}
		memcpy(c->rooms[c->nrooms++], hash, RELAY_HASH_LEN + 1);
	}
	if (ack >= 0) {
		o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(o, "room", json_object_new_string(room));
		json_object_object_add(o, "deviceHash",
		    json_object_new_string(hash));
		sio_send_ack(c, ack, o);
	}
	o = json_object_new_object();
	json_object_object_add(o, "deviceHash", json_object_new_string(hash));
	json_object_object_add(o, "room", json_object_new_string(room));
	sio_send_event(c, "joined-device", o);
}

static void
client_join(struct client *c, const char *hash, long ack)
{
	struct pending *p;
	uint32_t reqid;
	int r;

	r = join_cache_get(S.cache, c->user, hash, now_ms());
	if (r == CACHE_ALLOW) {
		join_done(c, hash, ack);
		return;
	}
	if (r == CACHE_DENY) {
		client_error(c, ack, "device not found");
		return;
	}
	if (c->npending >= PENDING_PER_CLIENT) {
		client_error(c, ack, "too many pending joins");
		return;
	}
	if (bus_device_info(S.bus, c->user, c->role, hash,
	    S.conf.ipc_timeout_ms, &reqid) == -1) {
		log_warnx("DEVICE_INFO: devmgr not reachable");
		client_error(c, ack, "device service unavailable");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->reqid = reqid;
	p->serial = c->serial;
	p->ack = ack;
	p->deadline = now_ms() + S.conf.ipc_timeout_ms;
	memcpy(p->hash, hash, RELAY_HASH_LEN + 1);
	snprintf(p->user, sizeof(p->user), "%s", c->user);
	p->next = S.pending;
	S.pending = p;
	c->npending++;
}

static void
client_leave(struct client *c, const char *hash)
{
	int i;

	for (i = 0; i < c->nrooms; i++)
		if (strcmp(c->rooms[i], hash) == 0) {
			memmove(c->rooms[i], c->rooms[c->nrooms - 1],
			    sizeof(c->rooms[i]));
			c->nrooms--;
			return;
		}
}

static struct client *
client_by_serial(uint64_t serial)
{
	struct client *c;

	for (c = S.clients; c != NULL; c = c->next)
		if (c->serial == serial)
			return c;
	return NULL;
}

/* Finish pending lookup p with HTTP-like status (0 = timed out). */
static void
pending_finish(struct pending *p, int status)
{
	struct client *c;

	if (status == 200)
		join_cache_put(S.cache, p->user, p->hash, 1, now_ms());
	else if (status == 404 || status == 403)
		join_cache_put(S.cache, p->user, p->hash, 0, now_ms());
	if ((c = client_by_serial(p->serial)) == NULL || c->closing)
		return;
	c->npending--;
	if (status == 200)
		join_done(c, p->hash, p->ack);
	else if (status == 404 || status == 403 || status == 400)
		client_error(c, p->ack, "device not found");
	else if (status == 401)
		client_error(c, p->ack, "unauthorized");
	else if (status == 0)
		client_error(c, p->ack, "device lookup timed out");
	else
		client_error(c, p->ack, "device lookup failed");
}

static void
pending_expire(void)
{
	struct pending **pp = &S.pending, *p;
	int64_t now = now_ms();

	while ((p = *pp) != NULL) {
		if (p->deadline <= now) {
			*pp = p->next;
			pending_finish(p, 0);
			free(p);
		} else
			pp = &p->next;
	}
}

static void
drain_replies(void)
{
	struct pending **pp, *p;
	uint32_t reqid;
	int status, rc;

	while ((rc = bus_reply_next(S.bus, &reqid, &status)) != 0) {
		if (rc == -1)
			continue;
		for (pp = &S.pending; (p = *pp) != NULL; pp = &p->next)
			if (p->reqid == reqid)
				break;
		if (p == NULL)
			continue;	/* late reply after its deadline */
		*pp = p->next;
		pending_finish(p, status);
		free(p);
	}
}

/* ---- event fan-out ------------------------------------------------------ */

static void
client_push(struct client *c, struct frame *f)
{
	if (f == NULL)
		return;
	if (queue_push(&c->q, f))
		S.n_drops++;
	S.n_deliver++;
}

static void
fanout(const Ipc__Event *ev)
{
	struct rendered r;
	struct client *c;

	S.n_events++;
	if (S.clients == NULL)
		return;		/* nobody listens: no need to render */
	if (relay_render(ev, &r) == -1) {
		S.n_bad++;
		log_warnx("dropped a malformed event");
		return;
	}
	for (c = S.clients; c != NULL; c = c->next) {
		if (!c->authed || c->closing ||
		    !relay_may_see(c->user, c->admin, r.owner))
			continue;
		if (c->kind == KIND_WS) {
			if (c->filter[0] && strcmp(c->filter, r.device) != 0)
				continue;
			client_push(c, r.ws);
			client_push(c, r.ws_extra);
		} else {
			client_push(c, r.sio_global);
			if (client_in_room(c, r.device)) {
				client_push(c, r.sio_room);
				client_push(c, r.sio_hist);
			}
		}
		lws_callback_on_writable(c->wsi);
	}
	relay_rendered_clear(&r);
}

static void redrain_cb(lws_sorted_usec_list_t *);

static void
drain_events(void)
{
	Ipc__Event *ev;
	int rc, n = 0;

	while ((rc = bus_event_next(S.bus, &ev)) != 0) {
		if (rc == -1) {
			S.n_bad++;
			continue;
		}
		fanout(ev);
		ipc__event__free_unpacked(ev, NULL);
		if (++n >= DRAIN_BATCH) {
			/* Let writes happen; come back at once. */
			lws_sul_schedule(S.ctx, 0, &S.redrain, redrain_cb, 1);
			return;
		}
	}
}

static void
drain_bus(void)
{
	drain_events();
	drain_replies();
}

static void
redrain_cb(lws_sorted_usec_list_t *sul)
{
	drain_bus();
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	drain_bus();
	pending_expire();
	/* A line a minute while events flow. */
	if (++S.ticks % (60 * 10) == 0 && S.n_events != S.logged_events &&
	    (S.logged_events = S.n_events) != 0)
		log_info("%zu clients, %llu events (%llu malformed), "
		    "%llu deliveries, %llu dropped by back-pressure", S.nclients,
		    (unsigned long long)S.n_events,
		    (unsigned long long)S.n_bad,
		    (unsigned long long)S.n_deliver,
		    (unsigned long long)S.n_drops);
	lws_sul_schedule(S.ctx, 0, &S.tick, tick_cb, TICK_US);
}

/* ---- timers ------------------------------------------------------------- */

static void
client_arm_timer(struct client *c)
{
	int64_t next = NEVER, now = now_ms();

	if (c->next_ping < next)
		next = c->next_ping;
	if (c->pong_deadline < next)
		next = c->pong_deadline;
	if (c->connect_deadline < next)
		next = c->connect_deadline;
	if (c->authed && c->exp_ms < next)
		next = c->exp_ms;
	if (next == NEVER) {
		lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
		return;
	}
	if (next < now + 1)
		next = now + 1;
	lws_set_timer_usecs(c->wsi, (lws_usec_t)(next - now) * LWS_US_PER_MS);
}

static void
client_expired(struct client *c)
{
	log_info("%s: token expired, closing", c->user);
	if (c->kind == KIND_WS)
		ws_send_error(c, "token expired");
	else
		client_queue_ctl(c, "41", 2);	/* namespace disconnect */
	c->authed = 0;
	client_close(c, CLOSE_TOKEN, "token expired");
}

static void
client_timer(struct client *c)
{
	int64_t now = now_ms();

	if (c->closing)
		return;
	if (c->authed && c->exp_ms <= now) {
		client_expired(c);
		return;
	}
	if (c->connect_deadline <= now) {
		client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "no connect");
		return;
	}
	if (c->pong_deadline <= now) {
		client_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "ping timeout");
		return;
	}
	if (c->next_ping <= now) {
		if (c->kind == KIND_SIO) {
			client_queue_ctl(c, "2", 1);
			c->pong_deadline = now + S.conf.ping_timeout_ms;
			c->next_ping = NEVER;
		} else {
			c->want_ws_ping = 1;
			c->next_ping = now + WS_PING_MS;
			lws_callback_on_writable(c->wsi);
		}
	}
	client_arm_timer(c);
}

/* ---- /ws ---------------------------------------------------------------- */

static struct json_object *
parse_json(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if ((tok = json_tokener_new_ex(16)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static const char *
obj_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
ws_message(struct client *c, const char *text, size_t len)
{
	struct json_object *o, *r;
	const char *type, *dev;
	char hash[RELAY_HASH_LEN + 1];

	if ((o = parse_json(text, len)) == NULL) {
		ws_send_error(c, "Invalid JSON message");
		return;
	}
	type = obj_str(o, "type");
	if (type != NULL && (strcmp(type, "join-device") == 0 ||
	    strcmp(type, "join") == 0)) {
		dev = obj_str(o, "deviceHash");
		if (dev == NULL)
			dev = obj_str(o, "room");
		if (dev == NULL || *dev == '\0') {
			c->filter[0] = '\0';
			r = json_object_new_object();
			json_object_object_add(r, "type",
			    json_object_new_string("joined-device"));
			json_object_object_add(r, "deviceHash", NULL);
			ws_send_obj(c, r);
		} else if (relay_room_hash(dev, hash) == -1)
			ws_send_error(c, "invalid device hash");
		else
			client_join(c, hash, -1);
	} else if (type != NULL && strcmp(type, "leave-device") == 0) {
		c->filter[0] = '\0';
		r = json_object_new_object();
		json_object_object_add(r, "type",
		    json_object_new_string("left-device"));
		ws_send_obj(c, r);
	} else if (type != NULL && strcmp(type, "ping") == 0) {
		r = json_object_new_object();
		json_object_object_add(r, "type", json_object_new_string("pong"));
		ws_send_obj(c, r);
	} else {
		r = json_object_new_object();
		json_object_object_add(r, "type", json_object_new_string("echo"));
		json_object_object_add(r, "originalMessage", json_object_get(o));
		ws_send_obj(c, r);
	}
	json_object_put(o);
}

/* ---- /socket.io/ -------------------------------------------------------- */

static void
sio_connect(struct client *c, const struct sio_packet *pk)
{
	struct auth_claims cl;
	struct json_object *auth = NULL;
	struct buf b;
	const char *token = NULL;
	int rc = AUTH_EMALFORMED;

	buf_init(&b, 1024);
	if (strcmp(pk->nsp, "/") != 0) {
		sio_encode_connect_error(&b, pk->nsp, "Invalid namespace");
		goto out;
	}
	if (pk->datalen > 0 && (auth = parse_json(pk->data, pk->datalen)) ==
	    NULL) {
		sio_encode_connect_error(&b, "/", "invalid auth payload");
		goto out;
	}
	if ((token = obj_str(auth, "token")) != NULL)
		rc = verify_token(token, &cl);
	else if (c->hs_ok) {
		cl = c->hs_claims;
		rc = cl.exp * 1000 > now_ms() ? AUTH_OK : AUTH_EEXPIRED;
	}
	if (rc != AUTH_OK) {
		sio_encode_connect_error(&b, "/", rc == AUTH_EEXPIRED ?
		    "unauthorized: token expired" : "unauthorized");
		goto out;
	}
	sio_new_sid(c->sid);
	client_set_principal(c, &cl);
	c->connect_deadline = NEVER;
	client_arm_timer(c);
	sio_encode_connect(&b, c->sid);
	log_debug("socket.io client connected as %s", c->user);
out:
	client_queue_buf(c, &b);
	buf_free(&b);
	json_object_put(auth);
}

static void
sio_event(struct client *c, const struct sio_packet *pk)
{
	struct json_object *arg = NULL;
	char name[SIO_NAME_MAX], hash[RELAY_HASH_LEN + 1];
	const char *room = NULL;

	if (strcmp(pk->nsp, "/") != 0 || !c->authed) {
		/* An event before (or without) a namespace connect. */
		client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    "not connected");
		return;
	}
	if (sio_event_parse(pk->data, pk->datalen, name, &arg) == -1) {
		client_error(c, pk->ack, "malformed event");
		return;
	}
	if (json_object_is_type(arg, json_type_string))
		room = json_object_get_string(arg);
	else if (json_object_is_type(arg, json_type_object)) {
		if ((room = obj_str(arg, "deviceHash")) == NULL)
			room = obj_str(arg, "room");
	}
	if (strcmp(name, "join") == 0 || strcmp(name, "join-device") == 0) {
		if (relay_room_hash(room, hash) == -1)
			client_error(c, pk->ack, "invalid room");
		else
			client_join(c, hash, pk->ack);
	} else if (strcmp(name, "leave") == 0 ||
	    strcmp(name, "leave-device") == 0) {
		if (relay_room_hash(room, hash) == -1)
			client_error(c, pk->ack, "invalid room");
		else {
			client_leave(c, hash);
			if (pk->ack >= 0) {
				struct json_object *o = json_object_new_object();

				json_object_object_add(o, "ok",
				    json_object_new_boolean(1));
				sio_send_ack(c, pk->ack, o);
			}
		}
	} else
		client_error(c, pk->ack, "unknown event");
	json_object_put(arg);
}

/* Returns -1 when the connection must close (protocol violation). */
static int
sio_message(struct client *c, const char *text, size_t len)
{
	struct sio_packet pk;
	struct buf b;

	if (sio_parse(text, len, &pk) == -1)
		return -1;
	switch (pk.eio) {
	case SIO_EIO_CLOSE:
		client_close(c, LWS_CLOSE_STATUS_NORMAL, "");
		return 0;
	case SIO_EIO_PING:	/* "2probe" style: answer in kind */
		buf_init(&b, RX_MAX + 2);
		buf_putc(&b, '3');
		buf_append(&b, pk.data, pk.datalen);
		client_queue_buf(c, &b);
		buf_free(&b);
		return 0;
	case SIO_EIO_PONG:
		c->pong_deadline = NEVER;
		c->next_ping = now_ms() + S.conf.ping_interval_ms;
		client_arm_timer(c);
		return 0;
	case SIO_EIO_NOOP:
		return 0;
	case SIO_EIO_MESSAGE:
		break;
	default:
		return -1;
	}
	switch (pk.type) {
	case SIO_CONNECT:
		if (c->authed && strcmp(pk.nsp, "/") == 0)
			return 0;	/* already connected */
		sio_connect(c, &pk);
		return 0;
	case SIO_DISCONNECT:
		if (strcmp(pk.nsp, "/") == 0) {
			/* Left the namespace: no events; reconnect or go. */
			c->authed = 0;
			c->nrooms = 0;
			c->connect_deadline = now_ms() + CONNECT_TIMEOUT_MS;
			client_arm_timer(c);
		}
		return 0;
	case SIO_EVENT:
		sio_event(c, &pk);
		return 0;
	case SIO_ACK:
		return 0;
	}
	return -1;
}

/* ---- lws callbacks ------------------------------------------------------ */

static int
http_reply(struct lws *wsi, unsigned int status, const char *body)
{
	uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start,
	    *end = hdr + sizeof(hdr) - 1;
	uint8_t out[LWS_PRE + 512];
	size_t n = strlen(body);

	if (n > sizeof(out) - LWS_PRE)
		n = sizeof(out) - LWS_PRE;
	if (lws_add_http_common_headers(wsi, status, "application/json", n,
	    &p, end) || lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"cache-control:",
	    (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	memcpy(out + LWS_PRE, body, n);
	if (lws_write(wsi, out + LWS_PRE, n, LWS_WRITE_HTTP_FINAL) != (int)n)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int
path_kind(const char *uri)
{
	if (strcmp(uri, "/ws") == 0 || strcmp(uri, "/ws/") == 0)
		return KIND_WS;
	if (strcmp(uri, "/socket.io") == 0 || strcmp(uri, "/socket.io/") == 0)
		return KIND_SIO;
	return -1;
}

static int
serve_http(struct lws *wsi, const char *uri)
{
	char buf[128];
	const char *t;

	switch (path_kind(uri)) {
	case KIND_SIO:
		t = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof(buf));
		if (t != NULL && strcmp(t, "polling") == 0)
			return http_reply(wsi, 400, "{\"code\":3,\"message\":"
			    "\"Bad request\",\"detail\":\"only the websocket "
			    "transport is served: use transports: "
			    "['websocket']\"}");
		if (t != NULL && strcmp(t, "websocket") != 0)
			return http_reply(wsi, 400, "{\"code\":0,\"message\":"
			    "\"Transport unknown\"}");
		return http_reply(wsi, 400, "{\"code\":3,\"message\":"
		    "\"Bad request\",\"detail\":\"websocket upgrade "
		    "required\"}");
	case KIND_WS:
		return http_reply(wsi, 426, "{\"code\":\"UPGRADE_REQUIRED\","
		    "\"message\":\"WebSocket upgrade required\"}");
	}
	return http_reply(wsi, 404, "{\"code\":\"NOT_FOUND\",\"message\":"
	    "\"not found\"}");
}

/* Upgrade filter: right path, and for socket.io EIO=4 websocket only. */
static int
filter_upgrade(struct lws *wsi)
{
	char uri[256], buf[128];
	const char *v;
	int kind;

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return -1;
	if ((kind = path_kind(uri)) == -1)
		return -1;
	if (kind == KIND_SIO) {
		v = lws_get_urlarg_by_name(wsi, "EIO=", buf, sizeof(buf));
		if (v == NULL || strcmp(v, "4") != 0)
			return -1;
		v = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof(buf));
		if (v != NULL && strcmp(v, "websocket") != 0)
			return -1;
	}
	return 0;
}

static void
client_open(struct lws *wsi, struct pss *pss)
{
	struct client *c = xcalloc(1, sizeof(*c));
	struct auth_claims cl;
	struct buf b;
	char uri[256], token[4200];
	int rc;

	c->wsi = wsi;
	c->serial = ++S.serial;
	c->next_ping = c->pong_deadline = c->connect_deadline = NEVER;
	c->exp_ms = NEVER;
	queue_init(&c->q, S.conf.queue_max);
	queue_init(&c->ctl, CTL_QUEUE_MAX);
	buf_init(&c->rx, RX_MAX);
	uri[0] = '\0';
	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	c->kind = path_kind(uri) == KIND_SIO ? KIND_SIO : KIND_WS;
	pss->c = c;
	c->next = S.clients;
	if (S.clients)
		S.clients->prev = c;
	S.clients = c;
	S.nclients++;

	rc = handshake_token(wsi, token, sizeof(token)) == 0 ?
	    verify_token(token, &cl) : AUTH_EMALFORMED;
	explicit_bzero(token, sizeof(token));
	if (c->kind == KIND_WS) {
		struct json_object *o;

		if (rc != AUTH_OK) {
			ws_send_error(c, rc == AUTH_EEXPIRED ?
			    "unauthorized: token expired" :
			    "unauthorized: a valid token is required");
			client_close(c, CLOSE_TOKEN, "unauthorized");
			return;
		}
		client_set_principal(c, &cl);
		c->next_ping = now_ms() + WS_PING_MS;
		o = json_object_new_object();
		json_object_object_add(o, "type", json_object_new_string("welcome"));
		json_object_object_add(o, "message", json_object_new_string(
		    "Connected to WhatsApp Gateway WebSocket"));
		json_object_object_add(o, "user", json_object_new_string(c->user));
		json_object_object_add(o, "role", json_object_new_string(c->role));
		ws_send_obj(c, o);
		client_arm_timer(c);
		return;
	}
	if (rc == AUTH_OK) {
		c->hs_ok = 1;
		c->hs_claims = cl;
	}
	sio_new_sid(c->sid);
	buf_init(&b, 512);
	sio_encode_open(&b, c->sid, S.conf.ping_interval_ms,
	    S.conf.ping_timeout_ms, RX_MAX);
	client_queue_buf(c, &b);
	buf_free(&b);
	c->next_ping = now_ms() + S.conf.ping_interval_ms;
	c->connect_deadline = now_ms() + CONNECT_TIMEOUT_MS;
	client_arm_timer(c);
}

static void
client_gone(struct pss *pss)
{
	struct client *c = pss->c;

	if (c == NULL)
		return;
	pss->c = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		S.clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	S.nclients--;
	queue_free(&c->q);
	queue_free(&c->ctl);
	buf_free(&c->rx);
	free(c);
}

static int
write_frame(struct lws *wsi, struct frame *f)
{
	return lws_write(wsi, FRAME_TEXT(f), f->len, LWS_WRITE_TEXT) <
	    (int)f->len ? -1 : 0;
}

static int
write_dropped(struct client *c)
{
	struct buf b;
	char iso[32];
	struct frame *f;
	int rc;

	buf_init(&b, 256);
	if (c->kind == KIND_WS) {
		relay_iso_time(now_ms(), iso);
		buf_printf(&b, "{\"type\":\"dropped\",\"count\":%llu,"
		    "\"total\":%llu,\"timestamp\":\"%s\"}",
		    (unsigned long long)c->q.dropped_unreported,
		    (unsigned long long)c->q.dropped, iso);
	} else
		buf_printf(&b, "42[\"dropped\",{\"count\":%llu,\"total\":%llu}]",
		    (unsigned long long)c->q.dropped_unreported,
		    (unsigned long long)c->q.dropped);
	c->q.dropped_unreported = 0;
	f = frame_new(b.data, b.len);
	rc = write_frame(c->wsi, f);
	frame_unref(f);
	buf_free(&b);
	return rc;
}

static int
client_writable(struct client *c)
{
	struct frame *f;
	uint8_t ping[LWS_PRE + 4];
	int n = 0;

	if (c->want_ws_ping) {
		c->want_ws_ping = 0;
		if (lws_write(c->wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
		n++;
	}
	for (; n < WRITES_PER_CALLBACK; n++) {
		if (c->ctl.len == 0 && (c->closing ||
		    (c->q.len == 0 && c->q.dropped_unreported == 0)))
			break;
		/*
		 * The first write of a WRITEABLE callback needs no check;
		 * lws_send_pipe_choked() costs a poll(2) per call.
		 */
		if (n > 0 && lws_send_pipe_choked(c->wsi))
			break;
		/* replies first (pings, acks, errors), then the drop notice */
		if ((f = queue_pop(&c->ctl)) != NULL)
			c->ctl_bytes -= f->len;
		else {
			if (c->q.dropped_unreported > 0) {
				if (write_dropped(c) == -1)
					return -1;
				continue;
			}
			f = queue_pop(&c->q);
		}
		if (write_frame(c->wsi, f) == -1) {
			frame_unref(f);
			return -1;
		}
		frame_unref(f);
	}
	if (c->closing && c->ctl.len == 0) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->closing,
		    (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	if (c->ctl.len || (!c->closing && (c->q.len ||
	    c->q.dropped_unreported)))
		lws_callback_on_writable(c->wsi);
	return 0;
}

static int
client_receive(struct client *c, struct lws *wsi, const void *in, size_t len)
{
	if (c->closing)
		return 0;
	if (lws_frame_is_binary(wsi)) {
		if (c->kind == KIND_WS)
			ws_send_error(c, "binary frames are not supported");
		client_close(c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    "binary frames are not supported");
		return 0;
	}
	if (buf_append(&c->rx, in, len) == -1) {
		client_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    "message too large");
		return 0;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	if (c->kind == KIND_WS) {
		if (c->authed)
			ws_message(c, (const char *)c->rx.data, c->rx.len);
	} else if (sio_message(c, (const char *)c->rx.data, c->rx.len) == -1) {
		log_debug("socket.io: invalid packet, closing");
		client_close(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "invalid packet");
	}
	buf_reset(&c->rx);
	return 0;
}

static int
relay_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return serve_http(wsi, in ? (const char *)in : "/");
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return filter_upgrade(wsi);
	case LWS_CALLBACK_ESTABLISHED:
		client_open(wsi, pss);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (pss->c)
			return client_receive(pss->c, wsi, in, len);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (pss->c)
			return client_writable(pss->c);
		break;
	case LWS_CALLBACK_TIMER:
		if (pss && pss->c)
			client_timer(pss->c);
		break;
	case LWS_CALLBACK_CLOSED:
		if (pss)
			client_gone(pss);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int
bus_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		drain_bus();
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "wsrelay", relay_callback, sizeof(struct pss), 16384, 0, NULL, 0 },
	{ "wsrelay-bus", bus_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
lws_log_bridge(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

static int
adopt_fd(int fd)
{
	lws_sock_file_fd_type u;

	u.filefd = (lws_filefd_type)fd;
	if (lws_adopt_descriptor_vhost(S.vh, LWS_ADOPT_RAW_FILE_DESC, u,
	    "wsrelay-bus", NULL) == NULL) {
		log_warnx("cannot add the event bus fd to the loop");
		return -1;
	}
	return 0;
}

void
server_stop(void)
{
	S.stop = 1;
	if (S.ctx != NULL)
		lws_cancel_service(S.ctx);
}

int
server_run(const struct server_conf *conf)
{
	struct lws_context_creation_info info;
	struct client *c;
	struct pending *p;
	int rc = -1;

	memset(&S, 0, sizeof(S));
	S.conf = *conf;
	lws_set_log_level(LLL_ERR | LLL_WARN | (log_get_level() >=
	    LOG_LVL_DEBUG ? LLL_NOTICE : 0), lws_log_bridge);

	memset(&info, 0, sizeof(info));
	info.port = conf->port;
	info.iface = conf->iface;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 |
	    LWS_SERVER_OPTION_DISABLE_IPV6;
	info.max_http_header_data = 8192;
	info.timeout_secs = 10;
	info.vhost_name = "wsrelay";
	if ((S.ctx = lws_create_context(&info)) == NULL) {
		log_warnx("cannot listen on %s:%d", conf->iface, conf->port);
		return -1;
	}
	S.vh = lws_get_vhost_by_name(S.ctx, "wsrelay");
	if (S.vh == NULL) {
		log_warnx("no vhost");
		goto out;
	}
	S.cache = join_cache_new(RELAY_CACHE_MAX, JOIN_CACHE_TTL_MS);
	S.bus = bus_new(conf->events_ep, conf->control_ep);
	if (adopt_fd(bus_sub_fd(S.bus)) == -1 ||
	    adopt_fd(bus_ctl_fd(S.bus)) == -1)
		goto out;
	lws_sul_schedule(S.ctx, 0, &S.tick, tick_cb, TICK_US);
	log_info("listening on %s:%d (/ws, /socket.io/), events %s",
	    conf->iface, conf->port, conf->events_ep);

	while (!S.stop)
		if (lws_service(S.ctx, 0) < 0)
			break;
	rc = 0;
	log_info("stopping: %zu clients, %llu events, %llu deliveries, "
	    "%llu dropped", S.nclients, (unsigned long long)S.n_events,
	    (unsigned long long)S.n_deliver, (unsigned long long)S.n_drops);
out:
	/* zmq sockets first: lws closes the adopted fds after them. */
	bus_free(S.bus);
	S.bus = NULL;
	for (c = S.clients; c != NULL; c = c->next)
		c->closing = LWS_CLOSE_STATUS_GOINGAWAY;
	lws_context_destroy(S.ctx);
	S.ctx = NULL;
	while ((p = S.pending) != NULL) {
		S.pending = p->next;
		free(p);
	}
	join_cache_free(S.cache);
	S.cache = NULL;
	return rc;
}
