/*
 * test_outbox.c - the durable outbox (waproc/outbox.c + store-msg.c) on a
 * real store.db in a temp dir: idempotency, client ids, monotonic status,
 * the message.ack webhook written in the same transaction as the status
 * (a failure rolls back both), retries, crash, and one status change
 * delivered over real HTTP (hookrx.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>
#include <zmq.h>

#include "t.h"
#include "hookrx.h"
#include "hook-payload.h"
#include "log.h"
#include "msghook.h"
#include "msgid.h"
#include "outbox.h"
#include "store.h"
#include "store-msg.h"

static char tmpdir[] = "/tmp/test_outbox.XXXXXX";
static int ndir;
static char lastdir[256];

static struct store *
open_fresh(void)
{
	snprintf(lastdir, sizeof(lastdir), "%s/d%d", tmpdir, ndir++);
	return store_open(lastdir);
}

static long long
hooks(struct store *s)
{
	return q_int(s, "SELECT COUNT(*) FROM webhook_queue", NULL);
}

/* A JSON string field of an object, or "" */
static const char *
jget(const char *json, const char *k1, const char *k2)
{
	static char out[512];
	struct json_object *o = json_tokener_parse(json), *v = NULL;

	out[0] = '\0';
	if (o != NULL && json_object_object_get_ex(o, k1, &v) && k2 != NULL &&
	    !json_object_object_get_ex(v, k2, &v))
		v = NULL;
	if (v != NULL)
		snprintf(out, sizeof(out), "%s", json_object_get_string(v));
	json_object_put(o);
	return out;
}

static const char req[] = "{\"phone\":\"5511987654321\",\"message\":\"hi\"}";
static const char chat[] = "5511987654321@s.whatsapp.net";

static void
test_idempotency(void)
{
	struct store *s = open_fresh();
	char id1[MSGID_MAX], id2[MSGID_MAX];
	char *a1 = NULL, *a2 = NULL;

	T_OK(s != NULL, "store opened");
	T_EQ_INT(outbox_accept(s, NULL, "key-1", "text", chat, req, id1, &a1),
	    OUTBOX_NEW, "first request accepted");
	T_EQ_INT(strlen(id1), MSGID_LEN, "generated id length");
	T_OK(strncmp(id1, MSGID_PREFIX, 4) == 0, "generated id prefix");
	T_EQ_STR(jget(a1, "message_id", NULL), id1, "answer names the id");
	T_EQ_STR(jget(a1, "status", NULL), "queued", "answer: queued");
	outbox_mark(s, id1, "sent", 1700000000, NULL);
	T_EQ_INT(outbox_accept(s, NULL, "key-1", "text", chat, req, id2, &a2),
	    OUTBOX_REPLAY, "same key: replay");
	T_EQ_STR(id2, id1, "same message id");
	T_EQ_STR(a2, a1, "same (first) answer");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), 1, "one row");
	free(a2);
	a2 = NULL;
	T_EQ_INT(outbox_accept(s, NULL, "key-2", "text", chat, req, id2, &a2),
	    OUTBOX_NEW, "another key: new");
	T_OK(strcmp(id2, id1) != 0, "another id");
	free(a2);
	a2 = NULL;
	T_EQ_INT(outbox_accept(s, NULL, "bad key", "text", chat, req, id2, &a2),
	    OUTBOX_EINVAL, "key with a space refused");
	T_OK(a2 == NULL && id2[0] == '\0', "outputs cleared");
	free(a1);
	store_close(s);
}

