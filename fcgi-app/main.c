/*
 * main.c - the fcgi-app program: a FastCGI responder (libfcgi
 * FCGX_Accept_r loop).  Runs either on a listening socket inherited on fd 0
 * (spawn-fcgi, lighttpd bin-path, mod_fcgid) or standalone with -s, binding
 * a unix socket (0660) or host:port itself and pre-forking -w workers,
 * restarting any that dies; SIGTERM stops them all, SIGHUP re-reads the
 * configuration and the JWT secret and replaces the workers.  Each worker
 * process owns one ZeroMQ context and runs -t request threads, each with
 * its own FastCGI request and IPC client to devmgr (main_worker).  This
 * file only moves bytes between FastCGI and app_handle; it never exits
 * because of a request.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sodium.h>

#include "config.h"
#include "fcgi.h"
#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

#define WORKERS_MAX	256
#define READ_CHUNK	65536

static _Atomic int main_stop;		/* also read by request threads */
static volatile sig_atomic_t main_reload;
static const char *main_cfg;

static void
usage(void)
{
	fprintf(stderr, "usage: fcgi-app [-n] [-f config] [-s socket|host:port]"
	    " [-w workers] [-t threads]\n"
	    "  -n  print the effective configuration and exit\n"
	    "  -f  config file (KEY=VALUE; default $GATEWAY_CONFIG)\n"
	    "  -s  bind this unix socket (0660) or host:port and pre-fork\n"
	    "  -w  workers (with -s default 4 x CPUs; without -s default 1)\n"
	    "  -t  request threads per worker (default 4, at most 64)\n"
	    "  without -s, fd 0 must be the FastCGI listening socket\n"
	    "  (spawn-fcgi, lighttpd bin-path, mod_fcgid)\n");
	exit(2);
}

static void
main_on_hup(int sig)
{
	main_reload = 1;
}

static void
main_on_term(int sig)
{
	main_stop = 1;
	FCGX_ShutdownPending();
}

static int
main_fd0_listening(void)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static int
main_bind_unix(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, probe;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatalx("%s exists and is not a socket", path);
		probe = socket(AF_UNIX, SOCK_STREAM, 0);
		if (probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0)
			fatalx("%s: another fcgi-app is listening", path);
		if (probe != -1)
			close(probe);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (listen(fd, 1024) == -1)
		fatal("listen %s", path);
	/* FastCGI workers inherit it. */
	fcntl(fd, F_SETFD, 0);
	return fd;
}

