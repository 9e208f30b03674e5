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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "signal-keys.h"
#include "store.h"
#include "xmalloc.h"

DB_SQL_EMBED(waproc_sql_device_001, "sql/device/001_init.sql");
DB_SQL_EMBED(waproc_sql_device_002, "sql/device/002_msg_delivery.sql");
DB_SQL_EMBED(waproc_sql_device_003, "sql/device/003_app_state.sql");
DB_SQL_EMBED(waproc_sql_device_004, "sql/device/004_outbox_indexes.sql");

static const struct db_migration store_migrations[] = {
	{ "001_init.sql", waproc_sql_device_001 },
	{ "002_msg_delivery.sql", waproc_sql_device_002 },
	{ "003_app_state.sql", waproc_sql_device_003 },
	{ "004_outbox_indexes.sql", waproc_sql_device_004 },
};
#define NMIGRATIONS (sizeof(store_migrations) / sizeof(store_migrations[0]))

/*
 * Prepared statements are kept, keyed by the address of their SQL (always
 * a string literal): parsing SQL was most of a send's CPU.  A statement
 * still in use (a loop calling back into the store) is never handed out
 * twice: the second user gets a fresh one, finalized when done.
 */
#define STMT_CACHE	128

struct stmt_slot {
	const char	*sql;
	sqlite3_stmt	*st;
};

#define STMT_LOOSE	8	/* statements in use twice at once */

/* The checkpoint thread (store_checkpointer_start): the flags and
 * counters under mu. */
struct store_ckpt {
	pthread_t	 th;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	sqlite3		*db;		/* the thread's own connection */
	int		 want;		/* a commit crossed the threshold */
	int		 stop;
	uint64_t	 commits;	/* seen by the hook */
	uint64_t	 clean_at;	/* commits when the WAL was truncated */
	struct timespec	 last;		/* CLOCK_MONOTONIC of the last commit */
	long		 idle_ms;	/* STORE_CKPT_IDLE_MS */
	uint64_t	 runs, complete, truncated;
};

struct store {
	sqlite3			*db;
	struct stmt_slot	 cache[STMT_CACHE];
	sqlite3_stmt		*loose[STMT_LOOSE];	/* not cached */
	size_t			 nloose;
	char			 path[PATH_MAX];
	struct store_ckpt	*ck;
	int			 wal_frames;	/* after the last commit */
	int			 turn;		/* store_turn_begin .. _end */
	int			 turn_open;	/* its BEGIN is done */
	int			 depth;		/* savepoints open in it */
};

/* ---- the checkpoint thread ---- */

