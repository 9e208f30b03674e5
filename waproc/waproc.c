/*
 * waproc.c - one device's process: reads its environment (WAPROC_*, set
 * by devmgr), opens its store, says HELLO to devmgr with the one-time
 * token, and runs one single-threaded loop.  Stops cleanly on SHUTDOWN or SIGTERM, and on
 * its own when devmgr has been silent for 3 x HEARTBEAT_TIMEOUT_MS.
 * The WhatsApp side lives in session.c (conn.c underneath): one zmq_poll
 * over the devmgr socket, the signal pipe and conn's file descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <zmq.h>

#include "config.h"
#include "ctl.h"
#include "ipc.h"
#include "conn.h"
#include "log.h"
#include "media.h"
#include "msghook.h"
#include "session.h"
#include "store.h"
#include "wsclient.h"
#include "xmalloc.h"

#define WAPROC_VERSION	"0.1.0"

static volatile sig_atomic_t got_term;
static int sigpipe_fd[2] = { -1, -1 };

static void
sig_term(int sig)
{
	int save = errno;
	char c = 0;

	got_term = 1;
	if (write(sigpipe_fd[1], &c, 1) == -1) {
		/* a wake-up is already pending */
	}
	errno = save;
}

static const char *
env_required(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fatalx("%s is not set (waproc is started by devmgr)", name);
	return v;
}

