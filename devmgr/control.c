/*
 * control.c - the control ROUTER (IPC.md "Control types"): fcgi-app, wactl
 * and wsrelay ask, devmgr answers (HEALTH, AUTO_HEAL, STATS: health.c).  Authorization, rate limiting and
 * device ownership are decided here and nowhere else.  One table maps each
 * message type to who may call it and its handler.  Handlers answer at
 * once from the registry and the process table; only DEVICE_CALL is
 * relayed (worker.c answers it later).  Never blocks the loop.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "control.h"
#include "devmgr.h"
#include "log.h"
#include "xmalloc.h"

struct dm dm;

/* ---- small utilities shared by the modules ---- */

int
dm_valid_hash(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != REG_HASH_LEN)
		return 0;
	for (i = 0; i < REG_HASH_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

void
dm_iso8601(int64_t ms, char *out, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		if (len)
			out[0] = '\0';
		return;
	}
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void
dm_random_hex(char *out, size_t nbytes)
{
	uint8_t b[64];

	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	randombytes_buf(b, nbytes);
	sodium_bin2hex(out, 2 * nbytes + 1, b, nbytes);
	sodium_memzero(b, sizeof(b));
}

int
dm_valid_url(const char *u)
{
	const char *host;
	size_t i;

	if (u == NULL || strlen(u) > 2048)
		return 0;
	if (strncasecmp(u, "http://", 7) == 0)
		host = u + 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		host = u + 8;
	else
		return 0;
	if (*host == '\0' || *host == '/' || *host == ':')
		return 0;
	for (i = 0; u[i]; i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			return 0;
	return 1;
}

const char *
dm_json_str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ---- the user cache: the registry's users, refreshed on change ---- */

static struct reg_user	*users;
static size_t		 nusers;

void
control_users_reload(void)
{
	struct reg_user *u = NULL;
	size_t n = 0;

	if (registry_user_list(dm.reg, &u, &n) == -1) {
		log_warnx("control: cannot load users");
		return;
	}
	if (users != NULL)
		sodium_memzero(users, nusers * sizeof(*users));
	free(users);
	users = u;
	nusers = n;
}

void
control_cleanup(void)
{
	if (users != NULL)
		sodium_memzero(users, nusers * sizeof(*users));
	free(users);
	users = NULL;
	nusers = 0;
}

size_t
control_user_count(void)
{
	return nusers;
}

static const struct reg_user *
control_user(const char *name)
{
	size_t i;

	for (i = 0; i < nusers; i++)
		if (strcmp(users[i].username, name) == 0)
			return &users[i];
	return NULL;
}

/* ---- request context and replies (struct ctl: control.h) ---- */

void
ctl_set(struct ctl *c, int status, const char *code, const char *msg)
{
	c->status = status;
	c->code = code;
	snprintf(c->message, sizeof(c->message), "%s", msg);
}

void
ctl_ok(struct ctl *c, int status, const char *msg, json_object *data)
{
	ctl_set(c, status, "SUCCESS", msg);
	json_object_put(c->data);
	c->data = data;
}

static const char *
dm_json_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

void
control_reply(const uint8_t *id, size_t idlen, uint16_t type, uint32_t reqid,
    const Ipc__Reply *rep)
{
	struct ipc_hdr h = { IPC_VERSION, IPC_F_REPLY, type, reqid, 0 };

	if (ipc_send(dm.control, id, idlen, &h, (const ProtobufCMessage *)rep)
	    == -1)
		log_debug("control: reply to %s: %s", ipc_type_name(type),
		    strerror(errno));
}

void
control_reply_err(const uint8_t *id, size_t idlen, uint16_t type,
    uint32_t reqid, int status, const char *code, const char *msg)
{
	Ipc__Reply *r = ipc_reply_new(status, code, msg, NULL);

	control_reply(id, idlen, type, reqid, r);
	ipc_reply_free(r);
}

static void
ctl_send(struct ctl *c)
{
	Ipc__Reply rep = IPC__REPLY__INIT;
	const char *json = c->data ? dm_json_text(c->data) : NULL;

	rep.status = c->status;
	rep.code = (char *)(c->code ? c->code : "INTERNAL_ERROR");
	rep.message = c->message;
	if (json != NULL) {
		rep.json.data = (uint8_t *)json;
		rep.json.len = strlen(json);
	}
	if (c->rated)
		rep.rate = &c->rate;
	control_reply(c->m->id, c->m->idlen, c->m->hdr.type, c->m->hdr.reqid,
	    &rep);
}

/* Integer argument from the query or the body, as number or string. */
static long
ctl_arg_int(struct ctl *c, const char *key, long def)
{
	json_object *srcs[2] = { c->query, c->args }, *v;
	const char *s;
	char *end;
	long n;
	int i;

	for (i = 0; i < 2; i++) {
		if (srcs[i] == NULL || !json_object_object_get_ex(srcs[i], key,
		    &v) || v == NULL)
			continue;
		if (json_object_is_type(v, json_type_int))
			return (long)json_object_get_int64(v);
		if (json_object_is_type(v, json_type_string)) {
			s = json_object_get_string(v);
			errno = 0;
			n = strtol(s, &end, 10);
			if (errno == 0 && end != s && *end == '\0')
				return n;
		}
	}
	return def;
}

static const char *
ctl_arg_str(struct ctl *c, const char *key)
{
	const char *s = dm_json_str(c->query, key);

	return s ? s : dm_json_str(c->args, key);
}

/* Boolean: true/false, 1/0, "true"/"1"/"yes"/"on". */
static int
ctl_arg_bool(struct ctl *c, const char *key, int def)
{
	json_object *srcs[2] = { c->query, c->args }, *v;
	const char *s;
	int i;

	for (i = 0; i < 2; i++) {
		if (srcs[i] == NULL || !json_object_object_get_ex(srcs[i], key,
		    &v) || v == NULL)
			continue;
		if (json_object_is_type(v, json_type_boolean) ||
		    json_object_is_type(v, json_type_int))
			return json_object_get_boolean(v);
		if (json_object_is_type(v, json_type_string)) {
			s = json_object_get_string(v);
			return strcasecmp(s, "true") == 0 ||
			    strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0 ||
			    strcasecmp(s, "on") == 0;
		}
	}
	return def;
}

/*
 * The device the request targets: 400 for a malformed hash, 404 when it
 * does not exist or belongs to someone else (never 403).  1 when found.
 */
static int
ctl_device_ex(struct ctl *c, int full)
{
	const char *h = c->req->device;
	int rc;

	if (h == NULL || *h == '\0')
		h = ctl_arg_str(c, "deviceHash");
	if (h == NULL || *h == '\0') {
		ctl_set(c, 400, "DEVICE_HASH_REQUIRED",
		    "a deviceHash is required");
		return 0;
	}
	if (!dm_valid_hash(h)) {
		ctl_set(c, 400, "INVALID_DEVICE_HASH",
		    "deviceHash must be 16 lowercase hex characters");
		return 0;
	}
	if (full)
		rc = registry_device_get(dm.reg, h, &c->dev);
	else {
		/* a device call needs only who owns it (cached) */
		memset(&c->dev, 0, sizeof(c->dev));
		rc = registry_device_owner(dm.reg, h, c->dev.owner,
		    sizeof(c->dev.owner));
		if (rc == 0)
			snprintf(c->dev.hash, sizeof(c->dev.hash), "%s", h);
	}
	if (rc == -1) {
		ctl_set(c, 500, "INTERNAL_ERROR", "registry error");
		return 0;
	}
	if (rc == 1 || (!c->admin && strcmp(c->dev.owner, c->user) != 0)) {
		reg_device_clear(&c->dev);
		ctl_set(c, 404, "DEVICE_NOT_FOUND", "device not found");
		return 0;
	}
	c->have_dev = 1;
	return 1;
}

static int
ctl_device(struct ctl *c)
{
	return ctl_device_ex(c, 1);
}

/* ---- JSON builders ---- */

void
jadd_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

void
jadd_time(json_object *o, const char *k, int64_t ms)
{
	char buf[40];

	if (ms <= 0) {
		json_object_object_add(o, k, NULL);
		return;
	}
	dm_iso8601(ms, buf, sizeof(buf));
	json_object_object_add(o, k, json_object_new_string(buf));
}

json_object *
ctl_process_json(const char *hash, const struct worker_info *wi)
{
	json_object *p;

	if (wi == NULL || !wi->running)
		return NULL;
	p = json_object_new_object();
	json_object_object_add(p, "pid", json_object_new_int(wi->pid));
	jadd_str(p, "deviceHash", hash);
	jadd_str(p, "status", "running");
	json_object_object_add(p, "running", json_object_new_boolean(1));
	jadd_time(p, "startedAt", wi->started_at);
	json_object_object_add(p, "restarts",
	    json_object_new_int(wi->restarts));
	return p;
}

json_object *
control_device_json(const struct reg_device *d, const struct worker_info *wi)
{
	json_object *o = json_object_new_object(), *c, *w;

	json_object_object_add(o, "id", json_object_new_int64(d->id));
	jadd_str(o, "deviceHash", d->hash);
	jadd_str(o, "name", d->name);
	jadd_str(o, "owner", d->owner);
	jadd_str(o, "status", d->status);
	jadd_str(o, "desiredState", d->desired);
	jadd_str(o, "jid", d->jid);
	jadd_str(o, "pushName", d->push_name);
	c = json_object_new_object();
	json_object_object_add(c, "id", NULL);
	json_object_object_add(c, "port", NULL);
	json_object_object_add(o, "container", c);
	json_object_object_add(o, "process", ctl_process_json(d->hash, wi));
	w = json_object_new_object();
	json_object_object_add(w, "messages",
	    json_object_new_boolean(d->webhook_url != NULL));
	json_object_object_add(w, "status",
	    json_object_new_boolean(d->status_webhook_url != NULL));
	jadd_str(w, "messagesUrl", d->webhook_url);
	jadd_str(w, "statusUrl", d->status_webhook_url);
	json_object_object_add(w, "hasMessagesSecret",
	    json_object_new_boolean(d->webhook_secret != NULL));
	json_object_object_add(w, "hasStatusSecret",
	    json_object_new_boolean(d->status_webhook_secret != NULL));
	json_object_object_add(o, "webhooks", w);
	jadd_time(o, "createdAt", d->created_at);
	jadd_time(o, "updatedAt", d->updated_at);
	jadd_time(o, "lastSeen", d->last_seen);
	json_object_object_add(o, "endpoints", NULL);
	return o;
}

static json_object *
ctl_device_obj(const struct reg_device *d)
{
	struct worker_info wi;
	int known = worker_info(d->hash, &wi);

	return control_device_json(d, known ? &wi : NULL);
}

static json_object *
ctl_start_result(const char *hash)
{
	struct worker_info wi;
	json_object *o = json_object_new_object();
	struct reg_device d;

	if (registry_device_get(dm.reg, hash, &d) == 0) {
		jadd_str(o, "deviceHash", hash);
		jadd_str(o, "status", d.status);
		reg_device_clear(&d);
	}
	json_object_object_add(o, "processInfo", worker_info(hash, &wi) ?
	    ctl_process_json(hash, &wi) : NULL);
	return o;
}

static json_object *
ctl_user_json(const struct reg_user *u)
{
	json_object *o = json_object_new_object();

	jadd_str(o, "username", u->username);
	jadd_str(o, "role", u->role);
	json_object_object_add(o, "active", json_object_new_boolean(u->active));
	jadd_time(o, "createdAt", u->created_at);
	jadd_time(o, "lastLogin", u->last_login);
	return o;
}

void
ctl_audit(struct ctl *c, const char *action, const char *device)
{
	registry_audit(dm.reg, c->operator ? "wactl" : c->user, action, device,
	    (int64_t)ipc_now_ms());
}

/* ---- handlers ---- */

static void
h_ping(struct ctl *c)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "uptime", json_object_new_int64(
	    (int64_t)((ipc_mono_ms() - dm.start_mono) / 1000)));
	jadd_str(o, "version", DEVMGR_VERSION);
	ctl_ok(c, 200, "pong", o);
}