static void
ckpt_wake(struct store_ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	if (!c->want) {
		c->want = 1;
		pthread_cond_signal(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* After each commit on the writer's connection (instead of SQLite's own
 * auto-checkpoint, which this hook replaces): wake the thread.  Only when
 * the writer never pauses long enough for the WAL to start over (it can
 * only once the thread has copied it all) does the commit checkpoint, as
 * SQLite would: the thread has copied most of it by then. */
static int
ckpt_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *s = arg;
	struct store_ckpt *c = s->ck;

	s->wal_frames = frames;
	pthread_mutex_lock(&c->mu);
	clock_gettime(CLOCK_MONOTONIC, &c->last);
	c->commits++;
	pthread_mutex_unlock(&c->mu);
	if (frames >= STORE_CKPT_FRAMES_MAX) {
		(void)sqlite3_wal_checkpoint_v2(db, name,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= STORE_CKPT_FRAMES)
		ckpt_wake(c);
	return SQLITE_OK;
}

/* The store has been idle since c->last: copy the WAL back and truncate
 * it, without waiting for anyone (called and returns with c->mu held). */
static void
ckpt_truncate(struct store_ckpt *c)
{
	uint64_t seen = c->commits;
	int rc;

	pthread_mutex_unlock(&c->mu);
	sqlite3_busy_timeout(c->db, 0);
	rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(c->db, 2000);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warnx("store: checkpoint: %s", sqlite3_errmsg(c->db));
	pthread_mutex_lock(&c->mu);
	if (rc == SQLITE_OK) {
		c->truncated++;
		/* what a commit meanwhile wrote waits for the next idle */
		c->clean_at = seen;
	} else
		clock_gettime(CLOCK_MONOTONIC, &c->last);	/* retry later */
}

static void *
ckpt_main(void *arg)
{
	struct store_ckpt *c = arg;
	struct timespec at, now;
	int nlog, nckpt, rc;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->want && !c->stop) {
			if (c->commits == c->clean_at) {
				pthread_cond_wait(&c->cv, &c->mu);
				continue;
			}
			at = c->last;
			at.tv_sec += c->idle_ms / 1000;
			at.tv_nsec += (c->idle_ms % 1000) * 1000000L;
			if (at.tv_nsec >= 1000000000L) {
				at.tv_sec++;
				at.tv_nsec -= 1000000000L;
			}
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > at.tv_sec || (now.tv_sec ==
			    at.tv_sec && now.tv_nsec >= at.tv_nsec)) {
				ckpt_truncate(c);
				continue;
			}
			(void)pthread_cond_timedwait(&c->cv, &c->mu, &at);
		}
		if (c->stop)
			break;
		c->want = 0;
		pthread_mutex_unlock(&c->mu);
		nlog = nckpt = -1;
		rc = sqlite3_wal_checkpoint_v2(c->db, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warnx("store: checkpoint: %s", sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->mu);
		c->runs++;
		if (rc == SQLITE_OK && nlog >= 0 && nckpt == nlog)
			c->complete++;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void
ckpt_stop(struct store *s)
{
	struct store_ckpt *c = s->ck;

	if (c == NULL)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	s->ck = NULL;
}

int
store_checkpointer_start(struct store *s)
{
	struct store_ckpt *c;
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	if (s->ck != NULL)
		return 0;
	c = xcalloc(1, sizeof(*c));
	if (sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("store: checkpointer: %s", c->db != NULL ?
		    sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	sqlite3_busy_timeout(c->db, 2000);
	/* a connection knows the file is in WAL mode only once it has read
	 * it: until then a checkpoint is a no-op */
	if (db_exec(c->db, "store", "PRAGMA journal_mode = WAL") == -1) {
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->idle_ms = STORE_CKPT_IDLE_MS;
	/* what an earlier run left in the WAL counts as a commit now */
	clock_gettime(CLOCK_MONOTONIC, &c->last);
	c->commits = 1;
	/* signals are the main thread's (the thread starts with all
	 * blocked) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->th, NULL, ckpt_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("store: checkpointer: %s", strerror(rc));
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		sqlite3_close(c->db);
		free(c);
		return -1;
	}
	s->ck = c;
	sqlite3_wal_hook(s->db, ckpt_hook, s);
	/* what an earlier run left in the WAL is copied back at once */
	ckpt_wake(c);
	return 0;
}

void
store_checkpointer_stats(struct store *s, struct store_ckpt_stats *out)
{
	struct store_ckpt *c = s->ck;

	memset(out, 0, sizeof(*out));
	out->wal_frames = s->wal_frames;
	if (c == NULL)
		return;
	out->thread = 1;
	pthread_mutex_lock(&c->mu);
	out->runs = c->runs;
	out->complete = c->complete;
	out->truncated = c->truncated;
	pthread_mutex_unlock(&c->mu);
}

void
store_checkpointer_set_idle(struct store *s, long ms)
{
	struct store_ckpt *c = s->ck;

	if (c == NULL || ms <= 0)
		return;
	pthread_mutex_lock(&c->mu);
	c->idle_ms = ms;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

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
	return db_exec(s->db, "store", sql);
}

struct sqlite3_stmt *
store_prepare(struct store *s, const char *sql)
{
	struct stmt_slot *slot = NULL;
	sqlite3_stmt *st = NULL;
	size_t h = (size_t)(((uintptr_t)sql >> 3) % STMT_CACHE), i;

	for (i = 0; i < STMT_CACHE; i++) {
		struct stmt_slot *c = &s->cache[(h + i) % STMT_CACHE];

		if (c->sql == sql) {
			if (sqlite3_stmt_busy(c->st))
				break;		/* in use: a fresh one */
			sqlite3_reset(c->st);
			sqlite3_clear_bindings(c->st);
			return c->st;
		}
		if (c->sql == NULL) {
			slot = c;
			break;
		}
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, slot != NULL ?
	    SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK) {
		log_warnx("store: %s", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return NULL;
	}
	if (slot != NULL) {
		slot->sql = sql;
		slot->st = st;
	} else if (s->nloose < STMT_LOOSE)
		s->loose[s->nloose++] = st;
	else {
		log_warnx("store: too many statements in use at once");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

void
store_finish(struct store *s, struct sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	/* the few not in the cache are listed: everything else is */
	for (i = 0; i < s->nloose; i++)
		if (s->loose[i] == st) {
			s->loose[i] = s->loose[--s->nloose];
			sqlite3_finalize(st);
			return;
		}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* One statement of its own, stepped once (BEGIN, COMMIT ...). */
static int
store_step_once(struct store *s, const char *sql)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		log_warnx("store: %s: %s", sql, sqlite3_errmsg(s->db));
	store_finish(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void
store_bind_text(struct sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

int
store_schema_version(struct store *s)
{
	return db_schema_version(s->db);
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
	snprintf(s->path, sizeof(s->path), "%s", path);
	if ((s->db = db_open(path, "store", "PRAGMA cache_size = -256;"
	    "PRAGMA temp_store = MEMORY", store_migrations, NMIGRATIONS))
	    == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
}

void
store_close(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	ckpt_stop(s);
	for (i = 0; i < STMT_CACHE; i++)
		sqlite3_finalize(s->cache[i].st);
	sqlite3_close(s->db);
	free(s);
}

int
store_step_done(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		log_warnx("store: %s", sqlite3_errmsg(s->db));
	store_finish(s, st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * In a turn, store_begin / _commit / _rollback are a savepoint inside the
 * turn's one transaction (begun by the first of them); outside, a
 * transaction of their own.
 */
int
store_begin(struct store *s)
{
	if (!s->turn)
		return store_step_once(s, "BEGIN IMMEDIATE");
	if (!s->turn_open) {
		if (store_step_once(s, "BEGIN IMMEDIATE") == -1)
			return -1;
		s->turn_open = 1;
	}
	if (store_step_once(s, "SAVEPOINT t") == -1)
		return -1;
	s->depth++;
	return 0;
}

int
store_commit(struct store *s)
{
	if (!s->turn)
		return store_step_once(s, "COMMIT");
	if (s->depth == 0) {
		log_warnx("store: commit without a begin in a turn");
		return 0;
	}
	if (store_step_once(s, "RELEASE t") == -1)
		return -1;	/* still open: the caller rolls it back */
	s->depth--;
	return 0;
}

void
store_rollback(struct store *s)
{
	if (!s->turn) {
		(void)store_step_once(s, "ROLLBACK");
		return;
	}
	if (s->depth == 0) {
		/* never the turn's other writes */
		log_warnx("store: rollback without a begin in a turn");
		return;
	}
	(void)store_step_once(s, "ROLLBACK TO t");
	(void)store_step_once(s, "RELEASE t");
	s->depth--;
}

void
store_turn_begin(struct store *s)
{
	s->turn = 1;
}

int
store_turn_commit(struct store *s)
{
	int rc = 0;

	if (s->depth > 0) {
		/* a begin without its commit or rollback: a bug; what it
		 * wrote commits with the rest, as it would have before */
		log_warnx("store: %d savepoint(s) left open in a turn",
		    s->depth);
		s->depth = 0;
	}
	if (s->turn_open) {
		rc = store_step_once(s, "COMMIT");
		s->turn_open = 0;
	}
	return rc;
}

int
store_turn_end(struct store *s)
{
	int rc = store_turn_commit(s);

	s->turn = 0;
	return rc;
}

int
store_turn_dirty(const struct store *s)
{
	return s->turn_open;
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

/* Private parts of one-time prekeys about to be uploaded (priv || pub). */
int
store_prekeys_put(struct store *s, const struct signal_prekey *k, size_t n)
{
	sqlite3_stmt *st;
	uint8_t rec[64];
	size_t i;
	int rc = 0;

	if (n == 0)
		return 0;
	if (store_begin(s) == -1)
		return -1;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO prekeys (id, record, "
	    "uploaded) VALUES (?, ?, 1) ON CONFLICT (id) DO UPDATE SET "
	    "record = excluded.record, uploaded = 1", -1, &st, NULL) !=
	    SQLITE_OK) {
		store_rollback(s);
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		memcpy(rec, k[i].kp.priv, 32);
		memcpy(rec + 32, k[i].kp.pub, 32);
		sqlite3_bind_int64(st, 1, (sqlite3_int64)k[i].id);
		sqlite3_bind_blob(st, 2, rec, sizeof(rec), SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = -1;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	memset(rec, 0, sizeof(rec));
	if (rc == 0 && store_commit(s) == 0)
		return 0;
	store_rollback(s);
	return -1;
}

int
store_prekey_count(struct store *s)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM prekeys", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Logged out: forget the account (keys, Signal state, LID map). */
int
store_forget_account(struct store *s)
{
	if (store_begin(s) == -1)
		return -1;
	if (store_exec(s, "DELETE FROM credentials; DELETE FROM prekeys; "
	    "DELETE FROM signed_prekeys; DELETE FROM sessions; "
	    "DELETE FROM identity_keys; DELETE FROM sender_keys; "
	    "DELETE FROM sender_key_shared; DELETE FROM app_state_keys; "
	    "DELETE FROM app_state_versions; DELETE FROM app_state_macs; "
	    "DELETE FROM lid_map") != 0) {
		store_rollback(s);
		return -1;
	}
	return store_commit(s);
}
