/*
 * store.c - the only SQL on a device's store.db (store.h).  Migrations
 * are sql/device/NNN_*.sql, embedded at build time exactly as devmgr
 * embeds the registry's (see devmgr/registry.c): the .sql files are the
 * single source, a test checks the table below matches them.  The page
 * cache is kept small: a waproc idles in well under 2 MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "xmalloc.h"

#define SQL_EMBED(sym, file)						\
	__asm__(".pushsection .rodata\n"				\
	    ".globl " #sym "\n.hidden " #sym "\n"			\
	    ".type " #sym ", @object\n"					\
	    #sym ":\n.incbin \"" file "\"\n.byte 0\n"			\
	    ".size " #sym ", .-" #sym "\n.popsection\n");		\
	extern const char sym[]

SQL_EMBED(waproc_sql_device_001, "sql/device/001_init.sql");

static const struct {
	const char	*name;
	const char	*sql;
} store_migrations[] = {
	{ "001_init.sql", waproc_sql_device_001 },
};
#define NMIGRATIONS (sizeof(store_migrations) / sizeof(store_migrations[0]))

struct store {
	sqlite3	*db;
};

size_t
store_migration_count(void)
{
	return NMIGRATIONS;
}

const char *
store_migration(size_t i, const char **name)
{
	if (i >= NMIGRATIONS)
		return NULL;
	if (name != NULL)
		*name = store_migrations[i].name;
	return store_migrations[i].sql;
}

static int
store_exec(struct store *s, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("store: %s", err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int
store_schema_version(struct store *s)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL)
	    != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
store_migrate(struct store *s)
{
	char pragma[64];
	size_t i;
	int v;

	if ((v = store_schema_version(s)) < 0)
		return -1;
	if ((size_t)v > NMIGRATIONS) {
		log_warnx("store: schema version %d is newer than this waproc",
		    v);
		return -1;
	}
	for (i = (size_t)v; i < NMIGRATIONS; i++) {
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %zu",
		    i + 1);
		if (store_exec(s, "BEGIN IMMEDIATE") == -1)
			return -1;
		if (store_exec(s, store_migrations[i].sql) == -1 ||
		    store_exec(s, pragma) == -1) {
			log_warnx("store: migration %s failed",
			    store_migrations[i].name);
			store_exec(s, "ROLLBACK");
			return -1;
		}
		if (store_exec(s, "COMMIT") == -1)
			return -1;
	}
	return 0;
}

struct store *
store_open(const char *dir)
{
	struct store *s;
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("store: mkdir %s", dir);
		return NULL;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("store: %s is not a directory", dir);
		return NULL;
	}
	if (snprintf(path, sizeof(path), "%s/store.db", dir) >=
	    (int)sizeof(path))
		return NULL;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600))
	    == -1) {
		log_warn("store: %s", path);
		return NULL;
	}
	fchmod(fd, 0600);
	close(fd);
	s = xcalloc(1, sizeof(*s));
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("store: %s: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	if (store_exec(s, "PRAGMA journal_mode = WAL") == -1 ||
	    store_exec(s, "PRAGMA synchronous = NORMAL") == -1 ||
	    store_exec(s, "PRAGMA cache_size = -256") == -1 ||
	    store_exec(s, "PRAGMA temp_store = MEMORY") == -1 ||
	    store_migrate(s) == -1)
		goto fail;
	return s;
fail:
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

int
store_begin(struct store *s)
{
	return store_exec(s, "BEGIN IMMEDIATE");
}

int
store_commit(struct store *s)
{
	return store_exec(s, "COMMIT");
}

void
store_rollback(struct store *s)
{
	store_exec(s, "ROLLBACK");
}

int
store_cred_get(struct store *s, const char *name, uint8_t **val, size_t *len)
{
	sqlite3_stmt *st;
	int rc;

	*val = NULL;
	*len = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM credentials WHERE "
	    "name = ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		*val = xmalloc(*len ? *len : 1);
		if (*len)
			memcpy(*val, sqlite3_column_blob(st, 0), *len);
		rc = 0;
	} else
		rc = rc == SQLITE_DONE ? 1 : -1;
	sqlite3_finalize(st);
	return rc;
}

int
store_cred_set(struct store *s, const char *name, const uint8_t *val,
    size_t len)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "INSERT INTO credentials (name, value) "
	    "VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = "
	    "excluded.value", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, val ? (const void *)val : "", (int)len,
	    SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_cred_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(s->db, "DELETE FROM credentials WHERE name = ?",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