static void
test_client_id(void)
{
	struct store *s = open_fresh();
	char id[MSGID_MAX], *a = NULL;
	const char *good = "3EB0ABCDEF0123456789AB";

	T_EQ_INT(outbox_accept(s, good, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "valid client id accepted");
	T_EQ_STR(id, good, "client id kept");
	free(a);
	a = NULL;
	T_EQ_INT(outbox_accept(s, good, NULL, "text", chat, req, id, &a),
	    OUTBOX_REPLAY, "same client id: replay");
	T_EQ_STR(jget(a, "message_id", NULL), good, "first answer");
	free(a);
	a = NULL;
	T_EQ_INT(outbox_accept(s, "3eb0abcdef0123456789ab", NULL, "text", chat,
	    req, id, &a), OUTBOX_EINVAL, "lowercase refused");
	T_EQ_INT(outbox_accept(s, "ABC", NULL, "text", chat, req, id, &a),
	    OUTBOX_EINVAL, "too short refused");
	T_EQ_INT(outbox_accept(s, "3EB0ABCDEF0123456789A\"", NULL, "text",
	    chat, req, id, &a), OUTBOX_EINVAL, "quote refused");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), 1,
	    "refused ids add no row");
	T_EQ_INT(outbox_accept(s, "", NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "empty id: generated");
	T_OK(msgid_valid_new(id), "generated id valid");
	free(a);
	store_close(s);
}

static void
test_monotonic(void)
{
	static const struct {
		const char	*st;
		int		 rc;
	} seq[] = {
		{ "sent", OUTBOX_NEW }, { "sent", OUTBOX_UNCHANGED },
		{ "queued", OUTBOX_EINVAL }, { "delivered", OUTBOX_NEW },
		{ "sent", OUTBOX_UNCHANGED }, { "failed", OUTBOX_UNCHANGED },
		{ "read", OUTBOX_NEW }, { "delivered", OUTBOX_UNCHANGED },
		{ "read", OUTBOX_UNCHANGED }, { "bogus", OUTBOX_EINVAL },
	};
	struct store *s = open_fresh();
	char id[MSGID_MAX], *a = NULL, *g;
	long long h0, want;
	size_t i;

	msghook_set_target("http://127.0.0.1:9/unused", NULL);
	outbox_set_identity("0123456789abcdef", "5511000000000@s.whatsapp.net",
	    "5511000000000");
	outbox_accept(s, NULL, NULL, "text", chat, req, id, &a);
	free(a);
	h0 = hooks(s);
	T_EQ_INT(h0, 0, "accepting sends no webhook");
	want = 0;
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		T_OK(outbox_mark(s, id, seq[i].st, 1700000000 + (int64_t)i,
		    NULL) == seq[i].rc, "%s -> rc %d", seq[i].st, seq[i].rc);
		if (seq[i].rc == OUTBOX_NEW)
			want++;
		T_EQ_INT(hooks(s), want, "one webhook per change, none else");
	}
	g = outbox_get(s, id);
	T_OK(g != NULL, "outbox_get");
	T_EQ_STR(jget(g, "status", NULL), "read", "status read");
	T_EQ_STR(jget(g, "server_timestamp", NULL), "1700000006",
	    "server timestamp of the last change");
	T_EQ_STR(jget(g, "chat_id", NULL), chat, "chat");
	free(g);
	T_EQ_STR(jget(q_str(s, "SELECT payload FROM webhook_queue ORDER BY id "
	    "DESC", NULL), "payload", "status"), "read", "payload.status");
	T_EQ_STR(q_str(s, "SELECT event FROM webhook_queue", NULL),
	    "message.ack", "event message.ack");
	T_EQ_STR(jget(q_str(s, "SELECT payload FROM webhook_queue", NULL),
	    "device_hash", NULL), "0123456789abcdef", "device_hash");
	T_EQ_INT(strlen(jget(q_str(s, "SELECT payload FROM webhook_queue",
	    NULL), "event_id", NULL)), HOOK_EVENT_ID_LEN, "event_id");
	T_EQ_INT(outbox_mark(s, "3EB0FFFFFFFFFFFFFFFFFF", "sent", 0, NULL),
	    OUTBOX_ENOENT, "unknown id");
	T_OK(outbox_get(s, "3EB0FFFFFFFFFFFFFFFFFF") == NULL,
	    "unknown id: no status");

	/* failed: from queued (or sent) only, and final */
	outbox_accept(s, NULL, NULL, "text", chat, req, id, &a);
	free(a);
	T_EQ_INT(outbox_mark(s, id, "failed", 0, "no session"), OUTBOX_NEW,
	    "queued -> failed");
	T_EQ_INT(outbox_mark(s, id, "sent", 0, NULL), OUTBOX_UNCHANGED,
	    "failed is final");
	g = outbox_get(s, id);
	T_EQ_STR(jget(g, "error", NULL), "no session", "error kept");
	free(g);
	T_EQ_STR(jget(q_str(s, "SELECT payload FROM webhook_queue ORDER BY id "
	    "DESC", NULL), "payload", "error"), "no session",
	    "failed webhook carries the error");
	outbox_accept(s, NULL, NULL, "text", chat, req, id, &a);
	free(a);
	outbox_mark(s, id, "sent", 0, NULL);
	T_EQ_INT(outbox_mark(s, id, "failed", 0, "x"), OUTBOX_NEW,
	    "sent -> failed");
	msghook_set_target(NULL, NULL);
	store_close(s);
}