static void
h_rate_check(struct ctl *c)
{
	ctl_ok(c, 200, "counted", json_object_new_object());
}

static void
h_auth_info(struct ctl *c)
{
	const char *name = dm_json_str(c->args, "username");
	const struct reg_user *u;
	json_object *o;

	if (name == NULL || (u = control_user(name)) == NULL) {
		ctl_set(c, 404, "USER_NOT_FOUND", "user not found");
		return;
	}
	o = json_object_new_object();
	jadd_str(o, "username", u->username);
	jadd_str(o, "role", u->role);
	jadd_str(o, "hash", u->password_hash);
	json_object_object_add(o, "active", json_object_new_boolean(u->active));
	ctl_ok(c, 200, "user", o);
}

static void
h_auth_login(struct ctl *c)
{
	const char *name = dm_json_str(c->args, "username");

	if (name == NULL)
		name = c->authed ? c->user : NULL;
	if (name == NULL || control_user(name) == NULL) {
		ctl_set(c, 404, "USER_NOT_FOUND", "user not found");
		return;
	}
	registry_user_login(dm.reg, name, (int64_t)ipc_now_ms());
	control_users_reload();
	ctl_ok(c, 200, "login recorded", json_object_new_object());
}

static void
h_user_get(struct ctl *c)
{
	const char *name = dm_json_str(c->args, "username");
	const struct reg_user *u;

	if (name == NULL || !c->admin)
		name = c->user;
	if ((u = control_user(name)) == NULL) {
		ctl_set(c, 404, "USER_NOT_FOUND", "user not found");
		return;
	}
	ctl_ok(c, 200, "user", ctl_user_json(u));
}

