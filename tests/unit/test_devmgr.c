/*
 * test_devmgr.c - devmgr's pieces without processes: registry migrations
 * (and that the embedded tables match sql/), user and device CRUD, the
 * control socket's rules driven over a real inproc ROUTER (auth, roles,
 * ownership, rate limit, deadlines), the device JSON shape, restart
 * backoff and the crash window, status-webhook payload, signature and
 * queue scheduling.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "t.h"
#include "config.h"
#include "devmgr.h"
#include "ipc.h"
#include "log.h"
#include "registry.h"
#include "store.h"

static char tmpdir[] = "/tmp/dmtestXXXXXX";

static void
rm_rf(const char *path)
{
	char cmd[512];
	int rc;

	/* test code: a shell is fine here, never in product code */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	rc = system(cmd);
	(void)rc;
}

static struct registry *
reg_open_tmp(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return registry_open(path);
}

/* sql/<dir>/NNN_*.sql, sorted; returns count, names in out[]. */
static int
sql_files(const char *dir, char out[][64], int max)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0, i, j;
	char tmp[64];

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && n < max) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".sql") == 0)
			snprintf(out[n++], 64, "%s", de->d_name);
	}
	closedir(d);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(out[j], out[i]) < 0) {
				memcpy(tmp, out[i], 64);
				memcpy(out[i], out[j], 64);
				memcpy(out[j], tmp, 64);
			}
	return n;
}

static void
check_embedded(const char *dir, size_t count,
    const char *(*get)(size_t, const char **))
{
	char files[64][64], path[256];
	const char *name, *sql;
	char *text;
	int n = sql_files(dir, files, 64), i;

	T_EQ_INT(n, (long long)count, "every sql file is embedded");
	for (i = 0; i < n && (size_t)i < count; i++) {
		sql = get((size_t)i, &name);
		T_EQ_STR(name, files[i], "embedded in file order");
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		text = t_read_file(path, NULL);
		T_OK(text != NULL && strcmp(text, sql) == 0,
		    "embedded %s matches the file", files[i]);
		free(text);
	}
}

static void
test_migrations(void)
{
	struct registry *r;
	struct store *s;
	struct stat st;
	char path[256];

	check_embedded("sql/registry", registry_migration_count(),
	    registry_migration);
	check_embedded("sql/device", store_migration_count(),
	    store_migration);

	r = reg_open_tmp("mig.db");
	T_OK(r != NULL, "registry opens on an empty directory");
	T_EQ_INT(registry_schema_version(r), registry_migration_count(),
	    "all migrations applied");
	registry_close(r);
	snprintf(path, sizeof(path), "%s/mig.db", tmpdir);
	T_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "registry.db is 0600");
	r = reg_open_tmp("mig.db");
	T_OK(r != NULL && registry_schema_version(r) ==
	    (int)registry_migration_count(), "reopen: nothing re-applied");
	registry_close(r);

	snprintf(path, sizeof(path), "%s/dev1", tmpdir);
	s = store_open(path);
	T_OK(s != NULL, "device store opens, creating its directory");
	T_EQ_INT(store_schema_version(s), store_migration_count(),
	    "store migrated");
	T_OK(store_cred_set(s, "noise", (const uint8_t *)"k\0y", 3) == 0,
	    "credential stored");
	{
		uint8_t *v;
		size_t l;

		T_OK(store_cred_get(s, "noise", &v, &l) == 0 && l == 3 &&
		    memcmp(v, "k\0y", 3) == 0, "credential read back");
		free(v);
		T_EQ_INT(store_cred_get(s, "none", &v, &l), 1, "absent");
	}
	store_close(s);
	T_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700,
	    "device directory 0700");
	snprintf(path, sizeof(path), "%s/dev1/store.db", tmpdir);
	T_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "store.db 0600");
}

static void
test_users(void)
{
	struct registry *r = reg_open_tmp("users.db");
	struct reg_user u, *all;
	size_t n;

	T_EQ_INT(registry_user_add(r, "alice", "admin", "$argon2id$x"), 0,
	    "add");
	T_EQ_INT(registry_user_add(r, "alice", "user", "$argon2id$y"), 1,
	    "duplicate refused");
	T_EQ_INT(registry_user_add(r, "bob", "root", "$argon2id$y"), -1,
	    "bad role refused by the schema");
	T_EQ_INT(registry_user_add(r, "bob", "user", "$argon2id$y"), 0,
	    "add bob");
	T_EQ_INT(registry_user_get(r, "alice", &u), 0, "get");
	T_EQ_STR(u.role, "admin", "role");
	T_OK(u.active == 1 && u.created_at > 0 && u.last_login == 0,
	    "active, created, never logged in");
	T_EQ_INT(registry_user_get(r, "carol", &u), 1, "unknown user");
	T_EQ_INT(registry_user_login(r, "bob", 12345), 0, "login recorded");
	registry_user_get(r, "bob", &u);
	T_EQ_INT(u.last_login, 12345, "last_login");
	T_EQ_INT(registry_user_passwd(r, "bob", "$argon2id$z"), 0, "passwd");
	registry_user_get(r, "bob", &u);
	T_EQ_STR(u.password_hash, "$argon2id$z", "hash changed");
	T_EQ_INT(registry_user_count(r, "admin"), 1, "one admin");
	T_EQ_INT(registry_user_count(r, NULL), 2, "two users");
	T_EQ_INT(registry_user_list(r, &all, &n), 0, "list");
	T_OK(n == 2 && strcmp(all[0].username, "alice") == 0 &&
	    strcmp(all[1].username, "bob") == 0, "sorted by name");
	free(all);
	T_EQ_INT(registry_user_delete(r, "bob"), 0, "delete");
	T_EQ_INT(registry_user_delete(r, "bob"), 1, "delete again: none");
	registry_close(r);
}

static void
mkdev(struct reg_device *d, const char *hash, const char *owner, int64_t t)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->hash, sizeof(d->hash), "%s", hash);
	snprintf(d->owner, sizeof(d->owner), "%s", owner);
	d->created_at = t;
}

