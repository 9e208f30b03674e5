/*
 * db.c - open + migrate for every SQLite file of the gateway (db.h).
 * Knows no schema: the caller passes its migrations.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

int
db_exec(sqlite3 *db, const char *who, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("%s: %s", who, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int
db_schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int
db_migrate(sqlite3 *db, const char *who, const struct db_migration *m,
    size_t n)
{
	char pragma[64];
	size_t i;
	int v;

	if ((v = db_schema_version(db)) < 0)
		return -1;
	if ((size_t)v > n) {
		log_warnx("%s: schema version %d is newer than this program "
		    "(%zu)", who, v, n);
		return -1;
	}
	for (i = (size_t)v; i < n; i++) {
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %zu",
		    i + 1);
		if (db_exec(db, who, "BEGIN IMMEDIATE") == -1)
			return -1;
		if (db_exec(db, who, m[i].sql) == -1 ||
		    db_exec(db, who, pragma) == -1) {
			log_warnx("%s: migration %s failed", who, m[i].name);
			db_exec(db, who, "ROLLBACK");
			return -1;
		}
		if (db_exec(db, who, "COMMIT") == -1)
			return -1;
		log_debug("%s: applied %s", who, m[i].name);
	}
	return 0;
}

sqlite3 *
db_open(const char *path, const char *who, const char *pragmas,
    const struct db_migration *m, size_t n)
{
	sqlite3 *db = NULL;
	int fd;

	/* Create the file 0600 ourselves: SQLite would follow the umask. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600))
	    == -1) {
		log_warn("%s: %s", who, path);
		return NULL;
	}
	if (fchmod(fd, 0600) == -1)
		log_warn("%s: chmod %s", who, path);
	close(fd);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("%s: %s: %s", who, path, db ? sqlite3_errmsg(db) :
		    "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, 2000);
	if (db_exec(db, who, "PRAGMA journal_mode = WAL") == -1 ||
	    db_exec(db, who, "PRAGMA synchronous = NORMAL") == -1 ||
	    (pragmas != NULL && db_exec(db, who, pragmas) == -1) ||
	    db_migrate(db, who, m, n) == -1)
		goto fail;
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}