static void
h_user_list(struct ctl *c)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	for (i = 0; i < nusers; i++)
		json_object_array_add(a, ctl_user_json(&users[i]));
	json_object_object_add(o, "users", a);
	json_object_object_add(o, "total", json_object_new_int64((int64_t)nusers));
	ctl_ok(c, 200, "users", o);
}

static void
h_user_add(struct ctl *c)
{
	const char *name = dm_json_str(c->args, "username");
	const char *role = dm_json_str(c->args, "role");
	const char *hash = dm_json_str(c->args, "password_hash");
	json_object *o;
	int rc;

	if (role == NULL)
		role = "user";
	if (name == NULL || !auth_valid_username(name)) {
		ctl_set(c, 400, "INVALID_USERNAME",
		    "username: 3..64 of A-Z a-z 0-9 . _ -");
		return;
	}
	if (strcmp(role, "admin") != 0 && strcmp(role, "user") != 0) {
		ctl_set(c, 400, "INVALID_ROLE", "role must be admin or user");
		return;
	}
	if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0 ||
	    strlen(hash) >= AUTH_HASH_MAX) {
		ctl_set(c, 400, "INVALID_PASSWORD_HASH",
		    "password_hash must be an argon2id hash");
		return;
	}
	rc = registry_user_add(dm.reg, name, role, hash);
	if (rc == 1) {
		ctl_set(c, 409, "USER_EXISTS", "user already exists");
		return;
	}
	if (rc == -1) {
		ctl_set(c, 500, "INTERNAL_ERROR", "registry error");
		return;
	}
	control_users_reload();
	ctl_audit(c, "user.add", NULL);
	o = json_object_new_object();
	jadd_str(o, "username", name);
	jadd_str(o, "role", role);
	ctl_ok(c, 201, "user created", o);
}

