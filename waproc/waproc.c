/*
 * waproc.c - one device's process: reads its environment (WAPROC_*, set
 * by devmgr), opens its store, says HELLO to devmgr with the one-time
 * token, and runs one single-threaded loop.  Stage 1: no WhatsApp
 * connection yet, so it reports "disconnected", answers /app/status
 * truthfully and every other device call with GOWA's 401 "not logged in"
 * (never a fake success).  Stops cleanly on SHUTDOWN or SIGTERM, and on
 * its own when devmgr has been silent for 3 x HEARTBEAT_TIMEOUT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "config.h"
#include "ctl.h"
#include "ipc.h"
#include "log.h"
#include "store.h"
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

/* Does path (below /api, maybe with a query) name route? */
static int
path_is(const char *path, const char *route)
{
	size_t n = strlen(route);

	if (path == NULL || strncmp(path, route, n) != 0)
		return 0;
	return path[n] == '\0' || path[n] == '?' || (path[n] == '/' &&
	    path[n + 1] == '\0');
}

/* Device calls at stage 1: nothing is logged in yet. */
static void
on_call(struct ctl *c, uint32_t reqid, const Ipc__Request *req, void *arg)
{
	if (path_is(req->path, "/app/status")) {
		ctl_reply(c, reqid, 200, "SUCCESS",
		    "Connection status retrieved",
		    "{\"code\":\"SUCCESS\",\"message\":\"Connection status "
		    "retrieved\",\"results\":{\"is_connected\":false,"
		    "\"is_logged_in\":false,\"device_id\":\"\"}}");
		return;
	}
	ctl_reply(c, reqid, 401, "AUTHENTICATION_ERROR",
	    "you are not logged in",
	    "{\"code\":\"AUTHENTICATION_ERROR\",\"message\":"
	    "\"you are not logged in\"}");
}

int
main(int argc, char *argv[])
{
	const char *device, *dir, *endpoint;
	char token[129];
	struct store *store;
	struct ctl *ctl;
	struct sigaction sa;
	zmq_pollitem_t items[2];
	void *zctx;
	long wait;
	int stop = 0, announced = 0, rc = 0;
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

	if ((zctx = zmq_ctx_new()) == NULL)
		fatal("zmq_ctx_new");
	zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, 8);
	ctl = ctl_new(zctx, endpoint, device,
	    config_get_int("HEARTBEAT_INTERVAL_MS"),
	    config_get_int("HEARTBEAT_TIMEOUT_MS"));
	if (ctl_hello(ctl, token, WAPROC_VERSION) == -1)
		log_warnx("HELLO not sent yet; devmgr will retry us");
	sodium_memzero(token, sizeof(token));

	while (!stop && !got_term) {
		wait = ctl_tick(ctl, ipc_mono_ms());
		if (wait < 0) {
			log_warnx("devmgr silent for too long; exiting");
			rc = 1;
			break;
		}
		memset(items, 0, sizeof(items));
		items[0].socket = ctl_socket(ctl);
		items[0].events = ZMQ_POLLIN;
		items[1].fd = sigpipe_fd[0];
		items[1].events = ZMQ_POLLIN;
		if (zmq_poll(items, 2, wait) == -1) {
			if (errno == EINTR)
				continue;
			fatalx("zmq_poll: %s", zmq_strerror(errno));
		}
		if (items[1].revents & ZMQ_POLLIN)
			while (read(sigpipe_fd[0], buf, sizeof(buf)) > 0)
				;
		if (items[0].revents & ZMQ_POLLIN)
			stop = ctl_dispatch(ctl, on_call, store);
		if (!announced && ctl_ready(ctl)) {
			/* Up, but not logged in to WhatsApp (yet). */
			ctl_status(ctl, "disconnected", NULL, NULL,
			    "not logged in", NULL);
			announced = 1;
		}
	}
	ctl_free(ctl);
	zmq_ctx_term(zctx);
	store_close(store);
	(void)argc;
	(void)argv;
	return rc;
}
