/*
 * relay-pub.c - a stand-in for devmgr's event side, for wsrelay's benchmark
 * and tests: binds the PUB socket (events.sock) and the control ROUTER
 * (control.sock) under $RUN_DIR, answers DEVICE_INFO from a small device
 * table, and publishes Events.  Not product code; built by bench/relay.sh
 * and by tests/system/test_wsrelay.mjs:
 *   cc -O2 -Ibuild/gen -Icommon bench/relay-pub.c build/lib/libcommon.a \
 *      $(pkg-config --cflags --libs libzmq libprotobuf-c libsodium json-c)
 *
 * Script mode (default): one command per stdin line:
 *   dev HASH OWNER            add a device (DEVICE_INFO answers 200 for the
 *                             owner and for admins, 404 otherwise)
 *   pub HASH OWNER TYPE JSON  publish one event (JSON may contain spaces)
 *   raw TOPIC BYTES           publish a malformed message (2 frames)
 *   sleep MS
 * After each line it prints "ok" on stdout (so a driver can wait for it).
 * Rate mode: -r EVENTS_PER_S -n COUNT [-d DEVICES] [-o OWNER] [-s PADBYTES]
 *   waits for a line on stdin ("go"), then publishes COUNT events
 *   round-robin over DEVICES devices, each with
 *   {"seq":n,"sent_ns":<CLOCK_MONOTONIC ns>,"pad":"…"} for latency figures.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "config.h"
#include "ipc.h"
#include "log.h"

#define MAXDEV	4096

static struct {
	char	hash[17];
	char	owner[65];
} devs[MAXDEV];
static int ndevs;
static void *pub, *router;
static unsigned long evseq;

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
publish(const char *hash, const char *owner, const char *type,
    const char *json)
{
	Ipc__Event ev = IPC__EVENT__INIT;
	char topic[64], id[64];
	uint8_t *buf;
	size_t len;

	snprintf(topic, sizeof(topic), "ev.%s", hash);
	snprintf(id, sizeof(id), "bench-%lu", ++evseq);
	ev.device = (char *)hash;
	ev.owner = (char *)owner;
	ev.type = (char *)type;
	ev.ts_ms = (int64_t)ipc_now_ms();
	ev.id = id;
	ev.json.data = (uint8_t *)json;
	ev.json.len = strlen(json);
	len = ipc__event__get_packed_size(&ev);
	buf = malloc(len ? len : 1);
	ipc__event__pack(&ev, buf);
	zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
	zmq_send(pub, buf, len, 0);
	free(buf);
}

static void
answer_control(void)
{
	struct ipc_msg m;
	struct ipc_hdr h;
	Ipc__Request *req;
	Ipc__Reply *rep;
	int i, status = 404;

	while (ipc_recv(router, 1, &m, 0) == 0) {
		if ((req = ipc_request_unpack(&m)) == NULL) {
			ipc_msg_clear(&m);
			continue;
		}
		if (m.hdr.type == IPC_DEVICE_INFO && req->who != NULL)
			for (i = 0; i < ndevs; i++)
				if (strcmp(devs[i].hash, req->device) == 0 &&
				    (strcmp(req->who->role, "admin") == 0 ||
				    strcmp(devs[i].owner, req->who->user) == 0))
					status = 200;
		rep = status == 200 ?
		    ipc_reply_new(200, "SUCCESS", "ok", "{}") :
		    ipc_reply_new(404, "DEVICE_NOT_FOUND", "not found", "");
		h = m.hdr;
		h.flags |= IPC_F_REPLY;
		ipc_send(router, m.id, m.idlen, &h, (ProtobufCMessage *)rep);
		ipc_reply_free(rep);
		ipc__request__free_unpacked(req, NULL);
		ipc_msg_clear(&m);
		status = 404;
	}
}

static void
script_line(char *line)
{
	char a[65], b[65], c[65];
	int off = 0;

	line[strcspn(line, "\r\n")] = '\0';
	if (sscanf(line, "dev %16s %64s", a, b) == 2 && ndevs < MAXDEV) {
		snprintf(devs[ndevs].hash, sizeof(devs[ndevs].hash), "%.16s", a);
		snprintf(devs[ndevs].owner, sizeof(devs[ndevs].owner), "%s", b);
		ndevs++;
	} else if (sscanf(line, "pub %64s %64s %64s %n", a, b, c, &off) == 3 &&
	    off > 0)
		publish(a, b, c, line + off);
	else if (sscanf(line, "raw %64s %n", a, &off) == 1 && off > 0) {
		zmq_send(pub, a, strlen(a), ZMQ_SNDMORE);
		zmq_send(pub, line + off, strlen(line + off), 0);
	} else if (sscanf(line, "sleep %64s", a) == 1)
		usleep((useconds_t)strtol(a, NULL, 10) * 1000);
	printf("ok\n");
	fflush(stdout);
}

static void
rate_mode(long rate, long count, int ndev, const char *owner, long pad)
{
	char json[70000], hash[17], *padstr;
	int64_t start = mono_ns(), due;
	long i;

	padstr = calloc(1, (size_t)pad + 1);
	memset(padstr, 'x', (size_t)pad);
	for (i = 0; i < count; i++) {
		due = start + (int64_t)(i * (1000000000.0 / (double)rate));
		while (mono_ns() < due) {
			answer_control();
			int64_t left = due - mono_ns();
			if (left > 200000)
				usleep((useconds_t)((left - 100000) / 1000));
		}
		snprintf(hash, sizeof(hash), "%016x", (unsigned)(i % ndev) + 1);
		snprintf(json, sizeof(json), "{\"seq\":%ld,\"sent_ns\":%lld,"
		    "\"pad\":\"%s\"}", i, (long long)mono_ns(), padstr);
		publish(hash, owner, "message", json);
	}
	free(padstr);
}

int
main(int argc, char *argv[])
{
	char ep[PATH_MAX + 16], line[70000];
	struct pollfd pfd[2];
	size_t sz = sizeof(int);
	long rate = 0, count = 0, pad = 0;
	int ch, ndev = 1, zfd, hwm = 1000000;
	const char *owner = "bench";

	log_init("relay-pub", LOG_LVL_WARN);
	while ((ch = getopt(argc, argv, "r:n:d:o:s:")) != -1) {
		switch (ch) {
		case 'r': rate = strtol(optarg, NULL, 10); break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'd': ndev = (int)strtol(optarg, NULL, 10); break;
		case 'o': owner = optarg; break;
		case 's': pad = strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: relay-pub [-r rate -n count "
			    "[-d devices] [-o owner] [-s pad]]\n");
			return 2;
		}
	}
	if (ndev < 1)
		ndev = 1;
	if (pad < 0 || pad > 65000)
		pad = 0;
	config_load(NULL);
	setvbuf(stdin, NULL, _IONBF, 0);
	void *z = zmq_ctx_new();
	pub = zmq_socket(z, ZMQ_PUB);
	zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	router = zmq_socket(z, ZMQ_ROUTER);
	config_endpoint(ep, sizeof(ep), "events");
	if (zmq_bind(pub, ep) == -1)
		fatal("bind %s", ep);
	config_endpoint(ep, sizeof(ep), "control");
	if (zmq_bind(router, ep) == -1)
		fatal("bind %s", ep);
	printf("ready\n");
	fflush(stdout);

	if (rate > 0) {
		/* Start on a "go" line (or EOF): the driver connects first. */
		if (fgets(line, sizeof(line), stdin) == NULL)
			usleep(300000);
		rate_mode(rate, count, ndev, owner, pad);
		usleep(200000);
		printf("done %ld\n", count);
		fflush(stdout);
		zmq_close(pub);
		zmq_close(router);
		zmq_ctx_term(z);
		return 0;
	}
	zmq_getsockopt(router, ZMQ_FD, &zfd, &sz);
	for (;;) {
		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[1].fd = zfd;
		pfd[1].events = POLLIN;
		answer_control();
		if (poll(pfd, 2, 50) == -1 && errno != EINTR)
			break;
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			if (fgets(line, sizeof(line), stdin) == NULL)
				break;
			script_line(line);
		}
	}
	zmq_close(pub);
	zmq_close(router);
	zmq_ctx_term(z);
	return 0;
}
