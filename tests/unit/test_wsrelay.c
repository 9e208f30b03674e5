/*
 * test_wsrelay.c - wsrelay's pure parts: Engine.IO/Socket.IO packet parsing
 * (including garbage) and encoding, room names, the authorization filter,
 * the per-client drop-oldest queue, event rendering, the join cache.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "ipc.h"
#include "relay.h"
#include "sio.h"
#include "t.h"

#define H1 "0123456789abcdef"

static int
parse(const char *s, struct sio_packet *pk)
{
	return sio_parse(s, strlen(s), pk);
}

static void
test_sio_parse_engine(void)
{
	struct sio_packet pk;

	T_EQ_INT(parse("2", &pk), 0, "ping parses");
	T_EQ_INT(pk.eio, SIO_EIO_PING, "ping type");
	T_EQ_INT(parse("3", &pk), 0, "pong parses");
	T_EQ_INT(pk.eio, SIO_EIO_PONG, "pong type");
	T_EQ_INT(parse("2probe", &pk), 0, "ping probe parses");
	T_EQ_MEM(pk.data, pk.datalen, "probe", 5, "probe payload");
	T_EQ_INT(parse("1", &pk), 0, "close parses");
	T_EQ_INT(parse("6", &pk), 0, "noop parses");
	T_EQ_INT(parse("0", &pk), -1, "open from client rejected");
	T_EQ_INT(parse("0{}", &pk), -1, "open with data rejected");
	T_EQ_INT(parse("5", &pk), -1, "upgrade rejected");
	T_EQ_INT(parse("", &pk), -1, "empty rejected");
	T_EQ_INT(sio_parse(NULL, 0, &pk), -1, "NULL rejected");
	T_EQ_INT(parse("7", &pk), -1, "type 7 rejected");
	T_EQ_INT(parse("x42", &pk), -1, "letter rejected");
	T_EQ_INT(parse("\xff\xfe", &pk), -1, "high bytes rejected");
	T_EQ_INT(parse("4", &pk), -1, "message without packet rejected");
}

static void
test_sio_parse_socketio(void)
{
	struct sio_packet pk;

	T_EQ_INT(parse("40", &pk), 0, "connect");
	T_EQ_INT(pk.type, SIO_CONNECT, "connect type");
	T_EQ_STR(pk.nsp, "/", "default namespace");
	T_EQ_INT((long)pk.datalen, 0, "connect no data");
	T_EQ_INT(parse("40{\"token\":\"abc\"}", &pk), 0, "connect with auth");
	T_EQ_MEM(pk.data, pk.datalen, "{\"token\":\"abc\"}", 15, "auth data");
	T_EQ_INT(parse("40/admin,{\"token\":\"x\"}", &pk), 0, "connect nsp");
	T_EQ_STR(pk.nsp, "/admin", "namespace parsed");
	T_EQ_INT(parse("40/admin", &pk), 0, "connect nsp without comma");
	T_EQ_STR(pk.nsp, "/admin", "namespace to end");
	T_EQ_INT(parse("41", &pk), 0, "disconnect");
	T_EQ_INT(pk.type, SIO_DISCONNECT, "disconnect type");
	T_EQ_INT(parse("41x", &pk), -1, "disconnect with junk rejected");
	T_EQ_INT(parse("42[\"join\",\"device-" H1 "\"]", &pk), 0, "event");
	T_EQ_INT(pk.type, SIO_EVENT, "event type");
	T_EQ_INT(pk.ack, -1, "no ack");
	T_EQ_INT(parse("4217[\"join\",\"x\"]", &pk), 0, "event with ack");
	T_EQ_INT(pk.ack, 17, "ack id");
	T_EQ_INT(parse("42/chat,3[\"a\"]", &pk), 0, "event nsp + ack");
	T_EQ_STR(pk.nsp, "/chat", "event nsp");
	T_EQ_INT(pk.ack, 3, "event nsp ack");
	T_EQ_INT(parse("431[]", &pk), 0, "ack packet");
	T_EQ_INT(parse("43[]", &pk), -1, "ack without id rejected");
	T_EQ_INT(parse("42", &pk), -1, "event without payload rejected");
	T_EQ_INT(parse("42abc", &pk), -1, "event with junk rejected");
	T_EQ_INT(parse("42{\"a\":1}", &pk), -1, "event object rejected");
	T_EQ_INT(parse("44{\"message\":\"x\"}", &pk), -1, "client 44 rejected");
	T_EQ_INT(parse("451-[\"a\",{\"_placeholder\":true,\"num\":0}]", &pk),
	    -1, "binary event rejected");
	T_EQ_INT(parse("46", &pk), -1, "binary ack rejected");
	T_EQ_INT(parse("49", &pk), -1, "type 9 rejected");
	T_EQ_INT(parse("4x", &pk), -1, "letter type rejected");
	T_EQ_INT(parse("421234567890123[\"a\"]", &pk), -1,
	    "huge ack id rejected");
	T_EQ_INT(parse("40/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaa,", &pk), -1, "long namespace rejected");
	T_EQ_INT(parse("40/a b,", &pk), -1, "space in namespace rejected");
	T_EQ_INT(parse("40[1]", &pk), -1, "connect with array rejected");
	T_EQ_INT(parse("4012{}", &pk), -1, "connect with ack rejected");
}

static void
test_sio_event_parse(void)
{
	struct json_object *arg;
	char name[SIO_NAME_MAX];
	const char *s;
	char deep[200];
	size_t i;

	s = "[\"join\",\"device-" H1 "\"]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), 0, "join event");
	T_EQ_STR(name, "join", "name");
	T_EQ_STR(json_object_get_string(arg), "device-" H1, "argument");
	json_object_put(arg);
	s = "[\"ping\"]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), 0, "no argument");
	T_OK(arg == NULL, "argument NULL");
	s = "[\"join-device\",{\"deviceHash\":\"" H1 "\"},1]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), 0, "object arg");
	T_OK(json_object_is_type(arg, json_type_object), "object type");
	json_object_put(arg);
	s = "[]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1, "empty array");
	s = "[1,2]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1, "number name");
	s = "[\"\"]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1, "empty name");
	s = "[\"a\"] junk";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1,
	    "trailing junk");
	s = "[\"a\"";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1, "truncated");
	s = "[\"a\\u0000b\"]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1,
	    "NUL in name rejected");
	s = "[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]";
	T_EQ_INT(sio_event_parse(s, strlen(s), name, &arg), -1, "long name");
	memset(deep, '[', sizeof(deep));
	for (i = 0; i < 100; i++)
		deep[100 + i] = ']';
	T_EQ_INT(sio_event_parse(deep, sizeof(deep), name, &arg), -1,
	    "deep nesting rejected");
	T_EQ_INT(sio_event_parse("", 0, name, &arg), -1, "empty");
}

static void
test_sio_encode(void)
{
	struct buf b;

	buf_init(&b, 4096);
	sio_encode_open(&b, "abc", 25000, 20000, 65536);
	T_EQ_STR(buf_cstr(&b), "0{\"sid\":\"abc\",\"upgrades\":[],"
	    "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":65536}",
	    "open packet");
	buf_reset(&b);
	sio_encode_event(&b, "qr-code", "{\"a\":1}");
	T_EQ_STR(buf_cstr(&b), "42[\"qr-code\",{\"a\":1}]", "event");
	buf_reset(&b);
	sio_encode_event(&b, "x\"y", NULL);
	T_EQ_STR(buf_cstr(&b), "42[\"x\\\"y\"]", "event name escaped");
	buf_reset(&b);
	sio_encode_ack(&b, 12, "{\"ok\":true}");
	T_EQ_STR(buf_cstr(&b), "4312[{\"ok\":true}]", "ack");
	buf_reset(&b);
	sio_encode_connect(&b, "SID");
	T_EQ_STR(buf_cstr(&b), "40{\"sid\":\"SID\"}", "connect");
	buf_reset(&b);
	sio_encode_connect_error(&b, "/", "bad \"token\"");
	T_EQ_STR(buf_cstr(&b), "44{\"message\":\"bad \\\"token\\\"\"}",
	    "connect error escaped");
	buf_reset(&b);
	sio_encode_connect_error(&b, "/admin", "Invalid namespace");
	T_EQ_STR(buf_cstr(&b), "44/admin,{\"message\":\"Invalid namespace\"}",
	    "connect error namespace");
	buf_free(&b);
}

static void
test_sio_sid(void)
{
	char a[21], b[21];
	size_t i;
	int ok = 1;

	sio_new_sid(a);
	sio_new_sid(b);
	T_EQ_INT((long)strlen(a), 20, "sid length");
	T_OK(strcmp(a, b) != 0, "sids differ");
	for (i = 0; i < 20; i++)
		if (!((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= 'a' &&
		    a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9') ||
		    a[i] == '-' || a[i] == '_'))
			ok = 0;
	T_OK(ok, "sid is base64url");
}

static void
test_room_names(void)
{
	char h[RELAY_HASH_LEN + 1];

	T_EQ_INT(relay_room_hash("device-" H1, h), 0, "device-<hash>");
	T_EQ_STR(h, H1, "hash from room");
	T_EQ_INT(relay_room_hash(H1, h), 0, "bare hash");
	T_EQ_STR(h, H1, "bare hash copied");
	T_EQ_INT(relay_room_hash("device-0123456789ABCDEF", h), -1,
	    "uppercase rejected");
	T_EQ_INT(relay_room_hash("device-0123456789abcde", h), -1, "15 hex");
	T_EQ_INT(relay_room_hash("device-0123456789abcdef0", h), -1, "17 hex");
	T_EQ_INT(relay_room_hash("device-", h), -1, "prefix only");
	T_EQ_INT(relay_room_hash("room-" H1, h), -1, "other prefix");
	T_EQ_INT(relay_room_hash("device-../../etc/pass", h), -1, "junk");
	T_EQ_INT(relay_room_hash(NULL, h), -1, "NULL");
	T_EQ_STR(h, "", "cleared on failure");
	T_OK(relay_valid_hash(H1), "valid hash");
	T_OK(!relay_valid_hash("0123456789abcdeg"), "g is not hex");
}

static void
test_authz_filter(void)
{
	T_OK(relay_may_see("alice", 0, "alice"), "owner sees own");
	T_OK(!relay_may_see("alice", 0, "bob"), "user does not see other");
	T_OK(!relay_may_see("alice", 0, ""), "user does not see ownerless");
	T_OK(!relay_may_see("alice", 0, "alice2"), "no prefix match");
	T_OK(!relay_may_see("alic", 0, "alice"), "no prefix match 2");
	T_OK(relay_may_see("root", 1, "bob"), "admin sees all");
	T_OK(relay_may_see("root", 1, ""), "admin sees ownerless");
	T_OK(!relay_may_see("", 0, ""), "empty user sees nothing");
	T_OK(!relay_may_see(NULL, 0, "bob"), "NULL user sees nothing");
}

static void
test_queue_drop_oldest(void)
{
	struct queue q;
	struct frame *f[5], *g;
	char s[8];
	int i, dropped = 0;

	queue_init(&q, 3);
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "f%d", i);
		f[i] = frame_new(s, strlen(s));
		dropped += queue_push(&q, f[i]);
	}
	T_EQ_INT(dropped, 2, "two pushes dropped one each");
	T_EQ_INT((long)q.len, 3, "queue holds max");
	T_EQ_INT((long)q.dropped, 2, "dropped counter");
	T_EQ_INT((long)q.dropped_unreported, 2, "unreported counter");
	T_EQ_INT(f[0]->refs, 1, "dropped frame released");
	T_EQ_INT(f[4]->refs, 2, "queued frame referenced");
	for (i = 2; i < 5; i++) {
		g = queue_pop(&q);
		T_OK(g == f[i], "oldest remaining first (f%d)", i);
		frame_unref(g);
	}
	T_OK(queue_pop(&q) == NULL, "empty");
	for (i = 0; i < 5; i++)
		frame_unref(f[i]);
	queue_free(&q);
}

static void
test_queue_grow_wrap(void)
{
	struct queue q;
	struct frame *f = frame_new("x", 1), *g;
	int i, ok = 1;

	queue_init(&q, 100);
	for (i = 0; i < 10; i++)
		queue_push(&q, f);
	for (i = 0; i < 7; i++)
		frame_unref(queue_pop(&q));
	for (i = 0; i < 90; i++)	/* wraps, then grows */
		if (queue_push(&q, f))
			ok = 0;
	T_OK(ok, "no drop below max");
	T_EQ_INT((long)q.len, 93, "length after wrap and growth");
	for (i = 0; i < 20; i++)
		queue_push(&q, f);
	T_EQ_INT((long)q.len, 100, "capped at max");
	T_EQ_INT((long)q.dropped, 13, "dropped over max");
	T_EQ_INT(f->refs, 101, "one reference per queued slot");
	g = queue_peek(&q);
	T_OK(g == f, "peek");
	queue_free(&q);
	T_EQ_INT(f->refs, 1, "queue_free releases all");
	frame_unref(f);
}

