/*
 * registry.h - the registry database ($VAR_DIR/registry.db): users,
 * devices, the status-webhook queue and the audit trail.  registry.c is
 * the only file that speaks SQL to it; everything else goes through these
 * calls, so a second backend (shared PostgreSQL, DESIGN.md) is an added
 * file, not a rewrite.  Every query is a small indexed one: devmgr's loop
 * calls these inline.
 */
#ifndef DEVMGR_REGISTRY_H
#define DEVMGR_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#define REG_HASH_LEN	16
#define REG_USER_MAX	64
#define REG_ROLE_MAX	8
#define REG_STATUS_MAX	24

struct registry;

struct reg_user {
	int64_t	 id;
	char	 username[REG_USER_MAX + 1];
	char	 role[REG_ROLE_MAX];
	char	 password_hash[128];
	int	 active;
	int64_t	 created_at;		/* ms; 0 unknown */
	int64_t	 last_login;		/* ms; 0 never */
};

/* Strings are owned (xstrdup); NULL when the column is NULL. */
struct reg_device {
	int64_t	 id;
	char	 hash[REG_HASH_LEN + 1];
	char	 owner[REG_USER_MAX + 1];
	char	*name;
	char	*webhook_url;
	char	*webhook_secret;
	char	*status_webhook_url;
	char	*status_webhook_secret;
	char	 desired[8];		/* running | stopped */
	char	 status[REG_STATUS_MAX];
	char	*jid;
	char	*push_name;
	int	 pid;
	int	 restarts;
	int64_t	 created_at;
	int64_t	 updated_at;
	int64_t	 last_seen;		/* 0: never */
};

/* Fields of a device update; a NULL pointer means "leave unchanged", an
 * empty string clears the column. */
struct reg_device_update {
	const char	*name;
	const char	*webhook_url;
	const char	*webhook_secret;
	const char	*status_webhook_url;
	const char	*status_webhook_secret;
};

struct reg_webhook {
	int64_t	 id;
	char	 device[REG_HASH_LEN + 1];
	char	 event_id[64];
	char	*url;
	char	*payload;
	int	 attempts;
	int64_t	 next_at;
};

/* Open (creating it 0600) and migrate.  NULL on failure (logged). */
struct registry	*registry_open(const char *path);
void		 registry_close(struct registry *);
int		 registry_schema_version(struct registry *);
/* Embedded migrations (sql/registry/NNN_*.sql), for the tests. */
size_t		 registry_migration_count(void);
const char	*registry_migration(size_t i, const char **name);

int	 registry_begin(struct registry *);
int	 registry_commit(struct registry *);
void	 registry_rollback(struct registry *);

/* Users.  get: 0 found, 1 not found, -1 error. */
int	 registry_user_get(struct registry *, const char *, struct reg_user *);
/* All users, ordered by name; *out is xreallocarray'd, caller frees. */
int	 registry_user_list(struct registry *, struct reg_user **out,
	    size_t *n);
/* add: 0, 1 exists, -1 error. */
int	 registry_user_add(struct registry *, const char *user,
	    const char *role, const char *hash);
int	 registry_user_delete(struct registry *, const char *user); /* 0,1,-1 */
/* Delete a user, its devices go to heir, one transaction. 0,1,-1. */
int	 registry_user_delete_to(struct registry *, const char *user,
	    const char *heir, int *moved);
int	 registry_user_passwd(struct registry *, const char *user,
	    const char *hash);				/* 0,1,-1 */
int	 registry_user_login(struct registry *, const char *user, int64_t ms);
int	 registry_user_count(struct registry *, const char *role); /* NULL all */

/* Devices.  get: 0 found, 1 not found, -1 error. */
void	 reg_device_clear(struct reg_device *);
int	 registry_device_get(struct registry *, const char *hash,
	    struct reg_device *);
int	 registry_device_insert(struct registry *, const struct reg_device *);
int	 registry_device_update(struct registry *, const char *hash,
	    const struct reg_device_update *);		/* 0,1,-1 */
int	 registry_device_delete(struct registry *, const char *hash);
/*
 * List devices newest first.  owner NULL: all; status NULL: any.  limit
 * < 0: all.  Fills *out (caller frees each with reg_device_clear, then the
 * array) and *total (count before limit/offset).
 */
int	 registry_device_list(struct registry *, const char *owner,
	    const char *status, long limit, long offset,
	    struct reg_device **out, size_t *n, long *total);
/* Count by status: calls cb(status, count) for each. */
int	 registry_device_count_by_status(struct registry *,
	    void (*cb)(const char *status, long n, void *), void *arg);
int	 registry_device_set_desired(struct registry *, const char *hash,
	    const char *desired);
/* Set status; pid < 0 leaves pid, 0 clears it; restarts < 0 leaves it. */
int	 registry_device_set_status(struct registry *, const char *hash,
	    const char *status, int pid, int restarts, int64_t now);
int	 registry_device_set_identity(struct registry *, const char *hash,
	    const char *jid, const char *push_name);
/* Hashes of every device whose desired_state is running. */
int	 registry_device_wanted(struct registry *, char (**out)[17],
	    size_t *n);
int	 registry_device_exists(struct registry *, const char *hash);
/* The owner of a device (0; 1 no such device; -1 error), from a cache that
 * every insert, delete and change of owner in this module empties. */
int	 registry_device_owner(struct registry *, const char *hash,
	    char *owner, size_t len);

/* Status-webhook queue. */
int	 registry_webhook_enqueue(struct registry *, const char *device,
	    const char *event_id, const char *url, const char *payload,
	    int64_t now);
/* Pending rows due at now, soonest first, skipping ids in skip[]. */
int	 registry_webhook_due(struct registry *, int64_t now, size_t max,
	    const int64_t *skip, size_t nskip, struct reg_webhook **out,
	    size_t *n);
void	 reg_webhook_clear(struct reg_webhook *);
/* Soonest next_at of a pending row, or -1 when none. */
int64_t	 registry_webhook_next(struct registry *);
int	 registry_webhook_result(struct registry *, int64_t id,
	    const char *state, int attempts, int64_t next_at,
	    const char *error);
/* The device's current status secret (xstrdup'd) or NULL. */
char	*registry_webhook_secret(struct registry *, const char *device);
int	 registry_webhook_count(struct registry *, const char *state);
int	 registry_webhook_prune(struct registry *, int64_t before);

int	 registry_audit(struct registry *, const char *who, const char *action,
	    const char *device, int64_t now);

#endif
