/*
 * wsclient.h - the WebSocket client under the WhatsApp connection
 * (PROTOCOL.md 1.1-1.2): libwebsockets, wss:// with TLS checked against the
 * system CA store or plain ws:// (loopback tests), Origin
 * https://web.whatsapp.com, binary messages only.  Incoming bytes go
 * through frame.h's reassembler and come out as whole WA frames (16 MiB
 * cap); outgoing frames get their len24 header, and the first one of a
 * connection the intro "WA" 6 3.
 *
 * It runs inside its owner's poll loop: wsclient_pollfds() gives the
 * descriptors to wait on, wsclient_timeout_ms() how long at most, and
 * wsclient_service() does the work (never blocks).  Callbacks run from
 * wsclient_service() only; "closed" is reported once per connect, after
 * the socket is gone, so the owner may reconnect from inside it.  The only
 * file besides the fake server that includes libwebsockets.h.
 */
#ifndef WAPROC_WSCLIENT_H
#define WAPROC_WSCLIENT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define WSCLIENT_URL_MAX	512
#define WSCLIENT_QUEUE_MAX	(32u << 20)	/* bytes waiting to be sent */
#define WSCLIENT_ORIGIN		"https://web.whatsapp.com"

struct wsclient;

struct wsclient_cb {
	void	*arg;
	/* WebSocket is up: send the first frame (ClientHello). */
	void	(*open)(void *arg);
	/* One whole WA frame; return nonzero to close the connection. */
	int	(*frame)(void *arg, const uint8_t *p, size_t len);
	/* Connection gone (or never came up); why is a short text. */
	void	(*closed)(void *arg, const char *why);
};

/*
 * ca_file: PEM trust anchors for wss:// (TEST ONLY); NULL = system store
 * (the hashed CA directory, $SSL_CERT_DIR or OpenSSL's default, read when
 * a chain is verified; the CA bundle file when the directory has no hash
 * links).  Nothing is set up here: the first connect makes the
 * libwebsockets context, with TLS only for wss://, kept for reconnects.
 */
/* While fn(arg) is non-zero, nothing queued is written (every client of
 * the process): waproc's uncommitted turn (store_turn_dirty). */
void		 wsclient_set_hold(int (*fn)(void *), void *arg);
struct wsclient	*wsclient_new(const struct wsclient_cb *, const char *ca_file);
void		 wsclient_free(struct wsclient *);
/*
 * Start connecting to ws:// or wss:// host[:port]/path.  0, or -1 for a
 * bad URL; a TLS set-up failure is reported as a failed connect.
 */
int		 wsclient_connect(struct wsclient *, const char *url);
/* Queue one WA frame (header added here).  0, or -1 if not connected. */
int		 wsclient_send_frame(struct wsclient *, const uint8_t *,
		    size_t);
/* Close now (queued data is dropped); "closed" follows. */
void		 wsclient_close(struct wsclient *, const char *why);
int		 wsclient_connected(const struct wsclient *);
/* Event loop integration. */
int		 wsclient_pollfds(struct wsclient *, struct pollfd *, int max);
int		 wsclient_timeout_ms(struct wsclient *);
void		 wsclient_service(struct wsclient *);

#endif
