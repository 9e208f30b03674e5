/*
 * wsclient.c - libwebsockets client for the WhatsApp chat socket (see
 * wsclient.h).  One lws context per client, made by the first connect and
 * reused for every reconnect.  TLS costs only what wss:// needs: a ws://
 * context (loopback tests, fakewa) has no SSL at all; a wss:// one gets
 * our own SSL_CTX whose trust store is the hashed CA directory, looked up
 * lazily when a chain is verified, instead of the whole CA bundle parsed
 * up front (~70 ms and ~2 MiB per process).  Debian's libwebsockets is
 * built without external poll support, so the owner polls the
 * connection's socket itself (POLLIN, plus POLLOUT while we have data
 * queued or a plain TCP connect is in progress; a short timeout while the
 * connection is being set up or torn down) and lws_service(ctx, -1),
 * which never blocks, does the I/O.  Close notifications are deferred to
 * the end of wsclient_service so the owner never re-enters libwebsockets
 * from one of its callbacks.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"
#include "frame.h"
#include "wsclient.h"

static int	(*hold_fn)(void *);
static void	*hold_arg;

void
wsclient_set_hold(int (*fn)(void *), void *arg)
{
	hold_fn = fn;
	hold_arg = arg;
}

#define CA_BUNDLE	"/etc/ssl/certs/ca-certificates.crt"

struct wsmsg {
	struct wsmsg	*next;
	size_t		 len;
	uint8_t		 data[];	/* LWS_PRE + len */
};

