/*
 * devmgr.c - the gateway's one long-lived daemon: set-up (config, state
 * directories, single-instance lock, registry, default admin, JWT secret,
 * sockets, signals) and the poll loop that drives every module: control
 * requests, worker messages, SIGCHLD, timers and webhook transfers.
 * Nothing in the loop sleeps; each module says how long it can wait.
 *
 *	devmgr [-dn] [-f config]
 *	  -d  stay in the foreground, log to stderr (debug)
 *	  -n  print the effective config and exit
 * Without -d it detaches and logs to $VAR_DIR/devmgr.log.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "devmgr.h"
#include "log.h"
#include "xmalloc.h"

#define POLL_MAX	48
#define BATCH		256	/* messages per socket per loop turn */

static volatile sig_atomic_t got_chld, got_term;
static int sigpipe_fd[2] = { -1, -1 };

static void
sig_handler(int sig)
{
	int save = errno;
	char c = 0;

	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
	if (write(sigpipe_fd[1], &c, 1) == -1) {
		/* pipe full: a wake-up is already pending */
	}
	errno = save;
}

static void
setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe_fd, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
}

/* mkdir -p (mode 0700 under umask 077), then make the path absolute in
 * the config. */
static void
make_dir(const char *key, const char *path)
{
	char real[PATH_MAX], tmp[PATH_MAX], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		fatalx("%s: path too long", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
			fatal("mkdir %s", tmp);
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (realpath(path, real) == NULL)
		fatal("%s", path);
	if (chmod(real, 0700) == -1)
		log_warn("chmod %s", real);
	if (key != NULL)
		config_set(key, real);
}

static void
write_pid(int fd)
{
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("devmgr.pid");
}

static int
lock_instance(void)
{
	char path[PATH_MAX];
	int fd;

	config_path(path, sizeof(path), "VAR_DIR", "devmgr.pid");
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600))
	    == -1)
		fatal("%s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			fatalx("another devmgr is running on %s",
			    config_get("VAR_DIR"));
		fatal("flock %s", path);
	}
	write_pid(fd);
	return fd;
}

static void
find_waproc(void)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (*config_get("WAPROC_PATH") != '\0') {
		snprintf(dm.waproc_path, sizeof(dm.waproc_path), "%s",
		    config_get("WAPROC_PATH"));
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		fatal("readlink /proc/self/exe");
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	snprintf(dm.waproc_path, sizeof(dm.waproc_path), "%s/waproc", self);
}

static void
default_admin(void)
{
	const char *name = config_get("DEFAULT_ADMIN_USER");
	const char *pw = config_get("DEFAULT_ADMIN_PASS");
	char hash[AUTH_HASH_MAX];
	struct reg_user u;

	if (registry_user_count(dm.reg, NULL) == 0) {
		if (!auth_valid_username(name))
			fatalx("DEFAULT_ADMIN_USER %s is not a valid name", name);
		if (auth_hash_password(pw, hash) == -1)
			fatalx("cannot hash the default admin password");
		if (registry_user_add(dm.reg, name, "admin", hash) != 0)
			fatalx("cannot create the default admin");
		sodium_memzero(hash, sizeof(hash));
		log_info("created admin user %s", name);
	}
	if (registry_user_get(dm.reg, name, &u) == 0 &&
	    auth_check_password(u.password_hash, "admin") == 1) {
		log_warnx("**********************************************");
		log_warnx("* admin user %s still has the password "
		    "\"admin\": change it now (wactl users passwd %s)", name,
		    name);
		log_warnx("**********************************************");
	}
	sodium_memzero(&u, sizeof(u));
}

static void *
bind_socket(int type, const char *which, char *ep, size_t eplen)
{
	void *s;
	int zero = 0, one = 1, hwm = 100000;

	config_endpoint(ep, eplen, which);
	if ((s = zmq_socket(dm.zctx, type)) == NULL)
		fatal("zmq_socket");
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	if (type == ZMQ_ROUTER) {
		zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
		if (strcmp(which, "workers") == 0)
			zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one,
			    sizeof(one));
	}
	if (zmq_bind(s, ep) == -1)
		fatalx("bind %s: %s", ep, zmq_strerror(errno));
	if (strncmp(ep, "ipc://", 6) == 0 && chmod(ep + 6, 0600) == -1)
		log_warn("chmod %s", ep + 6);
	return s;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
drain_socket(void *s, void (*fn)(void))
{
	int ev, n;
	size_t sz;

	for (n = 0; n < BATCH; n++) {
		sz = sizeof(ev);
		if (zmq_getsockopt(s, ZMQ_EVENTS, &ev, &sz) == -1 ||
		    !(ev & ZMQ_POLLIN))
			return;
		fn();
	}
}

