/*
 * hops.c - what one message hop between two processes costs on this
 * machine: a parent and a forked child bounce a 200-byte message N times
 * and each reports the CPU it used (getrusage: user + system) per round
 * trip, with the wall time.  Two transports: ZeroMQ DEALER <-> DEALER over
 * ipc:// (what every hop between fcgi-app, devmgr and waproc is: each side's
 * I/O thread joins in) and a plain AF_UNIX stream socketpair (the floor of
 * any hop: one write, one wake-up, one read).  Used by bench/hops.sh, which
 * runs it with both processes on one CPU and on two.  Asserts nothing.
 *
 *   hops zmq|unix N
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#define MSG_LEN	200

static double
cpu_of(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	    ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
report(const char *what, long n, double wall, double parent, double child)
{
	printf("%-28s %7.1f us wall per round trip; CPU per round trip: "
	    "%6.1f us (%.1f + %.1f)\n", what, wall / n * 1e6,
	    (parent + child) / n * 1e6, parent / n * 1e6, child / n * 1e6);
}

static int
run_zmq(long n, const char *ep)
{
	char buf[MSG_LEN + 56];
	double t0, c0, t1, c1;
	void *ctx, *s;
	pid_t pid;
	long i;
	int rc;

	memset(buf, 'x', sizeof(buf));
	if ((pid = fork()) == -1)
		return 1;
	if (pid == 0) {
		ctx = zmq_ctx_new();
		s = zmq_socket(ctx, ZMQ_DEALER);
		if (zmq_connect(s, ep) == -1)
			_exit(1);
		for (i = 0; i < n; i++) {
			if ((rc = zmq_recv(s, buf, sizeof(buf), 0)) < 0)
				_exit(1);
			zmq_send(s, buf, (size_t)rc, 0);
		}
		zmq_close(s);
		zmq_ctx_term(ctx);
		_exit(0);
	}
	ctx = zmq_ctx_new();
	s = zmq_socket(ctx, ZMQ_DEALER);
	if (zmq_bind(s, ep) == -1) {
		perror("zmq_bind");
		return 1;
	}
	/* one round trip first: the child has connected */
	zmq_send(s, buf, MSG_LEN, 0);
	zmq_recv(s, buf, sizeof(buf), 0);
	t0 = now_s();
	c0 = cpu_of(RUSAGE_SELF);
	for (i = 1; i < n; i++) {
		zmq_send(s, buf, MSG_LEN, 0);
		if (zmq_recv(s, buf, sizeof(buf), 0) < 0)
			return 1;
	}
	t1 = now_s();
	c1 = cpu_of(RUSAGE_SELF);
	waitpid(pid, NULL, 0);
	/* the child's whole life, its connect included: n round trips */
	report("ZeroMQ DEALER ipc://", n - 1, t1 - t0, c1 - c0,
	    cpu_of(RUSAGE_CHILDREN) * (double)(n - 1) / (double)n);
	zmq_close(s);
	zmq_ctx_term(ctx);
	return 0;
}

static int
run_unix(long n)
{
	char buf[MSG_LEN];
	struct pollfd pfd;
	double t0, c0, t1, c1;
	int sv[2];
	pid_t pid;
	ssize_t r;
	long i;

	memset(buf, 'x', sizeof(buf));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 1;
	if ((pid = fork()) == -1)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		for (i = 0; i < n; i++) {
			pfd.fd = sv[1];
			pfd.events = POLLIN;
			poll(&pfd, 1, -1);	/* as an event loop would */
			if ((r = read(sv[1], buf, sizeof(buf))) <= 0 ||
			    write(sv[1], buf, (size_t)r) != r)
				_exit(1);
		}
		_exit(0);
	}
	close(sv[1]);
	t0 = now_s();
	c0 = cpu_of(RUSAGE_SELF);
	for (i = 0; i < n; i++) {
		if (write(sv[0], buf, MSG_LEN) != MSG_LEN)
			return 1;
		pfd.fd = sv[0];
		pfd.events = POLLIN;
		poll(&pfd, 1, -1);
		if (read(sv[0], buf, sizeof(buf)) <= 0)
			return 1;
	}
	t1 = now_s();
	c1 = cpu_of(RUSAGE_SELF);
	waitpid(pid, NULL, 0);
	report("AF_UNIX socketpair", n, t1 - t0, c1 - c0,
	    cpu_of(RUSAGE_CHILDREN));
	return 0;
}

int
main(int argc, char **argv)
{
	long n;

	if (argc < 3 || (n = strtol(argv[2], NULL, 10)) < 2) {
		fprintf(stderr, "usage: hops zmq|unix N [ipc-endpoint]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "zmq") == 0)
		return run_zmq(n, argc > 3 ? argv[3] : "ipc:///tmp/hops.sock");
	if (strcmp(argv[1], "unix") == 0)
		return run_unix(n);
	fprintf(stderr, "hops: zmq or unix\n");
	return 2;
}