static Ipc__Event
mkev(const char *dev, const char *owner, const char *type, const char *json)
{
	Ipc__Event ev = IPC__EVENT__INIT;

	ev.device = (char *)dev;
	ev.owner = (char *)owner;
	ev.type = (char *)type;
	ev.ts_ms = 1795536198749LL;
	ev.id = (char *)"ev-1";
	ev.json.data = (uint8_t *)json;
	ev.json.len = json ? strlen(json) : 0;
	return ev;
}

static void
test_render(void)
{
	Ipc__Event ev;
	struct rendered r;
	char *env;

	ev = mkev(H1, "alice", "status",
	    "{\"status\":\"starting\",\"previous\":\"registered\","
	    "\"event\":\"started\",\"cause\":\"api\"}");
	env = relay_envelope(&ev);
	T_EQ_STR(env, "{\"type\":\"status\",\"deviceHash\":\"" H1 "\","
	    "\"timestamp\":\"2026-11-24T16:03:18.749Z\",\"ts\":1795536198749,"
	    "\"eventId\":\"ev-1\",\"status\":\"starting\","
	    "\"previous\":\"registered\",\"event\":\"started\","
	    "\"cause\":\"api\"}", "status envelope");
	free(env);
	T_EQ_INT(relay_render(&ev, &r), 0, "render status");
	T_OK(r.ws && strncmp((char *)FRAME_TEXT(r.ws),
	    "{\"type\":\"whatsapp-websocket-message\",\"deviceHash\":\"" H1
	    "\",\"message\":{\"type\":\"status\"", 90) == 0, "ws frame");
	T_OK(r.sio_global && strncmp((char *)FRAME_TEXT(r.sio_global),
	    "42[\"whatsapp-websocket-message\",{\"deviceHash\":\"" H1
	    "\",\"message\":{", 60) == 0, "sio global frame");
	T_OK(r.sio_room && strncmp((char *)FRAME_TEXT(r.sio_room),
	    "42[\"device-websocket-message\",", 30) == 0, "sio room frame");
	T_OK(r.sio_hist == NULL, "no historical event for status");
	T_OK(r.ws_extra == NULL, "no extra ws frame for status");
	T_EQ_STR(r.owner, "alice", "owner kept");
	T_EQ_STR(r.device, H1, "device kept");
	relay_rendered_clear(&r);

	ev = mkev(H1, "alice", "qr", "{\"qr\":\"2@x\",\"qrCode\":"
	    "\"data:image/png;base64,AA\",\"expiresAt\":\"t\",\"ttl\":20}");
	T_EQ_INT(relay_render(&ev, &r), 0, "render qr");
	T_OK(r.sio_hist && strncmp((char *)FRAME_TEXT(r.sio_hist),
	    "42[\"qr-code\",{\"type\":\"qr\"", 25) == 0, "qr-code room event");
	T_OK(strstr((char *)FRAME_TEXT(r.sio_hist), "\"qrImage\":"
	    "\"data:image/png;base64,AA\"") != NULL, "qrImage alias");
	relay_rendered_clear(&r);

	ev = mkev(H1, "alice", "process-stopped", "{\"cause\":\"crashed\"}");
	T_EQ_INT(relay_render(&ev, &r), 0, "render process-stopped");
	T_OK(r.ws_extra && strncmp((char *)FRAME_TEXT(r.ws_extra),
	    "{\"type\":\"process-stopped\",\"deviceHash\":\"" H1 "\"", 40) == 0,
	    "ws top-level process-stopped");
	T_OK(r.sio_hist && strncmp((char *)FRAME_TEXT(r.sio_hist),
	    "42[\"process-stopped\"", 20) == 0, "process-stopped room event");
	relay_rendered_clear(&r);

	ev = mkev(H1, "alice", "message", "{\"id\":\"M1\",\"timestamp\":5,"
	    "\"type\":\"text\",\"body\":\"hi\"}");
	env = relay_envelope(&ev);
	T_OK(env && strstr(env, "\"type\":\"message\"") &&
	    strstr(env, "\"raw\":{\"timestamp\":5,\"type\":\"text\"}") &&
	    strstr(env, "\"id\":\"M1\""), "colliding keys moved to raw");
	free(env);

	ev = mkev(H1, "alice", "ready", NULL);
	env = relay_envelope(&ev);
	T_OK(env && strstr(env, "\"type\":\"ready\""), "empty payload");
	free(env);
	T_EQ_STR(relay_hist_name("ready", NULL), "auth-success",
	    "ready -> auth-success");
	T_EQ_STR(relay_hist_name("qr-expired", NULL), "qr-expired",
	    "qr-expired");
	T_EQ_STR(relay_hist_name("auth_failed", NULL), "auth-failed",
	    "auth-failed");
	T_OK(relay_hist_name("ack", NULL) == NULL, "ack has none");

	ev = mkev(H1, "alice", "ack", "[1,2]");
	env = relay_envelope(&ev);
	T_OK(env && strstr(env, "\"data\":[1,2]"), "non-object payload in data");
	free(env);
}