static void
h_user_delete(struct ctl *c)
{
	const char *name = dm_json_str(c->args, "username"), *heir;
	const struct reg_user *u;
	json_object *o;
	int moved;

	if (name == NULL || (u = control_user(name)) == NULL) {
		ctl_set(c, 404, "USER_NOT_FOUND", "user not found");
		return;
	}
	if (!c->operator && strcmp(name, c->user) == 0) {
		ctl_set(c, 400, "CANNOT_DELETE_SELF",
		    "you cannot delete yourself");
		return;
	}
	if (strcmp(u->role, "admin") == 0 && u->active &&
	    registry_user_count(dm.reg, "admin") <= 1) {
		ctl_set(c, 400, "LAST_ADMIN", "the last admin cannot be deleted");
		return;
	}
	/* Its devices go to the admin deleting it (wactl: the default
	 * admin), never to a future user of the same name. */
	heir = c->operator ? config_get("DEFAULT_ADMIN_USER") : c->user;
	if (control_user(heir) == NULL || strcmp(heir, name) == 0) {
		ctl_set(c, 400, "NO_HEIR", "no admin to take over its devices");
		return;
	}
	if (registry_user_delete_to(dm.reg, name, heir, &moved) != 0) {
		ctl_set(c, 500, "INTERNAL_ERROR", "registry error");
		return;
	}
	control_users_reload();
	ctl_audit(c, "user.delete", NULL);
	o = json_object_new_object();
	json_object_object_add(o, "devicesReassigned",
	    json_object_new_int(moved));
	if (moved > 0)
		jadd_str(o, "devicesOwner", heir);
	ctl_ok(c, 200, "user deleted", o);
}

static void
h_user_passwd(struct ctl *c)
{
	const char *name = dm_json_str(c->args, "username");
	const char *hash = dm_json_str(c->args, "password_hash");

	if (name == NULL)
		name = c->user;
	if (!c->admin && strcmp(name, c->user) != 0) {
		ctl_set(c, 403, "FORBIDDEN", "admin only");
		return;
	}
	if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0 ||
	    strlen(hash) >= AUTH_HASH_MAX) {
		ctl_set(c, 400, "INVALID_PASSWORD_HASH",
		    "password_hash must be an argon2id hash");
		return;
	}
	if (control_user(name) == NULL ||
	    registry_user_passwd(dm.reg, name, hash) != 0) {
		ctl_set(c, 404, "USER_NOT_FOUND", "user not found");
		return;
	}
	control_users_reload();
	ctl_audit(c, "user.passwd", NULL);
	ctl_ok(c, 200, "password changed", json_object_new_object());
}