/* Read exactly n body bytes into req->body; -1 when the stream ends early. */
static int
main_read_body(FCGX_Request *fr, struct request *req, size_t n)
{
	size_t got = 0;
	int k, want;

	req->body.max = n + 1;
	if (n == 0)
		return 0;
	if (buf_reserve(&req->body, n) == -1)
		return -1;
	while (got < n) {
		want = n - got > READ_CHUNK ? READ_CHUNK : (int)(n - got);
		k = FCGX_GetStr((char *)req->body.data + got, want, fr->in);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	req->body.len = got;
	return got == n ? 0 : -1;
}

/*
 * Returns 1 when the whole request body was read (or none was expected), so
 * that the connection may be closed at once (main_worker).
 */
static int
main_one(struct app *a, FCGX_Request *fr, struct request *req,
    struct response *resp, struct buf *head)
{
	uint64_t t0 = ipc_mono_ms();
	int consumed = 0;

	if (request_begin(req, fr->envp, a->body_max, a->upload_max,
	    a->trusted, resp) == 0) {
		/* Route and credentials first: no body is read for a request
		 * that is refused anyway. */
		if (app_begin(a, req, resp) == 0) {
			if (main_read_body(fr, req, req->content_length > 0 ?
			    (size_t)req->content_length : 0) == -1)
				reply_error(resp, 0, "INCOMPLETE_BODY",
				    "Request body shorter than "
				    "Content-Length");
			else {
				consumed = 1;
				app_run(a, req, resp);
			}
		} else
			consumed = req->content_length <= 0;
		app_end(a, req, resp);
	} else {
		a->nrequests++;
		if (resp->status < 600)
			a->nstatus[resp->status]++;
	}
	reply_head(resp, head);
	FCGX_PutStr((const char *)head->data, (int)head->len, fr->out);
	if (req->method != M_HEAD && resp->body.len > 0)
		FCGX_PutStr((const char *)resp->body.data, (int)resp->body.len,
		    fr->out);
	log_debug("%s %s -> %d (%llu ms)", req->method_str ? req->method_str :
	    "?", req->path, resp->status,
	    (unsigned long long)(ipc_mono_ms() - t0));
	return consumed;
}

/*
 * A worker process runs `main_threads` threads, each with its own FastCGI
 * request, buffers and IPC client (one ZeroMQ context per process): a
 * device call waiting on WhatsApp (up to DEVICE_CALL_TIMEOUT_MS) holds one
 * thread, not a whole process.  Accepts take turns (libfcgi wants them
 * serialized).  The process's first thread only waits for SIGTERM/SIGINT:
 * then no thread accepts again, the one blocked in accept() is
 * interrupted (SIGUSR1; a thread with a request in hand blocks it, so no
 * IPC wait is ever cut short), and each finishes the request it has.
 */
#define THREADS_MAX	64

struct wthread {
	pthread_t	 th;
	struct app	 app;
	int		 listenfd;
	int		 started;
	_Atomic int	 in_accept;	/* may be blocked in accept() */
};

static pthread_mutex_t main_accept_mu = PTHREAD_MUTEX_INITIALIZER;
static int main_threads = 4;

static void
main_on_usr1(int sig)
{
	/* only interrupts a blocked accept() (no SA_RESTART) */
}

static void *
main_thread(void *arg)
{
	struct wthread *w = arg;
	struct app *a = &w->app;
	FCGX_Request fr;
	sigset_t usr1;
	struct request req;
	struct response resp;
	struct buf head;
	int rc;

	if (FCGX_InitRequest(&fr, w->listenfd, 0) != 0)
		fatalx("FCGX_InitRequest");
	request_init(&req);
	reply_init(&resp);
	buf_init(&head, 32 * 1024);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	for (;;) {
		pthread_mutex_lock(&main_accept_mu);
		if (main_stop) {
			pthread_mutex_unlock(&main_accept_mu);
			break;
		}
		w->in_accept = 1;
		pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
		rc = FCGX_Accept_r(&fr);
		/* from here on the request in hand is never interrupted (a
		 * SIGUSR1 now waits, harmless, until the next accept) */
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
		w->in_accept = 0;
		pthread_mutex_unlock(&main_accept_mu);
		if (rc < 0)
			break;
		request_reset(&req);
		reply_reset(&resp);
		/*
		 * libfcgi closes a connection by shutdown(), then reading
		 * until the web server closes its end (up to 2 s): a thread
		 * waits for the web server's turn before it can accept the
		 * next request.  That drain is only needed when input is
		 * left unread; once stdin is at its end (its closing empty
		 * record read), the connection is detached and just closed.
		 */
		if (main_one(a, &fr, &req, &resp, &head) &&
		    FCGX_GetChar(fr.in) == EOF)
			FCGX_Detach(&fr);
		FCGX_Finish_r(&fr);
	}
	FCGX_Free(&fr, 1);
	request_free(&req);
	reply_free(&resp);
	buf_free(&head);
	return NULL;
}

static void main_worker(struct app *, int, int) __attribute__((noreturn));

static void
main_worker(struct app *a, int listenfd, int index)
{
	struct wthread *w;
	struct sigaction sa;
	sigset_t stopset, all, old;
	char ep[4200];
	int i, j, sig, n = main_threads, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = main_on_usr1;	/* no SA_RESTART: accept returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* SIGTERM / SIGINT are taken by sigwait below, in this thread
	 * only; the request threads start with everything blocked */
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGTERM);
	sigaddset(&stopset, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stopset, NULL);

	a->started = (long)time(NULL);
	randombytes_buf(a->cache_key, sizeof(a->cache_key));
	app_connect(a);
	if (FCGX_Init() != 0)
		fatalx("FCGX_Init");
	config_endpoint(ep, sizeof(ep), "control");
	w = xcalloc((size_t)n, sizeof(*w));
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		w[i].listenfd = listenfd;
		/* the same settings, empty caches and counters (a has served
		 * nothing); thread 0 owns the context and a's client, the
		 * others have their own client and cache key */
		w[i].app = *a;
		w[i].app.worker = index * n + i;
		if (i > 0) {
			w[i].app.zctx = NULL;
			w[i].app.ipc = ipc_client_new(a->zctx, ep);
			randombytes_buf(w[i].app.cache_key,
			    sizeof(w[i].app.cache_key));
		}
		if ((rc = pthread_create(&w[i].th, NULL, main_thread, &w[i]))
		    != 0) {
			log_warnx("worker %d: thread %d: %s", index, i,
			    strerror(rc));
			if (i == 0)
				fatalx("no request thread");
			continue;
		}
		w[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_debug("worker %d ready (pid %ld, %d threads)", index,
	    (long)getpid(), n);
	do {
		if (sigwait(&stopset, &sig) != 0)
			sig = 0;
	} while (sig != SIGTERM && sig != SIGINT);
	main_stop = 1;
	FCGX_ShutdownPending();
	/* whoever is in accept() now (or gets there before seeing
	 * main_stop) is interrupted; the others finish their request */
	for (i = 0; i < n; i++) {
		if (!w[i].started)
			continue;
		/* again and again: a signal that came just before its
		 * accept() began did not interrupt it */
		while (pthread_tryjoin_np(w[i].th, NULL) == EBUSY) {
			for (j = 0; j < n; j++)
				if (w[j].started && w[j].in_accept)
					pthread_kill(w[j].th, SIGUSR1);
			usleep(10000);
		}
	}
	for (i = 1; i < n; i++) {
		ipc_client_free(w[i].app.ipc);
		free(w[i].app.openapi);
		sodium_memzero(&w[i].app, sizeof(w[i].app));
	}
	*a = w[0].app;
	app_free(a);	/* the context last, once every client is closed */
	free(w);
	exit(0);
}

static pid_t
main_spawn(struct app *a, int listenfd, int index)
{
	pid_t pid, master = getpid();

	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		return -1;
	case 0:
		/* A forked worker never outlives its master (kill -9). */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
			log_warn("prctl");
		if (getppid() != master)
			_exit(0);
		main_worker(a, listenfd, index);
	default:
		return pid;
	}
}

