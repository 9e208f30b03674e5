/*
 * conn.h - one companion device's connection to WhatsApp (PROTOCOL.md 1, 2,
 * 6): WebSocket (wsclient.c), Noise XX as initiator with the server
 * certificate chain checked against WhatsApp's root (or a TEST root given
 * by WA_CERT_ROOT / cfg.cert_root_hex, with a loud warning), ClientPayload
 * registration or login from the credentials, then encrypted binary nodes:
 * IQs with ids and timeouts, keepalive pings, answers to server pings,
 * notification acks, stream errors (515 restart, 401 logged out, 440
 * replaced), reconnects with exponential backoff and jitter.  Pairing and
 * the post-login chores live in login.c.
 *
 * Single-threaded and non-blocking; the owner's loop polls conn_pollfds()
 * for at most conn_timeout_ms() and then calls conn_service().  Callbacks
 * run only inside conn_service() (and conn_start/conn_stop); they must not
 * call conn_free().  The credentials struct stays the caller's: conn
 * updates it in place and calls creds_changed, when it must be persisted
 * (pairing, prekey ids, LID), before it relies on the change.
 *
 * Integration (waproc.c):
 *     conn_cfg_default(&cfg);                 // url/root from config
 *     c = conn_new(&cfg, &creds, &callbacks);  // creds from the store
 *     conn_start(c);
 *     loop: n = conn_pollfds(c, pfd, 8); poll(pfd, n, conn_timeout_ms(c));
 *           conn_service(c);
 * (with ZeroMQ: one zmq_pollitem_t {NULL, pfd.fd, pfd.events} per fd.)
 * Device lifecycle (DESIGN.md) from the state callback: CONNECTING =
 * starting/reconnecting, PAIRING = qr (or pairing_code after
 * conn_pair_phone), LOGGED_IN = connected, WAITING = reconnecting,
 * LOGGED_OUT = logged_out (delete creds in logged_out), STOPPED = stopped
 * (cause USER) or failed (REPLACED, FAILURE, QR_TIMEOUT).  A few things
 * block briefly: the pair-code PBKDF2 (~0.1 s) and name resolution.
 */
#ifndef WAPROC_CONN_H
#define WAPROC_CONN_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "binnode.h"
#include "creds.h"
#include "payload.h"
#include "signal-keys.h"
#include "wsclient.h"

#define CONN_POLLFDS_MAX	8

/* Error codes given to IQ callbacks and returned by senders. */
#define CONN_OK			0
#define CONN_ETIMEOUT		(-1)	/* no answer in time */
#define CONN_EDISCONNECTED	(-2)	/* connection gone before answer */
#define CONN_ENOTCONN		(-3)	/* cannot send now */
#define CONN_EINVAL		(-4)
#define CONN_EERROR		(-5)	/* <iq type="error"> answer */

enum conn_state {
	CONN_IDLE = 0,		/* not started */
	CONN_CONNECTING,	/* WebSocket + Noise handshake */
	CONN_PAIRING,		/* new device: QR / pair code shown */
	CONN_LOGGING_IN,	/* handshake done, waiting for <success> */
	CONN_LOGGED_IN,
	CONN_WAITING,		/* backing off before reconnecting */
	CONN_LOGGED_OUT,	/* final: credentials wiped */
	CONN_STOPPED		/* final: conflict, fatal failure, qr timeout */
};

enum conn_cause {
	CONN_CAUSE_NONE = 0,
	CONN_CAUSE_NETWORK,	/* socket closed / could not connect */
	CONN_CAUSE_PROTOCOL,	/* bad frame, node or handshake */
	CONN_CAUSE_CERT,	/* server certificate rejected */
	CONN_CAUSE_RESTART,	/* stream:error 515 */
	CONN_CAUSE_STREAM,	/* other stream:error (503 ...) */
	CONN_CAUSE_LOGGED_OUT,	/* 401 / <failure 401> / our logout */
	CONN_CAUSE_REPLACED,	/* 440 / conflict replaced */
	CONN_CAUSE_FAILURE,	/* <failure reason=…> other than 401 */
	CONN_CAUSE_QR_TIMEOUT,	/* every QR ref expired */
	CONN_CAUSE_KEEPALIVE,	/* ping unanswered */
	CONN_CAUSE_TIMEOUT,	/* handshake or login took too long */
	CONN_CAUSE_USER		/* conn_stop */
};

struct conn_cfg {
	char			url[WSCLIENT_URL_MAX];	/* ws:// or wss:// */
	char			cert_root_hex[65];	/* TEST ONLY; "" real */
	char			ca_file[512];	/* TEST ONLY; "" system CAs */
	struct payload_opts	popts;
	int			handshake_timeout_ms;	/* 20 s, to <success> */
	int			iq_timeout_ms;		/* 60 s */
	int			keepalive_min_ms;	/* WA_KEEPALIVE_MS 20 s */
	int			keepalive_max_ms;	/* 1.5 x min: 30 s */
	int			keepalive_timeout_ms;	/* WA_KEEPALIVE_TIMEOUT_MS 10 s */
	int			backoff_min_ms;		/* 1 s */
	int			backoff_max_ms;		/* 5 min */
	int			stable_ms;	/* logged in this long: reset */
	int			qr_first_ms;		/* 60 s */
	int			qr_next_ms;		/* 20 s */
	int			prekeys_initial;	/* 812 */
	int			prekeys_refill;		/* 50 */
	int			prekeys_min;		/* refill below: 5 */
};