static void
h_device_list(struct ctl *c)
{
	struct reg_device *d = NULL;
	const char *status = ctl_arg_str(c, "status");
	long limit = ctl_arg_int(c, "limit", -1);
	long offset = ctl_arg_int(c, "offset", 0), total = 0;
	json_object *o, *a, *p;
	size_t n = 0, i;

	if (limit < -1 || offset < 0 || limit > 100000) {
		ctl_set(c, 400, "INVALID_PAGINATION",
		    "limit and offset must be non-negative");
		return;
	}
	if (status != NULL && *status == '\0')
		status = NULL;
	if (registry_device_list(dm.reg, c->admin ? NULL : c->user, status,
	    limit, offset, &d, &n, &total) == -1) {
		ctl_set(c, 500, "INTERNAL_ERROR", "registry error");
		return;
	}
	o = json_object_new_object();
	a = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object_array_add(a, ctl_device_obj(&d[i]));
		reg_device_clear(&d[i]);
	}
	free(d);
	json_object_object_add(o, "devices", a);
	p = json_object_new_object();
	json_object_object_add(p, "total", json_object_new_int64(total));
	json_object_object_add(p, "limit", json_object_new_int64(limit < 0 ?
	    total : limit));
	json_object_object_add(p, "offset", json_object_new_int64(offset));
	json_object_object_add(p, "hasMore", json_object_new_boolean(
	    limit >= 0 && offset + (long)n < total));
	json_object_object_add(o, "pagination", p);
	ctl_ok(c, 200, "devices", o);
}

/* Validate the optional webhook fields; 0 ok, -1 answered 400. */
static int
ctl_webhook_fields(struct ctl *c, struct reg_device_update *u, int *nfields)
{
	static const struct {
		const char	*key;
		size_t		 off;
		int		 url;
	} f[] = {
		{ "name", offsetof(struct reg_device_update, name), 0 },
		{ "webhookUrl", offsetof(struct reg_device_update,
		    webhook_url), 1 },
		{ "webhookSecret", offsetof(struct reg_device_update,
		    webhook_secret), 0 },
		{ "statusWebhookUrl", offsetof(struct reg_device_update,
		    status_webhook_url), 1 },
		{ "statusWebhookSecret", offsetof(struct reg_device_update,
		    status_webhook_secret), 0 },
	};
	json_object *v;
	const char *s;
	size_t i;
	char *p, *save, *tok, *copy;

	memset(u, 0, sizeof(*u));
	*nfields = 0;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (c->args == NULL ||
		    !json_object_object_get_ex(c->args, f[i].key, &v))
			continue;
		if (v == NULL)
			s = "";		/* null clears */
		else if (json_object_is_type(v, json_type_string))
			s = json_object_get_string(v);
		else {
			ctl_set(c, 400, "INVALID_FIELD", "");
			snprintf(c->message, sizeof(c->message),
			    "%s must be a string", f[i].key);
			return -1;
		}
		if (strlen(s) > 4096) {
			ctl_set(c, 400, "INVALID_FIELD", "field too long");
			return -1;
		}
		if (f[i].url && *s != '\0') {
			/* webhookUrl may be a comma list; each must be http(s) */
			copy = xstrdup(s);
			p = copy;
			while ((tok = strsep(&p, ",")) != NULL) {
				while (*tok == ' ')
					tok++;
				save = tok + strlen(tok);
				while (save > tok && save[-1] == ' ')
					*--save = '\0';
				if (!dm_valid_url(tok) || (f[i].off ==
				    offsetof(struct reg_device_update,
				    status_webhook_url) && p != NULL)) {
					free(copy);
					ctl_set(c, 400, "INVALID_WEBHOOK_URL",
					    "");
					snprintf(c->message, sizeof(c->message),
					    "%s must be an http:// or https:// "
					    "URL", f[i].key);
					return -1;
				}
			}
			free(copy);
		}
		*(const char **)((char *)u + f[i].off) = s;
		(*nfields)++;
	}
	return 0;
}

