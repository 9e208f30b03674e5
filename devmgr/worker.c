/*
 * worker.c - one waproc per device: spawn (posix_spawn, scrubbed
 * environment, one-time token), the workers ROUTER (HELLO first, then
 * heartbeats, STATUS, WAEVENT, replies), SIGCHLD reaping, restarts with
 * exponential backoff and jitter, FAILED after too many crashes, and the
 * relay of device calls with a bounded table of pending requests.  Every
 * lifecycle change goes through events_status().  Nothing here waits: the
 * one bounded wait is worker_shutdown() at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "devmgr.h"
#include "log.h"
#include "xmalloc.h"

#define CRASH_HIST_MAX	64
#define PENDING_MAX	4096		/* power of two */
#define SPAWN_BATCH	64		/* spawns per loop iteration */
#define SPAWN_BUDGET_MS	15		/* ... or this much time */
#define STOP_GRACE_MS	5000
#define LOGOUT_WAIT_MS	3000
#define WAPROC_LOG_MAX	(1024 * 1024)	/* rotated at spawn beyond this */

enum wstate {
	W_IDLE,		/* no process, none wanted */
	W_QUEUED,	/* to spawn at the next tick (boot recovery) */
	W_SPAWNED,	/* running, HELLO not seen yet */
	W_READY,	/* HELLO accepted */
	W_LOGOUT,	/* delete: waiting for the logout reply */
	W_STOPPING,	/* SHUTDOWN + SIGTERM sent */
	W_BACKOFF,	/* crashed, restart at restart_at */
	W_FAILED,	/* too many crashes; waits for an explicit start */
};

enum wstop { STOP_NONE, STOP_STOP, STOP_RESTART, STOP_DELETE, STOP_SHUTDOWN };

struct worker {
	char		 hash[REG_HASH_LEN + 1];
	enum wstate	 state;
	enum wstop	 stop;
	pid_t		 pid;
	char		 token[65];
	uint64_t	 spawned;	/* mono ms */
	uint64_t	 last_rx;
	uint64_t	 last_tx;
	uint64_t	 restart_at;
	uint64_t	 kill_at;
	int64_t		 started_at;	/* realtime ms */
	uint64_t	 crashes[CRASH_HIST_MAX];
	size_t		 ncrash;
	int		 restarts;
	int		 respawn;	/* next spawn is a restart */
	int		 booting;	/* boot recovery: not settled yet */
	char		 cause[96];	/* why we killed it, if we did */
	char		 stop_cause[96];
	uint32_t	 logout_reqid;
};

struct pending {
	int		 used;
	int		 internal;	/* our own call (logout): no client */
	uint32_t	 reqid;		/* ours, towards the waproc */
	uint32_t	 creqid;	/* the client's */
	uint8_t		 cid[256];
	size_t		 cidlen;
	uint64_t	 deadline;	/* realtime ms */
	char		 hash[REG_HASH_LEN + 1];
	Ipc__RateInfo	 rate;
	int		 rated;
};

static struct worker	**ws;
static size_t		  nws, capws;
static struct pending	 *pend;
static size_t		  npend;
static uint32_t		  next_reqid;
/* No pending call's deadline is earlier than this (UINT64_MAX: none known),
 * so worker_tick scans the table only when one may have passed. */
static uint64_t		  pend_next = UINT64_MAX;
static size_t		  nqueued;
static size_t		  nbooting;

/*
 * Boot recovery starts waprocs a few at a time: each one's login is a
 * burst of CPU (loader, keys, handshake), and hundreds at once on a few
 * cores make every one of them slow.  A waproc stops counting once it
 * reports a settled state (connected, qr, disconnected, failed, ...) or
 * after BOOT_SETTLE_MAX_MS.
 */
#define BOOT_SETTLE_MAX_MS	2000

static size_t
boot_max(void)
{
	long n = config_get_int("BOOT_CONCURRENCY");

	if (n <= 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		n = n > 0 ? 2 * n : 4;
	}
	return (size_t)n;
}

static void
w_settled(struct worker *w)
{
	if (w->booting) {
		w->booting = 0;
		nbooting--;
	}
}

/* ---- pure helpers ---- */

uint64_t
worker_backoff_ms(int crashes, uint64_t min, uint64_t max, uint32_t rnd)
{
	uint64_t d = min ? min : 1;
	int i;

	if (max < d)
		max = d;
	for (i = 1; i < crashes && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	d += rnd % (d / 2 + 1);		/* jitter: up to half again */
	return d > max ? max : d;
}

int
worker_crash_record(uint64_t *times, size_t *n, size_t cap, uint64_t now,
    uint64_t window, size_t max)
{
	size_t i, j = 0;

	for (i = 0; i < *n; i++)
		if (times[i] + window > now)
			times[j++] = times[i];
	*n = j;
	if (*n == cap) {
		memmove(times, times + 1, (cap - 1) * sizeof(*times));
		(*n)--;
	}
	times[(*n)++] = now;
	return *n > max;
}

void
worker_exit_cause(int st, char *out, size_t len)
{
	if (WIFEXITED(st))
		snprintf(out, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, len, "signal %d (%s)", WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else
		snprintf(out, len, "status %d", st);
}

/* ---- the table ---- */

/*
 * Index of ws by device hash (open addressing, linear probing, at most half
 * full): w_find runs for every message from a waproc and every device
 * call, and a host holds thousands of devices.  Rebuilt whenever a worker
 * is removed (rare) or the table grows.
 */
static struct worker	**widx;
static size_t		  widxcap;	/* power of two, or 0 */

static size_t
widx_slot(const char *hash)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < REG_HASH_LEN; i++)
		h = (h ^ (uint8_t)hash[i]) * 16777619u;
	return h & (widxcap - 1);
}