static void
test_devices(void)
{
	struct registry *r = reg_open_tmp("devices.db");
	struct reg_device d, *list;
	struct reg_device_update u;
	size_t n, i;
	long total;
	char (*wanted)[17];

	mkdev(&d, "0000000000000001", "alice", 1000);
	d.status_webhook_url = (char *)"http://x/y";
	d.status_webhook_secret = (char *)"";	/* empty: stored as NULL */
	T_EQ_INT(registry_device_insert(r, &d), 0, "insert");
	T_EQ_INT(registry_device_insert(r, &d), 1, "duplicate hash refused");
	mkdev(&d, "0000000000000002", "bob", 2000);
	registry_device_insert(r, &d);
	mkdev(&d, "0000000000000003", "alice", 3000);
	snprintf(d.desired, sizeof(d.desired), "running");
	registry_device_insert(r, &d);

	T_EQ_INT(registry_device_get(r, "0000000000000001", &d), 0, "get");
	T_EQ_STR(d.status, "registered", "initial status");
	T_EQ_STR(d.desired, "stopped", "initial desired state");
	T_EQ_STR(d.status_webhook_url, "http://x/y", "status url");
	T_OK(d.status_webhook_secret == NULL, "empty secret is NULL");
	reg_device_clear(&d);
	T_EQ_INT(registry_device_get(r, "ffffffffffffffff", &d), 1, "absent");

	memset(&u, 0, sizeof(u));
	u.name = "phone";
	u.status_webhook_url = "";	/* clear */
	T_EQ_INT(registry_device_update(r, "0000000000000001", &u), 0,
	    "update");
	registry_device_get(r, "0000000000000001", &d);
	T_EQ_STR(d.name, "phone", "name set");
	T_OK(d.status_webhook_url == NULL, "url cleared");
	T_OK(d.updated_at >= d.created_at, "updated_at refreshed");
	reg_device_clear(&d);
	T_EQ_INT(registry_device_update(r, "ffffffffffffffff", &u), 1,
	    "update of an absent device");

	registry_device_list(r, NULL, NULL, -1, 0, &list, &n, &total);
	T_OK(n == 3 && total == 3, "list all");
	T_OK(n == 3 && strcmp(list[0].hash, "0000000000000003") == 0,
	    "newest first");
	for (i = 0; i < n; i++)
		reg_device_clear(&list[i]);
	free(list);
	registry_device_list(r, "alice", NULL, 1, 1, &list, &n, &total);
	T_OK(n == 1 && total == 2 && strcmp(list[0].hash,
	    "0000000000000001") == 0, "owner filter with limit/offset");
	for (i = 0; i < n; i++)
		reg_device_clear(&list[i]);
	free(list);

	T_EQ_INT(registry_device_set_status(r, "0000000000000002",
	    "connected", 42, 3, 5000), 0, "set status");
	registry_device_list(r, NULL, "connected", -1, 0, &list, &n, &total);
	T_OK(n == 1 && total == 1 && list[0].pid == 42 &&
	    list[0].restarts == 3, "status filter works (the seed's did not)");
	for (i = 0; i < n; i++)
		reg_device_clear(&list[i]);
	free(list);
	registry_device_set_status(r, "0000000000000002", "stopped", 0, -1,
	    6000);
	registry_device_get(r, "0000000000000002", &d);
	T_OK(d.pid == 0 && d.restarts == 3, "pid cleared, restarts kept");
	reg_device_clear(&d);

	registry_device_wanted(r, &wanted, &n);
	T_OK(n == 1 && strcmp(wanted[0], "0000000000000003") == 0,
	    "desired running listed for boot recovery");
	free(wanted);
	T_EQ_INT(registry_device_delete(r, "0000000000000003"), 0, "delete");
	T_EQ_INT(registry_device_exists(r, "0000000000000003"), 0, "gone");
	registry_close(r);
}

static void
test_device_json(void)
{
	struct reg_device d;
	struct worker_info wi;
	json_object *o, *w, *p;
	const char *s;

	mkdev(&d, "00112233445566aa", "alice", 1700000000123LL);
	d.updated_at = d.created_at;
	d.webhook_url = (char *)"https://a.example/hook";
	d.webhook_secret = (char *)"topsecret";
	snprintf(d.status, sizeof(d.status), "disconnected");
	o = control_device_json(&d, NULL);
	s = json_object_to_json_string(o);
	T_OK(strstr(s, "topsecret") == NULL, "secret never in the JSON");
	T_EQ_STR(json_object_get_string(json_object_object_get(o,
	    "deviceHash")), "00112233445566aa", "deviceHash");
	T_EQ_STR(json_object_get_string(json_object_object_get(o, "owner")),
	    "alice", "owner");
	T_EQ_STR(json_object_get_string(json_object_object_get(o,
	    "createdAt")), "2023-11-14T22:13:20.123Z", "ISO-8601 UTC");
	T_OK(json_object_object_get_ex(o, "process", &p) && p == NULL,
	    "process null when not running");
	T_OK(json_object_object_get_ex(o, "endpoints", &p) && p == NULL,
	    "endpoints null");
	T_OK(json_object_object_get_ex(o, "lastSeen", &p) && p == NULL,
	    "lastSeen null when never seen");
	p = json_object_object_get(o, "container");
	T_OK(p != NULL && json_object_object_get_ex(p, "port", &w) &&
	    w == NULL, "container {id:null,port:null}");
	w = json_object_object_get(o, "webhooks");
	T_OK(json_object_get_boolean(json_object_object_get(w, "messages")) &&
	    !json_object_get_boolean(json_object_object_get(w, "status")) &&
	    json_object_get_boolean(json_object_object_get(w,
	    "hasMessagesSecret")) && !json_object_get_boolean(
	    json_object_object_get(w, "hasStatusSecret")), "webhook flags");
	T_EQ_STR(json_object_get_string(json_object_object_get(w,
	    "messagesUrl")), "https://a.example/hook", "messagesUrl");
	{
		static const char *keys[] = { "id", "deviceHash", "name",
		    "owner", "status", "jid", "pushName", "container",
		    "process", "webhooks", "createdAt", "updatedAt",
		    "lastSeen", "endpoints" };
		size_t i;
		int all = 1;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			all &= json_object_object_get_ex(o, keys[i], NULL);
		T_OK(all, "every key of IPC.md's device object");
	}
	json_object_put(o);

	memset(&wi, 0, sizeof(wi));
	wi.pid = 4242;
	wi.running = 1;
	wi.started_at = 1700000000000LL;
	wi.restarts = 2;
	o = control_device_json(&d, &wi);
	p = json_object_object_get(o, "process");
	T_OK(p != NULL && json_object_get_int(json_object_object_get(p,
	    "pid")) == 4242 && json_object_get_boolean(json_object_object_get(
	    p, "running")) && json_object_get_int(json_object_object_get(p,
	    "restarts")) == 2, "process object when running");
	T_EQ_STR(json_object_get_string(json_object_object_get(p, "status")),
	    "running", "process status");
	json_object_put(o);
}