static void
h_device_register(struct ctl *c)
{
	struct reg_device d;
	struct reg_device_update u;
	const char *owner = NULL;
	json_object *o;
	int nf, rc = 1, tries, start_rc = 0;
	int autostart = ctl_arg_bool(c, "autoStart", 1);

	memset(&d, 0, sizeof(d));
	if (ctl_webhook_fields(c, &u, &nf) == -1)
		return;
	if (c->admin)
		owner = dm_json_str(c->args, "owner");
	if (owner == NULL || *owner == '\0')
		owner = c->operator ? config_get("DEFAULT_ADMIN_USER") : c->user;
	if (control_user(owner) == NULL) {
		ctl_set(c, 400, "USER_NOT_FOUND", "owner is not a known user");
		return;
	}
	snprintf(d.owner, sizeof(d.owner), "%s", owner);
	d.name = (char *)(u.name && *u.name ? u.name : NULL);
	d.webhook_url = (char *)(u.webhook_url && *u.webhook_url ?
	    u.webhook_url : NULL);
	d.webhook_secret = (char *)(u.webhook_secret && *u.webhook_secret ?
	    u.webhook_secret : NULL);
	d.status_webhook_url = (char *)(u.status_webhook_url &&
	    *u.status_webhook_url ? u.status_webhook_url : NULL);
	d.status_webhook_secret = (char *)(u.status_webhook_secret &&
	    *u.status_webhook_secret ? u.status_webhook_secret : NULL);
	snprintf(d.desired, sizeof(d.desired), "%s",
	    autostart ? "running" : "stopped");
	snprintf(d.status, sizeof(d.status), "registered");
	d.created_at = d.updated_at = (int64_t)ipc_now_ms();
	for (tries = 0; tries < 5 && rc == 1; tries++) {
		dm_random_hex(d.hash, 8);
		rc = registry_device_insert(dm.reg, &d);
	}
	if (rc != 0) {
		ctl_set(c, 500, "REGISTRATION_UNEXPECTED_ERROR",
		    "could not register the device");
		return;
	}
	ctl_audit(c, "device.register", d.hash);
	events_status(d.hash, "registered", "registered", NULL, -1, -1, NULL);
	if (autostart) {
		start_rc = worker_start(d.hash, 0);
		if (start_rc != 0)
			registry_device_set_desired(dm.reg, d.hash, "stopped");
	}
	o = ctl_start_result(d.hash);
	if (start_rc == -1)
		jadd_str(o, "startError", "MAX_PROCESSES_REACHED");
	else if (start_rc == -2)
		jadd_str(o, "startError", "SPAWN_FAILED");
	memset(&d, 0, sizeof(d));
	if (registry_device_get(dm.reg, json_object_get_string(
	    json_object_object_get(o, "deviceHash")), &d) == 0) {
		json_object_object_add(o, "device", ctl_device_obj(&d));
		reg_device_clear(&d);
	}
	ctl_ok(c, 201, "device registered", o);
}

static void
h_device_update(struct ctl *c)
{
	struct reg_device_update u;
	json_object *o;
	int nf;

	if (!ctl_device(c) || ctl_webhook_fields(c, &u, &nf) == -1)
		return;
	if (nf == 0) {
		ctl_set(c, 400, "NO_VALID_FIELDS", "no valid field to update");
		return;
	}
	if (registry_device_update(dm.reg, c->dev.hash, &u) != 0) {
		ctl_set(c, 500, "INTERNAL_ERROR", "registry error");
		return;
	}
	ctl_audit(c, "device.update", c->dev.hash);
	if (u.webhook_url != NULL || u.webhook_secret != NULL)
		worker_config_changed(c->dev.hash);
	o = json_object_new_object();
	jadd_str(o, "deviceHash", c->dev.hash);
	jadd_str(o, "status", c->dev.status);
	ctl_ok(c, 200, "device updated", o);
}

static void
h_device_delete(struct ctl *c)
{
	if (!ctl_device(c))
		return;
	(void)ctl_arg_bool(c, "force", 0);	/* the stop cannot fail here */
	events_publish(c->dev.hash, c->dev.owner, "status",
	    "{\"status\":\"deleted\",\"event\":\"deleted\"}", NULL);
	worker_delete(c->dev.hash);
	if (registry_device_delete(dm.reg, c->dev.hash) == -1) {
		ctl_set(c, 500, "INTERNAL_ERROR", "registry error");
		return;
	}
	ctl_audit(c, "device.delete", c->dev.hash);
	ctl_ok(c, 200, "device deleted", json_object_new_object());
}

static void
h_device_info(struct ctl *c)
{
	if (!ctl_device(c))
		return;
	ctl_ok(c, 200, "device", ctl_device_obj(&c->dev));
}

static void
ctl_start_reply(struct ctl *c, int rc, const char *msg)
{
	if (rc == -1) {
		ctl_set(c, 503, "MAX_PROCESSES_REACHED",
		    "the maximum number of processes is running");
		return;
	}
	if (rc == -2) {
		ctl_set(c, 500, "SPAWN_FAILED", "could not start the process");
		return;
	}
	ctl_ok(c, 200, msg, ctl_start_result(c->dev.hash));
}