static void
main_supervise(struct app *a, int listenfd, int n)
{
	pid_t pids[WORKERS_MAX];
	time_t born[WORKERS_MAX];
	struct sigaction sa;
	int i, st, alive;
	pid_t pid;
	time_t deadline;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = main_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = main_on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	for (i = 0; i < n; i++) {
		pids[i] = main_spawn(a, listenfd, i);
		born[i] = time(NULL);
	}
	log_info("%d workers started, %d request threads each", n,
	    main_threads);
	while (!main_stop) {
		if (main_reload) {
			/* SIGHUP: config and JWT secret again, then replace
			 * the workers one by one as they finish. */
			main_reload = 0;
			if (config_load(main_cfg) == -1)
				log_warnx("reload: config unreadable, kept");
			else {
				app_init(a, 0);
				log_info("reloaded; restarting workers");
				for (i = 0; i < n; i++)
					if (pids[i] > 0) {
						kill(pids[i], SIGTERM);
						born[i] = 0;
					}
			}
		}
		pid = waitpid(-1, &st, 0);
		if (pid == -1 && errno != EINTR)
			sleep(1);
		for (i = 0; pid > 0 && i < n; i++) {
			if (pids[i] != pid)
				continue;
			if (WIFSIGNALED(st))
				log_warnx("worker %d (pid %ld) killed by signal "
				    "%d", i, (long)pid, WTERMSIG(st));
			else if (WEXITSTATUS(st) != 0)
				log_warnx("worker %d (pid %ld) exited with %d",
				    i, (long)pid, WEXITSTATUS(st));
			pids[i] = -1;
		}
		for (i = 0; i < n && !main_stop; i++) {
			if (pids[i] != -1)
				continue;
			if (time(NULL) - born[i] < 1)
				sleep(1);	/* crash loop: slow down */
			if (main_stop)
				break;
			pids[i] = main_spawn(a, listenfd, i);
			born[i] = time(NULL);
		}
	}
	log_info("stopping %d workers", n);
	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	deadline = time(NULL) + 5;
	for (;;) {
		alive = 0;
		for (i = 0; i < n; i++) {
			if (pids[i] <= 0)
				continue;
			if (waitpid(pids[i], &st, WNOHANG) == pids[i])
				pids[i] = -1;
			else
				alive++;
		}
		if (!alive)
			break;
		if (time(NULL) >= deadline) {
			for (i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGKILL);
			deadline = time(NULL) + 60;
		}
		usleep(20000);
	}
}