static int
valid_hash(const char *s)
{
	size_t i;

	if (strlen(s) != 16)
		return 0;
	for (i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

struct glue {
	struct ctl	*ctl;
	struct session	*sess;
};

static void
out_status(void *arg, const char *state, const char *jid,
    const char *push_name, const char *cause)
{
	struct glue *g = arg;

	/* Before the HELLO is accepted devmgr would drop it: announced
	 * again once it is. */
	if (ctl_ready(g->ctl))
		ctl_status(g->ctl, state, jid, push_name, cause, NULL);
}

static void
out_event(void *arg, const char *type, const char *json)
{
	struct glue *g = arg;

	if (ctl_ready(g->ctl))
		ctl_event(g->ctl, type, json, NULL);
}

static void
out_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	struct glue *g = arg;

	ctl_reply(g->ctl, reqid, status, code, message, json);
}

/* devmgr pushes changed message-webhook settings (IPC.md). */
static void
internal_webhook(struct glue *g, uint32_t reqid, const Ipc__Request *req)
{
	json_object *o = NULL, *u, *s;
	char *t;
	int rc = -1;

	if (req->json.len > 0) {
		t = xstrndup((const char *)req->json.data, req->json.len);
		o = json_tokener_parse(t);
		sodium_memzero(t, req->json.len);
		free(t);
	}
	if (o != NULL && json_object_object_get_ex(o, "url", &u) &&
	    json_object_object_get_ex(o, "secret", &s))
		rc = msghook_set_target(json_object_get_string(u),
		    json_object_get_string(s));
	json_object_put(o);
	if (rc == 0)
		ctl_reply(g->ctl, reqid, 200, "SUCCESS", "webhook settings "
		    "applied", "{\"code\":\"SUCCESS\"}");
	else
		ctl_reply(g->ctl, reqid, 400, "INVALID_WEBHOOK_URL", "webhook "
		    "settings not applied", NULL);
}

static void
on_call(struct ctl *c, uint32_t reqid, const Ipc__Request *req, void *arg)
{
	struct glue *g = arg;

	(void)c;
	if (req->path != NULL && strcmp(req->path, "/_internal/webhook") ==
	    0) {
		internal_webhook(g, reqid, req);
		return;
	}
	session_call(g->sess, reqid, req->method, req->path,
	    (const char *)req->query.data, req->query.len,
	    (const char *)req->json.data, req->json.len,
	    req->idempotency_key);
}

/* A turn's writes are durable: now what reports them may go out.  A turn
 * that cannot commit is fatal, before any of it was shown (devmgr
 * restarts us; the server sends again whatever we had not acked). */
static void
turn_commit(struct store *store, struct ctl *ctl)
{
	if (store_turn_commit(store) == -1) {
		ctl_drop(ctl);
		fatalx("store: a turn did not commit");
	}
	ctl_flush(ctl);
}

static int
turn_dirty(void *arg)
{
	return store_turn_dirty(arg);
}

int
main(int argc, char *argv[])
{
	const char *device, *dir, *endpoint;
	char token[129];
	struct store *store;
	struct ctl *ctl;
	struct sigaction sa;
	zmq_pollitem_t items[2 + CONN_POLLFDS_MAX + MSGHOOK_ACTIVE_MAX +
	    MEDIA_ACTIVE_MAX * 2 + 8];
	struct media *media;
	size_t nm;
	long mt;
	struct pollfd pfd[CONN_POLLFDS_MAX];
	struct session_out out;
	struct conn_cfg cfg;
	struct glue g;
	void *zctx;
	long wait;
	int stop = 0, announced = 0, rc = 0, n, i, t, ckpt = 0;
	size_t nh;
	long ht;
	char buf[16];

	log_init("waproc", LOG_LVL_INFO);
	/* Never outlive devmgr (it may have died before this line). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		fatalx("devmgr is gone");
	config_load(NULL);
	device = env_required("WAPROC_DEVICE");
	if (!valid_hash(device))
		fatalx("WAPROC_DEVICE is not a device hash");
	log_set_context(device);
	dir = env_required("WAPROC_DIR");
	endpoint = env_required("WAPROC_ENDPOINT");
	snprintf(token, sizeof(token), "%s", env_required("WAPROC_TOKEN"));
	/* The token is for devmgr only: out of our environment at once. */
	sodium_memzero(getenv("WAPROC_TOKEN"), strlen(getenv("WAPROC_TOKEN")));
	unsetenv("WAPROC_TOKEN");

	if (pipe2(sigpipe_fd, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	if ((store = store_open(dir)) == NULL)
		fatalx("cannot open the device store in %s", dir);
	wsclient_set_hold(turn_dirty, store);

	if ((zctx = zmq_ctx_new()) == NULL)
		fatal("zmq_ctx_new");
	zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, 8);
	ctl = ctl_new(zctx, endpoint, device,
	    config_get_int("HEARTBEAT_INTERVAL_MS"),
	    config_get_int("HEARTBEAT_TIMEOUT_MS"));
	if (ctl_hello(ctl, token, WAPROC_VERSION) == -1)
		log_warnx("HELLO not sent yet; devmgr will retry us");
	sodium_memzero(token, sizeof(token));

	conn_cfg_default(&cfg);
	memset(&out, 0, sizeof(out));
	g.ctl = ctl;
	out.arg = &g;
	out.status = out_status;
	out.event = out_event;
	out.reply = out_reply;
	g.sess = session_new(store, &cfg, &out, device);
	if ((media = media_new(config_get("WA_CA_FILE"))) == NULL)
		fatalx("cannot set up media transfers");
	session_set_media(g.sess, media);
	/* Message webhooks: the queue in store.db, resumed where it was. */
	if (msghook_set_target(getenv("WEBHOOK_URL"),
	    getenv("WEBHOOK_SECRET")) != 0)
		log_warnx("WEBHOOK_URL unusable: message webhooks are off");
	if (getenv("WEBHOOK_SECRET") != NULL) {
		sodium_memzero(getenv("WEBHOOK_SECRET"),
		    strlen(getenv("WEBHOOK_SECRET")));
		unsetenv("WEBHOOK_SECRET");
	}
	if (msghook_init(store, NULL) != 0)
		fatalx("cannot start the message webhook queue");
	/* Paired: connect now, in parallel with the HELLO. */
	session_begin(g.sess);

	while (!stop && !got_term) {
		wait = ctl_tick(ctl, ipc_mono_ms());
		if (wait < 0) {
			log_warnx("devmgr silent for too long; exiting");
			rc = 1;
			break;
		}
		t = session_timeout_ms(g.sess);
		if (t >= 0 && t < wait)
			wait = t;
		ht = msghook_timeout_ms();
		if (ht >= 0 && ht < wait)
			wait = ht;
		mt = media_timeout_ms(media);
		if (mt >= 0 && mt < wait)
			wait = mt;
		memset(items, 0, sizeof(items));
		items[0].socket = ctl_socket(ctl);
		items[0].events = ZMQ_POLLIN;
		items[1].fd = sigpipe_fd[0];
		items[1].events = ZMQ_POLLIN;
		n = session_pollfds(g.sess, pfd, CONN_POLLFDS_MAX);
		for (i = 0; i < n; i++) {
			items[2 + i].fd = pfd[i].fd;
			items[2 + i].events = (short)((pfd[i].events & POLLIN ?
			    ZMQ_POLLIN : 0) | (pfd[i].events & POLLOUT ?
			    ZMQ_POLLOUT : 0));
		}
		nh = msghook_pollfds(items + 2 + n, sizeof(items) /
		    sizeof(items[0]) - 2 - (size_t)n);
		nm = media_pollfds(media, items + 2 + n + nh, sizeof(items) /
		    sizeof(items[0]) - 2 - (size_t)n - nh);
		if (zmq_poll(items, 2 + n + (int)(nh + nm), wait) == -1) {
			if (errno == EINTR)
				continue;
			fatalx("zmq_poll: %s", zmq_strerror(errno));
		}
		if (items[1].revents & ZMQ_POLLIN)
			while (read(sigpipe_fd[0], buf, sizeof(buf)) > 0)
				;
		/*
		 * Two turns (store.h): what each writes commits once, and
		 * only then do its replies, events and WebSocket frames go
		 * out.  First the API calls and the sends they queue: an
		 * accepted message is committed with its encryption and sent
		 * in one transaction.  Then the WebSocket: queued frames are
		 * written, incoming stanzas stored, their acks held until
		 * that commit.  Calls go first: a burst of incoming stanzas
		 * could hold the answers back for a long while.
		 */
		store_turn_begin(store);
		ctl_hold(ctl);
		if (items[0].revents & ZMQ_POLLIN)
			stop = ctl_dispatch(ctl, on_call, &g);
		session_jobs(g.sess);
		turn_commit(store, ctl);
		ctl_hold(ctl);
		session_service(g.sess);
		turn_commit(store, ctl);
		store_turn_end(store);
		msghook_service(items + 2 + n, nh);
		media_service(media, items + 2 + n + nh, nm);
		if (!announced && ctl_ready(ctl)) {
			session_announce(g.sess);
			announced = 1;
		}
		/* Paired: WAL checkpoints move to their own thread, so no
		 * commit (an API accept) waits for the disk; started here,
		 * between calls, not in one. */
		if (!ckpt && session_registered(g.sess)) {
			ckpt = 1;
			if (store_checkpointer_start(store) == -1)
				log_warnx("checkpoints stay in the commits");
		}
	}
	session_stop(g.sess);
	session_free(g.sess);
	media_free(media);
	msghook_cleanup();
	ctl_free(ctl);
	zmq_ctx_term(zctx);
	store_close(store);
	(void)argc;
	(void)argv;
	return rc;
}