static void
test_atomic(void)
{
	struct store *s = open_fresh();
	char id[MSGID_MAX], *a = NULL, *g;

	msghook_set_target("http://127.0.0.1:9/unused", NULL);
	outbox_accept(s, NULL, NULL, "text", chat, req, id, &a);
	free(a);
	/* the webhook insert fails: the status change must not stay */
	T_OK(sqlite3_exec(store_db(s), "CREATE TEMP TRIGGER no_hook BEFORE "
	    "INSERT ON webhook_queue BEGIN SELECT RAISE(ABORT, 'test'); END",
	    NULL, NULL, NULL) == SQLITE_OK, "trigger set");
	T_EQ_INT(outbox_mark(s, id, "sent", 5, NULL), OUTBOX_ERR,
	    "mark fails with the webhook");
	g = outbox_get(s, id);
	T_EQ_STR(jget(g, "status", NULL), "queued", "status rolled back");
	free(g);
	T_EQ_INT(hooks(s), 0, "no webhook");
	sqlite3_exec(store_db(s), "DROP TRIGGER no_hook", NULL, NULL, NULL);

	/* the status write fails: no webhook either */
	sqlite3_exec(store_db(s), "CREATE TEMP TRIGGER no_upd BEFORE UPDATE ON "
	    "outbox BEGIN SELECT RAISE(ABORT, 'test'); END", NULL, NULL, NULL);
	T_EQ_INT(outbox_mark(s, id, "sent", 5, NULL), OUTBOX_ERR,
	    "mark fails with the row");
	T_EQ_INT(hooks(s), 0, "still no webhook");
	sqlite3_exec(store_db(s), "DROP TRIGGER no_upd", NULL, NULL, NULL);

	T_EQ_INT(outbox_mark(s, id, "sent", 5, NULL), OUTBOX_NEW,
	    "then it works");
	T_EQ_INT(hooks(s), 1, "status and webhook together");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'",
	    NULL), 1, "row sent");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM webhook_delivery", NULL), 1,
	    "its delivery row");
	msghook_set_target(NULL, NULL);
	store_close(s);
}

static void
test_retry(void)
{
	struct store *s = open_fresh();
	struct store_ob_row due[4];
	char id[MSGID_MAX], *a = NULL, *g;
	int n, i;

	outbox_set_retry(10, 20, 3);
	outbox_accept(s, NULL, NULL, "image", chat, req, id, &a);
	free(a);
	n = outbox_next_due(s, due, 4);
	T_EQ_INT(n, 1, "one due");
	if (n == 1) {
		T_EQ_STR(due[0].id, id, "its id");
		T_EQ_STR(due[0].kind, "image", "its kind");
		T_EQ_STR(due[0].request, req, "its request");
	}
	for (i = 0; i < n; i++)
		store_ob_row_free(&due[i]);
	T_EQ_INT(outbox_retry(s, id, "timeout"), 0, "retry 1 scheduled");
	T_OK(q_int(s, "SELECT next_at - updated_at FROM outbox", NULL) >= 5,
	    "backoff: due later");
	T_EQ_INT(outbox_retry(s, id, "timeout"), 0, "retry 2 scheduled");
	T_EQ_INT(outbox_retry(s, id, "timeout"), OUTBOX_FAILED,
	    "third failure: failed");
	g = outbox_get(s, id);
	T_EQ_STR(jget(g, "status", NULL), "failed", "status failed");
	T_EQ_STR(jget(g, "attempts", NULL), "3", "three attempts");
	free(g);
	T_EQ_INT(outbox_retry(s, id, "x"), OUTBOX_UNCHANGED,
	    "not queued any more");
	T_EQ_INT(outbox_next_due(s, due, 4), 0, "nothing due");
	T_EQ_INT(outbox_timeout_ms(s), -1, "nothing to wait for");
	outbox_set_retry(0, 0, 0);
	store_close(s);
}

