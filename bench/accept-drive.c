/*
 * accept-drive.c - the waproc half of an accepted send, alone: msgr_call
 * of POST /send/message exactly as session.c makes it (JSON body, the
 * device call's route), into a fresh store.db, with a connection that is
 * never started (so nothing is sent: the accept is all that runs).  Prints
 * accepts/s and CPU microseconds per accept.  Used by bench/accept.sh.
 *
 *   accept-drive -d DIR [-n N] [-i]     -i: each with an Idempotency-Key
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sodium.h>

#include "conn.h"
#include "creds.h"
#include "log.h"
#include "msgr.h"
#include "store.h"

static long	replies, ok;

static void
on_reply(void *arg, uint32_t reqid, int status, const char *code,
    const char *message, const char *json)
{
	replies++;
	if (status == 200)
		ok++;
}

static void
on_event(void *arg, const char *type, const char *json)
{
}

static void
on_creds(void *arg)
{
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct creds creds;
	struct conn_cfg cfg;
	struct msgr_out out;
	struct store *st;
	struct conn *c;
	struct msgr *m;
	const char *dir = NULL;
	char body[256], key[64];
	double t0, c0, t1, c1;
	long n = 20000, i;
	int ch, idem = 0;

	while ((ch = getopt(argc, argv, "d:n:i")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 'i':
			idem = 1;
			break;
		default:
			return 2;
		}
	}
	if (dir == NULL || n <= 0 || sodium_init() < 0)
		return 2;
	log_init("accept-drive", LOG_LVL_ERROR);
	if ((st = store_open(dir)) == NULL)
		return 1;
	creds_generate(&creds);
	snprintf(creds.jid, sizeof(creds.jid), "15550009999:1@s.whatsapp.net");
	conn_cfg_default(&cfg);
	snprintf(cfg.url, sizeof(cfg.url), "ws://127.0.0.1:9/ws/chat");
	c = conn_new(&cfg, &creds, NULL);
	memset(&out, 0, sizeof(out));
	out.reply = on_reply;
	out.event = on_event;
	out.creds_changed = on_creds;
	m = msgr_new(st, &creds, "0123456789abcdef", &out);
	msgr_set_conn(m, c);

	t0 = now_s();
	c0 = cpu_s();
	for (i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"phone\":\"155500%05ld\","
		    "\"message\":\"bench message %ld: the quick brown fox\"}",
		    i % 100, i);
		snprintf(key, sizeof(key), "bench-%ld", i);
		msgr_call(m, (uint32_t)i, "POST", "/send/message", NULL, 0, body,
		    strlen(body), idem ? key : NULL);
		msgr_service(m);
	}
	t1 = now_s();
	c1 = cpu_s();
	printf("accepts=%ld ok=%ld wall_s=%.3f per_s=%.0f cpu_us_per_accept=%.1f\n",
	    n, ok, t1 - t0, (double)n / (t1 - t0), (c1 - c0) * 1e6 / (double)n);
	msgr_free(m);
	conn_free(c);
	store_close(st);
	return ok == n ? 0 : 1;
}