typedef void (*conn_iq_cb)(void *arg, const struct binnode *reply, int err);

struct conn_callbacks {
	void	*arg;
	void	(*state)(void *arg, enum conn_state, enum conn_cause);
	/* A QR string to show for timeout_ms (PROTOCOL.md 5.1). */
	void	(*qr)(void *arg, const char *qr, int timeout_ms);
	/* Paired: jid etc. are in creds (already passed to creds_changed). */
	void	(*pair_success)(void *arg, const struct creds *);
	/* Pairing refused: a PAIRING_E* code (our reply told the server). */
	void	(*pair_error)(void *arg, int err);
	/* creds changed: persist before returning. */
	void	(*creds_changed)(void *arg, const struct creds *);
	/* Prekeys about to be uploaded: persist their private parts. */
	void	(*prekeys)(void *arg, const struct signal_prekey *, size_t n);
	void	(*logged_in)(void *arg);
	/* Logged out (cause 401 ...): delete the stored credentials; the
	 * in-memory creds are then replaced by fresh ones. */
	void	(*logged_out)(void *arg, int reason);
	void	(*stream_error)(void *arg, int code, const char *conflict);
	/* Any stanza conn/login did not consume (message, receipt, ...).
	 * Notifications are acked after this returns. */
	void	(*node)(void *arg, const struct binnode *);
	/*
	 * Pair-code flow (conn_pair_phone): the companion_hello carrying the
	 * code reached the server and its IQ result came back, so the phone
	 * may now take the code.  Again after a reconnect that re-sends it.
	 */
	void	(*pair_code_sent)(void *arg);
};

/*
 * Defaults: url = config WA_SERVER_URL, root = config WA_CERT_ROOT,
 * ca_file = WA_CA_FILE, keepalive from WA_KEEPALIVE_MS /
 * WA_KEEPALIVE_TIMEOUT_MS.
 */
void		 conn_cfg_default(struct conn_cfg *);

struct conn	*conn_new(const struct conn_cfg *, struct creds *,
		    const struct conn_callbacks *);
void		 conn_free(struct conn *);
/* Connect (again).  0, or -1 when the URL or root is unusable. */
int		 conn_start(struct conn *);
/* Disconnect and stay stopped (cause USER). */
void		 conn_stop(struct conn *);
/* Ask the server to unlink this device; logged_out follows. */
int		 conn_logout(struct conn *);

/* Event loop. */
int		 conn_pollfds(struct conn *, struct pollfd *, int max);
int		 conn_timeout_ms(struct conn *);
void		 conn_service(struct conn *);
/* poll + service for at most max_ms (tests, simple drivers). */
void		 conn_run(struct conn *, int max_ms);

enum conn_state	 conn_state(const struct conn *);
enum conn_cause	 conn_last_cause(const struct conn *);
const char	*conn_state_name(enum conn_state);
const char	*conn_cause_name(enum conn_cause);
/* Connection attempts so far (tests watch for reconnect storms). */
unsigned	 conn_attempts(const struct conn *);

/* Stanzas.  The node is not taken. */
int		 conn_send_node(struct conn *, const struct binnode *);
/*
 * Send an IQ: sets id (when absent) and to="s.whatsapp.net" (when absent);
 * cb gets the reply, or NULL and CONN_ETIMEOUT / CONN_EDISCONNECTED.
 * timeout_ms 0 = cfg.iq_timeout_ms.  cb may be NULL.
 */
int		 conn_send_iq(struct conn *, struct binnode *iq,
		    int timeout_ms, conn_iq_cb cb, void *arg);
/*
 * <ack id class=<tag> to=<from> [type] [participant]/> for a server
 * stanza (PROTOCOL.md 6.6).  conn acks notifications itself; messages,
 * receipts and calls are the owner's, after it has stored them.
 */
int		 conn_ack(struct conn *, const struct binnode *);
/* "<u16>.<u16>-<n>": unique per connection. */
void		 conn_next_id(struct conn *, char *out, size_t len);

/*
 * Pair-code login (PROTOCOL.md 5.2) for an unpaired device: code_out gets
 * "XXXX-XXXX" to type on the phone.  0 or CONN_EINVAL.
 */
int		 conn_pair_phone(struct conn *, const char *phone,
		    char code_out[PAIRING_CODE_LEN + 2]);

/*
 * Tests and fuzzing: handle a decrypted payload (flag byte + node) as if
 * the server had sent it on the current connection.  0, or a BINNODE_E*.
 */
int		 conn_inject(struct conn *, const uint8_t *payload, size_t len);

/* For login.c. */
struct creds	*conn_creds(struct conn *);
const struct conn_cfg *conn_cfg(const struct conn *);
const struct conn_callbacks *conn_callbacks(const struct conn *);
void		 conn_creds_changed(struct conn *);
/* Close the socket; cause decides what follows (reconnect or stop). */
void		 conn_drop(struct conn *, enum conn_cause);
void		 conn_set_state(struct conn *, enum conn_state);
uint64_t	 conn_now_ms(void);

#endif
