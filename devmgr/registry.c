/*
 * registry.c - the only SQL on registry.db (registry.h).  SQLite in WAL
 * mode with a busy timeout; numbered forward-only migrations from
 * sql/registry/ applied at open under PRAGMA user_version.  Nothing here
 * knows about processes, sockets or JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "registry.h"
#include "xmalloc.h"

/* Migrations: sql/registry/NNN_*.sql, embedded (see common/db.h). A new
 * file needs a new line below; test_devmgr checks the table matches sql/. */
DB_SQL_EMBED(devmgr_sql_registry_001, "sql/registry/001_init.sql");

static const struct db_migration registry_migrations[] = {
	{ "001_init.sql", devmgr_sql_registry_001 },
};
#define NMIGRATIONS (sizeof(registry_migrations) / \
	sizeof(registry_migrations[0]))

/*
 * Prepared statements are kept (SQLITE_PREPARE_PERSISTENT) and reset after
 * use instead of being prepared and finalized on every call: parsing the
 * SQL was most of devmgr's CPU per device call and per relayed event.
 * Keyed by the SQL literal; a statement already in use (none nests today)
 * falls back to a one-shot one.
 */
#define STMT_CACHE	48

struct stmt_slot {
	const char	*sql;
	sqlite3_stmt	*st;
	int		 busy;
};

/*
 * Owners of existing devices (registry_device_owner): asked on every
 * device call and every event a waproc sends.  Every write that can change
 * a device's owner or existence (insert, delete, a user's devices handed
 * to an heir) bumps gen, which empties the cache.  All SQL on registry.db
 * is in this file, so nothing else can make an entry stale.
 */
#define OWNER_CACHE	1024

struct owner_slot {
	uint64_t	 gen;		/* 0: empty */
	char		 hash[REG_HASH_LEN + 1];
	char		 owner[REG_USER_MAX + 1];
};

struct registry {
	sqlite3			*db;
	struct stmt_slot	 stmts[STMT_CACHE];
	size_t			 nstmts;
	uint64_t		 gen;
	struct owner_slot	*owners;
};

static int64_t
registry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
registry_migration_count(void)
{
	return NMIGRATIONS;
}

const char *
registry_migration(size_t i, const char **name)
{
	if (i >= NMIGRATIONS)
		return NULL;
	if (name != NULL)
		*name = registry_migrations[i].name;
	return registry_migrations[i].sql;
}

static int
registry_exec(struct registry *r, const char *sql)
{
	return db_exec(r->db, "registry", sql);
}

static sqlite3_stmt *
registry_prep(struct registry *r, const char *sql)
{
	struct stmt_slot *e = NULL;
	sqlite3_stmt *st = NULL;
	size_t i;

	for (i = 0; i < r->nstmts; i++)
		if (r->stmts[i].sql == sql) {
			e = &r->stmts[i];
			break;
		}
	if (e != NULL && !e->busy) {
		e->busy = 1;
		return e->st;
	}
	if (e == NULL && r->nstmts < STMT_CACHE) {
		if (sqlite3_prepare_v3(r->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			log_warnx("registry: prepare: %s",
			    sqlite3_errmsg(r->db));
			return NULL;
		}
		e = &r->stmts[r->nstmts++];
		e->sql = sql;
		e->st = st;
		e->busy = 1;
		return st;
	}
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("registry: prepare: %s", sqlite3_errmsg(r->db));
		return NULL;
	}
	return st;
}

/* The end of a statement from registry_prep: a kept one is reset (its read
 * or write transaction ends, as with finalize) for the next use. */
static void
registry_fin(struct registry *r, sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < r->nstmts; i++)
		if (r->stmts[i].st == st && r->stmts[i].busy) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			r->stmts[i].busy = 0;
			return;
		}
	sqlite3_finalize(st);
}

/* A device's owner or existence may have changed: forget every owner. */
static void
registry_owners_stale(struct registry *r)
{
	r->gen++;
}

int
registry_schema_version(struct registry *r)
{
	return db_schema_version(r->db);
}