static void
test_backoff(void)
{
	uint64_t d, prev = 0;
	uint32_t rnd;
	int i, n, inb = 1, grows = 1, jitter = 0;
	uint64_t first = worker_backoff_ms(1, 500, 300000, 0);

	for (n = 1; n <= 20; n++) {
		uint64_t lo = ~0ULL, hi = 0;

		for (i = 0; i < 200; i++) {
			randombytes_buf(&rnd, sizeof(rnd));
			d = worker_backoff_ms(n, 500, 300000, rnd);
			if (d < 500 || d > 300000)
				inb = 0;
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		if (hi > lo)
			jitter = 1;
		if (lo < prev && lo < 300000 / 2)
			grows = 0;
		prev = lo;
	}
	T_OK(inb, "always within [min, max]");
	T_OK(grows, "grows with the crash count");
	T_OK(jitter, "jitter spreads the delays");
	T_EQ_INT(first, 500, "first restart after the minimum");
	T_EQ_INT(worker_backoff_ms(3, 500, 300000, 0), 2000, "doubles");
	T_EQ_INT(worker_backoff_ms(60, 500, 300000, 0xffffffffu), 300000,
	    "capped at the maximum");
	T_OK(worker_backoff_ms(1, 500, 300000, 0xffffffffu) <= 750,
	    "jitter at most half again");
}

static void
test_crash_window(void)
{
	uint64_t t[64];
	size_t n = 0;
	int i, failed = 0;

	for (i = 0; i < 5; i++)
		failed |= worker_crash_record(t, &n, 64, 1000 + (uint64_t)i *
		    1000, 600000, 5);
	T_EQ_INT(failed, 0, "5 crashes in the window: not failed yet");
	T_EQ_INT(worker_crash_record(t, &n, 64, 7000, 600000, 5), 1,
	    "the 6th within the window: failed");
	n = 0;
	for (i = 0; i < 20; i++)
		failed = worker_crash_record(t, &n, 64, (uint64_t)i * 200000,
		    600000, 5);
	T_EQ_INT(failed, 0, "crashes spread out never fail");
	T_OK(n <= 3, "old crashes leave the window");
	n = 0;
	for (i = 0; i < 100; i++)
		worker_crash_record(t, &n, 8, (uint64_t)i, 600000, 5);
	T_EQ_INT(n, 8, "history bounded");
}

static void
test_exit_cause(void)
{
	char buf[64];

	worker_exit_cause(3 << 8, buf, sizeof(buf));
	T_EQ_STR(buf, "exit 3", "exit status");
	worker_exit_cause(9, buf, sizeof(buf));
	T_EQ_STR(buf, "signal 9 (Killed)", "signal");
}

static void
test_webhook_payload_sign(void)
{
	char sig[65];
	char *p;
	json_object *o, *e, *data = json_object_new_object();

	/* RFC 4231 test case 2 */
	webhook_sign("Jefe", "what do ya want for nothing?", 28, sig);
	T_EQ_STR(sig, "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843", "HMAC-SHA256 (RFC 4231 #2)");

	json_object_object_add(data, "cause",
	    json_object_new_string("signal 9 (Killed)"));
	p = webhook_payload("00112233445566aa", "crashed", "crashed",
	    "PROCESS_CRASHED", "Process crashed", data, 1700000000000LL);
	o = json_tokener_parse(p);
	T_OK(o != NULL, "payload is JSON");
	T_EQ_STR(json_object_get_string(json_object_object_get(
	    json_object_object_get(o, "device"), "deviceHash")),
	    "00112233445566aa", "device.deviceHash");
	T_EQ_STR(json_object_get_string(json_object_object_get(
	    json_object_object_get(o, "device"), "status")), "crashed",
	    "device.status");
	e = json_object_object_get(o, "event");
	T_EQ_STR(json_object_get_string(json_object_object_get(e, "type")),
	    "crashed", "event.type");
	T_EQ_STR(json_object_get_string(json_object_object_get(e, "code")),
	    "PROCESS_CRASHED", "event.code");
	T_OK(json_object_object_get(e, "message") != NULL, "event.message");
	T_EQ_STR(json_object_get_string(json_object_object_get(
	    json_object_object_get(e, "data"), "cause")), "signal 9 (Killed)",
	    "event.data");
	T_EQ_STR(json_object_get_string(json_object_object_get(o,
	    "timestamp")), "2023-11-14T22:13:20.000Z", "timestamp");
	T_OK(strchr(p, '\n') == NULL && strstr(p, ": ") == NULL,
	    "compact JSON (the signed text)");
	json_object_put(o);
	json_object_put(data);
	free(p);
}

static void
test_webhook_queue(void)
{
	struct registry *r = reg_open_tmp("queue.db");
	struct reg_device d;
	struct reg_webhook *w;
	size_t n;
	int64_t skip, at;
	uint64_t b;
	char *sec;
	int i, ok = 1;

	mkdev(&d, "00000000000000aa", "alice", 1);
	d.status_webhook_secret = (char *)"s3";
	registry_device_insert(r, &d);
	T_EQ_INT(registry_webhook_enqueue(r, "00000000000000aa", "ev1",
	    "http://127.0.0.1:9/h", "{}", 1000), 0, "enqueue");
	T_EQ_INT(registry_webhook_enqueue(r, "00000000000000aa", "ev1",
	    "http://127.0.0.1:9/h", "{}", 1000), -1,
	    "event id is unique");
	registry_webhook_enqueue(r, "00000000000000aa", "ev2",
	    "http://127.0.0.1:9/h", "{\"b\":1}", 1500);
	T_EQ_INT(registry_webhook_next(r), 1000, "soonest pending");
	registry_webhook_due(r, 1200, 10, NULL, 0, &w, &n);
	T_OK(n == 1 && strcmp(w[0].event_id, "ev1") == 0, "only due rows");
	at = w[0].id;
	reg_webhook_clear(&w[0]);
	free(w);
	skip = at;
	registry_webhook_due(r, 2000, 10, &skip, 1, &w, &n);
	T_OK(n == 1 && strcmp(w[0].event_id, "ev2") == 0,
	    "in-flight rows skipped");
	reg_webhook_clear(&w[0]);
	free(w);

	b = webhook_backoff_ms(1, 12345);
	T_EQ_INT(registry_webhook_result(r, at, "pending", 1,
	    2000 + (int64_t)b, "HTTP 500"), 0, "retry scheduled");
	registry_webhook_due(r, 2000 + (int64_t)b - 1, 10, &skip, 0, &w, &n);
	for (i = 0; i < (int)n; i++) {
		if (w[i].id == at)
			ok = 0;
		reg_webhook_clear(&w[i]);
	}
	free(w);
	T_OK(ok, "not due before its backoff");
	registry_webhook_due(r, 2000 + (int64_t)b, 10, NULL, 0, &w, &n);
	ok = 0;
	for (i = 0; i < (int)n; i++) {
		if (w[i].id == at && w[i].attempts == 1)
			ok = 1;
		reg_webhook_clear(&w[i]);
	}
	free(w);
	T_OK(ok, "due again after it, attempts kept");
	registry_webhook_result(r, at, "dead", 8, 0, "HTTP 500");
	T_EQ_INT(registry_webhook_count(r, "dead"), 1, "dead-lettered");
	T_EQ_INT(registry_webhook_count(r, "pending"), 1, "one pending");
	sec = registry_webhook_secret(r, "00000000000000aa");
	T_EQ_STR(sec, "s3", "secret read at signing time");
	free(sec);

	ok = 1;
	for (i = 1; i <= 30; i++) {
		b = webhook_backoff_ms(i, (uint32_t)(i * 7919));
		if (b < 1000 || b > 600000)
			ok = 0;
	}
	T_OK(ok, "webhook backoff within [1 s, 10 min]");
	T_OK(webhook_backoff_ms(2, 0) == 2000 && webhook_backoff_ms(3, 0) ==
	    4000, "webhook backoff doubles");
	registry_device_delete(r, "00000000000000aa");
	T_EQ_INT(registry_webhook_count(r, "pending"), 0,
	    "rows go with their device");
	registry_close(r);
}

/* events_status: registry + queue in one go, then topic + Event on PUB. */
static void
test_events_pub(void)
{
	struct reg_device d;
	void *sub;
	zmq_msg_t topic, body;
	Ipc__Event *ev;
	json_object *o;
	char want[32];
	int rc;

	dm.reg = reg_open_tmp("events.db");
	dm.zctx = zmq_ctx_new();
	dm.events = zmq_socket(dm.zctx, ZMQ_PUB);
	zmq_bind(dm.events, "inproc://events-test");
	sub = zmq_socket(dm.zctx, ZMQ_SUB);
	zmq_connect(sub, "inproc://events-test");
	zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "ev.", 3);
	usleep(50000);		/* let the subscription reach the PUB */
	mkdev(&d, "00000000000000ee", "carol", 1);
	d.status_webhook_url = (char *)"http://127.0.0.1:9/s";
	registry_device_insert(dm.reg, &d);

	rc = events_status("00000000000000ee", "crashed", "crashed",
	    "signal 9 (Killed)", 0, 2, NULL);
	T_EQ_INT(rc, 0, "status recorded");
	registry_device_get(dm.reg, "00000000000000ee", &d);
	T_EQ_STR(d.status, "crashed", "registry row updated");
	T_EQ_INT(d.restarts, 2, "restarts stored");
	reg_device_clear(&d);
	T_EQ_INT(registry_webhook_count(dm.reg, "pending"), 1,
	    "status webhook queued with it");

	zmq_msg_init(&topic);
	zmq_msg_init(&body);
	snprintf(want, sizeof(want), "ev.00000000000000ee");
	rc = zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT);
	T_OK(rc == (int)strlen(want) && memcmp(zmq_msg_data(&topic), want,
	    strlen(want)) == 0, "topic ev.<hash>");
	T_OK(zmq_msg_more(&topic) && zmq_msg_recv(&body, sub, ZMQ_DONTWAIT)
	    >= 0, "Event frame follows");
	ev = ipc__event__unpack(NULL, zmq_msg_size(&body),
	    zmq_msg_data(&body));
	T_OK(ev != NULL && strcmp(ev->type, "status") == 0 &&
	    strcmp(ev->owner, "carol") == 0 && strlen(ev->id) == 32 &&
	    ev->ts_ms > 0, "Event type, owner, id, ts");
	if (ev != NULL) {
		char *t = strndup((const char *)ev->json.data, ev->json.len);

		o = json_tokener_parse(t);
		free(t);
		T_EQ_STR(json_object_get_string(json_object_object_get(o,
		    "status")), "crashed", "json status");
		T_EQ_STR(json_object_get_string(json_object_object_get(o,
		    "previous")), "registered", "json previous");
		T_EQ_STR(json_object_get_string(json_object_object_get(o,
		    "event")), "crashed", "json event");
		T_EQ_STR(json_object_get_string(json_object_object_get(o,
		    "cause")), "signal 9 (Killed)", "json cause");
		json_object_put(o);
		ipc__event__free_unpacked(ev, NULL);
	}
	zmq_msg_close(&topic);
	zmq_msg_close(&body);
	zmq_msg_init(&topic);
	rc = zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT);
	zmq_msg_init(&body);
	if (rc >= 0 && zmq_msg_more(&topic))
		zmq_msg_recv(&body, sub, ZMQ_DONTWAIT);
	ev = ipc__event__unpack(NULL, zmq_msg_size(&body),
	    zmq_msg_data(&body));
	T_OK(ev != NULL && strcmp(ev->type, "process-stopped") == 0,
	    "process-stopped follows a crash");
	if (ev != NULL)
		ipc__event__free_unpacked(ev, NULL);
	zmq_msg_close(&topic);
	zmq_msg_close(&body);

	T_EQ_INT(events_status("ffffffffffffffff", "crashed", "crashed", NULL,
	    0, -1, NULL), -1, "unknown device: nothing recorded");
	zmq_close(sub);
	zmq_close(dm.events);
	zmq_ctx_term(dm.zctx);
	registry_close(dm.reg);
	memset(&dm, 0, sizeof(dm));
}