int
main(int argc, char **argv)
{
	const char *cfg = NULL, *sock = NULL;
	struct app app;
	long nworkers = -1, nthreads;
	int ch, print = 0, listenfd, own_socket = 0;
	char *end;

	log_init("fcgi-app", LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "f:ns:t:w:h")) != -1) {
		switch (ch) {
		case 'f':
			cfg = main_cfg = optarg;
			break;
		case 'n':
			print = 1;
			break;
		case 's':
			sock = optarg;
			break;
		case 't':
			nthreads = strtol(optarg, &end, 10);
			if (*end != '\0' || nthreads < 1 ||
			    nthreads > THREADS_MAX)
				fatalx("-t: 1..%d", THREADS_MAX);
			main_threads = (int)nthreads;
			break;
		case 'w':
			nworkers = strtol(optarg, &end, 10);
			if (*end != '\0' || nworkers < 1 ||
			    nworkers > WORKERS_MAX)
				fatalx("-w: 1..%d", WORKERS_MAX);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (config_load(cfg) == -1)
		fatalx("cannot read config %s", cfg ? cfg : "");
	if (print) {
		config_print(stdout);
		return 0;
	}
	if (sodium_init() == -1)
		fatalx("sodium_init");
	app_init(&app, 0);
	if (!app.auth_enabled)
		log_warnx("*** API_AUTH_ENABLED=false: AUTHENTICATION IS OFF "
		    "for loopback clients, who all act as admin '%s' ***",
		    app.admin_user);

	if (sock != NULL) {
		if (strchr(sock, '/') == NULL && strchr(sock, ':') != NULL) {
			if ((listenfd = FCGX_OpenSocket(sock, 1024)) == -1)
				fatalx("cannot listen on %s", sock);
		} else {
			listenfd = main_bind_unix(sock);
			own_socket = 1;
		}
		/* Workers wait on devmgr most of the time: several per CPU
		 * keep the CPUs busy (8 on 2 CPUs measured best). */
		if (nworkers == -1)
			nworkers = 4 * (sysconf(_SC_NPROCESSORS_ONLN) > 0 ?
			    sysconf(_SC_NPROCESSORS_ONLN) : 1);
		if (nworkers > 32)
			nworkers = 32;
		log_info("listening on %s", sock);
	} else {
		if (!main_fd0_listening())
			fatalx("fd 0 is not a listening socket: use -s "
			    "(or run under spawn-fcgi / lighttpd bin-path)");
		listenfd = 0;
		if (nworkers == -1)
			nworkers = 1;
	}
	if (nworkers == 1 && !own_socket)
		main_worker(&app, listenfd, 0);	/* supervised by spawner */
	main_supervise(&app, listenfd, (int)nworkers);
	if (own_socket)
		unlink(sock);
	log_info("stopped");
	return 0;
}