static void
widx_put(struct worker *w)
{
	size_t i = widx_slot(w->hash);

	while (widx[i] != NULL)
		i = (i + 1) & (widxcap - 1);
	widx[i] = w;
}

static void
widx_rebuild(void)
{
	size_t i, want = 64;

	while (want < 2 * (nws + 1))
		want *= 2;
	if (want != widxcap) {
		free(widx);
		widx = xcalloc(want, sizeof(*widx));
		widxcap = want;
	} else
		memset(widx, 0, widxcap * sizeof(*widx));
	for (i = 0; i < nws; i++)
		widx_put(ws[i]);
}

static struct worker *
w_find(const char *hash)
{
	size_t i;

	if (widxcap == 0 || strlen(hash) != REG_HASH_LEN)
		return NULL;
	for (i = widx_slot(hash); widx[i] != NULL;
	    i = (i + 1) & (widxcap - 1))
		if (memcmp(widx[i]->hash, hash, REG_HASH_LEN) == 0)
			return widx[i];
	return NULL;
}

static struct worker *
w_find_pid(pid_t pid)
{
	size_t i;

	for (i = 0; i < nws; i++)
		if (ws[i]->pid == pid)
			return ws[i];
	return NULL;
}

static struct worker *
w_get(const char *hash)
{
	struct worker *w = w_find(hash);
	struct reg_device d;

	if (w != NULL)
		return w;
	if (nws == capws) {
		capws = capws ? capws * 2 : 64;
		ws = xreallocarray(ws, capws, sizeof(*ws));
	}
	w = xcalloc(1, sizeof(*w));
	snprintf(w->hash, sizeof(w->hash), "%s", hash);
	if (registry_device_get(dm.reg, hash, &d) == 0) {
		w->restarts = d.restarts;
		reg_device_clear(&d);
	}
	ws[nws++] = w;
	if (2 * nws > widxcap)
		widx_rebuild();
	else
		widx_put(w);
	return w;
}

static void
w_remove(struct worker *w)
{
	size_t i;

	w_settled(w);
	for (i = 0; i < nws; i++)
		if (ws[i] == w) {
			ws[i] = ws[--nws];
			break;
		}
	widx_rebuild();
	sodium_memzero(w->token, sizeof(w->token));
	free(w);
}

size_t
worker_live(void)
{
	size_t i, n = 0;

	for (i = 0; i < nws; i++)
		n += ws[i]->pid > 0;
	return n;
}

size_t
worker_max(void)
{
	long m = config_get_int("MAX_PROCESSES");

	return m > 0 ? (size_t)m : 0;
}

int
worker_info(const char *hash, struct worker_info *wi)
{
	struct worker *w = w_find(hash);

	memset(wi, 0, sizeof(*wi));
	if (w == NULL)
		return 0;
	wi->pid = w->pid;
	wi->running = w->pid > 0;
	wi->ready = w->state == W_READY;
	wi->started_at = w->started_at;
	wi->restarts = w->restarts;
	return 1;
}

/* ---- removing a device directory, safely ---- */

/* Remove name under dfd: never follows a symlink, never leaves dfd. */
static int
rm_at(int dfd, const char *name, int depth)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0);
	if (depth > 32)
		return -1;
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_at(fd, de->d_name, depth + 1) == -1)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) == -1)
		rc = -1;
	return rc;
}