static void
test_crash(void)
{
	struct store *s = open_fresh();
	struct store_ob_row due[2];
	char id[MSGID_MAX], *a = NULL;
	int n, i;

	outbox_accept(s, NULL, "k", "text", chat, req, id, &a);
	free(a);
	store_close(s);			/* "killed" before sending */
	s = store_open(lastdir);
	n = outbox_next_due(s, due, 2);
	T_EQ_INT(n, 1, "accepted send survives");
	if (n == 1)
		T_EQ_STR(due[0].id, id, "with the same id");
	for (i = 0; i < n; i++)
		store_ob_row_free(&due[i]);
	T_EQ_INT(outbox_timeout_ms(s), 0, "due now");
	T_EQ_INT(outbox_accept(s, NULL, "k", "text", chat, req, id, &a),
	    OUTBOX_REPLAY, "key still known");
	free(a);
	store_close(s);
}

static void
test_receipt_body(void)
{
	struct store *s = open_fresh();
	char id[MSGID_MAX], *a = NULL, body[512];
	const char *eid = "fedcba9876543210fedcba9876543210";

	msghook_set_target("http://127.0.0.1:9/unused", NULL);
	outbox_accept(s, NULL, NULL, "text", chat, req, id, &a);
	free(a);
	snprintf(body, sizeof(body), "{\"event\":\"message.ack\",\"payload\":"
	    "{\"ids\":[\"%s\"],\"receipt_type\":\"delivered\"},\"event_id\":"
	    "\"%s\"}", id, eid);
	T_EQ_INT(outbox_mark_receipt(s, id, "delivered", 7, NULL, body),
	    OUTBOX_NEW, "marked from a receipt");
	T_EQ_STR(q_str(s, "SELECT event_id FROM webhook_queue", NULL), eid,
	    "the receipt's event id kept");
	T_EQ_STR(jget(q_str(s, "SELECT payload FROM webhook_queue", NULL),
	    "payload", "status"), "delivered", "status added");
	msghook_set_target(NULL, NULL);
	store_close(s);
}

static void
test_incoming(void)
{
	struct store *s = open_fresh();
	struct store_msg m;

	msghook_set_target("http://127.0.0.1:9/unused", NULL);
	memset(&m, 0, sizeof(m));
	m.chat = chat;
	m.id = "ABCDEF0123";
	m.sender = chat;
	m.ts = 1700000000;
	m.type = "text";
	m.body = "hello";
	/* rolled back: neither the message nor its webhook */
	store_begin(s);
	T_EQ_INT(store_msg_put(s, &m), 0, "message stored");
	T_EQ_INT(msghook_enqueue(s, "message", "ev-in", "{}"), 0, "hook queued");
	store_rollback(s);
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM messages", NULL) + hooks(s), 0,
	    "rollback: neither");
	store_begin(s);
	store_msg_put(s, &m);
	msghook_enqueue(s, "message", "ev-in", "{}");
	T_EQ_INT(store_commit(s), 0, "committed");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM messages", NULL), 1,
	    "message there");
	T_EQ_INT(hooks(s), 1, "webhook there");
	store_begin(s);
	T_EQ_INT(store_msg_put(s, &m), 1, "redelivered message: already there");
	T_EQ_INT(msghook_enqueue(s, "message", "ev-in", "{}"), 1,
	    "same event id: not queued again");
	store_commit(s);
	T_EQ_INT(hooks(s), 1, "still one webhook");
	T_EQ_INT(store_msg_set_status(s, chat, "ABCDEF0123", "read"), 0,
	    "status set");
	T_EQ_STR(q_str(s, "SELECT status FROM messages", NULL), "read",
	    "status read");
	msghook_set_target(NULL, NULL);
	store_close(s);
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_http(void)
{
	struct msghook_opts o = { 2000, 3, 5, 20 };
	struct store *s = open_fresh();
	zmq_pollitem_t items[16];
	char id[MSGID_MAX], *a = NULL;
	long long end;
	struct rx rx;
	size_t n;
	long t;

	T_OK(rx_start(&rx, 200) == 0, "receiver up");
	msghook_set_target(rx.url, "sec");
	msghook_init(s, &o);
	outbox_accept(s, NULL, NULL, "text", chat, req, id, &a);
	free(a);
	outbox_mark(s, id, "sent", 1700000000, NULL);
	outbox_mark(s, id, "delivered", 1700000001, NULL);
	for (end = mono_ms() + 10000; rx_count(&rx) < 2 && mono_ms() < end;) {
		n = msghook_pollfds(items, 16);
		t = msghook_timeout_ms();
		if (t < 0 || t > 10)
			t = 10;
		if (n == 0)
			usleep((useconds_t)t * 1000);
		else
			zmq_poll(items, (int)n, t);
		msghook_service(items, n);
	}
	T_EQ_INT(rx_count(&rx), 2, "two status webhooks received");
	if (rx_count(&rx) == 2) {
		T_OK(strstr(rx.req[0].body, "\"status\":\"") != NULL &&
		    strstr(rx.req[1].body, "\"status\":\"") != NULL,
		    "bodies carry status");
		T_OK(strcmp(rx.req[0].id, rx.req[1].id) != 0,
		    "distinct event ids");
		T_OK(rx.req[0].has_sig, "signed");
	}
	msghook_cleanup();
	msghook_set_target(NULL, NULL);
	store_close(s);
	rx_stop(&rx);
}