struct registry *
registry_open(const char *path)
{
	struct registry *r = xcalloc(1, sizeof(*r));

	if ((r->db = db_open(path, "registry", "PRAGMA foreign_keys = ON",
	    registry_migrations, NMIGRATIONS)) == NULL) {
		free(r);
		return NULL;
	}
	r->gen = 1;
	r->owners = xcalloc(OWNER_CACHE, sizeof(*r->owners));
	return r;
}

void
registry_close(struct registry *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nstmts; i++)
		sqlite3_finalize(r->stmts[i].st);
	sqlite3_close(r->db);
	free(r->owners);
	free(r);
}

int
registry_begin(struct registry *r)
{
	return registry_exec(r, "BEGIN IMMEDIATE");
}

int
registry_commit(struct registry *r)
{
	return registry_exec(r, "COMMIT");
}

void
registry_rollback(struct registry *r)
{
	registry_exec(r, "ROLLBACK");
}

/* Bind a string or NULL; an empty string binds NULL when nullempty. */
static void
bind_text(sqlite3_stmt *st, int i, const char *s, int nullempty)
{
	if (s == NULL || (nullempty && *s == '\0'))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static void
col_copy(sqlite3_stmt *st, int i, char *dst, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, len, "%s", s ? (const char *)s : "");
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

/* Step a statement that returns no rows; finalizes it. 0 or -1. */
static int
registry_done(struct registry *r, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	registry_fin(r, st);
	if (rc != SQLITE_DONE) {
		log_warnx("registry: %s", sqlite3_errmsg(r->db));
		return -1;
	}
	return 0;
}

/* ---- users ---- */

#define USER_COLS "id, username, role, password_hash, active, created_at, " \
	"last_login"

static void
user_row(sqlite3_stmt *st, struct reg_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	col_copy(st, 1, u->username, sizeof(u->username));
	col_copy(st, 2, u->role, sizeof(u->role));
	col_copy(st, 3, u->password_hash, sizeof(u->password_hash));
	u->active = sqlite3_column_int(st, 4);
	u->created_at = sqlite3_column_int64(st, 5);
	u->last_login = sqlite3_column_int64(st, 6);
}

int
registry_user_get(struct registry *r, const char *name, struct reg_user *u)
{
	sqlite3_stmt *st;
	int rc;

	memset(u, 0, sizeof(*u));
	if ((st = registry_prep(r, "SELECT " USER_COLS " FROM users WHERE "
	    "username = ?")) == NULL)
		return -1;
	bind_text(st, 1, name, 0);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		user_row(st, u);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	registry_fin(r, st);
	return rc;
}

int
registry_user_list(struct registry *r, struct reg_user **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((st = registry_prep(r, "SELECT " USER_COLS " FROM users "
	    "ORDER BY username")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		user_row(st, &(*out)[(*n)++]);
	}
	registry_fin(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
registry_user_add(struct registry *r, const char *name, const char *role,
    const char *hash)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = registry_prep(r, "INSERT INTO users (username, role, "
	    "password_hash, active, created_at) VALUES (?, ?, ?, 1, ?)"))
	    == NULL)
		return -1;
	bind_text(st, 1, name, 0);
	bind_text(st, 2, role, 0);
	bind_text(st, 3, hash, 0);
	sqlite3_bind_int64(st, 4, registry_now_ms());
	rc = sqlite3_step(st);
	registry_fin(r, st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(r->db) == SQLITE_CONSTRAINT_UNIQUE)
		return 1;
	log_warnx("registry: user add: %s", sqlite3_errmsg(r->db));
	return -1;
}

/* Run a one-parameter-bound change; 0 changed, 1 no row, -1 error. */
static int
registry_change(struct registry *r, sqlite3_stmt *st)
{
	if (st == NULL)
		return -1;
	if (registry_done(r, st) == -1)
		return -1;
	return sqlite3_changes(r->db) > 0 ? 0 : 1;
}

int
registry_user_delete(struct registry *r, const char *name)
{
	sqlite3_stmt *st = registry_prep(r,
	    "DELETE FROM users WHERE username = ?");

	if (st)
		bind_text(st, 1, name, 0);
	return registry_change(r, st);
}

/*
 * Delete a user and hand its devices to heir, in one transaction, so that a
 * user created later under the same name never inherits them.  Returns 0,
 * 1 no such user, -1 error; *moved = devices handed over.
 */
int
registry_user_delete_to(struct registry *r, const char *name,
    const char *heir, int *moved)
{
	sqlite3_stmt *st;
	int rc;

	*moved = 0;
	registry_owners_stale(r);
	if (registry_begin(r) == -1)
		return -1;
	if ((st = registry_prep(r, "UPDATE devices SET owner = ? WHERE "
	    "owner = ?")) == NULL)
		goto fail;
	bind_text(st, 1, heir, 0);
	bind_text(st, 2, name, 0);
	if (registry_done(r, st) == -1)
		goto fail;
	*moved = sqlite3_changes(r->db);
	if ((rc = registry_user_delete(r, name)) == -1)
		goto fail;
	if (rc == 1) {
		registry_rollback(r);
		*moved = 0;
		return 1;
	}
	if (registry_commit(r) == -1)
		goto fail;
	return 0;
fail:
	registry_rollback(r);
	*moved = 0;
	return -1;
}

int
registry_user_passwd(struct registry *r, const char *name, const char *hash)
{
	sqlite3_stmt *st = registry_prep(r,
	    "UPDATE users SET password_hash = ? WHERE username = ?");

	if (st) {
		bind_text(st, 1, hash, 0);
		bind_text(st, 2, name, 0);
	}
	return registry_change(r, st);
}

int
registry_user_login(struct registry *r, const char *name, int64_t ms)
{
	sqlite3_stmt *st = registry_prep(r,
	    "UPDATE users SET last_login = ? WHERE username = ?");

	if (st) {
		sqlite3_bind_int64(st, 1, ms);
		bind_text(st, 2, name, 0);
	}
	return registry_change(r, st);
}

int
registry_user_count(struct registry *r, const char *role)
{
	sqlite3_stmt *st;
	int n = -1;

	st = registry_prep(r, role ? "SELECT count(*) FROM users WHERE "
	    "role = ? AND active = 1" : "SELECT count(*) FROM users");
	if (st == NULL)
		return -1;
	if (role)
		bind_text(st, 1, role, 0);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	registry_fin(r, st);
	return n;
}

/* ---- devices ---- */

#define DEV_COLS "id, hash, owner, name, webhook_url, webhook_secret, " \
	"status_webhook_url, status_webhook_secret, desired_state, status, " \
	"jid, push_name, pid, restarts, created_at, updated_at, last_seen"

void
reg_device_clear(struct reg_device *d)
{
	if (d == NULL)
		return;
	free(d->name);
	free(d->webhook_url);
	free(d->webhook_secret);
	free(d->status_webhook_url);
	free(d->status_webhook_secret);
	free(d->jid);
	free(d->push_name);
	memset(d, 0, sizeof(*d));
}

static void
device_row(sqlite3_stmt *st, struct reg_device *d)
{
	memset(d, 0, sizeof(*d));
	d->id = sqlite3_column_int64(st, 0);
	col_copy(st, 1, d->hash, sizeof(d->hash));
	col_copy(st, 2, d->owner, sizeof(d->owner));
	d->name = col_dup(st, 3);
	d->webhook_url = col_dup(st, 4);
	d->webhook_secret = col_dup(st, 5);
	d->status_webhook_url = col_dup(st, 6);
	d->status_webhook_secret = col_dup(st, 7);
	col_copy(st, 8, d->desired, sizeof(d->desired));
	col_copy(st, 9, d->status, sizeof(d->status));
	d->jid = col_dup(st, 10);
	d->push_name = col_dup(st, 11);
	d->pid = sqlite3_column_int(st, 12);
	d->restarts = sqlite3_column_int(st, 13);
	d->created_at = sqlite3_column_int64(st, 14);
	d->updated_at = sqlite3_column_int64(st, 15);
	d->last_seen = sqlite3_column_int64(st, 16);
}

int
registry_device_get(struct registry *r, const char *hash,
    struct reg_device *d)
{
	sqlite3_stmt *st;
	int rc;

	memset(d, 0, sizeof(*d));
	if ((st = registry_prep(r, "SELECT " DEV_COLS " FROM devices WHERE "
	    "hash = ?")) == NULL)
		return -1;
	bind_text(st, 1, hash, 0);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		device_row(st, d);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	registry_fin(r, st);
	return rc;
}

static size_t
owner_slot_of(const char *hash)
{
	uint32_t h = 2166136261u;

	while (*hash)
		h = (h ^ (uint8_t)*hash++) * 16777619u;
	return h & (OWNER_CACHE - 1);
}

int
registry_device_owner(struct registry *r, const char *hash, char *owner,
    size_t len)
{
	struct owner_slot *o;
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc;

	if (len > 0)
		*owner = '\0';
	if (hash == NULL || strlen(hash) != REG_HASH_LEN)
		return 1;
	o = &r->owners[owner_slot_of(hash)];
	if (o->gen == r->gen && strcmp(o->hash, hash) == 0) {
		snprintf(owner, len, "%s", o->owner);
		return 0;
	}
	if ((st = registry_prep(r, "SELECT owner FROM devices WHERE "
	    "hash = ?")) == NULL)
		return -1;
	bind_text(st, 1, hash, 0);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_text(st, 0);
		snprintf(o->owner, sizeof(o->owner), "%s",
		    v ? (const char *)v : "");
		memcpy(o->hash, hash, REG_HASH_LEN + 1);
		o->gen = r->gen;
		snprintf(owner, len, "%s", o->owner);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	registry_fin(r, st);
	return rc;
}

int
registry_device_exists(struct registry *r, const char *hash)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = registry_prep(r, "SELECT 1 FROM devices WHERE hash = ?"))
	    == NULL)
		return -1;
	bind_text(st, 1, hash, 0);
	rc = sqlite3_step(st);
	registry_fin(r, st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
registry_device_insert(struct registry *r, const struct reg_device *d)
{
	sqlite3_stmt *st;
	int rc;

	registry_owners_stale(r);
	if ((st = registry_prep(r, "INSERT INTO devices (hash, owner, name, "
	    "webhook_url, webhook_secret, status_webhook_url, "
	    "status_webhook_secret, desired_state, status, created_at, "
	    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) == NULL)
		return -1;
	bind_text(st, 1, d->hash, 0);
	bind_text(st, 2, d->owner, 0);
	bind_text(st, 3, d->name, 1);
	bind_text(st, 4, d->webhook_url, 1);
	bind_text(st, 5, d->webhook_secret, 1);
	bind_text(st, 6, d->status_webhook_url, 1);
	bind_text(st, 7, d->status_webhook_secret, 1);
	bind_text(st, 8, d->desired[0] ? d->desired : "stopped", 0);
	bind_text(st, 9, d->status[0] ? d->status : "registered", 0);
	sqlite3_bind_int64(st, 10, d->created_at);
	sqlite3_bind_int64(st, 11, d->updated_at ? d->updated_at :
	    d->created_at);
	rc = sqlite3_step(st);
	registry_fin(r, st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(r->db) == SQLITE_CONSTRAINT_UNIQUE)
		return 1;
	log_warnx("registry: device insert: %s", sqlite3_errmsg(r->db));
	return -1;
}

int
registry_device_update(struct registry *r, const char *hash,
    const struct reg_device_update *u)
{
	sqlite3_stmt *st;

	/* A NULL parameter keeps the column; '' sets it to NULL. */
	if ((st = registry_prep(r, "UPDATE devices SET "
	    "name = CASE WHEN ?1 IS NULL THEN name ELSE nullif(?1, '') END, "
	    "webhook_url = CASE WHEN ?2 IS NULL THEN webhook_url "
	    "    ELSE nullif(?2, '') END, "
	    "webhook_secret = CASE WHEN ?3 IS NULL THEN webhook_secret "
	    "    ELSE nullif(?3, '') END, "
	    "status_webhook_url = CASE WHEN ?4 IS NULL THEN status_webhook_url "
	    "    ELSE nullif(?4, '') END, "
	    "status_webhook_secret = CASE WHEN ?5 IS NULL "
	    "    THEN status_webhook_secret ELSE nullif(?5, '') END, "
	    "updated_at = ?7 WHERE hash = ?6")) == NULL)
		return -1;
	bind_text(st, 1, u->name, 0);
	bind_text(st, 2, u->webhook_url, 0);
	bind_text(st, 3, u->webhook_secret, 0);
	bind_text(st, 4, u->status_webhook_url, 0);
	bind_text(st, 5, u->status_webhook_secret, 0);
	bind_text(st, 6, hash, 0);
	sqlite3_bind_int64(st, 7, registry_now_ms());
	return registry_change(r, st);
}

int
registry_device_delete(struct registry *r, const char *hash)
{
	sqlite3_stmt *st = registry_prep(r,
	    "DELETE FROM devices WHERE hash = ?");

	registry_owners_stale(r);
	if (st)
		bind_text(st, 1, hash, 0);
	return registry_change(r, st);
}

int
registry_device_list(struct registry *r, const char *owner,
    const char *status, long limit, long offset, struct reg_device **out,
    size_t *n, long *total)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	*total = 0;
	if ((st = registry_prep(r, "SELECT count(*) FROM devices WHERE "
	    "(?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR status = ?2)"))
	    == NULL)
		return -1;
	bind_text(st, 1, owner, 0);
	bind_text(st, 2, status, 1);
	if (sqlite3_step(st) == SQLITE_ROW)
		*total = sqlite3_column_int64(st, 0);
	registry_fin(r, st);
	if ((st = registry_prep(r, "SELECT " DEV_COLS " FROM devices WHERE "
	    "(?1 IS NULL OR owner = ?1) AND (?2 IS NULL OR status = ?2) "
	    "ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4")) == NULL)
		return -1;
	bind_text(st, 1, owner, 0);
	bind_text(st, 2, status, 1);
	sqlite3_bind_int64(st, 3, limit < 0 ? -1 : limit);
	sqlite3_bind_int64(st, 4, offset < 0 ? 0 : offset);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		device_row(st, &(*out)[(*n)++]);
	}
	registry_fin(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
registry_device_count_by_status(struct registry *r,
    void (*cb)(const char *, long, void *), void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = registry_prep(r, "SELECT status, count(*) FROM devices "
	    "GROUP BY status")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((const char *)sqlite3_column_text(st, 0),
		    (long)sqlite3_column_int64(st, 1), arg);
	registry_fin(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
registry_device_set_desired(struct registry *r, const char *hash,
    const char *desired)
{
	sqlite3_stmt *st = registry_prep(r, "UPDATE devices SET "
	    "desired_state = ? WHERE hash = ?");

	if (st) {
		bind_text(st, 1, desired, 0);
		bind_text(st, 2, hash, 0);
	}
	return registry_change(r, st);
}

int
registry_device_set_status(struct registry *r, const char *hash,
    const char *status, int pid, int restarts, int64_t now)
{
	sqlite3_stmt *st = registry_prep(r, "UPDATE devices SET status = ?1, "
	    "pid = CASE WHEN ?2 < 0 THEN pid WHEN ?2 = 0 THEN NULL ELSE ?2 END, "
	    "restarts = CASE WHEN ?3 < 0 THEN restarts ELSE ?3 END, "
	    "updated_at = ?4, last_seen = ?4 WHERE hash = ?5");

	if (st) {
		bind_text(st, 1, status, 0);
		sqlite3_bind_int(st, 2, pid);
		sqlite3_bind_int(st, 3, restarts);
		sqlite3_bind_int64(st, 4, now);
		bind_text(st, 5, hash, 0);
	}
	return registry_change(r, st);
}

int
registry_device_set_identity(struct registry *r, const char *hash,
    const char *jid, const char *push_name)
{
	sqlite3_stmt *st = registry_prep(r, "UPDATE devices SET "
	    "jid = coalesce(nullif(?1, ''), jid), "
	    "push_name = coalesce(nullif(?2, ''), push_name) WHERE hash = ?3");

	if (st) {
		bind_text(st, 1, jid, 0);
		bind_text(st, 2, push_name, 0);
		bind_text(st, 3, hash, 0);
	}
	return registry_change(r, st);
}

int
registry_device_wanted(struct registry *r, char (**out)[17], size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((st = registry_prep(r, "SELECT hash FROM devices WHERE "
	    "desired_state = 'running' ORDER BY created_at")) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		col_copy(st, 0, (*out)[(*n)++], 17);
	}
	registry_fin(r, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- status webhook queue ---- */

int
registry_webhook_enqueue(struct registry *r, const char *device,
    const char *event_id, const char *url, const char *payload, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = registry_prep(r, "INSERT INTO status_webhook_queue (device, "
	    "event_id, url, payload, attempts, next_at, state, created_at) "
	    "VALUES (?, ?, ?, ?, 0, ?, 'pending', ?)")) == NULL)
		return -1;
	bind_text(st, 1, device, 0);
	bind_text(st, 2, event_id, 0);
	bind_text(st, 3, url, 0);
	bind_text(st, 4, payload, 0);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	return registry_done(r, st);
}

void
reg_webhook_clear(struct reg_webhook *w)
{
	if (w == NULL)
		return;
	free(w->url);
	free(w->payload);
	memset(w, 0, sizeof(*w));
}

int
registry_webhook_due(struct registry *r, int64_t now, size_t max,
    const int64_t *skip, size_t nskip, struct reg_webhook **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return 0;
	if ((st = registry_prep(r, "SELECT id, device, event_id, url, "
	    "payload, attempts, next_at FROM status_webhook_queue WHERE "
	    "state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?"))
	    == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)(max + nskip));
	*out = xcalloc(max, sizeof(**out));
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct reg_webhook *w = &(*out)[*n];
		int64_t id = sqlite3_column_int64(st, 0);

		for (i = 0; i < nskip; i++)
			if (skip[i] == id)
				break;
		if (i < nskip)
			continue;
		w->id = id;
		col_copy(st, 1, w->device, sizeof(w->device));
		col_copy(st, 2, w->event_id, sizeof(w->event_id));
		w->url = col_dup(st, 3);
		w->payload = col_dup(st, 4);
		w->attempts = sqlite3_column_int(st, 5);
		w->next_at = sqlite3_column_int64(st, 6);
		(*n)++;
	}
	registry_fin(r, st);
	return 0;
}

int64_t
registry_webhook_next(struct registry *r)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if ((st = registry_prep(r, "SELECT min(next_at) FROM "
	    "status_webhook_queue WHERE state = 'pending'")) == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(st, 0);
	registry_fin(r, st);
	return v;
}

int
registry_webhook_result(struct registry *r, int64_t id, const char *state,
    int attempts, int64_t next_at, const char *error)
{
	sqlite3_stmt *st = registry_prep(r, "UPDATE status_webhook_queue SET "
	    "state = ?, attempts = ?, next_at = ?, last_error = ? "
	    "WHERE id = ?");

	if (st) {
		bind_text(st, 1, state, 0);
		sqlite3_bind_int(st, 2, attempts);
		sqlite3_bind_int64(st, 3, next_at);
		bind_text(st, 4, error, 1);
		sqlite3_bind_int64(st, 5, id);
	}
	return registry_change(r, st);
}

char *
registry_webhook_secret(struct registry *r, const char *device)
{
	sqlite3_stmt *st;
	char *s = NULL;

	if ((st = registry_prep(r, "SELECT status_webhook_secret FROM "
	    "devices WHERE hash = ?")) == NULL)
		return NULL;
	bind_text(st, 1, device, 0);
	if (sqlite3_step(st) == SQLITE_ROW)
		s = col_dup(st, 0);
	registry_fin(r, st);
	return s;
}

int
registry_webhook_count(struct registry *r, const char *state)
{
	sqlite3_stmt *st;
	int n = -1;

	if ((st = registry_prep(r, "SELECT count(*) FROM "
	    "status_webhook_queue WHERE state = ?")) == NULL)
		return -1;
	bind_text(st, 1, state, 0);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	registry_fin(r, st);
	return n;
}

int
registry_webhook_prune(struct registry *r, int64_t before)
{
	sqlite3_stmt *st = registry_prep(r, "DELETE FROM status_webhook_queue "
	    "WHERE state != 'pending' AND created_at < ?");

	if (st)
		sqlite3_bind_int64(st, 1, before);
	return registry_change(r, st) == -1 ? -1 : 0;
}

int
registry_audit(struct registry *r, const char *who, const char *action,
    const char *device, int64_t now)
{
	sqlite3_stmt *st;

	if ((st = registry_prep(r, "INSERT INTO audit (ts, who, action, "
	    "device) VALUES (?, ?, ?, ?)")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	bind_text(st, 2, who, 0);
	bind_text(st, 3, action, 0);
	bind_text(st, 4, device, 1);
	return registry_done(r, st);
}
