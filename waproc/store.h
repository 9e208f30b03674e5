/*
 * store.h - the device store: $WAPROC_DIR/store.db, owned by this waproc
 * alone (credentials, Signal state, LID map, contacts, chats, messages,
 * outbox, webhook queue; schema in sql/device/).  store.c is the only file
 * with SQL on it.  The directory is 0700, the file 0600, WAL mode.
 */
#ifndef WAPROC_STORE_H
#define WAPROC_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Create dir (0700) if missing, open/create store.db (0600), migrate. */
struct store	*store_open(const char *dir);
void		 store_close(struct store *);
/* The handle, for the store family (store-msg.c) only. */
struct sqlite3	*store_db(struct store *);
int		 store_schema_version(struct store *);
size_t		 store_migration_count(void);
const char	*store_migration(size_t i, const char **name);

/* For the store family (store-msg.c, store-sig.c): a statement on the
 * store's handle (NULL and logged on error), a text parameter (NULL binds
 * NULL). */
struct sqlite3_stmt;
struct sqlite3_stmt *store_prepare(struct store *, const char *sql);
void		 store_bind_text(struct sqlite3_stmt *, int i, const char *v);
/* Done with a statement of store_prepare (never sqlite3_finalize it). */
void		 store_finish(struct store *, struct sqlite3_stmt *);
/* Step a write statement of store_prepare to its end and finish it: 0, or
 * -1 (logged). */
int		 store_step_done(struct store *, struct sqlite3_stmt *);

int		 store_begin(struct store *);
int		 store_commit(struct store *);
void		 store_rollback(struct store *);

/* Named credential blobs.  get: 0 found (*val malloc'd), 1 absent, -1. */
int		 store_cred_get(struct store *, const char *name, uint8_t **val,
		    size_t *len);
int		 store_cred_set(struct store *, const char *name,
		    const uint8_t *val, size_t len);
int		 store_cred_delete(struct store *, const char *name);

struct signal_prekey;
/* One-time prekeys about to be uploaded (one transaction).  0 or -1. */
int		 store_prekeys_put(struct store *, const struct signal_prekey *,
		    size_t n);
int		 store_prekey_count(struct store *);
/* Logged out: delete credentials, prekeys, Signal state, LID map. */
int		 store_forget_account(struct store *);

#endif