static void
loop(void)
{
	zmq_pollitem_t items[POLL_MAX];
	size_t n, nwh;
	int timeout, t;
	char buf[64];

	while (!got_term) {
		if (got_chld) {
			got_chld = 0;
			worker_reap();
		}
		timeout = worker_tick(ipc_mono_ms());
		t = webhook_tick(ipc_now_ms());
		if (t < timeout)
			timeout = t;
		memset(items, 0, sizeof(items));
		items[0].socket = dm.control;
		items[0].events = ZMQ_POLLIN;
		items[1].socket = dm.workers;
		items[1].events = ZMQ_POLLIN;
		items[2].fd = sigpipe_fd[0];
		items[2].events = ZMQ_POLLIN;
		n = 3;
		nwh = webhook_pollfds(&items[n], POLL_MAX - n);
		if (zmq_poll(items, (int)(n + nwh), timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatalx("zmq_poll: %s", zmq_strerror(errno));
		}
		if (items[2].revents & ZMQ_POLLIN)
			while (read(sigpipe_fd[0], buf, sizeof(buf)) > 0)
				;
		if (got_chld) {
			got_chld = 0;
			worker_reap();
		}
		if (items[1].revents & ZMQ_POLLIN)
			drain_socket(dm.workers, worker_recv);
		if (items[0].revents & ZMQ_POLLIN)
			drain_socket(dm.control, control_recv);
		webhook_poll_done(&items[n], nwh);
	}
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: devmgr [-dn] [-f config]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *file = NULL;
	char path[PATH_MAX], ep[PATH_MAX + 16];
	uint8_t secret[AUTH_SECRET_MAX];
	size_t slen;
	int ch, printonly = 0, foreground = 0, lockfd, logfd;

	log_init("devmgr", LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "df:n")) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			printonly = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (config_load(file) == -1 && file != NULL)
		fatalx("cannot read %s", file);
	if (printonly) {
		config_print(stdout);
		return 0;
	}
	if (sodium_init() < 0)
		fatalx("sodium_init");

	umask(077);
	make_dir("VAR_DIR", config_get("VAR_DIR"));
	if (*config_get("RUN_DIR") != '\0')
		make_dir("RUN_DIR", config_get("RUN_DIR"));
	else {
		config_path(path, sizeof(path), "RUN_DIR", NULL);
		make_dir(NULL, path);
	}
	config_path(dm.devices_dir, sizeof(dm.devices_dir), "VAR_DIR",
	    "devices");
	make_dir(NULL, dm.devices_dir);
	/* The lock is taken before detaching, so that a second devmgr fails
	 * where it was started; flock survives the fork of daemon(). */
	lockfd = lock_instance();
	if (!foreground) {
		config_path(path, sizeof(path), "VAR_DIR", "devmgr.log");
		if ((logfd = open(path, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
			fatal("%s", path);
		if (daemon(1, 0) == -1)
			fatal("daemon");
		dup2(logfd, 1);
		dup2(logfd, 2);
		close(logfd);
		write_pid(lockfd);
	}
	raise_nofile();
	find_waproc();
	if (access(dm.waproc_path, X_OK) == -1)
		log_warn("waproc %s", dm.waproc_path);

	config_path(path, sizeof(path), "VAR_DIR", "registry.db");
	if ((dm.reg = registry_open(path)) == NULL)
		fatalx("cannot open the registry %s", path);
	default_admin();
	if (auth_secret_load(secret, sizeof(secret), &slen) == -1)
		fatalx("cannot load or create the JWT secret");
	sodium_memzero(secret, sizeof(secret));
	dm.rl = ratelimit_new(65536);
	dm.start_mono = ipc_mono_ms();
	dm.start_real = ipc_now_ms();

	setup_signals();
	if ((dm.zctx = zmq_ctx_new()) == NULL)
		fatal("zmq_ctx_new");
	zmq_ctx_set(dm.zctx, ZMQ_MAX_SOCKETS, 64);
	dm.control = bind_socket(ZMQ_ROUTER, "control", ep, sizeof(ep));
	dm.workers = bind_socket(ZMQ_ROUTER, "workers", dm.workers_ep,
	    sizeof(dm.workers_ep));
	dm.events = bind_socket(ZMQ_PUB, "events", ep, sizeof(ep));
	if (webhook_init() == -1)
		fatalx("libcurl initialisation failed");
	control_users_reload();
	worker_init();
	worker_restore();
	log_info("devmgr %s ready: %s, waproc %s, max %zu processes",
	    DEVMGR_VERSION, config_get("VAR_DIR"), dm.waproc_path,
	    worker_max());

	loop();

	log_info("shutting down");
	worker_shutdown();
	webhook_cleanup();
	control_cleanup();
	zmq_close(dm.control);
	zmq_close(dm.workers);
	zmq_close(dm.events);
	dm.events = NULL;
	zmq_ctx_term(dm.zctx);
	registry_close(dm.reg);
	ratelimit_free(dm.rl);
	config_path(path, sizeof(path), "VAR_DIR", "devmgr.pid");
	unlink(path);
	close(lockfd);
	log_info("stopped");
	return 0;
}