struct wsclient {
	struct wsclient_cb	 cb;
	struct lws_context	*ctx;		/* NULL until the first connect */
	int			 ctx_tls;	/* ctx can do wss:// */
	SSL_CTX			*ssl;		/* ours, lent to ctx */
	char			 ca_file[512];	/* TEST ONLY trust anchors */
	struct lws		*wsi;
	int			 attempt;	/* a connect is in flight */
	int			 tcp_wait;	/* ws:// connect() in progress */
	int			 open;		/* established */
	int			 closing;	/* we asked to close */
	uint64_t		 close_at;	/* wsclient_close, mono ms */
	int			 closed_pending;
	char			 why[128];
	struct frame_reader	 rd;
	struct frame_writer	 wr;
	struct wsmsg		*qhead, *qtail;
	size_t			 qbytes;
	char			 url[WSCLIENT_URL_MAX];
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
queue_clear(struct wsclient *w)
{
	struct wsmsg *m;

	while ((m = w->qhead) != NULL) {
		w->qhead = m->next;
		free(m);
	}
	w->qtail = NULL;
	w->qbytes = 0;
}

static void
mark_closed(struct wsclient *w, const char *why)
{
	if (!w->attempt)
		return;
	w->attempt = 0;
	w->tcp_wait = 0;
	w->open = 0;
	w->wsi = NULL;
	w->closed_pending = 1;
	snprintf(w->why, sizeof(w->why), "%s", why ? why : "closed");
	queue_clear(w);
}

static int
on_frame(void *arg, const uint8_t *p, size_t len)
{
	struct wsclient *w = arg;

	if (w->closing)
		return 0;
	if (w->cb.frame && w->cb.frame(w->cb.arg, p, len) != 0)
		return -1;
	return 0;
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct wsclient *w = ctx ? lws_context_user(ctx) : NULL;
	struct wsmsg *m;
	int rc;

	if (w == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		char **p = in;
		int n;

		w->tcp_wait = 0;	/* connected: the upgrade goes out */
		if (len < 64)
			return 0;
		n = lws_snprintf(*p, len, "Cache-Control: no-cache\r\n"
		    "Pragma: no-cache\r\n");
		*p += n;
		return 0;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (wsi != w->wsi)
			return -1;
		w->open = 1;
		w->tcp_wait = 0;
		if (w->cb.open)
			w->cb.open(w->cb.arg);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (wsi != w->wsi || w->closing)
			return w->closing ? -1 : 0;
		if (!lws_frame_is_binary(wsi)) {
			w->closing = 1;
			snprintf(w->why, sizeof(w->why), "text message");
			return -1;
		}
		rc = frame_reader_feed(&w->rd, in, len, on_frame, w);
		if (rc != 0) {
			w->closing = 1;
			if (w->rd.err)
				snprintf(w->why, sizeof(w->why), "%s",
				    frame_strerror(w->rd.err));
			else if (w->why[0] == '\0')
				snprintf(w->why, sizeof(w->why),
				    "protocol error");
			return -1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (wsi != w->wsi || w->closing)
			return -1;
		/* what is queued may report writes not committed yet: it
		 * waits for the commit (asked again: the next pass) */
		if (hold_fn != NULL && hold_fn(hold_arg)) {
			if (w->qhead != NULL)
				lws_callback_on_writable(wsi);
			return 0;
		}
		/* as many as the socket takes now (one pass of the loop per
		 * frame was a pass per ack) */
		while ((m = w->qhead) != NULL) {
			w->qhead = m->next;
			if (w->qhead == NULL)
				w->qtail = NULL;
			w->qbytes -= m->len;
			rc = lws_write(wsi, m->data + LWS_PRE, m->len,
			    LWS_WRITE_BINARY);
			free(m);
			if (rc < 0)
				return -1;
			if (lws_send_pipe_choked(wsi))
				break;
		}
		if (w->qhead != NULL)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (wsi == w->wsi || w->wsi == NULL)
			mark_closed(w, in && len ? (const char *)in :
			    "connection error");
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (wsi == w->wsi)
			mark_closed(w, w->why[0] ? w->why : "closed by peer");
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi == w->wsi)
			mark_closed(w, w->why[0] ? w->why : "closed");
		return 0;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ "wa-chat", ws_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

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

/* Is there at least one OpenSSL hash link (8 hex digits "." n) in dir? */
static int
ca_dir_hashed(const char *dir)
{
	struct dirent *de;
	DIR *d;
	size_t i;
	int found = 0;

	if (dir == NULL || (d = opendir(dir)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		for (i = 0; i < 8; i++)
			if (strchr("0123456789abcdef", de->d_name[i]) == NULL ||
			    de->d_name[i] == '\0')
				break;
		found = i == 8 && de->d_name[8] == '.' &&
		    de->d_name[9] >= '0' && de->d_name[9] <= '9';
	}
	closedir(d);
	return found;
}

/*
 * The client SSL_CTX for wss://: TLS 1.2+, no compression, buffers given
 * back while idle, peers checked against the system CA directory (hashed
 * links, read on demand), or the bundle file when that directory has no
 * hash links, or only the TEST ca_file.  libwebsockets sets SNI, the host
 * name check and SSL_VERIFY_PEER on each connection.
 */
static SSL_CTX *
ssl_ctx_new(const char *ca_file)
{
	const char *dir;
	SSL_CTX *s;
	int ok;

	if ((s = SSL_CTX_new(TLS_client_method())) == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
	if (ca_file != NULL && *ca_file != '\0') {
		log_warnx("TEST ONLY: trusting %s instead of the system CA "
		    "store", ca_file);
		ok = SSL_CTX_load_verify_file(s, ca_file);
	} else {
		if ((dir = getenv(X509_get_default_cert_dir_env())) == NULL ||
		    *dir == '\0')
			dir = X509_get_default_cert_dir();
		if (ca_dir_hashed(dir))
			ok = SSL_CTX_load_verify_dir(s, dir);
		else if (access(CA_BUNDLE, R_OK) == 0)
			ok = SSL_CTX_load_verify_file(s, CA_BUNDLE);
		else
			ok = SSL_CTX_set_default_verify_paths(s);
	}
	if (ok != 1) {
		log_warnx("wsclient: cannot load the CA certificates");
		SSL_CTX_free(s);
		return NULL;
	}
	return s;
}

static void
ctx_destroy(struct wsclient *w)
{
	if (w->ctx != NULL)
		lws_context_destroy(w->ctx);
	w->ctx = NULL;
	w->ctx_tls = 0;
	SSL_CTX_free(w->ssl);	/* after the context: it was lent */
	w->ssl = NULL;
}

/* A context able to connect with (tls) or without TLS.  0 or -1. */
static int
ctx_ready(struct wsclient *w, int tls)
{
	struct lws_context_creation_info info;

	if (w->ctx != NULL && (w->ctx_tls || !tls))
		return 0;
	ctx_destroy(w);		/* a ws:// context now asked for wss:// */
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = w;
	info.fd_limit_per_thread = 16;
	info.options = LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
	if (tls) {
		if ((w->ssl = ssl_ctx_new(w->ca_file)) == NULL)
			return -1;
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.provided_client_ssl_ctx = w->ssl;
	}
	if ((w->ctx = lws_create_context(&info)) == NULL) {
		log_warnx("wsclient: cannot create the libwebsockets context");
		SSL_CTX_free(w->ssl);
		w->ssl = NULL;
		return -1;
	}
	w->ctx_tls = tls;
	return 0;
}

struct wsclient *
wsclient_new(const struct wsclient_cb *cb, const char *ca_file)
{
	struct wsclient *w = xcalloc(1, sizeof(*w));

	w->cb = *cb;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
	if (ca_file != NULL)
		snprintf(w->ca_file, sizeof(w->ca_file), "%s", ca_file);
	frame_reader_init(&w->rd, FRAME_MAX_PAYLOAD);
	return w;
}

void
wsclient_free(struct wsclient *w)
{
	if (w == NULL)
		return;
	w->cb.closed = NULL;
	w->cb.open = NULL;
	w->cb.frame = NULL;
	ctx_destroy(w);
	queue_clear(w);
	frame_reader_free(&w->rd);
	free(w);
}

int
wsclient_connect(struct wsclient *w, const char *url)
{
	struct lws_client_connect_info ci;
	char tmp[WSCLIENT_URL_MAX], path[WSCLIENT_URL_MAX + 1], host[256];
	const char *prot, *addr, *p;
	int port, tls;

	if (w->attempt || strlen(url) >= sizeof(tmp))
		return -1;
	snprintf(w->url, sizeof(w->url), "%s", url);
	snprintf(tmp, sizeof(tmp), "%s", url);
	if (lws_parse_uri(tmp, &prot, &addr, &port, &p) != 0)
		return -1;
	if (strcmp(prot, "wss") == 0)
		tls = 1;
	else if (strcmp(prot, "ws") == 0)
		tls = 0;
	else
		return -1;
	if (strncmp(url, "wss://", 6) == 0 && !strchr(url + 6, ':'))
		port = 443;
	snprintf(host, sizeof(host), "%s", addr);
	snprintf(path, sizeof(path), "/%s", p);

	/* before attempt is set: destroying an old context calls back */
	if (ctx_ready(w, tls) != 0) {
		/* reported like a failed connect: the owner backs off */
		w->attempt = 1;
		mark_closed(w, "cannot set up TLS");
		return 0;
	}
	frame_reader_free(&w->rd);
	frame_reader_init(&w->rd, FRAME_MAX_PAYLOAD);
	frame_writer_init(&w->wr, NULL, 0);
	queue_clear(w);
	w->why[0] = '\0';
	w->closing = 0;
	w->open = 0;
	w->attempt = 1;
	w->tcp_wait = !tls;

	memset(&ci, 0, sizeof(ci));
	ci.context = w->ctx;
	ci.address = host;
	ci.port = port;
	ci.path = path;
	ci.host = host;
	ci.origin = WSCLIENT_ORIGIN;
	ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	ci.alpn = "http/1.1";
	ci.local_protocol_name = "wa-chat";
	ci.pwsi = &w->wsi;
	if (lws_client_connect_via_info(&ci) == NULL)
		mark_closed(w, "cannot connect");
	return 0;
}

int
wsclient_connected(const struct wsclient *w)
{
	return w->open && !w->closing;
}

int
wsclient_send_frame(struct wsclient *w, const uint8_t *p, size_t len)
{
	struct buf b;
	struct wsmsg *m;

	if (!w->open || w->closing || w->wsi == NULL)
		return -1;
	buf_init(&b, FRAME_MAX_PAYLOAD + FRAME_HDR_LEN + FRAME_INTRO_LEN);
	if (frame_write(&w->wr, p, len, &b) != 0 ||
	    w->qbytes + b.len > WSCLIENT_QUEUE_MAX) {
		buf_free(&b);
		return -1;
	}
	m = xmalloc(sizeof(*m) + LWS_PRE + b.len);
	m->next = NULL;
	m->len = b.len;
	memcpy(m->data + LWS_PRE, b.data, b.len);
	buf_free(&b);
	if (w->qtail)
		w->qtail->next = m;
	else
		w->qhead = m;
	w->qtail = m;
	w->qbytes += m->len;
	lws_callback_on_writable(w->wsi);
	return 0;
}

void
wsclient_close(struct wsclient *w, const char *why)
{
	if (!w->attempt)
		return;
	if (w->why[0] == '\0')
		snprintf(w->why, sizeof(w->why), "%s", why ? why : "closed");
	w->closing = 1;
	w->close_at = mono_ms();
	queue_clear(w);
	if (w->wsi != NULL) {
		lws_set_timeout(w->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT,
		    LWS_TO_KILL_ASYNC);
	} else {
		mark_closed(w, w->why);
	}
}

int
wsclient_pollfds(struct wsclient *w, struct pollfd *pfd, int max)
{
	lws_sockfd_type fd;

	if (max < 1 || w->wsi == NULL ||
	    (fd = lws_get_socket_fd(w->wsi)) == LWS_SOCK_INVALID)
		return 0;
	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	if ((w->open && (w->qhead != NULL ||
	    lws_partial_buffered(w->wsi))) || (w->tcp_wait && !w->closing))
		pfd[0].events |= POLLOUT;
	pfd[0].revents = 0;
	return 1;
}

int
wsclient_timeout_ms(struct wsclient *w)
{
	int t;

	if (w->closed_pending || w->ctx == NULL)
		return w->closed_pending ? 0 : -1;
	/*
	 * A close in progress: libwebsockets kills the socket at its next
	 * service (its timers are not in our poll; without this the "closed"
	 * of a 515 restart waited out the 250 ms below).
	 */
	if (w->attempt && w->closing && mono_ms() - w->close_at < 1000)
		return 1;
	/* 0 when libwebsockets holds buffered input to process */
	t = lws_service_adjust_timeout(w->ctx, 250, 0);
	/* connecting / upgrading: lws waits for POLLOUT we do not see */
	if (w->attempt && !w->open && t > 10)
		t = 10;
	return t;
}

void
wsclient_service(struct wsclient *w)
{
	char why[sizeof(w->why)];

	if (w->ctx != NULL)
		lws_service(w->ctx, -1);
	if (w->closed_pending) {
		w->closed_pending = 0;
		snprintf(why, sizeof(why), "%s", w->why);
		if (w->cb.closed)
			w->cb.closed(w->cb.arg, why);
	}
}