static void
test_render_malformed(void)
{
	Ipc__Event ev;
	struct rendered r;
	char owner[100];

	ev = mkev("0123", "alice", "status", "{}");
	T_EQ_INT(relay_render(&ev, &r), -1, "short hash");
	ev = mkev(H1, "alice", "sta tus", "{}");
	T_EQ_INT(relay_render(&ev, &r), -1, "space in type");
	ev = mkev(H1, "alice", "", "{}");
	T_EQ_INT(relay_render(&ev, &r), -1, "empty type");
	ev = mkev(H1, "alice", "status", "{\"a\":");
	T_EQ_INT(relay_render(&ev, &r), -1, "truncated JSON");
	ev = mkev(H1, "alice", "status", "{} {}");
	T_EQ_INT(relay_render(&ev, &r), -1, "trailing JSON");
	ev = mkev(H1, "alice", "status", "\xff");
	T_EQ_INT(relay_render(&ev, &r), -1, "garbage bytes");
	memset(owner, 'a', sizeof(owner) - 1);
	owner[sizeof(owner) - 1] = '\0';
	ev = mkev(H1, owner, "status", "{}");
	T_EQ_INT(relay_render(&ev, &r), -1, "owner too long");
	ev = mkev(NULL, "alice", "status", "{}");
	ev.device = NULL;
	T_EQ_INT(relay_render(&ev, &r), -1, "NULL device");
	T_OK(r.ws == NULL && r.sio_global == NULL, "nothing left on failure");
}

