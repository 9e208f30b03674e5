/*
 * db.h - SQLite open + migrate, shared by devmgr's registry and waproc's
 * device store.  The file is created 0600 (never through a symlink), WAL
 * mode, a busy timeout, then numbered forward-only migrations applied under
 * PRAGMA user_version, each in its own transaction.  Only registry.c and
 * store.c call this; nobody else touches SQL.
 *
 * Migrations are embedded at build time with DB_SQL_EMBED (assembler
 * .incbin straight from sql/<db>/NNN_*.sql): the .sql files are the only
 * source, nothing is generated, and no path is needed at run time.  The
 * build runs from the repository root, which the relative paths assume.
 */
#ifndef COMMON_DB_H
#define COMMON_DB_H

#include <stddef.h>

#include <sqlite3.h>

#define DB_SQL_EMBED(sym, file)						\
	__asm__(".pushsection .rodata\n"				\
	    ".globl " #sym "\n.hidden " #sym "\n"			\
	    ".type " #sym ", @object\n"					\
	    #sym ":\n.incbin \"" file "\"\n.byte 0\n"			\
	    ".size " #sym ", .-" #sym "\n.popsection\n");		\
	extern const char sym[]

struct db_migration {
	const char	*name;
	const char	*sql;
};

/*
 * Open (creating 0600) and migrate.  who names the database in log lines;
 * pragmas is extra SQL run after WAL/synchronous/busy timeout (may be NULL).
 * Returns NULL on any failure (logged once).
 */
sqlite3	*db_open(const char *path, const char *who, const char *pragmas,
	    const struct db_migration *, size_t nmigrations);
int	 db_exec(sqlite3 *, const char *who, const char *sql);
int	 db_schema_version(sqlite3 *);

#endif