/* ---- the control socket, over inproc ---- */

static void *cli;

static Ipc__Reply *
ctl_call(uint16_t type, const char *user, const char *device,
    const char *json, const char *query, uint64_t deadline)
{
	Ipc__Request req = IPC__REQUEST__INIT;
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	struct ipc_hdr h = { IPC_VERSION, 0, type, 77, 0 };
	struct ipc_msg m;
	Ipc__Reply *r;

	h.deadline_ms = deadline ? deadline : ipc_now_ms() + 5000;
	if (user != NULL) {
		who.user = (char *)user;
		who.role = (char *)"admin";	/* devmgr must not trust this */
		who.addr = (char *)"10.0.0.1";
		req.who = &who;
	}
	req.device = (char *)(device ? device : "");
	if (json) {
		req.json.data = (uint8_t *)json;
		req.json.len = strlen(json);
	}
	if (query) {
		req.query.data = (uint8_t *)query;
		req.query.len = strlen(query);
	}
	ipc_send(cli, NULL, 0, &h, (const ProtobufCMessage *)&req);
	/* inproc delivery is immediate; let the ROUTER see it */
	zmq_poll(&(zmq_pollitem_t){ dm.control, 0, ZMQ_POLLIN, 0 }, 1, 1000);
	control_recv();
	if (ipc_recv(cli, 0, &m, 200) == -1)
		return NULL;
	r = ipc_reply_unpack(&m);
	ipc_msg_clear(&m);
	return r;
}

static json_object *
rjson(const Ipc__Reply *r)
{
	char *s;
	json_object *o;

	if (r == NULL || r->json.len == 0)
		return NULL;
	s = strndup((const char *)r->json.data, r->json.len);
	o = json_tokener_parse(s);
	free(s);
	return o;
}

#define EXPECT(r, st, cd, name) do {					\
	T_OK((r) != NULL && (r)->status == (st) &&			\
	    strcmp((r)->code, (cd)) == 0, "%s", name);			\
	if ((r) != NULL && ((r)->status != (st) || strcmp((r)->code, (cd))))\
		printf("#   got %d %s\n", (r)->status, (r)->code);		\
} while (0)