/* The WAL checkpointer (store_checkpointer_start): commits never
 * checkpoint, its thread does, so the WAL is copied back and restarts;
 * every row survives a reopen. */
/* The last store, opened again after its close: its outbox has want rows. */
static void
reopened_count(int want, const char *what)
{
	struct store *s = store_open(lastdir);

	T_OK(s != NULL, "reopened");
	if (s == NULL)
		return;
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), want, what);
	store_close(s);
}

static void
test_checkpointer(void)
{
	struct store *s = open_fresh();
	struct store_ckpt_stats cs;
	char id[MSGID_MAX], *a;
	uint64_t runs;
	int i, n = 0, max_frames = 0, ok = 1, tries, restarts, prev;

	T_OK(s != NULL, "store opened");
	store_checkpointer_stats(s, &cs);
	T_OK(!cs.thread, "no thread before store_checkpointer_start");
	T_EQ_INT(store_checkpointer_start(s), 0, "checkpointer started");
	T_EQ_INT(store_checkpointer_start(s), 0, "a second start is a no-op");
	a = NULL;
	T_EQ_INT(outbox_accept(s, NULL, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "a first accept");
	free(a);
	store_checkpointer_stats(s, &cs);
	T_OK(cs.thread && cs.wal_frames > 0 && cs.wal_frames <
	    STORE_CKPT_FRAMES, "the thread runs; the hook saw the commit "
	    "(%d pages)", cs.wal_frames);
	/* enough commits to cross STORE_CKPT_FRAMES several times over */
	for (i = 0; i < 5000 && ok; i++) {
		a = NULL;
		ok = outbox_accept(s, NULL, NULL, "text", chat, req, id, &a) ==
		    OUTBOX_NEW;
		free(a);
		n += ok;
		store_checkpointer_stats(s, &cs);
		if (cs.wal_frames > max_frames)
			max_frames = cs.wal_frames;
	}
	T_EQ_INT(n, 5000, "5000 more accepts committed");
	T_OK(max_frames >= STORE_CKPT_FRAMES, "the WAL reached the threshold "
	    "(%d pages)", max_frames);
	/* wait for the thread (no time asserted: up to 20 s of polling) */
	for (tries = 0; tries < 2000; tries++) {
		store_checkpointer_stats(s, &cs);
		if (cs.complete >= 1)
			break;
		usleep(10000);
	}
	T_OK(cs.runs >= 1 && cs.complete >= 1, "the thread checkpointed "
	    "(%llu runs, %llu complete)", (unsigned long long)cs.runs,
	    (unsigned long long)cs.complete);
	/* a writer that never pauses: from STORE_CKPT_FRAMES_MAX on its
	 * commits checkpoint too (each one the thread is not busy with), and
	 * the WAL starts over; it never grew to hold all 5000 commits' pages
	 * (over 20,000) */
	T_OK(max_frames < 2 * STORE_CKPT_FRAMES_MAX, "the WAL stayed "
	    "bounded (at most %d pages in it)", max_frames);
	/* a writer that pauses whenever a commit left the WAL at the
	 * threshold, until the thread has run: the WAL starts over each time,
	 * the commits themselves never reach STORE_CKPT_FRAMES_MAX */
	max_frames = 0;
	restarts = 0;
	prev = 0;
	for (i = 0; i < 2500 && ok; i++) {
		a = NULL;
		ok = outbox_accept(s, NULL, NULL, "text", chat, req, id, &a) ==
		    OUTBOX_NEW;
		free(a);
		store_checkpointer_stats(s, &cs);
		if (cs.wal_frames < prev)
			restarts++;
		/* from the first start over on (the burst left a WAL) */
		if (restarts > 0 && cs.wal_frames > max_frames)
			max_frames = cs.wal_frames;
		prev = cs.wal_frames;
		if (cs.wal_frames >= STORE_CKPT_FRAMES) {
			runs = cs.runs;
			for (tries = 0; tries < 10000 && cs.runs == runs;
			    tries++) {
				usleep(1000);
				store_checkpointer_stats(s, &cs);
			}
		}
	}
	T_OK(ok, "2500 more accepts committed");
	T_OK(restarts >= 2, "the WAL started over after the thread's "
	    "checkpoints (%d times)", restarts);
	T_OK(max_frames < STORE_CKPT_FRAMES + 100, "a pausing writer keeps "
	    "the WAL near the threshold (at most %d pages)", max_frames);
	store_close(s);
	reopened_count(7501, "every accepted row is there after the close");
}

static long long
wal_size(void)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/store.db-wal", lastdir);
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* An idle store's WAL is truncated to nothing by the checkpoint thread
 * (STORE_CKPT_IDLE_MS; an hour, then 200 ms here), only once it has been
 * idle that long. */
static void
test_idle_truncate(void)
{
	struct store *s = open_fresh();
	struct store_ckpt_stats cs;
	char id[MSGID_MAX], *a;
	int i, n = 0, tries;
	long long sz;

	T_OK(s != NULL, "store opened");
	T_EQ_INT(store_checkpointer_start(s), 0, "checkpointer started");
	/* an hour: nothing this test does is idle that long */
	store_checkpointer_set_idle(s, 3600 * 1000L);
	for (i = 0; i < 300; i++) {
		a = NULL;
		n += outbox_accept(s, NULL, NULL, "text", chat, req, id, &a) ==
		    OUTBOX_NEW;
		free(a);
	}
	T_EQ_INT(n, 300, "300 accepts committed");
	T_OK(wal_size() > 0, "the WAL holds them (%lld bytes)", wal_size());
	for (i = 0; i < 20; i++) {
		a = NULL;
		n += outbox_accept(s, NULL, NULL, "text", chat, req, id, &a) ==
		    OUTBOX_NEW;
		free(a);
		usleep(20000);
	}
	store_checkpointer_stats(s, &cs);
	T_EQ_INT((int)cs.truncated, 0, "not truncated before it was idle "
	    "for the idle time");
	/* idle for 200 ms is enough now: wait for the thread (up to 20 s
	 * of polling) */
	store_checkpointer_set_idle(s, 200);
	for (tries = 0; tries < 2000; tries++) {
		store_checkpointer_stats(s, &cs);
		if (cs.truncated >= 1)
			break;
		usleep(10000);
	}
	sz = wal_size();
	T_OK(cs.truncated >= 1 && sz == 0, "idle: the WAL was truncated "
	    "(%llu times, %lld bytes now)", (unsigned long long)cs.truncated,
	    sz);
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), 320,
	    "every row is in store.db");
	a = NULL;
	T_EQ_INT(outbox_accept(s, NULL, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "a write after the truncation");
	free(a);
	T_OK(wal_size() > 0, "the WAL grows again");
	store_close(s);
	reopened_count(321, "all 321 rows after the close");
}

