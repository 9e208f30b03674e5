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

/*
 * WAL checkpoints off the caller's thread.  By default SQLite copies the
 * WAL back into store.db, and fsyncs both, inside whichever commit takes
 * the WAL past 1000 pages: that commit (an API accept, say) then waits
 * for the disk, tens of milliseconds on a busy one.  Once started, a
 * thread with its own connection does it instead (a PASSIVE checkpoint:
 * writers go on appending meanwhile) whenever a commit leaves
 * STORE_CKPT_FRAMES pages or more in the WAL (and once at the start).
 * waproc starts it once its device is paired: an unpaired one, idle,
 * does without the thread and its connection.
 * Durability is unchanged: a commit is in the WAL (the OS's page cache)
 * before it returns, as before.  0, or -1 (logged; SQLite's own
 * checkpoints stay on).  store_close stops the thread.
 */
#define STORE_CKPT_FRAMES	1000
/* ... unless a writer that never pauses kept the WAL from starting over
 * (it can only when the thread has copied all of it): at this many
 * pages the commit checkpoints too, and the WAL stays bounded. */
#define STORE_CKPT_FRAMES_MAX	(8 * STORE_CKPT_FRAMES)
/*
 * Once the store has been idle (no commit) for STORE_CKPT_IDLE_MS, the
 * thread also copies back what is left and truncates the WAL to nothing
 * (a TRUNCATE checkpoint that never waits: a writer busy at that moment
 * makes it try again at the next idle time).  Without it every device
 * that ever wrote 1000 pages keeps a 4 MB store.db-wal (32 MB after a
 * burst) for good: 4 GB of disk and page cache for 1,000 devices, nearly
 * all of them idle.
 */
#define STORE_CKPT_IDLE_MS	30000
int		 store_checkpointer_start(struct store *);
/* The idle time before the WAL is truncated (tests; ms > 0). */
void		 store_checkpointer_set_idle(struct store *, long ms);
struct store_ckpt_stats {
	int		thread;		/* the thread is running */
	uint64_t	runs;		/* checkpoints done by the thread */
	uint64_t	complete;	/* of which left no frame behind */
	uint64_t	truncated;	/* idle times that truncated the WAL */
	int		wal_frames;	/* pages in the WAL after the last commit */
};
void		 store_checkpointer_stats(struct store *, struct store_ckpt_stats *);

/*
 * Turns: group commit for one pass of waproc's loop.  Between
 * store_turn_begin and store_turn_end, store_begin / _commit / _rollback
 * are savepoints inside one transaction, begun by the first store_begin;
 * store_turn_commit (and _end) commits it.  What a turn wrote must not be
 * shown to anyone before that commit: waproc holds its IPC replies and
 * events (ctl_hold) and its WebSocket writes (store_turn_dirty) until
 * then.  store_turn_commit: 0, or -1 (the turn is lost: the caller must
 * not let anything it held out, and exits).
 */
void		 store_turn_begin(struct store *);
int		 store_turn_commit(struct store *);
int		 store_turn_end(struct store *);
/* 1 while a turn's transaction holds uncommitted writes. */
int		 store_turn_dirty(const struct store *);

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