static void
test_control_rules(void)
{
	Ipc__Reply *r;
	json_object *o;
	char ep[64], hash[17], dir[PATH_MAX + 32];
	int i, limited = 0;

	snprintf(dm.devices_dir, sizeof(dm.devices_dir), "%s/devices",
	    tmpdir);
	mkdir(dm.devices_dir, 0700);
	snprintf(dm.waproc_path, sizeof(dm.waproc_path), "/nonexistent");
	dm.reg = reg_open_tmp("control.db");
	dm.rl = ratelimit_new(1024);
	dm.zctx = zmq_ctx_new();
	dm.start_mono = ipc_mono_ms();
	snprintf(ep, sizeof(ep), "inproc://control-test");
	dm.control = zmq_socket(dm.zctx, ZMQ_ROUTER);
	zmq_bind(dm.control, ep);
	cli = zmq_socket(dm.zctx, ZMQ_DEALER);
	zmq_connect(cli, ep);
	registry_user_add(dm.reg, "root", "admin", "$argon2id$v=19$a");
	registry_user_add(dm.reg, "alice", "user", "$argon2id$v=19$b");
	registry_user_add(dm.reg, "bob", "user", "$argon2id$v=19$c");
	control_users_reload();
	config_set("API_RATE_LIMIT", "0");

	r = ctl_call(IPC_PING, NULL, NULL, NULL, NULL, 0);
	EXPECT(r, 200, "SUCCESS", "PING without a user");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_LIST, NULL, NULL, NULL, NULL, 0);
	EXPECT(r, 401, "AUTHENTICATION_REQUIRED", "list needs a user");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_LIST, "mallory", NULL, NULL, NULL, 0);
	EXPECT(r, 401, "INVALID_TOKEN", "unknown user refused");
	ipc_reply_free(r);
	r = ctl_call(IPC_USER_LIST, "alice", NULL, NULL, NULL, 0);
	EXPECT(r, 403, "FORBIDDEN", "role from the registry, not the caller");
	ipc_reply_free(r);
	r = ctl_call(IPC_AUTH_INFO, NULL, NULL, "{\"username\":\"bob\"}",
	    NULL, 0);
	EXPECT(r, 200, "SUCCESS", "AUTH_INFO");
	o = rjson(r);
	T_EQ_STR(json_object_get_string(json_object_object_get(o, "hash")),
	    "$argon2id$v=19$c", "AUTH_INFO gives the hash");
	json_object_put(o);
	ipc_reply_free(r);

	r = ctl_call(IPC_DEVICE_REGISTER, "bob", NULL,
	    "{\"autoStart\":false,\"name\":\"b1\",\"statusWebhookUrl\":"
	    "\"http://127.0.0.1:9/s\",\"statusWebhookSecret\":\"k\"}", NULL, 0);
	EXPECT(r, 201, "SUCCESS", "bob registers a device");
	o = rjson(r);
	snprintf(hash, sizeof(hash), "%s", json_object_get_string(
	    json_object_object_get(o, "deviceHash")));
	T_OK(dm_valid_hash(hash), "16 lowercase hex hash");
	T_EQ_STR(json_object_get_string(json_object_object_get(o, "status")),
	    "registered", "status registered");
	T_OK(json_object_object_get_ex(o, "processInfo", NULL) &&
	    json_object_object_get(o, "processInfo") == NULL,
	    "processInfo null without autoStart");
	T_EQ_STR(json_object_get_string(json_object_object_get(
	    json_object_object_get(o, "device"), "owner")), "bob", "owner bob");
	json_object_put(o);
	ipc_reply_free(r);
	T_EQ_INT(registry_webhook_count(dm.reg, "pending"), 1,
	    "registration queued a status webhook (same transaction)");

	r = ctl_call(IPC_DEVICE_INFO, "alice", hash, NULL, NULL, 0);
	EXPECT(r, 404, "DEVICE_NOT_FOUND", "someone else's device is 404");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_STOP, "alice", hash, NULL, NULL, 0);
	EXPECT(r, 404, "DEVICE_NOT_FOUND", "and cannot be stopped");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_CALL, "alice", hash, NULL, NULL, 0);
	EXPECT(r, 404, "DEVICE_NOT_FOUND", "nor called");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_INFO, "bob", hash, NULL, NULL, 0);
	EXPECT(r, 200, "SUCCESS", "the owner sees it");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_INFO, "root", hash, NULL, NULL, 0);
	EXPECT(r, 200, "SUCCESS", "an admin sees it");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_INFO, "bob", "ABCDEF0123456789", NULL, NULL,
	    0);
	EXPECT(r, 400, "INVALID_DEVICE_HASH", "malformed hash 400");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_LIST, "alice", NULL, NULL, NULL, 0);
	o = rjson(r);
	T_EQ_INT(json_object_array_length(json_object_object_get(o,
	    "devices")), 0, "alice lists none");
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_LIST, "root", NULL, NULL,
	    "{\"status\":\"registered\",\"limit\":\"1\",\"offset\":\"0\"}", 0);
	o = rjson(r);
	T_EQ_INT(json_object_get_int(json_object_object_get(
	    json_object_object_get(o, "pagination"), "total")), 1,
	    "admin lists all, status filter, string limit");
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_CALL, "bob", hash, NULL, NULL, 0);
	EXPECT(r, 409, "DEVICE_NOT_RUNNING", "call to a stopped device: 409");
	ipc_reply_free(r);

	/* health bodies (SEED_API 2.6), stats, auto-heal */
	r = ctl_call(IPC_HEALTH, NULL, NULL, NULL, NULL, 0);
	EXPECT(r, 200, "SUCCESS", "public health without a user");
	ipc_reply_free(r);
	r = ctl_call(IPC_HEALTH, NULL, NULL, "{\"what\":\"devices\"}", NULL,
	    0);
	EXPECT(r, 401, "AUTHENTICATION_REQUIRED", "device health needs a user");
	ipc_reply_free(r);
	r = ctl_call(IPC_HEALTH, "root", NULL, "{\"what\":\"detailed\"}",
	    NULL, 0);
	o = rjson(r);
	{
		json_object *ch = json_object_object_get(o, "checks");

		T_OK(r && (r->status == 200 || r->status == 503) && ch &&
		    json_object_object_get_ex(ch, "deviceManager", NULL) &&
		    json_object_object_get_ex(ch, "binaryManager", NULL) &&
		    json_object_object_get_ex(ch, "whatsappBinary", NULL) &&
		    json_object_object_get_ex(ch, "fileSystem", NULL),
		    "detailed: the four checks");
		T_OK(r && r->status == 503 && strcmp(json_object_get_string(
		    json_object_object_get(o, "status")), "degraded") == 0,
		    "no waproc binary: degraded, 503");
	}
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_HEALTH, "bob", NULL, "{\"what\":\"devices\"}", NULL,
	    0);
	o = rjson(r);
	T_OK(json_object_object_get_ex(json_object_object_get(o, "devices"),
	    hash, NULL), "devices health keyed by hash");
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_HEALTH, "alice", NULL, "{\"what\":\"processes\"}",
	    NULL, 0);
	o = rjson(r);
	T_EQ_INT(json_object_array_length(json_object_object_get(o,
	    "processes")), 0, "a user sees only its own processes");
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_HEALTH, "root", NULL, "{\"what\":\"system\"}", NULL,
	    0);
	o = rjson(r);
	T_OK(json_object_object_get(o, "system") && json_object_object_get(
	    json_object_object_get(o, "memory"), "usage"), "system health");
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_STATS, "root", NULL, NULL, NULL, 0);
	o = rjson(r);
	T_EQ_INT(json_object_get_int(json_object_object_get(
	    json_object_object_get(o, "devices"), "total")), 1, "stats total");
	json_object_put(o);
	ipc_reply_free(r);
	r = ctl_call(IPC_AUTO_HEAL, "alice", NULL, NULL, NULL, 0);
	EXPECT(r, 403, "FORBIDDEN", "auto-heal is admin only");
	ipc_reply_free(r);
	r = ctl_call(IPC_AUTO_HEAL, "root", NULL,
	    "{\"services\":[\"processes\",\"bogus\"]}", NULL, 0);
	o = rjson(r);
	T_OK(r && r->status == 200 && json_object_object_get(
	    json_object_object_get(o, "results"), "processes") &&
	    json_object_object_get(json_object_object_get(o, "results"),
	    "bogus"), "auto-heal results per service");
	json_object_put(o);
	ipc_reply_free(r);

	r = ctl_call(IPC_DEVICE_UPDATE, "bob", hash,
	    "{\"statusWebhookUrl\":\"file:///etc/passwd\"}", NULL, 0);
	EXPECT(r, 400, "INVALID_WEBHOOK_URL", "non-http URL refused");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_UPDATE, "bob", hash, "{\"foo\":1}", NULL, 0);
	EXPECT(r, 400, "NO_VALID_FIELDS", "no valid field");
	ipc_reply_free(r);
	r = ctl_call(IPC_DEVICE_UPDATE, "bob", hash,
	    "{\"webhookUrl\":\"https://a/x, http://b/y\"}", NULL, 0);
	EXPECT(r, 200, "SUCCESS", "comma list of message webhooks");
	ipc_reply_free(r);

	r = ctl_call(IPC_USER_DELETE, "root", NULL, "{\"username\":\"root\"}",
	    NULL, 0);
	EXPECT(r, 400, "CANNOT_DELETE_SELF", "cannot delete self");
	ipc_reply_free(r);
	r = ctl_call(IPC_USER_ADD, "root", NULL, "{\"username\":\"a b\","
	    "\"role\":\"user\",\"password_hash\":\"$argon2id$x\"}", NULL, 0);
	EXPECT(r, 400, "INVALID_USERNAME", "bad user name");
	ipc_reply_free(r);
	r = ctl_call(IPC_USER_ADD, "root", NULL, "{\"username\":\"bob\","
	    "\"role\":\"user\",\"password_hash\":\"$argon2id$x\"}", NULL, 0);
	EXPECT(r, 409, "USER_EXISTS", "existing user");
	ipc_reply_free(r);
	r = ctl_call(IPC_USER_PASSWD, "alice", NULL, "{\"username\":\"bob\","
	    "\"password_hash\":\"$argon2id$x\"}", NULL, 0);
	EXPECT(r, 403, "FORBIDDEN", "a user changes only its own password");
	ipc_reply_free(r);

	/* operator (wactl): admin, no rate limit, may delete the last... */
	{
		Ipc__Request req = IPC__REQUEST__INIT;
		Ipc__Principal who = IPC__PRINCIPAL__INIT;
		struct ipc_hdr h = { IPC_VERSION, 0, IPC_USER_DELETE, 9, 0 };
		struct ipc_msg m;
		const char *j = "{\"username\":\"root\"}";

		who.operator_ = 1;
		req.who = &who;
		req.json.data = (uint8_t *)j;
		req.json.len = strlen(j);
		h.deadline_ms = ipc_now_ms() + 5000;
		ipc_send(cli, NULL, 0, &h, (const ProtobufCMessage *)&req);
		zmq_poll(&(zmq_pollitem_t){ dm.control, 0, ZMQ_POLLIN, 0 }, 1,
		    1000);
		control_recv();
		ipc_recv(cli, 0, &m, 200);
		r = ipc_reply_unpack(&m);
		ipc_msg_clear(&m);
		EXPECT(r, 400, "LAST_ADMIN", "the last admin stays");
		ipc_reply_free(r);
	}

	/* a deleted user's devices go to the admin, not to a namesake */
	r = ctl_call(IPC_DEVICE_REGISTER, "alice", NULL,
	    "{\"autoStart\":false}", NULL, 0);
	o = rjson(r);
	{
		char ah[17];
		struct reg_device ad;

		snprintf(ah, sizeof(ah), "%s", json_object_get_string(
		    json_object_object_get(o, "deviceHash")));
		json_object_put(o);
		ipc_reply_free(r);
		r = ctl_call(IPC_USER_DELETE, "root", NULL,
		    "{\"username\":\"alice\"}", NULL, 0);
		o = rjson(r);
		T_OK(r && r->status == 200 && json_object_get_int(
		    json_object_object_get(o, "devicesReassigned")) == 1,
		    "user deleted, its device reassigned");
		json_object_put(o);
		ipc_reply_free(r);
		registry_device_get(dm.reg, ah, &ad);
		T_EQ_STR(ad.owner, "root", "now owned by the deleting admin");
		reg_device_clear(&ad);
		r = ctl_call(IPC_USER_ADD, "root", NULL, "{\"username\":"
		    "\"alice\",\"role\":\"user\",\"password_hash\":"
		    "\"$argon2id$v=19$b\"}", NULL, 0);
		ipc_reply_free(r);
		r = ctl_call(IPC_DEVICE_INFO, "alice", ah, NULL, NULL, 0);
		EXPECT(r, 404, "DEVICE_NOT_FOUND",
		    "a new alice does not inherit it");
		ipc_reply_free(r);
	}

	/* deadline passed: dropped without an answer */
	r = ctl_call(IPC_PING, NULL, NULL, NULL, NULL, ipc_now_ms() - 1000);
	T_OK(r == NULL, "expired request dropped unanswered");
	ipc_reply_free(r);

	/* rate limit: 3 per window per user */
	config_set("API_RATE_LIMIT", "3");
	for (i = 0; i < 4; i++) {
		r = ctl_call(IPC_DEVICE_LIST, "alice", NULL, NULL, NULL, 0);
		if (i == 2)
			T_OK(r && r->rate && r->rate->limit == 3 &&
			    r->rate->remaining == 0 && r->rate->counted,
			    "Reply.rate filled");
		if (i == 3) {
			EXPECT(r, 429, "RATE_LIMIT_EXCEEDED", "4th is 429");
			limited = r && r->rate && r->rate->reset > 0;
		}
		ipc_reply_free(r);
	}
	T_OK(limited, "429 carries the reset time");
	r = ctl_call(IPC_DEVICE_LIST, "bob", NULL, NULL, NULL, 0);
	EXPECT(r, 200, "SUCCESS", "bob has his own window");
	ipc_reply_free(r);
	config_set("API_RATE_LIMIT", NULL);

	snprintf(dir, sizeof(dir), "%s/%s", dm.devices_dir, hash);
	mkdir(dir, 0700);
	{
		char f[PATH_MAX + 64], link[PATH_MAX + 64];
		FILE *fp;

		snprintf(f, sizeof(f), "%s/store.db", dir);
		fp = fopen(f, "w");
		fclose(fp);
		snprintf(f, sizeof(f), "%s/outside", tmpdir);
		fp = fopen(f, "w");
		fclose(fp);
		snprintf(link, sizeof(link), "%s/escape", dir);
		T_OK(symlink(tmpdir, link) == 0, "symlink planted");
		r = ctl_call(IPC_DEVICE_DELETE, "bob", hash, NULL,
		    "{\"force\":\"false\"}", 0);
		EXPECT(r, 200, "SUCCESS", "delete");
		ipc_reply_free(r);
		T_OK(access(dir, F_OK) == -1, "device directory removed");
		T_OK(access(f, F_OK) == 0, "symlink not followed out");
	}
	r = ctl_call(IPC_DEVICE_INFO, "bob", hash, NULL, NULL, 0);
	EXPECT(r, 404, "DEVICE_NOT_FOUND", "gone after delete");
	ipc_reply_free(r);

	zmq_close(cli);
	zmq_close(dm.control);
	zmq_ctx_term(dm.zctx);
	control_cleanup();
	ratelimit_free(dm.rl);
	registry_close(dm.reg);
	memset(&dm, 0, sizeof(dm));
}