/* Rows in the outbox as another connection sees them (committed only). */
static int
outside_count(void)
{
	char path[300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	snprintf(path, sizeof(path), "%s/store.db", lastdir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM outbox",
	    -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Turns (store_turn_begin): handlers' transactions are savepoints in one
 * transaction, committed once; a rollback undoes only its own part. */
static void
test_turns(void)
{
	struct store *s = open_fresh();
	char id[MSGID_MAX], id2[MSGID_MAX], *a = NULL;

	T_OK(s != NULL, "store opened");
	/* outside a turn: committed at once, as always */
	T_EQ_INT(outbox_accept(s, NULL, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "accept outside a turn");
	free(a);
	a = NULL;
	T_EQ_INT(outside_count(), 1, "outside a turn: visible at once");
	T_OK(!store_turn_dirty(s), "not dirty outside a turn");

	store_turn_begin(s);
	T_OK(!store_turn_dirty(s), "a turn with no write is not dirty");
	T_EQ_INT(outbox_accept(s, NULL, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "accept in a turn");
	free(a);
	a = NULL;
	T_OK(store_turn_dirty(s), "dirty after a write");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), 2,
	    "the turn sees its own write");
	T_EQ_INT(outside_count(), 1, "nobody else sees it before the commit");
	/* a second handler that fails: its part only is undone */
	T_EQ_INT(store_begin(s), 0, "a second handler begins");
	T_EQ_INT(store_ob_insert(s, "3EB0FFFFFFFFFFFFFFFF", chat, NULL, "text",
	    req, NULL, 1), 0, "it writes");
	store_rollback(s);
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), 2,
	    "its rollback undid its row only");
	store_rollback(s);	/* no begin: never the turn's other writes */
	T_EQ_INT(store_commit(s), 0, "a commit without a begin is a no-op");
	T_EQ_INT(q_int(s, "SELECT COUNT(*) FROM outbox", NULL), 2,
	    "a stray rollback left the turn's rows alone");
	/* a duplicate key inside the turn is still reported */
	T_EQ_INT(outbox_accept(s, NULL, "k-turn", "text", chat, req, id2, &a),
	    OUTBOX_NEW, "an accept with a key");
	free(a);
	a = NULL;
	T_EQ_INT(outbox_accept(s, NULL, "k-turn", "text", chat, req, id, &a),
	    OUTBOX_REPLAY, "the same key again in the same turn: a replay");
	T_EQ_STR(id, id2, "with the first id");
	free(a);
	a = NULL;
	T_EQ_INT(store_turn_commit(s), 0, "the turn commits");
	T_OK(!store_turn_dirty(s), "not dirty after the commit");
	T_EQ_INT(outside_count(), 3, "all of it visible after the commit");
	/* the turn goes on: the next write opens a new transaction */
	T_EQ_INT(outbox_accept(s, NULL, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "an accept after the turn's first commit");
	free(a);
	a = NULL;
	T_EQ_INT(outside_count(), 3, "held until the next commit");
	T_EQ_INT(store_turn_end(s), 0, "the turn ends");
	T_EQ_INT(outside_count(), 4, "committed at its end");
	T_EQ_INT(outbox_accept(s, NULL, NULL, "text", chat, req, id, &a),
	    OUTBOX_NEW, "after the turn: committed at once again");
	free(a);
	T_EQ_INT(outside_count(), 5, "visible at once");
	store_close(s);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test_outbox", LOG_LVL_ERROR);
	if (sodium_init() < 0 || mkdtemp(tmpdir) == NULL)
		return 1;
	T_RUN(test_idempotency);
	T_RUN(test_client_id);
	T_RUN(test_monotonic);
	T_RUN(test_atomic);
	T_RUN(test_retry);
	T_RUN(test_crash);
	T_RUN(test_receipt_body);
	T_RUN(test_incoming);
	T_RUN(test_http);
	T_RUN(test_checkpointer);
	T_RUN(test_idle_truncate);
	T_RUN(test_turns);
	rx_rm_rf(tmpdir);
	return t_done();
}