static void
w_rmdir(const char *hash)
{
	int dfd;

	if (!dm_valid_hash(hash))
		return;
	if ((dfd = open(dm.devices_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    == -1) {
		log_warn("%s", dm.devices_dir);
		return;
	}
	if (rm_at(dfd, hash, 0) == -1)
		log_warn("device %s: cannot remove its directory", hash);
	close(dfd);
}

/* ---- spawning ---- */

static int
w_spawn(struct worker *w)
{
	char dir[PATH_MAX + 32], logpath[PATH_MAX + 64], *envp[24];
	char oldlog[PATH_MAX + 72], *argv[2];
	static const char *keep[] = { "PATH", "HOME", "TZ", "LANG" };
	static const char *cfg[] = { "LOG_LEVEL", "WA_SERVER_URL",
	    "WA_CERT_ROOT", "WA_APP_VERSION", "HEARTBEAT_INTERVAL_MS",
	    "WA_CA_FILE", "WA_KEEPALIVE_MS", "WA_KEEPALIVE_TIMEOUT_MS" };
	struct reg_device d;
	struct stat st;
	size_t i, ne = 0;
	const char *v;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t mask, def;
	pid_t pid;
	int err;

	snprintf(dir, sizeof(dir), "%s/%s", dm.devices_dir, w->hash);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("device %s: mkdir %s", w->hash, dir);
		return -1;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("device %s: %s is not a directory", w->hash, dir);
		return -1;
	}
	snprintf(logpath, sizeof(logpath), "%s/waproc.log", dir);
	/* Keep one previous log: waproc.log.1. */
	if (lstat(logpath, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > WAPROC_LOG_MAX) {
		snprintf(oldlog, sizeof(oldlog), "%s.1", logpath);
		if (rename(logpath, oldlog) == -1)
			log_warn("device %s: rotate %s", w->hash, logpath);
	}
	dm_random_hex(w->token, 32);
	memset(&d, 0, sizeof(d));
	registry_device_get(dm.reg, w->hash, &d);

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if ((v = getenv(keep[i])) != NULL)
			xasprintf(&envp[ne++], "%s=%s", keep[i], v);
	xasprintf(&envp[ne++], "WAPROC_DEVICE=%s", w->hash);
	xasprintf(&envp[ne++], "WAPROC_TOKEN=%s", w->token);
	xasprintf(&envp[ne++], "WAPROC_DIR=%s", dir);
	xasprintf(&envp[ne++], "WAPROC_ENDPOINT=%s", dm.workers_ep);
	for (i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++)
		xasprintf(&envp[ne++], "%s=%s", cfg[i], config_get(cfg[i]));
	xasprintf(&envp[ne++], "WEBHOOK_URL=%s", d.webhook_url ?
	    d.webhook_url : "");
	xasprintf(&envp[ne++], "WEBHOOK_SECRET=%s", d.webhook_secret ?
	    d.webhook_secret : "");
	envp[ne] = NULL;
	reg_device_clear(&d);
	argv[0] = (char *)"waproc";
	argv[1] = NULL;

	/*
	 * posix_spawn (vfork-like: no copy of devmgr's page tables, exec
	 * failures reported here) with: stdin /dev/null, stdout and stderr
	 * appended to the device's waproc.log (0600), every other fd closed,
	 * default signal dispositions, an empty mask, its own process group
	 * (^C on devmgr's tty is devmgr's to handle), cwd = its directory.
	 * waproc itself asks for SIGTERM when devmgr dies (PR_SET_PDEATHSIG).
	 */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, logpath, O_WRONLY | O_CREAT |
	    O_APPEND | O_NOFOLLOW, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	posix_spawnattr_init(&attr);
	sigemptyset(&mask);
	sigemptyset(&def);
	sigaddset(&def, SIGCHLD);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &mask);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	err = posix_spawn(&pid, dm.waproc_path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	for (i = 0; i < ne; i++) {
		if (strncmp(envp[i], "WAPROC_TOKEN=", 13) == 0 ||
		    strncmp(envp[i], "WEBHOOK_SECRET=", 15) == 0)
			sodium_memzero(envp[i], strlen(envp[i]));
		free(envp[i]);
	}
	if (err != 0) {
		log_warnx("device %s: cannot start %s: %s", w->hash,
		    dm.waproc_path, strerror(err));
		sodium_memzero(w->token, sizeof(w->token));
		return -1;
	}
	w->pid = pid;
	w->state = W_SPAWNED;
	w->stop = STOP_NONE;
	w->cause[0] = '\0';
	w->spawned = w->last_rx = w->last_tx = ipc_mono_ms();
	w->started_at = (int64_t)ipc_now_ms();
	return 0;
}

/* Spawn and record it.  0, -2 spawn failed. */
static int
w_launch(struct worker *w)
{
	int restarted = w->respawn;

	w->respawn = 0;
	if (w_spawn(w) == -1) {
		w->state = W_IDLE;
		events_status(w->hash, "failed", "failed", "spawn failed", 0,
		    -1, NULL);
		return -2;
	}
	if (restarted)
		w->restarts++;
	events_status(w->hash, "starting", restarted ? "restarted" : "started",
	    NULL, w->pid, w->restarts, NULL);
	return 0;
}

int
worker_start(const char *hash, int restarted)
{
	struct worker *w = w_get(hash);

	w->ncrash = 0;		/* an explicit start forgets old crashes */
	switch (w->state) {
	case W_SPAWNED:
	case W_READY:
		return 0;			/* already running */
	case W_LOGOUT:
	case W_STOPPING:
		if (w->stop == STOP_DELETE)
			return -2;
		w->stop = STOP_RESTART;		/* respawn when it exits */
		return 0;
	case W_QUEUED:
		nqueued--;
		break;
	default:
		break;
	}
	if (worker_live() >= worker_max()) {
		if (w->state == W_QUEUED)
			w->state = W_IDLE;
		return -1;
	}
	w->respawn = restarted;
	return w_launch(w);
}

static int
w_send(struct worker *w, uint16_t type, uint32_t reqid, int flags,
    const ProtobufCMessage *body)
{
	struct ipc_hdr h = { IPC_VERSION, (uint8_t)flags, type, reqid, 0 };

	if (ipc_send(dm.workers, (const uint8_t *)w->hash, REG_HASH_LEN, &h,
	    body) == -1) {
		log_debug("device %s: send %s: %s", w->hash,
		    ipc_type_name(type), zmq_strerror(errno));
		return -1;
	}
	w->last_tx = ipc_mono_ms();
	return 0;
}

/* SHUTDOWN (if it listens), SIGTERM, SIGKILL after the grace period. */
static void
w_terminate(struct worker *w, enum wstop why, const char *cause)
{
	if (w->state == W_READY || w->state == W_LOGOUT)
		w_send(w, IPC_SHUTDOWN, 0, 0, NULL);
	if (w->pid > 0)
		kill(w->pid, SIGTERM);
	w->state = W_STOPPING;
	w->stop = why;
	w->kill_at = ipc_mono_ms() + STOP_GRACE_MS;
	snprintf(w->stop_cause, sizeof(w->stop_cause), "%s",
	    cause ? cause : "");
	if (why == STOP_STOP)
		events_status(w->hash, "stopping", "stopping", cause, -1, -1,
		    NULL);
}

void
worker_stop(const char *hash, const char *cause)
{
	struct worker *w = w_find(hash);
	struct reg_device d;

	if (w != NULL && w->pid > 0) {
		if (w->state != W_STOPPING || w->stop == STOP_RESTART)
			w_terminate(w, STOP_STOP, cause);
		return;
	}
	if (w != NULL) {
		if (w->state == W_QUEUED)
			nqueued--;
		w->state = W_IDLE;
	}
	if (registry_device_get(dm.reg, hash, &d) == 0) {
		if (strcmp(d.status, "stopped") != 0)
			events_status(hash, "stopped", "stopped", cause, 0, -1,
			    NULL);
		reg_device_clear(&d);
	}
}

static struct pending *
pend_alloc(void)
{
	struct pending *p;
	size_t tries;

	if (pend == NULL)
		pend = xcalloc(PENDING_MAX, sizeof(*pend));
	for (tries = 0; tries < PENDING_MAX; tries++) {
		if (++next_reqid == 0)
			next_reqid = 1;
		p = &pend[next_reqid & (PENDING_MAX - 1)];
		if (!p->used) {
			memset(p, 0, sizeof(*p));
			p->used = 1;
			p->reqid = next_reqid;
			npend++;
			return p;
		}
	}
	return NULL;
}

static struct pending *
pend_find(uint32_t reqid)
{
	struct pending *p;

	if (pend == NULL)
		return NULL;
	p = &pend[reqid & (PENDING_MAX - 1)];
	return p->used && p->reqid == reqid ? p : NULL;
}

static void
pend_arm(struct pending *p, uint64_t deadline)
{
	p->deadline = deadline;
	if (deadline < pend_next)
		pend_next = deadline;
}

static void
pend_release(struct pending *p)
{
	p->used = 0;
	npend--;
}

static void
pend_fail(struct pending *p, int status, const char *code, const char *msg)
{
	Ipc__Reply *r;

	if (!p->internal) {
		r = ipc_reply_new(status, code, msg, NULL);
		if (p->rated)
			r->rate = &p->rate;
		control_reply(p->cid, p->cidlen, IPC_DEVICE_CALL, p->creqid, r);
		r->rate = NULL;
		ipc_reply_free(r);
	}
	pend_release(p);
}

/* Answer every call still waiting on this device. */
static void
pend_fail_device(const char *hash)
{
	size_t i;

	for (i = 0; pend != NULL && npend > 0 && i < PENDING_MAX; i++)
		if (pend[i].used && strcmp(pend[i].hash, hash) == 0)
			pend_fail(&pend[i], 409, "DEVICE_NOT_RUNNING",
			    "the device process stopped");
}

void
worker_delete(const char *hash)
{
	struct worker *w = w_find(hash);
	Ipc__Request req = IPC__REQUEST__INIT;
	struct pending *p;

	if (w == NULL || w->pid <= 0) {
		if (w != NULL) {
			if (w->state == W_QUEUED)
				nqueued--;
			w_remove(w);
		}
		w_rmdir(hash);
		return;
	}
	if (w->state == W_READY && (p = pend_alloc()) != NULL) {
		/* Log the account out of WhatsApp before the store goes. */
		p->internal = 1;
		snprintf(p->hash, sizeof(p->hash), "%s", hash);
		pend_arm(p, ipc_now_ms() + LOGOUT_WAIT_MS);
		req.device = (char *)hash;
		req.method = (char *)"GET";
		req.path = (char *)"/app/logout";
		if (w_send(w, IPC_DEVICE_CALL, p->reqid, 0,
		    (const ProtobufCMessage *)&req) == 0) {
			w->state = W_LOGOUT;
			w->stop = STOP_DELETE;
			w->logout_reqid = p->reqid;
			w->kill_at = ipc_mono_ms() + LOGOUT_WAIT_MS;
			return;
		}
		pend_release(p);
	}
	w_terminate(w, STOP_DELETE, "deleted");
}

/*
 * Message webhook settings changed: a running waproc gets them at once
 * (DEVICE_CALL PUT /_internal/webhook, IPC.md); one that is not running
 * reads them from its environment at its next start.
 */
void
worker_config_changed(const char *hash)
{
	struct worker *w = w_find(hash);
	Ipc__Request req = IPC__REQUEST__INIT;
	struct reg_device d;
	struct pending *p;
	json_object *o;
	const char *js;

	if (w == NULL || w->state != W_READY)
		return;
	if (registry_device_get(dm.reg, hash, &d) != 0)
		return;
	if ((p = pend_alloc()) == NULL) {
		reg_device_clear(&d);
		log_warnx("device %s: cannot push the webhook settings now; "
		    "they apply at its next start", hash);
		return;
	}
	p->internal = 1;
	snprintf(p->hash, sizeof(p->hash), "%s", hash);
	pend_arm(p, ipc_now_ms() + 5000);
	o = json_object_new_object();
	json_object_object_add(o, "url", json_object_new_string(
	    d.webhook_url ? d.webhook_url : ""));
	json_object_object_add(o, "secret", json_object_new_string(
	    d.webhook_secret ? d.webhook_secret : ""));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	req.device = (char *)hash;
	req.method = (char *)"PUT";
	req.path = (char *)"/_internal/webhook";
	req.json.data = (uint8_t *)js;
	req.json.len = strlen(js);
	if (w_send(w, IPC_DEVICE_CALL, p->reqid, 0,
	    (const ProtobufCMessage *)&req) != 0)
		pend_release(p);
	else
		log_info("device %s: message webhook settings pushed", hash);
	/* the secret leaves no copy behind */
	sodium_memzero((char *)js, strlen(js));
	json_object_put(o);
	reg_device_clear(&d);
}

void
worker_init(void)
{
	DIR *d;
	struct dirent *de;

	/* Directories of devices deleted while devmgr was down. */
	if ((d = opendir(dm.devices_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (dm_valid_hash(de->d_name) &&
		    registry_device_exists(dm.reg, de->d_name) == 0) {
			log_info("removing the directory of deleted device %s",
			    de->d_name);
			w_rmdir(de->d_name);
		}
	closedir(d);
}

void
worker_restore(void)
{
	char (*h)[17] = NULL;
	size_t n = 0, i;
	struct worker *w;

	if (registry_device_wanted(dm.reg, &h, &n) == -1)
		return;
	for (i = 0; i < n; i++) {
		w = w_get(h[i]);
		if (w->state == W_IDLE) {
			w->state = W_QUEUED;
			nqueued++;
		}
	}
	free(h);
	if (n > 0)
		log_info("bringing back %zu device(s)", n);
}

/* ---- the workers socket ---- */

static void
w_hello(struct worker *w, const struct ipc_msg *m)
{
	Ipc__Hello *hello = NULL;
	Ipc__Reply *r;
	int ok = 0;

	if (m->hdr.type == IPC_HELLO &&
	    (hello = ipc__hello__unpack(NULL, m->bodylen, m->body)) != NULL &&
	    hello->token != NULL && w->token[0] != '\0' &&
	    auth_streq_ct(hello->token, w->token) &&
	    hello->device != NULL && strcmp(hello->device, w->hash) == 0 &&
	    hello->pid == w->pid)
		ok = 1;
	if (hello != NULL)
		ipc__hello__free_unpacked(hello, NULL);
	sodium_memzero(w->token, sizeof(w->token));	/* one-time */
	if (!ok) {
		log_warnx("device %s: %s first without a valid HELLO; killing "
		    "pid %d", w->hash, ipc_type_name(m->hdr.type), (int)w->pid);
		snprintf(w->cause, sizeof(w->cause), "invalid HELLO");
		kill(w->pid, SIGKILL);
		return;
	}
	w->state = W_READY;
	r = ipc_reply_new(200, "SUCCESS", "welcome", NULL);
	w_send(w, IPC_HELLO, m->hdr.reqid, IPC_F_REPLY,
	    (const ProtobufCMessage *)r);
	ipc_reply_free(r);
	log_debug("device %s: HELLO from pid %d", w->hash, (int)w->pid);
}

static void
w_status(struct worker *w, const struct ipc_msg *m)
{
	Ipc__Status *s = ipc__status__unpack(NULL, m->bodylen, m->body);
	json_object *extra = NULL;

	if (s == NULL || s->state == NULL || *s->state == '\0' ||
	    strlen(s->state) >= REG_STATUS_MAX) {
		log_warnx("device %s: malformed STATUS", w->hash);
		goto out;
	}
	if (s->json.len > 0 && s->json.len < 65536) {
		char *t = xstrndup((const char *)s->json.data, s->json.len);

		extra = json_tokener_parse(t);
		free(t);
		if (extra != NULL && !json_object_is_type(extra,
		    json_type_object)) {
			json_object_put(extra);
			extra = NULL;
		}
	}
	if (strcmp(s->state, "starting") != 0 &&
	    strcmp(s->state, "reconnecting") != 0)
		w_settled(w);
	if ((s->jid && *s->jid) || (s->push_name && *s->push_name))
		registry_device_set_identity(dm.reg, w->hash, s->jid,
		    s->push_name);
	if (extra == NULL && ((s->jid && *s->jid) ||
	    (s->push_name && *s->push_name)))
		extra = json_object_new_object();
	if (s->jid && *s->jid)
		json_object_object_add(extra, "jid",
		    json_object_new_string(s->jid));
	if (s->push_name && *s->push_name)
		json_object_object_add(extra, "pushName",
		    json_object_new_string(s->push_name));
	events_status(w->hash, s->state, s->state, s->cause, -1, -1, extra);
out:
	json_object_put(extra);
	if (s != NULL)
		ipc__status__free_unpacked(s, NULL);
}

static void
w_waevent(struct worker *w, const struct ipc_msg *m)
{
	Ipc__Event *ev = ipc__event__unpack(NULL, m->bodylen, m->body);
	char *json = NULL;

	if (ev == NULL || ev->type == NULL || *ev->type == '\0') {
		log_warnx("device %s: malformed WAEVENT", w->hash);
		goto out;
	}
	if (ev->json.len > 0)
		json = xstrndup((const char *)ev->json.data, ev->json.len);
	/* The device is the sender's, whatever the body says. */
	events_publish(w->hash, NULL, ev->type, json,
	    ev->id && *ev->id ? ev->id : NULL);
out:
	free(json);
	if (ev != NULL)
		ipc__event__free_unpacked(ev, NULL);
}

static void
w_reply(struct worker *w, const struct ipc_msg *m)
{
	struct pending *p = pend_find(m->hdr.reqid);
	Ipc__Reply *r;

	if (p == NULL || strcmp(p->hash, w->hash) != 0) {
		log_debug("device %s: late or unknown reply %u", w->hash,
		    m->hdr.reqid);
		return;
	}
	if (p->internal) {
		pend_release(p);
		if (w->state == W_LOGOUT && w->logout_reqid == m->hdr.reqid)
			w_terminate(w, STOP_DELETE, "deleted");
		return;
	}
	if ((r = ipc_reply_unpack(m)) == NULL) {
		pend_fail(p, 502, "BAD_DEVICE_REPLY",
		    "the device answered a malformed reply");
		return;
	}
	if (p->rated)
		r->rate = &p->rate;	/* ours: detached before the free */
	control_reply(p->cid, p->cidlen, IPC_DEVICE_CALL, p->creqid, r);
	if (p->rated)
		r->rate = NULL;
	ipc_reply_free(r);
	pend_release(p);
}

void
worker_recv(void)
{
	struct ipc_msg m;
	struct worker *w;
	char hash[REG_HASH_LEN + 1];

	if (ipc_recv(dm.workers, 1, &m, 0) == -1)
		return;
	if (m.idlen != REG_HASH_LEN)
		goto out;
	memcpy(hash, m.id, REG_HASH_LEN);
	hash[REG_HASH_LEN] = '\0';
	if ((w = w_find(hash)) == NULL || w->pid <= 0) {
		log_debug("workers: message from unknown peer dropped");
		goto out;
	}
	if (w->state == W_SPAWNED) {
		w->last_rx = ipc_mono_ms();
		w_hello(w, &m);
		goto out;
	}
	if (w->state != W_READY && w->state != W_LOGOUT &&
	    w->state != W_STOPPING)
		goto out;
	w->last_rx = ipc_mono_ms();
	if (m.hdr.flags & IPC_F_REPLY) {
		if (m.hdr.type == IPC_DEVICE_CALL)
			w_reply(w, &m);
		goto out;
	}
	switch (m.hdr.type) {
	case IPC_HEARTBEAT:
		break;
	case IPC_STATUS:
		if (w->state != W_STOPPING)
			w_status(w, &m);
		break;
	case IPC_WAEVENT:
		w_waevent(w, &m);
		break;
	default:
		log_debug("device %s: unexpected %s", hash,
		    ipc_type_name(m.hdr.type));
		break;
	}
out:
	ipc_msg_clear(&m);
}

void
worker_call(const struct ipc_msg *m, const char *hash, int64_t deadline,
    const Ipc__RateInfo *rate)
{
	struct worker *w = w_find(hash);
	struct pending *p;
	struct ipc_hdr h;
	uint8_t hdr[IPC_HDR_LEN];
	Ipc__Reply *r;

	if (w != NULL && (w->state == W_QUEUED || w->state == W_SPAWNED)) {
		/* Started but not said HELLO yet: a moment, not an error. */
		r = ipc_reply_new(503, "DEVICE_STARTING",
		    "the device is starting; retry in a moment", NULL);
		goto fail;
	}
	if (w == NULL || w->state != W_READY) {
		r = ipc_reply_new(409, "DEVICE_NOT_RUNNING",
		    "the device is not running", NULL);
		goto fail;
	}
	if ((p = pend_alloc()) == NULL) {
		r = ipc_reply_new(503, "BUSY", "too many calls in flight",
		    NULL);
		goto fail;
	}
	memcpy(p->cid, m->id, m->idlen);
	p->cidlen = m->idlen;
	p->creqid = m->hdr.reqid;
	pend_arm(p, (uint64_t)deadline);
	snprintf(p->hash, sizeof(p->hash), "%s", hash);
	if (rate != NULL) {
		p->rate = *rate;
		p->rated = 1;
	}
	/* Forward the very same body with our request id. */
	h.version = IPC_VERSION;
	h.flags = 0;
	h.type = IPC_DEVICE_CALL;
	h.reqid = p->reqid;
	h.deadline_ms = (uint64_t)deadline;
	ipc_hdr_encode(&h, hdr);
	if (zmq_send(dm.workers, w->hash, REG_HASH_LEN, ZMQ_SNDMORE |
	    ZMQ_DONTWAIT) == -1 || zmq_send(dm.workers, hdr, sizeof(hdr),
	    ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1 ||
	    zmq_send(dm.workers, m->body ? m->body : (uint8_t *)"",
	    m->bodylen, ZMQ_DONTWAIT) == -1) {
		pend_fail(p, 409, "DEVICE_NOT_RUNNING",
		    "the device process is not reachable");
		return;
	}
	w->last_tx = ipc_mono_ms();
	return;
fail:
	if (rate != NULL)
		r->rate = (Ipc__RateInfo *)rate;
	control_reply(m->id, m->idlen, IPC_DEVICE_CALL, m->hdr.reqid, r);
	r->rate = NULL;
	ipc_reply_free(r);
}

/* ---- exits ---- */

static void
w_exited(struct worker *w, int st)
{
	char cause[128];
	uint64_t now = ipc_mono_ms(), min, max, window;
	json_object *extra;
	uint32_t rnd;
	enum wstop why = w->stop;
	int failed;

	w_settled(w);

	if (w->cause[0] != '\0')
		snprintf(cause, sizeof(cause), "%s", w->cause);
	else
		worker_exit_cause(st, cause, sizeof(cause));
	w->pid = 0;
	w->cause[0] = '\0';
	w->stop = STOP_NONE;
	sodium_memzero(w->token, sizeof(w->token));
	pend_fail_device(w->hash);
	switch (why) {
	case STOP_DELETE:
		w_rmdir(w->hash);
		w_remove(w);
		return;
	case STOP_STOP:
	case STOP_SHUTDOWN:
		w->state = W_IDLE;
		events_status(w->hash, "stopped", "stopped",
		    why == STOP_SHUTDOWN ? "devmgr shutdown" :
		    w->stop_cause[0] ? w->stop_cause : cause, 0, -1, NULL);
		return;
	case STOP_RESTART:
		w->state = W_IDLE;
		w->respawn = 1;
		w_launch(w);
		return;
	case STOP_NONE:
		break;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && w->state != W_SPAWNED) {
		/* It chose to stop (logged out from the phone...): not a
		 * crash, no restart; a logged_out device stays logged_out. */
		struct reg_device d;
		int out = registry_device_get(dm.reg, w->hash, &d) == 0 &&
		    strcmp(d.status, "logged_out") == 0;

		reg_device_clear(&d);	/* zeroed by the get, found or not */
		w->state = W_IDLE;
		registry_device_set_desired(dm.reg, w->hash, "stopped");
		events_status(w->hash, out ? "logged_out" : "stopped",
		    "stopped", cause, 0, -1, NULL);
		return;
	}
	min = (uint64_t)config_get_int("RESTART_BACKOFF_MIN_MS");
	max = (uint64_t)config_get_int("RESTART_BACKOFF_MAX_MS");
	window = 1000ULL * (uint64_t)config_parse_duration(
	    config_get("RESTART_CRASH_WINDOW"));
	failed = worker_crash_record(w->crashes, &w->ncrash, CRASH_HIST_MAX,
	    now, window, (size_t)config_get_int("RESTART_MAX_CRASHES"));
	if (failed) {
		w->state = W_FAILED;
		events_status(w->hash, "crashed", "crashed", cause, 0, -1,
		    NULL);
		events_status(w->hash, "failed", "failed", cause, 0, -1, NULL);
		log_warnx("device %s: %zu crashes within %s, not restarting "
		    "until started again", w->hash, w->ncrash,
		    config_get("RESTART_CRASH_WINDOW"));
		return;
	}
	randombytes_buf(&rnd, sizeof(rnd));
	w->state = W_BACKOFF;
	w->respawn = 1;
	w->restart_at = now + worker_backoff_ms((int)w->ncrash, min, max, rnd);
	extra = json_object_new_object();
	json_object_object_add(extra, "retryInMs",
	    json_object_new_int64((int64_t)(w->restart_at - now)));
	events_status(w->hash, "crashed", "crashed", cause, 0, -1, extra);
	json_object_put(extra);
}

void
worker_reap(void)
{
	struct worker *w;
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if ((w = w_find_pid(pid)) == NULL)
			continue;
		w_exited(w, st);
	}
}

/* ---- timers ---- */

static int
min_wait(int a, int64_t b)
{
	if (b < 0)
		b = 0;
	return b < a ? (int)b : a;
}

int
worker_tick(uint64_t now)
{
	uint64_t interval = (uint64_t)config_get_int("HEARTBEAT_INTERVAL_MS");
	uint64_t timeout = (uint64_t)config_get_int("HEARTBEAT_TIMEOUT_MS");
	uint64_t real = ipc_now_ms();
	Ipc__Heartbeat hb = IPC__HEARTBEAT__INIT;
	size_t i, spawned = 0;
	struct worker *w;
	int wait = 1000;

	for (i = 0; i < nws; i++) {
		w = ws[i];
		if (w->booting) {
			if (now - w->spawned >= BOOT_SETTLE_MAX_MS)
				w_settled(w);
			else
				wait = min_wait(wait, (int64_t)(w->spawned +
				    BOOT_SETTLE_MAX_MS - now));
		}
		switch (w->state) {
		case W_QUEUED:
			/* Boot recovery: a few per turn, so that control
			 * requests are answered in between. */
			if (spawned >= SPAWN_BATCH ||
			    ipc_mono_ms() - now >= SPAWN_BUDGET_MS) {
				wait = 0;
				break;
			}
			if (nbooting >= boot_max()) {
				wait = min_wait(wait, 5);
				break;
			}
			nqueued--;
			if (worker_live() >= worker_max()) {
				w->state = W_IDLE;
				events_status(w->hash, "stopped", "stopped",
				    "MAX_PROCESSES reached", 0, -1, NULL);
				break;
			}
			if (w_launch(w) == 0) {
				w->booting = 1;
				nbooting++;
			}
			spawned++;
			break;
		case W_SPAWNED:
			if (w->cause[0] != '\0')
				break;		/* killed; waiting for SIGCHLD */
			if (now - w->spawned >= timeout) {
				snprintf(w->cause, sizeof(w->cause),
				    "no HELLO within %llu ms",
				    (unsigned long long)timeout);
				log_warnx("device %s: no HELLO from pid %d, "
				    "killing it", w->hash, (int)w->pid);
				kill(w->pid, SIGKILL);
				break;
			}
			wait = min_wait(wait, (int64_t)(w->spawned + timeout -
			    now));
			break;
		case W_READY:
			if (now - w->last_rx >= timeout) {
				if (w->cause[0] == '\0') {
					snprintf(w->cause, sizeof(w->cause),
					    "heartbeat timeout");
					log_warnx("device %s: silent for %llu "
					    "ms, killing pid %d", w->hash,
					    (unsigned long long)(now -
					    w->last_rx), (int)w->pid);
					kill(w->pid, SIGKILL);
				}
				break;
			}
			if (now - w->last_tx >= interval) {
				hb.ts_ms = (int64_t)real;
				w_send(w, IPC_HEARTBEAT, 0, 0,
				    (const ProtobufCMessage *)&hb);
			}
			wait = min_wait(wait, (int64_t)(w->last_tx + interval -
			    now));
			wait = min_wait(wait, (int64_t)(w->last_rx + timeout -
			    now));
			break;
		case W_LOGOUT:
			if (now >= w->kill_at)
				w_terminate(w, STOP_DELETE, "deleted");
			else
				wait = min_wait(wait, (int64_t)(w->kill_at -
				    now));
			break;
		case W_STOPPING:
			if (now >= w->kill_at) {
				if (w->pid > 0)
					kill(w->pid, SIGKILL);
				w->kill_at = now + 1000;
			}
			wait = min_wait(wait, (int64_t)(w->kill_at - now));
			break;
		case W_BACKOFF:
			if (now < w->restart_at) {
				wait = min_wait(wait, (int64_t)(w->restart_at -
				    now));
				break;
			}
			if (worker_live() >= worker_max()) {
				w->restart_at = now + 1000;
				break;
			}
			w_launch(w);
			break;
		default:
			break;
		}
	}
	/* Calls whose deadline passed: 504.  The table (PENDING_MAX slots)
	 * is walked only once the earliest deadline is due, not every turn. */
	if (pend != NULL && npend > 0 && real >= pend_next) {
		pend_next = UINT64_MAX;
		for (i = 0; npend > 0 && i < PENDING_MAX; i++) {
			if (!pend[i].used)
				continue;
			if (pend[i].deadline <= real) {
				if (pend[i].internal) {
					pend_release(&pend[i]);
					continue;
				}
				pend_fail(&pend[i], 504, "DEVICE_TIMEOUT",
				    "the device did not answer in time");
			} else if (pend[i].deadline < pend_next)
				pend_next = pend[i].deadline;
		}
	}
	if (npend > 0 && pend_next != UINT64_MAX)
		wait = min_wait(wait, (int64_t)(pend_next - real));
	if (nqueued > 0)
		wait = 0;
	return wait;
}

void
worker_shutdown(void)
{
	uint64_t end = ipc_mono_ms() + STOP_GRACE_MS - 300;
	size_t i;
	pid_t pid;
	int st;

	for (i = 0; i < nws; i++)
		if (ws[i]->pid > 0)
			w_terminate(ws[i], STOP_SHUTDOWN, "devmgr shutdown");
	while (worker_live() > 0 && ipc_mono_ms() < end) {
		worker_reap();
		if (worker_live() > 0)
			zmq_poll(NULL, 0, 10);
	}
	for (i = 0; i < nws; i++)
		if (ws[i]->pid > 0) {
			log_warnx("device %s: pid %d did not stop, killing",
			    ws[i]->hash, (int)ws[i]->pid);
			kill(ws[i]->pid, SIGKILL);
		}
	while (worker_live() > 0 && (pid = waitpid(-1, &st, 0)) > 0) {
		struct worker *w = w_find_pid(pid);

		if (w != NULL)
			w_exited(w, st);
	}
	for (i = 0; i < nws; i++)
		free(ws[i]);
	free(ws);
	ws = NULL;
	nws = capws = 0;
	free(widx);
	widx = NULL;
	widxcap = 0;
	free(pend);
	pend = NULL;
	npend = 0;
	pend_next = UINT64_MAX;
}
