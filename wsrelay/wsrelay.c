/*
 * wsrelay.c - main of the live-event relay: reads the configuration, loads
 * the JWT secret, and runs the server (server.c) on 127.0.0.1:WSRELAY_PORT
 * until SIGTERM/SIGINT.  The web server proxies /ws and /socket.io/ here
 * with the Upgrade headers; nothing else reaches this process.
 *   wsrelay [-d] [-n] [-f config]
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "server.h"

#define PING_INTERVAL_MS	25000
#define PING_TIMEOUT_MS		20000

static void
usage(void)
{
	fprintf(stderr, "usage: wsrelay [-dn] [-f config]\n"
	    "  -f file  config file (KEY=VALUE), environment wins\n"
	    "  -n       print the effective configuration and exit\n"
	    "  -d       debug logging\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	server_stop();
}

int
main(int argc, char *argv[])
{
	struct server_conf sc;
	struct sigaction sa;
	char events[PATH_MAX + 16], control[PATH_MAX + 16];
	uint8_t key[AUTH_SECRET_MAX];
	size_t keylen = 0;
	const char *file = NULL;
	long port, qmax, tmo;
	int ch, debug = 0, print = 0, rc;

	log_init("wsrelay", LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "df:n")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			file = optarg;
			break;
		case 'n':
			print = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (config_load(file) == -1)
		fatalx("cannot read config %s", file ? file : "");
	if (debug)
		log_set_level(LOG_LVL_DEBUG);
	if (print) {
		config_print(stdout);
		return 0;
	}
	if (sodium_init() < 0)
		fatalx("sodium_init");

	port = config_get_int("WSRELAY_PORT");
	if (port < 1 || port > 65535)
		fatalx("WSRELAY_PORT %ld out of range", port);
	qmax = config_get_int("WSRELAY_QUEUE_MAX");
	if (qmax < 1 || qmax > 1000000)
		fatalx("WSRELAY_QUEUE_MAX %ld out of range (1..1000000)", qmax);
	tmo = config_get_int("IPC_TIMEOUT_MS");
	if (tmo < 50 || tmo > 60000)
		tmo = 2000;
	if (auth_secret_load(key, sizeof(key), &keylen) == -1)
		fatalx("cannot load the JWT secret");
	config_endpoint(events, sizeof(events), "events");
	config_endpoint(control, sizeof(control), "control");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	memset(&sc, 0, sizeof(sc));
	sc.iface = "127.0.0.1";
	sc.port = (int)port;
	sc.queue_max = (size_t)qmax;
	sc.events_ep = events;
	sc.control_ep = control;
	sc.key = key;
	sc.keylen = keylen;
	sc.issuer = config_get("JWT_ISSUER");
	sc.ipc_timeout_ms = (int)tmo;
	sc.ping_interval_ms = PING_INTERVAL_MS;
	sc.ping_timeout_ms = PING_TIMEOUT_MS;
	rc = server_run(&sc);
	sodium_memzero(key, sizeof(key));
	if (rc == 0)
		log_info("stopped");
	return rc == 0 ? 0 : 1;
}