static void
h_device_start(struct ctl *c)
{
	int rc;

	if (!ctl_device(c))
		return;
	rc = worker_start(c->dev.hash, 0);
	if (rc == 0)
		registry_device_set_desired(dm.reg, c->dev.hash, "running");
	ctl_audit(c, "device.start", c->dev.hash);
	ctl_start_reply(c, rc, "process started");
}

static void
h_device_stop(struct ctl *c)
{
	if (!ctl_device(c))
		return;
	registry_device_set_desired(dm.reg, c->dev.hash, "stopped");
	worker_stop(c->dev.hash, "stopped by request");
	ctl_audit(c, "device.stop", c->dev.hash);
	ctl_ok(c, 200, "process stopped", ctl_start_result(c->dev.hash));
}

static void
h_device_restart(struct ctl *c)
{
	int rc;

	if (!ctl_device(c))
		return;
	worker_stop(c->dev.hash, "restart requested");
	rc = worker_start(c->dev.hash, 1);
	if (rc == 0)
		registry_device_set_desired(dm.reg, c->dev.hash, "running");
	ctl_audit(c, "device.restart", c->dev.hash);
	ctl_start_reply(c, rc, "process restarted");
}

static void
h_device_call(struct ctl *c)
{
	uint64_t deadline, max;

	if (!ctl_device_ex(c, 0))
		return;
	/* devmgr's own calls to the waproc (IPC.md): never from outside */
	if (c->req->path != NULL && strncmp(c->req->path, "/_internal/", 11)
	    == 0) {
		ctl_set(c, 404, "NOT_FOUND", "no such route");
		return;
	}
	max = ipc_now_ms() + (uint64_t)config_get_int("DEVICE_CALL_TIMEOUT_MS");
	deadline = c->m->hdr.deadline_ms ? c->m->hdr.deadline_ms : max;
	if (deadline > max)
		deadline = max;
	worker_call(c->m, c->dev.hash, (int64_t)deadline,
	    c->rated ? &c->rate : NULL);
	c->async = 1;
}

/* ---- dispatch ---- */

#define C_PUBLIC	0x01	/* no user needed */
#define C_ADMIN		0x02

static const struct {
	uint16_t	 type;
	int		 flags;
	void		(*fn)(struct ctl *);
} handlers[] = {
	{ IPC_PING,		C_PUBLIC,	h_ping },
	{ IPC_RATE_CHECK,	C_PUBLIC,	h_rate_check },
	{ IPC_AUTH_INFO,	C_PUBLIC,	h_auth_info },
	{ IPC_AUTH_LOGIN,	C_PUBLIC,	h_auth_login },
	{ IPC_HEALTH,		C_PUBLIC,	health_check },
	{ IPC_USER_GET,		0,		h_user_get },
	{ IPC_USER_LIST,	C_ADMIN,	h_user_list },
	{ IPC_USER_ADD,		C_ADMIN,	h_user_add },
	{ IPC_USER_DELETE,	C_ADMIN,	h_user_delete },
	{ IPC_USER_PASSWD,	0,		h_user_passwd },
	{ IPC_DEVICE_LIST,	0,		h_device_list },
	{ IPC_DEVICE_REGISTER,	0,		h_device_register },
	{ IPC_DEVICE_UPDATE,	0,		h_device_update },
	{ IPC_DEVICE_DELETE,	0,		h_device_delete },
	{ IPC_DEVICE_INFO,	0,		h_device_info },
	{ IPC_DEVICE_START,	0,		h_device_start },
	{ IPC_DEVICE_STOP,	0,		h_device_stop },
	{ IPC_DEVICE_RESTART,	0,		h_device_restart },
	{ IPC_AUTO_HEAL,	C_ADMIN,	health_auto_heal },
	{ IPC_STATS,		C_ADMIN,	health_stats },
	{ IPC_DEVICE_CALL,	0,		h_device_call },
};

/* Parse a JSON object out of a bytes field; NULL when absent/invalid. */
static json_object *
ctl_json(const ProtobufCBinaryData *b, int *bad)
{
	struct json_tokener *tok;
	json_object *o;

	if (b->len == 0)
		return NULL;
	tok = json_tokener_new_ex(64);
	o = json_tokener_parse_ex(tok, (const char *)b->data, (int)b->len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		*bad = 1;
	}
	json_tokener_free(tok);
	return o;
}