/* ---- worker.c against a fake waproc: a script that only sleeps; the test
 * plays its side of workers.sock (the token is read from its environ). ---- */

/* The fake is a #!/bin/sh that execs sleep: while it execs, its environ
 * can read empty, so try for a while. */
static int
child_env(pid_t pid, const char *key, char *out, size_t len)
{
	char path[64], buf[8192];
	size_t n, i, kl = strlen(key);
	FILE *f;
	int tries;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	for (tries = 0; tries < 100; tries++, usleep(5000)) {
		if ((f = fopen(path, "r")) == NULL)
			return -1;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		for (i = 0; i < n; i += strlen(buf + i) + 1)
			if (strncmp(buf + i, key, kl) == 0 &&
			    buf[i + kl] == '=') {
				snprintf(out, len, "%s", buf + i + kl + 1);
				return 0;
			}
		if (n > 0)
			return -1;	/* read fine, no such variable */
	}
	return -1;
}

static void
pump(int ms)
{
	zmq_pollitem_t it[2] = { { dm.workers, 0, ZMQ_POLLIN, 0 },
	    { dm.control, 0, ZMQ_POLLIN, 0 } };
	uint64_t end = ipc_mono_ms() + (uint64_t)ms;

	while (ipc_mono_ms() < end) {
		zmq_poll(it, 2, 10);
		if (it[0].revents & ZMQ_POLLIN)
			worker_recv();
		if (it[1].revents & ZMQ_POLLIN)
			control_recv();
		worker_reap();
		worker_tick(ipc_mono_ms());
	}
}

