/*
 * devmgr.h - what devmgr's modules share: the daemon context (sockets,
 * registry, clock of the loop) and each module's entry points.  devmgr.c
 * runs the poll loop; worker.c supervises waprocs; control.c answers the
 * control ROUTER; events.c publishes and records lifecycle changes;
 * webhook.c delivers status webhooks; registry.c holds all SQL.
 * devmgr never parses WhatsApp data: bodies from waproc are relayed.
 */
#ifndef DEVMGR_DEVMGR_H
#define DEVMGR_DEVMGR_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "ipc.h"
#include "ratelimit.h"
#include "registry.h"

#define DEVMGR_VERSION	"0.1.0"

struct dm {
	struct registry		*reg;
	struct ratelimit	*rl;
	void			*zctx;
	void			*control;	/* ROUTER */
	void			*workers;	/* ROUTER */
	void			*events;	/* PUB */
	uint64_t		 start_mono;	/* ms */
	uint64_t		 start_real;	/* ms */
	int			 shutting_down;
	char			 waproc_path[PATH_MAX + 16];
	char			 devices_dir[PATH_MAX];
	char			 workers_ep[PATH_MAX + 16];
};
extern struct dm dm;

/* ---- util (control.c) ---- */
int	 dm_valid_hash(const char *);
void	 dm_iso8601(int64_t ms, char *out, size_t len);	/* "" for 0 */
void	 dm_random_hex(char *out, size_t nbytes);	/* out: 2n+1 */
int	 dm_valid_url(const char *);	/* http(s)://host... */
const char *dm_json_str(json_object *, const char *key);

/* ---- worker.c ---- */
struct worker_info {
	pid_t		 pid;
	int		 running;	/* live process */
	int		 ready;		/* HELLO received */
	int64_t		 started_at;	/* ms realtime */
	int		 restarts;
};

void	 worker_init(void);
/* Start the device's process (desired running).  0 ok (or already
 * running), -1 MAX_PROCESSES reached, -2 spawn failed. */
int	 worker_start(const char *hash, int restarted);
/* Stop it for good (desired stopped already recorded by the caller). */
void	 worker_stop(const char *hash, const char *cause);
/* Stop it, log it out if running, then remove its directory. */
void	 worker_delete(const char *hash);
int	 worker_info(const char *hash, struct worker_info *);	/* 1 known */
size_t	 worker_live(void);
size_t	 worker_max(void);
/* Queue every device whose desired state is running (boot recovery). */
void	 worker_restore(void);
/* Handle one message on the workers ROUTER. */
void	 worker_recv(void);
/* Reap children (after SIGCHLD). */
void	 worker_reap(void);
/* Timers: heartbeats, backoff restarts, spawn queue, call deadlines.
 * Returns ms until it next needs to run. */
int	 worker_tick(uint64_t now);
/* Relay a DEVICE_CALL from a control client; replies itself. */
void	 worker_call(const struct ipc_msg *m, const char *hash,
	    int64_t deadline_ms, const Ipc__RateInfo *rate);
/* Stop everything (shutdown).  Blocks at most 5 s. */
void	 worker_shutdown(void);
/* Send the device's new webhook settings to its waproc, if running. */
void	 worker_config_changed(const char *hash);

/* Pure helpers (tested). */
uint64_t worker_backoff_ms(int crashes, uint64_t min, uint64_t max,
	    uint32_t rnd);
/* Crash bookkeeping: times[] holds the last *n crash times (ms, oldest
 * first, at most cap).  Adds now, drops those older than window.
 * Returns 1 when more than max crashes fall within the window. */
int	 worker_crash_record(uint64_t *times, size_t *n, size_t cap,
	    uint64_t now, uint64_t window, size_t max);
void	 worker_exit_cause(int wstatus, char *out, size_t len);

/* ---- control.c ---- */
void	 control_recv(void);
void	 control_reply(const uint8_t *id, size_t idlen, uint16_t type,
	    uint32_t reqid, const Ipc__Reply *);
void	 control_reply_err(const uint8_t *id, size_t idlen, uint16_t type,
	    uint32_t reqid, int status, const char *code, const char *msg);
/* The device JSON object of IPC.md; caller puts it. */
json_object *control_device_json(const struct reg_device *,
	    const struct worker_info *);
/* User cache. */
void	 control_users_reload(void);
void	 control_cleanup(void);

/* ---- events.c ----
 *
 * Device status values (registry devices.status, Event "status" json):
 *   registered    created, never started
 *   starting      process spawned (event started|restarted), no HELLO yet
 *   disconnected  process up, not logged in to WhatsApp (waproc STATUS)
 *   qr | pairing_code | connected | reconnecting | logged_out
 *                 as waproc reports them (DESIGN.md lifecycle)
 *   stopping      stop requested, process not gone yet
 *   stopped       no process, none wanted (stop, devmgr shutdown, exit 0)
 *   crashed       died unasked; restart pending after a backoff
 *   failed        more than RESTART_MAX_CRASHES crashes within
 *                 RESTART_CRASH_WINDOW (or spawn failed): no restart until
 *                 an explicit start
 */
/*
 * One lifecycle change of a device: the registry row and its status
 * webhook row commit in one transaction, then the event is published.
 * event: started|stopped|crashed|restarted|failed|<waproc state>...
 * pid: <0 keep, 0 clear.  restarts: <0 keep.  Returns 0 or -1.
 */
int	 events_status(const char *hash, const char *status,
	    const char *event, const char *cause, int pid, int restarts,
	    json_object *extra);
/* Publish an event as is (relayed from waproc or made here). */
void	 events_publish(const char *hash, const char *owner, const char *type,
	    const char *json, const char *id);
void	 events_event_id(char out[33]);

/* ---- webhook.c ---- */
int	 webhook_init(void);
void	 webhook_cleanup(void);
/* Poll items for curl's sockets: fills up to max, returns count. */
struct zmq_pollitem_t;
size_t	 webhook_pollfds(void *items, size_t max);
/* After poll: items as filled by webhook_pollfds with revents set. */
void	 webhook_poll_done(void *items, size_t n);
/* Start due deliveries, handle timeouts; returns ms until next work. */
int	 webhook_tick(uint64_t now_real);
void	 webhook_kick(void);
/* Pure helpers (tested). */
char	*webhook_payload(const char *hash, const char *status,
	    const char *type, const char *code, const char *message,
	    json_object *data, int64_t ts_ms);
void	 webhook_sign(const char *secret, const char *body, size_t len,
	    char out[65]);
uint64_t webhook_backoff_ms(int attempts, uint32_t rnd);

#endif