static void
test_join_cache(void)
{
	struct join_cache *c = join_cache_new(2, 1000);

	T_EQ_INT(join_cache_get(c, "alice", H1, 0), CACHE_MISS, "miss");
	join_cache_put(c, "alice", H1, 1, 0);
	T_EQ_INT(join_cache_get(c, "alice", H1, 500), CACHE_ALLOW, "allow");
	T_EQ_INT(join_cache_get(c, "bob", H1, 500), CACHE_MISS,
	    "per user");
	T_EQ_INT(join_cache_get(c, "alice", H1, 1000), CACHE_MISS, "expired");
	join_cache_put(c, "bob", H1, 0, 100);
	T_EQ_INT(join_cache_get(c, "bob", H1, 200), CACHE_DENY, "deny");
	join_cache_put(c, "carol", H1, 1, 300);	/* evicts alice (oldest) */
	T_EQ_INT(join_cache_get(c, "alice", H1, 300), CACHE_MISS, "evicted");
	T_EQ_INT(join_cache_get(c, "carol", H1, 300), CACHE_ALLOW, "newest");
	T_EQ_INT(join_cache_get(c, "bob", H1, 300), CACHE_DENY, "kept");
	join_cache_put(c, "dave", "not-a-hash", 1, 300);
	T_EQ_INT(join_cache_get(c, "dave", "not-a-hash", 300), CACHE_MISS,
	    "invalid hash never cached");
	join_cache_free(c);
	join_cache_free(NULL);
}

static void
test_iso_time(void)
{
	char s[32];

	relay_iso_time(0, s);
	T_EQ_STR(s, "1970-01-01T00:00:00.000Z", "epoch");
	relay_iso_time(1795536198749LL, s);
	T_EQ_STR(s, "2026-11-24T16:03:18.749Z", "ms kept");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_sio_parse_engine);
	T_RUN(test_sio_parse_socketio);
	T_RUN(test_sio_event_parse);
	T_RUN(test_sio_encode);
	T_RUN(test_sio_sid);
	T_RUN(test_room_names);
	T_RUN(test_authz_filter);
	T_RUN(test_queue_drop_oldest);
	T_RUN(test_queue_grow_wrap);
	T_RUN(test_render);
	T_RUN(test_render_malformed);
	T_RUN(test_join_cache);
	T_RUN(test_iso_time);
	return t_done();
}