static int
fake_hello(void *fake, const char *hash, const char *token, pid_t pid)
{
	Ipc__Hello hello = IPC__HELLO__INIT;
	struct ipc_hdr h = { IPC_VERSION, 0, IPC_HELLO, 1, 0 };

	hello.device = (char *)hash;
	hello.token = (char *)token;
	hello.pid = (int32_t)pid;
	return ipc_send(fake, NULL, 0, &h, (const ProtobufCMessage *)&hello);
}

static void
test_worker_fake_waproc(void)
{
	const char *hash = "0000000000000abc";
	struct reg_device d;
	struct worker_info wi;
	struct ipc_msg m;
	Ipc__Reply *r;
	Ipc__Request req = IPC__REQUEST__INIT, *fwd;
	Ipc__Principal who = IPC__PRINCIPAL__INIT;
	struct ipc_hdr h = { IPC_VERSION, 0, IPC_DEVICE_CALL, 500, 0 };
	char script[256], token[130], val[PATH_MAX];
	void *fake, *cl;
	FILE *f;
	pid_t pid;
	int one = 1, i;

	snprintf(dm.devices_dir, sizeof(dm.devices_dir), "%s/wdev", tmpdir);
	mkdir(dm.devices_dir, 0700);
	snprintf(script, sizeof(script), "%s/fake-waproc", tmpdir);
	f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\nexec sleep 30\n");
	fclose(f);
	chmod(script, 0755);
	snprintf(dm.waproc_path, sizeof(dm.waproc_path), "%s", script);
	snprintf(dm.workers_ep, sizeof(dm.workers_ep), "inproc://workers-t");
	dm.reg = reg_open_tmp("worker.db");
	dm.rl = ratelimit_new(64);
	dm.zctx = zmq_ctx_new();
	dm.workers = zmq_socket(dm.zctx, ZMQ_ROUTER);
	zmq_setsockopt(dm.workers, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
	zmq_bind(dm.workers, dm.workers_ep);
	dm.control = zmq_socket(dm.zctx, ZMQ_ROUTER);
	zmq_bind(dm.control, "inproc://control-w");
	cl = zmq_socket(dm.zctx, ZMQ_DEALER);
	zmq_connect(cl, "inproc://control-w");
	fake = zmq_socket(dm.zctx, ZMQ_DEALER);
	zmq_setsockopt(fake, ZMQ_ROUTING_ID, hash, 16);
	zmq_connect(fake, dm.workers_ep);
	registry_user_add(dm.reg, "alice", "user", "$argon2id$a");
	control_users_reload();
	mkdev(&d, hash, "alice", 1);
	registry_device_insert(dm.reg, &d);
	worker_init();

	T_EQ_INT(worker_start(hash, 0), 0, "spawned");
	T_OK(worker_info(hash, &wi) && wi.running && !wi.ready && wi.pid > 0,
	    "running, no HELLO yet");
	pid = wi.pid;
	T_OK(child_env(pid, "WAPROC_TOKEN", token, sizeof(token)) == 0 &&
	    strlen(token) == 64, "one-time 32-byte hex token in its env");
	T_OK(child_env(pid, "WAPROC_DIR", val, sizeof(val)) == 0 &&
	    strstr(val, hash) != NULL, "WAPROC_DIR is its directory");
	T_OK(child_env(pid, "HOME_OF_TEST", val, sizeof(val)) == -1,
	    "the test's own variables are not passed");
	registry_device_get(dm.reg, hash, &d);
	T_EQ_STR(d.status, "starting", "status starting");
	reg_device_clear(&d);

	fake_hello(fake, hash, "00", pid);
	for (i = 0; i < 200 && worker_info(hash, &wi) && wi.running; i++)
		pump(10);
	T_OK(!wi.running, "wrong token: the process is killed");
	registry_device_get(dm.reg, hash, &d);
	T_EQ_STR(d.status, "crashed", "and counted as a crash");
	reg_device_clear(&d);

	T_EQ_INT(worker_start(hash, 0), 0, "started again");
	worker_info(hash, &wi);
	pid = wi.pid;
	token[0] = '\0';
	T_OK(child_env(pid, "WAPROC_TOKEN", token, sizeof(token)) == 0,
	    "new token read");
	fake_hello(fake, hash, token, pid);
	pump(50);
	T_OK(worker_info(hash, &wi) && wi.ready, "right token: ready");
	T_OK(ipc_recv(fake, 0, &m, 200) == 0 && m.hdr.type == IPC_HELLO &&
	    (m.hdr.flags & IPC_F_REPLY), "HELLO answered");
	ipc_msg_clear(&m);

	/* a device call: client -> control -> worker -> fake, and back */
	who.user = (char *)"alice";
	req.who = &who;
	req.device = (char *)hash;
	req.method = (char *)"POST";
	req.path = (char *)"/send/message";
	h.deadline_ms = ipc_now_ms() + 5000;
	ipc_send(cl, NULL, 0, &h, (const ProtobufCMessage *)&req);
	pump(50);
	fwd = NULL;
	if (ipc_recv(fake, 0, &m, 200) == 0) {
		T_OK(m.hdr.type == IPC_DEVICE_CALL && m.hdr.reqid != 500,
		    "forwarded with a fresh request id");
		fwd = ipc_request_unpack(&m);
		T_OK(fwd && strcmp(fwd->path, "/send/message") == 0 &&
		    strcmp(fwd->method, "POST") == 0, "same body forwarded");
		r = ipc_reply_new(200, "SUCCESS", "sent",
		    "{\"code\":\"SUCCESS\",\"results\":{}}");
		{
			struct ipc_hdr rh = { IPC_VERSION, IPC_F_REPLY,
			    IPC_DEVICE_CALL, m.hdr.reqid, 0 };

			ipc_send(fake, NULL, 0, &rh,
			    (const ProtobufCMessage *)r);
		}
		ipc_reply_free(r);
		ipc__request__free_unpacked(fwd, NULL);
		ipc_msg_clear(&m);
	} else
		T_OK(0, "forwarded to the waproc");
	pump(50);
	T_OK(ipc_recv(cl, 0, &m, 200) == 0 && m.hdr.reqid == 500 &&
	    (m.hdr.flags & IPC_F_REPLY), "reply relayed with the client's id");
	r = ipc_reply_unpack(&m);
	T_OK(r && r->status == 200 && r->json.len > 0, "status and json kept");
	ipc_reply_free(r);
	ipc_msg_clear(&m);

	/* no answer by the deadline: 504 */
	h.reqid = 501;
	h.deadline_ms = ipc_now_ms() + 150;
	ipc_send(cl, NULL, 0, &h, (const ProtobufCMessage *)&req);
	pump(300);
	r = NULL;
	if (ipc_recv(cl, 0, &m, 100) == 0) {
		r = ipc_reply_unpack(&m);
		ipc_msg_clear(&m);
	}
	EXPECT(r, 504, "DEVICE_TIMEOUT", "504 at the deadline");
	ipc_reply_free(r);
	while (ipc_recv(fake, 0, &m, 0) == 0)
		ipc_msg_clear(&m);

	/* STATUS from the waproc is recorded */
	{
		Ipc__Status st = IPC__STATUS__INIT;
		struct ipc_hdr sh = { IPC_VERSION, 0, IPC_STATUS, 2, 0 };

		st.device = (char *)hash;
		st.state = (char *)"connected";
		st.jid = (char *)"15551234567:3@s.whatsapp.net";
		st.push_name = (char *)"Alice";
		ipc_send(fake, NULL, 0, &sh, (const ProtobufCMessage *)&st);
		pump(50);
		registry_device_get(dm.reg, hash, &d);
		T_EQ_STR(d.status, "connected", "STATUS recorded");
		T_EQ_STR(d.jid, "15551234567:3@s.whatsapp.net", "jid stored");
		T_EQ_STR(d.push_name, "Alice", "push name stored");
		reg_device_clear(&d);
	}

	worker_stop(hash, "test");
	for (i = 0; i < 300 && worker_info(hash, &wi) && wi.running; i++)
		pump(10);
	registry_device_get(dm.reg, hash, &d);
	T_OK(!wi.running && strcmp(d.status, "stopped") == 0,
	    "stop: SIGTERM, reaped, stopped");
	reg_device_clear(&d);

	/* silent after spawn: killed when HEARTBEAT_TIMEOUT_MS passes */
	config_set("HEARTBEAT_TIMEOUT_MS", "300");
	T_EQ_INT(worker_start(hash, 0), 0, "started without HELLO");
	for (i = 0; i < 300 && worker_info(hash, &wi) && wi.running; i++)
		pump(10);
	registry_device_get(dm.reg, hash, &d);
	T_OK(!wi.running && strcmp(d.status, "crashed") == 0,
	    "no HELLO in time: killed, crashed");
	reg_device_clear(&d);
	config_set("HEARTBEAT_TIMEOUT_MS", NULL);

	worker_shutdown();
	zmq_close(fake);
	zmq_close(cl);
	zmq_close(dm.control);
	zmq_close(dm.workers);
	zmq_ctx_term(dm.zctx);
	control_cleanup();
	ratelimit_free(dm.rl);
	registry_close(dm.reg);
	memset(&dm, 0, sizeof(dm));
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	log_init("test_devmgr", LOG_LVL_ERROR);
	setenv("HOME_OF_TEST", "1", 1);
	if (sodium_init() < 0 || mkdtemp(tmpdir) == NULL)
		return 1;
	T_RUN(test_migrations);
	T_RUN(test_users);
	T_RUN(test_devices);
	T_RUN(test_device_json);
	T_RUN(test_backoff);
	T_RUN(test_crash_window);
	T_RUN(test_exit_cause);
	T_RUN(test_webhook_payload_sign);
	T_RUN(test_webhook_queue);
	T_RUN(test_events_pub);
	T_RUN(test_control_rules);
	T_RUN(test_worker_fake_waproc);
	rm_rf(tmpdir);
	return t_done();
}
