/*
 * fakewa.c - main of the fake WhatsApp server (see README.md): parses
 * flags, loads or creates the state directory, builds the certificate
 * chain under the test root, listens on two loopback ports (chat
 * WebSocket, control HTTP) and runs the libwebsockets loop with a 50 ms
 * tick for server pings.  Prints one line
 *     fakewa ready ws=PORT http=PORT root=HEX
 * on stdout once it accepts connections.  Test tool only.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "fakewa.h"
#include "log.h"
#include "../../waproc/cert.h"

struct fw fw;

static lws_sorted_usec_list_t tick_sul;

static void
usage(void)
{
	fprintf(stderr, "usage: fakewa -d state-dir [-p ws-port] "
	    "[-P http-port] [-M media-port] [-r root-file] [-n refs] "
	    "[-i ping-seconds] [-K] [-S] [-t] [-v]\n");
	exit(2);
}

static long
num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		usage();
	return v;
}

static void
on_signal(int sig)
{
	fw.stop = 1;
	if (fw.ctx)
		lws_cancel_service(fw.ctx);
}

static void
tick_cb(lws_sorted_usec_list_t *sul)
{
	fw_tick();
	fw_queue_flush(0);
	lws_sul_schedule(fw.ctx, 0, &tick_sul, tick_cb, 50 * LWS_US_PER_MS);
}

static void
lws_log_bridge(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

int
main(int argc, char **argv)
{
	static struct lws_protocols ws_protocols[] = {
		{ "wa-chat", fw_ws_callback, sizeof(struct fw_conn *), 0, 0,
		    NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 }
	};
	static struct lws_protocols http_protocols[] = {
		{ "fakewa-http", fw_http_callback, 0, 0, 0, NULL, 0 },
		{ NULL, NULL, 0, 0, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	struct cert_params cp;
	const char *root_file = NULL;
	char hex[65], tls_cert[PATH_MAX + 16], tls_key[PATH_MAX + 16];
	char media_cert[PATH_MAX + 16], media_key[PATH_MAX + 16];
	int ch, ws_port = 0, http_port = 0, media_port = 0, tls = 0;
	FILE *f;

	log_init("fakewa", LOG_LVL_INFO);
	if (sodium_init() < 0)
		fatalx("sodium_init");
	fw.nrefs = 6;
	fw.ping_ms = 20000;
	while ((ch = getopt(argc, argv, "d:p:P:M:r:n:i:KStv")) != -1) {
		switch (ch) {
		case 'd':
			snprintf(fw.state_dir, sizeof(fw.state_dir), "%s",
			    optarg);
			break;
		case 'p':
			ws_port = (int)num(optarg, 0, 65535);
			break;
		case 'P':
			http_port = (int)num(optarg, 0, 65535);
			break;
		case 'M':
			media_port = (int)num(optarg, 0, 65535);
			break;
		case 'r':
			root_file = optarg;
			break;
		case 'n':
			fw.nrefs = (int)num(optarg, 1, FW_REFS_MAX);
			break;
		case 'i':
			fw.ping_ms = (int)num(optarg, 0, 3600) * 1000;
			break;
		case 'K':
			fw.no_key_share = 1;
			break;
		case 'S':
			fw.as_snapshots = 1;
			break;
		case 't':
			tls = 1;
			break;
		case 'v':
			fw.verbose = 1;
			log_set_level(LOG_LVL_DEBUG);
			break;
		default:
			usage();
		}
	}
	if (fw.state_dir[0] == '\0')
		usage();
	if (mkdir(fw.state_dir, 0700) != 0 && errno != EEXIST)
		fatal("%s", fw.state_dir);
	if (fw_state_load() != 0)
		fatalx("cannot load state from %s", fw.state_dir);
	if (fw_appstate_load() != 0)
		fatalx("cannot load app state from %s", fw.state_dir);
	{
		uint8_t rnd[16];

		randombytes_buf(rnd, sizeof(rnd));
		fw_hex(rnd, sizeof(rnd), fw.media_auth);
	}
	if (tls && fw_tls_files(tls_cert, sizeof(tls_cert), tls_key,
	    sizeof(tls_key)) != 0)
		fatalx("no TLS certificate");
	cert_params_default(&cp, (uint64_t)time(NULL));
	buf_init(&fw.certchain, CERT_CHAIN_MAX);
	if (cert_create_chain(fw.root_priv, fw.int_priv,
	    fw.server_static.pub, &cp, &fw.certchain) != 0)
		fatalx("cannot create the certificate chain");
	fw_hex(fw.root_pub, 32, hex);
	if (root_file != NULL) {
		if ((f = fopen(root_file, "w")) == NULL ||
		    fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0)
			fatal("%s", root_file);
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
	http_protocols[0].per_session_data_size = fw_http_pss_size();

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DISABLE_IPV6 |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if ((fw.ctx = lws_create_context(&info)) == NULL)
		fatalx("lws_create_context");

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.iface = "127.0.0.1";
	info.port = ws_port;
	info.protocols = ws_protocols;
	info.vhost_name = "chat";
	info.timeout_secs = 20;
	if (tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = tls_cert;
		info.ssl_private_key_filepath = tls_key;
	}
	if ((fw.ws_vh = lws_create_vhost(fw.ctx, &info)) == NULL)
		fatalx("cannot listen on 127.0.0.1:%d", ws_port);
	fw.ws_port = lws_get_vhost_listen_port(fw.ws_vh);

	info.port = http_port;
	info.protocols = http_protocols;
	info.ssl_cert_filepath = NULL;
	info.ssl_private_key_filepath = NULL;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.vhost_name = "control";
	if ((fw.http_vh = lws_create_vhost(fw.ctx, &info)) == NULL)
		fatalx("cannot listen on 127.0.0.1:%d", http_port);
	fw.http_port = lws_get_vhost_listen_port(fw.http_vh);

	/* the media host: HTTPS (clients hard-code https:// for uploads) */
	if (fw_tls_files(media_cert, sizeof(media_cert), media_key,
	    sizeof(media_key)) != 0)
		fatalx("no TLS certificate for the media host");
	info.port = media_port;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.ssl_cert_filepath = media_cert;
	info.ssl_private_key_filepath = media_key;
	info.vhost_name = "media";
	if ((fw.media_vh = lws_create_vhost(fw.ctx, &info)) == NULL)
		fatalx("cannot listen on 127.0.0.1:%d", media_port);
	fw.media_port = lws_get_vhost_listen_port(fw.media_vh);

	lws_sul_schedule(fw.ctx, 0, &tick_sul, tick_cb, 50 * LWS_US_PER_MS);
	printf("fakewa ready ws=%d http=%d root=%s%s%s media=%d\n",
	    fw.ws_port, fw.http_port, hex, tls ? " tls=" : "",
	    tls ? tls_cert : "", fw.media_port);
	fflush(stdout);
	log_info("chat ws://127.0.0.1:%d/ws/chat, control "
	    "http://127.0.0.1:%d, state %s", fw.ws_port, fw.http_port,
	    fw.state_dir);

	while (!fw.stop)
		if (lws_service(fw.ctx, 0) < 0)
			break;
	fw_queue_flush(1);
	fw_state_save();
	lws_context_destroy(fw.ctx);
	fw_appstate_free();
	buf_free(&fw.certchain);
	sodium_memzero(fw.root_priv, sizeof(fw.root_priv));
	sodium_memzero(fw.int_priv, sizeof(fw.int_priv));
	noise_keypair_clear(&fw.server_static);
	log_info("stopped");
	return 0;
}