/* Who is asking, taken from the registry.  0 ok, -1 answered 401. */
static int
ctl_principal(struct ctl *c)
{
	Ipc__Principal *who = c->req->who;
	const struct reg_user *u;

	if (who != NULL && who->operator_) {
		c->operator = c->authed = c->admin = 1;
		snprintf(c->user, sizeof(c->user), "%s",
		    who->user && *who->user ? who->user : "wactl");
		return 0;
	}
	if (who == NULL || who->user == NULL || *who->user == '\0')
		return 0;
	if ((u = control_user(who->user)) == NULL || !u->active) {
		ctl_set(c, 401, "INVALID_TOKEN", "unknown or inactive user");
		return -1;
	}
	snprintf(c->user, sizeof(c->user), "%s", u->username);
	c->authed = 1;
	c->admin = strcmp(u->role, "admin") == 0;
	return 0;
}

/* Count the request; 0 allowed, -1 answered 429. */
static int
ctl_ratelimit(struct ctl *c)
{
	struct ratelimit_info ri;
	char key[RATELIMIT_KEY_MAX];
	long limit = config_get_int("API_RATE_LIMIT");
	long window = config_parse_duration(config_get("API_RATE_WINDOW"));
	Ipc__Principal *who = c->req->who;

	if (c->req->rate_exempt || c->operator || limit <= 0)
		return 0;
	if (window <= 0)
		window = 900;
	if (c->authed)
		snprintf(key, sizeof(key), "u:%s", c->user);
	else
		snprintf(key, sizeof(key), "a:%s", who && who->addr &&
		    *who->addr ? who->addr : "-");
	ipc__rate_info__init(&c->rate);
	c->rated = 1;
	c->rate.counted = 1;
	if (!ratelimit_hit(dm.rl, key, (uint32_t)limit, (uint32_t)window,
	    ipc_mono_ms() / 1000, &ri)) {
		c->rate.limit = ri.limit;
		c->rate.remaining = ri.remaining;
		c->rate.reset = ri.reset;
		ctl_set(c, 429, "RATE_LIMIT_EXCEEDED",
		    "too many requests, try again later");
		return -1;
	}
	c->rate.limit = ri.limit;
	c->rate.remaining = ri.remaining;
	c->rate.reset = ri.reset;
	return 0;
}

void
control_recv(void)
{
	struct ipc_msg m;
	struct ctl c;
	size_t i;
	int bad = 0;

	if (ipc_recv(dm.control, 1, &m, 0) == -1) {
		if (errno == EPROTO)
			log_debug("control: malformed message dropped");
		return;
	}
	if (m.hdr.flags & IPC_F_REPLY)
		goto out;
	if (m.hdr.deadline_ms != 0 && m.hdr.deadline_ms < ipc_now_ms()) {
		log_debug("control: %s %u: deadline passed, dropped",
		    ipc_type_name(m.hdr.type), m.hdr.reqid);
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.m = &m;
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == m.hdr.type)
			break;
	if (i == sizeof(handlers) / sizeof(handlers[0])) {
		control_reply_err(m.id, m.idlen, m.hdr.type, m.hdr.reqid, 400,
		    "UNKNOWN_TYPE", "unknown request type");
		goto out;
	}
	if ((c.req = ipc_request_unpack(&m)) == NULL) {
		control_reply_err(m.id, m.idlen, m.hdr.type, m.hdr.reqid, 400,
		    "BAD_REQUEST", "malformed request");
		goto out;
	}
	/* A device call's body and query go to the waproc as they are:
	 * parsed here only when the device hash has to come from the body. */
	if (m.hdr.type != IPC_DEVICE_CALL || c.req->device == NULL ||
	    *c.req->device == '\0') {
		c.args = ctl_json(&c.req->json, &bad);
		c.query = ctl_json(&c.req->query, &bad);
	}
	if (ctl_principal(&c) == -1 || ctl_ratelimit(&c) == -1)
		goto send;
	if (bad && m.hdr.type != IPC_DEVICE_CALL) {
		ctl_set(&c, 400, "INVALID_JSON", "body is not a JSON object");
		goto send;
	}
	if (!(handlers[i].flags & C_PUBLIC) && !c.authed) {
		ctl_set(&c, 401, "AUTHENTICATION_REQUIRED",
		    "authentication required");
		goto send;
	}
	if ((handlers[i].flags & C_ADMIN) && !c.admin) {
		ctl_set(&c, 403, "FORBIDDEN", "admin only");
		goto send;
	}
	handlers[i].fn(&c);
	if (c.async)
		goto done;
send:
	ctl_send(&c);
done:
	if (c.have_dev)
		reg_device_clear(&c.dev);
	json_object_put(c.data);
	json_object_put(c.args);
	json_object_put(c.query);
	ipc__request__free_unpacked(c.req, NULL);
out:
	ipc_msg_clear(&m);
}
